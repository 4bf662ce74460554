//! Boundary tags (module comment, sections 1 and 8): the record of one span or segment, its
//! kind folded into its free-list link, the slab the tags live in, the address-ordered list
//! that links them, the span index, and the iterator over all of them.

use super::freelist::list_of;
#[cfg(doc)]
use super::freelist::MAX_LAG;
use super::{AddSpanError, Arena, SegmentView, SpanSource};
use crate::addr::Range;

#[cfg(doc)]
use super::AllocError;
#[cfg(feature = "seeded-bugs")]
use crate::bugs::Bug;

/// The largest number of boundary tags one arena may hold (spans + segments): 2^29 - 1. Each
/// allocation needs at most two new tags; past this limit allocation fails with
/// [`AllocError::NoTags`] rather than growing without bound. A free segment's list link has
/// 29 bits (the top three hold its lag, module comment section 2), and the all-ones link means
/// "last", so every tag index is below `2^29 - 1`.
pub const MAX_TAGS: usize = LIST_END as usize;

/// The smallest tag limit an arena accepts: room for one span and its one segment.
pub const MIN_TAGS: usize = 2;

/// Index of a boundary tag in the slab; [`NIL`] is "none".
pub(super) type Tag = u32;
/// "No tag".
pub(super) const NIL: Tag = u32::MAX;
/// Where a free segment's lag (how many lists below its size class it sits, 0 to
/// [`MAX_LAG`]; module comment, section 2) starts in its `list_next`.
pub(super) const LAG_SHIFT: u32 = 29;
/// The lag bits of a free segment's `list_next` (the top three). The other 29 bits are the link.
pub(super) const LAGS: u32 = !0 << LAG_SHIFT;
/// The 29 link bits of a free segment's `list_next`.
pub(super) const LINK: u32 = !LAGS;
/// The link (29 bits) of the last segment on a free list: `NIL & LINK`.
pub(super) const LIST_END: u32 = LINK;
/// `list_prev` of an allocated segment.
pub(super) const ALLOCATED: Tag = u32::MAX - 1;
/// `list_prev` of a static span.
pub(super) const SPAN_STATIC: Tag = u32::MAX - 2;
/// `list_prev` of an imported span.
pub(super) const SPAN_IMPORTED: Tag = u32::MAX - 3;
/// `list_prev` of a slab slot not in use.
pub(super) const UNUSED: Tag = u32::MAX - 4;
/// `list_prev` of a free segment that is first on its list. Every value up to and including
/// this one means "free"; every tag index is below it.
pub(super) const LIST_HEAD: Tag = u32::MAX - 5;

/// What a boundary tag records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// A span; `imported` iff it came from the source (and goes back to it when free).
    Span { imported: bool },
    /// A free segment (on a free list).
    Free,
    /// An allocated segment (in the allocated index).
    Allocated,
    /// A slab slot not in use (on the slot free list, linked through `next`).
    Unused,
}

/// One boundary tag: 32 bytes, aligned so that a tag never straddles two cache lines (freeing
/// reads three tags at random places of the slab: the freed one and both neighbours).
#[derive(Clone, Copy, Debug)]
#[repr(C, align(32))]
pub(super) struct BoundaryTag {
    /// First address (inclusive).
    pub(super) start: u64,
    /// Last address (inclusive).
    pub(super) last: u64,
    /// Previous tag in address order (NIL for the first).
    pub(super) prev: Tag,
    /// Next tag in address order (NIL for the last); for `Unused` slots, the next unused slot.
    pub(super) next: Tag,
    /// The kind, and for a free segment its list link: the previous segment on its free list,
    /// or [`LIST_HEAD`] if it is first; for any other tag the marker of its kind
    /// ([`ALLOCATED`], [`SPAN_STATIC`], [`SPAN_IMPORTED`], [`UNUSED`]). See [`Kind`].
    pub(super) list_prev: Tag,
    /// For a free segment, in [`LAGS`] its lag (how many lists below its size class it sits),
    /// and in the other 29 bits the next segment on its list ([`LIST_END`] for the last; see
    /// [`BoundaryTag::list_link`]). For an allocated one, the next tag in its allocated-index
    /// bucket (`AllocIndex`; NIL for the last). NIL for the others.
    pub(super) list_next: Tag,
}

impl BoundaryTag {
    /// The size in bytes.
    pub(super) fn size(&self) -> u64 {
        self.last - self.start + 1
    }

    /// Whether this is a free segment.
    pub(super) fn is_free(&self) -> bool {
        self.list_prev <= LIST_HEAD
    }

    /// The next segment on a free segment's list (NIL for the last).
    pub(super) fn list_link(&self) -> Tag {
        match self.list_next & LINK {
            LIST_END => NIL,
            n => n,
        }
    }

    /// How many lists below its size class a free segment sits (0 to [`MAX_LAG`]).
    pub(super) fn lag(&self) -> usize {
        (self.list_next >> LAG_SHIFT) as usize
    }

    /// The list a free segment sits on: its size class less its lag. (A corrupted tag whose
    /// lag exceeds its class wraps to a number past every list, which the invariants reject.)
    pub(super) fn list(&self) -> usize {
        list_of(self.size()).wrapping_sub(self.lag())
    }

    /// What the tag records, read from its `list_prev`.
    pub(super) fn kind(&self) -> Kind {
        match self.list_prev {
            ALLOCATED => Kind::Allocated,
            SPAN_STATIC => Kind::Span { imported: false },
            SPAN_IMPORTED => Kind::Span { imported: true },
            UNUSED => Kind::Unused,
            _ => Kind::Free,
        }
    }
}

/// The `list_prev` marker of `kind`; a free segment starts as [`LIST_HEAD`] (the caller puts
/// it on its list, which sets the real link).
pub(super) fn marker(kind: Kind) -> Tag {
    match kind {
        Kind::Allocated => ALLOCATED,
        Kind::Span { imported: false } => SPAN_STATIC,
        Kind::Span { imported: true } => SPAN_IMPORTED,
        Kind::Unused => UNUSED,
        Kind::Free => LIST_HEAD,
    }
}

impl<S: SpanSource> Arena<S> {
    // ---- the slab and the address list ------------------------------------------------

    /// Tag `t` of the slab.
    pub(super) fn tag(&self, t: Tag) -> &BoundaryTag {
        &self.tags[t as usize]
    }

    /// Tag `t` of the slab, mutably.
    pub(super) fn tag_mut(&mut self, t: Tag) -> &mut BoundaryTag {
        &mut self.tags[t as usize]
    }

    /// A fresh slab slot holding `[start, last]` of `kind`, not yet linked anywhere.
    pub(super) fn new_tag(&mut self, start: u64, last: u64, kind: Kind) -> Option<Tag> {
        self.new_tag_between(start, last, kind, NIL, NIL)
    }

    /// A fresh slab slot holding `[start, last]` of `kind` whose address links are already
    /// `prev` and `next` (the caller links those two to it).
    pub(super) fn new_tag_between(
        &mut self,
        start: u64,
        last: u64,
        kind: Kind,
        prev: Tag,
        next: Tag,
    ) -> Option<Tag> {
        let fresh = BoundaryTag {
            start,
            last,
            prev,
            next,
            list_prev: marker(kind),
            list_next: NIL,
        };
        if self.unused != NIL {
            let t = self.unused;
            self.unused = self.tag(t).next;
            *self.tag_mut(t) = fresh;
            Some(t)
        } else if self.tags.len() < self.max_tags {
            self.tags.push(fresh);
            Some((self.tags.len() - 1) as Tag)
        } else {
            None
        }
    }

    /// Number of free slab slots, counting room to grow.
    pub(super) fn tags_available(&self, want: usize) -> bool {
        if self.tags.len() + want <= self.max_tags {
            return true;
        }
        let mut n = 0;
        let mut t = self.unused;
        while t != NIL && n < want {
            n += 1;
            t = self.tag(t).next;
        }
        self.tags.len() + (want - n) <= self.max_tags
    }

    /// Returns tag `t`'s slot to the slab's unused list.
    pub(super) fn drop_tag(&mut self, t: Tag) {
        let unused = self.unused;
        let tag = self.tag_mut(t);
        tag.list_prev = UNUSED;
        tag.next = unused;
        tag.prev = NIL;
        self.unused = t;
    }

    /// Links `t` into the address list right after `after` (or first, if NIL).
    pub(super) fn link_after(&mut self, after: Tag, t: Tag) {
        let next = if after == NIL {
            self.head
        } else {
            self.tag(after).next
        };
        self.tag_mut(t).prev = after;
        self.tag_mut(t).next = next;
        if after == NIL {
            self.head = t;
        } else {
            self.tag_mut(after).next = t;
        }
        self.relink_prev(next, t);
    }

    /// Takes `t` out of the address list (its own links are left as they were).
    pub(super) fn unlink(&mut self, t: Tag) {
        let (p, n) = (self.tag(t).prev, self.tag(t).next);
        if p == NIL {
            self.head = n;
        } else {
            self.tag_mut(p).next = n;
        }
        self.relink_prev(n, p);
    }

    /// Sets the address-list predecessor of `t` (or the tail, if `t` is NIL) to `prev`.
    pub(super) fn relink_prev(&mut self, t: Tag, prev: Tag) {
        if t == NIL {
            self.tail = prev;
        } else {
            self.tag_mut(t).prev = prev;
        }
    }

    // ---- spans --------------------------------------------------------------------------

    /// Checks `[base, base + size)` against the arena's space and quantum.
    pub(super) fn check_span(&self, base: u64, size: u64) -> Result<Range, AddSpanError> {
        if size == 0 {
            return Err(AddSpanError::ZeroSize);
        }
        let range = match self.arch {
            Some(arch) => arch.check_range(base, size),
            None => Range::new(base, size),
        }
        .map_err(AddSpanError::BadRange)?;
        if base & (self.quantum - 1) != 0 || size & (self.quantum - 1) != 0 {
            return Err(AddSpanError::Misaligned);
        }
        Ok(range)
    }

    /// Links `range` in as a span (imported from the source or static), wholly free, unless it
    /// overlaps a span or no tags are left.
    pub(super) fn insert_span(&mut self, range: Range, imported: bool) -> Result<(), AddSpanError> {
        // The span before (start <= ours) and the span after (start > ours); either may
        // overlap ours.
        let before = self.spans.range(..=range.start()).next_back();
        let after = self
            .spans
            .range(range.start().saturating_add(1)..)
            .next()
            .map(|(&s, &t)| (s, t));
        let overlapping = before
            .filter(|&(_, &t)| self.tag(t).last >= range.start())
            .map(|(&s, _)| s)
            .or(after.map(|(s, _)| s).filter(|&s| s <= range.last()));
        #[cfg(feature = "seeded-bugs")]
        let overlapping = self.insert_overlap_never_fires(overlapping);
        if let Some(existing) = overlapping {
            return Err(AddSpanError::Overlaps { existing });
        }
        if !self.tags_available(2) {
            return Err(AddSpanError::NoTags);
        }
        let (Some(span), Some(seg)) = (
            self.new_tag(range.start(), range.last(), Kind::Span { imported }),
            self.new_tag(range.start(), range.last(), Kind::Free),
        ) else {
            return Err(AddSpanError::NoTags);
        };
        // Link before the next span's tag, i.e. after the tag preceding it (or at the tail).
        let prev = match after {
            Some((_, t)) => self.tag(t).prev,
            None => self.tail,
        };
        self.link_after(prev, span);
        self.link_after(span, seg);
        self.list_insert(seg);
        self.size_index_add(seg);
        self.spans.insert(range.start(), span);
        self.total += u128::from(range.size());
        Ok(())
    }

    /// SEEDED BUG InsertOverlapNeverFires (Linux 2016): the overlap test cannot fire (the
    /// start of the span the new one overlaps, `overlapping`, is dropped).
    #[cfg(feature = "seeded-bugs")]
    fn insert_overlap_never_fires(&self, overlapping: Option<u64>) -> Option<u64> {
        overlapping.filter(|_| !self.bug(Bug::InsertOverlapNeverFires))
    }
}

/// Iterator over an arena's spans and segments in address order.
pub struct Segments<'a, S: SpanSource> {
    /// The arena walked.
    pub(super) arena: &'a Arena<S>,
    /// The next tag to yield (NIL at the end).
    pub(super) next: Tag,
}

impl<S: SpanSource> Iterator for Segments<'_, S> {
    type Item = SegmentView;
    fn next(&mut self) -> Option<SegmentView> {
        if self.next == NIL {
            return None;
        }
        let t = self.arena.tag(self.next);
        self.next = t.next;
        let range = Range::from_inclusive(t.start, t.last).expect("tags are non-empty");
        Some(match t.kind() {
            Kind::Span { imported } => SegmentView::Span { range, imported },
            Kind::Free => SegmentView::Free(range),
            Kind::Allocated | Kind::Unused => SegmentView::Allocated(range),
        })
    }
}
