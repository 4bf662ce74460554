//! The 2008 search (module comment, section 3.1): walk the areas, busy and lazily freed, in
//! address order from the first one that reaches the aligned window start, moving the
//! candidate past each area it collides with. Also the steps the 2011 cache shares with it
//! (`cache.rs`): ALIGN() of a candidate and the end of an area, each with the seeded bug
//! that breaks it in the C original's word-sized arithmetic.

use core::ops::Bound;

use super::types::{align_up_wide, Checked, PageAlign};
use super::{Area, VmapSpace};

#[cfg(feature = "seeded-bugs")]
use crate::bugs::Bug;

impl VmapSpace {
    /// The lowest fit of `c` by the 2008 walk; O(log areas) to find the first area, then one
    /// step per area below the fit.
    pub(super) fn walk_search(&self, c: &Checked) -> Option<u64> {
        let e = u128::from(c.extent);
        let vend = c.vend();
        // addr = ALIGN(vstart, align)
        let mut addr = self.walk_align(u128::from(c.ws), c.align);
        for (&start, area) in self.areas_reaching(addr)? {
            if self.skips_area(area) {
                continue;
            }
            // while (addr + size > first->va_start && addr + size <= vend)
            if addr + e <= u128::from(start) || addr + e > vend {
                break;
            }
            // addr = ALIGN(first->va_end, align)
            addr = self.walk_align(self.va_end(start, area), c.align);
        }
        // found: if (addr + size > vend) goto overflow
        (addr + e <= vend).then_some(addr as u64)
    }

    /// The areas in address order from the first whose last byte is at or above `addr` (the
    /// one below `addr` can only be the area just before it: areas do not overlap); `None`
    /// if `addr` is past the top of the space (no placement there).
    pub(super) fn areas_reaching(
        &self,
        addr: u128,
    ) -> Option<impl Iterator<Item = (&u64, &Area)> + '_> {
        let addr = u64::try_from(addr).ok()?;
        let from = match self.areas.range(..addr).next_back() {
            Some((&s, a)) if a.last >= addr => s,
            _ => addr,
        };
        Some(self.areas.range((Bound::Included(from), Bound::Unbounded)))
    }

    /// ALIGN(x, align) as the walking searches compute it: in wide arithmetic, so a huge
    /// alignment gives an address past the top (no placement), never a wrapped one.
    pub(super) fn walk_align(&self, x: u128, a: PageAlign) -> u128 {
        #[cfg(feature = "seeded-bugs")]
        if let Some(wrapped) = self.align_wraps_to_zero(x, a) {
            return wrapped;
        }
        align_up_wide(x, a)
    }

    /// SEEDED BUG AlignWrapsToZero (Linux 2019, ANCHORS 6 #4): ALIGN() in word-sized
    /// arithmetic, `(x + align - 1) & ~(align - 1)` modulo 2^64, wraps to 0 for a huge
    /// alignment near the top of the space, and nothing checks `addr < vstart` afterwards:
    /// the walk restarts at 0, below the window (and below the space), and hands that out.
    /// `None` if the bug is off.
    #[cfg(feature = "seeded-bugs")]
    fn align_wraps_to_zero(&self, x: u128, a: PageAlign) -> Option<u128> {
        self.bug(Bug::AlignWrapsToZero).then(|| {
            let m = a.get() - 1;
            u128::from((x as u64).wrapping_add(m) & !m)
        })
    }

    /// The end of an area (exclusive, guard page included), as `va_end = addr + size`:
    /// `2^64` for an area ending at the top of the space.
    pub(super) fn va_end(&self, start: u64, area: &Area) -> u128 {
        let end = u128::from(start) + u128::from(area.extent);
        #[cfg(feature = "seeded-bugs")]
        if let Some(wrapped) = self.top_end_wraps_to_zero(end) {
            return wrapped;
        }
        end
    }

    /// SEEDED BUG TopEndWrapsToZero (Linux 2013, ANCHORS 6 #3, Hugh Dickins' question in seed
    /// 002): `va_end = addr + size` is a word, so an area ending at the very top of the space
    /// gets `va_end == 0`. The shipped overflow test `addr + size - 1 < addr` is right for
    /// that area itself (it fits, and is accepted); the harm comes after: every later
    /// `addr = ALIGN(first->va_end, align)` that walks past it restarts at 0, and nothing
    /// checks `addr < vstart`, so the walk runs past the top and places the request at
    /// address 0, outside the window. `None` if the bug is off, else the wrapped end.
    #[cfg(feature = "seeded-bugs")]
    fn top_end_wraps_to_zero(&self, end: u128) -> Option<u128> {
        self.bug(Bug::TopEndWrapsToZero)
            .then_some(end & u128::from(u64::MAX))
    }

    /// Whether the walking searches step over `area` as if it were free: never, unless the
    /// seeded bug LazyReusedBeforePurge is on and the area is lazily freed.
    pub(super) fn skips_area(&self, area: &Area) -> bool {
        #[cfg(feature = "seeded-bugs")]
        if self.lazy_reused_before_purge(area) {
            return true;
        }
        let _ = area;
        false
    }
}
