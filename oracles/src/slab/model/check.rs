//! [`SlabModel::self_check`]: the model's own consistency, by brute force.

use std::collections::BTreeMap;

use super::{Item, SlabModel, Spot, Zone};
use crate::slab::{
    HeaderKind, ModelFault, ZoneKind, MAX_CPUS, MAX_DEPOT, MAX_KEGS, MAX_ROUNDS, MAX_ZONES,
};

impl SlabModel {
    /// The model's own consistency: ids and limits in range, layouts as the rule gives them,
    /// slabs aligned, disjoint and sized to their layout, every slot that is not free
    /// referenced by exactly one zone (live or cached, each half in its own keg) and every
    /// reference such a slot, magazines within M with `previous` empty or full, the depot
    /// within its bound holding full magazines, pairs only in packet zones, and `live =
    /// allocs - frees`.
    pub fn self_check(&self) -> Result<(), ModelFault> {
        let fault = |rule: &'static str, detail: String| Err(ModelFault { rule, detail });
        if self.cpus == 0 || self.cpus > MAX_CPUS {
            return fault("cpus in 1..=MAX_CPUS", format!("{}", self.cpus));
        }
        if self.kegs.len() > MAX_KEGS || self.zones.len() > MAX_ZONES {
            return fault(
                "counts",
                format!("{} kegs, {} zones", self.kegs.len(), self.zones.len()),
            );
        }
        let mut all: Vec<(u128, u128, usize)> = Vec::new();
        for (k, keg) in self.kegs.iter().enumerate() {
            let l = keg.layout;
            let on = if l.header == HeaderKind::OnSlab {
                l.header_bytes
            } else {
                0
            };
            let fits = u128::from(l.items) * u128::from(l.stride) + u128::from(on)
                <= u128::from(l.slab_size);
            if !l.slab_size.is_power_of_two() || l.items == 0 || !fits {
                return fault("layout geometry", format!("keg {k}: {l:?}"));
            }
            let rc = if keg.refcounts { l.items } else { 0 };
            for (&b, s) in &keg.slabs {
                if !b.is_multiple_of(l.slab_size) {
                    return fault("slab aligned to its size", format!("keg {k} slab {b:#x}"));
                }
                if s.free.len() as u64 != l.items || s.refcounts.len() as u64 != rc {
                    return fault("slab sized to its layout", format!("keg {k} slab {b:#x}"));
                }
                all.push((u128::from(b), u128::from(b) + u128::from(l.slab_size), k));
            }
        }
        all.sort_unstable();
        for w in all.windows(2) {
            if let [a, b] = w {
                if a.1 > b.0 {
                    return fault("slabs disjoint", format!("{a:x?} and {b:x?}"));
                }
            }
        }
        let mut refs: BTreeMap<u64, u8> = BTreeMap::new();
        for (z, zn) in self.zones.iter().enumerate() {
            self.check_zone(z, zn, &mut refs)?;
        }
        let out: usize = self
            .kegs
            .iter()
            .flat_map(|k| k.slabs.values())
            .map(|s| s.free.iter().filter(|&&f| !f).count())
            .sum();
        if out != refs.len() {
            return fault(
                "every slot out of its keg held by exactly one zone",
                format!("{out} slots out, {} referenced", refs.len()),
            );
        }
        Ok(())
    }

    /// The per-zone part of [`Self::self_check`]; adds each slot the zone holds to `refs`.
    fn check_zone(
        &self,
        z: usize,
        zn: &Zone,
        refs: &mut BTreeMap<u64, u8>,
    ) -> Result<(), ModelFault> {
        let fault = |rule: &'static str, detail: String| Err(ModelFault { rule, detail });
        let n = self.kegs.len();
        let ok_kind = match zn.kind {
            ZoneKind::Plain { keg } => usize::from(keg) < n,
            ZoneKind::Packet { primary, secondary } => {
                usize::from(primary) < n && usize::from(secondary) < n && primary != secondary
            }
        };
        if !ok_kind
            || zn.rounds > usize::from(MAX_ROUNDS)
            || zn.depot_max > usize::from(MAX_DEPOT)
            || zn.cpus.len() != usize::from(self.cpus)
        {
            return fault("zone parameters", format!("zone {z}: {:?}", zn.kind));
        }
        for (c, cpu) in zn.cpus.iter().enumerate() {
            let prev = cpu.previous.len();
            if cpu.loaded.len() > zn.rounds || (prev != 0 && prev != zn.rounds) {
                return fault(
                    "magazines within M, previous empty or full",
                    format!("zone {z} cpu {c}"),
                );
            }
        }
        if zn.depot.len() > zn.depot_max || zn.depot.iter().any(|m| m.len() != zn.rounds) {
            return fault("depot within bound, magazines full", format!("zone {z}"));
        }
        if zn.live.len() as u64 != zn.allocs.saturating_sub(zn.frees) || zn.frees > zn.allocs {
            return fault("live = allocs - frees", format!("zone {z}"));
        }
        let live = zn.live.iter().map(|(&addr, &pair)| Item { addr, pair });
        for item in live.chain(zn.cached().copied()) {
            let halves = match (zn.kind, item.pair) {
                (ZoneKind::Plain { keg }, None) => vec![(keg, item.addr)],
                (ZoneKind::Packet { primary, secondary }, Some(p)) => {
                    vec![(primary, item.addr), (secondary, p)]
                }
                _ => return fault("pairs only in packet zones", format!("zone {z}: {item:x?}")),
            };
            for (k, addr) in halves {
                let taken = self.kegs.get(usize::from(k)).and_then(|keg| {
                    let b = keg.slab_at(addr)?;
                    match keg.spot(b, addr) {
                        Spot::Item(i) => keg.slabs.get(&b)?.free.get(i).map(|f| !f),
                        Spot::Header | Spot::Interior => None,
                    }
                });
                if taken != Some(true) {
                    return fault(
                        "held items are taken item starts of their keg",
                        format!("zone {z}: {addr:#x} in keg {k}"),
                    );
                }
                if refs.insert(addr, z as u8).is_some() {
                    return fault("one holder per slot", format!("{addr:#x}"));
                }
            }
        }
        Ok(())
    }
}
