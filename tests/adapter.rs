//! Plugging other allocators into the vmem harness ([`run_range_allocator`]), as a user would
//! plug in a third-party one: an `impl RangeAllocator` of a few dozen lines.
//!
//! Three allocators, each on the whole vmem corpus and a fixed batch of generated inputs:
//! - a single arena with no source (the harness skips the source ops and import contracts);
//! - the same arena declaring no optional capability at all, so every skip path of the
//!   executor runs (unconstrained requests, no exact allocation, no checked frees, no policy
//!   contract beyond completeness);
//! - a broken allocator whose free sometimes forgets to free: the harness must find it, and
//!   name the op and what differs;
//! - two that answer `contains` or report their counters wrongly: the harness must find them;
//! - a third-party crate, buddy_system_allocator's `FrameAllocator`, unchanged: no constraints,
//!   no policies, no checked frees, untyped errors, and not complete (it rounds every size up
//!   to a power of two). The harness holds it to what it does offer.

use buddy_system_allocator::FrameAllocator;
use kvafuzz::addr::Arch;
use kvafuzz::harness::adapter::{
    alloc_error_kind, allocations_of, counts_of, free_error_kind, fuzz_adapter, span_error_kind,
    spans_of, AdapterCampaign, AdapterTarget, Caps, Completeness, FitPolicy, GrowErrorKind,
    Imports, Level, Param, Policies, PolicyClaim, RangeAllocator, VmemStack,
};
use kvafuzz::harness::campaign::generate;
use kvafuzz::harness::vmem::Shape;
use kvafuzz::harness::{run_range_allocator, BugSet, Finding, FindingKind};
use kvafuzz::vmem::{AddSpanError, Arena, Policy, Request, SegmentView};
use kvafuzz_oracles::vmem::{AllocErrorKind, Counts, FreeErrorKind, SpanErrorKind};
use std::collections::BTreeMap;
use std::path::Path;

/// Generated inputs per allocator, on top of the corpus.
const GENERATED: u64 = 3000;

/// Seed of the generated inputs.
const SEED: u64 = 0xada9_7e25;

/// What a [`SingleArena`] says when asked `contains` and for its counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reports {
    /// Nothing: it offers neither.
    Nothing,
    /// What the arena says.
    Truth,
    /// `contains` is false at a span's last address (a bug to be found).
    LastExcluded,
    /// The largest free segment is reported one byte short (a bug to be found).
    LargestFreeShort,
}

/// A vmem arena with no source, claiming `caps`; `forget_every` > 0 makes every n-th
/// successful free return `Ok` without freeing (a bug to be found).
struct SingleArena {
    arena: Arena,
    caps: Caps,
    forget_every: u64,
    frees: u64,
    reports: Reports,
}

impl SingleArena {
    fn build(
        shape: &Shape,
        caps: Caps,
        forget_every: u64,
        reports: Reports,
    ) -> Result<SingleArena, String> {
        let arena: Arena =
            Arena::new("plugged", shape.quantum, Some(shape.arch)).map_err(|e| e.to_string())?;
        Ok(SingleArena {
            arena,
            caps,
            forget_every,
            frees: 0,
            reports,
        })
    }
}

impl RangeAllocator for SingleArena {
    fn caps(&self) -> Caps {
        self.caps
    }

    fn add_span(&mut self, level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        assert_eq!(
            level,
            Level::ARENA,
            "a source op reached an allocator without one"
        );
        self.arena.add_span(base, size).map_err(span_error_kind)
    }

    fn alloc(
        &mut self,
        level: Level,
        req: &Request,
        policy: FitPolicy,
    ) -> Result<u64, AllocErrorKind> {
        assert_eq!(
            level,
            Level::ARENA,
            "a source op reached an allocator without one"
        );
        // Its own policy (when it claims no vmem policy) is vmem's instant fit.
        let policy = match policy {
            FitPolicy::Vmem(p) => p,
            FitPolicy::Own => Policy::InstantFit,
        };
        self.arena.xalloc(req, policy).map_err(alloc_error_kind)
    }

    fn alloc_at(&mut self, addr: u64, size: u64) -> Result<u64, AllocErrorKind> {
        assert!(self.caps.exact, "alloc_at reached an allocator without it");
        self.arena.xalloc_at(addr, size).map_err(alloc_error_kind)
    }

    fn free(&mut self, level: Level, addr: u64, size: u64) -> Result<(), FreeErrorKind> {
        assert_eq!(
            level,
            Level::ARENA,
            "a source op reached an allocator without one"
        );
        if self.forget_every > 0 && self.arena.segments().any(|v| is_allocated_at(&v, addr)) {
            self.frees += 1;
            if self.frees.is_multiple_of(self.forget_every) {
                return Ok(());
            }
        }
        self.arena.free(addr, size).map_err(free_error_kind)
    }

    fn spans(&self, level: Level) -> Vec<(u64, u64, bool)> {
        match level {
            Level::ARENA => spans_of(self.arena.segments()),
            _ => Vec::new(),
        }
    }

    fn allocated(&self, level: Level) -> Vec<(u64, u64)> {
        match level {
            Level::ARENA => allocations_of(self.arena.segments()),
            _ => Vec::new(),
        }
    }

    fn check_invariants(&self) -> Result<(), (String, String)> {
        self.arena
            .check_invariants()
            .map_err(|e| (e.invariant.to_string(), e.detail))
    }

    fn contains(&self, level: Level, addr: u64) -> Option<bool> {
        let inside = level == Level::ARENA && self.arena.contains(addr);
        match self.reports {
            Reports::Nothing => None,
            Reports::LastExcluded => Some(inside && self.arena.contains(addr.wrapping_add(1))),
            Reports::Truth | Reports::LargestFreeShort => Some(inside),
        }
    }

    fn counts(&self, level: Level) -> Option<Counts> {
        let counts = match level {
            Level::ARENA => counts_of(&self.arena.stats()),
            _ => Counts::default(),
        };
        match self.reports {
            Reports::Nothing => None,
            Reports::LargestFreeShort => Some(Counts {
                largest_free: counts.largest_free.saturating_sub(1),
                ..counts
            }),
            Reports::Truth | Reports::LastExcluded => Some(counts),
        }
    }
}

/// The production stack (the scenario's chain) that refuses every third allocation from
/// the arena it could serve (it serves it, then gives it back, with any span imported for
/// it): an incomplete allocator with imports.
struct Refusing {
    stack: VmemStack,
    caps: Caps,
    allocs: u64,
}

impl Refusing {
    fn build(shape: &Shape, complete: bool) -> Result<Refusing, String> {
        Ok(Refusing {
            stack: VmemStack::new(shape, BugSet::NONE)?,
            // Its refusals move the NextFit rotor behind the model's back: no policy contract.
            caps: Caps {
                policies: if complete {
                    Policies::VMEM
                } else {
                    let claim = PolicyClaim::complete_as(Completeness::Unclaimed);
                    Policies {
                        instant_fit: Some(claim),
                        best_fit: Some(claim),
                        first_fit: Some(claim),
                        next_fit: Some(claim),
                        own: None,
                    }
                },
                exact_complete: complete,
                ..Caps::ALL
            },
            allocs: 0,
        })
    }
}

impl RangeAllocator for Refusing {
    fn caps(&self) -> Caps {
        self.caps
    }
    fn add_span(&mut self, level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        self.stack.add_span(level, base, size)
    }
    fn alloc(
        &mut self,
        level: Level,
        req: &Request,
        policy: FitPolicy,
    ) -> Result<u64, AllocErrorKind> {
        let got = self.stack.alloc(level, req, policy)?;
        if level == Level::ARENA {
            self.allocs += 1;
            if self.allocs.is_multiple_of(3) {
                // Give it back (and any span imported for it with it): "no space".
                self.stack
                    .free(level, got, req.size)
                    .expect("frees what it just allocated");
                return Err(AllocErrorKind::NoSpace);
            }
        }
        Ok(got)
    }
    fn alloc_at(&mut self, addr: u64, size: u64) -> Result<u64, AllocErrorKind> {
        self.stack.alloc_at(addr, size)
    }
    fn free(&mut self, level: Level, addr: u64, size: u64) -> Result<(), FreeErrorKind> {
        self.stack.free(level, addr, size)
    }
    fn spans(&self, level: Level) -> Vec<(u64, u64, bool)> {
        self.stack.spans(level)
    }
    fn allocated(&self, level: Level) -> Vec<(u64, u64)> {
        self.stack.allocated(level)
    }
    fn check_invariants(&self) -> Result<(), (String, String)> {
        self.stack.check_invariants()
    }
}

/// Largest buddy order: blocks of up to 2^63 frames, so that a span of the whole 64-bit space
/// is a few dozen blocks (at buddy_system_allocator's default of 33, a span of 2^63 one-byte
/// frames would be 2^31 blocks).
const BUDDY_ORDER: usize = 64;

/// buddy_system_allocator's frame allocator as a range allocator: frames of one quantum, one
/// `FrameAllocator` per span (two touching spans would otherwise merge blocks across their
/// boundary, and a segment never straddles two spans). The crate keeps no record of what it
/// handed out, so this adapter does (for `allocated` and to refuse a bad free rather than
/// corrupt the allocator).
struct Buddy {
    q: u64,
    arch: Arch,
    /// `(start, last, allocator)` per span, in the order added.
    spans: Vec<(u64, u64, FrameAllocator<BUDDY_ORDER>)>,
    /// Live allocations: start -> last, the size asked rounded up to the quantum (the block
    /// behind it is that rounded up to a power of two).
    live: BTreeMap<u64, u64>,
    /// The naive glue (a bug to be found): every span's frames go into the first span's
    /// allocator, whose buddies then merge across touching spans.
    one_allocator: bool,
}

impl Buddy {
    fn build(shape: &Shape) -> Result<Buddy, String> {
        Ok(Buddy {
            q: shape.quantum,
            arch: shape.arch,
            spans: Vec::new(),
            live: BTreeMap::new(),
            one_allocator: false,
        })
    }

    /// The allocator holding the frames of the span at index `i`.
    fn frames(&mut self, i: usize) -> &mut FrameAllocator<BUDDY_ORDER> {
        let i = if self.one_allocator { 0 } else { i };
        &mut self.spans[i].2
    }
}

impl RangeAllocator for Buddy {
    fn caps(&self) -> Caps {
        Caps::NONE
    }

    fn add_span(&mut self, level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        assert_eq!(level, Level::ARENA, "no source");
        // The crate checks nothing (an overlapping range would hand frames out twice): the
        // adapter refuses what the contract refuses.
        let range = self
            .arch
            .check_range(base, size)
            .map_err(|e| span_error_kind(AddSpanError::BadRange(e)))?;
        if !base.is_multiple_of(self.q) || !size.is_multiple_of(self.q) {
            return Err(SpanErrorKind::Misaligned);
        }
        if let Some(&(s, _, _)) = self
            .spans
            .iter()
            .find(|&&(s, l, _)| s <= range.last() && base <= l)
        {
            return Err(SpanErrorKind::Overlaps(s));
        }
        self.spans.push((base, range.last(), FrameAllocator::new()));
        // Frames are half-open `usize` ranges: a span ending at 2^64 - 1 with a one-byte
        // quantum cannot name its end, so its top frame is left out (never handed out).
        let end = (range.last() / self.q).saturating_add(1);
        let first = usize::try_from(base / self.q).unwrap();
        let end = usize::try_from(end).unwrap();
        self.frames(self.spans.len() - 1).add_frame(first, end);
        Ok(())
    }

    fn alloc(
        &mut self,
        level: Level,
        req: &Request,
        _policy: FitPolicy,
    ) -> Result<u64, AllocErrorKind> {
        assert_eq!(level, Level::ARENA, "no source");
        if req.size == 0 {
            // The crate would hand out a frame for 0 (0.next_power_of_two() is 1).
            return Err(AllocErrorKind::ZeroSize);
        }
        let count = req.size.div_ceil(self.q);
        if count > 1 << (BUDDY_ORDER - 1) {
            // Above the largest block; the crate's next_power_of_two would overflow.
            return Err(AllocErrorKind::NoSpace);
        }
        for i in 0..self.spans.len() {
            if let Some(f) = self.frames(i).alloc(count as usize) {
                let start = f as u64 * self.q;
                self.live.insert(start, start + (count * self.q - 1));
                return Ok(start);
            }
        }
        Err(AllocErrorKind::NoSpace)
    }

    fn alloc_at(&mut self, _addr: u64, _size: u64) -> Result<u64, AllocErrorKind> {
        unreachable!("exact allocation reached an allocator without it")
    }

    fn free(&mut self, level: Level, addr: u64, size: u64) -> Result<(), FreeErrorKind> {
        assert_eq!(level, Level::ARENA, "no source");
        let Some(&last) = self.live.get(&addr) else {
            return Err(FreeErrorKind::BadFree);
        };
        let count = size.div_ceil(self.q);
        let end = count
            .checked_mul(self.q)
            .and_then(|bytes| addr.checked_add(bytes - 1));
        if count == 0 || end != Some(last) {
            return Err(FreeErrorKind::WrongSize(last - addr + 1));
        }
        let i = self
            .spans
            .iter()
            .position(|&(s, l, _)| s <= addr && addr <= l)
            .expect("a live allocation lies in a span");
        let frame = (addr / self.q) as usize;
        self.frames(i).dealloc(frame, count as usize);
        self.live.remove(&addr);
        Ok(())
    }

    fn spans(&self, level: Level) -> Vec<(u64, u64, bool)> {
        let mut out: Vec<_> = match level {
            Level::ARENA => self.spans.iter().map(|&(s, l, _)| (s, l, false)).collect(),
            _ => Vec::new(),
        };
        out.sort_unstable();
        out
    }

    fn allocated(&self, level: Level) -> Vec<(u64, u64)> {
        match level {
            Level::ARENA => self.live.iter().map(|(&s, &l)| (s, l)).collect(),
            _ => Vec::new(),
        }
    }

    fn check_invariants(&self) -> Result<(), (String, String)> {
        Ok(())
    }
}

fn is_allocated_at(v: &SegmentView, addr: u64) -> bool {
    matches!(v, SegmentView::Allocated(r) if r.start() == addr)
}

/// Every vmem corpus file, then [`GENERATED`] generated inputs.
fn inputs() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/vmem");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut all: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    all.extend((0..GENERATED).map(|k| generate(SEED, 0, k)));
    all
}

/// Runs every input on an allocator built by `make`: the number of ops executed, or the
/// first finding.
fn run_all<A: RangeAllocator>(
    make: impl Fn(&Shape) -> Result<A, String>,
) -> Result<u64, Box<(usize, Finding)>> {
    Ok(run_all_stats(make)?.0)
}

/// [`run_all`], also counting the ops that succeeded.
fn run_all_stats<A: RangeAllocator>(
    make: impl Fn(&Shape) -> Result<A, String>,
) -> Result<(u64, u64), Box<(usize, Finding)>> {
    let (mut ops, mut ok) = (0, 0);
    for (i, data) in inputs().iter().enumerate() {
        match run_range_allocator(data, &make) {
            Ok(stats) => {
                ops += stats.ops;
                ok += stats.ok;
            }
            Err(f) => return Err(Box::new((i, f))),
        }
    }
    Ok((ops, ok))
}

const ALL: Caps = Caps {
    levels: 1,
    ..Caps::ALL
};

const NONE: Caps = Caps::NONE;

#[test]
fn a_single_arena_without_a_source_passes() {
    let ops = run_all(|s| SingleArena::build(s, ALL, 0, Reports::Truth)).unwrap_or_else(|e| {
        panic!("input {}: {}", e.0, e.1);
    });
    assert!(ops > 10 * GENERATED, "only {ops} ops ran");
}

#[test]
fn an_allocator_claiming_no_capability_passes() {
    let ops = run_all(|s| SingleArena::build(s, NONE, 0, Reports::Nothing)).unwrap_or_else(|e| {
        panic!("input {}: {}", e.0, e.1);
    });
    assert!(ops > 10 * GENERATED, "only {ops} ops ran");
}

/// A third-party crate, plugged in unchanged (the adapter above): everything it hands out is
/// checked (inside one span, overlapping nothing live, of the size asked; spans and
/// allocations equal to the model's after every op).
#[test]
fn buddy_system_allocator_plugged_in_passes() {
    let (ops, ok) = run_all_stats(Buddy::build).unwrap_or_else(|e| {
        panic!("input {}: {}", e.0, e.1);
    });
    assert!(ops > 10 * GENERATED, "only {ops} ops ran");
    assert!(ok > ops / 10, "only {ok} of {ops} ops succeeded");
}

/// An allocator that says it is not complete may refuse anything, also where only an import
/// would have served the request; one that claims completeness is caught refusing.
#[test]
fn an_incomplete_allocator_with_a_source_is_held_only_to_what_it_hands_out() {
    let ops = run_all(|s| Refusing::build(s, false)).unwrap_or_else(|e| {
        panic!("input {}: {}", e.0, e.1);
    });
    assert!(ops > 10 * GENERATED, "only {ops} ops ran");
    let (i, f) = *run_all(|s| Refusing::build(s, true)).expect_err("it claims completeness");
    assert!(matches!(f.kind, FindingKind::Oracle(_)), "input {i}: {f}");
}

/// The naive glue, one `FrameAllocator` for every span, lets buddies merge across two
/// touching spans; the block then handed out straddles them, which the harness finds (on
/// the corpus file `touching-spans-never-merge.bin` at the latest).
#[test]
fn buddy_blocks_straddling_two_spans_are_found() {
    let make = |s: &Shape| {
        Buddy::build(s).map(|b| Buddy {
            one_allocator: true,
            ..b
        })
    };
    let (i, f) = *run_all(make).expect_err("a block straddles two spans");
    assert!(f.op.contains("alloc"), "input {i}: {f}");
    match &f.kind {
        FindingKind::Oracle(m) => {
            assert!(m.actual.kind == "not inside one span", "input {i}: {f}")
        }
        other => panic!("input {i}: not an oracle finding: {other:?}"),
    }
}

#[test]
fn an_allocator_that_forgets_frees_is_found() {
    let (i, f) =
        *run_all(|s| SingleArena::build(s, ALL, 3, Reports::Truth)).expect_err("a forgetful free");
    // Found at the free that was forgotten: the allocator still holds what the model freed.
    assert!(f.op_index.is_some(), "input {i}: {f}");
    assert!(f.op.starts_with("free"), "input {i}: {f}");
    match &f.kind {
        FindingKind::State(d) => assert_eq!(d.what, "arena allocations", "input {i}: {f}"),
        other => panic!("input {i}: not a state finding: {other:?}"),
    }
}

/// A state finding about `what`, at an op.
fn assert_state_finding(i: usize, f: &Finding, what: &str) {
    assert!(f.op_index.is_some(), "input {i}: {f}");
    match &f.kind {
        FindingKind::State(d) => assert_eq!(d.what, what, "input {i}: {f}"),
        other => panic!("input {i}: not a state finding: {other:?}"),
    }
}

#[test]
fn an_allocator_that_misplaces_the_end_of_a_span_is_found() {
    let make = |s: &Shape| SingleArena::build(s, ALL, 0, Reports::LastExcluded);
    let (i, f) = *run_all(make).expect_err("contains is wrong at every span's last address");
    assert_state_finding(i, &f, "arena contains");
}

#[test]
fn an_allocator_that_misreports_its_largest_free_segment_is_found() {
    let make = |s: &Shape| SingleArena::build(s, ALL, 0, Reports::LargestFreeShort);
    let (i, f) = *run_all(make).expect_err("largest_free is one byte short");
    assert_state_finding(i, &f, "arena counts");
}

#[test]
fn a_setup_error_is_a_finding_not_a_panic() {
    let f = run_range_allocator(&generate(SEED, 0, 0), |_| {
        Err::<SingleArena, _>("cannot build this shape".to_string())
    })
    .unwrap_err();
    assert_eq!(f.op_index, None);
    assert_eq!(f.kind, FindingKind::Setup("cannot build this shape".into()));
}

/// The shape handed to `make` is the scenario's.
#[test]
fn the_shape_is_the_scenarios() {
    let mut seen = Vec::new();
    for k in 0..200 {
        let _ = run_range_allocator(&generate(SEED, 1, k), |s: &Shape| {
            seen.push(*s);
            SingleArena::build(s, ALL, 0, Reports::Truth)
        });
    }
    assert!(seen.iter().all(|s| s.quantum.is_power_of_two()));
    assert!(seen.iter().any(|s| s.depth > 1) && seen.iter().any(|s| s.depth == 1));
    assert!(seen.iter().any(|s| s.arch == Arch::Ia32) && seen.iter().any(|s| s.arch != Arch::Ia32));
}

// ---- One capability at a time ------------------------------------------------------------
//
// `Quirky` is a lone vmem arena that breaks vmem's contract in one way (`Quirk`). Each test
// runs it twice: claiming the capability it lacks (the harness must catch it), and declaring
// the limitation (the harness must not report it).

/// The one way a [`Quirky`] arena departs from vmem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quirk {
    /// None: vmem as it is.
    Plain,
    /// Honours alignment and nothing else of a request's constraints.
    AlignOnly,
    /// Honours no constraint at all, alignment included.
    NoConstraints,
    /// Places every request by best fit, whatever policy it is asked for.
    AlwaysBestFit,
    /// Refuses a request unless a free segment of its size rounded up to a power of two
    /// exists (illumos instant fit's documented limit), times `factor`.
    PowerOfTwoRuns {
        /// 1: exactly the documented limit; more: refuses more than it documents.
        factor: u128,
    },
    /// Its free ignores the size it is given (frees the allocation there, whatever its size).
    FreeIgnoresSize,
    /// Its free ignores the size and frees only the allocation's first quantum (keeps the
    /// rest allocated).
    FreesOneQuantum,
    /// Panics on a free where no allocation starts.
    PanicsOnBadFree,
    /// Accepts power-of-two alignments below the quantum (as the quantum).
    SmallAligns,
    /// Panics on a size that is not a multiple of the quantum (it documents them invalid).
    WholeQuantaOnly,
    /// Lists touching allocations as one run.
    MergedListing,
    /// Reports its total and bytes in use only (and the rest as zeros); `in_use` one byte
    /// too many if `wrong`.
    SomeCounts {
        /// Misreport `in_use`.
        wrong: bool,
    },
}

/// A lone vmem arena with a [`Quirk`], claiming `caps`.
struct Quirky {
    arena: Arena,
    caps: Caps,
    quirk: Quirk,
}

impl Quirky {
    fn build(shape: &Shape, caps: Caps, quirk: Quirk) -> Result<Quirky, String> {
        let arena: Arena =
            Arena::new("quirky", shape.quantum, Some(shape.arch)).map_err(|e| e.to_string())?;
        Ok(Quirky {
            arena,
            caps: Caps { levels: 1, ..caps },
            quirk,
        })
    }

    /// The allocation starting at `addr`, as `(start, last)`.
    fn allocation_at(&self, addr: u64) -> Option<(u64, u64)> {
        allocations_of(self.arena.segments())
            .into_iter()
            .find(|&(s, _)| s == addr)
    }
}

impl RangeAllocator for Quirky {
    fn caps(&self) -> Caps {
        self.caps
    }

    fn add_span(&mut self, _level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        self.arena.add_span(base, size).map_err(span_error_kind)
    }

    fn alloc(
        &mut self,
        _level: Level,
        req: &Request,
        policy: FitPolicy,
    ) -> Result<u64, AllocErrorKind> {
        let mut req = *req;
        let mut policy = match policy {
            FitPolicy::Vmem(p) => p,
            FitPolicy::Own => Policy::InstantFit,
        };
        let q = u128::from(self.arena.quantum());
        match self.quirk {
            Quirk::AlignOnly => {
                req = Request {
                    align: req.align,
                    ..Request::size(req.size)
                }
            }
            Quirk::NoConstraints => req = Request::size(req.size),
            Quirk::AlwaysBestFit => policy = Policy::BestFit,
            Quirk::WholeQuantaOnly => {
                assert!(
                    u128::from(req.size) % q == 0,
                    "size {:#x} is not a multiple of the quantum",
                    req.size
                );
            }
            Quirk::SmallAligns if req.align.is_power_of_two() && u128::from(req.align) < q => {
                req.align = 0;
            }
            _ => {}
        }
        let largest = self.arena.stats().largest_free;
        let got = self.arena.xalloc(&req, policy).map_err(alloc_error_kind)?;
        if let Quirk::PowerOfTwoRuns { factor } = self.quirk {
            // Served only if a free segment of the rounded size existed: else given back.
            let need = u128::from(req.size).div_ceil(q) * q;
            if u128::from(largest) < need.next_power_of_two() * factor {
                self.arena
                    .free(got, req.size)
                    .expect("frees what it just allocated");
                return Err(AllocErrorKind::NoSpace);
            }
        }
        Ok(got)
    }

    fn alloc_at(&mut self, addr: u64, size: u64) -> Result<u64, AllocErrorKind> {
        self.arena.xalloc_at(addr, size).map_err(alloc_error_kind)
    }

    fn free(&mut self, _level: Level, addr: u64, size: u64) -> Result<(), FreeErrorKind> {
        let held = self.allocation_at(addr);
        match (self.quirk, held) {
            (Quirk::PanicsOnBadFree, None) => panic!("free of {addr:#x}: nothing allocated there"),
            (Quirk::FreeIgnoresSize | Quirk::FreesOneQuantum, None) => Err(FreeErrorKind::BadFree),
            (Quirk::FreeIgnoresSize, Some((s, l))) => {
                self.arena.free(s, l - s + 1).map_err(free_error_kind)
            }
            (Quirk::FreesOneQuantum, Some((s, l))) => {
                self.arena.free(s, l - s + 1).map_err(free_error_kind)?;
                let q = self.arena.quantum();
                if l - s + 1 > q {
                    self.arena
                        .xalloc_at(s + q, l - s + 1 - q)
                        .expect("the range was just freed");
                }
                Ok(())
            }
            _ => self.arena.free(addr, size).map_err(free_error_kind),
        }
    }

    fn spans(&self, _level: Level) -> Vec<(u64, u64, bool)> {
        spans_of(self.arena.segments())
    }

    fn allocated(&self, _level: Level) -> Vec<(u64, u64)> {
        let runs = allocations_of(self.arena.segments());
        if self.quirk != Quirk::MergedListing {
            return runs;
        }
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (s, l) in runs {
            match merged.last_mut() {
                Some(last) if last.1.checked_add(1) == Some(s) => last.1 = l,
                _ => merged.push((s, l)),
            }
        }
        merged
    }

    fn check_invariants(&self) -> Result<(), (String, String)> {
        self.arena
            .check_invariants()
            .map_err(|e| (e.invariant.to_string(), e.detail))
    }

    fn counts(&self, _level: Level) -> Option<Counts> {
        let c = counts_of(&self.arena.stats());
        match self.quirk {
            Quirk::SomeCounts { wrong } => Some(Counts {
                total: c.total,
                in_use: c.in_use + u128::from(wrong),
                ..Counts::default()
            }),
            _ => Some(c),
        }
    }
}

/// Runs every input on a [`Quirky`] arena claiming `caps`.
fn run_quirky(caps: Caps, quirk: Quirk) -> Result<(u64, u64), Box<(usize, Finding)>> {
    run_all_stats(|s| Quirky::build(s, caps, quirk))
}

/// It passes every input, with `min_ok` ops or more succeeding.
fn passes(caps: Caps, quirk: Quirk, min_ok: u64) {
    let (ops, ok) =
        run_quirky(caps, quirk).unwrap_or_else(|e| panic!("{quirk:?}: input {}: {}", e.0, e.1));
    assert!(ops > 10 * GENERATED, "{quirk:?}: only {ops} ops ran");
    assert!(ok >= min_ok, "{quirk:?}: only {ok} of {ops} ops succeeded");
}

/// It is caught, with an oracle finding whose actual claim is `kind` (or a state finding
/// about `kind`, or a panic if `kind` is "panic").
fn caught(caps: Caps, quirk: Quirk, kind: &str) {
    let (i, f) = *run_quirky(caps, quirk).expect_err("the harness must catch it");
    let what = match &f.kind {
        FindingKind::Oracle(m) => m.actual.kind.clone(),
        FindingKind::State(d) => d.what.clone(),
        FindingKind::Panic(_) => "panic".into(),
        other => format!("{other:?}"),
    };
    assert_eq!(what, kind, "{quirk:?}: input {i}: {f}");
}

/// Vmem's caps on one level, every count reported.
const VMEM: Caps = ALL;

#[test]
fn one_capability_per_constraint() {
    use kvafuzz::harness::adapter::Constraints;
    let align_only = Caps {
        constraints: Constraints::ALIGN,
        ..VMEM
    };
    passes(align_only, Quirk::AlignOnly, 1000);
    // Found where the alignment it does not check was invalid (or not kept).
    caught(align_only, Quirk::NoConstraints, "Ok");
    caught(VMEM, Quirk::AlignOnly, "below minaddr");
}

#[test]
fn a_policy_it_lacks_is_never_requested() {
    let best_fit_only = Caps {
        policies: Policies {
            instant_fit: None,
            best_fit: Some(PolicyClaim::FULL),
            first_fit: None,
            next_fit: None,
            own: None,
        },
        ..VMEM
    };
    passes(best_fit_only, Quirk::AlwaysBestFit, 1000);
    caught(VMEM, Quirk::AlwaysBestFit, "another placement");
}

/// All four policies claiming `claim`.
fn every_policy(claim: PolicyClaim) -> Policies {
    Policies {
        instant_fit: Some(claim),
        best_fit: Some(claim),
        first_fit: Some(claim),
        next_fit: Some(claim),
        own: None,
    }
}

#[test]
fn partial_completeness_is_held_to_what_it_documents() {
    // Its refusals move the NextFit rotor behind the model's back: no policy contract.
    let documented = Caps {
        constraints: kvafuzz::harness::adapter::Constraints::NONE,
        policies: every_policy(PolicyClaim::complete_as(Completeness::PowerOfTwoRun)),
        ..VMEM
    };
    let full = Caps {
        policies: every_policy(PolicyClaim::complete_as(Completeness::Full)),
        ..documented
    };
    passes(documented, Quirk::PowerOfTwoRuns { factor: 1 }, 1000);
    caught(full, Quirk::PowerOfTwoRuns { factor: 1 }, "Err(NoSpace)");
    caught(
        documented,
        Quirk::PowerOfTwoRuns { factor: 4 },
        "Err(NoSpace)",
    );
}

#[test]
fn a_free_that_takes_no_size_is_held_to_the_size_it_frees() {
    use kvafuzz::harness::adapter::Frees;
    let sizeless = Caps {
        frees: Frees {
            takes_size: false,
            ..Frees::CHECKED
        },
        ..VMEM
    };
    passes(sizeless, Quirk::FreeIgnoresSize, 1000);
    caught(sizeless, Quirk::FreesOneQuantum, "frees another size");
}

#[test]
fn bad_addresses_and_wrong_sizes_are_separate_capabilities() {
    use kvafuzz::harness::adapter::{Frees, OnViolation};
    let unchecked_size = Caps {
        frees: Frees {
            wrong_size: OnViolation::NotFed,
            ..Frees::CHECKED
        },
        ..VMEM
    };
    passes(unchecked_size, Quirk::FreeIgnoresSize, 1000);
    caught(VMEM, Quirk::FreeIgnoresSize, "Ok");
}

#[test]
fn a_documented_panic_ends_the_case_and_any_other_is_a_finding() {
    use kvafuzz::harness::adapter::{Frees, OnViolation};
    let panicking = Caps {
        frees: Frees {
            bad_address: OnViolation::Panics,
            double_free: OnViolation::Panics,
            ..Frees::CHECKED
        },
        ..VMEM
    };
    passes(panicking, Quirk::PanicsOnBadFree, 1000);
    caught(VMEM, Quirk::PanicsOnBadFree, "panic");
}

#[test]
fn the_request_domain_is_the_adapters() {
    use kvafuzz::harness::adapter::{AlignRule, Domain};
    let small_aligns = Caps {
        domain: Domain {
            align: AlignRule::PowerOfTwo,
            ..Domain::VMEM
        },
        ..VMEM
    };
    passes(small_aligns, Quirk::SmallAligns, 1000);
    caught(VMEM, Quirk::SmallAligns, "Ok");
    let whole_quanta = Caps {
        domain: Domain {
            unaligned_sizes: false,
            ..Domain::VMEM
        },
        invalid_requests: kvafuzz::harness::adapter::OnViolation::NotFed,
        ..VMEM
    };
    passes(whole_quanta, Quirk::WholeQuantaOnly, 1000);
    caught(VMEM, Quirk::WholeQuantaOnly, "panic");
    // Documented to panic on them: fed, and the panic ends the case as documented.
    let panics_on_them = Caps {
        invalid_requests: kvafuzz::harness::adapter::OnViolation::Panics,
        ..whole_quanta
    };
    passes(panics_on_them, Quirk::WholeQuantaOnly, 1000);
    // Overconstrained requests: vmem refuses some that have a placement; one that looks
    // for a placement instead (here: the production arena answering "no space" where vmem
    // says overconstrained) is held to the placement, so claiming it is caught.
    let looks_for_placements = Caps {
        domain: Domain {
            refuses_overconstrained: false,
            ..Domain::VMEM
        },
        ..VMEM
    };
    caught(looks_for_placements, Quirk::Plain, "Overconstrained");
}

#[test]
fn counts_are_compared_field_by_field() {
    use kvafuzz::harness::adapter::CountFields;
    let some = Caps {
        counts: CountFields {
            total: true,
            in_use: true,
            ..CountFields::NONE
        },
        ..VMEM
    };
    passes(some, Quirk::SomeCounts { wrong: false }, 1000);
    caught(some, Quirk::SomeCounts { wrong: true }, "arena counts");
    caught(VMEM, Quirk::SomeCounts { wrong: false }, "arena counts");
}

#[test]
fn merged_listings_are_compared_with_merged_runs() {
    let merging = Caps {
        merges_allocations: true,
        ..VMEM
    };
    passes(merging, Quirk::MergedListing, 1000);
    caught(VMEM, Quirk::MergedListing, "arena allocations");
}

/// The production stack built for a shape whose levels import exactly the request (import
/// quantum = quantum), claiming `imports`.
struct ExactImporter {
    stack: VmemStack,
    imports: Imports,
}

impl ExactImporter {
    fn build(shape: &Shape, imports: Imports) -> Result<ExactImporter, String> {
        let mut exact = *shape;
        for l in &mut exact.levels {
            l.import_quantum = l.quantum;
        }
        Ok(ExactImporter {
            stack: VmemStack::new(&exact, BugSet::NONE)?,
            imports,
        })
    }
}

impl RangeAllocator for ExactImporter {
    fn caps(&self) -> Caps {
        Caps {
            imports: self.imports,
            ..self.stack.caps()
        }
    }
    fn add_span(&mut self, level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        self.stack.add_span(level, base, size)
    }
    fn alloc(
        &mut self,
        level: Level,
        req: &Request,
        policy: FitPolicy,
    ) -> Result<u64, AllocErrorKind> {
        self.stack.alloc(level, req, policy)
    }
    fn alloc_size(&mut self, size: u64, policy: FitPolicy) -> Result<u64, AllocErrorKind> {
        self.stack.alloc_size(size, policy)
    }
    fn alloc_at(&mut self, addr: u64, size: u64) -> Result<u64, AllocErrorKind> {
        self.stack.alloc_at(addr, size)
    }
    fn free(&mut self, level: Level, addr: u64, size: u64) -> Result<(), FreeErrorKind> {
        self.stack.free(level, addr, size)
    }
    fn spans(&self, level: Level) -> Vec<(u64, u64, bool)> {
        self.stack.spans(level)
    }
    fn allocated(&self, level: Level) -> Vec<(u64, u64)> {
        self.stack.allocated(level)
    }
    fn check_invariants(&self) -> Result<(), (String, String)> {
        self.stack.check_invariants()
    }
    fn contains(&self, level: Level, addr: u64) -> Option<bool> {
        self.stack.contains(level, addr)
    }
    fn counts(&self, level: Level) -> Option<Counts> {
        self.stack.counts(level)
    }
}

#[test]
fn the_import_rule_is_the_adapters() {
    let (ops, _) = run_all_stats(|s| ExactImporter::build(s, Imports::Exact))
        .unwrap_or_else(|e| panic!("input {}: {}", e.0, e.1));
    assert!(ops > 10 * GENERATED, "only {ops} ops ran");
    let (i, f) = *run_all(|s| ExactImporter::build(s, Imports::ShapeQuantum))
        .expect_err("it does not round its imports up");
    match &f.kind {
        FindingKind::Oracle(m) => assert_eq!(m.actual.kind, "a bad import", "input {i}: {f}"),
        other => panic!("input {i}: not an oracle finding: {other:?}"),
    }
    run_all(|s| ExactImporter::build(s, Imports::AtLeast))
        .unwrap_or_else(|e| panic!("input {}: {}", e.0, e.1));
}

/// A [`Quirky`] arena listing merged runs while claiming it does not.
fn merging_but_claiming_not(shape: &Shape) -> Result<Quirky, String> {
    Quirky::build(shape, VMEM, Quirk::MergedListing)
}

/// The same, claiming it.
fn merging_and_claiming_it(shape: &Shape) -> Result<Quirky, String> {
    let caps = Caps {
        merges_allocations: true,
        ..VMEM
    };
    Quirky::build(shape, caps, Quirk::MergedListing)
}

static MERGING_WRONGLY: AdapterTarget<Quirky> = AdapterTarget::new(
    "merging-wrongly",
    "lists merged runs, claims not to",
    merging_but_claiming_not,
);
static MERGING_RIGHTLY: AdapterTarget<Quirky> = AdapterTarget::new(
    "merging-rightly",
    "lists merged runs, says so",
    merging_and_claiming_it,
);

/// A campaign of `max_cases` cases at seed 1, in process.
fn campaign(max_cases: u64) -> AdapterCampaign {
    AdapterCampaign {
        seed: 1,
        jobs: 1,
        time_limit: None,
        max_cases: Some(max_cases),
        isolation: None,
        progress: false,
    }
}

/// A user's adapter gets a campaign and the minimizer as a library call: the finding comes
/// back minimized (same signature, named after the user's target) with its trace.
#[test]
fn a_users_adapter_gets_a_campaign_and_the_minimizer() {
    let report = fuzz_adapter(&MERGING_WRONGLY, &campaign(2000));
    let found = report.found.expect("the campaign finds the merged listing");
    let (bytes, finding, trace) = report.minimized.expect("and minimizes it");
    assert_eq!(finding.target, "merging-wrongly");
    assert_eq!(finding.signature(), found.finding.signature());
    assert!(bytes.len() <= found.input.len());
    assert!(
        matches!(&finding.kind, FindingKind::State(d) if d.what == "arena allocations"),
        "{finding}"
    );
    assert!(trace.contains("#0 add_span"), "{trace}");
    let ops = trace.lines().filter(|l| l.starts_with("  #")).count();
    assert!(ops <= 8, "{ops} ops after minimizing:\n{trace}");
    let clean = fuzz_adapter(&MERGING_RIGHTLY, &campaign(500));
    assert!(
        clean.found.is_none(),
        "{:?}",
        clean.found.map(|f| f.finding)
    );
    assert_eq!(clean.cases, 500);
}

// ---- Span growth and constructor parameters (op language version 3) ----------------------

/// A vmem arena that can grow a span: the tail is added as a span of the arena, and the
/// adapter lists the grown span whole. `short`: it adds a quantum less than asked (a bug).
struct Growing {
    arena: Arena,
    /// The spans as the caller knows them: start to end (exclusive, u128).
    spans: BTreeMap<u64, u128>,
    short: bool,
}

impl Growing {
    fn build(shape: &Shape, short: bool) -> Result<Growing, String> {
        let arena: Arena =
            Arena::new("growing", shape.quantum, Some(shape.arch)).map_err(|e| e.to_string())?;
        Ok(Growing {
            arena,
            spans: BTreeMap::new(),
            short,
        })
    }
}

impl RangeAllocator for Growing {
    fn caps(&self) -> Caps {
        // A placement straddling a grown span's old end is never made (the tail is a span
        // of its own in the arena): no completeness, no policy contract.
        Caps {
            levels: 1,
            grows: true,
            exact_complete: false,
            counts: kvafuzz::harness::adapter::CountFields::NONE,
            policies: every_policy(PolicyClaim::VALID),
            ..Caps::ALL
        }
    }
    fn add_span(&mut self, _level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        // An overlap names the span the caller knows (a grown span's tail is the arena's).
        let known = |s: u64| self.spans.range(..=s).next_back().map_or(s, |(&k, _)| k);
        self.arena
            .add_span(base, size)
            .map_err(|e| match span_error_kind(e) {
                SpanErrorKind::Overlaps(s) => SpanErrorKind::Overlaps(known(s)),
                other => other,
            })?;
        self.spans.insert(base, u128::from(base) + u128::from(size));
        Ok(())
    }
    fn grow_span(&mut self, _level: Level, start: u64, by: u64) -> Result<(), GrowErrorKind> {
        let end = *self.spans.get(&start).ok_or(GrowErrorKind::NoSpan)?;
        let end64 = u64::try_from(end).map_err(|_| GrowErrorKind::Tail(SpanErrorKind::Wraps))?;
        let q = self.arena.quantum();
        let added = if self.short && by > q { by - q } else { by };
        self.arena
            .add_span(end64, added)
            .map_err(|e| GrowErrorKind::Tail(span_error_kind(e)))?;
        self.spans.insert(start, end + u128::from(by));
        Ok(())
    }
    fn alloc(
        &mut self,
        _level: Level,
        req: &Request,
        policy: FitPolicy,
    ) -> Result<u64, AllocErrorKind> {
        let policy = match policy {
            FitPolicy::Vmem(p) => p,
            FitPolicy::Own => Policy::InstantFit,
        };
        self.arena.xalloc(req, policy).map_err(alloc_error_kind)
    }
    fn alloc_at(&mut self, addr: u64, size: u64) -> Result<u64, AllocErrorKind> {
        self.arena.xalloc_at(addr, size).map_err(alloc_error_kind)
    }
    fn free(&mut self, _level: Level, addr: u64, size: u64) -> Result<(), FreeErrorKind> {
        self.arena.free(addr, size).map_err(free_error_kind)
    }
    fn spans(&self, _level: Level) -> Vec<(u64, u64, bool)> {
        self.spans
            .iter()
            .map(|(&s, &e)| (s, (e - 1) as u64, false))
            .collect()
    }
    fn allocated(&self, _level: Level) -> Vec<(u64, u64)> {
        allocations_of(self.arena.segments())
    }
    fn check_invariants(&self) -> Result<(), (String, String)> {
        self.arena
            .check_invariants()
            .map_err(|e| (e.invariant.to_string(), e.detail))
    }
    fn contains(&self, _level: Level, addr: u64) -> Option<bool> {
        Some(self.arena.contains(addr))
    }
}

#[test]
fn growing_a_span_is_judged() {
    let (ops, ok) = run_all_stats(|s| Growing::build(s, false))
        .unwrap_or_else(|e| panic!("input {}: {}", e.0, e.1));
    assert!(
        ops > 10 * GENERATED && ok > ops / 10,
        "{ok} of {ops} ops succeeded"
    );
    let (i, f) = *run_all(|s| Growing::build(s, true)).expect_err("it grows short");
    assert!(f.op.starts_with("grow_span"), "input {i}: {f}");
    assert!(
        matches!(&f.kind, FindingKind::State(d) if d.what == "arena contains"),
        "input {i}: {f}"
    );
}

/// How many allocations a [`Limited`] arena holds at most: a constructor parameter.
const MAX_LIVE: Param = Param {
    name: "max_live",
    index: 0,
    min: 1,
    max: 8,
};

/// A vmem arena holding at most [`MAX_LIVE`] allocations (a crate with a fixed node count),
/// claiming completeness `bounded` by it or not.
struct Limited {
    inner: Quirky,
    max_live: u64,
    bounded: bool,
}

impl Limited {
    fn build(shape: &Shape, bounded: bool) -> Result<Limited, String> {
        Ok(Limited {
            inner: Quirky::build(shape, VMEM, Quirk::SomeCounts { wrong: false })?,
            max_live: shape.param(&MAX_LIVE),
            bounded,
        })
    }
}

impl RangeAllocator for Limited {
    fn caps(&self) -> Caps {
        let claim = PolicyClaim {
            completeness: Completeness::Full,
            // Giving an allocation back moves vmem's NextFit rotor: no policy contract.
            exact: false,
            max_live: self.bounded.then_some(self.max_live),
        };
        Caps {
            policies: every_policy(claim),
            exact: false,
            counts: kvafuzz::harness::adapter::CountFields::NONE,
            ..VMEM
        }
    }
    fn add_span(&mut self, level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        self.inner.add_span(level, base, size)
    }
    fn alloc(
        &mut self,
        level: Level,
        req: &Request,
        policy: FitPolicy,
    ) -> Result<u64, AllocErrorKind> {
        let live = self.inner.allocated(level).len() as u64;
        match self.inner.alloc(level, req, policy) {
            Ok(a) if live >= self.max_live => {
                self.inner.free(level, a, req.size).expect("just allocated");
                Err(AllocErrorKind::NoSpace)
            }
            other => other,
        }
    }
    fn alloc_at(&mut self, addr: u64, size: u64) -> Result<u64, AllocErrorKind> {
        self.inner.alloc_at(addr, size)
    }
    fn free(&mut self, level: Level, addr: u64, size: u64) -> Result<(), FreeErrorKind> {
        self.inner.free(level, addr, size)
    }
    fn spans(&self, level: Level) -> Vec<(u64, u64, bool)> {
        self.inner.spans(level)
    }
    fn allocated(&self, level: Level) -> Vec<(u64, u64)> {
        self.inner.allocated(level)
    }
    fn check_invariants(&self) -> Result<(), (String, String)> {
        self.inner.check_invariants()
    }
}

/// The generator draws constructor parameters, and a claim bounded by one holds only within
/// it.
#[test]
fn constructor_parameters_are_drawn_and_bound_claims() {
    let mut seen = std::collections::BTreeSet::new();
    for k in 0..300 {
        let _ = run_range_allocator(&generate(SEED, 2, k), |s: &Shape| {
            seen.insert(s.param(&MAX_LIVE));
            Limited::build(s, true)
        });
    }
    assert_eq!(seen.len(), 8, "{seen:?}");
    run_all(|s| Limited::build(s, true)).unwrap_or_else(|e| panic!("input {}: {}", e.0, e.1));
    let (i, f) = *run_all(|s| Limited::build(s, false)).expect_err("refuses past max_live");
    assert!(matches!(&f.kind, FindingKind::Oracle(_)), "input {i}: {f}");
}

/// A vmem arena whose free trusts its caller the way range-alloc's `free_range` does: a free
/// inside a live allocation (not at its start) is undefined and silently does nothing, and
/// only a free of nothing live (a double free) panics, by documented design.
struct TrustsInteriorFrees {
    arena: Arena,
}

impl RangeAllocator for TrustsInteriorFrees {
    fn caps(&self) -> Caps {
        Caps {
            frees: kvafuzz::harness::adapter::Frees {
                bad_address: kvafuzz::harness::adapter::OnViolation::NotFed,
                double_free: kvafuzz::harness::adapter::OnViolation::Panics,
                wrong_size: kvafuzz::harness::adapter::OnViolation::NotFed,
                takes_size: true,
            },
            ..Caps::NONE
        }
    }
    fn add_span(&mut self, _level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        self.arena.add_span(base, size).map_err(span_error_kind)
    }
    fn alloc(&mut self, _: Level, req: &Request, _: FitPolicy) -> Result<u64, AllocErrorKind> {
        self.arena
            .xalloc(req, Policy::FirstFit)
            .map_err(alloc_error_kind)
    }
    fn alloc_at(&mut self, _addr: u64, _size: u64) -> Result<u64, AllocErrorKind> {
        unreachable!("no exact allocation")
    }
    fn free(&mut self, _level: Level, addr: u64, size: u64) -> Result<(), FreeErrorKind> {
        let live = allocations_of(self.arena.segments());
        if live.iter().any(|&(s, _)| s == addr) {
            return self.arena.free(addr, size).map_err(free_error_kind);
        }
        assert!(
            live.iter().any(|&(s, l)| s < addr && addr <= l),
            "double free"
        );
        Ok(())
    }
    fn spans(&self, _level: Level) -> Vec<(u64, u64, bool)> {
        spans_of(self.arena.segments())
    }
    fn allocated(&self, _level: Level) -> Vec<(u64, u64)> {
        allocations_of(self.arena.segments())
    }
    fn check_invariants(&self) -> Result<(), (String, String)> {
        Ok(())
    }
}

/// Regression (found on range-alloc, issue 18): a free at an address freed before, which a
/// later allocation now covers, is an interior address of that allocation (a bad address,
/// never fed to an allocator that does not check them), not a double free (which this one
/// panics on by design). The harness used to feed it as a double free and report the
/// silent answer.
#[test]
fn a_freed_address_inside_a_later_allocation_is_not_a_double_free() {
    use kvafuzz::harness::vmem::{AddrSel, Op, Scenario, NO_PARAMS};
    use kvafuzz::harness::Case;
    let alloc = |size| Op::AllocSize {
        size,
        policy: Policy::FirstFit,
    };
    let free_freed = |index| Op::FreeAt {
        level: Level::ARENA,
        addr: AddrSel::Freed { index },
        size: 0x1000,
    };
    let scenario = Scenario {
        params: NO_PARAMS,
        arch: Arch::X86_64,
        quantum_shift: 12,
        imports: Vec::new(),
        ops: vec![
            Op::AddSpan {
                level: Level::ARENA,
                base: 0x10000,
                size: 0x10000,
            },
            alloc(0x1000),
            alloc(0x1000),
            // Frees 0x11000, then 0x10000; then 0x10000..0x14000 covers both.
            Op::Free { handle: 1 },
            Op::Free { handle: 0 },
            alloc(0x4000),
            free_freed(0),
            free_freed(1),
        ],
    };
    let make = |s: &Shape| {
        Arena::new("trusting", s.quantum, Some(s.arch))
            .map(|arena| TrustsInteriorFrees { arena })
            .map_err(|e| e.to_string())
    };
    let stats = run_range_allocator(&scenario.encode(), make).unwrap_or_else(|f| panic!("{f}"));
    // Both frees at freed addresses are skipped: 0x11000 is inside the live 0x10000..0x14000
    // (a bad address), 0x10000 is its start with a wrong size; neither is a double free.
    assert_eq!(stats.ops, 6, "{stats:?}");
}
