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

pub use super::kinds::KindSet;
pub use super::panics::{PanicLocation, PanicOrigin, PanicReport};

/// What a clean run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Operations executed (including ones that were expected to fail).
    pub ops: u64,
    /// Operations that succeeded.
    pub ok: u64,
    /// Operations that returned an error (every one predicted by the oracle).
    pub errors: u64,
    /// The op kinds executed (filled in by [`super::drive::drive`]; see [`super::kinds`]).
    pub op_kinds: KindSet,
    /// The kinds of the errors returned (see [`Stats::count_result`]).
    pub error_kinds: KindSet,
}

impl Stats {
    /// Counts one executed op that succeeded (`ok`) or returned an error; an error is
    /// better counted by [`Stats::count_result`] or [`Stats::count_error`], which record
    /// its kind.
    pub fn count(&mut self, ok: bool) {
        self.ops += 1;
        if ok {
            self.ok += 1;
        } else {
            self.errors += 1;
        }
    }

    /// Counts one executed op by its result, recording the error's kind if it failed.
    pub fn count_result<T, E: fmt::Debug + 'static>(&mut self, r: &Result<T, E>) {
        match r {
            Ok(_) => self.count(true),
            Err(e) => self.count_error(e),
        }
    }

    /// Counts one executed op that returned `error`, recording its kind.
    pub fn count_error<E: fmt::Debug + 'static>(&mut self, error: &E) {
        self.count(false);
        self.error_kinds.insert_bit(super::kinds::error_bit(error));
    }

    /// The counts of a scenario refused at its creation with `error` (predicted by the
    /// oracle): one op, that error.
    pub fn refused<E: fmt::Debug + 'static>(error: &E) -> Stats {
        let mut s = Stats::default();
        s.count_error(error);
        s
    }

    /// Adds another run's counts.
    pub fn add(&mut self, other: Stats) {
        self.ops += other.ops;
        self.ok += other.ok;
        self.errors += other.errors;
        self.op_kinds.union(other.op_kinds);
        self.error_kinds.union(other.error_kinds);
    }
}

/// Which check failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FindingKind {
    /// The oracle disagreed with the allocator's answer.
    Oracle(Mismatch),
    /// The allocator's `check_invariants()` failed.
    Invariant(BrokenInvariant),
    /// The allocator's observable state differs from the model's.
    State(StateDiff),
    /// The implementation could not be built for a scenario the decoder promised valid
    /// (e.g. an adapter refusing a shape); the message.
    Setup(String),
    /// The allocator (or the harness) panicked: the message and where.
    Panic(PanicReport),
    /// The isolated child process running the case died (a stack overflow, an abort, a
    /// signal, an exit in the middle of a case): only `--isolate` campaigns report it.
    Crash(CrashReport),
    /// The case ran past the isolated campaign's per-case limit, `ms` milliseconds.
    Timeout {
        /// The limit it ran past.
        ms: u64,
    },
}

/// How an isolated child process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Death {
    /// Killed by this signal (unix): 6 is an abort (also how a stack overflow ends), 11 a
    /// segmentation fault.
    Signal(i32),
    /// Exited with this status in the middle of a case.
    Exit(i32),
    /// Ended without a status to show.
    Unknown,
}

impl fmt::Display for Death {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Death::Signal(n) => {
                let name = match n {
                    4 => " (SIGILL)",
                    5 => " (SIGTRAP)",
                    6 => " (SIGABRT)",
                    7 => " (SIGBUS)",
                    8 => " (SIGFPE)",
                    9 => " (SIGKILL)",
                    11 => " (SIGSEGV)",
                    _ => "",
                };
                write!(f, "signal {n}{name}")
            }
            Death::Exit(code) => write!(f, "exit status {code}"),
            Death::Unknown => f.write_str("no exit status"),
        }
    }
}

/// A crash of the child process running a case: how it died and the last line it wrote to
/// stderr (the runtime's word on it, e.g. `fatal runtime error: stack overflow`; empty for
/// a bare abort).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashReport {
    /// How it ended.
    pub death: Death,
    /// The last non-empty line of its stderr.
    pub last_words: String,
}

/// An invariant an implementation's own consistency check found broken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenInvariant {
    /// The invariant's name, without values (`free lists sorted`, `BadFreeList`): its
    /// signature.
    pub invariant: String,
    /// What was found, with the values.
    pub detail: String,
}

impl BrokenInvariant {
    /// `invariant` broken, as `detail` says.
    pub fn new(invariant: impl Into<String>, detail: impl Into<String>) -> BrokenInvariant {
        BrokenInvariant {
            invariant: invariant.into(),
            detail: detail.into(),
        }
    }
}

/// Where an implementation's observable state differs from its model's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateDiff {
    /// What differs, without values (`arena spans`, `source counts`, `table pages`): its
    /// signature.
    pub what: String,
    /// What the implementation holds (or says) there.
    pub implementation: String,
    /// What the model holds there.
    pub model: String,
}

impl StateDiff {
    /// `what` differs: the implementation holds `implementation`, the model `model`.
    pub fn new(
        what: impl Into<String>,
        implementation: impl Into<String>,
        model: impl Into<String>,
    ) -> StateDiff {
        StateDiff {
            what: what.into(),
            implementation: implementation.into(),
            model: model.into(),
        }
    }
}

impl fmt::Display for StateDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: implementation {}, model {}",
            self.what, self.implementation, self.model
        )
    }
}

/// One side of a [`Mismatch`]: the kind of answer (its signature part: `Ok`,
/// `Err(WrongSize)`, `a placement`) and the answer in full.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The kind of answer, without values.
    pub kind: String,
    /// The answer with its values, e.g. `Err(WrongSize(0x20))` or `a placement such as
    /// 0x1000`.
    pub text: String,
}

impl Claim {
    /// A claim of `kind`, in full `text`.
    pub fn new(kind: impl Into<String>, text: impl Into<String>) -> Claim {
        Claim {
            kind: kind.into(),
            text: text.into(),
        }
    }

    /// A value as `{:x?}` prints it, its kind the variant path: `Ok`, `Err(NoSpace)`,
    /// `Err(WrongSize)`, `Some`, `Err(TableInTheWay)` (see [`variant_path`]).
    pub fn value<T: fmt::Debug>(v: &T) -> Claim {
        let text = format!("{v:x?}");
        Claim {
            kind: variant_path(&text),
            text,
        }
    }
}

/// The variant path of a value printed by a derived `Debug`: the leading name, and the
/// leading name inside it while the value is a one-field tuple variant (`Ok(Some(3))` is
/// `Ok(Some)`, `Err(WrongSize(32))` is `Err(WrongSize)`, `Err(Overlap { start: 1 })` is
/// `Err(Overlap)`, `Ok(())` is `Ok`, `[1, 2]` is `[..]`, `0x10` is `#`). The names come
/// from the types, never from the values.
pub fn variant_path(debug: &str) -> String {
    /// How deep the path follows nested variants.
    const MAX_DEPTH: usize = 3;
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut rest = debug.trim_start();
    let mut names: Vec<&str> = Vec::new();
    while names.len() < MAX_DEPTH {
        let end = rest.find(|c: char| !is_name(c)).unwrap_or(rest.len());
        let name = &rest[..end];
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_uppercase()) {
            break;
        }
        names.push(name);
        match rest[end..].strip_prefix('(') {
            Some(inner) => rest = inner,
            None => break,
        }
    }
    if names.is_empty() {
        return match debug.trim_start().chars().next() {
            Some('[') => "[..]".into(),
            Some('(') => "(..)".into(),
            Some('"') => "\"..\"".into(),
            _ => "#".into(),
        };
    }
    let mut out = names.join("(");
    out.push_str(&")".repeat(names.len() - 1));
    out
}

/// An oracle's verdict against the implementation's answer to one operation: which check,
/// on what arguments, what the oracle expected and what the implementation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The check's name, without values: the call and what judged it (`free arena`,
    /// `findspace gapindex vs linear`, `map`).
    pub check: String,
    /// The call's resolved arguments (`0x1000 size 0x10`), `""` if none.
    pub args: String,
    /// What the oracle predicted or requires.
    pub expected: Claim,
    /// What the implementation did.
    pub actual: Claim,
}

impl Mismatch {
    /// A mismatch of `check` on `args`.
    pub fn new(
        check: impl Into<String>,
        args: impl Into<String>,
        expected: Claim,
        actual: Claim,
    ) -> Mismatch {
        Mismatch {
            check: check.into(),
            args: args.into(),
            expected,
            actual,
        }
    }

    /// The common case: the oracle predicted the value `expected`, the implementation
    /// returned `actual` (both printed with `{:x?}`).
    pub fn values<E: fmt::Debug, A: fmt::Debug>(
        check: impl Into<String>,
        args: impl Into<String>,
        expected: &E,
        actual: &A,
    ) -> Mismatch {
        Mismatch::new(check, args, Claim::value(expected), Claim::value(actual))
    }

    /// The check's name and the kinds of the two answers: stable while the minimizer
    /// changes addresses, sizes and entry counts, different for another check or another
    /// kind of disagreement.
    pub fn signature(&self) -> String {
        format!(
            "{}: expected {}, got {}",
            self.check, self.expected.kind, self.actual.kind
        )
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.check)?;
        if !self.args.is_empty() {
            write!(f, " {}", self.args)?;
        }
        write!(
            f,
            ": expected {}, got {}",
            self.expected.text, self.actual.text
        )
    }
}

/// Words of a panic message in a signature: enough to tell "attempt to add with overflow"
/// from "attempt to subtract with overflow", or one `expect` from another. (A panic message
/// is free text, the one part of a finding that is not typed: its numbers are blanked.)
const SIGNATURE_PANIC_WORDS: usize = 8;

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
    /// A short key that stays the same while a case is minimized, built from the typed
    /// fields alone: for the oracle, [`Mismatch::signature`]; for an invariant, its name;
    /// for a state difference, what differs; for a setup failure, just that; for a panic,
    /// whether it came from the checks, its file and line and their side (adapter, crate,
    /// std), and its message with numbers blanked; for a crash, how the child died and its
    /// last words, numbers blanked; for a timeout, just that. The minimizer keeps only cases
    /// with the same key, so two different panics (an overflow in an op, an assertion in the
    /// checks, the same message from two lines) never stand in for each other.
    pub fn signature(&self) -> String {
        match &self.kind {
            FindingKind::Oracle(m) => format!("oracle: {}", m.signature()),
            FindingKind::Invariant(b) => format!("invariant: {}", b.invariant),
            FindingKind::State(d) => format!("state: {}", d.what),
            FindingKind::Setup(_) => "setup".into(),
            FindingKind::Panic(p) => {
                let stage = if p.message.ends_with(super::drive::IN_THE_CHECKS) {
                    " in the checks"
                } else {
                    ""
                };
                let at = p.location.as_ref().map_or(String::new(), |l| {
                    format!(" at {}:{} ({})", l.file, l.line, l.origin)
                });
                format!(
                    "panic{stage}{at}: {}",
                    shape(&p.message, SIGNATURE_PANIC_WORDS)
                )
            }
            FindingKind::Crash(c) if c.last_words.is_empty() => format!("crash: {}", c.death),
            FindingKind::Crash(c) => format!(
                "crash: {}: {}",
                c.death,
                shape(&c.last_words, SIGNATURE_PANIC_WORDS)
            ),
            FindingKind::Timeout { .. } => "timeout".into(),
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
            FindingKind::Invariant(b) => {
                write!(f, "invariant broken: {}: {}", b.invariant, b.detail)
            }
            FindingKind::State(d) => write!(f, "state differs from the model: {d}"),
            FindingKind::Setup(m) => write!(f, "cannot build the implementation: {m}"),
            FindingKind::Panic(p) => write!(f, "panic: {p}"),
            FindingKind::Crash(c) if c.last_words.is_empty() => {
                write!(f, "crash: the child process died ({})", c.death)
            }
            FindingKind::Crash(c) => write!(
                f,
                "crash: the child process died ({}): {}",
                c.death, c.last_words
            ),
            FindingKind::Timeout { ms } => write!(f, "timeout: still running after {ms} ms"),
        }
    }
}

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

/// The message of a panic payload (what `panic!` was given, if it was text).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}
