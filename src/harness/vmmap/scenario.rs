//! The values a vmmap scenario is made of: its header fields ([`Scenario`]) and its ops
//! ([`Op`]), whose numeric fields are selectors ([`AddrSel`], [`LenSel`]) resolved against the
//! map when the op runs; and how each prints in a trace.

use std::fmt;

use crate::addr::Arch;
use crate::vmmap::{Strategy, MAX_ENTRIES};

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
    /// The entry limit: [`MAX_ENTRIES`] or `1..=SMALL_LIMITS` (the codec's).
    pub max_entries: usize,
    /// The ops.
    pub ops: Vec<Op>,
}

// ---- printing -----------------------------------------------------------------------------------

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

/// The strategy's name in traces and check texts.
pub(super) fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::Linear => "linear",
        Strategy::GapIndex => "gapindex",
    }
}

impl Scenario {
    /// The unit lengths and offsets are measured in.
    pub(super) fn unit(&self) -> u64 {
        1u64 << self.unit_shift
    }

    /// The first line of a trace: the header fields and the op count.
    pub(super) fn header_line(&self) -> String {
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

// ---- the half the bounds lie in -----------------------------------------------------------------

/// `(first, last)` address of the canonical half of `arch` the header picked (`upper` only
/// matters on x86_64).
pub(super) fn half(arch: Arch, upper: bool) -> (u64, u64) {
    match arch.upper_half_start() {
        Some(u) if upper => (u, u64::MAX),
        _ => (0, arch.lower_half_last()),
    }
}
