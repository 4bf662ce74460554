//! # Naive model of x86 page tables (oracle for `kvafuzz::mmu`)
//!
//! No tables and no walks: each address space is a flat `BTreeMap` from the first
//! virtual address of a mapping to what it maps. Beside it, each CPU's TLB as a list of
//! cached translations (module `tlb`: fills, drops, and which entries are stale), and the
//! raw entries a walk must meet, derived from the mappings (module `entries`). The number of page-table pages the real
//! structure needs is, for each level, the number of distinct address prefixes that the
//! mapped pages fall in: kept as a count per prefix, updated by every change of a mapping,
//! and recounted from scratch by [`MmuModel::check_counts`] (which the harness runs at the
//! end of every scenario). All arithmetic is `u128`.
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

use std::collections::{BTreeMap, BTreeSet};

mod changes;
mod entries;
mod listing;
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

    /// A walk by a successful access to `va` in `asid` that did not hit the TLB (the caller
    /// knows the TLB; the model does not): A set in every entry of the walk that has one (all
    /// but PAE's page-directory pointers), D in the leaf too on a write. Nothing if `va` does
    /// not translate.
    pub fn walked(&mut self, asid: u32, va: u128, write: bool) {
        if !self.spaces.contains_key(&asid) || !self.mode.canonical(va) {
            return;
        }
        let Some((b, m)) = self.at(asid, va) else {
            return;
        };
        if m.segment && va - b >= m.size {
            return;
        }
        self.version += 1;
        let mode = self.mode;
        let leaf_level = if m.segment { 0 } else { mode.level_of(m.size) };
        for level in leaf_level..=mode.top() {
            if mode == Mode::Pae && level == 2 {
                continue;
            }
            let key = self.ad_key(asid, va, level, b, &m);
            let bits = self.ad.entry(key).or_insert(0);
            let before = *bits;
            *bits |= ACCESSED;
            if level == leaf_level && write {
                *bits |= DIRTY;
            }
            if *bits != before {
                match key {
                    EntryKey::Segment(..) => self.note_all(None),
                    EntryKey::Table(..) => self.note_entry(asid, va, level),
                }
            }
        }
    }

    /// The key of the entry at `level` on the walk to `va`, through mapping `m` at `b`.
    fn ad_key(&self, asid: u32, va: u128, level: u32, b: u128, m: &Mapping) -> EntryKey {
        if m.segment && level == 0 {
            EntryKey::Segment((m.pa, m.size, m.flags), (va - b) / KIB4)
        } else {
            self.entry_key(asid, va, level)
        }
    }

    /// The [`ACCESSED`] and [`DIRTY`] bits the entry at `level` on `asid`'s walk to `va`
    /// must have (0 where the walk has no such entry, or for a space that does not exist).
    pub fn accessed_dirty(&self, asid: u32, va: u128, level: u32) -> u8 {
        self.accessed_dirty_levels(asid, va)
            .get(level as usize)
            .copied()
            .unwrap_or(0)
    }

    /// [`MmuModel::accessed_dirty`] at every level (indexed by level; 0 above the top), in
    /// one lookup of the mapping.
    pub fn accessed_dirty_levels(&self, asid: u32, va: u128) -> [u8; 5] {
        let mut out = [0; 5];
        if self.ad.is_empty() || !self.spaces.contains_key(&asid) || !self.mode.canonical(va) {
            return out;
        }
        let at = self.at(asid, va);
        for (level, bits) in (0..self.mode.levels()).zip(out.iter_mut()) {
            let key = match &at {
                Some((b, m)) => self.ad_key(asid, va, level, *b, m),
                None => self.entry_key(asid, va, level),
            };
            *bits = self.ad.get(&key).copied().unwrap_or(0);
        }
        out
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

    /// Predict `Mmu::map`.
    pub fn map(
        &mut self,
        asid: u32,
        va: u128,
        pa: u128,
        len: u128,
        flags: u8,
        size: u128,
    ) -> Result<(), ErrKind> {
        let flags = flags & ALL_FLAGS;
        if !self.spaces.contains_key(&asid) {
            return Err(ErrKind::NoSuchSpace);
        }
        if !self.mode.page_sizes().contains(&size) {
            return Err(ErrKind::UnsupportedPageSize);
        }
        if self.bad_flags(flags) {
            return Err(ErrKind::UnsupportedFlags);
        }
        let last = self.range(va, len)?;
        if !va.is_multiple_of(size) {
            return Err(ErrKind::MisalignedVa);
        }
        if !len.is_multiple_of(size) {
            return Err(ErrKind::MisalignedLen);
        }
        if !pa.is_multiple_of(size) {
            return Err(ErrKind::MisalignedPa);
        }
        if len / size > MAX_MAP_PAGES {
            return Err(ErrKind::TooManyPages);
        }
        if pa + len - 1 > self.mode.max_pa() {
            return Err(ErrKind::PhysRange);
        }
        self.half_flags(va, last, flags)?;
        let seg = self.mode.segment();
        if let Some(v) = self.first_overlap(asid, va, last, size) {
            if let Some(&(b, m)) = self.overlapping(asid, v, size).first() {
                let conflict = if m.segment {
                    if size < seg {
                        ErrKind::SharedTable { va: v }
                    } else {
                        ErrKind::TableInTheWay { va: v }
                    }
                } else if m.size > size {
                    ErrKind::LargePageInTheWay { va: v }
                } else if m.size == size && b == v {
                    ErrKind::AlreadyMapped { va: v }
                } else {
                    ErrKind::TableInTheWay { va: v }
                };
                return Err(conflict);
            }
        }
        if self.table_pages() + self.new_tables(asid, va, last, size) > self.frames {
            return Err(ErrKind::OutOfFrames);
        }
        let mut v = va;
        while v <= last {
            let m = Mapping {
                size,
                pa: pa + (v - va),
                flags,
                segment: false,
            };
            self.insert(asid, v, m);
            v += size;
        }
        Ok(())
    }

    /// The lowest page of size `size` in `[va, last]` (pages from `va`) whose footprint
    /// some mapping overlaps, in `asid`'s view: the page of the lowest such mapping (they
    /// do not overlap each other), found with one lookup per half the range touches.
    fn first_overlap(&self, asid: u32, va: u128, last: u128, size: u128) -> Option<u128> {
        let kb = self.mode.kernel_base();
        let mut halves = vec![va];
        if va < kb && last >= kb {
            halves.push(kb);
        }
        halves
            .into_iter()
            .filter_map(|from| {
                let map = self.map_of(asid, from);
                let containing = self.at(asid, from).map(|(b, _)| b);
                containing.or_else(|| map.range(from..=last).next().map(|(&b, _)| b))
            })
            .map(|b| {
                if b <= va {
                    va
                } else {
                    va + (b - va) / size * size
                }
            })
            .min()
    }

    /// The tables below the root that mapping the pages of `size` over `[va, last]` in
    /// `asid` would add: at each level, the prefixes of the range that no mapping needs
    /// yet (a range's prefixes are consecutive), per half.
    fn new_tables(&self, asid: u32, va: u128, last: u128, size: u128) -> u128 {
        let m = self.mode;
        let kb = m.kernel_base();
        let halves = if va < kb && last >= kb {
            vec![(va, kb - 1), (kb, last)]
        } else {
            vec![(va, last)]
        };
        let mut n = 0;
        for (from, to) in halves {
            let scope = (from < kb).then_some(asid);
            for l in m.level_of(size)..m.top() {
                let shift = m.table_shift(l);
                for p in (from >> shift)..=(to >> shift) {
                    if !self.names.contains_key(&(scope, l, p)) {
                        n += 1;
                    }
                }
            }
        }
        n
    }

    /// The pages tiling `[va, last]`, or the first walk error.
    fn tiles(&self, asid: u32, va: u128, last: u128) -> Result<Vec<u128>, ErrKind> {
        let mut out = Vec::new();
        let mut a = va;
        while a <= last {
            let Some((b, m)) = self.at(asid, a) else {
                return Err(ErrKind::NotMapped { va: a });
            };
            if m.segment {
                return Err(ErrKind::SharedTable { va: a });
            }
            if b < va || b + m.size - 1 > last {
                return Err(ErrKind::PartialLargePage { va: a });
            }
            out.push(b);
            a = b + m.size;
        }
        Ok(out)
    }

    fn edit_range(&self, va: u128, len: u128) -> Result<u128, ErrKind> {
        let last = self.range(va, len)?;
        if !va.is_multiple_of(KIB4) {
            return Err(ErrKind::MisalignedVa);
        }
        if !len.is_multiple_of(KIB4) {
            return Err(ErrKind::MisalignedLen);
        }
        Ok(last)
    }

    fn flush(&self, start: u128, last: u128) -> FlushPrediction {
        FlushPrediction {
            all_spaces: last >= self.mode.kernel_base(),
            start,
            last,
        }
    }

    /// Predict `Mmu::unmap`.
    pub fn unmap(&mut self, asid: u32, va: u128, len: u128) -> Result<FlushPrediction, ErrKind> {
        if !self.spaces.contains_key(&asid) {
            return Err(ErrKind::NoSuchSpace);
        }
        let last = self.edit_range(va, len)?;
        for b in self.tiles(asid, va, last)? {
            self.remove(asid, b);
        }
        Ok(self.flush(va, last))
    }

    /// Predict `Mmu::protect`.
    pub fn protect(
        &mut self,
        asid: u32,
        va: u128,
        len: u128,
        flags: u8,
    ) -> Result<FlushPrediction, ErrKind> {
        let flags = flags & ALL_FLAGS;
        if !self.spaces.contains_key(&asid) {
            return Err(ErrKind::NoSuchSpace);
        }
        if self.bad_flags(flags) {
            return Err(ErrKind::UnsupportedFlags);
        }
        let last = self.edit_range(va, len)?;
        self.half_flags(va, last, flags)?;
        for b in self.tiles(asid, va, last)? {
            let size = self.map_of_mut(asid, b).get_mut(&b).map(|m| {
                m.flags = flags;
                m.size
            });
            if let Some(size) = size {
                self.note_range(asid, b, b + (size - 1));
            }
            self.version += 1;
        }
        Ok(self.flush(va, last))
    }

    /// Predict `Mmu::map_shared_segment`.
    pub fn map_shared_segment(
        &mut self,
        asid: u32,
        va: u128,
        pa: u128,
        len: u128,
        flags: u8,
    ) -> Result<(), ErrKind> {
        let flags = flags & ALL_FLAGS;
        if !self.spaces.contains_key(&asid) {
            return Err(ErrKind::NoSuchSpace);
        }
        if self.bad_flags(flags) {
            return Err(ErrKind::UnsupportedFlags);
        }
        let last = self.range(va, len)?;
        let seg = self.mode.segment();
        if !va.is_multiple_of(seg) {
            return Err(ErrKind::MisalignedVa);
        }
        if !len.is_multiple_of(KIB4) {
            return Err(ErrKind::MisalignedLen);
        }
        if len > seg {
            return Err(ErrKind::TooLong);
        }
        if !pa.is_multiple_of(KIB4) {
            return Err(ErrKind::MisalignedPa);
        }
        if pa + len - 1 > self.mode.max_pa() {
            return Err(ErrKind::PhysRange);
        }
        self.half_flags(va, last, flags)?;
        if let Some((b, m)) = self.overlapping(asid, va, seg).first() {
            return Err(if !m.segment && m.size > seg {
                ErrKind::LargePageInTheWay { va }
            } else if !m.segment && m.size == seg && *b == va {
                ErrKind::AlreadyMapped { va }
            } else {
                ErrKind::TableInTheWay { va }
            });
        }
        let m = Mapping {
            size: len,
            pa,
            flags,
            segment: true,
        };
        self.insert(asid, va, m);
        if self.table_pages() > self.frames {
            self.remove(asid, va);
            return Err(ErrKind::OutOfFrames);
        }
        Ok(())
    }

    /// Predict `Mmu::unmap_shared_segment`.
    pub fn unmap_shared_segment(
        &mut self,
        asid: u32,
        va: u128,
    ) -> Result<FlushPrediction, ErrKind> {
        if !self.spaces.contains_key(&asid) {
            return Err(ErrKind::NoSuchSpace);
        }
        let seg = self.mode.segment();
        let last = self.range(va, seg)?;
        if !va.is_multiple_of(seg) {
            return Err(ErrKind::MisalignedVa);
        }
        match self.overlapping(asid, va, seg).first() {
            None => Err(ErrKind::NotMapped { va }),
            Some((b, m)) if m.segment && *b == va => {
                self.remove(asid, va);
                Ok(self.flush(va, last))
            }
            Some(_) => Err(ErrKind::NotShared),
        }
    }

    /// Predict `Mmu::translate`.
    pub fn translate(&self, asid: u32, va: u128) -> Result<Translation, ErrKind> {
        if !self.spaces.contains_key(&asid) {
            return Err(ErrKind::NoSuchSpace);
        }
        if !self.mode.canonical(va) {
            return Err(ErrKind::NonCanonical);
        }
        let not = ErrKind::NotMapped { va };
        let (b, m) = self.at(asid, va).ok_or(not)?;
        let off = va - b;
        if m.segment && off >= m.size {
            return Err(not);
        }
        let page_size = if m.segment { KIB4 } else { m.size };
        Ok(Translation {
            va,
            pa: m.pa + off,
            page_base: va - va % page_size,
            page_size,
            flags: m.flags,
        })
    }

    /// Predict `Mmu::access`. `kind`: 0 read, 1 write, 2 execute.
    pub fn access(
        &self,
        cpu: u128,
        asid: u32,
        va: u128,
        kind: u8,
        user: bool,
    ) -> Result<Translation, ErrKind> {
        if cpu >= self.cpus {
            return Err(ErrKind::NoSuchCpu);
        }
        let t = self.translate(asid, va).map_err(|e| match e {
            ErrKind::NotMapped { .. } => ErrKind::NotPresent,
            other => other,
        })?;
        let denied = (user && t.flags & USER == 0)
            || (kind == 1 && t.flags & WRITABLE == 0)
            || (kind == 2 && t.flags & NO_EXECUTE != 0);
        if denied {
            return Err(ErrKind::Protection);
        }
        Ok(t)
    }

    /// Predict `Mmu::access` on the model's TLBs (module `tlb`): `kind` 0 read, 1 write,
    /// 2 execute. A hit that permits the access (a write only on a dirty entry) answers the
    /// current translation if the entry is fresh and [`AccessOutcome::Stale`] otherwise;
    /// any other hit is dropped, and the access walks as [`MmuModel::access`] predicts,
    /// setting A and D ([`MmuModel::walked`]) and filling the TLB when it succeeds.
    pub fn access_on_tlb(
        &mut self,
        cpu: u128,
        asid: u32,
        va: u128,
        kind: u8,
        user: bool,
    ) -> AccessOutcome {
        let Some(c) = self.cpu_index(cpu) else {
            return AccessOutcome::Fault(ErrKind::NoSuchCpu);
        };
        if !self.spaces.contains_key(&asid) {
            return AccessOutcome::Fault(ErrKind::NoSuchSpace);
        }
        if !self.mode.canonical(va) {
            return AccessOutcome::Fault(ErrKind::NonCanonical);
        }
        let write = kind == 1;
        let permits = |flags: u8| {
            !((user && flags & USER == 0)
                || (write && flags & WRITABLE == 0)
                || (kind == 2 && flags & NO_EXECUTE != 0))
        };
        if let Some((slot, e)) = self.tlbs[c].lookup(asid, va, self.mode.page_sizes()) {
            let cached = e.translation(va);
            if permits(cached.flags) && (e.dirty || !write) {
                let current = self.translate(asid, va).ok();
                return match current {
                    Some(t) if fresh(&cached, &t) => AccessOutcome::Hit(t),
                    _ => AccessOutcome::Stale(StaleHit {
                        cpu,
                        asid,
                        cached,
                        current,
                    }),
                };
            }
            self.tlbs[c].remove(slot);
            self.tlb_version += 1;
        }
        match self.access(cpu, asid, va, kind, user) {
            Err(e) => AccessOutcome::Fault(e),
            Ok(t) => {
                self.walked(asid, va, write);
                let capacity = self.tlb_capacity;
                self.tlbs[c].fill(asid, &t, write, capacity);
                self.tlb_version += 1;
                AccessOutcome::Walked(t)
            }
        }
    }

    /// The TLB index of `cpu`, if it exists.
    fn cpu_index(&self, cpu: u128) -> Option<usize> {
        let c = usize::try_from(cpu).ok()?;
        (cpu < self.cpus && c < self.tlbs.len()).then_some(c)
    }

    fn tlb_mut(&mut self, cpu: u128) -> Result<&mut CpuTlb, ErrKind> {
        let c = self.cpu_index(cpu).ok_or(ErrKind::NoSuchCpu)?;
        self.tlb_version += 1;
        Ok(&mut self.tlbs[c])
    }

    /// Predict `Mmu::invlpg` / `Mmu::flush_range`: `cpu` drops `asid`'s entries and the
    /// global ones whose page overlaps `[start, last]`.
    pub fn invlpg(&mut self, cpu: u128, asid: u32, start: u128, last: u128) -> Result<(), ErrKind> {
        self.tlb_mut(cpu)?.invalidate(Some(asid), start, last);
        Ok(())
    }

    /// Predict `Mmu::flush_asid`: `cpu` drops `asid`'s non-global entries.
    pub fn flush_asid(&mut self, cpu: u128, asid: u32) -> Result<(), ErrKind> {
        self.tlb_mut(cpu)?.flush_nonglobal(Some(asid));
        Ok(())
    }

    /// Predict `Mmu::flush_nonglobal`: `cpu` drops every non-global entry.
    pub fn flush_nonglobal(&mut self, cpu: u128) -> Result<(), ErrKind> {
        self.tlb_mut(cpu)?.flush_nonglobal(None);
        Ok(())
    }

    /// Predict `Mmu::flush_all`: `cpu` drops every entry.
    pub fn flush_all(&mut self, cpu: u128) -> Result<(), ErrKind> {
        self.tlb_mut(cpu)?.flush_all();
        Ok(())
    }

    /// Predict `Mmu::flush` of the token `f` that an op in `asid` returned: on every CPU,
    /// the entries of `asid` (of every space if `f.all_spaces`) and the global ones whose
    /// page overlaps `f`'s range.
    pub fn shootdown(&mut self, asid: u32, f: &FlushPrediction) {
        let spaces = (!f.all_spaces).then_some(asid);
        self.tlb_version += 1;
        for t in &mut self.tlbs {
            t.invalidate(spaces, f.start, f.last);
        }
    }

    /// What `cpu`'s TLB holds: non-global entries by (space, size, base), then global ones
    /// by (size, base). Empty for a CPU that does not exist.
    pub fn tlb_entries(&self, cpu: u128) -> Vec<CachedEntry> {
        self.cpu_index(cpu)
            .map(|c| self.tlbs[c].entries().copied().collect())
            .unwrap_or_default()
    }

    /// The first stale entry (module `tlb`, section 3) in the order `Mmu::check_tlb_coherent`
    /// looks: by CPU, then as [`MmuModel::tlb_entries`] lists them; each checked at its page
    /// base in its space (a global one in the kernel's, 0); entries of destroyed spaces
    /// skipped (never hit again). `None`: the coherence check must pass.
    pub fn first_stale(&self) -> Option<StaleHit> {
        for (c, tlb) in self.tlbs.iter().enumerate() {
            for e in tlb.entries() {
                let asid = if e.flags & GLOBAL != 0 { 0 } else { e.asid };
                if !self.spaces.contains_key(&asid) {
                    continue;
                }
                let cached = e.translation(e.page_base);
                let current = self.translate(asid, e.page_base).ok();
                if !current.is_some_and(|t| fresh(&cached, &t)) {
                    return Some(StaleHit {
                        cpu: c as u128,
                        asid,
                        cached,
                        current,
                    });
                }
            }
        }
        None
    }

    /// Predict `Mmu::create_space`.
    pub fn create_space(&mut self) -> Result<u32, ErrKind> {
        if self.spaces.len() >= MAX_SPACES {
            return Err(ErrKind::TooManySpaces);
        }
        if self.next > u32::MAX as u128 {
            return Err(ErrKind::AsidsExhausted);
        }
        if self.table_pages() + 1 > self.frames {
            return Err(ErrKind::OutOfFrames);
        }
        let id = self.next as u32;
        self.next += 1;
        self.spaces.insert(id, BTreeMap::new());
        // The new root's kernel half is a copy of the kernel's, A bits included.
        let top = self.mode.top();
        let copied: Vec<(EntryKey, u8)> = self
            .ad
            .iter()
            .filter_map(|(k, &bits)| match *k {
                EntryKey::Table(Some(0), l, i)
                    if l == top && i * self.mode.entry_span(l) >= self.mode.kernel_base() =>
                {
                    Some((EntryKey::Table(Some(id), l, i), bits))
                }
                _ => None,
            })
            .collect();
        self.ad.extend(copied);
        self.note_all(Some(id));
        self.version += 1;
        Ok(id)
    }

    /// Predict `Mmu::destroy_space`.
    pub fn destroy_space(&mut self, asid: u32) -> Result<(), ErrKind> {
        if asid == 0 {
            return Err(ErrKind::KernelSpace);
        }
        let Some(map) = self.spaces.get(&asid) else {
            return Err(ErrKind::NoSuchSpace);
        };
        let bases: Vec<u128> = map.keys().copied().collect();
        for b in bases {
            self.remove(asid, b);
        }
        self.spaces.remove(&asid);
        self.ad
            .retain(|k, _| !matches!(k, EntryKey::Table(Some(s), _, _) if *s == asid));
        self.note_all(Some(asid));
        self.version += 1;
        Ok(())
    }

    /// The names of the tables below the root that the mappings of `map` need.
    fn table_names(&self, map: &BTreeMap<u128, Mapping>, private: bool) -> BTreeSet<(u32, u128)> {
        let m = self.mode;
        let mut names = BTreeSet::new();
        for (&b, mp) in map {
            let entry_level = if mp.segment { 1 } else { m.level_of(mp.size) };
            for l in entry_level..m.top() {
                names.insert((l, b / m.table_span(l)));
            }
            if mp.segment && private {
                names.insert((0, b / m.table_span(0)));
            }
        }
        names
    }

    /// Page-table pages in use: one root per space, the tables below the roots and the
    /// shared segment tables, from the counts kept by every change (see
    /// [`MmuModel::table_pages_from_scratch`] for the same number recounted).
    pub fn table_pages(&self) -> u128 {
        (self.spaces.len() + self.names.len() + self.segment_keys.len()) as u128
    }

    /// The counts kept by every change against the same counts recomputed from the mappings:
    /// the table names and segment keys, and the page total. `Err` describes the first
    /// difference (a bug in the model's bookkeeping).
    pub fn check_counts(&self) -> Result<(), String> {
        let mut names: BTreeMap<TableName, u32> = BTreeMap::new();
        let mut keys: BTreeMap<(u128, u128, u8), u32> = BTreeMap::new();
        let views =
            core::iter::once((0, &self.kernel)).chain(self.spaces.iter().map(|(&a, map)| (a, map)));
        for (asid, map) in views {
            for (&b, m) in map {
                for n in self.names_of(asid, b, m) {
                    *names.entry(n).or_insert(0) += 1;
                }
                if m.segment {
                    *keys.entry((m.pa, m.size, m.flags)).or_insert(0) += 1;
                }
            }
        }
        if names != self.names {
            return Err(format!(
                "table names kept {:?}, recounted {names:?}",
                self.names
            ));
        }
        if keys != self.segment_keys {
            return Err(format!(
                "segment keys kept {:?}, recounted {keys:?}",
                self.segment_keys
            ));
        }
        let (kept, scratch) = (self.table_pages(), self.table_pages_from_scratch());
        if kept != scratch {
            return Err(format!("table pages kept {kept}, recounted {scratch}"));
        }
        let (kept, scratch) = (
            self.private_table_pages(),
            self.private_table_pages_from_scratch(),
        );
        if kept != scratch {
            return Err(format!(
                "private-table equivalent kept {kept}, recounted {scratch}"
            ));
        }
        Ok(())
    }

    /// Page-table pages in use, from scratch (what [`MmuModel::table_pages`] must equal).
    pub fn table_pages_from_scratch(&self) -> u128 {
        let mut n = self.spaces.len() as u128 + self.table_names(&self.kernel, false).len() as u128;
        for map in self.spaces.values() {
            n += self.table_names(map, false).len() as u128;
        }
        let keys: BTreeSet<(u128, u128, u8)> = self
            .kernel
            .values()
            .chain(self.spaces.values().flat_map(|m| m.values()))
            .filter(|m| m.segment)
            .map(|m| (m.pa, m.size, m.flags))
            .collect();
        n + keys.len() as u128
    }

    /// One private-equivalent table fewer in `scope`.
    fn private_drop(&mut self, scope: Option<u32>) {
        if let Some(n) = self.private.get_mut(&scope) {
            *n -= 1;
            if *n == 0 {
                self.private.remove(&scope);
            }
        }
    }

    /// Page-table pages if every space had private tables only: per space its root, the
    /// kernel half's tables and its own (segments as private level-0 tables), from the
    /// counts kept by every change (the names of two scopes never coincide: the halves do
    /// not share a table below the root). Recounted by [`MmuModel::check_counts`].
    pub fn private_table_pages(&self) -> u128 {
        let of = |scope| self.private.get(&scope).copied().unwrap_or(0);
        let kernel = of(None);
        self.spaces.keys().map(|&s| 1 + kernel + of(Some(s))).sum()
    }

    /// [`MmuModel::private_table_pages`] from scratch.
    pub fn private_table_pages_from_scratch(&self) -> u128 {
        let kernel = self.table_names(&self.kernel, true);
        let mut n = 0;
        for map in self.spaces.values() {
            let mut names = kernel.clone();
            names.extend(self.table_names(map, true));
            n += 1 + names.len() as u128;
        }
        n
    }

    /// Frames not holding tables.
    pub fn free_frames(&self) -> u128 {
        self.frames - self.table_pages()
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
