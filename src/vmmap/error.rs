//! One error enum per [`VmMap`](super::VmMap) operation. Every variant is a plain value the
//! oracle (`kvafuzz_oracles::findspace`) can predict from integers alone; where several apply,
//! the one reported is the first in declaration order (each enum documents its precedence).

use core::fmt;

use super::gaptree::GapTreeError;
use crate::addr::Range;

/// Why [`VmMap::new`](super::VmMap::new) refused the bounds `[min, max]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewError {
    /// `max < min`: the bounds are not a range.
    Inverted,
    /// `max` is above the highest address of the architecture (e.g. past 4 GiB on IA-32).
    PastTop,
    /// `min` or `max` is not canonical, or they lie in different canonical halves (the map
    /// would cover the x86_64 hole).
    NonCanonical,
}

/// Why [`VmMap::findspace`](super::VmMap::findspace) found no address. Precedence:
/// `ZeroLength`, then `ZeroAlign`, then `NoSpace`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindspaceError {
    /// `length == 0`: an empty block has no address.
    ZeroLength,
    /// `align == 0`: no address is a multiple of 0.
    ZeroAlign,
    /// No multiple of `align` at or above `max(start, min)` starts `length` free bytes that end
    /// at or below `max`. This covers the seed's three failures: rounding up wrapped past
    /// `u64::MAX`, the block's end wrapped, the block's end is past the map; and also
    /// `start > max`.
    NoSpace,
}

/// Why [`VmMap::map_anywhere`](super::VmMap::map_anywhere) failed. Precedence: the
/// [`FindspaceError`] cases in their order, then `Full`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapAnywhereError {
    /// `length == 0`.
    ZeroLength,
    /// `align == 0`.
    ZeroAlign,
    /// findspace found no room (see [`FindspaceError::NoSpace`]).
    NoSpace,
    /// There was room, but the map already holds its entry limit
    /// ([`VmMap::max_entries`](super::VmMap::max_entries)).
    Full,
}

impl From<FindspaceError> for MapAnywhereError {
    fn from(e: FindspaceError) -> MapAnywhereError {
        match e {
            FindspaceError::ZeroLength => MapAnywhereError::ZeroLength,
            FindspaceError::ZeroAlign => MapAnywhereError::ZeroAlign,
            FindspaceError::NoSpace => MapAnywhereError::NoSpace,
        }
    }
}

/// Why [`VmMap::map_fixed`](super::VmMap::map_fixed) failed. Precedence: declaration order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapFixedError {
    /// `length == 0`.
    ZeroLength,
    /// `addr + length - 1` exceeds `u64::MAX`.
    Wraps,
    /// The range is not inside the map's bounds `[min, max]`.
    OutOfBounds,
    /// The range overlaps an existing entry; `existing` is the lowest such entry.
    Overlap {
        /// The lowest entry that overlaps the requested range.
        existing: Range,
    },
    /// The range is free, but the map already holds its entry limit.
    Full,
}

/// Why [`VmMap::unmap`](super::VmMap::unmap) failed (and changed nothing). Precedence:
/// declaration order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnmapError {
    /// `length == 0`.
    ZeroLength,
    /// `addr + length - 1` exceeds `u64::MAX`.
    Wraps,
    /// The range is not inside the map's bounds `[min, max]`.
    OutOfBounds,
    /// No entry overlaps the range.
    NotMapped,
    /// An entry overlaps the range without lying wholly inside it; unmapping would have to
    /// split it, which this map refuses. `entry` is the lowest such entry.
    Partial {
        /// The lowest entry that sticks out of the requested range.
        entry: Range,
    },
}

/// A broken invariant found by [`VmMap::check_invariants`](super::VmMap::check_invariants).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvariantError {
    /// An entry is stored under a key other than its start address.
    KeyMismatch {
        /// The key.
        key: u64,
        /// The entry stored under it.
        entry: Range,
    },
    /// Two consecutive entries overlap or are out of order (`first.last >= second.start`).
    Overlap {
        /// The lower entry.
        first: Range,
        /// The entry after it.
        second: Range,
    },
    /// An entry is not inside the map's bounds.
    OutOfBounds {
        /// The entry.
        entry: Range,
    },
    /// More entries than the map's limit.
    TooManyEntries {
        /// Number of entries.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The running count of mapped bytes differs from the sum of entry sizes.
    MappedBytes {
        /// The recorded count.
        recorded: u64,
        /// The recomputed sum.
        actual: u64,
    },
    /// The gap index does not list exactly the complement of the entries inside the bounds;
    /// `index` is the first position where the expected and indexed gap lists differ.
    GapMismatch {
        /// Position in the address-ordered gap list.
        index: usize,
        /// The gap implied by the entries there (`None`: there should be no more gaps).
        expected: Option<Range>,
        /// The gap the index holds there (`None`: the index has no more gaps).
        found: Option<Range>,
    },
    /// The gap tree's own structure (augment, balance, counts) is broken.
    GapTree(GapTreeError),
}

impl fmt::Display for NewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NewError::Inverted => "map bounds are inverted (max < min)",
            NewError::PastTop => "map ends past the top of the address space",
            NewError::NonCanonical => "map bounds are not in one canonical half",
        })
    }
}

impl fmt::Display for FindspaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FindspaceError::ZeroLength => "zero length",
            FindspaceError::ZeroAlign => "zero alignment",
            FindspaceError::NoSpace => "no aligned space of that length",
        })
    }
}

impl fmt::Display for MapAnywhereError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MapAnywhereError::ZeroLength => "zero length",
            MapAnywhereError::ZeroAlign => "zero alignment",
            MapAnywhereError::NoSpace => "no aligned space of that length",
            MapAnywhereError::Full => "map holds its maximum number of entries",
        })
    }
}

impl fmt::Display for MapFixedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapFixedError::ZeroLength => f.write_str("zero length"),
            MapFixedError::Wraps => f.write_str("range wraps past the top of the 64-bit space"),
            MapFixedError::OutOfBounds => f.write_str("range is outside the map"),
            MapFixedError::Overlap { existing } => write!(f, "range overlaps entry {existing}"),
            MapFixedError::Full => f.write_str("map holds its maximum number of entries"),
        }
    }
}

impl fmt::Display for UnmapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnmapError::ZeroLength => f.write_str("zero length"),
            UnmapError::Wraps => f.write_str("range wraps past the top of the 64-bit space"),
            UnmapError::OutOfBounds => f.write_str("range is outside the map"),
            UnmapError::NotMapped => f.write_str("nothing is mapped in the range"),
            UnmapError::Partial { entry } => {
                write!(f, "entry {entry} is only partly inside the range")
            }
        }
    }
}

impl fmt::Display for InvariantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vm_map invariant broken: {self:?}")
    }
}
