//! Locating an address (which keg, slab and slot; who holds it) and matching the events
//! the backend and hooks saw against the ones the model expects.

use super::*;

impl SlabModel {
    // ---- locating -------------------------------------------------------------------------

    /// Who holds the slot starting at `addr` in keg `keg` (an item start there).
    pub(super) fn owner(&self, keg: u8, addr: u64) -> Owner {
        let Some(k) = self.kegs.get(usize::from(keg)) else {
            return Owner::Lost;
        };
        let free = k.slab_at(addr).and_then(|b| match k.spot(b, addr) {
            Spot::Item(i) => k.slabs.get(&b).and_then(|s| s.free.get(i).copied()),
            Spot::Header | Spot::Interior => None,
        });
        if free == Some(true) {
            return Owner::Free;
        }
        for (z, zone) in self.zones.iter().enumerate() {
            let holds = |it: &Item| {
                (it.addr == addr && zone.kind.home() == keg)
                    || (it.pair == Some(addr) && zone.kind.secondary() == Some(keg))
            };
            let live = zone
                .live
                .iter()
                .any(|(&a, &pair)| holds(&Item { addr: a, pair }));
            if live {
                return Owner::Live(z as u8);
            }
            if zone.cached().any(holds) {
                return Owner::Cached(z as u8);
            }
        }
        Owner::Lost
    }

    /// The keg, slab base and slot of an item start `addr` in any keg (for refcounts).
    pub(super) fn locate_any(&self, addr: u64) -> Result<(u8, u64, usize), RefErrorKind> {
        let (keg, base) = self
            .kegs
            .iter()
            .enumerate()
            .find_map(|(i, k)| k.slab_at(addr).map(|b| (i as u8, b)))
            .ok_or(RefErrorKind::NotSlab)?;
        let k = self
            .kegs
            .get(usize::from(keg))
            .ok_or(RefErrorKind::NotSlab)?;
        match k.spot(base, addr) {
            Spot::Header => Err(RefErrorKind::InHeader),
            Spot::Interior => Err(RefErrorKind::NotItemStart),
            Spot::Item(i) => Ok((keg, base, i)),
        }
    }

    /// Marks an item (both halves of a pair) free in its keg(s).
    pub(super) fn return_to_kegs(&mut self, kind: ZoneKind, item: Item) {
        if let Some(k) = self.kegs.get_mut(usize::from(kind.home())) {
            k.set_free(item.addr, true);
        }
        if let (Some(s), Some(p)) = (kind.secondary(), item.pair) {
            if let Some(k) = self.kegs.get_mut(usize::from(s)) {
                k.set_free(p, true);
            }
        }
    }

    // ---- event matching -------------------------------------------------------------------

    /// The check to blame when `seen` is wrong: a slab taken, where the ctor is due, by a keg
    /// with a free item (a second slab in one op), and finalizing or releasing a slab with an
    /// item out of the keg, are named for what they are; anything else gets `default`.
    fn blame(&self, seen: Option<Event>, default: Check) -> Check {
        if let (Some(Event::SlabAdded { keg, .. }), Check::Ctor) = (seen, default) {
            if self.kegs.get(usize::from(keg)).is_some_and(Keg::has_free) {
                return Check::SlabWithFreeItem;
            }
        }
        let touched = match seen {
            Some(Event::SlabReleased { keg, base }) => Some((keg, base)),
            Some(Event::Fini { keg, addr }) => self
                .kegs
                .get(usize::from(keg))
                .and_then(|k| k.slab_at(addr))
                .map(|b| (keg, b)),
            _ => None,
        };
        let busy = touched.is_some_and(|(keg, base)| {
            self.kegs
                .get(usize::from(keg))
                .and_then(|k| k.slabs.get(&base))
                .is_some_and(|s| !s.is_wholly_free())
        });
        if busy {
            Check::ReleasedNonFreeSlab
        } else {
            default
        }
    }

    /// Consumes the next event if it is `want`, else a verdict of `check` (or blame).
    pub(super) fn expect(
        &self,
        ev: &mut Events<'_>,
        want: Event,
        check: Check,
    ) -> Result<(), Verdict> {
        let seen = ev.peek();
        if seen == Some(want) {
            ev.advance();
            Ok(())
        } else {
            Err(Verdict::new(
                self.blame(seen, check),
                format!("{want:x?}"),
                show(seen),
            ))
        }
    }

    /// A verdict of `check` (or blame) unless every event has been consumed.
    pub(super) fn expect_end(&self, ev: &Events<'_>, check: Check) -> Result<(), Verdict> {
        match ev.peek() {
            None => Ok(()),
            seen => Err(Verdict::new(
                self.blame(seen, check),
                "no more events",
                show(seen),
            )),
        }
    }
}
