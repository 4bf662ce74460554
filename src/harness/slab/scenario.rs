//! The values a slab scenario is made of: its header ([`Scenario`]: the CPUs, the backend
//! arena's span, the kegs and zones it creates) and its ops ([`Op`]), whose addresses are
//! selectors resolved against the model's items and slabs when the op runs; and how each
//! prints in a trace.

use std::fmt;

pub use crate::harness::codec::SpanAt;

/// Most kegs a scenario asks for: 4 (mbuma has two; more only repeats what two show, and
/// every op's state comparison walks every keg's slabs).
pub const MAX_CASE_KEGS: u8 = 4;

/// Most zones a scenario asks for: 6 (mbuma's three, plus room for a second packet zone and
/// zones stacked on one keg).
pub const MAX_CASE_ZONES: u8 = 6;

/// Most allocations (or frees) one burst makes: 255, enough to fill several magazines and a
/// depot of a zone with the largest rounds, and slabs of small items.
pub const MAX_BURST: u8 = 255;

/// The backend arena: a span of `pages` pages at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backend {
    /// Where.
    pub at: SpanAt,
    /// Pages, `1..=65,536`.
    pub pages: u32,
}

/// A keg to create (any values: refused ones are predicted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KegSpec {
    /// Item size in bytes.
    pub item_size: u64,
    /// Item alignment.
    pub align: u64,
    /// A reference count per item in the slab header.
    pub refcounts: bool,
}

/// A zone to create: on keg `keg` (an index among the kegs created, modulo their count plus
/// one: the last value names no keg), or a packet zone over two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneSpec {
    /// The keg (a packet zone's primary).
    pub keg: u8,
    /// A packet zone's secondary keg.
    pub secondary: Option<u8>,
    /// Magazine rounds.
    pub rounds: u16,
    /// Depot capacity in full magazines.
    pub depot: u16,
    /// Item limit (0 = none).
    pub limit: u64,
}

/// A zone an op names: one of the zones created (modulo their count), or an id that names
/// none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneSel {
    /// Zone `index % zones`.
    Index(u8),
    /// This id (mostly an unknown zone).
    Raw(u8),
}

/// A CPU an op runs on: one of the scenario's (modulo their count), or an id past them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuSel {
    /// CPU `index % cpus`.
    Index(u8),
    /// This id (mostly past the last CPU).
    Raw(u8),
}

/// An address a free or a refcount op names, resolved against the model when the op runs
/// (a selector with nothing to pick from resolves to the backend span's start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrSel {
    /// Live item `handle` (modulo the live items of every zone, oldest first).
    Live {
        /// Which live item.
        handle: u16,
    },
    /// The secondary half of live pair `handle` (modulo the live pairs).
    PairHalf {
        /// Which live pair.
        handle: u16,
    },
    /// An item cached in some magazine or depot (modulo their count, zone by zone, CPU by
    /// CPU): a double free while the first free is still cached.
    Cached {
        /// Which cached item.
        index: u16,
    },
    /// An address freed recently (whatever it is now): double frees.
    Freed {
        /// Which remembered address.
        index: u8,
    },
    /// Live item `handle` plus `offset` bytes (1..: an interior pointer, or past its end).
    Interior {
        /// Which live item.
        handle: u16,
        /// Bytes added.
        offset: u16,
    },
    /// An edge of a part of slab `slab` (modulo the slabs of every keg, in address order),
    /// by `back % 8`: 0 the header's first byte (the slab's last byte if off-slab), 1 the
    /// byte before it, 2 the first byte past the last item, 3 the last item's last byte, 4
    /// the last item's start; else `back / 8` bytes before the slab's last byte.
    SlabEnd {
        /// Which slab.
        slab: u16,
        /// Which edge (or how far back).
        back: u16,
    },
    /// This address.
    Raw(u64),
}

/// One operation of a slab scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `alloc(zone, cpu)`.
    Alloc {
        /// Which zone.
        zone: ZoneSel,
        /// On which CPU.
        cpu: CpuSel,
    },
    /// `count` allocations in a row on one zone and CPU, stopping at the first failure.
    AllocBurst {
        /// Which zone.
        zone: ZoneSel,
        /// On which CPU.
        cpu: CpuSel,
        /// Allocations, `1..=MAX_BURST`.
        count: u8,
    },
    /// `free` of live item `handle` of the zone (modulo its live items): a good free.
    Free {
        /// Which zone.
        zone: ZoneSel,
        /// On which CPU.
        cpu: CpuSel,
        /// Which of its live items (oldest first).
        handle: u16,
    },
    /// The `count` newest live items of the zone freed on one CPU, newest first.
    FreeBurst {
        /// Which zone.
        zone: ZoneSel,
        /// On which CPU.
        cpu: CpuSel,
        /// Frees, `1..=MAX_BURST`.
        count: u8,
    },
    /// `free` of a selected address to a zone: double frees, other zones' items, pair
    /// halves, interior pointers, headers, addresses outside every slab.
    FreeAt {
        /// Which zone.
        zone: ZoneSel,
        /// On which CPU.
        cpu: CpuSel,
        /// The address.
        addr: AddrSel,
    },
    /// `set_limit(zone, limit)`.
    SetLimit {
        /// Which zone.
        zone: ZoneSel,
        /// The new limit (0 = none).
        limit: u64,
    },
    /// `refcount(addr)`.
    Refcount {
        /// The address.
        addr: AddrSel,
    },
    /// `set_refcount(addr, value)`.
    SetRefcount {
        /// The address.
        addr: AddrSel,
        /// The count.
        value: u32,
    },
    /// `reclaim()`: drain every magazine and depot, give every wholly free slab back.
    Reclaim,
}

/// A decoded slab scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Simulated CPUs (any value: 0 or above 8 is refused, predicted).
    pub cpus: u8,
    /// The backend arena's span.
    pub backend: Backend,
    /// The kegs, created in order.
    pub kegs: Vec<KegSpec>,
    /// The zones, created in order after the kegs.
    pub zones: Vec<ZoneSpec>,
    /// The ops.
    pub ops: Vec<Op>,
}

impl fmt::Display for ZoneSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ZoneSel::Index(i) => write!(f, "zone[{i}]"),
            ZoneSel::Raw(z) => write!(f, "zone#{z}"),
        }
    }
}

impl fmt::Display for CpuSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CpuSel::Index(i) => write!(f, "cpu[{i}]"),
            CpuSel::Raw(c) => write!(f, "cpu#{c}"),
        }
    }
}

impl fmt::Display for AddrSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AddrSel::Live { handle } => write!(f, "live[{handle}]"),
            AddrSel::PairHalf { handle } => write!(f, "pair-half[{handle}]"),
            AddrSel::Cached { index } => write!(f, "cached[{index}]"),
            AddrSel::Freed { index } => write!(f, "freed[{index}]"),
            AddrSel::Interior { handle, offset } => write!(f, "live[{handle}]+{offset:#x}"),
            AddrSel::SlabEnd { slab, back } => write!(f, "slab[{slab}].end-{back:#x}"),
            AddrSel::Raw(a) => write!(f, "{a:#x}"),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::Alloc { zone, cpu } => write!(f, "alloc {zone} {cpu}"),
            Op::AllocBurst { zone, cpu, count } => write!(f, "alloc {count} x {zone} {cpu}"),
            Op::Free { zone, cpu, handle } => write!(f, "free {zone} {cpu} live[{handle}]"),
            Op::FreeBurst { zone, cpu, count } => write!(f, "free newest {count} {zone} {cpu}"),
            Op::FreeAt { zone, cpu, addr } => write!(f, "free_at {zone} {cpu} {addr}"),
            Op::SetLimit { zone, limit } => write!(f, "set_limit {zone} {limit}"),
            Op::Refcount { addr } => write!(f, "refcount {addr}"),
            Op::SetRefcount { addr, value } => write!(f, "set_refcount {addr} {value}"),
            Op::Reclaim => f.write_str("reclaim"),
        }
    }
}

impl Backend {
    /// The span `(base, size)` in bytes.
    pub fn span(&self) -> (u64, u64) {
        self.at.span(self.pages)
    }
}

impl Scenario {
    /// The header line of a trace.
    pub(super) fn header_line(&self) -> String {
        let (base, size) = self.backend.span();
        let kegs: Vec<String> = self
            .kegs
            .iter()
            .map(|k| {
                format!(
                    "{}/{}{}",
                    k.item_size,
                    k.align,
                    if k.refcounts { "/ref" } else { "" }
                )
            })
            .collect();
        let zones: Vec<String> = self
            .zones
            .iter()
            .map(|z| {
                let on = match z.secondary {
                    Some(s) => format!("packet {}+{s}", z.keg),
                    None => format!("keg {}", z.keg),
                };
                format!("{on} m{} d{} lim{}", z.rounds, z.depot, z.limit)
            })
            .collect();
        format!(
            "slab scenario: cpus={} backend=[{base:#x}, +{size:#x}) kegs=[{}] zones=[{}] ops={}",
            self.cpus,
            kegs.join(", "),
            zones.join(", "),
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
