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
//!
//! `capabilities.rs` tries one capability at a time (an arena with one quirk, claiming the
//! capability and then not), `growth.rs` span growth and constructor parameters.

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

/// Forwards the named [`RangeAllocator`] methods to the field `$to` (a `RangeAllocator`
/// itself): `forward!(stack: add_span, free);` inside an `impl RangeAllocator`, for the
/// wrappers that change one or two methods of another allocator and pass the rest on.
macro_rules! forward {
    ($to:ident: $($method:ident),+ $(,)?) => {
        $(forward!(@one $to $method);)+
    };
    (@one $to:ident add_span) => {
        fn add_span(&mut self, level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind> {
            self.$to.add_span(level, base, size)
        }
    };
    (@one $to:ident alloc) => {
        fn alloc(
            &mut self,
            level: Level,
            req: &Request,
            policy: FitPolicy,
        ) -> Result<u64, AllocErrorKind> {
            self.$to.alloc(level, req, policy)
        }
    };
    (@one $to:ident alloc_size) => {
        fn alloc_size(&mut self, size: u64, policy: FitPolicy) -> Result<u64, AllocErrorKind> {
            self.$to.alloc_size(size, policy)
        }
    };
    (@one $to:ident alloc_at) => {
        fn alloc_at(&mut self, addr: u64, size: u64) -> Result<u64, AllocErrorKind> {
            self.$to.alloc_at(addr, size)
        }
    };
    (@one $to:ident free) => {
        fn free(&mut self, level: Level, addr: u64, size: u64) -> Result<(), FreeErrorKind> {
            self.$to.free(level, addr, size)
        }
    };
    (@one $to:ident spans) => {
        fn spans(&self, level: Level) -> Vec<(u64, u64, bool)> {
            self.$to.spans(level)
        }
    };
    (@one $to:ident allocated) => {
        fn allocated(&self, level: Level) -> Vec<(u64, u64)> {
            self.$to.allocated(level)
        }
    };
    (@one $to:ident check_invariants) => {
        fn check_invariants(&self) -> Result<(), (String, String)> {
            self.$to.check_invariants()
        }
    };
    (@one $to:ident contains) => {
        fn contains(&self, level: Level, addr: u64) -> Option<bool> {
            self.$to.contains(level, addr)
        }
    };
    (@one $to:ident counts) => {
        fn counts(&self, level: Level) -> Option<Counts> {
            self.$to.counts(level)
        }
    };
}

mod capabilities;
mod growth;

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
    forward!(stack: add_span, alloc_at, free, spans, allocated, check_invariants);
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
