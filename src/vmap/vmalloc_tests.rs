//! Unit tests of the vmalloc layer: mapping, guard pages, lazy vfree with held flushes, the
//! purge's shootdown, frame and table exhaustion, and the seeded bugs.

use super::*;
/// x86_64's vmalloc start.
const START: u64 = 0xffff_c900_0000_0000;

const P: u64 = PAGE_SIZE;

fn make(arch: Arch, start: u64, pages: u64, lazy: u64, cpus: u32, frames: u32) -> Vmalloc {
    Vmalloc::new(VmallocConfig {
        space: VmapConfig {
            start,
            last: start + (pages * P - 1),
            lazy_max_pages: lazy,
        },
        strategy: Strategy::Tree,
        arch,
        mmu: MmuConfig {
            frames: 64,
            cpus,
            tlb_entries: 16,
        },
        frames,
    })
    .unwrap()
}

fn x86(lazy: u64) -> Vmalloc {
    make(Arch::X86_64, START, 64, lazy, 2, 32)
}

fn read(v: &mut Vmalloc, cpu: u32, a: u64) -> Result<Translation, AccessError> {
    v.access(CpuId(cpu), a, AccessKind::Read)
}

#[test]
fn vmalloc_maps_every_page_to_its_own_frame_and_never_the_guard_page() {
    let mut v = x86(100);
    let a = v.vmalloc(3 * P - 5, P, true).unwrap();
    let b = v.vmalloc(P, P, true).unwrap();
    assert_eq!(
        (a, b),
        (START, START + 4 * P),
        "the guard page separates them"
    );
    let frames: Vec<u64> = v.area_frames(a).unwrap().collect();
    assert_eq!(frames.len(), 3);
    for (i, &pa) in frames.iter().enumerate() {
        let t = read(&mut v, 1, a + i as u64 * P + 8).unwrap();
        assert_eq!(t.pa, pa + 8);
    }
    assert_eq!(read(&mut v, 0, a + 3 * P), Err(AccessError::NotPresent));
    assert_eq!(
        v.access(CpuId(0), a, AccessKind::Execute),
        Err(AccessError::Protection),
        "NX"
    );
    assert!(v.access(CpuId(0), a, AccessKind::Write).is_ok());
    assert_eq!(v.free_frames(), 32 - 4);
    v.check_invariants().unwrap();
}

#[test]
fn vfree_holds_the_flush_until_the_purge_flushes_every_cpu() {
    let mut v = x86(100);
    let a = v.vmalloc(2 * P, P, true).unwrap();
    let old = read(&mut v, 1, a + P).unwrap();
    v.vfree(a).unwrap();
    v.check_invariants().unwrap();
    assert_eq!(v.take_purge(), None);
    // CPU 1 loaded the page before the vfree: a stale hit, to the old frame.
    match read(&mut v, 1, a + P) {
        Err(AccessError::Stale(s)) => {
            assert_eq!(s.cached.pa, old.pa);
            assert_eq!(s.current, None);
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(read(&mut v, 0, a), Err(AccessError::NotPresent));
    assert_eq!(v.vfree(a), Err(VfreeError::NotBusy), "a double free");
    v.purge();
    let p = v.take_purge().unwrap();
    assert_eq!((p.start, p.last), (a, a + 3 * P - 1));
    assert_eq!(read(&mut v, 1, a + P), Err(AccessError::NotPresent));
    // Handed out again: fresh frames, no stale translation.
    let b = v.vmalloc(2 * P, P, true).unwrap();
    assert_eq!(b, a);
    let t = read(&mut v, 1, a + P).unwrap();
    assert_ne!(t.pa, old.pa, "frames are reused oldest-freed first");
    v.check_invariants().unwrap();
}

#[test]
fn a_free_past_the_lazy_limit_and_a_full_space_purge_with_their_flush() {
    let mut v = x86(3);
    let a = v.vmalloc(P, P, true).unwrap();
    read(&mut v, 1, a).unwrap();
    v.vfree(a).unwrap();
    assert!(v.take_purge().is_none());
    let b = v.vmalloc(P, P, true).unwrap();
    v.vfree(b).unwrap();
    assert!(v.take_purge().is_some(), "4 lazy pages > 3");
    assert_eq!(read(&mut v, 1, a), Err(AccessError::NotPresent));
    // A full space: the allocation purges and retries.
    let mut v = make(Arch::Pae, 0xf880_0000, 4, 100, 2, 8);
    let a = v.vmalloc(3 * P, P, true).unwrap();
    read(&mut v, 1, a).unwrap();
    v.vfree(a).unwrap();
    assert_eq!(v.vmalloc(3 * P, P, true), Ok(a));
    assert!(v.take_purge().is_some());
    assert!(read(&mut v, 1, a).is_ok());
    v.check_invariants().unwrap();
}

/// A vmalloc that runs out of table frames part way (its first pages mapped, the next needing
/// a page table there is no frame for) unmaps what it mapped: nothing stays mapped, every
/// frame comes back, and the page table it emptied goes too.
#[test]
fn a_vmalloc_failing_part_way_unmaps_the_pages_it_mapped() {
    // Two pages below a 2 MiB boundary (one page table), two above it (another).
    let start = START + (2 << 20) - 2 * P;
    let mut v = Vmalloc::new(VmallocConfig {
        space: VmapConfig {
            start,
            last: start + (64 * P - 1),
            lazy_max_pages: 100,
        },
        strategy: Strategy::Walk,
        arch: Arch::X86_64,
        mmu: MmuConfig::with_frames(4),
        frames: 8,
    })
    .unwrap();
    let tables = v.mmu().table_pages();
    // The root and three tables down to the first page table: the second has no frame.
    assert_eq!(
        v.vmalloc(4 * P, P, true),
        Err(VmallocError::OutOfTableFrames)
    );
    v.check_invariants().unwrap();
    assert_eq!(v.free_frames(), 8);
    assert_eq!(v.mmu().table_pages(), tables);
    assert!(v
        .mmu()
        .leaves(Asid::KERNEL, start, start + (64 * P - 1))
        .is_empty());
    for page in 0..2 {
        assert_eq!(
            read(&mut v, 0, start + page * P),
            Err(AccessError::NotPresent)
        );
    }
}

#[test]
fn running_out_of_frames_changes_nothing_and_of_tables_leaves_nothing_mapped() {
    let mut v = make(Arch::Ia32, 0xf880_0000, 64, 100, 1, 4);
    assert_eq!(v.vmalloc(5 * P, P, true), Err(VmallocError::OutOfFrames));
    assert_eq!(v.space().areas().count(), 0);
    assert_eq!(
        v.vmalloc(0, P, true),
        Err(VmallocError::Alloc(AllocError::ZeroSize)),
        "the request's errors come first"
    );
    assert_eq!(v.vmalloc(4 * P, P, true), Ok(0xf880_0000));
    // Two tables per 4-level walk, and only the root fits: nothing can be mapped.
    let mut v = Vmalloc::new(VmallocConfig {
        space: VmapConfig {
            start: START,
            last: START + (64 * P - 1),
            lazy_max_pages: 100,
        },
        strategy: Strategy::Walk,
        arch: Arch::X86_64,
        mmu: MmuConfig::with_frames(1),
        frames: 8,
    })
    .unwrap();
    assert_eq!(
        v.vmalloc(2 * P, P, true),
        Err(VmallocError::OutOfTableFrames)
    );
    assert_eq!(v.free_frames(), 8);
    assert_eq!(
        v.space().stats().lazy,
        1,
        "freed lazily, as Linux's vfree on failure"
    );
    v.check_invariants().unwrap();
    assert!(v
        .mmu()
        .leaves(Asid::KERNEL, START, START + (64 * P - 1))
        .is_empty());
}

#[test]
fn reserved_areas_map_nothing_and_spaces_outside_the_kernel_half_are_refused() {
    let mut v = x86(100);
    let a = v.reserve(&VmapRequest::size(3 * P)).unwrap();
    assert_eq!(v.area_frames(a).unwrap().count(), 0);
    assert_eq!(read(&mut v, 0, a), Err(AccessError::NotPresent));
    v.vfree(a).unwrap();
    v.check_invariants().unwrap();
    let cfg = |start: u64, arch| VmallocConfig {
        space: VmapConfig {
            start,
            last: start + (P - 1),
            lazy_max_pages: 0,
        },
        strategy: Strategy::Cache,
        arch,
        mmu: MmuConfig::with_frames(8),
        frames: 1,
    };
    let err = |c| Vmalloc::new(c).err();
    assert_eq!(
        err(cfg(0x1000, Arch::X86_64)),
        Some(NewVmallocError::NotKernelSpace)
    );
    assert_eq!(
        err(cfg(0xffa0_0000_0000_0000, Arch::X86_64)),
        Some(NewVmallocError::NotKernelSpace),
        "LA57's vmalloc start is not canonical with 4 levels"
    );
    assert!(err(cfg(0xffa0_0000_0000_0000, Arch::X86_64La57)).is_none());
    assert_eq!(
        err(cfg(0xbfff_f000, Arch::Ia32)),
        Some(NewVmallocError::NotKernelSpace)
    );
    assert!(err(cfg(0xffff_f000, Arch::Ia32)).is_none());
    assert_eq!(
        err(cfg(0xffff_f001, Arch::Ia32)),
        Some(NewVmallocError::Space(CreateError::BadRange))
    );
    let mut c = cfg(0xffff_f000, Arch::Pae);
    c.frames = 0;
    assert_eq!(err(c), Some(NewVmallocError::BadFrameCount));
}

#[test]
fn the_top_of_the_64_bit_space_maps_its_last_page() {
    let start = u64::MAX - (4 * P - 1);
    let mut v = make(Arch::X86_64, start, 4, 0, 1, 8);
    let a = v.vmalloc(3 * P, P, true).unwrap();
    assert_eq!(a, start);
    assert!(read(&mut v, 0, u64::MAX - P - 7).is_ok());
    assert_eq!(
        read(&mut v, 0, u64::MAX),
        Err(AccessError::NotPresent),
        "its guard page"
    );
    v.vfree(a).unwrap();
    assert_eq!(v.take_purge().map(|p| p.last), Some(u64::MAX));
    v.check_invariants().unwrap();
}

#[cfg(feature = "seeded-bugs")]
#[test]
fn the_seeded_bugs_break_what_they_are_named_for() {
    let mut v = x86(100);
    v.set_bugs(BugSet::only(Bug::GuardPageMapped));
    let a = v.vmalloc(2 * P, P, true).unwrap();
    assert!(
        read(&mut v, 0, a + 2 * P).is_ok(),
        "the guard page is mapped"
    );
    assert_eq!(
        v.check_invariants(),
        Err(VmallocInvariantError::GuardPageMapped { va: a + 2 * P })
    );
    let mut v = x86(100);
    v.set_bugs(BugSet::only(Bug::VfreeFlushesNothing));
    let a = v.vmalloc(P, P, true).unwrap();
    read(&mut v, 1, a).unwrap();
    v.vfree(a).unwrap();
    v.purge();
    assert_eq!(v.vmalloc(P, P, true), Ok(a));
    assert!(
        matches!(read(&mut v, 1, a), Err(AccessError::Stale(_))),
        "CPU 1 translates the new area through the old owner's entry"
    );
}

/// vmalloc maps with `PAGE_KERNEL`: writable and global, and not executable where the mode has
/// NX (not on IA-32 without PAE); the page's translation carries exactly those flags.
#[test]
fn pages_are_mapped_page_kernel() {
    let kernel = PageFlags::WRITABLE | PageFlags::GLOBAL;
    for (mut v, want) in [
        (x86(100), kernel | PageFlags::NO_EXECUTE),
        (make(Arch::Ia32, 0xf880_0000, 64, 100, 1, 4), kernel),
    ] {
        assert_eq!(v.page_flags(), want);
        let a = v.vmalloc(P, P, true).unwrap();
        assert_eq!(read(&mut v, 0, a).unwrap().flags, want);
    }
}
