//! The adapter between vmem scenarios and the allocator under test.
//!
//! [`RangeAllocator`] is all the harness needs from a range allocator: add spans, allocate
//! (with constraints, a policy, or at an exact address), free, and show its spans and
//! allocations so they can be compared with the model after every op. Errors are reported
//! in the oracle's vocabulary (`kvafuzz_oracles::vmem::*Kind`). An allocator that lacks a
//! feature says so in [`Caps`], and the scenario executor then neither asks for it nor holds
//! it to the contract it does not offer: plugging in a third-party allocator is an `impl` of a
//! few dozen lines, run with [`crate::harness::run_range_allocator`] (`tests/adapter.rs` plugs
//! in a sourceless arena, one claiming no capability, buddy_system_allocator's frame allocator,
//! and broken ones the harness must catch).
//!
//! Allocators may have two levels ([`Level`]): the arena allocations are made from, and the
//! source it imports spans from.

use kvafuzz_oracles::vmem::{
    AllocErrorKind, Counts, FreeErrorKind, Policy as OPolicy, SpanErrorKind,
};

use crate::addr::{Arch, RangeError};
use crate::harness::BugSet;
use crate::vmem::{
    AddSpanError, AllocError, Arena, ArenaConfig, ArenaStats, FreeError, NoSource, Policy, Request,
    SegmentView,
};

/// Which arena of a two-level allocator an op addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// The arena allocations are made from.
    Arena,
    /// The source it imports spans from.
    Source,
}

/// What an allocator supports; ops and contracts outside it are not exercised. Fields may be
/// added: an adapter outside this crate writes `Caps { exact: false, ..Caps::ALL }` (or lists
/// every field) and reads the new ones' documentation when it upgrades.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// Honours align/phase/nocross/minaddr/maxaddr.
    pub constraints: bool,
    /// Allocates at an exact address.
    pub exact: bool,
    /// Has a source level that it imports from and releases to.
    pub import: bool,
    /// Keeps each policy's placement contract (not only completeness).
    pub policy_contracts: bool,
    /// Reports bad frees and wrong sizes (rather than trusting the caller).
    pub checked_free: bool,
    /// Names each refusal with the oracle's error kind, in the oracle's order of checks. Without
    /// it only success against refusal is compared: any error is accepted where the oracle
    /// predicts one, and a refusal of a valid request counts as "no space".
    pub typed_errors: bool,
    /// Fails an allocation only when no placement exists (vmem's policies are complete; a
    /// buddy or segregated-fit allocator that rounds sizes up is not). Without it a refusal
    /// is accepted even when the oracle knows a placement; what it does hand out is still
    /// checked in full.
    pub complete: bool,
}

impl Caps {
    /// Everything: the production vmem stack.
    pub const ALL: Caps = Caps {
        constraints: true,
        exact: true,
        import: true,
        policy_contracts: true,
        checked_free: true,
        typed_errors: true,
        complete: true,
    };

    /// Nothing optional: plain allocations, frees of what it handed out, untyped refusals,
    /// no completeness (a third-party allocator's starting point).
    pub const NONE: Caps = Caps {
        constraints: false,
        exact: false,
        import: false,
        policy_contracts: false,
        checked_free: false,
        typed_errors: false,
        complete: false,
    };
}

/// A range allocator the vmem scenarios can drive; see the module comment.
pub trait RangeAllocator {
    /// What it supports.
    fn caps(&self) -> Caps;
    /// Adds a span to `level`.
    fn add_span(&mut self, level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind>;
    /// Allocates from `level`.
    fn alloc(&mut self, level: Level, req: &Request, policy: Policy)
        -> Result<u64, AllocErrorKind>;
    /// Allocates a bare `size` from the arena level through the allocator's plain entry point,
    /// if it has one apart from the constrained one (vmem's `alloc` beside `xalloc`). The
    /// default asks [`RangeAllocator::alloc`] for an unconstrained request.
    fn alloc_size(&mut self, size: u64, policy: Policy) -> Result<u64, AllocErrorKind> {
        self.alloc(Level::Arena, &Request::size(size), policy)
    }
    /// Allocates exactly `[addr, addr + size)` from the arena level.
    fn alloc_at(&mut self, addr: u64, size: u64) -> Result<u64, AllocErrorKind>;
    /// Frees at `level`.
    fn free(&mut self, level: Level, addr: u64, size: u64) -> Result<(), FreeErrorKind>;
    /// The spans of `level` as `(start, last, imported)`, by address.
    fn spans(&self, level: Level) -> Vec<(u64, u64, bool)>;
    /// The allocations of `level` as `(start, last)`, by address.
    fn allocated(&self, level: Level) -> Vec<(u64, u64)>;
    /// The allocator's own consistency check (both levels).
    fn check_invariants(&self) -> Result<(), (String, String)>;
    /// Whether `addr` lies in a span of `level`. After every op the harness asks at both ends
    /// of each span that came or went since the last op, and of one other span in turn, and
    /// one past each end. `None` (the default): the allocator cannot say.
    fn contains(&self, _level: Level, _addr: u64) -> Option<bool> {
        None
    }
    /// The counters `level` keeps (sizes, numbers of spans and segments, largest free
    /// segment, imports and releases), in the oracle's terms, compared with the model's after
    /// every op. `None` (the default): the allocator keeps none.
    fn counts(&self, _level: Level) -> Option<Counts> {
        None
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

/// The production stack: an [`Arena`] importing from a source [`Arena`].
pub struct VmemStack {
    /// The arena (its source inside).
    pub arena: Arena<Arena<NoSource>>,
}

impl VmemStack {
    /// An arena of `quantum` importing in `import_quantum` from a source of `source_quantum`,
    /// both on `arch`.
    pub fn new(
        arch: Arch,
        quantum: u64,
        import_quantum: u64,
        source_quantum: u64,
        bugs: BugSet,
    ) -> Result<VmemStack, String> {
        let source = Arena::new("source", source_quantum, Some(arch)).map_err(|e| e.to_string())?;
        let config = ArenaConfig {
            import_quantum,
            ..ArenaConfig::new(quantum, Some(arch))
        };
        #[allow(unused_mut)]
        let mut arena = Arena::with_source("arena", config, source).map_err(|e| e.to_string())?;
        #[cfg(feature = "seeded-bugs")]
        {
            arena.set_bugs(bugs);
            arena.source_mut().set_bugs(bugs);
        }
        let _ = bugs; // only read with the seeded-bugs feature
        Ok(VmemStack { arena })
    }

    fn walk(&self, level: Level) -> Vec<SegmentView> {
        let mut all = Vec::new();
        match level {
            Level::Arena => self.arena.walk(|v| all.push(v)),
            Level::Source => self.arena.source().walk(|v| all.push(v)),
        }
        all
    }
}

impl RangeAllocator for VmemStack {
    fn caps(&self) -> Caps {
        Caps::ALL
    }

    fn add_span(&mut self, level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        match level {
            Level::Arena => self.arena.add_span(base, size),
            Level::Source => self.arena.source_mut().add_span(base, size),
        }
        .map_err(span_error_kind)
    }

    fn alloc(
        &mut self,
        level: Level,
        req: &Request,
        policy: Policy,
    ) -> Result<u64, AllocErrorKind> {
        match level {
            Level::Arena => self.arena.xalloc(req, policy),
            Level::Source => self.arena.source_mut().xalloc(req, policy),
        }
        .map_err(alloc_error_kind)
    }

    fn alloc_size(&mut self, size: u64, policy: Policy) -> Result<u64, AllocErrorKind> {
        self.arena.alloc(size, policy).map_err(alloc_error_kind)
    }

    fn alloc_at(&mut self, addr: u64, size: u64) -> Result<u64, AllocErrorKind> {
        self.arena.xalloc_at(addr, size).map_err(alloc_error_kind)
    }

    fn free(&mut self, level: Level, addr: u64, size: u64) -> Result<(), FreeErrorKind> {
        match level {
            Level::Arena => self.arena.free(addr, size),
            Level::Source => self.arena.source_mut().free(addr, size),
        }
        .map_err(free_error_kind)
    }

    fn spans(&self, level: Level) -> Vec<(u64, u64, bool)> {
        spans_of(self.walk(level))
    }

    fn allocated(&self, level: Level) -> Vec<(u64, u64)> {
        allocations_of(self.walk(level))
    }

    fn check_invariants(&self) -> Result<(), (String, String)> {
        self.arena
            .check_invariants()
            .map_err(|e| (e.invariant.to_string(), format!("arena: {}", e.detail)))?;
        self.arena
            .source()
            .check_invariants()
            .map_err(|e| (e.invariant.to_string(), format!("source: {}", e.detail)))
    }

    fn contains(&self, level: Level, addr: u64) -> Option<bool> {
        Some(match level {
            Level::Arena => self.arena.contains(addr),
            Level::Source => self.arena.source().contains(addr),
        })
    }

    fn counts(&self, level: Level) -> Option<Counts> {
        Some(counts_of(&match level {
            Level::Arena => self.arena.stats(),
            Level::Source => self.arena.source().stats(),
        }))
    }
}
