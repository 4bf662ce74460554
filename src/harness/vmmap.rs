//! The `vmmap` target: scenarios of findspace, map and unmap operations on a
//! [`VmMap`], judged after every op by `kvafuzz_oracles::findspace` (the
//! u128 brute-force findspace and the naive `MapModel`).
//!
//! ## Decoding
//!
//! Header: architecture (all four), the canonical half (x86_64), a *unit* (1 byte, 16 bytes,
//! 4 KiB or 2 MiB: lengths and offsets are mostly small multiples of it, so entries line up and
//! exact aligned fits happen), the map bounds `[min, max]`, the strategy `findspace` and
//! `map_anywhere` use, an entry limit, and swarm toggles. Then ops until the bytes run out or
//! [`super::MAX_OPS`].
//!
//! Bounds come from selectors: the bottom of the half (address 0 in the lower one), the top of
//! the space (`0xFFFF_FFFF`, `u64::MAX` in the upper half), just below the canonical hole, near
//! the top, a small map above `min`, or raw values. Whatever the bytes say, the decoded bounds
//! are a legal map of the architecture (raw values are masked into the chosen half and
//! ordered), so [`VmMap::new`] refusing them is itself a finding.
//!
//! Every numeric field of an op is a *selector* resolved when the op runs: addresses relative
//! to a live entry (its start, one past its end), a gap (its start, the last block that fits
//! in it), the bounds (`min`, the block ending exactly at `max`) or raw; lengths as a gap's or
//! an entry's size plus a small delta, a few units, powers of two, wrap-prone values near
//! `u64::MAX` and the top of the space, or raw; alignments as 1, powers of two up to 2^63,
//! non-powers of two (3, 12288, 0x300000, ...), values near 2^63, the segment size, unit
//! multiples, 0 or raw. The last tag of every selector means "raw value follows", which is
//! what [`Scenario::encode`] writes, so `decode(encode(case)) == case`.
//!
//! ## Checks after every op
//!
//! 1. the op's answer equals the oracle's (findspace: the lowest fit or the error kind;
//!    mutations: the `MapModel` verdict, which is then applied to the model);
//! 2. [`VmMap::check_invariants`];
//! 3. the whole entry list (ranges and tags) equals the model's.
//!
//! The differential op also runs **both** strategies on the same query and requires them to
//! agree before comparing with the oracle.
//!
//! ## At the end of every scenario: segment sharing
//!
//! [`segment_sharing`] (table pages that spaces could share) is judged against
//! `kvafuzz_oracles::sharing` on two inputs derived from the first [`SHARING_ENTRIES`]
//! entries of the final map (each entry mapping object `tag % SHARING_OBJECTS`); the verdicts
//! (the five counts, or the exact error) must be equal:
//!
//! * **raw**: the entries as they are, so sub-page units give `NotPageAligned`. Space 0 holds
//!   each entry (object offset = its address) and a copy one segment higher and one byte
//!   longer with the same offsets (same keys, so sharing within one space; an overlap when an
//!   entry is longer than a segment or its successor is nearer, by exactly one byte between
//!   the copies of touching entries; a bad range when it leaves the space); space 1 the
//!   entries with offsets one page higher (congruence broken; `OffsetWraps` in the top page
//!   of the 64-bit space) plus the length's bytes past whole pages (so a page-aligned entry
//!   of ragged length has a misaligned offset alone). An empty map gives one empty mapping
//!   (`BadRange`). Counts are compared only up to [`SHARING_CHECK_SEGMENTS`] touched
//!   segments (huge entries), errors always (`TooManySegments` included).
//! * **pages**: always page-aligned, bounded, for the counts. The entries rounded out to
//!   pages (one overlapping the previous is dropped), an entry touching more than
//!   `2 * SHARING_CLIP_SEGMENTS` segments kept as its first and last `SHARING_CLIP_SEGMENTS`
//!   (the top of the space stays in). Space 0: those pieces, offset = address; space 1: the
//!   same (a twin: every wholly covered segment shared); space 2: shifted one page, offsets
//!   unchanged (keys never match: shareable but alone); space 3: each piece cut at its first
//!   inner segment boundary (both halves on a boundary) or else its middle page (two mappings
//!   in one segment), the upper half another object; space 4: the pieces rounded out to whole
//!   segments at offset 0 (pieces of one object share their first segments), one dropped if
//!   it overlaps the previous; space 5: its twin (so every map with an entry has mappings
//!   starting and ending on segment boundaries with a partner).

use std::fmt;

use kvafuzz_oracles::findspace::{
    findspace as oracle_findspace, FindspaceErrorKind, MapAnywhereErrorKind, MapFixedErrorKind,
    MapModel, UnmapErrorKind,
};
use kvafuzz_oracles::sharing as os;

use super::codec::{Decoder, Encoder};
use super::drive::{drive, setup_finding, Machine};
use super::{BugSet, Case, Finding, Mismatch, Stats, Target, MAX_OPS};
use crate::addr::{Arch, Range, RangeError, ALL_ARCHES, PAGE_SIZE};
use crate::vmmap::segment::MAX_SHARING_SEGMENTS;
use crate::vmmap::{
    segment_sharing, Entry, FindspaceError, MapAnywhereError, MapFixedError, ObjectMapping,
    Sharing, SharingError, Strategy, UnmapError, VmMap, MAX_ENTRIES,
};

/// log2 of the units a header byte picks from.
const UNIT_SHIFTS: [u8; 4] = [0, 4, 12, 21];

/// Entry limits a header asks for, besides "unlimited" ([`MAX_ENTRIES`]): `1..=SMALL_LIMITS`.
const SMALL_LIMITS: u8 = 16;

/// Header limit bytes below this mean [`MAX_ENTRIES`]; the others a small limit.
const LIMITED_FROM: u8 = 0xC0;

/// Op kinds, as the swarm mask numbers them.
const KINDS: u8 = 8;

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

/// Where a block of an op starts (resolved against the state when the op runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrBase {
    /// The start of entry `index` (modulo the entry count; `min` if there is none).
    EntryStart(u16),
    /// One past the last byte of entry `index` (wrapping).
    EntryEnd(u16),
    /// The start of gap `index` (modulo the gap count; `min` if the map is full).
    GapStart(u16),
    /// The start of the last block of the op's length that fits in gap `index`
    /// (`gap.last + 1 - length`, wrapping).
    GapEndFit(u16),
    /// The map's `min`.
    Min,
    /// The start of the block of the op's length that ends exactly at `max` (wrapping).
    MaxFit,
}

/// An address selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrSel {
    /// This address.
    Raw(u64),
    /// `base + offset`, wrapping.
    Rel {
        /// What the address is relative to.
        base: AddrBase,
        /// Added with wrapping (so "negative" offsets are large values).
        offset: u64,
    },
}

/// A length selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LenSel {
    /// This length.
    Raw(u64),
    /// The size of gap `index` (modulo the gap count; one unit if the map is full) plus
    /// `delta`, wrapping.
    Gap {
        /// Gap index.
        index: u16,
        /// Added with wrapping.
        delta: u64,
    },
    /// The size of entry `index` (modulo the entry count; one unit if there is none) plus
    /// `delta`, wrapping.
    Entry {
        /// Entry index.
        index: u16,
        /// Added with wrapping.
        delta: u64,
    },
}

/// One operation of a vmmap scenario. Map operations tag the new entry with the op's index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `findspace(start, length, align)` with the map's strategy.
    Findspace {
        /// Start hint.
        start: AddrSel,
        /// Length.
        length: LenSel,
        /// Alignment.
        align: u64,
    },
    /// The same query with both strategies; they must agree with each other and the oracle.
    Differential {
        /// Start hint.
        start: AddrSel,
        /// Length.
        length: LenSel,
        /// Alignment.
        align: u64,
    },
    /// `map_anywhere(length, align)` (findspace from `min`).
    MapAnywhere {
        /// Length.
        length: LenSel,
        /// Alignment.
        align: u64,
    },
    /// `map_anywhere_from(start, length, align)`.
    MapAnywhereFrom {
        /// Start hint.
        start: AddrSel,
        /// Length.
        length: LenSel,
        /// Alignment.
        align: u64,
    },
    /// `map_fixed(addr, length)`.
    MapFixed {
        /// Address.
        addr: AddrSel,
        /// Length.
        length: LenSel,
    },
    /// Unmap exactly entry `handle` (modulo the entry count).
    UnmapEntry {
        /// Entry index.
        handle: u16,
    },
    /// Unmap from the start of entry `first` to the end of entry `first + count` (modulo the
    /// entry count, clamped to the last entry): several whole entries and the gaps between.
    UnmapEntries {
        /// First entry index.
        first: u16,
        /// How many more entries.
        count: u8,
    },
    /// `unmap(addr, length)`: partial overlaps, holes, out of bounds, raw.
    Unmap {
        /// Address.
        addr: AddrSel,
        /// Length.
        length: LenSel,
    },
}

/// A decoded vmmap scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The address space.
    pub arch: Arch,
    /// log2 of the unit lengths and offsets are measured in: 0, 4, 12 or 21.
    pub unit_shift: u8,
    /// First byte of the map (a legal map of `arch` with `max`).
    pub min: u64,
    /// Last byte of the map.
    pub max: u64,
    /// The strategy of `findspace` and `map_anywhere`.
    pub strategy: Strategy,
    /// The entry limit: [`MAX_ENTRIES`] or `1..=SMALL_LIMITS`.
    pub max_entries: usize,
    /// The ops.
    pub ops: Vec<Op>,
}

// ---- printing ------------------------------------------------------------------------------

/// `v` as a signed hex delta (`+0x10`, `-0x1000`).
fn signed(v: u64) -> String {
    let s = v as i64;
    if s < 0 {
        format!("-{:#x}", s.unsigned_abs())
    } else {
        format!("+{s:#x}")
    }
}

impl fmt::Display for AddrSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (base, offset) = match *self {
            AddrSel::Raw(a) => return write!(f, "{a:#x}"),
            AddrSel::Rel { base, offset } => (base, offset),
        };
        match base {
            AddrBase::EntryStart(i) => write!(f, "entry[{i}].start")?,
            AddrBase::EntryEnd(i) => write!(f, "entry[{i}].end")?,
            AddrBase::GapStart(i) => write!(f, "gap[{i}].start")?,
            AddrBase::GapEndFit(i) => write!(f, "gap[{i}].end-len")?,
            AddrBase::Min => f.write_str("min")?,
            AddrBase::MaxFit => f.write_str("max+1-len")?,
        }
        if offset != 0 {
            f.write_str(&signed(offset))?;
        }
        Ok(())
    }
}

impl fmt::Display for LenSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, index, delta) = match *self {
            LenSel::Raw(v) => return write!(f, "{v:#x}"),
            LenSel::Gap { index, delta } => ("gap", index, delta),
            LenSel::Entry { index, delta } => ("entry", index, delta),
        };
        write!(f, "{what}[{index}].size")?;
        if delta != 0 {
            f.write_str(&signed(delta))?;
        }
        Ok(())
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::Findspace {
                start,
                length,
                align,
            } => write!(f, "findspace start={start} len={length} align={align:#x}"),
            Op::Differential {
                start,
                length,
                align,
            } => write!(
                f,
                "findspace-both start={start} len={length} align={align:#x}"
            ),
            Op::MapAnywhere { length, align } => {
                write!(f, "map_anywhere len={length} align={align:#x}")
            }
            Op::MapAnywhereFrom {
                start,
                length,
                align,
            } => write!(
                f,
                "map_anywhere_from start={start} len={length} align={align:#x}"
            ),
            Op::MapFixed { addr, length } => write!(f, "map_fixed addr={addr} len={length}"),
            Op::UnmapEntry { handle } => write!(f, "unmap entry[{handle}]"),
            Op::UnmapEntries { first, count } => {
                write!(f, "unmap entries[{first}..=+{count}]")
            }
            Op::Unmap { addr, length } => write!(f, "unmap addr={addr} len={length}"),
        }
    }
}

fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::Linear => "linear",
        Strategy::GapIndex => "gapindex",
    }
}

impl Scenario {
    fn unit(&self) -> u64 {
        1u64 << self.unit_shift
    }

    fn header_line(&self) -> String {
        let limit = if self.max_entries == MAX_ENTRIES {
            "unlimited".to_string()
        } else {
            self.max_entries.to_string()
        };
        format!(
            "vmmap scenario: arch={} map=[{:#x}, {:#x}] unit={:#x} strategy={} max_entries={} ops={}",
            self.arch,
            self.min,
            self.max,
            self.unit(),
            strategy_name(self.strategy),
            limit,
            self.ops.len()
        )
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.header_line())?;
        for (i, op) in self.ops.iter().enumerate() {
            writeln!(f, "  #{i} {op}")?;
        }
        Ok(())
    }
}

// ---- bounds --------------------------------------------------------------------------------

/// `(first, last)` address of the canonical half of `arch` the header picked (`upper` only
/// matters on x86_64).
fn half(arch: Arch, upper: bool) -> (u64, u64) {
    match arch.upper_half_start() {
        Some(u) if upper => (u, u64::MAX),
        _ => (0, arch.lower_half_last()),
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

// ---- selectors -----------------------------------------------------------------------------

/// Values the decoder draws from; fixed per scenario.
struct Ctx {
    arch: Arch,
    unit: u64,
    min: u64,
    max: u64,
}

const RAW_OFFSET: u8 = 7;
const RAW_ADDR: u8 = 11;
const RAW_LEN: u8 = 16;
const RAW_ALIGN: u8 = 15;

impl Ctx {
    /// Small signed multiples of the unit, small signed byte deltas, or raw.
    fn offset(&self, d: &mut Decoder) -> u64 {
        match d.below(RAW_OFFSET + 1) {
            0..=3 => 0,
            4 | 5 => (i64::from(d.u8() as i8 % 8) as u64).wrapping_mul(self.unit),
            6 => i64::from(d.u8() as i8 % 4) as u64,
            _ => d.u64(),
        }
    }

    fn addr(&self, d: &mut Decoder) -> AddrSel {
        let base = match d.below(RAW_ADDR + 1) {
            0 | 1 => AddrBase::EntryStart(d.u16()),
            2 | 3 => AddrBase::EntryEnd(d.u16()),
            4 | 5 => AddrBase::GapStart(d.u16()),
            6 => AddrBase::GapEndFit(d.u16()),
            7 | 8 => AddrBase::Min,
            9 => AddrBase::MaxFit,
            10 => AddrBase::GapStart(0),
            _ => return AddrSel::Raw(d.u64()),
        };
        AddrSel::Rel {
            base,
            offset: self.offset(d),
        }
    }

    fn length(&self, d: &mut Decoder) -> LenSel {
        let u = self.unit;
        LenSel::Raw(match d.below(RAW_LEN + 1) {
            0..=5 => (u64::from(d.u8() % 16) + 1) * u,
            6 => (u64::from(d.u16()) + 1) * u,
            7..=9 => {
                return LenSel::Gap {
                    index: d.u16(),
                    delta: self.offset(d),
                }
            }
            10 => {
                return LenSel::Entry {
                    index: d.u16(),
                    delta: self.offset(d),
                }
            }
            11 => 1u64 << (d.u8() % 64),
            // Wrap-prone: near u64::MAX, near the top of the space, near the map's size.
            12 => u64::MAX - u64::from(d.u8()),
            13 => self
                .arch
                .max_addr()
                .wrapping_sub(u64::from(d.u8()).wrapping_mul(u)),
            14 => (self.max - self.min)
                .wrapping_add(1)
                .wrapping_sub(u64::from(d.u8() % 4).wrapping_mul(u)),
            15 => 0,
            _ => d.u64(),
        })
    }

    fn align(&self, d: &mut Decoder) -> u64 {
        match d.below(RAW_ALIGN + 1) {
            0..=3 => 1,
            4..=6 => self.unit << (d.u8() % 12),
            7 => 1u64 << (d.u8() % 64),
            8 | 9 => ODD_ALIGNS[usize::from(d.below(16))],
            // Huge: around 2^63.
            10 => (1u64 << 63).wrapping_add(i64::from(d.u8() as i8) as u64),
            11 => self.arch.segment_size(),
            12 | 13 => (u64::from(d.u8() % 16) + 1) * self.unit,
            14 => 0,
            _ => d.u64(),
        }
    }
}

// ---- encoding (raw tags only) --------------------------------------------------------------

fn enc_addr(e: &mut Encoder, a: &AddrSel) {
    let (base, offset) = match *a {
        AddrSel::Raw(v) => {
            e.u8(RAW_ADDR);
            e.u64(v);
            return;
        }
        AddrSel::Rel { base, offset } => (base, offset),
    };
    match base {
        AddrBase::EntryStart(i) => {
            e.u8(0);
            e.u16(i);
        }
        AddrBase::EntryEnd(i) => {
            e.u8(2);
            e.u16(i);
        }
        AddrBase::GapStart(i) => {
            e.u8(4);
            e.u16(i);
        }
        AddrBase::GapEndFit(i) => {
            e.u8(6);
            e.u16(i);
        }
        AddrBase::Min => e.u8(7),
        AddrBase::MaxFit => e.u8(9),
    }
    e.u8(RAW_OFFSET);
    e.u64(offset);
}

fn enc_len(e: &mut Encoder, l: &LenSel) {
    match *l {
        LenSel::Raw(v) => {
            e.u8(RAW_LEN);
            e.u64(v);
        }
        LenSel::Gap { index, delta } => {
            e.u8(7);
            e.u16(index);
            e.u8(RAW_OFFSET);
            e.u64(delta);
        }
        LenSel::Entry { index, delta } => {
            e.u8(10);
            e.u16(index);
            e.u8(RAW_OFFSET);
            e.u64(delta);
        }
    }
}

fn enc_align(e: &mut Encoder, a: u64) {
    e.u8(RAW_ALIGN);
    e.u64(a);
}

// Op kind numbers (the swarm mask uses the same numbering).
const K_FINDSPACE: u8 = 0;
const K_DIFFERENTIAL: u8 = 1;
const K_MAP_ANYWHERE: u8 = 2;
const K_MAP_ANYWHERE_FROM: u8 = 3;
const K_MAP_FIXED: u8 = 4;
const K_MAP_FIXED2: u8 = 5;
const K_UNMAP_ENTRY: u8 = 6;
const K_UNMAP: u8 = 7;

const RAW_MIN: u8 = 3;
const RAW_MAX: u8 = 4;

impl Case for Scenario {
    fn decode(data: &[u8]) -> Scenario {
        let mut d = Decoder::new(data);
        let arch = ALL_ARCHES[usize::from(d.below(4))];
        let flags = d.u8();
        let strategy = if flags & 1 == 0 {
            Strategy::GapIndex
        } else {
            Strategy::Linear
        };
        let upper = flags & 2 != 0;
        let unit_shift = UNIT_SHIFTS[usize::from((flags >> 2) % 4)];
        let unit = 1u64 << unit_shift;
        let limit = d.u8();
        let max_entries = if limit < LIMITED_FROM {
            MAX_ENTRIES
        } else {
            usize::from((limit - LIMITED_FROM) % SMALL_LIMITS) + 1
        };
        let swarm = match d.u8() {
            0 => u8::MAX,
            m => m,
        };
        let (lo, hi) = half(arch, upper);
        let min = match d.below(RAW_MIN + 1) {
            0 => lo,
            1 => lo.wrapping_add(u64::from(d.u16()).wrapping_mul(unit)),
            2 => hi
                .wrapping_sub((u64::from(d.u16()) + 1).wrapping_mul(unit))
                .wrapping_add(1),
            _ => d.u64(),
        };
        let max = match d.below(RAW_MAX + 1) {
            0 => hi,
            1 => min.saturating_add((u64::from(d.u16()) + 1).saturating_mul(unit) - 1),
            2 => min.saturating_add((u64::from(d.u8()) + 1).saturating_mul(unit) - 1),
            3 => hi.wrapping_sub(u64::from(d.u16()).wrapping_mul(unit)),
            _ => d.u64(),
        };
        let (min, max) = legal_bounds(lo, hi, min, max);
        let ctx = Ctx {
            arch,
            unit,
            min,
            max,
        };
        let mut ops = Vec::new();
        while !d.is_empty() && ops.len() < MAX_OPS {
            let mut kind = d.below(KINDS);
            while swarm & (1 << kind) == 0 {
                kind = (kind + 1) % KINDS;
            }
            let op = match kind {
                K_FINDSPACE => Op::Findspace {
                    start: ctx.addr(&mut d),
                    length: ctx.length(&mut d),
                    align: ctx.align(&mut d),
                },
                K_DIFFERENTIAL => Op::Differential {
                    start: ctx.addr(&mut d),
                    length: ctx.length(&mut d),
                    align: ctx.align(&mut d),
                },
                K_MAP_ANYWHERE => Op::MapAnywhere {
                    length: ctx.length(&mut d),
                    align: ctx.align(&mut d),
                },
                K_MAP_ANYWHERE_FROM => Op::MapAnywhereFrom {
                    start: ctx.addr(&mut d),
                    length: ctx.length(&mut d),
                    align: ctx.align(&mut d),
                },
                K_MAP_FIXED | K_MAP_FIXED2 => Op::MapFixed {
                    addr: ctx.addr(&mut d),
                    length: ctx.length(&mut d),
                },
                K_UNMAP_ENTRY => Op::UnmapEntry { handle: d.u16() },
                _ => match d.below(3) {
                    0 => Op::UnmapEntries {
                        first: d.u16(),
                        count: d.u8(),
                    },
                    _ => Op::Unmap {
                        addr: ctx.addr(&mut d),
                        length: ctx.length(&mut d),
                    },
                },
            };
            ops.push(op);
        }
        Scenario {
            arch,
            unit_shift,
            min,
            max,
            strategy,
            max_entries,
            ops,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u8(ALL_ARCHES.iter().position(|&a| a == self.arch).unwrap_or(0) as u8);
        let upper = self.arch.upper_half_start().is_some_and(|u| self.min >= u);
        let unit = UNIT_SHIFTS
            .iter()
            .position(|&s| s == self.unit_shift)
            .unwrap_or(0) as u8;
        e.u8(u8::from(self.strategy == Strategy::Linear) | (u8::from(upper) << 1) | (unit << 2));
        e.u8(if self.max_entries == MAX_ENTRIES {
            0
        } else {
            LIMITED_FROM + (self.max_entries.clamp(1, usize::from(SMALL_LIMITS)) - 1) as u8
        });
        e.u8(0); // swarm: everything on (ops are written with their final kinds)
        e.u8(RAW_MIN);
        e.u64(self.min);
        e.u8(RAW_MAX);
        e.u64(self.max);
        for op in &self.ops {
            match op {
                Op::Findspace {
                    start,
                    length,
                    align,
                }
                | Op::Differential {
                    start,
                    length,
                    align,
                } => {
                    let kind = if matches!(op, Op::Findspace { .. }) {
                        K_FINDSPACE
                    } else {
                        K_DIFFERENTIAL
                    };
                    e.u8(kind);
                    enc_addr(&mut e, start);
                    enc_len(&mut e, length);
                    enc_align(&mut e, *align);
                }
                Op::MapAnywhere { length, align } => {
                    e.u8(K_MAP_ANYWHERE);
                    enc_len(&mut e, length);
                    enc_align(&mut e, *align);
                }
                Op::MapAnywhereFrom {
                    start,
                    length,
                    align,
                } => {
                    e.u8(K_MAP_ANYWHERE_FROM);
                    enc_addr(&mut e, start);
                    enc_len(&mut e, length);
                    enc_align(&mut e, *align);
                }
                Op::MapFixed { addr, length } => {
                    e.u8(K_MAP_FIXED);
                    enc_addr(&mut e, addr);
                    enc_len(&mut e, length);
                }
                Op::UnmapEntry { handle } => {
                    e.u8(K_UNMAP_ENTRY);
                    e.u16(*handle);
                }
                Op::UnmapEntries { first, count } => {
                    e.u8(K_UNMAP);
                    e.u8(0);
                    e.u16(*first);
                    e.u8(*count);
                }
                Op::Unmap { addr, length } => {
                    e.u8(K_UNMAP);
                    e.u8(1);
                    enc_addr(&mut e, addr);
                    enc_len(&mut e, length);
                }
            }
        }
        e.finish()
    }

    fn header(&self) -> String {
        self.header_line()
    }

    type Op = Op;

    fn ops(&self) -> &[Op] {
        &self.ops
    }

    fn with_ops(&self, ops: Vec<Op>) -> Scenario {
        Scenario {
            ops,
            ..self.clone()
        }
    }

    fn execute(&self, bugs: BugSet, trace: Option<&mut String>) -> Result<Stats, Finding> {
        let mut executor = self.executor(bugs)?;
        drive(VmmapTarget::NAME, &mut executor, &self.ops, trace)
    }
}

impl Scenario {
    /// The map and the model of the scenario, before the first op.
    fn executor(&self, bugs: BugSet) -> Result<Executor, Finding> {
        let map = VmMap::new(self.arch, self.min, self.max).map_err(|e| {
            setup_finding(
                VmmapTarget::NAME,
                format!(
                    "VmMap::new refused the legal bounds [{:#x}, {:#x}] of {}: {e}",
                    self.min, self.max, self.arch
                ),
            )
        })?;
        #[cfg_attr(not(feature = "seeded-bugs"), allow(unused_mut))]
        let mut map = map
            .with_strategy(self.strategy)
            .with_max_entries(self.max_entries);
        #[cfg(feature = "seeded-bugs")]
        map.set_bugs(bugs);
        #[cfg(not(feature = "seeded-bugs"))]
        let _ = bugs;
        let model = MapModel::new(self.min, self.max, self.max_entries);
        Ok(Executor {
            map,
            model,
            arch: self.arch,
            unit: self.unit(),
            next_index: 0,
            stats: Stats::default(),
        })
    }
}

// ---- execution ----------------------------------------------------------------------------

/// The implementation's findspace answer in the oracle's terms.
fn fs_kind(r: Result<u64, FindspaceError>) -> Result<u64, FindspaceErrorKind> {
    r.map_err(|e| match e {
        FindspaceError::ZeroLength => FindspaceErrorKind::ZeroLength,
        FindspaceError::ZeroAlign => FindspaceErrorKind::ZeroAlign,
        FindspaceError::NoSpace => FindspaceErrorKind::NoSpace,
    })
}

fn any_kind(r: Result<Range, MapAnywhereError>) -> Result<(u64, u64), MapAnywhereErrorKind> {
    r.map(|r| (r.start(), r.last())).map_err(|e| match e {
        MapAnywhereError::ZeroLength => MapAnywhereErrorKind::ZeroLength,
        MapAnywhereError::ZeroAlign => MapAnywhereErrorKind::ZeroAlign,
        MapAnywhereError::NoSpace => MapAnywhereErrorKind::NoSpace,
        MapAnywhereError::Full => MapAnywhereErrorKind::Full,
    })
}

fn fixed_kind(r: Result<Range, MapFixedError>) -> Result<(u64, u64), MapFixedErrorKind> {
    r.map(|r| (r.start(), r.last())).map_err(|e| match e {
        MapFixedError::ZeroLength => MapFixedErrorKind::ZeroLength,
        MapFixedError::Wraps => MapFixedErrorKind::Wraps,
        MapFixedError::OutOfBounds => MapFixedErrorKind::OutOfBounds,
        MapFixedError::Overlap { existing } => MapFixedErrorKind::Overlap {
            start: existing.start(),
            last: existing.last(),
        },
        MapFixedError::Full => MapFixedErrorKind::Full,
    })
}

fn entry_tuple(e: &Entry) -> (u64, u64, u64) {
    (e.range.start(), e.range.last(), e.tag)
}

fn unmap_kind(r: Result<Vec<Entry>, UnmapError>) -> Result<Vec<(u64, u64, u64)>, UnmapErrorKind> {
    r.map(|v| v.iter().map(entry_tuple).collect())
        .map_err(|e| match e {
            UnmapError::ZeroLength => UnmapErrorKind::ZeroLength,
            UnmapError::Wraps => UnmapErrorKind::Wraps,
            UnmapError::OutOfBounds => UnmapErrorKind::OutOfBounds,
            UnmapError::NotMapped => UnmapErrorKind::NotMapped,
            UnmapError::Partial { entry } => UnmapErrorKind::Partial {
                start: entry.start(),
                last: entry.last(),
            },
        })
}

/// Steps a [`VmMap`] through a scenario with the oracle (see [`drive`]).
struct Executor {
    map: VmMap,
    model: MapModel,
    arch: Arch,
    unit: u64,
    /// Index of the next op (it becomes the tag of what the op maps).
    next_index: usize,
    stats: Stats,
}

impl Machine for Executor {
    type Op = Op;

    fn step(&mut self, op: &Op) -> Result<String, Mismatch> {
        let index = self.next_index;
        self.next_index += 1;
        self.execute_op(index, op)
    }

    fn check_invariants(&self) -> Result<(), (String, String)> {
        self.map
            .check_invariants()
            .map_err(|e| (invariant_name(&e).into(), format!("{e:x?}")))
    }

    fn compare_state(&self) -> Result<(), String> {
        self.compare_entries()
    }

    fn stats(&self) -> Stats {
        self.stats
    }

    fn summary(&self) -> String {
        format!("{} entries at the end", self.map.len())
    }

    /// Segment sharing of inputs derived from the final entries (module comment).
    fn finish(&mut self) -> Result<Option<String>, Mismatch> {
        let [(n0, raw), (n1, pages)] = self.sharing_inputs();
        let raw = judge_sharing(self.arch, n0, &raw)?;
        let pages = judge_sharing(self.arch, n1, &pages)?;
        Ok(Some(format!("segment_sharing {raw}; {pages}")))
    }
}

impl Executor {
    /// The two derived inputs of the module comment, named, from the current entries.
    fn sharing_inputs(&self) -> [(&'static str, Vec<ObjectMapping>); 2] {
        let mut entries = self.model.sorted();
        entries.truncate(SHARING_ENTRIES);
        let upper = self
            .arch
            .upper_half_start()
            .is_some_and(|u| self.model.min >= u);
        let pieces = page_pieces(self.arch, &entries);
        [
            (
                "raw",
                raw_sharing_input(self.arch, self.model.min, &entries),
            ),
            (
                "pages",
                paged_sharing_input(self.arch, half(self.arch, upper), &pieces),
            ),
        ]
    }

    fn count<T, E>(&mut self, r: &Result<T, E>) {
        self.stats.count(r.is_ok());
    }

    /// Entry `index` modulo the count (in the model's address order).
    fn entry(&self, index: u16) -> Option<(u64, u64, u64)> {
        let v = self.model.sorted();
        (!v.is_empty()).then(|| v[usize::from(index) % v.len()])
    }

    /// Gap `index` modulo the gap count, from the implementation's gap list (which the
    /// invariant check has compared with the entries after the previous op).
    fn gap(&self, index: u16) -> Option<Range> {
        let g = self.map.gaps();
        (!g.is_empty()).then(|| g[usize::from(index) % g.len()])
    }

    fn length(&self, sel: LenSel) -> u64 {
        match sel {
            LenSel::Raw(v) => v,
            LenSel::Gap { index, delta } => self
                .gap(index)
                .map_or(self.unit, |g| g.size())
                .wrapping_add(delta),
            LenSel::Entry { index, delta } => self
                .entry(index)
                .map_or(self.unit, |(s, l, _)| (l - s).wrapping_add(1))
                .wrapping_add(delta),
        }
    }

    fn addr(&self, sel: AddrSel, length: u64) -> u64 {
        let (base, offset) = match sel {
            AddrSel::Raw(a) => return a,
            AddrSel::Rel { base, offset } => (base, offset),
        };
        let min = self.model.min;
        let b = match base {
            AddrBase::EntryStart(i) => self.entry(i).map_or(min, |e| e.0),
            AddrBase::EntryEnd(i) => self.entry(i).map_or(min, |e| e.1.wrapping_add(1)),
            AddrBase::GapStart(i) => self.gap(i).map_or(min, |g| g.start()),
            AddrBase::GapEndFit(i) => self
                .gap(i)
                .map_or(min, |g| g.last().wrapping_add(1).wrapping_sub(length)),
            AddrBase::Min => min,
            AddrBase::MaxFit => self.model.max.wrapping_add(1).wrapping_sub(length),
        };
        b.wrapping_add(offset)
    }

    /// Executes one op and judges it; returns the outcome text for the trace.
    fn execute_op(&mut self, index: usize, op: &Op) -> Result<String, Mismatch> {
        let tag = index as u64;
        match *op {
            Op::Findspace {
                start,
                length,
                align,
            } => {
                let length = self.length(length);
                let start = self.addr(start, length);
                let expected = self.oracle_findspace(start, length, align);
                let actual = fs_kind(self.map.findspace(start, length, align));
                self.count(&actual);
                let s = strategy_name(self.map.strategy());
                if expected != actual {
                    return Err(Mismatch::new(
                        format!("findspace {s} (start {start:#x}, length {length:#x}, align {align:#x})"),
                        format!("{expected:x?}"),
                        format!("{actual:x?}"),
                    ));
                }
                Ok(format!(
                    "({start:#x}, {length:#x}, {align:#x}) {s}: {actual:x?}"
                ))
            }
            Op::Differential {
                start,
                length,
                align,
            } => {
                let length = self.length(length);
                let start = self.addr(start, length);
                let lin = fs_kind(
                    self.map
                        .findspace_with(Strategy::Linear, start, length, align),
                );
                let gap =
                    fs_kind(
                        self.map
                            .findspace_with(Strategy::GapIndex, start, length, align),
                    );
                self.count(&lin);
                if lin != gap {
                    // The linear scan is the reference the gap index must agree with.
                    return Err(Mismatch::new(
                        format!("findspace gapindex vs linear (start {start:#x}, length {length:#x}, align {align:#x})"),
                        format!("{lin:x?} (linear)"),
                        format!("{gap:x?} (gapindex)"),
                    ));
                }
                let expected = self.oracle_findspace(start, length, align);
                if expected != lin {
                    return Err(Mismatch::new(
                        format!("findspace both (start {start:#x}, length {length:#x}, align {align:#x})"),
                        format!("{expected:x?}"),
                        format!("{lin:x?}"),
                    ));
                }
                Ok(format!(
                    "({start:#x}, {length:#x}, {align:#x}) both: {lin:x?}"
                ))
            }
            Op::MapAnywhere { length, align } => {
                let length = self.length(length);
                let actual = any_kind(self.map.map_anywhere(length, align, tag));
                self.count(&actual);
                let expected = self.model.map_anywhere(length, align, tag);
                if expected != actual {
                    return Err(Mismatch::new(
                        format!("map_anywhere (length {length:#x}, align {align:#x})"),
                        format!("{expected:x?}"),
                        format!("{actual:x?}"),
                    ));
                }
                Ok(format!("({length:#x}, {align:#x}): {actual:x?}"))
            }
            Op::MapAnywhereFrom {
                start,
                length,
                align,
            } => {
                let length = self.length(length);
                let start = self.addr(start, length);
                let actual = any_kind(self.map.map_anywhere_from(start, length, align, tag));
                self.count(&actual);
                let expected = self.model.map_anywhere_from(start, length, align, tag);
                if expected != actual {
                    return Err(Mismatch::new(
                        format!(
                            "map_anywhere_from (start {start:#x}, length {length:#x}, align {align:#x})"
                        ),
                        format!("{expected:x?}"),
                        format!("{actual:x?}"),
                    ));
                }
                Ok(format!(
                    "({start:#x}, {length:#x}, {align:#x}): {actual:x?}"
                ))
            }
            Op::MapFixed { addr, length } => {
                let length = self.length(length);
                let addr = self.addr(addr, length);
                self.map_fixed(addr, length, tag)
            }
            Op::UnmapEntry { handle } => match self.entry(handle) {
                None => Ok("no entries".into()),
                Some((s, l, _)) => self.unmap(s, (l - s).wrapping_add(1)),
            },
            Op::UnmapEntries { first, count } => {
                let v = self.model.sorted();
                if v.is_empty() {
                    return Ok("no entries".into());
                }
                let i = usize::from(first) % v.len();
                let j = (i + usize::from(count)).min(v.len() - 1);
                self.unmap(v[i].0, (v[j].1 - v[i].0).wrapping_add(1))
            }
            Op::Unmap { addr, length } => {
                let length = self.length(length);
                let addr = self.addr(addr, length);
                self.unmap(addr, length)
            }
        }
    }

    fn oracle_findspace(
        &self,
        start: u64,
        length: u64,
        align: u64,
    ) -> Result<u64, FindspaceErrorKind> {
        let m = &self.model;
        oracle_findspace(m.min, m.max, &m.ranges(), start, length, align)
    }

    fn map_fixed(&mut self, addr: u64, length: u64, tag: u64) -> Result<String, Mismatch> {
        let actual = fixed_kind(self.map.map_fixed(addr, length, tag));
        self.count(&actual);
        let expected = self.model.map_fixed(addr, length, tag);
        if expected != actual {
            return Err(Mismatch::new(
                format!("map_fixed (addr {addr:#x}, length {length:#x})"),
                format!("{expected:x?}"),
                format!("{actual:x?}"),
            ));
        }
        Ok(format!("({addr:#x}, {length:#x}): {actual:x?}"))
    }

    fn unmap(&mut self, addr: u64, length: u64) -> Result<String, Mismatch> {
        let actual = unmap_kind(self.map.unmap(addr, length));
        self.count(&actual);
        let expected = self.model.unmap(addr, length);
        if expected != actual {
            return Err(Mismatch::new(
                format!("unmap (addr {addr:#x}, length {length:#x})"),
                format!("{expected:x?}"),
                format!("{actual:x?}"),
            ));
        }
        Ok(format!("({addr:#x}, {length:#x}): {actual:x?}"))
    }

    /// The map's entries (ranges and tags) equal the model's.
    fn compare_entries(&self) -> Result<(), String> {
        let have: Vec<(u64, u64, u64)> = self.map.entries().map(|e| entry_tuple(&e)).collect();
        let want = self.model.sorted();
        if have != want {
            let i = have
                .iter()
                .zip(&want)
                .position(|(a, b)| a != b)
                .unwrap_or(have.len().min(want.len()));
            return Err(format!(
                "entry #{i}: map has {:x?}, model has {:x?} ({} vs {} entries)",
                have.get(i),
                want.get(i),
                have.len(),
                want.len()
            ));
        }
        let st = self.map.stats();
        let have = (
            st.entries,
            st.gaps,
            u128::from(st.mapped_bytes),
            u128::from(st.free_bytes),
            u128::from(st.largest_gap),
        );
        let want = self.model.occupancy();
        if have != want {
            return Err(format!(
                "stats (entries, gaps, mapped, free, largest gap): map has {have:x?}, \
                 model has {want:x?}"
            ));
        }
        Ok(())
    }
}

// ---- segment sharing at the end ------------------------------------------------------------

/// Entries of the final map (lowest addresses first) the derived sharing inputs take: enough
/// for partners, shared objects and crowded segments, few enough that the naive oracle's
/// pairwise scans stay cheap (the pages input has at most `2 * 7` mappings per entry).
const SHARING_ENTRIES: usize = 8;

/// A page-rounded entry touching more than twice this many segments is kept as its first and
/// its last this many (two pieces), so an entry gives the pages input at most
/// `2 * SHARING_CLIP_SEGMENTS` touched segments in each of its six spaces, one more where a
/// shift or a cut adds one, whatever the entry's size (under 30 per entry).
const SHARING_CLIP_SEGMENTS: u64 = 2;

/// Entries map object `tag % SHARING_OBJECTS`: few objects, so different entries map the same
/// one (space 4 of the pages input shares between them). The split halves of space 3 use
/// objects from `SHARING_OBJECTS` up, which no whole entry uses.
const SHARING_OBJECTS: u64 = 3;

/// The raw input's counts are compared only when it touches at most this many (mapping,
/// segment) pairs: the oracle's count costs pairs x mappings, and a map entry can span 2^26
/// segments. (An accepted raw input is small anyway, since the copy of an entry longer than
/// a segment overlaps it; the limit makes that a bound, not an assumption.) Its errors
/// (`TooManySegments` past [`MAX_SHARING_SEGMENTS`] included) are always compared: they cost
/// nothing to find.
const SHARING_CHECK_SEGMENTS: u128 = 1 << 10;

/// The oracle's object id for an entry's tag.
fn sharing_object(tag: u64) -> u32 {
    (tag % SHARING_OBJECTS) as u32
}

/// The mapping of `[start, last]` (the length wraps like the addresses, so a range pushed
/// past the top keeps its length and fails the range check).
fn span(space: u32, object: u32, start: u64, last: u64, offset: u64) -> ObjectMapping {
    ObjectMapping {
        space,
        object,
        start,
        length: last.wrapping_sub(start).wrapping_add(1),
        offset,
    }
}

/// The raw input of the module comment.
fn raw_sharing_input(arch: Arch, min: u64, entries: &[(u64, u64, u64)]) -> Vec<ObjectMapping> {
    if entries.is_empty() {
        return vec![ObjectMapping {
            space: 0,
            object: 0,
            start: min,
            length: 0,
            offset: 0,
        }];
    }
    let seg = arch.segment_size();
    let mut out = Vec::with_capacity(3 * entries.len());
    for &(s, l, t) in entries {
        out.push(span(0, sharing_object(t), s, l, s));
    }
    for &(s, l, t) in entries {
        // A page higher, plus the length's bytes past whole pages.
        let ragged = l.wrapping_sub(s).wrapping_add(1) & (PAGE_SIZE - 1);
        let offset = s.wrapping_add(PAGE_SIZE).wrapping_add(ragged);
        out.push(span(1, sharing_object(t), s, l, offset));
    }
    for &(s, l, t) in entries {
        // One byte longer: a copy of an entry touching the next one overlaps the next copy
        // by exactly one byte.
        let up = |a: u64| a.wrapping_add(seg);
        out.push(span(0, sharing_object(t), up(s), up(l).wrapping_add(1), s));
    }
    out
}

/// The entries rounded out to pages, in address order, an entry dropped if it overlaps the
/// previous piece, a long one clipped to its first and last [`SHARING_CLIP_SEGMENTS`]
/// segments: `(start, last, tag)`.
fn page_pieces(arch: Arch, entries: &[(u64, u64, u64)]) -> Vec<(u64, u64, u64)> {
    let (seg, clip) = (arch.segment_size(), SHARING_CLIP_SEGMENTS);
    let mut out: Vec<(u64, u64, u64)> = Vec::with_capacity(2 * entries.len());
    for &(s, l, t) in entries {
        // Half bounds are page boundaries, so this stays in the entry's half.
        let (s, l) = (s & !(PAGE_SIZE - 1), l | (PAGE_SIZE - 1));
        if out.last().is_some_and(|&(_, prev, _)| s <= prev) {
            continue;
        }
        let (first, last) = (s / seg, l / seg);
        if last - first + 1 > 2 * clip {
            out.push((s, (first + clip) * seg - 1, t));
            out.push(((last - clip + 1) * seg, l, t));
        } else {
            out.push((s, l, t));
        }
    }
    out
}

/// The pages input of the module comment, from [`page_pieces`] in the half `(lo, hi)`.
fn paged_sharing_input(
    arch: Arch,
    (lo, hi): (u64, u64),
    pieces: &[(u64, u64, u64)],
) -> Vec<ObjectMapping> {
    let (seg, page) = (arch.segment_size(), PAGE_SIZE);
    let mut out = Vec::with_capacity(7 * pieces.len());
    for space in [0, 1] {
        for &(s, l, t) in pieces {
            out.push(span(space, sharing_object(t), s, l, s));
        }
    }
    // One page up if that stays in the half, else down if that does, else up anyway (a bad
    // range, when the pieces reach both ends of the half).
    let fits_up = pieces.last().is_none_or(|&(_, l, _)| l <= hi - page);
    let fits_down = pieces.first().is_some_and(|&(s, _, _)| s >= lo + page);
    let shift = |a: u64| {
        if fits_up || !fits_down {
            a.wrapping_add(page)
        } else {
            a - page
        }
    };
    for &(s, l, t) in pieces {
        out.push(span(2, sharing_object(t), shift(s), shift(l), s));
    }
    for &(s, l, t) in pieces {
        let object = sharing_object(t);
        let inner = (s / seg + 1).checked_mul(seg).filter(|&b| b <= l);
        let pages = (l - s) / page + 1;
        let cut = inner.or_else(|| (pages >= 2).then(|| s + pages / 2 * page));
        match cut {
            Some(c) => {
                out.push(span(3, object, s, c - 1, s));
                out.push(span(3, object + SHARING_OBJECTS as u32, c, l, c));
            }
            None => out.push(span(3, object, s, l, s)),
        }
    }
    let mut rounded: Vec<(u64, u64, u64)> = Vec::with_capacity(pieces.len());
    for &(s, l, t) in pieces {
        let (s, l) = (s & !(seg - 1), l | (seg - 1));
        if rounded.last().is_none_or(|&(_, prev, _)| prev < s) {
            rounded.push((s, l, t));
        }
    }
    for space in [4, 5] {
        for &(s, l, t) in &rounded {
            out.push(span(space, sharing_object(t), s, l, 0));
        }
    }
    out
}

/// The oracle's description of `arch` and the implementation's limit.
fn sharing_geometry(arch: Arch) -> os::Geometry {
    os::Geometry {
        segment: arch.segment_size(),
        page: PAGE_SIZE,
        va_bits: arch.va_bits(),
        sign_extended: match arch {
            Arch::Ia32 | Arch::Pae => false,
            Arch::X86_64 | Arch::X86_64La57 => true,
        },
        max_segments: MAX_SHARING_SEGMENTS,
    }
}

fn oracle_mapping(m: &ObjectMapping) -> os::Mapping {
    os::Mapping {
        space: m.space,
        object: m.object,
        start: m.start,
        length: m.length,
        offset: m.offset,
    }
}

/// The implementation's verdict in the oracle's terms.
fn sharing_kind(
    r: Result<Sharing, SharingError>,
) -> Result<os::SharingCounts, os::SharingErrorKind> {
    use os::SharingErrorKind as K;
    r.map(|s| os::SharingCounts {
        table_pages_unshared: u128::from(s.table_pages_unshared),
        table_pages: u128::from(s.table_pages),
        private_pages: u128::from(s.private_pages),
        shared_pages: u128::from(s.shared_pages),
        segments_on_shared_pages: u128::from(s.segments_on_shared_pages),
    })
    .map_err(|e| match e {
        SharingError::BadRange { index, error } => K::BadRange {
            index,
            error: match error {
                RangeError::Empty => os::RangeErrorKind::Empty,
                RangeError::Wraps => os::RangeErrorKind::Wraps,
                RangeError::PastTop => os::RangeErrorKind::PastTop,
                RangeError::NonCanonical => os::RangeErrorKind::NonCanonical,
            },
        },
        SharingError::NotPageAligned { index } => K::NotPageAligned { index },
        SharingError::OffsetWraps { index } => K::OffsetWraps { index },
        SharingError::Overlap { first, second } => K::Overlap { first, second },
        SharingError::TooManySegments => K::TooManySegments,
    })
}

/// `segment_sharing` and the oracle on `input` (the `name`d derived input): the outcome for
/// the trace, or the disagreement with the whole input in its check text.
fn judge_sharing(arch: Arch, name: &str, input: &[ObjectMapping]) -> Result<String, Mismatch> {
    let g = sharing_geometry(arch);
    let plain: Vec<os::Mapping> = input.iter().map(oracle_mapping).collect();
    let expected = match os::validate(&g, &plain) {
        Ok(pairs) if pairs > SHARING_CHECK_SEGMENTS => {
            return Ok(format!("{name}: {pairs} segments, not counted"));
        }
        Ok(_) => Ok(os::count(&g, &plain)),
        Err(e) => Err(e),
    };
    let actual = sharing_kind(segment_sharing(arch, input));
    if expected != actual {
        let list: Vec<String> = input
            .iter()
            .map(|m| {
                format!(
                    "({}, {}, {:#x}, {:#x}, {:#x})",
                    m.space, m.object, m.start, m.length, m.offset
                )
            })
            .collect();
        return Err(Mismatch::new(
            format!(
                "segment_sharing {name} of (space, object, start, length, offset) [{}]",
                list.join(", ")
            ),
            format!("{expected:?}"),
            format!("{actual:?}"),
        ));
    }
    Ok(match actual {
        Ok(c) => format!(
            "{name}: {} mappings, {} -> {} table pages ({} shared by {})",
            input.len(),
            c.table_pages_unshared,
            c.table_pages,
            c.shared_pages,
            c.segments_on_shared_pages
        ),
        Err(e) => format!("{name}: {} mappings, {e:?}", input.len()),
    })
}

/// The invariant's short name (module comment of [`crate::vmmap`], section 5).
fn invariant_name(e: &crate::vmmap::InvariantError) -> &'static str {
    use crate::vmmap::InvariantError as I;
    match e {
        I::KeyMismatch { .. } => "I1 keys",
        I::Overlap { .. } => "I2 order",
        I::OutOfBounds { .. } => "I3 bounds",
        I::GapMismatch { .. } => "I4 gaps",
        I::GapTree(_) => "I5 augment",
        I::TooManyEntries { .. } | I::MappedBytes { .. } => "I6 accounting",
    }
}

/// Hand-written seed scenarios for the corpus: seed 000's edge cases (rounding that wraps at
/// the top of a 32-bit and a 64-bit space, an end past the map, an end that wraps,
/// non-power-of-2 alignments, address 0, an exact fit at the top), a fragmented map
/// probed with both strategies, and final maps for the segment-sharing check.
pub fn seed_scenarios() -> Vec<(&'static str, Scenario)> {
    let raw = AddrSel::Raw;
    let len = LenSel::Raw;
    let fs = |start: u64, length: u64, align: u64| Op::Differential {
        start: raw(start),
        length: len(length),
        align,
    };
    let fixed = |addr: u64, length: u64| Op::MapFixed {
        addr: raw(addr),
        length: len(length),
    };
    let scenario = |arch, min, max, strategy, ops| Scenario {
        arch,
        unit_shift: 12,
        min,
        max,
        strategy,
        max_entries: MAX_ENTRIES,
        ops,
    };
    const TOP32: u64 = 0xFFFF_FFFF;
    const UPPER48: u64 = 0xFFFF_8000_0000_0000;
    let wrap32 = scenario(
        Arch::Ia32,
        0,
        TOP32,
        Strategy::Linear,
        vec![
            fixed(0, 0xF000_0000),
            // Rounding 0xF000_0000 up to 2^31 or 2^32 passes the top of the space.
            fs(0, 1, 0x8000_0000),
            fs(0, 1, 1 << 32),
            fs(0, 0x1000, 0x1000_0000),
            // Exactly the free top 256 MiB; one byte more does not fit.
            fs(0, 0x1000_0000, 1),
            fs(0, 0x1000_0001, 1),
            fs(TOP32, 1, 1),
            Op::MapAnywhere {
                length: len(0x1000_0000),
                align: 0x1000,
            },
            fs(0, 1, 1),
            Op::UnmapEntry { handle: 1 },
        ],
    );
    let wrap64 = scenario(
        Arch::X86_64,
        UPPER48,
        u64::MAX,
        Strategy::Linear,
        vec![
            fixed(UPPER48, 0x7FFF_FFFF_F000),
            // Rounding past 2^64, with the huge alignments of ANCHORS #4 and #14.
            fs(0, 1, 1 << 63),
            fs(0, 1, (1 << 63) + 1),
            fs(0, 0x1000, u64::MAX),
            // Lengths whose end wraps; the exact fit ending at u64::MAX.
            fs(0, u64::MAX, 1),
            fs(u64::MAX, 2, 1),
            fs(0, 0x1000, 0x1000),
            fs(0, 0x1001, 1),
            Op::MapAnywhereFrom {
                start: raw(u64::MAX - 0xFFF),
                length: len(0x1000),
                align: 0x1000,
            },
            fs(0, 1, 1),
        ],
    );
    let end_past_map = scenario(
        Arch::Pae,
        0x1000,
        0x8FFF,
        Strategy::GapIndex,
        vec![
            fixed(0x1000, 0x1000),
            fixed(0x4000, 0x1000),
            fs(0, 0x2000, 1),
            fs(0, 0x4000, 1),
            fs(0, 0x4001, 1),
            fs(0x5000, 0x4000, 1),
            fs(0x9000, 1, 1),
            fixed(0x8000, 0x2000),
            // Whole first entry, half of the second: refused (entries are never split).
            Op::Unmap {
                addr: raw(0x1000),
                length: len(0x3800),
            },
            Op::Unmap {
                addr: raw(0x1000),
                length: len(0x5000),
            },
        ],
    );
    let non_pow2 = scenario(
        Arch::X86_64,
        0,
        0x7FFF_FFFF_FFFF,
        Strategy::Linear,
        vec![
            fixed(0, 0x1000),
            fs(0, 1, 3),
            fs(0, 0x1000, 12288),
            fs(0, 0x20_0000, 0x30_0000),
            fs(1, 1, 0x18_0000),
            fs(0, 0x1000, 1_000_000),
            Op::MapAnywhere {
                length: len(0x3000),
                align: 12288,
            },
            Op::MapAnywhere {
                length: len(0x1000),
                align: 0x30_0000,
            },
            fs(0, 1, 0x7FFF_FFFF_FFFF),
            fs(0, 1, 0x8000_0000_0000),
        ],
    );
    let zero = scenario(
        Arch::Ia32,
        0,
        0xFFFF,
        Strategy::GapIndex,
        vec![
            fs(0, 1, 1),
            fs(0, 0x1000, 0x8000),
            Op::MapAnywhere {
                length: len(0x1000),
                align: 0x1000,
            },
            fixed(0, 1),
            Op::UnmapEntry { handle: 0 },
            fixed(0, 1),
            fs(0, 0x10000, 1),
            fs(0, 0xF000, 0x1000),
        ],
    );
    let top_fit = scenario(
        Arch::X86_64La57,
        0xFF00_0000_0000_0000,
        u64::MAX,
        Strategy::GapIndex,
        vec![
            Op::MapFixed {
                addr: AddrSel::Rel {
                    base: AddrBase::MaxFit,
                    offset: 0,
                },
                length: len(0x20_0000),
            },
            fs(0, 0x20_0000, 0x20_0000),
            Op::UnmapEntry { handle: 0 },
            fs(u64::MAX - 0x1F_FFFF, 0x20_0000, 0x20_0000),
            fixed(0xFF00_0000_0000_0000, 0x00FF_FFFF_FFC0_0000),
            // Exactly the remaining gap, aligned: the fit the padded search misses.
            Op::Differential {
                start: raw(0),
                length: LenSel::Gap { index: 0, delta: 0 },
                align: 0x20_0000,
            },
            Op::MapAnywhere {
                length: LenSel::Gap { index: 0, delta: 0 },
                align: 0x40_0000,
            },
        ],
    );
    let mut frag = vec![];
    for k in 0..24u64 {
        frag.push(fixed(
            0x40_0000 * k + (k % 3) * 0x1000,
            0x10_0000 + k * 0x1000,
        ));
    }
    for align in [1, 0x1000, 12288, 0x20_0000, 0x40_0000, 0x30_0000] {
        frag.push(fs(0, 0x2F_0000, align));
        frag.push(Op::Findspace {
            start: AddrSel::Rel {
                base: AddrBase::GapStart(5),
                offset: 0,
            },
            length: LenSel::Gap { index: 7, delta: 0 },
            align,
        });
    }
    frag.push(Op::UnmapEntries { first: 3, count: 4 });
    frag.push(fs(0, 0x100_0000, 0x40_0000));
    let frag = scenario(Arch::Ia32, 0, 0x0FFF_FFFF, Strategy::Linear, frag);
    // Segment sharing at the end (module comment): whole segments starting and ending on
    // segment boundaries, each shared with its copy one segment up in the same space (the
    // boundary tests of `segment_sharing`); and two raw-input errors that need an entry in
    // the top segment of the 64-bit space: an object offset that wraps (an entry ending at
    // `u64::MAX`) and a copy that wraps (an entry ending a page below the top).
    let whole_segments = Scenario {
        unit_shift: 21,
        ..scenario(
            Arch::Pae,
            0,
            TOP32,
            Strategy::GapIndex,
            vec![
                fixed(0, 0x20_0000),
                fixed(0x80_0000, 0x20_0000),
                fixed(0x100_1000, 0xF_F000),
            ],
        )
    };
    let offset_wraps = scenario(
        Arch::X86_64,
        UPPER48,
        u64::MAX,
        Strategy::Linear,
        vec![fixed(u64::MAX - 0x1FFF, 0x2000)],
    );
    let copy_wraps = scenario(
        Arch::X86_64La57,
        0xFF00_0000_0000_0000,
        u64::MAX,
        Strategy::Linear,
        vec![
            fixed(0xFF00_0000_0000_0000, 0x20_0000),
            fixed(0u64.wrapping_sub(0x40_0000), 0x3F_F000),
        ],
    );
    vec![
        ("seed000-rounding-wraps-top-of-32-bit-space", wrap32),
        ("seed000-rounding-wraps-top-of-64-bit-space", wrap64),
        ("seed000-end-past-the-map", end_past_map),
        ("seed000-non-power-of-2-alignments", non_pow2),
        ("seed000-address-zero", zero),
        ("seed000-exact-fit-at-the-top", top_fit),
        ("fragmented-map-both-strategies", frag),
        (
            "segment-sharing-whole-segments-twice-in-one-space",
            whole_segments,
        ),
        (
            "segment-sharing-object-offset-wraps-at-the-top",
            offset_wraps,
        ),
        ("segment-sharing-copy-wraps-at-the-top", copy_wraps),
    ]
}

/// The `vmmap` target (the vm_map) in the registry.
pub struct VmmapTarget;

impl Target for VmmapTarget {
    const NAME: &'static str = "vmmap";
    const ABOUT: &'static str = "vm_map aligned findspace (linear vs gap index, wrap at the top, non-power-of-2 alignments), map/unmap vs the findspace oracle";
    const VERSION: u16 = 1;
    #[cfg(feature = "seeded-bugs")]
    const BUGS: &'static [crate::bugs::Bug] = {
        use crate::bugs::Bug;
        &[
            Bug::FindspaceNoWrapCheck,
            Bug::NonPow2AlignAsMask,
            Bug::GapIndexPrunesAlignedFit,
        ]
    };
    type Scenario = Scenario;

    fn seeds() -> Vec<(&'static str, Scenario)> {
        seed_scenarios()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::campaign::generate;

    #[test]
    fn decode_encode_round_trip() {
        for k in 0..3000 {
            let data = generate(0x0076_6d6d_6170, (k % 4) as u32, k);
            let case = Scenario::decode(&data);
            let bytes = case.encode();
            let again = Scenario::decode(&bytes);
            assert_eq!(case, again, "case {k}");
            // The canonical encoding is a fixed point.
            assert_eq!(again.encode(), bytes, "case {k}");
            assert_eq!(
                case.execute(BugSet::NONE, None),
                again.execute(BugSet::NONE, None),
                "case {k}"
            );
        }
    }

    #[test]
    fn decoded_bounds_are_always_legal() {
        for k in 0..3000 {
            let case = Scenario::decode(&generate(3, 0, k));
            assert!(
                VmMap::new(case.arch, case.min, case.max).is_ok(),
                "case {k}: {}",
                case.header_line()
            );
        }
    }

    /// The hand-written seed scenarios alone catch each seeded vmmap bug. (That a campaign
    /// finds each bug and minimizes it is tested once for every target, in
    /// `harness::tests::every_seeded_bug_is_found_and_minimized`.)
    #[cfg(feature = "seeded-bugs")]
    #[test]
    fn seed_scenarios_catch_every_seeded_bug() {
        for &bug in <VmmapTarget as Target>::BUGS {
            let bugs = BugSet::only(bug);
            assert!(
                seed_scenarios()
                    .iter()
                    .any(|(_, s)| s.execute(bugs, None).is_err()),
                "{bug}: no seed scenario catches it"
            );
        }
    }

    /// What a derived sharing input's oracle verdict says, coarsely (for the coverage test).
    fn verdict_class(arch: Arch, name: &str, input: &[ObjectMapping]) -> String {
        use os::SharingErrorKind as K;
        let g = sharing_geometry(arch);
        let plain: Vec<os::Mapping> = input.iter().map(oracle_mapping).collect();
        let what = match os::validate(&g, &plain) {
            Ok(pairs) if pairs > SHARING_CHECK_SEGMENTS => "not counted".into(),
            Ok(_) => {
                let c = os::count(&g, &plain);
                match (c.shared_pages > 0, c.private_pages > 0) {
                    (false, false) => "Ok, nothing mapped".into(),
                    (true, true) => "Ok, shared and private".into(),
                    (true, false) => "Ok, all shared".into(),
                    (false, true) => "Ok, all private".into(),
                }
            }
            Err(K::BadRange { error, .. }) => format!("BadRange {error:?}"),
            Err(K::NotPageAligned { index }) if input[index].start.is_multiple_of(PAGE_SIZE) => {
                "NotPageAligned offset".into()
            }
            Err(K::NotPageAligned { .. }) => "NotPageAligned start".into(),
            Err(K::OffsetWraps { .. }) => "OffsetWraps".into(),
            Err(K::Overlap { first, second }) => {
                let (a, b) = (&input[first], &input[second]);
                let one = a.start.wrapping_add(a.length).wrapping_sub(1) == b.start;
                format!("Overlap{}", if one { " by one byte" } else { "" })
            }
            Err(K::TooManySegments) => "TooManySegments".into(),
        };
        format!("{name}: {what}")
    }

    /// The derived inputs reach every verdict of `segment_sharing` (the seed scenarios and a
    /// fixed set of generated cases), and the pages input stays small. Printed with
    /// `--nocapture`.
    #[test]
    fn derived_sharing_inputs_reach_every_verdict() {
        use std::collections::BTreeMap;
        let mut cases: Vec<Scenario> = seed_scenarios().into_iter().map(|(_, s)| s).collect();
        cases.extend((0..1000).map(|k| Scenario::decode(&generate(0x5eed, 0, k))));
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for case in &cases {
            let mut ex = case.executor(BugSet::NONE).unwrap();
            drive(VmmapTarget::NAME, &mut ex, &case.ops, None).unwrap();
            for (name, input) in ex.sharing_inputs() {
                *seen
                    .entry(verdict_class(case.arch, name, &input))
                    .or_default() += 1;
                if name == "pages" {
                    let pairs = os::validate(
                        &sharing_geometry(case.arch),
                        &input.iter().map(oracle_mapping).collect::<Vec<_>>(),
                    );
                    assert!(
                        pairs.map_or(true, |p| p <= SHARING_CHECK_SEGMENTS),
                        "{pairs:?}"
                    );
                }
            }
        }
        for (class, n) in &seen {
            println!("{class}: {n}");
        }
        for class in [
            "raw: BadRange Empty",
            "raw: BadRange PastTop",
            "raw: BadRange Wraps",
            "raw: BadRange NonCanonical",
            "raw: NotPageAligned start",
            "raw: NotPageAligned offset",
            "raw: OffsetWraps",
            "raw: Overlap",
            "raw: Overlap by one byte",
            "raw: TooManySegments",
            "raw: Ok, shared and private",
            "pages: BadRange PastTop",
            "pages: Ok, shared and private",
        ] {
            assert!(seen.contains_key(class), "never reached: {class}");
        }
    }

    #[test]
    fn seed_scenarios_pass_and_round_trip() {
        crate::harness::assert_seeds_pass_and_round_trip(seed_scenarios());
    }
}
