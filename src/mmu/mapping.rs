//! Address spaces (created and destroyed) and mapping: map, unmap, protect, and shared
//! segments mapped and unmapped.

use super::*;

impl Mmu {
    // ----- address spaces -------------------------------------------------------------

    /// A new address space: a fresh root whose kernel half is copied from the kernel space's.
    pub fn create_space(&mut self) -> Result<Asid, CreateSpaceError> {
        if self.spaces.len() >= MAX_SPACES {
            return Err(CreateSpaceError::TooManySpaces);
        }
        let raw = self.next_asid.ok_or(CreateSpaceError::AsidsExhausted)?;
        let g = self.geo;
        let top = g.top();
        let root = self
            .phys
            .alloc(g, top, TableKind::Root)
            .ok_or(CreateSpaceError::OutOfFrames)?;
        let kroot = self.root(Asid::KERNEL);
        for i in g.kernel_top_index()..g.entries(top) {
            let Some(idx) = g.table_index(top, i) else {
                break;
            };
            let e = self.phys.read(kroot, idx);
            if present(e) {
                self.set_entry(root, top, idx, e);
            }
        }
        let asid = Asid::from_raw(raw);
        self.spaces.insert(asid, root);
        self.next_asid = raw.checked_add(1);
        Ok(asid)
    }

    /// Tear down an address space: its private tables are freed, its references to shared
    /// tables dropped. The returned flush covers the whole space for that ASID (ASIDs are
    /// never reused, so ignoring it is harmless).
    pub fn destroy_space(&mut self, asid: Asid) -> Result<Flush, DestroySpaceError> {
        if asid == Asid::KERNEL {
            return Err(DestroySpaceError::KernelSpace);
        }
        let root = self
            .spaces
            .remove(&asid)
            .ok_or(DestroySpaceError::NoSuchSpace)?;
        let g = self.geo;
        let top = g.top();
        for i in 0..g.entries(top) {
            let Some(idx) = g.table_index(top, i) else {
                break;
            };
            let e = self.phys.read(root, idx);
            if is_pointer(e, top) {
                let child = self.child(e, top);
                self.set_entry(root, top, idx, 0);
                if self.phys.page(child).refs == 0 {
                    self.release(child);
                }
            } else if present(e) {
                self.phys.write(root, idx, 0);
            }
        }
        self.phys.free(root);
        Ok(Flush {
            scope: FlushScope::Space(asid),
            range: self.whole_space(),
        })
    }

    // ----- mapping ----------------------------------------------------------------------

    /// Map `len / page_size` pages of `page_size` bytes: virtual `[va, va + len)` to physical
    /// `[pa, pa + len)`, every page with `flags`. See [`MapError`] for the checks, in order.
    pub fn map(
        &mut self,
        asid: Asid,
        va: u64,
        pa: u64,
        len: u64,
        flags: PageFlags,
        page_size: u64,
    ) -> Result<(), MapError> {
        let root = *self.spaces.get(&asid).ok_or(MapError::NoSuchSpace)?;
        let g = self.geo;
        let level = g
            .level_of_size(page_size)
            .ok_or(MapError::UnsupportedPageSize)?;
        if flags.contains(PageFlags::NO_EXECUTE) && !g.has_nx() {
            return Err(MapError::UnsupportedFlags);
        }
        let r = g.arch().check_range(va, len).map_err(MapError::Range);
        #[cfg(feature = "seeded-bugs")]
        // SEEDED BUG NonCanonicalAccepted (x86_64 crate, ANCHORS 6 #15): a range in (or
        // across) the canonical hole is taken as it is; the walk's truncated indices alias it
        // to other addresses.
        let r = match r {
            Err(MapError::Range(crate::addr::RangeError::NonCanonical))
                if self.bug(Bug::NonCanonicalAccepted) =>
            {
                Range::new(va, len).map_err(MapError::Range)
            }
            r => r,
        };
        let r = r?;
        if !va.is_multiple_of(page_size) {
            return Err(MapError::MisalignedVa);
        }
        if !len.is_multiple_of(page_size) {
            return Err(MapError::MisalignedLen);
        }
        if !pa.is_multiple_of(page_size) {
            return Err(MapError::MisalignedPa);
        }
        let pages = len / page_size;
        if pages > MAX_MAP_PAGES {
            return Err(MapError::TooManyPages);
        }
        if last_of(pa, len).is_none_or(|l| l > g.max_phys()) {
            return Err(MapError::PhysRange);
        }
        if flags.contains(PageFlags::USER) && g.in_kernel_half(r.last()) {
            return Err(MapError::UserInKernelHalf);
        }
        if flags.contains(PageFlags::GLOBAL) && !g.in_kernel_half(r.start()) {
            return Err(MapError::GlobalInUserHalf);
        }
        // Pass 1: every page's slot must be free; collect the tables that must be created.
        let mut missing: BTreeSet<(Level, u64)> = BTreeSet::new();
        for i in 0..pages {
            let v = va + i * page_size;
            let w = self.walk(root, v, level);
            if w.shared {
                return Err(MapError::SharedTable { va: v });
            }
            #[cfg(feature = "seeded-bugs")]
            // SEEDED BUG LargePageOverLiveTable (Linux 2018, ANCHORS 6 #7): a large page is
            // written over the pointer to a live table; the table leaks and the TLB entries
            // of its pages survive.
            if level > 0
                && w.level == level
                && is_pointer(w.entry, level)
                && self.bug(Bug::LargePageOverLiveTable)
            {
                continue;
            }
            if present(w.entry) {
                return Err(if w.level > level {
                    MapError::LargePageInTheWay { va: v }
                } else if is_leaf(w.entry, level) {
                    MapError::AlreadyMapped { va: v }
                } else {
                    MapError::TableInTheWay { va: v }
                });
            }
            for l in level..w.level {
                missing.insert((l, v >> g.table_span_shift(l)));
            }
        }
        if missing.len() as u64 > self.free_frames() {
            return Err(MapError::OutOfFrames);
        }
        // Pass 2: commit; cannot fail (frames were counted above).
        #[cfg(feature = "seeded-bugs")]
        // SEEDED BUG LargestMapOffByOne: the commit loop's end is computed per leaf table
        // with an exclusive bound taken for an inclusive one: a map of exactly MAX_MAP_PAGES
        // pages, or one whose last page is the first of a new table (one page past a table
        // boundary), stops one page short; the map still succeeds.
        let pages = if pages > 1
            && (pages == MAX_MAP_PAGES || g.index(va + (pages - 1) * page_size, level).get() == 0)
            && self.bug(Bug::LargestMapOffByOne)
        {
            pages - 1
        } else {
            pages
        };
        for i in 0..pages {
            let v = va + i * page_size;
            let table = self.make_path(root, v, level);
            let leaf = g.leaf_bits(flags, level) | (pa + i * page_size);
            self.set_everywhere(table, level, g.index(v, level), leaf);
        }
        Ok(())
    }

    /// Unmap every page of `[va, va + len)`; freed tables go back to the pool at once. See
    /// [`UnmapError`] for the checks, in order.
    pub fn unmap(&mut self, asid: Asid, va: u64, len: u64) -> Result<Flush, UnmapError> {
        let root = *self.spaces.get(&asid).ok_or(UnmapError::NoSuchSpace)?;
        let r = self.check_edit_range(va, len)?;
        let leaves = self.collect_leaves(root, r)?;
        for (base, level) in leaves {
            let w = self.walk(root, base, level);
            let (t, idx) = w.tables[level as usize];
            self.set_everywhere(t, level, idx, 0);
            self.prune(&w, level);
        }
        Ok(self.flush_token(asid, r))
    }

    /// Give every page of `[va, va + len)` the leaf flags `flags` (A and D are kept). See
    /// [`UnmapError`] for the checks, in order.
    pub fn protect(
        &mut self,
        asid: Asid,
        va: u64,
        len: u64,
        flags: PageFlags,
    ) -> Result<Flush, UnmapError> {
        let root = *self.spaces.get(&asid).ok_or(UnmapError::NoSuchSpace)?;
        let g = self.geo;
        if flags.contains(PageFlags::NO_EXECUTE) && !g.has_nx() {
            return Err(UnmapError::UnsupportedFlags);
        }
        let r = self.check_edit_range(va, len)?;
        if flags.contains(PageFlags::USER) && g.in_kernel_half(r.last()) {
            return Err(UnmapError::UserInKernelHalf);
        }
        if flags.contains(PageFlags::GLOBAL) && !g.in_kernel_half(r.start()) {
            return Err(UnmapError::GlobalInUserHalf);
        }
        let leaves = self.collect_leaves(root, r)?;
        for (base, level) in leaves {
            let w = self.walk(root, base, level);
            let (t, idx) = w.tables[level as usize];
            let keep = w.entry & g.addr_mask(level, true);
            self.set_everywhere_keeping_ad(t, level, idx, keep | g.leaf_bits(flags, level));
        }
        Ok(self.flush_token(asid, r))
    }

    /// Map the first `len` bytes of a segment at the segment-aligned `va` to physical
    /// `[pa, pa + len)` with `flags`, through a level-0 table shared with every other mapping
    /// of the same (pa, len, flags). See [`MapSharedError`] for the checks, in order.
    pub fn map_shared_segment(
        &mut self,
        asid: Asid,
        va: u64,
        pa: u64,
        len: u64,
        flags: PageFlags,
    ) -> Result<(), MapSharedError> {
        let root = *self.spaces.get(&asid).ok_or(MapSharedError::NoSuchSpace)?;
        let g = self.geo;
        if flags.contains(PageFlags::NO_EXECUTE) && !g.has_nx() {
            return Err(MapSharedError::UnsupportedFlags);
        }
        let r = g
            .arch()
            .check_range(va, len)
            .map_err(MapSharedError::Range)?;
        let seg = g.arch().segment_size();
        if !va.is_multiple_of(seg) {
            return Err(MapSharedError::MisalignedVa);
        }
        if !len.is_multiple_of(PAGE_SIZE) {
            return Err(MapSharedError::MisalignedLen);
        }
        if len > seg {
            return Err(MapSharedError::TooLong);
        }
        if !pa.is_multiple_of(PAGE_SIZE) {
            return Err(MapSharedError::MisalignedPa);
        }
        if last_of(pa, len).is_none_or(|l| l > g.max_phys()) {
            return Err(MapSharedError::PhysRange);
        }
        if flags.contains(PageFlags::USER) && g.in_kernel_half(r.last()) {
            return Err(MapSharedError::UserInKernelHalf);
        }
        if flags.contains(PageFlags::GLOBAL) && !g.in_kernel_half(r.start()) {
            return Err(MapSharedError::GlobalInUserHalf);
        }
        let sl = g.segment_level();
        let w = self.walk(root, va, sl);
        if present(w.entry) {
            return Err(if w.level > sl {
                MapSharedError::LargePageInTheWay
            } else if is_leaf(w.entry, sl) {
                MapSharedError::AlreadyMapped
            } else {
                MapSharedError::TableInTheWay
            });
        }
        let key = SegmentKey { pa, len, flags };
        let existing = self.segments.get(&key).copied();
        let need = (w.level - sl) as u64 + u64::from(existing.is_none());
        if need > self.free_frames() {
            return Err(MapSharedError::OutOfFrames);
        }
        let seg_table = match existing {
            Some(f) => f,
            None => {
                let f = self
                    .phys
                    .alloc(g, 0, TableKind::Segment(key))
                    .expect("mmu: frames counted before commit");
                for i in 0..len / PAGE_SIZE {
                    let idx = g.index(i * PAGE_SIZE, 0);
                    self.phys
                        .write(f, idx, g.leaf_bits(flags, 0) | (pa + i * PAGE_SIZE));
                }
                self.segments.insert(key, f);
                f
            }
        };
        let table = self.make_path(root, va, sl);
        let ptr = g.pointer_entry(seg_table.pa(), sl, g.in_kernel_half(va));
        self.set_everywhere(table, sl, g.index(va, sl), ptr);
        Ok(())
    }

    /// Detach the shared segment table at the segment-aligned `va`; it is freed when no
    /// address space uses it any more. See [`UnmapSharedError`] for the checks, in order.
    pub fn unmap_shared_segment(&mut self, asid: Asid, va: u64) -> Result<Flush, UnmapSharedError> {
        let root = *self
            .spaces
            .get(&asid)
            .ok_or(UnmapSharedError::NoSuchSpace)?;
        let g = self.geo;
        let seg = g.arch().segment_size();
        let r = g
            .arch()
            .check_range(va, seg)
            .map_err(UnmapSharedError::Range)?;
        if !va.is_multiple_of(seg) {
            return Err(UnmapSharedError::MisalignedVa);
        }
        let sl = g.segment_level();
        let w = self.walk(root, va, sl);
        if !present(w.entry) {
            return Err(UnmapSharedError::NotMapped);
        }
        if w.level != sl || !is_pointer(w.entry, sl) {
            return Err(UnmapSharedError::NotShared);
        }
        let child = self.child(w.entry, sl);
        if !matches!(self.phys.page(child).kind, TableKind::Segment(_)) {
            return Err(UnmapSharedError::NotShared);
        }
        let (t, idx) = w.tables[sl as usize];
        self.set_everywhere(t, sl, idx, 0);
        if self.phys.page(child).refs == 0 {
            self.release(child);
        }
        self.prune(&w, sl);
        Ok(self.flush_token(asid, r))
    }
}
