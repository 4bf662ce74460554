//! The `vmmap` target: scenarios of findspace, map and unmap operations on a
//! [`VmMap`], judged after every op by `kvafuzz_oracles::findspace` (the
//! u128 brute-force findspace and the naive `MapModel`).
//!
//! ## Decoding
//!
//! Header: architecture (all four), the canonical half (x86_64), a *unit* (1 byte, 16 bytes,
//! 4 KiB or 2 MiB: lengths and offsets are mostly small multiples of it, so entries line up and
//! exact aligned fits happen), the map bounds `[min, max]`, the strategy `findspace` and
//! `map_anywhere` use, an entry limit, and swarm toggles. Then ops until the bytes run out or
//! [`super::MAX_OPS`].
//!
//! Bounds come from selectors: the bottom of the half (address 0 in the lower one), the top of
//! the space (`0xFFFF_FFFF`, `u64::MAX` in the upper half), just below the canonical hole, near
//! the top, a small map above `min`, or raw values. Whatever the bytes say, the decoded bounds
//! are a legal map of the architecture (raw values are masked into the chosen half and
//! ordered), so [`VmMap::new`] refusing them is itself a finding.
//!
//! Every numeric field of an op is a *selector* resolved when the op runs: addresses relative
//! to a live entry (its start, one past its end), a gap (its start, the last block that fits
//! in it), the bounds (`min`, the block ending exactly at `max`) or raw; lengths as a gap's or
//! an entry's size plus a small delta, a few units, powers of two, wrap-prone values near
//! `u64::MAX` and the top of the space, or raw; alignments as 1, powers of two up to 2^63,
//! non-powers of two (3, 12288, 0x300000, ...), values near 2^63, the segment size, unit
//! multiples, 0 or raw. The last tag of every selector means "raw value follows", which is
//! what [`Scenario::encode`] writes, so `decode(encode(case)) == case`.
//!
//! ## Checks after every op
//!
//! 1. the op's answer equals the oracle's (findspace: the lowest fit or the error kind;
//!    mutations: the `MapModel` verdict, which is then applied to the model);
//! 2. [`VmMap::check_invariants`];
//! 3. the whole entry list (ranges and tags) equals the model's.
//!
//! The differential op also runs **both** strategies on the same query and requires them to
//! agree before comparing with the oracle.
//!
//! ## At the end of every scenario: segment sharing
//!
//! [`segment_sharing`] (table pages that spaces could share) is judged against
//! `kvafuzz_oracles::sharing` on two inputs derived from the first `SHARING_ENTRIES`
//! entries of the final map (each entry mapping object `tag % SHARING_OBJECTS`); the verdicts
//! (the five counts, or the exact error) must be equal. How the two inputs (**raw**: the
//! entries as they are; **pages**: page-aligned and bounded, in six spaces) are derived is
//! the comment of `sharing.rs`.
//!
//! ## The files
//!
//! * `scenario.rs`: the scenario and its ops, with the selectors they hold ([`AddrSel`],
//!   [`LenSel`]), and how they print in a trace;
//! * `codec.rs`: the bytes they are decoded from and encoded to, each field's reader beside
//!   its writer;
//! * `exec.rs`: the executor, which resolves the selectors, runs each op on the map and the
//!   model, and makes the checks after every op;
//! * `sharing.rs`: the segment-sharing judgment at the end of every scenario;
//! * `seeds.rs`: the hand-written seed scenarios ([`seed_scenarios`]);
//! * `tests.rs`: the unit tests.
//!
//! [`segment_sharing`]: crate::vmmap::segment_sharing
//! [`VmMap`]: crate::vmmap::VmMap
//! [`VmMap::new`]: crate::vmmap::VmMap::new
//! [`VmMap::check_invariants`]: crate::vmmap::VmMap::check_invariants

mod codec;
mod exec;
mod scenario;
mod seeds;
mod sharing;
#[cfg(test)]
mod tests;

pub use scenario::{AddrBase, AddrSel, LenSel, Op, Scenario};
pub use seeds::seed_scenarios;

use super::drive::drive;
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
        let mut executor = self.executor(bugs)?;
        drive(VmmapTarget::NAME, &mut executor, &self.ops, trace)
    }
}

/// The `vmmap` target (the vm_map) in the registry.
pub struct VmmapTarget;

impl Target for VmmapTarget {
    const NAME: &'static str = "vmmap";
    const ABOUT: &'static str = "vm_map aligned findspace (linear vs gap index, wrap at the top, non-power-of-2 alignments), map/unmap vs the findspace oracle";
    const VERSION: u16 = 1;
    #[cfg(feature = "seeded-bugs")]
    const BUGS: &'static [crate::bugs::Bug] = {
        use crate::bugs::Bug;
        &[
            Bug::FindspaceNoWrapCheck,
            Bug::NonPow2AlignAsMask,
            Bug::GapIndexPrunesAlignedFit,
        ]
    };
    type Scenario = Scenario;

    fn seeds() -> Vec<(&'static str, Scenario)> {
        seed_scenarios()
    }
}
