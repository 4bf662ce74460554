//! The values a vmap scenario is made of: its header ([`Scenario`]: the space and the lazy
//! limit) and its ops ([`Op`]), whose windows and addresses are selectors resolved against the
//! space and its areas when the op runs; and how each prints in a trace.

use std::fmt;

use crate::addr::PAGE_SIZE;

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
        }
    }
}

impl Scenario {
    /// The header line of a trace.
    pub(super) fn header_line(&self) -> String {
        let pages = (u128::from(self.last) + 1).saturating_sub(u128::from(self.start))
            / u128::from(PAGE_SIZE);
        format!(
            "vmap scenario: space=[{:#x}, {:#x}] ({pages} pages) lazy_max_pages={} ops={}",
            self.start,
            self.last,
            self.lazy_max_pages,
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
