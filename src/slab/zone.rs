//! Zones (module comment, section 5): per-CPU `loaded` and `previous` magazines, the depot of
//! full magazines and the pool of empty ones, and the exact magazine moves of Bonwick &
//! Adams (2001).

use alloc::vec::Vec;
use core::mem;

use super::keg::NO_AT;
use super::types::{ZoneId, MAX_CPUS};

#[cfg(feature = "seeded-bugs")]
use crate::bugs::{Bug, BugSet};

/// One cached item in a magazine (a packet zone: its primary, or in the zone's pair store
/// its secondary): its address and item reference in its keg, so a magazine hit finds its
/// state byte without a look-up. 16 bytes: a push is one store of two words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Round {
    /// The item's address.
    pub(super) addr: u64,
    /// Its item reference in its keg (`Keg::at`).
    pub(super) at: usize,
}

/// A round slot that holds no round (and a plain zone's "secondary").
pub(super) const NO_ROUND: Round = Round { addr: 0, at: NO_AT };

/// One cached item or pair as the slow paths move it: the round and, in a packet zone, the
/// secondary's round (else [`NO_ROUND`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    /// The item (a packet zone: the primary).
    pub(super) item: Round,
    /// A packet zone: the secondary.
    pub(super) pair: Round,
}

/// `MAX_CPUS - 1`: a CPU below [`MAX_CPUS`] (a power of two) masked with it is itself.
const CPU_MASK: usize = MAX_CPUS as usize - 1;
const _: () = assert!(MAX_CPUS.is_power_of_two());

/// A magazine: a stack of 0 ..= M rounds at `store[first .. first + len]` in its zone's
/// store, which has room for M there (a fixed array, made once and reused: a push never
/// allocates, an exchange moves two words).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Magazine {
    /// Index of its first round slot in the store.
    first: usize,
    /// Rounds it holds.
    len: usize,
}

impl Magazine {
    /// Rounds it holds.
    pub(super) fn len(&self) -> usize {
        self.len
    }
}

/// One CPU's two magazines.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct CpuMags {
    /// Allocations pop from it, frees push onto it.
    pub(super) loaded: Magazine,
    /// The magazine exchanged with `loaded` when that one is empty (alloc) or full (free).
    pub(super) previous: Magazine,
}

/// A zone: the front end of one keg (a packet zone: of two).
#[derive(Clone, Debug)]
pub(super) struct Zone {
    /// Its id.
    pub(super) id: ZoneId,
    /// The keg its items (a packet zone: its primaries) come from.
    pub(super) keg: u8,
    /// A packet zone: the keg its secondaries come from.
    pub(super) secondary: Option<u8>,
    /// Magazine capacity M.
    pub(super) rounds: usize,
    /// Full magazines the depot may hold.
    pub(super) depot_max: usize,
    /// Live item limit (0 = unlimited).
    pub(super) limit: u64,
    /// The live count allocation refuses at: the limit, or `u64::MAX` for 0 (unlimited; the
    /// live count never gets there).
    pub(super) cap: u64,
    /// Per-CPU magazines, inline (one pointer less on a hit); CPUs past the system's count
    /// keep two empty magazines that are never used.
    cpus: [CpuMags; MAX_CPUS as usize],
    /// The system's CPU count: `cpus[..ncpus]` are in use.
    ncpus: usize,
    /// The round slots of every magazine of the zone, M per magazine.
    store: Vec<Round>,
    /// A packet zone: the secondary of the round in the same slot of `store` (else empty).
    pair_store: Vec<Round>,
    /// Full magazines, most recent last.
    pub(super) depot: Vec<Magazine>,
    /// Empty magazines kept for reuse (never more than the zone has ever needed).
    pool: Vec<Magazine>,
    /// Items (pairs) handed out and not freed.
    pub(super) live: u64,
    /// Successful allocations.
    pub(super) allocs: u64,
    /// Successful frees.
    pub(super) frees: u64,
}

impl Zone {
    /// A zone with `cpus` CPUs whose magazines start empty.
    pub(super) fn new(
        id: ZoneId,
        keg: u8,
        secondary: Option<u8>,
        rounds: u16,
        depot: u16,
        limit: u64,
        cpus: u8,
    ) -> Zone {
        let rounds = usize::from(rounds);
        let ncpus = usize::from(cpus).min(usize::from(MAX_CPUS));
        let mut mags: [CpuMags; MAX_CPUS as usize] = Default::default();
        let mut store = Vec::new();
        let mut pair_store = Vec::new();
        let pairs = secondary.is_some();
        for m in mags.iter_mut().take(ncpus) {
            m.loaded = Zone::new_magazine(&mut store, &mut pair_store, pairs, rounds);
            m.previous = Zone::new_magazine(&mut store, &mut pair_store, pairs, rounds);
        }
        Zone {
            id,
            keg,
            secondary,
            rounds,
            depot_max: usize::from(depot),
            limit,
            cap: Zone::cap_of(limit),
            cpus: mags,
            ncpus,
            store,
            pair_store,
            depot: Vec::new(),
            pool: Vec::new(),
            live: 0,
            allocs: 0,
            frees: 0,
        }
    }

    /// The live count a limit of `limit` refuses allocations at.
    pub(super) fn cap_of(limit: u64) -> u64 {
        if limit == 0 {
            u64::MAX
        } else {
            limit
        }
    }

    /// A new empty magazine: `rounds` more slots at the end of `store` (and of `pair_store`
    /// in a packet zone).
    fn new_magazine(
        store: &mut Vec<Round>,
        pair_store: &mut Vec<Round>,
        pairs: bool,
        rounds: usize,
    ) -> Magazine {
        let first = store.len();
        store.resize(first + rounds, NO_ROUND);
        if pairs {
            pair_store.resize(first + rounds, NO_ROUND);
        }
        Magazine { first, len: 0 }
    }

    /// An empty magazine from the pool, else a new one.
    fn empty_magazine(&mut self) -> Magazine {
        match self.pool.pop() {
            Some(m) => m,
            None => Zone::new_magazine(
                &mut self.store,
                &mut self.pair_store,
                self.secondary.is_some(),
                self.rounds,
            ),
        }
    }

    /// The slot range of magazine `m`'s rounds, bottom first.
    fn range_of(m: &Magazine) -> core::ops::Range<usize> {
        m.first..m.first.saturating_add(m.len)
    }

    /// The entries of magazine `m`, bottom first.
    pub(super) fn entries_of(&self, m: Magazine) -> impl DoubleEndedIterator<Item = Entry> + '_ {
        let items = self.store.get(Zone::range_of(&m)).unwrap_or(&[]);
        items.iter().enumerate().map(move |(i, &item)| Entry {
            item,
            pair: self.pair_of(m.first + i),
        })
    }

    /// The secondary of the round in slot `slot` ([`NO_ROUND`] in a plain zone).
    #[inline(always)]
    pub(super) fn pair_of(&self, slot: usize) -> Round {
        self.pair_store.get(slot).copied().unwrap_or(NO_ROUND)
    }

    /// Allocation step 1 on `cpu`: the top round of the loaded magazine and its slot (for
    /// [`Zone::pair_of`]), if any.
    #[inline(always)]
    pub(super) fn pop_loaded(&mut self, cpu: usize) -> Option<(usize, Round)> {
        // cpu < the system's CPU count <= MAX_CPUS (checked by the caller): the mask keeps
        // it, and lets the compiler drop the bounds check.
        let m = &mut self.cpus.get_mut(cpu & CPU_MASK)?.loaded;
        let len = m.len.checked_sub(1)?;
        let slot = m.first + len;
        let r = *self.store.get(slot)?;
        m.len = len;
        Some((slot, r))
    }

    /// Allocation steps 2 and 3 on `cpu` (its loaded magazine is empty): a round from the
    /// previous magazine or the depot, `None` if the allocation must go to the keg (step 4).
    #[inline(never)]
    pub(super) fn pop_exchange(
        &mut self,
        cpu: usize,
        #[cfg(feature = "seeded-bugs")] bugs: BugSet,
    ) -> Option<(usize, Round)> {
        let m = self.cpus.get_mut(cpu)?;
        if self.rounds == 0 {
            return None;
        }
        // 2. The previous magazine is full: exchange.
        if m.previous.len() == self.rounds {
            mem::swap(&mut m.loaded, &mut m.previous);
        } else {
            // 3. A full magazine from the depot becomes loaded; the old loaded (empty)
            //    becomes previous; the old previous (empty) goes to the pool.
            #[cfg(feature = "seeded-bugs")]
            let full = if bugs.contains(Bug::MagazineExchangeShares) {
                self.depot_copy()
            } else {
                self.depot.pop()
            };
            #[cfg(not(feature = "seeded-bugs"))]
            let full = self.depot.pop();
            let full = full?;
            let m = self.cpus.get_mut(cpu)?;
            let old_loaded = mem::replace(&mut m.loaded, full);
            let old_previous = mem::replace(&mut m.previous, old_loaded);
            self.pool.push(old_previous);
        }
        self.pop_loaded(cpu)
    }

    /// SEEDED BUG MagazineExchangeShares: alloc step 3 copies the depot's most recent full
    /// magazine into a magazine for `loaded` but leaves it on the depot, so a later exchange
    /// (by this CPU or another) hands out the same items again.
    #[cfg(feature = "seeded-bugs")]
    fn depot_copy(&mut self) -> Option<Magazine> {
        let top = *self.depot.last()?;
        let mut copy = self.empty_magazine();
        let end = top.first.checked_add(top.len)?;
        if end <= self.store.len() && copy.first + top.len <= self.store.len() {
            self.store.copy_within(top.first..end, copy.first);
            if end <= self.pair_store.len() && copy.first + top.len <= self.pair_store.len() {
                self.pair_store.copy_within(top.first..end, copy.first);
            }
            copy.len = top.len;
        }
        // The items now sit in two magazines, and count as cached twice.
        Some(copy)
    }

    /// Free step 1 on `cpu` of a plain zone's item: whether the round went onto the loaded
    /// magazine (else steps 2 to 4, [`Zone::push_exchange`]).
    #[inline(always)]
    pub(super) fn push_loaded(&mut self, cpu: usize, r: Round) -> bool {
        self.push_slot(cpu, r).is_some()
    }

    /// Free step 1 on `cpu` of an entry (a packet zone's pair: its secondary into the pair
    /// store): whether it went onto the loaded magazine.
    pub(super) fn push_entry(&mut self, cpu: usize, e: Entry) -> bool {
        let Some(slot) = self.push_slot(cpu, e.item) else {
            return false;
        };
        if let Some(p) = self.pair_store.get_mut(slot) {
            *p = e.pair;
        }
        true
    }

    /// Pushes `r` on `cpu`'s loaded magazine if it has room: the slot it took.
    #[inline(always)]
    fn push_slot(&mut self, cpu: usize, r: Round) -> Option<usize> {
        let rounds = self.rounds;
        // As in pop_loaded: the mask keeps a checked CPU and drops the bounds check.
        let m = &mut self.cpus.get_mut(cpu & CPU_MASK)?.loaded;
        // rounds == 0: no magazine has room.
        if m.len >= rounds {
            return None;
        }
        let slot = m.first + m.len;
        *self.store.get_mut(slot)? = r;
        m.len += 1;
        Some(slot)
    }

    /// Free steps 2 and 3 on `cpu` (its loaded magazine is full, or there are no
    /// magazines): `Ok` if the round went into a magazine, else `Err` with the round, which
    /// must go back to the keg (step 4).
    #[inline(never)]
    pub(super) fn push_exchange(&mut self, cpu: usize, r: Entry) -> Result<(), Entry> {
        let rounds = self.rounds;
        let Some(m) = self.cpus.get_mut(cpu) else {
            return Err(r);
        };
        if rounds == 0 {
            return Err(r);
        }
        // 2. The previous magazine is empty: exchange.
        if m.previous.len == 0 {
            mem::swap(&mut m.loaded, &mut m.previous);
        } else if self.depot.len() < self.depot_max {
            // 3. The full previous goes to the depot, the full loaded becomes previous, a
            //    new empty magazine is loaded.
            let empty = self.empty_magazine();
            let Some(m) = self.cpus.get_mut(cpu) else {
                return Err(r);
            };
            let full_loaded = mem::replace(&mut m.loaded, empty);
            let full_previous = mem::replace(&mut m.previous, full_loaded);
            self.depot.push(full_previous);
        } else {
            // 4. Back to the keg.
            return Err(r);
        }
        if self.push_entry(cpu, r) {
            Ok(())
        } else {
            Err(r)
        }
    }

    /// Items (pairs) in the magazines and the depot, counted from their lengths (no counter
    /// on the hit paths).
    pub(super) fn cached(&self) -> u64 {
        let mags: usize = self
            .cpu_mags()
            .iter()
            .map(|m| m.loaded.len + m.previous.len)
            .sum();
        let depot: usize = self.depot.iter().map(|m| m.len).sum();
        (mags + depot) as u64
    }

    /// The magazines of the system's CPUs, by CPU.
    pub(super) fn cpu_mags(&self) -> &[CpuMags] {
        self.cpus.get(..self.ncpus).unwrap_or(&[])
    }

    /// Takes every round out of the magazines and the depot, in reclaim order: for each CPU
    /// its loaded then its previous magazine, each from the top down, then each depot
    /// magazine, most recent first, from the top down. Depot magazines go to the pool.
    pub(super) fn drain(&mut self, out: &mut Vec<Entry>) {
        for c in 0..self.ncpus {
            let Some(&m) = self.cpus.get(c) else {
                continue;
            };
            out.extend(self.entries_of(m.loaded).rev());
            out.extend(self.entries_of(m.previous).rev());
            if let Some(m) = self.cpus.get_mut(c) {
                m.loaded.len = 0;
                m.previous.len = 0;
            }
        }
        while let Some(mut mag) = self.depot.pop() {
            out.extend(self.entries_of(mag).rev());
            mag.len = 0;
            self.pool.push(mag);
        }
    }

    /// Every entry in the magazines and the depot.
    pub(super) fn entries_iter(&self) -> impl Iterator<Item = Entry> + '_ {
        self.cpu_mags()
            .iter()
            .flat_map(|m| self.entries_of(m.loaded).chain(self.entries_of(m.previous)))
            .chain(self.depot.iter().flat_map(|&m| self.entries_of(m)))
    }
}
