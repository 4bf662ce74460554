//! Execution of a `vmem` scenario: [`Executor`] steps any [`RangeAllocator`] through the ops
//! beside the interval model and judges every answer ([`Machine`], run by [`drive`]).

use std::cell::RefCell;
use std::fmt::{self, Write as _};

use kvafuzz_oracles::vmem::{
    AllocErrorKind, ArenaModel, ChainModel, Completeness, FreeErrorKind, Mismatch as Verdict,
    Request as ORequest, Space,
};

use super::adapter::{Caps, CountFields, Level, OnViolation, RangeAllocator};
use super::scenario::{AddrSel, Bound, Edge, EdgeAt, Op, Scenario};
use crate::addr::Arch;
use crate::harness::drive::{drive, tracing, Machine};
use crate::harness::finding::variant_path;
use crate::harness::map::AddressMap;
use crate::harness::panics::{catch, QuietScope};
use crate::harness::recent::Recent;
use crate::harness::{BrokenInvariant, Claim, Finding, Mismatch, StateDiff, Stats, Target};
use crate::outcome;
use crate::vmem::{Policy, Request};

/// How many freed allocations are remembered for double frees.
const FREED_MEMORY: usize = 16;

impl Scenario {
    /// Runs this scenario on `alloc`, any [`RangeAllocator`] built for [`Scenario::shape`],
    /// against the interval model, checking after every op (what
    /// [`crate::harness::Case::execute`] does for the production stack).
    pub fn execute_on<A: RangeAllocator>(
        &self,
        alloc: A,
        trace: Option<&mut String>,
    ) -> Result<Stats, Finding> {
        self.execute_named(super::VmemTarget::NAME, alloc, trace)
    }

    /// [`Scenario::execute_on`], its findings naming `target` (a user's adapter target,
    /// [`super::AdapterTarget`]).
    pub fn execute_named<A: RangeAllocator>(
        &self,
        target: &'static str,
        alloc: A,
        trace: Option<&mut String>,
    ) -> Result<Stats, Finding> {
        let space = Space {
            top: self.arch.max_addr(),
            canonical_bits: match self.arch {
                Arch::Ia32 | Arch::Pae => None,
                a => Some(a.va_bits()),
            },
        };
        // One model per level the allocator has (the ops at the others are skipped).
        let shape = self.shape();
        let caps = alloc.caps();
        let depth = shape.depth.min(caps.levels.max(1));
        let model = ChainModel::new(
            shape.levels[..depth]
                .iter()
                .map(|l| {
                    ArenaModel::new(l.quantum, space)
                        .with_import(caps.imports.rule(l.import_quantum))
                        .with_domain(caps.domain)
                        .with_import_completeness(caps.imports_served)
                })
                .collect(),
        );
        let mut executor = Executor::new(alloc, model);
        drive(target, &mut executor, &self.ops, trace)
    }
}

/// A live allocation the scenario can refer to by handle.
#[derive(Clone, Copy, Debug)]
struct Live {
    level: Level,
    addr: u64,
    size: u64,
}

/// Steps any [`RangeAllocator`] through a scenario with the model (see [`drive`]).
pub struct Executor<A: RangeAllocator> {
    alloc: A,
    caps: Caps,
    model: ChainModel,
    live: Vec<Live>,
    freed: Recent<Live, FREED_MEMORY>,
    stats: Stats,
    /// Per level, the spans as of the last check: after each op `contains` is asked at the
    /// edges of every span that came or went since, and of one other span in turn.
    probed: RefCell<Vec<Vec<(u64, u64, bool)>>>,
    /// The documented panic that ended the case ([`OnViolation::Panics`]): the ops after it
    /// are skipped, and the allocator is no longer checked.
    ended: Option<String>,
}

/// Whether `actual` is the outcome `expected`: equal, or (untyped errors) both refusals.
fn agrees<T: PartialEq, E: PartialEq>(
    typed: bool,
    expected: &Result<T, E>,
    actual: &Result<T, E>,
) -> bool {
    expected == actual || (!typed && expected.is_err() && actual.is_err())
}

fn oreq(r: &Request) -> ORequest {
    ORequest {
        size: r.size,
        align: r.align,
        phase: r.phase,
        nocross: r.nocross,
        minaddr: r.minaddr,
        maxaddr: r.maxaddr,
    }
}

impl<A: RangeAllocator> Machine for Executor<A> {
    type Op = Op;

    fn step(&mut self, op: &Op) -> Result<String, Mismatch> {
        if self.ended.is_some() {
            return Ok("skipped (the case ended as documented)".into());
        }
        self.execute_op(op)
    }

    fn check_invariants(&self) -> Result<(), BrokenInvariant> {
        if self.ended.is_some() {
            return Ok(());
        }
        self.alloc
            .check_invariants()
            .map_err(|(invariant, detail)| BrokenInvariant::new(invariant, detail))
    }

    fn compare_state(&self) -> Result<(), StateDiff> {
        if self.ended.is_some() {
            return Ok(());
        }
        self.compare_levels()
    }

    fn stats(&self) -> Stats {
        self.stats
    }

    fn summary(&self) -> String {
        match &self.ended {
            Some(why) => format!("ended as documented: {why}"),
            None => format!("{} live at the end", self.live.len()),
        }
    }

    fn address_map(&self) -> AddressMap {
        super::map::address_map(&self.alloc, &self.model, self.caps.merges_allocations)
    }
}

impl<A: RangeAllocator> Executor<A> {
    /// An executor of `alloc` against `model`, a model per level of `alloc`'s chain (at most
    /// as many as `alloc` has: the ops at deeper levels are skipped).
    pub fn new(alloc: A, model: ChainModel) -> Self {
        Executor {
            caps: alloc.caps(),
            alloc,
            probed: RefCell::new(vec![Vec::new(); model.depth()]),
            model,
            live: Vec::new(),
            freed: Recent::new(),
            stats: Stats::default(),
            ended: None,
        }
    }

    /// Runs `call` on the allocator, which documents a panic for what it is about to be
    /// asked (`why`): a panic ends the case as documented (`Err` with the trace text), an
    /// answer is returned to be judged as usual.
    fn expecting_panic<T>(
        &mut self,
        why: &str,
        call: impl FnOnce(&mut A) -> T,
    ) -> Result<T, String> {
        let alloc = &mut self.alloc;
        // A documented panic is not news: not printed.
        let quiet = QuietScope::new();
        let answer = catch(|| call(alloc));
        drop(quiet);
        match answer {
            Ok(answer) => Ok(answer),
            Err(report) => {
                let text = format!("panicked as documented ({why}): {}", report.message);
                self.ended = Some(why.to_string());
                Err(text)
            }
        }
    }

    /// Whether `level` is modelled (the allocator has it and the scenario asks for it).
    fn has(&self, level: Level) -> bool {
        level.index() < self.model.depth()
    }

    /// The model of `level`.
    fn model_at(&self, level: Level) -> &ArenaModel {
        self.model.level(level.index())
    }

    fn resolve(&self, level: Level, sel: AddrSel) -> u64 {
        match sel {
            AddrSel::Raw(a) => a,
            AddrSel::Live { handle, offset } => {
                let n = self.live.len();
                if n == 0 {
                    offset
                } else {
                    self.live[usize::from(handle) % n].addr.wrapping_add(offset)
                }
            }
            AddrSel::LiveEdge {
                handle,
                end,
                quanta,
            } => match self.live.len() {
                0 => 0,
                n => {
                    let l = &self.live[usize::from(handle) % n];
                    let point = if end { self.end_of(l) } else { l.addr };
                    point.wrapping_add(
                        (i64::from(quanta) as u64).wrapping_mul(self.quantum_of(l.level)),
                    )
                }
            },
            AddrSel::Freed { index } => self.freed.pick(usize::from(index)).map_or(0, |l| l.addr),
            AddrSel::Span { index, offset } => {
                let spans = self.alloc.spans(level);
                if spans.is_empty() {
                    offset
                } else {
                    spans[usize::from(index) % spans.len()]
                        .0
                        .wrapping_add(offset)
                }
            }
        }
    }

    /// The value of request bound `e` now (module [`Edge`]).
    fn resolve_edge(&self, level: Level, e: Edge) -> u64 {
        let point = match e.at {
            EdgeAt::LiveStart(h) | EdgeAt::LiveEnd(h) => match self.live.len() {
                0 => 0,
                n => {
                    let l = &self.live[usize::from(h) % n];
                    match e.at {
                        EdgeAt::LiveStart(_) => l.addr,
                        _ => self.end_of(l),
                    }
                }
            },
            EdgeAt::SpanStart(i) | EdgeAt::SpanEnd(i) => {
                let spans = self.alloc.spans(level);
                match spans.len() {
                    0 => 0,
                    n => {
                        let (start, last, _) = spans[usize::from(i) % n];
                        match e.at {
                            EdgeAt::SpanStart(_) => start,
                            _ => last.wrapping_add(1),
                        }
                    }
                }
            }
        };
        point
            .wrapping_add((i64::from(e.quanta) as u64).wrapping_mul(self.quantum_of(level)))
            .wrapping_add(i64::from(e.byte) as u64)
    }

    /// The quantum of `level` (1 for a level not modelled).
    fn quantum_of(&self, level: Level) -> u64 {
        if self.has(level) {
            self.model_at(level).quantum()
        } else {
            1
        }
    }

    /// What each level from `level` down imported during the op that just ran (`[k]`: level
    /// `level + k`), as `(start, last)`: the allocator's imported spans that the model does
    /// not have yet (the two agreed before the op). The look stops at the first level that
    /// imported nothing (a deeper one cannot have imported for it), and before the deepest,
    /// which has no source (a span appearing there is the state comparison's to find).
    fn imported_by(&self, level: Level) -> Vec<Vec<(u64, u64)>> {
        let mut out = Vec::new();
        for l in Level::first(self.model.depth() - 1).skip(level.index()) {
            let known = self.model_at(l).spans();
            let new: Vec<(u64, u64)> = self
                .alloc
                .spans(l)
                .into_iter()
                .filter(|s| s.2 && !known.contains(s))
                .map(|(s, l, _)| (s, l))
                .collect();
            let cascades = !new.is_empty();
            out.push(new);
            if !cascades {
                break;
            }
        }
        out
    }

    /// One past the last address of live allocation `l` (its size rounded up to its level's
    /// quantum; wrapping at the top).
    fn end_of(&self, l: &Live) -> u64 {
        let q = u128::from(self.quantum_of(l.level));
        let size = u128::from(l.size).div_ceil(q) * q;
        (u128::from(l.addr) + size) as u64
    }

    fn count<T, E: std::fmt::Debug + 'static>(&mut self, r: &Result<T, E>) {
        self.stats.count_result(r);
    }

    /// An allocation at `level` (`plain`: through [`RangeAllocator::alloc_size`], the entry
    /// point for a bare size; else [`RangeAllocator::alloc`] with `req`, whose bound `edge`
    /// replaces, if set), judged by the model.
    fn execute_alloc(
        &mut self,
        level: Level,
        req: Request,
        edge: Option<Edge>,
        policy: Policy,
        plain: bool,
    ) -> Result<String, Mismatch> {
        let caps = self.caps;
        if !self.has(level) {
            return Ok("skipped (no source)".into());
        }
        let Some((fit, claim)) = caps.policies.choose(policy) else {
            return Ok("skipped (no policy)".into());
        };
        let (mut req, dropped) = caps.constraints.mask(&req);
        let mut out = String::new();
        if tracing() {
            if fit != super::adapter::FitPolicy::Vmem(policy) {
                let _ = write!(out, "(as {}: it lacks {}) ", fit.name(), policy.name());
            }
            if !dropped.is_empty() {
                let _ = write!(out, "(without {}) ", dropped.join(", "));
            }
        }
        if let Some(e) = edge.filter(|e| caps.constraints.has_bound(e.bound)) {
            let v = self.resolve_edge(level, e);
            match e.bound {
                Bound::Min => req.minaddr = v,
                Bound::Max => req.maxaddr = v,
            }
            if tracing() {
                let _ = write!(out, "({} {v:#x}) ", e.bound.field());
            }
        }
        let invalid = self.model_at(level).check_request(&oreq(&req)).err();
        let panics = match (invalid, caps.invalid_requests) {
            (Some(k), OnViolation::NotFed) => {
                return Ok(outcome!("{out}skipped (invalid for it: {k:?})"));
            }
            (Some(k), OnViolation::Panics) => Some(format!("an invalid request, {k:?}")),
            _ => None,
        };
        let call = |a: &mut A| {
            if plain {
                a.alloc_size(req.size, fit)
            } else {
                a.alloc(level, &req, fit)
            }
        };
        let actual = match panics {
            Some(why) => match self.expecting_panic(&why, call) {
                Ok(answer) => answer,
                Err(text) => return Ok(out + &text),
            },
            None => call(&mut self.alloc),
        };
        self.count(&actual);
        let imported = self.imported_by(level);
        let opolicy = fit.oracle();
        // An untyped refusal is judged as the error the oracle predicts, or as "no space".
        let judged = match actual {
            Err(_) if !caps.typed_errors => Err(
                match self.model_at(level).predict_alloc(&oreq(&req), opolicy) {
                    Err(k) => k,
                    Ok(_) => AllocErrorKind::NoSpace,
                },
            ),
            a => a,
        };
        if tracing()
            && claim.completeness != Completeness::Full
            && judged == Err(AllocErrorKind::NoSpace)
        {
            if let Ok(p) = self.model_at(level).predict_alloc(&oreq(&req), opolicy) {
                let _ = write!(out, "refused although {p:#x} was free (not complete): ");
            }
        }
        self.model
            .judge_alloc_claiming(
                level.index(),
                &oreq(&req),
                opolicy,
                &imported,
                judged,
                claim,
            )
            .map_err(|v| from_verdict(format!("alloc {level}"), String::new(), v, &actual))?;
        if let Ok(addr) = actual {
            self.live.push(Live {
                level,
                addr,
                size: req.size,
            });
        }
        if !tracing() {
            return Ok(out);
        }
        let _ = write!(out, "{actual:x?}");
        for (l, spans) in Level::first(self.model.depth())
            .skip(level.index())
            .zip(&imported)
        {
            for (s, last) in spans {
                if l == level {
                    let _ = write!(out, " (imported [{s:#x}, {last:#x}])");
                } else {
                    let _ = write!(out, " ({l} imported [{s:#x}, {last:#x}])");
                }
            }
        }
        Ok(out)
    }

    /// Executes one op and judges it; returns the outcome text for the trace.
    fn execute_op(&mut self, op: &Op) -> Result<String, Mismatch> {
        let caps = self.caps;
        match *op {
            Op::AddSpan { level, base, size } => {
                if !self.has(level) {
                    return Ok("skipped (no source)".into());
                }
                if size > caps.max_span {
                    return Ok("skipped (a span larger than it takes)".into());
                }
                // The levels of a chain own disjoint addresses (the caller's contract): a span
                // overlapping another level's spans is not a valid program.
                let last = (u128::from(base) + u128::from(size)).saturating_sub(1);
                let overlapped = Level::first(self.model.depth()).find(|&l| {
                    l != level
                        && size > 0
                        && self.model_at(l).spans().iter().any(|&(s, l, _)| {
                            u128::from(s) <= last && u128::from(base) <= u128::from(l)
                        })
                });
                if let Some(l) = overlapped {
                    return Ok(match self.model.depth() {
                        2 => "skipped (overlaps the other level's spans)".into(),
                        _ => format!("skipped (overlaps the {l}'s spans)"),
                    });
                }
                let expected = self.model_at(level).predict_add_span(base, size);
                let actual = self.alloc.add_span(level, base, size);
                self.count(&actual);
                if !agrees(caps.typed_errors, &expected, &actual) {
                    return Err(Mismatch::values(
                        format!("add_span {level}"),
                        format!("{base:#x} size {size:#x}"),
                        &expected,
                        &actual,
                    ));
                }
                if actual.is_ok() {
                    self.model.add_span(level.index(), base, size);
                }
                Ok(outcome!("{actual:x?}"))
            }
            Op::AllocSize { size, policy } => {
                self.execute_alloc(Level::ARENA, Request::size(size), None, policy, true)
            }
            Op::Alloc {
                level,
                req,
                edge,
                policy,
            } => self.execute_alloc(level, req, edge, policy, false),
            Op::AllocAt { addr, size } => {
                if !caps.exact {
                    return Ok("skipped (no exact allocation)".into());
                }
                let addr = self.resolve(Level::ARENA, addr);
                let actual = self.alloc.alloc_at(addr, size);
                self.count(&actual);
                let expected = self.model_at(Level::ARENA).predict_alloc_at(addr, size);
                let judged = match (actual, expected) {
                    // Untyped: an error where one is due is that error.
                    (Err(_), Err(k)) if !caps.typed_errors => Err(k),
                    // Not complete: a refusal of a free range changes nothing.
                    (Err(_), Ok(_)) if !caps.exact_complete => {
                        return Ok(outcome!("at {addr:#x}: {actual:x?} (not complete)"));
                    }
                    (a, _) => a,
                };
                self.model
                    .judge_alloc_at(0, addr, size, judged)
                    .map_err(|v| {
                        let args = format!("{addr:#x} size {size:#x}");
                        from_verdict("alloc_at".into(), args, v, &actual)
                    })?;
                if let Ok(a) = actual {
                    self.live.push(Live {
                        level: Level::ARENA,
                        addr: a,
                        size,
                    });
                }
                Ok(outcome!("at {addr:#x}: {actual:x?}"))
            }
            Op::Free { handle } => {
                if self.live.is_empty() {
                    return Ok("nothing live".into());
                }
                let l = self.live[usize::from(handle) % self.live.len()];
                self.free(l.level, l.addr, l.size)
            }
            Op::GrowSpan { level, span, by } => {
                if !caps.grows || !self.has(level) {
                    return Ok("skipped (no growing)".into());
                }
                // The spans the caller added (imported ones are the level's own).
                let added: Vec<u64> = (self.model_at(level).spans().into_iter())
                    .filter(|s| !s.2)
                    .map(|s| s.0)
                    .collect();
                let start = match added.len() {
                    0 => 0,
                    n => added[usize::from(span) % n],
                };
                let now = (self.model_at(level).spans().into_iter())
                    .find(|s| s.0 == start)
                    .map_or(0, |s| u128::from(s.1 - s.0) + 1);
                if now + u128::from(by) > u128::from(caps.max_span) {
                    return Ok("skipped (a span larger than it takes)".into());
                }
                let expected = self.model_at(level).predict_grow(start, by);
                let actual = self.alloc.grow_span(level, start, by);
                self.count(&actual);
                if !agrees(caps.typed_errors, &expected, &actual) {
                    return Err(Mismatch::values(
                        format!("grow_span {level}"),
                        format!("{start:#x} by {by:#x}"),
                        &expected,
                        &actual,
                    ));
                }
                if actual.is_ok() {
                    self.model.grow(level.index(), start, by);
                }
                Ok(outcome!("span {start:#x}: {actual:x?}"))
            }
            Op::FreeAt { level, addr, size } => {
                if !self.has(level) {
                    return Ok("skipped".into());
                }
                let addr = self.resolve(level, addr);
                // A level's imported spans are its own to release, not the caller's: its
                // source cannot tell them from any other allocation of its own.
                if let Some(above) = level.above() {
                    let spans = self.model_at(above).spans();
                    if spans.iter().any(|&(s, _, imported)| imported && s == addr) {
                        return Ok(outcome!("skipped (span imported by the {above})"));
                    }
                }
                self.free(level, addr, size)
            }
        }
    }

    /// A free of `size` bytes at `addr` at `level`, judged by the model. A contract violation
    /// the allocator does not check ([`super::adapter::Frees`]) is not done; one it panics on
    /// by design is expected to panic. An allocator whose free takes no size frees whatever
    /// is allocated there, and is held to exactly that many bytes.
    fn free(&mut self, level: Level, addr: u64, size: u64) -> Result<String, Mismatch> {
        let frees = self.caps.frees;
        let model = self.model_at(level);
        let expected = if frees.takes_size {
            model.predict_free(addr, size)
        } else {
            model
                .live_at(addr)
                .map(|_| ())
                .ok_or(FreeErrorKind::BadFree)
        };
        // The contract violations of this free: its address, and its size where that counts.
        let held = model.live_at(addr);
        // A free at an address freed before is a double free only while no live allocation
        // covers it: once a later allocation spans it, it is an interior address of that one
        // (a bad address), which an allocator that trusts its caller cannot tell apart.
        let inside_live = model.live().iter().any(|&(s, l)| s <= addr && addr <= l);
        let bad_address = held.is_none().then(|| {
            let freed = self.freed.as_slice().iter();
            if !inside_live && freed.clone().any(|l| l.level == level && l.addr == addr) {
                ("a double free", frees.double_free)
            } else {
                ("a bad address", frees.bad_address)
            }
        });
        let wrong_size = (frees.takes_size
            && matches!(
                model.predict_free(addr, size),
                Err(FreeErrorKind::ZeroSize | FreeErrorKind::WrongSize(_))
            ))
        .then_some(("a wrong size", frees.wrong_size));
        let violations = [bad_address, wrong_size];
        let mut violations = violations.iter().flatten();
        if let Some((what, _)) = violations.clone().find(|v| v.1 == OnViolation::NotFed) {
            return Ok(outcome!("skipped ({what}, which it does not check)"));
        }
        let panics = violations
            .find(|v| v.1 == OnViolation::Panics)
            .map(|&(what, _)| what);
        let holds = held.map(|(s, l)| u128::from(l - s) + 1);
        let before = (!frees.takes_size).then(|| allocated_bytes(&self.alloc.allocated(level)));
        let actual = match panics {
            Some(what) => match self.expecting_panic(what, |a| a.free(level, addr, size)) {
                Ok(answer) => answer,
                Err(text) => return Ok(text),
            },
            None => self.alloc.free(level, addr, size),
        };
        self.count(&actual);
        if !agrees(self.caps.typed_errors, &expected, &actual) {
            return Err(Mismatch::values(
                format!("free {level}"),
                format!("{addr:#x} size {size:#x}"),
                &expected,
                &actual,
            ));
        }
        if let (Some(before), Some(holds), true) = (before, holds, actual.is_ok()) {
            let freed = before.saturating_sub(allocated_bytes(&self.alloc.allocated(level)));
            if freed != holds {
                return Err(Mismatch::new(
                    format!("free {level}"),
                    format!("{addr:#x} (its free takes no size)"),
                    Claim::new(
                        "frees the allocation there",
                        format!("frees {holds:#x} bytes"),
                    ),
                    Claim::new("frees another size", format!("freed {freed:#x} bytes")),
                ));
            }
        }
        if actual.is_ok() {
            self.model.free(level.index(), addr);
            if let Some(i) = self
                .live
                .iter()
                .position(|l| l.level == level && l.addr == addr)
            {
                let l = self.live.remove(i);
                self.freed.push(l);
            }
        }
        Ok(outcome!("free {addr:#x} size {size:#x}: {actual:x?}"))
    }

    /// The allocator's spans and allocations, level by level, equal the model's.
    fn compare_levels(&self) -> Result<(), StateDiff> {
        for level in Level::first(self.model.depth()) {
            let model = self.model_at(level);
            let (s, ms) = (self.alloc.spans(level), model.spans());
            if s != ms {
                return Err(StateDiff::new(
                    format!("{level} spans"),
                    first_difference(&s, &ms),
                    first_difference(&ms, &s),
                ));
            }
            let a = self.alloc.allocated(level);
            let ma = if self.caps.merges_allocations {
                model.live_merged()
            } else {
                model.live()
            };
            if a != ma {
                return Err(StateDiff::new(
                    format!("{level} allocations"),
                    first_difference(&a, &ma),
                    first_difference(&ma, &a),
                ));
            }
            let accounted = allocated_bytes(&a);
            if accounted != model.in_use() || model.total() < accounted {
                return Err(StateDiff::new(
                    format!("{level} accounting"),
                    format!("{accounted:#x} bytes allocated"),
                    format!(
                        "{:#x} bytes allocated of {:#x} in spans",
                        model.in_use(),
                        model.total()
                    ),
                ));
            }
            if let Some(c) = self.alloc.counts(level) {
                // Only the fields it reports; all of them are shown whole.
                let mc = model.counts();
                let fields = self.caps.counts;
                if let Some((field, got, want)) = fields.first_difference(&c, &mc) {
                    let (got, want) = if fields == CountFields::ALL {
                        (format!("{c:x?}"), format!("{mc:x?}"))
                    } else {
                        (format!("{field}: {got}"), format!("{field}: {want}"))
                    };
                    return Err(StateDiff::new(format!("{level} counts"), got, want));
                }
            }
            // Both ends of a span and one past each, where an inclusive/exclusive confusion or
            // a wrapped end shows: of every span that came or went since the last op, and of
            // one other span in turn.
            let mut probed = self.probed.borrow_mut();
            let last = &mut probed[level.index()];
            let mut asked = Vec::new();
            if *last != ms {
                asked = changed_spans(last, &ms);
                last.clone_from(&ms);
            }
            if !ms.is_empty() {
                asked.push(ms[(self.stats.ops % ms.len() as u64) as usize]);
            }
            let probes = asked.into_iter().flat_map(|(s, l, _)| {
                [Some(s), Some(l), s.checked_sub(1), l.checked_add(1)]
                    .into_iter()
                    .flatten()
            });
            for addr in probes {
                if let Some(inside) = self.alloc.contains(level, addr) {
                    if inside != model.contains(addr) {
                        return Err(StateDiff::new(
                            format!("{level} contains"),
                            format!("{inside} for {addr:#x}"),
                            format!("{} for {addr:#x}", !inside),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The interval oracle's verdict on `check` (its name) of `args` as a [`Mismatch`];
/// `actual` is the arena's answer (the verdict does not always carry it). Each verdict
/// names its kind of disagreement: the outcome's variants, the placement rule broken, the
/// policy whose promise was broken, or a bad import.
pub fn from_verdict<T: fmt::Debug>(
    check: String,
    args: String,
    verdict: Verdict,
    actual: &T,
) -> Mismatch {
    let (expected, actual) = match verdict {
        Verdict::Outcome { expected, actual } => (
            Claim::new(variant_path(&expected), expected),
            Claim::new(variant_path(&actual), actual),
        ),
        // The rule names what is wrong with the address the arena returned.
        Verdict::NotAPlacement { addr, why } => (
            Claim::new("a placement", "a placement"),
            Claim::new(why, format!("{addr:#x}, {why}")),
        ),
        Verdict::Incomplete { placement } => (
            Claim::new("a placement", format!("a placement such as {placement:#x}")),
            Claim::value(actual),
        ),
        Verdict::PolicyBroken {
            policy,
            expected,
            actual,
        } => (
            Claim::new(
                format!("what {policy:?} promises"),
                format!("{expected:#x} (what {policy:?} promises)"),
            ),
            Claim::new("another placement", format!("{actual:#x}")),
        ),
        Verdict::BadImport { why } => (
            Claim::new("imports within the contract", "imports within the contract"),
            Claim::new("a bad import", format!("bad import: {why}")),
        ),
    };
    Mismatch::new(check, args, expected, actual)
}

/// The spans in exactly one of `before` and `after` (both sorted by start, disjoint).
pub(super) fn changed_spans(
    before: &[(u64, u64, bool)],
    after: &[(u64, u64, bool)],
) -> Vec<(u64, u64, bool)> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < before.len() || j < after.len() {
        match (before.get(i), after.get(j)) {
            (Some(b), Some(a)) if b == a => {
                i += 1;
                j += 1;
            }
            (Some(b), Some(a)) if b.0 > a.0 => {
                out.push(*a);
                j += 1;
            }
            (Some(b), _) => {
                out.push(*b);
                i += 1;
            }
            (None, Some(a)) => {
                out.push(*a);
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// The bytes `runs` (`(start, last)`) cover.
fn allocated_bytes(runs: &[(u64, u64)]) -> u128 {
    runs.iter().map(|&(s, l)| u128::from(l - s) + 1).sum()
}

/// The first element of `a` that is not in `b`, as text.
fn first_difference<T: PartialEq + fmt::Debug>(a: &[T], b: &[T]) -> String {
    match a.iter().find(|x| !b.contains(x)) {
        Some(x) => format!("{x:x?}"),
        None => format!("({} entries, none extra)", a.len()),
    }
}
