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
//! - two that answer `contains` or report their counters wrongly: the harness must find them.

use kvafuzz::addr::Arch;
use kvafuzz::harness::adapter::{
    alloc_error_kind, allocations_of, counts_of, free_error_kind, span_error_kind, spans_of, Caps,
    Level, RangeAllocator,
};
use kvafuzz::harness::campaign::generate;
use kvafuzz::harness::vmem::Shape;
use kvafuzz::harness::{run_range_allocator, Finding, FindingKind};
use kvafuzz::vmem::{Arena, Policy, Request, SegmentView};
use kvafuzz_oracles::vmem::{AllocErrorKind, Counts, FreeErrorKind, SpanErrorKind};
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
            Level::Arena,
            "a source op reached an allocator without one"
        );
        self.arena.add_span(base, size).map_err(span_error_kind)
    }

    fn alloc(
        &mut self,
        level: Level,
        req: &Request,
        policy: Policy,
    ) -> Result<u64, AllocErrorKind> {
        assert_eq!(
            level,
            Level::Arena,
            "a source op reached an allocator without one"
        );
        self.arena.xalloc(req, policy).map_err(alloc_error_kind)
    }

    fn alloc_at(&mut self, addr: u64, size: u64) -> Result<u64, AllocErrorKind> {
        assert!(self.caps.exact, "alloc_at reached an allocator without it");
        self.arena.xalloc_at(addr, size).map_err(alloc_error_kind)
    }

    fn free(&mut self, level: Level, addr: u64, size: u64) -> Result<(), FreeErrorKind> {
        assert_eq!(
            level,
            Level::Arena,
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
            Level::Arena => spans_of(self.arena.segments()),
            Level::Source => Vec::new(),
        }
    }

    fn allocated(&self, level: Level) -> Vec<(u64, u64)> {
        match level {
            Level::Arena => allocations_of(self.arena.segments()),
            Level::Source => Vec::new(),
        }
    }

    fn check_invariants(&self) -> Result<(), (String, String)> {
        self.arena
            .check_invariants()
            .map_err(|e| (e.invariant.to_string(), e.detail))
    }

    fn contains(&self, level: Level, addr: u64) -> Option<bool> {
        let inside = level == Level::Arena && self.arena.contains(addr);
        match self.reports {
            Reports::Nothing => None,
            Reports::LastExcluded => Some(inside && self.arena.contains(addr.wrapping_add(1))),
            Reports::Truth | Reports::LargestFreeShort => Some(inside),
        }
    }

    fn counts(&self, level: Level) -> Option<Counts> {
        let counts = match level {
            Level::Arena => counts_of(&self.arena.stats()),
            Level::Source => Counts::default(),
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
fn run_all(
    make: impl Fn(&Shape) -> Result<SingleArena, String>,
) -> Result<u64, Box<(usize, Finding)>> {
    let mut ops = 0;
    for (i, data) in inputs().iter().enumerate() {
        match run_range_allocator(data, &make) {
            Ok(stats) => ops += stats.ops,
            Err(f) => return Err(Box::new((i, f))),
        }
    }
    Ok(ops)
}

const ALL: Caps = Caps {
    constraints: true,
    exact: true,
    import: false,
    policy_contracts: true,
    checked_free: true,
};

const NONE: Caps = Caps {
    constraints: false,
    exact: false,
    import: false,
    policy_contracts: false,
    checked_free: false,
};

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

#[test]
fn an_allocator_that_forgets_frees_is_found() {
    let (i, f) =
        *run_all(|s| SingleArena::build(s, ALL, 3, Reports::Truth)).expect_err("a forgetful free");
    // Found at the free that was forgotten: the allocator still holds what the model freed.
    assert!(f.op_index.is_some(), "input {i}: {f}");
    assert!(f.op.starts_with("free"), "input {i}: {f}");
    match &f.kind {
        FindingKind::State(m) => assert!(m.contains("allocations"), "input {i}: {f}"),
        other => panic!("input {i}: not a state finding: {other:?}"),
    }
}

/// A state finding about `what`, at an op.
fn assert_state_finding(i: usize, f: &Finding, what: &str) {
    assert!(f.op_index.is_some(), "input {i}: {f}");
    match &f.kind {
        FindingKind::State(m) => assert!(m.starts_with(what), "input {i}: {f}"),
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
    assert_eq!(f.kind, FindingKind::State("cannot build this shape".into()));
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
    assert!(seen.iter().any(|s| s.has_source) && seen.iter().any(|s| !s.has_source));
    assert!(seen.iter().any(|s| s.arch == Arch::Ia32) && seen.iter().any(|s| s.arch != Arch::Ia32));
}
