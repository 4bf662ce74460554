//! The byte codec of the `vmem` target: what every byte of a scenario means.
//!
//! Each field is read by a [`Selector`] whose writer sits right below its reader and names
//! the same tag constants; each op kind is read by [`OpCodec::read_op`] and written by
//! [`OpCodec::write_op`], arms in the same order; the header is read by [`read_scenario`]
//! and written by [`write_scenario`], field by field in the same order. Writers always take
//! a selector's raw tag (the value follows as it is), so `decode(encode(s)) == s` for every
//! scenario the decoder makes; the other tags are families of interesting values that only
//! a reader draws. Where a family has several tags (drawn that much more often), a writer
//! that names the family writes the tag it always wrote: corpus files hold those bytes.
//!
//! ## Versions
//!
//! Version 3 (written today) adds a ninth op kind, [`Op::GrowSpan`] (so the swarm mask is
//! two bytes), and after the span counts the draws of the constructor parameters
//! ([`ParamsField`]); version 2 is read by [`read_scenario_v2`] exactly as it was.
//!
//! Version 2 gives the scenario a chain of 1 to [`MAX_LEVELS`] levels: its
//! header names the depth and, per level below the arena, the source's quantum and the
//! import quantum of the level above ([`ChainField`]), then each level's initial span count
//! ([`SpansField`]); a source op names its level in the byte that names its kind
//! ([`SourceKindField`]). Version 1 had one flags byte for "an arena with or without a
//! source" ([`ImportFieldV1`]) and one byte for both span counts ([`SpansFieldV1`]); its ops
//! are version 2's (at two levels a source op's byte means the same), so
//! [`read_scenario_v1`] reads every old file as the same scenario it always was.

use super::adapter::{Level, MAX_LEVELS};
use super::scenario::{
    AddrSel, Bound, Edge, EdgeAt, ImportShape, Op, Scenario, EDGE_QUANTA, MAX_PARAMS, NO_PARAMS,
};
use crate::addr::{Arch, ALL_ARCHES};
use crate::harness::codec::{Decoder, Encoder, Selector, Swarm};
use crate::vmem::{Policy, Request, ALL_POLICIES};

mod fields;
use fields::*;

/// Quantum shifts a header byte picks from (1 byte and 4 KiB are the common cases).
const QUANTUM_SHIFTS: [u8; 16] = [0, 0, 0, 0, 2, 3, 4, 6, 8, 12, 12, 12, 12, 16, 21, 30];

/// The most spans a header asks for, per level.
const MAX_INITIAL_SPANS: u8 = 4;

/// The largest import quantum shift (a quantum of 2^62).
const MAX_IMPORT_SHIFT: u8 = 62;

// ---- header ------------------------------------------------------------------------------

/// The address space: a byte (modulo their number) indexes [`ALL_ARCHES`].
struct ArchField;

impl Selector for ArchField {
    type Value = Arch;

    fn read(&self, d: &mut Decoder) -> Arch {
        ALL_ARCHES[usize::from(d.below(ALL_ARCHES.len() as u8))]
    }

    fn write(&self, e: &mut Encoder, v: &Arch) {
        e.u8(ALL_ARCHES.iter().position(|a| a == v).unwrap_or(0) as u8);
    }
}

/// log2 of the arena quantum: a byte (modulo their number) indexes [`QUANTUM_SHIFTS`].
struct QuantumField;

impl Selector for QuantumField {
    type Value = u8;

    fn read(&self, d: &mut Decoder) -> u8 {
        QUANTUM_SHIFTS[usize::from(d.below(QUANTUM_SHIFTS.len() as u8))]
    }

    fn write(&self, e: &mut Encoder, v: &u8) {
        e.u8(QUANTUM_SHIFTS.iter().position(|s| s == v).unwrap_or(0) as u8);
    }
}

/// Version 1's chain: whether the arena imports from a source, and the source and import
/// quanta relative to the arena's, in one flags byte.
struct ImportFieldV1 {
    /// log2 of the arena quantum.
    quantum_shift: u8,
}

impl ImportFieldV1 {
    /// Flag bit: the arena imports from a populated source.
    const IMPORTS: u8 = 1;
    /// Where the source quantum's shift below the arena's sits in the flags.
    const SOURCE_AT: u8 = 1;
    /// How many shifts below the arena's the source quantum takes (0 to 3).
    const SOURCE_STEPS: u8 = 4;
    /// Where the import quantum's shift above the arena's sits in the flags.
    const IMPORT_AT: u8 = 3;
    /// How many shifts above the arena's the import quantum takes (0 to 4).
    const IMPORT_STEPS: u8 = 5;
}

impl Selector for ImportFieldV1 {
    type Value = Option<ImportShape>;

    fn read(&self, d: &mut Decoder) -> Option<ImportShape> {
        let q = self.quantum_shift;
        let flags = d.u8();
        (flags & Self::IMPORTS == Self::IMPORTS).then(|| ImportShape {
            source_shift: q.saturating_sub((flags >> Self::SOURCE_AT) % Self::SOURCE_STEPS),
            import_shift: (q + (flags >> Self::IMPORT_AT) % Self::IMPORT_STEPS)
                .min(MAX_IMPORT_SHIFT),
        })
    }

    fn write(&self, e: &mut Encoder, v: &Option<ImportShape>) {
        let q = self.quantum_shift;
        e.u8(match v {
            None => 0,
            Some(i) => {
                Self::IMPORTS
                    | ((q - i.source_shift) << Self::SOURCE_AT)
                    | ((i.import_shift - q) << Self::IMPORT_AT)
            }
        });
    }
}

/// The chain below the arena (version 2): its depth, then per level below the arena one
/// byte with the source's quantum (0 to 3 shifts below the quantum of the level above) and
/// the import quantum of the level above (0 to 4 shifts above its quantum).
struct ChainField {
    /// log2 of the arena quantum.
    quantum_shift: u8,
}

impl ChainField {
    /// The depth a byte (modulo their number) picks: no source and one source each 3 in 8,
    /// three and four levels each 1 in 8.
    const DEPTHS: [u8; 8] = [1, 1, 1, 2, 2, 2, 3, MAX_LEVELS as u8];
    /// How many shifts below the importing level's the source quantum takes (0 to 3), in
    /// the low bits of a level's byte.
    const SOURCE_STEPS: u8 = 4;
    /// Where the import quantum's shift above the importing level's sits in the byte.
    const IMPORT_AT: u8 = 2;
    /// How many shifts above the importing level's the import quantum takes (0 to 4).
    const IMPORT_STEPS: u8 = 5;
}

impl Selector for ChainField {
    type Value = Vec<ImportShape>;

    fn read(&self, d: &mut Decoder) -> Vec<ImportShape> {
        let depth = Self::DEPTHS[usize::from(d.below(Self::DEPTHS.len() as u8))];
        let mut q = self.quantum_shift;
        (1..depth)
            .map(|_| {
                let b = d.u8();
                let source = ImportShape {
                    source_shift: q.saturating_sub(b % Self::SOURCE_STEPS),
                    import_shift: (q + (b >> Self::IMPORT_AT) % Self::IMPORT_STEPS)
                        .min(MAX_IMPORT_SHIFT),
                };
                q = source.source_shift;
                source
            })
            .collect()
    }

    fn write(&self, e: &mut Encoder, v: &Vec<ImportShape>) {
        let depth = v.len() as u8 + 1;
        e.u8(Self::DEPTHS.iter().position(|&n| n == depth).unwrap_or(0) as u8);
        let mut q = self.quantum_shift;
        for source in v {
            e.u8((q - source.source_shift) | ((source.import_shift - q) << Self::IMPORT_AT));
            q = source.source_shift;
        }
    }
}

/// How many spans each level starts with (version 2): a byte per level, at most
/// [`MAX_INITIAL_SPANS`] each.
struct SpansField {
    /// How many levels the chain has.
    depth: usize,
}

impl Selector for SpansField {
    type Value = Vec<u8>;

    fn read(&self, d: &mut Decoder) -> Vec<u8> {
        (0..self.depth)
            .map(|_| d.below(MAX_INITIAL_SPANS + 1))
            .collect()
    }

    fn write(&self, e: &mut Encoder, v: &Vec<u8>) {
        for &n in v {
            e.u8(n);
        }
    }
}

/// How many spans the arena and the source start with (version 1: one byte, a nibble each;
/// the source's only counts with a source): at most [`MAX_INITIAL_SPANS`] each.
struct SpansFieldV1;

impl SpansFieldV1 {
    /// Where the source's count sits in the byte.
    const SOURCE_AT: u8 = 4;
}

impl Selector for SpansFieldV1 {
    type Value = [u8; 2];

    fn read(&self, d: &mut Decoder) -> [u8; 2] {
        let spans = d.u8();
        [
            spans % (MAX_INITIAL_SPANS + 1),
            (spans >> Self::SOURCE_AT) % (MAX_INITIAL_SPANS + 1),
        ]
    }

    fn write(&self, e: &mut Encoder, v: &[u8; 2]) {
        e.u8(v[0] | (v[1] << Self::SOURCE_AT));
    }
}

// ---- ops ---------------------------------------------------------------------------------

/// [`Op::AddSpan`] at the arena.
const K_ADD_SPAN: u8 = 0;
/// [`Op::AllocSize`].
const K_ALLOC: u8 = 1;
/// [`Op::Alloc`] at the arena.
const K_XALLOC: u8 = 2;
/// [`Op::AllocAt`].
const K_ALLOC_AT: u8 = 3;
/// [`Op::Free`].
const K_FREE: u8 = 4;
/// [`Op::Free`] again (frees are drawn twice as often).
const K_FREE2: u8 = 5;
/// [`Op::FreeAt`] at the arena.
const K_FREE_AT: u8 = 6;
/// An op at a level below the arena (at the arena without a source): its kind and level
/// follow ([`SourceKindField`]).
const K_SOURCE: u8 = 7;
/// [`Op::GrowSpan`] (op language version 3): its level is a byte of its own.
const K_GROW: u8 = 8;
/// Op kinds of versions 1 and 2, as the swarm mask numbers them.
const KINDS_V2: u8 = 8;
/// Op kinds, as the swarm mask numbers them.
const KINDS: u8 = 9;
/// The kinds a [`K_SOURCE`] op takes.
const SOURCE_KINDS: [u8; 3] = [K_ADD_SPAN, K_XALLOC, K_FREE_AT];

/// The kind and level of a [`K_SOURCE`] op, in one byte: modulo the number of
/// [`SOURCE_KINDS`] it indexes them, and the rest, modulo the number of levels below the
/// arena, picks one (the source first). Without a source the op is at the arena.
struct SourceKindField {
    /// How many levels the chain has.
    depth: usize,
}

impl Selector for SourceKindField {
    /// `(level, kind)`.
    type Value = (Level, u8);

    fn read(&self, d: &mut Decoder) -> (Level, u8) {
        let n = SOURCE_KINDS.len() as u8;
        let b = d.u8();
        let level = match self.depth {
            1 => Level::ARENA,
            depth => Level::new(1 + usize::from(b / n) % (depth - 1))
                .expect("a chain has at most MAX_LEVELS levels"),
        };
        (level, SOURCE_KINDS[usize::from(b % n)])
    }

    fn write(&self, e: &mut Encoder, &(level, kind): &(Level, u8)) {
        let index = SOURCE_KINDS
            .iter()
            .position(|&k| k == kind)
            .expect("only the source kinds have a level");
        let below = level.index().saturating_sub(1);
        e.u8((index + SOURCE_KINDS.len() * below) as u8);
    }
}

/// The selectors of a scenario's ops (they depend on its address space and quantum), and
/// the levels its source ops address.
struct OpCodec {
    /// Spans.
    span: SpanField,
    /// Sizes.
    size: SizeField,
    /// Addresses.
    addr: AddrField,
    /// Constrained requests.
    request: RequestField,
    /// The level and kind of [`K_SOURCE`] ops.
    source: SourceKindField,
}

impl OpCodec {
    /// The ops' selectors in `arch` with a quantum of `2^quantum_shift`, on a chain of
    /// `depth` levels.
    fn new(arch: Arch, quantum_shift: u8, depth: usize) -> OpCodec {
        let q = 1u64 << quantum_shift;
        let size = SizeField {
            q,
            top: arch.max_addr(),
        };
        OpCodec {
            span: SpanField { arch, size },
            size,
            addr: AddrField {
                offset: OffsetField { q },
            },
            request: RequestField { size },
            source: SourceKindField { depth },
        }
    }

    /// Reads the fields of an op of kind `kind` (the swarm picked it).
    fn read_op(&self, kind: u8, d: &mut Decoder) -> Op {
        self.read_op_at(Level::ARENA, kind, d)
    }

    /// Reads the fields of an op of kind `kind` at `level` (if the op has one).
    fn read_op_at(&self, level: Level, kind: u8, d: &mut Decoder) -> Op {
        match kind {
            K_ADD_SPAN => {
                let (base, size) = self.span.read(d);
                Op::AddSpan { level, base, size }
            }
            K_ALLOC => Op::AllocSize {
                size: self.size.read(d),
                policy: PolicyField.read(d),
            },
            K_XALLOC => {
                let (req, edge) = self.request.read(d);
                Op::Alloc {
                    level,
                    req,
                    edge,
                    policy: PolicyField.read(d),
                }
            }
            K_ALLOC_AT => Op::AllocAt {
                addr: self.addr.read(d),
                size: self.size.read(d),
            },
            K_FREE | K_FREE2 => Op::Free { handle: d.u16() },
            K_FREE_AT => Op::FreeAt {
                level,
                addr: self.addr.read(d),
                size: self.size.read(d),
            },
            K_GROW => Op::GrowSpan {
                level: Level::new(usize::from(d.u8()) % self.source.depth)
                    .expect("a chain has at most MAX_LEVELS levels"),
                span: d.u16(),
                by: self.size.read(d),
            },
            // K_SOURCE.
            _ => {
                let (level, kind) = self.source.read(d);
                self.read_op_at(level, kind, d)
            }
        }
    }

    /// Writes `op`: its kind ([`OpCodec::write_kind`]), then its fields.
    fn write_op(&self, op: &Op, e: &mut Encoder) {
        match *op {
            Op::AddSpan { level, base, size } => {
                self.write_kind(e, level, K_ADD_SPAN);
                self.span.write(e, &(base, size));
            }
            Op::AllocSize { size, policy } => {
                e.u8(K_ALLOC);
                self.size.write(e, &size);
                PolicyField.write(e, &policy);
            }
            Op::Alloc {
                level,
                req,
                edge,
                policy,
            } => {
                self.write_kind(e, level, K_XALLOC);
                self.request.write(e, &(req, edge));
                PolicyField.write(e, &policy);
            }
            Op::AllocAt { addr, size } => {
                e.u8(K_ALLOC_AT);
                self.addr.write(e, &addr);
                self.size.write(e, &size);
            }
            Op::Free { handle } => {
                e.u8(K_FREE);
                e.u16(handle);
            }
            Op::FreeAt { level, addr, size } => {
                self.write_kind(e, level, K_FREE_AT);
                self.addr.write(e, &addr);
                self.size.write(e, &size);
            }
            Op::GrowSpan { level, span, by } => {
                e.u8(K_GROW);
                e.u8(level.index() as u8);
                e.u16(span);
                self.size.write(e, &by);
            }
        }
    }

    /// Writes the kind of an op of `kind` (one of [`SOURCE_KINDS`]) at `level`: the kind
    /// itself at the arena, else [`K_SOURCE`] and the level and kind ([`SourceKindField`]).
    fn write_kind(&self, e: &mut Encoder, level: Level, kind: u8) {
        if level == Level::ARENA {
            e.u8(kind);
        } else {
            e.u8(K_SOURCE);
            self.source.write(e, &(level, kind));
        }
    }
}

// ---- scenarios ---------------------------------------------------------------------------

/// Decodes a scenario (version 3): the header (architecture, quantum, chain, swarm mask of
/// [`KINDS`], initial span counts per level, the constructor parameter draws), the initial
/// spans, then ops until the bytes run out or [`crate::harness::MAX_OPS`].
pub(super) fn read_scenario(data: &[u8]) -> Scenario {
    let mut d = Decoder::new(data);
    let arch = ArchField.read(&mut d);
    let quantum_shift = QuantumField.read(&mut d);
    let imports = ChainField { quantum_shift }.read(&mut d);
    let swarm = Swarm::read(&mut d, KINDS);
    let spans = SpansField {
        depth: imports.len() + 1,
    }
    .read(&mut d);
    let params = ParamsField.read(&mut d);
    Scenario {
        params,
        ..read_ops(d, arch, quantum_shift, imports, swarm, &spans)
    }
}

/// Decodes a scenario written in version 2: [`KINDS_V2`] op kinds (no [`Op::GrowSpan`]),
/// no parameter draws; the rest is version 3's.
pub(super) fn read_scenario_v2(data: &[u8]) -> Scenario {
    let mut d = Decoder::new(data);
    let arch = ArchField.read(&mut d);
    let quantum_shift = QuantumField.read(&mut d);
    let imports = ChainField { quantum_shift }.read(&mut d);
    let swarm = Swarm::read(&mut d, KINDS_V2);
    let spans = SpansField {
        depth: imports.len() + 1,
    }
    .read(&mut d);
    read_ops(d, arch, quantum_shift, imports, swarm, &spans)
}

/// The draws of a scenario's constructor parameters ([`super::scenario::Param`]), each a
/// tag: 0 (the parameter's minimum), `u64::MAX` (its maximum for any range whose size is a
/// power of two), a byte, or raw.
struct ParamsField;

impl ParamsField {
    /// Draw 0.
    const ZERO: u8 = 0;
    /// Draw `u64::MAX`.
    const MAX: u8 = 1;
    /// A byte follows.
    const BYTE: u8 = 2;
    /// The raw draw follows (the last tag).
    const RAW: u8 = 3;
}

impl Selector for ParamsField {
    type Value = [u64; MAX_PARAMS];

    fn read(&self, d: &mut Decoder) -> [u64; MAX_PARAMS] {
        let mut out = [0; MAX_PARAMS];
        for p in &mut out {
            *p = match d.below(Self::RAW + 1) {
                Self::ZERO => 0,
                Self::MAX => u64::MAX,
                Self::BYTE => u64::from(d.u8()),
                Self::RAW.. => d.u64(),
            };
        }
        out
    }

    fn write(&self, e: &mut Encoder, v: &[u64; MAX_PARAMS]) {
        for &p in v {
            e.u8(Self::RAW);
            e.u64(p);
        }
    }
}

/// Decodes a scenario written in version 1: the chain is one flags byte (no source, or one)
/// and both span counts share a byte; the rest is version 2's.
pub(super) fn read_scenario_v1(data: &[u8]) -> Scenario {
    let mut d = Decoder::new(data);
    let arch = ArchField.read(&mut d);
    let quantum_shift = QuantumField.read(&mut d);
    let import = ImportFieldV1 { quantum_shift }.read(&mut d);
    let swarm = Swarm::read(&mut d, KINDS_V2);
    let spans = SpansFieldV1.read(&mut d);
    let imports: Vec<ImportShape> = import.into_iter().collect();
    let depth = imports.len() + 1;
    read_ops(d, arch, quantum_shift, imports, swarm, &spans[..depth])
}

/// The rest of a scenario after its header: `spans[i]` initial spans at level `i`, then the
/// ops.
fn read_ops(
    mut d: Decoder,
    arch: Arch,
    quantum_shift: u8,
    imports: Vec<ImportShape>,
    swarm: Swarm,
    spans: &[u8],
) -> Scenario {
    let codec = OpCodec::new(arch, quantum_shift, imports.len() + 1);
    let mut ops = Vec::new();
    for (level, &n) in Level::first(spans.len()).zip(spans) {
        for _ in 0..n {
            let (base, size) = codec.span.read(&mut d);
            ops.push(Op::AddSpan { level, base, size });
        }
    }
    swarm.read_ops(&mut d, &mut ops, |kind, d| codec.read_op(kind, d));
    Scenario {
        params: NO_PARAMS,
        arch,
        quantum_shift,
        imports,
        ops,
    }
}

/// Encodes a scenario so that [`read_scenario`] gives it back: the header field by field,
/// with every op kind on and no initial spans (they are ordinary `AddSpan` ops), then the
/// ops.
pub(super) fn write_scenario(s: &Scenario) -> Vec<u8> {
    let mut e = Encoder::new();
    ArchField.write(&mut e, &s.arch);
    QuantumField.write(&mut e, &s.quantum_shift);
    ChainField {
        quantum_shift: s.quantum_shift,
    }
    .write(&mut e, &s.imports);
    Swarm::write_all(&mut e, KINDS);
    let depth = s.imports.len() + 1;
    SpansField { depth }.write(&mut e, &vec![0; depth]);
    ParamsField.write(&mut e, &s.params);
    let codec = OpCodec::new(s.arch, s.quantum_shift, depth);
    for op in &s.ops {
        codec.write_op(op, &mut e);
    }
    e.finish()
}

/// Encodes a scenario of at most two levels in version 1, so that [`read_scenario_v1`] gives
/// it back (what the corpus files were written with before version 2).
#[cfg(test)]
pub(super) fn write_scenario_v1(s: &Scenario) -> Vec<u8> {
    assert!(s.imports.len() <= 1, "version 1 has at most one source");
    let mut e = Encoder::new();
    ArchField.write(&mut e, &s.arch);
    QuantumField.write(&mut e, &s.quantum_shift);
    ImportFieldV1 {
        quantum_shift: s.quantum_shift,
    }
    .write(&mut e, &s.imports.first().copied());
    Swarm::write_all(&mut e, KINDS_V2);
    SpansFieldV1.write(&mut e, &[0, 0]);
    let codec = OpCodec::new(s.arch, s.quantum_shift, s.imports.len() + 1);
    for op in &s.ops {
        codec.write_op(op, &mut e);
    }
    e.finish()
}
