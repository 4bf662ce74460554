//! Unit tests of the slab target: the codec round trip, the seeds, and what they reach.

use super::{seed_scenarios, Scenario};
use crate::harness::campaign::generate;
use crate::harness::{assert_seeds_pass_and_round_trip, BugSet, Case};

#[test]
fn decoded_bytes_round_trip() {
    for k in 0..500 {
        let s = Scenario::decode(&generate(0x736c_6162, 0, k));
        assert_eq!(Scenario::decode(&s.encode()), s, "case {k}");
    }
}

#[test]
fn seeds_pass_and_round_trip() {
    assert_seeds_pass_and_round_trip(seed_scenarios());
}

/// The seeds reach what they are named for: every free error, limits, refcounts, reclaim,
/// an item at address 0, slabs ending at the top of the 32- and 64-bit spaces, NoSpace.
#[test]
fn seeds_reach_every_error_and_the_tops() {
    let mut text = String::new();
    for (name, s) in seed_scenarios() {
        let mut t = String::new();
        s.execute(BugSet::NONE, Some(&mut t)).unwrap();
        text.push_str(&format!("== {name}\n{t}"));
    }
    for needle in [
        "Err(WrongZone)",
        "Err(NotLive)",
        "Err(NotItemStart)",
        "Err(InHeader)",
        "Err(Limit)",
        "Err(NoSpace)",
        "Err(NoZone)",
        "Err(BadCpu)",
        "Ok(2)",
        "Ok(Item { addr: 0,",
        "0xffffffffffffffff",
        "slabs released",
    ] {
        assert!(text.contains(needle), "no seed shows {needle}\n{text}");
    }
}

/// The campaign's generated inputs are worth running: most create their kegs and zones,
/// and their ops reach successes and each kind of refusal.
#[test]
fn generated_scenarios_reach_every_outcome() {
    /// Inputs looked at.
    const CASES: u64 = 600;
    let (mut ok, mut errors) = (0u64, 0u64);
    let mut text = String::new();
    for k in 0..CASES {
        let s = Scenario::decode(&generate(0x736c_6131, 0, k));
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
        "Err(NotLive)",
        "Err(NotSlab)",
        "Err(NotItemStart)",
        "Err(WrongZone)",
        "Err(NoSpace)",
        "slabs released",
    ] {
        assert!(text.contains(needle), "no generated op shows {needle}");
    }
}
