//! The `vmem` target: scenarios of span, allocation and free operations on a two-level
//! vmem stack (an arena importing from a source arena), judged by
//! `kvafuzz_oracles::vmem::ArenaModel` after every op.
//!
//! ## Decoding
//!
//! Header: architecture, quantum (1 byte to 1 GiB, biased to 1 byte and 4 KiB), whether the
//! arena imports from a populated source (and the source and import quanta), swarm toggles,
//! and the number of initial spans. Then ops until the bytes run out or [`super::MAX_OPS`].
//! Every numeric field is read through a *selector*: a tag byte picks a family of interesting
//! values (a few quanta, a power of two, the very top of the space, just below the x86_64
//! canonical hole, values that wrap when rounded, zero) and the last tag of every selector
//! means "raw value follows", which is what [`Scenario::encode`] writes.
//!
//! Addresses and request bounds can also name a point of the state, resolved when the op
//! runs: an address is a live allocation's, a freed one's or a span's start plus an offset,
//! or a live allocation's start or end give or take two quanta ([`AddrSel`]); a request's
//! minaddr or maxaddr can sit at an [`Edge`] (a live allocation's or a span's start or end,
//! give or take two quanta and a byte). Random bounds almost never
//! land on a segment's edge, where an inclusive bound read as exclusive changes the answer:
//! with edges the campaign finds the seeded `maxaddr-exclusive` bug after a geometric mean of
//! 56 k ops over seeds 1 to 8, against 807 k with raw bounds alone.

use std::cell::RefCell;
use std::fmt::{self, Write as _};

use kvafuzz_oracles::vmem::{
    AllocErrorKind, ArenaModel, Mismatch as Verdict, Request as ORequest, Space,
};

use super::adapter::{oracle_policy, Caps, Level, RangeAllocator, VmemStack};
use super::codec::{Decoder, Encoder};
use super::drive::{drive, setup_finding, Machine};
use super::{BugSet, Case, Finding, Mismatch, Stats, Target, MAX_OPS};
use crate::addr::{Arch, ALL_ARCHES};
use crate::vmem::{Policy, Request, ALL_POLICIES};

/// Quantum shifts a header byte picks from (1 byte and 4 KiB are the common cases).
const QUANTUM_SHIFTS: [u8; 16] = [0, 0, 0, 0, 2, 3, 4, 6, 8, 12, 12, 12, 12, 16, 21, 30];

/// The most spans a header asks for, per level.
const MAX_INITIAL_SPANS: u8 = 4;

/// How many freed allocations are remembered for double frees.
const FREED_MEMORY: usize = 16;

/// Op kinds, as the swarm mask numbers them.
const KINDS: u8 = 8;

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
}

/// Import configuration of a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportShape {
    /// log2 of the source's quantum (at most the arena's).
    pub source_shift: u8,
    /// log2 of the import quantum (at least the arena's).
    pub import_shift: u8,
}

/// A decoded vmem scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The address space.
    pub arch: Arch,
    /// log2 of the arena quantum.
    pub quantum_shift: u8,
    /// `Some` iff the arena imports from a populated source.
    pub import: Option<ImportShape>,
    /// The ops, initial spans first.
    pub ops: Vec<Op>,
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Arena => "arena",
        Level::Source => "source",
    }
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
                write!(
                    f,
                    "add_span {} base={base:#x} size={size:#x}",
                    level_name(level)
                )
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
                    level_name(level),
                    req.size,
                    req.align,
                    req.phase,
                    req.nocross,
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
                write!(
                    f,
                    "free_at {} addr={addr} size={size:#x}",
                    level_name(level)
                )
            }
        }
    }
}

impl Scenario {
    fn quantum(&self) -> u64 {
        1u64 << self.quantum_shift
    }

    fn header_line(&self) -> String {
        let mut s = format!(
            "vmem scenario: arch={} quantum={:#x}",
            self.arch,
            self.quantum()
        );
        match self.import {
            Some(i) => {
                let _ = write!(
                    s,
                    " import(source quantum={:#x}, import quantum={:#x})",
                    1u64 << i.source_shift,
                    1u64 << i.import_shift
                );
            }
            None => s.push_str(" no-import"),
        }
        let _ = write!(s, " ops={}", self.ops.len());
        s
    }

    fn source_quantum(&self) -> u64 {
        self.import.map_or(1, |i| 1u64 << i.source_shift)
    }

    fn import_quantum(&self) -> u64 {
        self.import
            .map_or(self.quantum(), |i| 1u64 << i.import_shift)
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

// ---- selectors ---------------------------------------------------------------------------

/// Values the decoder draws from; fixed per scenario.
struct Ctx {
    arch: Arch,
    q: u64,
}

impl Ctx {
    fn top(&self) -> u64 {
        self.arch.max_addr()
    }

    fn size(&self, d: &mut Decoder) -> u64 {
        let q = self.q;
        match d.below(12) {
            0..=3 => (u64::from(d.u8() % 16) + 1).saturating_mul(q),
            4 | 5 => (u64::from(d.u16()) + 1).saturating_mul(q),
            6 => 1u64 << (d.u8() % 64),
            7 => (1u64 << (d.u8() % 64)).wrapping_add(q),
            8 => self.top().wrapping_sub(u64::from(d.u8()).wrapping_mul(q)),
            9 => u64::MAX - u64::from(d.u8()),
            10 => 0,
            _ => d.u64(),
        }
    }

    fn base(&self, d: &mut Decoder, size: u64) -> u64 {
        let q = self.q;
        let a = self.arch;
        match d.below(10) {
            0 => 0,
            1 => u64::from(d.u16()).wrapping_mul(q).wrapping_mul(16),
            2 => a
                .max_addr()
                .wrapping_sub(size)
                .wrapping_add(1)
                .wrapping_sub(u64::from(d.u8()).wrapping_mul(q)),
            3 => a
                .lower_half_last()
                .wrapping_sub(size)
                .wrapping_add(1)
                .wrapping_sub(u64::from(d.u8()).wrapping_mul(q)),
            4 => a
                .upper_half_start()
                .unwrap_or(0x8000_0000)
                .wrapping_add(u64::from(d.u16()).wrapping_mul(q)),
            5..=8 => u64::from(d.u32()).wrapping_mul(q),
            _ => d.u64(),
        }
    }

    fn offset(&self, d: &mut Decoder) -> u64 {
        match d.below(4) {
            0 => 0,
            1 | 2 => u64::from(d.u16()).wrapping_mul(self.q),
            _ => d.u64(),
        }
    }

    fn addr(&self, d: &mut Decoder) -> AddrSel {
        match d.below(8) {
            0 | 1 => AddrSel::Span {
                index: d.u16(),
                offset: self.offset(d),
            },
            2 | 3 => AddrSel::Live {
                handle: d.u16(),
                offset: self.offset(d),
            },
            4 => AddrSel::LiveEdge {
                end: d.u8() & 1 == 1,
                handle: d.u16(),
                quanta: Ctx::edge_quanta(d),
            },
            5 | 6 => AddrSel::Freed { index: d.u16() },
            _ => AddrSel::Raw(d.u64()),
        }
    }

    /// A request, and the edge that replaces one of its bounds (bounds tag [`EDGE_BOUNDS`]).
    fn request(&self, d: &mut Decoder) -> (Request, Option<Edge>) {
        let q = self.q;
        let size = self.size(d);
        let align = match d.below(5) {
            0 | 1 => 0,
            2 | 3 => q.checked_shl(u32::from(d.u8() % 24)).unwrap_or(0),
            _ => d.u64(),
        };
        let eff = if align == 0 { q } else { align };
        let phase = match d.below(5) {
            0 | 1 => 0,
            2 | 3 => u64::from(d.u16()).wrapping_mul(q) % eff.max(1),
            _ => d.u64(),
        };
        let nocross = match d.below(5) {
            0 | 1 => 0,
            2 | 3 => size
                .checked_next_power_of_two()
                .and_then(|p| p.checked_shl(u32::from(d.u8() % 4)))
                .unwrap_or(0),
            _ => d.u64(),
        };
        let mut edge = None;
        let (minaddr, maxaddr) = match d.below(5) {
            0 => (0, u64::MAX),
            EDGE_BOUNDS => {
                let (e, other) = Ctx::edge(d);
                edge = Some(e);
                match (e.bound, other) {
                    (Bound::Min, Some(max)) => (0, max),
                    (Bound::Max, Some(min)) => (min, u64::MAX),
                    _ => (0, u64::MAX),
                }
            }
            2 => (u64::from(d.u32()).wrapping_mul(q), u64::MAX),
            3 => (
                0,
                self.top().wrapping_sub(u64::from(d.u16()).wrapping_mul(q)),
            ),
            _ => (d.u64(), d.u64()),
        };
        let req = Request {
            size,
            align,
            phase,
            nocross,
            minaddr,
            maxaddr,
        };
        (req, edge)
    }

    /// A number of quanta in `-EDGE_QUANTA..=EDGE_QUANTA` (one byte).
    fn edge_quanta(d: &mut Decoder) -> i8 {
        (d.u8() % (2 * EDGE_QUANTA as u8 + 1)) as i8 - EDGE_QUANTA
    }

    /// An [`Edge`]: bound, point kind, index, quanta, byte (what [`enc_edge`] writes).
    /// An [`Edge`], and the request's other bound if the flags byte says a raw one follows
    /// (else it is the default: minaddr 0, maxaddr `u64::MAX`).
    fn edge(d: &mut Decoder) -> (Edge, Option<u64>) {
        let flags = d.u8();
        let bound = if flags & 1 == 0 {
            Bound::Min
        } else {
            Bound::Max
        };
        let other = (flags & 2 != 0).then(|| d.u64());
        let kind = d.below(4);
        let i = d.u16();
        let at = match kind {
            0 => EdgeAt::LiveStart(i),
            1 => EdgeAt::LiveEnd(i),
            2 => EdgeAt::SpanStart(i),
            _ => EdgeAt::SpanEnd(i),
        };
        let quanta = Ctx::edge_quanta(d);
        let byte = (d.u8() % 3) as i8 - 1;
        let edge = Edge {
            bound,
            at,
            quanta,
            byte,
        };
        (edge, other)
    }

    fn policy(d: &mut Decoder) -> Policy {
        ALL_POLICIES[usize::from(d.below(4))]
    }
}

// ---- encoding (raw tags only) ------------------------------------------------------------

const RAW_SIZE: u8 = 11;
const RAW_BASE: u8 = 9;
const RAW_OFFSET: u8 = 3;
const RAW_FIELD: u8 = 4;
/// The request-bounds tag that reads an [`Edge`].
const EDGE_BOUNDS: u8 = 1;

/// Writes `edge` for a request whose other bound is `other` (raw only if not the default).
/// Quanta and bytes beyond what an edge holds are clamped (the decoder never makes them).
fn enc_edge(e: &mut Encoder, edge: &Edge, other: u64) {
    e.u8(EDGE_BOUNDS);
    let default = match edge.bound {
        Bound::Min => u64::MAX,
        Bound::Max => 0,
    };
    let raw = other != default;
    e.u8(u8::from(edge.bound == Bound::Max) | if raw { 2 } else { 0 });
    if raw {
        e.u64(other);
    }
    let (kind, i) = match edge.at {
        EdgeAt::LiveStart(i) => (0, i),
        EdgeAt::LiveEnd(i) => (1, i),
        EdgeAt::SpanStart(i) => (2, i),
        EdgeAt::SpanEnd(i) => (3, i),
    };
    e.u8(kind);
    e.u16(i);
    enc_quanta(e, edge.quanta);
    e.u8((edge.byte.clamp(-1, 1) + 1) as u8);
}

/// What [`Ctx::edge_quanta`] reads back as `quanta` (clamped to [`EDGE_QUANTA`]).
fn enc_quanta(e: &mut Encoder, quanta: i8) {
    e.u8((quanta.clamp(-EDGE_QUANTA, EDGE_QUANTA) + EDGE_QUANTA) as u8);
}

fn enc_addr(e: &mut Encoder, a: &AddrSel) {
    match *a {
        AddrSel::Span { index, offset } => {
            e.u8(0);
            e.u16(index);
            e.u8(RAW_OFFSET);
            e.u64(offset);
        }
        AddrSel::Live { handle, offset } => {
            e.u8(3);
            e.u16(handle);
            e.u8(RAW_OFFSET);
            e.u64(offset);
        }
        AddrSel::LiveEdge {
            handle,
            end,
            quanta,
        } => {
            e.u8(4);
            e.u8(u8::from(end));
            e.u16(handle);
            enc_quanta(e, quanta);
        }
        AddrSel::Freed { index } => {
            e.u8(5);
            e.u16(index);
        }
        AddrSel::Raw(v) => {
            e.u8(7);
            e.u64(v);
        }
    }
}

fn enc_size(e: &mut Encoder, v: u64) {
    e.u8(RAW_SIZE);
    e.u64(v);
}

fn enc_policy(e: &mut Encoder, p: Policy) {
    e.u8(ALL_POLICIES.iter().position(|&x| x == p).unwrap_or(0) as u8);
}

// Op kind numbers (the swarm mask uses the same numbering).
const K_ADD_SPAN: u8 = 0;
const K_ALLOC: u8 = 1;
const K_XALLOC: u8 = 2;
const K_ALLOC_AT: u8 = 3;
const K_FREE: u8 = 4;
const K_FREE2: u8 = 5;
const K_FREE_AT: u8 = 6;
const K_SOURCE: u8 = 7;

impl Case for Scenario {
    fn decode(data: &[u8]) -> Scenario {
        let mut d = Decoder::new(data);
        let arch = ALL_ARCHES[usize::from(d.below(4))];
        let quantum_shift = QUANTUM_SHIFTS[usize::from(d.below(16))];
        let flags = d.u8();
        let import = (flags & 1 == 1).then(|| ImportShape {
            source_shift: quantum_shift.saturating_sub((flags >> 1) % 4),
            import_shift: (quantum_shift + (flags >> 3) % 5).min(62),
        });
        let swarm = match d.u8() {
            0 => u8::MAX,
            m => m,
        };
        let ctx = Ctx {
            arch,
            q: 1u64 << quantum_shift,
        };
        let spans = d.u8();
        let mut ops = Vec::new();
        let levels: &[Level] = if import.is_some() {
            &[Level::Arena, Level::Source]
        } else {
            &[Level::Arena]
        };
        for (i, &level) in levels.iter().enumerate() {
            let n = (spans >> (4 * i)) % (MAX_INITIAL_SPANS + 1);
            for _ in 0..n {
                let size = ctx.size(&mut d);
                let base = ctx.base(&mut d, size);
                ops.push(Op::AddSpan { level, base, size });
            }
        }
        while !d.is_empty() && ops.len() < MAX_OPS {
            let mut kind = d.below(KINDS);
            while swarm & (1 << kind) == 0 {
                kind = (kind + 1) % KINDS;
            }
            let op = match kind {
                K_ADD_SPAN => {
                    let size = ctx.size(&mut d);
                    let base = ctx.base(&mut d, size);
                    Op::AddSpan {
                        level: Level::Arena,
                        base,
                        size,
                    }
                }
                K_ALLOC => Op::AllocSize {
                    size: ctx.size(&mut d),
                    policy: Ctx::policy(&mut d),
                },
                K_XALLOC => {
                    let (req, edge) = ctx.request(&mut d);
                    Op::Alloc {
                        level: Level::Arena,
                        req,
                        edge,
                        policy: Ctx::policy(&mut d),
                    }
                }
                K_ALLOC_AT => Op::AllocAt {
                    addr: ctx.addr(&mut d),
                    size: ctx.size(&mut d),
                },
                K_FREE | K_FREE2 => Op::Free { handle: d.u16() },
                K_FREE_AT => Op::FreeAt {
                    level: Level::Arena,
                    addr: ctx.addr(&mut d),
                    size: ctx.size(&mut d),
                },
                _ => {
                    // Source ops (without import: arena ops of the same shape).
                    let level = if import.is_some() {
                        Level::Source
                    } else {
                        Level::Arena
                    };
                    match d.below(3) {
                        0 => {
                            let size = ctx.size(&mut d);
                            let base = ctx.base(&mut d, size);
                            Op::AddSpan { level, base, size }
                        }
                        1 => {
                            let (req, edge) = ctx.request(&mut d);
                            Op::Alloc {
                                level,
                                req,
                                edge,
                                policy: Ctx::policy(&mut d),
                            }
                        }
                        _ => Op::FreeAt {
                            level,
                            addr: ctx.addr(&mut d),
                            size: ctx.size(&mut d),
                        },
                    }
                }
            };
            ops.push(op);
        }
        Scenario {
            arch,
            quantum_shift,
            import,
            ops,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u8(ALL_ARCHES.iter().position(|&a| a == self.arch).unwrap_or(0) as u8);
        e.u8(QUANTUM_SHIFTS
            .iter()
            .position(|&s| s == self.quantum_shift)
            .unwrap_or(0) as u8);
        let flags = match self.import {
            None => 0,
            Some(i) => {
                1 | ((self.quantum_shift - i.source_shift) << 1)
                    | ((i.import_shift - self.quantum_shift) << 3)
            }
        };
        e.u8(flags);
        e.u8(0); // swarm: everything on (ops are written with their final kinds)
        e.u8(0); // no initial spans: they are ordinary AddSpan ops below
        for op in &self.ops {
            match *op {
                Op::AddSpan { level, base, size } => {
                    if level == Level::Source {
                        e.u8(K_SOURCE);
                        e.u8(0);
                    } else {
                        e.u8(K_ADD_SPAN);
                    }
                    enc_size(&mut e, size);
                    e.u8(RAW_BASE);
                    e.u64(base);
                }
                Op::Alloc {
                    level,
                    req,
                    edge,
                    policy,
                } => {
                    if level == Level::Source {
                        e.u8(K_SOURCE);
                        e.u8(1);
                    } else {
                        e.u8(K_XALLOC);
                    }
                    enc_size(&mut e, req.size);
                    for v in [req.align, req.phase, req.nocross] {
                        e.u8(RAW_FIELD);
                        e.u64(v);
                    }
                    match edge {
                        // The edge's bound replaces the request's; the other stays as the
                        // decoder sets it next to an edge (min 0, max the top).
                        Some(edge) => {
                            let other = match edge.bound {
                                Bound::Min => req.maxaddr,
                                Bound::Max => req.minaddr,
                            };
                            enc_edge(&mut e, &edge, other);
                        }
                        None => {
                            e.u8(RAW_FIELD);
                            e.u64(req.minaddr);
                            e.u64(req.maxaddr);
                        }
                    }
                    enc_policy(&mut e, policy);
                }
                Op::AllocSize { size, policy } => {
                    e.u8(K_ALLOC);
                    enc_size(&mut e, size);
                    enc_policy(&mut e, policy);
                }
                Op::AllocAt { addr, size } => {
                    e.u8(K_ALLOC_AT);
                    enc_addr(&mut e, &addr);
                    enc_size(&mut e, size);
                }
                Op::Free { handle } => {
                    e.u8(K_FREE);
                    e.u16(handle);
                }
                Op::FreeAt { level, addr, size } => {
                    if level == Level::Source {
                        e.u8(K_SOURCE);
                        e.u8(2);
                    } else {
                        e.u8(K_FREE_AT);
                    }
                    enc_addr(&mut e, &addr);
                    enc_size(&mut e, size);
                }
            }
        }
        e.finish()
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
        let stack = VmemStack::new(
            self.arch,
            self.quantum(),
            self.import_quantum(),
            self.source_quantum(),
            bugs,
        )
        .map_err(|msg| setup_finding(VmemTarget::NAME, msg))?;
        self.execute_on(stack, trace)
    }
}

/// What a scenario asks of the allocator under test, so that an adapter can build one to
/// fit ([`crate::harness::run_range_allocator`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// The address space.
    pub arch: Arch,
    /// The arena's quantum (a power of two).
    pub quantum: u64,
    /// Whether the scenario gives the arena a source to import from (an allocator without
    /// one says so in [`Caps::import`], and the source ops are skipped).
    pub has_source: bool,
    /// The source's quantum (1 without a source).
    pub source_quantum: u64,
    /// The arena's import quantum (the arena quantum without a source).
    pub import_quantum: u64,
}

impl Scenario {
    /// The shape of the allocator this scenario drives.
    pub fn shape(&self) -> Shape {
        Shape {
            arch: self.arch,
            quantum: self.quantum(),
            has_source: self.import.is_some(),
            source_quantum: self.source_quantum(),
            import_quantum: self.import_quantum(),
        }
    }

    /// Runs this scenario on `alloc`, any [`RangeAllocator`] built for [`Scenario::shape`],
    /// against the interval model, checking after every op (what [`Case::execute`] does
    /// for the production stack).
    pub fn execute_on<A: RangeAllocator>(
        &self,
        alloc: A,
        trace: Option<&mut String>,
    ) -> Result<Stats, Finding> {
        let space = Space {
            top: self.arch.max_addr(),
            canonical_bits: match self.arch {
                Arch::Ia32 | Arch::Pae => None,
                a => Some(a.va_bits()),
            },
        };
        let model = ArenaModel::with_source(
            self.quantum(),
            self.import_quantum(),
            space,
            ArenaModel::new(self.source_quantum(), space),
        );
        let mut executor = Executor::new(alloc, model);
        drive(VmemTarget::NAME, &mut executor, &self.ops, trace)
    }
}

// ---- execution ------------------------------------------------------------------------------

/// A live allocation the scenario can refer to by handle.
#[derive(Clone, Copy, Debug)]
struct Live {
    level: Level,
    addr: u64,
    size: u64,
}

/// Steps any [`RangeAllocator`] through a scenario with the model (see [`drive`]).
pub struct Executor<A: RangeAllocator> {
    alloc: A,
    caps: Caps,
    model: ArenaModel,
    live: Vec<Live>,
    freed: Vec<Live>,
    stats: Stats,
    /// Per level, the spans as of the last check: after each op `contains` is asked at the
    /// edges of every span that came or went since, and of one other span in turn.
    probed: RefCell<[Vec<(u64, u64, bool)>; 2]>,
}

/// Whether `actual` is the outcome `expected`: equal, or (untyped errors) both refusals.
fn agrees<T: PartialEq, E: PartialEq>(
    typed: bool,
    expected: &Result<T, E>,
    actual: &Result<T, E>,
) -> bool {
    expected == actual || (!typed && expected.is_err() && actual.is_err())
}

fn oreq(r: &Request) -> ORequest {
    ORequest {
        size: r.size,
        align: r.align,
        phase: r.phase,
        nocross: r.nocross,
        minaddr: r.minaddr,
        maxaddr: r.maxaddr,
    }
}

impl<A: RangeAllocator> Machine for Executor<A> {
    type Op = Op;

    fn step(&mut self, op: &Op) -> Result<String, Mismatch> {
        self.execute_op(op)
    }

    fn check_invariants(&self) -> Result<(), (String, String)> {
        self.alloc.check_invariants()
    }

    fn compare_state(&self) -> Result<(), String> {
        self.compare_levels()
    }

    fn stats(&self) -> Stats {
        self.stats
    }

    fn summary(&self) -> String {
        format!("{} live at the end", self.live.len())
    }
}

impl<A: RangeAllocator> Executor<A> {
    /// An executor of `alloc` against `model` (a model with a source model).
    pub fn new(alloc: A, model: ArenaModel) -> Self {
        Executor {
            caps: alloc.caps(),
            alloc,
            model,
            live: Vec::new(),
            freed: Vec::new(),
            stats: Stats::default(),
            probed: RefCell::default(),
        }
    }

    fn model_at(&mut self, level: Level) -> &mut ArenaModel {
        match level {
            Level::Arena => &mut self.model,
            Level::Source => self
                .model
                .source_mut()
                .expect("models are built with a source"),
        }
    }

    fn resolve(&self, level: Level, sel: AddrSel) -> u64 {
        match sel {
            AddrSel::Raw(a) => a,
            AddrSel::Live { handle, offset } => {
                let n = self.live.len();
                if n == 0 {
                    offset
                } else {
                    self.live[usize::from(handle) % n].addr.wrapping_add(offset)
                }
            }
            AddrSel::LiveEdge {
                handle,
                end,
                quanta,
            } => match self.live.len() {
                0 => 0,
                n => {
                    let l = &self.live[usize::from(handle) % n];
                    let point = if end { self.end_of(l) } else { l.addr };
                    point.wrapping_add(
                        (i64::from(quanta) as u64).wrapping_mul(self.quantum_of(l.level)),
                    )
                }
            },
            AddrSel::Freed { index } => {
                let n = self.freed.len();
                if n == 0 {
                    0
                } else {
                    self.freed[usize::from(index) % n].addr
                }
            }
            AddrSel::Span { index, offset } => {
                let spans = self.alloc.spans(level);
                if spans.is_empty() {
                    offset
                } else {
                    spans[usize::from(index) % spans.len()]
                        .0
                        .wrapping_add(offset)
                }
            }
        }
    }

    /// The value of request bound `e` now (module [`Edge`]).
    fn resolve_edge(&self, level: Level, e: Edge) -> u64 {
        let point = match e.at {
            EdgeAt::LiveStart(h) | EdgeAt::LiveEnd(h) => match self.live.len() {
                0 => 0,
                n => {
                    let l = &self.live[usize::from(h) % n];
                    match e.at {
                        EdgeAt::LiveStart(_) => l.addr,
                        _ => self.end_of(l),
                    }
                }
            },
            EdgeAt::SpanStart(i) | EdgeAt::SpanEnd(i) => {
                let spans = self.alloc.spans(level);
                match spans.len() {
                    0 => 0,
                    n => {
                        let (start, last, _) = spans[usize::from(i) % n];
                        match e.at {
                            EdgeAt::SpanStart(_) => start,
                            _ => last.wrapping_add(1),
                        }
                    }
                }
            }
        };
        point
            .wrapping_add((i64::from(e.quanta) as u64).wrapping_mul(self.quantum_of(level)))
            .wrapping_add(i64::from(e.byte) as u64)
    }

    /// The quantum of `level`.
    fn quantum_of(&self, level: Level) -> u64 {
        match level {
            Level::Arena => self.model.quantum(),
            Level::Source => self.model.source().map_or(1, ArenaModel::quantum),
        }
    }

    /// One past the last address of live allocation `l` (its size rounded up to its level's
    /// quantum; wrapping at the top).
    fn end_of(&self, l: &Live) -> u64 {
        let q = u128::from(self.quantum_of(l.level));
        let size = u128::from(l.size).div_ceil(q) * q;
        (u128::from(l.addr) + size) as u64
    }

    fn count<T, E>(&mut self, r: &Result<T, E>) {
        self.stats.count(r.is_ok());
    }

    /// An allocation at `level` (`plain`: through [`RangeAllocator::alloc_size`], the entry
    /// point for a bare size; else [`RangeAllocator::alloc`] with `req`, whose bound `edge`
    /// replaces, if set), judged by the model.
    fn execute_alloc(
        &mut self,
        level: Level,
        req: Request,
        edge: Option<Edge>,
        policy: Policy,
        plain: bool,
    ) -> Result<String, Mismatch> {
        let caps = self.caps;
        if level == Level::Source && !caps.import {
            return Ok("skipped (no source)".into());
        }
        let mut req = if caps.constraints {
            req
        } else {
            Request::size(req.size)
        };
        let mut out = String::new();
        if let (Some(e), true) = (edge, caps.constraints) {
            let v = self.resolve_edge(level, e);
            match e.bound {
                Bound::Min => req.minaddr = v,
                Bound::Max => req.maxaddr = v,
            }
            let _ = write!(out, "({} {v:#x}) ", e.bound.field());
        }
        let before = if level == Level::Arena {
            self.alloc.spans(Level::Arena)
        } else {
            Vec::new()
        };
        let actual = if plain {
            self.alloc.alloc_size(req.size, policy)
        } else {
            self.alloc.alloc(level, &req, policy)
        };
        self.count(&actual);
        let imported: Vec<(u64, u64)> = if level == Level::Arena {
            self.alloc
                .spans(Level::Arena)
                .into_iter()
                .filter(|s| s.2 && !before.contains(s))
                .map(|(s, l, _)| (s, l))
                .collect()
        } else {
            Vec::new()
        };
        let opolicy = if caps.policy_contracts {
            oracle_policy(policy)
        } else {
            oracle_policy(Policy::InstantFit)
        };
        // An untyped refusal is judged as the error the oracle predicts, or as "no space".
        let judged = match actual {
            Err(_) if !caps.typed_errors => Err(
                match self.model_at(level).predict_alloc(&oreq(&req), opolicy) {
                    Err(k) => k,
                    Ok(_) => AllocErrorKind::NoSpace,
                },
            ),
            a => a,
        };
        if !caps.complete && judged == Err(AllocErrorKind::NoSpace) {
            if let Ok(p) = self.model_at(level).predict_alloc(&oreq(&req), opolicy) {
                let _ = write!(out, "refused although {p:#x} was free (not complete): ");
            }
        }
        self.model_at(level)
            .judge_alloc_with(&oreq(&req), opolicy, &imported, judged, caps.complete)
            .map_err(|v| {
                let check = format!("alloc {}", level_name(level));
                from_verdict(check, v, format!("{actual:x?}"))
            })?;
        if let Ok(addr) = actual {
            self.live.push(Live {
                level,
                addr,
                size: req.size,
            });
        }
        let _ = write!(out, "{actual:x?}");
        for (s, l) in imported {
            let _ = write!(out, " (imported [{s:#x}, {l:#x}])");
        }
        Ok(out)
    }

    /// Executes one op and judges it; returns the outcome text for the trace.
    fn execute_op(&mut self, op: &Op) -> Result<String, Mismatch> {
        let caps = self.caps;
        match *op {
            Op::AddSpan { level, base, size } => {
                if level == Level::Source && !caps.import {
                    return Ok("skipped (no source)".into());
                }
                // An arena and its source own disjoint addresses (the caller's contract):
                // a span overlapping the other level's spans is not a valid program.
                let other = match level {
                    Level::Arena => self.model_at(Level::Source).spans(),
                    Level::Source => self.model_at(Level::Arena).spans(),
                };
                let last = (u128::from(base) + u128::from(size)).saturating_sub(1);
                if size > 0
                    && other.iter().any(|&(s, l, _)| {
                        u128::from(s) <= last && u128::from(base) <= u128::from(l)
                    })
                {
                    return Ok("skipped (overlaps the other level's spans)".into());
                }
                let expected = self.model_at(level).predict_add_span(base, size);
                let actual = self.alloc.add_span(level, base, size);
                self.count(&actual);
                if !agrees(caps.typed_errors, &expected, &actual) {
                    return Err(Mismatch::new(
                        format!("add_span {} {base:#x} size {size:#x}", level_name(level)),
                        format!("{expected:x?}"),
                        format!("{actual:x?}"),
                    ));
                }
                if actual.is_ok() {
                    self.model_at(level).add_span(base, size);
                }
                Ok(format!("{actual:x?}"))
            }
            Op::AllocSize { size, policy } => {
                self.execute_alloc(Level::Arena, Request::size(size), None, policy, true)
            }
            Op::Alloc {
                level,
                req,
                edge,
                policy,
            } => self.execute_alloc(level, req, edge, policy, false),
            Op::AllocAt { addr, size } => {
                if !caps.exact {
                    return Ok("skipped (no exact allocation)".into());
                }
                let addr = self.resolve(Level::Arena, addr);
                let actual = self.alloc.alloc_at(addr, size);
                self.count(&actual);
                let expected = self.model.predict_alloc_at(addr, size);
                let judged = match (actual, expected) {
                    // Untyped: an error where one is due is that error.
                    (Err(_), Err(k)) if !caps.typed_errors => Err(k),
                    // Not complete: a refusal of a free range changes nothing.
                    (Err(_), Ok(_)) if !caps.complete => {
                        return Ok(format!("at {addr:#x}: {actual:x?} (not complete)"));
                    }
                    (a, _) => a,
                };
                self.model.judge_alloc_at(addr, size, judged).map_err(|v| {
                    let check = format!("alloc_at {addr:#x} size {size:#x}");
                    from_verdict(check, v, format!("{actual:x?}"))
                })?;
                if let Ok(a) = actual {
                    self.live.push(Live {
                        level: Level::Arena,
                        addr: a,
                        size,
                    });
                }
                Ok(format!("at {addr:#x}: {actual:x?}"))
            }
            Op::Free { handle } => {
                if self.live.is_empty() {
                    return Ok("nothing live".into());
                }
                let l = self.live[usize::from(handle) % self.live.len()];
                self.free(l.level, l.addr, l.size)
            }
            Op::FreeAt { level, addr, size } => {
                if !caps.checked_free || (level == Level::Source && !caps.import) {
                    return Ok("skipped".into());
                }
                let addr = self.resolve(level, addr);
                // The arena's imported spans are the arena's to release, not the caller's:
                // the source cannot tell them from any other allocation of its own.
                if level == Level::Source
                    && self
                        .model
                        .spans()
                        .iter()
                        .any(|&(s, _, imported)| imported && s == addr)
                {
                    return Ok("skipped (span imported by the arena)".into());
                }
                self.free(level, addr, size)
            }
        }
    }

    fn free(&mut self, level: Level, addr: u64, size: u64) -> Result<String, Mismatch> {
        let expected = self.model_at(level).predict_free(addr, size);
        let actual = self.alloc.free(level, addr, size);
        self.count(&actual);
        if !agrees(self.caps.typed_errors, &expected, &actual) {
            return Err(Mismatch::new(
                format!("free {} {addr:#x} size {size:#x}", level_name(level)),
                format!("{expected:x?}"),
                format!("{actual:x?}"),
            ));
        }
        if actual.is_ok() {
            self.model_at(level).free(addr);
            if let Some(i) = self
                .live
                .iter()
                .position(|l| l.level == level && l.addr == addr)
            {
                let l = self.live.remove(i);
                if self.freed.len() == FREED_MEMORY {
                    self.freed.remove(0);
                }
                self.freed.push(l);
            }
        }
        Ok(format!("free {addr:#x} size {size:#x}: {actual:x?}"))
    }

    /// The allocator's spans and allocations, level by level, equal the model's.
    fn compare_levels(&self) -> Result<(), String> {
        let src = self.model.source().expect("models are built with a source");
        for (level, model) in [(Level::Arena, &self.model), (Level::Source, src)] {
            let (s, ms) = (self.alloc.spans(level), model.spans());
            if s != ms {
                return Err(format!(
                    "{} spans: allocator {}, model {}",
                    level_name(level),
                    first_difference(&s, &ms),
                    first_difference(&ms, &s)
                ));
            }
            let (a, ma) = (self.alloc.allocated(level), model.live());
            if a != ma {
                return Err(format!(
                    "{} allocations: allocator has {}, model has {}",
                    level_name(level),
                    first_difference(&a, &ma),
                    first_difference(&ma, &a)
                ));
            }
            let accounted: u128 = a.iter().map(|&(s, l)| u128::from(l - s) + 1).sum();
            if accounted != model.in_use() || model.total() < accounted {
                return Err(format!("{} accounting", level_name(level)));
            }
            if let Some(c) = self.alloc.counts(level) {
                let mc = model.counts();
                if c != mc {
                    return Err(format!(
                        "{} counts: allocator {c:x?}, model {mc:x?}",
                        level_name(level)
                    ));
                }
            }
            // Both ends of a span and one past each, where an inclusive/exclusive confusion or
            // a wrapped end shows: of every span that came or went since the last op, and of
            // one other span in turn.
            let mut probed = self.probed.borrow_mut();
            let last = &mut probed[usize::from(level == Level::Source)];
            let mut asked = Vec::new();
            if *last != ms {
                asked = changed_spans(last, &ms);
                last.clone_from(&ms);
            }
            if !ms.is_empty() {
                asked.push(ms[(self.stats.ops % ms.len() as u64) as usize]);
            }
            let probes = asked.into_iter().flat_map(|(s, l, _)| {
                [Some(s), Some(l), s.checked_sub(1), l.checked_add(1)]
                    .into_iter()
                    .flatten()
            });
            for addr in probes {
                if let Some(inside) = self.alloc.contains(level, addr) {
                    if inside != model.contains(addr) {
                        return Err(format!(
                            "{} contains: allocator says {inside} for {addr:#x}",
                            level_name(level)
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The interval oracle's verdict on `check` as a [`Mismatch`]; `actual` is the arena's
/// answer as text (the verdict does not always carry it).
pub fn from_verdict(check: String, verdict: Verdict, actual: String) -> Mismatch {
    let (expected, actual) = match verdict {
        Verdict::Outcome { expected, actual } => (expected, actual),
        // The rule names what is wrong with the address the arena returned.
        Verdict::NotAPlacement { addr, why } => ("a placement".into(), format!("{addr:#x}, {why}")),
        Verdict::Incomplete { placement } => {
            (format!("a placement such as {placement:#x}"), actual)
        }
        Verdict::PolicyBroken {
            policy,
            expected,
            actual,
        } => (
            format!("{expected:#x} (what {policy:?} promises)"),
            format!("{actual:#x}"),
        ),
        Verdict::BadImport { why } => (
            "imports within the contract".into(),
            format!("bad import: {why}"),
        ),
    };
    Mismatch {
        check,
        expected,
        actual,
    }
}

/// The spans in exactly one of `before` and `after` (both sorted by start, disjoint).
fn changed_spans(before: &[(u64, u64, bool)], after: &[(u64, u64, bool)]) -> Vec<(u64, u64, bool)> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < before.len() || j < after.len() {
        match (before.get(i), after.get(j)) {
            (Some(b), Some(a)) if b == a => {
                i += 1;
                j += 1;
            }
            (Some(b), Some(a)) if b.0 > a.0 => {
                out.push(*a);
                j += 1;
            }
            (Some(b), _) => {
                out.push(*b);
                i += 1;
            }
            (None, Some(a)) => {
                out.push(*a);
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// The first element of `a` that is not in `b`, as text.
fn first_difference<T: PartialEq + fmt::Debug>(a: &[T], b: &[T]) -> String {
    match a.iter().find(|x| !b.contains(x)) {
        Some(x) => format!("{x:x?}"),
        None => format!("({} entries, none extra)", a.len()),
    }
}

/// Hand-written seed scenarios for the corpus: NetBSD's userland test spans and the
/// top-of-the-32-bit-space edge cases (ANCHORS section 1), on a quantum-1 IA-32 arena.
pub fn seed_scenarios() -> Vec<(&'static str, Scenario)> {
    let add = |base: u64, size: u64| Op::AddSpan {
        level: Level::Arena,
        base,
        size,
    };
    let x = |size, minaddr, maxaddr| Op::Alloc {
        level: Level::Arena,
        req: Request {
            minaddr,
            maxaddr,
            ..Request::size(size)
        },
        edge: None,
        policy: Policy::InstantFit,
    };
    let xe = |size, edge, policy| Op::Alloc {
        level: Level::Arena,
        req: Request::size(size),
        edge: Some(edge),
        policy,
    };
    let edge = |bound, at, byte| Edge {
        bound,
        at,
        quanta: 0,
        byte,
    };
    let netbsd_spans = vec![
        add(0, 50),
        add(100, 200),
        add(500, 1000),
        add(2000, 1),
        add(10000, 10000),
        add(40000, 65536),
        add(0xFFFF_FF00, 0x100),
    ];
    let mut top = netbsd_spans.clone();
    top.extend([
        add(0xFFFF_FF00, 0x101), // past the top (checked before the overlap)
        x(0x101, 0xFFFF_FF00, 0xFFFF_FFFF), // must fail: too big
        x(0x100, 0xFFFF_FF01, 0xFFFF_FFFE), // must fail: window too small
        x(0x100, 0xFFFF_FF00, 0xFFFF_FFFF), // must succeed: exactly the top span
        Op::Free { handle: 0 },
        Op::AllocAt {
            addr: AddrSel::Raw(0),
            size: 50,
        },
        Op::FreeAt {
            level: Level::Arena,
            addr: AddrSel::Raw(0),
            size: 49,
        },
        Op::Free { handle: 0 },
        Op::FreeAt {
            level: Level::Arena,
            addr: AddrSel::Freed { index: 0 },
            size: 50,
        },
    ]);
    let ia32 = |ops| Scenario {
        arch: Arch::Ia32,
        quantum_shift: 0,
        import: None,
        ops,
    };
    // Bounds exactly at segment edges (module [`Edge`]): each request's only placements end
    // at its maxaddr or start at its minaddr.
    let mut edges = netbsd_spans.clone();
    let first = |size| Op::AllocSize {
        size,
        policy: Policy::FirstFit,
    };
    edges.extend([
        first(10),              // live[0] = [0, 10)
        first(20),              // live[1] = [10, 30)
        Op::Free { handle: 0 }, // [0, 10) free again; live[0] = [10, 30)
        // max = 9, the last byte of the free [0, 10): it fits exactly (live[1]).
        xe(
            10,
            edge(Bound::Max, EdgeAt::LiveStart(0), -1),
            Policy::BestFit,
        ),
        // min = 30, right after [10, 30): the rest of span 0 (live[2]).
        xe(
            20,
            edge(Bound::Min, EdgeAt::LiveEnd(0), 0),
            Policy::FirstFit,
        ),
        // The last 0x100 bytes below the top of the space, then its very last byte again.
        xe(
            0x100,
            edge(Bound::Max, EdgeAt::SpanEnd(6), -1),
            Policy::InstantFit,
        ),
        Op::Free { handle: 3 },
        xe(1, edge(Bound::Min, EdgeAt::SpanEnd(6), -1), Policy::NextFit),
        // [0, 10) is taken now: nothing ends at or below max = 9.
        xe(
            10,
            edge(Bound::Max, EdgeAt::LiveStart(0), -1),
            Policy::BestFit,
        ),
    ]);
    let mut mixed = netbsd_spans;
    for (i, size) in [1u64, 7, 49, 64, 100, 1000, 0x100, 65536]
        .into_iter()
        .enumerate()
    {
        let policy = ALL_POLICIES[i % 4];
        mixed.push(Op::Alloc {
            level: Level::Arena,
            req: Request {
                align: 1 << (i * 2 % 15),
                nocross: if i % 3 == 0 { 0 } else { 1 << 16 },
                ..Request::size(size)
            },
            edge: None,
            policy,
        });
    }
    mixed.extend([Op::Free { handle: 3 }, Op::Free { handle: 1 }]);
    let import = Scenario {
        arch: Arch::X86_64,
        quantum_shift: 12,
        import: Some(ImportShape {
            source_shift: 12,
            import_shift: 16,
        }),
        ops: vec![
            Op::AddSpan {
                level: Level::Source,
                base: 0xFFFF_FFFF_0000_0000,
                size: 0x1_0000_0000,
            },
            x(0x3000, 0, u64::MAX),
            x(0x20000, 0xFFFF_FFFF_FFF0_0000, u64::MAX),
            Op::Free { handle: 0 },
            Op::Free { handle: 0 },
        ],
    };
    // Every typed error of every operation, once (IA-32, 4 KiB quantum; the hole needs
    // x86_64, below).
    let span = |base, size| Op::AddSpan {
        level: Level::Arena,
        base,
        size,
    };
    let xr = |req: Request| Op::Alloc {
        level: Level::Arena,
        req,
        edge: None,
        policy: Policy::FirstFit,
    };
    let size = Request::size;
    let at = |addr, size| Op::AllocAt {
        addr: AddrSel::Raw(addr),
        size,
    };
    let free_at = |addr, size| Op::FreeAt {
        level: Level::Arena,
        addr,
        size,
    };
    let errors = Scenario {
        arch: Arch::Ia32,
        quantum_shift: 12,
        import: None,
        ops: vec![
            span(0x1_0000, 0),              // ZeroSize
            span(u64::MAX - 0xFFF, 0x2000), // Wraps
            span(0xFFFF_F000, 0x2000),      // PastTop
            span(0x1_0800, 0x1000),         // Misaligned
            span(0x1_0000, 0x1_0000),       // ok
            span(0x1_8000, 0x1_0000),       // Overlaps(0x10000)
            span(0x8000, 0x1_0000),         // Overlaps(0x10000), from below
            xr(size(0)),                    // ZeroSize
            Op::AllocSize {
                size: 0,
                policy: Policy::BestFit,
            }, // ZeroSize, through alloc
            Op::AllocSize {
                size: u64::MAX,
                policy: Policy::InstantFit,
            }, // SizeOverflow, through alloc
            xr(size(u64::MAX)),             // SizeOverflow
            xr(Request {
                align: 0x1800,
                ..size(0x1000)
            }), // BadAlign: not a power of two
            xr(Request {
                align: 0x800,
                ..size(0x1000)
            }), // BadAlign: below the quantum
            xr(Request {
                align: 0x2000,
                phase: 0x800,
                ..size(0x1000)
            }), // BadPhase
            xr(Request {
                align: 0x2000,
                phase: 0x2000,
                ..size(0x1000)
            }), // BadPhase
            xr(Request {
                nocross: 0x3000,
                ..size(0x1000)
            }), // BadNocross
            xr(Request {
                minaddr: 0x2_0000,
                maxaddr: 0x1_ffff,
                ..size(0x1000)
            }), // BadBounds
            xr(Request {
                nocross: 0x1000,
                ..size(0x2000)
            }), // Overconstrained
            xr(Request {
                align: 0x4000,
                nocross: 0x2000,
                ..size(0x1000)
            }), // Overconstrained
            xr(size(0x2_0000)),             // NoSpace
            at(0x1_0000, 0),                // ZeroSize
            at(0x1_0000, u64::MAX),         // SizeOverflow
            at(0x1_0800, 0x1000),           // Misaligned
            at(u64::MAX - 0xFFF, 0x2000),   // Wraps
            at(0xFFFF_F000, 0x2000),        // PastTop
            at(0x1_f000, 0x2000),           // NoSpace: past the span's end
            xr(size(0x1000)),               // ok: live[0] = 0x10000
            free_at(AddrSel::Raw(0x1_0000), 0), // ZeroSize
            free_at(AddrSel::Raw(0x1_0000), 0x2000), // WrongSize(0x1000)
            free_at(AddrSel::Raw(0x1_1000), 0x1000), // BadFree: never allocated
            free_at(AddrSel::Raw(0x1_0000), 0x800), // ok: rounds up to the size
            free_at(AddrSel::Freed { index: 0 }, 0x1000), // BadFree: double free
        ],
    };
    let hole = Scenario {
        arch: Arch::X86_64,
        quantum_shift: 12,
        import: None,
        ops: vec![
            span(0x7FFF_FFFF_F000, 0x2000),    // NonCanonical: covers the hole
            span(0x8000_0000_0000, 0x1000),    // NonCanonical: inside it
            span(0x7FFF_FFFF_0000, 0x1_0000),  // ok: ends at the hole
            at(0x7FFF_FFFF_F000, 0x2000),      // NonCanonical
            at(0xFFFF_7FFF_FFFF_F000, 0x1000), // NonCanonical
            at(0x7FFF_FFFF_F000, 0x1000),      // ok: the last page below the hole
        ],
    };
    // Two touching spans stay two: nothing straddles their boundary, even after the first is
    // freed whole (a buddy allocator fed both ranges merges them).
    let touching = Scenario {
        arch: Arch::Ia32,
        quantum_shift: 0,
        import: None,
        ops: vec![
            span(0, 32),
            span(32, 32),
            Op::AllocSize {
                size: 32,
                policy: Policy::FirstFit,
            },
            Op::Free { handle: 0 },
            Op::AllocSize {
                size: 64,
                policy: Policy::InstantFit,
            }, // NoSpace
            at(16, 32), // NoSpace: straddles
            Op::AllocSize {
                size: 32,
                policy: Policy::BestFit,
            },
            Op::AllocSize {
                size: 32,
                policy: Policy::BestFit,
            },
        ],
    };
    vec![
        ("every-error-of-every-op", errors),
        ("touching-spans-never-merge", touching),
        ("x86_64-canonical-hole", hole),
        ("netbsd-top-of-32-bit-space", ia32(top)),
        ("netbsd-spans-mixed-constraints", ia32(mixed)),
        ("bounds-at-segment-edges", ia32(edges)),
        ("x86_64-import-top-of-upper-half", import),
    ]
}

/// The `vmem` target (vmem arenas) in the registry.
pub struct VmemTarget;

impl Target for VmemTarget {
    const NAME: &'static str = "vmem";
    const ABOUT: &'static str = "vmem arenas (all policies, xalloc constraints, exact allocation, import/release, bad frees) vs the interval oracle";
    const VERSION: u16 = 1;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvafuzz_oracles::vmem::Policy as OPolicy;

    /// The seed scenario called `name`.
    fn seed(name: &str) -> Scenario {
        seed_scenarios()
            .into_iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no seed {name}"))
            .1
    }

    /// Runs `s` (it must pass) and checks that its trace holds every one of `lines`.
    fn assert_trace_has(s: &Scenario, lines: &[&str]) {
        let mut out = String::new();
        assert!(s.execute(BugSet::NONE, Some(&mut out)).is_ok(), "{out}");
        for line in lines {
            assert!(out.contains(line), "no {line:?} in\n{out}");
        }
    }

    #[test]
    fn seed_scenarios_pass_and_round_trip() {
        crate::harness::assert_seeds_pass_and_round_trip(seed_scenarios());
    }

    /// The error seeds replay every typed error of every operation (so a corpus replay runs
    /// each error path at least once).
    #[test]
    fn error_seeds_reach_every_error() {
        let mut out = String::new();
        for name in ["every-error-of-every-op", "x86_64-canonical-hole"] {
            assert!(
                seed(name).execute(BugSet::NONE, Some(&mut out)).is_ok(),
                "{out}"
            );
        }
        for e in [
            "ZeroSize",
            "Wraps",
            "PastTop",
            "NonCanonical",
            "Misaligned",
            "Overlaps(",
            "SizeOverflow",
            "BadAlign",
            "BadPhase",
            "BadNocross",
            "BadBounds",
            "Overconstrained",
            "NoSpace",
            "WrongSize(",
            "BadFree",
        ] {
            assert!(out.contains(&format!("Err({e}")), "no Err({e}) in\n{out}");
        }
    }

    /// An edge resolves at the state when its op runs: live and span starts and ends, moved by
    /// quanta and a byte, wrapping at the top; with nothing live, at 0.
    #[test]
    fn edges_resolve_against_the_state() {
        assert_trace_has(
            &seed("bounds-at-segment-edges"),
            &[
                "(maxaddr 0x9) Ok(0)",
                "(minaddr 0x1e) Ok(1e)",
                "(maxaddr 0xffffffff) Ok(ffffff00)",
                "(minaddr 0xffffffff) Ok(ffffffff)",
                "(maxaddr 0x9) Err(NoSpace)",
            ],
        );

        let at = |bound, at, quanta, byte| Op::Alloc {
            level: Level::Arena,
            req: Request::size(0x1000),
            edge: Some(Edge {
                bound,
                at,
                quanta,
                byte,
            }),
            policy: Policy::FirstFit,
        };
        let s = Scenario {
            arch: Arch::X86_64,
            quantum_shift: 12,
            import: None,
            ops: vec![
                // Nothing live and no span yet: the point is 0.
                at(Bound::Min, EdgeAt::LiveEnd(0), 1, 0),
                Op::AddSpan {
                    level: Level::Arena,
                    base: 0x10000,
                    size: 0x10000,
                },
                at(Bound::Min, EdgeAt::SpanStart(0), 0, 0),
                at(Bound::Min, EdgeAt::LiveEnd(0), 1, 0),
                at(Bound::Max, EdgeAt::SpanEnd(0), -2, -1),
                at(Bound::Min, EdgeAt::LiveStart(1), -EDGE_QUANTA, 1),
                // An allocation's end is its size rounded up to the quantum.
                Op::AllocSize {
                    size: 0x801,
                    policy: Policy::FirstFit,
                },
                at(Bound::Min, EdgeAt::LiveEnd(4), 0, 0),
                // Addresses at an allocation's end: right after it, and one quantum back.
                Op::AllocAt {
                    addr: AddrSel::LiveEdge {
                        handle: 5,
                        end: true,
                        quanta: 0,
                    },
                    size: 0x1000,
                },
                Op::FreeAt {
                    level: Level::Arena,
                    addr: AddrSel::LiveEdge {
                        handle: 4,
                        end: true,
                        quanta: -1,
                    },
                    size: 0x801,
                },
            ],
        };
        assert_eq!(Scenario::decode(&s.encode()), s);
        assert_trace_has(
            &s,
            &[
                "(minaddr 0x1000) Err(NoSpace)",
                "(minaddr 0x10000) Ok(10000)",
                "(minaddr 0x12000) Ok(12000)",
                "(maxaddr 0x1dfff) Ok(11000)",
                "(minaddr 0x10001) Ok(13000)",
                "alloc arena size=0x801 first -> Ok(14000)",
                "(minaddr 0x15000) Ok(15000)",
                "alloc_at addr=live[5].end size=0x1000 -> at 0x16000: Ok(16000)",
                "free_at arena addr=live[4].end-1q size=0x801 -> free 0x14000 size 0x801: Ok(())",
            ],
        );
    }

    /// An edge's other bound survives the bytes when it is not the default; quanta and bytes
    /// beyond what an edge holds are clamped, never a panic.
    #[test]
    fn edges_encode_exactly_or_clamped() {
        let alloc = |req, edge| Op::Alloc {
            level: Level::Arena,
            req,
            edge: Some(edge),
            policy: Policy::FirstFit,
        };
        let edge = |bound, quanta, byte| Edge {
            bound,
            at: EdgeAt::SpanEnd(3),
            quanta,
            byte,
        };
        let scenario = |ops| Scenario {
            arch: Arch::X86_64,
            quantum_shift: 12,
            import: None,
            ops,
        };
        let exact = scenario(vec![
            alloc(
                Request {
                    maxaddr: 0x1234_5fff,
                    ..Request::size(0x1000)
                },
                edge(Bound::Min, -2, 1),
            ),
            alloc(
                Request {
                    minaddr: 0x8000,
                    ..Request::size(0x1000)
                },
                edge(Bound::Max, 2, -1),
            ),
            alloc(Request::size(0x1000), edge(Bound::Max, 0, 0)),
            Op::FreeAt {
                level: Level::Arena,
                addr: AddrSel::LiveEdge {
                    handle: 7,
                    end: false,
                    quanta: -EDGE_QUANTA,
                },
                size: 0x1000,
            },
        ]);
        assert_eq!(Scenario::decode(&exact.encode()), exact);
        let wild = scenario(vec![alloc(
            Request::size(0x1000),
            edge(Bound::Max, 100, -7),
        )]);
        let back = Scenario::decode(&wild.encode());
        assert_eq!(
            back.ops,
            vec![alloc(
                Request::size(0x1000),
                edge(Bound::Max, EDGE_QUANTA, -1)
            )]
        );
    }

    /// A bound one byte off at a segment's edge is what the edges seed exercises: it alone
    /// catches the inclusive maxaddr read as exclusive.
    #[cfg(feature = "seeded-bugs")]
    #[test]
    fn the_edges_seed_catches_an_exclusive_maxaddr() {
        let bugs = BugSet::only(crate::bugs::Bug::MaxaddrExclusive);
        assert!(seed("bounds-at-segment-edges").execute(bugs, None).is_err());
    }

    /// The spans that came or went: those in exactly one of the lists, in address order.
    #[test]
    fn changed_spans_are_the_symmetric_difference() {
        let before = [(0, 9, false), (20, 29, false), (40, 49, true)];
        let after = [
            (0, 9, false),
            (20, 39, false),
            (40, 49, true),
            (60, 69, true),
        ];
        assert_eq!(
            changed_spans(&before, &after),
            vec![(20, 29, false), (20, 39, false), (60, 69, true)]
        );
        assert_eq!(
            changed_spans(&after, &before),
            vec![(20, 39, false), (20, 29, false), (60, 69, true)]
        );
        assert_eq!(changed_spans(&before, &before), vec![]);
        assert_eq!(changed_spans(&[], &before), before.to_vec());
        assert_eq!(changed_spans(&before[..1], &[]), before[..1].to_vec());
    }

    /// Every verdict of the interval oracle becomes a check, an expectation and an answer.
    #[test]
    fn verdicts_become_mismatches() {
        let m = |v: Verdict| {
            let m = from_verdict("alloc arena".into(), v, "Err(NoSpace)".into());
            assert_eq!(m.check, "alloc arena");
            (m.expected, m.actual)
        };
        let pair = |e: &str, a: &str| (e.to_string(), a.to_string());
        assert_eq!(
            m(Verdict::Outcome {
                expected: "ZeroSize".into(),
                actual: "Ok(0x10)".into()
            }),
            pair("ZeroSize", "Ok(0x10)")
        );
        assert_eq!(
            m(Verdict::NotAPlacement {
                addr: 0x40,
                why: "below minaddr"
            }),
            pair("a placement", "0x40, below minaddr")
        );
        assert_eq!(
            m(Verdict::Incomplete { placement: 0x80 }),
            pair("a placement such as 0x80", "Err(NoSpace)")
        );
        assert_eq!(
            m(Verdict::PolicyBroken {
                policy: OPolicy::BestFit,
                expected: 0x100,
                actual: 0x200
            }),
            pair("0x100 (what BestFit promises)", "0x200")
        );
        assert_eq!(
            m(Verdict::BadImport {
                why: "an arena without a source imported".into()
            }),
            pair(
                "imports within the contract",
                "bad import: an arena without a source imported"
            )
        );
    }
}
