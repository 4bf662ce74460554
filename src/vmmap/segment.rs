//! Counting page-table pages that segment alignment lets address spaces share.
//!
//! ## Model
//!
//! * Each address space needs one **table page** per *segment* it touches: the page-table
//!   page a page-directory entry points to, which maps one [`Arch::segment_size`] span of
//!   virtual addresses (4 MiB on IA-32, 2 MiB with PAE and x86_64). Upper-level tables and
//!   large (PS) pages are outside the model.
//! * A segment of a space is **shareable** iff one [`ObjectMapping`] covers it wholly. Its
//!   page-table entries are then fixed by the object alone: entry `j` maps object byte offset
//!   `key + j * PAGE_SIZE`, where `key` is the object offset at the segment's first byte.
//!   Every other touched segment (partly covered, or touched by several mappings) is
//!   **private**.
//! * Shareable segments with the same `(object, key)`, in any spaces (or twice in one space),
//!   can all point at **one** physical table page. A key used by a single segment is private.
//!   Protections are assumed equal.
//!
//! So `table_pages = private + distinct keys used at least twice`, against
//! `table_pages_unshared = touched segments` without sharing. With segment-aligned placement
//! (`start % seg == offset % seg`) every space produces the same keys for the same object
//! range; with page-aligned placement at different `start % seg` the keys differ and nothing
//! is shared.
//!
//! ## Limits
//!
//! [`MAX_SHARING_SEGMENTS`] bounds the total number of (mapping, segment) pairs the function
//! enumerates, so a huge mapping cannot make it run for minutes.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use crate::addr::{last_of, Arch, RangeError, PAGE_SIZE};

/// Most (mapping, touched segment) pairs [`segment_sharing`] enumerates: 2^20, i.e. 4 TiB of
/// mappings at 4 MiB segments or 2 TiB at 2 MiB, far above any workload the report shows,
/// while bounding the work and the two `BTreeMap`s to about 2^20 entries.
pub const MAX_SHARING_SEGMENTS: u64 = 1 << 20;

/// One mapping of an object into an address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectMapping {
    /// Which address space (any caller-chosen id).
    pub space: u32,
    /// Which object (file, shared memory segment; any caller-chosen id).
    pub object: u32,
    /// First virtual address; must be page-aligned.
    pub start: u64,
    /// Length in bytes, `>= 1`.
    pub length: u64,
    /// Object offset mapped at `start`; must be page-aligned.
    pub offset: u64,
}

/// Table-page counts for one placement (module comment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Sharing {
    /// Table pages needed without sharing: the (space, segment) pairs touched.
    pub table_pages_unshared: u64,
    /// Table pages needed with sharing: `private_pages + shared_pages`.
    pub table_pages: u64,
    /// Pages used by exactly one segment (not shareable, or no partner with the same key).
    pub private_pages: u64,
    /// Physical pages each used by two or more segments.
    pub shared_pages: u64,
    /// Segments served by the shared pages (`>= 2 * shared_pages`).
    pub segments_on_shared_pages: u64,
}

impl Sharing {
    /// Table pages saved by sharing: `table_pages_unshared - table_pages`.
    pub fn saved(&self) -> u64 {
        self.table_pages_unshared - self.table_pages
    }
}

/// Why [`segment_sharing`] refused its input (the first offending mapping is reported).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharingError {
    /// Mapping `index` is not a legal range of the architecture (empty, wrapping, past the
    /// top, or not canonical).
    BadRange {
        /// Position in the input slice.
        index: usize,
        /// What is wrong with it.
        error: RangeError,
    },
    /// Mapping `index` has a start address or object offset that is not page-aligned.
    NotPageAligned {
        /// Position in the input slice.
        index: usize,
    },
    /// `offset + length - 1` of mapping `index` exceeds `u64::MAX`.
    OffsetWraps {
        /// Position in the input slice.
        index: usize,
    },
    /// Mappings `first` and `second` overlap in the same address space.
    Overlap {
        /// Position of the lower mapping in the input slice.
        first: usize,
        /// Position of the mapping overlapping it.
        second: usize,
    },
    /// The mappings touch more than [`MAX_SHARING_SEGMENTS`] segments in total.
    TooManySegments,
}

impl fmt::Display for SharingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SharingError::BadRange { index, error } => write!(f, "mapping {index}: {error}"),
            SharingError::NotPageAligned { index } => {
                write!(f, "mapping {index}: start or offset not page-aligned")
            }
            SharingError::OffsetWraps { index } => {
                write!(f, "mapping {index}: object offset wraps")
            }
            SharingError::Overlap { first, second } => {
                write!(f, "mappings {first} and {second} overlap")
            }
            SharingError::TooManySegments => f.write_str("too many segments to count"),
        }
    }
}

/// Counts the table pages `mappings` need with and without sharing (module comment).
pub fn segment_sharing(arch: Arch, mappings: &[ObjectMapping]) -> Result<Sharing, SharingError> {
    let seg = arch.segment_size();
    let mut total: u64 = 0;
    // (space, start, last, index), to find overlaps within a space.
    let mut spans: Vec<(u32, u64, u64, usize)> = Vec::with_capacity(mappings.len());
    for (index, m) in mappings.iter().enumerate() {
        let r = arch
            .check_range(m.start, m.length)
            .map_err(|error| SharingError::BadRange { index, error })?;
        if !m.start.is_multiple_of(PAGE_SIZE) || !m.offset.is_multiple_of(PAGE_SIZE) {
            return Err(SharingError::NotPageAligned { index });
        }
        if last_of(m.offset, m.length).is_none() {
            return Err(SharingError::OffsetWraps { index });
        }
        total = total.saturating_add(r.last() / seg - r.start() / seg + 1);
        if total > MAX_SHARING_SEGMENTS {
            return Err(SharingError::TooManySegments);
        }
        spans.push((m.space, r.start(), r.last(), index));
    }
    spans.sort_unstable();
    for w in spans.windows(2) {
        let ((s0, _, last0, i0), (s1, start1, _, i1)) = (w[0], w[1]);
        if s0 == s1 && start1 <= last0 {
            return Err(SharingError::Overlap {
                first: i0,
                second: i1,
            });
        }
    }

    // (space, segment index) -> Some((object, key)) if shareable, None if private.
    let mut segments: BTreeMap<(u32, u64), Option<(u32, u64)>> = BTreeMap::new();
    for m in mappings {
        // Validated above: neither the range nor the offset wraps.
        let last = m.start + (m.length - 1);
        for idx in m.start / seg..=last / seg {
            let seg_start = idx * seg;
            let seg_last = seg_start + (seg - 1);
            let shareable = (m.start <= seg_start && seg_last <= last)
                .then(|| (m.object, m.offset + (seg_start - m.start)));
            segments
                .entry((m.space, idx))
                .and_modify(|v| *v = None) // a second mapping in the segment: private
                .or_insert(shareable);
        }
    }

    let mut out = Sharing {
        table_pages_unshared: segments.len() as u64,
        ..Sharing::default()
    };
    let mut users: BTreeMap<(u32, u64), u64> = BTreeMap::new();
    for v in segments.values() {
        match v {
            Some(key) => *users.entry(*key).or_insert(0) += 1,
            None => out.private_pages += 1,
        }
    }
    for &n in users.values() {
        if n >= 2 {
            out.shared_pages += 1;
            out.segments_on_shared_pages += n;
        } else {
            out.private_pages += 1;
        }
    }
    out.table_pages = out.private_pages + out.shared_pages;
    Ok(out)
}
