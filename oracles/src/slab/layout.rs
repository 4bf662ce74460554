//! The slab layout rule of the contract (section 2 of the module comment), written out as
//! the most literal brute force: every candidate size, every item count.

use super::{
    KegErrorKind, MAX_ITEM_ALIGN, MAX_ITEM_SIZE, MAX_SLAB_SIZE, MIN_ITEM_ALIGN, PAGE_SIZE,
    SLAB_HEADER_BASE,
};

/// Where a slab's header lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeaderKind {
    /// In the last `header_bytes` bytes of the slab.
    OnSlab,
    /// Elsewhere: it occupies no slab byte.
    OffSlab,
}

/// The geometry of every slab of one keg (the contract's `SlabLayout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    /// The item size asked for, in bytes (`1..=MAX_ITEM_SIZE`).
    pub item_size: u64,
    /// The alignment asked for (a power of two, at most [`MAX_ITEM_ALIGN`]).
    pub align: u64,
    /// Bytes between item starts: `roundup(item_size, max(align, MIN_ITEM_ALIGN))`.
    pub stride: u64,
    /// The slab size `S`: a power of two from [`PAGE_SIZE`] to [`MAX_SLAB_SIZE`].
    pub slab_size: u64,
    /// Items per slab (at least 1), at `base + i * stride`.
    pub items: u64,
    /// On-slab or off-slab header.
    pub header: HeaderKind,
    /// `header_bytes(items)`: the header's size (on the slab's end if on-slab).
    pub header_bytes: u64,
    /// In-slab bytes holding no item: `slab_size - items * stride` (an on-slab header
    /// included, an off-slab one not).
    pub waste: u64,
}

impl Layout {
    /// Offset of the first header byte from the slab's base: `S - header_bytes` for an
    /// on-slab header; `S` (no byte of the slab) for an off-slab one.
    pub fn header_offset(&self) -> u64 {
        match self.header {
            HeaderKind::OnSlab => self.slab_size - self.header_bytes,
            HeaderKind::OffSlab => self.slab_size,
        }
    }
}

/// `roundup(x, a)` for `a > 0`, in `u128`.
fn round_up(x: u128, a: u128) -> u128 {
    x.div_ceil(a) * a
}

/// `header_bytes(n) = roundup(SLAB_HEADER_BASE + 8 * ceil(n / 64) + (refcounts ? 4n : 0), 8)`.
pub fn header_bytes(n: u64, refcounts: bool) -> u64 {
    let n = u128::from(n);
    let counts = if refcounts { 4 * n } else { 0 };
    let bytes = round_up(
        u128::from(SLAB_HEADER_BASE) + 8 * n.div_ceil(64) + counts,
        8,
    );
    u64::try_from(bytes).unwrap_or(u64::MAX) // n <= 2^17 here: a few hundred KiB at most
}

/// One candidate size's placement: (header kind, items, header bytes, total waste).
fn placement(s: u64, stride: u64, refcounts: bool) -> (HeaderKind, u64, u64, u64) {
    let n_off = s / stride;
    // The largest n whose items and on-slab header fit, by trying every n (0 always fits:
    // the smallest header is far below a page).
    let n_on = (0..=n_off)
        .filter(|&n| u128::from(n * stride) + u128::from(header_bytes(n, refcounts)) <= s.into())
        .max()
        .unwrap_or(0);
    let w_on = s - n_on * stride;
    let w_off = (s - n_off * stride) + header_bytes(n_off, refcounts);
    // On the slab only when the header fits in the tail the items leave (it displaces no
    // item; its bytes then count as waste); else off the slab, where it displaces nothing
    // and its bytes are counted as waste all the same.
    if n_on >= 1 && n_on == n_off {
        (
            HeaderKind::OnSlab,
            n_on,
            header_bytes(n_on, refcounts),
            w_on,
        )
    } else {
        (
            HeaderKind::OffSlab,
            n_off,
            header_bytes(n_off, refcounts),
            w_off,
        )
    }
}

/// The contract's layout rule: the argument errors in order (`ZeroSize`, `TooBig`,
/// `BadAlign`), then the first candidate size wasting at most 1/16 of itself, else the one
/// wasting the smallest share (ties: the smaller size).
pub fn layout(item_size: u64, align: u64, refcounts: bool) -> Result<Layout, KegErrorKind> {
    if item_size == 0 {
        return Err(KegErrorKind::ZeroSize);
    }
    if item_size > MAX_ITEM_SIZE {
        return Err(KegErrorKind::TooBig);
    }
    if !align.is_power_of_two() || align > MAX_ITEM_ALIGN {
        return Err(KegErrorKind::BadAlign); // 0 is not a power of two
    }
    let step = align.max(MIN_ITEM_ALIGN);
    let stride = item_size.div_ceil(step) * step; // at most MAX_ITEM_SIZE: 2^16 is a multiple
    let mut candidates = Vec::new();
    let mut s = PAGE_SIZE.max(stride.next_power_of_two());
    while s <= MAX_SLAB_SIZE {
        candidates.push(s);
        s *= 2;
    }
    // (size, kind, items, header bytes, total waste) of the chosen candidate.
    let mut best: Option<(u64, HeaderKind, u64, u64, u64)> = None;
    for &s in &candidates {
        let (kind, items, hb, waste) = placement(s, stride, refcounts);
        if u128::from(waste) * 16 <= u128::from(s) {
            best = Some((s, kind, items, hb, waste));
            break;
        }
        let better = match best {
            None => true,
            Some((bs, _, _, _, bw)) => {
                u128::from(waste) * u128::from(bs) < u128::from(bw) * u128::from(s)
            }
        };
        if better {
            best = Some((s, kind, items, hb, waste));
        }
    }
    // The candidate list is never empty: stride <= MAX_ITEM_SIZE < MAX_SLAB_SIZE.
    let (slab_size, header, items, header_bytes, _) = best.ok_or(KegErrorKind::TooBig)?;
    Ok(Layout {
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
