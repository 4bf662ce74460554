//! The allocated-segment index: start address -> boundary tag, so that `free` finds its
//! segment in O(1) expected time and can tell a bad free from a wrong size.
//!
//! Open addressing with linear probing and backward-shift deletion (no tombstones), in a
//! power-of-two table kept between `1 / MIN_LOAD` and `1 / MAX_LOAD` full ([`MIN_SLOTS`] at least).
//!
//! A slot is 8 bytes: the tag (a `u32` slab index) and the high 32 bits of the key's hash. The
//! key itself is not stored: the tag records its segment's start, so a look-up compares hashes
//! and then checks the one tag whose hash matches against the key (`free` reads that tag next
//! anyway). Twice as many slots fit in a cache line as with `(u64, u32)` pairs, and removal and
//! resizing find an entry's home slot from the stored hash without touching the tags.
//!
//! The hash is a fixed multiplicative hash of `start >> quantum_shift` (every start is a
//! multiple of the quantum, so the low bits carry nothing): no random seed, so the layout, and
//! therefore the arena's behaviour, is the same on every run and every engine. The home slot
//! is the top `log2(slots)` bits of the 32 stored ones, so the table stops growing at
//! [`MAX_SLOTS`] = 2^32 slots (past 2^31 live allocations it is fuller than `1 / MAX_LOAD`, but
//! never full: there are fewer tags than slots).

use alloc::vec;
use alloc::vec::Vec;

/// Smallest table size (slots).
pub const MIN_SLOTS: usize = 16;

/// Largest table size (slots): a home slot is taken from the 32 stored hash bits.
pub const MAX_SLOTS: u64 = 1 << 32;

/// The table grows (doubles) before an insertion would make it fuller than `1 / MAX_LOAD`.
/// Keeping it at most 1/4 full cut a pair's time at 10^3 live allocations but added 15-25% at
/// 10^6 (a table twice as large: more cache and TLB misses), so the bound is 1/2.
pub const MAX_LOAD: usize = 2;

/// The table shrinks (halves) once it is emptier than `1 / MIN_LOAD` (4x hysteresis, so an
/// alternating insert and remove never resizes twice in a row).
pub const MIN_LOAD: usize = 8;

/// Marks an empty slot (no tag has this index).
const EMPTY: u32 = u32::MAX;

/// Fibonacci hashing multiplier: 2^64 / golden ratio, odd.
const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// One slot: a tag and the high half of its key's hash.
#[derive(Clone, Copy, Debug)]
struct Slot {
    hash: u32,
    tag: u32,
}

const VACANT: Slot = Slot {
    hash: 0,
    tag: EMPTY,
};

/// A map from allocation start to boundary tag; see the module comment. Methods that must
/// compare keys take `start_of`, which gives the start address a tag records.
#[derive(Clone, Debug)]
pub struct AllocIndex {
    slots: Vec<Slot>,
    /// Number of occupied slots.
    len: usize,
    /// `32 - log2(slots.len())`: a hash shifted right by this is its home slot.
    home_shift: u32,
    /// The table doubles before `len` exceeds this.
    grow_at: usize,
    /// The table halves once `len` is below this (0 at [`MIN_SLOTS`]).
    shrink_below: usize,
    /// log2(quantum): low bits of every key that are always zero.
    quantum_shift: u32,
}

impl AllocIndex {
    /// An empty index for keys that are multiples of `2^quantum_shift`.
    pub fn new(quantum_shift: u32) -> AllocIndex {
        let mut idx = AllocIndex {
            slots: Vec::new(),
            len: 0,
            home_shift: 0,
            grow_at: 0,
            shrink_below: 0,
            quantum_shift,
        };
        idx.resize(MIN_SLOTS);
        idx
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` iff there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn hash(&self, key: u64) -> u32 {
        ((key >> self.quantum_shift).wrapping_mul(MULTIPLIER) >> 32) as u32
    }

    #[inline]
    fn home(&self, hash: u32) -> usize {
        (hash >> self.home_shift) as usize
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The slot holding `key`, if any. A slot number is valid until the next insertion or
    /// removal; [`AllocIndex::slot_tag`] and [`AllocIndex::remove_slot`] take it, so that a
    /// look-up followed by a removal (as `free` does) probes the table once.
    #[inline]
    pub fn find(&self, key: u64, start_of: impl Fn(u32) -> u64) -> Option<usize> {
        let mask = self.mask();
        let h = self.hash(key);
        let mut i = self.home(h);
        loop {
            let s = self.slots[i];
            if s.tag == EMPTY {
                return None;
            }
            if s.hash == h && start_of(s.tag) == key {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// The tag in occupied slot `slot` (from [`AllocIndex::find`]).
    pub fn slot_tag(&self, slot: usize) -> u32 {
        self.slots[slot].tag
    }

    /// The tag of the allocation starting at `key`.
    pub fn get(&self, key: u64, start_of: impl Fn(u32) -> u64) -> Option<u32> {
        self.find(key, start_of).map(|i| self.slots[i].tag)
    }

    /// Inserts `key -> tag`; `key` must not be in the index (the caller knows: it has just
    /// carved a new allocation starting there).
    #[inline]
    pub fn insert(&mut self, key: u64, tag: u32) {
        debug_assert!(tag != EMPTY);
        if self.len >= self.grow_at {
            self.resize(self.slots.len() * 2);
        }
        let h = self.hash(key);
        self.place(Slot { hash: h, tag });
        self.len += 1;
    }

    /// Puts `s` in the first empty slot of its probe run.
    #[inline]
    fn place(&mut self, s: Slot) {
        let mask = self.mask();
        let mut i = self.home(s.hash);
        while self.slots[i].tag != EMPTY {
            i = (i + 1) & mask;
        }
        self.slots[i] = s;
    }

    /// Removes `key`, returning its tag.
    pub fn remove(&mut self, key: u64, start_of: impl Fn(u32) -> u64) -> Option<u32> {
        let i = self.find(key, start_of)?;
        Some(self.remove_slot(i))
    }

    /// Empties occupied slot `i` (from [`AllocIndex::find`]), returning its tag.
    #[inline]
    pub fn remove_slot(&mut self, i: usize) -> u32 {
        let mask = self.mask();
        debug_assert!(self.slots[i].tag != EMPTY, "remove_slot on an empty slot");
        let removed = self.slots[i].tag;
        // Backward shift: pull later entries of the probe run into the hole when their home
        // slot is not cyclically inside (hole, their position].
        let mut hole = i;
        let mut j = (i + 1) & mask;
        loop {
            let s = self.slots[j];
            if s.tag == EMPTY {
                break;
            }
            let dist_home = j.wrapping_sub(self.home(s.hash)) & mask;
            let dist_hole = j.wrapping_sub(hole) & mask;
            if dist_home >= dist_hole {
                self.slots[hole] = s;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.slots[hole] = VACANT;
        self.len -= 1;
        if self.len < self.shrink_below {
            self.resize(self.slots.len() / 2);
        }
        removed
    }

    /// Rebuilds the table with `slots` slots (a power of two, [`MIN_SLOTS`] to
    /// [`MAX_SLOTS`]) and sets the thresholds for the next resize.
    fn resize(&mut self, slots: usize) {
        let old = core::mem::replace(&mut self.slots, vec![VACANT; slots]);
        self.home_shift = 32 - slots.trailing_zeros();
        self.grow_at = if slots as u64 >= MAX_SLOTS {
            usize::MAX
        } else {
            slots / MAX_LOAD
        };
        self.shrink_below = if slots > MIN_SLOTS {
            slots / MIN_LOAD
        } else {
            0
        };
        for s in old {
            if s.tag != EMPTY {
                self.place(s);
            }
        }
    }

    /// Every tag in the index, in table order (deterministic, but not sorted).
    pub fn tags(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.iter().map(|s| s.tag).filter(|&t| t != EMPTY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;

    /// Tags are their own keys' quantum numbers here: tag `k` stands for start `k << 4`.
    fn start_of(t: u32) -> u64 {
        u64::from(t) << 4
    }

    #[test]
    fn agrees_with_a_btreemap() {
        let mut idx = AllocIndex::new(4);
        let mut model = BTreeMap::new();
        let mut x: u64 = 0x1234_5678;
        for _ in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let t = (x % 512) as u32;
            let key = start_of(t);
            if x & 3 == 0 || model.contains_key(&key) {
                assert_eq!(idx.remove(key, start_of), model.remove(&key));
            } else {
                idx.insert(key, t);
                model.insert(key, t);
            }
            assert_eq!(idx.len(), model.len());
        }
        for (k, v) in &model {
            assert_eq!(idx.get(*k, start_of), Some(*v));
        }
        for t in 0..512u32 {
            assert_eq!(
                idx.get(start_of(t), start_of).is_some(),
                model.contains_key(&start_of(t))
            );
        }
        let mut all: Vec<_> = idx.tags().collect();
        all.sort();
        assert_eq!(all, model.into_values().collect::<Vec<_>>());
    }

    #[test]
    fn a_matching_hash_is_confirmed_against_the_tag() {
        let mut idx = AllocIndex::new(0);
        for t in 0..8u32 {
            idx.insert(u64::from(t), t);
        }
        assert_eq!(idx.get(5, u64::from), Some(5));
        // Same key, same hash, but the tag records another start: not a match.
        assert_eq!(idx.get(5, |t| u64::from(t) + 100), None);
        assert_eq!(idx.get(99, u64::from), None);
    }
}
