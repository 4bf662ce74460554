//! Size classes and routes (module comment, section 2): which layer serves a padded size `s`
//! and how many bytes (the **chunk**) the object takes there, found by one table look-up.

use super::types::PAGE_SIZE;

/// The kmem arena's quantum: ALIGNBYTES + 1 on a 64-bit machine.
pub const KMEM_QUANTUM: u64 = 8;
/// Quanta served by the quantum caches: sizes `1 ..= KMEM_QCACHE_QUANTA * KMEM_QUANTUM`.
pub const KMEM_QCACHE_QUANTA: u64 = 16;
/// The largest size the quantum caches serve (128 bytes): the kmem arena's `qcache_max`.
pub const KMEM_QCACHE_MAX: u64 = KMEM_QCACHE_QUANTA * KMEM_QUANTUM;
/// The mid size classes, above the quantum caches up to a page (seed 004's extra cache layer,
/// doubling from ALIGNBYTES + 1).
pub const KMEM_CLASSES: [u64; 5] = [256, 512, 1024, 2048, 4096];
/// The largest size a class serves (a page).
pub const KMEM_CLASS_MAX: u64 = 4096;

/// Table entries: one per 8-byte step of `s` in `1 ..= KMEM_CLASS_MAX`.
const TABLE_LEN: usize = (KMEM_CLASS_MAX / KMEM_QUANTUM) as usize;
/// Codes below this are quantum caches (code `k - 1` for `k` quanta); codes from it on are
/// classes (code `QUANTUM_CODES + i` for class `i`).
const QUANTUM_CODES: u8 = KMEM_QCACHE_QUANTA as u8;

/// `ROUTE_TABLE[(s - 1) / 8]` is the route code of every `s` in that 8-byte step: all of them
/// round up to the same multiple of 8, and every class is a multiple of 8, so they share a
/// quantum cache or a smallest class.
const ROUTE_TABLE: [u8; TABLE_LEN] = build_table();

/// Builds [`ROUTE_TABLE`].
const fn build_table() -> [u8; TABLE_LEN] {
    let mut t = [0u8; TABLE_LEN];
    let mut j = 0;
    while j < TABLE_LEN {
        let s = (j as u64 + 1) * KMEM_QUANTUM;
        t[j] = if s <= KMEM_QCACHE_MAX {
            j as u8
        } else {
            let mut i = 0;
            while KMEM_CLASSES[i] < s {
                i += 1;
            }
            QUANTUM_CODES + i as u8
        };
        j += 1;
    }
    t
}

/// The small route of the padded size `s` as [`Route::of`] finds it, without building a
/// [`Route`]: `(false, k - 1)` for quantum cache `k`, `(true, i)` for class `i`; `None` on
/// the large path. `s = 0` counts as 1.
#[inline(always)]
pub(super) fn small_zone(s: u64) -> Option<(bool, u8)> {
    if s > KMEM_CLASS_MAX {
        return None;
    }
    let &c = ROUTE_TABLE.get((s.saturating_sub(1) / KMEM_QUANTUM) as usize)?;
    let class = c >= QUANTUM_CODES;
    Some((class, if class { c - QUANTUM_CODES } else { c }))
}

/// A quantum cache: items of `k` quanta, `k` in `1 ..= KMEM_QCACHE_QUANTA` (guaranteed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quanta(u8);

impl Quanta {
    /// The cache of `k` quanta, if `k` is in `1 ..= KMEM_QCACHE_QUANTA`.
    pub const fn new(k: u8) -> Option<Quanta> {
        if k >= 1 && k as u64 <= KMEM_QCACHE_QUANTA {
            Some(Quanta(k))
        } else {
            None
        }
    }

    /// `k`.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// The cache's item size, `k * KMEM_QUANTUM` bytes.
    pub const fn bytes(self) -> u64 {
        self.0 as u64 * KMEM_QUANTUM
    }
}

/// A mid size class: an index into [`KMEM_CLASSES`] (guaranteed in range).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SizeClass(u8);

impl SizeClass {
    /// Class `i`, if `i < KMEM_CLASSES.len()`.
    pub const fn new(i: u8) -> Option<SizeClass> {
        if (i as usize) < KMEM_CLASSES.len() {
            Some(SizeClass(i))
        } else {
            None
        }
    }

    /// The index into [`KMEM_CLASSES`].
    pub const fn index(self) -> u8 {
        self.0
    }

    /// The class's item size in bytes.
    pub const fn bytes(self) -> u64 {
        KMEM_CLASSES[self.0 as usize]
    }
}

/// The layer an object lives in (module comment, section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Route {
    /// A quantum cache of the kmem arena (`s <= 128`).
    Quantum(Quanta),
    /// A mid size class (`128 < s <= 4096`).
    Class(SizeClass),
    /// The large path: pages straight from the kmem arena (`s > 4096`).
    Large,
}

impl Route {
    /// The route of the padded size `s` (the request plus the redzone in debug mode): quantum
    /// cache `ceil(s / 8)` up to 128 bytes, the smallest class `>= s` up to a page, else the
    /// large path. `s = 0` (never a request) counts as 1.
    #[inline(always)]
    pub fn of(s: u64) -> Route {
        if s > KMEM_CLASS_MAX {
            return Route::Large;
        }
        let step = (s.saturating_sub(1) / KMEM_QUANTUM) as usize;
        match ROUTE_TABLE.get(step) {
            Some(&c) if c < QUANTUM_CODES => Route::Quantum(Quanta(c + 1)),
            Some(&c) => Route::Class(SizeClass(c - QUANTUM_CODES)),
            None => Route::Large,
        }
    }

    /// The chunk of an object of padded size `s` on this route: `roundup(s, 8)` in a quantum
    /// cache, the class size in a class, `roundup(s, PAGE_SIZE)` on the large path. In `u128`:
    /// a large `s` near `u64::MAX` rounds past it.
    pub fn chunk(self, s: u64) -> u128 {
        match self {
            Route::Quantum(k) => u128::from(k.bytes()),
            Route::Class(c) => u128::from(c.bytes()),
            Route::Large => u128::from(s).div_ceil(u128::from(PAGE_SIZE)) * u128::from(PAGE_SIZE),
        }
    }

    /// The alignment of an object's address on this route: the quantum, or a page.
    pub const fn align(self) -> u64 {
        match self {
            Route::Large => PAGE_SIZE,
            _ => KMEM_QUANTUM,
        }
    }
}
