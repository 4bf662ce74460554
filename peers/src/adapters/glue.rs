//! What every adapter of this crate shares: the spans the caller added (checked against the
//! scenario's address space, since none of the crates checks a range it is given), and the
//! live allocations it hands out (most crates keep no listing a caller can read).
//!
//! The glue refuses exactly what the harness's contract refuses for a span (an empty,
//! wrapping, non-canonical, misaligned or overlapping range) before the crate sees it: none
//! of the crates documents checking any of that, so feeding them such a range would only
//! test the glue's absence. Everything the crate does document is left to the crate.

use std::collections::BTreeMap;

use kvafuzz::harness::adapter::{span_error_kind, Arch, Shape, SpanErrorKind};
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

/// `size` rounded up to a multiple of `quantum` (a power of two), as `u128`: the bytes an
/// allocation of `size` holds in the contract's terms.
pub fn round_up(size: u64, quantum: u64) -> u128 {
    u128::from(size).div_ceil(u128::from(quantum)) * u128::from(quantum)
}

/// The arena level's quantum of `shape`.
pub fn quantum(shape: &Shape) -> u64 {
    shape.quantum.max(1)
}
