//! The vocabulary of the vmap space's interface (module comment, sections 1, 2 and 6): the
//! strategies, the configuration, requests and their validated form, one error enum per
//! operation, and what a space reports about itself (areas, purges, counters, broken
//! invariants).

use core::fmt;

use crate::addr::PAGE_SIZE;

#[cfg(doc)]
use super::VmapSpace;

/// How a space searches for the lowest fit (module comment, section 3). All three return the
/// same address for every request; they differ in cost and in the state they keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Strategy {
    /// 2008: walk the busy and lazily freed areas in address order from the window start.
    /// O(areas below the fit).
    Walk,
    /// 2011 (seed 002): the walk, started from the free-area cache when the request is no
    /// more permissive than the one that set it. Amortized O(1) on a steady workload.
    Cache,
    /// 2019: an augmented balanced tree over the free blocks. O(log blocks) for page-aligned
    /// requests.
    #[default]
    Tree,
}

/// Every strategy, in a fixed order (decoders pick by index).
pub const ALL_STRATEGIES: [Strategy; 3] = [Strategy::Walk, Strategy::Cache, Strategy::Tree];

impl Strategy {
    /// Short name for traces and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Strategy::Walk => "walk",
            Strategy::Cache => "cache",
            Strategy::Tree => "tree",
        }
    }
}

/// The configuration of a space ([`VmapSpace::new`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VmapConfig {
    /// First address of the space (inclusive), page-aligned.
    pub start: u64,
    /// Last address of the space (inclusive); `last + 1` is page-aligned or `last` is
    /// `u64::MAX`.
    pub last: u64,
    /// A free that leaves more than this many lazily freed pages (guard pages counted)
    /// purges them all. 0 purges on every free.
    pub lazy_max_pages: u64,
}

/// An allocation request ([`VmapSpace::alloc`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VmapRequest {
    /// Bytes wanted, rounded up to whole pages; not 0.
    pub size: u64,
    /// Alignment of the start: a power of two; below a page it acts as a page.
    pub align: u64,
    /// `(first, last)` addresses (both inclusive) the area, guard page included, must lie
    /// in; `None` is the whole space.
    pub window: Option<(u64, u64)>,
    /// Whether one guard page follows the area (no other area may overlap it).
    pub guard: bool,
}

impl VmapRequest {
    /// `size` bytes, page-aligned, anywhere in the space, with a guard page.
    pub const fn size(size: u64) -> VmapRequest {
        VmapRequest {
            size,
            align: PAGE_SIZE,
            window: None,
            guard: true,
        }
    }
}

/// An alignment the searches can use: a power of two of at least a page. Only
/// [`Checked::new`] makes one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct PageAlign(u64);

impl PageAlign {
    /// `max(align, PAGE_SIZE)` if `align` is a power of two.
    fn new(align: u64) -> Option<PageAlign> {
        align
            .is_power_of_two()
            .then_some(PageAlign(align.max(PAGE_SIZE)))
    }

    /// `align` itself if it is a power of two of at least a page.
    pub(super) fn new_exact(align: u64) -> Option<PageAlign> {
        (align.is_power_of_two() && align >= PAGE_SIZE).then_some(PageAlign(align))
    }

    /// The alignment in bytes.
    pub(super) const fn get(self) -> u64 {
        self.0
    }
}

/// A request after validation (module comment, section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Checked {
    /// The size rounded up to whole pages, in bytes (at least a page).
    pub(super) pages: u64,
    /// `pages` plus the guard page if any: the bytes no other area may overlap.
    pub(super) extent: u64,
    /// Whether the area has a guard page.
    pub(super) guard: bool,
    /// The effective alignment.
    pub(super) align: PageAlign,
    /// First address of the window (inclusive), at least the space's start.
    pub(super) ws: u64,
    /// Last address of the window (inclusive), at most the space's last.
    pub(super) wl: u64,
}

impl Checked {
    /// Validates `req` against the space `[start, last]` in the order of [`AllocError`].
    pub(super) fn new(req: &VmapRequest, start: u64, last: u64) -> Result<Checked, AllocError> {
        if req.size == 0 {
            return Err(AllocError::ZeroSize);
        }
        let align = PageAlign::new(req.align).ok_or(AllocError::BadAlign)?;
        let (ws, wl) = req.window.unwrap_or((start, last));
        if ws > wl || ws < start || wl > last {
            return Err(AllocError::BadWindow);
        }
        let pages = round_up_page(req.size).ok_or(AllocError::SizeWraps)?;
        let guard = if req.guard { PAGE_SIZE } else { 0 };
        let extent = pages.checked_add(guard).ok_or(AllocError::SizeWraps)?;
        Ok(Checked {
            pages,
            extent,
            guard: req.guard,
            align,
            ws,
            wl,
        })
    }

    /// The window's end, exclusive (`wl + 1`, which is 2^64 for a window ending at the top).
    pub(super) fn vend(&self) -> u128 {
        u128::from(self.wl) + 1
    }
}

/// `x` rounded up to a multiple of `PAGE_SIZE`, `None` if that wraps.
pub(super) fn round_up_page(x: u64) -> Option<u64> {
    Some(x.checked_add(PAGE_SIZE - 1)? & !(PAGE_SIZE - 1))
}

/// `x` rounded up to a multiple of the power of two `a`, in wide arithmetic: for every
/// `x <= 2^64` the result is at most `2^64 + 2^63`, so it never wraps (the caller compares
/// it with an end of at most 2^64).
pub(super) fn align_up_wide(x: u128, a: PageAlign) -> u128 {
    let a = u128::from(a.get());
    (x + (a - 1)) & !(a - 1)
}

/// Whether an area is in use or freed and waiting for a purge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AreaState {
    /// Allocated and not freed.
    Busy,
    /// Freed, but its range (guard page included) stays reserved until the next purge.
    Lazy,
}

/// An area as [`VmapSpace::areas`] shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AreaView {
    /// First address (inclusive).
    pub start: u64,
    /// Bytes, a multiple of the page size, excluding the guard page.
    pub size: u64,
    /// Whether a guard page follows the area.
    pub guard: bool,
    /// Busy or lazily freed.
    pub state: AreaState,
}

/// One purge, as [`VmapSpace::take_purge`] reports it: the TLB flush covers `[start, last]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Purge {
    /// The lowest start among the purged areas.
    pub start: u64,
    /// The highest last byte (guard page included) among the purged areas.
    pub last: u64,
    /// How many areas were purged.
    pub areas: u64,
    /// The lazily freed pages it cleared (guard pages counted).
    pub pages: u64,
}

/// Why [`VmapSpace::new`] refused a configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CreateError {
    /// `start` is not page-aligned, `last + 1` is not page-aligned (and `last` is not
    /// `u64::MAX`), or `start > last`.
    BadRange,
}

/// Why an allocation failed. Checked in the order of the variants; the first failure wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AllocError {
    /// The size is 0.
    ZeroSize,
    /// The alignment is 0 or not a power of two.
    BadAlign,
    /// The window is inverted or not inside the space.
    BadWindow,
    /// The size rounded up to whole pages, or that plus the guard page, exceeds `u64::MAX`.
    SizeWraps,
    /// No placement exists, even after purging the lazily freed areas (if there were any).
    NoSpace,
}

/// Why [`VmapSpace::free`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FreeError {
    /// No busy area starts at this address: never allocated, inside an area, or already
    /// freed (a lazily freed area's start is a double free).
    NotBusy,
}

macro_rules! display_via_debug {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }
    )*};
}
display_via_debug!(CreateError, AllocError, FreeError, Strategy);

/// Counters of a space ([`VmapSpace::stats`]). Pages count guard pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VmapStats {
    /// Busy areas.
    pub busy: u64,
    /// Lazily freed areas.
    pub lazy: u64,
    /// Pages of the busy areas, guard pages included (as `lazy_pages`).
    pub busy_pages: u64,
    /// Pages of the lazily freed areas, guard pages included.
    pub lazy_pages: u64,
    /// Bytes of the space in no area (a space may hold 2^64 bytes).
    pub free_bytes: u128,
    /// Purges over the space's life.
    pub purges: u64,
}

/// A broken invariant found by [`VmapSpace::check_invariants`]: one variant per invariant of
/// the module comment, section 7, each with the addresses or numbers involved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InvariantError {
    /// An area's start is not page-aligned, its size is not a positive multiple of a page,
    /// or its extent is not its size plus its guard page.
    AreaMalformed {
        /// The area's start.
        start: u64,
    },
    /// An area (guard page included) does not lie inside the space.
    AreaOutsideSpace {
        /// The area's start.
        start: u64,
        /// The area's last byte, guard page included.
        last: u64,
    },
    /// Two areas overlap, guard pages included.
    AreasOverlap {
        /// The lower area's start.
        first: u64,
        /// The higher area's start.
        second: u64,
    },
    /// The lazily freed areas recorded for the next purge are not exactly the lazy areas.
    LazyListWrong {
        /// Lazy areas found in the area map.
        lazy_areas: u64,
        /// Entries of the purge list.
        listed: u64,
    },
    /// `lazy_pages` is not the sum of the lazy areas' pages (guard pages counted).
    LazyPagesWrong {
        /// The recorded value.
        recorded: u64,
        /// The sum over the lazy areas.
        counted: u64,
    },
    /// `lazy_pages` exceeds `lazy_max_pages` after an operation (a purge was due).
    LazyOverLimit {
        /// The lazily freed pages.
        lazy_pages: u64,
        /// The limit.
        lazy_max_pages: u64,
    },
    /// A counter of [`VmapSpace::stats`] disagrees with the areas.
    CounterWrong {
        /// Which counter.
        counter: &'static str,
        /// The recorded value.
        recorded: u128,
        /// The value counted from the areas.
        counted: u128,
    },
    /// The free-area cache names an area that does not exist.
    CacheAreaMissing {
        /// The cached start.
        start: u64,
    },
    /// `cached_align` is not a power of two of at least a page, or `cached_vstart` is not an
    /// address of the space.
    CacheParamsInvalid {
        /// `cached_vstart`.
        vstart: u64,
        /// `cached_align`.
        align: u64,
    },
    /// A hole below the cached area (from `cached_vstart`, at `cached_align`) is larger than
    /// `cached_hole_size`: a search started at the cache could miss the lowest fit.
    CacheHoleUnderestimated {
        /// The hole's first aligned address.
        hole_start: u64,
        /// Its size in bytes, up to the next area.
        hole: u64,
        /// `cached_hole_size`.
        cached_hole_size: u64,
    },
    /// The free tree's links are broken: a cycle, a node reached twice, a link to a free
    /// slot, or a node count that disagrees with the tree's.
    TreeLinks {
        /// The node index involved.
        node: usize,
    },
    /// A node's recorded height is wrong, or its subtrees' heights differ by more than one.
    TreeHeight {
        /// The node's block start.
        start: u64,
    },
    /// A node's subtree largest free extent is not the largest block size below it.
    TreeSubtreeMax {
        /// The node's block start.
        start: u64,
        /// The recorded largest `last - start`.
        recorded: u64,
        /// The right one.
        counted: u64,
    },
    /// The free blocks are not ordered, disjoint and merged (two blocks touch, or one is
    /// empty).
    TreeBlocksUnmerged {
        /// The start of the block that follows too closely (or is out of order).
        start: u64,
    },
    /// The free blocks are not exactly the complement of the areas in the space.
    TreeNotComplement {
        /// The first address where they disagree.
        at: u64,
    },
}

impl fmt::Display for InvariantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
