//! # vmap benchmarks: the 2008 walk, the 2011 free-area cache and the 2019 free-space tree
//!
//! ## 1. What is measured
//!
//! Every figure is the cost of one **allocation**: an `alloc` of one area and the `free` of
//! it (with whatever purge that free triggers), in a steady state, for each [`Strategy`] on
//! the same space in the same run. Ids (parsed by `ci/bench`):
//!
//! - **vmap/busy/<strategy>/<N>**: `N` busy areas below the fit (section 2), `lazy_max_pages`
//!   0, so the probe's free purges it at once: the space is exactly the same before every
//!   allocation.
//! - **vmap/lazy/<strategy>/<N>**: the same `N` areas, lazily freed and awaiting a purge
//!   (`lazy_max_pages` = `u64::MAX`, so they stay): the backlog of the GFS2 and KVM reports
//!   that made the uncached walk O(n), since a lazily freed area keeps its range and the walk
//!   steps over it like a busy one. Each probe stays lazily freed too, above the others, so
//!   the backlog grows by one per allocation; every [`restore_every`] allocations (`N / 10`,
//!   at least 10) the space is put back as it was (a clone, untimed). The backlog is thus
//!   between `N` and `1.1 N` (`N` to `N + 10` at 10^2).
//! - **vmap/resets/<strategy>/<N>**: the busy space, with probes whose alignment alternates
//!   between two pages and one page. For the cache, every one-page-aligned request is "more
//!   permissive" than the one before it (`align < cached_align`): the cache is reset and the
//!   search is the full walk again, every other allocation. This is the 2019 failure that got
//!   the cache removed; the walk and the tree do not care.
//! - **vmap-replay/fill/<strategy>**: a real kernel's vmalloc space
//!   (`benches/workloads/linux-vmallocinfo.tsv`, as `vmalloc-replay` of `benches/vmem.rs`
//!   reads it) allocated into a fresh space in listing order, then its `unpurged` areas freed
//!   (lazily; none is purged). Per operation.
//! - **vmap-replay/steady/<strategy>**: then, on that space, the steady state of a kernel that
//!   keeps forking: one 16 KiB area plus its guard page (a vmap'ed kernel stack, which is
//!   what the 3,223 `unpurged` areas of the listing are) allocated and freed, with Linux's
//!   `lazy_max_pages` for two CPUs ([`LINUX_LAZY_MAX_PAGES`]). The listing's backlog of 16,112
//!   lazily freed pages is just below that limit, so the first few frees purge it; from
//!   then on the stacks fill the holes it left, lowest first, and a purge every 3,277 frees
//!   empties them again. [`REPLAY_WARM_CYCLES`] purge cycles run untimed first; the figure is
//!   the cost per allocation averaged over the cycle, purges included.
//!
//! ## 2. The space
//!
//! x86_64's 4-level vmalloc range ([`VMALLOC_START`], 32 TiB). The `N` areas are one page
//! plus a guard page each, one every three pages from the start of the space, so every hole
//! between two of them is one page, then the rest of the space is free. The probe is one
//! page plus a guard page (two pages, page-aligned, anywhere in the space): it fits no
//! one-page hole, so its lowest fit is just past the `N`-th area (or past the probes still
//! lazily freed), which every strategy must return. Setup checks that address for each.
//!
//! - The walk steps over all `N` areas on every allocation: O(N).
//! - The cache starts at the end of the area the last search placed (or, after a purge took
//!   that one, the area before it): O(1). Its first search records the one-page holes as
//!   `cached_hole_size`, which a two-page request never fits, so nothing resets it, until a
//!   request with a smaller alignment does (vmap/resets).
//! - The tree holds the `N - 1` one-page holes and the rest of the space as free blocks and
//!   finds the fit by a descent that prunes every subtree of one-page holes: O(log N).
//!
//! The areas are built with a window starting at each one's address (O(log N) each for every
//! strategy: the walk starts at the window), so setup stays fast even for the walk at 10^5.
//!
//! ## 3. Counting instead of timing
//!
//! With `KVAFUZZ_VMAP=<kind>/<strategy>/<n>:<allocs>` in the environment (kind `busy`, `lazy`
//! or `resets`) the binary times nothing: it builds that steady state exactly as the
//! benchmark does, runs `allocs` allocations (never restoring a lazy space) and exits.
//! `ci/bench-counts` runs it under cachegrind twice and divides the difference.
//!
//! ## 4. Clock
//!
//! As in `benches/vmem.rs`: the benchmark thread's CPU time ([`ThreadTime`]), not wall time,
//! since the machine is shared. Setup and restores are outside the timed part.

use std::cell::RefCell;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};

use kvafuzz::addr::PAGE_SIZE;
use kvafuzz::vmap::{Strategy, VmapConfig, VmapRequest, VmapSpace, ALL_STRATEGIES};

/// Extent counts of the scaling benchmarks.
const NS: [usize; 4] = [100, 1_000, 10_000, 100_000];

/// x86_64 (4-level paging) VMALLOC_START: `0xffffc90000000000`.
const VMALLOC_START: u64 = 0xffff_c900_0000_0000;

/// Last byte of x86_64's 4-level vmalloc range (32 TiB from its start).
const VMALLOC_LAST: u64 = VMALLOC_START + (32 << 40) - 1;

/// Pages from one area of section 2 to the next: the area, its guard page, a one-page hole.
const AREA_STRIDE_PAGES: u64 = 3;

/// Linux's `lazy_max_pages()` on a two-CPU machine: `fls(2) * 32 MiB / PAGE_SIZE` = 2 x 8192.
/// The listing's 16,112 lazily freed pages fit under it (so it was taken from a kernel with
/// that limit or a higher one).
const LINUX_LAZY_MAX_PAGES: u64 = 2 * (32 << 20) / PAGE_SIZE;

/// The replay's probe: a vmap'ed kernel stack (THREAD_SIZE on x86_64), plus its guard page.
const STACK_BYTES: u64 = 16 << 10;

/// Purge cycles of the replay's steady state run untimed before timing.
const REPLAY_WARM_CYCLES: u64 = 2;

/// Allocations between two restores of a lazy space: `N / 10`, at least 10 (section 1).
fn restore_every(n: usize) -> usize {
    (n / 10).max(10)
}

// ---- the clock (as benches/vmem.rs, section 5) ------------------------------------------------

#[path = "common/clock.rs"]
mod clock;
use clock::{thread_cpu, Group, ThreadTime};

// ---- the steady states of section 1 --------------------------------------------------------

/// Which steady state (section 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `N` busy areas.
    Busy,
    /// `N` lazily freed areas.
    Lazy,
    /// `N` busy areas, alignments alternating.
    Resets,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Busy, Kind::Lazy, Kind::Resets];

    fn name(self) -> &'static str {
        match self {
            Kind::Busy => "busy",
            Kind::Lazy => "lazy",
            Kind::Resets => "resets",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The probes, in turn.
    fn probes(self) -> [VmapRequest; 2] {
        let page = VmapRequest::size(PAGE_SIZE);
        match self {
            Kind::Busy | Kind::Lazy => [page, page],
            Kind::Resets => [
                VmapRequest {
                    align: 2 * PAGE_SIZE,
                    ..page
                },
                page,
            ],
        }
    }
}

/// A failure that means the benchmark's setup or the allocator is wrong.
#[cold]
#[inline(never)]
fn setup_bug(what: &str) -> ! {
    panic!("benchmark setup bug: {what}")
}

/// The space of section 2 with `n` areas, busy or lazily freed.
fn layout(strategy: Strategy, n: usize, kind: Kind) -> VmapSpace {
    let lazy = kind == Kind::Lazy;
    let cfg = VmapConfig {
        start: VMALLOC_START,
        last: VMALLOC_LAST,
        lazy_max_pages: if lazy { u64::MAX } else { 0 },
    };
    let mut s = VmapSpace::new(cfg, strategy).expect("a legal space");
    let mut starts = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let at = VMALLOC_START + i * AREA_STRIDE_PAGES * PAGE_SIZE;
        let req = VmapRequest {
            window: Some((at, VMALLOC_LAST)),
            ..VmapRequest::size(PAGE_SIZE)
        };
        match s.alloc(&req) {
            Ok(a) if a == at => starts.push(a),
            other => setup_bug(&format!("{strategy:?}: area {i} at {at:#x} gave {other:?}")),
        }
    }
    if lazy {
        for a in starts {
            s.free(a)
                .unwrap_or_else(|e| setup_bug(&format!("free {a:#x}: {e:?}")));
        }
        assert_eq!(s.stats().purges, 0, "the lazy areas must stay");
    }
    s
}

/// Where the `k`-th probe (from 0) of a fresh space of `n` areas must land: past the areas
/// and the `k` probes before it still lazily freed (Lazy), else past the areas.
fn expected_probe(n: usize, kind: Kind, k: u64) -> u64 {
    let past_areas = VMALLOC_START + (n as u64 * AREA_STRIDE_PAGES - 1) * PAGE_SIZE;
    match kind {
        Kind::Lazy => past_areas + k * 2 * PAGE_SIZE,
        // The two-page-aligned probe of Resets lands at the next even page, which the
        // one-page-aligned one does not check; the address is checked for Busy only.
        Kind::Busy | Kind::Resets => past_areas,
    }
}

/// One strategy's space in a steady state of section 1, allocating and freeing probes.
struct Steady {
    space: VmapSpace,
    /// The space to go back to (Lazy), taken after the first probe so the cache is warm.
    template: Option<VmapSpace>,
    probes: [VmapRequest; 2],
    turn: usize,
    /// Allocations since the space was (re)built.
    since: usize,
    /// Restore after this many (Lazy); `usize::MAX` otherwise.
    every: usize,
}

impl Steady {
    fn new(strategy: Strategy, n: usize, kind: Kind) -> Steady {
        let mut st = Steady {
            space: layout(strategy, n, kind),
            template: None,
            probes: kind.probes(),
            turn: 0,
            since: 0,
            every: usize::MAX,
        };
        for k in 0..2 {
            let a = st.alloc();
            if kind != Kind::Resets && a != expected_probe(n, kind, k) {
                setup_bug(&format!(
                    "{strategy:?} {kind:?} at {n}: probe {k} at {a:#x}, expected {:#x}",
                    expected_probe(n, kind, k)
                ));
            }
        }
        if kind == Kind::Lazy {
            st.template = Some(st.space.clone());
            st.every = restore_every(n);
        }
        st.since = 0;
        st
    }

    /// Allocates the next probe and frees it; returns its address.
    #[inline]
    fn alloc(&mut self) -> u64 {
        let req = &self.probes[self.turn];
        self.turn ^= 1;
        self.since += 1;
        let a = match self.space.alloc(req) {
            Ok(a) => a,
            Err(e) => setup_bug(&format!("probe alloc: {e:?}")),
        };
        if self.space.free(a).is_err() {
            setup_bug("probe free");
        }
        a
    }

    fn needs_restore(&self) -> bool {
        self.since >= self.every
    }

    fn restore(&mut self) {
        if let Some(t) = &self.template {
            self.space = t.clone();
        }
        self.since = 0;
    }
}

/// Criterion settings for one strategy at `n`: flat sampling where one allocation is slow
/// (the walk, and the cache with resets, at 10^4 and above).
fn configure(group: &mut Group<'_>, strategy: Strategy, kind: Kind, n: usize) {
    let slow = n >= 10_000
        && (strategy == Strategy::Walk || (strategy == Strategy::Cache && kind == Kind::Resets));
    if slow {
        let ms = if n >= 100_000 { 2000 } else { 1200 };
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(ms));
    } else {
        group
            .sampling_mode(SamplingMode::Auto)
            .sample_size(20)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(1000));
    }
}

fn scaling(c: &mut Criterion<ThreadTime>) {
    for kind in Kind::ALL {
        let mut g = c.benchmark_group(format!("vmap/{}", kind.name()));
        g.throughput(Throughput::Elements(1));
        for n in NS {
            for strategy in ALL_STRATEGIES {
                configure(&mut g, strategy, kind, n);
                // Built on first use, so a filtered-out benchmark costs nothing.
                let mut state: Option<Steady> = None;
                g.bench_function(BenchmarkId::new(strategy.name(), n), |b| {
                    let st = state.get_or_insert_with(|| Steady::new(strategy, n, kind));
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        let mut t = thread_cpu();
                        for _ in 0..iters {
                            if st.needs_restore() {
                                total += thread_cpu().saturating_sub(t);
                                st.restore();
                                t = thread_cpu();
                            }
                            black_box(st.alloc());
                        }
                        total + thread_cpu().saturating_sub(t)
                    });
                });
            }
        }
        g.finish();
    }
}

// ---- the replay -------------------------------------------------------------------------------

/// The areas of the workload, in listing order, as requests.
struct Workload {
    /// One request per area: its pages, the last one as the guard page when it has two or
    /// more (the listing's sizes include the kernel's guard page), else one page without.
    reqs: Vec<VmapRequest>,
    /// Whether each area is `unpurged` (lazily freed).
    unpurged: Vec<bool>,
}

impl Workload {
    /// Reads `linux-vmallocinfo.tsv` as `benches/vmem.rs` does; `None` (with a note) if it is
    /// absent.
    fn load() -> Option<Workload> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("benches/workloads/linux-vmallocinfo.tsv");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                println!(
                    "note: skipping vmap-replay: cannot read {}: {e}",
                    path.display()
                );
                return None;
            }
        };
        let mut w = Workload {
            reqs: Vec::new(),
            unpurged: Vec::new(),
        };
        for line in text.lines() {
            let mut cols = line.split('\t');
            let (Some(bytes), Some(kind)) = (cols.next(), cols.next()) else {
                continue;
            };
            // Comments and the header row do not parse as a size.
            let Ok(bytes) = bytes.trim().parse::<u64>() else {
                continue;
            };
            let pages = bytes.div_ceil(PAGE_SIZE).max(1);
            let guard = pages >= 2;
            w.reqs.push(VmapRequest {
                guard,
                ..VmapRequest::size((pages - u64::from(guard)) * PAGE_SIZE)
            });
            w.unpurged.push(kind.trim() == "unpurged");
        }
        if w.reqs.is_empty() {
            println!("note: skipping vmap-replay: no areas in {}", path.display());
            return None;
        }
        Some(w)
    }

    /// Operations in one fill: every area allocated, every unpurged one freed.
    fn ops(&self) -> u64 {
        (self.reqs.len() + self.unpurged.iter().filter(|&&u| u).count()) as u64
    }

    fn empty(strategy: Strategy) -> VmapSpace {
        let cfg = VmapConfig {
            start: VMALLOC_START,
            last: VMALLOC_LAST,
            lazy_max_pages: LINUX_LAZY_MAX_PAGES,
        };
        VmapSpace::new(cfg, strategy).expect("a legal space")
    }

    /// Allocates every area in listing order into `s`, then frees the unpurged ones.
    fn fill(&self, s: &mut VmapSpace, starts: &mut Vec<u64>) {
        starts.clear();
        for req in &self.reqs {
            match s.alloc(req) {
                Ok(a) => starts.push(a),
                Err(e) => setup_bug(&format!("replay alloc: {e:?}")),
            }
        }
        for (&a, &u) in starts.iter().zip(&self.unpurged) {
            if u && s.free(a).is_err() {
                setup_bug("replay free");
            }
        }
    }
}

/// A digest step over the addresses a space hands out (order-sensitive).
fn mix(h: u64, addr: u64) -> u64 {
    h.rotate_left(5) ^ addr.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The replay's steady state (section 1) for one strategy, warmed up.
struct ReplaySteady {
    space: VmapSpace,
    /// A digest of every address the warm-up handed out, compared across strategies.
    digest: u64,
}

impl ReplaySteady {
    const PROBE: VmapRequest = VmapRequest::size(STACK_BYTES);

    fn new(w: &Workload, strategy: Strategy) -> ReplaySteady {
        let mut space = Workload::empty(strategy);
        let mut starts = Vec::with_capacity(w.reqs.len());
        w.fill(&mut space, &mut starts);
        let mut digest = starts.iter().fold(0, |h, &a| mix(h, a));
        let mut st = ReplaySteady { space, digest: 0 };
        while st.space.stats().purges < 1 + REPLAY_WARM_CYCLES {
            digest = mix(digest, st.alloc());
        }
        st.digest = digest;
        st
    }

    #[inline]
    fn alloc(&mut self) -> u64 {
        let a = match self.space.alloc(&Self::PROBE) {
            Ok(a) => a,
            Err(e) => setup_bug(&format!("replay probe alloc: {e:?}")),
        };
        if self.space.free(a).is_err() {
            setup_bug("replay probe free");
        }
        a
    }
}

fn vmap_replay(c: &mut Criterion<ThreadTime>) {
    let Some(w) = Workload::load() else {
        return;
    };
    let mut g = c.benchmark_group("vmap-replay/fill");
    g.throughput(Throughput::Elements(w.ops()))
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500));
    let mut starts = Vec::with_capacity(w.reqs.len());
    for strategy in ALL_STRATEGIES {
        g.bench_function(strategy.name(), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut s = Workload::empty(strategy);
                    let t = thread_cpu();
                    w.fill(&mut s, &mut starts);
                    total += thread_cpu().saturating_sub(t);
                    black_box(&starts);
                    drop(s);
                }
                total
            });
        });
    }
    g.finish();

    let mut g = c.benchmark_group("vmap-replay/steady");
    g.throughput(Throughput::Elements(1))
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1000));
    // The first strategy set up records its warm-up's digest; the others must match it.
    let reference: RefCell<Option<(Strategy, u64)>> = RefCell::new(None);
    for strategy in ALL_STRATEGIES {
        let mut state: Option<ReplaySteady> = None;
        g.bench_function(strategy.name(), |b| {
            let st = state.get_or_insert_with(|| {
                let st = ReplaySteady::new(&w, strategy);
                let mut r = reference.borrow_mut();
                match *r {
                    None => *r = Some((strategy, st.digest)),
                    Some((other, d)) if d != st.digest => setup_bug(&format!(
                        "vmap-replay: {strategy:?} placed areas unlike {other:?}"
                    )),
                    Some(_) => {}
                }
                st
            });
            b.iter(|| st.alloc());
        });
    }
    g.finish();
}

/// One run of `KVAFUZZ_VMAP` (module comment, section 3).
fn count_allocs(spec: &str) {
    let usage =
        || panic!("KVAFUZZ_VMAP must be <busy|lazy|resets>/<strategy>/<n>:<allocs>, got {spec:?}");
    let Some((what, allocs)) = spec.split_once(':') else {
        usage()
    };
    let parts: Vec<&str> = what.split('/').collect();
    let [kind, strategy, n] = parts[..] else {
        usage()
    };
    let kind = Kind::parse(kind).unwrap_or_else(|| usage());
    let strategy = ALL_STRATEGIES
        .into_iter()
        .find(|s| s.name() == strategy)
        .unwrap_or_else(|| usage());
    let n: usize = n.parse().unwrap_or_else(|_| usage());
    let allocs: usize = allocs.parse().unwrap_or_else(|_| usage());
    let mut st = Steady::new(strategy, n, kind);
    for _ in 0..allocs {
        black_box(st.alloc());
    }
}

fn main() {
    if let Ok(spec) = std::env::var("KVAFUZZ_VMAP") {
        count_allocs(&spec);
        return;
    }
    let mut c = Criterion::default()
        .with_measurement(ThreadTime)
        .configure_from_args();
    scaling(&mut c);
    vmap_replay(&mut c);
    c.final_summary();
}
