//! # Where the model changed
//!
//! A harness that compares the walks of many addresses after every op would redo most of
//! them for nothing: an op changes a few entries. So every change of what
//! [`MmuModel::translate`] or [`MmuModel::walk_prediction`] answers is also noted here, as
//! a block of addresses it may have changed ([`Changed`]), until
//! [`MmuModel::forget_changes`]: an address outside every block noted since then has the
//! same answers as then. The blocks are generous, never short:
//!
//! - a mapping added or removed, or its entry made or cleared: the span of that entry (a
//!   page, or a segment's slot); a table made or freed: the span of the entry pointing at
//!   it (the whole table), both in every space for the kernel half;
//! - flags changed: the page;
//! - A or D set by a walk where it was not: the span of each entry that changed (in every
//!   space for a segment's shared table: all addresses of all spaces);
//! - a space created or destroyed: all its addresses.

use super::{MmuModel, TOP64};

/// A block of addresses whose answers may have changed: `first..=last` in space `space`,
/// or in every space if `space` is `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Changed {
    /// The space, or `None`: every space.
    pub space: Option<u32>,
    /// First address.
    pub first: u128,
    /// Last address.
    pub last: u128,
}

impl Changed {
    /// Whether the block holds `va` of space `asid`.
    pub fn covers(&self, asid: u32, va: u128) -> bool {
        self.space.is_none_or(|s| s == asid) && self.first <= va && va <= self.last
    }
}

impl MmuModel {
    /// The blocks noted since the last [`MmuModel::forget_changes`] (module comment).
    pub fn changes(&self) -> &[Changed] {
        &self.changes
    }

    /// Start noting anew.
    pub fn forget_changes(&mut self) {
        self.changes.clear();
    }

    /// Notes the span of the entry at `level` on `asid`'s walk to `va` (every space's in
    /// the kernel half).
    pub(super) fn note_entry(&mut self, asid: u32, va: u128, level: u32) {
        let shift = self.mode.entry_shift(level);
        let first = va >> shift << shift;
        let space = (va < self.mode.kernel_base()).then_some(asid);
        self.changes.push(Changed {
            space,
            first,
            last: first + ((1u128 << shift) - 1),
        });
    }

    /// Notes `first..=last` of `asid` (every space's in the kernel half).
    pub(super) fn note_range(&mut self, asid: u32, first: u128, last: u128) {
        let space = (first < self.mode.kernel_base()).then_some(asid);
        self.changes.push(Changed { space, first, last });
    }

    /// Notes every address of `space` (of every space if `None`).
    pub(super) fn note_all(&mut self, space: Option<u32>) {
        self.changes.push(Changed {
            space,
            first: 0,
            last: TOP64,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Mode, GLOBAL, USER, WRITABLE};
    use super::*;

    /// After every op of a seeded sequence (maps of every size, unmaps, protects, walks
    /// that set A and D, segments, spaces made and destroyed), every address of a grid whose
    /// answers changed lies in a block the op noted.
    #[test]
    fn every_change_is_noted() {
        for mode in [Mode::Ia32, Mode::Pae, Mode::X86_64, Mode::La57] {
            let kb = mode.kernel_base();
            let seg = mode.segment();
            let mut grid: Vec<u128> = Vec::new();
            for base in [0, seg * 7, kb, kb + seg * 3] {
                for k in 0..6u128 {
                    grid.push(base + k * 0x1000);
                    grid.push(base + k * seg);
                }
            }
            let mut o = MmuModel::new(mode, 200, 2);
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            for _ in 0..3000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let spaces = o.spaces();
                let asid = spaces[(x >> 8) as usize % spaces.len()];
                let va = grid[(x >> 16) as usize % grid.len()];
                let size = mode.page_sizes()[(x >> 24) as usize % mode.page_sizes().len()];
                let va = va - va % size;
                let flags = if va >= kb {
                    WRITABLE | GLOBAL
                } else {
                    WRITABLE | USER
                };
                let before: Vec<_> = spaces
                    .iter()
                    .flat_map(|&s| grid.iter().map(move |&a| (s, a)))
                    .map(|(s, a)| (s, a, o.walk_prediction(s, a), o.translate(s, a)))
                    .collect();
                o.forget_changes();
                let _ = match x % 9 {
                    0 | 1 => o.map(asid, va, 0x20_0000, size, flags, size).is_ok(),
                    2 => o.unmap(asid, va, size).is_ok(),
                    3 => o.protect(asid, va, size, flags & !WRITABLE).is_ok(),
                    4 | 5 => {
                        o.walked(asid, va, x & 0x100 != 0);
                        true
                    }
                    6 => o
                        .map_shared_segment(asid, va - va % seg, 0, seg, flags)
                        .is_ok(),
                    7 => o.create_space().is_ok(),
                    _ => o.destroy_space(asid).is_ok(),
                };
                for (s, a, pred, t) in before {
                    if !o.spaces().contains(&s) || o.changes().iter().any(|c| c.covers(s, a)) {
                        continue;
                    }
                    assert_eq!(o.walk_prediction(s, a), pred, "{mode:?} asid {s} {a:#x}");
                    assert_eq!(o.translate(s, a), t, "{mode:?} asid {s} {a:#x}");
                }
            }
        }
    }
}
