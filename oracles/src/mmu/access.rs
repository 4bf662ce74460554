//! # Access, A/D bits and the TLB operations of the model
//!
//! What a walk sets (accessed and dirty bits, per entry of the walk), what `translate` and
//! `access` predict (with or without a CPU's TLB), the explicit TLB operations (INVLPG, the
//! flushes, a shootdown) and the first stale entry any CPU still holds. The TLBs themselves
//! (filling, dropping, staleness) are in `tlb.rs`; the module comment's "Accessed and
//! dirty" says what a walk sets.

use super::{
    fresh, AccessOutcome, CachedEntry, CpuTlb, EntryKey, ErrKind, FlushPrediction, Mapping,
    MmuModel, Mode, StaleHit, Translation, ACCESSED, DIRTY, GLOBAL, KIB4, NO_EXECUTE, USER,
    WRITABLE,
};

impl MmuModel {
    /// A walk by a successful access to `va` in `asid` that did not hit the TLB (the caller
    /// knows the TLB; the model does not): A set in every entry of the walk that has one (all
    /// but PAE's page-directory pointers), D in the leaf too on a write. Nothing if `va` does
    /// not translate.
    pub fn walked(&mut self, asid: u32, va: u128, write: bool) {
        if !self.spaces.contains_key(&asid) || !self.mode.canonical(va) {
            return;
        }
        let Some((b, m)) = self.at(asid, va) else {
            return;
        };
        if m.segment && va - b >= m.size {
            return;
        }
        self.version += 1;
        let mode = self.mode;
        let leaf_level = if m.segment { 0 } else { mode.level_of(m.size) };
        for level in leaf_level..=mode.top() {
            if mode == Mode::Pae && level == 2 {
                continue;
            }
            let key = self.ad_key(asid, va, level, b, &m);
            let bits = self.ad.entry(key).or_insert(0);
            let before = *bits;
            *bits |= ACCESSED;
            if level == leaf_level && write {
                *bits |= DIRTY;
            }
            if *bits != before {
                match key {
                    EntryKey::Segment(..) => self.note_all(None),
                    EntryKey::Table(..) => self.note_entry(asid, va, level),
                }
            }
        }
    }

    /// The key of the entry at `level` on the walk to `va`, through mapping `m` at `b`.
    fn ad_key(&self, asid: u32, va: u128, level: u32, b: u128, m: &Mapping) -> EntryKey {
        if m.segment && level == 0 {
            EntryKey::Segment((m.pa, m.size, m.flags), (va - b) / KIB4)
        } else {
            self.entry_key(asid, va, level)
        }
    }

    /// The [`ACCESSED`] and [`DIRTY`] bits the entry at `level` on `asid`'s walk to `va`
    /// must have (0 where the walk has no such entry, or for a space that does not exist).
    pub fn accessed_dirty(&self, asid: u32, va: u128, level: u32) -> u8 {
        self.accessed_dirty_levels(asid, va)
            .get(level as usize)
            .copied()
            .unwrap_or(0)
    }

    /// [`MmuModel::accessed_dirty`] at every level (indexed by level; 0 above the top), in
    /// one lookup of the mapping.
    pub fn accessed_dirty_levels(&self, asid: u32, va: u128) -> [u8; 5] {
        let mut out = [0; 5];
        if self.ad.is_empty() || !self.spaces.contains_key(&asid) || !self.mode.canonical(va) {
            return out;
        }
        let at = self.at(asid, va);
        for (level, bits) in (0..self.mode.levels()).zip(out.iter_mut()) {
            let key = match &at {
                Some((b, m)) => self.ad_key(asid, va, level, *b, m),
                None => self.entry_key(asid, va, level),
            };
            *bits = self.ad.get(&key).copied().unwrap_or(0);
        }
        out
    }

    /// Predict `Mmu::translate`.
    pub fn translate(&self, asid: u32, va: u128) -> Result<Translation, ErrKind> {
        if !self.spaces.contains_key(&asid) {
            return Err(ErrKind::NoSuchSpace);
        }
        if !self.mode.canonical(va) {
            return Err(ErrKind::NonCanonical);
        }
        let not = ErrKind::NotMapped { va };
        let (b, m) = self.at(asid, va).ok_or(not)?;
        let off = va - b;
        if m.segment && off >= m.size {
            return Err(not);
        }
        let page_size = if m.segment { KIB4 } else { m.size };
        Ok(Translation {
            va,
            pa: m.pa + off,
            page_base: va - va % page_size,
            page_size,
            flags: m.flags,
        })
    }

    /// Predict `Mmu::access`. `kind`: 0 read, 1 write, 2 execute.
    pub fn access(
        &self,
        cpu: u128,
        asid: u32,
        va: u128,
        kind: u8,
        user: bool,
    ) -> Result<Translation, ErrKind> {
        if cpu >= self.cpus {
            return Err(ErrKind::NoSuchCpu);
        }
        let t = self.translate(asid, va).map_err(|e| match e {
            ErrKind::NotMapped { .. } => ErrKind::NotPresent,
            other => other,
        })?;
        let denied = (user && t.flags & USER == 0)
            || (kind == 1 && t.flags & WRITABLE == 0)
            || (kind == 2 && t.flags & NO_EXECUTE != 0);
        if denied {
            return Err(ErrKind::Protection);
        }
        Ok(t)
    }

    /// Predict `Mmu::access` on the model's TLBs (module `tlb`): `kind` 0 read, 1 write,
    /// 2 execute. A hit that permits the access (a write only on a dirty entry) answers the
    /// current translation if the entry is fresh and [`AccessOutcome::Stale`] otherwise;
    /// any other hit is dropped, and the access walks as [`MmuModel::access`] predicts,
    /// setting A and D ([`MmuModel::walked`]) and filling the TLB when it succeeds.
    pub fn access_on_tlb(
        &mut self,
        cpu: u128,
        asid: u32,
        va: u128,
        kind: u8,
        user: bool,
    ) -> AccessOutcome {
        let Some(c) = self.cpu_index(cpu) else {
            return AccessOutcome::Fault(ErrKind::NoSuchCpu);
        };
        if !self.spaces.contains_key(&asid) {
            return AccessOutcome::Fault(ErrKind::NoSuchSpace);
        }
        if !self.mode.canonical(va) {
            return AccessOutcome::Fault(ErrKind::NonCanonical);
        }
        let write = kind == 1;
        let permits = |flags: u8| {
            !((user && flags & USER == 0)
                || (write && flags & WRITABLE == 0)
                || (kind == 2 && flags & NO_EXECUTE != 0))
        };
        if let Some((slot, e)) = self.tlbs[c].lookup(asid, va, self.mode.page_sizes()) {
            let cached = e.translation(va);
            if permits(cached.flags) && (e.dirty || !write) {
                let current = self.translate(asid, va).ok();
                return match current {
                    Some(t) if fresh(&cached, &t) => AccessOutcome::Hit(t),
                    _ => AccessOutcome::Stale(StaleHit {
                        cpu,
                        asid,
                        cached,
                        current,
                    }),
                };
            }
            self.tlbs[c].remove(slot);
            self.tlb_version += 1;
        }
        match self.access(cpu, asid, va, kind, user) {
            Err(e) => AccessOutcome::Fault(e),
            Ok(t) => {
                self.walked(asid, va, write);
                let capacity = self.tlb_capacity;
                self.tlbs[c].fill(asid, &t, write, capacity);
                self.tlb_version += 1;
                AccessOutcome::Walked(t)
            }
        }
    }

    /// The TLB index of `cpu`, if it exists.
    fn cpu_index(&self, cpu: u128) -> Option<usize> {
        let c = usize::try_from(cpu).ok()?;
        (cpu < self.cpus && c < self.tlbs.len()).then_some(c)
    }

    fn tlb_mut(&mut self, cpu: u128) -> Result<&mut CpuTlb, ErrKind> {
        let c = self.cpu_index(cpu).ok_or(ErrKind::NoSuchCpu)?;
        self.tlb_version += 1;
        Ok(&mut self.tlbs[c])
    }

    /// Predict `Mmu::invlpg` / `Mmu::flush_range`: `cpu` drops `asid`'s entries and the
    /// global ones whose page overlaps `[start, last]`.
    pub fn invlpg(&mut self, cpu: u128, asid: u32, start: u128, last: u128) -> Result<(), ErrKind> {
        self.tlb_mut(cpu)?.invalidate(Some(asid), start, last);
        Ok(())
    }

    /// Predict `Mmu::flush_asid`: `cpu` drops `asid`'s non-global entries.
    pub fn flush_asid(&mut self, cpu: u128, asid: u32) -> Result<(), ErrKind> {
        self.tlb_mut(cpu)?.flush_nonglobal(Some(asid));
        Ok(())
    }

    /// Predict `Mmu::flush_nonglobal`: `cpu` drops every non-global entry.
    pub fn flush_nonglobal(&mut self, cpu: u128) -> Result<(), ErrKind> {
        self.tlb_mut(cpu)?.flush_nonglobal(None);
        Ok(())
    }

    /// Predict `Mmu::flush_all`: `cpu` drops every entry.
    pub fn flush_all(&mut self, cpu: u128) -> Result<(), ErrKind> {
        self.tlb_mut(cpu)?.flush_all();
        Ok(())
    }

    /// Predict `Mmu::flush` of the token `f` that an op in `asid` returned: on every CPU,
    /// the entries of `asid` (of every space if `f.all_spaces`) and the global ones whose
    /// page overlaps `f`'s range.
    pub fn shootdown(&mut self, asid: u32, f: &FlushPrediction) {
        let spaces = (!f.all_spaces).then_some(asid);
        self.tlb_version += 1;
        for t in &mut self.tlbs {
            t.invalidate(spaces, f.start, f.last);
        }
    }

    /// What `cpu`'s TLB holds: non-global entries by (space, size, base), then global ones
    /// by (size, base). Empty for a CPU that does not exist.
    pub fn tlb_entries(&self, cpu: u128) -> Vec<CachedEntry> {
        self.cpu_index(cpu)
            .map(|c| self.tlbs[c].entries().copied().collect())
            .unwrap_or_default()
    }

    /// The first stale entry (module `tlb`, section 3) in the order `Mmu::check_tlb_coherent`
    /// looks: by CPU, then as [`MmuModel::tlb_entries`] lists them; each checked at its page
    /// base in its space (a global one in the kernel's, 0); entries of destroyed spaces
    /// skipped (never hit again). `None`: the coherence check must pass.
    pub fn first_stale(&self) -> Option<StaleHit> {
        for (c, tlb) in self.tlbs.iter().enumerate() {
            for e in tlb.entries() {
                let asid = if e.flags & GLOBAL != 0 { 0 } else { e.asid };
                if !self.spaces.contains_key(&asid) {
                    continue;
                }
                let cached = e.translation(e.page_base);
                let current = self.translate(asid, e.page_base).ok();
                if !current.is_some_and(|t| fresh(&cached, &t)) {
                    return Some(StaleHit {
                        cpu: c as u128,
                        asid,
                        cached,
                        current,
                    });
                }
            }
        }
        None
    }
}
