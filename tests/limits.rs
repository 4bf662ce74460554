//! Every named limit of the allocators, with the op that reaches it, and the proof that the
//! generators reach the mmu's, the slab layer's and kmem's from both sides (limit - 1,
//! limit, limit + 1; issue 17, blind spot 3).
//!
//! The proof runs the campaign's generator ([`generate`]) and decodes its inputs (decoding is
//! all it takes to know what an op asks for), then executes scenarios at each limit against
//! the MMU and its oracle, so that the ops are seen to reach the limit, not only to name it.

use std::collections::BTreeSet;

use kvafuzz::addr::{Arch, ALL_ARCHES};
use kvafuzz::harness::campaign::generate;
use kvafuzz::harness::mmu::{FlushMode, Op, Place, Scenario, SpaceSel, Va, MAX_RESIZE_PAGES};
use kvafuzz::harness::{BugSet, Case};
use kvafuzz::mmu::geometry::{Geometry, NARROW_ENTRIES, PDPT_ENTRIES, WIDE_ENTRIES};
use kvafuzz::mmu::{MAX_CPUS, MAX_FRAMES, MAX_MAP_PAGES, MAX_SPACES, MAX_TLB_ENTRIES};

/// How a limit is reached.
#[derive(Debug)]
enum Reach {
    /// By the mmu target's generator, from both sides (checked below).
    MmuGenerator,
    /// By the slab target's generator, from both sides (checked below).
    SlabGenerator,
    /// By the kmem target's generator, from both sides (checked below).
    KmemGenerator,
    /// Not by a generator: by the unit test named, or not at all (the reason).
    Elsewhere(&'static str),
}

/// Every named limit: (name, value, the op that reaches it, how).
fn limits() -> Vec<(&'static str, u128, &'static str, Reach)> {
    use Reach::*;
    vec![
        (
            "mmu::MAX_MAP_PAGES",
            MAX_MAP_PAGES.into(),
            "map (limit map, 2^16 - 1 / 2^16 / 2^16 + 1 pages)",
            MmuGenerator,
        ),
        (
            "mmu::MAX_FRAMES",
            MAX_FRAMES.into(),
            "new (header: frame pool)",
            MmuGenerator,
        ),
        (
            "mmu::MAX_CPUS",
            MAX_CPUS.into(),
            "new (header: CPU count)",
            MmuGenerator,
        ),
        (
            "mmu::MAX_TLB_ENTRIES",
            MAX_TLB_ENTRIES.into(),
            "new (header: TLB size)",
            MmuGenerator,
        ),
        (
            "mmu::geometry::WIDE_ENTRIES",
            WIDE_ENTRIES as u128,
            "map (limit map: 511 / 512 / 513 pages, table boundaries)",
            MmuGenerator,
        ),
        (
            "mmu::geometry::NARROW_ENTRIES",
            NARROW_ENTRIES as u128,
            "map (limit map: 1023 / 1024 / 1025 pages, IA-32 table boundaries)",
            MmuGenerator,
        ),
        (
            "mmu::geometry::PDPT_ENTRIES",
            PDPT_ENTRIES as u128,
            "map (limit map: 3 / 4 / 5 pages; PAE's 1 GiB boundaries)",
            MmuGenerator,
        ),
        (
            "top of each space, canonical hole edges, kernel base, physical top",
            0,
            "map (limit map: ending at, one page past, one page short of each edge)",
            MmuGenerator,
        ),
        (
            "mmu::MAX_SPACES",
            MAX_SPACES as u128,
            "create_space",
            Elsewhere(
                "mmu::tests (the harness keeps MAX_CASE_SPACES = 8 live spaces: every op compares \
                 every space's watched walks)",
            ),
        ),
        (
            "harness::mmu::MAX_RESIZE_PAGES",
            MAX_RESIZE_PAGES.into(),
            "resize (a harness bound, not the MMU's: larger splits are skipped)",
            Elsewhere("a harness bound"),
        ),
        (
            "vmap::MAX_DATA_FRAMES",
            kvafuzz::vmap::MAX_DATA_FRAMES.into(),
            "Vmalloc::new",
            Elsewhere("vmap target caps its pool at MAX_CASE_FRAMES = 4096; vmalloc unit tests"),
        ),
        (
            "slab::MAX_ITEM_SIZE",
            kvafuzz::slab::MAX_ITEM_SIZE.into(),
            "add_keg (slab header: item size 65,535 / 65,536 / 65,537)",
            SlabGenerator,
        ),
        (
            "slab::MAX_ITEM_ALIGN",
            kvafuzz::slab::MAX_ITEM_ALIGN.into(),
            "add_keg (slab header: alignment 2,048 / 4,096 / 8,192)",
            SlabGenerator,
        ),
        (
            "slab::MAX_ROUNDS",
            kvafuzz::slab::MAX_ROUNDS.into(),
            "add_zone (slab header: rounds 63 / 64 / 65), Kmem::new (kmem header)",
            SlabGenerator,
        ),
        (
            "slab::MAX_DEPOT",
            kvafuzz::slab::MAX_DEPOT.into(),
            "add_zone (slab header: depot 63 / 64 / 65), Kmem::new (kmem header)",
            SlabGenerator,
        ),
        (
            "slab::MAX_CPUS",
            kvafuzz::slab::MAX_CPUS.into(),
            "Slabs::new (slab header: CPUs 7 / 8 / 9)",
            SlabGenerator,
        ),
        (
            "slab::MAX_SLAB_SIZE",
            kvafuzz::slab::MAX_SLAB_SIZE.into(),
            "add_keg (the layout of the largest items)",
            Elsewhere("slab::tests and the slab oracle's layout tests (a layout, not an op)"),
        ),
        (
            "slab::MAX_KEGS",
            kvafuzz::slab::MAX_KEGS as u128,
            "add_keg",
            Elsewhere("slab::tests (a slab scenario makes at most MAX_CASE_KEGS = 4)"),
        ),
        (
            "slab::MAX_ZONES",
            kvafuzz::slab::MAX_ZONES as u128,
            "add_zone",
            Elsewhere("slab::tests (a slab scenario makes at most MAX_CASE_ZONES = 6)"),
        ),
        (
            "kmem::MAX_KMEM_SIZE",
            kvafuzz::kmem::MAX_KMEM_SIZE.into(),
            "kmem alloc (size 2^40 - 1 / 2^40 / 2^40 + 1)",
            KmemGenerator,
        ),
        (
            "kmem::KMEM_QCACHE_MAX",
            kvafuzz::kmem::KMEM_QCACHE_MAX.into(),
            "kmem alloc (size 127 / 128 / 129: the quantum caches' end)",
            KmemGenerator,
        ),
        (
            "kmem::KMEM_CLASS_MAX",
            kvafuzz::kmem::KMEM_CLASS_MAX.into(),
            "kmem alloc (size 4,095 / 4,096 / 4,097: the classes' end)",
            KmemGenerator,
        ),
        (
            "vmem::MAX_QCACHE_QUANTA",
            kvafuzz::vmem::MAX_QCACHE_QUANTA.into(),
            "CachedArena::new",
            Elsewhere("vmem::qcache tests (kmem uses 16 quanta)"),
        ),
        (
            "harness::vmap::MAX_FILL_AREAS",
            kvafuzz::harness::vmap::MAX_FILL_AREAS.into(),
            "vmap fill (16,383 / 16,384 areas; one more cannot be encoded)",
            Elsewhere("harness::vmap::tests::fill_counts_reach_the_limit"),
        ),
        (
            "vmmap::MAX_ENTRIES",
            kvafuzz::vmmap::MAX_ENTRIES as u128,
            "vmmap insert (2^20 entries)",
            Elsewhere("beyond MAX_OPS = 400 ops per case: the vmmap header names it, not reached"),
        ),
        (
            "vmmap::segment::MAX_SHARING_SEGMENTS",
            kvafuzz::vmmap::segment::MAX_SHARING_SEGMENTS.into(),
            "vmmap sharing (2^20 segments)",
            Elsewhere("beyond MAX_OPS: passed as the bound, not reached"),
        ),
    ]
}

#[test]
fn every_limit_is_listed_with_its_op() {
    let l = limits();
    let names: BTreeSet<&str> = l.iter().map(|(n, ..)| *n).collect();
    assert_eq!(names.len(), l.len(), "a limit listed twice");
    for (name, value, op, reach) in &l {
        assert!(!op.is_empty(), "{name}");
        if let Reach::Elsewhere(why) = reach {
            assert!(!why.is_empty(), "{name} = {value}");
        }
    }
    assert_eq!(MAX_MAP_PAGES, 1 << 16);
    assert_eq!((MAX_FRAMES, MAX_CPUS, MAX_TLB_ENTRIES), (1 << 16, 64, 4096));
}

/// What the generator's inputs ask for: header values and, per mode, the page counts and
/// the end addresses of the maps.
#[derive(Default)]
struct Seen {
    frames: BTreeSet<u32>,
    cpus: BTreeSet<u8>,
    tlbs: BTreeSet<u16>,
    pages: BTreeSet<u64>,
    /// (mode, page size, first address, end address (exclusive, u128)).
    maps: BTreeSet<(u8, u64, u64, u128)>,
}

fn arch_no(a: Arch) -> u8 {
    ALL_ARCHES.iter().position(|&x| x == a).unwrap() as u8
}

fn seen(cases: u64) -> Seen {
    let mut s = Seen::default();
    for k in 0..cases {
        let case = Scenario::decode(&generate(7, 0, k));
        s.frames.insert(case.frames);
        s.cpus.insert(case.cpus);
        s.tlbs.insert(case.tlb_entries);
        for op in &case.ops {
            if let Op::Map {
                va: Va::Raw(va),
                len,
                page_size,
                ..
            } = *op
            {
                if page_size > 0 && len % page_size == 0 {
                    s.pages.insert(len / page_size);
                    let end = u128::from(va) + u128::from(len);
                    s.maps.insert((arch_no(case.arch), page_size, va, end));
                }
            }
        }
    }
    s
}

/// `limit - 1`, `limit`, `limit + 1`.
fn both_sides(limit: u128) -> [u128; 3] {
    [limit - 1, limit, limit + 1]
}

#[test]
fn the_generator_reaches_every_mmu_limit_from_both_sides() {
    let s = seen(60_000);
    for n in both_sides(MAX_FRAMES.into()) {
        assert!(s.frames.contains(&(n as u32)), "frames {n}");
    }
    for n in both_sides(MAX_CPUS.into()) {
        assert!(s.cpus.contains(&(n as u8)), "cpus {n}");
    }
    for n in both_sides(MAX_TLB_ENTRIES.into()) {
        assert!(s.tlbs.contains(&(n as u16)), "tlb entries {n}");
    }
    for limit in [MAX_MAP_PAGES, WIDE_ENTRIES as u64, NARROW_ENTRIES as u64, 4] {
        for n in both_sides(limit.into()) {
            assert!(s.pages.contains(&(n as u64)), "a map of {n} pages");
        }
    }
    // Edges of each space, per mode and page size: some map ends exactly at the edge, one
    // page past it, one page short of it.
    for a in ALL_ARCHES {
        let g = Geometry::new(a);
        let mut edges: Vec<(&str, u128)> = vec![
            ("top", u128::from(a.max_addr()) + 1),
            ("kernel base", g.kernel_base().into()),
            ("lower half's end", u128::from(a.lower_half_last()) + 1),
        ];
        for level in 0..g.levels() {
            edges.push(("table boundary", 1u128 << g.table_span_shift(level)));
        }
        for &size in a.page_sizes() {
            for &(what, edge) in edges.iter().filter(|(_, e)| e % u128::from(size) == 0) {
                for end in [edge - u128::from(size), edge, edge + u128::from(size)] {
                    assert!(
                        s.maps
                            .iter()
                            .any(|&(m, p, _, e)| m == arch_no(a) && p == size && e == end),
                        "{a}: no map of {size:#x} pages ends at {what} {edge:#x} {:+}",
                        end as i128 - edge as i128
                    );
                }
            }
        }
        if let Some(upper) = a.upper_half_start() {
            for &size in a.page_sizes() {
                for start in [upper - size, upper, upper + size] {
                    assert!(
                        s.maps
                            .iter()
                            .any(|&(m, p, v, _)| m == arch_no(a) && p == size && v == start),
                        "{a}: no map of {size:#x} pages starts at {start:#x}"
                    );
                }
            }
        }
    }
}

/// A scenario of `ops` on `arch` with a roomy pool, two CPUs and 16 TLB entries.
fn scenario(arch: Arch, frames: u32, ops: Vec<Op>) -> Scenario {
    Scenario {
        arch,
        frames,
        cpus: 2,
        tlb_entries: 16,
        ops,
    }
}

fn map(va: u64, pages: u64, size: u64) -> Op {
    Op::Map {
        space: SpaceSel::Live(0),
        va: Va::Raw(va),
        pa: 0,
        len: pages * size,
        flags: 0x81,
        page_size: size,
    }
}

#[test]
fn the_largest_map_runs_at_and_is_refused_past_the_limit() {
    let k4 = 4096;
    let unmap = Op::Unmap {
        place: Place::Mapped {
            index: 0,
            first: 0,
            pages: 0,
        },
        flush: FlushMode::Apply,
    };
    for pages in [MAX_MAP_PAGES - 1, MAX_MAP_PAGES, MAX_MAP_PAGES + 1] {
        let s = scenario(Arch::X86_64, 1024, vec![map(0x4000_0000, pages, k4), unmap]);
        let mut text = String::new();
        let stats = s.execute(BugSet::NONE, Some(&mut text)).unwrap();
        let refused = text.contains("TooManyPages");
        assert_eq!(refused, pages > MAX_MAP_PAGES, "{pages} pages\n{text}");
        assert_eq!(stats.ok, if refused { 0 } else { 2 }, "{text}");
    }
}

#[test]
fn a_map_across_a_table_boundary_by_one_page_in_every_mode() {
    for a in ALL_ARCHES {
        let g = Geometry::new(a);
        let k4 = 4096u64;
        let entries = g.entries(0) as u64;
        // One table exactly, then one page more and one fewer, from a table's start.
        for pages in [entries - 1, entries, entries + 1] {
            let s = scenario(a, 64, vec![map(0x40_0000 * 4, pages, k4)]);
            let mut text = String::new();
            let r = s.execute(BugSet::NONE, Some(&mut text));
            assert!(r.is_ok_and(|st| st.ok == 1), "{a} {pages}\n{text}");
        }
    }
}

#[test]
fn the_generators_reach_every_slab_and_kmem_limit_from_both_sides() {
    use kvafuzz::harness::kmem::{Op as KOp, Scenario as KScenario};
    use kvafuzz::harness::slab::Scenario as SScenario;
    let (mut sizes, mut aligns, mut rounds, mut depots, mut cpus) = (
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
    );
    for k in 0..20_000 {
        let s = SScenario::decode(&generate(7, 0, k));
        cpus.insert(u128::from(s.cpus));
        for keg in &s.kegs {
            sizes.insert(u128::from(keg.item_size));
            aligns.insert(u128::from(keg.align));
        }
        for z in &s.zones {
            rounds.insert(u128::from(z.rounds));
            depots.insert(u128::from(z.depot));
        }
    }
    for n in both_sides(kvafuzz::slab::MAX_ITEM_SIZE.into()) {
        assert!(sizes.contains(&n), "item size {n}");
    }
    for n in [2048, 4096, 8192] {
        assert!(aligns.contains(&n), "align {n}");
    }
    for n in both_sides(kvafuzz::slab::MAX_ROUNDS.into()) {
        assert!(rounds.contains(&n), "rounds {n}");
    }
    for n in both_sides(kvafuzz::slab::MAX_DEPOT.into()) {
        assert!(depots.contains(&n), "depot {n}");
    }
    for n in both_sides(kvafuzz::slab::MAX_CPUS.into()) {
        assert!(cpus.contains(&n), "cpus {n}");
    }
    let (mut alloc_sizes, mut kmem_rounds) = (BTreeSet::new(), BTreeSet::new());
    for k in 0..20_000 {
        let s = KScenario::decode(&generate(7, 0, k));
        kmem_rounds.insert(u128::from(s.rounds));
        for op in &s.ops {
            if let KOp::Alloc { size, .. } = *op {
                alloc_sizes.insert(u128::from(size));
            }
        }
    }
    for limit in [
        kvafuzz::kmem::MAX_KMEM_SIZE,
        kvafuzz::kmem::KMEM_QCACHE_MAX,
        kvafuzz::kmem::KMEM_CLASS_MAX,
    ] {
        for n in both_sides(limit.into()) {
            assert!(alloc_sizes.contains(&n), "kmem alloc of {n}");
        }
    }
    for n in both_sides(kvafuzz::slab::MAX_ROUNDS.into()) {
        assert!(kmem_rounds.contains(&n), "kmem rounds {n}");
    }
}
