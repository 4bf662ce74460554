//! # Oracle for counting the page-table pages that segment alignment lets spaces share
//!
//! The question (`kvafuzz::vmmap::segment_sharing`): several address spaces map objects
//! (files, shared memory). How many page-table pages do they need without sharing, and how
//! many if every page-table page whose contents are fixed by one object alone is shared by
//! every segment that would hold the same contents?
//!
//! ## 1. Concepts
//!
//! * A **segment** is the span of virtual addresses one page-table page maps
//!   ([`Geometry::segment`]: 4 MiB on IA-32, 2 MiB with PAE and x86_64). Segment `i` is the
//!   bytes `[i * segment, (i + 1) * segment)`.
//! * A **mapping** ([`Mapping`]) puts object bytes `[offset, offset + length)` at the
//!   addresses `[start, start + length)` of one space. A mapping **touches** segment `i` iff it
//!   shares at least one byte with it.
//! * A (space, segment) pair touched by some mapping of the space needs one table page
//!   without sharing.
//! * The pair is **shareable** iff exactly one mapping of its space touches the segment and
//!   that mapping covers all `segment` bytes of it. Its contents are then fixed by its **key**
//!   `(object, object offset at the segment's first byte)`. Any other touched pair (two
//!   mappings in it, or one that covers only part of it) is **private**.
//! * Shareable pairs with equal keys, in any spaces or twice in one space, need one table page
//!   between them. A key held by one pair only is a private page too.
//!
//! So, with `K` the distinct keys held by at least two pairs:
//! `table_pages = private pairs + keys held once + |K|`, `private_pages = private pairs + keys
//! held once`, `shared_pages = |K|`, `segments_on_shared_pages = pairs holding a key of K`,
//! `table_pages_unshared = touched pairs`.
//!
//! ## 2. Verdicts, in the order they are checked
//!
//! For each mapping, in input order (the first failing mapping is reported, by its index):
//!
//! 1. **bad range**: `length == 0` ([`RangeErrorKind::Empty`]); else the last byte
//!    `start + length - 1` above `2^64 - 1` ([`RangeErrorKind::Wraps`]); else above the
//!    highest address of the space ([`RangeErrorKind::PastTop`]); else some byte of the range
//!    in the canonical hole ([`RangeErrorKind::NonCanonical`]);
//! 2. **not page-aligned**: `start` or `offset` not a multiple of [`Geometry::page`];
//! 3. **offset wraps**: `offset + length - 1` above `2^64 - 1`;
//! 4. **too many segments**: the running total of segments touched (mapping by mapping,
//!    counting a segment again for every mapping touching it) first exceeds
//!    [`Geometry::max_segments`] at this mapping.
//!
//! Then, over the whole input: **overlap** ([`SharingErrorKind::Overlap`]) if two mappings of
//! one space share a byte. Which pair is reported: order the mappings by
//! `(space, start, last, index)` (the *sweep order*); `second` is the first mapping in that
//! order overlapping some mapping of its space that comes before it; `first` is the last such
//! earlier mapping. (That earlier mapping is unique and is the one just before `second` in
//! the sweep order: any mapping in between would overlap it too and come earlier.)
//!
//! ## 3. Why it is naive
//!
//! * Ranges are checked in `u128`: "wraps" is "the last byte exceeds `2^64 - 1`", nothing
//!   can overflow, and the canonical rule is stated directly as "no byte of the range lies in
//!   the hole `[2^(bits-1), 2^64 - 2^(bits-1))`" from the VA width, not by sign extension.
//! * Overlaps are found by comparing every pair, not by sorting and looking at neighbours.
//! * Counting does not walk mappings and merge per segment. For each space it lists the
//!   touched segments, then for **each** segment scans **all** mappings of the space, counts
//!   those that share a byte with it and measures how many bytes of the segment the one that
//!   does covers. Keys go into a plain list that is sorted and cut into runs of equal keys.
//!   O(segments x mappings) per space: slow and obvious.
//!
//! ## 4. Limits
//!
//! [`Geometry::max_segments`] is the implementation's limit on touched (mapping, segment)
//! pairs, passed in so both judge the same input the same way. The oracle's own cost is at
//! most `max_segments x mappings` coverage tests; callers that want less bound the input (the
//! vmmap harness compares counts only below its own, smaller limit).

use std::collections::BTreeSet;

/// The address space and the limits, as plain integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Bytes one page-table page maps (a power of two, a multiple of `page`).
    pub segment: u64,
    /// The base page size `start` and `offset` must be multiples of.
    pub page: u64,
    /// Significant virtual-address bits (32, 48, 57).
    pub va_bits: u32,
    /// `false`: the addresses are `0 .. 2^va_bits` (32-bit modes). `true`: x86_64 sign
    /// extension, the addresses are `0 .. 2^(va_bits-1)` and `2^64 - 2^(va_bits-1) .. 2^64`,
    /// with the canonical hole between them.
    pub sign_extended: bool,
    /// Most (mapping, touched segment) pairs the input may have in total.
    pub max_segments: u64,
}

impl Geometry {
    /// The highest address of the space.
    fn top(&self) -> u128 {
        if self.sign_extended {
            u128::from(u64::MAX)
        } else {
            (1u128 << self.va_bits) - 1
        }
    }

    /// The canonical hole `[first, last]`, if the space has one.
    fn hole(&self) -> Option<(u128, u128)> {
        self.sign_extended.then(|| {
            let half = 1u128 << (self.va_bits - 1);
            (half, (1u128 << 64) - half - 1)
        })
    }
}

/// One mapping of an object into an address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// Address space id (any value).
    pub space: u32,
    /// Object id (any value).
    pub object: u32,
    /// First virtual address.
    pub start: u64,
    /// Length in bytes.
    pub length: u64,
    /// Object offset mapped at `start`.
    pub offset: u64,
}

/// What is wrong with a mapping's address range (module comment, section 2, rule 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RangeErrorKind {
    /// `length == 0`.
    Empty,
    /// The last byte is above `2^64 - 1`.
    Wraps,
    /// The last byte is above the highest address of the space.
    PastTop,
    /// A byte of the range lies in the canonical hole.
    NonCanonical,
}

/// Why the input is refused (module comment, section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SharingErrorKind {
    /// Mapping `index` has a bad range.
    BadRange {
        /// Position in the input.
        index: usize,
        /// What is wrong.
        error: RangeErrorKind,
    },
    /// Mapping `index` has a start or offset that is not a multiple of the page size.
    NotPageAligned {
        /// Position in the input.
        index: usize,
    },
    /// Mapping `index` has `offset + length - 1 > 2^64 - 1`.
    OffsetWraps {
        /// Position in the input.
        index: usize,
    },
    /// Two mappings of one space overlap (which pair: module comment).
    Overlap {
        /// Index of the earlier mapping in the sweep order.
        first: usize,
        /// Index of the later one.
        second: usize,
    },
    /// The touched (mapping, segment) pairs exceed [`Geometry::max_segments`].
    TooManySegments,
}

/// The counts of the module comment, section 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SharingCounts {
    /// Touched (space, segment) pairs.
    pub table_pages_unshared: u128,
    /// `private_pages + shared_pages`.
    pub table_pages: u128,
    /// Private pairs plus keys held by one pair.
    pub private_pages: u128,
    /// Keys held by two pairs or more.
    pub shared_pages: u128,
    /// Pairs holding such a key.
    pub segments_on_shared_pages: u128,
}

/// A mapping's place in the sweep order: `(space, start, last, index)`, compared as a tuple.
type SweepKey = (u32, u128, u128, usize);

/// First and last byte of `m`'s addresses, in `u128` (`length >= 1` assumed).
fn bytes(m: &Mapping) -> (u128, u128) {
    let start = u128::from(m.start);
    (start, start + u128::from(m.length) - 1)
}

/// Rule 1 of section 2 for one mapping.
fn range_error(g: &Geometry, m: &Mapping) -> Option<RangeErrorKind> {
    if m.length == 0 {
        return Some(RangeErrorKind::Empty);
    }
    let (start, last) = bytes(m);
    if last > u128::from(u64::MAX) {
        return Some(RangeErrorKind::Wraps);
    }
    if last > g.top() {
        return Some(RangeErrorKind::PastTop);
    }
    match g.hole() {
        Some((h0, h1)) if start <= h1 && h0 <= last => Some(RangeErrorKind::NonCanonical),
        _ => None,
    }
}

/// The checks of section 2: the number of touched (mapping, segment) pairs if the input is
/// accepted, else the first error.
pub fn validate(g: &Geometry, mappings: &[Mapping]) -> Result<u128, SharingErrorKind> {
    let (seg, page) = (u128::from(g.segment), u128::from(g.page));
    let mut total: u128 = 0;
    for (index, m) in mappings.iter().enumerate() {
        if let Some(error) = range_error(g, m) {
            return Err(SharingErrorKind::BadRange { index, error });
        }
        if u128::from(m.start) % page != 0 || u128::from(m.offset) % page != 0 {
            return Err(SharingErrorKind::NotPageAligned { index });
        }
        if u128::from(m.offset) + u128::from(m.length) - 1 > u128::from(u64::MAX) {
            return Err(SharingErrorKind::OffsetWraps { index });
        }
        let (start, last) = bytes(m);
        total += last / seg - start / seg + 1;
        if total > u128::from(g.max_segments) {
            return Err(SharingErrorKind::TooManySegments);
        }
    }
    // Every ordered pair of one space; keep the reported one (module comment). Keys are
    // (space, start, last, index): the sweep order is their tuple order.
    let sweep: Vec<SweepKey> = mappings
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (start, last) = bytes(m);
            (m.space, start, last, i)
        })
        .collect();
    let mut reported: Option<(SweepKey, SweepKey)> = None;
    for &a in &sweep {
        for &b in &sweep {
            let overlap = a.0 == b.0 && a.1 <= b.2 && b.1 <= a.2;
            if !overlap || a >= b {
                continue;
            }
            // `a` comes before `b`: keep the earliest `b`, then the latest `a` before it.
            let better = match reported {
                None => true,
                Some((ra, rb)) => b < rb || (b == rb && a > ra),
            };
            if better {
                reported = Some((a, b));
            }
        }
    }
    match reported {
        Some((a, b)) => Err(SharingErrorKind::Overlap {
            first: a.3,
            second: b.3,
        }),
        None => Ok(total),
    }
}

/// The counts of section 1 for an input [`validate`] accepts (anything else gives
/// meaningless counts, never a panic or a wrap).
pub fn count(g: &Geometry, mappings: &[Mapping]) -> SharingCounts {
    let seg = u128::from(g.segment);
    let spaces: BTreeSet<u32> = mappings.iter().map(|m| m.space).collect();
    let mut out = SharingCounts::default();
    let mut private_pairs: u128 = 0;
    let mut keys: Vec<(u32, u128)> = Vec::new();
    for space in spaces {
        let here: Vec<&Mapping> = mappings
            .iter()
            .filter(|m| m.space == space && m.length > 0)
            .collect();
        let mut touched: Vec<u128> = Vec::new();
        for m in &here {
            let (start, last) = bytes(m);
            touched.extend(start / seg..=last / seg);
        }
        touched.sort_unstable();
        touched.dedup();
        out.table_pages_unshared += touched.len() as u128;
        for i in touched {
            let (s0, s1) = (i * seg, i * seg + seg - 1);
            // (mapping, bytes of the segment it covers) for every mapping touching it.
            let touching: Vec<(&Mapping, u128)> = here
                .iter()
                .filter_map(|m| {
                    let (start, last) = bytes(m);
                    let (lo, hi) = (start.max(s0), last.min(s1));
                    if lo <= hi {
                        Some((*m, hi - lo + 1))
                    } else {
                        None
                    }
                })
                .collect();
            match touching[..] {
                [(m, covered)] if covered == seg => {
                    let start = u128::from(m.start);
                    keys.push((m.object, u128::from(m.offset) + s0 - start));
                }
                _ => private_pairs += 1,
            }
        }
    }
    keys.sort_unstable();
    out.private_pages = private_pairs;
    for run in keys.chunk_by(|a, b| a == b) {
        if run.len() == 1 {
            out.private_pages += 1;
        } else {
            out.shared_pages += 1;
            out.segments_on_shared_pages += run.len() as u128;
        }
    }
    out.table_pages = out.private_pages + out.shared_pages;
    out
}

/// The whole verdict: [`validate`], then [`count`].
pub fn segment_sharing(
    g: &Geometry,
    mappings: &[Mapping],
) -> Result<SharingCounts, SharingErrorKind> {
    validate(g, mappings)?;
    Ok(count(g, mappings))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: u64 = 4096;
    const MIB: u64 = 1 << 20;

    /// IA-32: 4 MiB segments, no hole.
    const IA32: Geometry = Geometry {
        segment: 4 * MIB,
        page: PAGE,
        va_bits: 32,
        sign_extended: false,
        max_segments: 1 << 20,
    };

    /// x86_64: 2 MiB segments, 48-bit canonical halves.
    const X86_64: Geometry = Geometry {
        segment: 2 * MIB,
        page: PAGE,
        va_bits: 48,
        sign_extended: true,
        max_segments: 1 << 20,
    };

    fn obj(space: u32, start: u64, length: u64, offset: u64) -> Mapping {
        Mapping {
            space,
            object: 1,
            start,
            length,
            offset,
        }
    }

    /// (unshared, table pages, private, shared, segments on shared pages).
    fn counts(g: &Geometry, ms: &[Mapping]) -> (u128, u128, u128, u128, u128) {
        let c = segment_sharing(g, ms).unwrap();
        (
            c.table_pages_unshared,
            c.table_pages,
            c.private_pages,
            c.shared_pages,
            c.segments_on_shared_pages,
        )
    }

    /// The hand-computed cases of the implementation's `segment_sharing_counts` test.
    #[test]
    fn hand_computed_placements() {
        let seg = IA32.segment;
        // Two spaces, the same 3 segments of one object at segment-aligned addresses.
        let aligned = [obj(0, 10 * seg, 3 * seg, 0), obj(1, 20 * seg, 3 * seg, 0)];
        assert_eq!(counts(&IA32, &aligned), (6, 3, 0, 3, 6));
        // Space 1 one page higher: 3 + 4 segments, space 1's keys are all different.
        let skewed = [
            obj(0, 10 * seg, 3 * seg, 0),
            obj(1, 20 * seg + PAGE, 3 * seg, 0),
        ];
        assert_eq!(counts(&IA32, &skewed), (7, 7, 7, 0, 0));
        // Congruent, not aligned: 4 segments each, the 2 inner ones shared.
        let congruent = [
            obj(0, 10 * seg + PAGE, 3 * seg, PAGE),
            obj(1, 30 * seg + PAGE, 3 * seg, PAGE),
        ];
        assert_eq!(counts(&IA32, &congruent), (8, 6, 4, 2, 4));
        // Two mappings in segment 0 of space 0: private; space 1's key is alone.
        let crowded = [
            obj(0, 0, seg / 2, 0),
            obj(0, seg / 2, seg / 2, seg / 2),
            obj(1, 0, seg, 0),
        ];
        assert_eq!(counts(&IA32, &crowded), (2, 2, 2, 0, 0));
    }

    #[test]
    fn segment_boundaries() {
        let seg = X86_64.segment;
        // Starts exactly on a boundary and ends exactly on the next: one whole segment.
        let exact = [obj(0, seg, seg, 0), obj(1, 5 * seg, seg, 0)];
        assert_eq!(counts(&X86_64, &exact), (2, 1, 0, 1, 2));
        // One page short at either end: partial, private.
        for (start, length) in [(seg + PAGE, seg - PAGE), (seg, seg - PAGE)] {
            let short = [obj(0, start, length, 0), obj(1, start, length, 0)];
            assert_eq!(counts(&X86_64, &short), (2, 2, 2, 0, 0));
        }
        // One page longer at the end: the second segment is touched, partly.
        let long = [obj(0, seg, seg + PAGE, 0), obj(1, seg, seg + PAGE, 0)];
        assert_eq!(counts(&X86_64, &long), (4, 3, 2, 1, 2));
        // The last segment of the lower half and the top of the 64-bit space.
        let top = [
            obj(0, (1 << 47) - seg, seg, 0),
            obj(1, u64::MAX - seg + 1, seg, 0),
        ];
        assert_eq!(counts(&X86_64, &top), (2, 1, 0, 1, 2));
        // Twice in one space: the same object offset in two segments of space 0.
        let twice = [obj(0, 0, seg, 0), obj(0, 4 * seg, seg, 0)];
        assert_eq!(counts(&X86_64, &twice), (2, 1, 0, 1, 2));
        // Same offsets, other objects: nothing shared.
        let mut other = twice;
        other[1].object = 2;
        assert_eq!(counts(&X86_64, &other), (2, 2, 2, 0, 0));
        // Three users of one key.
        let three = [obj(0, 0, seg, 0), obj(1, 0, seg, 0), obj(2, seg, seg, 0)];
        assert_eq!(counts(&X86_64, &three), (3, 1, 0, 1, 3));
        // Nothing at all.
        assert_eq!(counts(&X86_64, &[]), (0, 0, 0, 0, 0));
    }

    #[test]
    fn each_error() {
        let bad = |g: &Geometry, ms: &[Mapping]| segment_sharing(g, ms).unwrap_err();
        let range = |index, error| SharingErrorKind::BadRange { index, error };
        assert_eq!(
            bad(&IA32, &[obj(0, 0, PAGE, 0), obj(0, PAGE, 0, 0)]),
            range(1, RangeErrorKind::Empty)
        );
        assert_eq!(
            bad(&X86_64, &[obj(0, u64::MAX - PAGE + 1, PAGE + 1, 0)]),
            range(0, RangeErrorKind::Wraps)
        );
        assert_eq!(
            bad(&IA32, &[obj(0, 0xFFFF_F000, PAGE + 1, 0)]),
            range(0, RangeErrorKind::PastTop)
        );
        // An end in the hole, and a range across the whole hole with both ends canonical.
        assert_eq!(
            bad(&X86_64, &[obj(0, (1 << 47) - PAGE, 2 * PAGE, 0)]),
            range(0, RangeErrorKind::NonCanonical)
        );
        assert_eq!(
            bad(&X86_64, &[obj(0, 0, 0xFFFF_8000_0000_1000, 0)]),
            range(0, RangeErrorKind::NonCanonical)
        );
        assert_eq!(
            bad(&IA32, &[obj(0, 1, 1, 0)]),
            SharingErrorKind::NotPageAligned { index: 0 }
        );
        assert_eq!(
            bad(&IA32, &[obj(0, 0, PAGE, 1)]),
            SharingErrorKind::NotPageAligned { index: 0 }
        );
        assert_eq!(
            bad(&X86_64, &[obj(0, 0, 0x1001, !0xFFF)]),
            SharingErrorKind::OffsetWraps { index: 0 }
        );
        // Ending exactly at 2^64 - 1 is fine.
        assert!(segment_sharing(&X86_64, &[obj(0, 0, 0x1000, !0xFFF)]).is_ok());
        assert_eq!(
            bad(&IA32, &[obj(0, 0, 2 * PAGE, 0), obj(0, PAGE + 1, 1, 0)]),
            SharingErrorKind::NotPageAligned { index: 1 }
        );
        // The implementation's case: a 1-byte mapping inside a 2-page one.
        assert_eq!(
            bad(&IA32, &[obj(0, 0, 2 * PAGE, 0), obj(0, PAGE, 1, 0)]),
            SharingErrorKind::Overlap {
                first: 0,
                second: 1
            }
        );
        assert_eq!(
            bad(&X86_64, &[obj(0, 0, 1 << 46, 0)]),
            SharingErrorKind::TooManySegments
        );
        // Exactly the limit is accepted; one more segment is not, at that mapping, before a
        // later bad range.
        let small = Geometry {
            max_segments: 3,
            ..X86_64
        };
        let seg = small.segment;
        assert_eq!(validate(&small, &[obj(0, 0, 3 * seg, 0)]), Ok(3));
        assert_eq!(
            bad(
                &small,
                &[obj(0, 0, 2 * seg, 0), obj(1, seg - PAGE, 2 * PAGE, 0)]
            ),
            SharingErrorKind::TooManySegments
        );
        assert_eq!(
            bad(
                &small,
                &[obj(0, 0, 3 * seg, 0), obj(1, 0, PAGE, 0), obj(1, 0, 0, 0)]
            ),
            SharingErrorKind::TooManySegments
        );
    }

    #[test]
    fn errors_in_input_order_then_overlaps() {
        // A bad range after a misaligned mapping: the misaligned one is reported.
        assert_eq!(
            validate(&IA32, &[obj(0, 1, PAGE, 0), obj(0, 0, 0, 0)]),
            Err(SharingErrorKind::NotPageAligned { index: 0 })
        );
        // Overlaps come after every per-mapping check, even of a later mapping.
        assert_eq!(
            validate(
                &IA32,
                &[obj(0, 0, 2 * PAGE, 0), obj(0, 0, PAGE, 0), obj(1, 1, 1, 0)]
            ),
            Err(SharingErrorKind::NotPageAligned { index: 2 })
        );
        // The same ranges in different spaces do not overlap.
        assert!(validate(&IA32, &[obj(0, 0, PAGE, 0), obj(1, 0, PAGE, 0)]).is_ok());
    }

    #[test]
    fn which_overlap_is_reported() {
        let p = PAGE;
        // Sweep order (space, start, last, index). Space 1's overlap sorts after space 0's
        // even though it comes first in the input.
        let ms = [
            obj(1, 0, 2 * p, 0),
            obj(1, p, p, 0),
            obj(0, 8 * p, 4 * p, 0),
            obj(0, 10 * p, p, 0),
        ];
        assert_eq!(
            validate(&IA32, &ms),
            Err(SharingErrorKind::Overlap {
                first: 2,
                second: 3
            })
        );
        // A long mapping overlapping two later ones: the first of them, with the long one.
        let ms = [
            obj(0, 5 * p, p, 0),
            obj(0, 0, 10 * p, 0),
            obj(0, 2 * p, p, 0),
        ];
        assert_eq!(
            validate(&IA32, &ms),
            Err(SharingErrorKind::Overlap {
                first: 1,
                second: 2
            })
        );
        // Equal ranges: the lower index first.
        let ms = [obj(0, 3 * p, p, 0), obj(0, 3 * p, p, 0)];
        assert_eq!(
            validate(&IA32, &ms),
            Err(SharingErrorKind::Overlap {
                first: 0,
                second: 1
            })
        );
        // Same start, the shorter one sorts first; the earlier in the sweep is `first`.
        let ms = [obj(0, 0, 3 * p, 0), obj(0, 0, p, 0), obj(0, 2 * p, p, 0)];
        assert_eq!(
            validate(&IA32, &ms),
            Err(SharingErrorKind::Overlap {
                first: 1,
                second: 0
            })
        );
    }
}
