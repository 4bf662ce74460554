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
mod internals;
mod mapping;
mod page_table;
pub mod phys;
mod tlb;
mod translate;
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
pub use page_table::PageTable;
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
}
