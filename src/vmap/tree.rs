//! The 2019 free-space tree (module comment, section 5): an AVL tree over the FREE blocks,
//! keyed by start, each node holding the largest `last - start` of its subtree; lowest fit
//! by a descent that prunes subtrees too small for the request; the four split cases on
//! allocation; merging with the neighbours when purged ranges come back.
//!
//! Nodes live in a `Vec` and link by index (`NIL` is "none"); freed slots are reused. Every
//! operation is recursive along one root-to-leaf path, whose length is at most
//! 1.44 log2(blocks + 2): about 30 at 10^6 blocks.

use alloc::vec::Vec;

use super::types::{align_up_wide, Checked, InvariantError};

/// "No node".
const NIL: usize = usize::MAX;

/// One free block `[start, last]` (both inclusive, never empty) and its subtree's summary.
#[derive(Clone, Copy, Debug)]
struct Node {
    /// First free address (inclusive): the key.
    start: u64,
    /// Last free address (inclusive).
    last: u64,
    /// Left child (lower blocks) or NIL.
    left: usize,
    /// Right child (higher blocks) or NIL.
    right: usize,
    /// Height of the subtree (a leaf is 1).
    height: u32,
    /// The largest `last - start` in the subtree: its largest block size minus one (a
    /// block may hold 2^64 bytes, so the size itself does not fit a `u64`).
    max_m1: u64,
}

/// How an allocation cuts the free block it was found in (Linux's `fit_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FitType {
    /// The allocation is the whole block: the node goes.
    Whole,
    /// It starts at the block's start: the block keeps its end.
    LeftEdge,
    /// It ends at the block's end: the block keeps its start.
    RightEdge,
    /// Free space remains on both sides: the block keeps its start, a new node takes the
    /// rest above.
    Middle,
}

/// The free blocks of a space.
#[derive(Clone, Debug)]
pub(super) struct FreeTree {
    /// Node slab.
    nodes: Vec<Node>,
    /// Slab slots not in use.
    spare: Vec<usize>,
    /// The root, or NIL if nothing is free.
    root: usize,
    /// Nodes in the tree.
    len: usize,
}

impl FreeTree {
    /// A tree holding the single block `[start, last]`.
    pub(super) fn new(start: u64, last: u64) -> FreeTree {
        let mut t = FreeTree {
            nodes: Vec::new(),
            spare: Vec::new(),
            root: NIL,
            len: 0,
        };
        t.root = t.insert_at(NIL, start, last);
        t
    }

    fn height(&self, n: usize) -> u32 {
        self.nodes.get(n).map_or(0, |x| x.height)
    }

    /// The subtree's largest block size minus one, `None` for an empty subtree.
    fn max_m1(&self, n: usize) -> Option<u64> {
        self.nodes.get(n).map(|x| x.max_m1)
    }

    /// Recomputes `n`'s height and subtree maximum from its children.
    fn update(&mut self, n: usize) {
        let Some(&x) = self.nodes.get(n) else { return };
        let h = 1 + self.height(x.left).max(self.height(x.right));
        let m = (x.last - x.start)
            .max(self.max_m1(x.left).unwrap_or(0))
            .max(self.max_m1(x.right).unwrap_or(0));
        let node = &mut self.nodes[n];
        node.height = h;
        node.max_m1 = m;
    }

    fn rotate_right(&mut self, n: usize) -> usize {
        let l = self.nodes[n].left;
        self.nodes[n].left = self.nodes[l].right;
        self.nodes[l].right = n;
        self.update(n);
        self.update(l);
        l
    }

    fn rotate_left(&mut self, n: usize) -> usize {
        let r = self.nodes[n].right;
        self.nodes[n].right = self.nodes[r].left;
        self.nodes[r].left = n;
        self.update(n);
        self.update(r);
        r
    }

    /// Updates `n` and restores the AVL balance at it; returns the subtree's new root.
    fn rebalance(&mut self, n: usize) -> usize {
        self.update(n);
        let (l, r) = (self.nodes[n].left, self.nodes[n].right);
        let (hl, hr) = (self.height(l), self.height(r));
        if hl > hr + 1 {
            let ll = self.nodes[l].left;
            let lr = self.nodes[l].right;
            if self.height(lr) > self.height(ll) {
                self.nodes[n].left = self.rotate_left(l);
            }
            self.rotate_right(n)
        } else if hr > hl + 1 {
            let rl = self.nodes[r].left;
            let rr = self.nodes[r].right;
            if self.height(rl) > self.height(rr) {
                self.nodes[n].right = self.rotate_right(r);
            }
            self.rotate_left(n)
        } else {
            n
        }
    }

    fn new_node(&mut self, start: u64, last: u64) -> usize {
        let node = Node {
            start,
            last,
            left: NIL,
            right: NIL,
            height: 1,
            max_m1: last - start,
        };
        self.len += 1;
        match self.spare.pop() {
            Some(i) => {
                self.nodes[i] = node;
                i
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        }
    }

    /// Inserts the block `[start, last]` into the subtree `n`; returns its new root.
    fn insert_at(&mut self, n: usize, start: u64, last: u64) -> usize {
        if n == NIL {
            return self.new_node(start, last);
        }
        if start < self.nodes[n].start {
            let l = self.insert_at(self.nodes[n].left, start, last);
            self.nodes[n].left = l;
        } else {
            let r = self.insert_at(self.nodes[n].right, start, last);
            self.nodes[n].right = r;
        }
        self.rebalance(n)
    }

    /// Removes the lowest node of the subtree `n`; returns (new root, removed node).
    fn take_min(&mut self, n: usize) -> (usize, usize) {
        let l = self.nodes[n].left;
        if l == NIL {
            return (self.nodes[n].right, n);
        }
        let (nl, min) = self.take_min(l);
        self.nodes[n].left = nl;
        (self.rebalance(n), min)
    }

    /// Removes the node keyed `start` from the subtree `n`; returns its new root.
    fn delete_at(&mut self, n: usize, start: u64) -> usize {
        if n == NIL {
            return NIL;
        }
        let key = self.nodes[n].start;
        if start < key {
            let l = self.delete_at(self.nodes[n].left, start);
            self.nodes[n].left = l;
            return self.rebalance(n);
        }
        if start > key {
            let r = self.delete_at(self.nodes[n].right, start);
            self.nodes[n].right = r;
            return self.rebalance(n);
        }
        let (l, r) = (self.nodes[n].left, self.nodes[n].right);
        self.spare.push(n);
        self.len -= 1;
        if l == NIL {
            return r;
        }
        if r == NIL {
            return l;
        }
        let (nr, m) = self.take_min(r);
        self.nodes[m].left = l;
        self.nodes[m].right = nr;
        self.rebalance(m)
    }

    /// Gives the node keyed `key` the block `[start, last]` (which must keep the order of the
    /// blocks), fixing the subtree maxima on the way back up. Returns the subtree's root.
    fn set_at(&mut self, n: usize, key: u64, start: u64, last: u64) -> usize {
        if n == NIL {
            return NIL;
        }
        let k = self.nodes[n].start;
        if key < k {
            let l = self.set_at(self.nodes[n].left, key, start, last);
            self.nodes[n].left = l;
        } else if key > k {
            let r = self.set_at(self.nodes[n].right, key, start, last);
            self.nodes[n].right = r;
        } else {
            self.nodes[n].start = start;
            self.nodes[n].last = last;
        }
        self.update(n);
        n
    }

    fn insert(&mut self, start: u64, last: u64) {
        self.root = self.insert_at(self.root, start, last);
    }

    fn delete(&mut self, start: u64) {
        self.root = self.delete_at(self.root, start);
    }

    fn set(&mut self, key: u64, start: u64, last: u64) {
        self.root = self.set_at(self.root, key, start, last);
    }

    /// The block with the largest start below `addr`.
    fn below(&self, addr: u64) -> Option<(u64, u64)> {
        let (mut n, mut best) = (self.root, None);
        while let Some(x) = self.nodes.get(n) {
            if x.start < addr {
                best = Some((x.start, x.last));
                n = x.right;
            } else {
                n = x.left;
            }
        }
        best
    }

    /// The block with the smallest start above `addr`.
    fn above(&self, addr: u64) -> Option<(u64, u64)> {
        let (mut n, mut best) = (self.root, None);
        while let Some(x) = self.nodes.get(n) {
            if x.start > addr {
                best = Some((x.start, x.last));
                n = x.left;
            } else {
                n = x.right;
            }
        }
        best
    }

    /// The lowest fit of `c`: the block holding it and the address, or `None`. Subtrees whose
    /// largest `last - start` is below `prune_m1` are skipped (`extent - 1`: a subtree with
    /// no block of `extent` bytes cannot hold the request; the seeded bug TreePadsByAlign
    /// passes more).
    pub(super) fn lowest_fit(&self, c: &Checked, prune_m1: u128) -> Option<(u64, u64, u64)> {
        self.lowest_in(self.root, c, prune_m1)
    }

    /// [`FreeTree::lowest_fit`] in the subtree `n`, lowest block first: the left subtree (only
    /// if this block starts above the window start: else every block there ends below it),
    /// this block, the right subtree. For a page-aligned request every block of `extent`
    /// bytes at or above the window start holds it, so one path settles it: O(log n). A
    /// larger alignment may visit blocks that are large enough but hold no aligned range
    /// (Linux's exact search has the same cost; padding the size instead is bug #6).
    fn lowest_in(&self, n: usize, c: &Checked, prune_m1: u128) -> Option<(u64, u64, u64)> {
        let x = self.nodes.get(n)?;
        if u128::from(x.max_m1) < prune_m1 {
            return None;
        }
        if x.start > c.ws {
            if let Some(r) = self.lowest_in(x.left, c, prune_m1) {
                return Some(r);
            }
        }
        if let Some(a) = fit_in(x.start, x.last, c) {
            return Some((x.start, x.last, a));
        }
        self.lowest_in(x.right, c, prune_m1)
    }

    /// Takes `[addr, addr + extent - 1]` out of the free block `[start, last]` that holds it.
    pub(super) fn carve(&mut self, start: u64, last: u64, addr: u64, end_m1: u64) -> FitType {
        let ty = match (addr == start, end_m1 == last) {
            (true, true) => FitType::Whole,
            (true, false) => FitType::LeftEdge,
            (false, true) => FitType::RightEdge,
            (false, false) => FitType::Middle,
        };
        match ty {
            FitType::Whole => self.delete(start),
            FitType::LeftEdge => self.set(start, end_m1 + 1, last),
            FitType::RightEdge => self.set(start, start, addr - 1),
            FitType::Middle => {
                self.set(start, start, addr - 1);
                self.insert(end_m1 + 1, last);
            }
        }
        ty
    }

    /// Gives `[start, last]` back (a purged area, guard page included), merged with the
    /// free block just below and the one just above if they touch it.
    pub(super) fn give_back(&mut self, start: u64, last: u64) {
        let below = self
            .below(start)
            .filter(|&(_, l)| l.checked_add(1) == Some(start));
        let above = self
            .above(start)
            .filter(|&(s, _)| last.checked_add(1) == Some(s));
        match (below, above) {
            (Some((bs, _)), Some((as_, al))) => {
                self.delete(as_);
                self.set(bs, bs, al);
            }
            (Some((bs, _)), None) => self.set(bs, bs, last),
            (None, Some((as_, al))) => self.set(as_, start, al),
            (None, None) => self.insert(start, last),
        }
    }

    /// Checks the tree's shape (links, heights, balance, subtree maxima) and returns its
    /// blocks in order.
    pub(super) fn blocks_checked(&self) -> Result<Vec<(u64, u64)>, InvariantError> {
        let mut out = Vec::with_capacity(self.len);
        let mut seen = alloc::vec![false; self.nodes.len()];
        for &s in &self.spare {
            match seen.get_mut(s) {
                Some(v) if !*v => *v = true,
                _ => return Err(InvariantError::TreeLinks { node: s }),
            }
        }
        self.check_at(self.root, &mut seen, &mut out)?;
        if out.len() != self.len || self.len + self.spare.len() != self.nodes.len() {
            return Err(InvariantError::TreeLinks { node: self.root });
        }
        Ok(out)
    }

    /// Checks the subtree `n` in order, appending its blocks; returns (height, max_m1).
    fn check_at(
        &self,
        n: usize,
        seen: &mut [bool],
        out: &mut Vec<(u64, u64)>,
    ) -> Result<(u32, Option<u64>), InvariantError> {
        if n == NIL {
            return Ok((0, None));
        }
        match seen.get_mut(n) {
            Some(v) if !*v => *v = true,
            _ => return Err(InvariantError::TreeLinks { node: n }),
        }
        let x = self.nodes[n];
        let (hl, ml) = self.check_at(x.left, seen, out)?;
        if x.start > x.last {
            return Err(InvariantError::TreeBlocksUnmerged { start: x.start });
        }
        out.push((x.start, x.last));
        let (hr, mr) = self.check_at(x.right, seen, out)?;
        if x.height != 1 + hl.max(hr) || hl.abs_diff(hr) > 1 {
            return Err(InvariantError::TreeHeight { start: x.start });
        }
        let m = (x.last - x.start).max(ml.unwrap_or(0)).max(mr.unwrap_or(0));
        if x.max_m1 != m {
            return Err(InvariantError::TreeSubtreeMax {
                start: x.start,
                recorded: x.max_m1,
                counted: m,
            });
        }
        Ok((x.height, Some(m)))
    }
}

/// The lowest address of the free block `[start, last]` where `c` fits: aligned, at or above
/// the window start, its extent inside the block. (Its end against the window's last is
/// checked by the caller: the lowest fit from the window start is the only candidate.)
/// Computed on the aligned address itself, never on a size padded by the alignment.
fn fit_in(start: u64, last: u64, c: &Checked) -> Option<u64> {
    let a = align_up_wide(u128::from(start.max(c.ws)), c.align);
    let end = a + u128::from(c.extent);
    (end <= u128::from(last) + 1).then_some(a as u64)
}

impl super::VmapSpace {
    /// The lowest fit of `c` in the free tree (the space's strategy is `Tree`): the lowest
    /// fit from the window start, then the window's last byte (nothing higher can end lower).
    pub(super) fn tree_search(&self, c: &Checked) -> Option<super::Placement> {
        let super::Engine::Tree(t) = &self.engine else {
            return None;
        };
        let (bs, bl, addr) = t.lowest_fit(c, self.tree_prune(c))?;
        (u128::from(addr) + u128::from(c.extent) <= c.vend()).then_some(super::Placement {
            addr,
            block: Some((bs, bl)),
        })
    }

    /// The smallest `last - start` a subtree needs to be searched: `extent - 1` (a block of
    /// `extent` bytes).
    fn tree_prune(&self, c: &Checked) -> u128 {
        #[cfg(feature = "seeded-bugs")]
        if let Some(padded) = self.tree_pads_by_align(c) {
            return padded;
        }
        u128::from(c.extent) - 1
    }

    /// SEEDED BUG TreePadsByAlign (Linux 2019-2021, ANCHORS 6 #6): the augmented search asks
    /// each subtree for a block of `size + align - 1` bytes (a size that holds the request
    /// at any alignment offset), so a block that holds it exactly once aligned, but is
    /// smaller than that, is never found: a spurious `NoSpace` or a higher address. `None`
    /// if the bug is off, else the padded `last - start` each subtree must reach.
    #[cfg(feature = "seeded-bugs")]
    fn tree_pads_by_align(&self, c: &Checked) -> Option<u128> {
        self.bug(crate::bugs::Bug::TreePadsByAlign)
            .then(|| u128::from(c.extent) + u128::from(c.align.get()) - 2)
    }
}
