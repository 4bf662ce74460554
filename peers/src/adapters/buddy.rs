//! buddy_system_allocator 0.13.0 (`FrameAllocator<ORDER>`), the rCore buddy frame allocator.
//!
//! Frames are quanta. The adapter keeps one `FrameAllocator` per span (two touching spans
//! given to one allocator would merge buddies across their boundary, which the contract
//! forbids: `tests/adapter.rs` shows the harness catching that glue). `ORDER` is
//! [`BUDDY_ORDER`], so that a span of the whole 64-bit space is a few dozen blocks.

use std::alloc::Layout as StdLayout;
use std::collections::BTreeMap;

use buddy_system_allocator::FrameAllocator;
use kvafuzz::harness::adapter::{
    AdapterTarget, AlignRule, AllocErrorKind, Caps, Constraints, Domain, FitPolicy, FreeErrorKind,
    Frees, Level, OnViolation, Policies, PolicyClaim, RangeAllocator, Request, Shape,
    SpanErrorKind,
};

use super::glue::{book_methods, quantum, round_up, HeapBook};

/// The const generic `ORDER`: blocks of up to `2^(ORDER - 1)` frames.
pub const BUDDY_ORDER: usize = 64;

/// The largest block, in frames: `MAX_ORDER = ORDER - 1` ("The frame allocator will only be
/// able to allocate ranges of size up to 2^MAX_ORDER"); larger requests are not passed on.
const MAX_BLOCK_FRAMES: u64 = 1 << (BUDDY_ORDER - 1);

/// The adapter: one frame allocator per span.
pub struct Buddy {
    /// The scenario's shape.
    shape: Shape,
    /// The spans added, and the live allocations in bytes (the size asked, rounded to the
    /// quantum).
    book: HeapBook,
    /// `(start, last, allocator)` per span, in the order added.
    allocators: Vec<(u64, u64, FrameAllocator<BUDDY_ORDER>)>,
    /// The layout of each live allocation made by `alloc_aligned`, by start: freed with
    /// `dealloc_aligned` ("The layout must be exactly the same as when it was allocated").
    aligned: BTreeMap<u64, StdLayout>,
}

impl Buddy {
    /// An empty adapter for `shape`.
    fn build(shape: &Shape) -> Result<Buddy, String> {
        Ok(Buddy {
            shape: *shape,
            book: HeapBook::new(shape),
            allocators: Vec::new(),
            aligned: BTreeMap::new(),
        })
    }
}

impl RangeAllocator for Buddy {
    fn caps(&self) -> Caps {
        Caps {
            // `alloc_aligned(layout)`: "Allocate a range of frames with the given size and
            // alignment".
            constraints: Constraints::ALIGN,
            // No completeness: "The allocated size is the maximum of the next power of two
            // of the given size and the alignment" (`alloc_aligned`; `alloc_at`: "The
            // `count` will be rounded up to the next power of two, same as [`alloc`]"). The
            // frames past the size asked stay taken, which the contract's free runs do not
            // show, so no rule over them holds (a campaign showed the power-of-two block rule
            // refused after a 3-frame allocation took a 4-frame block).
            policies: Policies::own(PolicyClaim::VALID),
            // `dealloc`: "The range should be exactly the same when it was allocated": any
            // other free is undefined.
            frees: Frees::TRUSTING,
            domain: Domain {
                // `Layout`'s alignment: any power of two.
                align: AlignRule::PowerOfTwo,
                ..Domain::VMEM
            },
            // A count of 0 is not documented: never asked.
            invalid_requests: OnViolation::NotFed,
            ..Caps::NONE
        }
    }

    fn add_span(&mut self, _level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        let q = quantum(&self.shape);
        let last = self.book.add_span(base, size)?;
        let mut frames = FrameAllocator::new();
        // Frames are half-open `usize` ranges: with a one-byte quantum, a span ending at
        // 2^64 - 1 cannot name its end, so its top frame is left out.
        let end = (last / q).saturating_add(1);
        frames.add_frame((base / q) as usize, end as usize);
        self.allocators.push((base, last, frames));
        Ok(())
    }

    fn alloc(
        &mut self,
        _level: Level,
        req: &Request,
        _policy: FitPolicy,
    ) -> Result<u64, AllocErrorKind> {
        let q = quantum(&self.shape);
        let count = round_up(req.size, q) / u128::from(q);
        let align = (u128::from(req.align) / u128::from(q)).max(1);
        if count > u128::from(MAX_BLOCK_FRAMES) || align > u128::from(MAX_BLOCK_FRAMES) {
            // Above the largest block: the crate cannot be asked (`next_power_of_two`).
            return Err(AllocErrorKind::NoSpace);
        }
        let layout = StdLayout::from_size_align(count as usize, align as usize)
            .map_err(|_| AllocErrorKind::NoSpace)?;
        for (_, _, frames) in self.allocators.iter_mut() {
            let got = if req.align == 0 {
                frames.alloc(count as usize)
            } else {
                frames.alloc_aligned(layout)
            };
            if let Some(f) = got {
                let start = f as u64 * q;
                self.book.record(start, start + (count as u64 * q - 1));
                if req.align != 0 {
                    self.aligned.insert(start, layout);
                }
                return Ok(start);
            }
        }
        Err(AllocErrorKind::NoSpace)
    }

    fn alloc_at(&mut self, _addr: u64, _size: u64) -> Result<u64, AllocErrorKind> {
        // Never asked: exact allocation is not claimed.
        Err(AllocErrorKind::NoSpace)
    }

    fn free(&mut self, _level: Level, addr: u64, size: u64) -> Result<(), FreeErrorKind> {
        let q = quantum(&self.shape);
        let count = (round_up(size, q) / u128::from(q)) as usize;
        let frame = (addr / q) as usize;
        let a = self
            .allocators
            .iter_mut()
            .find(|(s, l, _)| *s <= addr && addr <= *l)
            .ok_or(FreeErrorKind::BadFree)?;
        match self.aligned.remove(&addr) {
            Some(layout) => a.2.dealloc_aligned(frame, layout),
            None => a.2.dealloc(frame, count),
        }
        self.book.forget(addr);
        Ok(())
    }

    book_methods!(spans, allocated, check_invariants);
}

/// The target: buddy_system_allocator's frame allocator over the vmem scenarios.
pub static TARGET: AdapterTarget<Buddy> = AdapterTarget::new(
    "buddy",
    "buddy_system_allocator 0.13.0: FrameAllocator<64>, one per span, frames of one quantum",
    Buddy::build,
);
