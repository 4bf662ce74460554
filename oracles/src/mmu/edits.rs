//! # Edits of the model: map, unmap, protect and the shared segments
//!
//! Each predicts the implementation's operation of the same name: its error (checked in
//! the implementation's order), the mappings it leaves and the flush it must hold (the module
//! comment's "Contracts"). Tables made or freed are counted in `spaces.rs`'s terms.

use super::{ErrKind, FlushPrediction, Mapping, MmuModel, ALL_FLAGS, KIB4, MAX_MAP_PAGES};

impl MmuModel {
    /// Predict `Mmu::map`.
    pub fn map(
        &mut self,
        asid: u32,
        va: u128,
        pa: u128,
        len: u128,
        flags: u8,
        size: u128,
    ) -> Result<(), ErrKind> {
        let (flags, last) = self.map_checks(asid, Some(size), flags, va, len)?;
        if !va.is_multiple_of(size) {
            return Err(ErrKind::MisalignedVa);
        }
        if !len.is_multiple_of(size) {
            return Err(ErrKind::MisalignedLen);
        }
        if !pa.is_multiple_of(size) {
            return Err(ErrKind::MisalignedPa);
        }
        if len / size > MAX_MAP_PAGES {
            return Err(ErrKind::TooManyPages);
        }
        if pa + len - 1 > self.mode.max_pa() {
            return Err(ErrKind::PhysRange);
        }
        self.half_flags(va, last, flags)?;
        let seg = self.mode.segment();
        if let Some(v) = self.first_overlap(asid, va, last, size) {
            if let Some(&(b, m)) = self.overlapping(asid, v, size).first() {
                let conflict = if m.segment {
                    if size < seg {
                        ErrKind::SharedTable { va: v }
                    } else {
                        ErrKind::TableInTheWay { va: v }
                    }
                } else if m.size > size {
                    ErrKind::LargePageInTheWay { va: v }
                } else if m.size == size && b == v {
                    ErrKind::AlreadyMapped { va: v }
                } else {
                    ErrKind::TableInTheWay { va: v }
                };
                return Err(conflict);
            }
        }
        if self.table_pages() + self.new_tables(asid, va, last, size) > self.frames {
            return Err(ErrKind::OutOfFrames);
        }
        let mut v = va;
        while v <= last {
            let m = Mapping {
                size,
                pa: pa + (v - va),
                flags,
                segment: false,
            };
            self.insert(asid, v, m);
            v += size;
        }
        Ok(())
    }

    /// What `map` and `map_shared_segment` check first, in the implementation's order: the
    /// space `asid`, the page size (`map`'s `size`; `None` for a shared segment), the flags
    /// (those the model knows of, [`ALL_FLAGS`]), then the range `[va, va + len)`: the flags
    /// kept and the range's last address.
    fn map_checks(
        &self,
        asid: u32,
        size: Option<u128>,
        flags: u8,
        va: u128,
        len: u128,
    ) -> Result<(u8, u128), ErrKind> {
        let flags = flags & ALL_FLAGS;
        if !self.spaces.contains_key(&asid) {
            return Err(ErrKind::NoSuchSpace);
        }
        if size.is_some_and(|s| !self.mode.page_sizes().contains(&s)) {
            return Err(ErrKind::UnsupportedPageSize);
        }
        if self.bad_flags(flags) {
            return Err(ErrKind::UnsupportedFlags);
        }
        Ok((flags, self.range(va, len)?))
    }

    /// The lowest page of size `size` in `[va, last]` (pages from `va`) whose footprint
    /// some mapping overlaps, in `asid`'s view: the page of the lowest such mapping (they
    /// do not overlap each other), found with one lookup per half the range touches.
    fn first_overlap(&self, asid: u32, va: u128, last: u128, size: u128) -> Option<u128> {
        let kb = self.mode.kernel_base();
        let mut halves = vec![va];
        if va < kb && last >= kb {
            halves.push(kb);
        }
        halves
            .into_iter()
            .filter_map(|from| {
                let map = self.map_of(asid, from);
                let containing = self.at(asid, from).map(|(b, _)| b);
                containing.or_else(|| map.range(from..=last).next().map(|(&b, _)| b))
            })
            .map(|b| {
                if b <= va {
                    va
                } else {
                    va + (b - va) / size * size
                }
            })
            .min()
    }

    /// The tables below the root that mapping the pages of `size` over `[va, last]` in
    /// `asid` would add: at each level, the prefixes of the range that no mapping needs
    /// yet (a range's prefixes are consecutive), per half.
    fn new_tables(&self, asid: u32, va: u128, last: u128, size: u128) -> u128 {
        let m = self.mode;
        let kb = m.kernel_base();
        let halves = if va < kb && last >= kb {
            vec![(va, kb - 1), (kb, last)]
        } else {
            vec![(va, last)]
        };
        let mut n = 0;
        for (from, to) in halves {
            let scope = (from < kb).then_some(asid);
            for l in m.level_of(size)..m.top() {
                let shift = m.table_shift(l);
                for p in (from >> shift)..=(to >> shift) {
                    if !self.names.contains_key(&(scope, l, p)) {
                        n += 1;
                    }
                }
            }
        }
        n
    }

    /// The pages tiling `[va, last]`, or the first walk error.
    fn tiles(&self, asid: u32, va: u128, last: u128) -> Result<Vec<u128>, ErrKind> {
        let mut out = Vec::new();
        let mut a = va;
        while a <= last {
            let Some((b, m)) = self.at(asid, a) else {
                return Err(ErrKind::NotMapped { va: a });
            };
            if m.segment {
                return Err(ErrKind::SharedTable { va: a });
            }
            if b < va || b + m.size - 1 > last {
                return Err(ErrKind::PartialLargePage { va: a });
            }
            out.push(b);
            a = b + m.size;
        }
        Ok(out)
    }

    fn edit_range(&self, va: u128, len: u128) -> Result<u128, ErrKind> {
        let last = self.range(va, len)?;
        if !va.is_multiple_of(KIB4) {
            return Err(ErrKind::MisalignedVa);
        }
        if !len.is_multiple_of(KIB4) {
            return Err(ErrKind::MisalignedLen);
        }
        Ok(last)
    }

    fn flush(&self, start: u128, last: u128) -> FlushPrediction {
        FlushPrediction {
            all_spaces: last >= self.mode.kernel_base(),
            start,
            last,
        }
    }

    /// Predict `Mmu::unmap`.
    pub fn unmap(&mut self, asid: u32, va: u128, len: u128) -> Result<FlushPrediction, ErrKind> {
        if !self.spaces.contains_key(&asid) {
            return Err(ErrKind::NoSuchSpace);
        }
        let last = self.edit_range(va, len)?;
        for b in self.tiles(asid, va, last)? {
            self.remove(asid, b);
        }
        Ok(self.flush(va, last))
    }

    /// Predict `Mmu::protect`.
    pub fn protect(
        &mut self,
        asid: u32,
        va: u128,
        len: u128,
        flags: u8,
    ) -> Result<FlushPrediction, ErrKind> {
        let flags = flags & ALL_FLAGS;
        if !self.spaces.contains_key(&asid) {
            return Err(ErrKind::NoSuchSpace);
        }
        if self.bad_flags(flags) {
            return Err(ErrKind::UnsupportedFlags);
        }
        let last = self.edit_range(va, len)?;
        self.half_flags(va, last, flags)?;
        for b in self.tiles(asid, va, last)? {
            let size = self.map_of_mut(asid, b).get_mut(&b).map(|m| {
                m.flags = flags;
                m.size
            });
            if let Some(size) = size {
                self.note_range(asid, b, b + (size - 1));
            }
            self.version += 1;
        }
        Ok(self.flush(va, last))
    }

    /// Predict `Mmu::map_shared_segment`.
    pub fn map_shared_segment(
        &mut self,
        asid: u32,
        va: u128,
        pa: u128,
        len: u128,
        flags: u8,
    ) -> Result<(), ErrKind> {
        let (flags, last) = self.map_checks(asid, None, flags, va, len)?;
        let seg = self.mode.segment();
        if !va.is_multiple_of(seg) {
            return Err(ErrKind::MisalignedVa);
        }
        if !len.is_multiple_of(KIB4) {
            return Err(ErrKind::MisalignedLen);
        }
        if len > seg {
            return Err(ErrKind::TooLong);
        }
        if !pa.is_multiple_of(KIB4) {
            return Err(ErrKind::MisalignedPa);
        }
        if pa + len - 1 > self.mode.max_pa() {
            return Err(ErrKind::PhysRange);
        }
        self.half_flags(va, last, flags)?;
        if let Some((b, m)) = self.overlapping(asid, va, seg).first() {
            return Err(if !m.segment && m.size > seg {
                ErrKind::LargePageInTheWay { va }
            } else if !m.segment && m.size == seg && *b == va {
                ErrKind::AlreadyMapped { va }
            } else {
                ErrKind::TableInTheWay { va }
            });
        }
        let m = Mapping {
            size: len,
            pa,
            flags,
            segment: true,
        };
        self.insert(asid, va, m);
        if self.table_pages() > self.frames {
            self.remove(asid, va);
            return Err(ErrKind::OutOfFrames);
        }
        Ok(())
    }

    /// Predict `Mmu::unmap_shared_segment`.
    pub fn unmap_shared_segment(
        &mut self,
        asid: u32,
        va: u128,
    ) -> Result<FlushPrediction, ErrKind> {
        if !self.spaces.contains_key(&asid) {
            return Err(ErrKind::NoSuchSpace);
        }
        let seg = self.mode.segment();
        let last = self.range(va, seg)?;
        if !va.is_multiple_of(seg) {
            return Err(ErrKind::MisalignedVa);
        }
        match self.overlapping(asid, va, seg).first() {
            None => Err(ErrKind::NotMapped { va }),
            Some((b, m)) if m.segment && *b == va => {
                self.remove(asid, va);
                Ok(self.flush(va, last))
            }
            Some(_) => Err(ErrKind::NotShared),
        }
    }
}
