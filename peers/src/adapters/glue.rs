//! What every adapter of this crate shares: the spans the caller added (checked against the
//! scenario's address space, since none of the crates checks a range it is given), and the
//! live allocations it hands out (most crates keep no listing a caller can read).
//!
//! The glue refuses exactly what the harness's contract refuses for a span (an empty,
//! wrapping, non-canonical, misaligned or overlapping range) before the crate sees it: none
//! of the crates documents checking any of that, so feeding them such a range would only
//! test the glue's absence. Everything the crate does document is left to the crate.

use std::collections::BTreeMap;
use std::ptr::NonNull;

use kvafuzz::harness::adapter::{span_error_kind, Arch, GrowErrorKind, Shape, SpanErrorKind};
use kvafuzz::vmem::AddSpanError;

/// The spans a caller added to one level, by start: `start -> last` (inclusive).
#[derive(Clone, Debug, Default)]
pub struct Spans {
    /// Start to last address of every span.
    by_start: BTreeMap<u64, u64>,
}

impl Spans {
    /// Checks `[base, base + size)` as the contract does for a new span of a level whose
    /// quantum is `quantum`, on `arch`: its last address if it may be added.
    pub fn check(
        &self,
        arch: Arch,
        quantum: u64,
        base: u64,
        size: u64,
    ) -> Result<u64, SpanErrorKind> {
        let range = arch
            .check_range(base, size)
            .map_err(|e| span_error_kind(AddSpanError::BadRange(e)))?;
        if !base.is_multiple_of(quantum) || !size.is_multiple_of(quantum) {
            return Err(SpanErrorKind::Misaligned);
        }
        let last = range.last();
        if let Some((&s, _)) = self
            .by_start
            .range(..=last)
            .next_back()
            .filter(|(_, &l)| l >= base)
        {
            return Err(SpanErrorKind::Overlaps(s));
        }
        Ok(last)
    }

    /// Records the span `[start, last]` (already checked).
    pub fn insert(&mut self, start: u64, last: u64) {
        self.by_start.insert(start, last);
    }

    /// Grows the span starting at `start` by `by` bytes, as the contract's `grow_span` checks
    /// it (the new tail must pass [`Spans::check`] as a span of its own): its new last
    /// address, recorded.
    pub fn grow(
        &mut self,
        arch: Arch,
        quantum: u64,
        start: u64,
        by: u64,
    ) -> Result<u64, GrowErrorKind> {
        let last = self.last_of(start).ok_or(GrowErrorKind::NoSpan)?;
        let end = last
            .checked_add(1)
            .ok_or(GrowErrorKind::Tail(SpanErrorKind::Wraps))?;
        let new_last = self
            .check(arch, quantum, end, by)
            .map_err(GrowErrorKind::Tail)?;
        self.set_last(start, new_last);
        Ok(new_last)
    }

    /// Replaces the last address of the span starting at `start`.
    pub fn set_last(&mut self, start: u64, last: u64) {
        self.by_start.insert(start, last);
    }

    /// The span starting at `start`, if any: its last address.
    pub fn last_of(&self, start: u64) -> Option<u64> {
        self.by_start.get(&start).copied()
    }

    /// The span holding `addr`: its start and last address.
    pub fn holding(&self, addr: u64) -> Option<(u64, u64)> {
        self.by_start
            .range(..=addr)
            .next_back()
            .filter(|(_, &l)| l >= addr)
            .map(|(&s, &l)| (s, l))
    }

    /// The first span starting after `last`, if any.
    pub fn next_after(&self, last: u64) -> Option<u64> {
        let from = last.checked_add(1)?;
        self.by_start.range(from..).next().map(|(&s, _)| s)
    }

    /// Every span as `(start, last, false)`, by address (what `RangeAllocator::spans`
    /// lists for spans the caller added).
    pub fn listing(&self) -> Vec<(u64, u64, bool)> {
        self.by_start.iter().map(|(&s, &l)| (s, l, false)).collect()
    }
}

/// The live allocations of one level, as the crate handed them out: `start -> last`.
#[derive(Clone, Debug, Default)]
pub struct Live {
    /// Start to last address of every live allocation.
    by_start: BTreeMap<u64, u64>,
}

impl Live {
    /// Records `[start, last]`.
    pub fn insert(&mut self, start: u64, last: u64) {
        self.by_start.insert(start, last);
    }

    /// The allocation starting at `start`: its last address.
    pub fn get(&self, start: u64) -> Option<u64> {
        self.by_start.get(&start).copied()
    }

    /// Forgets the allocation starting at `start`.
    pub fn remove(&mut self, start: u64) -> Option<u64> {
        self.by_start.remove(&start)
    }

    /// Every allocation as `(start, last)`, by address.
    pub fn listing(&self) -> Vec<(u64, u64)> {
        self.by_start.iter().map(|(&s, &l)| (s, l)).collect()
    }
}

/// The bookkeeping of a heap adapter with one level: the spans added, checked against the
/// scenario's address space and quantum, and the live allocations the crate handed out
/// (what `spans` and `allocated` list, since the crates keep no listing a caller can read).
#[derive(Clone, Debug)]
pub struct HeapBook {
    /// The scenario's address space.
    arch: Arch,
    /// The arena level's quantum ([`quantum`]).
    quantum: u64,
    /// The spans added.
    spans: Spans,
    /// What the crate handed out.
    live: Live,
}

impl HeapBook {
    /// An empty book for `shape`.
    pub fn new(shape: &Shape) -> HeapBook {
        HeapBook {
            arch: shape.arch,
            quantum: quantum(shape),
            spans: Spans::default(),
            live: Live::default(),
        }
    }

    /// Checks `[base, base + size)` as a new span ([`Spans::check`]): its last address if it
    /// may be added (not recorded yet: [`HeapBook::insert_span`]).
    pub fn check_span(&self, base: u64, size: u64) -> Result<u64, SpanErrorKind> {
        self.spans.check(self.arch, self.quantum, base, size)
    }

    /// Records the span `[start, last]` (already checked).
    pub fn insert_span(&mut self, start: u64, last: u64) {
        self.spans.insert(start, last);
    }

    /// Checks and records the span `[base, base + size)`: its last address.
    pub fn add_span(&mut self, base: u64, size: u64) -> Result<u64, SpanErrorKind> {
        let last = self.check_span(base, size)?;
        self.insert_span(base, last);
        Ok(last)
    }

    /// Grows the span starting at `start` by `by` bytes ([`Spans::grow`]): its new last
    /// address, recorded.
    pub fn grow_span(&mut self, start: u64, by: u64) -> Result<u64, GrowErrorKind> {
        self.spans.grow(self.arch, self.quantum, start, by)
    }

    /// The span holding `addr`: its start and last address.
    pub fn holding(&self, addr: u64) -> Option<(u64, u64)> {
        self.spans.holding(addr)
    }

    /// Records the allocation `[start, last]` the crate handed out.
    pub fn record(&mut self, start: u64, last: u64) {
        self.live.insert(start, last);
    }

    /// Forgets the allocation starting at `start`.
    pub fn forget(&mut self, start: u64) {
        self.live.remove(start);
    }

    /// Every span as `(start, last, false)`, by address (`RangeAllocator::spans`).
    pub fn spans(&self) -> Vec<(u64, u64, bool)> {
        self.spans.listing()
    }

    /// Every live allocation as `(start, last)`, by address (`RangeAllocator::allocated`).
    pub fn allocated(&self) -> Vec<(u64, u64)> {
        self.live.listing()
    }

    /// `RangeAllocator::check_invariants` of an adapter over a crate that offers no check of
    /// its own: always `Ok`. The book holds no invariant of its own to check (spans are
    /// checked as they come; the crate's allocations are what the harness judges against its
    /// model, so the book records them as they are).
    pub fn check_invariants(&self) -> Result<(), (String, String)> {
        Ok(())
    }
}

/// The `RangeAllocator` methods of an adapter whose [`HeapBook`] (field `book`) answers them
/// alone, inside its `impl RangeAllocator`: `book_methods!(spans, allocated,
/// check_invariants);` (any of the three).
macro_rules! book_methods {
    ($($method:ident),+ $(,)?) => {
        $(book_methods!(@one $method);)+
    };
    (@one spans) => {
        fn spans(&self, _level: kvafuzz::harness::adapter::Level) -> Vec<(u64, u64, bool)> {
            self.book.spans()
        }
    };
    (@one allocated) => {
        fn allocated(&self, _level: kvafuzz::harness::adapter::Level) -> Vec<(u64, u64)> {
            self.book.allocated()
        }
    };
    (@one check_invariants) => {
        fn check_invariants(&self) -> Result<(), (String, String)> {
            self.book.check_invariants()
        }
    };
}
pub(crate) use book_methods;

/// `size` rounded up to a multiple of `quantum` (a power of two), as `u128`: the bytes an
/// allocation of `size` holds in the contract's terms.
pub fn round_up(size: u64, quantum: u64) -> u128 {
    u128::from(size).div_ceil(u128::from(quantum)) * u128::from(quantum)
}

/// The arena level's quantum of `shape`.
pub fn quantum(shape: &Shape) -> u64 {
    shape.quantum.max(1)
}

/// The largest span (and grown span) a heap adapter backs with real memory: every buffer
/// is this big, so a span can grow in place up to it.
pub const MAX_REGION: u64 = 1 << 20;

/// The buffers' alignment: alignments up to it mean the same in the scenario's addresses.
pub const REGION_ALIGN: u64 = 1 << 20;

/// Real memory standing for one span of the scenario: a buffer of [`MAX_REGION`] bytes
/// (and room to align) in which the span's first byte lies at an address congruent to the
/// span's base modulo [`REGION_ALIGN`], so that alignments up to it agree.
pub struct Region {
    /// The span's first address in the scenario.
    base: u64,
    /// The buffer (owned; freed on drop).
    buffer: NonNull<u8>,
    /// Where the span's first byte lies in the buffer.
    offset: usize,
}

/// The layout of every region's buffer.
fn region_layout() -> std::alloc::Layout {
    // Both constants are powers of two far below isize::MAX.
    std::alloc::Layout::from_size_align((MAX_REGION + REGION_ALIGN) as usize, REGION_ALIGN as usize)
        .unwrap_or_else(|_| std::alloc::Layout::new::<u8>())
}

impl Region {
    /// A region for the span starting at `base` (`None`: out of memory).
    pub fn new(base: u64) -> Option<Region> {
        // SAFETY: a non-zero size.
        let buffer = NonNull::new(unsafe { std::alloc::alloc(region_layout()) })?;
        Some(Region {
            base,
            buffer,
            offset: (base % REGION_ALIGN) as usize,
        })
    }

    /// The pointer standing for the span's first byte.
    pub fn start(&self) -> *mut u8 {
        // SAFETY: `offset` is below REGION_ALIGN, inside the buffer.
        unsafe { self.buffer.as_ptr().add(self.offset) }
    }

    /// The scenario address of `ptr`, a pointer into this region.
    pub fn addr_of(&self, ptr: NonNull<u8>) -> u64 {
        self.base + (ptr.as_ptr() as usize - self.start() as usize) as u64
    }

    /// The pointer of scenario address `addr` (`None` outside the region).
    pub fn ptr_of(&self, addr: u64) -> Option<NonNull<u8>> {
        let at = usize::try_from(addr.checked_sub(self.base)?).ok()?;
        if at as u64 > MAX_REGION {
            return None;
        }
        // SAFETY: `at` is at most MAX_REGION past the start, inside the buffer.
        NonNull::new(unsafe { self.start().add(at) })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this very layout, freed once. Its owner drops the
        // heap over it first.
        unsafe { std::alloc::dealloc(self.buffer.as_ptr(), region_layout()) }
    }
}
