//! # Oracle for aligned findspace and a naive vm_map model
//!
//! ## Contract of [`findspace`]
//!
//! Inputs are plain integers: the map bounds `min..=max` (both inclusive), the mapped
//! `entries` as `(start, last)` pairs (both inclusive, in any order; they may even overlap:
//! the oracle only asks "is this byte covered"), a `start` hint, a `length` and an `align`.
//!
//! The answer is the **lowest** integer `a` such that
//!
//! 1. `a >= start` and `a >= min`;
//! 2. `a` is a multiple of `align`;
//! 3. `a + length - 1 <= max` (computed in `u128`, so it never wraps);
//! 4. no entry shares a byte with `[a, a + length - 1]`.
//!
//! or, if there is none, an error kind: `ZeroLength` if `length == 0`, else `ZeroAlign` if
//! `align == 0`, else `NoSpace`. Nothing else: there is no "wrapped" verdict, because in
//! `u128` nothing wraps; an implementation whose `u64` arithmetic wraps must still answer
//! `NoSpace` (or the right address) to agree.
//!
//! ## How
//!
//! Candidates are tried in increasing order, starting at the first multiple of `align` at or
//! above `max(start, min)`. If a candidate block overlaps some entries, every multiple of
//! `align` up to the highest last byte among them also overlaps one of them (it is `>=` the
//! candidate and `<=` that entry's last byte, while the entry starts at or before the
//! candidate block's end), so the next candidate is the first multiple of `align` above that
//! last byte. Each step moves past at least one entry for good, so there are at most
//! `entries + 1` steps of one pass over the entries each: O(n^2) worst case, O(n) typically,
//! with no sorting and no index to get wrong.
//!
//! [`MapModel`] is the same idea for a whole map: a `Vec` of live entries, with the verdicts
//! of map_fixed, map_anywhere and unmap spelled out as plain error kinds.

/// Why no address was found (see the module contract).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FindspaceErrorKind {
    /// `length == 0`.
    ZeroLength,
    /// `align == 0` (and `length != 0`).
    ZeroAlign,
    /// No address satisfies conditions 1-4.
    NoSpace,
}

/// The first multiple of `align` (`>= 1`) at or above `x`, in `u128`.
fn round_up(x: u128, align: u128) -> u128 {
    x.div_ceil(align) * align
}

/// The lowest address satisfying the module contract, or why there is none.
pub fn findspace(
    min: u64,
    max: u64,
    entries: &[(u64, u64)],
    start: u64,
    length: u64,
    align: u64,
) -> Result<u64, FindspaceErrorKind> {
    if length == 0 {
        return Err(FindspaceErrorKind::ZeroLength);
    }
    if align == 0 {
        return Err(FindspaceErrorKind::ZeroAlign);
    }
    let (max, length, align) = (u128::from(max), u128::from(length), u128::from(align));
    let mut candidate = round_up(u128::from(start.max(min)), align);
    loop {
        let last = candidate + length - 1;
        if last > max {
            return Err(FindspaceErrorKind::NoSpace);
        }
        let blocking_last = entries
            .iter()
            .map(|&(s, l)| (u128::from(s), u128::from(l)))
            .filter(|&(s, l)| s <= last && candidate <= l)
            .map(|(_, l)| l)
            .max();
        match blocking_last {
            None => return Ok(candidate as u64), // candidate + length - 1 <= max <= u64::MAX
            Some(l) => candidate = round_up(l + 1, align),
        }
    }
}

/// Why [`MapModel::map_fixed`] fails (first applicable, in declaration order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapFixedErrorKind {
    /// `length == 0`.
    ZeroLength,
    /// `addr + length - 1 > u64::MAX`.
    Wraps,
    /// The range is not inside `min..=max`.
    OutOfBounds,
    /// The range overlaps an entry; `(start, last)` of the lowest such entry.
    Overlap {
        /// First byte of the lowest overlapping entry.
        start: u64,
        /// Last byte of the lowest overlapping entry.
        last: u64,
    },
    /// The range is free but the model already holds `max_entries` entries.
    Full,
}

/// Why [`MapModel::map_anywhere`] fails (first applicable, in declaration order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapAnywhereErrorKind {
    /// `length == 0`.
    ZeroLength,
    /// `align == 0`.
    ZeroAlign,
    /// [`findspace`] answered `NoSpace`.
    NoSpace,
    /// There is room but the model already holds `max_entries` entries.
    Full,
}

/// Why [`MapModel::unmap`] fails (first applicable, in declaration order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnmapErrorKind {
    /// `length == 0`.
    ZeroLength,
    /// `addr + length - 1 > u64::MAX`.
    Wraps,
    /// The range is not inside `min..=max`.
    OutOfBounds,
    /// No entry overlaps the range.
    NotMapped,
    /// An entry overlaps the range but is not wholly inside it; `(start, last)` of the lowest
    /// such entry. Entries are never split.
    Partial {
        /// First byte of the lowest entry sticking out of the range.
        start: u64,
        /// Last byte of the lowest entry sticking out of the range.
        last: u64,
    },
}

/// A naive vm_map: bounds, an entry limit and an unsorted `Vec` of `(start, last, tag)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapModel {
    /// First byte of the map (inclusive).
    pub min: u64,
    /// Last byte of the map (inclusive).
    pub max: u64,
    /// Most entries the model holds.
    pub max_entries: usize,
    /// Live entries `(start, last, tag)`, in insertion order.
    pub entries: Vec<(u64, u64, u64)>,
}

impl MapModel {
    /// An empty model over `min..=max` holding at most `max_entries` entries.
    pub fn new(min: u64, max: u64, max_entries: usize) -> MapModel {
        MapModel {
            min,
            max,
            max_entries,
            entries: Vec::new(),
        }
    }

    /// The entries as `(start, last)` pairs, sorted by start.
    pub fn ranges(&self) -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = self.entries.iter().map(|&(s, l, _)| (s, l)).collect();
        v.sort_unstable();
        v
    }

    /// The entries `(start, last, tag)`, sorted by start.
    pub fn sorted(&self) -> Vec<(u64, u64, u64)> {
        let mut v = self.entries.clone();
        v.sort_unstable();
        v
    }

    /// Occupancy by brute force over the sorted entries: `(entries, gaps, mapped bytes, free
    /// bytes, largest gap)`, a gap being a maximal run of unmapped addresses in `min..=max`.
    pub fn occupancy(&self) -> (usize, usize, u128, u128, u128) {
        let (mut gaps, mut mapped, mut largest) = (0, 0u128, 0u128);
        let mut next = u128::from(self.min); // first address not yet accounted for
        let mut gap = |from: u128, to: u128, gaps: &mut usize| {
            // the run [from, to)
            if to > from {
                *gaps += 1;
                largest = largest.max(to - from);
            }
        };
        for (s, l) in self.ranges() {
            gap(next, u128::from(s), &mut gaps);
            mapped += u128::from(l) - u128::from(s) + 1;
            next = u128::from(l) + 1;
        }
        gap(next, u128::from(self.max) + 1, &mut gaps);
        let size = u128::from(self.max) - u128::from(self.min) + 1;
        (self.entries.len(), gaps, mapped, size - mapped, largest)
    }

    /// [`findspace`] on this model.
    pub fn findspace(
        &self,
        start: u64,
        length: u64,
        align: u64,
    ) -> Result<u64, FindspaceErrorKind> {
        findspace(self.min, self.max, &self.ranges(), start, length, align)
    }

    /// `(start, last)` of `addr..addr+length` checked against wrap and bounds, in `u128`.
    fn range(&self, addr: u64, length: u64) -> Result<(u64, u64), RangeKind> {
        if length == 0 {
            return Err(RangeKind::ZeroLength);
        }
        let last = u128::from(addr) + u128::from(length) - 1;
        if last > u128::from(u64::MAX) {
            return Err(RangeKind::Wraps);
        }
        if addr < self.min || last > u128::from(self.max) {
            return Err(RangeKind::OutOfBounds);
        }
        Ok((addr, last as u64))
    }

    /// The lowest entry sharing a byte with `start..=last`.
    fn lowest_overlap(&self, start: u64, last: u64) -> Option<(u64, u64)> {
        self.ranges()
            .into_iter()
            .find(|&(s, l)| s <= last && start <= l)
    }

    /// Maps `addr..addr+length` with `tag`; returns `(start, last)`.
    pub fn map_fixed(
        &mut self,
        addr: u64,
        length: u64,
        tag: u64,
    ) -> Result<(u64, u64), MapFixedErrorKind> {
        let (start, last) = self.range(addr, length).map_err(|k| match k {
            RangeKind::ZeroLength => MapFixedErrorKind::ZeroLength,
            RangeKind::Wraps => MapFixedErrorKind::Wraps,
            RangeKind::OutOfBounds => MapFixedErrorKind::OutOfBounds,
        })?;
        if let Some((s, l)) = self.lowest_overlap(start, last) {
            return Err(MapFixedErrorKind::Overlap { start: s, last: l });
        }
        if self.entries.len() >= self.max_entries {
            return Err(MapFixedErrorKind::Full);
        }
        self.entries.push((start, last, tag));
        Ok((start, last))
    }

    /// Maps `length` bytes at `findspace(start, length, align)`; returns `(start, last)`.
    pub fn map_anywhere_from(
        &mut self,
        start: u64,
        length: u64,
        align: u64,
        tag: u64,
    ) -> Result<(u64, u64), MapAnywhereErrorKind> {
        let a = self.findspace(start, length, align).map_err(|k| match k {
            FindspaceErrorKind::ZeroLength => MapAnywhereErrorKind::ZeroLength,
            FindspaceErrorKind::ZeroAlign => MapAnywhereErrorKind::ZeroAlign,
            FindspaceErrorKind::NoSpace => MapAnywhereErrorKind::NoSpace,
        })?;
        if self.entries.len() >= self.max_entries {
            return Err(MapAnywhereErrorKind::Full);
        }
        let last = a + (length - 1); // findspace guarantees it fits below max
        self.entries.push((a, last, tag));
        Ok((a, last))
    }

    /// [`MapModel::map_anywhere_from`] with `start = min`.
    pub fn map_anywhere(
        &mut self,
        length: u64,
        align: u64,
        tag: u64,
    ) -> Result<(u64, u64), MapAnywhereErrorKind> {
        self.map_anywhere_from(self.min, length, align, tag)
    }

    /// Removes every entry inside `addr..addr+length`; returns them `(start, last, tag)`
    /// sorted by start.
    pub fn unmap(
        &mut self,
        addr: u64,
        length: u64,
    ) -> Result<Vec<(u64, u64, u64)>, UnmapErrorKind> {
        let (start, last) = self.range(addr, length).map_err(|k| match k {
            RangeKind::ZeroLength => UnmapErrorKind::ZeroLength,
            RangeKind::Wraps => UnmapErrorKind::Wraps,
            RangeKind::OutOfBounds => UnmapErrorKind::OutOfBounds,
        })?;
        let overlapping: Vec<(u64, u64, u64)> = self
            .sorted()
            .into_iter()
            .filter(|&(s, l, _)| s <= last && start <= l)
            .collect();
        if overlapping.is_empty() {
            return Err(UnmapErrorKind::NotMapped);
        }
        if let Some(&(s, l, _)) = overlapping.iter().find(|&&(s, l, _)| s < start || l > last) {
            return Err(UnmapErrorKind::Partial { start: s, last: l });
        }
        self.entries.retain(|&(s, l, _)| !(s <= last && start <= l));
        Ok(overlapping)
    }
}

/// Shared argument verdicts of map_fixed and unmap.
enum RangeKind {
    ZeroLength,
    Wraps,
    OutOfBounds,
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOP32: u64 = 0xFFFF_FFFF;

    #[test]
    fn occupancy_counts_gaps_between_and_around_entries() {
        let mut m = MapModel::new(0x10, 0x8f, 8);
        assert_eq!(m.occupancy(), (0, 1, 0, 0x80, 0x80));
        m.entries = vec![(0x40, 0x4f, 1), (0x10, 0x1f, 2), (0x50, 0x5f, 3)];
        // Gaps [0x20, 0x40) and [0x60, 0x90); the touching entries leave none between them.
        assert_eq!(m.occupancy(), (3, 2, 0x30, 0x50, 0x30));
        m.entries.push((0x60, 0x8f, 4));
        m.entries.push((0x20, 0x3f, 5));
        assert_eq!(m.occupancy(), (5, 0, 0x80, 0, 0));
        // The whole 64-bit space, in u128.
        let mut all = MapModel::new(0, u64::MAX, 1);
        assert_eq!(all.occupancy(), (0, 1, 0, 1 << 64, 1 << 64));
        all.entries.push((0, u64::MAX, 0));
        assert_eq!(all.occupancy(), (1, 0, 1 << 64, 0, 0));
    }

    #[test]
    fn findspace_basic_and_errors() {
        assert_eq!(
            findspace(0, 99, &[], 0, 0, 1),
            Err(FindspaceErrorKind::ZeroLength)
        );
        assert_eq!(
            findspace(0, 99, &[], 0, 1, 0),
            Err(FindspaceErrorKind::ZeroAlign)
        );
        assert_eq!(
            findspace(0, 99, &[], 0, 0, 0),
            Err(FindspaceErrorKind::ZeroLength)
        );
        assert_eq!(findspace(0, 99, &[], 0, 100, 1), Ok(0));
        assert_eq!(
            findspace(0, 99, &[], 0, 101, 1),
            Err(FindspaceErrorKind::NoSpace)
        );
        assert_eq!(findspace(0, 99, &[(0, 9)], 0, 10, 1), Ok(10));
        assert_eq!(findspace(0, 99, &[(0, 9)], 0, 10, 16), Ok(16));
        assert_eq!(findspace(0, 99, &[(0, 9)], 0, 10, 3), Ok(12));
        assert_eq!(findspace(10, 99, &[], 0, 1, 7), Ok(14));
        assert_eq!(
            findspace(10, 99, &[], 200, 1, 1),
            Err(FindspaceErrorKind::NoSpace)
        );
        // Unsorted and overlapping entries are fine.
        assert_eq!(
            findspace(0, 99, &[(50, 60), (0, 20), (10, 40)], 0, 9, 1),
            Ok(41)
        );
        assert_eq!(
            findspace(0, 99, &[(50, 60), (0, 20), (10, 40)], 0, 10, 1),
            Ok(61)
        );
    }

    #[test]
    fn findspace_at_the_top() {
        // Exactly the last 0x100 bytes of a 32-bit space (NetBSD's test).
        assert_eq!(
            findspace(0, TOP32, &[(0, 0xFFFF_FEFF)], 0, 0x100, 1),
            Ok(0xFFFF_FF00)
        );
        assert_eq!(
            findspace(0, TOP32, &[(0, 0xFFFF_FEFF)], 0, 0x101, 1),
            Err(FindspaceErrorKind::NoSpace)
        );
        // Rounding up past the top of a 32-bit map.
        assert_eq!(
            findspace(0, TOP32, &[(0, 0xF000_0000)], 0, 1, 0x1000_0000),
            Err(FindspaceErrorKind::NoSpace)
        );
        // 64 bits: rounding up past 2^64 and a block ending exactly at u64::MAX.
        let min = 0xFFFF_8000_0000_0000;
        assert_eq!(
            findspace(min, u64::MAX, &[(min, u64::MAX - 0x1000)], 0, 1, 1 << 63),
            Err(FindspaceErrorKind::NoSpace)
        );
        assert_eq!(
            findspace(
                min,
                u64::MAX,
                &[(min, u64::MAX - 0x1000)],
                0,
                0x1000,
                0x1000
            ),
            Ok(u64::MAX - 0xFFF)
        );
        assert_eq!(
            findspace(min, u64::MAX, &[(min, u64::MAX - 0x1000)], 0, 0x1001, 1),
            Err(FindspaceErrorKind::NoSpace)
        );
        assert_eq!(findspace(0, u64::MAX, &[], u64::MAX, 1, 1), Ok(u64::MAX));
        assert_eq!(
            findspace(0, u64::MAX, &[], u64::MAX, 2, 1),
            Err(FindspaceErrorKind::NoSpace)
        );
        assert_eq!(findspace(0, u64::MAX, &[], 0, u64::MAX, 1), Ok(0));
    }

    #[test]
    fn findspace_equals_byte_by_byte_scan() {
        // Brute force over a tiny space: every candidate, every byte.
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let min = next() % 16;
            let max = min + next() % 64;
            let n = (next() % 6) as usize;
            let entries: Vec<(u64, u64)> = (0..n)
                .map(|_| {
                    let s = next() % 80;
                    (s, s + next() % 12)
                })
                .collect();
            let (start, length, align) = (next() % 80, next() % 20, next() % 9);
            let expected = if length == 0 {
                Err(FindspaceErrorKind::ZeroLength)
            } else if align == 0 {
                Err(FindspaceErrorKind::ZeroAlign)
            } else {
                (start.max(min)..=max)
                    .find(|&a| {
                        a % align == 0
                            && a + length - 1 <= max
                            && (a..a + length)
                                .all(|b| !entries.iter().any(|&(s, l)| s <= b && b <= l))
                    })
                    .ok_or(FindspaceErrorKind::NoSpace)
            };
            assert_eq!(
                findspace(min, max, &entries, start, length, align),
                expected,
                "{min} {max} {entries:?} {start} {length} {align}"
            );
        }
    }

    #[test]
    fn map_model_verdicts() {
        let mut m = MapModel::new(0x1000, 0xFFFF, 3);
        assert_eq!(
            m.map_fixed(0x1000, 0, 1),
            Err(MapFixedErrorKind::ZeroLength)
        );
        assert_eq!(m.map_fixed(u64::MAX, 2, 1), Err(MapFixedErrorKind::Wraps));
        assert_eq!(
            m.map_fixed(0xFFFF, 2, 1),
            Err(MapFixedErrorKind::OutOfBounds)
        );
        assert_eq!(
            m.map_fixed(0, 0x1001, 1),
            Err(MapFixedErrorKind::OutOfBounds)
        );
        assert_eq!(m.map_fixed(0x2000, 0x1000, 1), Ok((0x2000, 0x2FFF)));
        assert_eq!(
            m.map_fixed(0x1800, 0x1000, 2),
            Err(MapFixedErrorKind::Overlap {
                start: 0x2000,
                last: 0x2FFF
            })
        );
        assert_eq!(m.map_anywhere(0x1000, 0x1000, 3), Ok((0x1000, 0x1FFF)));
        assert_eq!(m.map_anywhere(0x1000, 0x3000, 4), Ok((0x3000, 0x3FFF)));
        assert_eq!(
            m.map_anywhere(0x1000, 1, 5),
            Err(MapAnywhereErrorKind::Full)
        );
        assert_eq!(
            m.map_anywhere(0x10_0000, 1, 5),
            Err(MapAnywhereErrorKind::NoSpace)
        );
        assert_eq!(m.map_fixed(0x8000, 1, 5), Err(MapFixedErrorKind::Full));
        assert_eq!(m.unmap(0x8000, 1), Err(UnmapErrorKind::NotMapped));
        assert_eq!(
            m.unmap(0x1000, 0x1800),
            Err(UnmapErrorKind::Partial {
                start: 0x2000,
                last: 0x2FFF
            })
        );
        assert_eq!(
            m.unmap(0x1000, 0x2000),
            Ok(vec![(0x1000, 0x1FFF, 3), (0x2000, 0x2FFF, 1)])
        );
        assert_eq!(m.sorted(), vec![(0x3000, 0x3FFF, 4)]);
    }
}
