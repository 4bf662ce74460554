//! The fast paths of `alloc` and `xalloc` against the general search: the aligned instant-fit
//! path, a merge's parked tag, and best fit's unconstrained path.

use super::*;

#[test]
fn the_aligned_fast_path_refuses_what_the_general_path_refuses() {
    // After a free the arena has a recent segment, so an instant-fit request with an
    // alignment above the quantum reaches the aligned fast path; a zero size or an alignment
    // that is not a power of two must still get its error, and change nothing.
    let mut a = ia32(16);
    a.add_span(0, 0x1000).unwrap();
    assert_eq!(a.alloc(16, Policy::InstantFit), Ok(0));
    assert_eq!(a.alloc(16, Policy::InstantFit), Ok(16));
    a.free(0, 16).unwrap();
    for (req, err) in [
        (
            Request {
                align: 64,
                ..Request::size(0)
            },
            AllocError::ZeroSize,
        ),
        (
            Request {
                align: 24,
                ..Request::size(16)
            },
            AllocError::BadAlign,
        ),
        (
            Request {
                align: 96,
                ..Request::size(16)
            },
            AllocError::BadAlign,
        ),
    ] {
        super::capacity::refused(&mut a, err, |a| a.xalloc(&req, Policy::InstantFit));
    }
    let ok = Request {
        align: 64,
        ..Request::size(16)
    };
    assert_eq!(a.xalloc(&ok, Policy::InstantFit), Ok(0));
    a.check_invariants().unwrap();
}

#[test]
fn a_merge_parks_the_absorbed_tag_until_an_inside_placement_reuses_it_or_anything_settles_it() {
    let mut a = Arena::new("t", 1, None).unwrap();
    a.add_span(1, 1023).unwrap();
    let merge_both = |a: &mut Arena| {
        assert_eq!(a.xalloc_at(100, 10), Ok(100));
        assert_eq!(a.free(100, 10), Ok(()));
        assert_eq!(free_segments(a), vec![(1, 1023)]);
        assert_ne!(a.parked, NIL);
        a.check_invariants().unwrap();
        a.parked
    };
    // An aligned request placed inside the merged (recent) segment: its free right rest
    // takes the parked tag.
    let parked = merge_both(&mut a);
    let req = Request {
        align: 4,
        ..Request::size(10)
    };
    assert_eq!(a.xalloc(&req, Policy::InstantFit), Ok(4));
    assert_eq!(a.parked, NIL);
    assert_eq!(free_segments(&a), vec![(1, 3), (14, 1023)]);
    assert_eq!(a.tag(parked).start, 14);
    a.check_invariants().unwrap();
    a.free(4, 10).unwrap();
    // Anything else settles it first: here a plain allocation.
    // (with nothing parked, the invariants want the lists to hold exactly the free segments).
    merge_both(&mut a);
    assert_eq!(a.alloc(1000, Policy::InstantFit), Ok(1));
    assert_eq!(a.parked, NIL);
    a.check_invariants().unwrap();
    a.free(1, 1000).unwrap();
    // The invariants see a parked tag that is not on a list, and a listed one not parked.
    merge_both(&mut a);
    let mut lost = a.clone();
    lost.parked = NIL;
    assert!(lost.check_invariants().is_err());
    let mut wrong = a.clone();
    wrong.parked = wrong.head;
    assert!(wrong.check_invariants().is_err());
    let mut past = a.clone();
    past.parked = past.tags.len() as Tag;
    assert!(past.check_invariants().is_err());
}

#[test]
fn best_fit_fast_path_agrees_with_the_general_search() {
    // `alloc` takes BestFit's fast path once the size index exists; `xalloc` with the same
    // plain request always searches. Two arenas fed the same stream end up the same.
    let mut fast = Arena::new("fast", 16, None).unwrap();
    let mut general = Arena::new("general", 16, None).unwrap();
    for a in [&mut fast, &mut general] {
        a.add_span(0x1000, 1 << 16).unwrap();
        a.add_span(0x10_0000, 1 << 12).unwrap();
    }
    let mut live = Vec::new();
    let mut x: u64 = 0x2545_f491;
    for _ in 0..3000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x % 5 < 2 && !live.is_empty() {
            let (addr, size) = live.swap_remove((x % live.len() as u64) as usize);
            assert_eq!(fast.free(addr, size), general.free(addr, size));
        } else {
            let size = 1 + x % 700;
            let got = fast.alloc(size, Policy::BestFit);
            assert_eq!(got, general.xalloc(&Request::size(size), Policy::BestFit));
            if let Ok(addr) = got {
                live.push((addr, size));
            }
        }
    }
    fast.check_invariants().unwrap();
    assert_eq!(free_segments(&fast), free_segments(&general));
    assert!(live.len() > 50, "{}", live.len());
}
