//! The `kmem` target: NetBSD's kmem front end ([`crate::kmem::Kmem`], seed 004): tiny sizes
//! from the vmem quantum caches of the kmem arena, mid sizes from size-class zones, large
//! ones from the arena directly, the arena importing from a kernel-map arena; debug mode's
//! size records and redzones, guard pages; judged after every op by
//! `kvafuzz_oracles::kmem::KmemModel`.
//!
//! ## 1. What it checks
//!
//! The model predicts every error exactly (zero and oversized requests, bad CPUs, frees of
//! addresses that are no live object of the route the size names, wrong-size frees in debug
//! mode naming both sizes, a clobbered redzone at exactly the frees and checks that must see
//! it, the object then staying live); `NoSpace` only when the kernel map refused an import
//! during the op. Every address must be aligned for its route, its chunk (and guard page)
//! disjoint from every live object's. Writes go to kmem's simulated memory and the model's
//! alike, through objects and past their ends (overflows of 1 to 16 bytes, or any length),
//! sometimes with the redzone's own byte; every read must show the model's bytes (contents
//! written through one object never appear in another unless an overflow put them there).
//! After every op `check_invariants()` runs (every segment of the kmem arena and the map
//! claimed exactly once: no leak), the records and each zone's live count are compared with
//! the model's; after a reclaim the arena must hold exactly the slabs that still hold a live
//! object plus the live large objects' chunks and guard pages.
//!
//! ## 2. Decoding
//!
//! Header: debug (three cases in four) and guard modes, CPUs (1..=8 or raw: refused),
//! magazine rounds and depot (0, few, the limit from both sides, raw), the kernel map's span
//! (low, at 0, ending at the top of 32 or 64 bits; a few pages or up to 65,536), the swarm
//! mask. Ops: `alloc` (tiny, every route boundary from both sides, mid, large, Linux cache
//! sizes, up to 4 MiB, `MAX_KMEM_SIZE` from both sides, 0, raw), `free` of a live, recently
//! freed or raw object with its own size, another, or raw, `write` (inside, an overflow,
//! anywhere), `read`, `check`, `reclaim`.
//!
//! ## 3. Files
//!
//! `scenario.rs`, `codec.rs`, `exec.rs`, `seeds.rs` (the boundaries in debug mode, redzone
//! overflows of one byte, address 0 through a quantum cache, guard pages, non-debug wrong
//! sizes, maps at the tops of the 32- and 64-bit spaces, a Linux size mix), `tests.rs`.

mod codec;
mod exec;
mod scenario;
mod seeds;
#[cfg(test)]
mod tests;

pub use codec::{BOUNDARY_SIZES, SLABINFO_SIZES};
pub use scenario::{ObjSel, Op, Scenario, SizeSel, SpanAt, WriteAt};
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

/// The `kmem` target (NetBSD's kmem over vmem quantum caches and size classes) in the
/// registry.
pub struct KmemTarget;

impl Target for KmemTarget {
    const NAME: &'static str = "kmem";
    const ABOUT: &'static str = "NetBSD's kmem (quantum caches, size classes, large path over a kernel map; debug size checks, redzones, guard pages, simulated memory) vs the kmem oracle";
    const VERSION: u16 = 1;
    #[cfg(feature = "seeded-bugs")]
    const BUGS: &'static [crate::bugs::Bug] = {
        use crate::bugs::Bug;
        &[
            Bug::KmemWrongSizeAccepted,
            Bug::QcacheZeroSentinel,
            Bug::RedzoneMissesOneByte,
        ]
    };
    type Scenario = Scenario;

    fn seeds() -> Vec<(&'static str, Scenario)> {
        seed_scenarios()
    }
}
