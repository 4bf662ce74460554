//! [`Align`]: an alignment that is never zero, rounding up the way seed 000 does it.

use core::fmt;
use core::num::NonZeroU64;

use crate::addr::{align_up, is_pow2};

/// An alignment in bytes: any value `>= 1`, power of two or not (guaranteed by construction).
///
/// `Align(1)` means "no alignment". Rounding up uses a mask when the value is a power of two
/// and a division otherwise, exactly as seed 000 does; unlike the seed it never silently wraps:
/// [`Align::round_up`] returns `None` where the rounded value would exceed `u64::MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Align(NonZeroU64);

impl Align {
    /// No alignment at all (every address is a multiple of 1).
    pub const BYTE: Align = Align(NonZeroU64::MIN);

    /// `Some(Align)` iff `bytes >= 1`.
    pub const fn new(bytes: u64) -> Option<Align> {
        match NonZeroU64::new(bytes) {
            Some(n) => Some(Align(n)),
            None => None,
        }
    }

    /// The alignment in bytes (`>= 1`).
    pub const fn get(self) -> u64 {
        self.0.get()
    }

    /// `true` iff the alignment is a power of two (rounded by mask rather than by division).
    pub const fn is_pow2(self) -> bool {
        is_pow2(self.0.get())
    }

    /// `true` iff `addr` is a multiple of the alignment.
    pub const fn is_aligned(self, addr: u64) -> bool {
        let a = self.0.get();
        if is_pow2(a) {
            addr & (a - 1) == 0
        } else {
            addr.is_multiple_of(a)
        }
    }

    /// The smallest multiple of the alignment that is `>= addr`, or `None` if it would exceed
    /// `u64::MAX` (seed 000's "rounding up wrapped" check, done without wrapping).
    pub const fn round_up(self, addr: u64) -> Option<u64> {
        align_up(addr, self.0.get())
    }
}

impl fmt::Display for Align {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.get())
    }
}
