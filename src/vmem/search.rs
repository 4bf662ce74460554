//! Validation and the searches (module comment, sections 3 and 4): a request is checked in
//! the order of [`AllocError`]'s variants; then each policy looks among the free segments
//! for one that holds a placement, the lowest in it that [`Arena::place`] finds under the
//! constraints.

use super::freelist::{list_of, MAX_LAG};
use super::tags::{Tag, NIL};
use super::types::Checked;
use super::{round_up, AllocError, Arena, Policy, Request, SpanSource};
use crate::addr;

#[cfg(feature = "seeded-bugs")]
use crate::bugs::Bug;

impl<S: SpanSource> Arena<S> {
    // ---- validation and placement (section 4) -------------------------------------------

    /// Validates `req` in the order of [`AllocError`]'s variants (module comment, section 4):
    /// the size rounded up to the quantum, the alignment defaulted to it.
    pub(super) fn check_request(&self, req: &Request) -> Result<Checked, AllocError> {
        let q = self.quantum;
        if req.size == 0 {
            return Err(AllocError::ZeroSize);
        }
        let size = round_up(req.size, q).ok_or(AllocError::SizeOverflow)?;
        let align = if req.align == 0 { q } else { req.align };
        if !addr::is_pow2(align) || align < q {
            return Err(AllocError::BadAlign);
        }
        if req.phase & (q - 1) != 0 || req.phase >= align {
            return Err(AllocError::BadPhase);
        }
        if req.nocross != 0 && (!addr::is_pow2(req.nocross) || req.nocross < q) {
            return Err(AllocError::BadNocross);
        }
        if req.minaddr > req.maxaddr {
            return Err(AllocError::BadBounds);
        }
        if req.nocross != 0 {
            let over = align > req.nocross
                || match req.phase.checked_add(size).and_then(|x| round_up(x, align)) {
                    Some(x) => x > req.nocross,
                    None => true,
                };
            if over {
                return Err(AllocError::Overconstrained);
            }
        }
        Ok(Checked {
            size,
            align,
            phase: req.phase,
            nocross: req.nocross,
            minaddr: req.minaddr,
            maxaddr: req.maxaddr,
        })
    }

    /// The highest address a request with this (inclusive) `maxaddr` may use: `maxaddr`.
    #[allow(clippy::let_and_return)] // the seeded bug rebinds it
    pub(super) fn highest_allowed(&self, maxaddr: u64) -> u64 {
        #[cfg(feature = "seeded-bugs")]
        let maxaddr = self.maxaddr_exclusive(maxaddr);
        maxaddr
    }

    /// SEEDED BUG MaxaddrExclusive (NetBSD 2012): maxaddr treated as exclusive, so the last
    /// unit below it is unusable.
    #[cfg(feature = "seeded-bugs")]
    fn maxaddr_exclusive(&self, maxaddr: u64) -> u64 {
        if self.bug(Bug::MaxaddrExclusive) {
            maxaddr.saturating_sub(1)
        } else {
            maxaddr
        }
    }

    /// The lowest placement for `c` inside `[start, last]` at or above `from`.
    fn place(&self, start: u64, last: u64, from: u64, c: &Checked) -> Option<u64> {
        let lo = start.max(c.minaddr).max(from);
        let hi = last.min(self.highest_allowed(c.maxaddr));
        if lo > hi || hi - lo < c.size - 1 {
            return None;
        }
        let top = hi - (c.size - 1); // highest acceptable first address
        let mut a = addr::align_up_phase(lo, c.align, c.phase)?;
        if a > top {
            return None;
        }
        if c.nocross != 0 {
            let a_last = a + (c.size - 1);
            #[cfg(feature = "seeded-bugs")]
            let a_last = self.nocross_off_by_one(a, a_last);
            if addr::range_crosses_boundary(a, a_last, c.nocross)? {
                // Every candidate below the next boundary crosses it too.
                let boundary = (a & !(c.nocross - 1)).checked_add(c.nocross)?;
                a = addr::align_up_phase(boundary, c.align, c.phase)?;
                if a > top || addr::range_crosses_boundary(a, a + (c.size - 1), c.nocross)? {
                    return None;
                }
            }
        }
        Some(a)
    }

    /// SEEDED BUG NocrossOffByOne: the crossing test looks at the byte before the last one
    /// (`a_last` of a placement at `a`), so an allocation whose last byte is the first of the
    /// next window is accepted.
    #[cfg(feature = "seeded-bugs")]
    fn nocross_off_by_one(&self, a: u64, a_last: u64) -> u64 {
        if self.bug(Bug::NocrossOffByOne) {
            a_last.saturating_sub(1).max(a)
        } else {
            a_last
        }
    }

    // ---- the searches (section 3) ---------------------------------------------------------

    /// A free segment holding a placement for `c` under `policy`, and that placement.
    pub(super) fn search(&self, c: &Checked, policy: Policy) -> Option<(Tag, u64)> {
        match policy {
            Policy::InstantFit => self.instant_fit(c),
            Policy::BestFit => self.best_fit(c),
            Policy::FirstFit => self.address_fit(c, self.head, 0),
            Policy::NextFit => self.next_fit(c),
        }
    }

    /// InstantFit: the recent segment if it holds a placement, else the head of a list that
    /// guarantees a fit, else a scan of every list that could hold one (section 3).
    fn instant_fit(&self, c: &Checked) -> Option<(Tag, u64)> {
        // The segment the latest free made or grew: its tag, its neighbours and the index slot
        // of the freed start were just touched (a constrained request often fits where the
        // freed allocation was: with an alignment, at its aligned start).
        if let Some(seg) = self.tags.get(self.recent as usize).filter(|s| s.is_free()) {
            if let Some(a) = self.place(seg.start, seg.last, 0, c) {
                return Some((self.recent, a));
            }
        }
        // Fast path: every segment on list n >= ceil(log2(size + align - q)) holds a
        // placement when only size and alignment matter; with other constraints we still try
        // the head of each such list before the full scan.
        let pad = c.align - self.quantum;
        let fallback = true;
        #[cfg(feature = "seeded-bugs")]
        let fallback = self.instant_fit_no_fallback(fallback);
        #[cfg(feature = "seeded-bugs")]
        let (pad, fallback) = self.align_pad_no_fallback(c, pad, fallback);
        if let Some(need) = c.size.checked_add(pad) {
            let n = addr::log2_floor(need) + u32::from(!addr::is_pow2(need));
            let mut map = if n >= 64 {
                0
            } else {
                self.freemap & (u64::MAX << n)
            };
            while map != 0 {
                let l = map.trailing_zeros() as usize;
                map &= map - 1;
                let t = self.lists[l];
                let seg = self.tag(t);
                if let Some(a) = self.place(seg.start, seg.last, 0, c) {
                    return Some((t, a));
                }
            }
        }
        if fallback {
            self.scan_lists(c)
        } else {
            None
        }
    }

    /// SEEDED BUG InstantFitNoFallback (ANCHORS section 1): no `fallback` after the lists that
    /// guarantee a fit, so a free segment that holds the request is never found.
    #[cfg(feature = "seeded-bugs")]
    fn instant_fit_no_fallback(&self, fallback: bool) -> bool {
        fallback && !self.bug(Bug::InstantFitNoFallback)
    }

    /// SEEDED BUG AlignPadNoFallback (Linux 2019-2021): the search pads the size by
    /// `align - 1` (not `pad`) and never falls back, so exactly fitting aligned blocks are
    /// missed.
    #[cfg(feature = "seeded-bugs")]
    fn align_pad_no_fallback(&self, c: &Checked, pad: u64, fallback: bool) -> (u64, bool) {
        if self.bug(Bug::AlignPadNoFallback) && pad > 0 {
            (c.align - 1, false)
        } else {
            (pad, fallback)
        }
    }

    /// The first free segment in (size, start) order, from `c.size` up, that holds a
    /// placement. Needs the size index ([`Arena::xalloc_general`] builds it before searching).
    fn best_fit(&self, c: &Checked) -> Option<(Tag, u64)> {
        let ix = self.by_size.as_ref()?;
        ix.range((c.size, 0)..).find_map(|(_, &t)| {
            let seg = self.tag(t);
            self.place(seg.start, seg.last, 0, c).map(|a| (t, a))
        })
    }

    /// Scans every free list that could hold a fit, smallest list first, and returns the first
    /// fit found.
    fn scan_lists(&self, c: &Checked) -> Option<(Tag, u64)> {
        // A segment of class k may sit as low as list k - MAX_LAG (section 2).
        let first = list_of(c.size).saturating_sub(MAX_LAG) as u32;
        let mut map = self.freemap & (u64::MAX << first);
        while map != 0 {
            let l = map.trailing_zeros() as usize;
            map &= map - 1;
            let mut t = self.lists[l];
            while t != NIL {
                let seg = self.tag(t);
                if seg.size() >= c.size {
                    if let Some(a) = self.place(seg.start, seg.last, 0, c) {
                        return Some((t, a));
                    }
                }
                t = seg.list_link();
            }
        }
        None
    }

    /// The lowest placement at or above `from`, walking the address list from tag `t`.
    fn address_fit(&self, c: &Checked, mut t: Tag, from: u64) -> Option<(Tag, u64)> {
        while t != NIL {
            let seg = self.tag(t);
            if seg.is_free() && seg.last >= from && seg.size() >= c.size {
                if let Some(a) = self.place(seg.start, seg.last, from, c) {
                    return Some((t, a));
                }
            }
            t = seg.next;
        }
        None
    }

    /// NextFit: the lowest placement at or above the rotor, else the lowest overall.
    fn next_fit(&self, c: &Checked) -> Option<(Tag, u64)> {
        if let Some(rotor) = self.rotor {
            // Start at the span holding the rotor (or the first span above it).
            let start = self
                .spans
                .range(..=rotor)
                .next_back()
                .or_else(|| self.spans.range(rotor..).next())
                .map(|(_, &t)| t);
            if let Some(t) = start {
                if let Some(hit) = self.address_fit(c, t, rotor) {
                    return Some(hit);
                }
            }
        }
        self.address_fit(c, self.head, 0)
    }
}
