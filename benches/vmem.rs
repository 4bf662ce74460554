//! # vmem benchmarks: the arena against its oracle and the crates a user might pick instead
//!
//! ## 1. What is measured
//!
//! - **steady/<mode>/<alloc>/<N>**: the cost of one *pair* (free a random live segment, then
//!   allocate a new random size) once `N` segments are live. Modes: `instant` (InstantFit),
//!   `best` (BestFit), `xalloc64` (InstantFit `xalloc` with alignment 64 quanta; its peer is
//!   buddy_system_allocator's `alloc_aligned` with the same alignment). Sizes are 1 to
//!   [`MAX_UNITS`] units, uniform.
//! - **vmalloc-replay/<alloc>**: the areas of a real Linux vmalloc space
//!   (`benches/workloads/linux-vmallocinfo.tsv`, sizes in pages) allocated in listing order,
//!   then every lazily freed (`unpurged`) area freed, then all of those allocated again: the
//!   purge-and-reuse cycle of the kernel's lazy vunmap. Reported per operation. Each allocator
//!   is built (untimed) knowing the number of areas where it can use that: offset-allocator's
//!   maximum allocation count, vmem's `Arena::reserve` (so neither grows inside the timed
//!   replay, as a kernel sizes its vmalloc structures at boot).
//!
//! ## 2. One trace per N, replayed by everyone
//!
//! [`Trace::new`] draws the fill sizes and the pairs (live index to free, size to allocate)
//! from a ChaCha8 generator with a fixed seed, once per `N`, before any allocator runs. Every
//! allocator replays that same sequence: the live set is a `Vec` with `swap_remove`, so an
//! index in `0..N` means the same slot for all of them. Before timing, each allocator is
//! filled to `N` and then churned through `N` pairs (untimed), so the timed pairs see a
//! fragmented steady state rather than a freshly bump-allocated one. Criterion then replays
//! the pairs cyclically from there; a faster allocator simply replays more of them.
//!
//! ## 3. Units and space
//!
//! One unit is one 4 KiB page for vmem, the oracle, buddy_system_allocator and
//! offset-allocator (which all hand out numbers, not memory: vmem works in byte addresses
//! with a 4096-byte quantum, the peers in frame/unit numbers). talc is a memory allocator that
//! keeps its metadata inside the memory it manages, so every unit must be real bytes: at 4 KiB
//! a unit, 10^6 live segments would need ~130 GiB. It gets [`TALC_UNIT_BYTES`] = 16 bytes a
//! unit instead (its chunk granule is 32 bytes, so sizes 1..64 still land in distinct size
//! classes), in one buffer of [`talc_bytes`] that the OS maps lazily.
//!
//! [`SPACE_UNITS`] is sized so that nobody runs out: see its comment. An allocation failure in
//! the steady state is a bug in this setup, never a result: it panics, naming the allocator.
//!
//! The oracle's work per op grows faster than linearly with the live count (it is O(live) per
//! candidate placement), so it runs only at `N <= ORACLE_MAX_N` = 10^3. Measured here with
//! `KVAFUZZ_PAIRS=oracle:<n>:0` (instant fit): its fill and untimed churn (`3 N` ops) take
//! 0.6 s at 10^3 and 550 s at 10^4 (about 18 ms an op), so each oracle group at 10^4 would
//! add some nine minutes before its first timed pair.
//!
//! ## 4. Counting instead of timing
//!
//! With `KVAFUZZ_PAIRS=<who>:<n>:<pairs>` in the environment the binary times nothing: it builds
//! `who` (vmem, vmem-best, vmem-xalloc64, buddy, buddy-xalloc64, offset, talc, floor, keyed,
//! oracle, oracle-best) at `n` live segments exactly as the steady-state benchmark does (fill,
//! untimed churn), replays `pairs` more pairs and exits. `ci/bench-counts` runs that under
//! cachegrind twice (two pair counts) and divides the difference, giving instructions and cache
//! misses per pair: figures that repeat exactly on any machine, unlike times on a shared one.
//! `replay-<alloc>:0:<replays>` (alloc: vmem-instant, vmem-best, buddy, offset) runs that many
//! whole vmalloc replays instead (section 1), for the same kind of count per operation.
//!
//! ## 5. Clock
//!
//! Times are the benchmark thread's CPU time ([`ThreadTime`]), not wall time: the machine is
//! shared (two cores, concurrent builds), and wall time would charge each allocator for
//! whatever else ran while it was measured. Page faults and other kernel time spent on the
//! thread's behalf still count.
//!
//! ## 6. The floor
//!
//! `steady/instant/floor` ([`Floor`]) is not an allocator anyone would pick: it manages no
//! space, only a table of recorded sizes indexed by handle, and it exists to calibrate the
//! others. Every allocator here pays for the benchmark's own work (the trace read, the
//! `swap_remove` at a random live index, the push), and every allocator that can refuse a
//! wrong-size free must touch some record of the freed allocation, at a random place once
//! the live set outgrows the caches. The floor does exactly that and nothing more, so its
//! time at each `N` is a lower bound for all of them, and its `10^6 / 10^3` ratio is how
//! much the memory system alone slows a pair down on the machine at hand.
//!
//! `steady/instant/keyed` ([`Keyed`]) is the floor with one thing more, the one thing the issue's
//! section 2 demands of every free that the floor leaves out: the record of the freed allocation is
//! found **by its address**, in a table keyed by address, not by a handle that indexes it. Its time
//! is what the address index alone costs a pair (see [`Keyed`] for the table, and [`KEYED_SPREAD`]
//! for how full it is kept); vmem does that and then coalesces, keeps its lists and carves. It is
//! not a lower bound for every design (a design could overlap the index's miss with other work),
//! only the cost of that one piece measured beside the rest.
//!
//! ## 7. The machine's memory latency
//!
//! `latency/dependent-read/<KiB>` is not an allocator either: it times one read whose address
//! is the value the previous read returned (a pointer chase around one random cycle through a
//! table of [`LATENCY_KIB`] sizes, 1 MiB to 64 MiB), so no two reads overlap. It shows what one
//! cache miss costs at the working-set sizes the steady state passes through (a 10^6 pair
//! touches a live set of 16 MiB and, for vmem, a tag slab of ~64 MiB). A pair whose reads
//! depend on each other (index, then tag, then neighbour) pays about one such latency per
//! link at 10^6, and nearly nothing per link at 10^3, which is what bounds how flat any
//! allocator's `10^6 / 10^3` ratio can be on the machine at hand.

use std::alloc::Layout;
use std::cell::OnceCell;
use std::hint::black_box;
use std::ptr::NonNull;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use kvafuzz::addr::Arch;
use kvafuzz::vmem::{Arena, Policy, Request};
use kvafuzz_oracles::vmem as oracle;

/// Live-set sizes of the steady-state benchmarks.
const NS: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];

/// Largest allocation, in units; sizes are uniform in `1..=MAX_UNITS` (mean 32.5).
const MAX_UNITS: u32 = 64;

/// Pairs per trace. Criterion replays them cyclically; 2^20 covers the untimed churn of
/// `N = 10^6` pairs in one pass.
const TRACE_PAIRS: usize = 1 << 20;

/// Seed of the trace generator (the trace for `N` uses `SEED + N`).
const SEED: u64 = 0x6b76_6166_757a_7a00;

/// Bytes per unit for vmem and the oracle: a 4 KiB page, the arena's quantum.
const PAGE: u64 = 4096;

/// Alignment of the `xalloc64` benchmarks, in units.
const XALLOC_ALIGN_UNITS: u64 = 64;

/// Units of space every unit-number allocator manages: 2^27 (512 GiB of 4 KiB pages).
/// Derivation at `N = 10^6`: vmem and offset-allocator hold 32.5 M units live; buddy rounds
/// each size up to a power of two (mean 42.7 units, 42.7 M live) and loses more to buddy
/// splitting; xalloc64 effectively uses one 64-unit slot per segment (64 M units). 2^27 =
/// 134 M units leaves 2x headroom over the worst of these. It fits offset-allocator's `u32`
/// sizes, is a power of two (one buddy block), and x86_64's lower canonical half.
const SPACE_UNITS: u64 = 1 << 27;

/// First address of vmem's span (and the oracle's): page 2^28, in the lower canonical half,
/// away from address 0.
const VMEM_BASE: u64 = 1 << 40;

/// Bytes per unit for talc; see the module comment, section 3.
const TALC_UNIT_BYTES: usize = 16;

/// Largest `N` the oracle runs at.
const ORACLE_MAX_N: usize = 1_000;

/// The keyed calibration's table has at least this many slots per live record (rounded up
/// to a power of two). The fastest of 2, 4, 8 and 16, measured at 10^6 (`KVAFUZZ_PAIRS`,
/// task-clock, medians of 5, one session): 183 / 114 / 109 / 117 ns a pair; at 10^3:
/// 36.6 / - / 14.5 / 12.4. A fuller table probes past the home slot (a branch the CPU cannot
/// predict) and moves records on every delete; an emptier one spreads over more pages.
const KEYED_SPREAD: usize = 8;

/// Table sizes (KiB) of the dependent-read latency calibration (module comment, section 7).
const LATENCY_KIB: [usize; 4] = [1 << 10, 4 << 10, 16 << 10, 64 << 10];

/// Dependent reads per timed iteration of the latency calibration.
const LATENCY_STEPS: u64 = 1 << 12;

/// A talc buffer for `n` live segments: room for every one at the maximum size, twice over
/// (live talc chunks average ~544 bytes, so this is ~3.8x the live bytes), plus 1 MiB for
/// talc's own metadata. Untouched pages are never faulted in.
fn talc_bytes(n: usize) -> usize {
    n * MAX_UNITS as usize * TALC_UNIT_BYTES * 2 + (1 << 20)
}

// ---- the clock ----------------------------------------------------------------------------

#[path = "common/clock.rs"]
mod clock;
#[path = "common/talc.rs"]
mod talc_peer;
use clock::{thread_cpu, Group, ThreadTime};
use talc_peer::{Talc, TalcBuffer};

// ---- the allocators ------------------------------------------------------------------------

/// An allocator of unit ranges, as the benchmarks drive it.
trait Subject {
    /// What `alloc` returns and `free` takes back.
    type Handle: Copy;
    /// `units` units, or `None` if it found no room.
    fn alloc(&mut self, units: u32) -> Option<Self::Handle>;
    /// Frees an allocation of `units` units (panics if the allocator refuses).
    fn free(&mut self, h: Self::Handle, units: u32);
}

/// A failure that means the benchmark setup is wrong (the space is too small).
#[cold]
#[inline(never)]
fn setup_bug(who: &str, what: &str, units: u32) -> ! {
    panic!(
        "benchmark setup bug: {who} failed to {what} {units} units; \
         the space (SPACE_UNITS / talc_bytes / max_allocs) is too small"
    )
}

/// A vmem arena over one span of [`SPACE_UNITS`] pages.
struct Vmem {
    arena: Arena,
    policy: Policy,
    /// Alignment in bytes (0: the quantum).
    align: u64,
}

impl Vmem {
    fn new(policy: Policy, align_units: u64) -> Vmem {
        let mut arena = Arena::new("bench", PAGE, Some(Arch::X86_64)).expect("page quantum");
        arena
            .add_span(VMEM_BASE, SPACE_UNITS * PAGE)
            .expect("span in the lower canonical half");
        Vmem {
            arena,
            policy,
            align: align_units * PAGE,
        }
    }

    /// As [`Vmem::new`], with room reserved for `live` allocations up front (untimed), as
    /// offset-allocator is built for its maximum allocation count.
    fn with_room(policy: Policy, live: usize) -> Vmem {
        let mut v = Vmem::new(policy, 0);
        v.arena.reserve(live).expect("room for the replay's areas");
        v
    }
}

impl Subject for Vmem {
    type Handle = u64;
    #[inline]
    fn alloc(&mut self, units: u32) -> Option<u64> {
        let size = u64::from(units) * PAGE;
        if self.align == 0 {
            // Unconstrained: the plain entry point, as a caller without constraints uses it.
            return self.arena.alloc(size, self.policy).ok();
        }
        let req = Request {
            align: self.align,
            ..Request::size(size)
        };
        self.arena.xalloc(&req, self.policy).ok()
    }
    #[inline]
    fn free(&mut self, addr: u64, units: u32) {
        if self.arena.free(addr, u64::from(units) * PAGE).is_err() {
            setup_bug("vmem", "free", units);
        }
    }
}

/// The naive oracle as an allocator: it predicts the placement, then judges (and records) it,
/// as the harness does after every arena operation.
struct Oracle {
    model: oracle::ArenaModel,
    policy: oracle::Policy,
    align: u64,
}

impl Oracle {
    fn new(policy: oracle::Policy, align_units: u64) -> Oracle {
        let mut model = oracle::ArenaModel::new(
            PAGE,
            oracle::Space {
                top: u64::MAX,
                canonical_bits: Some(48),
            },
        );
        model.add_span(VMEM_BASE, SPACE_UNITS * PAGE);
        Oracle {
            model,
            policy,
            align: align_units * PAGE,
        }
    }
}

impl Subject for Oracle {
    type Handle = u64;
    fn alloc(&mut self, units: u32) -> Option<u64> {
        let req = oracle::Request {
            size: u64::from(units) * PAGE,
            align: self.align,
            phase: 0,
            nocross: 0,
            minaddr: 0,
            maxaddr: u64::MAX,
        };
        let a = self.model.predict_alloc(&req, self.policy).ok()?;
        if let Err(m) = self.model.judge_alloc(&req, self.policy, &[], Ok(a)) {
            panic!("oracle disagrees with itself: {m}");
        }
        Some(a)
    }
    fn free(&mut self, addr: u64, units: u32) {
        if self
            .model
            .predict_free(addr, u64::from(units) * PAGE)
            .is_err()
        {
            setup_bug("oracle", "free", units);
        }
        self.model.free(addr);
    }
}

/// buddy_system_allocator's frame allocator over frames `0..SPACE_UNITS` (max order 31).
struct Buddy {
    frames: buddy_system_allocator::FrameAllocator<32>,
    /// Alignment in frames for `alloc_aligned` (0: plain `alloc`, naturally aligned to the
    /// size rounded up to a power of two).
    align: usize,
}

impl Buddy {
    fn new() -> Buddy {
        Buddy::aligned(0)
    }

    /// Allocations aligned to `align_units` frames through `alloc_aligned` (the peer of
    /// vmem's `xalloc` with an alignment), or plain ones if it is 0.
    fn aligned(align_units: u64) -> Buddy {
        let mut frames = buddy_system_allocator::FrameAllocator::<32>::new();
        frames.add_frame(0, SPACE_UNITS as usize);
        Buddy {
            frames,
            align: align_units as usize,
        }
    }

    /// The layout (in frames) of an aligned allocation of `units` frames.
    fn layout(&self, units: u32) -> Layout {
        Layout::from_size_align(units as usize, self.align).expect("power-of-two alignment")
    }
}

impl Subject for Buddy {
    type Handle = usize;
    #[inline]
    fn alloc(&mut self, units: u32) -> Option<usize> {
        if self.align == 0 {
            return self.frames.alloc(units as usize);
        }
        let layout = self.layout(units);
        self.frames.alloc_aligned(layout)
    }
    #[inline]
    fn free(&mut self, frame: usize, units: u32) {
        if self.align == 0 {
            self.frames.dealloc(frame, units as usize);
        } else {
            let layout = self.layout(units);
            self.frames.dealloc_aligned(frame, layout);
        }
    }
}

/// offset-allocator over units `0..SPACE_UNITS`.
struct Offset(offset_allocator::Allocator<u32>);

impl Offset {
    /// Room for `live` allocations: each needs a node, and so does each free region between
    /// them (at most `live + 1`), with slack for the untimed churn.
    fn new(live: usize) -> Offset {
        let max_allocs = u32::try_from(3 * live + 1024).expect("fits u32");
        Offset(offset_allocator::Allocator::with_max_allocs(
            SPACE_UNITS as u32,
            max_allocs,
        ))
    }
}

impl Subject for Offset {
    type Handle = offset_allocator::Allocation<u32>;
    #[inline]
    fn alloc(&mut self, units: u32) -> Option<Self::Handle> {
        self.0.allocate(units)
    }
    #[inline]
    fn free(&mut self, a: Self::Handle, _units: u32) {
        self.0.free(a);
    }
}

/// The floor: the least an allocator that refuses a wrong-size free can do per pair (module
/// comment, section 6). A handle is a slot in a table of recorded sizes; allocating pops the
/// most recently freed slot (so it is cache-hot) and records the size, freeing compares the
/// recorded size (one read and one write at a random slot) and pushes the slot. It manages no
/// space at all: no addresses, no placement, no coalescing. What it costs is the benchmark's
/// own work plus one random table access per pair, a lower bound for every real allocator
/// here, and its `10^6 / 10^3` ratio is what the memory system alone does to a pair.
struct Floor {
    /// The recorded size of each slot (0: not allocated).
    sizes: Vec<u32>,
    /// Slots not allocated, most recently freed last.
    unused: Vec<u32>,
}

impl Floor {
    fn new(live: usize) -> Floor {
        Floor {
            sizes: Vec::with_capacity(live + 1),
            unused: Vec::new(),
        }
    }
}

impl Subject for Floor {
    type Handle = u32;
    #[inline]
    fn alloc(&mut self, units: u32) -> Option<u32> {
        let h = match self.unused.pop() {
            Some(h) => h,
            None => {
                self.sizes.push(0);
                u32::try_from(self.sizes.len() - 1).ok()?
            }
        };
        self.sizes[h as usize] = units;
        Some(h)
    }
    #[inline]
    fn free(&mut self, h: u32, units: u32) {
        let recorded = &mut self.sizes[h as usize];
        assert_eq!(*recorded, units, "floor: wrong-size free of slot {h}");
        *recorded = 0;
        self.unused.push(h);
    }
}

/// The keyed floor (module comment, section 6): an index of allocations keyed by address and
/// nothing else, in a plain fast form: one open-addressed table of 16-byte records (address,
/// units), linear probing from a multiplicative hash of the page number (as vmem's index hashes),
/// at most 1/[`KEYED_SPREAD`] full, deletion by backward shift (no tombstones). An allocation
/// reuses the address freed last, as vmem's recent segment often does, so its insert lands on the
/// slot the free just emptied, in cache. So a pair costs the benchmark's own work, one look-up at a
/// random slot (compare the size, remove) and an insert that hits the cache: no placement, no
/// neighbours, no lists.
struct Keyed {
    /// `(address, units)`; address 0 marks an empty slot (addresses start at [`VMEM_BASE`]).
    slots: Vec<(u64, u32)>,
    /// `64 - log2(slots.len())`: the hash keeps the product's top bits.
    shift: u32,
    /// The next address never handed out (the fill places allocations back to back).
    fresh: u64,
    /// Addresses freed and not handed out again, the most recent last.
    freed: Vec<u64>,
}

impl Keyed {
    /// Room for `live` records, at most `1 / KEYED_SPREAD` full.
    fn new(live: usize) -> Keyed {
        let slots = (KEYED_SPREAD * live.max(1)).next_power_of_two();
        Keyed {
            slots: vec![(0, 0); slots],
            shift: 64 - slots.trailing_zeros(),
            fresh: VMEM_BASE,
            freed: Vec::new(),
        }
    }

    fn home(&self, addr: u64) -> usize {
        ((addr / PAGE).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }
}

impl Subject for Keyed {
    type Handle = u64;
    #[inline]
    fn alloc(&mut self, units: u32) -> Option<u64> {
        let addr = match self.freed.pop() {
            Some(a) => a,
            None => {
                // Back to back, as a bump allocator places them: addresses as irregular as
                // the sizes, so the hash spreads them as it spreads vmem's (a fixed stride can
                // fall on a lattice of the multiplicative hash and cluster).
                let a = self.fresh;
                self.fresh += u64::from(units) * PAGE;
                a
            }
        };
        let mask = self.slots.len() - 1;
        let mut i = self.home(addr);
        while self.slots[i].0 != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = (addr, units);
        Some(addr)
    }
    #[inline]
    fn free(&mut self, addr: u64, units: u32) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(addr);
        while self.slots[i].0 != addr {
            assert_ne!(self.slots[i].0, 0, "keyed: bad free of {addr:#x}");
            i = (i + 1) & mask;
        }
        assert_eq!(
            self.slots[i].1, units,
            "keyed: wrong-size free of {addr:#x}"
        );
        // Backward shift: pull each later record of the run into the hole if its home allows.
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let (a, _) = self.slots[j];
            if a == 0 {
                break;
            }
            let home = self.home(a);
            if (i.wrapping_sub(home) & mask) < (j.wrapping_sub(home) & mask) {
                self.slots[i] = self.slots[j];
                i = j;
            }
        }
        self.slots[i] = (0, 0);
        self.freed.push(addr);
    }
}

impl Talc<'_> {
    fn layout(units: u32) -> Layout {
        // 16-byte units, 16-byte aligned: never zero-sized, never overflowing for 1..=64.
        Layout::from_size_align(units as usize * TALC_UNIT_BYTES, TALC_UNIT_BYTES)
            .expect("talc layout")
    }
}

impl Subject for Talc<'_> {
    type Handle = NonNull<u8>;
    #[inline]
    fn alloc(&mut self, units: u32) -> Option<NonNull<u8>> {
        // SAFETY: the layout's size is non-zero.
        unsafe { self.talc.allocate(Talc::layout(units)) }
    }
    #[inline]
    fn free(&mut self, p: NonNull<u8>, units: u32) {
        // SAFETY: `p` came from `alloc(units)` on this talc and is freed once (the live set
        // drops it when it frees it).
        unsafe { self.talc.deallocate(p.as_ptr(), Talc::layout(units)) }
    }
}

// ---- the steady state ----------------------------------------------------------------------

/// The random choices of one steady-state benchmark; see the module comment, section 2.
struct Trace {
    /// Live-set size.
    n: usize,
    /// Sizes of the `n` fill allocations.
    fill: Vec<u8>,
    /// `(live index to free, size to allocate)`, index in `0..n`.
    pairs: Vec<(u32, u8)>,
}

impl Trace {
    fn new(n: usize) -> Trace {
        let mut rng = ChaCha8Rng::seed_from_u64(SEED + n as u64);
        let size = |rng: &mut ChaCha8Rng| (1 + rng.next_u32() % MAX_UNITS) as u8;
        let fill = (0..n).map(|_| size(&mut rng)).collect();
        let pairs = (0..TRACE_PAIRS)
            .map(|_| (rng.next_u32() % n as u32, size(&mut rng)))
            .collect();
        Trace { n, fill, pairs }
    }
}

/// An allocator holding `n` live segments, replaying a trace's pairs.
struct Steady<'t, S: Subject> {
    subject: S,
    who: &'static str,
    live: Vec<(S::Handle, u32)>,
    trace: &'t Trace,
    cursor: usize,
}

impl<'t, S: Subject> Steady<'t, S> {
    /// Fills `subject` to the trace's `n`, then churns `n` pairs (all untimed).
    fn new(mut subject: S, who: &'static str, trace: &'t Trace) -> Steady<'t, S> {
        let mut live = Vec::with_capacity(trace.n);
        for &s in &trace.fill {
            let units = u32::from(s);
            let h = subject
                .alloc(units)
                .unwrap_or_else(|| setup_bug(who, "allocate (fill)", units));
            live.push((h, units));
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

    /// Frees a random live segment and allocates a new one.
    #[inline]
    fn pair(&mut self) -> S::Handle {
        let (idx, size) = self.trace.pairs[self.cursor];
        self.cursor = (self.cursor + 1) % TRACE_PAIRS;
        let (h, units) = self.live.swap_remove(idx as usize);
        self.subject.free(h, units);
        let units = u32::from(size);
        let h = match self.subject.alloc(units) {
            Some(h) => h,
            None => setup_bug(self.who, "allocate (steady state)", units),
        };
        self.live.push((h, units));
        h
    }
}

/// Benchmarks `who` at the trace's `n`; the allocator is built and filled on first use (so a
/// filtered-out benchmark costs nothing) and dropped when the benchmark ends.
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

/// Criterion settings for `n` live segments: fewer, shorter samples where setup and cache
/// misses dominate (the whole run must stay near six minutes on two cores).
fn configure(group: &mut Group<'_>, n: usize) {
    group.throughput(Throughput::Elements(1));
    if n >= 1_000_000 {
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(1000))
            .measurement_time(Duration::from_secs(2));
    } else {
        group
            .sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_millis(1500));
    }
}

/// The oracle's group settings: a pair costs about a millisecond at `N = 10^3`.
fn configure_oracle(group: &mut Group<'_>) {
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
}

fn steady_state(c: &mut Criterion<ThreadTime>) {
    for n in NS {
        let trace = Trace::new(n);

        let mut g = c.benchmark_group("steady/instant");
        configure(&mut g, n);
        steady(&mut g, "vmem", &trace, || Vmem::new(Policy::InstantFit, 0));
        steady(&mut g, "buddy", &trace, Buddy::new);
        steady(&mut g, "offset", &trace, || Offset::new(n));
        steady(&mut g, "floor", &trace, || Floor::new(n));
        steady(&mut g, "keyed", &trace, || Keyed::new(n));
        {
            // Made on first use, so that a filtered-out talc costs nothing.
            let buffer = OnceCell::new();
            steady(&mut g, "talc", &trace, || {
                Talc::new(buffer.get_or_init(|| TalcBuffer::new(talc_bytes(n))))
            });
        }
        if n <= ORACLE_MAX_N {
            configure_oracle(&mut g);
            steady(&mut g, "oracle", &trace, || {
                Oracle::new(oracle::Policy::InstantFit, 0)
            });
        }
        g.finish();

        let mut g = c.benchmark_group("steady/best");
        configure(&mut g, n);
        steady(&mut g, "vmem", &trace, || Vmem::new(Policy::BestFit, 0));
        if n <= ORACLE_MAX_N {
            configure_oracle(&mut g);
            steady(&mut g, "oracle", &trace, || {
                Oracle::new(oracle::Policy::BestFit, 0)
            });
        }
        g.finish();

        let mut g = c.benchmark_group("steady/xalloc64");
        configure(&mut g, n);
        steady(&mut g, "vmem", &trace, || {
            Vmem::new(Policy::InstantFit, XALLOC_ALIGN_UNITS)
        });
        steady(&mut g, "buddy", &trace, || {
            Buddy::aligned(XALLOC_ALIGN_UNITS)
        });
        if n <= ORACLE_MAX_N {
            configure_oracle(&mut g);
            steady(&mut g, "oracle", &trace, || {
                Oracle::new(oracle::Policy::InstantFit, XALLOC_ALIGN_UNITS)
            });
        }
        g.finish();
    }
}

// ---- the machine's memory latency ---------------------------------------------------------

/// A table of `kib` KiB holding one random cycle through all its slots (Sattolo's shuffle,
/// from a fixed ChaCha seed): following it from any slot visits every slot once.
fn cycle_table(kib: usize) -> Vec<u32> {
    let n = kib * 1024 / std::mem::size_of::<u32>();
    let mut rng = ChaCha8Rng::seed_from_u64(SEED ^ kib as u64);
    let mut order: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % i as u64) as usize;
        order.swap(i, j);
    }
    // `order` is one cycle as a permutation; store it as successor links.
    let mut next = vec![0u32; n];
    for (i, &slot) in order.iter().enumerate() {
        next[slot as usize] = order[(i + 1) % n];
    }
    next
}

/// `latency/dependent-read/<KiB>` (module comment, section 7).
fn memory_latency(c: &mut Criterion<ThreadTime>) {
    let mut g = c.benchmark_group("latency/dependent-read");
    g.throughput(Throughput::Elements(LATENCY_STEPS))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for kib in LATENCY_KIB {
        // Built on first use, so that a filtered-out size costs nothing.
        let mut table: Option<Vec<u32>> = None;
        let mut at = 0u32;
        g.bench_function(BenchmarkId::from_parameter(kib), |b| {
            let next = table.get_or_insert_with(|| cycle_table(kib));
            b.iter(|| {
                for _ in 0..LATENCY_STEPS {
                    at = next[at as usize];
                }
                black_box(at)
            });
        });
    }
    g.finish();
}

// ---- the vmalloc replay --------------------------------------------------------------------

/// The vmalloc areas of the workload, in listing order.
struct Workload {
    /// Size of each area in pages (rounded up).
    pages: Vec<u32>,
    /// Whether each area is `unpurged` (lazily freed).
    unpurged: Vec<bool>,
}

impl Workload {
    /// Reads `linux-vmallocinfo.tsv`; `None` (with a note) if it is absent.
    fn load() -> Option<Workload> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("benches/workloads/linux-vmallocinfo.tsv");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                println!(
                    "note: skipping vmalloc-replay: cannot read {}: {e}",
                    path.display()
                );
                return None;
            }
        };
        let mut w = Workload {
            pages: Vec::new(),
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
            let pages = bytes.div_ceil(PAGE).max(1);
            w.pages
                .push(u32::try_from(pages).expect("vmalloc area below 16 TiB"));
            w.unpurged.push(kind.trim() == "unpurged");
        }
        if w.pages.is_empty() {
            println!(
                "note: skipping vmalloc-replay: no areas in {}",
                path.display()
            );
            return None;
        }
        Some(w)
    }

    /// Operations in one replay: every area allocated, every unpurged one freed and
    /// allocated again.
    fn ops(&self) -> u64 {
        let again = self.unpurged.iter().filter(|&&u| u).count();
        (self.pages.len() + 2 * again) as u64
    }

    /// One replay through `s`.
    fn replay<S: Subject>(&self, s: &mut S, who: &str, handles: &mut Vec<Option<S::Handle>>) {
        handles.clear();
        for &p in &self.pages {
            let h = s
                .alloc(p)
                .unwrap_or_else(|| setup_bug(who, "allocate (replay)", p));
            handles.push(Some(h));
        }
        for (i, &p) in self.pages.iter().enumerate() {
            if self.unpurged[i] {
                s.free(handles[i].take().expect("allocated above"), p);
            }
        }
        for (i, &p) in self.pages.iter().enumerate() {
            if self.unpurged[i] {
                let h = s
                    .alloc(p)
                    .unwrap_or_else(|| setup_bug(who, "reallocate (replay)", p));
                handles[i] = Some(h);
            }
        }
    }
}

/// Times whole replays through fresh allocators from `make` (built and dropped untimed).
fn replay<S: Subject>(
    group: &mut Group<'_>,
    who: &'static str,
    w: &Workload,
    mut make: impl FnMut() -> S,
) {
    let mut handles = Vec::with_capacity(w.pages.len());
    group.bench_function(who, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut s = make();
                let t = thread_cpu();
                w.replay(&mut s, who, &mut handles);
                total += thread_cpu().saturating_sub(t);
                black_box(&handles);
                drop(s);
            }
            total
        });
    });
}

fn vmalloc_replay(c: &mut Criterion<ThreadTime>) {
    let Some(w) = Workload::load() else {
        return;
    };
    let mut g = c.benchmark_group("vmalloc-replay");
    g.throughput(Throughput::Elements(w.ops()))
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500));
    let live = w.pages.len();
    replay(&mut g, "vmem-instant", &w, || {
        Vmem::with_room(Policy::InstantFit, live)
    });
    replay(&mut g, "vmem-best", &w, || {
        Vmem::with_room(Policy::BestFit, live)
    });
    replay(&mut g, "buddy", &w, Buddy::new);
    replay(&mut g, "offset", &w, || Offset::new(w.pages.len()));
    // Every page of every area at once, twice over, in 16-byte units, plus talc's metadata.
    let total: usize = w.pages.iter().map(|&p| p as usize).sum();
    let buffer = TalcBuffer::new(2 * total * TALC_UNIT_BYTES + (1 << 20));
    replay(&mut g, "talc", &w, || Talc::new(&buffer));
    g.finish();
}

/// One run of `KVAFUZZ_PAIRS` (module comment, section 4).
fn count_pairs(spec: &str) {
    let parts: Vec<&str> = spec.split(':').collect();
    let [who, n, pairs] = parts[..] else {
        panic!("KVAFUZZ_PAIRS must be <who>:<n>:<pairs>, got {spec:?}");
    };
    let n: usize = n.parse().expect("KVAFUZZ_PAIRS: n is a number");
    let pairs: usize = pairs.parse().expect("KVAFUZZ_PAIRS: pairs is a number");
    if let Some(alloc) = who.strip_prefix("replay-") {
        return count_replays(alloc, pairs);
    }
    let trace = Trace::new(n);
    fn run<S: Subject>(subject: S, who: &'static str, trace: &Trace, pairs: usize) {
        let mut st = Steady::new(subject, who, trace);
        for _ in 0..pairs {
            black_box(st.pair());
        }
    }
    match who {
        "vmem" => run(Vmem::new(Policy::InstantFit, 0), "vmem", &trace, pairs),
        "vmem-best" => run(Vmem::new(Policy::BestFit, 0), "vmem-best", &trace, pairs),
        "vmem-xalloc64" => run(
            Vmem::new(Policy::InstantFit, XALLOC_ALIGN_UNITS),
            "vmem-xalloc64",
            &trace,
            pairs,
        ),
        "buddy-xalloc64" => run(
            Buddy::aligned(XALLOC_ALIGN_UNITS),
            "buddy-xalloc64",
            &trace,
            pairs,
        ),
        "buddy" => run(Buddy::new(), "buddy", &trace, pairs),
        "offset" => run(Offset::new(n), "offset", &trace, pairs),
        "floor" => run(Floor::new(n), "floor", &trace, pairs),
        "keyed" => run(Keyed::new(n), "keyed", &trace, pairs),
        "oracle" => run(
            Oracle::new(oracle::Policy::InstantFit, 0),
            "oracle",
            &trace,
            pairs,
        ),
        "oracle-best" => run(
            Oracle::new(oracle::Policy::BestFit, 0),
            "oracle-best",
            &trace,
            pairs,
        ),
        "talc" => {
            let buffer = TalcBuffer::new(talc_bytes(n));
            run(Talc::new(&buffer), "talc", &trace, pairs);
        }
        _ => panic!("KVAFUZZ_PAIRS: unknown allocator {who:?}"),
    }
}

/// `replays` whole vmalloc replays through fresh `alloc` allocators (`KVAFUZZ_PAIRS=
/// replay-<alloc>:0:<replays>`, module comment section 4; each replay is `Workload::ops`
/// operations, plus building and dropping the allocator, which the timed benchmark leaves out).
fn count_replays(alloc: &str, replays: usize) {
    let w = Workload::load().expect("KVAFUZZ_PAIRS=replay-...: the workload file is needed");
    fn run<S: Subject>(w: &Workload, who: &str, replays: usize, mut make: impl FnMut() -> S) {
        let mut handles = Vec::with_capacity(w.pages.len());
        for _ in 0..replays {
            let mut s = make();
            w.replay(&mut s, who, &mut handles);
            black_box(&handles);
        }
    }
    match alloc {
        "vmem-instant" => run(&w, alloc, replays, || {
            Vmem::with_room(Policy::InstantFit, w.pages.len())
        }),
        "vmem-best" => run(&w, alloc, replays, || {
            Vmem::with_room(Policy::BestFit, w.pages.len())
        }),
        "buddy" => run(&w, alloc, replays, Buddy::new),
        "offset" => run(&w, alloc, replays, || Offset::new(w.pages.len())),
        _ => panic!("KVAFUZZ_PAIRS: unknown replay allocator {alloc:?}"),
    }
}

fn main() {
    if let Ok(spec) = std::env::var("KVAFUZZ_PAIRS") {
        count_pairs(&spec);
        return;
    }
    let mut c = Criterion::default()
        .with_measurement(ThreadTime)
        .configure_from_args();
    steady_state(&mut c);
    vmalloc_replay(&mut c);
    memory_latency(&mut c);
    c.final_summary();
}
