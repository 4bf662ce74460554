//! The loop every target shares: execute an op on the implementation and the model, judge
//! it, run the implementation's `check_invariants()`, compare its whole state with the
//! model's, trace it, and turn the first failure into a typed [`Finding`].

use std::fmt::{self, Write as _};

use super::{Finding, FindingKind, Stats, Target};

/// An implementation and its model, stepped together by [`drive`].
pub trait Machine {
    /// One operation of the target's scenarios.
    type Op: fmt::Display;
    /// Executes `op` on both and judges the answer: the outcome for the trace, or what the
    /// oracle disagreed with.
    fn step(&mut self, op: &Self::Op) -> Result<String, String>;
    /// The implementation's own consistency check: `(invariant, detail)` on failure.
    fn check_invariants(&self) -> Result<(), (String, String)>;
    /// The implementation's whole observable state against the model's.
    fn compare_state(&self) -> Result<(), String>;
    /// Counters so far.
    fn stats(&self) -> Stats;
    /// The end state in a few words, for the last trace line.
    fn summary(&self) -> String;
    /// Work after the last op (e.g. applying flushes still held), checked like an op: its
    /// trace text, or `None` if there is nothing to do.
    fn finish(&mut self) -> Option<String> {
        None
    }
}

/// Runs `ops` through `m`, checking after each; appends a line per op to `trace`.
pub fn drive<M: Machine>(
    target: Target,
    m: &mut M,
    ops: &[M::Op],
    mut trace: Option<&mut String>,
) -> Result<Stats, Finding> {
    let check = |m: &M, fail: &dyn Fn(FindingKind) -> Finding| -> Result<(), Finding> {
        m.check_invariants()
            .map_err(|(invariant, detail)| fail(FindingKind::Invariant { invariant, detail }))?;
        m.compare_state().map_err(|s| fail(FindingKind::State(s)))
    };
    for (i, op) in ops.iter().enumerate() {
        let fail = |kind: FindingKind| Finding {
            target,
            op_index: Some(i),
            op: op.to_string(),
            kind,
        };
        let outcome = match m.step(op) {
            Ok(o) => o,
            Err(mismatch) => {
                if let Some(t) = trace.as_deref_mut() {
                    let _ = writeln!(t, "  #{i} {op} -> FAIL: {mismatch}");
                }
                return Err(fail(FindingKind::Oracle(mismatch)));
            }
        };
        if let Some(t) = trace.as_deref_mut() {
            let _ = writeln!(t, "  #{i} {op} -> {outcome}");
        }
        check(m, &fail)?;
    }
    if let Some(done) = m.finish() {
        if let Some(t) = trace.as_deref_mut() {
            let _ = writeln!(t, "  end: {done}");
        }
        let fail = |kind: FindingKind| Finding {
            target,
            op_index: Some(ops.len()),
            op: "(end of scenario)".into(),
            kind,
        };
        check(m, &fail)?;
    }
    let stats = m.stats();
    if let Some(t) = trace {
        let _ = writeln!(
            t,
            "verdict: ok ({} ops, {} succeeded, {} expected errors; {})",
            stats.ops,
            stats.ok,
            stats.errors,
            m.summary()
        );
    }
    Ok(stats)
}

/// The ops `keep` marks (the minimizer's `keep_ops` for any op list).
pub fn kept<T: Clone>(ops: &[T], keep: &[bool]) -> Vec<T> {
    ops.iter()
        .zip(keep)
        .filter(|(_, &k)| k)
        .map(|(op, _)| op.clone())
        .collect()
}

/// A finding during setup (before the first op), e.g. a scenario the implementation refuses
/// to construct although the decoder promised a valid shape.
pub fn setup_finding(target: Target, msg: String) -> Finding {
    Finding {
        target,
        op_index: None,
        op: String::new(),
        kind: FindingKind::State(msg),
    }
}
