//! # The raw entries of a walk, bit for bit
//!
//! What every entry on a space's walk to an address must hold, in the hardware encoding
//! (Intel SDM vol. 3, chapter 4; the bit positions are the architecture's, written out
//! here in [`hw`]), derived from the model alone:
//!
//! - **Pointer** to a table (the model needs a table there iff some mapping needs it, see
//!   "Table pages"): P; RW and US where the level has permission bits (all but PAE's
//!   page-directory pointers), US only in the user half, so that the leaf decides; never
//!   PWT, PCD, PS, G or NX; A as the model's "Accessed and dirty" says. The physical
//!   address is the table's frame, which the model does not choose: it names the table
//!   instead ([`TableId`]), and the caller checks that one table has one address and two
//!   tables two.
//! - **Leaf**: P, RW, US, PWT, PCD, G and NX (not on IA-32) from the mapping's flags, PS
//!   above level 0, the physical address of the page, A and D as the model says.
//! - **Empty** (the walk ends here, not present): all zero.
//!
//! A segment mapping is a pointer at level 1 to its shared table, whose entry at level 0
//! is a leaf for the pages of the mapped length and empty past it.

use super::{EntryKey, MmuModel, Mode, ACCESSED, DIRTY, GLOBAL, KIB4, NO_EXECUTE, USER, WRITABLE};
use super::{CACHE_DISABLE, WRITE_THROUGH};

/// Hardware bits of a page-table entry.
pub mod hw {
    /// Present.
    pub const P: u64 = 1 << 0;
    /// Read/write.
    pub const RW: u64 = 1 << 1;
    /// User/supervisor.
    pub const US: u64 = 1 << 2;
    /// Page-level write-through.
    pub const PWT: u64 = 1 << 3;
    /// Page-level cache disable.
    pub const PCD: u64 = 1 << 4;
    /// Accessed.
    pub const A: u64 = 1 << 5;
    /// Dirty.
    pub const D: u64 = 1 << 6;
    /// Page size (a large leaf above level 0).
    pub const PS: u64 = 1 << 7;
    /// Global.
    pub const G: u64 = 1 << 8;
    /// No-execute.
    pub const NX: u64 = 1 << 63;
}

/// A table of the model: one below a root (scope `None` for the kernel half, else the
/// space; level; `va >>` the bits one whole table of that level maps), or the shared table
/// of a segment key `(pa, len, flags)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TableId {
    /// A table below a root.
    Below(Option<u32>, u32, u128),
    /// A shared segment table.
    Segment(u128, u128, u8),
}

/// What one entry of a walk must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryPrediction {
    /// Not present: zero.
    Empty,
    /// A pointer: exactly `bits` outside [`MmuModel::table_address_mask`], and the address
    /// of `table` inside it.
    Pointer {
        /// Every bit but the address.
        bits: u64,
        /// The table it points at.
        table: TableId,
    },
    /// A leaf: exactly these bits.
    Leaf(u64),
}

impl MmuModel {
    /// The address field of a pointer entry: bits 12 up to the mode's physical top.
    pub fn table_address_mask(&self) -> u64 {
        let top = if self.mode == Mode::Ia32 { 32 } else { 52 };
        ((1u64 << top) - 1) & !(KIB4 as u64 - 1)
    }

    /// The entries of `asid`'s walk to `va`, indexed by level, and the lowest level the
    /// walk reaches (a leaf, an empty entry, or level 0); levels below it are
    /// [`EntryPrediction::Empty`]. `None` if the space does not exist or `va` is not in it.
    pub fn walk_prediction(&self, asid: u32, va: u128) -> Option<(u32, [EntryPrediction; 5])> {
        let m = self.mode;
        if !self.spaces.contains_key(&asid) || !m.canonical(va) {
            return None;
        }
        let mut out = [EntryPrediction::Empty; 5];
        let at = self.at(asid, va);
        let kernel = va >= m.kernel_base();
        let scope = (!kernel).then_some(asid);
        let mut level = m.top();
        loop {
            let a = if self.ad.is_empty() {
                None
            } else {
                self.ad.get(&self.entry_key(asid, va, level)).copied()
            };
            let a_bit = u64::from(a.unwrap_or(0) & ACCESSED != 0) * hw::A;
            let slot = out.get_mut(level as usize)?;
            match at {
                Some((b, mp)) if mp.segment && level == 1 => {
                    *slot = EntryPrediction::Pointer {
                        bits: self.pointer_bits(level, kernel) | a_bit,
                        table: TableId::Segment(mp.pa, mp.size, mp.flags),
                    };
                    let off = va - b;
                    if off < mp.size {
                        let key = EntryKey::Segment((mp.pa, mp.size, mp.flags), off / KIB4);
                        let ad = self.ad.get(&key).copied().unwrap_or(0);
                        let pa = mp.pa + (off - off % KIB4);
                        out[0] = EntryPrediction::Leaf(self.leaf_bits(mp.flags, 0, pa, ad));
                    }
                    return Some((0, out));
                }
                Some((_, mp)) if !mp.segment && m.level_of(mp.size) == level => {
                    let ad = a.unwrap_or(0);
                    *slot = EntryPrediction::Leaf(self.leaf_bits(mp.flags, level, mp.pa, ad));
                    return Some((level, out));
                }
                _ => {}
            }
            let below = level.checked_sub(1);
            let table = below.map(|l| TableId::Below(scope, l, va >> m.table_shift(l)));
            match table {
                Some(TableId::Below(s, l, p)) if self.names.contains_key(&(s, l, p)) => {
                    *slot = EntryPrediction::Pointer {
                        bits: self.pointer_bits(level, kernel) | a_bit,
                        table: TableId::Below(s, l, p),
                    };
                    level = l;
                }
                _ => return Some((level, out)),
            }
        }
    }

    /// A pointer entry at `level` without its address and A bit.
    fn pointer_bits(&self, level: u32, kernel_half: bool) -> u64 {
        if self.mode == Mode::Pae && level == 2 {
            return hw::P;
        }
        hw::P | hw::RW | if kernel_half { 0 } else { hw::US }
    }

    /// A leaf entry at `level` for `flags`, page address `pa` and A/D bits `ad`.
    fn leaf_bits(&self, flags: u8, level: u32, pa: u128, ad: u8) -> u64 {
        let bit = |f: u8, b: u64| if flags & f != 0 { b } else { 0 };
        let mut e = hw::P
            | bit(WRITABLE, hw::RW)
            | bit(USER, hw::US)
            | bit(WRITE_THROUGH, hw::PWT)
            | bit(CACHE_DISABLE, hw::PCD)
            | bit(GLOBAL, hw::G)
            | (pa as u64);
        if self.mode != Mode::Ia32 {
            e |= bit(NO_EXECUTE, hw::NX);
        }
        if level > 0 {
            e |= hw::PS;
        }
        if ad & ACCESSED != 0 {
            e |= hw::A;
        }
        if ad & DIRTY != 0 {
            e |= hw::D;
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::super::{MIB2, WRITABLE};
    use super::*;

    #[test]
    fn a_walk_is_predicted_bit_for_bit() {
        let mut o = MmuModel::new(Mode::X86_64, 100, 1);
        let a = o.create_space().unwrap();
        assert_eq!(
            o.walk_prediction(a, 0),
            Some((3, [EntryPrediction::Empty; 5]))
        );
        o.map(a, MIB2, 0x40_0000, MIB2, WRITABLE | USER, MIB2)
            .unwrap();
        o.walked(a, MIB2 + 8, true);
        let (lowest, e) = o.walk_prediction(a, MIB2 + 8).unwrap();
        assert_eq!(lowest, 1);
        let leaf = hw::P | hw::RW | hw::US | hw::PS | hw::A | hw::D | 0x40_0000;
        assert_eq!(e[1], EntryPrediction::Leaf(leaf));
        assert_eq!(
            e[3],
            EntryPrediction::Pointer {
                bits: hw::P | hw::RW | hw::US | hw::A,
                table: TableId::Below(Some(a), 2, 0),
            }
        );
        // The next 2 MiB slot: the same level-1 table, an empty entry.
        let (lowest, e) = o.walk_prediction(a, 2 * MIB2).unwrap();
        assert_eq!((lowest, e[1]), (1, EntryPrediction::Empty));
        assert_eq!(o.walk_prediction(a, 1 << 60), None, "in the hole");
        let p = MmuModel::new(Mode::Pae, 100, 1);
        assert_eq!(p.pointer_bits(2, false), hw::P);
        assert_eq!(p.table_address_mask(), 0x000F_FFFF_FFFF_F000);
    }
}
