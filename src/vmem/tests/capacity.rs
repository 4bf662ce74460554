//! The arena's capacity: its tag limit (`ArenaConfig::max_tags`, the `NoTags` refusals, each
//! of which changes nothing) and `Arena::reserve`.

use super::*;

/// An arena with a quantum of 1 and room for `max_tags` tags.
fn limited(max_tags: usize) -> Arena {
    Arena::with_source(
        "limited",
        ArenaConfig::new(1, None).with_max_tags(max_tags),
        NoSource,
    )
    .unwrap()
}

/// Runs `op` on `a`, which must refuse it with `error`, and checks that nothing moved.
pub(super) fn refused<T: core::fmt::Debug, E: core::fmt::Debug + PartialEq>(
    a: &mut Arena,
    error: E,
    op: impl FnOnce(&mut Arena) -> Result<T, E>,
) {
    let before: Vec<SegmentView> = a.segments().collect();
    let stats = a.stats();
    assert_eq!(op(a).unwrap_err(), error);
    assert_eq!(a.segments().collect::<Vec<_>>(), before);
    assert_eq!(a.stats(), stats);
    a.check_invariants().unwrap();
}

#[test]
fn at_its_tag_limit_an_arena_refuses_with_no_tags_and_loses_nothing() {
    // A span and its segment take the two tags of the smallest limit.
    let mut a = limited(MIN_TAGS);
    a.add_span(0, 100).unwrap();
    refused(&mut a, AddSpanError::NoTags, |a| a.add_span(1000, 100));
    // Every allocation may need two new tags (a remainder on each side), so none is made
    // with fewer than two slots left, even one that would take the whole segment.
    for policy in ALL_POLICIES {
        refused(&mut a, AllocError::NoTags, |a| a.alloc(10, policy));
        refused(&mut a, AllocError::NoTags, |a| a.alloc(100, policy));
    }
    refused(&mut a, AllocError::NoTags, |a| a.xalloc_at(0, 10));
    let aligned = Request {
        align: 16,
        ..Request::size(10)
    };
    refused(&mut a, AllocError::NoTags, |a| {
        a.xalloc(&aligned, Policy::InstantFit)
    });
    assert_eq!(a.stats().total, 100);
    assert_eq!(a.stats().free, 100);
}

#[test]
fn slots_freed_below_the_tag_limit_serve_again() {
    // Limit 4: the span, two allocations' worth of segments.
    let mut a = limited(4);
    a.add_span(0, 1000).unwrap();
    let x = a.alloc(100, Policy::FirstFit).unwrap(); // span, x, the rest: 3 tags
    refused(&mut a, AllocError::NoTags, |a| {
        a.alloc(100, Policy::FirstFit)
    });
    // Freeing x merges it back: the slab keeps three slots, one of them unused, and two
    // slots (one unused, one never made) are what the next allocation needs.
    a.free(x, 100).unwrap();
    assert_eq!(a.alloc(100, Policy::FirstFit), Ok(0));
    assert_eq!(a.xalloc_at(500, 100), Err(AllocError::NoTags));
    a.check_invariants().unwrap();
    let s = a.stats();
    assert_eq!(s.in_use + s.free, s.total);
    assert_eq!((s.in_use, s.allocated_segments), (100, 1));
}

#[test]
fn an_import_refused_for_tags_takes_nothing_from_the_source() {
    let mut parent = Arena::new("parent", 1, None).unwrap();
    parent.add_span(0x1000, 0x1000).unwrap();
    // An import needs four tags: the span, the allocated segment and up to two remainders.
    let config = ArenaConfig::new(1, None).with_max_tags(3);
    let mut child = Arena::with_source("child", config, parent).unwrap();
    assert_eq!(child.name(), "child");
    assert_eq!(child.alloc(16, Policy::InstantFit), Err(AllocError::NoTags));
    assert_eq!(child.stats().total, 0);
    assert_eq!(child.stats().imports, 0);
    assert_eq!(child.source().stats().in_use, 0);
    child.check_invariants().unwrap();
}

#[test]
fn reserve_changes_no_result_and_keeps_its_room() {
    // The same stream of operations on an arena with room reserved and one without: the same
    // results; the reserved one's slab does not grow while it fills to the room (one tag an
    // allocation), and its index never grows, nor shrinks below the room when most go.
    let mut plain = Arena::new("plain", 16, None).unwrap();
    let mut roomy = Arena::new("roomy", 16, None).unwrap();
    for a in [&mut plain, &mut roomy] {
        a.add_span(0x1000, 1 << 20).unwrap();
    }
    roomy.reserve(300).unwrap();
    let (slab, buckets) = (roomy.tags.capacity(), roomy.allocated.buckets());
    assert!(slab >= 302 && buckets >= 300, "{slab} {buckets}");
    let mut live = Vec::new();
    let mut x: u64 = 0x9e37_79b9;
    for i in 0..2000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let free = live.len() >= 300 || (i > 1000 && !x.is_multiple_of(3) && !live.is_empty());
        if free {
            let (addr, size) = live.swap_remove((x % live.len() as u64) as usize);
            assert_eq!(plain.free(addr, size), roomy.free(addr, size));
        } else {
            let size = 16 * (1 + x % 40);
            let got = plain.alloc(size, Policy::InstantFit);
            assert_eq!(got, roomy.alloc(size, Policy::InstantFit));
            live.push((got.unwrap(), size));
        }
        assert_eq!(roomy.allocated.buckets(), buckets);
        if i < 300 {
            assert_eq!(roomy.tags.capacity(), slab);
        }
    }
    assert!(live.len() < 300 / index::MIN_LOAD);
    roomy.check_invariants().unwrap();
    assert_eq!(free_segments(&plain), free_segments(&roomy));
}
