//! # Findings: what a run reports
//!
//! A clean run returns [`Stats`]; a failing one a [`Finding`]: the target, the op that failed
//! (its index and text), and a typed [`FindingKind`] saying which check broke. Every
//! finding has a [`Finding::signature`], a short key that stays the same while the minimizer
//! changes addresses, sizes and op counts, and differs for another check or another kind of
//! disagreement; the minimizer keeps only candidates with the original signature, and the
//! seeded-bug table prints it.

use std::any::Any;
use std::fmt;

/// What a clean run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Operations executed (including ones that were expected to fail).
    pub ops: u64,
    /// Operations that succeeded.
    pub ok: u64,
    /// Operations that returned an error (every one predicted by the oracle).
    pub errors: u64,
}

impl Stats {
    /// Counts one executed op that succeeded (`ok`) or returned an error.
    pub fn count(&mut self, ok: bool) {
        self.ops += 1;
        if ok {
            self.ok += 1;
        } else {
            self.errors += 1;
        }
    }

    /// Adds another run's counts.
    pub fn add(&mut self, other: Stats) {
        self.ops += other.ops;
        self.ok += other.ok;
        self.errors += other.errors;
    }
}

/// Which check failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FindingKind {
    /// The oracle disagreed with the allocator's answer.
    Oracle(Mismatch),
    /// The allocator's `check_invariants()` failed.
    Invariant {
        /// The invariant's name.
        invariant: String,
        /// Details.
        detail: String,
    },
    /// The allocator's state (spans, allocations) differs from the model's.
    State(String),
    /// The allocator (or the harness) panicked; the panic message.
    Panic(String),
}

/// An oracle's verdict against the implementation's answer to one operation: what was
/// judged, what the oracle expected, and what the implementation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// What was judged: the call with its resolved arguments, e.g. `free arena 0x1000 size
    /// 0x10` or `alloc arena`. Its first words name the check (they go into
    /// [`Finding::signature`]).
    pub check: String,
    /// What the oracle predicted or requires, e.g. `Err(NoSpace)` or `a placement such as
    /// 0x1000`.
    pub expected: String,
    /// What the implementation did, e.g. `Ok(0x2000)`.
    pub actual: String,
}

impl Mismatch {
    /// A mismatch of `check`.
    pub fn new(
        check: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Mismatch {
        Mismatch {
            check: check.into(),
            expected: expected.into(),
            actual: actual.into(),
        }
    }

    /// `check` (its first `SIGNATURE_CHECK_WORDS` words) and the shapes of `expected` and
    /// `actual` (their first `SIGNATURE_VALUE_WORDS` words), every number blanked out:
    /// stable while the minimizer changes addresses, sizes and entry counts, different for
    /// a different check or a different kind of disagreement.
    pub fn signature(&self) -> String {
        format!(
            "{}: expected {}, got {}",
            shape(&self.check, SIGNATURE_CHECK_WORDS),
            shape(&self.expected, SIGNATURE_VALUE_WORDS),
            shape(&self.actual, SIGNATURE_VALUE_WORDS)
        )
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, got {}",
            self.check, self.expected, self.actual
        )
    }
}

/// Words of [`Mismatch::check`] in a signature: the call and its first qualifier
/// (`free arena #`, `findspace linear (start`, `map # va`).
const SIGNATURE_CHECK_WORDS: usize = 3;

/// Words of [`Mismatch::expected`] and [`Mismatch::actual`] in a signature: the variant and
/// the first field or two (`Err(Overlap { start: # last: #`).
const SIGNATURE_VALUE_WORDS: usize = 6;

/// Words of a panic message in a signature: enough to tell "attempt to add with overflow"
/// from "attempt to subtract with overflow", or one `expect` from another.
const SIGNATURE_PANIC_WORDS: usize = 8;

/// The first `words` words of `text` with every number blanked out (see [`blank_numbers`]);
/// a word left with no letter becomes `#`, and runs of `#` words merge (so a list of one
/// entry and a list of three have one shape).
fn shape(text: &str, words: usize) -> String {
    let mut out: Vec<String> = Vec::with_capacity(words);
    for w in text.split_whitespace() {
        let mut w = blank_numbers(w);
        if w.contains('#') && !w.chars().any(|c| c.is_ascii_alphabetic()) {
            w = "#".into();
        }
        if w == "#" && out.last().is_some_and(|l| l == "#") {
            continue;
        }
        if out.len() == words {
            break;
        }
        out.push(w);
    }
    out.join(" ")
}

/// `word` with every number replaced by `#`. A number is a run of letters, digits and `_`
/// that holds a digit or only the letters `a`-`f` (`{:x?}` prints 15 as `f`); the odd word
/// this also blanks (`a`, `bad`) is blanked every time, so signatures stay stable.
fn blank_numbers(word: &str) -> String {
    let is_token = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(c) = rest.chars().next() {
        if !is_token(c) {
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let end = rest.find(|c| !is_token(c)).unwrap_or(rest.len());
        let (token, tail) = rest.split_at(end);
        let number = token.chars().any(|c| c.is_ascii_digit())
            || token.chars().all(|c| matches!(c, 'a'..='f'));
        out.push_str(if number { "#" } else { token });
        rest = tail;
    }
    out
}

/// A bug found by the harness: where, what was done, what was expected and what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The target.
    pub target: &'static str,
    /// Index of the failing op in the scenario (`None`: during setup or decoding).
    pub op_index: Option<usize>,
    /// The op, as the trace prints it.
    pub op: String,
    /// The check that failed, with expected and actual values.
    pub kind: FindingKind,
}

impl Finding {
    /// A short key that stays the same while a case is minimized: the check that failed
    /// (for the oracle, [`Mismatch::signature`]; for an invariant, its name; for a state
    /// difference, what differs; for a panic, its message and whether it came from the
    /// checks), numbers blanked. The minimizer keeps only cases with the same key, so two
    /// different panics (an overflow in an op, an assertion in the checks) never stand in
    /// for each other.
    pub fn signature(&self) -> String {
        match &self.kind {
            FindingKind::Oracle(m) => format!("oracle: {}", m.signature()),
            FindingKind::Invariant { invariant, .. } => format!("invariant:{invariant}"),
            FindingKind::State(m) => format!("state: {}", shape(m, SIGNATURE_CHECK_WORDS)),
            FindingKind::Panic(m) => {
                let stage = if m.ends_with(super::drive::IN_THE_CHECKS) {
                    " in the checks"
                } else {
                    ""
                };
                format!("panic{stage}: {}", shape(m, SIGNATURE_PANIC_WORDS))
            }
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op_index {
            Some(i) => write!(f, "[{}] op #{i} `{}`: ", self.target, self.op)?,
            None => write!(f, "[{}] setup: ", self.target)?,
        }
        match &self.kind {
            FindingKind::Oracle(m) => write!(f, "oracle mismatch: {m}"),
            FindingKind::Invariant { invariant, detail } => {
                write!(f, "invariant broken: {invariant}: {detail}")
            }
            FindingKind::State(m) => write!(f, "state differs from the model: {m}"),
            FindingKind::Panic(m) => write!(f, "panic: {m}"),
        }
    }
}

/// The message of a panic payload (what `panic!` was given, if it was text).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}
