//! [`VmapSpace::check_invariants`]: every invariant of the module comment, section 7, checked
//! from scratch (O(areas + free blocks)).

use alloc::vec::Vec;

use super::types::{AreaState, InvariantError};
use super::{Engine, VmapSpace};
use crate::addr::PAGE_SIZE;

pub(super) fn check(s: &VmapSpace) -> Result<(), InvariantError> {
    let (lo, hi) = (s.cfg.start, s.cfg.last);
    // (start, last) of the previous area.
    let mut prev: Option<(u64, u64)> = None;
    // Sums in u128: a seeded bug may leave overlapping areas whose pages add up past u64.
    let (mut busy, mut busy_pages, mut lazy_pages, mut used) = (0u64, 0u128, 0u128, 0u128);
    let mut lazy_starts = Vec::new();
    for (&start, a) in &s.areas {
        let guard = if a.guard { PAGE_SIZE } else { 0 };
        let last = start.checked_add(a.extent.wrapping_sub(1));
        if !start.is_multiple_of(PAGE_SIZE)
            || a.pages == 0
            || !a.pages.is_multiple_of(PAGE_SIZE)
            || a.pages.checked_add(guard) != Some(a.extent)
            || last != Some(a.last)
        {
            return Err(InvariantError::AreaMalformed { start });
        }
        if start < lo || a.last > hi {
            return Err(InvariantError::AreaOutsideSpace {
                start,
                last: a.last,
            });
        }
        if let Some((ps, pl)) = prev {
            if pl >= start {
                return Err(InvariantError::AreasOverlap {
                    first: ps,
                    second: start,
                });
            }
        }
        prev = Some((start, a.last));
        let pages = u128::from(a.extent / PAGE_SIZE);
        match a.state {
            AreaState::Busy => {
                busy += 1;
                busy_pages += pages;
            }
            AreaState::Lazy => {
                lazy_pages += pages;
                lazy_starts.push(start);
            }
        }
        used += u128::from(a.extent);
    }
    let mut listed = s.lazy.clone();
    listed.sort_unstable();
    if listed != lazy_starts {
        return Err(InvariantError::LazyListWrong {
            lazy_areas: lazy_starts.len() as u64,
            listed: s.lazy.len() as u64,
        });
    }
    if lazy_pages != u128::from(s.lazy_pages) {
        return Err(InvariantError::LazyPagesWrong {
            recorded: s.lazy_pages,
            counted: u64::try_from(lazy_pages).unwrap_or(u64::MAX),
        });
    }
    if s.lazy_pages > s.cfg.lazy_max_pages {
        return Err(InvariantError::LazyOverLimit {
            lazy_pages: s.lazy_pages,
            lazy_max_pages: s.cfg.lazy_max_pages,
        });
    }
    for (counter, recorded, counted) in [
        ("busy", u128::from(s.busy), u128::from(busy)),
        ("busy_pages", u128::from(s.busy_pages), busy_pages),
        ("used bytes", s.used, used),
    ] {
        if recorded != counted {
            return Err(InvariantError::CounterWrong {
                counter,
                recorded,
                counted,
            });
        }
    }
    match &s.engine {
        Engine::Walk => Ok(()),
        Engine::Cache(st) => s.check_cache(st),
        Engine::Tree(t) => check_complement(s, &t.blocks_checked()?),
    }
}

/// The free blocks are ordered, disjoint and merged, and exactly the gaps between the areas
/// in the space.
fn check_complement(s: &VmapSpace, blocks: &[(u64, u64)]) -> Result<(), InvariantError> {
    for w in blocks.windows(2) {
        if u128::from(w[0].1) + 1 >= u128::from(w[1].0) {
            return Err(InvariantError::TreeBlocksUnmerged { start: w[1].0 });
        }
    }
    let mut gaps = Vec::with_capacity(blocks.len());
    let mut next = u128::from(s.cfg.start); // the first address not yet accounted for
    for (&start, a) in &s.areas {
        if u128::from(start) > next {
            gaps.push((next as u64, start - 1));
        }
        next = u128::from(a.last) + 1;
    }
    if next <= u128::from(s.cfg.last) {
        gaps.push((next as u64, s.cfg.last));
    }
    if gaps.as_slice() != blocks {
        let at = gaps
            .iter()
            .zip(blocks)
            .find(|(g, b)| g != b)
            .map(|(g, b)| g.0.min(b.0))
            .or_else(|| gaps.get(blocks.len()).map(|g| g.0))
            .or_else(|| blocks.get(gaps.len()).map(|b| b.0))
            .unwrap_or(s.cfg.start);
        return Err(InvariantError::TreeNotComplement { at });
    }
    Ok(())
}
