//! The hand-written seed scenarios of the `vmem` target (`kvafuzz seeds`, the corpus).

use super::adapter::Level;
use super::scenario::{AddrSel, Bound, Edge, EdgeAt, ImportShape, Op, Scenario, NO_PARAMS};
use crate::addr::Arch;
use crate::vmem::{Policy, Request, ALL_POLICIES};

/// Hand-written seed scenarios for the corpus: NetBSD's userland test spans and the
/// top-of-the-32-bit-space edge cases (ANCHORS section 1), on a quantum-1 IA-32 arena.
pub fn seed_scenarios() -> Vec<(&'static str, Scenario)> {
    let add = |base: u64, size: u64| Op::AddSpan {
        level: Level::ARENA,
        base,
        size,
    };
    let x = |size, minaddr, maxaddr| Op::Alloc {
        level: Level::ARENA,
        req: Request {
            minaddr,
            maxaddr,
            ..Request::size(size)
        },
        edge: None,
        policy: Policy::InstantFit,
    };
    let xe = |size, edge, policy| Op::Alloc {
        level: Level::ARENA,
        req: Request::size(size),
        edge: Some(edge),
        policy,
    };
    let edge = |bound, at, byte| Edge {
        bound,
        at,
        quanta: 0,
        byte,
    };
    let netbsd_spans = vec![
        add(0, 50),
        add(100, 200),
        add(500, 1000),
        add(2000, 1),
        add(10000, 10000),
        add(40000, 65536),
        add(0xFFFF_FF00, 0x100),
    ];
    let mut top = netbsd_spans.clone();
    top.extend([
        add(0xFFFF_FF00, 0x101), // past the top (checked before the overlap)
        x(0x101, 0xFFFF_FF00, 0xFFFF_FFFF), // must fail: too big
        x(0x100, 0xFFFF_FF01, 0xFFFF_FFFE), // must fail: window too small
        x(0x100, 0xFFFF_FF00, 0xFFFF_FFFF), // must succeed: exactly the top span
        Op::Free { handle: 0 },
        Op::AllocAt {
            addr: AddrSel::Raw(0),
            size: 50,
        },
        Op::FreeAt {
            level: Level::ARENA,
            addr: AddrSel::Raw(0),
            size: 49,
        },
        Op::Free { handle: 0 },
        Op::FreeAt {
            level: Level::ARENA,
            addr: AddrSel::Freed { index: 0 },
            size: 50,
        },
    ]);
    let ia32 = |ops| Scenario {
        params: NO_PARAMS,
        arch: Arch::Ia32,
        quantum_shift: 0,
        imports: Vec::new(),
        ops,
    };
    // Bounds exactly at segment edges (module [`Edge`]): each request's only placements end
    // at its maxaddr or start at its minaddr.
    let mut edges = netbsd_spans.clone();
    let first = |size| Op::AllocSize {
        size,
        policy: Policy::FirstFit,
    };
    edges.extend([
        first(10),              // live[0] = [0, 10)
        first(20),              // live[1] = [10, 30)
        Op::Free { handle: 0 }, // [0, 10) free again; live[0] = [10, 30)
        // max = 9, the last byte of the free [0, 10): it fits exactly (live[1]).
        xe(
            10,
            edge(Bound::Max, EdgeAt::LiveStart(0), -1),
            Policy::BestFit,
        ),
        // min = 30, right after [10, 30): the rest of span 0 (live[2]).
        xe(
            20,
            edge(Bound::Min, EdgeAt::LiveEnd(0), 0),
            Policy::FirstFit,
        ),
        // The last 0x100 bytes below the top of the space, then its very last byte again.
        xe(
            0x100,
            edge(Bound::Max, EdgeAt::SpanEnd(6), -1),
            Policy::InstantFit,
        ),
        Op::Free { handle: 3 },
        xe(1, edge(Bound::Min, EdgeAt::SpanEnd(6), -1), Policy::NextFit),
        // [0, 10) is taken now: nothing ends at or below max = 9.
        xe(
            10,
            edge(Bound::Max, EdgeAt::LiveStart(0), -1),
            Policy::BestFit,
        ),
    ]);
    let mut mixed = netbsd_spans;
    for (i, size) in [1u64, 7, 49, 64, 100, 1000, 0x100, 65536]
        .into_iter()
        .enumerate()
    {
        let policy = ALL_POLICIES[i % 4];
        mixed.push(Op::Alloc {
            level: Level::ARENA,
            req: Request {
                align: 1 << (i * 2 % 15),
                nocross: if i % 3 == 0 { 0 } else { 1 << 16 },
                ..Request::size(size)
            },
            edge: None,
            policy,
        });
    }
    mixed.extend([Op::Free { handle: 3 }, Op::Free { handle: 1 }]);
    let import = Scenario {
        params: NO_PARAMS,
        arch: Arch::X86_64,
        quantum_shift: 12,
        imports: vec![ImportShape {
            source_shift: 12,
            import_shift: 16,
        }],
        ops: vec![
            Op::AddSpan {
                level: Level::SOURCE,
                base: 0xFFFF_FFFF_0000_0000,
                size: 0x1_0000_0000,
            },
            x(0x3000, 0, u64::MAX),
            x(0x20000, 0xFFFF_FFFF_FFF0_0000, u64::MAX),
            Op::Free { handle: 0 },
            Op::Free { handle: 0 },
        ],
    };
    // Every typed error of every operation, once (IA-32, 4 KiB quantum; the hole needs
    // x86_64, below).
    let span = |base, size| Op::AddSpan {
        level: Level::ARENA,
        base,
        size,
    };
    let xr = |req: Request| Op::Alloc {
        level: Level::ARENA,
        req,
        edge: None,
        policy: Policy::FirstFit,
    };
    let size = Request::size;
    let at = |addr, size| Op::AllocAt {
        addr: AddrSel::Raw(addr),
        size,
    };
    let free_at = |addr, size| Op::FreeAt {
        level: Level::ARENA,
        addr,
        size,
    };
    let errors = Scenario {
        params: NO_PARAMS,
        arch: Arch::Ia32,
        quantum_shift: 12,
        imports: Vec::new(),
        ops: vec![
            span(0x1_0000, 0),              // ZeroSize
            span(u64::MAX - 0xFFF, 0x2000), // Wraps
            span(0xFFFF_F000, 0x2000),      // PastTop
            span(0x1_0800, 0x1000),         // Misaligned
            span(0x1_0000, 0x1_0000),       // ok
            span(0x1_8000, 0x1_0000),       // Overlaps(0x10000)
            span(0x8000, 0x1_0000),         // Overlaps(0x10000), from below
            xr(size(0)),                    // ZeroSize
            Op::AllocSize {
                size: 0,
                policy: Policy::BestFit,
            }, // ZeroSize, through alloc
            Op::AllocSize {
                size: u64::MAX,
                policy: Policy::InstantFit,
            }, // SizeOverflow, through alloc
            xr(size(u64::MAX)),             // SizeOverflow
            xr(Request {
                align: 0x1800,
                ..size(0x1000)
            }), // BadAlign: not a power of two
            xr(Request {
                align: 0x800,
                ..size(0x1000)
            }), // BadAlign: below the quantum
            xr(Request {
                align: 0x2000,
                phase: 0x800,
                ..size(0x1000)
            }), // BadPhase
            xr(Request {
                align: 0x2000,
                phase: 0x2000,
                ..size(0x1000)
            }), // BadPhase
            xr(Request {
                nocross: 0x3000,
                ..size(0x1000)
            }), // BadNocross
            xr(Request {
                minaddr: 0x2_0000,
                maxaddr: 0x1_ffff,
                ..size(0x1000)
            }), // BadBounds
            xr(Request {
                nocross: 0x1000,
                ..size(0x2000)
            }), // Overconstrained
            xr(Request {
                align: 0x4000,
                nocross: 0x2000,
                ..size(0x1000)
            }), // Overconstrained
            xr(size(0x2_0000)),             // NoSpace
            at(0x1_0000, 0),                // ZeroSize
            at(0x1_0000, u64::MAX),         // SizeOverflow
            at(0x1_0800, 0x1000),           // Misaligned
            at(u64::MAX - 0xFFF, 0x2000),   // Wraps
            at(0xFFFF_F000, 0x2000),        // PastTop
            at(0x1_f000, 0x2000),           // NoSpace: past the span's end
            xr(size(0x1000)),               // ok: live[0] = 0x10000
            free_at(AddrSel::Raw(0x1_0000), 0), // ZeroSize
            free_at(AddrSel::Raw(0x1_0000), 0x2000), // WrongSize(0x1000)
            free_at(AddrSel::Raw(0x1_1000), 0x1000), // BadFree: never allocated
            free_at(AddrSel::Raw(0x1_0000), 0x800), // ok: rounds up to the size
            free_at(AddrSel::Freed { index: 0 }, 0x1000), // BadFree: double free
        ],
    };
    let hole = Scenario {
        params: NO_PARAMS,
        arch: Arch::X86_64,
        quantum_shift: 12,
        imports: Vec::new(),
        ops: vec![
            span(0x7FFF_FFFF_F000, 0x2000),    // NonCanonical: covers the hole
            span(0x8000_0000_0000, 0x1000),    // NonCanonical: inside it
            span(0x7FFF_FFFF_0000, 0x1_0000),  // ok: ends at the hole
            at(0x7FFF_FFFF_F000, 0x2000),      // NonCanonical
            at(0xFFFF_7FFF_FFFF_F000, 0x1000), // NonCanonical
            at(0x7FFF_FFFF_F000, 0x1000),      // ok: the last page below the hole
        ],
    };
    // Two touching spans stay two: nothing straddles their boundary, even after the first is
    // freed whole (a buddy allocator fed both ranges merges them).
    let touching = Scenario {
        params: NO_PARAMS,
        arch: Arch::Ia32,
        quantum_shift: 0,
        imports: Vec::new(),
        ops: vec![
            span(0, 32),
            span(32, 32),
            Op::AllocSize {
                size: 32,
                policy: Policy::FirstFit,
            },
            Op::Free { handle: 0 },
            Op::AllocSize {
                size: 64,
                policy: Policy::InstantFit,
            }, // NoSpace
            at(16, 32), // NoSpace: straddles
            Op::AllocSize {
                size: 32,
                policy: Policy::BestFit,
            },
            Op::AllocSize {
                size: 32,
                policy: Policy::BestFit,
            },
        ],
    };
    // Four levels, as deep as a chain goes, each rounding its imports up further: the first
    // allocation imports through every level (16 KiB from the source, which imports 32 KiB
    // from source2, which imports 64 KiB from source3, whose quantum is 2 KiB); the second
    // fits in the arena's span; one made at the source imports through source2. Freeing the
    // arena's two releases three spans, one level after the other; freeing the source's, two.
    let level = |i| Level::new(i).expect("a level of the chain");
    let cascade = Scenario {
        params: NO_PARAMS,
        arch: Arch::Ia32,
        quantum_shift: 12,
        imports: [(12, 14), (12, 15), (11, 16)]
            .into_iter()
            .map(|(source_shift, import_shift)| ImportShape {
                source_shift,
                import_shift,
            })
            .collect(),
        ops: vec![
            Op::AddSpan {
                level: level(3),
                base: 0x4000_0000,
                size: 0x1000_0000,
            },
            x(0x2000, 0, u64::MAX),
            Op::AllocSize {
                size: 0x1000,
                policy: Policy::FirstFit,
            },
            Op::Alloc {
                level: Level::SOURCE,
                req: Request::size(0x20_0000),
                edge: None,
                policy: Policy::InstantFit,
            },
            Op::Free { handle: 0 },
            Op::Free { handle: 0 },
            Op::Free { handle: 0 },
        ],
    };
    vec![
        ("every-error-of-every-op", errors),
        ("touching-spans-never-merge", touching),
        ("x86_64-canonical-hole", hole),
        ("netbsd-top-of-32-bit-space", ia32(top)),
        ("netbsd-spans-mixed-constraints", ia32(mixed)),
        ("bounds-at-segment-edges", ia32(edges)),
        ("x86_64-import-top-of-upper-half", import),
        ("import-cascades-through-four-levels", cascade),
    ]
}
