//! Unit tests of the slab system: the layout rule on hand-computed cases; every error of every
//! operation in precedence order; Bonwick's four magazine moves for alloc and free (depot
//! limit 0, rounds 0); LIFO hits; packet pairs; refcounts; limits; reclaim against a vmem
//! arena that must get every slab back; slabs at address 0 and at the top of the 64-bit
//! space; hook sequences; `check_invariants` after every step of long pseudo-random
//! sequences; and, with `seeded-bugs`, one observable failure per seeded bug.

extern crate std;

use super::*;
use crate::vmem::Arena;
use crate::xorshift::XorShift;
use alloc::vec;
use alloc::vec::Vec;

const P: u64 = PAGE_SIZE;
const MIB: u64 = 1 << 20;

/// A hook event, as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ev {
    Init(u8, u64),
    Fini(u8, u64),
    Ctor(u8, u64, Option<u64>),
    Dtor(u8, u64, Option<u64>),
}

/// Hooks that record every call.
#[derive(Default, Debug, Clone)]
struct Rec(Vec<Ev>);

impl ItemHooks for Rec {
    fn init(&mut self, keg: KegId, addr: u64) {
        self.0.push(Ev::Init(keg.0, addr));
    }
    fn fini(&mut self, keg: KegId, addr: u64) {
        self.0.push(Ev::Fini(keg.0, addr));
    }
    fn ctor(&mut self, zone: ZoneId, addr: u64, pair: Option<u64>) {
        self.0.push(Ev::Ctor(zone.0, addr, pair));
    }
    fn dtor(&mut self, zone: ZoneId, addr: u64, pair: Option<u64>) {
        self.0.push(Ev::Dtor(zone.0, addr, pair));
    }
}

impl Rec {
    fn take(&mut self) -> Vec<Ev> {
        core::mem::take(&mut self.0)
    }
}

fn arena(base: u64, size: u64) -> Arena {
    let mut a = Arena::new("slabs", P, None).unwrap();
    a.add_span(base, size).unwrap();
    a
}

fn zc(rounds: u16, depot: u16, limit: u64) -> ZoneConfig {
    ZoneConfig {
        rounds,
        depot,
        limit,
    }
}

fn system(cpus: u8) -> Slabs<Rec> {
    Slabs::with_hooks(cpus, Rec::default()).unwrap()
}

fn ok<H: ItemHooks>(s: &Slabs<H>) {
    if let Err(e) = s.check_invariants() {
        panic!("invariant broken: {e}");
    }
}

// ---- layout -----------------------------------------------------------------------------

fn lay(size: u64, align: u64, rc: bool) -> (u64, u64, HeaderPlacement, u64, u64) {
    let l = SlabLayout::new(size, align, rc).unwrap();
    (l.slab_size, l.items, l.header, l.header_bytes, l.waste)
}

#[test]
fn layout_hand_computed() {
    use HeaderPlacement::{OffSlab, OnSlab};
    // 64-byte items: off-slab wastes 40 (the header), on-slab 63 items waste 64.
    assert_eq!(lay(64, 8, false), (4096, 64, OffSlab, 40, 0));
    // 8-byte items: an on-slab header would displace 12 items (500 + 96 bytes), so it goes
    // off the slab: 512 items, no in-slab waste.
    assert_eq!(lay(8, 8, false), (4096, 512, OffSlab, 96, 0));
    // 100-byte items, stride 104: the 40-byte header fits in the 40-byte tail of 39 items.
    assert_eq!(lay(100, 8, false), (4096, 39, OnSlab, 40, 40));
    assert_eq!(SlabLayout::new(100, 8, false).unwrap().stride, 104);
    // Refcounts on 64-byte items: the header (4 bytes an item) never fits in a tail and
    // wastes about 6.4% off the slab at every size, above 1/16: the smallest share wins,
    // the largest slab (2048 items, 32 + 256 + 8192 header bytes).
    assert_eq!(lay(64, 8, true), (131072, 2048, OffSlab, 8480, 0));
    // 2000-byte items with refcounts: two fill 4000 bytes, the 48-byte header fits in the
    // 96-byte tail.
    assert_eq!(lay(2000, 8, true), (4096, 2, OnSlab, 48, 96));
    // One 64 KiB item per 64 KiB slab, off-slab.
    assert_eq!(lay(65536, 8, false), (65536, 1, OffSlab, 40, 0));
    // Alignment 4096 makes a 100-byte item take a page.
    assert_eq!(lay(100, 4096, false), (4096, 1, OffSlab, 40, 0));
    assert_eq!(SlabLayout::new(100, 4096, false).unwrap().stride, 4096);
    // 3000-byte items: the first good size is 64 KiB (21 items, 2536 wasted).
    assert_eq!(lay(3000, 8, false), (65536, 21, OnSlab, 40, 2536));
    // 40000-byte items: no size is good; 128 KiB has the smallest ratio (11072 / 131072).
    assert_eq!(lay(40000, 8, false), (131072, 3, OnSlab, 40, 11072));
    // Small alignments act as MIN_ITEM_ALIGN.
    assert_eq!(SlabLayout::new(1, 1, false).unwrap().stride, 8);
    assert_eq!(header_bytes(64, false), 40);
    assert_eq!(header_bytes(65, true), 32 + 16 + 260 + 4);
}

#[test]
fn layout_errors_in_order() {
    assert_eq!(SlabLayout::new(0, 3, false), Err(KegError::ZeroSize));
    assert_eq!(SlabLayout::new(65537, 0, false), Err(KegError::TooBig));
    assert_eq!(SlabLayout::new(8, 0, false), Err(KegError::BadAlign));
    assert_eq!(SlabLayout::new(8, 24, false), Err(KegError::BadAlign));
    assert_eq!(SlabLayout::new(8, 8192, false), Err(KegError::BadAlign));
    assert!(SlabLayout::new(MAX_ITEM_SIZE, MAX_ITEM_ALIGN, true).is_ok());
    // Every legal layout has at least one item and its slab holds it.
    for size in (1..=MAX_ITEM_SIZE).step_by(997) {
        for rc in [false, true] {
            let l = SlabLayout::new(size, 8, rc).unwrap();
            assert!(l.items >= 1 && l.slab_size.is_power_of_two());
            assert!(l.items * l.stride + l.header_in_slab() <= l.slab_size);
            assert_eq!(l.waste, l.slab_size - l.items * l.stride);
        }
    }
}

// ---- creation errors ----------------------------------------------------------------------

#[test]
fn creation_errors_in_order() {
    assert_eq!(Slabs::new(0).err(), Some(CreateError::BadCpus));
    assert_eq!(Slabs::new(MAX_CPUS + 1).err(), Some(CreateError::BadCpus));
    let mut s = Slabs::new(MAX_CPUS).unwrap();
    assert_eq!(s.add_keg(0, 8, false), Err(KegError::ZeroSize));
    for i in 0..MAX_KEGS {
        assert_eq!(s.add_keg(64, 8, false), Ok(KegId(i as u8)));
    }
    assert_eq!(s.add_keg(0, 8, false), Err(KegError::ZeroSize));
    assert_eq!(s.add_keg(64, 8, false), Err(KegError::TooMany));
    assert_eq!(s.keg_count(), MAX_KEGS);
    assert_eq!(s.zone_count(), 0);
    let k = KegId(0);
    let none = KegId(MAX_KEGS as u8);
    assert_eq!(s.add_zone(none, zc(99, 99, 0)), Err(ZoneError::NoKeg));
    assert_eq!(s.add_zone(k, zc(65, 99, 0)), Err(ZoneError::BadRounds));
    assert_eq!(s.add_zone(k, zc(64, 65, 0)), Err(ZoneError::BadDepot));
    assert_eq!(
        s.add_packet_zone(k, none, zc(99, 0, 0)),
        Err(ZoneError::NoKeg)
    );
    assert_eq!(
        s.add_packet_zone(k, k, zc(99, 0, 0)),
        Err(ZoneError::SameKeg)
    );
    assert_eq!(
        s.add_packet_zone(k, KegId(1), zc(99, 0, 0)),
        Err(ZoneError::BadRounds)
    );
    for i in 0..MAX_ZONES {
        let z = if i % 2 == 0 {
            s.add_zone(k, zc(64, 64, 0))
        } else {
            s.add_packet_zone(k, KegId(1), zc(0, 0, 0))
        };
        assert_eq!(z, Ok(ZoneId(i as u8)));
        assert_eq!(s.zone_count(), i + 1);
    }
    assert_eq!(s.add_zone(k, zc(65, 0, 0)), Err(ZoneError::BadRounds));
    assert_eq!(s.add_zone(k, zc(0, 0, 0)), Err(ZoneError::TooMany));
    assert_eq!(
        s.add_packet_zone(k, KegId(1), zc(0, 0, 0)),
        Err(ZoneError::TooMany)
    );
    assert_eq!(
        s.set_limit(ZoneId(MAX_ZONES as u8), 1),
        Err(ZoneError::NoZone)
    );
    assert_eq!(s.set_limit(ZoneId(3), 7), Ok(()));
    assert_eq!(s.zone_stats(ZoneId(3)).unwrap().limit, 7);
    assert_eq!(s.zone_kegs(ZoneId(1)), Some((k, Some(KegId(1)))));
    ok(&s);
}

// ---- alloc, free and refcount errors ------------------------------------------------------

#[test]
fn alloc_errors_in_order() {
    let mut s = system(2);
    let k = s.add_keg(64, 8, false).unwrap();
    let z = s.add_zone(k, zc(4, 1, 1)).unwrap();
    let mut empty = Arena::new("empty", P, None).unwrap();
    let mut a = arena(0x10_0000, MIB);
    assert_eq!(s.alloc(ZoneId(1), 9, &mut a), Err(AllocError::NoZone));
    assert_eq!(s.alloc(z, 2, &mut a), Err(AllocError::BadCpu));
    // NoSpace changes nothing: no slab, no hook.
    assert_eq!(s.alloc(z, 1, &mut empty), Err(AllocError::NoSpace));
    assert_eq!(s.slabs(k).count(), 0);
    assert!(s.hooks().0.is_empty());
    assert_eq!(
        s.zone_stats(z).unwrap(),
        ZoneStats {
            limit: 1,
            ..ZoneStats::default()
        }
    );
    let item = s.alloc(z, 1, &mut a).unwrap();
    assert_eq!(item.pair, None);
    assert_eq!(s.alloc(z, 2, &mut a), Err(AllocError::BadCpu));
    assert_eq!(s.alloc(z, 0, &mut a), Err(AllocError::Limit));
    ok(&s);
}

#[test]
fn free_errors_in_order() {
    let mut s = system(2);
    // 3000-byte items: 21 on a 64 KiB slab, tail waste [63000, 65496), header after.
    let k = s.add_keg(3000, 8, false).unwrap();
    let k2 = s.add_keg(64, 8, false).unwrap();
    let z = s.add_zone(k, zc(4, 1, 0)).unwrap();
    let other = s.add_zone(k, zc(4, 1, 0)).unwrap();
    let z2 = s.add_zone(k2, zc(0, 0, 0)).unwrap();
    let mut a = arena(0, 4 * MIB);
    let x = s.alloc(z, 0, &mut a).unwrap().addr;
    let base = x & !(65536 - 1);
    assert_eq!(x, base);
    let y = s.alloc(other, 0, &mut a).unwrap().addr;
    let w = s.alloc(z2, 0, &mut a).unwrap().addr;
    assert_eq!(s.free(ZoneId(3), 0, x), Err(FreeError::NoZone));
    assert_eq!(s.free(z, 2, 0xdead), Err(FreeError::BadCpu));
    assert_eq!(s.free(z, 0, base + 65536), Err(FreeError::NotSlab));
    assert_eq!(s.free(z, 0, w), Err(FreeError::NotSlab));
    assert_eq!(s.free(z, 0, u64::MAX), Err(FreeError::NotSlab));
    // The slab base with every bit above the slab size flipped: truncating it does not give
    // the hint's slab (the last one used), so it is no slab's.
    assert_eq!(s.free(z, 0, base ^ !(65536 - 1)), Err(FreeError::NotSlab));
    assert_eq!(s.free(z, 0, base + 65536 - 40), Err(FreeError::InHeader));
    assert_eq!(s.free(z, 0, base + 65535), Err(FreeError::InHeader));
    assert_eq!(s.free(z, 0, base + 65495), Err(FreeError::NotItemStart));
    assert_eq!(s.free(z, 0, base + 63000), Err(FreeError::NotItemStart));
    assert_eq!(s.free(z, 0, x + 8), Err(FreeError::NotItemStart));
    assert_eq!(s.free(z, 0, y), Err(FreeError::WrongZone));
    // Never handed out.
    assert_eq!(s.free(z, 0, base + 20 * 3000), Err(FreeError::NotLive));
    assert_eq!(s.free(z, 1, x), Ok(()));
    // Double free while the first free sits in CPU 1's magazine, from either CPU, and a
    // free to the other zone of an item cached by this one.
    assert_eq!(s.free(z, 0, x), Err(FreeError::NotLive));
    assert_eq!(s.free(z, 1, x), Err(FreeError::NotLive));
    assert_eq!(s.free(other, 0, x), Err(FreeError::NotLive));
    // Double free after the first went back to the keg (rounds 0).
    assert_eq!(s.free(z2, 0, w), Ok(()));
    assert_eq!(s.free(z2, 0, w), Err(FreeError::NotLive));
    ok(&s);
}

#[test]
fn refcount_errors_in_order() {
    let mut s = system(1);
    let plain = s.add_keg(3000, 8, false).unwrap();
    // Two items on a 4 KiB slab, an on-slab header of 48 bytes.
    let rk = s.add_keg(2000, 8, true).unwrap();
    let zp = s.add_zone(plain, zc(0, 0, 0)).unwrap();
    let zr = s.add_zone(rk, zc(2, 0, 0)).unwrap();
    let mut a = arena(0, 4 * MIB);
    let p = s.alloc(zp, 0, &mut a).unwrap().addr;
    let r = s.alloc(zr, 0, &mut a).unwrap().addr;
    let l = s.layout(rk).unwrap();
    let rbase = r & !(l.slab_size - 1);
    assert_eq!(s.refcount(0x7000_0000), Err(RefError::NotSlab));
    assert_eq!(
        s.refcount(rbase + l.slab_size - l.header_bytes),
        Err(RefError::InHeader)
    );
    assert_eq!(s.refcount(r + 1), Err(RefError::NotItemStart));
    assert_eq!(s.refcount(p), Err(RefError::NoRefcounts));
    assert_eq!(s.set_refcount(p, 1), Err(RefError::NoRefcounts));
    assert_eq!(s.refcount(r + l.stride), Err(RefError::NotLive));
    assert_eq!(s.refcount(r), Ok(0));
    assert_eq!(s.set_refcount(r, 9), Ok(()));
    // Cached (in a magazine) is not live.
    s.free(zr, 0, r).unwrap();
    assert_eq!(s.refcount(r), Err(RefError::NotLive));
    assert_eq!(s.set_refcount(r, 1), Err(RefError::NotLive));
    ok(&s);
}

// ---- magazines ----------------------------------------------------------------------------

/// Allocates `n` items from the keg of `z` on CPU 0 with magazines bypassed (a second zone on
/// the same keg would do; here the zone's magazines are still empty, so each comes from the
/// keg).
fn alloc_n(s: &mut Slabs<Rec>, z: ZoneId, cpu: u8, n: usize, a: &mut Arena) -> Vec<u64> {
    (0..n).map(|_| s.alloc(z, cpu, a).unwrap().addr).collect()
}

#[test]
fn free_moves_bonwick_four_cases() {
    let mut s = system(2);
    let k = s.add_keg(64, 8, false).unwrap();
    let z = s.add_zone(k, zc(2, 1, 0)).unwrap();
    let mut a = arena(0x40_0000, MIB);
    let it = alloc_n(&mut s, z, 0, 8, &mut a);
    s.hooks_mut().take();
    let cached = |s: &Slabs<Rec>| s.zone_stats(z).unwrap().cached;
    // 1. loaded has room: push (twice).
    s.free(z, 0, it[0]).unwrap();
    s.free(z, 0, it[1]).unwrap();
    assert_eq!(cached(&s), 2);
    // 2. loaded full, previous empty: swap, push.
    s.free(z, 0, it[2]).unwrap();
    s.free(z, 0, it[3]).unwrap();
    assert_eq!(cached(&s), 4);
    // 3. both full, depot has room: previous to the depot, loaded becomes previous.
    s.free(z, 0, it[4]).unwrap();
    s.free(z, 0, it[5]).unwrap();
    assert_eq!(cached(&s), 6);
    assert!(s.hooks().0.is_empty());
    ok(&s);
    // 4. both full, depot full: dtor, back to the keg.
    s.free(z, 0, it[6]).unwrap();
    assert_eq!(s.hooks_mut().take(), vec![Ev::Dtor(0, it[6], None)]);
    assert_eq!(cached(&s), 6);
    ok(&s);
    // Alloc on CPU 0 now pops in LIFO order: loaded [4, 5], then previous [2, 3] (full:
    // swap), then the depot's [0, 1], with no hook.
    let got = alloc_n(&mut s, z, 0, 6, &mut a);
    assert_eq!(got, vec![it[5], it[4], it[3], it[2], it[1], it[0]]);
    assert!(s.hooks().0.is_empty());
    ok(&s);
    // 4. Everything empty: from the keg, with a ctor (the lowest free item: it[6]).
    let x = s.alloc(z, 0, &mut a).unwrap().addr;
    assert_eq!(x, it[6]);
    assert_eq!(s.hooks_mut().take(), vec![Ev::Ctor(0, x, None)]);
}

#[test]
fn alloc_moves_bonwick_four_cases() {
    let mut s = system(2);
    let k = s.add_keg(64, 8, false).unwrap();
    let z = s.add_zone(k, zc(2, 2, 0)).unwrap();
    let mut a = arena(0x40_0000, MIB);
    let it = alloc_n(&mut s, z, 0, 6, &mut a);
    // CPU 0 frees all six: loaded [4, 5], previous [2, 3], depot [[0, 1]].
    for &x in &it {
        s.free(z, 0, x).unwrap();
    }
    // CPU 1 has empty magazines: step 3 (depot) gives [0, 1], LIFO.
    s.hooks_mut().take();
    assert_eq!(s.alloc(z, 1, &mut a).unwrap().addr, it[1]);
    assert_eq!(s.alloc(z, 1, &mut a).unwrap().addr, it[0]);
    // Step 4: depot empty, CPU 1's previous empty: the keg.
    let x = s.alloc(z, 1, &mut a).unwrap().addr;
    assert_eq!(s.hooks_mut().take(), vec![Ev::Ctor(0, x, None)]);
    // CPU 0: step 1 twice, step 2 (previous full) twice.
    let got = alloc_n(&mut s, z, 0, 4, &mut a);
    assert_eq!(got, vec![it[5], it[4], it[3], it[2]]);
    assert!(s.hooks().0.is_empty());
    assert_eq!(s.zone_stats(z).unwrap().cached, 0);
    ok(&s);
}

#[test]
fn depot_zero_and_rounds_zero() {
    let mut s = system(1);
    let k = s.add_keg(64, 8, false).unwrap();
    let d0 = s.add_zone(k, zc(1, 0, 0)).unwrap();
    let r0 = s.add_zone(k, zc(0, 5, 0)).unwrap();
    let mut a = arena(0x40_0000, MIB);
    let it = alloc_n(&mut s, d0, 0, 3, &mut a);
    s.hooks_mut().take();
    // M = 1, depot 0: two fit (loaded, then swap), the third goes to the keg.
    s.free(d0, 0, it[0]).unwrap();
    s.free(d0, 0, it[1]).unwrap();
    assert!(s.hooks().0.is_empty());
    s.free(d0, 0, it[2]).unwrap();
    assert_eq!(s.hooks_mut().take(), vec![Ev::Dtor(d0.0, it[2], None)]);
    // M = 0: every op goes to the keg, with ctor and dtor.
    let x = s.alloc(r0, 0, &mut a).unwrap().addr;
    s.free(r0, 0, x).unwrap();
    assert_eq!(
        s.hooks_mut().take(),
        vec![Ev::Ctor(r0.0, x, None), Ev::Dtor(r0.0, x, None)]
    );
    assert_eq!(s.zone_stats(r0).unwrap().cached, 0);
    ok(&s);
}

#[test]
fn magazine_hit_is_lifo_per_cpu() {
    let mut s = system(4);
    let k = s.add_keg(32, 8, false).unwrap();
    let z = s.add_zone(k, zc(8, 4, 0)).unwrap();
    let mut a = arena(0, MIB);
    for cpu in 0..4 {
        let x = s.alloc(z, cpu, &mut a).unwrap().addr;
        let y = s.alloc(z, cpu, &mut a).unwrap().addr;
        s.free(z, cpu, x).unwrap();
        s.free(z, cpu, y).unwrap();
        assert_eq!(s.alloc(z, cpu, &mut a).unwrap().addr, y);
        assert_eq!(s.alloc(z, cpu, &mut a).unwrap().addr, x);
        s.free(z, cpu, y).unwrap();
    }
    // Each CPU's loaded holds its own y; a hit on CPU 2 gives CPU 2's.
    let st = s.zone_stats(z).unwrap();
    assert_eq!((st.live, st.cached), (4, 4));
    ok(&s);
}

// ---- packet zones -------------------------------------------------------------------------

#[test]
fn packet_pairs_and_their_drain() {
    let mut s = system(2);
    let mbuf = s.add_keg(256, 8, false).unwrap();
    let clust = s.add_keg(2048, 8, true).unwrap();
    let zm = s.add_zone(mbuf, zc(2, 1, 0)).unwrap();
    let zc_ = s.add_zone(clust, zc(2, 1, 0)).unwrap();
    let zp = s.add_packet_zone(mbuf, clust, zc(1, 1, 0)).unwrap();
    let mut a = arena(0x100_0000, 4 * MIB);
    s.hooks_mut().take();
    let p = s.alloc(zp, 0, &mut a).unwrap();
    let c = p.pair.unwrap();
    let ev = s.hooks_mut().take();
    // init of every mbuf item, init of every cluster item, then one ctor for the pair.
    let lm = s.layout(mbuf).unwrap();
    let lc = s.layout(clust).unwrap();
    assert_eq!(ev.len() as u64, lm.items + lc.items + 1);
    assert_eq!(ev.last(), Some(&Ev::Ctor(zp.0, p.addr, Some(c))));
    assert_eq!(ev.first(), Some(&Ev::Init(mbuf.0, p.addr)));
    // Both halves are live in the packet zone: refcounts work on the cluster half.
    assert_eq!(s.set_refcount(c, 3), Ok(()));
    assert_eq!(s.free(zm, 0, p.addr), Err(FreeError::WrongZone));
    assert_eq!(s.free(zc_, 0, c), Err(FreeError::WrongZone));
    assert_eq!(s.free(zp, 0, c), Err(FreeError::NotSlab));
    ok(&s);
    // Freed to the packet zone: cached as a pair, handed out again as the same pair.
    s.free(zp, 1, p.addr).unwrap();
    assert!(s.hooks().0.is_empty());
    assert_eq!(s.refcount(c), Err(RefError::NotLive));
    assert_eq!(s.free(zp, 1, p.addr), Err(FreeError::NotLive));
    ok(&s);
    assert_eq!(s.alloc(zp, 1, &mut a).unwrap(), p);
    assert_eq!(s.refcount(c), Ok(3));
    ok(&s);
    // Three pairs freed on CPU 0 (M = 1, depot 1): loaded, swap, depot.
    let q = s.alloc(zp, 0, &mut a).unwrap();
    let r = s.alloc(zp, 0, &mut a).unwrap();
    s.free(zp, 0, p.addr).unwrap();
    s.free(zp, 0, q.addr).unwrap();
    s.free(zp, 0, r.addr).unwrap();
    s.hooks_mut().take();
    ok(&s);
    // Reclaim: CPU 0 loaded [r], previous [q], depot [[p]]: dtors in that order.
    let rep = s.reclaim(&mut a);
    let ev = s.hooks_mut().take();
    assert_eq!(
        ev.get(..3).unwrap(),
        &[
            Ev::Dtor(zp.0, r.addr, r.pair),
            Ev::Dtor(zp.0, q.addr, q.pair),
            Ev::Dtor(zp.0, p.addr, p.pair)
        ]
    );
    // One mbuf slab (16 items), two cluster slabs (2 items each).
    assert_eq!(rep, ReclaimReport { items: 3, slabs: 3 });
    assert_eq!(a.stats().in_use, 0);
    ok(&s);
}

#[test]
fn packet_secondary_failure_gives_primary_back() {
    let mut s = system(1);
    let small = s.add_keg(64, 8, false).unwrap();
    let big = s.add_keg(65536, 8, false).unwrap();
    let zp = s.add_packet_zone(small, big, zc(0, 0, 0)).unwrap();
    // Room for the small keg's slab only.
    let mut a = arena(0, P);
    assert_eq!(s.alloc(zp, 0, &mut a), Err(AllocError::NoSpace));
    let ks = s.keg_stats(small).unwrap();
    assert_eq!((ks.slabs, ks.items_out, ks.items_free), (1, 0, 64));
    assert!(!s.hooks().0.iter().any(|e| matches!(e, Ev::Ctor(..))));
    assert_eq!(s.zone_stats(zp).unwrap().live, 0);
    ok(&s);
}

// ---- refcounts, limits, reclaim -----------------------------------------------------------

#[test]
fn refcounts_persist_and_reset_on_new_slab() {
    let mut s = system(1);
    let k = s.add_keg(64, 8, true).unwrap();
    let z = s.add_zone(k, zc(0, 0, 0)).unwrap();
    let mut a = arena(0x80_0000, MIB);
    let x = s.alloc(z, 0, &mut a).unwrap().addr;
    s.set_refcount(x, 41).unwrap();
    s.free(z, 0, x).unwrap();
    assert_eq!(s.alloc(z, 0, &mut a).unwrap().addr, x);
    assert_eq!(s.refcount(x), Ok(41));
    s.free(z, 0, x).unwrap();
    assert_eq!(s.reclaim(&mut a), ReclaimReport { items: 0, slabs: 1 });
    // The new slab (at the same base) starts at 0.
    assert_eq!(s.alloc(z, 0, &mut a).unwrap().addr, x);
    assert_eq!(s.refcount(x), Ok(0));
    ok(&s);
}

#[test]
fn limit_lowered_below_live_frees_nothing() {
    let mut s = system(1);
    let k = s.add_keg(64, 8, false).unwrap();
    let z = s.add_zone(k, zc(4, 0, 0)).unwrap();
    let mut a = arena(0, MIB);
    let it = alloc_n(&mut s, z, 0, 3, &mut a);
    s.set_limit(z, 1).unwrap();
    assert_eq!(s.zone_stats(z).unwrap().live, 3);
    assert_eq!(s.alloc(z, 0, &mut a), Err(AllocError::Limit));
    s.free(z, 0, it[0]).unwrap();
    s.free(z, 0, it[1]).unwrap();
    assert_eq!(s.alloc(z, 0, &mut a), Err(AllocError::Limit));
    s.free(z, 0, it[2]).unwrap();
    assert_eq!(s.alloc(z, 0, &mut a).unwrap().addr, it[2]);
    s.set_limit(z, 0).unwrap();
    assert!(s.alloc(z, 0, &mut a).is_ok());
    ok(&s);
}

#[test]
fn reclaim_counts_and_backend_gets_every_slab_back() {
    let mut s = system(2);
    let k1 = s.add_keg(64, 8, false).unwrap();
    let k2 = s.add_keg(3000, 8, false).unwrap();
    let z1 = s.add_zone(k1, zc(4, 2, 0)).unwrap();
    let z2 = s.add_zone(k2, zc(2, 1, 0)).unwrap();
    let mut a = arena(0, 16 * MIB);
    let xs = alloc_n(&mut s, z1, 0, 200, &mut a);
    let ys = alloc_n(&mut s, z2, 1, 50, &mut a);
    assert_eq!(s.keg_stats(k1).unwrap().slabs, 4);
    assert_eq!(s.keg_stats(k2).unwrap().slabs, 3);
    // Keep one item of k1's first slab live: its slab stays.
    for &x in xs.iter().skip(1) {
        s.free(z1, 0, x).unwrap();
    }
    for &y in &ys {
        s.free(z2, 1, y).unwrap();
    }
    let cached = s.zone_stats(z1).unwrap().cached + s.zone_stats(z2).unwrap().cached;
    assert_eq!(cached, 16 + 6);
    s.hooks_mut().take();
    let rep = s.reclaim(&mut a);
    assert_eq!(
        rep,
        ReclaimReport {
            items: cached,
            slabs: 3 + 3
        }
    );
    let fini = s
        .hooks()
        .0
        .iter()
        .filter(|e| matches!(e, Ev::Fini(..)))
        .count() as u64;
    assert_eq!(fini, 3 * 64 + 3 * 21);
    assert_eq!(
        s.keg_stats(k1).unwrap(),
        KegStats {
            slabs: 1,
            items_free: 63,
            items_out: 1
        }
    );
    assert_eq!(a.stats().in_use, 4096);
    // A second reclaim finds nothing; after the last free, everything goes back.
    assert_eq!(s.reclaim(&mut a), ReclaimReport::default());
    s.free(z1, 0, xs[0]).unwrap();
    assert_eq!(s.reclaim(&mut a), ReclaimReport { items: 1, slabs: 1 });
    assert_eq!(a.stats().in_use, 0);
    a.check_invariants().unwrap();
    ok(&s);
}

// ---- addresses at the edges ---------------------------------------------------------------

#[test]
fn slabs_at_zero_and_at_the_top_of_the_space() {
    for (base, size) in [(0, MIB), (u64::MAX - MIB + 1, MIB), (0xFFF0_0000, MIB)] {
        let mut s = system(1);
        let k = s.add_keg(65536, 8, true).unwrap();
        let k2 = s.add_keg(8, 8, false).unwrap();
        let z = s.add_zone(k, zc(1, 0, 0)).unwrap();
        let z2 = s.add_zone(k2, zc(0, 0, 0)).unwrap();
        let mut a = arena(base, size);
        let it = alloc_n(&mut s, z, 0, 15, &mut a);
        let small = s.alloc(z2, 0, &mut a).unwrap().addr;
        assert!(it.contains(&base));
        let top = base + (size - 65536);
        assert!(it.contains(&top) || small >= top);
        assert_eq!(s.alloc(z, 0, &mut a), Err(AllocError::NoSpace));
        for &x in &it {
            s.set_refcount(x, 7).unwrap();
            assert_eq!(s.refcount(x), Ok(7));
        }
        // The last byte of the space is in a header or an item, never a wrap.
        let last = base + (size - 1);
        assert!(matches!(
            s.free(z, 0, last),
            Err(FreeError::NotItemStart | FreeError::NotSlab)
        ));
        ok(&s);
        for &x in &it {
            s.free(z, 0, x).unwrap();
        }
        s.free(z2, 0, small).unwrap();
        let rep = s.reclaim(&mut a);
        assert_eq!(rep.slabs, 16);
        assert_eq!(a.stats().in_use, 0);
        ok(&s);
    }
}

// ---- hooks --------------------------------------------------------------------------------

#[test]
fn hook_sequence_of_a_slab_life() {
    let mut s = system(1);
    let k = s.add_keg(1024, 8, false).unwrap();
    let z = s.add_zone(k, zc(1, 0, 0)).unwrap();
    let l = s.layout(k).unwrap();
    let mut a = arena(0x20_0000, MIB);
    let x = s.alloc(z, 0, &mut a).unwrap().addr;
    let mut want: Vec<Ev> = (0..l.items)
        .map(|i| Ev::Init(0, x + i * l.stride))
        .collect();
    want.push(Ev::Ctor(0, x, None));
    assert_eq!(s.hooks_mut().take(), want);
    // Into the magazine and out again: no hook.
    s.free(z, 0, x).unwrap();
    assert_eq!(s.alloc(z, 0, &mut a).unwrap().addr, x);
    assert!(s.hooks().0.is_empty());
    s.free(z, 0, x).unwrap();
    s.reclaim(&mut a);
    let mut want = vec![Ev::Dtor(0, x, None)];
    want.extend((0..l.items).map(|i| Ev::Fini(0, x + i * l.stride)));
    assert_eq!(s.hooks_mut().take(), want);
}

// ---- pseudo-random sequences --------------------------------------------------------------

/// A system with four kegs (one with refcounts, one with slabs of 64 KiB), plain zones with
/// assorted magazines, two zones sharing a keg and a packet zone.
fn random_system() -> (Slabs<Rec>, Vec<ZoneId>) {
    let mut s = system(4);
    let k0 = s.add_keg(64, 8, false).unwrap();
    let k1 = s.add_keg(200, 64, true).unwrap();
    let k2 = s.add_keg(3000, 8, false).unwrap();
    let k3 = s.add_keg(24, 8, false).unwrap();
    let zones = vec![
        s.add_zone(k0, zc(3, 2, 0)).unwrap(),
        s.add_zone(k0, zc(0, 0, 20)).unwrap(),
        s.add_zone(k1, zc(2, 0, 0)).unwrap(),
        s.add_zone(k2, zc(1, 1, 30)).unwrap(),
        s.add_packet_zone(k3, k1, zc(2, 1, 0)).unwrap(),
        s.add_zone(k3, zc(4, 3, 0)).unwrap(),
    ];
    (s, zones)
}

/// One random step; `live` holds (zone, addr) of live items. Returns nothing: the caller
/// checks what it wants.
fn random_step(
    s: &mut Slabs<Rec>,
    zones: &[ZoneId],
    live: &mut Vec<(ZoneId, u64)>,
    rng: &mut XorShift,
    a: &mut Arena,
) {
    let cpu = rng.below(4) as u8;
    let z = zones[rng.below(zones.len() as u64) as usize];
    match rng.below(100) {
        0..=44 => {
            if let Ok(it) = s.alloc(z, cpu, a) {
                live.push((z, it.addr));
            }
        }
        45..=84 if !live.is_empty() => {
            let (z, x) = live.swap_remove(rng.below(live.len() as u64) as usize);
            s.free(z, cpu, x).unwrap();
        }
        85..=89 if !live.is_empty() => {
            // A bad free: a live item to a random zone at a random offset, or a double free.
            // It may name another live item of that zone, which is a good free.
            let (_, x) = live[rng.below(live.len() as u64) as usize];
            let off = [0, 8, 64, 4096][rng.below(4) as usize];
            let y = x.wrapping_add(off);
            if s.free(z, cpu, y).is_ok() {
                let i = live.iter().position(|&e| e == (z, y)).unwrap();
                live.swap_remove(i);
            }
        }
        90..=93 if !live.is_empty() => {
            let (_, x) = live[rng.below(live.len() as u64) as usize];
            let v = rng.below(1000) as u32;
            if s.set_refcount(x, v).is_ok() {
                assert_eq!(s.refcount(x), Ok(v));
            }
        }
        94..=95 => {
            let _ = s.set_limit(z, rng.below(40));
        }
        96 => {
            s.reclaim(a);
        }
        _ => {}
    }
    s.hooks_mut().0.clear();
}

/// A round in a magazine must be its zone's cached item: a state byte saying anything else
/// (here: live in the zone) is a `RoundWrong` even though the round's address and item agree.
#[test]
fn a_rounds_state_byte_is_checked() {
    let mut s = system(1);
    let k = s.add_keg(64, 8, false).unwrap();
    let z = s.add_zone(k, zc(4, 0, 0)).unwrap();
    let mut a = arena(0, MIB);
    let x = s.alloc(z, 0, &mut a).unwrap().addr;
    s.free(z, 0, x).unwrap();
    ok(&s);
    let keg = &mut s.kegs[usize::from(k.0)];
    let at = keg.at(keg.locate(x).unwrap());
    keg.set_state(at, z.0);
    assert_eq!(
        s.check_invariants(),
        Err(InvariantError::RoundWrong { zone: z, addr: x })
    );
}

/// A keg's free and out counts are each checked against its slabs: either one off alone is
/// a `KegCountsWrong`.
#[test]
fn each_keg_count_is_checked_alone() {
    let mut s = system(1);
    let k = s.add_keg(64, 8, false).unwrap();
    let z = s.add_zone(k, zc(0, 0, 0)).unwrap();
    let mut a = arena(0, MIB);
    s.alloc(z, 0, &mut a).unwrap();
    ok(&s);
    for free in [true, false] {
        let mut bad = s.clone();
        let keg = &mut bad.kegs[usize::from(k.0)];
        if free {
            keg.items_free += 1;
        } else {
            keg.items_out += 1;
        }
        assert_eq!(
            bad.check_invariants(),
            Err(InvariantError::KegCountsWrong { keg: k }),
            "items_{} off by one",
            if free { "free" } else { "out" }
        );
    }
}

#[test]
fn invariants_hold_on_long_random_sequences() {
    for seed in 1..=6u64 {
        let (mut s, zones) = random_system();
        let mut a = arena(seed << 32, 8 * MIB);
        let mut rng = XorShift::new(0x9e37_79b9_7f4a_7c15 ^ seed);
        let mut live = Vec::new();
        for step in 0..3000 {
            random_step(&mut s, &zones, &mut live, &mut rng, &mut a);
            if let Err(e) = s.check_invariants() {
                panic!("seed {seed} step {step}: {e}");
            }
            // Live items are distinct (pairs are tracked by their primary).
            let mut addrs: Vec<u64> = live.iter().map(|&(_, x)| x).collect();
            addrs.sort_unstable();
            assert!(addrs.windows(2).all(|w| w[0] != w[1]));
        }
        for (z, x) in live.drain(..) {
            s.free(z, 0, x).unwrap();
        }
        s.reclaim(&mut a);
        assert_eq!(a.stats().in_use, 0, "seed {seed}");
        for k in 0..s.keg_count() {
            assert_eq!(s.slabs(KegId(k as u8)).count(), 0);
        }
        ok(&s);
    }
}

// ---- seeded bugs --------------------------------------------------------------------------

#[cfg(feature = "seeded-bugs")]
mod seeded {
    use super::*;
    use crate::bugs::{Bug, BugSet};

    fn buggy(bug: Bug) -> Slabs<Rec> {
        let mut s = system(2);
        s.set_bugs(BugSet::only(bug));
        s
    }

    #[test]
    fn slab_not_size_aligned_loses_a_live_item() {
        // 8 KiB slabs in an arena whose span starts one page off an 8 KiB boundary.
        for on in [false, true] {
            let mut s = if on {
                buggy(Bug::SlabNotSizeAligned)
            } else {
                system(2)
            };
            let k = s.add_keg(8192, 8, false).unwrap();
            let z = s.add_zone(k, zc(0, 0, 0)).unwrap();
            let mut a = arena(0x1000, MIB);
            let x = s.alloc(z, 0, &mut a).unwrap().addr;
            if on {
                assert_eq!(x, 0x1000);
                assert_eq!(s.free(z, 0, x), Err(FreeError::NotSlab));
                assert!(matches!(
                    s.check_invariants(),
                    Err(InvariantError::SlabMisaligned { .. })
                ));
            } else {
                assert_eq!(x, 0x2000);
                assert_eq!(s.free(z, 0, x), Ok(()));
                ok(&s);
            }
        }
    }

    #[test]
    fn magazine_double_free_unseen_hands_an_item_out_twice() {
        let mut s = buggy(Bug::MagazineDoubleFreeUnseen);
        let k = s.add_keg(64, 8, false).unwrap();
        let z = s.add_zone(k, zc(4, 0, 0)).unwrap();
        let mut a = arena(0, MIB);
        let x = s.alloc(z, 0, &mut a).unwrap().addr;
        s.free(z, 0, x).unwrap();
        assert_eq!(s.free(z, 1, x), Ok(()));
        assert_eq!(s.alloc(z, 0, &mut a).unwrap().addr, x);
        assert_eq!(s.alloc(z, 1, &mut a).unwrap().addr, x);
        assert!(s.check_invariants().is_err());
    }

    #[test]
    fn magazine_exchange_shares_hands_an_item_out_twice() {
        let mut s = buggy(Bug::MagazineExchangeShares);
        let k = s.add_keg(64, 8, false).unwrap();
        let z = s.add_zone(k, zc(1, 1, 0)).unwrap();
        let mut a = arena(0, MIB);
        let it = alloc_n(&mut s, z, 0, 3, &mut a);
        for &x in &it {
            s.free(z, 0, x).unwrap();
        }
        // CPU 0: loaded [c], previous [b], depot [[a]]. CPU 1 takes the depot's twice.
        assert_eq!(s.alloc(z, 1, &mut a).unwrap().addr, it[0]);
        assert_eq!(s.alloc(z, 1, &mut a).unwrap().addr, it[0]);
        assert!(s.check_invariants().is_err());
    }

    #[test]
    fn reclaim_frees_live_slab_gives_back_a_live_item() {
        let mut s = buggy(Bug::ReclaimFreesLiveSlab);
        let k = s.add_keg(64, 8, false).unwrap();
        let z = s.add_zone(k, zc(0, 0, 0)).unwrap();
        let mut a = arena(0, MIB);
        let x = s.alloc(z, 0, &mut a).unwrap().addr;
        assert_eq!(s.reclaim(&mut a), ReclaimReport { items: 0, slabs: 1 });
        assert_eq!(a.stats().in_use, 0);
        assert_eq!(s.free(z, 0, x), Err(FreeError::NotSlab));
    }

    /// A bug never makes an operation panic, even on the random sequences.
    #[test]
    fn buggy_systems_never_panic() {
        let bugs = [
            Bug::SlabNotSizeAligned,
            Bug::MagazineDoubleFreeUnseen,
            Bug::MagazineExchangeShares,
            Bug::ReclaimFreesLiveSlab,
        ];
        for bug in bugs {
            let (mut s, zones) = random_system();
            s.set_bugs(BugSet::only(bug));
            let mut a = arena(0x1000, 8 * MIB);
            let mut rng = XorShift::new(0x5eed ^ bug as u64);
            let mut live: Vec<(ZoneId, u64)> = Vec::new();
            for _ in 0..2000 {
                let cpu = rng.below(4) as u8;
                let z = zones[rng.below(zones.len() as u64) as usize];
                match rng.below(10) {
                    0..=4 => {
                        if let Ok(it) = s.alloc(z, cpu, &mut a) {
                            live.push((z, it.addr));
                        }
                    }
                    5..=7 if !live.is_empty() => {
                        let (z, x) = live[rng.below(live.len() as u64) as usize];
                        if s.free(z, cpu, x).is_ok() && rng.below(10) < 7 {
                            live.retain(|&(_, y)| y != x);
                        }
                    }
                    8 if !live.is_empty() => {
                        let (_, x) = live[rng.below(live.len() as u64) as usize];
                        let _ = s.set_refcount(x, 1);
                        let _ = s.refcount(x);
                    }
                    _ => {
                        s.reclaim(&mut a);
                    }
                }
                s.hooks_mut().0.clear();
                let _ = s.check_invariants();
                let _ = s.slabs(KegId(0)).count();
            }
        }
    }
}
