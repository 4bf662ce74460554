//! [`PageTable`]: one address space with its own table pool, the single-space face of [`Mmu`].

use super::*;

/// One address space with its own table pool: the single-space face of [`Mmu`] (it is the
/// kernel space of a one-CPU machine, so both halves are usable).
#[derive(Clone, Debug)]
pub struct PageTable {
    mmu: Mmu,
}

impl PageTable {
    /// An empty address space in mode `arch` with a pool of `frames` frames (the root takes
    /// one).
    pub fn new(arch: Arch, frames: u32) -> Result<PageTable, NewError> {
        Ok(PageTable {
            mmu: Mmu::new(arch, MmuConfig::with_frames(frames))?,
        })
    }

    /// The mode.
    pub fn arch(&self) -> Arch {
        self.mmu.arch()
    }

    /// See [`Mmu::map`].
    pub fn map(
        &mut self,
        va: u64,
        pa: u64,
        len: u64,
        flags: PageFlags,
        page_size: u64,
    ) -> Result<(), MapError> {
        self.mmu.map(Asid::KERNEL, va, pa, len, flags, page_size)
    }

    /// See [`Mmu::unmap`].
    pub fn unmap(&mut self, va: u64, len: u64) -> Result<Flush, UnmapError> {
        self.mmu.unmap(Asid::KERNEL, va, len)
    }

    /// See [`Mmu::protect`].
    pub fn protect(&mut self, va: u64, len: u64, flags: PageFlags) -> Result<Flush, UnmapError> {
        self.mmu.protect(Asid::KERNEL, va, len, flags)
    }

    /// See [`Mmu::translate`].
    pub fn translate(&self, va: u64) -> Result<Translation, TranslateError> {
        self.mmu.translate(Asid::KERNEL, va)
    }

    /// Frames holding table pages (the root included).
    pub fn table_pages(&self) -> u64 {
        self.mmu.table_pages()
    }

    /// Free frames.
    pub fn free_frames(&self) -> u64 {
        self.mmu.free_frames()
    }

    /// See [`Mmu::check_invariants`].
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        self.mmu.check_invariants()
    }

    /// The underlying machine (for its TLB).
    pub fn mmu(&self) -> &Mmu {
        &self.mmu
    }

    /// The underlying machine, mutably (for [`Mmu::access`] and flushes).
    pub fn mmu_mut(&mut self) -> &mut Mmu {
        &mut self.mmu
    }
}
