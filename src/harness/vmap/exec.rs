//! Execution of a vmap scenario: one [`VmapSpace`] per search strategy, stepped side by side
//! with the oracle's [`VmapModel`]. Every op runs on all three spaces and on the model; each
//! space's answer (and the purge it reports) is judged against the model's, so the strategies
//! agree with each other because each agrees with the contract. After every op each space's
//! `check_invariants()` runs and its areas, lazy pages and counters are compared with the
//! model's.
//!
//! The mmu layer: when some paging mode holds the space in its kernel half
//! ([`Scenario::arch`]), the Tree strategy's space is the one inside a [`Vmalloc`] over an
//! MMU with the scenario's CPUs; the Walk and Cache spaces stay plain (their answers are the
//! same addresses, so mapping them too would triple the page-table work and check nothing
//! new). Then `alloc` reserves on it (no page mapped), `free` vfrees, `vmalloc` maps, and
//! every access is judged by [`Pages`] (`pages.rs`); `check_invariants()` is the Vmalloc's
//! (mapped pages are exactly the busy areas', no guard page mapped). A vmalloc the data
//! frames cannot back is predicted (`OutOfFrames`, nothing changed anywhere: the plain
//! spaces do not run it). Without a paging mode, all three spaces are plain and `access`
//! does nothing.

use kvafuzz_oracles::vmap::{
    self as ov, AllocErrorKind, AreaState as OAreaState, FillOutcome, FreeErrorKind, PurgeRecord,
    VmapModel,
};

use super::pages::Pages;
use super::scenario::{AccessSel, AddrSel, Op, Scenario, WindowSel, CASE_TLB_ENTRIES};
use super::VmapTarget;
use crate::addr::PAGE_SIZE;
use crate::harness::drive::{drive, Machine};
use crate::harness::finding::variant_path;
use crate::harness::map::{AddressMap, Layer};
use crate::harness::{
    BrokenInvariant, BugSet, Claim, Finding, FindingKind, Mismatch, StateDiff, Stats, Target,
};
use crate::mmu::{AccessKind, MmuConfig, MAX_FRAMES};
use crate::outcome;
use crate::vmap::{
    AllocError, AreaState, FreeError, Purge, Strategy, VfreeError, Vmalloc, VmallocConfig,
    VmallocError, VmapConfig, VmapRequest, VmapSpace, ALL_STRATEGIES,
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
    let mapped = match (s.arch(), &model) {
        (Some(arch), Ok(_)) => {
            let made = Vmalloc::new(VmallocConfig {
                space: cfg,
                strategy: Strategy::Tree,
                arch,
                mmu: MmuConfig {
                    frames: MAX_FRAMES,
                    cpus: u32::from(s.cpus),
                    tlb_entries: CASE_TLB_ENTRIES,
                },
                frames: u32::from(s.frames),
            });
            match made {
                Ok(vm) => {
                    #[cfg(feature = "seeded-bugs")]
                    let vm = {
                        let mut vm = vm;
                        vm.set_bugs(bugs);
                        vm
                    };
                    spaces.retain(|sp| sp.strategy() != Strategy::Tree);
                    Some(Mapped {
                        vm,
                        pages: Pages::new(arch, s.cpus, u64::from(s.frames)),
                    })
                }
                Err(e) => {
                    return Err(Finding {
                        target: VmapTarget::NAME,
                        op_index: None,
                        op: "new".into(),
                        kind: FindingKind::Oracle(Mismatch::values(
                            format!("new vmalloc {arch}"),
                            format!("[{:#x}, {:#x}] frames {}", s.start, s.last, s.frames),
                            &Ok::<(), ()>(()),
                            &Err::<(), _>(e),
                        )),
                    })
                }
            }
        }
        _ => None,
    };
    let model = match model {
        Ok(model) => model,
        Err(e) => {
            if let Some(t) = trace {
                t.push_str("  new -> Err(BadRange) (predicted); no op runs\n");
            }
            return Ok(Stats::refused(&e));
        }
    };
    let mut executor = Executor {
        model,
        spaces,
        mapped,
        live: Vec::new(),
        vlive: Vec::new(),
        changed: true,
        stats: Stats::default(),
    };
    drive(VmapTarget::NAME, &mut executor, &s.ops, trace)
}

/// The spaces (one per strategy, in [`ALL_STRATEGIES`] order; the Tree's inside the
/// Vmalloc when there is an mmu layer), the model, and the busy areas ops name by handle.
struct Executor {
    model: VmapModel,
    /// The plain spaces.
    spaces: Vec<VmapSpace>,
    /// The mmu layer (the Tree strategy's space) and its page-level judge.
    mapped: Option<Mapped>,
    /// Starts of the busy areas, oldest first.
    live: Vec<u64>,
    /// Starts of the vmalloc'd busy areas, oldest first.
    vlive: Vec<u64>,
    /// The current op may have changed the vmalloc layer's tables, book or frames: its
    /// `check_invariants()` (a walk of the tables) runs only then. An access changes only
    /// TLBs and A/D bits, a refused op nothing (the state comparison still runs after every
    /// op, and the next change checks everything again).
    changed: bool,
    stats: Stats,
}

/// The vmalloc layer and the page-level facts it is judged with.
struct Mapped {
    vm: Vmalloc,
    pages: Pages,
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

/// One space's run of a fill (`alloc` makes one allocation and takes its purge) against
/// the model's outcome: the same answers in the same order, the purge at the same one.
fn fill_one<S>(
    expected: &FillOutcome,
    args: &dyn Fn(usize) -> String,
    name: &str,
    count: usize,
    mut alloc: impl FnMut(&mut S) -> (Result<u64, AllocErrorKind>, Option<PurgeRecord>),
    space: &mut S,
) -> Result<(), Mismatch> {
    for i in 0..count {
        let (actual, purge) = alloc(space);
        let want = match expected.placed.get(i) {
            Some(&addr) => Ok(addr),
            None => Err(expected.error.unwrap_or(AllocErrorKind::NoSpace)),
        };
        if actual != want {
            return Err(Mismatch::values(
                format!("fill {name}"),
                args(i),
                &want,
                &actual,
            ));
        }
        let want_purge = expected.purge.filter(|&(at, _)| at == i).map(|(_, p)| p);
        ov::judge_purge(want_purge, purge).map_err(|v| {
            from_verdict(
                format!("fill {name} purge"),
                args(i),
                Claim::value(&want_purge),
                v,
            )
        })?;
        if actual.is_err() {
            break;
        }
    }
    Ok(())
}

impl Executor {
    fn count<T, E: std::fmt::Debug + 'static>(&mut self, r: &Result<T, E>) {
        self.stats.count_result(r);
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

    /// The start and size (bytes) of the model's area starting at `start` (size 0 if none).
    fn area_size(&self, start: u64) -> u64 {
        match self.model.area_at(start) {
            Some((a, _)) if a.start == start => a.size,
            _ => 0,
        }
    }

    /// The address an access names.
    fn access_addr(&self, a: AccessSel) -> u64 {
        let pick = |list: &[u64], i: usize| list.get(i % list.len().max(1)).copied();
        let lazy = || -> Vec<(u64, u64)> {
            self.model
                .areas()
                .iter()
                .filter(|a| a.state == OAreaState::Lazy)
                .map(|a| (a.start, a.size))
                .collect()
        };
        let in_area = |start: u64, size: u64, page: u8| {
            let pages = (size / PAGE_SIZE).max(1);
            start.wrapping_add(u64::from(page) % pages * PAGE_SIZE)
        };
        match a {
            AccessSel::Live { handle, page, off } => match pick(&self.live, handle.into()) {
                Some(start) => {
                    in_area(start, self.area_size(start), page).wrapping_add(u64::from(off) * 8)
                }
                None => self.model.start(),
            },
            AccessSel::Guard { handle } => match pick(&self.live, handle.into()) {
                Some(start) => start.wrapping_add(self.area_size(start)),
                None => self.model.start(),
            },
            AccessSel::Lazy { index, page } => {
                let lazy = lazy();
                match lazy.get(usize::from(index) % lazy.len().max(1)) {
                    Some(&(start, size)) => in_area(start, size, page),
                    None => self.model.start(),
                }
            }
            AccessSel::Freed { index } => self
                .mapped
                .as_ref()
                .and_then(|m| m.pages.freed(index))
                .unwrap_or(self.model.start()),
            AccessSel::Raw(a) => a,
        }
    }

    /// Each space's purge for this op against the model's; then, with an mmu layer, the
    /// purge's page-level consequences.
    fn judge_purges(
        &mut self,
        check: &str,
        args: impl Fn() -> String,
        expected: Option<PurgeRecord>,
    ) -> Result<(), Mismatch> {
        let judge = |name: &str, actual: Option<Purge>| {
            let actual = actual.map(record);
            ov::judge_purge(expected, actual).map_err(|v| {
                from_verdict(
                    format!("{check} {name} purge"),
                    args(),
                    Claim::value(&expected),
                    v,
                )
            })
        };
        for space in &mut self.spaces {
            judge(space.strategy().name(), space.take_purge())?;
        }
        if let Some(m) = &mut self.mapped {
            judge("tree (vmalloc)", m.vm.take_purge())?;
            if let Some(p) = expected {
                m.pages.purged(&m.vm, p)?;
            }
        }
        Ok(())
    }

    /// `alloc` on every space (a reservation on the vmalloc layer).
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
        let mut answers = Vec::with_capacity(3);
        for space in &mut self.spaces {
            answers.push((
                space.strategy().name(),
                space.alloc(&req).map_err(alloc_kind),
            ));
        }
        if let Some(m) = &mut self.mapped {
            answers.push(("tree (vmalloc)", m.vm.reserve(&req).map_err(alloc_kind)));
        }
        let answer = self.judge_allocs(&answers, size, align, window, guard, &args)?;
        self.count(&answer);
        let outcome = self.model.alloc(size, align, window, guard);
        self.changed = answer.is_ok() || outcome.purge.is_some();
        self.judge_purges("alloc", args, outcome.purge)?;
        if let Ok(addr) = answer {
            self.live.push(addr);
            self.fresh(addr, size, guard)?;
        }
        Ok(match outcome.purge {
            Some(p) => outcome!("{answer:x?} (after a purge of {p:x?})"),
            None => outcome!("{answer:x?}"),
        })
    }

    /// `count` allocations of one request on every space, each stopping at its first
    /// failure; every answer and every purge must be the model's [`VmapModel::fill`], in
    /// order (it is [`VmapModel::alloc`]'s, one after the other).
    fn fill(
        &mut self,
        count: u16,
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
        let args = |i: usize| match window {
            Some((s, l)) => {
                format!("#{i} of {count}: size {size:#x} align {align:#x} window [{s:#x}, {l:#x}]")
            }
            None => format!("#{i} of {count}: size {size:#x} align {align:#x}"),
        };
        let expected = self
            .model
            .fill(size, align, window, guard, usize::from(count));
        for space in &mut self.spaces {
            let name = space.strategy().name();
            fill_one(
                &expected,
                &args,
                name,
                usize::from(count),
                |space| {
                    let r = space.alloc(&req).map_err(alloc_kind);
                    (r, space.take_purge().map(record))
                },
                space,
            )?;
        }
        if let Some(m) = &mut self.mapped {
            fill_one(
                &expected,
                &args,
                "tree (vmalloc)",
                usize::from(count),
                |m| {
                    let r = m.vm.reserve(&req).map_err(alloc_kind);
                    (r, m.vm.take_purge().map(record))
                },
                m,
            )?;
            if let Some((_, p)) = expected.purge {
                m.pages.purged(&m.vm, p)?;
            }
        }
        self.changed = !expected.placed.is_empty() || expected.purge.is_some();
        for &addr in &expected.placed {
            self.stats.count(true);
            self.live.push(addr);
            self.fresh(addr, size, guard)?;
        }
        if let Some(e) = &expected.error {
            self.stats.count_error(e);
        }
        Ok(match (expected.purge, expected.error) {
            (None, None) => outcome!("{} placed", expected.placed.len()),
            (None, Some(e)) => outcome!("{} placed, then {e:?}", expected.placed.len()),
            (Some((i, p)), e) => outcome!(
                "{} placed, then {e:?}; #{i} purged {p:x?}",
                expected.placed.len()
            ),
        })
    }

    /// Every space's answer to an allocation, judged by the model; the common answer.
    fn judge_allocs(
        &self,
        answers: &[(&str, Result<u64, AllocErrorKind>)],
        size: u64,
        align: u64,
        window: Option<(u64, u64)>,
        guard: bool,
        args: &dyn Fn() -> String,
    ) -> Result<Result<u64, AllocErrorKind>, Mismatch> {
        let mut answer = Err(AllocErrorKind::NoSpace);
        for &(name, actual) in answers {
            if let Err(v) = self.model.judge_alloc(size, align, window, guard, actual) {
                return Err(from_verdict(
                    format!("alloc {name}"),
                    args(),
                    Claim::value(&self.model.predict_alloc(size, align, window, guard)),
                    v,
                ));
            }
            answer = actual;
        }
        Ok(answer)
    }

    /// A fresh area at `addr`: no CPU holds a TLB entry for any byte of its extent (its
    /// range's previous owners were flushed by the purge that gave it back).
    fn fresh(&self, addr: u64, size: u64, guard: bool) -> Result<(), Mismatch> {
        let Some(m) = &self.mapped else {
            return Ok(());
        };
        let extent = u128::from(self.area_size(addr)) + if guard { 4096 } else { 0 };
        let _ = size;
        let last = u64::try_from(u128::from(addr) + extent.max(1) - 1).unwrap_or(u64::MAX);
        m.pages.no_entries(&m.vm, addr, last, "a fresh area")
    }

    /// `vmalloc` on the vmalloc layer, a plain allocation on the other spaces; predicted
    /// `OutOfFrames` runs on the vmalloc layer only.
    fn vmalloc(&mut self, size: u64, align: u64, guard: bool) -> Result<String, Mismatch> {
        let args = || format!("vmalloc size {size:#x} align {align:#x} guard {guard}");
        let predicted = self.model.predict_alloc(size, align, None, guard);
        if let Some(m) = &mut self.mapped {
            let pages = u128::from(size).div_ceil(u128::from(PAGE_SIZE));
            let arg_error = matches!(
                predicted,
                Err(AllocErrorKind::ZeroSize
                    | AllocErrorKind::BadAlign
                    | AllocErrorKind::BadWindow
                    | AllocErrorKind::SizeWraps)
            );
            if !arg_error && pages > u128::from(m.pages.free_frames()) {
                let got = m.vm.vmalloc(size, align, guard);
                self.stats.count_result(&got);
                self.changed = false;
                if got != Err(VmallocError::OutOfFrames) {
                    return Err(Mismatch::values(
                        "vmalloc tree (vmalloc)",
                        args(),
                        &Err::<u64, _>(VmallocError::OutOfFrames),
                        &got,
                    ));
                }
                return Ok(outcome!("Err(OutOfFrames) ({pages} pages)"));
            }
        }
        let req = VmapRequest {
            size,
            align,
            window: None,
            guard,
        };
        let mut answers = Vec::with_capacity(3);
        for space in &mut self.spaces {
            answers.push((
                space.strategy().name(),
                space.alloc(&req).map_err(alloc_kind),
            ));
        }
        if let Some(m) = &mut self.mapped {
            let got = match m.vm.vmalloc(size, align, guard) {
                Ok(a) => Ok(a),
                Err(VmallocError::Alloc(e)) => Err(alloc_kind(e)),
                Err(e) => {
                    return Err(Mismatch::values(
                        "vmalloc tree (vmalloc)",
                        args(),
                        &predicted,
                        &Err::<u64, _>(e),
                    ))
                }
            };
            answers.push(("tree (vmalloc)", got));
        }
        let answer = self.judge_allocs(&answers, size, align, None, guard, &args)?;
        self.count(&answer);
        let outcome = self.model.alloc(size, align, None, guard);
        self.changed = answer.is_ok() || outcome.purge.is_some();
        self.judge_purges("vmalloc", args, outcome.purge)?;
        if let Ok(addr) = answer {
            self.live.push(addr);
            self.vlive.push(addr);
            let area = self.area_size(addr);
            if let Some(m) = &mut self.mapped {
                let extent = u128::from(area) + if guard { 4096 } else { 0 };
                let last = u64::try_from(u128::from(addr) + extent - 1).unwrap_or(u64::MAX);
                m.pages.vmalloced(&m.vm, addr, area / PAGE_SIZE, last)?;
            }
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
        if let Some(m) = &mut self.mapped {
            let actual = match m.vm.vfree(addr) {
                Ok(()) => Ok(()),
                Err(VfreeError::NotBusy) => Err(FreeErrorKind::NotBusy),
                Err(e) => {
                    return Err(Mismatch::values(
                        "vfree tree (vmalloc)",
                        args(),
                        &expected,
                        &Err::<(), _>(e),
                    ))
                }
            };
            if actual != expected {
                return Err(Mismatch::values(
                    "vfree tree (vmalloc)",
                    args(),
                    &expected,
                    &actual,
                ));
            }
            answer = actual;
            if actual.is_ok() {
                m.pages.vfreed(addr);
            }
        }
        self.count(&answer);
        let outcome = self.model.free(addr);
        self.changed = answer.is_ok();
        self.judge_purges("free", args, outcome.purge)?;
        if answer.is_ok() {
            self.live.retain(|&a| a != addr);
            self.vlive.retain(|&a| a != addr);
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
        if let Some(m) = &mut self.mapped {
            m.vm.purge();
        }
        let expected = self.model.purge();
        self.stats.count(true);
        self.changed = expected.is_some();
        self.judge_purges("purge", String::new, expected)?;
        Ok(outcome!("{expected:x?}"))
    }

    fn access(&mut self, cpu: u8, a: AccessSel, kind: AccessKind) -> Result<String, Mismatch> {
        let addr = self.access_addr(a);
        let Some(m) = &mut self.mapped else {
            return Ok(outcome!("{addr:#x}: no mmu layer"));
        };
        let (text, got) = m.pages.access(&mut m.vm, &self.model, cpu, addr, kind)?;
        self.stats.count_result(&got);
        Ok(text)
    }

    /// One space's state against the model's.
    fn compare(&self, space: &VmapSpace, name: &str) -> Result<(), StateDiff> {
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
        self.changed = !matches!(op, Op::Access { .. });
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
            Op::Vmalloc { size, align, guard } => self.vmalloc(size, align, guard),
            Op::Vfree { handle } => {
                let addr = match self.vlive.len() {
                    0 => self.model.start(),
                    n => self.vlive[usize::from(handle) % n],
                };
                self.free(addr)
            }
            Op::Fill {
                count,
                size,
                align,
                window,
                guard,
            } => self.fill(count, size, align, window, guard),
            Op::Access { cpu, addr, kind } => self.access(cpu, addr, kind),
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
        if let Some(m) = self.mapped.as_ref().filter(|_| self.changed) {
            m.vm.check_layer().map_err(|e| {
                let detail = format!("{e:x?}");
                BrokenInvariant::new(format!("vmalloc {}", variant_path(&detail)), detail)
            })?;
        }
        Ok(())
    }

    fn compare_state(&self) -> Result<(), StateDiff> {
        for s in &self.spaces {
            self.compare(s, s.strategy().name())?;
        }
        if let Some(m) = &self.mapped {
            self.compare(m.vm.space(), "tree (vmalloc)")?;
            if m.vm.free_frames() != m.pages.free_frames() {
                return Err(StateDiff::new(
                    "vmalloc free data frames",
                    m.vm.free_frames().to_string(),
                    m.pages.free_frames().to_string(),
                ));
            }
        }
        Ok(())
    }

    fn stats(&self) -> Stats {
        self.stats
    }

    fn address_map(&self) -> AddressMap {
        let mut layers: Vec<Layer> = self
            .spaces
            .iter()
            .map(|s| super::map::space_layer(s, s.strategy().name(), &self.model))
            .collect();
        if let Some(m) = &self.mapped {
            layers.push(super::map::space_layer(
                m.vm.space(),
                "tree (vmalloc)",
                &self.model,
            ));
            layers.push(super::map::mapped_layer(&m.vm, &m.pages));
        }
        AddressMap::new(layers)
    }

    /// The vmalloc layer's full check once, at the end (the MMU's own structure and the
    /// whole frame pool: too slow after every op, where `check_layer` runs).
    fn finish(&mut self) -> Result<Option<String>, Mismatch> {
        let Some(m) = &self.mapped else {
            return Ok(None);
        };
        match m.vm.check_invariants() {
            Ok(()) => Ok(Some(outcome!(
                "vmalloc check_invariants (mmu, frame pool): Ok"
            ))),
            Err(e) => Err(Mismatch::new(
                "vmalloc check_invariants at the end",
                "",
                Claim::new("Ok", "Ok"),
                Claim::value(&e),
            )),
        }
    }

    fn summary(&self) -> String {
        let st = self.model.stats();
        format!(
            "{} busy, {} lazily freed ({} pages), {} purges; strategies {}{}",
            st.busy,
            st.lazy,
            st.lazy_pages,
            st.purges,
            ALL_STRATEGIES
                .iter()
                .map(|s: &Strategy| s.name())
                .collect::<Vec<_>>()
                .join(", "),
            match &self.mapped {
                Some(m) => format!(
                    "; tree mapped on {} ({} free frames)",
                    m.vm.mmu().arch(),
                    m.vm.free_frames()
                ),
                None => "; no mmu layer".into(),
            }
        )
    }
}
