//! Execution of a slab scenario: the slab system ([`Slabs`]) over a recording backend (a vmem
//! [`Arena`] with one span) and recording hooks, stepped side by side with the oracle's
//! [`SlabModel`]. Every op's answer is judged by the model together with what the backend
//! and the hooks saw during it (slabs taken and given back, init/fini/ctor/dtor calls, in
//! order). After every op the slab system's and the arena's `check_invariants()` run, and
//! every zone's and keg's counters, every keg's slabs and the arena's allocated bytes are
//! compared with the model's.

use std::cell::RefCell;
use std::rc::Rc;

use kvafuzz_oracles::slab::{self as os, Event, SlabModel, Verdict};

use super::scenario::{AddrSel, CpuSel, Op, Scenario, ZoneSel};
use super::SlabTarget;
use crate::addr::PAGE_SIZE;
use crate::harness::drive::{drive, Machine};
use crate::harness::finding::variant_path;
use crate::harness::map::AddressMap;
use crate::harness::recent::Recent;
use crate::harness::{
    BrokenInvariant, BugSet, Claim, Finding, FindingKind, Mismatch, StateDiff, Stats, Target,
};
use crate::outcome;
use crate::slab::{
    AllocError, CreateError, FreeError, HeaderPlacement, Item, ItemHooks, KegError, KegId,
    RefError, SlabSource, Slabs, ZoneConfig, ZoneError, ZoneId,
};
use crate::vmem::Arena;

/// What the backend and the hooks saw, in order (one log, shared).
#[derive(Clone, Copy, Debug)]
enum Raw {
    /// `alloc_slab` answered with this base.
    Taken(u64),
    /// `alloc_slab` had no room.
    Refused,
    /// `free_slab` of this base.
    Given(u64),
    /// A hook call, already in the oracle's words.
    Hook(Event),
}

/// The log the recording backend and hooks write.
type Log = Rc<RefCell<Vec<Raw>>>;

/// Hooks that log every call.
struct Recorder(Log);

impl ItemHooks for Recorder {
    fn init(&mut self, keg: KegId, addr: u64) {
        self.0
            .borrow_mut()
            .push(Raw::Hook(Event::Init { keg: keg.0, addr }));
    }
    fn fini(&mut self, keg: KegId, addr: u64) {
        self.0
            .borrow_mut()
            .push(Raw::Hook(Event::Fini { keg: keg.0, addr }));
    }
    fn ctor(&mut self, zone: ZoneId, addr: u64, pair: Option<u64>) {
        let e = Event::Ctor {
            zone: zone.0,
            addr,
            pair,
        };
        self.0.borrow_mut().push(Raw::Hook(e));
    }
    fn dtor(&mut self, zone: ZoneId, addr: u64, pair: Option<u64>) {
        let e = Event::Dtor {
            zone: zone.0,
            addr,
            pair,
        };
        self.0.borrow_mut().push(Raw::Hook(e));
    }
}

/// The backend arena, logging every slab taken, refused and given back.
struct Recording {
    arena: Arena,
    log: Log,
}

impl SlabSource for Recording {
    fn alloc_slab(&mut self, size: u64, align: u64) -> Option<u64> {
        let got = self.arena.alloc_slab(size, align);
        self.log.borrow_mut().push(match got {
            Some(base) => Raw::Taken(base),
            None => Raw::Refused,
        });
        got
    }

    fn free_slab(&mut self, base: u64, size: u64) {
        self.log.borrow_mut().push(Raw::Given(base));
        self.arena.free_slab(base, size);
    }
}

/// The log of one op in the oracle's words, and whether the backend refused a slab: a
/// slab taken belongs to the keg of the `Init` after it, a slab given back to the keg of
/// the `Fini` before it (a slab with neither is named keg 255: no keg, a finding).
fn events(log: &[Raw]) -> (Vec<Event>, bool) {
    let mut out = Vec::with_capacity(log.len());
    let mut refused = false;
    for (i, raw) in log.iter().enumerate() {
        match *raw {
            Raw::Hook(e) => out.push(e),
            Raw::Refused => refused = true,
            Raw::Taken(base) => {
                let keg = match log.get(i + 1) {
                    Some(Raw::Hook(Event::Init { keg, .. })) => *keg,
                    _ => u8::MAX,
                };
                out.push(Event::SlabAdded { keg, base });
            }
            Raw::Given(base) => {
                let keg = match i.checked_sub(1).and_then(|j| log.get(j)) {
                    Some(Raw::Hook(Event::Fini { keg, .. })) => *keg,
                    _ => u8::MAX,
                };
                out.push(Event::SlabReleased { keg, base });
            }
        }
    }
    (out, refused)
}

fn alloc_kind(e: AllocError) -> os::AllocErrorKind {
    match e {
        AllocError::NoZone => os::AllocErrorKind::NoZone,
        AllocError::BadCpu => os::AllocErrorKind::BadCpu,
        AllocError::Limit => os::AllocErrorKind::Limit,
        AllocError::NoSpace => os::AllocErrorKind::NoSpace,
    }
}

fn free_kind(e: FreeError) -> os::FreeErrorKind {
    match e {
        FreeError::NoZone => os::FreeErrorKind::NoZone,
        FreeError::BadCpu => os::FreeErrorKind::BadCpu,
        FreeError::NotSlab => os::FreeErrorKind::NotSlab,
        FreeError::InHeader => os::FreeErrorKind::InHeader,
        FreeError::NotItemStart => os::FreeErrorKind::NotItemStart,
        FreeError::WrongZone => os::FreeErrorKind::WrongZone,
        FreeError::NotLive => os::FreeErrorKind::NotLive,
    }
}

fn ref_kind(e: RefError) -> os::RefErrorKind {
    match e {
        RefError::NotSlab => os::RefErrorKind::NotSlab,
        RefError::InHeader => os::RefErrorKind::InHeader,
        RefError::NotItemStart => os::RefErrorKind::NotItemStart,
        RefError::NoRefcounts => os::RefErrorKind::NoRefcounts,
        RefError::NotLive => os::RefErrorKind::NotLive,
    }
}

fn keg_kind(e: KegError) -> os::KegErrorKind {
    match e {
        KegError::ZeroSize => os::KegErrorKind::ZeroSize,
        KegError::TooBig => os::KegErrorKind::TooBig,
        KegError::BadAlign => os::KegErrorKind::BadAlign,
        KegError::TooMany => os::KegErrorKind::TooMany,
    }
}

fn zone_kind(e: ZoneError) -> os::ZoneErrorKind {
    match e {
        ZoneError::NoZone => os::ZoneErrorKind::NoZone,
        ZoneError::NoKeg => os::ZoneErrorKind::NoKeg,
        ZoneError::SameKeg => os::ZoneErrorKind::SameKeg,
        ZoneError::BadRounds => os::ZoneErrorKind::BadRounds,
        ZoneError::BadDepot => os::ZoneErrorKind::BadDepot,
        ZoneError::TooMany => os::ZoneErrorKind::TooMany,
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

/// A setup call answered otherwise than the model predicts.
fn setup_mismatch(what: &str, v: Verdict) -> Finding {
    Finding {
        target: SlabTarget::NAME,
        op_index: None,
        op: what.to_string(),
        kind: FindingKind::Oracle(from_verdict(what, String::new(), v)),
    }
}

/// Builds the backend, the slab system and the model, creates the kegs and zones on both
/// (every answer and every layout judged), then drives the ops. A slab system the model
/// refuses to create must be refused too (then no op runs).
pub(super) fn execute(
    s: &Scenario,
    bugs: BugSet,
    trace: Option<&mut String>,
) -> Result<Stats, Finding> {
    let log: Log = Rc::new(RefCell::new(Vec::new()));
    let made = Slabs::with_hooks(s.cpus, Recorder(log.clone()));
    let model = SlabModel::new(s.cpus);
    let create = |r: &Result<Slabs<Recorder>, CreateError>| {
        r.as_ref().map(|_| ()).map_err(|e| match e {
            CreateError::BadCpus => os::CreateErrorKind::BadCpus,
        })
    };
    os::judge_eq(
        os::Check::Create,
        &model.as_ref().map(|_| ()).map_err(|e| *e),
        &create(&made),
    )
    .map_err(|v| setup_mismatch("new", v))?;
    let (Ok(mut slabs), Ok(mut model)) = (made, model) else {
        if let Some(t) = trace {
            t.push_str("  new -> Err(BadCpus) (predicted); no op runs\n");
        }
        return Ok(Stats::refused(&CreateError::BadCpus));
    };
    #[cfg(feature = "seeded-bugs")]
    slabs.set_bugs(bugs);
    #[cfg(not(feature = "seeded-bugs"))]
    let _ = bugs;
    let mut arena = Arena::new("slab backend", PAGE_SIZE, None)
        .map_err(|e| crate::harness::drive::setup_finding(SlabTarget::NAME, e.to_string()))?;
    let (base, size) = s.backend.span();
    arena.add_span(base, size).map_err(|e| {
        crate::harness::drive::setup_finding(SlabTarget::NAME, format!("backend span: {e}"))
    })?;
    for k in &s.kegs {
        let got = slabs
            .add_keg(k.item_size, k.align, k.refcounts)
            .map(|id| id.0)
            .map_err(keg_kind);
        let want = model.add_keg(k.item_size, k.align, k.refcounts);
        os::judge_eq(os::Check::Create, &want, &got).map_err(|v| setup_mismatch("add_keg", v))?;
        if let Ok(id) = got {
            let ours = slabs.layout(KegId(id)).map(|l| {
                (
                    l.stride,
                    l.slab_size,
                    l.items,
                    l.header == HeaderPlacement::OnSlab,
                    l.header_bytes,
                    l.waste,
                )
            });
            let theirs = model.layout(id).map(|l| {
                (
                    l.stride,
                    l.slab_size,
                    l.items,
                    l.header == os::HeaderKind::OnSlab,
                    l.header_bytes,
                    l.waste,
                )
            });
            os::judge_eq(os::Check::Create, &theirs, &ours)
                .map_err(|v| setup_mismatch("layout", v))?;
        }
    }
    let kegs = model.keg_count() as u8;
    for z in &s.zones {
        let keg = z.keg % (kegs + 1);
        let config = ZoneConfig {
            rounds: z.rounds,
            depot: z.depot,
            limit: z.limit,
        };
        let mconfig = os::ZoneConfig {
            rounds: z.rounds,
            depot: z.depot,
            limit: z.limit,
        };
        let (got, want) = match z.secondary {
            None => (
                slabs.add_zone(KegId(keg), config),
                model.add_zone(keg, mconfig),
            ),
            Some(sec) => {
                let sec = sec % (kegs + 1);
                (
                    slabs.add_packet_zone(KegId(keg), KegId(sec), config),
                    model.add_packet_zone(keg, sec, mconfig),
                )
            }
        };
        let got = got.map(|id| id.0).map_err(zone_kind);
        os::judge_eq(os::Check::Create, &want, &got).map_err(|v| setup_mismatch("add_zone", v))?;
    }
    // The run stops at the first verdict, so the model need not survive one intact.
    model.set_rollback(false);
    let zones = model.zone_count();
    let mut executor = Executor {
        slabs,
        backend: Recording {
            arena,
            log: log.clone(),
        },
        log,
        model,
        live: vec![Vec::new(); zones],
        freed: Recent::new(),
        stats: Stats::default(),
    };
    drive(SlabTarget::NAME, &mut executor, &s.ops, trace)
}

/// The slab system, its backend and the model, and the items ops name by handle.
struct Executor {
    slabs: Slabs<Recorder>,
    backend: Recording,
    log: Log,
    model: SlabModel,
    /// Per zone, its live items, oldest first.
    live: Vec<Vec<Item>>,
    /// Addresses freed lately (double frees).
    freed: Recent<u64, 16>,
    stats: Stats,
}

impl Executor {
    fn zone(&self, z: ZoneSel) -> u8 {
        match z {
            ZoneSel::Index(i) => match self.live.len() {
                0 => 0,
                n => (usize::from(i) % n) as u8,
            },
            ZoneSel::Raw(z) => z,
        }
    }

    fn cpu(&self, c: CpuSel) -> u8 {
        match c {
            CpuSel::Index(i) => i % self.model.cpus().max(1),
            CpuSel::Raw(c) => c,
        }
    }

    /// The op's log in the oracle's words (and whether the backend refused), emptied.
    fn take_events(&self) -> (Vec<Event>, bool) {
        let mut log = self.log.borrow_mut();
        let out = events(&log);
        log.clear();
        out
    }

    /// The backend span's first byte: what an address selector with nothing to pick names.
    fn fallback(&self) -> u64 {
        self.backend.arena.segments().next().map_or(0, |s| match s {
            crate::vmem::SegmentView::Span { range, .. }
            | crate::vmem::SegmentView::Free(range)
            | crate::vmem::SegmentView::Allocated(range) => range.start(),
        })
    }

    fn addr(&self, sel: AddrSel) -> u64 {
        let pick = |v: &[u64], i: usize| match v.len() {
            0 => self.fallback(),
            n => v[i % n],
        };
        let live = || -> Vec<&Item> { self.live.iter().flatten().collect() };
        match sel {
            AddrSel::Live { handle } => {
                let v: Vec<u64> = live().iter().map(|i| i.addr).collect();
                pick(&v, handle.into())
            }
            AddrSel::PairHalf { handle } => {
                let v: Vec<u64> = live().iter().filter_map(|i| i.pair).collect();
                pick(&v, handle.into())
            }
            AddrSel::Cached { index } => {
                let mut v = Vec::new();
                for z in 0..self.model.zone_count() as u8 {
                    for c in 0..self.model.cpus() {
                        if let Some((loaded, previous)) = self.model.magazines(z, c) {
                            v.extend(loaded.iter().chain(previous).map(|i| i.addr));
                        }
                    }
                    for m in self.model.depot(z).unwrap_or_default() {
                        v.extend(m.iter().map(|i| i.addr));
                    }
                }
                pick(&v, index.into())
            }
            AddrSel::Freed { index } => self
                .freed
                .pick(index.into())
                .unwrap_or_else(|| self.fallback()),
            AddrSel::Interior { handle, offset } => {
                let v: Vec<u64> = live().iter().map(|i| i.addr).collect();
                pick(&v, handle.into()).wrapping_add(u64::from(offset))
            }
            AddrSel::SlabEnd { slab, back } => {
                let mut v: Vec<(u64, u8)> = Vec::new();
                for k in 0..self.model.keg_count() as u8 {
                    for s in self.model.slab_views(k).unwrap_or_default() {
                        v.push((s.base, k));
                    }
                }
                v.sort_unstable();
                let picked = match v.len() {
                    0 => None,
                    n => {
                        let (base, k) = v[usize::from(slab) % n];
                        self.model.layout(k).map(|l| (base, l))
                    }
                };
                match picked {
                    None => self.fallback(),
                    Some((base, l)) => {
                        // The edges of the slab's parts, each from both sides: the header's
                        // first byte and the one before it, the first byte past the last
                        // item and the last item's last byte, the last item's start; else
                        // `back / 8` bytes before the slab's end.
                        let header = l.header_offset().min(l.slab_size);
                        let items_end = l.items * l.stride;
                        let off = match back % 8 {
                            0 => header.min(l.slab_size - 1),
                            1 => header - 1,
                            2 => items_end.min(l.slab_size - 1),
                            3 => items_end - 1,
                            4 => items_end - l.stride,
                            _ => l.slab_size - 1 - u64::from(back / 8) % l.slab_size,
                        };
                        base.wrapping_add(off)
                    }
                }
            }
            AddrSel::Raw(a) => a,
        }
    }

    /// One allocation on both sides, judged; the item on success.
    fn alloc_one(&mut self, zone: u8, cpu: u8) -> Result<Result<Item, AllocError>, Mismatch> {
        let got = self.slabs.alloc(ZoneId(zone), cpu, &mut self.backend);
        let (events, refused) = self.take_events();
        let actual = got.map(|i| (i.addr, i.pair)).map_err(alloc_kind);
        self.model
            .alloc(zone, cpu, actual, refused, &events)
            .map_err(|v| from_verdict("alloc", format!("zone {zone} cpu {cpu}"), v))?;
        self.stats.count_result(&got);
        if let Ok(item) = got {
            if let Some(l) = self.live.get_mut(usize::from(zone)) {
                l.push(item);
            }
        }
        Ok(got)
    }

    /// One free on both sides, judged.
    fn free_one(
        &mut self,
        zone: u8,
        cpu: u8,
        addr: u64,
    ) -> Result<Result<(), FreeError>, Mismatch> {
        let got = self.slabs.free(ZoneId(zone), cpu, addr);
        let (events, _) = self.take_events();
        self.model
            .free(zone, cpu, addr, got.map_err(free_kind), &events)
            .map_err(|v| from_verdict("free", format!("zone {zone} cpu {cpu} {addr:#x}"), v))?;
        self.stats.count_result(&got);
        if got.is_ok() {
            for l in &mut self.live {
                l.retain(|i| i.addr != addr);
            }
            self.freed.push(addr);
        }
        Ok(got)
    }
}

impl Machine for Executor {
    type Op = Op;

    fn step(&mut self, op: &Op) -> Result<String, Mismatch> {
        match *op {
            Op::Alloc { zone, cpu } => {
                let (z, c) = (self.zone(zone), self.cpu(cpu));
                let got = self.alloc_one(z, c)?;
                Ok(outcome!("{got:x?}"))
            }
            Op::AllocBurst { zone, cpu, count } => {
                let (z, c) = (self.zone(zone), self.cpu(cpu));
                let mut done = 0;
                let mut last = None;
                for _ in 0..count {
                    match self.alloc_one(z, c)? {
                        Ok(_) => done += 1,
                        Err(e) => {
                            last = Some(e);
                            break;
                        }
                    }
                }
                Ok(match last {
                    None => outcome!("{done} allocated"),
                    Some(e) => outcome!("{done} allocated, then Err({e:?})"),
                })
            }
            Op::Free { zone, cpu, handle } => {
                let (z, c) = (self.zone(zone), self.cpu(cpu));
                let addr = match self.live.get(usize::from(z)).map(Vec::as_slice) {
                    Some(l) if !l.is_empty() => l[usize::from(handle) % l.len()].addr,
                    _ => self.fallback(),
                };
                let got = self.free_one(z, c, addr)?;
                Ok(outcome!("{addr:#x}: {got:?}"))
            }
            Op::FreeBurst { zone, cpu, count } => {
                let (z, c) = (self.zone(zone), self.cpu(cpu));
                let newest: Vec<u64> = self
                    .live
                    .get(usize::from(z))
                    .map(|l| l.iter().rev().take(count.into()).map(|i| i.addr).collect())
                    .unwrap_or_default();
                let mut done = 0;
                for addr in newest {
                    if self.free_one(z, c, addr)?.is_err() {
                        break;
                    }
                    done += 1;
                }
                Ok(outcome!("{done} freed"))
            }
            Op::FreeAt { zone, cpu, addr } => {
                let (z, c) = (self.zone(zone), self.cpu(cpu));
                let a = self.addr(addr);
                let got = self.free_one(z, c, a)?;
                Ok(outcome!("{a:#x}: {got:?}"))
            }
            Op::SetLimit { zone, limit } => {
                let z = self.zone(zone);
                let got = self.slabs.set_limit(ZoneId(z), limit);
                let want = self.model.set_limit(z, limit);
                os::judge_eq(os::Check::Create, &want, &got.map_err(zone_kind))
                    .map_err(|v| from_verdict("set_limit", format!("zone {z} {limit}"), v))?;
                self.stats.count_result(&got);
                Ok(outcome!("{got:?}"))
            }
            Op::Refcount { addr } => {
                let a = self.addr(addr);
                let got = self.slabs.refcount(a);
                self.model
                    .refcount(a, got.map_err(ref_kind))
                    .map_err(|v| from_verdict("refcount", format!("{a:#x}"), v))?;
                self.stats.count_result(&got);
                Ok(outcome!("{a:#x}: {got:?}"))
            }
            Op::SetRefcount { addr, value } => {
                let a = self.addr(addr);
                let got = self.slabs.set_refcount(a, value);
                self.model
                    .set_refcount(a, value, got.map_err(ref_kind))
                    .map_err(|v| from_verdict("set_refcount", format!("{a:#x} {value}"), v))?;
                self.stats.count_result(&got);
                Ok(outcome!("{a:#x}: {got:?}"))
            }
            Op::Reclaim => {
                let r = self.slabs.reclaim(&mut self.backend);
                let (events, _) = self.take_events();
                self.model
                    .reclaim((r.items, r.slabs), &events)
                    .map_err(|v| from_verdict("reclaim", String::new(), v))?;
                self.stats.count(true);
                Ok(outcome!(
                    "{} items drained, {} slabs released",
                    r.items,
                    r.slabs
                ))
            }
        }
    }

    fn check_invariants(&self) -> Result<(), BrokenInvariant> {
        self.slabs.check_invariants().map_err(|e| {
            let detail = format!("{e:x?}");
            BrokenInvariant::new(format!("slabs {}", variant_path(&detail)), detail)
        })?;
        self.backend
            .arena
            .check_invariants()
            .map_err(|e| BrokenInvariant::new(format!("backend {}", e.invariant), e.detail.clone()))
    }

    fn compare_state(&self) -> Result<(), StateDiff> {
        let diff = |what: String, ours: String, theirs: String| {
            if ours == theirs {
                Ok(())
            } else {
                Err(StateDiff::new(what, ours, theirs))
            }
        };
        for z in 0..self.model.zone_count() as u8 {
            let ours = self
                .slabs
                .zone_stats(ZoneId(z))
                .map(|s| (s.live, s.cached, s.limit, s.allocs, s.frees));
            let theirs = self
                .model
                .zone_stats(z)
                .map(|s| (s.live, s.cached, s.limit, s.allocs, s.frees));
            diff(
                format!("zone {z} (live, cached, limit, allocs, frees)"),
                format!("{ours:?}"),
                format!("{theirs:?}"),
            )?;
        }
        let mut slab_bytes = 0u128;
        for k in 0..self.model.keg_count() as u8 {
            let ours = self
                .slabs
                .keg_stats(KegId(k))
                .map(|s| (s.slabs, s.items_free, s.items_out));
            let theirs = self
                .model
                .keg_stats(k)
                .map(|s| (s.slabs, s.items_free, s.items_out));
            diff(
                format!("keg {k} (slabs, items free, items out)"),
                format!("{ours:?}"),
                format!("{theirs:?}"),
            )?;
            let ours: Vec<(u64, u64, u64)> = self
                .slabs
                .slabs(KegId(k))
                .map(|s| (s.base, s.size, s.free_items))
                .collect();
            let theirs: Vec<(u64, u64, u64)> = self
                .model
                .slab_views(k)
                .unwrap_or_default()
                .iter()
                .map(|s| (s.base, s.size, s.free_items))
                .collect();
            if ours != theirs {
                return Err(StateDiff::new(
                    format!("keg {k} slabs (base, size, free items)"),
                    format!("{ours:x?}"),
                    format!("{theirs:x?}"),
                ));
            }
            slab_bytes += theirs.iter().map(|s| u128::from(s.1)).sum::<u128>();
        }
        diff(
            "backend bytes allocated (the slabs held)".into(),
            self.backend.arena.stats().in_use.to_string(),
            slab_bytes.to_string(),
        )
    }

    fn stats(&self) -> Stats {
        self.stats
    }

    fn address_map(&self) -> AddressMap {
        super::map::address_map(&self.slabs, &self.model, &self.live)
    }

    fn summary(&self) -> String {
        let live: usize = self.live.iter().map(Vec::len).sum();
        let slabs: u64 = (0..self.model.keg_count() as u8)
            .filter_map(|k| self.model.keg_stats(k))
            .map(|s| s.slabs)
            .sum();
        format!(
            "{live} live items in {} zones, {slabs} slabs, {:#x} backend bytes in use",
            self.live.len(),
            self.backend.arena.stats().in_use
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
