//! Translation and the TLBs: translate, walk records, accesses through a CPU's TLB, flushes,
//! and the TLB coherence check.

use super::*;

impl Mmu {
    // ----- translation, TLBs ------------------------------------------------------------

    /// Walk `asid`'s tables for `va` (no TLB, no A/D updates).
    pub fn translate(&self, asid: Asid, va: u64) -> Result<Translation, TranslateError> {
        let root = *self.spaces.get(&asid).ok_or(TranslateError::NoSuchSpace)?;
        if !self.geo.arch().is_canonical(va) {
            return Err(TranslateError::NonCanonical);
        }
        self.leaf_translation(&self.walk(root, va, 0), va)
            .ok_or(TranslateError::NotMapped)
    }

    /// The tables' version: `(pool, epoch)` is the same at two moments iff no table page
    /// changed between them (no entry written, A and D included; no table made or freed) and
    /// the MMU is the same one (a clone gets a new pool). With the same live spaces, every
    /// [`Mmu::translate`] answer is then the same too (a walk reads nothing else).
    pub fn table_version(&self) -> (u64, u64) {
        (self.phys.id(), self.phys.epoch())
    }

    /// The raw hardware entries on `asid`'s walk to `va` (widened to 64 bits, indexed by
    /// level) and the lowest level it reached (where it met a leaf, a non-present entry, or
    /// level 0); entries below that level are 0. `None` if the space does not exist or `va`
    /// is not in the space. One walk for what [`Mmu::entry`] answers level by level.
    pub fn walk_entries(&self, asid: Asid, va: u64) -> Option<(u8, [u64; MAX_LEVELS])> {
        self.walk_record(asid, va).map(|r| r.entries())
    }

    /// [`Mmu::walk_entries`], with the tables the walk read: what
    /// [`Mmu::walk_unchanged`] checks later. `None` in the same cases.
    pub fn walk_record(&self, asid: Asid, va: u64) -> Option<WalkRecord> {
        let root = *self.spaces.get(&asid)?;
        if !self.geo.arch().is_canonical(va) {
            return None;
        }
        let w = self.walk(root, va, 0);
        let mut entries = [0; MAX_LEVELS];
        let mut tables = [Frame::default(); MAX_LEVELS];
        for l in w.level..=self.geo.top() {
            let (t, idx) = w.tables[l as usize];
            entries[l as usize] = self.phys.read(t, idx);
            tables[l as usize] = t;
        }
        Some(WalkRecord {
            asid,
            va,
            version: self.table_version(),
            lowest: w.level,
            tables,
            entries,
        })
    }

    /// Whether a walk now would read exactly what `r` records: the same entries in the same
    /// tables, from the same root. Then [`Mmu::translate`] and [`Mmu::walk_entries`] answer
    /// as they did when `r` was made (they read nothing else). A table not changed since
    /// (its stamp, see `PhysMem`) is not read again; one that changed is read at the walk's
    /// index. When the answer is yes, `r` is brought up to date (later calls read less).
    pub fn walk_unchanged(&self, r: &mut WalkRecord) -> bool {
        let now = self.table_version();
        let top = self.geo.top();
        if r.version.0 != now.0 || self.spaces.get(&r.asid) != Some(&r.tables[top as usize]) {
            return false;
        }
        for l in r.lowest..=top {
            let t = r.tables[l as usize];
            if self.phys.stamp(t) <= r.version.1 {
                continue;
            }
            let Some(page) = self.phys.page_if(t) else {
                return false;
            };
            let i = self.geo.index(r.va, l).get();
            if i >= phys::data_len(&page.data)
                || phys::read_data(&page.data, i) != r.entries[l as usize]
            {
                return false;
            }
        }
        r.version = now;
        true
    }

    /// The raw hardware entry at `level` on `asid`'s walk to `va` (widened to 64 bits), or
    /// `None` if the walk ends above that level, the space does not exist or `va` is not in
    /// the space. For tests and traces: shows the exact architectural encoding.
    pub fn entry(&self, asid: Asid, va: u64, level: u8) -> Option<u64> {
        let root = *self.spaces.get(&asid)?;
        if !self.geo.arch().is_canonical(va) || level > self.geo.top() {
            return None;
        }
        let w = self.walk(root, va, level);
        (w.level == level).then_some(w.entry)
    }

    /// What `cpu` does when code in `asid` makes `access` at `va`: look in the TLB; on a hit
    /// that permits the access, compare it with a fresh walk (stale: [`AccessError::Stale`];
    /// coherent: the fresh translation); otherwise walk, set A (and D on a write), check the
    /// permissions and cache the translation.
    pub fn access(
        &mut self,
        cpu: CpuId,
        asid: Asid,
        va: u64,
        access: Access,
    ) -> Result<Translation, AccessError> {
        let c = cpu.0 as usize;
        if c >= self.tlbs.len() {
            return Err(AccessError::NoSuchCpu);
        }
        let root = *self.spaces.get(&asid).ok_or(AccessError::NoSuchSpace)?;
        let arch = self.geo.arch();
        if !arch.is_canonical(va) {
            return Err(AccessError::NonCanonical);
        }
        let write = access.kind == AccessKind::Write;
        if let Some((slot, e)) = self.tlbs[c].lookup(asid, va, arch.page_sizes()) {
            let cached = e.translation(va);
            if access.permitted_by(cached.flags) && (e.dirty || !write) {
                let current = self.leaf_translation(&self.walk(root, va, 0), va);
                return match current {
                    Some(t) if self.fresh(&cached, &t) => Ok(t),
                    _ => Err(AccessError::Stale(StaleTlb {
                        cpu,
                        asid,
                        cached,
                        current,
                    })),
                };
            }
            // Spurious fault or clean entry: drop it and walk, as the hardware does.
            self.tlbs[c].remove(slot);
        }
        let w = self.walk(root, va, 0);
        let t = self
            .leaf_translation(&w, va)
            .ok_or(AccessError::NotPresent)?;
        if !access.permitted_by(t.flags) {
            return Err(AccessError::Protection);
        }
        self.mark_accessed(&w, write);
        self.tlbs[c].insert(asid, &t, write);
        Ok(t)
    }

    /// Apply a flush token on every CPU (a TLB shootdown).
    pub fn flush(&mut self, f: Flush) {
        for t in &mut self.tlbs {
            apply(t, &f);
        }
    }

    /// Apply a flush token on one CPU only (the caller still owns the token).
    pub fn flush_on(&mut self, cpu: CpuId, f: &Flush) -> Result<(), TlbError> {
        apply(self.tlb_mut(cpu)?, f);
        Ok(())
    }

    /// INVLPG: drop `cpu`'s entries for the page holding `va` (for `asid`, and global ones).
    pub fn invlpg(&mut self, cpu: CpuId, asid: Asid, va: u64) -> Result<(), TlbError> {
        let r = Range::from_inclusive(va, va).unwrap_or(self.whole_space());
        self.tlb_mut(cpu)?.invalidate_range(asid, r);
        Ok(())
    }

    /// INVLPG over every page overlapping `range`.
    pub fn flush_range(&mut self, cpu: CpuId, asid: Asid, range: Range) -> Result<(), TlbError> {
        self.tlb_mut(cpu)?.invalidate_range(asid, range);
        Ok(())
    }

    /// Drop `cpu`'s non-global entries of `asid` (a CR3 load of that PCID).
    pub fn flush_asid(&mut self, cpu: CpuId, asid: Asid) -> Result<(), TlbError> {
        self.tlb_mut(cpu)?.flush_asid(asid);
        Ok(())
    }

    /// Drop `cpu`'s non-global entries of every ASID; global ones survive.
    pub fn flush_nonglobal(&mut self, cpu: CpuId) -> Result<(), TlbError> {
        self.tlb_mut(cpu)?.flush_nonglobal();
        Ok(())
    }

    /// Drop all of `cpu`'s entries, global ones included (CR4.PGE toggle).
    pub fn flush_all(&mut self, cpu: CpuId) -> Result<(), TlbError> {
        self.tlb_mut(cpu)?.flush_all();
        Ok(())
    }

    /// Every TLB entry of every CPU checked over its whole page against a fresh walk: the
    /// first stale one (CPU order, then non-global entries by key, then global ones). A global
    /// entry is checked against the kernel space (global pages exist only in the kernel half,
    /// which all spaces share); entries of destroyed spaces are skipped (never hit again).
    /// Cost: one walk per fresh leaf under each cached page.
    pub fn check_tlb_coherent(&self) -> Result<(), StaleTlb> {
        for (c, tlb) in self.tlbs.iter().enumerate() {
            for (_, e) in tlb.entries() {
                let global = e.flags.contains(PageFlags::GLOBAL);
                let asid = if global { Asid::KERNEL } else { e.asid };
                let Some(&root) = self.spaces.get(&asid) else {
                    continue;
                };
                let last = e.page_base + (e.page_size - 1);
                let mut a = e.page_base;
                loop {
                    let cached = e.translation(a);
                    let current = self.leaf_translation(&self.walk(root, a, 0), a);
                    let t = match current {
                        Some(t) if self.fresh(&cached, &t) => t,
                        _ => {
                            return Err(StaleTlb {
                                cpu: CpuId(c as u32),
                                asid,
                                cached,
                                current,
                            })
                        }
                    };
                    let fresh_last = t.page_base + (t.page_size - 1);
                    if fresh_last >= last {
                        break;
                    }
                    a = fresh_last + 1;
                }
            }
        }
        Ok(())
    }
}

fn apply(t: &mut Tlb, f: &Flush) {
    match f.scope {
        FlushScope::Space(a) => t.invalidate_range(a, f.range),
        FlushScope::AllSpaces => t.invalidate_range_all(f.range),
    }
}
