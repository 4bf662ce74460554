//! # xorshift64: the deterministic pseudo-random sequence of the tests and seed shapes
//!
//! Marsaglia's xorshift64 (shifts 13, 7, 17): a few instructions, no dependency, and the same
//! sequence on every machine, so a test or a seed scenario drawn from it is the same every
//! run (the corpus holds the harness's seed scenarios byte for byte). Not for anything that
//! needs statistical quality: the unit tests' differential streams and the vmap seeds'
//! random shapes only need variety.

/// A xorshift64 generator. Its state is never 0 (0 would stay 0 forever).
pub(crate) struct XorShift(u64);

/// The state used for a seed of 0.
const ZERO_SEED_STATE: u64 = 0x9e37_79b9_7f4a_7c15;

impl XorShift {
    /// The sequence seeded with `seed` (0 stands for [`ZERO_SEED_STATE`]).
    pub(crate) fn new(seed: u64) -> XorShift {
        XorShift(if seed == 0 { ZERO_SEED_STATE } else { seed })
    }

    /// The next value.
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value below `n` (0 for `n` = 0 or 1).
    #[cfg(test)]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// `true` with about `percent` percent probability.
    #[cfg(test)]
    pub(crate) fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// `true` about once in `n` draws.
    #[cfg(test)]
    pub(crate) fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// One of `xs` (which must not be empty).
    #[cfg(test)]
    pub(crate) fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::XorShift;

    #[test]
    fn the_sequence_is_xorshift64_and_never_stuck_at_zero() {
        let mut r = XorShift::new(1);
        // 1 ^ 1 << 13 = 0x2001; ^ >> 7 = 0x2041; ^ << 17 = 0x4082_2041.
        assert_eq!(r.next(), 0x4082_2041);
        let mut z = XorShift::new(0);
        assert!((0..1000).all(|_| z.next() != 0));
        assert_eq!(XorShift::new(5).below(0), 0);
        assert_eq!(XorShift::new(5).pick(&[7u8]), 7);
    }
}
