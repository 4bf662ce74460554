//! # The slab oracle
//!
//! A naive model of the slab layer of issue 15 (UMA-style kegs and zones with per-CPU
//! magazines, as the shared slab contract specifies it). It shares nothing with the
//! allocator in `src/slab/`: plain integers in, verdicts out, every address sum in `u128`.
//! Slow on purpose: every question is a scan over plain `Vec`s and `BTreeMap`s.
//!
//! ## 1. Concepts
//!
//! - **Keg**: the slabs of one item size and alignment, numbered 0, 1, 2... in creation
//!   order (at most [`MAX_KEGS`]). All its slabs share one [`Layout`].
//! - **Slab**: `S` bytes (a power of two) at a base aligned to `S`, taken from the backend;
//!   `items` item slots at `base + i * stride`, an on-slab header in its last `header_bytes`
//!   bytes (or none: off-slab), tail waste in between. Its byte range is the half-open
//!   `[base, base + S)` in `u128` (a slab at the top of the space ends at `2^64`).
//! - **Zone**: a front end over one keg (plain) or two (packet: pairs of a primary item and
//!   a secondary item, mbuma's mbuf + cluster), numbered in creation order (at most
//!   [`MAX_ZONES`]), with `rounds` (magazine capacity M), `depot` (how many full magazines
//!   its depot may hold) and `limit` (0 = unlimited).
//! - **Item state**: every slot of every slab is exactly one of *free* (in its slab),
//!   *cached* (in a magazine or the depot of one zone; both halves of a pair) or *live*
//!   (handed to a user by one zone; both halves of a pair). The model keeps the free flag per
//!   slot, and the cached and live items per zone; [`SlabModel::self_check`] proves the two
//!   agree (every slot that is not free is referenced exactly once by some zone).
//! - **Magazines** (Bonwick & Adams 2001): per zone and CPU a `loaded` and a `previous`
//!   stack of 0..=M items; per zone a depot, a stack of full magazines. `previous` is always
//!   empty or full (every move below keeps that).
//!
//! ## 2. Layout ([`layout`])
//!
//! `stride = roundup(item_size, max(align, MIN_ITEM_ALIGN))`; `header_bytes(n) =
//! roundup(SLAB_HEADER_BASE + 8 ceil(n / 64) + (refcounts ? 4n : 0), 8)`. At a size `S`:
//! `n_off = S / stride`, `n_on` the largest `n` with `n stride + header_bytes(n) <= S` (found
//! by trying every `n`), `w_on = S - n_on stride`, `w_off = S - n_off stride +
//! header_bytes(n_off)`; on-slab iff `n_on >= 1 && n_on == n_off` (the header fits in the tail the
//! items leave: it displaces no item). The sizes tried are
//! `max(PAGE_SIZE, next_power_of_two(stride))` doubling up to [`MAX_SLAB_SIZE`]: the first
//! with `waste * 16 <= S`, else the smallest `waste / S` (cross-multiplied; ties: smaller S).
//! Argument errors, in order: `ZeroSize`, `TooBig`, `BadAlign` ([`KegErrorKind`]).
//!
//! ## 3. Operations and what is judged
//!
//! Each operation takes the implementation's answer and the [`Event`]s the harness recorded
//! during it (backend: `SlabAdded`, `SlabReleased`; hooks: `Init`, `Fini`, `Ctor`, `Dtor`),
//! in order, and returns `Ok(())` (the model has applied the operation) or a [`Verdict`]
//! naming the [`Check`] that failed, what was expected and what was seen (the model is then
//! left as it was before the call).
//!
//! - **alloc** ([`SlabModel::alloc`]): `NoZone`, `BadCpu`, `Limit` (limit != 0 and live >=
//!   limit), with no event. Then the magazine path: (1) `loaded` not empty: pop; (2)
//!   `previous` full: swap, pop; (3) the depot has a full magazine: it becomes `loaded`, the
//!   empty `loaded` becomes `previous`, the empty `previous` is dropped, pop; each a hit: the
//!   exact item on top, no event, no backend request. (4) Else (or M = 0) the keg path, keg
//!   by keg (packet: primary, then secondary): a keg with a free item must show no
//!   `SlabAdded` and hand out an item of a partial slab if it has one, else of a wholly free
//!   slab; a keg with none must show `SlabAdded { keg, base }` (base aligned to `S`, disjoint
//!   from every slab of every keg) followed by `Init` of each of its items in item order, and
//!   hand out an item of that new slab; or, if the backend refused, end the op with `NoSpace`
//!   and nothing more (a primary taken stays free; a slab taken stays, wholly free). The
//!   item(s) handed out: aligned, inside a slab of the right keg, not in its header, an item
//!   start, free (never two users at once, never a cached item); then exactly one
//!   `Ctor { zone, addr, pair }`. `backend_refused` must be true exactly when the op ended at
//!   a refusal: a refusal anywhere else is a backend request the contract forbids.
//! - **free** ([`SlabModel::free`]): `NoZone`, `BadCpu`, `NotSlab` (no slab of the zone's
//!   keg, the primary keg for a packet zone), `InHeader`, `NotItemStart`, `WrongZone` (live
//!   in another zone, either half), `NotLive` (free, cached anywhere: a double free even while
//!   the first free sits in a magazine, or never handed out), with no event. Then (1)
//!   `loaded` has room: push; (2) `previous` empty: swap, push; (3) the depot has room: the
//!   full `previous` goes onto the depot, the full `loaded` becomes `previous`, a new empty
//!   `loaded`, push; none of these shows an event. (4) Else (or M = 0) exactly one
//!   `Dtor { zone, addr, pair }` and the item (both halves) is free in its slab again.
//! - **reclaim** ([`SlabModel::reclaim`]): zone by zone, CPU by CPU, `loaded` then
//!   `previous`, top of stack first, then the depot's magazines, most recently pushed first,
//!   each top first: one `Dtor` per item (pair), the item back in its keg(s). Then keg by
//!   keg, each wholly free slab in ascending base order: `Fini` of each item in item order,
//!   then `SlabReleased { keg, base }`. The report is (items drained, slabs released).
//! - **refcount / set_refcount** ([`SlabModel::refcount`], [`SlabModel::set_refcount`]):
//!   found from the address in any keg: `NotSlab`, `InHeader`, `NotItemStart`,
//!   `NoRefcounts`, `NotLive` (live in no zone, pair halves counted), else the slot's count:
//!   0 when its slab was taken, kept through free, magazines and reuse, gone with the slab.
//! - **creation** ([`SlabModel::new`], [`SlabModel::add_keg`], [`SlabModel::add_zone`],
//!   [`SlabModel::add_packet_zone`], [`SlabModel::set_limit`]) predict the result and apply
//!   it; [`judge_eq`] compares any prediction or query with the implementation's.
//!
//! After every operation the harness compares [`SlabModel::zone_stats`],
//! [`SlabModel::keg_stats`], [`SlabModel::live_items`] and [`SlabModel::slab_views`] with
//! the implementation's. Counting choices where the contract is silent: `allocs` and `frees`
//! count successful operations only; a pair counts 1 in `live`, `cached` and the reclaim
//! report; `items_free` / `items_out` count slots (a pair's halves in their own kegs).
//!
//! Nothing here panics on any input: ids are looked up with `get`, sums are taken in `u128`.

mod layout;
mod model;
#[cfg(test)]
mod tests;

use std::fmt;

pub use layout::{header_bytes, layout, HeaderKind, Layout};
pub use model::SlabModel;

/// Bytes per page: the smallest slab.
pub const PAGE_SIZE: u64 = 4096;
/// Every item is aligned to at least this many bytes.
pub const MIN_ITEM_ALIGN: u64 = 8;
/// The largest item alignment a keg accepts.
pub const MAX_ITEM_ALIGN: u64 = 4096;
/// The largest item size a keg accepts.
pub const MAX_ITEM_SIZE: u64 = 65536;
/// The largest slab size the layout rule considers.
pub const MAX_SLAB_SIZE: u64 = 131072;
/// The fixed part of a slab header (magic, counts, list links), in bytes.
pub const SLAB_HEADER_BASE: u64 = 32;
/// The most simulated CPUs.
pub const MAX_CPUS: u8 = 8;
/// The largest magazine capacity (`rounds`).
pub const MAX_ROUNDS: u16 = 64;
/// The most full magazines a zone's depot may hold.
pub const MAX_DEPOT: u16 = 64;
/// The most kegs.
pub const MAX_KEGS: usize = 16;
/// The most zones (packet zones included).
pub const MAX_ZONES: usize = 32;

/// Why `new(cpus)` fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CreateErrorKind {
    /// `cpus` not in `1..=MAX_CPUS`.
    BadCpus,
}

/// Why a keg cannot be made (in check order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KegErrorKind {
    /// `item_size == 0`.
    ZeroSize,
    /// `item_size > MAX_ITEM_SIZE`.
    TooBig,
    /// `align` zero, not a power of two, or above `MAX_ITEM_ALIGN`.
    BadAlign,
    /// Already `MAX_KEGS` kegs.
    TooMany,
}

/// Why a zone cannot be made or changed (in check order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ZoneErrorKind {
    /// An unknown keg.
    NoKeg,
    /// A packet zone's primary and secondary keg are the same.
    SameKeg,
    /// `rounds > MAX_ROUNDS`.
    BadRounds,
    /// `depot > MAX_DEPOT`.
    BadDepot,
    /// Already `MAX_ZONES` zones.
    TooMany,
    /// `set_limit` on an unknown zone.
    NoZone,
}

/// Why an allocation fails (in check order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AllocErrorKind {
    /// An unknown zone.
    NoZone,
    /// `cpu >= cpus`.
    BadCpu,
    /// `limit != 0` and the zone's live count is at least `limit`.
    Limit,
    /// The keg(s) had no free item and the backend gave no slab.
    NoSpace,
}

/// Why a free fails (in check order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FreeErrorKind {
    /// An unknown zone.
    NoZone,
    /// `cpu >= cpus`.
    BadCpu,
    /// In no slab of the zone's keg (a packet zone's primary keg).
    NotSlab,
    /// Inside that slab's on-slab header.
    InHeader,
    /// Not an item start (interior pointer or tail waste).
    NotItemStart,
    /// Live in another zone (either half of a pair).
    WrongZone,
    /// Not live in this zone: free, or cached anywhere.
    NotLive,
}

/// Why a refcount query or update fails (in check order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefErrorKind {
    /// In no slab of any keg.
    NotSlab,
    /// Inside that slab's on-slab header.
    InHeader,
    /// Not an item start.
    NotItemStart,
    /// The keg was made without refcounts.
    NoRefcounts,
    /// The item is live in no zone (pair halves counted).
    NotLive,
}

/// A zone's parameters (the contract's `ZoneConfig`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ZoneConfig {
    /// Magazine capacity M (0: no magazines, straight to the keg).
    pub rounds: u16,
    /// The most full magazines the depot may hold.
    pub depot: u16,
    /// Item limit, 0 = unlimited.
    pub limit: u64,
}

/// Which keg(s) a zone's items come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ZoneKind {
    /// Plain items of one keg.
    Plain {
        /// The keg.
        keg: u8,
    },
    /// Pairs: a primary item (the zone's address) and a secondary item.
    Packet {
        /// The primary keg.
        primary: u8,
        /// The secondary keg (never the primary).
        secondary: u8,
    },
}

impl ZoneKind {
    /// The keg holding the zone's addresses (the primary keg of a packet zone).
    pub fn home(&self) -> u8 {
        match *self {
            ZoneKind::Plain { keg } => keg,
            ZoneKind::Packet { primary, .. } => primary,
        }
    }

    /// The keg of a pair's secondary half, if a packet zone.
    pub fn secondary(&self) -> Option<u8> {
        match *self {
            ZoneKind::Plain { .. } => None,
            ZoneKind::Packet { secondary, .. } => Some(secondary),
        }
    }
}

/// An item as a zone hands it out: the address, and a pair's secondary half.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Item {
    /// The item's (a pair's primary's) address.
    pub addr: u64,
    /// A packet zone's secondary address; `None` for a plain zone.
    pub pair: Option<u64>,
}

/// What the recording backend and hooks saw during one operation, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// `alloc_slab` gave keg `keg` the slab at `base` (of the keg's slab size).
    SlabAdded {
        /// The keg.
        keg: u8,
        /// The slab's first byte.
        base: u64,
    },
    /// `free_slab` got keg `keg`'s slab at `base` back.
    SlabReleased {
        /// The keg.
        keg: u8,
        /// The slab's first byte.
        base: u64,
    },
    /// `init(keg, addr)`: an item of a slab just taken.
    Init {
        /// The keg.
        keg: u8,
        /// The item.
        addr: u64,
    },
    /// `fini(keg, addr)`: an item of a slab about to be given back.
    Fini {
        /// The keg.
        keg: u8,
        /// The item.
        addr: u64,
    },
    /// `ctor(zone, addr, pair)`: an item (pair) left the keg(s) for `zone`.
    Ctor {
        /// The zone.
        zone: u8,
        /// The item (a pair's primary).
        addr: u64,
        /// A pair's secondary.
        pair: Option<u64>,
    },
    /// `dtor(zone, addr, pair)`: an item (pair) is about to go back to the keg(s).
    Dtor {
        /// The zone.
        zone: u8,
        /// The item (a pair's primary).
        addr: u64,
        /// A pair's secondary.
        pair: Option<u64>,
    },
}

/// A zone's counters (the contract's `ZoneStats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ZoneStats {
    /// Items (pairs) live in the zone.
    pub live: u64,
    /// Items (pairs) in its magazines and depot.
    pub cached: u64,
    /// Its limit (0 = unlimited).
    pub limit: u64,
    /// Successful allocations.
    pub allocs: u64,
    /// Successful frees.
    pub frees: u64,
}

/// A keg's counters (the contract's `KegStats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KegStats {
    /// Slabs held.
    pub slabs: u64,
    /// Slots free in their slabs.
    pub items_free: u64,
    /// Slots out of the keg (cached or live, pair halves in their own keg).
    pub items_out: u64,
}

/// One slab of a keg (the contract's `SlabView`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SlabView {
    /// First byte.
    pub base: u64,
    /// The keg's slab size.
    pub size: u64,
    /// Slots free in it.
    pub free_items: u64,
}

/// The check a [`Verdict`] names (its `Debug` name is the finding's stable signature).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Check {
    /// A creation call (`new`, `add_keg`, `add_zone`, `add_packet_zone`, `set_limit`) or a
    /// layout answered otherwise than predicted.
    Create,
    /// A query (stats, live items, slab views, magazines) differs from the model.
    Query,
    /// An allocation's result differs (wrong error, an error where an item is due, an item
    /// where an error is due).
    AllocResult,
    /// A magazine hit returned another item than the top of the stack.
    MagazineHit,
    /// A plain zone returned a pair, or a packet zone a lone item.
    PairShape,
    /// An item not aligned to its keg's `align`.
    Misaligned,
    /// An item in no slab of the keg it must come from.
    NotInKegSlab,
    /// An item inside its slab's on-slab header.
    InHeader,
    /// An item address that is not an item start.
    NotItemStart,
    /// An item handed out while it is live (twice to users at once).
    HandedOutLive,
    /// An item handed out from the keg while it sits in a magazine or depot.
    HandedOutCached,
    /// An item not free in its slab, owned by nobody (the model's own fault if ever seen).
    HandedOutLost,
    /// A keg item from the wrong class of slab (partial first, then wholly free, then new).
    SlabClass,
    /// A new slab not aligned to its size.
    SlabMisaligned,
    /// A new slab overlapping a slab of some keg.
    SlabOverlap,
    /// A slab taken for another keg than the one the op reached.
    SlabKeg,
    /// A slab taken although the keg had a free item.
    SlabWithFreeItem,
    /// The keg had no free item, yet no slab was taken and the backend refused nothing.
    SlabMissing,
    /// The backend was asked for a slab the op did not need (a refusal the op survived).
    UnneededSlabRequest,
    /// The `init` calls after a new slab are not its items in order.
    InitSequence,
    /// The `ctor` of an item leaving the keg is missing or wrong.
    Ctor,
    /// A hook or backend event on a magazine hit.
    HookOnMagazineHit,
    /// A hook or backend event when a free only pushed onto a magazine.
    HookOnMagazinePush,
    /// An event after everything the op should have shown.
    ExtraEvent,
    /// A free's result differs (other than accepting a bad free).
    FreeResult,
    /// A free that must fail was accepted (a double free, a foreign item...).
    FreeAccepted,
    /// The `dtor` of an item going back to its keg is missing or wrong.
    Dtor,
    /// Reclaim's `dtor` sequence (its drain order) differs.
    ReclaimDtor,
    /// Reclaim's `fini` calls are not the items of the next slab to release, in order.
    FiniSequence,
    /// Reclaim released another slab than the next wholly free one.
    SlabRelease,
    /// A slab released (or finalized) while one of its items is out of the keg.
    ReleasedNonFreeSlab,
    /// Reclaim's report (items, slabs) differs.
    ReclaimCounts,
    /// A refcount query's result differs.
    RefcountResult,
    /// A refcount update's result differs.
    SetRefcountResult,
}

/// What is wrong with an implementation's answer: the check, and both sides in words.
pub type Verdict = crate::verdict::Verdict<Check>;

pub use crate::verdict::judge_eq;

/// A fault in the model's own state, found by [`SlabModel::self_check`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelFault {
    /// The rule broken.
    pub rule: &'static str,
    /// Where.
    pub detail: String,
}

impl fmt::Display for ModelFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "slab model broken: {}: {}", self.rule, self.detail)
    }
}
