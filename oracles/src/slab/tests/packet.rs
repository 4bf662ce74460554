//! Packet zones: items handed out and freed in pairs.

use super::*;

#[test]
fn packet_pairs() {
    let mut m = SlabModel::new(1).unwrap();
    m.add_keg(256, 8, false).unwrap(); // keg 0: mbufs
    m.add_keg(2048, 8, false).unwrap(); // keg 1: clusters
    let mbuf = m.add_zone(0, cfg(0, 0)).unwrap();
    let clust = m.add_zone(1, cfg(0, 0)).unwrap();
    let pkt = m.add_packet_zone(0, 1, cfg(1, 0)).unwrap();
    let other = m.add_packet_zone(0, 1, cfg(0, 0)).unwrap();
    let (lp, ls) = (m.layout(0).unwrap(), m.layout(1).unwrap());
    // Both kegs dry: primary slab, then secondary slab, then one ctor for the pair.
    let mut ev = slab_events(&m, 0, 0x100000);
    ev.extend(slab_events(&m, 1, 0x200000));
    let (p0, s0) = (0x100000, 0x200000 + ls.stride);
    ev.push(Event::Ctor {
        zone: pkt,
        addr: p0,
        pair: Some(s0),
    });
    let before = m.clone();
    let r = m.alloc(pkt, 0, Ok((p0, None)), false, &ev);
    assert_eq!(caught(&m, r, &before), Check::PairShape);
    let mut wrong = ev.clone();
    let n = wrong.len();
    wrong[n - 1] = Event::Ctor {
        zone: pkt,
        addr: p0,
        pair: None,
    };
    let r = m.alloc(pkt, 0, Ok((p0, Some(s0))), false, &wrong);
    assert_eq!(caught(&m, r, &before), Check::Ctor);
    // Secondary slab first: the primary's must come first.
    let mut swapped = slab_events(&m, 1, 0x200000);
    swapped.extend(slab_events(&m, 0, 0x100000));
    swapped.push(Event::Ctor {
        zone: pkt,
        addr: p0,
        pair: Some(s0),
    });
    let r = m.alloc(pkt, 0, Ok((p0, Some(s0))), false, &swapped);
    assert_eq!(caught(&m, r, &before), Check::SlabKeg);
    m.alloc(pkt, 0, Ok((p0, Some(s0))), false, &ev).unwrap();
    m.self_check().unwrap();
    assert_eq!(
        m.live_items(pkt).unwrap(),
        vec![Item {
            addr: p0,
            pair: Some(s0)
        }]
    );
    assert_eq!(m.keg_stats(1).unwrap().items_out, 1);
    // Fill the cluster slab from the cluster zone, so the next pair needs a cluster slab.
    let s_items = ls.items;
    for i in 0..s_items {
        let a = 0x200000 + i * ls.stride;
        if a != s0 {
            alloc_keg(&mut m, clust, 0, a);
        }
    }
    // The backend refuses the secondary slab: NoSpace; the primary stays free; the events
    // show nothing for it (it came from a partial slab).
    m.alloc(pkt, 0, Err(AllocErrorKind::NoSpace), true, &[])
        .unwrap();
    m.self_check().unwrap();
    assert_eq!(m.keg_stats(0).unwrap().items_out, 1);
    // A refused pair where the primary took a new slab: fill keg 0 first.
    let mut mbufs = Vec::new();
    for i in 1..lp.items {
        let a = 0x100000 + i * lp.stride;
        alloc_keg(&mut m, mbuf, 0, a);
        mbufs.push(a);
    }
    let ev = slab_events(&m, 0, 0x300000);
    m.alloc(pkt, 0, Err(AllocErrorKind::NoSpace), true, &ev)
        .unwrap();
    m.self_check().unwrap();
    assert_eq!(
        m.slab_views(0).unwrap()[1],
        SlabView {
            base: 0x300000,
            size: lp.slab_size,
            free_items: lp.items
        }
    );
    // Now the primary comes from the wholly free slab, the secondary from a new one.
    let (p1, s1) = (0x300000 + lp.stride, 0x400000);
    let mut ev = slab_events(&m, 1, 0x400000);
    ev.push(Event::Ctor {
        zone: pkt,
        addr: p1,
        pair: Some(s1),
    });
    m.alloc(pkt, 0, Ok((p1, Some(s1))), false, &ev).unwrap();
    m.self_check().unwrap();
    // Free errors around pairs.
    use FreeErrorKind::*;
    m.free(pkt, 0, s1, Err(NotSlab), &[]).unwrap(); // the secondary half, to its own zone
    m.free(clust, 0, s1, Err(WrongZone), &[]).unwrap(); // live in the packet zone
    m.free(mbuf, 0, p1, Err(WrongZone), &[]).unwrap();
    m.free(other, 0, p1, Err(WrongZone), &[]).unwrap(); // another packet zone's pair
    m.free(pkt, 0, mbufs[0], Err(WrongZone), &[]).unwrap(); // a plain mbuf
    m.free(pkt, 0, 0x300000, Err(NotLive), &[]).unwrap();
    // Free into the magazine, then the hit gives the pair back whole.
    m.free(pkt, 0, p1, Ok(()), &[]).unwrap();
    m.free(pkt, 0, p1, Err(NotLive), &[]).unwrap();
    m.free(clust, 0, s1, Err(NotLive), &[]).unwrap(); // cached half
    let before = m.clone();
    let r = m.alloc(pkt, 0, Ok((p1, None)), false, &[]);
    assert_eq!(caught(&m, r, &before), Check::MagazineHit);
    m.alloc(pkt, 0, Ok((p1, Some(s1))), false, &[]).unwrap();
    // M = 1, depot 0: loaded [p0], then the swap: previous [p0], loaded [p1].
    m.free(pkt, 0, p0, Ok(()), &[]).unwrap();
    m.free(pkt, 0, p1, Ok(()), &[]).unwrap();
    m.self_check().unwrap();
    assert_eq!(m.keg_stats(1).unwrap().items_out, 3);
    let stats = ZoneStats {
        live: 0,
        cached: 2,
        limit: 0,
        allocs: 3,
        frees: 3,
    };
    assert_eq!(m.zone_stats(pkt).unwrap(), stats);
    // Reclaim drains the pairs with their secondaries (loaded, then previous), then gives
    // back the two wholly free slabs, keg by keg.
    let mut ev = vec![
        Event::Dtor {
            zone: pkt,
            addr: p1,
            pair: Some(s1),
        },
        Event::Dtor {
            zone: pkt,
            addr: p0,
            pair: Some(s0),
        },
    ];
    ev.extend(finis(&m, 0, 0x300000));
    ev.extend(finis(&m, 1, 0x400000));
    m.reclaim((2, 2), &ev).unwrap();
    m.self_check().unwrap();
    // A zone without magazines: the pair leaves with a ctor and comes back with a dtor.
    let ctor = Event::Ctor {
        zone: other,
        addr: p0,
        pair: Some(s0),
    };
    m.alloc(other, 0, Ok((p0, Some(s0))), false, &[ctor])
        .unwrap();
    let dtor = Event::Dtor {
        zone: other,
        addr: p0,
        pair: Some(s0),
    };
    m.free(other, 0, p0, Ok(()), &[dtor]).unwrap();
    m.self_check().unwrap();
    assert_eq!(
        m.keg_stats(1).unwrap(),
        KegStats {
            slabs: 1,
            items_free: 1,
            items_out: 1
        }
    );
}
