//! The vocabulary of the arena's interface: policies (module comment, section 3), requests
//! and their validated form (section 4), one error enum per operation, and what an arena
//! reports about itself (segment views, counters, broken invariants) and is configured with.

use alloc::string::String;
use core::fmt;

use crate::addr::{Arch, Range, RangeError};

use super::tags::MAX_TAGS;
#[cfg(doc)]
use super::{tags::MIN_TAGS, Arena};

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
pub(super) struct Checked {
    /// Bytes, a multiple of the quantum.
    pub(super) size: u64,
    /// Alignment: a power of two, at least the quantum.
    pub(super) align: u64,
    /// Offset from alignment, below `align`.
    pub(super) phase: u64,
    /// 0, or a power of two (at least the quantum) the allocation must not cross a multiple of.
    pub(super) nocross: u64,
    /// Lowest acceptable first address (inclusive).
    pub(super) minaddr: u64,
    /// Highest acceptable last address (inclusive).
    pub(super) maxaddr: u64,
}

impl Checked {
    /// A request of `size` bytes at `align` and nothing else (no phase, nocross or bounds):
    /// what the fast paths of `alloc` and `xalloc` place.
    #[inline(always)]
    pub(super) const fn sized(size: u64, align: u64) -> Checked {
        Checked {
            size,
            align,
            phase: 0,
            nocross: 0,
            minaddr: 0,
            maxaddr: u64::MAX,
        }
    }
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
    /// The tag limit ([`ArenaConfig::max_tags`]) is below [`MIN_TAGS`] or above [`MAX_TAGS`].
    BadTagLimit,
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
    /// The arena holds as many tags as its limit allows ([`ArenaConfig::max_tags`]).
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
    /// The arena holds as many tags as its limit allows ([`ArenaConfig::max_tags`]).
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
    /// The most boundary tags (spans + segments) the arena may hold, from [`MIN_TAGS`] to
    /// [`MAX_TAGS`]; past it, requests that need a new tag fail with `NoTags`. A kernel bounds
    /// an arena's bookkeeping this way; the tests use a small limit to reach that path.
    pub max_tags: usize,
}

impl ArenaConfig {
    /// A configuration with this quantum, on `arch`, importing in quanta, with room for
    /// [`MAX_TAGS`] tags.
    pub const fn new(quantum: u64, arch: Option<Arch>) -> ArenaConfig {
        ArenaConfig {
            quantum,
            arch,
            import_quantum: quantum,
            max_tags: MAX_TAGS,
        }
    }

    /// This configuration with a tag limit of `max_tags` (checked when the arena is made).
    pub const fn with_max_tags(self, max_tags: usize) -> ArenaConfig {
        ArenaConfig { max_tags, ..self }
    }
}
