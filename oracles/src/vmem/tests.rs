//! Unit tests of the vmem oracle.

use super::*;

const IA32: Space = Space {
    top: 0xFFFF_FFFF,
    canonical_bits: None,
};

/// No level imported anything.
const NONE: &[&[(u64, u64)]] = &[];

fn req(size: u64) -> Request {
    Request {
        size,
        align: 0,
        phase: 0,
        nocross: 0,
        minaddr: 0,
        maxaddr: u64::MAX,
    }
}

/// The placement search skips candidates by reasoning about why each was rejected; on a
/// 256-address space it must agree with trying every address against the contract
/// ([`ArenaModel::violation`]), for FirstFit, NextFit (any rotor) and BestFit, on random
/// spans, allocations and constraints.
#[test]
fn placement_search_matches_an_exhaustive_scan() {
    const SPACE: u64 = 256;
    let mut state = 0x6b76_6166_757a_7a01u64;
    let mut rnd = move |n: u64| {
        // splitmix64
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    };
    let mut checked = 0;
    for _ in 0..20_000 {
        let mut m = ArenaModel::new(
            1,
            Space {
                top: SPACE - 1,
                canonical_bits: None,
            },
        );
        // Spans, some adjacent (never joined), with gaps.
        let mut at = rnd(8);
        loop {
            let len = 1 + rnd(64);
            if at + len > SPACE {
                break;
            }
            if rnd(4) != 0 {
                m.add_span(at, len);
            }
            at += len + rnd(3) * rnd(8);
        }
        // Allocations inside the spans, some back to back.
        for sp in m.spans.clone() {
            let mut x = sp.start;
            while x < sp.end {
                if rnd(2) == 0 {
                    let len = (1 + u128::from(rnd(8))).min(sp.end - x);
                    m.live.push((x, x + len));
                    x += len;
                } else {
                    x += 1 + u128::from(rnd(6));
                }
            }
        }
        m.live.sort_unstable();
        let align = [0, 1, 2, 4, 8, 16, 32][rnd(7) as usize];
        let req = Request {
            size: 1 + rnd(24),
            align,
            phase: rnd(align.max(1)),
            nocross: [0, 0, 4, 8, 16, 32, 64][rnd(7) as usize],
            minaddr: if rnd(2) == 0 { 0 } else { rnd(SPACE) },
            maxaddr: if rnd(2) == 0 {
                u64::MAX
            } else {
                rnd(SPACE + 8)
            },
        };
        let Ok(n) = m.normalize(&req) else {
            continue;
        };
        m.rotor = u128::from(rnd(SPACE + 8));
        let scan = |from: u128, to: u128| (from..to).find(|&a| m.violation(a, &n).is_none());
        let lowest = scan(0, u128::from(SPACE));
        assert_eq!(m.promised(&n, Policy::FirstFit), lowest, "{req:?}\n{m:?}");
        let next = scan(m.rotor, u128::from(SPACE)).or(lowest);
        assert_eq!(m.promised(&n, Policy::NextFit), next, "{req:?}\n{m:?}");
        // BestFit: the lowest placement inside the smallest free run that holds one.
        let mut best: Option<(u128, u128, u128)> = None;
        for sp in &m.spans {
            let free = |a: u128| !m.live.iter().any(|&(s, e)| s <= a && a < e);
            let mut a = sp.start;
            while a < sp.end {
                if !free(a) {
                    a += 1;
                    continue;
                }
                let start = a;
                while a < sp.end && free(a) {
                    a += 1;
                }
                let fits = (start..a).find(|&p| p + n.size <= a && m.violation(p, &n).is_none());
                if let Some(p) = fits {
                    if best.is_none_or(|(bs, bst, _)| (a - start, start) < (bs, bst)) {
                        best = Some((a - start, start, p));
                    }
                }
            }
        }
        assert_eq!(
            m.promised(&n, Policy::BestFit),
            best.map(|b| b.2),
            "{req:?}\n{m:?}"
        );
        checked += 1;
    }
    assert!(checked > 10_000, "only {checked} requests were valid");
}

/// An import is `roundup(size, import quantum)` when the source has room for that much,
/// else exactly the size; one span per request.
#[test]
fn import_size_is_rounded_when_the_source_has_room() {
    // A model whose source has one span of `room` bytes, judging an instant-fit request
    // of 0x10 bytes (import quantum 0x100) served at 0x1000 with `spans` imported.
    let judge = |room: u64, spans: &[(u64, u64)]| {
        let mut src = ArenaModel::new(1, IA32);
        src.add_span(0x1000, room);
        let mut m = ChainModel::new(vec![ArenaModel::importing(1, 0x100, IA32), src]);
        m.judge_alloc_with(
            0,
            &req(0x10),
            Policy::InstantFit,
            &[spans],
            Ok(0x1000),
            true,
        )
    };
    let bad = |r: Result<(), Mismatch>| matches!(r, Err(Mismatch::BadImport { .. }));
    // Room for 0x100: the span must be 0x100, not the 0x10 asked, and never larger.
    assert!(bad(judge(0x1000, &[(0x1000, 0x100f)])));
    assert_eq!(judge(0x1000, &[(0x1000, 0x10ff)]), Ok(()));
    assert!(bad(judge(0x1000, &[(0x1000, 0x11ff)])));
    // Room for 0x80 only: exactly the size.
    assert!(bad(judge(0x80, &[(0x1000, 0x107f)])));
    assert_eq!(judge(0x80, &[(0x1000, 0x100f)]), Ok(()));
    // Two spans for one request.
    assert!(bad(judge(0x1000, &[(0x1000, 0x10ff), (0x1100, 0x11ff)])));
}

/// A chain of three quantum-1 levels: the arena rounds imports up to 0x100, the middle
/// level to 0x1000, and the deepest holds one span of `room` bytes at 0x10_0000.
fn three_levels(room: u64) -> ChainModel {
    let mut deepest = ArenaModel::new(1, IA32);
    deepest.add_span(0x10_0000, room);
    ChainModel::new(vec![
        ArenaModel::importing(1, 0x100, IA32),
        ArenaModel::importing(1, 0x1000, IA32),
        deepest,
    ])
}

/// The verdict on 0x10 bytes (instant fit) at the arena of `m`, served at 0x10_0000 with
/// `imported` (per level), or refused if `served` is false.
fn serve<I: AsRef<[(u64, u64)]>>(
    m: &mut ChainModel,
    imported: &[I],
    served: bool,
) -> Result<(), Mismatch> {
    let actual = if served {
        Ok(0x10_0000)
    } else {
        Err(AllocErrorKind::NoSpace)
    };
    m.judge_alloc_with(0, &req(0x10), Policy::InstantFit, imported, actual, true)
}

/// Whether `r` is a bad import saying `what`.
fn bad_import(r: &Result<(), Mismatch>, what: &str) -> bool {
    matches!(r, Err(Mismatch::BadImport { why }) if why.contains(what))
}

/// The arena imports from the middle level, which imports from the deepest: each span
/// rounded to its own level's import quantum; freeing the allocation releases both spans,
/// one level after the other.
#[test]
fn an_import_cascades_through_three_levels_and_releases_back() {
    let arena_span: &[(u64, u64)] = &[(0x10_0000, 0x10_00ff)];
    let middle_span: &[(u64, u64)] = &[(0x10_0000, 0x10_0fff)];
    let mut m = three_levels(0x1_0000);
    assert_eq!(serve(&mut m, &[arena_span, middle_span], true), Ok(()));
    assert_eq!(m.level(0).spans(), vec![(0x10_0000, 0x10_00ff, true)]);
    assert_eq!(m.level(1).spans(), vec![(0x10_0000, 0x10_0fff, true)]);
    assert_eq!(m.level(1).live(), vec![(0x10_0000, 0x10_00ff)]);
    assert_eq!(m.level(2).live(), vec![(0x10_0000, 0x10_0fff)]);
    let imports = |m: &ChainModel| -> Vec<(u64, u64)> {
        (0..m.depth())
            .map(|i| (m.level(i).counts().imports, m.level(i).counts().releases))
            .collect()
    };
    assert_eq!(imports(&m), [(1, 0), (1, 0), (0, 0)]);
    // A second request fits in the arena's span: nothing is imported.
    let r = Request {
        minaddr: 0x10_0010,
        ..req(0x10)
    };
    m.judge_alloc_with(0, &r, Policy::FirstFit, NONE, Ok(0x10_0010), true)
        .unwrap();
    m.free(0, 0x10_0000);
    assert_eq!(
        m.level(0).spans().len(),
        1,
        "one allocation still lies in it"
    );
    m.free(0, 0x10_0010);
    for i in 0..2 {
        assert_eq!(m.level(i).spans(), vec![], "level {i}");
    }
    assert_eq!(m.level(2).live(), vec![]);
    assert_eq!(imports(&m), [(1, 1), (1, 1), (0, 0)]);

    // The middle level imports exactly what the arena asked, not rounded up: wrong.
    let short: &[(u64, u64)] = &[(0x10_0000, 0x10_00ff)];
    let r = serve(&mut three_levels(0x1_0000), &[arena_span, short], true);
    assert!(bad_import(&r, "level 1: imported 0x100 bytes"), "{r:?}");
    // The middle level imports nothing for the arena's span: it has no span to hold it.
    let r = serve(&mut three_levels(0x1_0000), &[arena_span], true);
    assert!(bad_import(&r, "not inside a source span"), "{r:?}");
    // The middle level imports although the arena did not (it had room of its own).
    let mut m = three_levels(0x1_0000);
    m.add_span(0, 0x10_0000, 0x100);
    let r = serve(&mut m, &[&[], middle_span], true);
    assert!(bad_import(&r, "level 1 imported"), "{r:?}");
    // The middle level imports although it had a placement for the arena's span.
    let mut m = three_levels(0x1_0000);
    m.add_span(1, 0x20_0000, 0x1000);
    let r = serve(&mut m, &[arena_span, middle_span], true);
    assert!(
        bad_import(&r, "level 1: imported although 0x200000"),
        "{r:?}"
    );
    // Failing although the deepest level had room, through the middle one.
    let r = serve(&mut three_levels(0x1_0000), NONE, false);
    assert!(bad_import(&r, "level 2 had 0x100000"), "{r:?}");
}

/// When the deepest level lacks room for a rounded-up import, each level asks for
/// exactly the size; with no room at all, the request fails and an import is wrong.
#[test]
fn a_cascade_without_room_at_the_deepest_level_falls_back_to_exact_sizes() {
    // Room for 0x80 bytes: neither 0x1000 (the middle level's roundup) nor 0x100 (the
    // arena's, which the middle level would serve by importing 0x100 exactly... from
    // 0x80) fits, so both levels import exactly 0x10.
    let exact: &[(u64, u64)] = &[(0x10_0000, 0x10_000f)];
    assert_eq!(
        serve(&mut three_levels(0x80), &[exact, exact], true),
        Ok(())
    );
    let rounded: &[(u64, u64)] = &[(0x10_0000, 0x10_00ff)];
    let r = serve(&mut three_levels(0x80), &[rounded, exact], true);
    assert!(bad_import(&r, "imported 0x100 bytes"), "{r:?}");
    // Room for 0x100: the arena's roundup fits through an exact import in the middle.
    assert_eq!(
        serve(&mut three_levels(0x100), &[rounded, rounded], true),
        Ok(())
    );
    // No room for even 0x10: refusing is right, importing is not.
    let mut m = three_levels(0x8);
    assert_eq!(serve(&mut m.clone(), NONE, false), Ok(()));
    let r = serve(&mut m, &[exact, exact], true);
    assert!(
        bad_import(&r, "level 1: [0x100000, 0x100010) not inside"),
        "{r:?}"
    );
}

/// Four levels, as deep as a chain goes: one import per level, released all the way.
#[test]
fn four_levels_import_and_release_end_to_end() {
    let mut deepest = ArenaModel::new(1, IA32);
    deepest.add_span(0x10_0000, 0x10_0000);
    let mut m = ChainModel::new(vec![
        ArenaModel::importing(1, 0x100, IA32),
        ArenaModel::importing(1, 0x1000, IA32),
        ArenaModel::importing(1, 0x1_0000, IA32),
        deepest,
    ]);
    let spans: Vec<Vec<(u64, u64)>> = [0xff, 0xfff, 0xffff]
        .iter()
        .map(|&last| vec![(0x10_0000, 0x10_0000 + last)])
        .collect();
    assert_eq!(serve(&mut m, &spans, true), Ok(()));
    assert_eq!(m.level(3).live(), vec![(0x10_0000, 0x10_ffff)]);
    m.free(0, 0x10_0000);
    assert!((0..3).all(|i| m.level(i).spans().is_empty()));
    assert_eq!(m.level(3).live(), vec![]);
}

/// Exact allocation names a range past the top or in the hole before looking for space.
#[test]
fn exact_allocation_range_errors() {
    let m = ArenaModel::new(1, IA32);
    assert_eq!(
        m.predict_alloc_at(0xFFFF_FFFF, 1),
        Err(AllocErrorKind::NoSpace)
    );
    assert_eq!(
        m.predict_alloc_at(0xFFFF_FFFF, 2),
        Err(AllocErrorKind::PastTop)
    );
    assert_eq!(m.predict_alloc_at(u64::MAX, 2), Err(AllocErrorKind::Wraps));
    let x64 = ArenaModel::new(
        0x1000,
        Space {
            top: u64::MAX,
            canonical_bits: Some(48),
        },
    );
    assert_eq!(
        x64.predict_alloc_at(0x7FFF_FFFF_F000, 0x2000),
        Err(AllocErrorKind::NonCanonical)
    );
    assert_eq!(
        x64.predict_alloc_at(0x8000_0000_0000, 0x1000),
        Err(AllocErrorKind::NonCanonical)
    );
    assert_eq!(
        x64.predict_alloc_at(0xFFFF_8000_0000_0000, 0x1000),
        Err(AllocErrorKind::NoSpace)
    );
}

#[test]
fn netbsd_top_of_32_bit_space() {
    let mut m = ArenaModel::new(1, IA32);
    assert_eq!(
        m.predict_add_span(0xFFFF_FF00, 0x101),
        Err(SpanErrorKind::PastTop)
    );
    assert_eq!(m.predict_add_span(0xFFFF_FF00, 0x100), Ok(()));
    m.add_span(0xFFFF_FF00, 0x100);
    let n = m.normalize(&req(0x101)).unwrap();
    assert_eq!(m.promised(&n, Policy::FirstFit), None);
    let r = Request {
        minaddr: 0xFFFF_FF01,
        maxaddr: 0xFFFF_FFFE,
        ..req(0x100)
    };
    let n = m.normalize(&r).unwrap();
    assert_eq!(m.promised(&n, Policy::FirstFit), None);
    let r = Request {
        minaddr: 0xFFFF_FF00,
        maxaddr: 0xFFFF_FFFF,
        ..req(0x100)
    };
    assert_eq!(
        m.judge_alloc(&r, Policy::FirstFit, &[], Ok(0xFFFF_FF00)),
        Ok(())
    );
    assert_eq!(m.predict_free(0xFFFF_FF00, 0x100), Ok(()));
}

#[test]
fn counts_and_contains_from_spans_and_allocations() {
    let top = Space {
        top: u64::MAX,
        canonical_bits: None,
    };
    let mut m = ArenaModel::new(1, top);
    assert_eq!(m.counts(), Counts::default());
    m.add_span(0, 100);
    m.add_span(100, 50); // adjacent, but a separate span: its free run is separate
    m.add_span(u64::MAX - 9, 10);
    for (size, at) in [(10, 0), (5, 20), (30, 100)] {
        let r = Request {
            minaddr: at,
            ..req(size)
        };
        let a = m.predict_alloc(&r, Policy::FirstFit).unwrap();
        m.judge_alloc(&r, Policy::FirstFit, &[], Ok(a)).unwrap();
    }
    assert_eq!(m.live(), vec![(0, 9), (20, 24), (100, 129)]);
    assert_eq!(
        m.counts(),
        Counts {
            total: 160,
            in_use: 45,
            free: 115,
            spans: 3,
            imported_spans: 0,
            allocated: 3,
            // [10, 20), [25, 100), [130, 150), [MAX - 9, MAX]
            free_runs: 4,
            largest_free: 75,
            imports: 0,
            releases: 0,
        }
    );
    for (addr, inside) in [(0, true), (149, true), (150, false), (u64::MAX - 10, false)] {
        assert_eq!(m.contains(addr), inside, "{addr:#x}");
    }
    assert!(m.contains(u64::MAX - 9) && m.contains(u64::MAX));
}

#[test]
fn best_fit_picks_the_smallest_interval() {
    let mut m = ArenaModel::new(1, IA32);
    m.add_span(0, 100);
    m.add_span(200, 10);
    m.add_span(300, 20);
    let n = m.normalize(&req(10)).unwrap();
    assert_eq!(m.promised(&n, Policy::BestFit), Some(200));
    assert_eq!(m.promised(&n, Policy::FirstFit), Some(0));
}

#[test]
fn nocross_and_phase() {
    let mut m = ArenaModel::new(1, IA32);
    m.add_span(0, 1000);
    let r = Request {
        align: 16,
        phase: 4,
        nocross: 64,
        ..req(40)
    };
    let n = m.normalize(&r).unwrap();
    // 4: [4, 44) does not cross 64.
    assert_eq!(m.lowest_from(0, &n), Some(4));
    // 20: [20, 60) stays below 64.
    assert_eq!(m.lowest_from(5, &n), Some(20));
    // 36 would cross 64; the next candidate after the boundary is 68.
    assert_eq!(m.lowest_from(21, &n), Some(68));
    let over = Request {
        align: 16,
        phase: 4,
        nocross: 32,
        ..req(40)
    };
    assert_eq!(
        m.normalize(&over).unwrap_err(),
        AllocErrorKind::Overconstrained
    );
}

#[test]
fn canonical_spans() {
    let m = ArenaModel::new(
        4096,
        Space {
            top: u64::MAX,
            canonical_bits: Some(48),
        },
    );
    assert_eq!(m.predict_add_span(0x7FFF_FFFF_F000, 0x1000), Ok(()));
    assert_eq!(
        m.predict_add_span(0x7FFF_FFFF_F000, 0x2000),
        Err(SpanErrorKind::NonCanonical)
    );
    assert_eq!(m.predict_add_span(0xFFFF_FFFF_FFFF_F000, 0x1000), Ok(()));
    assert_eq!(
        m.predict_add_span(0xFFFF_FFFF_FFFF_F000, 0x2000),
        Err(SpanErrorKind::Wraps)
    );
}

/// Each verdict of `judge_alloc`, and the predictions beside it, on hand-built states
/// where exactly one rule decides (a mutation round found these rules reached by no test:
/// the campaign on a correct arena never breaks them, and no seeded bug breaks only them).
#[test]
fn each_rule_decides_alone() {
    let incomplete = |r: Result<(), Mismatch>| matches!(r, Err(Mismatch::Incomplete { .. }));
    let bad_import = |r: Result<(), Mismatch>, what: &str| match r {
        Err(Mismatch::BadImport { why }) => why.contains(what),
        _ => false,
    };
    let broken = |r: Result<(), Mismatch>| matches!(r, Err(Mismatch::PolicyBroken { .. }));

    // No source, room here: NoSpace is incomplete, for every policy.
    for policy in [
        Policy::InstantFit,
        Policy::BestFit,
        Policy::FirstFit,
        Policy::NextFit,
    ] {
        let mut m = ArenaModel::new(1, IA32);
        m.add_span(0x1000, 0x100);
        assert!(incomplete(m.judge_alloc(
            &req(0x10),
            policy,
            &[],
            Err(AllocErrorKind::NoSpace)
        )));
    }
    // An arena over a source with one free span at 0x10_0000 (its first 0x10 bytes
    // allocated if `source_busy`), and here one span with room or one already full.
    let sourced = |room_here: bool, source_busy: bool| {
        let mut src = ArenaModel::new(1, IA32);
        src.add_span(0x10_0000, 0x1000);
        if source_busy {
            src.judge_alloc(&req(0x10), Policy::FirstFit, &[], Ok(0x10_0000))
                .unwrap();
        }
        let mut m = ChainModel::new(vec![ArenaModel::new(1, IA32), src]);
        m.add_span(0, 0x1000, if room_here { 0x100 } else { 0x10 });
        if !room_here {
            let full = m.judge_alloc_with(0, &req(0x10), Policy::FirstFit, NONE, Ok(0x1000), true);
            full.unwrap();
        }
        m
    };
    // Instant fit of 0x10 served from an import of the source's first 0x10 bytes.
    let import_first = |mut m: ChainModel| {
        let imported = [&[(0x10_0000, 0x10_000f)][..]];
        m.judge_alloc_with(
            0,
            &req(0x10),
            Policy::InstantFit,
            &imported,
            Ok(0x10_0000),
            true,
        )
    };
    // Own spans full, the source has room: failing without importing is wrong, and
    // importing is right.
    let r = sourced(false, false).judge_alloc_with(
        0,
        &req(0x10),
        Policy::InstantFit,
        NONE,
        Err(AllocErrorKind::NoSpace),
        true,
    );
    assert!(bad_import(r, "failed without importing"));
    assert_eq!(import_first(sourced(false, false)), Ok(()));
    // Room here: importing anyway is wrong.
    assert!(bad_import(
        import_first(sourced(true, false)),
        "was a placement"
    ));
    // An import over a live source allocation is wrong.
    assert!(bad_import(
        import_first(sourced(false, true)),
        "not free in the source"
    ));

    // BestFit must take the smallest fitting run, NextFit the lowest at its rotor.
    let mut m = ArenaModel::new(1, IA32);
    m.add_span(0, 0x100);
    m.add_span(0x200, 0x10);
    // What judging 0x10 bytes served at `at` by `policy` says (the model left as it is).
    let served = |m: &ArenaModel, policy: Policy, at: u64| {
        m.clone().judge_alloc(&req(0x10), policy, &[], Ok(at))
    };
    assert!(broken(served(&m, Policy::BestFit, 0)));
    assert_eq!(served(&m, Policy::BestFit, 0x200), Ok(()));
    let mut m = ArenaModel::new(1, IA32);
    m.add_span(0, 0x100);
    m.judge_alloc(&req(0x10), Policy::NextFit, &[], Ok(0))
        .unwrap();
    m.free(0);
    // The rotor is past the first allocation, so NextFit does not reuse its place.
    assert!(broken(served(&m, Policy::NextFit, 0)));
    assert_eq!(served(&m, Policy::NextFit, 0x10), Ok(()));

    // Wrong size either way; the overlap named is the lowest span covered.
    let mut m = ArenaModel::new(0x10, IA32);
    m.add_span(0x100, 0x100);
    m.add_span(0x300, 0x100);
    m.judge_alloc(&req(0x40), Policy::FirstFit, &[], Ok(0x100))
        .unwrap();
    assert_eq!(
        m.predict_free(0x100, 0x20),
        Err(FreeErrorKind::WrongSize(0x40))
    );
    assert_eq!(
        m.predict_free(0x100, 0x50),
        Err(FreeErrorKind::WrongSize(0x40))
    );
    assert_eq!(m.predict_free(0x100, 0x31), Ok(()));
    assert_eq!(
        m.predict_add_span(0x80, 0x400),
        Err(SpanErrorKind::Overlaps(0x100))
    );
    // A wholly allocated span has no free run.
    let mut m = ArenaModel::new(1, IA32);
    m.add_span(0, 0x10);
    m.add_span(0x100, 0x10);
    m.judge_alloc(&req(0x10), Policy::FirstFit, &[], Ok(0))
        .unwrap();
    let c = m.counts();
    assert_eq!((c.free_runs, c.largest_free), (1, 0x10));

    // The first address of the canonical hole is in it, even for one byte.
    let x64 = Space {
        top: u64::MAX,
        canonical_bits: Some(48),
    };
    let m = ArenaModel::new(1, x64);
    assert_eq!(m.predict_add_span(0x7FFF_FFFF_FFFF, 1), Ok(()));
    assert_eq!(
        m.predict_add_span(0x8000_0000_0000, 1),
        Err(SpanErrorKind::NonCanonical)
    );
}

// ---- Claims (claims.rs) ---------------------------------------------------------------------

/// A lone level of quantum 1 with one span `[0x1000, 0x1000 + size)`.
fn one_span(size: u64) -> ChainModel {
    let mut m = ArenaModel::new(1, IA32);
    m.add_span(0x1000, size);
    ChainModel::new(vec![m])
}

/// The verdict on refusing `size` bytes (instant fit) in `m` under `claim`.
fn refuse(m: &mut ChainModel, size: u64, claim: PolicyClaim) -> Result<(), Mismatch> {
    let r = req(size);
    let refused = Err(AllocErrorKind::NoSpace);
    m.judge_alloc_claiming(0, &r, Policy::InstantFit, NONE, refused, claim)
}

#[test]
fn float_bins_keep_the_top_bits() {
    assert_eq!(float_bin_round_up(7, 3), 7);
    assert_eq!(float_bin_round_up(8, 3), 8);
    assert_eq!(float_bin_round_up(15, 3), 15);
    assert_eq!(float_bin_round_up(17, 3), 18);
    assert_eq!(float_bin_round_up(0x101, 3), 0x120);
    assert_eq!(float_bin_round_up(0x1f1, 3), 0x200);
}

/// A partial completeness claim makes a refusal a finding exactly where its derived request
/// has a placement.
#[test]
fn partial_completeness_claims_decide_by_the_derived_request() {
    let claim = |completeness| PolicyClaim::complete_as(completeness);
    let incomplete = |r: Result<(), Mismatch>| matches!(r, Err(Mismatch::Incomplete { .. }));
    // 0x30 bytes free: 0x21 rounds to 0x40 (power of two), 0x24 (a 3-bit float bin).
    assert!(incomplete(refuse(
        &mut one_span(0x30),
        0x21,
        PolicyClaim::FULL
    )));
    let pow2 = claim(Completeness::PowerOfTwoRun);
    assert_eq!(refuse(&mut one_span(0x30), 0x21, pow2), Ok(()));
    assert!(incomplete(refuse(&mut one_span(0x40), 0x21, pow2)));
    let bins = claim(Completeness::FloatBin { mantissa_bits: 3 });
    assert!(incomplete(refuse(&mut one_span(0x30), 0x21, bins)));
    assert_eq!(refuse(&mut one_span(0x23), 0x21, bins), Ok(()));
    // A buddy block must be aligned to its size: [0x1000, 0x1060) holds a 0x40 block at
    // 0x1000, [0x1010, 0x1070) (in a span from 0x1000 with 0x10 allocated) does not.
    let block = claim(Completeness::PowerOfTwoBlock { max_block: 1 << 20 });
    assert!(incomplete(refuse(&mut one_span(0x60), 0x21, block)));
    let mut m = one_span(0x70);
    m.judge_alloc_with(0, &req(0x10), Policy::FirstFit, NONE, Ok(0x1000), true)
        .unwrap();
    assert_eq!(refuse(&mut m, 0x21, block), Ok(()));
    // Aligned to 0x80, 0x21 bytes take a 0x80 block (buddy_system_allocator's
    // `alloc_aligned`: "the maximum of the next power of two of the given size and the
    // alignment"): 0x60 bytes hold no such block, 0x80 do.
    let aligned = Request {
        align: 0x80,
        ..req(0x21)
    };
    let refused = Err(AllocErrorKind::NoSpace);
    let judge = |m: &mut ChainModel| {
        m.judge_alloc_claiming(0, &aligned, Policy::InstantFit, NONE, refused, block)
    };
    assert_eq!(judge(&mut one_span(0x60)), Ok(()));
    assert!(incomplete(judge(&mut one_span(0x80))));
    let small = claim(Completeness::PowerOfTwoBlock { max_block: 0x20 });
    assert_eq!(refuse(&mut one_span(0x60), 0x21, small), Ok(()));
    let padded = claim(Completeness::Padded {
        granule: 8,
        min: 0x10,
        slack: 8,
    });
    assert_eq!(refuse(&mut one_span(0x2f), 0x21, padded), Ok(()));
    assert!(incomplete(refuse(&mut one_span(0x30), 0x21, padded)));
    assert_eq!(
        refuse(&mut one_span(0x30), 0x21, claim(Completeness::Unclaimed)),
        Ok(())
    );
    // Bounded by the live count: with one allocation live and max_live 1, no claim.
    let mut m = one_span(0x100);
    m.judge_alloc_with(0, &req(0x10), Policy::FirstFit, NONE, Ok(0x1000), true)
        .unwrap();
    let bounded = PolicyClaim {
        max_live: Some(1),
        ..PolicyClaim::FULL
    };
    assert_eq!(refuse(&mut m, 0x10, bounded), Ok(()));
}

/// Without `exact`, any placement is accepted for a policy that promises one.
#[test]
fn an_inexact_policy_claim_accepts_any_placement() {
    let r = req(0x10);
    let exact = one_span(0x100).judge_alloc_claiming(
        0,
        &r,
        Policy::FirstFit,
        NONE,
        Ok(0x1010),
        PolicyClaim::FULL,
    );
    assert!(
        matches!(exact, Err(Mismatch::PolicyBroken { .. })),
        "{exact:?}"
    );
    let any = PolicyClaim {
        exact: false,
        ..PolicyClaim::FULL
    };
    let inexact =
        one_span(0x100).judge_alloc_claiming(0, &r, Policy::FirstFit, NONE, Ok(0x1010), any);
    assert_eq!(inexact, Ok(()));
}

/// The domain decides what is accepted: alignments below the quantum, unaligned sizes,
/// overconstrained requests (then judged by placement: vmem's rule is conservative).
#[test]
fn the_domain_decides_what_is_accepted() {
    let model = |domain| ArenaModel::new(0x10, IA32).with_domain(domain);
    let small = Request {
        align: 4,
        ..req(0x10)
    };
    assert_eq!(
        model(Domain::VMEM).check_request(&small),
        Err(AllocErrorKind::BadAlign)
    );
    let pow2 = Domain {
        align: AlignRule::PowerOfTwo,
        ..Domain::VMEM
    };
    assert_eq!(model(pow2).check_request(&small), Ok(()));
    let capped = Domain {
        max_align: 0x100,
        ..Domain::VMEM
    };
    let big = Request {
        align: 0x200,
        ..req(0x10)
    };
    assert_eq!(
        model(capped).check_request(&big),
        Err(AllocErrorKind::BadAlign)
    );
    let whole = Domain {
        unaligned_sizes: false,
        ..Domain::VMEM
    };
    assert_eq!(
        model(whole).check_request(&req(0x11)),
        Err(AllocErrorKind::BadSize)
    );
    assert_eq!(model(whole).check_request(&req(0x20)), Ok(()));
    // A crate taking any alignment in units of the quantum.
    let multiples = Domain {
        align: AlignRule::QuantumMultiple,
        ..Domain::VMEM
    };
    let thrice = Request {
        align: 0x30,
        ..req(0x10)
    };
    assert_eq!(model(multiples).check_request(&thrice), Ok(()));
    assert_eq!(
        model(Domain::VMEM).check_request(&thrice),
        Err(AllocErrorKind::BadAlign)
    );
    assert_eq!(
        model(multiples).check_request(&small),
        Err(AllocErrorKind::BadAlign)
    );
    // A crate whose size argument is narrower than u64 (offset-allocator's u32 units).
    let narrow = Domain {
        max_size: 0x100,
        ..Domain::VMEM
    };
    assert_eq!(model(narrow).check_request(&req(0xf1)), Ok(()));
    assert_eq!(
        model(narrow).check_request(&req(0x101)),
        Err(AllocErrorKind::SizeOverflow)
    );
    let over = Request {
        align: 0x40,
        nocross: 0x20,
        ..req(0x10)
    };
    assert_eq!(
        model(Domain::VMEM).check_request(&over),
        Err(AllocErrorKind::Overconstrained)
    );
    let lenient = Domain {
        refuses_overconstrained: false,
        ..Domain::VMEM
    };
    let mut m = model(lenient);
    m.add_span(0x1000, 0x100);
    assert_eq!(m.predict_alloc(&over, Policy::FirstFit), Ok(0x1000));
}

/// An import of exactly the request, or of at least it, by the importing level's rule.
#[test]
fn import_rules_exact_and_at_least() {
    let judge = |rule, spans: &[(u64, u64)]| {
        let mut src = ArenaModel::new(1, IA32);
        src.add_span(0x1000, 0x1000);
        let arena = ArenaModel::new(1, IA32).with_import(rule);
        let mut m = ChainModel::new(vec![arena, src]);
        m.judge_alloc_with(
            0,
            &req(0x10),
            Policy::InstantFit,
            &[spans],
            Ok(0x1000),
            true,
        )
    };
    let bad = |r: Result<(), Mismatch>| matches!(r, Err(Mismatch::BadImport { .. }));
    assert_eq!(judge(ImportRule::Exact, &[(0x1000, 0x100f)]), Ok(()));
    assert!(bad(judge(ImportRule::Exact, &[(0x1000, 0x101f)])));
    assert_eq!(judge(ImportRule::AtLeast, &[(0x1000, 0x13ff)]), Ok(()));
    assert!(bad(judge(ImportRule::AtLeast, &[(0x1000, 0x1007)])));
}

/// Touching allocations are one run in the merged listing.
#[test]
fn merged_live_runs() {
    let mut m = one_span(0x100);
    for a in [0x1000, 0x1010, 0x1040] {
        m.judge_alloc_with(0, &req(0x10), Policy::InstantFit, NONE, Ok(a), true)
            .unwrap();
    }
    assert_eq!(
        m.level(0).live_merged(),
        vec![(0x1000, 0x101f), (0x1040, 0x104f)]
    );
    assert_eq!(m.level(0).live_at(0x1010), Some((0x1010, 0x101f)));
    assert_eq!(m.level(0).live_at(0x1011), None);
}

/// Growing a span: only one the caller added, by a tail that could be added as a span.
#[test]
fn growing_a_span() {
    let mut m = ArenaModel::new(0x10, IA32);
    m.add_span(0x1000, 0x100);
    m.add_span(0x1200, 0x100);
    assert_eq!(m.predict_grow(0x1010, 0x10), Err(GrowErrorKind::NoSpan));
    assert_eq!(
        m.predict_grow(0x1000, 0x8),
        Err(GrowErrorKind::Tail(SpanErrorKind::Misaligned))
    );
    assert_eq!(
        m.predict_grow(0x1000, 0x110),
        Err(GrowErrorKind::Tail(SpanErrorKind::Overlaps(0x1200)))
    );
    assert_eq!(m.predict_grow(0x1000, 0x100), Ok(()));
    m.grow(0x1000, 0x100);
    assert_eq!(
        m.spans(),
        vec![(0x1000, 0x11ff, false), (0x1200, 0x12ff, false)]
    );
    assert_eq!(
        m.predict_grow(0x1200, 0xffff_f000),
        Err(GrowErrorKind::Tail(SpanErrorKind::PastTop))
    );
}

/// A source that serves imports by instant fit (the vmem crate's `impl Source for Arena`)
/// promises only a run of the next power of two: an arena refusing a request its source has
/// a smaller run for is judged by that rule, not held to vmem's complete import.
#[test]
fn a_source_serving_imports_by_instant_fit_is_held_to_its_rule() {
    let judge = |serves| {
        let mut src = ArenaModel::new(1, IA32).with_import_completeness(serves);
        src.add_span(0x1000, 0x30);
        let arena = ArenaModel::new(1, IA32).with_import(ImportRule::Exact);
        let mut m = ChainModel::new(vec![arena, src]);
        let none: &[(u64, u64)] = &[];
        let refused = Err(AllocErrorKind::NoSpace);
        m.judge_alloc_with(0, &req(0x21), Policy::BestFit, &[none], refused, true)
    };
    assert!(matches!(
        judge(Completeness::Full),
        Err(Mismatch::BadImport { .. })
    ));
    assert_eq!(judge(Completeness::PowerOfTwoRun), Ok(()));
}
