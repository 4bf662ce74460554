//! The slab layout rule (module comment, section 2): a pure function of (item size, alignment,
//! refcounts) that both the allocator and the oracle compute.

use super::types::KegError;

/// The smallest slab, and the alignment a slab is at least given (bytes).
pub const PAGE_SIZE: u64 = crate::addr::PAGE_SIZE;
/// Items are aligned to at least this many bytes (room for a pointer on every target).
pub const MIN_ITEM_ALIGN: u64 = 8;
/// The largest item alignment a keg accepts: one page.
pub const MAX_ITEM_ALIGN: u64 = 4096;
/// The largest item a keg accepts (bytes): 16 pages.
pub const MAX_ITEM_SIZE: u64 = 65536;
/// The largest slab (bytes): twice the largest item, so every item size has a candidate
/// holding at least two items.
pub const MAX_SLAB_SIZE: u64 = 131_072;
/// The fixed part of a slab header (bytes): magic, counts, list links.
pub const SLAB_HEADER_BASE: u64 = 32;
/// Bits in one word of a slab's free bitmap.
pub const BITMAP_WORD_BITS: u64 = 64;
/// Bytes of one word of a slab's free bitmap.
pub const BITMAP_WORD_BYTES: u64 = 8;
/// Bytes of one item's reference count in a refcount keg's header (a `u32`).
pub const REFCOUNT_BYTES: u64 = 4;
/// A header's size is rounded up to this (bytes).
pub const HEADER_ALIGN: u64 = 8;
/// A slab size is good enough when its waste is at most `1 / WASTE_DIVISOR` of it.
pub const WASTE_DIVISOR: u64 = 16;

/// Where a slab's header lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeaderPlacement {
    /// In the last `header_bytes` bytes of the slab.
    OnSlab,
    /// Outside the slab (found through the keg's address index); occupies no slab byte.
    OffSlab,
}

/// The geometry of every slab of one keg ([`SlabLayout::new`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SlabLayout {
    /// Bytes asked for per item.
    pub item_size: u64,
    /// Alignment asked for (a power of two, at most [`MAX_ITEM_ALIGN`]).
    pub align: u64,
    /// Bytes between item starts: `item_size` rounded up to `max(align, MIN_ITEM_ALIGN)`.
    pub stride: u64,
    /// Bytes per slab: a power of two, [`PAGE_SIZE`] to [`MAX_SLAB_SIZE`]; slabs are aligned
    /// to it.
    pub slab_size: u64,
    /// Items per slab (at least 1), at `base + i * stride`.
    pub items: u64,
    /// Where the header lives.
    pub header: HeaderPlacement,
    /// Bytes of the header (on the slab or off it).
    pub header_bytes: u64,
    /// In-slab bytes holding no item: `slab_size - items * stride` (an on-slab header
    /// included).
    pub waste: u64,
}

/// Header bytes of a slab of `n` items: `roundup(SLAB_HEADER_BASE + 8 * ceil(n / 64) +
/// (refcounts ? 4 * n : 0), 8)`.
pub fn header_bytes(n: u64, refcounts: bool) -> u64 {
    let counts = if refcounts { REFCOUNT_BYTES * n } else { 0 };
    let raw = SLAB_HEADER_BASE + BITMAP_WORD_BYTES * n.div_ceil(BITMAP_WORD_BITS) + counts;
    raw.next_multiple_of(HEADER_ALIGN)
}

/// The placement chosen at slab size `s`: (items, header, header bytes, total waste).
fn placement(s: u64, stride: u64, refcounts: bool) -> (u64, HeaderPlacement, u64, u64) {
    let n_off = s / stride;
    // n * stride + header_bytes(n) grows strictly with n and is SLAB_HEADER_BASE <= s at
    // n = 0: binary search for the largest n in [0, n_off] that fits.
    let fits = |n: u64| n * stride + header_bytes(n, refcounts) <= s;
    let (mut lo, mut hi) = (0, n_off);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let n_on = lo;
    let w_on = s - n_on * stride;
    let hb_off = header_bytes(n_off, refcounts);
    let w_off = (s - n_off * stride) + hb_off;
    // On the slab only when the header fits in the tail the items leave (it displaces no
    // item; its bytes then count as waste); else off the slab, where it displaces nothing
    // and its bytes are counted as waste all the same.
    if n_on >= 1 && n_on == n_off {
        (
            n_on,
            HeaderPlacement::OnSlab,
            header_bytes(n_on, refcounts),
            w_on,
        )
    } else {
        (n_off, HeaderPlacement::OffSlab, hb_off, w_off)
    }
}

impl SlabLayout {
    /// The layout of a keg of `item_size`-byte items aligned to `align`, with a reference
    /// count per item iff `refcounts` (module comment, section 2). Errors in the order of
    /// [`KegError`]'s first three variants.
    pub fn new(item_size: u64, align: u64, refcounts: bool) -> Result<SlabLayout, KegError> {
        if item_size == 0 {
            return Err(KegError::ZeroSize);
        }
        if item_size > MAX_ITEM_SIZE {
            return Err(KegError::TooBig);
        }
        if !align.is_power_of_two() || align > MAX_ITEM_ALIGN {
            return Err(KegError::BadAlign);
        }
        let stride = item_size.next_multiple_of(align.max(MIN_ITEM_ALIGN));
        // stride <= MAX_ITEM_SIZE (a multiple of MAX_ITEM_ALIGN), so s0 <= MAX_SLAB_SIZE / 2:
        // there is always at least one candidate.
        let mut s = PAGE_SIZE.max(stride.next_power_of_two());
        let mut best: Option<(u64, (u64, HeaderPlacement, u64, u64))> = None;
        while s <= MAX_SLAB_SIZE {
            let p = placement(s, stride, refcounts);
            if p.3 * WASTE_DIVISOR <= s {
                best = Some((s, p));
                break;
            }
            let better = match best {
                None => true,
                Some((bs, bp)) => {
                    u128::from(p.3) * u128::from(bs) < u128::from(bp.3) * u128::from(s)
                }
            };
            if better {
                best = Some((s, p));
            }
            s *= 2;
        }
        let (slab_size, (items, header, header_bytes, _)) = best.ok_or(KegError::TooBig)?;
        Ok(SlabLayout {
            item_size,
            align,
            stride,
            slab_size,
            items,
            header,
            header_bytes,
            waste: slab_size - items * stride,
        })
    }

    /// Bytes of the slab the header occupies (0 if off-slab).
    pub const fn header_in_slab(&self) -> u64 {
        match self.header {
            HeaderPlacement::OnSlab => self.header_bytes,
            HeaderPlacement::OffSlab => 0,
        }
    }
}
