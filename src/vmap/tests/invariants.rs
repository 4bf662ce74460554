//! Each invariant check of the space fails alone: the area shapes and the free-area cache.

use super::*;

/// Each part of the area-shape check fails alone: an area moved off a page boundary, one of
/// no pages, one whose pages are not whole pages, one whose extent forgets its guard page, one
/// whose recorded last byte is not its start plus its extent.
#[test]
fn every_area_shape_check_fails_alone() {
    let mut s = space(
        cfg(0x10_0000, 0x10_0000 + 64 * P - 1, u64::MAX),
        Strategy::Walk,
    );
    let a = s.alloc(&req(2 * P, P, None, true)).unwrap();
    s.check_invariants().unwrap();
    let area = s.areas[&a];
    let moved = |s: &mut VmapSpace, start: u64, area: Area| {
        s.areas.remove(&a);
        s.areas.insert(start, area);
    };
    type Edit = fn(u64, Area) -> (u64, Area);
    let edits: [(&str, Edit); 5] = [
        ("start off a page", |a, r| {
            (
                a + 8,
                Area {
                    last: r.last + 8,
                    ..r
                },
            )
        }),
        ("no pages", |a, r| {
            (
                a,
                Area {
                    pages: 0,
                    extent: P,
                    last: a + P - 1,
                    ..r
                },
            )
        }),
        ("pages not whole", |a, r| {
            (
                a,
                Area {
                    pages: r.pages - 8,
                    extent: r.extent - 8,
                    last: r.last - 8,
                    ..r
                },
            )
        }),
        ("extent without the guard page", |a, r| {
            (
                a,
                Area {
                    extent: r.pages,
                    last: a + r.pages - 1,
                    ..r
                },
            )
        }),
        ("last byte wrong", |a, r| {
            (
                a,
                Area {
                    last: r.last + P,
                    ..r
                },
            )
        }),
    ];
    for (what, edit) in edits {
        let mut bad = s.clone();
        let (start, wrong) = edit(a, area);
        moved(&mut bad, start, wrong);
        assert_eq!(
            bad.check_invariants(),
            Err(InvariantError::AreaMalformed { start }),
            "{what}"
        );
    }
}

/// Each of the free-area cache's checks fails alone: an alignment that is not a power of two,
/// a window start outside the space, a cached area that does not exist, and a hole below the
/// cached area larger than the cache says.
#[test]
fn every_cache_check_fails_alone() {
    let start = 0x10_0000;
    let mut s = space(cfg(start, start + 64 * P - 1, u64::MAX), Strategy::Cache);
    let a = s.alloc(&req(2 * P, P, None, true)).unwrap();
    let b = s
        .alloc(&req(
            2 * P,
            P,
            Some((start + 10 * P, start + 64 * P - 1)),
            true,
        ))
        .unwrap();
    assert_eq!((a, b), (start, start + 10 * P));
    s.check_invariants().unwrap();
    let Engine::Cache(healthy) = s.engine.clone() else {
        panic!("a cache space has a cache")
    };
    assert_eq!(s.check_cache(&healthy), Ok(()));
    let params = |st: CacheState| InvariantError::CacheParamsInvalid {
        vstart: st.vstart,
        align: st.align,
    };
    type Edit = fn(&mut CacheState);
    let cases: [Edit; 4] = [
        |st| st.align = 3 * P,
        |st| st.vstart = 0x10_0000 - P,
        |st| st.area = Some(0x10_0000 + 40 * P),
        |st| {
            // From the window start: a's extent (with its guard page) ends at 3 pages, b
            // starts at 10.
            (st.vstart, st.area, st.hole) = (0x10_0000, Some(0x10_0000 + 10 * P), 0);
        },
    ];
    let want = |i: usize, st: CacheState| match i {
        0 | 1 => params(st),
        2 => InvariantError::CacheAreaMissing {
            start: start + 40 * P,
        },
        _ => InvariantError::CacheHoleUnderestimated {
            hole_start: start + 3 * P,
            hole: 7 * P,
            cached_hole_size: 0,
        },
    };
    for (i, edit) in cases.into_iter().enumerate() {
        let mut bad = healthy;
        edit(&mut bad);
        assert_eq!(s.check_cache(&bad), Err(want(i, bad)), "case {i}");
    }
}
