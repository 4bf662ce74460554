//! Hand-written seed scenarios: the shapes of Linux's lib/test_vmalloc.c (ANCHORS section 2),
//! scaled to [`crate::harness::MAX_OPS`] ops, and spaces ending at the top of the 32- and
//! 64-bit address spaces (where `addr + size` is 0: Hugh Dickins' question in seed 002).

use super::codec::{IA32_VMALLOC_START, LA57_VMALLOC_START, X86_64_VMALLOC_START};
use super::scenario::{AccessSel, AddrSel, Op, Scenario, WindowSel, MAX_CASE_FRAMES};
use crate::addr::PAGE_SIZE;
use crate::mmu::AccessKind;
use crate::xorshift::XorShift;

/// A space of `pages` pages from `start`, two CPUs, every data frame.
fn space(start: u64, pages: u64, lazy_max_pages: u64, ops: Vec<Op>) -> Scenario {
    Scenario {
        start,
        last: start + (pages * PAGE_SIZE - 1),
        lazy_max_pages,
        cpus: 2,
        alt_mode: false,
        frames: MAX_CASE_FRAMES,
        ops,
    }
}

/// `vmalloc` of `pages` pages, page-aligned, guarded.
fn vmalloc(pages: u64) -> Op {
    Op::Vmalloc {
        size: pages * PAGE_SIZE,
        align: PAGE_SIZE,
        guard: true,
    }
}

/// A read by `cpu` at `addr`.
fn read(cpu: u8, addr: AccessSel) -> Op {
    Op::Access {
        cpu,
        addr,
        kind: AccessKind::Read,
    }
}

/// Page `page` of live area `handle`.
fn live(handle: u16, page: u8) -> AccessSel {
    AccessSel::Live {
        handle,
        page,
        off: 0,
    }
}

/// `alloc` of `pages` pages aligned to `align`, guarded, anywhere.
fn alloc(pages: u64, align: u64) -> Op {
    Op::Alloc {
        size: pages * PAGE_SIZE,
        align,
        window: WindowSel::Whole,
        guard: true,
    }
}

/// The seed scenarios, by name.
pub fn seed_scenarios() -> Vec<(&'static str, Scenario)> {
    let mut out = Vec::new();

    // fix_size_alloc: one page, freed at once, many times; lazy areas pile up below the
    // cache until the limit purges them.
    let mut ops = Vec::new();
    for _ in 0..60 {
        ops.push(alloc(1, PAGE_SIZE));
        ops.push(Op::Free { handle: 0 });
    }
    out.push((
        "test-vmalloc-fix-size",
        space(IA32_VMALLOC_START, 256, 32, ops),
    ));

    // full_fit_alloc: interleaved one-page allocations without guards, every other one
    // freed, then requests that fit only the holes once they are purged.
    let mut ops = Vec::new();
    for _ in 0..40 {
        ops.push(Op::Alloc {
            size: PAGE_SIZE,
            align: PAGE_SIZE,
            window: WindowSel::Whole,
            guard: false,
        });
    }
    for i in (0..20u16).rev() {
        ops.push(Op::Free { handle: 2 * i });
    }
    ops.push(Op::Purge);
    for _ in 0..25 {
        ops.push(Op::Alloc {
            size: PAGE_SIZE,
            align: PAGE_SIZE,
            window: WindowSel::Whole,
            guard: false,
        });
    }
    out.push((
        "test-vmalloc-full-fit",
        space(X86_64_VMALLOC_START, 40, 1 << 20, ops),
    ));

    // long_busy_list_alloc at its real size: a 100-page area, a 1-page one, then 15,000
    // one-page areas in one fill; the 100-page area is freed (a hole the fill did not see),
    // then 100- and 1-page areas are allocated and freed again and again: every 1-page
    // search walks past the whole busy list (the O(n) the cache and the tree remove), and
    // the lazy backlog grows until a free (Linux's limit for 2 CPUs) or an allocation that
    // finds no room purges it.
    let busy = 15_000;
    let mut ops = vec![
        alloc(100, PAGE_SIZE),
        alloc(1, PAGE_SIZE),
        Op::Fill {
            count: busy,
            size: PAGE_SIZE,
            align: PAGE_SIZE,
            window: WindowSel::Whole,
            guard: true,
        },
        Op::Free { handle: 0 },
    ];
    while ops.len() + 4 <= crate::harness::MAX_OPS {
        ops.push(alloc(100, PAGE_SIZE));
        ops.push(alloc(1, PAGE_SIZE));
        // The two newest live areas sit after ptr_2 and the busy list.
        ops.push(Op::Free { handle: busy + 1 });
        ops.push(Op::Free { handle: busy + 1 });
    }
    out.push((
        "test-vmalloc-long-busy-list",
        space(LA57_VMALLOC_START, 32_768, 8192, ops),
    ));

    // random_size_alloc: 1..=100 pages, every third freed again.
    let mut rng = XorShift::new(0x7e57_5a11);
    let mut ops = Vec::new();
    for i in 0..150 {
        ops.push(alloc(1 + rng.next() % 100, PAGE_SIZE));
        if i % 3 == 2 {
            ops.push(Op::Free {
                handle: (rng.next() % 64) as u16,
            });
        }
    }
    out.push((
        "test-vmalloc-random-size",
        space(X86_64_VMALLOC_START, 4096, 512, ops),
    ));

    // fix_align_alloc and random_size_align_alloc: align 1 << (rnd % 23) (the cache's
    // restart must re-align: seed 002's BUG_ON), 1..=10 pages.
    let mut ops = Vec::new();
    for _ in 0..40 {
        ops.push(alloc(3, 1 << 16));
    }
    for _ in 0..120 {
        let align = 1u64 << (rng.next() % 23);
        ops.push(alloc(1 + rng.next() % 10, align));
        if rng.next().is_multiple_of(4) {
            ops.push(Op::Free {
                handle: (rng.next() % 32) as u16,
            });
        }
    }
    out.push((
        "test-vmalloc-random-size-align",
        space(IA32_VMALLOC_START, 2048, 64, ops),
    ));

    // align_shift_alloc: align 1 << i for every i; the huge ones fail cleanly (NoSpace).
    let ops = (0..64).map(|i| alloc(1, 1 << i)).collect();
    out.push((
        "test-vmalloc-align-shift",
        space(X86_64_VMALLOC_START, 1024, 64, ops),
    ));

    // The top of the 32-bit space: an exact fit ending at 0xffff_ffff with its guard page,
    // one page too many, then frees, a double free and a purge.
    let top32 = 0x1_0000_0000 - 16 * PAGE_SIZE;
    let ops = vec![
        alloc(16, PAGE_SIZE),
        alloc(15, PAGE_SIZE),
        Op::Alloc {
            size: 16 * PAGE_SIZE,
            align: PAGE_SIZE,
            window: WindowSel::Whole,
            guard: false,
        },
        alloc(14, PAGE_SIZE),
        Op::Free { handle: 0 },
        Op::FreeAt {
            addr: AddrSel::Lazy { index: 0 },
        },
        alloc(1, PAGE_SIZE),
        Op::Purge,
        alloc(1, PAGE_SIZE),
        alloc(14, PAGE_SIZE),
    ];
    out.push(("top-of-32-bit-space", space(top32, 16, 1 << 20, ops)));

    // The top of the 64-bit space: start + extent is 2^64; windows at the very end.
    let top64 = u64::MAX - (16 * PAGE_SIZE - 1);
    let ops = vec![
        Op::Alloc {
            size: 2 * PAGE_SIZE,
            align: PAGE_SIZE,
            window: WindowSel::Tail { pages: 3 },
            guard: true,
        },
        Op::Alloc {
            size: PAGE_SIZE,
            align: PAGE_SIZE,
            window: WindowSel::Tail { pages: 3 },
            guard: true,
        },
        alloc(13, PAGE_SIZE),
        alloc(12, PAGE_SIZE),
        Op::FreeAt {
            addr: AddrSel::Live {
                handle: 0,
                pages: 1,
            },
        },
        Op::FreeAt {
            addr: AddrSel::Raw(!(PAGE_SIZE - 1)),
        },
        Op::Free { handle: 0 },
        alloc(3, PAGE_SIZE),
        Op::Alloc {
            size: u64::MAX,
            align: PAGE_SIZE,
            window: WindowSel::Whole,
            guard: true,
        },
        Op::Alloc {
            size: PAGE_SIZE,
            align: 1 << 63,
            window: WindowSel::Whole,
            guard: false,
        },
    ];
    out.push(("top-of-64-bit-space", space(top64, 16, 0, ops)));

    vmalloc_seeds(&mut out);
    out
}

/// The vmalloc layer's seeds: accesses from several CPUs before and after a purge, guard
/// pages, a range reused after its purge, running out of frames, the top of the 64-bit space.
fn vmalloc_seeds(out: &mut Vec<(&'static str, Scenario)>) {
    // Three CPUs load both pages of an area; it is vfree'd: CPUs 1 and 2 may still hit their
    // stale entries (to the old frames), CPU 0 never loaded page 1; the purge flushes all
    // three, then the range is handed out again and translates to new frames only.
    let mut ops = vec![vmalloc(2), vmalloc(2)];
    for cpu in 0..3 {
        ops.push(read(cpu, live(0, cpu.min(1))));
    }
    ops.push(Op::Access {
        cpu: 2,
        addr: live(0, 1),
        kind: AccessKind::Write,
    });
    ops.push(Op::Vfree { handle: 0 });
    for cpu in 0..3 {
        for page in 0..2 {
            ops.push(read(cpu, AccessSel::Lazy { index: 0, page }));
        }
    }
    ops.push(Op::Access {
        cpu: 2,
        addr: AccessSel::Lazy { index: 0, page: 1 },
        kind: AccessKind::Write,
    });
    ops.push(Op::Purge);
    for cpu in 0..3 {
        ops.push(read(cpu, AccessSel::Freed { index: 0 }));
    }
    ops.push(vmalloc(2));
    for cpu in 0..3 {
        ops.push(read(cpu, AccessSel::Freed { index: 0 }));
        ops.push(read(cpu, AccessSel::Freed { index: 1 }));
    }
    ops.push(Op::Access {
        cpu: 1,
        addr: live(1, 0),
        kind: AccessKind::Execute,
    });
    let mut s = space(X86_64_VMALLOC_START, 64, 1 << 10, ops);
    s.cpus = 3;
    out.push(("vmalloc-stale-until-purge", s));

    // Guard pages fault on every CPU, before and after their areas' neighbours are freed;
    // areas without a guard page touch; writes up to the last byte of an area (PAE).
    let mut ops = vec![
        vmalloc(1),
        vmalloc(3),
        Op::Vmalloc {
            size: PAGE_SIZE + 1,
            align: 4 * PAGE_SIZE,
            guard: false,
        },
        vmalloc(1),
    ];
    for handle in 0..4 {
        for cpu in 0..4 {
            ops.push(read(cpu, AccessSel::Guard { handle }));
        }
        ops.push(Op::Access {
            cpu: handle as u8,
            addr: AccessSel::Live {
                handle,
                page: 2,
                off: 0xff,
            },
            kind: AccessKind::Write,
        });
    }
    ops.push(Op::Vfree { handle: 1 });
    ops.push(read(3, AccessSel::Guard { handle: 0 }));
    ops.push(read(3, AccessSel::Lazy { index: 0, page: 2 }));
    let mut s = space(IA32_VMALLOC_START, 32, 1 << 10, ops);
    (s.cpus, s.alt_mode) = (4, true);
    out.push(("vmalloc-guard-pages", s));

    // A full space: the vmalloc that finds no room purges and retries, reusing the range of
    // the area two CPUs still had entries for; a free past the lazy limit purges too (LA57).
    let mut ops = vec![vmalloc(3), vmalloc(3)];
    for cpu in 0..4 {
        ops.push(read(cpu, live(0, cpu)));
        ops.push(read(cpu, live(1, cpu)));
    }
    ops.push(Op::Vfree { handle: 0 });
    ops.push(read(1, AccessSel::Lazy { index: 0, page: 1 }));
    ops.push(vmalloc(3));
    for cpu in 0..4 {
        ops.push(read(cpu, live(1, cpu)));
        ops.push(read(cpu, AccessSel::Freed { index: cpu }));
    }
    ops.push(Op::Vfree { handle: 0 });
    ops.push(Op::Vfree { handle: 0 });
    for cpu in 0..4 {
        ops.push(read(cpu, AccessSel::Freed { index: cpu }));
    }
    ops.push(vmalloc(2));
    ops.push(read(3, live(0, 1)));
    let mut s = space(LA57_VMALLOC_START, 8, 6, ops);
    s.cpus = 4;
    out.push(("vmalloc-reuse-after-purge", s));

    // Eight frames: a vmalloc the frames cannot back changes nothing; a vfree gives its
    // frames back at once (before the purge); reserved areas take no frame.
    let ops = vec![
        vmalloc(4),
        vmalloc(3),
        vmalloc(2),
        Op::Alloc {
            size: 16 * PAGE_SIZE,
            align: PAGE_SIZE,
            window: WindowSel::Whole,
            guard: true,
        },
        read(0, live(2, 3)),
        Op::Vfree { handle: 0 },
        vmalloc(5),
        read(1, live(3, 4)),
        read(1, AccessSel::Raw(0x1234)),
        read(0, AccessSel::Raw(0x8000_0000_0000_0000)),
    ];
    let mut s = space(X86_64_VMALLOC_START, 128, 1 << 10, ops);
    s.frames = 8;
    out.push(("vmalloc-out-of-frames", s));

    // The top of the 64-bit space: the last page below 2^64 mapped, its guard page the very
    // last page; the purge's flush reaches u64::MAX.
    let top64 = u64::MAX - (8 * PAGE_SIZE - 1);
    let ops = vec![
        vmalloc(3),
        vmalloc(3),
        read(0, live(1, 2)),
        read(1, live(1, 2)),
        read(1, AccessSel::Raw(u64::MAX)),
        Op::Vfree { handle: 1 },
        read(1, AccessSel::Lazy { index: 0, page: 2 }),
        read(0, AccessSel::Guard { handle: 0 }),
        Op::Purge,
        read(1, AccessSel::Raw(u64::MAX - PAGE_SIZE)),
        vmalloc(3),
        read(1, AccessSel::Raw(u64::MAX - PAGE_SIZE)),
    ];
    out.push(("vmalloc-top-of-64-bit-space", space(top64, 8, 64, ops)));
}
