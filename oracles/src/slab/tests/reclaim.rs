//! Reclaim: the order it drains caches and frees slabs in, and its counts.

use super::*;

#[test]
fn reclaim_order_and_counts() {
    let mut m = SlabModel::new(2).unwrap();
    m.add_keg(64, 8, false).unwrap(); // keg 0: 64 per 4 KiB
    m.add_keg(512, 8, false).unwrap(); // keg 1: 8 per 4 KiB
    m.add_zone(0, cfg(2, 2)).unwrap(); // zone 0
    m.add_zone(1, cfg(1, 1)).unwrap(); // zone 1
    let a = |i: u64| 0x8000 + i * 64;
    let b = |i: u64| 0x20000 + i * 512;
    let c0 = 0x10000;
    alloc_new(&mut m, 0, 0, 0x8000, a(0));
    for i in 1..10 {
        alloc_keg(&mut m, 0, 0, a(i));
    }
    alloc_new(&mut m, 1, 1, 0x20000, b(0));
    for i in 1..8 {
        alloc_keg(&mut m, 1, 1, b(i));
    }
    alloc_new(&mut m, 1, 1, c0, c0); // a lower base than the first slab
    for i in 0..7 {
        free_push(&mut m, 0, 0, a(i));
    }
    free_push(&mut m, 0, 1, a(7));
    free_push(&mut m, 0, 1, a(8));
    for i in 0..3 {
        free_push(&mut m, 1, 1, b(i));
    }
    free_push(&mut m, 1, 0, b(7));
    free_push(&mut m, 1, 0, b(6));
    for x in [b(5), b(3), b(4), c0] {
        free_back(&mut m, 1, 0, x);
    }
    let addrs = |v: &[Item]| v.iter().map(|x| x.addr).collect::<Vec<_>>();
    let (l, p) = m.magazines(0, 0).unwrap();
    assert_eq!((addrs(l), addrs(p)), (vec![a(6)], vec![a(4), a(5)]));
    assert_eq!(m.depot(0).unwrap().len(), 2);
    assert_eq!(m.zone_stats(0).unwrap().cached, 9);
    assert_eq!(m.zone_stats(1).unwrap().cached, 5);
    let dtor = |zone: u8, addr: u64| Event::Dtor {
        zone,
        addr,
        pair: None,
    };
    let mut ev: Vec<Event> = [a(6), a(5), a(4), a(8), a(7), a(3), a(2), a(1), a(0)]
        .into_iter()
        .map(|x| dtor(0, x))
        .collect();
    ev.extend(
        [b(6), b(7), b(2), b(1), b(0)]
            .into_iter()
            .map(|x| dtor(1, x)),
    );
    let dtors = ev.len();
    ev.extend(finis(&m, 1, c0));
    ev.extend(finis(&m, 1, 0x20000));
    let before = m.clone();
    // Wrong drain order.
    let mut wrong = ev.clone();
    wrong.swap(0, 1);
    let r = m.reclaim((14, 2), &wrong);
    assert_eq!(caught(&m, r, &before), Check::ReclaimDtor);
    // Slabs in descending order.
    let mut wrong = ev[..dtors].to_vec();
    wrong.extend(finis(&m, 1, 0x20000));
    wrong.extend(finis(&m, 1, c0));
    let r = m.reclaim((14, 2), &wrong);
    assert_eq!(caught(&m, r, &before), Check::FiniSequence);
    // Finis without the release.
    let mut wrong = ev.clone();
    wrong.pop();
    let r = m.reclaim((14, 2), &wrong);
    assert_eq!(caught(&m, r, &before), Check::SlabRelease);
    // A slab with a live item (a(9)) released as well.
    let mut wrong = ev.clone();
    wrong.extend(finis(&m, 0, 0x8000));
    let r = m.reclaim((14, 3), &wrong);
    assert_eq!(caught(&m, r, &before), Check::ReleasedNonFreeSlab);
    let mut wrong = ev[..dtors].to_vec();
    wrong.extend(finis(&m, 0, 0x8000));
    let r = m.reclaim((14, 1), &wrong);
    assert_eq!(caught(&m, r, &before), Check::ReleasedNonFreeSlab);
    // Wrong counts.
    let r = m.reclaim((14, 1), &ev);
    assert_eq!(caught(&m, r, &before), Check::ReclaimCounts);
    let r = m.reclaim((7, 2), &ev);
    assert_eq!(caught(&m, r, &before), Check::ReclaimCounts);
    m.reclaim((14, 2), &ev).unwrap();
    m.self_check().unwrap();
    assert_eq!(
        m.keg_stats(0).unwrap(),
        KegStats {
            slabs: 1,
            items_free: 63,
            items_out: 1
        }
    );
    assert_eq!(m.keg_stats(1).unwrap(), KegStats::default());
    assert_eq!(m.zone_stats(0).unwrap().cached, 0);
    assert_eq!(
        m.live_items(0).unwrap(),
        vec![Item {
            addr: a(9),
            pair: None
        }]
    );
    // Nothing left to do.
    m.reclaim((0, 0), &[]).unwrap();
    // After a reclaim the magazines start again from empty.
    free_push(&mut m, 0, 0, a(9));
    let mut ev = vec![dtor(0, a(9))];
    ev.extend(finis(&m, 0, 0x8000));
    m.reclaim((1, 1), &ev).unwrap();
    assert_eq!(m.keg_stats(0).unwrap(), KegStats::default());
    m.self_check().unwrap();
}
