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
mod tests;
