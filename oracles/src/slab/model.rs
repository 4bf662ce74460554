//! The model's state and its judging calls (sections 1 and 3 of the module comment).

mod check;

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

    // ---- locating -------------------------------------------------------------------------

    /// Who holds the slot starting at `addr` in keg `keg` (an item start there).
    fn owner(&self, keg: u8, addr: u64) -> Owner {
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
    fn locate_any(&self, addr: u64) -> Result<(u8, u64, usize), RefErrorKind> {
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
    fn return_to_kegs(&mut self, kind: ZoneKind, item: Item) {
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
    fn expect(&self, ev: &mut Events<'_>, want: Event, check: Check) -> Result<(), Verdict> {
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
    fn expect_end(&self, ev: &Events<'_>, check: Check) -> Result<(), Verdict> {
        match ev.peek() {
            None => Ok(()),
            seen => Err(Verdict::new(
                self.blame(seen, check),
                "no more events",
                show(seen),
            )),
        }
    }

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
