//! # Address spaces and the page-table pages they hold
//!
//! Creating and destroying spaces, and the count of table pages (shared and private) the
//! implementation must hold at every op, kept incrementally and recomputable from scratch
//! (`check_counts` compares the two). The module comment's "Table pages" defines them.

use std::collections::{BTreeMap, BTreeSet};

use super::{EntryKey, ErrKind, Mapping, MmuModel, TableName, MAX_SPACES};

impl MmuModel {
    /// Predict `Mmu::create_space`.
    pub fn create_space(&mut self) -> Result<u32, ErrKind> {
        if self.spaces.len() >= MAX_SPACES {
            return Err(ErrKind::TooManySpaces);
        }
        if self.next > u32::MAX as u128 {
            return Err(ErrKind::AsidsExhausted);
        }
        if self.table_pages() + 1 > self.frames {
            return Err(ErrKind::OutOfFrames);
        }
        let id = self.next as u32;
        self.next += 1;
        self.spaces.insert(id, BTreeMap::new());
        // The new root's kernel half is a copy of the kernel's, A bits included.
        let top = self.mode.top();
        let copied: Vec<(EntryKey, u8)> = self
            .ad
            .iter()
            .filter_map(|(k, &bits)| match *k {
                EntryKey::Table(Some(0), l, i)
                    if l == top && i * self.mode.entry_span(l) >= self.mode.kernel_base() =>
                {
                    Some((EntryKey::Table(Some(id), l, i), bits))
                }
                _ => None,
            })
            .collect();
        self.ad.extend(copied);
        self.note_all(Some(id));
        self.version += 1;
        Ok(id)
    }

    /// Predict `Mmu::destroy_space`.
    pub fn destroy_space(&mut self, asid: u32) -> Result<(), ErrKind> {
        if asid == 0 {
            return Err(ErrKind::KernelSpace);
        }
        let Some(map) = self.spaces.get(&asid) else {
            return Err(ErrKind::NoSuchSpace);
        };
        let bases: Vec<u128> = map.keys().copied().collect();
        for b in bases {
            self.remove(asid, b);
        }
        self.spaces.remove(&asid);
        self.ad
            .retain(|k, _| !matches!(k, EntryKey::Table(Some(s), _, _) if *s == asid));
        self.note_all(Some(asid));
        self.version += 1;
        Ok(())
    }

    /// The names of the tables below the root that the mappings of `map` need.
    fn table_names(&self, map: &BTreeMap<u128, Mapping>, private: bool) -> BTreeSet<(u32, u128)> {
        let m = self.mode;
        let mut names = BTreeSet::new();
        for (&b, mp) in map {
            let entry_level = if mp.segment { 1 } else { m.level_of(mp.size) };
            for l in entry_level..m.top() {
                names.insert((l, b / m.table_span(l)));
            }
            if mp.segment && private {
                names.insert((0, b / m.table_span(0)));
            }
        }
        names
    }

    /// Page-table pages in use: one root per space, the tables below the roots and the
    /// shared segment tables, from the counts kept by every change (see
    /// [`MmuModel::table_pages_from_scratch`] for the same number recounted).
    pub fn table_pages(&self) -> u128 {
        (self.spaces.len() + self.names.len() + self.segment_keys.len()) as u128
    }

    /// The counts kept by every change against the same counts recomputed from the mappings:
    /// the table names and segment keys, and the page total. `Err` describes the first
    /// difference (a bug in the model's bookkeeping).
    pub fn check_counts(&self) -> Result<(), String> {
        let mut names: BTreeMap<TableName, u32> = BTreeMap::new();
        let mut keys: BTreeMap<(u128, u128, u8), u32> = BTreeMap::new();
        let views =
            core::iter::once((0, &self.kernel)).chain(self.spaces.iter().map(|(&a, map)| (a, map)));
        for (asid, map) in views {
            for (&b, m) in map {
                for n in self.names_of(asid, b, m) {
                    *names.entry(n).or_insert(0) += 1;
                }
                if m.segment {
                    *keys.entry((m.pa, m.size, m.flags)).or_insert(0) += 1;
                }
            }
        }
        if names != self.names {
            return Err(format!(
                "table names kept {:?}, recounted {names:?}",
                self.names
            ));
        }
        if keys != self.segment_keys {
            return Err(format!(
                "segment keys kept {:?}, recounted {keys:?}",
                self.segment_keys
            ));
        }
        let (kept, scratch) = (self.table_pages(), self.table_pages_from_scratch());
        if kept != scratch {
            return Err(format!("table pages kept {kept}, recounted {scratch}"));
        }
        let (kept, scratch) = (
            self.private_table_pages(),
            self.private_table_pages_from_scratch(),
        );
        if kept != scratch {
            return Err(format!(
                "private-table equivalent kept {kept}, recounted {scratch}"
            ));
        }
        Ok(())
    }

    /// Page-table pages in use, from scratch (what [`MmuModel::table_pages`] must equal).
    pub fn table_pages_from_scratch(&self) -> u128 {
        let mut n = self.spaces.len() as u128 + self.table_names(&self.kernel, false).len() as u128;
        for map in self.spaces.values() {
            n += self.table_names(map, false).len() as u128;
        }
        let keys: BTreeSet<(u128, u128, u8)> = self
            .kernel
            .values()
            .chain(self.spaces.values().flat_map(|m| m.values()))
            .filter(|m| m.segment)
            .map(|m| (m.pa, m.size, m.flags))
            .collect();
        n + keys.len() as u128
    }

    /// One private-equivalent table fewer in `scope`.
    pub(super) fn private_drop(&mut self, scope: Option<u32>) {
        if let Some(n) = self.private.get_mut(&scope) {
            *n -= 1;
            if *n == 0 {
                self.private.remove(&scope);
            }
        }
    }

    /// Page-table pages if every space had private tables only: per space its root, the
    /// kernel half's tables and its own (segments as private level-0 tables), from the
    /// counts kept by every change (the names of two scopes never coincide: the halves do
    /// not share a table below the root). Recounted by [`MmuModel::check_counts`].
    pub fn private_table_pages(&self) -> u128 {
        let of = |scope| self.private.get(&scope).copied().unwrap_or(0);
        let kernel = of(None);
        self.spaces.keys().map(|&s| 1 + kernel + of(Some(s))).sum()
    }

    /// [`MmuModel::private_table_pages`] from scratch.
    pub fn private_table_pages_from_scratch(&self) -> u128 {
        let kernel = self.table_names(&self.kernel, true);
        let mut n = 0;
        for map in self.spaces.values() {
            let mut names = kernel.clone();
            names.extend(self.table_names(map, true));
            n += 1 + names.len() as u128;
        }
        n
    }

    /// Frames not holding tables.
    pub fn free_frames(&self) -> u128 {
        self.frames - self.table_pages()
    }
}
