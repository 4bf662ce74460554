//! Simulated physical memory for page-table pages: a frame allocator and the tables' contents.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::addr::PAGE_SIZE;

use super::geometry::{
    bits, present, Geometry, Level, TableIndex, NARROW_ENTRIES, PDPT_ENTRIES, WIDE_ENTRIES,
};
use super::types::PageFlags;

/// Physical address of frame 0 of the page-table pool: 1 MiB, above the legacy low memory
/// that real kernels keep away from page tables. With at most `MAX_FRAMES` = 2^16 frames the
/// pool ends at 1 MiB + 256 MiB, well inside IA-32's 4 GiB of physical space.
pub const TABLE_POOL_BASE: u64 = 0x10_0000;

/// One frame of the page-table pool. Only the allocator makes these, so the index is always
/// below the pool's frame count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Frame(u32);

impl Frame {
    /// The frame's index in the pool.
    pub const fn index(self) -> u32 {
        self.0
    }

    /// Its physical address: `TABLE_POOL_BASE + index * 4096`.
    pub const fn pa(self) -> u64 {
        TABLE_POOL_BASE + self.0 as u64 * PAGE_SIZE
    }
}

/// What a shared segment table maps: `len` bytes of physical memory from `pa` with `flags`,
/// starting at the segment's first page. Two address spaces mapping the same key at
/// segment-aligned addresses share one table page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentKey {
    /// Physical address of the segment's first page.
    pub pa: u64,
    /// Bytes mapped from the segment's start (a multiple of 4 KiB, at most one segment).
    pub len: u64,
    /// Leaf flags of every page.
    pub flags: PageFlags,
}

/// The contents of a table page, in the hardware's entry width.
#[derive(Clone, Debug)]
pub enum TableData {
    /// IA-32: 1024 entries of 4 bytes.
    Narrow(Box<[u32; NARROW_ENTRIES]>),
    /// PAE PD/PT and every x86_64 table: 512 entries of 8 bytes.
    Wide(Box<[u64; WIDE_ENTRIES]>),
    /// PAE page-directory-pointer table: 4 entries of 8 bytes (it still occupies a frame).
    Pdpt([u64; PDPT_ENTRIES]),
}

/// The role of a table page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    /// The root of one address space (never freed while the space lives).
    Root,
    /// An ordinary table below a root, private to one address space or (directly below the
    /// roots, in the kernel half) shared by all of them.
    Inner,
    /// A level-0 table shared between address spaces mapping the same segment.
    Segment(SegmentKey),
}

/// A frame holding a table page.
#[derive(Clone, Debug)]
pub struct TablePage {
    /// The entries.
    pub data: TableData,
    /// The table's level (0: page table).
    pub level: Level,
    /// Number of present entries in `data`.
    pub present: u16,
    /// Number of present pointer entries (in all roots and tables) pointing at this page.
    pub refs: u32,
    /// Role of the page.
    pub kind: TableKind,
}

/// The page-table pool: `limit` frames, each free or holding one table page.
///
/// Invariant: a frame index `i < watermark` is in `free` iff `pages[i]` is `None`; indices
/// `>= watermark` have never been used and are free too. Allocation pops `free` first (LIFO,
/// deterministic), then raises the watermark.
///
/// Stamps: every change of a frame's page (its allocation, freeing, and every mutable
/// access, which [`PhysMem::page_mut`] is the only way to get, [`PhysMem::write`] included)
/// gives the frame a new stamp from a counter of this pool, and every pool (a clone too) has
/// its own [`PhysMem::id`]. So a frame whose `(id, stamp)` is the same at two moments holds
/// the same page at both, bit for bit: what lets the invariant walk skip re-scanning a table
/// it has seen pass (`Mmu::check_invariants_memo`).
#[derive(Debug)]
pub struct PhysMem {
    /// `pages[i]`: the table in frame `i`, or `None` if free. Length = watermark.
    pages: Vec<Option<TablePage>>,
    /// Frames below the watermark that are free.
    free: Vec<Frame>,
    /// Total frames in the pool.
    limit: u32,
    /// This pool's identity (distinct for every pool made or cloned in this process).
    id: u64,
    /// `stamps[i]`: the stamp of frame `i`'s last change. Length = watermark.
    stamps: Vec<u64>,
    /// The last stamp given.
    epoch: u64,
}

/// The next pool identity.
static NEXT_POOL_ID: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);

fn next_pool_id() -> u64 {
    NEXT_POOL_ID.fetch_add(1, core::sync::atomic::Ordering::Relaxed)
}

impl Clone for PhysMem {
    /// The same frames and stamps under a new identity: the two pools change apart.
    fn clone(&self) -> PhysMem {
        PhysMem {
            pages: self.pages.clone(),
            free: self.free.clone(),
            limit: self.limit,
            id: next_pool_id(),
            stamps: self.stamps.clone(),
            epoch: self.epoch,
        }
    }
}

impl PhysMem {
    /// An empty pool of `limit` frames.
    pub fn new(limit: u32) -> PhysMem {
        PhysMem {
            pages: Vec::new(),
            free: Vec::new(),
            limit,
            id: next_pool_id(),
            stamps: Vec::new(),
            epoch: 0,
        }
    }

    /// This pool's identity (see the stamps, in the type's comment).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The last stamp given: unchanged iff no page of the pool changed (see the type's
    /// comment).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The stamp of `f`'s last change (see the type's comment); 0 for a frame never used.
    pub fn stamp(&self, f: Frame) -> u64 {
        self.stamps.get(f.0 as usize).copied().unwrap_or(0)
    }

    /// Gives frame `i` a new stamp.
    fn touch(&mut self, i: usize) {
        self.epoch += 1;
        if let Some(s) = self.stamps.get_mut(i) {
            *s = self.epoch;
        }
    }

    /// Total frames.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Frames holding a table.
    pub fn used(&self) -> u32 {
        self.pages.len() as u32 - self.free.len() as u32
    }

    /// Frames available.
    pub fn available(&self) -> u32 {
        self.limit - self.used()
    }

    /// Allocate a frame for an empty level-`level` table, or `None` if the pool is exhausted.
    pub fn alloc(&mut self, geo: Geometry, level: Level, kind: TableKind) -> Option<Frame> {
        let data = if geo.narrow() {
            TableData::Narrow(Box::new([0; NARROW_ENTRIES]))
        } else if geo.entries(level) == PDPT_ENTRIES {
            TableData::Pdpt([0; PDPT_ENTRIES])
        } else {
            TableData::Wide(Box::new([0; WIDE_ENTRIES]))
        };
        let page = TablePage {
            data,
            level,
            present: 0,
            refs: 0,
            kind,
        };
        if let Some(f) = self.free.pop() {
            self.pages[f.0 as usize] = Some(page);
            self.touch(f.0 as usize);
            return Some(f);
        }
        if self.pages.len() as u32 >= self.limit {
            return None;
        }
        self.pages.push(Some(page));
        self.stamps.push(0);
        self.touch(self.pages.len() - 1);
        Some(Frame(self.pages.len() as u32 - 1))
    }

    /// Return `f` to the pool; its table goes away. Returns the removed page.
    pub fn free(&mut self, f: Frame) -> Option<TablePage> {
        let page = self.pages.get_mut(f.0 as usize)?.take()?;
        self.touch(f.0 as usize);
        self.free.push(f);
        Some(page)
    }

    /// The frame at physical address `pa`, if it lies in the pool and holds a table.
    pub fn frame_at(&self, pa: u64) -> Option<Frame> {
        let off = pa.checked_sub(TABLE_POOL_BASE)?;
        if off % PAGE_SIZE != 0 {
            return None;
        }
        let i = u32::try_from(off / PAGE_SIZE).ok()?;
        match self.pages.get(i as usize) {
            Some(Some(_)) => Some(Frame(i)),
            _ => None,
        }
    }

    /// The table in `f`. Frames reached through present entries always hold one (checked by
    /// `check_invariants`); anything else is a bug in this module.
    pub fn page(&self, f: Frame) -> &TablePage {
        match self.pages.get(f.0 as usize) {
            Some(Some(p)) => p,
            _ => panic!("mmu: frame {} holds no table", f.0),
        }
    }

    /// The table in `f`, or `None` if `f` is free or past the pool.
    pub fn page_if(&self, f: Frame) -> Option<&TablePage> {
        self.pages.get(f.0 as usize)?.as_ref()
    }

    /// Mutable access to the table in `f` (see [`PhysMem::page`]).
    pub fn page_mut(&mut self, f: Frame) -> &mut TablePage {
        self.touch(f.0 as usize);
        match self.pages.get_mut(f.0 as usize) {
            Some(Some(p)) => p,
            _ => panic!("mmu: frame {} holds no table", f.0),
        }
    }

    /// Entry `i` of the table in `f`, widened to 64 bits.
    #[inline]
    pub fn read(&self, f: Frame, i: TableIndex) -> u64 {
        read_data(&self.page(f).data, i.get())
    }

    /// Store entry `i` of the table in `f`, keeping its present count in step.
    pub fn write(&mut self, f: Frame, i: TableIndex, e: u64) {
        let page = self.page_mut(f);
        let old = read_data(&page.data, i.get());
        match (present(old), present(e)) {
            (false, true) => page.present += 1,
            (true, false) => page.present -= 1,
            _ => {}
        }
        match &mut page.data {
            TableData::Narrow(t) => {
                debug_assert!(e >> 32 == 0, "IA-32 entry with bits above 31");
                t[i.get()] = e as u32;
            }
            TableData::Wide(t) => t[i.get()] = e,
            TableData::Pdpt(t) => t[i.get()] = e,
        }
    }

    /// Every frame index with its page (`None` if free), in index order.
    pub fn frames(&self) -> impl Iterator<Item = (Frame, Option<&TablePage>)> {
        self.pages
            .iter()
            .enumerate()
            .map(|(i, p)| (Frame(i as u32), p.as_ref()))
    }

    /// The free list (frames below the watermark).
    pub fn free_list(&self) -> &[Frame] {
        &self.free
    }

    /// The free list, to corrupt behind the pool's back (the invariant tests only: no method
    /// of the pool lets it disagree with the frames).
    #[cfg(test)]
    pub(crate) fn free_list_mut(&mut self) -> &mut Vec<Frame> {
        &mut self.free
    }
}

/// Entry `i` of `data` (widened). Inlined: the invariant walk reads every entry of every
/// table after each op.
#[inline]
pub fn read_data(data: &TableData, i: usize) -> u64 {
    match data {
        TableData::Narrow(t) => t[i] as u64,
        TableData::Wide(t) => t[i],
        TableData::Pdpt(t) => t[i],
    }
}

/// Entries scanned as one block by [`next_nonzero`] and [`first_masked_diff`]: the OR of a
/// block is tested once, so a run of zero (or equal) entries costs one test per block, and
/// the block loop vectorizes. The invariant walk scans every table after each op; most
/// entries are zero.
const SCAN_BLOCK: usize = 8;

/// The first index `>= from` whose entry is nonzero, or `None`. Exactly the indices a loop
/// over every entry testing `e != 0` would stop at, in the same order.
#[inline]
pub fn next_nonzero(data: &TableData, from: usize) -> Option<usize> {
    fn scan<T: Copy + Default + PartialEq + core::ops::BitOr<Output = T>>(
        t: &[T],
        from: usize,
    ) -> Option<usize> {
        let zero = T::default();
        let mut i = from;
        // Up to the next block boundary one at a time, then whole blocks.
        while i < t.len() && !i.is_multiple_of(SCAN_BLOCK) {
            if t[i] != zero {
                return Some(i);
            }
            i += 1;
        }
        for block in t[i..].chunks_exact(SCAN_BLOCK) {
            if block.iter().fold(zero, |a, &e| a | e) != zero {
                return block.iter().position(|&e| e != zero).map(|k| i + k);
            }
            i += SCAN_BLOCK;
        }
        (i..t.len()).find(|&k| t[k] != zero)
    }
    match data {
        TableData::Narrow(t) => scan(&t[..], from),
        TableData::Wide(t) => scan(&t[..], from),
        TableData::Pdpt(t) => scan(&t[..], from),
    }
}

/// The first index in `from..to` where entries of `a` and `b` differ in a bit of `mask`, or
/// `None` (`a` and `b` of the same width; `to` at most their length).
#[inline]
pub fn first_masked_diff(
    a: &TableData,
    b: &TableData,
    from: usize,
    to: usize,
    mask: u64,
) -> Option<usize> {
    fn scan(n: usize, from: usize, to: usize, diff: impl Fn(usize) -> u64) -> Option<usize> {
        let mut i = from;
        while i + SCAN_BLOCK <= to {
            if (i..i + SCAN_BLOCK).fold(0, |acc, k| acc | diff(k)) != 0 {
                break;
            }
            i += SCAN_BLOCK;
        }
        (i..to.min(n)).find(|&k| diff(k) != 0)
    }
    match (a, b) {
        (TableData::Wide(x), TableData::Wide(y)) => {
            scan(x.len(), from, to, |k| (x[k] ^ y[k]) & mask)
        }
        (TableData::Narrow(x), TableData::Narrow(y)) => {
            scan(x.len(), from, to, |k| u64::from(x[k] ^ y[k]) & mask)
        }
        _ => (from..to).find(|&k| (read_data(a, k) ^ read_data(b, k)) & mask != 0),
    }
}

/// The number of present entries of `data` if every entry is either zero or present with
/// no bit of `bad` set; `None` if some entry is neither (then a loop over every entry finds
/// which). One branch-free pass that vectorizes: what the invariant walk runs over a page
/// table, whose entries are all leaves, before it looks at any entry one by one.
#[inline]
pub fn clean_present_count(data: &TableData, bad: u64) -> Option<u16> {
    fn scan<T: Copy + Into<u64>>(t: &[T], bad: u64) -> Option<u16> {
        // P is bit 0: `p - 1` is all ones for an absent entry (which must be zero) and
        // zero for a present one (which must have no bit of `bad`). No branch: it vectorizes.
        let (mut acc, mut n) = (0u64, 0u64);
        for &e in t {
            let e: u64 = e.into();
            let p = e & bits::P;
            n += p;
            acc |= e & (bad | p.wrapping_sub(1));
        }
        (acc == 0).then_some(n as u16)
    }
    match data {
        TableData::Narrow(t) => scan(&t[..], bad),
        TableData::Wide(t) => scan(&t[..], bad),
        TableData::Pdpt(t) => scan(&t[..], bad),
    }
}

/// `true` iff every entry `i` of `data`, outside the bits of `ignore`, is
/// `leaf | (pa + i * 4096)` for `i < pages` and zero from there on: a shared segment table
/// holding exactly its key's pages. One branch-free pass that vectorizes.
#[inline]
pub fn holds_exactly(data: &TableData, leaf: u64, pa: u64, pages: u64, ignore: u64) -> bool {
    fn scan<T: Copy + Into<u64>>(t: &[T], leaf: u64, pa: u64, pages: u64, ignore: u64) -> bool {
        let mut acc = 0u64;
        for (i, &e) in t.iter().enumerate() {
            let i = i as u64;
            let want = if i < pages {
                leaf | pa.wrapping_add(i.wrapping_mul(PAGE_SIZE))
            } else {
                0
            };
            acc |= (e.into() & !ignore) ^ want;
        }
        acc == 0
    }
    match data {
        TableData::Narrow(t) => scan(&t[..], leaf, pa, pages, ignore),
        TableData::Wide(t) => scan(&t[..], leaf, pa, pages, ignore),
        TableData::Pdpt(t) => scan(&t[..], leaf, pa, pages, ignore),
    }
}

/// Number of entries of `data`.
#[inline]
pub fn data_len(data: &TableData) -> usize {
    match data {
        TableData::Narrow(t) => t.len(),
        TableData::Wide(t) => t.len(),
        TableData::Pdpt(t) => t.len(),
    }
}
