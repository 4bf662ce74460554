//! The free lists and the free map (module comment, section 2), and the size index that
//! BestFit builds over the free segments (section 6).

use alloc::collections::BTreeMap;

use super::tags::{BoundaryTag, Tag, LAGS, LAG_SHIFT, LINK, LIST_HEAD, NIL};
use super::{Arena, SpanSource};
use crate::addr;

/// Number of free lists: one per power of two a `u64` size can have.
pub(crate) const FREELISTS: usize = 64;

/// The most lists below its size class a free segment may sit (its lag; module comment,
/// section 2): a merge may grow a segment by up to this many classes, and a carve may shrink
/// it back to its list's class, without moving it. Three bits of its `list_next` hold it.
pub(super) const MAX_LAG: usize = 7;

/// Whether a free segment on list `on` may stay there with a size of class `c`: `c` is `on`
/// or at most [`MAX_LAG`] above it; module comment, section 2.
pub(super) fn holds(on: usize, c: usize) -> bool {
    on <= c && c - on <= MAX_LAG
}

/// The size class of a segment of `size` bytes: the list it goes on when it does not lag.
pub(super) fn list_of(size: u64) -> usize {
    addr::log2_floor(size) as usize
}

impl<S: SpanSource> Arena<S> {
    // ---- the free lists and the free map ------------------------------------------------

    /// Puts free segment `t` on the list of its current size class.
    pub(super) fn list_insert(&mut self, t: Tag) {
        self.list_insert_at(t, list_of(self.tag(t).size()));
    }

    /// Puts `t` at the head of list `l`, the list of its size class, not lagging; this also
    /// marks it free. `t` must have, or be about to get, a size of class `l`.
    pub(super) fn list_insert_at(&mut self, t: Tag, l: usize) {
        let head = self.lists[l];
        let tag = self.tag_mut(t);
        tag.list_prev = LIST_HEAD;
        tag.list_next = head & LINK;
        if head != NIL {
            self.tag_mut(head).list_prev = t;
        }
        self.lists[l] = t;
        self.freemap |= 1 << l;
    }

    /// Takes free segment `t` off its list.
    pub(super) fn list_remove(&mut self, t: Tag) {
        let tag = self.tag(t);
        let (l, p, n) = (tag.list(), tag.list_prev, tag.list_link());
        self.list_remove_at(l, p, n);
    }

    /// Takes a segment off list `l`, given its list links `p` and `n` (its own links are left
    /// as they were).
    pub(super) fn list_remove_at(&mut self, l: usize, p: Tag, n: Tag) {
        if p == LIST_HEAD {
            self.lists[l] = n;
            if n == NIL {
                self.freemap &= !(1 << l);
            }
        } else {
            let prev = self.tag_mut(p);
            prev.list_next = (prev.list_next & LAGS) | (n & LINK);
        }
        if n != NIL {
            self.tag_mut(n).list_prev = p;
        }
    }

    /// Makes free segment `t`'s list right for a new size of class `c` (a merge grew it or a
    /// carve shrank it); called before its size changes. If its list still holds class `c`
    /// ([`holds`]) it stays where it is on it (and only its lag changes); else it moves to
    /// the head of list `c`.
    pub(super) fn relist(&mut self, t: Tag, c: usize) {
        let on = self.tag(t).list();
        if holds(on, c) {
            self.set_lag(t, c - on);
        } else {
            self.list_remove(t);
            self.list_insert_at(t, c);
        }
    }

    /// Sets free segment `t`'s lag (0 to [`MAX_LAG`]).
    pub(super) fn set_lag(&mut self, t: Tag, lag: usize) {
        let tag = self.tag_mut(t);
        tag.list_next = (tag.list_next & LINK) | (lag as u32) << LAG_SHIFT;
    }

    // ---- the size index (BestFit) --------------------------------------------------------

    /// Builds the size index from the free lists, if it does not exist yet.
    pub(super) fn ensure_size_index(&mut self) {
        if self.by_size.is_some() {
            return;
        }
        let mut ix = BTreeMap::new();
        for &head in &self.lists {
            let mut t = head;
            while t != NIL {
                let seg = self.tag(t);
                ix.insert((seg.size(), seg.start), t);
                t = seg.list_link();
            }
        }
        self.by_size = Some(ix);
    }

    /// Records free segment `t`, as it is now, in the size index, if there is one.
    pub(super) fn size_index_add(&mut self, t: Tag) {
        let seg = &self.tags[t as usize];
        let key = (seg.size(), seg.start);
        if let Some(ix) = &mut self.by_size {
            ix.insert(key, t);
        }
    }

    /// Forgets free segment `seg` (as it was) in the size index, if there is one.
    pub(super) fn size_index_remove(&mut self, seg: &BoundaryTag) {
        if let Some(ix) = &mut self.by_size {
            ix.remove(&(seg.size(), seg.start));
        }
    }

    /// The size index after [`Arena::commit`] carved allocation `cur` out of free segment
    /// `old`: `old` goes, and the free remainders on either side of `cur` (whatever lies next
    /// to `cur` within `old`'s range and is free) come in. Out of line and called only when
    /// the index exists, so that instant-fit arenas keep their fast path small.
    #[cold]
    #[inline(never)]
    pub(super) fn size_index_carved(&mut self, old: &BoundaryTag, cur: Tag) {
        self.size_index_remove(old);
        let (p, n) = (self.tag(cur).prev, self.tag(cur).next);
        if self.tag(p).is_free() && self.tag(p).start == old.start {
            self.size_index_add(p);
        }
        if n != NIL && self.tag(n).is_free() && self.tag(n).last == old.last {
            self.size_index_add(n);
        }
    }

    /// The size index after [`Arena::release_segment`] merged the free segments `gone` (as
    /// they were) into `merged`. Out of line, as [`Arena::size_index_carved`].
    #[cold]
    #[inline(never)]
    pub(super) fn size_index_merged(&mut self, gone: [Option<&BoundaryTag>; 2], merged: Tag) {
        for seg in gone.into_iter().flatten() {
            self.size_index_remove(seg);
        }
        self.size_index_add(merged);
    }
}
