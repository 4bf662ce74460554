//! Unit tests of the kmem oracle: routes and chunks at every boundary (against a hand table
//! and a second, brute-force formulation), guard ranges, every predicted error in both modes,
//! redzones, the edges of the address space, and the verdicts for wrong answers.

use super::*;

const P: u64 = PAGE_SIZE;
const TOP_PAGE: u64 = u64::MAX - (P - 1);

fn model(debug: bool, guard: bool) -> KmemModel {
    KmemModel::new(debug, guard, 2)
}

/// A successful alloc the model must accept.
#[track_caller]
fn put(m: &mut KmemModel, size: u64, addr: u64) {
    m.alloc(size, 0, Ok(addr), false).unwrap();
    m.self_check().unwrap();
}

/// An alloc answer the model must refuse with `check`, staying unchanged.
#[track_caller]
fn refuse_alloc(m: &mut KmemModel, size: u64, actual: Result<u64, KmemAllocErrorKind>) -> Check {
    let before = m.clone();
    let v = m.alloc(size, 0, actual, false).unwrap_err();
    assert_eq!(*m, before, "a verdict must leave the model unchanged");
    v.check
}

/// A free whose predicted result is `want`, answered `want` (accepted and applied).
#[track_caller]
fn free_as(m: &mut KmemModel, addr: u64, size: u64, want: Result<(), KmemFreeErrorKind>) {
    assert_eq!(m.predict_free(addr, size, 0), want);
    let before = m.clone();
    m.free(addr, size, 0, want).unwrap();
    if want.is_err() {
        assert_eq!(*m, before, "a failed free changes nothing");
    }
    m.self_check().unwrap();
}

/// A free answer the model must refuse with `check`, staying unchanged.
#[track_caller]
fn refuse_free(
    m: &mut KmemModel,
    addr: u64,
    size: u64,
    actual: Result<(), KmemFreeErrorKind>,
) -> Check {
    let before = m.clone();
    let v = m.free(addr, size, 0, actual).unwrap_err();
    assert_eq!(*m, before, "a verdict must leave the model unchanged");
    v.check
}

#[track_caller]
fn write(m: &mut KmemModel, addr: u64, bytes: &[u8]) {
    m.write(addr, bytes, Ok(())).unwrap();
}

/// The model's bytes at `[addr, addr + len)`.
fn bytes(m: &KmemModel, addr: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    m.memory().read(addr, &mut out).unwrap();
    out
}

// ---- routes and chunks ------------------------------------------------------------------

#[test]
fn routes_and_chunks_at_every_boundary() {
    use Route::{Class, Large, Quantum};
    const M: u64 = MAX_KMEM_SIZE;
    // (size, debug, route, chunk), by hand.
    let table: &[(u64, bool, Route, u64)] = &[
        (1, false, Quantum(1), 8),
        (8, false, Quantum(1), 8),
        (9, false, Quantum(2), 16),
        (120, false, Quantum(15), 120),
        (121, false, Quantum(16), 128),
        (128, false, Quantum(16), 128),
        (129, false, Class(256), 256),
        (256, false, Class(256), 256),
        (257, false, Class(512), 512),
        (1024, false, Class(1024), 1024),
        (1025, false, Class(2048), 2048),
        (4088, false, Class(4096), 4096),
        (4089, false, Class(4096), 4096),
        (4096, false, Class(4096), 4096),
        (4097, false, Large, 8192),
        (8192, false, Large, 8192),
        (8193, false, Large, 12288),
        (M, false, Large, M),
        // debug: s = size + 8
        (1, true, Quantum(2), 16),
        (8, true, Quantum(2), 16),
        (9, true, Quantum(3), 24),
        (120, true, Quantum(16), 128),
        (121, true, Class(256), 256),
        (128, true, Class(256), 256),
        (129, true, Class(256), 256),
        (248, true, Class(256), 256),
        (249, true, Class(512), 512),
        (256, true, Class(512), 512),
        (257, true, Class(512), 512),
        (4088, true, Class(4096), 4096),
        (4089, true, Large, 8192),
        (4096, true, Large, 8192),
        (4097, true, Large, 8192),
        (8184, true, Large, 8192),
        (8185, true, Large, 12288),
        (M, true, Large, M + P),
    ];
    for &(size, debug, route, chunk) in table {
        for guard in [false, true] {
            let s = Shape::of(size, debug, guard).unwrap();
            assert_eq!(
                (s.route, s.chunk),
                (route, chunk),
                "size {size} debug {debug}"
            );
            assert_eq!(s.padded, size + if debug { 8 } else { 0 });
            assert_eq!(s.guard, guard && route == Large);
            assert_eq!(s.extent(), chunk + if s.guard { P } else { 0 });
        }
    }
    for debug in [false, true] {
        assert_eq!(Shape::of(0, debug, false), None);
        assert_eq!(Shape::of(M + 1, debug, false), None);
        assert_eq!(Shape::of(u64::MAX, debug, true), None);
    }
    assert_eq!(route(0), None);
    assert_eq!(route(u64::MAX), Some(Large));
    assert_eq!(QCACHE_MAX, 128);
    assert_eq!(Route::all().len(), 16 + 5 + 1);
}

#[test]
fn chunks_agree_with_a_list_of_candidates() {
    // Every chunk a small object can have, smallest first: the cache items, then the classes.
    let mut candidates: Vec<u64> = (1..=16).map(|k| 8 * k).collect();
    candidates.extend([256, 512, 1024, 2048, 4096]);
    for s in 1..=3 * P + 1 {
        let want = candidates
            .iter()
            .copied()
            .find(|&c| c >= s)
            .unwrap_or(s.div_ceil(P) * P);
        let shape = Shape::of(s, false, false).unwrap();
        assert_eq!(shape.chunk, want, "s = {s}");
        assert!(shape.chunk >= s && shape.chunk.is_multiple_of(shape.route.align()));
        if s > 8 {
            let debug = Shape::of(s - 8, true, false).unwrap();
            assert_eq!((debug.route, debug.chunk), (shape.route, shape.chunk));
        }
    }
}

// ---- alloc ------------------------------------------------------------------------------

#[test]
fn alloc_argument_errors_in_order_in_both_modes() {
    use KmemAllocErrorKind::{BadCpu, NoSpace, TooBig, ZeroSize};
    for debug in [false, true] {
        let mut m = model(debug, true);
        for (size, cpu, want) in [
            (0, 0, ZeroSize),
            (0, 9, ZeroSize),
            (MAX_KMEM_SIZE + 1, 0, TooBig),
            (u64::MAX, 9, TooBig),
            (1, 2, BadCpu),
            (MAX_KMEM_SIZE, 255, BadCpu),
        ] {
            assert_eq!(m.predict_alloc_args(size, cpu), Err(want));
            m.alloc(size, cpu, Err(want), false).unwrap();
            // Another error, an address, NoSpace: all wrong.
            for wrong in [Err(ZeroSize), Err(TooBig), Err(BadCpu), Err(NoSpace), Ok(0)] {
                if wrong != Err(want) {
                    let v = m.alloc(size, cpu, wrong, true).unwrap_err();
                    assert_eq!(v.check, Check::AllocResult, "{v}");
                }
            }
            // The right error, but the map was asked.
            let v = m.alloc(size, cpu, Err(want), true).unwrap_err();
            assert_eq!(v.check, Check::ImportOnArgError);
        }
        assert!(m.live().is_empty());
        assert!(m.predict_alloc_args(MAX_KMEM_SIZE, 1).is_ok());
    }
}

#[test]
fn no_space_only_after_a_refused_import() {
    use KmemAllocErrorKind::{BadCpu, NoSpace, TooBig, ZeroSize};
    let mut m = model(true, false);
    assert_eq!(
        refuse_alloc(&mut m, 64, Err(NoSpace)),
        Check::NoSpaceWithoutRefusal
    );
    m.alloc(64, 0, Err(NoSpace), true).unwrap();
    assert!(m.live().is_empty());
    // A success despite a refusal is accepted (the layers may retry).
    m.alloc(64, 1, Ok(0x1000), true).unwrap();
    assert_eq!(m.live().len(), 1);
    for wrong in [ZeroSize, TooBig, BadCpu] {
        assert_eq!(refuse_alloc(&mut m, 64, Err(wrong)), Check::AllocResult);
    }
}

#[test]
fn alignment_per_route() {
    let mut m = model(false, false);
    put(&mut m, 1, 8);
    put(&mut m, 200, 0x108); // class items: 8-aligned
    assert_eq!(refuse_alloc(&mut m, 16, Ok(0x204)), Check::Misaligned);
    assert_eq!(refuse_alloc(&mut m, 5000, Ok(0x3008)), Check::Misaligned);
    assert_eq!(refuse_alloc(&mut m, 5000, Ok(0x800)), Check::Misaligned);
    put(&mut m, 5000, 0x3000);
}

#[test]
fn objects_are_disjoint() {
    let mut m = model(true, false);
    put(&mut m, 20, 0x100); // chunk 32: [0x100, 0x11f]
    put(&mut m, 300, 0x200); // class 512: [0x200, 0x3ff]

    // Size 20 in debug mode: chunk 32. Same start, inside, across either end of either.
    for addr in [0x100, 0x118, 0xf8, 0xe8, 0x3f8, 0x1f8] {
        assert_eq!(
            refuse_alloc(&mut m, 20, Ok(addr)),
            Check::Overlap,
            "{addr:#x}"
        );
    }
    put(&mut m, 20, 0xe0); // ends at 0xff: touches, shares nothing
    put(&mut m, 20, 0x120);
    put(&mut m, 20, 0x400);
    assert_eq!(m.live().len(), 5);
    assert!(m.live().windows(2).all(|w| w[0].addr < w[1].addr));
}

#[test]
fn guard_ranges() {
    let mut m = model(false, true);
    put(&mut m, 4097, 0x10000);
    let o = *m.object_at(0x10000).unwrap();
    assert_eq!(o.chunk, 2 * P);
    assert_eq!(
        o.guard,
        Some(Range {
            first: 0x12000,
            last: 0x12fff
        })
    );
    assert_eq!(
        m.owner(0x12000).map(|(o, p)| (o.addr, p)),
        Some((0x10000, Part::Guard))
    );
    assert_eq!(m.owner(0x11fff).map(|(_, p)| p), Some(Part::Chunk));
    assert_eq!(m.owner(0x13000), None);
    // Small objects have no guard range, even in guard mode.
    put(&mut m, 100, 0x20000);
    assert_eq!(m.object_at(0x20000).unwrap().guard, None);
    // Nothing may land in a guard range...
    assert_eq!(refuse_alloc(&mut m, 8, Ok(0x12000)), Check::GuardOverlap);
    assert_eq!(refuse_alloc(&mut m, 8, Ok(0x12ff8)), Check::GuardOverlap);
    assert_eq!(refuse_alloc(&mut m, 5000, Ok(0x12000)), Check::GuardOverlap);
    // ...and a new guard range may not cover a live chunk or guard range.
    assert_eq!(refuse_alloc(&mut m, 5000, Ok(0xe000)), Check::GuardOverlap);
    assert_eq!(refuse_alloc(&mut m, 5000, Ok(0x1e000)), Check::GuardOverlap);
    // A chunk ending right below a live object, its guard range then covering the object.
    assert_eq!(refuse_alloc(&mut m, 3 * P, Ok(0xd000)), Check::GuardOverlap);
    // One page lower, its guard range ends right below the live object: fine.
    put(&mut m, 2 * P, 0xd000);
    assert_eq!(
        m.object_at(0xd000).unwrap().guard,
        Some(Range {
            first: 0xf000,
            last: 0xffff
        })
    );
    // Right after a guard range: fine.
    put(&mut m, 1, 0x13000);
}

#[test]
fn guard_mode_off_means_no_guard_range() {
    let mut m = model(true, false);
    put(&mut m, 4097, 0x10000);
    assert_eq!(m.object_at(0x10000).unwrap().guard, None);
    put(&mut m, 1, 0x12000);
}

#[test]
fn address_zero_is_ordinary() {
    for debug in [false, true] {
        let mut m = model(debug, true);
        put(&mut m, 1, 0);
        assert_eq!(m.object_at(0).map(|o| o.addr), Some(0));
        write(&mut m, 0, &[7]);
        m.read(0, 1, Ok(&[7])).unwrap();
        m.check(
            0,
            if debug {
                Ok(())
            } else {
                Err(KmemCheckErrorKind::NotLive)
            },
        )
        .unwrap();
        free_as(&mut m, 0, 1, Ok(()));
        put(&mut m, 9000, 0);
        m.check(0, Ok(())).unwrap();
        free_as(&mut m, 0, 9000, Ok(()));
        assert!(m.live().is_empty());
    }
}

#[test]
fn objects_at_the_top_of_the_space() {
    // A large object ending exactly at u64::MAX.
    let mut m = model(false, false);
    put(&mut m, 8192, u64::MAX - (2 * P - 1));
    assert_eq!(
        m.object_at(u64::MAX - (2 * P - 1))
            .unwrap()
            .chunk_range()
            .last,
        u64::MAX
    );
    free_as(&mut m, u64::MAX - (2 * P - 1), 8192, Ok(()));
    // One page further up it would wrap.
    assert_eq!(
        refuse_alloc(&mut m, 8192, Ok(TOP_PAGE)),
        Check::ExtentPastTop
    );
    // In guard mode the guard range must fit too: it may end at u64::MAX.
    let mut g = model(true, true);
    assert_eq!(
        refuse_alloc(&mut g, 8000, Ok(u64::MAX - (2 * P - 1))),
        Check::ExtentPastTop
    );
    put(&mut g, 8000, u64::MAX - (3 * P - 1));
    let o = *g.live().first().unwrap();
    assert_eq!(o.guard.unwrap().last, u64::MAX);
    // Nothing may sit in that guard range.
    assert_eq!(
        refuse_alloc(&mut g, 1, Ok(u64::MAX - 15)),
        Check::GuardOverlap
    );
    free_as(&mut g, o.addr, 8000, Ok(()));
    // A small debug object at the very top: its redzone runs to u64::MAX.
    put(&mut g, 1, u64::MAX - 15);
    assert_eq!(bytes(&g, u64::MAX - 14, 15), vec![KMEM_REDZONE_BYTE; 15]);
    g.check(u64::MAX - 15, Ok(())).unwrap();
    write(&mut g, u64::MAX, &[0]);
    g.check(
        u64::MAX - 15,
        Err(KmemCheckErrorKind::Redzone {
            addr: u64::MAX - 15,
            offset: 15,
        }),
    )
    .unwrap();
    // A small object of 8 bytes in the last 8 (non-debug).
    let mut n = model(false, false);
    put(&mut n, 8, u64::MAX - 7);
    assert_eq!(
        refuse_alloc(&mut n, 16, Ok(u64::MAX - 7)),
        Check::ExtentPastTop
    );
}

// ---- free -------------------------------------------------------------------------------

#[test]
fn free_errors_in_debug_mode() {
    use KmemFreeErrorKind::{BadCpu, BadFree, WrongSize, ZeroSize};
    let mut m = model(true, false);
    put(&mut m, 100, 0x1000); // s = 108: cache 14, chunk 112
    free_as(&mut m, 0x1000, 0, Err(ZeroSize));
    assert_eq!(m.predict_free(0x1000, 0, 9), Err(ZeroSize));
    assert_eq!(m.predict_free(0x1000, 100, 2), Err(BadCpu));
    assert_eq!(m.predict_free(0x5000, 100, 2), Err(BadCpu));
    free_as(&mut m, 0x2000, 100, Err(BadFree)); // nothing there
    free_as(&mut m, 0x1008, 100, Err(BadFree)); // interior pointer

    // Another size, even of the same cache (104: s = 112, cache 14), naming both sizes.
    for freed in [104, 99, 101, 1, 5000] {
        free_as(
            &mut m,
            0x1000,
            freed,
            Err(WrongSize {
                allocated: 100,
                freed,
            }),
        );
    }
    free_as(&mut m, 0x1000, 100, Ok(()));
    free_as(&mut m, 0x1000, 100, Err(BadFree)); // double free
                                                // Large objects too.
    put(&mut m, 5000, 0x4000);
    free_as(
        &mut m,
        0x4000,
        8192,
        Err(WrongSize {
            allocated: 5000,
            freed: 8192,
        }),
    );
    free_as(&mut m, 0x4000, 5000, Ok(()));
    assert!(m.live().is_empty());
}

#[test]
fn free_errors_in_non_debug_mode() {
    use KmemFreeErrorKind::{BadCpu, BadFree, WrongSize, ZeroSize};
    let mut m = model(false, true);
    put(&mut m, 9, 0x100); // cache 2
    put(&mut m, 200, 0x200); // class 256
    put(&mut m, 5000, 0x10000); // large, chunk 8192
    free_as(&mut m, 0x100, 0, Err(ZeroSize));
    assert_eq!(m.predict_free(0x100, 0, 2), Err(ZeroSize));
    assert_eq!(m.predict_free(0x100, 9, 2), Err(BadCpu));
    assert_eq!(m.predict_free(0x5000, 9, 2), Err(BadCpu));
    m.free(0x100, 9, 2, Err(BadCpu)).unwrap();
    // Across routes: refused, as a bad free (the size's zone holds no such item).
    free_as(&mut m, 0x100, 8, Err(BadFree)); // cache 1
    free_as(&mut m, 0x100, 17, Err(BadFree)); // cache 3
    free_as(&mut m, 0x100, 200, Err(BadFree)); // class 256
    free_as(&mut m, 0x100, 5000, Err(BadFree)); // large: no large object there
    free_as(&mut m, 0x200, 128, Err(BadFree)); // cache 16
    free_as(&mut m, 0x200, 257, Err(BadFree)); // class 512
    free_as(&mut m, 0x10000, 4096, Err(BadFree)); // class 4096
    free_as(&mut m, 0x10000, 100, Err(BadFree));
    free_as(&mut m, 0x10008, 5000, Err(BadFree)); // interior
                                                  // Large: the page-rounded size must be the chunk.
    for freed in [8193, 12288, MAX_KMEM_SIZE, u64::MAX] {
        free_as(
            &mut m,
            0x10000,
            freed,
            Err(WrongSize {
                allocated: 5000,
                freed,
            }),
        );
    }
    // Within one route a wrong size is accepted (kmem records no small sizes).
    free_as(&mut m, 0x100, 16, Ok(()));
    free_as(&mut m, 0x200, 129, Ok(()));
    free_as(&mut m, 0x10000, 4097, Ok(()));
    assert!(m.live().is_empty());
    free_as(&mut m, 0x100, 9, Err(BadFree)); // double free
}

#[test]
fn non_debug_mode_has_no_redzone() {
    let mut m = model(false, false);
    put(&mut m, 20, 0x100); // chunk 24
    assert_eq!(bytes(&m, 0x114, 4), vec![0; 4]);
    write(&mut m, 0x100, &[0x41; 40]); // overflow into nothing live
    free_as(&mut m, 0x100, 20, Ok(()));
}

// ---- redzones ---------------------------------------------------------------------------

#[test]
fn redzone_is_filled_at_allocation() {
    let mut m = model(true, true);
    // size 20: s = 28, chunk 32; redzone [20, 31]
    put(&mut m, 20, 0x100);
    assert_eq!(bytes(&m, 0x100, 20), vec![0; 20]);
    assert_eq!(bytes(&m, 0x114, 12), vec![KMEM_REDZONE_BYTE; 12]);
    assert_eq!(m.memory().byte(0x120), 0);
    let o = *m.object_at(0x100).unwrap();
    assert_eq!(
        o.redzone(),
        Some(Range {
            first: 0x114,
            last: 0x11f
        })
    );
    // class and large objects
    put(&mut m, 300, 0x200); // class 512: redzone [300, 511]
    assert_eq!(bytes(&m, 0x200 + 300, 212), vec![KMEM_REDZONE_BYTE; 212]);
    put(&mut m, 4089, 0x10000); // large 8192: redzone [4089, 8191], guard after
    assert_eq!(
        bytes(&m, 0x10000 + 4089, 8192 - 4089),
        vec![0xbb; 8192 - 4089]
    );
    assert_eq!(m.memory().byte(0x12000), 0);
    // A redzone fill over old contents replaces them; the object's own bytes keep theirs.
    let mut r = model(true, false);
    write(&mut r, 0x100, &[1; 64]);
    put(&mut r, 8, 0x100); // chunk 16: redzone [8, 15]
    assert_eq!(bytes(&r, 0x100, 16), [[1; 8], [0xbb; 8]].concat());
    assert_eq!(r.memory().byte(0x110), 1);
}

#[test]
fn redzone_verdicts_for_overflows_of_0_1_and_k_bytes() {
    use KmemFreeErrorKind::Redzone;
    for (size, addr) in [(20, 0x100), (300, 0x400), (5000, 0x10000)] {
        for k in [0u64, 1, 5] {
            let mut m = model(true, false);
            put(&mut m, size, addr);
            let data = vec![0x41; (size + k) as usize];
            write(&mut m, addr, &data);
            if k == 0 {
                m.check(addr, Ok(())).unwrap();
                free_as(&mut m, addr, size, Ok(()));
                continue;
            }
            let err = Redzone { addr, offset: size };
            m.check(
                addr,
                Err(KmemCheckErrorKind::Redzone { addr, offset: size }),
            )
            .unwrap();
            free_as(&mut m, addr, size, Err(err));
            free_as(&mut m, addr, size, Err(err)); // still live, still clobbered
            assert_eq!(m.live().len(), 1);
            // Repaired, it frees.
            write(&mut m, addr + size, &vec![KMEM_REDZONE_BYTE; k as usize]);
            free_as(&mut m, addr, size, Ok(()));
        }
    }
}

#[test]
fn writing_the_pattern_is_no_clobber() {
    use KmemFreeErrorKind::Redzone;
    let mut m = model(true, false);
    put(&mut m, 20, 0x100); // redzone [20, 31]
    write(
        &mut m,
        0x100,
        &[[0x41; 20].as_slice(), &[0xbb; 12]].concat(),
    );
    m.check(0x100, Ok(())).unwrap();
    // The first overflow byte equals the pattern, the second does not: offset 21.
    write(&mut m, 0x114, &[0xbb, 0x00]);
    free_as(
        &mut m,
        0x100,
        20,
        Err(Redzone {
            addr: 0x100,
            offset: 21,
        }),
    );
    // The redzone's last byte.
    write(&mut m, 0x115, &[0xbb]);
    write(&mut m, 0x11f, &[0xbc]);
    free_as(
        &mut m,
        0x100,
        20,
        Err(Redzone {
            addr: 0x100,
            offset: 31,
        }),
    );
    // Past the chunk is not the redzone.
    write(&mut m, 0x11f, &[0xbb, 0x00, 0x00]);
    free_as(&mut m, 0x100, 20, Ok(()));
}

#[test]
fn wrong_size_comes_before_redzone() {
    let mut m = model(true, false);
    put(&mut m, 20, 0x100);
    write(&mut m, 0x114, &[0]);
    free_as(
        &mut m,
        0x100,
        21,
        Err(KmemFreeErrorKind::WrongSize {
            allocated: 20,
            freed: 21,
        }),
    );
}

#[test]
fn check_results_in_both_modes() {
    use KmemCheckErrorKind::NotLive;
    let mut d = model(true, false);
    d.check(0x100, Err(NotLive)).unwrap();
    put(&mut d, 20, 0x100);
    d.check(0x100, Ok(())).unwrap();
    d.check(0x108, Err(NotLive)).unwrap();
    assert_eq!(
        d.check(0x100, Err(NotLive)).unwrap_err().check,
        Check::CheckResult
    );
    assert_eq!(
        d.check(0x108, Ok(())).unwrap_err().check,
        Check::CheckResult
    );
    // Non-debug: only large objects are recorded.
    let mut n = model(false, false);
    put(&mut n, 20, 0x100);
    put(&mut n, 4096, 0x1000);
    put(&mut n, 4097, 0x4000);
    n.check(0x100, Err(NotLive)).unwrap();
    n.check(0x1000, Err(NotLive)).unwrap();
    n.check(0x4000, Ok(())).unwrap();
    write(&mut n, 0x4000, &[0x41; 8192]); // no redzone to clobber
    n.check(0x4000, Ok(())).unwrap();
    assert_eq!(
        n.check(0x100, Ok(())).unwrap_err().check,
        Check::CheckResult
    );
}

// ---- memory -----------------------------------------------------------------------------

#[test]
fn memory_reads_and_writes() {
    use MemoryErrorKind::PastTop;
    let mut m = model(false, false);
    m.read(0x5000, 3, Ok(&[0, 0, 0])).unwrap();
    write(&mut m, P - 2, &[1, 2, 3, 4]); // across a page boundary
    m.read(P - 3, 6, Ok(&[0, 1, 2, 3, 4, 0])).unwrap();
    assert_eq!(m.memory().pages(), 2);
    // The top: one byte fits, two do not; nothing of a refused write is applied.
    write(&mut m, u64::MAX, &[9]);
    m.write(u64::MAX, &[1, 2], Err(PastTop)).unwrap();
    assert_eq!(m.memory().byte(u64::MAX), 9);
    assert_eq!(m.memory().byte(0), 0);
    m.read(u64::MAX, 1, Ok(&[9])).unwrap();
    m.read(u64::MAX, 2, Err(PastTop)).unwrap();
    m.read(2, u64::MAX, Err(PastTop)).unwrap();
    write(&mut m, u64::MAX, &[]);
    m.read(u64::MAX, 0, Ok(&[])).unwrap();
    m.read(0, u64::MAX, Ok(&[])).unwrap_err();
    // Wrong answers.
    let before = m.clone();
    assert_eq!(
        m.write(u64::MAX, &[1, 2], Ok(())).unwrap_err().check,
        Check::WriteResult
    );
    assert_eq!(
        m.write(0, &[1, 2], Err(PastTop)).unwrap_err().check,
        Check::WriteResult
    );
    assert_eq!(m, before);
    assert_eq!(
        m.read(u64::MAX, 2, Ok(&[9, 0])).unwrap_err().check,
        Check::ReadResult
    );
    assert_eq!(
        m.read(0, 2, Err(PastTop)).unwrap_err().check,
        Check::ReadResult
    );
    assert_eq!(m.read(0, 2, Ok(&[0])).unwrap_err().check, Check::ReadResult);
    assert_eq!(
        m.read(P - 2, 2, Ok(&[1, 3])).unwrap_err().check,
        Check::ReadBytes
    );
}

#[test]
fn contents_stay_with_their_object() {
    let mut m = model(true, false);
    put(&mut m, 16, 0x100); // chunk 24
    put(&mut m, 16, 0x118);
    write(&mut m, 0x100, &[0xaa; 16]);
    write(&mut m, 0x118, &[0x55; 16]);
    m.read(0x118, 16, Ok(&[0x55; 16])).unwrap();
    // A read that shows the other object's bytes.
    let v = m.read(0x118, 16, Ok(&[0xaa; 16])).unwrap_err();
    assert_eq!(v.check, Check::ReadBytes);
    assert!(v.expected.contains("object at 0x118"), "{v}");
}

// ---- verdicts for wrong answers ---------------------------------------------------------

#[test]
fn wrong_answers_are_caught() {
    let mut m = model(true, true);
    put(&mut m, 100, 0x1000);
    put(&mut m, 6000, 0x10000);
    // An overlapping address, a misaligned one.
    assert_eq!(refuse_alloc(&mut m, 8, Ok(0x1010)), Check::Overlap);
    assert_eq!(refuse_alloc(&mut m, 8, Ok(0x11ff0)), Check::Overlap);
    assert_eq!(refuse_alloc(&mut m, 8, Ok(0x2001)), Check::Misaligned);
    assert_eq!(refuse_alloc(&mut m, 5000, Ok(0x20008)), Check::Misaligned);
    // An accepted wrong-size free in debug mode.
    assert_eq!(
        refuse_free(&mut m, 0x1000, 104, Ok(())),
        Check::WrongSizeAccepted
    );
    assert_eq!(
        refuse_free(&mut m, 0x10000, 6001, Ok(())),
        Check::WrongSizeAccepted
    );
    // A missed one-byte overflow.
    write(&mut m, 0x1000 + 100, &[0]);
    assert_eq!(
        refuse_free(&mut m, 0x1000, 100, Ok(())),
        Check::RedzoneMissed
    );
    assert_eq!(
        m.check(0x1000, Ok(())).unwrap_err().check,
        Check::RedzoneMissed
    );
    // A redzone error at the wrong offset.
    let wrong = KmemFreeErrorKind::Redzone {
        addr: 0x1000,
        offset: 101,
    };
    assert_eq!(
        refuse_free(&mut m, 0x1000, 100, Err(wrong)),
        Check::FreeResult
    );
    // Accepted bad frees: nothing there, a zero size, a bad CPU, a double free.
    assert_eq!(refuse_free(&mut m, 0x3000, 8, Ok(())), Check::FreeAccepted);
    assert_eq!(refuse_free(&mut m, 0x10000, 0, Ok(())), Check::FreeAccepted);
    let before = m.clone();
    assert_eq!(
        m.free(0x10000, 6000, 7, Ok(())).unwrap_err().check,
        Check::FreeAccepted
    );
    assert_eq!(m, before);
    m.free(0x10000, 6000, 1, Ok(())).unwrap();
    assert_eq!(
        refuse_free(&mut m, 0x10000, 6000, Ok(())),
        Check::FreeAccepted
    );
    // A refused good free.
    write(&mut m, 0x1000 + 100, &[0xbb]);
    assert_eq!(
        refuse_free(&mut m, 0x1000, 100, Err(KmemFreeErrorKind::BadFree)),
        Check::FreeResult
    );
}

#[test]
fn wrong_size_free_in_non_debug_mode_is_caught_across_routes() {
    let mut m = model(false, false);
    put(&mut m, 9, 0x100);
    put(&mut m, 5000, 0x2000);
    assert_eq!(refuse_free(&mut m, 0x100, 8, Ok(())), Check::FreeAccepted);
    assert_eq!(
        refuse_free(&mut m, 0x2000, 9000, Ok(())),
        Check::WrongSizeAccepted
    );
    assert_eq!(
        refuse_free(&mut m, 0x100, 16, Err(KmemFreeErrorKind::BadFree)),
        Check::FreeResult
    );
}

#[test]
fn stats_per_route() {
    let mut m = model(true, true);
    put(&mut m, 1, 0x100); // cache 2, chunk 16
    put(&mut m, 2, 0x110); // cache 2
    put(&mut m, 121, 0x200); // class 256
    put(&mut m, 5000, 0x10000); // large 8192 + guard
    let st = m.stats();
    assert_eq!(st.len(), Route::all().len());
    let get = |r: Route| st.iter().find(|(x, _)| *x == r).map(|(_, s)| *s).unwrap();
    assert_eq!(
        get(Route::Quantum(2)),
        RouteStats {
            objects: 2,
            bytes: 3,
            chunk_bytes: 32
        }
    );
    assert_eq!(get(Route::Class(256)).chunk_bytes, 256);
    assert_eq!(
        get(Route::Large),
        RouteStats {
            objects: 1,
            bytes: 5000,
            chunk_bytes: 8192
        }
    );
    assert_eq!(get(Route::Quantum(1)), RouteStats::default());
    judge_eq(
        Check::Query,
        &m.route_stats(Route::Large),
        &get(Route::Large),
    )
    .unwrap();
    let v = judge_eq(
        Check::Query,
        &m.route_stats(Route::Large),
        &RouteStats::default(),
    );
    assert_eq!(v.unwrap_err().check, Check::Query);
    free_as(&mut m, 0x110, 2, Ok(()));
    assert_eq!(m.route_stats(Route::Quantum(2)).objects, 1);
}

// ---- seeded random runs -----------------------------------------------------------------

/// A tiny deterministic generator (Knuth's MMIX LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Random runs where an honest "implementation" (a bump pointer from a random base: 0, the
/// middle, or close below the top) answers every op; each honest answer must be accepted and
/// keep the model sound, and a wrong answer beside it (an overlapping address, an accepted
/// failing free, a missed clobber, a flipped byte) must be caught without changing the model.
#[test]
fn honest_answers_pass_and_wrong_ones_are_caught() {
    // How often each interesting case came up: clobbers, failing frees, frees, large objects.
    let mut seen = [0u32; 4];
    for seed in 0..24u64 {
        let mut rng = Lcg(seed);
        let debug = seed % 2 == 0;
        let guard = seed % 4 < 2;
        let base = [0, 1 << 40, u64::MAX - (1 << 24) + 1][(seed % 3) as usize];
        let mut m = KmemModel::new(debug, guard, 3);
        let mut bump = u128::from(base);
        for _ in 0..300 {
            match rng.below(5) {
                0 | 1 => {
                    let size = match rng.below(4) {
                        0 => 1 + rng.below(136),
                        1 => 1 + rng.below(4200),
                        2 => 4000 + rng.below(9000),
                        _ => [0, 1, 8, 120, 121, 128, 129, 4088, 4089, 4096, 4097]
                            [rng.below(11) as usize],
                    };
                    let Some(shape) = m.shape(size) else {
                        m.alloc(size, 0, Err(KmemAllocErrorKind::ZeroSize), false)
                            .unwrap();
                        continue;
                    };
                    let align = u128::from(shape.route.align());
                    let addr = bump.div_ceil(align) * align;
                    if addr + u128::from(shape.extent()) > TOP {
                        m.alloc(size, 1, Err(KmemAllocErrorKind::NoSpace), true)
                            .unwrap();
                        continue;
                    }
                    if let Some(o) = m.live().last().copied() {
                        let before = m.clone();
                        let v = m.alloc(size, 1, Ok(o.addr), false).unwrap_err();
                        assert!(matches!(v.check, Check::Overlap | Check::Misaligned), "{v}");
                        assert_eq!(m, before);
                    }
                    let addr = addr as u64; // < 2^64: checked above
                    seen[3] += u32::from(shape.route == Route::Large);
                    m.alloc(size, 1, Ok(addr), false).unwrap();
                    bump = u128::from(addr) + u128::from(shape.extent());
                }
                2 => {
                    let n = m.live().len() as u64;
                    let (addr, size) = match m.live().get(rng.below(n.max(1)) as usize) {
                        Some(o) if rng.below(3) > 0 => (o.addr, o.size),
                        Some(o) => (o.addr, 1 + rng.below(9000)),
                        None => (rng.next(), 8),
                    };
                    let want = m.predict_free(addr, size, 2);
                    seen[if want.is_err() { 1 } else { 2 }] += 1;
                    if want.is_err() {
                        let before = m.clone();
                        assert!(m.free(addr, size, 2, Ok(())).is_err());
                        assert_eq!(m, before);
                    }
                    m.free(addr, size, 2, want).unwrap();
                }
                3 => {
                    // Write through an object, often past its end.
                    let n = m.live().len() as u64;
                    let Some(o) = m.live().get(rng.below(n.max(1)) as usize).copied() else {
                        continue;
                    };
                    let len = o.size + rng.below(3) * rng.below(12);
                    let len = u128::from(len).min(TOP - u128::from(o.addr)).min(20_000) as u64;
                    let byte = if rng.below(2) == 0 {
                        KMEM_REDZONE_BYTE
                    } else {
                        rng.below(256) as u8
                    };
                    write(&mut m, o.addr, &vec![byte; len as usize]);
                    let want = m.predict_check(o.addr);
                    if let Err(KmemCheckErrorKind::Redzone { .. }) = want {
                        seen[0] += 1;
                        assert_eq!(
                            m.check(o.addr, Ok(())).unwrap_err().check,
                            Check::RedzoneMissed
                        );
                    }
                    m.check(o.addr, want).unwrap();
                }
                _ => {
                    // Read an object back; a flipped byte is caught.
                    let n = m.live().len() as u64;
                    let Some(o) = m.live().get(rng.below(n.max(1)) as usize).copied() else {
                        continue;
                    };
                    let len = o.chunk.min(20_000);
                    let mut got = bytes(&m, o.addr, len as usize);
                    m.read(o.addr, len, Ok(&got)).unwrap();
                    let i = rng.below(len) as usize;
                    got[i] ^= 1;
                    assert_eq!(
                        m.read(o.addr, len, Ok(&got)).unwrap_err().check,
                        Check::ReadBytes
                    );
                }
            }
            m.self_check().unwrap();
        }
    }
    assert!(seen.iter().all(|&n| n > 20), "{seen:?}");
}
