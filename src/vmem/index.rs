//! The allocated-segment index: start address -> boundary tag, so that `free` finds its
//! segment in O(1) expected time and can tell a bad free from a wrong size.
//!
//! Chained hashing through the tags themselves: a power-of-two table of bucket heads (one
//! `u32` tag each, [`NIL`] for an empty bucket), and each allocated tag's `list_next` links
//! the next tag of its bucket. An allocated segment is on no free list, so that field is
//! otherwise unused; the index costs 4 bytes a bucket and nothing per entry. A look-up reads
//! the bucket, then the tags of its chain until one starts at the key (`free` reads that tag
//! next anyway, so a chain of one costs nothing beyond the bucket). Removal unlinks the tag
//! from its chain through the link found by the look-up; insertion pushes at the chain's head
//! and touches only the bucket and the new tag. A resize rebuilds the chains either by
//! following the old ones or, when the slab is not much larger than the index, from a walk of
//! the slab in slot order (the index holds exactly the allocated tags), which reads the tags
//! sequentially rather than in the scattered order of the chains.
//!
//! The table is kept between `1 / MIN_LOAD` and `1 / MAX_LOAD` full ([`MIN_BUCKETS`] at least),
//! so a successful look-up reads `1 + load / 2` tags on average. The hash is a fixed
//! multiplicative hash of `start >> quantum_shift` (every start is a multiple of the quantum,
//! so the low bits carry nothing), its top `log2(buckets)` bits the bucket: no random seed,
//! so the layout, and therefore the arena's behaviour, is the same on every run and every
//! engine. The table stops growing at [`MAX_BUCKETS`] = 2^32 buckets (chains then grow past
//! `MAX_LOAD`; there are never more tags than that).

use alloc::collections::TryReserveError;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::{BoundaryTag, Kind, Tag, NIL};

/// Smallest table size (buckets).
pub const MIN_BUCKETS: usize = 16;

/// Largest table size (buckets).
pub const MAX_BUCKETS: u64 = 1 << 32;

/// The table doubles before an insertion would put more than `buckets * MAX_LOAD` entries in it.
pub const MAX_LOAD: usize = 1;

/// The table halves once it holds fewer than `buckets / MIN_LOAD` entries (4x hysteresis
/// below the growth bound, so alternating insertions and removals never resize twice in a row).
pub const MIN_LOAD: usize = 4;

/// Fibonacci hashing multiplier: 2^64 / golden ratio, odd.
const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// Where a look-up found its key: the tag, and the link that points at it (the bucket head if
/// `pred` is NIL, else `pred`'s `list_next`). Valid until the index next changes.
#[derive(Clone, Copy, Debug)]
pub(super) struct Found {
    pub tag: Tag,
    pred: Tag,
    bucket: usize,
}

/// A map from allocation start to allocated boundary tag; see the module comment. Methods take
/// the arena's tag slab, where the chains live.
#[derive(Clone, Debug)]
pub(super) struct AllocIndex {
    heads: Vec<Tag>,
    /// Number of entries.
    len: usize,
    /// `64 - log2(heads.len())`: a hash shifted right by this is its bucket.
    shift: u32,
    /// The table doubles before `len` exceeds this.
    grow_at: usize,
    /// The table halves once `len` is below this (0 at [`MIN_BUCKETS`] or at `floor`).
    shrink_below: usize,
    /// The table never halves below this many buckets ([`MIN_BUCKETS`] unless
    /// [`AllocIndex::reserve`] raised it).
    floor: usize,
    /// log2(quantum): low bits of every key that are always zero.
    quantum_shift: u32,
}

impl AllocIndex {
    /// An empty index for keys that are multiples of `2^quantum_shift`.
    pub fn new(quantum_shift: u32) -> AllocIndex {
        let mut idx = AllocIndex {
            heads: Vec::new(),
            len: 0,
            shift: 0,
            grow_at: 0,
            shrink_below: 0,
            floor: MIN_BUCKETS,
            quantum_shift,
        };
        idx.resize(MIN_BUCKETS, &mut [], NIL);
        idx
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Number of buckets.
    #[cfg(test)]
    pub fn buckets(&self) -> usize {
        self.heads.len()
    }

    #[inline]
    fn bucket(&self, key: u64) -> usize {
        ((key >> self.quantum_shift).wrapping_mul(MULTIPLIER) >> self.shift) as usize
    }

    /// The entry for `key`, if any.
    #[inline]
    pub fn find(&self, key: u64, tags: &[BoundaryTag]) -> Option<Found> {
        let bucket = self.bucket(key);
        let mut pred = NIL;
        let mut t = self.heads[bucket];
        while t != NIL {
            let tag = &tags[t as usize];
            if tag.start == key {
                return Some(Found {
                    tag: t,
                    pred,
                    bucket,
                });
            }
            pred = t;
            t = tag.list_next;
        }
        None
    }

    /// The tag of the allocation starting at `key`.
    pub fn get(&self, key: u64, tags: &[BoundaryTag]) -> Option<Tag> {
        self.find(key, tags).map(|f| f.tag)
    }

    /// Inserts `key -> t`; `key` must not be in the index (the caller knows: it has just carved
    /// a new allocation starting there) and `t` must be allocated and start at `key`.
    #[inline]
    pub fn insert(&mut self, key: u64, t: Tag, tags: &mut [BoundaryTag]) {
        if self.len >= self.grow_at {
            self.resize(self.heads.len() * 2, tags, t);
        }
        let bucket = self.bucket(key);
        tags[t as usize].list_next = self.heads[bucket];
        self.heads[bucket] = t;
        self.len += 1;
    }

    /// Makes room for `more` entries beyond those present (at most `cap` in all), so that
    /// inserting them resizes nothing, and keeps the table at least that large from then on
    /// (removals never halve it below the room reserved, as a `Vec` keeps its capacity). Fails,
    /// changing nothing, if the table cannot be allocated.
    #[cold]
    pub fn reserve(
        &mut self,
        more: usize,
        cap: usize,
        tags: &mut [BoundaryTag],
    ) -> Result<(), TryReserveError> {
        let want = self.len.saturating_add(more).min(cap).div_ceil(MAX_LOAD);
        let buckets = want.max(MIN_BUCKETS).next_power_of_two();
        if buckets > self.heads.len() {
            let mut heads = Vec::new();
            heads.try_reserve_exact(buckets)?;
            heads.resize(buckets, NIL);
            self.floor = buckets;
            self.rebuild(heads, tags, NIL);
        }
        self.floor = self.floor.max(buckets);
        Ok(())
    }

    /// Removes the entry `found` (from [`AllocIndex::find`], with no change in between).
    #[inline]
    pub fn remove(&mut self, found: Found, tags: &mut [BoundaryTag]) {
        let next = tags[found.tag as usize].list_next;
        if found.pred == NIL {
            self.heads[found.bucket] = next;
        } else {
            tags[found.pred as usize].list_next = next;
        }
        tags[found.tag as usize].list_next = NIL;
        self.len -= 1;
        if self.len < self.shrink_below {
            self.resize(self.heads.len() / 2, tags, found.tag);
        }
    }

    /// Rebuilds the table with `buckets` buckets (a power of two, [`MIN_BUCKETS`] to
    /// [`MAX_BUCKETS`]) and sets the thresholds for the next resize. The chains are rebuilt
    /// from whichever reads fewer cache lines: the slab in slot order (two tags a line, read
    /// sequentially; every allocated tag but `skip`, the tag being inserted or removed, whose
    /// kind the caller settles around the call, NIL for none) when it holds at most twice as
    /// many tags as the index holds entries, else the old chains (one scattered tag an entry;
    /// `skip` is never in them).
    #[cold]
    fn resize(&mut self, buckets: usize, tags: &mut [BoundaryTag], skip: Tag) {
        self.rebuild(vec![NIL; buckets], tags, skip);
    }

    /// [`AllocIndex::resize`] into `heads`, a table of empty buckets.
    fn rebuild(&mut self, heads: Vec<Tag>, tags: &mut [BoundaryTag], skip: Tag) {
        let buckets = heads.len();
        let from_slab = tags.len() / 2 <= self.len;
        let old = core::mem::replace(&mut self.heads, heads);
        self.shift = 64 - buckets.trailing_zeros();
        self.grow_at = if buckets as u64 >= MAX_BUCKETS {
            usize::MAX
        } else {
            buckets * MAX_LOAD
        };
        self.shrink_below = if buckets > self.floor {
            buckets / MIN_LOAD
        } else {
            0
        };
        if from_slab {
            for (t, tag) in (0..).zip(tags.iter_mut()) {
                if t != skip && tag.kind() == Kind::Allocated {
                    let bucket = self.bucket(tag.start);
                    tag.list_next = self.heads[bucket];
                    self.heads[bucket] = t;
                }
            }
            return;
        }
        for head in old {
            let mut t = head;
            while t != NIL {
                let next = tags[t as usize].list_next;
                let bucket = self.bucket(tags[t as usize].start);
                tags[t as usize].list_next = self.heads[bucket];
                self.heads[bucket] = t;
                t = next;
            }
        }
    }

    /// Every chain is acyclic and holds only allocated tags in their own bucket, and there are
    /// `len` entries in all (that each allocated tag is found is the caller's check).
    pub fn check(&self, tags: &[BoundaryTag]) -> Result<(), String> {
        let mut count = 0usize;
        for (b, &head) in self.heads.iter().enumerate() {
            let mut t = head;
            while t != NIL {
                count += 1;
                if count > self.len {
                    return Err(format!("more than {} entries (a cycle?)", self.len));
                }
                let Some(tag) = tags.get(t as usize) else {
                    return Err(format!("bucket {b} links tag {t}, past the slab"));
                };
                if tag.kind() != Kind::Allocated {
                    return Err(format!("bucket {b} links tag {t}, which is not allocated"));
                }
                if self.bucket(tag.start) != b {
                    return Err(format!("tag {t} ({:#x}) in bucket {b}", tag.start));
                }
                t = tag.list_next;
            }
        }
        if count != self.len {
            return Err(format!("{count} entries, {} counted", self.len));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tags::marker;
    use super::*;
    use alloc::collections::BTreeMap;

    /// A slab of allocated tags where tag `k` starts at `k << 4`.
    fn slab(n: u32) -> Vec<BoundaryTag> {
        (0..n)
            .map(|k| BoundaryTag {
                start: u64::from(k) << 4,
                last: (u64::from(k) << 4) + 15,
                prev: NIL,
                next: NIL,
                list_prev: marker(Kind::Allocated),
                list_next: NIL,
            })
            .collect()
    }

    #[test]
    fn agrees_with_a_btreemap() {
        // As in an arena, a tag is allocated exactly while it is indexed (a resize rebuilds
        // the chains from the allocated tags of the slab).
        let mut tags = slab(512);
        for tag in &mut tags {
            tag.list_prev = marker(Kind::Unused);
        }
        let mut idx = AllocIndex::new(4);
        let mut most = 0;
        let mut model = BTreeMap::new();
        let mut x: u64 = 0x1234_5678;
        for _ in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let t = (x % 512) as u32;
            let key = u64::from(t) << 4;
            if x & 3 == 0 || model.contains_key(&key) {
                let found = idx.find(key, &tags);
                assert_eq!(found.map(|f| f.tag), model.remove(&key));
                if let Some(f) = found {
                    idx.remove(f, &mut tags);
                    tags[f.tag as usize].list_prev = marker(Kind::Unused);
                }
            } else {
                tags[t as usize].list_prev = marker(Kind::Allocated);
                idx.insert(key, t, &mut tags);
                model.insert(key, t);
            }
            most = most.max(model.len());
            assert_eq!(idx.len(), model.len());
            idx.check(&tags).unwrap();
        }
        // The walk grew the table through several sizes.
        assert!(most > 4 * MIN_BUCKETS, "{most}");
        for t in 0..512u32 {
            let key = u64::from(t) << 4;
            assert_eq!(idx.get(key, &tags), model.get(&key).copied());
        }
        // Emptied, it shrinks back through the same sizes.
        while let Some((key, t)) = model.pop_first() {
            let found = idx.find(key, &tags).unwrap();
            assert_eq!(found.tag, t);
            idx.remove(found, &mut tags);
            tags[t as usize].list_prev = marker(Kind::Unused);
            idx.check(&tags).unwrap();
            assert_eq!(idx.len(), model.len());
        }
        assert_eq!(idx.heads.len(), MIN_BUCKETS);
    }

    #[test]
    fn check_rejects_a_foreign_or_misplaced_tag() {
        let mut tags = slab(8);
        let mut idx = AllocIndex::new(4);
        for t in 0..8u32 {
            idx.insert(u64::from(t) << 4, t, &mut tags);
        }
        idx.check(&tags).unwrap();
        // A chained tag that is no longer allocated.
        tags[3].list_prev = marker(Kind::Unused);
        assert!(idx.check(&tags).is_err());
        tags[3].list_prev = marker(Kind::Allocated);
        // A chained tag whose start moved to another bucket.
        let moved = (0..64u64)
            .map(|k| (k + 100) << 4)
            .find(|&s| idx.bucket(s) != idx.bucket(tags[5].start))
            .unwrap();
        tags[5].start = moved;
        assert!(idx.check(&tags).is_err());
    }

    #[test]
    fn check_rejects_a_cycle_a_link_past_the_slab_and_a_wrong_count() {
        let mut tags = slab(8);
        let mut idx = AllocIndex::new(4);
        for t in 0..8u32 {
            idx.insert(u64::from(t) << 4, t, &mut tags);
        }
        let bucket = idx.bucket(tags[2].start);
        let expect_err = |idx: &AllocIndex, tags: &[BoundaryTag], what: &str| {
            let e = idx.check(tags).expect_err(what);
            assert!(e.contains(what), "{e}");
        };
        let mut cyclic = tags.clone();
        cyclic[2].list_next = 2;
        let mut looped = idx.clone();
        looped.heads[bucket] = 2;
        expect_err(&looped, &cyclic, "a cycle");
        let mut past = idx.clone();
        past.heads[bucket] = 8;
        expect_err(&past, &tags, "past the slab");
        let mut miscounted = idx.clone();
        miscounted.len -= 1;
        expect_err(&miscounted, &tags, "more than 7 entries");
        let mut overcounted = idx.clone();
        overcounted.len += 1;
        expect_err(&overcounted, &tags, "8 entries, 9 counted");
    }
}
