//! The `vmap` target: Linux's vmalloc address-space allocator ([`crate::vmap::VmapSpace`]) with
//! its three search strategies run side by side on the same ops, judged after every op by
//! `kvafuzz_oracles::vmap::VmapModel`.
//!
//! ## 1. What it checks
//!
//! Seed 002's promise is that the free-area cache does not change allocation patterns; the
//! 2019 augmented tree made the same promise. So every op runs on three spaces (the naive
//! walk, the 2011 cache, the 2019 tree) and on the model, and every space must give exactly
//! the model's answer: the lowest fit honouring alignment, the request's window and the
//! guard pages, or the error the contract's precedence names; the same purge (which areas,
//! which pages, and the flush range up to the highest end, guard page included) at the same
//! op, whether a free crossed the lazy limit or an allocation purged and retried. After every
//! op each space's `check_invariants()` runs (busy, lazy and free ranges partition the space;
//! the cache's state is real; every tree node's subtree maximum is right) and its areas, lazy
//! pages and counters are compared with the model's.
//!
//! With a paging mode that holds the space in its kernel half, the Tree strategy's space
//! runs inside a [`crate::vmap::Vmalloc`] over an MMU with the scenario's CPUs (the other
//! two stay plain: they would hand out the same addresses, and mapping them too would triple
//! the page-table work): `vmalloc` maps every page, `vfree` unmaps and holds the flush until
//! the purge, and every access is judged page by page (`pages.rs`): busy pages translate to
//! their frames, guard pages fault on every CPU, a lazily freed page may still translate
//! through a stale entry only on a CPU that loaded it before the vfree and only until the
//! purge, and no CPU holds an entry in a purged range or in an area handed out again.
//!
//! ## 2. Decoding
//!
//! Header: the space (at IA-32's, x86_64's or LA57's vmalloc start, ending at the top of the
//! 32- or 64-bit space, at address 0, or raw bounds the space may refuse), the lazy limit (0,
//! a few pages, Linux's 32 MiB x log2(CPUs), raw), the swarm mask. Ops: `alloc` (sizes in
//! pages as test_vmalloc draws them, unaligned bytes, sizes whose rounding wraps; alignments
//! of a page, up to 8 MiB, `1 << 0..63`, 0 and raw; a window of pages from the start, the
//! last pages, or raw; a guard page three times in four), `free` of a live area by handle,
//! `free_at` of a selected address (a lazily freed area's start: a double free; a live area's
//! start plus some pages: an interior pointer or its guard; raw), `purge`, `vmalloc` (a few
//! pages mostly), `vfree` of a vmalloc'd area, and `access` (a CPU, a live area's page, its
//! guard page, a lazily freed area's page, a page of a recently vfree'd area, or raw; read,
//! write or fetch). The header also holds the CPU count (1..=8), the paging-mode choice and
//! the data frames (1..=4096).
//!
//! ## 3. Files
//!
//! `scenario.rs` (the ops and their printing), `codec.rs` (bytes), `exec.rs` (the spaces against
//! the model), `pages.rs` (the page-level judge of the vmalloc layer), `seeds.rs` (test_vmalloc's
//! shapes, the tops of the 32- and 64-bit spaces), `tests.rs`.

mod codec;
mod exec;
mod map;
mod pages;
mod scenario;
mod seeds;
#[cfg(test)]
mod tests;

pub use codec::{IA32_VMALLOC_START, LA57_VMALLOC_START, X86_64_VMALLOC_START};
pub use scenario::{
    AccessSel, AddrSel, Op, Scenario, WindowSel, CASE_TLB_ENTRIES, MAX_CASE_CPUS, MAX_CASE_FRAMES,
    MAX_FILL_AREAS,
};
pub use seeds::seed_scenarios;

use super::{BugSet, Case, Finding, Stats, Target};

impl Case for Scenario {
    fn decode(data: &[u8]) -> Scenario {
        codec::decode(data)
    }

    fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    fn header(&self) -> String {
        self.header_line()
    }

    type Op = Op;

    fn ops(&self) -> &[Op] {
        &self.ops
    }

    fn with_ops(&self, ops: Vec<Op>) -> Scenario {
        Scenario {
            ops,
            ..self.clone()
        }
    }

    fn execute(&self, bugs: BugSet, trace: Option<&mut String>) -> Result<Stats, Finding> {
        exec::execute(self, bugs, trace)
    }
}

/// The `vmap` target (Linux's vmalloc allocator, three strategies) in the registry.
pub struct VmapTarget;

impl Target for VmapTarget {
    const NAME: &'static str = "vmap";
    const ABOUT: &'static str = "vmalloc areas (walk, free-area cache, augmented tree side by side; guard pages, windows, lazy purge, the top of the space) vs the vmap oracle";
    const VERSION: u16 = 2;
    #[cfg(feature = "seeded-bugs")]
    const BUGS: &'static [crate::bugs::Bug] = {
        use crate::bugs::Bug;
        &[
            Bug::CacheHoleForgetsGuard,
            Bug::CacheStartNotRealigned,
            Bug::TopEndWrapsToZero,
            Bug::AlignWrapsToZero,
            Bug::TreePadsByAlign,
            Bug::LazyReusedBeforePurge,
            Bug::PurgeFlushesToMaxStart,
            Bug::VfreeFlushesNothing,
            Bug::GuardPageMapped,
        ]
    };
    type Scenario = Scenario;

    fn seeds() -> Vec<(&'static str, Scenario)> {
        seed_scenarios()
    }

    /// Version 1 (before [`Op::Fill`]) is read as it always was.
    fn decode_version(version: u16, payload: &[u8]) -> Option<Scenario> {
        match version {
            1 => Some(codec::decode_v1(payload)),
            Self::VERSION => Some(Scenario::decode(payload)),
            _ => None,
        }
    }
}
