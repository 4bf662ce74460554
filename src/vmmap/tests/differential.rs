//! Differential: both strategies against a naive reference on pseudo-random op streams (and,
//! with the `std` feature, against `kvafuzz_oracles::findspace`).

use super::*;

/// One operation of a generated case.
#[derive(Clone, Copy, Debug)]
enum Op {
    Find {
        start: u64,
        length: u64,
        align: u64,
    },
    Anywhere {
        start: u64,
        length: u64,
        align: u64,
        tag: u64,
    },
    Fixed {
        addr: u64,
        length: u64,
        tag: u64,
    },
    Unmap {
        addr: u64,
        length: u64,
    },
}

/// A verdict as plain integers, comparable across the implementation and the references.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Addr(u64),
    Mapped(u64, u64),
    Unmapped(Vec<(u64, u64, u64)>),
    ZeroLength,
    ZeroAlign,
    NoSpace,
    Full,
    Wraps,
    OutOfBounds,
    Overlap(u64, u64),
    NotMapped,
    Partial(u64, u64),
}

fn apply(m: &mut VmMap, op: Op) -> Outcome {
    let find_err = |e| match e {
        FindspaceError::ZeroLength => Outcome::ZeroLength,
        FindspaceError::ZeroAlign => Outcome::ZeroAlign,
        FindspaceError::NoSpace => Outcome::NoSpace,
    };
    match op {
        Op::Find {
            start,
            length,
            align,
        } => find(m, start, length, align).map_or_else(find_err, Outcome::Addr),
        Op::Anywhere {
            start,
            length,
            align,
            tag,
        } => match m.map_anywhere_from(start, length, align, tag) {
            Ok(r) => Outcome::Mapped(r.start(), r.last()),
            Err(MapAnywhereError::ZeroLength) => Outcome::ZeroLength,
            Err(MapAnywhereError::ZeroAlign) => Outcome::ZeroAlign,
            Err(MapAnywhereError::NoSpace) => Outcome::NoSpace,
            Err(MapAnywhereError::Full) => Outcome::Full,
        },
        Op::Fixed { addr, length, tag } => match m.map_fixed(addr, length, tag) {
            Ok(r) => Outcome::Mapped(r.start(), r.last()),
            Err(MapFixedError::ZeroLength) => Outcome::ZeroLength,
            Err(MapFixedError::Wraps) => Outcome::Wraps,
            Err(MapFixedError::OutOfBounds) => Outcome::OutOfBounds,
            Err(MapFixedError::Overlap { existing }) => {
                Outcome::Overlap(existing.start(), existing.last())
            }
            Err(MapFixedError::Full) => Outcome::Full,
        },
        Op::Unmap { addr, length } => match m.unmap(addr, length) {
            Ok(v) => Outcome::Unmapped(
                v.iter()
                    .map(|e| (e.range.start(), e.range.last(), e.tag))
                    .collect(),
            ),
            Err(UnmapError::ZeroLength) => Outcome::ZeroLength,
            Err(UnmapError::Wraps) => Outcome::Wraps,
            Err(UnmapError::OutOfBounds) => Outcome::OutOfBounds,
            Err(UnmapError::NotMapped) => Outcome::NotMapped,
            Err(UnmapError::Partial { entry }) => Outcome::Partial(entry.start(), entry.last()),
        },
    }
}

/// The naive reference used without the oracle crate: a sorted `Vec` of `(start, last, tag)`
/// and u128 arithmetic; findspace tries candidates one blocking entry at a time.
struct Reference {
    min: u64,
    max: u64,
    limit: usize,
    entries: Vec<(u64, u64, u64)>,
}

impl Reference {
    fn findspace(&self, start: u64, length: u64, align: u64) -> Outcome {
        if length == 0 {
            return Outcome::ZeroLength;
        }
        if align == 0 {
            return Outcome::ZeroAlign;
        }
        let (len, al) = (u128::from(length), u128::from(align));
        let mut a = u128::from(start.max(self.min)).div_ceil(al) * al;
        loop {
            let last = a + len - 1;
            if last > u128::from(self.max) {
                return Outcome::NoSpace;
            }
            let block = self
                .entries
                .iter()
                .find(|&&(s, l, _)| u128::from(s) <= last && a <= u128::from(l));
            match block {
                None => return Outcome::Addr(a as u64),
                Some(&(_, l, _)) => a = (u128::from(l) + 1).div_ceil(al) * al,
            }
        }
    }

    fn range(&self, addr: u64, length: u64) -> Result<(u64, u64), Outcome> {
        if length == 0 {
            return Err(Outcome::ZeroLength);
        }
        let last = u128::from(addr) + u128::from(length) - 1;
        if last > u128::from(u64::MAX) {
            return Err(Outcome::Wraps);
        }
        if addr < self.min || last > u128::from(self.max) {
            return Err(Outcome::OutOfBounds);
        }
        Ok((addr, last as u64))
    }

    fn insert(&mut self, e: (u64, u64, u64)) {
        self.entries.push(e);
        self.entries.sort_unstable();
    }

    fn apply(&mut self, op: Op) -> Outcome {
        match op {
            Op::Find {
                start,
                length,
                align,
            } => self.findspace(start, length, align),
            Op::Anywhere {
                start,
                length,
                align,
                tag,
            } => match self.findspace(start, length, align) {
                Outcome::Addr(_) if self.entries.len() >= self.limit => Outcome::Full,
                Outcome::Addr(a) => {
                    self.insert((a, a + (length - 1), tag));
                    Outcome::Mapped(a, a + (length - 1))
                }
                other => other,
            },
            Op::Fixed { addr, length, tag } => {
                let (s, l) = match self.range(addr, length) {
                    Ok(x) => x,
                    Err(o) => return o,
                };
                if let Some(&(es, el, _)) = self.entries.iter().find(|e| e.0 <= l && s <= e.1) {
                    return Outcome::Overlap(es, el);
                }
                if self.entries.len() >= self.limit {
                    return Outcome::Full;
                }
                self.insert((s, l, tag));
                Outcome::Mapped(s, l)
            }
            Op::Unmap { addr, length } => {
                let (s, l) = match self.range(addr, length) {
                    Ok(x) => x,
                    Err(o) => return o,
                };
                let hit: Vec<_> = self
                    .entries
                    .iter()
                    .copied()
                    .filter(|e| e.0 <= l && s <= e.1)
                    .collect();
                if hit.is_empty() {
                    return Outcome::NotMapped;
                }
                if let Some(&(es, el, _)) = hit.iter().find(|e| e.0 < s || e.1 > l) {
                    return Outcome::Partial(es, el);
                }
                self.entries.retain(|e| !(e.0 <= l && s <= e.1));
                Outcome::Unmapped(hit)
            }
        }
    }
}

/// Picks map bounds for `arch`: a window of `2^12..2^24` bytes at the bottom of the space, at
/// the top of a canonical half, or at a random place.
fn bounds(rng: &mut XorShift, arch: Arch) -> (u64, u64) {
    let size = 1u64 << (12 + rng.below(13));
    let upper = arch.upper_half_start().filter(|_| rng.one_in(2));
    let (lo, hi) = match upper {
        Some(u) => (u, u64::MAX),
        None => (0, arch.lower_half_last()),
    };
    match rng.below(3) {
        0 => (lo, lo + size - 1),
        1 => (hi - (size - 1), hi),
        _ => {
            let min = lo + rng.below(hi - lo - size + 1);
            (min, min + size - 1)
        }
    }
}

fn gen_align(rng: &mut XorShift) -> u64 {
    match rng.below(10) {
        0 => 0,
        1 => 1,
        2 => [3, 12288, 0x30_0000, 5, 6, 4097][rng.below(6) as usize],
        3 => u64::MAX / [3, 5, 17, 255][rng.below(4) as usize],
        4 => 1 << rng.below(64),
        5 => 1 + rng.below(100),
        _ => 1 << rng.below(13),
    }
}

fn gen_length(rng: &mut XorShift, size: u64) -> u64 {
    match rng.below(12) {
        0 => 0,
        1 => u64::MAX - rng.below(4),
        2 => size,
        3 => size + 1,
        4 => 1 + rng.below(size),
        _ => 1 + rng.below(1 + size / 32),
    }
}

fn gen_addr(rng: &mut XorShift, min: u64, max: u64) -> u64 {
    let size = max - min + 1;
    match rng.below(10) {
        0 => 0,
        1 => u64::MAX - rng.below(3),
        2 => min.wrapping_sub(1 + rng.below(16)),
        3 => max.wrapping_add(rng.below(16)),
        4 => max - rng.below(size.min(64)),
        _ => min + rng.below(size),
    }
}

fn gen_op(rng: &mut XorShift, min: u64, max: u64, live: &[Entry]) -> Op {
    let size = max - min + 1;
    let tag = rng.next();
    match rng.below(8) {
        0 | 1 => Op::Find {
            start: gen_addr(rng, min, max),
            length: gen_length(rng, size),
            align: gen_align(rng),
        },
        2 | 3 => Op::Anywhere {
            start: if rng.one_in(2) {
                min
            } else {
                gen_addr(rng, min, max)
            },
            length: gen_length(rng, size),
            align: gen_align(rng),
            tag,
        },
        4 | 5 => Op::Fixed {
            addr: gen_addr(rng, min, max),
            length: gen_length(rng, size),
            tag,
        },
        _ if !live.is_empty() && rng.one_in(2) => {
            // Unmap live entries: exactly one, or a span from one to a later one.
            let i = rng.below(live.len() as u64) as usize;
            let j = (i + rng.below(3) as usize).min(live.len() - 1);
            let (s, l) = (live[i].range.start(), live[j].range.last());
            Op::Unmap {
                addr: s,
                length: l - s + 1,
            }
        }
        _ => Op::Unmap {
            addr: gen_addr(rng, min, max),
            length: gen_length(rng, size),
        },
    }
}

/// Runs `cases` cases of `ops` ops per architecture, comparing every verdict with `reference`
/// (constructed per case from the bounds and entry limit) and checking invariants after each
/// op. Returns how many ops succeeded, to assert the streams are not all errors.
fn differential<R>(
    seed: u64,
    cases: usize,
    ops: usize,
    mut new_ref: impl FnMut(u64, u64, usize) -> R,
    mut ref_apply: impl FnMut(&mut R, Op) -> Outcome,
) -> usize {
    let mut rng = XorShift::new(seed);
    let mut successes = 0;
    for arch in ALL_ARCHES {
        for case in 0..cases {
            let (min, max) = bounds(&mut rng, arch);
            let limit = if rng.one_in(4) {
                1 + rng.below(8) as usize
            } else {
                MAX_ENTRIES
            };
            let strategy = if rng.one_in(2) {
                Strategy::Linear
            } else {
                Strategy::GapIndex
            };
            let mut m = VmMap::new(arch, min, max)
                .unwrap()
                .with_max_entries(limit)
                .with_strategy(strategy);
            let mut reference = new_ref(min, max, limit);
            for i in 0..ops {
                let live: Vec<Entry> = m.entries().collect();
                let op = gen_op(&mut rng, min, max, &live);
                let got = apply(&mut m, op);
                let want = ref_apply(&mut reference, op);
                assert_eq!(
                    got, want,
                    "{arch} case {case} op {i}: {op:?} on [{min:#x}, {max:#x}] limit {limit}"
                );
                if matches!(
                    got,
                    Outcome::Addr(_) | Outcome::Mapped(..) | Outcome::Unmapped(_)
                ) {
                    successes += 1;
                }
                if let Err(e) = m.check_invariants() {
                    panic!("{arch} case {case} op {i}: {op:?}: {e}");
                }
            }
        }
    }
    successes
}

#[test]
fn both_strategies_match_the_naive_reference() {
    let ok = differential(
        0x2545_F491_4F6C_DD1D,
        40,
        150,
        |min, max, limit| Reference {
            min,
            max,
            limit,
            entries: Vec::new(),
        },
        |r, op| r.apply(op),
    );
    assert!(ok > 4 * 40 * 150 / 4, "too few successful ops: {ok}");
}

#[cfg(feature = "std")]
#[test]
fn both_strategies_match_the_oracle_crate() {
    use kvafuzz_oracles::findspace as o;
    let ok = differential(
        0x9E37_79B9_7F4A_7C15,
        40,
        150,
        o::MapModel::new,
        |model, op| match op {
            Op::Find {
                start,
                length,
                align,
            } => match model.findspace(start, length, align) {
                Ok(a) => Outcome::Addr(a),
                Err(o::FindspaceErrorKind::ZeroLength) => Outcome::ZeroLength,
                Err(o::FindspaceErrorKind::ZeroAlign) => Outcome::ZeroAlign,
                Err(o::FindspaceErrorKind::NoSpace) => Outcome::NoSpace,
            },
            Op::Anywhere {
                start,
                length,
                align,
                tag,
            } => match model.map_anywhere_from(start, length, align, tag) {
                Ok((s, l)) => Outcome::Mapped(s, l),
                Err(o::MapAnywhereErrorKind::ZeroLength) => Outcome::ZeroLength,
                Err(o::MapAnywhereErrorKind::ZeroAlign) => Outcome::ZeroAlign,
                Err(o::MapAnywhereErrorKind::NoSpace) => Outcome::NoSpace,
                Err(o::MapAnywhereErrorKind::Full) => Outcome::Full,
            },
            Op::Fixed { addr, length, tag } => match model.map_fixed(addr, length, tag) {
                Ok((s, l)) => Outcome::Mapped(s, l),
                Err(o::MapFixedErrorKind::ZeroLength) => Outcome::ZeroLength,
                Err(o::MapFixedErrorKind::Wraps) => Outcome::Wraps,
                Err(o::MapFixedErrorKind::OutOfBounds) => Outcome::OutOfBounds,
                Err(o::MapFixedErrorKind::Overlap { start, last }) => Outcome::Overlap(start, last),
                Err(o::MapFixedErrorKind::Full) => Outcome::Full,
            },
            Op::Unmap { addr, length } => match model.unmap(addr, length) {
                Ok(v) => Outcome::Unmapped(v),
                Err(o::UnmapErrorKind::ZeroLength) => Outcome::ZeroLength,
                Err(o::UnmapErrorKind::Wraps) => Outcome::Wraps,
                Err(o::UnmapErrorKind::OutOfBounds) => Outcome::OutOfBounds,
                Err(o::UnmapErrorKind::NotMapped) => Outcome::NotMapped,
                Err(o::UnmapErrorKind::Partial { start, last }) => Outcome::Partial(start, last),
            },
        },
    );
    assert!(ok > 4 * 40 * 150 / 4, "too few successful ops: {ok}");
}

#[test]
fn strategies_agree_on_a_large_fragmented_map() {
    // 20,000 entries of mixed sizes with mixed holes; then many queries of mixed alignment.
    let mut rng = XorShift::new(0xDEAD_BEEF_CAFE_F00D);
    let mut m = map(Arch::X86_64, 0, 0x7FFF_FFFF_FFFF);
    let mut addr = 0u64;
    for _ in 0..20_000 {
        addr += rng.below(4) * PAGE_SIZE + rng.below(PAGE_SIZE);
        let len = 1 + rng.below(8 * PAGE_SIZE);
        m.map_fixed(addr, len, 0).unwrap();
        addr += len;
    }
    m.check_invariants().unwrap();
    // Punch holes by unmapping every seventh entry.
    let victims: Vec<Range> = m.entries().step_by(7).map(|e| e.range).collect();
    for v in victims {
        m.unmap(v.start(), v.size()).unwrap();
    }
    m.check_invariants().unwrap();
    for _ in 0..3000 {
        let start = rng.below(addr + 0x10_0000);
        let length = 1 + rng.below(12 * PAGE_SIZE);
        let align = gen_align(&mut rng);
        let _ = find(&m, start, length, align);
    }
}
