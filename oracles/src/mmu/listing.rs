//! What a space maps, listed as runs: how the harness draws the model's page tables beside
//! the implementation's (its address maps), without reaching into the model's mapping maps.

use super::MmuModel;

impl MmuModel {
    /// The addresses `asid` has mapped (the kernel half, which every space sees, and its own
    /// user half) as maximal runs `(first, last)` of consecutive mapped bytes, by address; a
    /// segment counts for the bytes it maps, not the footprint it reserves. Empty for a space
    /// that does not exist.
    pub fn mapped_runs(&self, asid: u32) -> Vec<(u128, u128)> {
        let Some(user) = self.spaces.get(&asid) else {
            return Vec::new();
        };
        let mut runs: Vec<(u128, u128)> = Vec::new();
        for (&base, m) in user.iter().chain(self.kernel.iter()) {
            let last = base + m.size - 1;
            match runs.last_mut() {
                Some(run) if run.1 + 1 == base => run.1 = last,
                _ => runs.push((base, last)),
            }
        }
        runs
    }
}
