//! `check_invariants` (the numbered invariants of the module comment) and table statistics.

use alloc::vec;
use alloc::vec::Vec;

use crate::addr::PAGE_SIZE;

use super::geometry::{bits, is_leaf, is_pointer, present, Level};
use super::phys::{
    clean_present_count, data_len, first_masked_diff, holds_exactly, next_nonzero, read_data,
    Frame, SegmentKey, TableKind, TablePage,
};
use super::types::{Asid, CpuId, InvariantError, PageFlags, TableStats, Translation};
use super::Mmu;

/// Per-frame facts gathered by the traversal.
#[derive(Clone, Copy, Default)]
struct Seen {
    /// Times the traversal arrived at this table (roots: once, as a root).
    visits: u32,
    /// Pointer entries found pointing at it (each distinct table scanned once).
    pointers: u32,
    /// The first address it maps, as of its first visit.
    base: u64,
}

/// What one entry of a table is, its checks passed ([`Mmu::check_entry`]).
enum Entry {
    /// Zero.
    Empty,
    /// A leaf.
    Leaf,
    /// A pointer to `child`, whose first address is the `u64`.
    Pointer(Frame, u64),
}

/// The pointers of a table: (index, child, the child's first address), in index order.
type Kids = Vec<(u16, Frame, u64)>;

/// A table above level 0 whose every entry passed ([`CheckMemo`]): its stamp and first
/// address then, the pool's epoch then, and its pointers (index, child, child's first
/// address) in index order.
#[derive(Clone, Debug)]
struct UpperPassed {
    stamp: u64,
    base: u64,
    epoch: u64,
    kids: Kids,
}

/// What earlier runs of [`Mmu::check_invariants_memo`] on one MMU found: the page tables
/// (level 0, a segment's included) whose every entry passed, each with the pool stamp it had
/// then and the first address it mapped. A later walk that reaches such a table at the same
/// address, with the same stamp, skips its entries: the stamp changes with every change of
/// the page (`PhysMem`'s comment), and its entries' checks depend on nothing but the page and
/// that address, so they would pass again. Everything else is checked anew every time.
#[derive(Clone, Debug, Default)]
pub struct CheckMemo {
    /// The pool these stamps are of (a memo used with another MMU starts over).
    pool: u64,
    /// By frame index: `(stamp, first address)` of a page table that passed.
    passed: Vec<Option<(u64, u64)>>,
    /// By frame index: `(stamp, indices of the nonzero entries)` of a table above level 0.
    nonzero: Vec<Option<(u64, Vec<u16>)>>,
    /// By frame index: the stamps of a root and of the kernel space's root when the root's
    /// kernel half was found equal to the kernel space's.
    kernel_half: Vec<Option<(u64, u64)>>,
    /// By frame index: `(stamp, paths)` of a level-1 table, whose path count (itself and
    /// one per child) depends on nothing but its page ([`Mmu::table_stats_memo`]).
    paths: Vec<Option<(u64, u64)>>,
    /// By frame index: a table above level 0 that passed (see [`UpperPassed`]).
    upper: Vec<Option<UpperPassed>>,
}

impl CheckMemo {
    /// An empty memo (a walk with it checks every entry).
    pub fn new() -> CheckMemo {
        CheckMemo::default()
    }

    /// Whether frame `f`, now stamped `stamp` and reached at `base`, passed before.
    fn passed(&self, f: Frame, stamp: u64, base: u64) -> bool {
        self.passed.get(f.index() as usize).copied().flatten() == Some((stamp, base))
    }

    /// The nonzero indices of frame `f` if listed when it had stamp `stamp` (taken out:
    /// [`CheckMemo::put_nonzero`] puts them back).
    fn take_nonzero(&mut self, f: Frame, stamp: u64) -> Option<Vec<u16>> {
        let slot = self.nonzero.get_mut(f.index() as usize)?;
        match slot.take() {
            Some((s, listed)) if s == stamp => Some(listed),
            _ => None,
        }
    }

    /// The nonzero indices of frame `f`, stamped `stamp`.
    fn put_nonzero(&mut self, f: Frame, stamp: u64, listed: Vec<u16>) {
        let i = f.index() as usize;
        if self.nonzero.len() <= i {
            self.nonzero.resize(i + 1, None);
        }
        self.nonzero[i] = Some((stamp, listed));
    }

    /// Whether root `f`'s kernel half was found equal to the kernel's with these `stamps`.
    fn kernel_half_equal(&self, f: Frame, stamps: (u64, u64)) -> bool {
        self.kernel_half.get(f.index() as usize).copied().flatten() == Some(stamps)
    }

    /// Root `f`'s kernel half is equal to the kernel's, with these `stamps`.
    fn set_kernel_half_equal(&mut self, f: Frame, stamps: (u64, u64)) {
        let i = f.index() as usize;
        if self.kernel_half.len() <= i {
            self.kernel_half.resize(i + 1, None);
        }
        self.kernel_half[i] = Some(stamps);
    }

    /// The epoch and pointers of table `f` if it passed with stamp `stamp` reached at
    /// `base` (taken out: [`CheckMemo::put_upper`] puts them back).
    fn take_upper(&mut self, f: Frame, stamp: u64, base: u64) -> Option<(u64, Kids)> {
        let slot = self.upper.get_mut(f.index() as usize)?;
        match slot.take() {
            Some(u) if u.stamp == stamp && u.base == base => Some((u.epoch, u.kids)),
            _ => None,
        }
    }

    /// Table `f`, stamped `stamp` and reached at `base`, passed at `epoch` with pointers
    /// `kids`.
    fn put_upper(&mut self, f: Frame, stamp: u64, base: u64, epoch: u64, kids: Kids) {
        let i = f.index() as usize;
        if self.upper.len() <= i {
            self.upper.resize(i + 1, None);
        }
        self.upper[i] = Some(UpperPassed {
            stamp,
            base,
            epoch,
            kids,
        });
    }

    /// The path count of level-1 table `f` if counted when it had stamp `stamp`.
    fn paths_of(&self, f: Frame, stamp: u64) -> Option<u64> {
        match self.paths.get(f.index() as usize).copied().flatten() {
            Some((s, n)) if s == stamp => Some(n),
            _ => None,
        }
    }

    /// Level-1 table `f`, stamped `stamp`, has `n` paths.
    fn set_paths(&mut self, f: Frame, stamp: u64, n: u64) {
        let i = f.index() as usize;
        if self.paths.len() <= i {
            self.paths.resize(i + 1, None);
        }
        self.paths[i] = Some((stamp, n));
    }

    /// Frame `f`, stamped `stamp` and reached at `base`, passed.
    fn record(&mut self, f: Frame, stamp: u64, base: u64) {
        let i = f.index() as usize;
        if self.passed.len() <= i {
            self.passed.resize(i + 1, None);
        }
        self.passed[i] = Some((stamp, base));
    }
}

impl Mmu {
    /// Check every structural invariant (module comment, section 3); the first violation.
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        self.check_invariants_memo(&mut CheckMemo::new())
    }

    /// `memo`, emptied first if it was filled on another pool.
    fn own(&self, memo: &mut CheckMemo) {
        if memo.pool != self.phys.id() {
            *memo = CheckMemo {
                pool: self.phys.id(),
                ..CheckMemo::default()
            };
        }
    }

    /// [`Mmu::check_invariants`], skipping the entries of the page tables that `memo` saw
    /// pass and that have not changed since (see [`CheckMemo`]); the same answer, and the
    /// tables that pass now are added to `memo`. For a harness that checks after every op.
    pub fn check_invariants_memo(&self, memo: &mut CheckMemo) -> Result<(), InvariantError> {
        self.own(memo);
        let g = self.geo;
        let nframes = self.phys.frames().count();
        // 1. Free list versus contents.
        let used: Vec<bool> = self.phys.frames().map(|(_, p)| p.is_some()).collect();
        let mut on_free = vec![false; nframes];
        for f in self.phys.free_list() {
            let i = f.index() as usize;
            let dup = on_free.get(i).copied().unwrap_or(true);
            let used = used.get(i).copied().unwrap_or(true);
            if dup || used {
                return Err(InvariantError::FrameFreeAndUsed { frame: f.index() });
            }
            on_free[i] = true;
        }
        for (f, p) in self.phys.frames() {
            if p.is_none() && !on_free[f.index() as usize] {
                return Err(InvariantError::FrameLeaked { frame: f.index() });
            }
        }
        // 2-5, 8. Traverse every space; each distinct table's entries are scanned once.
        let mut seen = vec![Seen::default(); nframes];
        let kroot = self.root(Asid::KERNEL);
        for (&asid, &root) in &self.spaces {
            let page = self.phys.page(root);
            if page.kind != TableKind::Root || page.level != g.top() {
                return Err(InvariantError::Shape {
                    frame: root.index(),
                });
            }
            // 6. Kernel half equal to the kernel space's.
            // The first entry that differs outside A and D (a block scan, as in `visit`).
            let (mine, kernel) = (&page.data, &self.phys.page(kroot).data);
            let (from, to) = (g.kernel_top_index(), g.entries(g.top()));
            // Skipped if the two roots are unchanged since they last compared equal.
            let ad = bits::A | bits::D;
            let stamps = (self.phys.stamp(root), self.phys.stamp(kroot));
            if !memo.kernel_half_equal(root, stamps) {
                if let Some(i) = first_masked_diff(mine, kernel, from, to, !ad) {
                    if let Some(idx) = g.table_index(g.top(), i) {
                        return Err(InvariantError::KernelHalfDiverged {
                            asid,
                            index: idx.raw(),
                        });
                    }
                }
                memo.set_kernel_half_equal(root, stamps);
            }
            self.visit(root, g.top(), 0, &mut seen, memo)?;
        }
        for (f, p) in self.phys.frames() {
            let Some(p) = p else { continue };
            let s = seen[f.index() as usize];
            if s.visits == 0 {
                return Err(InvariantError::FrameLeaked { frame: f.index() });
            }
            if p.refs != s.pointers {
                return Err(InvariantError::RefCount {
                    frame: f.index(),
                    stored: p.refs,
                    actual: s.pointers,
                });
            }
            // 7. Registry.
            if let TableKind::Segment(key) = p.kind {
                if self.segments.get(&key) != Some(&f) {
                    return Err(InvariantError::SegmentRegistry { frame: f.index() });
                }
            }
        }
        for (key, &f) in &self.segments {
            let ok = self.phys.frame_at(f.pa()) == Some(f)
                && self.phys.page(f).kind == TableKind::Segment(*key);
            if !ok {
                return Err(InvariantError::SegmentRegistry { frame: f.index() });
            }
        }
        for (c, t) in self.tlbs.iter().enumerate() {
            if !t.well_formed() {
                return Err(InvariantError::Tlb {
                    cpu: CpuId(c as u32),
                });
            }
        }
        Ok(())
    }

    /// Scan table `t` (level `level`, mapping VAs from `base`) once, recursing into its
    /// children the first time each is reached.
    fn visit(
        &self,
        t: Frame,
        level: Level,
        base: u64,
        seen: &mut [Seen],
        memo: &mut CheckMemo,
    ) -> Result<(), InvariantError> {
        let g = self.geo;
        let page = self.phys.page(t);
        let me = t.index() as usize;
        seen[me].visits += 1;
        if seen[me].visits == 1 {
            seen[me].base = base;
        } else {
            // Reached again: legal only for tables shared by design (invariant 3); their
            // entries were scanned the first time. A kernel-half table is shared by every
            // root at the same index, so it maps the same addresses each time: one reached
            // through two slots would alias two ranges.
            let by_design = matches!(page.kind, TableKind::Segment(_))
                || (level + 1 == g.top() && g.in_kernel_half(base) && seen[me].base == base);
            return if by_design {
                Ok(())
            } else {
                Err(InvariantError::Shape { frame: t.index() })
            };
        }
        if page.level != level || data_len(&page.data) != g.entries(level) {
            return Err(InvariantError::Shape { frame: t.index() });
        }
        let segment = match page.kind {
            TableKind::Segment(k) => Some(k),
            _ => None,
        };
        if segment.is_some() && level != 0 {
            return Err(InvariantError::Shape { frame: t.index() });
        }
        if level == 0 {
            // A page table has no children: its checks are its entries and counts only.
            let stamp = self.phys.stamp(t);
            if memo.passed(t, stamp, base) {
                return Ok(());
            }
            let r = self.page_table_entries(t, page, base, segment);
            if r.is_ok() {
                memo.record(t, stamp, base);
            }
            return r;
        }
        self.entries(t, page, level, base, segment, seen, memo)
    }

    /// The checks of the entries of page table `t` (level 0; `segment`: its key if shared),
    /// mapping from `base`, and of its counts.
    fn page_table_entries(
        &self,
        t: Frame,
        page: &TablePage,
        base: u64,
        segment: Option<SegmentKey>,
    ) -> Result<(), InvariantError> {
        let mut no_seen: [Seen; 0] = [];
        let mut no_memo = CheckMemo::new();
        self.entries(t, page, 0, base, segment, &mut no_seen, &mut no_memo)
    }

    /// The checks of the entries of table `t` (level `level`; `segment`: its key if shared),
    /// mapping from `base`, and of its counts, recursing into its children (none at level 0,
    /// so `seen` and `memo` are not used there).
    #[allow(clippy::too_many_arguments)]
    fn entries(
        &self,
        t: Frame,
        page: &TablePage,
        level: Level,
        base: u64,
        segment: Option<SegmentKey>,
        seen: &mut [Seen],
        memo: &mut CheckMemo,
    ) -> Result<(), InvariantError> {
        let g = self.geo;
        // A page table (level 0, not a segment's) in one half holds only leaves, and its
        // per-entry checks below reduce to: zero, or present with no bit outside
        // `allowed_bits(0, true)` and no USER (kernel half) or GLOBAL (user half). One
        // vectorized pass decides that for every entry; only if some entry fails it does the
        // loop below run, to name the first one. Either way the result is the loop's.
        if level == 0 && segment.is_none() {
            let last = entry_va(self, level, base, g.entries(level) - 1);
            let kernel = g.in_kernel_half(base);
            if kernel == g.in_kernel_half(last) {
                let half = if kernel { bits::US } else { bits::G };
                let bad = !g.allowed_bits(level, true) | half;
                if let Some(count) = clean_present_count(&page.data, bad) {
                    return self.counted(t, page, count);
                }
            }
        }
        // A segment table: the loop below requires every entry to be the key's page (mod A
        // and D) or zero past the key's length, and every present one to be a leaf with no
        // bit outside `allowed_bits(0, true)` (the half checks do not apply to it). The same
        // two facts, decided for every entry in two vectorized passes.
        if let (0, Some(key)) = (level, segment) {
            let leaf = g.leaf_bits(key.flags, 0);
            let pages = key.len / PAGE_SIZE;
            if holds_exactly(&page.data, leaf, key.pa, pages, bits::A | bits::D) {
                if let Some(count) = clean_present_count(&page.data, !g.allowed_bits(0, true)) {
                    return self.counted(t, page, count);
                }
            }
        }
        // A table above level 0 that passed before, unchanged since and reached at the same
        // address: its entries' own checks (which read nothing but its page and that
        // address) pass again, leaves and counts included. What remains is each child's:
        // one not changed since either (its stamp) is still the table it was, so its checks
        // from here pass too, and it is only counted and visited; one that changed has its
        // entry checked anew. In index order, as below: the same first violation.
        let stamp = self.phys.stamp(t);
        if let Some((epoch, kids)) = memo.take_upper(t, stamp, base) {
            for &(index, child, va) in &kids {
                if self.phys.stamp(child) <= epoch {
                    seen[child.index() as usize].pointers += 1;
                    self.visit(child, level - 1, va, seen, memo)?;
                } else {
                    self.check_entry(t, page, level, base, segment, index, seen, memo)?;
                }
            }
            memo.put_upper(t, stamp, base, self.phys.epoch(), kids);
            return Ok(());
        }
        let mut count: u16 = 0;
        // A segment table's every entry is compared with its key (a missing page is an
        // error); any other table's zero entries are legal and say nothing, so only its
        // nonzero ones are visited, in index order: the same first violation as a loop over
        // every entry, at a fraction of the cost (most entries are zero).
        // The nonzero indices of a table above level 0 are kept in `memo` with its stamp: an
        // unchanged page has the same ones, so the scan for them is skipped.
        let order: Vec<u16> = if segment.is_some() {
            (0..g.entries(level) as u16).collect()
        } else if let Some(listed) = memo.take_nonzero(t, stamp) {
            listed
        } else {
            let mut listed = Vec::new();
            let mut next = next_nonzero(&page.data, 0);
            while let Some(i) = next.filter(|&i| i < g.entries(level)) {
                listed.push(i as u16);
                next = next_nonzero(&page.data, i + 1);
            }
            listed
        };
        let mut kids = Vec::new();
        for &index in &order {
            match self.check_entry(t, page, level, base, segment, index, seen, memo)? {
                Entry::Empty => {}
                Entry::Leaf => count += 1,
                Entry::Pointer(child, va) => {
                    count += 1;
                    kids.push((index, child, va));
                }
            }
        }
        if level > 0 && segment.is_none() {
            memo.put_nonzero(t, stamp, order);
        }
        self.counted(t, page, count)?;
        if level > 0 && segment.is_none() {
            memo.put_upper(t, stamp, base, self.phys.epoch(), kids);
        }
        Ok(())
    }

    /// The checks of entry `index` of table `t` (see [`Mmu::entries`]); for a pointer, its
    /// child is counted and visited. What the entry is.
    #[allow(clippy::too_many_arguments)]
    fn check_entry(
        &self,
        t: Frame,
        page: &TablePage,
        level: Level,
        base: u64,
        segment: Option<SegmentKey>,
        index: u16,
        seen: &mut [Seen],
        memo: &mut CheckMemo,
    ) -> Result<Entry, InvariantError> {
        let g = self.geo;
        let i = usize::from(index);
        let e = read_data(&page.data, i);
        let bad = InvariantError::BadEntry {
            frame: t.index(),
            index,
        };
        let va = entry_va(self, level, base, i);
        if let Some(key) = segment {
            // Shared segment: exactly the key's pages, nothing else.
            let want = if (i as u64) < key.len / PAGE_SIZE {
                g.leaf_bits(key.flags, 0) | (key.pa + i as u64 * PAGE_SIZE)
            } else {
                0
            };
            if e & !(bits::A | bits::D) != want {
                return Err(InvariantError::SegmentRegistry { frame: t.index() });
            }
        }
        if !present(e) {
            if e != 0 {
                return Err(bad);
            }
            return Ok(Entry::Empty);
        }
        let leaf = is_leaf(e, level);
        if e & !g.allowed_bits(level, leaf) != 0 || (leaf && !g.leaf_allowed(level)) {
            return Err(bad);
        }
        if leaf {
            let f = g.leaf_flags(e);
            let kernel = g.in_kernel_half(va);
            if segment.is_none()
                && ((kernel && f.contains(PageFlags::USER))
                    || (!kernel && f.contains(PageFlags::GLOBAL)))
            {
                return Err(bad);
            }
            return Ok(Entry::Leaf);
        }
        debug_assert!(is_pointer(e, level));
        let Some(child) = self.phys.frame_at(e & g.addr_mask(level, false)) else {
            return Err(InvariantError::PointsToFreeFrame {
                frame: t.index(),
                index,
            });
        };
        let want = g.pointer_entry(child.pa(), level, g.in_kernel_half(va));
        if e & !bits::A != want {
            return Err(bad);
        }
        let cpage = self.phys.page(child);
        if cpage.kind == TableKind::Root || cpage.level + 1 != level {
            return Err(InvariantError::Shape {
                frame: child.index(),
            });
        }
        if let TableKind::Segment(key) = cpage.kind {
            let kernel = g.in_kernel_half(va);
            if (kernel && key.flags.contains(PageFlags::USER))
                || (!kernel && key.flags.contains(PageFlags::GLOBAL))
            {
                return Err(bad);
            }
        }
        seen[child.index() as usize].pointers += 1;
        self.visit(child, level - 1, va, seen, memo)?;
        Ok(Entry::Pointer(child, va))
    }

    /// The last checks of table `t` (its `page`), which has `count` present entries: its
    /// stored count is right, and only a root may be empty.
    fn counted(&self, t: Frame, page: &TablePage, count: u16) -> Result<(), InvariantError> {
        if count != page.present {
            return Err(InvariantError::PresentCount {
                frame: t.index(),
                stored: page.present,
                actual: count,
            });
        }
        if count == 0 && page.kind != TableKind::Root {
            return Err(InvariantError::EmptyTable { frame: t.index() });
        }
        Ok(())
    }

    /// Every leaf of `asid`'s tables whose page overlaps `[first, last]`, by address, as the
    /// translation of its first byte (empty for an unknown space). Only present entries are
    /// followed, so the cost is the tables on the way, not the size of the range: what a
    /// layer above checks "exactly these pages are mapped" with (the vmalloc layer's
    /// invariants).
    pub fn leaves(&self, asid: Asid, first: u64, last: u64) -> Vec<Translation> {
        let mut out = Vec::new();
        if let Some(&root) = self.spaces.get(&asid) {
            if first <= last {
                self.collect(
                    root,
                    self.geo.top(),
                    0,
                    (first, last),
                    (true, true, false),
                    &mut out,
                );
            }
        }
        out
    }

    /// [`Mmu::leaves`] below table `t` (level `level`, mapping VAs from `base`); `perm` is
    /// RW and US ANDed and NX ORed over the pointers above it.
    fn collect(
        &self,
        t: Frame,
        level: Level,
        base: u64,
        (first, last): (u64, u64),
        perm: (bool, bool, bool),
        out: &mut Vec<Translation>,
    ) {
        let g = self.geo;
        let page = self.phys.page(t);
        let span = g.entry_span(level);
        // Only the entries whose span can meet [first, last]: the indices of the range's
        // ends where they lie in this table (at the root, where both ends do, if in order).
        let table_last = if level == g.top() {
            u64::MAX
        } else {
            base.saturating_add((span - 1).saturating_add(span * (g.entries(level) as u64 - 1)))
        };
        let lo = if level == g.top() || first > base {
            g.index(first.max(base), level).get()
        } else {
            0
        };
        let hi = if level == g.top() || last < table_last {
            g.index(last.min(table_last), level).get()
        } else {
            g.entries(level) - 1
        };
        let (lo, hi) = if lo <= hi {
            (lo, hi)
        } else {
            (0, g.entries(level) - 1)
        };
        for i in lo..=hi {
            let e = read_data(&page.data, i);
            if !present(e) {
                continue;
            }
            let va = entry_va(self, level, base, i);
            let va_last = va + (span - 1);
            if va_last < first || va > last {
                continue;
            }
            if is_leaf(e, level) {
                let leaf = g.leaf_flags(e);
                let mut flags = leaf.difference(PageFlags::WRITABLE | PageFlags::USER);
                if perm.0 && leaf.contains(PageFlags::WRITABLE) {
                    flags = flags | PageFlags::WRITABLE;
                }
                if perm.1 && leaf.contains(PageFlags::USER) {
                    flags = flags | PageFlags::USER;
                }
                if perm.2 {
                    flags = flags | PageFlags::NO_EXECUTE;
                }
                out.push(Translation {
                    va,
                    pa: e & g.addr_mask(level, true),
                    page_base: va,
                    page_size: span,
                    flags,
                });
            } else if let Some(child) = self.phys.frame_at(e & g.addr_mask(level, false)) {
                let perm = if g.has_perm_bits(level) {
                    (
                        perm.0 && e & bits::RW != 0,
                        perm.1 && e & bits::US != 0,
                        perm.2 || e & bits::NX != 0,
                    )
                } else {
                    perm
                };
                self.collect(child, level - 1, va, (first, last), perm, out);
            }
        }
    }

    /// Table pages in use, and how many private tables would be needed (every table counted
    /// once per path from each root that reaches it).
    pub fn table_stats(&self) -> TableStats {
        let g = self.geo;
        let mut private = 0;
        for &root in self.spaces.values() {
            private += self.paths(root, g.top());
        }
        TableStats {
            in_use: self.table_pages(),
            private_equivalent: private,
        }
    }

    /// [`Mmu::table_stats`], taking the path count of each level-1 table unchanged since
    /// `memo` saw it from there, and the nonzero entries of a table above level 0 from the
    /// list the invariant walk kept (see [`CheckMemo`]); the same answer.
    pub fn table_stats_memo(&self, memo: &mut CheckMemo) -> TableStats {
        self.own(memo);
        let g = self.geo;
        let mut private = 0;
        for &root in self.spaces.values() {
            private += self.paths_memo(root, g.top(), memo);
        }
        TableStats {
            in_use: self.table_pages(),
            private_equivalent: private,
        }
    }

    /// [`Mmu::paths`] with `memo`.
    fn paths_memo(&self, t: Frame, level: Level, memo: &mut CheckMemo) -> u64 {
        if level == 0 {
            return 1;
        }
        let stamp = self.phys.stamp(t);
        if level == 1 {
            if let Some(n) = memo.paths_of(t, stamp) {
                return n;
            }
        }
        let Some(listed) = memo.take_nonzero(t, stamp) else {
            let n = self.paths(t, level);
            if level == 1 {
                memo.set_paths(t, stamp, n);
            }
            return n;
        };
        let page = self.phys.page(t);
        let mut n = 1;
        for &i in &listed {
            let i = usize::from(i);
            if i >= self.geo.entries(level) {
                break;
            }
            let e = read_data(&page.data, i);
            if is_pointer(e, level) {
                n += self.paths_memo(self.child(e, level), level - 1, memo);
            }
        }
        memo.put_nonzero(t, stamp, listed);
        if level == 1 {
            memo.set_paths(t, stamp, n);
        }
        n
    }

    fn paths(&self, t: Frame, level: Level) -> u64 {
        let page = self.phys.page(t);
        let mut n = 1;
        if level > 0 {
            // Only nonzero entries can be pointers (the block scan of `visit`).
            let mut next = next_nonzero(&page.data, 0);
            while let Some(i) = next {
                if i >= self.geo.entries(level) {
                    break;
                }
                let e = read_data(&page.data, i);
                if is_pointer(e, level) {
                    n += self.paths(self.child(e, level), level - 1);
                }
                next = next_nonzero(&page.data, i + 1);
            }
        }
        n
    }
}

/// The first VA mapped by entry `i` of a level-`level` table whose first VA is `base`
/// (sign-extended at the root of the 64-bit modes).
fn entry_va(mmu: &Mmu, level: Level, base: u64, i: usize) -> u64 {
    let g = mmu.geo;
    let raw = base | ((i as u64) << g.shift(level));
    if level == g.top() {
        let bits = g.arch().va_bits();
        if bits < 64 && raw >> (bits - 1) & 1 == 1 && g.arch().upper_half_start().is_some() {
            return raw | !((1u64 << bits) - 1);
        }
    }
    raw
}
