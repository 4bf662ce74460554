//! Bonwick's magazine and depot cases, both ways; per-CPU magazines and a zero depot.

use super::*;

#[test]
fn bonwick_cases_both_ways() {
    let mut m = small(2, 1);
    let a = |i: u64| 0x10000 + i * 64;
    alloc_new(&mut m, 0, 0, 0x10000, a(0));
    for i in 1..8 {
        alloc_keg(&mut m, 0, 0, a(i)); // M > 0 but empty magazines: from the keg
    }
    let mags = |m: &SlabModel| {
        let (l, p) = m.magazines(0, 0).unwrap();
        let addrs = |v: &[Item]| v.iter().map(|x| x.addr).collect::<Vec<_>>();
        let depot: Vec<Vec<u64>> = m.depot(0).unwrap().iter().map(|v| addrs(v)).collect();
        (addrs(l), addrs(p), depot)
    };
    // Free case 1 (loaded has room), twice.
    free_push(&mut m, 0, 0, a(0));
    free_push(&mut m, 0, 0, a(1));
    assert_eq!(mags(&m), (vec![a(0), a(1)], vec![], vec![]));
    // Case 2: loaded full, previous empty: swap, push.
    free_push(&mut m, 0, 0, a(2));
    assert_eq!(mags(&m), (vec![a(2)], vec![a(0), a(1)], vec![]));
    free_push(&mut m, 0, 0, a(3));
    // Case 3: both full, depot has room.
    free_push(&mut m, 0, 0, a(4));
    assert_eq!(
        mags(&m),
        (vec![a(4)], vec![a(2), a(3)], vec![vec![a(0), a(1)]])
    );
    free_push(&mut m, 0, 0, a(5));
    // Case 4: both full, depot full: dtor, back to the keg.
    let before = m.clone();
    let r = m.free(0, 0, a(6), Ok(()), &[]);
    assert_eq!(caught(&m, r, &before), Check::Dtor);
    free_back(&mut m, 0, 0, a(6));
    assert_eq!(
        m.zone_stats(0).unwrap(),
        ZoneStats {
            live: 1,
            cached: 6,
            limit: 0,
            allocs: 8,
            frees: 7
        }
    );
    assert_eq!(m.keg_stats(0).unwrap().items_out, 7);
    // A dtor on a push is caught.
    let before = m.clone();
    let mut m2 = small(2, 1);
    alloc_new(&mut m2, 0, 0, 0, 0);
    let b2 = m2.clone();
    let r = m2.free(
        0,
        0,
        0,
        Ok(()),
        &[Event::Dtor {
            zone: 0,
            addr: 0,
            pair: None,
        }],
    );
    assert_eq!(caught(&m2, r, &b2), Check::HookOnMagazinePush);
    // Alloc case 1: the top of loaded.
    let r = m.alloc(0, 0, Ok((a(4), None)), false, &[]);
    assert_eq!(caught(&m, r, &before), Check::MagazineHit);
    let ctor = Event::Ctor {
        zone: 0,
        addr: a(5),
        pair: None,
    };
    let r = m.alloc(0, 0, Ok((a(5), None)), false, &[ctor]);
    assert_eq!(caught(&m, r, &before), Check::HookOnMagazineHit);
    let r = m.alloc(0, 0, Ok((a(5), None)), true, &[]);
    assert_eq!(caught(&m, r, &before), Check::UnneededSlabRequest);
    alloc_hit(&mut m, 0, 0, a(5));
    alloc_hit(&mut m, 0, 0, a(4));
    // Case 2: loaded empty, previous full: swap, pop.
    alloc_hit(&mut m, 0, 0, a(3));
    assert_eq!(mags(&m), (vec![a(2)], vec![], vec![vec![a(0), a(1)]]));
    alloc_hit(&mut m, 0, 0, a(2));
    // Case 3: both empty, the depot's magazine becomes loaded.
    alloc_hit(&mut m, 0, 0, a(1));
    assert_eq!(mags(&m), (vec![a(0)], vec![], vec![]));
    alloc_hit(&mut m, 0, 0, a(0));
    // Case 4: the keg (a(6) is free there), with a ctor.
    let before = m.clone();
    let r = m.alloc(0, 0, Ok((a(6), None)), false, &[]);
    assert_eq!(caught(&m, r, &before), Check::Ctor);
    alloc_keg(&mut m, 0, 0, a(6));
    assert_eq!(
        m.zone_stats(0).unwrap(),
        ZoneStats {
            live: 8,
            cached: 0,
            limit: 0,
            allocs: 15,
            frees: 7
        }
    );
}

#[test]
fn magazines_are_per_cpu_and_depot_zero_works() {
    let mut m = SlabModel::new(2).unwrap();
    m.add_keg(64, 8, false).unwrap();
    m.add_zone(0, cfg(1, 0)).unwrap();
    alloc_new(&mut m, 0, 1, 0, 0);
    alloc_keg(&mut m, 0, 0, 0x40);
    alloc_keg(&mut m, 0, 0, 0x80);
    free_push(&mut m, 0, 1, 0x40); // cpu 1 loaded
    free_push(&mut m, 0, 1, 0x80); // cpu 1: swap, previous [0x40], loaded [0x80]
    free_back(&mut m, 0, 1, 0); // depot 0: back to the keg
                                // cpu 0 has nothing cached: from the keg (0 is free).
    alloc_keg(&mut m, 0, 0, 0);
    alloc_hit(&mut m, 0, 1, 0x80);
    alloc_hit(&mut m, 0, 1, 0x40);
    m.free(0, 2, 0x40, Err(FreeErrorKind::BadCpu), &[]).unwrap();
    m.alloc(0, 2, Err(AllocErrorKind::BadCpu), false, &[])
        .unwrap();
}
