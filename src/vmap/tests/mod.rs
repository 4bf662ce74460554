//! Unit tests of the vmap space: the three strategies against each other and against a tiny
//! brute-force model written here (it shares nothing with the implementation) on thousands
//! of deterministic pseudo-random op sequences; every error in precedence order; purge
//! reports; the top of the 32- and 64-bit spaces; the tree's four split cases; and, with
//! `seeded-bugs`, one deviating sequence per seeded bug.

extern crate std;

use super::*;
use crate::xorshift::XorShift;
use alloc::vec;
use alloc::vec::Vec;

const P: u64 = PAGE_SIZE;

fn cfg(start: u64, last: u64, lazy_max_pages: u64) -> VmapConfig {
    VmapConfig {
        start,
        last,
        lazy_max_pages,
    }
}

fn space(c: VmapConfig, s: Strategy) -> VmapSpace {
    VmapSpace::new(c, s).unwrap()
}

fn req(size: u64, align: u64, window: Option<(u64, u64)>, guard: bool) -> VmapRequest {
    VmapRequest {
        size,
        align,
        window,
        guard,
    }
}

// ---- the brute-force model ----------------------------------------------------------------

/// A naive vmap space: a list of areas, lowest fit by trying every candidate address.
struct Model {
    start: u64,
    last: u64,
    lazy_max: u64,
    /// (start, pages in bytes, extent in bytes, guard, lazy)
    areas: Vec<(u64, u64, u64, bool, bool)>,
    lazy_pages: u64,
    purges: u64,
}

impl Model {
    fn new(c: VmapConfig) -> Model {
        Model {
            start: c.start,
            last: c.last,
            lazy_max: c.lazy_max_pages,
            areas: Vec::new(),
            lazy_pages: 0,
            purges: 0,
        }
    }

    fn fit(&self, ws: u64, wl: u64, e: u64, a: u64) -> Option<u64> {
        let up = |x: u128| x.div_ceil(u128::from(a)) * u128::from(a);
        let mut cands = vec![up(u128::from(ws))];
        for &(s, _, ext, _, _) in &self.areas {
            cands.push(up(u128::from(s) + u128::from(ext)));
        }
        cands
            .into_iter()
            .filter(|&c| {
                let end = c + u128::from(e); // exclusive
                c >= u128::from(ws)
                    && end <= u128::from(wl) + 1
                    && self.areas.iter().all(|&(s, _, ext, _, _)| {
                        end <= u128::from(s) || c >= u128::from(s) + u128::from(ext)
                    })
            })
            .min()
            .map(|c| c as u64)
    }

    fn purge(&mut self) -> Option<Purge> {
        let lazy: Vec<_> = self.areas.iter().filter(|a| a.4).copied().collect();
        if lazy.is_empty() {
            return None;
        }
        self.areas.retain(|a| !a.4);
        self.purges += 1;
        let p = Purge {
            start: lazy.iter().map(|a| a.0).min().unwrap(),
            last: lazy.iter().map(|a| a.0 + (a.2 - 1)).max().unwrap(),
            areas: lazy.len() as u64,
            pages: self.lazy_pages,
        };
        self.lazy_pages = 0;
        Some(p)
    }

    fn alloc(&mut self, r: &VmapRequest) -> (Result<u64, AllocError>, Option<Purge>) {
        if r.size == 0 {
            return (Err(AllocError::ZeroSize), None);
        }
        if r.align == 0 || r.align & (r.align - 1) != 0 {
            return (Err(AllocError::BadAlign), None);
        }
        let (ws, wl) = r.window.unwrap_or((self.start, self.last));
        if ws > wl || ws < self.start || wl > self.last {
            return (Err(AllocError::BadWindow), None);
        }
        let pages = u128::from(r.size).div_ceil(u128::from(P)) * u128::from(P);
        let extent = pages + if r.guard { u128::from(P) } else { 0 };
        if extent > u128::from(u64::MAX) {
            return (Err(AllocError::SizeWraps), None);
        }
        let (pages, extent, a) = (pages as u64, extent as u64, r.align.max(P));
        let mut purge = None;
        let mut found = self.fit(ws, wl, extent, a);
        if found.is_none() && self.areas.iter().any(|a| a.4) {
            purge = self.purge();
            found = self.fit(ws, wl, extent, a);
        }
        match found {
            Some(addr) => {
                self.areas.push((addr, pages, extent, r.guard, false));
                self.areas.sort_unstable();
                (Ok(addr), purge)
            }
            None => (Err(AllocError::NoSpace), purge),
        }
    }

    fn free(&mut self, addr: u64) -> (Result<(), FreeError>, Option<Purge>) {
        let Some(a) = self.areas.iter_mut().find(|a| a.0 == addr && !a.4) else {
            return (Err(FreeError::NotBusy), None);
        };
        a.4 = true;
        self.lazy_pages += a.2 / P;
        let purge = if self.lazy_pages > self.lazy_max {
            self.purge()
        } else {
            None
        };
        (Ok(()), purge)
    }

    fn views(&self) -> Vec<AreaView> {
        self.areas
            .iter()
            .map(|&(start, size, _, guard, lazy)| AreaView {
                start,
                size,
                guard,
                state: if lazy {
                    AreaState::Lazy
                } else {
                    AreaState::Busy
                },
            })
            .collect()
    }

    fn stats(&self) -> VmapStats {
        let count = |lazy: bool| self.areas.iter().filter(|a| a.4 == lazy).count() as u64;
        let pages = |lazy: bool| {
            self.areas
                .iter()
                .filter(|a| a.4 == lazy)
                .map(|a| a.2 / P)
                .sum()
        };
        let used: u128 = self.areas.iter().map(|a| u128::from(a.2)).sum();
        VmapStats {
            busy: count(false),
            lazy: count(true),
            busy_pages: pages(false),
            lazy_pages: pages(true),
            free_bytes: u128::from(self.last - self.start) + 1 - used,
            purges: self.purges,
        }
    }
}

// ---- deterministic pseudo-random sequences --------------------------------------------------

/// The spaces the sequences run in: small enough to fill, at the bottom, below 4 GiB, at the
/// top of the 32-bit space, at the top of the 64-bit space, and the whole 64-bit space.
const SPACES: [(u64, u64); 6] = [
    (0x1000_0000, 0x1000_0000 + 96 * P - 1),
    (0, 64 * P - 1),
    (0xffff_ffff - 128 * P + 1, 0xffff_ffff),
    (u64::MAX - 64 * P + 1, u64::MAX),
    (0, u64::MAX),
    (0xffff_c900_0000_0000, 0xffff_c900_0000_0000 + 200 * P - 1),
];

const LAZY_LIMITS: [u64; 5] = [0, 2, 7, 40, u64::MAX];

fn random_request(rng: &mut XorShift, start: u64, last: u64) -> VmapRequest {
    let size = match rng.below(20) {
        0 => 0,
        1 => u64::MAX - rng.below(3 * P),
        2 => 1 << (40 + rng.below(24)),
        3 => (last - start)
            .saturating_sub(rng.below(2) * P)
            .saturating_add(1),
        4..=6 => 1 + rng.below(24 * P),
        _ => 1 + rng.below(6 * P),
    };
    let align = match rng.below(20) {
        0 => 0,
        1 => 3 + 2 * rng.below(1000),
        2 => 1 << (40 + rng.below(24)),
        3..=6 => 1 << rng.below(12),
        7..=11 => 1 << (12 + rng.below(6)),
        _ => P,
    };
    let span = u128::from(last - start) + 1;
    let pick = |rng: &mut XorShift| start + (u128::from(rng.next()) % span) as u64;
    let window = match rng.below(10) {
        0 => Some((pick(rng), pick(rng))),
        1 => {
            let ws = pick(rng);
            Some((ws, ws.saturating_add(rng.below(32 * P)).min(last)))
        }
        2 if rng.percent(30) => Some((start.wrapping_sub(P), last)),
        2 => Some((start, last.wrapping_add(rng.below(2)))),
        3 => {
            let ws = pick(rng) & !(P - 1);
            Some((ws.max(start), last))
        }
        _ => None,
    };
    VmapRequest {
        size,
        align,
        window,
        guard: rng.percent(70),
    }
}

/// What the random sequences exercised (checked so the generator cannot silently degrade).
#[derive(Default, Debug)]
struct Coverage {
    placed: u64,
    errors: [u64; 5],
    purges_by_free: u64,
    purges_by_alloc: u64,
    frees: u64,
    bad_frees: u64,
    cache_hits: u64,
    windowed: u64,
    top_areas: u64,
}

/// Runs one sequence on the three strategies and the model, comparing everything after
/// every op.
fn run_sequence(seed: u64, c: VmapConfig, ops: usize, cov: &mut Coverage) {
    let mut rng = XorShift::new(seed | 1);
    let mut spaces: Vec<VmapSpace> = ALL_STRATEGIES.iter().map(|&s| space(c, s)).collect();
    let mut model = Model::new(c);
    for op in 0..ops {
        let kind = rng.below(100);
        let (expected_purge, what) = if kind < 55 {
            let r = random_request(&mut rng, c.start, c.last);
            let (want, purge) = model.alloc(&r);
            match want {
                Ok(a) => {
                    cov.placed += 1;
                    cov.windowed += u64::from(r.window.is_some());
                    let top = u128::from(a)
                        + u128::from(model.areas.iter().find(|x| x.0 == a).unwrap().2);
                    cov.top_areas += u64::from(top == u128::from(c.last) + 1);
                }
                Err(e) => cov.errors[e as usize] += 1,
            }
            cov.purges_by_alloc += u64::from(purge.is_some());
            for s in &mut spaces {
                assert_eq!(
                    s.alloc(&r),
                    want,
                    "seed {seed} op {op} {:?} alloc {r:?}",
                    s.strategy()
                );
            }
            (purge, "alloc")
        } else if kind < 90 {
            let live: Vec<_> = model.areas.iter().map(|a| (a.0, a.1)).collect();
            let addr = match (rng.below(10), live.is_empty()) {
                (0, _) | (_, true) => c.start.wrapping_add(rng.below(64) * P),
                (1, false) => {
                    let (s, size) = live[rng.below(live.len() as u64) as usize];
                    s + rng.below(size)
                }
                (_, false) => live[rng.below(live.len() as u64) as usize].0,
            };
            let (want, purge) = model.free(addr);
            cov.frees += u64::from(want.is_ok());
            cov.bad_frees += u64::from(want.is_err());
            cov.purges_by_free += u64::from(purge.is_some());
            for s in &mut spaces {
                assert_eq!(s.free(addr), want, "seed {seed} op {op} free {addr:#x}");
            }
            (purge, "free")
        } else {
            let purge = model.purge();
            for s in &mut spaces {
                s.purge();
            }
            (purge, "purge")
        };
        let views = model.views();
        let stats = model.stats();
        for s in &mut spaces {
            let st = s.strategy();
            assert_eq!(
                s.take_purge(),
                expected_purge,
                "seed {seed} op {op} {what} {st:?}"
            );
            assert_eq!(s.take_purge(), None);
            assert_eq!(s.areas().collect::<Vec<_>>(), views, "seed {seed} op {op}");
            assert_eq!(s.stats(), stats, "seed {seed} op {op} {st:?}");
            assert_eq!(s.lazy_pages(), model.lazy_pages);
            if let Err(e) = s.check_invariants() {
                panic!("seed {seed} op {op} {what} {st:?}: {e}");
            }
        }
    }
    if let Engine::Cache(st) = spaces[1].engine {
        cov.cache_hits += st.hits;
    }
}

#[test]
fn strategies_agree_with_brute_force_on_random_sequences() {
    let mut sequences = 0;
    let mut cov = Coverage::default();
    for (i, &(start, last)) in SPACES.iter().enumerate() {
        for (j, &lazy) in LAZY_LIMITS.iter().enumerate() {
            for k in 0..70u64 {
                let seed = 0x9e37_79b9_7f4a_7c15u64
                    .wrapping_mul(1 + k)
                    .wrapping_add((i as u64) << 40 | (j as u64) << 32);
                run_sequence(seed, cfg(start, last, lazy), 80, &mut cov);
                sequences += 1;
            }
        }
    }
    assert_eq!(sequences, 2100);
    check_coverage(&cov, 300);
}

/// Every outcome happened at least `min` times.
fn check_coverage(cov: &Coverage, min: u64) {
    std::println!("{cov:?}");
    assert!(cov.errors.iter().all(|&n| n >= min), "{cov:?}");
    for n in [
        cov.placed,
        cov.purges_by_free,
        cov.purges_by_alloc,
        cov.frees,
        cov.bad_frees,
        cov.cache_hits,
        cov.windowed,
        cov.top_areas,
    ] {
        assert!(n >= min, "{cov:?}");
    }
}

/// Many small allocations and frees with few purges: long area chains, the cache's steady
/// state and its resets, and the tree's merges.
#[test]
fn strategies_agree_on_long_sequences() {
    let mut cov = Coverage::default();
    for (i, &(start, last)) in SPACES.iter().enumerate() {
        for lazy in [5, 30] {
            let end = last.min(start.saturating_add(4000 * P - 1));
            let seed = 0xdead_beef ^ (i as u64) << 8 ^ lazy;
            run_sequence(seed, cfg(start, end, lazy), 1500, &mut cov);
        }
    }
    check_coverage(&cov, 40);
}

// ---- errors in precedence order -------------------------------------------------------------

#[test]
fn create_errors() {
    for (s, l) in [
        (1, 0xffff),
        (0x1000, 0x1fff + 1),
        (0x2000, 0x0fff),
        (0, 0xffe),
        (0x1000, 0x1000),
    ] {
        for st in ALL_STRATEGIES {
            assert_eq!(
                VmapSpace::new(cfg(s, l, 0), st).err(),
                Some(CreateError::BadRange)
            );
        }
    }
    for (s, l) in [(0, 0xfff), (0, u64::MAX), (u64::MAX - 0xfff, u64::MAX)] {
        for st in ALL_STRATEGIES {
            let sp = space(cfg(s, l, 0), st);
            assert_eq!(sp.strategy(), st);
            sp.check_invariants().unwrap();
            assert_eq!(sp.stats().free_bytes, u128::from(l - s) + 1);
        }
    }
}

#[test]
fn alloc_errors_in_precedence_order() {
    for st in ALL_STRATEGIES {
        let mut s = space(cfg(0x10_0000, 0x10_ffff, 0), st);
        let bad_window = Some((0x10_2000, 0x10_1000));
        // Each request breaks every rule from its own on; the first one wins.
        let cases = [
            (req(0, 3, bad_window, true), AllocError::ZeroSize),
            (req(u64::MAX, 0, bad_window, true), AllocError::BadAlign),
            (req(u64::MAX, 6, None, true), AllocError::BadAlign),
            (req(u64::MAX, 1, bad_window, true), AllocError::BadWindow),
            (
                req(u64::MAX, 1, Some((0x0f_f000, 0x10_ffff)), true),
                AllocError::BadWindow,
            ),
            (
                req(u64::MAX, 1, Some((0x10_0000, 0x11_0000)), true),
                AllocError::BadWindow,
            ),
            (req(u64::MAX, 1, None, false), AllocError::SizeWraps),
            (req(u64::MAX - P + 1, 1, None, true), AllocError::SizeWraps),
            (req(u64::MAX - P + 1, 1, None, false), AllocError::NoSpace),
            (req(0x10_0000, P, None, true), AllocError::NoSpace),
            (req(P, 1 << 63, None, true), AllocError::NoSpace),
        ];
        for (r, e) in cases {
            assert_eq!(s.alloc(&r), Err(e), "{st:?} {r:?}");
            assert_eq!(s.take_purge(), None);
        }
        // A window of exactly the space, a whole-space request without a guard.
        assert_eq!(
            s.alloc(&req(0x1_0000, 1, Some((0x10_0000, 0x10_ffff)), false)),
            Ok(0x10_0000)
        );
        s.check_invariants().unwrap();
    }
}

#[test]
fn free_errors() {
    for st in ALL_STRATEGIES {
        let mut s = space(cfg(0, 0xf_ffff, 100), st);
        let a = s.alloc(&VmapRequest::size(2 * P)).unwrap();
        assert_eq!(a, 0);
        assert_eq!(s.free(P), Err(FreeError::NotBusy), "inside the area");
        assert_eq!(s.free(2 * P), Err(FreeError::NotBusy), "its guard page");
        assert_eq!(s.free(u64::MAX), Err(FreeError::NotBusy));
        assert_eq!(s.free(0), Ok(()));
        assert_eq!(s.free(0), Err(FreeError::NotBusy), "double free (lazy)");
        s.purge();
        assert_eq!(s.free(0), Err(FreeError::NotBusy), "double free (purged)");
        s.check_invariants().unwrap();
    }
}

// ---- lazy free and purge ------------------------------------------------------------------

#[test]
fn purge_reports() {
    for st in ALL_STRATEGIES {
        let mut s = space(cfg(0x4000_0000, 0x4000_0000 + 64 * P - 1, 6), st);
        let a = s.alloc(&VmapRequest::size(P)).unwrap(); // 2 pages
        let b = s.alloc(&req(3 * P, P, None, false)).unwrap(); // 3 pages
        let c = s.alloc(&VmapRequest::size(2 * P)).unwrap(); // 3 pages
        assert_eq!((a, b, c), (0x4000_0000, 0x4000_2000, 0x4000_5000));
        // An explicit purge with nothing lazily freed does nothing.
        s.purge();
        assert_eq!(s.take_purge(), None);
        assert_eq!(s.stats().purges, 0);
        s.free(c).unwrap();
        s.free(a).unwrap();
        assert_eq!((s.lazy_pages(), s.take_purge()), (5, None));
        // 5 + 3 = 8 > 6: this free purges all three, flushing up to c's guard page.
        s.free(b).unwrap();
        assert_eq!(
            s.take_purge(),
            Some(Purge {
                start: a,
                last: c + 3 * P - 1,
                areas: 3,
                pages: 8
            })
        );
        assert_eq!(s.take_purge(), None);
        assert_eq!(s.lazy_pages(), 0);
        assert_eq!(s.stats().purges, 1);
        assert_eq!(s.areas().count(), 0);
        s.check_invariants().unwrap();
        // Exactly at the limit: no purge.
        let d = s.alloc(&req(6 * P, P, None, false)).unwrap();
        s.free(d).unwrap();
        assert_eq!((s.lazy_pages(), s.take_purge()), (6, None));
        // An allocation that fits only after a purge purges once and reports it.
        let e = s.alloc(&req(64 * P, P, None, false)).unwrap();
        assert_eq!(e, d);
        assert_eq!(
            s.take_purge(),
            Some(Purge {
                start: d,
                last: d + 6 * P - 1,
                areas: 1,
                pages: 6
            })
        );
        // No space and nothing lazily freed: NoSpace, no purge.
        assert_eq!(s.alloc(&VmapRequest::size(1)), Err(AllocError::NoSpace));
        assert_eq!(s.take_purge(), None);
        // No space even after the purge: NoSpace, and the purge is reported.
        s.free(e).unwrap();
        assert_eq!(
            s.take_purge(),
            Some(Purge {
                start: e,
                last: e + 64 * P - 1,
                areas: 1,
                pages: 64
            })
        );
        s.check_invariants().unwrap();
    }
}

#[test]
fn failed_alloc_still_reports_its_purge() {
    for st in ALL_STRATEGIES {
        let mut s = space(cfg(0, 8 * P - 1, 100), st);
        let a = s.alloc(&req(4 * P, P, None, false)).unwrap();
        s.alloc(&req(4 * P, P, None, false)).unwrap();
        s.free(a).unwrap();
        // Needs 5 pages: the purge frees 4, still no room.
        assert_eq!(
            s.alloc(&req(5 * P, P, None, false)),
            Err(AllocError::NoSpace)
        );
        assert_eq!(
            s.take_purge(),
            Some(Purge {
                start: 0,
                last: 4 * P - 1,
                areas: 1,
                pages: 4
            })
        );
        assert_eq!(s.lazy_pages(), 0);
        s.check_invariants().unwrap();
    }
}

#[test]
fn lazy_area_and_guard_pages_are_reserved() {
    for st in ALL_STRATEGIES {
        let mut s = space(cfg(0, 16 * P - 1, u64::MAX), st);
        let a = s.alloc(&VmapRequest::size(P)).unwrap();
        let b = s.alloc(&req(P, P, None, false)).unwrap();
        let c = s.alloc(&VmapRequest::size(P)).unwrap();
        assert_eq!((a, b, c), (0, 2 * P, 3 * P), "a's guard page is skipped");
        s.free(b).unwrap();
        // b is lazily freed: its page is not handed out again until a purge.
        assert_eq!(s.alloc(&req(P, P, None, false)), Ok(5 * P));
        s.purge();
        assert_eq!(s.alloc(&req(P, P, None, false)), Ok(2 * P));
        s.check_invariants().unwrap();
    }
}

// ---- the top of the space -----------------------------------------------------------------

#[test]
fn top_of_64_bit_space() {
    let start = u64::MAX - 16 * P + 1;
    for st in ALL_STRATEGIES {
        let mut s = space(cfg(start, u64::MAX, 0), st);
        // An exact fit ending at u64::MAX (addr + extent == 2^64).
        let a = s.alloc(&req(15 * P, P, None, true)).unwrap();
        assert_eq!(a, start);
        assert_eq!(s.alloc(&req(1, 1, None, false)), Err(AllocError::NoSpace));
        s.free(a).unwrap();
        assert_eq!(
            s.take_purge(),
            Some(Purge {
                start,
                last: u64::MAX,
                areas: 1,
                pages: 16
            })
        );
        let b = s.alloc(&req(P, P, None, false)).unwrap();
        let c = s
            .alloc(&req(P, P, Some((u64::MAX - P + 1, u64::MAX)), false))
            .unwrap();
        assert_eq!((b, c), (start, u64::MAX - P + 1));
        // A huge alignment: ALIGN() would wrap; no aligned address is in the space (which
        // starts at 2^64 - 2^16).
        for shift in 17..64 {
            assert_eq!(
                s.alloc(&req(P, 1 << shift, None, false)),
                Err(AllocError::NoSpace),
                "{st:?} align 1 << {shift}"
            );
        }
        // The window's last page, aligned at 2^12 only.
        assert_eq!(
            s.alloc(&req(P, P, Some((u64::MAX - 2 * P + 1, u64::MAX)), false)),
            Ok(u64::MAX - 2 * P + 1)
        );
        s.check_invariants().unwrap();
        assert_eq!(s.stats().free_bytes, u128::from(13 * P));
    }
}

#[test]
fn whole_64_bit_space() {
    for st in ALL_STRATEGIES {
        let mut s = space(cfg(0, u64::MAX, 0), st);
        assert_eq!(s.stats().free_bytes, 1 << 64);
        assert_eq!(s.alloc(&req(1 << 63, 1 << 63, None, false)), Ok(0));
        assert_eq!(s.alloc(&req(1 << 62, 1 << 63, None, false)), Ok(1 << 63));
        assert_eq!(
            s.alloc(&req(1 << 62, 1 << 63, None, false)),
            Err(AllocError::NoSpace)
        );
        assert_eq!(
            s.alloc(&req((1 << 62) - P, 1 << 62, None, true)),
            Ok(3 << 62)
        );
        assert_eq!(s.stats().free_bytes, 0);
        s.check_invariants().unwrap();
        s.free(1 << 63).unwrap();
        s.free(0).unwrap();
        s.free(3 << 62).unwrap();
        assert_eq!(s.stats().free_bytes, 1 << 64);
        s.check_invariants().unwrap();
        // The largest request: 2^64 - 4096 bytes, no guard.
        assert_eq!(s.alloc(&req(u64::MAX - P + 1, 1, None, false)), Ok(0));
        s.check_invariants().unwrap();
    }
}

#[test]
fn top_of_32_bit_space() {
    let start = 0xffff_ffff - 32 * P + 1;
    for st in ALL_STRATEGIES {
        let mut s = space(cfg(start, 0xffff_ffff, 1000), st);
        let a = s.alloc(&req(31 * P, P, None, true)).unwrap();
        assert_eq!(a + 32 * P, 1 << 32);
        assert_eq!(s.alloc(&req(1, P, None, false)), Err(AllocError::NoSpace));
        s.check_invariants().unwrap();
    }
}

// ---- the strategies' own mechanics --------------------------------------------------------

#[test]
fn tree_split_cases_and_merges() {
    let mut s = space(cfg(0, 16 * P - 1, u64::MAX), Strategy::Tree);
    let blocks = |s: &VmapSpace| match &s.engine {
        Engine::Tree(t) => t.blocks_checked().unwrap(),
        _ => unreachable!(),
    };
    let nog = |n: u64, w: Option<(u64, u64)>| req(n * P, P, w, false);
    // Left edge.
    assert_eq!(s.alloc(&nog(2, None)), Ok(0));
    assert_eq!(blocks(&s), vec![(2 * P, 16 * P - 1)]);
    // Middle (a window starting inside the block).
    assert_eq!(s.alloc(&nog(2, Some((6 * P, 16 * P - 1)))), Ok(6 * P));
    assert_eq!(blocks(&s), vec![(2 * P, 6 * P - 1), (8 * P, 16 * P - 1)]);
    // Right edge (the window and the alignment push it to the end of the block).
    assert_eq!(
        s.alloc(&req(4 * P, 4 * P, Some((9 * P, 16 * P - 1)), false)),
        Ok(12 * P)
    );
    assert_eq!(blocks(&s), vec![(2 * P, 6 * P - 1), (8 * P, 12 * P - 1)]);
    // Whole.
    assert_eq!(s.alloc(&nog(4, None)), Ok(2 * P));
    assert_eq!(blocks(&s), vec![(8 * P, 12 * P - 1)]);
    s.check_invariants().unwrap();
    // Purges merge: below, above, both, neither.
    s.free(6 * P).unwrap();
    s.purge();
    assert_eq!(blocks(&s), vec![(6 * P, 12 * P - 1)]);
    s.free(0).unwrap();
    s.purge();
    assert_eq!(blocks(&s), vec![(0, 2 * P - 1), (6 * P, 12 * P - 1)]);
    s.free(12 * P).unwrap();
    s.free(2 * P).unwrap();
    s.purge();
    assert_eq!(blocks(&s), vec![(0, 16 * P - 1)]);
    s.check_invariants().unwrap();
}

#[test]
fn tree_finds_exact_aligned_fits() {
    // Free blocks of exactly 4 pages, aligned at 16 KiB, between busy pages: a padded search
    // (size + align - 1) finds none of them.
    let mut s = space(cfg(0, 64 * P - 1, 0), Strategy::Tree);
    for i in 0..16 {
        assert_eq!(s.alloc(&req(4 * P, P, None, false)), Ok(i * 4 * P));
    }
    for i in (0..16).step_by(2) {
        s.free(i * 4 * P).unwrap();
    }
    for i in (0..16).step_by(2) {
        assert_eq!(s.alloc(&req(4 * P, 4 * P, None, false)), Ok(i * 4 * P));
    }
    s.check_invariants().unwrap();
}

#[test]
fn cache_keeps_lowest_fit_across_resets() {
    let mut s = space(cfg(0, 256 * P - 1, 0), Strategy::Cache);
    let mut w = space(cfg(0, 256 * P - 1, 0), Strategy::Walk);
    fn cached(s: &VmapSpace) -> CacheState {
        match s.engine {
            Engine::Cache(st) => st,
            _ => unreachable!(),
        }
    }
    fn both(
        s: &mut VmapSpace,
        w: &mut VmapSpace,
        r: VmapRequest,
    ) -> (Result<u64, AllocError>, CacheState) {
        let x = s.alloc(&r);
        assert_eq!(x, w.alloc(&r));
        s.check_invariants().unwrap();
        (x, cached(s))
    }
    // Fill 10 two-page areas; the cache follows the last one.
    for i in 0..10 {
        let (x, st) = both(&mut s, &mut w, VmapRequest::size(P));
        assert_eq!(x, Ok(i * 2 * P));
        assert_eq!(st.area, Some(i * 2 * P));
    }
    // A 16 KiB-aligned request starts at the cache, re-aligned.
    let (x, st) = both(&mut s, &mut w, req(P, 4 * P, None, false));
    assert_eq!(x, Ok(20 * P));
    assert_eq!((st.area, st.align), (Some(20 * P), 4 * P));
    // A smaller alignment resets the cache: the hole at 21 * P .. is found from the start.
    let (x, st) = both(&mut s, &mut w, req(P, P, None, false));
    assert_eq!((x, st.area), (Ok(21 * P), Some(21 * P)));
    // Purging an area below the cache moves it to the previous area.
    s.free(4 * P).unwrap();
    w.free(4 * P).unwrap();
    assert_eq!(cached(&s).area, Some(2 * P));
    s.check_invariants().unwrap();
    // The 2-page hole at 4 * P: a request of that extent resets the cache and takes it.
    let (x, _) = both(&mut s, &mut w, VmapRequest::size(P));
    assert_eq!(x, Ok(4 * P));
    // A window above the cached area: the cache start is below it, the walk starts afresh.
    let (x, st) = both(&mut s, &mut w, req(P, P, Some((100 * P, 255 * P)), true));
    assert_eq!(x, Ok(100 * P));
    assert_eq!(st.vstart, 100 * P);
    // A lower window start resets.
    let (x, _) = both(&mut s, &mut w, VmapRequest::size(P));
    assert_eq!(x, Ok(22 * P));
}

#[test]
fn many_extents_walk_and_tree_agree() {
    // 5,000 busy areas with every other one freed, then mixed requests.
    let c = cfg(0xffff_c900_0000_0000, 0xffff_e8ff_ffff_ffff, u64::MAX);
    let mut all: Vec<VmapSpace> = ALL_STRATEGIES.iter().map(|&s| space(c, s)).collect();
    let mut rng = XorShift::new(42);
    let mut starts = Vec::new();
    for _ in 0..5000 {
        let r = req((1 + rng.below(4)) * P, P, None, rng.percent(50));
        let x = all[0].alloc(&r).unwrap();
        for s in &mut all[1..] {
            assert_eq!(s.alloc(&r), Ok(x));
        }
        starts.push(x);
    }
    for &x in starts.iter().step_by(2) {
        for s in &mut all {
            s.free(x).unwrap();
        }
    }
    for s in &mut all {
        s.purge();
        s.check_invariants().unwrap();
    }
    for _ in 0..2000 {
        let r = req((1 + rng.below(6)) * P, 1 << (12 + rng.below(4)), None, true);
        let x = all[0].alloc(&r);
        for s in &mut all[1..] {
            assert_eq!(s.alloc(&r), x);
        }
    }
    for s in &all {
        s.check_invariants().unwrap();
    }
}

/// Each invariant check fails alone.
mod invariants;
/// With `seeded-bugs`: one deviating sequence per seeded bug.
#[cfg(feature = "seeded-bugs")]
mod seeded;
