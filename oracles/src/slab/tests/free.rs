//! Free errors, in order.

use super::*;

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
