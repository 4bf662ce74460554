//! vmem 1.0.0 (`vmem::Arena`), a Rust vmem after Bonwick and Adams for the velvet kernel,
//! with its source arenas.
//!
//! Level 0 is an `Arena` whose source (`Option<&dyn Source>`) is level 1, another `Arena`
//! behind a [`Recording`] wrapper that logs every import and release (the crate lists
//! neither spans nor allocations; the wrapper is how the adapter sees imported spans). The
//! crate's `Arena` borrows its source for its whole life, so the adapter owns the source on
//! the heap and drops the arena first. Boundary tags come from the global allocator
//! ([`Tags`]), and the lock is `std::sync::Mutex<()>` (the crate's `std` feature).

use std::collections::BTreeMap;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::Mutex;

use kvafuzz::harness::adapter::{
    AdapterTarget, AlignRule, AllocErrorKind, Caps, Completeness, Constraints, CountFields, Counts,
    Domain, FitPolicy, FreeErrorKind, Frees, Imports, Level, OnViolation, Policies, Policy,
    PolicyClaim, RangeAllocator, Request, Shape, SpanErrorKind,
};
use vmem::{AllocPolicy, Arena, Bt, Layout, Source};

use super::glue::{round_up, Live, Spans};

/// How many levels the adapter builds: the arena and one source arena.
const LEVELS: usize = 2;

/// Boundary tags from the global allocator.
pub struct Tags;

// SAFETY: `allocate` hands out a fresh block of `Bt`'s size and alignment (or `None`), and
// `deallocate` gives back only such blocks, as `vmem::Allocator` requires.
unsafe impl vmem::Allocator for Tags {
    fn allocate(&self) -> Option<NonNull<Bt>> {
        // SAFETY: `Bt` is not zero-sized.
        NonNull::new(unsafe { std::alloc::alloc(std::alloc::Layout::new::<Bt>()) }.cast())
    }

    unsafe fn deallocate(&self, ptr: NonNull<Bt>) {
        // SAFETY: the crate frees only tags `allocate` returned.
        unsafe { std::alloc::dealloc(ptr.as_ptr().cast(), std::alloc::Layout::new::<Bt>()) }
    }
}

/// The crate's arena with the adapter's tags and lock; `'static` borrows (see [`VmemArena`]).
type CrateArena = Arena<'static, 'static, Tags, Mutex<()>>;

/// A source arena that logs what its importer imports and releases.
pub struct Recording {
    /// The source arena.
    arena: CrateArena,
    /// Imported spans still held by the importer: base to size.
    imported: Mutex<BTreeMap<u64, u64>>,
}

impl Source for Recording {
    fn import(&self, layout: Layout) -> vmem::Result<usize> {
        let size = layout.size();
        let base = self.arena.import_from_here(layout)?;
        if let Ok(mut m) = self.imported.lock() {
            m.insert(base as u64, size as u64);
        }
        Ok(base)
    }

    unsafe fn release(&self, base: usize, size: usize) -> vmem::Result<()> {
        // SAFETY: forwarded as received, under the same contract.
        unsafe { Source::release(&self.arena, base, size) }?;
        if let Ok(mut m) = self.imported.lock() {
            m.remove(&(base as u64));
        }
        Ok(())
    }
}

/// `Source::import` of an arena, named apart from the inherent `Arena::import`.
trait ImportFromHere {
    /// What the crate's `impl Source for Arena` does.
    fn import_from_here(&self, layout: Layout) -> vmem::Result<usize>;
}

impl ImportFromHere for CrateArena {
    fn import_from_here(&self, layout: Layout) -> vmem::Result<usize> {
        Source::import(self, layout)
    }
}

/// The adapter: the arena, its source, and what the adapter saw of both.
pub struct VmemArena {
    /// The scenario's shape.
    shape: Shape,
    /// Levels built: 1 (no source) or [`LEVELS`].
    depth: usize,
    /// Level 0. Borrows `source` (hence `'static` and dropped first, in `Drop`).
    arena: ManuallyDrop<CrateArena>,
    /// Level 1, if any: boxed so that its address never changes while `arena` borrows it.
    source: Option<Box<Recording>>,
    /// The spans the caller added, per level.
    spans: [Spans; LEVELS],
    /// What each level handed out to the caller.
    live: [Live; LEVELS],
}

impl Drop for VmemArena {
    fn drop(&mut self) {
        // SAFETY: dropped once, here, before `source`, which it borrows.
        unsafe { ManuallyDrop::drop(&mut self.arena) };
    }
}

impl VmemArena {
    /// The arena (and source) of `shape`.
    fn build(shape: &Shape) -> Result<VmemArena, String> {
        let depth = shape.depth.min(LEVELS);
        let q = |i: usize| usize::try_from(shape.levels[i].quantum).unwrap_or(usize::MAX);
        let source = if depth > 1 {
            let arena = Arena::create("source", q(1), None, Tags).map_err(|e| e.to_string())?;
            Some(Box::new(Recording {
                arena,
                imported: Mutex::new(BTreeMap::new()),
            }))
        } else {
            None
        };
        let src: Option<&'static dyn Source> = source.as_deref().map(|r| {
            // SAFETY: the box lives in the adapter beside the arena, never moves its
            // contents, and outlives the arena (dropped first in `Drop`).
            let r: &'static Recording = unsafe { &*(r as *const Recording) };
            r as &'static dyn Source
        });
        let arena = Arena::create("arena", q(0), src, Tags).map_err(|e| e.to_string())?;
        Ok(VmemArena {
            shape: *shape,
            depth,
            arena: ManuallyDrop::new(arena),
            source,
            spans: Default::default(),
            live: Default::default(),
        })
    }

    /// The crate arena of `level`.
    fn level(&self, level: Level) -> &CrateArena {
        match (&self.source, level.index()) {
            (Some(s), 1) => &s.arena,
            _ => &self.arena,
        }
    }

    /// The imported spans (base to size) the source holds for the arena.
    fn imported(&self) -> Vec<(u64, u64)> {
        self.source
            .as_ref()
            .and_then(|s| s.imported.lock().ok().map(|m| m.clone()))
            .map(|m| m.into_iter().collect())
            .unwrap_or_default()
    }
}

/// The crate's layout for `req` (`None`: the crate refuses to build it).
fn layout(req: &Request) -> Option<Layout> {
    let size = usize::try_from(req.size).ok()?;
    let align = usize::try_from(req.align.max(1)).ok()?;
    let mut l = Layout::from_size_align(size, align)?;
    if req.phase != 0 {
        l = l.with_phase(usize::try_from(req.phase).ok()?);
    }
    if req.nocross != 0 {
        l = l.with_nocross(usize::try_from(req.nocross).ok()?)?;
    }
    if req.minaddr != 0 {
        l = l.with_min(usize::try_from(req.minaddr).ok()?);
    }
    if req.maxaddr != u64::MAX {
        l = l.with_max(usize::try_from(req.maxaddr).ok()?);
    }
    Some(l)
}

/// Whether `req` sets any constraint.
fn constrained(req: &Request) -> bool {
    req.align != 0
        || req.phase != 0
        || req.nocross != 0
        || req.minaddr != 0
        || req.maxaddr != u64::MAX
}

impl RangeAllocator for VmemArena {
    fn caps(&self) -> Caps {
        Caps {
            // `Layout`: `from_size_align`, `with_phase` ("the offset from the alignment
            // boundary"), `with_nocross` ("an alignment boundary that the allocation must not
            // contain"), `with_min` ("the minimum address/index"), `with_max` ("the maximum
            // address/index of this layout"), all honoured by `Arena::xalloc`.
            constraints: Constraints::ALL,
            policies: Policies {
                // README: "It aims to conform exactly to the spec laid out in the
                // aforementioned paper" (Bonwick and Adams: instant fit takes a segment from
                // the free list of the next power of two, so it succeeds whenever a free
                // segment of at least that size exists). `AllocPolicy::InstantFit` "Allocate
                // from the first block found that has a size greater than or equal to the
                // requested size" names no block in particular.
                instant_fit: Some(PolicyClaim::complete_as(Completeness::PowerOfTwoRun)),
                // `AllocPolicy::BestFit`: "Allocate the smallest block that can fit the
                // requested size": complete. Which of equal smallest blocks is not said, so
                // no placement rule is claimed.
                best_fit: Some(PolicyClaim::complete_as(Completeness::Full)),
                // `AllocPolicy::NextFit`: "Allocate from a block after the last-allocated
                // block": a rule of its own (not vmem's), and `xalloc` "will panic if you
                // attempt to call it with NextFit" (constrained requests are refused by the
                // glue: the crate has no constrained next fit). Nothing claimed.
                next_fit: Some(PolicyClaim::VALID),
                first_fit: None,
                own: None,
            },
            frees: Frees {
                // `free`: "`Error::NoSuchAllocation` - the block was not allocated by this
                // arena, or was already freed."
                bad_address: OnViolation::Refuses,
                double_free: OnViolation::Refuses,
                wrong_size: OnViolation::NotFed,
                // `free(&self, base: usize)`: by address.
                takes_size: false,
            },
            domain: Domain {
                // `Layout::from_size_align`: "the alignment must be a power of two".
                align: AlignRule::PowerOfTwo,
                // `alloc`: "it is **not** a multiple of quantum, but the actual value",
                // rounded up ("any allocations within the arena will be rounded up").
                unaligned_sizes: true,
                // `with_nocross` refuses only a nocross below the size; otherwise a
                // placement is looked for.
                refuses_overconstrained: false,
                ..Domain::VMEM
            },
            // `alloc`/`xalloc`: "`Error::AllocZeroSize` - the requested allocation has no
            // size"; `Layout::from_size_align` returns `None` for a bad alignment.
            invalid_requests: OnViolation::Refuses,
            // `total_space` ("including borrowed space"), `allocated_space`, `free_space`.
            counts: CountFields {
                total: true,
                in_use: true,
                free: true,
                ..CountFields::NONE
            },
            // `Arena::import`: the layout's size rounded up to the arena's quantum, exactly.
            imports: Imports::Exact,
            // The source serves it through `impl Source for Arena` (its code, undocumented):
            // `self.alloc(layout.size(), AllocPolicy::InstantFit)` or `xalloc(layout,
            // InstantFit)`, so only instant fit's promise holds for an import (a campaign
            // reported a best-fit refusal where the source had a smaller run: judged so).
            imports_served: Completeness::PowerOfTwoRun,
            levels: self.depth,
            ..Caps::NONE
        }
    }

    fn add_span(&mut self, level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        let i = level.index().min(LEVELS - 1);
        let q = self.shape.levels[i].quantum;
        let last = self.spans[i].check(self.shape.arch, q, base, size)?;
        let (b, s) = (base as usize, size as usize);
        self.level(level).add_span(b, s).map_err(|e| match e {
            vmem::Error::WrappingSpan => SpanErrorKind::Wraps,
            vmem::Error::UnalignedSpan => SpanErrorKind::Misaligned,
            _ => SpanErrorKind::ZeroSize,
        })?;
        self.spans[i].insert(base, last);
        Ok(())
    }

    fn alloc(
        &mut self,
        level: Level,
        req: &Request,
        policy: FitPolicy,
    ) -> Result<u64, AllocErrorKind> {
        let i = level.index().min(LEVELS - 1);
        let arena = self.level(level);
        let got = match policy {
            FitPolicy::Vmem(Policy::NextFit) if constrained(req) => {
                // The crate has no constrained next fit (`xalloc` panics by design).
                return Err(AllocErrorKind::NoSpace);
            }
            FitPolicy::Vmem(Policy::NextFit) => {
                arena.alloc(req.size as usize, AllocPolicy::NextFit)
            }
            FitPolicy::Vmem(Policy::BestFit) => match layout(req) {
                Some(l) => arena.xalloc(l, AllocPolicy::BestFit),
                None => return Err(AllocErrorKind::NoSpace),
            },
            _ => match layout(req) {
                Some(l) => arena.xalloc(l, AllocPolicy::InstantFit),
                None => return Err(AllocErrorKind::NoSpace),
            },
        };
        let base = got.map_err(|_| AllocErrorKind::NoSpace)?;
        let size = round_up(req.size, self.shape.levels[i].quantum);
        let last = (u128::from(base as u64) + size - 1).min(u128::from(u64::MAX)) as u64;
        self.live[i].insert(base as u64, last);
        Ok(base as u64)
    }

    fn alloc_size(&mut self, size: u64, policy: FitPolicy) -> Result<u64, AllocErrorKind> {
        let p = match policy {
            FitPolicy::Vmem(Policy::BestFit) => AllocPolicy::BestFit,
            FitPolicy::Vmem(Policy::NextFit) => AllocPolicy::NextFit,
            _ => AllocPolicy::InstantFit,
        };
        let base = self
            .arena
            .alloc(size as usize, p)
            .map_err(|_| AllocErrorKind::NoSpace)?;
        let bytes = round_up(size, self.shape.levels[0].quantum);
        let last = (u128::from(base as u64) + bytes - 1).min(u128::from(u64::MAX)) as u64;
        self.live[0].insert(base as u64, last);
        Ok(base as u64)
    }

    fn alloc_at(&mut self, _addr: u64, _size: u64) -> Result<u64, AllocErrorKind> {
        // Never asked: the crate has no exact allocation.
        Err(AllocErrorKind::NoSpace)
    }

    fn free(&mut self, level: Level, addr: u64, _size: u64) -> Result<(), FreeErrorKind> {
        let i = level.index().min(LEVELS - 1);
        self.level(level)
            .free(addr as usize)
            .map_err(|_| FreeErrorKind::BadFree)?;
        self.live[i].remove(addr);
        Ok(())
    }

    fn spans(&self, level: Level) -> Vec<(u64, u64, bool)> {
        let i = level.index().min(LEVELS - 1);
        let mut out = self.spans[i].listing();
        if i == 0 {
            for (b, s) in self.imported() {
                out.push((b, b + (s - 1), true));
            }
            out.sort_unstable();
        }
        out
    }

    fn allocated(&self, level: Level) -> Vec<(u64, u64)> {
        let i = level.index().min(LEVELS - 1);
        let mut out = self.live[i].listing();
        if i == 1 {
            for (b, s) in self.imported() {
                out.push((b, b + (s - 1)));
            }
            out.sort_unstable();
        }
        out
    }

    fn check_invariants(&self) -> Result<(), (String, String)> {
        Ok(())
    }

    fn counts(&self, level: Level) -> Option<Counts> {
        let a = self.level(level);
        Some(Counts {
            total: a.total_space() as u128,
            in_use: a.allocated_space() as u128,
            free: a.free_space() as u128,
            ..Counts::default()
        })
    }
}

/// The target: the vmem crate's arena and source over the vmem scenarios.
pub static TARGET: AdapterTarget<VmemArena> = AdapterTarget::new(
    "vmem",
    "vmem 1.0.0: Arena with a source Arena (imports and releases logged)",
    VmemArena::build,
);
