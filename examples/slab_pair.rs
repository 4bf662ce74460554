//! Steady-state alloc+free pairs of the slab layer's fast paths, for instruction counts
//! (cachegrind) and rough times on one machine.
//!
//! `slab_pair <who> <live> <pairs>`: builds `who` with `live` live 64-byte items, churns
//! `live` pairs untimed, then runs `pairs` timed pairs (free a random live item, allocate a
//! new one in its place) and prints the time per pair. Run it under cachegrind at two pair
//! counts and divide the difference for instructions per pair.
//!
//! `who`: `mag` (a zone of one keg through a loaded magazine, 64 rounds), `keg` (the same
//! zone with 0 rounds: every op goes to the keg), `kmem` (kmem's 64-byte quantum cache, 64
//! rounds, in its 16-keg arena), `talc` (talc 5 on a heap buffer), `none` (the loop and the
//! random numbers alone, to subtract).

use std::alloc::Layout;
use std::hint::black_box;
use std::ptr::NonNull;
use std::time::Instant;

use kvafuzz::kmem::{Kmem, KmemConfig, PAGE_SIZE};
use kvafuzz::slab::{Slabs, ZoneConfig, ZoneId};
use kvafuzz::vmem::Arena;

/// Item size of every subject (bytes).
const ITEM: u64 = 64;

/// A subject: allocates a 64-byte item, frees one.
trait Subject {
    fn alloc(&mut self) -> u64;
    fn free(&mut self, addr: u64);
}

/// A zone of 64-byte items on its own keg, slabs from a vmem arena.
struct Zone {
    slabs: Slabs,
    arena: Arena,
    zone: ZoneId,
}

impl Zone {
    fn new(rounds: u16) -> Zone {
        let mut arena = Arena::new("slabs", PAGE_SIZE, None).expect("arena");
        arena.add_span(1 << 32, 1 << 32).expect("span");
        let mut slabs = Slabs::new(1).expect("slabs");
        let keg = slabs.add_keg(ITEM, 8, false).expect("keg");
        let config = ZoneConfig {
            rounds,
            depot: 16,
            limit: 0,
        };
        let zone = slabs.add_zone(keg, config).expect("zone");
        Zone { slabs, arena, zone }
    }
}

impl Subject for Zone {
    #[inline]
    fn alloc(&mut self) -> u64 {
        self.slabs
            .alloc(self.zone, 0, &mut self.arena)
            .expect("zone alloc")
            .addr
    }
    #[inline]
    fn free(&mut self, addr: u64) {
        self.slabs.free(self.zone, 0, addr).expect("zone free");
    }
}

impl Subject for Kmem {
    #[inline]
    fn alloc(&mut self) -> u64 {
        Kmem::alloc(self, ITEM, 0).expect("kmem alloc")
    }
    #[inline]
    fn free(&mut self, addr: u64) {
        Kmem::free(self, addr, ITEM, 0).expect("kmem free");
    }
}

fn kmem() -> Kmem {
    let mut map = Arena::new("kernel_map", PAGE_SIZE, None).expect("map");
    map.add_span(1 << 32, 1 << 32).expect("span");
    let config = KmemConfig {
        debug: false,
        guard: false,
        cpus: 1,
        rounds: 64,
        depot: 16,
    };
    Kmem::new(config, map).expect("kmem")
}

/// talc 5 over a leaked heap buffer.
struct Talc {
    talc: talc::base::Talc<talc::source::Manual, talc::DefaultBinning>,
}

impl Talc {
    fn new(bytes: usize) -> Talc {
        let layout = Layout::from_size_align(bytes, 16).expect("buffer layout");
        // SAFETY: the layout has a non-zero size; the buffer is leaked, so it outlives talc.
        let base = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!base.is_null(), "no buffer");
        let mut talc = talc::base::Talc::new(talc::source::Manual);
        // SAFETY: the buffer is valid for `bytes` and used by nothing else.
        let claimed = unsafe { talc.claim(base, bytes) };
        assert!(claimed.is_some(), "talc refused the buffer");
        Talc { talc }
    }

    fn layout() -> Layout {
        Layout::from_size_align(ITEM as usize, 8).expect("layout")
    }
}

impl Subject for Talc {
    #[inline]
    fn alloc(&mut self) -> u64 {
        // SAFETY: the layout's size is non-zero.
        let p = unsafe { self.talc.allocate(Talc::layout()) };
        p.expect("talc alloc").as_ptr() as u64
    }
    #[inline]
    fn free(&mut self, addr: u64) {
        let p = NonNull::new(addr as *mut u8).expect("null");
        // SAFETY: `p` came from `alloc` on this talc and is freed once.
        unsafe { self.talc.deallocate(p.as_ptr(), Talc::layout()) }
    }
}

/// Nothing: the loop's own cost.
struct Nothing(u64);

impl Subject for Nothing {
    #[inline]
    fn alloc(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
    #[inline]
    fn free(&mut self, addr: u64) {
        black_box(addr);
    }
}

/// xorshift64*: the live index of each pair.
#[inline]
fn next(x: &mut u64) -> u64 {
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

fn run<S: Subject>(s: &mut S, live: usize, pairs: u64, lifo: bool) {
    let mut items: Vec<u64> = (0..live).map(|_| s.alloc()).collect();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut churn = |s: &mut S, items: &mut Vec<u64>, n: u64| {
        for _ in 0..n {
            let i = (next(&mut x) % live as u64) as usize;
            s.free(items[i]);
            items[i] = s.alloc();
        }
    };
    churn(s, &mut items, live as u64);
    let t = Instant::now();
    if lifo {
        for _ in 0..pairs {
            let a = s.alloc();
            s.free(black_box(a));
        }
    } else {
        churn(s, &mut items, pairs);
    }
    let ns = t.elapsed().as_nanos() as f64 / pairs.max(1) as f64;
    black_box(&items);
    println!("{ns:.2} ns/pair");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let who = args.get(1).map_or("mag", String::as_str);
    let live: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let pairs: u64 = args
        .get(3)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let lifo = std::env::var_os("SLAB_PAIR_LIFO").is_some();
    match who {
        "mag" => run(&mut Zone::new(64), live, pairs, lifo),
        "keg" => run(&mut Zone::new(0), live, pairs, lifo),
        "kmem" => run(&mut kmem(), live, pairs, lifo),
        "talc" => run(&mut Talc::new(live * 256 + (1 << 20)), live, pairs, lifo),
        "none" => run(&mut Nothing(0), live, pairs, lifo),
        _ => eprintln!("who: mag, keg, kmem, talc or none"),
    }
}
