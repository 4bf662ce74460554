//! Flushes held back, and the stale translations they make legal.
//!
//! ## 1. The problem
//!
//! A kernel may put off a TLB shootdown. The `mmu` target's MMU hands back a flush token that
//! the caller applies when it likes; Linux's vmap allocator frees areas lazily and purges them
//! in batches, one flush of `[lowest start, highest end]` over every area freed since the last
//! purge. Until the flush is applied, a CPU may still translate through an entry it loaded
//! before the change: a *stale* hit, legal then and only then. A harness must tell that legal
//! staleness from a flush that covered the wrong range, without a TLB model of its own (the
//! oracles know no TLB, and an exact model would re-implement the replacement policy).
//!
//! The `mmu` target itself no longer needs this approximation: its oracle models every
//! CPU's TLB and predicts each stale hit exactly (`kvafuzz_oracles::mmu`, module `tlb`). It
//! still holds its tokens here; the vmap target, whose oracle has no TLB, uses the rest.
//!
//! ## 2. What is kept
//!
//! [`HeldFlushes`] keeps the flushes not yet applied, oldest first, each with its
//! [`FlushRange`] (the addresses it invalidates, in one space or in all of them) and the
//! caller's token, and the *fills*: every (CPU, page) that a successful access loaded. Every
//! TLB fill is such an access, and fills are never forgotten, so they are a superset of what
//! any TLB holds. A stale hit by CPU `c` in space `s` at address `a`, through an entry for
//! page `p`, is legal iff
//!
//! 1. a held range covers `a` in `s` ([`FlushRange::covers`]), and
//! 2. `c` filled `p` earlier
//!
//! ([`HeldFlushes::allows_stale`]); whether the entry's current translation matches the model
//! is the caller's to check. While a held flush concerns every space, or a space that still
//! exists, a TLB may disagree with the tables, so a whole-TLB coherence check has to wait
//! ([`HeldFlushes::pending`]). Applying the held flushes is the caller's
//! ([`HeldFlushes::release`] hands the tokens back); no flush is ever dropped.
//!
//! [`TlbDrop`] says what an explicit TLB operation on one CPU must have removed from that CPU's
//! TLB (INVLPG of an address or a range, a space's non-global entries, every non-global entry,
//! everything), to check against the entries left behind ([`CachedPage`]).
//!
//! ## 3. Units
//!
//! Spaces are address-space numbers (ASIDs) and CPUs are numbers, both `u32`. Addresses are
//! `u128`, as in the oracles, so that a range or a page ending at the top of a 64-bit space
//! needs no care; ranges are inclusive (`[start, last]`), pages are `[base, base + size)`.

use std::collections::BTreeSet;

/// Which address spaces a flush concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spaces {
    /// This space only.
    One(u32),
    /// Every space (a change to what they share, such as the kernel half).
    All,
}

/// The addresses a flush invalidates: `[start, last]` in `spaces`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlushRange {
    /// The spaces it concerns.
    pub spaces: Spaces,
    /// First address (inclusive).
    pub start: u128,
    /// Last address (inclusive).
    pub last: u128,
}

impl FlushRange {
    /// `true` iff the flush invalidates the translation of `addr` in `space`.
    pub fn covers(&self, space: u32, addr: u128) -> bool {
        (self.spaces == Spaces::All || self.spaces == Spaces::One(space))
            && self.start <= addr
            && addr <= self.last
    }
}

/// A page a TLB entry translates: `[base, base + size)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Page {
    /// First address.
    pub base: u128,
    /// Bytes (not 0).
    pub size: u128,
}

impl Page {
    /// The last address of the page.
    pub fn last(&self) -> u128 {
        self.base + (self.size - 1)
    }
}

/// Why a stale hit is not legal (the first condition of section 2 that fails).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unexplained {
    /// No held flush covers the address in that space.
    NotHeld,
    /// That CPU never filled that page.
    NotFilled,
}

impl Unexplained {
    /// The reason, as a trace or finding says it.
    pub fn reason(self) -> &'static str {
        match self {
            Unexplained::NotHeld => "no held flush covers it",
            Unexplained::NotFilled => "no earlier access on that CPU loaded that page",
        }
    }
}

/// Flushes held back (with the caller's token `T` for each) and the TLB fills that decide
/// which stale hits they make legal (module comment, section 2).
#[derive(Clone, Debug)]
pub struct HeldFlushes<T> {
    /// Held tokens with what they invalidate, oldest first.
    held: Vec<(T, FlushRange)>,
    /// (CPU, page) of every fill; never shrunk.
    filled: BTreeSet<(u32, Page)>,
}

impl<T> Default for HeldFlushes<T> {
    fn default() -> HeldFlushes<T> {
        HeldFlushes {
            held: Vec::new(),
            filled: BTreeSet::new(),
        }
    }
}

impl<T> HeldFlushes<T> {
    /// None held, nothing filled.
    pub fn new() -> HeldFlushes<T> {
        HeldFlushes::default()
    }

    /// Holds `token`, which invalidates `range` once applied.
    pub fn hold(&mut self, token: T, range: FlushRange) {
        self.held.push((token, range));
    }

    /// Every held token, oldest first, for the caller to apply; none is held afterwards.
    pub fn release(&mut self) -> Vec<T> {
        std::mem::take(&mut self.held)
            .into_iter()
            .map(|(token, _)| token)
            .collect()
    }

    /// `true` iff a held flush may leave a stale entry that a whole-TLB coherence check would
    /// see: one for every space, or for a space that `exists` (a destroyed space's entries
    /// can never be hit again).
    pub fn pending(&self, exists: impl Fn(u32) -> bool) -> bool {
        self.held.iter().any(|(_, r)| match r.spaces {
            Spaces::All => true,
            Spaces::One(s) => exists(s),
        })
    }

    /// Records that `cpu` loaded `page` into its TLB (a successful access).
    pub fn record_fill(&mut self, cpu: u32, page: Page) {
        self.filled.insert((cpu, page));
    }

    /// Whether a stale hit by `cpu` in `space` at `addr`, through an entry for `page`, is
    /// legal: conditions 1 and 2 of section 2, or the first that fails.
    pub fn allows_stale(
        &self,
        cpu: u32,
        space: u32,
        addr: u128,
        page: Page,
    ) -> Result<(), Unexplained> {
        if !self.held.iter().any(|(_, r)| r.covers(space, addr)) {
            return Err(Unexplained::NotHeld);
        }
        if !self.filled.contains(&(cpu, page)) {
            return Err(Unexplained::NotFilled);
        }
        Ok(())
    }
}

/// A TLB entry as [`TlbDrop`] judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CachedPage {
    /// The space that loaded it (a global entry serves every space).
    pub space: u32,
    /// The page it translates.
    pub page: Page,
    /// Global: it survives space switches and non-global flushes.
    pub global: bool,
}

/// What an explicit TLB operation on one CPU must drop from that CPU's TLB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlbDrop {
    /// Every entry of the space, and every global entry, whose page overlaps
    /// `[start, last]` anywhere, not only at its base (INVLPG of one address, or over a
    /// range).
    Range {
        /// The space.
        space: u32,
        /// First address (inclusive).
        start: u128,
        /// Last address (inclusive).
        last: u128,
    },
    /// Every non-global entry of the space.
    Space(u32),
    /// Every non-global entry.
    NonGlobal,
    /// Everything.
    All,
}

impl TlbDrop {
    /// `true` iff the operation must drop `e`.
    pub fn drops(&self, e: &CachedPage) -> bool {
        match *self {
            TlbDrop::Range { space, start, last } => {
                (e.global || e.space == space) && e.page.base <= last && start <= e.page.last()
            }
            TlbDrop::Space(space) => !e.global && e.space == space,
            TlbDrop::NonGlobal => !e.global,
            TlbDrop::All => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K4: u128 = 0x1000;
    const M2: u128 = 0x20_0000;

    fn one(space: u32, start: u128, last: u128) -> FlushRange {
        FlushRange {
            spaces: Spaces::One(space),
            start,
            last,
        }
    }

    fn page(base: u128, size: u128) -> Page {
        Page { base, size }
    }

    #[test]
    fn a_range_covers_its_space_or_all_and_both_ends() {
        let r = one(3, 0x1000, 0x1fff);
        assert!(r.covers(3, 0x1000) && r.covers(3, 0x1fff));
        assert!(!r.covers(3, 0xfff) && !r.covers(3, 0x2000));
        assert!(!r.covers(4, 0x1000), "another space");
        let all = FlushRange {
            spaces: Spaces::All,
            ..r
        };
        assert!(all.covers(4, 0x1800) && all.covers(0, 0x1000));
        let top = one(1, 0, u128::from(u64::MAX));
        assert!(top.covers(1, u128::from(u64::MAX)));
    }

    #[test]
    fn held_flushes_are_released_oldest_first_and_then_nothing_is_pending() {
        let mut h = HeldFlushes::new();
        assert!(!h.pending(|_| true));
        h.hold("a", one(1, 0, K4 - 1));
        h.hold("b", one(2, 0, K4 - 1));
        assert!(h.pending(|s| s == 2), "space 2 still exists");
        assert!(!h.pending(|_| false), "both spaces destroyed");
        assert_eq!(h.release(), ["a", "b"]);
        assert!(h.release().is_empty());
        assert!(!h.pending(|_| true));
        h.hold(
            "kernel",
            FlushRange {
                spaces: Spaces::All,
                start: 0,
                last: K4 - 1,
            },
        );
        assert!(h.pending(|_| false), "every space: always pending");
    }

    #[test]
    fn a_stale_hit_needs_a_held_range_and_an_earlier_fill_on_that_cpu() {
        let mut h = HeldFlushes::new();
        let p = page(0x4000, K4);
        assert_eq!(h.allows_stale(0, 1, 0x4010, p), Err(Unexplained::NotHeld));
        h.record_fill(0, p);
        assert_eq!(h.allows_stale(0, 1, 0x4010, p), Err(Unexplained::NotHeld));
        h.hold((), one(1, 0x4000, 0x4fff));
        assert_eq!(h.allows_stale(0, 1, 0x4010, p), Ok(()));
        assert_eq!(h.allows_stale(0, 2, 0x4010, p), Err(Unexplained::NotHeld));
        assert_eq!(
            h.allows_stale(1, 1, 0x4010, p),
            Err(Unexplained::NotFilled),
            "another CPU"
        );
        assert_eq!(
            h.allows_stale(0, 1, 0x4010, page(0x4000, M2)),
            Err(Unexplained::NotFilled),
            "another page size"
        );
        h.release();
        assert_eq!(h.allows_stale(0, 1, 0x4010, p), Err(Unexplained::NotHeld));
        h.hold((), one(1, 0x4000, 0x4fff));
        assert_eq!(h.allows_stale(0, 1, 0x4010, p), Ok(()), "fills are kept");
        assert_ne!(
            Unexplained::NotHeld.reason(),
            Unexplained::NotFilled.reason()
        );
    }

    #[test]
    fn a_batched_purge_holds_the_hull_of_the_freed_areas() {
        // The lazy purge of a vmap-like allocator: two areas freed apart, one flush of
        // [lowest start, highest last] in every space; a page between them is covered too.
        let mut h = HeldFlushes::new();
        let (a, b) = (page(0x10_0000, 2 * K4), page(0x40_0000, K4));
        h.record_fill(1, a);
        h.record_fill(1, page(0x20_0000, K4));
        h.hold(
            7u32,
            FlushRange {
                spaces: Spaces::All,
                start: a.base,
                last: b.last(),
            },
        );
        assert_eq!(h.allows_stale(1, 0, a.base + K4, a), Ok(()));
        assert_eq!(h.allows_stale(1, 9, 0x20_0000, page(0x20_0000, K4)), Ok(()));
        assert_eq!(
            h.allows_stale(1, 0, b.last() + 1, b),
            Err(Unexplained::NotHeld)
        );
        assert_eq!(h.allows_stale(1, 0, b.base, b), Err(Unexplained::NotFilled));
        assert_eq!(h.release(), [7]);
    }

    #[test]
    fn tlb_drops_follow_space_and_global_rules() {
        let entry = |space, base, size, global| CachedPage {
            space,
            page: page(base, size),
            global,
        };
        let large = entry(1, 0x20_0000, M2, false);
        let global = entry(2, 0x1000, K4, true);
        let other = entry(2, 0x1000, K4, false);
        let invlpg = TlbDrop::Range {
            space: 1,
            start: 0x3f_f000,
            last: 0x3f_f000,
        };
        assert!(
            invlpg.drops(&large),
            "a large page overlapping the range anywhere"
        );
        let range = TlbDrop::Range {
            space: 1,
            start: 0,
            last: 0x1000,
        };
        assert!(range.drops(&global) && !range.drops(&other) && !range.drops(&large));
        assert!(TlbDrop::Space(2).drops(&other) && !TlbDrop::Space(2).drops(&global));
        assert!(!TlbDrop::Space(1).drops(&other));
        assert!(TlbDrop::NonGlobal.drops(&large) && !TlbDrop::NonGlobal.drops(&global));
        assert!([large, global, other].iter().all(|e| TlbDrop::All.drops(e)));
    }
}
