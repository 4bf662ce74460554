//! The kmem byte codec: [`decode`] turns any bytes into a [`Scenario`], [`encode`] writes
//! bytes that decode back to exactly the scenario it is given.
//!
//! Every field is a [`Selector`] whose `read` and `write` sit side by side and name the same
//! tag constants. The op kinds are the `K_*` constants, numbered as the swarm mask numbers
//! them; [`read_op`] and [`write_op`] handle them in the same order.
//!
//! Layout: the mode byte (debug, guard), the CPU count, the rounds, the depot, the map's
//! place and pages, the swarm mask; then each op as its kind byte and its fields, until the
//! bytes run out or [`MAX_OPS`] ops.
//!
//! [`MAX_OPS`]: crate::harness::MAX_OPS

use super::scenario::{ObjSel, Op, Scenario, SizeSel, WriteAt};
use crate::harness::codec::{CpuCountField, Decoder, Encoder, Selector, SpanField, Swarm};
use crate::kmem::{KMEM_REDZONE_BYTE, MAX_KMEM_SIZE};
use crate::slab::{MAX_DEPOT, MAX_ROUNDS};

/// Decodes `data` (any bytes): the header, then ops until the bytes run out.
pub(super) fn decode(data: &[u8]) -> Scenario {
    let mut d = Decoder::new(data);
    let mode = d.u8();
    let cpus = CpuCountField.read(&mut d);
    let rounds = CountField(MAX_ROUNDS).read(&mut d);
    let depot = CountField(MAX_DEPOT).read(&mut d);
    let (map_at, map_pages) = SpanField.read(&mut d);
    let swarm = Swarm::read(&mut d, KINDS);
    let mut ops = Vec::new();
    swarm.read_ops(&mut d, &mut ops, read_op);
    Scenario {
        debug: mode & 1 == 0,
        guard: mode & 2 != 0,
        cpus,
        rounds,
        depot,
        map_at,
        map_pages,
        ops,
    }
}

/// Bytes that [`decode`] turns back into exactly `scenario`.
pub(super) fn encode(s: &Scenario) -> Vec<u8> {
    let mut e = Encoder::new();
    e.u8(u8::from(!s.debug) | (u8::from(s.guard) << 1));
    CpuCountField.write(&mut e, &s.cpus);
    CountField(MAX_ROUNDS).write(&mut e, &s.rounds);
    CountField(MAX_DEPOT).write(&mut e, &s.depot);
    SpanField.write(&mut e, &(s.map_at, s.map_pages));
    Swarm::write_all(&mut e, KINDS);
    for op in &s.ops {
        write_op(&mut e, op);
    }
    e.finish()
}

// ---- the header ---------------------------------------------------------------------------------

/// Magazine rounds or depot capacity with limit `.0`: 0, a few, the limit from both sides,
/// raw.
struct CountField(u16);

impl CountField {
    /// 0.
    const NONE: u8 = 0;
    /// `1..=8`.
    const FEW: u8 = 1;
    /// The last tag of that family.
    const FEW_LAST: u8 = 3;
    /// The limit minus one, itself or one more.
    const LIMIT: u8 = 4;
    /// Raw.
    const RAW: u8 = 5;
}

impl Selector for CountField {
    type Value = u16;

    fn read(&self, d: &mut Decoder) -> u16 {
        match d.below(Self::RAW + 1) {
            Self::NONE => 0,
            Self::FEW..=Self::FEW_LAST => 1 + u16::from(d.u8() % 8),
            Self::LIMIT => self.0 - 1 + u16::from(d.u8() % 3),
            Self::RAW.. => d.u16(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u16) {
        e.u8(Self::RAW);
        e.u16(*v);
    }
}

// ---- the ops ------------------------------------------------------------------------------------

/// Request sizes at every route boundary, each from both sides (the redzone's 8 bytes
/// included: 120/121 and 4088/4089 cross a boundary in debug mode only).
pub const BOUNDARY_SIZES: [u64; 20] = [
    1, 7, 8, 9, 120, 121, 127, 128, 129, 248, 249, 256, 257, 4088, 4089, 4095, 4096, 4097, 8192,
    8193,
];

/// Object sizes of Linux slab caches (benches/workloads/linux-slabinfo.tsv).
pub const SLABINFO_SIZES: [u64; 16] = [
    8, 16, 32, 64, 96, 128, 184, 192, 256, 312, 416, 704, 1024, 2048, 3072, 8192,
];

/// An allocation's size.
struct SizeField;

impl SizeField {
    /// The last tag of the tiny family (1..=128: the quantum caches).
    const TINY_LAST: u8 = 4;
    /// A boundary size.
    const BOUNDARY: u8 = 5;
    /// The last tag of that family.
    const BOUNDARY_LAST: u8 = 6;
    /// 129..=4096 (the classes).
    const MID: u8 = 7;
    /// The last tag of that family.
    const MID_LAST: u8 = 8;
    /// 4097 and up (the large path).
    const LARGE: u8 = 9;
    /// A Linux cache's object size.
    const SLABINFO: u8 = 10;
    /// Up to 4 MiB.
    const BIG: u8 = 11;
    /// `MAX_KMEM_SIZE` from both sides.
    const LIMIT: u8 = 12;
    /// 0.
    const ZERO: u8 = 13;
    /// Raw.
    const RAW: u8 = 14;
}

impl Selector for SizeField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        match d.below(Self::RAW + 1) {
            0..=Self::TINY_LAST => 1 + u64::from(d.u8() % 128),
            Self::BOUNDARY..=Self::BOUNDARY_LAST => {
                BOUNDARY_SIZES[usize::from(d.u8()) % BOUNDARY_SIZES.len()]
            }
            Self::MID..=Self::MID_LAST => 129 + u64::from(d.u16() % 3968),
            Self::LARGE => 4097 + u64::from(d.u16()),
            Self::SLABINFO => SLABINFO_SIZES[usize::from(d.u8()) % SLABINFO_SIZES.len()],
            Self::BIG => 1 + u64::from(d.u32() % (4 << 20)),
            Self::LIMIT => MAX_KMEM_SIZE - 1 + u64::from(d.u8() % 3),
            Self::ZERO => 0,
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

/// An object.
struct ObjField;

impl ObjField {
    /// The last tag of the live family.
    const LIVE_LAST: u8 = 5;
    /// A recently freed object.
    const FREED: u8 = 6;
    /// Raw.
    const RAW: u8 = 7;
}

impl Selector for ObjField {
    type Value = ObjSel;

    fn read(&self, d: &mut Decoder) -> ObjSel {
        match d.below(Self::RAW + 1) {
            0..=Self::LIVE_LAST => ObjSel::Live(d.u16()),
            Self::FREED => ObjSel::Freed(d.u8()),
            Self::RAW.. => ObjSel::Raw(d.u64()),
        }
    }

    fn write(&self, e: &mut Encoder, v: &ObjSel) {
        match *v {
            ObjSel::Live(h) => {
                e.u8(0);
                e.u16(h);
            }
            ObjSel::Freed(i) => {
                e.u8(Self::FREED);
                e.u8(i);
            }
            ObjSel::Raw(a) => {
                e.u8(Self::RAW);
                e.u64(a);
            }
        }
    }
}

/// A free's size, relative to the object's.
struct SizeSelField;

impl SizeSelField {
    /// The last tag of the same-size family.
    const SAME_LAST: u8 = 4;
    /// Plus.
    const PLUS: u8 = 5;
    /// Minus.
    const MINUS: u8 = 6;
    /// Raw.
    const RAW: u8 = 7;
}

impl Selector for SizeSelField {
    type Value = SizeSel;

    fn read(&self, d: &mut Decoder) -> SizeSel {
        match d.below(Self::RAW + 1) {
            0..=Self::SAME_LAST => SizeSel::Same,
            Self::PLUS => SizeSel::Plus(d.u16()),
            Self::MINUS => SizeSel::Minus(d.u16()),
            Self::RAW.. => SizeSel::Raw(d.u64()),
        }
    }

    fn write(&self, e: &mut Encoder, v: &SizeSel) {
        match *v {
            SizeSel::Same => e.u8(0),
            SizeSel::Plus(x) => {
                e.u8(Self::PLUS);
                e.u16(x);
            }
            SizeSel::Minus(x) => {
                e.u8(Self::MINUS);
                e.u16(x);
            }
            SizeSel::Raw(s) => {
                e.u8(Self::RAW);
                e.u64(s);
            }
        }
    }
}

/// Where a write lands.
struct WriteAtField;

impl WriteAtField {
    /// The last tag of the inside family.
    const INSIDE_LAST: u8 = 3;
    /// An overflow of 1..=16 bytes.
    const SHORT_OVERFLOW: u8 = 4;
    /// The last tag of that family.
    const SHORT_OVERFLOW_LAST: u8 = 5;
    /// An overflow of any length.
    const OVERFLOW: u8 = 6;
    /// Any offset.
    const OFFSET: u8 = 7;
}

impl Selector for WriteAtField {
    type Value = WriteAt;

    fn read(&self, d: &mut Decoder) -> WriteAt {
        match d.below(Self::OFFSET + 1) {
            0..=Self::INSIDE_LAST => WriteAt::Inside(d.u16()),
            Self::SHORT_OVERFLOW..=Self::SHORT_OVERFLOW_LAST => {
                WriteAt::Overflow(1 + u16::from(d.u8() % 16))
            }
            Self::OVERFLOW => WriteAt::Overflow(d.u16()),
            Self::OFFSET.. => WriteAt::Offset(d.u32()),
        }
    }

    fn write(&self, e: &mut Encoder, v: &WriteAt) {
        match *v {
            WriteAt::Inside(o) => {
                e.u8(0);
                e.u16(o);
            }
            WriteAt::Overflow(k) => {
                e.u8(Self::OVERFLOW);
                e.u16(k);
            }
            WriteAt::Offset(o) => {
                e.u8(Self::OFFSET);
                e.u32(o);
            }
        }
    }
}

/// A written byte: the redzone pattern (one write in four: not a clobber), or any.
struct ByteField;

impl ByteField {
    /// The pattern.
    const PATTERN: u8 = 0;
    /// Raw.
    const RAW: u8 = 1;
    /// Tags.
    const COUNT: u8 = 4;
}

impl Selector for ByteField {
    type Value = u8;

    fn read(&self, d: &mut Decoder) -> u8 {
        match d.below(Self::COUNT) {
            Self::PATTERN => KMEM_REDZONE_BYTE,
            _ => d.u8(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u8) {
        e.u8(Self::RAW);
        e.u8(*v);
    }
}

/// A write's or a read's length: short (0..=64) mostly (the model's memory is a byte at a
/// time, slow on purpose), or any up to 65,535.
struct LenField;

impl LenField {
    /// The last tag of the short family.
    const SHORT_LAST: u8 = 6;
    /// Raw.
    const RAW: u8 = 7;
}

impl Selector for LenField {
    type Value = u16;

    fn read(&self, d: &mut Decoder) -> u16 {
        match d.below(Self::RAW + 1) {
            0..=Self::SHORT_LAST => u16::from(d.u8() % 65),
            Self::RAW.. => d.u16(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u16) {
        e.u8(Self::RAW);
        e.u16(*v);
    }
}

/// `alloc` (three kinds).
const K_ALLOC: u8 = 0;
/// `alloc`, again.
const K_ALLOC2: u8 = 1;
/// `alloc`, a third time.
const K_ALLOC3: u8 = 2;
/// `free` (two kinds).
const K_FREE: u8 = 3;
/// `free`, again.
const K_FREE2: u8 = 4;
/// A write (two kinds).
const K_WRITE: u8 = 5;
/// A write, again.
const K_WRITE2: u8 = 6;
/// A read.
const K_READ: u8 = 7;
/// `check`.
const K_CHECK: u8 = 8;
/// `reclaim`.
const K_RECLAIM: u8 = 9;
/// Op kinds.
const KINDS: u8 = 10;

/// Reads the fields of an op of `kind`.
fn read_op(kind: u8, d: &mut Decoder) -> Op {
    match kind {
        K_ALLOC | K_ALLOC2 | K_ALLOC3 => Op::Alloc {
            size: SizeField.read(d),
            cpu: d.u8(),
        },
        K_FREE | K_FREE2 => Op::Free {
            obj: ObjField.read(d),
            size: SizeSelField.read(d),
            cpu: d.u8(),
        },
        K_WRITE | K_WRITE2 => Op::Write {
            obj: ObjField.read(d),
            at: WriteAtField.read(d),
            len: LenField.read(d),
            byte: ByteField.read(d),
        },
        K_READ => Op::Read {
            obj: ObjField.read(d),
            offset: d.u16(),
            len: LenField.read(d),
        },
        K_CHECK => Op::Check {
            obj: ObjField.read(d),
        },
        _ => Op::Reclaim,
    }
}

/// Writes `op` as [`read_op`] reads it.
fn write_op(e: &mut Encoder, op: &Op) {
    match *op {
        Op::Alloc { size, cpu } => {
            e.u8(K_ALLOC);
            SizeField.write(e, &size);
            e.u8(cpu);
        }
        Op::Free { obj, size, cpu } => {
            e.u8(K_FREE);
            ObjField.write(e, &obj);
            SizeSelField.write(e, &size);
            e.u8(cpu);
        }
        Op::Write { obj, at, len, byte } => {
            e.u8(K_WRITE);
            ObjField.write(e, &obj);
            WriteAtField.write(e, &at);
            LenField.write(e, &len);
            ByteField.write(e, &byte);
        }
        Op::Read { obj, offset, len } => {
            e.u8(K_READ);
            ObjField.write(e, &obj);
            e.u16(offset);
            LenField.write(e, &len);
        }
        Op::Check { obj } => {
            e.u8(K_CHECK);
            ObjField.write(e, &obj);
        }
        Op::Reclaim => e.u8(K_RECLAIM),
    }
}
