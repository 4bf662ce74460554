//! A keg's hash index of slab bases (module comment, section 4): the O(1) look-up truncation
//! makes for any address, beside the ordered `BTreeMap` the ordered walks (views, reclaim)
//! use. Open addressing with linear probing over a power-of-two table kept at most half
//! full, Fibonacci hashing of the base, backward-shift deletion (no tombstones); a look-up
//! reads the first two entries of the run at once (at half full one look-up in six on the
//! kmem benchmark went past the home entry, a branch the CPU mispredicts; a table a quarter
//! full avoids that too, but doubles the index and its cache misses at 10^5 slabs). Fixed
//! hash, no iteration: deterministic.

use alloc::vec;
use alloc::vec::Vec;

/// An entry's slot value meaning "empty".
const EMPTY: u32 = u32::MAX;
/// Entries of a new table (a power of two).
const MIN_ENTRIES: usize = 8;
/// 2^64 / golden ratio, odd: Fibonacci hashing's multiplier.
const HASH_MUL: u64 = 0x9E37_79B9_7F4A_7C15;
/// A table holds at most `entries / LOAD_DIVISOR` keys, so every probe sequence ends at an
/// empty entry.
const LOAD_DIVISOR: usize = 2;

/// Slab base -> slab slot, for the bases of one keg's slabs.
#[derive(Clone, Debug)]
pub(super) struct SlabIndex {
    /// `(base, slot)` per entry; `slot == EMPTY` marks an empty entry. Length a power of two.
    table: Vec<(u64, u32)>,
    /// Keys held.
    len: usize,
    /// `64 - log2(table.len())`: the product's top bits are the home entry.
    shift: u32,
}

impl SlabIndex {
    /// An empty index.
    pub(super) fn new() -> SlabIndex {
        SlabIndex {
            table: vec![(0, EMPTY); MIN_ENTRIES],
            len: 0,
            shift: 64 - MIN_ENTRIES.trailing_zeros(),
        }
    }

    /// Keys held.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The home entry of `base`.
    #[inline(always)]
    fn home(&self, base: u64) -> usize {
        (base.wrapping_mul(HASH_MUL) >> self.shift) as usize
    }

    /// The entry holding `base` and its slot, if any.
    #[inline]
    fn find(&self, base: u64) -> Option<(usize, u32)> {
        let mask = self.table.len() - 1;
        let mut i = self.home(base);
        // At most every entry once (one is always empty: the loop ends earlier).
        let mut left = self.table.len();
        loop {
            let &(b, slot) = self.table.get(i)?;
            if slot == EMPTY {
                return None;
            }
            if b == base {
                return Some((i, slot));
            }
            left -= 1;
            if left == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// The slot of the slab at `base`, if the index holds it: the first two entries of its
    /// probe run inline, chosen between without a branch (at most half the entries are held,
    /// so nearly every key sits in one of them, and the one branch left is nearly always
    /// taken the same way), the rest of the run out of line.
    #[inline(always)]
    pub(super) fn get(&self, base: u64) -> Option<u32> {
        let mask = self.table.len() - 1;
        let home = self.home(base);
        let &(b0, s0) = self.table.get(home)?;
        let &(b1, s1) = self.table.get((home + 1) & mask)?;
        // The second entry is in the run only if the first is held.
        let hit0 = (b0 == base) & (s0 != EMPTY);
        let hit1 = (b1 == base) & (s1 != EMPTY) & (s0 != EMPTY);
        if hit0 | hit1 {
            return Some(if hit0 { s0 } else { s1 });
        }
        if (s0 == EMPTY) | (s1 == EMPTY) {
            return None;
        }
        self.get_probing(base)
    }

    /// [`SlabIndex::get`] past the first two entries of the run (both held, neither `base`).
    #[inline(never)]
    fn get_probing(&self, base: u64) -> Option<u32> {
        let mask = self.table.len() - 1;
        let mut i = (self.home(base) + 1) & mask;
        // The other entries at most once each (one is always empty: the loop ends earlier).
        for _ in 2..self.table.len() {
            i = (i + 1) & mask;
            let &(b, slot) = self.table.get(i)?;
            if slot == EMPTY {
                return None;
            }
            if b == base {
                return Some(slot);
            }
        }
        None
    }

    /// Records `base -> slot` (`base` must not be held; `slot` must not be `u32::MAX`).
    pub(super) fn insert(&mut self, base: u64, slot: u32) {
        if (self.len + 1) * LOAD_DIVISOR > self.table.len() {
            self.grow();
        }
        self.place(base, slot);
    }

    /// Puts `base -> slot` in the first empty entry from its home.
    fn place(&mut self, base: u64, slot: u32) {
        let mask = self.table.len() - 1;
        let mut i = self.home(base);
        for _ in 0..self.table.len() {
            if let Some(e) = self.table.get_mut(i) {
                if e.1 == EMPTY {
                    *e = (base, slot);
                    self.len += 1;
                    return;
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Doubles the table and places every key again.
    fn grow(&mut self) {
        let entries = self.table.len() * 2;
        let old = core::mem::replace(&mut self.table, vec![(0, EMPTY); entries]);
        self.shift = 64 - entries.trailing_zeros();
        self.len = 0;
        for (base, slot) in old {
            if slot != EMPTY {
                self.place(base, slot);
            }
        }
    }

    /// Forgets `base` (nothing if it is not held). The keys after it in its probe run move
    /// back into the hole when their home allows, so no look-up ever passes an empty entry
    /// on its way to its key.
    pub(super) fn remove(&mut self, base: u64) {
        let Some((mut hole, _)) = self.find(base) else {
            return;
        };
        let mask = self.table.len() - 1;
        let mut j = hole;
        for _ in 0..self.table.len() {
            j = (j + 1) & mask;
            let Some(&(b, slot)) = self.table.get(j) else {
                break;
            };
            if slot == EMPTY {
                break;
            }
            // The key at j may fill the hole iff the hole lies on its probe path: from its
            // home to j (cyclically), i.e. it is at least as far from j as the hole is.
            let h = self.home(b);
            if (j.wrapping_sub(h) & mask) >= (j.wrapping_sub(hole) & mask) {
                if let Some(e) = self.table.get_mut(hole) {
                    *e = (b, slot);
                }
                hole = j;
            }
        }
        if let Some(e) = self.table.get_mut(hole) {
            *e = (0, EMPTY);
        }
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;

    /// Random inserts and removes agree with a `BTreeMap` at every step, with keys that
    /// collide on purpose (multiples of a large power of two, and a small range).
    #[test]
    fn agrees_with_a_map() {
        let mut x = 0x1234_5678_9abc_def1u64;
        let mut rng = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..3u64 {
            let mut idx = SlabIndex::new();
            let mut map = BTreeMap::new();
            for step in 0..4000u32 {
                let r = rng();
                let key = match round {
                    0 => (r % 300) << 12,
                    1 => (r % 64) << 40,
                    _ => u64::MAX - (r % 200) * 4096 - 4095,
                };
                if r >> 60 < 9 {
                    if let alloc::collections::btree_map::Entry::Vacant(e) = map.entry(key) {
                        e.insert(step);
                        idx.insert(key, step);
                    }
                } else {
                    map.remove(&key);
                    idx.remove(key);
                }
                assert_eq!(idx.len(), map.len());
                let probe = (rng() % 300) << 12;
                assert_eq!(idx.get(probe), map.get(&probe).copied());
                assert_eq!(idx.get(key), map.get(&key).copied());
            }
            for (&k, &v) in &map {
                assert_eq!(idx.get(k), Some(v));
            }
        }
    }
}
