//! Isolated runs against targets built to misbehave: a test-only target whose `trip` op
//! aborts, overflows the stack, loops forever, breaks the oracle, panics or does nothing
//! (one target per behaviour). Each crash and hang must come back as a typed finding naming
//! the `trip` op, from a campaign that goes on to report it, and minimize to that one op; an
//! ordinary finding must be the very finding the in-process campaign reports.
//!
//! The children are this test binary again, running only [`isolated_child`], whose body
//! takes the child role.

use std::fmt;
use std::hint::black_box;
use std::time::Duration;

use kvafuzz::harness::campaign::{run_campaign, run_campaign_isolated, CampaignConfig};
use kvafuzz::harness::drive::{drive, Machine};
use kvafuzz::harness::isolate::{minimize_isolated, run_isolated, serve_if_child, Isolation};
use kvafuzz::harness::map::AddressMap;
use kvafuzz::harness::{
    minimize, AnyTarget, BrokenInvariant, BugSet, Case, Death, Finding, FindingKind, Mismatch,
    PanicOrigin, StateDiff, Stats, Target,
};

/// Ops per scenario at most (few, so that minimizing a hang takes few timeouts).
const MAX_HAZARD_OPS: usize = 6;

/// What `trip` does, per target.
const ABORT: u8 = 0;
const OVERFLOW: u8 = 1;
const SPIN: u8 = 2;
const MISMATCH: u8 = 3;
const PANIC: u8 = 4;
const NOTHING: u8 = 5;

/// The per-case limit of these tests.
const LIMIT: Duration = Duration::from_millis(300);

/// One op: a harmless step, or the hazard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// Counts; never fails.
    Step(u8),
    /// Does the target's hazard.
    Trip,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Step(n) => write!(f, "step {n}"),
            Op::Trip => f.write_str("trip"),
        }
    }
}

/// A scenario: up to [`MAX_HAZARD_OPS`] ops, one byte each (a multiple of 4 is `trip`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Trips<const FAIL: u8> {
    ops: Vec<Op>,
}

impl<const FAIL: u8> fmt::Display for Trips<FAIL> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header())
    }
}

impl<const FAIL: u8> Case for Trips<FAIL> {
    fn decode(data: &[u8]) -> Self {
        let ops = data
            .iter()
            .take(MAX_HAZARD_OPS)
            .map(|&b| if b % 4 == 0 { Op::Trip } else { Op::Step(b) })
            .collect();
        Trips { ops }
    }

    fn encode(&self) -> Vec<u8> {
        self.ops
            .iter()
            .map(|op| match *op {
                Op::Step(b) => b,
                Op::Trip => 0,
            })
            .collect()
    }

    type Op = Op;

    fn ops(&self) -> &[Op] {
        &self.ops
    }

    fn with_ops(&self, ops: Vec<Op>) -> Self {
        Trips { ops }
    }

    fn header(&self) -> String {
        format!("hazard scenario: ops={}", self.ops.len())
    }

    fn execute(&self, _bugs: BugSet, trace: Option<&mut String>) -> Result<Stats, Finding> {
        let mut m = Hazard::<FAIL> {
            stats: Stats::default(),
        };
        drive(<Hazards<FAIL> as Target>::NAME, &mut m, &self.ops, trace)
    }
}

/// Recurses without end (each frame keeps a buffer the optimizer cannot drop).
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 32]);
    if black_box(depth) == u64::MAX {
        return frame[0];
    }
    recurse(depth + 1).wrapping_add(frame[1])
}

/// The machine: counts steps, trips as its target says.
struct Hazard<const FAIL: u8> {
    stats: Stats,
}

impl<const FAIL: u8> Machine for Hazard<FAIL> {
    type Op = Op;

    fn step(&mut self, op: &Op) -> Result<String, Mismatch> {
        self.stats.count(true);
        if *op == Op::Trip {
            match FAIL {
                ABORT => std::process::abort(),
                OVERFLOW => {
                    black_box(recurse(0));
                }
                SPIN => {
                    while black_box(true) {
                        std::hint::spin_loop();
                    }
                }
                MISMATCH => {
                    return Err(Mismatch::values(
                        "trip",
                        "",
                        &Ok::<u8, ()>(1),
                        &Ok::<u8, ()>(2),
                    ))
                }
                PANIC => panic!("tripped after {} ops", self.stats.ops),
                _ => {}
            }
        }
        Ok("ok".into())
    }

    /// It keeps no address space: a map of no layers.
    fn address_map(&self) -> AddressMap {
        AddressMap::default()
    }

    fn check_invariants(&self) -> Result<(), BrokenInvariant> {
        Ok(())
    }

    fn compare_state(&self) -> Result<(), StateDiff> {
        Ok(())
    }

    fn stats(&self) -> Stats {
        self.stats
    }

    fn summary(&self) -> String {
        format!("{} ops", self.stats.ops)
    }
}

/// The targets.
struct Hazards<const FAIL: u8>;

impl<const FAIL: u8> Target for Hazards<FAIL> {
    const NAME: &'static str = match FAIL {
        ABORT => "abort",
        OVERFLOW => "overflow",
        SPIN => "spin",
        MISMATCH => "mismatch",
        PANIC => "panic",
        _ => "nothing",
    };
    const ABOUT: &'static str = "a target whose trip op misbehaves";
    const VERSION: u16 = 1;
    #[cfg(feature = "seeded-bugs")]
    const BUGS: &'static [kvafuzz::bugs::Bug] = &[];
    type Scenario = Trips<FAIL>;

    fn seeds() -> Vec<(&'static str, Trips<FAIL>)> {
        Vec::new()
    }
}

static HAZARDS: &[&dyn AnyTarget] = &[
    &Hazards::<ABORT>,
    &Hazards::<OVERFLOW>,
    &Hazards::<SPIN>,
    &Hazards::<MISMATCH>,
    &Hazards::<PANIC>,
    &Hazards::<NOTHING>,
];

/// The child role: a no-op when the test harness runs it; the whole child when an isolated
/// run starts this binary for it.
#[test]
fn isolated_child() {
    serve_if_child(HAZARDS);
}

fn isolation() -> Isolation {
    Isolation::test("isolated_child", LIMIT).unwrap()
}

fn config(target: &'static dyn AnyTarget, max_cases: u64) -> CampaignConfig {
    CampaignConfig {
        target,
        seed: 11,
        jobs: 1,
        time_limit: None,
        max_cases: Some(max_cases),
        bugs: BugSet::NONE,
        progress: false,
    }
}

/// An isolated campaign on `fail`'s target finds something in a `trip` op; the finding and
/// its case, and the minimized finding (one op, the same signature).
fn found_and_minimized(fail: usize) -> (Finding, Vec<u8>, Finding) {
    let target = HAZARDS[fail];
    let iso = isolation();
    let report = run_campaign_isolated(&config(target, 20), &iso);
    let found = report.finding.expect("the campaign reports the hazard");
    let f = found.finding;
    let i = f.op_index.expect("the op is named");
    assert_eq!(f.op, "trip", "{f}");
    assert_eq!(found.input[i] % 4, 0, "op {i} of the input is a trip");
    assert!(
        found.input[..i].iter().all(|b| b % 4 != 0),
        "the first trip"
    );
    let (bytes, small) = minimize_isolated(target, &found.input, BugSet::NONE, &iso).unwrap();
    assert_eq!(bytes, [0], "{small}");
    assert_eq!(small.signature(), f.signature());
    assert_eq!(small.op_index, Some(0));
    println!("{f}\n  signature: {}", f.signature());
    (f, found.input, small)
}

#[test]
fn an_abort_is_a_crash_naming_its_op() {
    let (f, _, _) = found_and_minimized(usize::from(ABORT));
    let FindingKind::Crash(c) = &f.kind else {
        panic!("not a crash: {f}");
    };
    assert_eq!(c.death, Death::Signal(6), "{f}");
    assert_eq!(f.signature(), "crash: signal 6 (SIGABRT)");
}

#[test]
fn a_stack_overflow_is_a_crash_naming_its_op() {
    let (f, _, _) = found_and_minimized(usize::from(OVERFLOW));
    let FindingKind::Crash(c) = &f.kind else {
        panic!("not a crash: {f}");
    };
    assert!(c.last_words.contains("stack overflow"), "{f}");
    assert!(f.signature().starts_with("crash: signal "), "{f}");
}

#[test]
fn a_hang_is_a_timeout_naming_its_op() {
    let (f, input, _) = found_and_minimized(usize::from(SPIN));
    assert_eq!(f.kind, FindingKind::Timeout { ms: 300 });
    assert_eq!(f.signature(), "timeout");
    assert_eq!(
        run_isolated(
            HAZARDS[usize::from(SPIN)],
            &input,
            BugSet::NONE,
            &isolation()
        )
        .map(|_| ())
        .map_err(|f| f.op_index),
        Err(f.op_index)
    );
}

/// An ordinary finding is the same finding, at the same case, isolated or not, and it
/// minimizes to the same bytes; a panic's location crosses the pipe.
#[test]
fn ordinary_findings_are_the_same_isolated() {
    let iso = isolation();
    for fail in [MISMATCH, PANIC] {
        let target = HAZARDS[usize::from(fail)];
        let inside = run_campaign(&config(target, 20)).finding.unwrap();
        let outside = run_campaign_isolated(&config(target, 20), &iso)
            .finding
            .unwrap();
        assert_eq!(
            (inside.case, &inside.input, &inside.finding),
            (outside.case, &outside.input, &outside.finding)
        );
        let small = minimize(target, &inside.input, BugSet::NONE).unwrap();
        assert_eq!(
            Some(&small),
            minimize_isolated(target, &outside.input, BugSet::NONE, &iso).as_ref()
        );
        assert_eq!(small.0, [0], "{}", small.1);
        // Minimized, the panic keeps its signature, its location included.
        assert_eq!(small.1.signature(), inside.finding.signature());
        if let FindingKind::Panic(p) = &outside.finding.kind {
            let at = p.location.as_ref().expect("located");
            assert_eq!(
                (at.file.as_str(), at.origin),
                ("tests/isolate.rs", PanicOrigin::Adapter)
            );
            assert!(
                small.1.signature().starts_with(&format!(
                    "panic at tests/isolate.rs:{} (adapter): ",
                    at.line
                )),
                "{}",
                small.1.signature()
            );
        }
    }
}

/// A program that does not take the child role is a setup finding saying so, not a crash.
#[test]
fn a_child_that_does_not_serve_is_a_setup_error() {
    let wrong = Isolation::test("no_such_test", LIMIT).unwrap();
    let f = run_isolated(HAZARDS[usize::from(NOTHING)], &[1], BugSet::NONE, &wrong).unwrap_err();
    assert_eq!(f.signature(), "setup");
    assert!(f.to_string().contains("without serving"), "{f}");
}

/// A clean isolated campaign runs the same cases and ops as an in-process one.
#[test]
fn clean_campaigns_count_the_same_isolated() {
    let target = HAZARDS[usize::from(NOTHING)];
    let inside = run_campaign(&config(target, 200));
    let outside = run_campaign_isolated(&config(target, 200), &isolation());
    assert!(inside.finding.is_none() && outside.finding.is_none());
    assert_eq!((inside.cases, inside.ops), (outside.cases, outside.ops));
}
