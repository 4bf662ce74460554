//! Judging frees, reclaims and refcount ops.

use super::*;

impl SlabModel {
    // ---- free -----------------------------------------------------------------------------

    /// The result a free must give (section 3), and the item (pair) it frees.
    pub fn predict_free(&self, zone: u8, cpu: u8, addr: u64) -> Result<Item, FreeErrorKind> {
        let z = self
            .zones
            .get(usize::from(zone))
            .ok_or(FreeErrorKind::NoZone)?;
        if cpu >= self.cpus {
            return Err(FreeErrorKind::BadCpu);
        }
        let home = z.kind.home();
        let keg = self
            .kegs
            .get(usize::from(home))
            .ok_or(FreeErrorKind::NotSlab)?;
        let base = keg.slab_at(addr).ok_or(FreeErrorKind::NotSlab)?;
        match keg.spot(base, addr) {
            Spot::Header => return Err(FreeErrorKind::InHeader),
            Spot::Interior => return Err(FreeErrorKind::NotItemStart),
            Spot::Item(_) => {}
        }
        if let Some(&pair) = z.live.get(&addr) {
            return Ok(Item { addr, pair });
        }
        match self.owner(home, addr) {
            Owner::Live(w) if w != zone => Err(FreeErrorKind::WrongZone),
            _ => Err(FreeErrorKind::NotLive),
        }
    }

    /// Judges one free: `actual` is the implementation's answer, `events` what the hooks
    /// saw. On `Ok` the model has applied it.
    pub fn free(
        &mut self,
        zone: u8,
        cpu: u8,
        addr: u64,
        actual: Result<(), FreeErrorKind>,
        events: &[Event],
    ) -> Result<(), Verdict> {
        let mut ev = Events { all: events, at: 0 };
        if !self.rollback {
            return self.free_in_place(zone, cpu, addr, actual, &mut ev);
        }
        let mut next = self.clone();
        next.free_in_place(zone, cpu, addr, actual, &mut ev)?;
        *self = next;
        Ok(())
    }

    /// [`Self::free`] on the model itself (the caller discards it on a verdict).
    fn free_in_place(
        &mut self,
        zone: u8,
        cpu: u8,
        addr: u64,
        actual: Result<(), FreeErrorKind>,
        ev: &mut Events<'_>,
    ) -> Result<(), Verdict> {
        let item = match self.predict_free(zone, cpu, addr) {
            Err(e) => {
                if actual != Err(e) {
                    let why = match self.owner_any(addr) {
                        Some((k, o)) => format!(" (keg {k}'s item, {o:?})"),
                        None => String::new(),
                    };
                    let check = if actual.is_ok() {
                        Check::FreeAccepted
                    } else {
                        Check::FreeResult
                    };
                    return Err(Verdict::new(
                        check,
                        format!("free({addr:#x}) to zone {zone}: Err({e:?}){why}"),
                        format!("{actual:?}"),
                    ));
                }
                return self.expect_end(ev, Check::ExtraEvent);
            }
            Ok(item) => item,
        };
        if let Err(e) = actual {
            return Err(Verdict::new(
                Check::FreeResult,
                format!("free({addr:#x}) to zone {zone}: Ok(())"),
                format!("Err({e:?})"),
            ));
        }
        let z = usize::from(zone);
        let Some(zn) = self.zones.get_mut(z) else {
            return Err(Verdict::new(Check::FreeResult, "a zone", "no such zone"));
        };
        zn.live.remove(&addr);
        zn.frees += 1;
        let kind = zn.kind;
        if zn.push(usize::from(cpu), item) {
            return self.expect_end(ev, Check::HookOnMagazinePush);
        }
        let dtor = Event::Dtor {
            zone,
            addr,
            pair: item.pair,
        };
        self.expect(ev, dtor, Check::Dtor)?;
        self.expect_end(ev, Check::ExtraEvent)?;
        self.return_to_kegs(kind, item);
        Ok(())
    }

    /// The keg and owner of an item start `addr` of any keg (for verdict texts).
    fn owner_any(&self, addr: u64) -> Option<(u8, Owner)> {
        let (keg, _, _) = self.locate_any(addr).ok()?;
        Some((keg, self.owner(keg, addr)))
    }

    // ---- reclaim --------------------------------------------------------------------------

    /// Judges one reclaim: `actual` is the report `(items, slabs)`, `events` what the
    /// backend and hooks saw. On `Ok` the model has applied it.
    pub fn reclaim(&mut self, actual: (u64, u64), events: &[Event]) -> Result<(), Verdict> {
        let mut ev = Events { all: events, at: 0 };
        if !self.rollback {
            return self.reclaim_in_place(actual, &mut ev);
        }
        let mut next = self.clone();
        next.reclaim_in_place(actual, &mut ev)?;
        *self = next;
        Ok(())
    }

    /// [`Self::reclaim`] on the model itself (the caller discards it on a verdict).
    fn reclaim_in_place(&mut self, actual: (u64, u64), ev: &mut Events<'_>) -> Result<(), Verdict> {
        let mut items = 0u64;
        for z in 0..self.zones.len() {
            let Some(zn) = self.zones.get_mut(z) else {
                continue;
            };
            let kind = zn.kind;
            for item in zn.drain() {
                let dtor = Event::Dtor {
                    zone: z as u8,
                    addr: item.addr,
                    pair: item.pair,
                };
                self.expect(ev, dtor, Check::ReclaimDtor)?;
                self.return_to_kegs(kind, item);
                items += 1;
            }
        }
        let mut slabs = 0u64;
        for k in 0..self.kegs.len() {
            let Some(keg) = self.kegs.get(k) else {
                continue;
            };
            let bases: Vec<u64> = keg
                .slabs
                .iter()
                .filter(|(_, s)| s.is_wholly_free())
                .map(|(&b, _)| b)
                .collect();
            let n = usize::try_from(keg.layout.items).unwrap_or(0);
            let keg_id = k as u8;
            for base in bases {
                for i in 0..n {
                    let addr = self.kegs.get(k).map_or(0, |keg| keg.item_addr(base, i));
                    let fini = Event::Fini { keg: keg_id, addr };
                    self.expect(ev, fini, Check::FiniSequence)?;
                }
                let released = Event::SlabReleased { keg: keg_id, base };
                self.expect(ev, released, Check::SlabRelease)?;
                if let Some(keg) = self.kegs.get_mut(k) {
                    keg.slabs.remove(&base);
                }
                slabs += 1;
            }
        }
        self.expect_end(ev, Check::ExtraEvent)?;
        if actual != (items, slabs) {
            return Err(Verdict::new(
                Check::ReclaimCounts,
                format!("items {items}, slabs {slabs}"),
                format!("items {}, slabs {}", actual.0, actual.1),
            ));
        }
        Ok(())
    }

    // ---- refcounts ------------------------------------------------------------------------

    /// Where a refcount op on `addr` lands: keg, slab base, slot, or its error.
    fn refcount_slot(&self, addr: u64) -> Result<(u8, u64, usize), RefErrorKind> {
        let (keg, base, i) = self.locate_any(addr)?;
        if !self.kegs.get(usize::from(keg)).is_some_and(|k| k.refcounts) {
            return Err(RefErrorKind::NoRefcounts);
        }
        match self.owner(keg, addr) {
            Owner::Live(_) => Ok((keg, base, i)),
            Owner::Free | Owner::Cached(_) | Owner::Lost => Err(RefErrorKind::NotLive),
        }
    }

    /// The result `refcount(addr)` must give.
    pub fn predict_refcount(&self, addr: u64) -> Result<u32, RefErrorKind> {
        let (keg, base, i) = self.refcount_slot(addr)?;
        self.kegs
            .get(usize::from(keg))
            .and_then(|k| k.slabs.get(&base))
            .and_then(|s| s.refcounts.get(i))
            .copied()
            .ok_or(RefErrorKind::NoRefcounts)
    }

    /// Judges `refcount(addr)`.
    pub fn refcount(&self, addr: u64, actual: Result<u32, RefErrorKind>) -> Result<(), Verdict> {
        judge_eq(Check::RefcountResult, &self.predict_refcount(addr), &actual)
    }

    /// Judges `set_refcount(addr, v)`; on `Ok` the model has applied it.
    pub fn set_refcount(
        &mut self,
        addr: u64,
        v: u32,
        actual: Result<(), RefErrorKind>,
    ) -> Result<(), Verdict> {
        let expected = self.refcount_slot(addr);
        judge_eq(Check::SetRefcountResult, &expected.map(|_| ()), &actual)?;
        if let Ok((keg, base, i)) = expected {
            let count = self
                .kegs
                .get_mut(usize::from(keg))
                .and_then(|k| k.slabs.get_mut(&base))
                .and_then(|s| s.refcounts.get_mut(i));
            if let Some(c) = count {
                *c = v;
            }
        }
        Ok(())
    }
}
