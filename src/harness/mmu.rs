//! The `mmu` target: scenarios of address-space, mapping, translation, access and TLB
//! operations on the simulated x86 MMU ([`crate::mmu::Mmu`]) in all four paging modes,
//! judged by `kvafuzz_oracles::mmu::MmuModel` after every op.
//!
//! ## 1. Decoding
//!
//! Header: the mode, the frame pool (tight pools of a few frames per level so that
//! `OutOfFrames` happens, roomy ones, or a raw count), the CPU count, the TLB size (down to one
//! entry, so eviction is constant) and a swarm mask that switches whole op kinds off. Then ops
//! until the bytes run out or [`super::MAX_OPS`]. Every numeric field is read through a
//! *selector*: a tag byte picks a family of interesting values and the last tag of each
//! selector means "raw value follows", which is what [`Scenario::encode`] writes, so
//! `decode(encode(case)) == case`.
//!
//! - **Virtual addresses** ([`Va`]): address 0, the top of the space, both edges of the
//!   canonical hole (and addresses inside it), the kernel base, segment-aligned and
//!   large-page-aligned addresses and misaligned ones, each in a small window so that ops
//!   collide; raw values; or a *recent* address (one the scenario mapped, unmapped or accessed
//!   lately, aligned down to a chosen page size, plus an offset), resolved when the op runs.
//! - **Address spaces** ([`SpaceSel`]): a live one by handle (modulo the live count; handle 0
//!   is the kernel space), or a raw ASID (dead, never created, or the kernel's).
//! - **Page sizes**: the mode's own sizes mostly, sometimes another mode's or a raw value.
//! - **Lengths, physical addresses, flags**: multiples of the page size, misaligned and
//!   overflowing values, the physical top; flags are a raw byte whose two high bits (undefined
//!   in `PageFlags`) ask the executor to *fit* the flags to the half (drop USER in the kernel
//!   half, GLOBAL in the user half, NX on IA-32) so that most maps can succeed.
//!
//! ## 2. Flushes: applied or held, never dropped
//!
//! Every op that returns a [`Flush`] (unmap, protect, unmap_shared_segment, destroy_space)
//! carries a [`FlushMode`] decided by the input: `Apply` shoots the token down on every CPU at
//! once; `Hold` keeps it in a list until a later [`Op::ApplyHeldFlushes`] (or the end of the
//! scenario, which applies whatever is still held: the harness never drops a flush). Every
//! token is first compared with the oracle's [`o::FlushPrediction`] (destroy's with the whole
//! space of that ASID).
//!
//! While tokens are held, the TLBs may legitimately hold stale entries. The harness predicts
//! them with a *may* set, not an exact TLB model (the oracle knows no TLB, and an exact one
//! would re-implement the replacement policy): an access may answer
//! [`crate::mmu::AccessError::Stale`] only if
//!
//! 1. its address lies in the range of a held token whose scope covers the accessing space,
//! 2. the stale entry's page is one that an earlier successful access on that CPU loaded
//!    (every TLB fill is such an access, so this set is complete; it is never shrunk, so it is
//!    a superset of what the TLB holds), and
//! 3. the entry's "current" translation equals the oracle's translation now.
//!
//! Every other answer must equal the oracle's exactly, stale or not. When no token is held,
//! `check_tlb_coherent()` must pass after every op; a stale entry outside every held range
//! (a flush that covered the wrong range) is a finding at the first access that hits it, and
//! at the latest when the tokens are applied.
//!
//! ## 3. Checks after every op
//!
//! The oracle's verdict on the result; `check_invariants()`; `check_tlb_coherent()` when no
//! flush is held; then the state: the live address spaces, the table pages in use and the
//! free frames against the model's from-scratch count, the private-table equivalent after
//! every successful change, and the translation of every *watched* address (the last
//! [`MAX_WATCHED`] addresses the scenario touched) in every live space.
//!
//! ## 4. Limits
//!
//! [`MAX_CASE_SPACES`] live spaces per scenario, [`MAX_WATCHED`] watched addresses,
//! [`MAX_STEP_PAGES`] pages per map that the executor runs (larger maps that the MMU would
//! accept are skipped; maps above `MAX_MAP_PAGES` still run, to check the refusal).

pub mod adapter;

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};

use kvafuzz_oracles::mmu as o;

use super::codec::{Decoder, Encoder};
use super::drive::{drive, Machine};
use super::{BugSet, Case, Finding, FindingKind, Mismatch, Stats, Target, MAX_OPS};
use crate::addr::{Arch, Range, ALL_ARCHES, PAGE_SIZE};
use crate::mmu::{
    geometry::Geometry, Access, AccessKind, Asid, CpuId, Flush, Mmu, MmuConfig, NewError,
    PageFlags, TlbEntry, TlbError, MAX_CPUS, MAX_FRAMES, MAX_MAP_PAGES, MAX_TLB_ENTRIES,
};

/// What an explicit TLB operation must drop from its CPU's TLB.
#[derive(Clone, Copy, Debug)]
enum Scope {
    /// Every entry of the space, and every global entry, whose page overlaps the range
    /// (INVLPG of one address, or over a range).
    Range(Asid, Range),
    /// Every non-global entry of the space.
    Asid(Asid),
    /// Every non-global entry.
    NonGlobal,
    /// Everything.
    All,
}

impl Scope {
    fn drops(self, e: &TlbEntry) -> bool {
        let global = e.flags.contains(PageFlags::GLOBAL);
        match self {
            Scope::Range(asid, r) => {
                (global || e.asid == asid)
                    && e.page_base <= r.last()
                    && r.start() <= e.page_base + (e.page_size - 1)
            }
            Scope::Asid(asid) => !global && e.asid == asid,
            Scope::NonGlobal => !global,
            Scope::All => true,
        }
    }
}

/// Most live address spaces (the kernel's included) a scenario creates; further
/// `CreateSpace` ops are skipped. Bounds the per-op state comparison (spaces x watched
/// addresses) and keeps each case fast; the MMU's own `MAX_SPACES` (1024) is unit-tested.
pub const MAX_CASE_SPACES: usize = 8;

/// Addresses whose translation is compared in every live space after every op (the most
/// recently touched ones): 32 x [`MAX_CASE_SPACES`] = 256 walks per op at most.
pub const MAX_WATCHED: usize = 32;

/// Most pages one `map` op may map in the harness: 512 (one full table of the wide modes).
/// A map of more pages that the MMU could accept is skipped (a 2^16-page map would make every
/// later model step clone 2^16 mappings); above `MAX_MAP_PAGES` it runs (refused at once).
pub const MAX_STEP_PAGES: u64 = 512;

/// Mappings remembered for `Place::Mapped` / `Point::Mapped` (the most recent ones).
pub const MAX_MAPPINGS: usize = 32;

/// Op kinds, as the swarm mask numbers them.
const KINDS: u8 = 13;

const K4: u64 = PAGE_SIZE;

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
    /// Mapping `index` (modulo the remembered ones; see [`MAX_MAPPINGS`]) in its own space:
    /// its pages from `first` (modulo the page count), `pages` of them (0: to the end;
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

// ---- display ------------------------------------------------------------------------------

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

fn hold(m: FlushMode) -> &'static str {
    match m {
        FlushMode::Apply => "apply",
        FlushMode::Hold => "hold",
    }
}

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
        }
    }
}

impl Scenario {
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

// ---- selectors ------------------------------------------------------------------------------

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

/// Values the decoder draws from; fixed per scenario.
struct Ctx {
    arch: Arch,
    cpus: u8,
}

// Raw tags (the last value of each selector).
const RAW_SPACE: u8 = 15;
const RAW_SIZE: u8 = 15;
const RAW_LEN: u8 = 15;
const RAW_PA: u8 = 7;
const RAW_VA: u8 = 15;
const RAW_ALIGN: u8 = 3;
const RAW_OFFSET: u8 = 7;
const RAW_CPU: u8 = 7;
const RAW_FRAMES: u8 = 7;
const RAW_CPUS: u8 = 7;
const RAW_TLB: u8 = 7;
const RAW_FIELD: u8 = 3;

impl Ctx {
    fn space(&self, d: &mut Decoder) -> SpaceSel {
        match d.below(16) {
            RAW_SPACE => SpaceSel::Raw(d.u8()),
            _ => SpaceSel::Live(d.u8()),
        }
    }

    fn page_size(&self, d: &mut Decoder) -> u64 {
        let sizes = self.arch.page_sizes();
        match d.below(16) {
            0..=7 => sizes[0],
            8..=11 => sizes[1],
            12 | 13 => largest(self.arch),
            // A size of another mode (2 MiB on IA-32, 4 MiB elsewhere, 1 GiB on 32-bit).
            14 => [2 << 20, 4 << 20, 1 << 30]
                .into_iter()
                .find(|s| !sizes.contains(s))
                .unwrap_or(8192),
            _ => d.u64(),
        }
    }

    fn len(&self, d: &mut Decoder, size: u64) -> u64 {
        match d.below(16) {
            0..=7 => (1 + u64::from(d.u8() % 4)).saturating_mul(size),
            8..=10 => (1 + u64::from(d.u8() % 16)).saturating_mul(size),
            11 => (MAX_MAP_PAGES + 1).saturating_mul(size),
            12 => (1 + u64::from(d.u8() % 4))
                .saturating_mul(size)
                .saturating_add(K4),
            13 => 0,
            14 => u64::from(d.u8()) * 2 * K4,
            _ => d.u64(),
        }
    }

    fn pa(&self, d: &mut Decoder, size: u64) -> u64 {
        match d.below(8) {
            0..=4 => u64::from(d.u8() % 8).saturating_mul(size),
            5 => (max_phys(self.arch) + 1)
                .wrapping_sub((1 + u64::from(d.u8() % 2)).wrapping_mul(size)),
            6 => u64::from(d.u8() % 8)
                .saturating_mul(size)
                .saturating_add(K4),
            _ => d.u64(),
        }
    }

    fn offset(&self, d: &mut Decoder, align: u64) -> u64 {
        match d.below(8) {
            0..=3 => 0,
            4 => align.wrapping_mul(1 + u64::from(d.u8() % 4)),
            5 => u64::from(d.u16()),
            6 => 0u64.wrapping_sub(align.wrapping_mul(1 + u64::from(d.u8() % 4))),
            _ => d.u64(),
        }
    }

    /// A virtual address for an op whose natural alignment is `align` (a power of two, or
    /// anything for raw page sizes).
    fn va(&self, d: &mut Decoder, align: u64) -> Va {
        let a = self.arch;
        let align = if align.is_power_of_two() { align } else { K4 };
        let tag = d.below(16);
        if tag <= 5 {
            let index = d.u8();
            let align_log2 = match d.below(4) {
                0 | 1 => align.trailing_zeros() as u8,
                2 => 12,
                _ => d.u8() % 64,
            };
            let offset = self.offset(d, align);
            return Va::Recent {
                index,
                align_log2,
                offset,
            };
        }
        let kb = Geometry::new(a).kernel_base();
        let window = align.max(a.segment_size()).saturating_mul(4);
        if tag == RAW_VA {
            return Va::Raw(d.u64());
        }
        let k = u64::from(d.u8() % 8);
        Va::Raw(match tag {
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
        })
    }

    fn place(&self, d: &mut Decoder) -> Place {
        if d.below(2) == 0 {
            let space = self.space(d);
            let size = self.page_size(d);
            return Place::Given {
                space,
                va: self.va(d, size),
                len: self.len(d, size),
            };
        }
        let index = d.u8();
        let first = match d.below(4) {
            RAW_FIELD => d.u8(),
            _ => 0,
        };
        let pages = match d.below(4) {
            0 | 1 => 0,
            2 => 1,
            _ => d.u8(),
        };
        Place::Mapped {
            index,
            first,
            pages,
        }
    }

    fn point(&self, d: &mut Decoder, align: u64) -> Point {
        if d.below(2) == 0 {
            return Point::Given {
                space: self.space(d),
                va: self.va(d, align),
            };
        }
        let index = d.u8();
        let offset = match d.below(4) {
            0 | 1 => 0,
            2 => u64::from(d.u16()),
            _ => d.u64(),
        };
        Point::Mapped { index, offset }
    }

    fn flush(&self, d: &mut Decoder) -> FlushMode {
        if d.below(4) == 0 {
            FlushMode::Hold
        } else {
            FlushMode::Apply
        }
    }

    fn cpu(&self, d: &mut Decoder) -> u8 {
        match d.below(8) {
            RAW_CPU => d.u8(),
            _ => d.u8() % self.cpus.max(1),
        }
    }

    fn access_kind(d: &mut Decoder) -> AccessKind {
        match d.below(3) {
            0 => AccessKind::Read,
            1 => AccessKind::Write,
            _ => AccessKind::Execute,
        }
    }
}

// ---- encoding (raw tags only) ---------------------------------------------------------------

fn enc_space(e: &mut Encoder, s: SpaceSel) {
    match s {
        SpaceSel::Live(h) => {
            e.u8(0);
            e.u8(h);
        }
        SpaceSel::Raw(a) => {
            e.u8(RAW_SPACE);
            e.u8(a);
        }
    }
}

fn enc_va(e: &mut Encoder, v: Va) {
    match v {
        Va::Raw(a) => {
            e.u8(RAW_VA);
            e.u64(a);
        }
        Va::Recent {
            index,
            align_log2,
            offset,
        } => {
            e.u8(0);
            e.u8(index);
            e.u8(RAW_ALIGN);
            e.u8(align_log2);
            e.u8(RAW_OFFSET);
            e.u64(offset);
        }
    }
}

fn enc_place(e: &mut Encoder, p: Place) {
    match p {
        Place::Given { space, va, len } => {
            e.u8(0);
            enc_space(e, space);
            enc_u64(e, RAW_SIZE, K4);
            enc_va(e, va);
            enc_u64(e, RAW_LEN, len);
        }
        Place::Mapped {
            index,
            first,
            pages,
        } => {
            e.u8(1);
            e.u8(index);
            e.u8(RAW_FIELD);
            e.u8(first);
            e.u8(RAW_FIELD);
            e.u8(pages);
        }
    }
}

fn enc_point(e: &mut Encoder, p: Point) {
    match p {
        Point::Given { space, va } => {
            e.u8(0);
            enc_space(e, space);
            enc_va(e, va);
        }
        Point::Mapped { index, offset } => {
            e.u8(1);
            e.u8(index);
            e.u8(RAW_FIELD);
            e.u64(offset);
        }
    }
}

fn enc_u64(e: &mut Encoder, tag: u8, v: u64) {
    e.u8(tag);
    e.u64(v);
}

fn enc_flush(e: &mut Encoder, m: FlushMode) {
    e.u8(match m {
        FlushMode::Hold => 0,
        FlushMode::Apply => 1,
    });
}

fn enc_cpu(e: &mut Encoder, c: u8) {
    e.u8(RAW_CPU);
    e.u8(c);
}

// Op kind numbers (the swarm mask uses the same numbering).
const K_CREATE: u8 = 0;
const K_DESTROY: u8 = 1;
const K_MAP: u8 = 2;
const K_MAP2: u8 = 3;
const K_UNMAP: u8 = 4;
const K_PROTECT: u8 = 5;
const K_MAP_SHARED: u8 = 6;
const K_UNMAP_SHARED: u8 = 7;
const K_TRANSLATE: u8 = 8;
const K_ACCESS: u8 = 9;
const K_ACCESS2: u8 = 10;
const K_TLB: u8 = 11;
const K_APPLY: u8 = 12;

impl Case for Scenario {
    fn decode(data: &[u8]) -> Scenario {
        let mut d = Decoder::new(data);
        let arch = ALL_ARCHES[usize::from(d.below(4))];
        let levels = u32::from(Geometry::new(arch).levels());
        let frames = match d.below(8) {
            0 | 1 => levels * (2 + u32::from(d.u8() % 4)),
            2..=4 => 64,
            5 => 256,
            6 => 1024,
            _ => d.u32(),
        };
        let cpus = match d.below(8) {
            0..=2 => 1,
            3..=5 => 2,
            6 => 4,
            _ => d.u8(),
        };
        let tlb_entries = match d.below(8) {
            0 => 1,
            1 => 2,
            2 | 3 => 4,
            4 | 5 => 16,
            6 => 64,
            _ => d.u16(),
        };
        // Only the KINDS low bits count; none set means every kind is on.
        let swarm = match d.u16() & ((1 << KINDS) - 1) {
            0 => u16::MAX,
            m => m,
        };
        let ctx = Ctx { arch, cpus };
        let seg = arch.segment_size();
        let mut ops = Vec::new();
        while !d.is_empty() && ops.len() < MAX_OPS {
            let mut kind = d.below(KINDS);
            while swarm & (1 << kind) == 0 {
                kind = (kind + 1) % KINDS;
            }
            let op = match kind {
                K_CREATE => Op::CreateSpace,
                K_DESTROY => Op::DestroySpace {
                    space: ctx.space(&mut d),
                    flush: ctx.flush(&mut d),
                },
                K_MAP | K_MAP2 => {
                    let space = ctx.space(&mut d);
                    let page_size = ctx.page_size(&mut d);
                    let va = ctx.va(&mut d, page_size);
                    let len = ctx.len(&mut d, page_size);
                    let pa = ctx.pa(&mut d, page_size);
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
                    place: ctx.place(&mut d),
                    flush: ctx.flush(&mut d),
                },
                K_PROTECT => Op::Protect {
                    place: ctx.place(&mut d),
                    flags: d.u8(),
                    flush: ctx.flush(&mut d),
                },
                K_MAP_SHARED => {
                    let space = ctx.space(&mut d);
                    let va = ctx.va(&mut d, seg);
                    // Few distinct objects, so that segment tables get shared.
                    let pa = match d.below(8) {
                        RAW_PA => d.u64(),
                        _ => u64::from(d.u8() % 3) * seg,
                    };
                    let len = match d.below(8) {
                        0..=2 => seg,
                        3..=5 => u64::from(1 + d.u8() % 16) * K4,
                        6 => seg + K4,
                        _ => d.u64(),
                    };
                    Op::MapShared {
                        space,
                        va,
                        pa,
                        len,
                        flags: d.u8(),
                    }
                }
                K_UNMAP_SHARED => Op::UnmapShared {
                    point: ctx.point(&mut d, seg),
                    flush: ctx.flush(&mut d),
                },
                K_TRANSLATE => Op::Translate {
                    point: ctx.point(&mut d, K4),
                },
                K_ACCESS | K_ACCESS2 => {
                    let cpu = ctx.cpu(&mut d);
                    let point = ctx.point(&mut d, K4);
                    let kind = Ctx::access_kind(&mut d);
                    Op::Access {
                        cpu,
                        point,
                        kind,
                        user: d.u8() % 2 == 1,
                    }
                }
                K_TLB => {
                    let cpu = ctx.cpu(&mut d);
                    let op = match d.below(5) {
                        0 => TlbOp::Invlpg {
                            space: ctx.space(&mut d),
                            va: ctx.va(&mut d, K4),
                        },
                        1 => {
                            let space = ctx.space(&mut d);
                            let size = ctx.page_size(&mut d);
                            TlbOp::FlushRange {
                                space,
                                va: ctx.va(&mut d, size),
                                len: ctx.len(&mut d, size),
                            }
                        }
                        2 => TlbOp::FlushAsid {
                            space: ctx.space(&mut d),
                        },
                        3 => TlbOp::FlushNonGlobal,
                        _ => TlbOp::FlushAll,
                    };
                    Op::Tlb { cpu, op }
                }
                _ => Op::ApplyHeldFlushes,
            };
            ops.push(op);
        }
        Scenario {
            arch,
            frames,
            cpus,
            tlb_entries,
            ops,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u8(ALL_ARCHES.iter().position(|&a| a == self.arch).unwrap_or(0) as u8);
        e.u8(RAW_FRAMES);
        e.u32(self.frames);
        e.u8(RAW_CPUS);
        e.u8(self.cpus);
        e.u8(RAW_TLB);
        e.u16(self.tlb_entries);
        e.u16(0); // swarm: everything on (ops are written with their final kinds)
        for op in &self.ops {
            match *op {
                Op::CreateSpace => e.u8(K_CREATE),
                Op::DestroySpace { space, flush } => {
                    e.u8(K_DESTROY);
                    enc_space(&mut e, space);
                    enc_flush(&mut e, flush);
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
                    enc_space(&mut e, space);
                    enc_u64(&mut e, RAW_SIZE, page_size);
                    enc_va(&mut e, va);
                    enc_u64(&mut e, RAW_LEN, len);
                    enc_u64(&mut e, RAW_PA, pa);
                    e.u8(flags);
                }
                Op::Unmap { place, flush } => {
                    e.u8(K_UNMAP);
                    enc_place(&mut e, place);
                    enc_flush(&mut e, flush);
                }
                Op::Protect {
                    place,
                    flags,
                    flush,
                } => {
                    e.u8(K_PROTECT);
                    enc_place(&mut e, place);
                    e.u8(flags);
                    enc_flush(&mut e, flush);
                }
                Op::MapShared {
                    space,
                    va,
                    pa,
                    len,
                    flags,
                } => {
                    e.u8(K_MAP_SHARED);
                    enc_space(&mut e, space);
                    enc_va(&mut e, va);
                    enc_u64(&mut e, RAW_PA, pa);
                    enc_u64(&mut e, 7, len);
                    e.u8(flags);
                }
                Op::UnmapShared { point, flush } => {
                    e.u8(K_UNMAP_SHARED);
                    enc_point(&mut e, point);
                    enc_flush(&mut e, flush);
                }
                Op::Translate { point } => {
                    e.u8(K_TRANSLATE);
                    enc_point(&mut e, point);
                }
                Op::Access {
                    cpu,
                    point,
                    kind,
                    user,
                } => {
                    e.u8(K_ACCESS);
                    enc_cpu(&mut e, cpu);
                    enc_point(&mut e, point);
                    e.u8(match kind {
                        AccessKind::Read => 0,
                        AccessKind::Write => 1,
                        AccessKind::Execute => 2,
                    });
                    e.u8(u8::from(user));
                }
                Op::Tlb { cpu, op } => {
                    e.u8(K_TLB);
                    enc_cpu(&mut e, cpu);
                    match op {
                        TlbOp::Invlpg { space, va } => {
                            e.u8(0);
                            enc_space(&mut e, space);
                            enc_va(&mut e, va);
                        }
                        TlbOp::FlushRange { space, va, len } => {
                            e.u8(1);
                            enc_space(&mut e, space);
                            enc_u64(&mut e, RAW_SIZE, K4);
                            enc_va(&mut e, va);
                            enc_u64(&mut e, RAW_LEN, len);
                        }
                        TlbOp::FlushAsid { space } => {
                            e.u8(2);
                            enc_space(&mut e, space);
                        }
                        TlbOp::FlushNonGlobal => e.u8(3),
                        TlbOp::FlushAll => e.u8(4),
                    }
                }
                Op::ApplyHeldFlushes => e.u8(K_APPLY),
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
        let config = MmuConfig {
            frames: self.frames,
            cpus: u32::from(self.cpus),
            tlb_entries: u32::from(self.tlb_entries),
        };
        // The configuration limits are part of the contract: exactly the out-of-range ones
        // are refused, each with its own error.
        let expected = if self.frames == 0 || self.frames > MAX_FRAMES {
            Err(NewError::BadFrameCount)
        } else if self.cpus == 0 || u32::from(self.cpus) > MAX_CPUS {
            Err(NewError::BadCpuCount)
        } else if self.tlb_entries == 0 || u32::from(self.tlb_entries) > MAX_TLB_ENTRIES {
            Err(NewError::BadTlbSize)
        } else {
            Ok(())
        };
        match (Mmu::new(self.arch, config), expected) {
            (Ok(mmu), Ok(())) => {
                #[cfg(feature = "seeded-bugs")]
                let mmu = {
                    let mut mmu = mmu;
                    mmu.set_bugs(bugs);
                    mmu
                };
                #[cfg(not(feature = "seeded-bugs"))]
                let _ = bugs;
                let mut executor = Executor::new(self, mmu);
                drive(MmuTarget::NAME, &mut executor, &self.ops, trace)
            }
            (Err(e), Err(x)) if e == x => {
                if let Some(t) = trace {
                    let _ = writeln!(t, "  new -> Err({e:?}) (predicted); no op runs");
                }
                Ok(Stats {
                    ops: 1,
                    ok: 0,
                    errors: 1,
                })
            }
            (made, expected) => Err(Finding {
                target: MmuTarget::NAME,
                op_index: None,
                op: "new".into(),
                kind: FindingKind::Oracle(Mismatch::new(
                    "new",
                    format!("{expected:?}"),
                    format!("{:?}", made.map(|_| ())),
                )),
            }),
        }
    }
}

// ---- execution ------------------------------------------------------------------------------

/// A flush token the scenario holds, with the oracle's description of it.
#[derive(Clone, Copy, Debug)]
struct Held {
    token: Flush,
    /// The accessing space it concerns (unless `pred.all_spaces`).
    asid: u32,
    pred: o::FlushPrediction,
}

/// Runs one scenario against the MMU and the model.
struct Executor {
    arch: Arch,
    mmu: Mmu,
    model: o::MmuModel,
    /// Live spaces in creation order (the kernel's first): what `SpaceSel::Live` indexes.
    live: Vec<Asid>,
    /// Recently touched addresses (at most [`MAX_WATCHED`], oldest first, distinct).
    watched: Vec<u64>,
    /// Recently made mappings (space, first address, length, page size; at most
    /// [`MAX_MAPPINGS`], oldest first), whether or not they still exist.
    mapped: Vec<(Asid, u64, u64, u64)>,
    /// Held flush tokens, oldest first.
    held: Vec<Held>,
    /// (cpu, page base, page size) of every page a successful access loaded into a TLB.
    may_cache: BTreeSet<(u8, u64, u64)>,
    /// The current op changed the structure (the private-table count is compared then).
    changed: bool,
    stats: Stats,
}

/// The effective flags of a flag byte: bits 6-7 ask to fit them to the half of `va`.
fn fit_flags(arch: Arch, byte: u8, va: u64) -> PageFlags {
    let flags = PageFlags::from_bits_truncate(byte);
    if byte & 0xC0 == 0 {
        return flags;
    }
    let mut drop = if Geometry::new(arch).in_kernel_half(va) {
        PageFlags::USER
    } else {
        PageFlags::GLOBAL
    };
    if arch == Arch::Ia32 {
        drop = drop | PageFlags::NO_EXECUTE;
    }
    flags.difference(drop)
}

/// Bounded text of a result (addresses in hex).
fn show<T: fmt::Debug, E: fmt::Debug>(r: &Result<T, E>) -> String {
    format!("{r:x?}")
}

impl Machine for Executor {
    type Op = Op;

    fn step(&mut self, op: &Op) -> Result<String, Mismatch> {
        self.changed = false;
        self.execute_op(op)
    }

    fn check_invariants(&self) -> Result<(), (String, String)> {
        self.invariants()
    }

    fn compare_state(&self) -> Result<(), String> {
        self.compare_spaces()
    }

    fn stats(&self) -> Stats {
        self.stats
    }

    fn summary(&self) -> String {
        format!(
            "{} spaces, {} table pages at the end",
            self.live.len(),
            self.mmu.table_pages()
        )
    }

    /// No flush is ever dropped: the tokens still held are applied, then checked.
    fn finish(&mut self) -> Result<Option<String>, Mismatch> {
        self.changed = false;
        let n = self.apply_held();
        Ok(Some(format!("applied {n} held flush token(s)")))
    }
}

impl Executor {
    fn new(s: &Scenario, mmu: Mmu) -> Executor {
        Executor {
            arch: s.arch,
            mmu,
            model: o::MmuModel::new(
                adapter::mode(s.arch),
                u128::from(s.frames),
                u128::from(s.cpus),
            ),
            live: vec![Asid::KERNEL],
            watched: Vec::new(),
            mapped: Vec::new(),
            held: Vec::new(),
            may_cache: BTreeSet::new(),
            changed: false,
            stats: Stats::default(),
        }
    }

    fn asid(&self, s: SpaceSel) -> Asid {
        match s {
            // Never empty: the kernel space cannot be destroyed.
            SpaceSel::Live(h) => self.live[usize::from(h) % self.live.len()],
            SpaceSel::Raw(a) => Asid::from_raw(u32::from(a)),
        }
    }

    fn va(&self, v: Va) -> u64 {
        match v {
            Va::Raw(a) => a,
            Va::Recent {
                index,
                align_log2,
                offset,
            } => {
                let base = if self.watched.is_empty() {
                    0
                } else {
                    self.watched[usize::from(index) % self.watched.len()]
                };
                let mask = 1u64
                    .checked_shl(u32::from(align_log2))
                    .map_or(0, |a| !(a - 1));
                (base & mask).wrapping_add(offset)
            }
        }
    }

    /// The mapping a `Place::Mapped` or `Point::Mapped` names (the kernel's first page if
    /// none was made yet).
    fn mapping(&self, index: u8) -> (Asid, u64, u64, u64) {
        if self.mapped.is_empty() {
            (Asid::KERNEL, 0, K4, K4)
        } else {
            self.mapped[usize::from(index) % self.mapped.len()]
        }
    }

    fn place(&self, p: Place) -> (Asid, u64, u64) {
        match p {
            Place::Given { space, va, len } => (self.asid(space), self.va(va), len),
            Place::Mapped {
                index,
                first,
                pages,
            } => {
                let (asid, va, len, size) = self.mapping(index);
                let total = len / size;
                let first = u64::from(first) % total;
                let n = match u64::from(pages) {
                    0 => total - first,
                    p => p.min(total - first),
                };
                (asid, va + first * size, n * size)
            }
        }
    }

    fn point(&self, p: Point) -> (Asid, u64) {
        match p {
            Point::Given { space, va } => (self.asid(space), self.va(va)),
            Point::Mapped { index, offset } => {
                let (asid, va, len, _) = self.mapping(index);
                (asid, va + offset % len)
            }
        }
    }

    /// Remember a mapping just made.
    fn remember(&mut self, asid: Asid, va: u64, len: u64, size: u64) {
        self.mapped.push((asid, va, len, size));
        if self.mapped.len() > MAX_MAPPINGS {
            self.mapped.remove(0);
        }
        self.watch(va);
        self.watch(va + (len - K4));
    }

    /// Remember the 4 KiB page holding `a` (most recent last, distinct, bounded).
    fn watch(&mut self, a: u64) {
        let a = a & !(K4 - 1);
        if let Some(i) = self.watched.iter().position(|&w| w == a) {
            self.watched.remove(i);
        }
        self.watched.push(a);
        if self.watched.len() > MAX_WATCHED {
            self.watched.remove(0);
        }
    }

    fn count<T, E>(&mut self, r: &Result<T, E>) {
        self.stats.count(r.is_ok());
    }

    /// Apply or hold a token whose oracle description is `pred`.
    fn take_flush(&mut self, token: Flush, asid: Asid, pred: o::FlushPrediction, mode: FlushMode) {
        match mode {
            FlushMode::Apply => self.mmu.flush(token),
            FlushMode::Hold => self.held.push(Held {
                token,
                asid: asid.raw(),
                pred,
            }),
        }
    }

    fn apply_held(&mut self) -> usize {
        let n = self.held.len();
        for h in std::mem::take(&mut self.held) {
            self.mmu.flush(h.token);
        }
        n
    }

    /// `true` iff a held token may leave a stale entry that `check_tlb_coherent` would see
    /// (one for the kernel half, or for a space that is still live).
    fn coherence_pending(&self) -> bool {
        self.held
            .iter()
            .any(|h| h.pred.all_spaces || self.live.iter().any(|a| a.raw() == h.asid))
    }

    /// Invariants, and TLB coherence when no flush token is held for a live space.
    fn invariants(&self) -> Result<(), (String, String)> {
        self.mmu.check_invariants().map_err(|e| {
            let detail = format!("{e:x?}");
            let invariant = detail
                .split([' ', '{', '('])
                .next()
                .unwrap_or("")
                .to_string();
            (invariant, detail)
        })?;
        if !self.coherence_pending() {
            self.mmu.check_tlb_coherent().map_err(|s| {
                (
                    "TlbCoherent".to_string(),
                    format!("stale entry with no flush held: {s:x?}"),
                )
            })?;
        }
        Ok(())
    }

    /// Spaces, table-page counts and the translations of the watched addresses.
    fn compare_spaces(&self) -> Result<(), String> {
        let spaces: Vec<u32> = self.mmu.spaces().map(|a| a.raw()).collect();
        let mspaces = self.model.spaces();
        if spaces != mspaces {
            return Err(format!("spaces: mmu {spaces:?}, model {mspaces:?}"));
        }
        let (tp, mtp) = (u128::from(self.mmu.table_pages()), self.model.table_pages());
        if tp != mtp {
            return Err(format!("table pages: mmu {tp}, model {mtp}"));
        }
        let (ff, mff) = (u128::from(self.mmu.free_frames()), self.model.free_frames());
        if ff != mff {
            return Err(format!("free frames: mmu {ff}, model {mff}"));
        }
        if self.changed {
            let pe = u128::from(self.mmu.table_stats().private_equivalent);
            let mpe = self.model.private_table_pages();
            if pe != mpe {
                return Err(format!("private-table equivalent: mmu {pe}, model {mpe}"));
            }
        }
        for &s in &spaces {
            for &a in &self.watched {
                let got = self
                    .mmu
                    .translate(Asid::from_raw(s), a)
                    .map(adapter::translation)
                    .map_err(|e| adapter::translate_err(e, a));
                let want = self.model.translate(s, a.into());
                if got != want {
                    return Err(format!(
                        "translate asid{s} {a:#x}: mmu {}, model {}",
                        show(&got),
                        show(&want)
                    ));
                }
            }
        }
        Ok(())
    }

    /// Judges a map-like op (`at` = space, va, pa, len): the answer must equal the model's,
    /// and what succeeded is remembered for later ops and the state comparison.
    fn judge_map<T: PartialEq + fmt::Debug, E: PartialEq + fmt::Debug>(
        &mut self,
        what: &str,
        (asid, va, pa, len): (Asid, u64, u64, u64),
        flags: PageFlags,
        page_size: u64,
        got: Result<T, E>,
        want: Result<T, E>,
    ) -> Result<String, Mismatch> {
        self.count(&got);
        if got != want {
            return Err(Mismatch::new(
                format!(
                    "{what} {asid} va {va:#x} pa {pa:#x} len {len:#x} page {page_size:#x} flags {:#x}",
                    flags.bits()
                ),
                show(&want),
                show(&got),
            ));
        }
        if got.is_ok() {
            self.remember(asid, va, len, page_size);
            self.changed = true;
        }
        Ok(format!(
            "{asid} va {va:#x} flags {:#x}: {}",
            flags.bits(),
            show(&got)
        ))
    }

    /// Executes one op and judges it; the outcome text for the trace, or the mismatch.
    fn execute_op(&mut self, op: &Op) -> Result<String, Mismatch> {
        let arch = self.arch;
        match *op {
            Op::CreateSpace => {
                if self.live.len() >= MAX_CASE_SPACES {
                    return Ok("skipped (MAX_CASE_SPACES live)".into());
                }
                let got = self
                    .mmu
                    .create_space()
                    .map(|a| a.raw())
                    .map_err(adapter::create_err);
                self.count(&got);
                let want = self.model.create_space();
                if got != want {
                    return Err(Mismatch::new("create_space", show(&want), show(&got)));
                }
                if let Ok(a) = got {
                    self.live.push(Asid::from_raw(a));
                    self.changed = true;
                }
                Ok(show(&got))
            }
            Op::DestroySpace { space, flush } => {
                let asid = self.asid(space);
                let got = self.mmu.destroy_space(asid);
                self.count(&got);
                let want = self.model.destroy_space(asid.raw());
                let g = got
                    .as_ref()
                    .map(|_| ())
                    .map_err(|e| adapter::destroy_err(*e));
                if g != want {
                    return Err(Mismatch::new(
                        format!("destroy_space {asid}"),
                        show(&want),
                        show(&g),
                    ));
                }
                if let Ok(token) = got {
                    // The whole space of that ASID (the oracle knows no TLB; this is the
                    // documented contract of destroy_space).
                    let pred = o::FlushPrediction {
                        all_spaces: false,
                        start: 0,
                        last: arch.max_addr().into(),
                    };
                    if adapter::flush(&token) != pred {
                        return Err(Mismatch::new(
                            format!("destroy_space {asid} flush token"),
                            format!("{pred:x?}"),
                            format!("{:x?}", adapter::flush(&token)),
                        ));
                    }
                    self.take_flush(token, asid, pred, flush);
                    self.live.retain(|&a| a != asid);
                    self.changed = true;
                }
                Ok(format!("{asid}: {}", show(&g)))
            }
            Op::Map {
                space,
                va,
                pa,
                len,
                flags,
                page_size,
            } => {
                let asid = self.asid(space);
                let va = self.va(va);
                let flags = fit_flags(arch, flags, va);
                if let Some(pages) = len.checked_div(page_size) {
                    if pages > MAX_STEP_PAGES && pages <= MAX_MAP_PAGES {
                        return Ok(format!("skipped ({pages} pages > MAX_STEP_PAGES)"));
                    }
                }
                let got = self
                    .mmu
                    .map(asid, va, pa, len, flags, page_size)
                    .map_err(adapter::map_err);
                let want = self.model.map(
                    asid.raw(),
                    va.into(),
                    pa.into(),
                    len.into(),
                    flags.bits(),
                    page_size.into(),
                );
                self.judge_map("map", (asid, va, pa, len), flags, page_size, got, want)
            }
            Op::Unmap { place, flush } => {
                let (asid, va, len) = self.place(place);
                let got = self.mmu.unmap(asid, va, len);
                self.count(&got);
                let want = self.model.unmap(asid.raw(), va.into(), len.into());
                self.judge_edit("unmap", asid, va, got, want, flush)
            }
            Op::Protect {
                place,
                flags,
                flush,
            } => {
                let (asid, va, len) = self.place(place);
                let flags = fit_flags(arch, flags, va);
                let got = self.mmu.protect(asid, va, len, flags);
                self.count(&got);
                let want = self
                    .model
                    .protect(asid.raw(), va.into(), len.into(), flags.bits());
                self.judge_edit("protect", asid, va, got, want, flush)
            }
            Op::MapShared {
                space,
                va,
                pa,
                len,
                flags,
            } => {
                let asid = self.asid(space);
                let va = self.va(va);
                let flags = fit_flags(arch, flags, va);
                let got = self
                    .mmu
                    .map_shared_segment(asid, va, pa, len, flags)
                    .map_err(|e| adapter::shared_err(e, va));
                let want = self.model.map_shared_segment(
                    asid.raw(),
                    va.into(),
                    pa.into(),
                    len.into(),
                    flags.bits(),
                );
                self.judge_map("map_shared", (asid, va, pa, len), flags, K4, got, want)
            }
            Op::UnmapShared { point, flush } => {
                let (asid, va) = self.point(point);
                let got = self.mmu.unmap_shared_segment(asid, va);
                self.count(&got);
                let want = self.model.unmap_shared_segment(asid.raw(), va.into());
                let g = got
                    .as_ref()
                    .map(adapter::flush)
                    .map_err(|e| adapter::unshare_err(*e, va));
                if g != want {
                    return Err(Mismatch::new(
                        format!("unmap_shared {asid} va {va:#x}"),
                        show(&want),
                        show(&g),
                    ));
                }
                if let (Ok(token), Ok(pred)) = (got, want) {
                    self.take_flush(token, asid, pred, flush);
                    self.changed = true;
                }
                Ok(format!("{asid} va {va:#x}: {}", show(&g)))
            }
            Op::Translate { point } => {
                let (asid, va) = self.point(point);
                let got = self
                    .mmu
                    .translate(asid, va)
                    .map(adapter::translation)
                    .map_err(|e| adapter::translate_err(e, va));
                self.count(&got);
                let want = self.model.translate(asid.raw(), va.into());
                if got != want {
                    return Err(Mismatch::new(
                        format!("translate {asid} va {va:#x}"),
                        show(&want),
                        show(&got),
                    ));
                }
                Ok(format!("{asid} va {va:#x}: {}", show(&got)))
            }
            Op::Access {
                cpu,
                point,
                kind,
                user,
            } => {
                let (asid, va) = self.point(point);
                let write = kind == AccessKind::Write;
                let walks = self.access_walks(cpu, asid, va, write);
                let got = self
                    .mmu
                    .access(CpuId(u32::from(cpu)), asid, va, Access { kind, user });
                self.count(&got);
                let want = self.model.access(
                    u128::from(cpu),
                    asid.raw(),
                    va.into(),
                    adapter::access_kind(kind),
                    user,
                );
                let g = match got {
                    Ok(t) => Ok(adapter::translation(t)),
                    Err(e) => match adapter::access_err(e) {
                        Ok(k) => Err(k),
                        Err(stale) => return self.judge_stale(cpu, asid, va, stale, want),
                    },
                };
                if g != want {
                    return Err(Mismatch::new(
                        format!("access cpu{cpu} {asid} va {va:#x}"),
                        show(&want),
                        show(&g),
                    ));
                }
                if let Ok(t) = got {
                    if walks {
                        self.check_accessed_dirty(cpu, asid, va, t.page_size, write)?;
                    }
                    self.may_cache.insert((cpu, t.page_base, t.page_size));
                    self.watch(va);
                }
                Ok(format!("{asid} va {va:#x}: {}", show(&g)))
            }
            Op::Tlb { cpu, op } => {
                let c = CpuId(u32::from(cpu));
                let (got, scope) = match op {
                    TlbOp::Invlpg { space, va } => {
                        let (asid, va) = (self.asid(space), self.va(va));
                        let page = Range::from_inclusive(va, va).expect("one address");
                        (self.mmu.invlpg(c, asid, va), Scope::Range(asid, page))
                    }
                    TlbOp::FlushRange { space, va, len } => {
                        let (asid, va) = (self.asid(space), self.va(va));
                        let Ok(r) = Range::new(va, len) else {
                            return Ok("skipped (not a range)".into());
                        };
                        (self.mmu.flush_range(c, asid, r), Scope::Range(asid, r))
                    }
                    TlbOp::FlushAsid { space } => {
                        let asid = self.asid(space);
                        (self.mmu.flush_asid(c, asid), Scope::Asid(asid))
                    }
                    TlbOp::FlushNonGlobal => (self.mmu.flush_nonglobal(c), Scope::NonGlobal),
                    TlbOp::FlushAll => (self.mmu.flush_all(c), Scope::All),
                };
                self.count(&got);
                let want = if cpu >= self.cpus() {
                    Err(TlbError::NoSuchCpu)
                } else {
                    Ok(())
                };
                if got != want {
                    return Err(Mismatch::new(
                        format!("tlb op on cpu{cpu}"),
                        format!("{want:?}"),
                        format!("{got:?}"),
                    ));
                }
                if got.is_ok() {
                    // The entries the op must have dropped are gone (a large page overlapping
                    // the range anywhere, not only at its base).
                    let left: Vec<_> = self
                        .mmu
                        .tlb_entries(c)
                        .into_iter()
                        .filter(|e| scope.drops(e))
                        .map(|e| (e.asid.raw(), e.page_base, e.page_size))
                        .collect();
                    if !left.is_empty() {
                        return Err(Mismatch::new(
                            format!("tlb op on cpu{cpu}: entries it must drop"),
                            "none left".to_string(),
                            format!("(asid, page, size) {left:x?}"),
                        ));
                    }
                }
                Ok(format!("{got:?}"))
            }
            Op::ApplyHeldFlushes => {
                let n = self.apply_held();
                Ok(format!("applied {n} token(s)"))
            }
        }
    }

    fn cpus(&self) -> u8 {
        self.mmu.cpus() as u8
    }

    /// Whether an access by `cpu` in `asid` at `va` must walk the tables: its TLB holds no
    /// entry for the page (local to `asid`, or global), or the access is a write and every
    /// such entry is clean (hardware walks again to set D). A walk that succeeds leaves A set
    /// in the leaf, and D on a write ([`Executor::check_accessed_dirty`]); a TLB hit sets
    /// nothing (and the leaf may have been rewritten since the entry was loaded).
    fn access_walks(&self, cpu: u8, asid: Asid, va: u64, write: bool) -> bool {
        if cpu >= self.cpus() {
            return false;
        }
        let (mut any, mut any_dirty) = (false, false);
        for e in self.mmu.tlb_entries(CpuId(u32::from(cpu))) {
            if e.page_base <= va
                && va - e.page_base < e.page_size
                && (e.asid == asid || e.flags.contains(PageFlags::GLOBAL))
            {
                any = true;
                any_dirty |= e.dirty;
            }
        }
        !any || (write && !any_dirty)
    }

    /// After a successful access that walked: the leaf entry of the page has A set, and D if
    /// the access was a write (a lost dirty bit loses data when the page is reclaimed).
    fn check_accessed_dirty(
        &self,
        cpu: u8,
        asid: Asid,
        va: u64,
        page_size: u64,
        write: bool,
    ) -> Result<(), Mismatch> {
        use crate::mmu::geometry::bits;
        let Some(level) = self.mmu.geometry().level_of_size(page_size) else {
            return Ok(());
        };
        let want = bits::A | if write { bits::D } else { 0 };
        let leaf = self.mmu.entry(asid, va, level).unwrap_or(0);
        if leaf & want != want {
            return Err(Mismatch::new(
                format!("access cpu{cpu} {asid} va {va:#x}: accessed/dirty bits"),
                format!("a leaf with A{}", if write { " and D" } else { "" }),
                format!("{leaf:#x}"),
            ));
        }
        Ok(())
    }

    /// Judges an unmap or protect: result and token against the oracle; then applies or
    /// holds the token.
    fn judge_edit(
        &mut self,
        what: &str,
        asid: Asid,
        va: u64,
        got: Result<Flush, crate::mmu::UnmapError>,
        want: Result<o::FlushPrediction, o::ErrKind>,
        mode: FlushMode,
    ) -> Result<String, Mismatch> {
        let g = got
            .as_ref()
            .map(adapter::flush)
            .map_err(|e| adapter::unmap_err(*e));
        if g != want {
            return Err(Mismatch::new(
                format!("{what} {asid} va {va:#x}"),
                show(&want),
                show(&g),
            ));
        }
        if let (Ok(token), Ok(pred)) = (got, want) {
            self.take_flush(token, asid, pred, mode);
            self.watch(va);
            self.changed = true;
        }
        Ok(format!("{asid} va {va:#x}: {}", show(&g)))
    }

    /// A stale TLB hit is legal only under a held token (module comment, section 2).
    fn judge_stale(
        &self,
        cpu: u8,
        asid: Asid,
        va: u64,
        s: crate::mmu::StaleTlb,
        want: Result<o::Translation, o::ErrKind>,
    ) -> Result<String, Mismatch> {
        let a = u128::from(va);
        let held = self.held.iter().any(|h| {
            (h.pred.all_spaces || h.asid == asid.raw()) && h.pred.start <= a && a <= h.pred.last
        });
        let loaded = self
            .may_cache
            .contains(&(cpu, s.cached.page_base, s.cached.page_size));
        let current = s.current.map(adapter::translation);
        let model_now = self.model.translate(asid.raw(), a).ok();
        let why = if !held {
            "no held flush covers it"
        } else if !loaded {
            "no earlier access on that CPU loaded that page"
        } else if s.cpu != CpuId(u32::from(cpu)) {
            "reported for another CPU"
        } else if current != model_now {
            "its current translation differs from the model's"
        } else {
            return Ok(format!(
                "{asid} va {va:#x}: stale (legal: a held flush covers it): {:x?}",
                s.cached
            ));
        };
        // The oracle knows no TLB: its answer is the current translation's.
        Err(Mismatch::new(
            format!("access cpu{cpu} {asid} va {va:#x}"),
            show(&want),
            format!(
                "a stale TLB hit, {why}: cached {:x?}, current {current:x?}, model {}",
                s.cached,
                show(&Ok::<_, ()>(model_now))
            ),
        ))
    }
}

// ---- seeds ----------------------------------------------------------------------------------

/// Flag byte bits (the `PageFlags` values) and the "fit to the half" request.
const RW: u8 = 1;
const USER: u8 = 2;
const GLOBAL: u8 = 16;
const FIT: u8 = 0x80;

fn map_op(space: u8, va: u64, pa: u64, len: u64, flags: u8, page_size: u64) -> Op {
    Op::Map {
        space: SpaceSel::Live(space),
        va: Va::Raw(va),
        pa,
        len,
        flags,
        page_size,
    }
}

fn unmap_op(space: u8, va: u64, len: u64, flush: FlushMode) -> Op {
    Op::Unmap {
        place: given(space, va, len),
        flush,
    }
}

fn access_op(cpu: u8, space: u8, va: u64, kind: AccessKind, user: bool) -> Op {
    Op::Access {
        cpu,
        point: at(space, va),
        kind,
        user,
    }
}

fn translate_op(space: u8, va: u64) -> Op {
    Op::Translate {
        point: at(space, va),
    }
}

fn given(space: u8, va: u64, len: u64) -> Place {
    Place::Given {
        space: SpaceSel::Live(space),
        va: Va::Raw(va),
        len,
    }
}

fn at(space: u8, va: u64) -> Point {
    Point::Given {
        space: SpaceSel::Live(space),
        va: Va::Raw(va),
    }
}

fn scenario(arch: Arch, frames: u32, ops: Vec<Op>) -> Scenario {
    Scenario {
        arch,
        frames,
        cpus: 2,
        tlb_entries: 16,
        ops,
    }
}

/// Address 0 in a user space and the top page of the kernel half, translated, accessed
/// from two CPUs, unmapped with one held and one applied flush, then remapped.
fn zero_and_top(arch: Arch) -> Scenario {
    use AccessKind::{Read, Write};
    let top = arch.max_addr() - (K4 - 1);
    let max = arch.max_addr();
    scenario(
        arch,
        64,
        vec![
            Op::CreateSpace,
            map_op(1, 0, 0x1000, K4, FIT | RW | USER, K4),
            map_op(0, top, 0x2000, K4, FIT | RW | GLOBAL, K4),
            translate_op(1, 0xFFF),
            translate_op(1, max),
            access_op(0, 1, 0, Write, true),
            access_op(1, 1, max, Read, false),
            access_op(1, 1, max, Read, true),
            unmap_op(1, 0, K4, FlushMode::Hold),
            access_op(0, 1, 0x10, Read, true),
            unmap_op(0, top, K4, FlushMode::Apply),
            access_op(1, 1, max, Read, false),
            Op::ApplyHeldFlushes,
            access_op(0, 1, 0, Read, true),
            map_op(0, top, 0, 2 * K4, FIT, K4),
            map_op(0, top, 0x3000, K4, FIT | RW, K4),
            access_op(0, 0, max, Write, false),
            Op::DestroySpace {
                space: SpaceSel::Live(1),
                flush: FlushMode::Apply,
            },
        ],
    )
}

/// A large page at segment `base` refused while a 4 KiB page's table is live (ANCHORS 6 #7),
/// accepted once the table is gone.
fn large_over_table(arch: Arch) -> Scenario {
    use AccessKind::Read;
    let seg = arch.segment_size();
    let base = 4 * seg;
    scenario(
        arch,
        32,
        vec![
            map_op(0, base + K4, 0x5000, K4, FIT | RW, K4),
            access_op(0, 0, base + K4, Read, false),
            map_op(0, base, 0, seg, FIT | RW, seg),
            unmap_op(0, base + K4, K4, FlushMode::Hold),
            map_op(0, base, 0, seg, FIT | RW, seg),
            access_op(0, 0, base + K4, Read, false),
            Op::ApplyHeldFlushes,
            access_op(0, 0, base + K4, Read, false),
            translate_op(0, base + seg - 1),
        ],
    )
}

/// The hand-written seed scenarios of the corpus (`kvafuzz seeds --target mmu`).
pub fn seed_scenarios() -> Vec<(&'static str, Scenario)> {
    use AccessKind::{Execute, Read, Write};
    let g1 = 1u64 << 30;
    let m4 = 4u64 << 20;
    let pse = scenario(
        Arch::Ia32,
        16,
        vec![
            map_op(0, m4, 2 * m4, m4, FIT | RW, m4),
            translate_op(0, m4 + 0x1234),
            access_op(0, 0, m4 + 0x1234, Write, false),
            map_op(0, m4 + K4, 0, K4, FIT, K4),
            Op::Protect {
                place: given(0, m4, m4),
                flags: FIT,
                flush: FlushMode::Hold,
            },
            access_op(0, 0, m4 + 0x1234, Write, false),
            access_op(1, 0, m4, Read, false),
            Op::ApplyHeldFlushes,
            map_op(0, m4 + K4, 0, m4, FIT, m4),
            unmap_op(0, m4, m4, FlushMode::Apply),
            translate_op(0, m4),
        ],
    );
    let x64 = Arch::X86_64;
    let below_hole = x64.lower_half_last() + 1 - g1;
    let gib = scenario(
        x64,
        64,
        vec![
            map_op(0, g1, g1, 2 * g1, FIT | RW, g1),
            map_op(0, below_hole, 0, g1, FIT | RW | USER, g1),
            map_op(0, below_hole + g1, 0, g1, FIT, g1),
            map_op(0, below_hole, 0, 2 * g1, FIT, g1),
            translate_op(0, g1 + 0x1234),
            translate_op(0, below_hole + g1 - 1),
            access_op(0, 0, 2 * g1 + 5, Execute, false),
            access_op(1, 0, below_hole, Write, true),
            map_op(0, g1 + (2 << 20), 0, 2 << 20, FIT, 2 << 20),
            unmap_op(0, g1 + (2 << 20), 2 << 20, FlushMode::Apply),
            unmap_op(0, g1, g1, FlushMode::Apply),
            unmap_op(0, 2 * g1, 2 * g1, FlushMode::Apply),
            translate_op(0, 2 * g1),
        ],
    );
    let seg = x64.segment_size();
    let obj = 0x20_0000;
    let shared = |space: u8| Op::MapShared {
        space: SpaceSel::Live(space),
        va: Va::Raw(0x4000_0000),
        pa: obj,
        len: seg,
        flags: FIT | RW | USER,
    };
    let sharing = scenario(
        x64,
        64,
        vec![
            Op::CreateSpace,
            Op::CreateSpace,
            shared(1),
            shared(2),
            access_op(0, 1, 0x4000_1000, Write, true),
            access_op(1, 2, 0x4000_1000, Read, true),
            map_op(1, 0x4000_2000, 0, K4, FIT, K4),
            Op::UnmapShared {
                point: at(1, 0x4000_0000),
                flush: FlushMode::Hold,
            },
            translate_op(2, 0x4000_1000),
            access_op(0, 1, 0x4000_1000, Read, true),
            Op::ApplyHeldFlushes,
            access_op(0, 1, 0x4000_1000, Read, true),
            Op::UnmapShared {
                point: at(2, 0x4000_0000),
                flush: FlushMode::Apply,
            },
            shared(1),
        ],
    );
    vec![
        ("address-zero-and-top-ia32", zero_and_top(Arch::Ia32)),
        ("address-zero-and-top-pae", zero_and_top(Arch::Pae)),
        ("address-zero-and-top-x86_64", zero_and_top(Arch::X86_64)),
        (
            "address-zero-and-top-x86_64-la57",
            zero_and_top(Arch::X86_64La57),
        ),
        ("ia32-pse-4mib-page", pse),
        ("x86_64-1gib-pages-below-the-hole", gib),
        (
            "ia32-large-page-over-live-table-refused",
            large_over_table(Arch::Ia32),
        ),
        (
            "x86_64-large-page-over-live-table-refused",
            large_over_table(Arch::X86_64),
        ),
        ("x86_64-two-spaces-share-a-segment-table", sharing),
    ]
}

/// The `mmu` target (the page-table model) in the registry.
pub struct MmuTarget;

impl Target for MmuTarget {
    const NAME: &'static str = "mmu";
    const ABOUT: &'static str = "x86 page tables in all four modes (address 0, top of space, canonical hole, large pages, shared segments, TLBs with held flushes) vs the flat page model";
    const VERSION: u16 = 1;
    #[cfg(feature = "seeded-bugs")]
    const BUGS: &'static [crate::bugs::Bug] = {
        use crate::bugs::Bug;
        &[
            Bug::LargePageOverLiveTable,
            Bug::TablePageFreedWithEntries,
            Bug::NonCanonicalAccepted,
            Bug::FlushWrongRange,
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
    fn scenarios_encode_to_bytes_that_decode_back() {
        for k in 0..500 {
            let data = generate(0x6d6d75, 0, k);
            let case = Scenario::decode(&data);
            let again = Scenario::decode(&case.encode());
            let header = |s: &Scenario| (s.arch, s.frames, s.cpus, s.tlb_entries, s.ops.len());
            assert_eq!(header(&case), header(&again), "case {k}");
            for (i, (x, y)) in case.ops.iter().zip(&again.ops).enumerate() {
                assert_eq!(x, y, "case {k} op {i}");
            }
            assert_eq!(
                case.execute(BugSet::NONE, None),
                again.execute(BugSet::NONE, None),
                "case {k}"
            );
        }
        for (name, s) in seed_scenarios() {
            assert_eq!(Scenario::decode(&s.encode()), s, "{name}");
        }
    }

    #[test]
    fn seeds_run_clean_and_do_what_they_say() {
        for (name, s) in seed_scenarios() {
            let mut text = String::new();
            let r = s.execute(BugSet::NONE, Some(&mut text));
            assert!(r.is_ok(), "{name}: {r:?}\n{text}");
            let stats = r.unwrap();
            assert!(
                stats.ok > 0 && stats.errors > 0,
                "{name}: {stats:?}\n{text}"
            );
            if name.contains("large-page-over-live-table") {
                assert!(text.contains("TableInTheWay"), "{name}\n{text}");
            }
            if name.contains("address-zero") {
                assert!(text.contains("stale (legal"), "{name}\n{text}");
            }
        }
    }

    #[test]
    fn a_refused_configuration_is_predicted() {
        for (frames, cpus, tlb_entries) in [(0, 1, 1), (1, 0, 1), (1, 1, 0), (MAX_FRAMES + 1, 1, 1)]
        {
            let s = Scenario {
                arch: Arch::Pae,
                frames,
                cpus,
                tlb_entries,
                ops: vec![Op::CreateSpace],
            };
            assert_eq!(
                s.execute(BugSet::NONE, None),
                Ok(Stats {
                    ops: 1,
                    ok: 0,
                    errors: 1
                })
            );
        }
    }
}
