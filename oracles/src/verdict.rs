//! What every oracle says when an implementation's answer is wrong: the check that failed
//! (each oracle has its own `Check` enum, whose `Debug` name is the finding's stable
//! signature) and both sides in words.

use std::fmt;

/// What is wrong with an implementation's answer: the check, and both sides in words.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Verdict<C> {
    /// The check that failed (the finding's signature).
    pub check: C,
    /// What the model expected.
    pub expected: String,
    /// What the implementation did.
    pub seen: String,
}

impl<C> Verdict<C> {
    /// A verdict from a check and both sides.
    pub fn new(check: C, expected: impl Into<String>, seen: impl Into<String>) -> Verdict<C> {
        Verdict {
            check,
            expected: expected.into(),
            seen: seen.into(),
        }
    }
}

impl<C: fmt::Debug> fmt::Display for Verdict<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}: expected {}, seen {}",
            self.check, self.expected, self.seen
        )
    }
}

/// `Ok` iff the implementation's `actual` equals the model's `expected`; else a verdict of
/// `check` showing both (`{:x?}`): for creation calls, layouts and the after-op queries.
pub fn judge_eq<C, T: PartialEq + fmt::Debug>(
    check: C,
    expected: &T,
    actual: &T,
) -> Result<(), Verdict<C>> {
    if expected == actual {
        Ok(())
    } else {
        Err(Verdict::new(
            check,
            format!("{expected:x?}"),
            format!("{actual:x?}"),
        ))
    }
}
