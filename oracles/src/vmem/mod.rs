//! # The vmem oracle
//!
//! A model of a vmem arena ([`ArenaModel`]) as two sorted lists of half-open `u128`
//! intervals: the spans, and the live allocations. Nothing else: no free lists, no boundary
//! tags, no segments. Every question is answered by brute force over those lists, so the model
//! is slow (O(spans + live) per candidate) and obviously right. A stack of arenas, each
//! importing from the next, is a [`ChainModel`]: one such model per level.
//!
//! ## The contract it holds an arena to
//!
//! A **placement** for a request (size `s` rounded up to the quantum `q`, `align`, `phase`,
//! `nocross`, `minaddr`, `maxaddr`) is an address `a` such that:
//! `a % align == phase`; `minaddr <= a` and `a + s - 1 <= maxaddr` (both inclusive);
//! `[a, a + s)` lies inside one span; it overlaps no live allocation; and, if `nocross != 0`,
//! `a / nocross == (a + s - 1) / nocross`.
//!
//! - Every policy must return a placement, and must fail only if none exists (completeness).
//! - **FirstFit** must return the lowest placement.
//! - **BestFit** must return the lowest placement inside the smallest *free interval* (a
//!   maximal run of free addresses inside one span) that contains a placement; ties between
//!   equally small intervals go to the lowest.
//! - **NextFit** must return the lowest placement at or above the rotor, else the lowest
//!   placement; the rotor starts at 0 and becomes `a + s` after each NextFit success.
//! - **InstantFit** may return any placement.
//! - Exact allocation at `addr` succeeds iff `addr` (with alignment `q`) is a placement.
//!
//! Errors are predicted in a fixed order (the first that applies): for allocation
//! `ZeroSize`, `SizeOverflow` (rounded size above `u64::MAX`), `BadAlign` (not a power of two
//! or below the quantum; 0 means the quantum), `BadPhase` (not a multiple of `q`, or not below
//! the alignment), `BadNocross` (not 0 and not a power-of-two multiple of `q`), `BadBounds`
//! (`minaddr > maxaddr`), `Overconstrained` (`nocross != 0` and `align > nocross` or
//! `roundup(phase + s, align) > nocross`), then `NoSpace`. Exact allocation: `ZeroSize`,
//! `SizeOverflow`, `Misaligned` (`addr % q != 0`), `Wraps` (`addr + s - 1 > u64::MAX`),
//! `PastTop` (ends above the space's top), `NonCanonical` (touches or covers the hole), then
//! `NoSpace`. Free: `ZeroSize`, `BadFree` (no allocation starts at the address), `WrongSize`
//! (rounded size differs). Adding a span: `ZeroSize`, `Wraps`, `PastTop`, `NonCanonical`,
//! `Misaligned`, `Overlaps` (naming the overlapping span with the greatest start not above the
//! base, else the lowest one above it).
//!
//! ## Import and release, through a chain
//!
//! A [`ChainModel`] has 1 to [`MAX_LEVELS`] levels: level 0 is the arena allocations are made
//! from, level `i + 1` the *source* level `i` imports from (a quantum cache over an arena over
//! a source over a submap is four levels). The contract holds at every level alike:
//!
//! - A level may import a span only when the request has no placement in its own spans, and at
//!   most one per request; the span must be free in the source, lie in a source span, be a
//!   multiple of both quanta, and be `roundup(s, import quantum)` bytes if the source *could
//!   serve* that much (with the request's constraints, aligned to at least the importing
//!   level's quantum), else exactly `s`. The level's answer is then judged in the new state.
//! - The source serves an import as an allocation of its own (any placement will do): when it
//!   has no placement for it, it imports in turn from its source under the same rules (a
//!   *cascade*, at most one import per level per request). So a source could serve a request
//!   if it has a placement, or if its own source could serve the request exactly (whatever a
//!   rounded-up import finds, the exact one finds too); a level that imports although the
//!   level above imported nothing breaks the contract.
//! - A failing request is complete only if the source could not serve it either.
//! - An imported span is released (freed in its source) as soon as no allocation lies in it;
//!   that free may leave the source's own imported span holding nothing, which it releases to
//!   its source in turn, and so on down. The model does that itself, and the harness compares
//!   every level's spans with the model's after every operation.
//!
//! A lone [`ArenaModel`] is a chain of one level: it has no source, and an import is a
//! broken contract.

use std::fmt;

mod arena;
mod chain;
mod claims;
mod placement;

pub use chain::ChainModel;
pub use claims::{float_bin_round_up, AlignRule, Completeness, Domain, ImportRule, PolicyClaim};

/// The most levels a [`ChainModel`] has: an arena and three sources below it.
pub const MAX_LEVELS: usize = 4;

/// An allocation policy (the arena's policies, by contract above).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Any placement.
    InstantFit,
    /// Lowest placement in the smallest fitting free interval.
    BestFit,
    /// Lowest placement.
    FirstFit,
    /// Lowest placement at or above the rotor, else lowest.
    NextFit,
}

/// A request, in plain integers (see the module comment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Bytes.
    pub size: u64,
    /// Alignment; 0 means the quantum.
    pub align: u64,
    /// `a % align == phase`.
    pub phase: u64,
    /// 0 or the boundary not to cross.
    pub nocross: u64,
    /// Lowest first byte (inclusive).
    pub minaddr: u64,
    /// Highest last byte (inclusive).
    pub maxaddr: u64,
}

/// Predicted allocation error kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocErrorKind {
    /// Size 0.
    ZeroSize,
    /// Rounded size above `u64::MAX`.
    SizeOverflow,
    /// Bad alignment.
    BadAlign,
    /// Bad phase.
    BadPhase,
    /// Bad nocross.
    BadNocross,
    /// `minaddr > maxaddr`.
    BadBounds,
    /// No placement can exist.
    Overconstrained,
    /// Exact address not a multiple of the quantum.
    Misaligned,
    /// Exact range wraps past `u64::MAX`.
    Wraps,
    /// Exact range ends above the top of the space.
    PastTop,
    /// Exact range touches or covers the non-canonical hole.
    NonCanonical,
    /// Size not a multiple of the quantum, where the allocator's [`Domain`] requires one.
    BadSize,
    /// No placement.
    NoSpace,
}

/// Predicted free error kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeErrorKind {
    /// Size 0.
    ZeroSize,
    /// No allocation starts there.
    BadFree,
    /// The allocation there has another size (the allocated size, rounded).
    WrongSize(u64),
}

/// Predicted add-span error kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanErrorKind {
    /// Size 0.
    ZeroSize,
    /// `base + size - 1 > u64::MAX`.
    Wraps,
    /// Ends above the top of the space.
    PastTop,
    /// Touches or crosses the canonical hole.
    NonCanonical,
    /// Base or size not a multiple of the quantum.
    Misaligned,
    /// Overlaps the span starting here.
    Overlaps(u64),
}

/// Predicted errors of growing a span (extending it at its end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrowErrorKind {
    /// No span the caller added starts at the address (imported spans are not the caller's).
    NoSpan,
    /// What adding the new tail `[end, end + by)` as a span would be refused with.
    Tail(SpanErrorKind),
}

/// A disagreement between an arena and the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// The arena answered an error the model did not predict, or vice versa.
    Outcome {
        /// What the model predicted (as text).
        expected: String,
        /// What the arena did (as text).
        actual: String,
    },
    /// The returned address is not a placement.
    NotAPlacement {
        /// The address.
        addr: u64,
        /// Which rule it breaks.
        why: &'static str,
    },
    /// The arena failed although this placement exists.
    Incomplete {
        /// A placement the model found.
        placement: u64,
    },
    /// The arena returned a placement, but not the one its policy promises.
    PolicyBroken {
        /// The policy.
        policy: Policy,
        /// The placement the policy promises.
        expected: u64,
        /// What the arena returned.
        actual: u64,
    },
    /// An import the contract forbids, or an imported span that is not acceptable.
    BadImport {
        /// Why.
        why: String,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Outcome { expected, actual } => {
                write!(f, "expected {expected}, got {actual}")
            }
            Mismatch::NotAPlacement { addr, why } => {
                write!(f, "{addr:#x} is not a placement: {why}")
            }
            Mismatch::Incomplete { placement } => {
                write!(f, "failed although {placement:#x} is a placement")
            }
            Mismatch::PolicyBroken {
                policy,
                expected,
                actual,
            } => write!(f, "{policy:?} promises {expected:#x}, got {actual:#x}"),
            Mismatch::BadImport { why } => write!(f, "bad import: {why}"),
        }
    }
}

/// The address space a model lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Space {
    /// Highest address (inclusive).
    pub top: u64,
    /// For x86_64 spaces: the number of canonical bits (48 or 57); addresses from
    /// `2^(bits-1)` to `2^64 - 2^(bits-1) - 1` do not exist. `None`: no hole.
    pub canonical_bits: Option<u32>,
}

impl Space {
    fn in_hole(&self, a: u128) -> bool {
        match self.canonical_bits {
            None => false,
            Some(b) => {
                let half = 1u128 << (b - 1);
                a >= half && a < (1u128 << 64) - half
            }
        }
    }

    /// The add-span verdict for `[base, base + size)` on this space, before alignment and
    /// overlap are considered.
    fn check(&self, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        let (b, s) = (u128::from(base), u128::from(size));
        if s == 0 {
            return Err(SpanErrorKind::ZeroSize);
        }
        let last = b + s - 1;
        if last > u128::from(u64::MAX) {
            return Err(SpanErrorKind::Wraps);
        }
        if last > u128::from(self.top) {
            return Err(SpanErrorKind::PastTop);
        }
        // Non-canonical if either end is in the hole, or the range spans it.
        if let Some(bits) = self.canonical_bits {
            let half = 1u128 << (bits - 1);
            if self.in_hole(b) || self.in_hole(last) || (b < half && last >= half) {
                return Err(SpanErrorKind::NonCanonical);
            }
        }
        Ok(())
    }
}

/// A span of the model: `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SpanRec {
    start: u128,
    end: u128,
    imported: bool,
}

/// A validated request, in u128.
#[derive(Clone, Copy, Debug)]
struct Norm {
    size: u128,
    align: u128,
    phase: u128,
    nocross: u128,
    min: u128,
    max: u128,
}

/// The naive model of one arena (one level of a [`ChainModel`]).
#[derive(Clone, Debug)]
pub struct ArenaModel {
    quantum: u128,
    space: Space,
    spans: Vec<SpanRec>,
    /// Live allocations `[start, end)`, sorted by start.
    live: Vec<(u128, u128)>,
    rotor: u128,
    /// How big a span it imports for a request ([`ImportRule::RoundUp`] to the quantum unless
    /// set).
    import: ImportRule,
    /// The requests it accepts ([`Domain::VMEM`] unless set).
    domain: Domain,
    /// How complete it is when serving an import for the level above
    /// ([`Completeness::Full`] unless set: vmem's; a source that serves imports by instant
    /// fit promises only [`Completeness::PowerOfTwoRun`]).
    serves_imports: Completeness,
    /// Spans imported, and released, over the model's life.
    imports: u64,
    releases: u64,
}

/// What an arena's counters must read, as [`ArenaModel::counts`] derives them from the spans
/// and the live allocations alone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Sum of span sizes.
    pub total: u128,
    /// Sum of live allocation sizes.
    pub in_use: u128,
    /// `total - in_use`.
    pub free: u128,
    /// Number of spans (static and imported).
    pub spans: usize,
    /// Number of imported spans.
    pub imported_spans: usize,
    /// Number of live allocations.
    pub allocated: usize,
    /// Number of free runs: maximal runs of free addresses inside one span (a coalescing
    /// arena has exactly one free segment per run; runs in two spans are never joined).
    pub free_runs: usize,
    /// Size of the largest free run (0 if none).
    pub largest_free: u128,
    /// Spans imported over the arena's life.
    pub imports: u64,
    /// Imported spans released over the arena's life.
    pub releases: u64,
}

fn round_up(x: u128, q: u128) -> u128 {
    x.div_ceil(q) * q
}

fn is_pow2(x: u128) -> bool {
    x.count_ones() == 1
}

/// The smallest `x >= from` with `x % align == phase`.
fn next_candidate(from: u128, align: u128, phase: u128) -> u128 {
    let base = from - from % align + phase;
    if base >= from {
        base
    } else {
        base + align
    }
}

#[cfg(test)]
mod tests;
