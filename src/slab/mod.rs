//! # slab: UMA-style kegs and zones with per-CPU magazines (Bonwick 1994, Bonwick & Adams
//! 2001, FreeBSD's UMA and mbuma)
//!
//! ## 1. Concepts
//!
//! - A **keg** owns the slabs of one item layout (size, alignment, whether items carry a
//!   reference count). A **slab** is `S` bytes (a power of two) taken from a **backend**
//!   ([`SlabSource`], usually a vmem [`crate::vmem::Arena`]) and aligned to `S`, cut into
//!   `items` item slots. Kegs are numbered by [`KegId`] in creation order.
//! - A **zone** ([`ZoneId`]) is a front end on a keg: hooks, a live-item **limit** (FreeBSD's
//!   nmbclusters: 0 = unlimited, changeable at run time; lowering it below the live count
//!   refuses new allocations and frees nothing) and per-CPU magazines. Several zones may
//!   share one keg. A **packet zone** (mbuma's) sits on two kegs: its items are pairs of a
//!   primary item (an mbuf) and a secondary item (a cluster); the pair's address is the
//!   primary's, and a freed pair goes back to the packet zone, not to the kegs below.
//! - Every item slot is in exactly one **state**: *free* (in its slab, its bitmap bit set),
//!   *cached* (constructed, owned by a zone, in one of its magazines or its depot) or *live*
//!   (constructed, handed out by a zone, alone or as either half of a pair). "Out of the
//!   keg" is cached or live.
//!
//! ## 2. Slab layout (`layout.rs`, [`SlabLayout::new`])
//!
//! `stride = roundup(item_size, max(align, MIN_ITEM_ALIGN))`; `header_bytes(n) =
//! roundup(SLAB_HEADER_BASE + 8 * ceil(n / 64) + (refcounts ? 4n : 0), 8)` (fixed part, a
//! free bitmap of 64-bit words, a `u32` count per item). At a slab size `S`, off-slab holds
//! `n_off = S / stride` items and wastes `S - n_off * stride + header_bytes(n_off)` (the
//! header lives elsewhere but is not free); on-slab holds the largest `n_on` with `n_on *
//! stride + header_bytes(n_on) <= S` and wastes `S - n_on * stride`; on-slab is chosen iff
//! `n_on == n_off >= 1`: the header fits in the tail the items leave and displaces none of
//! them (else the slab's bytes go to items and the header lives off it, as SLUB keeps its
//! metadata outside the slab: `kvafuzz slab-report` measures the in-slab waste against
//! Linux's). Candidates are `max(PAGE_SIZE, next_pow2(stride))`
//! doubling up to `MAX_SLAB_SIZE`; the first whose waste is at most `S / 16` wins, else the
//! one with the smallest waste ratio (ties: the smaller). Items sit at `base + i * stride`;
//! an on-slab header takes the last `header_bytes` bytes; the rest is tail waste.
//!
//! ## 3. The backend (`source.rs`)
//!
//! The system does not own its backend: every operation that may take or give back slabs is
//! passed one (`&mut impl SlabSource`), so a vmem arena's quantum caches can import from the
//! arena that owns them and the harness can pass a recording backend. A keg takes a new slab
//! only when an allocation reaches it and no slab has a free item (one slab per such
//! allocation), and gives slabs back only in [`Slabs::reclaim`]; a wholly free slab
//! otherwise stays on the keg's free list. Slabs may sit anywhere in the 64-bit space,
//! address 0 and the very top included: a slab's end is its inclusive last byte, never
//! `base + S`.
//!
//! ## 4. Kegs (`keg.rs`)
//!
//! Because every slab is aligned to its size, an item's slab is found by **truncating** its address
//! to `S` (seed 000's super-aligned reservations; DragonFly's and Solaris' `kmem_slab` lookup) and
//! looking the base up in the keg's address index (`index.rs`: an open-addressing hash table, O(1);
//! a `BTreeMap` beside it keeps the ascending order the views and reclaim walk), tried after a
//! one-entry hint: the slab that last handed out an item or that the index last found for a free.
//! The index also finds off-slab headers. Each slab keeps a free bitmap (one bit per item, scanned
//! a word at a time from a hint: no bit below the hint word is set), a state byte per item (free,
//! cached by zone z, live in zone z: the cheap double-free check; kept in one flat array per keg,
//! item `i` of slot `s` at `s << state_shift | i`, its **item reference**, so a magazine hit
//! touches one byte and no slab; the hint keeps its slab's reference of item 0, so a free adds the
//! item index, found by one multiply by the stride's reciprocal whatever the stride), its reference
//! counts (refcount kegs: 0 when the slab is taken, kept through frees, magazines and reuse, gone
//! when the slab is given back) and, for a packet zone's primaries, the secondary address of each
//! pair. A keg hands out an item from a **partial** slab if it has one, else from a **wholly free**
//! slab, else from a new slab; the lists are vectors with each slab's position kept in it, so
//! moving a slab is O(1). Allocation and free in a keg are O(1) plus the bitmap word scan, and the
//! address look-up is O(1) (a compare on a hint hit, a hash probe otherwise).
//!
//! ## 5. Zones, magazines and the depot (`zone.rs`, `hooks.rs`)
//!
//! Exactly Bonwick & Adams (2001). With M rounds (0 = no magazines: every op goes to the
//! keg), each CPU has a `loaded` and a `previous` magazine (stacks of 0..=M items); the depot
//! holds up to `depot` full magazines (a stack); empty magazines wait in a pool for reuse, so
//! a magazine hit allocates nothing. Allocation: (1) pop `loaded`; (2) else if `previous` is
//! full, swap and pop; (3) else if the depot has a full magazine, it becomes `loaded` (taken
//! off the depot), the old `loaded` becomes `previous`, the old `previous` goes to the pool;
//! pop; (4) else take an item from the keg (a packet zone: a primary, then a secondary; if
//! the secondary fails the primary goes back) and call `ctor`. Free: (1) push on `loaded` if
//! it has room; (2) else if `previous` is empty, swap and push; (3) else if the depot has
//! room, `previous` goes to the depot, `loaded` becomes `previous`, an empty magazine is
//! loaded, push; (4) else `dtor` and back to the keg(s). Hooks ([`ItemHooks`]): `init` for
//! each item of a new slab in item order, `fini` likewise before a slab goes back, `ctor`
//! when an item or pair leaves its keg(s), `dtor` right before it goes back. A magazine hit
//! calls no hook: an item handed out has been constructed exactly once since it last left
//! the keg. Each round in a magazine is 16 bytes, the item's address and item reference
//! (a packet zone keeps the secondary's round in the same slot of a pair store beside), so a
//! hit is O(1) and one store. Magazines are fixed arrays of M round slots in one store per
//! zone, so a push never allocates and an exchange swaps two (first slot, length) pairs; a
//! zone's cached count is read from its magazines' lengths, not kept on the hit paths. The
//! hit paths (alloc step 1, free step 1 with the slab found by the hint or at its home entry
//! of the index) are inlined into the caller with nothing else, one zone and one keg look-up
//! each: every other step, and a probe past the home entry, is an out-of-line call.
//!
//! ## 6. Errors (`types.rs`)
//!
//! One enum per operation, checked in the order of its variants. A free finds the slab of
//! the zone's keg (a packet zone: its primary keg) by truncation (`NotSlab`), refuses the
//! header (`InHeader`) and anything but an item start (`NotItemStart`), an item live in
//! another zone (`WrongZone`), and anything not live in this zone (`NotLive`: a double free,
//! also while the first free sits in some CPU's magazine, since the state byte says
//! "cached"). Reference counts are found from the address alone, in any keg.
//!
//! ## 7. Reclaim and invariants (`invariants.rs`)
//!
//! [`Slabs::reclaim`] drains each zone in id order (each CPU's `loaded` then `previous` from
//! the top down, then the depot's magazines most recent first), with a `dtor` per item back
//! to its keg(s), then gives back every wholly free slab of each keg in id order and
//! ascending base order, with `fini` of each of its items. [`Slabs::check_invariants`]
//! checks, from scratch: every slab aligned to its size, inside the 64-bit space, disjoint
//! from every other slab; the index holds exactly the slabs; truncation finds every item's
//! slab; bitmaps, free counts, state bytes, lists and keg counters agree; every state names
//! a zone on that keg; magazines hold at most M rounds, the depot at most `depot` full
//! magazines; every round is a distinct cached item of its zone and the cached and live
//! counts agree with the states (`live == allocs - frees`); every live pair's halves agree.
//!
//! ## 8. Seeded bugs
//!
//! With the `seeded-bugs` feature, `Slabs::set_bugs` switches on four bugs, each marked
//! `SEEDED BUG <Name>` beside the code it breaks: SlabNotSizeAligned (the keg asks its backend
//! for page alignment only, as if vmem returned size-aligned space: FreeBSD r338836, seed
//! 000), MagazineDoubleFreeUnseen (the double-free check looks only at the bitmap),
//! MagazineExchangeShares (alloc step 3 copies the depot's magazine without taking it off)
//! and ReclaimFreesLiveSlab (reclaim gives back slabs with one item still out).

mod hooks;
mod index;
mod invariants;
mod keg;
mod layout;
mod source;
mod types;
mod zone;

use alloc::vec::Vec;

use keg::{Keg, Loc, LookupError, CACHED, NO_AT};
use zone::{Entry, Round, Zone, NO_ROUND};

pub use hooks::{ItemHooks, NoHooks};
pub use layout::{
    header_bytes, HeaderPlacement, SlabLayout, BITMAP_WORD_BITS, BITMAP_WORD_BYTES, HEADER_ALIGN,
    MAX_ITEM_ALIGN, MAX_ITEM_SIZE, MAX_SLAB_SIZE, MIN_ITEM_ALIGN, PAGE_SIZE, REFCOUNT_BYTES,
    SLAB_HEADER_BASE, WASTE_DIVISOR,
};
pub use source::SlabSource;
pub use types::{
    AllocError, CreateError, FreeError, InvariantError, Item, KegError, KegId, KegStats,
    ReclaimReport, RefError, SlabView, ZoneConfig, ZoneError, ZoneId, ZoneStats, MAX_CPUS,
    MAX_DEPOT, MAX_KEGS, MAX_ROUNDS, MAX_ZONES,
};

#[cfg(feature = "seeded-bugs")]
use crate::bugs::{Bug, BugSet};

/// A slab system: kegs, zones on them, and the user's hooks; see the module comment.
#[derive(Clone, Debug)]
pub struct Slabs<H: ItemHooks = NoHooks> {
    /// Simulated CPUs, 1 ..= MAX_CPUS.
    cpus: u8,
    /// Kegs by id.
    kegs: Vec<Keg>,
    /// Zones by id.
    zones: Vec<Zone>,
    /// The user's callbacks.
    hooks: H,
    /// Entries drained by reclaim (kept to reuse its capacity).
    drained: Vec<Entry>,
    /// Seeded bugs switched on (fuzz self-test only).
    #[cfg(feature = "seeded-bugs")]
    bugs: BugSet,
}

impl Slabs<NoHooks> {
    /// An empty system of `cpus` simulated CPUs (1 ..= [`MAX_CPUS`]) without hooks.
    pub fn new(cpus: u8) -> Result<Slabs<NoHooks>, CreateError> {
        Slabs::with_hooks(cpus, NoHooks)
    }
}

impl<H: ItemHooks> Slabs<H> {
    /// An empty system of `cpus` simulated CPUs (1 ..= [`MAX_CPUS`]) calling `hooks`.
    pub fn with_hooks(cpus: u8, hooks: H) -> Result<Slabs<H>, CreateError> {
        if cpus == 0 || cpus > MAX_CPUS {
            return Err(CreateError::BadCpus);
        }
        Ok(Slabs {
            cpus,
            kegs: Vec::new(),
            zones: Vec::new(),
            hooks,
            drained: Vec::new(),
            #[cfg(feature = "seeded-bugs")]
            bugs: BugSet::NONE,
        })
    }

    /// Switch seeded bugs on (fuzz self-test only).
    #[cfg(feature = "seeded-bugs")]
    pub fn set_bugs(&mut self, bugs: BugSet) {
        self.bugs = bugs;
    }

    /// The number of simulated CPUs.
    pub fn cpus(&self) -> u8 {
        self.cpus
    }

    /// The hooks.
    pub fn hooks(&self) -> &H {
        &self.hooks
    }

    /// The hooks, mutably.
    pub fn hooks_mut(&mut self) -> &mut H {
        &mut self.hooks
    }

    /// The number of kegs.
    pub fn keg_count(&self) -> usize {
        self.kegs.len()
    }

    /// The number of zones (plain and packet).
    pub fn zone_count(&self) -> usize {
        self.zones.len()
    }

    // ---- creation ---------------------------------------------------------------------------

    /// A new keg of `item_size`-byte items aligned to `align`, with a reference count per
    /// item iff `refcounts`.
    pub fn add_keg(
        &mut self,
        item_size: u64,
        align: u64,
        refcounts: bool,
    ) -> Result<KegId, KegError> {
        let layout = SlabLayout::new(item_size, align, refcounts)?;
        if self.kegs.len() >= MAX_KEGS {
            return Err(KegError::TooMany);
        }
        let id = KegId(self.kegs.len() as u8);
        self.kegs.push(Keg::new(id, layout, refcounts));
        Ok(id)
    }

    /// Checks a zone's configuration and the zone count.
    fn check_zone_config(&self, config: &ZoneConfig) -> Result<(), ZoneError> {
        if config.rounds > MAX_ROUNDS {
            return Err(ZoneError::BadRounds);
        }
        if config.depot > MAX_DEPOT {
            return Err(ZoneError::BadDepot);
        }
        if self.zones.len() >= MAX_ZONES {
            return Err(ZoneError::TooMany);
        }
        Ok(())
    }

    /// Adds a zone (`secondary`: a packet zone's second keg).
    fn push_zone(&mut self, keg: KegId, secondary: Option<KegId>, config: ZoneConfig) -> ZoneId {
        let id = ZoneId(self.zones.len() as u8);
        self.zones.push(Zone::new(
            id,
            keg.0,
            secondary.map(|k| k.0),
            config.rounds,
            config.depot,
            config.limit,
            self.cpus,
        ));
        id
    }

    /// A new zone on `keg`.
    pub fn add_zone(&mut self, keg: KegId, config: ZoneConfig) -> Result<ZoneId, ZoneError> {
        if usize::from(keg.0) >= self.kegs.len() {
            return Err(ZoneError::NoKeg);
        }
        self.check_zone_config(&config)?;
        Ok(self.push_zone(keg, None, config))
    }

    /// A new packet zone whose items are pairs of a `primary` item and a `secondary` item.
    pub fn add_packet_zone(
        &mut self,
        primary: KegId,
        secondary: KegId,
        config: ZoneConfig,
    ) -> Result<ZoneId, ZoneError> {
        let n = self.kegs.len();
        if usize::from(primary.0) >= n || usize::from(secondary.0) >= n {
            return Err(ZoneError::NoKeg);
        }
        if primary == secondary {
            return Err(ZoneError::SameKeg);
        }
        self.check_zone_config(&config)?;
        Ok(self.push_zone(primary, Some(secondary), config))
    }

    /// Sets a zone's live item limit (0 = unlimited); lowering it below the live count frees
    /// nothing.
    pub fn set_limit(&mut self, zone: ZoneId, limit: u64) -> Result<(), ZoneError> {
        let z = self
            .zones
            .get_mut(usize::from(zone.0))
            .ok_or(ZoneError::NoZone)?;
        z.limit = limit;
        z.cap = Zone::cap_of(limit);
        Ok(())
    }

    // ---- allocation -------------------------------------------------------------------------

    /// The alignment a keg asks its backend for: the slab size.
    fn slab_align(&self, slab_size: u64) -> u64 {
        #[cfg(feature = "seeded-bugs")]
        if self.bugs.contains(Bug::SlabNotSizeAligned) {
            // SEEDED BUG SlabNotSizeAligned (FreeBSD r338836, seed 000: assuming vmem returns
            // size-aligned space): the keg asks for page alignment only, then finds slabs by
            // truncating addresses, which finds the wrong base (or none) for a slab the
            // backend placed off a multiple of its size.
            return PAGE_SIZE;
        }
        slab_size
    }

    /// Allocates an item (a packet zone: a pair) from `zone` on `cpu`, taking slabs from
    /// `backend` if the keg(s) must.
    #[inline(always)]
    pub fn alloc<B: SlabSource + ?Sized>(
        &mut self,
        zone: ZoneId,
        cpu: u8,
        backend: &mut B,
    ) -> Result<Item, AllocError> {
        match self.alloc_hit(zone, cpu)? {
            Some(item) => Ok(item),
            None => self.alloc_slow(usize::from(zone.0), cpu, backend),
        }
    }

    /// [`Slabs::alloc`]'s checks and step 1 alone: `Ok(Some(item))` on a magazine hit,
    /// `Ok(None)` (nothing changed) when the allocation needs steps 2 to 4, which
    /// [`Slabs::alloc`] then takes; a caller choosing among several systems by size needs no
    /// backend for a hit.
    #[inline(always)]
    pub(crate) fn alloc_hit(&mut self, zone: ZoneId, cpu: u8) -> Result<Option<Item>, AllocError> {
        let zid = usize::from(zone.0);
        let cpus = self.cpus;
        let Some(z) = self.zones.get_mut(zid) else {
            return Err(AllocError::NoZone);
        };
        if cpu >= cpus {
            return Err(AllocError::BadCpu);
        }
        // cap = the limit, or u64::MAX for "unlimited" (live never reaches it).
        if z.live >= z.cap {
            return Err(AllocError::Limit);
        }
        let Some((slot, r)) = z.pop_loaded(usize::from(cpu)) else {
            return Ok(None);
        };
        z.live += 1;
        z.allocs += 1;
        if z.secondary.is_some() {
            return Ok(Some(self.pair_hit(zone, slot, r)));
        }
        if let Some(k) = self.kegs.get_mut(usize::from(z.keg)) {
            k.set_state(r.at, zone.0);
        }
        Ok(Some(Item {
            addr: r.addr,
            pair: None,
        }))
    }

    /// Allocation steps 2 to 4 (the loaded magazine is empty; zone and CPU checked).
    #[inline(never)]
    fn alloc_slow<B: SlabSource + ?Sized>(
        &mut self,
        zid: usize,
        cpu: u8,
        backend: &mut B,
    ) -> Result<Item, AllocError> {
        let z = self.zones.get_mut(zid).ok_or(AllocError::NoZone)?;
        if z.rounds == 0 {
            return self.alloc_from_kegs(zid, backend);
        }
        #[cfg(feature = "seeded-bugs")]
        let hit = z.pop_exchange(usize::from(cpu), self.bugs);
        #[cfg(not(feature = "seeded-bugs"))]
        let hit = z.pop_exchange(usize::from(cpu));
        let Some((slot, r)) = hit else {
            return self.alloc_from_kegs(zid, backend);
        };
        z.live += 1;
        z.allocs += 1;
        if z.secondary.is_some() {
            return Ok(self.pair_hit(ZoneId(zid as u8), slot, r));
        }
        if let Some(k) = self.kegs.get_mut(usize::from(z.keg)) {
            k.set_state(r.at, zid as u8);
        }
        Ok(Item {
            addr: r.addr,
            pair: None,
        })
    }

    /// A packet zone's magazine hit (counted) of the primary `r` from store slot `slot`:
    /// both halves live in `zone`, the pair recorded.
    #[inline(never)]
    fn pair_hit(&mut self, zone: ZoneId, slot: usize, r: Round) -> Item {
        let Some(z) = self.zones.get(usize::from(zone.0)) else {
            return Item {
                addr: r.addr,
                pair: None,
            };
        };
        let (keg, secondary, pair) = (usize::from(z.keg), z.secondary, z.pair_of(slot));
        if let Some(k) = self.kegs.get_mut(keg) {
            k.set_state(r.at, zone.0);
        }
        if let Some(k) = secondary.and_then(|s| self.kegs.get_mut(usize::from(s))) {
            k.set_state(pair.at, zone.0);
        }
        if let Some(k) = self.kegs.get_mut(keg) {
            k.set_partner(r.at, pair.addr);
        }
        Item {
            addr: r.addr,
            pair: Some(pair.addr),
        }
    }

    /// Allocation step 4: an item (or pair) from the keg(s), constructed.
    fn alloc_from_kegs<B: SlabSource + ?Sized>(
        &mut self,
        zid: usize,
        backend: &mut B,
    ) -> Result<Item, AllocError> {
        let z = self.zones.get(zid).ok_or(AllocError::NoZone)?;
        let (kid, secondary, id) = (usize::from(z.keg), z.secondary, z.id);
        let pk = self.kegs.get(kid).ok_or(AllocError::NoSpace)?;
        let align = self.slab_align(pk.layout.slab_size);
        let pk = self.kegs.get_mut(kid).ok_or(AllocError::NoSpace)?;
        let (addr, at) = pk
            .alloc_item(id.0, backend, &mut self.hooks, align)
            .ok_or(AllocError::NoSpace)?;
        let pair = match secondary {
            None => None,
            Some(s) => {
                let sk = self.kegs.get(usize::from(s)).ok_or(AllocError::NoSpace)?;
                let salign = self.slab_align(sk.layout.slab_size);
                let got = self
                    .kegs
                    .get_mut(usize::from(s))
                    .and_then(|sk| sk.alloc_item(id.0, backend, &mut self.hooks, salign));
                let Some((saddr, _)) = got else {
                    if let Some(pk) = self.kegs.get_mut(kid) {
                        pk.free_item(at);
                    }
                    return Err(AllocError::NoSpace);
                };
                if let Some(pk) = self.kegs.get_mut(kid) {
                    pk.set_partner(at, saddr);
                }
                Some(saddr)
            }
        };
        self.hooks.ctor(id, addr, pair);
        if let Some(z) = self.zones.get_mut(zid) {
            z.live += 1;
            z.allocs += 1;
        }
        Ok(Item { addr, pair })
    }

    // ---- free -------------------------------------------------------------------------------

    /// Frees the item (a packet zone: the pair) at `addr` to `zone` on `cpu`.
    #[inline(always)]
    pub fn free(&mut self, zone: ZoneId, cpu: u8, addr: u64) -> Result<(), FreeError> {
        let zid = usize::from(zone.0);
        let cpus = self.cpus;
        let Some(z) = self.zones.get_mut(zid) else {
            return Err(FreeError::NoZone);
        };
        if cpu >= cpus {
            return Err(FreeError::BadCpu);
        }
        let Some(keg) = self.kegs.get_mut(usize::from(z.keg)) else {
            return Err(FreeError::NotSlab);
        };
        // The slab by truncation: the hint, else the index (it becomes the hint), else
        // `NotSlab`.
        let first = match keg.hinted(addr) {
            Some(first) => first,
            None => keg.lookup_and_hint(addr).ok_or(FreeError::NotSlab)?,
        };
        let at = match keg.item_index(addr) {
            // first + idx < first + 2^state_shift: inside the slot's share of the states.
            Ok(idx) => first + idx,
            Err(LookupError::NotSlab) => return Err(FreeError::NotSlab),
            Err(LookupError::InHeader) => return Err(FreeError::InHeader),
            Err(LookupError::NotItemStart) => return Err(FreeError::NotItemStart),
        };
        // SEEDED BUG MagazineDoubleFreeUnseen: the double-free check looks only at the slab
        // bitmap, so an item whose first free still sits in a magazine passes and goes into
        // a magazine a second time.
        #[cfg(feature = "seeded-bugs")]
        let bitmap_free = self
            .bugs
            .contains(Bug::MagazineDoubleFreeUnseen)
            .then(|| keg.bit_free(keg.loc_at(at)));
        let Some(st) = keg.state_mut(at) else {
            return Err(FreeError::NotLive);
        };
        let state = *st;
        if state != zone.0 && state & CACHED == 0 {
            return Err(FreeError::WrongZone);
        }
        #[cfg(feature = "seeded-bugs")]
        let not_live = bitmap_free.unwrap_or(state != zone.0);
        #[cfg(not(feature = "seeded-bugs"))]
        let not_live = state != zone.0;
        if not_live {
            return Err(FreeError::NotLive);
        }
        *st = CACHED | zone.0;
        z.live = z.live.saturating_sub(1);
        z.frees += 1;
        if z.secondary.is_some() {
            return self.free_pair(zone, cpu, addr, at);
        }
        let r = Round { addr, at };
        if z.push_loaded(usize::from(cpu), r) {
            return Ok(());
        }
        self.free_slow(zone, cpu, r)
    }

    /// Free of a packet zone's pair whose primary (at `addr`, item reference `at`) is now
    /// cached (counted): the secondary half cached too, then into a magazine or back to the
    /// kegs.
    #[inline(never)]
    fn free_pair(&mut self, zone: ZoneId, cpu: u8, addr: u64, at: usize) -> Result<(), FreeError> {
        let zid = usize::from(zone.0);
        let Some(z) = self.zones.get(zid) else {
            return Ok(());
        };
        let (keg, secondary, cached) = (usize::from(z.keg), z.secondary, CACHED | zone.0);
        let mut e = Entry {
            item: Round { addr, at },
            pair: NO_ROUND,
        };
        e.pair.addr = self.kegs.get(keg).and_then(|k| k.partner(at)).unwrap_or(0);
        if let Some(sk) = secondary.and_then(|s| self.kegs.get_mut(usize::from(s))) {
            e.pair.at = sk.locate(e.pair.addr).map_or(NO_AT, |loc| sk.at(loc));
            sk.set_state(e.pair.at, cached);
        }
        let pushed = self
            .zones
            .get_mut(zid)
            .is_some_and(|z| z.push_entry(usize::from(cpu), e));
        if !pushed {
            self.free_round_slow(zid, cpu, e);
        }
        Ok(())
    }

    /// [`Slabs::free_round_slow`] of a plain item (not a pair); always `Ok`.
    #[inline(never)]
    fn free_slow(&mut self, zone: ZoneId, cpu: u8, r: Round) -> Result<(), FreeError> {
        let e = Entry {
            item: r,
            pair: NO_ROUND,
        };
        self.free_round_slow(usize::from(zone.0), cpu, e);
        Ok(())
    }

    /// Free steps 2 to 4 (the loaded magazine is full, or the zone has no magazines): the
    /// entry into a magazine after an exchange, else back to its keg(s).
    fn free_round_slow(&mut self, zid: usize, cpu: u8, e: Entry) {
        let Some(z) = self.zones.get_mut(zid) else {
            return;
        };
        let pushed = if z.rounds == 0 {
            Err(e)
        } else {
            z.push_exchange(usize::from(cpu), e)
        };
        if let Err(e) = pushed {
            let (kid, secondary, id) = (z.keg, z.secondary, z.id);
            self.back_to_kegs(id, kid, secondary, e);
        }
    }

    /// Free step 4 and reclaim: `dtor`, then the entry's item(s) back to their keg(s).
    fn back_to_kegs(&mut self, zone: ZoneId, keg: u8, secondary: Option<u8>, e: Entry) {
        self.hooks.dtor(
            zone,
            e.item.addr,
            secondary.is_some().then_some(e.pair.addr),
        );
        if let Some(k) = self.kegs.get_mut(usize::from(keg)) {
            k.free_item(e.item.at);
        }
        if let Some(k) = secondary.and_then(|s| self.kegs.get_mut(usize::from(s))) {
            k.free_item(e.pair.at);
        }
    }
    // ---- reclaim ----------------------------------------------------------------------------

    /// Whether reclaim gives back a slab with `nfree` of `items` items free.
    fn releasable(&self, nfree: u64, items: u64) -> bool {
        #[cfg(feature = "seeded-bugs")]
        if self.bugs.contains(Bug::ReclaimFreesLiveSlab) {
            // SEEDED BUG ReclaimFreesLiveSlab: an off-by-one in the "wholly free" test gives
            // back a slab with one item still out (live, after the drain).
            return nfree + 1 >= items;
        }
        nfree == items
    }

    /// Drains every zone's magazines and depot back to the kegs, then gives every wholly free
    /// slab back to `backend` (module comment, section 7).
    pub fn reclaim<B: SlabSource + ?Sized>(&mut self, backend: &mut B) -> ReclaimReport {
        let mut report = ReclaimReport::default();
        let mut drained = core::mem::take(&mut self.drained);
        for zid in 0..self.zones.len() {
            let Some(z) = self.zones.get_mut(zid) else {
                continue;
            };
            drained.clear();
            z.drain(&mut drained);
            let (id, keg, secondary) = (z.id, z.keg, z.secondary);
            for &r in &drained {
                self.back_to_kegs(id, keg, secondary, r);
            }
            report.items += drained.len() as u64;
        }
        drained.clear();
        self.drained = drained;
        for kid in 0..self.kegs.len() {
            let Some(k) = self.kegs.get(kid) else {
                continue;
            };
            let items = k.layout.items;
            let release: Vec<u32> = k
                .by_base
                .values()
                .copied()
                .filter(|&slot| {
                    k.slabs
                        .get(slot as usize)
                        .is_some_and(|s| self.releasable(u64::from(s.nfree), items))
                })
                .collect();
            if let Some(k) = self.kegs.get_mut(kid) {
                for slot in release {
                    k.release(slot, backend, &mut self.hooks);
                    report.slabs += 1;
                }
            }
        }
        report
    }

    // ---- reference counts -------------------------------------------------------------------

    /// The keg and item `addr` names, found from the address alone (the first keg in id
    /// order whose slab truncation finds), checked for a live item with counts.
    fn refcount_loc(&self, addr: u64) -> Result<(usize, Loc), RefError> {
        let mut found = None;
        for (i, k) in self.kegs.iter().enumerate() {
            match k.locate(addr) {
                Err(LookupError::NotSlab) => continue,
                Err(LookupError::InHeader) => return Err(RefError::InHeader),
                Err(LookupError::NotItemStart) => return Err(RefError::NotItemStart),
                Ok(loc) => {
                    found = Some((i, loc));
                    break;
                }
            }
        }
        let (i, loc) = found.ok_or(RefError::NotSlab)?;
        let k = self.kegs.get(i).ok_or(RefError::NotSlab)?;
        if !k.refcounts {
            return Err(RefError::NoRefcounts);
        }
        let state = k.state(loc);
        if state & CACHED != 0 || usize::from(state) >= self.zones.len() {
            return Err(RefError::NotLive);
        }
        Ok((i, loc))
    }

    /// The reference count of the live item at `addr`.
    pub fn refcount(&self, addr: u64) -> Result<u32, RefError> {
        let (i, loc) = self.refcount_loc(addr)?;
        self.kegs
            .get(i)
            .and_then(|k| k.slabs.get(loc.slab as usize))
            .and_then(|s| s.refcnt.get(loc.idx as usize))
            .copied()
            .ok_or(RefError::NoRefcounts)
    }

    /// Sets the reference count of the live item at `addr`.
    pub fn set_refcount(&mut self, addr: u64, value: u32) -> Result<(), RefError> {
        let (i, loc) = self.refcount_loc(addr)?;
        let c = self
            .kegs
            .get_mut(i)
            .and_then(|k| k.refcnt_mut(loc))
            .ok_or(RefError::NoRefcounts)?;
        *c = value;
        Ok(())
    }

    // ---- observation ------------------------------------------------------------------------

    /// The layout of `keg`'s slabs.
    pub fn layout(&self, keg: KegId) -> Option<SlabLayout> {
        self.kegs.get(usize::from(keg.0)).map(|k| k.layout)
    }

    /// The slabs of `keg` in ascending base order (none for an unknown keg).
    pub fn slabs(&self, keg: KegId) -> impl Iterator<Item = SlabView> + '_ {
        self.kegs
            .get(usize::from(keg.0))
            .into_iter()
            .flat_map(|k| k.views())
    }

    /// Counters of `zone`.
    pub fn zone_stats(&self, zone: ZoneId) -> Option<ZoneStats> {
        self.zones.get(usize::from(zone.0)).map(|z| ZoneStats {
            live: z.live,
            cached: z.cached(),
            limit: z.limit,
            allocs: z.allocs,
            frees: z.frees,
        })
    }

    /// Counters of `keg`.
    pub fn keg_stats(&self, keg: KegId) -> Option<KegStats> {
        self.kegs.get(usize::from(keg.0)).map(|k| KegStats {
            slabs: k.by_base.len() as u64,
            items_free: k.items_free,
            items_out: k.items_out,
        })
    }

    /// The keg `zone` takes its items (a packet zone: its primaries) from, and a packet
    /// zone's secondary keg.
    pub fn zone_kegs(&self, zone: ZoneId) -> Option<(KegId, Option<KegId>)> {
        self.zones
            .get(usize::from(zone.0))
            .map(|z| (KegId(z.keg), z.secondary.map(KegId)))
    }

    /// Checks every invariant of the module comment, section 7. O(items + rounds).
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        invariants::check(self)
    }
}

#[cfg(test)]
mod tests;
