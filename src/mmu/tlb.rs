//! One simulated CPU's TLB: a bounded cache of leaf translations, tagged by ASID (like
//! PCIDs), with global entries that match every ASID.

use alloc::collections::BTreeMap;

use crate::addr::Range;

use super::types::{Asid, PageFlags, Translation};

/// One cached translation: a whole page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbEntry {
    /// The address space that loaded it (a global entry matches every space).
    pub asid: Asid,
    /// First virtual address of the page.
    pub page_base: u64,
    /// Page size.
    pub page_size: u64,
    /// Physical address of the page's first byte.
    pub pa_base: u64,
    /// Effective flags at load time.
    pub flags: PageFlags,
    /// `true` iff loaded by a write (the leaf's D bit was set then): a write hitting a clean
    /// entry re-walks, as hardware does to set D.
    pub dirty: bool,
    /// Load order (for FIFO eviction).
    pub seq: u64,
}

impl TlbEntry {
    /// The translation this entry gives for `va` (which must lie in the page).
    pub fn translation(&self, va: u64) -> Translation {
        Translation {
            va,
            pa: self.pa_base + (va - self.page_base),
            page_base: self.page_base,
            page_size: self.page_size,
            flags: self.flags,
        }
    }

    fn last(&self) -> u64 {
        self.page_base + (self.page_size - 1)
    }

    fn overlaps(&self, r: Range) -> bool {
        self.page_base <= r.last() && r.start() <= self.last()
    }
}

/// Key of a non-global entry: (asid, page size, page base).
type LocalKey = (Asid, u64, u64);
/// Key of a global entry: (page size, page base).
type GlobalKey = (u64, u64);

/// Where an entry is filed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlbSlot {
    /// A non-global entry.
    Local(LocalKey),
    /// A global entry.
    Global(GlobalKey),
}

/// A bounded, deterministic TLB. Invariant: `local.len() + global.len() <= capacity`; an
/// entry is in `global` iff its flags have GLOBAL; keys agree with the entries.
#[derive(Clone, Debug)]
pub struct Tlb {
    capacity: usize,
    local: BTreeMap<LocalKey, TlbEntry>,
    global: BTreeMap<GlobalKey, TlbEntry>,
    next_seq: u64,
}

impl Tlb {
    /// An empty TLB of `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> Tlb {
        Tlb {
            capacity,
            local: BTreeMap::new(),
            global: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.local.len() + self.global.len()
    }

    /// The entry that translates `va` for `asid`, trying each of `sizes`: non-global
    /// entries of `asid` first, then global ones.
    pub fn lookup(&self, asid: Asid, va: u64, sizes: &[u64]) -> Option<(TlbSlot, TlbEntry)> {
        for &s in sizes {
            let base = va & !(s - 1);
            if let Some(e) = self.local.get(&(asid, s, base)) {
                return Some((TlbSlot::Local((asid, s, base)), *e));
            }
        }
        for &s in sizes {
            let base = va & !(s - 1);
            if let Some(e) = self.global.get(&(s, base)) {
                return Some((TlbSlot::Global((s, base)), *e));
            }
        }
        None
    }

    /// Drop one entry.
    pub fn remove(&mut self, slot: TlbSlot) {
        match slot {
            TlbSlot::Local(k) => {
                self.local.remove(&k);
            }
            TlbSlot::Global(k) => {
                self.global.remove(&k);
            }
        }
    }

    /// Cache a translation for `asid`, evicting the oldest entry if full.
    pub fn insert(&mut self, asid: Asid, t: &Translation, dirty: bool) {
        let entry = TlbEntry {
            asid,
            page_base: t.page_base,
            page_size: t.page_size,
            pa_base: t.pa - (t.va - t.page_base),
            flags: t.flags,
            dirty,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        let global = t.flags.contains(PageFlags::GLOBAL);
        // Replace an entry under the same key without evicting anything.
        let replaced = if global {
            self.global
                .insert((t.page_size, t.page_base), entry)
                .is_some()
        } else {
            self.local
                .insert((asid, t.page_size, t.page_base), entry)
                .is_some()
        };
        if !replaced && self.len() > self.capacity {
            self.evict_oldest();
        }
    }

    fn evict_oldest(&mut self) {
        let l = self.local.iter().map(|(k, e)| (e.seq, TlbSlot::Local(*k)));
        let g = self
            .global
            .iter()
            .map(|(k, e)| (e.seq, TlbSlot::Global(*k)));
        if let Some((_, slot)) = l.chain(g).min_by_key(|(s, _)| *s) {
            self.remove(slot);
        }
    }

    /// INVLPG over a range: drop `asid`'s entries and global entries overlapping `r`.
    pub fn invalidate_range(&mut self, asid: Asid, r: Range) {
        self.local.retain(|k, e| k.0 != asid || !e.overlaps(r));
        self.global.retain(|_, e| !e.overlaps(r));
    }

    /// Drop every address space's entries, and global ones, overlapping `r`.
    pub fn invalidate_range_all(&mut self, r: Range) {
        self.local.retain(|_, e| !e.overlaps(r));
        self.global.retain(|_, e| !e.overlaps(r));
    }

    /// Drop every non-global entry of `asid` (a CR3 write with that PCID).
    pub fn flush_asid(&mut self, asid: Asid) {
        self.local.retain(|k, _| k.0 != asid);
    }

    /// Drop every non-global entry (CR3 write without PCIDs).
    pub fn flush_nonglobal(&mut self) {
        self.local.clear();
    }

    /// Drop everything (CR4.PGE toggle).
    pub fn flush_all(&mut self) {
        self.local.clear();
        self.global.clear();
    }

    /// Every entry with its slot: non-global ones in key order, then global ones.
    pub fn entries(&self) -> impl Iterator<Item = (TlbSlot, &TlbEntry)> {
        let l = self.local.iter().map(|(k, e)| (TlbSlot::Local(*k), e));
        let g = self.global.iter().map(|(k, e)| (TlbSlot::Global(*k), e));
        l.chain(g)
    }

    /// `true` iff the structural invariant holds (see the type's comment).
    pub fn well_formed(&self) -> bool {
        self.len() <= self.capacity
            && self.local.iter().all(|(k, e)| {
                !e.flags.contains(PageFlags::GLOBAL) && *k == (e.asid, e.page_size, e.page_base)
            })
            && self.global.iter().all(|(k, e)| {
                e.flags.contains(PageFlags::GLOBAL) && *k == (e.page_size, e.page_base)
            })
    }
}
