//! The judgment made at the end of every scenario: [`segment_sharing`] (the table pages
//! address spaces could share, `crate::vmmap::segment`) against the naive
//! `kvafuzz_oracles::sharing` (`oracles/src/sharing.rs`), on two inputs derived from the final
//! map. The final map is the model's entry list, which the checks after the last op found
//! equal to the implementation's; its first [`SHARING_ENTRIES`] entries (lowest addresses
//! first) are taken, each mapping object `tag % SHARING_OBJECTS`. On each input, the
//! oracle's verdict and the implementation's (the five counts, or the exact error) must be
//! equal; the outcome of both goes on the trace's last line.
//!
//! * **raw**: the entries as they are, so sub-page units give `NotPageAligned`. Space 0 holds
//!   each entry (object offset = its address) and a copy one segment higher and one byte
//!   longer with the same offsets (same keys, so sharing within one space; an overlap when an
//!   entry is longer than a segment or its successor is nearer, by exactly one byte between
//!   the copies of touching entries; a bad range when it leaves the space); space 1 the
//!   entries with offsets one page higher (congruence broken; `OffsetWraps` in the top page
//!   of the 64-bit space) plus the length's bytes past whole pages (so a page-aligned entry
//!   of ragged length has a misaligned offset alone). An empty map gives one empty mapping
//!   (`BadRange`). Counts are compared only up to [`SHARING_CHECK_SEGMENTS`] touched
//!   segments (huge entries), errors always (`TooManySegments` included).
//! * **pages**: always page-aligned, bounded, for the counts. The entries rounded out to
//!   pages (one overlapping the previous is dropped), an entry touching more than
//!   `2 * SHARING_CLIP_SEGMENTS` segments kept as its first and last `SHARING_CLIP_SEGMENTS`
//!   (the top of the space stays in). Space 0: those pieces, offset = address; space 1: the
//!   same (a twin: every wholly covered segment shared); space 2: shifted one page, offsets
//!   unchanged (keys never match: shareable but alone); space 3: each piece cut at its first
//!   inner segment boundary (both halves on a boundary) or else its middle page (two mappings
//!   in one segment), the upper half another object; space 4: the pieces rounded out to whole
//!   segments at offset 0 (pieces of one object share their first segments), one dropped if
//!   it overlaps the previous; space 5: its twin (so every map with an entry has mappings
//!   starting and ending on segment boundaries with a partner).

use kvafuzz_oracles::findspace::MapModel;
use kvafuzz_oracles::sharing as os;

use super::scenario::half;
use crate::addr::{Arch, RangeError, PAGE_SIZE};
use crate::harness::{Claim, Mismatch};
use crate::outcome;
use crate::vmmap::segment::MAX_SHARING_SEGMENTS;
use crate::vmmap::{segment_sharing, ObjectMapping, Sharing, SharingError};

/// The judgment on the final map `model` of a scenario in `arch`: both derived inputs, each
/// judged by [`judge_sharing`]; the outcome for the trace, or the first disagreement.
pub(super) fn judge(arch: Arch, model: &MapModel) -> Result<String, Mismatch> {
    let [(n0, raw), (n1, pages)] = inputs(arch, model);
    let raw = judge_sharing(arch, n0, &raw)?;
    let pages = judge_sharing(arch, n1, &pages)?;
    Ok(outcome!("segment_sharing {raw}; {pages}"))
}

/// The two derived inputs of the module comment, named, from the entries of `model`.
pub(super) fn inputs(arch: Arch, model: &MapModel) -> [(&'static str, Vec<ObjectMapping>); 2] {
    let mut entries = model.sorted();
    entries.truncate(SHARING_ENTRIES);
    let upper = arch.upper_half_start().is_some_and(|u| model.min >= u);
    let pieces = page_pieces(arch, &entries);
    [
        ("raw", raw_sharing_input(arch, model.min, &entries)),
        (
            "pages",
            paged_sharing_input(arch, half(arch, upper), &pieces),
        ),
    ]
}

/// Entries of the final map (lowest addresses first) the derived sharing inputs take: enough
/// for partners, shared objects and crowded segments, few enough that the naive oracle's
/// pairwise scans stay cheap (the pages input has at most `2 * 7` mappings per entry).
const SHARING_ENTRIES: usize = 8;

/// A page-rounded entry touching more than twice this many segments is kept as its first and
/// its last this many (two pieces), so an entry gives the pages input at most
/// `2 * SHARING_CLIP_SEGMENTS` touched segments in each of its six spaces, one more where a
/// shift or a cut adds one, whatever the entry's size (under 30 per entry).
const SHARING_CLIP_SEGMENTS: u64 = 2;

/// Entries map object `tag % SHARING_OBJECTS`: few objects, so different entries map the same
/// one (space 4 of the pages input shares between them). The split halves of space 3 use
/// objects from `SHARING_OBJECTS` up, which no whole entry uses.
const SHARING_OBJECTS: u64 = 3;

/// The raw input's counts are compared only when it touches at most this many (mapping,
/// segment) pairs: the oracle's count costs pairs x mappings, and a map entry can span 2^26
/// segments. (An accepted raw input is small anyway, since the copy of an entry longer than
/// a segment overlaps it; the limit makes that a bound, not an assumption.) Its errors
/// (`TooManySegments` past [`MAX_SHARING_SEGMENTS`] included) are always compared: they cost
/// nothing to find.
pub(super) const SHARING_CHECK_SEGMENTS: u128 = 1 << 10;

/// The oracle's object id for an entry's tag.
fn sharing_object(tag: u64) -> u32 {
    (tag % SHARING_OBJECTS) as u32
}

/// The mapping of `[start, last]` (the length wraps like the addresses, so a range pushed
/// past the top keeps its length and fails the range check).
fn span(space: u32, object: u32, start: u64, last: u64, offset: u64) -> ObjectMapping {
    ObjectMapping {
        space,
        object,
        start,
        length: last.wrapping_sub(start).wrapping_add(1),
        offset,
    }
}

/// The raw input of the module comment.
fn raw_sharing_input(arch: Arch, min: u64, entries: &[(u64, u64, u64)]) -> Vec<ObjectMapping> {
    if entries.is_empty() {
        return vec![ObjectMapping {
            space: 0,
            object: 0,
            start: min,
            length: 0,
            offset: 0,
        }];
    }
    let seg = arch.segment_size();
    let mut out = Vec::with_capacity(3 * entries.len());
    for &(s, l, t) in entries {
        out.push(span(0, sharing_object(t), s, l, s));
    }
    for &(s, l, t) in entries {
        // A page higher, plus the length's bytes past whole pages.
        let ragged = l.wrapping_sub(s).wrapping_add(1) & (PAGE_SIZE - 1);
        let offset = s.wrapping_add(PAGE_SIZE).wrapping_add(ragged);
        out.push(span(1, sharing_object(t), s, l, offset));
    }
    for &(s, l, t) in entries {
        // One byte longer: a copy of an entry touching the next one overlaps the next copy
        // by exactly one byte.
        let up = |a: u64| a.wrapping_add(seg);
        out.push(span(0, sharing_object(t), up(s), up(l).wrapping_add(1), s));
    }
    out
}

/// The entries rounded out to pages, in address order, an entry dropped if it overlaps the
/// previous piece, a long one clipped to its first and last [`SHARING_CLIP_SEGMENTS`]
/// segments: `(start, last, tag)`.
fn page_pieces(arch: Arch, entries: &[(u64, u64, u64)]) -> Vec<(u64, u64, u64)> {
    let (seg, clip) = (arch.segment_size(), SHARING_CLIP_SEGMENTS);
    let mut out: Vec<(u64, u64, u64)> = Vec::with_capacity(2 * entries.len());
    for &(s, l, t) in entries {
        // Half bounds are page boundaries, so this stays in the entry's half.
        let (s, l) = (s & !(PAGE_SIZE - 1), l | (PAGE_SIZE - 1));
        if out.last().is_some_and(|&(_, prev, _)| s <= prev) {
            continue;
        }
        let (first, last) = (s / seg, l / seg);
        if last - first + 1 > 2 * clip {
            out.push((s, (first + clip) * seg - 1, t));
            out.push(((last - clip + 1) * seg, l, t));
        } else {
            out.push((s, l, t));
        }
    }
    out
}

/// The pages input of the module comment, from [`page_pieces`] in the half `(lo, hi)`.
fn paged_sharing_input(
    arch: Arch,
    (lo, hi): (u64, u64),
    pieces: &[(u64, u64, u64)],
) -> Vec<ObjectMapping> {
    let (seg, page) = (arch.segment_size(), PAGE_SIZE);
    let mut out = Vec::with_capacity(7 * pieces.len());
    for space in [0, 1] {
        for &(s, l, t) in pieces {
            out.push(span(space, sharing_object(t), s, l, s));
        }
    }
    // One page up if that stays in the half, else down if that does, else up anyway (a bad
    // range, when the pieces reach both ends of the half).
    let fits_up = pieces.last().is_none_or(|&(_, l, _)| l <= hi - page);
    let fits_down = pieces.first().is_some_and(|&(s, _, _)| s >= lo + page);
    let shift = |a: u64| {
        if fits_up || !fits_down {
            a.wrapping_add(page)
        } else {
            a - page
        }
    };
    for &(s, l, t) in pieces {
        out.push(span(2, sharing_object(t), shift(s), shift(l), s));
    }
    for &(s, l, t) in pieces {
        let object = sharing_object(t);
        let inner = (s / seg + 1).checked_mul(seg).filter(|&b| b <= l);
        let pages = (l - s) / page + 1;
        let cut = inner.or_else(|| (pages >= 2).then(|| s + pages / 2 * page));
        match cut {
            Some(c) => {
                out.push(span(3, object, s, c - 1, s));
                out.push(span(3, object + SHARING_OBJECTS as u32, c, l, c));
            }
            None => out.push(span(3, object, s, l, s)),
        }
    }
    let mut rounded: Vec<(u64, u64, u64)> = Vec::with_capacity(pieces.len());
    for &(s, l, t) in pieces {
        let (s, l) = (s & !(seg - 1), l | (seg - 1));
        if rounded.last().is_none_or(|&(_, prev, _)| prev < s) {
            rounded.push((s, l, t));
        }
    }
    for space in [4, 5] {
        for &(s, l, t) in &rounded {
            out.push(span(space, sharing_object(t), s, l, 0));
        }
    }
    out
}

/// The oracle's description of `arch` and the implementation's limit.
pub(super) fn sharing_geometry(arch: Arch) -> os::Geometry {
    os::Geometry {
        segment: arch.segment_size(),
        page: PAGE_SIZE,
        va_bits: arch.va_bits(),
        sign_extended: match arch {
            Arch::Ia32 | Arch::Pae => false,
            Arch::X86_64 | Arch::X86_64La57 => true,
        },
        max_segments: MAX_SHARING_SEGMENTS,
    }
}

/// A mapping in the oracle's terms.
pub(super) fn oracle_mapping(m: &ObjectMapping) -> os::Mapping {
    os::Mapping {
        space: m.space,
        object: m.object,
        start: m.start,
        length: m.length,
        offset: m.offset,
    }
}

/// The implementation's verdict in the oracle's terms.
fn sharing_kind(
    r: Result<Sharing, SharingError>,
) -> Result<os::SharingCounts, os::SharingErrorKind> {
    use os::SharingErrorKind as K;
    r.map(|s| os::SharingCounts {
        table_pages_unshared: u128::from(s.table_pages_unshared),
        table_pages: u128::from(s.table_pages),
        private_pages: u128::from(s.private_pages),
        shared_pages: u128::from(s.shared_pages),
        segments_on_shared_pages: u128::from(s.segments_on_shared_pages),
    })
    .map_err(|e| match e {
        SharingError::BadRange { index, error } => K::BadRange {
            index,
            error: match error {
                RangeError::Empty => os::RangeErrorKind::Empty,
                RangeError::Wraps => os::RangeErrorKind::Wraps,
                RangeError::PastTop => os::RangeErrorKind::PastTop,
                RangeError::NonCanonical => os::RangeErrorKind::NonCanonical,
            },
        },
        SharingError::NotPageAligned { index } => K::NotPageAligned { index },
        SharingError::OffsetWraps { index } => K::OffsetWraps { index },
        SharingError::Overlap { first, second } => K::Overlap { first, second },
        SharingError::TooManySegments => K::TooManySegments,
    })
}

/// `segment_sharing` and the oracle on `input` (the `name`d derived input): the outcome for
/// the trace, or the disagreement with the whole input in its check text.
fn judge_sharing(arch: Arch, name: &str, input: &[ObjectMapping]) -> Result<String, Mismatch> {
    let g = sharing_geometry(arch);
    let plain: Vec<os::Mapping> = input.iter().map(oracle_mapping).collect();
    let expected = match os::validate(&g, &plain) {
        Ok(pairs) if pairs > SHARING_CHECK_SEGMENTS => {
            return Ok(outcome!("{name}: {pairs} segments, not counted"));
        }
        Ok(_) => Ok(os::count(&g, &plain)),
        Err(e) => Err(e),
    };
    let actual = sharing_kind(segment_sharing(arch, input));
    if expected != actual {
        let list: Vec<String> = input
            .iter()
            .map(|m| {
                format!(
                    "({}, {}, {:#x}, {:#x}, {:#x})",
                    m.space, m.object, m.start, m.length, m.offset
                )
            })
            .collect();
        return Err(Mismatch::new(
            format!("segment_sharing {name}"),
            format!(
                "of (space, object, start, length, offset) [{}]",
                list.join(", ")
            ),
            Claim::value(&expected),
            Claim::value(&actual),
        ));
    }
    Ok(match actual {
        Ok(c) => format!(
            "{name}: {} mappings, {} -> {} table pages ({} shared by {})",
            input.len(),
            c.table_pages_unshared,
            c.table_pages,
            c.shared_pages,
            c.segments_on_shared_pages
        ),
        Err(e) => format!("{name}: {} mappings, {e:?}", input.len()),
    })
}
