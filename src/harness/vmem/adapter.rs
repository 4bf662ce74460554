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
//! Allocators are chains of 1 to [`MAX_LEVELS`] levels ([`Level`]): level 0 is the arena
//! allocations are made from, level `i + 1` the source level `i` imports spans from. One that
//! has fewer levels than a scenario asks for says so in [`Caps::levels`].

use std::fmt;

use kvafuzz_oracles::vmem::{
    AllocErrorKind, Counts, FreeErrorKind, Policy as OPolicy, SpanErrorKind,
};

pub use kvafuzz_oracles::vmem::MAX_LEVELS;

use super::scenario::Shape;
use crate::addr::RangeError;
use crate::harness::BugSet;
use crate::vmem::{
    AddSpanError, AllocError, Arena, ArenaConfig, ArenaStats, FreeError, InvariantError, NoSource,
    Policy, Request, SegmentView, SpanSource,
};

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

/// What an allocator supports; ops and contracts outside it are not exercised. Fields may be
/// added: an adapter outside this crate writes `Caps { exact: false, ..Caps::ALL }` (or lists
/// every field) and reads the new ones' documentation when it upgrades.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// Honours align/phase/nocross/minaddr/maxaddr.
    pub constraints: bool,
    /// Allocates at an exact address.
    pub exact: bool,
    /// How many levels of a chain it has at most (1: a lone arena, no source to import from
    /// and release to); ops at deeper levels are skipped and their levels not modelled.
    pub levels: usize,
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
        levels: MAX_LEVELS,
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
        levels: 1,
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
        self.alloc(Level::ARENA, &Request::size(size), policy)
    }
    /// Allocates exactly `[addr, addr + size)` from the arena level.
    fn alloc_at(&mut self, addr: u64, size: u64) -> Result<u64, AllocErrorKind>;
    /// Frees at `level`.
    fn free(&mut self, level: Level, addr: u64, size: u64) -> Result<(), FreeErrorKind>;
    /// The spans of `level` as `(start, last, imported)`, by address.
    fn spans(&self, level: Level) -> Vec<(u64, u64, bool)>;
    /// The allocations of `level` as `(start, last)`, by address.
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
/// level by level through [`ChainArena`].
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
        policy: Policy,
    ) -> Result<u64, AllocErrorKind> {
        self.at_mut(level)
            .xalloc(req, policy)
            .map_err(alloc_error_kind)
    }

    fn alloc_size(&mut self, size: u64, policy: Policy) -> Result<u64, AllocErrorKind> {
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
