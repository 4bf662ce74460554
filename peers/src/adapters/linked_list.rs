//! linked_list_allocator 0.10.6 (`linked_list_allocator::Heap`), the heap of many Rust
//! hobby kernels, driven as a range allocator over a simulated region.
//!
//! Each span the scenario adds becomes one `Heap` over a [`Region`] of real memory (see there: the
//! span's alignments are kept, and the span can grow in place). A pointer the heap returns is
//! translated back to the scenario's address through its region. Requests are made with
//! `Layout::from_size_align(size rounded up to the quantum, max(align, quantum))`: the quantum is
//! the scenario's unit, which the heap does not know. The `Layout` of each allocation is kept for
//! its `deallocate`.

use std::alloc::Layout;
use std::collections::BTreeMap;

use kvafuzz::harness::adapter::{
    AdapterTarget, AlignRule, AllocErrorKind, Caps, Completeness, Constraints, CountFields, Counts,
    Domain, FitPolicy, FreeErrorKind, Frees, GrowErrorKind, Level, OnViolation, Policies,
    PolicyClaim, RangeAllocator, Request, Shape, SpanErrorKind,
};
use linked_list_allocator::Heap;

use super::glue::{book_methods, quantum, round_up, HeapBook, Region, MAX_REGION, REGION_ALIGN};

/// `Heap::new`: "The given `heap_size` must be large enough to store the required metadata,
/// otherwise this function will panic. ... the minimum size is between `2 *
/// size_of::<usize>` and `3 * size_of::<usize>`": smaller spans get no heap (they can
/// hold nothing the claim below promises).
const MIN_HEAP: u64 = 3 * std::mem::size_of::<usize>() as u64;

/// A span's heap and the real memory under it.
struct SpanHeap {
    /// The heap over the region's first span-size bytes (`None`: too small for one).
    /// Declared first: dropped before the region it lies in.
    heap: Option<Heap>,
    /// The real memory.
    region: Region,
}

/// The adapter: one heap per span.
pub struct LinkedList {
    /// The scenario's shape.
    shape: Shape,
    /// The spans added and what it handed out.
    book: HeapBook,
    /// The heap of each span, by base.
    heaps: BTreeMap<u64, SpanHeap>,
    /// The layout of each live allocation, by address.
    layouts: BTreeMap<u64, Layout>,
}

impl LinkedList {
    /// An empty adapter for `shape`.
    fn build(shape: &Shape) -> Result<LinkedList, String> {
        Ok(LinkedList {
            shape: *shape,
            book: HeapBook::new(shape),
            heaps: BTreeMap::new(),
            layouts: BTreeMap::new(),
        })
    }
}

impl RangeAllocator for LinkedList {
    fn caps(&self) -> Caps {
        Caps {
            // `allocate_first_fit(layout: Layout)`: size and alignment.
            constraints: Constraints::ALIGN,
            // `allocate_first_fit`: "scans the list of free memory blocks and uses the first
            // block that is big enough". `HoleList::allocate_first_fit`: "A hole is big
            // enough if it can hold an allocation of `layout.size()` bytes with the given
            // `layout.align()`", after `align_layout`: "a layout with size increased to fit
            // at least `HoleList::min_size` and proper alignment of a `Hole`" (two words,
            // rounded up to a word). The heap's bottom is "automatically aligned" to a word
            // (one word of slack). First fit is by the list's order, which the glue's spans
            // (one heap each, tried in address order) keep; no placement rule is claimed
            // across the front padding it may leave.
            policies: Policies::own(PolicyClaim::complete_as(Completeness::Padded {
                granule: std::mem::size_of::<usize>() as u64,
                min: 2 * std::mem::size_of::<usize>() as u64,
                slack: std::mem::size_of::<usize>() as u64,
            })),
            // `deallocate`: "`ptr` must be a pointer returned by a call to the
            // `allocate_first_fit` function with identical layout. Undefined behavior may
            // occur for invalid arguments."
            frees: Frees::TRUSTING,
            domain: Domain {
                // `Layout`: any power of two; the glue's regions keep alignments up to
                // `REGION_ALIGN`.
                align: AlignRule::PowerOfTwo,
                max_align: REGION_ALIGN,
                ..Domain::VMEM
            },
            // A zero-sized layout is not documented: never asked.
            invalid_requests: OnViolation::NotFed,
            // `Heap::used` "the size of the used part", `free` "the size of the free part";
            // both count what the heap reserved, which may exceed the sizes asked (min
            // block, word rounding): not claimed equal to the model's.
            counts: CountFields::NONE,
            // `extend`: "Extends the size of the heap by creating a new hole at the end."
            grows: true,
            // The glue's regions.
            max_span: MAX_REGION,
            ..Caps::NONE
        }
    }

    fn add_span(&mut self, _level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        self.book.add_span(base, size)?;
        let region = Region::new(base).ok_or(SpanErrorKind::ZeroSize)?;
        let heap = (size >= MIN_HEAP).then(|| {
            // SAFETY: `[start, + size)` lies in the region (size is at most MAX_REGION), is
            // used by nothing else, and outlives the heap (dropped first).
            unsafe { Heap::new(region.start(), size as usize) }
        });
        self.heaps.insert(base, SpanHeap { heap, region });
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
        let align = req.align.max(q);
        if size > u128::from(MAX_REGION) {
            return Err(AllocErrorKind::NoSpace);
        }
        let layout = Layout::from_size_align(size as usize, align as usize)
            .map_err(|_| AllocErrorKind::NoSpace)?;
        for h in self.heaps.values_mut() {
            let Some(heap) = h.heap.as_mut() else {
                continue;
            };
            if let Ok(ptr) = heap.allocate_first_fit(layout) {
                let addr = h.region.addr_of(ptr);
                self.layouts.insert(addr, layout);
                self.book.record(addr, addr + (size as u64 - 1));
                return Ok(addr);
            }
        }
        Err(AllocErrorKind::NoSpace)
    }

    fn alloc_at(&mut self, _addr: u64, _size: u64) -> Result<u64, AllocErrorKind> {
        // Never asked: no exact allocation.
        Err(AllocErrorKind::NoSpace)
    }

    fn free(&mut self, _level: Level, addr: u64, _size: u64) -> Result<(), FreeErrorKind> {
        let layout = self.layouts.remove(&addr).ok_or(FreeErrorKind::BadFree)?;
        let (base, _) = self.book.holding(addr).ok_or(FreeErrorKind::BadFree)?;
        let h = self.heaps.get_mut(&base).ok_or(FreeErrorKind::BadFree)?;
        let ptr = h.region.ptr_of(addr).ok_or(FreeErrorKind::BadFree)?;
        if let Some(heap) = h.heap.as_mut() {
            // SAFETY: `ptr` was returned by `allocate_first_fit` with `layout`, and is
            // freed once (the glue forgets it here).
            unsafe { heap.deallocate(ptr, layout) };
        }
        self.book.forget(addr);
        Ok(())
    }

    fn grow_span(&mut self, _level: Level, start: u64, by: u64) -> Result<(), GrowErrorKind> {
        let new_last = self.book.grow_span(start, by)?;
        let size = new_last - start + 1;
        if let Some(h) = self.heaps.get_mut(&start) {
            match h.heap.as_mut() {
                // SAFETY: the region holds MAX_REGION bytes past the span's start, and the
                // executor never grows a span past it (`Caps::max_span`).
                Some(heap) => unsafe { heap.extend(by as usize) },
                None if size >= MIN_HEAP => {
                    // SAFETY: as in `add_span`.
                    h.heap = Some(unsafe { Heap::new(h.region.start(), size as usize) });
                }
                None => {}
            }
        }
        Ok(())
    }

    book_methods!(spans, allocated, check_invariants);

    fn counts(&self, _level: Level) -> Option<Counts> {
        None
    }
}

/// The target: linked_list_allocator's heap over the vmem scenarios.
pub static TARGET: AdapterTarget<LinkedList> = AdapterTarget::new(
    "linked-list-allocator",
    "linked_list_allocator 0.10.6: one Heap per span over a real buffer",
    LinkedList::build,
);
