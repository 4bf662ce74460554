//! Unit tests of the mmu target: the codec round trip, the seeds, the refused configurations.

use super::*;
use crate::addr::Arch;
use crate::harness::campaign::generate;
use crate::harness::{BugSet, Case};
use crate::mmu::MAX_FRAMES;

#[test]
fn scenarios_encode_to_bytes_that_decode_back() {
    for k in 0..500 {
        let data = generate(0x6d6d75, 0, k);
        let case = Scenario::decode(&data);
        let again = Scenario::decode(&case.encode());
        let header = |s: &Scenario| (s.arch, s.frames, s.cpus, s.tlb_entries, s.ops.len());
        assert_eq!(header(&case), header(&again), "case {k}");
        for (i, (x, y)) in case.ops.iter().zip(&again.ops).enumerate() {
            assert_eq!(x, y, "case {k} op {i}");
        }
        assert_eq!(
            case.execute(BugSet::NONE, None),
            again.execute(BugSet::NONE, None),
            "case {k}"
        );
    }
    for (name, s) in seed_scenarios() {
        assert_eq!(Scenario::decode(&s.encode()), s, "{name}");
    }
}

#[test]
fn seeds_run_clean_and_do_what_they_say() {
    for (name, s) in seed_scenarios() {
        let mut text = String::new();
        let r = s.execute(BugSet::NONE, Some(&mut text));
        assert!(r.is_ok(), "{name}: {r:?}\n{text}");
        let stats = r.unwrap();
        assert!(
            stats.ok > 0 && stats.errors > 0,
            "{name}: {stats:?}\n{text}"
        );
        if name.contains("large-page-over-live-table") {
            assert!(text.contains("TableInTheWay"), "{name}\n{text}");
        }
        if name.contains("address-zero") {
            assert!(text.contains("stale TLB hit (predicted)"), "{name}\n{text}");
        }
    }
}

#[test]
fn a_refused_configuration_is_predicted() {
    for (frames, cpus, tlb_entries) in [(0, 1, 1), (1, 0, 1), (1, 1, 0), (MAX_FRAMES + 1, 1, 1)] {
        let s = Scenario {
            arch: Arch::Pae,
            frames,
            cpus,
            tlb_entries,
            ops: vec![Op::CreateSpace],
        };
        let stats = s.execute(BugSet::NONE, None).unwrap();
        assert_eq!((stats.ops, stats.ok, stats.errors), (1, 0, 1));
        assert_eq!(stats.error_kinds.names().len(), 1, "{stats:?}");
    }
}

#[cfg(feature = "seeded-bugs")]
#[test]
fn the_largest_map_off_by_one_shows_at_exactly_the_largest_map() {
    use crate::bugs::Bug;
    use crate::mmu::MAX_MAP_PAGES;
    // From a GiB boundary its last page is entry 511 of its table: only the size matters.
    let map = |pages: u64| Op::Map {
        space: SpaceSel::Live(0),
        va: Va::Raw(1 << 30),
        pa: 0,
        len: pages * K4,
        flags: 0x81,
        page_size: K4,
    };
    let bug = BugSet::only(Bug::LargestMapOffByOne);
    for pages in [MAX_MAP_PAGES - 1, MAX_MAP_PAGES] {
        let s = Scenario {
            arch: Arch::X86_64,
            frames: 1024,
            cpus: 1,
            tlb_entries: 4,
            ops: vec![map(pages)],
        };
        assert!(s.execute(BugSet::NONE, None).is_ok());
        assert_eq!(
            s.execute(bug, None).is_err(),
            pages == MAX_MAP_PAGES,
            "{pages}"
        );
    }
}
