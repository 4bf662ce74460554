//! Carving and coalescing (module comment, sections 2 and 6): an allocation is cut out of a
//! free segment, and a freed segment merges with its free neighbours (and goes back to the
//! source with its span when that span is imported and wholly free).

use super::freelist::{holds, list_of};
use super::tags::{BoundaryTag, Kind, Tag, ALLOCATED, NIL, SPAN_IMPORTED};
use super::types::Checked;
use super::{AllocError, Arena, Policy, SpanSource};

#[cfg(feature = "seeded-bugs")]
use crate::bugs::Bug;

impl<S: SpanSource> Arena<S> {
    // ---- carving an allocation out of a free segment --------------------------------------

    /// Carves `[a, a + size)` out of free segment `f`.
    pub(super) fn commit(
        &mut self,
        f: Tag,
        a: u64,
        c: &Checked,
        policy: Policy,
    ) -> Result<u64, AllocError> {
        let last = a + (c.size - 1);
        let seg = *self.tag(f);
        debug_assert!(seg.is_free() && seg.start <= a && last <= seg.last);
        let cur = if a == seg.start && last < seg.last {
            self.carve_front(f, &seg, last)
        } else {
            self.carve_inside(f, &seg, a, last)
        };
        let Some(cur) = cur else {
            return Err(AllocError::NoTags); // unreachable: tags_available checked
        };
        self.record_allocation(&seg, cur, a, last, policy)
    }

    /// The front of free segment `f` (whose tag the caller read as `seg`), up to `last`
    /// (below `seg.last`), becomes a new allocated tag, returned; `f` keeps the free rest.
    /// The common case, so `f`'s list links change only if the rest belongs on another list.
    /// `None`, with nothing changed, if no tag is left.
    #[inline(always)]
    pub(super) fn carve_front(&mut self, f: Tag, seg: &BoundaryTag, last: u64) -> Option<Tag> {
        // The new tag goes between f and its predecessor (never NIL: a segment follows its
        // span's tag).
        let t = self.new_tag_between(seg.start, last, Kind::Allocated, seg.prev, f)?;
        self.tag_mut(seg.prev).next = t;
        let fm = self.tag_mut(f);
        fm.prev = t;
        fm.start = last + 1;
        // The rest stays wherever it is on f's list if that list still holds its class (the
        // order of a list is free: no policy's contract depends on it). This is `relist` with
        // the links and the list taken from the copy `seg`.
        let (on, rest) = (seg.list(), list_of(seg.last - last));
        if holds(on, rest) {
            self.set_lag(f, rest - on);
        } else {
            self.list_remove_at(on, seg.list_prev, seg.list_link());
            self.list_insert_at(f, rest);
        }
        Some(t)
    }

    /// `[a, last]` out of free segment `f` (whose tag the caller read as `seg`) in any way but
    /// [`Arena::carve_front`]'s: the whole segment, or with a free remainder on the left (kept
    /// in `f`) and possibly one on the right. Returns the allocated tag; `None` if no tag is
    /// left (only after `tags_available` said there were, so never).
    fn carve_inside(&mut self, f: Tag, seg: &BoundaryTag, a: u64, last: u64) -> Option<Tag> {
        let cur = if a > seg.start {
            // The left remainder stays in f, where it is on its list if that list still holds
            // its class (as in `carve_front`).
            let t = self.new_tag(a, last, Kind::Allocated)?;
            self.relist(f, list_of(a - seg.start));
            self.tag_mut(f).last = a - 1;
            self.link_after(f, t);
            t
        } else {
            self.list_remove(f);
            self.tag_mut(f).list_prev = ALLOCATED;
            self.tag_mut(f).last = last;
            f
        };
        if last < seg.last {
            let rest = list_of(seg.last - last);
            let r = if self.parked != NIL {
                // The tag a merge parked on its list (`settle`) takes the rest: it moves only
                // if its list does not hold the rest's class.
                let r = core::mem::replace(&mut self.parked, NIL);
                self.relist(r, rest);
                let rm = self.tag_mut(r);
                rm.start = last + 1;
                rm.last = seg.last;
                r
            } else {
                let r = self.new_tag(last + 1, seg.last, Kind::Free)?;
                self.list_insert_at(r, rest);
                r
            };
            self.link_after(cur, r);
        }
        Some(cur)
    }

    /// Parks the tag of free segment `t`, which a merge has just absorbed (it is no longer
    /// in the address list), instead of taking it off its list and dropping it: see
    /// [`Arena::settle`]. There is never more than one: every operation settles the last first.
    fn park(&mut self, t: Tag) {
        debug_assert!(self.parked == NIL);
        self.parked = t;
    }

    /// Settles the parked tag, if any: takes it off its list and drops it, as the merge that
    /// parked it would have. Every operation but an aligned allocation placed inside the
    /// recent segment (which may reuse it: `carve_inside`) calls this before it reads a free
    /// list, so that the lists hold exactly the free segments again.
    #[inline(always)]
    pub(super) fn settle(&mut self) {
        if self.parked != NIL {
            self.settle_parked();
        }
    }

    /// [`Arena::settle`] when a tag is parked, out of line.
    #[cold]
    #[inline(never)]
    fn settle_parked(&mut self) {
        let t = core::mem::replace(&mut self.parked, NIL);
        self.list_remove(t);
        self.drop_tag(t);
    }

    /// Records the allocation `cur` = `[start, last]`, just carved out of the free segment
    /// `seg` (as it was): the size index, the allocated index, the counters and the rotor.
    #[inline(always)]
    pub(super) fn record_allocation(
        &mut self,
        seg: &BoundaryTag,
        cur: Tag,
        start: u64,
        last: u64,
        policy: Policy,
    ) -> Result<u64, AllocError> {
        if self.by_size.is_some() {
            self.size_index_carved(seg, cur);
        }
        self.placed_inside = start != seg.start;
        self.allocated.insert(start, cur, &mut self.tags);
        self.in_use += u128::from(last - start + 1);
        if policy == Policy::NextFit {
            self.rotor = last.checked_add(1);
        }
        #[cfg(feature = "seeded-bugs")]
        self.zero_sentinel(start)?;
        Ok(start)
    }

    /// SEEDED BUG ZeroSentinel (FreeBSD, NetBSD): address 0 doubles as "failed", so a
    /// successful allocation at `start` = 0 is reported as a failure (and its space leaks).
    #[cfg(feature = "seeded-bugs")]
    fn zero_sentinel(&self, start: u64) -> Result<(), AllocError> {
        if start == 0 && self.bug(Bug::ZeroSentinel) {
            return Err(AllocError::NoSpace);
        }
        Ok(())
    }

    // ---- merging a freed segment with its free neighbours ---------------------------------

    /// Marks `t` free, coalesces it with free neighbours, and releases its span if the span
    /// is imported and now wholly free.
    ///
    /// The merged segment keeps the tag of a free neighbour when there is one, so that only
    /// tags already read are written, and a tag whose list is the merged size's list stays
    /// where it is on that list (list order is free). Freeing between two allocated segments
    /// writes nothing but `t` and the head of its new list.
    ///
    /// `seg` is `t`'s tag as the caller read it (its address links and range are current).
    pub(super) fn release_segment(&mut self, t: Tag, seg: BoundaryTag) {
        let (p, n) = (seg.prev, seg.next);
        // Both neighbours are read before either is acted on, so that their loads overlap. A
        // segment's predecessor is never NIL (its span's tag comes first).
        let pt = *self.tag(p);
        let nt = (n != NIL).then(|| *self.tag(n));
        let p_free = pt.is_free();
        let n_free = nt.is_some_and(|x| x.is_free());
        let start = if p_free { pt.start } else { seg.start };
        let last = match nt {
            Some(nt) if n_free => nt.last,
            _ => seg.last,
        };
        let l = list_of(last - start + 1);
        let merged = match (p_free, nt) {
            (true, Some(nt)) if n_free => {
                // Keep the neighbour already on the merged list if either is; the other is
                // parked (`settle`), and the tag past it is relinked to the kept one. If both
                // are, keep the one whose far link the next allocation will write anyway:
                // one taking the merged segment's front writes its predecessor (which keeping
                // the right neighbour writes here too), one placed inside it (an aligned
                // request at the freed start, say) writes its successor (as keeping the left
                // one does). The latest allocation says which kind the arena serves.
                let n_on = nt.list();
                if holds(n_on, l) && !(self.placed_inside && holds(pt.list(), l)) {
                    self.park(p);
                    self.set_lag(n, l - n_on);
                    self.tag_mut(n).start = start;
                    self.tag_mut(n).prev = pt.prev;
                    self.tag_mut(pt.prev).next = n;
                    n
                } else {
                    self.park(n);
                    self.relist(p, l);
                    self.tag_mut(p).last = last;
                    self.tag_mut(p).next = nt.next;
                    self.relink_prev(nt.next, p);
                    p
                }
            }
            (true, _) => {
                self.relist(p, l);
                self.tag_mut(p).last = last;
                self.tag_mut(p).next = n;
                self.relink_prev(n, p);
                p
            }
            (false, Some(_)) if n_free => {
                self.relist(n, l);
                self.tag_mut(n).start = start;
                self.tag_mut(n).prev = p;
                self.tag_mut(p).next = n;
                n
            }
            _ => {
                self.list_insert_at(t, l);
                t
            }
        };
        if merged != t {
            self.drop_tag(t);
        }
        self.recent = merged;
        if self.by_size.is_some() {
            let gone = [p_free.then_some(&pt), nt.as_ref().filter(|_| n_free)];
            self.size_index_merged(gone, merged);
        }
        // Only an imported span goes back, and one is live iff imports > releases (each
        // release gives back one imported span): without one, skip reading the span tag.
        if self.imports > self.releases {
            let span = self.tag(merged).prev; // a free segment's predecessor: its span or allocated
            let s = self.tag(span);
            if s.list_prev == SPAN_IMPORTED && s.start == start && s.last == last {
                self.remove_span(span, merged);
            }
        }
    }
}
