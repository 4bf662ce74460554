//! Kegs (module comment, section 4): the slabs of one layout, their bitmaps, item states and
//! reference counts, the partial and wholly free lists, and the address index truncation
//! looks slabs up in.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::hooks::ItemHooks;
use super::layout::{SlabLayout, BITMAP_WORD_BITS};
use super::source::SlabSource;
use super::types::{KegId, SlabView};

/// Item state byte: free in its slab (its bitmap bit is set).
pub(super) const FREE: u8 = 0xFF;
/// Item state flag: cached (in a magazine or depot) by the zone in the low bits; without it,
/// the byte is the id of the zone the item is live in.
pub(super) const CACHED: u8 = 0x80;
/// A slot number meaning "no slab" in a [`Loc`] (only a seeded bug leaves a round without
/// its pair half).
pub(super) const NO_SLAB: u32 = u32::MAX;

/// Where an item lives: its slab's slot in [`Keg::slabs`] and its index in the slab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Loc {
    /// Slot of the slab.
    pub(super) slab: u32,
    /// Item index in the slab.
    pub(super) idx: u32,
}

/// "No item" (see [`NO_SLAB`]).
pub(super) const NO_LOC: Loc = Loc {
    slab: NO_SLAB,
    idx: 0,
};

/// Why an address does not name an item of a keg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LookupError {
    /// Truncation finds no slab of the keg.
    NotSlab,
    /// Inside the slab's on-slab header.
    InHeader,
    /// Not an item start.
    NotItemStart,
}

/// Which list a slab is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum List {
    /// No free item: on no list.
    Full,
    /// Some items free, some not.
    Partial,
    /// Every item free.
    Empty,
}

/// One slab (a slot of [`Keg::slabs`]; slots are reused, with their vectors).
#[derive(Clone, Debug)]
pub(super) struct Slab {
    /// First byte.
    pub(super) base: u64,
    /// Whether the slot holds a slab.
    pub(super) in_use: bool,
    /// Items free (bits set in `free`).
    pub(super) nfree: u32,
    /// The lowest bitmap word that may hold a set bit.
    hint: u32,
    /// The list the slab is on.
    pub(super) list: List,
    /// Its position in that list's vector (unused when `Full`).
    pub(super) pos: u32,
    /// Free bitmap, one bit per item (set = free); bits past the last item are clear.
    pub(super) free: Vec<u64>,
    /// One state byte per item: [`FREE`], [`CACHED`] `|` zone, or the zone it is live in.
    pub(super) state: Vec<u8>,
    /// A refcount keg's count per item (else empty); 0 when the slab is taken.
    pub(super) refcnt: Vec<u32>,
    /// The secondary item's address of each live or cached pair whose primary is here (the
    /// slab's items of a packet zone's primary keg); empty until the slab first serves one.
    pub(super) partner: Vec<u64>,
}

/// A keg: every slab of one layout.
#[derive(Clone, Debug)]
pub(super) struct Keg {
    /// Its id.
    pub(super) id: KegId,
    /// The geometry of its slabs.
    pub(super) layout: SlabLayout,
    /// Whether every item has a reference count.
    pub(super) refcounts: bool,
    /// `!(slab_size - 1)`: truncating an address with it gives its slab's base.
    mask: u64,
    /// `log2(stride)` if the stride is a power of two (a shift instead of a division).
    stride_shift: Option<u32>,
    /// Slab slots.
    pub(super) slabs: Vec<Slab>,
    /// Slots not holding a slab.
    unused: Vec<u32>,
    /// Slab slot by base: the address index truncation looks up.
    pub(super) by_base: BTreeMap<u64, u32>,
    /// Slots of the partial slabs.
    pub(super) partial: Vec<u32>,
    /// Slots of the wholly free slabs.
    pub(super) empty: Vec<u32>,
    /// The slot last handed an item from: tried before the index on a look-up.
    hint: u32,
    /// Items free in all slabs.
    pub(super) items_free: u64,
    /// Items out of the keg (cached or live).
    pub(super) items_out: u64,
}

impl Keg {
    /// An empty keg.
    pub(super) fn new(id: KegId, layout: SlabLayout, refcounts: bool) -> Keg {
        Keg {
            id,
            layout,
            refcounts,
            mask: !(layout.slab_size - 1),
            stride_shift: layout
                .stride
                .is_power_of_two()
                .then(|| layout.stride.trailing_zeros()),
            slabs: Vec::new(),
            unused: Vec::new(),
            by_base: BTreeMap::new(),
            partial: Vec::new(),
            empty: Vec::new(),
            hint: NO_SLAB,
            items_free: 0,
            items_out: 0,
        }
    }

    /// The address of item `idx` of a slab at `base` (inside the slab: no wrap).
    #[inline]
    pub(super) fn item_addr(&self, base: u64, idx: u32) -> u64 {
        base + u64::from(idx) * self.layout.stride
    }

    /// The slab truncation finds for `addr`, if any.
    #[inline]
    pub(super) fn slab_of(&self, addr: u64) -> Option<u32> {
        let base = addr & self.mask;
        match self.slabs.get(self.hint as usize) {
            Some(s) if s.in_use && s.base == base => Some(self.hint),
            _ => self.by_base.get(&base).copied(),
        }
    }

    /// The item `addr` starts, found by truncation (module comment, section 4).
    #[inline]
    pub(super) fn locate(&self, addr: u64) -> Result<Loc, LookupError> {
        let slab = self.slab_of(addr).ok_or(LookupError::NotSlab)?;
        // Truncation found the slab at `addr & mask`: `off < slab_size`.
        let off = addr & !self.mask;
        let l = &self.layout;
        if off >= l.slab_size - l.header_in_slab() {
            return Err(LookupError::InHeader);
        }
        let idx = match self.stride_shift {
            Some(sh) if off & (l.stride - 1) == 0 => off >> sh,
            None if off.is_multiple_of(l.stride) => off / l.stride,
            _ => return Err(LookupError::NotItemStart),
        };
        if idx >= l.items {
            return Err(LookupError::NotItemStart);
        }
        Ok(Loc {
            slab,
            idx: idx as u32,
        })
    }

    /// The state byte of the item at `loc` (`FREE` for a stale location).
    #[inline]
    pub(super) fn state(&self, loc: Loc) -> u8 {
        self.slabs
            .get(loc.slab as usize)
            .and_then(|s| s.state.get(loc.idx as usize))
            .copied()
            .unwrap_or(FREE)
    }

    /// Whether the bitmap says the item at `loc` is free (`true` for a stale location): all
    /// seeded bug `MagazineDoubleFreeUnseen` looks at.
    #[cfg(feature = "seeded-bugs")]
    pub(super) fn bit_free(&self, loc: Loc) -> bool {
        self.slabs.get(loc.slab as usize).is_none_or(|s| {
            let (w, b) = (loc.idx as usize / 64, loc.idx % 64);
            s.free.get(w).is_none_or(|word| word & (1 << b) != 0)
        })
    }

    /// The state byte of the item at `loc`, mutably (`None` for a stale location).
    #[inline]
    pub(super) fn state_mut(&mut self, loc: Loc) -> Option<&mut u8> {
        self.slabs
            .get_mut(loc.slab as usize)
            .and_then(|s| s.state.get_mut(loc.idx as usize))
    }

    /// Sets the state byte of an item that is out of the keg.
    #[inline]
    pub(super) fn set_state(&mut self, loc: Loc, state: u8) {
        if let Some(b) = self
            .slabs
            .get_mut(loc.slab as usize)
            .and_then(|s| s.state.get_mut(loc.idx as usize))
        {
            *b = state;
        }
    }

    /// The reference count cell of the item at `loc`, if the keg has them.
    pub(super) fn refcnt_mut(&mut self, loc: Loc) -> Option<&mut u32> {
        self.slabs
            .get_mut(loc.slab as usize)?
            .refcnt
            .get_mut(loc.idx as usize)
    }

    /// The secondary address recorded for the pair whose primary is at `loc`.
    pub(super) fn partner(&self, loc: Loc) -> Option<u64> {
        self.slabs
            .get(loc.slab as usize)?
            .partner
            .get(loc.idx as usize)
            .copied()
    }

    /// Records the secondary address of the pair whose primary is at `loc`.
    pub(super) fn set_partner(&mut self, loc: Loc, secondary: u64) {
        let items = self.layout.items as usize;
        if let Some(s) = self.slabs.get_mut(loc.slab as usize) {
            if s.partner.len() != items {
                s.partner.resize(items, 0);
            }
            if let Some(p) = s.partner.get_mut(loc.idx as usize) {
                *p = secondary;
            }
        }
    }

    // ---- lists ------------------------------------------------------------------------------

    /// The list a slab with `nfree` free items belongs on.
    fn list_for(&self, nfree: u32) -> List {
        if nfree == 0 {
            List::Full
        } else if u64::from(nfree) == self.layout.items {
            List::Empty
        } else {
            List::Partial
        }
    }

    /// Takes slot `slab` off its list.
    fn unlink(&mut self, slab: u32) {
        let Some(s) = self.slabs.get(slab as usize) else {
            return;
        };
        let (list, pos) = (s.list, s.pos as usize);
        let v = match list {
            List::Full => return,
            List::Partial => &mut self.partial,
            List::Empty => &mut self.empty,
        };
        if v.get(pos) != Some(&slab) {
            return;
        }
        v.swap_remove(pos);
        if let Some(&moved) = v.get(pos) {
            if let Some(m) = self.slabs.get_mut(moved as usize) {
                m.pos = pos as u32;
            }
        }
        if let Some(s) = self.slabs.get_mut(slab as usize) {
            s.list = List::Full;
        }
    }

    /// Puts slot `slab` on the list its free count calls for (it is on none).
    fn link(&mut self, slab: u32) {
        let Some(nfree) = self.slabs.get(slab as usize).map(|s| s.nfree) else {
            return;
        };
        let list = self.list_for(nfree);
        let v = match list {
            List::Full => None,
            List::Partial => Some(&mut self.partial),
            List::Empty => Some(&mut self.empty),
        };
        let pos = v.map_or(0, |v| {
            v.push(slab);
            v.len() - 1
        });
        if let Some(s) = self.slabs.get_mut(slab as usize) {
            s.list = list;
            s.pos = pos as u32;
        }
    }

    /// Moves slot `slab` to the right list if its free count changed class.
    #[inline]
    fn relist(&mut self, slab: u32) {
        let Some(s) = self.slabs.get(slab as usize) else {
            return;
        };
        if s.list != self.list_for(s.nfree) {
            self.unlink(slab);
            self.link(slab);
        }
    }

    // ---- items ------------------------------------------------------------------------------

    /// Takes one free item (a partial slab's, else a wholly free slab's, else a new slab's
    /// from `backend`, with `init` of each of its items), gives it state `state`, and returns
    /// its address and location; `None` if no item is free and the backend has no slab.
    pub(super) fn alloc_item<B: SlabSource + ?Sized, H: ItemHooks>(
        &mut self,
        state: u8,
        backend: &mut B,
        hooks: &mut H,
        align: u64,
    ) -> Option<(u64, Loc)> {
        let slab = match (self.partial.last(), self.empty.last()) {
            (Some(&s), _) | (None, Some(&s)) => s,
            (None, None) => self.new_slab(backend, hooks, align)?,
        };
        let s = self.slabs.get_mut(slab as usize)?;
        let mut w = s.hint as usize;
        while s.free.get(w).is_some_and(|&word| word == 0) {
            w += 1;
        }
        let word = s.free.get_mut(w)?;
        let b = word.trailing_zeros();
        *word &= !(1u64 << b);
        s.hint = w as u32;
        s.nfree -= 1;
        let idx = w as u32 * BITMAP_WORD_BITS as u32 + b;
        if let Some(st) = s.state.get_mut(idx as usize) {
            *st = state;
        }
        let base = s.base;
        self.items_free -= 1;
        self.items_out += 1;
        self.hint = slab;
        self.relist(slab);
        Some((self.item_addr(base, idx), Loc { slab, idx }))
    }

    /// Gives the item at `loc` back to its slab (nothing if it is already free there).
    pub(super) fn free_item(&mut self, loc: Loc) {
        let Some(s) = self.slabs.get_mut(loc.slab as usize) else {
            return;
        };
        let (w, b) = (loc.idx as usize / 64, loc.idx % 64);
        let Some(word) = s.free.get_mut(w) else {
            return;
        };
        if *word & (1 << b) != 0 {
            return;
        }
        *word |= 1 << b;
        s.nfree += 1;
        s.hint = s.hint.min(w as u32);
        if let Some(st) = s.state.get_mut(loc.idx as usize) {
            *st = FREE;
        }
        self.items_free += 1;
        self.items_out -= 1;
        self.relist(loc.slab);
    }

    /// Takes a new slab from `backend` (asking for alignment `align`), calls `init` for each
    /// of its items and puts it on the wholly free list. A slab whose last byte would pass
    /// the top of the space or whose base is already a slab of this keg (a broken backend)
    /// goes straight back and counts as no slab.
    fn new_slab<B: SlabSource + ?Sized, H: ItemHooks>(
        &mut self,
        backend: &mut B,
        hooks: &mut H,
        align: u64,
    ) -> Option<u32> {
        let size = self.layout.slab_size;
        let base = backend.alloc_slab(size, align)?;
        if base.checked_add(size - 1).is_none() || self.by_base.contains_key(&base) {
            backend.free_slab(base, size);
            return None;
        }
        let items = self.layout.items as usize;
        let slot = match self.unused.pop() {
            Some(slot) => slot,
            None => {
                self.slabs.push(Slab {
                    base,
                    in_use: false,
                    nfree: 0,
                    hint: 0,
                    list: List::Full,
                    pos: 0,
                    free: Vec::new(),
                    state: Vec::new(),
                    refcnt: Vec::new(),
                    partner: Vec::new(),
                });
                (self.slabs.len() - 1) as u32
            }
        };
        let refcounts = self.refcounts;
        let s = self.slabs.get_mut(slot as usize)?;
        s.base = base;
        s.in_use = true;
        s.nfree = items as u32;
        s.hint = 0;
        s.list = List::Full;
        s.free.clear();
        let words = items.div_ceil(BITMAP_WORD_BITS as usize);
        s.free.resize(words, u64::MAX);
        if let Some(last) = s.free.last_mut() {
            let used = items % 64;
            if used != 0 {
                *last = (1u64 << used) - 1;
            }
        }
        s.state.clear();
        s.state.resize(items, FREE);
        s.refcnt.clear();
        if refcounts {
            s.refcnt.resize(items, 0);
        }
        s.partner.clear();
        self.by_base.insert(base, slot);
        self.items_free += items as u64;
        self.link(slot);
        for i in 0..items as u32 {
            hooks.init(self.id, self.item_addr(base, i));
        }
        Some(slot)
    }

    /// Gives slot `slab` back to `backend`, with `fini` of each item first (its items are
    /// all free, seeded bug `ReclaimFreesLiveSlab` aside).
    pub(super) fn release<B: SlabSource + ?Sized, H: ItemHooks>(
        &mut self,
        slab: u32,
        backend: &mut B,
        hooks: &mut H,
    ) {
        let Some(s) = self.slabs.get(slab as usize) else {
            return;
        };
        let (base, nfree) = (s.base, u64::from(s.nfree));
        for i in 0..self.layout.items as u32 {
            hooks.fini(self.id, self.item_addr(base, i));
        }
        backend.free_slab(base, self.layout.slab_size);
        self.unlink(slab);
        self.by_base.remove(&base);
        self.items_free -= nfree;
        self.items_out -= self.layout.items - nfree;
        if let Some(s) = self.slabs.get_mut(slab as usize) {
            s.in_use = false;
        }
        self.unused.push(slab);
    }

    /// The slabs, in ascending base order.
    pub(super) fn views(&self) -> impl Iterator<Item = SlabView> + '_ {
        self.by_base.iter().map(|(&base, &slot)| SlabView {
            base,
            size: self.layout.slab_size,
            free_items: self
                .slabs
                .get(slot as usize)
                .map_or(0, |s| u64::from(s.nfree)),
        })
    }
}
