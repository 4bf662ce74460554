//! Judging an allocation: argument errors, magazine hits, and items taken from the kegs
//! (adding slabs as the backend gives them).

use super::*;

impl SlabModel {
    // ---- alloc ----------------------------------------------------------------------------

    /// Judges one allocation: `actual` is the implementation's answer (`(addr, pair)`),
    /// `backend_refused` whether the backend was asked for a slab during it and said no,
    /// `events` what the backend and hooks saw, in order. On `Ok` the model has applied it.
    pub fn alloc(
        &mut self,
        zone: u8,
        cpu: u8,
        actual: Result<(u64, Option<u64>), AllocErrorKind>,
        backend_refused: bool,
        events: &[Event],
    ) -> Result<(), Verdict> {
        let actual = actual.map(|(addr, pair)| Item { addr, pair });
        let mut ev = Events { all: events, at: 0 };
        if !self.rollback {
            return self.alloc_in_place(zone, cpu, actual, backend_refused, &mut ev);
        }
        let mut next = self.clone();
        next.alloc_in_place(zone, cpu, actual, backend_refused, &mut ev)?;
        *self = next;
        Ok(())
    }

    /// `NoZone`, `BadCpu`, `Limit`.
    fn alloc_argument_error(&self, zone: u8, cpu: u8) -> Result<(), AllocErrorKind> {
        let z = self
            .zones
            .get(usize::from(zone))
            .ok_or(AllocErrorKind::NoZone)?;
        if cpu >= self.cpus {
            return Err(AllocErrorKind::BadCpu);
        }
        if z.limit != 0 && z.live.len() as u64 >= z.limit {
            return Err(AllocErrorKind::Limit);
        }
        Ok(())
    }

    /// [`Self::alloc`] on the model itself (the caller discards it on a verdict).
    fn alloc_in_place(
        &mut self,
        zone: u8,
        cpu: u8,
        actual: Result<Item, AllocErrorKind>,
        refused: bool,
        ev: &mut Events<'_>,
    ) -> Result<(), Verdict> {
        if let Err(e) = self.alloc_argument_error(zone, cpu) {
            judge_eq(Check::AllocResult, &Err(e), &actual)?;
            no_refusal(refused, "an argument error asks no backend")?;
            return self.expect_end(ev, Check::ExtraEvent);
        }
        let z = usize::from(zone);
        let hit = self
            .zones
            .get_mut(z)
            .and_then(|zn| zn.pop(usize::from(cpu)));
        if let Some(item) = hit {
            if actual != Ok(item) {
                return Err(Verdict::new(
                    Check::MagazineHit,
                    format!("Ok({item:x?}) (top of the magazine)"),
                    format!("{actual:x?}"),
                ));
            }
            no_refusal(refused, "a magazine hit asks no backend")?;
            self.expect_end(ev, Check::HookOnMagazineHit)?;
            if let Some(zn) = self.zones.get_mut(z) {
                zn.live.insert(item.addr, item.pair);
                zn.allocs += 1;
            }
            return Ok(());
        }
        self.alloc_from_kegs(zone, actual, refused, ev)
    }

    /// Alloc case 4: an item (pair) from the keg(s).
    fn alloc_from_kegs(
        &mut self,
        zone: u8,
        actual: Result<Item, AllocErrorKind>,
        refused: bool,
        ev: &mut Events<'_>,
    ) -> Result<(), Verdict> {
        let Some(kind) = self.zone_kind(zone) else {
            return Err(Verdict::new(Check::AllocResult, "a zone", "no such zone"));
        };
        let kegs: Vec<u8> = [Some(kind.home()), kind.secondary()]
            .into_iter()
            .flatten()
            .collect();
        let mut classes = Vec::new();
        for &k in &kegs {
            let Some(keg) = self.kegs.get(usize::from(k)) else {
                return Err(Verdict::new(Check::AllocResult, "a keg", "no such keg"));
            };
            if keg.has_free() {
                // A slab for this keg is one too many (a slab for the secondary keg of a
                // pair is the next round's business).
                if let Some(e @ Event::SlabAdded { keg: j, .. }) = ev.peek() {
                    if j == k {
                        return Err(Verdict::new(
                            Check::SlabWithFreeItem,
                            format!("no slab: keg {k} has a free item"),
                            show(Some(e)),
                        ));
                    }
                }
                classes.push((k, class_of(keg)));
                continue;
            }
            match ev.peek() {
                Some(Event::SlabAdded { keg, base }) => {
                    ev.advance();
                    if keg != k {
                        return Err(Verdict::new(
                            Check::SlabKeg,
                            format!("a slab for keg {k}"),
                            show(Some(Event::SlabAdded { keg, base })),
                        ));
                    }
                    self.add_slab(k, base, ev)?;
                    classes.push((k, Class::New(base)));
                }
                seen => {
                    if !refused {
                        // An item handed out of a dry keg without a slab: name a duplicate
                        // for what it is.
                        let half = match actual {
                            Ok(it) if k == kind.home() => Some(it.addr),
                            Ok(it) => it.pair,
                            Err(_) => None,
                        };
                        if let Some(v) = half.and_then(|a| self.taken_item(k, a)) {
                            return Err(v);
                        }
                        return Err(Verdict::new(
                            Check::SlabMissing,
                            format!("SlabAdded for keg {k} (no free item) or a refusal"),
                            format!("{}, answer {actual:x?}", show(seen)),
                        ));
                    }
                    judge_eq(Check::AllocResult, &Err(AllocErrorKind::NoSpace), &actual)?;
                    return self.expect_end(ev, Check::ExtraEvent);
                }
            }
        }
        no_refusal(refused, "every keg reached got an item without a refusal")?;
        let item = match actual {
            Ok(item) => item,
            Err(e) => {
                return Err(Verdict::new(
                    Check::AllocResult,
                    format!("an item from keg(s) {kegs:?}"),
                    format!("Err({e:?})"),
                ))
            }
        };
        let halves: Vec<u64> = match (kind, item.pair) {
            (ZoneKind::Plain { .. }, None) => vec![item.addr],
            (ZoneKind::Packet { .. }, Some(p)) => vec![item.addr, p],
            _ => {
                return Err(Verdict::new(
                    Check::PairShape,
                    format!("an item of a {kind:?} zone"),
                    format!("{item:x?}"),
                ))
            }
        };
        for (&(k, class), &addr) in classes.iter().zip(&halves) {
            self.check_keg_item(k, class, addr)?;
            if let Some(keg) = self.kegs.get_mut(usize::from(k)) {
                keg.set_free(addr, false);
            }
        }
        let ctor = Event::Ctor {
            zone,
            addr: item.addr,
            pair: item.pair,
        };
        self.expect(ev, ctor, Check::Ctor)?;
        self.expect_end(ev, Check::ExtraEvent)?;
        if let Some(zn) = self.zones.get_mut(usize::from(zone)) {
            zn.live.insert(item.addr, item.pair);
            zn.allocs += 1;
        }
        Ok(())
    }

    /// Checks a new slab of keg `k` at `base` (aligned, disjoint), adds it, and consumes
    /// the `Init` of each of its items in order.
    fn add_slab(&mut self, k: u8, base: u64, ev: &mut Events<'_>) -> Result<(), Verdict> {
        let Some(keg) = self.kegs.get(usize::from(k)) else {
            return Err(Verdict::new(Check::SlabKeg, "a keg", "no such keg"));
        };
        let l = keg.layout;
        if !base.is_multiple_of(l.slab_size) {
            return Err(Verdict::new(
                Check::SlabMisaligned,
                format!("a slab base aligned to {:#x}", l.slab_size),
                format!("{base:#x} for keg {k}"),
            ));
        }
        let (first, end) = (u128::from(base), u128::from(base) + u128::from(l.slab_size));
        for (j, other) in self.kegs.iter().enumerate() {
            let size = u128::from(other.layout.slab_size);
            if let Some(&b) = other
                .slabs
                .keys()
                .find(|&&b| u128::from(b) < end && first < u128::from(b) + size)
            {
                return Err(Verdict::new(
                    Check::SlabOverlap,
                    "a slab disjoint from every slab held",
                    format!(
                        "[{base:#x}, +{:#x}) for keg {k} overlaps keg {j}'s slab at {b:#x}",
                        l.slab_size
                    ),
                ));
            }
        }
        let n = usize::try_from(l.items).unwrap_or(0);
        let slab = Slab {
            free: vec![true; n],
            refcounts: if keg.refcounts {
                vec![0; n]
            } else {
                Vec::new()
            },
        };
        if let Some(keg) = self.kegs.get_mut(usize::from(k)) {
            keg.slabs.insert(base, slab);
        }
        for i in 0..n {
            let addr = self
                .kegs
                .get(usize::from(k))
                .map_or(0, |keg| keg.item_addr(base, i));
            self.expect(ev, Event::Init { keg: k, addr }, Check::InitSequence)?;
        }
        Ok(())
    }

    /// Checks an item keg `k` hands out: aligned, in a slab of `k`, not in the header, an
    /// item start, free, from a slab of `class`.
    fn check_keg_item(&self, k: u8, class: Class, addr: u64) -> Result<(), Verdict> {
        let Some(keg) = self.kegs.get(usize::from(k)) else {
            return Err(Verdict::new(Check::NotInKegSlab, "a keg", "no such keg"));
        };
        let l = keg.layout;
        if !addr.is_multiple_of(l.align) {
            return Err(Verdict::new(
                Check::Misaligned,
                format!("an item of keg {k} aligned to {:#x}", l.align),
                format!("{addr:#x}"),
            ));
        }
        let Some(base) = keg.slab_at(addr) else {
            let other = self
                .kegs
                .iter()
                .enumerate()
                .find_map(|(j, o)| o.slab_at(addr).map(|b| format!(" (keg {j}'s slab {b:#x})")))
                .unwrap_or_default();
            return Err(Verdict::new(
                Check::NotInKegSlab,
                format!("an item inside a slab of keg {k}"),
                format!("{addr:#x}{other}"),
            ));
        };
        let i = match keg.spot(base, addr) {
            Spot::Header => {
                return Err(Verdict::new(
                    Check::InHeader,
                    format!("an item outside the header of slab {base:#x}"),
                    format!("{addr:#x}"),
                ))
            }
            Spot::Interior => {
                return Err(Verdict::new(
                    Check::NotItemStart,
                    format!("an item start of slab {base:#x} (stride {:#x})", l.stride),
                    format!("{addr:#x}"),
                ))
            }
            Spot::Item(i) => i,
        };
        let Some(slab) = keg.slabs.get(&base) else {
            return Err(Verdict::new(Check::NotInKegSlab, "a slab", "none"));
        };
        if slab.free.get(i) != Some(&true) {
            return Err(self
                .taken_item(k, addr)
                .unwrap_or_else(|| Verdict::new(Check::HandedOutLost, "a free item", "none")));
        }
        let ok = match class {
            Class::Partial => slab.is_partial(),
            Class::WhollyFree => slab.is_wholly_free(),
            Class::New(b) => b == base,
        };
        if ok {
            Ok(())
        } else {
            let kind = if slab.is_partial() {
                "a partial slab"
            } else {
                "a wholly free slab"
            };
            Err(Verdict::new(
                Check::SlabClass,
                match class {
                    Class::Partial => "an item of a partial slab".to_string(),
                    Class::WhollyFree => "an item of a wholly free slab".to_string(),
                    Class::New(b) => format!("an item of the new slab {b:#x}"),
                },
                format!("{addr:#x} of {kind} at {base:#x}"),
            ))
        }
    }

    /// If `addr` is an item start of keg `k` that is out of the keg (live or cached), the
    /// verdict for handing it out again.
    fn taken_item(&self, k: u8, addr: u64) -> Option<Verdict> {
        let keg = self.kegs.get(usize::from(k))?;
        let base = keg.slab_at(addr)?;
        let Spot::Item(i) = keg.spot(base, addr) else {
            return None;
        };
        if keg.slabs.get(&base)?.free.get(i) != Some(&false) {
            return None;
        }
        let (check, who) = match self.owner(k, addr) {
            Owner::Live(z) => (Check::HandedOutLive, format!("live in zone {z}")),
            Owner::Cached(z) => (Check::HandedOutCached, format!("cached in zone {z}")),
            Owner::Free | Owner::Lost => (Check::HandedOutLost, "out of the keg".into()),
        };
        Some(Verdict::new(
            check,
            format!("a free item of keg {k}"),
            format!("{addr:#x}, {who}"),
        ))
    }
}

/// A verdict if the backend refused a request the op must not have made.
fn no_refusal(refused: bool, why: &str) -> Result<(), Verdict> {
    if refused {
        Err(Verdict::new(
            Check::UnneededSlabRequest,
            format!("no backend request ({why})"),
            "a refused slab request",
        ))
    } else {
        Ok(())
    }
}
