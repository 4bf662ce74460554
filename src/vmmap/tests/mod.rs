//! Unit tests: the seed's edge cases, the top and bottom of every space, mutation verdicts,
//! segment sharing, and both strategies against a naive reference on pseudo-random op streams
//! (and, with the `std` feature, against `kvafuzz_oracles::findspace`).

use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::addr::{Arch, ALL_ARCHES, PAGE_SIZE};
use crate::xorshift::XorShift;

const TOP32: u64 = 0xFFFF_FFFF;
const UPPER48: u64 = 0xFFFF_8000_0000_0000;

fn map(arch: Arch, min: u64, max: u64) -> VmMap {
    VmMap::new(arch, min, max).unwrap()
}

/// findspace with both strategies, asserting they agree.
fn find(m: &VmMap, start: u64, length: u64, align: u64) -> Result<u64, FindspaceError> {
    let lin = m.findspace_with(Strategy::Linear, start, length, align);
    let gap = m.findspace_with(Strategy::GapIndex, start, length, align);
    assert_eq!(
        lin, gap,
        "strategies disagree: start {start:#x} len {length:#x} align {align:#x}"
    );
    lin
}

fn fixed(m: &mut VmMap, addr: u64, length: u64) {
    m.map_fixed(addr, length, 0).unwrap();
    m.check_invariants().unwrap();
}

fn r(start: u64, last: u64) -> Range {
    Range::from_inclusive(start, last).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Construction
// ---------------------------------------------------------------------------------------------

#[test]
fn new_accepts_legal_bounds_only() {
    assert!(VmMap::new(Arch::Ia32, 0, TOP32).is_ok());
    assert!(VmMap::new(Arch::Pae, 5, 5).is_ok());
    assert_eq!(
        VmMap::new(Arch::Ia32, 6, 5).unwrap_err(),
        NewError::Inverted
    );
    assert_eq!(
        VmMap::new(Arch::Pae, 0, TOP32 + 1).unwrap_err(),
        NewError::PastTop
    );
    assert!(VmMap::new(Arch::X86_64, UPPER48, u64::MAX).is_ok());
    assert!(VmMap::new(Arch::X86_64, 0, 0x7FFF_FFFF_FFFF).is_ok());
    assert_eq!(
        VmMap::new(Arch::X86_64, 0, 0x8000_0000_0000).unwrap_err(),
        NewError::NonCanonical
    );
    assert_eq!(
        VmMap::new(Arch::X86_64, 0, u64::MAX).unwrap_err(),
        NewError::NonCanonical
    );
    assert!(VmMap::new(Arch::X86_64La57, 0, 0x00FF_FFFF_FFFF_FFFF).is_ok());
    assert!(VmMap::new(Arch::X86_64La57, 0xFF00_0000_0000_0000, u64::MAX).is_ok());
    let m = map(Arch::X86_64, UPPER48, u64::MAX);
    assert_eq!(m.gaps(), vec![r(UPPER48, u64::MAX)]);
    assert_eq!(m.stats().largest_gap, 1 << 47);
    m.check_invariants().unwrap();
}

#[test]
fn align_newtype() {
    assert_eq!(Align::new(0), None);
    assert_eq!(Align::BYTE.get(), 1);
    let a = Align::new(12288).unwrap();
    assert!(!a.is_pow2());
    assert!(a.is_aligned(24576));
    assert!(!a.is_aligned(4096));
    assert_eq!(a.round_up(1), Some(12288));
    assert_eq!(Align::new(1 << 63).unwrap().round_up((1 << 63) + 1), None);
    assert_eq!(Align::new(3).unwrap().round_up(u64::MAX), Some(u64::MAX)); // 2^64-1 = 3 * k
    assert_eq!(Align::new(5).unwrap().round_up(u64::MAX), Some(u64::MAX)); // 2^64-1 = 5 * k
    assert_eq!(
        Align::new(7).unwrap().round_up(u64::MAX - 1),
        Some(u64::MAX - 1)
    );
    assert_eq!(Align::new(7).unwrap().round_up(u64::MAX), None);
}

// ---------------------------------------------------------------------------------------------
// Seed 000 edge cases
// ---------------------------------------------------------------------------------------------

#[test]
fn errors_have_a_fixed_precedence() {
    let m = map(Arch::Ia32, 0, TOP32);
    assert_eq!(find(&m, 0, 0, 0), Err(FindspaceError::ZeroLength));
    assert_eq!(find(&m, 0, 0, 1), Err(FindspaceError::ZeroLength));
    assert_eq!(find(&m, 0, 1, 0), Err(FindspaceError::ZeroAlign));
    assert_eq!(find(&m, TOP32 + 1, 1, 1), Err(FindspaceError::NoSpace));
    assert_eq!(find(&m, 0, TOP32 + 2, 1), Err(FindspaceError::NoSpace));
    assert_eq!(find(&m, 0, TOP32 + 1, 1), Ok(0));
}

#[test]
fn rounding_up_past_the_top_of_a_32_bit_space_fails() {
    // In the seed, vm_offset_t is 32 bits: (start + align_mask) & ~align_mask wraps to 0 here.
    let mut m = map(Arch::Ia32, 0, TOP32);
    fixed(&mut m, 0, 0xF000_0001);
    assert_eq!(find(&m, 0, 1, 0x1000_0000), Err(FindspaceError::NoSpace));
    assert_eq!(find(&m, 0, 1, 0x8000_0000), Err(FindspaceError::NoSpace));
    assert_eq!(find(&m, 0, 1, 0x0800_0000), Ok(0xF800_0000));
    // Non-power-of-two: the division form must not wrap either. 0x5555_5555 * 3 = TOP32.
    assert_eq!(find(&m, 0, 1, 0x5555_5555), Ok(0xFFFF_FFFF));
    assert_eq!(find(&m, 0, 2, 0x5555_5555), Err(FindspaceError::NoSpace));
    assert_eq!(find(&m, 0, 1, 0x6000_0000), Err(FindspaceError::NoSpace));
    assert_eq!(find(&m, 0, 1, u64::MAX), Err(FindspaceError::NoSpace));
}

#[test]
fn rounding_up_past_the_top_of_a_64_bit_space_fails() {
    let mut m = map(Arch::X86_64, UPPER48, u64::MAX);
    fixed(&mut m, UPPER48, (1 << 47) - 0x1000); // free: the last page only
                                                // round_up(u64::MAX - 0xFFF, 2^63) would be 2^64:
                                                // wraps to 0 in u64.
    assert_eq!(find(&m, 0, 1, 1 << 63), Err(FindspaceError::NoSpace));
    assert_eq!(find(&m, 0, 1, 1 << 62), Err(FindspaceError::NoSpace));
    assert_eq!(find(&m, 0, 1, 0x1000), Ok(u64::MAX - 0xFFF));
    // Non-power-of-two near 2^64: u64::MAX / 3 * 3 = u64::MAX (2^64 - 1 = 3 * 5 * 17 * ...).
    assert_eq!(find(&m, 0, 1, u64::MAX / 3), Ok(u64::MAX));
    assert_eq!(
        find(&m, 0, 1, u64::MAX / 3 + 1),
        Err(FindspaceError::NoSpace)
    );
    assert_eq!(find(&m, 0, 1, u64::MAX), Ok(u64::MAX));
    assert_eq!(find(&m, 0, 2, u64::MAX - 1), Ok(u64::MAX - 1));
    assert_eq!(find(&m, 0, 3, u64::MAX - 1), Err(FindspaceError::NoSpace));
}

#[test]
fn end_past_the_map_and_end_wrapping_fail() {
    let mut m = map(Arch::Pae, 0x1000, 0x8FFF);
    fixed(&mut m, 0x1000, 0x1000);
    assert_eq!(find(&m, 0, 0x7000, 1), Ok(0x2000));
    assert_eq!(find(&m, 0, 0x7001, 1), Err(FindspaceError::NoSpace)); // end past the map
    assert_eq!(find(&m, 0x2001, 0x7000, 1), Err(FindspaceError::NoSpace));
    // End wraps: a start near 2^64 plus a big length.
    let m = map(Arch::X86_64, UPPER48, u64::MAX);
    assert_eq!(find(&m, u64::MAX - 1, 3, 1), Err(FindspaceError::NoSpace));
    assert_eq!(find(&m, u64::MAX - 1, 2, 1), Ok(u64::MAX - 1));
    assert_eq!(find(&m, 0, u64::MAX, 1), Err(FindspaceError::NoSpace));
    assert_eq!(find(&m, 0, 1 << 47, 1), Ok(UPPER48));
    assert_eq!(find(&m, 0, (1 << 47) + 1, 1), Err(FindspaceError::NoSpace));
}

#[test]
fn non_power_of_two_alignments() {
    let mut m = map(Arch::Ia32, 0, TOP32);
    fixed(&mut m, 0, 1);
    assert_eq!(find(&m, 0, 1, 3), Ok(3));
    assert_eq!(find(&m, 4, 1, 3), Ok(6));
    assert_eq!(find(&m, 0, 4096, 12288), Ok(12288));
    fixed(&mut m, 12288, 1);
    assert_eq!(find(&m, 0, 4096, 12288), Ok(24576));
    assert_eq!(find(&m, 0, 0x10_0000, 0x30_0000), Ok(0x30_0000));
    fixed(&mut m, 0x30_0000 + 0xFFFFF, 1); // blocks the first 0x300000-aligned MiB by one byte
    assert_eq!(find(&m, 0, 0x10_0000, 0x30_0000), Ok(0x60_0000));
    assert_eq!(find(&m, 0, 0xFFFFF, 0x30_0000), Ok(0x30_0000)); // exact fit below the byte
    m.map_anywhere(1, 3, 7).unwrap();
    assert_eq!(m.lookup(3).map(|e| e.tag), Some(7));
    m.check_invariants().unwrap();
}

#[test]
fn alignment_is_checked_in_a_gap_big_enough_unaligned() {
    // Gaps: [0, 0xFFF], [0x1001, 0x2FFF], [0x3001, 0x3FFF], [0x5000, 0xFFFF]. The second is
    // big enough for 0x1FFF bytes unaligned but not 0x800-aligned.
    let mut m = map(Arch::Ia32, 0, 0xFFFF);
    fixed(&mut m, 0x1000, 1);
    fixed(&mut m, 0x3000, 1);
    fixed(&mut m, 0x4000, 0x1000);
    assert_eq!(find(&m, 0, 0x1000, 0x1000), Ok(0));
    assert_eq!(find(&m, 1, 0x1000, 0x1000), Ok(0x2000));
    assert_eq!(find(&m, 1, 0x1FFF, 1), Ok(0x1001));
    assert_eq!(find(&m, 1, 0x1FFF, 0x800), Ok(0x5000));
    assert_eq!(find(&m, 0x2001, 0x800, 0x800), Ok(0x2800));
    // A gap whose size equals length exactly, aligned exactly (ANCHORS #6: no padding).
    let mut m = map(Arch::Ia32, 0, 0xFFFF);
    fixed(&mut m, 0, 0x1000);
    fixed(&mut m, 0x2000, 0xE000);
    assert_eq!(find(&m, 0, 0x1000, 0x1000), Ok(0x1000));
    assert_eq!(find(&m, 0, 0x1000, 0x2000), Err(FindspaceError::NoSpace));
    assert_eq!(find(&m, 0, 0x1000, 0x800), Ok(0x1000));
    assert_eq!(find(&m, 0, 0x1000, 3), Err(FindspaceError::NoSpace));
}

// ---------------------------------------------------------------------------------------------
// Address 0 and the top of every space
// ---------------------------------------------------------------------------------------------

#[test]
fn address_zero_is_an_ordinary_address() {
    for arch in ALL_ARCHES {
        let mut m = map(arch, 0, 0xFFFF);
        assert_eq!(find(&m, 0, 1, 1), Ok(0));
        assert_eq!(find(&m, 0, 0x1000, 1 << 40), Ok(0)); // 0 is a multiple of everything
        assert_eq!(m.map_anywhere(0x1000, 0x1000, 1), Ok(r(0, 0xFFF)));
        assert_eq!(
            m.map_fixed(0, 1, 2),
            Err(MapFixedError::Overlap {
                existing: r(0, 0xFFF)
            })
        );
        assert_eq!(m.unmap(0, 0x1000).unwrap().len(), 1);
        assert_eq!(m.map_fixed(0, 1, 3), Ok(r(0, 0)));
        assert_eq!(find(&m, 0, 1, 1), Ok(1));
        m.check_invariants().unwrap();
    }
}

#[test]
fn exact_fit_at_the_top_of_every_space() {
    for arch in ALL_ARCHES {
        let top = arch.max_addr();
        let min = arch.upper_half_start().unwrap_or(0);
        let mut m = map(arch, min, top);
        // Fill everything but the last 0x100 bytes (NetBSD's top-of-space test).
        fixed(&mut m, min, top - min - 0xFF);
        assert_eq!(find(&m, 0, 0x100, 1), Ok(top - 0xFF));
        assert_eq!(find(&m, 0, 0x100, 0x100), Ok(top - 0xFF));
        assert_eq!(find(&m, 0, 0x101, 1), Err(FindspaceError::NoSpace));
        assert_eq!(find(&m, 0, 0x100, 0x200), Err(FindspaceError::NoSpace));
        assert_eq!(find(&m, top, 1, 1), Ok(top));
        assert_eq!(m.map_anywhere(0x100, 1, 9), Ok(r(top - 0xFF, top)));
        assert_eq!(m.stats().free_bytes, 0);
        assert_eq!(m.stats().gaps, 0);
        assert_eq!(find(&m, 0, 1, 1), Err(FindspaceError::NoSpace));
        m.check_invariants().unwrap();
        // Unmapping the top entry restores the top gap; the top byte alone works too.
        assert_eq!(m.unmap(top - 0xFF, 0x100).unwrap()[0].tag, 9);
        assert_eq!(m.map_fixed(top, 1, 10), Ok(r(top, top)));
        let past_top = if top == u64::MAX {
            MapFixedError::Wraps
        } else {
            MapFixedError::OutOfBounds
        };
        assert_eq!(m.map_fixed(top, 2, 10), Err(past_top));
        assert_eq!(find(&m, 0, 0xFF, 1), Ok(top - 0xFF));
        assert_eq!(find(&m, 0, 0x100, 1), Err(FindspaceError::NoSpace));
        m.check_invariants().unwrap();
    }
}

#[test]
fn map_ending_at_u64_max() {
    let mut m = map(Arch::X86_64La57, 0xFF00_0000_0000_0000, u64::MAX);
    let r1 = m.map_fixed(u64::MAX - 0xFFF, 0x1000, 1).unwrap();
    assert_eq!(r1.last(), u64::MAX);
    assert_eq!(
        m.map_fixed(u64::MAX, 1, 2),
        Err(MapFixedError::Overlap { existing: r1 })
    );
    assert_eq!(
        m.map_fixed(u64::MAX - 0xFFF, 0x1001, 2),
        Err(MapFixedError::Wraps)
    );
    assert_eq!(
        find(&m, u64::MAX - 0x1FFF, 0x1000, 0x1000),
        Ok(u64::MAX - 0x1FFF)
    );
    assert_eq!(
        find(&m, u64::MAX - 0x1FFE, 0x1000, 1),
        Err(FindspaceError::NoSpace)
    );
    assert_eq!(
        find(&m, u64::MAX - 0xFFF, 1, 1),
        Err(FindspaceError::NoSpace)
    );
    assert_eq!(m.unmap(u64::MAX, 1), Err(UnmapError::Partial { entry: r1 }));
    assert_eq!(m.unmap(u64::MAX - 0xFFF, 0x1001), Err(UnmapError::Wraps));
    assert_eq!(m.unmap(u64::MAX - 0x1FFF, 0x2000).unwrap().len(), 1);
    assert_eq!(m.gaps(), vec![r(0xFF00_0000_0000_0000, u64::MAX)]);
    m.check_invariants().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------

#[test]
fn map_fixed_verdicts() {
    let mut m = map(Arch::Ia32, 0x1000, 0xFFFF).with_max_entries(3);
    assert_eq!(m.map_fixed(0x1000, 0, 1), Err(MapFixedError::ZeroLength));
    assert_eq!(m.map_fixed(u64::MAX, 2, 1), Err(MapFixedError::Wraps));
    assert_eq!(m.map_fixed(0xFFFF, 2, 1), Err(MapFixedError::OutOfBounds));
    assert_eq!(m.map_fixed(0xFFF, 2, 1), Err(MapFixedError::OutOfBounds));
    assert_eq!(m.map_fixed(0x2000, 0x1000, 1), Ok(r(0x2000, 0x2FFF)));
    for (addr, len) in [
        (0x1800, 0x801),
        (0x2FFF, 1),
        (0x2800, 0x10),
        (0x1000, 0x8000),
    ] {
        assert_eq!(
            m.map_fixed(addr, len, 2),
            Err(MapFixedError::Overlap {
                existing: r(0x2000, 0x2FFF)
            })
        );
    }
    assert_eq!(m.map_fixed(0x1800, 0x800, 2), Ok(r(0x1800, 0x1FFF))); // adjacent below
    assert_eq!(m.map_fixed(0x3000, 0x800, 3), Ok(r(0x3000, 0x37FF))); // adjacent above
    assert_eq!(m.gaps(), vec![r(0x1000, 0x17FF), r(0x3800, 0xFFFF)]);
    assert_eq!(m.map_fixed(0x8000, 1, 4), Err(MapFixedError::Full));
    assert_eq!(
        m.map_fixed(0x3000, 1, 4),
        Err(MapFixedError::Overlap {
            existing: r(0x3000, 0x37FF)
        }),
        "overlap is reported before full"
    );
    assert_eq!(m.map_anywhere(1, 1, 4), Err(MapAnywhereError::Full));
    assert_eq!(
        m.map_anywhere(0x10_0000, 1, 4),
        Err(MapAnywhereError::NoSpace)
    );
    assert_eq!(m.map_anywhere(0, 1, 4), Err(MapAnywhereError::ZeroLength));
    assert_eq!(m.map_anywhere(1, 0, 4), Err(MapAnywhereError::ZeroAlign));
    let s = m.stats();
    assert_eq!((s.entries, s.gaps, s.mapped_bytes), (3, 2, 0x2000));
    assert_eq!(s.free_bytes, 0xF000 - 0x2000);
    m.check_invariants().unwrap();
}

#[test]
fn unmap_takes_whole_entries_only() {
    let mut m = map(Arch::Pae, 0, 0xFFFF);
    for (i, a) in [0x1000u64, 0x2000, 0x3000, 0x5000].into_iter().enumerate() {
        m.map_fixed(a, 0x1000, i as u64).unwrap();
    }
    let before: Vec<Entry> = m.entries().collect();
    assert_eq!(m.unmap(0, 0), Err(UnmapError::ZeroLength));
    assert_eq!(m.unmap(2, u64::MAX), Err(UnmapError::Wraps));
    assert_eq!(m.unmap(0xFFFF, 2), Err(UnmapError::OutOfBounds));
    assert_eq!(m.unmap(0x4000, 0x1000), Err(UnmapError::NotMapped));
    assert_eq!(
        m.unmap(0x1800, 0x800),
        Err(UnmapError::Partial {
            entry: r(0x1000, 0x1FFF)
        })
    );
    assert_eq!(
        m.unmap(0x2000, 0x1001),
        Err(UnmapError::Partial {
            entry: r(0x3000, 0x3FFF)
        })
    );
    assert_eq!(
        m.unmap(0x1FFF, 0x2001),
        Err(UnmapError::Partial {
            entry: r(0x1000, 0x1FFF)
        })
    );
    assert_eq!(
        m.entries().collect::<Vec<_>>(),
        before,
        "failed unmaps change nothing"
    );
    // A range covering whole entries plus holes.
    let gone = m.unmap(0x2000, 0x5000).unwrap();
    assert_eq!(
        gone.iter().map(|e| e.tag).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(m.gaps(), vec![r(0, 0xFFF), r(0x2000, 0xFFFF)]);
    assert_eq!(m.unmap(0x1000, 0x1000).unwrap()[0].tag, 0);
    assert_eq!(m.gaps(), vec![r(0, 0xFFFF)]);
    assert!(m.is_empty());
    m.check_invariants().unwrap();
}

#[test]
fn with_max_entries_never_drops_entries() {
    let mut m = map(Arch::Ia32, 0, 0xFFFF);
    m.map_fixed(0, 1, 0).unwrap();
    m.map_fixed(5, 1, 0).unwrap();
    let m = m.with_max_entries(0);
    assert_eq!(m.max_entries(), 2);
    assert_eq!(
        m.clone().with_max_entries(usize::MAX).max_entries(),
        MAX_ENTRIES
    );
    m.check_invariants().unwrap();
}

#[test]
fn every_invariant_can_fail() {
    use InvariantError as E;
    // [0x1000, 0xffff] with a = [0x2000, 0x2fff], b = [0x3000, 0x3fff] (adjacent to a) and
    // c = [0x8000, 0x8fff].
    let mut healthy = map(Arch::Ia32, 0x1000, 0xFFFF);
    for (addr, tag) in [(0x2000, 1), (0x3000, 2), (0x8000, 3)] {
        healthy.map_fixed(addr, 0x1000, tag).unwrap();
    }
    healthy.check_invariants().unwrap();
    assert_eq!(
        healthy.gaps(),
        vec![r(0x1000, 0x1FFF), r(0x4000, 0x7FFF), r(0x9000, 0xFFFF)]
    );
    assert_eq!(
        (healthy.max_entries, healthy.mapped_bytes),
        (MAX_ENTRIES, 0x3000)
    );

    // The gap tree's own checks (`InvariantError::GapTree`) need its private fields: they are
    // in `gaptree.rs`, test `every_check_can_fail`.
    type Corrupt = fn(&mut VmMap);
    let cases: [(InvariantError, Corrupt); 11] = [
        // I6: more entries than the map's limit; a limit above MAX_ENTRIES.
        (E::TooManyEntries { len: 3, max: 2 }, |m| m.max_entries = 2),
        (
            E::TooManyEntries {
                len: 3,
                max: MAX_ENTRIES + 1,
            },
            |m| m.max_entries = MAX_ENTRIES + 1,
        ),
        // I1: c filed under a key other than its start.
        (
            E::KeyMismatch {
                key: 0x8001,
                entry: r(0x8000, 0x8FFF),
            },
            |m| {
                let c = m.entries.remove(&0x8000).unwrap();
                m.entries.insert(0x8001, c);
            },
        ),
        // I3: c grown past max; an entry below min.
        (
            E::OutOfBounds {
                entry: r(0x8000, 0x1_0FFF),
            },
            |m| m.entries.get_mut(&0x8000).unwrap().range = r(0x8000, 0x1_0FFF),
        ),
        (
            E::OutOfBounds {
                entry: r(0x800, 0xFFF),
            },
            |m| {
                let range = r(0x800, 0xFFF);
                m.entries.insert(0x800, Entry { range, tag: 4 });
            },
        ),
        // I2: a grown by one byte, into b.
        (
            E::Overlap {
                first: r(0x2000, 0x3000),
                second: r(0x3000, 0x3FFF),
            },
            |m| m.entries.get_mut(&0x2000).unwrap().range = r(0x2000, 0x3000),
        ),
        // I6: the running count of mapped bytes off by one.
        (
            E::MappedBytes {
                recorded: 0x3001,
                actual: 0x3000,
            },
            |m| m.mapped_bytes += 1,
        ),
        // I4: c dropped without merging its gaps (the first differing gap is reported).
        (
            E::GapMismatch {
                index: 1,
                expected: Some(r(0x4000, 0xFFFF)),
                found: Some(r(0x4000, 0x7FFF)),
            },
            |m| {
                m.entries.remove(&0x8000);
                m.mapped_bytes -= 0x1000;
            },
        ),
        // I4: a gap shrunk in the index; the last gap missing; an extra gap after the last.
        (
            E::GapMismatch {
                index: 1,
                expected: Some(r(0x4000, 0x7FFF)),
                found: Some(r(0x4000, 0x6FFF)),
            },
            |m| {
                m.gaps.remove(0x4000);
                m.gaps.insert(r(0x4000, 0x6FFF));
            },
        ),
        (
            E::GapMismatch {
                index: 2,
                expected: Some(r(0x9000, 0xFFFF)),
                found: None,
            },
            |m| {
                m.gaps.remove(0x9000);
            },
        ),
        (
            E::GapMismatch {
                index: 3,
                expected: None,
                found: Some(r(0xA000, 0xAFFF)),
            },
            |m| {
                m.gaps.insert(r(0xA000, 0xAFFF));
            },
        ),
    ];
    for (i, (expected, corrupt)) in cases.into_iter().enumerate() {
        let mut m = healthy.clone();
        corrupt(&mut m);
        assert_eq!(m.check_invariants(), Err(expected), "case {i}");
    }
}

// ---------------------------------------------------------------------------------------------
// Segment sharing
// ---------------------------------------------------------------------------------------------

#[test]
fn segment_sharing_counts() {
    let seg = Arch::Ia32.segment_size();
    let obj = |space, start, length, offset| ObjectMapping {
        space,
        object: 1,
        start,
        length,
        offset,
    };
    // Two spaces, the same 3 segments of the object at segment-aligned addresses: all shared.
    let aligned = [obj(0, 10 * seg, 3 * seg, 0), obj(1, 20 * seg, 3 * seg, 0)];
    let s = segment_sharing(Arch::Ia32, &aligned).unwrap();
    assert_eq!(s.table_pages_unshared, 6);
    assert_eq!((s.shared_pages, s.private_pages, s.table_pages), (3, 0, 3));
    assert_eq!((s.segments_on_shared_pages, s.saved()), (6, 3));
    // Same, but space 1 is off by one page: every segment is partial or has another key.
    let skewed = [
        obj(0, 10 * seg, 3 * seg, 0),
        obj(1, 20 * seg + PAGE_SIZE, 3 * seg, 0),
    ];
    let s = segment_sharing(Arch::Ia32, &skewed).unwrap();
    assert_eq!(
        (s.table_pages_unshared, s.table_pages, s.saved()),
        (7, 7, 0)
    );
    // Congruent but not aligned: start % seg == offset % seg still shares the inner segments.
    let congruent = [
        obj(0, 10 * seg + PAGE_SIZE, 3 * seg, PAGE_SIZE),
        obj(1, 30 * seg + PAGE_SIZE, 3 * seg, PAGE_SIZE),
    ];
    let s = segment_sharing(Arch::Ia32, &congruent).unwrap();
    assert_eq!(
        (s.table_pages_unshared, s.shared_pages, s.private_pages),
        (8, 2, 4)
    );
    // Two mappings in one segment make it private.
    let crowded = [
        obj(0, 0, seg / 2, 0),
        obj(0, seg / 2, seg / 2, seg / 2),
        obj(1, 0, seg, 0),
    ];
    let s = segment_sharing(Arch::Ia32, &crowded).unwrap();
    assert_eq!(
        (s.table_pages_unshared, s.table_pages, s.shared_pages),
        (2, 2, 0)
    );
    // Errors.
    assert_eq!(
        segment_sharing(Arch::Ia32, &[obj(0, 0, 0, 0)]),
        Err(SharingError::BadRange {
            index: 0,
            error: crate::addr::RangeError::Empty
        })
    );
    assert_eq!(
        segment_sharing(Arch::Ia32, &[obj(0, 1, 1, 0)]),
        Err(SharingError::NotPageAligned { index: 0 })
    );
    assert_eq!(
        segment_sharing(Arch::X86_64, &[obj(0, 0, 0x1001, !0xFFF)]),
        Err(SharingError::OffsetWraps { index: 0 })
    );
    assert_eq!(
        segment_sharing(
            Arch::Ia32,
            &[obj(0, 0, 2 * PAGE_SIZE, 0), obj(0, PAGE_SIZE, 1, 0)]
        ),
        Err(SharingError::Overlap {
            first: 0,
            second: 1
        })
    );
    assert_eq!(
        segment_sharing(Arch::X86_64, &[obj(0, 0, 1 << 46, 0)]),
        Err(SharingError::TooManySegments)
    );
}

#[test]
fn segment_alignment_saves_table_pages_through_vmmap() {
    // Eight address spaces each map the same 64 MiB object after a different amount of private
    // stuff. Page-aligned placement shares nothing; segment-aligned placement shares every
    // table page the object needs.
    for arch in ALL_ARCHES {
        let seg = arch.segment_size();
        let object_len = 64 << 20;
        let place = |align: u64| {
            let mut out = Vec::new();
            for space in 0..8u32 {
                let mut m = map(arch, 0x40_0000, 0xBFFF_FFFF);
                m.map_anywhere(u64::from(space + 1) * 3 * PAGE_SIZE, PAGE_SIZE, 0)
                    .unwrap();
                let at = m.map_anywhere(object_len, align, 1).unwrap();
                m.check_invariants().unwrap();
                out.push(ObjectMapping {
                    space,
                    object: 1,
                    start: at.start(),
                    length: object_len,
                    offset: 0,
                });
            }
            segment_sharing(arch, &out).unwrap()
        };
        let paged = place(PAGE_SIZE);
        let segmented = place(seg);
        let per_space = object_len / seg;
        assert_eq!(paged.shared_pages, 0, "{arch}");
        assert_eq!(paged.table_pages, 8 * (per_space + 1), "{arch}");
        assert_eq!(segmented.table_pages_unshared, 8 * per_space, "{arch}");
        assert_eq!(segmented.table_pages, per_space, "{arch}");
        assert_eq!(segmented.saved(), 7 * per_space, "{arch}");
    }
}

/// Every error prints a message of its own (a user reads these in a finding's report).
#[test]
fn every_error_prints_its_own_message() {
    use alloc::string::{String, ToString};
    let texts: Vec<String> = [
        NewError::Inverted.to_string(),
        NewError::PastTop.to_string(),
        NewError::NonCanonical.to_string(),
        FindspaceError::ZeroAlign.to_string(),
        FindspaceError::NoSpace.to_string(),
        MapAnywhereError::Full.to_string(),
        MapFixedError::Wraps.to_string(),
        MapFixedError::Overlap {
            existing: Range::new(0x5000, 0x1000).unwrap(),
        }
        .to_string(),
        UnmapError::ZeroLength.to_string(),
        UnmapError::OutOfBounds.to_string(),
        UnmapError::NotMapped.to_string(),
        UnmapError::Partial {
            entry: Range::new(0x7000, 0x1000).unwrap(),
        }
        .to_string(),
    ]
    .into();
    for t in &texts {
        assert!(!t.is_empty());
    }
    let mut distinct = texts.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), texts.len(), "{texts:?}");
    let r = |x: u64| Range::new(x, 0x1000).unwrap().to_string();
    assert!(texts[7].contains(&r(0x5000)), "{}", texts[7]);
    assert!(texts[11].contains(&r(0x7000)), "{}", texts[11]);
}

/// Both strategies against a naive reference on pseudo-random op streams.
mod differential;
