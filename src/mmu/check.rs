//! `check_invariants` (the numbered invariants of the module comment) and table statistics.

use alloc::vec;
use alloc::vec::Vec;

use crate::addr::PAGE_SIZE;

use super::geometry::{bits, is_leaf, is_pointer, present, Level};
use super::phys::{data_len, read_data, Frame, TableKind};
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

impl Mmu {
    /// Check every structural invariant (module comment, section 3); the first violation.
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
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
            for i in g.kernel_top_index()..g.entries(g.top()) {
                let Some(idx) = g.table_index(g.top(), i) else {
                    break;
                };
                let ad = bits::A | bits::D;
                if self.phys.read(root, idx) & !ad != self.phys.read(kroot, idx) & !ad {
                    return Err(InvariantError::KernelHalfDiverged {
                        asid,
                        index: idx.raw(),
                    });
                }
            }
            self.visit(root, g.top(), 0, &mut seen)?;
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
        let mut count: u16 = 0;
        for i in 0..g.entries(level) {
            let e = read_data(&page.data, i);
            let index = i as u16;
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
                continue;
            }
            count += 1;
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
                continue;
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
            self.visit(child, level - 1, va, seen)?;
        }
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

    fn paths(&self, t: Frame, level: Level) -> u64 {
        let page = self.phys.page(t);
        let mut n = 1;
        if level > 0 {
            for i in 0..self.geo.entries(level) {
                let e = read_data(&page.data, i);
                if is_pointer(e, level) {
                    n += self.paths(self.child(e, level), level - 1);
                }
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
