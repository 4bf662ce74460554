//! # What an allocator claims, as data the oracle evaluates
//!
//! The contract of the module comment is vmem's. An allocator that is not vmem keeps part of
//! it, and says which part with values of this module, which the judges take as arguments:
//!
//! - [`PolicyClaim`]: per policy, how complete it is ([`Completeness`]) and whether it keeps the
//!   policy's placement rule (`exact`).
//! - [`Domain`]: which requests it accepts (alignments, sizes that are not multiples of the
//!   quantum, overconstrained requests); [`super::ArenaModel::check_request`] says what an
//!   accepted request is, and the error of one that is not.
//! - [`ImportRule`]: how big a span it imports from its source for a request.
//!
//! A partial completeness rule names a *derived request*: the request with its size rounded
//! up the way the allocator's documentation says (a power of two, a floating-point bin, a
//! granule and a header), and for a buddy block also aligned to that size. The claim is
//! "if the derived request has a placement in the level's own spans, the allocation
//! succeeds": a refusal is then a finding, every other refusal is the documented limitation.
//! All arithmetic is `u128`; a derived size above `u64::MAX` claims nothing.

/// How complete an allocator is for one policy: when a refusal ("no space") is a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completeness {
    /// Fails only when no placement exists, in its own spans or through an import (vmem).
    Full,
    /// No claim: any refusal is accepted; what it hands out is still judged in full.
    Unclaimed,
    /// Succeeds whenever the request's size rounded up to the next power of two has a
    /// placement with the request's constraints (illumos instant fit: a free segment at
    /// least that big).
    PowerOfTwoRun,
    /// Succeeds whenever the size rounded up to the next power of two has a placement
    /// aligned to that power of two (a buddy allocator: a free aligned block of that order),
    /// as long as that power of two is at most `max_block`. A request aligned to more takes
    /// a block as big as its alignment (a buddy block is aligned to its own size only).
    PowerOfTwoBlock {
        /// The largest block the allocator manages (bytes; a power of two).
        max_block: u64,
    },
    /// Succeeds whenever the size rounded up to a floating-point bin has a placement: sizes
    /// below `2^mantissa_bits` are exact, larger ones keep their top `mantissa_bits + 1` bits
    /// (offset-allocator: 3).
    FloatBin {
        /// Mantissa bits of the bins (at most 32).
        mantissa_bits: u32,
    },
    /// Succeeds whenever `max(roundup(size, granule), min) + slack` bytes have a placement
    /// (a heap that rounds sizes to its granule, has a smallest block, and needs `slack`
    /// bytes of header or alignment padding).
    Padded {
        /// What sizes are rounded up to (0 or 1: not rounded).
        granule: u64,
        /// The smallest block.
        min: u64,
        /// Bytes needed beyond the block.
        slack: u64,
    },
}

impl Completeness {
    /// The size the derived request asks for `size` (already rounded to the quantum), and
    /// the alignment it adds (1: none); `None` where the claim says nothing.
    pub fn derive(self, size: u128) -> Option<(u128, u128)> {
        let fits = |s: u128| (s <= u128::from(u64::MAX)).then_some(s);
        match self {
            Completeness::Full => Some((size, 1)),
            Completeness::Unclaimed => None,
            Completeness::PowerOfTwoRun => fits(size.next_power_of_two()).map(|s| (s, 1)),
            Completeness::PowerOfTwoBlock { max_block } => {
                let s = size.next_power_of_two();
                (s <= u128::from(max_block)).then_some((s, s))
            }
            Completeness::FloatBin { mantissa_bits } => {
                fits(float_bin_round_up(size, mantissa_bits.min(32))).map(|s| (s, 1))
            }
            Completeness::Padded {
                granule,
                min,
                slack,
            } => {
                let g = u128::from(granule.max(1));
                let s = size.div_ceil(g) * g;
                fits(s.max(u128::from(min)) + u128::from(slack)).map(|s| (s, 1))
            }
        }
    }
}

/// `size` rounded up to the next value that keeps only its top `mantissa_bits + 1`
/// significant bits (exact below `2^mantissa_bits`).
pub fn float_bin_round_up(size: u128, mantissa_bits: u32) -> u128 {
    let bits = 128 - size.leading_zeros();
    if bits <= mantissa_bits + 1 {
        return size;
    }
    let granule = 1u128 << (bits - mantissa_bits - 1);
    size.div_ceil(granule) * granule
}

/// What an allocator claims for one policy it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyClaim {
    /// When a refusal is a finding.
    pub completeness: Completeness,
    /// It returns exactly the placement the policy promises (FirstFit the lowest, ...);
    /// without it any placement is accepted.
    pub exact: bool,
    /// The completeness claim holds only while fewer than this many allocations are live at
    /// the level (a crate with a fixed number of nodes); `None`: always.
    pub max_live: Option<u64>,
}

impl PolicyClaim {
    /// vmem's: complete and exact.
    pub const FULL: PolicyClaim = PolicyClaim {
        completeness: Completeness::Full,
        exact: true,
        max_live: None,
    };

    /// Nothing beyond validity: any placement, any refusal.
    pub const VALID: PolicyClaim = PolicyClaim {
        completeness: Completeness::Unclaimed,
        exact: false,
        max_live: None,
    };

    /// Any placement, and the given completeness.
    pub const fn complete_as(completeness: Completeness) -> PolicyClaim {
        PolicyClaim {
            completeness,
            exact: false,
            max_live: None,
        }
    }
}

/// Which alignments an allocator accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlignRule {
    /// A power of two that is a multiple of the quantum (vmem); others are `BadAlign`.
    QuantumPowerOfTwo,
    /// Any power of two; one below the quantum is the quantum (every placement is a multiple
    /// of it). Others are `BadAlign`.
    PowerOfTwo,
    /// Any multiple of the quantum, a power of two or not (a crate whose alignment is any
    /// non-zero number of its units); others are `BadAlign`.
    QuantumMultiple,
}

/// The requests an allocator accepts (see [`super::ArenaModel::check_request`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Domain {
    /// Which alignments.
    pub align: AlignRule,
    /// The largest alignment accepted; above it, `BadAlign`.
    pub max_align: u64,
    /// The largest size accepted, after rounding up to the quantum; above it,
    /// `SizeOverflow` (a crate whose size argument is narrower than `u64`, e.g. a `u32`
    /// count of units, cannot be asked for more).
    pub max_size: u64,
    /// Sizes that are not a multiple of the quantum are accepted and rounded up; without it
    /// they are `BadSize`.
    pub unaligned_sizes: bool,
    /// A request no placement can satisfy for its nocross (vmem's "overconstrained") is
    /// refused as `Overconstrained`; without it, it is accepted and fails with `NoSpace`.
    pub refuses_overconstrained: bool,
}

impl Domain {
    /// vmem's domain.
    pub const VMEM: Domain = Domain {
        align: AlignRule::QuantumPowerOfTwo,
        max_align: 1 << 63,
        max_size: u64::MAX,
        unaligned_sizes: true,
        refuses_overconstrained: true,
    };
}

/// How many bytes a level imports from its source for a request of `size` bytes (rounded to
/// its quantum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportRule {
    /// `roundup(size, quantum)` if the source could serve that much, else exactly `size`
    /// (vmem with an import quantum; the quantum is the level's when equal).
    RoundUp {
        /// The import quantum (a multiple of the level's quantum).
        quantum: u64,
    },
    /// Exactly `size`.
    Exact,
    /// Any multiple of both quanta at least `size` (only validity is judged).
    AtLeast,
}
