//! Zones (module comment, section 5): per-CPU `loaded` and `previous` magazines, the depot of
//! full magazines and the pool of empty ones, and the exact magazine moves of Bonwick &
//! Adams (2001).

use alloc::vec::Vec;
use core::mem;

use super::keg::Loc;
use super::types::{ZoneId, MAX_CPUS};

#[cfg(feature = "seeded-bugs")]
use crate::bugs::{Bug, BugSet};

/// One cached item (a packet zone: one pair) in a magazine: its address and location, so a
/// magazine hit finds its state byte without a look-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Round {
    /// The item's (primary's) address.
    pub(super) addr: u64,
    /// Its location in its keg.
    pub(super) loc: Loc,
    /// A packet zone: the secondary's address (else 0).
    pub(super) pair: u64,
    /// A packet zone: the secondary's location in its keg (else unused).
    pub(super) pair_loc: Loc,
}

/// A magazine: a stack of 0 ..= M rounds, allocated once with capacity M and reused.
pub(super) type Magazine = Vec<Round>;

/// One CPU's two magazines.
#[derive(Clone, Debug, Default)]
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
    /// Full magazines, most recent last.
    pub(super) depot: Vec<Magazine>,
    /// Empty magazines kept for reuse (never more than the zone has ever needed).
    pool: Vec<Magazine>,
    /// Items (pairs) handed out and not freed.
    pub(super) live: u64,
    /// Items (pairs) in magazines and the depot.
    pub(super) cached: u64,
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
        for m in mags.iter_mut().take(ncpus) {
            m.loaded.reserve_exact(rounds);
            m.previous.reserve_exact(rounds);
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
            depot: Vec::new(),
            pool: Vec::new(),
            live: 0,
            cached: 0,
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

    /// An empty magazine from the pool, else a new one.
    fn empty_magazine(pool: &mut Vec<Magazine>, rounds: usize) -> Magazine {
        pool.pop().unwrap_or_else(|| Vec::with_capacity(rounds))
    }

    /// Allocation step 1 on `cpu`: the top round of the loaded magazine, if any.
    #[inline(always)]
    pub(super) fn pop_loaded(&mut self, cpu: usize) -> Option<Round> {
        let r = self.cpus.get_mut(cpu)?.loaded.pop()?;
        self.cached -= 1;
        Some(r)
    }

    /// Allocation steps 2 and 3 on `cpu` (its loaded magazine is empty): a round from the
    /// previous magazine or the depot, `None` if the allocation must go to the keg (step 4).
    #[inline(never)]
    pub(super) fn pop_exchange(
        &mut self,
        cpu: usize,
        #[cfg(feature = "seeded-bugs")] bugs: BugSet,
    ) -> Option<Round> {
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
        let m = self.cpus.get_mut(cpu)?;
        let r = m.loaded.pop()?;
        self.cached -= 1;
        Some(r)
    }

    /// SEEDED BUG MagazineExchangeShares: alloc step 3 copies the depot's most recent full
    /// magazine into a magazine for `loaded` but leaves it on the depot, so a later exchange
    /// (by this CPU or another) hands out the same items again.
    #[cfg(feature = "seeded-bugs")]
    fn depot_copy(&mut self) -> Option<Magazine> {
        let top = self.depot.last()?;
        let mut copy = Zone::empty_magazine(&mut self.pool, self.rounds);
        copy.extend_from_slice(top);
        // The copy is counted as cached again, as the items now sit in two magazines.
        self.cached += copy.len() as u64;
        Some(copy)
    }

    /// Free step 1 on `cpu`: whether the round went onto the loaded magazine (else steps 2
    /// to 4, [`Zone::push_exchange`]).
    #[inline(always)]
    pub(super) fn push_loaded(&mut self, cpu: usize, r: Round) -> bool {
        let rounds = self.rounds;
        match self.cpus.get_mut(cpu) {
            // rounds == 0: no magazine has room.
            Some(m) if m.loaded.len() < rounds => {
                m.loaded.push(r);
                self.cached += 1;
                true
            }
            _ => false,
        }
    }

    /// Free steps 2 and 3 on `cpu` (its loaded magazine is full, or there are no
    /// magazines): `Ok` if the round went into a magazine, else `Err` with the round, which
    /// must go back to the keg (step 4).
    #[inline(never)]
    pub(super) fn push_exchange(&mut self, cpu: usize, r: Round) -> Result<(), Round> {
        let rounds = self.rounds;
        let Some(m) = self.cpus.get_mut(cpu) else {
            return Err(r);
        };
        if rounds == 0 {
            return Err(r);
        }
        // 2. The previous magazine is empty: exchange.
        if m.previous.is_empty() {
            mem::swap(&mut m.loaded, &mut m.previous);
        } else if self.depot.len() < self.depot_max {
            // 3. The full previous goes to the depot, the full loaded becomes previous, a
            //    new empty magazine is loaded.
            let empty = Zone::empty_magazine(&mut self.pool, rounds);
            let full_loaded = mem::replace(&mut m.loaded, empty);
            let full_previous = mem::replace(&mut m.previous, full_loaded);
            self.depot.push(full_previous);
        } else {
            // 4. Back to the keg.
            return Err(r);
        }
        m.loaded.push(r);
        self.cached += 1;
        Ok(())
    }

    /// The magazines of the system's CPUs, by CPU.
    pub(super) fn cpu_mags(&self) -> &[CpuMags] {
        self.cpus.get(..self.ncpus).unwrap_or(&[])
    }

    /// Takes every round out of the magazines and the depot, in reclaim order: for each CPU
    /// its loaded then its previous magazine, each from the top down, then each depot
    /// magazine, most recent first, from the top down. Depot magazines go to the pool.
    pub(super) fn drain(&mut self, out: &mut Vec<Round>) {
        for m in self.cpus.iter_mut().take(self.ncpus) {
            out.extend(m.loaded.drain(..).rev());
            out.extend(m.previous.drain(..).rev());
        }
        while let Some(mut mag) = self.depot.pop() {
            out.extend(mag.drain(..).rev());
            self.pool.push(mag);
        }
        self.cached = 0;
    }

    /// Every round in the magazines and the depot.
    pub(super) fn rounds_iter(&self) -> impl Iterator<Item = &Round> {
        self.cpu_mags()
            .iter()
            .flat_map(|m| m.loaded.iter().chain(m.previous.iter()))
            .chain(self.depot.iter().flatten())
    }
}
