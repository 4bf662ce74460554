//! The vocabulary of kmem's interface: named limits, the configuration, one error enum per
//! operation, and what kmem reports about itself (object views, reclaim reports, broken
//! invariants).

use core::fmt;

use super::route::Route;
use crate::slab::{self, ReclaimReport};
use crate::vmem::{self, QcacheInvariantError};

#[cfg(doc)]
use super::{Kmem, Memory};
#[cfg(doc)]
use crate::slab::{MAX_CPUS, MAX_DEPOT, MAX_ROUNDS};

/// The page size of the kernel map (its quantum) and of the large path.
pub const PAGE_SIZE: u64 = 4096;
/// Debug bytes added to every request: the object's redzone is at least this long.
pub const KMEM_REDZONE: u64 = 8;
/// The byte every redzone byte holds from the allocation on.
pub const KMEM_REDZONE_BYTE: u8 = 0xbb;
/// The largest request (1 TiB): bounds every chunk well inside the 64-bit space.
pub const MAX_KMEM_SIZE: u64 = 1 << 40;
/// The kmem arena imports spans from the kernel map in multiples of this (64 KiB).
pub const KMEM_IMPORT_QUANTUM: u64 = 1 << 16;

/// How a [`Kmem`] is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KmemConfig {
    /// Debug mode: record every object's size, refuse a free of another size, put a redzone
    /// after every object and check it on free and [`Kmem::check`].
    pub debug: bool,
    /// Guard mode: every large object is followed by one unallocatable guard page.
    pub guard: bool,
    /// Simulated CPUs, 1 ..= [`MAX_CPUS`].
    pub cpus: u8,
    /// Magazine capacity of every cache and class zone, 0 ..= [`MAX_ROUNDS`].
    pub rounds: u16,
    /// Full magazines every zone's depot may hold, 0 ..= [`MAX_DEPOT`].
    pub depot: u16,
}

/// Why [`Kmem::new`] refused. Checked in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KmemCreateError {
    /// `cpus` is 0 or above [`MAX_CPUS`].
    BadCpus,
    /// `rounds` is above [`MAX_ROUNDS`].
    BadRounds,
    /// `depot` is above [`MAX_DEPOT`].
    BadDepot,
    /// The kernel map's quantum is not [`PAGE_SIZE`].
    BadMapQuantum,
}

/// Why [`Kmem::alloc`] failed. Checked in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KmemAllocError {
    /// The size is 0.
    ZeroSize,
    /// The size is above [`MAX_KMEM_SIZE`].
    TooBig,
    /// The CPU is not below kmem's CPU count.
    BadCpu,
    /// The route's layer had no room, even after importing from the kernel map.
    NoSpace,
}

/// Why [`Kmem::free`] refused. Checked in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KmemFreeError {
    /// The size is 0.
    ZeroSize,
    /// The CPU is not below kmem's CPU count.
    BadCpu,
    /// Debug mode: no live object starts at the address. Otherwise: the address is not a
    /// live item of the zone the size routes to, or (large sizes) no live large object
    /// starts there.
    BadFree,
    /// The object was allocated with another size (debug mode: any other size; otherwise a
    /// large size whose page-rounded chunk differs).
    WrongSize {
        /// The size it was allocated with.
        allocated: u64,
        /// The size the free named.
        freed: u64,
    },
    /// Debug mode: a redzone byte was overwritten; the object stays live.
    Redzone {
        /// The object's address.
        addr: u64,
        /// The first overwritten byte's offset from `addr`.
        offset: u64,
    },
}

/// Why [`Kmem::check`] objects. Checked in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KmemCheckError {
    /// No object kmem records starts at the address (debug mode: no live object; otherwise
    /// no live large object).
    NotLive,
    /// Debug mode: a redzone byte was overwritten.
    Redzone {
        /// The object's address.
        addr: u64,
        /// The first overwritten byte's offset from `addr`.
        offset: u64,
    },
}

/// Why a [`Memory`] access refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// The range passes `u64::MAX` (`addr + len - 1` wraps).
    PastTop,
    /// [`Memory::read`] only: the length is above [`super::MAX_MEMORY_READ`].
    TooLong,
}

macro_rules! display_via_debug {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }
    )*};
}
display_via_debug!(
    KmemCreateError,
    KmemAllocError,
    KmemFreeError,
    KmemCheckError,
    MemoryError,
    KmemInvariantError
);

/// An object kmem records ([`Kmem::objects`]): every live object in debug mode, every live
/// large object in both modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ObjectView {
    /// Its address.
    pub addr: u64,
    /// The size it was allocated with.
    pub size: u64,
    /// Bytes it takes in its layer (module comment, section 2).
    pub chunk: u64,
    /// Its layer.
    pub route: Route,
    /// Guard mode, large objects: the guard range's first and last byte (inclusive).
    pub guard: Option<(u64, u64)>,
}

/// What [`Kmem::reclaim`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KmemReclaimReport {
    /// The class zones' drain (items back to their kegs, slabs back to the kmem arena).
    pub classes: ReclaimReport,
    /// The quantum caches' drain.
    pub qcaches: ReclaimReport,
}

/// A broken invariant found by [`Kmem::check_invariants`] (module comment, section 6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KmemInvariantError {
    /// The kernel map's own invariants.
    Map(vmem::InvariantError),
    /// The kmem arena's (with its quantum caches) own invariants.
    Arena(QcacheInvariantError),
    /// The class zones' slab layer's own invariants.
    Classes(slab::InvariantError),
    /// A piece of the kmem arena kmem claims (a cache slab, a class slab, a large object's
    /// chunk and guard) is not exactly one allocated segment, or two claims name one segment.
    ClaimWrong {
        /// The claim's start.
        addr: u64,
    },
    /// An allocated segment of the kmem arena is claimed by nothing kmem holds (a leak).
    SegmentUnclaimed {
        /// The segment's start.
        start: u64,
    },
    /// A span of the kmem arena is static, or not exactly one allocated segment of the map.
    SpanNotInMap {
        /// The span's start.
        start: u64,
    },
    /// The map holds an allocated segment that is no span of the kmem arena.
    MapSegmentUnclaimed {
        /// The segment's start.
        start: u64,
    },
    /// A record's size, chunk, route or alignment disagree, or (non-debug mode) a small
    /// object is recorded.
    RecordWrong {
        /// The object's address.
        addr: u64,
    },
    /// Two recorded objects (chunks and guard ranges) overlap.
    RecordsOverlap {
        /// The lower object's address.
        first: u64,
        /// The higher object's address.
        second: u64,
    },
    /// Debug mode: a zone's live count is not the number of objects recorded on its route.
    LiveCountWrong {
        /// The route.
        route: Route,
    },
}
