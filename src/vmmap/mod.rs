//! # vm_map with aligned findspace
//!
//! A BSD-style `vm_map`: the set of mappings of one address space, and the search for room to
//! put a new one. The search takes an alignment, as in Matt Dillon's 2003 patch to
//! `vm_map_findspace()` (seed 000), and comes in two interchangeable strategies: the seed's
//! linear scan over the entries, and an O(log n) search over an augmented tree of gaps
//! (FreeBSD's later design, Linux's 2019 vmap rewrite).
//!
//! ## 1. Concepts
//!
//! * **Address space**: an [`Arch`] fixes which addresses exist (see [`crate::addr`]).
//! * **Map**: the bounds `[min, max]`, both inclusive, of a [`VmMap`]. They must be a legal
//!   range of the architecture: `min <= max <= arch.max_addr()`, both canonical and in the same
//!   canonical half. So a map may start at address 0 and may end at the very top of the space
//!   (`0xFFFF_FFFF` on IA-32, `u64::MAX` in the x86_64 upper half), and every address inside
//!   it exists. A map never covers 2^64 addresses, so every size below fits a `u64`.
//! * **Entry**: one mapping, an [`Entry`]: a non-empty inclusive [`Range`] inside the bounds,
//!   plus an opaque caller `tag` (an object id, a handle: the map never interprets it).
//! * **Gap**: a maximal run of bytes inside the bounds that no entry covers. Gaps are the
//!   complement of the entries, so two gaps are never adjacent, and there are at most
//!   `entries + 1` of them.
//! * **Alignment**: an [`Align`], any integer `>= 1`. Rounding up uses a mask for powers of two
//!   and a division otherwise, as the seed's code does (its comment promises to adjust the
//!   alignment up to a power of two; its code divides instead, and so does this map). The
//!   seed's test `(align | (align - 1)) + 1 == align << 1` is [`crate::addr::is_pow2`].
//! * **Fit**: an address `a` *fits* `(start, length, align)` iff `a >= max(start, min)`,
//!   `a % align == 0`, `a + length - 1` does not exceed `max` (computed without wrapping), and
//!   the block `[a, a + length - 1]` lies inside one gap.
//!
//! ## 2. findspace
//!
//! [`VmMap::findspace`] returns the **lowest** address that fits, or a [`FindspaceError`]:
//! `ZeroLength` if `length == 0`, else `ZeroAlign` if `align == 0`, else `NoSpace` if nothing
//! fits. Address 0 is an ordinary result (never a failure sentinel: ANCHORS #8, #11).
//!
//! The seed's loop checks three ways of running off the end. With 64-bit `u64` arithmetic
//! (and so also for 32-bit spaces, whose top is far below `u64::MAX`) each becomes a checked
//! operation that yields `NoSpace` instead of a wrapped address:
//!
//! 1. *rounding up wrapped*: `Align::round_up(cursor)` is `None` (ANCHORS #4, #14);
//! 2. *end wrapped*: `last_of(a, length)` is `None`: the block's last byte would pass
//!    `u64::MAX`. The seed computed an exclusive `end = start + length`, which cannot represent
//!    a block ending at `u64::MAX`; with an inclusive last byte such a block is found
//!    (ANCHORS #3, #8);
//! 3. *end past the map*: `a + length - 1 > max`.
//!
//! ## 3. Two strategies ([`Strategy`])
//!
//! * [`Strategy::Linear`] is the seed's loop: skip the entry containing the start point, then
//!   walk entries in address order, rounding the cursor up after each one, until the block
//!   ends before the next entry. O(entries above `start`).
//! * [`Strategy::GapIndex`] searches an AVL tree of the gaps keyed by start, each node holding
//!   the largest gap size in its subtree. A subtree is pruned iff its largest gap is shorter
//!   than `length`, or all its gaps end below the start point; every surviving gap is checked
//!   exactly for an aligned fit, lowest first. A gap of size `>= length` can still fail once
//!   aligned, so alignment is never assumed from size (padding to `length + align - 1` would
//!   miss exact fits: ANCHORS #6). O(log n) nodes when the first gap big enough also fits
//!   aligned; O(n) worst case when many gaps are big enough but misaligned.
//!
//! Both strategies answer every query identically (the fit is defined without reference to
//! either); the tests compare both against each other and against the naive oracle. Both are
//! always maintained, so [`VmMap::findspace_with`] can run either on the same map (a benchmark
//! compares them at 10^2..10^5 entries).
//!
//! ## 4. Mutations
//!
//! Every mutation either succeeds completely or fails with a typed error and changes nothing.
//!
//! * [`VmMap::map_fixed`]`(addr, length, tag)` inserts `[addr, addr + length - 1]` iff it is
//!   inside the bounds and overlaps no entry (no silent replacement, unlike `MAP_FIXED`).
//! * [`VmMap::map_anywhere`]`(length, align, tag)` is findspace from `min` plus insert; it
//!   returns the new range.
//! * [`VmMap::unmap`]`(addr, length)` removes every entry that lies wholly inside the range,
//!   iff at least one entry overlaps it and none sticks out of it. **Entries are never split**:
//!   unmapping part of an entry is [`UnmapError::Partial`]. Unmapped holes inside the range
//!   are fine (like `munmap`). Exactly one entry's range, or a range covering several whole
//!   entries, are the supported cases. Refusing splits keeps each entry's tag meaning "one
//!   mapping of one object" and makes the result trivially predictable.
//!
//! ## 5. Invariants ([`VmMap::check_invariants`])
//!
//! * **I1 keys**: an entry is stored under key `k` iff `k` is its start address;
//! * **I2 order**: for consecutive entries `e, f`: `e.last < f.start` (sorted, no overlap);
//! * **I3 bounds**: `min <= e.start` and `e.last <= max` for every entry;
//! * **I4 gaps**: a range is in the gap index iff it is a maximal run of bytes in `[min, max]`
//!   covered by no entry;
//! * **I5 augment**: every gap-tree node's max-gap equals the largest gap size in its subtree,
//!   recomputed from scratch; heights are exact and AVL-balanced;
//! * **I6 accounting**: `mapped_bytes` is the sum of entry sizes, and
//!   `entries <= max_entries <= MAX_ENTRIES`.
//!
//! ## 6. Constants
//!
//! * [`MAX_ENTRIES`] = 2^20 = 1,048,576. Ten times the largest benchmark size (10^5) so
//!   benchmarks never meet it, while a runaway fuzz case stays under about
//!   2^20 x (BTreeMap slot ~40 B + gap-tree node 40 B) = 80 MiB. It also keeps the gap arena
//!   (at most `MAX_ENTRIES + 1` nodes) far below the `u32::MAX` index reserved as "no child".
//!
//! ## 7. Segment alignment and shared page tables
//!
//! A *segment* is the span one page-directory entry maps ([`Arch::segment_size`]: 4 MiB on
//! IA-32, 2 MiB with PAE and x86_64). If two address spaces map the same object so that a
//! segment of each is wholly covered by the object at the same object offset, the page-table
//! page behind that segment has identical contents in both and can be shared (seed 000's "page
//! directory page" saving for databases mapping one big file). Aligning large mappings to the
//! segment size (and placing them at segment-aligned object offsets) makes that happen
//! whatever else each space has mapped. [`segment_sharing`] counts the table pages needed with
//! and without such sharing for a given placement; see [`segment`] for the exact model.

mod align;
mod error;
mod gaptree;
pub mod segment;

#[cfg(test)]
mod tests;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ops::Bound;

pub use align::Align;
pub use error::{
    FindspaceError, InvariantError, MapAnywhereError, MapFixedError, NewError, UnmapError,
};
pub use gaptree::GapTreeError;
pub use segment::{segment_sharing, ObjectMapping, Sharing, SharingError};

use crate::addr::{last_of, Arch, Range};
#[cfg(feature = "seeded-bugs")]
use crate::bugs::{Bug, BugSet};
use gaptree::GapTree;

/// The most entries any [`VmMap`] holds (derivation in the module comment, section 6).
pub const MAX_ENTRIES: usize = 1 << 20;

/// One mapping: an inclusive range plus the caller's tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Entry {
    /// The mapped addresses (first and last byte, both inclusive).
    pub range: Range,
    /// Opaque caller value (object id, handle); never interpreted by the map.
    pub tag: u64,
}

/// Which findspace algorithm to run (module comment, section 3). Both always give the same
/// answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Strategy {
    /// The seed's scan over the entries in address order: O(n).
    Linear,
    /// Lowest-fit descent of the max-gap-augmented AVL tree of gaps: O(log n) typically.
    #[default]
    GapIndex,
}

/// A snapshot of a map's occupancy, O(1) to take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Number of entries.
    pub entries: usize,
    /// Number of gaps (maximal free runs inside the bounds).
    pub gaps: usize,
    /// Bytes covered by entries.
    pub mapped_bytes: u64,
    /// Bytes inside the bounds covered by no entry.
    pub free_bytes: u64,
    /// Size of the largest gap (0 if the map is full).
    pub largest_gap: u64,
}

/// An address-space map with aligned findspace (module comment).
#[derive(Clone, Debug)]
pub struct VmMap {
    /// The architecture whose address space this map lives in.
    arch: Arch,
    /// `[min, max]`, both inclusive.
    bounds: Range,
    /// Entries keyed by start address (I1).
    entries: BTreeMap<u64, Entry>,
    /// The gaps, with subtree max-gap (I4, I5).
    gaps: GapTree,
    /// The strategy `findspace` and `map_anywhere` use.
    strategy: Strategy,
    /// Entry limit of this map, `1..=MAX_ENTRIES`.
    max_entries: usize,
    /// Sum of entry sizes (I6).
    mapped_bytes: u64,
    /// Seeded bugs switched on (fuzz self-test only).
    #[cfg(feature = "seeded-bugs")]
    bugs: BugSet,
}

impl VmMap {
    /// An empty map over `[min, max]` of `arch`, using [`Strategy::GapIndex`] and the entry
    /// limit [`MAX_ENTRIES`].
    pub fn new(arch: Arch, min: u64, max: u64) -> Result<VmMap, NewError> {
        let bounds = Range::from_inclusive(min, max).ok_or(NewError::Inverted)?;
        if max > arch.max_addr() {
            return Err(NewError::PastTop);
        }
        if !arch.is_canonical(min) || !arch.is_canonical(max) {
            return Err(NewError::NonCanonical);
        }
        if let Some(upper) = arch.upper_half_start() {
            if (min < upper) != (max < upper) {
                return Err(NewError::NonCanonical);
            }
        }
        let mut gaps = GapTree::new();
        gaps.insert(bounds);
        Ok(VmMap {
            arch,
            bounds,
            entries: BTreeMap::new(),
            gaps,
            strategy: Strategy::default(),
            max_entries: MAX_ENTRIES,
            mapped_bytes: 0,
            #[cfg(feature = "seeded-bugs")]
            bugs: BugSet::NONE,
        })
    }

    /// Switch seeded bugs on (fuzz self-test only).
    #[cfg(feature = "seeded-bugs")]
    pub fn set_bugs(&mut self, bugs: BugSet) {
        self.bugs = bugs;
    }

    #[cfg(feature = "seeded-bugs")]
    fn bug(&self, bug: Bug) -> bool {
        self.bugs.contains(bug)
    }

    /// This map with `strategy` as the one [`VmMap::findspace`] and [`VmMap::map_anywhere`]
    /// use.
    pub fn with_strategy(mut self, strategy: Strategy) -> VmMap {
        self.strategy = strategy;
        self
    }

    /// This map with an entry limit of `max` clamped to `1..=MAX_ENTRIES` (a small limit lets
    /// a harness reach [`MapFixedError::Full`] cheaply). Never drops existing entries: the
    /// limit is not lowered below the current number of entries.
    pub fn with_max_entries(mut self, max: usize) -> VmMap {
        self.max_entries = max.clamp(self.entries.len().max(1), MAX_ENTRIES);
        self
    }

    /// Changes the strategy of [`VmMap::findspace`] and [`VmMap::map_anywhere`].
    pub fn set_strategy(&mut self, strategy: Strategy) {
        self.strategy = strategy;
    }

    /// The current strategy.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The architecture.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// The bounds `[min, max]`.
    pub fn bounds(&self) -> Range {
        self.bounds
    }

    /// The entry limit of this map.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` iff there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in address order.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = Entry> + ExactSizeIterator + '_ {
        self.entries.values().copied()
    }

    /// The gaps (maximal free runs inside the bounds) in address order.
    pub fn gaps(&self) -> Vec<Range> {
        self.gaps.gaps()
    }

    /// The entry containing `addr`, if any.
    pub fn lookup(&self, addr: u64) -> Option<Entry> {
        let (_, e) = self.entries.range(..=addr).next_back()?;
        e.range.contains(addr).then_some(*e)
    }

    /// Occupancy statistics.
    pub fn stats(&self) -> Stats {
        Stats {
            entries: self.entries.len(),
            gaps: self.gaps.len(),
            mapped_bytes: self.mapped_bytes,
            free_bytes: self.bounds.size() - self.mapped_bytes,
            largest_gap: self.gaps.largest(),
        }
    }

    /// The lowest address that fits `length` bytes aligned to `align` at or above
    /// `max(start, min)` (module comment, section 2), using the map's strategy.
    pub fn findspace(&self, start: u64, length: u64, align: u64) -> Result<u64, FindspaceError> {
        self.findspace_with(self.strategy, start, length, align)
    }

    /// [`VmMap::findspace`] with an explicit strategy (both give the same result).
    pub fn findspace_with(
        &self,
        strategy: Strategy,
        start: u64,
        length: u64,
        align: u64,
    ) -> Result<u64, FindspaceError> {
        if length == 0 {
            return Err(FindspaceError::ZeroLength);
        }
        let align = Align::new(align).ok_or(FindspaceError::ZeroAlign)?;
        let lo = start.max(self.bounds.start());
        if lo > self.bounds.last() {
            return Err(FindspaceError::NoSpace);
        }
        match strategy {
            Strategy::Linear => self.findspace_linear(lo, length, align),
            Strategy::GapIndex => {
                // Subtrees whose largest gap is below `prune` cannot hold the block.
                let prune = length;
                #[cfg(feature = "seeded-bugs")]
                // SEEDED BUG GapIndexPrunesAlignedFit (Linux 2019-2021, ANCHORS #6): the
                // descent prunes by `length + align - 1`, the size that fits *whatever* the
                // alignment, so gaps that hold the block exactly once aligned are skipped.
                let prune = if self.bug(Bug::GapIndexPrunesAlignedFit) {
                    length.saturating_add(align.get() - 1)
                } else {
                    prune
                };
                self.gaps
                    .lowest_fit(lo, length, align, prune)
                    .ok_or(FindspaceError::NoSpace)
            }
        }
    }

    /// The linear scan's rounding up of `cursor`: [`Align::round_up`] (mask for powers of two,
    /// division otherwise; `None` where it would pass `u64::MAX`), unless a seeded bug
    /// replaces it.
    fn linear_round_up(&self, cursor: u64, align: Align) -> Option<u64> {
        #[cfg(feature = "seeded-bugs")]
        {
            let a = align.get();
            // SEEDED BUG FindspaceNoWrapCheck (seed 000's missing "if (end < start) return";
            // Linux 2013/2019, ANCHORS #3, #4, #14): rounding up in address-width arithmetic
            // (32 bits on IA-32/PAE, 64 on x86_64) wraps past the top to a low address, and
            // nothing checks it.
            if self.bug(Bug::FindspaceNoWrapCheck) {
                let up = cursor.wrapping_add(a - 1);
                let rounded = if align.is_pow2() {
                    up & !(a - 1)
                } else {
                    (up / a).wrapping_mul(a)
                };
                return Some(rounded & self.arch.max_addr());
            }
            // SEEDED BUG NonPow2AlignAsMask (seed 000's mask path taken for every alignment):
            // a non-power-of-2 alignment is rounded with the mask `align - 1`.
            if self.bug(Bug::NonPow2AlignAsMask) && !align.is_pow2() {
                return cursor.checked_add(a - 1).map(|up| up & !(a - 1));
            }
        }
        align.round_up(cursor)
    }

    /// Seed 000's loop. `lo` is inside the bounds and `length >= 1`.
    fn findspace_linear(&self, lo: u64, length: u64, align: Align) -> Result<u64, FindspaceError> {
        let max = self.bounds.last();
        // Look for the first possible address; if something is already there, start after it.
        let mut cursor = lo;
        if let Some(e) = self.lookup(cursor) {
            cursor = e
                .range
                .last()
                .checked_add(1)
                .ok_or(FindspaceError::NoSpace)?;
        }
        // The entries at or above the cursor, in order: the loop's `entry->next`.
        let mut next = self.entries.range(cursor..).map(|(_, e)| e.range);
        loop {
            // 1. Round the cursor up; fail if that wraps.
            let a = self
                .linear_round_up(cursor, align)
                .ok_or(FindspaceError::NoSpace)?;
            // 2. The block's last byte; fail if it wraps.
            let last = last_of(a, length).ok_or(FindspaceError::NoSpace)?;
            // 3. Fail if it ends past the map.
            if last > max {
                return Err(FindspaceError::NoSpace);
            }
            // Win if there is no next entry or the block ends before it; otherwise retry after
            // it (it may lie wholly below `a`: re-rounding then gives `a` again).
            match next.next() {
                Some(n) if n.start() <= last => {
                    cursor = n.last().checked_add(1).ok_or(FindspaceError::NoSpace)?;
                }
                _ => return Ok(a),
            }
        }
    }

    /// Maps `length` bytes at the lowest address aligned to `align` (findspace from `min`).
    pub fn map_anywhere(
        &mut self,
        length: u64,
        align: u64,
        tag: u64,
    ) -> Result<Range, MapAnywhereError> {
        self.map_anywhere_from(self.bounds.start(), length, align, tag)
    }

    /// Maps `length` bytes at `findspace(start, length, align)` (a placement hint, like
    /// `mmap`'s address argument without `MAP_FIXED`).
    pub fn map_anywhere_from(
        &mut self,
        start: u64,
        length: u64,
        align: u64,
        tag: u64,
    ) -> Result<Range, MapAnywhereError> {
        let a = self.findspace(start, length, align)?;
        if self.entries.len() >= self.max_entries {
            return Err(MapAnywhereError::Full);
        }
        // findspace guarantees the block is inside one gap, so it neither wraps nor overlaps.
        let range = Range::new(a, length).map_err(|_| MapAnywhereError::NoSpace)?;
        self.insert_entry(Entry { range, tag });
        Ok(range)
    }

    /// Maps exactly `[addr, addr + length - 1]`; fails if any of it is mapped already.
    pub fn map_fixed(&mut self, addr: u64, length: u64, tag: u64) -> Result<Range, MapFixedError> {
        let range = self.checked_range(addr, length).map_err(|e| match e {
            RangeCheck::ZeroLength => MapFixedError::ZeroLength,
            RangeCheck::Wraps => MapFixedError::Wraps,
            RangeCheck::OutOfBounds => MapFixedError::OutOfBounds,
        })?;
        if let Some(existing) = self.first_overlap(range) {
            return Err(MapFixedError::Overlap {
                existing: existing.range,
            });
        }
        if self.entries.len() >= self.max_entries {
            return Err(MapFixedError::Full);
        }
        self.insert_entry(Entry { range, tag });
        Ok(range)
    }

    /// Unmaps every entry inside `[addr, addr + length - 1]` and returns them in address
    /// order. Entries are never split (module comment, section 4).
    pub fn unmap(&mut self, addr: u64, length: u64) -> Result<Vec<Entry>, UnmapError> {
        let range = self.checked_range(addr, length).map_err(|e| match e {
            RangeCheck::ZeroLength => UnmapError::ZeroLength,
            RangeCheck::Wraps => UnmapError::Wraps,
            RangeCheck::OutOfBounds => UnmapError::OutOfBounds,
        })?;
        let first = self.first_overlap(range).ok_or(UnmapError::NotMapped)?;
        if first.range.start() < range.start() {
            return Err(UnmapError::Partial { entry: first.range });
        }
        // Every other overlapping entry starts inside the range; only the last one can stick out.
        let victims: Vec<Entry> = self
            .entries
            .range(range.start()..=range.last())
            .map(|(_, e)| *e)
            .collect();
        if let Some(last) = victims.last() {
            if last.range.last() > range.last() {
                return Err(UnmapError::Partial { entry: last.range });
            }
        }
        for e in &victims {
            self.remove_entry(e.range);
        }
        Ok(victims)
    }

    /// Checks every invariant of the module comment (section 5) from scratch.
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        if self.entries.len() > self.max_entries || self.max_entries > MAX_ENTRIES {
            return Err(InvariantError::TooManyEntries {
                len: self.entries.len(),
                max: self.max_entries,
            });
        }
        let mut expected_gaps = Vec::with_capacity(self.entries.len() + 1);
        let mut sum: u64 = 0;
        let mut prev: Option<Range> = None;
        // `free_from` is the first byte not yet known to be covered; None once past the top.
        let mut free_from = Some(self.bounds.start());
        for (&key, e) in &self.entries {
            let r = e.range;
            if key != r.start() {
                return Err(InvariantError::KeyMismatch { key, entry: r });
            }
            if !self.bounds.covers(r) {
                return Err(InvariantError::OutOfBounds { entry: r });
            }
            if let Some(p) = prev {
                if p.last() >= r.start() {
                    return Err(InvariantError::Overlap {
                        first: p,
                        second: r,
                    });
                }
            }
            if let Some(f) = free_from {
                if f < r.start() {
                    expected_gaps.extend(Range::from_inclusive(f, r.start() - 1));
                }
            }
            free_from = r.last().checked_add(1);
            sum = sum.saturating_add(r.size());
            prev = Some(r);
        }
        if let Some(f) = free_from {
            expected_gaps.extend(Range::from_inclusive(f, self.bounds.last()));
        }
        if sum != self.mapped_bytes {
            return Err(InvariantError::MappedBytes {
                recorded: self.mapped_bytes,
                actual: sum,
            });
        }
        // The tree's own check first: listing the gaps walks the tree without a bound, so
        // on a tree with a cycle it would never return.
        self.gaps.check().map_err(InvariantError::GapTree)?;
        let found = self.gaps.gaps();
        if found != expected_gaps {
            let index = found
                .iter()
                .zip(&expected_gaps)
                .position(|(a, b)| a != b)
                .unwrap_or(found.len().min(expected_gaps.len()));
            return Err(InvariantError::GapMismatch {
                index,
                expected: expected_gaps.get(index).copied(),
                found: found.get(index).copied(),
            });
        }
        Ok(())
    }

    /// Validates `[addr, addr + length - 1]` as a range inside the bounds.
    fn checked_range(&self, addr: u64, length: u64) -> Result<Range, RangeCheck> {
        if length == 0 {
            return Err(RangeCheck::ZeroLength);
        }
        let range = Range::new(addr, length).map_err(|_| RangeCheck::Wraps)?;
        if !self.bounds.covers(range) {
            return Err(RangeCheck::OutOfBounds);
        }
        Ok(range)
    }

    /// The lowest entry overlapping `r`.
    fn first_overlap(&self, r: Range) -> Option<Entry> {
        if let Some(e) = self.lookup(r.start()) {
            return Some(e);
        }
        self.entries
            .range(r.start()..=r.last())
            .next()
            .map(|(_, e)| *e)
    }

    /// The first byte of the gap that ends just before `addr` would, i.e. one past the entry
    /// below `addr`, or `min` if there is none. `addr` must not be inside an entry.
    fn gap_floor(&self, addr: u64) -> u64 {
        match self.entries.range(..addr).next_back() {
            // p.last < addr, so p.last + 1 cannot wrap.
            Some((_, p)) => p.range.last() + 1,
            None => self.bounds.start(),
        }
    }

    /// The last byte of the gap that starts just after `last` would, i.e. one before the
    /// entry above `last`, or `max` if there is none.
    fn gap_ceiling(&self, last: u64) -> u64 {
        match self
            .entries
            .range((Bound::Excluded(last), Bound::Unbounded))
            .next()
        {
            // s.start > last >= 0, so s.start - 1 cannot wrap.
            Some((_, s)) => s.range.start() - 1,
            None => self.bounds.last(),
        }
    }

    /// Inserts `e`, which lies inside one gap; splits that gap into up to two.
    fn insert_entry(&mut self, e: Entry) {
        let r = e.range;
        let lo = self.gap_floor(r.start());
        let hi = self.gap_ceiling(r.last());
        let old = self.gaps.remove(lo);
        debug_assert_eq!(old, Range::from_inclusive(lo, hi), "insert outside a gap");
        // The pieces of the old gap below and above `r` (None when `r` touches that end).
        if let Some(below) = r
            .start()
            .checked_sub(1)
            .and_then(|b| Range::from_inclusive(lo, b))
        {
            self.gaps.insert(below);
        }
        if let Some(above) = r
            .last()
            .checked_add(1)
            .and_then(|a| Range::from_inclusive(a, hi))
        {
            self.gaps.insert(above);
        }
        self.entries.insert(r.start(), e);
        self.mapped_bytes += r.size();
    }

    /// Removes the entry with range `r`; merges it with the gaps on either side.
    fn remove_entry(&mut self, r: Range) {
        let removed = self.entries.remove(&r.start());
        debug_assert!(removed.is_some_and(|e| e.range == r));
        let lo = self.gap_floor(r.start());
        let hi = self.gap_ceiling(r.last());
        if lo < r.start() {
            self.gaps.remove(lo);
        }
        if r.last() < hi {
            self.gaps.remove(r.last() + 1);
        }
        // lo <= r.start <= r.last <= hi, so the merged gap is always a range.
        if let Some(merged) = Range::from_inclusive(lo, hi) {
            self.gaps.insert(merged);
        }
        self.mapped_bytes -= r.size();
    }
}

/// The shared argument errors of `map_fixed` and `unmap`.
enum RangeCheck {
    ZeroLength,
    Wraps,
    OutOfBounds,
}
