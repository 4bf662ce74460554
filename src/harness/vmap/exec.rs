//! Execution of a vmap scenario: one [`VmapSpace`] per search strategy, stepped side by side
//! with the oracle's [`VmapModel`]. Every op runs on all three spaces and on the model; each
//! space's answer (and the purge it reports) is judged against the model's, so the strategies
//! agree with each other because each agrees with the contract. After every op each space's
//! `check_invariants()` runs and its areas, lazy pages and counters are compared with the
//! model's.

use kvafuzz_oracles::vmap::{
    self as ov, AllocErrorKind, AreaState as OAreaState, FreeErrorKind, PurgeRecord, VmapModel,
};

use super::scenario::{AddrSel, Op, Scenario, WindowSel};
use super::VmapTarget;
use crate::addr::PAGE_SIZE;
use crate::harness::drive::{drive, Machine};
use crate::harness::finding::variant_path;
use crate::harness::{
    BrokenInvariant, BugSet, Claim, Finding, FindingKind, Mismatch, StateDiff, Stats, Target,
};
use crate::outcome;
use crate::vmap::{
    AllocError, AreaState, FreeError, Purge, Strategy, VmapConfig, VmapRequest, VmapSpace,
    ALL_STRATEGIES,
};

/// Builds the spaces and the model, then drives the ops. A space the model refuses to
/// create must be refused by every strategy too (then no op runs).
pub(super) fn execute(
    s: &Scenario,
    bugs: BugSet,
    trace: Option<&mut String>,
) -> Result<Stats, Finding> {
    let cfg = VmapConfig {
        start: s.start,
        last: s.last,
        lazy_max_pages: s.lazy_max_pages,
    };
    let model = VmapModel::new(s.start, s.last, s.lazy_max_pages);
    let mut spaces = Vec::with_capacity(ALL_STRATEGIES.len());
    for strategy in ALL_STRATEGIES {
        let made = VmapSpace::new(cfg, strategy);
        let agrees = made.is_ok() == model.is_ok();
        if !agrees {
            return Err(Finding {
                target: VmapTarget::NAME,
                op_index: None,
                op: "new".into(),
                kind: FindingKind::Oracle(Mismatch::values(
                    format!("new {}", strategy.name()),
                    format!("[{:#x}, {:#x}]", s.start, s.last),
                    &model.as_ref().map(|_| ()),
                    &made.as_ref().map(|_| ()),
                )),
            });
        }
        if let Ok(mut space) = made {
            #[cfg(feature = "seeded-bugs")]
            space.set_bugs(bugs);
            #[cfg(not(feature = "seeded-bugs"))]
            let _ = (&mut space, bugs);
            spaces.push(space);
        }
    }
    let Ok(model) = model else {
        if let Some(t) = trace {
            t.push_str("  new -> Err(BadRange) (predicted); no op runs\n");
        }
        return Ok(Stats {
            ops: 1,
            ok: 0,
            errors: 1,
        });
    };
    let mut executor = Executor {
        model,
        spaces,
        live: Vec::new(),
        stats: Stats::default(),
    };
    drive(VmapTarget::NAME, &mut executor, &s.ops, trace)
}

/// The spaces (one per strategy, in [`ALL_STRATEGIES`] order), the model, and the busy
/// areas ops name by handle.
struct Executor {
    model: VmapModel,
    spaces: Vec<VmapSpace>,
    /// Starts of the busy areas, oldest first.
    live: Vec<u64>,
    stats: Stats,
}

/// The oracle's name for an allocation error.
fn alloc_kind(e: AllocError) -> AllocErrorKind {
    match e {
        AllocError::ZeroSize => AllocErrorKind::ZeroSize,
        AllocError::BadAlign => AllocErrorKind::BadAlign,
        AllocError::BadWindow => AllocErrorKind::BadWindow,
        AllocError::SizeWraps => AllocErrorKind::SizeWraps,
        AllocError::NoSpace => AllocErrorKind::NoSpace,
    }
}

/// The oracle's name for a free error.
fn free_kind(e: FreeError) -> FreeErrorKind {
    match e {
        FreeError::NotBusy => FreeErrorKind::NotBusy,
    }
}

/// The oracle's form of a purge report.
fn record(p: Purge) -> PurgeRecord {
    PurgeRecord {
        start: p.start,
        last: p.last,
        areas: p.areas,
        pages: p.pages,
    }
}

/// The oracle's verdict on a strategy's answer as a [`Mismatch`]: the kind of answer the
/// contract requires against the kind of mistake.
fn from_verdict(check: String, args: String, expected: Claim, v: ov::Verdict) -> Mismatch {
    let text = v.to_string();
    let kind = match &v {
        ov::Verdict::PlacedDespiteError { .. } => "an address despite an error".to_string(),
        ov::Verdict::WrongError { actual, .. } => format!("Err({actual:?})"),
        ov::Verdict::ErrorDespitePlacement { actual, .. } => format!("Err({actual:?})"),
        ov::Verdict::Misaligned { .. } => "a misaligned address".into(),
        ov::Verdict::Wraps { .. } => "an area past the top".into(),
        ov::Verdict::OutsideWindow { .. } => "an area outside the window".into(),
        ov::Verdict::Overlaps { part, .. } => format!("an overlap of an area's {part:?}"),
        ov::Verdict::NotLowest { .. } => "not the lowest fit".into(),
        ov::Verdict::WrongFree { .. } => "another free result".into(),
        ov::Verdict::WrongPurge { .. } => "another purge".into(),
    };
    Mismatch::new(check, args, expected, Claim::new(kind, text))
}

impl Executor {
    fn count<T, E>(&mut self, r: &Result<T, E>) {
        self.stats.count(r.is_ok());
    }

    /// `(start, last)` of an op's window. Page counts are taken modulo the space's pages
    /// plus one, so most windows lie inside the space (an empty one, or one running past its
    /// end, is a `BadWindow` the oracle predicts).
    fn window(&self, w: WindowSel) -> Option<(u64, u64)> {
        let (start, last) = (self.model.start(), self.model.last());
        let space_pages = self.model.space_bytes() / u128::from(PAGE_SIZE);
        let bytes = |pages: u8| {
            let pages = u128::from(pages) % (space_pages + 1);
            // At most the space's size, so below 2^64 unless the space is all of it.
            u64::try_from(pages * u128::from(PAGE_SIZE)).unwrap_or(u64::MAX)
        };
        match w {
            WindowSel::Whole => None,
            WindowSel::Pages { from, pages } => {
                let ws = start.wrapping_add(bytes(from));
                Some((ws, ws.wrapping_add(bytes(pages)).wrapping_sub(1)))
            }
            WindowSel::Tail { pages } => {
                Some((last.wrapping_sub(bytes(pages)).wrapping_add(1), last))
            }
            WindowSel::Raw { start, last } => Some((start, last)),
        }
    }

    /// The address a free names.
    fn addr(&self, a: AddrSel) -> u64 {
        match a {
            AddrSel::Live { handle, pages } => {
                let base = if self.live.is_empty() {
                    self.model.start()
                } else {
                    self.live[usize::from(handle) % self.live.len()]
                };
                base.wrapping_add(u64::from(pages) * PAGE_SIZE)
            }
            AddrSel::Lazy { index } => {
                let lazy: Vec<u64> = self
                    .model
                    .areas()
                    .iter()
                    .filter(|a| a.state == OAreaState::Lazy)
                    .map(|a| a.start)
                    .collect();
                if lazy.is_empty() {
                    self.model.start()
                } else {
                    lazy[usize::from(index) % lazy.len()]
                }
            }
            AddrSel::Raw(a) => a,
        }
    }

    /// Each space's purge for this op against the model's.
    fn judge_purges(
        &mut self,
        check: &str,
        args: impl Fn() -> String,
        expected: Option<PurgeRecord>,
    ) -> Result<(), Mismatch> {
        for space in &mut self.spaces {
            let actual = space.take_purge().map(record);
            if let Err(v) = ov::judge_purge(expected, actual) {
                return Err(from_verdict(
                    format!("{check} {} purge", space.strategy().name()),
                    args(),
                    Claim::value(&expected),
                    v,
                ));
            }
        }
        Ok(())
    }

    fn alloc(
        &mut self,
        size: u64,
        align: u64,
        w: WindowSel,
        guard: bool,
    ) -> Result<String, Mismatch> {
        let window = self.window(w);
        let req = VmapRequest {
            size,
            align,
            window,
            guard,
        };
        let args = || match window {
            Some((s, l)) => format!("size {size:#x} align {align:#x} window [{s:#x}, {l:#x}]"),
            None => format!("size {size:#x} align {align:#x}"),
        };
        let expected = self.model.predict_alloc(size, align, window, guard);
        let mut answer = Err(AllocErrorKind::NoSpace);
        for space in &mut self.spaces {
            let actual = space.alloc(&req).map_err(alloc_kind);
            if let Err(v) = self.model.judge_alloc(size, align, window, guard, actual) {
                return Err(from_verdict(
                    format!("alloc {}", space.strategy().name()),
                    args(),
                    Claim::value(&expected),
                    v,
                ));
            }
            answer = actual;
        }
        self.count(&answer);
        let outcome = self.model.alloc(size, align, window, guard);
        self.judge_purges("alloc", args, outcome.purge)?;
        if let Ok(addr) = answer {
            self.live.push(addr);
        }
        Ok(match outcome.purge {
            Some(p) => outcome!("{answer:x?} (after a purge of {p:x?})"),
            None => outcome!("{answer:x?}"),
        })
    }

    fn free(&mut self, addr: u64) -> Result<String, Mismatch> {
        let args = || format!("{addr:#x}");
        let expected = self.model.predict_free(addr);
        let mut answer = Ok(());
        for space in &mut self.spaces {
            let actual = space.free(addr).map_err(free_kind);
            if actual != expected {
                return Err(Mismatch::values(
                    format!("free {}", space.strategy().name()),
                    args(),
                    &expected,
                    &actual,
                ));
            }
            answer = actual;
        }
        self.count(&answer);
        let outcome = self.model.free(addr);
        self.judge_purges("free", args, outcome.purge)?;
        if answer.is_ok() {
            self.live.retain(|&a| a != addr);
        }
        Ok(match outcome.purge {
            Some(p) => outcome!("{addr:#x}: {answer:x?}, purged {p:x?}"),
            None => outcome!("{addr:#x}: {answer:x?}"),
        })
    }

    fn purge(&mut self) -> Result<String, Mismatch> {
        for space in &mut self.spaces {
            space.purge();
        }
        let expected = self.model.purge();
        self.stats.count(true);
        self.judge_purges("purge", String::new, expected)?;
        Ok(outcome!("{expected:x?}"))
    }

    /// One space's state against the model's.
    fn compare(&self, space: &VmapSpace) -> Result<(), StateDiff> {
        let name = space.strategy().name();
        let have: Vec<(u64, u64, bool, bool)> = space
            .areas()
            .map(|a| (a.start, a.size, a.guard, a.state == AreaState::Lazy))
            .collect();
        let want: Vec<(u64, u64, bool, bool)> = self
            .model
            .areas()
            .iter()
            .map(|a| (a.start, a.size, a.guard, a.state == OAreaState::Lazy))
            .collect();
        if have != want {
            let i = have
                .iter()
                .zip(&want)
                .position(|(a, b)| a != b)
                .unwrap_or(have.len().min(want.len()));
            return Err(StateDiff::new(
                format!("{name} areas (start, size, guard, lazy)"),
                format!("#{i} {:x?} of {}", have.get(i), have.len()),
                format!("#{i} {:x?} of {}", want.get(i), want.len()),
            ));
        }
        let st = space.stats();
        let m = self.model.stats();
        let have = (
            st.busy,
            st.lazy,
            u128::from(st.busy_pages),
            st.lazy_pages,
            st.free_bytes,
            st.purges,
        );
        let want = (
            m.busy,
            m.lazy,
            u128::from(m.busy_pages) + u128::from(m.busy_guard_pages),
            m.lazy_pages,
            m.free_bytes,
            m.purges,
        );
        if have != want || space.lazy_pages() != self.model.lazy_pages() {
            return Err(StateDiff::new(
                format!("{name} stats (busy, lazy, busy pages, lazy pages, free bytes, purges)"),
                format!("{have:x?}"),
                format!("{want:x?}"),
            ));
        }
        Ok(())
    }
}

impl Machine for Executor {
    type Op = Op;

    fn step(&mut self, op: &Op) -> Result<String, Mismatch> {
        match *op {
            Op::Alloc {
                size,
                align,
                window,
                guard,
            } => self.alloc(size, align, window, guard),
            Op::Free { handle } => {
                let addr = self.addr(AddrSel::Live { handle, pages: 0 });
                self.free(addr)
            }
            Op::FreeAt { addr } => {
                let addr = self.addr(addr);
                self.free(addr)
            }
            Op::Purge => self.purge(),
        }
    }

    fn check_invariants(&self) -> Result<(), BrokenInvariant> {
        for space in &self.spaces {
            space.check_invariants().map_err(|e| {
                let detail = format!("{e:x?}");
                BrokenInvariant::new(
                    format!("{} {}", space.strategy().name(), variant_path(&detail)),
                    detail,
                )
            })?;
        }
        Ok(())
    }

    fn compare_state(&self) -> Result<(), StateDiff> {
        self.spaces.iter().try_for_each(|s| self.compare(s))
    }

    fn stats(&self) -> Stats {
        self.stats
    }

    fn summary(&self) -> String {
        let st = self.model.stats();
        format!(
            "{} busy, {} lazily freed ({} pages), {} purges; strategies {}",
            st.busy,
            st.lazy,
            st.lazy_pages,
            st.purges,
            ALL_STRATEGIES
                .iter()
                .map(|s: &Strategy| s.name())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}
