//! The unit tests of the vmmap target.

use kvafuzz_oracles::sharing as os;

use super::sharing::{self, oracle_mapping, sharing_geometry, SHARING_CHECK_SEGMENTS};
use super::VmmapTarget;
use super::{seed_scenarios, Scenario};
use crate::addr::{Arch, PAGE_SIZE};
use crate::harness::campaign::generate;
use crate::harness::drive::drive;
use crate::harness::{BugSet, Case, Target};
use crate::vmmap::{ObjectMapping, VmMap};

#[test]
fn decode_encode_round_trip() {
    for k in 0..3000 {
        let data = generate(0x0076_6d6d_6170, (k % 4) as u32, k);
        let case = Scenario::decode(&data);
        let bytes = case.encode();
        let again = Scenario::decode(&bytes);
        assert_eq!(case, again, "case {k}");
        // The canonical encoding is a fixed point.
        assert_eq!(again.encode(), bytes, "case {k}");
        assert_eq!(
            case.execute(BugSet::NONE, None),
            again.execute(BugSet::NONE, None),
            "case {k}"
        );
    }
}

#[test]
fn decoded_bounds_are_always_legal() {
    for k in 0..3000 {
        let case = Scenario::decode(&generate(3, 0, k));
        assert!(
            VmMap::new(case.arch, case.min, case.max).is_ok(),
            "case {k}: {}",
            case.header_line()
        );
    }
}

/// The hand-written seed scenarios alone catch each seeded vmmap bug. (That a campaign
/// finds each bug and minimizes it is tested once for every target, in
/// `harness::tests::every_seeded_bug_is_found_and_minimized`.)
#[cfg(feature = "seeded-bugs")]
#[test]
fn seed_scenarios_catch_every_seeded_bug() {
    for &bug in <VmmapTarget as Target>::BUGS {
        let bugs = BugSet::only(bug);
        assert!(
            seed_scenarios()
                .iter()
                .any(|(_, s)| s.execute(bugs, None).is_err()),
            "{bug}: no seed scenario catches it"
        );
    }
}

/// What a derived sharing input's oracle verdict says, coarsely (for the coverage test).
fn verdict_class(arch: Arch, name: &str, input: &[ObjectMapping]) -> String {
    use os::SharingErrorKind as K;
    let g = sharing_geometry(arch);
    let plain: Vec<os::Mapping> = input.iter().map(oracle_mapping).collect();
    let what = match os::validate(&g, &plain) {
        Ok(pairs) if pairs > SHARING_CHECK_SEGMENTS => "not counted".into(),
        Ok(_) => {
            let c = os::count(&g, &plain);
            match (c.shared_pages > 0, c.private_pages > 0) {
                (false, false) => "Ok, nothing mapped".into(),
                (true, true) => "Ok, shared and private".into(),
                (true, false) => "Ok, all shared".into(),
                (false, true) => "Ok, all private".into(),
            }
        }
        Err(K::BadRange { error, .. }) => format!("BadRange {error:?}"),
        Err(K::NotPageAligned { index }) if input[index].start.is_multiple_of(PAGE_SIZE) => {
            "NotPageAligned offset".into()
        }
        Err(K::NotPageAligned { .. }) => "NotPageAligned start".into(),
        Err(K::OffsetWraps { .. }) => "OffsetWraps".into(),
        Err(K::Overlap { first, second }) => {
            let (a, b) = (&input[first], &input[second]);
            let one = a.start.wrapping_add(a.length).wrapping_sub(1) == b.start;
            format!("Overlap{}", if one { " by one byte" } else { "" })
        }
        Err(K::TooManySegments) => "TooManySegments".into(),
    };
    format!("{name}: {what}")
}

/// The derived inputs reach every verdict of `segment_sharing` (the seed scenarios and a
/// fixed set of generated cases), and the pages input stays small. Printed with
/// `--nocapture`.
#[test]
fn derived_sharing_inputs_reach_every_verdict() {
    use std::collections::BTreeMap;
    let mut cases: Vec<Scenario> = seed_scenarios().into_iter().map(|(_, s)| s).collect();
    cases.extend((0..1000).map(|k| Scenario::decode(&generate(0x5eed, 0, k))));
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for case in &cases {
        let mut ex = case.executor(BugSet::NONE).unwrap();
        drive(VmmapTarget::NAME, &mut ex, &case.ops, None).unwrap();
        for (name, input) in sharing::inputs(ex.arch, &ex.model) {
            *seen
                .entry(verdict_class(case.arch, name, &input))
                .or_default() += 1;
            if name == "pages" {
                let pairs = os::validate(
                    &sharing_geometry(case.arch),
                    &input.iter().map(oracle_mapping).collect::<Vec<_>>(),
                );
                assert!(
                    pairs.map_or(true, |p| p <= SHARING_CHECK_SEGMENTS),
                    "{pairs:?}"
                );
            }
        }
    }
    for (class, n) in &seen {
        println!("{class}: {n}");
    }
    for class in [
        "raw: BadRange Empty",
        "raw: BadRange PastTop",
        "raw: BadRange Wraps",
        "raw: BadRange NonCanonical",
        "raw: NotPageAligned start",
        "raw: NotPageAligned offset",
        "raw: OffsetWraps",
        "raw: Overlap",
        "raw: Overlap by one byte",
        "raw: TooManySegments",
        "raw: Ok, shared and private",
        "pages: BadRange PastTop",
        "pages: Ok, shared and private",
    ] {
        assert!(seen.contains_key(class), "never reached: {class}");
    }
}

#[test]
fn seed_scenarios_pass_and_round_trip() {
    crate::harness::assert_seeds_pass_and_round_trip(seed_scenarios());
}
