//! [`Slabs::check_invariants`]: every invariant of the module comment, section 7, checked
//! from scratch (O(items + rounds + slabs log slabs)).

use alloc::vec;
use alloc::vec::Vec;

use super::hooks::ItemHooks;
use super::keg::{Keg, List, CACHED, FREE};
use super::types::{InvariantError, KegId};
use super::Slabs;

/// Per-zone tallies of item states: (cached in primary keg, cached in secondary keg, live in
/// primary keg, live in secondary keg).
type Tally = [u64; 4];

pub(super) fn check<H: ItemHooks>(s: &Slabs<H>) -> Result<(), InvariantError> {
    let mut tally: Vec<Tally> = vec![[0; 4]; s.zones.len()];
    let mut all: Vec<(u64, u64)> = Vec::new();
    for k in &s.kegs {
        check_keg(s, k, &mut tally, &mut all)?;
    }
    all.sort_unstable();
    for w in all.windows(2) {
        if let [(a, a_last), (b, _)] = *w {
            if a_last >= b {
                return Err(InvariantError::SlabsOverlap {
                    first: a,
                    second: b,
                });
            }
        }
    }
    for (z, t) in s.zones.iter().zip(&tally) {
        check_zone(s, z, t)?;
    }
    Ok(())
}

/// One keg: its slabs, index, lists, counters; item states tallied per zone.
fn check_keg<H: ItemHooks>(
    s: &Slabs<H>,
    k: &Keg,
    tally: &mut [Tally],
    all: &mut Vec<(u64, u64)>,
) -> Result<(), InvariantError> {
    let keg = k.id;
    let l = &k.layout;
    let items = l.items as usize;
    let in_use = k.slabs.iter().filter(|sl| sl.in_use).count();
    if in_use != k.by_base.len() || k.index.len() != k.by_base.len() {
        return Err(InvariantError::IndexWrong { keg });
    }
    let (mut free_sum, mut out_sum) = (0u64, 0u64);
    for (&base, &slot) in &k.by_base {
        let sl = k
            .slabs
            .get(slot as usize)
            .filter(|sl| sl.in_use && sl.base == base && k.index.get(base) == Some(slot))
            .ok_or(InvariantError::IndexWrong { keg })?;
        if base & (l.slab_size - 1) != 0 {
            return Err(InvariantError::SlabMisaligned { keg, base });
        }
        let last = base
            .checked_add(l.slab_size - 1)
            .ok_or(InvariantError::SlabWraps { keg, base })?;
        all.push((base, last));
        let bad = InvariantError::BitmapWrong { keg, base };
        let states = k.slab_states(slot);
        if sl.free.len() != items.div_ceil(64)
            || states.len() != items
            || sl.refcnt.len() != if k.refcounts { items } else { 0 }
            || !(sl.partner.is_empty() || sl.partner.len() == items)
        {
            return Err(bad);
        }
        let set: u32 = sl.free.iter().map(|w| w.count_ones()).sum();
        if set != sl.nfree {
            return Err(bad);
        }
        for (i, &st) in states.iter().enumerate() {
            let bit = sl
                .free
                .get(i / 64)
                .is_some_and(|w| w & (1 << (i % 64)) != 0);
            if bit != (st == FREE) {
                return Err(bad);
            }
            let addr = k.item_addr(base, i as u32);
            if st != FREE {
                tally_state(s, keg, addr, st, tally)?;
            }
        }
        // No set bit past the last item (they would count as free items).
        if !items.is_multiple_of(64) && sl.free.last().is_some_and(|w| w >> (items % 64) != 0) {
            return Err(bad);
        }
        // Truncation finds the slab of its first and last item (every item lies between).
        for i in [0, items.saturating_sub(1)] {
            let addr = k.item_addr(base, i as u32);
            if k.slab_of(addr) != Some(slot) {
                return Err(InvariantError::TruncationMisses { keg, addr });
            }
        }
        let want = if sl.nfree == 0 {
            List::Full
        } else if u64::from(sl.nfree) == l.items {
            List::Empty
        } else {
            List::Partial
        };
        let listed = match sl.list {
            List::Full => true,
            List::Partial => k.partial.get(sl.pos as usize) == Some(&slot),
            List::Empty => k.empty.get(sl.pos as usize) == Some(&slot),
        };
        if sl.list != want || !listed {
            return Err(InvariantError::ListWrong { keg });
        }
        free_sum += u64::from(sl.nfree);
        out_sum += l.items - u64::from(sl.nfree);
    }
    let on_lists = k.partial.len() + k.empty.len();
    let should = k
        .slabs
        .iter()
        .filter(|sl| sl.in_use && sl.list != List::Full)
        .count();
    if on_lists != should {
        return Err(InvariantError::ListWrong { keg });
    }
    if free_sum != k.items_free || out_sum != k.items_out {
        return Err(InvariantError::KegCountsWrong { keg });
    }
    Ok(())
}

/// Counts an out-of-keg item's state for its zone, which must exist and take items from
/// this keg.
fn tally_state<H: ItemHooks>(
    s: &Slabs<H>,
    keg: KegId,
    addr: u64,
    st: u8,
    tally: &mut [Tally],
) -> Result<(), InvariantError> {
    let cached = st & CACHED != 0;
    let z = usize::from(st & !CACHED);
    let bad = InvariantError::StateUnknownZone { keg, addr };
    let zone = s.zones.get(z).ok_or(bad)?;
    let t = tally.get_mut(z).ok_or(bad)?;
    let half = if zone.keg == keg.0 {
        0
    } else if zone.secondary == Some(keg.0) {
        1
    } else {
        return Err(bad);
    };
    let slot = if cached { half } else { 2 + half };
    if let Some(c) = t.get_mut(slot) {
        *c += 1;
    }
    Ok(())
}

/// One zone: magazines, depot, rounds, counts, pairs.
fn check_zone<H: ItemHooks>(
    s: &Slabs<H>,
    z: &super::zone::Zone,
    t: &Tally,
) -> Result<(), InvariantError> {
    let zone = z.id;
    for (cpu, m) in z.cpu_mags().iter().enumerate() {
        if m.loaded.len() > z.rounds || m.previous.len() > z.rounds {
            return Err(InvariantError::MagazineOverfull {
                zone,
                cpu: cpu as u8,
            });
        }
    }
    if z.depot.len() > z.depot_max || z.depot.iter().any(|m| m.len() != z.rounds) {
        return Err(InvariantError::DepotWrong { zone });
    }
    let primary = s.kegs.get(usize::from(z.keg));
    let secondary = z.secondary.and_then(|k| s.kegs.get(usize::from(k)));
    let cached_state = CACHED | zone.0;
    let mut addrs = Vec::new();
    for e in z.entries_iter() {
        let bad = InvariantError::RoundWrong {
            zone,
            addr: e.item.addr,
        };
        let k = primary.ok_or(bad)?;
        if k.locate(e.item.addr).map(|loc| k.at(loc)) != Ok(e.item.at)
            || k.state(k.loc_at(e.item.at)) != cached_state
        {
            return Err(bad);
        }
        if z.secondary.is_some() {
            let sk = secondary.ok_or(bad)?;
            if sk.locate(e.pair.addr).map(|loc| sk.at(loc)) != Ok(e.pair.at)
                || sk.state(sk.loc_at(e.pair.at)) != cached_state
            {
                return Err(bad);
            }
        }
        addrs.push(e.item.addr);
    }
    addrs.sort_unstable();
    if let Some(w) = addrs.windows(2).find(|w| w.first() == w.get(1)) {
        return Err(InvariantError::RoundTwice {
            zone,
            addr: w.first().copied().unwrap_or(0),
        });
    }
    let rounds = addrs.len() as u64;
    let pairs = z.secondary.is_some();
    // The zone's cached count (`Zone::cached`, its magazines' lengths) is the number of
    // rounds read from the store only if every magazine lies inside the store; the keg(s)
    // must hold exactly that many items cached for it.
    if z.cached() != rounds || t[0] != rounds || t[1] != if pairs { rounds } else { 0 } {
        return Err(InvariantError::CachedCountWrong { zone });
    }
    if z.allocs.checked_sub(z.frees) != Some(z.live)
        || t[2] != z.live
        || t[3] != if pairs { z.live } else { 0 }
    {
        return Err(InvariantError::LiveCountWrong { zone });
    }
    if let (Some(k), Some(sk)) = (primary, secondary) {
        for (slot, sl) in k.slabs.iter().enumerate().filter(|(_, sl)| sl.in_use) {
            for (i, &st) in k.slab_states(slot as u32).iter().enumerate() {
                if st != zone.0 {
                    continue;
                }
                let addr = k.item_addr(sl.base, i as u32);
                let bad = InvariantError::PairWrong { zone, addr };
                let p = sl.partner.get(i).copied().ok_or(bad)?;
                let loc = sk.locate(p).map_err(|_| bad)?;
                if sk.state(loc) != zone.0 {
                    return Err(bad);
                }
            }
        }
    }
    Ok(())
}
