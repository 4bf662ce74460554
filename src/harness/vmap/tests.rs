//! Unit tests of the vmap target: the codec round trip, the seeds, and the seeds' reach.

use super::{seed_scenarios, Op, Scenario, MAX_FILL_AREAS};
use crate::harness::campaign::generate;
use crate::harness::{assert_seeds_pass_and_round_trip, BugSet, Case};

#[test]
fn decoded_bytes_round_trip() {
    for k in 0..500 {
        let s = Scenario::decode(&generate(0x766d_6170, 0, k));
        assert_eq!(Scenario::decode(&s.encode()), s, "case {k}");
    }
}

#[test]
fn seeds_pass_and_round_trip() {
    assert_seeds_pass_and_round_trip(seed_scenarios());
}

/// The seeds reach what they are named for: purges (on free, on a failed allocation, and
/// explicit), double frees refused, huge alignments refused cleanly, exact fits at the top.
#[test]
fn seeds_reach_purges_errors_and_the_top() {
    let mut text = String::new();
    for (name, s) in seed_scenarios() {
        let mut t = String::new();
        s.execute(BugSet::NONE, Some(&mut t)).unwrap();
        text.push_str(&format!("== {name}\n{t}"));
    }
    for needle in [
        "purged PurgeRecord",
        "(after a purge of",
        "Err(NotBusy)",
        "Err(NoSpace)",
        "Err(SizeWraps)",
        "Ok(ffffffffffff",
        "Ok(fffff",
    ] {
        assert!(text.contains(needle), "no seed shows {needle}\n{text}");
    }
    assert!(seed_scenarios()
        .iter()
        .any(|(_, s)| s.ops.iter().any(|o| matches!(o, Op::Purge))));
}

/// Each seeded vmap bug is caught by a short campaign (tested for every target in
/// `harness::tests`); here: the seeds alone already catch the ones at the top of the space.
#[cfg(feature = "seeded-bugs")]
#[test]
fn the_top_seeds_catch_the_wrap_bugs() {
    use crate::bugs::Bug;
    for bug in [Bug::TopEndWrapsToZero, Bug::PurgeFlushesToMaxStart] {
        let bugs = BugSet::only(bug);
        assert!(
            seed_scenarios()
                .iter()
                .any(|(_, s)| s.execute(bugs, None).is_err()),
            "{bug}: no seed catches it"
        );
    }
}

/// The campaign's generated inputs are worth running: most build a space, and their ops
/// reach successful allocations, frees, purges and each kind of refusal in fair shares.
#[test]
fn generated_scenarios_reach_every_outcome() {
    /// Inputs looked at.
    const CASES: u64 = 2000;
    let (mut built, mut ok, mut errors) = (0u64, 0u64, 0u64);
    let mut text = String::new();
    for k in 0..CASES {
        let s = Scenario::decode(&generate(0x7661_7031, 0, k));
        let mut t = String::new();
        let stats = s.execute(BugSet::NONE, Some(&mut t)).unwrap();
        if !t.contains("no op runs") {
            built += 1;
        }
        ok += stats.ok;
        errors += stats.errors;
        if k < 300 {
            text.push_str(&t);
        }
    }
    assert!(
        built * 10 >= CASES * 8,
        "only {built} of {CASES} spaces built"
    );
    assert!(ok * 3 >= ok + errors, "{ok} ok, {errors} errors");
    for needle in [
        "purged PurgeRecord",
        "(after a purge of",
        "Err(NotBusy)",
        "Err(NoSpace)",
        "Err(SizeWraps)",
        "Err(BadWindow)",
        "Err(BadAlign)",
        "Err(ZeroSize)",
        " placed, then NoSpace",
    ] {
        assert!(text.contains(needle), "no generated op shows {needle}");
    }
}

/// test_vmalloc's long busy list runs at its real size: one seed holds 15,000 busy areas
/// at once, every later 1-page search crossing them.
#[test]
fn the_long_busy_list_seed_holds_15000_areas() {
    let (_, s) = seed_scenarios()
        .into_iter()
        .find(|(name, _)| *name == "test-vmalloc-long-busy-list")
        .unwrap();
    let mut t = String::new();
    s.execute(BugSet::NONE, Some(&mut t)).unwrap();
    assert!(t.contains("fill 15000 x size=0x1000"), "{t}");
    assert!(t.contains("-> 15000 placed"), "{t}");
    assert!(t.contains("15001 busy"), "{t}");
}

/// A fill's count reaches its limit from below and at it, and the codec keeps both.
#[test]
fn fill_counts_reach_the_limit() {
    for count in [1, MAX_FILL_AREAS - 1, MAX_FILL_AREAS] {
        let s = Scenario {
            start: 0x1000_0000,
            last: 0x1000_0000 + 40_000 * 4096 - 1,
            lazy_max_pages: 0,
            cpus: 1,
            alt_mode: false,
            frames: 1,
            ops: vec![Op::Fill {
                count,
                size: 4096,
                align: 4096,
                window: super::WindowSel::Whole,
                guard: true,
            }],
        };
        assert_eq!(Scenario::decode(&s.encode()), s);
        let mut t = String::new();
        s.execute(BugSet::NONE, Some(&mut t)).unwrap();
        assert!(t.contains(&format!("-> {count} placed")), "{t}");
    }
}
