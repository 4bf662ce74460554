//! Hand-written seed scenarios: every route boundary in debug mode with right and wrong
//! sizes, redzone overflows of one byte and more, address 0 through a quantum cache, guard
//! pages, wrong sizes without debug, kernel maps at the tops of the 32- and 64-bit spaces,
//! and a Linux size mix on four CPUs.

use super::codec::{BOUNDARY_SIZES, SLABINFO_SIZES};
use super::scenario::{ObjSel, Op, Scenario, SizeSel, SpanAt, WriteAt};
use crate::kmem::{KMEM_REDZONE_BYTE, MAX_KMEM_SIZE};

fn scenario(debug: bool, guard: bool, at: SpanAt, pages: u32, ops: Vec<Op>) -> Scenario {
    Scenario {
        debug,
        guard,
        cpus: 2,
        rounds: 4,
        depot: 2,
        map_at: at,
        map_pages: pages,
        ops,
    }
}

fn alloc(size: u64, cpu: u8) -> Op {
    Op::Alloc { size, cpu }
}

fn free(h: u16, size: SizeSel) -> Op {
    Op::Free {
        obj: ObjSel::Live(h),
        size,
        cpu: 0,
    }
}

fn overflow(h: u16, k: u16, byte: u8) -> Op {
    Op::Write {
        obj: ObjSel::Live(h),
        at: WriteAt::Overflow(k),
        len: 0,
        byte,
    }
}

fn check(h: u16) -> Op {
    Op::Check {
        obj: ObjSel::Live(h),
    }
}

/// The seeds, named for their corpus files.
pub fn seed_scenarios() -> Vec<(&'static str, Scenario)> {
    let mut out = Vec::new();

    // Every route boundary from both sides in debug mode (the redzone's 8 bytes move
    // 121 and 4089 to the next route), each written, read back, checked; then frees with
    // the right size, one more, one less (WrongSize naming both), a double free, the
    // largest request and one past it, and a reclaim.
    let mut ops: Vec<Op> = BOUNDARY_SIZES.iter().map(|&s| alloc(s, 0)).collect();
    let n = BOUNDARY_SIZES.len() as u16;
    for h in 0..n {
        ops.push(Op::Write {
            obj: ObjSel::Live(h),
            at: WriteAt::Inside(0),
            len: u16::MAX,
            byte: h as u8 + 1,
        });
    }
    for h in 0..n {
        ops.push(Op::Read {
            obj: ObjSel::Live(h),
            offset: 0,
            len: 300,
        });
        ops.push(check(h));
    }
    ops.push(free(3, SizeSel::Plus(1)));
    ops.push(free(3, SizeSel::Minus(1)));
    for _ in 0..n / 2 {
        ops.push(free(0, SizeSel::Same));
    }
    ops.push(Op::Free {
        obj: ObjSel::Freed(0),
        size: SizeSel::Same,
        cpu: 1,
    });
    ops.push(alloc(MAX_KMEM_SIZE, 1));
    ops.push(alloc(MAX_KMEM_SIZE + 1, 1));
    ops.push(alloc(0, 1));
    ops.push(Op::Reclaim);
    out.push((
        "netbsd-size-classes-debug",
        scenario(true, false, SpanAt::Low, 4096, ops),
    ));

    // Overflows of exactly one byte and of more (the redzone check must see the first
    // clobbered byte), a write of the pattern itself (no clobber), a clobbered free refused
    // (the object stays live), the redzone repaired, then freed.
    let ops = vec![
        alloc(24, 0),
        alloc(200, 0),
        alloc(5000, 1),
        overflow(0, 1, 0x00),
        check(0),
        free(0, SizeSel::Same),
        overflow(0, 1, KMEM_REDZONE_BYTE),
        check(0),
        free(0, SizeSel::Same),
        overflow(0, 1, KMEM_REDZONE_BYTE),
        overflow(0, 16, KMEM_REDZONE_BYTE),
        overflow(1, 1, 0x41),
        check(1),
        overflow(1, 8, 0x41),
        free(1, SizeSel::Same),
        overflow(1, 8, KMEM_REDZONE_BYTE),
        overflow(2, 1, 0x42),
        free(2, SizeSel::Same),
        Op::Read {
            obj: ObjSel::Live(0),
            offset: 0,
            len: 64,
        },
        free(1, SizeSel::Same),
        free(2, SizeSel::Same),
    ];
    out.push((
        "redzone-overflows",
        scenario(true, false, SpanAt::Low, 1024, ops),
    ));

    // Address 0 is an ordinary address: the kernel map starts at 0, the kmem arena imports
    // it, the first quantum cache slab is at 0, its first item is handed out, freed into a
    // magazine and handed out again.
    let ops = vec![
        alloc(8, 0),
        alloc(16, 0),
        free(0, SizeSel::Same),
        alloc(8, 0),
        Op::Check {
            obj: ObjSel::Raw(0),
        },
        Op::Reclaim,
        alloc(8, 1),
        free(0, SizeSel::Same),
        free(0, SizeSel::Same),
        Op::Reclaim,
        alloc(1, 0),
    ];
    out.push((
        "address-zero-through-a-quantum-cache",
        scenario(true, false, SpanAt::Zero, 64, ops),
    ));

    // Guard pages after large objects: an overflow of a whole page lands in the guard, never
    // in another object; reads of the next object show its own bytes.
    let ops = vec![
        alloc(4097, 0),
        alloc(8192, 0),
        alloc(20_000, 1),
        Op::Write {
            obj: ObjSel::Live(1),
            at: WriteAt::Inside(0),
            len: u16::MAX,
            byte: 0x11,
        },
        overflow(0, 4096, 0x22),
        Op::Read {
            obj: ObjSel::Live(1),
            offset: 0,
            len: 8192,
        },
        free(0, SizeSel::Same),
        free(0, SizeSel::Plus(4096)),
        free(0, SizeSel::Same),
        Op::Reclaim,
        alloc(4097, 1),
    ];
    out.push(("guard-pages", scenario(true, true, SpanAt::Low, 1024, ops)));

    // Without debug mode: a free with another size of the same route is accepted (the size
    // cannot be checked: NetBSD's behaviour), another route's is BadFree, a large object's
    // other page count is WrongSize.
    let ops = vec![
        alloc(20, 0),
        alloc(300, 0),
        alloc(10_000, 0),
        free(0, SizeSel::Plus(4)),
        free(0, SizeSel::Plus(300)),
        free(0, SizeSel::Same),
        free(0, SizeSel::Plus(100)),
        free(0, SizeSel::Plus(8000)),
        free(0, SizeSel::Same),
        Op::Check {
            obj: ObjSel::Live(0),
        },
        Op::Reclaim,
    ];
    out.push((
        "non-debug-wrong-sizes",
        scenario(false, false, SpanAt::Low, 1024, ops),
    ));

    // Kernel maps ending at the top of the 32- and the 64-bit space, small enough to run out
    // (NoSpace only after the map refused), then reclaim and allocate again.
    for (name, at) in [
        ("map-at-top-of-32-bit-space", SpanAt::Top32),
        ("map-at-top-of-64-bit-space", SpanAt::Top64),
    ] {
        let mut ops = Vec::new();
        for i in 0..24u64 {
            ops.push(alloc(1 + (i * 997) % 9000, (i % 2) as u8));
        }
        ops.push(alloc(40_000, 0));
        ops.push(alloc(200_000, 0));
        for _ in 0..12 {
            ops.push(free(0, SizeSel::Same));
        }
        ops.push(Op::Reclaim);
        ops.push(alloc(60_000, 1));
        out.push((name, scenario(true, true, at, 40, ops)));
    }

    // A Linux size mix on four CPUs, without debug mode.
    let mut ops = Vec::new();
    for i in 0..96usize {
        ops.push(alloc(
            SLABINFO_SIZES[(i * 7) % SLABINFO_SIZES.len()],
            (i % 4) as u8,
        ));
    }
    for i in 0..48u16 {
        ops.push(Op::Free {
            obj: ObjSel::Live(i * 3),
            size: SizeSel::Same,
            cpu: (i % 4) as u8,
        });
    }
    ops.push(Op::Reclaim);
    let mut mix = scenario(false, false, SpanAt::Low, 8192, ops);
    mix.cpus = 4;
    out.push(("linux-size-mix", mix));
    out
}
