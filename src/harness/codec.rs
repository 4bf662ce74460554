//! The byte codec every scenario is decoded with, and its inverse.
//!
//! [`Decoder`] reads through an [`arbitrary::Unstructured`] but only with `bytes(n)`, turning
//! bytes into integers itself (little-endian) so that [`Encoder`] can write the exact inverse:
//! `decode(encode(case)) == case` for every case, which is what lets a minimized op list be
//! saved as a corpus file. When the input runs out, every read returns zeros and
//! [`Decoder::is_empty`] turns true.

use arbitrary::Unstructured;

/// Reads integers from fuzzer bytes; zeros once the bytes run out.
pub struct Decoder<'a> {
    u: Unstructured<'a>,
}

impl<'a> Decoder<'a> {
    /// A decoder over `data`.
    pub fn new(data: &'a [u8]) -> Decoder<'a> {
        Decoder {
            u: Unstructured::new(data),
        }
    }

    /// `true` iff every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.u.is_empty()
    }

    fn read<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = self.u.len().min(N);
        if let Ok(b) = self.u.bytes(n) {
            out[..n].copy_from_slice(b);
        }
        out
    }

    /// One byte.
    pub fn u8(&mut self) -> u8 {
        self.read::<1>()[0]
    }

    /// Two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.read())
    }

    /// Four bytes, little-endian.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.read())
    }

    /// Eight bytes, little-endian.
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.read())
    }

    /// A byte reduced modulo `n` (`n >= 1`).
    pub fn below(&mut self, n: u8) -> u8 {
        self.u8() % n
    }
}

/// Writes what [`Decoder`] reads.
#[derive(Default)]
pub struct Encoder {
    out: Vec<u8>,
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.out.push(v);
    }

    /// Two bytes.
    pub fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    /// Four bytes.
    pub fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    /// Eight bytes.
    pub fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    /// The bytes written.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// A field of a scenario that a tag byte selects from families of interesting values (a few
/// quanta, a power of two, the top of the space, ...), the last tag meaning "raw value
/// follows". Its reader and writer sit side by side in one `impl`, naming the same tag
/// constants, so the two cannot drift apart unnoticed; the round-trip property test over every
/// registered target (`decode(encode(decode(bytes))) == decode(bytes)`) checks each pair.
///
/// `write` may always use the raw tag: it must only write bytes that `read` turns back into
/// exactly `v`.
pub trait Selector {
    /// What the field holds once read.
    type Value;
    /// Reads one field.
    fn read(&self, d: &mut Decoder) -> Self::Value;
    /// Writes `v` so that [`Selector::read`] gives it back.
    fn write(&self, e: &mut Encoder, v: &Self::Value);
}

/// Swarm testing: which op kinds a scenario uses, read from one header field. Only the low
/// `kinds` bits count; none set means every kind is on. The field is one byte for at most 8
/// kinds, two for at most 16.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Swarm {
    mask: u16,
    kinds: u8,
}

impl Swarm {
    /// The most op kinds a target may have.
    pub const MAX_KINDS: u8 = 16;

    fn all_bits(kinds: u8) -> u16 {
        (((1u32) << kinds) - 1) as u16
    }

    /// Reads the mask of a target with `kinds` op kinds (`1..=MAX_KINDS`).
    pub fn read(d: &mut Decoder, kinds: u8) -> Swarm {
        debug_assert!((1..=Swarm::MAX_KINDS).contains(&kinds));
        let raw = if kinds <= 8 {
            u16::from(d.u8())
        } else {
            d.u16()
        };
        let mask = match raw & Swarm::all_bits(kinds) {
            0 => Swarm::all_bits(kinds),
            m => m,
        };
        Swarm { mask, kinds }
    }

    /// Writes the mask that switches every kind on (encoders write ops with their final
    /// kinds, so they never need another).
    pub fn write_all(e: &mut Encoder, kinds: u8) {
        if kinds <= 8 {
            e.u8(0);
        } else {
            e.u16(0);
        }
    }

    /// The kind of the next op: a byte modulo the number of kinds, moved up (cyclically) to
    /// the first kind the mask lets through.
    pub fn next_kind(&self, d: &mut Decoder) -> u8 {
        let mut kind = d.below(self.kinds);
        while self.mask & (1 << kind) == 0 {
            kind = (kind + 1) % self.kinds;
        }
        kind
    }

    /// Reads ops into `ops` until the bytes run out or it holds [`super::MAX_OPS`]:
    /// `read_op(kind, d)` reads the fields of one op of that kind. The loop every target
    /// shares.
    pub fn read_ops<Op>(
        &self,
        d: &mut Decoder,
        ops: &mut Vec<Op>,
        mut read_op: impl FnMut(u8, &mut Decoder) -> Op,
    ) {
        while !d.is_empty() && ops.len() < super::MAX_OPS {
            let kind = self.next_kind(d);
            ops.push(read_op(kind, d));
        }
    }
}

/// Where a scenario's one backing span lies (the slab target's backend arena, the kmem
/// target's kernel map).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanAt {
    /// At 256 MiB.
    Low,
    /// Starting at address 0 (an item or object at 0 must be an ordinary one).
    Zero,
    /// Ending at the top of the 32-bit space.
    Top32,
    /// Ending at the top of the 64-bit space (`base + size` is 0).
    Top64,
}

impl SpanAt {
    /// The span `(base, size)` of `pages` pages (clamped to `1..=65,536`) placed here.
    pub fn span(self, pages: u32) -> (u64, u64) {
        let size = u64::from(pages.clamp(1, 65_536)) * crate::addr::PAGE_SIZE;
        let base = match self {
            SpanAt::Low => 0x1000_0000,
            SpanAt::Zero => 0,
            SpanAt::Top32 => 0x1_0000_0000 - size,
            SpanAt::Top64 => 0u64.wrapping_sub(size),
        };
        (base, size)
    }
}

/// A backing span: its place, and its pages (a few, so it runs out, or up to 65,536).
pub struct SpanField;

impl SpanField {
    /// The last tag of the few-pages family (1..=64 pages).
    const FEW_LAST: u8 = 1;
    /// `1 + u16` pages.
    const ANY: u8 = 2;
    /// The last tag of that family.
    const ANY_LAST: u8 = 3;
}

impl Selector for SpanField {
    type Value = (SpanAt, u32);

    fn read(&self, d: &mut Decoder) -> (SpanAt, u32) {
        let at = match d.below(4) {
            0 => SpanAt::Low,
            1 => SpanAt::Zero,
            2 => SpanAt::Top32,
            _ => SpanAt::Top64,
        };
        let pages = match d.below(Self::ANY_LAST + 1) {
            0..=Self::FEW_LAST => 1 + u32::from(d.u8() % 64),
            Self::ANY.. => 1 + u32::from(d.u16()),
        };
        (at, pages)
    }

    fn write(&self, e: &mut Encoder, v: &(SpanAt, u32)) {
        e.u8(match v.0 {
            SpanAt::Low => 0,
            SpanAt::Zero => 1,
            SpanAt::Top32 => 2,
            SpanAt::Top64 => 3,
        });
        e.u8(Self::ANY);
        e.u16(v.1.wrapping_sub(1) as u16);
    }
}

/// A CPU count: `1..=8` mostly, or raw (0 and above 8 are refused: a predicted error).
pub struct CpuCountField;

impl CpuCountField {
    /// The last tag of the valid family.
    const VALID_LAST: u8 = 6;
    /// Raw.
    const RAW: u8 = 7;
}

impl Selector for CpuCountField {
    type Value = u8;

    fn read(&self, d: &mut Decoder) -> u8 {
        match d.below(Self::RAW + 1) {
            0..=Self::VALID_LAST => 1 + d.u8() % 8,
            Self::RAW.. => d.u8(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u8) {
        e.u8(Self::RAW);
        e.u8(*v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swarm_reads_what_each_target_wrote_before_it_was_shared() {
        // One byte for 8 kinds, zero = all; two bytes masked to 13 kinds, zero = all.
        let mut d = Decoder::new(&[0, 7]);
        let s = Swarm::read(&mut d, 8);
        assert_eq!(s.mask, 0xff);
        assert_eq!(s.next_kind(&mut d), 7);
        let mut d = Decoder::new(&[0b0000_0100, 0, 3]);
        let s = Swarm::read(&mut d, 8);
        assert_eq!(s.next_kind(&mut d), 2, "kind 3 moves up cyclically to 2");
        let mut d = Decoder::new(&[0, 0xe0, 12]);
        let s = Swarm::read(&mut d, 13);
        assert_eq!(
            s.mask, 0x1fff,
            "bits past the kinds ignored, none left = all"
        );
        assert_eq!(s.next_kind(&mut d), 12);
        let mut e = Encoder::new();
        Swarm::write_all(&mut e, 13);
        Swarm::write_all(&mut e, 8);
        assert_eq!(e.finish(), [0, 0, 0]);
    }

    #[test]
    fn read_ops_stops_at_the_end_of_the_bytes_and_at_the_op_limit() {
        let mut d = Decoder::new(&[0, 1, 2, 3]);
        let s = Swarm::read(&mut d, 4);
        let mut ops = Vec::new();
        s.read_ops(&mut d, &mut ops, |k, _| k);
        assert_eq!(ops, [1, 2, 3]);
        let bytes = vec![1u8; super::super::MAX_OPS + 50];
        let mut d = Decoder::new(&bytes);
        let mut ops = Vec::new();
        s.read_ops(&mut d, &mut ops, |k, _| k);
        assert_eq!(ops.len(), super::super::MAX_OPS);
    }
}
