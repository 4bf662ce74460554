//! The executor: a [`VmMap`] and the naive `MapModel` stepped through a scenario side by
//! side, each op's selectors resolved against the current state, its answer compared with
//! the findspace oracle's or the model's, the map's invariants and its whole entry list
//! checked after every op (the checks of the [module comment](super)), and at the end the
//! segment-sharing judgment of [`super::sharing`].

use kvafuzz_oracles::findspace::{
    findspace as oracle_findspace, FindspaceErrorKind, MapAnywhereErrorKind, MapFixedErrorKind,
    MapModel, UnmapErrorKind,
};

use super::scenario::{strategy_name, AddrBase, AddrSel, LenSel, Op, Scenario};
use super::sharing;
use super::VmmapTarget;
use crate::addr::{Arch, Range};
use crate::harness::drive::{setup_finding, Machine};
use crate::harness::map::{free_between, AddressMap, Band, Layer, Shade};
use crate::harness::{BrokenInvariant, BugSet, Claim, Finding, Mismatch, StateDiff, Stats, Target};
use crate::outcome;
use crate::vmmap::{
    Entry, FindspaceError, MapAnywhereError, MapFixedError, Strategy, UnmapError, VmMap,
};

impl Scenario {
    /// The map and the model of the scenario, before the first op.
    pub(super) fn executor(&self, bugs: BugSet) -> Result<Executor, Finding> {
        let map = VmMap::new(self.arch, self.min, self.max).map_err(|e| {
            setup_finding(
                VmmapTarget::NAME,
                format!(
                    "VmMap::new refused the legal bounds [{:#x}, {:#x}] of {}: {e}",
                    self.min, self.max, self.arch
                ),
            )
        })?;
        #[cfg_attr(not(feature = "seeded-bugs"), allow(unused_mut))]
        let mut map = map
            .with_strategy(self.strategy)
            .with_max_entries(self.max_entries);
        #[cfg(feature = "seeded-bugs")]
        map.set_bugs(bugs);
        #[cfg(not(feature = "seeded-bugs"))]
        let _ = bugs;
        let model = MapModel::new(self.min, self.max, self.max_entries);
        Ok(Executor {
            map,
            model,
            arch: self.arch,
            unit: self.unit(),
            next_index: 0,
            stats: Stats::default(),
        })
    }
}

/// The implementation's findspace answer in the oracle's terms.
fn fs_kind(r: Result<u64, FindspaceError>) -> Result<u64, FindspaceErrorKind> {
    r.map_err(|e| match e {
        FindspaceError::ZeroLength => FindspaceErrorKind::ZeroLength,
        FindspaceError::ZeroAlign => FindspaceErrorKind::ZeroAlign,
        FindspaceError::NoSpace => FindspaceErrorKind::NoSpace,
    })
}

/// The implementation's `map_anywhere` answer in the oracle's terms.
fn any_kind(r: Result<Range, MapAnywhereError>) -> Result<(u64, u64), MapAnywhereErrorKind> {
    r.map(|r| (r.start(), r.last())).map_err(|e| match e {
        MapAnywhereError::ZeroLength => MapAnywhereErrorKind::ZeroLength,
        MapAnywhereError::ZeroAlign => MapAnywhereErrorKind::ZeroAlign,
        MapAnywhereError::NoSpace => MapAnywhereErrorKind::NoSpace,
        MapAnywhereError::Full => MapAnywhereErrorKind::Full,
    })
}

/// The implementation's `map_fixed` answer in the oracle's terms.
fn fixed_kind(r: Result<Range, MapFixedError>) -> Result<(u64, u64), MapFixedErrorKind> {
    r.map(|r| (r.start(), r.last())).map_err(|e| match e {
        MapFixedError::ZeroLength => MapFixedErrorKind::ZeroLength,
        MapFixedError::Wraps => MapFixedErrorKind::Wraps,
        MapFixedError::OutOfBounds => MapFixedErrorKind::OutOfBounds,
        MapFixedError::Overlap { existing } => MapFixedErrorKind::Overlap {
            start: existing.start(),
            last: existing.last(),
        },
        MapFixedError::Full => MapFixedErrorKind::Full,
    })
}

/// An entry as the model holds it: `(start, last, tag)`.
fn entry_tuple(e: &Entry) -> (u64, u64, u64) {
    (e.range.start(), e.range.last(), e.tag)
}

/// The implementation's `unmap` answer (the entries removed) in the oracle's terms.
fn unmap_kind(r: Result<Vec<Entry>, UnmapError>) -> Result<Vec<(u64, u64, u64)>, UnmapErrorKind> {
    r.map(|v| v.iter().map(entry_tuple).collect())
        .map_err(|e| match e {
            UnmapError::ZeroLength => UnmapErrorKind::ZeroLength,
            UnmapError::Wraps => UnmapErrorKind::Wraps,
            UnmapError::OutOfBounds => UnmapErrorKind::OutOfBounds,
            UnmapError::NotMapped => UnmapErrorKind::NotMapped,
            UnmapError::Partial { entry } => UnmapErrorKind::Partial {
                start: entry.start(),
                last: entry.last(),
            },
        })
}

/// Steps a [`VmMap`] through a scenario with the oracle (see [`drive`]).
///
/// [`drive`]: crate::harness::drive::drive
pub(super) struct Executor {
    /// The implementation.
    map: VmMap,
    /// The model: the map the implementation must equal after every op.
    pub(super) model: MapModel,
    /// The address space.
    pub(super) arch: Arch,
    /// The scenario's unit (the size of a selector's missing entry or gap).
    unit: u64,
    /// Index of the next op (it becomes the tag of what the op maps).
    next_index: usize,
    /// What the ops did so far.
    stats: Stats,
}

impl Machine for Executor {
    type Op = Op;

    fn step(&mut self, op: &Op) -> Result<String, Mismatch> {
        let index = self.next_index;
        self.next_index += 1;
        self.execute_op(index, op)
    }

    fn check_invariants(&self) -> Result<(), BrokenInvariant> {
        self.map
            .check_invariants()
            .map_err(|e| BrokenInvariant::new(invariant_name(&e), format!("{e:x?}")))
    }

    fn compare_state(&self) -> Result<(), StateDiff> {
        self.compare_entries()
    }

    fn stats(&self) -> Stats {
        self.stats
    }

    fn summary(&self) -> String {
        format!("{} entries at the end", self.map.len())
    }

    fn address_map(&self) -> AddressMap {
        let bounds = self.map.bounds();
        let have: Vec<(u64, u64)> = self
            .map
            .entries()
            .map(|e| (e.range.start(), e.range.last()))
            .collect();
        let want = self.model.ranges();
        let side = |first: u64, last: u64, entries: &[(u64, u64)]| {
            let mut v: Vec<Option<Band>> = entries
                .iter()
                .map(|&(s, l)| Band::new(s, l, Shade::Live))
                .collect();
            v.extend(free_between(first, last, entries));
            v
        };
        AddressMap::new(vec![
            Layer::new(
                "bounds",
                [Band::new(bounds.start(), bounds.last(), Shade::Span)],
                [Band::new(self.model.min, self.model.max, Shade::Span)],
            ),
            Layer::new(
                "entries and gaps",
                side(bounds.start(), bounds.last(), &have),
                side(self.model.min, self.model.max, &want),
            ),
        ])
    }

    /// Segment sharing of inputs derived from the final entries ([`sharing`]).
    fn finish(&mut self) -> Result<Option<String>, Mismatch> {
        sharing::judge(self.arch, &self.model).map(Some)
    }
}

impl Executor {
    /// Counts an op's answer in the stats.
    fn count<T, E: std::fmt::Debug + 'static>(&mut self, r: &Result<T, E>) {
        self.stats.count_result(r);
    }

    /// Entry `index` modulo the count (in the model's address order).
    fn entry(&self, index: u16) -> Option<(u64, u64, u64)> {
        let v = self.model.sorted();
        (!v.is_empty()).then(|| v[usize::from(index) % v.len()])
    }

    /// Gap `index` modulo the gap count, from the implementation's gap list (which the
    /// invariant check has compared with the entries after the previous op).
    fn gap(&self, index: u16) -> Option<Range> {
        let g = self.map.gaps();
        (!g.is_empty()).then(|| g[usize::from(index) % g.len()])
    }

    /// The length `sel` selects now.
    fn length(&self, sel: LenSel) -> u64 {
        match sel {
            LenSel::Raw(v) => v,
            LenSel::Gap { index, delta } => self
                .gap(index)
                .map_or(self.unit, |g| g.size())
                .wrapping_add(delta),
            LenSel::Entry { index, delta } => self
                .entry(index)
                .map_or(self.unit, |(s, l, _)| (l - s).wrapping_add(1))
                .wrapping_add(delta),
        }
    }

    /// The address `sel` selects now for a block of `length` bytes.
    fn addr(&self, sel: AddrSel, length: u64) -> u64 {
        let (base, offset) = match sel {
            AddrSel::Raw(a) => return a,
            AddrSel::Rel { base, offset } => (base, offset),
        };
        let min = self.model.min;
        let b = match base {
            AddrBase::EntryStart(i) => self.entry(i).map_or(min, |e| e.0),
            AddrBase::EntryEnd(i) => self.entry(i).map_or(min, |e| e.1.wrapping_add(1)),
            AddrBase::GapStart(i) => self.gap(i).map_or(min, |g| g.start()),
            AddrBase::GapEndFit(i) => self
                .gap(i)
                .map_or(min, |g| g.last().wrapping_add(1).wrapping_sub(length)),
            AddrBase::Min => min,
            AddrBase::MaxFit => self.model.max.wrapping_add(1).wrapping_sub(length),
        };
        b.wrapping_add(offset)
    }

    /// Executes one op and judges it; returns the outcome text for the trace.
    fn execute_op(&mut self, index: usize, op: &Op) -> Result<String, Mismatch> {
        let tag = index as u64;
        match *op {
            Op::Findspace {
                start,
                length,
                align,
            } => {
                let length = self.length(length);
                let start = self.addr(start, length);
                let expected = self.oracle_findspace(start, length, align);
                let actual = fs_kind(self.map.findspace(start, length, align));
                self.count(&actual);
                let s = strategy_name(self.map.strategy());
                if expected != actual {
                    return Err(Mismatch::values(
                        format!("findspace {s}"),
                        format!("(start {start:#x}, length {length:#x}, align {align:#x})"),
                        &expected,
                        &actual,
                    ));
                }
                Ok(outcome!(
                    "({start:#x}, {length:#x}, {align:#x}) {s}: {actual:x?}"
                ))
            }
            Op::Differential {
                start,
                length,
                align,
            } => {
                let length = self.length(length);
                let start = self.addr(start, length);
                let lin = fs_kind(
                    self.map
                        .findspace_with(Strategy::Linear, start, length, align),
                );
                let gap =
                    fs_kind(
                        self.map
                            .findspace_with(Strategy::GapIndex, start, length, align),
                    );
                self.count(&lin);
                if lin != gap {
                    // The linear scan is the reference the gap index must agree with.
                    let (lin, gap) = (Claim::value(&lin), Claim::value(&gap));
                    return Err(Mismatch::new(
                        "findspace gapindex vs linear",
                        format!("(start {start:#x}, length {length:#x}, align {align:#x})"),
                        Claim::new(lin.kind, format!("{} (linear)", lin.text)),
                        Claim::new(gap.kind, format!("{} (gapindex)", gap.text)),
                    ));
                }
                let expected = self.oracle_findspace(start, length, align);
                if expected != lin {
                    return Err(Mismatch::values(
                        "findspace both",
                        format!("(start {start:#x}, length {length:#x}, align {align:#x})"),
                        &expected,
                        &lin,
                    ));
                }
                Ok(outcome!(
                    "({start:#x}, {length:#x}, {align:#x}) both: {lin:x?}"
                ))
            }
            Op::MapAnywhere { length, align } => {
                let length = self.length(length);
                let actual = any_kind(self.map.map_anywhere(length, align, tag));
                self.count(&actual);
                let expected = self.model.map_anywhere(length, align, tag);
                if expected != actual {
                    return Err(Mismatch::values(
                        "map_anywhere",
                        format!("(length {length:#x}, align {align:#x})"),
                        &expected,
                        &actual,
                    ));
                }
                Ok(outcome!("({length:#x}, {align:#x}): {actual:x?}"))
            }
            Op::MapAnywhereFrom {
                start,
                length,
                align,
            } => {
                let length = self.length(length);
                let start = self.addr(start, length);
                let actual = any_kind(self.map.map_anywhere_from(start, length, align, tag));
                self.count(&actual);
                let expected = self.model.map_anywhere_from(start, length, align, tag);
                if expected != actual {
                    return Err(Mismatch::values(
                        "map_anywhere_from",
                        format!("(start {start:#x}, length {length:#x}, align {align:#x})"),
                        &expected,
                        &actual,
                    ));
                }
                Ok(outcome!(
                    "({start:#x}, {length:#x}, {align:#x}): {actual:x?}"
                ))
            }
            Op::MapFixed { addr, length } => {
                let length = self.length(length);
                let addr = self.addr(addr, length);
                self.map_fixed(addr, length, tag)
            }
            Op::UnmapEntry { handle } => match self.entry(handle) {
                None => Ok("no entries".into()),
                Some((s, l, _)) => self.unmap(s, (l - s).wrapping_add(1)),
            },
            Op::UnmapEntries { first, count } => {
                let v = self.model.sorted();
                if v.is_empty() {
                    return Ok("no entries".into());
                }
                let i = usize::from(first) % v.len();
                let j = (i + usize::from(count)).min(v.len() - 1);
                self.unmap(v[i].0, (v[j].1 - v[i].0).wrapping_add(1))
            }
            Op::Unmap { addr, length } => {
                let length = self.length(length);
                let addr = self.addr(addr, length);
                self.unmap(addr, length)
            }
        }
    }

    /// The oracle's findspace answer on the model's entries.
    fn oracle_findspace(
        &self,
        start: u64,
        length: u64,
        align: u64,
    ) -> Result<u64, FindspaceErrorKind> {
        let m = &self.model;
        oracle_findspace(m.min, m.max, &m.ranges(), start, length, align)
    }

    /// `map_fixed` on the map and the model, judged.
    fn map_fixed(&mut self, addr: u64, length: u64, tag: u64) -> Result<String, Mismatch> {
        let actual = fixed_kind(self.map.map_fixed(addr, length, tag));
        self.count(&actual);
        let expected = self.model.map_fixed(addr, length, tag);
        if expected != actual {
            return Err(Mismatch::values(
                "map_fixed",
                format!("(addr {addr:#x}, length {length:#x})"),
                &expected,
                &actual,
            ));
        }
        Ok(outcome!("({addr:#x}, {length:#x}): {actual:x?}"))
    }

    /// `unmap` on the map and the model, judged.
    fn unmap(&mut self, addr: u64, length: u64) -> Result<String, Mismatch> {
        let actual = unmap_kind(self.map.unmap(addr, length));
        self.count(&actual);
        let expected = self.model.unmap(addr, length);
        if expected != actual {
            return Err(Mismatch::values(
                "unmap",
                format!("(addr {addr:#x}, length {length:#x})"),
                &expected,
                &actual,
            ));
        }
        Ok(outcome!("({addr:#x}, {length:#x}): {actual:x?}"))
    }

    /// The map's entries (ranges and tags) equal the model's.
    fn compare_entries(&self) -> Result<(), StateDiff> {
        let have: Vec<(u64, u64, u64)> = self.map.entries().map(|e| entry_tuple(&e)).collect();
        let want = self.model.sorted();
        if have != want {
            let i = have
                .iter()
                .zip(&want)
                .position(|(a, b)| a != b)
                .unwrap_or(have.len().min(want.len()));
            return Err(StateDiff::new(
                "entries",
                format!("#{i} {:x?} of {} entries", have.get(i), have.len()),
                format!("#{i} {:x?} of {} entries", want.get(i), want.len()),
            ));
        }
        let st = self.map.stats();
        let have = (
            st.entries,
            st.gaps,
            u128::from(st.mapped_bytes),
            u128::from(st.free_bytes),
            u128::from(st.largest_gap),
        );
        let want = self.model.occupancy();
        if have != want {
            return Err(StateDiff::new(
                "stats (entries, gaps, mapped, free, largest gap)",
                format!("{have:x?}"),
                format!("{want:x?}"),
            ));
        }
        Ok(())
    }
}

/// The invariant's short name (module comment of [`crate::vmmap`], section 5).
fn invariant_name(e: &crate::vmmap::InvariantError) -> &'static str {
    use crate::vmmap::InvariantError as I;
    match e {
        I::KeyMismatch { .. } => "I1 keys",
        I::Overlap { .. } => "I2 order",
        I::OutOfBounds { .. } => "I3 bounds",
        I::GapMismatch { .. } => "I4 gaps",
        I::GapTree(_) => "I5 augment",
        I::TooManyEntries { .. } | I::MappedBytes { .. } => "I6 accounting",
    }
}
