//! Bounded memories of recent things a scenario's ops can name again: freed allocations (for
//! double frees), touched addresses (to translate and access again), made mappings (to unmap
//! or protect again). An op names an entry by an index taken modulo the number held, so every
//! index means something whatever came before; the bound keeps the per-op cost and the
//! state a case can build constant.

/// At most `N` values, oldest first; pushing past `N` forgets the oldest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recent<T, const N: usize> {
    items: Vec<T>,
}

impl<T, const N: usize> Default for Recent<T, N> {
    fn default() -> Self {
        Recent { items: Vec::new() }
    }
}

impl<T: Copy, const N: usize> Recent<T, N> {
    /// The most values held.
    pub const CAPACITY: usize = N;

    /// An empty memory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers `v` as the newest, forgetting the oldest if `N` are held.
    pub fn push(&mut self, v: T) {
        if N == 0 {
            return;
        }
        if self.items.len() == N {
            self.items.remove(0);
        }
        self.items.push(v);
    }

    /// The value an op's `index` names: `index` modulo the number held; `None` if empty.
    pub fn pick(&self, index: usize) -> Option<T> {
        (!self.items.is_empty()).then(|| self.items[index % self.items.len()])
    }

    /// Number of values held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// `true` iff nothing is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The values, oldest first.
    pub fn as_slice(&self) -> &[T] {
        &self.items
    }
}

impl<T: Copy + PartialEq, const N: usize> Recent<T, N> {
    /// Remembers `v` as the newest, moving it there if it is held already (the values stay
    /// distinct).
    pub fn touch(&mut self, v: T) {
        if let Some(i) = self.items.iter().position(|&w| w == v) {
            self.items.remove(i);
        }
        self.push(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest_past_its_bound() {
        let mut r: Recent<u32, 3> = Recent::new();
        assert_eq!(r.pick(5), None);
        for v in 1..=5 {
            r.push(v);
        }
        assert_eq!(r.as_slice(), [3, 4, 5]);
        assert_eq!(r.pick(0), Some(3));
        assert_eq!(r.pick(4), Some(4), "index modulo the number held");
        r.push(4);
        assert_eq!(r.as_slice(), [4, 5, 4], "push keeps duplicates");
    }

    #[test]
    fn touch_keeps_values_distinct_and_moves_them_to_the_newest() {
        let mut r: Recent<u32, 3> = Recent::new();
        for v in [1, 2, 3, 1] {
            r.touch(v);
        }
        assert_eq!(r.as_slice(), [2, 3, 1]);
        r.touch(4);
        assert_eq!(r.as_slice(), [3, 1, 4]);
        assert_eq!(r.len(), Recent::<u32, 3>::CAPACITY);
    }
}
