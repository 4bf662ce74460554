//! The `slab` target: the slab layer ([`crate::slab::Slabs`]: UMA-style kegs and zones with
//! per-CPU magazines and a depot, packet zones of mbuf+cluster pairs, refcounts, limits,
//! reclaim) over a vmem arena, judged after every op by `kvafuzz_oracles::slab::SlabModel`.
//!
//! ## 1. What it checks
//!
//! The slab system runs with a recording backend (a vmem arena with one span: low, at
//! address 0, or ending at the top of the 32- or 64-bit space) and recording hooks, so the
//! model sees every slab taken and given back and every init/fini/ctor/dtor call, in order.
//! The model predicts every error exactly (the free error order: another keg's address, a
//! slab header, an interior pointer, another zone's item or pair half, a double free even
//! while the first free sits in a magazine), every magazine hit exactly (Bonwick's loaded
//! and previous magazines and the depot, per CPU), and judges each keg allocation by its
//! class (a partial slab first, then a wholly free one, a new slab only when no item is
//! free, aligned to its size and disjoint from every slab); one ctor when an item leaves the
//! keg, one dtor when it goes back; reclaim's drain order and exactly the wholly free slabs
//! released. Creation is judged too: every keg's layout (slab size, items, header placement)
//! against the model's own. After every op the slab system's and the arena's
//! `check_invariants()` run, and every zone's and keg's counters, every slab and the
//! arena's allocated bytes (exactly the slabs held) are compared with the model's.
//!
//! ## 2. Decoding
//!
//! Header: CPUs (1..=8, or raw: refused), the backend span, 1..=4 kegs (item sizes small,
//! powers of two, up to 64 KiB, the largest from both sides, 0, raw; alignments 8, powers of
//! two, 4096 and 8192, 0, raw; refcounts one in four), 1..=6 zones (a keg index that may
//! name no keg; a packet zone one in four; rounds 0, few, any, the limit from both sides;
//! depot 0, few, the limit from both sides; an item limit), the swarm mask. Ops: `alloc`,
//! bursts of allocations, `free` of a live item, bursts of frees of the newest items,
//! `free_at` of a selected address (a live item of any zone, a pair's half, a cached item, a
//! recently freed address, an interior pointer, near a slab's end: header, tail waste or
//! last item; raw), `set_limit`, `refcount`, `set_refcount`, `reclaim`; zones and CPUs by
//! index, or raw ids that name none.
//!
//! ## 3. Files
//!
//! `scenario.rs` (the ops and their printing), `codec.rs` (bytes), `exec.rs` (the slab
//! system against the model), `seeds.rs` (mbuma's mbuf, cluster and packet zones, slabs at
//! address 0 and at the tops of the 32- and 64-bit spaces, magazine exchanges), `tests.rs`.

mod codec;
mod exec;
mod map;
mod scenario;
mod seeds;
#[cfg(test)]
mod tests;

pub use scenario::{
    AddrSel, Backend, CpuSel, KegSpec, Op, Scenario, SpanAt, ZoneSel, ZoneSpec, MAX_BURST,
    MAX_CASE_KEGS, MAX_CASE_ZONES,
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

/// The `slab` target (kegs, zones, magazines, packet zones, refcounts) in the registry.
pub struct SlabTarget;

impl Target for SlabTarget {
    const NAME: &'static str = "slab";
    const ABOUT: &'static str = "UMA-style kegs and zones (per-CPU magazines and a depot, mbuma's packet zone, refcounts, limits, reclaim) over a vmem arena vs the slab oracle";
    const VERSION: u16 = 1;
    #[cfg(feature = "seeded-bugs")]
    const BUGS: &'static [crate::bugs::Bug] = {
        use crate::bugs::Bug;
        &[
            Bug::SlabNotSizeAligned,
            Bug::MagazineDoubleFreeUnseen,
            Bug::MagazineExchangeShares,
            Bug::ReclaimFreesLiveSlab,
        ]
    };
    type Scenario = Scenario;

    fn seeds() -> Vec<(&'static str, Scenario)> {
        seed_scenarios()
    }
}
