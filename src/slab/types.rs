//! The vocabulary of the slab system's interface: ids, zone configuration, items, one error
//! enum per operation, and what the system reports about itself (slab views, counters,
//! reclaim reports, broken invariants).

use core::fmt;

#[cfg(doc)]
use super::Slabs;

/// The most simulated CPUs a slab system serves.
pub const MAX_CPUS: u8 = 8;
/// The most items (rounds) one magazine holds.
pub const MAX_ROUNDS: u16 = 64;
/// The most full magazines one zone's depot holds.
pub const MAX_DEPOT: u16 = 64;
/// The most kegs one slab system holds.
pub const MAX_KEGS: usize = 16;
/// The most zones (plain and packet) one slab system holds.
pub const MAX_ZONES: usize = 32;

/// A keg, numbered 0, 1, 2... in creation order. Any value may be passed in; one that names
/// no keg is an error of the operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KegId(pub u8);

/// A zone (plain or packet), numbered 0, 1, 2... in creation order. Any value may be passed
/// in; one that names no zone is an error of the operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ZoneId(pub u8);

/// How a zone caches ([`Slabs::add_zone`], [`Slabs::add_packet_zone`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ZoneConfig {
    /// Magazine capacity M, 0 ..= [`MAX_ROUNDS`]; 0 means no magazines (every op goes to
    /// the keg).
    pub rounds: u16,
    /// Full magazines the depot may hold, 0 ..= [`MAX_DEPOT`].
    pub depot: u16,
    /// Live items the zone may have at once; 0 = unlimited.
    pub limit: u64,
}

/// What [`Slabs::alloc`] hands out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Item {
    /// The item's address (a packet zone: the primary item's).
    pub addr: u64,
    /// A packet zone: the secondary item's address; else `None`.
    pub pair: Option<u64>,
}

/// Why [`Slabs::new`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateError {
    /// `cpus` is 0 or above [`MAX_CPUS`].
    BadCpus,
}

/// Why a keg could not be made ([`Slabs::add_keg`], [`super::SlabLayout::new`]). Checked in
/// this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KegError {
    /// The item size is 0.
    ZeroSize,
    /// The item size is above [`super::MAX_ITEM_SIZE`].
    TooBig,
    /// The alignment is 0, not a power of two, or above [`super::MAX_ITEM_ALIGN`].
    BadAlign,
    /// The system already holds [`MAX_KEGS`] kegs.
    TooMany,
}

/// Why a zone could not be made or changed. Checked in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneError {
    /// [`Slabs::set_limit`]: no such zone.
    NoZone,
    /// A keg named does not exist.
    NoKeg,
    /// A packet zone's primary and secondary keg are the same.
    SameKeg,
    /// `rounds` is above [`MAX_ROUNDS`].
    BadRounds,
    /// `depot` is above [`MAX_DEPOT`].
    BadDepot,
    /// The system already holds [`MAX_ZONES`] zones.
    TooMany,
}

/// Why [`Slabs::alloc`] failed. Checked in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// No such zone.
    NoZone,
    /// The CPU is not below the system's CPU count.
    BadCpu,
    /// The zone's limit is not 0 and its live count has reached it.
    Limit,
    /// The allocation reached the keg(s), no item was free there, and the backend gave no
    /// slab.
    NoSpace,
}

/// Why [`Slabs::free`] refused. Checked in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// No such zone.
    NoZone,
    /// The CPU is not below the system's CPU count.
    BadCpu,
    /// The address lies in no slab of the zone's keg (a packet zone: its primary keg).
    NotSlab,
    /// The address lies inside its slab's on-slab header.
    InHeader,
    /// The address is not an item start (an interior pointer, or in the tail waste).
    NotItemStart,
    /// The item is live in another zone (or is the primary of another packet zone's pair).
    WrongZone,
    /// The item is not live in this zone: free in its slab, or cached in a magazine or a
    /// depot (a double free), or never handed out.
    NotLive,
}

/// Why [`Slabs::refcount`] or [`Slabs::set_refcount`] refused. Checked in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefError {
    /// The address lies in no slab of any keg.
    NotSlab,
    /// The address lies inside its slab's on-slab header.
    InHeader,
    /// The address is not an item start.
    NotItemStart,
    /// The item's keg was made without reference counts.
    NoRefcounts,
    /// The item is not live in any zone (either half of a live pair counts as live).
    NotLive,
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
    CreateError,
    KegError,
    ZoneError,
    AllocError,
    FreeError,
    RefError,
    InvariantError
);

/// One slab of a keg, as [`Slabs::slabs`] shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SlabView {
    /// First byte of the slab.
    pub base: u64,
    /// Bytes of the slab (the keg's slab size).
    pub size: u64,
    /// Items free in the slab's bitmap.
    pub free_items: u64,
}

/// Counters of one zone ([`Slabs::zone_stats`]); a pair counts as one item.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ZoneStats {
    /// Items handed out and not freed.
    pub live: u64,
    /// Items in the zone's magazines and depot.
    pub cached: u64,
    /// The zone's limit (0 = unlimited).
    pub limit: u64,
    /// Successful allocations over the zone's life.
    pub allocs: u64,
    /// Successful frees over the zone's life.
    pub frees: u64,
}

/// Counters of one keg ([`Slabs::keg_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KegStats {
    /// Slabs the keg holds.
    pub slabs: u64,
    /// Items free in those slabs.
    pub items_free: u64,
    /// Items out of the keg (cached or live).
    pub items_out: u64,
}

/// What [`Slabs::reclaim`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReclaimReport {
    /// Items (a pair counts as one) drained from magazines and depots back to their kegs.
    pub items: u64,
    /// Slabs given back to the backend.
    pub slabs: u64,
}

/// A broken invariant found by [`Slabs::check_invariants`] (module comment, section 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvariantError {
    /// A slab's base is not a multiple of its size.
    SlabMisaligned {
        /// The keg.
        keg: KegId,
        /// The slab's base.
        base: u64,
    },
    /// A slab's last byte would pass the top of the 64-bit space.
    SlabWraps {
        /// The keg.
        keg: KegId,
        /// The slab's base.
        base: u64,
    },
    /// Two slabs (of one keg or two) overlap.
    SlabsOverlap {
        /// The lower slab's base.
        first: u64,
        /// The higher slab's base.
        second: u64,
    },
    /// The keg's address index does not hold exactly its slabs.
    IndexWrong {
        /// The keg.
        keg: KegId,
    },
    /// Truncating an item's address to the slab size does not find the item's slab.
    TruncationMisses {
        /// The keg.
        keg: KegId,
        /// The item's address.
        addr: u64,
    },
    /// A slab's bitmap, free count and item states disagree (or a bit past the last item is
    /// set, or a per-item vector has the wrong length).
    BitmapWrong {
        /// The keg.
        keg: KegId,
        /// The slab's base.
        base: u64,
    },
    /// A slab is not on the list its free count calls for (partial, wholly free, full), or
    /// a list entry is stale.
    ListWrong {
        /// The keg.
        keg: KegId,
    },
    /// The keg's free and out counters disagree with its slabs.
    KegCountsWrong {
        /// The keg.
        keg: KegId,
    },
    /// An item's state names a zone that does not exist or does not take items from its keg.
    StateUnknownZone {
        /// The keg.
        keg: KegId,
        /// The item's address.
        addr: u64,
    },
    /// A magazine holds more than the zone's rounds.
    MagazineOverfull {
        /// The zone.
        zone: ZoneId,
        /// The CPU.
        cpu: u8,
    },
    /// The depot holds more magazines than allowed, or one that is not full.
    DepotWrong {
        /// The zone.
        zone: ZoneId,
    },
    /// A magazine round is not a cached item of its zone (or its pair half is not).
    RoundWrong {
        /// The zone.
        zone: ZoneId,
        /// The round's address.
        addr: u64,
    },
    /// An item sits in the zone's magazines and depot more than once.
    RoundTwice {
        /// The zone.
        zone: ZoneId,
        /// The item's address.
        addr: u64,
    },
    /// The zone's cached count is not the number of its rounds, or not the number of items
    /// cached for it in its keg(s).
    CachedCountWrong {
        /// The zone.
        zone: ZoneId,
    },
    /// The zone's live count is not `allocs - frees`, or not the number of items live in
    /// it in its keg(s).
    LiveCountWrong {
        /// The zone.
        zone: ZoneId,
    },
    /// A live pair's primary does not name a secondary item live in the same packet zone.
    PairWrong {
        /// The zone.
        zone: ZoneId,
        /// The primary's address.
        addr: u64,
    },
}
