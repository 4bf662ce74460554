//! # The vmap oracle
//!
//! A naive model of the vmap area allocator of issue 16 (Linux's vmalloc address-space
//! allocator, `mm/vmalloc.c`, as the shared vmap contract of issue 16 specifies it): a sorted
//! `Vec` of areas and nothing else. No free tree, no cache, no hole sizes: every question is
//! answered from that list by brute force, in `u128`, so nothing can wrap, not even in a space
//! that ends at `u64::MAX` where `addr + size` is `2^64`.
//!
//! ## 1. Concepts
//!
//! - **Page**: [`PAGE_SIZE`] = 4096 bytes; every area starts and ends on a page boundary.
//! - **Space**: the closed range `[start, last]` the allocator hands addresses out of.
//!   `start` is page-aligned, `last + 1` is page-aligned (in `u128`: `last == u64::MAX` gives
//!   `2^64`, which is), `start <= last`; anything else is [`CreateErrorKind::BadRange`]. Its
//!   size is `last - start + 1` bytes, up to `2^64` (hence `u128`).
//! - **Area**: what one successful allocation creates: `start` (its first byte), `size` (its
//!   pages, in bytes, without the guard page), `guard` (whether a guard page follows), and a
//!   state, busy or lazily freed. Its **extent** is `size + (guard ? PAGE_SIZE : 0)`: the
//!   closed range `[start, start + extent - 1]` it owns. Extents of two areas never share a
//!   byte, busy or lazy; every extent lies inside the space.
//! - **Guard page**: the page `[start + size, start + extent - 1]` of an area with `guard`.
//!   It belongs to its area (nothing else may be placed there) but is never mapped: an access
//!   to it must fault. The guard page comes *after* the area; "guard pages on both sides" of a
//!   hole means the area below the hole ends in its guard page and the new area's own guard
//!   page must not touch the area above.
//! - **Busy**: allocated and not freed. **Lazily freed** ("lazy"): freed, but still owning its
//!   extent (its pages may still be translated through stale TLB entries) until a purge.
//! - **Purge**: removes every lazy area at once, after one TLB flush over the smallest range
//!   covering them all.
//!
//! Ranges are closed (`[first, last]`) wherever the contract uses them; inside the model an
//! area's *end* ([`Area::end`]) is the half-open bound `start + extent`, a `u128` up to `2^64`.
//!
//! ## 2. Requests and their verdicts
//!
//! A request is `(size, align, window, guard)`. Its verdict is the first that applies of
//! 1. `size == 0`: [`AllocErrorKind::ZeroSize`];
//! 2. `align` zero or not a power of two: [`AllocErrorKind::BadAlign`];
//! 3. `window = Some((ws, wl))` with `ws > wl`, `ws < start` or `wl > last`:
//!    [`AllocErrorKind::BadWindow`] (no window means `(start, last)`);
//! 4. `pages = roundup(size, PAGE_SIZE)` above `u64::MAX`, or `extent = pages + (guard ?
//!    PAGE_SIZE : 0)` above `u64::MAX`: [`AllocErrorKind::SizeWraps`];
//! 5. no placement, even after the purge of section 4: [`AllocErrorKind::NoSpace`];
//!
//! else the lowest placement. The effective alignment is `a = max(align, PAGE_SIZE)`: smaller
//! alignments act as a page; huge ones (up to `2^63`) are valid and simply find no aligned
//! address in the space (test_vmalloc's align_shift_alloc expects exactly that failure).
//!
//! ## 3. The placement rule
//!
//! A **placement** is an address `addr` with `addr % a == 0`, `ws <= addr`,
//! `addr + extent - 1 <= wl` (in `u128`), and `[addr, addr + extent - 1]` sharing no byte with
//! any area's extent, busy or lazy. The answer is the **lowest** placement; all three search
//! strategies of the allocator must give exactly it.
//!
//! The model finds it by trying candidates: `roundup(ws, a)` and, for every area,
//! `roundup(area.end, a)` (its end + 1, guard included, rounded up). The lowest placement `p`
//! is always one of them: if `p > roundup(ws, a)`, then `p - a` is aligned, at or above `ws`
//! and ends below `p`'s last byte, so it fails only because some area `X` shares a byte `b`
//! with `[p - a, p - a + extent - 1]`. `b < p` (else `b` would lie in `p`'s block too), and `X`
//! is contiguous and misses `p`'s block, so `X` ends before `p`: `b < X.end <= p`. Then
//! `roundup(X.end, a)` is an aligned address in `(p - a, p]`, which is `p`. The model takes
//! the lowest candidate that is a placement. Each candidate is checked against the areas by
//! a binary search on the sorted list (the areas are sorted by start and disjoint, so their
//! ends are sorted too, and the areas that overlap a block are a run ending with the last one
//! starting at or below the block's last byte), and the areas' candidates ascend, so the scan
//! stops at the first that fits: O(n log n) per request at worst (about 1 ms per request among
//! test_vmalloc's 15,000 busy one-page areas at the test profile's opt-level 1). The unit
//! tests compare it with a search over every page of a small space.
//!
//! ## 4. Lazy free and purge
//!
//! - `free(addr)` succeeds iff a **busy** area starts at `addr` (else
//!   [`FreeErrorKind::NotBusy`]: a random address, an address inside an area, a lazy area's
//!   start, i.e. a double free). The area becomes lazy and `lazy_pages` grows by
//!   `extent / PAGE_SIZE` (the guard page counts). If then `lazy_pages > lazy_max_pages`
//!   (strictly), the same call purges.
//! - An allocation with no placement purges once, if anything is lazy, and searches again;
//!   its result is the second search's (which may still be `NoSpace`, with the purge done and
//!   reported). With nothing lazy it fails with `NoSpace` and no purge. Argument errors
//!   (1-4 above) never purge.
//! - A purge with nothing lazy does nothing and is not reported. Otherwise it removes every
//!   lazy area, clears `lazy_pages`, and is reported as a [`PurgeRecord`]: `start` = the lowest
//!   lazy start, `last` = the highest `start + extent - 1` (the flush covers up to the highest
//!   END, guard page included, not the highest start), `areas` = how many, `pages` = the
//!   `lazy_pages` it cleared. At most one purge happens per operation.
//!
//! ## 5. What it predicts, and what the harness checks with it
//!
//! Per operation: the result ([`VmapModel::predict_alloc`], [`VmapModel::predict_free`]) and
//! the purge it causes; [`VmapModel::alloc`], [`VmapModel::free`] and [`VmapModel::purge`]
//! apply both and return them as an [`OpOutcome`]. [`VmapModel::judge_alloc`] names what is
//! wrong with an allocator's answer (a [`Verdict`]: misaligned, wraps past the top, outside
//! the window, overlapping which area or guard page, not the lowest placement and which is,
//! an error where a placement exists, the wrong error); [`VmapModel::alloc_judged`] and
//! [`VmapModel::free_judged`] judge and then apply, [`judge_purge`] compares purge records.
//! After every operation the harness compares the allocator's state with [`VmapModel::areas`],
//! [`VmapModel::lazy_pages`] and [`VmapModel::stats`], and asks [`VmapModel::area_at`] /
//! [`VmapModel::contains_guard`] whether an address is a busy area's page (mapped), a guard
//! page (never mapped: an access faults on every CPU) or part of a lazy area (stale
//! translations allowed only until the purge's flush). [`VmapModel::overlapping`] names the
//! lowest area sharing a byte with any range.
//!
//! Nothing here panics on any input: every sum is taken in `u128`, and a value is narrowed to
//! `u64` only where it has been checked to fit.

use std::fmt;

/// Bytes per page.
pub const PAGE_SIZE: u64 = 4096;

/// [`PAGE_SIZE`] in `u128`.
const PAGE: u128 = PAGE_SIZE as u128;

/// Why a space cannot be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CreateErrorKind {
    /// `start` not page-aligned, `last + 1` not page-aligned (and `last != u64::MAX`), or
    /// `start > last`.
    BadRange,
}

/// Why an allocation fails (the first that applies, in declaration order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AllocErrorKind {
    /// `size == 0`.
    ZeroSize,
    /// `align` is zero or not a power of two.
    BadAlign,
    /// The window is inverted or not inside the space.
    BadWindow,
    /// The size rounded up to a page, or that plus the guard page, is above `u64::MAX`.
    SizeWraps,
    /// No placement, even after purging the lazy areas (if there were any).
    NoSpace,
}

/// Why a free fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FreeErrorKind {
    /// No busy area starts at the address (nothing there, inside an area, or a lazy area's
    /// start: a double free).
    NotBusy,
}

/// Busy or lazily freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AreaState {
    /// Allocated, not freed.
    Busy,
    /// Freed, awaiting the purge; still owns its extent.
    Lazy,
}

/// Which part of an area an address or range touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    /// Its pages `[start, start + size - 1]`.
    Pages,
    /// Its guard page `[start + size, start + size + PAGE_SIZE - 1]`.
    Guard,
}

/// One area of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Area {
    /// First byte (inclusive), page-aligned.
    pub start: u64,
    /// Bytes of its pages, a non-zero multiple of [`PAGE_SIZE`], guard page excluded.
    pub size: u64,
    /// Whether a guard page follows the pages.
    pub guard: bool,
    /// Busy or lazily freed.
    pub state: AreaState,
}

impl Area {
    /// `size` plus the guard page, in bytes.
    pub fn extent(&self) -> u128 {
        u128::from(self.size) + if self.guard { PAGE } else { 0 }
    }

    /// One past the last byte of the extent (half-open), up to `2^64`.
    pub fn end(&self) -> u128 {
        u128::from(self.start) + self.extent()
    }

    /// One past the last byte of the pages (half-open): where the guard page starts.
    pub fn pages_end(&self) -> u128 {
        u128::from(self.start) + u128::from(self.size)
    }

    /// The guard page's first byte, if the area has one.
    pub fn guard_page(&self) -> Option<u64> {
        if self.guard {
            u64::try_from(self.pages_end()).ok()
        } else {
            None
        }
    }

    /// The part of the area holding `addr`, if any.
    pub fn part_at(&self, addr: u64) -> Option<Part> {
        let a = u128::from(addr);
        if a < u128::from(self.start) || a >= self.end() {
            None
        } else if a < self.pages_end() {
            Some(Part::Pages)
        } else {
            Some(Part::Guard)
        }
    }

    /// Whether the extent shares a byte with the closed range `[first, last]`.
    fn meets(&self, first: u128, last: u128) -> bool {
        u128::from(self.start) <= last && first < self.end()
    }

    /// Whether the area is lazily freed.
    pub fn is_lazy(&self) -> bool {
        self.state == AreaState::Lazy
    }
}

/// The report of one purge (the contract's `Purge`): the flushed range and what it removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PurgeRecord {
    /// The lowest start among the purged areas.
    pub start: u64,
    /// The highest `start + extent - 1` among them (guard page included).
    pub last: u64,
    /// How many areas it removed.
    pub areas: u64,
    /// The `lazy_pages` it cleared (guard pages included).
    pub pages: u64,
}

/// What one operation did: its result and the purge it caused, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpOutcome<T, E> {
    /// The result the operation returns.
    pub result: Result<T, E>,
    /// The purge the operation caused (at most one).
    pub purge: Option<PurgeRecord>,
}

/// What [`VmapModel::fill`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FillOutcome {
    /// The addresses the allocations returned, in order.
    pub placed: Vec<u64>,
    /// The error of the allocation that failed and ended the fill, if one did.
    pub error: Option<AllocErrorKind>,
    /// The purge, and the index of the allocation that caused it.
    pub purge: Option<(usize, PurgeRecord)>,
}

/// Counters derived from the areas alone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VmapStats {
    /// Busy areas.
    pub busy: u64,
    /// Lazily freed areas.
    pub lazy: u64,
    /// Pages of busy areas, guard pages excluded (`sum(size) / PAGE_SIZE`).
    pub busy_pages: u64,
    /// Guard pages of busy areas (so `busy_pages + busy_guard_pages` counts busy extents the
    /// way `lazy_pages` counts lazy ones).
    pub busy_guard_pages: u64,
    /// Pages of lazy areas, guard pages included ([`VmapModel::lazy_pages`]).
    pub lazy_pages: u64,
    /// Bytes of the space in no area's extent (guard pages are not free), up to `2^64`.
    pub free_bytes: u128,
    /// Purges reported over the model's life.
    pub purges: u64,
}

/// What is wrong with an allocator's answer (or purge, or free).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// An address came back for a request that must fail with `expected`.
    PlacedDespiteError {
        /// The address returned.
        addr: u64,
        /// The error the model predicts.
        expected: AllocErrorKind,
    },
    /// Both failed, with different kinds.
    WrongError {
        /// The model's error.
        expected: AllocErrorKind,
        /// The allocator's error.
        actual: AllocErrorKind,
    },
    /// The allocator failed although a placement exists.
    ErrorDespitePlacement {
        /// The allocator's error.
        actual: AllocErrorKind,
        /// The lowest placement.
        placement: u64,
    },
    /// The address is not a multiple of the effective alignment.
    Misaligned {
        /// The address returned.
        addr: u64,
        /// `max(align, PAGE_SIZE)`.
        align: u64,
    },
    /// `addr + extent - 1` is above `u64::MAX`.
    Wraps {
        /// The address returned.
        addr: u64,
        /// The request's extent.
        extent: u64,
    },
    /// The extent does not lie inside the window (the space if none was given).
    OutsideWindow {
        /// The address returned.
        addr: u64,
        /// Its extent's last byte.
        last: u64,
        /// The window `(ws, wl)`, both inclusive.
        window: (u64, u64),
    },
    /// The extent shares a byte with an area's extent.
    Overlaps {
        /// The address returned.
        addr: u64,
        /// Its extent's last byte.
        last: u64,
        /// The lowest area it overlaps (in the state after the purge, if one was due).
        area: Area,
        /// `Guard` if it touches only that area's guard page.
        part: Part,
        /// `true` if only the new area's own guard page touches it.
        own_guard: bool,
    },
    /// A placement, but not the lowest.
    NotLowest {
        /// The address returned.
        addr: u64,
        /// The lowest placement.
        lowest: u64,
    },
    /// A free's result differs from the model's.
    WrongFree {
        /// The address freed.
        addr: u64,
        /// The model's result.
        expected: Result<(), FreeErrorKind>,
        /// The allocator's result.
        actual: Result<(), FreeErrorKind>,
    },
    /// An operation's purge differs from the model's (missing, spurious, or other fields).
    WrongPurge {
        /// The model's purge.
        expected: Option<PurgeRecord>,
        /// The allocator's purge.
        actual: Option<PurgeRecord>,
    },
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Verdict::PlacedDespiteError { addr, expected } => {
                write!(f, "returned {addr:#x}, expected {expected:?}")
            }
            Verdict::WrongError { expected, actual } => {
                write!(f, "failed with {actual:?}, expected {expected:?}")
            }
            Verdict::ErrorDespitePlacement { actual, placement } => write!(
                f,
                "failed with {actual:?} although {placement:#x} is the lowest placement"
            ),
            Verdict::Misaligned { addr, align } => {
                write!(f, "{addr:#x} is not aligned to {align:#x}")
            }
            Verdict::Wraps { addr, extent } => write!(
                f,
                "{addr:#x} + extent {extent:#x} wraps past the top of the address space"
            ),
            Verdict::OutsideWindow { addr, last, window } => write!(
                f,
                "[{addr:#x}, {last:#x}] is not inside the window [{:#x}, {:#x}]",
                window.0, window.1
            ),
            Verdict::Overlaps {
                addr,
                last,
                area,
                part,
                own_guard,
            } => write!(
                f,
                "[{addr:#x}, {last:#x}] ({}) overlaps {} of the {:?} area at {:#x} \
                 (size {:#x}, guard {})",
                if own_guard {
                    "its guard page"
                } else {
                    "its pages"
                },
                match part {
                    Part::Pages => "the pages",
                    Part::Guard => "the guard page",
                },
                area.state,
                area.start,
                area.size,
                area.guard
            ),
            Verdict::NotLowest { addr, lowest } => {
                write!(f, "{addr:#x} is a placement, but {lowest:#x} is the lowest")
            }
            Verdict::WrongFree {
                addr,
                expected,
                actual,
            } => write!(f, "free({addr:#x}) gave {actual:?}, expected {expected:?}"),
            Verdict::WrongPurge { expected, actual } => match (expected, actual) {
                (None, Some(a)) => write!(f, "unexpected purge {a:x?}"),
                (Some(e), None) => write!(f, "missing purge, expected {e:x?}"),
                (Some(e), Some(a)) => {
                    write!(f, "wrong purge:")?;
                    let fields = [
                        ("start", e.start, a.start),
                        ("last", e.last, a.last),
                        ("areas", e.areas, a.areas),
                        ("pages", e.pages, a.pages),
                    ];
                    for (name, e, a) in fields.into_iter().filter(|(_, e, a)| e != a) {
                        write!(f, " {name} {a:#x}, expected {e:#x};")?;
                    }
                    Ok(())
                }
                (None, None) => write!(f, "purges agree"),
            },
        }
    }
}

/// `Ok` iff the allocator's purge for an operation equals the model's.
pub fn judge_purge(
    expected: Option<PurgeRecord>,
    actual: Option<PurgeRecord>,
) -> Result<(), Verdict> {
    if expected == actual {
        Ok(())
    } else {
        Err(Verdict::WrongPurge { expected, actual })
    }
}

/// A request that passed checks 1-4, in `u128`.
#[derive(Clone, Copy, Debug)]
struct Norm {
    /// `roundup(size, PAGE_SIZE)`, at most `u64::MAX`.
    pages: u128,
    /// `pages` plus the guard page, at most `u64::MAX`.
    extent: u128,
    /// `max(align, PAGE_SIZE)`, a power of two, at most `2^63`.
    align: u128,
    /// First byte of the window (inclusive).
    ws: u128,
    /// Last byte of the window (inclusive).
    wl: u128,
    /// Whether a guard page follows.
    guard: bool,
}

/// The first multiple of `a` (a power of two, at most `2^63`) at or above `x` (at most
/// `2^64`): the low bits cleared after adding `a - 1`, which cannot overflow a `u128`.
fn round_up(x: u128, a: u128) -> u128 {
    (x + (a - 1)) & !(a - 1)
}

/// The lowest area of `areas` (sorted by start, extents disjoint) whose extent shares a byte
/// with `[first, last]`, by binary search: the areas starting at or below `last` whose end is
/// above `first` are a run at the end of that prefix (ends are sorted too).
fn lowest_blocker(areas: &[Area], first: u128, last: u128) -> Option<&Area> {
    let below = areas.partition_point(|x| u128::from(x.start) <= last);
    areas[..below]
        .iter()
        .rev()
        .take_while(|x| x.end() > first)
        .last()
}

/// The lowest placement for `n` among `areas` (section 3), or `None`.
fn lowest_fit(areas: &[Area], n: &Norm) -> Option<u64> {
    let fits = |c: u128| c >= n.ws && lowest_blocker(areas, c, c + n.extent - 1).is_none();
    let in_window = |c: &u128| c + n.extent - 1 <= n.wl;
    let from_window = Some(round_up(n.ws, n.align)).filter(|c| in_window(c) && fits(*c));
    // The areas' candidates ascend with the areas (ends ascend, rounding keeps the order), so
    // the first that fits is the lowest of them; none ending below `ws` can be at or above it,
    // and after the first that ends past `wl` none can end inside it.
    let skip = areas.partition_point(|x| x.end() < n.ws);
    let from_areas = areas[skip..]
        .iter()
        .map(|x| round_up(x.end(), n.align))
        .take_while(in_window)
        .find(|&c| fits(c));
    from_window
        .into_iter()
        .chain(from_areas)
        .min()
        .map(|c| c as u64) // c + extent - 1 <= wl <= u64::MAX
}

/// The naive model of one vmap space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmapModel {
    /// First byte of the space (inclusive).
    start: u64,
    /// Last byte of the space (inclusive).
    last: u64,
    /// A free purges when `lazy_pages` exceeds this.
    lazy_max_pages: u64,
    /// Every area, busy or lazy, sorted by start; extents disjoint and inside the space.
    areas: Vec<Area>,
    /// Purges reported so far.
    purges: u64,
}

impl VmapModel {
    /// An empty space `[start, last]` purging when more than `lazy_max_pages` pages are lazy.
    pub fn new(start: u64, last: u64, lazy_max_pages: u64) -> Result<VmapModel, CreateErrorKind> {
        let end = u128::from(last) + 1;
        if start > last || !start.is_multiple_of(PAGE_SIZE) || !end.is_multiple_of(PAGE) {
            return Err(CreateErrorKind::BadRange);
        }
        Ok(VmapModel {
            start,
            last,
            lazy_max_pages,
            areas: Vec::new(),
            purges: 0,
        })
    }

    /// First byte of the space.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Last byte of the space.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// The purge threshold.
    pub fn lazy_max_pages(&self) -> u64 {
        self.lazy_max_pages
    }

    /// Bytes in the space, up to `2^64`.
    pub fn space_bytes(&self) -> u128 {
        u128::from(self.last) - u128::from(self.start) + 1
    }

    /// Every area, busy or lazy, sorted by start.
    pub fn areas(&self) -> &[Area] {
        &self.areas
    }

    /// Pages of lazy areas, guard pages included.
    pub fn lazy_pages(&self) -> u64 {
        let pages: u128 = self
            .areas
            .iter()
            .filter(|x| x.is_lazy())
            .map(|x| x.extent() / PAGE)
            .sum();
        u64::try_from(pages).unwrap_or(u64::MAX) // at most 2^52
    }

    /// The counters, from the areas.
    pub fn stats(&self) -> VmapStats {
        let mut s = VmapStats {
            purges: self.purges,
            free_bytes: self.space_bytes(),
            ..VmapStats::default()
        };
        for x in &self.areas {
            // Counts stay far below u64::MAX: at most 2^52 pages fit in 2^64 bytes.
            let guard_pages = u64::from(x.guard);
            match x.state {
                AreaState::Busy => {
                    s.busy += 1;
                    s.busy_pages += x.size / PAGE_SIZE;
                    s.busy_guard_pages += guard_pages;
                }
                AreaState::Lazy => {
                    s.lazy += 1;
                    s.lazy_pages += x.size / PAGE_SIZE + guard_pages;
                }
            }
            s.free_bytes = s.free_bytes.saturating_sub(x.extent());
        }
        s
    }

    /// The area whose extent holds `addr`, and which part of it.
    pub fn area_at(&self, addr: u64) -> Option<(Area, Part)> {
        self.areas
            .iter()
            .find_map(|x| x.part_at(addr).map(|p| (*x, p)))
    }

    /// Whether `addr` lies in the guard page of an area, busy or lazy.
    pub fn contains_guard(&self, addr: u64) -> bool {
        matches!(self.area_at(addr), Some((_, Part::Guard)))
    }

    /// The lowest area whose extent shares a byte with `[first, last]`, by a scan of every
    /// area. An inverted range (`first > last`) meets nothing.
    pub fn overlapping(&self, first: u64, last: u64) -> Option<Area> {
        let (f, l) = (u128::from(first), u128::from(last));
        self.areas.iter().find(|x| x.meets(f, l)).copied()
    }

    /// Whether any area's extent shares a byte with `[first, last]`.
    pub fn overlaps_any(&self, first: u64, last: u64) -> bool {
        self.overlapping(first, last).is_some()
    }

    /// What a purge now would report (`None` if nothing is lazy).
    pub fn purge_record(&self) -> Option<PurgeRecord> {
        let lazy: Vec<&Area> = self.areas.iter().filter(|x| x.is_lazy()).collect();
        let start = lazy.iter().map(|x| x.start).min()?;
        let end = lazy.iter().map(|x| x.end()).max()?;
        Some(PurgeRecord {
            start,
            last: u64::try_from(end - 1).unwrap_or(u64::MAX), // end <= 2^64
            areas: lazy.len() as u64,
            pages: self.lazy_pages(),
        })
    }

    // ---- allocation -----------------------------------------------------------------------

    /// Checks 1-4 of section 2.
    fn request(
        &self,
        size: u64,
        align: u64,
        window: Option<(u64, u64)>,
        guard: bool,
    ) -> Result<Norm, AllocErrorKind> {
        if size == 0 {
            return Err(AllocErrorKind::ZeroSize);
        }
        if !align.is_power_of_two() {
            return Err(AllocErrorKind::BadAlign); // 0 is not a power of two
        }
        let (ws, wl) = window.unwrap_or((self.start, self.last));
        if ws > wl || ws < self.start || wl > self.last {
            return Err(AllocErrorKind::BadWindow);
        }
        let pages = round_up(u128::from(size), PAGE);
        let extent = pages + if guard { PAGE } else { 0 };
        if pages > u128::from(u64::MAX) || extent > u128::from(u64::MAX) {
            return Err(AllocErrorKind::SizeWraps);
        }
        Ok(Norm {
            pages,
            extent,
            align: u128::from(align).max(PAGE),
            ws: u128::from(ws),
            wl: u128::from(wl),
            guard,
        })
    }

    /// The busy areas only: the list as it is after a purge.
    fn busy_areas(&self) -> Vec<Area> {
        self.areas
            .iter()
            .filter(|x| !x.is_lazy())
            .copied()
            .collect()
    }

    /// For a valid request: whether the allocation purges, and its placement (searched after
    /// the purge if it purges).
    fn plan(&self, n: &Norm) -> (bool, Option<u64>) {
        match lowest_fit(&self.areas, n) {
            Some(addr) => (false, Some(addr)),
            None if self.areas.iter().any(Area::is_lazy) => {
                (true, lowest_fit(&self.busy_areas(), n))
            }
            None => (false, None),
        }
    }

    /// The result an allocation must return (section 2, with the purge-and-retry of
    /// section 4 taken into account).
    pub fn predict_alloc(
        &self,
        size: u64,
        align: u64,
        window: Option<(u64, u64)>,
        guard: bool,
    ) -> Result<u64, AllocErrorKind> {
        let n = self.request(size, align, window, guard)?;
        self.plan(&n).1.ok_or(AllocErrorKind::NoSpace)
    }

    /// Allocates as the contract says: the lowest placement, else purge (if anything is lazy)
    /// and search again. Returns the result and the purge.
    pub fn alloc(
        &mut self,
        size: u64,
        align: u64,
        window: Option<(u64, u64)>,
        guard: bool,
    ) -> OpOutcome<u64, AllocErrorKind> {
        let n = match self.request(size, align, window, guard) {
            Ok(n) => n,
            Err(k) => {
                return OpOutcome {
                    result: Err(k),
                    purge: None,
                }
            }
        };
        let (purges, placement) = self.plan(&n);
        let purge = if purges { self.purge() } else { None };
        let result = match placement {
            Some(addr) => {
                let area = Area {
                    start: addr,
                    size: n.pages as u64, // checked <= u64::MAX
                    guard: n.guard,
                    state: AreaState::Busy,
                };
                let at = self.areas.partition_point(|x| x.start < addr);
                self.areas.insert(at, area);
                Ok(addr)
            }
            None => Err(AllocErrorKind::NoSpace),
        };
        OpOutcome { result, purge }
    }

    /// `count` allocations of one request in a row, stopping at the first failure (the
    /// harness's bulk op, test_vmalloc's long busy list): what each returns, in order, and
    /// the purge one of them caused (with its index; at most one, since nothing is freed
    /// in between, so nothing is lazy after it).
    ///
    /// Each result is exactly [`VmapModel::alloc`]'s, computed faster: with identical
    /// requests and areas only added, every placement lies above the previous one (a lower
    /// address that fits now fitted then too, and the previous search would have taken it),
    /// so each search may start at the previous area's end; a purge frees space below, and
    /// the search starts over from the window's start.
    pub fn fill(
        &mut self,
        size: u64,
        align: u64,
        window: Option<(u64, u64)>,
        guard: bool,
        count: usize,
    ) -> FillOutcome {
        let mut out = FillOutcome::default();
        let mut n = match self.request(size, align, window, guard) {
            Ok(n) => n,
            Err(k) => {
                out.error = (count > 0).then_some(k);
                return out;
            }
        };
        let ws = n.ws;
        while out.placed.len() < count {
            match lowest_fit(&self.areas, &n) {
                Some(addr) => {
                    let at = self.areas.partition_point(|x| x.start < addr);
                    self.areas.insert(
                        at,
                        Area {
                            start: addr,
                            size: n.pages as u64, // checked <= u64::MAX
                            guard: n.guard,
                            state: AreaState::Busy,
                        },
                    );
                    out.placed.push(addr);
                    n.ws = u128::from(addr) + n.extent;
                }
                None if out.purge.is_none() && self.areas.iter().any(Area::is_lazy) => {
                    out.purge = self.purge().map(|p| (out.placed.len(), p));
                    n.ws = ws;
                }
                None => {
                    out.error = Some(AllocErrorKind::NoSpace);
                    break;
                }
            }
        }
        out
    }

    /// Judges an allocator's answer to a request against this (pre-operation) state: `Ok`
    /// iff it is exactly [`VmapModel::predict_alloc`]'s, else what is wrong with it. An
    /// address is judged in the state the allocation searches last: after the purge if the
    /// request has no placement and something is lazy, else as it is.
    pub fn judge_alloc(
        &self,
        size: u64,
        align: u64,
        window: Option<(u64, u64)>,
        guard: bool,
        actual: Result<u64, AllocErrorKind>,
    ) -> Result<(), Verdict> {
        let n = match self.request(size, align, window, guard) {
            Ok(n) => n,
            Err(expected) => {
                return match actual {
                    Err(k) if k == expected => Ok(()),
                    Err(k) => Err(Verdict::WrongError {
                        expected,
                        actual: k,
                    }),
                    Ok(addr) => Err(Verdict::PlacedDespiteError { addr, expected }),
                }
            }
        };
        let (purges, expected) = self.plan(&n);
        match (actual, expected) {
            (Err(AllocErrorKind::NoSpace), None) => Ok(()),
            (Err(k), None) => Err(Verdict::WrongError {
                expected: AllocErrorKind::NoSpace,
                actual: k,
            }),
            (Err(k), Some(placement)) => Err(Verdict::ErrorDespitePlacement {
                actual: k,
                placement,
            }),
            (Ok(addr), expected) => {
                let busy;
                let areas: &[Area] = if purges {
                    busy = self.busy_areas();
                    &busy
                } else {
                    &self.areas
                };
                Self::check_placement(areas, &n, addr)?;
                match expected {
                    Some(lowest) if lowest == addr => Ok(()),
                    Some(lowest) => Err(Verdict::NotLowest { addr, lowest }),
                    // Unreachable (a placement exists iff the search finds one), kept total.
                    None => Err(Verdict::PlacedDespiteError {
                        addr,
                        expected: AllocErrorKind::NoSpace,
                    }),
                }
            }
        }
    }

    /// Why `addr` is not a placement for `n` among `areas`, checked in the order alignment,
    /// wrap, window, overlap (the lowest overlapping area, by a scan of every area).
    fn check_placement(areas: &[Area], n: &Norm, addr: u64) -> Result<(), Verdict> {
        let a = u128::from(addr);
        if !a.is_multiple_of(n.align) {
            return Err(Verdict::Misaligned {
                addr,
                align: n.align as u64, // at most 2^63
            });
        }
        let last = a + n.extent - 1;
        if last > u128::from(u64::MAX) {
            return Err(Verdict::Wraps {
                addr,
                extent: n.extent as u64, // at most u64::MAX
            });
        }
        if a < n.ws || last > n.wl {
            return Err(Verdict::OutsideWindow {
                addr,
                last: last as u64,
                window: (n.ws as u64, n.wl as u64),
            });
        }
        if let Some(area) = areas.iter().find(|x| x.meets(a, last)) {
            let part = if a < area.pages_end() && u128::from(area.start) <= last {
                Part::Pages
            } else {
                Part::Guard
            };
            return Err(Verdict::Overlaps {
                addr,
                last: last as u64,
                area: *area,
                part,
                own_guard: !area.meets(a, a + n.pages - 1),
            });
        }
        Ok(())
    }

    /// [`VmapModel::judge_alloc`], then (if it agrees) [`VmapModel::alloc`].
    pub fn alloc_judged(
        &mut self,
        size: u64,
        align: u64,
        window: Option<(u64, u64)>,
        guard: bool,
        actual: Result<u64, AllocErrorKind>,
    ) -> Result<OpOutcome<u64, AllocErrorKind>, Verdict> {
        self.judge_alloc(size, align, window, guard, actual)?;
        Ok(self.alloc(size, align, window, guard))
    }

    // ---- free and purge -------------------------------------------------------------------

    /// The index of the busy area starting at `addr`.
    fn busy_at(&self, addr: u64) -> Option<usize> {
        let i = self.areas.partition_point(|x| x.start < addr);
        self.areas
            .get(i)
            .filter(|x| x.start == addr && !x.is_lazy())
            .map(|_| i)
    }

    /// What freeing `addr` must return.
    pub fn predict_free(&self, addr: u64) -> Result<(), FreeErrorKind> {
        self.busy_at(addr).map(|_| ()).ok_or(FreeErrorKind::NotBusy)
    }

    /// Frees lazily (section 4), purging if the lazy pages now exceed the limit.
    pub fn free(&mut self, addr: u64) -> OpOutcome<(), FreeErrorKind> {
        let Some(i) = self.busy_at(addr) else {
            return OpOutcome {
                result: Err(FreeErrorKind::NotBusy),
                purge: None,
            };
        };
        self.areas[i].state = AreaState::Lazy;
        let purge = if self.lazy_pages() > self.lazy_max_pages {
            self.purge()
        } else {
            None
        };
        OpOutcome {
            result: Ok(()),
            purge,
        }
    }

    /// `Ok` iff the allocator's free result equals the model's; then frees.
    pub fn free_judged(
        &mut self,
        addr: u64,
        actual: Result<(), FreeErrorKind>,
    ) -> Result<OpOutcome<(), FreeErrorKind>, Verdict> {
        let expected = self.predict_free(addr);
        if expected != actual {
            return Err(Verdict::WrongFree {
                addr,
                expected,
                actual,
            });
        }
        Ok(self.free(addr))
    }

    /// Removes every lazy area; reports it, unless nothing was lazy.
    pub fn purge(&mut self) -> Option<PurgeRecord> {
        let record = self.purge_record()?;
        self.areas.retain(|x| !x.is_lazy());
        self.purges += 1;
        Some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = PAGE_SIZE;
    const NONE: Option<(u64, u64)> = None;

    /// The model's own invariants: sorted, disjoint, page-granular, inside the space.
    fn check_model(m: &VmapModel) {
        let mut prev_end = u128::from(m.start());
        for x in m.areas() {
            assert!(u128::from(x.start) >= prev_end, "{:x?}", m.areas());
            assert!(x.start.is_multiple_of(P) && x.size.is_multiple_of(P) && x.size > 0);
            prev_end = x.end();
        }
        assert!(prev_end <= u128::from(m.last()) + 1);
        let s = m.stats();
        let used: u128 = m.areas().iter().map(Area::extent).sum();
        assert_eq!(s.free_bytes, m.space_bytes() - used);
        assert_eq!(s.lazy_pages, m.lazy_pages());
        assert_eq!(
            u128::from(s.busy_pages + s.busy_guard_pages + s.lazy_pages) * PAGE + s.free_bytes,
            m.space_bytes()
        );
    }

    fn model(start: u64, last: u64, lazy_max: u64) -> VmapModel {
        VmapModel::new(start, last, lazy_max).unwrap()
    }

    fn ok(m: &mut VmapModel, size: u64, guard: bool) -> u64 {
        let out = m.alloc(size, 1, NONE, guard);
        assert_eq!(out.purge, None);
        out.result.unwrap()
    }

    #[test]
    fn create_rules() {
        use CreateErrorKind::BadRange;
        assert!(VmapModel::new(0, u64::MAX, 0).is_ok());
        assert!(VmapModel::new(0x1000, 0x1fff, 0).is_ok());
        assert!(VmapModel::new(u64::MAX - 0xfff, u64::MAX, 7).is_ok());
        assert_eq!(VmapModel::new(0x1001, 0x1fff, 0), Err(BadRange));
        assert_eq!(VmapModel::new(0x1000, 0x1ffe, 0), Err(BadRange));
        assert_eq!(VmapModel::new(0x1000, 0x2000, 0), Err(BadRange));
        assert_eq!(VmapModel::new(0x2000, 0x1fff, 0), Err(BadRange));
        assert_eq!(VmapModel::new(u64::MAX, u64::MAX, 0), Err(BadRange));
        assert_eq!(VmapModel::new(0, 0, 0), Err(BadRange));
        let m = model(0, u64::MAX, 0);
        assert_eq!(m.space_bytes(), 1 << 64);
        assert_eq!(m.stats().free_bytes, 1 << 64);
    }

    #[test]
    fn errors_in_precedence_order() {
        use AllocErrorKind::*;
        let m = model(0x10_0000, 0x1f_ffff, 0); // 256 pages
        let w = Some((0x10_0000, 0x1f_ffff));
        // Each error, with every later one also present.
        assert_eq!(m.predict_alloc(0, 0, Some((5, 1)), true), Err(ZeroSize));
        assert_eq!(
            m.predict_alloc(u64::MAX, 3, Some((5, 1)), true),
            Err(BadAlign)
        );
        assert_eq!(m.predict_alloc(1, 0, w, false), Err(BadAlign));
        assert_eq!(
            m.predict_alloc(u64::MAX, 1 << 12, Some((5, 1)), true),
            Err(BadWindow)
        );
        assert_eq!(
            m.predict_alloc(u64::MAX, 1, Some((0, 0x1f_ffff)), false),
            Err(BadWindow)
        );
        assert_eq!(
            m.predict_alloc(1, 1, Some((0x10_0000, 0x20_0000)), false),
            Err(BadWindow)
        );
        assert_eq!(
            m.predict_alloc(1, 1, Some((0x10_1000, 0x10_0fff)), false),
            Err(BadWindow)
        );
        assert_eq!(m.predict_alloc(u64::MAX, 1, w, false), Err(SizeWraps));
        assert_eq!(
            m.predict_alloc(u64::MAX - 0xfff + 1, 1, NONE, false),
            Err(SizeWraps)
        );
        // 2^64 - 4096 rounds to itself; only the guard page makes it wrap.
        assert_eq!(
            m.predict_alloc(u64::MAX - 0xfff, 1, NONE, true),
            Err(SizeWraps)
        );
        assert_eq!(
            m.predict_alloc(u64::MAX - 0xfff, 1, NONE, false),
            Err(NoSpace)
        );
        assert_eq!(m.predict_alloc(256 * P + 1, 1, NONE, false), Err(NoSpace));
        assert_eq!(m.predict_alloc(256 * P, 1, NONE, false), Ok(0x10_0000));
        assert_eq!(m.predict_alloc(255 * P + 1, 1, NONE, true), Err(NoSpace));
        assert_eq!(m.predict_alloc(255 * P, 1, NONE, true), Ok(0x10_0000));
        // A window holding one page, not page-aligned: its aligned page does not fit.
        assert_eq!(
            m.predict_alloc(1, 1, Some((0x10_0001, 0x10_1fff)), false),
            Ok(0x10_1000)
        );
        assert_eq!(
            m.predict_alloc(1, 1, Some((0x10_0001, 0x10_1ffe)), false),
            Err(NoSpace)
        );
        // Argument errors never purge, and the model's alloc agrees with its prediction.
        let mut m = model(0x10_0000, 0x1f_ffff, 100);
        let a = ok(&mut m, P, false);
        m.free(a);
        for (size, align, win) in [(0, 1, NONE), (1, 6, NONE), (1, 1, Some((0, 1)))] {
            let out = m.alloc(size, align, win, false);
            assert!(out.result.is_err() && out.purge.is_none());
            assert_eq!(out.result, m.predict_alloc(size, align, win, false));
        }
        assert_eq!(m.lazy_pages(), 1);
    }

    #[test]
    fn lowest_fit_with_guard_pages_on_both_sides() {
        let s = 0x4000_0000;
        let mut m = model(s, s + 64 * P - 1, 100);
        let a = ok(&mut m, P, true); // [s, s+2P): page + guard
        assert_eq!(a, s);
        let b = ok(&mut m, 3 * P, true); // [s+2P, s+6P)
        assert_eq!(b, s + 2 * P);
        let c = ok(&mut m, P, true); // [s+6P, s+8P)
        assert_eq!(c, s + 6 * P);
        assert_eq!(m.free(b).result, Ok(())); // lazy: still blocks
        assert_eq!(m.predict_alloc(P, 1, NONE, false), Ok(s + 8 * P));
        m.purge();
        // The hole [s+2P, s+6P) lies between a's guard page and c's start.
        assert_eq!(m.predict_alloc(3 * P, 1, NONE, true), Ok(s + 2 * P)); // exact fit
        assert_eq!(m.predict_alloc(4 * P, 1, NONE, false), Ok(s + 2 * P)); // exact fit
        assert_eq!(m.predict_alloc(4 * P, 1, NONE, true), Ok(s + 8 * P)); // guard hits c
        assert_eq!(m.predict_alloc(P, 2 * P, NONE, true), Ok(s + 2 * P));
        assert_eq!(m.predict_alloc(P, 4 * P, NONE, true), Ok(s + 4 * P));
        assert_eq!(m.predict_alloc(2 * P, 4 * P, NONE, true), Ok(s + 8 * P));
        assert_eq!(m.predict_alloc(2 * P, 4 * P, NONE, false), Ok(s + 4 * P));
        // A window starting inside a's guard page and one ending inside c.
        assert_eq!(
            m.predict_alloc(P, 1, Some((s + P, s + 64 * P - 1)), true),
            Ok(s + 2 * P)
        );
        assert_eq!(
            m.predict_alloc(P, 1, Some((s + 5 * P, s + 64 * P - 1)), false),
            Ok(s + 5 * P)
        );
        assert_eq!(
            m.predict_alloc(P, 1, Some((s + 5 * P, s + 64 * P - 1)), true),
            Ok(s + 8 * P)
        );
        assert_eq!(
            m.predict_alloc(P, 1, Some((s, s + 7 * P)), true),
            Ok(s + 2 * P)
        );
        assert_eq!(
            m.predict_alloc(5 * P, 1, Some((s, s + 9 * P)), false),
            Err(AllocErrorKind::NoSpace)
        );
        // The guard pages are where area_at says.
        assert!(m.contains_guard(s + P) && m.contains_guard(s + 7 * P + 5));
        assert!(!m.contains_guard(s) && !m.contains_guard(s + 2 * P));
        assert_eq!(
            m.area_at(s + 6 * P).map(|(x, p)| (x.start, p)),
            Some((c, Part::Pages))
        );
        assert_eq!(m.area_at(s + 3 * P), None);
        assert_eq!(
            m.overlapping(s + 3 * P, s + 6 * P).map(|x| x.start),
            Some(c)
        );
        assert!(!m.overlaps_any(s + 2 * P, s + 6 * P - 1));
        assert!(!m.overlaps_any(s + 6 * P, s + P)); // inverted: nothing
        check_model(&m);
    }

    /// Fills a 16-page space ending at `last` so that exactly its top page is free.
    fn exact_fit_at_top(last: u64) {
        let start = last - 16 * P + 1;
        for guard in [false, true] {
            let mut m = model(start, last, 0);
            // 14 pages + guard (or 15 pages): [start, last - P].
            let size = if guard { 14 * P } else { 15 * P };
            assert_eq!(ok(&mut m, size, guard), start);
            assert_eq!(
                m.predict_alloc(1, 1, NONE, true),
                Err(AllocErrorKind::NoSpace)
            );
            assert_eq!(
                m.predict_alloc(P + 1, 1, NONE, false),
                Err(AllocErrorKind::NoSpace)
            );
            assert_eq!(m.predict_alloc(1, 1, NONE, false), Ok(last - P + 1));
            assert_eq!(
                m.predict_alloc(P, P, Some((last - P + 1, last)), false),
                Ok(last - P + 1)
            );
            assert_eq!(ok(&mut m, P, false), last - P + 1);
            assert_eq!(m.stats().free_bytes, 0);
            assert_eq!(
                m.area_at(last).map(|(x, p)| (x.start, p)),
                Some((last - P + 1, Part::Pages))
            );
            check_model(&m);
            // Free both; the limit 0 purges each time; the top area's end is 2^64 or 2^32.
            let out = m.free(last - P + 1);
            assert_eq!(
                out.purge,
                Some(PurgeRecord {
                    start: last - P + 1,
                    last,
                    areas: 1,
                    pages: 1
                })
            );
            // Now a guarded page fits at the top exactly when the guard is the last page.
            assert_eq!(
                m.predict_alloc(1, 1, NONE, true),
                Err(AllocErrorKind::NoSpace)
            );
            m.free(start);
            assert_eq!(m.predict_alloc(15 * P, 1, NONE, true), Ok(start));
            assert_eq!(
                m.predict_alloc(1, 1, Some((last - 2 * P + 1, last)), true),
                Ok(last - 2 * P + 1)
            );
            assert_eq!(
                m.predict_alloc(1, 1, Some((last - P + 1, last)), true),
                Err(AllocErrorKind::NoSpace)
            );
            let top = m.alloc(P, 1, Some((last - 2 * P + 1, last)), true);
            assert_eq!(top.result, Ok(last - 2 * P + 1));
            assert!(m.contains_guard(last) && !m.contains_guard(last - P));
            check_model(&m);
        }
    }

    #[test]
    fn exact_fit_at_the_top_of_64_bits() {
        exact_fit_at_top(u64::MAX);
        // The whole 64-bit space: the largest extent is 2^64 - 4096 bytes.
        let mut m = model(0, u64::MAX, 0);
        assert_eq!(m.predict_alloc(u64::MAX - 0xfff, P, NONE, false), Ok(0));
        assert_eq!(ok(&mut m, u64::MAX - 0x1fff, true), 0);
        assert_eq!(
            m.predict_alloc(1, 1, NONE, true),
            Err(AllocErrorKind::NoSpace)
        );
        assert_eq!(ok(&mut m, 1, false), u64::MAX - 0xfff);
        assert_eq!(m.stats().free_bytes, 0);
        check_model(&m);
    }

    #[test]
    fn exact_fit_at_the_top_of_32_bits() {
        exact_fit_at_top(0xffff_ffff);
    }

    #[test]
    fn huge_alignments_find_no_space() {
        // x86_64 4-level vmalloc range, the IA-32 one, and a space ending at u64::MAX.
        for (start, last) in [
            (0xffff_c900_0000_0000u64, 0xffff_e8ff_ffff_ffffu64),
            (0xf780_0000, 0xff7f_dfff),
            (0xffff_8000_0000_0000, u64::MAX),
        ] {
            let m = model(start, last, 0);
            for i in 0..64 {
                let align = 1u64 << i;
                let a = u128::from(align).max(PAGE);
                let first = round_up(u128::from(start), a);
                let want = if first + 2 * PAGE - 1 <= u128::from(last) {
                    Ok(first as u64)
                } else {
                    Err(AllocErrorKind::NoSpace)
                };
                assert_eq!(
                    m.predict_alloc(P, align, NONE, true),
                    want,
                    "align 1 << {i}"
                );
                assert_eq!(m.judge_alloc(P, align, NONE, true, want), Ok(()));
            }
            assert_eq!(
                m.predict_alloc(P, 1 << 63, NONE, true),
                Err(AllocErrorKind::NoSpace)
            );
        }
        // 2^63 is in the whole space: one placement, at 2^63 exactly.
        let m = model(0, u64::MAX, 0);
        assert_eq!(
            m.predict_alloc(u64::MAX / 2, 1 << 63, Some((1, u64::MAX)), false),
            Ok(1 << 63)
        );
        assert_eq!(
            m.predict_alloc(u64::MAX / 2 + 2, 1 << 63, Some((1, u64::MAX)), false),
            Err(AllocErrorKind::NoSpace)
        );
    }

    #[test]
    fn free_purges_when_crossing_the_limit() {
        let s = 0x10_0000;
        let mut m = model(s, s + 64 * P - 1, 3);
        let a = ok(&mut m, P, true);
        let b = ok(&mut m, 2 * P, false);
        let c = ok(&mut m, P, true);
        let d = ok(&mut m, P, false);
        assert_eq!(
            m.free(b),
            OpOutcome {
                result: Ok(()),
                purge: None
            }
        ); // 2 pages
        assert_eq!(m.lazy_pages(), 2);
        assert_eq!(
            m.free(d),
            OpOutcome {
                result: Ok(()),
                purge: None
            }
        ); // 3: not above 3
        assert_eq!(m.lazy_pages(), 3);
        assert_eq!(
            m.purge_record(),
            Some(PurgeRecord {
                start: b,
                last: d + P - 1,
                areas: 2,
                pages: 3
            })
        );
        // a's guard page makes it 5 > 3: one purge of all three.
        let out = m.free(a);
        assert_eq!(out.result, Ok(()));
        assert_eq!(
            out.purge,
            Some(PurgeRecord {
                start: a,
                last: d + P - 1,
                areas: 3,
                pages: 5
            })
        );
        assert_eq!(m.lazy_pages(), 0);
        assert_eq!(m.areas().iter().map(|x| x.start).collect::<Vec<_>>(), [c]);
        assert_eq!(m.stats().purges, 1);
        assert_eq!(m.purge(), None); // nothing lazy: not reported
        assert_eq!(m.stats().purges, 1);
        // Limit 0: every free purges, just itself.
        let mut z = model(s, s + 64 * P - 1, 0);
        let x = ok(&mut z, 3 * P, true);
        let y = ok(&mut z, P, false);
        assert_eq!(
            z.free(x).purge,
            Some(PurgeRecord {
                start: x,
                last: x + 4 * P - 1,
                areas: 1,
                pages: 4
            })
        );
        assert_eq!(
            z.free(y).purge,
            Some(PurgeRecord {
                start: y,
                last: y + P - 1,
                areas: 1,
                pages: 1
            })
        );
        assert_eq!(z.stats().purges, 2);
        // Limit u64::MAX: never.
        let mut n = model(0, u64::MAX, u64::MAX);
        let big = ok(&mut n, 1 << 60, true);
        assert_eq!(n.free(big).purge, None);
        assert_eq!(n.lazy_pages(), (1 << 48) + 1);
        check_model(&n);
    }

    #[test]
    fn purge_range_reaches_the_highest_end_guard_included() {
        let s = 0x20_0000;
        let mut m = model(s, s + 64 * P - 1, 100);
        let a = ok(&mut m, 2 * P, false); // [s, s+2P)
        let _keep = ok(&mut m, P, false);
        let c = ok(&mut m, 5 * P, true); // [s+3P, s+9P): guard at s+8P
        m.free(c);
        m.free(a);
        let want = PurgeRecord {
            start: s,
            last: s + 9 * P - 1,
            areas: 2,
            pages: 8,
        };
        assert_eq!(m.purge(), Some(want));
        // The buggy flush [min start, max start] or up to the pages' end is named field by field.
        let wrong = PurgeRecord { last: c, ..want };
        let v = judge_purge(Some(want), Some(wrong)).unwrap_err();
        assert_eq!(
            v,
            Verdict::WrongPurge {
                expected: Some(want),
                actual: Some(wrong)
            }
        );
        assert!(v.to_string().contains("last"), "{v}");
        assert!(!v.to_string().contains("areas"), "{v}");
        assert_eq!(judge_purge(None, None), Ok(()));
        assert!(judge_purge(Some(want), None).is_err() && judge_purge(None, Some(want)).is_err());
    }

    #[test]
    fn alloc_purges_and_retries_only_when_full_with_lazy_areas() {
        let s = 0x40_0000;
        let mut m = model(s, s + 8 * P - 1, 100);
        let a = ok(&mut m, P, true); // [s, s+2P)
        let b = ok(&mut m, 2 * P, true); // [s+2P, s+5P)
        let c = ok(&mut m, 2 * P, false); // [s+5P, s+7P)
        assert_eq!(ok(&mut m, P, false), s + 7 * P); // full
                                                     // Nothing lazy: NoSpace, no purge.
        assert_eq!(
            m.alloc(P, 1, NONE, false),
            OpOutcome {
                result: Err(AllocErrorKind::NoSpace),
                purge: None
            }
        );
        m.free(b);
        m.free(a);
        // A placement ignoring lazy areas would be s; the model purges then finds it.
        assert_eq!(m.predict_alloc(P, 1, NONE, true), Ok(s));
        let out = m.alloc(P, 1, NONE, true);
        assert_eq!(out.result, Ok(s));
        assert_eq!(
            out.purge,
            Some(PurgeRecord {
                start: s,
                last: s + 5 * P - 1,
                areas: 2,
                pages: 5
            })
        );
        assert_eq!(m.lazy_pages(), 0);
        // Purging and still finding nothing: NoSpace, with the purge reported.
        m.free(c);
        assert_eq!(m.predict_alloc(3 * P, 1, NONE, false), Ok(s + 2 * P)); // no purge needed
        assert_eq!(
            m.predict_alloc(6 * P, 1, NONE, false),
            Err(AllocErrorKind::NoSpace)
        );
        let out = m.alloc(6 * P, 1, NONE, false);
        assert_eq!(out.result, Err(AllocErrorKind::NoSpace));
        assert_eq!(
            out.purge,
            Some(PurgeRecord {
                start: c,
                last: c + 2 * P - 1,
                areas: 1,
                pages: 2
            })
        );
        // With room, a lazy area is not purged: it simply blocks.
        let d = ok(&mut m, P, false);
        m.free(d);
        let out = m.alloc(P, 1, NONE, false);
        assert_eq!((out.result, out.purge), (Ok(d + P), None));
        // A window with no room purges too, even if the space elsewhere has room.
        let out = m.alloc(P, 1, Some((d, d + P - 1)), false);
        assert_eq!(out.result, Ok(d));
        assert_eq!(out.purge.map(|p| p.start), Some(d));
        check_model(&m);
    }

    #[test]
    fn double_free_and_bad_frees_are_not_busy() {
        let s = 0x80_0000;
        let mut m = model(s, s + 16 * P - 1, 100);
        let a = ok(&mut m, 2 * P, true);
        assert_eq!(m.predict_free(a + P), Err(FreeErrorKind::NotBusy)); // inside
        assert_eq!(m.predict_free(a + 2 * P), Err(FreeErrorKind::NotBusy)); // guard page
        assert_eq!(m.predict_free(s + 8 * P), Err(FreeErrorKind::NotBusy)); // nothing
        assert_eq!(m.predict_free(0), Err(FreeErrorKind::NotBusy)); // outside the space
        assert_eq!(m.predict_free(u64::MAX), Err(FreeErrorKind::NotBusy));
        assert_eq!(m.predict_free(a), Ok(()));
        assert_eq!(m.free(a).result, Ok(()));
        assert_eq!(m.predict_free(a), Err(FreeErrorKind::NotBusy)); // lazy: a double free
        assert_eq!(
            m.free(a),
            OpOutcome {
                result: Err(FreeErrorKind::NotBusy),
                purge: None
            }
        );
        assert_eq!(m.lazy_pages(), 3);
        assert_eq!(
            m.area_at(a + 2 * P).map(|(x, p)| (x.state, p)),
            Some((AreaState::Lazy, Part::Guard))
        );
        let v = m.free_judged(a, Ok(())).unwrap_err();
        assert_eq!(
            v,
            Verdict::WrongFree {
                addr: a,
                expected: Err(FreeErrorKind::NotBusy),
                actual: Ok(())
            }
        );
        assert!(m.free_judged(a, Err(FreeErrorKind::NotBusy)).is_ok());
        m.purge();
        assert_eq!(m.predict_free(a), Err(FreeErrorKind::NotBusy)); // purged: gone
    }

    #[test]
    fn judge_names_what_is_wrong() {
        use AllocErrorKind::*;
        let s = 0x100_0000;
        let last = s + 32 * P - 1;
        let mut m = model(s, last, 100);
        let a = ok(&mut m, 2 * P, true); // [s, s+3P), guard s+2P
        let b = ok(&mut m, P, false); // [s+3P, s+4P)
        let j = |m: &VmapModel, size, align, win, guard, actual| {
            m.judge_alloc(size, align, win, guard, actual)
        };
        assert_eq!(j(&m, P, 1, NONE, true, Ok(s + 4 * P)), Ok(()));
        assert_eq!(
            j(&m, P, 1, NONE, true, Ok(s + 4 * P + 8)),
            Err(Verdict::Misaligned {
                addr: s + 4 * P + 8,
                align: P
            })
        );
        assert_eq!(
            j(&m, P, 8 * P, NONE, true, Ok(s + 4 * P)),
            Err(Verdict::Misaligned {
                addr: s + 4 * P,
                align: 8 * P
            })
        );
        assert_eq!(
            j(&m, P, 1, Some((s + 8 * P, last)), true, Ok(s + 4 * P)),
            Err(Verdict::OutsideWindow {
                addr: s + 4 * P,
                last: s + 6 * P - 1,
                window: (s + 8 * P, last)
            })
        );
        assert_eq!(
            j(&m, P, 1, NONE, true, Ok(last - P + 1)),
            Err(Verdict::OutsideWindow {
                addr: last - P + 1,
                last: last + P,
                window: (s, last)
            })
        );
        // Into a's guard page; into b's pages; only through the new area's own guard page.
        assert_eq!(
            j(&m, P, 1, NONE, false, Ok(s + 2 * P)),
            Err(Verdict::Overlaps {
                addr: s + 2 * P,
                last: s + 3 * P - 1,
                area: m.areas()[0],
                part: Part::Guard,
                own_guard: false
            })
        );
        assert_eq!(
            j(&m, P, 1, NONE, false, Ok(s + 3 * P)),
            Err(Verdict::Overlaps {
                addr: s + 3 * P,
                last: s + 4 * P - 1,
                area: m.areas()[1],
                part: Part::Pages,
                own_guard: false
            })
        );
        let v = j(&m, P, 1, NONE, true, Ok(s + 2 * P)).unwrap_err();
        assert!(
            matches!(
                v,
                Verdict::Overlaps {
                    part: Part::Guard,
                    ..
                }
            ),
            "{v}"
        );
        m.purge();
        m.free(b);
        let v = j(&m, P, 1, Some((s + 2 * P, last)), true, Ok(s + 2 * P)).unwrap_err();
        assert!(
            matches!(v, Verdict::Overlaps { part: Part::Guard, own_guard: false, area, .. } if area.start == a)
        );
        let mut n = model(s, last, 100);
        let x = ok(&mut n, P, false); // [s, s+P)
        let _y = ok(&mut n, P, false); // [s+P, s+2P)
        n.free(x);
        assert_eq!(n.predict_alloc(P, 1, NONE, true), Ok(s + 2 * P));
        let v = n.judge_alloc(P, 1, NONE, true, Ok(s)).unwrap_err(); // reused a lazy area
        assert!(
            matches!(v, Verdict::Overlaps { area, .. } if area.state == AreaState::Lazy),
            "{v}"
        );
        assert!(v.to_string().contains("Lazy"), "{v}");
        let mut o = model(s, last, 100);
        let _p = ok(&mut o, P, false);
        let q = ok(&mut o, 2 * P, false); // [s+P, s+3P)
        o.free(q);
        o.purge();
        // The pages fit at s+P but not with a guard page next to s+3P... which is free.
        assert_eq!(o.predict_alloc(P, 1, NONE, true), Ok(s + P));
        assert_eq!(
            o.judge_alloc(P, 1, NONE, true, Ok(s + 5 * P)),
            Err(Verdict::NotLowest {
                addr: s + 5 * P,
                lowest: s + P
            })
        );
        let r = ok(&mut o, P, false); // [s+P, s+2P)
        let _t = ok(&mut o, P, false); // [s+2P, s+3P)
        o.free(r);
        o.purge();
        let v = o.judge_alloc(P, 1, NONE, true, Ok(s + P)).unwrap_err(); // its guard hits t
        assert!(
            matches!(
                v,
                Verdict::Overlaps {
                    own_guard: true,
                    part: Part::Pages,
                    ..
                }
            ),
            "{v}"
        );
        // Wrapping, at the top of the 64-bit space.
        let top = model(u64::MAX - 16 * P + 1, u64::MAX, 0);
        assert_eq!(
            top.judge_alloc(2 * P, 1, NONE, true, Ok(u64::MAX - 2 * P + 1)),
            Err(Verdict::Wraps {
                addr: u64::MAX - 2 * P + 1,
                extent: 3 * P
            })
        );
        // Errors.
        assert_eq!(j(&m, 0, 1, NONE, false, Err(ZeroSize)), Ok(()));
        assert_eq!(
            j(&m, 0, 1, NONE, false, Err(BadAlign)),
            Err(Verdict::WrongError {
                expected: ZeroSize,
                actual: BadAlign
            })
        );
        assert_eq!(
            j(&m, 1, 3, NONE, false, Ok(s)),
            Err(Verdict::PlacedDespiteError {
                addr: s,
                expected: BadAlign
            })
        );
        assert_eq!(
            j(&m, P, 1, NONE, false, Err(NoSpace)),
            Err(Verdict::ErrorDespitePlacement {
                actual: NoSpace,
                placement: s + 4 * P
            })
        );
        assert_eq!(j(&m, 64 * P, 1, NONE, false, Err(NoSpace)), Ok(()));
        assert_eq!(
            j(&m, 64 * P, 1, NONE, false, Err(SizeWraps)),
            Err(Verdict::WrongError {
                expected: NoSpace,
                actual: SizeWraps
            })
        );
        let v = j(&m, 64 * P, 1, NONE, false, Ok(s)).unwrap_err();
        assert!(matches!(v, Verdict::OutsideWindow { .. }), "{v}");
        // alloc_judged applies only on agreement.
        let before = m.clone();
        assert!(m.alloc_judged(P, 1, NONE, false, Ok(s + 5 * P)).is_err());
        assert_eq!(m, before);
        let out = m.alloc_judged(P, 1, NONE, false, Ok(s + 4 * P)).unwrap();
        assert_eq!((out.result, out.purge), (Ok(s + 4 * P), None));
        for v in [
            Verdict::NotLowest { addr: 1, lowest: 0 },
            Verdict::Wraps { addr: 1, extent: 2 },
            Verdict::WrongPurge {
                expected: None,
                actual: None,
            },
        ] {
            assert!(!v.to_string().is_empty());
        }
    }

    /// xorshift64 with a fixed seed.
    #[test]
    fn fill_equals_one_alloc_after_another() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        // (fills that purged, fills that ended in NoSpace): both must happen.
        let mut seen = (0, 0);
        for case in 0..200 {
            let last = match case % 3 {
                0 => 0x100_0000 + 96 * P - 1,
                1 => 0xffff_ffff,
                _ => u64::MAX,
            };
            let start = last - 96 * P + 1;
            let mut m = model(start, last, rng.below(16));
            // A random history: allocations and frees, so lazy areas and holes of every
            // size lie below where the fill starts.
            for _ in 0..rng.below(30) {
                if rng.below(3) == 0 && !m.areas().is_empty() {
                    let i = rng.below(m.areas().len() as u64) as usize;
                    let addr = m.areas()[i].start;
                    let _ = m.free(addr);
                } else {
                    let _ = m.alloc(1 + rng.below(3 * P), P << rng.below(2), NONE, true);
                }
            }
            let size = 1 + rng.below(4 * P);
            let align = if rng.below(3) == 0 {
                P << rng.below(3)
            } else {
                1
            };
            let window = (rng.below(4) == 0).then(|| (start + P * rng.below(8), last));
            let guard = rng.below(2) == 0;
            let count = rng.below(40) as usize;
            let mut one_by_one = m.clone();
            let mut expected = FillOutcome::default();
            for i in 0..count {
                let out = one_by_one.alloc(size, align, window, guard);
                if let Some(p) = out.purge {
                    expected.purge = Some((i, p));
                }
                match out.result {
                    Ok(addr) => expected.placed.push(addr),
                    Err(k) => {
                        expected.error = Some(k);
                        break;
                    }
                }
            }
            seen.0 += usize::from(expected.purge.is_some());
            seen.1 += usize::from(expected.error == Some(AllocErrorKind::NoSpace));
            assert_eq!(
                m.fill(size, align, window, guard, count),
                expected,
                "case {case}"
            );
            assert_eq!(m, one_by_one, "case {case}");
        }
        assert!(seen.0 > 5 && seen.1 > 5, "{seen:?}");
    }

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// The contract's placement rule by trying every page-aligned address of the window, page
    /// by page against a map of occupied pages (ignoring lazy areas if `purged`).
    fn every_page(
        m: &VmapModel,
        size: u64,
        align: u64,
        win: Option<(u64, u64)>,
        guard: bool,
        purged: bool,
    ) -> Option<u64> {
        let (ws, wl) = win.unwrap_or((m.start(), m.last()));
        let pages = size.div_ceil(P);
        let extent = pages + u64::from(guard);
        let a = align.max(P);
        let occupied = |page: u64| {
            m.areas().iter().any(|x| {
                (!purged || !x.is_lazy())
                    && u128::from(page * P) >= u128::from(x.start)
                    && u128::from(page * P) < x.end()
            })
        };
        let first_page = m.start() / P;
        let pages_in_space = ((u128::from(m.last()) + 1 - u128::from(m.start())) / PAGE) as u64;
        (first_page..first_page + pages_in_space)
            .map(|pg| pg * P)
            .find(|&addr| {
                addr.is_multiple_of(a)
                    && addr >= ws
                    && u128::from(addr) + u128::from(extent * P) - 1 <= u128::from(wl)
                    && (addr / P..addr / P + extent).all(|pg| !occupied(pg))
            })
    }

    /// The purge record from the fields of the lazy areas (and of the one at `also`, if it
    /// is about to become lazy), without the model's helpers.
    fn purge_by_hand(m: &VmapModel, also: Option<u64>) -> Option<PurgeRecord> {
        let lazy: Vec<&Area> = m
            .areas()
            .iter()
            .filter(|x| x.state == AreaState::Lazy || Some(x.start) == also)
            .collect();
        let last = |x: &Area| x.start + (x.size - 1) + if x.guard { P } else { 0 };
        Some(PurgeRecord {
            start: lazy.first()?.start,
            last: lazy.iter().map(|x| last(x)).max()?,
            areas: lazy.len() as u64,
            pages: lazy.iter().map(|x| x.size / P + u64::from(x.guard)).sum(),
        })
    }

    #[test]
    fn predict_alloc_equals_a_search_of_every_page() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut states = 0;
        // (placed, NoSpace, alloc purges, free purges, max areas): the walk must reach them all.
        let mut seen = (0, 0, 0, 0, 0);
        for case in 0..300 {
            // 64 pages: low, at the top of 32 bits, at the top of 64 bits.
            let last = match case % 3 {
                0 => 0x100_0000 + 64 * P - 1,
                1 => 0xffff_ffff,
                _ => u64::MAX,
            };
            let start = last - 64 * P + 1;
            let mut m = model(start, last, rng.below(12));
            for _ in 0..40 {
                states += 1;
                match rng.below(10) {
                    0..=5 => {
                        let max = if rng.below(4) == 0 { 20 * P } else { 4 * P };
                        let size = 1 + rng.below(max);
                        let align = match rng.below(4) {
                            0 => 1 << rng.below(12),
                            1 => P << rng.below(5),
                            2 => 1 << rng.below(64),
                            _ => 1,
                        };
                        let win = if rng.below(3) == 0 {
                            let ws = start + rng.below(64 * P);
                            Some((ws, ws + rng.below(last - ws + 1)))
                        } else {
                            None
                        };
                        let guard = rng.below(2) == 0;
                        let lazy = m.areas().iter().any(Area::is_lazy);
                        let direct = every_page(&m, size, align, win, guard, false);
                        let want = direct.or_else(|| {
                            if lazy {
                                every_page(&m, size, align, win, guard, true)
                            } else {
                                None
                            }
                        });
                        let want_purge = if direct.is_none() && lazy {
                            purge_by_hand(&m, None)
                        } else {
                            None
                        };
                        let want = want.ok_or(AllocErrorKind::NoSpace);
                        assert_eq!(
                            m.predict_alloc(size, align, win, guard),
                            want,
                            "{size:#x} {align:#x} {win:x?} {guard} {:x?}",
                            m.areas()
                        );
                        // Wrong answers are judged wrong, the right one right.
                        let wrong = start + rng.below(64) * P;
                        if Ok(wrong) != want {
                            assert!(m.judge_alloc(size, align, win, guard, Ok(wrong)).is_err());
                        }
                        assert!(m
                            .judge_alloc(size, align, win, guard, Err(AllocErrorKind::BadWindow))
                            .is_err());
                        let before = m.areas().len();
                        let out = m.alloc_judged(size, align, win, guard, want).unwrap();
                        assert_eq!((out.result, out.purge), (want, want_purge));
                        seen.0 += usize::from(want.is_ok());
                        seen.1 += usize::from(want.is_err());
                        seen.2 += usize::from(want_purge.is_some());
                        let purged = want_purge.map_or(0, |p| p.areas as usize);
                        assert_eq!(m.areas().len(), before - purged + usize::from(want.is_ok()));
                    }
                    6..=8 => {
                        let busy: Vec<u64> = m
                            .areas()
                            .iter()
                            .filter(|x| !x.is_lazy())
                            .map(|x| x.start)
                            .collect();
                        let addr = if busy.is_empty() || rng.below(5) == 0 {
                            start + rng.below(64 * P)
                        } else {
                            busy[rng.below(busy.len() as u64) as usize]
                        };
                        let ok = busy.contains(&addr);
                        let lazy_after = purge_by_hand(&m, Some(addr)).map_or(0, |p| p.pages);
                        let want_purge = if ok && lazy_after > m.lazy_max_pages() {
                            purge_by_hand(&m, Some(addr))
                        } else {
                            None
                        };
                        let out = m.free(addr);
                        assert_eq!(out.result.is_ok(), ok);
                        assert_eq!(out.purge, want_purge);
                        seen.3 += usize::from(want_purge.is_some());
                        assert!(m.lazy_pages() <= m.lazy_max_pages());
                    }
                    _ => {
                        let want = purge_by_hand(&m, None);
                        assert_eq!(m.purge(), want);
                    }
                }
                check_model(&m);
                seen.4 = seen.4.max(m.areas().len());
                // Guard pages are exactly the pages after guarded areas.
                for x in m.areas() {
                    if let Some(g) = x.guard_page() {
                        assert!(m.contains_guard(g) && m.contains_guard(g + (P - 1)));
                        assert!(!m.contains_guard(g - 1));
                    }
                }
            }
        }
        assert_eq!(states, 12_000);
        assert!(
            seen.0 > 2000 && seen.1 > 500 && seen.2 > 100 && seen.3 > 100 && seen.4 > 10,
            "{seen:?}"
        );
    }

    #[test]
    fn nothing_panics_on_extreme_inputs() {
        let sizes = [
            0,
            1,
            P - 1,
            P,
            P + 1,
            1 << 63,
            u64::MAX - 0x1fff,
            u64::MAX - 0xfff,
            u64::MAX - 1,
            u64::MAX,
        ];
        let aligns = [0, 1, 3, P, 1 << 62, 1 << 63, u64::MAX];
        let spaces = [
            (0, u64::MAX),
            (u64::MAX - 0xfff, u64::MAX),
            (0, 0xfff),
            (0xffff_f000, 0xffff_ffff),
        ];
        for (start, last) in spaces {
            let mut m = model(start, last, 0);
            let windows = [
                None,
                Some((start, last)),
                Some((last, last)),
                Some((u64::MAX, u64::MAX)),
                Some((last - 0xfff, last)),
                Some((0, u64::MAX)),
            ];
            for &size in &sizes {
                for &align in &aligns {
                    for &win in &windows {
                        for guard in [false, true] {
                            let want = m.predict_alloc(size, align, win, guard);
                            for actual in [
                                want,
                                Ok(0),
                                Ok(u64::MAX),
                                Ok(last & !0xfff),
                                Err(AllocErrorKind::NoSpace),
                            ] {
                                let _ = m.judge_alloc(size, align, win, guard, actual);
                            }
                            let out = m.alloc(size, align, win, guard);
                            assert_eq!(out.result, want);
                            if let Ok(a) = out.result {
                                let _ = m.free(a);
                            }
                            let _ = m.free(u64::MAX);
                            let _ = m.area_at(u64::MAX);
                            let _ = m.overlaps_any(0, u64::MAX);
                            check_model(&m);
                        }
                    }
                }
            }
        }
    }
}
