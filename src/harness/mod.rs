//! # The differential harness
//!
//! ## 1. One entry point for every engine
//!
//! [`run`]`(target, bytes)` decodes a scenario from raw bytes, executes it against the
//! allocator under test and the naive oracle of `kvafuzz-oracles`, and checks after **every**
//! operation: the oracle's verdict on the result, the allocator's own `check_invariants()`,
//! and the allocator's whole state against the model's. It returns [`Stats`] or a typed
//! [`Finding`]. The built-in seeded campaign (`kvafuzz fuzz`), the cargo-fuzz targets, the
//! AFL binaries, the corpus replay in `cargo test` and the proptest state machines all call
//! it, so one corpus file replays identically on every engine. Engines hand it `&[u8]`;
//! decoding happens once, here ([`codec`]).
//!
//! ## 2. Scenarios
//!
//! A scenario is a header (architecture, quantum, arena shape, swarm toggles) and a list of at
//! most [`MAX_OPS`] operations. Operations name live allocations by *handle* (an index into
//! the list of live allocations, taken modulo its length), so almost every op is meaningful
//! whatever came before; deliberately bad input (frees of random addresses, wrong sizes,
//! double frees, absurd constraints) is a separate op kind. Swarm toggles switch whole op
//! kinds off per scenario so rare paths get their turn. Every scenario also encodes back to
//! bytes ([`codec::Encoder`]), so a minimized op list becomes a corpus file.
//!
//! ## 3. Targets
//!
//! | target | allocator | oracle |
//! |---|---|---|
//! | `vmem` | [`crate::vmem::Arena`], optionally importing from a source arena | `kvafuzz_oracles::vmem` |
//! | `vmmap` | [`crate::vmmap::VmMap`] (both findspace strategies) | `kvafuzz_oracles::findspace` |
//! | `mmu` | [`crate::mmu::Mmu`] (all four paging modes, TLBs, held flushes) | `kvafuzz_oracles::mmu` |
//!
//! Any range allocator can be driven by the vmem scenarios through the
//! [`adapter::RangeAllocator`] trait.

pub mod adapter;
pub mod campaign;
pub mod cli;
pub mod codec;
pub mod drive;
pub mod minimize;
pub mod mmu;
pub mod vmem;
pub mod vmmap;

use std::fmt;
use std::panic::{self, AssertUnwindSafe};

#[cfg(feature = "seeded-bugs")]
pub use crate::bugs::BugSet;

/// Without the `seeded-bugs` feature there are no bugs to switch on.
#[cfg(not(feature = "seeded-bugs"))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BugSet;

#[cfg(not(feature = "seeded-bugs"))]
impl BugSet {
    /// No bug.
    pub const NONE: BugSet = BugSet;
}

/// The most operations one scenario may hold; longer inputs are cut (a bound on time per
/// input: every op is followed by O(live) state checks).
pub const MAX_OPS: usize = 400;

/// A harness target: which allocator and oracle a scenario drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// vmem arenas (with import from a source arena) against the interval oracle.
    Vmem,
    /// The vm_map with aligned findspace (linear scan and gap index) against the findspace
    /// oracle and the naive map model.
    Vmmap,
    /// The simulated x86 MMU (page tables, shared segments, TLBs) against the flat page
    /// model.
    Mmu,
}

/// Every target, in the order `kvafuzz list` prints them.
pub const ALL_TARGETS: [Target; 3] = [Target::Vmem, Target::Vmmap, Target::Mmu];

impl Target {
    /// The name used on the command line, in `corpus/<name>/` and by cargo-fuzz.
    pub const fn name(self) -> &'static str {
        match self {
            Target::Vmem => "vmem",
            Target::Vmmap => "vmmap",
            Target::Mmu => "mmu",
        }
    }

    /// The target with this name.
    pub fn from_name(name: &str) -> Option<Target> {
        ALL_TARGETS.into_iter().find(|t| t.name() == name)
    }

    /// One line saying what it checks.
    pub const fn about(self) -> &'static str {
        match self {
            Target::Vmem => {
                "vmem arenas (all policies, xalloc constraints, exact allocation, import/release, bad frees) vs the interval oracle"
            }
            Target::Vmmap => {
                "vm_map aligned findspace (linear vs gap index, wrap at the top, non-power-of-2 alignments), map/unmap vs the findspace oracle"
            }
            Target::Mmu => {
                "x86 page tables in all four modes (address 0, top of space, canonical hole, large pages, shared segments, TLBs with held flushes) vs the flat page model"
            }
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a clean run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Operations executed (including ones that were expected to fail).
    pub ops: u64,
    /// Operations that succeeded.
    pub ok: u64,
    /// Operations that returned an error (every one predicted by the oracle).
    pub errors: u64,
}

impl Stats {
    /// Counts one executed op that succeeded (`ok`) or returned an error.
    pub fn count(&mut self, ok: bool) {
        self.ops += 1;
        if ok {
            self.ok += 1;
        } else {
            self.errors += 1;
        }
    }

    /// Adds another run's counts.
    pub fn add(&mut self, other: Stats) {
        self.ops += other.ops;
        self.ok += other.ok;
        self.errors += other.errors;
    }
}

/// Which check failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FindingKind {
    /// The oracle disagreed with the allocator's answer.
    Oracle(String),
    /// The allocator's `check_invariants()` failed.
    Invariant {
        /// The invariant's name.
        invariant: String,
        /// Details.
        detail: String,
    },
    /// The allocator's state (spans, allocations) differs from the model's.
    State(String),
    /// The allocator (or the harness) panicked.
    Panic(String),
}

/// A bug found by the harness: where, what was done, what was expected and what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The target.
    pub target: Target,
    /// Index of the failing op in the scenario (`None`: during setup or decoding).
    pub op_index: Option<usize>,
    /// The op, as the trace prints it.
    pub op: String,
    /// The check that failed, with expected and actual values.
    pub kind: FindingKind,
}

impl Finding {
    /// A short key that stays the same while a case is minimized: the check that failed
    /// (and the invariant's name), without addresses.
    pub fn signature(&self) -> String {
        match &self.kind {
            FindingKind::Oracle(m) => {
                // The first words of the message, with every number blanked out: stable
                // while the minimizer changes addresses and sizes.
                let words: Vec<&str> = m
                    .split_whitespace()
                    .take(6)
                    .map(|w| {
                        if w.chars().any(|c| c.is_ascii_digit()) {
                            "#"
                        } else {
                            w
                        }
                    })
                    .collect();
                format!("oracle: {}", words.join(" "))
            }
            FindingKind::Invariant { invariant, .. } => format!("invariant:{invariant}"),
            FindingKind::State(_) => "state".into(),
            FindingKind::Panic(_) => "panic".into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op_index {
            Some(i) => write!(f, "[{}] op #{i} `{}`: ", self.target, self.op)?,
            None => write!(f, "[{}] setup: ", self.target)?,
        }
        match &self.kind {
            FindingKind::Oracle(m) => write!(f, "oracle mismatch: {m}"),
            FindingKind::Invariant { invariant, detail } => {
                write!(f, "invariant broken: {invariant}: {detail}")
            }
            FindingKind::State(m) => write!(f, "state differs from the model: {m}"),
            FindingKind::Panic(m) => write!(f, "panic: {m}"),
        }
    }
}

/// A decoded scenario of some target: executable, printable, shrinkable, encodable.
pub trait Case: Clone + fmt::Display {
    /// Decodes bytes (any bytes) into a scenario.
    fn decode(data: &[u8]) -> Self;
    /// Bytes that decode back to exactly this scenario.
    fn encode(&self) -> Vec<u8>;
    /// One operation of the scenario.
    type Op: Clone;
    /// The op list (what the minimizer removes from).
    fn ops(&self) -> &[Self::Op];
    /// The same scenario with another op list.
    fn with_ops(&self, ops: Vec<Self::Op>) -> Self;
    /// Number of ops.
    fn op_count(&self) -> usize {
        self.ops().len()
    }
    /// The same scenario keeping only the ops `keep` says (same length as the op list).
    fn keep_ops(&self, keep: &[bool]) -> Self {
        self.with_ops(drive::kept(self.ops(), keep))
    }
    /// The header line of a trace (shape of the scenario, without the ops).
    fn header(&self) -> String;
    /// Runs it, appending a readable line per op to `trace` if given.
    fn execute(&self, bugs: BugSet, trace: Option<&mut String>) -> Result<Stats, Finding>;
}

/// Runs `f`, turning a panic into a [`Finding`] of `target`.
fn catching(target: Target, f: impl FnOnce() -> Result<Stats, Finding>) -> Result<Stats, Finding> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            Err(Finding {
                target,
                op_index: None,
                op: String::new(),
                kind: FindingKind::Panic(msg),
            })
        }
    }
}

/// The entry point every engine calls: decode `data` as a `target` scenario and check it.
pub fn run(target: Target, data: &[u8]) -> Result<Stats, Finding> {
    run_with(target, data, BugSet::NONE)
}

/// The body of every cargo-fuzz target and AFL binary: [`run`], and a panic carrying the
/// finding if there is one (the fuzz engine records the input as a crash).
pub fn fuzz_check(target: Target, data: &[u8]) {
    if let Err(finding) = run(target, data) {
        panic!("kvafuzz finding: {finding}");
    }
}

/// [`run`] with seeded bugs switched on (the self-test).
pub fn run_with(target: Target, data: &[u8], bugs: BugSet) -> Result<Stats, Finding> {
    catching(target, || match target {
        Target::Vmem => vmem::Scenario::decode(data).execute(bugs, None),
        Target::Vmmap => vmmap::Scenario::decode(data).execute(bugs, None),
        Target::Mmu => mmu::Scenario::decode(data).execute(bugs, None),
    })
}

/// The readable trace of `data` as a `target` scenario, and its verdict.
pub fn trace(target: Target, data: &[u8], bugs: BugSet) -> (String, Result<Stats, Finding>) {
    let mut out = String::new();
    let verdict = match target {
        Target::Vmem => {
            let case = vmem::Scenario::decode(data);
            out.push_str(&case.header());
            out.push('\n');
            catching(target, || case.execute(bugs, Some(&mut out)))
        }
        Target::Vmmap => {
            let case = vmmap::Scenario::decode(data);
            out.push_str(&case.header());
            out.push('\n');
            catching(target, || case.execute(bugs, Some(&mut out)))
        }
        Target::Mmu => {
            let case = mmu::Scenario::decode(data);
            out.push_str(&case.header());
            out.push('\n');
            catching(target, || case.execute(bugs, Some(&mut out)))
        }
    };
    (out, verdict)
}

/// Shrinks a failing input of `target` to a small one that fails with the same signature;
/// returns its bytes and finding.
pub fn minimize(target: Target, data: &[u8], bugs: BugSet) -> Option<(Vec<u8>, Finding)> {
    match target {
        Target::Vmem => minimize::minimize::<vmem::Scenario>(target, data, bugs),
        Target::Vmmap => minimize::minimize::<vmmap::Scenario>(target, data, bugs),
        Target::Mmu => minimize::minimize::<mmu::Scenario>(target, data, bugs),
    }
}
