//! The vmap byte codec: [`decode`] turns any bytes into a [`Scenario`], [`encode`] writes
//! bytes that decode back to exactly the scenario it is given.
//!
//! Every field is a [`Selector`] whose `read` and `write` sit side by side and name the same
//! tag constants (associated constants; a `FIRST..=LAST` pair where several tags read one
//! family, to weight it). Writers use the raw tag, the last of each selector, unless a value
//! has a tag of its own. The op kinds are the `K_*` constants, numbered as the swarm mask
//! numbers them; [`read_op`] and [`write_op`] handle them in the same order.
//!
//! Layout: the space, the lazy limit, the CPU count, the paging-mode byte, the data frames,
//! the swarm mask; then each op as its kind byte and its
//! fields, until the bytes run out or [`MAX_OPS`] ops.
//!
//! [`MAX_OPS`]: crate::harness::MAX_OPS

use super::scenario::{
    AccessSel, AddrSel, Op, Scenario, WindowSel, MAX_CASE_CPUS, MAX_CASE_FRAMES, MAX_FILL_AREAS,
};
use crate::addr::PAGE_SIZE;
use crate::harness::codec::{Decoder, Encoder, Selector, Swarm};
use crate::mmu::AccessKind;

/// Decodes `data` (any bytes): the header, then ops until the bytes run out.
pub(super) fn decode(data: &[u8]) -> Scenario {
    decode_kinds(data, KINDS)
}

/// Decodes `data` written in version 1 of the op language: the same, without
/// [`Op::Fill`] (13 kinds, so every kind byte means what it meant then).
pub(super) fn decode_v1(data: &[u8]) -> Scenario {
    decode_kinds(data, KINDS_V1)
}

/// Decodes with the first `kinds` op kinds.
fn decode_kinds(data: &[u8], kinds: u8) -> Scenario {
    let mut d = Decoder::new(data);
    let (start, last) = SpaceField.read(&mut d);
    let lazy_max_pages = LazyField.read(&mut d);
    let cpus = CpusField.read(&mut d);
    let alt_mode = ModeField.read(&mut d);
    let frames = FramesField.read(&mut d);
    let swarm = Swarm::read(&mut d, kinds);
    let mut ops = Vec::new();
    swarm.read_ops(&mut d, &mut ops, read_op);
    Scenario {
        start,
        last,
        lazy_max_pages,
        cpus,
        alt_mode,
        frames,
        ops,
    }
}

/// Bytes that [`decode`] turns back into exactly `scenario`.
pub(super) fn encode(s: &Scenario) -> Vec<u8> {
    let mut e = Encoder::new();
    SpaceField.write(&mut e, &(s.start, s.last));
    LazyField.write(&mut e, &s.lazy_max_pages);
    CpusField.write(&mut e, &s.cpus);
    ModeField.write(&mut e, &s.alt_mode);
    FramesField.write(&mut e, &s.frames);
    Swarm::write_all(&mut e, KINDS);
    for op in &s.ops {
        write_op(&mut e, op);
    }
    e.finish()
}

// ---- the header ---------------------------------------------------------------------------------

/// Where IA-32 (and PAE) kernels start their vmalloc range with 896 MiB of low memory:
/// `high_memory` plus the 8 MiB gap.
pub const IA32_VMALLOC_START: u64 = 0xf880_0000;
/// x86_64's `VMALLOC_START` with 4-level paging.
pub const X86_64_VMALLOC_START: u64 = 0xffff_c900_0000_0000;
/// x86_64's `VMALLOC_START` with 5-level paging (LA57).
pub const LA57_VMALLOC_START: u64 = 0xffa0_0000_0000_0000;

/// The space `[start, last]`: a base family and a size in pages, or raw bounds (which may be
/// invalid: the space refusing them is then the predicted outcome).
struct SpaceField;

impl SpaceField {
    /// At IA-32's vmalloc start.
    const IA32: u8 = 0;
    /// At x86_64's vmalloc start.
    const X86_64: u8 = 1;
    /// At LA57's vmalloc start.
    const LA57: u8 = 2;
    /// Ending at the top of the 32-bit space (`0xffff_ffff`).
    const TOP32: u8 = 3;
    /// The last tag ending there.
    const TOP32_LAST: u8 = 4;
    /// Ending at the top of the 64-bit space (`u64::MAX`: `addr + size` wraps to 0).
    const TOP64: u8 = 5;
    /// The last tag ending there.
    const TOP64_LAST: u8 = 6;
    /// Starting at address 0.
    const ZERO: u8 = 7;
    /// Raw `start` and `last` follow (rare: most raw bounds are refused).
    const RAW: u8 = 9;
    /// Tags.
    const COUNT: u8 = 10;
    /// The pages selector's tags: up to 256 pages (fills up within a scenario), or a raw
    /// `u16` plus one.
    const FEW_PAGES_LAST: u8 = 2;
    /// Raw pages.
    const RAW_PAGES: u8 = 3;

    fn pages(d: &mut Decoder) -> u64 {
        match d.below(Self::RAW_PAGES + 1) {
            0..=Self::FEW_PAGES_LAST => 1 + u64::from(d.u8()),
            Self::RAW_PAGES.. => 1 + u64::from(d.u16()),
        }
    }

    /// The bytes of `pages` pages (at most 65,536 pages, so no wrap).
    fn bytes(pages: u64) -> u64 {
        pages * PAGE_SIZE
    }
}

impl Selector for SpaceField {
    type Value = (u64, u64);

    fn read(&self, d: &mut Decoder) -> (u64, u64) {
        let tag = d.below(Self::COUNT);
        if tag == Self::RAW {
            return (d.u64(), d.u64());
        }
        let len = Self::bytes(Self::pages(d));
        let at = |start: u64| (start, start + (len - 1));
        match tag {
            Self::IA32 => at(IA32_VMALLOC_START),
            Self::X86_64 => at(X86_64_VMALLOC_START),
            Self::LA57 => at(LA57_VMALLOC_START),
            Self::TOP32..=Self::TOP32_LAST => (0x1_0000_0000 - len, 0xffff_ffff),
            Self::TOP64..=Self::TOP64_LAST => (u64::MAX - (len - 1), u64::MAX),
            Self::ZERO.. => at(0),
        }
    }

    fn write(&self, e: &mut Encoder, v: &(u64, u64)) {
        e.u8(Self::RAW);
        e.u64(v.0);
        e.u64(v.1);
    }
}

/// The lazy limit in pages: 0 (a purge on every free), a few, Linux's 32 MiB x log2(CPUs)
/// for 2..8 CPUs, or raw.
struct LazyField;

impl LazyField {
    /// 0.
    const ZERO: u8 = 0;
    /// 1..=32 pages.
    const FEW: u8 = 1;
    /// Linux's limit for 2, 4 or 8 CPUs.
    const LINUX: u8 = 2;
    /// Raw.
    const RAW: u8 = 3;
    /// Pages in 32 MiB.
    const LINUX_UNIT: u64 = (32 << 20) / PAGE_SIZE;
}

impl Selector for LazyField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        match d.below(Self::RAW + 1) {
            Self::ZERO => 0,
            Self::FEW => 1 + u64::from(d.u8() % 32),
            Self::LINUX => Self::LINUX_UNIT * (1 + u64::from(d.u8() % 3)),
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

/// The CPU count: `1 + byte % MAX_CASE_CPUS`.
struct CpusField;

impl Selector for CpusField {
    type Value = u8;

    fn read(&self, d: &mut Decoder) -> u8 {
        1 + d.u8() % MAX_CASE_CPUS
    }

    fn write(&self, e: &mut Encoder, v: &u8) {
        e.u8(v.wrapping_sub(1));
    }
}

/// The paging-mode choice: the low bit asks for the other mode ([`Scenario::arch`]).
struct ModeField;

impl Selector for ModeField {
    type Value = bool;

    fn read(&self, d: &mut Decoder) -> bool {
        d.u8() & 1 == 1
    }

    fn write(&self, e: &mut Encoder, v: &bool) {
        e.u8(u8::from(*v));
    }
}

/// The data frames: few (1..=256, so vmallocs run out), or any count up to
/// [`MAX_CASE_FRAMES`].
struct FramesField;

impl FramesField {
    /// The last tag of the few-frames family.
    const FEW_LAST: u8 = 1;
    /// `1 + u16 % MAX_CASE_FRAMES`.
    const ANY: u8 = 2;
    /// The last tag of that family (most cases have frames to spare).
    const ANY_LAST: u8 = 7;
}

impl Selector for FramesField {
    type Value = u16;

    fn read(&self, d: &mut Decoder) -> u16 {
        match d.below(Self::ANY_LAST + 1) {
            0..=Self::FEW_LAST => 1 + u16::from(d.u8()),
            Self::ANY.. => 1 + d.u16() % MAX_CASE_FRAMES,
        }
    }

    fn write(&self, e: &mut Encoder, v: &u16) {
        e.u8(Self::ANY);
        e.u16(v.wrapping_sub(1));
    }
}

// ---- the ops ------------------------------------------------------------------------------------

/// `alloc` (four kinds, so it is drawn most often: half the ops allocate).
const K_ALLOC: u8 = 0;
/// `alloc`, again.
const K_ALLOC2: u8 = 1;
/// `alloc`, a third time.
const K_ALLOC3: u8 = 2;
/// `alloc`, a fourth time.
const K_ALLOC4: u8 = 3;
/// `free` of a live area (two kinds).
const K_FREE: u8 = 4;
/// `free` of a live area, again.
const K_FREE2: u8 = 5;
/// `free` of a selected address.
const K_FREE_AT: u8 = 6;
/// `purge`.
const K_PURGE: u8 = 7;
/// `vmalloc` (two kinds).
const K_VMALLOC: u8 = 8;
/// `vmalloc`, again.
const K_VMALLOC2: u8 = 9;
/// `vfree`.
const K_VFREE: u8 = 10;
/// `access` (two kinds).
const K_ACCESS: u8 = 11;
/// `access`, again.
const K_ACCESS2: u8 = 12;
/// `fill` (version 2).
const K_FILL: u8 = 13;
/// Op kinds.
const KINDS: u8 = 14;
/// Op kinds of version 1 (before `fill`).
const KINDS_V1: u8 = 13;

/// Reads the fields of an op of `kind`.
fn read_op(kind: u8, d: &mut Decoder) -> Op {
    match kind {
        K_ALLOC | K_ALLOC2 | K_ALLOC3 | K_ALLOC4 => Op::Alloc {
            size: SizeField.read(d),
            align: AlignField.read(d),
            window: WindowField.read(d),
            guard: GuardField.read(d),
        },
        K_FREE | K_FREE2 => Op::Free { handle: d.u16() },
        K_FREE_AT => Op::FreeAt {
            addr: AddrField.read(d),
        },
        K_VMALLOC | K_VMALLOC2 => Op::Vmalloc {
            size: VmallocSizeField.read(d),
            align: AlignField.read(d),
            guard: GuardField.read(d),
        },
        K_VFREE => Op::Vfree { handle: d.u16() },
        K_ACCESS | K_ACCESS2 => Op::Access {
            cpu: d.u8(),
            addr: AccessField.read(d),
            kind: KindField.read(d),
        },
        K_FILL => Op::Fill {
            count: FillCountField.read(d),
            size: SizeField.read(d),
            align: AlignField.read(d),
            window: WindowField.read(d),
            guard: GuardField.read(d),
        },
        _ => Op::Purge,
    }
}

/// Writes `op` as [`read_op`] reads it.
fn write_op(e: &mut Encoder, op: &Op) {
    match op {
        Op::Alloc {
            size,
            align,
            window,
            guard,
        } => {
            e.u8(K_ALLOC);
            SizeField.write(e, size);
            AlignField.write(e, align);
            WindowField.write(e, window);
            GuardField.write(e, guard);
        }
        Op::Free { handle } => {
            e.u8(K_FREE);
            e.u16(*handle);
        }
        Op::FreeAt { addr } => {
            e.u8(K_FREE_AT);
            AddrField.write(e, addr);
        }
        Op::Purge => e.u8(K_PURGE),
        Op::Vmalloc { size, align, guard } => {
            e.u8(K_VMALLOC);
            VmallocSizeField.write(e, size);
            AlignField.write(e, align);
            GuardField.write(e, guard);
        }
        Op::Vfree { handle } => {
            e.u8(K_VFREE);
            e.u16(*handle);
        }
        Op::Access { cpu, addr, kind } => {
            e.u8(K_ACCESS);
            e.u8(*cpu);
            AccessField.write(e, addr);
            KindField.write(e, kind);
        }
        Op::Fill {
            count,
            size,
            align,
            window,
            guard,
        } => {
            e.u8(K_FILL);
            FillCountField.write(e, count);
            SizeField.write(e, size);
            AlignField.write(e, align);
            WindowField.write(e, window);
            GuardField.write(e, guard);
        }
    }
}

/// How many allocations a fill makes: a few (1..=16), or, rarely (a long fill makes every
/// later op of the case cost O(areas), and the walk's own fill O(areas^2)), any count up to
/// [`MAX_FILL_AREAS`] (the limit itself included).
struct FillCountField;

impl FillCountField {
    /// The last tag of the few family.
    const FEW_LAST: u8 = 254;
    /// `1 + u16 % MAX_FILL_AREAS`.
    const ANY: u8 = 255;
}

impl Selector for FillCountField {
    type Value = u16;

    fn read(&self, d: &mut Decoder) -> u16 {
        match d.u8() {
            tag @ 0..=Self::FEW_LAST => 1 + u16::from(tag % 16),
            Self::ANY => 1 + d.u16() % MAX_FILL_AREAS,
        }
    }

    fn write(&self, e: &mut Encoder, v: &u16) {
        e.u8(Self::ANY);
        e.u16(v.wrapping_sub(1));
    }
}

/// An allocation's size in bytes.
struct SizeField;

impl SizeField {
    /// 1..=8 pages (test_vmalloc's fix_size and full_fit use one).
    const PAGES_LAST: u8 = 8;
    /// 1..=100 pages (test_vmalloc's random_size_alloc).
    const RANDOM_SIZE: u8 = 9;
    /// The last tag of that family.
    const RANDOM_SIZE_LAST: u8 = 11;
    /// 1..=65,536 bytes: sizes that are not multiples of a page.
    const BYTES: u8 = 12;
    /// `u64::MAX - k`: rounding up to a page wraps.
    const HUGE: u8 = 13;
    /// 0.
    const ZERO: u8 = 14;
    /// Raw.
    const RAW: u8 = 15;
}

impl Selector for SizeField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        match d.below(Self::RAW + 1) {
            0..=Self::PAGES_LAST => (1 + u64::from(d.u8() % 8)) * PAGE_SIZE,
            Self::RANDOM_SIZE..=Self::RANDOM_SIZE_LAST => (1 + u64::from(d.u8() % 100)) * PAGE_SIZE,
            Self::BYTES => 1 + u64::from(d.u16()),
            Self::HUGE => u64::MAX - u64::from(d.u8()),
            Self::ZERO => 0,
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

/// An allocation's alignment.
struct AlignField;

impl AlignField {
    /// One page (the common case).
    const PAGE_LAST: u8 = 10;
    /// `1 << (12..=23)`: above a page, as ioremap asks (test_vmalloc's random_size_align).
    const LARGE: u8 = 11;
    /// The last tag of that family.
    const LARGE_LAST: u8 = 12;
    /// `1 << (0..=63)`: test_vmalloc's align_shift_alloc (the huge ones must fail cleanly).
    const SHIFT: u8 = 13;
    /// 0 (an error).
    const ZERO: u8 = 14;
    /// Raw (mostly not a power of two: an error).
    const RAW: u8 = 15;
}

impl Selector for AlignField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        match d.below(Self::RAW + 1) {
            0..=Self::PAGE_LAST => PAGE_SIZE,
            Self::LARGE..=Self::LARGE_LAST => 1 << (12 + d.u8() % 12),
            Self::SHIFT => 1 << (d.u8() % 64),
            Self::ZERO => 0,
            Self::RAW.. => d.u64(),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::RAW);
        e.u64(*v);
    }
}

/// An allocation's window.
struct WindowField;

impl WindowField {
    /// The whole space.
    const WHOLE_LAST: u8 = 5;
    /// Pages from the space's start.
    const PAGES: u8 = 6;
    /// The space's last pages.
    const TAIL: u8 = 7;
    /// Raw bounds.
    const RAW: u8 = 8;
}

impl Selector for WindowField {
    type Value = WindowSel;

    fn read(&self, d: &mut Decoder) -> WindowSel {
        match d.below(Self::RAW + 1) {
            0..=Self::WHOLE_LAST => WindowSel::Whole,
            Self::PAGES => WindowSel::Pages {
                from: d.u8(),
                pages: d.u8(),
            },
            Self::TAIL => WindowSel::Tail { pages: d.u8() },
            Self::RAW.. => WindowSel::Raw {
                start: d.u64(),
                last: d.u64(),
            },
        }
    }

    fn write(&self, e: &mut Encoder, v: &WindowSel) {
        match *v {
            WindowSel::Whole => e.u8(0),
            WindowSel::Pages { from, pages } => {
                e.u8(Self::PAGES);
                e.u8(from);
                e.u8(pages);
            }
            WindowSel::Tail { pages } => {
                e.u8(Self::TAIL);
                e.u8(pages);
            }
            WindowSel::Raw { start, last } => {
                e.u8(Self::RAW);
                e.u64(start);
                e.u64(last);
            }
        }
    }
}

/// Whether an area gets a guard page: three bytes in four say yes.
struct GuardField;

impl GuardField {
    /// A byte that reads as "no guard".
    const NO_GUARD: u8 = 0;
    /// A byte that reads as "guard".
    const GUARD: u8 = 1;
}

impl Selector for GuardField {
    type Value = bool;

    fn read(&self, d: &mut Decoder) -> bool {
        d.u8() % 4 != Self::NO_GUARD
    }

    fn write(&self, e: &mut Encoder, v: &bool) {
        e.u8(if *v { Self::GUARD } else { Self::NO_GUARD });
    }
}

/// The address of a [`Op::FreeAt`].
struct AddrField;

impl AddrField {
    /// A live area's start plus some pages.
    const LIVE_LAST: u8 = 1;
    /// A lazily freed area's start.
    const LAZY: u8 = 2;
    /// Raw.
    const RAW: u8 = 3;
}

impl Selector for AddrField {
    type Value = AddrSel;

    fn read(&self, d: &mut Decoder) -> AddrSel {
        match d.below(Self::RAW + 1) {
            0..=Self::LIVE_LAST => AddrSel::Live {
                handle: d.u16(),
                pages: d.u8(),
            },
            Self::LAZY => AddrSel::Lazy { index: d.u16() },
            Self::RAW.. => AddrSel::Raw(d.u64()),
        }
    }

    fn write(&self, e: &mut Encoder, v: &AddrSel) {
        match *v {
            AddrSel::Live { handle, pages } => {
                e.u8(0);
                e.u16(handle);
                e.u8(pages);
            }
            AddrSel::Lazy { index } => {
                e.u8(Self::LAZY);
                e.u16(index);
            }
            AddrSel::Raw(a) => {
                e.u8(Self::RAW);
                e.u64(a);
            }
        }
    }
}

/// A vmalloc's size: mostly a few pages (each is mapped, so sizes stay small), sometimes
/// unaligned bytes, or a size from the alloc op's selector (errors, huge sizes: refused
/// before anything is mapped).
struct VmallocSizeField;

impl VmallocSizeField {
    /// 1..=4 pages.
    const PAGES_LAST: u8 = 5;
    /// 1..=16 pages.
    const SOME_PAGES: u8 = 6;
    /// 1..=8,192 bytes.
    const BYTES: u8 = 7;
    /// The alloc op's size selector follows.
    const ALLOC: u8 = 8;
}

impl Selector for VmallocSizeField {
    type Value = u64;

    fn read(&self, d: &mut Decoder) -> u64 {
        match d.below(Self::ALLOC + 1) {
            0..=Self::PAGES_LAST => (1 + u64::from(d.u8() % 4)) * PAGE_SIZE,
            Self::SOME_PAGES => (1 + u64::from(d.u8() % 16)) * PAGE_SIZE,
            Self::BYTES => 1 + u64::from(d.u16() % 8192),
            Self::ALLOC.. => SizeField.read(d),
        }
    }

    fn write(&self, e: &mut Encoder, v: &u64) {
        e.u8(Self::ALLOC);
        SizeField.write(e, v);
    }
}

/// The address of an [`Op::Access`].
struct AccessField;

impl AccessField {
    /// A live area's page.
    const LIVE_LAST: u8 = 2;
    /// A live area's guard page.
    const GUARD: u8 = 3;
    /// A lazily freed area's page.
    const LAZY: u8 = 4;
    /// The last tag of that family.
    const LAZY_LAST: u8 = 5;
    /// A page of a recently vfree'd area.
    const FREED: u8 = 6;
    /// The last tag of that family.
    const FREED_LAST: u8 = 7;
    /// Raw.
    const RAW: u8 = 8;
}

impl Selector for AccessField {
    type Value = AccessSel;

    fn read(&self, d: &mut Decoder) -> AccessSel {
        match d.below(Self::RAW + 1) {
            0..=Self::LIVE_LAST => AccessSel::Live {
                handle: d.u16(),
                page: d.u8(),
                off: d.u8(),
            },
            Self::GUARD => AccessSel::Guard { handle: d.u16() },
            Self::LAZY..=Self::LAZY_LAST => AccessSel::Lazy {
                index: d.u16(),
                page: d.u8(),
            },
            Self::FREED..=Self::FREED_LAST => AccessSel::Freed { index: d.u8() },
            Self::RAW.. => AccessSel::Raw(d.u64()),
        }
    }

    fn write(&self, e: &mut Encoder, v: &AccessSel) {
        match *v {
            AccessSel::Live { handle, page, off } => {
                e.u8(0);
                e.u16(handle);
                e.u8(page);
                e.u8(off);
            }
            AccessSel::Guard { handle } => {
                e.u8(Self::GUARD);
                e.u16(handle);
            }
            AccessSel::Lazy { index, page } => {
                e.u8(Self::LAZY);
                e.u16(index);
                e.u8(page);
            }
            AccessSel::Freed { index } => {
                e.u8(Self::FREED);
                e.u8(index);
            }
            AccessSel::Raw(a) => {
                e.u8(Self::RAW);
                e.u64(a);
            }
        }
    }
}

/// An access's kind: mostly reads, some writes, a few fetches (which fault on NX pages).
struct KindField;

impl KindField {
    /// Reads.
    const READ_LAST: u8 = 4;
    /// Writes.
    const WRITE: u8 = 5;
    /// The last write tag.
    const WRITE_LAST: u8 = 6;
    /// A fetch.
    const EXECUTE: u8 = 7;
}

impl Selector for KindField {
    type Value = AccessKind;

    fn read(&self, d: &mut Decoder) -> AccessKind {
        match d.below(Self::EXECUTE + 1) {
            0..=Self::READ_LAST => AccessKind::Read,
            Self::WRITE..=Self::WRITE_LAST => AccessKind::Write,
            Self::EXECUTE.. => AccessKind::Execute,
        }
    }

    fn write(&self, e: &mut Encoder, v: &AccessKind) {
        e.u8(match v {
            AccessKind::Read => 0,
            AccessKind::Write => Self::WRITE,
            AccessKind::Execute => Self::EXECUTE,
        });
    }
}
