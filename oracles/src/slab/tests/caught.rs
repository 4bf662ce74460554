//! Wrong answers and a broken model, caught: the self-check, a second slab in one allocation,
//! one item handed to two CPUs.

use super::*;

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
