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

// ---- numbers -----------------------------------------------------------------------------

/// A size (of a span, a request, a free): a few quanta, up to 2^16 quanta, a power of two
/// (or one plus a quantum), just below the top of the space or of `u64`, zero, or raw.
#[derive(Clone, Copy)]
struct SizeField {
    /// The arena quantum.
    q: u64,
    /// The last address of the space.
    top: u64,
}

impl SizeField {
    /// Tags `FEW_QUANTA..=FEW_QUANTA_LAST`: 1 to 16 quanta.
    const FEW_QUANTA: u8 = 0;
    /// The last tag of [`SizeField::FEW_QUANTA`].
    const FEW_QUANTA_LAST: u8 = 3;
    /// Tags `QUANTA..=QUANTA_LAST`: 1 to 2^16 quanta.
    const QUANTA: u8 = 4;
    /// The last tag of [`SizeField::QUANTA`].
    const QUANTA_LAST: u8 = 5;
    /// A power of two.
    const POW2: u8 = 6;
    /// A power of two plus a quantum.
    const POW2_PLUS_QUANTUM: u8 = 7;
    /// The top of the space less up to 255 quanta.
    const BELOW_TOP: u8 = 8;
    /// `u64::MAX` less up to 255.
    const BELOW_MAX: u8 = 9;
    /// Zero.
    const ZERO: u8 = 10;
    /// The raw value follows (the last tag).
    const RAW: u8 = 11;
}

impl Selector for SizeField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        let q = self.q;
        match d.below(Self::RAW + 1) {
            Self::FEW_QUANTA..=Self::FEW_QUANTA_LAST => {
                (u64::from(d.u8() % 16) + 1).saturating_mul(q)
            }
            Self::QUANTA..=Self::QUANTA_LAST => (u64::from(d.u16()) + 1).saturating_mul(q),
            Self::POW2 => 1u64 << (d.u8() % 64),
            Self::POW2_PLUS_QUANTUM => (1u64 << (d.u8() % 64)).wrapping_add(q),
            Self::BELOW_TOP => self.top.wrapping_sub(u64::from(d.u8()).wrapping_mul(q)),
            Self::BELOW_MAX => u64::MAX - u64::from(d.u8()),
            Self::ZERO => 0,
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

/// The base of a span of `size`: zero, a multiple of 16 quanta, ending just below the top
/// of the space or of its lower half, just above the start of the upper half, a quantum
/// multiple, or raw.
struct BaseField {
    /// The address space.
    arch: Arch,
    /// The arena quantum.
    q: u64,
    /// The size of the span (read first).
    size: u64,
}

impl BaseField {
    /// Zero.
    const ZERO: u8 = 0;
    /// Up to 2^16 times 16 quanta.
    const SIXTEEN_QUANTA: u8 = 1;
    /// The span ends at the top of the space, less up to 255 quanta.
    const ENDS_AT_TOP: u8 = 2;
    /// The span ends at the last address of the lower half, less up to 255 quanta.
    const ENDS_AT_LOWER_HALF: u8 = 3;
    /// The start of the upper half (or 2 GiB) plus up to 2^16 quanta.
    const UPPER_HALF: u8 = 4;
    /// Tags `QUANTA..=QUANTA_LAST`: up to 2^32 quanta.
    const QUANTA: u8 = 5;
    /// The last tag of [`BaseField::QUANTA`].
    const QUANTA_LAST: u8 = 8;
    /// The raw value follows (the last tag).
    const RAW: u8 = 9;
}

impl Selector for BaseField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        let (q, a, size) = (self.q, self.arch, self.size);
        match d.below(Self::RAW + 1) {
            Self::ZERO => 0,
            Self::SIXTEEN_QUANTA => u64::from(d.u16()).wrapping_mul(q).wrapping_mul(16),
            Self::ENDS_AT_TOP => a
                .max_addr()
                .wrapping_sub(size)
                .wrapping_add(1)
                .wrapping_sub(u64::from(d.u8()).wrapping_mul(q)),
            Self::ENDS_AT_LOWER_HALF => a
                .lower_half_last()
                .wrapping_sub(size)
                .wrapping_add(1)
                .wrapping_sub(u64::from(d.u8()).wrapping_mul(q)),
            Self::UPPER_HALF => a
                .upper_half_start()
                .unwrap_or(0x8000_0000)
                .wrapping_add(u64::from(d.u16()).wrapping_mul(q)),
            Self::QUANTA..=Self::QUANTA_LAST => u64::from(d.u32()).wrapping_mul(q),
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

/// The base and size of a span: the size first, then a base that fits it.
#[derive(Clone, Copy)]
struct SpanField {
    /// The address space.
    arch: Arch,
    /// The size's selector.
    size: SizeField,
}

impl SpanField {
    /// The base's selector for a span of `size`.
    fn base(&self, size: u64) -> BaseField {
        BaseField {
            arch: self.arch,
            q: self.size.q,
            size,
        }
    }
}

impl Selector for SpanField {
    /// `(base, size)`.
    type Value = (u64, u64);

    fn read(&self, d: &mut Decoder) -> (u64, u64) {
        let size = self.size.read(d);
        let base = self.base(size).read(d);
        (base, size)
    }

    fn write(&self, e: &mut Encoder, &(base, size): &(u64, u64)) {
        self.size.write(e, &size);
        self.base(size).write(e, &base);
    }
}

// ---- addresses ---------------------------------------------------------------------------

/// An offset added to a point of the state: zero, up to 2^16 quanta, or raw.
#[derive(Clone, Copy)]
struct OffsetField {
    /// The arena quantum.
    q: u64,
}

impl OffsetField {
    /// Zero.
    const ZERO: u8 = 0;
    /// Tags `QUANTA..=QUANTA_LAST`: up to 2^16 quanta.
    const QUANTA: u8 = 1;
    /// The last tag of [`OffsetField::QUANTA`].
    const QUANTA_LAST: u8 = 2;
    /// The raw value follows (the last tag).
    const RAW: u8 = 3;
}

impl Selector for OffsetField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        match d.below(Self::RAW + 1) {
            Self::ZERO => 0,
            Self::QUANTA..=Self::QUANTA_LAST => u64::from(d.u16()).wrapping_mul(self.q),
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

/// A number of quanta in `-EDGE_QUANTA..=EDGE_QUANTA` (one byte). Writing clamps a value
/// beyond that range to it (the decoder never makes one).
struct QuantaField;

impl Selector for QuantaField {
    type Value = i8;

    fn read(&self, d: &mut Decoder) -> i8 {
        (d.u8() % (2 * EDGE_QUANTA as u8 + 1)) as i8 - EDGE_QUANTA
    }

    fn write(&self, e: &mut Encoder, v: &i8) {
        e.u8(((*v).clamp(-EDGE_QUANTA, EDGE_QUANTA) + EDGE_QUANTA) as u8);
    }
}

/// An address ([`AddrSel`]): a span's start or a live allocation's plus an offset, a live
/// allocation's edge, a freed allocation's start, or raw.
#[derive(Clone, Copy)]
struct AddrField {
    /// The offset's selector.
    offset: OffsetField,
}

impl AddrField {
    /// Tags `SPAN..=SPAN_LAST`: [`AddrSel::Span`] (index, offset).
    const SPAN: u8 = 0;
    /// The last tag of [`AddrField::SPAN`].
    const SPAN_LAST: u8 = 1;
    /// Tags `LIVE..=LIVE_LAST`: [`AddrSel::Live`] (handle, offset).
    const LIVE: u8 = 2;
    /// The last tag of [`AddrField::LIVE`] (the one written).
    const LIVE_LAST: u8 = 3;
    /// [`AddrSel::LiveEdge`] (end flag, handle, quanta).
    const LIVE_EDGE: u8 = 4;
    /// Tags `FREED..=FREED_LAST`: [`AddrSel::Freed`] (index).
    const FREED: u8 = 5;
    /// The last tag of [`AddrField::FREED`].
    const FREED_LAST: u8 = 6;
    /// [`AddrSel::Raw`]: the raw address follows (the last tag).
    const RAW: u8 = 7;
}

impl Selector for AddrField {
    type Value = AddrSel;

    fn read(&self, d: &mut Decoder) -> AddrSel {
        match d.below(Self::RAW + 1) {
            Self::SPAN..=Self::SPAN_LAST => AddrSel::Span {
                index: d.u16(),
                offset: self.offset.read(d),
            },
            Self::LIVE..=Self::LIVE_LAST => AddrSel::Live {
                handle: d.u16(),
                offset: self.offset.read(d),
            },
            Self::LIVE_EDGE => AddrSel::LiveEdge {
                end: d.u8() & 1 == 1,
                handle: d.u16(),
                quanta: QuantaField.read(d),
            },
            Self::FREED..=Self::FREED_LAST => AddrSel::Freed { index: d.u16() },
            Self::RAW.. => AddrSel::Raw(d.u64()),
        }
    }

    fn write(&self, e: &mut Encoder, v: &AddrSel) {
        match *v {
            AddrSel::Span { index, offset } => {
                e.u8(Self::SPAN);
                e.u16(index);
                self.offset.write(e, &offset);
            }
            AddrSel::Live { handle, offset } => {
                e.u8(Self::LIVE_LAST);
                e.u16(handle);
                self.offset.write(e, &offset);
            }
            AddrSel::LiveEdge {
                handle,
                end,
                quanta,
            } => {
                e.u8(Self::LIVE_EDGE);
                e.u8(u8::from(end));
                e.u16(handle);
                QuantaField.write(e, &quanta);
            }
            AddrSel::Freed { index } => {
                e.u8(Self::FREED);
                e.u16(index);
            }
            AddrSel::Raw(a) => {
                e.u8(Self::RAW);
                e.u64(a);
            }
        }
    }
}

// ---- requests ----------------------------------------------------------------------------

/// A request's alignment: none, the quantum shifted left by up to 23, or raw.
struct AlignField {
    /// The arena quantum.
    q: u64,
}

impl AlignField {
    /// Tags `NONE..=NONE_LAST`: 0 (the quantum).
    const NONE: u8 = 0;
    /// The last tag of [`AlignField::NONE`].
    const NONE_LAST: u8 = 1;
    /// Tags `SHIFTED..=SHIFTED_LAST`: the quantum times a power of two.
    const SHIFTED: u8 = 2;
    /// The last tag of [`AlignField::SHIFTED`].
    const SHIFTED_LAST: u8 = 3;
    /// The raw value follows (the last tag).
    const RAW: u8 = 4;
}

impl Selector for AlignField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        match d.below(Self::RAW + 1) {
            Self::NONE..=Self::NONE_LAST => 0,
            Self::SHIFTED..=Self::SHIFTED_LAST => {
                self.q.checked_shl(u32::from(d.u8() % 24)).unwrap_or(0)
            }
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

/// A request's phase: none, a quantum multiple below the alignment, or raw.
struct PhaseField {
    /// The arena quantum.
    q: u64,
    /// The request's alignment (read first; 0 means the quantum).
    align: u64,
}

impl PhaseField {
    /// Tags `NONE..=NONE_LAST`: 0.
    const NONE: u8 = 0;
    /// The last tag of [`PhaseField::NONE`].
    const NONE_LAST: u8 = 1;
    /// Tags `QUANTA..=QUANTA_LAST`: a quantum multiple modulo the alignment.
    const QUANTA: u8 = 2;
    /// The last tag of [`PhaseField::QUANTA`].
    const QUANTA_LAST: u8 = 3;
    /// The raw value follows (the last tag).
    const RAW: u8 = 4;
}

impl Selector for PhaseField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        let eff = if self.align == 0 { self.q } else { self.align };
        match d.below(Self::RAW + 1) {
            Self::NONE..=Self::NONE_LAST => 0,
            Self::QUANTA..=Self::QUANTA_LAST => {
                u64::from(d.u16()).wrapping_mul(self.q) % eff.max(1)
            }
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

/// A request's nocross boundary: none, the size's next power of two times up to 8, or raw.
struct NocrossField {
    /// The request's size (read first).
    size: u64,
}

impl NocrossField {
    /// Tags `NONE..=NONE_LAST`: 0 (no boundary).
    const NONE: u8 = 0;
    /// The last tag of [`NocrossField::NONE`].
    const NONE_LAST: u8 = 1;
    /// Tags `POW2..=POW2_LAST`: a power of two at least the size (a byte follows only if
    /// there is one).
    const POW2: u8 = 2;
    /// The last tag of [`NocrossField::POW2`].
    const POW2_LAST: u8 = 3;
    /// The raw value follows (the last tag).
    const RAW: u8 = 4;
}

impl Selector for NocrossField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        match d.below(Self::RAW + 1) {
            Self::NONE..=Self::NONE_LAST => 0,
            Self::POW2..=Self::POW2_LAST => self
                .size
                .checked_next_power_of_two()
                .and_then(|p| p.checked_shl(u32::from(d.u8() % 4)))
                .unwrap_or(0),
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

/// An [`Edge`], and the request's other bound if the flags byte says a raw one follows
/// (else it is the default: minaddr 0, maxaddr `u64::MAX`). Writing clamps quanta and bytes
/// beyond what an edge holds (the decoder never makes them).
struct EdgeField;

impl EdgeField {
    /// Flag bit: the edge sets maxaddr (else minaddr).
    const MAX: u8 = 1;
    /// Flag bit: the request's other bound follows, raw.
    const OTHER: u8 = 2;
    /// Point kind: [`EdgeAt::LiveStart`].
    const LIVE_START: u8 = 0;
    /// Point kind: [`EdgeAt::LiveEnd`].
    const LIVE_END: u8 = 1;
    /// Point kind: [`EdgeAt::SpanStart`].
    const SPAN_START: u8 = 2;
    /// Point kind: [`EdgeAt::SpanEnd`] (the last kind).
    const SPAN_END: u8 = 3;
    /// How many byte moves there are (-1, 0 and 1).
    const BYTE_MOVES: u8 = 3;
}

impl Selector for EdgeField {
    type Value = (Edge, Option<u64>);

    fn read(&self, d: &mut Decoder) -> (Edge, Option<u64>) {
        let flags = d.u8();
        let bound = if flags & Self::MAX == 0 {
            Bound::Min
        } else {
            Bound::Max
        };
        let other = (flags & Self::OTHER != 0).then(|| d.u64());
        let kind = d.below(Self::SPAN_END + 1);
        let i = d.u16();
        let at = match kind {
            Self::LIVE_START => EdgeAt::LiveStart(i),
            Self::LIVE_END => EdgeAt::LiveEnd(i),
            Self::SPAN_START => EdgeAt::SpanStart(i),
            Self::SPAN_END.. => EdgeAt::SpanEnd(i),
        };
        let quanta = QuantaField.read(d);
        let byte = (d.u8() % Self::BYTE_MOVES) as i8 - 1;
        let edge = Edge {
            bound,
            at,
            quanta,
            byte,
        };
        (edge, other)
    }

    fn write(&self, e: &mut Encoder, (edge, other): &(Edge, Option<u64>)) {
        let bound = if edge.bound == Bound::Max {
            Self::MAX
        } else {
            0
        };
        e.u8(bound | if other.is_some() { Self::OTHER } else { 0 });
        if let Some(v) = other {
            e.u64(*v);
        }
        let (kind, i) = match edge.at {
            EdgeAt::LiveStart(i) => (Self::LIVE_START, i),
            EdgeAt::LiveEnd(i) => (Self::LIVE_END, i),
            EdgeAt::SpanStart(i) => (Self::SPAN_START, i),
            EdgeAt::SpanEnd(i) => (Self::SPAN_END, i),
        };
        e.u8(kind);
        e.u16(i);
        QuantaField.write(e, &edge.quanta);
        e.u8((edge.byte.clamp(-1, 1) + 1) as u8);
    }
}

/// A request's bounds `(minaddr, maxaddr, edge)`: none, a quantum multiple as minaddr, the
/// top less some quanta as maxaddr, an [`Edge`] (which replaces one bound when the op runs),
/// or both raw.
struct BoundsField {
    /// The arena quantum.
    q: u64,
    /// The last address of the space.
    top: u64,
}

impl BoundsField {
    /// minaddr 0, maxaddr `u64::MAX`.
    const NONE: u8 = 0;
    /// An [`Edge`] ([`EdgeField`]).
    const EDGE: u8 = 1;
    /// minaddr up to 2^32 quanta.
    const MIN_QUANTA: u8 = 2;
    /// maxaddr the top of the space less up to 2^16 quanta.
    const MAX_BELOW_TOP: u8 = 3;
    /// Both raw bounds follow, minaddr first (the last tag).
    const RAW: u8 = 4;
}

impl Selector for BoundsField {
    type Value = (u64, u64, Option<Edge>);

    fn read(&self, d: &mut Decoder) -> (u64, u64, Option<Edge>) {
        let q = self.q;
        match d.below(Self::RAW + 1) {
            Self::NONE => (0, u64::MAX, None),
            Self::EDGE => {
                let (e, other) = EdgeField.read(d);
                let (minaddr, maxaddr) = match (e.bound, other) {
                    (Bound::Min, Some(max)) => (0, max),
                    (Bound::Max, Some(min)) => (min, u64::MAX),
                    _ => (0, u64::MAX),
                };
                (minaddr, maxaddr, Some(e))
            }
            Self::MIN_QUANTA => (u64::from(d.u32()).wrapping_mul(q), u64::MAX, None),
            Self::MAX_BELOW_TOP => (
                0,
                self.top.wrapping_sub(u64::from(d.u16()).wrapping_mul(q)),
                None,
            ),
            Self::RAW.. => (d.u64(), d.u64(), None),
        }
    }

    fn write(&self, e: &mut Encoder, &(minaddr, maxaddr, edge): &(u64, u64, Option<Edge>)) {
        match edge {
            // The edge's bound replaces the request's; the other is written raw unless it
            // is what the reader sets next to an edge (min 0, max `u64::MAX`).
            Some(edge) => {
                e.u8(Self::EDGE);
                let (other, default) = match edge.bound {
                    Bound::Min => (maxaddr, u64::MAX),
                    Bound::Max => (minaddr, 0),
                };
                EdgeField.write(e, &(edge, (other != default).then_some(other)));
            }
            None => {
                e.u8(Self::RAW);
                e.u64(minaddr);
                e.u64(maxaddr);
            }
        }
    }
}

/// A constrained request and the [`Edge`] that replaces one of its bounds, if any: size,
/// alignment, phase, nocross, then bounds.
#[derive(Clone, Copy)]
struct RequestField {
    /// The size's selector (with the quantum and the top every field uses).
    size: SizeField,
}

impl Selector for RequestField {
    type Value = (Request, Option<Edge>);

    fn read(&self, d: &mut Decoder) -> (Request, Option<Edge>) {
        let SizeField { q, top } = self.size;
        let size = self.size.read(d);
        let align = AlignField { q }.read(d);
        let phase = PhaseField { q, align }.read(d);
        let nocross = NocrossField { size }.read(d);
        let (minaddr, maxaddr, edge) = BoundsField { q, top }.read(d);
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

    fn write(&self, e: &mut Encoder, (req, edge): &(Request, Option<Edge>)) {
        let SizeField { q, top } = self.size;
        self.size.write(e, &req.size);
        AlignField { q }.write(e, &req.align);
        let align = req.align;
        PhaseField { q, align }.write(e, &req.phase);
        NocrossField { size: req.size }.write(e, &req.nocross);
        BoundsField { q, top }.write(e, &(req.minaddr, req.maxaddr, *edge));
    }
}

/// A placement policy: a byte (modulo their number) indexes [`ALL_POLICIES`].
struct PolicyField;

impl Selector for PolicyField {
    type Value = Policy;

    fn read(&self, d: &mut Decoder) -> Policy {
        ALL_POLICIES[usize::from(d.below(ALL_POLICIES.len() as u8))]
    }

    fn write(&self, e: &mut Encoder, v: &Policy) {
        e.u8(ALL_POLICIES.iter().position(|p| p == v).unwrap_or(0) as u8);
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
