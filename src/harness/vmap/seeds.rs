//! Hand-written seed scenarios: the shapes of Linux's lib/test_vmalloc.c (ANCHORS section 2),
//! scaled to [`crate::harness::MAX_OPS`] ops, and spaces ending at the top of the 32- and
//! 64-bit address spaces (where `addr + size` is 0: Hugh Dickins' question in seed 002).

use super::codec::{IA32_VMALLOC_START, LA57_VMALLOC_START, X86_64_VMALLOC_START};
use super::scenario::{AddrSel, Op, Scenario, WindowSel};
use crate::addr::PAGE_SIZE;

/// A space of `pages` pages from `start`.
fn space(start: u64, pages: u64, lazy_max_pages: u64, ops: Vec<Op>) -> Scenario {
    Scenario {
        start,
        last: start + (pages * PAGE_SIZE - 1),
        lazy_max_pages,
        ops,
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

/// A deterministic pseudo-random sequence (xorshift64), for the random_* shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
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

    // long_busy_list_alloc, scaled: 300 busy one-page areas, then 100- and 1-page requests
    // that must walk past all of them (the O(n) the cache and the tree remove).
    let mut ops = Vec::new();
    for _ in 0..300 {
        ops.push(alloc(1, PAGE_SIZE));
    }
    for _ in 0..10 {
        ops.push(alloc(100, PAGE_SIZE));
        ops.push(alloc(1, PAGE_SIZE));
    }
    out.push((
        "test-vmalloc-long-busy-list",
        space(LA57_VMALLOC_START, 4096, 8192, ops),
    ));

    // random_size_alloc: 1..=100 pages, every third freed again.
    let mut rng = Rng(0x7e57_5a11);
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

    out
}
