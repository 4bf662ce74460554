//! What an mmu scenario is: the header, the ops and the values their selectors resolve to
//! when the op runs, how each prints in a trace, and the [`Case`] the harness drives (bytes
//! through [`super::codec`], execution through [`super::exec`]).

use std::fmt;

use super::super::{BugSet, Case, Finding, Stats};
use super::{codec, exec};
use crate::addr::Arch;
use crate::mmu::AccessKind;

/// How an op names an address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpaceSel {
    /// Live space `handle` (modulo the live count; 0 is the kernel space).
    Live(u8),
    /// This raw ASID (possibly dead or never created).
    Raw(u8),
}

/// How an op names a virtual address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Va {
    /// This address.
    Raw(u64),
    /// Watched address `index` (modulo their count; 0 if none), aligned down to
    /// `2^align_log2`, plus `offset` (wrapping).
    Recent {
        /// Index into the watched addresses.
        index: u8,
        /// log2 of the alignment applied (`< 64`).
        align_log2: u8,
        /// Added with wrapping.
        offset: u64,
    },
}

/// Where an unmap or protect acts: given explicitly, or part of a mapping the scenario made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// This space, address and length.
    Given {
        /// The space.
        space: SpaceSel,
        /// First address.
        va: Va,
        /// Bytes.
        len: u64,
    },
    /// Mapping `index` (modulo the remembered ones; see [`super::MAX_MAPPINGS`]) in its own
    /// space: its pages from `first` (modulo the page count), `pages` of them (0: to the end;
    /// clipped to the end).
    Mapped {
        /// Which remembered mapping.
        index: u8,
        /// First page (modulo the mapping's page count).
        first: u8,
        /// Page count (0: all the rest).
        pages: u8,
    },
}

/// Where a translate, access or segment unmap looks: given explicitly, or inside a mapping
/// the scenario made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    /// This space and address.
    Given {
        /// The space.
        space: SpaceSel,
        /// The address.
        va: Va,
    },
    /// Mapping `index` (modulo the remembered ones) in its own space, at `offset` modulo its
    /// length.
    Mapped {
        /// Which remembered mapping.
        index: u8,
        /// Offset into it (taken modulo its length).
        offset: u64,
    },
}

/// What the harness does with a returned flush token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushMode {
    /// Shoot it down on every CPU at once.
    Apply,
    /// Keep it until [`Op::ApplyHeldFlushes`] (or the end of the scenario).
    Hold,
}

/// An explicit TLB operation on one CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlbOp {
    /// INVLPG of one address for a space.
    Invlpg {
        /// The space.
        space: SpaceSel,
        /// The address.
        va: Va,
    },
    /// INVLPG over `[va, va + len)` (skipped if that is not a range).
    FlushRange {
        /// The space.
        space: SpaceSel,
        /// First address.
        va: Va,
        /// Length.
        len: u64,
    },
    /// Drop a space's non-global entries.
    FlushAsid {
        /// The space.
        space: SpaceSel,
    },
    /// Drop every non-global entry.
    FlushNonGlobal,
    /// Drop every entry.
    FlushAll,
}

/// One operation of an mmu scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `create_space`.
    CreateSpace,
    /// `destroy_space`.
    DestroySpace {
        /// Which.
        space: SpaceSel,
        /// What to do with the token.
        flush: FlushMode,
    },
    /// `map`.
    Map {
        /// Where.
        space: SpaceSel,
        /// First virtual address.
        va: Va,
        /// First physical address.
        pa: u64,
        /// Bytes.
        len: u64,
        /// Flag byte (see the module comment: bits 6-7 ask for fitting).
        flags: u8,
        /// Page size.
        page_size: u64,
    },
    /// `unmap`.
    Unmap {
        /// Where.
        place: Place,
        /// What to do with the token.
        flush: FlushMode,
    },
    /// `protect`.
    Protect {
        /// Where.
        place: Place,
        /// Flag byte.
        flags: u8,
        /// What to do with the token.
        flush: FlushMode,
    },
    /// `map_shared_segment`.
    MapShared {
        /// Where.
        space: SpaceSel,
        /// Segment address.
        va: Va,
        /// Physical address of the object.
        pa: u64,
        /// Bytes.
        len: u64,
        /// Flag byte.
        flags: u8,
    },
    /// `unmap_shared_segment`.
    UnmapShared {
        /// Where (the segment's address).
        point: Point,
        /// What to do with the token.
        flush: FlushMode,
    },
    /// `translate`.
    Translate {
        /// Where.
        point: Point,
    },
    /// `access` on a CPU.
    Access {
        /// CPU number (possibly out of range).
        cpu: u8,
        /// Whose code, and where.
        point: Point,
        /// Read, write or fetch.
        kind: AccessKind,
        /// User mode.
        user: bool,
    },
    /// An explicit TLB operation.
    Tlb {
        /// CPU number (possibly out of range).
        cpu: u8,
        /// What.
        op: TlbOp,
    },
    /// Apply every held flush token on every CPU.
    ApplyHeldFlushes,
    /// A remembered mapping split or collapsed to another page size (a huge page made of
    /// small ones, or broken up): `unmap` of the mapping, then `map` of the pages of
    /// `page_size` covering it at the same physical addresses and flags (the first page's
    /// translation in the oracle), the unmap's token applied or held.
    Resize {
        /// Which remembered mapping (modulo their count).
        index: u8,
        /// The new page size.
        page_size: u64,
        /// What to do with the unmap's token.
        flush: FlushMode,
    },
}

/// A decoded mmu scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Paging mode.
    pub arch: Arch,
    /// Frames in the table pool (may be out of range: `Mmu::new` must refuse it).
    pub frames: u32,
    /// CPUs.
    pub cpus: u8,
    /// Entries per TLB.
    pub tlb_entries: u16,
    /// The ops.
    pub ops: Vec<Op>,
}

impl fmt::Display for SpaceSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SpaceSel::Live(h) => write!(f, "live[{h}]"),
            SpaceSel::Raw(a) => write!(f, "asid{a}"),
        }
    }
}

impl fmt::Display for Va {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Va::Raw(a) => write!(f, "{a:#x}"),
            Va::Recent {
                index,
                align_log2,
                offset,
            } => write!(f, "recent[{index}]/2^{align_log2}+{offset:#x}"),
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Place::Given { space, va, len } => write!(f, "{space} va={va} len={len:#x}"),
            Place::Mapped {
                index,
                first,
                pages,
            } => write!(f, "mapping[{index}] pages {first}+{pages}"),
        }
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Point::Given { space, va } => write!(f, "{space} va={va}"),
            Point::Mapped { index, offset } => write!(f, "mapping[{index}]+{offset:#x}"),
        }
    }
}

/// A flush mode in a trace line.
fn hold(m: FlushMode) -> &'static str {
    match m {
        FlushMode::Apply => "apply",
        FlushMode::Hold => "hold",
    }
}

/// An access kind in a trace line.
fn kind_name(k: AccessKind) -> &'static str {
    match k {
        AccessKind::Read => "read",
        AccessKind::Write => "write",
        AccessKind::Execute => "exec",
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::CreateSpace => write!(f, "create_space"),
            Op::DestroySpace { space, flush } => {
                write!(f, "destroy_space {space} flush={}", hold(flush))
            }
            Op::Map {
                space,
                va,
                pa,
                len,
                flags,
                page_size,
            } => write!(
                f,
                "map {space} va={va} pa={pa:#x} len={len:#x} flags={flags:#04x} page={page_size:#x}"
            ),
            Op::Unmap { place, flush } => write!(f, "unmap {place} flush={}", hold(flush)),
            Op::Protect {
                place,
                flags,
                flush,
            } => write!(
                f,
                "protect {place} flags={flags:#04x} flush={}",
                hold(flush)
            ),
            Op::MapShared {
                space,
                va,
                pa,
                len,
                flags,
            } => write!(
                f,
                "map_shared {space} va={va} pa={pa:#x} len={len:#x} flags={flags:#04x}"
            ),
            Op::UnmapShared { point, flush } => {
                write!(f, "unmap_shared {point} flush={}", hold(flush))
            }
            Op::Translate { point } => write!(f, "translate {point}"),
            Op::Access {
                cpu,
                point,
                kind,
                user,
            } => write!(
                f,
                "access cpu{cpu} {point} {} {}",
                kind_name(kind),
                if user { "user" } else { "supervisor" }
            ),
            Op::Tlb { cpu, op } => match op {
                TlbOp::Invlpg { space, va } => write!(f, "invlpg cpu{cpu} {space} va={va}"),
                TlbOp::FlushRange { space, va, len } => {
                    write!(f, "flush_range cpu{cpu} {space} va={va} len={len:#x}")
                }
                TlbOp::FlushAsid { space } => write!(f, "flush_asid cpu{cpu} {space}"),
                TlbOp::FlushNonGlobal => write!(f, "flush_nonglobal cpu{cpu}"),
                TlbOp::FlushAll => write!(f, "flush_all cpu{cpu}"),
            },
            Op::ApplyHeldFlushes => write!(f, "apply_held_flushes"),
            Op::Resize {
                index,
                page_size,
                flush,
            } => write!(
                f,
                "resize mapping[{index}] page={page_size:#x} flush={}",
                hold(flush)
            ),
        }
    }
}

impl Scenario {
    /// The first line of a trace: the header fields and the op count.
    fn header_line(&self) -> String {
        format!(
            "mmu scenario: arch={} frames={} cpus={} tlb={} ops={}",
            self.arch,
            self.frames,
            self.cpus,
            self.tlb_entries,
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

impl Case for Scenario {
    fn decode(data: &[u8]) -> Scenario {
        codec::decode(data)
    }

    fn encode(&self) -> Vec<u8> {
        codec::encode(self)
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
        exec::execute(self, bugs, trace)
    }
}
