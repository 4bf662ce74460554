//! The simulated MMU in its four paging modes: map, unmap and translate throughput, the TLB
//! hit rate on a replayed kernel access pattern, and the page-table pages that segment-aligned
//! sharing saves.
//!
//! - **Throughput** (`mmu/map/<mode>`, `mmu/unmap/<mode>`, `mmu/translate/<mode>`): one
//!   iteration maps [`PAGES`] 4 KiB pages one call each into a fresh kernel space (the tables
//!   are created on the way), unmaps them one call each (every flush token applied on every
//!   CPU), or translates each of them once. Throughput is in pages.
//! - **TLB hit rate**: the vmalloc areas of a live Linux 6.18 kernel
//!   (`benches/workloads/linux-vmallocinfo.tsv`, sizes only) are laid out back to back in
//!   the kernel half (at most [`PATTERN_PAGES`] pages), then [`PATTERN_ACCESSES`] accesses
//!   replay a fixed ChaCha8 pattern: pick an area (the first areas, like the kernel's boot-time
//!   ones, weighted more), read a run of its pages in order, touching each page 1 to 8 times at
//!   cache-line offsets. A hit is an access whose page the
//!   CPU's 64-entry TLB held just before. Without the file, the areas are drawn from the same
//!   ChaCha8 stream (noted on stdout).
//! - **Sharing**: [`SPACES`] address spaces map the same [`SHARED_SEGMENTS`]-segment object,
//!   once at a segment-aligned address through shared segment tables, once privately at a
//!   page-aligned address one page past a segment boundary (so no table could be shared). The
//!   printed figures are the table pages in use in each case.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kvafuzz::addr::{Arch, ALL_ARCHES, PAGE_SIZE};
use kvafuzz::mmu::geometry::Geometry;
use kvafuzz::mmu::{Access, AccessKind, Asid, CpuId, Mmu, MmuConfig, PageFlags};
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Pages one throughput iteration maps, unmaps or translates.
const PAGES: u64 = 1024;
/// Frames of every benchmarked machine (far more than any case here needs).
const FRAMES: u32 = 4096;
/// Most pages of the replayed vmalloc layout (32 MiB).
const PATTERN_PAGES: u64 = 8192;
/// Accesses replayed for the hit rate.
const PATTERN_ACCESSES: usize = 200_000;
/// TLB entries for the hit rate (a typical L1 dTLB).
const TLB_ENTRIES: u32 = 64;
/// Address spaces in the sharing figure.
const SPACES: u32 = 64;
/// Segments of the shared object.
const SHARED_SEGMENTS: u64 = 4;

fn machine(arch: Arch) -> Mmu {
    Mmu::new(
        arch,
        MmuConfig {
            frames: FRAMES,
            cpus: 1,
            tlb_entries: TLB_ENTRIES,
        },
    )
    .expect("legal configuration")
}

/// First address of the throughput mappings: the kernel base (present in every mode).
fn base(arch: Arch) -> u64 {
    Geometry::new(arch).kernel_base()
}

fn mapped(arch: Arch) -> Mmu {
    let mut m = machine(arch);
    let b = base(arch);
    for i in 0..PAGES {
        m.map(
            Asid::KERNEL,
            b + i * PAGE_SIZE,
            i * PAGE_SIZE,
            PAGE_SIZE,
            PageFlags::WRITABLE,
            PAGE_SIZE,
        )
        .expect("fresh kernel half");
    }
    m
}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("mmu");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(10)
        .throughput(Throughput::Elements(PAGES));
    for arch in ALL_ARCHES {
        g.bench_function(format!("map/{arch}"), |b| {
            b.iter_batched(
                || machine(arch),
                |m| black_box(fill(m, arch)),
                BatchSize::LargeInput,
            )
        });
        g.bench_function(format!("unmap/{arch}"), |b| {
            b.iter_batched(
                || mapped(arch),
                |mut m| {
                    let base = base(arch);
                    for i in 0..PAGES {
                        let f = m
                            .unmap(Asid::KERNEL, base + i * PAGE_SIZE, PAGE_SIZE)
                            .expect("mapped");
                        m.flush(f);
                    }
                    m
                },
                BatchSize::LargeInput,
            )
        });
        let m = mapped(arch);
        let b0 = base(arch);
        g.bench_function(format!("translate/{arch}"), |b| {
            b.iter(|| {
                let mut sum = 0u64;
                for i in 0..PAGES {
                    let t = m
                        .translate(Asid::KERNEL, black_box(b0 + i * PAGE_SIZE + 0x123))
                        .expect("mapped");
                    sum = sum.wrapping_add(t.pa);
                }
                sum
            })
        });
    }
    g.finish();
}

fn fill(mut m: Mmu, arch: Arch) -> Mmu {
    let b = base(arch);
    for i in 0..PAGES {
        m.map(
            Asid::KERNEL,
            b + i * PAGE_SIZE,
            i * PAGE_SIZE,
            PAGE_SIZE,
            PageFlags::WRITABLE,
            PAGE_SIZE,
        )
        .expect("fresh kernel half");
    }
    m
}

/// Area sizes in pages: the vmallocinfo listing if present, else a ChaCha8 draw.
fn area_pages(rng: &mut ChaCha8Rng) -> Vec<u64> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/workloads/linux-vmallocinfo.tsv");
    let sizes: Vec<u64> = match std::fs::read_to_string(&path) {
        Ok(text) => text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("size_bytes"))
            .filter_map(|l| l.split('\t').next()?.parse::<u64>().ok())
            .map(|b| b.div_ceil(PAGE_SIZE).max(1))
            .collect(),
        Err(_) => {
            println!(
                "note: {} absent; areas drawn from ChaCha8 seed 1",
                path.display()
            );
            (0..2000)
                .map(|_| 1 + u64::from(rng.next_u32() % 16))
                .collect()
        }
    };
    let mut out = Vec::new();
    let mut total = 0;
    for s in sizes {
        if total + s > PATTERN_PAGES {
            continue;
        }
        total += s;
        out.push(s);
    }
    out
}

fn tlb_hit_rate() {
    for arch in ALL_ARCHES {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let areas = area_pages(&mut rng);
        let mut m = machine(arch);
        let kb = base(arch);
        let mut starts = Vec::new();
        let mut next = kb;
        for (i, &pages) in areas.iter().enumerate() {
            m.map(
                Asid::KERNEL,
                next,
                (i as u64 % 64) << 24,
                pages * PAGE_SIZE,
                PageFlags::WRITABLE | PageFlags::GLOBAL,
                PAGE_SIZE,
            )
            .expect("areas fit the kernel half");
            starts.push((next, pages));
            next += pages * PAGE_SIZE;
        }
        let read = Access {
            kind: AccessKind::Read,
            user: false,
        };
        let (mut hits, mut n) = (0u64, 0u64);
        while (n as usize) < PATTERN_ACCESSES {
            // The first eighth of the areas draws half of the picks.
            let r = rng.next_u32() as usize;
            let k = if r.is_multiple_of(2) {
                (r / 2) % (starts.len() / 8).max(1)
            } else {
                (r / 2) % starts.len()
            };
            let (start, pages) = starts[k];
            let run = 1 + u64::from(rng.next_u32()) % pages.min(32);
            let first = u64::from(rng.next_u32()) % (pages - run + 1);
            for p in first..first + run {
                let page = start + p * PAGE_SIZE;
                // 1 to 8 touches of the page at cache-line offsets.
                for _ in 0..1 + rng.next_u32() % 8 {
                    let va = page + u64::from(rng.next_u32() % 64) * 64;
                    let cached = m
                        .tlb_entries(CpuId(0))
                        .iter()
                        .any(|e| e.page_base <= page && page - e.page_base < e.page_size);
                    hits += u64::from(cached);
                    n += 1;
                    m.access(CpuId(0), Asid::KERNEL, va, read).expect("mapped");
                }
            }
        }
        println!(
            "tlb-hit-rate/{arch}: {:.1} % ({hits} of {n} accesses, {} areas, {} pages, {TLB_ENTRIES}-entry TLB)",
            100.0 * hits as f64 / n as f64,
            starts.len(),
            areas.iter().sum::<u64>()
        );
    }
}

fn sharing() {
    for arch in ALL_ARCHES {
        let seg = arch.segment_size();
        let len = SHARED_SEGMENTS * seg;
        // A user-half address with room for the object in every mode.
        let at = 16 * seg;
        let mut shared = machine(arch);
        let mut private = machine(arch);
        for _ in 0..SPACES {
            let a = shared.create_space().expect("frames");
            for s in 0..SHARED_SEGMENTS {
                shared
                    .map_shared_segment(a, at + s * seg, s * seg, seg, PageFlags::USER)
                    .expect("segment-aligned");
            }
            let b = private.create_space().expect("frames");
            private
                .map(b, at + PAGE_SIZE, 0, len, PageFlags::USER, PAGE_SIZE)
                .expect("page-aligned");
        }
        let (s, p) = (shared.table_pages(), private.table_pages());
        println!("table-pages/shared/{arch}: {s} pages");
        println!("table-pages/private/{arch}: {p} pages");
        println!(
            "table-pages/saving/{arch}: {} pages ({:.1} %; {SPACES} spaces x {SHARED_SEGMENTS} segments; shared table_stats().saved() = {})",
            p - s,
            100.0 * (p - s) as f64 / p as f64,
            shared.table_stats().saved()
        );
    }
}

fn figures(_c: &mut Criterion) {
    tlb_hit_rate();
    sharing();
}

criterion_group!(benches, figures, throughput);
criterion_main!(benches);
