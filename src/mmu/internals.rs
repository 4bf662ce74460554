//! The machine's internals: walks, entry writes (to every table a shared one is seen from),
//! paths made and pruned, frames released.

use super::*;

impl Mmu {
    // ----- internals --------------------------------------------------------------------

    /// `true` iff `cached` may be used instead of the fresh walk's `current`
    /// ([`Translation::covered_by`]).
    pub(super) fn fresh(&self, cached: &Translation, current: &Translation) -> bool {
        #[cfg(feature = "seeded-bugs")]
        let seen = {
            let mut seen = *current;
            // SEEDED BUG StaleCheckIgnoresCacheAttrs: a change of PWT or PCD alone leaves
            // the cached entry "fresh" (the translation did not move).
            if self.bug(Bug::StaleCheckIgnoresCacheAttrs) {
                let cache = PageFlags::WRITE_THROUGH | PageFlags::CACHE_DISABLE;
                seen.flags = seen
                    .flags
                    .difference(cache)
                    .union(PageFlags::from_bits_truncate(
                        cached.flags.bits() & cache.bits(),
                    ));
            }
            // SEEDED BUG StaleCheckIgnoresPageSize: an entry of another page size is
            // "fresh" when the physical address and flags agree.
            if self.bug(Bug::StaleCheckIgnoresPageSize) {
                seen.page_size = cached.page_size;
                seen.page_base = cached.page_base;
            }
            seen
        };
        #[cfg(feature = "seeded-bugs")]
        let current = &seen;
        cached.covered_by(current)
    }

    pub(super) fn root(&self, asid: Asid) -> Frame {
        *self
            .spaces
            .get(&asid)
            .expect("mmu: the kernel space always exists")
    }

    pub(super) fn tlb_mut(&mut self, cpu: CpuId) -> Result<&mut Tlb, TlbError> {
        self.tlbs.get_mut(cpu.0 as usize).ok_or(TlbError::NoSuchCpu)
    }

    pub(super) fn whole_space(&self) -> Range {
        Range::from_inclusive(0, self.geo.arch().max_addr()).expect("0 <= max_addr")
    }

    pub(super) fn flush_token(&self, asid: Asid, r: Range) -> Flush {
        let scope = if self.geo.in_kernel_half(r.last()) {
            FlushScope::AllSpaces
        } else {
            FlushScope::Space(asid)
        };
        #[cfg(feature = "seeded-bugs")]
        // SEEDED BUG FlushWrongRange: the token names only the first page of the range (one
        // INVLPG where a range flush was needed).
        let r = if self.bug(Bug::FlushWrongRange) {
            Range::from_inclusive(r.start(), r.start() + (PAGE_SIZE - 1)).unwrap_or(r)
        } else {
            r
        };
        Flush { scope, range: r }
    }

    /// The range checks shared by unmap and protect: legal range, 4 KiB aligned.
    pub(super) fn check_edit_range(&self, va: u64, len: u64) -> Result<Range, UnmapError> {
        let r = self
            .geo
            .arch()
            .check_range(va, len)
            .map_err(UnmapError::Range)?;
        if !va.is_multiple_of(PAGE_SIZE) {
            return Err(UnmapError::MisalignedVa);
        }
        if !len.is_multiple_of(PAGE_SIZE) {
            return Err(UnmapError::MisalignedLen);
        }
        Ok(r)
    }

    /// The leaves (page base, level) that exactly tile `r`, or the first walk error.
    pub(super) fn collect_leaves(
        &self,
        root: Frame,
        r: Range,
    ) -> Result<Vec<(u64, Level)>, UnmapError> {
        let mut out = Vec::new();
        let mut a = r.start();
        loop {
            let w = self.walk(root, a, 0);
            if w.shared {
                return Err(UnmapError::SharedTable { va: a });
            }
            if !present(w.entry) {
                return Err(UnmapError::NotMapped { va: a });
            }
            let size = self.geo.entry_span(w.level);
            let base = a & !(size - 1);
            let last = base + (size - 1);
            if base < r.start() || last > r.last() {
                return Err(UnmapError::PartialLargePage { va: a });
            }
            out.push((base, w.level));
            if last == r.last() {
                return Ok(out);
            }
            a = last + 1;
        }
    }

    /// The table a pointer entry at `level` points at.
    pub(super) fn child(&self, e: u64, level: Level) -> Frame {
        self.phys
            .frame_at(e & self.geo.addr_mask(level, false))
            .expect("mmu: pointer entry to a frame holding no table")
    }

    /// Walk from `root` towards `va`, stopping at a non-present entry, a leaf, or level `stop`.
    pub(super) fn walk(&self, root: Frame, va: u64, stop: Level) -> Walk {
        let g = self.geo;
        let mut w = Walk {
            tables: [(Frame::default(), TableIndex::default()); MAX_LEVELS],
            level: g.top(),
            entry: 0,
            rw: true,
            us: true,
            nx: false,
            shared: false,
        };
        let mut table = root;
        let mut level = g.top();
        loop {
            let idx = g.index(va, level);
            let e = self.phys.read(table, idx);
            w.tables[level as usize] = (table, idx);
            w.level = level;
            w.entry = e;
            w.shared = matches!(self.phys.page(table).kind, TableKind::Segment(_));
            if level == stop || !is_pointer(e, level) {
                return w;
            }
            if g.has_perm_bits(level) {
                w.rw &= e & bits::RW != 0;
                w.us &= e & bits::US != 0;
                w.nx |= e & bits::NX != 0;
            }
            table = self.child(e, level);
            level -= 1;
        }
    }

    /// The translation of `va` if the walk ended on a leaf.
    pub(super) fn leaf_translation(&self, w: &Walk, va: u64) -> Option<Translation> {
        if !is_leaf(w.entry, w.level) {
            return None;
        }
        let g = self.geo;
        let size = g.entry_span(w.level);
        let leaf = g.leaf_flags(w.entry);
        let mut flags = leaf.difference(PageFlags::WRITABLE | PageFlags::USER);
        if w.rw && leaf.contains(PageFlags::WRITABLE) {
            flags = flags | PageFlags::WRITABLE;
        }
        if w.us && leaf.contains(PageFlags::USER) {
            flags = flags | PageFlags::USER;
        }
        if w.nx {
            flags = flags | PageFlags::NO_EXECUTE;
        }
        let base_pa = w.entry & g.addr_mask(w.level, true);
        Some(Translation {
            va,
            pa: base_pa + (va & (size - 1)),
            page_base: va & !(size - 1),
            page_size: size,
            flags,
        })
    }

    /// Set A in every entry of the walk (D too in the leaf, on a write).
    pub(super) fn mark_accessed(&mut self, w: &Walk, write: bool) {
        let g = self.geo;
        for l in w.level..=g.top() {
            if !g.has_perm_bits(l) {
                continue;
            }
            let (t, idx) = w.tables[l as usize];
            let mut e = self.phys.read(t, idx);
            e |= bits::A;
            if l == w.level && write {
                e |= bits::D;
            }
            self.phys.write(t, idx, e);
        }
    }

    /// Store `e` at (`table`, `idx`), keeping the reference counts of the old and new
    /// children in step. Never frees: the caller releases a child whose count reached 0.
    pub(super) fn set_entry(&mut self, table: Frame, level: Level, idx: TableIndex, e: u64) {
        let old = self.phys.read(table, idx);
        if is_pointer(e, level) {
            let c = self.child(e, level);
            self.phys.page_mut(c).refs += 1;
        }
        if is_pointer(old, level) {
            let c = self.child(old, level);
            self.phys.page_mut(c).refs -= 1;
        }
        self.phys.write(table, idx, e);
    }

    /// [`Mmu::set_entry`], but a kernel-half root entry is written into every root.
    pub(super) fn set_everywhere(&mut self, table: Frame, level: Level, idx: TableIndex, e: u64) {
        let g = self.geo;
        if level == g.top() && g.is_kernel_top_index(idx) {
            let roots: Vec<Frame> = self.spaces.values().copied().collect();
            for r in roots {
                self.set_entry(r, level, idx, e);
            }
        } else {
            self.set_entry(table, level, idx, e);
        }
    }

    /// [`Mmu::set_everywhere`] for a change of flags: every entry written keeps its own A and
    /// D bits (each root has its own copy of a kernel-half root entry, and its own A and D
    /// in it: another space's must not overwrite them, nor a lost D lose a write).
    pub(super) fn set_everywhere_keeping_ad(
        &mut self,
        table: Frame,
        level: Level,
        idx: TableIndex,
        e: u64,
    ) {
        let g = self.geo;
        let ad = bits::A | bits::D;
        if level == g.top() && g.is_kernel_top_index(idx) {
            let roots: Vec<Frame> = self.spaces.values().copied().collect();
            for r in roots {
                let own = self.phys.read(r, idx) & self.kept_ad(ad);
                self.set_entry(r, level, idx, e | own);
            }
        } else {
            let own = self.phys.read(table, idx) & self.kept_ad(ad);
            self.set_entry(table, level, idx, e | own);
        }
    }

    /// The A and D bits a change of flags keeps: `ad`.
    #[cfg(not(feature = "seeded-bugs"))]
    fn kept_ad(&self, ad: u64) -> u64 {
        ad
    }

    /// The A and D bits a change of flags keeps: `ad`.
    #[cfg(feature = "seeded-bugs")]
    fn kept_ad(&self, ad: u64) -> u64 {
        // SEEDED BUG DirtyLostOnProtect: the rewritten leaf loses its A and D bits.
        if self.bug(Bug::DirtyLostOnProtect) {
            0
        } else {
            ad
        }
    }

    /// Create the missing tables on the path to `va` down to `level`; returns the level-`level`
    /// table. The frames must have been counted as available.
    pub(super) fn make_path(&mut self, root: Frame, va: u64, level: Level) -> Frame {
        let g = self.geo;
        let w = self.walk(root, va, level);
        let mut table = w.tables[w.level as usize].0;
        let mut l = w.level;
        while l > level {
            let child = self
                .phys
                .alloc(g, l - 1, TableKind::Inner)
                .expect("mmu: frames counted before commit");
            let ptr = g.pointer_entry(child.pa(), l, g.in_kernel_half(va));
            self.set_everywhere(table, l, g.index(va, l), ptr);
            table = child;
            l -= 1;
        }
        table
    }

    /// After an entry at `from` was cleared along `w`: free every table on the path that is
    /// now empty, bottom up (never the root).
    pub(super) fn prune(&mut self, w: &Walk, from: Level) {
        let top = self.geo.top();
        for l in from..top {
            let (t, _) = w.tables[l as usize];
            let keep = self.phys.page(t).present > 0;
            #[cfg(feature = "seeded-bugs")]
            // SEEDED BUG TablePageFreedWithEntries: a table with one entry left counts as
            // empty and is freed, taking that entry's mapping with it.
            let keep = keep
                && !(self.phys.page(t).present == 1 && self.bug(Bug::TablePageFreedWithEntries));
            if keep {
                return;
            }
            let (parent, pidx) = w.tables[l as usize + 1];
            self.set_everywhere(parent, l + 1, pidx, 0);
            if self.phys.page(t).refs > 0 {
                return;
            }
            self.release(t);
        }
    }

    /// Free a table whose reference count reached 0, and recursively every table only it
    /// referenced.
    pub(super) fn release(&mut self, t: Frame) {
        let level = self.phys.page(t).level;
        if level > 0 {
            for i in 0..self.geo.entries(level) {
                let Some(idx) = self.geo.table_index(level, i) else {
                    break;
                };
                let e = self.phys.read(t, idx);
                if is_pointer(e, level) {
                    let c = self.child(e, level);
                    self.set_entry(t, level, idx, 0);
                    if self.phys.page(c).refs == 0 {
                        self.release(c);
                    }
                }
            }
        }
        if let Some(page) = self.phys.free(t) {
            if let TableKind::Segment(key) = page.kind {
                self.segments.remove(&key);
            }
        }
    }
}
