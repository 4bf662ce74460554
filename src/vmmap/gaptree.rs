//! The gap index: an AVL tree of the *gaps* of a [`VmMap`](super::VmMap), keyed by the gap's
//! first address, each node augmented with the size of the largest gap in its subtree.
//!
//! This is the Linux 2019 layout (free space in an augmented tree keyed by start, each node
//! holding `subtree_max_size`), built as an arena of nodes (`Vec<Node>`, children as `u32`
//! indices, [`NIL`] for "no child", freed slots recycled through a free list) so that it is
//! safe Rust without reference counting.
//!
//! Invariants (checked from scratch by [`GapTree::check`]):
//!
//! * **order**: an in-order walk yields the gaps in increasing address order;
//! * **augment**: `node.max_gap == max(node.gap.size(), max_gap(left), max_gap(right))`, with
//!   `max_gap(NIL) == 0`;
//! * **balance**: `node.height == 1 + max(height(left), height(right))` with `height(NIL) == 0`,
//!   and the two child heights differ by at most 1, so the height is at most
//!   `1.44 * log2(n + 2)` (about 29 for [`MAX_ENTRIES`](super::MAX_ENTRIES) + 1 gaps, which is
//!   why a `u8` holds it and why the recursive routines below cannot overflow the stack);
//! * **accounting**: the nodes reachable from the root number exactly `len`, and
//!   `len + free.len() == nodes.len()`.

use alloc::vec;
use alloc::vec::Vec;

use super::align::Align;
use crate::addr::{last_of, Range};

/// The null child index. Safe as a sentinel because the arena never grows to `u32::MAX` nodes:
/// it holds at most `MAX_ENTRIES + 1` gaps (see [`super::MAX_ENTRIES`]).
const NIL: u32 = u32::MAX;

/// One gap of the map.
#[derive(Clone, Copy, Debug)]
struct Node {
    /// The free range (first and last byte, both inclusive).
    gap: Range,
    /// Left child (gaps below `gap`), or [`NIL`].
    left: u32,
    /// Right child (gaps above `gap`), or [`NIL`].
    right: u32,
    /// Height of the subtree rooted here; a leaf has height 1.
    height: u8,
    /// The largest `gap.size()` in the subtree rooted here.
    max_gap: u64,
}

/// What the gap tree's own structural check found wrong (wrapped by
/// [`InvariantError::GapTree`](super::InvariantError::GapTree)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapTreeError {
    /// A node's stored subtree max-gap differs from the value recomputed from scratch.
    MaxGap {
        /// The gap the node stands for.
        gap: Range,
        /// The stored value.
        stored: u64,
        /// The recomputed value.
        actual: u64,
    },
    /// A node's stored height differs from the recomputed height.
    Height {
        /// The gap the node stands for.
        gap: Range,
        /// The stored height.
        stored: u8,
        /// The recomputed height.
        actual: u32,
    },
    /// A node's children differ in height by more than one.
    Unbalanced {
        /// The gap the node stands for.
        gap: Range,
    },
    /// The free-slot list names a slot past the arena, or one slot twice (two insertions
    /// would get the same slot).
    BadFreeList {
        /// The slot.
        slot: u32,
    },
    /// A node reachable from the root sits on the free-slot list (the next insertion would
    /// overwrite a live gap).
    ReachableFreeSlot {
        /// Its slot.
        slot: u32,
    },
    /// The number of reachable nodes, `len` and the arena size disagree.
    Count {
        /// Nodes reachable from the root.
        reachable: usize,
        /// The recorded number of gaps.
        len: usize,
        /// Arena slots minus free slots.
        live_slots: usize,
    },
}

/// The AVL tree of gaps (see the module comment).
#[derive(Clone, Debug)]
pub(crate) struct GapTree {
    /// Arena of nodes; slots listed in `free` are unused.
    nodes: Vec<Node>,
    /// Recycled arena slots.
    free: Vec<u32>,
    /// Root node, or [`NIL`] when there is no gap (the map is full).
    root: u32,
    /// Number of gaps in the tree.
    len: usize,
}

impl GapTree {
    /// An empty tree.
    pub(crate) const fn new() -> GapTree {
        GapTree {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
            len: 0,
        }
    }

    /// Number of gaps.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Size of the largest gap (0 if there is none), in O(1).
    pub(crate) fn largest(&self) -> u64 {
        self.max_gap(self.root)
    }

    fn height(&self, i: u32) -> u8 {
        if i == NIL {
            0
        } else {
            self.nodes[i as usize].height
        }
    }

    fn max_gap(&self, i: u32) -> u64 {
        if i == NIL {
            0
        } else {
            self.nodes[i as usize].max_gap
        }
    }

    /// Recomputes `height` and `max_gap` of node `i` from its children.
    fn pull(&mut self, i: u32) {
        let Node {
            gap, left, right, ..
        } = self.nodes[i as usize];
        let height = 1 + self.height(left).max(self.height(right));
        let max_gap = gap.size().max(self.max_gap(left)).max(self.max_gap(right));
        let n = &mut self.nodes[i as usize];
        n.height = height;
        n.max_gap = max_gap;
    }

    fn rotate_right(&mut self, i: u32) -> u32 {
        let l = self.nodes[i as usize].left;
        self.nodes[i as usize].left = self.nodes[l as usize].right;
        self.nodes[l as usize].right = i;
        self.pull(i);
        self.pull(l);
        l
    }

    fn rotate_left(&mut self, i: u32) -> u32 {
        let r = self.nodes[i as usize].right;
        self.nodes[i as usize].right = self.nodes[r as usize].left;
        self.nodes[r as usize].left = i;
        self.pull(i);
        self.pull(r);
        r
    }

    /// Restores the AVL balance at `i` (whose subtrees are balanced and differ in height by at
    /// most 2) and refreshes its augment; returns the new subtree root.
    fn rebalance(&mut self, i: u32) -> u32 {
        self.pull(i);
        let Node { left, right, .. } = self.nodes[i as usize];
        let (hl, hr) = (self.height(left), self.height(right));
        if hl > hr + 1 {
            let l = self.nodes[left as usize];
            if self.height(l.left) < self.height(l.right) {
                self.nodes[i as usize].left = self.rotate_left(left);
            }
            self.rotate_right(i)
        } else if hr > hl + 1 {
            let r = self.nodes[right as usize];
            if self.height(r.right) < self.height(r.left) {
                self.nodes[i as usize].right = self.rotate_right(right);
            }
            self.rotate_left(i)
        } else {
            i
        }
    }

    fn alloc(&mut self, gap: Range) -> u32 {
        let node = Node {
            gap,
            left: NIL,
            right: NIL,
            height: 1,
            max_gap: gap.size(),
        };
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                // Cannot reach NIL: at most MAX_ENTRIES + 1 gaps are ever live.
                let i = self.nodes.len() as u32;
                self.nodes.push(node);
                i
            }
        }
    }

    /// Inserts `gap`; returns `false` (and changes nothing) if a gap with the same start is
    /// already present.
    pub(crate) fn insert(&mut self, gap: Range) -> bool {
        let mut inserted = false;
        self.root = self.insert_at(self.root, gap, &mut inserted);
        if inserted {
            self.len += 1;
        }
        inserted
    }

    fn insert_at(&mut self, i: u32, gap: Range, inserted: &mut bool) -> u32 {
        if i == NIL {
            *inserted = true;
            return self.alloc(gap);
        }
        let key = self.nodes[i as usize].gap.start();
        if gap.start() < key {
            let l = self.insert_at(self.nodes[i as usize].left, gap, inserted);
            self.nodes[i as usize].left = l;
        } else if gap.start() > key {
            let r = self.insert_at(self.nodes[i as usize].right, gap, inserted);
            self.nodes[i as usize].right = r;
        } else {
            return i;
        }
        self.rebalance(i)
    }

    /// Removes the gap starting at `start`; returns it, or `None` if there is none.
    pub(crate) fn remove(&mut self, start: u64) -> Option<Range> {
        let mut removed = None;
        self.root = self.remove_at(self.root, start, &mut removed);
        if removed.is_some() {
            self.len -= 1;
        }
        removed
    }

    fn remove_at(&mut self, i: u32, start: u64, removed: &mut Option<Range>) -> u32 {
        if i == NIL {
            return NIL;
        }
        let Node {
            gap, left, right, ..
        } = self.nodes[i as usize];
        if start < gap.start() {
            let l = self.remove_at(left, start, removed);
            self.nodes[i as usize].left = l;
        } else if start > gap.start() {
            let r = self.remove_at(right, start, removed);
            self.nodes[i as usize].right = r;
        } else {
            *removed = Some(gap);
            self.free.push(i);
            if left == NIL {
                return right;
            }
            if right == NIL {
                return left;
            }
            // Two children: the in-order successor (minimum of the right subtree) takes i's place.
            let (rest, succ) = self.take_min(right);
            self.nodes[succ as usize].left = left;
            self.nodes[succ as usize].right = rest;
            return self.rebalance(succ);
        }
        self.rebalance(i)
    }

    /// Detaches the minimum node of subtree `i` (not NIL); returns (new subtree root, detached).
    fn take_min(&mut self, i: u32) -> (u32, u32) {
        let Node { left, right, .. } = self.nodes[i as usize];
        if left == NIL {
            return (right, i);
        }
        let (rest, min) = self.take_min(left);
        self.nodes[i as usize].left = rest;
        (self.rebalance(i), min)
    }

    /// The lowest `a >= lo` that is a multiple of `align` and such that `[a, a + length - 1]`
    /// lies inside one gap, or `None`. `length >= 1`; `prune` is `length` (a seeded bug passes
    /// more).
    ///
    /// Pruning: a subtree is skipped iff its largest gap is shorter than `prune` (then no gap
    /// in it can hold the block, aligned or not), or iff all its gaps end below `lo`. A gap of
    /// size `>= length` may still fail the alignment (a gap of size `>= length + align - 1`
    /// never does), so every surviving candidate gap is verified exactly; padding the request
    /// to `length + align - 1` instead would miss exact aligned fits (ANCHORS #6). In the worst
    /// case (many gaps just too small once aligned) this visits every gap; typically it visits
    /// O(log n) nodes.
    pub(crate) fn lowest_fit(&self, lo: u64, length: u64, align: Align, prune: u64) -> Option<u64> {
        self.fit_in(self.root, lo, length, align, prune)
    }

    fn fit_in(&self, i: u32, lo: u64, length: u64, align: Align, prune: u64) -> Option<u64> {
        if i == NIL {
            return None;
        }
        let n = &self.nodes[i as usize];
        if n.max_gap < prune {
            return None;
        }
        if n.gap.last() >= lo {
            // Left gaps all end below n.gap.start(); they matter only if that is above lo.
            if n.gap.start() > lo {
                if let Some(a) = self.fit_in(n.left, lo, length, align, prune) {
                    return Some(a);
                }
            }
            if let Some(a) = fit_in_gap(n.gap, lo, length, align) {
                return Some(a);
            }
        }
        // Otherwise this gap and every gap left of it end below lo.
        self.fit_in(n.right, lo, length, align, prune)
    }

    /// The gaps in address order.
    pub(crate) fn gaps(&self) -> Vec<Range> {
        let mut out = Vec::with_capacity(self.len);
        // Iterative in-order walk (explicit stack bounded by the height).
        let mut stack: Vec<u32> = Vec::new();
        let mut cur = self.root;
        while cur != NIL || !stack.is_empty() {
            while cur != NIL {
                stack.push(cur);
                cur = self.nodes[cur as usize].left;
            }
            if let Some(i) = stack.pop() {
                out.push(self.nodes[i as usize].gap);
                cur = self.nodes[i as usize].right;
            }
        }
        out
    }

    /// Checks the augment, balance and accounting invariants from scratch (the order invariant
    /// is checked by the caller against the gaps it expects, via [`GapTree::gaps`]).
    pub(crate) fn check(&self) -> Result<(), GapTreeError> {
        let mut reachable = 0usize;
        let mut free = vec![false; self.nodes.len()];
        for &f in &self.free {
            match free.get_mut(f as usize) {
                Some(listed) if !*listed => *listed = true,
                _ => return Err(GapTreeError::BadFreeList { slot: f }),
            }
        }
        self.check_at(self.root, &mut reachable, &free)?;
        let live_slots = self.nodes.len() - self.free.len();
        if reachable != self.len || live_slots != self.len {
            return Err(GapTreeError::Count {
                reachable,
                len: self.len,
                live_slots,
            });
        }
        Ok(())
    }

    /// Returns (height, max gap) of subtree `i`, both recomputed from scratch.
    fn check_at(
        &self,
        i: u32,
        reachable: &mut usize,
        free: &[bool],
    ) -> Result<(u32, u64), GapTreeError> {
        if i == NIL {
            return Ok((0, 0));
        }
        *reachable += 1;
        if *reachable > self.nodes.len() {
            // A cycle: report it as a count mismatch rather than recursing forever.
            return Err(GapTreeError::Count {
                reachable: *reachable,
                len: self.len,
                live_slots: self.nodes.len() - self.free.len(),
            });
        }
        if free[i as usize] {
            return Err(GapTreeError::ReachableFreeSlot { slot: i });
        }
        let n = &self.nodes[i as usize];
        let (hl, ml) = self.check_at(n.left, reachable, free)?;
        let (hr, mr) = self.check_at(n.right, reachable, free)?;
        let height = 1 + hl.max(hr);
        let max_gap = n.gap.size().max(ml).max(mr);
        if u32::from(n.height) != height {
            return Err(GapTreeError::Height {
                gap: n.gap,
                stored: n.height,
                actual: height,
            });
        }
        if n.max_gap != max_gap {
            return Err(GapTreeError::MaxGap {
                gap: n.gap,
                stored: n.max_gap,
                actual: max_gap,
            });
        }
        if hl.abs_diff(hr) > 1 {
            return Err(GapTreeError::Unbalanced { gap: n.gap });
        }
        Ok((height, max_gap))
    }
}

/// The lowest aligned `a >= max(gap.start, lo)` with `[a, a + length - 1]` inside `gap`.
fn fit_in_gap(gap: Range, lo: u64, length: u64, align: Align) -> Option<u64> {
    let a = align.round_up(gap.start().max(lo))?; // rounding up wrapped: nothing fits above
    let last = last_of(a, length)?; // end wrapped
    (last <= gap.last()).then_some(a) // end past the gap (so possibly past the map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, last: u64) -> Range {
        Range::from_inclusive(start, last).unwrap()
    }

    #[test]
    fn insert_remove_keeps_balance_and_augment() {
        let mut t = GapTree::new();
        // Gaps [10k, 10k + size - 1] with sizes varying, inserted in a scrambled order.
        let n = 2000u64;
        let mut k = 0u64;
        for _ in 0..n {
            k = (k + 769) % n; // 769 is coprime with 2000: a permutation
            assert!(t.insert(r(k * 10, k * 10 + (k % 7))));
            t.check().unwrap();
        }
        assert!(!t.insert(r(0, 3)), "duplicate start must be refused");
        assert_eq!(t.len(), n as usize);
        assert_eq!(t.largest(), 7);
        let gaps = t.gaps();
        assert!(gaps.windows(2).all(|w| w[0].start() < w[1].start()));
        for k in (0..n).filter(|k| k % 3 != 0) {
            assert_eq!(t.remove(k * 10), Some(r(k * 10, k * 10 + (k % 7))));
        }
        t.check().unwrap();
        assert_eq!(t.remove(10), None);
        assert_eq!(t.len(), (n as usize).div_ceil(3));
        // Lowest fit of 7 bytes: gap k with k % 7 == 6 and k % 3 == 0, i.e. k = 6.
        assert_eq!(t.lowest_fit(0, 7, Align::BYTE, 7), Some(60));
        assert_eq!(t.lowest_fit(61, 7, Align::BYTE, 7), Some(270)); // k = 27
        assert_eq!(t.lowest_fit(0, 8, Align::BYTE, 8), None);
        // Slots are recycled.
        let slots = t.nodes.len();
        assert!(t.insert(r(1, 2)));
        assert_eq!(t.nodes.len(), slots);
        t.check().unwrap();
    }

    #[test]
    fn alignment_is_verified_not_assumed() {
        let mut t = GapTree::new();
        // A 16-byte gap at 4..=19 holds 16 bytes only unaligned; with align 16 the lowest fit
        // is in the later gap 64..=79 even though both have max size 16.
        t.insert(r(4, 19));
        t.insert(r(64, 79));
        assert_eq!(t.lowest_fit(0, 16, Align::BYTE, 16), Some(4));
        assert_eq!(t.lowest_fit(0, 16, Align::new(16).unwrap(), 16), Some(64));
        assert_eq!(t.lowest_fit(0, 16, Align::new(3).unwrap(), 16), None);
        assert_eq!(t.lowest_fit(0, 12, Align::new(3).unwrap(), 12), Some(6));
        assert_eq!(t.lowest_fit(5, 15, Align::BYTE, 15), Some(5));
        assert_eq!(t.lowest_fit(5, 16, Align::BYTE, 16), Some(64));
    }

    #[test]
    fn every_check_can_fail() {
        use super::super::{InvariantError, VmMap};
        use crate::addr::Arch;
        use GapTreeError as E;
        // The gaps of [0x1000, 0x7fff] with entries at 0x2000 and 0x4000 (one page each):
        // g0 (node 0) and g2 (node 2) below and above g1 (node 1, the root).
        let mut healthy = VmMap::new(Arch::Ia32, 0x1000, 0x7FFF).unwrap();
        healthy.map_fixed(0x2000, 0x1000, 0).unwrap();
        healthy.map_fixed(0x4000, 0x1000, 0).unwrap();
        healthy.check_invariants().unwrap();
        let (g0, g1, g2) = (r(0x1000, 0x1FFF), r(0x3000, 0x3FFF), r(0x5000, 0x7FFF));
        let t = &healthy.gaps;
        assert_eq!([0, 1, 2].map(|i| t.nodes[i].gap), [g0, g1, g2]);
        assert_eq!((t.root, t.nodes[1].left, t.nodes[1].right), (1, 0, 2));
        assert_eq!((t.nodes.len(), t.free.len(), t.len), (3, 0, 3));

        // `VmMap::check_invariants` runs the tree's own check before it lists the gaps, and
        // reports what that check found.
        type Corrupt = fn(&mut GapTree);
        let cases: [(GapTreeError, Corrupt); 9] = [
            // A leaf's height (checked before the max-gap, children before parents).
            (
                E::Height {
                    gap: g2,
                    stored: 2,
                    actual: 1,
                },
                |t| t.nodes[2].height = 2,
            ),
            // The root's max-gap missing its right subtree's largest gap.
            (
                E::MaxGap {
                    gap: g1,
                    stored: 0x1000,
                    actual: 0x3000,
                },
                |t| t.nodes[1].max_gap = 0x1000,
            ),
            // A rotation to the chain g0 -> g1 -> g2 with exact heights and max-gaps (g1
            // keeps height 2 and max-gap 0x3000), but not rebalanced.
            (E::Unbalanced { gap: g0 }, |t| {
                t.root = 0;
                t.nodes[0].right = 1;
                t.nodes[1].left = NIL;
                t.nodes[0].height = 3;
                t.nodes[0].max_gap = 0x3000;
            }),
            // `len` off by one; a slot neither live nor free (leaked).
            (
                E::Count {
                    reachable: 3,
                    len: 4,
                    live_slots: 3,
                },
                |t| t.len += 1,
            ),
            (
                E::Count {
                    reachable: 3,
                    len: 3,
                    live_slots: 4,
                },
                |t| {
                    let n = t.nodes[0];
                    t.nodes.push(n);
                },
            ),
            // The free-slot list naming a slot twice, or a slot past the arena (with the
            // counts kept right, fewer live slots could only come from these or the next case).
            (E::BadFreeList { slot: 3 }, |t| {
                let n = t.nodes[0];
                t.nodes.extend([n, n]);
                t.free.extend([3, 3]);
            }),
            (E::BadFreeList { slot: 7 }, |t| {
                let n = t.nodes[0];
                t.nodes.push(n);
                t.free.push(7);
            }),
            // A live slot on the free list, and a leaked one that keeps the counts right.
            (E::ReachableFreeSlot { slot: 0 }, |t| {
                t.free.push(0);
                let n = t.nodes[0];
                t.nodes.push(n);
            }),
            // A cycle: g2's right child back to the root. Listing the gaps would never
            // return; the check's walk stops once it has seen more nodes than there are.
            (
                E::Count {
                    reachable: 4,
                    len: 3,
                    live_slots: 3,
                },
                |t| t.nodes[2].right = 1,
            ),
        ];
        for (i, (expected, corrupt)) in cases.into_iter().enumerate() {
            let mut m = healthy.clone();
            corrupt(&mut m.gaps);
            assert_eq!(m.gaps.check(), Err(expected), "case {i}");
            assert_eq!(
                m.check_invariants(),
                Err(InvariantError::GapTree(expected)),
                "case {i}"
            );
        }
    }
}
