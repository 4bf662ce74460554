//! The byte format of an mmu scenario (module comment of [`super`], section 1): a header, a
//! swarm mask, then ops until the bytes run out or [`super::super::MAX_OPS`].
//!
//! Every field is read through a [`Selector`]: a small type holding what the field depends on
//! (the mode, the CPU count, the page size read before it), its tag numbers named once in an
//! `impl` block beside its `read` and `write`. The writer always takes the tag that reads
//! back exactly the value written (mostly the raw tag, the last one), so
//! `decode(encode(case)) == case`. The op kinds ([`K_CREATE`] ...) are read by
//! [`OpFields::read`] and written by [`OpFields::write`], one arm per kind in the same order.
//!
//! The format is fixed: corpus files, seeded-bug campaigns and fuzzer corpora depend on it.
//! Version 2 ([`super::MmuTarget`]'s `VERSION`) adds, at the end of each list, the op kind
//! [`K_LIMIT_MAP`] (a map at the named limits, [`LimitMapField`]), the op kind [`K_RESIZE`]
//! (a mapping split or collapsed to another page size) and a tag for the
//! header's limits ([`MAX_FRAMES`], [`MAX_CPUS`], [`MAX_TLB_ENTRIES`], each from both
//! sides, and 0); [`decode_v1`] reads version 1 bytes as they always were.

use super::super::codec::{Decoder, Encoder, Selector, Swarm};
use super::{FlushMode, Op, Place, Point, Scenario, SpaceSel, TlbOp, Va, K4};
use crate::addr::{Arch, ALL_ARCHES};
use crate::mmu::geometry::{Geometry, NARROW_ENTRIES, PDPT_ENTRIES, WIDE_ENTRIES};
use crate::mmu::{AccessKind, MAX_CPUS, MAX_FRAMES, MAX_MAP_PAGES, MAX_TLB_ENTRIES};

/// Op kinds of version 2, as the swarm mask numbers them.
const KINDS: u8 = 15;
/// Op kinds of version 1 (all but [`K_LIMIT_MAP`] and [`K_RESIZE`]).
const KINDS_V1: u8 = 13;

// Op kind numbers (the swarm mask uses the same numbering). Two kinds of map and of access
// make those ops twice as likely; the writer uses the first.
/// `create_space`.
const K_CREATE: u8 = 0;
/// `destroy_space`.
const K_DESTROY: u8 = 1;
/// `map`.
const K_MAP: u8 = 2;
/// `map`, again.
const K_MAP2: u8 = 3;
/// `unmap`.
const K_UNMAP: u8 = 4;
/// `protect`.
const K_PROTECT: u8 = 5;
/// `map_shared_segment`.
const K_MAP_SHARED: u8 = 6;
/// `unmap_shared_segment`.
const K_UNMAP_SHARED: u8 = 7;
/// `translate`.
const K_TRANSLATE: u8 = 8;
/// `access`.
const K_ACCESS: u8 = 9;
/// `access`, again.
const K_ACCESS2: u8 = 10;
/// An explicit TLB operation.
const K_TLB: u8 = 11;
/// Apply the held flushes (the last kind of version 1).
const K_APPLY: u8 = 12;
/// `map` at a named limit (version 2): [`LimitMapField`]. Written back as a plain
/// [`K_MAP`] with raw fields.
const K_LIMIT_MAP: u8 = 13;
/// Remap a remembered mapping with another page size (version 2): [`Op::Resize`].
const K_RESIZE: u8 = 14;

/// Decodes any bytes into a scenario (`Case::decode`).
pub(super) fn decode(data: &[u8]) -> Scenario {
    decode_lang(data, true)
}

/// Decodes bytes of version 1 (no limit tags, no [`K_LIMIT_MAP`]) as they always were.
pub(super) fn decode_v1(data: &[u8]) -> Scenario {
    decode_lang(data, false)
}

/// Decodes `data` in version 2 (`v2`) or 1.
fn decode_lang(data: &[u8], v2: bool) -> Scenario {
    let mut d = Decoder::new(data);
    let arch = ArchField.read(&mut d);
    let frames = FramesField { arch, v2 }.read(&mut d);
    let cpus = CpuCountField { v2 }.read(&mut d);
    let tlb_entries = TlbSizeField { v2 }.read(&mut d);
    let swarm = Swarm::read(&mut d, if v2 { KINDS } else { KINDS_V1 });
    let fields = OpFields { arch, cpus };
    let mut ops = Vec::new();
    swarm.read_ops(&mut d, &mut ops, |kind, d| fields.read(kind, d));
    Scenario {
        arch,
        frames,
        cpus,
        tlb_entries,
        ops,
    }
}

/// Bytes that [`decode`] turns back into exactly `s` (`Case::encode`).
pub(super) fn encode(s: &Scenario) -> Vec<u8> {
    let mut e = Encoder::new();
    ArchField.write(&mut e, &s.arch);
    FramesField {
        arch: s.arch,
        v2: true,
    }
    .write(&mut e, &s.frames);
    CpuCountField { v2: true }.write(&mut e, &s.cpus);
    TlbSizeField { v2: true }.write(&mut e, &s.tlb_entries);
    // Everything on: ops are written with their final kinds.
    Swarm::write_all(&mut e, KINDS);
    let fields = OpFields {
        arch: s.arch,
        cpus: s.cpus,
    };
    for op in &s.ops {
        fields.write(&mut e, op);
    }
    e.finish()
}

// ---- ops ------------------------------------------------------------------------------------

/// The fields of every op kind; what they depend on is fixed per scenario.
struct OpFields {
    /// Paging mode.
    arch: Arch,
    /// CPU count (CPU numbers are mostly taken modulo it).
    cpus: u8,
}

impl OpFields {
    /// The fields of an op of `kind` (below [`KINDS`]).
    fn read(&self, kind: u8, d: &mut Decoder) -> Op {
        let arch = self.arch;
        let seg = arch.segment_size();
        match kind {
            K_CREATE => Op::CreateSpace,
            K_DESTROY => Op::DestroySpace {
                space: SpaceField.read(d),
                flush: FlushField.read(d),
            },
            K_MAP | K_MAP2 => {
                let space = SpaceField.read(d);
                let page_size = PageSizeField { arch }.read(d);
                let va = VaField::new(arch, page_size).read(d);
                let len = LenField { size: page_size }.read(d);
                let pa = PaField {
                    arch,
                    size: page_size,
                }
                .read(d);
                Op::Map {
                    space,
                    va,
                    pa,
                    len,
                    flags: d.u8(),
                    page_size,
                }
            }
            K_UNMAP => Op::Unmap {
                place: PlaceField { arch }.read(d),
                flush: FlushField.read(d),
            },
            K_PROTECT => Op::Protect {
                place: PlaceField { arch }.read(d),
                flags: d.u8(),
                flush: FlushField.read(d),
            },
            K_MAP_SHARED => {
                let space = SpaceField.read(d);
                let va = VaField::new(arch, seg).read(d);
                let pa = SharedPaField { seg }.read(d);
                let len = SharedLenField { seg }.read(d);
                Op::MapShared {
                    space,
                    va,
                    pa,
                    len,
                    flags: d.u8(),
                }
            }
            K_UNMAP_SHARED => Op::UnmapShared {
                point: PointField { arch, align: seg }.read(d),
                flush: FlushField.read(d),
            },
            K_TRANSLATE => Op::Translate {
                point: PointField { arch, align: K4 }.read(d),
            },
            K_ACCESS | K_ACCESS2 => {
                let cpu = CpuField { cpus: self.cpus }.read(d);
                let point = PointField { arch, align: K4 }.read(d);
                let kind = AccessKindField.read(d);
                Op::Access {
                    cpu,
                    point,
                    kind,
                    user: d.u8() % 2 == 1,
                }
            }
            K_TLB => {
                let cpu = CpuField { cpus: self.cpus }.read(d);
                let op = TlbOpField { arch }.read(d);
                Op::Tlb { cpu, op }
            }
            K_APPLY => Op::ApplyHeldFlushes,
            K_RESIZE => Op::Resize {
                index: d.u8(),
                page_size: PageSizeField { arch }.read(d),
                flush: FlushField.read(d),
            },
            _ => {
                debug_assert_eq!(kind, K_LIMIT_MAP);
                let space = SpaceField.read(d);
                let page_size = PageSizeField { arch }.read(d);
                let (va, len, pa) = LimitMapField { arch, page_size }.read(d);
                Op::Map {
                    space,
                    va: Va::Raw(va),
                    pa,
                    len,
                    flags: d.u8() | FIT,
                    page_size,
                }
            }
        }
    }

    /// Writes `op` with its kind, so that [`OpFields::read`] gives it back.
    fn write(&self, e: &mut Encoder, op: &Op) {
        let arch = self.arch;
        let seg = arch.segment_size();
        match *op {
            Op::CreateSpace => e.u8(K_CREATE),
            Op::DestroySpace { space, flush } => {
                e.u8(K_DESTROY);
                SpaceField.write(e, &space);
                FlushField.write(e, &flush);
            }
            Op::Map {
                space,
                va,
                pa,
                len,
                flags,
                page_size,
            } => {
                e.u8(K_MAP);
                SpaceField.write(e, &space);
                PageSizeField { arch }.write(e, &page_size);
                VaField::new(arch, page_size).write(e, &va);
                LenField { size: page_size }.write(e, &len);
                PaField {
                    arch,
                    size: page_size,
                }
                .write(e, &pa);
                e.u8(flags);
            }
            Op::Unmap { place, flush } => {
                e.u8(K_UNMAP);
                PlaceField { arch }.write(e, &place);
                FlushField.write(e, &flush);
            }
            Op::Protect {
                place,
                flags,
                flush,
            } => {
                e.u8(K_PROTECT);
                PlaceField { arch }.write(e, &place);
                e.u8(flags);
                FlushField.write(e, &flush);
            }
            Op::MapShared {
                space,
                va,
                pa,
                len,
                flags,
            } => {
                e.u8(K_MAP_SHARED);
                SpaceField.write(e, &space);
                VaField::new(arch, seg).write(e, &va);
                SharedPaField { seg }.write(e, &pa);
                SharedLenField { seg }.write(e, &len);
                e.u8(flags);
            }
            Op::UnmapShared { point, flush } => {
                e.u8(K_UNMAP_SHARED);
                PointField { arch, align: seg }.write(e, &point);
                FlushField.write(e, &flush);
            }
            Op::Translate { point } => {
                e.u8(K_TRANSLATE);
                PointField { arch, align: K4 }.write(e, &point);
            }
            Op::Access {
                cpu,
                point,
                kind,
                user,
            } => {
                e.u8(K_ACCESS);
                CpuField { cpus: self.cpus }.write(e, &cpu);
                PointField { arch, align: K4 }.write(e, &point);
                AccessKindField.write(e, &kind);
                e.u8(u8::from(user));
            }
            Op::Tlb { cpu, op } => {
                e.u8(K_TLB);
                CpuField { cpus: self.cpus }.write(e, &cpu);
                TlbOpField { arch }.write(e, &op);
            }
            Op::ApplyHeldFlushes => e.u8(K_APPLY),
            Op::Resize {
                index,
                page_size,
                flush,
            } => {
                e.u8(K_RESIZE);
                e.u8(index);
                PageSizeField { arch }.write(e, &page_size);
                FlushField.write(e, &flush);
            }
        }
    }
}

// ---- header -------------------------------------------------------------------------------

/// The paging mode: an index into [`ALL_ARCHES`].
struct ArchField;

impl ArchField {
    /// The modes' count.
    const COUNT: u8 = 4;
}

impl Selector for ArchField {
    type Value = Arch;

    fn read(&self, d: &mut Decoder) -> Arch {
        ALL_ARCHES[usize::from(d.below(Self::COUNT))]
    }

    fn write(&self, e: &mut Encoder, v: &Arch) {
        e.u8(ALL_ARCHES.iter().position(|a| a == v).unwrap_or(0) as u8);
    }
}

/// The frame pool: tight (a few frames per table level, so that `OutOfFrames` happens),
/// roomy, or raw (possibly refused by `Mmu::new`).
struct FramesField {
    /// The mode (its level count sizes the tight pools).
    arch: Arch,
    /// Version 2: the limit tag.
    v2: bool,
}

impl FramesField {
    /// Version 2: 0, 1 (the kernel root alone) or [`MAX_FRAMES`] - 1, + 0, + 1 follows.
    const LIMIT: u8 = 7;
}

impl Selector for FramesField {
    type Value = u32;

    fn read(&self, d: &mut Decoder) -> u32 {
        let levels = u32::from(Geometry::new(self.arch).levels());
        match d.below(raw_tag(self.v2) + 1) {
            0 | 1 => levels * (2 + u32::from(d.u8() % 4)),
            2..=4 => 64,
            5 => 256,
            6 => 1024,
            Self::LIMIT if self.v2 => pick(d, &[0, 1, MAX_FRAMES - 1, MAX_FRAMES, MAX_FRAMES + 1]),
            _ => d.u32(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u32) {
        e.u8(raw_tag(self.v2));
        e.u32(*v);
    }
}

/// The raw tag of a header field (the last): 7 in version 1, 8 in version 2 (after the
/// limit tag).
fn raw_tag(v2: bool) -> u8 {
    if v2 {
        8
    } else {
        7
    }
}

/// One of `values`, by the next byte.
fn pick<T: Copy>(d: &mut Decoder, values: &[T]) -> T {
    values[usize::from(d.u8()) % values.len()]
}

/// The CPU count.
struct CpuCountField {
    /// Version 2: the limit tag.
    v2: bool,
}

impl CpuCountField {
    /// Version 2: 0 or [`MAX_CPUS`] - 1, + 0, + 1 follows.
    const LIMIT: u8 = 7;
}

impl Selector for CpuCountField {
    type Value = u8;

    fn read(&self, d: &mut Decoder) -> u8 {
        let max = MAX_CPUS as u8;
        match d.below(raw_tag(self.v2) + 1) {
            0..=2 => 1,
            3..=5 => 2,
            6 => 4,
            Self::LIMIT if self.v2 => pick(d, &[0, max - 1, max, max + 1]),
            _ => d.u8(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u8) {
        e.u8(raw_tag(self.v2));
        e.u8(*v);
    }
}

/// Entries per TLB, down to one (so that eviction is constant).
struct TlbSizeField {
    /// Version 2: the limit tag.
    v2: bool,
}

impl TlbSizeField {
    /// Version 2: 0 or [`MAX_TLB_ENTRIES`] - 1, + 0, + 1 follows.
    const LIMIT: u8 = 7;
}

impl Selector for TlbSizeField {
    type Value = u16;

    fn read(&self, d: &mut Decoder) -> u16 {
        let max = MAX_TLB_ENTRIES as u16;
        match d.below(raw_tag(self.v2) + 1) {
            0 => 1,
            1 => 2,
            2 | 3 => 4,
            4 | 5 => 16,
            6 => 64,
            Self::LIMIT if self.v2 => pick(d, &[0, max - 1, max, max + 1]),
            _ => d.u16(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u16) {
        e.u8(raw_tag(self.v2));
        e.u16(*v);
    }
}

// ---- fields of ops --------------------------------------------------------------------------

/// Highest physical address a leaf may map (generator knowledge: IA-32 without PSE-36 has
/// 32 bits, the other modes MAXPHYADDR = 52).
fn max_phys(a: Arch) -> u64 {
    if a == Arch::Ia32 {
        (1 << 32) - 1
    } else {
        (1 << 52) - 1
    }
}

/// Largest page size of the mode.
fn largest(a: Arch) -> u64 {
    *a.page_sizes().last().unwrap_or(&K4)
}

/// The fit request of a flag byte (bit 7; module comment of [`super`], section 1): a map at
/// a limit should fail only for the limit, not for its flags.
const FIT: u8 = 0x80;

/// Page counts of a map at a limit ([`K_LIMIT_MAP`]) that cost little: one page, the PAE
/// page-directory-pointer table's 4 from both sides, and one past [`MAX_MAP_PAGES`]
/// (refused before any step).
const LIMIT_CHEAP_COUNTS: [u64; 5] = [
    1,
    PDPT_ENTRIES as u64 - 1,
    PDPT_ENTRIES as u64,
    PDPT_ENTRIES as u64 + 1,
    MAX_MAP_PAGES + 1,
];

/// Page counts at the table sizes (the wide tables' 512, IA-32's 1024) from both sides:
/// hundreds of steps each, so picked by [`LIMIT_TABLE_FIRST`] and above only.
const LIMIT_TABLE_COUNTS: [u64; 6] = [
    WIDE_ENTRIES as u64 - 1,
    WIDE_ENTRIES as u64,
    WIDE_ENTRIES as u64 + 1,
    NARROW_ENTRIES as u64 - 1,
    NARROW_ENTRIES as u64,
    NARROW_ENTRIES as u64 + 1,
];

/// The largest map ([`MAX_MAP_PAGES`]) and one short of it: 2^16 steps each (about 20 ms
/// with the model), so picked by [`LIMIT_BIG_FIRST`] and above only; one past it is cheap
/// ([`LIMIT_CHEAP_COUNTS`]).
const LIMIT_BIG_COUNTS: [u64; 2] = [MAX_MAP_PAGES - 1, MAX_MAP_PAGES];

/// The first value of a count selector (a `u16`) that picks from [`LIMIT_TABLE_COUNTS`]:
/// 1 in 64 limit maps.
const LIMIT_TABLE_FIRST: u16 = 64_512;

/// The first value of a count selector that picks from [`LIMIT_BIG_COUNTS`]: 1 in 8192
/// limit maps (about 1 in 120,000 ops), so that a minute of fuzzing makes about a hundred
/// while the throughput stays within a few percent.
const LIMIT_BIG_FIRST: u16 = 65_528;

/// A map at the named limits ([`K_LIMIT_MAP`], version 2): how many pages
/// ([`LIMIT_CHEAP_COUNTS`], [`LIMIT_TABLE_COUNTS`], [`LIMIT_BIG_COUNTS`]), where (placed so that the map starts at, ends
/// at, or crosses by one page a table boundary of any level, the top of the space, either
/// edge of the canonical hole, the kernel base, or address 0) and at which physical address
/// (0, ending at the physical top, or one page past it). Read only: the op is written as a
/// plain map with raw fields.
struct LimitMapField {
    /// The mode.
    arch: Arch,
    /// The page size (may be another mode's, or raw).
    page_size: u64,
}

impl LimitMapField {
    /// `(va, len, pa)`.
    fn read(&self, d: &mut Decoder) -> (u64, u64, u64) {
        let (a, size) = (self.arch, u128::from(self.page_size.max(1)));
        let g = Geometry::new(a);
        let c = d.u16();
        let pages = if c >= LIMIT_BIG_FIRST {
            LIMIT_BIG_COUNTS[usize::from(c) % LIMIT_BIG_COUNTS.len()]
        } else if c >= LIMIT_TABLE_FIRST {
            LIMIT_TABLE_COUNTS[usize::from(c) % LIMIT_TABLE_COUNTS.len()]
        } else {
            LIMIT_CHEAP_COUNTS[usize::from(c) % LIMIT_CHEAP_COUNTS.len()]
        };
        let len = u128::from(pages) * size;
        // Which side of the edge: ending at it, one page past it, one page short of it.
        let side = u128::from(d.u8() % 3);
        let ending_at = |edge: u128| match side {
            0 => edge.wrapping_sub(len),
            1 => edge.wrapping_sub(len).wrapping_add(size),
            _ => edge.wrapping_sub(len).wrapping_sub(size),
        };
        let starting_at = |edge: u128| match side {
            0 => edge,
            1 => edge.wrapping_sub(size),
            _ => edge.wrapping_add(size),
        };
        let upper = a.upper_half_start().unwrap_or(g.kernel_base());
        // Half the largest maps start at a GiB boundary low in the space, where they fit
        // (they are rare, and one that fits is what shows an off-by-one at the limit).
        let place = d.u8();
        if pages >= MAX_MAP_PAGES - 1 && place >= 128 {
            let va = (1u128 << 30) * (1 + u128::from(place % 2));
            return (va as u64, len as u64, 0);
        }
        let va = match place % 8 {
            0 | 1 => {
                let level = d.below(g.levels());
                let span = 1u128 << g.table_span_shift(level);
                let edge = span * (1 + u128::from(d.u8() % 3));
                if d.u8().is_multiple_of(2) {
                    ending_at(edge)
                } else {
                    starting_at(edge)
                }
            }
            2 => ending_at(u128::from(a.max_addr()) + 1),
            3 => ending_at(u128::from(a.lower_half_last()) + 1),
            4 => starting_at(u128::from(upper)),
            5 => ending_at(u128::from(g.kernel_base())),
            6 => starting_at(u128::from(g.kernel_base())),
            _ => starting_at(0),
        };
        let phys_end = u128::from(max_phys(a)) + 1;
        let pa = match d.u8() % 4 {
            0 => phys_end.wrapping_sub(len),
            1 => phys_end.wrapping_sub(len).wrapping_add(size),
            _ => 0,
        };
        (va as u64, len as u64, pa as u64)
    }
}

/// An address space: a live one by handle, or a raw ASID.
struct SpaceField;

impl SpaceField {
    /// A live handle follows (any tag below [`Self::RAW`]).
    const LIVE: u8 = 0;
    /// A raw ASID follows.
    const RAW: u8 = 15;
    /// Tags.
    const COUNT: u8 = 16;
}

impl Selector for SpaceField {
    type Value = SpaceSel;

    fn read(&self, d: &mut Decoder) -> SpaceSel {
        match d.below(Self::COUNT) {
            Self::RAW => SpaceSel::Raw(d.u8()),
            _ => SpaceSel::Live(d.u8()),
        }
    }

    fn write(&self, e: &mut Encoder, v: &SpaceSel) {
        match *v {
            SpaceSel::Live(h) => {
                e.u8(Self::LIVE);
                e.u8(h);
            }
            SpaceSel::Raw(a) => {
                e.u8(Self::RAW);
                e.u8(a);
            }
        }
    }
}

/// A page size: the mode's own sizes mostly, sometimes another mode's or a raw value.
struct PageSizeField {
    /// The mode.
    arch: Arch,
}

impl PageSizeField {
    /// A raw `u64` follows.
    const RAW: u8 = 15;
    /// Tags.
    const COUNT: u8 = 16;
}

impl Selector for PageSizeField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        let sizes = self.arch.page_sizes();
        match d.below(Self::COUNT) {
            0..=7 => sizes[0],
            8..=11 => sizes[1],
            12 | 13 => largest(self.arch),
            // A size of another mode (2 MiB on IA-32, 4 MiB elsewhere, 1 GiB on 32-bit).
            14 => [2 << 20, 4 << 20, 1 << 30]
                .into_iter()
                .find(|s| !sizes.contains(s))
                .unwrap_or(8192),
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

/// A length in bytes for pages of `size`: multiples of it, one past `MAX_MAP_PAGES`,
/// misaligned ones, zero, or raw.
struct LenField {
    /// The page size.
    size: u64,
}

impl LenField {
    /// A raw `u64` follows.
    const RAW: u8 = 15;
    /// Tags.
    const COUNT: u8 = 16;
}

impl Selector for LenField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        let size = self.size;
        match d.below(Self::COUNT) {
            0..=7 => (1 + u64::from(d.u8() % 4)).saturating_mul(size),
            8..=10 => (1 + u64::from(d.u8() % 16)).saturating_mul(size),
            11 => (MAX_MAP_PAGES + 1).saturating_mul(size),
            12 => (1 + u64::from(d.u8() % 4))
                .saturating_mul(size)
                .saturating_add(K4),
            13 => 0,
            14 => u64::from(d.u8()) * 2 * K4,
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

/// A physical address for pages of `size`: low multiples of it, the physical top, misaligned
/// ones, or raw.
struct PaField {
    /// The mode (its physical top).
    arch: Arch,
    /// The page size.
    size: u64,
}

impl PaField {
    /// A raw `u64` follows.
    const RAW: u8 = 7;
    /// Tags.
    const COUNT: u8 = 8;
}

impl Selector for PaField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        let size = self.size;
        match d.below(Self::COUNT) {
            0..=4 => u64::from(d.u8() % 8).saturating_mul(size),
            5 => (max_phys(self.arch) + 1)
                .wrapping_sub((1 + u64::from(d.u8() % 2)).wrapping_mul(size)),
            6 => u64::from(d.u8() % 8)
                .saturating_mul(size)
                .saturating_add(K4),
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

/// The alignment (as log2) applied to a recent address: the op's own, 4 KiB, or raw.
struct AlignField {
    /// The op's natural alignment (a power of two).
    align: u64,
}

impl AlignField {
    /// A raw byte follows (taken modulo 64).
    const RAW: u8 = 3;
    /// Tags.
    const COUNT: u8 = 4;
}

impl Selector for AlignField {
    type Value = u8;

    fn read(&self, d: &mut Decoder) -> u8 {
        match d.below(Self::COUNT) {
            0 | 1 => self.align.trailing_zeros() as u8,
            2 => 12,
            Self::RAW.. => d.u8() % 64,
        }
    }

    fn write(&self, e: &mut Encoder, v: &u8) {
        e.u8(Self::RAW);
        e.u8(*v);
    }
}

/// The offset added to a recent address: zero, a few alignments up or down, or raw.
struct OffsetField {
    /// The op's natural alignment.
    align: u64,
}

impl OffsetField {
    /// A raw `u64` follows.
    const RAW: u8 = 7;
    /// Tags.
    const COUNT: u8 = 8;
}

impl Selector for OffsetField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        let align = self.align;
        match d.below(Self::COUNT) {
            0..=3 => 0,
            4 => align.wrapping_mul(1 + u64::from(d.u8() % 4)),
            5 => u64::from(d.u16()),
            6 => 0u64.wrapping_sub(align.wrapping_mul(1 + u64::from(d.u8() % 4))),
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

/// A virtual address for an op whose natural alignment is `align`: a recent one, an edge of
/// the space in a small window (so that ops collide), or raw (module comment of [`super`],
/// section 1).
struct VaField {
    /// The mode.
    arch: Arch,
    /// The natural alignment: a power of two (4 KiB for a raw page size that is not).
    align: u64,
}

impl VaField {
    /// A recent address (index, alignment, offset) follows (any tag up to
    /// [`Self::RECENT_LAST`]).
    const RECENT: u8 = 0;
    /// The last tag of a recent address.
    const RECENT_LAST: u8 = 5;
    /// A raw `u64` follows.
    const RAW: u8 = 15;
    /// Tags.
    const COUNT: u8 = 16;

    /// The selector for an op whose natural alignment is `align` (a power of two, or
    /// anything for raw page sizes).
    fn new(arch: Arch, align: u64) -> VaField {
        let align = if align.is_power_of_two() { align } else { K4 };
        VaField { arch, align }
    }

    /// An address near an edge of the space, chosen by `tag` (a tag above
    /// [`Self::RECENT_LAST`] and below [`Self::RAW`]).
    fn edge(&self, tag: u8, d: &mut Decoder) -> u64 {
        let (a, align) = (self.arch, self.align);
        let kb = Geometry::new(a).kernel_base();
        let window = align.max(a.segment_size()).saturating_mul(4);
        let k = u64::from(d.u8() % 8);
        match tag {
            6..=11 => {
                let bases = [
                    0,
                    kb.wrapping_sub(window),
                    kb,
                    a.max_addr().wrapping_sub(window - 1),
                    if a.upper_half_start().is_some() {
                        a.lower_half_last().wrapping_sub(window - 1)
                    } else {
                        1 << 30
                    },
                    1 << 30,
                ];
                let base = bases[usize::from(d.below(6))];
                (base & !(align - 1)).wrapping_add(k.wrapping_mul(align))
            }
            // Inside the canonical hole from either edge (past the top on 32-bit).
            12 => {
                if d.u8().is_multiple_of(2) {
                    a.lower_half_last()
                        .wrapping_add(1)
                        .wrapping_add(k.wrapping_mul(align))
                } else {
                    a.upper_half_start()
                        .unwrap_or(0)
                        .wrapping_sub((k + 1).wrapping_mul(align))
                }
            }
            13 => (u64::from(d.u8() % 4) << 30).wrapping_add(u64::from(d.u16()) * 512),
            _ => (u64::from(d.u16()) * a.segment_size()) & a.lower_half_last(),
        }
    }
}

impl Selector for VaField {
    type Value = Va;

    fn read(&self, d: &mut Decoder) -> Va {
        match d.below(Self::COUNT) {
            Self::RECENT..=Self::RECENT_LAST => {
                let index = d.u8();
                let align_log2 = AlignField { align: self.align }.read(d);
                let offset = OffsetField { align: self.align }.read(d);
                Va::Recent {
                    index,
                    align_log2,
                    offset,
                }
            }
            Self::RAW.. => Va::Raw(d.u64()),
            tag => Va::Raw(self.edge(tag, d)),
        }
    }

    fn write(&self, e: &mut Encoder, v: &Va) {
        match *v {
            Va::Recent {
                index,
                align_log2,
                offset,
            } => {
                e.u8(Self::RECENT);
                e.u8(index);
                AlignField { align: self.align }.write(e, &align_log2);
                OffsetField { align: self.align }.write(e, &offset);
            }
            Va::Raw(a) => {
                e.u8(Self::RAW);
                e.u64(a);
            }
        }
    }
}

/// The first page of a remembered mapping that an unmap or protect starts at: 0 or raw.
struct FirstPageField;

impl FirstPageField {
    /// A raw byte follows.
    const RAW: u8 = 3;
    /// Tags.
    const COUNT: u8 = 4;
}

impl Selector for FirstPageField {
    type Value = u8;

    fn read(&self, d: &mut Decoder) -> u8 {
        match d.below(Self::COUNT) {
            Self::RAW.. => d.u8(),
            _ => 0,
        }
    }

    fn write(&self, e: &mut Encoder, v: &u8) {
        e.u8(Self::RAW);
        e.u8(*v);
    }
}

/// How many pages of a remembered mapping an unmap or protect covers: all the rest (0), one,
/// or raw.
struct PageCountField;

impl PageCountField {
    /// A raw byte follows.
    const RAW: u8 = 3;
    /// Tags.
    const COUNT: u8 = 4;
}

impl Selector for PageCountField {
    type Value = u8;

    fn read(&self, d: &mut Decoder) -> u8 {
        match d.below(Self::COUNT) {
            0 | 1 => 0,
            2 => 1,
            Self::RAW.. => d.u8(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u8) {
        e.u8(Self::RAW);
        e.u8(*v);
    }
}

/// Where an unmap or protect acts: a space, address and length, or pages of a remembered
/// mapping.
struct PlaceField {
    /// The mode.
    arch: Arch,
}

impl PlaceField {
    /// Space, page size, address and length follow.
    const GIVEN: u8 = 0;
    /// Mapping index, first page and page count follow.
    const MAPPED: u8 = 1;
    /// Tags.
    const COUNT: u8 = 2;
}

impl Selector for PlaceField {
    type Value = Place;

    fn read(&self, d: &mut Decoder) -> Place {
        match d.below(Self::COUNT) {
            Self::GIVEN => {
                let space = SpaceField.read(d);
                let size = PageSizeField { arch: self.arch }.read(d);
                Place::Given {
                    space,
                    va: VaField::new(self.arch, size).read(d),
                    len: LenField { size }.read(d),
                }
            }
            Self::MAPPED.. => Place::Mapped {
                index: d.u8(),
                first: FirstPageField.read(d),
                pages: PageCountField.read(d),
            },
        }
    }

    fn write(&self, e: &mut Encoder, v: &Place) {
        match *v {
            Place::Given { space, va, len } => {
                // The page size only shapes the address and length, both written raw.
                let size = K4;
                e.u8(Self::GIVEN);
                SpaceField.write(e, &space);
                PageSizeField { arch: self.arch }.write(e, &size);
                VaField::new(self.arch, size).write(e, &va);
                LenField { size }.write(e, &len);
            }
            Place::Mapped {
                index,
                first,
                pages,
            } => {
                e.u8(Self::MAPPED);
                e.u8(index);
                FirstPageField.write(e, &first);
                PageCountField.write(e, &pages);
            }
        }
    }
}

/// The offset into a remembered mapping: 0, a `u16`, or raw.
struct MappedOffsetField;

impl MappedOffsetField {
    /// A `u16` follows.
    const SHORT: u8 = 2;
    /// A raw `u64` follows.
    const RAW: u8 = 3;
    /// Tags.
    const COUNT: u8 = 4;
}

impl Selector for MappedOffsetField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        match d.below(Self::COUNT) {
            0 | 1 => 0,
            Self::SHORT => u64::from(d.u16()),
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

/// Where a translate, access or segment unmap looks: a space and address (of natural
/// alignment `align`), or an offset into a remembered mapping.
struct PointField {
    /// The mode.
    arch: Arch,
    /// The natural alignment of the address.
    align: u64,
}

impl PointField {
    /// Space and address follow.
    const GIVEN: u8 = 0;
    /// Mapping index and offset follow.
    const MAPPED: u8 = 1;
    /// Tags.
    const COUNT: u8 = 2;
}

impl Selector for PointField {
    type Value = Point;

    fn read(&self, d: &mut Decoder) -> Point {
        match d.below(Self::COUNT) {
            Self::GIVEN => Point::Given {
                space: SpaceField.read(d),
                va: VaField::new(self.arch, self.align).read(d),
            },
            Self::MAPPED.. => Point::Mapped {
                index: d.u8(),
                offset: MappedOffsetField.read(d),
            },
        }
    }

    fn write(&self, e: &mut Encoder, v: &Point) {
        match *v {
            Point::Given { space, va } => {
                e.u8(Self::GIVEN);
                SpaceField.write(e, &space);
                VaField::new(self.arch, self.align).write(e, &va);
            }
            Point::Mapped { index, offset } => {
                e.u8(Self::MAPPED);
                e.u8(index);
                MappedOffsetField.write(e, &offset);
            }
        }
    }
}

/// What to do with a returned flush token: hold it one time in four.
struct FlushField;

impl FlushField {
    /// Hold it.
    const HOLD: u8 = 0;
    /// Apply it (any other tag).
    const APPLY: u8 = 1;
    /// Tags.
    const COUNT: u8 = 4;
}

impl Selector for FlushField {
    type Value = FlushMode;

    fn read(&self, d: &mut Decoder) -> FlushMode {
        match d.below(Self::COUNT) {
            Self::HOLD => FlushMode::Hold,
            _ => FlushMode::Apply,
        }
    }

    fn write(&self, e: &mut Encoder, v: &FlushMode) {
        e.u8(match v {
            FlushMode::Hold => Self::HOLD,
            FlushMode::Apply => Self::APPLY,
        });
    }
}

/// A CPU number: one of the scenario's mostly, or raw (possibly out of range).
struct CpuField {
    /// The CPU count.
    cpus: u8,
}

impl CpuField {
    /// A raw byte follows.
    const RAW: u8 = 7;
    /// Tags.
    const COUNT: u8 = 8;
}

impl Selector for CpuField {
    type Value = u8;

    fn read(&self, d: &mut Decoder) -> u8 {
        match d.below(Self::COUNT) {
            Self::RAW => d.u8(),
            _ => d.u8() % self.cpus.max(1),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u8) {
        e.u8(Self::RAW);
        e.u8(*v);
    }
}

/// Read, write or execute.
struct AccessKindField;

impl AccessKindField {
    /// Read.
    const READ: u8 = 0;
    /// Write.
    const WRITE: u8 = 1;
    /// Execute.
    const EXECUTE: u8 = 2;
    /// Tags.
    const COUNT: u8 = 3;
}

impl Selector for AccessKindField {
    type Value = AccessKind;

    fn read(&self, d: &mut Decoder) -> AccessKind {
        match d.below(Self::COUNT) {
            Self::READ => AccessKind::Read,
            Self::WRITE => AccessKind::Write,
            Self::EXECUTE.. => AccessKind::Execute,
        }
    }

    fn write(&self, e: &mut Encoder, v: &AccessKind) {
        e.u8(match v {
            AccessKind::Read => Self::READ,
            AccessKind::Write => Self::WRITE,
            AccessKind::Execute => Self::EXECUTE,
        });
    }
}

/// An explicit TLB operation (its CPU is read before it).
struct TlbOpField {
    /// The mode.
    arch: Arch,
}

impl TlbOpField {
    /// INVLPG: space and address follow.
    const INVLPG: u8 = 0;
    /// A range: space, page size, address and length follow.
    const RANGE: u8 = 1;
    /// A space's entries: the space follows.
    const ASID: u8 = 2;
    /// Every non-global entry.
    const NON_GLOBAL: u8 = 3;
    /// Every entry.
    const ALL: u8 = 4;
    /// Tags.
    const COUNT: u8 = 5;
}

impl Selector for TlbOpField {
    type Value = TlbOp;

    fn read(&self, d: &mut Decoder) -> TlbOp {
        let arch = self.arch;
        match d.below(Self::COUNT) {
            Self::INVLPG => TlbOp::Invlpg {
                space: SpaceField.read(d),
                va: VaField::new(arch, K4).read(d),
            },
            Self::RANGE => {
                let space = SpaceField.read(d);
                let size = PageSizeField { arch }.read(d);
                TlbOp::FlushRange {
                    space,
                    va: VaField::new(arch, size).read(d),
                    len: LenField { size }.read(d),
                }
            }
            Self::ASID => TlbOp::FlushAsid {
                space: SpaceField.read(d),
            },
            Self::NON_GLOBAL => TlbOp::FlushNonGlobal,
            Self::ALL.. => TlbOp::FlushAll,
        }
    }

    fn write(&self, e: &mut Encoder, v: &TlbOp) {
        let arch = self.arch;
        match *v {
            TlbOp::Invlpg { space, va } => {
                e.u8(Self::INVLPG);
                SpaceField.write(e, &space);
                VaField::new(arch, K4).write(e, &va);
            }
            TlbOp::FlushRange { space, va, len } => {
                // As for a place: the page size only shapes fields written raw.
                let size = K4;
                e.u8(Self::RANGE);
                SpaceField.write(e, &space);
                PageSizeField { arch }.write(e, &size);
                VaField::new(arch, size).write(e, &va);
                LenField { size }.write(e, &len);
            }
            TlbOp::FlushAsid { space } => {
                e.u8(Self::ASID);
                SpaceField.write(e, &space);
            }
            TlbOp::FlushNonGlobal => e.u8(Self::NON_GLOBAL),
            TlbOp::FlushAll => e.u8(Self::ALL),
        }
    }
}

/// The physical object of a shared segment: one of a few segment-aligned ones (so that
/// segment tables get shared), or raw.
struct SharedPaField {
    /// The segment size.
    seg: u64,
}

impl SharedPaField {
    /// A raw `u64` follows.
    const RAW: u8 = 7;
    /// Tags.
    const COUNT: u8 = 8;
}

impl Selector for SharedPaField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        match d.below(Self::COUNT) {
            Self::RAW => d.u64(),
            _ => u64::from(d.u8() % 3) * self.seg,
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

/// The length of a shared segment: a whole segment, a few pages, one page too many, or raw.
struct SharedLenField {
    /// The segment size.
    seg: u64,
}

impl SharedLenField {
    /// A raw `u64` follows.
    const RAW: u8 = 7;
    /// Tags.
    const COUNT: u8 = 8;
}

impl Selector for SharedLenField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        let seg = self.seg;
        match d.below(Self::COUNT) {
            0..=2 => seg,
            3..=5 => u64::from(1 + d.u8() % 16) * K4,
            6 => seg + K4,
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}
