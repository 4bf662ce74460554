//! Execution of a kmem scenario: [`Kmem`] (quantum caches and size classes over a kmem
//! arena that imports from a kernel-map arena, with its simulated memory) stepped side by
//! side with the oracle's [`KmemModel`]. Every answer is judged by the model (the kernel
//! map's refusals during the op tell it when `NoSpace` is allowed); every write goes to both
//! memories and every read must show the model's bytes. After every op kmem's
//! `check_invariants()` runs (every piece of the arenas claimed exactly once: no leak) and
//! its records and per-zone live counts are compared with the model's; after a reclaim, the
//! kmem arena must hold exactly the live large objects (with their guard pages) and slabs
//! that each still hold a live object.

use kvafuzz_oracles::kmem::{self as ok, KmemModel, Verdict};

use super::scenario::{ObjSel, Op, Scenario, SizeSel, WriteAt};
use super::KmemTarget;
use crate::harness::drive::{drive, setup_finding, Machine};
use crate::harness::finding::variant_path;
use crate::harness::map::{AddressMap, Band, Layer, Shade};
use crate::harness::recent::Recent;
use crate::harness::{
    BrokenInvariant, BugSet, Claim, Finding, FindingKind, Mismatch, StateDiff, Stats, Target,
};
use crate::kmem::{
    Kmem, KmemAllocError, KmemCheckError, KmemConfig, KmemCreateError, KmemFreeError, MemoryError,
    Quanta, Route, SizeClass, KMEM_CLASSES, PAGE_SIZE,
};
use crate::outcome;
use crate::slab::{KegId, MAX_CPUS, MAX_DEPOT, MAX_ROUNDS};
use crate::vmem::Arena;

fn alloc_kind(e: KmemAllocError) -> ok::KmemAllocErrorKind {
    match e {
        KmemAllocError::ZeroSize => ok::KmemAllocErrorKind::ZeroSize,
        KmemAllocError::TooBig => ok::KmemAllocErrorKind::TooBig,
        KmemAllocError::BadCpu => ok::KmemAllocErrorKind::BadCpu,
        KmemAllocError::NoSpace => ok::KmemAllocErrorKind::NoSpace,
    }
}

fn free_kind(e: KmemFreeError) -> ok::KmemFreeErrorKind {
    match e {
        KmemFreeError::ZeroSize => ok::KmemFreeErrorKind::ZeroSize,
        KmemFreeError::BadCpu => ok::KmemFreeErrorKind::BadCpu,
        KmemFreeError::BadFree => ok::KmemFreeErrorKind::BadFree,
        KmemFreeError::WrongSize { allocated, freed } => {
            ok::KmemFreeErrorKind::WrongSize { allocated, freed }
        }
        KmemFreeError::Redzone { addr, offset } => ok::KmemFreeErrorKind::Redzone { addr, offset },
    }
}

fn check_kind(e: KmemCheckError) -> ok::KmemCheckErrorKind {
    match e {
        KmemCheckError::NotLive => ok::KmemCheckErrorKind::NotLive,
        KmemCheckError::Redzone { addr, offset } => {
            ok::KmemCheckErrorKind::Redzone { addr, offset }
        }
    }
}

fn memory_kind(e: MemoryError) -> ok::MemoryErrorKind {
    match e {
        // Reads are at most 65,535 bytes here, so `TooLong` never happens; a refusal is a
        // refusal either way.
        MemoryError::PastTop | MemoryError::TooLong => ok::MemoryErrorKind::PastTop,
    }
}

/// The oracle's name for one of kmem's routes.
fn oracle_route(r: Route) -> ok::Route {
    match r {
        Route::Quantum(k) => ok::Route::Quantum(k.get()),
        Route::Class(c) => ok::Route::Class(c.bytes()),
        Route::Large => ok::Route::Large,
    }
}

/// kmem's name for one of the oracle's routes (`None` for one kmem does not have).
fn kmem_route(r: ok::Route) -> Option<Route> {
    match r {
        ok::Route::Quantum(k) => Quanta::new(k).map(Route::Quantum),
        ok::Route::Class(bytes) => {
            let i = KMEM_CLASSES.iter().position(|&c| c == bytes)?;
            SizeClass::new(i as u8).map(Route::Class)
        }
        ok::Route::Large => Some(Route::Large),
    }
}

/// The model's verdict on an op as a [`Mismatch`]: the check it names is the signature.
fn from_verdict(op: &str, args: String, v: Verdict) -> Mismatch {
    Mismatch::new(
        format!("{op} {:?}", v.check),
        args,
        Claim::new(variant_path(&v.expected), v.expected),
        Claim::new(variant_path(&v.seen), v.seen),
    )
}

/// The error `Kmem::new` must give for this configuration (the slab layer's limits).
fn predicted_create(s: &Scenario) -> Result<(), KmemCreateError> {
    if s.cpus == 0 || s.cpus > MAX_CPUS {
        Err(KmemCreateError::BadCpus)
    } else if s.rounds > MAX_ROUNDS {
        Err(KmemCreateError::BadRounds)
    } else if s.depot > MAX_DEPOT {
        Err(KmemCreateError::BadDepot)
    } else {
        Ok(())
    }
}

/// Builds the kernel map and kmem, then drives the ops against the model.
pub(super) fn execute(
    s: &Scenario,
    bugs: BugSet,
    trace: Option<&mut String>,
) -> Result<Stats, Finding> {
    let mut map = Arena::new("kernel map", PAGE_SIZE, None)
        .map_err(|e| setup_finding(KmemTarget::NAME, e.to_string()))?;
    let (base, size) = s.map_span();
    map.add_span(base, size)
        .map_err(|e| setup_finding(KmemTarget::NAME, format!("kernel map span: {e}")))?;
    let config = KmemConfig {
        debug: s.debug,
        guard: s.guard,
        cpus: s.cpus,
        rounds: s.rounds,
        depot: s.depot,
    };
    let made = Kmem::new(config, map);
    let expected = predicted_create(s);
    if made.as_ref().map(|_| ()).map_err(|e| *e) != expected {
        let got = made.as_ref().map(|_| ()).map_err(|e| *e);
        return Err(Finding {
            target: KmemTarget::NAME,
            op_index: None,
            op: "new".into(),
            kind: FindingKind::Oracle(Mismatch::values("new", "", &expected, &got)),
        });
    }
    let kmem = match made {
        Ok(kmem) => kmem,
        Err(e) => {
            if let Some(t) = trace {
                t.push_str(&format!("  new -> {expected:?} (predicted); no op runs\n"));
            }
            return Ok(Stats::refused(&e));
        }
    };
    #[cfg(feature = "seeded-bugs")]
    let kmem = {
        let mut kmem = kmem;
        kmem.set_bugs(bugs);
        kmem
    };
    #[cfg(not(feature = "seeded-bugs"))]
    let _ = bugs;
    let mut executor = Executor {
        kmem,
        model: KmemModel::new(s.debug, s.guard, s.cpus),
        live: Vec::new(),
        freed: Recent::new(),
        reclaimed: false,
        stats: Stats::default(),
    };
    drive(KmemTarget::NAME, &mut executor, &s.ops, trace)
}

/// kmem, the model, and the objects ops name.
struct Executor {
    kmem: Kmem,
    model: KmemModel,
    /// Live objects `(addr, size)`, oldest first.
    live: Vec<(u64, u64)>,
    /// Objects freed lately `(addr, size)`: double frees.
    freed: Recent<(u64, u64), 16>,
    /// The current op was a reclaim: the arena's exact holdings are checked after it.
    reclaimed: bool,
    stats: Stats,
}

impl Executor {
    fn cpu(&self, c: u8) -> u8 {
        if c >= 248 {
            c
        } else {
            c % self.model.cpus().max(1)
        }
    }

    /// The object a selector names: `(addr, size)`.
    fn obj(&self, o: ObjSel) -> (u64, u64) {
        match o {
            ObjSel::Live(h) => match self.live.len() {
                0 => (0, 8),
                n => self.live[usize::from(h) % n],
            },
            ObjSel::Freed(i) => self.freed.pick(i.into()).unwrap_or((0, 8)),
            ObjSel::Raw(a) => (a, 8),
        }
    }

    /// What the kmem arena must hold after a reclaim: every slab still held contains a
    /// live object, and the arena's allocated bytes are exactly those slabs plus the live
    /// large objects' chunks and guard pages.
    fn judge_reclaim(&self) -> Result<(), StateDiff> {
        let mut slabs: Vec<(u64, u64)> = self.kmem.arena().cache_slabs().collect();
        for (i, _) in KMEM_CLASSES.iter().enumerate() {
            slabs.extend(
                self.kmem
                    .classes()
                    .slabs(KegId(i as u8))
                    .map(|s| (s.base, s.size)),
            );
        }
        let live = self.model.live();
        let mut held = 0u128;
        for &(base, size) in &slabs {
            let end = u128::from(base) + u128::from(size);
            let occupied = live.iter().any(|o| {
                o.route != ok::Route::Large
                    && u128::from(o.addr) >= u128::from(base)
                    && u128::from(o.addr) < end
            });
            if !occupied {
                return Err(StateDiff::new(
                    "a slab held after reclaim",
                    format!("slab {base:#x}+{size:#x} held"),
                    "no live object in it: given back",
                ));
            }
            held += u128::from(size);
        }
        for o in live.iter().filter(|o| o.route == ok::Route::Large) {
            held += u128::from(o.chunk)
                + if o.guard.is_some() {
                    u128::from(PAGE_SIZE)
                } else {
                    0
                };
        }
        let in_use = self.kmem.arena().arena().stats().in_use;
        if in_use != held {
            return Err(StateDiff::new(
                "kmem arena bytes allocated after reclaim",
                format!("{in_use:#x}"),
                format!("{held:#x} (slabs holding live objects, large chunks and guards)"),
            ));
        }
        Ok(())
    }
}

impl Machine for Executor {
    type Op = Op;

    fn step(&mut self, op: &Op) -> Result<String, Mismatch> {
        self.reclaimed = false;
        match *op {
            Op::Alloc { size, cpu } => {
                let c = self.cpu(cpu);
                let before = self.kmem.map_refusals();
                let got = self.kmem.alloc(size, c);
                let refused = self.kmem.map_refusals() > before;
                self.model
                    .alloc(size, c, got.map_err(alloc_kind), refused)
                    .map_err(|v| from_verdict("alloc", format!("{size:#x} cpu {c}"), v))?;
                self.stats.count_result(&got);
                if let Ok(addr) = got {
                    self.live.push((addr, size));
                }
                Ok(outcome!("{got:x?}"))
            }
            Op::Free { obj, size, cpu } => {
                let c = self.cpu(cpu);
                let (addr, own) = self.obj(obj);
                let named = match size {
                    SizeSel::Same => own,
                    SizeSel::Plus(d) => own.wrapping_add(u64::from(d)),
                    SizeSel::Minus(d) => own.wrapping_sub(u64::from(d)),
                    SizeSel::Raw(s) => s,
                };
                let got = self.kmem.free(addr, named, c);
                self.model
                    .free(addr, named, c, got.map_err(free_kind))
                    .map_err(|v| {
                        from_verdict("free", format!("{addr:#x} size {named:#x} cpu {c}"), v)
                    })?;
                self.stats.count_result(&got);
                if got.is_ok() {
                    if let Some(i) = self.live.iter().position(|&(a, _)| a == addr) {
                        let (a, s) = self.live.remove(i);
                        self.freed.push((a, s));
                    }
                }
                Ok(outcome!("{addr:#x} size {named:#x}: {got:x?}"))
            }
            Op::Write { obj, at, len, byte } => {
                let (addr, size) = self.obj(obj);
                let (first, len) = match at {
                    WriteAt::Inside(o) => {
                        let off = u64::from(o) % size.max(1);
                        (
                            addr.wrapping_add(off),
                            u64::from(len).min(size - off.min(size)),
                        )
                    }
                    WriteAt::Overflow(k) => (addr.wrapping_add(size), u64::from(k)),
                    WriteAt::Offset(o) => (addr.wrapping_add(u64::from(o)), u64::from(len)),
                };
                let bytes = vec![byte; len as usize]; // at most 65,535
                let got = self.kmem.memory_mut().write(first, &bytes);
                self.model
                    .write(first, &bytes, got.map_err(memory_kind))
                    .map_err(|v| from_verdict("write", format!("{first:#x} len {len}"), v))?;
                self.stats.count_result(&got);
                Ok(outcome!("{first:#x} len {len}: {got:?}"))
            }
            Op::Read { obj, offset, len } => {
                let (addr, _) = self.obj(obj);
                let first = addr.wrapping_add(u64::from(offset));
                let got = self.kmem.memory().read(first, u64::from(len));
                self.model
                    .read(
                        first,
                        u64::from(len),
                        got.as_deref().map_err(|e| memory_kind(*e)),
                    )
                    .map_err(|v| from_verdict("read", format!("{first:#x} len {len}"), v))?;
                self.stats.count_result(&got);
                Ok(outcome!(
                    "{first:#x} len {len}: {}",
                    if got.is_ok() {
                        "as the model"
                    } else {
                        "refused"
                    }
                ))
            }
            Op::Check { obj } => {
                let (addr, _) = self.obj(obj);
                let got = self.kmem.check(addr);
                self.model
                    .check(addr, got.map_err(check_kind))
                    .map_err(|v| from_verdict("check", format!("{addr:#x}"), v))?;
                self.stats.count_result(&got);
                Ok(outcome!("{addr:#x}: {got:x?}"))
            }
            Op::Reclaim => {
                let r = self.kmem.reclaim();
                self.reclaimed = true;
                self.stats.count(true);
                Ok(outcome!(
                    "classes: {} items, {} slabs; quantum caches: {} items, {} slabs",
                    r.classes.items,
                    r.classes.slabs,
                    r.qcaches.items,
                    r.qcaches.slabs
                ))
            }
        }
    }

    fn check_invariants(&self) -> Result<(), BrokenInvariant> {
        self.kmem.check_invariants().map_err(|e| {
            let detail = format!("{e:x?}");
            BrokenInvariant::new(format!("kmem {}", variant_path(&detail)), detail)
        })
    }

    /// Every live object's bytes (the harness's record of what kmem handed out against the
    /// model's objects), and the objects kmem records (all in debug mode, else the large
    /// ones) with their redzones and guard ranges against the model's.
    fn address_map(&self) -> AddressMap {
        let debug = self.model.debug();
        let recorded = self
            .model
            .live()
            .iter()
            .filter(|o| debug || o.route == ok::Route::Large);
        AddressMap::new(vec![
            Layer::new(
                "live objects",
                self.live
                    .iter()
                    .map(|&(a, size)| Band::sized(a, size, Shade::Live)),
                self.model
                    .live()
                    .iter()
                    .map(|o| Band::sized(o.addr, o.size, Shade::Live)),
            ),
            Layer::new(
                "recorded objects: size, redzone, guard",
                self.kmem.objects().flat_map(|o| {
                    [
                        Band::sized(o.addr, o.size, Shade::Live),
                        o.addr.checked_add(o.size).and_then(|r| {
                            Band::sized(r, o.chunk.saturating_sub(o.size), Shade::Guard)
                        }),
                        o.guard.and_then(|(f, l)| Band::new(f, l, Shade::Guard)),
                    ]
                }),
                recorded.flat_map(|o| {
                    [
                        Band::sized(o.addr, o.size, Shade::Live),
                        o.redzone()
                            .and_then(|r| Band::new(r.first, r.last, Shade::Guard)),
                        o.guard
                            .and_then(|r| Band::new(r.first, r.last, Shade::Guard)),
                    ]
                }),
            ),
        ])
    }

    fn compare_state(&self) -> Result<(), StateDiff> {
        let debug = self.model.debug();
        let ours: Vec<(u64, u64, u64)> = self
            .kmem
            .objects()
            .map(|o| (o.addr, o.size, o.chunk))
            .collect();
        let theirs: Vec<(u64, u64, u64)> = self
            .model
            .live()
            .iter()
            .filter(|o| debug || o.route == ok::Route::Large)
            .map(|o| (o.addr, o.size, o.chunk))
            .collect();
        if ours != theirs {
            return Err(StateDiff::new(
                "recorded objects (addr, size, chunk)",
                format!("{ours:x?}"),
                format!("{theirs:x?}"),
            ));
        }
        for route in ok::Route::all() {
            let Some(r) = kmem_route(route) else {
                return Err(StateDiff::new("routes", "none", format!("{route:?}")));
            };
            if let Some(z) = self.kmem.zone_stats(r) {
                let model = self.model.route_stats(route).objects;
                if z.live != model {
                    return Err(StateDiff::new(
                        format!("live objects of {route:?}"),
                        z.live.to_string(),
                        model.to_string(),
                    ));
                }
            }
            debug_assert_eq!(oracle_route(r), route);
        }
        if self.reclaimed {
            self.judge_reclaim()?;
        }
        Ok(())
    }

    fn stats(&self) -> Stats {
        self.stats
    }

    fn summary(&self) -> String {
        format!(
            "{} live objects, {:#x} kmem arena bytes in use, {} map refusals",
            self.live.len(),
            self.kmem.arena().arena().stats().in_use,
            self.kmem.map_refusals()
        )
    }

    fn finish(&mut self) -> Result<Option<String>, Mismatch> {
        self.model.self_check().map_err(|f| {
            Mismatch::new(
                "model self-check",
                String::new(),
                Claim::new("a consistent model", "a consistent model"),
                Claim::new("a fault", format!("{f:?}")),
            )
        })?;
        Ok(None)
    }
}
