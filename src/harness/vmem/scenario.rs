//! The scenario of the `vmem` target: its ops, the address and bound selectors they name the
//! state with, the header, and how each prints in a trace.

use std::fmt::{self, Write as _};

use super::adapter::{Level, VmemStack, MAX_LEVELS};
use super::codec;
use crate::addr::Arch;
use crate::harness::drive::setup_finding;
use crate::harness::{BugSet, Case, Finding, Stats, Target};
use crate::vmem::{Policy, Request};

/// How an op names an address: resolved against the state when the op runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrSel {
    /// This address.
    Raw(u64),
    /// The start of live allocation `handle` (modulo the live count) plus `offset`.
    Live {
        /// Handle.
        handle: u16,
        /// Added with wrapping.
        offset: u64,
    },
    /// The start of live allocation `handle` (modulo the live count), or one past its end
    /// (its size rounded up to its quantum), moved by `quanta` quanta (at most
    /// [`EDGE_QUANTA`] either way): the last quantum of whatever lies before it, the start of
    /// whatever follows it, where an exact allocation or a free is off by one.
    LiveEdge {
        /// Handle.
        handle: u16,
        /// The end rather than the start.
        end: bool,
        /// Quanta added (wrapping).
        quanta: i8,
    },
    /// The start of a recently freed allocation (a double free).
    Freed {
        /// Index into the freed list (modulo its length).
        index: u16,
    },
    /// The start of span `index` (modulo the span count) of the level, plus `offset`.
    Span {
        /// Span index.
        index: u16,
        /// Added with wrapping.
        offset: u64,
    },
}

/// Which bound of a request an [`Edge`] sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// [`Request::minaddr`].
    Min,
    /// [`Request::maxaddr`] (inclusive).
    Max,
}

impl Bound {
    /// The request field it sets.
    pub const fn field(self) -> &'static str {
        match self {
            Bound::Min => "minaddr",
            Bound::Max => "maxaddr",
        }
    }
}

/// A point of the state a request bound is placed at (resolved when the op runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeAt {
    /// The first address of live allocation `handle` (modulo the live count).
    LiveStart(u16),
    /// One past the last address of live allocation `handle` (wrapping at the top).
    LiveEnd(u16),
    /// The first address of span `index` (modulo the span count) of the op's level.
    SpanStart(u16),
    /// One past the last address of span `index` (wrapping at the top).
    SpanEnd(u16),
}

/// A request bound set relative to the state when the op runs: at an edge of a live
/// allocation or a span, moved by `quanta` quanta and `byte` bytes (all wrapping). A raw
/// bound almost never lands on a segment's edge, and an edge is where an inclusive bound
/// read as exclusive (or the reverse) changes the answer: `max = live[h].start - 1` is the
/// last byte of whatever lies below that allocation, `max = span.end - 1` the last byte of the
/// span. Every free segment's edges are edges of live allocations or spans, so these reach
/// all of them. With no live allocation (or no span) the point is 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    /// Which bound this sets. The other keeps the request's value; an encoded edge stands
    /// for both bounds, so a scenario round-trips through bytes only if that value is the
    /// decoder's (minaddr 0, maxaddr `u64::MAX`).
    pub bound: Bound,
    /// Where.
    pub at: EdgeAt,
    /// Quanta added: at most [`EDGE_QUANTA`] either way (all the encoding holds).
    pub quanta: i8,
    /// Bytes added: -1, 0 or 1.
    pub byte: i8,
}

/// The most quanta an [`Edge`] moves away from its point, either way.
pub const EDGE_QUANTA: i8 = 2;

impl fmt::Display for Edge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.bound {
            Bound::Min => "min",
            Bound::Max => "max",
        };
        let (what, i) = match self.at {
            EdgeAt::LiveStart(i) => ("live", (i, "start")),
            EdgeAt::LiveEnd(i) => ("live", (i, "end")),
            EdgeAt::SpanStart(i) => ("span", (i, "start")),
            EdgeAt::SpanEnd(i) => ("span", (i, "end")),
        };
        write!(f, "{name}={what}[{}].{}", i.0, i.1)?;
        if self.quanta != 0 {
            write!(f, "{:+}q", self.quanta)?;
        }
        if self.byte != 0 {
            write!(f, "{:+}", self.byte)?;
        }
        Ok(())
    }
}

/// One operation of a vmem scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Add a span to a level.
    AddSpan {
        /// Which arena.
        level: Level,
        /// Base.
        base: u64,
        /// Size.
        size: u64,
    },
    /// An allocation of a bare size in the arena, through the plain entry point
    /// ([`crate::vmem::Arena::alloc`]).
    AllocSize {
        /// Size.
        size: u64,
        /// The policy.
        policy: Policy,
    },
    /// A (constrained) allocation, through [`crate::vmem::Arena::xalloc`].
    Alloc {
        /// Which arena.
        level: Level,
        /// The request.
        req: Request,
        /// If set, one bound of `req` is replaced by this edge of the state when the op runs.
        edge: Option<Edge>,
        /// The policy.
        policy: Policy,
    },
    /// Exact-address allocation in the arena.
    AllocAt {
        /// Where.
        addr: AddrSel,
        /// Size.
        size: u64,
    },
    /// Free live allocation `handle` (modulo the live count) with its own size.
    Free {
        /// Handle.
        handle: u16,
    },
    /// Deliberately suspicious free: any address (double, interior, random), any size.
    FreeAt {
        /// Which arena.
        level: Level,
        /// Where.
        addr: AddrSel,
        /// Size given.
        size: u64,
    },
    /// Grow a span the caller added by `by` bytes at its end (op language version 3; only
    /// for an allocator that can, [`super::adapter::Caps::grows`]).
    GrowSpan {
        /// Which arena.
        level: Level,
        /// Which of the level's spans the caller added (modulo their number).
        span: u16,
        /// Bytes added.
        by: u64,
    },
}

/// The most constructor parameters a scenario draws ([`Scenario::params`], [`Param`]).
pub const MAX_PARAMS: usize = 4;

/// A scenario's parameter draws when it draws none (versions 1 and 2 of the op language).
pub const NO_PARAMS: [u64; MAX_PARAMS] = [0; MAX_PARAMS];

/// A named integer parameter of an allocator's constructor (a node count, a heap's
/// capacity): its value for a scenario is the scenario's draw `index` brought into
/// `min..=max` ([`Shape::param`]), so the generator explores it like any other input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    /// Its name (in traces).
    pub name: &'static str,
    /// Which of the scenario's draws it takes (below [`MAX_PARAMS`]; a larger index takes
    /// draw 0).
    pub index: usize,
    /// Smallest value.
    pub min: u64,
    /// Largest value (at least `min`; below it, `min` is the only value).
    pub max: u64,
}

impl Param {
    /// Its value for `draw`: `min + draw % (max - min + 1)` (u128: no wrap).
    pub fn value(&self, draw: u64) -> u64 {
        if self.max <= self.min {
            return self.min;
        }
        let span = u128::from(self.max - self.min) + 1;
        self.min + (u128::from(draw) % span) as u64
    }
}

/// How one level of a scenario's chain imports from the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportShape {
    /// log2 of the source's quantum (at most the importing level's).
    pub source_shift: u8,
    /// log2 of the importing level's import quantum (at least its own quantum).
    pub import_shift: u8,
}

/// A decoded vmem scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The draws of the allocator's constructor parameters ([`Param`]; all 0 before op
    /// language version 3).
    pub params: [u64; MAX_PARAMS],
    /// The address space.
    pub arch: Arch,
    /// log2 of the arena quantum.
    pub quantum_shift: u8,
    /// The chain below the arena: `imports[i]` is how level `i` imports from level `i + 1`,
    /// so the chain has `imports.len() + 1` levels (at most [`MAX_LEVELS`]); empty: the arena
    /// has no source.
    pub imports: Vec<ImportShape>,
    /// The ops, initial spans first.
    pub ops: Vec<Op>,
}

impl fmt::Display for AddrSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AddrSel::Raw(a) => write!(f, "{a:#x}"),
            AddrSel::Live { handle, offset } => write!(f, "live[{handle}]+{offset:#x}"),
            AddrSel::LiveEdge {
                handle,
                end,
                quanta,
            } => {
                let edge = if end { "end" } else { "start" };
                write!(f, "live[{handle}].{edge}")?;
                if quanta != 0 {
                    write!(f, "{quanta:+}q")?;
                }
                Ok(())
            }
            AddrSel::Freed { index } => write!(f, "freed[{index}]"),
            AddrSel::Span { index, offset } => write!(f, "span[{index}]+{offset:#x}"),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::AddSpan { level, base, size } => {
                write!(f, "add_span {} base={base:#x} size={size:#x}", level)
            }
            Op::AllocSize { size, policy } => {
                write!(f, "alloc arena size={size:#x} {}", policy.name())
            }
            Op::Alloc {
                level,
                req,
                edge,
                policy,
            } => {
                write!(
                    f,
                    "xalloc {} size={:#x} align={:#x} phase={:#x} nocross={:#x}",
                    level, req.size, req.align, req.phase, req.nocross,
                )?;
                match edge {
                    Some(
                        e @ Edge {
                            bound: Bound::Min, ..
                        },
                    ) => {
                        write!(f, " {e} max={:#x}", req.maxaddr)?;
                    }
                    Some(e) => write!(f, " min={:#x} {e}", req.minaddr)?,
                    None => write!(f, " min={:#x} max={:#x}", req.minaddr, req.maxaddr)?,
                }
                write!(f, " {}", policy.name())
            }
            Op::AllocAt { addr, size } => write!(f, "alloc_at addr={addr} size={size:#x}"),
            Op::Free { handle } => write!(f, "free live[{handle}]"),
            Op::FreeAt { level, addr, size } => {
                write!(f, "free_at {} addr={addr} size={size:#x}", level)
            }
            Op::GrowSpan { level, span, by } => {
                write!(f, "grow_span {level} span[{span}] by={by:#x}")
            }
        }
    }
}

impl Scenario {
    /// The arena's quantum.
    pub(super) fn quantum(&self) -> u64 {
        1u64 << self.quantum_shift
    }

    /// How many levels its chain has.
    pub(super) fn depth(&self) -> usize {
        self.imports.len() + 1
    }

    /// The first line of a trace: the scenario's shape and op count.
    fn header_line(&self) -> String {
        let mut s = format!(
            "vmem scenario: arch={} quantum={:#x}",
            self.arch,
            self.quantum()
        );
        for (i, source) in Level::first(self.depth()).skip(1).zip(&self.imports) {
            let _ = write!(
                s,
                " import({i} quantum={:#x}, import quantum={:#x})",
                1u64 << source.source_shift,
                1u64 << source.import_shift
            );
        }
        if self.imports.is_empty() {
            s.push_str(" no-import");
        }
        if self.params != NO_PARAMS {
            let _ = write!(s, " params={:#x?}", self.params);
        }
        let _ = write!(s, " ops={}", self.ops.len());
        s
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.header_line())?;
        for (i, op) in self.ops.iter().enumerate() {
            writeln!(f, "  #{i} {op}")?;
        }
        Ok(())
    }
}

/// The quanta of one level of a [`Shape`]'s chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelQuanta {
    /// The level's quantum (a power of two, a multiple of the next level's).
    pub quantum: u64,
    /// What it rounds imports from the next level up to (its quantum at the deepest level).
    pub import_quantum: u64,
}

/// What a scenario asks of the allocator under test, so that an adapter can build one to
/// fit ([`crate::harness::run_range_allocator`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// The address space.
    pub arch: Arch,
    /// The arena's quantum (a power of two; `levels[0].quantum`).
    pub quantum: u64,
    /// How many levels the chain has, 1 to [`MAX_LEVELS`] (an allocator with fewer says so
    /// in [`super::adapter::Caps::levels`], and the ops at the levels it lacks are skipped).
    pub depth: usize,
    /// Each level's quanta, the arena first; those past `depth` are 1.
    pub levels: [LevelQuanta; MAX_LEVELS],
    /// The scenario's draws for the allocator's constructor parameters ([`Shape::param`]).
    pub params: [u64; MAX_PARAMS],
}

impl Shape {
    /// The quanta of the levels the chain has.
    pub fn chain(&self) -> &[LevelQuanta] {
        &self.levels[..self.depth]
    }

    /// The value of constructor parameter `p` for this scenario.
    pub fn param(&self, p: &Param) -> u64 {
        p.value(self.params.get(p.index).copied().unwrap_or(self.params[0]))
    }
}

impl Scenario {
    /// The shape of the allocator this scenario drives.
    pub fn shape(&self) -> Shape {
        let mut levels = [LevelQuanta {
            quantum: 1,
            import_quantum: 1,
        }; MAX_LEVELS];
        let mut shift = self.quantum_shift;
        for (i, level) in levels.iter_mut().take(self.depth()).enumerate() {
            let next = self.imports.get(i);
            *level = LevelQuanta {
                quantum: 1u64 << shift,
                import_quantum: 1u64 << next.map_or(shift, |s| s.import_shift),
            };
            shift = next.map_or(shift, |s| s.source_shift);
        }
        Shape {
            arch: self.arch,
            quantum: self.quantum(),
            depth: self.depth(),
            levels,
            params: self.params,
        }
    }
}

impl Case for Scenario {
    fn decode(data: &[u8]) -> Scenario {
        codec::read_scenario(data)
    }

    fn encode(&self) -> Vec<u8> {
        codec::write_scenario(self)
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
        let stack = VmemStack::new(&self.shape(), bugs)
            .map_err(|msg| setup_finding(super::VmemTarget::NAME, msg))?;
        self.execute_on(stack, trace)
    }
}
