//! Unit tests of the `vmem` target: the seeds, edges resolved and encoded, verdicts.

use kvafuzz_oracles::vmem::{AllocErrorKind, Mismatch as Verdict, Policy as OPolicy};

use super::adapter::{FitPolicy, Level, RangeAllocator, VmemStack, MAX_LEVELS};
use super::codec::{read_scenario_v1, write_scenario_v1};
use super::exec::changed_spans;
use super::{
    from_verdict, seed_scenarios, AddrSel, Bound, Edge, EdgeAt, Op, Scenario, VmemTarget,
    EDGE_QUANTA, NO_PARAMS,
};
use crate::addr::Arch;
use crate::harness::campaign::generate;
use crate::harness::{BugSet, Case, Claim, Target};
use crate::vmem::{Policy, Request};

/// The seed scenario called `name`.
fn seed(name: &str) -> Scenario {
    seed_scenarios()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no seed {name}"))
        .1
}

/// Runs `s` (it must pass) and checks that its trace holds every one of `lines`.
fn assert_trace_has(s: &Scenario, lines: &[&str]) {
    let mut out = String::new();
    assert!(s.execute(BugSet::NONE, Some(&mut out)).is_ok(), "{out}");
    for line in lines {
        assert!(out.contains(line), "no {line:?} in\n{out}");
    }
}

#[test]
fn seed_scenarios_pass_and_round_trip() {
    crate::harness::assert_seeds_pass_and_round_trip(seed_scenarios());
}

/// Whatever bytes decode to encodes to bytes that decode back to it (campaign inputs).
#[test]
fn decoded_bytes_round_trip() {
    for k in 0..500 {
        let case = Scenario::decode(&generate(0x766d_656d, 0, k));
        assert_eq!(Scenario::decode(&case.encode()), case, "case {k}");
    }
}

/// Version 1 is still read as it was: a scenario of at most two levels written in it reads
/// back whole, and whatever bytes version 1 decodes re-encode (in version 2) to the same
/// scenario, which is what `kvafuzz corpus migrate` relies on.
#[test]
fn version_1_reads_as_it_did_and_migrates() {
    for (name, s) in seed_scenarios() {
        if s.imports.len() <= 1 {
            assert_eq!(read_scenario_v1(&write_scenario_v1(&s)), s, "{name}");
        }
    }
    let mut sources = 0;
    for k in 0..500 {
        let old = VmemTarget::decode_version(1, &generate(0x766d_656d, 1, k)).unwrap();
        assert!(old.imports.len() <= 1, "case {k}");
        sources += old.imports.len();
        assert_eq!(Scenario::decode(&old.encode()), old, "case {k}");
    }
    assert!(
        sources > 100,
        "only {sources} of 500 version 1 cases had a source"
    );
    assert_eq!(VmemTarget::decode_version(4, &[]), None);
}

/// Version 2 is still read as it was (8 op kinds, no parameter draws) and migrates: what it
/// decodes re-encodes (in version 3) to the same scenario. Version 3 draws span growth at
/// every level and parameters.
#[test]
fn version_2_reads_as_it_did_and_version_3_grows_spans() {
    let (mut grows, mut params) = (0, 0);
    for k in 0..500 {
        let bytes = generate(0x766d_656d, 3, k);
        let old = VmemTarget::decode_version(2, &bytes).unwrap();
        assert_eq!(old.params, NO_PARAMS, "case {k}");
        assert!(!old.ops.iter().any(|op| matches!(op, Op::GrowSpan { .. })));
        assert_eq!(Scenario::decode(&old.encode()), old, "case {k}");
        let new = Scenario::decode(&bytes);
        grows += new
            .ops
            .iter()
            .filter(|op| matches!(op, Op::GrowSpan { level, .. } if level.index() < new.depth()))
            .count();
        params += usize::from(new.params != NO_PARAMS);
    }
    assert!(grows > 500, "only {grows} span growths");
    assert!(params > 400, "only {params} of 500 cases drew parameters");
}

/// Version 2 draws every depth, and a source op at any level below the arena.
#[test]
fn every_depth_and_every_level_is_drawn() {
    let mut depths = [0; MAX_LEVELS + 1];
    let mut levels = [0; MAX_LEVELS];
    for k in 0..2000 {
        let s = Scenario::decode(&generate(0x766d_656d, 2, k));
        depths[s.imports.len() + 1] += 1;
        for op in &s.ops {
            if let Op::AddSpan { level, .. } | Op::Alloc { level, .. } | Op::FreeAt { level, .. } =
                op
            {
                assert!(level.index() <= s.imports.len(), "case {k}: {op}");
                levels[level.index()] += 1;
            }
        }
    }
    assert!(depths[1..].iter().all(|&n| n > 100), "{depths:?}");
    assert!(levels.iter().all(|&n| n > 100), "{levels:?}");
}

/// The four-level seed imports through every level and releases back: the production
/// chain's counters say so level by level (the harness holds them to the model's).
#[test]
fn the_four_level_seed_imports_and_releases_at_every_level() {
    let s = seed("import-cascades-through-four-levels");
    assert_eq!(s.imports.len() + 1, MAX_LEVELS);
    assert_trace_has(
        &s,
        &[
            "(imported [0x40000000, 0x40003fff]) (source imported [0x40000000, 0x40007fff]) \
             (source2 imported [0x40000000, 0x4000ffff])",
            "(imported [0x40010000, 0x4020ffff]) (source2 imported [0x40010000, 0x4020ffff])",
        ],
    );
    let mut stack = VmemStack::new(&s.shape(), BugSet::NONE).unwrap();
    let mut live = Vec::new();
    for op in &s.ops {
        match *op {
            Op::AddSpan { level, base, size } => stack.add_span(level, base, size).unwrap(),
            Op::Alloc { level, req, .. } => {
                live.push((
                    level,
                    stack
                        .alloc(level, &req, FitPolicy::Vmem(Policy::InstantFit))
                        .unwrap(),
                    req.size,
                ));
            }
            Op::AllocSize { size, policy } => {
                live.push((
                    Level::ARENA,
                    stack.alloc_size(size, FitPolicy::Vmem(policy)).unwrap(),
                    size,
                ));
            }
            Op::Free { .. } => {
                let (level, addr, size) = live.remove(0);
                stack.free(level, addr, size).unwrap();
            }
            _ => unreachable!("{op}"),
        }
    }
    let moves: Vec<(u64, u64)> = Level::first(MAX_LEVELS)
        .map(|l| {
            let c = stack.counts(l).unwrap();
            assert_eq!((c.in_use, c.imported_spans), (0, 0), "{l}");
            (c.imports, c.releases)
        })
        .collect();
    assert_eq!(moves, [(1, 1), (2, 2), (2, 2), (0, 0)]);
}

/// The error seeds replay every typed error of every operation (so a corpus replay runs
/// each error path at least once).
#[test]
fn error_seeds_reach_every_error() {
    let mut out = String::new();
    for name in ["every-error-of-every-op", "x86_64-canonical-hole"] {
        assert!(
            seed(name).execute(BugSet::NONE, Some(&mut out)).is_ok(),
            "{out}"
        );
    }
    for e in [
        "ZeroSize",
        "Wraps",
        "PastTop",
        "NonCanonical",
        "Misaligned",
        "Overlaps(",
        "SizeOverflow",
        "BadAlign",
        "BadPhase",
        "BadNocross",
        "BadBounds",
        "Overconstrained",
        "NoSpace",
        "WrongSize(",
        "BadFree",
    ] {
        assert!(out.contains(&format!("Err({e}")), "no Err({e}) in\n{out}");
    }
}

/// An edge resolves at the state when its op runs: live and span starts and ends, moved by
/// quanta and a byte, wrapping at the top; with nothing live, at 0.
#[test]
fn edges_resolve_against_the_state() {
    assert_trace_has(
        &seed("bounds-at-segment-edges"),
        &[
            "(maxaddr 0x9) Ok(0)",
            "(minaddr 0x1e) Ok(1e)",
            "(maxaddr 0xffffffff) Ok(ffffff00)",
            "(minaddr 0xffffffff) Ok(ffffffff)",
            "(maxaddr 0x9) Err(NoSpace)",
        ],
    );

    let at = |bound, at, quanta, byte| Op::Alloc {
        level: Level::ARENA,
        req: Request::size(0x1000),
        edge: Some(Edge {
            bound,
            at,
            quanta,
            byte,
        }),
        policy: Policy::FirstFit,
    };
    let s = Scenario {
        params: NO_PARAMS,
        arch: Arch::X86_64,
        quantum_shift: 12,
        imports: Vec::new(),
        ops: vec![
            // Nothing live and no span yet: the point is 0.
            at(Bound::Min, EdgeAt::LiveEnd(0), 1, 0),
            Op::AddSpan {
                level: Level::ARENA,
                base: 0x10000,
                size: 0x10000,
            },
            at(Bound::Min, EdgeAt::SpanStart(0), 0, 0),
            at(Bound::Min, EdgeAt::LiveEnd(0), 1, 0),
            at(Bound::Max, EdgeAt::SpanEnd(0), -2, -1),
            at(Bound::Min, EdgeAt::LiveStart(1), -EDGE_QUANTA, 1),
            // An allocation's end is its size rounded up to the quantum.
            Op::AllocSize {
                size: 0x801,
                policy: Policy::FirstFit,
            },
            at(Bound::Min, EdgeAt::LiveEnd(4), 0, 0),
            // Addresses at an allocation's end: right after it, and one quantum back.
            Op::AllocAt {
                addr: AddrSel::LiveEdge {
                    handle: 5,
                    end: true,
                    quanta: 0,
                },
                size: 0x1000,
            },
            Op::FreeAt {
                level: Level::ARENA,
                addr: AddrSel::LiveEdge {
                    handle: 4,
                    end: true,
                    quanta: -1,
                },
                size: 0x801,
            },
        ],
    };
    assert_eq!(Scenario::decode(&s.encode()), s);
    assert_trace_has(
        &s,
        &[
            "(minaddr 0x1000) Err(NoSpace)",
            "(minaddr 0x10000) Ok(10000)",
            "(minaddr 0x12000) Ok(12000)",
            "(maxaddr 0x1dfff) Ok(11000)",
            "(minaddr 0x10001) Ok(13000)",
            "alloc arena size=0x801 first -> Ok(14000)",
            "(minaddr 0x15000) Ok(15000)",
            "alloc_at addr=live[5].end size=0x1000 -> at 0x16000: Ok(16000)",
            "free_at arena addr=live[4].end-1q size=0x801 -> free 0x14000 size 0x801: Ok(())",
        ],
    );
}

/// An edge's other bound survives the bytes when it is not the default; quanta and bytes
/// beyond what an edge holds are clamped, never a panic.
#[test]
fn edges_encode_exactly_or_clamped() {
    let alloc = |req, edge| Op::Alloc {
        level: Level::ARENA,
        req,
        edge: Some(edge),
        policy: Policy::FirstFit,
    };
    let edge = |bound, quanta, byte| Edge {
        bound,
        at: EdgeAt::SpanEnd(3),
        quanta,
        byte,
    };
    let scenario = |ops| Scenario {
        params: NO_PARAMS,
        arch: Arch::X86_64,
        quantum_shift: 12,
        imports: Vec::new(),
        ops,
    };
    let exact = scenario(vec![
        alloc(
            Request {
                maxaddr: 0x1234_5fff,
                ..Request::size(0x1000)
            },
            edge(Bound::Min, -2, 1),
        ),
        alloc(
            Request {
                minaddr: 0x8000,
                ..Request::size(0x1000)
            },
            edge(Bound::Max, 2, -1),
        ),
        alloc(Request::size(0x1000), edge(Bound::Max, 0, 0)),
        Op::FreeAt {
            level: Level::ARENA,
            addr: AddrSel::LiveEdge {
                handle: 7,
                end: false,
                quanta: -EDGE_QUANTA,
            },
            size: 0x1000,
        },
    ]);
    assert_eq!(Scenario::decode(&exact.encode()), exact);
    let wild = scenario(vec![alloc(
        Request::size(0x1000),
        edge(Bound::Max, 100, -7),
    )]);
    let back = Scenario::decode(&wild.encode());
    assert_eq!(
        back.ops,
        vec![alloc(
            Request::size(0x1000),
            edge(Bound::Max, EDGE_QUANTA, -1)
        )]
    );
}

/// A bound one byte off at a segment's edge is what the edges seed exercises: it alone
/// catches the inclusive maxaddr read as exclusive.
#[cfg(feature = "seeded-bugs")]
#[test]
fn the_edges_seed_catches_an_exclusive_maxaddr() {
    let bugs = BugSet::only(crate::bugs::Bug::MaxaddrExclusive);
    assert!(seed("bounds-at-segment-edges").execute(bugs, None).is_err());
}

/// The spans that came or went: those in exactly one of the lists, in address order.
#[test]
fn changed_spans_are_the_symmetric_difference() {
    let before = [(0, 9, false), (20, 29, false), (40, 49, true)];
    let after = [
        (0, 9, false),
        (20, 39, false),
        (40, 49, true),
        (60, 69, true),
    ];
    assert_eq!(
        changed_spans(&before, &after),
        vec![(20, 29, false), (20, 39, false), (60, 69, true)]
    );
    assert_eq!(
        changed_spans(&after, &before),
        vec![(20, 39, false), (20, 29, false), (60, 69, true)]
    );
    assert_eq!(changed_spans(&before, &before), vec![]);
    assert_eq!(changed_spans(&[], &before), before.to_vec());
    assert_eq!(changed_spans(&before[..1], &[]), before[..1].to_vec());
}

/// Every verdict of the interval oracle becomes a check, an expectation and an answer, each
/// with its kind (the signature) beside its full text.
#[test]
fn verdicts_become_mismatches() {
    let no_space: Result<u64, AllocErrorKind> = Err(AllocErrorKind::NoSpace);
    let m = |v: Verdict| {
        let m = from_verdict("alloc arena".into(), String::new(), v, &no_space);
        assert_eq!(m.check, "alloc arena");
        (m.expected, m.actual)
    };
    let pair = |ek: &str, e: &str, ak: &str, a: &str| (Claim::new(ek, e), Claim::new(ak, a));
    assert_eq!(
        m(Verdict::Outcome {
            expected: "Err(ZeroSize)".into(),
            actual: "Ok(0x10)".into()
        }),
        pair("Err(ZeroSize)", "Err(ZeroSize)", "Ok", "Ok(0x10)")
    );
    assert_eq!(
        m(Verdict::NotAPlacement {
            addr: 0x40,
            why: "below minaddr"
        }),
        pair(
            "a placement",
            "a placement",
            "below minaddr",
            "0x40, below minaddr"
        )
    );
    assert_eq!(
        m(Verdict::Incomplete { placement: 0x80 }),
        pair(
            "a placement",
            "a placement such as 0x80",
            "Err(NoSpace)",
            "Err(NoSpace)"
        )
    );
    assert_eq!(
        m(Verdict::PolicyBroken {
            policy: OPolicy::BestFit,
            expected: 0x100,
            actual: 0x200
        }),
        pair(
            "what BestFit promises",
            "0x100 (what BestFit promises)",
            "another placement",
            "0x200"
        )
    );
    assert_eq!(
        m(Verdict::BadImport {
            why: "an arena without a source imported".into()
        }),
        pair(
            "imports within the contract",
            "imports within the contract",
            "a bad import",
            "bad import: an arena without a source imported"
        )
    );
}
