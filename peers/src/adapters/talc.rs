//! talc 5.1.1 (`talc::base::Talc` with the `Manual` source), a fast `no_std` heap, driven as
//! a range allocator over a simulated region.
//!
//! One `Talc` manages every span: each span the scenario adds is a [`Region`] of real memory
//! the adapter `claim`s as one heap of the allocator (the first successful claim also holds
//! the allocator's metadata, "a little over `BIN_COUNT * PTR_SIZE`"), and a grown span is
//! `extend`ed. Requests are made with `Layout::from_size_align(size rounded up to the quantum,
//! max(align, quantum))`; a pointer is translated back to the scenario's address through its
//! region. The `Layout` of each allocation is kept for its `deallocate`.

use std::alloc::Layout;
use std::collections::BTreeMap;
use std::ptr::NonNull;

use kvafuzz::harness::adapter::{
    AdapterTarget, AlignRule, AllocErrorKind, Caps, Constraints, Domain, FitPolicy, FreeErrorKind,
    Frees, GrowErrorKind, Level, OnViolation, Policies, PolicyClaim, RangeAllocator, Request,
    Shape, SpanErrorKind,
};
use talc::base::Talc;
use talc::source::Manual;
use talc::DefaultBinning;

use super::glue::{book_methods, quantum, round_up, HeapBook, Region, MAX_REGION, REGION_ALIGN};

/// One span: its region and the end of the heap claimed over it (`None`: the claim failed).
struct SpanHeap {
    /// The heap's end as `claim`/`extend` returned it.
    end: Option<NonNull<u8>>,
    /// The real memory (dropped after the allocator, which is declared first).
    region: Region,
}

/// The adapter: one allocator, one heap per span.
pub struct TalcAdapter {
    /// The allocator (declared first: dropped before the regions it points into).
    talc: Talc<Manual, DefaultBinning>,
    /// The scenario's shape.
    shape: Shape,
    /// The spans added and what it handed out.
    book: HeapBook,
    /// Each span's heap, by base.
    heaps: BTreeMap<u64, SpanHeap>,
    /// The layout of each live allocation, by address.
    layouts: BTreeMap<u64, Layout>,
}

impl TalcAdapter {
    /// An empty adapter for `shape`.
    fn build(shape: &Shape) -> Result<TalcAdapter, String> {
        Ok(TalcAdapter {
            talc: Talc::new(Manual),
            shape: *shape,
            book: HeapBook::new(shape),
            heaps: BTreeMap::new(),
            layouts: BTreeMap::new(),
        })
    }

    /// Claims `[region start, + size)` for the span at `base` (its end, if the claim took).
    fn claim(&mut self, base: u64, size: u64) {
        if let Some(h) = self.heaps.get_mut(&base) {
            // SAFETY: the memory lies in the region (size is at most MAX_REGION), is used by
            // nothing else, and outlives the allocator (dropped after it).
            h.end = unsafe { self.talc.claim(h.region.start(), size as usize) };
        }
    }
}

impl RangeAllocator for TalcAdapter {
    fn caps(&self) -> Caps {
        Caps {
            // `allocate(layout: Layout)`: size and alignment.
            constraints: Constraints::ALIGN,
            // `allocate`: "Allocate a contiguous region of memory according to `layout`, if
            // possible." No completeness is documented (the first heap holds the metadata,
            // heaps lose bytes to alignment and tags), and no placement rule.
            policies: Policies::own(PolicyClaim::VALID),
            // `deallocate`: "`ptr` must have been previously allocated given `layout`."
            frees: Frees::TRUSTING,
            domain: Domain {
                // `Layout`: any power of two; the regions keep alignments up to
                // `REGION_ALIGN`.
                align: AlignRule::PowerOfTwo,
                max_align: REGION_ALIGN,
                ..Domain::VMEM
            },
            // `allocate`: "# Safety: `layout.size()` must be nonzero": never asked.
            invalid_requests: OnViolation::NotFed,
            // `extend`: "Extend the heap" from `heap_end` to `new_end`.
            grows: true,
            // The glue's regions.
            max_span: MAX_REGION,
            ..Caps::NONE
        }
    }

    fn add_span(&mut self, _level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        let last = self.book.check_span(base, size)?;
        let region = Region::new(base).ok_or(SpanErrorKind::ZeroSize)?;
        self.book.insert_span(base, last);
        self.heaps.insert(base, SpanHeap { end: None, region });
        self.claim(base, size);
        Ok(())
    }

    fn alloc(
        &mut self,
        _level: Level,
        req: &Request,
        _policy: FitPolicy,
    ) -> Result<u64, AllocErrorKind> {
        let q = quantum(&self.shape);
        let size = round_up(req.size, q);
        if size > u128::from(MAX_REGION) {
            return Err(AllocErrorKind::NoSpace);
        }
        let layout = Layout::from_size_align(size as usize, req.align.max(q) as usize)
            .map_err(|_| AllocErrorKind::NoSpace)?;
        // SAFETY: the size is not zero (the domain's requests are at least one quantum).
        let ptr = unsafe { self.talc.allocate(layout) }.ok_or(AllocErrorKind::NoSpace)?;
        let region = self
            .heaps
            .values()
            .map(|h| &h.region)
            .find(|r| {
                let start = r.start() as usize;
                let p = ptr.as_ptr() as usize;
                start <= p && p - start < MAX_REGION as usize
            })
            .ok_or(AllocErrorKind::NoSpace)?;
        let addr = region.addr_of(ptr);
        self.layouts.insert(addr, layout);
        self.book.record(addr, addr + (size as u64 - 1));
        Ok(addr)
    }

    fn alloc_at(&mut self, _addr: u64, _size: u64) -> Result<u64, AllocErrorKind> {
        // Never asked: no exact allocation.
        Err(AllocErrorKind::NoSpace)
    }

    fn free(&mut self, _level: Level, addr: u64, _size: u64) -> Result<(), FreeErrorKind> {
        let layout = self.layouts.remove(&addr).ok_or(FreeErrorKind::BadFree)?;
        let (base, _) = self.book.holding(addr).ok_or(FreeErrorKind::BadFree)?;
        let h = self.heaps.get(&base).ok_or(FreeErrorKind::BadFree)?;
        let ptr = h.region.ptr_of(addr).ok_or(FreeErrorKind::BadFree)?;
        // SAFETY: `ptr` was allocated with `layout`, and is freed once (forgotten here).
        unsafe { self.talc.deallocate(ptr.as_ptr(), layout) };
        self.book.forget(addr);
        Ok(())
    }

    fn grow_span(&mut self, _level: Level, start: u64, by: u64) -> Result<(), GrowErrorKind> {
        let new_last = self.book.grow_span(start, by)?;
        let size = new_last - start + 1;
        let Some(h) = self.heaps.get_mut(&start) else {
            return Ok(());
        };
        match h.end {
            Some(heap_end) => {
                // SAFETY: the region holds MAX_REGION bytes past the span's start, and the
                // executor never grows a span past it (`Caps::max_span`).
                let new_end = unsafe { h.region.start().add(size as usize) };
                // SAFETY: `heap_end` is this heap's end; the memory up to `new_end` is the
                // allocator's alone.
                h.end = Some(unsafe { self.talc.extend(heap_end, new_end) });
            }
            None => self.claim(start, size),
        }
        Ok(())
    }

    book_methods!(spans, allocated, check_invariants);
}

/// The target: talc over the vmem scenarios.
pub static TARGET: AdapterTarget<TalcAdapter> = AdapterTarget::new(
    "talc",
    "talc 5.1.1: one Talc<Manual>, one claimed heap per span over a real buffer",
    TalcAdapter::build,
);
