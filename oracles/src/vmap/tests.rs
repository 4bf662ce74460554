//! Unit tests of the vmap oracle.

use super::*;

const P: u64 = PAGE_SIZE;
const NONE: Option<(u64, u64)> = None;

/// The model's own invariants: sorted, disjoint, page-granular, inside the space.
fn check_model(m: &VmapModel) {
    let mut prev_end = u128::from(m.start());
    for x in m.areas() {
        assert!(u128::from(x.start) >= prev_end, "{:x?}", m.areas());
        assert!(x.start.is_multiple_of(P) && x.size.is_multiple_of(P) && x.size > 0);
        prev_end = x.end();
    }
    assert!(prev_end <= u128::from(m.last()) + 1);
    let s = m.stats();
    let used: u128 = m.areas().iter().map(Area::extent).sum();
    assert_eq!(s.free_bytes, m.space_bytes() - used);
    assert_eq!(s.lazy_pages, m.lazy_pages());
    assert_eq!(
        u128::from(s.busy_pages + s.busy_guard_pages + s.lazy_pages) * PAGE + s.free_bytes,
        m.space_bytes()
    );
}

fn model(start: u64, last: u64, lazy_max: u64) -> VmapModel {
    VmapModel::new(start, last, lazy_max).unwrap()
}

fn ok(m: &mut VmapModel, size: u64, guard: bool) -> u64 {
    let out = m.alloc(size, 1, NONE, guard);
    assert_eq!(out.purge, None);
    out.result.unwrap()
}

#[test]
fn create_rules() {
    use CreateErrorKind::BadRange;
    assert!(VmapModel::new(0, u64::MAX, 0).is_ok());
    assert!(VmapModel::new(0x1000, 0x1fff, 0).is_ok());
    assert!(VmapModel::new(u64::MAX - 0xfff, u64::MAX, 7).is_ok());
    assert_eq!(VmapModel::new(0x1001, 0x1fff, 0), Err(BadRange));
    assert_eq!(VmapModel::new(0x1000, 0x1ffe, 0), Err(BadRange));
    assert_eq!(VmapModel::new(0x1000, 0x2000, 0), Err(BadRange));
    assert_eq!(VmapModel::new(0x2000, 0x1fff, 0), Err(BadRange));
    assert_eq!(VmapModel::new(u64::MAX, u64::MAX, 0), Err(BadRange));
    assert_eq!(VmapModel::new(0, 0, 0), Err(BadRange));
    let m = model(0, u64::MAX, 0);
    assert_eq!(m.space_bytes(), 1 << 64);
    assert_eq!(m.stats().free_bytes, 1 << 64);
}

#[test]
fn errors_in_precedence_order() {
    use AllocErrorKind::*;
    let m = model(0x10_0000, 0x1f_ffff, 0); // 256 pages
    let w = Some((0x10_0000, 0x1f_ffff));
    // Each error, with every later one also present.
    assert_eq!(m.predict_alloc(0, 0, Some((5, 1)), true), Err(ZeroSize));
    assert_eq!(
        m.predict_alloc(u64::MAX, 3, Some((5, 1)), true),
        Err(BadAlign)
    );
    assert_eq!(m.predict_alloc(1, 0, w, false), Err(BadAlign));
    assert_eq!(
        m.predict_alloc(u64::MAX, 1 << 12, Some((5, 1)), true),
        Err(BadWindow)
    );
    assert_eq!(
        m.predict_alloc(u64::MAX, 1, Some((0, 0x1f_ffff)), false),
        Err(BadWindow)
    );
    assert_eq!(
        m.predict_alloc(1, 1, Some((0x10_0000, 0x20_0000)), false),
        Err(BadWindow)
    );
    assert_eq!(
        m.predict_alloc(1, 1, Some((0x10_1000, 0x10_0fff)), false),
        Err(BadWindow)
    );
    assert_eq!(m.predict_alloc(u64::MAX, 1, w, false), Err(SizeWraps));
    assert_eq!(
        m.predict_alloc(u64::MAX - 0xfff + 1, 1, NONE, false),
        Err(SizeWraps)
    );
    // 2^64 - 4096 rounds to itself; only the guard page makes it wrap.
    assert_eq!(
        m.predict_alloc(u64::MAX - 0xfff, 1, NONE, true),
        Err(SizeWraps)
    );
    assert_eq!(
        m.predict_alloc(u64::MAX - 0xfff, 1, NONE, false),
        Err(NoSpace)
    );
    assert_eq!(m.predict_alloc(256 * P + 1, 1, NONE, false), Err(NoSpace));
    assert_eq!(m.predict_alloc(256 * P, 1, NONE, false), Ok(0x10_0000));
    assert_eq!(m.predict_alloc(255 * P + 1, 1, NONE, true), Err(NoSpace));
    assert_eq!(m.predict_alloc(255 * P, 1, NONE, true), Ok(0x10_0000));
    // A window holding one page, not page-aligned: its aligned page does not fit.
    assert_eq!(
        m.predict_alloc(1, 1, Some((0x10_0001, 0x10_1fff)), false),
        Ok(0x10_1000)
    );
    assert_eq!(
        m.predict_alloc(1, 1, Some((0x10_0001, 0x10_1ffe)), false),
        Err(NoSpace)
    );
    // Argument errors never purge, and the model's alloc agrees with its prediction.
    let mut m = model(0x10_0000, 0x1f_ffff, 100);
    let a = ok(&mut m, P, false);
    m.free(a);
    for (size, align, win) in [(0, 1, NONE), (1, 6, NONE), (1, 1, Some((0, 1)))] {
        let out = m.alloc(size, align, win, false);
        assert!(out.result.is_err() && out.purge.is_none());
        assert_eq!(out.result, m.predict_alloc(size, align, win, false));
    }
    assert_eq!(m.lazy_pages(), 1);
}

#[test]
fn lowest_fit_with_guard_pages_on_both_sides() {
    let s = 0x4000_0000;
    let mut m = model(s, s + 64 * P - 1, 100);
    let a = ok(&mut m, P, true); // [s, s+2P): page + guard
    assert_eq!(a, s);
    let b = ok(&mut m, 3 * P, true); // [s+2P, s+6P)
    assert_eq!(b, s + 2 * P);
    let c = ok(&mut m, P, true); // [s+6P, s+8P)
    assert_eq!(c, s + 6 * P);
    assert_eq!(m.free(b).result, Ok(())); // lazy: still blocks
    assert_eq!(m.predict_alloc(P, 1, NONE, false), Ok(s + 8 * P));
    m.purge();
    // The hole [s+2P, s+6P) lies between a's guard page and c's start.
    assert_eq!(m.predict_alloc(3 * P, 1, NONE, true), Ok(s + 2 * P)); // exact fit
    assert_eq!(m.predict_alloc(4 * P, 1, NONE, false), Ok(s + 2 * P)); // exact fit
    assert_eq!(m.predict_alloc(4 * P, 1, NONE, true), Ok(s + 8 * P)); // guard hits c
    assert_eq!(m.predict_alloc(P, 2 * P, NONE, true), Ok(s + 2 * P));
    assert_eq!(m.predict_alloc(P, 4 * P, NONE, true), Ok(s + 4 * P));
    assert_eq!(m.predict_alloc(2 * P, 4 * P, NONE, true), Ok(s + 8 * P));
    assert_eq!(m.predict_alloc(2 * P, 4 * P, NONE, false), Ok(s + 4 * P));
    // A window starting inside a's guard page and one ending inside c.
    assert_eq!(
        m.predict_alloc(P, 1, Some((s + P, s + 64 * P - 1)), true),
        Ok(s + 2 * P)
    );
    assert_eq!(
        m.predict_alloc(P, 1, Some((s + 5 * P, s + 64 * P - 1)), false),
        Ok(s + 5 * P)
    );
    assert_eq!(
        m.predict_alloc(P, 1, Some((s + 5 * P, s + 64 * P - 1)), true),
        Ok(s + 8 * P)
    );
    assert_eq!(
        m.predict_alloc(P, 1, Some((s, s + 7 * P)), true),
        Ok(s + 2 * P)
    );
    assert_eq!(
        m.predict_alloc(5 * P, 1, Some((s, s + 9 * P)), false),
        Err(AllocErrorKind::NoSpace)
    );
    // The guard pages are where area_at says.
    assert!(m.contains_guard(s + P) && m.contains_guard(s + 7 * P + 5));
    assert!(!m.contains_guard(s) && !m.contains_guard(s + 2 * P));
    assert_eq!(
        m.area_at(s + 6 * P).map(|(x, p)| (x.start, p)),
        Some((c, Part::Pages))
    );
    assert_eq!(m.area_at(s + 3 * P), None);
    assert_eq!(
        m.overlapping(s + 3 * P, s + 6 * P).map(|x| x.start),
        Some(c)
    );
    assert!(!m.overlaps_any(s + 2 * P, s + 6 * P - 1));
    assert!(!m.overlaps_any(s + 6 * P, s + P)); // inverted: nothing
    check_model(&m);
}

/// Fills a 16-page space ending at `last` so that exactly its top page is free.
fn exact_fit_at_top(last: u64) {
    let start = last - 16 * P + 1;
    for guard in [false, true] {
        let mut m = model(start, last, 0);
        // 14 pages + guard (or 15 pages): [start, last - P].
        let size = if guard { 14 * P } else { 15 * P };
        assert_eq!(ok(&mut m, size, guard), start);
        assert_eq!(
            m.predict_alloc(1, 1, NONE, true),
            Err(AllocErrorKind::NoSpace)
        );
        assert_eq!(
            m.predict_alloc(P + 1, 1, NONE, false),
            Err(AllocErrorKind::NoSpace)
        );
        assert_eq!(m.predict_alloc(1, 1, NONE, false), Ok(last - P + 1));
        assert_eq!(
            m.predict_alloc(P, P, Some((last - P + 1, last)), false),
            Ok(last - P + 1)
        );
        assert_eq!(ok(&mut m, P, false), last - P + 1);
        assert_eq!(m.stats().free_bytes, 0);
        assert_eq!(
            m.area_at(last).map(|(x, p)| (x.start, p)),
            Some((last - P + 1, Part::Pages))
        );
        check_model(&m);
        // Free both; the limit 0 purges each time; the top area's end is 2^64 or 2^32.
        let out = m.free(last - P + 1);
        assert_eq!(
            out.purge,
            Some(PurgeRecord {
                start: last - P + 1,
                last,
                areas: 1,
                pages: 1
            })
        );
        // Now a guarded page fits at the top exactly when the guard is the last page.
        assert_eq!(
            m.predict_alloc(1, 1, NONE, true),
            Err(AllocErrorKind::NoSpace)
        );
        m.free(start);
        assert_eq!(m.predict_alloc(15 * P, 1, NONE, true), Ok(start));
        assert_eq!(
            m.predict_alloc(1, 1, Some((last - 2 * P + 1, last)), true),
            Ok(last - 2 * P + 1)
        );
        assert_eq!(
            m.predict_alloc(1, 1, Some((last - P + 1, last)), true),
            Err(AllocErrorKind::NoSpace)
        );
        let top = m.alloc(P, 1, Some((last - 2 * P + 1, last)), true);
        assert_eq!(top.result, Ok(last - 2 * P + 1));
        assert!(m.contains_guard(last) && !m.contains_guard(last - P));
        check_model(&m);
    }
}

#[test]
fn exact_fit_at_the_top_of_64_bits() {
    exact_fit_at_top(u64::MAX);
    // The whole 64-bit space: the largest extent is 2^64 - 4096 bytes.
    let mut m = model(0, u64::MAX, 0);
    assert_eq!(m.predict_alloc(u64::MAX - 0xfff, P, NONE, false), Ok(0));
    assert_eq!(ok(&mut m, u64::MAX - 0x1fff, true), 0);
    assert_eq!(
        m.predict_alloc(1, 1, NONE, true),
        Err(AllocErrorKind::NoSpace)
    );
    assert_eq!(ok(&mut m, 1, false), u64::MAX - 0xfff);
    assert_eq!(m.stats().free_bytes, 0);
    check_model(&m);
}

#[test]
fn exact_fit_at_the_top_of_32_bits() {
    exact_fit_at_top(0xffff_ffff);
}

#[test]
fn huge_alignments_find_no_space() {
    // x86_64 4-level vmalloc range, the IA-32 one, and a space ending at u64::MAX.
    for (start, last) in [
        (0xffff_c900_0000_0000u64, 0xffff_e8ff_ffff_ffffu64),
        (0xf780_0000, 0xff7f_dfff),
        (0xffff_8000_0000_0000, u64::MAX),
    ] {
        let m = model(start, last, 0);
        for i in 0..64 {
            let align = 1u64 << i;
            let a = u128::from(align).max(PAGE);
            let first = round_up(u128::from(start), a);
            let want = if first + 2 * PAGE - 1 <= u128::from(last) {
                Ok(first as u64)
            } else {
                Err(AllocErrorKind::NoSpace)
            };
            assert_eq!(
                m.predict_alloc(P, align, NONE, true),
                want,
                "align 1 << {i}"
            );
            assert_eq!(m.judge_alloc(P, align, NONE, true, want), Ok(()));
        }
        assert_eq!(
            m.predict_alloc(P, 1 << 63, NONE, true),
            Err(AllocErrorKind::NoSpace)
        );
    }
    // 2^63 is in the whole space: one placement, at 2^63 exactly.
    let m = model(0, u64::MAX, 0);
    assert_eq!(
        m.predict_alloc(u64::MAX / 2, 1 << 63, Some((1, u64::MAX)), false),
        Ok(1 << 63)
    );
    assert_eq!(
        m.predict_alloc(u64::MAX / 2 + 2, 1 << 63, Some((1, u64::MAX)), false),
        Err(AllocErrorKind::NoSpace)
    );
}

#[test]
fn free_purges_when_crossing_the_limit() {
    let s = 0x10_0000;
    let mut m = model(s, s + 64 * P - 1, 3);
    let a = ok(&mut m, P, true);
    let b = ok(&mut m, 2 * P, false);
    let c = ok(&mut m, P, true);
    let d = ok(&mut m, P, false);
    assert_eq!(
        m.free(b),
        OpOutcome {
            result: Ok(()),
            purge: None
        }
    ); // 2 pages
    assert_eq!(m.lazy_pages(), 2);
    assert_eq!(
        m.free(d),
        OpOutcome {
            result: Ok(()),
            purge: None
        }
    ); // 3: not above 3
    assert_eq!(m.lazy_pages(), 3);
    assert_eq!(
        m.purge_record(),
        Some(PurgeRecord {
            start: b,
            last: d + P - 1,
            areas: 2,
            pages: 3
        })
    );
    // a's guard page makes it 5 > 3: one purge of all three.
    let out = m.free(a);
    assert_eq!(out.result, Ok(()));
    assert_eq!(
        out.purge,
        Some(PurgeRecord {
            start: a,
            last: d + P - 1,
            areas: 3,
            pages: 5
        })
    );
    assert_eq!(m.lazy_pages(), 0);
    assert_eq!(m.areas().iter().map(|x| x.start).collect::<Vec<_>>(), [c]);
    assert_eq!(m.stats().purges, 1);
    assert_eq!(m.purge(), None); // nothing lazy: not reported
    assert_eq!(m.stats().purges, 1);
    // Limit 0: every free purges, just itself.
    let mut z = model(s, s + 64 * P - 1, 0);
    let x = ok(&mut z, 3 * P, true);
    let y = ok(&mut z, P, false);
    assert_eq!(
        z.free(x).purge,
        Some(PurgeRecord {
            start: x,
            last: x + 4 * P - 1,
            areas: 1,
            pages: 4
        })
    );
    assert_eq!(
        z.free(y).purge,
        Some(PurgeRecord {
            start: y,
            last: y + P - 1,
            areas: 1,
            pages: 1
        })
    );
    assert_eq!(z.stats().purges, 2);
    // Limit u64::MAX: never.
    let mut n = model(0, u64::MAX, u64::MAX);
    let big = ok(&mut n, 1 << 60, true);
    assert_eq!(n.free(big).purge, None);
    assert_eq!(n.lazy_pages(), (1 << 48) + 1);
    check_model(&n);
}

#[test]
fn purge_range_reaches_the_highest_end_guard_included() {
    let s = 0x20_0000;
    let mut m = model(s, s + 64 * P - 1, 100);
    let a = ok(&mut m, 2 * P, false); // [s, s+2P)
    let _keep = ok(&mut m, P, false);
    let c = ok(&mut m, 5 * P, true); // [s+3P, s+9P): guard at s+8P
    m.free(c);
    m.free(a);
    let want = PurgeRecord {
        start: s,
        last: s + 9 * P - 1,
        areas: 2,
        pages: 8,
    };
    assert_eq!(m.purge(), Some(want));
    // The buggy flush [min start, max start] or up to the pages' end is named field by field.
    let wrong = PurgeRecord { last: c, ..want };
    let v = judge_purge(Some(want), Some(wrong)).unwrap_err();
    assert_eq!(
        v,
        Verdict::WrongPurge {
            expected: Some(want),
            actual: Some(wrong)
        }
    );
    assert!(v.to_string().contains("last"), "{v}");
    assert!(!v.to_string().contains("areas"), "{v}");
    assert_eq!(judge_purge(None, None), Ok(()));
    assert!(judge_purge(Some(want), None).is_err() && judge_purge(None, Some(want)).is_err());
}

#[test]
fn alloc_purges_and_retries_only_when_full_with_lazy_areas() {
    let s = 0x40_0000;
    let mut m = model(s, s + 8 * P - 1, 100);
    let a = ok(&mut m, P, true); // [s, s+2P)
    let b = ok(&mut m, 2 * P, true); // [s+2P, s+5P)
    let c = ok(&mut m, 2 * P, false); // [s+5P, s+7P)
    assert_eq!(ok(&mut m, P, false), s + 7 * P); // full
                                                 // Nothing lazy: NoSpace, no purge.
    assert_eq!(
        m.alloc(P, 1, NONE, false),
        OpOutcome {
            result: Err(AllocErrorKind::NoSpace),
            purge: None
        }
    );
    m.free(b);
    m.free(a);
    // A placement ignoring lazy areas would be s; the model purges then finds it.
    assert_eq!(m.predict_alloc(P, 1, NONE, true), Ok(s));
    let out = m.alloc(P, 1, NONE, true);
    assert_eq!(out.result, Ok(s));
    assert_eq!(
        out.purge,
        Some(PurgeRecord {
            start: s,
            last: s + 5 * P - 1,
            areas: 2,
            pages: 5
        })
    );
    assert_eq!(m.lazy_pages(), 0);
    // Purging and still finding nothing: NoSpace, with the purge reported.
    m.free(c);
    assert_eq!(m.predict_alloc(3 * P, 1, NONE, false), Ok(s + 2 * P)); // no purge needed
    assert_eq!(
        m.predict_alloc(6 * P, 1, NONE, false),
        Err(AllocErrorKind::NoSpace)
    );
    let out = m.alloc(6 * P, 1, NONE, false);
    assert_eq!(out.result, Err(AllocErrorKind::NoSpace));
    assert_eq!(
        out.purge,
        Some(PurgeRecord {
            start: c,
            last: c + 2 * P - 1,
            areas: 1,
            pages: 2
        })
    );
    // With room, a lazy area is not purged: it simply blocks.
    let d = ok(&mut m, P, false);
    m.free(d);
    let out = m.alloc(P, 1, NONE, false);
    assert_eq!((out.result, out.purge), (Ok(d + P), None));
    // A window with no room purges too, even if the space elsewhere has room.
    let out = m.alloc(P, 1, Some((d, d + P - 1)), false);
    assert_eq!(out.result, Ok(d));
    assert_eq!(out.purge.map(|p| p.start), Some(d));
    check_model(&m);
}

#[test]
fn double_free_and_bad_frees_are_not_busy() {
    let s = 0x80_0000;
    let mut m = model(s, s + 16 * P - 1, 100);
    let a = ok(&mut m, 2 * P, true);
    assert_eq!(m.predict_free(a + P), Err(FreeErrorKind::NotBusy)); // inside
    assert_eq!(m.predict_free(a + 2 * P), Err(FreeErrorKind::NotBusy)); // guard page
    assert_eq!(m.predict_free(s + 8 * P), Err(FreeErrorKind::NotBusy)); // nothing
    assert_eq!(m.predict_free(0), Err(FreeErrorKind::NotBusy)); // outside the space
    assert_eq!(m.predict_free(u64::MAX), Err(FreeErrorKind::NotBusy));
    assert_eq!(m.predict_free(a), Ok(()));
    assert_eq!(m.free(a).result, Ok(()));
    assert_eq!(m.predict_free(a), Err(FreeErrorKind::NotBusy)); // lazy: a double free
    assert_eq!(
        m.free(a),
        OpOutcome {
            result: Err(FreeErrorKind::NotBusy),
            purge: None
        }
    );
    assert_eq!(m.lazy_pages(), 3);
    assert_eq!(
        m.area_at(a + 2 * P).map(|(x, p)| (x.state, p)),
        Some((AreaState::Lazy, Part::Guard))
    );
    let v = m.free_judged(a, Ok(())).unwrap_err();
    assert_eq!(
        v,
        Verdict::WrongFree {
            addr: a,
            expected: Err(FreeErrorKind::NotBusy),
            actual: Ok(())
        }
    );
    assert!(m.free_judged(a, Err(FreeErrorKind::NotBusy)).is_ok());
    m.purge();
    assert_eq!(m.predict_free(a), Err(FreeErrorKind::NotBusy)); // purged: gone
}

#[test]
fn judge_names_what_is_wrong() {
    use AllocErrorKind::*;
    let s = 0x100_0000;
    let last = s + 32 * P - 1;
    let mut m = model(s, last, 100);
    let a = ok(&mut m, 2 * P, true); // [s, s+3P), guard s+2P
    let b = ok(&mut m, P, false); // [s+3P, s+4P)
    let j = |m: &VmapModel, size, align, win, guard, actual| {
        m.judge_alloc(size, align, win, guard, actual)
    };
    assert_eq!(j(&m, P, 1, NONE, true, Ok(s + 4 * P)), Ok(()));
    assert_eq!(
        j(&m, P, 1, NONE, true, Ok(s + 4 * P + 8)),
        Err(Verdict::Misaligned {
            addr: s + 4 * P + 8,
            align: P
        })
    );
    assert_eq!(
        j(&m, P, 8 * P, NONE, true, Ok(s + 4 * P)),
        Err(Verdict::Misaligned {
            addr: s + 4 * P,
            align: 8 * P
        })
    );
    assert_eq!(
        j(&m, P, 1, Some((s + 8 * P, last)), true, Ok(s + 4 * P)),
        Err(Verdict::OutsideWindow {
            addr: s + 4 * P,
            last: s + 6 * P - 1,
            window: (s + 8 * P, last)
        })
    );
    assert_eq!(
        j(&m, P, 1, NONE, true, Ok(last - P + 1)),
        Err(Verdict::OutsideWindow {
            addr: last - P + 1,
            last: last + P,
            window: (s, last)
        })
    );
    // Into a's guard page; into b's pages; only through the new area's own guard page.
    assert_eq!(
        j(&m, P, 1, NONE, false, Ok(s + 2 * P)),
        Err(Verdict::Overlaps {
            addr: s + 2 * P,
            last: s + 3 * P - 1,
            area: m.areas()[0],
            part: Part::Guard,
            own_guard: false
        })
    );
    assert_eq!(
        j(&m, P, 1, NONE, false, Ok(s + 3 * P)),
        Err(Verdict::Overlaps {
            addr: s + 3 * P,
            last: s + 4 * P - 1,
            area: m.areas()[1],
            part: Part::Pages,
            own_guard: false
        })
    );
    let v = j(&m, P, 1, NONE, true, Ok(s + 2 * P)).unwrap_err();
    assert!(
        matches!(
            v,
            Verdict::Overlaps {
                part: Part::Guard,
                ..
            }
        ),
        "{v}"
    );
    m.purge();
    m.free(b);
    let v = j(&m, P, 1, Some((s + 2 * P, last)), true, Ok(s + 2 * P)).unwrap_err();
    assert!(
        matches!(v, Verdict::Overlaps { part: Part::Guard, own_guard: false, area, .. } if area.start == a)
    );
    let mut n = model(s, last, 100);
    let x = ok(&mut n, P, false); // [s, s+P)
    let _y = ok(&mut n, P, false); // [s+P, s+2P)
    n.free(x);
    assert_eq!(n.predict_alloc(P, 1, NONE, true), Ok(s + 2 * P));
    let v = n.judge_alloc(P, 1, NONE, true, Ok(s)).unwrap_err(); // reused a lazy area
    assert!(
        matches!(v, Verdict::Overlaps { area, .. } if area.state == AreaState::Lazy),
        "{v}"
    );
    assert!(v.to_string().contains("Lazy"), "{v}");
    let mut o = model(s, last, 100);
    let _p = ok(&mut o, P, false);
    let q = ok(&mut o, 2 * P, false); // [s+P, s+3P)
    o.free(q);
    o.purge();
    // The pages fit at s+P but not with a guard page next to s+3P... which is free.
    assert_eq!(o.predict_alloc(P, 1, NONE, true), Ok(s + P));
    assert_eq!(
        o.judge_alloc(P, 1, NONE, true, Ok(s + 5 * P)),
        Err(Verdict::NotLowest {
            addr: s + 5 * P,
            lowest: s + P
        })
    );
    let r = ok(&mut o, P, false); // [s+P, s+2P)
    let _t = ok(&mut o, P, false); // [s+2P, s+3P)
    o.free(r);
    o.purge();
    let v = o.judge_alloc(P, 1, NONE, true, Ok(s + P)).unwrap_err(); // its guard hits t
    assert!(
        matches!(
            v,
            Verdict::Overlaps {
                own_guard: true,
                part: Part::Pages,
                ..
            }
        ),
        "{v}"
    );
    // Wrapping, at the top of the 64-bit space.
    let top = model(u64::MAX - 16 * P + 1, u64::MAX, 0);
    assert_eq!(
        top.judge_alloc(2 * P, 1, NONE, true, Ok(u64::MAX - 2 * P + 1)),
        Err(Verdict::Wraps {
            addr: u64::MAX - 2 * P + 1,
            extent: 3 * P
        })
    );
    // Errors.
    assert_eq!(j(&m, 0, 1, NONE, false, Err(ZeroSize)), Ok(()));
    assert_eq!(
        j(&m, 0, 1, NONE, false, Err(BadAlign)),
        Err(Verdict::WrongError {
            expected: ZeroSize,
            actual: BadAlign
        })
    );
    assert_eq!(
        j(&m, 1, 3, NONE, false, Ok(s)),
        Err(Verdict::PlacedDespiteError {
            addr: s,
            expected: BadAlign
        })
    );
    assert_eq!(
        j(&m, P, 1, NONE, false, Err(NoSpace)),
        Err(Verdict::ErrorDespitePlacement {
            actual: NoSpace,
            placement: s + 4 * P
        })
    );
    assert_eq!(j(&m, 64 * P, 1, NONE, false, Err(NoSpace)), Ok(()));
    assert_eq!(
        j(&m, 64 * P, 1, NONE, false, Err(SizeWraps)),
        Err(Verdict::WrongError {
            expected: NoSpace,
            actual: SizeWraps
        })
    );
    let v = j(&m, 64 * P, 1, NONE, false, Ok(s)).unwrap_err();
    assert!(matches!(v, Verdict::OutsideWindow { .. }), "{v}");
    // alloc_judged applies only on agreement.
    let before = m.clone();
    assert!(m.alloc_judged(P, 1, NONE, false, Ok(s + 5 * P)).is_err());
    assert_eq!(m, before);
    let out = m.alloc_judged(P, 1, NONE, false, Ok(s + 4 * P)).unwrap();
    assert_eq!((out.result, out.purge), (Ok(s + 4 * P), None));
    for v in [
        Verdict::NotLowest { addr: 1, lowest: 0 },
        Verdict::Wraps { addr: 1, extent: 2 },
        Verdict::WrongPurge {
            expected: None,
            actual: None,
        },
    ] {
        assert!(!v.to_string().is_empty());
    }
}

/// xorshift64 with a fixed seed.
#[test]
fn fill_equals_one_alloc_after_another() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // (fills that purged, fills that ended in NoSpace): both must happen.
    let mut seen = (0, 0);
    for case in 0..200 {
        let last = match case % 3 {
            0 => 0x100_0000 + 96 * P - 1,
            1 => 0xffff_ffff,
            _ => u64::MAX,
        };
        let start = last - 96 * P + 1;
        let mut m = model(start, last, rng.below(16));
        // A random history: allocations and frees, so lazy areas and holes of every
        // size lie below where the fill starts.
        for _ in 0..rng.below(30) {
            if rng.below(3) == 0 && !m.areas().is_empty() {
                let i = rng.below(m.areas().len() as u64) as usize;
                let addr = m.areas()[i].start;
                let _ = m.free(addr);
            } else {
                let _ = m.alloc(1 + rng.below(3 * P), P << rng.below(2), NONE, true);
            }
        }
        let size = 1 + rng.below(4 * P);
        let align = if rng.below(3) == 0 {
            P << rng.below(3)
        } else {
            1
        };
        let window = (rng.below(4) == 0).then(|| (start + P * rng.below(8), last));
        let guard = rng.below(2) == 0;
        let count = rng.below(40) as usize;
        let mut one_by_one = m.clone();
        let mut expected = FillOutcome::default();
        for i in 0..count {
            let out = one_by_one.alloc(size, align, window, guard);
            if let Some(p) = out.purge {
                expected.purge = Some((i, p));
            }
            match out.result {
                Ok(addr) => expected.placed.push(addr),
                Err(k) => {
                    expected.error = Some(k);
                    break;
                }
            }
        }
        seen.0 += usize::from(expected.purge.is_some());
        seen.1 += usize::from(expected.error == Some(AllocErrorKind::NoSpace));
        assert_eq!(
            m.fill(size, align, window, guard, count),
            expected,
            "case {case}"
        );
        assert_eq!(m, one_by_one, "case {case}");
    }
    assert!(seen.0 > 5 && seen.1 > 5, "{seen:?}");
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The contract's placement rule by trying every page-aligned address of the window, page
/// by page against a map of occupied pages (ignoring lazy areas if `purged`).
fn every_page(
    m: &VmapModel,
    size: u64,
    align: u64,
    win: Option<(u64, u64)>,
    guard: bool,
    purged: bool,
) -> Option<u64> {
    let (ws, wl) = win.unwrap_or((m.start(), m.last()));
    let pages = size.div_ceil(P);
    let extent = pages + u64::from(guard);
    let a = align.max(P);
    let occupied = |page: u64| {
        m.areas().iter().any(|x| {
            (!purged || !x.is_lazy())
                && u128::from(page * P) >= u128::from(x.start)
                && u128::from(page * P) < x.end()
        })
    };
    let first_page = m.start() / P;
    let pages_in_space = ((u128::from(m.last()) + 1 - u128::from(m.start())) / PAGE) as u64;
    (first_page..first_page + pages_in_space)
        .map(|pg| pg * P)
        .find(|&addr| {
            addr.is_multiple_of(a)
                && addr >= ws
                && u128::from(addr) + u128::from(extent * P) - 1 <= u128::from(wl)
                && (addr / P..addr / P + extent).all(|pg| !occupied(pg))
        })
}

/// The purge record from the fields of the lazy areas (and of the one at `also`, if it
/// is about to become lazy), without the model's helpers.
fn purge_by_hand(m: &VmapModel, also: Option<u64>) -> Option<PurgeRecord> {
    let lazy: Vec<&Area> = m
        .areas()
        .iter()
        .filter(|x| x.state == AreaState::Lazy || Some(x.start) == also)
        .collect();
    let last = |x: &Area| x.start + (x.size - 1) + if x.guard { P } else { 0 };
    Some(PurgeRecord {
        start: lazy.first()?.start,
        last: lazy.iter().map(|x| last(x)).max()?,
        areas: lazy.len() as u64,
        pages: lazy.iter().map(|x| x.size / P + u64::from(x.guard)).sum(),
    })
}

#[test]
fn predict_alloc_equals_a_search_of_every_page() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut states = 0;
    // (placed, NoSpace, alloc purges, free purges, max areas): the walk must reach them all.
    let mut seen = (0, 0, 0, 0, 0);
    for case in 0..300 {
        // 64 pages: low, at the top of 32 bits, at the top of 64 bits.
        let last = match case % 3 {
            0 => 0x100_0000 + 64 * P - 1,
            1 => 0xffff_ffff,
            _ => u64::MAX,
        };
        let start = last - 64 * P + 1;
        let mut m = model(start, last, rng.below(12));
        for _ in 0..40 {
            states += 1;
            match rng.below(10) {
                0..=5 => {
                    let max = if rng.below(4) == 0 { 20 * P } else { 4 * P };
                    let size = 1 + rng.below(max);
                    let align = match rng.below(4) {
                        0 => 1 << rng.below(12),
                        1 => P << rng.below(5),
                        2 => 1 << rng.below(64),
                        _ => 1,
                    };
                    let win = if rng.below(3) == 0 {
                        let ws = start + rng.below(64 * P);
                        Some((ws, ws + rng.below(last - ws + 1)))
                    } else {
                        None
                    };
                    let guard = rng.below(2) == 0;
                    let lazy = m.areas().iter().any(Area::is_lazy);
                    let direct = every_page(&m, size, align, win, guard, false);
                    let want = direct.or_else(|| {
                        if lazy {
                            every_page(&m, size, align, win, guard, true)
                        } else {
                            None
                        }
                    });
                    let want_purge = if direct.is_none() && lazy {
                        purge_by_hand(&m, None)
                    } else {
                        None
                    };
                    let want = want.ok_or(AllocErrorKind::NoSpace);
                    assert_eq!(
                        m.predict_alloc(size, align, win, guard),
                        want,
                        "{size:#x} {align:#x} {win:x?} {guard} {:x?}",
                        m.areas()
                    );
                    // Wrong answers are judged wrong, the right one right.
                    let wrong = start + rng.below(64) * P;
                    if Ok(wrong) != want {
                        assert!(m.judge_alloc(size, align, win, guard, Ok(wrong)).is_err());
                    }
                    assert!(m
                        .judge_alloc(size, align, win, guard, Err(AllocErrorKind::BadWindow))
                        .is_err());
                    let before = m.areas().len();
                    let out = m.alloc_judged(size, align, win, guard, want).unwrap();
                    assert_eq!((out.result, out.purge), (want, want_purge));
                    seen.0 += usize::from(want.is_ok());
                    seen.1 += usize::from(want.is_err());
                    seen.2 += usize::from(want_purge.is_some());
                    let purged = want_purge.map_or(0, |p| p.areas as usize);
                    assert_eq!(m.areas().len(), before - purged + usize::from(want.is_ok()));
                }
                6..=8 => {
                    let busy: Vec<u64> = m
                        .areas()
                        .iter()
                        .filter(|x| !x.is_lazy())
                        .map(|x| x.start)
                        .collect();
                    let addr = if busy.is_empty() || rng.below(5) == 0 {
                        start + rng.below(64 * P)
                    } else {
                        busy[rng.below(busy.len() as u64) as usize]
                    };
                    let ok = busy.contains(&addr);
                    let lazy_after = purge_by_hand(&m, Some(addr)).map_or(0, |p| p.pages);
                    let want_purge = if ok && lazy_after > m.lazy_max_pages() {
                        purge_by_hand(&m, Some(addr))
                    } else {
                        None
                    };
                    let out = m.free(addr);
                    assert_eq!(out.result.is_ok(), ok);
                    assert_eq!(out.purge, want_purge);
                    seen.3 += usize::from(want_purge.is_some());
                    assert!(m.lazy_pages() <= m.lazy_max_pages());
                }
                _ => {
                    let want = purge_by_hand(&m, None);
                    assert_eq!(m.purge(), want);
                }
            }
            check_model(&m);
            seen.4 = seen.4.max(m.areas().len());
            // Guard pages are exactly the pages after guarded areas.
            for x in m.areas() {
                if let Some(g) = x.guard_page() {
                    assert!(m.contains_guard(g) && m.contains_guard(g + (P - 1)));
                    assert!(!m.contains_guard(g - 1));
                }
            }
        }
    }
    assert_eq!(states, 12_000);
    assert!(
        seen.0 > 2000 && seen.1 > 500 && seen.2 > 100 && seen.3 > 100 && seen.4 > 10,
        "{seen:?}"
    );
}

#[test]
fn nothing_panics_on_extreme_inputs() {
    let sizes = [
        0,
        1,
        P - 1,
        P,
        P + 1,
        1 << 63,
        u64::MAX - 0x1fff,
        u64::MAX - 0xfff,
        u64::MAX - 1,
        u64::MAX,
    ];
    let aligns = [0, 1, 3, P, 1 << 62, 1 << 63, u64::MAX];
    let spaces = [
        (0, u64::MAX),
        (u64::MAX - 0xfff, u64::MAX),
        (0, 0xfff),
        (0xffff_f000, 0xffff_ffff),
    ];
    for (start, last) in spaces {
        let mut m = model(start, last, 0);
        let windows = [
            None,
            Some((start, last)),
            Some((last, last)),
            Some((u64::MAX, u64::MAX)),
            Some((last - 0xfff, last)),
            Some((0, u64::MAX)),
        ];
        for &size in &sizes {
            for &align in &aligns {
                for &win in &windows {
                    for guard in [false, true] {
                        let want = m.predict_alloc(size, align, win, guard);
                        for actual in [
                            want,
                            Ok(0),
                            Ok(u64::MAX),
                            Ok(last & !0xfff),
                            Err(AllocErrorKind::NoSpace),
                        ] {
                            let _ = m.judge_alloc(size, align, win, guard, actual);
                        }
                        let out = m.alloc(size, align, win, guard);
                        assert_eq!(out.result, want);
                        if let Ok(a) = out.result {
                            let _ = m.free(a);
                        }
                        let _ = m.free(u64::MAX);
                        let _ = m.area_at(u64::MAX);
                        let _ = m.overlaps_any(0, u64::MAX);
                        check_model(&m);
                    }
                }
            }
        }
    }
}
