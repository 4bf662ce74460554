//! The allocated-segment index: start address -> boundary tag, so that `free` finds its
//! segment in O(1) expected time and can tell a bad free from a wrong size.
//!
//! Open addressing with linear probing and backward-shift deletion (no tombstones), in a
//! power-of-two table kept between `1 / MIN_LOAD` and `1 / MAX_LOAD` full ([`MIN_SLOTS`] at least).
//! Every removal walks the probe run after its slot to shift entries back; at up to 1/2 full that
//! walk is a third of `Arena::free`'s instructions at 10^3 live allocations (callgrind on
//! `benches/vmem.rs`). Keeping the table at most 1/4 full cut a pair's time by a fifth at 10^3 but
//! added 15-25% at 10^6 (a table twice as large: more cache and TLB misses), so the bound stays
//! 1/2. The hash is a fixed multiplicative hash of `start >> quantum_shift` (every start is a
//! multiple of the quantum, so the low bits carry nothing): no random seed, so the layout, and
//! therefore the arena's behaviour, is the same on every run and every engine.

use alloc::vec;
use alloc::vec::Vec;

/// Smallest table size (slots).
pub const MIN_SLOTS: usize = 16;

/// The table grows (doubles) before an insertion would make it fuller than `1 / MAX_LOAD`
/// (see the module comment for why 2).
pub const MAX_LOAD: usize = 2;

/// The table shrinks (halves) once it is emptier than `1 / MIN_LOAD` (4x hysteresis, so an
/// alternating insert and remove never resizes twice in a row).
pub const MIN_LOAD: usize = 8;

/// Marks an empty slot (no tag has this index).
const EMPTY: u32 = u32::MAX;

/// Fibonacci hashing multiplier: 2^64 / golden ratio, odd.
const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// A map from allocation start to boundary tag; see the module comment.
#[derive(Clone, Debug)]
pub struct AllocIndex {
    /// `(start, tag)`; `tag == EMPTY` for an empty slot.
    slots: Vec<(u64, u32)>,
    /// Number of occupied slots.
    len: usize,
    /// log2(slots.len()).
    bits: u32,
    /// log2(quantum): low bits of every key that are always zero.
    quantum_shift: u32,
}

impl AllocIndex {
    /// An empty index for keys that are multiples of `2^quantum_shift`.
    pub fn new(quantum_shift: u32) -> AllocIndex {
        AllocIndex {
            slots: vec![(0, EMPTY); MIN_SLOTS],
            len: 0,
            bits: MIN_SLOTS.trailing_zeros(),
            quantum_shift,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` iff there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn home(&self, key: u64) -> usize {
        ((key >> self.quantum_shift).wrapping_mul(MULTIPLIER) >> (64 - self.bits)) as usize
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The slot holding `key`, if any. A slot number is valid until the next insertion or
    /// removal; [`AllocIndex::slot_tag`] and [`AllocIndex::remove_slot`] take it, so that a
    /// look-up followed by a removal (as `free` does) probes the table once.
    pub fn find(&self, key: u64) -> Option<usize> {
        let mask = self.mask();
        let mut i = self.home(key);
        loop {
            let (k, v) = self.slots[i];
            if v == EMPTY {
                return None;
            }
            if k == key {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// The tag in occupied slot `slot` (from [`AllocIndex::find`]).
    pub fn slot_tag(&self, slot: usize) -> u32 {
        self.slots[slot].1
    }

    /// The tag of the allocation starting at `key`.
    pub fn get(&self, key: u64) -> Option<u32> {
        self.find(key).map(|i| self.slots[i].1)
    }

    /// Inserts or replaces `key -> tag`.
    pub fn insert(&mut self, key: u64, tag: u32) {
        debug_assert!(tag != EMPTY);
        if (self.len + 1) * MAX_LOAD > self.slots.len() {
            self.resize(self.slots.len() * 2);
        }
        let mask = self.mask();
        let mut i = self.home(key);
        loop {
            let (k, v) = self.slots[i];
            if v == EMPTY {
                self.slots[i] = (key, tag);
                self.len += 1;
                return;
            }
            if k == key {
                self.slots[i].1 = tag;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// Removes `key`, returning its tag.
    pub fn remove(&mut self, key: u64) -> Option<u32> {
        let i = self.find(key)?;
        Some(self.remove_slot(i))
    }

    /// Empties occupied slot `i` (from [`AllocIndex::find`]), returning its tag.
    pub fn remove_slot(&mut self, i: usize) -> u32 {
        let mask = self.mask();
        debug_assert!(self.slots[i].1 != EMPTY, "remove_slot on an empty slot");
        let removed = self.slots[i].1;
        // Backward shift: pull later entries of the probe run into the hole when their home
        // slot is not cyclically inside (hole, their position].
        let mut hole = i;
        let mut j = (i + 1) & mask;
        loop {
            let (k, v) = self.slots[j];
            if v == EMPTY {
                break;
            }
            let h = self.home(k);
            let dist_home = j.wrapping_sub(h) & mask;
            let dist_hole = j.wrapping_sub(hole) & mask;
            if dist_home >= dist_hole {
                self.slots[hole] = (k, v);
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.slots[hole] = (0, EMPTY);
        self.len -= 1;
        if self.slots.len() > MIN_SLOTS && self.len * MIN_LOAD < self.slots.len() {
            self.resize(self.slots.len() / 2);
        }
        removed
    }

    fn resize(&mut self, slots: usize) {
        let old = core::mem::replace(&mut self.slots, vec![(0, EMPTY); slots]);
        self.bits = slots.trailing_zeros();
        self.len = 0;
        for (k, v) in old {
            if v != EMPTY {
                self.insert(k, v);
            }
        }
    }

    /// Every `(start, tag)`, in table order (deterministic, but not sorted).
    pub fn iter(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.slots.iter().copied().filter(|&(_, v)| v != EMPTY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;

    #[test]
    fn agrees_with_a_btreemap() {
        let mut idx = AllocIndex::new(4);
        let mut model = BTreeMap::new();
        let mut x: u64 = 0x1234_5678;
        for i in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = (x % 512) << 4;
            if x & 3 == 0 {
                assert_eq!(idx.remove(key), model.remove(&key));
            } else {
                idx.insert(key, i);
                model.insert(key, i);
            }
            assert_eq!(idx.len(), model.len());
        }
        for (k, v) in &model {
            assert_eq!(idx.get(*k), Some(*v));
        }
        let mut all: Vec<_> = idx.iter().collect();
        all.sort();
        assert_eq!(all, model.into_iter().collect::<Vec<_>>());
    }
}
