//! With `seeded-bugs`: each seeded vmap bug deviates from the correct space on some sequence.

use super::*;
use crate::bugs::{Bug, BugSet};

/// One step of a scenario.
#[derive(Clone, Copy, Debug)]
enum Op {
    Alloc(VmapRequest),
    Free(u64),
}

/// Everything an op returns, as the oracle would see it.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Alloc(Result<u64, AllocError>, Option<Purge>),
    Free(Result<(), FreeError>, Option<Purge>),
}

fn run(c: VmapConfig, st: Strategy, bugs: BugSet, ops: &[Op]) -> Vec<Seen> {
    let mut s = space(c, st);
    s.set_bugs(bugs);
    ops.iter()
        .map(|op| match *op {
            Op::Alloc(r) => Seen::Alloc(s.alloc(&r), s.take_purge()),
            Op::Free(a) => Seen::Free(s.free(a), s.take_purge()),
        })
        .collect()
}

/// Runs `ops` with and without `bug` on `st`; asserts the correct run matches the
/// model's expectation (`last`, the final op's outcome) and the buggy one deviates.
fn deviates(c: VmapConfig, st: Strategy, bug: Bug, ops: &[Op], last: Seen) -> Seen {
    let good = run(c, st, BugSet::NONE, ops);
    let bad = run(c, st, BugSet::only(bug), ops);
    assert_eq!(good.last(), Some(&last), "{bug}: the correct space");
    assert_ne!(good, bad, "{bug} on {st:?} does not deviate");
    // Every other strategy is unaffected by a bug it does not have.
    bad.into_iter().last().unwrap()
}

fn nog(pages: u64) -> VmapRequest {
    req(pages * P, P, None, false)
}

#[test]
fn cache_hole_forgets_guard() {
    let c = cfg(0, 16 * P - 1, 0);
    let g1 = VmapRequest::size(P);
    // A [0, 2P), B [2P, 4P), C [4P, 6P); freeing A (lazy limit 0) purges: hole [0, 2P).
    // A guarded 2-page request (extent 3 pages) does not fit the hole.
    let ops = [
        Op::Alloc(g1),
        Op::Alloc(g1),
        Op::Alloc(g1),
        Op::Free(0),
        Op::Alloc(VmapRequest::size(2 * P)),
    ];
    let bad = deviates(
        c,
        Strategy::Cache,
        Bug::CacheHoleForgetsGuard,
        &ops,
        Seen::Alloc(Ok(6 * P), None),
    );
    // Its guard page lands on B's first page.
    assert_eq!(bad, Seen::Alloc(Ok(0), None));
}

#[test]
fn cache_start_not_realigned() {
    let c = cfg(0, 64 * P - 1, 0);
    let ops = [Op::Alloc(nog(1)), Op::Alloc(req(P, 4 * P, None, false))];
    let bad = deviates(
        c,
        Strategy::Cache,
        Bug::CacheStartNotRealigned,
        &ops,
        Seen::Alloc(Ok(4 * P), None),
    );
    assert_eq!(bad, Seen::Alloc(Ok(P), None));
}

#[test]
fn top_end_wraps_to_zero() {
    let start = u64::MAX - 16 * P + 1;
    let c = cfg(start, u64::MAX, 0);
    let ops = [Op::Alloc(nog(16)), Op::Alloc(nog(1))];
    for st in [Strategy::Walk, Strategy::Cache] {
        let bad = deviates(
            c,
            st,
            Bug::TopEndWrapsToZero,
            &ops,
            Seen::Alloc(Err(AllocError::NoSpace), None),
        );
        assert_eq!(bad, Seen::Alloc(Ok(0), None), "{st:?}");
    }
}

#[test]
fn align_wraps_to_zero() {
    let c = cfg(u64::MAX - (1 << 32) + 1, u64::MAX, 0);
    let ops = [Op::Alloc(req(P, 1 << 63, None, true))];
    for st in [Strategy::Walk, Strategy::Cache] {
        let bad = deviates(
            c,
            st,
            Bug::AlignWrapsToZero,
            &ops,
            Seen::Alloc(Err(AllocError::NoSpace), None),
        );
        assert_eq!(bad, Seen::Alloc(Ok(0), None), "{st:?}");
    }
}

#[test]
fn tree_pads_by_align() {
    let c = cfg(0, 16 * P - 1, 0);
    // Four 4-page areas fill the space; freeing the second (limit 0 purges) leaves one
    // free block [16K, 32K): exactly a 4-page area aligned at 16 KiB.
    let ops = [
        Op::Alloc(nog(4)),
        Op::Alloc(nog(4)),
        Op::Alloc(nog(4)),
        Op::Alloc(nog(4)),
        Op::Free(4 * P),
        Op::Alloc(req(4 * P, 4 * P, None, false)),
    ];
    let bad = deviates(
        c,
        Strategy::Tree,
        Bug::TreePadsByAlign,
        &ops,
        Seen::Alloc(Ok(4 * P), None),
    );
    assert_eq!(bad, Seen::Alloc(Err(AllocError::NoSpace), None));
}

#[test]
fn lazy_reused_before_purge() {
    let c = cfg(0, 16 * P - 1, 100);
    // The first request's larger alignment makes the Cache reset on the second one (a
    // search from the cache would start above the lazily freed area anyway).
    let ops = [
        Op::Alloc(req(2 * P, 2 * P, None, false)),
        Op::Free(0),
        Op::Alloc(nog(2)),
    ];
    for st in [Strategy::Walk, Strategy::Cache] {
        let bad = deviates(
            c,
            st,
            Bug::LazyReusedBeforePurge,
            &ops,
            Seen::Alloc(Ok(2 * P), None),
        );
        assert_eq!(bad, Seen::Alloc(Ok(0), None), "{st:?}");
    }
}

#[test]
fn purge_flushes_to_max_start() {
    let c = cfg(0, 16 * P - 1, 3);
    let ops = [
        Op::Alloc(VmapRequest::size(P)),
        Op::Alloc(VmapRequest::size(2 * P)),
        Op::Free(0),
        Op::Free(2 * P),
    ];
    let right = Purge {
        start: 0,
        last: 5 * P - 1,
        areas: 2,
        pages: 5,
    };
    for st in ALL_STRATEGIES {
        let bad = deviates(
            c,
            st,
            Bug::PurgeFlushesToMaxStart,
            &ops,
            Seen::Free(Ok(()), Some(right)),
        );
        let short = Purge {
            last: 2 * P,
            ..right
        };
        assert_eq!(bad, Seen::Free(Ok(()), Some(short)), "{st:?}");
    }
}

/// A bug never makes an operation panic, even on the random sequences.
#[test]
fn buggy_spaces_never_panic() {
    let bugs = [
        Bug::CacheHoleForgetsGuard,
        Bug::CacheStartNotRealigned,
        Bug::TopEndWrapsToZero,
        Bug::AlignWrapsToZero,
        Bug::TreePadsByAlign,
        Bug::LazyReusedBeforePurge,
        Bug::PurgeFlushesToMaxStart,
    ];
    for (i, &(start, last)) in SPACES.iter().enumerate() {
        for bug in bugs {
            for st in ALL_STRATEGIES {
                let mut s = space(cfg(start, last, 3), st);
                s.set_bugs(BugSet::only(bug));
                let mut rng = XorShift::new(0x5eed ^ (i as u64) << 20 ^ bug as u64);
                let mut live = Vec::new();
                for _ in 0..300 {
                    if rng.percent(60) || live.is_empty() {
                        if let Ok(a) = s.alloc(&random_request(&mut rng, start, last)) {
                            live.push(a);
                        }
                    } else {
                        let a = live.swap_remove(rng.below(live.len() as u64) as usize);
                        let _ = s.free(a);
                    }
                    let _ = s.take_purge();
                    let _ = s.check_invariants();
                    let _ = s.stats();
                }
            }
        }
    }
}
