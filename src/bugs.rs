//! # Seeded bugs: the harness tests itself
//!
//! Each [`Bug`] re-creates, in one clearly marked place of the allocator (search for
//! `SEEDED BUG <Name>`), a bug that shipped in a real kernel (ANCHORS.md section 6). They are
//! compiled only with the `seeded-bugs` feature and switched on per arena at run time, so one
//! binary can run the campaign once per bug (`kvafuzz bugs`) and prove that the oracles find
//! each of them. With the feature off, none of this exists.

use core::fmt;

/// A historically grounded bug that can be switched on in an allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bug {
    /// NetBSD 2012: `maxaddr` treated as exclusive; the last unit below it is unusable.
    MaxaddrExclusive,
    /// illumos 3179: the import size `roundup(size + phase, quantum)` wraps; a tiny span is
    /// imported and handed out as if it held the request.
    ImportSizeWrap,
    /// A nocross off-by-one: an allocation crossing a boundary by its last byte is accepted.
    NocrossOffByOne,
    /// FreeBSD / NetBSD: address 0 doubles as the failure sentinel, so an allocation at 0 is
    /// reported as a failure (and leaks).
    ZeroSentinel,
    /// NetBSD KMEM_GUARD: `free` does not compare the size with the allocated size.
    MissingWrongSizeCheck,
    /// Linux 2019-2021: padding the search size by the alignment, without a fallback, misses
    /// exactly fitting aligned blocks (spurious failure).
    AlignPadNoFallback,
    /// Linux 2016: the overlap check when inserting a span can never fire.
    InsertOverlapNeverFires,
    /// NetBSD 2012 (ANCHORS 6 #8: a span ending at the top of the space wrapped to 0):
    /// `contains` compares with the exclusive end `start + size`, which wraps to 0 for a span
    /// ending at the top of the space, so none of that span's addresses is reported inside.
    ContainsEndWraps,
    /// Seed 000 (and Linux 2013/2019, SerenityOS #5162): findspace rounds the cursor up in
    /// address-width arithmetic without the "if (end < start) return" check, so rounding past
    /// the top of the space wraps to a low address that is returned.
    FindspaceNoWrapCheck,
    /// Seed 000's code path mix-up: a non-power-of-2 alignment is rounded with the mask
    /// `align - 1`, giving addresses that are not multiples of it.
    NonPow2AlignAsMask,
    /// Linux 2019-2021 (vmap gap tree): subtrees are pruned by `length + align - 1`, so a gap
    /// that holds the block exactly once aligned is never visited (spurious failure).
    GapIndexPrunesAlignedFit,
    /// Linux 2018 (ANCHORS 6 #7): a large page is installed over a live page-table page; the
    /// table leaks and the TLB keeps its translations.
    LargePageOverLiveTable,
    /// A page-table page is freed (and its parent entry cleared) while it still holds a
    /// present entry: that mapping silently disappears.
    TablePageFreedWithEntries,
    /// x86_64 crate (ANCHORS 6 #15): `map` accepts a range in the canonical hole; its pages
    /// alias the other half through the truncated table indices.
    NonCanonicalAccepted,
    /// A flush token covers only the first page of the changed range (a single INVLPG where a
    /// range flush was needed): the other pages' TLB entries stay stale.
    FlushWrongRange,
    /// ANCHORS section 1 (NetBSD's INSTANTFIT falls back to BESTFIT; illumos searches the
    /// size's own list after the lists that guarantee a fit): instant fit looks only at the
    /// heads of the lists whose every segment fits and never falls back, so a request fails
    /// (or imports) although a free segment holds it.
    InstantFitNoFallback,
    /// NetBSD `vmem_xalloc` ("XXX eeek", ANCHORS section 1): the import request drops the
    /// caller's minaddr and maxaddr, so the source may hand out a span the request cannot use;
    /// the arena gives it back and fails although the source had room within the bounds.
    ImportIgnoresMinmax,
    /// Linux 2011 (ANCHORS 6 #1, the vmap free-area cache: a cache hit not re-checked against
    /// the request's constraints): the unconstrained fast path also takes requests with
    /// address bounds, so the recent segment or a list head is handed out outside them.
    FastPathSkipsBounds,
    /// Linux 2010 (seed 002, ANCHORS 6 #2: Nick Piggin's first vmap area cache, corrected by
    /// Hugh Dickins): the cache's hole test `size <= cached_hole_size` and the walk's
    /// `addr + size > first->va_start` forget the guard page, so an area is placed where its
    /// guard page overlaps the next area.
    CacheHoleForgetsGuard,
    /// Linux 2010 (seed 002, ANCHORS 6 #1: the `BUG_ON(first->va_start < addr)` Hugh Dickins
    /// hit with 0x4000 and 0x8000 alignments): a search from the free-area cache starts at
    /// the cached area's end without re-aligning it, so an alignment above a page is not
    /// honoured.
    CacheStartNotRealigned,
    /// Linux 2013 (ANCHORS 6 #3, Hugh Dickins' question in seed 002): `va_end = addr + size`
    /// is 0 for an area ending at the top of the space; the walk that steps past it restarts
    /// at `ALIGN(0)` and places the next request at address 0, outside the window.
    TopEndWrapsToZero,
    /// Linux 2019 (ANCHORS 6 #4): ALIGN() of a huge alignment wraps to 0 near the top of the
    /// space and the `addr < vstart` check is missing, so the walk places the request at 0.
    AlignWrapsToZero,
    /// Linux 2019-2021 (ANCHORS 6 #6, the vmap free-space tree): the augmented search asks
    /// each subtree for `size + align - 1` bytes and misses blocks that fit exactly once
    /// aligned (spurious failure or a higher address).
    TreePadsByAlign,
    /// A lazily freed vmap range is handed out again before its purge, i.e. before the TLB
    /// flush: CPUs may still translate it through the previous owner's stale entries.
    LazyReusedBeforePurge,
    /// The vmap purge flushes `[min start, max start]` instead of reaching the highest purged
    /// area's end: the rest of that area keeps its stale TLB entries.
    PurgeFlushesToMaxStart,
    /// Linux's lazy vfree (`unmap_kernel_range_noflush`, then one flush per purge) with the
    /// purge's shootdown reduced to a local flush (`flush_tlb_kernel_range` replaced by a
    /// flush of the purging CPU's TLB only, CPU 0 here): the other CPUs keep translating the
    /// purged range, and a range handed out again through their stale entries.
    VfreeFlushesNothing,
    /// Linux's `vm_struct.size` counts the guard page (`get_vm_area_size()` subtracts it):
    /// a vmalloc that maps `area->size` pages maps one page too many, the guard page, so an
    /// overrun no longer faults.
    GuardPageMapped,
    /// A change of permissions rewrites the leaf without its Accessed and Dirty bits (issue
    /// 17, blind spot 1): the page looks clean, so a write to it is lost when it is reclaimed
    /// without being written back.
    DirtyLostOnProtect,
    /// FreeBSD r338836 (seed 000: code assuming vmem returned size-aligned space): a keg asks
    /// its backend for a slab aligned only to a page, not to the slab size, yet finds an
    /// item's slab by truncating the address to the slab size, which then finds the wrong
    /// slab or none (a live item's free is refused, or lands in another slab).
    SlabNotSizeAligned,
    /// Issue 15 (Bonwick's magazines make it easy: the first free of an item no longer
    /// touches its slab): the double-free check looks only at the slab bitmap, so a second
    /// free while the first still sits in a CPU's magazine is accepted and the item sits in
    /// a magazine twice, to be handed out twice.
    MagazineDoubleFreeUnseen,
    /// Issue 15 (Bonwick & Adams 2001's depot exchange done without taking the magazine off
    /// the depot list): a full magazine is copied from the depot into a CPU's `loaded` slot
    /// but stays on the depot, so a later exchange hands the same items to another CPU.
    MagazineExchangeShares,
    /// Issue 15 (the "wholly free" test of a slab reclaim off by one, `free >= items - 1`):
    /// reclaim gives back a slab that still holds a live item, whose memory the backend then
    /// hands out again.
    ReclaimFreesLiveSlab,
    // ---- kmem and the vmem quantum caches (issue 15) ----
    /// NetBSD KMEM_GUARD (ANCHORS 6 #12: the delayed free recorded only the address, then
    /// freed with the current call's size): kmem's debug free does not compare the recorded
    /// size with the freed size and frees with the caller's size, so the object goes to the
    /// route of the wrong size (or the large path frees the wrong extent), or leaks.
    KmemWrongSizeAccepted,
    /// FreeBSD (ANCHORS 6 #11): the quantum cache uses address 0 as "no item", so an item at
    /// address 0 is reported as a failed allocation (`NoSpace`) and leaks.
    QcacheZeroSentinel,
    /// kmem's redzone check starts one byte late (`addr + size + 1`), so an overflow of
    /// exactly one byte goes unseen.
    RedzoneMissesOneByte,
    /// Linux's PAT work (2008, the `change_page_attr` series; issue 17, blind spot 2): a
    /// change of caching attributes alone (write-through, cache-disable) was not followed by
    /// a TLB flush, on the reasoning that the translation itself did not move; a CPU then
    /// kept accessing an uncached device page through a write-back entry. Here the MMU's
    /// staleness test ignores PWT and PCD, so such an entry is called fresh.
    StaleCheckIgnoresCacheAttrs,
    /// Linux 2016-2018 (`pmd_set_huge` / large-page splits without a flush, and the x86
    /// erratum that a 4 KiB and a 2 MiB entry for one address may coexist; issue 17, blind
    /// spot 2): an entry cached for a 4 KiB page is taken as fresh although a large page now
    /// maps the address (same physical address). The MMU's staleness test ignores the page
    /// size.
    StaleCheckIgnoresPageSize,
    /// An off-by-one at the limits of a map (issue 17, blind spot 3; the generator never
    /// made a map of more than 512 pages, and crossed a table boundary by one page only by
    /// chance): the per-table end of the commit loop (Linux's `pmd_addr_end` pattern) is
    /// taken as inclusive, so a map of exactly `MAX_MAP_PAGES` pages, or one whose last page
    /// is the first of a new leaf table, stops one page short; the map still succeeds.
    LargestMapOffByOne,
}

/// Every seeded bug (the harness target that must find each names it in its `Target::BUGS`).
pub const ALL_BUGS: [Bug; 38] = [
    Bug::MaxaddrExclusive,
    Bug::ImportSizeWrap,
    Bug::NocrossOffByOne,
    Bug::ZeroSentinel,
    Bug::MissingWrongSizeCheck,
    Bug::AlignPadNoFallback,
    Bug::InsertOverlapNeverFires,
    Bug::ContainsEndWraps,
    Bug::InstantFitNoFallback,
    Bug::ImportIgnoresMinmax,
    Bug::FastPathSkipsBounds,
    Bug::FindspaceNoWrapCheck,
    Bug::NonPow2AlignAsMask,
    Bug::GapIndexPrunesAlignedFit,
    Bug::LargePageOverLiveTable,
    Bug::TablePageFreedWithEntries,
    Bug::NonCanonicalAccepted,
    Bug::FlushWrongRange,
    Bug::CacheHoleForgetsGuard,
    Bug::CacheStartNotRealigned,
    Bug::TopEndWrapsToZero,
    Bug::AlignWrapsToZero,
    Bug::TreePadsByAlign,
    Bug::LazyReusedBeforePurge,
    Bug::PurgeFlushesToMaxStart,
    Bug::VfreeFlushesNothing,
    Bug::GuardPageMapped,
    Bug::DirtyLostOnProtect,
    Bug::SlabNotSizeAligned,
    Bug::MagazineDoubleFreeUnseen,
    Bug::MagazineExchangeShares,
    Bug::ReclaimFreesLiveSlab,
    // kmem and the vmem quantum caches (issue 15)
    Bug::KmemWrongSizeAccepted,
    Bug::QcacheZeroSentinel,
    Bug::RedzoneMissesOneByte,
    Bug::StaleCheckIgnoresCacheAttrs,
    Bug::StaleCheckIgnoresPageSize,
    Bug::LargestMapOffByOne,
];

impl Bug {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Bug::MaxaddrExclusive => "maxaddr-exclusive",
            Bug::ImportSizeWrap => "import-size-wrap",
            Bug::NocrossOffByOne => "nocross-off-by-one",
            Bug::ZeroSentinel => "zero-sentinel",
            Bug::MissingWrongSizeCheck => "missing-wrong-size-check",
            Bug::AlignPadNoFallback => "align-pad-no-fallback",
            Bug::InsertOverlapNeverFires => "insert-overlap-never-fires",
            Bug::ContainsEndWraps => "contains-end-wraps",
            Bug::FindspaceNoWrapCheck => "findspace-no-wrap-check",
            Bug::NonPow2AlignAsMask => "non-pow2-align-as-mask",
            Bug::GapIndexPrunesAlignedFit => "gapindex-prunes-aligned-fit",
            Bug::LargePageOverLiveTable => "large-page-over-live-table",
            Bug::TablePageFreedWithEntries => "table-freed-with-entries",
            Bug::NonCanonicalAccepted => "non-canonical-accepted",
            Bug::FlushWrongRange => "flush-wrong-range",
            Bug::InstantFitNoFallback => "instant-fit-no-fallback",
            Bug::ImportIgnoresMinmax => "import-ignores-minmax",
            Bug::FastPathSkipsBounds => "fast-path-skips-bounds",
            Bug::CacheHoleForgetsGuard => "cache-hole-forgets-guard",
            Bug::CacheStartNotRealigned => "cache-start-not-realigned",
            Bug::TopEndWrapsToZero => "top-end-wraps-to-zero",
            Bug::AlignWrapsToZero => "align-wraps-to-zero",
            Bug::TreePadsByAlign => "tree-pads-by-align",
            Bug::LazyReusedBeforePurge => "lazy-reused-before-purge",
            Bug::PurgeFlushesToMaxStart => "purge-flushes-to-max-start",
            Bug::VfreeFlushesNothing => "vfree-flushes-nothing",
            Bug::GuardPageMapped => "guard-page-mapped",
            Bug::DirtyLostOnProtect => "dirty-lost-on-protect",
            Bug::SlabNotSizeAligned => "slab-not-size-aligned",
            Bug::MagazineDoubleFreeUnseen => "magazine-double-free-unseen",
            Bug::MagazineExchangeShares => "magazine-exchange-shares",
            Bug::ReclaimFreesLiveSlab => "reclaim-frees-live-slab",
            // kmem and the vmem quantum caches (issue 15)
            Bug::KmemWrongSizeAccepted => "kmem-wrong-size-accepted",
            Bug::QcacheZeroSentinel => "qcache-zero-sentinel",
            Bug::RedzoneMissesOneByte => "redzone-misses-one-byte",
            Bug::StaleCheckIgnoresCacheAttrs => "stale-check-ignores-cache-attrs",
            Bug::StaleCheckIgnoresPageSize => "stale-check-ignores-page-size",
            Bug::LargestMapOffByOne => "largest-map-off-by-one",
        }
    }

    /// The bug with this name.
    pub fn from_name(name: &str) -> Option<Bug> {
        ALL_BUGS.into_iter().find(|b| b.name() == name)
    }

    fn bit(self) -> u64 {
        1 << (self as u32)
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of switched-on bugs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BugSet(u64);

impl BugSet {
    /// No bug.
    pub const NONE: BugSet = BugSet(0);

    /// Just `bug`.
    pub fn only(bug: Bug) -> BugSet {
        BugSet(bug.bit())
    }

    /// This set and `bug`.
    pub fn with(self, bug: Bug) -> BugSet {
        BugSet(self.0 | bug.bit())
    }

    /// `true` iff `bug` is on.
    pub fn contains(self, bug: Bug) -> bool {
        self.0 & bug.bit() != 0
    }
}
