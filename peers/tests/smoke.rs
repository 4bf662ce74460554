//! The heap adapters, whose campaigns found little, do allocate: over generated inputs a
//! good share of their allocations succeed (an adapter refusing everything would pass every
//! campaign and prove nothing).

use kvafuzz::harness::campaign::generate;
use kvafuzz::harness::{trace, BugSet};
use kvafuzz_peers::target;

/// Generated inputs per adapter.
const INPUTS: u64 = 300;

/// Allocations that succeeded and allocations run, over the inputs' traces.
fn allocations(name: &str) -> (usize, usize) {
    let t = target(name).unwrap();
    let (mut ok, mut all) = (0, 0);
    for k in 0..INPUTS {
        let (text, _) = trace(t, &generate(7, 0, k), BugSet::NONE);
        for line in text.lines().filter(|l| l.contains("alloc arena")) {
            all += 1;
            ok += usize::from(line.contains("Ok("));
        }
    }
    (ok, all)
}

#[test]
fn the_heap_adapters_allocate() {
    for name in ["talc", "linked-list-allocator"] {
        let (ok, all) = allocations(name);
        assert!(
            all > 300 && ok > all / 10,
            "{name}: {ok} of {all} allocations succeeded"
        );
    }
}
