//! # vmem: resource arenas (Bonwick & Adams, 2001)
//!
//! ## 1. Concepts
//!
//! - An **arena** ([`Arena`]) manages a set of integer ranges, usually kernel virtual
//!   addresses. It knows nothing about memory: it hands out and takes back numbers.
//! - A **span** is a range given to the arena, either by [`Arena::add_span`] (a *static* span)
//!   or *imported* from a **source** ([`SpanSource`], usually another arena) when the arena
//!   runs out. Spans never overlap. Spans are never merged: a segment never straddles two
//!   spans, so an imported span can always be handed back exactly as it came.
//! - A **segment** is a maximal piece of one span that is either wholly *allocated* (one
//!   allocation) or wholly *free*. Every address of every span is in exactly one segment.
//! - The **quantum** `q` is the arena's unit: every span, segment, size, alignment and phase is
//!   a multiple of it (sizes are rounded up to it). It is a power of two, 1 byte to 2^63.
//! - A **boundary tag** is the record of one span or segment. Tags live in a slab (`Vec`) and
//!   are linked in **address order**: each span's tag comes first, followed by the tags of its
//!   segments in increasing address order, then the next span's tag.
//!
//! Ranges are stored as first and **last** byte, both inclusive ([`crate::addr`] section 2): a
//! span may end at the very top of the address space and address 0 is an ordinary address.
//!
//! ## 2. Free lists and the free map
//!
//! Free segments sit on [`FREELISTS`] = 64 lists. A free segment of size `s` has **class**
//! `k = floor(log2 s)` (64 classes cover every size of a `u64`), and sits on list `k`, or on
//! list `k - 1`, where it is said to **lag** (a bit in its tag says which). Either way every
//! segment on list `n` has a size of at least `2^n`, which is all that instant fit relies on.
//! A segment goes on the list of its class when it becomes free or has to move; the lag lets
//! it stay where it is when a merge grows it by one class (a merge usually joins segments of
//! similar sizes) and when a later carve shrinks it back: moving a segment writes its list
//! neighbours, two tags at random places. Bit `n` of the **free map** is set iff list `n` is
//! non-empty, so "the smallest list that is non-empty and at least `n`" is one bit operation.
//!
//! ## 3. Allocation policies ([`Policy`]) and their contracts
//!
//! A *placement* for a request is an address `a` such that `[a, a + size)` lies inside one free
//! segment and satisfies the constraints ([`Request`]): `a % align == phase`, `minaddr <= a`,
//! `a + size - 1 <= maxaddr` (both inclusive, as NetBSD), and `[a, a + size)` does not cross a
//! multiple of `nocross`. Every policy is **complete**: it fails only if no placement exists in
//! any span (and, with a source, none could be imported). Beyond that:
//!
//! - **InstantFit** (default): O(1) for unconstrained requests. An unconstrained request first
//!   tries the **recent** segment, the free segment the latest free made or grew: if it is
//!   still free and large enough, the request takes its front (its tag and its neighbours
//!   were just touched, so this costs almost no cache misses). Otherwise take the first free
//!   segment of the smallest non-empty list `n` with `2^n >= size + align - q` (every segment
//!   there is guaranteed to hold a placement). If that fails (or constraints spoil the
//!   guarantee), fall back to scanning every segment of every list that could fit, from
//!   `floor(log2 size) - 1` up (a segment of that class may lag). Which placement it returns
//!   is unspecified.
//! - **BestFit**: the smallest free segment that holds a placement (ties: lowest address); in
//!   it, the lowest placement. Walks the free segments in (size, address) order from `size` up
//!   and takes the first that holds a placement: O(log n) for an unconstrained request. The
//!   order is kept by a size index built on an arena's first BestFit request (section 6).
//! - **FirstFit**: the lowest placement in the arena (address-ordered first fit). O(segments).
//! - **NextFit**: the lowest placement at or above the **rotor**, else the lowest placement
//!   overall. The rotor starts at 0 and moves to the byte after each NextFit allocation; it
//!   spreads allocations over the space so that freed addresses are reused late (useful for
//!   ids and for catching use-after-free). O(segments).
//!
//! [`Arena::xalloc_at`] allocates at an exact address: it succeeds iff the whole range is free.
//!
//! ## 4. Constraints and overconstrained requests
//!
//! `align` is a power of two and a multiple of `q` (0 means `q`); `phase` is a multiple of `q`
//! below `align`; `nocross` is 0 (none) or a power of two and a multiple of `q`. As illumos
//! defines it, a request is **overconstrained** iff `nocross != 0` and
//! (`align > nocross` or `roundup(phase + size, align) > nocross`): no placement can exist.
//! Validation happens in a fixed order (see [`AllocError`]) so an oracle can predict the error.
//!
//! ## 5. Import and release
//!
//! An arena built with [`Arena::with_source`] imports a span from its source when a request
//! finds no placement. Unlike NetBSD and FreeBSD, the import carries the request's constraints
//! (align, phase, nocross, minaddr, maxaddr) down to the source, so a constrained request
//! cannot import space it cannot use (no leak, no livelock): the arena first asks for
//! `roundup(size, import_quantum)` bytes (computed without wrapping: illumos bug 3179), and if
//! the source cannot give that, for exactly `size` bytes. At most one span is kept per
//! request (a span the arena cannot use, from a source that ignored the constraints, goes
//! straight back, and the next size is asked for). An imported span is **released** to its
//! source as soon as it is wholly free, with the exact range it was imported with.
//! Exact-address allocation never imports.
//!
//! ## 6. Indexes and costs
//!
//! - Allocated segments are indexed by start address (`AllocIndex`, in `index.rs`), so
//!   [`Arena::free`] finds its segment without a walk and can reject a never-allocated
//!   address ("bad free") and a wrong size ("wrong size"). The index is a table of 4-byte
//!   bucket heads whose chains run through the allocated tags' `list_next` (an allocated
//!   segment is on no free list): 4 to 16 bytes per allocation, nothing in the tags.
//! - Spans are indexed by start address (a `BTreeMap`): adding a span checks its neighbours
//!   for overlap in O(log n) and links its tag in before the next span's tag.
//! - Freeing coalesces with the free neighbours in the address list: O(1).
//! - Free segments are indexed by (size, start) once the arena has served a BestFit request
//!   (a `BTreeMap`, built then from the free lists and kept from then on). An arena that never
//!   asks for BestFit never pays for it; one that does pays O(log n) on every change to a free
//!   segment, and BestFit no longer walks whole free lists (at 10^6 live segments a list holds
//!   tens of thousands).
//!
//! With many live segments the cost of a free is cache misses, not instructions: the index
//! bucket, the tag, its two neighbours, and whatever those lead to. So a tag is 32 bytes and
//! 32-byte aligned (two to a cache line, never straddling two); its kind is folded into its
//! list link (a free segment's `list_prev` is a tag or `LIST_HEAD`, any other tag's is the
//! marker of its kind); a merged free segment keeps a free neighbour's tag, so the writes go
//! to tags already read; and a segment whose list is still right for its new size (section 2)
//! stays where it is on it (no policy's contract depends on the order within a list).
//!
//! ## 7. Invariants ([`Arena::check_invariants`])
//!
//! Tags are sorted by address and do not overlap; each span's segments tile the span exactly;
//! no two free segments are adjacent within a span; a free segment is on list `n` iff its
//! class is `n`, or `n + 1` and it lags; free-map bit `n` is set iff list `n` is non-empty; the
//! allocated index holds exactly the allocated segments, each in the chain of its own bucket;
//! the size index, if built, holds exactly the free segments; every span, segment and size is
//! a multiple of `q`; no imported span is wholly free; and free + allocated = the sum of the
//! spans.
//!
//! ## 8. Constants
//!
//! - [`FREELISTS`] = 64: one free list per power of two a `u64` size can have.
//! - [`MAX_TAGS`] = 2^31 - 1: the most tags (spans + segments) one arena holds; a free
//!   segment's list link has 31 bits (the 32nd is its lag bit), so every tag index fits below
//!   it. Past it, allocation fails with [`AllocError::NoTags`].
//! - A tag index is a `u32`: `NIL` (all ones) is "none"; in a free segment's `list_next`,
//!   `LAGS` (bit 31) is the lag bit, `LINK` the other 31 bits, and `LIST_END` (all 31 ones)
//!   "last on its list".
//! - `list_prev` says a tag's kind: a tag index or `LIST_HEAD` for a free segment, else the
//!   marker `ALLOCATED`, `SPAN_STATIC`, `SPAN_IMPORTED` or `UNUSED` (a slab slot not in use),
//!   all near `u32::MAX`, above every tag index.
//! - The allocated index (`index.rs`) starts at `MIN_BUCKETS` = 16 buckets, doubles before it
//!   holds more than one entry a bucket (`MAX_LOAD`), halves below a quarter (`MIN_LOAD`), and
//!   stops growing at `MAX_BUCKETS` = 2^32.

mod index;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::addr::{self, Arch, Range, RangeError};
use index::AllocIndex;

#[cfg(feature = "seeded-bugs")]
use crate::bugs::{Bug, BugSet};

/// Number of free lists: one per power of two a `u64` size can have.
pub const FREELISTS: usize = 64;

/// The largest number of boundary tags one arena may hold (spans + segments): 2^31 - 1. Each
/// allocation needs at most two new tags; past this limit allocation fails with
/// [`AllocError::NoTags`] rather than growing without bound. A free segment's list link has
/// 31 bits (the 32nd says whether it lags, module comment section 2), and the all-ones link
/// means "last", so every tag index is below `2^31 - 1`.
pub const MAX_TAGS: usize = LIST_END as usize;

/// Index of a boundary tag in the slab; [`NIL`] is "none".
type Tag = u32;
/// "No tag".
const NIL: Tag = u32::MAX;
/// In a free segment's `list_next`: the segment sits on the list one below its size class
/// (module comment, section 2). The other 31 bits are the link.
const LAGS: u32 = 1 << 31;
/// The 31 link bits of a free segment's `list_next`.
const LINK: u32 = LAGS - 1;
/// The link (31 bits) of the last segment on a free list: `NIL & LINK`.
const LIST_END: u32 = LINK;
/// `list_prev` of an allocated segment.
const ALLOCATED: Tag = u32::MAX - 1;
/// `list_prev` of a static span.
const SPAN_STATIC: Tag = u32::MAX - 2;
/// `list_prev` of an imported span.
const SPAN_IMPORTED: Tag = u32::MAX - 3;
/// `list_prev` of a slab slot not in use.
const UNUSED: Tag = u32::MAX - 4;
/// `list_prev` of a free segment that is first on its list. Every value up to and including
/// this one means "free"; every tag index is below it.
const LIST_HEAD: Tag = u32::MAX - 5;

/// What a boundary tag records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A span; `imported` iff it came from the source (and goes back to it when free).
    Span { imported: bool },
    /// A free segment (on a free list).
    Free,
    /// An allocated segment (in the allocated index).
    Allocated,
    /// A slab slot not in use (on the slot free list, linked through `next`).
    Unused,
}

/// One boundary tag: 32 bytes, aligned so that a tag never straddles two cache lines (freeing
/// reads three tags at random places of the slab: the freed one and both neighbours).
#[derive(Clone, Copy, Debug)]
#[repr(C, align(32))]
struct BoundaryTag {
    /// First address (inclusive).
    start: u64,
    /// Last address (inclusive).
    last: u64,
    /// Previous tag in address order (NIL for the first).
    prev: Tag,
    /// Next tag in address order (NIL for the last); for `Unused` slots, the next unused slot.
    next: Tag,
    /// The kind, and for a free segment its list link: the previous segment on its free list,
    /// or [`LIST_HEAD`] if it is first; for any other tag the marker of its kind
    /// ([`ALLOCATED`], [`SPAN_STATIC`], [`SPAN_IMPORTED`], [`UNUSED`]). See [`Kind`].
    list_prev: Tag,
    /// For a free segment, [`LAGS`] if it sits on the list below its size class, and in the
    /// other 31 bits the next segment on its list ([`LIST_END`] for the last; see
    /// [`BoundaryTag::list_link`]). For an allocated one, the next tag in its allocated-index
    /// bucket (`AllocIndex`; NIL for the last). NIL for the others.
    list_next: Tag,
}

impl BoundaryTag {
    fn size(&self) -> u64 {
        self.last - self.start + 1
    }

    fn is_free(&self) -> bool {
        self.list_prev <= LIST_HEAD
    }

    /// The next segment on a free segment's list (NIL for the last).
    fn list_link(&self) -> Tag {
        match self.list_next & LINK {
            LIST_END => NIL,
            n => n,
        }
    }

    /// The list a free segment sits on: its size class, or the one below if it lags.
    fn list(&self) -> usize {
        list_of(self.size()) - usize::from(self.list_next & LAGS != 0)
    }

    fn is_span(&self) -> bool {
        self.list_prev == SPAN_STATIC || self.list_prev == SPAN_IMPORTED
    }

    fn kind(&self) -> Kind {
        match self.list_prev {
            ALLOCATED => Kind::Allocated,
            SPAN_STATIC => Kind::Span { imported: false },
            SPAN_IMPORTED => Kind::Span { imported: true },
            UNUSED => Kind::Unused,
            _ => Kind::Free,
        }
    }
}

/// The `list_prev` marker of `kind`; a free segment starts as [`LIST_HEAD`] (the caller puts
/// it on its list, which sets the real link).
fn marker(kind: Kind) -> Tag {
    match kind {
        Kind::Allocated => ALLOCATED,
        Kind::Span { imported: false } => SPAN_STATIC,
        Kind::Span { imported: true } => SPAN_IMPORTED,
        Kind::Unused => UNUSED,
        Kind::Free => LIST_HEAD,
    }
}

/// How an allocation chooses among placements; see the module comment, section 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Policy {
    /// O(1) for unconstrained requests; placement unspecified.
    #[default]
    InstantFit,
    /// The smallest free segment that fits (ties: lowest address); lowest placement in it.
    BestFit,
    /// The lowest placement in the arena.
    FirstFit,
    /// The lowest placement at or above the rotor, else the lowest overall.
    NextFit,
}

/// Every policy, in a fixed order (decoders pick by index).
pub const ALL_POLICIES: [Policy; 4] = [
    Policy::InstantFit,
    Policy::BestFit,
    Policy::FirstFit,
    Policy::NextFit,
];

impl Policy {
    /// Short name for traces and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Policy::InstantFit => "instant",
            Policy::BestFit => "best",
            Policy::FirstFit => "first",
            Policy::NextFit => "next",
        }
    }
}

/// A constrained allocation request ([`Arena::xalloc`]). All fields are in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Request {
    /// Bytes wanted; rounded up to the quantum. Must not be 0.
    pub size: u64,
    /// Alignment (power of two, multiple of the quantum); 0 means the quantum.
    pub align: u64,
    /// Offset from alignment: the result `a` satisfies `a % align == phase`.
    pub phase: u64,
    /// 0, or a power of two the allocation must not cross a multiple of.
    pub nocross: u64,
    /// Lowest acceptable first address (inclusive).
    pub minaddr: u64,
    /// Highest acceptable last address (inclusive, as NetBSD).
    pub maxaddr: u64,
}

impl Request {
    /// An unconstrained request for `size` bytes.
    pub const fn size(size: u64) -> Request {
        Request {
            size,
            align: 0,
            phase: 0,
            nocross: 0,
            minaddr: 0,
            maxaddr: u64::MAX,
        }
    }
}

/// A request after validation: sizes rounded, defaults filled in.
#[derive(Clone, Copy, Debug)]
struct Checked {
    size: u64,
    align: u64,
    phase: u64,
    nocross: u64,
    minaddr: u64,
    maxaddr: u64,
}

/// Why an arena could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateError {
    /// The quantum is not a power of two (0 included).
    BadQuantum,
    /// The import quantum is not a power-of-two multiple of the quantum.
    BadImportQuantum,
    /// The source's quantum does not divide this arena's quantum, so imported spans could
    /// not be guaranteed to be multiples of it.
    QuantumMismatch,
}

/// Why [`Arena::add_span`] refused a span. Checked in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddSpanError {
    /// The size is 0.
    ZeroSize,
    /// The span is not a legal range of the arena's space: it wraps past the top, ends above
    /// the highest address, or is not canonical ([`RangeError`]).
    BadRange(RangeError),
    /// The base or the size is not a multiple of the quantum.
    Misaligned,
    /// The span overlaps the existing span starting at `existing`.
    Overlaps {
        /// Start of the span it overlaps.
        existing: u64,
    },
    /// The arena already holds [`MAX_TAGS`] tags.
    NoTags,
}

/// Why an allocation failed. Validation happens in the order of the variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// The size is 0.
    ZeroSize,
    /// Rounding the size up to the quantum would exceed `u64::MAX`.
    SizeOverflow,
    /// The alignment is not a power of two or not a multiple of the quantum.
    BadAlign,
    /// The phase is not a multiple of the quantum or not below the alignment.
    BadPhase,
    /// `nocross` is not 0 and not a power-of-two multiple of the quantum.
    BadNocross,
    /// `minaddr > maxaddr`.
    BadBounds,
    /// No placement can exist: `nocross != 0` and (`align > nocross` or
    /// `roundup(phase + size, align) > nocross`).
    Overconstrained,
    /// Exact-address allocation only: the address is not a multiple of the quantum.
    Misaligned,
    /// Exact-address allocation only: `[addr, addr + size)` wraps past the top of the 64-bit
    /// space.
    Wraps,
    /// Exact-address allocation only: the range ends above the top of the arena's address
    /// space (e.g. past 4 GiB on IA-32).
    PastTop,
    /// Exact-address allocation only: the range touches or covers the x86_64 non-canonical
    /// hole.
    NonCanonical,
    /// No placement exists (and none could be imported).
    NoSpace,
    /// The arena already holds [`MAX_TAGS`] tags.
    NoTags,
}

/// Why [`Arena::free`] refused. Checked in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// The size is 0.
    ZeroSize,
    /// No allocation starts at this address ("bad free": never allocated, already freed, or
    /// inside an allocation).
    BadFree,
    /// An allocation starts here but has another size ("wrong size"); sizes are compared
    /// after rounding up to the quantum.
    WrongSize {
        /// The size it was allocated with (rounded).
        allocated: u64,
    },
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
display_via_debug!(CreateError, AddSpanError, AllocError, FreeError, Policy);

/// A span request from an arena to its source: bytes wanted and the constraints the span must
/// meet as a whole (so that its first `size` bytes are a placement for the triggering request).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportRequest {
    /// The constrained request the span must satisfy.
    pub request: Request,
}

/// Where an arena imports spans from, and releases them to.
pub trait SpanSource {
    /// The source's quantum; must divide the importing arena's quantum.
    fn quantum(&self) -> u64;
    /// A span satisfying `req`, or `None`.
    fn import(&mut self, req: &ImportRequest) -> Option<Range>;
    /// Take back a span returned by [`SpanSource::import`], exactly as imported.
    fn release(&mut self, span: Range);
}

/// The source of an arena without one: never gives anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoSource;

impl SpanSource for NoSource {
    fn quantum(&self) -> u64 {
        1
    }
    fn import(&mut self, _req: &ImportRequest) -> Option<Range> {
        None
    }
    fn release(&mut self, _span: Range) {}
}

/// An arena is a source for other arenas: it imports by `xalloc` (instant fit) and takes
/// spans back by `free`.
impl<S: SpanSource> SpanSource for Arena<S> {
    fn quantum(&self) -> u64 {
        self.quantum
    }
    fn import(&mut self, req: &ImportRequest) -> Option<Range> {
        let size = round_up(req.request.size, self.quantum)?;
        let a = self.xalloc(&req.request, Policy::InstantFit).ok()?;
        Range::new(a, size).ok()
    }
    fn release(&mut self, span: Range) {
        if self.free(span.start(), span.size()).is_err() {
            // A child handed back something we never gave it: remembered, and reported by
            // check_invariants (a release cannot fail from the child's point of view).
            self.failed_releases += 1;
        }
    }
}

/// What [`Arena::segments`] yields for each tag, in address order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentView {
    /// A span (it precedes its segments).
    Span {
        /// The span's range.
        range: Range,
        /// Whether it was imported from the source.
        imported: bool,
    },
    /// A free segment.
    Free(Range),
    /// An allocated segment.
    Allocated(Range),
}

/// Counters of an arena, all in bytes or tags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArenaStats {
    /// Sum of all span sizes.
    pub total: u128,
    /// Sum of allocated segment sizes.
    pub in_use: u128,
    /// Sum of free segment sizes.
    pub free: u128,
    /// Number of spans (static and imported).
    pub spans: usize,
    /// Number of imported spans.
    pub imported_spans: usize,
    /// Number of allocated segments.
    pub allocated_segments: usize,
    /// Number of free segments.
    pub free_segments: usize,
    /// Size of the largest free segment (0 if none).
    pub largest_free: u64,
    /// Spans imported over the arena's life.
    pub imports: u64,
    /// Spans released over the arena's life.
    pub releases: u64,
}

/// A broken invariant found by [`Arena::check_invariants`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvariantError {
    /// Which invariant (see the module comment, section 7).
    pub invariant: &'static str,
    /// Details: the tags or numbers involved.
    pub detail: String,
}

impl fmt::Display for InvariantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.invariant, self.detail)
    }
}

/// Configuration of an arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArenaConfig {
    /// The unit of allocation (power of two).
    pub quantum: u64,
    /// The address space spans must be legal ranges of; `None` is the full 64-bit space
    /// without a canonical rule.
    pub arch: Option<Arch>,
    /// Imports are rounded up to this (a power-of-two multiple of `quantum`).
    pub import_quantum: u64,
}

impl ArenaConfig {
    /// A configuration with this quantum, on `arch`, importing in quanta.
    pub const fn new(quantum: u64, arch: Option<Arch>) -> ArenaConfig {
        ArenaConfig {
            quantum,
            arch,
            import_quantum: quantum,
        }
    }
}

/// A vmem arena; see the module comment.
#[derive(Clone)]
pub struct Arena<S: SpanSource = NoSource> {
    /// Name, for reports.
    name: String,
    /// The unit of allocation.
    quantum: u64,
    /// Address space spans must belong to.
    arch: Option<Arch>,
    /// Imports are rounded up to this.
    import_quantum: u64,
    /// The boundary-tag slab.
    tags: Vec<BoundaryTag>,
    /// First unused slab slot (NIL if none), linked through `next`.
    unused: Tag,
    /// First tag in address order.
    head: Tag,
    /// Last tag in address order.
    tail: Tag,
    /// Heads of the free lists.
    lists: [Tag; FREELISTS],
    /// Bit n set iff `lists[n]` is non-empty.
    freemap: u64,
    /// The free segment the latest free made or grew (module comment, section 3): a hint,
    /// checked before every use, since later operations may have allocated, merged or
    /// dropped it. NIL before the first free.
    recent: Tag,
    /// Span tags by span start.
    spans: BTreeMap<u64, Tag>,
    /// Allocated segments by start.
    allocated: AllocIndex,
    /// Free segments by (size, start), once a BestFit request has asked for it (module
    /// comment, section 6).
    by_size: Option<BTreeMap<(u64, u64), Tag>>,
    /// NextFit rotor: next search starts here; `None` once it passed the top.
    rotor: Option<u64>,
    /// Bytes allocated.
    in_use: u128,
    /// Bytes in spans.
    total: u128,
    /// Spans imported / released over the arena's life.
    imports: u64,
    releases: u64,
    /// Releases from a child arena that did not match an allocation of ours.
    failed_releases: u64,
    /// Where spans are imported from.
    source: S,
    /// Seeded bugs switched on (fuzz self-test only).
    #[cfg(feature = "seeded-bugs")]
    bugs: BugSet,
}

impl<S: SpanSource> fmt::Debug for Arena<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arena")
            .field("name", &self.name)
            .field("quantum", &self.quantum)
            .field("stats", &self.stats())
            .finish()
    }
}

/// `x` rounded up to a multiple of the power of two `q`, or `None` on overflow.
fn round_up(x: u64, q: u64) -> Option<u64> {
    Some(x.checked_add(q - 1)? & !(q - 1))
}

/// Whether a free segment on list `on` may stay there with a size of class `c`: its class or
/// the one above (it lags); module comment, section 2.
fn holds(on: usize, c: usize) -> bool {
    on == c || on + 1 == c
}

/// The size class of a segment of `size` bytes: the list it goes on when it does not lag.
fn list_of(size: u64) -> usize {
    addr::log2_floor(size) as usize
}

impl Arena<NoSource> {
    /// An empty arena without a source. `quantum` must be a power of two.
    pub fn new(name: &str, quantum: u64, arch: Option<Arch>) -> Result<Self, CreateError> {
        Arena::with_source(name, ArenaConfig::new(quantum, arch), NoSource)
    }
}

impl<S: SpanSource> Arena<S> {
    /// An empty arena that imports from `source` when it runs out.
    pub fn with_source(name: &str, config: ArenaConfig, source: S) -> Result<Self, CreateError> {
        if !addr::is_pow2(config.quantum) {
            return Err(CreateError::BadQuantum);
        }
        if !addr::is_pow2(config.import_quantum) || config.import_quantum < config.quantum {
            return Err(CreateError::BadImportQuantum);
        }
        let sq = source.quantum();
        if sq == 0 || !config.quantum.is_multiple_of(sq) {
            return Err(CreateError::QuantumMismatch);
        }
        Ok(Arena {
            name: String::from(name),
            quantum: config.quantum,
            arch: config.arch,
            import_quantum: config.import_quantum,
            tags: Vec::new(),
            unused: NIL,
            head: NIL,
            tail: NIL,
            lists: [NIL; FREELISTS],
            freemap: 0,
            recent: NIL,
            spans: BTreeMap::new(),
            allocated: AllocIndex::new(config.quantum.trailing_zeros()),
            by_size: None,
            rotor: Some(0),
            in_use: 0,
            total: 0,
            imports: 0,
            releases: 0,
            failed_releases: 0,
            source,
            #[cfg(feature = "seeded-bugs")]
            bugs: BugSet::NONE,
        })
    }

    /// Switch seeded bugs on (fuzz self-test only).
    #[cfg(feature = "seeded-bugs")]
    pub fn set_bugs(&mut self, bugs: BugSet) {
        self.bugs = bugs;
    }

    #[cfg(feature = "seeded-bugs")]
    fn bug(&self, bug: Bug) -> bool {
        self.bugs.contains(bug)
    }

    /// The arena's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The arena's quantum.
    pub fn quantum(&self) -> u64 {
        self.quantum
    }

    /// The source spans are imported from.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The source, mutably (to add spans to it, or allocate from it directly).
    pub fn source_mut(&mut self) -> &mut S {
        &mut self.source
    }

    // ---- slab and list plumbing -------------------------------------------------------

    fn tag(&self, t: Tag) -> &BoundaryTag {
        &self.tags[t as usize]
    }

    fn tag_mut(&mut self, t: Tag) -> &mut BoundaryTag {
        &mut self.tags[t as usize]
    }

    /// A fresh slab slot holding `[start, last]` of `kind`, not yet linked anywhere.
    fn new_tag(&mut self, start: u64, last: u64, kind: Kind) -> Option<Tag> {
        self.new_tag_between(start, last, kind, NIL, NIL)
    }

    /// A fresh slab slot holding `[start, last]` of `kind` whose address links are already
    /// `prev` and `next` (the caller links those two to it).
    fn new_tag_between(
        &mut self,
        start: u64,
        last: u64,
        kind: Kind,
        prev: Tag,
        next: Tag,
    ) -> Option<Tag> {
        let fresh = BoundaryTag {
            start,
            last,
            prev,
            next,
            list_prev: marker(kind),
            list_next: NIL,
        };
        if self.unused != NIL {
            let t = self.unused;
            self.unused = self.tag(t).next;
            *self.tag_mut(t) = fresh;
            Some(t)
        } else if self.tags.len() < MAX_TAGS {
            self.tags.push(fresh);
            Some((self.tags.len() - 1) as Tag)
        } else {
            None
        }
    }

    /// Number of free slab slots, counting room to grow.
    fn tags_available(&self, want: usize) -> bool {
        if self.tags.len() + want <= MAX_TAGS {
            return true;
        }
        let mut n = 0;
        let mut t = self.unused;
        while t != NIL && n < want {
            n += 1;
            t = self.tag(t).next;
        }
        self.tags.len() + (want - n) <= MAX_TAGS
    }

    fn drop_tag(&mut self, t: Tag) {
        let unused = self.unused;
        let tag = self.tag_mut(t);
        tag.list_prev = UNUSED;
        tag.next = unused;
        tag.prev = NIL;
        self.unused = t;
    }

    /// Links `t` into the address list right after `after` (or first, if NIL).
    fn link_after(&mut self, after: Tag, t: Tag) {
        let next = if after == NIL {
            self.head
        } else {
            self.tag(after).next
        };
        self.tag_mut(t).prev = after;
        self.tag_mut(t).next = next;
        if after == NIL {
            self.head = t;
        } else {
            self.tag_mut(after).next = t;
        }
        self.relink_prev(next, t);
    }

    fn unlink(&mut self, t: Tag) {
        let (p, n) = (self.tag(t).prev, self.tag(t).next);
        if p == NIL {
            self.head = n;
        } else {
            self.tag_mut(p).next = n;
        }
        self.relink_prev(n, p);
    }

    /// Sets the address-list predecessor of `t` (or the tail, if `t` is NIL) to `prev`.
    fn relink_prev(&mut self, t: Tag, prev: Tag) {
        if t == NIL {
            self.tail = prev;
        } else {
            self.tag_mut(t).prev = prev;
        }
    }

    /// Puts free segment `t` on the list of its current size class.
    fn list_insert(&mut self, t: Tag) {
        self.list_insert_at(t, list_of(self.tag(t).size()));
    }

    /// Makes free segment `t`'s list right for a new size of class `c` (a merge grew it or a
    /// carve shrank it); called before its size changes. If its list still holds class `c`
    /// ([`holds`]) it stays where it is on it (and only its lag bit changes); else it moves to
    /// the head of list `c`.
    fn relist(&mut self, t: Tag, c: usize) {
        let on = self.tag(t).list();
        if holds(on, c) {
            self.set_lag(t, on + 1 == c);
        } else {
            self.list_remove(t);
            self.list_insert_at(t, c);
        }
    }

    /// Sets free segment `t`'s lag bit.
    fn set_lag(&mut self, t: Tag, lags: bool) {
        let tag = self.tag_mut(t);
        tag.list_next = (tag.list_next & LINK) | if lags { LAGS } else { 0 };
    }

    /// Records free segment `t`, as it is now, in the size index, if there is one.
    fn size_index_add(&mut self, t: Tag) {
        let seg = &self.tags[t as usize];
        let key = (seg.size(), seg.start);
        if let Some(ix) = &mut self.by_size {
            ix.insert(key, t);
        }
    }

    /// Forgets free segment `seg` (as it was) in the size index, if there is one.
    fn size_index_remove(&mut self, seg: &BoundaryTag) {
        if let Some(ix) = &mut self.by_size {
            ix.remove(&(seg.size(), seg.start));
        }
    }

    /// The size index after [`Arena::commit`] carved allocation `cur` out of free segment
    /// `old`: `old` goes, and the free remainders on either side of `cur` (whatever lies next
    /// to `cur` within `old`'s range and is free) come in. Out of line and called only when
    /// the index exists, so that instant-fit arenas keep their fast path small.
    #[cold]
    #[inline(never)]
    fn size_index_carved(&mut self, old: &BoundaryTag, cur: Tag) {
        self.size_index_remove(old);
        let (p, n) = (self.tag(cur).prev, self.tag(cur).next);
        if self.tag(p).is_free() && self.tag(p).start == old.start {
            self.size_index_add(p);
        }
        if n != NIL && self.tag(n).is_free() && self.tag(n).last == old.last {
            self.size_index_add(n);
        }
    }

    /// The size index after [`Arena::release_segment`] merged the free segments `gone` (as
    /// they were) into `merged`. Out of line, as [`Arena::size_index_carved`].
    #[cold]
    #[inline(never)]
    fn size_index_merged(&mut self, gone: [Option<&BoundaryTag>; 2], merged: Tag) {
        for seg in gone.into_iter().flatten() {
            self.size_index_remove(seg);
        }
        self.size_index_add(merged);
    }

    /// Builds the size index from the free lists, if it does not exist yet.
    fn ensure_size_index(&mut self) {
        if self.by_size.is_some() {
            return;
        }
        let mut ix = BTreeMap::new();
        for &head in &self.lists {
            let mut t = head;
            while t != NIL {
                let seg = self.tag(t);
                ix.insert((seg.size(), seg.start), t);
                t = seg.list_link();
            }
        }
        self.by_size = Some(ix);
    }

    /// Puts `t` at the head of list `l`, the list of its size class, not lagging; this also
    /// marks it free. `t` must have, or be about to get, a size of class `l`.
    fn list_insert_at(&mut self, t: Tag, l: usize) {
        let head = self.lists[l];
        let tag = self.tag_mut(t);
        tag.list_prev = LIST_HEAD;
        tag.list_next = head & LINK;
        if head != NIL {
            self.tag_mut(head).list_prev = t;
        }
        self.lists[l] = t;
        self.freemap |= 1 << l;
    }

    fn list_remove(&mut self, t: Tag) {
        let tag = self.tag(t);
        let (l, p, n) = (tag.list(), tag.list_prev, tag.list_link());
        self.list_remove_at(l, p, n);
    }

    /// Takes a segment off list `l`, given its list links `p` and `n` (its own links are left
    /// as they were).
    fn list_remove_at(&mut self, l: usize, p: Tag, n: Tag) {
        if p == LIST_HEAD {
            self.lists[l] = n;
            if n == NIL {
                self.freemap &= !(1 << l);
            }
        } else {
            let prev = self.tag_mut(p);
            prev.list_next = (prev.list_next & LAGS) | (n & LINK);
        }
        if n != NIL {
            self.tag_mut(n).list_prev = p;
        }
    }

    // ---- spans --------------------------------------------------------------------------

    /// Checks `[base, base + size)` against the arena's space and quantum.
    fn check_span(&self, base: u64, size: u64) -> Result<Range, AddSpanError> {
        if size == 0 {
            return Err(AddSpanError::ZeroSize);
        }
        let range = match self.arch {
            Some(arch) => arch.check_range(base, size),
            None => Range::new(base, size),
        }
        .map_err(AddSpanError::BadRange)?;
        if base & (self.quantum - 1) != 0 || size & (self.quantum - 1) != 0 {
            return Err(AddSpanError::Misaligned);
        }
        Ok(range)
    }

    /// Adds `[base, base + size)` as a static span, wholly free.
    pub fn add_span(&mut self, base: u64, size: u64) -> Result<(), AddSpanError> {
        let range = self.check_span(base, size)?;
        self.insert_span(range, false)
    }

    fn insert_span(&mut self, range: Range, imported: bool) -> Result<(), AddSpanError> {
        // The span before (start <= ours) and the span after (start > ours); either may
        // overlap ours.
        let before = self.spans.range(..=range.start()).next_back();
        let after = self
            .spans
            .range(range.start().saturating_add(1)..)
            .next()
            .map(|(&s, &t)| (s, t));
        let overlapping = before
            .filter(|&(_, &t)| self.tag(t).last >= range.start())
            .map(|(&s, _)| s)
            .or(after.map(|(s, _)| s).filter(|&s| s <= range.last()));
        #[cfg(feature = "seeded-bugs")]
        // SEEDED BUG InsertOverlapNeverFires (Linux 2016): the overlap test cannot fire.
        let overlapping = overlapping.filter(|_| !self.bug(Bug::InsertOverlapNeverFires));
        if let Some(existing) = overlapping {
            return Err(AddSpanError::Overlaps { existing });
        }
        if !self.tags_available(2) {
            return Err(AddSpanError::NoTags);
        }
        let (Some(span), Some(seg)) = (
            self.new_tag(range.start(), range.last(), Kind::Span { imported }),
            self.new_tag(range.start(), range.last(), Kind::Free),
        ) else {
            return Err(AddSpanError::NoTags);
        };
        // Link before the next span's tag, i.e. after the tag preceding it (or at the tail).
        let prev = match after {
            Some((_, t)) => self.tag(t).prev,
            None => self.tail,
        };
        self.link_after(prev, span);
        self.link_after(span, seg);
        self.list_insert(seg);
        self.size_index_add(seg);
        self.spans.insert(range.start(), span);
        self.total += u128::from(range.size());
        Ok(())
    }

    /// `true` iff `addr` lies in one of the arena's spans.
    pub fn contains(&self, addr: u64) -> bool {
        let Some((_, &t)) = self.spans.range(..=addr).next_back() else {
            return false;
        };
        let span = self.tag(t);
        #[cfg(feature = "seeded-bugs")]
        // SEEDED BUG ContainsEndWraps (NetBSD 2012): the exclusive end `start + size` wraps
        // to 0 for a span that ends at the top of the space.
        if self.bug(Bug::ContainsEndWraps) {
            return addr < span.last.wrapping_add(1);
        }
        span.last >= addr
    }

    // ---- validation -----------------------------------------------------------------------

    fn check_request(&self, req: &Request) -> Result<Checked, AllocError> {
        let q = self.quantum;
        if req.size == 0 {
            return Err(AllocError::ZeroSize);
        }
        let size = round_up(req.size, q).ok_or(AllocError::SizeOverflow)?;
        let align = if req.align == 0 { q } else { req.align };
        if !addr::is_pow2(align) || align < q {
            return Err(AllocError::BadAlign);
        }
        if req.phase & (q - 1) != 0 || req.phase >= align {
            return Err(AllocError::BadPhase);
        }
        if req.nocross != 0 && (!addr::is_pow2(req.nocross) || req.nocross < q) {
            return Err(AllocError::BadNocross);
        }
        if req.minaddr > req.maxaddr {
            return Err(AllocError::BadBounds);
        }
        if req.nocross != 0 {
            let over = align > req.nocross
                || match req.phase.checked_add(size).and_then(|x| round_up(x, align)) {
                    Some(x) => x > req.nocross,
                    None => true,
                };
            if over {
                return Err(AllocError::Overconstrained);
            }
        }
        Ok(Checked {
            size,
            align,
            phase: req.phase,
            nocross: req.nocross,
            minaddr: req.minaddr,
            maxaddr: req.maxaddr,
        })
    }

    /// The highest address a request with this (inclusive) `maxaddr` may use: `maxaddr`.
    #[allow(clippy::let_and_return)] // the seeded bug rebinds it
    fn highest_allowed(&self, maxaddr: u64) -> u64 {
        #[cfg(feature = "seeded-bugs")]
        // SEEDED BUG MaxaddrExclusive (NetBSD 2012): maxaddr treated as exclusive, so the
        // last unit below it is unusable.
        let maxaddr = if self.bug(Bug::MaxaddrExclusive) {
            maxaddr.saturating_sub(1)
        } else {
            maxaddr
        };
        maxaddr
    }

    /// The lowest placement for `c` inside `[start, last]` at or above `from`.
    fn place(&self, start: u64, last: u64, from: u64, c: &Checked) -> Option<u64> {
        let lo = start.max(c.minaddr).max(from);
        let hi = last.min(self.highest_allowed(c.maxaddr));
        if lo > hi || hi - lo < c.size - 1 {
            return None;
        }
        let top = hi - (c.size - 1); // highest acceptable first address
        let mut a = addr::align_up_phase(lo, c.align, c.phase)?;
        if a > top {
            return None;
        }
        if c.nocross != 0 {
            let a_last = a + (c.size - 1);
            #[cfg(feature = "seeded-bugs")]
            // SEEDED BUG NocrossOffByOne: the crossing test looks at the byte before the
            // last one, so an allocation whose last byte is the first of the next window
            // is accepted.
            let a_last = if self.bug(Bug::NocrossOffByOne) {
                a_last.saturating_sub(1).max(a)
            } else {
                a_last
            };
            if addr::range_crosses_boundary(a, a_last, c.nocross)? {
                // Every candidate below the next boundary crosses it too.
                let boundary = (a & !(c.nocross - 1)).checked_add(c.nocross)?;
                a = addr::align_up_phase(boundary, c.align, c.phase)?;
                if a > top || addr::range_crosses_boundary(a, a + (c.size - 1), c.nocross)? {
                    return None;
                }
            }
        }
        Some(a)
    }

    // ---- searches -----------------------------------------------------------------------

    fn search(&self, c: &Checked, policy: Policy) -> Option<(Tag, u64)> {
        match policy {
            Policy::InstantFit => self.instant_fit(c),
            Policy::BestFit => self.best_fit(c),
            Policy::FirstFit => self.address_fit(c, self.head, 0),
            Policy::NextFit => self.next_fit(c),
        }
    }

    fn instant_fit(&self, c: &Checked) -> Option<(Tag, u64)> {
        // Fast path: every segment on list n >= ceil(log2(size + align - q)) holds a
        // placement when only size and alignment matter; with other constraints we still try
        // the head of each such list before the full scan.
        let pad = c.align - self.quantum;
        let fallback = true;
        #[cfg(feature = "seeded-bugs")]
        // SEEDED BUG InstantFitNoFallback (ANCHORS section 1): no fallback after the lists
        // that guarantee a fit, so a free segment that holds the request is never found.
        let fallback = fallback && !self.bug(Bug::InstantFitNoFallback);
        #[cfg(feature = "seeded-bugs")]
        // SEEDED BUG AlignPadNoFallback (Linux 2019-2021): the search pads the size by
        // align - 1 and never falls back, so exactly fitting aligned blocks are missed.
        let (pad, fallback) = if self.bug(Bug::AlignPadNoFallback) && pad > 0 {
            (c.align - 1, false)
        } else {
            (pad, fallback)
        };
        if let Some(need) = c.size.checked_add(pad) {
            let n = addr::log2_floor(need) + u32::from(!addr::is_pow2(need));
            let mut map = if n >= 64 {
                0
            } else {
                self.freemap & (u64::MAX << n)
            };
            while map != 0 {
                let l = map.trailing_zeros() as usize;
                map &= map - 1;
                let t = self.lists[l];
                let seg = self.tag(t);
                if let Some(a) = self.place(seg.start, seg.last, 0, c) {
                    return Some((t, a));
                }
            }
        }
        if fallback {
            self.scan_lists(c)
        } else {
            None
        }
    }

    /// The first free segment in (size, start) order, from `c.size` up, that holds a
    /// placement. Needs the size index ([`Arena::xalloc_general`] builds it before searching).
    fn best_fit(&self, c: &Checked) -> Option<(Tag, u64)> {
        let ix = self.by_size.as_ref()?;
        ix.range((c.size, 0)..).find_map(|(_, &t)| {
            let seg = self.tag(t);
            self.place(seg.start, seg.last, 0, c).map(|a| (t, a))
        })
    }

    /// Scans every free list that could hold a fit, smallest list first, and returns the first
    /// fit found.
    fn scan_lists(&self, c: &Checked) -> Option<(Tag, u64)> {
        // A segment of class k may sit on list k - 1 (section 2).
        let first = list_of(c.size).saturating_sub(1) as u32;
        let mut map = self.freemap & (u64::MAX << first);
        while map != 0 {
            let l = map.trailing_zeros() as usize;
            map &= map - 1;
            let mut t = self.lists[l];
            while t != NIL {
                let seg = self.tag(t);
                if seg.size() >= c.size {
                    if let Some(a) = self.place(seg.start, seg.last, 0, c) {
                        return Some((t, a));
                    }
                }
                t = seg.list_link();
            }
        }
        None
    }

    /// The lowest placement at or above `from`, walking the address list from tag `t`.
    fn address_fit(&self, c: &Checked, mut t: Tag, from: u64) -> Option<(Tag, u64)> {
        while t != NIL {
            let seg = self.tag(t);
            if seg.is_free() && seg.last >= from && seg.size() >= c.size {
                if let Some(a) = self.place(seg.start, seg.last, from, c) {
                    return Some((t, a));
                }
            }
            t = seg.next;
        }
        None
    }

    fn next_fit(&self, c: &Checked) -> Option<(Tag, u64)> {
        if let Some(rotor) = self.rotor {
            // Start at the span holding the rotor (or the first span above it).
            let start = self
                .spans
                .range(..=rotor)
                .next_back()
                .or_else(|| self.spans.range(rotor..).next())
                .map(|(_, &t)| t);
            if let Some(t) = start {
                if let Some(hit) = self.address_fit(c, t, rotor) {
                    return Some(hit);
                }
            }
        }
        self.address_fit(c, self.head, 0)
    }

    // ---- allocation -----------------------------------------------------------------------

    /// Allocates `size` bytes (rounded up to the quantum) with `policy`.
    pub fn alloc(&mut self, size: u64, policy: Policy) -> Result<u64, AllocError> {
        if policy == Policy::InstantFit {
            if let Some(r) = self.instant_unconstrained(size) {
                return r;
            }
        }
        self.xalloc_general(&Request::size(size), policy)
    }

    /// Allocates with constraints; see the module comment, sections 3 to 5.
    pub fn xalloc(&mut self, req: &Request, policy: Policy) -> Result<u64, AllocError> {
        // An unconstrained instant-fit request (only a size: the alignment is the quantum, no
        // phase, nocross or bounds) takes the head of a guaranteed list directly; anything the
        // fast path does not settle goes the general way, with the same outcome.
        let unbounded = req.minaddr == 0 && req.maxaddr == u64::MAX;
        #[cfg(feature = "seeded-bugs")]
        // SEEDED BUG FastPathSkipsBounds (Linux 2011, the vmap free-area cache): the fast
        // path is taken without looking at the request's address bounds.
        let unbounded = unbounded || self.bug(Bug::FastPathSkipsBounds);
        if policy == Policy::InstantFit
            && req.align & !self.quantum == 0
            && req.phase == 0
            && req.nocross == 0
            && unbounded
        {
            if let Some(r) = self.instant_unconstrained(req.size) {
                return r;
            }
        }
        self.xalloc_general(req, policy)
    }

    /// The fast path of [`Arena::xalloc`] for an unconstrained instant-fit request of `size`
    /// bytes: `None` if the general path must decide (a size that is 0 or overflows, no room
    /// for tags, no guaranteed list non-empty). On a guaranteed list, every segment holds the
    /// request at its start, which is exactly what [`Arena::instant_fit`] returns there.
    #[inline]
    fn instant_unconstrained(&mut self, size: u64) -> Option<Result<u64, AllocError>> {
        // This path never compares with maxaddr: it is for requests that may use the whole
        // space, up to its last address.
        if size == 0 || self.highest_allowed(u64::MAX) != u64::MAX || self.tags.len() + 2 > MAX_TAGS
        {
            return None;
        }
        let size = round_up(size, self.quantum)?;
        let c = Checked {
            size,
            align: self.quantum,
            phase: 0,
            nocross: 0,
            minaddr: 0,
            maxaddr: u64::MAX,
        };
        // The segment the latest free made, if it is still free and large enough: its tag,
        // its neighbours and its list neighbours were just touched, and the allocated index
        // slot of its start was just emptied. Else the smallest list n with 2^n >= size.
        let (f, seg) = match self.tags.get(self.recent as usize) {
            Some(&seg) if seg.is_free() && seg.last - seg.start >= size - 1 => (self.recent, seg),
            _ => {
                let n = u64::BITS - (size - 1).leading_zeros();
                if n >= u64::BITS {
                    return None;
                }
                let map = self.freemap & (u64::MAX << n);
                if map == 0 {
                    return None;
                }
                let f = self.lists[map.trailing_zeros() as usize];
                (f, *self.tag(f))
            }
        };
        // Either way the request fits at the segment's start; the common case leaves a rest.
        let (a, last) = (seg.start, seg.start + (size - 1));
        if last < seg.last {
            if let Some(t) = self.carve_front(f, &seg, last) {
                return Some(self.record_allocation(&seg, t, a, last, Policy::InstantFit));
            }
        }
        Some(self.commit(f, a, &c, Policy::InstantFit))
    }

    /// [`Arena::xalloc`] through validation, the policy's search and import.
    fn xalloc_general(&mut self, req: &Request, policy: Policy) -> Result<u64, AllocError> {
        let c = self.check_request(req)?;
        if !self.tags_available(2) {
            return Err(AllocError::NoTags);
        }
        if policy == Policy::BestFit {
            self.ensure_size_index();
        }
        if let Some((t, a)) = self.search(&c, policy) {
            return self.commit(t, a, &c, policy);
        }
        self.import_and_alloc(req, &c, policy)
    }

    /// Imports one span for `c` from the source and allocates from it.
    fn import_and_alloc(
        &mut self,
        req: &Request,
        c: &Checked,
        policy: Policy,
    ) -> Result<u64, AllocError> {
        if !self.tags_available(4) {
            return Err(AllocError::NoTags);
        }
        let rounded = round_up(c.size, self.import_quantum);
        #[cfg(feature = "seeded-bugs")]
        // SEEDED BUG ImportSizeWrap (illumos 3179): the import size roundup(size + phase,
        // import quantum) is computed with wrapping arithmetic; when it wraps, a tiny span is
        // imported and handed out whole as if it held the request.
        if self.bug(Bug::ImportSizeWrap) {
            let iq = self.import_quantum;
            let wrapped = c.size.wrapping_add(c.phase).wrapping_add(iq - 1) & !(iq - 1);
            if wrapped < c.size {
                let tiny = Request::size(wrapped.max(iq));
                if let Some(span) = self.source.import(&ImportRequest { request: tiny }) {
                    if self.insert_span(span, true).is_ok() {
                        self.imports += 1;
                        let seg = self.tag(self.spans[&span.start()]).next;
                        let whole = Checked {
                            size: span.size(),
                            ..*c
                        };
                        return self.commit(seg, span.start(), &whole, policy);
                    }
                    self.source.release(span);
                }
                return Err(AllocError::NoSpace);
            }
        }
        let mut attempts = [Some(c.size), None];
        if let Some(r) = rounded {
            if r != c.size {
                attempts = [Some(r), Some(c.size)];
            }
        }
        for size in attempts.into_iter().flatten() {
            // The span must be a multiple of our quantum, not just the source's: the
            // request's alignment (at least our quantum) goes down with it.
            let mut want = *req;
            want.size = size;
            want.align = c.align;
            #[cfg(feature = "seeded-bugs")]
            // SEEDED BUG ImportIgnoresMinmax (NetBSD, "XXX eeek"): the import forgets the
            // request's address bounds, so the span may lie where the request cannot go.
            if self.bug(Bug::ImportIgnoresMinmax) {
                (want.minaddr, want.maxaddr) = (0, u64::MAX);
            }
            let Some(span) = self.source.import(&ImportRequest { request: want }) else {
                continue;
            };
            let ok = span.size() >= c.size
                && span.start() & (self.quantum - 1) == 0
                && span.size() & (self.quantum - 1) == 0
                && self
                    .arch
                    .is_none_or(|a| a.check_range(span.start(), span.size()).is_ok());
            if !ok || self.insert_span(span, true).is_err() {
                // Not usable here (a broken source): hand it straight back.
                self.source.release(span);
                continue;
            }
            self.imports += 1;
            let seg = self.tag(self.spans[&span.start()]).next;
            match self.search(c, policy) {
                Some((t, a)) => return self.commit(t, a, c, policy),
                None => {
                    // The source ignored our constraints: give the span back at once.
                    self.remove_span(self.spans[&span.start()], seg);
                }
            }
        }
        Err(AllocError::NoSpace)
    }

    /// Allocates exactly `[addr, addr + size)` (size rounded up); never imports.
    pub fn xalloc_at(&mut self, addr: u64, size: u64) -> Result<u64, AllocError> {
        if size == 0 {
            return Err(AllocError::ZeroSize);
        }
        let size = round_up(size, self.quantum).ok_or(AllocError::SizeOverflow)?;
        if addr & (self.quantum - 1) != 0 {
            return Err(AllocError::Misaligned);
        }
        let last = addr::last_of(addr, size).ok_or(AllocError::Wraps)?;
        match self.arch.map(|a| a.check_range(addr, size)) {
            Some(Err(RangeError::PastTop)) => return Err(AllocError::PastTop),
            Some(Err(RangeError::NonCanonical)) => return Err(AllocError::NonCanonical),
            _ => {}
        }
        if !self.tags_available(2) {
            return Err(AllocError::NoTags);
        }
        let (_, &span) = self
            .spans
            .range(..=addr)
            .next_back()
            .ok_or(AllocError::NoSpace)?;
        if self.tag(span).last < last {
            return Err(AllocError::NoSpace);
        }
        let mut t = self.tag(span).next;
        while t != NIL {
            let seg = *self.tag(t);
            if seg.is_span() || seg.start > addr {
                break;
            }
            if seg.last >= addr {
                if seg.is_free() && seg.last >= last {
                    let c = Checked {
                        size,
                        align: self.quantum,
                        phase: 0,
                        nocross: 0,
                        minaddr: addr,
                        maxaddr: last,
                    };
                    return self.commit(t, addr, &c, Policy::FirstFit);
                }
                break;
            }
            t = seg.next;
        }
        Err(AllocError::NoSpace)
    }

    /// Carves `[a, a + size)` out of free segment `f`.
    fn commit(&mut self, f: Tag, a: u64, c: &Checked, policy: Policy) -> Result<u64, AllocError> {
        let last = a + (c.size - 1);
        let seg = *self.tag(f);
        debug_assert!(seg.is_free() && seg.start <= a && last <= seg.last);
        let cur = if a == seg.start && last < seg.last {
            self.carve_front(f, &seg, last)
        } else {
            self.carve_inside(f, &seg, a, last)
        };
        let Some(cur) = cur else {
            return Err(AllocError::NoTags); // unreachable: tags_available checked
        };
        self.record_allocation(&seg, cur, a, last, policy)
    }

    /// The front of free segment `f` (whose tag the caller read as `seg`), up to `last`
    /// (below `seg.last`), becomes a new allocated tag, returned; `f` keeps the free rest.
    /// The common case, so `f`'s list links change only if the rest belongs on another list.
    /// `None`, with nothing changed, if no tag is left.
    #[inline(always)]
    fn carve_front(&mut self, f: Tag, seg: &BoundaryTag, last: u64) -> Option<Tag> {
        // The new tag goes between f and its predecessor (never NIL: a segment follows its
        // span's tag).
        let t = self.new_tag_between(seg.start, last, Kind::Allocated, seg.prev, f)?;
        self.tag_mut(seg.prev).next = t;
        let fm = self.tag_mut(f);
        fm.prev = t;
        fm.start = last + 1;
        // The rest stays wherever it is on f's list if that list still holds its class (the
        // order of a list is free: no policy's contract depends on it). This is `relist` with
        // the links and the list taken from the copy `seg`.
        let (on, rest) = (seg.list(), list_of(seg.last - last));
        if holds(on, rest) {
            self.set_lag(f, on + 1 == rest);
        } else {
            self.list_remove_at(on, seg.list_prev, seg.list_link());
            self.list_insert_at(f, rest);
        }
        Some(t)
    }

    /// `[a, last]` out of free segment `f` (whose tag the caller read as `seg`) in any way but
    /// [`Arena::carve_front`]'s: the whole segment, or with a free remainder on the left (kept
    /// in `f`) and possibly one on the right. Returns the allocated tag; `None` if no tag is
    /// left (only after `tags_available` said there were, so never).
    fn carve_inside(&mut self, f: Tag, seg: &BoundaryTag, a: u64, last: u64) -> Option<Tag> {
        self.list_remove(f);
        let cur = if a > seg.start {
            // The left remainder stays in f.
            self.tag_mut(f).last = a - 1;
            self.list_insert(f);
            let t = self.new_tag(a, last, Kind::Allocated)?;
            self.link_after(f, t);
            t
        } else {
            self.tag_mut(f).list_prev = ALLOCATED;
            self.tag_mut(f).last = last;
            f
        };
        if last < seg.last {
            let r = self.new_tag(last + 1, seg.last, Kind::Free)?;
            self.link_after(cur, r);
            self.list_insert(r);
        }
        Some(cur)
    }

    /// Records the allocation `cur` = `[start, last]`, just carved out of the free segment
    /// `seg` (as it was): the size index, the allocated index, the counters and the rotor.
    #[inline(always)]
    fn record_allocation(
        &mut self,
        seg: &BoundaryTag,
        cur: Tag,
        start: u64,
        last: u64,
        policy: Policy,
    ) -> Result<u64, AllocError> {
        if self.by_size.is_some() {
            self.size_index_carved(seg, cur);
        }
        self.allocated.insert(start, cur, &mut self.tags);
        self.in_use += u128::from(last - start + 1);
        if policy == Policy::NextFit {
            self.rotor = last.checked_add(1);
        }
        #[cfg(feature = "seeded-bugs")]
        // SEEDED BUG ZeroSentinel (FreeBSD, NetBSD): address 0 doubles as "failed", so a
        // successful allocation at 0 is reported as a failure (and its space leaks).
        if start == 0 && self.bug(Bug::ZeroSentinel) {
            return Err(AllocError::NoSpace);
        }
        Ok(start)
    }

    // ---- free -------------------------------------------------------------------------------

    /// Frees the allocation at `addr` of `size` bytes (rounded up to the quantum, and
    /// compared with the allocated size).
    pub fn free(&mut self, addr: u64, size: u64) -> Result<(), FreeError> {
        if size == 0 {
            return Err(FreeError::ZeroSize);
        }
        // One look-up: the entry found here is removed below if the size matches.
        let found = self
            .allocated
            .find(addr, &self.tags)
            .ok_or(FreeError::BadFree)?;
        let t = found.tag;
        let seg = *self.tag(t);
        let allocated = seg.size();
        // `size` rounds up to `allocated` (a multiple of the quantum) iff
        // `allocated - q < size <= allocated`; a larger size wraps the difference far above q.
        let wrong = allocated.wrapping_sub(size) >= self.quantum;
        #[cfg(feature = "seeded-bugs")]
        // SEEDED BUG MissingWrongSizeCheck (NetBSD KMEM_GUARD): the size is not compared.
        let wrong = wrong && !self.bug(Bug::MissingWrongSizeCheck);
        if wrong {
            return Err(FreeError::WrongSize { allocated });
        }
        self.allocated.remove(found, &mut self.tags);
        self.in_use -= u128::from(allocated);
        self.release_segment(t, seg);
        Ok(())
    }

    /// Marks `t` free, coalesces it with free neighbours, and releases its span if the span
    /// is imported and now wholly free.
    ///
    /// The merged segment keeps the tag of a free neighbour when there is one, so that only
    /// tags already read are written, and a tag whose list is the merged size's list stays
    /// where it is on that list (list order is free). Freeing between two allocated segments
    /// writes nothing but `t` and the head of its new list.
    ///
    /// `seg` is `t`'s tag as the caller read it (its address links and range are current).
    fn release_segment(&mut self, t: Tag, seg: BoundaryTag) {
        let (p, n) = (seg.prev, seg.next);
        // Both neighbours are read before either is acted on, so that their loads overlap. A
        // segment's predecessor is never NIL (its span's tag comes first).
        let pt = *self.tag(p);
        let nt = (n != NIL).then(|| *self.tag(n));
        let p_free = pt.is_free();
        let n_free = nt.is_some_and(|x| x.is_free());
        let start = if p_free { pt.start } else { seg.start };
        let last = match nt {
            Some(nt) if n_free => nt.last,
            _ => seg.last,
        };
        let l = list_of(last - start + 1);
        let merged = match (p_free, nt) {
            (true, Some(nt)) if n_free => {
                // Keep the neighbour already on the merged list if either is; the other
                // leaves its list, and the tag past it is relinked to the kept one.
                let n_on = nt.list();
                if holds(n_on, l) {
                    self.list_remove(p);
                    self.set_lag(n, n_on + 1 == l);
                    self.tag_mut(n).start = start;
                    self.tag_mut(n).prev = pt.prev;
                    self.tag_mut(pt.prev).next = n;
                    self.drop_tag(p);
                    n
                } else {
                    self.list_remove(n);
                    self.relist(p, l);
                    self.tag_mut(p).last = last;
                    self.tag_mut(p).next = nt.next;
                    self.relink_prev(nt.next, p);
                    self.drop_tag(n);
                    p
                }
            }
            (true, _) => {
                self.relist(p, l);
                self.tag_mut(p).last = last;
                self.tag_mut(p).next = n;
                self.relink_prev(n, p);
                p
            }
            (false, Some(_)) if n_free => {
                self.relist(n, l);
                self.tag_mut(n).start = start;
                self.tag_mut(n).prev = p;
                self.tag_mut(p).next = n;
                n
            }
            _ => {
                self.list_insert_at(t, l);
                t
            }
        };
        if merged != t {
            self.drop_tag(t);
        }
        self.recent = merged;
        if self.by_size.is_some() {
            let gone = [p_free.then_some(&pt), nt.as_ref().filter(|_| n_free)];
            self.size_index_merged(gone, merged);
        }
        // Only an imported span goes back, and one is live iff imports > releases (each
        // release gives back one imported span): without one, skip reading the span tag.
        if self.imports > self.releases {
            let span = self.tag(merged).prev; // a free segment's predecessor: its span or allocated
            let s = self.tag(span);
            if s.list_prev == SPAN_IMPORTED && s.start == start && s.last == last {
                self.remove_span(span, merged);
            }
        }
    }

    /// Removes an imported span whose only segment is the free segment `seg` (on its free
    /// list), and hands it back to the source.
    fn remove_span(&mut self, span: Tag, seg: Tag) {
        let range = Range::from_inclusive(self.tag(span).start, self.tag(span).last)
            .expect("span tags are non-empty");
        let free = *self.tag(seg);
        self.size_index_remove(&free);
        self.list_remove(seg);
        self.unlink(seg);
        self.drop_tag(seg);
        self.unlink(span);
        self.drop_tag(span);
        self.spans.remove(&range.start());
        self.total -= u128::from(range.size());
        self.releases += 1;
        self.source.release(range);
    }

    // ---- observation --------------------------------------------------------------------

    /// Every span and segment in address order (each span before its segments).
    pub fn segments(&self) -> Segments<'_, S> {
        Segments {
            arena: self,
            next: self.head,
        }
    }

    /// Calls `f` on every span and segment in address order.
    pub fn walk(&self, mut f: impl FnMut(SegmentView)) {
        self.segments().for_each(&mut f);
    }

    /// Counters (O(segments) for `largest_free` and the segment counts).
    pub fn stats(&self) -> ArenaStats {
        let mut s = ArenaStats {
            total: self.total,
            in_use: self.in_use,
            free: self.total - self.in_use,
            imports: self.imports,
            releases: self.releases,
            spans: self.spans.len(),
            allocated_segments: self.allocated.len(),
            ..ArenaStats::default()
        };
        for v in self.segments() {
            match v {
                SegmentView::Span { imported, .. } => s.imported_spans += usize::from(imported),
                SegmentView::Free(r) => {
                    s.free_segments += 1;
                    s.largest_free = s.largest_free.max(r.size());
                }
                SegmentView::Allocated(_) => {}
            }
        }
        s
    }

    /// Checks every invariant of the module comment, section 7. O(tags).
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        invariants::check(self)
    }
}

/// Iterator over an arena's spans and segments in address order.
pub struct Segments<'a, S: SpanSource> {
    arena: &'a Arena<S>,
    next: Tag,
}

impl<S: SpanSource> Iterator for Segments<'_, S> {
    type Item = SegmentView;
    fn next(&mut self) -> Option<SegmentView> {
        if self.next == NIL {
            return None;
        }
        let t = self.arena.tag(self.next);
        self.next = t.next;
        let range = Range::from_inclusive(t.start, t.last).expect("tags are non-empty");
        Some(match t.kind() {
            Kind::Span { imported } => SegmentView::Span { range, imported },
            Kind::Free => SegmentView::Free(range),
            Kind::Allocated | Kind::Unused => SegmentView::Allocated(range),
        })
    }
}

mod invariants;

#[cfg(test)]
mod tests;
