//! Unit tests of the slab oracle: the layout rule on hand-computed cases, every predicted
//! error, Bonwick's cases both ways, pairs, refcounts, reclaim, and the verdicts for wrong
//! answers.

use super::*;

mod alloc;
mod bonwick;
mod caught;
mod creation;
mod free;
mod layout;
mod packet;
mod reclaim;
mod refcounts;

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
