//! # vmap: Linux's vmalloc address-space allocator (mm/vmalloc.c, 2008 to 2019)
//!
//! ## 1. Concepts (`types.rs`)
//!
//! - A **space** ([`VmapSpace`]) is the range `[start, last]` (both inclusive) that vmalloc,
//!   vmap and ioremap take kernel virtual addresses from: IA-32's vmalloc range below 4 GiB,
//!   PAE's, x86_64's 4- and 5-level ranges, or one ending at the very top of the 64-bit space
//!   (`last == u64::MAX`, where the exclusive end `last + 1` is 2^64). The allocator knows no
//!   architecture: it hands out numbers. `start` and `last + 1` are page-aligned.
//! - An **area** is one allocation: `size` bytes (whole pages) at a `start` aligned as asked,
//!   optionally followed by one **guard page**. Its **extent** is `size` plus the guard page:
//!   no other area may overlap any byte of it, so a linear overrun of the area faults on the
//!   guard page instead of corrupting its neighbour. (Linux first kept the guard page inside
//!   the allocator, then moved it up, `size += PAGE_SIZE` in the vmalloc layer; `VM_NO_GUARD`
//!   skips it. Here the request says whether it wants one.)
//! - An area is **busy** from its allocation to its free, then **lazily freed**: its range
//!   stays reserved, because CPUs may still hold TLB entries for it, until a **purge** removes
//!   it. Addresses in no area are **free**. Busy, lazily freed and free ranges partition the
//!   space.
//!
//! ## 2. Requests and the placement rule (`types.rs`)
//!
//! A [`VmapRequest`] is validated in a fixed order, the first failure wins ([`AllocError`]):
//! size 0; alignment 0 or not a power of two; window inverted or outside the space; the size
//! rounded up to pages, or that plus the guard page, past `u64::MAX`; then no placement (after
//! one purge and retry). Then `pages = roundup(size, PAGE_SIZE)`, `extent = pages + guard` and
//! `a = max(align, PAGE_SIZE)`. The **placement** is the lowest `addr` with `addr % a == 0`,
//! `ws <= addr`, `addr + extent - 1 <= wl`, and `[addr, addr + extent - 1]` overlapping no
//! area's extent, busy or lazily freed. Every strategy returns exactly that address: a huge
//! alignment simply finds none (`NoSpace`, as test_vmalloc's align_shift_alloc expects).
//! All address arithmetic that could pass 2^64 (an end, an ALIGN()) is done in `u128`, so a
//! space ending at `u64::MAX` works like any other and nothing wraps.
//!
//! ## 3. Three search strategies, chosen at construction ([`Strategy`])
//!
//! All three keep the areas in one ordered map by start (`areas`: Linux's rbtree of busy
//! areas plus the address-ordered `vmap_area_list`, which a `BTreeMap` is at once); they
//! differ in how they find the lowest fit and what else they keep.
//!
//! ### 3.1 Walk (2008, Nick Piggin's rewrite; `walk.rs`)
//!
//! Start at `addr = ALIGN(ws, a)`; find the first area reaching `addr`; while the candidate
//! `[addr, addr + extent)` reaches into the area (and still ends inside the window), move it
//! to `ALIGN(end of that area, a)` and look at the next area. The first gap that holds it is
//! the lowest fit. Cost: one step per area below the fit, O(n) when the areas pile up from
//! the window start, which is exactly what lazy freeing does: freed areas stay until a purge,
//! so a vmalloc/vfree-heavy workload walks a chain of thousands of them on every allocation
//! (the regressions Steven Whitehouse saw in GFS2 and Avi Kivity in KVM).
//!
//! ### 3.2 Cache (2011, seed 002: Nick Piggin with Hugh Dickins' corrections; `cache.rs`)
//!
//! The walk, started where the last search ended, as the user-space `free_area_cache` of
//! mmap did: `free_vmap_cache` names the area the last search placed, `cached_hole_size` is
//! (at least) the largest hole the searches skipped below it, and `cached_vstart` and
//! `cached_align` are the last request's window start and alignment. A search starts at
//! `ALIGN(end of the cached area, a)` unless the cache is empty or the request is **more
//! permissive**, in which case the cache is reset and the walk starts at the window start:
//! its extent fits the cached hole (Hugh's `size < cached_hole_size`, which counts the
//! guard page: here `extent <= cached_hole_size`, which also covers no-guard requests), its
//! window starts below `cached_vstart`, or its alignment is below `cached_align`. A cache
//! start below the window start also falls back to the full walk. When a purge removes an
//! area the cache is dropped if that area ends below `cached_vstart`, and moved to the area
//! before it if the area is at or below the cached one. Hugh's corrections are all here:
//! the cache-hit start is re-aligned (the `BUG_ON(first->va_start < addr)` he hit with
//! 0x4000 and 0x8000 alignments), and the hole test and the walk count the guard page.
//!
//! The seed's promise, checked by the harness against the other two strategies and the
//! oracle: **allocation results are identical with and without the cache.** The reset rules
//! make it so: every aligned hole below the cached area, from `cached_vstart` at
//! `cached_align`, is at most `cached_hole_size` (section 7), so a request that is not more
//! permissive cannot fit below the cache. On a steady workload the walk becomes amortized
//! O(1). It was **removed in 2019** (Uladzislau Rezki): requests with more permissive
//! parameters (a smaller size, a lower window, a smaller alignment) keep resetting it, and a
//! reset search is the full O(n) walk again: milliseconds per allocation on embedded boards.
//!
//! ### 3.3 Tree (2019, Uladzislau Rezki; `tree.rs`)
//!
//! The FREE blocks in a balanced tree keyed by start (here an AVL tree in an index-linked
//! slab), each node holding its subtree's largest block. The lowest fit descends to the
//! lowest block that holds the request once aligned, skipping every subtree whose largest
//! block is smaller than the extent, and checking alignment inside each block it reaches
//! (never padding the size by `align - 1`, which misses exact aligned fits: ANCHORS 6 #6).
//! O(log n) for page-aligned requests; a larger alignment may also visit blocks that are
//! large enough but hold no aligned range. Allocation cuts the block in one of four ways
//! (whole, left edge, right edge, middle); a purge gives each range back, merged with the
//! free blocks that touch it. Linux measured 3.3x (x86 laptop) to 7.5x (HiKey960) fewer
//! cycles on test_vmalloc, and a full run going from 101 minutes to 57 seconds.
//!
//! ## 4. Lazy free and purge (`lazy.rs`)
//!
//! [`VmapSpace::free`] takes a busy area's start (anything else is [`FreeError::NotBusy`],
//! double frees included) and makes the area lazily freed: `lazy_pages` grows by its extent
//! in pages (guard page counted). If that leaves `lazy_pages > lazy_max_pages` (Linux: 32 MiB
//! times log2 of the CPUs, in pages; here part of [`VmapConfig`]), the same call purges. A
//! purge removes every lazily freed area at once (in address order, as Linux's purge list)
//! and stands for one TLB flush on every CPU over `[lowest start, highest last byte]`, guard
//! pages included, reported as a [`Purge`] through [`VmapSpace::take_purge`]. An allocation
//! that finds no placement while areas are lazily freed purges once and searches again.
//! [`VmapSpace::purge`] purges explicitly. At most one purge happens per operation; a purge
//! with nothing lazily freed does nothing and is not reported.
//!
//! ## 5. Errors and observation (`types.rs`)
//!
//! One error enum per operation ([`CreateError`], [`AllocError`], [`FreeError`]); no
//! operation panics on any input. [`VmapSpace::areas`] lists the areas by start,
//! [`VmapSpace::stats`] counts them ([`VmapStats`]: pages count guard pages, as `lazy_pages`).
//!
//! ## 6. Newtypes
//!
//! `PageAlign` is an alignment the searches can use (a power of two of at least a page); a
//! `Checked` request has its size in whole pages, its extent, and a window inside the space.
//! Only validation makes either.
//!
//! ## 7. Invariants ([`VmapSpace::check_invariants`], in `invariants.rs`)
//!
//! Every area is page-aligned with a positive whole-page size and an extent of that size plus
//! its guard page, and lies inside the space; no two areas' extents overlap (so busy, lazily
//! freed and free ranges partition the space); the purge list holds exactly the lazily freed
//! areas, `lazy_pages` is the sum of their extents in pages and at most `lazy_max_pages`;
//! the counters agree with the areas. Cache: `cached_align` is a power of two of at least a
//! page, `cached_vstart` lies in the space, the cached area exists, and every hole below it
//! (from `cached_vstart`, measured from its first `cached_align`-aligned address to the next
//! area) is at most `cached_hole_size`. (Not "a real hole below it": a failed search from
//! the cache records holes above it, and a purge moves the cache down without lowering
//! `cached_hole_size`, "it won't go very wrong"; both only cause extra resets.) Tree: the
//! links form one tree over the slab (spare slots excluded), every height is right and
//! balanced, every node's subtree maximum is right, and the blocks are ordered, disjoint,
//! merged (no two touch) and exactly the complement of the areas in the space.
//!
//! ## 8. Limits
//!
//! - `PAGE_SIZE` = 4096 ([`crate::addr::PAGE_SIZE`]): the unit of sizes, alignments, starts.
//! - `lazy_max_pages`: per space, any `u64` (0 purges on every free).
//! - The space holds up to 2^64 bytes: free bytes and hole arithmetic use `u128`; a block's
//!   size is stored as `last - start` (its size minus one) so it fits a `u64`.
//! - The tree's recursion depth is its height, at most 1.44 log2(blocks + 2) (AVL).
//!
//! ## 9. Files and seeded bugs
//!
//! This file holds the space and its allocation path (validation, search dispatch, the
//! purge-and-retry, committing an area) and observation. `types.rs` (vocabulary), `walk.rs`
//! (3.1 and the ALIGN/end steps the cache shares), `cache.rs` (3.2), `tree.rs` (3.3),
//! `lazy.rs` (4), `invariants.rs` (7), `tests.rs`. Each seeded bug (feature `seeded-bugs`,
//! `crate::bugs`) is one small function marked `SEEDED BUG <Name>` beside the code it
//! breaks, switched on per space by `VmapSpace::set_bugs`: CacheHoleForgetsGuard and
//! CacheStartNotRealigned (Cache), TopEndWrapsToZero, AlignWrapsToZero and
//! LazyReusedBeforePurge (Walk and Cache), TreePadsByAlign (Tree), PurgeFlushesToMaxStart
//! (all).

mod cache;
mod invariants;
mod lazy;
mod tree;
mod types;
pub mod vmalloc;
mod walk;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::addr::PAGE_SIZE;
use cache::CacheState;
use tree::FreeTree;
use types::Checked;

pub use types::{
    AllocError, AreaState, AreaView, CreateError, FreeError, InvariantError, Purge, Strategy,
    VmapConfig, VmapRequest, VmapStats, ALL_STRATEGIES,
};
pub use vmalloc::{
    NewVmallocError, VfreeError, Vmalloc, VmallocConfig, VmallocError, VmallocInvariantError,
    DATA_POOL_BASE, MAX_DATA_FRAMES,
};

#[cfg(feature = "seeded-bugs")]
use crate::bugs::{Bug, BugSet};

/// One area (busy or lazily freed); its start is its key in the area map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Area {
    /// Bytes of the area, whole pages, excluding the guard page.
    pages: u64,
    /// `pages` plus the guard page if any.
    extent: u64,
    /// Last byte of the extent (inclusive): `start + extent - 1`, never past `u64::MAX`.
    last: u64,
    /// Whether a guard page follows the area.
    guard: bool,
    /// Busy or lazily freed.
    state: AreaState,
}

/// What a strategy keeps beside the area map.
#[derive(Clone, Debug)]
enum Engine {
    /// Nothing.
    Walk,
    /// The free-area cache.
    Cache(CacheState),
    /// The free blocks.
    Tree(FreeTree),
}

/// A vmap space; see the module comment.
#[derive(Clone, Debug)]
pub struct VmapSpace {
    /// The space and its lazy limit.
    cfg: VmapConfig,
    /// The search strategy.
    strategy: Strategy,
    /// Busy and lazily freed areas by start.
    areas: BTreeMap<u64, Area>,
    /// Starts of the lazily freed areas (the purge list), in the order they were freed.
    lazy: Vec<u64>,
    /// Lazily freed pages, guard pages counted.
    lazy_pages: u64,
    /// Busy areas.
    busy: u64,
    /// Pages of the busy areas, guard pages counted.
    busy_pages: u64,
    /// Bytes of all areas' extents.
    used: u128,
    /// Purges over the space's life.
    purges: u64,
    /// The latest purge not yet taken.
    pending: Option<Purge>,
    /// The strategy's own state.
    engine: Engine,
    /// Seeded bugs switched on (fuzz self-test only).
    #[cfg(feature = "seeded-bugs")]
    bugs: BugSet,
}

/// Where a search placed a request: the address and, for the Tree, the free block holding it.
#[derive(Clone, Copy, Debug)]
struct Placement {
    addr: u64,
    block: Option<(u64, u64)>,
}

impl VmapSpace {
    /// An empty space over `[cfg.start, cfg.last]` searched with `strategy`.
    pub fn new(cfg: VmapConfig, strategy: Strategy) -> Result<VmapSpace, CreateError> {
        if !cfg.start.is_multiple_of(PAGE_SIZE)
            || cfg.last % PAGE_SIZE != PAGE_SIZE - 1
            || cfg.start > cfg.last
        {
            return Err(CreateError::BadRange);
        }
        let engine = match strategy {
            Strategy::Walk => Engine::Walk,
            Strategy::Cache => Engine::Cache(CacheState::new(cfg.start)),
            Strategy::Tree => Engine::Tree(FreeTree::new(cfg.start, cfg.last)),
        };
        Ok(VmapSpace {
            cfg,
            strategy,
            areas: BTreeMap::new(),
            lazy: Vec::new(),
            lazy_pages: 0,
            busy: 0,
            busy_pages: 0,
            used: 0,
            purges: 0,
            pending: None,
            engine,
            #[cfg(feature = "seeded-bugs")]
            bugs: BugSet::NONE,
        })
    }

    /// The search strategy.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The configuration.
    pub fn config(&self) -> VmapConfig {
        self.cfg
    }

    /// Switch seeded bugs on (fuzz self-test only).
    #[cfg(feature = "seeded-bugs")]
    pub fn set_bugs(&mut self, bugs: BugSet) {
        self.bugs = bugs;
    }

    /// Whether seeded bug `bug` is switched on.
    #[cfg(feature = "seeded-bugs")]
    fn bug(&self, bug: Bug) -> bool {
        self.bugs.contains(bug)
    }

    // ---- allocation -----------------------------------------------------------------------

    /// Allocates a busy area at the lowest placement of `req` (module comment, section 2),
    /// purging once and searching again if nothing fits while areas are lazily freed.
    /// Returns the area's start.
    pub fn alloc(&mut self, req: &VmapRequest) -> Result<u64, AllocError> {
        let c = Checked::new(req, self.cfg.start, self.cfg.last)?;
        let mut found = self.search(&c);
        if found.is_none() && !self.lazy.is_empty() {
            self.purge_now();
            found = self.search(&c);
        }
        let p = found.ok_or(AllocError::NoSpace)?;
        self.commit(p, &c)
    }

    /// Checks `req` as [`VmapSpace::alloc`] does before it searches (section 2, checks 1-4)
    /// and returns its size in whole pages, in bytes: what a caller must back with frames
    /// before it asks for the area (the vmalloc layer). Changes nothing.
    pub fn validate(&self, req: &VmapRequest) -> Result<u64, AllocError> {
        Checked::new(req, self.cfg.start, self.cfg.last).map(|c| c.pages)
    }

    /// The strategy's lowest fit of `c`.
    fn search(&mut self, c: &Checked) -> Option<Placement> {
        match self.strategy {
            Strategy::Walk => self
                .walk_search(c)
                .map(|addr| Placement { addr, block: None }),
            Strategy::Cache => self
                .cache_search(c)
                .map(|addr| Placement { addr, block: None }),
            Strategy::Tree => self.tree_search(c),
        }
    }

    /// Records the busy area the search placed.
    fn commit(&mut self, p: Placement, c: &Checked) -> Result<u64, AllocError> {
        // The searches only return placements ending at or below the window's last byte.
        let last = p
            .addr
            .checked_add(c.extent - 1)
            .ok_or(AllocError::NoSpace)?;
        match &mut self.engine {
            Engine::Walk => {}
            Engine::Cache(st) => st.area = Some(p.addr),
            Engine::Tree(t) => {
                if let Some((bs, bl)) = p.block {
                    t.carve(bs, bl, p.addr, last);
                }
            }
        }
        let area = Area {
            pages: c.pages,
            extent: c.extent,
            last,
            guard: c.guard,
            state: AreaState::Busy,
        };
        if let Some(old) = self.areas.insert(p.addr, area) {
            // Only a seeded bug places an area at the start of another one.
            self.forget_replaced(p.addr, &old);
        }
        self.busy += 1;
        self.busy_pages = self.busy_pages.saturating_add(c.extent / PAGE_SIZE);
        self.used += u128::from(c.extent);
        Ok(p.addr)
    }

    /// Takes out of the counters an area a new one replaced in the map (possible only with
    /// a seeded bug on, which breaks the placement rule).
    fn forget_replaced(&mut self, start: u64, old: &Area) {
        self.used = self.used.saturating_sub(u128::from(old.extent));
        let pages = old.extent / PAGE_SIZE;
        match old.state {
            AreaState::Busy => {
                self.busy = self.busy.saturating_sub(1);
                self.busy_pages = self.busy_pages.saturating_sub(pages);
            }
            AreaState::Lazy => {
                self.lazy.retain(|&s| s != start);
                self.lazy_pages = self.lazy_pages.saturating_sub(pages);
            }
        }
    }

    // ---- observation --------------------------------------------------------------------

    /// Every area, busy or lazily freed, by start.
    pub fn areas(&self) -> impl Iterator<Item = AreaView> + '_ {
        self.areas.iter().map(|(&start, a)| AreaView {
            start,
            size: a.pages,
            guard: a.guard,
            state: a.state,
        })
    }

    /// Counters (O(1)).
    pub fn stats(&self) -> VmapStats {
        let size = u128::from(self.cfg.last - self.cfg.start) + 1;
        VmapStats {
            busy: self.busy,
            lazy: self.lazy.len() as u64,
            busy_pages: self.busy_pages,
            lazy_pages: self.lazy_pages,
            free_bytes: size.saturating_sub(self.used),
            purges: self.purges,
        }
    }

    /// Checks every invariant of the module comment, section 7. O(areas + free blocks).
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        invariants::check(self)
    }
}

#[cfg(test)]
mod tests;
