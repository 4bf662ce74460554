//! # vmalloc: vmap areas mapped through the page tables (issue 16)
//!
//! ## 1. Concepts
//!
//! - A [`Vmalloc`] is one vmap space ([`VmapSpace`], any strategy) plus the machine that
//!   translates it: an [`Mmu`] whose kernel address space ([`Asid::KERNEL`]) holds the
//!   space's mappings, with one TLB per simulated CPU. The space must lie in the kernel half
//!   of the paging mode and be canonical at both ends (x86_64's and LA57's vmalloc ranges,
//!   IA-32's and PAE's above `0xC000_0000`); anything else is
//!   [`NewVmallocError::NotKernelSpace`].
//! - A **data frame** is one 4 KiB page of simulated memory that a vmalloc'd page maps to. The
//!   MMU's own frame pool holds only page-table pages (its leaves point at caller-chosen
//!   physical addresses), so the data frames are a second pool owned here: `frames` frames at
//!   physical [`DATA_POOL_BASE`] + `i * 4096`, above the table pool (1 MiB + at most 256 MiB),
//!   below 4 GiB so that every mode can map them. Free frames are handed out oldest-freed
//!   first (a FIFO), so a frame is not reused at once: a stale TLB entry and the page's new
//!   owner then disagree on the frame, which makes staleness visible.
//! - An area is **vmalloc'd** ([`Vmalloc::vmalloc`], [`Vmalloc::vmalloc_range`]: every page
//!   mapped, never the guard page) or **reserved** ([`Vmalloc::reserve`], Linux's
//!   `get_vm_area`, what vmap and ioremap start with: the address range only, no page mapped).
//!   The **book** records, for every busy area, the frames its pages map (none for a reserved
//!   area).
//! - A **held flush** is an MMU flush token of an unmap whose TLB shootdown is put off:
//!   Linux's `vfree` unmaps with `unmap_kernel_range_noflush` and frees the area lazily.
//!
//! ## 2. Operations
//!
//! - `vmalloc_range(req)` checks the request as the space does (its errors first, in the
//!   contract's order), then that enough data frames are free (else
//!   [`VmallocError::OutOfFrames`], nothing changed: frames are counted before the area is
//!   taken), then takes the area (an allocation that purges and retries flushes first, see
//!   below; `NoSpace` last), takes the frames and maps every page of the area, one 4 KiB
//!   leaf each (writable, global, no-execute where the mode has NX: Linux's `PAGE_KERNEL`). If
//!   the MMU runs out of page-table frames part way, the pages mapped so far are unmapped and
//!   their flush applied at once (no CPU can have loaded a page of an area not yet handed
//!   out), the frames go back, and the area is freed lazily, as Linux's failing
//!   `__vmalloc_area_node` does with `vfree`: nothing is left half-mapped
//!   ([`VmallocError::OutOfTableFrames`]). `vmalloc(size, align, guard)` is the same over the
//!   whole space.
//! - `vfree(addr)`: `addr` must start a busy area ([`VfreeError::NotBusy`] otherwise, nothing
//!   changed). Its pages are unmapped at once, their frames freed at once (Linux frees the
//!   pages in `vfree`, before the purge), the flush token is **held**, and the area is freed
//!   lazily.
//! - **Purge**: whenever the space purges (a free past the lazy limit, an allocation that
//!   purges and retries, or [`Vmalloc::purge`]), one flush of `[purge.start, purge.last]`
//!   (every space: the kernel half is shared) is applied on every CPU, and the held tokens it
//!   covers are dropped. Until then a CPU that loaded a page before its vfree may still
//!   translate it, to its old frame, through a stale entry; after it, no CPU can, so a range
//!   handed out again is never translated through its previous owner's entries. The purge is
//!   reported by [`Vmalloc::take_purge`], as the space reports it.
//! - `access(cpu, addr, kind)`: a supervisor access by `cpu` in the kernel space, through that
//!   CPU's TLB ([`Mmu::access`]: a stale hit is reported as [`AccessError::Stale`]).
//!
//! ## 3. Invariants ([`Vmalloc::check_invariants`])
//!
//! The space's and the MMU's own; the book's areas are exactly the space's busy areas; the
//! 4 KiB leaves mapped in the kernel space inside the space are exactly the pages of the
//! vmalloc'd busy areas, each to the frame the book names (so no guard page and no page of a
//! lazily freed area is ever mapped, and a reserved area has no page mapped); every frame is
//! either free or in the book, once; every held flush lies inside a lazily freed area.
//!
//! ## 4. Limits
//!
//! [`MAX_DATA_FRAMES`] data frames (256 MiB), so the pool ends at `0x3000_0000`.
//!
//! ## 5. Seeded bugs
//!
//! VfreeFlushesNothing (the purge flushes CPU 0 only) and GuardPageMapped (vmalloc maps the
//! guard page too), each a small function marked `SEEDED BUG <Name>` below.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use super::{AllocError, AreaState, CreateError, FreeError, Purge, Strategy, VmapConfig};
use super::{InvariantError, VmapRequest, VmapSpace};
use crate::addr::{Arch, Range, PAGE_SIZE};
use crate::mmu::geometry::Geometry;
use crate::mmu::{
    Access, AccessError, AccessKind, Asid, CpuId, Flush, FlushScope, MapError, Mmu, MmuConfig,
    NewError, PageFlags, Translation, UnmapError,
};

#[cfg(feature = "seeded-bugs")]
use crate::bugs::{Bug, BugSet};

/// Physical address of data frame 0: 512 MiB, above the MMU's table pool (which ends at
/// 1 MiB + 256 MiB at most).
pub const DATA_POOL_BASE: u64 = 0x2000_0000;

/// Most data frames: 2^16 (256 MiB), so the pool ends at `0x3000_0000`, below IA-32's 4 GiB.
pub const MAX_DATA_FRAMES: u32 = 1 << 16;

/// The configuration of a [`Vmalloc`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmallocConfig {
    /// The vmap space (in the kernel half of `arch`, canonical).
    pub space: VmapConfig,
    /// Its search strategy.
    pub strategy: Strategy,
    /// The paging mode.
    pub arch: Arch,
    /// The machine: page-table frames, CPUs, TLB entries.
    pub mmu: MmuConfig,
    /// Data frames, `1..=MAX_DATA_FRAMES`.
    pub frames: u32,
}

/// Why a [`Vmalloc`] cannot be made (checked in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewVmallocError {
    /// The space's bounds are refused ([`VmapSpace::new`]).
    Space(CreateError),
    /// The space does not lie in the mode's kernel half, or an end is not canonical.
    NotKernelSpace,
    /// `frames` is 0 or above [`MAX_DATA_FRAMES`].
    BadFrameCount,
    /// The machine's configuration is refused ([`Mmu::new`]).
    Mmu(NewError),
}

/// Why a `vmalloc` fails (checked in this order; see the module comment, section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmallocError {
    /// The request itself is refused (zero size, bad alignment, bad window, size wraps), or,
    /// after the frames are counted, no placement exists (`NoSpace`).
    Alloc(AllocError),
    /// Fewer free data frames than the area has pages. Nothing changed.
    OutOfFrames,
    /// The MMU ran out of page-table frames while mapping; the pages mapped were unmapped
    /// (flushed), the frames given back, and the area freed lazily.
    OutOfTableFrames,
    /// The tables refused a page for another reason (only a broken invariant can cause it);
    /// cleaned up as for `OutOfTableFrames`.
    Tables(MapError),
}

/// Why a `vfree` fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VfreeError {
    /// No busy area starts at the address. Nothing changed.
    NotBusy,
    /// The tables refused to unmap the area's pages (only a broken invariant can cause it);
    /// the area stays busy.
    Tables(UnmapError),
}

/// A broken invariant of a [`Vmalloc`] (module comment, section 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmallocInvariantError {
    /// The space's own.
    Space(InvariantError),
    /// The MMU's own.
    Mmu(crate::mmu::InvariantError),
    /// The book and the space's busy areas differ at this start.
    Book {
        /// The first start where they differ.
        start: u64,
    },
    /// A vmalloc'd area's frame count is not its page count.
    FrameCount {
        /// The area.
        start: u64,
        /// Frames in the book.
        frames: u64,
        /// Its pages.
        pages: u64,
    },
    /// A guard page is mapped.
    GuardPageMapped {
        /// The guard page.
        va: u64,
    },
    /// A page of a lazily freed area is mapped.
    LazyPageMapped {
        /// The page.
        va: u64,
    },
    /// A page in the space but in no vmalloc'd busy area (a reserved area's, or a free
    /// address) is mapped, or a leaf is not a 4 KiB page.
    StrayMapping {
        /// The leaf's first address.
        va: u64,
    },
    /// A page of a vmalloc'd busy area is not mapped.
    PageNotMapped {
        /// The page.
        va: u64,
    },
    /// A page maps another frame than the book's.
    WrongFrame {
        /// The page.
        va: u64,
        /// The physical address it maps.
        pa: u64,
        /// The frame the book names.
        frame: u64,
    },
    /// A frame is in the book twice, or in the book and free, or neither, or free twice.
    FrameAccounting {
        /// The frame's index.
        frame: u32,
    },
    /// A held flush covers something other than a lazily freed area's pages.
    HeldOutsideLazy {
        /// First address of the held range.
        start: u64,
        /// Last address of the held range.
        last: u64,
    },
}

/// A vmap space mapped through the page tables; see the module comment.
#[derive(Clone, Debug)]
pub struct Vmalloc {
    /// The address-space allocator.
    space: VmapSpace,
    /// The machine.
    mmu: Mmu,
    /// Busy areas by start: the data frames their pages map, in page order (none for a
    /// reserved area).
    book: BTreeMap<u64, Vec<u32>>,
    /// Free data frames, oldest freed first.
    free: VecDeque<u32>,
    /// Data frames in the pool.
    frames: u32,
    /// Flush tokens of vfree's unmaps, waiting for the purge.
    held: Vec<Flush>,
    /// The latest purge not yet taken.
    pending: Option<Purge>,
    /// The leaf flags of a vmalloc'd page.
    flags: PageFlags,
    /// Seeded bugs switched on (fuzz self-test only).
    #[cfg(feature = "seeded-bugs")]
    bugs: BugSet,
}

/// Physical address of data frame `i`.
const fn frame_pa(i: u32) -> u64 {
    DATA_POOL_BASE + i as u64 * PAGE_SIZE
}

/// `true` iff `[start, last]` lies in the kernel half of `arch` and both ends are canonical.
pub fn in_kernel_space(arch: Arch, start: u64, last: u64) -> bool {
    let g = Geometry::new(arch);
    start <= last
        && last <= arch.max_addr()
        && arch.is_canonical(start)
        && arch.is_canonical(last)
        && g.in_kernel_half(start)
        && g.in_kernel_half(last)
}

impl Vmalloc {
    /// An empty space over `cfg.space` with every data frame free and every TLB empty.
    pub fn new(cfg: VmallocConfig) -> Result<Vmalloc, NewVmallocError> {
        let space = VmapSpace::new(cfg.space, cfg.strategy).map_err(NewVmallocError::Space)?;
        if !in_kernel_space(cfg.arch, cfg.space.start, cfg.space.last) {
            return Err(NewVmallocError::NotKernelSpace);
        }
        if cfg.frames == 0 || cfg.frames > MAX_DATA_FRAMES {
            return Err(NewVmallocError::BadFrameCount);
        }
        let mmu = Mmu::new(cfg.arch, cfg.mmu).map_err(NewVmallocError::Mmu)?;
        let mut flags = PageFlags::WRITABLE | PageFlags::GLOBAL;
        if Geometry::new(cfg.arch).has_nx() {
            flags = flags | PageFlags::NO_EXECUTE;
        }
        Ok(Vmalloc {
            space,
            mmu,
            book: BTreeMap::new(),
            free: (0..cfg.frames).collect(),
            frames: cfg.frames,
            held: Vec::new(),
            pending: None,
            flags,
            #[cfg(feature = "seeded-bugs")]
            bugs: BugSet::NONE,
        })
    }

    /// Switch seeded bugs on, here and in the space (fuzz self-test only).
    #[cfg(feature = "seeded-bugs")]
    pub fn set_bugs(&mut self, bugs: BugSet) {
        self.bugs = bugs;
        self.space.set_bugs(bugs);
    }

    /// The address-space allocator.
    pub fn space(&self) -> &VmapSpace {
        &self.space
    }

    /// The machine.
    pub fn mmu(&self) -> &Mmu {
        &self.mmu
    }

    /// Free data frames.
    pub fn free_frames(&self) -> u64 {
        self.free.len() as u64
    }

    /// The leaf flags of a vmalloc'd page (`PAGE_KERNEL`: writable, global, NX if the mode
    /// has it).
    pub fn page_flags(&self) -> PageFlags {
        self.flags
    }

    /// Physical addresses of the frames the pages of the busy area at `start` map, in page
    /// order (empty for a reserved area); `None` if no busy area starts there.
    pub fn area_frames(&self, start: u64) -> Option<impl Iterator<Item = u64> + '_> {
        self.book
            .get(&start)
            .map(|f| f.iter().map(|&i| frame_pa(i)))
    }

    // ---- allocation -------------------------------------------------------------------

    /// `vmalloc(size)` aligned to `align`, anywhere in the space, with or without a guard
    /// page: [`Vmalloc::vmalloc_range`] without a window.
    pub fn vmalloc(&mut self, size: u64, align: u64, guard: bool) -> Result<u64, VmallocError> {
        self.vmalloc_range(&VmapRequest {
            size,
            align,
            window: None,
            guard,
        })
    }

    /// Takes an area for `req` and maps every page of it (never its guard page) to fresh
    /// data frames (module comment, section 2). Returns its start.
    pub fn vmalloc_range(&mut self, req: &VmapRequest) -> Result<u64, VmallocError> {
        let bytes = self.space.validate(req).map_err(VmallocError::Alloc)?;
        let pages = self.mapped_pages(bytes / PAGE_SIZE, req.guard);
        if pages > self.free_frames() {
            return Err(VmallocError::OutOfFrames);
        }
        let addr = self.take_area(req).map_err(VmallocError::Alloc)?;
        let mut frames = Vec::with_capacity(pages as usize);
        for i in 0..pages {
            let Some(f) = self.free.pop_front() else {
                // Counted above; unreachable, but handled as a failed map.
                self.undo(addr, frames, i);
                return Err(VmallocError::OutOfFrames);
            };
            frames.push(f);
            let va = addr + i * PAGE_SIZE;
            if let Err(e) = self.mmu.map(
                Asid::KERNEL,
                va,
                frame_pa(f),
                PAGE_SIZE,
                self.flags,
                PAGE_SIZE,
            ) {
                self.undo(addr, frames, i);
                return Err(match e {
                    MapError::OutOfFrames => VmallocError::OutOfTableFrames,
                    e => VmallocError::Tables(e),
                });
            }
        }
        self.book.insert(addr, frames);
        Ok(addr)
    }

    /// The pages a vmalloc of `pages` pages maps.
    fn mapped_pages(&self, pages: u64, guard: bool) -> u64 {
        #[cfg(feature = "seeded-bugs")]
        // SEEDED BUG GuardPageMapped (Linux: `vm_struct.size` counts the guard page, and
        // `get_vm_area_size()` must subtract it): the mapping uses the area's whole extent.
        if guard && self.bugs.contains(Bug::GuardPageMapped) {
            return pages + 1;
        }
        let _ = guard;
        pages
    }

    /// Undoes a vmalloc whose page `mapped` failed: unmaps pages `0..mapped`, applies that
    /// flush at once, gives `frames` back and frees the area lazily.
    fn undo(&mut self, addr: u64, frames: Vec<u32>, mapped: u64) {
        if mapped > 0 {
            if let Ok(f) = self.mmu.unmap(Asid::KERNEL, addr, mapped * PAGE_SIZE) {
                self.mmu.flush(f);
            }
        }
        self.free.extend(frames);
        self.book.remove(&addr);
        let _ = self.space.free(addr);
        self.settle();
    }

    /// Reserves an area for `req` without mapping anything (Linux's `get_vm_area`).
    pub fn reserve(&mut self, req: &VmapRequest) -> Result<u64, AllocError> {
        let addr = self.take_area(req)?;
        self.book.insert(addr, Vec::new());
        Ok(addr)
    }

    /// The space's allocation, with the flush of a purge it caused applied first.
    fn take_area(&mut self, req: &VmapRequest) -> Result<u64, AllocError> {
        let r = self.space.alloc(req);
        self.settle();
        r
    }

    // ---- free and purge --------------------------------------------------------------

    /// Unmaps the busy area at `addr` without a flush (held until the purge), frees its
    /// frames and frees the area lazily (module comment, section 2).
    pub fn vfree(&mut self, addr: u64) -> Result<(), VfreeError> {
        let Some(frames) = self.book.get(&addr) else {
            return Err(VfreeError::NotBusy);
        };
        if !frames.is_empty() {
            let len = frames.len() as u64 * PAGE_SIZE;
            let token = self
                .mmu
                .unmap(Asid::KERNEL, addr, len)
                .map_err(VfreeError::Tables)?;
            self.held.push(token);
        }
        if let Some(frames) = self.book.remove(&addr) {
            self.free.extend(frames);
        }
        let r = self
            .space
            .free(addr)
            .map_err(|FreeError::NotBusy| VfreeError::NotBusy);
        self.settle();
        r
    }

    /// Purges every lazily freed area now (with its flush on every CPU).
    pub fn purge(&mut self) {
        self.space.purge();
        self.settle();
    }

    /// The most recent purge not yet taken (at most one happens per operation).
    pub fn take_purge(&mut self) -> Option<Purge> {
        self.pending.take()
    }

    /// If the space purged, applies the purge's flush and records it.
    fn settle(&mut self) {
        if let Some(p) = self.space.take_purge() {
            self.flush_purge(p);
            self.pending = Some(p);
        }
    }

    /// One flush of `[p.start, p.last]` on every CPU; the held tokens inside it are done.
    fn flush_purge(&mut self, p: Purge) {
        let Some(range) = Range::from_inclusive(p.start, p.last) else {
            return;
        };
        let f = Flush {
            scope: FlushScope::AllSpaces,
            range,
        };
        self.shoot_down(f);
        self.held.retain(|t| !range.covers(t.range()));
    }

    /// Applies `f` on every CPU.
    fn shoot_down(&mut self, f: Flush) {
        #[cfg(feature = "seeded-bugs")]
        // SEEDED BUG VfreeFlushesNothing (a purge whose `flush_tlb_kernel_range` became a
        // local flush): only CPU 0, the purging one, drops its entries.
        if self.bugs.contains(Bug::VfreeFlushesNothing) {
            let _ = self.mmu.flush_on(CpuId(0), &f);
            return;
        }
        self.mmu.flush(f);
    }

    // ---- access ------------------------------------------------------------------------

    /// A supervisor `kind` access by `cpu` at `addr` in the kernel space, through `cpu`'s TLB.
    pub fn access(
        &mut self,
        cpu: CpuId,
        addr: u64,
        kind: AccessKind,
    ) -> Result<Translation, AccessError> {
        self.mmu
            .access(cpu, Asid::KERNEL, addr, Access { kind, user: false })
    }

    // ---- invariants --------------------------------------------------------------------

    /// Checks every invariant of the module comment, section 3: the MMU's own, then
    /// [`Vmalloc::check_layer`], then that every frame is free or in the book exactly once.
    /// Cost: a walk of every table, and of the pool.
    pub fn check_invariants(&self) -> Result<(), VmallocInvariantError> {
        use VmallocInvariantError as E;
        self.mmu.check_invariants().map_err(E::Mmu)?;
        self.check_layer()?;
        let mut seen = alloc::vec![false; self.frames as usize];
        for &f in self.free.iter().chain(self.book.values().flatten()) {
            match seen.get_mut(f as usize) {
                Some(s) if !*s => *s = true,
                _ => return Err(E::FrameAccounting { frame: f }),
            }
        }
        if let Some(f) = seen.iter().position(|s| !s) {
            return Err(E::FrameAccounting { frame: f as u32 });
        }
        Ok(())
    }

    /// The invariants this layer adds (section 3 without the MMU's own and with the frame
    /// accounting reduced to counts and the book's frames being distinct): the space's, the
    /// book against the busy areas, the mapped pages against the book, the held flushes.
    /// Cost: the space's check, the tables on the way to the space, the book. What a fuzz
    /// harness runs after every op that changed something.
    pub fn check_layer(&self) -> Result<(), VmallocInvariantError> {
        use VmallocInvariantError as E;
        self.space.check_invariants().map_err(E::Space)?;
        let cfg = self.space.config();
        // The pages that must be mapped, in address order, with their frames.
        let mut want: Vec<(u64, u32)> = Vec::new();
        // A frame count that is not the page count, reported after the mappings (which say
        // more: a guard page mapped).
        let mut miscount = None;
        let mut busy = self.book.iter();
        for a in self.space.areas() {
            if a.state != AreaState::Busy {
                continue;
            }
            let Some((&start, frames)) = busy.next() else {
                return Err(E::Book { start: a.start });
            };
            if start != a.start {
                return Err(E::Book {
                    start: start.min(a.start),
                });
            }
            let pages = a.size / PAGE_SIZE;
            if !frames.is_empty() && frames.len() as u64 != pages && miscount.is_none() {
                miscount = Some(E::FrameCount {
                    start,
                    frames: frames.len() as u64,
                    pages,
                });
            }
            want.extend(
                frames
                    .iter()
                    .take(pages as usize)
                    .enumerate()
                    .map(|(i, &f)| (start + i as u64 * PAGE_SIZE, f)),
            );
        }
        if let Some((&start, _)) = busy.next() {
            return Err(E::Book { start });
        }
        let leaves = self.mmu.leaves(Asid::KERNEL, cfg.start, cfg.last);
        let mut want = want.into_iter().peekable();
        for t in &leaves {
            if let Some(&(va, _)) = want.peek().filter(|&&(va, _)| va < t.page_base) {
                return Err(E::PageNotMapped { va });
            }
            match want.peek() {
                Some(&(va, f)) if va == t.page_base && t.page_size == PAGE_SIZE => {
                    if t.pa != frame_pa(f) {
                        return Err(E::WrongFrame {
                            va,
                            pa: t.pa,
                            frame: frame_pa(f),
                        });
                    }
                    want.next();
                }
                _ => return Err(self.stray(t.page_base)),
            }
        }
        if let Some((va, _)) = want.next() {
            return Err(E::PageNotMapped { va });
        }
        if let Some(e) = miscount {
            return Err(e);
        }
        // Frames: the book's are distinct and, with the free ones, as many as the pool's.
        let mut used: Vec<u32> = self.book.values().flatten().copied().collect();
        used.sort_unstable();
        if let Some(w) = used.windows(2).find(|w| w[0] == w[1]) {
            return Err(E::FrameAccounting { frame: w[0] });
        }
        if used.len() + self.free.len() != self.frames as usize {
            return Err(E::FrameAccounting {
                frame: used.last().copied().unwrap_or(0),
            });
        }
        for t in &self.held {
            let r = t.range();
            let inside = self.space.areas().any(|a| {
                a.state == AreaState::Lazy
                    && a.start <= r.start()
                    && u128::from(r.last()) < u128::from(a.start) + u128::from(a.size)
            });
            if !inside {
                return Err(E::HeldOutsideLazy {
                    start: r.start(),
                    last: r.last(),
                });
            }
        }
        Ok(())
    }

    /// What a mapped page at `va` that should not be mapped is.
    fn stray(&self, va: u64) -> VmallocInvariantError {
        for a in self.space.areas() {
            let (s, pages_end) = (
                u128::from(a.start),
                u128::from(a.start) + u128::from(a.size),
            );
            let v = u128::from(va);
            if a.guard && v >= pages_end && v < pages_end + u128::from(PAGE_SIZE) {
                return VmallocInvariantError::GuardPageMapped { va };
            }
            if a.state == AreaState::Lazy && v >= s && v < pages_end {
                return VmallocInvariantError::LazyPageMapped { va };
            }
        }
        VmallocInvariantError::StrayMapping { va }
    }
}

#[cfg(test)]
#[path = "vmalloc_tests.rs"]
mod tests;
