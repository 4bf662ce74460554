//! The 2011 free-area cache of seed 002 (module comment, section 3.2), on top of the 2008
//! walk: the search starts from the area the last search ended at, unless the request is
//! more permissive than the one that set the cache. With Hugh Dickins' corrections: the
//! cache-hit start is re-aligned, the hole test and the walk count the guard page, one walk
//! loop serves both starts.

use core::ops::Bound;

use super::types::{Checked, InvariantError, PageAlign};
use super::{Area, Engine, VmapSpace};
use crate::addr::PAGE_SIZE;

#[cfg(feature = "seeded-bugs")]
use crate::bugs::Bug;

/// The cache's four globals (Linux's `free_vmap_cache`, `cached_hole_size`, `cached_vstart`,
/// `cached_align`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct CacheState {
    /// Start of the area the last successful search placed (or, after a purge, the area
    /// below the lowest purged one); `None` when the cache is empty.
    pub(super) area: Option<u64>,
    /// At least the largest hole the searches since the last reset skipped (measured from
    /// its first aligned address to the next area): requests whose extent fits it must
    /// search from the window start.
    pub(super) hole: u64,
    /// The window start of the last request.
    pub(super) vstart: u64,
    /// The effective alignment of the last request.
    pub(super) align: u64,
    /// Searches that started from the cache (tests check the cache is really used).
    #[cfg(test)]
    pub(super) hits: u64,
}

impl CacheState {
    /// An empty cache for a space starting at `start`.
    pub(super) fn new(start: u64) -> CacheState {
        CacheState {
            area: None,
            hole: 0,
            vstart: start,
            align: PAGE_SIZE,
            #[cfg(test)]
            hits: 0,
        }
    }
}

impl VmapSpace {
    /// The cache state (the space's strategy is `Cache`).
    fn cache_state(&self) -> Option<CacheState> {
        match self.engine {
            Engine::Cache(st) => Some(st),
            _ => None,
        }
    }

    /// The lowest fit of `c`, searched from the cache if it may be used; updates the cache
    /// as `alloc_vmap_area` did (the caller records the new area as the cache).
    pub(super) fn cache_search(&mut self, c: &Checked) -> Option<u64> {
        let mut st = self.cache_state()?;
        let found = self.cache_search_with(&mut st, c);
        self.engine = Engine::Cache(st);
        found
    }

    fn cache_search_with(&self, st: &mut CacheState, c: &Checked) -> Option<u64> {
        let a = c.align;
        // The size the hole test and the walk compare: the extent, guard page included.
        let fit_size = self.cache_fit_size(c);
        // Invalidate the cache if the request is more permissive: it may fit a hole below
        // the cached area (Hugh's `size < cached_hole_size`, counting the guard page: the
        // request fits the hole iff its extent is at most the hole), or it may use addresses
        // below the last window start, or alignments the last search skipped.
        if st.area.is_none() || fit_size <= st.hole || c.ws < st.vstart || a.get() < st.align {
            st.area = None;
            st.hole = 0;
        }
        // Record the parameters the cache now stands for.
        st.vstart = c.ws;
        st.align = a.get();

        // The starting point: ALIGN(cache end, align), or the aligned window start.
        if let Some(cs) = st.area {
            // One look-up gives the cached area and the areas after it (Linux's loop starts
            // with `first` = the cached area itself; it never holds the candidate).
            let mut rest = self.areas.range((Bound::Included(cs), Bound::Unbounded));
            let at = match rest.next() {
                Some((&k, cached)) if k == cs => Some(self.cache_start(self.va_end(cs, cached), a)),
                _ => None,
            };
            match at {
                Some(addr) if addr >= u128::from(c.ws) => {
                    #[cfg(test)]
                    {
                        st.hits += 1;
                    }
                    return self.cache_walk(st, c, fit_size, addr, rest);
                }
                // goto nocache: the cached area lies below this window.
                _ => {
                    st.area = None;
                    st.hole = 0;
                }
            }
        }
        let addr = self.walk_align(u128::from(c.ws), a);
        let areas = self.areas_reaching(addr)?;
        self.cache_walk(st, c, fit_size, addr, areas)
    }

    /// From the starting point `addr` and the areas from there on, walk until a hole holds
    /// the request, noting the largest hole skipped; then the window's end decides.
    fn cache_walk<'a>(
        &self,
        st: &mut CacheState,
        c: &Checked,
        fit_size: u64,
        mut addr: u128,
        areas: impl Iterator<Item = (&'a u64, &'a Area)>,
    ) -> Option<u64> {
        let e = u128::from(c.extent);
        let vend = c.vend();
        for (&start, area) in areas {
            if self.skips_area(area) {
                continue;
            }
            // while (addr + size > first->va_start && addr + size <= vend)
            if addr + u128::from(fit_size) <= u128::from(start) || addr + e > vend {
                break;
            }
            if addr + u128::from(st.hole) < u128::from(start) {
                st.hole = (u128::from(start) - addr) as u64;
            }
            addr = self.walk_align(self.va_end(start, area), c.align);
        }
        // found: if (addr + size > vend) goto overflow
        (addr + e <= vend).then_some(addr as u64)
    }

    /// The size the cache's hole test and walk compare with: the extent.
    fn cache_fit_size(&self, c: &Checked) -> u64 {
        #[cfg(feature = "seeded-bugs")]
        if let Some(size) = self.cache_hole_forgets_guard(c) {
            return size;
        }
        c.extent
    }

    /// SEEDED BUG CacheHoleForgetsGuard (Nick Piggin's first version, ANCHORS 6 #2, corrected
    /// by Hugh Dickins in seed 002): the hole test `size <= cached_hole_size` and the walk's
    /// `addr + size > first->va_start` use the size without the guard page, so a request is
    /// placed where its guard page overlaps the next area. `None` if the bug is off, else
    /// the size both tests use.
    #[cfg(feature = "seeded-bugs")]
    fn cache_hole_forgets_guard(&self, c: &Checked) -> Option<u64> {
        self.bug(Bug::CacheHoleForgetsGuard).then_some(c.pages)
    }

    /// Where a search from the cache starts: ALIGN(end of the cached area, align), re-aligned
    /// whatever the alignment (Hugh's fix of the BUG_ON).
    fn cache_start(&self, end: u128, a: PageAlign) -> u128 {
        #[cfg(feature = "seeded-bugs")]
        if let Some(unaligned) = self.cache_start_not_realigned(end) {
            return unaligned;
        }
        self.walk_align(end, a)
    }

    /// SEEDED BUG CacheStartNotRealigned (the 2010 cache patch, ANCHORS 6 #1: the
    /// `BUG_ON(first->va_start < addr)` Hugh Dickins hit with align 0x4000 and 0x8000): the
    /// start of a search from the cache is the cached area's end, not aligned again, so a
    /// request with an alignment above a page that fits right there gets an unaligned
    /// address. `None` if the bug is off.
    #[cfg(feature = "seeded-bugs")]
    fn cache_start_not_realigned(&self, end: u128) -> Option<u128> {
        self.bug(Bug::CacheStartNotRealigned).then_some(end)
    }

    /// The cache's part of removing the area at `start` (at a purge, before it leaves the
    /// map; purges remove areas in address order): drop the cache if the area ends below
    /// `cached_vstart`, move it to the area before this one if this one is at or below it.
    /// `cached_hole_size` and `cached_align` stay ("it won't go very wrong").
    pub(super) fn cache_forget(&mut self, start: u64, area: &Area) {
        let Some(mut st) = self.cache_state() else {
            return;
        };
        if let Some(cs) = st.area {
            if self.va_end(start, area) < u128::from(st.vstart) {
                st.area = None;
            } else if start <= cs {
                st.area = self.areas.range(..start).next_back().map(|(&s, _)| s);
            }
        }
        self.engine = Engine::Cache(st);
    }

    /// The cache's invariants: its parameters are valid, the cached area exists, and every
    /// hole below it, from `cached_vstart` and at `cached_align`, is at most
    /// `cached_hole_size` (what makes a search from the cache find the lowest fit).
    pub(super) fn check_cache(&self, st: &CacheState) -> Result<(), InvariantError> {
        let (s, l) = (self.cfg.start, self.cfg.last);
        let Some(a) = PageAlign::new_exact(st.align) else {
            return Err(InvariantError::CacheParamsInvalid {
                vstart: st.vstart,
                align: st.align,
            });
        };
        if st.vstart < s || st.vstart > l {
            return Err(InvariantError::CacheParamsInvalid {
                vstart: st.vstart,
                align: st.align,
            });
        }
        let Some(cs) = st.area else { return Ok(()) };
        if !self.areas.contains_key(&cs) {
            return Err(InvariantError::CacheAreaMissing { start: cs });
        }
        // Holes below the cached area: between consecutive areas, and from cached_vstart.
        let mut prev_end = u128::from(st.vstart);
        for (&start, area) in self.areas.range(..=cs) {
            let from = super::types::align_up_wide(prev_end.max(u128::from(st.vstart)), a);
            if from < u128::from(start) {
                let hole = (u128::from(start) - from) as u64;
                if hole > st.hole {
                    return Err(InvariantError::CacheHoleUnderestimated {
                        hole_start: from as u64,
                        hole,
                        cached_hole_size: st.hole,
                    });
                }
            }
            prev_end = prev_end.max(u128::from(start) + u128::from(area.extent));
        }
        Ok(())
    }
}
