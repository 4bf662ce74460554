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

mod claims;

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

impl ArenaModel {
    /// A model of an empty arena with quantum `quantum` on `space`.
    pub fn new(quantum: u64, space: Space) -> ArenaModel {
        ArenaModel {
            quantum: u128::from(quantum),
            space,
            spans: Vec::new(),
            live: Vec::new(),
            rotor: 0,
            import: ImportRule::RoundUp { quantum },
            domain: Domain::VMEM,
            serves_imports: Completeness::Full,
            imports: 0,
            releases: 0,
        }
    }

    /// A model of an arena that rounds what it imports up to `import_quantum` (a multiple of
    /// `quantum`), for a level of a [`ChainModel`] above its source.
    pub fn importing(quantum: u64, import_quantum: u64, space: Space) -> ArenaModel {
        ArenaModel::new(quantum, space).with_import(ImportRule::RoundUp {
            quantum: import_quantum,
        })
    }

    /// The same model importing by `rule` (for a level above its source).
    pub fn with_import(self, rule: ImportRule) -> ArenaModel {
        ArenaModel {
            import: rule,
            ..self
        }
    }

    /// The same model accepting the requests of `domain` ([`ArenaModel::check_request`]).
    pub fn with_domain(self, domain: Domain) -> ArenaModel {
        ArenaModel { domain, ..self }
    }

    /// The same model promising only `completeness` when it serves an import for the level
    /// above: a refusal of the import is then a finding only where that rule's derived
    /// request has a placement ([`Completeness::derive`]).
    pub fn with_import_completeness(self, completeness: Completeness) -> ArenaModel {
        ArenaModel {
            serves_imports: completeness,
            ..self
        }
    }

    /// The quantum (every size, alignment and span is a multiple of it).
    pub fn quantum(&self) -> u64 {
        self.quantum as u64
    }

    /// Spans as `(start, last, imported)`, by address.
    pub fn spans(&self) -> Vec<(u64, u64, bool)> {
        self.spans
            .iter()
            .map(|s| (s.start as u64, (s.end - 1) as u64, s.imported))
            .collect()
    }

    /// Live allocations as `(start, last)`, by address.
    pub fn live(&self) -> Vec<(u64, u64)> {
        self.live
            .iter()
            .map(|&(s, e)| (s as u64, (e - 1) as u64))
            .collect()
    }

    /// Live allocations as [`ArenaModel::live`] lists them, but with allocations that touch
    /// merged into one run (what an allocator that does not keep allocations apart lists).
    pub fn live_merged(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u128, u128)> = Vec::new();
        for &(s, e) in &self.live {
            match out.last_mut() {
                Some(last) if last.1 == s => last.1 = e,
                _ => out.push((s, e)),
            }
        }
        out.into_iter()
            .map(|(s, e)| (s as u64, (e - 1) as u64))
            .collect()
    }

    /// Number of live allocations.
    pub fn live_count(&self) -> usize {
        self.live.len()
    }

    /// The live allocation starting at `addr`, as `(start, last)`.
    pub fn live_at(&self, addr: u64) -> Option<(u64, u64)> {
        let a = u128::from(addr);
        self.live
            .iter()
            .find(|&&(s, _)| s == a)
            .map(|&(s, e)| (s as u64, (e - 1) as u64))
    }

    /// Sum of span sizes.
    pub fn total(&self) -> u128 {
        self.spans.iter().map(|s| s.end - s.start).sum()
    }

    /// Sum of live sizes.
    pub fn in_use(&self) -> u128 {
        self.live.iter().map(|&(s, e)| e - s).sum()
    }

    /// `true` iff `addr` lies in a span: the last span starting at or below it (spans are
    /// sorted and disjoint) ends above it.
    pub fn contains(&self, addr: u64) -> bool {
        let a = u128::from(addr);
        let above = self.spans.partition_point(|s| s.start <= a);
        above > 0 && a < self.spans[above - 1].end
    }

    /// The counters, from the spans and live allocations by brute force: each span's free
    /// runs are the gaps between the allocations inside it.
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            total: self.total(),
            in_use: self.in_use(),
            spans: self.spans.len(),
            imported_spans: self.spans.iter().filter(|s| s.imported).count(),
            allocated: self.live.len(),
            imports: self.imports,
            releases: self.releases,
            ..Counts::default()
        };
        c.free = c.total - c.in_use;
        // Both lists are sorted and every allocation lies in a span: one pass over each.
        let mut live = self.live.iter().peekable();
        for sp in &self.spans {
            let mut cursor = sp.start;
            while let Some(&(s, e)) = live.next_if(|&&(s, _)| s < sp.end) {
                if s > cursor {
                    c.free_runs += 1;
                    c.largest_free = c.largest_free.max(s - cursor);
                }
                cursor = cursor.max(e);
            }
            if sp.end > cursor {
                c.free_runs += 1;
                c.largest_free = c.largest_free.max(sp.end - cursor);
            }
        }
        c
    }

    // ---- spans ----------------------------------------------------------------------------

    /// What adding `[base, base + size)` must do.
    pub fn predict_add_span(&self, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        self.space.check(base, size)?;
        let (b, s) = (u128::from(base), u128::from(size));
        if b % self.quantum != 0 || s % self.quantum != 0 {
            return Err(SpanErrorKind::Misaligned);
        }
        let end = b + s;
        let at_or_below = self
            .spans
            .iter()
            .filter(|sp| sp.start <= b && sp.end > b)
            .max_by_key(|sp| sp.start);
        if let Some(sp) = at_or_below {
            return Err(SpanErrorKind::Overlaps(sp.start as u64));
        }
        let above = self
            .spans
            .iter()
            .filter(|sp| sp.start > b && sp.start < end)
            .min_by_key(|sp| sp.start);
        if let Some(sp) = above {
            return Err(SpanErrorKind::Overlaps(sp.start as u64));
        }
        Ok(())
    }

    /// What growing the span starting at `start` by `by` bytes at its end must do: the span
    /// must be one the caller added, and its new tail `[end, end + by)` must be what
    /// [`ArenaModel::predict_add_span`] accepts (it touches the span, which is no overlap).
    pub fn predict_grow(&self, start: u64, by: u64) -> Result<(), GrowErrorKind> {
        let s = u128::from(start);
        let span = self
            .spans
            .iter()
            .find(|sp| sp.start == s && !sp.imported)
            .ok_or(GrowErrorKind::NoSpan)?;
        let end = u64::try_from(span.end).map_err(|_| GrowErrorKind::Tail(SpanErrorKind::Wraps))?;
        self.predict_add_span(end, by).map_err(GrowErrorKind::Tail)
    }

    /// Grows the span starting at `start` by `by` bytes (after [`ArenaModel::predict_grow`]
    /// said yes).
    pub fn grow(&mut self, start: u64, by: u64) {
        let s = u128::from(start);
        if let Some(span) = self.spans.iter_mut().find(|sp| sp.start == s) {
            span.end += u128::from(by);
        }
    }

    /// Adds a static span (after [`ArenaModel::predict_add_span`] said yes).
    pub fn add_span(&mut self, base: u64, size: u64) {
        self.insert_span(u128::from(base), u128::from(size), false);
    }

    fn insert_span(&mut self, start: u128, size: u128, imported: bool) {
        self.spans.push(SpanRec {
            start,
            end: start + size,
            imported,
        });
        self.spans.sort_by_key(|s| s.start);
    }

    // ---- requests -------------------------------------------------------------------------

    /// Whether the allocator accepts `r` (its [`Domain`]): `Ok` for a request it must
    /// answer with a placement or `NoSpace`, else the error it must give (the first of the
    /// module comment's order that applies).
    pub fn check_request(&self, r: &Request) -> Result<(), AllocErrorKind> {
        self.normalize(r).map(|_| ())
    }

    fn normalize(&self, r: &Request) -> Result<Norm, AllocErrorKind> {
        let q = self.quantum;
        let d = &self.domain;
        if r.size == 0 {
            return Err(AllocErrorKind::ZeroSize);
        }
        if !d.unaligned_sizes && u128::from(r.size) % q != 0 {
            return Err(AllocErrorKind::BadSize);
        }
        let size = round_up(u128::from(r.size), q);
        if size > u128::from(d.max_size) {
            return Err(AllocErrorKind::SizeOverflow);
        }
        let align = if r.align == 0 { q } else { u128::from(r.align) };
        let accepted = match d.align {
            AlignRule::QuantumPowerOfTwo => is_pow2(align) && align % q == 0,
            AlignRule::PowerOfTwo => is_pow2(align),
            AlignRule::QuantumMultiple => align % q == 0,
        };
        if !accepted || align > u128::from(d.max_align).max(q) {
            return Err(AllocErrorKind::BadAlign);
        }
        // Below the quantum (where the domain accepts it): every placement is a multiple of
        // the quantum, so the alignment is the quantum's.
        let align = align.max(q);
        let phase = u128::from(r.phase);
        if phase % q != 0 || phase >= align {
            return Err(AllocErrorKind::BadPhase);
        }
        let nocross = u128::from(r.nocross);
        if nocross != 0 && (!is_pow2(nocross) || nocross % q != 0) {
            return Err(AllocErrorKind::BadNocross);
        }
        if r.minaddr > r.maxaddr {
            return Err(AllocErrorKind::BadBounds);
        }
        if d.refuses_overconstrained
            && nocross != 0
            && (align > nocross || round_up(phase + size, align) > nocross)
        {
            return Err(AllocErrorKind::Overconstrained);
        }
        Ok(Norm {
            size,
            align,
            phase,
            nocross,
            min: u128::from(r.minaddr),
            max: u128::from(r.maxaddr),
        })
    }

    /// Why `a` is not a placement for `n`, or `None` if it is.
    fn violation(&self, a: u128, n: &Norm) -> Option<&'static str> {
        let end = a + n.size;
        if a % n.align != n.phase {
            return Some("misaligned (align/phase)");
        }
        if a < n.min {
            return Some("below minaddr");
        }
        if end - 1 > n.max {
            return Some("above maxaddr");
        }
        if !self.spans.iter().any(|s| s.start <= a && end <= s.end) {
            return Some("not inside one span");
        }
        if self.live.iter().any(|&(s, e)| s < end && a < e) {
            return Some("overlaps a live allocation");
        }
        if n.nocross != 0 && a / n.nocross != (end - 1) / n.nocross {
            return Some("crosses a nocross boundary");
        }
        None
    }

    /// The lowest placement at or above `from`. Candidates are visited in increasing order;
    /// after a rejected candidate the scan jumps to the first address that is not rejected
    /// for the same reason (the end of the blocking allocation, the next span, the next
    /// nocross boundary), then to the next aligned candidate.
    fn lowest_from(&self, from: u128, n: &Norm) -> Option<u128> {
        let mut a = next_candidate(from.max(n.min), n.align, n.phase);
        while a + n.size - 1 <= n.max.min(u128::from(u64::MAX)) {
            let end = a + n.size;
            let jump = if let Some(&(_, e)) = self.live.iter().find(|&&(s, e)| s < end && a < e) {
                e
            } else if let Some(s) = self.spans.iter().find(|s| s.start <= a && a < s.end) {
                if end <= s.end {
                    if n.nocross != 0 && a / n.nocross != (end - 1) / n.nocross {
                        (a / n.nocross + 1) * n.nocross
                    } else {
                        return Some(a);
                    }
                } else {
                    s.end
                }
            } else {
                self.spans
                    .iter()
                    .filter(|s| s.start > a)
                    .map(|s| s.start)
                    .min()?
            };
            a = next_candidate(jump.max(a + 1), n.align, n.phase);
        }
        None
    }

    /// Maximal free runs `[start, end)` inside spans, by address.
    fn free_intervals(&self) -> Vec<(u128, u128)> {
        let mut out = Vec::new();
        for s in &self.spans {
            let mut cur = s.start;
            for &(ls, le) in self
                .live
                .iter()
                .filter(|&&(ls, _)| ls >= s.start && ls < s.end)
            {
                if ls > cur {
                    out.push((cur, ls));
                }
                cur = le;
            }
            if cur < s.end {
                out.push((cur, s.end));
            }
        }
        out
    }

    /// The placement `policy` promises (`None` for "none exists"); for InstantFit, the lowest.
    fn promised(&self, n: &Norm, policy: Policy) -> Option<u128> {
        match policy {
            Policy::InstantFit | Policy::FirstFit => self.lowest_from(0, n),
            Policy::NextFit => self
                .lowest_from(self.rotor, n)
                .or_else(|| self.lowest_from(0, n)),
            Policy::BestFit => {
                let mut best: Option<(u128, u128, u128)> = None; // (size, start, placement)
                for (s, e) in self.free_intervals() {
                    if e - s < n.size {
                        continue;
                    }
                    if let Some(a) = self.lowest_from(s, n).filter(|&a| a + n.size <= e) {
                        if best.is_none_or(|(bs, bst, _)| (e - s, s) < (bs, bst)) {
                            best = Some((e - s, s, a));
                        }
                    }
                }
                best.map(|(_, _, a)| a)
            }
        }
    }

    /// The answer `policy` must give to `req`, ignoring any source (no import). For
    /// InstantFit, which may return any placement, this is the lowest one: a correct answer,
    /// not the only one.
    pub fn predict_alloc(&self, req: &Request, policy: Policy) -> Result<u64, AllocErrorKind> {
        let n = self.normalize(req)?;
        self.promised(&n, policy)
            .map(|a| a as u64)
            .ok_or(AllocErrorKind::NoSpace)
    }

    /// Judges the answer to `req` with `policy`. `imported` lists the spans the arena
    /// imported while serving it (`(start, last)`): a lone model has no source, so any is a
    /// broken contract. On agreement, the model is updated.
    pub fn judge_alloc(
        &mut self,
        req: &Request,
        policy: Policy,
        imported: &[(u64, u64)],
        actual: Result<u64, AllocErrorKind>,
    ) -> Result<(), Mismatch> {
        self.judge_alloc_with(req, policy, imported, actual, true)
    }

    /// [`ArenaModel::judge_alloc`] for an arena that is `complete` or not. An incomplete one
    /// may fail although a placement exists (here or, by importing, in the source) and may
    /// import although one exists here; what it hands out and imports is judged as usual.
    pub fn judge_alloc_with(
        &mut self,
        req: &Request,
        policy: Policy,
        imported: &[(u64, u64)],
        actual: Result<u64, AllocErrorKind>,
        complete: bool,
    ) -> Result<(), Mismatch> {
        judge_in(
            std::slice::from_mut(self),
            0,
            req,
            policy,
            &[imported],
            actual,
            claim_of(complete),
        )
    }

    /// The size of a span imported from `sources` for `req` (normalized as `n`), by the
    /// level's [`ImportRule`]: for [`ImportRule::RoundUp`], `roundup(size, import quantum)` if
    /// the sources could serve that much (with the request's constraints, aligned to at least
    /// this arena's quantum), else exactly the size. The error says why not.
    fn check_import_size(
        &self,
        sources: &[ArenaModel],
        req: &Request,
        n: &Norm,
        got: u128,
    ) -> Result<(), String> {
        if sources.is_empty() {
            return Ok(()); // accept_imports reports it
        }
        let iq = match self.import {
            ImportRule::RoundUp { quantum } => u128::from(quantum),
            ImportRule::Exact if got != n.size => {
                return Err(format!(
                    "imported {got:#x} bytes for a request of {:#x}: expected exactly that",
                    n.size
                ));
            }
            ImportRule::AtLeast if got < n.size => {
                return Err(format!(
                    "imported {got:#x} bytes for a request of {:#x}: expected at least that",
                    n.size
                ));
            }
            ImportRule::Exact | ImportRule::AtLeast => return Ok(()),
        };
        let rounded = round_up(n.size, iq);
        let want = if rounded <= u128::from(u64::MAX)
            && could_serve(sources, &import_request(req, n, rounded)).is_some()
        {
            rounded
        } else {
            n.size
        };
        if got != want {
            return Err(format!(
                "imported {got:#x} bytes for a request of {:#x}: expected {want:#x} \
                 (roundup to the import quantum {iq:#x} if the source had room for it, \
                 else exactly the size)",
                n.size
            ));
        }
        Ok(())
    }

    /// Frees the allocation at `a`; if that leaves an imported span holding nothing, drops
    /// the span (a release) and returns its start, for the source to free in turn.
    fn free_here(&mut self, a: u128) -> Option<u128> {
        self.live.retain(|&(s, _)| s != a);
        let idle = self.spans.iter().position(|sp| {
            sp.imported
                && sp.start <= a
                && a < sp.end
                && !self.live.iter().any(|&(s, _)| sp.start <= s && s < sp.end)
        })?;
        self.releases += 1;
        Some(self.spans.remove(idle).start)
    }
    /// Judges an exact-address allocation of `size` bytes at `addr`; updates the model.
    pub fn judge_alloc_at(
        &mut self,
        addr: u64,
        size: u64,
        actual: Result<u64, AllocErrorKind>,
    ) -> Result<(), Mismatch> {
        let expected = self.predict_alloc_at(addr, size);
        if expected != actual {
            return Err(Mismatch::Outcome {
                expected: format!("{expected:x?}"),
                actual: format!("{actual:x?}"),
            });
        }
        if let Ok(a) = actual {
            let s = round_up(u128::from(size), self.quantum);
            self.live.push((u128::from(a), u128::from(a) + s));
            self.live.sort_unstable();
        }
        Ok(())
    }

    /// The answer exact allocation of `size` bytes at `addr` must give.
    pub fn predict_alloc_at(&self, addr: u64, size: u64) -> Result<u64, AllocErrorKind> {
        let q = self.quantum;
        if size == 0 {
            return Err(AllocErrorKind::ZeroSize);
        }
        let s = round_up(u128::from(size), q);
        if s > u128::from(u64::MAX) {
            return Err(AllocErrorKind::SizeOverflow);
        }
        let a = u128::from(addr);
        if a % q != 0 {
            return Err(AllocErrorKind::Misaligned);
        }
        if a + s - 1 > u128::from(u64::MAX) {
            return Err(AllocErrorKind::Wraps);
        }
        match self.space.check(addr, s as u64) {
            Err(SpanErrorKind::PastTop) => return Err(AllocErrorKind::PastTop),
            Err(SpanErrorKind::NonCanonical) => return Err(AllocErrorKind::NonCanonical),
            _ => {}
        }
        let n = Norm {
            size: s,
            align: q,
            phase: 0,
            nocross: 0,
            min: 0,
            max: u128::from(u64::MAX),
        };
        match self.violation(a, &n) {
            None => Ok(addr),
            Some(_) => Err(AllocErrorKind::NoSpace),
        }
    }

    /// What freeing `size` bytes at `addr` must do.
    pub fn predict_free(&self, addr: u64, size: u64) -> Result<(), FreeErrorKind> {
        if size == 0 {
            return Err(FreeErrorKind::ZeroSize);
        }
        let a = u128::from(addr);
        let Some(&(s, e)) = self.live.iter().find(|&&(s, _)| s == a) else {
            return Err(FreeErrorKind::BadFree);
        };
        if round_up(u128::from(size), self.quantum) != e - s {
            return Err(FreeErrorKind::WrongSize((e - s) as u64));
        }
        Ok(())
    }

    /// Frees the allocation at `addr` (after [`ArenaModel::predict_free`] said yes). (In a
    /// chain, [`ChainModel::free`] also releases a span this leaves holding nothing.)
    pub fn free(&mut self, addr: u64) {
        self.free_here(u128::from(addr));
    }
}

/// The request a span of `size` bytes is imported with, for a request `req` normalized as
/// `n` by the importing level: the request's own constraints, aligned to at least that
/// level's quantum.
fn import_request(req: &Request, n: &Norm, size: u128) -> Request {
    Request {
        size: size as u64,
        align: n.align as u64,
        ..*req
    }
}

/// Whether the chain `sources` (a source, then its own sources) could serve `w`: a
/// placement `(k, p)` in `sources[k]`, from the source's own spans, or else through an import
/// of exactly that much from the next level (the weakest ask: whatever a rounded-up import
/// finds, the exact one finds too).
fn could_serve(sources: &[ArenaModel], w: &Request) -> Option<(usize, u128)> {
    let (src, further) = sources.split_first()?;
    let sn = src.normalize(w).ok()?;
    // What the source promises for an import: its own spans hold the derived request.
    let promised = src
        .serves_imports
        .derive(sn.size)
        .and_then(|(size, align)| {
            let align = sn.align.max(align);
            let dn = Norm {
                size,
                align,
                phase: sn.phase % align,
                ..sn
            };
            src.lowest_from(0, &dn)
        });
    if let Some(p) = promised {
        return Some((0, p));
    }
    if src.serves_imports != Completeness::Full {
        // Its further sources are asked only by its own import, under its own rule: a
        // partial promise says nothing about them.
        return None;
    }
    could_serve(further, &import_request(w, &sn, sn.size)).map(|(k, p)| (k + 1, p))
}

/// [`ArenaModel::judge_alloc_with`]'s `complete` as a claim: vmem's, or no completeness (the
/// policy's placement rule still held).
fn claim_of(complete: bool) -> PolicyClaim {
    if complete {
        PolicyClaim::FULL
    } else {
        PolicyClaim {
            completeness: Completeness::Unclaimed,
            ..PolicyClaim::FULL
        }
    }
}

/// What the imports of one request are judged against: the spans each level imported while
/// serving it, and whether the allocator claims completeness.
struct Cascade<'a, I> {
    /// The level the request was made at.
    top: usize,
    /// `imported[k]`: the spans level `top + k` imported (`(start, last)`; lists past the end
    /// are empty).
    imported: &'a [I],
    /// Whether it claims [`Completeness::Full`] for this request (an import is then allowed
    /// only without a placement).
    complete: bool,
}

impl<I: AsRef<[(u64, u64)]>> Cascade<'_, I> {
    /// The spans level `at` imported.
    fn at(&self, at: usize) -> &[(u64, u64)] {
        self.imported.get(at - self.top).map_or(&[], AsRef::as_ref)
    }
}

/// Judges `levels[0]`'s answer to `req` with `policy`, `levels[1..]` being its sources, and
/// `at` its index in the chain, against the imports of `imported` (see [`Cascade`]). On
/// agreement, the models are updated.
fn judge_in<I: AsRef<[(u64, u64)]>>(
    levels: &mut [ArenaModel],
    at: usize,
    req: &Request,
    policy: Policy,
    imported: &[I],
    actual: Result<u64, AllocErrorKind>,
    claim: PolicyClaim,
) -> Result<(), Mismatch> {
    let (this, sources) = levels
        .split_first_mut()
        .expect("a chain has at least one level");
    let n = match this.normalize(req) {
        Ok(n) => n,
        Err(kind) => {
            return match actual {
                Err(k) if k == kind => Ok(()),
                other => Err(Mismatch::Outcome {
                    expected: format!("{kind:?}"),
                    actual: format!("{other:x?}"),
                }),
            };
        }
    };
    let here = this.promised(&n, policy);
    // A claim bounded by the number of live allocations holds only below it.
    let completeness = match claim.max_live {
        Some(max) if this.live.len() as u128 >= u128::from(max) => Completeness::Unclaimed,
        _ => claim.completeness,
    };
    let complete = completeness == Completeness::Full;
    let cascade = Cascade {
        top: at,
        imported,
        complete,
    };
    let reached = accept_imports(this, sources, at, req, &n, here, &cascade)?;
    // Levels `at..at + reached` imported, one for the next; a deeper import serves nothing.
    let unexplained = (reached + 1..imported.len()).find(|&k| !cascade.at(at + k).is_empty());
    if let Some(k) = unexplained {
        let (s, l) = cascade.at(at + k)[0];
        return Err(Mismatch::BadImport {
            why: format!(
                "level {} imported [{s:#x}, {l:#x}] although level {} imported nothing",
                at + k,
                at + k - 1
            ),
        });
    }
    let promised = if reached > 0 {
        this.promised(&n, policy)
    } else {
        here
    };
    match actual {
        Ok(a) => {
            let a128 = u128::from(a);
            if let Some(why) = this.violation(a128, &n) {
                return Err(Mismatch::NotAPlacement { addr: a, why });
            }
            if claim.exact && policy != Policy::InstantFit && promised != Some(a128) {
                return Err(Mismatch::PolicyBroken {
                    policy,
                    expected: promised.unwrap_or(0) as u64,
                    actual: a,
                });
            }
            this.live.push((a128, a128 + n.size));
            this.live.sort_unstable();
            if policy == Policy::NextFit {
                this.rotor = a128 + n.size;
            }
            Ok(())
        }
        Err(AllocErrorKind::NoSpace) if !complete => {
            // A partial claim: the derived request (claims.rs) has no placement here.
            let derived = completeness.derive(n.size).and_then(|(size, align)| {
                let align = n.align.max(align);
                // A buddy block is as big as its alignment: an aligned request takes a block
                // of the larger of its rounded size and its alignment.
                let size = match completeness {
                    Completeness::PowerOfTwoBlock { max_block } if align > size => {
                        (align <= u128::from(max_block)).then_some(align)?
                    }
                    _ => size,
                };
                let dn = Norm {
                    size,
                    align,
                    phase: n.phase % align,
                    ..n
                };
                this.lowest_from(0, &dn)
            });
            match derived {
                Some(p) => Err(Mismatch::Incomplete {
                    placement: p as u64,
                }),
                None => Ok(()),
            }
        }
        Err(AllocErrorKind::NoSpace) => {
            if let Some(p) = promised {
                return Err(Mismatch::Incomplete {
                    placement: p as u64,
                });
            }
            // The arena imports with the request's own constraints, aligned to at least the
            // arena's quantum; the sources must have had nothing for exactly this request.
            match could_serve(sources, &import_request(req, &n, n.size)) {
                Some((0, p)) => Err(Mismatch::BadImport {
                    why: format!("failed without importing although the source had {p:#x}"),
                }),
                Some((k, p)) => Err(Mismatch::BadImport {
                    why: format!(
                        "failed without importing although level {} had {p:#x} for the \
                         source to import",
                        at + 1 + k
                    ),
                }),
                None => Ok(()),
            }
        }
        Err(k) => Err(Mismatch::Outcome {
            expected: match promised {
                Some(p) => format!("a placement such as {p:#x}"),
                None => "NoSpace".into(),
            },
            actual: format!("{k:?}"),
        }),
    }
}

/// Judges and accepts the imports made while `this` (level `at` of the chain, `sources`
/// below it) served `req`, normalized as `n`, with placement `here` in its own spans before.
/// `this` imports at most one span, only without a placement, of the size the contract says;
/// its source serves that span as an allocation of its own, importing in turn by the same
/// rules (judged here, recursively). Verdicts about a level serving an import for the level
/// above it name the level. Returns how many levels imported, from `this` down (0: none).
fn accept_imports<I: AsRef<[(u64, u64)]>>(
    this: &mut ArenaModel,
    sources: &mut [ArenaModel],
    at: usize,
    req: &Request,
    n: &Norm,
    here: Option<u128>,
    cascade: &Cascade<'_, I>,
) -> Result<usize, Mismatch> {
    let bad = |why: String| {
        Err(Mismatch::BadImport {
            why: if at == cascade.top {
                why
            } else {
                format!("level {at}: {why}")
            },
        })
    };
    let mine = cascade.at(at);
    let Some(&(s, l)) = mine.first() else {
        return Ok(0);
    };
    if let Some(p) = here.filter(|_| cascade.complete) {
        return bad(format!("imported although {p:#x} was a placement"));
    }
    if mine.len() > 1 {
        return bad(format!("{} spans imported for one request", mine.len()));
    }
    let (start, end) = (u128::from(s), u128::from(l) + 1);
    if let Err(why) = this.check_import_size(sources, req, n, end - start) {
        return bad(why);
    }
    let q = this.quantum;
    let Some((src, further)) = sources.split_first_mut() else {
        return bad("an arena without a source imported".into());
    };
    if !start.is_multiple_of(q) || !end.is_multiple_of(q) {
        return bad(format!(
            "[{start:#x}, {end:#x}) not a multiple of the quantum"
        ));
    }
    // The source serves the span as an allocation of its own (any placement), importing in
    // turn if it had none: the span has the size the contract asks, so it normalizes as is.
    let w = import_request(req, n, end - start);
    let wn = Norm {
        size: end - start,
        ..*n
    };
    let there = src.lowest_from(0, &wn);
    let below = accept_imports(src, further, at + 1, &w, &wn, there, cascade)?;
    if !src.spans.iter().any(|s| s.start <= start && end <= s.end) {
        return bad(format!("[{start:#x}, {end:#x}) not inside a source span"));
    }
    if src.live.iter().any(|&(s, e)| s < end && start < e) {
        return bad(format!("[{start:#x}, {end:#x}) not free in the source"));
    }
    src.live.push((start, end));
    src.live.sort_unstable();
    this.insert_span(start, end - start, true);
    this.imports += 1;
    Ok(1 + below)
}

/// The models of a chain of arenas (module comment): level 0 is the arena allocations are
/// made from, level `i + 1` the source level `i` imports from, 1 to [`MAX_LEVELS`] levels.
/// Questions about one level go to [`ChainModel::level`]; what changes a level goes through
/// the chain, which judges and applies imports and releases at every level they reach.
#[derive(Clone, Debug)]
pub struct ChainModel {
    /// Level 0 first.
    levels: Vec<ArenaModel>,
}

impl ChainModel {
    /// The chain of `levels`, level 0 first (each but the last built with
    /// [`ArenaModel::importing`] if it rounds its imports up). Panics without a level or
    /// with more than [`MAX_LEVELS`].
    pub fn new(levels: Vec<ArenaModel>) -> ChainModel {
        assert!(
            (1..=MAX_LEVELS).contains(&levels.len()),
            "a chain has 1 to {MAX_LEVELS} levels, not {}",
            levels.len()
        );
        ChainModel { levels }
    }

    /// How many levels it has.
    pub fn depth(&self) -> usize {
        self.levels.len()
    }

    /// Level `i`'s model (panics past the deepest).
    pub fn level(&self, i: usize) -> &ArenaModel {
        &self.levels[i]
    }

    /// Grows level `i`'s span at `start` by `by` (after its [`ArenaModel::predict_grow`] said
    /// yes).
    pub fn grow(&mut self, i: usize, start: u64, by: u64) {
        self.levels[i].grow(start, by);
    }

    /// Adds a static span to level `i` (after its [`ArenaModel::predict_add_span`] said yes).
    pub fn add_span(&mut self, i: usize, base: u64, size: u64) {
        self.levels[i].add_span(base, size);
    }

    /// Judges level `i`'s answer to `req` with `policy`, as [`ArenaModel::judge_alloc_with`]
    /// judges a lone arena's: `imported[k]` lists the spans level `i + k` imported while
    /// serving it (`(start, last)`; lists past the end are empty). On agreement, every level
    /// the request reached is updated.
    pub fn judge_alloc_with<I: AsRef<[(u64, u64)]>>(
        &mut self,
        i: usize,
        req: &Request,
        policy: Policy,
        imported: &[I],
        actual: Result<u64, AllocErrorKind>,
        complete: bool,
    ) -> Result<(), Mismatch> {
        self.judge_alloc_claiming(i, req, policy, imported, actual, claim_of(complete))
    }

    /// [`ChainModel::judge_alloc_with`] for an allocator claiming `claim` for `policy`
    /// (module `claims`): a refusal is a finding only where the claim's completeness says the
    /// request must succeed, and the policy's placement rule is held only if it is `exact`.
    pub fn judge_alloc_claiming<I: AsRef<[(u64, u64)]>>(
        &mut self,
        i: usize,
        req: &Request,
        policy: Policy,
        imported: &[I],
        actual: Result<u64, AllocErrorKind>,
        claim: PolicyClaim,
    ) -> Result<(), Mismatch> {
        judge_in(
            &mut self.levels[i..],
            i,
            req,
            policy,
            imported,
            actual,
            claim,
        )
    }

    /// Judges an exact-address allocation at level `i` ([`ArenaModel::judge_alloc_at`]; it
    /// never imports).
    pub fn judge_alloc_at(
        &mut self,
        i: usize,
        addr: u64,
        size: u64,
        actual: Result<u64, AllocErrorKind>,
    ) -> Result<(), Mismatch> {
        self.levels[i].judge_alloc_at(addr, size, actual)
    }

    /// Frees the allocation at `addr` in level `i` (after its [`ArenaModel::predict_free`]
    /// said yes); a span that leaves holding nothing is released to the level below, where
    /// the release may leave that level's imported span holding nothing, and so on down.
    pub fn free(&mut self, i: usize, addr: u64) {
        let mut a = u128::from(addr);
        for level in &mut self.levels[i..] {
            match level.free_here(a) {
                Some(start) => a = start,
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests;
