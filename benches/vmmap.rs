//! findspace on a fragmented vm_map with 10^2..10^5 entries: the seed's linear scan vs the
//! max-gap-augmented gap index vs the naive oracle, on the same map in the same run.
//!
//! The map: entries of 3 pages every 4 pages from `MAP_MIN`, so every gap but the last is one
//! page, then one large free gap up to the end of the map. The query (2 pages, 2-page aligned,
//! from `MAP_MIN`) fits only in that last gap: the worst case of the linear scan (it walks
//! every entry), an O(log n) descent for the gap index (every small gap is pruned by its
//! subtree's max gap), and O(n^2) for the oracle (one pass over all entries per blocked
//! candidate), which is why the oracle is timed only up to 10^4 entries. All three answers are
//! checked equal before anything is timed.
//!
//! Benchmark ids (parsed by `ci/bench`): `findspace/linear/N`, `findspace/gapindex/N`,
//! `findspace/oracle/N`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use kvafuzz::addr::{Arch, PAGE_SIZE};
use kvafuzz::vmmap::{Strategy, VmMap};
use kvafuzz_oracles::findspace::findspace as oracle_findspace;

/// Entry counts benchmarked.
const SIZES: [usize; 4] = [100, 1_000, 10_000, 100_000];

/// The oracle is O(n^2) on this query: timed only up to this many entries.
const ORACLE_MAX_ENTRIES: usize = 10_000;

/// First byte of the map (x86_64 lower half, above the first 4 GiB).
const MAP_MIN: u64 = 0x1_0000_0000;

/// Last byte of the map: 2^40 bytes above `MAP_MIN`, far more than 10^5 entries x 4 pages.
const MAP_MAX: u64 = MAP_MIN + (1 << 40) - 1;

/// Query length and alignment (2 pages each): larger than every small gap.
const QUERY_LEN: u64 = 2 * PAGE_SIZE;
const QUERY_ALIGN: u64 = 2 * PAGE_SIZE;

/// The fragmented map with `n` entries (see the module comment).
fn fragmented(n: usize) -> VmMap {
    let mut m = VmMap::new(Arch::X86_64, MAP_MIN, MAP_MAX).expect("legal bounds");
    for k in 0..n as u64 {
        m.map_fixed(MAP_MIN + k * 4 * PAGE_SIZE, 3 * PAGE_SIZE, k)
            .expect("disjoint entries inside the map");
    }
    m
}

fn findspace(c: &mut Criterion) {
    let mut group = c.benchmark_group("findspace");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    for n in SIZES {
        let map = fragmented(n);
        let entries: Vec<(u64, u64)> = map
            .entries()
            .map(|e| (e.range.start(), e.range.last()))
            .collect();
        let expected = MAP_MIN + n as u64 * 4 * PAGE_SIZE;
        let query = (MAP_MIN, QUERY_LEN, QUERY_ALIGN);
        for s in [Strategy::Linear, Strategy::GapIndex] {
            assert_eq!(
                map.findspace_with(s, query.0, query.1, query.2),
                Ok(expected),
                "{s:?} at {n} entries"
            );
        }
        if n <= ORACLE_MAX_ENTRIES {
            assert_eq!(
                oracle_findspace(MAP_MIN, MAP_MAX, &entries, query.0, query.1, query.2),
                Ok(expected),
                "oracle at {n} entries"
            );
        }
        for (name, s) in [
            ("linear", Strategy::Linear),
            ("gapindex", Strategy::GapIndex),
        ] {
            group.bench_with_input(BenchmarkId::new(name, n), &query, |b, &(st, l, a)| {
                b.iter(|| map.findspace_with(s, black_box(st), black_box(l), black_box(a)))
            });
        }
        if n <= ORACLE_MAX_ENTRIES {
            // Tens of milliseconds per call at 10^4: flat sampling keeps it to a few seconds.
            group.sampling_mode(SamplingMode::Flat).sample_size(10);
            group.bench_with_input(BenchmarkId::new("oracle", n), &query, |b, &(st, l, a)| {
                b.iter(|| {
                    oracle_findspace(
                        MAP_MIN,
                        MAP_MAX,
                        black_box(&entries),
                        black_box(st),
                        black_box(l),
                        black_box(a),
                    )
                })
            });
            group.sampling_mode(SamplingMode::Auto).sample_size(20);
        }
    }
    group.finish();
}

criterion_group!(benches, findspace);
criterion_main!(benches);
