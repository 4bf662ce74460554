//! The slab byte codec: [`decode`] turns any bytes into a [`Scenario`], [`encode`] writes
//! bytes that decode back to exactly the scenario it is given.
//!
//! Every field is a [`Selector`] whose `read` and `write` sit side by side and name the same
//! tag constants (a `FIRST..=LAST` pair where several tags read one family, to weight it).
//! Writers use the raw tag unless a value has a tag of its own. The op kinds are the `K_*`
//! constants, numbered as the swarm mask numbers them; [`read_op`] and [`write_op`] handle
//! them in the same order.
//!
//! Layout: the CPU count, the backend span, the keg count and each keg, the zone count and
//! each zone, the swarm mask; then each op as its kind byte and its fields, until the bytes
//! run out or [`MAX_OPS`] ops.
//!
//! [`MAX_OPS`]: crate::harness::MAX_OPS

use super::scenario::{
    AddrSel, Backend, CpuSel, KegSpec, Op, Scenario, ZoneSel, ZoneSpec, MAX_CASE_KEGS,
    MAX_CASE_ZONES,
};
use crate::harness::codec::{CpuCountField, Decoder, Encoder, Selector, SpanField, Swarm};
use crate::slab::{MAX_DEPOT, MAX_ITEM_SIZE, MAX_ROUNDS};

/// Decodes `data` (any bytes): the header, then ops until the bytes run out.
pub(super) fn decode(data: &[u8]) -> Scenario {
    let mut d = Decoder::new(data);
    let cpus = CpuCountField.read(&mut d);
    let (at, pages) = SpanField.read(&mut d);
    let backend = Backend { at, pages };
    let kegs = (0..1 + d.u8() % MAX_CASE_KEGS)
        .map(|_| KegField.read(&mut d))
        .collect();
    let zones = (0..1 + d.u8() % MAX_CASE_ZONES)
        .map(|_| ZoneField.read(&mut d))
        .collect();
    let swarm = Swarm::read(&mut d, KINDS);
    let mut ops = Vec::new();
    swarm.read_ops(&mut d, &mut ops, read_op);
    Scenario {
        cpus,
        backend,
        kegs,
        zones,
        ops,
    }
}

/// Bytes that [`decode`] turns back into exactly `scenario` (1..=4 kegs, 1..=6 zones).
pub(super) fn encode(s: &Scenario) -> Vec<u8> {
    let mut e = Encoder::new();
    CpuCountField.write(&mut e, &s.cpus);
    SpanField.write(&mut e, &(s.backend.at, s.backend.pages));
    e.u8((s.kegs.len() as u8).wrapping_sub(1));
    for k in &s.kegs {
        KegField.write(&mut e, k);
    }
    e.u8((s.zones.len() as u8).wrapping_sub(1));
    for z in &s.zones {
        ZoneField.write(&mut e, z);
    }
    Swarm::write_all(&mut e, KINDS);
    for op in &s.ops {
        write_op(&mut e, op);
    }
    e.finish()
}

// ---- the header ---------------------------------------------------------------------------------

/// A keg: item size, alignment, refcounts (one keg in four).
struct KegField;

impl Selector for KegField {
    type Value = KegSpec;

    fn read(&self, d: &mut Decoder) -> KegSpec {
        KegSpec {
            item_size: ItemSizeField.read(d),
            align: AlignField.read(d),
            refcounts: d.u8().is_multiple_of(4),
        }
    }

    fn write(&self, e: &mut Encoder, v: &KegSpec) {
        ItemSizeField.write(e, &v.item_size);
        AlignField.write(e, &v.align);
        e.u8(if v.refcounts { 0 } else { 1 });
    }
}

/// An item size: small (1..=256), a power of two (8..=65,536), mid (1..=8,192), any up to
/// 65,536, the largest item size from both sides, 0, or raw.
struct ItemSizeField;

impl ItemSizeField {
    /// The last tag of the small family.
    const SMALL_LAST: u8 = 4;
    /// Powers of two.
    const POW2: u8 = 5;
    /// The last tag of that family.
    const POW2_LAST: u8 = 7;
    /// `1 + u16 % 8192`.
    const MID: u8 = 8;
    /// The last tag of that family.
    const MID_LAST: u8 = 9;
    /// `1 + u16`.
    const LARGE: u8 = 10;
    /// `MAX_ITEM_SIZE - 1 ..= MAX_ITEM_SIZE + 1`.
    const LIMIT: u8 = 11;
    /// 0 (refused).
    const ZERO: u8 = 12;
    /// Raw.
    const RAW: u8 = 13;
}

impl Selector for ItemSizeField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        match d.below(Self::RAW + 1) {
            0..=Self::SMALL_LAST => 1 + u64::from(d.u8()),
            Self::POW2..=Self::POW2_LAST => 1 << (3 + d.u8() % 14),
            Self::MID..=Self::MID_LAST => 1 + u64::from(d.u16() % 8192),
            Self::LARGE => 1 + u64::from(d.u16()),
            Self::LIMIT => MAX_ITEM_SIZE - 1 + u64::from(d.u8() % 3),
            Self::ZERO => 0,
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

/// An item alignment: the minimum (8) mostly, a power of two up to a page, the largest
/// from both sides (4096, 8192), 0, or raw.
struct AlignField;

impl AlignField {
    /// The last tag of the minimum family.
    const MIN_LAST: u8 = 3;
    /// `1 << 0..=12`.
    const POW2: u8 = 4;
    /// 4096 or 8192.
    const LIMIT: u8 = 5;
    /// 0 (refused).
    const ZERO: u8 = 6;
    /// Raw.
    const RAW: u8 = 7;
}

impl Selector for AlignField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        match d.below(Self::RAW + 1) {
            0..=Self::MIN_LAST => 8,
            Self::POW2 => 1 << (d.u8() % 13),
            Self::LIMIT => 4096 << (d.u8() % 2),
            Self::ZERO => 0,
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

/// A zone: its keg index, a packet zone's secondary (one zone in four), rounds, depot,
/// limit.
struct ZoneField;

impl ZoneField {
    /// The secondary tag: a packet zone.
    const PACKET: u8 = 0;
    /// A plain zone (any other byte).
    const PLAIN: u8 = 1;
}

impl Selector for ZoneField {
    type Value = ZoneSpec;

    fn read(&self, d: &mut Decoder) -> ZoneSpec {
        let keg = d.u8();
        let secondary = match d.u8() % 4 {
            Self::PACKET => Some(d.u8()),
            _ => None,
        };
        ZoneSpec {
            keg,
            secondary,
            rounds: RoundsField.read(d),
            depot: DepotField.read(d),
            limit: LimitField.read(d),
        }
    }

    fn write(&self, e: &mut Encoder, v: &ZoneSpec) {
        e.u8(v.keg);
        match v.secondary {
            Some(s) => {
                e.u8(Self::PACKET);
                e.u8(s);
            }
            None => e.u8(Self::PLAIN),
        }
        RoundsField.write(e, &v.rounds);
        DepotField.write(e, &v.depot);
        LimitField.write(e, &v.limit);
    }
}

/// Magazine rounds: 0 (no magazines), a few, any valid, the limit from both sides, raw.
struct RoundsField;

impl RoundsField {
    /// 0.
    const NONE: u8 = 0;
    /// `1..=8`.
    const FEW: u8 = 1;
    /// The last tag of that family.
    const FEW_LAST: u8 = 2;
    /// `1..=MAX_ROUNDS`.
    const ANY: u8 = 3;
    /// `MAX_ROUNDS` - 1, itself or one more.
    const LIMIT: u8 = 4;
    /// Raw.
    const RAW: u8 = 5;
}

impl Selector for RoundsField {
    type Value = u16;

    fn read(&self, d: &mut Decoder) -> u16 {
        match d.below(Self::RAW + 1) {
            Self::NONE => 0,
            Self::FEW..=Self::FEW_LAST => 1 + u16::from(d.u8() % 8),
            Self::ANY => 1 + u16::from(d.u8()) % MAX_ROUNDS,
            Self::LIMIT => MAX_ROUNDS - 1 + u16::from(d.u8() % 3),
            Self::RAW.. => d.u16(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u16) {
        e.u8(Self::RAW);
        e.u16(*v);
    }
}

/// Depot capacity: 0, a few, the limit from both sides, raw.
struct DepotField;

impl DepotField {
    /// 0: a full magazine pair means the next free goes to the keg.
    const NONE: u8 = 0;
    /// `0..=3`.
    const FEW: u8 = 1;
    /// The last tag of that family.
    const FEW_LAST: u8 = 2;
    /// `MAX_DEPOT` - 1, itself or one more.
    const LIMIT: u8 = 3;
    /// Raw.
    const RAW: u8 = 4;
}

impl Selector for DepotField {
    type Value = u16;

    fn read(&self, d: &mut Decoder) -> u16 {
        match d.below(Self::RAW + 1) {
            Self::NONE => 0,
            Self::FEW..=Self::FEW_LAST => u16::from(d.u8() % 4),
            Self::LIMIT => MAX_DEPOT - 1 + u16::from(d.u8() % 3),
            Self::RAW.. => d.u16(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u16) {
        e.u8(Self::RAW);
        e.u16(*v);
    }
}

/// An item limit: none (0) mostly, a few items, or raw.
struct LimitField;

impl LimitField {
    /// The last tag of the none family.
    const NONE_LAST: u8 = 1;
    /// `1..=32`.
    const FEW: u8 = 2;
    /// Raw.
    const RAW: u8 = 3;
}

impl Selector for LimitField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        match d.below(Self::RAW + 1) {
            0..=Self::NONE_LAST => 0,
            Self::FEW => 1 + u64::from(d.u8() % 32),
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

// ---- the ops ------------------------------------------------------------------------------------

/// A zone: an index below [`ZoneSelField::RAW_FIRST`], else that byte as a raw id.
struct ZoneSelField;

impl ZoneSelField {
    /// Bytes from here on are raw ids (248..=255: never a zone).
    const RAW_FIRST: u8 = 248;
}

impl Selector for ZoneSelField {
    type Value = ZoneSel;

    fn read(&self, d: &mut Decoder) -> ZoneSel {
        match d.u8() {
            b @ ..Self::RAW_FIRST => ZoneSel::Index(b),
            b => ZoneSel::Raw(b),
        }
    }

    fn write(&self, e: &mut Encoder, v: &ZoneSel) {
        e.u8(match *v {
            ZoneSel::Index(i) | ZoneSel::Raw(i) => i,
        });
    }
}

/// A CPU: an index below [`CpuSelField::RAW_FIRST`], else that byte as a raw id.
struct CpuSelField;

impl CpuSelField {
    /// Bytes from here on are raw ids (248..=255: past every CPU).
    const RAW_FIRST: u8 = 248;
}

impl Selector for CpuSelField {
    type Value = CpuSel;

    fn read(&self, d: &mut Decoder) -> CpuSel {
        match d.u8() {
            b @ ..Self::RAW_FIRST => CpuSel::Index(b),
            b => CpuSel::Raw(b),
        }
    }

    fn write(&self, e: &mut Encoder, v: &CpuSel) {
        e.u8(match *v {
            CpuSel::Index(i) | CpuSel::Raw(i) => i,
        });
    }
}

/// A free's (or a refcount's) address.
struct AddrField;

impl AddrField {
    /// A live item (the last tag of the family).
    const LIVE_LAST: u8 = 3;
    /// A cached item.
    const CACHED: u8 = 4;
    /// The last tag of that family.
    const CACHED_LAST: u8 = 5;
    /// A recently freed address.
    const FREED: u8 = 6;
    /// The last tag of that family.
    const FREED_LAST: u8 = 7;
    /// A live pair's secondary half.
    const PAIR_HALF: u8 = 8;
    /// An interior pointer.
    const INTERIOR: u8 = 9;
    /// The last tag of that family.
    const INTERIOR_LAST: u8 = 10;
    /// Near a slab's end.
    const SLAB_END: u8 = 11;
    /// The last tag of that family.
    const SLAB_END_LAST: u8 = 12;
    /// Raw.
    const RAW: u8 = 13;
}

impl Selector for AddrField {
    type Value = AddrSel;

    fn read(&self, d: &mut Decoder) -> AddrSel {
        match d.below(Self::RAW + 1) {
            0..=Self::LIVE_LAST => AddrSel::Live { handle: d.u16() },
            Self::CACHED..=Self::CACHED_LAST => AddrSel::Cached { index: d.u16() },
            Self::FREED..=Self::FREED_LAST => AddrSel::Freed { index: d.u8() },
            Self::PAIR_HALF => AddrSel::PairHalf { handle: d.u16() },
            Self::INTERIOR..=Self::INTERIOR_LAST => AddrSel::Interior {
                handle: d.u16(),
                offset: d.u16(),
            },
            Self::SLAB_END..=Self::SLAB_END_LAST => AddrSel::SlabEnd {
                slab: d.u16(),
                back: d.u16(),
            },
            Self::RAW.. => AddrSel::Raw(d.u64()),
        }
    }

    fn write(&self, e: &mut Encoder, v: &AddrSel) {
        match *v {
            AddrSel::Live { handle } => {
                e.u8(0);
                e.u16(handle);
            }
            AddrSel::Cached { index } => {
                e.u8(Self::CACHED);
                e.u16(index);
            }
            AddrSel::Freed { index } => {
                e.u8(Self::FREED);
                e.u8(index);
            }
            AddrSel::PairHalf { handle } => {
                e.u8(Self::PAIR_HALF);
                e.u16(handle);
            }
            AddrSel::Interior { handle, offset } => {
                e.u8(Self::INTERIOR);
                e.u16(handle);
                e.u16(offset);
            }
            AddrSel::SlabEnd { slab, back } => {
                e.u8(Self::SLAB_END);
                e.u16(slab);
                e.u16(back);
            }
            AddrSel::Raw(a) => {
                e.u8(Self::RAW);
                e.u64(a);
            }
        }
    }
}

/// A burst's count: a byte, 0 read as 1.
struct CountField;

impl Selector for CountField {
    type Value = u8;

    fn read(&self, d: &mut Decoder) -> u8 {
        d.u8().max(1)
    }

    fn write(&self, e: &mut Encoder, v: &u8) {
        e.u8(*v);
    }
}

/// `alloc` (three kinds: allocations drive everything else).
const K_ALLOC: u8 = 0;
/// `alloc`, again.
const K_ALLOC2: u8 = 1;
/// `alloc`, a third time.
const K_ALLOC3: u8 = 2;
/// A burst of allocations.
const K_ALLOC_BURST: u8 = 3;
/// `free` of a live item (two kinds).
const K_FREE: u8 = 4;
/// `free` of a live item, again.
const K_FREE2: u8 = 5;
/// A burst of frees.
const K_FREE_BURST: u8 = 6;
/// `free` of a selected address (two kinds).
const K_FREE_AT: u8 = 7;
/// `free` of a selected address, again.
const K_FREE_AT2: u8 = 8;
/// `set_limit`.
const K_SET_LIMIT: u8 = 9;
/// `refcount`.
const K_REFCOUNT: u8 = 10;
/// `set_refcount`.
const K_SET_REFCOUNT: u8 = 11;
/// `reclaim`.
const K_RECLAIM: u8 = 12;
/// Op kinds.
const KINDS: u8 = 13;

/// Reads the fields of an op of `kind`.
fn read_op(kind: u8, d: &mut Decoder) -> Op {
    match kind {
        K_ALLOC | K_ALLOC2 | K_ALLOC3 => Op::Alloc {
            zone: ZoneSelField.read(d),
            cpu: CpuSelField.read(d),
        },
        K_ALLOC_BURST => Op::AllocBurst {
            zone: ZoneSelField.read(d),
            cpu: CpuSelField.read(d),
            count: CountField.read(d),
        },
        K_FREE | K_FREE2 => Op::Free {
            zone: ZoneSelField.read(d),
            cpu: CpuSelField.read(d),
            handle: d.u16(),
        },
        K_FREE_BURST => Op::FreeBurst {
            zone: ZoneSelField.read(d),
            cpu: CpuSelField.read(d),
            count: CountField.read(d),
        },
        K_FREE_AT | K_FREE_AT2 => Op::FreeAt {
            zone: ZoneSelField.read(d),
            cpu: CpuSelField.read(d),
            addr: AddrField.read(d),
        },
        K_SET_LIMIT => Op::SetLimit {
            zone: ZoneSelField.read(d),
            limit: LimitField.read(d),
        },
        K_REFCOUNT => Op::Refcount {
            addr: AddrField.read(d),
        },
        K_SET_REFCOUNT => Op::SetRefcount {
            addr: AddrField.read(d),
            value: d.u32(),
        },
        _ => Op::Reclaim,
    }
}

/// Writes `op` as [`read_op`] reads it.
fn write_op(e: &mut Encoder, op: &Op) {
    match *op {
        Op::Alloc { zone, cpu } => {
            e.u8(K_ALLOC);
            ZoneSelField.write(e, &zone);
            CpuSelField.write(e, &cpu);
        }
        Op::AllocBurst { zone, cpu, count } => {
            e.u8(K_ALLOC_BURST);
            ZoneSelField.write(e, &zone);
            CpuSelField.write(e, &cpu);
            CountField.write(e, &count);
        }
        Op::Free { zone, cpu, handle } => {
            e.u8(K_FREE);
            ZoneSelField.write(e, &zone);
            CpuSelField.write(e, &cpu);
            e.u16(handle);
        }
        Op::FreeBurst { zone, cpu, count } => {
            e.u8(K_FREE_BURST);
            ZoneSelField.write(e, &zone);
            CpuSelField.write(e, &cpu);
            CountField.write(e, &count);
        }
        Op::FreeAt { zone, cpu, addr } => {
            e.u8(K_FREE_AT);
            ZoneSelField.write(e, &zone);
            CpuSelField.write(e, &cpu);
            AddrField.write(e, &addr);
        }
        Op::SetLimit { zone, limit } => {
            e.u8(K_SET_LIMIT);
            ZoneSelField.write(e, &zone);
            LimitField.write(e, &limit);
        }
        Op::Refcount { addr } => {
            e.u8(K_REFCOUNT);
            AddrField.write(e, &addr);
        }
        Op::SetRefcount { addr, value } => {
            e.u8(K_SET_REFCOUNT);
            AddrField.write(e, &addr);
            e.u32(value);
        }
        Op::Reclaim => e.u8(K_RECLAIM),
    }
}
