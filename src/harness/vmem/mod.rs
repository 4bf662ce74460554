//! The `vmem` target: scenarios of span, allocation and free operations on a chain of 1 to
//! [`adapter::MAX_LEVELS`] vmem arenas, each importing from the next (level 0 the arena
//! allocations are made from, level 1 its source, and so on: a quantum cache over an arena over
//! a source over a submap is four levels), judged by `kvafuzz_oracles::vmem::ChainModel`, an
//! interval model per level, after every op.
//!
//! ## Decoding
//!
//! Header: architecture, quantum (1 byte to 1 GiB, biased to 1 byte and 4 KiB), the chain
//! below the arena (its depth, and per level the source's quantum and the import quantum of
//! the level above), swarm toggles, and each level's number of initial spans. Then ops until
//! the bytes run out or [`super::MAX_OPS`]; an op below the arena names its level. This is
//! version 3 of the op language: it adds span growth ([`Op::GrowSpan`], for allocators that
//! can, such as a heap's `extend`) and the draws of the allocator's constructor parameters
//! ([`Param`], [`Shape::param`]: a node count or a capacity is part of the input space);
//! version 1 files (at most two levels) and version 2 files (the corpus) are read as they
//! always were (`codec.rs` says how), and `kvafuzz corpus migrate` rewrites them.
//! Every numeric field is read through a *selector*: a tag byte picks a family of interesting
//! values (a few quanta, a power of two, the very top of the space, just below the x86_64
//! canonical hole, values that wrap when rounded, zero) and the last tag of every selector
//! means "raw value follows", which is what [`Scenario::encode`](crate::harness::Case::encode)
//! writes.
//!
//! Addresses and request bounds can also name a point of the state, resolved when the op
//! runs: an address is a live allocation's, a freed one's or a span's start plus an offset,
//! or a live allocation's start or end give or take two quanta ([`AddrSel`]); a request's
//! minaddr or maxaddr can sit at an [`Edge`] (a live allocation's or a span's start or end,
//! give or take two quanta and a byte). Random bounds almost never
//! land on a segment's edge, where an inclusive bound read as exclusive changes the answer:
//! with edges the campaign finds the seeded `maxaddr-exclusive` bug after a geometric mean of
//! 56 k ops over seeds 1 to 8, against 807 k with raw bounds alone (op language version 1;
//! 87 k in version 2).
//!
//! ## Judging
//!
//! [`Executor`] runs each op on the allocator under test (any [`adapter::RangeAllocator`]; the
//! production stack is [`adapter::VmemStack`]) and on the model, and judges in turn: the
//! model's verdict on the answer ([`from_verdict`] makes it a [`crate::harness::Mismatch`]),
//! the allocator's own invariants, and every level's spans, allocations, accounting and counts
//! against the model's, with `contains` asked at both ends of every span that came or went
//! (and of one other span in turn). An allocation judged at one level carries the spans every
//! level below it imported on the way (a cascade) to the model; a free that leaves an imported
//! span empty releases it, and the model releases down the chain as far as the allocator
//! must. What the allocator's [`adapter::Caps`] do not claim is neither asked for nor held to.
//!
//! ## Files
//!
//! - `scenario.rs`: [`Scenario`], its [`Op`]s, the selectors they name the state with
//!   ([`AddrSel`], [`Edge`]), the [`Shape`] an adapter builds to, and how each prints.
//! - `codec.rs`: the bytes. Every field is a `Selector` whose reader and writer sit side by
//!   side and name the same tags; every op kind is read and written side by side.
//! - `exec.rs`: [`Executor`], stepping an allocator through the ops beside the model.
//! - `seeds.rs`: [`seed_scenarios`], the hand-written corpus.
//! - `adapter.rs`: [`adapter`], what the harness needs from a range allocator.
//! - `user.rs`: [`AdapterTarget`], a user's allocator as a target of its own (campaigns,
//!   isolation, the minimizer), and [`fuzz_adapter`].
//! - `tests.rs`: the unit tests.

use crate::harness::{Case, Finding, Stats, Target};

pub mod adapter;
mod codec;
mod exec;
mod map;
mod scenario;
mod seeds;
#[cfg(test)]
mod tests;
mod user;

pub use exec::{from_verdict, Executor};
pub use scenario::{
    AddrSel, Bound, Edge, EdgeAt, ImportShape, LevelQuanta, Op, Param, Scenario, Shape,
    EDGE_QUANTA, MAX_PARAMS, NO_PARAMS,
};
pub use seeds::seed_scenarios;
pub use user::{fuzz_adapter, AdapterCampaign, AdapterReport, AdapterTarget, Make};

/// The `vmem` target (vmem arenas) in the registry.
pub struct VmemTarget;

impl Target for VmemTarget {
    const NAME: &'static str = "vmem";
    const ABOUT: &'static str = "vmem arenas (all policies, xalloc constraints, exact allocation, import/release, bad frees) vs the interval oracle";
    const VERSION: u16 = 3;
    #[cfg(feature = "seeded-bugs")]
    const BUGS: &'static [crate::bugs::Bug] = {
        use crate::bugs::Bug;
        &[
            Bug::MaxaddrExclusive,
            Bug::ImportSizeWrap,
            Bug::NocrossOffByOne,
            Bug::ZeroSentinel,
            Bug::MissingWrongSizeCheck,
            Bug::AlignPadNoFallback,
            Bug::InsertOverlapNeverFires,
            Bug::ContainsEndWraps,
            Bug::InstantFitNoFallback,
            Bug::ImportIgnoresMinmax,
            Bug::FastPathSkipsBounds,
        ]
    };
    type Scenario = Scenario;

    fn seeds() -> Vec<(&'static str, Scenario)> {
        seed_scenarios()
    }

    /// Versions 1 (a chain of at most two levels) and 2 (no span growth, no parameter
    /// draws), module `codec`, are read as they always were.
    fn decode_version(version: u16, payload: &[u8]) -> Option<Scenario> {
        match version {
            1 => Some(codec::read_scenario_v1(payload)),
            2 => Some(codec::read_scenario_v2(payload)),
            Self::VERSION => Some(Scenario::decode(payload)),
            _ => None,
        }
    }
}

/// [`crate::harness::run`] of a vmem scenario on any range allocator: `make` builds one for the
/// scenario's [`Shape`] (an `Err` is a setup finding), and the harness drives it against the
/// interval model exactly as it drives the production stack, holding it only to what its
/// [`adapter::Caps`] claim. This is how a third-party allocator is plugged in: an `impl` of
/// [`adapter::RangeAllocator`] and a call of this with its bytes (engine input or a `corpus/vmem/`
/// file: a corpus header is read as [`crate::harness::run`] reads it).
pub fn run_range_allocator<A: adapter::RangeAllocator>(
    data: &[u8],
    make: impl FnOnce(&Shape) -> Result<A, String>,
) -> Result<Stats, Finding> {
    crate::harness::target::catching(VmemTarget::NAME, || {
        let (version, payload) = crate::harness::target::unframe(&VmemTarget, data);
        let case = <VmemTarget as Target>::decode_version(version, payload)
            .unwrap_or_else(|| Scenario::decode(payload));
        let alloc = make(&case.shape())
            .map_err(|msg| crate::harness::drive::setup_finding(VmemTarget::NAME, msg))?;
        case.execute_on(alloc, None)
    })
}
