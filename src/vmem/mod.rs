//! # vmem: resource arenas (Bonwick & Adams, 2001)
//!
//! ## 1. Concepts (the tags in `tags.rs`, the interface's types in `types.rs`)
//!
//! - An **arena** ([`Arena`]) manages a set of integer ranges, usually kernel virtual
//!   addresses. It knows nothing about memory: it hands out and takes back numbers.
//! - A **span** is a range given to the arena, either by [`Arena::add_span`] (a *static* span)
//!   or *imported* from a **source** ([`SpanSource`], usually another arena) when the arena
//!   runs out. Spans never overlap. Spans are never merged: a segment never straddles two
//!   spans, so an imported span can always be handed back exactly as it came.
//! - A **segment** is a maximal piece of one span that is either wholly *allocated* (one
//!   allocation) or wholly *free*. Every address of every span is in exactly one segment.
//! - The **quantum** `q` is the arena's unit: every span, segment, size, alignment and phase is
//!   a multiple of it (sizes are rounded up to it). It is a power of two, 1 byte to 2^63.
//! - A **boundary tag** is the record of one span or segment. Tags live in a slab (`Vec`) and
//!   are linked in **address order**: each span's tag comes first, followed by the tags of its
//!   segments in increasing address order, then the next span's tag.
//!
//! Ranges are stored as first and **last** byte, both inclusive ([`crate::addr`] section 2): a
//! span may end at the very top of the address space and address 0 is an ordinary address.
//!
//! ## 2. Free lists and the free map (`freelist.rs`)
//!
//! Free segments sit on `FREELISTS` = 64 lists. A free segment of size `s` has **class**
//! `k = floor(log2 s)` (64 classes cover every size of a `u64`), and sits on list `k - d` for
//! some **lag** `d` from 0 to `MAX_LAG` = 7 (three bits in its tag hold `d`). Either way every
//! segment on list `n` has a size of at least `2^n`, which is all that instant fit relies on.
//! A segment goes on the list of its class when it becomes free or has to move; the lag lets
//! it stay where it is when a merge grows it by up to `MAX_LAG` classes and when a later carve
//! shrinks it back to its list's class: moving a segment writes its list neighbours, two tags
//! at random places (in the steady state of `benches/vmem.rs` the wider lag, against a lag of
//! at most one, cut the data cache misses of a pair at 10^5 live segments from 7.57 to 6.70
//! and its instructions from 470 to 435). Bit `n` of the **free map** is set iff list `n` is
//! non-empty, so "the smallest list that is non-empty and at least `n`" is one bit operation.
//!
//! ## 3. Allocation policies ([`Policy`]) and their contracts (`search.rs`)
//!
//! A *placement* for a request is an address `a` such that `[a, a + size)` lies inside one free
//! segment and satisfies the constraints ([`Request`]): `a % align == phase`, `minaddr <= a`,
//! `a + size - 1 <= maxaddr` (both inclusive, as NetBSD), and `[a, a + size)` does not cross a
//! multiple of `nocross`. Every policy is **complete**: it fails only if no placement exists in
//! any span (and, with a source, none could be imported). Beyond that:
//!
//! - **InstantFit** (default): O(1) for unconstrained requests. A request first tries the
//!   **recent** segment, the free segment the latest free made or grew: if it is still free
//!   and holds a placement (for an unconstrained request: is large enough), the request takes
//!   the lowest placement in it, its front if unconstrained (its tag and its neighbours were
//!   just touched, so this costs almost no cache misses; with an alignment, the freed
//!   allocation's aligned start often fits again). Otherwise take the first free
//!   segment of the smallest non-empty list `n` with `2^n >= size + align - q` (every segment
//!   there is guaranteed to hold a placement). If that fails (or constraints spoil the
//!   guarantee), fall back to scanning every segment of every list that could fit, from
//!   `floor(log2 size) - MAX_LAG` up (a segment of that class may lag). Which placement it
//!   returns is unspecified.
//! - **BestFit**: the smallest free segment that holds a placement (ties: lowest address); in
//!   it, the lowest placement. Walks the free segments in (size, address) order from `size` up
//!   and takes the first that holds a placement: O(log n) for an unconstrained request (which
//!   `alloc` serves on a fast path: the first segment from `size` up, at its front). The
//!   order is kept by a size index built on an arena's first BestFit request (section 6).
//! - **FirstFit**: the lowest placement in the arena (address-ordered first fit). O(segments).
//! - **NextFit**: the lowest placement at or above the **rotor**, else the lowest placement
//!   overall. The rotor starts at 0 and moves to the byte after each NextFit allocation; it
//!   spreads allocations over the space so that freed addresses are reused late (useful for
//!   ids and for catching use-after-free). O(segments).
//!
//! [`Arena::xalloc_at`] allocates at an exact address: it succeeds iff the whole range is free.
//!
//! ## 4. Constraints and overconstrained requests (`search.rs`)
//!
//! `align` is a power of two and a multiple of `q` (0 means `q`); `phase` is a multiple of `q`
//! below `align`; `nocross` is 0 (none) or a power of two and a multiple of `q`. As illumos
//! defines it, a request is **overconstrained** iff `nocross != 0` and
//! (`align > nocross` or `roundup(phase + size, align) > nocross`): no placement can exist.
//! Validation happens in a fixed order (see [`AllocError`]) so an oracle can predict the error.
//!
//! ## 5. Import and release (`import.rs`)
//!
//! An arena built with [`Arena::with_source`] imports a span from its source when a request
//! finds no placement. Unlike NetBSD and FreeBSD, the import carries the request's constraints
//! (align, phase, nocross, minaddr, maxaddr) down to the source, so a constrained request
//! cannot import space it cannot use (no leak, no livelock): the arena first asks for
//! `roundup(size, import_quantum)` bytes (computed without wrapping: illumos bug 3179), and if
//! the source cannot give that, for exactly `size` bytes. At most one span is kept per
//! request (a span the arena cannot use, from a source that ignored the constraints, goes
//! straight back, and the next size is asked for). An imported span is **released** to its
//! source as soon as it is wholly free, with the exact range it was imported with.
//! Exact-address allocation never imports.
//!
//! ## 6. Indexes and costs (`index.rs`, `freelist.rs`, `carve.rs`)
//!
//! - Allocated segments are indexed by start address (`AllocIndex`, in `index.rs`), so
//!   [`Arena::free`] finds its segment without a walk and can reject a never-allocated
//!   address ("bad free") and a wrong size ("wrong size"). The index is a table of 4-byte
//!   bucket heads whose chains run through the allocated tags' `list_next` (an allocated
//!   segment is on no free list): 4 to 16 bytes per allocation, nothing in the tags.
//!   [`Arena::reserve`] sizes the index and the tag slab for a known number of allocations
//!   up front (a hint that changes no result), so a caller that knows its working set does
//!   not pay for their growth while it fills.
//! - Spans are indexed by start address (a `BTreeMap`): adding a span checks its neighbours
//!   for overlap in O(log n) and links its tag in before the next span's tag.
//! - Freeing coalesces with the free neighbours in the address list: O(1).
//! - Free segments are indexed by (size, start) once the arena has served a BestFit request
//!   (a `BTreeMap`, built then from the free lists and kept from then on). An arena that never
//!   asks for BestFit never pays for it; one that does pays O(log n) on every change to a free
//!   segment, and BestFit no longer walks whole free lists (at 10^6 live segments a list holds
//!   tens of thousands).
//!
//! With many live segments the cost of a free is cache misses, not instructions: the index
//! bucket, the tag, its two neighbours, and whatever those lead to. So a tag is 32 bytes and
//! 32-byte aligned (two to a cache line, never straddling two); its kind is folded into its
//! list link (a free segment's `list_prev` is a tag or `LIST_HEAD`, any other tag's is the
//! marker of its kind); a merged free segment keeps a free neighbour's tag, so the writes go
//! to tags already read; and a segment whose list is still right for its new size (section 2)
//! stays where it is on it (no policy's contract depends on the order within a list).
//!
//! A free that merges with both neighbours keeps one neighbour's tag and absorbs the other,
//! which must leave its free list: an unlink writes both of its list neighbours, two tags at
//! random places. Instead the absorbed tag is **parked**: left on its list, out of the
//! address list, the arena's one parked tag. An aligned allocation placed inside the merged
//! segment right after (the steady state of aligned allocations: the freed allocation left
//! gaps on both sides, and the new one goes at the same aligned start) leaves a free right
//! rest, and that rest takes the parked tag, links and all, moving only if its list does not
//! hold the rest's class. Every other operation first **settles** it (unlinks and drops it,
//! as the merge would have), so the lists hold exactly the free segments again before any
//! search reads them. In the aligned steady state of `benches/vmem.rs` at 10^5 live
//! segments this cut the data cache misses of a pair from 6.74 to 5.11.
//!
//! ## 7. Invariants ([`Arena::check_invariants`], in `invariants.rs`)
//!
//! The slab holds no more tags than the arena's limit; tags are sorted by address and do not overlap; each span's segments tile the span exactly; no
//! two free segments are adjacent within a span; a free segment is on list `n` iff its class less
//! its lag is `n` (lag at most `MAX_LAG`); free-map bit `n` is set iff list `n` is non-empty, and
//! the lists hold nothing else but the parked tag, if any (section 6); the allocated index holds
//! exactly the allocated segments, each in the chain of its own bucket; the size index, if built,
//! holds exactly the free segments; every span, segment and size is a multiple of `q`; no imported
//! span is wholly free; and free + allocated = the sum of the spans.
//!
//! ## 8. Constants (each beside what it bounds)
//!
//! - `FREELISTS` = 64: one free list per power of two a `u64` size can have.
//! - `MAX_LAG` = 7: the most lists below its class a free segment sits (section 2).
//! - `MAX_TAGS` = 2^29 - 1: the most tags (spans + segments) one arena holds; a free
//!   segment's list link has 29 bits (the top three hold its lag, up to `MAX_LAG`), so every
//!   tag index fits below it. An arena's own limit, [`ArenaConfig::max_tags`], is at most this
//!   and at least `MIN_TAGS` = 2 (a span and its segment); past it, allocation fails with
//!   [`AllocError::NoTags`] and adding a span with [`AddSpanError::NoTags`].
//! - A tag index is a `u32`: `NIL` (all ones) is "none"; in a free segment's `list_next`,
//!   `LAGS` (bits 29 to 31) hold the lag, `LINK` the other 29 bits, and `LIST_END` (all 29
//!   ones) "last on its list".
//! - `list_prev` says a tag's kind: a tag index or `LIST_HEAD` for a free segment, else the
//!   marker `ALLOCATED`, `SPAN_STATIC`, `SPAN_IMPORTED` or `UNUSED` (a slab slot not in use),
//!   all near `u32::MAX`, above every tag index.
//! - The allocated index (`index.rs`) starts at `MIN_BUCKETS` = 16 buckets, doubles before it
//!   holds more than one entry a bucket (`MAX_LOAD`), halves below a quarter (`MIN_LOAD`) but
//!   never below the room [`Arena::reserve`] asked for, and stops growing at `MAX_BUCKETS` =
//!   2^32.
//!
//! ## 9. Files
//!
//! This file holds the arena and its public operations: creation, spans, `alloc`, `xalloc`
//! with the instant-fit fast path, `xalloc_at`, `free` and observation. The headings above
//! name the file of each section: `tags.rs` (tags, slab, address list, span index),
//! `freelist.rs` (free lists, free map, size index), `search.rs` (validation, placement,
//! the policies' searches), `import.rs`, `carve.rs` (cutting an allocation out of a free
//! segment, merging a freed one with its neighbours), `index.rs`, `invariants.rs`, and
//! `types.rs` (requests, policies, errors, reports). Each seeded bug (feature `seeded-bugs`)
//! is one small function marked `SEEDED BUG <Name>`, beside the code it breaks.
//!
//! ## 10. Quantum caches (`qcache.rs`, [`CachedArena`])
//!
//! Most kernel allocations are a few quanta, and an arena pays its tag and free-list work on
//! each. A [`CachedArena`] (illumos and NetBSD `qcache_max`) puts, in front of an arena, one
//! zone of the [`crate::slab`] layer per multiple `k * q` of the quantum up to `qcache_max`
//! (at most `MAX_QCACHE_QUANTA` = 16 quanta, and at most the slab layer's largest item):
//! items of `k * q` bytes aligned to `q`, in slabs the caches import from the arena itself
//! (an `xalloc` of the slab size aligned to the slab size). `alloc(size, cpu)` rounds the
//! size up to `q` and takes an item of cache `size / q` (a magazine hit, else the keg, which
//! may take a slab) when that is at most `qcache_max`, else allocates from the arena;
//! `free(addr, size, cpu)` goes the same way, and an address that is not a live item of the
//! size's cache is a bad free, never seen by the arena. `xalloc` (any constraint) and
//! `xfree` bypass the caches. A cache slab is an allocated segment of the arena that belongs
//! to the caches: freeing it through `free` or `xfree` is a bad free. Address 0 is an ordinary
//! item address (FreeBSD's caches return 0 for "none" and cannot hold it: ANCHORS 6 #11).
//! `reclaim()` drains every cache and gives every wholly free slab back, after which the
//! arena's allocated bytes are exactly the live uncached allocations (rounded to `q`) plus
//! the slab size times the slabs still holding a live item.

mod carve;
mod freelist;
mod import;
mod index;
mod invariants;
mod qcache;
mod search;
mod tags;
mod types;

use alloc::collections::{BTreeMap, TryReserveError};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::addr::{self, Arch, RangeError};
use freelist::FREELISTS;
use index::AllocIndex;
use tags::{BoundaryTag, Kind, Tag, NIL};
use types::Checked;

pub use import::{ImportRequest, NoSource, SpanSource};
pub use qcache::{
    CachedArena, QcacheAllocError, QcacheConfig, QcacheCreateError, QcacheFreeError,
    QcacheInvariantError, MAX_QCACHE_QUANTA,
};
pub use tags::{Segments, MAX_TAGS, MIN_TAGS};
pub use types::{
    AddSpanError, AllocError, ArenaConfig, ArenaStats, CreateError, FreeError, InvariantError,
    Policy, Request, SegmentView, ALL_POLICIES,
};

#[cfg(feature = "seeded-bugs")]
use crate::bugs::{Bug, BugSet};

/// A vmem arena; see the module comment.
#[derive(Clone)]
pub struct Arena<S: SpanSource = NoSource> {
    /// Name, for reports.
    name: String,
    /// The unit of allocation.
    quantum: u64,
    /// Address space spans must belong to.
    arch: Option<Arch>,
    /// Imports are rounded up to this.
    import_quantum: u64,
    /// The most tags the slab may hold (`MIN_TAGS..=MAX_TAGS`).
    max_tags: usize,
    /// The boundary-tag slab.
    tags: Vec<BoundaryTag>,
    /// First unused slab slot (NIL if none), linked through `next`.
    unused: Tag,
    /// First tag in address order.
    head: Tag,
    /// Last tag in address order.
    tail: Tag,
    /// Heads of the free lists.
    lists: [Tag; FREELISTS],
    /// Bit n set iff `lists[n]` is non-empty.
    freemap: u64,
    /// The free segment the latest free made or grew (module comment, section 3): a hint,
    /// checked before every use, since later operations may have allocated, merged or
    /// dropped it. NIL before the first free.
    recent: Tag,
    /// Whether the latest allocation was placed inside its free segment rather than at its
    /// front (a hint for which tag a merge keeps: `release_segment`).
    placed_inside: bool,
    /// A tag still on its free list whose segment a merge absorbed (module comment, section
    /// 6), or NIL: the free that made it did not unlink it, so that an allocation placed
    /// inside the merged segment right after can reuse it, links and all, for its free right
    /// rest. Every other operation first settles it (`settle`).
    parked: Tag,
    /// Span tags by span start.
    spans: BTreeMap<u64, Tag>,
    /// Allocated segments by start.
    allocated: AllocIndex,
    /// Free segments by (size, start), once a BestFit request has asked for it (module
    /// comment, section 6).
    by_size: Option<BTreeMap<(u64, u64), Tag>>,
    /// NextFit rotor: next search starts here; `None` once it passed the top.
    rotor: Option<u64>,
    /// Bytes allocated.
    in_use: u128,
    /// Bytes in spans.
    total: u128,
    /// Spans imported / released over the arena's life.
    imports: u64,
    releases: u64,
    /// Releases from a child arena that did not match an allocation of ours.
    failed_releases: u64,
    /// Where spans are imported from.
    source: S,
    /// Seeded bugs switched on (fuzz self-test only).
    #[cfg(feature = "seeded-bugs")]
    bugs: BugSet,
}

impl<S: SpanSource> fmt::Debug for Arena<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arena")
            .field("name", &self.name)
            .field("quantum", &self.quantum)
            .field("stats", &self.stats())
            .finish()
    }
}

/// `x` rounded up to a multiple of the power of two `q`, or `None` on overflow.
fn round_up(x: u64, q: u64) -> Option<u64> {
    Some(x.checked_add(q - 1)? & !(q - 1))
}

impl Arena<NoSource> {
    /// An empty arena without a source. `quantum` must be a power of two.
    pub fn new(name: &str, quantum: u64, arch: Option<Arch>) -> Result<Self, CreateError> {
        Arena::with_source(name, ArenaConfig::new(quantum, arch), NoSource)
    }
}

impl<S: SpanSource> Arena<S> {
    /// An empty arena that imports from `source` when it runs out.
    pub fn with_source(name: &str, config: ArenaConfig, source: S) -> Result<Self, CreateError> {
        if !addr::is_pow2(config.quantum) {
            return Err(CreateError::BadQuantum);
        }
        if !addr::is_pow2(config.import_quantum) || config.import_quantum < config.quantum {
            return Err(CreateError::BadImportQuantum);
        }
        let sq = source.quantum();
        if sq == 0 || !config.quantum.is_multiple_of(sq) {
            return Err(CreateError::QuantumMismatch);
        }
        if !(MIN_TAGS..=MAX_TAGS).contains(&config.max_tags) {
            return Err(CreateError::BadTagLimit);
        }
        Ok(Arena {
            name: String::from(name),
            quantum: config.quantum,
            arch: config.arch,
            import_quantum: config.import_quantum,
            max_tags: config.max_tags,
            tags: Vec::new(),
            unused: NIL,
            head: NIL,
            tail: NIL,
            lists: [NIL; FREELISTS],
            freemap: 0,
            recent: NIL,
            placed_inside: false,
            parked: NIL,
            spans: BTreeMap::new(),
            allocated: AllocIndex::new(config.quantum.trailing_zeros()),
            by_size: None,
            rotor: Some(0),
            in_use: 0,
            total: 0,
            imports: 0,
            releases: 0,
            failed_releases: 0,
            source,
            #[cfg(feature = "seeded-bugs")]
            bugs: BugSet::NONE,
        })
    }

    /// Switch seeded bugs on (fuzz self-test only).
    #[cfg(feature = "seeded-bugs")]
    pub(crate) fn set_bugs(&mut self, bugs: BugSet) {
        self.bugs = bugs;
    }

    /// Whether seeded bug `bug` is switched on.
    #[cfg(feature = "seeded-bugs")]
    fn bug(&self, bug: Bug) -> bool {
        self.bugs.contains(bug)
    }

    /// The arena's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The arena's quantum.
    pub fn quantum(&self) -> u64 {
        self.quantum
    }

    /// The source spans are imported from.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The source, mutably (to add spans to it, or allocate from it directly).
    pub fn source_mut(&mut self) -> &mut S {
        &mut self.source
    }

    /// Makes room for `allocations` more live allocations than the arena holds now: the tag
    /// slab gets room for one more tag each (what an allocation at the front of a free
    /// segment adds, the common case), the allocated index buckets for them, so that reaching
    /// that many allocations grows neither in the common case (as `Vec::reserve`; a caller
    /// that knows its working set, like a vmalloc space sized at boot, pays for the growth up
    /// front). The index then never shrinks below that room. A capacity hint only: it changes
    /// no result of any operation. Fails if the memory cannot be had (the slab's room, taken
    /// first, may then be reserved without the index's); never past the most tags an arena
    /// holds (its [`ArenaConfig::max_tags`], module comment section 8).
    pub fn reserve(&mut self, allocations: usize) -> Result<(), TryReserveError> {
        self.settle();
        let room = self.max_tags.saturating_sub(self.tags.len());
        self.tags
            .try_reserve(allocations.saturating_add(1).min(room))?;
        self.allocated
            .reserve(allocations, self.max_tags, &mut self.tags)
    }

    // ---- spans --------------------------------------------------------------------------

    /// Adds `[base, base + size)` as a static span, wholly free.
    pub fn add_span(&mut self, base: u64, size: u64) -> Result<(), AddSpanError> {
        self.settle();
        let range = self.check_span(base, size)?;
        self.insert_span(range, false)
    }

    /// `true` iff `addr` lies in one of the arena's spans.
    pub fn contains(&self, addr: u64) -> bool {
        let Some((_, &t)) = self.spans.range(..=addr).next_back() else {
            return false;
        };
        let span = self.tag(t);
        #[cfg(feature = "seeded-bugs")]
        if let Some(inside) = self.contains_end_wraps(span, addr) {
            return inside;
        }
        span.last >= addr
    }

    /// SEEDED BUG ContainsEndWraps (NetBSD 2012): the exclusive end `start + size` wraps to 0
    /// for a span that ends at the top of the space. `None` if the bug is off, else whether
    /// [`Arena::contains`] says `addr` lies in `span`.
    #[cfg(feature = "seeded-bugs")]
    fn contains_end_wraps(&self, span: &BoundaryTag, addr: u64) -> Option<bool> {
        self.bug(Bug::ContainsEndWraps)
            .then(|| addr < span.last.wrapping_add(1))
    }

    // ---- allocation -----------------------------------------------------------------------

    /// Allocates `size` bytes (rounded up to the quantum) with `policy`.
    pub fn alloc(&mut self, size: u64, policy: Policy) -> Result<u64, AllocError> {
        self.settle();
        if policy == Policy::InstantFit {
            if let Some(r) = self.instant_unconstrained(size) {
                return r;
            }
        } else if policy == Policy::BestFit {
            if let Some(r) = self.best_unconstrained(size) {
                return r;
            }
        }
        self.xalloc_general(&Request::size(size), policy)
    }

    /// `size` rounded up to the quantum, if a fast path may place it: `None` if the general
    /// path must decide (a size that is 0 or overflows, an arena whose space has a highest
    /// address below the top, or fewer than two tag slots left counting only growth).
    #[inline(always)]
    fn fast_path_size(&self, size: u64) -> Option<u64> {
        if size == 0
            || self.highest_allowed(u64::MAX) != u64::MAX
            || self.tags.len() + 2 > self.max_tags
        {
            return None;
        }
        round_up(size, self.quantum)
    }

    /// The fast path of [`Arena::alloc`] for a BestFit request of `size` bytes: the first free
    /// segment in (size, start) order from the rounded size up, at its start, exactly what
    /// [`Arena::xalloc_general`]'s search returns for a request without constraints (every
    /// such segment holds it at its start). `None` if the general path must decide (a size
    /// that is 0 or overflows, no room for tags, no size index yet, no segment large enough).
    /// Out of line, so that instant fit's path stays small.
    #[inline(never)]
    fn best_unconstrained(&mut self, size: u64) -> Option<Result<u64, AllocError>> {
        let size = self.fast_path_size(size)?;
        let (_, &f) = self.by_size.as_ref()?.range((size, 0)..).next()?;
        let seg = *self.tag(f);
        let (a, last) = (seg.start, seg.start + (size - 1));
        if last < seg.last {
            if let Some(t) = self.carve_front(f, &seg, last) {
                return Some(self.record_allocation(&seg, t, a, last, Policy::BestFit));
            }
        }
        let c = Checked::sized(size, self.quantum);
        Some(self.commit(f, a, &c, Policy::BestFit))
    }

    /// Allocates with constraints; see the module comment, sections 3 to 5.
    pub fn xalloc(&mut self, req: &Request, policy: Policy) -> Result<u64, AllocError> {
        // An unconstrained instant-fit request (only a size: the alignment is the quantum, no
        // phase, nocross or bounds) takes the head of a guaranteed list directly; anything the
        // fast path does not settle goes the general way, with the same outcome.
        let unbounded = req.minaddr == 0 && req.maxaddr == u64::MAX;
        #[cfg(feature = "seeded-bugs")]
        let unbounded = self.fast_path_skips_bounds(unbounded);
        if policy == Policy::InstantFit && req.phase == 0 && req.nocross == 0 && unbounded {
            let r = if req.align & !self.quantum == 0 {
                self.settle();
                self.instant_unconstrained(req.size)
            } else {
                // Placed inside the recent segment, the allocation may reuse the parked tag.
                let r = self.instant_aligned(req.size, req.align);
                self.settle();
                r
            };
            if let Some(r) = r {
                return r;
            }
        }
        self.settle();
        self.xalloc_general(req, policy)
    }

    /// The fast path of [`Arena::xalloc`] for an instant-fit request of `size` bytes aligned to
    /// `align`, above the quantum, and nothing else: the lowest aligned placement in the recent
    /// segment, exactly what [`Arena::instant_fit`] tries first. `None` if the general path
    /// must decide (an invalid request, no room for tags, no placement in the recent segment).
    #[inline]
    fn instant_aligned(&mut self, size: u64, align: u64) -> Option<Result<u64, AllocError>> {
        // A power of two above the quantum is a multiple of it: a valid alignment, and with
        // phase 0, no nocross and no bounds the request is valid if its size is.
        if !addr::is_pow2(align) || align <= self.quantum {
            return None;
        }
        let size = self.fast_path_size(size)?;
        let f = self.recent;
        let seg = *self.tags.get(f as usize).filter(|s| s.is_free())?;
        let a = seg.start.checked_add(align - 1)? & !(align - 1);
        if a.checked_add(size - 1)? > seg.last {
            return None;
        }
        let c = Checked::sized(size, align);
        Some(self.commit(f, a, &c, Policy::InstantFit))
    }

    /// SEEDED BUG FastPathSkipsBounds (Linux 2011, the vmap free-area cache): the fast path
    /// is taken without looking at the request's address bounds (as if it were `unbounded`).
    #[cfg(feature = "seeded-bugs")]
    fn fast_path_skips_bounds(&self, unbounded: bool) -> bool {
        unbounded || self.bug(Bug::FastPathSkipsBounds)
    }

    /// The fast path of [`Arena::xalloc`] for an unconstrained instant-fit request of `size`
    /// bytes: `None` if the general path must decide (a size that is 0 or overflows, no room
    /// for tags, no guaranteed list non-empty). On a guaranteed list, every segment holds the
    /// request at its start, which is exactly what [`Arena::instant_fit`] returns there.
    #[inline]
    fn instant_unconstrained(&mut self, size: u64) -> Option<Result<u64, AllocError>> {
        // This path never compares with maxaddr: it is for requests that may use the whole
        // space, up to its last address.
        let size = self.fast_path_size(size)?;
        let c = Checked::sized(size, self.quantum);
        // The segment the latest free made, if it is still free and large enough: its tag,
        // its neighbours and its list neighbours were just touched, and the allocated index
        // slot of its start was just emptied. Else the smallest list n with 2^n >= size.
        let (f, seg) = match self.tags.get(self.recent as usize) {
            Some(&seg) if seg.is_free() && seg.last - seg.start >= size - 1 => (self.recent, seg),
            _ => {
                let n = u64::BITS - (size - 1).leading_zeros();
                if n >= u64::BITS {
                    return None;
                }
                let map = self.freemap & (u64::MAX << n);
                if map == 0 {
                    return None;
                }
                let f = self.lists[map.trailing_zeros() as usize];
                (f, *self.tag(f))
            }
        };
        // Either way the request fits at the segment's start; the common case leaves a rest.
        let (a, last) = (seg.start, seg.start + (size - 1));
        if last < seg.last {
            if let Some(t) = self.carve_front(f, &seg, last) {
                return Some(self.record_allocation(&seg, t, a, last, Policy::InstantFit));
            }
        }
        Some(self.commit(f, a, &c, Policy::InstantFit))
    }

    /// [`Arena::xalloc`] through validation, the policy's search and import.
    fn xalloc_general(&mut self, req: &Request, policy: Policy) -> Result<u64, AllocError> {
        let c = self.check_request(req)?;
        if !self.tags_available(2) {
            return Err(AllocError::NoTags);
        }
        if policy == Policy::BestFit {
            self.ensure_size_index();
        }
        if let Some((t, a)) = self.search(&c, policy) {
            return self.commit(t, a, &c, policy);
        }
        self.import_and_alloc(req, &c, policy)
    }

    /// Allocates exactly `[addr, addr + size)` (size rounded up); never imports.
    pub fn xalloc_at(&mut self, addr: u64, size: u64) -> Result<u64, AllocError> {
        self.settle();
        if size == 0 {
            return Err(AllocError::ZeroSize);
        }
        let size = round_up(size, self.quantum).ok_or(AllocError::SizeOverflow)?;
        if addr & (self.quantum - 1) != 0 {
            return Err(AllocError::Misaligned);
        }
        let last = addr::last_of(addr, size).ok_or(AllocError::Wraps)?;
        match self.arch.map(|a| a.check_range(addr, size)) {
            Some(Err(RangeError::PastTop)) => return Err(AllocError::PastTop),
            Some(Err(RangeError::NonCanonical)) => return Err(AllocError::NonCanonical),
            _ => {}
        }
        if !self.tags_available(2) {
            return Err(AllocError::NoTags);
        }
        let (_, &span) = self
            .spans
            .range(..=addr)
            .next_back()
            .ok_or(AllocError::NoSpace)?;
        if self.tag(span).last < last {
            return Err(AllocError::NoSpace);
        }
        // The span's segments tile it, so the first one reaching `addr` holds it.
        let mut t = self.tag(span).next;
        while t != NIL {
            let seg = *self.tag(t);
            if seg.last >= addr {
                if seg.is_free() && seg.last >= last {
                    let c = Checked {
                        size,
                        align: self.quantum,
                        phase: 0,
                        nocross: 0,
                        minaddr: addr,
                        maxaddr: last,
                    };
                    return self.commit(t, addr, &c, Policy::FirstFit);
                }
                break;
            }
            t = seg.next;
        }
        Err(AllocError::NoSpace)
    }

    // ---- free -------------------------------------------------------------------------------

    /// Frees the allocation at `addr` of `size` bytes (rounded up to the quantum, and
    /// compared with the allocated size).
    pub fn free(&mut self, addr: u64, size: u64) -> Result<(), FreeError> {
        self.settle();
        if size == 0 {
            return Err(FreeError::ZeroSize);
        }
        // One look-up: the entry found here is removed below if the size matches.
        let found = self
            .allocated
            .find(addr, &self.tags)
            .ok_or(FreeError::BadFree)?;
        let t = found.tag;
        let seg = *self.tag(t);
        let allocated = seg.size();
        // `size` rounds up to `allocated` (a multiple of the quantum) iff
        // `allocated - q < size <= allocated`; a larger size wraps the difference far above q.
        let wrong = allocated.wrapping_sub(size) >= self.quantum;
        #[cfg(feature = "seeded-bugs")]
        let wrong = self.missing_wrong_size_check(wrong);
        if wrong {
            return Err(FreeError::WrongSize { allocated });
        }
        self.allocated.remove(found, &mut self.tags);
        self.in_use -= u128::from(allocated);
        self.release_segment(t, seg);
        Ok(())
    }

    /// SEEDED BUG MissingWrongSizeCheck (NetBSD KMEM_GUARD): the size is not compared (a
    /// `wrong` size passes).
    #[cfg(feature = "seeded-bugs")]
    fn missing_wrong_size_check(&self, wrong: bool) -> bool {
        wrong && !self.bug(Bug::MissingWrongSizeCheck)
    }

    // ---- observation --------------------------------------------------------------------

    /// Every span and segment in address order (each span before its segments).
    pub fn segments(&self) -> Segments<'_, S> {
        Segments {
            arena: self,
            next: self.head,
        }
    }

    /// Calls `f` on every span and segment in address order.
    pub fn walk(&self, mut f: impl FnMut(SegmentView)) {
        self.segments().for_each(&mut f);
    }

    /// Counters (O(segments) for `largest_free` and the segment counts).
    pub fn stats(&self) -> ArenaStats {
        let mut s = ArenaStats {
            total: self.total,
            in_use: self.in_use,
            free: self.total - self.in_use,
            imports: self.imports,
            releases: self.releases,
            spans: self.spans.len(),
            allocated_segments: self.allocated.len(),
            ..ArenaStats::default()
        };
        for v in self.segments() {
            match v {
                SegmentView::Span { imported, .. } => s.imported_spans += usize::from(imported),
                SegmentView::Free(r) => {
                    s.free_segments += 1;
                    s.largest_free = s.largest_free.max(r.size());
                }
                SegmentView::Allocated(_) => {}
            }
        }
        s
    }

    /// Checks every invariant of the module comment, section 7. O(tags).
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        invariants::check(self)
    }
}

#[cfg(test)]
mod tests;
