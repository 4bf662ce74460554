//! offset-allocator 0.2.0 (`offset_allocator::Allocator<NI>`), Bevy's port of Sebastian
//! Aaltonen's hard-real-time offset allocator, with `u32` and with `u16` node indices.
//!
//! The crate manages one contiguous block of `size: u32` units. The adapter keeps one
//! allocator per span, in units of the scenario's quantum; a span of more than
//! [`CHUNK_UNITS`] units is cut into allocators of at most that many (the crate cannot hold
//! more). Each allocator is built with `with_max_allocs(size, max_allocs)`, `max_allocs`
//! drawn by the generator ([`MAX_ALLOCS`]). Frees go by the `Allocation` handle the crate
//! returned, which the adapter keeps.

use std::collections::BTreeMap;

use kvafuzz::harness::adapter::{
    AdapterTarget, AllocErrorKind, Caps, Completeness, Domain, FitPolicy, FreeErrorKind, Frees,
    Level, OnViolation, Param, Policies, PolicyClaim, RangeAllocator, Request, Shape,
    SpanErrorKind,
};
use offset_allocator::{Allocation, Allocator, NodeIndex};

use super::glue::{book_methods, quantum, round_up, HeapBook};

/// The most units one crate allocator manages (`Allocator::with_max_allocs(size: u32, ..)`).
pub const CHUNK_UNITS: u64 = u32::MAX as u64;

/// The constructor's `max_allocs`, drawn by the generator: "the given number of maximum
/// allocations", which "must be less than `NodeIndex::MAX` minus one" (0 is not excluded by
/// the documentation). Kept small: the crate allocates that many nodes per allocator.
pub const MAX_ALLOCS: Param = Param {
    name: "max_allocs",
    index: 0,
    min: 0,
    max: 256,
};

/// The constructor parameters of both targets.
const PARAMS: &[Param] = &[MAX_ALLOCS];

/// The adapter over node index type `NI`.
pub struct OffsetAlloc<NI: NodeIndex> {
    /// The scenario's shape.
    shape: Shape,
    /// The generator's `max_allocs`.
    max_allocs: u32,
    /// The spans added, and what it handed out in bytes.
    book: HeapBook,
    /// Per chunk built: its first unit and its allocator, by first unit.
    chunks: BTreeMap<u64, Allocator<NI>>,
    /// The units of each span not cut into chunks yet: `[first, end)`. A chunk is built
    /// when an allocation needs it (a span of 2^57 one-byte quanta is 2^25 chunks).
    unbuilt: Vec<(u128, u128)>,
    /// Per live allocation's first unit: the chunk's first unit and the crate's handle.
    handles: BTreeMap<u64, (u64, Allocation<NI>)>,
}

impl<NI: NodeIndex> OffsetAlloc<NI> {
    /// An empty adapter for `shape`.
    fn build(shape: &Shape) -> Result<OffsetAlloc<NI>, String> {
        Ok(OffsetAlloc {
            shape: *shape,
            max_allocs: u32::try_from(shape.param(&MAX_ALLOCS)).unwrap_or(u32::MAX),
            book: HeapBook::new(shape),
            chunks: BTreeMap::new(),
            unbuilt: Vec::new(),
            handles: BTreeMap::new(),
        })
    }
}

impl<NI: NodeIndex> RangeAllocator for OffsetAlloc<NI> {
    fn caps(&self) -> Caps {
        Caps {
            // `allocate(size)` takes a size only.
            policies: Policies::own(PolicyClaim {
                // README: "Uses 256 bins with 8 bit floating point distribution (3 bit
                // mantissa + 5 bit exponent)"; `allocate`: "If there's not enough contiguous
                // space for this allocation, returns None", so it fails only if no free
                // region holds the size rounded up to its bin.
                completeness: Completeness::FloatBin { mantissa_bits: 3 },
                exact: false,
                // `with_max_allocs`: "the given number of maximum allocations".
                max_live: Some(u64::from(self.max_allocs)),
            }),
            frees: Frees {
                // `free(allocation: Allocation)`: freed by the handle `allocate` returned;
                // there is no handle for an address that is not an allocation.
                bad_address: OnViolation::NotFed,
                // `free`: "If the allocation has already been freed, the behavior is
                // unspecified. It may or may not panic."
                double_free: OnViolation::NotFed,
                wrong_size: OnViolation::NotFed,
                takes_size: false,
            },
            domain: Domain {
                // `allocate(size: u32)`: at most `u32::MAX` units of the quantum.
                max_size: CHUNK_UNITS.saturating_mul(quantum(&self.shape)),
                ..Domain::VMEM
            },
            // A size of 0 is not documented either way: never asked.
            invalid_requests: OnViolation::NotFed,
            ..Caps::NONE
        }
    }

    fn add_span(&mut self, _level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        let q = quantum(&self.shape);
        let last = self.book.add_span(base, size)?;
        let (first, end) = (base / q, (u128::from(last) + 1) / u128::from(q));
        self.unbuilt.push((u128::from(first), end));
        Ok(())
    }

    fn alloc(
        &mut self,
        _level: Level,
        req: &Request,
        _policy: FitPolicy,
    ) -> Result<u64, AllocErrorKind> {
        let q = quantum(&self.shape);
        let units = round_up(req.size, q) / u128::from(q);
        let units = u32::try_from(units).map_err(|_| AllocErrorKind::SizeOverflow)?;
        let mut found = None;
        for (&first, a) in self.chunks.iter_mut() {
            if let Some(got) = a.allocate(units) {
                found = Some((first, got));
                break;
            }
        }
        // Else the next chunk not built yet, of each span in turn (one is enough: every
        // later chunk of the span is built the same).
        let mut i = 0;
        while found.is_none() && i < self.unbuilt.len() {
            let (unit, end) = self.unbuilt[i];
            let n = (end - unit).min(u128::from(CHUNK_UNITS));
            // n fits u32 (at most CHUNK_UNITS); unit is a u64 address over q.
            let mut a = Allocator::<NI>::with_max_allocs(n as u32, self.max_allocs);
            if let Some(got) = a.allocate(units) {
                found = Some((unit as u64, got));
                self.chunks.insert(unit as u64, a);
                if unit + n < end {
                    self.unbuilt[i].0 = unit + n;
                } else {
                    self.unbuilt.remove(i);
                }
            } else {
                i += 1;
            }
        }
        let (first, got) = found.ok_or(AllocErrorKind::NoSpace)?;
        let unit = first + got.offset.to_usize() as u64;
        let start = unit * q;
        let last = start + (u64::from(units) * q - 1);
        self.handles.insert(unit, (first, got));
        self.book.record(start, last);
        Ok(start)
    }

    fn alloc_at(&mut self, _addr: u64, _size: u64) -> Result<u64, AllocErrorKind> {
        // Never asked: no exact allocation.
        Err(AllocErrorKind::NoSpace)
    }

    fn free(&mut self, _level: Level, addr: u64, _size: u64) -> Result<(), FreeErrorKind> {
        let unit = addr / quantum(&self.shape);
        let (first, handle) = self.handles.remove(&unit).ok_or(FreeErrorKind::BadFree)?;
        if let Some(a) = self.chunks.get_mut(&first) {
            a.free(handle);
        }
        self.book.forget(addr);
        Ok(())
    }

    book_methods!(spans, allocated, check_invariants);
}

/// The target with `u32` node indices (the default).
pub static TARGET_U32: AdapterTarget<OffsetAlloc<u32>> = AdapterTarget::new(
    "offset-allocator-u32",
    "offset-allocator 0.2.0: Allocator<u32>, one per span (or u32::MAX-unit chunk), in quanta",
    OffsetAlloc::<u32>::build,
)
.with_params(PARAMS);

/// The target with `u16` node indices.
pub static TARGET_U16: AdapterTarget<OffsetAlloc<u16>> = AdapterTarget::new(
    "offset-allocator-u16",
    "offset-allocator 0.2.0: Allocator<u16>, one per span (or u32::MAX-unit chunk), in quanta",
    OffsetAlloc::<u16>::build,
)
.with_params(PARAMS);
