//! Unit tests of the arena: every error variant, each policy's contract, the NetBSD userland
//! edge cases at the top of the 32-bit space, import and release.

use super::*;
use crate::addr::{Arch, Range};
use alloc::vec;
use alloc::vec::Vec;
use freelist::{list_of, MAX_LAG};
use tags::{ALLOCATED, LAGS, LIST_HEAD, SPAN_IMPORTED, UNUSED};

/// The tag limit and `reserve`.
mod capacity;
/// The fast paths against the general search.
mod fast_paths;

fn ia32(q: u64) -> Arena {
    Arena::new("t", q, Some(Arch::Ia32)).unwrap()
}

fn free_segments<S: SpanSource>(a: &Arena<S>) -> Vec<(u64, u64)> {
    a.segments()
        .filter_map(|v| match v {
            SegmentView::Free(r) => Some((r.start(), r.last())),
            _ => None,
        })
        .collect()
}

#[test]
fn netbsd_userland_spans_and_top_of_space() {
    let mut a = ia32(1);
    for (b, s) in [
        (0, 50),
        (100, 200),
        (500, 1000),
        (2000, 1),
        (10000, 10000),
        (40000, 65536),
        (0xFFFF_FF00, 0x100),
    ] {
        a.add_span(b, s).unwrap();
    }
    let r = |size, minaddr, maxaddr| Request {
        minaddr,
        maxaddr,
        ..Request::size(size)
    };
    assert_eq!(
        a.xalloc(&r(0x101, 0xFFFF_FF00, 0xFFFF_FFFF), Policy::InstantFit),
        Err(AllocError::NoSpace)
    );
    assert_eq!(
        a.xalloc(&r(0x100, 0xFFFF_FF01, 0xFFFF_FFFE), Policy::InstantFit),
        Err(AllocError::NoSpace)
    );
    assert_eq!(
        a.xalloc(&r(0x100, 0xFFFF_FF00, 0xFFFF_FFFF), Policy::InstantFit),
        Ok(0xFFFF_FF00)
    );
    a.check_invariants().unwrap();
    a.free(0xFFFF_FF00, 0x100).unwrap();
    // Address 0 is an ordinary address.
    assert_eq!(a.xalloc_at(0, 50), Ok(0));
    assert_eq!(a.free(0, 50), Ok(()));
    a.check_invariants().unwrap();
}

#[test]
fn span_at_the_top_of_the_64_bit_space() {
    let mut a = Arena::new("t", 4096, Some(Arch::X86_64)).unwrap();
    a.add_span(u64::MAX - 0xFFFF, 0x10000).unwrap();
    let got = a.alloc(0x10000, Policy::InstantFit).unwrap();
    assert_eq!(got, u64::MAX - 0xFFFF);
    assert_eq!(
        a.alloc(0x1000, Policy::InstantFit),
        Err(AllocError::NoSpace)
    );
    a.free(got, 0x10000).unwrap();
    assert_eq!(free_segments(&a), vec![(u64::MAX - 0xFFFF, u64::MAX)]);
    a.check_invariants().unwrap();
}

#[test]
fn contains_holds_both_ends_of_every_span_and_nothing_else() {
    let mut a = Arena::new("t", 4096, Some(Arch::X86_64)).unwrap();
    assert!(!a.contains(0) && !a.contains(u64::MAX));
    a.add_span(0, 0x2000).unwrap();
    a.add_span(0x2000, 0x1000).unwrap(); // adjacent, a span of its own
    a.add_span(u64::MAX - 0xFFF, 0x1000).unwrap();
    for (addr, inside) in [
        (0, true),
        (0x1FFF, true),
        (0x2000, true),
        (0x2FFF, true),
        (0x3000, false),
        (u64::MAX - 0x1000, false),
        (u64::MAX - 0xFFF, true),
        (u64::MAX, true),
    ] {
        assert_eq!(a.contains(addr), inside, "{addr:#x}");
    }
    // Allocations change nothing: contains is about spans.
    let got = a.alloc(0x1000, Policy::FirstFit).unwrap();
    assert!(a.contains(got));
    let s = a.stats();
    assert_eq!((s.spans, s.allocated_segments, s.free_segments), (3, 1, 3));
    assert_eq!(
        (s.total, s.in_use, s.largest_free),
        (0x4000, 0x1000, 0x1000)
    );
}

#[test]
fn add_span_errors_in_order() {
    let mut a = Arena::new("t", 16, Some(Arch::X86_64)).unwrap();
    assert_eq!(a.add_span(0, 0), Err(AddSpanError::ZeroSize));
    assert_eq!(
        a.add_span(u64::MAX - 15, 32),
        Err(AddSpanError::BadRange(RangeError::Wraps))
    );
    assert_eq!(
        a.add_span(0x7FFF_FFFF_FFF0, 0x20),
        Err(AddSpanError::BadRange(RangeError::NonCanonical))
    );
    assert_eq!(a.add_span(8, 16), Err(AddSpanError::Misaligned));
    assert_eq!(a.add_span(0, 24), Err(AddSpanError::Misaligned));
    a.add_span(0x100, 0x100).unwrap();
    assert_eq!(
        a.add_span(0x1F0, 0x20),
        Err(AddSpanError::Overlaps { existing: 0x100 })
    );
    assert_eq!(
        a.add_span(0xF0, 0x20),
        Err(AddSpanError::Overlaps { existing: 0x100 })
    );
    assert_eq!(
        a.add_span(0, 0x1000),
        Err(AddSpanError::Overlaps { existing: 0x100 })
    );
    // Adjacent is fine; spans are not merged.
    a.add_span(0x200, 0x100).unwrap();
    a.add_span(0xF0, 0x10).unwrap();
    assert_eq!(a.stats().spans, 3);
    let mut b = ia32(1);
    assert_eq!(
        b.add_span(0xFFFF_FF00, 0x101),
        Err(AddSpanError::BadRange(RangeError::PastTop))
    );
    a.check_invariants().unwrap();
}

#[test]
fn alloc_errors_in_order() {
    let mut a = ia32(16);
    a.add_span(0, 0x1000).unwrap();
    let x = |a: &mut Arena, r: Request| a.xalloc(&r, Policy::InstantFit);
    let r = Request::size(16);
    assert_eq!(x(&mut a, Request::size(0)), Err(AllocError::ZeroSize));
    assert_eq!(
        x(&mut a, Request::size(u64::MAX)),
        Err(AllocError::SizeOverflow)
    );
    assert_eq!(
        x(&mut a, Request { align: 24, ..r }),
        Err(AllocError::BadAlign)
    );
    assert_eq!(
        x(&mut a, Request { align: 8, ..r }),
        Err(AllocError::BadAlign)
    );
    assert_eq!(
        x(
            &mut a,
            Request {
                align: 64,
                phase: 8,
                ..r
            }
        ),
        Err(AllocError::BadPhase)
    );
    assert_eq!(
        x(
            &mut a,
            Request {
                align: 64,
                phase: 64,
                ..r
            }
        ),
        Err(AllocError::BadPhase)
    );
    assert_eq!(
        x(&mut a, Request { nocross: 48, ..r }),
        Err(AllocError::BadNocross)
    );
    assert_eq!(
        x(
            &mut a,
            Request {
                minaddr: 2,
                maxaddr: 1,
                ..r
            }
        ),
        Err(AllocError::BadBounds)
    );
    // illumos: align > nocross, or roundup(phase + size, align) > nocross.
    assert_eq!(
        x(
            &mut a,
            Request {
                align: 128,
                nocross: 64,
                ..r
            }
        ),
        Err(AllocError::Overconstrained)
    );
    assert_eq!(
        x(
            &mut a,
            Request {
                size: 64,
                align: 32,
                phase: 16,
                nocross: 64,
                ..r
            }
        ),
        Err(AllocError::Overconstrained)
    );
    assert_eq!(
        x(
            &mut a,
            Request {
                size: 48,
                align: 32,
                phase: 16,
                nocross: 128,
                ..r
            }
        ),
        Ok(16)
    );
    assert_eq!(a.xalloc_at(8, 16), Err(AllocError::Misaligned));
    assert_eq!(a.xalloc_at(u64::MAX - 15, 32), Err(AllocError::Wraps));
    assert_eq!(a.xalloc_at(16, 16), Err(AllocError::NoSpace)); // taken above
    assert_eq!(x(&mut a, Request::size(0x2000)), Err(AllocError::NoSpace));
    a.check_invariants().unwrap();
}

#[test]
fn free_errors() {
    let mut a = ia32(16);
    a.add_span(0x1000, 0x1000).unwrap();
    let p = a.alloc(40, Policy::FirstFit).unwrap();
    assert_eq!(a.free(p, 0), Err(FreeError::ZeroSize));
    assert_eq!(a.free(p + 16, 16), Err(FreeError::BadFree));
    assert_eq!(a.free(p, 64), Err(FreeError::WrongSize { allocated: 48 }));
    assert_eq!(a.free(p, 33), Ok(())); // rounds to the same 48
    assert_eq!(a.free(p, 48), Err(FreeError::BadFree)); // double free
    assert_eq!(a.stats().in_use, 0);
    a.check_invariants().unwrap();
}

#[test]
fn policies_keep_their_contracts() {
    let mut a = ia32(1);
    a.add_span(0, 100).unwrap();
    a.add_span(200, 10).unwrap();
    a.add_span(300, 20).unwrap();
    assert_eq!(a.alloc(10, Policy::BestFit), Ok(200));
    assert_eq!(a.alloc(10, Policy::BestFit), Ok(300));
    assert_eq!(a.alloc(10, Policy::FirstFit), Ok(0));
    // NextFit walks on from the rotor, then wraps around.
    assert_eq!(a.alloc(5, Policy::NextFit), Ok(10));
    assert_eq!(a.alloc(5, Policy::NextFit), Ok(15));
    a.free(0, 10).unwrap();
    assert_eq!(a.alloc(5, Policy::NextFit), Ok(20));
    assert_eq!(a.alloc(80, Policy::NextFit), Err(AllocError::NoSpace));
    assert_eq!(a.alloc(75, Policy::NextFit), Ok(25));
    assert_eq!(a.alloc(10, Policy::NextFit), Ok(310));
    assert_eq!(a.alloc(10, Policy::NextFit), Ok(0)); // wrapped
    a.check_invariants().unwrap();
}

#[test]
fn nocross_and_phase_placements() {
    let mut a = ia32(1);
    a.add_span(0, 1000).unwrap();
    let r = Request {
        align: 16,
        phase: 4,
        nocross: 64,
        ..Request::size(40)
    };
    assert_eq!(a.xalloc(&r, Policy::FirstFit), Ok(4));
    assert_eq!(a.xalloc(&r, Policy::FirstFit), Ok(68));
    let exact = Request {
        nocross: 64,
        ..Request::size(64)
    };
    assert_eq!(a.xalloc(&exact, Policy::FirstFit), Ok(128));
    a.check_invariants().unwrap();
    // A placement whose last byte is the last before a boundary does not cross it.
    let mut b = ia32(1);
    b.add_span(0, 1000).unwrap();
    for want in [0, 64, 128] {
        assert_eq!(b.xalloc(&exact, Policy::FirstFit), Ok(want));
    }
    b.check_invariants().unwrap();
}

#[test]
fn coalescing_restores_one_free_segment() {
    let mut a = ia32(1);
    a.add_span(0, 64).unwrap();
    let p: Vec<u64> = (0..8)
        .map(|_| a.alloc(8, Policy::FirstFit).unwrap())
        .collect();
    for i in [1usize, 3, 5, 7, 0, 2, 6, 4] {
        a.free(p[i], 8).unwrap();
        a.check_invariants().unwrap();
    }
    assert_eq!(free_segments(&a), vec![(0, 63)]);
}

#[test]
fn import_carries_constraints_and_releases_when_free() {
    let mut source = Arena::new("src", 4096, Some(Arch::X86_64)).unwrap();
    source.add_span(0x10_0000, 0x100_0000).unwrap();
    let config = ArenaConfig {
        import_quantum: 0x1_0000,
        ..ArenaConfig::new(4096, Some(Arch::X86_64))
    };
    let mut a = Arena::with_source("a", config, source).unwrap();
    let r = Request {
        minaddr: 0x80_0000,
        maxaddr: 0x80_ffff,
        align: 0x8000,
        ..Request::size(0x3000)
    };
    let p = a.xalloc(&r, Policy::InstantFit).unwrap();
    assert!((0x80_0000..=0x80_ffff - 0x2fff).contains(&p));
    assert_eq!(p % 0x8000, 0);
    assert_eq!(a.stats().imported_spans, 1);
    // 0x3000 rounded up to the import quantum.
    assert_eq!(a.stats().total, 0x1_0000);
    // A window the source cannot serve fails without leaking anything.
    let none = Request {
        minaddr: 0x2000_0000,
        ..Request::size(0x1000)
    };
    assert_eq!(
        a.xalloc(&none, Policy::InstantFit),
        Err(AllocError::NoSpace)
    );
    assert_eq!(a.stats().imported_spans, 1);
    a.free(p, 0x3000).unwrap();
    assert_eq!(a.stats().spans, 0);
    assert_eq!(a.source().stats().in_use, 0);
    assert_eq!(a.stats().releases, 1);
    a.check_invariants().unwrap();
    a.source().check_invariants().unwrap();
}

#[test]
fn create_errors() {
    assert_eq!(
        Arena::new("t", 0, None).unwrap_err(),
        CreateError::BadQuantum
    );
    assert_eq!(
        Arena::new("t", 12, None).unwrap_err(),
        CreateError::BadQuantum
    );
    let src = Arena::new("s", 8192, None).unwrap();
    assert_eq!(
        Arena::with_source("a", ArenaConfig::new(4096, None), src).unwrap_err(),
        CreateError::QuantumMismatch
    );
    let bad_iq = ArenaConfig {
        import_quantum: 2048,
        ..ArenaConfig::new(4096, None)
    };
    assert_eq!(
        Arena::with_source("a", bad_iq, NoSource).unwrap_err(),
        CreateError::BadImportQuantum
    );
    for (limit, ok) in [
        (0, false),
        (MIN_TAGS - 1, false),
        (MIN_TAGS, true),
        (MAX_TAGS, true),
        (MAX_TAGS + 1, false),
    ] {
        let config = ArenaConfig::new(4096, None).with_max_tags(limit);
        let made = Arena::with_source("a", config, NoSource);
        assert_eq!(made.is_ok(), ok, "tag limit {limit}");
        if !ok {
            assert_eq!(made.unwrap_err(), CreateError::BadTagLimit);
        }
    }
}

#[test]
fn instant_fit_takes_a_guaranteed_segment_first() {
    let mut a = ia32(1);
    a.add_span(0, 100).unwrap(); // list 6
    a.add_span(1000, 20).unwrap(); // list 4: sizes 16..31
                                   // 17 bytes: the first list guaranteed to fit is 5 (32..63),
                                   // empty; then 6.
    assert_eq!(a.alloc(17, Policy::InstantFit), Ok(0));
    // 16 bytes: list 4 is guaranteed.
    assert_eq!(a.alloc(16, Policy::InstantFit), Ok(1000));
    a.check_invariants().unwrap();
}

/// The recent segment (the one the latest free made) is taken first while it is free and large
/// enough, and is never trusted once later operations allocated it, merged it away or reused
/// its tag.
#[test]
fn instant_fit_takes_the_recent_segment_and_never_a_stale_one() {
    let mut a = ia32(1);
    a.add_span(0, 1000).unwrap();
    let x: Vec<u64> = (0..6)
        .map(|_| a.alloc(100, Policy::InstantFit).unwrap())
        .collect();
    assert_eq!(x, [0, 100, 200, 300, 400, 500]);
    // [600, 1000) is free on list 8; freeing 200 makes [200, 300) the recent segment (list 6).
    a.free(200, 100).unwrap();
    assert_eq!(a.alloc(40, Policy::InstantFit), Ok(200));
    // The rest [240, 300) keeps the recent tag, and holds 60 bytes exactly.
    assert_eq!(a.alloc(60, Policy::InstantFit), Ok(240));
    // Now wholly allocated: not free, so the lists decide (list 8: [600, 1000)).
    assert_eq!(a.alloc(10, Policy::InstantFit), Ok(600));
    a.check_invariants().unwrap();
    // Too small: freeing 100 makes [100, 200) recent, and 150 bytes go to list 8's [610, 1000).
    a.free(100, 100).unwrap();
    assert_eq!(a.alloc(150, Policy::InstantFit), Ok(610));
    // Freeing 0 merges [0, 100) into [100, 200): the merged segment is the recent one.
    a.free(0, 100).unwrap();
    assert_eq!(a.alloc(200, Policy::InstantFit), Ok(0));
    // Two frees in a row: the second merges into the first, and the merge is recent.
    a.free(300, 100).unwrap();
    a.free(400, 100).unwrap();
    assert_eq!(a.alloc(200, Policy::InstantFit), Ok(300));
    a.check_invariants().unwrap();

    // A recent segment whose imported span went back to the source: its tag is dropped, then
    // reused for an allocated segment, and must not be taken for a free one.
    let mut source = Arena::new("src", 4096, Some(Arch::X86_64)).unwrap();
    source.add_span(0x10_0000, 0x100_0000).unwrap();
    let config = ArenaConfig::new(4096, Some(Arch::X86_64));
    let mut b = Arena::with_source("b", config, source).unwrap();
    let p = b.alloc(0x3000, Policy::InstantFit).unwrap();
    b.free(p, 0x3000).unwrap();
    assert_eq!(b.stats().spans, 0);
    let q = b.alloc(0x2000, Policy::InstantFit).unwrap();
    let r = b.alloc(0x2000, Policy::InstantFit).unwrap();
    assert_ne!(q, r);
    assert_eq!(b.stats().in_use, 0x4000);
    b.check_invariants().unwrap();
}

/// Every way a free can merge (none, left, right, both), with the merged size landing on the
/// kept neighbour's list or another: the arena must stay coalesced and every free list must
/// still hold exactly the segments of its size class (or of the class above, lagging).
#[test]
fn every_merge_shape_keeps_lists_exact() {
    // Segments of 1, 2, 4, ... quanta side by side, so each merge changes size class or not
    // depending on which neighbours are free.
    let sizes = [1u64, 1, 2, 1, 4, 3, 8, 1, 16, 7, 2, 32];
    for (order, sized) in (0..4u32).flat_map(|o| [(o, false), (o, true)]) {
        let mut a = ia32(16);
        a.add_span(0x1000, 0x10_0000).unwrap();
        if sized {
            // A BestFit request builds the size index, which every merge must then keep exact
            // (check_invariants compares it with the free segments).
            let b = a.alloc(16, Policy::BestFit).unwrap();
            a.free(b, 16).unwrap();
        }
        let addrs: Vec<u64> = sizes
            .iter()
            .map(|&s| a.alloc(s * 16, Policy::FirstFit).unwrap())
            .collect();
        // Free odd positions first, then even ones (or the reverse, or outside in), so frees
        // find no, one or two free neighbours.
        let mut idx: Vec<usize> = (0..sizes.len()).collect();
        match order {
            0 => idx.sort_by_key(|&i| (i % 2 == 0, i)),
            1 => idx.sort_by_key(|&i| (i % 2 == 1, core::cmp::Reverse(i))),
            2 => idx.sort_by_key(|&i| i.min(sizes.len() - 1 - i)),
            _ => idx.reverse(),
        }
        for i in idx {
            a.free(addrs[i], sizes[i] * 16).unwrap();
            a.check_invariants()
                .unwrap_or_else(|e| panic!("order {order} sized {sized} after freeing #{i}: {e}"));
        }
        assert_eq!(free_segments(&a), vec![(0x1000, 0x10_0FFF)]);
    }
}

/// A merge that grows a free segment by up to `MAX_LAG` classes leaves it where it is, lagging
/// that many lists below its class; a carve back towards its list's class lowers the lag in
/// place; a growth past the lag moves it to the head of its class's list; and instant fit
/// still finds a lagging segment when it is the only fit (its scan starts `MAX_LAG` lists
/// lower).
#[test]
fn lagging_segments_stay_put_and_are_still_found() {
    assert_eq!(MAX_LAG, 7);
    let mut a = ia32(1);
    a.add_span(0, 256).unwrap();
    a.add_span(1000, 4).unwrap();
    let ff = |a: &mut Arena, s| a.alloc(s, Policy::FirstFit).unwrap();
    let (x, y, z, w) = (
        ff(&mut a, 1),
        ff(&mut a, 127),
        ff(&mut a, 128),
        ff(&mut a, 4),
    );
    assert_eq!((x, y, z, w), (0, 1, 128, 1000));
    let on = |a: &Arena, t: Tag| {
        (
            a.tag(t).start,
            a.tag(t).last,
            a.tag(t).list(),
            a.tag(t).lag(),
        )
    };
    a.free(x, 1).unwrap(); // [0, 1): class 0, on list 0
    let t = a.lists[0];
    assert_eq!(on(&a, t), (0, 0, 0, 0));
    a.free(y, 127).unwrap(); // merged [0, 128): class 7, still on list 0, lagging by 7
    assert_eq!((a.lists[0], a.lists[7]), (t, NIL));
    assert_eq!(on(&a, t), (0, 127, 0, 7));
    a.check_invariants().unwrap();
    // A carve down to class 2 ([124, 128) stays in t): the lag drops to 2, t stays put.
    assert_eq!(a.alloc(124, Policy::FirstFit), Ok(0));
    assert_eq!(a.lists[0], t);
    assert_eq!(on(&a, t), (124, 127, 0, 2));
    a.check_invariants().unwrap();
    // Grown again to class 7: lagging by 7 again, in place.
    a.free(0, 124).unwrap();
    assert_eq!(a.lists[0], t);
    assert_eq!(on(&a, t), (0, 127, 0, 7));
    // The only fit for 100 bytes lags on list 0, below the guaranteed list 7 and below
    // floor(log2 100) = 6; the recent segment (freed last: [1000, 1004)) is too small.
    a.free(w, 4).unwrap();
    assert_eq!(a.alloc(100, Policy::InstantFit), Ok(0));
    assert_eq!(on(&a, t), (100, 127, 0, 4));
    a.check_invariants().unwrap();
    // Freeing [0, 100) grows t back to class 7 in place; then [128, 256) joins: class 8, eight
    // classes above list 0, past the lag, so it moves to the head of list 8, not lagging.
    a.free(0, 100).unwrap();
    assert_eq!(on(&a, t), (0, 127, 0, 7));
    a.free(z, 128).unwrap();
    let m = a.lists[8];
    assert_eq!(on(&a, m), (0, 255, 8, 0));
    assert_eq!((a.lists[0], a.tag(a.lists[2]).start), (NIL, 1000));
    a.check_invariants().unwrap();
}

/// BestFit through the size index: the smallest segment that holds a placement wins, ties go
/// to the lowest address, and a smaller segment that fails a constraint is passed over.
#[test]
fn best_fit_takes_the_smallest_then_lowest_placement() {
    let mut a = ia32(1);
    a.add_span(0, 0x1000).unwrap();
    // Carve holes of 8 @ 0x100, 4 @ 0x200, 4 @ 0x300 and 6 @ 0x410 (everything else taken).
    let holes = [(0x100u64, 8u64), (0x200, 4), (0x300, 4), (0x410, 6)];
    let mut cursor = 0;
    for &(at, len) in &holes {
        a.xalloc_at(cursor, at - cursor).unwrap();
        cursor = at + len;
    }
    a.xalloc_at(cursor, 0x1000 - cursor).unwrap();
    assert_eq!(a.alloc(3, Policy::BestFit), Ok(0x200)); // two 4s: the lower one
    assert_eq!(a.alloc(4, Policy::BestFit), Ok(0x300));
    // Left: 1 @ 0x203, 8 @ 0x100, 6 @ 0x410. The 6 holds no 0x80-aligned placement.
    let aligned = Request {
        align: 0x80,
        ..Request::size(2)
    };
    assert_eq!(a.xalloc(&aligned, Policy::BestFit), Ok(0x100));
    // Now 6 @ 0x102 ties 6 @ 0x410: the lower one; then only 0x410 holds 2.
    assert_eq!(a.alloc(5, Policy::BestFit), Ok(0x102));
    assert_eq!(a.alloc(2, Policy::BestFit), Ok(0x410));
    a.check_invariants().unwrap();
}

/// The tag of the span (`span`) or segment starting at `start`.
fn tag_at(a: &Arena, start: u64, span: bool) -> Tag {
    let found = a.tags.iter().position(|t| {
        let is_span = matches!(t.kind(), Kind::Span { .. });
        t.start == start && is_span == span && t.kind() != Kind::Unused
    });
    found.expect("no such tag") as Tag
}

/// Every invariant `check_invariants` claims to check can fail: each corruption of a healthy
/// arena below must be reported, as the invariant it breaks (a checker never seen failing
/// may check nothing).
#[test]
fn every_invariant_can_fail() {
    // Span A [0x1000, 0x1fff]: x (allocated), y (free), z, w, v (allocated), the free rest.
    // Span B [0x4000, 0x4fff]: one free segment. With the size index built.
    let mut healthy = ia32(0x10);
    healthy.add_span(0x1000, 0x1000).unwrap();
    healthy.add_span(0x4000, 0x1000).unwrap();
    let got = [0; 5].map(|_| healthy.alloc(0x100, Policy::FirstFit).unwrap());
    assert_eq!(got, [0x1000, 0x1100, 0x1200, 0x1300, 0x1400]);
    let y = got[1];
    healthy.free(y, 0x100).unwrap();
    healthy.ensure_size_index();
    healthy.check_invariants().unwrap();

    type Corrupt = fn(&mut Arena);
    let cases: [(&str, Corrupt); 26] = [
        ("address list is acyclic", |a| {
            let last = a.tail;
            a.tags[last as usize].next = a.head;
        }),
        ("address list links agree", |a| {
            let t = tag_at(a, 0x1100, false);
            a.tags[t as usize].prev = t;
        }),
        ("tags are non-empty", |a| {
            let t = tag_at(a, 0x1100, false);
            a.tags[t as usize].last = 0x10f0;
        }),
        ("everything is a multiple of the quantum", |a| {
            let t = tag_at(a, 0x1100, false);
            a.tags[t as usize].last -= 1;
        }),
        ("segments tile their span", |a| {
            // A span whose last segment stops short of the span's end (the size index
            // follows, so that only the tiling is wrong).
            let t = tag_at(a, 0x1500, false);
            a.tags[t as usize].last -= 0x10;
            let ix = a.by_size.as_mut().unwrap();
            ix.remove(&(0xb00, 0x1500));
            ix.insert((0xaf0, 0x1500), t);
        }),
        ("spans sorted", |a| {
            let b = tag_at(a, 0x4000, true);
            a.tags[b as usize].start = 0x800;
        }),
        ("spans do not overlap", |a| {
            let b = tag_at(a, 0x4000, true);
            a.tags[b as usize].start = 0x1ff0;
        }),
        ("span index agrees", |a| {
            a.spans.remove(&0x4000);
        }),
        ("span index agrees", |a| {
            a.spans.insert(0x8000, 0);
        }),
        ("no imported span is wholly free", |a| {
            let b = tag_at(a, 0x4000, true);
            a.tags[b as usize].list_prev = SPAN_IMPORTED;
        }),
        ("segments tile their span", |a| {
            // The list starts with a segment, not its span.
            let s = tag_at(a, 0x1000, true);
            let x = a.tags[s as usize].next;
            a.head = x;
            a.tags[x as usize].prev = NIL;
        }),
        ("segments tile their span", |a| {
            let t = tag_at(a, 0x1100, false);
            a.tags[t as usize].start += 0x10;
        }),
        ("segments tile their span", |a| {
            let t = tag_at(a, 0x4000, false);
            a.tags[t as usize].last += 0x10;
        }),
        ("free segments coalesced", |a| {
            let z = tag_at(a, 0x1200, false);
            a.tags[z as usize].list_prev = LIST_HEAD;
        }),
        ("size index holds exactly the free segments", |a| {
            a.by_size.as_mut().unwrap().remove(&(0x100, 0x1100));
        }),
        ("size index holds exactly the free segments", |a| {
            a.by_size.as_mut().unwrap().insert((0x10, 0x9000), 0);
        }),
        ("allocated index agrees", |a| {
            // A free segment posing as allocated: not in the allocated index.
            let t = tag_at(a, 0x4000, false);
            a.tags[t as usize].list_prev = ALLOCATED;
        }),
        ("allocated index agrees", |a| {
            // An allocated segment (w, between two allocated ones) posing as free: still
            // chained in the allocated index.
            let w = tag_at(a, 0x1300, false);
            a.tags[w as usize].list_prev = LIST_HEAD;
            a.by_size.as_mut().unwrap().insert((0x100, 0x1300), w);
        }),
        ("no unused tag is linked", |a| {
            let t = tag_at(a, 0x1100, false);
            a.tags[t as usize].list_prev = UNUSED;
        }),
        ("tail agrees", |a| {
            a.tail = a.head;
        }),
        ("freemap bit n set iff list n non-empty", |a| {
            a.freemap ^= 1;
        }),
        ("free lists hold exactly the free segments", |a| {
            // y, alone on its list, taken off it.
            let l = list_of(0x100);
            assert_eq!(a.lists[l], tag_at(a, 0x1100, false));
            a.lists[l] = NIL;
            a.freemap &= !(1 << l);
        }),
        ("free lists hold exactly the free segments", |a| {
            // Span B cut out of the address list and the indexes, but its free segment
            // still on its list: more listed than there are free segments.
            let rest = tag_at(a, 0x1500, false);
            a.tags[rest as usize].next = NIL;
            a.tail = rest;
            a.spans.remove(&0x4000);
            a.by_size.as_mut().unwrap().remove(&(0x1000, 0x4000));
            a.total -= 0x1000;
        }),
        (
            "free segment on list n iff its class less its lag is n",
            |a| {
                let y = tag_at(a, 0x1100, false);
                a.tags[y as usize].list_next |= LAGS;
            },
        ),
        ("free + allocated = spans", |a| {
            a.in_use += 0x10;
        }),
        ("every release matches an import", |a| {
            a.failed_releases = 1;
        }),
    ];
    for (i, (invariant, corrupt)) in cases.into_iter().enumerate() {
        let mut a = healthy.clone();
        corrupt(&mut a);
        match a.check_invariants() {
            Err(e) => assert_eq!(e.invariant, invariant, "case {i}: {e}"),
            Ok(()) => panic!("case {i}: {invariant} not reported"),
        }
    }
}

/// Exact allocation names a range past the top of the space or in the x86_64 hole with its
/// own error, as `add_span` does, before looking for free space.
#[test]
fn exact_allocation_range_errors() {
    let mut a = Arena::new("ia32", 1, Some(Arch::Ia32)).unwrap();
    a.add_span(0xFFFF_FF00, 0x100).unwrap();
    assert_eq!(a.xalloc_at(0xFFFF_FFFF, 2), Err(AllocError::PastTop));
    assert_eq!(a.xalloc_at(0xFFFF_FFFF, 1), Ok(0xFFFF_FFFF));
    let mut b = Arena::new("x86_64", 0x1000, Some(Arch::X86_64)).unwrap();
    b.add_span(0x7FFF_FFFF_0000, 0x1_0000).unwrap();
    assert_eq!(
        b.xalloc_at(0x7FFF_FFFF_F000, 0x2000),
        Err(AllocError::NonCanonical)
    );
    assert_eq!(
        b.xalloc_at(0x8000_0000_0000, 0x1000),
        Err(AllocError::NonCanonical)
    );
    assert_eq!(b.xalloc_at(0x7FFF_FFFF_F000, 0x1000), Ok(0x7FFF_FFFF_F000));
    // Without an address-space model, only the 64-bit wrap is a range error.
    let mut c = Arena::new("none", 1, None).unwrap();
    assert_eq!(c.xalloc_at(0xFFFF_FFFF, 2), Err(AllocError::NoSpace));
    a.check_invariants().unwrap();
    b.check_invariants().unwrap();
}

/// A source that hands out whatever it is told to, and records what comes back.
struct Scripted {
    quantum: u64,
    /// What the next imports return, in order (then nothing).
    script: Vec<Range>,
    handed: Vec<Range>,
    released: Vec<Range>,
}

impl SpanSource for Scripted {
    fn quantum(&self) -> u64 {
        self.quantum
    }
    fn import(&mut self, _req: &ImportRequest) -> Option<Range> {
        if self.script.is_empty() {
            return None;
        }
        let r = self.script.remove(0);
        self.handed.push(r);
        Some(r)
    }
    fn release(&mut self, span: Range) {
        self.released.push(span);
    }
}

/// A span misaligned for the arena's quantum goes straight back even when a placement for
/// the request lies inside it (a page-aligned page of a span starting mid-page).
#[test]
fn a_misaligned_span_goes_back_even_if_it_could_serve() {
    let r = |start, size| Range::new(start, size).unwrap();
    let lie = r(0x10_0800, 0x3000);
    let source = Scripted {
        quantum: 0x800,
        script: vec![lie, r(0x20_0000, 0x1000)],
        handed: Vec::new(),
        released: Vec::new(),
    };
    let mut a = Arena::with_source("a", ArenaConfig::new(0x1000, None), source).unwrap();
    assert_eq!(
        a.alloc(0x1000, Policy::InstantFit),
        Err(AllocError::NoSpace)
    );
    assert_eq!(a.source().released, vec![lie]);
    a.check_invariants().unwrap();
    assert_eq!(a.alloc(0x1000, Policy::InstantFit), Ok(0x20_0000));
    a.check_invariants().unwrap();
}

/// A source that ignores the request (too short, misaligned for the arena's quantum, past the
/// top of the space, over a span the arena has, outside the bounds, off the alignment) gets
/// every such span back at once, exactly as handed out, and the request fails cleanly; an
/// honest span after that serves it.
#[test]
fn a_broken_source_gets_every_bad_span_back() {
    let r = |start, size| Range::new(start, size).unwrap();
    let lies = [
        r(0x10_0000, 0x2000),   // too short
        r(0x10_0800, 0x3000),   // not a multiple of the arena's quantum
        r(0xFFFF_F000, 0x3000), // past the top of the 32-bit space
        r(0x0, 0x4000),         // over the arena's static span
        r(0x50_0000, 0x3000),   // above maxaddr: no placement inside
        r(0x10_1000, 0x3000),   // inside the bounds, but not 0x4000-aligned
    ];
    for lie in lies {
        let source = Scripted {
            quantum: 0x800,
            script: vec![lie, r(0x10_4000, 0x3000)],
            handed: Vec::new(),
            released: Vec::new(),
        };
        let mut a =
            Arena::with_source("a", ArenaConfig::new(0x1000, Some(Arch::Ia32)), source).unwrap();
        a.add_span(0x0, 0x1000).unwrap();
        let req = Request {
            align: 0x4000,
            minaddr: 0x10_0000,
            maxaddr: 0x1f_ffff,
            ..Request::size(0x3000)
        };
        // The import quantum is the quantum, so one size is asked for: the lie is rejected and
        // handed back, and nothing is kept.
        assert_eq!(
            a.xalloc(&req, Policy::InstantFit),
            Err(AllocError::NoSpace),
            "{lie:?}"
        );
        assert_eq!(a.source().handed, vec![lie]);
        assert_eq!(a.source().released, vec![lie], "{lie:?}");
        assert_eq!(a.stats().imported_spans, 0);
        a.check_invariants().unwrap();
        // The next import is honest.
        assert_eq!(a.xalloc(&req, Policy::InstantFit), Ok(0x10_4000), "{lie:?}");
        assert_eq!(a.stats().imported_spans, 1);
        assert_eq!(a.source().released, vec![lie]);
        a.free(0x10_4000, 0x3000).unwrap();
        assert_eq!(a.source().released, vec![lie, r(0x10_4000, 0x3000)]);
        a.check_invariants().unwrap();
    }
}

#[test]
fn an_arena_debug_prints_its_name_quantum_and_stats() {
    let mut a = Arena::new("heap", 16, None).unwrap();
    a.add_span(0x1000, 0x100).unwrap();
    let text = alloc::format!("{a:?}");
    for part in [
        "Arena",
        "name: \"heap\"",
        "quantum: 16",
        "total: 256",
        "free: 256",
    ] {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }
}
