//! Refcount ops: kept through a magazine and the keg, gone with a reclaimed slab.

use super::*;

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
