//! The model's own simulated memory: sparse bytes over the whole 64-bit space.
//!
//! A `BTreeMap` from page number (`addr / PAGE_SIZE`) to the page's bytes; a page is created
//! by the first write that touches it, and a byte never written reads 0. A range
//! `[addr, addr + len)` is valid iff `addr + len <= 2^64` (in `u128`); an invalid one is
//! refused whole ([`MemoryErrorKind::PastTop`]), so nothing ever wraps to address 0.

use std::collections::BTreeMap;

use super::{MemoryErrorKind, PAGE_SIZE, TOP};

/// [`PAGE_SIZE`] as a `usize` (the length of a page's bytes).
const PAGE_BYTES: usize = PAGE_SIZE as usize;

/// Sparse bytes: page number -> the page's 4096 bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SparseMemory {
    /// Every page written at least once, by page number.
    pages: BTreeMap<u64, Box<[u8; PAGE_BYTES]>>,
}

/// `Ok` iff `[addr, addr + len)` ends at or below `2^64`.
pub(super) fn range_ok(addr: u64, len: u128) -> Result<(), MemoryErrorKind> {
    if u128::from(addr) + len <= TOP {
        Ok(())
    } else {
        Err(MemoryErrorKind::PastTop)
    }
}

/// The page number and offset in it of `addr`.
fn split(addr: u64) -> (u64, usize) {
    (addr / PAGE_SIZE, (addr % PAGE_SIZE) as usize) // offset < 4096
}

impl SparseMemory {
    /// Empty memory: every byte reads 0.
    pub fn new() -> SparseMemory {
        SparseMemory::default()
    }

    /// The byte at `addr` (0 if never written).
    pub fn byte(&self, addr: u64) -> u8 {
        let (page, off) = split(addr);
        self.pages
            .get(&page)
            .and_then(|p| p.get(off))
            .copied()
            .unwrap_or(0)
    }

    /// Fills `out` with the bytes at `[addr, addr + out.len())`, or `PastTop` (then `out` is
    /// untouched).
    pub fn read(&self, addr: u64, out: &mut [u8]) -> Result<(), MemoryErrorKind> {
        range_ok(addr, out.len() as u128)?;
        let mut a = addr;
        for b in out.iter_mut() {
            *b = self.byte(a);
            a = a.wrapping_add(1); // wraps only after the range's last byte, at 2^64
        }
        Ok(())
    }

    /// Writes `bytes` at `[addr, addr + bytes.len())`, or refuses the whole write (`PastTop`).
    pub fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<(), MemoryErrorKind> {
        range_ok(addr, bytes.len() as u128)?;
        // Page by page: the part of `bytes` that falls in each page, copied at its offset.
        let mut a = u128::from(addr);
        let mut rest = bytes;
        while !rest.is_empty() {
            let (page, off) = (
                (a / u128::from(PAGE_SIZE)) as u64,
                (a % u128::from(PAGE_SIZE)) as usize,
            );
            let n = (PAGE_BYTES - off).min(rest.len());
            let p = self
                .pages
                .entry(page)
                .or_insert_with(|| Box::new([0; PAGE_BYTES]));
            if let (Some(dst), Some(src)) = (p.get_mut(off..off + n), rest.get(..n)) {
                dst.copy_from_slice(src);
            }
            rest = rest.get(n..).unwrap_or_default();
            a += n as u128;
        }
        Ok(())
    }

    /// Sets every byte of the closed range `[first, last]` to `value` (nothing if
    /// `first > last`).
    pub fn fill(&mut self, first: u64, last: u64, value: u8) {
        let mut a = first;
        while a <= last {
            let (page, off) = split(a);
            let p = self
                .pages
                .entry(page)
                .or_insert_with(|| Box::new([0; PAGE_BYTES]));
            if let Some(slot) = p.get_mut(off) {
                *slot = value;
            }
            match a.checked_add(1) {
                Some(next) => a = next,
                None => break,
            }
        }
    }

    /// The first address in `[first, last]` whose byte is not `value`, if any.
    pub fn first_not(&self, first: u64, last: u64, value: u8) -> Option<u64> {
        let mut a = first;
        while a <= last {
            if self.byte(a) != value {
                return Some(a);
            }
            a = a.checked_add(1)?;
        }
        None
    }

    /// How many pages have been written.
    pub fn pages(&self) -> usize {
        self.pages.len()
    }
}
