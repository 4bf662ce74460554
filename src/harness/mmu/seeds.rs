//! The hand-written seed scenarios of the corpus (`kvafuzz seeds --target mmu`): the edges of
//! the address space in every mode, large pages, shared segment tables and held flushes.

use super::{FlushMode, Op, Place, Point, Scenario, SpaceSel, Va, K4};
use crate::addr::Arch;
use crate::mmu::AccessKind;

// Flag byte bits (the `PageFlags` values) and the "fit to the half" request.
/// Writable.
const RW: u8 = 1;
/// User-accessible.
const USER: u8 = 2;
/// Global.
const GLOBAL: u8 = 16;
/// Fit the flags to the half of the address (module comment of [`super`], section 1).
const FIT: u8 = 0x80;

/// A map in live space `space` at a raw address.
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

/// An unmap of `[va, va + len)` in live space `space`.
fn unmap_op(space: u8, va: u64, len: u64, flush: FlushMode) -> Op {
    Op::Unmap {
        place: given(space, va, len),
        flush,
    }
}

/// An access by `cpu` in live space `space` at a raw address.
fn access_op(cpu: u8, space: u8, va: u64, kind: AccessKind, user: bool) -> Op {
    Op::Access {
        cpu,
        point: at(space, va),
        kind,
        user,
    }
}

/// A translation in live space `space` at a raw address.
fn translate_op(space: u8, va: u64) -> Op {
    Op::Translate {
        point: at(space, va),
    }
}

/// `[va, va + len)` in live space `space`.
fn given(space: u8, va: u64, len: u64) -> Place {
    Place::Given {
        space: SpaceSel::Live(space),
        va: Va::Raw(va),
        len,
    }
}

/// `va` in live space `space`.
fn at(space: u8, va: u64) -> Point {
    Point::Given {
        space: SpaceSel::Live(space),
        va: Va::Raw(va),
    }
}

/// A scenario of 2 CPUs with 16 TLB entries each.
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
