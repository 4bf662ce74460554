//! The vmmap byte codec: [`decode`] turns any bytes into a [`Scenario`], [`encode`] writes
//! bytes that decode back to exactly the scenario it is given.
//!
//! Every field is read and written in one place: a header field or an op's numeric field is a
//! [`Selector`] whose `read` and `write` sit side by side and name the same tag constants
//! (associated constants of the selector; a `FIRST..=LAST` pair where several tags read the
//! same family, to weight it). The writers always use the raw tag, the last one of each
//! selector. The op kinds are the `K_*` constants, numbered as the swarm mask numbers them;
//! [`OpFields::read_op`] and [`OpFields::write_op`] handle them in the same order.
//!
//! Layout: arch, flags (strategy, half, unit), entry limit, swarm mask, `min`, `max`; then
//! each op as its kind byte and its fields, until the bytes run out or [`MAX_OPS`] ops.
//!
//! [`MAX_OPS`]: crate::harness::MAX_OPS

use super::scenario::{half, AddrBase, AddrSel, LenSel, Op, Scenario};
use crate::addr::{Arch, ALL_ARCHES};
use crate::harness::codec::{Decoder, Encoder, Selector, Swarm};
use crate::vmmap::{Strategy, MAX_ENTRIES};

/// Decodes `data` (any bytes): the header, then ops until the bytes run out.
pub(super) fn decode(data: &[u8]) -> Scenario {
    let mut d = Decoder::new(data);
    let (mut scenario, swarm) = read_header(&mut d);
    let fields = OpFields::of(&scenario);
    swarm.read_ops(&mut d, &mut scenario.ops, |kind, d| fields.read_op(kind, d));
    scenario
}

/// Bytes that [`decode`] turns back into exactly `scenario`.
pub(super) fn encode(scenario: &Scenario) -> Vec<u8> {
    let mut e = Encoder::new();
    write_header(&mut e, scenario);
    let fields = OpFields::of(scenario);
    for op in &scenario.ops {
        fields.write_op(&mut e, op);
    }
    e.finish()
}

// ---- the header ---------------------------------------------------------------------------------

/// Reads the header: the scenario without its ops, and the swarm mask they are read with.
fn read_header(d: &mut Decoder) -> (Scenario, Swarm) {
    let arch = ArchField.read(d);
    let flags = FlagsField.read(d);
    let max_entries = LimitField.read(d);
    let swarm = Swarm::read(d, KINDS);
    let (lo, hi) = half(arch, flags.upper);
    let unit = 1u64 << flags.unit_shift;
    let min = MinField { lo, hi, unit }.read(d);
    let max = MaxField { hi, unit, min }.read(d);
    let (min, max) = legal_bounds(lo, hi, min, max);
    let scenario = Scenario {
        arch,
        unit_shift: flags.unit_shift,
        min,
        max,
        strategy: flags.strategy,
        max_entries,
        ops: Vec::new(),
    };
    (scenario, swarm)
}

/// Writes the header of `s` as [`read_header`] reads it, with every op kind on (the ops are
/// written with their final kinds).
fn write_header(e: &mut Encoder, s: &Scenario) {
    ArchField.write(e, &s.arch);
    let upper = s.arch.upper_half_start().is_some_and(|u| s.min >= u);
    let flags = Flags {
        strategy: s.strategy,
        upper,
        unit_shift: s.unit_shift,
    };
    FlagsField.write(e, &flags);
    LimitField.write(e, &s.max_entries);
    Swarm::write_all(e, KINDS);
    let (lo, hi) = half(s.arch, upper);
    let unit = s.unit();
    MinField { lo, hi, unit }.write(e, &s.min);
    MaxField {
        hi,
        unit,
        min: s.min,
    }
    .write(e, &s.max);
}

/// The architecture: one of [`ALL_ARCHES`].
struct ArchField;

impl ArchField {
    /// How many architectures a byte picks from.
    const COUNT: u8 = ALL_ARCHES.len() as u8;
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

/// log2 of the units a header byte picks from.
const UNIT_SHIFTS: [u8; 4] = [0, 4, 12, 21];

/// What the flags byte of the header holds.
struct Flags {
    /// The strategy of `findspace` and `map_anywhere`.
    strategy: Strategy,
    /// The upper canonical half (x86_64 only; ignored elsewhere).
    upper: bool,
    /// One of [`UNIT_SHIFTS`].
    unit_shift: u8,
}

/// The flags byte: one bit for the strategy, one for the half, and from bit [`Self::UNIT_AT`]
/// the index of the unit in [`UNIT_SHIFTS`] (modulo its length; higher bits ignored).
struct FlagsField;

impl FlagsField {
    /// Set: [`Strategy::Linear`]; clear: [`Strategy::GapIndex`].
    const LINEAR_BIT: u8 = 1;
    /// Set: the upper canonical half.
    const UPPER_BIT: u8 = 2;
    /// The bit the unit's index starts at.
    const UNIT_AT: u8 = 2;
}

impl Selector for FlagsField {
    type Value = Flags;

    fn read(&self, d: &mut Decoder) -> Flags {
        let b = d.u8();
        Flags {
            strategy: if b & Self::LINEAR_BIT == 0 {
                Strategy::GapIndex
            } else {
                Strategy::Linear
            },
            upper: b & Self::UPPER_BIT != 0,
            unit_shift: UNIT_SHIFTS[usize::from(b >> Self::UNIT_AT) % UNIT_SHIFTS.len()],
        }
    }

    fn write(&self, e: &mut Encoder, v: &Flags) {
        let linear = if v.strategy == Strategy::Linear {
            Self::LINEAR_BIT
        } else {
            0
        };
        let upper = if v.upper { Self::UPPER_BIT } else { 0 };
        let unit = UNIT_SHIFTS
            .iter()
            .position(|&s| s == v.unit_shift)
            .unwrap_or(0) as u8;
        e.u8(linear | upper | (unit << Self::UNIT_AT));
    }
}

/// The entry limit: mostly [`MAX_ENTRIES`], sometimes a small one (`1..=SMALL_LIMITS`), so
/// that `Full` happens.
struct LimitField;

impl LimitField {
    /// Entry limits a header asks for, besides "unlimited" ([`MAX_ENTRIES`]):
    /// `1..=SMALL_LIMITS`.
    const SMALL_LIMITS: u8 = 16;
    /// Header limit bytes below this mean [`MAX_ENTRIES`]; the others a small limit.
    const LIMITED_FROM: u8 = 0xC0;
    /// The byte written for [`MAX_ENTRIES`].
    const UNLIMITED: u8 = 0;
}

impl Selector for LimitField {
    type Value = usize;

    fn read(&self, d: &mut Decoder) -> usize {
        let b = d.u8();
        if b < Self::LIMITED_FROM {
            MAX_ENTRIES
        } else {
            usize::from((b - Self::LIMITED_FROM) % Self::SMALL_LIMITS) + 1
        }
    }

    fn write(&self, e: &mut Encoder, v: &usize) {
        e.u8(if *v == MAX_ENTRIES {
            Self::UNLIMITED
        } else {
            Self::LIMITED_FROM + ((*v).clamp(1, usize::from(Self::SMALL_LIMITS)) - 1) as u8
        });
    }
}

/// The map's `min` (before [`legal_bounds`]) in the half `[lo, hi]`: its bottom, a few units
/// above it, a few units below the top, or raw.
struct MinField {
    /// First address of the half.
    lo: u64,
    /// Last address of the half.
    hi: u64,
    /// The scenario's unit.
    unit: u64,
}

impl MinField {
    /// The bottom of the half.
    const BOTTOM: u8 = 0;
    /// Up to 2^16 - 1 units above the bottom.
    const ABOVE_BOTTOM: u8 = 1;
    /// 1 to 2^16 units below the top.
    const BELOW_TOP: u8 = 2;
    /// A raw value follows.
    const RAW: u8 = 3;
    /// The number of tags.
    const COUNT: u8 = Self::RAW + 1;
}

impl Selector for MinField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        let (lo, hi, unit) = (self.lo, self.hi, self.unit);
        match d.below(Self::COUNT) {
            Self::BOTTOM => lo,
            Self::ABOVE_BOTTOM => lo.wrapping_add(u64::from(d.u16()).wrapping_mul(unit)),
            Self::BELOW_TOP => hi
                .wrapping_sub((u64::from(d.u16()) + 1).wrapping_mul(unit))
                .wrapping_add(1),
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

/// The map's `max` (before [`legal_bounds`]) in a half ending at `hi`: its top, a small map
/// above `min`, a few units below the top, or raw.
struct MaxField {
    /// Last address of the half.
    hi: u64,
    /// The scenario's unit.
    unit: u64,
    /// The `min` read before.
    min: u64,
}

impl MaxField {
    /// The top of the half.
    const TOP: u8 = 0;
    /// A map of 1 to 2^16 units from `min`.
    const UNITS_ABOVE_MIN: u8 = 1;
    /// A map of 1 to 256 units from `min`.
    const FEW_UNITS_ABOVE_MIN: u8 = 2;
    /// Up to 2^16 - 1 units below the top.
    const BELOW_TOP: u8 = 3;
    /// A raw value follows.
    const RAW: u8 = 4;
    /// The number of tags.
    const COUNT: u8 = Self::RAW + 1;
}

impl Selector for MaxField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        let (hi, unit, min) = (self.hi, self.unit, self.min);
        match d.below(Self::COUNT) {
            Self::TOP => hi,
            Self::UNITS_ABOVE_MIN => {
                min.saturating_add((u64::from(d.u16()) + 1).saturating_mul(unit) - 1)
            }
            Self::FEW_UNITS_ABOVE_MIN => {
                min.saturating_add((u64::from(d.u8()) + 1).saturating_mul(unit) - 1)
            }
            Self::BELOW_TOP => hi.wrapping_sub(u64::from(d.u16()).wrapping_mul(unit)),
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

/// Any two values turned into legal bounds inside `[lo, hi]` (a canonical half, all ones in
/// its low bits and fixed high bits): each is forced into the half, then they are ordered.
/// Legal bounds come out unchanged, which is what makes raw encoding round-trip.
fn legal_bounds(lo: u64, hi: u64, a: u64, b: u64) -> (u64, u64) {
    // The half is `lo | x` for every `x <= (hi - lo)`, and `hi - lo` is all ones.
    let fix = |v: u64| lo | (v & (hi - lo));
    let (a, b) = (fix(a), fix(b));
    (a.min(b), a.max(b))
}

// ---- the ops ------------------------------------------------------------------------------------

/// Op kinds, as the swarm mask numbers them.
const KINDS: u8 = 8;

/// [`Op::Findspace`].
const K_FINDSPACE: u8 = 0;
/// [`Op::Differential`].
const K_DIFFERENTIAL: u8 = 1;
/// [`Op::MapAnywhere`].
const K_MAP_ANYWHERE: u8 = 2;
/// [`Op::MapAnywhereFrom`].
const K_MAP_ANYWHERE_FROM: u8 = 3;
/// [`Op::MapFixed`] (written with this kind).
const K_MAP_FIXED: u8 = 4;
/// [`Op::MapFixed`] too (read only: fixed maps twice as likely).
const K_MAP_FIXED2: u8 = 5;
/// [`Op::UnmapEntry`].
const K_UNMAP_ENTRY: u8 = 6;
/// [`Op::UnmapEntries`] or [`Op::Unmap`], as the next byte (modulo [`UNMAP_FORMS`]) says.
const K_UNMAP: u8 = 7;

/// The forms of a [`K_UNMAP`] op.
const UNMAP_FORMS: u8 = 3;
/// [`Op::UnmapEntries`].
const UNMAP_ENTRIES: u8 = 0;
/// [`Op::Unmap`] (and every form above it: two in three).
const UNMAP_RANGE: u8 = 1;

/// The selectors of an op's fields, fixed per scenario.
struct OpFields {
    /// Start hints and addresses.
    addr: AddrField,
    /// Lengths.
    length: LenField,
    /// Alignments.
    align: AlignField,
}

impl OpFields {
    /// The selectors of `s`'s ops (its header read).
    fn of(s: &Scenario) -> OpFields {
        let offset = OffsetField { unit: s.unit() };
        OpFields {
            addr: AddrField { offset },
            length: LenField {
                arch: s.arch,
                unit: s.unit(),
                min: s.min,
                max: s.max,
                offset,
            },
            align: AlignField {
                arch: s.arch,
                unit: s.unit(),
            },
        }
    }

    /// The fields of an op of `kind` (`< KINDS`), its kind byte read.
    fn read_op(&self, kind: u8, d: &mut Decoder) -> Op {
        match kind {
            K_FINDSPACE => Op::Findspace {
                start: self.addr.read(d),
                length: self.length.read(d),
                align: self.align.read(d),
            },
            K_DIFFERENTIAL => Op::Differential {
                start: self.addr.read(d),
                length: self.length.read(d),
                align: self.align.read(d),
            },
            K_MAP_ANYWHERE => Op::MapAnywhere {
                length: self.length.read(d),
                align: self.align.read(d),
            },
            K_MAP_ANYWHERE_FROM => Op::MapAnywhereFrom {
                start: self.addr.read(d),
                length: self.length.read(d),
                align: self.align.read(d),
            },
            K_MAP_FIXED | K_MAP_FIXED2 => Op::MapFixed {
                addr: self.addr.read(d),
                length: self.length.read(d),
            },
            K_UNMAP_ENTRY => Op::UnmapEntry { handle: d.u16() },
            K_UNMAP.. => match d.below(UNMAP_FORMS) {
                UNMAP_ENTRIES => Op::UnmapEntries {
                    first: d.u16(),
                    count: d.u8(),
                },
                UNMAP_RANGE.. => Op::Unmap {
                    addr: self.addr.read(d),
                    length: self.length.read(d),
                },
            },
        }
    }

    /// Writes `op`, its kind byte first, as [`OpFields::read_op`] reads it.
    fn write_op(&self, e: &mut Encoder, op: &Op) {
        match op {
            Op::Findspace {
                start,
                length,
                align,
            } => {
                e.u8(K_FINDSPACE);
                self.addr.write(e, start);
                self.length.write(e, length);
                self.align.write(e, align);
            }
            Op::Differential {
                start,
                length,
                align,
            } => {
                e.u8(K_DIFFERENTIAL);
                self.addr.write(e, start);
                self.length.write(e, length);
                self.align.write(e, align);
            }
            Op::MapAnywhere { length, align } => {
                e.u8(K_MAP_ANYWHERE);
                self.length.write(e, length);
                self.align.write(e, align);
            }
            Op::MapAnywhereFrom {
                start,
                length,
                align,
            } => {
                e.u8(K_MAP_ANYWHERE_FROM);
                self.addr.write(e, start);
                self.length.write(e, length);
                self.align.write(e, align);
            }
            Op::MapFixed { addr, length } => {
                e.u8(K_MAP_FIXED);
                self.addr.write(e, addr);
                self.length.write(e, length);
            }
            Op::UnmapEntry { handle } => {
                e.u8(K_UNMAP_ENTRY);
                e.u16(*handle);
            }
            Op::UnmapEntries { first, count } => {
                e.u8(K_UNMAP);
                e.u8(UNMAP_ENTRIES);
                e.u16(*first);
                e.u8(*count);
            }
            Op::Unmap { addr, length } => {
                e.u8(K_UNMAP);
                e.u8(UNMAP_RANGE);
                self.addr.write(e, addr);
                self.length.write(e, length);
            }
        }
    }
}

// ---- the op fields ------------------------------------------------------------------------------

/// The offset of an address or the delta of a size: none (most often), a small signed
/// multiple of the unit, a small signed number of bytes, or raw.
#[derive(Clone, Copy)]
struct OffsetField {
    /// The scenario's unit.
    unit: u64,
}

impl OffsetField {
    /// Tags `NONE..=NONE_LAST`: 0.
    const NONE: u8 = 0;
    /// The last tag of [`Self::NONE`].
    const NONE_LAST: u8 = 3;
    /// Tags `UNITS..=UNITS_LAST`: -7 to 7 units.
    const UNITS: u8 = 4;
    /// The last tag of [`Self::UNITS`].
    const UNITS_LAST: u8 = 5;
    /// -3 to 3 bytes.
    const BYTES: u8 = 6;
    /// A raw value follows.
    const RAW: u8 = 7;
    /// The number of tags.
    const COUNT: u8 = Self::RAW + 1;
}

impl Selector for OffsetField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        match d.below(Self::COUNT) {
            Self::NONE..=Self::NONE_LAST => 0,
            Self::UNITS..=Self::UNITS_LAST => {
                (i64::from(d.u8() as i8 % 8) as u64).wrapping_mul(self.unit)
            }
            Self::BYTES => i64::from(d.u8() as i8 % 4) as u64,
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

/// An address: relative to a live entry (its start, one past its end), a gap (its start, the
/// last block that fits in it) or the bounds (`min`, the block ending exactly at `max`), plus
/// an offset; or raw.
struct AddrField {
    /// The offset added to a base.
    offset: OffsetField,
}

impl AddrField {
    /// Tags `ENTRY_START..=ENTRY_START_LAST`: [`AddrBase::EntryStart`] (its index follows).
    const ENTRY_START: u8 = 0;
    /// The last tag of [`Self::ENTRY_START`].
    const ENTRY_START_LAST: u8 = 1;
    /// Tags `ENTRY_END..=ENTRY_END_LAST`: [`AddrBase::EntryEnd`] (its index follows).
    const ENTRY_END: u8 = 2;
    /// The last tag of [`Self::ENTRY_END`].
    const ENTRY_END_LAST: u8 = 3;
    /// Tags `GAP_START..=GAP_START_LAST`: [`AddrBase::GapStart`] (its index follows).
    const GAP_START: u8 = 4;
    /// The last tag of [`Self::GAP_START`].
    const GAP_START_LAST: u8 = 5;
    /// [`AddrBase::GapEndFit`] (its index follows).
    const GAP_END_FIT: u8 = 6;
    /// Tags `MIN..=MIN_LAST`: [`AddrBase::Min`].
    const MIN: u8 = 7;
    /// The last tag of [`Self::MIN`].
    const MIN_LAST: u8 = 8;
    /// [`AddrBase::MaxFit`].
    const MAX_FIT: u8 = 9;
    /// `AddrBase::GapStart(0)`, no index (read only: written as [`Self::GAP_START`]).
    const FIRST_GAP: u8 = 10;
    /// A raw address follows (no offset).
    const RAW: u8 = 11;
    /// The number of tags.
    const COUNT: u8 = Self::RAW + 1;
}

impl Selector for AddrField {
    type Value = AddrSel;

    fn read(&self, d: &mut Decoder) -> AddrSel {
        let base = match d.below(Self::COUNT) {
            Self::ENTRY_START..=Self::ENTRY_START_LAST => AddrBase::EntryStart(d.u16()),
            Self::ENTRY_END..=Self::ENTRY_END_LAST => AddrBase::EntryEnd(d.u16()),
            Self::GAP_START..=Self::GAP_START_LAST => AddrBase::GapStart(d.u16()),
            Self::GAP_END_FIT => AddrBase::GapEndFit(d.u16()),
            Self::MIN..=Self::MIN_LAST => AddrBase::Min,
            Self::MAX_FIT => AddrBase::MaxFit,
            Self::FIRST_GAP => AddrBase::GapStart(0),
            Self::RAW.. => return AddrSel::Raw(d.u64()),
        };
        AddrSel::Rel {
            base,
            offset: self.offset.read(d),
        }
    }

    fn write(&self, e: &mut Encoder, v: &AddrSel) {
        let (base, offset) = match *v {
            AddrSel::Rel { base, offset } => (base, offset),
            AddrSel::Raw(a) => {
                e.u8(Self::RAW);
                e.u64(a);
                return;
            }
        };
        match base {
            AddrBase::EntryStart(i) => {
                e.u8(Self::ENTRY_START);
                e.u16(i);
            }
            AddrBase::EntryEnd(i) => {
                e.u8(Self::ENTRY_END);
                e.u16(i);
            }
            AddrBase::GapStart(i) => {
                e.u8(Self::GAP_START);
                e.u16(i);
            }
            AddrBase::GapEndFit(i) => {
                e.u8(Self::GAP_END_FIT);
                e.u16(i);
            }
            AddrBase::Min => e.u8(Self::MIN),
            AddrBase::MaxFit => e.u8(Self::MAX_FIT),
        }
        self.offset.write(e, &offset);
    }
}

/// A length: a few units, a gap's or an entry's size plus a delta, a power of two, a
/// wrap-prone value (near `u64::MAX`, the top of the space, the map's size), 0, or raw.
struct LenField {
    /// The address space.
    arch: Arch,
    /// The scenario's unit.
    unit: u64,
    /// The map's first byte.
    min: u64,
    /// The map's last byte.
    max: u64,
    /// The delta added to a gap's or an entry's size.
    offset: OffsetField,
}

impl LenField {
    /// Tags `UNITS..=UNITS_LAST`: 1 to 16 units.
    const UNITS: u8 = 0;
    /// The last tag of [`Self::UNITS`].
    const UNITS_LAST: u8 = 5;
    /// 1 to 2^16 units.
    const MANY_UNITS: u8 = 6;
    /// Tags `GAP..=GAP_LAST`: [`LenSel::Gap`] (its index and delta follow).
    const GAP: u8 = 7;
    /// The last tag of [`Self::GAP`].
    const GAP_LAST: u8 = 9;
    /// [`LenSel::Entry`] (its index and delta follow).
    const ENTRY: u8 = 10;
    /// A power of two.
    const POW2: u8 = 11;
    /// Up to 255 below `u64::MAX`.
    const NEAR_U64_MAX: u8 = 12;
    /// The top of the space less up to 255 units.
    const NEAR_TOP: u8 = 13;
    /// The map's size less up to 3 units.
    const NEAR_MAP_SIZE: u8 = 14;
    /// 0.
    const ZERO: u8 = 15;
    /// A raw length follows.
    const RAW: u8 = 16;
    /// The number of tags.
    const COUNT: u8 = Self::RAW + 1;
}

impl Selector for LenField {
    type Value = LenSel;

    fn read(&self, d: &mut Decoder) -> LenSel {
        let u = self.unit;
        LenSel::Raw(match d.below(Self::COUNT) {
            Self::UNITS..=Self::UNITS_LAST => (u64::from(d.u8() % 16) + 1) * u,
            Self::MANY_UNITS => (u64::from(d.u16()) + 1) * u,
            Self::GAP..=Self::GAP_LAST => {
                return LenSel::Gap {
                    index: d.u16(),
                    delta: self.offset.read(d),
                }
            }
            Self::ENTRY => {
                return LenSel::Entry {
                    index: d.u16(),
                    delta: self.offset.read(d),
                }
            }
            Self::POW2 => 1u64 << (d.u8() % 64),
            Self::NEAR_U64_MAX => u64::MAX - u64::from(d.u8()),
            Self::NEAR_TOP => self
                .arch
                .max_addr()
                .wrapping_sub(u64::from(d.u8()).wrapping_mul(u)),
            Self::NEAR_MAP_SIZE => (self.max - self.min)
                .wrapping_add(1)
                .wrapping_sub(u64::from(d.u8() % 4).wrapping_mul(u)),
            Self::ZERO => 0,
            Self::RAW.. => d.u64(),
        })
    }

    fn write(&self, e: &mut Encoder, v: &LenSel) {
        match *v {
            LenSel::Gap { index, delta } => {
                e.u8(Self::GAP);
                e.u16(index);
                self.offset.write(e, &delta);
            }
            LenSel::Entry { index, delta } => {
                e.u8(Self::ENTRY);
                e.u16(index);
                self.offset.write(e, &delta);
            }
            LenSel::Raw(v) => {
                e.u8(Self::RAW);
                e.u64(v);
            }
        }
    }
}

/// Non-power-of-2 alignments (seed 000 rounds them by division): tiny odd and even ones,
/// multiples of pages (12288 = 3 pages, 0x300000 = 3 MiB, 0x180000 = 1.5 MiB), and huge ones.
const ODD_ALIGNS: [u64; 16] = [
    3,
    5,
    6,
    7,
    12,
    24,
    100,
    12288,
    0x5000,
    0x30_0000,
    0x18_0000,
    1_000_000,
    0xFFFF_FFFF,
    0xC000_0000_0000_0000,
    (1 << 63) + 1,
    u64::MAX,
];

/// An alignment: 1, the unit times a power of two, any power of two up to 2^63, a
/// non-power of two ([`ODD_ALIGNS`]), a value near 2^63, the segment size, a few units, 0, or
/// raw.
struct AlignField {
    /// The address space.
    arch: Arch,
    /// The scenario's unit.
    unit: u64,
}

impl AlignField {
    /// Tags `ONE..=ONE_LAST`: 1.
    const ONE: u8 = 0;
    /// The last tag of [`Self::ONE`].
    const ONE_LAST: u8 = 3;
    /// Tags `UNIT_POW2..=UNIT_POW2_LAST`: the unit times 2^0 to 2^11.
    const UNIT_POW2: u8 = 4;
    /// The last tag of [`Self::UNIT_POW2`].
    const UNIT_POW2_LAST: u8 = 6;
    /// 2^0 to 2^63.
    const POW2: u8 = 7;
    /// Tags `ODD..=ODD_LAST`: one of [`ODD_ALIGNS`].
    const ODD: u8 = 8;
    /// The last tag of [`Self::ODD`].
    const ODD_LAST: u8 = 9;
    /// Huge: 2^63 plus -128 to 127.
    const NEAR_2_63: u8 = 10;
    /// The architecture's segment size.
    const SEGMENT: u8 = 11;
    /// Tags `UNITS..=UNITS_LAST`: 1 to 16 units.
    const UNITS: u8 = 12;
    /// The last tag of [`Self::UNITS`].
    const UNITS_LAST: u8 = 13;
    /// 0.
    const ZERO: u8 = 14;
    /// A raw alignment follows.
    const RAW: u8 = 15;
    /// The number of tags.
    const COUNT: u8 = Self::RAW + 1;
}

impl Selector for AlignField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        match d.below(Self::COUNT) {
            Self::ONE..=Self::ONE_LAST => 1,
            Self::UNIT_POW2..=Self::UNIT_POW2_LAST => self.unit << (d.u8() % 12),
            Self::POW2 => 1u64 << (d.u8() % 64),
            Self::ODD..=Self::ODD_LAST => ODD_ALIGNS[usize::from(d.below(ODD_ALIGNS.len() as u8))],
            Self::NEAR_2_63 => (1u64 << 63).wrapping_add(i64::from(d.u8() as i8) as u64),
            Self::SEGMENT => self.arch.segment_size(),
            Self::UNITS..=Self::UNITS_LAST => (u64::from(d.u8() % 16) + 1) * self.unit,
            Self::ZERO => 0,
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}
