//! # Naive model of x86 page tables (oracle for `kvafuzz::mmu`)
//!
//! No tables and no walks: each address space is a flat `BTreeMap` from the first virtual address
//! of a mapping to what it maps. Beside it, each CPU's TLB as a list of cached translations (module
//! `tlb`: fills, drops, and which entries are stale), and the raw entries a walk must meet, derived
//! from the mappings (module `entries`). The number of page-table pages the real structure needs
//! is, for each level, the number of distinct address prefixes that the mapped pages fall in: kept
//! as a count per prefix, updated by every change of a mapping, and recounted from scratch by
//! [`MmuModel::check_counts`] (which the harness runs at the end of every scenario). All arithmetic
//! is `u128`.
//!
//! ## What the model knows about the modes
//!
//! | mode   | index bits per level (leaf first) | VA bits | page sizes        | segment |
//! |--------|-----------------------------------|---------|-------------------|---------|
//! | IA-32  | 10, 10                            | 32      | 4 KiB, 4 MiB      | 4 MiB   |
//! | PAE    | 9, 9, 2                           | 32      | 4 KiB, 2 MiB      | 2 MiB   |
//! | x86_64 | 9, 9, 9, 9                        | 48      | 4 KiB, 2 MiB, 1 GiB | 2 MiB |
//! | LA57   | 9 x 5                             | 57      | same              | 2 MiB   |
//!
//! The *kernel half* starts at `0xC000_0000` on the 32-bit modes and at the upper canonical
//! half (`2^64 - 2^(bits-1)`) on x86_64. Its mappings are one map shared by every address
//! space; the user half has one map per address space. Address space 0 is the kernel's and
//! always exists; new ones get 1, 2, ... (never reused).
//!
//! A *segment mapping* (`map_shared_segment`) maps `len` bytes from a segment-aligned address
//! through a page-table page shared by every segment mapping with the same `(pa, len,
//! flags)`; it occupies the whole segment *slot* `[va, va + segment)`.
//!
//! ## Flags
//!
//! Plain bits, the same values the implementation's `PageFlags` documents: [`WRITABLE`],
//! [`USER`], [`WRITE_THROUGH`], [`CACHE_DISABLE`], [`GLOBAL`], [`NO_EXECUTE`]. Other bits are
//! ignored (masked off).
//!
//! ## Contracts (checked in the order written; on error nothing changes)
//!
//! Range checks on `(va, len)` are: `Empty` (len 0), `Wraps` (last byte above 2^64 - 1),
//! `PastTop` (last byte above the space), `NonCanonical` (an end in the hole, or the ends in
//! different halves).
//!
//! - `map(asid, va, pa, len, flags, size)`: `NoSuchSpace`, `UnsupportedPageSize`,
//!   `UnsupportedFlags` (NX on IA-32), range, `MisalignedVa`/`MisalignedLen`/`MisalignedPa`
//!   (to `size`), `TooManyPages` (more than [`MAX_MAP_PAGES`]), `PhysRange`, `UserInKernelHalf`
//!   (USER and the last byte in the kernel half), `GlobalInUserHalf` (GLOBAL and the first byte
//!   in the user half); then, for the lowest page with a conflict: `LargePageInTheWay` (a
//!   bigger page contains it), `SharedTable` (a 4 KiB page in a segment slot),
//!   `TableInTheWay` (smaller pages or a segment slot inside it), `AlreadyMapped` (same
//!   page); then `OutOfFrames` if the tables needed afterwards exceed the frames.
//! - `unmap(asid, va, len)` / `protect(asid, va, len, flags)`: `NoSuchSpace`,
//!   (protect: `UnsupportedFlags`), range, `MisalignedVa`/`MisalignedLen` (to 4 KiB),
//!   (protect: `UserInKernelHalf`, `GlobalInUserHalf`), then walking up from `va`, at the first
//!   address `a` not yet covered: `NotMapped{a}` (nothing there), `SharedTable{a}` (a segment
//!   slot), `PartialLargePage{a}` (a page sticking out of the range). Success returns the
//!   predicted flush: the range, for every space iff it reaches the kernel half.
//! - `map_shared_segment(asid, va, pa, len, flags)`: `NoSuchSpace`, `UnsupportedFlags`,
//!   range, `MisalignedVa` (to the segment), `MisalignedLen` (4 KiB), `TooLong` (above a
//!   segment), `MisalignedPa` (4 KiB), `PhysRange`, `UserInKernelHalf`, `GlobalInUserHalf`,
//!   `LargePageInTheWay` (a page larger than a segment covers the slot), `AlreadyMapped` (a
//!   segment-sized page is the slot), `TableInTheWay` (anything else in the slot),
//!   `OutOfFrames`. The slot errors carry the segment's `va`.
//! - `unmap_shared_segment(asid, va)`: `NoSuchSpace`, range of `(va, segment)`,
//!   `MisalignedVa`, `NotMapped{va}` (slot empty), `NotShared` (slot holds something else).
//! - `translate(asid, va)`: `NoSuchSpace`, `NonCanonical`, `NotMapped{va}`.
//! - `access(cpu, asid, va, kind, user)`: `NoSuchCpu`, `NoSuchSpace`, `NonCanonical`,
//!   `NotPresent`, `Protection` (user access to a non-USER page; a write to a non-WRITABLE
//!   page; a fetch from a NO_EXECUTE page). With every flush applied the TLB is invisible.
//! - `create_space()`: `TooManySpaces` ([`MAX_SPACES`] live), `AsidsExhausted`,
//!   `OutOfFrames` (no frame for the root). `destroy_space(asid)`: `KernelSpace` (0),
//!   `NoSuchSpace`.
//!
//! ## Accessed and dirty
//!
//! The model keeps the A bit (and D, in leaves) of every entry that has one set, by entry:
//! entry `va / entry_span(L)` of the level-`L` table of a scope (the kernel half or a space;
//! at the root always the space, since every root holds its own copy of the kernel half's
//! entries), or entry `i` of a shared segment table (one per segment key, so shared by every
//! space that maps it). Rules, the same in every mode and for every page size:
//!
//! - **Set** by a successful access that walks ([`MmuModel::walked`]: the caller says so,
//!   since the model has no TLB): A in every entry of the walk that has one (PAE's
//!   page-directory pointers do not), D in the leaf on a write. A TLB hit sets nothing.
//! - **Kept** by everything else, a change of flags (`protect`) included.
//! - **Cleared** when the entry is made or cleared: a page mapped or unmapped (its leaf),
//!   a table made or freed (the entry pointing at it: in every root, for a kernel-half table
//!   below the root), a segment mapped or unmapped (the entry pointing at its table), a
//!   segment table made or freed (all its entries), a space destroyed (all of its own).
//! - **Copied** into a new space's root from the kernel space's root (its kernel half).
//!
//! ## Table pages
//!
//! A page of size `s` has its entry at level `L` (the level whose entries span `s`) and
//! needs a table at every level `L ..= top`. A segment needs tables at levels `1 ..= top`
//! plus its shared level-0 table. Tables below the root are named by (scope, level,
//! `va >> bits mapped by one whole table of that level`), scope being "kernel" for the
//! kernel half and the address space otherwise. Pages in use = one root per space + distinct
//! names + distinct segment keys. Private equivalent: per space, 1 + distinct (level, prefix)
//! names of everything it sees, segments counted as their own level-0 table.
//!
//! ## Files
//!
//! This file holds the types, the mapping book and its counts; `edits.rs` predicts map,
//! unmap, protect and the shared segments, `access.rs` translation, access, A/D bits and the
//! TLB operations, `spaces.rs` creating and destroying spaces and the table-page counts,
//! `tlb.rs` the TLBs, `entries.rs` the raw entries, `changes.rs` where the model changed
//! (for the harness's incremental comparison) and `listing.rs` its mappings as runs.

use std::collections::BTreeMap;

mod access;
mod changes;
mod edits;
mod entries;
mod listing;
mod spaces;
mod tlb;

pub use changes::Changed;
pub use entries::{hw, EntryPrediction, TableId};
use tlb::CpuTlb;
pub use tlb::{fresh, CachedEntry};

/// Writes allowed.
pub const WRITABLE: u8 = 1;
/// User accesses allowed.
pub const USER: u8 = 2;
/// Write-through caching.
pub const WRITE_THROUGH: u8 = 4;
/// Caching disabled.
pub const CACHE_DISABLE: u8 = 8;
/// Global TLB entry.
pub const GLOBAL: u8 = 16;
/// No execute (not on IA-32).
pub const NO_EXECUTE: u8 = 32;
/// Every defined flag bit.
pub const ALL_FLAGS: u8 = 63;

/// Accessed, in [`MmuModel::accessed_dirty`]'s answer (the hardware's A bit of the entry).
pub const ACCESSED: u8 = 1;
/// Dirty, in [`MmuModel::accessed_dirty`]'s answer (the hardware's D bit, leaves only).
pub const DIRTY: u8 = 2;

/// Entries per TLB of [`MmuModel::new`].
pub const DEFAULT_TLB_ENTRIES: usize = 64;
/// Most CPUs whose TLBs the model keeps (the implementation allows 64).
pub const MAX_MODEL_CPUS: u128 = 1024;

/// Most pages one `map` may map (2^16).
pub const MAX_MAP_PAGES: u128 = 1 << 16;
/// Most live address spaces (1024).
pub const MAX_SPACES: usize = 1024;

const KIB4: u128 = 4096;
const MIB2: u128 = 2 << 20;
const MIB4: u128 = 4 << 20;
const GIB1: u128 = 1 << 30;
const TOP64: u128 = (1 << 64) - 1;

/// The paging mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// 2 levels of 1024 entries; 4 KiB and 4 MiB pages; no NX.
    Ia32,
    /// 3 levels (4, 512, 512 entries); 4 KiB and 2 MiB pages.
    Pae,
    /// 4 levels of 512; 4 KiB, 2 MiB, 1 GiB pages; 48-bit canonical.
    X86_64,
    /// 5 levels of 512; 57-bit canonical.
    La57,
}

impl Mode {
    /// Number of levels.
    pub fn levels(self) -> u32 {
        match self {
            Mode::Ia32 => 2,
            Mode::Pae => 3,
            Mode::X86_64 => 4,
            Mode::La57 => 5,
        }
    }

    fn top(self) -> u32 {
        self.levels() - 1
    }

    /// Index bits of a level-`l` table.
    fn bits(self, l: u32) -> u32 {
        match self {
            Mode::Ia32 => 10,
            Mode::Pae if l == 2 => 2,
            _ => 9,
        }
    }

    /// Bytes one level-`l` entry maps.
    fn entry_span(self, l: u32) -> u128 {
        1 << self.entry_shift(l)
    }

    /// log2 of [`Mode::entry_span`] (a shift is cheaper than a `u128` division).
    fn entry_shift(self, l: u32) -> u32 {
        match self {
            Mode::Ia32 => 12 + 10 * l,
            _ => 12 + 9 * l,
        }
    }

    /// Bytes a whole level-`l` table maps.
    fn table_span(self, l: u32) -> u128 {
        1 << self.table_shift(l)
    }

    /// log2 of [`Mode::table_span`].
    fn table_shift(self, l: u32) -> u32 {
        self.entry_shift(l) + self.bits(l)
    }

    /// Supported page sizes.
    pub fn page_sizes(self) -> &'static [u128] {
        match self {
            Mode::Ia32 => &[KIB4, MIB4],
            Mode::Pae => &[KIB4, MIB2],
            _ => &[KIB4, MIB2, GIB1],
        }
    }

    /// Bytes of one segment.
    pub fn segment(self) -> u128 {
        match self {
            Mode::Ia32 => MIB4,
            _ => MIB2,
        }
    }

    fn level_of(self, size: u128) -> u32 {
        (0..self.levels())
            .find(|&l| self.entry_span(l) == size)
            .unwrap_or(0)
    }

    fn va_bits(self) -> u32 {
        match self {
            Mode::Ia32 | Mode::Pae => 32,
            Mode::X86_64 => 48,
            Mode::La57 => 57,
        }
    }

    fn wide(self) -> bool {
        !matches!(self, Mode::Ia32 | Mode::Pae)
    }

    /// Highest virtual address.
    fn max_va(self) -> u128 {
        if self.wide() {
            TOP64
        } else {
            (1 << 32) - 1
        }
    }

    /// Highest physical address.
    fn max_pa(self) -> u128 {
        if self == Mode::Ia32 {
            (1 << 32) - 1
        } else {
            (1 << 52) - 1
        }
    }

    /// First kernel-half address.
    pub fn kernel_base(self) -> u128 {
        if self.wide() {
            (1 << 64) - (1 << (self.va_bits() - 1))
        } else {
            0xC000_0000
        }
    }

    fn lower_last(self) -> u128 {
        if self.wide() {
            (1 << (self.va_bits() - 1)) - 1
        } else {
            self.max_va()
        }
    }

    /// `true` iff `va` exists in the space.
    pub fn canonical(self, va: u128) -> bool {
        if self.wide() {
            va <= self.lower_last() || (self.kernel_base()..=TOP64).contains(&va)
        } else {
            va <= self.max_va()
        }
    }
}

/// Every error the model predicts: plain kinds, addresses as `u128`. The harness maps the
/// implementation's per-operation enums onto these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrKind {
    /// No live address space with that number.
    NoSuchSpace,
    /// CPU number out of range.
    NoSuchCpu,
    /// Address space 0 cannot be destroyed.
    KernelSpace,
    /// [`MAX_SPACES`] spaces live.
    TooManySpaces,
    /// All 2^32 numbers used.
    AsidsExhausted,
    /// Page size not in [`Mode::page_sizes`].
    UnsupportedPageSize,
    /// NX on IA-32.
    UnsupportedFlags,
    /// Length 0.
    Empty,
    /// Last byte above 2^64 - 1.
    Wraps,
    /// Last byte above the space.
    PastTop,
    /// Not canonical, or across the hole.
    NonCanonical,
    /// Virtual address not aligned.
    MisalignedVa,
    /// Length not aligned.
    MisalignedLen,
    /// Physical address not aligned.
    MisalignedPa,
    /// Segment mapping longer than a segment.
    TooLong,
    /// More than [`MAX_MAP_PAGES`] pages.
    TooManyPages,
    /// Physical range past the mode's physical limit.
    PhysRange,
    /// USER in the kernel half.
    UserInKernelHalf,
    /// GLOBAL in the user half.
    GlobalInUserHalf,
    /// Same page already mapped at `va`.
    AlreadyMapped {
        /// The page.
        va: u128,
    },
    /// A bigger page contains the page at `va`.
    LargePageInTheWay {
        /// The page.
        va: u128,
    },
    /// Smaller pages (a table) where the page at `va` would go.
    TableInTheWay {
        /// The page.
        va: u128,
    },
    /// `va` lies in a shared segment slot.
    SharedTable {
        /// The address.
        va: u128,
    },
    /// Nothing mapped at `va`.
    NotMapped {
        /// The address.
        va: u128,
    },
    /// The page containing `va` sticks out of the range.
    PartialLargePage {
        /// The address.
        va: u128,
    },
    /// The slot holds something other than a segment mapping.
    NotShared,
    /// Not enough frames for the tables.
    OutOfFrames,
    /// Page fault, nothing mapped.
    NotPresent,
    /// Page fault, permissions.
    Protection,
}

/// A predicted translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// Translated address.
    pub va: u128,
    /// Physical address.
    pub pa: u128,
    /// First address of its page.
    pub page_base: u128,
    /// Page size (a segment's pages are 4 KiB).
    pub page_size: u128,
    /// Flags (the mapping's own).
    pub flags: u8,
}

/// A predicted flush token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlushPrediction {
    /// `true` iff every address space is concerned (the range reaches the kernel half).
    pub all_spaces: bool,
    /// First address.
    pub start: u128,
    /// Last address.
    pub last: u128,
}

/// One mapping: a page, or a segment mapping (which occupies its whole slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mapping {
    /// Page size; for a segment, the mapped length.
    size: u128,
    pa: u128,
    flags: u8,
    segment: bool,
}

/// The naive model of an `Mmu` (a `PageTable` is address space 0 of a one-CPU model).
#[derive(Clone, Debug)]
pub struct MmuModel {
    mode: Mode,
    frames: u128,
    cpus: u128,
    /// Kernel-half mappings, seen by every space.
    kernel: BTreeMap<u128, Mapping>,
    /// User-half mappings of each live space.
    spaces: BTreeMap<u32, BTreeMap<u128, Mapping>>,
    next: u128,
    /// Every table name below the root ([`TableName`]) that some mapping needs, with the
    /// number of mappings needing it: kept in step by [`MmuModel::insert`] and
    /// [`MmuModel::remove`] (the only writers of the mapping maps besides `protect`, which
    /// changes flags only), and compared with the from-scratch count by
    /// [`MmuModel::check_counts`].
    names: BTreeMap<TableName, u32>,
    /// Every distinct segment key `(pa, len, flags)` mapped anywhere, with its mappings.
    segment_keys: BTreeMap<(u128, u128, u8), u32>,
    /// Per scope (`None` the kernel half, else a space), the table names of [`Self::names`]
    /// in it plus its segment mappings (each a private level-0 table in the private
    /// equivalent): what [`MmuModel::private_table_pages`] adds up.
    private: BTreeMap<Option<u32>, u128>,
    /// Changes made so far (every mapping added, removed or re-flagged, every space created
    /// or destroyed, every walk that set A or D): the same at two moments iff the model did
    /// not change between them.
    version: u64,
    /// The [`ACCESSED`] and [`DIRTY`] bits of the entries that have any (module comment,
    /// "Accessed and dirty").
    ad: BTreeMap<EntryKey, u8>,
    /// Entries per TLB.
    tlb_capacity: usize,
    /// One TLB per CPU (module `tlb`).
    tlbs: Vec<CpuTlb>,
    /// Changes to the TLBs so far (fills, drops, flushes): with [`MmuModel::version`], the
    /// same at two moments iff [`MmuModel::first_stale`] has the same answer.
    tlb_version: u64,
    /// Where the answers may have changed since [`MmuModel::forget_changes`] (module
    /// `changes`).
    changes: Vec<Changed>,
}

/// What an access does on the model's TLBs ([`MmuModel::access_on_tlb`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessOutcome {
    /// A fresh TLB hit: the current translation, nothing set, nothing filled.
    Hit(Translation),
    /// A walk: A set along it (D in the leaf on a write), the translation cached.
    Walked(Translation),
    /// A fault (or a bad CPU, space or address).
    Fault(ErrKind),
    /// A hit on a stale entry (module `tlb`, section 3).
    Stale(StaleHit),
}

/// A stale TLB entry, as an access or the coherence check meets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaleHit {
    /// The CPU whose TLB holds it.
    pub cpu: u128,
    /// The space it was used for (the kernel's, 0, for a global entry in the coherence check).
    pub asid: u32,
    /// What the entry answers for the address checked.
    pub cached: Translation,
    /// The current translation of that address (`None`: not mapped).
    pub current: Option<Translation>,
}

/// One entry of the tables, as far as its A and D bits go: entry `va / entry_span(level)`
/// of the level-`level` table of `scope` (the root's entries always of their own space:
/// every root has its own copy of the kernel half), or entry `index` of the shared segment
/// table of a segment key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum EntryKey {
    Table(Option<u32>, u32, u128),
    Segment((u128, u128, u8), u128),
}

/// A table below the root: (scope, level, `va >>` the bits one whole table of that level
/// maps); scope `None` is the kernel half, `Some(asid)` an address space's user half.
type TableName = (Option<u32>, u32, u128);

impl MmuModel {
    /// A model with `frames` table frames, `cpus` CPUs and address space 0.
    pub fn new(mode: Mode, frames: u128, cpus: u128) -> MmuModel {
        let mut spaces = BTreeMap::new();
        spaces.insert(0, BTreeMap::new());
        MmuModel {
            mode,
            frames,
            cpus,
            kernel: BTreeMap::new(),
            spaces,
            next: 1,
            names: BTreeMap::new(),
            segment_keys: BTreeMap::new(),
            private: BTreeMap::new(),
            version: 0,
            ad: BTreeMap::new(),
            tlb_capacity: DEFAULT_TLB_ENTRIES,
            tlbs: (0..cpus.min(MAX_MODEL_CPUS))
                .map(|_| CpuTlb::default())
                .collect(),
            tlb_version: 0,
            changes: Vec::new(),
        }
    }

    /// [`MmuModel::new`] with TLBs of `entries` entries.
    pub fn with_tlbs(mode: Mode, frames: u128, cpus: u128, entries: usize) -> MmuModel {
        MmuModel {
            tlb_capacity: entries,
            ..MmuModel::new(mode, frames, cpus)
        }
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The model's version: the same at two moments iff nothing changed between them, so
    /// every answer of [`MmuModel::translate`] is the same too.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The TLBs' version: the same at two moments (with the same [`MmuModel::version`]) iff
    /// no TLB changed between them.
    pub fn tlb_version(&self) -> u64 {
        self.tlb_version
    }

    /// Live address spaces.
    pub fn spaces(&self) -> Vec<u32> {
        self.spaces.keys().copied().collect()
    }

    fn range(&self, va: u128, len: u128) -> Result<u128, ErrKind> {
        if len == 0 {
            return Err(ErrKind::Empty);
        }
        let last = va + len - 1;
        if last > TOP64 {
            return Err(ErrKind::Wraps);
        }
        if last > self.mode.max_va() {
            return Err(ErrKind::PastTop);
        }
        let m = self.mode;
        if !m.canonical(va)
            || !m.canonical(last)
            || (va < m.kernel_base()) != (last < m.kernel_base())
        {
            // On 32-bit both halves are one canonical space: only 64-bit ranges fail here.
            if m.wide() {
                return Err(ErrKind::NonCanonical);
            }
        }
        Ok(last)
    }

    fn half_flags(&self, va: u128, last: u128, flags: u8) -> Result<(), ErrKind> {
        let kb = self.mode.kernel_base();
        if flags & USER != 0 && last >= kb {
            return Err(ErrKind::UserInKernelHalf);
        }
        if flags & GLOBAL != 0 && va < kb {
            return Err(ErrKind::GlobalInUserHalf);
        }
        Ok(())
    }

    fn bad_flags(&self, flags: u8) -> bool {
        self.mode == Mode::Ia32 && flags & NO_EXECUTE != 0
    }

    /// Footprint of a mapping: a page's bytes, or a segment's whole slot.
    fn footprint(&self, m: &Mapping) -> u128 {
        if m.segment {
            self.mode.segment()
        } else {
            m.size
        }
    }

    fn map_of(&self, asid: u32, va: u128) -> &BTreeMap<u128, Mapping> {
        if va >= self.mode.kernel_base() {
            &self.kernel
        } else {
            &self.spaces[&asid]
        }
    }

    fn map_of_mut(&mut self, asid: u32, va: u128) -> &mut BTreeMap<u128, Mapping> {
        if va >= self.mode.kernel_base() {
            &mut self.kernel
        } else {
            self.spaces.get_mut(&asid).expect("live space")
        }
    }

    /// The table names below the root that mapping `m` at `b` in `asid`'s view needs (not
    /// its shared segment table, which [`MmuModel::segment_keys`] counts).
    fn names_of(&self, asid: u32, b: u128, m: &Mapping) -> impl Iterator<Item = TableName> {
        let mode = self.mode;
        let scope = (b < mode.kernel_base()).then_some(asid);
        let entry_level = if m.segment { 1 } else { mode.level_of(m.size) };
        (entry_level..mode.top()).map(move |l| (scope, l, b >> mode.table_shift(l)))
    }

    /// Adds mapping `m` at `b` to `asid`'s view, and its tables to the counts.
    fn insert(&mut self, asid: u32, b: u128, m: Mapping) {
        self.version += 1;
        let names: Vec<TableName> = self.names_of(asid, b, &m).collect();
        for n in names {
            let uses = self.names.entry(n).or_insert(0);
            *uses += 1;
            if *uses == 1 {
                *self.private.entry(n.0).or_insert(0) += 1;
                self.table_made_or_freed(asid, n);
            }
        }
        if m.segment {
            let scope = (b < self.mode.kernel_base()).then_some(asid);
            *self.private.entry(scope).or_insert(0) += 1;
            let key = (m.pa, m.size, m.flags);
            let uses = self.segment_keys.entry(key).or_insert(0);
            *uses += 1;
            if *uses == 1 {
                self.segment_made_or_freed(key);
            }
        }
        self.clear_ad(asid, b, self.entry_level(&m));
        self.map_of_mut(asid, b).insert(b, m);
    }

    /// The level of the entry that maps `m` in its space's tables: its page's level, or 1
    /// for a segment (the entry pointing at the shared table).
    fn entry_level(&self, m: &Mapping) -> u32 {
        if m.segment {
            1
        } else {
            self.mode.level_of(m.size)
        }
    }

    /// Forgets the A and D bits of the entry at `level` on the walk to `va` in `asid`: the
    /// entry was just made or cleared. At the root in the kernel half, the entry of every
    /// space (the MMU writes it into every root).
    fn clear_ad(&mut self, asid: u32, va: u128, level: u32) {
        self.note_entry(asid, va, level);
        let m = self.mode;
        let index = va >> m.entry_shift(level);
        if level == m.top() && va >= m.kernel_base() {
            let spaces: Vec<u32> = self.spaces.keys().copied().collect();
            for s in spaces {
                self.ad.remove(&EntryKey::Table(Some(s), level, index));
            }
        } else {
            self.ad.remove(&self.entry_key(asid, va, level));
        }
    }

    /// The key of the entry at `level` (not of a segment's page) on the walk to `va`.
    fn entry_key(&self, asid: u32, va: u128, level: u32) -> EntryKey {
        let m = self.mode;
        let scope = (level == m.top() || va < m.kernel_base()).then_some(asid);
        EntryKey::Table(scope, level, va >> m.entry_shift(level))
    }

    /// Table `n` (of a mapping in `asid`) was made or freed: the entry pointing at it, one
    /// level up, was made or cleared.
    fn table_made_or_freed(&mut self, asid: u32, n: TableName) {
        let (_, level, prefix) = n;
        let va = prefix * self.mode.table_span(level);
        self.clear_ad(asid, va, level + 1);
    }

    /// The shared table of segment `key` was made or freed: its entries with it.
    fn segment_made_or_freed(&mut self, key: (u128, u128, u8)) {
        self.note_all(None);
        self.ad
            .retain(|k, _| !matches!(k, EntryKey::Segment(s, _) if *s == key));
    }

    /// Removes the mapping at `b` from `asid`'s view, and its tables from the counts.
    fn remove(&mut self, asid: u32, b: u128) {
        self.version += 1;
        let Some(m) = self.map_of_mut(asid, b).remove(&b) else {
            return;
        };
        self.clear_ad(asid, b, self.entry_level(&m));
        let names: Vec<TableName> = self.names_of(asid, b, &m).collect();
        for n in names {
            if release(&mut self.names, n) {
                self.private_drop(n.0);
                self.table_made_or_freed(asid, n);
            }
        }
        if m.segment {
            self.private_drop((b < self.mode.kernel_base()).then_some(asid));
            let key = (m.pa, m.size, m.flags);
            if release(&mut self.segment_keys, key) {
                self.segment_made_or_freed(key);
            }
        }
    }

    /// The mapping whose footprint contains `a`, in `asid`'s view.
    fn at(&self, asid: u32, a: u128) -> Option<(u128, Mapping)> {
        let (&b, m) = self.map_of(asid, a).range(..=a).next_back()?;
        (a < b + self.footprint(m)).then_some((b, *m))
    }

    /// Every mapping whose footprint overlaps `[a, a + size)`, in `asid`'s view.
    fn overlapping(&self, asid: u32, a: u128, size: u128) -> Vec<(u128, Mapping)> {
        let mut out: Vec<(u128, Mapping)> = self.at(asid, a).into_iter().collect();
        let map = self.map_of(asid, a);
        for (&b, m) in map.range(a..a + size) {
            if b != a || out.is_empty() {
                out.push((b, *m));
            }
        }
        out.dedup_by_key(|(b, _)| *b);
        out
    }
}

/// Drops one use of `key` from `counts`, and the key with its last use: `true` then.
fn release<K: Ord>(counts: &mut BTreeMap<K, u32>, key: K) -> bool {
    if let Some(n) = counts.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(&key);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests;
