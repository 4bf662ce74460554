//! Delta debugging over op lists: shrink a failing scenario to a small one that fails with
//! the same [`Finding::signature`].
//!
//! First classic ddmin (Zeller): try dropping each of `n` chunks, doubling `n` when none can
//! go; then one pass dropping single ops. Every candidate is a whole re-run from scratch, so
//! the result is exactly reproducible. At most [`MAX_MINIMIZE_RUNS`] re-runs.

use super::target::catching;
use super::{BugSet, Case, Finding};

/// The most re-runs one minimization may spend.
pub const MAX_MINIMIZE_RUNS: usize = 4000;

/// Minimizes the failing scenario `case` of `target`: the bytes of a small scenario that
/// fails with the same signature, and its finding; `None` if `case` does not fail.
pub fn minimize_case<C: Case>(
    target: &'static str,
    case: C,
    bugs: BugSet,
) -> Option<(Vec<u8>, Finding)> {
    minimize_case_with(case, |c: &C| {
        catching(target, || c.execute(bugs, None)).err()
    })
}

/// [`minimize_case`] with candidates judged by `run` (the finding of a candidate, `None` if
/// it passes): an isolated campaign's minimizer runs each one in a child process.
pub fn minimize_case_with<C: Case>(
    case: C,
    mut run: impl FnMut(&C) -> Option<Finding>,
) -> Option<(Vec<u8>, Finding)> {
    let original = case.encode();
    let first = run(&case)?;
    let signature = first.signature();
    let mut runs = 0usize;
    let mut fails = |c: &C, runs: &mut usize| -> Option<Finding> {
        *runs += 1;
        run(c).filter(|f| f.signature() == signature)
    };
    let mut best = case;
    let mut finding = first;
    let mut n = 2usize;
    while best.op_count() >= 2 && runs < MAX_MINIMIZE_RUNS {
        let len = best.op_count();
        let chunk = len.div_ceil(n);
        let mut shrunk = false;
        let mut start = 0;
        while start < len && runs < MAX_MINIMIZE_RUNS {
            let keep: Vec<bool> = (0..len).map(|i| i < start || i >= start + chunk).collect();
            let candidate = best.keep_ops(&keep);
            if let Some(f) = fails(&candidate, &mut runs) {
                best = candidate;
                finding = f;
                shrunk = true;
                break;
            }
            start += chunk;
        }
        if shrunk {
            n = (n - 1).max(2);
        } else if chunk == 1 {
            break;
        } else {
            n = (n * 2).min(len);
        }
    }
    let mut i = 0;
    while i < best.op_count() && runs < MAX_MINIMIZE_RUNS {
        let keep: Vec<bool> = (0..best.op_count()).map(|j| j != i).collect();
        let candidate = best.keep_ops(&keep);
        match fails(&candidate, &mut runs) {
            Some(f) => {
                best = candidate;
                finding = f;
            }
            None => i += 1,
        }
    }
    // The saved bytes must reproduce: re-decode what we write.
    let bytes = best.encode();
    let again = fails(&C::decode(&bytes), &mut runs);
    let Some(again) = again else {
        return Some((original, finding));
    };
    Some((bytes, again))
}
