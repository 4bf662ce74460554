//! Public value types of the MMU model: flags, handles, translations, flush tokens and the
//! error enums (one per operation, every variant documented).

use core::fmt;

use crate::addr::{Range, RangeError};

/// Software view of the permission and caching bits of a leaf mapping.
///
/// This is *not* the hardware encoding (see `geometry::bits` for that): it is a compact,
/// architecture-independent set that callers and decoders use. Only the six bits below
/// exist; a value with any other bit set cannot be constructed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageFlags(u8);

impl PageFlags {
    /// No permission beyond read (supervisor, read-only, executable, cacheable, not global).
    pub const NONE: PageFlags = PageFlags(0);
    /// Writes allowed (hardware RW, bit 1).
    pub const WRITABLE: PageFlags = PageFlags(1 << 0);
    /// User-mode accesses allowed (hardware US, bit 2).
    pub const USER: PageFlags = PageFlags(1 << 1);
    /// Write-through caching (hardware PWT, bit 3).
    pub const WRITE_THROUGH: PageFlags = PageFlags(1 << 2);
    /// Caching disabled (hardware PCD, bit 4).
    pub const CACHE_DISABLE: PageFlags = PageFlags(1 << 3);
    /// Global: the TLB entry survives a non-global flush (hardware G, bit 8).
    pub const GLOBAL: PageFlags = PageFlags(1 << 4);
    /// Instruction fetches forbidden (hardware NX/XD, bit 63; not on IA-32).
    pub const NO_EXECUTE: PageFlags = PageFlags(1 << 5);
    /// Every defined bit.
    pub const ALL: PageFlags = PageFlags(0x3F);

    /// The flags with exactly these bits; `None` if a bit outside [`PageFlags::ALL`] is set.
    pub const fn from_bits(bits: u8) -> Option<PageFlags> {
        if bits & !Self::ALL.0 == 0 {
            Some(PageFlags(bits))
        } else {
            None
        }
    }

    /// The flags with these bits, undefined bits dropped (for decoders).
    pub const fn from_bits_truncate(bits: u8) -> PageFlags {
        PageFlags(bits & Self::ALL.0)
    }

    /// The raw bits (same values as the constants above).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// `true` iff every bit of `other` is set in `self`.
    pub const fn contains(self, other: PageFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of both sets.
    pub const fn union(self, other: PageFlags) -> PageFlags {
        PageFlags(self.0 | other.0)
    }

    /// `self` without the bits of `other`.
    pub const fn difference(self, other: PageFlags) -> PageFlags {
        PageFlags(self.0 & !other.0)
    }
}

impl core::ops::BitOr for PageFlags {
    type Output = PageFlags;
    fn bitor(self, rhs: PageFlags) -> PageFlags {
        self.union(rhs)
    }
}

/// Handle of one address space. `Asid::KERNEL` (0) always exists; the others are handed out
/// by [`super::Mmu::create_space`] in increasing order and are never reused, so a TLB entry
/// tagged with a destroyed ASID can never be hit again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Asid(u32);

impl Asid {
    /// The kernel's own address space (the template of the shared kernel half).
    pub const KERNEL: Asid = Asid(0);

    /// The handle with this raw number (it may name no live address space; operations then
    /// fail with a `NoSuchSpace` error).
    pub const fn from_raw(raw: u32) -> Asid {
        Asid(raw)
    }

    /// The raw number.
    pub const fn raw(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Asid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "asid{}", self.0)
    }
}

/// Index of a simulated CPU (each has its own TLB); valid iff `< MmuConfig::cpus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CpuId(pub u32);

/// What a simulated memory access does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccessKind {
    /// A data read.
    Read,
    /// A data write (with CR0.WP=1: supervisor writes to read-only pages fault too).
    Write,
    /// An instruction fetch.
    Execute,
}

/// One simulated memory access: its kind and the privilege of the code doing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Access {
    /// Read, write or fetch.
    pub kind: AccessKind,
    /// `true` for a user-mode (CPL 3) access, `false` for supervisor.
    pub user: bool,
}

impl Access {
    /// `true` iff a page with these *effective* flags permits this access.
    pub const fn permitted_by(self, flags: PageFlags) -> bool {
        if self.user && !flags.contains(PageFlags::USER) {
            return false;
        }
        match self.kind {
            AccessKind::Read => true,
            AccessKind::Write => flags.contains(PageFlags::WRITABLE),
            AccessKind::Execute => !flags.contains(PageFlags::NO_EXECUTE),
        }
    }
}

/// The result of a page walk (or a TLB hit) for one virtual address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Translation {
    /// The virtual address that was translated.
    pub va: u64,
    /// The physical address it maps to.
    pub pa: u64,
    /// First virtual address of the page holding `va`.
    pub page_base: u64,
    /// Size of that page (4 KiB, 2 MiB, 4 MiB or 1 GiB).
    pub page_size: u64,
    /// Effective flags: WRITABLE and USER ANDed over every level of the walk, NO_EXECUTE
    /// ORed; WRITE_THROUGH, CACHE_DISABLE and GLOBAL from the leaf.
    pub flags: PageFlags,
}

impl Translation {
    /// `true` iff using `self` (e.g. a cached TLB entry) instead of `current` (a fresh walk) is
    /// harmless: same physical address, same page size, same caching attributes, and `self` grants
    /// no permission that `current` lacks. A cached entry *less* permissive than the tables is
    /// legal on x86 (the spurious fault re-walks), so it is not staleness.
    pub const fn covered_by(&self, current: &Translation) -> bool {
        let cache = PageFlags(PageFlags::WRITE_THROUGH.0 | PageFlags::CACHE_DISABLE.0);
        self.pa == current.pa
            && self.page_size == current.page_size
            && (self.flags.0 & cache.0) == (current.flags.0 & cache.0)
            && (!self.flags.contains(PageFlags::WRITABLE)
                || current.flags.contains(PageFlags::WRITABLE))
            && (!self.flags.contains(PageFlags::USER) || current.flags.contains(PageFlags::USER))
            && (self.flags.contains(PageFlags::NO_EXECUTE)
                || !current.flags.contains(PageFlags::NO_EXECUTE))
    }
}

/// Which address spaces a [`Flush`] concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushScope {
    /// Only this address space changed (a user-half change).
    Space(Asid),
    /// Every address space changed (the range touches the shared kernel half).
    AllSpaces,
}

/// Proof that translations in `range` changed and that TLBs may hold stale copies.
///
/// Returned by every operation that removes or downgrades a translation. It must be applied
/// ([`super::Mmu::flush`] shoots it down on every CPU) or explicitly dropped with
/// [`Flush::ignore`]; forgetting it is a compile-time warning, and an access through a stale
/// entry is reported as [`AccessError::Stale`].
#[must_use = "translations changed: apply the flush to the TLBs or call .ignore()"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flush {
    pub(crate) scope: FlushScope,
    pub(crate) range: Range,
}

impl Flush {
    /// The address spaces concerned.
    pub const fn scope(&self) -> FlushScope {
        self.scope
    }

    /// The virtual range whose translations changed.
    pub const fn range(&self) -> Range {
        self.range
    }

    /// Drop the token without flushing (the caller takes responsibility, e.g. it knows no
    /// CPU ever ran in this address space, or it deliberately injects a missing flush).
    pub fn ignore(self) {}
}

/// A TLB entry whose cached translation is no longer backed by the page tables: the page
/// was unmapped, remapped elsewhere or downgraded without a flush.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaleTlb {
    /// The CPU whose TLB holds the entry.
    pub cpu: CpuId,
    /// The address space the entry was used for (for a global entry: the kernel space).
    pub asid: Asid,
    /// What the TLB answers (the address checked: the accessed one, or the page base).
    pub cached: Translation,
    /// What a fresh walk answers now (`None`: not mapped any more).
    pub current: Option<Translation>,
}

/// Errors of [`super::Mmu::new`] and [`super::PageTable::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewError {
    /// `frames` is 0 or above [`super::MAX_FRAMES`] (at least the kernel root is needed).
    BadFrameCount,
    /// `cpus` is 0 or above [`super::MAX_CPUS`].
    BadCpuCount,
    /// `tlb_entries` is 0 or above [`super::MAX_TLB_ENTRIES`].
    BadTlbSize,
}

/// Errors of [`super::Mmu::create_space`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateSpaceError {
    /// [`super::MAX_SPACES`] address spaces are live already.
    TooManySpaces,
    /// All 2^32 ASIDs have been handed out (they are never reused).
    AsidsExhausted,
    /// No free frame for the new root table.
    OutOfFrames,
}

/// Errors of [`super::Mmu::destroy_space`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DestroySpaceError {
    /// No live address space has this ASID.
    NoSuchSpace,
    /// The kernel space ([`Asid::KERNEL`]) holds the shared kernel half and cannot go.
    KernelSpace,
}

/// Errors of [`super::Mmu::map`]. Checked in the order listed; for the per-page variants
/// (`AlreadyMapped` .. `SharedTable`) the page with the lowest address is reported, and
/// `OutOfFrames` only if every page could otherwise be mapped. On error nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// No live address space has this ASID.
    NoSuchSpace,
    /// The page size is not one of `Arch::page_sizes()` (e.g. 1 GiB on PAE, 2 MiB on IA-32).
    UnsupportedPageSize,
    /// A flag the mode lacks: NO_EXECUTE on IA-32.
    UnsupportedFlags,
    /// `[va, va + len)` is empty, wraps, passes the top or is not canonical.
    Range(RangeError),
    /// `va` is not a multiple of the page size.
    MisalignedVa,
    /// `len` is not a multiple of the page size.
    MisalignedLen,
    /// `pa` is not a multiple of the page size.
    MisalignedPa,
    /// More than [`super::MAX_MAP_PAGES`] pages in one call.
    TooManyPages,
    /// `[pa, pa + len)` passes the highest physical address of the mode (4 GiB - 1 on IA-32,
    /// 2^52 - 1 otherwise).
    PhysRange,
    /// USER requested for a page of the kernel half (its upper tables are supervisor-only).
    UserInKernelHalf,
    /// GLOBAL requested for a page of the user half (a global user page would leak into
    /// every address space through the TLB).
    GlobalInUserHalf,
    /// A page of the same size is already mapped at `va`.
    AlreadyMapped {
        /// The page's address.
        va: u64,
    },
    /// The walk to `va` runs into a larger page (e.g. 4 KiB inside a 2 MiB page).
    LargePageInTheWay {
        /// The page's address.
        va: u64,
    },
    /// A large page at `va` would replace a live page-table page (one that maps smaller
    /// pages, or a shared segment table). Refused: the table would leak and TLBs could
    /// keep its translations (ANCHORS 6 #7).
    TableInTheWay {
        /// The page's address.
        va: u64,
    },
    /// The page at `va` lies in a segment whose page-table page is shared
    /// ([`super::Mmu::map_shared_segment`]); private changes there are refused.
    SharedTable {
        /// The page's address.
        va: u64,
    },
    /// Not enough free frames for the page-table pages the mapping needs.
    OutOfFrames,
}

/// Errors of [`super::Mmu::unmap`] and [`super::Mmu::protect`]. Checked in the order listed;
/// the walk errors name the lowest address at which the walk failed. On error nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnmapError {
    /// No live address space has this ASID.
    NoSuchSpace,
    /// (protect only) A flag the mode lacks: NO_EXECUTE on IA-32.
    UnsupportedFlags,
    /// `[va, va + len)` is empty, wraps, passes the top or is not canonical.
    Range(RangeError),
    /// `va` is not a multiple of 4 KiB.
    MisalignedVa,
    /// `len` is not a multiple of 4 KiB.
    MisalignedLen,
    /// (protect only) USER requested in the kernel half.
    UserInKernelHalf,
    /// (protect only) GLOBAL requested in the user half.
    GlobalInUserHalf,
    /// Nothing is mapped at `va` (the first unmapped address of the range).
    NotMapped {
        /// The first unmapped address.
        va: u64,
    },
    /// The range covers only part of the large page containing `va` (splitting is refused).
    PartialLargePage {
        /// The first address of the range inside that page.
        va: u64,
    },
    /// `va` lies in a shared segment (use [`super::Mmu::unmap_shared_segment`]).
    SharedTable {
        /// The first address of the range inside that segment.
        va: u64,
    },
}

/// Errors of [`super::Mmu::map_shared_segment`]. Checked in the order listed; on error
/// nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapSharedError {
    /// No live address space has this ASID.
    NoSuchSpace,
    /// NO_EXECUTE on IA-32.
    UnsupportedFlags,
    /// `[va, va + len)` is empty, wraps, passes the top or is not canonical.
    Range(RangeError),
    /// `va` is not a multiple of the segment size (`Arch::segment_size()`).
    MisalignedVa,
    /// `len` is not a multiple of 4 KiB.
    MisalignedLen,
    /// `len` is larger than one segment.
    TooLong,
    /// `pa` is not a multiple of 4 KiB.
    MisalignedPa,
    /// `[pa, pa + len)` passes the highest physical address of the mode.
    PhysRange,
    /// USER requested in the kernel half.
    UserInKernelHalf,
    /// GLOBAL requested in the user half.
    GlobalInUserHalf,
    /// The segment's slot already holds a large page of the segment's size.
    AlreadyMapped,
    /// A larger page (1 GiB) covers the segment.
    LargePageInTheWay,
    /// The segment's slot already holds a page-table page (private or shared).
    TableInTheWay,
    /// Not enough free frames for the page-table pages needed.
    OutOfFrames,
}

/// Errors of [`super::Mmu::unmap_shared_segment`]. On error nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnmapSharedError {
    /// No live address space has this ASID.
    NoSuchSpace,
    /// `[va, va + segment_size)` wraps, passes the top or is not canonical.
    Range(RangeError),
    /// `va` is not a multiple of the segment size.
    MisalignedVa,
    /// Nothing is mapped in the segment's slot.
    NotMapped,
    /// The slot holds something other than a shared segment table (a large page or a
    /// private table).
    NotShared,
}

/// Errors of [`super::Mmu::translate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TranslateError {
    /// No live address space has this ASID.
    NoSuchSpace,
    /// `va` is outside the space (above 4 GiB on 32-bit, in the canonical hole on x86_64).
    NonCanonical,
    /// No page maps `va`.
    NotMapped,
}

/// Errors of [`super::Mmu::access`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessError {
    /// No such CPU.
    NoSuchCpu,
    /// No live address space has this ASID.
    NoSuchSpace,
    /// `va` is outside the space (a #GP on real hardware).
    NonCanonical,
    /// Page fault: no page maps `va`.
    NotPresent,
    /// Page fault: the page is present but forbids this access.
    Protection,
    /// The TLB answered with a translation the page tables no longer back (a missing flush).
    /// Never happens when every [`Flush`] is applied.
    Stale(StaleTlb),
}

/// Errors of the explicit TLB operations ([`super::Mmu::invlpg`] and friends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlbError {
    /// No such CPU.
    NoSuchCpu,
}

/// A violated structural invariant, found by `check_invariants()`. Any value of this type
/// is a bug in the model itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvariantError {
    /// A frame is both on the free list and holding a table (or on the free list twice).
    FrameFreeAndUsed {
        /// The frame's index.
        frame: u32,
    },
    /// A frame is neither free nor reachable from any root (leaked).
    FrameLeaked {
        /// The frame's index.
        frame: u32,
    },
    /// A present entry points at a frame that is free or outside the pool.
    PointsToFreeFrame {
        /// The table holding the entry.
        frame: u32,
        /// The entry's index.
        index: u16,
    },
    /// A table's stored present-entry count differs from its contents.
    PresentCount {
        /// The table.
        frame: u32,
        /// Stored count.
        stored: u16,
        /// Count of present entries actually in the table.
        actual: u16,
    },
    /// A table's reference count differs from the number of entries pointing at it.
    RefCount {
        /// The table.
        frame: u32,
        /// Stored count.
        stored: u32,
        /// Pointers actually found.
        actual: u32,
    },
    /// A table sits at a level other than the one its parent entry implies, or a private
    /// table is reachable twice.
    Shape {
        /// The table.
        frame: u32,
    },
    /// A non-root table with no present entry was not freed.
    EmptyTable {
        /// The table.
        frame: u32,
    },
    /// An entry has bits that must not be there (reserved bits, PS where no large page
    /// exists, an intermediate entry that is not fully permissive for its half, USER in the
    /// kernel half, GLOBAL in the user half, NX on IA-32).
    BadEntry {
        /// The table.
        frame: u32,
        /// The entry's index.
        index: u16,
    },
    /// A root's kernel-half entry differs from the kernel space's.
    KernelHalfDiverged {
        /// The address space.
        asid: Asid,
        /// The top-level index.
        index: u16,
    },
    /// The shared-segment registry and the segment tables disagree.
    SegmentRegistry {
        /// The table.
        frame: u32,
    },
    /// A TLB holds more entries than its capacity, or an entry is filed under the wrong key.
    Tlb {
        /// The CPU.
        cpu: CpuId,
    },
}

/// How many page-table pages the address spaces use, and how many they would need with
/// private tables only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableStats {
    /// Frames holding page-table pages now (roots included).
    pub in_use: u64,
    /// Page-table pages every address space would need if none were shared: for each
    /// space, the number of tables on all paths from its root (root included).
    pub private_equivalent: u64,
}

impl TableStats {
    /// Table pages saved by sharing (kernel half and shared segments).
    pub const fn saved(&self) -> u64 {
        self.private_equivalent.saturating_sub(self.in_use)
    }
}
