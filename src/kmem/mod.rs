//! # kmem: NetBSD's kernel memory allocator front end (seed 004, Andrew Doran 2009)
//!
//! ## 1. Concepts
//!
//! - The **kernel map** is a vmem [`Arena`] of page quantum ([`PAGE_SIZE`]) whose spans the
//!   caller chooses (address 0, the top of the 32-bit space and the top of the 64-bit space
//!   are ordinary places for them). Nothing but kmem allocates from it.
//! - The **kmem arena** is a [`CachedArena`] of quantum [`KMEM_QUANTUM`] (ALIGNBYTES + 1)
//!   with quantum caches up to [`KMEM_QCACHE_MAX`] = 16 quanta, importing spans from the
//!   kernel map in multiples of [`KMEM_IMPORT_QUANTUM`] (64 KiB) by the vmem import rules
//!   (a span goes back to the map as soon as it is wholly free). The map is reached through
//!   [`KernelMap`], which asks it for page-aligned spans and counts its **refusals**: an
//!   allocation may fail with `NoSpace` only in an operation during which the map refused.
//! - The **classes** are one slab system ([`Slabs`]) with a keg and a zone per size in
//!   [`KMEM_CLASSES`] (items of the class size aligned to the quantum), importing slabs from
//!   the kmem arena (an `xalloc` of the slab size aligned to it, bypassing its caches).
//! - An **object** is what `alloc` hands out: `size` bytes at an address, taking its
//!   **chunk** in its layer (section 2). Every zone (quantum cache and class) has per-CPU
//!   magazines and a depot (`rounds`, `depot` from [`KmemConfig`]); every op names its CPU.
//!
//! ## 2. Routes (`route.rs`)
//!
//! A request of `size` bytes is padded to `s = size + (debug ? KMEM_REDZONE : 0)` and routed
//! by one table look-up ([`Route::of`]): `s <= 128` to quantum cache `ceil(s / 8)` (chunk
//! `roundup(s, 8)`); `128 < s <= 4096` to the smallest class `>= s` (chunk the class size);
//! `s > 4096` to the **large path**: an `xalloc` from the kmem arena of `chunk =
//! roundup(s, PAGE_SIZE)` bytes, plus one page in guard mode, aligned to a page. That extra
//! page is the object's **guard range** `[addr + chunk, addr + chunk + PAGE_SIZE - 1]`:
//! allocated in the arena, so never handed to anyone, and an overrun of up to a page lands
//! in no other object. Large objects are recorded (address -> size, chunk) in both modes.
//!
//! ## 3. Debug mode: sizes and redzones
//!
//! Debug mode records every object (address -> size, chunk, route). At allocation the
//! object's **redzone** `[addr + size, addr + chunk - 1]` (at least [`KMEM_REDZONE`] bytes)
//! is filled with [`KMEM_REDZONE_BYTE`] in the simulated memory. `free(addr, size, cpu)`
//! checks, in order: `ZeroSize`, `BadCpu`; then in debug mode `BadFree` (no live object
//! starts at `addr`), `WrongSize { allocated, freed }` (seed 004's check that the allocated
//! size is the freed size; NetBSD KMEM_GUARD once freed with the caller's size: ANCHORS 6
//! #12), `Redzone { addr, offset }` (the first redzone byte that is not the pattern; the
//! object stays live); without debug, the route of `size` picks the layer: a cache or class
//! free is `BadFree` unless `addr` is a live item of that exact zone (a size on the same
//! route is accepted: nothing records it), a large free is `BadFree` unless a large object
//! starts at `addr`, and `WrongSize` if `roundup(size, PAGE_SIZE)` is not its chunk. Then
//! the object goes back to its layer (a zone on `cpu`, or the arena, guard page included).
//! [`Kmem::check`] (kmem_check) reports `NotLive` for an address kmem does not record, and
//! a clobbered redzone, without freeing.
//!
//! ## 4. Simulated memory (`memory.rs`)
//!
//! [`Memory`] holds bytes per address, sparse (4 KiB pages in a `BTreeMap`, created on first
//! write; a byte never written reads 0), over the whole 64-bit space; a range passing
//! `u64::MAX` is refused. kmem owns one ([`Kmem::memory`], [`Kmem::memory_mut`]) and writes
//! only redzone patterns into it; the harness writes through objects and past their ends
//! (overflows of k bytes) and reads them back. Nothing is zeroed on allocation or free.
//!
//! ## 5. Reclaim and costs
//!
//! [`Kmem::reclaim`] drains the class zones (their wholly free slabs go back to the kmem
//! arena), then the quantum caches; the arena gives every imported span that became wholly
//! free back to the map. Without debug mode, a small alloc or free is a table look-up and a
//! zone operation (a magazine hit allocates nothing and scans nothing); debug mode adds a
//! `BTreeMap` record and the redzone fill and check; the large path is an arena `xalloc` and
//! a record.
//!
//! ## 6. Invariants (`invariants.rs`)
//!
//! [`Kmem::check_invariants`] checks the map's, the kmem arena's and the classes' own
//! invariants, then: the kmem arena's allocated segments are exactly the cache slabs, the
//! class slabs and the large objects' chunks with their guard pages, one segment each; its
//! spans are all imported, each exactly one allocated segment of the map, and the map holds
//! no other; every record's route, chunk and alignment agree with its size, records never
//! overlap (chunks and guard ranges), small objects are recorded only in debug mode, and in
//! debug mode each zone's live count is the number of objects recorded on its route.
//!
//! ## 7. Seeded bugs
//!
//! With the `seeded-bugs` feature, `Kmem::set_bugs` (which also passes the set to the kmem
//! arena, its caches and the classes) switches on KmemWrongSizeAccepted (the debug free skips
//! the size comparison and frees with the caller's size) and RedzoneMissesOneByte (the
//! redzone check starts at `addr + size + 1`); the kmem arena's QcacheZeroSentinel lives in
//! `vmem/qcache.rs`. Each is marked `SEEDED BUG <Name>` beside the code it breaks.

mod invariants;
mod memory;
mod route;
mod types;

use alloc::collections::BTreeMap;

use crate::addr::Range;
use crate::slab::{KegId, Slabs, ZoneConfig, ZoneId, ZoneStats};
use crate::vmem::{
    Arena, ArenaConfig, CachedArena, ImportRequest, Policy, QcacheAllocError, QcacheConfig,
    Request, SpanSource,
};

pub use memory::{Memory, MAX_MEMORY_READ, MEMORY_PAGE};
pub use route::{
    Quanta, Route, SizeClass, KMEM_CLASSES, KMEM_CLASS_MAX, KMEM_QCACHE_MAX, KMEM_QCACHE_QUANTA,
    KMEM_QUANTUM,
};
pub use types::{
    KmemAllocError, KmemCheckError, KmemConfig, KmemCreateError, KmemFreeError, KmemInvariantError,
    KmemReclaimReport, MemoryError, ObjectView, KMEM_IMPORT_QUANTUM, KMEM_REDZONE,
    KMEM_REDZONE_BYTE, MAX_KMEM_SIZE, PAGE_SIZE,
};

#[cfg(feature = "seeded-bugs")]
use crate::bugs::{Bug, BugSet};

/// The kernel map as the kmem arena's source: page-aligned imports, refusals counted.
#[derive(Clone, Debug)]
pub struct KernelMap {
    /// The kernel map.
    map: Arena,
    /// Imports the map refused over kmem's life.
    refusals: u64,
}

impl KernelMap {
    /// The kernel map.
    pub fn map(&self) -> &Arena {
        &self.map
    }

    /// Imports the map refused so far.
    pub fn refusals(&self) -> u64 {
        self.refusals
    }
}

impl SpanSource for KernelMap {
    /// Spans are whole pages, so multiples of the kmem quantum.
    fn quantum(&self) -> u64 {
        KMEM_QUANTUM
    }

    /// The map's import (its size rounded up to pages by the map), aligned to at least a
    /// page; a refusal is counted.
    fn import(&mut self, req: &ImportRequest) -> Option<Range> {
        let mut request = req.request;
        request.align = request.align.max(PAGE_SIZE);
        let got = self.map.import(&ImportRequest { request });
        if got.is_none() {
            self.refusals += 1;
        }
        got
    }

    fn release(&mut self, span: Range) {
        self.map.release(span);
    }
}

/// What kmem records of an object (debug mode: every object; else large ones only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Record {
    /// The size it was allocated with.
    size: u64,
    /// Bytes it takes in its layer.
    chunk: u64,
    /// Its layer.
    route: Route,
}

/// NetBSD's kmem over quantum caches, size classes and vmem; see the module comment.
#[derive(Clone, Debug)]
pub struct Kmem {
    /// How it was built.
    config: KmemConfig,
    /// The kmem arena, its quantum caches, and the kernel map as its source.
    arena: CachedArena<KernelMap>,
    /// The mid size classes: keg and zone `i` hold items of `KMEM_CLASSES[i]` bytes.
    classes: Slabs,
    /// Live objects kmem records, by address.
    records: BTreeMap<u64, Record>,
    /// The simulated memory.
    memory: Memory,
    /// Seeded bugs switched on (fuzz self-test only).
    #[cfg(feature = "seeded-bugs")]
    bugs: BugSet,
}

impl Kmem {
    /// kmem over the kernel map `map` (quantum [`PAGE_SIZE`], spans chosen by the caller).
    pub fn new(config: KmemConfig, map: Arena) -> Result<Kmem, KmemCreateError> {
        let mut classes = Slabs::new(config.cpus).map_err(|_| KmemCreateError::BadCpus)?;
        let zone = ZoneConfig {
            rounds: config.rounds,
            depot: config.depot,
            limit: 0,
        };
        for &size in &KMEM_CLASSES {
            let keg = classes
                .add_keg(size, KMEM_QUANTUM, false)
                .map_err(|_| KmemCreateError::BadMapQuantum)?;
            classes.add_zone(keg, zone).map_err(|e| match e {
                crate::slab::ZoneError::BadDepot => KmemCreateError::BadDepot,
                _ => KmemCreateError::BadRounds,
            })?;
        }
        if map.quantum() != PAGE_SIZE {
            return Err(KmemCreateError::BadMapQuantum);
        }
        let source = KernelMap { map, refusals: 0 };
        let arena_config = ArenaConfig {
            import_quantum: KMEM_IMPORT_QUANTUM,
            ..ArenaConfig::new(KMEM_QUANTUM, None)
        };
        let arena = Arena::with_source("kmem", arena_config, source)
            .map_err(|_| KmemCreateError::BadMapQuantum)?;
        let qconfig = QcacheConfig {
            qcache_max: KMEM_QCACHE_MAX,
            cpus: config.cpus,
            rounds: config.rounds,
            depot: config.depot,
        };
        let arena = CachedArena::new(arena, qconfig).map_err(|_| KmemCreateError::BadCpus)?;
        Ok(Kmem {
            config,
            arena,
            classes,
            records: BTreeMap::new(),
            memory: Memory::new(),
            #[cfg(feature = "seeded-bugs")]
            bugs: BugSet::NONE,
        })
    }

    /// Switch seeded bugs on (fuzz self-test only): in kmem, the kmem arena with its caches,
    /// and the classes (not in the kernel map).
    #[cfg(feature = "seeded-bugs")]
    pub fn set_bugs(&mut self, bugs: BugSet) {
        self.bugs = bugs;
        self.arena.set_bugs(bugs);
        self.classes.set_bugs(bugs);
    }

    /// Whether seeded bug `bug` is switched on.
    #[cfg(feature = "seeded-bugs")]
    fn bug(&self, bug: Bug) -> bool {
        self.bugs.contains(bug)
    }

    /// The extra bytes after a large object's chunk (a guard page in guard mode).
    fn guard_bytes(&self) -> u64 {
        if self.config.guard {
            PAGE_SIZE
        } else {
            0
        }
    }

    // ---- allocation -----------------------------------------------------------------------

    /// kmem_alloc: `size` bytes on `cpu` (module comment, sections 2 and 3).
    #[inline(always)]
    pub fn alloc(&mut self, size: u64, cpu: u8) -> Result<u64, KmemAllocError> {
        if size == 0 {
            return Err(KmemAllocError::ZeroSize);
        }
        if size > MAX_KMEM_SIZE {
            return Err(KmemAllocError::TooBig);
        }
        if cpu >= self.config.cpus {
            return Err(KmemAllocError::BadCpu);
        }
        if self.config.debug {
            return self.alloc_debug(size, cpu);
        }
        if let Some(addr) = self.alloc_hit(size, cpu)? {
            return Ok(addr);
        }
        let route = Route::of(size);
        let addr = self.alloc_layer(route, size, cpu)?;
        if route == Route::Large {
            self.record(addr, size, size, route);
        }
        Ok(addr)
    }

    /// Debug mode's allocation: padded, recorded, its redzone filled.
    fn alloc_debug(&mut self, size: u64, cpu: u8) -> Result<u64, KmemAllocError> {
        let s = size + KMEM_REDZONE;
        let route = Route::of(s);
        let addr = self.alloc_on(route, s, cpu)?;
        let chunk = self.record(addr, size, s, route);
        // The chunk lies in the arena, so neither end passes u64::MAX.
        let last = addr.saturating_add(chunk.saturating_sub(1));
        self.memory
            .fill(addr.saturating_add(size), last, KMEM_REDZONE_BYTE);
        Ok(addr)
    }

    /// Records an object of `size` bytes (padded `s`) at `addr`; returns its chunk.
    fn record(&mut self, addr: u64, size: u64, s: u64, route: Route) -> u64 {
        // s <= MAX_KMEM_SIZE + KMEM_REDZONE, so the chunk is far below u64::MAX.
        let chunk = u64::try_from(route.chunk(s)).unwrap_or(u64::MAX);
        self.records.insert(addr, Record { size, chunk, route });
        chunk
    }

    /// The slab system and zone of a padded size `s` on a small route (a quantum cache or a
    /// class), and whether it is a class; `None` on the large path. The route's table
    /// look-up ([`Route::of`]) without building a [`Route`], the layer picked with no branch:
    /// one copy of the zone hit paths serves both layers.
    #[inline(always)]
    fn small(&mut self, s: u64) -> Option<(&mut Slabs, ZoneId, bool)> {
        let (class, zone) = route::small_zone(s)?;
        let slabs = if class {
            &mut self.classes
        } else {
            self.arena.caches_mut()
        };
        Some((slabs, ZoneId(zone), class))
    }

    /// A magazine hit for padded size `s` on a small route on `cpu`: `Ok(None)` (nothing
    /// changed) on the large path or when the zone must go past step 1.
    #[inline(always)]
    fn alloc_hit(&mut self, s: u64, cpu: u8) -> Result<Option<u64>, KmemAllocError> {
        let Some((slabs, zone, _class)) = self.small(s) else {
            return Ok(None);
        };
        match slabs.alloc_hit(zone, cpu) {
            Ok(Some(item)) => {
                #[cfg(feature = "seeded-bugs")]
                if !_class && self.arena.zero_sentinel(item.addr) {
                    return Err(KmemAllocError::NoSpace);
                }
                Ok(Some(item.addr))
            }
            Ok(None) => Ok(None),
            Err(_) => Err(KmemAllocError::NoSpace),
        }
    }

    /// Takes an object of padded size `s` from the layer of `route` (`Route::of(s)`) on
    /// `cpu`: a small route's magazine hit inline, everything else out of line.
    #[inline(always)]
    fn alloc_on(&mut self, route: Route, s: u64, cpu: u8) -> Result<u64, KmemAllocError> {
        match self.alloc_hit(s, cpu)? {
            Some(addr) => Ok(addr),
            None => self.alloc_layer(route, s, cpu),
        }
    }

    /// [`Kmem::alloc_on`] past a small route's magazine hit: the zone's steps 2 to 4 (with
    /// its backend), or the large path.
    #[inline(never)]
    fn alloc_layer(&mut self, route: Route, s: u64, cpu: u8) -> Result<u64, KmemAllocError> {
        match route {
            Route::Quantum(k) => self
                .arena
                .cache_alloc(u64::from(k.get()), cpu)
                .map_err(|_: QcacheAllocError| KmemAllocError::NoSpace),
            Route::Class(c) => self
                .classes
                .alloc(ZoneId(c.index()), cpu, &mut self.arena)
                .map(|item| item.addr)
                .map_err(|_| KmemAllocError::NoSpace),
            Route::Large => {
                let chunk = u64::try_from(route.chunk(s)).map_err(|_| KmemAllocError::NoSpace)?;
                let total = chunk
                    .checked_add(self.guard_bytes())
                    .ok_or(KmemAllocError::NoSpace)?;
                let req = Request {
                    align: PAGE_SIZE,
                    ..Request::size(total)
                };
                self.arena
                    .xalloc(&req, Policy::InstantFit)
                    .map_err(|_| KmemAllocError::NoSpace)
            }
        }
    }

    // ---- free -----------------------------------------------------------------------------

    /// kmem_free: the object at `addr` of `size` bytes, on `cpu` (module comment, section 3).
    #[inline(always)]
    pub fn free(&mut self, addr: u64, size: u64, cpu: u8) -> Result<(), KmemFreeError> {
        if size == 0 {
            return Err(KmemFreeError::ZeroSize);
        }
        if cpu >= self.config.cpus {
            return Err(KmemFreeError::BadCpu);
        }
        if self.config.debug {
            return self.free_debug(addr, size, cpu);
        }
        if let Some((slabs, zone, _)) = self.small(size) {
            return slabs
                .free(zone, cpu, addr)
                .map_err(|_| KmemFreeError::BadFree);
        }
        self.free_large(addr, size, cpu)
    }

    /// [`Kmem::free`] without debug mode of a size on the large path.
    #[inline(never)]
    fn free_large(&mut self, addr: u64, size: u64, cpu: u8) -> Result<(), KmemFreeError> {
        let rec = self.large_record(addr).ok_or(KmemFreeError::BadFree)?;
        if Route::Large.chunk(size) != u128::from(rec.chunk) {
            return Err(KmemFreeError::WrongSize {
                allocated: rec.size,
                freed: size,
            });
        }
        self.release(addr, rec, cpu)
            .map_err(|()| KmemFreeError::BadFree)?;
        self.records.remove(&addr);
        Ok(())
    }

    /// The record of the live large object at `addr`.
    fn large_record(&self, addr: u64) -> Option<Record> {
        self.records
            .get(&addr)
            .filter(|r| r.route == Route::Large)
            .copied()
    }

    /// Debug mode's free: recorded, size compared, redzone checked, then released.
    fn free_debug(&mut self, addr: u64, size: u64, cpu: u8) -> Result<(), KmemFreeError> {
        let rec = *self.records.get(&addr).ok_or(KmemFreeError::BadFree)?;
        #[cfg(feature = "seeded-bugs")]
        if self.bug(Bug::KmemWrongSizeAccepted) {
            return self.free_with_callers_size(addr, size, rec, cpu);
        }
        if rec.size != size {
            return Err(KmemFreeError::WrongSize {
                allocated: rec.size,
                freed: size,
            });
        }
        self.check_redzone(addr, rec)?;
        // Only a broken layer refuses its own live object; the record then stays.
        self.release(addr, rec, cpu)
            .map_err(|()| KmemFreeError::BadFree)?;
        self.records.remove(&addr);
        Ok(())
    }

    /// SEEDED BUG KmemWrongSizeAccepted (NetBSD KMEM_GUARD, ANCHORS 6 #12: the delayed free
    /// recorded only the address and freed with the current call's size): the recorded size
    /// is not compared with `size`, and the object goes back by the caller's size: to the
    /// zone `size` routes to, or as a large extent of `size`'s chunk. A layer that refuses
    /// it leaves it leaked; the caller is told it was freed either way.
    #[cfg(feature = "seeded-bugs")]
    fn free_with_callers_size(
        &mut self,
        addr: u64,
        size: u64,
        rec: Record,
        cpu: u8,
    ) -> Result<(), KmemFreeError> {
        self.check_redzone(addr, rec)?;
        let s = size.saturating_add(KMEM_REDZONE);
        let route = Route::of(s);
        let chunk = u64::try_from(route.chunk(s)).unwrap_or(u64::MAX);
        let _leaked = self
            .release(addr, Record { size, chunk, route }, cpu)
            .is_err();
        self.records.remove(&addr);
        Ok(())
    }

    /// Gives the object `rec` at `addr` back to its layer on `cpu`; `Err` if the layer
    /// refuses it.
    fn release(&mut self, addr: u64, rec: Record, cpu: u8) -> Result<(), ()> {
        match rec.route {
            Route::Quantum(k) => self
                .arena
                .cache_free(u64::from(k.get()), addr, cpu)
                .map_err(|_| ()),
            Route::Class(c) => self
                .classes
                .free(ZoneId(c.index()), cpu, addr)
                .map_err(|_| ()),
            Route::Large => {
                let total = rec.chunk.checked_add(self.guard_bytes()).ok_or(())?;
                self.arena.xfree(addr, total).map_err(|_| ())
            }
        }
    }

    /// Debug mode: `Redzone` if a byte of `[addr + size, addr + chunk - 1]` is not the
    /// pattern.
    fn check_redzone(&self, addr: u64, rec: Record) -> Result<(), KmemFreeError> {
        let first = addr.saturating_add(rec.size);
        #[cfg(feature = "seeded-bugs")]
        // SEEDED BUG RedzoneMissesOneByte: the check starts one byte late, at
        // `addr + size + 1`, so an overflow of exactly one byte goes unseen.
        let first = if self.bug(Bug::RedzoneMissesOneByte) {
            first.saturating_add(1)
        } else {
            first
        };
        let last = addr.saturating_add(rec.chunk.saturating_sub(1));
        match self.memory.first_not(first, last, KMEM_REDZONE_BYTE) {
            Some(bad) => Err(KmemFreeError::Redzone {
                addr,
                offset: bad - addr,
            }),
            None => Ok(()),
        }
    }

    /// kmem_check: `NotLive` if kmem records no object at `addr`; debug mode: `Redzone` if
    /// its redzone was clobbered.
    pub fn check(&self, addr: u64) -> Result<(), KmemCheckError> {
        let rec = *self.records.get(&addr).ok_or(KmemCheckError::NotLive)?;
        if self.config.debug {
            self.check_redzone(addr, rec).map_err(|e| match e {
                KmemFreeError::Redzone { addr, offset } => KmemCheckError::Redzone { addr, offset },
                _ => KmemCheckError::NotLive,
            })?;
        }
        Ok(())
    }

    /// Drains the class zones, then the quantum caches (module comment, section 5).
    pub fn reclaim(&mut self) -> KmemReclaimReport {
        let classes = self.classes.reclaim(&mut self.arena);
        let qcaches = self.arena.reclaim();
        KmemReclaimReport { classes, qcaches }
    }

    // ---- observation ----------------------------------------------------------------------

    /// How it was built.
    pub fn config(&self) -> KmemConfig {
        self.config
    }

    /// The simulated memory.
    pub fn memory(&self) -> &Memory {
        &self.memory
    }

    /// The simulated memory, to write through objects and past their ends.
    pub fn memory_mut(&mut self) -> &mut Memory {
        &mut self.memory
    }

    /// The kmem arena with its quantum caches (cache `k` serves `8k` bytes).
    pub fn arena(&self) -> &CachedArena<KernelMap> {
        &self.arena
    }

    /// The kernel map.
    pub fn map(&self) -> &Arena {
        self.arena.arena().source().map()
    }

    /// Imports the kernel map refused over kmem's life: an allocation may fail with
    /// `NoSpace` only if this grew during it.
    pub fn map_refusals(&self) -> u64 {
        self.arena.arena().source().refusals()
    }

    /// The class zones' slab system (keg and zone `i` hold `KMEM_CLASSES[i]`-byte items).
    pub fn classes(&self) -> &Slabs {
        &self.classes
    }

    /// Counters of the zone of `route` (a quantum cache or a class); `None` for the large
    /// path.
    pub fn zone_stats(&self, route: Route) -> Option<ZoneStats> {
        match route {
            Route::Quantum(k) => self.arena.zone_stats(u64::from(k.get())),
            Route::Class(c) => self.classes.zone_stats(ZoneId(c.index())),
            Route::Large => None,
        }
    }

    /// The view of a recorded object.
    fn view(&self, addr: u64, r: &Record) -> ObjectView {
        let guard = (r.route == Route::Large && self.config.guard).then(|| {
            let first = addr.saturating_add(r.chunk);
            (first, first.saturating_add(PAGE_SIZE - 1))
        });
        ObjectView {
            addr,
            size: r.size,
            chunk: r.chunk,
            route: r.route,
            guard,
        }
    }

    /// Every object kmem records, by ascending address: all live objects in debug mode,
    /// the live large objects in both modes.
    pub fn objects(&self) -> impl Iterator<Item = ObjectView> + '_ {
        self.records.iter().map(|(&a, r)| self.view(a, r))
    }

    /// The live large objects, by ascending address.
    pub fn large_objects(&self) -> impl Iterator<Item = ObjectView> + '_ {
        self.objects().filter(|v| v.route == Route::Large)
    }

    /// The slab layer keg of class `c`.
    fn class_keg(c: SizeClass) -> KegId {
        KegId(c.index())
    }

    /// Checks every invariant of the module comment, section 6. O(tags + items).
    pub fn check_invariants(&self) -> Result<(), KmemInvariantError> {
        invariants::check(self)
    }
}

#[cfg(test)]
mod tests;
