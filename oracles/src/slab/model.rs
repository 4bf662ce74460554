//! The model's state and its judging calls (sections 1 and 3 of the module comment): the state,
//! creation and queries here; locating and event matching in `locate`, the judges in
//! `alloc` and `free` (frees, reclaims, refcounts), its self-check in `check`.

mod alloc;
mod check;
mod free;
mod locate;

use std::collections::BTreeMap;
use std::mem;

use super::{
    judge_eq, layout, AllocErrorKind, Check, CreateErrorKind, Event, FreeErrorKind, Item,
    KegErrorKind, KegStats, Layout, RefErrorKind, SlabView, Verdict, ZoneConfig, ZoneErrorKind,
    ZoneKind, ZoneStats, MAX_CPUS, MAX_DEPOT, MAX_KEGS, MAX_ROUNDS, MAX_ZONES,
};

/// One slab: a free flag and (refcount kegs) a count per slot.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Slab {
    /// `free[i]`: slot `i` is free in the slab.
    free: Vec<bool>,
    /// `refcounts[i]`: slot `i`'s reference count (empty for a keg without refcounts).
    refcounts: Vec<u32>,
}

impl Slab {
    /// Free slots.
    fn free_count(&self) -> u64 {
        self.free.iter().filter(|&&f| f).count() as u64
    }

    /// Some slots free, some not.
    fn is_partial(&self) -> bool {
        self.free.iter().any(|&f| f) && self.free.iter().any(|&f| !f)
    }

    /// Every slot free.
    fn is_wholly_free(&self) -> bool {
        self.free.iter().all(|&f| f)
    }
}

/// One keg: its layout and its slabs by base.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Keg {
    /// The geometry of every slab.
    layout: Layout,
    /// Whether slots carry reference counts.
    refcounts: bool,
    /// Every slab, by base.
    slabs: BTreeMap<u64, Slab>,
}

/// Where an address falls inside a slab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spot {
    /// Slot `i`'s start.
    Item(usize),
    /// Inside the on-slab header.
    Header,
    /// Inside an item or the tail waste.
    Interior,
}

impl Keg {
    /// The base of the slab whose bytes hold `addr`.
    fn slab_at(&self, addr: u64) -> Option<u64> {
        let size = u128::from(self.layout.slab_size);
        self.slabs
            .keys()
            .copied()
            .find(|&b| b <= addr && u128::from(addr) - u128::from(b) < size)
    }

    /// Where `addr` (inside the slab at `base`) falls.
    fn spot(&self, base: u64, addr: u64) -> Spot {
        let off = u128::from(addr) - u128::from(base);
        let l = &self.layout;
        if off >= u128::from(l.header_offset()) {
            return Spot::Header;
        }
        let stride = u128::from(l.stride);
        if off % stride == 0 && off / stride < u128::from(l.items) {
            // off / stride < items <= 2^14: fits a usize.
            Spot::Item(usize::try_from(off / stride).unwrap_or(usize::MAX))
        } else {
            Spot::Interior
        }
    }

    /// The address of slot `i` of the slab at `base`.
    fn item_addr(&self, base: u64, i: usize) -> u64 {
        let a = u128::from(base) + (i as u128) * u128::from(self.layout.stride);
        u64::try_from(a).unwrap_or(u64::MAX) // inside an aligned slab: below 2^64
    }

    /// Whether any slab has a free slot.
    fn has_free(&self) -> bool {
        self.slabs.values().any(|s| s.free.iter().any(|&f| f))
    }

    /// Whether any slab is partial.
    fn has_partial(&self) -> bool {
        self.slabs.values().any(Slab::is_partial)
    }

    /// The slot at `addr`, if it is an item start of one of its slabs.
    fn slot_mut(&mut self, addr: u64) -> Option<&mut Slab> {
        let base = self.slab_at(addr)?;
        match self.spot(base, addr) {
            Spot::Item(_) => self.slabs.get_mut(&base),
            Spot::Header | Spot::Interior => None,
        }
    }

    /// Marks the slot at `addr` free or not (no-op if `addr` is no item start).
    fn set_free(&mut self, addr: u64, free: bool) {
        let Some(base) = self.slab_at(addr) else {
            return;
        };
        if let Spot::Item(i) = self.spot(base, addr) {
            if let Some(f) = self.slot_mut(addr).and_then(|s| s.free.get_mut(i)) {
                *f = free;
            }
        }
    }
}

/// One CPU's two magazines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Cpu {
    /// The magazine allocations pop from and frees push to.
    loaded: Vec<Item>,
    /// The other one: always empty or full.
    previous: Vec<Item>,
}

/// One zone.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Zone {
    /// Its keg(s).
    kind: ZoneKind,
    /// Magazine capacity M.
    rounds: usize,
    /// The most full magazines in the depot.
    depot_max: usize,
    /// Item limit, 0 = unlimited.
    limit: u64,
    /// Per CPU magazines.
    cpus: Vec<Cpu>,
    /// Full magazines, most recently pushed last.
    depot: Vec<Vec<Item>>,
    /// Live items (pairs): address -> secondary half.
    live: BTreeMap<u64, Option<u64>>,
    /// Successful allocations.
    allocs: u64,
    /// Successful frees.
    frees: u64,
}

impl Zone {
    /// Every cached item, in no particular order.
    fn cached(&self) -> impl Iterator<Item = &Item> {
        self.cpus
            .iter()
            .flat_map(|c| c.loaded.iter().chain(&c.previous))
            .chain(self.depot.iter().flatten())
    }

    /// Alloc cases 1-3 on `cpu`: the item popped, or `None` (case 4, nothing moved).
    fn pop(&mut self, cpu: usize) -> Option<Item> {
        let m = self.rounds;
        let c = self.cpus.get_mut(cpu)?;
        if m == 0 {
            return None;
        }
        if let Some(it) = c.loaded.pop() {
            return Some(it);
        }
        if c.previous.len() == m {
            mem::swap(&mut c.loaded, &mut c.previous);
            return c.loaded.pop();
        }
        let full = self.depot.pop()?;
        // The empty loaded becomes previous; the (empty) previous is dropped.
        c.previous = mem::replace(&mut c.loaded, full);
        c.loaded.pop()
    }

    /// Free cases 1-3 on `cpu`: `true` if the item was cached, `false` for case 4.
    fn push(&mut self, cpu: usize, item: Item) -> bool {
        let m = self.rounds;
        let Some(c) = self.cpus.get_mut(cpu) else {
            return false;
        };
        if m == 0 {
            return false;
        }
        if c.loaded.len() < m {
            c.loaded.push(item);
            return true;
        }
        if c.previous.is_empty() {
            mem::swap(&mut c.loaded, &mut c.previous);
            c.loaded.push(item);
            return true;
        }
        if self.depot.len() < self.depot_max {
            self.depot.push(mem::take(&mut c.previous));
            c.previous = mem::take(&mut c.loaded);
            c.loaded.push(item);
            return true;
        }
        false
    }

    /// Empties every magazine and the depot, in reclaim's drain order.
    fn drain(&mut self) -> Vec<Item> {
        let mut out = Vec::new();
        for c in &mut self.cpus {
            out.extend(mem::take(&mut c.loaded).into_iter().rev());
            out.extend(mem::take(&mut c.previous).into_iter().rev());
        }
        for mag in mem::take(&mut self.depot).into_iter().rev() {
            out.extend(mag.into_iter().rev());
        }
        out
    }
}

/// Who holds a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    /// Free in its slab.
    Free,
    /// In a magazine or the depot of this zone.
    Cached(u8),
    /// Live in this zone (either half of a pair).
    Live(u8),
    /// Not free, yet referenced by no zone (a broken model).
    Lost,
}

/// The slab class an allocation must take a keg item from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// A partial slab.
    Partial,
    /// A wholly free slab already held.
    WhollyFree,
    /// The slab just taken, at this base.
    New(u64),
}

/// The class a keg with a free item must hand out from: partial if it has a partial slab.
fn class_of(keg: &Keg) -> Class {
    if keg.has_partial() {
        Class::Partial
    } else {
        Class::WhollyFree
    }
}

/// A cursor over one op's events.
struct Events<'a> {
    /// All of them.
    all: &'a [Event],
    /// The next one to look at.
    at: usize,
}

impl Events<'_> {
    /// The next event, not consumed.
    fn peek(&self) -> Option<Event> {
        self.all.get(self.at).copied()
    }

    /// Consumes the next event.
    fn advance(&mut self) {
        self.at += 1;
    }
}

/// An event, or the end of the events, in words.
fn show(e: Option<Event>) -> String {
    match e {
        Some(e) => format!("{e:x?}"),
        None => "no more events".into(),
    }
}

/// The naive model of a slab system (see the module comment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlabModel {
    /// Simulated CPUs, `1..=MAX_CPUS`.
    cpus: u8,
    /// Kegs by id.
    kegs: Vec<Keg>,
    /// Zones by id.
    zones: Vec<Zone>,
    /// Whether a judging call leaves the model as it was when it returns a verdict (it
    /// then judges a copy: O(state) per call). See [`SlabModel::set_rollback`].
    rollback: bool,
}

impl SlabModel {
    // ---- creation -------------------------------------------------------------------------

    /// An empty system of `cpus` CPUs (`BadCpus` unless `1..=MAX_CPUS`).
    pub fn new(cpus: u8) -> Result<SlabModel, CreateErrorKind> {
        if cpus == 0 || cpus > MAX_CPUS {
            return Err(CreateErrorKind::BadCpus);
        }
        Ok(SlabModel {
            cpus,
            kegs: Vec::new(),
            zones: Vec::new(),
            rollback: true,
        })
    }

    /// With `false`, `alloc`, `free` and `reclaim` judge the model itself instead of a copy:
    /// after a verdict it is left half-applied (unspecified), which costs nothing to a
    /// caller that stops at the first verdict (the harness) and saves a copy of every slab
    /// on every call. On by default.
    pub fn set_rollback(&mut self, rollback: bool) {
        self.rollback = rollback;
    }

    /// Adds a keg: the layout errors, then `TooMany`; its id on success.
    pub fn add_keg(
        &mut self,
        item_size: u64,
        align: u64,
        refcounts: bool,
    ) -> Result<u8, KegErrorKind> {
        let layout = layout(item_size, align, refcounts)?;
        if self.kegs.len() >= MAX_KEGS {
            return Err(KegErrorKind::TooMany);
        }
        self.kegs.push(Keg {
            layout,
            refcounts,
            slabs: BTreeMap::new(),
        });
        Ok((self.kegs.len() - 1) as u8) // at most MAX_KEGS - 1
    }

    /// Adds a plain zone on `keg`: `NoKeg`, `BadRounds`, `BadDepot`, `TooMany`.
    pub fn add_zone(&mut self, keg: u8, config: ZoneConfig) -> Result<u8, ZoneErrorKind> {
        if usize::from(keg) >= self.kegs.len() {
            return Err(ZoneErrorKind::NoKeg);
        }
        self.push_zone(ZoneKind::Plain { keg }, config)
    }

    /// Adds a packet zone over two kegs: `NoKeg`, `SameKeg`, then as [`Self::add_zone`].
    pub fn add_packet_zone(
        &mut self,
        primary: u8,
        secondary: u8,
        config: ZoneConfig,
    ) -> Result<u8, ZoneErrorKind> {
        let n = self.kegs.len();
        if usize::from(primary) >= n || usize::from(secondary) >= n {
            return Err(ZoneErrorKind::NoKeg);
        }
        if primary == secondary {
            return Err(ZoneErrorKind::SameKeg);
        }
        self.push_zone(ZoneKind::Packet { primary, secondary }, config)
    }

    /// The checks shared by both zone kinds, then the new zone.
    fn push_zone(&mut self, kind: ZoneKind, config: ZoneConfig) -> Result<u8, ZoneErrorKind> {
        if config.rounds > MAX_ROUNDS {
            return Err(ZoneErrorKind::BadRounds);
        }
        if config.depot > MAX_DEPOT {
            return Err(ZoneErrorKind::BadDepot);
        }
        if self.zones.len() >= MAX_ZONES {
            return Err(ZoneErrorKind::TooMany);
        }
        self.zones.push(Zone {
            kind,
            rounds: usize::from(config.rounds),
            depot_max: usize::from(config.depot),
            limit: config.limit,
            cpus: vec![Cpu::default(); usize::from(self.cpus)],
            depot: Vec::new(),
            live: BTreeMap::new(),
            allocs: 0,
            frees: 0,
        });
        Ok((self.zones.len() - 1) as u8) // at most MAX_ZONES - 1
    }

    /// Sets a zone's limit (`NoZone`); frees nothing.
    pub fn set_limit(&mut self, zone: u8, limit: u64) -> Result<(), ZoneErrorKind> {
        let z = self
            .zones
            .get_mut(usize::from(zone))
            .ok_or(ZoneErrorKind::NoZone)?;
        z.limit = limit;
        Ok(())
    }

    // ---- queries --------------------------------------------------------------------------

    /// The number of simulated CPUs.
    pub fn cpus(&self) -> u8 {
        self.cpus
    }

    /// How many kegs exist.
    pub fn keg_count(&self) -> usize {
        self.kegs.len()
    }

    /// How many zones exist.
    pub fn zone_count(&self) -> usize {
        self.zones.len()
    }

    /// A keg's layout.
    pub fn layout(&self, keg: u8) -> Option<Layout> {
        self.kegs.get(usize::from(keg)).map(|k| k.layout)
    }

    /// Which keg(s) a zone draws from.
    pub fn zone_kind(&self, zone: u8) -> Option<ZoneKind> {
        self.zones.get(usize::from(zone)).map(|z| z.kind)
    }

    /// A zone's counters.
    pub fn zone_stats(&self, zone: u8) -> Option<ZoneStats> {
        let z = self.zones.get(usize::from(zone))?;
        Some(ZoneStats {
            live: z.live.len() as u64,
            cached: z.cached().count() as u64,
            limit: z.limit,
            allocs: z.allocs,
            frees: z.frees,
        })
    }

    /// A keg's counters.
    pub fn keg_stats(&self, keg: u8) -> Option<KegStats> {
        let k = self.kegs.get(usize::from(keg))?;
        let free: u64 = k.slabs.values().map(Slab::free_count).sum();
        let slots: u64 = k.slabs.len() as u64 * k.layout.items;
        Some(KegStats {
            slabs: k.slabs.len() as u64,
            items_free: free,
            items_out: slots - free,
        })
    }

    /// A keg's slabs, ascending base.
    pub fn slab_views(&self, keg: u8) -> Option<Vec<SlabView>> {
        let k = self.kegs.get(usize::from(keg))?;
        Some(
            k.slabs
                .iter()
                .map(|(&base, s)| SlabView {
                    base,
                    size: k.layout.slab_size,
                    free_items: s.free_count(),
                })
                .collect(),
        )
    }

    /// A zone's live items (pairs), ascending address.
    pub fn live_items(&self, zone: u8) -> Option<Vec<Item>> {
        let z = self.zones.get(usize::from(zone))?;
        Some(
            z.live
                .iter()
                .map(|(&addr, &pair)| Item { addr, pair })
                .collect(),
        )
    }

    /// A CPU's `(loaded, previous)` magazines of a zone, bottom of each stack first.
    pub fn magazines(&self, zone: u8, cpu: u8) -> Option<(&[Item], &[Item])> {
        let c = self
            .zones
            .get(usize::from(zone))?
            .cpus
            .get(usize::from(cpu))?;
        Some((&c.loaded, &c.previous))
    }

    /// A zone's depot: full magazines, most recently pushed last.
    pub fn depot(&self, zone: u8) -> Option<&[Vec<Item>]> {
        self.zones
            .get(usize::from(zone))
            .map(|z| z.depot.as_slice())
    }

    /// Test hook: lets a test break the free flags of keg 0's first slab.
    #[cfg(test)]
    pub(super) fn kegs_mut_for_test(&mut self, f: impl FnOnce(&mut Vec<bool>)) {
        if let Some(s) = self
            .kegs
            .first_mut()
            .and_then(|k| k.slabs.values_mut().next())
        {
            f(&mut s.free);
        }
    }
}
