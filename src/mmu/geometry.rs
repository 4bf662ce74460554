//! The shape of each paging mode (levels, index widths, page sizes) and the hardware
//! encoding of table entries.

use crate::addr::{Arch, PAGE_SIZE};

use super::types::PageFlags;

/// Hardware bits of a page-table entry, at the positions the CPU reads them.
pub mod bits {
    /// Present.
    pub const P: u64 = 1 << 0;
    /// Read/write (0: writes fault).
    pub const RW: u64 = 1 << 1;
    /// User/supervisor (0: user accesses fault).
    pub const US: u64 = 1 << 2;
    /// Page-level write-through.
    pub const PWT: u64 = 1 << 3;
    /// Page-level cache disable.
    pub const PCD: u64 = 1 << 4;
    /// Accessed (set by the walker).
    pub const A: u64 = 1 << 5;
    /// Dirty (set by the walker on a write; leaves only).
    pub const D: u64 = 1 << 6;
    /// Page size: this entry maps a large page instead of pointing to a table.
    pub const PS: u64 = 1 << 7;
    /// Global (leaves only).
    pub const G: u64 = 1 << 8;
    /// No-execute (PAE and x86_64 only).
    pub const NX: u64 = 1 << 63;
}

/// Most levels of any mode (LA57).
pub const MAX_LEVELS: usize = 5;

/// Entries of an IA-32 table: 4096 bytes / 4-byte entries.
pub const NARROW_ENTRIES: usize = 1024;
/// Entries of a PAE or x86_64 table: 4096 bytes / 8-byte entries.
pub const WIDE_ENTRIES: usize = 512;
/// Entries of the PAE page-directory-pointer table: the 2 VA bits 31..30.
pub const PDPT_ENTRIES: usize = 4;

/// Highest physical address on IA-32 without PSE-36: 32 bits.
pub const IA32_MAX_PHYS: u64 = (1 << 32) - 1;
/// Highest physical address on PAE and x86_64: MAXPHYADDR = 52 bits.
pub const WIDE_MAX_PHYS: u64 = (1 << 52) - 1;

/// First address of the kernel half on the 32-bit modes: the upper GiB (3G/1G split).
pub const KERNEL_BASE_32: u64 = 0xC000_0000;

/// Index of an entry in one table. Only ever `0..entries` of the table it was made for
/// (at most [`NARROW_ENTRIES`]): the only constructors mask or check against that bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TableIndex(u16);

impl TableIndex {
    /// The index as a `usize` (always `< entries` of its table).
    pub const fn get(self) -> usize {
        self.0 as usize
    }

    /// The index as a `u16`.
    pub const fn raw(self) -> u16 {
        self.0
    }
}

/// Level numbers count from the leaves: level 0 holds 4 KiB PTEs, the top level is the root.
pub type Level = u8;

/// Static description of one paging mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    arch: Arch,
}

impl Geometry {
    /// The geometry of `arch`.
    pub const fn new(arch: Arch) -> Geometry {
        Geometry { arch }
    }

    /// The mode.
    pub const fn arch(self) -> Arch {
        self.arch
    }

    /// `true` iff tables hold 4-byte entries (IA-32).
    pub const fn narrow(self) -> bool {
        matches!(self.arch, Arch::Ia32)
    }

    /// Number of levels: 2, 3, 4 or 5.
    pub const fn levels(self) -> u8 {
        match self.arch {
            Arch::Ia32 => 2,
            Arch::Pae => 3,
            Arch::X86_64 => 4,
            Arch::X86_64La57 => 5,
        }
    }

    /// The root's level (`levels - 1`).
    pub const fn top(self) -> Level {
        self.levels() - 1
    }

    /// VA bits consumed by the index of a level-`level` table: 10 on IA-32; 9 elsewhere,
    /// except PAE's PDPT (2).
    pub const fn index_bits(self, level: Level) -> u32 {
        match self.arch {
            Arch::Ia32 => 10,
            Arch::Pae if level == 2 => 2,
            _ => 9,
        }
    }

    /// Entries in a level-`level` table: `2^index_bits`.
    pub const fn entries(self, level: Level) -> usize {
        1 << self.index_bits(level)
    }

    /// Lowest VA bit indexing level `level`: 12 plus the index bits of every level below.
    pub const fn shift(self, level: Level) -> u32 {
        let per = if self.narrow() { 10 } else { 9 };
        12 + per * level as u32
    }

    /// Bytes one entry at `level` maps: `2^shift(level)`.
    pub const fn entry_span(self, level: Level) -> u64 {
        1 << self.shift(level)
    }

    /// log2 of the bytes one whole level-`level` table maps.
    pub const fn table_span_shift(self, level: Level) -> u32 {
        self.shift(level) + self.index_bits(level)
    }

    /// The index of `va` in a level-`level` table (masked, hence in range).
    pub const fn index(self, va: u64, level: Level) -> TableIndex {
        let mask = (self.entries(level) - 1) as u64;
        TableIndex(((va >> self.shift(level)) & mask) as u16)
    }

    /// The index `i` of a level-`level` table, if `i < entries(level)`.
    pub const fn table_index(self, level: Level, i: usize) -> Option<TableIndex> {
        if i < self.entries(level) {
            Some(TableIndex(i as u16))
        } else {
            None
        }
    }

    /// `true` iff an entry at `level` may be a leaf (level 0 always; higher levels iff the
    /// mode has a page of that entry's span).
    pub fn leaf_allowed(self, level: Level) -> bool {
        level == 0 || self.level_of_size(self.entry_span(level)) == Some(level)
    }

    /// The level whose entries map pages of `size`, iff the mode supports that page size.
    pub fn level_of_size(self, size: u64) -> Option<Level> {
        if !self.arch.page_sizes().contains(&size) {
            return None;
        }
        (0..self.levels()).find(|&l| self.entry_span(l) == size)
    }

    /// The level of a segment slot: the entries that each map one segment (level 1: PDEs).
    pub const fn segment_level(self) -> Level {
        1
    }

    /// First address of the kernel half: the upper GiB on 32-bit, the upper canonical half
    /// on x86_64.
    pub const fn kernel_base(self) -> u64 {
        match self.arch.upper_half_start() {
            Some(b) => b,
            None => KERNEL_BASE_32,
        }
    }

    /// `true` iff `va` lies in the kernel half.
    pub const fn in_kernel_half(self, va: u64) -> bool {
        va >= self.kernel_base()
    }

    /// First root index of the kernel half: 768 on IA-32, 3 on PAE, 256 on x86_64.
    pub const fn kernel_top_index(self) -> usize {
        self.index(self.kernel_base(), self.top()).get()
    }

    /// `true` iff root entry `i` belongs to the kernel half.
    pub const fn is_kernel_top_index(self, i: TableIndex) -> bool {
        i.get() >= self.kernel_top_index()
    }

    /// Highest physical address the mode can map.
    pub const fn max_phys(self) -> u64 {
        if self.narrow() {
            IA32_MAX_PHYS
        } else {
            WIDE_MAX_PHYS
        }
    }

    /// `true` iff entries have the NX bit.
    pub const fn has_nx(self) -> bool {
        !self.narrow()
    }

    /// `true` iff the entry at `level` carries RW/US bits (PAE PDPTEs do not: they are
    /// treated as fully permissive by the walk).
    pub const fn has_perm_bits(self, level: Level) -> bool {
        !matches!(self.arch, Arch::Pae) || level != 2
    }

    /// Mask of the physical-address field of an entry at `level`: a table pointer or a
    /// 4 KiB leaf holds bits `max_phys..12`, a large leaf bits `max_phys..log2(size)`.
    pub const fn addr_mask(self, level: Level, leaf: bool) -> u64 {
        let align = if leaf {
            self.entry_span(level)
        } else {
            PAGE_SIZE
        };
        self.max_phys() & !(align - 1)
    }

    /// Every bit an entry at `level` may legally hold.
    pub fn allowed_bits(self, level: Level, leaf: bool) -> u64 {
        let mut m = bits::P | bits::PWT | bits::PCD | self.addr_mask(level, leaf);
        if self.has_perm_bits(level) {
            m |= bits::RW | bits::US | bits::A;
        }
        if leaf {
            m |= bits::D | bits::G;
            if level > 0 {
                m |= bits::PS;
            }
        }
        if self.has_nx() && self.has_perm_bits(level) {
            m |= bits::NX;
        }
        m
    }

    /// Hardware bits for software `flags` on a leaf (P included, PS for large pages).
    pub const fn leaf_bits(self, flags: PageFlags, level: Level) -> u64 {
        let mut e = bits::P;
        if flags.contains(PageFlags::WRITABLE) {
            e |= bits::RW;
        }
        if flags.contains(PageFlags::USER) {
            e |= bits::US;
        }
        if flags.contains(PageFlags::WRITE_THROUGH) {
            e |= bits::PWT;
        }
        if flags.contains(PageFlags::CACHE_DISABLE) {
            e |= bits::PCD;
        }
        if flags.contains(PageFlags::GLOBAL) {
            e |= bits::G;
        }
        if flags.contains(PageFlags::NO_EXECUTE) && self.has_nx() {
            e |= bits::NX;
        }
        if level > 0 {
            e |= bits::PS;
        }
        e
    }

    /// Software flags of a leaf entry (its own bits only, not the walk's effective ones).
    pub const fn leaf_flags(self, e: u64) -> PageFlags {
        let mut f = 0u8;
        if e & bits::RW != 0 {
            f |= PageFlags::WRITABLE.bits();
        }
        if e & bits::US != 0 {
            f |= PageFlags::USER.bits();
        }
        if e & bits::PWT != 0 {
            f |= PageFlags::WRITE_THROUGH.bits();
        }
        if e & bits::PCD != 0 {
            f |= PageFlags::CACHE_DISABLE.bits();
        }
        if e & bits::G != 0 {
            f |= PageFlags::GLOBAL.bits();
        }
        if e & bits::NX != 0 {
            f |= PageFlags::NO_EXECUTE.bits();
        }
        PageFlags::from_bits_truncate(f)
    }

    /// The entry pointing at a table page at physical address `table_pa`, from a level-`level`
    /// entry. Intermediate entries are fully permissive for their half (P|RW|US in the user
    /// half, P|RW in the kernel half, never NX) so the leaf decides; PAE PDPTEs hold P only.
    pub const fn pointer_entry(self, table_pa: u64, level: Level, kernel_half: bool) -> u64 {
        let mut e = bits::P | table_pa;
        if self.has_perm_bits(level) {
            e |= bits::RW;
            if !kernel_half {
                e |= bits::US;
            }
        }
        e
    }
}

/// `true` iff `e` is present.
pub const fn present(e: u64) -> bool {
    e & bits::P != 0
}

/// `true` iff `e` at `level` is a present leaf (a PTE, or a PS entry above level 0).
pub const fn is_leaf(e: u64, level: Level) -> bool {
    present(e) && (level == 0 || e & bits::PS != 0)
}

/// `true` iff `e` at `level` is a present pointer to a lower table.
pub const fn is_pointer(e: u64, level: Level) -> bool {
    present(e) && level > 0 && e & bits::PS == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::ALL_ARCHES;

    #[test]
    fn shapes_match_the_manuals() {
        let g = Geometry::new(Arch::Ia32);
        assert_eq!((g.levels(), g.entries(0), g.entries(1)), (2, 1024, 1024));
        assert_eq!(g.entry_span(1), 4 << 20);
        assert_eq!(g.kernel_top_index(), 768);
        let g = Geometry::new(Arch::Pae);
        assert_eq!((g.entries(0), g.entries(1), g.entries(2)), (512, 512, 4));
        assert_eq!(g.table_span_shift(2), 32);
        assert_eq!(g.kernel_top_index(), 3);
        let g = Geometry::new(Arch::X86_64);
        assert_eq!(g.table_span_shift(3), 48);
        assert_eq!(g.kernel_top_index(), 256);
        assert_eq!(g.index(0xFFFF_FFFF_FFFF_F000, 3).get(), 511);
        let g = Geometry::new(Arch::X86_64La57);
        assert_eq!(g.table_span_shift(4), 57);
        assert_eq!(g.kernel_top_index(), 256);
        for a in ALL_ARCHES {
            let g = Geometry::new(a);
            for &s in a.page_sizes() {
                let l = g.level_of_size(s).unwrap();
                assert!(g.leaf_allowed(l));
            }
            assert!(!g.leaf_allowed(g.top()) || a == Arch::Ia32);
            assert_eq!(g.entry_span(g.segment_level()), a.segment_size());
        }
    }

    #[test]
    fn entry_bits_round_trip() {
        let g = Geometry::new(Arch::X86_64);
        let f = PageFlags::ALL;
        let e = g.leaf_bits(f, 1);
        assert_eq!(e & 0x1FF, 0b1_1001_1111);
        assert_ne!(e & bits::NX, 0);
        assert_eq!(g.leaf_flags(e), f);
        let g = Geometry::new(Arch::Ia32);
        assert_eq!(g.leaf_bits(PageFlags::NO_EXECUTE, 0), bits::P);
        assert_eq!(g.addr_mask(1, true), 0xFFC0_0000);
        assert_eq!(g.addr_mask(0, true), 0xFFFF_F000);
    }
}
