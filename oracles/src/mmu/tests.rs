//! Unit tests of the mmu oracle.

use super::*;

const ALL: [Mode; 4] = [Mode::Ia32, Mode::Pae, Mode::X86_64, Mode::La57];

#[test]
fn shapes() {
    assert_eq!(Mode::Ia32.table_span(1), 1 << 32);
    assert_eq!(Mode::Pae.table_span(2), 1 << 32);
    assert_eq!(Mode::X86_64.table_span(3), 1 << 48);
    assert_eq!(Mode::La57.table_span(4), 1 << 57);
    assert_eq!(Mode::X86_64.kernel_base(), 0xFFFF_8000_0000_0000);
    assert_eq!(Mode::La57.kernel_base(), 0xFF00_0000_0000_0000);
    assert!(Mode::X86_64.canonical(0x7FFF_FFFF_FFFF));
    assert!(!Mode::X86_64.canonical(0x8000_0000_0000));
    assert!(!Mode::Ia32.canonical(1 << 32));
}

#[test]
fn one_page_needs_a_table_per_level() {
    for m in ALL {
        let mut o = MmuModel::new(m, 100, 1);
        assert_eq!(o.table_pages(), 1);
        o.map(0, 0, 0, 4096, WRITABLE, 4096).unwrap();
        assert_eq!(o.table_pages(), m.levels() as u128);
        let t = o.translate(0, 0xFFF).unwrap();
        assert_eq!((t.pa, t.page_size), (0xFFF, 4096));
        o.unmap(0, 0, 4096).unwrap();
        assert_eq!(o.table_pages(), 1);
    }
}

#[test]
fn top_of_space_and_errors() {
    let mut o = MmuModel::new(Mode::Ia32, 3, 1);
    o.map(0, 0xFFFF_F000, 0x1000, 4096, 0, 4096).unwrap();
    assert_eq!(
        o.map(0, 0xFFFF_F000, 0, 8192, 0, 4096),
        Err(ErrKind::PastTop)
    );
    assert_eq!(
        o.map(0, 0xFFFF_F000, 0, 4096, 0, 4096),
        Err(ErrKind::AlreadyMapped { va: 0xFFFF_F000 })
    );
    assert_eq!(
        o.map(0, 0, 0, 4096, NO_EXECUTE, 4096),
        Err(ErrKind::UnsupportedFlags)
    );
    assert_eq!(
        o.map(0, 0xFFC0_0000, 0, 4 << 20, 0, 4 << 20),
        Err(ErrKind::TableInTheWay { va: 0xFFC0_0000 })
    );
    let mut o = MmuModel::new(Mode::X86_64, 10, 1);
    let top = 0xFFFF_FFFF_FFFF_F000;
    o.map(0, top, 0, 4096, GLOBAL, 4096).unwrap();
    assert_eq!(o.translate(0, TOP64).unwrap().pa, 0xFFF);
    assert_eq!(o.map(0, top, 0, 8192, 0, 4096), Err(ErrKind::Wraps));
    assert_eq!(
        o.map(0, 0x7FFF_FFFF_F000, 0, 8192, 0, 4096),
        Err(ErrKind::NonCanonical)
    );
    assert_eq!(
        o.map(0, top, 0, 4096, USER, 4096),
        Err(ErrKind::UserInKernelHalf)
    );
}

#[test]
fn segments_are_shared() {
    let mut o = MmuModel::new(Mode::X86_64, 100, 1);
    let a = o.create_space().unwrap();
    let b = o.create_space().unwrap();
    o.map_shared_segment(a, 0x4000_0000, 0x10_0000, MIB2, USER)
        .unwrap();
    let before = o.table_pages();
    o.map_shared_segment(b, 0x4000_0000, 0x10_0000, MIB2, USER)
        .unwrap();
    // b needs its own PDPT and PD, but not a page table.
    assert_eq!(o.table_pages(), before + 2);
    assert_eq!(o.private_table_pages() - o.table_pages(), 1);
    assert_eq!(
        o.map(a, 0x4000_1000, 0, 4096, 0, 4096),
        Err(ErrKind::SharedTable { va: 0x4000_1000 })
    );
    assert_eq!(
        o.unmap_shared_segment(a, 0x4020_0000),
        Err(ErrKind::NotMapped { va: 0x4020_0000 })
    );
    o.unmap_shared_segment(a, 0x4000_0000).unwrap();
    assert_eq!(o.table_pages(), before);
}

#[test]
fn kept_counts_equal_the_recount() {
    for m in ALL {
        let seg = m.segment();
        let mut o = MmuModel::new(m, 40, 1);
        let a = o.create_space().unwrap();
        let kb = m.kernel_base();
        let steps: [&dyn Fn(&mut MmuModel) -> bool; 9] = [
            &|o| o.map(a, 0, 0, 8 * KIB4, WRITABLE, KIB4).is_ok(),
            &|o| o.map(0, kb, 0, seg, GLOBAL, seg).is_ok(),
            &|o| o.map_shared_segment(a, seg, 0, KIB4, USER).is_ok(),
            &|o| o.map_shared_segment(0, kb + seg, 0, KIB4, 0).is_ok(),
            // Too many tables for the frames: refused, counts unchanged.
            &|o| o.map(a, 0, 0, 512 * seg, 0, seg).is_err(),
            &|o| o.unmap(a, KIB4, 2 * KIB4).is_ok(),
            &|o| o.protect(a, 0, KIB4, 0).is_ok(),
            &|o| o.unmap_shared_segment(0, kb + seg).is_ok(),
            &|o| o.destroy_space(a).is_ok(),
        ];
        for (i, step) in steps.iter().enumerate() {
            assert!(step(&mut o), "{m:?} step {i}");
            assert_eq!(o.check_counts(), Ok(()), "{m:?} step {i}");
        }
        assert_eq!(o.table_pages(), 1 + (m.levels() as u128 - 2));
    }
}

#[test]
fn accessed_and_dirty_follow_the_rules() {
    let mut o = MmuModel::new(Mode::X86_64, 100, 1);
    let a = o.create_space().unwrap();
    o.map(a, 0, 0, 2 * KIB4, WRITABLE, KIB4).unwrap();
    // A write walk: A at every level, D in the leaf only.
    o.walked(a, 8, true);
    let ad = |o: &MmuModel, l| o.accessed_dirty(a, 8, l);
    assert_eq!([0, 1, 2, 3].map(|l| ad(&o, l)), [3, 1, 1, 1]);
    assert_eq!(o.accessed_dirty(a, KIB4, 0), 0, "the other page");
    // Kept by protect, cleared with the leaf by unmap (the tables stay).
    o.protect(a, 0, KIB4, 0).unwrap();
    assert_eq!(ad(&o, 0), ACCESSED | DIRTY);
    o.unmap(a, 0, KIB4).unwrap();
    assert_eq!([0, 1, 2, 3].map(|l| ad(&o, l)), [0, 1, 1, 1]);
    // The last page gone, its tables go and the root's entry with them.
    o.unmap(a, KIB4, KIB4).unwrap();
    assert_eq!(ad(&o, 3), 0);
    // A kernel walk in space 0 sets its root entry only; a new space copies it.
    let kb = Mode::X86_64.kernel_base();
    o.map(0, kb, 0, KIB4, GLOBAL, KIB4).unwrap();
    o.walked(0, kb, false);
    assert_eq!(
        (o.accessed_dirty(0, kb, 3), o.accessed_dirty(a, kb, 3)),
        (1, 0)
    );
    assert_eq!(
        o.accessed_dirty(a, kb, 2),
        ACCESSED,
        "shared below the root"
    );
    let b = o.create_space().unwrap();
    assert_eq!(o.accessed_dirty(b, kb, 3), ACCESSED);
}

#[test]
fn out_of_frames_is_all_or_nothing() {
    let mut o = MmuModel::new(Mode::X86_64, 3, 1);
    assert_eq!(o.map(0, 0, 0, 4096, 0, 4096), Err(ErrKind::OutOfFrames));
    assert_eq!(o.table_pages(), 1);
    o.map(0, 0, 0, MIB2, 0, MIB2).unwrap();
    assert_eq!(o.table_pages(), 3);
}
