//! The fuzz bodies also run in `cargo test`: a short seeded campaign per target (fixed seed,
//! bounded case count, so it is the same work on every machine), and the codec round trip
//! that lets a minimized case be saved.

use kvafuzz::harness::campaign::{generate, run_campaign, CampaignConfig};
use kvafuzz::harness::{vmem, BugSet, Case, REGISTRY};

/// Cases per target in `cargo test` (the seeded campaign in CI runs far more).
const TEST_CASES: u64 = 1500;

#[test]
fn short_seeded_campaign_finds_nothing() {
    for &target in REGISTRY {
        let report = run_campaign(&CampaignConfig {
            target,
            seed: 0x6b76_6166_757a_7a00,
            jobs: 1,
            time_limit: None,
            max_cases: Some(TEST_CASES),
            bugs: BugSet::NONE,
            progress: false,
        });
        if let Some(found) = report.finding {
            panic!(
                "{target}: case {} of the test campaign: {}",
                found.case, found.finding
            );
        }
        assert_eq!(report.cases, TEST_CASES);
        assert!(
            report.ops > TEST_CASES,
            "{target}: the cases did almost nothing"
        );
    }
}

#[test]
fn generation_is_deterministic() {
    assert_eq!(generate(7, 1, 42), generate(7, 1, 42));
    assert_ne!(generate(7, 1, 42), generate(7, 2, 42));
    assert_ne!(generate(7, 1, 42), generate(7, 1, 43));
}

/// The codec round trip on every registered target, on the campaign's own inputs (the
/// proptest in `state_machine.rs` does it on arbitrary bytes).
#[test]
fn every_targets_campaign_inputs_round_trip() {
    for &target in REGISTRY {
        for k in 0..300 {
            let r = target.round_trip(&generate(99, 0, k));
            assert!(r.is_ok(), "{target} case {k}: {}", r.unwrap_err());
        }
    }
}

#[test]
fn vmem_scenarios_encode_to_bytes_that_decode_back() {
    for k in 0..500 {
        let data = generate(99, 0, k);
        let case = vmem::Scenario::decode(&data);
        let again = vmem::Scenario::decode(&case.encode());
        assert_eq!(case, again, "case {k}");
        // And the re-encoded case behaves the same.
        assert_eq!(
            case.execute(BugSet::NONE, None),
            again.execute(BugSet::NONE, None)
        );
    }
}
