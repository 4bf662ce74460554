//! Unit tests of kmem (module comment, sections 2 to 7).

use alloc::vec;
use alloc::vec::Vec;

use super::*;

const MIB: u64 = 1 << 20;

/// A kernel map of page quantum over `spans`.
fn map_with(spans: &[(u64, u64)]) -> Arena {
    let mut m = Arena::new("kernel_map", PAGE_SIZE, None).unwrap();
    for &(base, size) in spans {
        m.add_span(base, size).unwrap();
    }
    m
}

fn config(debug: bool, guard: bool) -> KmemConfig {
    KmemConfig {
        debug,
        guard,
        cpus: 2,
        rounds: 4,
        depot: 2,
    }
}

fn kmem(debug: bool, guard: bool, spans: &[(u64, u64)]) -> Kmem {
    Kmem::new(config(debug, guard), map_with(spans)).unwrap()
}

/// Every mode: (debug, guard).
const MODES: [(bool, bool); 4] = [(false, false), (false, true), (true, false), (true, true)];

const Q: fn(u8) -> Route = |k| Route::Quantum(Quanta::new(k).unwrap());
const C: fn(u8) -> Route = |i| Route::Class(SizeClass::new(i).unwrap());

#[test]
fn route_table_at_every_boundary() {
    let cases: [(u64, Route, u128); 20] = [
        (1, Q(1), 8),
        (8, Q(1), 8),
        (9, Q(2), 16),
        (16, Q(2), 16),
        (17, Q(3), 24),
        (120, Q(15), 120),
        (121, Q(16), 128),
        (128, Q(16), 128),
        (129, C(0), 256),
        (256, C(0), 256),
        (257, C(1), 512),
        (512, C(1), 512),
        (513, C(2), 1024),
        (1024, C(2), 1024),
        (1025, C(3), 2048),
        (2048, C(3), 2048),
        (2049, C(4), 4096),
        (4096, C(4), 4096),
        (4097, Route::Large, 8192),
        (8193, Route::Large, 12288),
    ];
    for (s, route, chunk) in cases {
        assert_eq!(Route::of(s), route, "s = {s}");
        assert_eq!(route.chunk(s), chunk, "s = {s}");
    }
    // Every s against the definition.
    for s in 1..=5000u64 {
        let want = if s <= 128 {
            Q(s.div_ceil(8) as u8)
        } else if s <= 4096 {
            let i = KMEM_CLASSES.iter().position(|&c| c >= s).unwrap();
            C(i as u8)
        } else {
            Route::Large
        };
        assert_eq!(Route::of(s), want, "s = {s}");
    }
    assert_eq!(Route::of(0), Q(1));
    assert_eq!(Route::of(u64::MAX), Route::Large);
    assert_eq!(Route::Large.chunk(u64::MAX), 1u128 << 64);
    assert_eq!(Quanta::new(0), None);
    assert_eq!(Quanta::new(17), None);
    assert_eq!(SizeClass::new(5), None);
}

/// Allocates `size` in `k`, checks the object landed on `route` with `chunk`, frees it.
fn lands_on(k: &mut Kmem, size: u64, route: Route, chunk: u64) {
    let before = k.zone_stats(route).map(|z| z.live);
    let addr = k.alloc(size, 0).unwrap();
    assert_eq!(addr % route.align(), 0, "size {size}");
    match before {
        Some(live) => assert_eq!(k.zone_stats(route).unwrap().live, live + 1, "size {size}"),
        None => {
            let v = k.large_objects().find(|v| v.addr == addr).unwrap();
            assert_eq!(v.chunk, chunk, "size {size}");
        }
    }
    if k.config().debug {
        let v = k.objects().find(|v| v.addr == addr).unwrap();
        assert_eq!((v.size, v.chunk, v.route), (size, chunk, route));
        // The redzone holds the pattern, and no byte before it was written.
        let rz = k.memory().read(addr + size, chunk - size).unwrap();
        assert!(rz.iter().all(|&b| b == KMEM_REDZONE_BYTE), "size {size}");
        assert!(chunk - size >= KMEM_REDZONE);
    }
    k.check_invariants().unwrap();
    k.free(addr, size, 1).unwrap();
    k.check_invariants().unwrap();
}

#[test]
fn routes_of_requests_in_both_modes() {
    for (debug, guard) in MODES {
        let mut k = kmem(debug, guard, &[(0x1000_0000, 64 * MIB)]);
        let pad = if debug { KMEM_REDZONE } else { 0 };
        // (padded size s, route, chunk): the request is s - pad.
        let cases: [(u64, Route, u64); 14] = [
            (9, Q(2), 16),
            (16, Q(2), 16),
            (17, Q(3), 24),
            (128, Q(16), 128),
            (129, C(0), 256),
            (256, C(0), 256),
            (257, C(1), 512),
            (1024, C(2), 1024),
            (2049, C(4), 4096),
            (4096, C(4), 4096),
            (4097, Route::Large, 8192),
            (8192, Route::Large, 8192),
            (8193, Route::Large, 12288),
            (MIB + 1, Route::Large, MIB + PAGE_SIZE),
        ];
        for (s, route, chunk) in cases {
            lands_on(&mut k, s - pad, route, chunk);
        }
        if !debug {
            lands_on(&mut k, 1, Q(1), 8);
            lands_on(&mut k, 8, Q(1), 8);
        }
    }
}

#[test]
fn create_errors_in_order() {
    let new = |cpus, rounds, depot, q| {
        let c = KmemConfig {
            debug: true,
            guard: false,
            cpus,
            rounds,
            depot,
        };
        Kmem::new(c, Arena::new("m", q, None).unwrap()).map(|_| ())
    };
    use KmemCreateError::*;
    assert_eq!(new(0, 99, 99, 8).unwrap_err(), BadCpus);
    assert_eq!(new(9, 0, 0, PAGE_SIZE).unwrap_err(), BadCpus);
    assert_eq!(new(1, 65, 99, 8).unwrap_err(), BadRounds);
    assert_eq!(new(1, 64, 65, 8).unwrap_err(), BadDepot);
    assert_eq!(new(1, 64, 64, 8).unwrap_err(), BadMapQuantum);
    assert_eq!(new(8, 64, 64, PAGE_SIZE), Ok(()));
}

#[test]
fn alloc_errors_in_both_modes() {
    for (debug, guard) in MODES {
        let mut k = kmem(debug, guard, &[(0x10_0000, 256 * 1024)]);
        use KmemAllocError::*;
        assert_eq!(k.alloc(0, 9), Err(ZeroSize));
        assert_eq!(k.alloc(MAX_KMEM_SIZE + 1, 9), Err(TooBig));
        assert_eq!(k.alloc(u64::MAX, 9), Err(TooBig));
        assert_eq!(k.alloc(8, 2), Err(BadCpu));
        // The largest request is legal; the map refuses it.
        let refusals = k.map_refusals();
        assert_eq!(k.alloc(MAX_KMEM_SIZE, 0), Err(NoSpace));
        assert!(k.map_refusals() > refusals);
        assert_eq!(k.alloc(MIB, 0), Err(NoSpace));
        k.check_invariants().unwrap();
        // Every layer runs out: the map holds four 64 KiB imports.
        let mut n = 0;
        while k.alloc(24, 1).is_ok() {
            n += 1;
        }
        assert!(n > 1000, "{n}");
        let refusals = k.map_refusals();
        assert_eq!(k.alloc(300, 0), Err(NoSpace));
        assert_eq!(k.alloc(5000, 0), Err(NoSpace));
        assert!(k.map_refusals() >= refusals + 2);
        k.check_invariants().unwrap();
    }
    // An empty map refuses everything, and says so.
    let mut k = kmem(false, false, &[]);
    assert_eq!(k.alloc(1, 0), Err(KmemAllocError::NoSpace));
    assert_eq!(k.map_refusals(), 2, "64 KiB, then exactly the slab");
}

#[test]
fn free_errors_debug() {
    for guard in [false, true] {
        let mut k = kmem(true, guard, &[(0x10_0000, 4 * MIB)]);
        use KmemFreeError::*;
        let a = k.alloc(40, 0).unwrap();
        let big = k.alloc(5000, 0).unwrap();
        assert_eq!(k.free(a, 0, 9), Err(ZeroSize));
        assert_eq!(k.free(a, 40, 2), Err(BadCpu));
        assert_eq!(k.free(a + 8, 40, 0), Err(BadFree));
        assert_eq!(k.free(0, 40, 0), Err(BadFree));
        // Any other size, also one on the same route.
        let wrong = |freed| WrongSize {
            allocated: 40,
            freed,
        };
        assert_eq!(k.free(a, 41, 0), Err(wrong(41)));
        assert_eq!(k.free(a, 39, 0), Err(wrong(39)));
        assert_eq!(k.free(a, u64::MAX, 0), Err(wrong(u64::MAX)));
        assert_eq!(
            k.free(big, 5001, 0),
            Err(WrongSize {
                allocated: 5000,
                freed: 5001
            })
        );
        k.memory_mut().write(a + 40, &[0]).unwrap();
        assert_eq!(
            k.free(a, 40, 0),
            Err(Redzone {
                addr: a,
                offset: 40
            })
        );
        assert_eq!(
            k.check(a),
            Err(KmemCheckError::Redzone {
                addr: a,
                offset: 40
            })
        );
        k.memory_mut().write(a + 40, &[KMEM_REDZONE_BYTE]).unwrap();
        assert_eq!(k.check(a), Ok(()));
        assert_eq!(k.free(a, 40, 1), Ok(()));
        assert_eq!(k.free(a, 40, 1), Err(BadFree), "double free");
        assert_eq!(k.check(a), Err(KmemCheckError::NotLive));
        assert_eq!(k.free(big, 5000, 0), Ok(()));
        assert_eq!(k.free(big, 5000, 0), Err(BadFree));
        k.check_invariants().unwrap();
    }
}

#[test]
fn free_errors_non_debug() {
    for guard in [false, true] {
        let mut k = kmem(false, guard, &[(0x10_0000, 4 * MIB)]);
        use KmemFreeError::*;
        let a = k.alloc(40, 0).unwrap();
        let m = k.alloc(300, 0).unwrap();
        let big = k.alloc(5000, 0).unwrap();
        assert_eq!(k.free(a, 0, 9), Err(ZeroSize));
        assert_eq!(k.free(a, 40, 2), Err(BadCpu));
        // Another route: not a live item of that zone.
        assert_eq!(k.free(a, 48, 0), Err(BadFree));
        assert_eq!(k.free(a, 300, 0), Err(BadFree));
        assert_eq!(k.free(a, 5000, 0), Err(BadFree));
        assert_eq!(k.free(m, 40, 0), Err(BadFree));
        assert_eq!(k.free(big, 40, 0), Err(BadFree));
        assert_eq!(k.free(big, 300, 0), Err(BadFree));
        assert_eq!(k.free(a + 8, 40, 0), Err(BadFree));
        // A large free whose page-rounded size differs; one that rounds the same is fine.
        let wrong = |freed| WrongSize {
            allocated: 5000,
            freed,
        };
        assert_eq!(k.free(big, 9000, 0), Err(wrong(9000)));
        assert_eq!(k.free(big, 4097 + 4096, 0), Err(wrong(8193)));
        assert_eq!(k.free(big, u64::MAX, 0), Err(wrong(u64::MAX)));
        // check: only large objects are recorded.
        assert_eq!(k.check(a), Err(KmemCheckError::NotLive));
        assert_eq!(k.check(big), Ok(()));
        // Same route, other size: accepted (nothing records small sizes).
        assert_eq!(k.free(a, 33, 0), Ok(()));
        assert_eq!(k.free(a, 40, 0), Err(BadFree), "double free in a magazine");
        assert_eq!(k.free(m, 256, 1), Err(BadFree), "another class");
        assert_eq!(k.free(m, 257, 1), Ok(()));
        assert_eq!(k.free(big, 4097, 0), Ok(()));
        assert_eq!(k.free(big, 5000, 0), Err(BadFree));
        assert_eq!(k.check(big), Err(KmemCheckError::NotLive));
        k.check_invariants().unwrap();
    }
}

#[test]
fn memory_is_sparse_and_never_wraps() {
    let mut m = Memory::new();
    assert_eq!(m.read(u64::MAX - 3, 4).unwrap(), vec![0; 4]);
    assert_eq!(m.pages(), 0);
    assert_eq!(m.write(u64::MAX, &[1, 2]), Err(MemoryError::PastTop));
    assert_eq!(m.read(u64::MAX, 2), Err(MemoryError::PastTop));
    assert_eq!(m.read(0, MAX_MEMORY_READ + 1), Err(MemoryError::TooLong));
    assert_eq!(m.pages(), 0);
    m.write(u64::MAX - 1, &[7, 9]).unwrap();
    assert_eq!(m.read(u64::MAX - 2, 3).unwrap(), vec![0, 7, 9]);
    m.write(4090, &[5; 10]).unwrap();
    assert_eq!(
        m.read(4089, 12).unwrap(),
        [&[0][..], &[5; 10], &[0]].concat()
    );
    assert_eq!(m.pages(), 3);
    m.fill(u64::MAX - 5, u64::MAX, 3);
    assert_eq!(m.byte(u64::MAX), 3);
    assert_eq!(m.first_not(u64::MAX - 5, u64::MAX, 3), None);
    assert_eq!(m.first_not(4088, 5000, 0), Some(4090));
    assert_eq!(m.first_not(8192, 9000, 0xbb), Some(8192));
    assert_eq!(m.write(17, &[]), Ok(()));
    assert_eq!(m.read(u64::MAX, 0), Ok(vec![]));
    // A fill of one byte sets that byte alone; an empty one (last below first) sets nothing.
    m.fill(20, 20, 4);
    assert_eq!(m.read(19, 3).unwrap(), vec![0, 4, 0]);
    let pages = m.pages();
    m.fill(1 << 40, (1 << 40) - 1, 4);
    assert_eq!(m.pages(), pages);
}

#[test]
fn redzone_verdicts_for_overflows_of_one_and_k_bytes() {
    for size in [1u64, 7, 8, 100, 120, 121, 200, 4000, 4088, 5000, 12000] {
        let mut k = kmem(true, true, &[(0x10_0000, 4 * MIB)]);
        let a = k.alloc(size, 0).unwrap();
        let chunk = k.objects().next().unwrap().chunk;
        // Writes inside the object are no overflow.
        k.memory_mut().write(a, &vec![0x11; size as usize]).unwrap();
        assert_eq!(k.check(a), Ok(()));
        for over in [1u64, 2, 5, chunk - size, chunk - size + 9] {
            k.memory_mut()
                .write(a + size, &vec![0x22; over as usize])
                .unwrap();
            let e = KmemFreeError::Redzone {
                addr: a,
                offset: size,
            };
            assert_eq!(k.free(a, size, 0), Err(e), "size {size}, overflow {over}");
            assert_eq!(k.objects().count(), 1, "still live");
            // The pattern written back: the redzone is whole again.
            let end = over.min(chunk - size);
            k.memory_mut()
                .write(a + size, &vec![KMEM_REDZONE_BYTE; end as usize])
                .unwrap();
            assert_eq!(k.check(a), Ok(()), "size {size}, overflow {over}");
        }
        // Only the last redzone byte clobbered.
        k.memory_mut().write(a + chunk - 1, &[0]).unwrap();
        let e = KmemCheckError::Redzone {
            addr: a,
            offset: chunk - 1,
        };
        assert_eq!(k.check(a), Err(e));
        k.memory_mut()
            .write(a + chunk - 1, &[KMEM_REDZONE_BYTE])
            .unwrap();
        // A write past the chunk is not this object's redzone.
        k.memory_mut().write(a + chunk, &[0]).unwrap();
        assert_eq!(k.free(a, size, 0), Ok(()));
        k.check_invariants().unwrap();
    }
}

/// The inclusive ranges `[first, last]` of every recorded object's chunk and guard range.
fn extents(k: &Kmem) -> Vec<(u64, u64, bool)> {
    let mut v = Vec::new();
    for o in k.objects() {
        v.push((o.addr, o.addr + (o.chunk - 1), false));
        if let Some((first, last)) = o.guard {
            v.push((first, last, true));
        }
    }
    v
}

#[test]
fn guard_ranges_never_handed_out() {
    let mut k = kmem(true, true, &[(0, 2 * MIB)]);
    let mut live = Vec::new();
    let mut x = 7u64;
    for _ in 0..400 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let size = [24, 300, 3000, 4089, 5000, 9000, 20000][(x >> 33) as usize % 7];
        match k.alloc(size, 0) {
            Ok(a) => live.push((a, size)),
            Err(KmemAllocError::NoSpace) => {
                let (a, s) = live.swap_remove((x >> 40) as usize % live.len());
                k.free(a, s, 0).unwrap();
            }
            Err(e) => panic!("{e}"),
        }
        let ext = extents(&k);
        for (i, &(f1, l1, g1)) in ext.iter().enumerate() {
            for &(f2, l2, g2) in &ext[i + 1..] {
                assert!(
                    l1 < f2 || l2 < f1,
                    "{f1:#x}..{l1:#x} {g1} vs {f2:#x}..{l2:#x} {g2}"
                );
            }
        }
        for o in k.large_objects() {
            let (first, last) = o.guard.unwrap();
            assert_eq!(
                (first, last),
                (o.addr + o.chunk, o.addr + o.chunk + PAGE_SIZE - 1)
            );
        }
        k.check_invariants().unwrap();
    }
}

#[test]
fn address_zero_through_a_quantum_cache() {
    for (debug, guard) in MODES {
        let mut k = kmem(debug, guard, &[(0, MIB)]);
        assert_eq!(k.alloc(8, 0), Ok(0));
        k.memory_mut().write(0, &[1; 8]).unwrap();
        assert_eq!(k.free(0, 8, 0), Ok(()));
        assert_eq!(k.alloc(3, 0), Ok(0), "a magazine hit at 0");
        k.check_invariants().unwrap();
        assert_eq!(k.free(0, 3, 1), Ok(()));
        k.reclaim();
        assert_eq!(k.map().stats().in_use, 0);
        k.check_invariants().unwrap();
    }
}

/// Allocates a mix in a map of one span, checks bounds, frees all, reclaims to nothing.
fn exercise_span(base: u64, size: u64) {
    for (debug, guard) in MODES {
        let mut k = kmem(debug, guard, &[(base, size)]);
        let mut live = Vec::new();
        for i in 0..200u64 {
            let sz = [1, 13, 128, 200, 1000, 4096, 4097, 10000][i as usize % 8];
            let a = k.alloc(sz, (i % 2) as u8).unwrap();
            assert!(a >= base && a - base <= size - sz, "{a:#x}");
            live.push((a, sz));
        }
        k.check_invariants().unwrap();
        if debug {
            let (a, sz) = live[live.len() - 1];
            let chunk = k.objects().find(|o| o.addr == a).unwrap().chunk;
            assert!(a.checked_add(chunk - 1).is_some());
            k.memory_mut().write(a + sz, &[1]).unwrap();
            let e = KmemFreeError::Redzone {
                addr: a,
                offset: sz,
            };
            assert_eq!(k.free(a, sz, 0), Err(e));
            k.memory_mut().write(a + sz, &[KMEM_REDZONE_BYTE]).unwrap();
        }
        for (i, (a, sz)) in live.into_iter().enumerate() {
            k.free(a, sz, (i % 2) as u8).unwrap();
        }
        k.reclaim();
        assert_eq!(k.arena().arena().stats().total, 0);
        assert_eq!(k.map().stats().in_use, 0);
        k.check_invariants().unwrap();
    }
}

#[test]
fn span_at_top_of_32_bit_space() {
    exercise_span((1 << 32) - 4 * MIB, 4 * MIB);
}

#[test]
fn span_at_top_of_64_bit_space() {
    exercise_span(u64::MAX - 4 * MIB + 1, 4 * MIB);
}

#[test]
fn reclaim_leaves_exactly_the_live_slabs_and_large_objects() {
    for (debug, guard) in MODES {
        let mut k = kmem(debug, guard, &[(0x4000_0000, 64 * MIB)]);
        let mut live = Vec::new();
        for i in 0..600u64 {
            let sz = 1 + (i * 7919) % 6000;
            live.push((k.alloc(sz, (i % 2) as u8).unwrap(), sz));
        }
        // Free all but every 17th.
        let mut kept = Vec::new();
        for (i, (a, sz)) in live.into_iter().enumerate() {
            if i % 17 == 0 {
                kept.push((a, sz));
            } else {
                k.free(a, sz, (i % 2) as u8).unwrap();
            }
        }
        let report = k.reclaim();
        assert!(report.qcaches.items > 0 && report.classes.items > 0);
        k.check_invariants().unwrap();
        // The kmem arena's allocated bytes: live slabs of caches and classes, large extents.
        let a = k.arena();
        let mut want: u128 = 0;
        for c in 1..=a.caches() {
            let items = a.layout(c).unwrap().items;
            want += a
                .slabs(c)
                .filter(|v| v.free_items < items)
                .map(|v| u128::from(v.size))
                .sum::<u128>();
            assert_eq!(a.zone_stats(c).unwrap().cached, 0);
        }
        for i in 0..KMEM_CLASSES.len() as u8 {
            let keg = KegId(i);
            let items = k.classes().layout(keg).unwrap().items;
            assert_eq!(k.classes().zone_stats(ZoneId(i)).unwrap().cached, 0);
            want += k
                .classes()
                .slabs(keg)
                .filter(|v| v.free_items < items)
                .map(|v| u128::from(v.size))
                .sum::<u128>();
        }
        let guard_bytes = if guard { PAGE_SIZE } else { 0 };
        want += k
            .large_objects()
            .map(|o| u128::from(o.chunk + guard_bytes))
            .sum::<u128>();
        assert_eq!(k.arena().arena().stats().in_use, want);
        for (i, (a, sz)) in kept.into_iter().enumerate() {
            k.free(a, sz, (i % 2) as u8).unwrap();
        }
        k.reclaim();
        assert_eq!(k.arena().arena().stats().in_use, 0);
        assert_eq!(k.map().stats().in_use, 0);
        k.check_invariants().unwrap();
    }
}

/// xorshift64.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

#[test]
fn invariants_after_every_step_of_a_long_sequence() {
    for (m, (debug, guard)) in MODES.into_iter().enumerate() {
        let mut k = kmem(debug, guard, &[(0, 2 * MIB), ((1 << 32) - MIB, MIB)]);
        let mut x = 0x2545_f491_4f6c_dd1d ^ m as u64;
        let mut live: Vec<(u64, u64)> = Vec::new();
        for step in 0..4000 {
            let r = next(&mut x);
            let cpu = (r % 2) as u8;
            match (r >> 4) % 10 {
                0..=4 => {
                    let size = match (r >> 8) % 4 {
                        0 => 1 + (r >> 16) % 128,
                        1 => 1 + (r >> 16) % 4096,
                        2 => 1 + (r >> 16) % 20000,
                        _ => [8, 120, 121, 128, 4088, 4096, 4097][(r >> 16) as usize % 7],
                    };
                    match k.alloc(size, cpu) {
                        Ok(a) => live.push((a, size)),
                        Err(e) => assert_eq!(e, KmemAllocError::NoSpace),
                    }
                }
                5..=7 if !live.is_empty() => {
                    let (a, size) = live.swap_remove((r >> 8) as usize % live.len());
                    k.free(a, size, cpu).unwrap();
                }
                8 if !live.is_empty() => {
                    // Write through an object, sometimes one byte too far (then repair).
                    let (a, size) = live[(r >> 8) as usize % live.len()];
                    let n = size.min(64) as usize;
                    k.memory_mut().write(a, &vec![r as u8; n]).unwrap();
                    if debug && (r >> 20).is_multiple_of(2) {
                        k.memory_mut().write(a + size, &[0]).unwrap();
                        let e = KmemFreeError::Redzone {
                            addr: a,
                            offset: size,
                        };
                        assert_eq!(k.free(a, size, cpu), Err(e));
                        k.memory_mut()
                            .write(a + size, &[KMEM_REDZONE_BYTE])
                            .unwrap();
                    }
                }
                9 if (r >> 8).is_multiple_of(16) => {
                    k.reclaim();
                }
                _ => {
                    // A bad free: never a live object's start in debug mode.
                    let bad = (r >> 8) % (4 * MIB);
                    if !live.iter().any(|&(a, _)| a == bad) {
                        assert!(k.free(bad, 1 + (r >> 40) % 5000, cpu).is_err());
                    }
                }
            }
            if let Err(e) = k.check_invariants() {
                panic!("mode {m}, step {step}: {e}");
            }
        }
        for (a, size) in live.drain(..) {
            k.free(a, size, 0).unwrap();
        }
        k.reclaim();
        assert_eq!(k.map().stats().in_use, 0);
        k.check_invariants().unwrap();
    }
}

#[cfg(feature = "seeded-bugs")]
mod seeded {
    use super::*;
    use crate::bugs::{Bug, BugSet};

    fn buggy(debug: bool, bug: Bug, spans: &[(u64, u64)]) -> Kmem {
        let mut k = kmem(debug, false, spans);
        k.set_bugs(BugSet::only(bug));
        k
    }

    #[test]
    fn kmem_wrong_size_accepted() {
        let mut k = buggy(true, Bug::KmemWrongSizeAccepted, &[(0x10_0000, MIB)]);
        let a = k.alloc(100, 0).unwrap();
        // Same route: freed although the size is wrong (the contract says WrongSize).
        assert_eq!(k.free(a, 104, 0), Ok(()));
        // Another route: "freed", but the object went to the wrong zone and leaked.
        let b = k.alloc(40, 0).unwrap();
        assert_eq!(k.free(b, 1000, 0), Ok(()));
        assert_eq!(
            k.check_invariants(),
            Err(KmemInvariantError::LiveCountWrong { route: Q(6) })
        );
    }

    #[test]
    fn qcache_zero_sentinel() {
        let mut k = buggy(false, Bug::QcacheZeroSentinel, &[(0, MIB)]);
        let refusals = k.map_refusals();
        // Room everywhere, no refusal, yet NoSpace: the item at 0 leaked.
        assert_eq!(k.alloc(8, 0), Err(KmemAllocError::NoSpace));
        assert_eq!(k.map_refusals(), refusals);
        assert_eq!(k.zone_stats(Q(1)).unwrap().live, 1);
        let mut d = buggy(true, Bug::QcacheZeroSentinel, &[(0, MIB)]);
        assert_eq!(d.alloc(8, 0), Err(KmemAllocError::NoSpace));
        assert_eq!(
            d.check_invariants(),
            Err(KmemInvariantError::LiveCountWrong { route: Q(2) })
        );
    }

    #[test]
    fn redzone_misses_one_byte() {
        let mut k = buggy(true, Bug::RedzoneMissesOneByte, &[(0x10_0000, MIB)]);
        let a = k.alloc(100, 0).unwrap();
        k.memory_mut().write(a + 100, &[0]).unwrap();
        // An overflow of one byte goes unseen.
        assert_eq!(k.check(a), Ok(()));
        assert_eq!(k.free(a, 100, 0), Ok(()));
        // Two bytes are seen, at the wrong offset.
        let b = k.alloc(100, 0).unwrap();
        k.memory_mut().write(b + 100, &[0, 0]).unwrap();
        assert_eq!(
            k.free(b, 100, 0),
            Err(KmemFreeError::Redzone {
                addr: b,
                offset: 101
            })
        );
    }
}

/// Each record check of `check_invariants` fails on the record it is about: a record made
/// wrong in one field at a time (debug mode, where small objects are recorded too), a small
/// object's record in non-debug mode, and a debug-mode zone whose live count disagrees with
/// its records.
#[test]
fn every_record_invariant_can_fail() {
    let mut k = kmem(true, false, &[(0x100_0000, 16 * MIB)]);
    let small = k.alloc(24, 0).unwrap();
    k.alloc(3 * PAGE_SIZE, 0).unwrap();
    k.check_invariants().unwrap();
    let rec = k.records[&small];

    let edits: [(&str, Record); 4] = [
        ("no size", Record { size: 0, ..rec }),
        ("another size's route", Record { size: 4000, ..rec }),
        (
            "a chunk of another size",
            Record {
                chunk: rec.chunk + 8,
                ..rec
            },
        ),
        ("another route", Record { route: C(0), ..rec }),
    ];
    for (what, wrong) in edits {
        let mut bad = k.clone();
        bad.records.insert(small, wrong);
        assert_eq!(
            bad.check_invariants(),
            Err(KmemInvariantError::RecordWrong { addr: small }),
            "{what}"
        );
    }
    let mut misaligned = k.clone();
    misaligned.records.remove(&small);
    misaligned.records.insert(small + 1, rec);
    assert_eq!(
        misaligned.check_invariants(),
        Err(KmemInvariantError::RecordWrong { addr: small + 1 })
    );

    // Without debug, only large objects are recorded.
    let mut plain = kmem(false, false, &[(0x100_0000, 16 * MIB)]);
    let s = plain.alloc(24, 0).unwrap();
    plain.alloc(3 * PAGE_SIZE, 0).unwrap();
    plain.check_invariants().unwrap();
    plain.records.insert(s, rec);
    assert_eq!(
        plain.check_invariants(),
        Err(KmemInvariantError::RecordWrong { addr: s })
    );

    // The small object's record gone: its zone's live count is one more than its records.
    let mut uncounted = k.clone();
    uncounted.records.remove(&small);
    assert_eq!(
        uncounted.check_invariants(),
        Err(KmemInvariantError::LiveCountWrong { route: rec.route })
    );
}
