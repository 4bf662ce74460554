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

mod fields;
use fields::*;

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
