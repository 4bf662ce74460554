//! Unit tests of the kmem target: the codec round trip, the seeds, and what they reach.

use super::{seed_scenarios, Scenario};
use crate::harness::campaign::generate;
use crate::harness::{assert_seeds_pass_and_round_trip, BugSet, Case};

#[test]
fn decoded_bytes_round_trip() {
    for k in 0..500 {
        let s = Scenario::decode(&generate(0x6b6d_656d, 0, k));
        assert_eq!(Scenario::decode(&s.encode()), s, "case {k}");
    }
}

#[test]
fn seeds_pass_and_round_trip() {
    assert_seeds_pass_and_round_trip(seed_scenarios());
}

/// The seeds reach what they are named for.
#[test]
fn seeds_reach_every_error_and_address_zero() {
    let mut text = String::new();
    for (name, s) in seed_scenarios() {
        let mut t = String::new();
        s.execute(BugSet::NONE, Some(&mut t)).unwrap();
        text.push_str(&format!("== {name}\n{t}"));
    }
    for needle in [
        "Err(WrongSize",
        "Err(Redzone",
        "Err(BadFree)",
        "Err(NoSpace)",
        "Err(TooBig)",
        "Err(ZeroSize)",
        "-> Ok(0)",
        "0x0: Ok(())",
    ] {
        assert!(text.contains(needle), "no seed shows {needle}\n{text}");
    }
}

/// The campaign's generated inputs reach successes and each kind of refusal.
#[test]
fn generated_scenarios_reach_every_outcome() {
    /// Inputs looked at.
    const CASES: u64 = 600;
    let (mut ok, mut errors) = (0u64, 0u64);
    let mut text = String::new();
    for k in 0..CASES {
        let s = Scenario::decode(&generate(0x6b6d_3031, 0, k));
        let mut t = String::new();
        let stats = s.execute(BugSet::NONE, Some(&mut t)).unwrap();
        ok += stats.ok;
        errors += stats.errors;
        if k < 300 {
            text.push_str(&t);
        }
    }
    assert!(ok * 3 >= ok + errors, "{ok} ok, {errors} errors");
    for needle in [
        "Err(BadFree)",
        "Err(WrongSize",
        "Err(Redzone",
        "Err(NoSpace)",
    ] {
        assert!(text.contains(needle), "no generated op shows {needle}");
    }
}
