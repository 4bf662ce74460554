//! # The TLBs of the model: what each CPU cached, from which walk, and when
//!
//! One [`CpuTlb`] per CPU, filled only by a successful access that walked the tables and
//! emptied only by the operations that drop entries, so the model knows at every op which
//! cached translations are *stale* (section 3). Nothing here reads the implementation.
//!
//! ## 1. Entries and lookup
//!
//! An entry is the translation a walk gave (page base and size, physical base, the
//! mapping's flags), the space that walked, whether the walk was a write (a *dirty* entry;
//! a write hitting a clean entry walks again, as the hardware does to set D) and its load
//! number. Entries with [`GLOBAL`] are filed by (size, base) and serve every space; the
//! others by (space, size, base). A lookup of `va` for a space tries that space's entries
//! by page size, smallest first, then the global ones the same way; the first whose page
//! holds `va` is the hit.
//!
//! ## 2. Filling and dropping
//!
//! - A fill replaces the entry under the same key (nothing evicted); otherwise, past the
//!   capacity, the entry with the lowest load number goes (first in, first out).
//! - A hit that does not permit the access, or a write hitting a clean entry, drops the
//!   entry and walks (a spurious fault).
//! - INVLPG over `[start, last]` drops the space's entries and the global ones whose page
//!   overlaps the range anywhere; a shootdown for every space drops every space's entries
//!   overlapping it; a space flush drops its non-global entries; a non-global flush all
//!   non-global ones; a full flush everything.
//!
//! ## 3. Staleness
//!
//! Entry `e`, cached for `va`, is *stale* iff the current translation of `va` does not
//! exist, or differs from `e`'s in physical address, in page size, or in the cache
//! attributes ([`WRITE_THROUGH`], [`CACHE_DISABLE`]), or `e` grants what the current one
//! does not (write, user, execute). A cached entry *less* permissive than the tables is
//! legal (the spurious fault re-walks), and so is one that lost only [`GLOBAL`].

use std::collections::BTreeMap;

use super::{Translation, CACHE_DISABLE, GLOBAL, NO_EXECUTE, USER, WRITABLE, WRITE_THROUGH};

/// One cached translation of the model's TLBs (section 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CachedEntry {
    /// The space whose walk loaded it (a global entry serves every space).
    pub asid: u32,
    /// First virtual address of the page.
    pub page_base: u128,
    /// Page size.
    pub page_size: u128,
    /// Physical address of the page's first byte.
    pub pa_base: u128,
    /// The mapping's flags at the walk.
    pub flags: u8,
    /// Loaded by a write.
    pub dirty: bool,
    /// Load number (first in, first out).
    pub seq: u64,
}

impl CachedEntry {
    /// The translation this entry gives for `va` (in its page).
    pub fn translation(&self, va: u128) -> Translation {
        Translation {
            va,
            pa: self.pa_base + (va - self.page_base),
            page_base: self.page_base,
            page_size: self.page_size,
            flags: self.flags,
        }
    }

    fn global(&self) -> bool {
        self.flags & GLOBAL != 0
    }

    fn overlaps(&self, start: u128, last: u128) -> bool {
        self.page_base <= last && start <= self.page_base + (self.page_size - 1)
    }
}

/// `true` iff `cached` may still be used for its address instead of `current` (section 3).
pub fn fresh(cached: &Translation, current: &Translation) -> bool {
    let cache = WRITE_THROUGH | CACHE_DISABLE;
    let grants = |f: u8| (f & (WRITABLE | USER)) | (!f & NO_EXECUTE);
    cached.pa == current.pa
        && cached.page_size == current.page_size
        && cached.flags & cache == current.flags & cache
        && grants(cached.flags) & !grants(current.flags) == 0
}

/// Key of a non-global entry: (space, page size, page base).
type LocalKey = (u32, u128, u128);
/// Key of a global entry: (page size, page base).
type GlobalKey = (u128, u128);

/// Where an entry is filed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Slot {
    Local(LocalKey),
    Global(GlobalKey),
}

/// One CPU's TLB (sections 1 and 2).
#[derive(Clone, Debug, Default)]
pub(super) struct CpuTlb {
    local: BTreeMap<LocalKey, CachedEntry>,
    global: BTreeMap<GlobalKey, CachedEntry>,
    next_seq: u64,
}

impl CpuTlb {
    /// The hit for `va` in `asid`, trying `sizes` (ascending): the space's entries first.
    pub(super) fn lookup(
        &self,
        asid: u32,
        va: u128,
        sizes: &[u128],
    ) -> Option<(Slot, CachedEntry)> {
        let local = sizes.iter().find_map(|&s| {
            let k = (asid, s, va - va % s);
            self.local.get(&k).map(|e| (Slot::Local(k), *e))
        });
        local.or_else(|| {
            sizes.iter().find_map(|&s| {
                let k = (s, va - va % s);
                self.global.get(&k).map(|e| (Slot::Global(k), *e))
            })
        })
    }

    pub(super) fn remove(&mut self, slot: Slot) {
        match slot {
            Slot::Local(k) => {
                self.local.remove(&k);
            }
            Slot::Global(k) => {
                self.global.remove(&k);
            }
        }
    }

    /// Caches `t` for `asid`, evicting the oldest entry past `capacity`.
    pub(super) fn fill(&mut self, asid: u32, t: &Translation, dirty: bool, capacity: usize) {
        let e = CachedEntry {
            asid,
            page_base: t.page_base,
            page_size: t.page_size,
            pa_base: t.pa - (t.va - t.page_base),
            flags: t.flags,
            dirty,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        let replaced = if e.global() {
            self.global.insert((e.page_size, e.page_base), e).is_some()
        } else {
            self.local
                .insert((asid, e.page_size, e.page_base), e)
                .is_some()
        };
        if !replaced && self.len() > capacity {
            let l = self.local.iter().map(|(k, e)| (e.seq, Slot::Local(*k)));
            let g = self.global.iter().map(|(k, e)| (e.seq, Slot::Global(*k)));
            if let Some((_, slot)) = l.chain(g).min_by_key(|(s, _)| *s) {
                self.remove(slot);
            }
        }
    }

    fn len(&self) -> usize {
        self.local.len() + self.global.len()
    }

    /// Drops the entries of `asid` (of every space if `None`) and the global ones whose page
    /// overlaps `[start, last]`.
    pub(super) fn invalidate(&mut self, asid: Option<u32>, start: u128, last: u128) {
        self.local
            .retain(|k, e| asid.is_some_and(|a| a != k.0) || !e.overlaps(start, last));
        self.global.retain(|_, e| !e.overlaps(start, last));
    }

    /// Drops the non-global entries of `asid` (all of them if `None`).
    pub(super) fn flush_nonglobal(&mut self, asid: Option<u32>) {
        self.local.retain(|k, _| asid.is_some_and(|a| a != k.0));
    }

    /// Drops everything.
    pub(super) fn flush_all(&mut self) {
        self.local.clear();
        self.global.clear();
    }

    /// Every entry: non-global ones by key, then global ones by key.
    pub(super) fn entries(&self) -> impl Iterator<Item = &CachedEntry> {
        self.local.values().chain(self.global.values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(pa: u128, size: u128, flags: u8) -> Translation {
        Translation {
            va: 0,
            pa,
            page_base: 0,
            page_size: size,
            flags,
        }
    }

    #[test]
    fn stale_exactly_on_the_listed_differences() {
        let base = t(0x1000, 4096, WRITABLE | USER);
        assert!(fresh(&base, &base));
        assert!(!fresh(&base, &t(0x2000, 4096, WRITABLE | USER)), "address");
        assert!(!fresh(&base, &t(0x1000, 2 << 20, WRITABLE | USER)), "size");
        assert!(!fresh(
            &base,
            &t(0x1000, 4096, WRITABLE | USER | CACHE_DISABLE)
        ));
        assert!(!fresh(
            &base,
            &t(0x1000, 4096, WRITABLE | USER | WRITE_THROUGH)
        ));
        assert!(!fresh(&base, &t(0x1000, 4096, USER)), "grants write");
        assert!(!fresh(&base, &t(0x1000, 4096, WRITABLE)), "grants user");
        assert!(!fresh(
            &base,
            &t(0x1000, 4096, WRITABLE | USER | NO_EXECUTE)
        ));
        assert!(
            fresh(&t(0x1000, 4096, NO_EXECUTE), &base),
            "less permissive"
        );
        assert!(fresh(&base, &t(0x1000, 4096, WRITABLE | USER | GLOBAL)));
    }

    #[test]
    fn fifo_eviction_and_replacement() {
        let mut c = CpuTlb::default();
        let page = |base: u128| Translation {
            va: base,
            pa: base,
            page_base: base,
            page_size: 4096,
            flags: 0,
        };
        c.fill(1, &page(0), false, 2);
        c.fill(1, &page(4096), false, 2);
        c.fill(1, &page(0), true, 2);
        assert_eq!(c.len(), 2, "a refill replaces");
        c.fill(1, &page(8192), false, 2);
        assert!(c.lookup(1, 4096, &[4096]).is_none(), "the oldest went");
        assert!(c.lookup(1, 10, &[4096]).is_some_and(|(_, e)| e.dirty));
        assert!(c.lookup(2, 10, &[4096]).is_none(), "another space");
        c.invalidate(Some(2), 0, u128::MAX);
        assert_eq!(c.len(), 2);
        c.invalidate(None, 0, 0);
        assert_eq!(c.len(), 1);
        c.flush_nonglobal(Some(1));
        assert_eq!(c.len(), 0);
    }
}
