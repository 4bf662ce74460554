//! The fields of the mmu ops: one [`Selector`] per field, its tags named beside its `read`
//! and `write` (addresses, lengths and page sizes of maps, places and points of accesses, CPUs,
//! flushes and TLB ops). [`super`] reads and writes the ops in order with them.

use super::*;

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

/// The fit request of a flag byte (bit 7; module comment of [`super::super`], section 1): a map at
/// a limit should fail only for the limit, not for its flags.
pub(super) const FIT: u8 = 0x80;

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
/// ([`LIMIT_CHEAP_COUNTS`], [`LIMIT_TABLE_COUNTS`], [`LIMIT_BIG_COUNTS`]), where (placed so
/// that the map starts at, ends at, or crosses by one page a table boundary of any level,
/// the top of the space, either edge of the canonical hole, the kernel base, or address 0)
/// and at which physical address (0, ending at the physical top, or one page past it). Read
/// only: the op is written as a plain map with raw fields.
pub(super) struct LimitMapField {
    /// The mode.
    pub(super) arch: Arch,
    /// The page size (may be another mode's, or raw).
    pub(super) page_size: u64,
}

impl LimitMapField {
    /// `(va, len, pa)`.
    pub(super) fn read(&self, d: &mut Decoder) -> (u64, u64, u64) {
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
pub(super) struct SpaceField;

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
pub(super) struct PageSizeField {
    /// The mode.
    pub(super) arch: Arch,
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
pub(super) struct LenField {
    /// The page size.
    pub(super) size: u64,
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
pub(super) struct PaField {
    /// The mode (its physical top).
    pub(super) arch: Arch,
    /// The page size.
    pub(super) size: u64,
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
pub(super) struct AlignField {
    /// The op's natural alignment (a power of two).
    pub(super) align: u64,
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
pub(super) struct OffsetField {
    /// The op's natural alignment.
    pub(super) align: u64,
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
/// the space in a small window (so that ops collide), or raw (module comment of [`super::super`],
/// section 1).
pub(super) struct VaField {
    /// The mode.
    pub(super) arch: Arch,
    /// The natural alignment: a power of two (4 KiB for a raw page size that is not).
    pub(super) align: u64,
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
    pub(super) fn new(arch: Arch, align: u64) -> VaField {
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
pub(super) struct FirstPageField;

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
pub(super) struct PageCountField;

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
pub(super) struct PlaceField {
    /// The mode.
    pub(super) arch: Arch,
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
pub(super) struct MappedOffsetField;

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
pub(super) struct PointField {
    /// The mode.
    pub(super) arch: Arch,
    /// The natural alignment of the address.
    pub(super) align: u64,
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
pub(super) struct FlushField;

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
pub(super) struct CpuField {
    /// The CPU count.
    pub(super) cpus: u8,
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
pub(super) struct AccessKindField;

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
pub(super) struct TlbOpField {
    /// The mode.
    pub(super) arch: Arch,
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
pub(super) struct SharedPaField {
    /// The segment size.
    pub(super) seg: u64,
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
pub(super) struct SharedLenField {
    /// The segment size.
    pub(super) seg: u64,
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
