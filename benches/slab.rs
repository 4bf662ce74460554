//! # slab benchmarks: zones with and without magazines, kmem and quantum caches, against peers
//!
//! ## 1. What is measured
//!
//! Every figure is the cost of one **pair** (a free and an allocation), on the same sizes and
//! live-set sizes for every allocator in the same run. Ids (parsed by `ci/bench`):
//!
//! - **slab/pair/<sizes>/<who>/<N>**: the steady state of `benches/vmem.rs` (section 2): `N`
//!   items live, free a random live one, allocate a new one. `<sizes>` is `64` (every item 64
//!   bytes) or `mix` ([`MIX`]: eight kmalloc-like sizes, 16 to 512 bytes, uniform). `<who>`:
//!   `zone-mag-1cpu`, `zone-nomag-1cpu`, `zone-mag-4cpu`, `zone-nomag-4cpu` (a slab system with
//!   one keg and zone per size, alignment 8, its slabs from a vmem arena; magazines of
//!   [`ROUNDS`] rounds and a depot of [`DEPOT`], or none (rounds 0); on one simulated CPU, or
//!   with each pair on a CPU the trace draws from four, its free and its allocation on that
//!   CPU, so items freed on one CPU are reused on another through the depot), `talc` and
//!   `buddy` (section 3). A zone is named by its caller (`uma_zalloc(zone)`): the zone
//!   benchmarks are handed the size's zone, the peers the size in bytes.
//! - **slab/magazine/64/<who>**: a **loaded-magazine pair**: allocate a 64-byte item and free
//!   it again at once, on one CPU, `zone` with magazines (after a warm-up the loaded magazine
//!   always has an item and room: every op is a magazine hit) against `talc`'s pair of the
//!   same size.
//! - **slab/kmem/<who>/<N>**: the steady state over [`kvafuzz::kmem::Kmem`] (no debug, no
//!   guard, one CPU, magazines as above; its kernel map one vmem span) and `talc`, with the
//!   sizes drawn from the object sizes of the Linux slabinfo listing
//!   (`benches/workloads/linux-slabinfo.tsv`) **weighted by `active_objs`**: what a running
//!   kernel holds live, not one draw per cache (121 of the 235 caches have live objects; the
//!   mean is 212 bytes; 68 % of the draws go to the quantum caches, 31 % to the classes, 0.06
//!   % to the large path).
//! - **slab/qcache/<who>/<N>**: the steady state on a page-quantum vmem arena with sizes 1 to
//!   16 pages, uniform: `cached` ([`kvafuzz::vmem::CachedArena`], `qcache_max` 16 quanta, one
//!   CPU, magazines as above) against `vmem` (the plain arena, instant fit).
//!
//! ## 2. One trace per N
//!
//! As in `benches/vmem.rs` section 2: [`Trace::new`] draws the fill and the pairs (live index
//! to free, size, CPU) from a ChaCha8 generator with a fixed seed before any allocator runs;
//! every allocator replays the same sequence, is filled to `N` and churned through `N` pairs
//! untimed, and criterion then replays the pairs cyclically.
//!
//! ## 3. The peers
//!
//! talc 5 is a general heap that keeps its metadata in the memory it manages: it gets a real
//! buffer ([`TalcBuffer`], mapped lazily by the OS) and real byte sizes, alignment 8.
//! buddy_system_allocator 0.13 is set up as `benches/vmem.rs` sets it up: its
//! `FrameAllocator`, handing out numbers, with one unit per 8 bytes ([`BUDDY_UNIT_BYTES`]) so
//! that it sees the same sizes (its byte `Heap` frees by searching a free list linearly for
//! the buddy, O(free blocks) a free, which at 10^6 live items makes the untimed churn alone
//! take hours). The zones, kmem and vmem hand out addresses of simulated memory: they touch
//! their own metadata, never the items.
//!
//! ## 4. Counting instead of timing
//!
//! With `KVAFUZZ_SLAB=<who>:<n>:<pairs>` in the environment the binary times nothing: it
//! builds `who` (`magazine-zone`, `magazine-talc`: the loaded-magazine pair, `n` ignored;
//! `kmem`, `kmem-talc`: the kmem steady state at `n`; `qcache-cached`, `qcache-vmem`: the
//! quantum-cache steady state at `n`) exactly as the benchmark does, runs
//! `pairs` more pairs and exits. `ci/bench-counts slab` runs that under cachegrind twice and
//! divides the difference.
//!
//! ## 5. Clock
//!
//! As in `benches/vmem.rs`: the benchmark thread's CPU time ([`ThreadTime`]), not wall time.

use std::alloc::Layout;
use std::cell::OnceCell;
use std::hint::black_box;
use std::ptr::NonNull;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use kvafuzz::addr::Arch;
use kvafuzz::harness::slab_report;
use kvafuzz::kmem::{Kmem, KmemConfig};
use kvafuzz::slab::{Slabs, ZoneConfig, ZoneId};
use kvafuzz::vmem::{Arena, CachedArena, Policy, QcacheConfig};

#[path = "common/clock.rs"]
mod clock;
#[path = "common/talc.rs"]
mod talc_peer;
use clock::{Group, ThreadTime};
use talc_peer::{Talc, TalcBuffer};

/// Live-set sizes of the zone and kmem steady states.
const NS: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];

/// Live-set sizes of the quantum-cache steady state (its goal is a ratio at each N; 10^6
/// would add a minute of setup and say nothing more).
const QCACHE_NS: [usize; 3] = [1_000, 10_000, 100_000];

/// The size mix of `slab/pair/mix`: kmalloc-like sizes (bytes), uniform.
const MIX: [u32; 8] = [16, 32, 64, 96, 128, 192, 256, 512];

/// Magazine rounds of every zone with magazines.
const ROUNDS: u16 = 16;

/// Full magazines every depot may hold.
const DEPOT: u16 = 8;

/// Simulated CPUs of the spread benchmarks.
const SPREAD_CPUS: u8 = 4;

/// Item alignment (bytes), for the zones and the peers.
const ITEM_ALIGN: u64 = 8;

/// Pairs per trace (replayed cyclically; 2^20 covers the churn of 10^6).
const TRACE_PAIRS: usize = 1 << 20;

/// Seed of the trace generator (the trace for `N` uses `SEED + N`, xor a per-mix salt).
const SEED: u64 = 0x6b76_6166_736c_6162;

/// Page size: the quantum of every vmem arena here.
const PAGE: u64 = 4096;

/// Base of every vmem span here (away from 0, in x86_64's lower canonical half).
const SPAN_BASE: u64 = 1 << 40;

/// Bytes of every vmem span here: 1 TiB, far above any live set (10^6 items of at most 16
/// pages is 64 GiB).
const SPAN_BYTES: u64 = 1 << 40;

/// Quanta of the largest quantum-cached size.
const QCACHE_QUANTA: u64 = 16;

/// Bytes per buddy_system_allocator unit (section 3).
const BUDDY_UNIT_BYTES: u32 = 8;

/// Units buddy_system_allocator manages: 2^31 (16 GiB of 8-byte units, far above any live
/// set here even rounded up to powers of two).
const BUDDY_UNITS: usize = 1 << 31;

/// Warm-up allocations of the loaded-magazine pair (fills and empties the magazines once).
const MAGAZINE_WARM: usize = 64;

// ---- sizes and the trace -------------------------------------------------------------------

/// One allocation's request: its size class (index into the mix) and bytes, and its CPU.
#[derive(Clone, Copy, Debug)]
struct Op {
    /// Index of the size in the mix (the zone to use).
    class: u16,
    /// Bytes.
    bytes: u32,
    /// Simulated CPU (the 4-CPU benchmarks; others ignore it).
    cpu: u8,
}

/// A size distribution: `(bytes, weight)`, drawn by cumulative weight.
struct Mix {
    /// Bytes of each class.
    bytes: Vec<u32>,
    /// Cumulative weights.
    cumulative: Vec<u64>,
}

impl Mix {
    fn uniform(sizes: &[u32]) -> Mix {
        Mix::weighted(sizes.iter().map(|&b| (b, 1)).collect())
    }

    fn weighted(pairs: Vec<(u32, u64)>) -> Mix {
        let mut total = 0;
        let mut mix = Mix {
            bytes: Vec::new(),
            cumulative: Vec::new(),
        };
        for (b, w) in pairs.into_iter().filter(|&(_, w)| w > 0) {
            total += w;
            mix.bytes.push(b);
            mix.cumulative.push(total);
        }
        assert!(total > 0, "an empty size mix");
        mix
    }

    /// The Linux slabinfo object sizes weighted by `active_objs` (section 1).
    fn slabinfo() -> Mix {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(slab_report::DEFAULT_SLABINFO);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let rows = slab_report::parse(&text).expect("the slabinfo listing parses");
        Mix::weighted(
            rows.iter()
                .map(|r| {
                    let bytes = u32::try_from(r.objsize).expect("object size below 4 GiB");
                    (bytes, r.active_objs)
                })
                .collect(),
        )
    }

    fn draw(&self, rng: &mut ChaCha8Rng, cpus: u8) -> Op {
        let total = *self.cumulative.last().expect("non-empty");
        let x = rng.next_u64() % total;
        let class = self.cumulative.partition_point(|&c| c <= x);
        Op {
            class: class as u16,
            bytes: self.bytes[class],
            cpu: (rng.next_u32() % u32::from(cpus)) as u8,
        }
    }

    fn max_bytes(&self) -> usize {
        self.bytes.iter().copied().max().unwrap_or(0) as usize
    }
}

/// The random choices of one steady state (section 2).
struct Trace {
    /// Live-set size.
    n: usize,
    /// The fill allocations.
    fill: Vec<Op>,
    /// `(live index to free, allocation)`, index in `0..n`.
    pairs: Vec<(u32, Op)>,
    /// Bytes of the fill.
    fill_bytes: usize,
    /// The largest size.
    max_bytes: usize,
}

impl Trace {
    fn new(n: usize, mix: &Mix, salt: u64) -> Trace {
        let mut rng = ChaCha8Rng::seed_from_u64((SEED + n as u64) ^ salt);
        let fill: Vec<Op> = (0..n).map(|_| mix.draw(&mut rng, SPREAD_CPUS)).collect();
        let pairs = (0..TRACE_PAIRS)
            .map(|_| {
                let idx = rng.next_u32() % n as u32;
                (idx, mix.draw(&mut rng, SPREAD_CPUS))
            })
            .collect();
        let fill_bytes = fill.iter().map(|o| o.bytes as usize).sum();
        Trace {
            n,
            fill,
            pairs,
            fill_bytes,
            max_bytes: mix.max_bytes(),
        }
    }

    /// A talc buffer for this trace: four times the fill's bytes (the live total drifts
    /// during the churn, and talc's chunks carry a header and round up), plus room for the
    /// largest size many times over and talc's metadata. Untouched pages are never faulted
    /// in.
    fn talc_bytes(&self) -> usize {
        4 * self.fill_bytes + 1024 * self.max_bytes + (16 << 20)
    }
}

// ---- the allocators ------------------------------------------------------------------------

/// An allocator as the benchmarks drive it.
trait Subject {
    /// What `alloc` returns and `free` takes back.
    type Handle: Copy;
    /// Allocates `op`, or `None` if there is no room.
    fn alloc(&mut self, op: Op) -> Option<Self::Handle>;
    /// Frees what `alloc(op)` returned (panics if the allocator refuses).
    fn free(&mut self, h: Self::Handle, op: Op);
}

/// A failure that means the benchmark setup is wrong.
#[cold]
#[inline(never)]
fn setup_bug(who: &str, what: &str, bytes: u32) -> ! {
    panic!("benchmark setup bug: {who} failed to {what} {bytes} bytes")
}

/// A vmem arena of page quantum over one span.
fn arena(name: &str) -> Arena {
    let mut a = Arena::new(name, PAGE, Some(Arch::X86_64)).expect("page quantum");
    a.add_span(SPAN_BASE, SPAN_BYTES)
        .expect("span in the lower canonical half");
    a
}

/// A slab system with one keg and zone per size of the mix, its slabs from a vmem arena.
struct Zones {
    slabs: Slabs,
    backend: Arena,
    /// The zone of each class.
    zones: Vec<ZoneId>,
    /// Whether ops run on their trace CPU (else all on CPU 0).
    spread: bool,
}

impl Zones {
    fn new(sizes: &[u32], rounds: u16, cpus: u8) -> Zones {
        let mut slabs = Slabs::new(cpus).expect("cpus in range");
        let config = ZoneConfig {
            rounds,
            depot: if rounds == 0 { 0 } else { DEPOT },
            limit: 0,
        };
        let zones = sizes
            .iter()
            .map(|&b| {
                let keg = slabs
                    .add_keg(u64::from(b), ITEM_ALIGN, false)
                    .expect("a keg");
                slabs.add_zone(keg, config).expect("a zone")
            })
            .collect();
        Zones {
            slabs,
            backend: arena("slabs"),
            zones,
            spread: cpus > 1,
        }
    }

    #[inline]
    fn cpu(&self, op: Op) -> u8 {
        if self.spread {
            op.cpu
        } else {
            0
        }
    }
}

impl Subject for Zones {
    type Handle = u64;
    #[inline]
    fn alloc(&mut self, op: Op) -> Option<u64> {
        let zone = self.zones[usize::from(op.class)];
        let cpu = self.cpu(op);
        self.slabs
            .alloc(zone, cpu, &mut self.backend)
            .ok()
            .map(|i| i.addr)
    }
    #[inline]
    fn free(&mut self, addr: u64, op: Op) {
        let zone = self.zones[usize::from(op.class)];
        let cpu = self.cpu(op);
        if self.slabs.free(zone, cpu, addr).is_err() {
            setup_bug("zone", "free", op.bytes);
        }
    }
}

/// kmem (section 1) over a kernel map of one span.
struct KmemSubject(Kmem);

impl KmemSubject {
    fn new() -> KmemSubject {
        let config = KmemConfig {
            debug: false,
            guard: false,
            cpus: 1,
            rounds: ROUNDS,
            depot: DEPOT,
        };
        KmemSubject(Kmem::new(config, arena("kernel map")).expect("kmem"))
    }
}

impl Subject for KmemSubject {
    type Handle = u64;
    #[inline]
    fn alloc(&mut self, op: Op) -> Option<u64> {
        self.0.alloc(u64::from(op.bytes), 0).ok()
    }
    #[inline]
    fn free(&mut self, addr: u64, op: Op) {
        if self.0.free(addr, u64::from(op.bytes), 0).is_err() {
            setup_bug("kmem", "free", op.bytes);
        }
    }
}

/// A page-quantum vmem arena with quantum caches up to 16 pages (section 1).
struct Cached(CachedArena);

impl Cached {
    fn new() -> Cached {
        let config = QcacheConfig {
            qcache_max: QCACHE_QUANTA * PAGE,
            cpus: 1,
            rounds: ROUNDS,
            depot: DEPOT,
        };
        Cached(CachedArena::new(arena("cached"), config).expect("quantum caches"))
    }
}

impl Subject for Cached {
    type Handle = u64;
    #[inline]
    fn alloc(&mut self, op: Op) -> Option<u64> {
        self.0.alloc(u64::from(op.bytes), 0).ok()
    }
    #[inline]
    fn free(&mut self, addr: u64, op: Op) {
        if self.0.free(addr, u64::from(op.bytes), 0).is_err() {
            setup_bug("cached vmem", "free", op.bytes);
        }
    }
}

/// The plain arena, instant fit.
struct Vmem(Arena);

impl Subject for Vmem {
    type Handle = u64;
    #[inline]
    fn alloc(&mut self, op: Op) -> Option<u64> {
        self.0.alloc(u64::from(op.bytes), Policy::InstantFit).ok()
    }
    #[inline]
    fn free(&mut self, addr: u64, op: Op) {
        if self.0.free(addr, u64::from(op.bytes)).is_err() {
            setup_bug("vmem", "free", op.bytes);
        }
    }
}

/// buddy_system_allocator's frame allocator in 8-byte units (section 3).
struct Buddy(buddy_system_allocator::FrameAllocator<32>);

impl Buddy {
    fn new() -> Buddy {
        let mut f = buddy_system_allocator::FrameAllocator::<32>::new();
        f.add_frame(0, BUDDY_UNITS);
        Buddy(f)
    }

    fn units(op: Op) -> usize {
        op.bytes.div_ceil(BUDDY_UNIT_BYTES) as usize
    }
}

impl Subject for Buddy {
    type Handle = usize;
    #[inline]
    fn alloc(&mut self, op: Op) -> Option<usize> {
        self.0.alloc(Buddy::units(op))
    }
    #[inline]
    fn free(&mut self, frame: usize, op: Op) {
        self.0.dealloc(frame, Buddy::units(op));
    }
}

impl Talc<'_> {
    #[inline]
    fn layout(op: Op) -> Layout {
        // Sizes are 8 bytes to a few pages, alignment 8: never zero, never overflowing.
        Layout::from_size_align(op.bytes as usize, ITEM_ALIGN as usize).expect("talc layout")
    }
}

impl Subject for Talc<'_> {
    type Handle = NonNull<u8>;
    #[inline]
    fn alloc(&mut self, op: Op) -> Option<NonNull<u8>> {
        // SAFETY: the layout's size is non-zero.
        unsafe { self.talc.allocate(Talc::layout(op)) }
    }
    #[inline]
    fn free(&mut self, p: NonNull<u8>, op: Op) {
        // SAFETY: `p` came from `alloc(op)` on this talc and is freed once.
        unsafe { self.talc.deallocate(p.as_ptr(), Talc::layout(op)) }
    }
}

// ---- the steady state ----------------------------------------------------------------------

/// An allocator holding `n` live items, replaying a trace's pairs.
struct Steady<'t, S: Subject> {
    subject: S,
    who: &'static str,
    live: Vec<(S::Handle, Op)>,
    trace: &'t Trace,
    cursor: usize,
}

impl<'t, S: Subject> Steady<'t, S> {
    /// Fills `subject` to the trace's `n`, then churns `n` pairs (all untimed).
    fn new(mut subject: S, who: &'static str, trace: &'t Trace) -> Steady<'t, S> {
        let mut live = Vec::with_capacity(trace.n);
        for &op in &trace.fill {
            let h = subject
                .alloc(op)
                .unwrap_or_else(|| setup_bug(who, "allocate (fill)", op.bytes));
            live.push((h, op));
        }
        let mut st = Steady {
            subject,
            who,
            live,
            trace,
            cursor: 0,
        };
        for _ in 0..trace.n {
            st.pair();
        }
        st
    }

    /// Frees a random live item (on the CPU of the new op) and allocates a new one.
    #[inline]
    fn pair(&mut self) -> S::Handle {
        let (idx, op) = self.trace.pairs[self.cursor];
        self.cursor = (self.cursor + 1) % TRACE_PAIRS;
        let (h, old) = self.live.swap_remove(idx as usize);
        self.subject.free(h, Op { cpu: op.cpu, ..old });
        let h = match self.subject.alloc(op) {
            Some(h) => h,
            None => setup_bug(self.who, "allocate (steady state)", op.bytes),
        };
        self.live.push((h, op));
        h
    }
}

/// Benchmarks `who` at the trace's `n`, built and filled on first use (a filtered-out
/// benchmark costs nothing) and dropped when the benchmark ends.
fn steady<S: Subject>(
    group: &mut Group<'_>,
    who: &'static str,
    trace: &Trace,
    make: impl FnOnce() -> S,
) {
    let mut make = Some(make);
    let mut state: Option<Steady<'_, S>> = None;
    group.bench_function(BenchmarkId::new(who, trace.n), |b| {
        let st = state
            .get_or_insert_with(|| Steady::new((make.take().expect("built once"))(), who, trace));
        b.iter(|| st.pair());
    });
}

/// Criterion settings for `n` live items: short samples (the whole slab bench must stay near
/// four minutes on two cores), longer at 10^6 where cache misses make the figure noisier.
fn configure(group: &mut Group<'_>, n: usize) {
    group.throughput(Throughput::Elements(1));
    if n >= 1_000_000 {
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_millis(1500));
    } else {
        group
            .sample_size(15)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(1000));
    }
}

/// `slab/pair/<sizes>/*` (section 1).
fn zone_pairs(c: &mut Criterion<ThreadTime>) {
    let single = [64u32];
    for (name, sizes) in [("64", &single[..]), ("mix", &MIX[..])] {
        let mix = Mix::uniform(sizes);
        for n in NS {
            let trace = Trace::new(n, &mix, sizes.len() as u64);
            let mut g = c.benchmark_group(format!("slab/pair/{name}"));
            configure(&mut g, n);
            for (who, rounds, cpus) in [
                ("zone-mag-1cpu", ROUNDS, 1),
                ("zone-nomag-1cpu", 0, 1),
                ("zone-mag-4cpu", ROUNDS, SPREAD_CPUS),
                ("zone-nomag-4cpu", 0, SPREAD_CPUS),
            ] {
                steady(&mut g, who, &trace, || Zones::new(sizes, rounds, cpus));
            }
            let buffer = OnceCell::new();
            steady(&mut g, "talc", &trace, || {
                Talc::new(buffer.get_or_init(|| TalcBuffer::new(trace.talc_bytes())))
            });
            steady(&mut g, "buddy", &trace, Buddy::new);
            g.finish();
        }
    }
}

/// The loaded-magazine pair of `who` (section 1): warmed up, then `pair` allocates and frees
/// one 64-byte item.
trait LoadedPair {
    fn pair(&mut self) -> u64;
}

/// A 64-byte zone with magazines on one CPU, its magazines warmed.
struct MagazineZone(Zones);

impl MagazineZone {
    fn new() -> MagazineZone {
        let mut z = Zones::new(&[64], ROUNDS, 1);
        let op = Op {
            class: 0,
            bytes: 64,
            cpu: 0,
        };
        let items: Vec<u64> = (0..MAGAZINE_WARM)
            .map(|_| z.alloc(op).unwrap_or_else(|| setup_bug("zone", "warm", 64)))
            .collect();
        for a in items {
            z.free(a, op);
        }
        MagazineZone(z)
    }
}

impl LoadedPair for MagazineZone {
    #[inline]
    fn pair(&mut self) -> u64 {
        let z = &mut self.0;
        let zone = z.zones[0];
        let item = match z.slabs.alloc(zone, 0, &mut z.backend) {
            Ok(i) => i.addr,
            Err(_) => setup_bug("zone", "allocate (magazine)", 64),
        };
        if z.slabs.free(zone, 0, black_box(item)).is_err() {
            setup_bug("zone", "free (magazine)", 64);
        }
        item
    }
}

impl LoadedPair for Talc<'_> {
    #[inline]
    fn pair(&mut self) -> u64 {
        let op = Op {
            class: 0,
            bytes: 64,
            cpu: 0,
        };
        let p = self
            .alloc(op)
            .unwrap_or_else(|| setup_bug("talc", "allocate (magazine)", 64));
        self.free(black_box(p), op);
        p.as_ptr() as u64
    }
}

/// `slab/magazine/64/*` (section 1).
fn magazine_pair(c: &mut Criterion<ThreadTime>) {
    let mut g = c.benchmark_group("slab/magazine/64");
    g.throughput(Throughput::Elements(1))
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1000));
    let mut zone: Option<MagazineZone> = None;
    g.bench_function("zone", |b| {
        let z = zone.get_or_insert_with(MagazineZone::new);
        b.iter(|| z.pair());
    });
    let buffer = OnceCell::new();
    let mut talc: Option<Talc<'_>> = None;
    g.bench_function("talc", |b| {
        let t =
            talc.get_or_insert_with(|| Talc::new(buffer.get_or_init(|| TalcBuffer::new(1 << 20))));
        b.iter(|| t.pair());
    });
    g.finish();
}

/// `slab/kmem/*` (section 1).
fn kmem_pairs(c: &mut Criterion<ThreadTime>, mix: &Mix) {
    for n in NS {
        let trace = Trace::new(n, mix, KMEM_SALT);
        let mut g = c.benchmark_group("slab/kmem");
        configure(&mut g, n);
        steady(&mut g, "kmem", &trace, KmemSubject::new);
        let buffer = OnceCell::new();
        steady(&mut g, "talc", &trace, || {
            Talc::new(buffer.get_or_init(|| TalcBuffer::new(trace.talc_bytes())))
        });
        g.finish();
    }
}

/// Salt of the kmem traces' seed.
const KMEM_SALT: u64 = 0x6b6d;

/// The quantum-cache sizes: 1 to 16 pages, uniform.
fn qcache_mix() -> Mix {
    let sizes: Vec<u32> = (1..=QCACHE_QUANTA as u32)
        .map(|k| k * PAGE as u32)
        .collect();
    Mix::uniform(&sizes)
}

/// `slab/qcache/*` (section 1).
fn qcache_pairs(c: &mut Criterion<ThreadTime>) {
    let sizes: Vec<u32> = (1..=QCACHE_QUANTA as u32)
        .map(|k| k * PAGE as u32)
        .collect();
    let mix = Mix::uniform(&sizes);
    for n in QCACHE_NS {
        let trace = Trace::new(n, &mix, QCACHE_QUANTA);
        let mut g = c.benchmark_group("slab/qcache");
        configure(&mut g, n);
        steady(&mut g, "cached", &trace, Cached::new);
        steady(&mut g, "vmem", &trace, || Vmem(arena("plain")));
        g.finish();
    }
}

/// One run of `KVAFUZZ_SLAB` (section 4).
fn count_pairs(spec: &str) {
    let parts: Vec<&str> = spec.split(':').collect();
    let [who, n, pairs] = parts[..] else {
        panic!("KVAFUZZ_SLAB must be <who>:<n>:<pairs>, got {spec:?}");
    };
    let n: usize = n.parse().expect("KVAFUZZ_SLAB: n is a number");
    let pairs: usize = pairs.parse().expect("KVAFUZZ_SLAB: pairs is a number");
    fn run_loaded(mut s: impl LoadedPair, pairs: usize) {
        for _ in 0..pairs {
            black_box(s.pair());
        }
    }
    fn run_steady<S: Subject>(subject: S, who: &'static str, trace: &Trace, pairs: usize) {
        let mut st = Steady::new(subject, who, trace);
        for _ in 0..pairs {
            black_box(st.pair());
        }
    }
    match who {
        "magazine-zone" => run_loaded(MagazineZone::new(), pairs),
        "magazine-talc" => {
            let buffer = TalcBuffer::new(1 << 20);
            run_loaded(Talc::new(&buffer), pairs);
        }
        "kmem" | "kmem-talc" => {
            let trace = Trace::new(n, &Mix::slabinfo(), KMEM_SALT);
            if who == "kmem" {
                run_steady(KmemSubject::new(), "kmem", &trace, pairs);
            } else {
                let buffer = TalcBuffer::new(trace.talc_bytes());
                run_steady(Talc::new(&buffer), "talc", &trace, pairs);
            }
        }
        "qcache-cached" | "qcache-vmem" => {
            let trace = Trace::new(n, &qcache_mix(), QCACHE_QUANTA);
            if who == "qcache-cached" {
                run_steady(Cached::new(), "cached", &trace, pairs);
            } else {
                run_steady(Vmem(arena("plain")), "vmem", &trace, pairs);
            }
        }
        _ => panic!("KVAFUZZ_SLAB: unknown allocator {who:?}"),
    }
}

fn main() {
    if let Ok(spec) = std::env::var("KVAFUZZ_SLAB") {
        count_pairs(&spec);
        return;
    }
    let mut c = Criterion::default()
        .with_measurement(ThreadTime)
        .configure_from_args();
    magazine_pair(&mut c);
    zone_pairs(&mut c);
    kmem_pairs(&mut c, &Mix::slabinfo());
    qcache_pairs(&mut c);
    c.final_summary();
}
