//! Quantum caches (module comment, section 10): [`CachedArena`], an arena whose small
//! unconstrained allocations go through one slab-layer zone per multiple of the quantum up to
//! `qcache_max`, the zones' slabs imported from the arena itself.

use alloc::collections::BTreeMap;
use core::fmt;

use super::{round_up, AllocError, Arena, FreeError, InvariantError, Policy, Request};
use super::{SegmentView, SpanSource};
use crate::slab::{
    self, KegId, ReclaimReport, SlabLayout, SlabSource, SlabView, Slabs, ZoneConfig, ZoneId,
    ZoneStats, MAX_DEPOT, MAX_ITEM_ALIGN, MAX_ITEM_SIZE, MAX_ROUNDS,
};

#[cfg(doc)]
use crate::slab::MAX_CPUS;

#[cfg(feature = "seeded-bugs")]
use crate::bugs::{Bug, BugSet};

/// The most quanta a quantum cache's items may hold (illumos, NetBSD and FreeBSD all stop at
/// 16): `qcache_max <= MAX_QCACHE_QUANTA * quantum`.
pub const MAX_QCACHE_QUANTA: u64 = 16;

/// How a [`CachedArena`] caches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QcacheConfig {
    /// The largest size served by a cache: a multiple of the quantum, at most
    /// [`MAX_QCACHE_QUANTA`] quanta and at most [`MAX_ITEM_SIZE`]; 0 = no caches.
    pub qcache_max: u64,
    /// Simulated CPUs, 1 ..= [`MAX_CPUS`].
    pub cpus: u8,
    /// Magazine capacity of every cache's zone, 0 ..= [`MAX_ROUNDS`].
    pub rounds: u16,
    /// Full magazines every cache's depot may hold, 0 ..= [`MAX_DEPOT`].
    pub depot: u16,
}

/// Why [`CachedArena::new`] refused. Checked in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QcacheCreateError {
    /// `qcache_max` is not a multiple of the quantum, or above [`MAX_QCACHE_QUANTA`] quanta,
    /// or above [`MAX_ITEM_SIZE`].
    BadQcacheMax,
    /// `cpus` is 0 or above [`MAX_CPUS`].
    BadCpus,
    /// `rounds` is above [`MAX_ROUNDS`].
    BadRounds,
    /// `depot` is above [`MAX_DEPOT`].
    BadDepot,
}

/// Why [`CachedArena::alloc`] failed. Checked in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QcacheAllocError {
    /// The size is 0.
    ZeroSize,
    /// Rounding the size up to the quantum would exceed `u64::MAX`.
    SizeOverflow,
    /// The CPU is not below the arena's CPU count.
    BadCpu,
    /// No room: the cache's keg could not get a slab, or the arena found no placement (after
    /// importing from its source).
    NoSpace,
    /// The arena already holds its most tags (2^31 - 1).
    NoTags,
}

/// Why [`CachedArena::free`] refused. Checked in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QcacheFreeError {
    /// The size is 0.
    ZeroSize,
    /// The CPU is not below the arena's CPU count.
    BadCpu,
    /// A cached size: the address is not a live item of that size's cache. Any other size:
    /// no allocation of the arena starts here, or the address is a cache slab's base.
    BadFree,
    /// An allocation of the arena starts here but has another size (rounded to the quantum).
    WrongSize {
        /// The size it was allocated with (rounded).
        allocated: u64,
    },
}

/// A broken invariant found by [`CachedArena::check_invariants`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QcacheInvariantError {
    /// The arena's own invariants.
    Arena(InvariantError),
    /// The caches' slab layer's own invariants.
    Slabs(slab::InvariantError),
    /// The cache-slab index does not hold exactly the caches' slabs (one is missing, extra,
    /// or recorded with another size).
    SlabIndexWrong {
        /// The slab's base.
        base: u64,
    },
    /// A cache slab is not exactly one allocated segment of the arena.
    SlabNotAllocated {
        /// The slab's base.
        base: u64,
        /// The slab's size.
        size: u64,
    },
}

macro_rules! display_via_debug {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }
    )*};
}
display_via_debug!(
    QcacheCreateError,
    QcacheAllocError,
    QcacheFreeError,
    QcacheInvariantError
);

/// A cache index in `1 ..= MAX_QCACHE_QUANTA`: the cache of items of `k` quanta.
fn zone_of(k: u64) -> Option<ZoneId> {
    let i = k.checked_sub(1)?;
    (i < MAX_QCACHE_QUANTA).then_some(ZoneId(i as u8))
}

/// An arena with quantum caches; see the vmem module comment, section 10.
#[derive(Clone, Debug)]
pub struct CachedArena<S: SpanSource = super::NoSource> {
    /// The arena every cache slab, every larger and every constrained allocation comes from.
    arena: Arena<S>,
    /// The caches: keg and zone `k - 1` hold items of `k` quanta.
    slabs: Slabs,
    /// Base -> size of every slab the caches hold (all allocated segments of `arena`): the
    /// slab protection of `free` and `xfree`.
    cache_slabs: BTreeMap<u64, u64>,
    /// The largest cached size (0: no caches).
    qcache_max: u64,
    /// The arena's quantum (a power of two).
    quantum: u64,
    /// log2 of the quantum.
    shift: u32,
    /// Simulated CPUs.
    cpus: u8,
    /// Seeded bugs switched on (fuzz self-test only).
    #[cfg(feature = "seeded-bugs")]
    bugs: BugSet,
}

/// The caches' slab backend: the arena, recording each slab it gives and takes back.
struct CacheBackend<'a, S: SpanSource> {
    /// Where slabs come from.
    arena: &'a mut Arena<S>,
    /// The cache-slab index.
    cache_slabs: &'a mut BTreeMap<u64, u64>,
}

impl<S: SpanSource> SlabSource for CacheBackend<'_, S> {
    fn alloc_slab(&mut self, size: u64, align: u64) -> Option<u64> {
        let base = self.arena.alloc_slab(size, align)?;
        self.cache_slabs.insert(base, size);
        Some(base)
    }

    fn free_slab(&mut self, base: u64, size: u64) {
        self.cache_slabs.remove(&base);
        self.arena.free_slab(base, size);
    }
}

impl<S: SpanSource> CachedArena<S> {
    /// Puts quantum caches in front of `arena` (module comment, section 10).
    pub fn new(arena: Arena<S>, config: QcacheConfig) -> Result<Self, QcacheCreateError> {
        let quantum = arena.quantum();
        let max = config.qcache_max;
        if !max.is_multiple_of(quantum) || max / quantum > MAX_QCACHE_QUANTA || max > MAX_ITEM_SIZE
        {
            return Err(QcacheCreateError::BadQcacheMax);
        }
        let mut slabs = Slabs::new(config.cpus).map_err(|_| QcacheCreateError::BadCpus)?;
        if config.rounds > MAX_ROUNDS {
            return Err(QcacheCreateError::BadRounds);
        }
        if config.depot > MAX_DEPOT {
            return Err(QcacheCreateError::BadDepot);
        }
        // Items of k quanta aligned to the quantum. A quantum above the slab layer's largest
        // alignment (possible up to MAX_ITEM_SIZE) is still honoured: the stride is a
        // multiple of the quantum and every slab is aligned to its size, a power of two at
        // least the stride, so every item start is a multiple of the quantum.
        let align = quantum.min(MAX_ITEM_ALIGN);
        let zone = ZoneConfig {
            rounds: config.rounds,
            depot: config.depot,
            limit: 0,
        };
        for k in 1..=max / quantum {
            let keg = slabs
                .add_keg(k * quantum, align, false)
                .map_err(|_| QcacheCreateError::BadQcacheMax)?;
            slabs.add_zone(keg, zone).map_err(|e| match e {
                slab::ZoneError::BadDepot => QcacheCreateError::BadDepot,
                _ => QcacheCreateError::BadRounds,
            })?;
        }
        Ok(CachedArena {
            arena,
            slabs,
            cache_slabs: BTreeMap::new(),
            qcache_max: max,
            quantum,
            shift: quantum.trailing_zeros(),
            cpus: config.cpus,
            #[cfg(feature = "seeded-bugs")]
            bugs: BugSet::NONE,
        })
    }

    /// Switch seeded bugs on (fuzz self-test only): in the caches, and in the arena and the
    /// slab layer below them.
    #[cfg(feature = "seeded-bugs")]
    pub fn set_bugs(&mut self, bugs: BugSet) {
        self.bugs = bugs;
        self.arena.set_bugs(bugs);
        self.slabs.set_bugs(bugs);
    }

    // ---- allocation -----------------------------------------------------------------------

    /// Allocates `size` bytes rounded up to the quantum on `cpu`: from cache `k` (`k` quanta)
    /// if that is at most `qcache_max`, else [`Arena::alloc`] (instant fit).
    #[inline(always)]
    pub fn alloc(&mut self, size: u64, cpu: u8) -> Result<u64, QcacheAllocError> {
        // A cached size (`1 <= size <= qcache_max`, which is a multiple of the quantum):
        // cache `k = ceil(size / quantum)` is zone `(size - 1) >> shift`, with no rounding
        // and nothing to overflow; size 0 wraps to u64::MAX and takes the general path.
        let i = size.wrapping_sub(1);
        if i < self.qcache_max {
            if cpu >= self.cpus {
                return Err(QcacheAllocError::BadCpu);
            }
            return self.zone_alloc(Self::cache_zone(i >> self.shift), cpu);
        }
        self.alloc_general(size, cpu)
    }

    /// The zone of the cache whose items are `j + 1` quanta (`j < MAX_QCACHE_QUANTA`).
    #[inline(always)]
    fn cache_zone(j: u64) -> ZoneId {
        ZoneId(j as u8)
    }

    /// [`CachedArena::alloc`] of a size above `qcache_max` (or 0, or one that cannot round).
    #[inline(never)]
    fn alloc_general(&mut self, size: u64, cpu: u8) -> Result<u64, QcacheAllocError> {
        if size == 0 {
            return Err(QcacheAllocError::ZeroSize);
        }
        let rounded = round_up(size, self.quantum).ok_or(QcacheAllocError::SizeOverflow)?;
        if cpu >= self.cpus {
            return Err(QcacheAllocError::BadCpu);
        }
        if rounded <= self.qcache_max {
            return self.cache_alloc(rounded >> self.shift, cpu);
        }
        self.arena
            .alloc(rounded, Policy::InstantFit)
            .map_err(|e| match e {
                AllocError::ZeroSize => QcacheAllocError::ZeroSize,
                AllocError::SizeOverflow => QcacheAllocError::SizeOverflow,
                AllocError::NoTags => QcacheAllocError::NoTags,
                _ => QcacheAllocError::NoSpace,
            })
    }

    /// An item of cache `k` (`k` quanta, `1 ..= qcache_max / quantum`) on `cpu` (checked by
    /// the caller); `NoSpace` for a `k` with no cache.
    #[inline(always)]
    pub(crate) fn cache_alloc(&mut self, k: u64, cpu: u8) -> Result<u64, QcacheAllocError> {
        let zone = zone_of(k).ok_or(QcacheAllocError::NoSpace)?;
        self.zone_alloc(zone, cpu)
    }

    /// An item of the cache `zone` on `cpu` (checked by the caller).
    #[inline(always)]
    fn zone_alloc(&mut self, zone: ZoneId, cpu: u8) -> Result<u64, QcacheAllocError> {
        let mut backend = CacheBackend {
            arena: &mut self.arena,
            cache_slabs: &mut self.cache_slabs,
        };
        let item = self
            .slabs
            .alloc(zone, cpu, &mut backend)
            .map_err(|_| QcacheAllocError::NoSpace)?;
        #[cfg(feature = "seeded-bugs")]
        if self.zero_sentinel(item.addr) {
            return Err(QcacheAllocError::NoSpace);
        }
        Ok(item.addr)
    }

    /// SEEDED BUG QcacheZeroSentinel (FreeBSD, ANCHORS 6 #11): the cache returns 0 for "no
    /// item", so an item at address 0 reads as a failed allocation; it stays live in its
    /// zone, leaked. Whether the item handed out at `addr` reads so.
    #[cfg(feature = "seeded-bugs")]
    pub(crate) fn zero_sentinel(&self, addr: u64) -> bool {
        addr == 0 && self.bugs.contains(Bug::QcacheZeroSentinel)
    }

    /// The caches' slab system (zone `k - 1` is cache `k`): for kmem's hit paths, which pick
    /// it or the size classes by size with no branch.
    #[inline(always)]
    pub(crate) fn caches_mut(&mut self) -> &mut Slabs {
        &mut self.slabs
    }

    /// Allocates with constraints, straight from the arena (the caches are bypassed).
    pub fn xalloc(&mut self, req: &Request, policy: Policy) -> Result<u64, AllocError> {
        self.arena.xalloc(req, policy)
    }

    // ---- free -----------------------------------------------------------------------------

    /// Frees `size` bytes at `addr` on `cpu`: a rounded size at most `qcache_max` goes to its
    /// cache (`BadFree` unless `addr` is a live item of it), any other to [`Arena::free`]
    /// (a cache slab's base is `BadFree`).
    #[inline(always)]
    pub fn free(&mut self, addr: u64, size: u64, cpu: u8) -> Result<(), QcacheFreeError> {
        // A cached size: its cache's zone without rounding, as in `alloc`.
        let i = size.wrapping_sub(1);
        if i < self.qcache_max {
            if cpu >= self.cpus {
                return Err(QcacheFreeError::BadCpu);
            }
            return self.zone_free(Self::cache_zone(i >> self.shift), addr, cpu);
        }
        self.free_general(addr, size, cpu)
    }

    /// [`CachedArena::free`] of a size above `qcache_max` (or 0, or one that cannot round).
    #[inline(never)]
    fn free_general(&mut self, addr: u64, size: u64, cpu: u8) -> Result<(), QcacheFreeError> {
        if size == 0 {
            return Err(QcacheFreeError::ZeroSize);
        }
        if cpu >= self.cpus {
            return Err(QcacheFreeError::BadCpu);
        }
        match round_up(size, self.quantum) {
            Some(r) if r <= self.qcache_max => self.cache_free(r >> self.shift, addr, cpu),
            _ => self.xfree(addr, size).map_err(|e| match e {
                FreeError::WrongSize { allocated } => QcacheFreeError::WrongSize { allocated },
                FreeError::ZeroSize => QcacheFreeError::ZeroSize,
                FreeError::BadFree => QcacheFreeError::BadFree,
            }),
        }
    }

    /// Gives the live item `addr` back to cache `k` on `cpu` (checked by the caller):
    /// `BadFree` unless it is a live item of that cache.
    #[inline(always)]
    pub(crate) fn cache_free(&mut self, k: u64, addr: u64, cpu: u8) -> Result<(), QcacheFreeError> {
        let zone = zone_of(k).ok_or(QcacheFreeError::BadFree)?;
        self.zone_free(zone, addr, cpu)
    }

    /// Gives the live item `addr` back to the cache `zone` on `cpu` (checked by the caller).
    #[inline(always)]
    fn zone_free(&mut self, zone: ZoneId, addr: u64, cpu: u8) -> Result<(), QcacheFreeError> {
        self.slabs
            .free(zone, cpu, addr)
            .map_err(|_| QcacheFreeError::BadFree)
    }

    /// Frees an allocation straight to the arena; a cache slab's base is `BadFree` (a slab
    /// is the caches' memory, never a caller's).
    pub fn xfree(&mut self, addr: u64, size: u64) -> Result<(), FreeError> {
        if size == 0 {
            return Err(FreeError::ZeroSize);
        }
        if self.cache_slabs.contains_key(&addr) {
            return Err(FreeError::BadFree);
        }
        self.arena.free(addr, size)
    }

    /// Drains every cache's magazines and depot and gives every wholly free cache slab back
    /// to the arena (which releases an imported span as soon as it is wholly free).
    pub fn reclaim(&mut self) -> ReclaimReport {
        let mut backend = CacheBackend {
            arena: &mut self.arena,
            cache_slabs: &mut self.cache_slabs,
        };
        self.slabs.reclaim(&mut backend)
    }

    // ---- observation ----------------------------------------------------------------------

    /// The arena below the caches.
    pub fn arena(&self) -> &Arena<S> {
        &self.arena
    }

    /// The arena's quantum.
    pub fn quantum(&self) -> u64 {
        self.quantum
    }

    /// The largest cached size (0: no caches).
    pub fn qcache_max(&self) -> u64 {
        self.qcache_max
    }

    /// The number of caches, `qcache_max / quantum`; cache `k` is `1 ..= caches()`.
    pub fn caches(&self) -> u64 {
        self.qcache_max >> self.shift
    }

    /// The number of simulated CPUs.
    pub fn cpus(&self) -> u8 {
        self.cpus
    }

    /// Counters of cache `k` (items of `k` quanta); `None` if there is no such cache.
    pub fn zone_stats(&self, k: u64) -> Option<ZoneStats> {
        self.slabs.zone_stats(zone_of(k)?)
    }

    /// The slab layout of cache `k`; `None` if there is no such cache.
    pub fn layout(&self, k: u64) -> Option<SlabLayout> {
        let z = zone_of(k)?;
        self.slabs.layout(KegId(z.0))
    }

    /// The slabs of cache `k` in ascending base order (none if there is no such cache).
    pub fn slabs(&self, k: u64) -> impl Iterator<Item = SlabView> + '_ {
        let keg = zone_of(k)
            .filter(|_| k <= self.caches())
            .map(|z| KegId(z.0));
        keg.into_iter().flat_map(|keg| self.slabs.slabs(keg))
    }

    /// Every cache slab as `(base, size)`, in ascending base order.
    pub fn cache_slabs(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.cache_slabs.iter().map(|(&b, &s)| (b, s))
    }

    /// Checks the arena's and the slab layer's invariants, and that the cache-slab index
    /// holds exactly the caches' slabs, each an allocated segment of the arena. O(tags +
    /// items).
    pub fn check_invariants(&self) -> Result<(), QcacheInvariantError> {
        self.arena
            .check_invariants()
            .map_err(QcacheInvariantError::Arena)?;
        self.slabs
            .check_invariants()
            .map_err(QcacheInvariantError::Slabs)?;
        let mut views = 0usize;
        for k in 1..=self.caches() {
            for v in self.slabs(k) {
                views += 1;
                if self.cache_slabs.get(&v.base) != Some(&v.size) {
                    return Err(QcacheInvariantError::SlabIndexWrong { base: v.base });
                }
            }
        }
        if views != self.cache_slabs.len() {
            let base = self.cache_slabs.keys().next().copied().unwrap_or(0);
            return Err(QcacheInvariantError::SlabIndexWrong { base });
        }
        let allocated = allocated_segments(&self.arena);
        for (&base, &size) in &self.cache_slabs {
            if allocated.get(&base) != Some(&size) {
                return Err(QcacheInvariantError::SlabNotAllocated { base, size });
            }
        }
        Ok(())
    }
}

/// Start -> size of every allocated segment of `arena`.
pub(crate) fn allocated_segments<S: SpanSource>(arena: &Arena<S>) -> BTreeMap<u64, u64> {
    arena
        .segments()
        .filter_map(|v| match v {
            SegmentView::Allocated(r) => Some((r.start(), r.size())),
            _ => None,
        })
        .collect()
}

/// A cached arena is a slab backend (the kmem size classes import from it): an instant-fit
/// `xalloc` of `size` aligned to `align` (at least the quantum), bypassing the caches, and
/// `xfree`.
impl<S: SpanSource> SlabSource for CachedArena<S> {
    fn alloc_slab(&mut self, size: u64, align: u64) -> Option<u64> {
        let req = Request {
            align: align.max(self.quantum),
            ..Request::size(size)
        };
        self.xalloc(&req, Policy::InstantFit).ok()
    }

    fn free_slab(&mut self, base: u64, size: u64) {
        // As for a plain arena: a refusal (a slab that did not come from here) leaves the
        // arena unchanged, which the invariants of the caller see.
        let _refused = self.xfree(base, size).is_err();
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;
    use crate::slab::MAX_CPUS;
    use crate::vmem::ArenaConfig;

    const MIB: u64 = 1 << 20;

    /// A cached arena of quantum 8, caches up to 128 bytes, over one static span.
    fn cached(base: u64, size: u64, cpus: u8, rounds: u16) -> CachedArena {
        let mut a = Arena::new("q", 8, None).unwrap();
        a.add_span(base, size).unwrap();
        let config = QcacheConfig {
            qcache_max: 128,
            cpus,
            rounds,
            depot: 2,
        };
        CachedArena::new(a, config).unwrap()
    }

    /// The reclaim formula: live plain allocations (rounded) + slab size x slabs holding a
    /// live item.
    fn expected_in_use(c: &CachedArena, plain: &[(u64, u64)]) -> u128 {
        let mut bytes: u128 = plain
            .iter()
            .map(|&(_, s)| u128::from(s.div_ceil(8) * 8))
            .sum();
        for k in 1..=c.caches() {
            let items = c.layout(k).unwrap().items;
            for v in c.slabs(k) {
                if v.free_items < items {
                    bytes += u128::from(v.size);
                }
            }
        }
        bytes
    }

    /// The cached arena reports its arena's quantum, and its caches' items are multiples of it.
    #[test]
    fn the_quantum_is_the_arenas() {
        let c = cached(0, MIB, 1, 2);
        assert_eq!(c.quantum(), 8);
        assert_eq!(c.quantum(), c.arena().quantum());
        let mut a = Arena::new("q", 64, None).unwrap();
        a.add_span(0, MIB).unwrap();
        let config = QcacheConfig {
            qcache_max: 256,
            cpus: 1,
            rounds: 2,
            depot: 2,
        };
        assert_eq!(CachedArena::new(a, config).unwrap().quantum(), 64);
    }

    #[test]
    fn create_errors_in_order() {
        let cfg = |qcache_max, cpus, rounds, depot| QcacheConfig {
            qcache_max,
            cpus,
            rounds,
            depot,
        };
        let new = |q: u64, c: QcacheConfig| {
            CachedArena::new(Arena::new("q", q, None).unwrap(), c).map(|_| ())
        };
        use QcacheCreateError::*;
        assert_eq!(new(8, cfg(12, 0, 99, 99)), Err(BadQcacheMax));
        assert_eq!(new(8, cfg(17 * 8, 1, 0, 0)), Err(BadQcacheMax));
        assert_eq!(new(8192, cfg(16 * 8192, 1, 0, 0)), Err(BadQcacheMax));
        assert_eq!(new(8, cfg(128, 0, 99, 99)), Err(BadCpus));
        assert_eq!(new(8, cfg(128, MAX_CPUS + 1, 0, 0)), Err(BadCpus));
        assert_eq!(new(8, cfg(128, 1, MAX_ROUNDS + 1, 99)), Err(BadRounds));
        assert_eq!(new(8, cfg(128, 1, 0, MAX_DEPOT + 1)), Err(BadDepot));
        assert_eq!(new(8, cfg(0, 1, 0, 0)), Ok(()));
        assert_eq!(new(8, cfg(128, MAX_CPUS, MAX_ROUNDS, MAX_DEPOT)), Ok(()));
        // A quantum above the slab layer's largest alignment: items still quantum-aligned.
        assert_eq!(new(8192, cfg(8 * 8192, 1, 0, 0)), Ok(()));
    }

    #[test]
    fn big_quantum_items_aligned() {
        let mut a = Arena::new("q", 8192, None).unwrap();
        a.add_span(0, 64 * MIB).unwrap();
        let cfg = QcacheConfig {
            qcache_max: 8 * 8192,
            cpus: 1,
            rounds: 4,
            depot: 1,
        };
        let mut c = CachedArena::new(a, cfg).unwrap();
        for size in [1, 8192, 8193, 3 * 8192, 8 * 8192] {
            for _ in 0..5 {
                let a = c.alloc(size, 0).unwrap();
                assert_eq!(a % 8192, 0, "size {size}");
            }
        }
        c.check_invariants().unwrap();
    }

    #[test]
    fn alloc_and_free_errors() {
        let mut c = cached(0x10_0000, MIB, 2, 4);
        use QcacheAllocError as A;
        use QcacheFreeError as F;
        assert_eq!(c.alloc(0, 9), Err(A::ZeroSize));
        assert_eq!(c.alloc(u64::MAX, 9), Err(A::SizeOverflow));
        assert_eq!(c.alloc(8, 2), Err(A::BadCpu));
        assert_eq!(c.alloc(4 * MIB, 0), Err(A::NoSpace));
        let mut empty = cached(0, 8, 1, 0);
        // The only span is one quantum: no slab fits, so a cached size has no room either.
        assert_eq!(empty.alloc(8, 0), Err(A::NoSpace));
        let a = c.alloc(24, 1).unwrap();
        let b = c.alloc(1000, 0).unwrap();
        assert_eq!(c.free(a, 0, 0), Err(F::ZeroSize));
        assert_eq!(c.free(a, 24, 2), Err(F::BadCpu));
        // Another cache (32 bytes), an interior address, never allocated: bad frees.
        assert_eq!(c.free(a, 32, 0), Err(F::BadFree));
        assert_eq!(c.free(a + 8, 24, 0), Err(F::BadFree));
        assert_eq!(c.free(b, 24, 0), Err(F::BadFree));
        // A size that rounds to the same cache is the same cache.
        assert_eq!(c.free(a, 17, 0), Ok(()));
        // Double free, also while the first sits in a magazine.
        assert_eq!(c.free(a, 24, 1), Err(F::BadFree));
        assert_eq!(c.free(b, 2000, 0), Err(F::WrongSize { allocated: 1000 }));
        assert_eq!(c.free(b + 8, 1000, 0), Err(F::BadFree));
        assert_eq!(c.free(b, 1000, 0), Ok(()));
        assert_eq!(c.free(b, 1000, 0), Err(F::BadFree));
        // A huge size cannot round: it is not a cached size, the arena refuses it.
        assert_eq!(c.free(b, u64::MAX, 0), Err(F::BadFree));
        c.check_invariants().unwrap();
    }

    #[test]
    fn slabs_are_protected() {
        let mut c = cached(0x10_0000, MIB, 1, 0);
        let a = c.alloc(8, 0).unwrap();
        let (base, size) = c.cache_slabs().next().unwrap();
        assert_eq!(a, base, "the first item of a new slab is its first");
        assert_eq!(c.xfree(base, size), Err(FreeError::BadFree));
        assert_eq!(c.xfree(base, 0), Err(FreeError::ZeroSize));
        assert_eq!(c.free(base, size, 0), Err(QcacheFreeError::BadFree));
        // An interior address of the slab is no allocation of the arena.
        assert_eq!(c.xfree(base + 64, 8), Err(FreeError::BadFree));
        c.check_invariants().unwrap();
        // xalloc bypasses the caches; xfree gives it back.
        let req = Request {
            align: 64,
            ..Request::size(8)
        };
        let x = c.xalloc(&req, Policy::FirstFit).unwrap();
        assert_eq!(x % 64, 0);
        assert!(c.cache_slabs().all(|(b, s)| x < b || x > b + (s - 1)));
        assert_eq!(c.free(x, 8, 0), Err(QcacheFreeError::BadFree));
        assert_eq!(c.xfree(x, 8), Ok(()));
        c.check_invariants().unwrap();
    }

    #[test]
    fn address_zero_is_an_item() {
        let mut c = cached(0, MIB, 1, 4);
        assert_eq!(c.alloc(8, 0), Ok(0));
        assert_eq!(c.free(0, 8, 0), Ok(()));
        assert_eq!(c.alloc(5, 0), Ok(0), "a magazine hit at 0");
        assert_eq!(c.free(0, 1, 0), Ok(()));
        c.reclaim();
        assert_eq!(c.arena().stats().in_use, 0);
        c.check_invariants().unwrap();
    }

    /// Fills every cache and the arena path in a span, frees all, reclaims.
    fn exercise_span(base: u64, size: u64) {
        let mut c = cached(base, size, 2, 3);
        let mut live = Vec::new();
        for i in 0..300u64 {
            let sz = 1 + (i * 37) % 200;
            let cpu = (i % 2) as u8;
            let a = c.alloc(sz, cpu).unwrap();
            assert!(a >= base && a - base <= size - sz.div_ceil(8) * 8);
            assert_eq!(a % 8, 0);
            live.push((a, sz));
        }
        c.check_invariants().unwrap();
        for (i, (a, sz)) in live.into_iter().enumerate() {
            c.free(a, sz, (i % 2) as u8).unwrap();
        }
        c.reclaim();
        assert_eq!(c.arena().stats().in_use, 0);
        assert_eq!(c.cache_slabs().count(), 0);
        c.check_invariants().unwrap();
    }

    #[test]
    fn span_at_top_of_32_bit_space() {
        exercise_span((1 << 32) - MIB, MIB);
    }

    #[test]
    fn span_at_top_of_64_bit_space() {
        exercise_span(u64::MAX - MIB + 1, MIB);
    }

    #[test]
    fn reclaim_gives_every_cached_segment_back() {
        let mut c = cached(0x4000_0000, 16 * MIB, 3, 2);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut live: Vec<(u64, u64)> = Vec::new();
        for step in 0..3000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let cpu = (x % 3) as u8;
            if x % 5 < 3 || live.is_empty() {
                let size = 1 + (x >> 8) % 300;
                if let Ok(a) = c.alloc(size, cpu) {
                    live.push((a, size));
                }
            } else {
                let (a, size) = live.swap_remove((x >> 8) as usize % live.len());
                c.free(a, size, cpu).unwrap();
            }
            if step % 97 == 0 {
                c.check_invariants().unwrap();
            }
        }
        c.reclaim();
        c.check_invariants().unwrap();
        let plain: Vec<(u64, u64)> = live.iter().copied().filter(|&(_, s)| s > 128).collect();
        assert_eq!(c.arena().stats().in_use, expected_in_use(&c, &plain));
        for k in 1..=c.caches() {
            assert_eq!(c.zone_stats(k).unwrap().cached, 0);
        }
        for (a, size) in live {
            c.free(a, size, 0).unwrap();
        }
        c.reclaim();
        assert_eq!(c.arena().stats().in_use, 0);
    }

    #[test]
    fn caches_import_from_the_arena_source() {
        let mut parent = Arena::new("parent", 8, None).unwrap();
        parent.add_span(0, 4 * MIB).unwrap();
        let config = ArenaConfig {
            import_quantum: 1 << 16,
            ..ArenaConfig::new(8, None)
        };
        let child = Arena::with_source("child", config, parent).unwrap();
        let qc = QcacheConfig {
            qcache_max: 64,
            cpus: 1,
            rounds: 2,
            depot: 1,
        };
        let mut c = CachedArena::new(child, qc).unwrap();
        let a = c.alloc(64, 0).unwrap();
        assert_eq!(c.arena().stats().imports, 1);
        c.free(a, 64, 0).unwrap();
        c.reclaim();
        assert_eq!(c.arena().stats().releases, 1);
        assert_eq!(c.arena().source().stats().in_use, 0);
        c.check_invariants().unwrap();
    }

    #[cfg(feature = "seeded-bugs")]
    #[test]
    fn seeded_qcache_zero_sentinel_leaks_address_zero() {
        let mut c = cached(0, MIB, 1, 4);
        c.set_bugs(BugSet::only(Bug::QcacheZeroSentinel));
        // The arena has room, yet the allocation "fails", and the item stays out (leaked).
        assert_eq!(c.alloc(8, 0), Err(QcacheAllocError::NoSpace));
        assert_eq!(c.zone_stats(1).unwrap().live, 1);
        c.reclaim();
        assert!(
            c.arena().stats().in_use > 0,
            "the slab with the lost item stays"
        );
    }
}
