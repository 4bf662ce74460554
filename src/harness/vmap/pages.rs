//! The page-level judge of the vmalloc layer: what every simulated CPU may translate.
//!
//! The vmap oracle knows areas (busy, lazily freed, their guard pages); it knows no frames and
//! no TLBs. This file adds, beside it, the facts a page-level verdict needs, and nothing the
//! implementation could share a bug with:
//!
//! - the frames each vmalloc'd area was given (read once, when the vmalloc returns, and
//!   checked then: one per page, inside the data pool, owned by no other busy area); a
//!   lazily freed area's frames are kept until its purge, as the only frames a stale entry
//!   for its pages may still show;
//! - the held flushes and the TLB fills, in [`HeldFlushes`] (`super::super::mmu::flushes`):
//!   each vfree of a vmalloc'd area holds a flush of its pages in every space until the next
//!   purge; every successful access is a fill.
//!
//! An access by CPU `c` at `addr` is judged against the model's area at `addr`:
//!
//! | what `addr` is                         | the only legal answers                              |
//! |----------------------------------------|-----------------------------------------------------|
//! | a page of a vmalloc'd busy area        | its frame (+ offset); a fetch faults where NX exists |
//! | a page of a reserved busy area         | not present                                          |
//! | a guard page                           | not present, on every CPU                            |
//! | a page of a lazily freed vmalloc'd area | not present, or a stale hit to its old frame iff `c` loaded the page before the vfree and no purge has happened since (held and filled) |
//! | anything else (free, outside the space) | not present (non-canonical: a #GP)                  |
//!
//! So a stale hit anywhere but a lazily freed page (above all: a page of an area handed out
//! again, through its previous owner's entry) is a finding. Two checks do not wait for an
//! access: after every purge no CPU holds a TLB entry overlapping the purged range, and a
//! fresh area (vmalloc'd or reserved) has no TLB entry on any CPU.

use std::collections::{BTreeMap, BTreeSet};

use kvafuzz_oracles::vmap::{Part, PurgeRecord, VmapModel};

use super::super::mmu::flushes::{CachedPage, FlushRange, HeldFlushes, Page, Spaces, TlbDrop};
use crate::addr::{Arch, PAGE_SIZE};
use crate::harness::recent::Recent;
use crate::harness::{Claim, Mismatch};
use crate::mmu::geometry::Geometry;
use crate::mmu::{AccessError, AccessKind, CpuId, PageFlags, Translation};
use crate::outcome;
use crate::vmap::{Vmalloc, DATA_POOL_BASE};

/// Pages of recently vfree'd areas remembered for [`super::AccessSel::Freed`]: 32.
pub const MAX_FREED: usize = 32;

/// Pages of one vfree'd area remembered: its first and last.
const FREED_PER_AREA: u64 = 2;

/// What an access must answer (module comment, the table).
struct Expect {
    /// The physical address, or the fault.
    answer: Result<u64, AccessError>,
    /// The frame a stale hit may show (a page of a lazily freed vmalloc'd area).
    stale_to: Option<u64>,
    /// What the address is, for a finding.
    what: &'static str,
}

/// The page-level facts beside the model (module comment).
pub(super) struct Pages {
    /// The paging mode.
    arch: Arch,
    /// CPUs.
    cpus: u8,
    /// Data frames in the pool.
    frames: u64,
    /// Frames of every vmalloc'd busy area, by start, in page order.
    busy: BTreeMap<u64, Vec<u64>>,
    /// Frames of every vmalloc'd lazily freed area, by start, until the purge.
    lazy: BTreeMap<u64, Vec<u64>>,
    /// Frames of the busy areas.
    owned: BTreeSet<u64>,
    /// Held flushes and TLB fills (CPU numbers as `u32`; every range concerns every space).
    flushes: HeldFlushes<()>,
    /// Pages of recently vfree'd areas.
    freed: Recent<u64, MAX_FREED>,
}

/// A 4 KiB page at `base`.
fn page(base: u64) -> Page {
    Page {
        base: base.into(),
        size: PAGE_SIZE.into(),
    }
}

impl Pages {
    /// Nothing mapped, nothing held, `frames` data frames free.
    pub(super) fn new(arch: Arch, cpus: u8, frames: u64) -> Pages {
        Pages {
            arch,
            cpus,
            frames,
            busy: BTreeMap::new(),
            lazy: BTreeMap::new(),
            owned: BTreeSet::new(),
            flushes: HeldFlushes::new(),
            freed: Recent::new(),
        }
    }

    /// The data frames that must be free.
    pub(super) fn free_frames(&self) -> u64 {
        self.frames - self.owned.len() as u64
    }

    /// The vmalloc'd busy areas as `(start, bytes of their pages)`, by start: what the
    /// kernel page table must map.
    pub(super) fn mapped(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.busy
            .iter()
            .map(|(&start, frames)| (start, frames.len() as u64 * PAGE_SIZE))
    }

    /// A remembered page of a vfree'd area (`None` if none).
    pub(super) fn freed(&self, index: u8) -> Option<u64> {
        self.freed.pick(usize::from(index))
    }

    /// Records the frames of the area vmalloc placed at `start` with `pages` pages, checking
    /// them, and that no CPU holds an entry for it.
    pub(super) fn vmalloced(
        &mut self,
        vm: &Vmalloc,
        start: u64,
        pages: u64,
        last: u64,
    ) -> Result<(), Mismatch> {
        let frames: Vec<u64> = vm.area_frames(start).into_iter().flatten().collect();
        let pool_end = u128::from(DATA_POOL_BASE) + u128::from(self.frames * PAGE_SIZE);
        let bad = frames.iter().enumerate().find(|&(i, &pa)| {
            !pa.is_multiple_of(PAGE_SIZE)
                || pa < DATA_POOL_BASE
                || u128::from(pa) >= pool_end
                || self.owned.contains(&pa)
                || frames[..i].contains(&pa)
        });
        if frames.len() as u64 != pages || bad.is_some() {
            return Err(Mismatch::new(
                "vmalloc frames",
                format!("area {start:#x} of {pages} pages"),
                Claim::new(
                    "one fresh pool frame per page",
                    format!("{pages} distinct frames of the pool, owned by no busy area"),
                ),
                Claim::new(
                    if bad.is_some() {
                        "a frame outside the pool or owned twice"
                    } else {
                        "another frame count"
                    },
                    format!("{frames:x?}"),
                ),
            ));
        }
        self.owned.extend(frames.iter().copied());
        self.busy.insert(start, frames);
        self.no_entries(vm, start, last, "a fresh area")
    }

    /// The vmalloc'd area at `start` was vfree'd: its frames are free, its pages' flush is
    /// held until the purge.
    pub(super) fn vfreed(&mut self, start: u64) {
        let Some(frames) = self.busy.remove(&start) else {
            return;
        };
        for pa in &frames {
            self.owned.remove(pa);
        }
        let n = frames.len() as u64;
        if n > 0 {
            let last = start + (n * PAGE_SIZE - 1);
            self.flushes.hold(
                (),
                FlushRange {
                    spaces: Spaces::All,
                    start: start.into(),
                    last: last.into(),
                },
            );
            for i in [0, n - 1].into_iter().take(FREED_PER_AREA as usize) {
                self.freed.push(start + i * PAGE_SIZE);
            }
        }
        self.lazy.insert(start, frames);
    }

    /// A purge of `p` happened: every lazily freed area is gone, every held flush applied,
    /// and no CPU may hold an entry in the purged range.
    pub(super) fn purged(&mut self, vm: &Vmalloc, p: PurgeRecord) -> Result<(), Mismatch> {
        self.lazy.clear();
        self.flushes.release();
        self.no_entries(vm, p.start, p.last, "a purged range")
    }

    /// No CPU's TLB holds an entry overlapping `[first, last]` (`what` it is).
    pub(super) fn no_entries(
        &self,
        vm: &Vmalloc,
        first: u64,
        last: u64,
        what: &str,
    ) -> Result<(), Mismatch> {
        let range = TlbDrop::Range {
            space: 0,
            start: first.into(),
            last: last.into(),
        };
        for c in 0..u32::from(self.cpus) {
            let left: Vec<(u64, u64)> = vm
                .mmu()
                .tlb_entries(CpuId(c))
                .into_iter()
                .filter(|e| {
                    range.drops(&CachedPage {
                        space: e.asid.raw(),
                        page: Page {
                            base: e.page_base.into(),
                            size: e.page_size.into(),
                        },
                        global: e.flags.contains(PageFlags::GLOBAL),
                    })
                })
                .map(|e| (e.page_base, e.page_size))
                .collect();
            if !left.is_empty() {
                return Err(Mismatch::new(
                    format!("TLB of cpu{c} over {what}"),
                    format!("[{first:#x}, {last:#x}]"),
                    Claim::new("no entry", "no entry (every CPU flushed it)"),
                    Claim::new(
                        "stale entries of a previous owner",
                        format!("entries (page, size) {left:x?}"),
                    ),
                ));
            }
        }
        Ok(())
    }

    /// What an access at `addr` of `kind` must answer (module comment, the table).
    fn expect(&self, model: &VmapModel, addr: u64, kind: AccessKind) -> Expect {
        let fault = |what| Expect {
            answer: Err(AccessError::NotPresent),
            stale_to: None,
            what,
        };
        if !self.arch.is_canonical(addr) {
            return Expect {
                answer: Err(AccessError::NonCanonical),
                stale_to: None,
                what: "a non-canonical address",
            };
        }
        let Some((area, part)) = model.area_at(addr) else {
            return fault("an address in no area");
        };
        if part == Part::Guard {
            return fault("a guard page");
        }
        let index = ((addr - area.start) / PAGE_SIZE) as usize;
        let off = addr % PAGE_SIZE;
        if area.is_lazy() {
            return Expect {
                stale_to: self
                    .lazy
                    .get(&area.start)
                    .and_then(|f| f.get(index))
                    .map(|pa| pa + off),
                ..fault("a page of a lazily freed area")
            };
        }
        match self.busy.get(&area.start).and_then(|f| f.get(index)) {
            Some(&pa) => Expect {
                answer: if kind == AccessKind::Execute && Geometry::new(self.arch).has_nx() {
                    Err(AccessError::Protection)
                } else {
                    Ok(pa + off)
                },
                stale_to: None,
                what: "a page of a busy area",
            },
            None => fault("a page of a reserved area"),
        }
    }

    /// Runs and judges an access by CPU `cpu` (modulo the CPU count) at `addr`: its trace
    /// text and its outcome (for the counts).
    pub(super) fn access(
        &mut self,
        vm: &mut Vmalloc,
        model: &VmapModel,
        cpu: u8,
        addr: u64,
        kind: AccessKind,
    ) -> Result<(String, Result<(), AccessError>), Mismatch> {
        let c = cpu % self.cpus;
        let got = vm.access(CpuId(u32::from(c)), addr, kind);
        let want = self.expect(model, addr, kind);
        let args = || format!("cpu{c} {kind:?} {addr:#x} ({})", want.what);
        let ok = got.as_ref().map(|_| ()).map_err(|e| *e);
        match got {
            Ok(t) if want.answer == Ok(t.pa) && t.page_size == PAGE_SIZE => {
                self.flushes.record_fill(u32::from(c), page(t.page_base));
                Ok((outcome!("cpu{c}: {:#x} ({})", t.pa, want.what), ok))
            }
            Err(AccessError::Stale(s)) => self.judge_stale(c, addr, &want, s).map(|t| (t, ok)),
            Err(e) if want.answer == Err(e) => Ok((outcome!("cpu{c}: {e:?} ({})", want.what), ok)),
            got => Err(Mismatch::new(
                "access",
                args(),
                Claim::value(&want.answer),
                Claim::value(&got.map(|t: Translation| t.pa)),
            )),
        }
    }

    /// A stale hit is legal only on a lazily freed page, to its old frame, by a CPU that
    /// loaded it, before the purge (module comment).
    fn judge_stale(
        &self,
        c: u8,
        addr: u64,
        want: &Expect,
        s: crate::mmu::StaleTlb,
    ) -> Result<String, Mismatch> {
        let legal = self.flushes.allows_stale(
            u32::from(c),
            0,
            addr.into(),
            Page {
                base: s.cached.page_base.into(),
                size: s.cached.page_size.into(),
            },
        );
        let why = match (want.stale_to, legal) {
            (None, _) if want.what == "a page of a busy area" => {
                "through a stale entry of the previous owner of an area handed out again"
            }
            (None, _) => "where no stale entry may be left",
            (Some(_), Err(u)) => u.reason(),
            (Some(pa), Ok(())) if pa != s.cached.pa => "to another frame than the page's old one",
            (Some(_), Ok(())) if s.current.is_some() => "while the page is mapped again",
            (Some(_), Ok(())) if s.cpu != CpuId(u32::from(c)) => "reported for another CPU",
            (Some(_), Ok(())) => {
                return Ok(outcome!(
                    "cpu{c}: stale (legal: loaded before the vfree, purge pending): {:#x}",
                    s.cached.pa
                ))
            }
        };
        Err(Mismatch::new(
            "access",
            format!("cpu{c} {addr:#x} ({})", want.what),
            Claim::value(&want.answer),
            Claim::new(
                format!("a stale TLB hit {why}"),
                format!(
                    "a stale TLB hit {why}: cached {:x?}, current {:x?}",
                    s.cached, s.current
                ),
            ),
        ))
    }
}
