//! Allocation: argument errors and limits, `NoSpace`, new slabs and keg items checked, and
//! the keg's order (partial, then wholly free, then new).

use super::*;

#[test]
fn alloc_argument_errors_and_limit() {
    let mut m = small(0, 0);
    let before = m.clone();
    m.alloc(1, 0, Err(AllocErrorKind::NoZone), false, &[])
        .unwrap();
    m.alloc(1, 5, Err(AllocErrorKind::NoZone), false, &[])
        .unwrap();
    m.alloc(0, 1, Err(AllocErrorKind::BadCpu), false, &[])
        .unwrap();
    assert_eq!(m, before);
    let r = m.alloc(0, 1, Err(AllocErrorKind::NoSpace), false, &[]);
    assert_eq!(caught(&m, r, &before), Check::AllocResult);
    m.set_limit(0, 1).unwrap();
    alloc_new(&mut m, 0, 0, 0x10000, 0x10000);
    m.alloc(0, 0, Err(AllocErrorKind::Limit), false, &[])
        .unwrap();
    let before = m.clone();
    let r = m.alloc(
        0,
        0,
        Ok((0x10040, None)),
        false,
        &[Event::Ctor {
            zone: 0,
            addr: 0x10040,
            pair: None,
        }],
    );
    assert_eq!(caught(&m, r, &before), Check::AllocResult);
    // Events on an argument error.
    let r = m.alloc(
        0,
        0,
        Err(AllocErrorKind::Limit),
        false,
        &slab_events(&m, 0, 0x20000),
    );
    assert_eq!(caught(&m, r, &before), Check::ExtraEvent);
    let r = m.alloc(0, 0, Err(AllocErrorKind::Limit), true, &[]);
    assert_eq!(caught(&m, r, &before), Check::UnneededSlabRequest);
    // Lowering below live frees nothing; raising (or 0) lets allocations through.
    m.set_limit(0, 0).unwrap();
    alloc_keg(&mut m, 0, 0, 0x10040);
    m.set_limit(0, 1).unwrap();
    assert_eq!(m.zone_stats(0).unwrap().live, 2);
    m.alloc(0, 0, Err(AllocErrorKind::Limit), false, &[])
        .unwrap();
    free_back(&mut m, 0, 0, 0x10000);
    m.alloc(0, 0, Err(AllocErrorKind::Limit), false, &[])
        .unwrap();
    free_back(&mut m, 0, 0, 0x10040);
    alloc_keg(&mut m, 0, 0, 0x10000);
}

#[test]
fn no_space_exactly_when_the_keg_is_dry_and_the_backend_refuses() {
    let mut m = small(0, 0);
    // No slab at all: refused -> NoSpace, no event.
    m.alloc(0, 0, Err(AllocErrorKind::NoSpace), true, &[])
        .unwrap();
    let before = m.clone();
    let r = m.alloc(0, 0, Err(AllocErrorKind::NoSpace), false, &[]);
    assert_eq!(caught(&m, r, &before), Check::SlabMissing);
    let r = m.alloc(0, 0, Ok((0, None)), true, &[]);
    assert_eq!(caught(&m, r, &before), Check::AllocResult);
    // A slab with free items: no refusal, no slab.
    alloc_new(&mut m, 0, 0, 0, 0);
    let before = m.clone();
    let r = m.alloc(0, 0, Err(AllocErrorKind::NoSpace), true, &[]);
    assert_eq!(caught(&m, r, &before), Check::UnneededSlabRequest);
    let r = m.alloc(0, 0, Err(AllocErrorKind::NoSpace), false, &[]);
    assert_eq!(caught(&m, r, &before), Check::AllocResult);
    let mut ev = slab_events(&m, 0, 0x1000);
    ev.push(Event::Ctor {
        zone: 0,
        addr: 0x1000,
        pair: None,
    });
    let r = m.alloc(0, 0, Ok((0x1000, None)), false, &ev);
    assert_eq!(caught(&m, r, &before), Check::SlabWithFreeItem);
    // Fill the slab: 63 more from the keg; then the keg is dry again.
    for i in 1..64 {
        alloc_keg(&mut m, 0, 0, i * 64);
    }
    assert_eq!(
        m.keg_stats(0).unwrap(),
        KegStats {
            slabs: 1,
            items_free: 0,
            items_out: 64
        }
    );
    m.alloc(0, 0, Err(AllocErrorKind::NoSpace), true, &[])
        .unwrap();
    alloc_new(&mut m, 0, 0, 0x3000, 0x3fc0); // any item of the new slab
    assert_eq!(
        m.slab_views(0).unwrap(),
        vec![
            SlabView {
                base: 0,
                size: P,
                free_items: 0
            },
            SlabView {
                base: 0x3000,
                size: P,
                free_items: 63
            },
        ]
    );
}

#[test]
fn new_slab_checks() {
    let mut m = SlabModel::new(1).unwrap();
    m.add_keg(64, 8, false).unwrap(); // 4 KiB slabs
    m.add_keg(65536, 8, false).unwrap(); // 64 KiB slabs
    m.add_zone(0, cfg(0, 0)).unwrap();
    m.add_zone(1, cfg(0, 0)).unwrap();
    alloc_new(&mut m, 1, 0, 0x20000, 0x20000);
    let before = m.clone();
    // Misaligned slab (truncation would find the wrong slab).
    let mut ev = slab_events(&m, 0, 0x1800);
    ev.push(Event::Ctor {
        zone: 0,
        addr: 0x1800,
        pair: None,
    });
    let r = m.alloc(0, 0, Ok((0x1800, None)), false, &ev);
    assert_eq!(caught(&m, r, &before), Check::SlabMisaligned);
    // Inside keg 1's slab.
    let mut ev = slab_events(&m, 0, 0x2f000);
    ev.push(Event::Ctor {
        zone: 0,
        addr: 0x2f000,
        pair: None,
    });
    let r = m.alloc(0, 0, Ok((0x2f000, None)), false, &ev);
    assert_eq!(caught(&m, r, &before), Check::SlabOverlap);
    // A slab for the wrong keg.
    let r = m.alloc(0, 0, Ok((0, None)), false, &slab_events(&m, 1, 0));
    assert_eq!(caught(&m, r, &before), Check::SlabKeg);
    // Inits missing, out of order, or of another keg.
    let r = m.alloc(
        0,
        0,
        Ok((0, None)),
        false,
        &[Event::SlabAdded { keg: 0, base: 0 }],
    );
    assert_eq!(caught(&m, r, &before), Check::InitSequence);
    let mut ev = slab_events(&m, 0, 0);
    ev.swap(1, 2);
    let r = m.alloc(0, 0, Ok((0, None)), false, &ev);
    assert_eq!(caught(&m, r, &before), Check::InitSequence);
    // The item must come from the new slab.
    let mut ev = slab_events(&m, 0, 0);
    ev.push(Event::Ctor {
        zone: 0,
        addr: 0x20000,
        pair: None,
    });
    let r = m.alloc(0, 0, Ok((0x20000, None)), false, &ev);
    assert_eq!(caught(&m, r, &before), Check::NotInKegSlab);
    // Missing ctor, wrong ctor, extra events.
    let ev = slab_events(&m, 0, 0);
    let r = m.alloc(0, 0, Ok((0x40, None)), false, &ev);
    assert_eq!(caught(&m, r, &before), Check::Ctor);
    let mut ev = slab_events(&m, 0, 0);
    ev.push(Event::Ctor {
        zone: 1,
        addr: 0x40,
        pair: None,
    });
    let r = m.alloc(0, 0, Ok((0x40, None)), false, &ev);
    assert_eq!(caught(&m, r, &before), Check::Ctor);
    let mut ev = slab_events(&m, 0, 0);
    ev.push(Event::Ctor {
        zone: 0,
        addr: 0x40,
        pair: None,
    });
    ev.push(Event::Ctor {
        zone: 0,
        addr: 0x40,
        pair: None,
    });
    let r = m.alloc(0, 0, Ok((0x40, None)), false, &ev);
    assert_eq!(caught(&m, r, &before), Check::ExtraEvent);
    // Slabs at address 0 and at the very top of the 64-bit space are fine.
    alloc_new(&mut m, 0, 0, 0, 0x40);
    let top = u64::MAX - (P - 1);
    let mut m2 = small(0, 0);
    alloc_new(&mut m2, 0, 0, top, u64::MAX - 63);
    for i in 0..63 {
        alloc_keg(&mut m2, 0, 0, top + i * 64);
    }
    free_back(&mut m2, 0, 0, u64::MAX - 63);
    m2.refcount(u64::MAX, Err(RefErrorKind::NotItemStart))
        .unwrap();
    m2.free(0, 0, u64::MAX, Err(FreeErrorKind::NotItemStart), &[])
        .unwrap();
}

#[test]
fn keg_items_are_checked() {
    let mut m = SlabModel::new(1).unwrap();
    m.add_keg(200, 8, false).unwrap(); // 20 items, tail [4000, 4056), header [4056, 4096)
    m.add_zone(0, cfg(0, 0)).unwrap();
    m.add_zone(0, cfg(4, 0)).unwrap();
    alloc_new(&mut m, 0, 0, 0x8000, 0x8000);
    free_back(&mut m, 0, 0, 0x8000);
    alloc_keg(&mut m, 0, 0, 0x8000 + 200); // from the wholly free slab
    let before = m.clone();
    let try_addr = |addr: u64| {
        let ctor = Event::Ctor {
            zone: 0,
            addr,
            pair: None,
        };
        let mut m = m.clone();
        let r = m.alloc(0, 0, Ok((addr, None)), false, &[ctor]);
        caught(&m, r, &before)
    };
    assert_eq!(try_addr(0x8000 + 4), Check::Misaligned);
    assert_eq!(try_addr(0x8000 + 8), Check::NotItemStart);
    assert_eq!(try_addr(0x8000 + 4000), Check::NotItemStart);
    assert_eq!(try_addr(0x8000 + 4056), Check::InHeader);
    assert_eq!(try_addr(0x9000), Check::NotInKegSlab);
    assert_eq!(try_addr(0x8000 + 200), Check::HandedOutLive); // a duplicated live address
                                                              // A pair from a plain zone.
    let ctor = Event::Ctor {
        zone: 0,
        addr: 0x8000,
        pair: Some(0x8000 + 400),
    };
    let r = m.alloc(0, 0, Ok((0x8000, Some(0x8000 + 400))), false, &[ctor]);
    assert_eq!(caught(&m, r, &before), Check::PairShape);
    // A cached item handed out by the keg.
    alloc_keg(&mut m, 1, 0, 0x8000 + 400);
    free_push(&mut m, 1, 0, 0x8000 + 400);
    let before = m.clone();
    let ctor = Event::Ctor {
        zone: 0,
        addr: 0x8000 + 400,
        pair: None,
    };
    let r = m.alloc(0, 0, Ok((0x8000 + 400, None)), false, &[ctor]);
    assert_eq!(caught(&m, r, &before), Check::HandedOutCached);
}

#[test]
fn keg_prefers_partial_then_wholly_free_then_new() {
    let mut m = small(0, 0);
    alloc_new(&mut m, 0, 0, 0x1000, 0x1000);
    for i in 1..64 {
        alloc_keg(&mut m, 0, 0, 0x1000 + i * 64);
    }
    alloc_new(&mut m, 0, 0, 0x4000, 0x4000);
    for i in 0..64 {
        free_back(&mut m, 0, 0, 0x1000 + i * 64);
    }
    // 0x1000 is wholly free, 0x4000 is partial: the partial one first.
    let before = m.clone();
    let ctor = Event::Ctor {
        zone: 0,
        addr: 0x1040,
        pair: None,
    };
    let r = m.alloc(0, 0, Ok((0x1040, None)), false, &[ctor]);
    assert_eq!(caught(&m, r, &before), Check::SlabClass);
    for i in 1..64 {
        alloc_keg(&mut m, 0, 0, 0x4000 + i * 64);
    }
    // Only the wholly free slab is left: any of its items.
    alloc_keg(&mut m, 0, 0, 0x1fc0);
    assert_eq!(m.keg_stats(0).unwrap().items_free, 63);
    // Now 0x1000 is partial; free one of 0x4000's: both partial, either is fine.
    free_back(&mut m, 0, 0, 0x4000);
    alloc_keg(&mut m, 0, 0, 0x1000);
    alloc_keg(&mut m, 0, 0, 0x4000);
    // Both full, 0x1000 gets a free item back: a new slab is refused.
    free_back(&mut m, 0, 0, 0x1000);
    let before = m.clone();
    let mut ev = slab_events(&m, 0, 0x9000);
    ev.push(Event::Ctor {
        zone: 0,
        addr: 0x9000,
        pair: None,
    });
    let r = m.alloc(0, 0, Ok((0x9000, None)), false, &ev);
    assert_eq!(caught(&m, r, &before), Check::SlabWithFreeItem);
}
