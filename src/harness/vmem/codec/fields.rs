//! The fields of the vmem ops: one [`Selector`] per field, its tags named beside its `read`
//! and `write` (numbers: sizes, bases, spans; addresses; requests: alignment, phase, nocross,
//! edges, bounds, the request and its policy). [`super`] reads and writes the ops with them.

use super::*;

// ---- numbers -----------------------------------------------------------------------------

/// A size (of a span, a request, a free): a few quanta, up to 2^16 quanta, a power of two
/// (or one plus a quantum), just below the top of the space or of `u64`, zero, or raw.
#[derive(Clone, Copy)]
pub(super) struct SizeField {
    /// The arena quantum.
    pub(super) q: u64,
    /// The last address of the space.
    pub(super) top: u64,
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
pub(super) struct SpanField {
    /// The address space.
    pub(super) arch: Arch,
    /// The size's selector.
    pub(super) size: SizeField,
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
pub(super) struct OffsetField {
    /// The arena quantum.
    pub(super) q: u64,
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
pub(super) struct AddrField {
    /// The offset's selector.
    pub(super) offset: OffsetField,
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
pub(super) struct RequestField {
    /// The size's selector (with the quantum and the top every field uses).
    pub(super) size: SizeField,
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
pub(super) struct PolicyField;

impl Selector for PolicyField {
    type Value = Policy;

    fn read(&self, d: &mut Decoder) -> Policy {
        ALL_POLICIES[usize::from(d.below(ALL_POLICIES.len() as u8))]
    }

    fn write(&self, e: &mut Encoder, v: &Policy) {
        e.u8(ALL_POLICIES.iter().position(|p| p == v).unwrap_or(0) as u8);
    }
}
