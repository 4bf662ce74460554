//! Lazy free and the batched purge (module comment, section 4): a freed area keeps its range
//! until more than `lazy_max_pages` pages wait, then one purge removes every lazily freed
//! area and reports the single TLB flush that covers them all.

use alloc::vec::Vec;

use super::types::{AreaState, FreeError, Purge};
use super::{Area, Engine, VmapSpace};
use crate::addr::PAGE_SIZE;

#[cfg(feature = "seeded-bugs")]
use crate::bugs::Bug;

impl VmapSpace {
    /// Frees the busy area starting at `addr` lazily: its range (guard page included) stays
    /// reserved until the next purge, which happens now if more than `lazy_max_pages` pages
    /// are waiting.
    pub fn free(&mut self, addr: u64) -> Result<(), FreeError> {
        let area = match self.areas.get_mut(&addr) {
            Some(a) if a.state == AreaState::Busy => a,
            _ => return Err(FreeError::NotBusy),
        };
        area.state = AreaState::Lazy;
        let pages = area.extent / PAGE_SIZE;
        self.busy = self.busy.saturating_sub(1);
        self.busy_pages = self.busy_pages.saturating_sub(pages);
        self.lazy.push(addr);
        self.lazy_pages = self.lazy_pages.saturating_add(pages);
        if self.lazy_pages > self.cfg.lazy_max_pages {
            self.purge_now();
        }
        Ok(())
    }

    /// Purges every lazily freed area now (nothing happens, and nothing is reported, if
    /// there is none).
    pub fn purge(&mut self) {
        self.purge_now();
    }

    /// The most recent purge not yet taken (at most one happens per operation).
    pub fn take_purge(&mut self) -> Option<Purge> {
        self.pending.take()
    }

    /// Lazily freed pages waiting for a purge (guard pages counted).
    pub fn lazy_pages(&self) -> u64 {
        self.lazy_pages
    }

    /// Removes every lazily freed area, in address order (as Linux's purge list), giving its
    /// range back to the strategy, and records the purge.
    pub(super) fn purge_now(&mut self) {
        if self.lazy.is_empty() {
            return;
        }
        let mut starts = core::mem::take(&mut self.lazy);
        starts.sort_unstable();
        starts.dedup();
        let mut flush: Option<(u64, u64)> = None;
        let mut count = 0u64;
        for start in starts {
            let area = match self.areas.get(&start) {
                Some(&a) if a.state == AreaState::Lazy => a,
                _ => continue,
            };
            self.cache_forget(start, &area);
            self.areas.remove(&start);
            self.used = self.used.saturating_sub(u128::from(area.extent));
            if let Engine::Tree(t) = &mut self.engine {
                t.give_back(start, area.last);
            }
            let top = self.flush_top(start, &area);
            flush = Some(match flush {
                Some((lo, hi)) => (lo.min(start), hi.max(top)),
                None => (start, top),
            });
            count += 1;
        }
        let pages = core::mem::take(&mut self.lazy_pages);
        self.lazy = Vec::new();
        if let Some((start, last)) = flush {
            self.purges += 1;
            self.pending = Some(Purge {
                start,
                last,
                areas: count,
                pages,
            });
        }
    }

    /// The highest address a purge must flush for `area`: its last byte, guard included.
    fn flush_top(&self, start: u64, area: &Area) -> u64 {
        #[cfg(feature = "seeded-bugs")]
        if self.purge_flushes_to_max_start() {
            return start;
        }
        let _ = start;
        area.last
    }

    /// SEEDED BUG PurgeFlushesToMaxStart: the purge's flush range is `[min start, max start]`
    /// instead of reaching the highest purged area's last byte, so every page of that area
    /// past its first (and its guard page) keeps its stale TLB entries.
    #[cfg(feature = "seeded-bugs")]
    fn purge_flushes_to_max_start(&self) -> bool {
        self.bug(Bug::PurgeFlushesToMaxStart)
    }

    /// SEEDED BUG LazyReusedBeforePurge: the walking searches (Walk and Cache) step over a
    /// lazily freed area as if its range were already free, so it is handed out again before
    /// the purge's TLB flush: CPUs may still translate it through the previous owner's
    /// stale entries.
    #[cfg(feature = "seeded-bugs")]
    pub(super) fn lazy_reused_before_purge(&self, area: &Area) -> bool {
        area.state == AreaState::Lazy && self.bug(Bug::LazyReusedBeforePurge)
    }
}
