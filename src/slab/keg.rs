//! Kegs (module comment, section 4): the slabs of one layout, their bitmaps, item states and
//! reference counts, the partial and wholly free lists, and the address indexes truncation
//! looks slabs up in.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::hooks::ItemHooks;
use super::index::SlabIndex;
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
/// An item reference ([`Keg::at`]) naming no item: past the end of every state array.
pub(super) const NO_AT: usize = usize::MAX;

/// Where an item lives: its slab's slot in [`Keg::slabs`] and its index in the slab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Loc {
    /// Slot of the slab.
    pub(super) slab: u32,
    /// Item index in the slab.
    pub(super) idx: u32,
}

/// A [`Keg::hint_base`] no truncation gives (truncated addresses are multiples of the slab
/// size): the hint is empty.
const NO_HINT: u64 = 1;
/// Bits of the reciprocal a stride that is not a power of two divides by: `off * recip >>
/// RECIP_BITS == off / stride` for every in-slab offset (see [`Keg::new`]).
const RECIP_BITS: u32 = 40;

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
    /// Offset of the first byte past the last item (`items * stride`).
    items_end: u64,
    /// Offset of the first header byte (`slab_size` for an off-slab header).
    header_start: u64,
    /// `2^RECIP_BITS / stride + 1`: dividing an offset by the stride is a multiply (for
    /// every stride, a power of two included: one path, no shift by a variable count).
    recip: u64,
    /// Slab slots.
    pub(super) slabs: Vec<Slab>,
    /// Slots not holding a slab.
    unused: Vec<u32>,
    /// One state byte per item slot of every slab slot, item `i` of slot `s` at `s <<
    /// state_shift | i`: [`FREE`], [`CACHED`] `|` zone, or the zone it is live in (bytes of
    /// an unused slot, or past a slot's last item, are [`FREE`]).
    pub(super) state: Vec<u8>,
    /// `log2(items.next_power_of_two())`: each slot's share of `state`.
    state_shift: u32,
    /// Slab slot by base, ascending: the ordered walks (views, reclaim, invariants).
    pub(super) by_base: BTreeMap<u64, u32>,
    /// Slab slot by base: the O(1) look-up truncation makes (the same pairs as `by_base`).
    pub(super) index: SlabIndex,
    /// Slots of the partial slabs.
    pub(super) partial: Vec<u32>,
    /// Slots of the wholly free slabs.
    pub(super) empty: Vec<u32>,
    /// The base of the slab last handed an item from or freed to (or [`NO_HINT`]): tried
    /// before the index on a look-up.
    hint_base: u64,
    /// That slab's slot.
    hint_slot: u32,
    /// The item reference of that slab's item 0 ([`Keg::at`]): a free adds the item index.
    hint_at: usize,
    /// Items free in all slabs.
    pub(super) items_free: u64,
    /// Items out of the keg (cached or live).
    pub(super) items_out: u64,
}

impl Keg {
    /// An empty keg.
    pub(super) fn new(id: KegId, layout: SlabLayout, refcounts: bool) -> Keg {
        let stride = layout.stride;
        // Offsets are below MAX_SLAB_SIZE = 2^17 and 8 <= stride <= 2^16, so `off * recip`
        // stays below 2^17 * (2^37 + 1) < 2^64, and its error `off * (recip - 2^40 /
        // stride) / 2^40 < 2^-23` is below `1 / stride`, the distance from any non-integer
        // quotient `off / stride` to the next integer: the product's floor is exact.
        let recip = (1u64 << RECIP_BITS) / stride + 1;
        Keg {
            id,
            layout,
            refcounts,
            mask: !(layout.slab_size - 1),
            items_end: layout.items * stride,
            header_start: layout.slab_size - layout.header_in_slab(),
            recip,
            slabs: Vec::new(),
            unused: Vec::new(),
            state: Vec::new(),
            state_shift: layout.items.next_power_of_two().trailing_zeros(),
            by_base: BTreeMap::new(),
            index: SlabIndex::new(),
            partial: Vec::new(),
            empty: Vec::new(),
            hint_base: NO_HINT,
            hint_slot: NO_SLAB,
            hint_at: NO_AT,
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
    #[inline(always)]
    pub(super) fn slab_of(&self, addr: u64) -> Option<u32> {
        let base = addr & self.mask;
        if base == self.hint_base {
            return Some(self.hint_slot);
        }
        self.lookup(base)
    }

    /// The slot of the slab at `base` from the hash index (out of line: the hint missed).
    #[inline(never)]
    fn lookup(&self, base: u64) -> Option<u32> {
        self.index.get(base)
    }

    /// The item `addr` starts, found by truncation (module comment, section 4).
    #[inline(always)]
    pub(super) fn locate(&self, addr: u64) -> Result<Loc, LookupError> {
        let slab = self.slab_of(addr).ok_or(LookupError::NotSlab)?;
        self.item_at(slab, addr)
    }

    /// The item reference of the hint's item 0 if truncating `addr` gives the hint's base.
    #[inline(always)]
    pub(super) fn hinted(&self, addr: u64) -> Option<usize> {
        (addr & self.mask == self.hint_base).then_some(self.hint_at)
    }

    /// The item reference of item 0 of the slab truncating `addr` finds, from the index; it
    /// becomes the hint.
    #[inline(always)]
    pub(super) fn lookup_and_hint(&mut self, addr: u64) -> Option<usize> {
        let base = addr & self.mask;
        let slab = self.index.get(base)?;
        self.set_hint(base, slab);
        Some(self.hint_at)
    }

    /// The item `addr` starts in slot `slab`, which truncating `addr` finds.
    #[inline(always)]
    pub(super) fn item_at(&self, slab: u32, addr: u64) -> Result<Loc, LookupError> {
        let idx = self.item_index(addr)?;
        Ok(Loc {
            slab,
            idx: idx as u32,
        })
    }

    /// The index in its slab of the item `addr` starts (its slab is the one truncation
    /// finds), or why `addr` is no item start.
    #[inline(always)]
    pub(super) fn item_index(&self, addr: u64) -> Result<usize, LookupError> {
        // `off < slab_size`.
        let off = addr & !self.mask;
        // items_end <= header_start: past the last item is the tail waste, then the header.
        if off >= self.items_end {
            return Err(self.tail_error(off));
        }
        let q = (off * self.recip) >> RECIP_BITS;
        if q * self.layout.stride != off {
            return Err(LookupError::NotItemStart);
        }
        // q < items <= MAX_SLAB_SIZE / MIN_ITEM_ALIGN.
        Ok(q as usize)
    }

    /// Why an offset at or past the last item's end is no item start.
    #[cold]
    #[inline(never)]
    fn tail_error(&self, off: u64) -> LookupError {
        if off >= self.header_start {
            LookupError::InHeader
        } else {
            LookupError::NotItemStart
        }
    }

    /// Makes the slab at `base` (slot `slab`) the one a look-up tries first.
    #[inline(always)]
    pub(super) fn set_hint(&mut self, base: u64, slab: u32) {
        self.hint_base = base;
        self.hint_slot = slab;
        self.hint_at = self.at(Loc { slab, idx: 0 });
    }

    /// Forgets the hint.
    fn clear_hint(&mut self) {
        self.hint_base = NO_HINT;
        self.hint_slot = NO_SLAB;
        self.hint_at = NO_AT;
    }

    /// The **item reference** of the item at `loc`: its index in [`Keg::state`] (past its
    /// end for a stale location). Magazine rounds carry it, so a hit reaches the item's
    /// state byte with one index and no shift.
    #[inline(always)]
    pub(super) fn at(&self, loc: Loc) -> usize {
        let i = (u64::from(loc.slab) << self.state_shift) | u64::from(loc.idx);
        usize::try_from(i).unwrap_or(NO_AT)
    }

    /// The location of the item reference `at` ([`NO_LOC`] for [`NO_AT`]).
    pub(super) fn loc_at(&self, at: usize) -> Loc {
        if at == NO_AT {
            return NO_LOC;
        }
        let idx = at & ((1usize << self.state_shift) - 1);
        Loc {
            slab: u32::try_from(at >> self.state_shift).unwrap_or(NO_SLAB),
            idx: idx as u32,
        }
    }

    /// The state bytes of slot `slab`'s items (empty for an unknown slot).
    pub(super) fn slab_states(&self, slab: u32) -> &[u8] {
        let first = self.at(Loc { slab, idx: 0 });
        let items = self.layout.items as usize;
        first
            .checked_add(items)
            .and_then(|end| self.state.get(first..end))
            .unwrap_or(&[])
    }

    /// The state byte of the item at `loc` (`FREE` for a stale location).
    #[inline]
    pub(super) fn state(&self, loc: Loc) -> u8 {
        self.state.get(self.at(loc)).copied().unwrap_or(FREE)
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

    /// The state byte of the item `at` refers to, mutably (`None` for a stale reference).
    #[inline(always)]
    pub(super) fn state_mut(&mut self, at: usize) -> Option<&mut u8> {
        self.state.get_mut(at)
    }

    /// Sets the state byte of an item that is out of the keg (nothing for a stale
    /// reference).
    #[inline(always)]
    pub(super) fn set_state(&mut self, at: usize, state: u8) {
        if let Some(b) = self.state.get_mut(at) {
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

    /// The secondary address recorded for the pair whose primary `at` refers to.
    pub(super) fn partner(&self, at: usize) -> Option<u64> {
        let loc = self.loc_at(at);
        self.slabs
            .get(loc.slab as usize)?
            .partner
            .get(loc.idx as usize)
            .copied()
    }

    /// Records the secondary address of the pair whose primary `at` refers to.
    pub(super) fn set_partner(&mut self, at: usize, secondary: u64) {
        let loc = self.loc_at(at);
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
    /// its address and item reference; `None` if no item is free and the backend has no
    /// slab.
    pub(super) fn alloc_item<B: SlabSource + ?Sized, H: ItemHooks>(
        &mut self,
        state: u8,
        backend: &mut B,
        hooks: &mut H,
        align: u64,
    ) -> Option<(u64, usize)> {
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
        let base = s.base;
        let at = self.at(Loc { slab, idx });
        self.set_state(at, state);
        self.items_free -= 1;
        self.items_out += 1;
        self.set_hint(base, slab);
        self.relist(slab);
        Some((self.item_addr(base, idx), at))
    }

    /// Gives the item `at` refers to back to its slab (nothing if it is already free there,
    /// or for a stale reference).
    pub(super) fn free_item(&mut self, at: usize) {
        let loc = self.loc_at(at);
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
        self.set_state(at, FREE);
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
        if base.checked_add(size - 1).is_none() || self.index.get(base).is_some() {
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
        s.refcnt.clear();
        if refcounts {
            s.refcnt.resize(items, 0);
        }
        s.partner.clear();
        let first = self.at(Loc { slab: slot, idx: 0 });
        let share = 1usize << self.state_shift;
        let end = first.saturating_add(share);
        if self.state.len() < end {
            self.state.resize(end, FREE);
        }
        if let Some(states) = self.state.get_mut(first..end) {
            states.fill(FREE);
        }
        self.by_base.insert(base, slot);
        self.index.insert(base, slot);
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
        self.index.remove(base);
        if self.hint_slot == slab {
            self.clear_hint();
        }
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
