//! # The kmem oracle
//!
//! A naive model of the kmem front end of issue 15 (NetBSD's `kmem_alloc` / `kmem_free`
//! over vmem quantum caches, mid-size class zones and the large path, as the shared kmem
//! contract specifies it). It shares nothing with the allocator in `src/kmem/`: plain integers
//! in, verdicts out, every address sum in `u128`. It does not model the layers below (slabs,
//! magazines, the arena, the kernel map): it knows which addresses are live, how big each
//! object is, what its memory holds, and which answers are therefore possible. Slow on
//! purpose: live objects are a sorted `Vec` scanned whole, memory a `BTreeMap` of pages.
//!
//! ## 1. Concepts
//!
//! - **Request size** `size`: what the caller asks for, `1..=MAX_KMEM_SIZE`.
//! - **Padded size** `s = size + (debug ? KMEM_REDZONE : 0)`: what kmem asks its layers for.
//! - **Route** ([`Route`]): the layer `s` goes to, a pure function of `s` ([`route`]):
//!   `s <= QCACHE_MAX` (128): quantum cache `k = ceil(s / KMEM_QUANTUM)` (1..=16);
//!   `QCACHE_MAX < s <= PAGE_SIZE`: the class zone of the smallest of [`KMEM_CLASSES`] that is
//!   `>= s`; `s > PAGE_SIZE`: the large path.
//! - **Chunk**: the bytes an object occupies: `roundup(s, KMEM_QUANTUM)` (quantum cache), the
//!   class size (class), `roundup(s, PAGE_SIZE)` (large). Its range is the half-open
//!   `[addr, addr + chunk)`, in `u128` (an object at the top ends at `2^64`).
//! - **Guard range** (guard mode, large objects only): the page right after the chunk,
//!   `[addr + chunk, addr + chunk + PAGE_SIZE - 1]`, allocated in the arena and handed to
//!   nobody. Small objects never have one, in either mode.
//! - **Extent**: chunk plus guard range, `[addr, addr + chunk + (guard ? PAGE_SIZE : 0))`.
//!   The extents of two live objects never share a byte.
//! - **Redzone** (debug mode): `[addr + size, addr + chunk - 1]`, at least `KMEM_REDZONE`
//!   bytes, filled with [`KMEM_REDZONE_BYTE`] when the object is allocated. A byte there that
//!   differs from the pattern is a **clobber**; writing the pattern byte itself is none.
//! - **Memory**: sparse bytes over the whole 64-bit space ([`SparseMemory`]); a byte never
//!   written reads 0. A range `[addr, addr + len)` ending past `2^64` is refused
//!   ([`MemoryErrorKind::PastTop`]), in full: nothing of it is written.
//! - Address 0 is an ordinary address: an object may start there, memory may be written there.
//!
//! ## 2. Predictions
//!
//! - **alloc(size, cpu)**: `ZeroSize`, `TooBig` (`size > MAX_KMEM_SIZE`), `BadCpu`
//!   (`cpu >= cpus`), in that order, never touching the kernel map. Otherwise an address:
//!   aligned to `KMEM_QUANTUM` (large: `PAGE_SIZE`), its extent not passing `2^64` and sharing
//!   no byte with any live object's extent; or `NoSpace`, allowed only when the harness
//!   reports that the kernel map refused an import during the op. In debug mode the model
//!   then fills the redzone.
//! - **free(addr, size, cpu)**: `ZeroSize`, `BadCpu`; then, debug: `BadFree` unless a live
//!   object starts at `addr`, `WrongSize { allocated, freed }` unless its size is `size`,
//!   `Redzone { addr, offset }` at the first clobbered byte (the object stays live);
//!   non-debug: the route of `size` (`s = size`) decides: a cache or class route needs a live
//!   object at `addr` with exactly that route (else `BadFree`; a same-route size is accepted),
//!   the large route needs a live large object at `addr` (else `BadFree`) whose chunk is
//!   `roundup(size, PAGE_SIZE)` (else `WrongSize { allocated, freed }`). Then the object is
//!   gone (its guard range with it).
//! - **check(addr)**: debug: `NotLive` unless a live object starts at `addr`, `Redzone` at
//!   the first clobber, else Ok; non-debug: Ok iff a live large object starts at `addr` (kmem
//!   records only those), else `NotLive`.
//! - **write(addr, bytes)** / **read(addr, len)**: `PastTop` exactly when the range ends past
//!   `2^64`; a read must show exactly the model's bytes (so contents written through one
//!   object never appear in another).
//!
//! Choices where the contract is silent: `WrongSize.allocated` is the size the object was
//! allocated with (non-debug large frees included), `freed` the size passed to free; an
//! allocation that succeeds although the map refused an import during it is accepted (the
//! layers may retry); a map refusal reported during an op that must fail its argument checks
//! is a verdict ([`Check::ImportOnArgError`]); `new` takes any `cpus` (0 makes every op
//! `BadCpu`); a zero-length read or write succeeds at any address; route stats count requested
//! bytes and chunk bytes separately (guard pages in neither).
//!
//! ## 3. Verdicts
//!
//! Each judging call ([`KmemModel::alloc`], [`KmemModel::free`], [`KmemModel::check`],
//! [`KmemModel::write`], [`KmemModel::read`]) takes the implementation's answer and returns
//! `Ok` (the model has applied the operation) or a [`Verdict`] naming the [`Check`] that
//! failed, what was expected and what was seen; the model is then exactly as it was before
//! the call. After every operation the harness compares [`KmemModel::live`] and
//! [`KmemModel::stats`] with the implementation's (via [`judge_eq`]) and may run
//! [`KmemModel::self_check`].
//!
//! Nothing here panics on any input: sums are taken in `u128` and narrowed only where they
//! have been checked to fit; lookups use `get`.

mod memory;
mod model;
#[cfg(test)]
mod tests;

use std::fmt;

pub use memory::SparseMemory;
pub use model::KmemModel;

/// Bytes per page: the kernel map's quantum, the large path's unit, a guard range's size.
pub const PAGE_SIZE: u64 = 4096;
/// The kmem arena's quantum (ALIGNBYTES + 1): every object is aligned to it.
pub const KMEM_QUANTUM: u64 = 8;
/// Quanta served by the quantum caches: sizes `1..=KMEM_QCACHE_QUANTA * KMEM_QUANTUM`.
pub const KMEM_QCACHE_QUANTA: u64 = 16;
/// The mid-size class zones, doubling up to `PAGE_SIZE`, above the quantum caches.
pub const KMEM_CLASSES: [u64; 5] = [256, 512, 1024, 2048, 4096];
/// Debug bytes added to every request (the least redzone).
pub const KMEM_REDZONE: u64 = 8;
/// The byte a redzone is filled with.
pub const KMEM_REDZONE_BYTE: u8 = 0xbb;
/// The most quanta a vmem arena's quantum caches may cover.
pub const MAX_QCACHE_QUANTA: u64 = 16;
/// The largest request kmem accepts.
pub const MAX_KMEM_SIZE: u64 = 1 << 40;

/// The largest padded size served by a quantum cache: `16 * 8 = 128`.
pub const QCACHE_MAX: u64 = KMEM_QCACHE_QUANTA * KMEM_QUANTUM;

const _: () = assert!(KMEM_QCACHE_QUANTA <= MAX_QCACHE_QUANTA);

/// [`PAGE_SIZE`] in `u128`.
const PAGE: u128 = PAGE_SIZE as u128;

/// `2^64`: one past the last address.
const TOP: u128 = 1 << 64;

/// Why `alloc` fails (in check order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KmemAllocErrorKind {
    /// `size == 0`.
    ZeroSize,
    /// `size > MAX_KMEM_SIZE`.
    TooBig,
    /// `cpu >= cpus`.
    BadCpu,
    /// The layers had no room, even after importing from the kernel map.
    NoSpace,
}

/// Why `free` fails (in check order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KmemFreeErrorKind {
    /// `size == 0`.
    ZeroSize,
    /// `cpu >= cpus`.
    BadCpu,
    /// No (fitting) live object at `addr` (see section 2).
    BadFree,
    /// The object was allocated with another size (debug), or another chunk (large).
    WrongSize {
        /// The size the object was allocated with.
        allocated: u64,
        /// The size passed to free.
        freed: u64,
    },
    /// A redzone byte differs from the pattern (debug); the object stays live.
    Redzone {
        /// The object's address.
        addr: u64,
        /// The first clobbered byte's offset from `addr`.
        offset: u64,
    },
}

/// Why `check` fails (in check order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KmemCheckErrorKind {
    /// No live object kmem records starts at the address.
    NotLive,
    /// A redzone byte differs from the pattern (debug).
    Redzone {
        /// The object's address.
        addr: u64,
        /// The first clobbered byte's offset from `addr`.
        offset: u64,
    },
}

/// Why a memory access is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemoryErrorKind {
    /// `[addr, addr + len)` ends past `2^64` (it would wrap).
    PastTop,
}

/// The layer a padded size goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Route {
    /// Quantum cache `k` (`1..=KMEM_QCACHE_QUANTA`): items of `k * KMEM_QUANTUM` bytes.
    Quantum(u8),
    /// The class zone of this many bytes (one of [`KMEM_CLASSES`]).
    Class(u64),
    /// The large path: page-rounded `xalloc`s from the kmem arena.
    Large,
}

impl Route {
    /// Every route, in order: the quantum caches, the classes, the large path.
    pub fn all() -> Vec<Route> {
        let mut all: Vec<Route> = (1..=KMEM_QCACHE_QUANTA)
            .map(|k| Route::Quantum(k as u8)) // k <= 16
            .collect();
        all.extend(KMEM_CLASSES.iter().map(|&c| Route::Class(c)));
        all.push(Route::Large);
        all
    }

    /// The alignment every object of the route has.
    pub fn align(&self) -> u64 {
        match self {
            Route::Quantum(_) | Route::Class(_) => KMEM_QUANTUM,
            Route::Large => PAGE_SIZE,
        }
    }
}

/// The route of a padded size `s`; `None` for `s == 0`.
pub fn route(s: u64) -> Option<Route> {
    if s == 0 {
        None
    } else if s <= QCACHE_MAX {
        // ceil(s / 8) <= 16
        Some(Route::Quantum(s.div_ceil(KMEM_QUANTUM) as u8))
    } else if s <= PAGE_SIZE {
        KMEM_CLASSES
            .iter()
            .copied()
            .find(|&c| c >= s)
            .map(Route::Class)
    } else {
        Some(Route::Large)
    }
}

/// `x` rounded up to a multiple of `to` (non-zero), in `u128`.
fn roundup(x: u128, to: u128) -> u128 {
    x.div_ceil(to) * to
}

/// Everything kmem derives from one request, before choosing an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    /// The request size, `1..=MAX_KMEM_SIZE`.
    pub size: u64,
    /// `size + (debug ? KMEM_REDZONE : 0)`.
    pub padded: u64,
    /// The layer.
    pub route: Route,
    /// The object's bytes (see section 1).
    pub chunk: u64,
    /// Whether a guard range follows the chunk (guard mode, large route).
    pub guard: bool,
}

impl Shape {
    /// The shape of a request of `size` bytes; `None` unless `1..=MAX_KMEM_SIZE`.
    pub fn of(size: u64, debug: bool, guard: bool) -> Option<Shape> {
        if size == 0 || size > MAX_KMEM_SIZE {
            return None;
        }
        let padded = size + if debug { KMEM_REDZONE } else { 0 }; // <= 2^40 + 8
        let route = route(padded)?;
        let chunk = match route {
            Route::Quantum(_) => roundup(u128::from(padded), u128::from(KMEM_QUANTUM)),
            Route::Class(c) => u128::from(c),
            Route::Large => roundup(u128::from(padded), PAGE),
        };
        Some(Shape {
            size,
            padded,
            route,
            chunk: u64::try_from(chunk).ok()?, // <= 2^40 + 4096
            guard: guard && route == Route::Large,
        })
    }

    /// Chunk plus guard range, in bytes.
    pub fn extent(&self) -> u64 {
        self.chunk + if self.guard { PAGE_SIZE } else { 0 }
    }
}

/// A closed range of addresses `[first, last]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Range {
    /// First byte (inclusive).
    pub first: u64,
    /// Last byte (inclusive).
    pub last: u64,
}

impl Range {
    /// Whether the two ranges share a byte.
    pub fn meets(&self, other: &Range) -> bool {
        self.first <= other.last && other.first <= self.last
    }

    /// Whether `addr` lies in the range.
    pub fn contains(&self, addr: u64) -> bool {
        self.first <= addr && addr <= self.last
    }
}

/// One live object of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Object {
    /// First byte, aligned to its route's alignment.
    pub addr: u64,
    /// The size it was allocated with.
    pub size: u64,
    /// Its chunk's bytes (see section 1).
    pub chunk: u64,
    /// The layer it came from.
    pub route: Route,
    /// Its guard range (guard mode, large objects only).
    pub guard: Option<Range>,
}

impl Object {
    /// Its chunk `[addr, addr + chunk - 1]` (the chunk is never empty, never wraps).
    pub fn chunk_range(&self) -> Range {
        Range {
            first: self.addr,
            last: last_of(self.addr, u128::from(self.chunk)),
        }
    }

    /// `[addr + size, addr + chunk - 1]`, if not empty: the redzone in debug mode (at least
    /// `KMEM_REDZONE` bytes, filled and checked); unchecked slack in non-debug mode.
    pub fn redzone(&self) -> Option<Range> {
        if self.size >= self.chunk {
            return None;
        }
        Some(Range {
            first: last_of(self.addr, u128::from(self.size) + 1), // addr + size
            last: last_of(self.addr, u128::from(self.chunk)),
        })
    }

    /// Which part of the object holds `addr`, if any.
    pub fn part_at(&self, addr: u64) -> Option<Part> {
        if self.chunk_range().contains(addr) {
            Some(Part::Chunk)
        } else if self.guard.is_some_and(|g| g.contains(addr)) {
            Some(Part::Guard)
        } else {
            None
        }
    }
}

/// The last byte of `[addr, addr + len)`, for `1 <= len` and `addr + len <= 2^64` (the
/// callers check both; anything else saturates at `u64::MAX`).
fn last_of(addr: u64, len: u128) -> u64 {
    u64::try_from((u128::from(addr) + len).saturating_sub(1)).unwrap_or(u64::MAX)
}

/// A part of an object's extent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    /// Its chunk.
    Chunk,
    /// Its guard range.
    Guard,
}

/// Live objects and bytes of one route.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RouteStats {
    /// Live objects.
    pub objects: u64,
    /// The sum of their requested sizes.
    pub bytes: u128,
    /// The sum of their chunks (guard ranges excluded).
    pub chunk_bytes: u128,
}

/// The check a [`Verdict`] names (its `Debug` name is the finding's stable signature).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Check {
    /// An allocation's result differs (wrong error, an address where an argument error is
    /// due, an error where an address is due).
    AllocResult,
    /// `NoSpace` although the kernel map refused no import during the op.
    NoSpaceWithoutRefusal,
    /// The kernel map was asked for space during an op that fails its argument checks.
    ImportOnArgError,
    /// An address not aligned to its route (8, or a page for the large path).
    Misaligned,
    /// The object's extent ends past `2^64`.
    ExtentPastTop,
    /// The new chunk shares a byte with a live object's chunk.
    Overlap,
    /// A guard range (the new one or a live one) shares a byte with a chunk or another guard
    /// range.
    GuardOverlap,
    /// A free's result differs (other than accepting a free that must fail).
    FreeResult,
    /// A free that must fail with `ZeroSize`, `BadCpu` or `BadFree` was accepted.
    FreeAccepted,
    /// A free with the wrong size was accepted.
    WrongSizeAccepted,
    /// A free or check found no clobber where the model sees one.
    RedzoneMissed,
    /// A check's result differs (other than missing a clobber).
    CheckResult,
    /// A write's result differs.
    WriteResult,
    /// A read's result differs (error, or the number of bytes).
    ReadResult,
    /// A read showed other bytes than the model holds.
    ReadBytes,
    /// A query (live objects, stats) differs from the model.
    Query,
}

/// What is wrong with an implementation's answer: the check, and both sides in words.
pub type Verdict = crate::verdict::Verdict<Check>;

pub use crate::verdict::judge_eq;

/// A fault in the model's own state, found by [`KmemModel::self_check`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelFault {
    /// The rule broken.
    pub rule: &'static str,
    /// Where.
    pub detail: String,
}

impl fmt::Display for ModelFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kmem model broken: {}: {}", self.rule, self.detail)
    }
}
