//! The simulated memory (module comment, section 4): sparse bytes over the whole 64-bit space,
//! 4 KiB pages created on first write; a byte never written reads 0.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use super::types::MemoryError;

/// Bytes per simulated page (the map's key is `addr / MEMORY_PAGE`).
pub const MEMORY_PAGE: u64 = 4096;
/// The longest [`Memory::read`] (16 MiB): bounds the vector it returns.
pub const MAX_MEMORY_READ: u64 = 1 << 24;

/// One simulated page.
type Page = Box<[u8; MEMORY_PAGE as usize]>;

/// Sparse simulated memory; see the module comment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// Written pages by page number; absent pages read as zeros.
    pages: BTreeMap<u64, Page>,
}

/// The inclusive last byte of `[addr, addr + len)`, `len >= 1`, or `PastTop`.
fn last_of(addr: u64, len: u64) -> Result<u64, MemoryError> {
    addr.checked_add(len - 1).ok_or(MemoryError::PastTop)
}

/// The piece of page `page` that `[first, last]` covers: `(offset in page, bytes)`.
fn piece(page: u64, first: u64, last: u64) -> (usize, usize) {
    let base = page * MEMORY_PAGE;
    let lo = first.max(base) - base;
    let hi = last.min(base + (MEMORY_PAGE - 1)) - base;
    (lo as usize, (hi - lo + 1) as usize)
}

impl Memory {
    /// Empty memory: every byte reads 0.
    pub fn new() -> Memory {
        Memory::default()
    }

    /// Pages written so far.
    pub fn pages(&self) -> usize {
        self.pages.len()
    }

    /// The byte at `addr`.
    pub fn byte(&self, addr: u64) -> u8 {
        self.pages
            .get(&(addr / MEMORY_PAGE))
            .and_then(|p| p.get((addr % MEMORY_PAGE) as usize))
            .copied()
            .unwrap_or(0)
    }

    /// Writes `bytes` at `addr ..`; `PastTop` (nothing written) if the range passes
    /// `u64::MAX`.
    pub fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<(), MemoryError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let last = last_of(addr, bytes.len() as u64)?;
        let mut rest = bytes;
        for page in addr / MEMORY_PAGE..=last / MEMORY_PAGE {
            let (off, n) = piece(page, addr, last);
            let (now, later) = rest.split_at(n.min(rest.len()));
            let p = self
                .pages
                .entry(page)
                .or_insert_with(|| Box::new([0; MEMORY_PAGE as usize]));
            if let Some(dst) = p.get_mut(off..off + now.len()) {
                dst.copy_from_slice(now);
            }
            rest = later;
        }
        Ok(())
    }

    /// Sets every byte of `[first, last]` (inclusive, so it never passes the top) to `byte`.
    pub fn fill(&mut self, first: u64, last: u64, byte: u8) {
        if last < first {
            return;
        }
        for page in first / MEMORY_PAGE..=last / MEMORY_PAGE {
            let (off, n) = piece(page, first, last);
            let p = self
                .pages
                .entry(page)
                .or_insert_with(|| Box::new([0; MEMORY_PAGE as usize]));
            if let Some(dst) = p.get_mut(off..off + n) {
                dst.fill(byte);
            }
        }
    }

    /// Reads `buf.len()` bytes at `addr ..` into `buf`; `PastTop` if the range passes
    /// `u64::MAX`.
    pub fn read_into(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        if buf.is_empty() {
            return Ok(());
        }
        let last = last_of(addr, buf.len() as u64)?;
        let mut rest = buf;
        for page in addr / MEMORY_PAGE..=last / MEMORY_PAGE {
            let (off, n) = piece(page, addr, last);
            let (now, later) = rest.split_at_mut(n.min(rest.len()));
            match self
                .pages
                .get(&page)
                .and_then(|p| p.get(off..off + now.len()))
            {
                Some(src) => now.copy_from_slice(src),
                None => now.fill(0),
            }
            rest = later;
        }
        Ok(())
    }

    /// The `len` bytes at `addr ..`: `TooLong` above [`MAX_MEMORY_READ`], `PastTop` if the
    /// range passes `u64::MAX`.
    pub fn read(&self, addr: u64, len: u64) -> Result<Vec<u8>, MemoryError> {
        if len > MAX_MEMORY_READ {
            return Err(MemoryError::TooLong);
        }
        let mut v = vec![0; len as usize];
        self.read_into(addr, &mut v)?;
        Ok(v)
    }

    /// The address of the first byte of `[first, last]` (inclusive) that is not `byte`, if
    /// any.
    pub fn first_not(&self, first: u64, last: u64, byte: u8) -> Option<u64> {
        if last < first {
            return None;
        }
        for page in first / MEMORY_PAGE..=last / MEMORY_PAGE {
            let (off, n) = piece(page, first, last);
            let at = page * MEMORY_PAGE + off as u64;
            match self.pages.get(&page).and_then(|p| p.get(off..off + n)) {
                Some(bytes) => {
                    if let Some(i) = bytes.iter().position(|&b| b != byte) {
                        return Some(at + i as u64);
                    }
                }
                None if byte != 0 => return Some(at),
                None => {}
            }
        }
        None
    }
}
