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
