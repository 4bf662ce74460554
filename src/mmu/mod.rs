//! # Simulated x86 page tables with TLBs
//!
//! A model of the paging hardware and of the kernel code that edits page tables, precise
//! enough that the bugs of ANCHORS section 6 (#7: a huge mapping installed over a live
//! page-table page, leaking it and leaving a stale TLB entry) are visible as typed values.
//!
//! ## 1. Concepts (each defined before it is used)
//!
//! - **Mode**: one of [`Arch`]'s four paging modes. It fixes everything below.
//! - **Frame**: 4 KiB of simulated physical memory in the *table pool*, a pool of
//!   `MmuConfig::frames` frames at physical `phys::TABLE_POOL_BASE + i * 4096`. Only
//!   page-table pages live in frames; leaf mappings point at caller-chosen physical
//!   addresses (the "objects"), which the model never dereferences.
//! - **Table page** (table): a frame holding `entries` hardware entries: 1024 x u32 on IA-32,
//!   512 x u64 on PAE and x86_64, 4 x u64 for PAE's PDPT.
//! - **Level**: tables are numbered from the leaves: level 0 is the page table (PTEs), the
//!   *top* level is the root (PD on IA-32, PDPT on PAE, PML4 / PML5 on x86_64).
//! - **Entry**: one slot of a table. It is *present* iff bit 0 (P) is set. A present entry is
//!   a **leaf** iff it is at level 0 or has PS (bit 7) set, and then maps a page of the entry's
//!   span; otherwise it is a **pointer** to a table one level down.
//! - **Large page**: a leaf above level 0: 4 MiB (IA-32 PSE PDE), 2 MiB (PDE), 1 GiB (PDPTE,
//!   x86_64 only).
//! - **Address space**: one root and everything reachable from it; named by an [`Asid`].
//! - **Kernel half**: virtual addresses `>= geometry::Geometry::kernel_base()`: the upper GiB
//!   (`0xC000_0000`) on the 32-bit modes, the upper canonical half on x86_64. Its root
//!   entries are identical in every root, so every address space sees the same kernel
//!   tables. [`Asid::KERNEL`] is the template new address spaces copy them from.
//! - **Segment**: `Arch::segment_size()` bytes of virtual space mapped by one level-1 entry
//!   (4 MiB on IA-32, 2 MiB otherwise), i.e. by exactly one level-0 table.
//! - **Shared segment table**: a level-0 table mapping an object's pages, pointed at by
//!   level-1 entries of several address spaces that map the same object at the same offset
//!   within a segment (seed 000). Identified by its [`SegmentKey`] (physical start, length,
//!   flags) and reference counted.
//! - **Reference count** of a table: the number of present pointer entries, in all roots and
//!   tables, that point at it. 1 for a private table, the number of live address spaces for a
//!   table directly below the kernel half of the roots, the number of attachments for a
//!   shared segment table; 0 for roots.
//! - **TLB**: a per-CPU cache of leaf translations, tagged by ASID; *global* entries (leaf G
//!   bit) match every ASID and survive a non-global flush.
//! - **Flush token** ([`Flush`]): returned by every operation that removes or downgrades
//!   translations, naming the range and the address spaces; `#[must_use]`.
//! - **Stale entry**: a TLB entry that is not *covered* by a fresh walk
//!   ([`Translation::covered_by`]): different physical address, page size or caching
//!   attributes, or a permission the tables no longer grant, or nothing mapped at all.
//!
//! ## 2. Shapes (every constant derived)
//!
//! | mode   | levels | index bits per level (leaf first) | VA bits          | leaf sizes                 |
//! |--------|--------|-----------------------------------|------------------|----------------------------|
//! | IA-32  | 2      | 10, 10                            | 12+10+10 = 32    | 2^12, 2^(12+10) = 4 MiB    |
//! | PAE    | 3      | 9, 9, 2                           | 12+9+9+2 = 32    | 2^12, 2^21 = 2 MiB         |
//! | x86_64 | 4      | 9, 9, 9, 9                        | 12+4*9 = 48      | 2^12, 2^21, 2^30 = 1 GiB   |
//! | LA57   | 5      | 9 x 5                             | 12+5*9 = 57      | same                       |
//!
//! A table holds 4096 / entry size entries: 4096 / 4 = 1024 = 2^10 on IA-32, 4096 / 8 = 512
//! = 2^9 otherwise; PAE's PDPT holds the remaining 32 - 30 = 2 bits, 4 entries. The kernel's
//! first root index is `kernel_base >> shift(top)` masked: 0xC000_0000 >> 22 = 768 (IA-32),
//! 0xC000_0000 >> 30 = 3 (PAE), and bit 47 (bit 56) set = 256 (x86_64, LA57).
//!
//! ## 3. Invariants (checked by [`Mmu::check_invariants`] after every fuzz step)
//!
//! [`Mmu::check_invariants_memo`] gives the same answer, re-reading only the tables that
//! changed since a [`CheckMemo`] saw them pass (every change of a table page restamps it:
//! `phys.rs`); the harness runs it after every op, and the full walk at the end.
//!
//! 1. A frame is free iff no table lives in it; a free frame is on the free list exactly once.
//! 2. A table is reachable from some root iff it is in use (no leaks), and its reference
//!    count equals the number of present pointer entries to it.
//! 3. A table other than a root is reachable twice within the model iff it is shared by
//!    design: directly below the kernel half of the roots, or a shared segment table.
//! 4. A table's stored present count equals the number of present entries in it; a non-root
//!    table has at least one present entry (empty tables are freed at once).
//! 5. A pointer entry at level `l` points at a table of level `l - 1` and is fully permissive
//!    for its half (P|RW|US in the user half, P|RW in the kernel half, never NX; P only for
//!    PAE PDPTEs), so the leaf alone decides. No entry has a bit outside the architectural
//!    set for its level (no NX on IA-32, PS only where the mode has that page size).
//! 6. Every root's kernel-half entries equal the kernel space's (ignoring the A and D bits the
//!    walker sets in the copy it walks).
//! 7. A segment key is in the registry iff a live shared segment table with that key exists.
//! 8. No leaf in the kernel half has USER; no leaf in the user half has GLOBAL.
//!
//! ## 4. Operations and their contracts
//!
//! Every operation returns a `Result`; on error **nothing changed** (validation completes
//! before the first write, and the number of frames a map needs is counted before any is
//! taken, so there is nothing to roll back). Errors are checked in the order their enum
//! lists them, so the oracle (`kvafuzz_oracles::mmu`) can predict exactly which one comes.
//!
//! - [`Mmu::map`] maps `len / page_size` pages of one size. Refused if any page conflicts
//!   (reported for the lowest such page): a page of the same size is there
//!   (`AlreadyMapped`), a larger page covers it (`LargePageInTheWay`: a walk through a large
//!   page), a table is in the slot (`TableInTheWay`), or its table is a shared segment's
//!   (`SharedTable`). Map never needs a flush: x86 never caches not-present entries.
//! - [`Mmu::unmap`] and [`Mmu::protect`] need the whole range mapped, by pages wholly
//!   inside it (a large page is never split), outside shared segments.
//! - [`Mmu::map_shared_segment`] / [`Mmu::unmap_shared_segment`] attach / detach a shared
//!   segment table at a segment-aligned address.
//! - [`Mmu::translate`] is a pure software walk; [`Mmu::access`] is the hardware: TLB first.
//!
//! ## 5. Design choices
//!
//! - **Large page over a live table**: refused with `TableInTheWay`. Because empty tables are
//!   freed at once (invariant 4), a table in a slot is always live, so the "unless empty"
//!   case of ANCHORS 6 #7 never arises and no table can leak.
//! - **Kernel half**: created lazily (like Linux's pgd sync on 32-bit): a root entry in the
//!   kernel half is written into every root at once, and cleared in every root when its
//!   table empties. Hence the top-level tables below the kernel half are shared by all spaces.
//! - **Sharing**: a shared segment table is found by key; mapping the same key again reuses
//!   it. Private edits inside it are refused (`SharedTable`). [`Mmu::table_stats`] counts the
//!   pages in use and the pages private tables would need.
//! - **TLB staleness**: [`Mmu::access`] compares every TLB hit with a fresh walk and returns
//!   [`AccessError::Stale`] when the hit is not covered by it; on a coherent hit it answers
//!   with the fresh translation, so a correct program's accesses are exactly predictable.
//!   A hit that forbids the access is dropped and re-walked (the spurious-fault path), as is a
//!   write hitting a clean entry (the walker must set D). [`Mmu::check_tlb_coherent`] scans
//!   every entry of every TLB. ASIDs are never reused, so entries of destroyed spaces are dead.
//!   Paging-structure caches are not modelled.
//!
//! ## 6. Limits
//!
//! See [`MAX_FRAMES`], [`MAX_CPUS`], [`MAX_TLB_ENTRIES`], [`MAX_SPACES`], [`MAX_MAP_PAGES`].

mod check;
pub mod geometry;
pub mod phys;
mod tlb;
mod types;

#[cfg(test)]
mod tests;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use crate::addr::{last_of, Arch, Range, PAGE_SIZE};

use geometry::{bits, is_leaf, is_pointer, present, Geometry, Level, TableIndex, MAX_LEVELS};
use phys::{Frame, PhysMem, TableKind};
use tlb::Tlb;

#[cfg(feature = "seeded-bugs")]
use crate::bugs::{Bug, BugSet};

pub use check::CheckMemo;
pub use phys::SegmentKey;
pub use tlb::TlbEntry;
pub use types::{
    Access, AccessError, AccessKind, Asid, CpuId, CreateSpaceError, DestroySpaceError, Flush,
    FlushScope, InvariantError, MapError, MapSharedError, NewError, PageFlags, StaleTlb,
    TableStats, TlbError, TranslateError, Translation, UnmapError, UnmapSharedError,
};

/// Most frames a pool may have: 2^16 frames = 256 MiB of tables, room for 2^16 * 512 = 2^25
/// leaf entries, and the pool (1 MiB + 256 MiB) stays below IA-32's 4 GiB physical limit.
pub const MAX_FRAMES: u32 = 1 << 16;
/// Most simulated CPUs: 64, the width of a typical kernel CPU mask word.
pub const MAX_CPUS: u32 = 64;
/// Most entries per TLB: 4096, above any real L2 TLB (1.5-3 K entries), so still bounded.
pub const MAX_TLB_ENTRIES: u32 = 4096;
/// Default entries per TLB: 64, the size of a typical L1 data TLB.
pub const DEFAULT_TLB_ENTRIES: u32 = 64;
/// Most live address spaces: 1024 (each needs at least one frame; bounds a fuzz case's work).
pub const MAX_SPACES: usize = 1024;
/// Most pages one `map` call may map: 2^16, i.e. 256 MiB of 4 KiB pages, so one call is at
/// most 2^16 walks (keeps a fuzz step fast; larger areas take several calls).
pub const MAX_MAP_PAGES: u64 = 1 << 16;

/// Size of the simulated machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmuConfig {
    /// Frames in the page-table pool, `1..=MAX_FRAMES`.
    pub frames: u32,
    /// Simulated CPUs (one TLB each), `1..=MAX_CPUS`.
    pub cpus: u32,
    /// Entries per TLB, `1..=MAX_TLB_ENTRIES`.
    pub tlb_entries: u32,
}

impl MmuConfig {
    /// `frames` frames, one CPU, [`DEFAULT_TLB_ENTRIES`].
    pub const fn with_frames(frames: u32) -> MmuConfig {
        MmuConfig {
            frames,
            cpus: 1,
            tlb_entries: DEFAULT_TLB_ENTRIES,
        }
    }
}

/// One walk as [`Mmu::walk_record`] saw it: the space and address, the tables' version
/// ([`Mmu::table_version`]) then, the level it stopped at, and by level the table it read
/// and the entry it found there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkRecord {
    asid: Asid,
    va: u64,
    version: (u64, u64),
    lowest: Level,
    tables: [Frame; MAX_LEVELS],
    entries: [u64; MAX_LEVELS],
}

impl WalkRecord {
    /// What [`Mmu::walk_entries`] answered: the lowest level reached and the entries by
    /// level (0 below it).
    pub fn entries(&self) -> (u8, [u64; MAX_LEVELS]) {
        (self.lowest, self.entries)
    }
}

/// Where a walk stopped, and what it saw on the way.
#[derive(Clone, Copy, Debug)]
struct Walk {
    /// `tables[l]`: the level-`l` table visited and the index used in it, for
    /// `level ..= top` (entries below `level` are meaningless).
    tables: [(Frame, TableIndex); MAX_LEVELS],
    /// Level of the last entry read.
    level: Level,
    /// The last entry read: not present, a leaf, or (if the walk was told to stop there) a
    /// pointer.
    entry: u64,
    /// RW ANDed over the pointer entries above `level`.
    rw: bool,
    /// US ANDed over the pointer entries above `level`.
    us: bool,
    /// NX ORed over the pointer entries above `level`.
    nx: bool,
    /// The table holding `entry` is a shared segment table.
    shared: bool,
}

/// The machine: a table pool, several address spaces, a TLB per CPU.
#[derive(Clone, Debug)]
pub struct Mmu {
    geo: Geometry,
    /// Table pool.
    phys: PhysMem,
    /// Root table of every live address space.
    spaces: BTreeMap<Asid, Frame>,
    /// Next ASID to hand out; `None` once all 2^32 are used.
    next_asid: Option<u32>,
    /// Shared segment tables by key.
    segments: BTreeMap<SegmentKey, Frame>,
    /// One TLB per CPU.
    tlbs: Vec<Tlb>,
    /// Seeded bugs switched on (the harness self-test; see `crate::bugs`).
    #[cfg(feature = "seeded-bugs")]
    bugs: BugSet,
}

impl Mmu {
    /// A machine in mode `arch` with the kernel address space ([`Asid::KERNEL`]) holding an
    /// empty root.
    pub fn new(arch: Arch, config: MmuConfig) -> Result<Mmu, NewError> {
        if config.frames == 0 || config.frames > MAX_FRAMES {
            return Err(NewError::BadFrameCount);
        }
        if config.cpus == 0 || config.cpus > MAX_CPUS {
            return Err(NewError::BadCpuCount);
        }
        if config.tlb_entries == 0 || config.tlb_entries > MAX_TLB_ENTRIES {
            return Err(NewError::BadTlbSize);
        }
        let geo = Geometry::new(arch);
        let mut phys = PhysMem::new(config.frames);
        let root = phys
            .alloc(geo, geo.top(), TableKind::Root)
            .ok_or(NewError::BadFrameCount)?;
        let mut spaces = BTreeMap::new();
        spaces.insert(Asid::KERNEL, root);
        Ok(Mmu {
            geo,
            phys,
            spaces,
            next_asid: Some(1),
            segments: BTreeMap::new(),
            tlbs: (0..config.cpus)
                .map(|_| Tlb::new(config.tlb_entries as usize))
                .collect(),
            #[cfg(feature = "seeded-bugs")]
            bugs: BugSet::NONE,
        })
    }

    /// Switch seeded bugs on (the harness self-test).
    #[cfg(feature = "seeded-bugs")]
    pub fn set_bugs(&mut self, bugs: BugSet) {
        self.bugs = bugs;
    }

    #[cfg(feature = "seeded-bugs")]
    fn bug(&self, bug: Bug) -> bool {
        self.bugs.contains(bug)
    }

    /// The mode.
    pub fn arch(&self) -> Arch {
        self.geo.arch()
    }

    /// The mode's shape.
    pub fn geometry(&self) -> Geometry {
        self.geo
    }

    /// Number of CPUs.
    pub fn cpus(&self) -> u32 {
        self.tlbs.len() as u32
    }

    /// Live address spaces, in ASID order.
    pub fn spaces(&self) -> impl Iterator<Item = Asid> + '_ {
        self.spaces.keys().copied()
    }

    /// Frames holding table pages.
    pub fn table_pages(&self) -> u64 {
        self.phys.used() as u64
    }

    /// Free frames.
    pub fn free_frames(&self) -> u64 {
        self.phys.available() as u64
    }

    /// Number of live shared segment tables.
    pub fn shared_segments(&self) -> usize {
        self.segments.len()
    }

    /// Entries cached by `cpu`'s TLB (empty for an unknown CPU).
    pub fn tlb_entries(&self, cpu: CpuId) -> Vec<TlbEntry> {
        self.tlbs
            .get(cpu.0 as usize)
            .map(|t| t.entries().map(|(_, e)| *e).collect())
            .unwrap_or_default()
    }

    // ----- address spaces -------------------------------------------------------------

    /// A new address space: a fresh root whose kernel half is copied from the kernel space's.
    pub fn create_space(&mut self) -> Result<Asid, CreateSpaceError> {
        if self.spaces.len() >= MAX_SPACES {
            return Err(CreateSpaceError::TooManySpaces);
        }
        let raw = self.next_asid.ok_or(CreateSpaceError::AsidsExhausted)?;
        let g = self.geo;
        let top = g.top();
        let root = self
            .phys
            .alloc(g, top, TableKind::Root)
            .ok_or(CreateSpaceError::OutOfFrames)?;
        let kroot = self.root(Asid::KERNEL);
        for i in g.kernel_top_index()..g.entries(top) {
            let Some(idx) = g.table_index(top, i) else {
                break;
            };
            let e = self.phys.read(kroot, idx);
            if present(e) {
                self.set_entry(root, top, idx, e);
            }
        }
        let asid = Asid::from_raw(raw);
        self.spaces.insert(asid, root);
        self.next_asid = raw.checked_add(1);
        Ok(asid)
    }

    /// Tear down an address space: its private tables are freed, its references to shared
    /// tables dropped. The returned flush covers the whole space for that ASID (ASIDs are
    /// never reused, so ignoring it is harmless).
    pub fn destroy_space(&mut self, asid: Asid) -> Result<Flush, DestroySpaceError> {
        if asid == Asid::KERNEL {
            return Err(DestroySpaceError::KernelSpace);
        }
        let root = self
            .spaces
            .remove(&asid)
            .ok_or(DestroySpaceError::NoSuchSpace)?;
        let g = self.geo;
        let top = g.top();
        for i in 0..g.entries(top) {
            let Some(idx) = g.table_index(top, i) else {
                break;
            };
            let e = self.phys.read(root, idx);
            if is_pointer(e, top) {
                let child = self.child(e, top);
                self.set_entry(root, top, idx, 0);
                if self.phys.page(child).refs == 0 {
                    self.release(child);
                }
            } else if present(e) {
                self.phys.write(root, idx, 0);
            }
        }
        self.phys.free(root);
        Ok(Flush {
            scope: FlushScope::Space(asid),
            range: self.whole_space(),
        })
    }

    // ----- mapping ----------------------------------------------------------------------

    /// Map `len / page_size` pages of `page_size` bytes: virtual `[va, va + len)` to physical
    /// `[pa, pa + len)`, every page with `flags`. See [`MapError`] for the checks, in order.
    pub fn map(
        &mut self,
        asid: Asid,
        va: u64,
        pa: u64,
        len: u64,
        flags: PageFlags,
        page_size: u64,
    ) -> Result<(), MapError> {
        let root = *self.spaces.get(&asid).ok_or(MapError::NoSuchSpace)?;
        let g = self.geo;
        let level = g
            .level_of_size(page_size)
            .ok_or(MapError::UnsupportedPageSize)?;
        if flags.contains(PageFlags::NO_EXECUTE) && !g.has_nx() {
            return Err(MapError::UnsupportedFlags);
        }
        let r = g.arch().check_range(va, len).map_err(MapError::Range);
        #[cfg(feature = "seeded-bugs")]
        // SEEDED BUG NonCanonicalAccepted (x86_64 crate, ANCHORS 6 #15): a range in (or
        // across) the canonical hole is taken as it is; the walk's truncated indices alias it
        // to other addresses.
        let r = match r {
            Err(MapError::Range(crate::addr::RangeError::NonCanonical))
                if self.bug(Bug::NonCanonicalAccepted) =>
            {
                Range::new(va, len).map_err(MapError::Range)
            }
            r => r,
        };
        let r = r?;
        if !va.is_multiple_of(page_size) {
            return Err(MapError::MisalignedVa);
        }
        if !len.is_multiple_of(page_size) {
            return Err(MapError::MisalignedLen);
        }
        if !pa.is_multiple_of(page_size) {
            return Err(MapError::MisalignedPa);
        }
        let pages = len / page_size;
        if pages > MAX_MAP_PAGES {
            return Err(MapError::TooManyPages);
        }
        if last_of(pa, len).is_none_or(|l| l > g.max_phys()) {
            return Err(MapError::PhysRange);
        }
        if flags.contains(PageFlags::USER) && g.in_kernel_half(r.last()) {
            return Err(MapError::UserInKernelHalf);
        }
        if flags.contains(PageFlags::GLOBAL) && !g.in_kernel_half(r.start()) {
            return Err(MapError::GlobalInUserHalf);
        }
        // Pass 1: every page's slot must be free; collect the tables that must be created.
        let mut missing: BTreeSet<(Level, u64)> = BTreeSet::new();
        for i in 0..pages {
            let v = va + i * page_size;
            let w = self.walk(root, v, level);
            if w.shared {
                return Err(MapError::SharedTable { va: v });
            }
            #[cfg(feature = "seeded-bugs")]
            // SEEDED BUG LargePageOverLiveTable (Linux 2018, ANCHORS 6 #7): a large page is
            // written over the pointer to a live table; the table leaks and the TLB entries
            // of its pages survive.
            if level > 0
                && w.level == level
                && is_pointer(w.entry, level)
                && self.bug(Bug::LargePageOverLiveTable)
            {
                continue;
            }
            if present(w.entry) {
                return Err(if w.level > level {
                    MapError::LargePageInTheWay { va: v }
                } else if is_leaf(w.entry, level) {
                    MapError::AlreadyMapped { va: v }
                } else {
                    MapError::TableInTheWay { va: v }
                });
            }
            for l in level..w.level {
                missing.insert((l, v >> g.table_span_shift(l)));
            }
        }
        if missing.len() as u64 > self.free_frames() {
            return Err(MapError::OutOfFrames);
        }
        // Pass 2: commit; cannot fail (frames were counted above).
        #[cfg(feature = "seeded-bugs")]
        // SEEDED BUG LargestMapOffByOne: the commit loop's end is computed per leaf table
        // with an exclusive bound taken for an inclusive one: a map of exactly MAX_MAP_PAGES
        // pages, or one whose last page is the first of a new table (one page past a table
        // boundary), stops one page short; the map still succeeds.
        let pages = if pages > 1
            && (pages == MAX_MAP_PAGES || g.index(va + (pages - 1) * page_size, level).get() == 0)
            && self.bug(Bug::LargestMapOffByOne)
        {
            pages - 1
        } else {
            pages
        };
        for i in 0..pages {
            let v = va + i * page_size;
            let table = self.make_path(root, v, level);
            let leaf = g.leaf_bits(flags, level) | (pa + i * page_size);
            self.set_everywhere(table, level, g.index(v, level), leaf);
        }
        Ok(())
    }

    /// Unmap every page of `[va, va + len)`; freed tables go back to the pool at once. See
    /// [`UnmapError`] for the checks, in order.
    pub fn unmap(&mut self, asid: Asid, va: u64, len: u64) -> Result<Flush, UnmapError> {
        let root = *self.spaces.get(&asid).ok_or(UnmapError::NoSuchSpace)?;
        let r = self.check_edit_range(va, len)?;
        let leaves = self.collect_leaves(root, r)?;
        for (base, level) in leaves {
            let w = self.walk(root, base, level);
            let (t, idx) = w.tables[level as usize];
            self.set_everywhere(t, level, idx, 0);
            self.prune(&w, level);
        }
        Ok(self.flush_token(asid, r))
    }

    /// Give every page of `[va, va + len)` the leaf flags `flags` (A and D are kept). See
    /// [`UnmapError`] for the checks, in order.
    pub fn protect(
        &mut self,
        asid: Asid,
        va: u64,
        len: u64,
        flags: PageFlags,
    ) -> Result<Flush, UnmapError> {
        let root = *self.spaces.get(&asid).ok_or(UnmapError::NoSuchSpace)?;
        let g = self.geo;
        if flags.contains(PageFlags::NO_EXECUTE) && !g.has_nx() {
            return Err(UnmapError::UnsupportedFlags);
        }
        let r = self.check_edit_range(va, len)?;
        if flags.contains(PageFlags::USER) && g.in_kernel_half(r.last()) {
            return Err(UnmapError::UserInKernelHalf);
        }
        if flags.contains(PageFlags::GLOBAL) && !g.in_kernel_half(r.start()) {
            return Err(UnmapError::GlobalInUserHalf);
        }
        let leaves = self.collect_leaves(root, r)?;
        for (base, level) in leaves {
            let w = self.walk(root, base, level);
            let (t, idx) = w.tables[level as usize];
            let keep = w.entry & g.addr_mask(level, true);
            self.set_everywhere_keeping_ad(t, level, idx, keep | g.leaf_bits(flags, level));
        }
        Ok(self.flush_token(asid, r))
    }

    /// Map the first `len` bytes of a segment at the segment-aligned `va` to physical
    /// `[pa, pa + len)` with `flags`, through a level-0 table shared with every other mapping
    /// of the same (pa, len, flags). See [`MapSharedError`] for the checks, in order.
    pub fn map_shared_segment(
        &mut self,
        asid: Asid,
        va: u64,
        pa: u64,
        len: u64,
        flags: PageFlags,
    ) -> Result<(), MapSharedError> {
        let root = *self.spaces.get(&asid).ok_or(MapSharedError::NoSuchSpace)?;
        let g = self.geo;
        if flags.contains(PageFlags::NO_EXECUTE) && !g.has_nx() {
            return Err(MapSharedError::UnsupportedFlags);
        }
        let r = g
            .arch()
            .check_range(va, len)
            .map_err(MapSharedError::Range)?;
        let seg = g.arch().segment_size();
        if !va.is_multiple_of(seg) {
            return Err(MapSharedError::MisalignedVa);
        }
        if !len.is_multiple_of(PAGE_SIZE) {
            return Err(MapSharedError::MisalignedLen);
        }
        if len > seg {
            return Err(MapSharedError::TooLong);
        }
        if !pa.is_multiple_of(PAGE_SIZE) {
            return Err(MapSharedError::MisalignedPa);
        }
        if last_of(pa, len).is_none_or(|l| l > g.max_phys()) {
            return Err(MapSharedError::PhysRange);
        }
        if flags.contains(PageFlags::USER) && g.in_kernel_half(r.last()) {
            return Err(MapSharedError::UserInKernelHalf);
        }
        if flags.contains(PageFlags::GLOBAL) && !g.in_kernel_half(r.start()) {
            return Err(MapSharedError::GlobalInUserHalf);
        }
        let sl = g.segment_level();
        let w = self.walk(root, va, sl);
        if present(w.entry) {
            return Err(if w.level > sl {
                MapSharedError::LargePageInTheWay
            } else if is_leaf(w.entry, sl) {
                MapSharedError::AlreadyMapped
            } else {
                MapSharedError::TableInTheWay
            });
        }
        let key = SegmentKey { pa, len, flags };
        let existing = self.segments.get(&key).copied();
        let need = (w.level - sl) as u64 + u64::from(existing.is_none());
        if need > self.free_frames() {
            return Err(MapSharedError::OutOfFrames);
        }
        let seg_table = match existing {
            Some(f) => f,
            None => {
                let f = self
                    .phys
                    .alloc(g, 0, TableKind::Segment(key))
                    .expect("mmu: frames counted before commit");
                for i in 0..len / PAGE_SIZE {
                    let idx = g.index(i * PAGE_SIZE, 0);
                    self.phys
                        .write(f, idx, g.leaf_bits(flags, 0) | (pa + i * PAGE_SIZE));
                }
                self.segments.insert(key, f);
                f
            }
        };
        let table = self.make_path(root, va, sl);
        let ptr = g.pointer_entry(seg_table.pa(), sl, g.in_kernel_half(va));
        self.set_everywhere(table, sl, g.index(va, sl), ptr);
        Ok(())
    }

    /// Detach the shared segment table at the segment-aligned `va`; it is freed when no
    /// address space uses it any more. See [`UnmapSharedError`] for the checks, in order.
    pub fn unmap_shared_segment(&mut self, asid: Asid, va: u64) -> Result<Flush, UnmapSharedError> {
        let root = *self
            .spaces
            .get(&asid)
            .ok_or(UnmapSharedError::NoSuchSpace)?;
        let g = self.geo;
        let seg = g.arch().segment_size();
        let r = g
            .arch()
            .check_range(va, seg)
            .map_err(UnmapSharedError::Range)?;
        if !va.is_multiple_of(seg) {
            return Err(UnmapSharedError::MisalignedVa);
        }
        let sl = g.segment_level();
        let w = self.walk(root, va, sl);
        if !present(w.entry) {
            return Err(UnmapSharedError::NotMapped);
        }
        if w.level != sl || !is_pointer(w.entry, sl) {
            return Err(UnmapSharedError::NotShared);
        }
        let child = self.child(w.entry, sl);
        if !matches!(self.phys.page(child).kind, TableKind::Segment(_)) {
            return Err(UnmapSharedError::NotShared);
        }
        let (t, idx) = w.tables[sl as usize];
        self.set_everywhere(t, sl, idx, 0);
        if self.phys.page(child).refs == 0 {
            self.release(child);
        }
        self.prune(&w, sl);
        Ok(self.flush_token(asid, r))
    }

    // ----- translation, TLBs ------------------------------------------------------------

    /// Walk `asid`'s tables for `va` (no TLB, no A/D updates).
    pub fn translate(&self, asid: Asid, va: u64) -> Result<Translation, TranslateError> {
        let root = *self.spaces.get(&asid).ok_or(TranslateError::NoSuchSpace)?;
        if !self.geo.arch().is_canonical(va) {
            return Err(TranslateError::NonCanonical);
        }
        self.leaf_translation(&self.walk(root, va, 0), va)
            .ok_or(TranslateError::NotMapped)
    }

    /// The tables' version: `(pool, epoch)` is the same at two moments iff no table page
    /// changed between them (no entry written, A and D included; no table made or freed) and
    /// the MMU is the same one (a clone gets a new pool). With the same live spaces, every
    /// [`Mmu::translate`] answer is then the same too (a walk reads nothing else).
    pub fn table_version(&self) -> (u64, u64) {
        (self.phys.id(), self.phys.epoch())
    }

    /// The raw hardware entries on `asid`'s walk to `va` (widened to 64 bits, indexed by
    /// level) and the lowest level it reached (where it met a leaf, a non-present entry, or
    /// level 0); entries below that level are 0. `None` if the space does not exist or `va`
    /// is not in the space. One walk for what [`Mmu::entry`] answers level by level.
    pub fn walk_entries(&self, asid: Asid, va: u64) -> Option<(u8, [u64; MAX_LEVELS])> {
        self.walk_record(asid, va).map(|r| r.entries())
    }

    /// [`Mmu::walk_entries`], with the tables the walk read: what
    /// [`Mmu::walk_unchanged`] checks later. `None` in the same cases.
    pub fn walk_record(&self, asid: Asid, va: u64) -> Option<WalkRecord> {
        let root = *self.spaces.get(&asid)?;
        if !self.geo.arch().is_canonical(va) {
            return None;
        }
        let w = self.walk(root, va, 0);
        let mut entries = [0; MAX_LEVELS];
        let mut tables = [Frame::default(); MAX_LEVELS];
        for l in w.level..=self.geo.top() {
            let (t, idx) = w.tables[l as usize];
            entries[l as usize] = self.phys.read(t, idx);
            tables[l as usize] = t;
        }
        Some(WalkRecord {
            asid,
            va,
            version: self.table_version(),
            lowest: w.level,
            tables,
            entries,
        })
    }

    /// Whether a walk now would read exactly what `r` records: the same entries in the same
    /// tables, from the same root. Then [`Mmu::translate`] and [`Mmu::walk_entries`] answer
    /// as they did when `r` was made (they read nothing else). A table not changed since
    /// (its stamp, see `PhysMem`) is not read again; one that changed is read at the walk's
    /// index. When the answer is yes, `r` is brought up to date (later calls read less).
    pub fn walk_unchanged(&self, r: &mut WalkRecord) -> bool {
        let now = self.table_version();
        let top = self.geo.top();
        if r.version.0 != now.0 || self.spaces.get(&r.asid) != Some(&r.tables[top as usize]) {
            return false;
        }
        for l in r.lowest..=top {
            let t = r.tables[l as usize];
            if self.phys.stamp(t) <= r.version.1 {
                continue;
            }
            let Some(page) = self.phys.page_if(t) else {
                return false;
            };
            let i = self.geo.index(r.va, l).get();
            if i >= phys::data_len(&page.data)
                || phys::read_data(&page.data, i) != r.entries[l as usize]
            {
                return false;
            }
        }
        r.version = now;
        true
    }

    /// The raw hardware entry at `level` on `asid`'s walk to `va` (widened to 64 bits), or
    /// `None` if the walk ends above that level, the space does not exist or `va` is not in
    /// the space. For tests and traces: shows the exact architectural encoding.
    pub fn entry(&self, asid: Asid, va: u64, level: u8) -> Option<u64> {
        let root = *self.spaces.get(&asid)?;
        if !self.geo.arch().is_canonical(va) || level > self.geo.top() {
            return None;
        }
        let w = self.walk(root, va, level);
        (w.level == level).then_some(w.entry)
    }

    /// What `cpu` does when code in `asid` makes `access` at `va`: look in the TLB; on a hit
    /// that permits the access, compare it with a fresh walk (stale: [`AccessError::Stale`];
    /// coherent: the fresh translation); otherwise walk, set A (and D on a write), check the
    /// permissions and cache the translation.
    pub fn access(
        &mut self,
        cpu: CpuId,
        asid: Asid,
        va: u64,
        access: Access,
    ) -> Result<Translation, AccessError> {
        let c = cpu.0 as usize;
        if c >= self.tlbs.len() {
            return Err(AccessError::NoSuchCpu);
        }
        let root = *self.spaces.get(&asid).ok_or(AccessError::NoSuchSpace)?;
        let arch = self.geo.arch();
        if !arch.is_canonical(va) {
            return Err(AccessError::NonCanonical);
        }
        let write = access.kind == AccessKind::Write;
        if let Some((slot, e)) = self.tlbs[c].lookup(asid, va, arch.page_sizes()) {
            let cached = e.translation(va);
            if access.permitted_by(cached.flags) && (e.dirty || !write) {
                let current = self.leaf_translation(&self.walk(root, va, 0), va);
                return match current {
                    Some(t) if self.fresh(&cached, &t) => Ok(t),
                    _ => Err(AccessError::Stale(StaleTlb {
                        cpu,
                        asid,
                        cached,
                        current,
                    })),
                };
            }
            // Spurious fault or clean entry: drop it and walk, as the hardware does.
            self.tlbs[c].remove(slot);
        }
        let w = self.walk(root, va, 0);
        let t = self
            .leaf_translation(&w, va)
            .ok_or(AccessError::NotPresent)?;
        if !access.permitted_by(t.flags) {
            return Err(AccessError::Protection);
        }
        self.mark_accessed(&w, write);
        self.tlbs[c].insert(asid, &t, write);
        Ok(t)
    }

    /// Apply a flush token on every CPU (a TLB shootdown).
    pub fn flush(&mut self, f: Flush) {
        for t in &mut self.tlbs {
            apply(t, &f);
        }
    }

    /// Apply a flush token on one CPU only (the caller still owns the token).
    pub fn flush_on(&mut self, cpu: CpuId, f: &Flush) -> Result<(), TlbError> {
        apply(self.tlb_mut(cpu)?, f);
        Ok(())
    }

    /// INVLPG: drop `cpu`'s entries for the page holding `va` (for `asid`, and global ones).
    pub fn invlpg(&mut self, cpu: CpuId, asid: Asid, va: u64) -> Result<(), TlbError> {
        let r = Range::from_inclusive(va, va).unwrap_or(self.whole_space());
        self.tlb_mut(cpu)?.invalidate_range(asid, r);
        Ok(())
    }

    /// INVLPG over every page overlapping `range`.
    pub fn flush_range(&mut self, cpu: CpuId, asid: Asid, range: Range) -> Result<(), TlbError> {
        self.tlb_mut(cpu)?.invalidate_range(asid, range);
        Ok(())
    }

    /// Drop `cpu`'s non-global entries of `asid` (a CR3 load of that PCID).
    pub fn flush_asid(&mut self, cpu: CpuId, asid: Asid) -> Result<(), TlbError> {
        self.tlb_mut(cpu)?.flush_asid(asid);
        Ok(())
    }

    /// Drop `cpu`'s non-global entries of every ASID; global ones survive.
    pub fn flush_nonglobal(&mut self, cpu: CpuId) -> Result<(), TlbError> {
        self.tlb_mut(cpu)?.flush_nonglobal();
        Ok(())
    }

    /// Drop all of `cpu`'s entries, global ones included (CR4.PGE toggle).
    pub fn flush_all(&mut self, cpu: CpuId) -> Result<(), TlbError> {
        self.tlb_mut(cpu)?.flush_all();
        Ok(())
    }

    /// Every TLB entry of every CPU checked over its whole page against a fresh walk: the
    /// first stale one (CPU order, then non-global entries by key, then global ones). A global
    /// entry is checked against the kernel space (global pages exist only in the kernel half,
    /// which all spaces share); entries of destroyed spaces are skipped (never hit again).
    /// Cost: one walk per fresh leaf under each cached page.
    pub fn check_tlb_coherent(&self) -> Result<(), StaleTlb> {
        for (c, tlb) in self.tlbs.iter().enumerate() {
            for (_, e) in tlb.entries() {
                let global = e.flags.contains(PageFlags::GLOBAL);
                let asid = if global { Asid::KERNEL } else { e.asid };
                let Some(&root) = self.spaces.get(&asid) else {
                    continue;
                };
                let last = e.page_base + (e.page_size - 1);
                let mut a = e.page_base;
                loop {
                    let cached = e.translation(a);
                    let current = self.leaf_translation(&self.walk(root, a, 0), a);
                    let t = match current {
                        Some(t) if self.fresh(&cached, &t) => t,
                        _ => {
                            return Err(StaleTlb {
                                cpu: CpuId(c as u32),
                                asid,
                                cached,
                                current,
                            })
                        }
                    };
                    let fresh_last = t.page_base + (t.page_size - 1);
                    if fresh_last >= last {
                        break;
                    }
                    a = fresh_last + 1;
                }
            }
        }
        Ok(())
    }

    // ----- internals --------------------------------------------------------------------

    /// `true` iff `cached` may be used instead of the fresh walk's `current`
    /// ([`Translation::covered_by`]).
    fn fresh(&self, cached: &Translation, current: &Translation) -> bool {
        #[cfg(feature = "seeded-bugs")]
        let seen = {
            let mut seen = *current;
            // SEEDED BUG StaleCheckIgnoresCacheAttrs: a change of PWT or PCD alone leaves
            // the cached entry "fresh" (the translation did not move).
            if self.bug(Bug::StaleCheckIgnoresCacheAttrs) {
                let cache = PageFlags::WRITE_THROUGH | PageFlags::CACHE_DISABLE;
                seen.flags = seen
                    .flags
                    .difference(cache)
                    .union(PageFlags::from_bits_truncate(
                        cached.flags.bits() & cache.bits(),
                    ));
            }
            // SEEDED BUG StaleCheckIgnoresPageSize: an entry of another page size is
            // "fresh" when the physical address and flags agree.
            if self.bug(Bug::StaleCheckIgnoresPageSize) {
                seen.page_size = cached.page_size;
                seen.page_base = cached.page_base;
            }
            seen
        };
        #[cfg(feature = "seeded-bugs")]
        let current = &seen;
        cached.covered_by(current)
    }

    fn root(&self, asid: Asid) -> Frame {
        *self
            .spaces
            .get(&asid)
            .expect("mmu: the kernel space always exists")
    }

    fn tlb_mut(&mut self, cpu: CpuId) -> Result<&mut Tlb, TlbError> {
        self.tlbs.get_mut(cpu.0 as usize).ok_or(TlbError::NoSuchCpu)
    }

    fn whole_space(&self) -> Range {
        Range::from_inclusive(0, self.geo.arch().max_addr()).expect("0 <= max_addr")
    }

    fn flush_token(&self, asid: Asid, r: Range) -> Flush {
        let scope = if self.geo.in_kernel_half(r.last()) {
            FlushScope::AllSpaces
        } else {
            FlushScope::Space(asid)
        };
        #[cfg(feature = "seeded-bugs")]
        // SEEDED BUG FlushWrongRange: the token names only the first page of the range (one
        // INVLPG where a range flush was needed).
        let r = if self.bug(Bug::FlushWrongRange) {
            Range::from_inclusive(r.start(), r.start() + (PAGE_SIZE - 1)).unwrap_or(r)
        } else {
            r
        };
        Flush { scope, range: r }
    }

    /// The range checks shared by unmap and protect: legal range, 4 KiB aligned.
    fn check_edit_range(&self, va: u64, len: u64) -> Result<Range, UnmapError> {
        let r = self
            .geo
            .arch()
            .check_range(va, len)
            .map_err(UnmapError::Range)?;
        if !va.is_multiple_of(PAGE_SIZE) {
            return Err(UnmapError::MisalignedVa);
        }
        if !len.is_multiple_of(PAGE_SIZE) {
            return Err(UnmapError::MisalignedLen);
        }
        Ok(r)
    }

    /// The leaves (page base, level) that exactly tile `r`, or the first walk error.
    fn collect_leaves(&self, root: Frame, r: Range) -> Result<Vec<(u64, Level)>, UnmapError> {
        let mut out = Vec::new();
        let mut a = r.start();
        loop {
            let w = self.walk(root, a, 0);
            if w.shared {
                return Err(UnmapError::SharedTable { va: a });
            }
            if !present(w.entry) {
                return Err(UnmapError::NotMapped { va: a });
            }
            let size = self.geo.entry_span(w.level);
            let base = a & !(size - 1);
            let last = base + (size - 1);
            if base < r.start() || last > r.last() {
                return Err(UnmapError::PartialLargePage { va: a });
            }
            out.push((base, w.level));
            if last == r.last() {
                return Ok(out);
            }
            a = last + 1;
        }
    }

    /// The table a pointer entry at `level` points at.
    fn child(&self, e: u64, level: Level) -> Frame {
        self.phys
            .frame_at(e & self.geo.addr_mask(level, false))
            .expect("mmu: pointer entry to a frame holding no table")
    }

    /// Walk from `root` towards `va`, stopping at a non-present entry, a leaf, or level `stop`.
    fn walk(&self, root: Frame, va: u64, stop: Level) -> Walk {
        let g = self.geo;
        let mut w = Walk {
            tables: [(Frame::default(), TableIndex::default()); MAX_LEVELS],
            level: g.top(),
            entry: 0,
            rw: true,
            us: true,
            nx: false,
            shared: false,
        };
        let mut table = root;
        let mut level = g.top();
        loop {
            let idx = g.index(va, level);
            let e = self.phys.read(table, idx);
            w.tables[level as usize] = (table, idx);
            w.level = level;
            w.entry = e;
            w.shared = matches!(self.phys.page(table).kind, TableKind::Segment(_));
            if level == stop || !is_pointer(e, level) {
                return w;
            }
            if g.has_perm_bits(level) {
                w.rw &= e & bits::RW != 0;
                w.us &= e & bits::US != 0;
                w.nx |= e & bits::NX != 0;
            }
            table = self.child(e, level);
            level -= 1;
        }
    }

    /// The translation of `va` if the walk ended on a leaf.
    fn leaf_translation(&self, w: &Walk, va: u64) -> Option<Translation> {
        if !is_leaf(w.entry, w.level) {
            return None;
        }
        let g = self.geo;
        let size = g.entry_span(w.level);
        let leaf = g.leaf_flags(w.entry);
        let mut flags = leaf.difference(PageFlags::WRITABLE | PageFlags::USER);
        if w.rw && leaf.contains(PageFlags::WRITABLE) {
            flags = flags | PageFlags::WRITABLE;
        }
        if w.us && leaf.contains(PageFlags::USER) {
            flags = flags | PageFlags::USER;
        }
        if w.nx {
            flags = flags | PageFlags::NO_EXECUTE;
        }
        let base_pa = w.entry & g.addr_mask(w.level, true);
        Some(Translation {
            va,
            pa: base_pa + (va & (size - 1)),
            page_base: va & !(size - 1),
            page_size: size,
            flags,
        })
    }

    /// Set A in every entry of the walk (D too in the leaf, on a write).
    fn mark_accessed(&mut self, w: &Walk, write: bool) {
        let g = self.geo;
        for l in w.level..=g.top() {
            if !g.has_perm_bits(l) {
                continue;
            }
            let (t, idx) = w.tables[l as usize];
            let mut e = self.phys.read(t, idx);
            e |= bits::A;
            if l == w.level && write {
                e |= bits::D;
            }
            self.phys.write(t, idx, e);
        }
    }

    /// Store `e` at (`table`, `idx`), keeping the reference counts of the old and new
    /// children in step. Never frees: the caller releases a child whose count reached 0.
    fn set_entry(&mut self, table: Frame, level: Level, idx: TableIndex, e: u64) {
        let old = self.phys.read(table, idx);
        if is_pointer(e, level) {
            let c = self.child(e, level);
            self.phys.page_mut(c).refs += 1;
        }
        if is_pointer(old, level) {
            let c = self.child(old, level);
            self.phys.page_mut(c).refs -= 1;
        }
        self.phys.write(table, idx, e);
    }

    /// [`Mmu::set_entry`], but a kernel-half root entry is written into every root.
    fn set_everywhere(&mut self, table: Frame, level: Level, idx: TableIndex, e: u64) {
        let g = self.geo;
        if level == g.top() && g.is_kernel_top_index(idx) {
            let roots: Vec<Frame> = self.spaces.values().copied().collect();
            for r in roots {
                self.set_entry(r, level, idx, e);
            }
        } else {
            self.set_entry(table, level, idx, e);
        }
    }

    /// [`Mmu::set_everywhere`] for a change of flags: every entry written keeps its own A and
    /// D bits (each root has its own copy of a kernel-half root entry, and its own A and D
    /// in it: another space's must not overwrite them, nor a lost D lose a write).
    fn set_everywhere_keeping_ad(&mut self, table: Frame, level: Level, idx: TableIndex, e: u64) {
        let g = self.geo;
        let ad = bits::A | bits::D;
        if level == g.top() && g.is_kernel_top_index(idx) {
            let roots: Vec<Frame> = self.spaces.values().copied().collect();
            for r in roots {
                let own = self.phys.read(r, idx) & self.kept_ad(ad);
                self.set_entry(r, level, idx, e | own);
            }
        } else {
            let own = self.phys.read(table, idx) & self.kept_ad(ad);
            self.set_entry(table, level, idx, e | own);
        }
    }

    /// The A and D bits a change of flags keeps: `ad`.
    #[cfg(not(feature = "seeded-bugs"))]
    fn kept_ad(&self, ad: u64) -> u64 {
        ad
    }

    /// The A and D bits a change of flags keeps: `ad`.
    #[cfg(feature = "seeded-bugs")]
    fn kept_ad(&self, ad: u64) -> u64 {
        // SEEDED BUG DirtyLostOnProtect: the rewritten leaf loses its A and D bits.
        if self.bug(Bug::DirtyLostOnProtect) {
            0
        } else {
            ad
        }
    }

    /// Create the missing tables on the path to `va` down to `level`; returns the level-`level`
    /// table. The frames must have been counted as available.
    fn make_path(&mut self, root: Frame, va: u64, level: Level) -> Frame {
        let g = self.geo;
        let w = self.walk(root, va, level);
        let mut table = w.tables[w.level as usize].0;
        let mut l = w.level;
        while l > level {
            let child = self
                .phys
                .alloc(g, l - 1, TableKind::Inner)
                .expect("mmu: frames counted before commit");
            let ptr = g.pointer_entry(child.pa(), l, g.in_kernel_half(va));
            self.set_everywhere(table, l, g.index(va, l), ptr);
            table = child;
            l -= 1;
        }
        table
    }

    /// After an entry at `from` was cleared along `w`: free every table on the path that is
    /// now empty, bottom up (never the root).
    fn prune(&mut self, w: &Walk, from: Level) {
        let top = self.geo.top();
        for l in from..top {
            let (t, _) = w.tables[l as usize];
            let keep = self.phys.page(t).present > 0;
            #[cfg(feature = "seeded-bugs")]
            // SEEDED BUG TablePageFreedWithEntries: a table with one entry left counts as
            // empty and is freed, taking that entry's mapping with it.
            let keep = keep
                && !(self.phys.page(t).present == 1 && self.bug(Bug::TablePageFreedWithEntries));
            if keep {
                return;
            }
            let (parent, pidx) = w.tables[l as usize + 1];
            self.set_everywhere(parent, l + 1, pidx, 0);
            if self.phys.page(t).refs > 0 {
                return;
            }
            self.release(t);
        }
    }

    /// Free a table whose reference count reached 0, and recursively every table only it
    /// referenced.
    fn release(&mut self, t: Frame) {
        let level = self.phys.page(t).level;
        if level > 0 {
            for i in 0..self.geo.entries(level) {
                let Some(idx) = self.geo.table_index(level, i) else {
                    break;
                };
                let e = self.phys.read(t, idx);
                if is_pointer(e, level) {
                    let c = self.child(e, level);
                    self.set_entry(t, level, idx, 0);
                    if self.phys.page(c).refs == 0 {
                        self.release(c);
                    }
                }
            }
        }
        if let Some(page) = self.phys.free(t) {
            if let TableKind::Segment(key) = page.kind {
                self.segments.remove(&key);
            }
        }
    }
}

fn apply(t: &mut Tlb, f: &Flush) {
    match f.scope {
        FlushScope::Space(a) => t.invalidate_range(a, f.range),
        FlushScope::AllSpaces => t.invalidate_range_all(f.range),
    }
}

/// One address space with its own table pool: the single-space face of [`Mmu`] (it is the
/// kernel space of a one-CPU machine, so both halves are usable).
#[derive(Clone, Debug)]
pub struct PageTable {
    mmu: Mmu,
}

impl PageTable {
    /// An empty address space in mode `arch` with a pool of `frames` frames (the root takes
    /// one).
    pub fn new(arch: Arch, frames: u32) -> Result<PageTable, NewError> {
        Ok(PageTable {
            mmu: Mmu::new(arch, MmuConfig::with_frames(frames))?,
        })
    }

    /// The mode.
    pub fn arch(&self) -> Arch {
        self.mmu.arch()
    }

    /// See [`Mmu::map`].
    pub fn map(
        &mut self,
        va: u64,
        pa: u64,
        len: u64,
        flags: PageFlags,
        page_size: u64,
    ) -> Result<(), MapError> {
        self.mmu.map(Asid::KERNEL, va, pa, len, flags, page_size)
    }

    /// See [`Mmu::unmap`].
    pub fn unmap(&mut self, va: u64, len: u64) -> Result<Flush, UnmapError> {
        self.mmu.unmap(Asid::KERNEL, va, len)
    }

    /// See [`Mmu::protect`].
    pub fn protect(&mut self, va: u64, len: u64, flags: PageFlags) -> Result<Flush, UnmapError> {
        self.mmu.protect(Asid::KERNEL, va, len, flags)
    }

    /// See [`Mmu::translate`].
    pub fn translate(&self, va: u64) -> Result<Translation, TranslateError> {
        self.mmu.translate(Asid::KERNEL, va)
    }

    /// Frames holding table pages (the root included).
    pub fn table_pages(&self) -> u64 {
        self.mmu.table_pages()
    }

    /// Free frames.
    pub fn free_frames(&self) -> u64 {
        self.mmu.free_frames()
    }

    /// See [`Mmu::check_invariants`].
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        self.mmu.check_invariants()
    }

    /// The underlying machine (for its TLB).
    pub fn mmu(&self) -> &Mmu {
        &self.mmu
    }

    /// The underlying machine, mutably (for [`Mmu::access`] and flushes).
    pub fn mmu_mut(&mut self) -> &mut Mmu {
        &mut self.mmu
    }
}
