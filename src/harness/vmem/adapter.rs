//! # The adapter between vmem scenarios and the allocator under test
//!
//! [`RangeAllocator`] is all the harness needs from a range allocator: add spans, allocate
//! (with constraints, a policy, or at an exact address), free, and show its spans and
//! allocations so they can be compared with the model after every op. Errors are reported
//! in the oracle's vocabulary ([`AllocErrorKind`], [`FreeErrorKind`], [`SpanErrorKind`]).
//! Plugging in a third-party allocator is an `impl` of a few dozen lines, run with
//! [`crate::harness::run_range_allocator`] on one input, or with a whole campaign and the
//! minimizer ([`AdapterTarget`], [`fuzz_adapter`]; `examples/fuzz_your_allocator.rs`).
//! Every type an adapter names is re-exported here, so a user's crate depends on `kvafuzz`
//! alone.
//!
//! Allocators are chains of 1 to [`MAX_LEVELS`] levels ([`Level`]): level 0 is the arena
//! allocations are made from, level `i + 1` the source level `i` imports spans from.
//!
//! ## 1. What an allocator claims: [`Caps`]
//!
//! The contract the oracle knows is vmem's. An allocator keeps part of it and says which, one
//! property per field, so that a limitation it documents is never reported while every other
//! violation still is. Nothing is silently substituted: what it lacks is not asked of it,
//! and the trace says where a request was changed to fit it.
//!
//! - **Constraints** ([`Constraints`]): align, phase, nocross, minaddr, maxaddr, each on its
//!   own. A constraint it lacks is never set (the field is made neutral before the request
//!   reaches it, and the request is judged as made).
//! - **Policies** ([`Policies`]): which of InstantFit, BestFit, FirstFit, NextFit it has,
//!   and whether it has a placement rule of its own ([`FitPolicy::Own`], judged for validity
//!   and its completeness only). A request for a policy it lacks is made with one it has
//!   (see [`Policies::choose`]) and judged by that one's claim.
//! - **Completeness and exactness, per policy** ([`PolicyClaim`]): [`Completeness`] says
//!   when a refusal is a finding: always (`Full`, vmem), never (`Unclaimed`), or where the
//!   crate's documentation promises success: a free run of the size rounded to a power of
//!   two (`PowerOfTwoRun`, illumos instant fit), an aligned power-of-two block
//!   (`PowerOfTwoBlock`, a buddy allocator), a floating-point bin (`FloatBin`,
//!   offset-allocator), a granule, a smallest block and a header (`Padded`, a heap). The
//!   oracle evaluates the rule over the level's free runs (u128); `max_live` bounds the
//!   claim by the number of live allocations (a crate with a fixed node count). `exact`: it
//!   returns the very placement its policy promises.
//! - **Frees** ([`Frees`]): a bad address, a double free and a wrong size are separate, each
//!   refused ([`OnViolation::Refuses`]), panicking by documented design
//!   ([`OnViolation::Panics`]: the harness expects the panic and ends the case there "as
//!   documented"; a panic anywhere else stays a finding), or never done
//!   ([`OnViolation::NotFed`]). A free that takes no size (by address or by handle,
//!   [`Frees::takes_size`] false) frees what is allocated there, and the harness checks that
//!   it freed exactly the bytes the model holds there.
//! - **The request domain** ([`Domain`], [`Caps::invalid_requests`]): which alignments it
//!   accepts (vmem's powers of two that are multiples of the quantum, or any power of two),
//!   up to which maximum, whether sizes need not be multiples of the quantum, whether it
//!   refuses vmem's "overconstrained" requests or looks for a placement. The oracle models
//!   what it accepts; a request outside is refused, panics, or is not fed, as it says.
//! - **Imports** ([`Imports`]): how big a span a level imports: rounded up to the scenario's
//!   import quantum (vmem), exactly the request, or any size at least the request; and how
//!   complete a source is when it serves one ([`Caps::imports_served`]).
//! - **Listings and statistics**: [`Caps::counts`] names the fields of [`Counts`] it
//!   reports (compared field by field), [`Caps::merges_allocations`] says its
//!   [`RangeAllocator::allocated`] lists touching allocations as one run (compared with the
//!   model's merged runs).
//! - **Span sizes** ([`Caps::max_span`]): a heap over real memory takes spans of at most so
//!   many bytes; larger ones are never added or grown to.
//! - **Growing a span** ([`Caps::grows`], [`RangeAllocator::grow_span`]): extending a span
//!   the caller added at its end (a heap's `extend`, range-alloc's `grow_to`), judged as if
//!   the tail were added to it. vmem has no such operation: [`VmemStack`] lacks it.
//! - **Constructor parameters** ([`Param`], [`Shape::param`]): a node count, a capacity. The
//!   scenario draws [`MAX_PARAMS`] values from the input bytes; the adapter's `make` brings
//!   each into its declared range and builds the allocator with it, so the parameter is
//!   explored like any other input ([`AdapterTarget::with_params`] names them in traces).
//!   A claim that holds only below such a bound says so ([`PolicyClaim::max_live`]).
//! - **Typed errors** ([`Caps::typed_errors`]), **exact allocation** ([`Caps::exact`],
//!   [`Caps::exact_complete`]) and **depth** ([`Caps::levels`]) as before.
//!
//! [`Caps::ALL`] is the production stack's ([`VmemStack`]); [`Caps::NONE`] a third-party
//! allocator's starting point. `tests/adapter.rs` plugs in, per capability, an allocator
//! that breaks exactly that part of the contract (the harness must catch it) and one that
//! declares the limitation (it must not), besides buddy_system_allocator's frame allocator.

use std::fmt;

use kvafuzz_oracles::vmem::Policy as OPolicy;

pub use kvafuzz_oracles::vmem::{
    float_bin_round_up, AlignRule, AllocErrorKind, Completeness, Counts, Domain, FreeErrorKind,
    GrowErrorKind, ImportRule, PolicyClaim, SpanErrorKind, MAX_LEVELS,
};

pub use super::scenario::{Bound, LevelQuanta, Param, Shape, MAX_PARAMS};
pub use super::user::{fuzz_adapter, AdapterCampaign, AdapterReport, AdapterTarget, Make};
pub use crate::addr::Arch;
use crate::addr::RangeError;
pub use crate::harness::campaign::FoundCase;
pub use crate::harness::isolate::{serve_if_child, Isolation};
use crate::harness::BugSet;
pub use crate::harness::{Finding, FindingKind, Stats};
use crate::vmem::{
    AddSpanError, AllocError, Arena, ArenaConfig, ArenaStats, FreeError, InvariantError, NoSource,
    SegmentView, SpanSource,
};
pub use crate::vmem::{Policy, Request};

/// Which arena of a chain an op addresses: an index below [`MAX_LEVELS`], 0 the arena
/// allocations are made from, each next one the source of the one before.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Level(u8);

impl Level {
    /// Level 0: the arena allocations are made from.
    pub const ARENA: Level = Level(0);
    /// Level 1: the source the arena imports spans from.
    pub const SOURCE: Level = Level(1);
    /// Every level's name in traces and checks, by index.
    const NAMES: [&'static str; MAX_LEVELS] = ["arena", "source", "source2", "source3"];

    /// Level `i`, if a chain can be that deep.
    pub const fn new(i: usize) -> Option<Level> {
        if i < MAX_LEVELS {
            Some(Level(i as u8))
        } else {
            None
        }
    }

    /// Its index: 0 for the arena, `i + 1` for the source of level `i`.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The level it is the source of (`None` for the arena).
    pub fn above(self) -> Option<Level> {
        self.0.checked_sub(1).map(Level)
    }

    /// The first `depth` levels (at most [`MAX_LEVELS`]), the arena first.
    pub fn first(depth: usize) -> impl Iterator<Item = Level> {
        (0..depth.min(MAX_LEVELS)).map(|i| Level(i as u8))
    }

    /// Its name in traces and checks: `arena`, `source`, `source2`, `source3`.
    pub const fn name(self) -> &'static str {
        Level::NAMES[self.0 as usize]
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which of vmem's request constraints an allocator honours, one flag each. A constraint it
/// lacks is never set: the request it is handed has that field neutral (align and phase 0,
/// nocross 0, minaddr 0, maxaddr `u64::MAX`), and it is judged against that request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Constraints {
    /// [`Request::align`].
    pub align: bool,
    /// [`Request::phase`].
    pub phase: bool,
    /// [`Request::nocross`].
    pub nocross: bool,
    /// [`Request::minaddr`].
    pub minaddr: bool,
    /// [`Request::maxaddr`].
    pub maxaddr: bool,
}

impl Constraints {
    /// All five (vmem's `xalloc`).
    pub const ALL: Constraints = Constraints {
        align: true,
        phase: true,
        nocross: true,
        minaddr: true,
        maxaddr: true,
    };

    /// None: a bare size.
    pub const NONE: Constraints = Constraints {
        align: false,
        phase: false,
        nocross: false,
        minaddr: false,
        maxaddr: false,
    };

    /// Only alignment (a `Layout`-style allocator).
    pub const ALIGN: Constraints = Constraints {
        align: true,
        ..Constraints::NONE
    };

    /// `req` with every constraint it lacks made neutral, and the names of those that were
    /// set (for the trace).
    pub fn mask(&self, req: &Request) -> (Request, Vec<&'static str>) {
        let mut r = *req;
        let mut dropped = Vec::new();
        if !self.align && r.align != 0 {
            dropped.push("align");
            r.align = 0;
        }
        if !self.phase && r.phase != 0 {
            dropped.push("phase");
            r.phase = 0;
        }
        if !self.nocross && r.nocross != 0 {
            dropped.push("nocross");
            r.nocross = 0;
        }
        if !self.minaddr && r.minaddr != 0 {
            dropped.push("minaddr");
            r.minaddr = 0;
        }
        if !self.maxaddr && r.maxaddr != u64::MAX {
            dropped.push("maxaddr");
            r.maxaddr = u64::MAX;
        }
        (r, dropped)
    }

    /// Whether it honours the bound `b`.
    pub const fn has_bound(&self, b: Bound) -> bool {
        match b {
            Bound::Min => self.minaddr,
            Bound::Max => self.maxaddr,
        }
    }
}

/// The policy an allocation is made with: one of vmem's, or the allocator's own placement
/// rule (none of vmem's; only validity and the completeness it claims are judged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FitPolicy {
    /// One of vmem's policies.
    Vmem(Policy),
    /// The allocator's own.
    Own,
}

impl FitPolicy {
    /// The policy the oracle judges it as: its own is judged as InstantFit (any placement).
    pub fn oracle(self) -> OPolicy {
        match self {
            FitPolicy::Vmem(p) => oracle_policy(p),
            FitPolicy::Own => OPolicy::InstantFit,
        }
    }

    /// Its name in traces.
    pub fn name(self) -> &'static str {
        match self {
            FitPolicy::Vmem(p) => p.name(),
            FitPolicy::Own => "own-policy",
        }
    }
}

/// The policies an allocator has, each with what it claims for it ([`PolicyClaim`]: its
/// completeness and whether it keeps the policy's placement rule); `None`: it lacks it.
/// A scenario's request for a policy it lacks is made with another it has, the same for
/// every request (its own first, then InstantFit, BestFit, FirstFit, NextFit), judged by
/// that one's claim, and the trace says so; an allocator with no policy at all gets no
/// allocation requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policies {
    /// vmem's instant fit.
    pub instant_fit: Option<PolicyClaim>,
    /// Best fit.
    pub best_fit: Option<PolicyClaim>,
    /// First fit.
    pub first_fit: Option<PolicyClaim>,
    /// Next fit.
    pub next_fit: Option<PolicyClaim>,
    /// Its own placement rule.
    pub own: Option<PolicyClaim>,
}

impl Policies {
    /// vmem's four, each complete and exact.
    pub const VMEM: Policies = Policies {
        instant_fit: Some(PolicyClaim::FULL),
        best_fit: Some(PolicyClaim::FULL),
        first_fit: Some(PolicyClaim::FULL),
        next_fit: Some(PolicyClaim::FULL),
        own: None,
    };

    /// Only its own placement rule, with `claim`.
    pub const fn own(claim: PolicyClaim) -> Policies {
        Policies {
            instant_fit: None,
            best_fit: None,
            first_fit: None,
            next_fit: None,
            own: Some(claim),
        }
    }

    /// What it claims for `p` (`None`: it lacks it).
    pub const fn claim(&self, p: FitPolicy) -> Option<PolicyClaim> {
        match p {
            FitPolicy::Vmem(Policy::InstantFit) => self.instant_fit,
            FitPolicy::Vmem(Policy::BestFit) => self.best_fit,
            FitPolicy::Vmem(Policy::FirstFit) => self.first_fit,
            FitPolicy::Vmem(Policy::NextFit) => self.next_fit,
            FitPolicy::Own => self.own,
        }
    }

    /// The policy a request for `asked` is made with, and its claim (see [`Policies`]).
    pub fn choose(&self, asked: Policy) -> Option<(FitPolicy, PolicyClaim)> {
        [
            FitPolicy::Vmem(asked),
            FitPolicy::Own,
            FitPolicy::Vmem(Policy::InstantFit),
            FitPolicy::Vmem(Policy::BestFit),
            FitPolicy::Vmem(Policy::FirstFit),
            FitPolicy::Vmem(Policy::NextFit),
        ]
        .into_iter()
        .find_map(|p| self.claim(p).map(|c| (p, c)))
    }
}

/// What an allocator does when the caller breaks its contract in one way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnViolation {
    /// Refuses with an error (the oracle's, if it has [`Caps::typed_errors`]), changing
    /// nothing.
    Refuses,
    /// Panics, by documented design: the harness expects the panic and ends the case there
    /// ("as documented"); an answer the model agrees with is accepted too, any other is a
    /// finding, and so is a panic anywhere else.
    Panics,
    /// Undefined (it trusts the caller): the harness never does it.
    NotFed,
}

/// What an allocator's free checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frees {
    /// A free at an address where no allocation starts (an interior or random address).
    pub bad_address: OnViolation,
    /// A free of an allocation freed before (and not allocated again).
    pub double_free: OnViolation,
    /// A free with another size than the allocation's (or size 0), where it takes a size.
    pub wrong_size: OnViolation,
    /// Its free takes a size. Without it (free by address or by handle) the size is ignored:
    /// any free at a live allocation's start frees the allocation, and the harness checks it
    /// freed exactly the bytes the model holds there.
    pub takes_size: bool,
}

impl Frees {
    /// vmem's: every bad free refused, the size checked.
    pub const CHECKED: Frees = Frees {
        bad_address: OnViolation::Refuses,
        double_free: OnViolation::Refuses,
        wrong_size: OnViolation::Refuses,
        takes_size: true,
    };

    /// Trusting: only frees of live allocations, with their size.
    pub const TRUSTING: Frees = Frees {
        bad_address: OnViolation::NotFed,
        double_free: OnViolation::NotFed,
        wrong_size: OnViolation::NotFed,
        takes_size: true,
    };
}

/// Which fields of [`Counts`] an allocator's [`RangeAllocator::counts`] reports; only those
/// are compared with the model's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountFields {
    /// [`Counts::total`].
    pub total: bool,
    /// [`Counts::in_use`].
    pub in_use: bool,
    /// [`Counts::free`].
    pub free: bool,
    /// [`Counts::spans`].
    pub spans: bool,
    /// [`Counts::imported_spans`].
    pub imported_spans: bool,
    /// [`Counts::allocated`].
    pub allocated: bool,
    /// [`Counts::free_runs`].
    pub free_runs: bool,
    /// [`Counts::largest_free`].
    pub largest_free: bool,
    /// [`Counts::imports`].
    pub imports: bool,
    /// [`Counts::releases`].
    pub releases: bool,
}

impl CountFields {
    /// Every field.
    pub const ALL: CountFields = CountFields {
        total: true,
        in_use: true,
        free: true,
        spans: true,
        imported_spans: true,
        allocated: true,
        free_runs: true,
        largest_free: true,
        imports: true,
        releases: true,
    };

    /// None.
    pub const NONE: CountFields = CountFields {
        total: false,
        in_use: false,
        free: false,
        spans: false,
        imported_spans: false,
        allocated: false,
        free_runs: false,
        largest_free: false,
        imports: false,
        releases: false,
    };

    /// The first field it reports on which `actual` and `model` differ: its name and both
    /// values.
    pub fn first_difference(
        &self,
        actual: &Counts,
        model: &Counts,
    ) -> Option<(&'static str, String, String)> {
        macro_rules! fields {
            ($($f:ident),*) => {
                $(
                    if self.$f && actual.$f != model.$f {
                        return Some((
                            stringify!($f),
                            format!("{:#x}", actual.$f),
                            format!("{:#x}", model.$f),
                        ));
                    }
                )*
            };
        }
        fields!(
            total,
            in_use,
            free,
            spans,
            imported_spans,
            allocated,
            free_runs,
            largest_free,
            imports,
            releases
        );
        None
    }
}

/// How big a span a level imports from its source for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Imports {
    /// Rounded up to the scenario's import quantum of the level ([`Shape::levels`]) if the
    /// source has room, else exactly the request (vmem's).
    ShapeQuantum,
    /// Exactly the request.
    Exact,
    /// Any multiple of both quanta at least the request (only validity is judged).
    AtLeast,
}

impl Imports {
    /// The oracle's rule for a level whose import quantum is `import_quantum`.
    pub fn rule(self, import_quantum: u64) -> ImportRule {
        match self {
            Imports::ShapeQuantum => ImportRule::RoundUp {
                quantum: import_quantum,
            },
            Imports::Exact => ImportRule::Exact,
            Imports::AtLeast => ImportRule::AtLeast,
        }
    }
}

/// What an allocator supports and claims; ops and contracts outside it are not exercised
/// (module comment). Fields may be added: an adapter outside this crate writes
/// `Caps { exact: false, ..Caps::ALL }` (or `..Caps::NONE`) and reads the new ones'
/// documentation when it upgrades.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// The request constraints it honours, one by one.
    pub constraints: Constraints,
    /// Its policies, and what it claims for each.
    pub policies: Policies,
    /// Allocates at an exact address.
    pub exact: bool,
    /// Fails an exact allocation only when the range is not free (else a refusal of a free
    /// range is accepted; what it does allocate is still judged).
    pub exact_complete: bool,
    /// How many levels of a chain it has at most (1: a lone arena, no source to import from
    /// and release to); ops at deeper levels are skipped and their levels not modelled.
    pub levels: usize,
    /// What its free checks.
    pub frees: Frees,
    /// The requests it accepts (its alignment rule, sizes that are not multiples of the
    /// quantum, overconstrained requests), as the oracle models them.
    pub domain: Domain,
    /// What it does with a request outside its domain (or otherwise invalid: size 0, a bad
    /// phase, a bad nocross, minaddr above maxaddr, a rounded size past `u64::MAX`).
    pub invalid_requests: OnViolation,
    /// Names each refusal with the oracle's error kind, in the oracle's order of checks. Without
    /// it only success against refusal is compared: any error is accepted where the oracle
    /// predicts one, and a refusal of a valid request counts as "no space".
    pub typed_errors: bool,
    /// The fields of [`RangeAllocator::counts`] it reports.
    pub counts: CountFields,
    /// Its [`RangeAllocator::allocated`] lists runs of touching allocations as one (a crate
    /// that does not keep allocations apart): compared with the model's merged runs.
    pub merges_allocations: bool,
    /// How big a span each level imports from its source.
    pub imports: Imports,
    /// How complete a level is when it serves an import for the level above: vmem's
    /// [`Completeness::Full`], or the rule of the policy it serves imports by (a source that
    /// imports by instant fit: [`Completeness::PowerOfTwoRun`]).
    pub imports_served: Completeness,
    /// Grows a span it was given at its end ([`RangeAllocator::grow_span`]).
    pub grows: bool,
    /// The largest span, in bytes, it can be given or grow a span to (a heap backed by
    /// real memory cannot take a span of 2^47 bytes); a larger span is never added nor
    /// grown to (the op is skipped).
    pub max_span: u64,
}

impl Caps {
    /// Everything: the production vmem stack.
    pub const ALL: Caps = Caps {
        constraints: Constraints::ALL,
        policies: Policies::VMEM,
        exact: true,
        exact_complete: true,
        levels: MAX_LEVELS,
        frees: Frees::CHECKED,
        domain: Domain::VMEM,
        invalid_requests: OnViolation::Refuses,
        typed_errors: true,
        counts: CountFields::ALL,
        merges_allocations: false,
        imports: Imports::ShapeQuantum,
        imports_served: Completeness::Full,
        // vmem has no such operation (a span is added whole, `vmem_add`).
        grows: false,
        max_span: u64::MAX,
    };

    /// Nothing optional: plain allocations by its own policy (no completeness claimed),
    /// frees of what it handed out with their size, untyped refusals of invalid requests (a
    /// third-party allocator's starting point).
    pub const NONE: Caps = Caps {
        constraints: Constraints::NONE,
        policies: Policies::own(PolicyClaim::VALID),
        exact: false,
        exact_complete: false,
        levels: 1,
        frees: Frees::TRUSTING,
        domain: Domain::VMEM,
        invalid_requests: OnViolation::Refuses,
        typed_errors: false,
        counts: CountFields::NONE,
        merges_allocations: false,
        imports: Imports::ShapeQuantum,
        imports_served: Completeness::Full,
        grows: false,
        max_span: u64::MAX,
    };
}

/// A range allocator the vmem scenarios can drive; see the module comment.
pub trait RangeAllocator {
    /// What it supports.
    fn caps(&self) -> Caps;
    /// Adds a span to `level`.
    fn add_span(&mut self, level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind>;
    /// Allocates from `level`, with a policy it has ([`Caps::policies`]) and only the
    /// constraints it honours set ([`Caps::constraints`]).
    fn alloc(
        &mut self,
        level: Level,
        req: &Request,
        policy: FitPolicy,
    ) -> Result<u64, AllocErrorKind>;
    /// Allocates a bare `size` from the arena level through the allocator's plain entry point,
    /// if it has one apart from the constrained one (vmem's `alloc` beside `xalloc`). The
    /// default asks [`RangeAllocator::alloc`] for an unconstrained request.
    fn alloc_size(&mut self, size: u64, policy: FitPolicy) -> Result<u64, AllocErrorKind> {
        self.alloc(Level::ARENA, &Request::size(size), policy)
    }
    /// Allocates exactly `[addr, addr + size)` from the arena level.
    fn alloc_at(&mut self, addr: u64, size: u64) -> Result<u64, AllocErrorKind>;
    /// Frees at `level` (`size` is the caller's; one whose free takes no size ignores it,
    /// [`Frees::takes_size`]).
    fn free(&mut self, level: Level, addr: u64, size: u64) -> Result<(), FreeErrorKind>;
    /// Grows the span of `level` starting at `start` (one the caller added) by `by` bytes at
    /// its end, as if `[end, end + by)` were added to it (a heap's `extend`, range-alloc's
    /// `grow_to`); only called if [`Caps::grows`]. The default refuses.
    fn grow_span(&mut self, _level: Level, _start: u64, _by: u64) -> Result<(), GrowErrorKind> {
        Err(GrowErrorKind::NoSpan)
    }
    /// The spans of `level` as `(start, last, imported)`, by address.
    fn spans(&self, level: Level) -> Vec<(u64, u64, bool)>;
    /// The allocations of `level` as `(start, last)`, by address (touching ones merged into
    /// one run if it says so in [`Caps::merges_allocations`]).
    fn allocated(&self, level: Level) -> Vec<(u64, u64)>;
    /// The allocator's own consistency check (every level).
    fn check_invariants(&self) -> Result<(), (String, String)>;
    /// Whether `addr` lies in a span of `level`. After every op the harness asks at both ends
    /// of each span that came or went since the last op, and of one other span in turn, and
    /// one past each end. `None` (the default): the allocator cannot say.
    fn contains(&self, _level: Level, _addr: u64) -> Option<bool> {
        None
    }
    /// The counters `level` keeps (sizes, numbers of spans and segments, largest free
    /// segment, imports and releases), in the oracle's terms, compared with the model's after
    /// every op, the fields [`Caps::counts`] names only. `None` (the default): the allocator
    /// keeps none.
    fn counts(&self, _level: Level) -> Option<Counts> {
        None
    }
}

/// The vmem policy of `p`; the harness never asks an allocator for a policy its
/// [`Caps::policies`] lack, and vmem has no policy of its own, so [`FitPolicy::Own`] is
/// refused (a refusal the harness would judge by the claim of a policy it does not have).
pub fn vmem_policy(p: FitPolicy) -> Result<Policy, AllocErrorKind> {
    match p {
        FitPolicy::Vmem(p) => Ok(p),
        FitPolicy::Own => Err(AllocErrorKind::NoSpace),
    }
}

/// The oracle's name for a policy.
pub fn oracle_policy(p: Policy) -> OPolicy {
    match p {
        Policy::InstantFit => OPolicy::InstantFit,
        Policy::BestFit => OPolicy::BestFit,
        Policy::FirstFit => OPolicy::FirstFit,
        Policy::NextFit => OPolicy::NextFit,
    }
}

/// The oracle's name for an allocation error.
pub fn alloc_error_kind(e: AllocError) -> AllocErrorKind {
    match e {
        AllocError::ZeroSize => AllocErrorKind::ZeroSize,
        AllocError::SizeOverflow => AllocErrorKind::SizeOverflow,
        AllocError::BadAlign => AllocErrorKind::BadAlign,
        AllocError::BadPhase => AllocErrorKind::BadPhase,
        AllocError::BadNocross => AllocErrorKind::BadNocross,
        AllocError::BadBounds => AllocErrorKind::BadBounds,
        AllocError::Overconstrained => AllocErrorKind::Overconstrained,
        AllocError::Misaligned => AllocErrorKind::Misaligned,
        AllocError::Wraps => AllocErrorKind::Wraps,
        AllocError::PastTop => AllocErrorKind::PastTop,
        AllocError::NonCanonical => AllocErrorKind::NonCanonical,
        // Tag exhaustion is a resource limit the scenarios cannot reach (MAX_OPS): if it
        // shows up the oracle will flag it as an unexpected NoSpace-like failure.
        AllocError::NoSpace | AllocError::NoTags => AllocErrorKind::NoSpace,
    }
}

/// The oracle's name for a free error.
pub fn free_error_kind(e: FreeError) -> FreeErrorKind {
    match e {
        FreeError::ZeroSize => FreeErrorKind::ZeroSize,
        FreeError::BadFree => FreeErrorKind::BadFree,
        FreeError::WrongSize { allocated } => FreeErrorKind::WrongSize(allocated),
    }
}

/// The oracle's name for an add-span error.
pub fn span_error_kind(e: AddSpanError) -> SpanErrorKind {
    match e {
        AddSpanError::ZeroSize => SpanErrorKind::ZeroSize,
        AddSpanError::BadRange(RangeError::Empty) => SpanErrorKind::ZeroSize,
        AddSpanError::BadRange(RangeError::Wraps) => SpanErrorKind::Wraps,
        AddSpanError::BadRange(RangeError::PastTop) => SpanErrorKind::PastTop,
        AddSpanError::BadRange(RangeError::NonCanonical) => SpanErrorKind::NonCanonical,
        AddSpanError::Misaligned => SpanErrorKind::Misaligned,
        AddSpanError::Overlaps { existing } => SpanErrorKind::Overlaps(existing),
        // Unreachable within MAX_OPS; reported as an impossible overlap so it is flagged.
        AddSpanError::NoTags => SpanErrorKind::Overlaps(u64::MAX),
    }
}

/// The spans among an arena's segments (e.g. [`Arena::segments`]), as
/// [`RangeAllocator::spans`] reports them.
pub fn spans_of(segments: impl IntoIterator<Item = SegmentView>) -> Vec<(u64, u64, bool)> {
    segments
        .into_iter()
        .filter_map(|v| match v {
            SegmentView::Span { range, imported } => Some((range.start(), range.last(), imported)),
            _ => None,
        })
        .collect()
}

/// The allocations among an arena's segments, as [`RangeAllocator::allocated`] reports them.
pub fn allocations_of(segments: impl IntoIterator<Item = SegmentView>) -> Vec<(u64, u64)> {
    segments
        .into_iter()
        .filter_map(|v| match v {
            SegmentView::Allocated(r) => Some((r.start(), r.last())),
            _ => None,
        })
        .collect()
}

/// An arena's statistics ([`Arena::stats`]) as [`RangeAllocator::counts`] reports them: a
/// coalescing arena has one free segment per free run.
pub fn counts_of(s: &ArenaStats) -> Counts {
    Counts {
        total: s.total,
        in_use: s.in_use,
        free: s.free,
        spans: s.spans,
        imported_spans: s.imported_spans,
        allocated: s.allocated_segments,
        free_runs: s.free_segments,
        largest_free: u128::from(s.largest_free),
        imports: s.imports,
        releases: s.releases,
    }
}

/// One arena of a chain, whatever the type of its source: what the harness asks of each
/// level of [`VmemStack`], and the way down to the next one.
trait ChainArena {
    /// Its spans, as [`RangeAllocator::spans`] reports them.
    fn spans(&self) -> Vec<(u64, u64, bool)>;
    /// Its allocations, as [`RangeAllocator::allocated`] reports them.
    fn allocated(&self) -> Vec<(u64, u64)>;
    /// [`Arena::add_span`].
    fn add_span(&mut self, base: u64, size: u64) -> Result<(), AddSpanError>;
    /// [`Arena::xalloc`].
    fn xalloc(&mut self, req: &Request, policy: Policy) -> Result<u64, AllocError>;
    /// [`Arena::alloc`].
    fn alloc(&mut self, size: u64, policy: Policy) -> Result<u64, AllocError>;
    /// [`Arena::xalloc_at`].
    fn xalloc_at(&mut self, addr: u64, size: u64) -> Result<u64, AllocError>;
    /// [`Arena::free`].
    fn free(&mut self, addr: u64, size: u64) -> Result<(), FreeError>;
    /// [`Arena::contains`].
    fn contains(&self, addr: u64) -> bool;
    /// [`Arena::stats`].
    fn stats(&self) -> ArenaStats;
    /// [`Arena::check_invariants`].
    fn check_invariants(&self) -> Result<(), InvariantError>;
    /// The arena it imports from (`None` at the deepest level).
    fn source(&self) -> Option<&dyn ChainArena>;
    /// The arena it imports from, mutably.
    fn source_mut(&mut self) -> Option<&mut dyn ChainArena>;
}

/// A source an arena of the chain imports from: another arena of the chain, or nothing.
trait ChainSource: SpanSource {
    /// It as a level of the chain (`None`: [`NoSource`]).
    fn level(&self) -> Option<&dyn ChainArena>;
    /// It as a level of the chain, mutably.
    fn level_mut(&mut self) -> Option<&mut dyn ChainArena>;
}

impl ChainSource for NoSource {
    fn level(&self) -> Option<&dyn ChainArena> {
        None
    }

    fn level_mut(&mut self) -> Option<&mut dyn ChainArena> {
        None
    }
}

impl<S: ChainSource> ChainSource for Arena<S> {
    fn level(&self) -> Option<&dyn ChainArena> {
        Some(self)
    }

    fn level_mut(&mut self) -> Option<&mut dyn ChainArena> {
        Some(self)
    }
}

impl<S: ChainSource> ChainArena for Arena<S> {
    fn spans(&self) -> Vec<(u64, u64, bool)> {
        spans_of(self.segments())
    }

    fn allocated(&self) -> Vec<(u64, u64)> {
        allocations_of(self.segments())
    }

    fn add_span(&mut self, base: u64, size: u64) -> Result<(), AddSpanError> {
        Arena::add_span(self, base, size)
    }

    fn xalloc(&mut self, req: &Request, policy: Policy) -> Result<u64, AllocError> {
        Arena::xalloc(self, req, policy)
    }

    fn alloc(&mut self, size: u64, policy: Policy) -> Result<u64, AllocError> {
        Arena::alloc(self, size, policy)
    }

    fn xalloc_at(&mut self, addr: u64, size: u64) -> Result<u64, AllocError> {
        Arena::xalloc_at(self, addr, size)
    }

    fn free(&mut self, addr: u64, size: u64) -> Result<(), FreeError> {
        Arena::free(self, addr, size)
    }

    fn contains(&self, addr: u64) -> bool {
        Arena::contains(self, addr)
    }

    fn stats(&self) -> ArenaStats {
        Arena::stats(self)
    }

    fn check_invariants(&self) -> Result<(), InvariantError> {
        Arena::check_invariants(self)
    }

    fn source(&self) -> Option<&dyn ChainArena> {
        Arena::source(self).level()
    }

    fn source_mut(&mut self) -> Option<&mut dyn ChainArena> {
        Arena::source_mut(self).level_mut()
    }
}

/// The production stack: a chain of 1 to [`MAX_LEVELS`] real [`Arena`]s, each importing from
/// the next (`Arena<Arena<...<Arena<NoSource>>>>`, the deepest without a source), reached
/// level by level through `ChainArena`.
pub struct VmemStack {
    /// The arena allocations are made from, its sources inside it.
    arena: Box<dyn ChainArena>,
    /// How many levels it has.
    depth: usize,
}

/// Level `i` of `shape`'s chain as an [`Arena`] importing from `source`, with `bugs` on.
fn level_arena<S: SpanSource>(
    shape: &Shape,
    i: usize,
    source: S,
    bugs: BugSet,
) -> Result<Arena<S>, String> {
    let level = shape.levels[i];
    let config = ArenaConfig {
        import_quantum: level.import_quantum,
        ..ArenaConfig::new(level.quantum, Some(shape.arch))
    };
    let name = Level::new(i).map_or("level", Level::name);
    let arena = Arena::with_source(name, config, source).map_err(|e| e.to_string())?;
    #[cfg(feature = "seeded-bugs")]
    let arena = {
        let mut arena = arena;
        arena.set_bugs(bugs);
        arena
    };
    #[cfg(not(feature = "seeded-bugs"))]
    let _ = bugs;
    Ok(arena)
}

impl VmemStack {
    /// The chain `shape` describes (its levels' quanta and import quanta, on its
    /// architecture), with `bugs` switched on at every level.
    pub fn new(shape: &Shape, bugs: BugSet) -> Result<VmemStack, String> {
        // The deepest level is built first (a bad quantum there is the error reported).
        let arena: Box<dyn ChainArena> = match shape.depth {
            1 => Box::new(level_arena(shape, 0, NoSource, bugs)?),
            2 => Box::new(level_arena(
                shape,
                0,
                level_arena(shape, 1, NoSource, bugs)?,
                bugs,
            )?),
            3 => {
                let source = level_arena(shape, 1, level_arena(shape, 2, NoSource, bugs)?, bugs)?;
                Box::new(level_arena(shape, 0, source, bugs)?)
            }
            MAX_LEVELS => {
                let source2 = level_arena(shape, 2, level_arena(shape, 3, NoSource, bugs)?, bugs)?;
                let source = level_arena(shape, 1, source2, bugs)?;
                Box::new(level_arena(shape, 0, source, bugs)?)
            }
            depth => return Err(format!("no chain of {depth} levels")),
        };
        Ok(VmemStack {
            arena,
            depth: shape.depth,
        })
    }

    /// Level `level` of the chain (`None` past the deepest).
    fn level(&self, level: Level) -> Option<&dyn ChainArena> {
        let mut a = Some(&*self.arena);
        for _ in 0..level.index() {
            a = a?.source();
        }
        a
    }

    /// Level `level` of the chain, mutably.
    fn level_mut(&mut self, level: Level) -> Option<&mut dyn ChainArena> {
        let mut a: Option<&mut dyn ChainArena> = Some(&mut *self.arena);
        for _ in 0..level.index() {
            a = a?.source_mut();
        }
        a
    }

    /// Level `level`, which the harness only names if the chain has it.
    fn at(&self, level: Level) -> &dyn ChainArena {
        self.level(level)
            .expect("the harness skips levels past the chain's depth")
    }

    /// Level `level`, mutably.
    fn at_mut(&mut self, level: Level) -> &mut dyn ChainArena {
        self.level_mut(level)
            .expect("the harness skips levels past the chain's depth")
    }
}

impl RangeAllocator for VmemStack {
    fn caps(&self) -> Caps {
        Caps {
            levels: self.depth,
            ..Caps::ALL
        }
    }

    fn add_span(&mut self, level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        self.at_mut(level)
            .add_span(base, size)
            .map_err(span_error_kind)
    }

    fn alloc(
        &mut self,
        level: Level,
        req: &Request,
        policy: FitPolicy,
    ) -> Result<u64, AllocErrorKind> {
        let policy = vmem_policy(policy)?;
        self.at_mut(level)
            .xalloc(req, policy)
            .map_err(alloc_error_kind)
    }

    fn alloc_size(&mut self, size: u64, policy: FitPolicy) -> Result<u64, AllocErrorKind> {
        let policy = vmem_policy(policy)?;
        self.arena.alloc(size, policy).map_err(alloc_error_kind)
    }

    fn alloc_at(&mut self, addr: u64, size: u64) -> Result<u64, AllocErrorKind> {
        self.arena.xalloc_at(addr, size).map_err(alloc_error_kind)
    }

    fn free(&mut self, level: Level, addr: u64, size: u64) -> Result<(), FreeErrorKind> {
        self.at_mut(level).free(addr, size).map_err(free_error_kind)
    }

    fn spans(&self, level: Level) -> Vec<(u64, u64, bool)> {
        self.at(level).spans()
    }

    fn allocated(&self, level: Level) -> Vec<(u64, u64)> {
        self.at(level).allocated()
    }

    fn check_invariants(&self) -> Result<(), (String, String)> {
        for level in Level::first(self.depth) {
            self.at(level)
                .check_invariants()
                .map_err(|e| (e.invariant.to_string(), format!("{level}: {}", e.detail)))?;
        }
        Ok(())
    }

    fn contains(&self, level: Level, addr: u64) -> Option<bool> {
        Some(self.at(level).contains(addr))
    }

    fn counts(&self, level: Level) -> Option<Counts> {
        Some(counts_of(&self.at(level).stats()))
    }
}
