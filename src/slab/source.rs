//! Slab memory (module comment, section 3): the [`SlabSource`] trait every operation that may
//! take or give back slabs is passed, and its implementation for a vmem [`Arena`].

use crate::vmem::{Arena, Policy, Request, SpanSource};

/// Where a keg's slabs come from. The slab system does not own it: each operation that may
/// import or release slabs is handed one.
pub trait SlabSource {
    /// `size` bytes (a power of two) aligned to `align` (a power of two), or `None` when
    /// there is no room. A keg always asks for `align == size` (seeded bug
    /// `SlabNotSizeAligned` aside) and trusts the answer to be aligned so.
    fn alloc_slab(&mut self, size: u64, align: u64) -> Option<u64>;
    /// Gives back a slab obtained from [`SlabSource::alloc_slab`] with the same size.
    fn free_slab(&mut self, base: u64, size: u64);
}

impl<S: SpanSource> SlabSource for Arena<S> {
    /// An instant-fit `xalloc` of `size` bytes aligned to `align` (at least the quantum).
    fn alloc_slab(&mut self, size: u64, align: u64) -> Option<u64> {
        let req = Request {
            align: align.max(self.quantum()),
            ..Request::size(size)
        };
        self.xalloc(&req, Policy::InstantFit).ok()
    }

    /// The arena's `free`.
    fn free_slab(&mut self, base: u64, size: u64) {
        // The keg gives back exactly what it was given; a refusal (only possible if the
        // caller passed another backend than the one the slab came from) leaves the arena
        // unchanged, which its own invariants and the oracle's backend model both see.
        let _refused = self.free(base, size).is_err();
    }
}
