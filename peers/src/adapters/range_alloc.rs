//! range-alloc 0.1.5 (`range_alloc::RangeAllocator<T>`), the range allocator of wgpu.
//!
//! The crate manages one contiguous range of an index type and hands out sub-ranges of it.
//! The adapter keeps one `RangeAllocator<u128>` per span the scenario adds, counting in
//! units of the scenario's quantum (the crate has no quantum: its units are whatever the
//! caller says), and `u128` so that a span ending at the top of the 64-bit space has a
//! half-open end. An allocation asks each span's allocator in turn until one succeeds.

use kvafuzz::harness::adapter::{
    AdapterTarget, AlignRule, AllocErrorKind, Caps, Completeness, Constraints, CountFields, Counts,
    Domain, FitPolicy, FreeErrorKind, Frees, GrowErrorKind, Level, OnViolation, Policies,
    PolicyClaim, RangeAllocator, Request, Shape, SpanErrorKind,
};
use range_alloc::RangeAllocator as Crate;

use super::glue::{book_methods, quantum, round_up, HeapBook};

/// The adapter: one crate allocator per span, in units of the quantum.
pub struct RangeAlloc {
    /// The scenario's shape (address space and quantum).
    shape: Shape,
    /// The spans added (checked by the glue) and what it handed out.
    book: HeapBook,
    /// `(first unit, allocator)` per span, by start.
    allocators: Vec<(u128, Crate<u128>)>,
}

impl RangeAlloc {
    /// An empty adapter for `shape`.
    fn build(shape: &Shape) -> Result<RangeAlloc, String> {
        Ok(RangeAlloc {
            shape: *shape,
            book: HeapBook::new(shape),
            allocators: Vec::new(),
        })
    }

    /// The quantum, as `u128`.
    fn q(&self) -> u128 {
        u128::from(quantum(&self.shape))
    }

    /// The allocator of the span holding unit `unit`.
    fn allocator_of(&mut self, unit: u128) -> Option<&mut Crate<u128>> {
        self.allocators
            .iter_mut()
            .find(|(_, a)| a.initial_range().contains(&unit))
            .map(|(_, a)| a)
    }
}

impl RangeAllocator for RangeAlloc {
    fn caps(&self) -> Caps {
        Caps {
            // `allocate_range_aligned(length, alignment)`: "Allocates a sub-range of the given
            // `length` whose start is aligned to a multiple of `alignment`". No other
            // constraint exists in the crate.
            constraints: Constraints::ALIGN,
            // `allocate_range`: "Uses a best-fit strategy: the smallest free range that can
            // satisfy the request is chosen", so it fails only if no free range can: complete.
            // Best fit holds per span's allocator, not across the spans the glue tries in
            // turn, so no placement rule is claimed.
            policies: Policies::own(PolicyClaim::complete_as(Completeness::Full)),
            frees: Frees {
                // `free_range` checks only that the range is inside the allocator's range,
                // non-empty and not overlapping a free range: an address that is not an
                // allocation's start is undefined.
                bad_address: OnViolation::NotFed,
                // `free_range` "# Panics: ... overlaps with an already-free range".
                double_free: OnViolation::Panics,
                // A shorter range frees part of an allocation without complaint: undefined.
                wrong_size: OnViolation::NotFed,
                // `free_range(range: Range<T>)` takes the range, so its length.
                takes_size: true,
            },
            domain: Domain {
                // `allocate_range_aligned` "Panics if `length` or `alignment` is zero": any
                // other alignment is accepted, a power of two or not. The glue counts in
                // quanta, so it can pass on any multiple of the quantum (and refuses others,
                // which it cannot express, as the domain says).
                align: AlignRule::QuantumMultiple,
                max_align: u64::MAX,
                max_size: u64::MAX,
                // Lengths are any number of units; the glue counts in quanta.
                unaligned_sizes: true,
                refuses_overconstrained: false,
            },
            // `allocate_range`: "# Panics: Panics if `length` is zero."
            invalid_requests: OnViolation::Panics,
            // `total_available`: "Returns the total length of all free ranges combined."
            counts: CountFields {
                free: true,
                ..CountFields::NONE
            },
            // `allocated_ranges`: "Adjacent allocations appear as a single contiguous range."
            merges_allocations: true,
            // `grow_to`: "Extends the allocator's range to a new end value. The newly added
            // region (`old_end..new_end`) becomes available for allocation."
            grows: true,
            ..Caps::NONE
        }
    }

    fn add_span(&mut self, _level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        let last = self.book.add_span(base, size)?;
        let first = u128::from(base) / self.q();
        let end = (u128::from(last) + 1) / self.q();
        self.allocators.push((first, Crate::new(first..end)));
        self.allocators.sort_by_key(|&(f, _)| f);
        Ok(())
    }

    fn alloc(
        &mut self,
        _level: Level,
        req: &Request,
        _policy: FitPolicy,
    ) -> Result<u64, AllocErrorKind> {
        let q = self.q();
        if u128::from(req.align) % q != 0 {
            return Err(AllocErrorKind::BadAlign);
        }
        let length = round_up(req.size, quantum(&self.shape)) / q;
        let align = (u128::from(req.align) / q).max(1);
        for (_, a) in self.allocators.iter_mut() {
            let got = if req.align == 0 {
                a.allocate_range(length)
            } else {
                a.allocate_range_aligned(length, align)
            };
            if let Ok(r) = got {
                let (start, end) = (r.start * q, r.end * q);
                // u128 units of a u64 span: both ends lie in the span.
                let (start, last) = (start as u64, (end - 1) as u64);
                self.book.record(start, last);
                return Ok(start);
            }
        }
        Err(AllocErrorKind::NoSpace)
    }

    fn alloc_at(&mut self, _addr: u64, _size: u64) -> Result<u64, AllocErrorKind> {
        // Never asked: the crate has no exact allocation (`Caps::exact` is false).
        Err(AllocErrorKind::NoSpace)
    }

    fn free(&mut self, _level: Level, addr: u64, size: u64) -> Result<(), FreeErrorKind> {
        let q = self.q();
        let start = u128::from(addr) / q;
        let end = start + round_up(size, quantum(&self.shape)) / q;
        let Some(a) = self.allocator_of(start) else {
            // Only a double free of a live span's allocation is fed: never reached.
            return Err(FreeErrorKind::BadFree);
        };
        a.free_range(start..end);
        self.book.forget(addr);
        Ok(())
    }

    fn grow_span(&mut self, _level: Level, start: u64, by: u64) -> Result<(), GrowErrorKind> {
        let new_last = self.book.grow_span(start, by)?;
        let new_end = (u128::from(new_last) + 1) / self.q();
        let first = u128::from(start) / self.q();
        if let Some(a) = self.allocator_of(first) {
            a.grow_to(new_end);
        }
        Ok(())
    }

    fn allocated(&self, _level: Level) -> Vec<(u64, u64)> {
        // Each span's allocator merges its own touching allocations; runs of two touching
        // spans' allocators are joined here too, as the contract lists merged runs.
        let q = self.q();
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (_, a) in &self.allocators {
            for r in a.allocated_ranges() {
                let (s, e) = ((r.start * q) as u64, (r.end * q - 1) as u64);
                match out.last_mut() {
                    Some(prev) if u128::from(prev.1) + 1 == u128::from(s) => prev.1 = e,
                    _ => out.push((s, e)),
                }
            }
        }
        out
    }

    book_methods!(spans, check_invariants);

    fn counts(&self, _level: Level) -> Option<Counts> {
        let free: u128 = self
            .allocators
            .iter()
            .map(|(_, a)| a.total_available())
            .sum();
        Some(Counts {
            free: free * self.q(),
            ..Counts::default()
        })
    }
}

/// The target: range-alloc over the vmem scenarios.
pub static TARGET: AdapterTarget<RangeAlloc> = AdapterTarget::new(
    "range-alloc",
    "range-alloc 0.1.5: RangeAllocator<u128>, one per span, in quanta",
    RangeAlloc::build,
);
