//! Unit tests of the slab oracle: the layout rule on hand-computed cases, every predicted
//! error, Bonwick's cases both ways, pairs, refcounts, reclaim, and the verdicts for wrong
//! answers.

use super::*;

const P: u64 = PAGE_SIZE;

fn cfg(rounds: u16, depot: u16) -> ZoneConfig {
    ZoneConfig {
        rounds,
        depot,
        limit: 0,
    }
}

fn lay(item_size: u64, align: u64, refcounts: bool) -> Layout {
    layout(item_size, align, refcounts).unwrap()
}

fn inits(m: &SlabModel, keg: u8, base: u64) -> Vec<Event> {
    let l = m.layout(keg).unwrap();
    (0..l.items)
        .map(|i| Event::Init {
            keg,
            addr: base + i * l.stride,
        })
        .collect()
}

fn finis(m: &SlabModel, keg: u8, base: u64) -> Vec<Event> {
    let l = m.layout(keg).unwrap();
    let mut ev: Vec<Event> = (0..l.items)
        .map(|i| Event::Fini {
            keg,
            addr: base + i * l.stride,
        })
        .collect();
    ev.push(Event::SlabReleased { keg, base });
    ev
}

fn slab_events(m: &SlabModel, keg: u8, base: u64) -> Vec<Event> {
    let mut ev = vec![Event::SlabAdded { keg, base }];
    ev.extend(inits(m, keg, base));
    ev
}

/// A plain alloc that takes a new slab of `keg` at `base` and hands out `addr` from it.
#[track_caller]
fn alloc_new(m: &mut SlabModel, zone: u8, cpu: u8, base: u64, addr: u64) {
    let keg = m.zone_kind(zone).unwrap().home();
    let mut ev = slab_events(m, keg, base);
    ev.push(Event::Ctor {
        zone,
        addr,
        pair: None,
    });
    m.alloc(zone, cpu, Ok((addr, None)), false, &ev).unwrap();
    m.self_check().unwrap();
}

/// A plain alloc of a free keg item `addr`.
#[track_caller]
fn alloc_keg(m: &mut SlabModel, zone: u8, cpu: u8, addr: u64) {
    let ctor = Event::Ctor {
        zone,
        addr,
        pair: None,
    };
    m.alloc(zone, cpu, Ok((addr, None)), false, &[ctor])
        .unwrap();
    m.self_check().unwrap();
}

/// A magazine hit returning `addr`.
#[track_caller]
fn alloc_hit(m: &mut SlabModel, zone: u8, cpu: u8, addr: u64) {
    m.alloc(zone, cpu, Ok((addr, None)), false, &[]).unwrap();
    m.self_check().unwrap();
}

/// A free that only pushes onto a magazine.
#[track_caller]
fn free_push(m: &mut SlabModel, zone: u8, cpu: u8, addr: u64) {
    m.free(zone, cpu, addr, Ok(()), &[]).unwrap();
    m.self_check().unwrap();
}

/// A free that sends the item back to its keg.
#[track_caller]
fn free_back(m: &mut SlabModel, zone: u8, cpu: u8, addr: u64) {
    let dtor = Event::Dtor {
        zone,
        addr,
        pair: None,
    };
    m.free(zone, cpu, addr, Ok(()), &[dtor]).unwrap();
    m.self_check().unwrap();
}

/// A verdict's check, asserting the model did not move.
#[track_caller]
fn caught(m: &SlabModel, r: Result<(), Verdict>, before: &SlabModel) -> Check {
    assert_eq!(m, before, "a verdict must leave the model as it was");
    let v = r.unwrap_err();
    assert!(!v.to_string().is_empty());
    v.check
}

/// One CPU, one keg of 64-byte items (64 per 4 KiB slab), one zone with `rounds`/`depot`.
fn small(rounds: u16, depot: u16) -> SlabModel {
    let mut m = SlabModel::new(1).unwrap();
    assert_eq!(m.add_keg(64, 8, false), Ok(0));
    assert_eq!(m.add_zone(0, cfg(rounds, depot)), Ok(0));
    m
}

// ---- layout ----------------------------------------------------------------------------

#[test]
fn layout_hand_computed_cases() {
    // 64-byte items: 64 fit a page exactly; on-slab would hold 63 (waste 64) against
    // off-slab's 40-byte header: off-slab, 40 * 16 <= 4096.
    let l = lay(64, 8, false);
    assert_eq!(
        l,
        Layout {
            item_size: 64,
            align: 8,
            stride: 64,
            slab_size: 4096,
            items: 64,
            header: HeaderKind::OffSlab,
            header_bytes: 40,
            waste: 0,
        }
    );
    // 100-byte items, stride 104: 39 * 104 = 4056, and the 40-byte header fills the rest.
    let l = lay(100, 4, false);
    assert_eq!((l.stride, l.slab_size, l.items), (104, 4096, 39));
    assert_eq!(
        (l.header, l.header_bytes, l.waste),
        (HeaderKind::OnSlab, 40, 40)
    );
    assert_eq!(l.header_offset(), 4056);
    // 200-byte items: 20 items (4000 bytes), tail waste [4000, 4056), header [4056, 4096).
    let l = lay(200, 8, false);
    assert_eq!(
        (l.slab_size, l.items, l.header, l.header_bytes),
        (4096, 20, HeaderKind::OnSlab, 40)
    );
    assert_eq!(l.waste, 96);
    // Refcounts, 64-byte items: the header (4 bytes an item) never fits in a tail, and off
    // the slab it wastes about 6.4% at every size, above 1/16: the smallest share wins, the
    // largest slab (2048 items, a 32 + 256 + 8192-byte header).
    let l = lay(64, 8, true);
    assert_eq!(
        (l.slab_size, l.items, l.header),
        (131072, 2048, HeaderKind::OffSlab)
    );
    assert_eq!((l.header_bytes, l.waste), (8480, 0));
    // Refcounts, 1000-byte items: four fill 4000 bytes, the 56-byte header fits in the tail.
    let l = lay(1000, 8, true);
    assert_eq!(
        (l.slab_size, l.items, l.header, l.header_bytes, l.waste),
        (4096, 4, HeaderKind::OnSlab, 56, 96)
    );
    // 65536-byte items: one per 64 KiB slab, header off-slab (no room on it).
    let l = lay(65536, 8, false);
    assert_eq!((l.stride, l.slab_size, l.items), (65536, 65536, 1));
    assert_eq!(
        (l.header, l.header_bytes, l.waste),
        (HeaderKind::OffSlab, 40, 0)
    );
    // Align 4096: stride 4096, one item per page, off-slab.
    let l = lay(100, 4096, false);
    assert_eq!((l.stride, l.slab_size, l.items), (4096, 4096, 1));
    assert_eq!(
        (l.header, l.header_bytes, l.waste),
        (HeaderKind::OffSlab, 40, 0)
    );
    // Align below MIN_ITEM_ALIGN rounds to 8.
    assert_eq!(lay(1, 1, false).stride, 8);
    // 40000-byte items: no size wastes <= 1/16 (64 KiB: 25536 on-slab; 128 KiB: 3 items,
    // 11072 on-slab against 11112 off), so the smallest share wins: 128 KiB.
    let l = lay(40000, 8, false);
    assert_eq!(
        (l.slab_size, l.items, l.header),
        (131072, 3, HeaderKind::OnSlab)
    );
    assert_eq!((l.header_bytes, l.waste), (40, 11072));
}

#[test]
fn header_bytes_formula() {
    assert_eq!(header_bytes(0, false), 32);
    assert_eq!(header_bytes(1, false), 40);
    assert_eq!(header_bytes(64, false), 40);
    assert_eq!(header_bytes(65, false), 48);
    assert_eq!(header_bytes(1, true), 48); // 32 + 8 + 4 = 44 -> 48
    assert_eq!(header_bytes(240, true), 1024);
}

#[test]
fn layout_errors_in_order() {
    use KegErrorKind::*;
    assert_eq!(layout(0, 3, false), Err(ZeroSize));
    assert_eq!(layout(0, 8, true), Err(ZeroSize));
    assert_eq!(layout(MAX_ITEM_SIZE + 1, 0, false), Err(TooBig));
    assert_eq!(layout(u64::MAX, 8, false), Err(TooBig));
    assert_eq!(layout(8, 0, false), Err(BadAlign));
    assert_eq!(layout(8, 3, false), Err(BadAlign));
    assert_eq!(layout(8, 8192, false), Err(BadAlign));
    assert_eq!(layout(8, u64::MAX, false), Err(BadAlign));
    assert!(layout(MAX_ITEM_SIZE, MAX_ITEM_ALIGN, true).is_ok());
}

#[test]
fn every_layout_is_consistent() {
    for align in [1, 8, 16, 64, 512, 4096] {
        for size in (1..=MAX_ITEM_SIZE)
            .step_by(997)
            .chain([4096, 4097, 65535, 65536])
        {
            for rc in [false, true] {
                let l = lay(size, align, rc);
                assert!(l.slab_size.is_power_of_two() && l.slab_size >= P);
                assert!(l.slab_size <= MAX_SLAB_SIZE && l.items >= 1);
                assert_eq!(l.stride % align.max(MIN_ITEM_ALIGN), 0);
                assert!(l.stride >= size && l.stride - size < align.max(MIN_ITEM_ALIGN));
                assert_eq!(l.header_bytes, header_bytes(l.items, rc));
                assert_eq!(l.waste, l.slab_size - l.items * l.stride);
                if l.header == HeaderKind::OnSlab {
                    assert!(l.items * l.stride + l.header_bytes <= l.slab_size);
                } else {
                    assert_eq!(l.items, l.slab_size / l.stride);
                }
            }
        }
    }
}

// ---- creation --------------------------------------------------------------------------

#[test]
fn creation_errors() {
    assert_eq!(SlabModel::new(0), Err(CreateErrorKind::BadCpus));
    assert_eq!(SlabModel::new(MAX_CPUS + 1), Err(CreateErrorKind::BadCpus));
    assert_eq!(SlabModel::new(MAX_CPUS).unwrap().cpus(), MAX_CPUS);
    let mut m = SlabModel::new(2).unwrap();
    assert_eq!(m.add_keg(0, 8, false), Err(KegErrorKind::ZeroSize));
    for i in 0..MAX_KEGS {
        assert_eq!(m.add_keg(32, 8, false), Ok(i as u8));
    }
    // Layout errors come before TooMany.
    assert_eq!(m.add_keg(0, 8, false), Err(KegErrorKind::ZeroSize));
    assert_eq!(m.add_keg(32, 8, false), Err(KegErrorKind::TooMany));
    use ZoneErrorKind::*;
    let bad = ZoneConfig {
        rounds: MAX_ROUNDS + 1,
        depot: MAX_DEPOT + 1,
        limit: 0,
    };
    assert_eq!(m.add_zone(16, bad), Err(NoKeg));
    assert_eq!(m.add_zone(0, bad), Err(BadRounds));
    assert_eq!(m.add_zone(0, cfg(MAX_ROUNDS, MAX_DEPOT + 1)), Err(BadDepot));
    assert_eq!(m.add_packet_zone(0, 16, bad), Err(NoKeg));
    assert_eq!(m.add_packet_zone(16, 16, bad), Err(NoKeg));
    assert_eq!(m.add_packet_zone(3, 3, bad), Err(SameKeg));
    assert_eq!(m.add_packet_zone(3, 4, bad), Err(BadRounds));
    assert_eq!(
        m.add_packet_zone(3, 4, cfg(0, MAX_DEPOT + 1)),
        Err(BadDepot)
    );
    assert_eq!(m.add_packet_zone(1, 2, cfg(0, 0)), Ok(0));
    for i in 1..MAX_ZONES {
        assert_eq!(m.add_zone(0, cfg(MAX_ROUNDS, MAX_DEPOT)), Ok(i as u8));
    }
    assert_eq!(m.add_zone(0, bad), Err(BadRounds));
    assert_eq!(m.add_zone(0, cfg(1, 1)), Err(TooMany));
    assert_eq!(m.add_packet_zone(1, 2, cfg(1, 1)), Err(TooMany));
    assert_eq!(m.set_limit(MAX_ZONES as u8, 3), Err(NoZone));
    assert_eq!(m.set_limit(0, 3), Ok(()));
    assert_eq!(m.zone_stats(0).unwrap().limit, 3);
    m.self_check().unwrap();
    assert_eq!(
        m.zone_kind(0),
        Some(ZoneKind::Packet {
            primary: 1,
            secondary: 2
        })
    );
    assert!(judge_eq(Check::Create, &m.add_keg(1, 1, false), &Ok(16)).is_err());
}

// ---- alloc -----------------------------------------------------------------------------

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

// ---- Bonwick ---------------------------------------------------------------------------

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

// ---- free ------------------------------------------------------------------------------

#[test]
fn free_errors_in_order() {
    use FreeErrorKind::*;
    let mut m = SlabModel::new(1).unwrap();
    m.add_keg(200, 8, false).unwrap(); // keg 0: on-slab header at +4056, tail at +4000
    m.add_keg(64, 8, false).unwrap(); // keg 1
    m.add_zone(0, cfg(4, 1)).unwrap(); // zone 0
    m.add_zone(0, cfg(0, 0)).unwrap(); // zone 1, same keg
    m.add_zone(1, cfg(0, 0)).unwrap(); // zone 2, keg 1
    alloc_new(&mut m, 0, 0, 0x4000, 0x4000);
    alloc_keg(&mut m, 1, 0, 0x4000 + 200);
    alloc_new(&mut m, 2, 0, 0x10000, 0x10000);
    let before = m.clone();
    let check = |m: &mut SlabModel, zone: u8, cpu: u8, addr: u64, e: FreeErrorKind| {
        m.free(zone, cpu, addr, Err(e), &[]).unwrap();
        assert_eq!(*m, before);
    };
    check(&mut m, 3, 9, 0x1234, NoZone);
    check(&mut m, 0, 1, 0x1234, BadCpu);
    check(&mut m, 0, 0, 0x1234, NotSlab);
    check(&mut m, 0, 0, 0x10000, NotSlab); // keg 1's live item, freed to a keg-0 zone
    check(&mut m, 0, 0, 0x4000 + 4056, InHeader);
    check(&mut m, 0, 0, 0x4fff, InHeader);
    check(&mut m, 0, 0, 0x4001, NotItemStart);
    check(&mut m, 0, 0, 0x4000 + 4000, NotItemStart); // tail waste
    check(&mut m, 0, 0, 0x4000 + 200, WrongZone); // live in zone 1
    check(&mut m, 1, 0, 0x4000, WrongZone); // live in zone 0
    check(&mut m, 0, 0, 0x4000 + 400, NotLive); // never handed out
                                                // Wrong answers.
    let r = m.free(0, 0, 0x4000 + 400, Ok(()), &[]);
    assert_eq!(caught(&m, r, &before), Check::FreeAccepted);
    let r = m.free(0, 0, 0x4000 + 200, Err(NotLive), &[]);
    assert_eq!(caught(&m, r, &before), Check::FreeResult);
    let r = m.free(0, 0, 0x4000, Err(NotLive), &[]);
    assert_eq!(caught(&m, r, &before), Check::FreeResult);
    let dtor = Event::Dtor {
        zone: 0,
        addr: 0x4000 + 400,
        pair: None,
    };
    let r = m.free(0, 0, 0x4000 + 400, Err(NotLive), &[dtor]);
    assert_eq!(caught(&m, r, &before), Check::ExtraEvent);
    // A double free while the first free sits in a magazine.
    free_push(&mut m, 0, 0, 0x4000);
    let before = m.clone();
    m.free(0, 0, 0x4000, Err(NotLive), &[]).unwrap();
    m.free(1, 0, 0x4000, Err(NotLive), &[]).unwrap(); // cached in zone 0: not live anywhere
    let r = m.free(0, 0, 0x4000, Ok(()), &[]);
    assert_eq!(caught(&m, r, &before), Check::FreeAccepted);
    // A double free after the first went back to the keg.
    free_back(&mut m, 1, 0, 0x4000 + 200);
    m.free(1, 0, 0x4000 + 200, Err(NotLive), &[]).unwrap();
}

// ---- packet zones ----------------------------------------------------------------------

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

// ---- refcounts -------------------------------------------------------------------------

#[test]
fn refcounts() {
    use RefErrorKind::*;
    let mut m = SlabModel::new(1).unwrap();
    m.add_keg(1000, 8, true).unwrap(); // 4 KiB, 4 items, header [+4040, +4096)
    m.add_keg(64, 8, false).unwrap();
    m.add_zone(0, cfg(2, 0)).unwrap(); // zone 0, magazines
    m.add_zone(0, cfg(0, 0)).unwrap(); // zone 1, straight to the keg
    m.add_zone(1, cfg(0, 0)).unwrap(); // zone 2, no refcounts
    let b = 0x40000;
    alloc_new(&mut m, 0, 0, b, b);
    alloc_keg(&mut m, 1, 0, b + 1000);
    alloc_new(&mut m, 2, 0, 0x1000, 0x1000);
    assert_eq!(m.predict_refcount(0x999_0000), Err(NotSlab));
    assert_eq!(m.predict_refcount(b + 4040), Err(InHeader));
    assert_eq!(m.predict_refcount(b + 4095), Err(InHeader));
    assert_eq!(m.predict_refcount(b + 1), Err(NotItemStart));
    assert_eq!(m.predict_refcount(0x1000), Err(NoRefcounts));
    assert_eq!(m.predict_refcount(0x1040), Err(NoRefcounts)); // before NotLive
    assert_eq!(m.predict_refcount(b + 2000), Err(NotLive));
    m.refcount(b, Ok(0)).unwrap();
    let r = m.refcount(b, Ok(1));
    assert_eq!(r.unwrap_err().check, Check::RefcountResult);
    m.set_refcount(b, 5, Ok(())).unwrap();
    m.set_refcount(b + 1000, 7, Ok(())).unwrap();
    let before = m.clone();
    let r = m.set_refcount(b + 2000, 1, Ok(()));
    assert_eq!(caught(&m, r, &before), Check::SetRefcountResult);
    m.set_refcount(b + 2000, 1, Err(NotLive)).unwrap();
    m.refcount(b, Ok(5)).unwrap();
    // Through a magazine: not live while cached, kept.
    free_push(&mut m, 0, 0, b);
    m.refcount(b, Err(NotLive)).unwrap();
    alloc_hit(&mut m, 0, 0, b);
    m.refcount(b, Ok(5)).unwrap();
    // Through the keg: kept with the slot.
    free_back(&mut m, 1, 0, b + 1000);
    alloc_keg(&mut m, 1, 0, b + 1000);
    m.refcount(b + 1000, Ok(7)).unwrap();
    // Gone with the slab: free everything, reclaim, take the slab back.
    free_back(&mut m, 1, 0, b + 1000);
    free_push(&mut m, 0, 0, b);
    let mut ev = vec![Event::Dtor {
        zone: 0,
        addr: b,
        pair: None,
    }];
    ev.extend(finis(&m, 0, b));
    m.reclaim((1, 1), &ev).unwrap();
    m.refcount(b, Err(NotSlab)).unwrap();
    alloc_new(&mut m, 1, 0, b, b + 1000);
    m.refcount(b + 1000, Ok(0)).unwrap();
}

// ---- reclaim ---------------------------------------------------------------------------

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

#[test]
fn self_check_catches_a_broken_model() {
    let mut m = small(2, 1);
    alloc_new(&mut m, 0, 0, 0, 0);
    m.self_check().unwrap();
    let mut broken = m.clone();
    broken.kegs_mut_for_test(|slab_free| slab_free[5] = false);
    assert!(broken.self_check().is_err());
    let mut broken = m.clone();
    broken.kegs_mut_for_test(|slab_free| slab_free[0] = true);
    assert!(broken.self_check().is_err());
}

#[test]
fn a_second_slab_in_one_alloc_is_caught() {
    let mut m = small(0, 0);
    let before = m.clone();
    let mut ev = slab_events(&m, 0, 0x1000);
    ev.extend(slab_events(&m, 0, 0x2000));
    ev.push(Event::Ctor {
        zone: 0,
        addr: 0x1000,
        pair: None,
    });
    let r = m.alloc(0, 0, Ok((0x1000, None)), false, &ev);
    assert_eq!(caught(&m, r, &before), Check::SlabWithFreeItem);
    let v = m.alloc(0, 0, Ok((0x1000, None)), false, &ev).unwrap_err();
    assert_eq!(
        v.to_string(),
        "SlabWithFreeItem: expected Ctor { zone: 0, addr: 1000, pair: None }, \
         seen SlabAdded { keg: 0, base: 2000 }"
    );
}

#[test]
fn one_item_to_two_cpus_is_caught() {
    // Two CPUs; the keg is dry; CPU 1 gets the item CPU 0 holds (a magazine exchange bug).
    let mut m = SlabModel::new(2).unwrap();
    m.add_keg(65536, 8, false).unwrap(); // one item per slab
    m.add_zone(0, cfg(1, 1)).unwrap();
    alloc_new(&mut m, 0, 0, 0x10000, 0x10000);
    let before = m.clone();
    let r = m.alloc(0, 1, Ok((0x10000, None)), false, &[]);
    assert_eq!(caught(&m, r, &before), Check::HandedOutLive);
    free_push(&mut m, 0, 0, 0x10000);
    let before = m.clone();
    let r = m.alloc(0, 1, Ok((0x10000, None)), false, &[]);
    assert_eq!(caught(&m, r, &before), Check::HandedOutCached);
    let r = m.alloc(0, 1, Ok((0x20000, None)), false, &[]);
    assert_eq!(caught(&m, r, &before), Check::SlabMissing);
    alloc_hit(&mut m, 0, 0, 0x10000);
}
