//! The values a vmap scenario is made of: its header ([`Scenario`]: the space and the lazy
//! limit) and its ops ([`Op`]), whose windows and addresses are selectors resolved against the
//! space and its areas when the op runs; and how each prints in a trace.

use std::fmt;

use crate::addr::{Arch, PAGE_SIZE};
use crate::mmu::AccessKind;
use crate::vmap::vmalloc::in_kernel_space;

/// Most simulated CPUs a scenario has (one TLB each): 8, enough for "some CPUs loaded the
/// page, some did not" in every shape, and a bound on the per-op TLB scans.
pub const MAX_CASE_CPUS: u8 = 8;

/// Most data frames a scenario's vmalloc layer has: 4096 (16 MiB). With at most 4 table
/// levels below the root, mapping all of them needs at most 4 x 4096 + 1 page-table frames,
/// so the MMU's table pool ([`crate::mmu::MAX_FRAMES`], allocated lazily) never runs out in
/// the harness, and `OutOfTableFrames` is never a predicted outcome (unit-tested instead).
pub const MAX_CASE_FRAMES: u16 = 4096;

/// TLB entries per CPU in a scenario: 64 ([`crate::mmu::DEFAULT_TLB_ENTRIES`]), more than a
/// scenario's accesses usually touch, so entries stay until a flush drops them.
pub const CASE_TLB_ENTRIES: u32 = 64;

/// Most allocations one [`Op::Fill`] makes: 16,384, above the 15,000 one-page areas of
/// test_vmalloc's long_busy_list (a busy list the uncached walk crosses on every search).
pub const MAX_FILL_AREAS: u16 = 16_384;

/// An allocation's window: where in the space the area (guard page included) must lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowSel {
    /// No window: the whole space.
    Whole,
    /// `[space.start + from pages, + pages pages - 1]`, each count modulo the space's pages
    /// plus one, computed with wrapping (so it may run past the space or be empty: a
    /// `BadWindow` the oracle predicts).
    Pages {
        /// Pages from the space's start.
        from: u8,
        /// Pages in the window.
        pages: u8,
    },
    /// The last `pages` pages of the space (ending at its last byte; the count modulo the
    /// space's pages plus one).
    Tail {
        /// Pages in the window.
        pages: u8,
    },
    /// This window, inclusive.
    Raw {
        /// First byte.
        start: u64,
        /// Last byte.
        last: u64,
    },
}

/// An address a free names (resolved against the areas when the op runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrSel {
    /// The start of busy area `handle` (modulo the live count; the space's start if none)
    /// plus `pages` pages (0: a good free; else inside the area, its guard or beyond).
    Live {
        /// Which live area.
        handle: u16,
        /// Pages added (wrapping).
        pages: u8,
    },
    /// The start of lazily freed area `index` (a double free), or the space's start if none.
    Lazy {
        /// Which lazily freed area (modulo their count, in address order).
        index: u16,
    },
    /// This address.
    Raw(u64),
}

/// An address an access names (resolved against the model's areas when the op runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessSel {
    /// Page `page` (modulo its pages) of busy area `handle` (modulo the live count; the
    /// space's start if none), at byte `off * 8` of the page.
    Live {
        /// Which live area.
        handle: u16,
        /// Which page.
        page: u8,
        /// Offset in the page, in units of 8 bytes.
        off: u8,
    },
    /// The page right after live area `handle`'s pages: its guard page, if it has one.
    Guard {
        /// Which live area.
        handle: u16,
    },
    /// Page `page` (modulo its pages) of lazily freed area `index` (modulo their count, in
    /// address order), or the space's start if none.
    Lazy {
        /// Which lazily freed area.
        index: u16,
        /// Which page.
        page: u8,
    },
    /// A page of a recently vfree'd area, whatever it is now: still lazily freed, purged
    /// and free, or handed out again (the freed-and-reused range); the space's start if none.
    Freed {
        /// Which remembered page (modulo their count).
        index: u8,
    },
    /// This address.
    Raw(u64),
}

/// One operation of a vmap scenario: run on every search strategy and on the oracle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `alloc(size, align, window, guard)`.
    Alloc {
        /// Bytes (rounded up to pages by the allocator).
        size: u64,
        /// Alignment (0 and non-powers of two are errors; below a page acts as a page).
        align: u64,
        /// Where the area must lie.
        window: WindowSel,
        /// A guard page after the area.
        guard: bool,
    },
    /// `free` of busy area `handle` (modulo the live count): a good lazy free.
    Free {
        /// Which live area.
        handle: u16,
    },
    /// `free` of an address a selector names: double frees, interior pointers, guard pages,
    /// random addresses.
    FreeAt {
        /// The address.
        addr: AddrSel,
    },
    /// An explicit purge of every lazily freed area.
    Purge,
    /// `vmalloc(size, align, guard)`: an area anywhere in the space, every page mapped (on
    /// the strategies without the mmu layer, and on all of them when the space is not in a
    /// kernel half: a plain allocation).
    Vmalloc {
        /// Bytes (rounded up to pages).
        size: u64,
        /// Alignment.
        align: u64,
        /// A guard page after the area.
        guard: bool,
    },
    /// `vfree` of vmalloc'd area `handle` (modulo their count; the space's start if none).
    Vfree {
        /// Which vmalloc'd busy area.
        handle: u16,
    },
    /// `count` allocations of one request in a row, stopping at the first failure: a long
    /// busy list in one op (test_vmalloc's long_busy_list at its real size).
    Fill {
        /// Allocations, `1..=MAX_FILL_AREAS`.
        count: u16,
        /// Bytes (rounded up to pages by the allocator).
        size: u64,
        /// Alignment.
        align: u64,
        /// Where the areas must lie.
        window: WindowSel,
        /// A guard page after each area.
        guard: bool,
    },
    /// An access by CPU `cpu` (modulo the CPU count) through its TLB.
    Access {
        /// Which CPU.
        cpu: u8,
        /// Where.
        addr: AccessSel,
        /// Read, write or fetch.
        kind: AccessKind,
    },
}

/// A decoded vmap scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The space's first byte.
    pub start: u64,
    /// The space's last byte (inclusive; `u64::MAX` for a space at the very top).
    pub last: u64,
    /// The lazily freed pages a free may leave before it purges.
    pub lazy_max_pages: u64,
    /// Simulated CPUs, `1..=MAX_CASE_CPUS`.
    pub cpus: u8,
    /// Pick the other paging mode that holds the space (PAE instead of IA-32, LA57 instead
    /// of 4-level x86_64) where there is one; see [`Scenario::arch`].
    pub alt_mode: bool,
    /// Data frames of the vmalloc layer, `1..=MAX_CASE_FRAMES`.
    pub frames: u16,
    /// The ops.
    pub ops: Vec<Op>,
}

impl fmt::Display for WindowSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WindowSel::Whole => f.write_str("whole"),
            WindowSel::Pages { from, pages } => write!(f, "pages[{from}..+{pages}]"),
            WindowSel::Tail { pages } => write!(f, "tail[{pages}]"),
            WindowSel::Raw { start, last } => write!(f, "[{start:#x}, {last:#x}]"),
        }
    }
}

impl fmt::Display for AddrSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AddrSel::Live { handle, pages: 0 } => write!(f, "live[{handle}]"),
            AddrSel::Live { handle, pages } => write!(f, "live[{handle}]+{pages}p"),
            AddrSel::Lazy { index } => write!(f, "lazy[{index}]"),
            AddrSel::Raw(a) => write!(f, "{a:#x}"),
        }
    }
}

impl fmt::Display for AccessSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AccessSel::Live { handle, page, off } => {
                write!(f, "live[{handle}] page {page} +{:#x}", u16::from(off) * 8)
            }
            AccessSel::Guard { handle } => write!(f, "guard of live[{handle}]"),
            AccessSel::Lazy { index, page } => write!(f, "lazy[{index}] page {page}"),
            AccessSel::Freed { index } => write!(f, "freed[{index}]"),
            AccessSel::Raw(a) => write!(f, "{a:#x}"),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::Alloc {
                size,
                align,
                window,
                guard,
            } => write!(
                f,
                "alloc size={size:#x} align={align:#x} window={window}{}",
                if guard { "" } else { " no-guard" }
            ),
            Op::Free { handle } => write!(f, "free live[{handle}]"),
            Op::FreeAt { addr } => write!(f, "free_at {addr}"),
            Op::Purge => f.write_str("purge"),
            Op::Vmalloc { size, align, guard } => write!(
                f,
                "vmalloc size={size:#x} align={align:#x}{}",
                if guard { "" } else { " no-guard" }
            ),
            Op::Vfree { handle } => write!(f, "vfree vmalloc[{handle}]"),
            Op::Fill {
                count,
                size,
                align,
                window,
                guard,
            } => write!(
                f,
                "fill {count} x size={size:#x} align={align:#x} window={window}{}",
                if guard { "" } else { " no-guard" }
            ),
            Op::Access { cpu, addr, kind } => write!(f, "access cpu{cpu} {kind:?} {addr}"),
        }
    }
}

impl Scenario {
    /// The paging mode the vmalloc layer runs in: IA-32 (PAE with `alt_mode`) for a space
    /// below 4 GiB; else 4-level x86_64 if it holds the space in its kernel half (LA57 with
    /// `alt_mode` when that does too), else LA57. `None` if no mode holds the space in its
    /// kernel half: then no mmu layer runs (every strategy allocates plainly, accesses are
    /// skipped).
    pub fn arch(&self) -> Option<Arch> {
        let fits = |a: Arch| in_kernel_space(a, self.start, self.last);
        let (first, other) = if self.last <= 0xffff_ffff {
            (Arch::Ia32, Arch::Pae)
        } else {
            (Arch::X86_64, Arch::X86_64La57)
        };
        match (fits(first), fits(other)) {
            (true, true) => Some(if self.alt_mode { other } else { first }),
            (true, false) => Some(first),
            (false, true) => Some(other),
            (false, false) => None,
        }
    }

    /// The header line of a trace.
    pub(super) fn header_line(&self) -> String {
        let pages = (u128::from(self.last) + 1).saturating_sub(u128::from(self.start))
            / u128::from(PAGE_SIZE);
        format!(
            "vmap scenario: space=[{:#x}, {:#x}] ({pages} pages) lazy_max_pages={} cpus={} mode={} frames={} ops={}",
            self.start,
            self.last,
            self.lazy_max_pages,
            self.cpus,
            self.arch().map_or("none", Arch::name),
            self.frames,
            self.ops.len()
        )
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.header_line())?;
        for (i, op) in self.ops.iter().enumerate() {
            writeln!(f, "  #{i} {op}")?;
        }
        Ok(())
    }
}
