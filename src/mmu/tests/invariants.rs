//! `check_invariants`: every reachable failure branch, each made by editing one table entry
//! or count behind the model's back.

use super::*;

/// The fixture of [`every_invariant_can_fail`]: frame indices of its tables (asserted there)
/// and the addresses it maps.
mod fx {
    use super::Asid;

    // The kernel space's root and space U's root.
    pub const KROOT: u32 = 0;
    pub const UROOT: u32 = 1;
    // U's private level-2, -1 and -0 tables on the way to `UVA`.
    pub const UL2: u32 = 2;
    pub const UL1: u32 = 3;
    pub const UL0: u32 = 4;
    // The kernel-half tables on the way to `KVA` (level 2 is shared by both roots).
    pub const KL2: u32 = 5;
    pub const KL1: u32 = 6;
    pub const KL0: u32 = 7;
    // The shared segment tables at `SVA` (in U) and `KSVA` (in the kernel space).
    pub const USEG: u32 = 8;
    pub const KSEG: u32 = 9;
    // The root of a destroyed space: a free frame below the watermark.
    pub const FREED: u32 = 10;

    /// The user address space (the first one created).
    pub const U: Asid = Asid::from_raw(1);

    /// A user page of `U`: root index 0, level-2 index 0, level-1 index 2, level-0 index 0.
    pub const UVA: u64 = 0x40_0000;
    /// `U`'s shared segment: level-1 index 4 of `UL1`.
    pub const SVA: u64 = 0x80_0000;
    /// A global kernel page: root index 256, then index 0 at every level.
    pub const KVA: u64 = 0xFFFF_8000_0000_0000;
    /// The kernel's shared segment: level-1 index 1 of `KL1`.
    pub const KSVA: u64 = KVA + (2 << 20);
}

/// Physical address of frame `i` of the table pool.
fn pa_of(i: u32) -> u64 {
    TABLE_POOL_BASE + u64::from(i) * K4
}

/// The table in frame `i` (which must hold one).
fn frame(m: &Mmu, i: u32) -> Frame {
    m.phys.frame_at(pa_of(i)).expect("frame holds a table")
}

/// Frame index of the level-`level` table on `asid`'s walk to `va`.
fn table_of(m: &Mmu, asid: Asid, va: u64, level: Level) -> u32 {
    let w = m.walk(m.root(asid), va, level);
    assert_eq!(w.level, level, "walk to {va:#x} stops above level {level}");
    w.tables[level as usize].0.index()
}

/// Rewrite entry `i` of the table in frame `t` (its present count follows, as `write` does).
fn poke(m: &mut Mmu, t: u32, i: usize, edit: impl FnOnce(u64) -> u64) {
    let t = frame(m, t);
    let idx = m.geo.table_index(m.phys.page(t).level, i).unwrap();
    let e = m.phys.read(t, idx);
    m.phys.write(t, idx, edit(e));
}

/// The table in frame `t`, to edit.
fn page(m: &mut Mmu, t: u32) -> &mut phys::TablePage {
    let f = frame(m, t);
    m.phys.page_mut(f)
}

/// The segment key of the shared table in frame `t`.
fn key_of(m: &Mmu, t: u32) -> SegmentKey {
    match m.phys.page(frame(m, t)).kind {
        TableKind::Segment(k) => k,
        k => panic!("frame {t} is a {k:?} table"),
    }
}

#[test]
fn every_invariant_can_fail() {
    use fx::*;
    use InvariantError as E;
    fn bad(frame: u32, index: u16) -> InvariantError {
        E::BadEntry { frame, index }
    }
    fn free_ptr(frame: u32, index: u16) -> InvariantError {
        E::PointsToFreeFrame { frame, index }
    }
    // x86_64, two spaces (the kernel's and U), with a private user page, a global kernel
    // page, a shared segment in each half, and one freed frame.
    let mut healthy = mmu(Arch::X86_64, 64, 1);
    let u = healthy.create_space().unwrap();
    let user = PageFlags::USER | RW;
    healthy.map(u, UVA, 0x4000_0000, K4, user, K4).unwrap();
    let global = PageFlags::GLOBAL | RW;
    healthy
        .map(Asid::KERNEL, KVA, 0x4020_0000, K4, global, K4)
        .unwrap();
    healthy
        .map_shared_segment(u, SVA, 0x4010_0000, 2 * K4, PageFlags::USER)
        .unwrap();
    healthy
        .map_shared_segment(Asid::KERNEL, KSVA, 0x4030_0000, K4, RW)
        .unwrap();
    let w = healthy.create_space().unwrap();
    healthy.destroy_space(w).unwrap().ignore();
    healthy.check_invariants().unwrap();
    // The layout the cases rely on.
    assert_eq!(u, U);
    let h = &healthy;
    assert_eq!(
        [3, 2, 1, 0].map(|l| table_of(h, u, UVA, l)),
        [UROOT, UL2, UL1, UL0]
    );
    assert_eq!(
        [3, 2, 1, 0].map(|l| table_of(h, Asid::KERNEL, KVA, l)),
        [KROOT, KL2, KL1, KL0]
    );
    assert_eq!(table_of(h, u, KVA, 2), KL2);
    assert_eq!(table_of(h, u, SVA, 0), USEG);
    assert_eq!(table_of(h, Asid::KERNEL, KSVA, 0), KSEG);
    assert_eq!(
        h.phys
            .free_list()
            .iter()
            .map(|f| f.index())
            .collect::<Vec<_>>(),
        [FREED]
    );
    assert_eq!(
        h.phys.page(frame(h, KL2)).refs,
        2,
        "one pointer from each root"
    );

    // Unreachable through `Tlb`'s API (its fields are private to `tlb.rs`, and every method
    // keeps them consistent), so not covered here: `Tlb` (a TLB over capacity or an entry
    // filed under the wrong key). Also unreachable: the `page.level != level` half of
    // `visit`'s shape check, since a root's level is checked before its traversal and every
    // other table's level by its parent before recursing. The pool's free list is edited
    // through a test-only accessor.
    type Corrupt = fn(&mut Mmu);
    let cases: [(InvariantError, Corrupt); 36] = [
        // Invariant 1: a frame on the free list twice; a frame holding a table on it; a free
        // frame missing from it.
        (E::FrameFreeAndUsed { frame: FREED }, |m| {
            let freed = m.phys.free_list()[0];
            m.phys.free_list_mut().push(freed);
        }),
        (E::FrameFreeAndUsed { frame: UL0 }, |m| {
            let used = frame(m, UL0);
            m.phys.free_list_mut().push(used);
        }),
        (E::FrameLeaked { frame: FREED }, |m| {
            m.phys.free_list_mut().clear();
        }),
        // Invariant 3, roots: a root must be a root table of the top level.
        (E::Shape { frame: UROOT }, |m| {
            page(m, UROOT).kind = TableKind::Inner;
        }),
        (E::Shape { frame: UROOT }, |m| {
            page(m, UROOT).level = 2;
        }),
        // Invariant 6: a root that missed a kernel-half update.
        (
            E::KernelHalfDiverged {
                asid: U,
                index: 256,
            },
            |m| {
                poke(m, UROOT, 256, |_| 0);
            },
        ),
        // Invariant 3: a private table reached twice (directly below the root but in the
        // user half; below level 2 anywhere).
        (E::Shape { frame: UL2 }, |m| {
            poke(m, UROOT, 1, |_| bits::P | bits::RW | bits::US | pa_of(UL2));
        }),
        (E::Shape { frame: KL0 }, |m| {
            poke(m, KL1, 2, |_| bits::P | bits::RW | pa_of(KL0));
        }),
        // A kernel-half table reached through two slots of every root (its reference count
        // raised to match): shared by design across roots, but here it aliases two ranges.
        (E::Shape { frame: KL2 }, |m| {
            for root in [KROOT, UROOT] {
                let f = frame(m, root);
                let idx = m.geo.table_index(m.geo.top(), 256).unwrap();
                let e = m.phys.read(f, idx);
                poke(m, root, 257, |_| e);
            }
            page(m, KL2).refs += 2;
        }),
        // A table whose contents are not its level's size.
        (E::Shape { frame: UL0 }, |m| {
            page(m, UL0).data = phys::TableData::Pdpt([0; 4]);
        }),
        // A shared segment table above level 0.
        (E::Shape { frame: UL1 }, |m| {
            let key = key_of(m, USEG);
            page(m, UL1).kind = TableKind::Segment(key);
        }),
        // Invariant 7: a shared segment table mapping more than its key says.
        (E::SegmentRegistry { frame: USEG }, |m| {
            poke(m, USEG, 2, |_| bits::P | bits::US | 0x4010_2000);
        }),
        // Invariant 7: a non-present entry with a bit set past the segment's two pages is
        // the segment's fault (its table must be zero there), not just a bad entry.
        (E::SegmentRegistry { frame: USEG }, |m| {
            poke(m, USEG, 3, |_| bits::RW);
        }),
        // Invariant 5: a non-present entry with other bits set.
        (bad(UL0, 5), |m| {
            poke(m, UL0, 5, |_| bits::RW);
        }),
        // A reserved bit (bit 52, above MAXPHYADDR).
        (bad(UL0, 0), |m| {
            poke(m, UL0, 0, |e| e | 1 << 52);
        }),
        // A leaf where the mode has no page of that size (a 512 GiB page at pa 0).
        (bad(UROOT, 1), |m| {
            poke(m, UROOT, 1, |_| bits::P | bits::PS);
        }),
        // Invariant 8: USER in the kernel half, GLOBAL in the user half.
        (bad(KL0, 0), |m| {
            poke(m, KL0, 0, |e| e | bits::US);
        }),
        (bad(UL0, 0), |m| {
            poke(m, UL0, 0, |e| e | bits::G);
        }),
        // A pointer to a freed frame, and to an address outside the pool.
        (free_ptr(UL1, 2), |m| {
            let mask = m.geo.addr_mask(1, false);
            poke(m, UL1, 2, |e| (e & !mask) | pa_of(FREED));
        }),
        (free_ptr(UL1, 2), |m| {
            let mask = m.geo.addr_mask(1, false);
            poke(m, UL1, 2, |e| (e & !mask) | 0x4000_0000);
        }),
        // Invariant 5: a pointer entry that is not fully permissive (read-only) or has NX.
        (bad(UROOT, 0), |m| {
            poke(m, UROOT, 0, |e| e & !bits::RW);
        }),
        (bad(KL2, 0), |m| {
            poke(m, KL2, 0, |e| e | bits::NX);
        }),
        // Invariant 5: a pointer to a root, and to a table of the wrong level.
        (E::Shape { frame: KROOT }, |m| {
            let mask = m.geo.addr_mask(1, false);
            poke(m, UL1, 2, |e| (e & !mask) | pa_of(KROOT));
        }),
        (E::Shape { frame: UL0 }, |m| {
            page(m, UL0).level = 1;
        }),
        // Invariant 8 for shared segments: USER in the kernel half, GLOBAL in the user half
        // (the pointer is reported before the segment's contents are compared with its key).
        (bad(KL1, 1), |m| {
            let mut key = key_of(m, KSEG);
            key.flags = key.flags | PageFlags::USER;
            page(m, KSEG).kind = TableKind::Segment(key);
        }),
        (bad(UL1, 4), |m| {
            let mut key = key_of(m, USEG);
            key.flags = key.flags | PageFlags::GLOBAL;
            page(m, USEG).kind = TableKind::Segment(key);
        }),
        // Invariant 4: a stale present count; an empty table left in place.
        (
            E::PresentCount {
                frame: UL0,
                stored: 2,
                actual: 1,
            },
            |m| {
                page(m, UL0).present += 1;
            },
        ),
        (E::EmptyTable { frame: UL0 }, |m| {
            poke(m, UL0, 0, |_| 0);
        }),
        // Invariant 2: a table allocated but never linked; a space forgotten, not destroyed.
        (E::FrameLeaked { frame: FREED }, |m| {
            let g = m.geo;
            m.phys.alloc(g, 0, TableKind::Inner).unwrap();
        }),
        (E::FrameLeaked { frame: UROOT }, |m| {
            m.spaces.remove(&U);
        }),
        // Invariant 2: a reference count off by one (the shared kernel table is pointed at
        // from both roots).
        (
            E::RefCount {
                frame: KL2,
                stored: 3,
                actual: 2,
            },
            |m| {
                page(m, KL2).refs += 1;
            },
        ),
        (
            E::RefCount {
                frame: UL0,
                stored: 0,
                actual: 1,
            },
            |m| {
                page(m, UL0).refs = 0;
            },
        ),
        // Invariant 7: a live segment table missing from the registry, or registered as
        // another frame.
        (E::SegmentRegistry { frame: USEG }, |m| {
            let key = key_of(m, USEG);
            m.segments.remove(&key);
        }),
        (E::SegmentRegistry { frame: USEG }, |m| {
            let key = key_of(m, USEG);
            let kseg = frame(m, KSEG);
            m.segments.insert(key, kseg);
        }),
        // Invariant 7: a registry entry naming a table of another key, or a freed frame.
        (E::SegmentRegistry { frame: USEG }, |m| {
            let mut key = key_of(m, USEG);
            key.pa += 0x10_0000;
            let useg = frame(m, USEG);
            m.segments.insert(key, useg);
        }),
        (E::SegmentRegistry { frame: FREED }, |m| {
            let mut key = key_of(m, USEG);
            key.pa += 0x10_0000;
            let freed = m.phys.free_list()[0];
            m.segments.insert(key, freed);
        }),
    ];
    for (i, (expected, corrupt)) in cases.into_iter().enumerate() {
        let mut m = healthy.clone();
        // A memo that saw every table pass just before the corruption must not hide it.
        let mut memo = CheckMemo::new();
        m.check_invariants_memo(&mut memo).unwrap();
        corrupt(&mut m);
        assert_eq!(m.check_invariants(), Err(expected), "case {i}");
        assert_eq!(
            m.check_invariants_memo(&mut memo),
            Err(expected),
            "case {i}, memo"
        );
    }
}
