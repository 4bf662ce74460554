//! # Address model
//!
//! Every allocator in this crate hands out ranges of a *virtual address space*. This module
//! says which spaces exist and gives the arithmetic on them that cannot silently wrap.
//!
//! ## 1. Architectures
//!
//! | [`Arch`]        | VA bits | highest address          | canonical rule                 |
//! |-----------------|---------|--------------------------|--------------------------------|
//! | `Ia32`          | 32      | `0xFFFF_FFFF`            | none (every 32-bit value)      |
//! | `Pae`           | 32      | `0xFFFF_FFFF`            | none (PAE widens *physical*)   |
//! | `X86_64`        | 48      | `u64::MAX`               | bits 63..=47 all equal         |
//! | `X86_64La57`    | 57      | `u64::MAX`               | bits 63..=56 all equal         |
//!
//! On x86_64 the space is split by the *canonical hole*: with 48 bits the addresses
//! `0x0000_8000_0000_0000 ..= 0xFFFF_7FFF_FFFF_FFFF` do not exist. A range is legal only if it
//! lies wholly in one canonical half; a range that would cross the hole is an error, never a
//! silent wrap (x86_64 crate bug, ANCHORS #15).
//!
//! ## 2. Ranges are (start, last), never (start, end)
//!
//! A range that ends exactly at the top of the space (last byte `0xFFFF_FFFF` on IA-32,
//! `u64::MAX` on x86_64) is legal, and address 0 is an ordinary address. An exclusive end would
//! be `2^64` there, which a `u64` cannot hold (NetBSD's 2012 bug, ANCHORS #8), so every range in
//! this crate is stored as its first and its **last** byte, both inclusive. The *size* of a
//! range is `last - start + 1`; it is at least 1 and, since no legal range covers all 2^64
//! addresses (the canonical hole forbids it on x86_64; 32-bit spaces are smaller), it always
//! fits in a `u64`.
//!
//! ## 3. Arithmetic that cannot wrap
//!
//! [`last_of`], [`align_up`], [`align_up_phase`], [`crosses_boundary`] and
//! [`range_crosses_boundary`] return `None` where the plain expression would overflow or an
//! argument is out of its range (a zero length, a boundary that is not a power of two).
//! Callers turn `None` into their own typed error.

use core::fmt;

/// One of the simulated x86 paging modes; fixes the shape of the virtual address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    /// 32-bit, two-level paging (10/10/12), 4 KiB pages and 4 MiB PSE pages.
    Ia32,
    /// 32-bit virtual addresses, three-level PAE paging (2/9/9/12), 4 KiB and 2 MiB pages.
    Pae,
    /// x86_64, four-level paging (9/9/9/9/12), 48-bit canonical addresses.
    X86_64,
    /// x86_64 with LA57, five-level paging (9x5/12), 57-bit canonical addresses.
    X86_64La57,
}

/// Every architecture, in a fixed order (used by decoders: an input byte picks an index).
pub const ALL_ARCHES: [Arch; 4] = [Arch::Ia32, Arch::Pae, Arch::X86_64, Arch::X86_64La57];

/// 4 KiB: the base page size of every mode.
pub const PAGE_SIZE: u64 = 4096;

impl Arch {
    /// Number of significant virtual-address bits.
    pub const fn va_bits(self) -> u32 {
        match self {
            Arch::Ia32 | Arch::Pae => 32,
            Arch::X86_64 => 48,
            Arch::X86_64La57 => 57,
        }
    }

    /// The highest address of the space (inclusive).
    pub const fn max_addr(self) -> u64 {
        match self {
            Arch::Ia32 | Arch::Pae => 0xFFFF_FFFF,
            Arch::X86_64 | Arch::X86_64La57 => u64::MAX,
        }
    }

    /// The size of a *segment*: the span of virtual addresses one page-directory page maps
    /// (4 MiB on IA-32, 2 MiB with PAE and x86_64). Aligning large mappings to it lets
    /// address spaces share page-table pages (seed 000).
    pub const fn segment_size(self) -> u64 {
        match self {
            Arch::Ia32 => 4 << 20,
            Arch::Pae | Arch::X86_64 | Arch::X86_64La57 => 2 << 20,
        }
    }

    /// The page sizes this mode can map, smallest first.
    pub const fn page_sizes(self) -> &'static [u64] {
        match self {
            Arch::Ia32 => &[PAGE_SIZE, 4 << 20],
            Arch::Pae => &[PAGE_SIZE, 2 << 20],
            Arch::X86_64 | Arch::X86_64La57 => &[PAGE_SIZE, 2 << 20, 1 << 30],
        }
    }

    /// `true` iff `addr` exists in this space (fits the width; on x86_64, is canonical).
    pub const fn is_canonical(self, addr: u64) -> bool {
        match self {
            Arch::Ia32 | Arch::Pae => addr <= 0xFFFF_FFFF,
            Arch::X86_64 | Arch::X86_64La57 => {
                // Sign-extend from bit (va_bits - 1) and compare.
                let shift = 64 - self.va_bits();
                (((addr << shift) as i64) >> shift) as u64 == addr
            }
        }
    }

    /// Last address of the lower canonical half (`0x7FFF_FFFF_FFFF` with 48 bits), or
    /// [`Arch::max_addr`] for the 32-bit modes, which have no hole.
    pub const fn lower_half_last(self) -> u64 {
        match self {
            Arch::Ia32 | Arch::Pae => 0xFFFF_FFFF,
            Arch::X86_64 | Arch::X86_64La57 => (1u64 << (self.va_bits() - 1)) - 1,
        }
    }

    /// First address of the upper canonical half (`0xFFFF_8000_0000_0000` with 48 bits), or
    /// `None` for the 32-bit modes.
    pub const fn upper_half_start(self) -> Option<u64> {
        match self {
            Arch::Ia32 | Arch::Pae => None,
            Arch::X86_64 | Arch::X86_64La57 => Some(!self.lower_half_last()),
        }
    }

    /// Checks that `[start, start + size)` is a legal range of this space: non-empty, not
    /// wrapping past the top, and (x86_64) wholly inside one canonical half.
    pub fn check_range(self, start: u64, size: u64) -> Result<Range, RangeError> {
        let r = Range::new(start, size)?;
        if r.last > self.max_addr() {
            return Err(RangeError::PastTop);
        }
        if !self.is_canonical(r.start) || !self.is_canonical(r.last) {
            return Err(RangeError::NonCanonical);
        }
        // Both ends canonical but in different halves means the range covers the hole.
        if let Some(upper) = self.upper_half_start() {
            if (r.start < upper) != (r.last < upper) {
                return Err(RangeError::NonCanonical);
            }
        }
        Ok(r)
    }

    /// Short lower-case name, as the CLI and traces print it.
    pub const fn name(self) -> &'static str {
        match self {
            Arch::Ia32 => "ia32",
            Arch::Pae => "pae",
            Arch::X86_64 => "x86_64",
            Arch::X86_64La57 => "x86_64-la57",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a (start, size) pair is not a legal range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeError {
    /// The size is zero.
    Empty,
    /// `start + size - 1` overflows `u64`: the range would wrap past the top.
    Wraps,
    /// The range ends above the highest address of the space (e.g. past 4 GiB on IA-32).
    PastTop,
    /// Part of the range is not canonical (it touches or crosses the x86_64 hole).
    NonCanonical,
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RangeError::Empty => "empty range",
            RangeError::Wraps => "range wraps past the top of the 64-bit space",
            RangeError::PastTop => "range ends past the top of the address space",
            RangeError::NonCanonical => "range is not canonical",
        })
    }
}

/// A non-empty range of addresses `[start, last]`, both inclusive (see the module comment for
/// why). Invariant: `start <= last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Range {
    start: u64,
    last: u64,
}

impl Range {
    /// The range of `size` bytes starting at `start`; errors if empty or wrapping.
    pub const fn new(start: u64, size: u64) -> Result<Range, RangeError> {
        if size == 0 {
            return Err(RangeError::Empty);
        }
        match last_of(start, size) {
            Some(last) => Ok(Range { start, last }),
            None => Err(RangeError::Wraps),
        }
    }

    /// The range `[start, last]`; `None` if `last < start`.
    pub const fn from_inclusive(start: u64, last: u64) -> Option<Range> {
        if last < start {
            None
        } else {
            Some(Range { start, last })
        }
    }

    /// First address (inclusive).
    pub const fn start(self) -> u64 {
        self.start
    }

    /// Last address (inclusive).
    pub const fn last(self) -> u64 {
        self.last
    }

    /// Number of addresses; never 0 and never wraps (see the module comment). Saturates at
    /// `u64::MAX` for the one range `[0, u64::MAX]`, which no architecture here admits.
    pub const fn size(self) -> u64 {
        (self.last - self.start).saturating_add(1)
    }

    /// `true` iff `addr` lies in the range.
    pub const fn contains(self, addr: u64) -> bool {
        self.start <= addr && addr <= self.last
    }

    /// `true` iff `other` lies wholly inside `self`.
    pub const fn covers(self, other: Range) -> bool {
        self.start <= other.start && other.last <= self.last
    }

    /// `true` iff the two ranges share at least one address.
    pub const fn overlaps(self, other: Range) -> bool {
        self.start <= other.last && other.start <= self.last
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, {:#x}]", self.start, self.last)
    }
}

/// The last byte of `[start, start + size)`, or `None` if `size == 0` or it would wrap.
pub const fn last_of(start: u64, size: u64) -> Option<u64> {
    if size == 0 {
        return None;
    }
    start.checked_add(size - 1)
}

/// `true` iff `x` is a power of two (0 is not).
pub const fn is_pow2(x: u64) -> bool {
    x != 0 && x & (x - 1) == 0
}

/// The smallest multiple of `align` that is `>= addr`, for any `align >= 1` (power of two by
/// mask, anything else by division); `None` if it would exceed `u64::MAX` or `align == 0`.
pub const fn align_up(addr: u64, align: u64) -> Option<u64> {
    align_up_phase(addr, align, 0)
}

/// The smallest `x >= addr` with `x % align == phase`; `None` if `align == 0`,
/// `phase >= align`, or no such `x` fits in a `u64`.
pub const fn align_up_phase(addr: u64, align: u64, phase: u64) -> Option<u64> {
    if align == 0 || phase >= align {
        return None;
    }
    let rem = if is_pow2(align) {
        addr & (align - 1)
    } else {
        addr % align
    };
    // x = addr - rem + phase, plus align if that is still below addr.
    let base = addr - rem; // no underflow: rem <= addr
    match base.checked_add(phase) {
        Some(x) if x >= addr => Some(x),
        Some(x) => x.checked_add(align),
        None => None,
    }
}

/// Whether `[start, start + len)` crosses a multiple of `boundary`, i.e. holds two addresses
/// on different sides of one (a range may end exactly at a boundary, its last byte just below
/// it, without crossing). `None` if `len == 0`, `boundary` is not a power of two, or the range
/// would wrap past `u64::MAX` (a range may end exactly at `u64::MAX`).
pub const fn crosses_boundary(start: u64, len: u64, boundary: u64) -> Option<bool> {
    if len == 0 {
        return None;
    }
    match start.checked_add(len - 1) {
        Some(last) => range_crosses_boundary(start, last, boundary),
        None => None,
    }
}

/// [`crosses_boundary`] for the inclusive range `[start, last]`: `None` if `last < start` or
/// `boundary` is not a power of two.
pub const fn range_crosses_boundary(start: u64, last: u64, boundary: u64) -> Option<bool> {
    if last < start || !is_pow2(boundary) {
        return None;
    }
    Some((start ^ last) & !(boundary - 1) != 0)
}

/// `floor(log2(x))` for `x >= 1`.
pub const fn log2_floor(x: u64) -> u32 {
    63 - x.leading_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn range_at_the_top_of_every_space_is_legal() {
        let r = Arch::Ia32.check_range(0xFFFF_FF00, 0x100).unwrap();
        assert_eq!(r.last(), 0xFFFF_FFFF);
        assert_eq!(
            Arch::Ia32.check_range(0xFFFF_FF00, 0x101),
            Err(RangeError::PastTop)
        );
        let r = Arch::X86_64.check_range(u64::MAX - 0xFFF, 0x1000).unwrap();
        assert_eq!(r.last(), u64::MAX);
        assert_eq!(r.size(), 0x1000);
        assert_eq!(
            Arch::X86_64.check_range(u64::MAX, 2),
            Err(RangeError::Wraps)
        );
        assert_eq!(Arch::Ia32.check_range(0, 0), Err(RangeError::Empty));
        assert!(Arch::Ia32.check_range(0, 1).is_ok());
    }

    /// A range prints as its first and last byte, inclusive (how errors and traces show it).
    #[test]
    fn a_range_prints_its_inclusive_bounds() {
        let r = Range::from_inclusive(0x1000, 0x1fff).unwrap();
        assert_eq!(alloc::format!("{r}"), "[0x1000, 0x1fff]");
        let top = Range::from_inclusive(0, u64::MAX).unwrap();
        assert_eq!(alloc::format!("{top}"), "[0x0, 0xffffffffffffffff]");
    }

    /// `contains`, `covers` and `overlaps` at every edge: one shared byte overlaps, touching
    /// ranges do not, and ranges ending at `u64::MAX` or starting at 0 are no special case.
    #[test]
    fn range_predicates_at_their_edges() {
        let r = |start: u64, last: u64| Range::from_inclusive(start, last).unwrap();
        let a = r(0x10, 0x1F);
        assert!(a.contains(0x10) && a.contains(0x1F));
        assert!(!a.contains(0xF) && !a.contains(0x20));
        // Sharing exactly the first or the last byte overlaps; touching does not.
        for (b, overlaps) in [
            (r(0x1F, 0x2F), true),
            (r(0x0, 0x10), true),
            (r(0x20, 0x2F), false),
            (r(0x0, 0xF), false),
            (r(0x18, 0x18), true),
            (r(0x0, u64::MAX), true),
        ] {
            assert_eq!(a.overlaps(b), overlaps, "{a} and {b}");
            assert_eq!(b.overlaps(a), overlaps, "{b} and {a}");
        }
        // Covering includes equal ends, and nothing one byte wider.
        assert!(a.covers(a) && a.covers(r(0x10, 0x10)) && a.covers(r(0x1F, 0x1F)));
        assert!(!a.covers(r(0xF, 0x1F)) && !a.covers(r(0x10, 0x20)));
        // At the top and the bottom of the 64-bit space.
        let top = r(u64::MAX - 0xF, u64::MAX);
        assert!(top.contains(u64::MAX) && top.covers(r(u64::MAX, u64::MAX)));
        assert!(top.overlaps(r(u64::MAX, u64::MAX)) && !top.overlaps(r(0, u64::MAX - 0x10)));
        let bottom = r(0, 0xF);
        assert!(bottom.contains(0) && bottom.overlaps(r(0, 0)) && !bottom.overlaps(r(0x10, 0x10)));
        assert_eq!(top.size(), 0x10);
        assert_eq!(bottom.size(), 0x10);
    }

    #[test]
    fn canonical_hole() {
        let a = Arch::X86_64;
        assert!(a.is_canonical(0x7FFF_FFFF_FFFF));
        assert!(!a.is_canonical(0x8000_0000_0000));
        assert!(!a.is_canonical(0xFFFF_7FFF_FFFF_FFFF));
        assert!(a.is_canonical(0xFFFF_8000_0000_0000));
        assert_eq!(a.upper_half_start(), Some(0xFFFF_8000_0000_0000));
        assert_eq!(
            a.check_range(0x7FFF_FFFF_F000, 0x2000),
            Err(RangeError::NonCanonical)
        );
        let b = Arch::X86_64La57;
        assert!(b.is_canonical(0x00FF_FFFF_FFFF_FFFF));
        assert!(!b.is_canonical(0x0100_0000_0000_0000));
        assert_eq!(b.upper_half_start(), Some(0xFF00_0000_0000_0000));
        // A range over the whole hole with both ends canonical is still rejected.
        assert_eq!(
            a.check_range(0, 0xFFFF_8000_0000_0001),
            Err(RangeError::NonCanonical)
        );
    }

    #[test]
    fn align_up_phase_never_wraps() {
        assert_eq!(align_up(0, 8), Some(0));
        assert_eq!(align_up(1, 8), Some(8));
        assert_eq!(align_up(9, 3), Some(9));
        assert_eq!(align_up(10, 3), Some(12));
        assert_eq!(align_up(u64::MAX, 2), None);
        assert_eq!(align_up(u64::MAX - 7, 8), Some(u64::MAX - 7));
        assert_eq!(align_up_phase(5, 8, 3), Some(11));
        assert_eq!(align_up_phase(3, 8, 3), Some(3));
        assert_eq!(align_up_phase(u64::MAX - 2, 8, 7), Some(u64::MAX));
        assert_eq!(align_up_phase(u64::MAX, 8, 6), None);
        assert_eq!(align_up_phase(0, 8, 8), None);
        assert_eq!(align_up_phase(0, 0, 0), None);
        assert_eq!(align_up(1, 1 << 63), Some(1 << 63));
        assert_eq!(align_up((1 << 63) + 1, 1 << 63), None);
    }

    #[test]
    fn boundary_crossing() {
        // [start, last] form.
        assert_eq!(range_crosses_boundary(0, 15, 16), Some(false));
        assert_eq!(range_crosses_boundary(15, 16, 16), Some(true));
        assert_eq!(range_crosses_boundary(16, 31, 16), Some(false));
        assert_eq!(
            range_crosses_boundary(u64::MAX - 15, u64::MAX, 16),
            Some(false)
        );
        assert_eq!(range_crosses_boundary(0, u64::MAX, 1 << 63), Some(true));
        assert_eq!(range_crosses_boundary(5, 4, 16), None);
        // [start, start + len) form: ending exactly at a boundary does not cross it.
        assert_eq!(crosses_boundary(0, 16, 16), Some(false));
        assert_eq!(crosses_boundary(0, 17, 16), Some(true));
        assert_eq!(crosses_boundary(15, 2, 16), Some(true));
        assert_eq!(crosses_boundary(u64::MAX - 15, 16, 16), Some(false));
        assert_eq!(crosses_boundary(u64::MAX, 1, 1), Some(false));
        // Bad input: nothing to judge, a wrapping range, a boundary that is not a power of 2.
        assert_eq!(crosses_boundary(0, 0, 16), None);
        assert_eq!(crosses_boundary(u64::MAX - 15, 17, 16), None);
        assert_eq!(crosses_boundary(0, 8, 0), None);
        assert_eq!(crosses_boundary(0, 8, 24), None);
        assert_eq!(range_crosses_boundary(0, 8, 3), None);
    }

    /// Brute force over small ranges: the answer is whether two addresses of the range lie
    /// in different multiples of the boundary.
    #[test]
    fn boundary_crossing_matches_brute_force() {
        for shift in 0..5 {
            let b = 1u64 << shift;
            for start in 0..40u64 {
                for len in 1..40u64 {
                    let windows: Vec<u64> = (start..start + len).map(|x| x / b).collect();
                    let expect = windows.iter().any(|&w| w != windows[0]);
                    assert_eq!(
                        crosses_boundary(start, len, b),
                        Some(expect),
                        "{start} {len} {b}"
                    );
                }
            }
        }
    }
}
