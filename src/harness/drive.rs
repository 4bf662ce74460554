//! The loop every target shares: execute an op on the implementation and the model, judge
//! it, run the implementation's `check_invariants()`, compare its whole state with the
//! model's, trace it, and turn the first failure into a typed [`Finding`]. A panic during an
//! op (or the checks after it) is caught here, so its finding names the op too.

use std::cell::Cell;
use std::fmt::{self, Write as _};

use super::finding::{BrokenInvariant, StateDiff};
use super::map::AddressMap;
use super::panics::catch;
use super::{kinds, Finding, FindingKind, KindSet, Mismatch, Stats};

/// An implementation and its model, stepped together by [`drive`].
pub trait Machine {
    /// One operation of the target's scenarios (its `Debug` names its kind: see
    /// [`super::kinds`]).
    type Op: fmt::Display + fmt::Debug + 'static;
    /// Executes `op` on both and judges the answer: the outcome for the trace, or what the
    /// oracle disagreed with.
    fn step(&mut self, op: &Self::Op) -> Result<String, Mismatch>;
    /// The implementation's own consistency check: the first invariant broken.
    fn check_invariants(&self) -> Result<(), BrokenInvariant>;
    /// The implementation's whole observable state against the model's: the first
    /// difference.
    fn compare_state(&self) -> Result<(), StateDiff>;
    /// Counters so far.
    fn stats(&self) -> Stats;
    /// The end state in a few words, for the last trace line.
    fn summary(&self) -> String;
    /// Work after the last op (e.g. applying flushes still held, or judging a question about
    /// the final state), checked like an op: its trace text, `None` if there is nothing to
    /// do, or what the oracle disagreed with (a finding at op index `ops.len()`).
    fn finish(&mut self) -> Result<Option<String>, Mismatch> {
        Ok(None)
    }
    /// Its address space as the implementation and the model each hold it, layer by layer
    /// (what `kvafuzz replay --svg` draws; see [`super::map`]). Reads listings only.
    fn address_map(&self) -> AddressMap;
}

/// Hands `m`'s address map to [`super::map::capture`] if it is capturing (a panic while
/// drawing leaves no map).
fn offer_map<M: Machine>(m: &M) {
    if super::map::wanted() {
        if let Ok(map) = catch(|| m.address_map()) {
            super::map::store(map);
        }
    }
}

/// The checks after every op: invariants, then the whole state against the model's.
fn check<M: Machine>(m: &M) -> Result<(), FindingKind> {
    m.check_invariants().map_err(FindingKind::Invariant)?;
    m.compare_state().map_err(FindingKind::State)
}

/// Appended to the message of a panic in the checks after an op (not in the op itself).
pub(super) const IN_THE_CHECKS: &str = " (in the checks after it)";

/// Where a panic caught by [`drive`] happened.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// In the op itself (or the oracle judging it).
    Op,
    /// In the checks after it.
    Checks,
}

/// Runs `body` (one op or the end of the scenario, and its checks) with panics caught: the
/// failure it returns, or the panic as [`FindingKind::Panic`] and the stage it happened in.
fn guarded(
    body: impl FnOnce(&mut Stage) -> Result<(), FindingKind>,
) -> Result<(), (FindingKind, Stage)> {
    let mut stage = Stage::Op;
    match catch(|| body(&mut stage)) {
        Ok(r) => r.map_err(|kind| (kind, stage)),
        Err(mut report) => {
            if stage == Stage::Checks {
                report.message.push_str(IN_THE_CHECKS);
            }
            Err((FindingKind::Panic(report), stage))
        }
    }
}

thread_local! {
    /// Called with an op's index as [`drive`] starts it (and with the op count as it starts
    /// the end of the scenario): how an isolated child tells its parent which op was running
    /// when it crashed or hung ([`super::isolate`]). `None` (the default) costs one
    /// thread-local read per op.
    static OP_START: Cell<Option<fn(usize)>> = const { Cell::new(None) };
}

/// Makes [`drive`] on this thread call `hook` with each op's index as it starts the op (and
/// with the op count as it starts the end of the scenario); `None` stops it. Returns the
/// previous hook.
pub fn set_op_start_hook(hook: Option<fn(usize)>) -> Option<fn(usize)> {
    OP_START.with(|h| h.replace(hook))
}

/// Tells the [`OP_START`] hook, if any, that op `i` starts.
fn op_starts(i: usize) {
    if let Some(hook) = OP_START.with(Cell::get) {
        hook(i);
    }
}

thread_local! {
    /// Whether the [`drive`] running on this thread writes a trace. Campaigns, fuzz engines
    /// and the corpus test do not, and then an op's outcome text would be formatted only to
    /// be dropped: a quarter of the time of a cheap op. [`outcome!`] reads this.
    static TRACING: Cell<bool> = const { Cell::new(true) };
}

/// Whether the op being stepped has a trace to write its outcome into (see `outcome!`).
pub fn tracing() -> bool {
    TRACING.with(Cell::get)
}

/// `format!` for the outcome text a [`Machine::step`] returns: formatted only when the
/// running [`drive`] writes a trace, else an empty string (which does not allocate).
#[macro_export]
macro_rules! outcome {
    ($($arg:tt)*) => {
        if $crate::harness::drive::tracing() {
            ::std::format!($($arg)*)
        } else {
            ::std::string::String::new()
        }
    };
}

/// Sets [`TRACING`] for the life of a [`drive`], and puts the old value back when it ends,
/// even by a panic (drives nest: a minimizer's re-runs inside a traced command).
struct TracingScope(bool);

impl TracingScope {
    fn set(on: bool) -> TracingScope {
        TracingScope(TRACING.with(|t| t.replace(on)))
    }
}

impl Drop for TracingScope {
    fn drop(&mut self) {
        TRACING.with(|t| t.set(self.0));
    }
}

/// Runs `ops` through `m`, checking after each; appends a line per op to `trace`.
pub fn drive<M: Machine>(
    target: &'static str,
    m: &mut M,
    ops: &[M::Op],
    mut trace: Option<&mut String>,
) -> Result<Stats, Finding> {
    let _tracing = TracingScope::set(trace.is_some());
    let mut op_kinds = KindSet::EMPTY;
    for (i, op) in ops.iter().enumerate() {
        op_starts(i);
        op_kinds.insert_bit(kinds::op_bit(op));
        let r = guarded(|stage| {
            let outcome = m.step(op).map_err(|mismatch| {
                if let Some(t) = trace.as_deref_mut() {
                    let _ = writeln!(t, "  #{i} {op} -> FAIL: {mismatch}");
                }
                FindingKind::Oracle(mismatch)
            })?;
            if let Some(t) = trace.as_deref_mut() {
                let _ = writeln!(t, "  #{i} {op} -> {outcome}");
            }
            *stage = Stage::Checks;
            check(m)
        });
        if let Err((kind, stage)) = r {
            if let (FindingKind::Panic(msg), Some(t)) = (&kind, trace.as_deref_mut()) {
                let _ = match stage {
                    Stage::Op => writeln!(t, "  #{i} {op} -> PANIC: {msg}"),
                    Stage::Checks => writeln!(t, "  #{i} checks -> PANIC: {msg}"),
                };
            }
            offer_map(m);
            return Err(Finding {
                target,
                op_index: Some(i),
                op: op.to_string(),
                kind,
            });
        }
    }
    op_starts(ops.len());
    let r = guarded(|stage| {
        let done = m.finish().map_err(|mismatch| {
            if let Some(t) = trace.as_deref_mut() {
                let _ = writeln!(t, "  end -> FAIL: {mismatch}");
            }
            FindingKind::Oracle(mismatch)
        })?;
        if let Some(done) = done {
            if let Some(t) = trace.as_deref_mut() {
                let _ = writeln!(t, "  end: {done}");
            }
            *stage = Stage::Checks;
            check(m)?;
        }
        Ok(())
    });
    if let Err((kind, _)) = r {
        if let (FindingKind::Panic(msg), Some(t)) = (&kind, trace.as_deref_mut()) {
            let _ = writeln!(t, "  end -> PANIC: {msg}");
        }
        offer_map(m);
        return Err(Finding {
            target,
            op_index: Some(ops.len()),
            op: "(end of scenario)".into(),
            kind,
        });
    }
    offer_map(m);
    let mut stats = m.stats();
    stats.op_kinds.union(op_kinds);
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

/// A finding during setup (before the first op): a scenario the implementation refuses to
/// construct although the decoder promised a valid shape ([`FindingKind::Setup`]).
pub fn setup_finding(target: &'static str, msg: String) -> Finding {
    Finding {
        target,
        op_index: None,
        op: String::new(),
        kind: FindingKind::Setup(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::finding::{variant_path, Claim};
    use crate::harness::map::{Band, Layer, Shade};
    use crate::harness::panics::PanicOrigin;
    use std::panic;

    /// Where [`Toy`] fails.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Fail {
        /// `step` panics at this op index.
        PanicInStep(usize),
        /// `step` panics at this op index, with the same message from another line.
        PanicElsewhereInStep(usize),
        /// `check_invariants` panics after this op index.
        PanicInCheck(usize),
        /// `finish` panics.
        PanicInFinish,
        /// `step` reports a mismatch at this op index, numbers taken from the op.
        Mismatch(usize),
        /// `finish` reports a mismatch.
        MismatchInFinish,
    }

    /// An error with a field, as the allocators' errors have.
    #[derive(Debug)]
    #[allow(dead_code)] // read through Debug
    struct WrongSize {
        allocated: u64,
    }

    /// A machine that counts ops and fails as told.
    struct Toy {
        fail: Fail,
        done: usize,
        stats: Stats,
        /// [`tracing`] as each step saw it.
        tracing: Vec<bool>,
    }

    impl Toy {
        fn new(fail: Fail) -> Toy {
            Toy {
                fail,
                done: 0,
                stats: Stats::default(),
                tracing: Vec::new(),
            }
        }
    }

    impl Machine for Toy {
        type Op = u64;

        fn step(&mut self, op: &u64) -> Result<String, Mismatch> {
            let i = self.done;
            self.done += 1;
            self.stats.count(true);
            self.tracing.push(tracing());
            if self.fail == Fail::PanicInStep(i) {
                panic!("step {i} broke");
            }
            if self.fail == Fail::PanicElsewhereInStep(i) {
                panic!("step {i} broke");
            }
            if self.fail == Fail::Mismatch(i) {
                let actual: Result<(), WrongSize> = Err(WrongSize { allocated: op * 3 });
                return Err(Mismatch::values(
                    "free arena",
                    format!("{op:#x} size {:#x}", op * 2),
                    &Ok::<(), WrongSize>(()),
                    &actual,
                ));
            }
            Ok(format!("ok {op:#x}"))
        }

        fn check_invariants(&self) -> Result<(), BrokenInvariant> {
            if self.fail == Fail::PanicInCheck(self.done - 1) {
                panic!("check after {} broke", self.done - 1);
            }
            Ok(())
        }

        fn compare_state(&self) -> Result<(), StateDiff> {
            Ok(())
        }

        fn stats(&self) -> Stats {
            self.stats
        }

        fn summary(&self) -> String {
            format!("{} done", self.done)
        }

        /// One 16-byte band per step done, the same on both sides.
        fn address_map(&self) -> AddressMap {
            let steps = || (0..self.done as u64).map(|i| Band::sized(i * 16, 16, Shade::Live));
            AddressMap::new(vec![Layer::new("steps", steps(), steps())])
        }

        fn finish(&mut self) -> Result<Option<String>, Mismatch> {
            if self.fail == Fail::PanicInFinish {
                panic!("finish broke");
            }
            if self.fail == Fail::MismatchInFinish {
                return Err(Mismatch::values(
                    "count",
                    format!("after {} ops", self.done),
                    &Ok::<u32, ()>(3),
                    &Ok::<u32, ()>(4),
                ));
            }
            Ok(Some("finished".into()))
        }
    }

    fn run(fail: Fail, ops: &[u64]) -> (Result<Stats, Finding>, String) {
        let mut trace = String::new();
        let r = drive("vmem", &mut Toy::new(fail), ops, Some(&mut trace));
        (r, trace)
    }

    #[test]
    fn a_panic_in_an_op_names_the_op() {
        let (r, trace) = run(Fail::PanicInStep(2), &[0x10, 0x11, 0x12, 0x13]);
        let f = r.unwrap_err();
        assert_eq!(f.op_index, Some(2));
        assert_eq!(f.op, "18");
        let FindingKind::Panic(p) = &f.kind else {
            panic!("not a panic: {f}");
        };
        assert_eq!(p.message, "step 2 broke");
        let at = p.location.clone().expect("located");
        assert_eq!(
            (at.file.as_str(), at.origin),
            ("src/harness/drive.rs", PanicOrigin::Adapter)
        );
        assert_eq!(
            f.signature(),
            format!(
                "panic at src/harness/drive.rs:{} (adapter): step # broke",
                at.line
            )
        );
        assert!(
            trace.contains(&format!(
                "  #2 18 -> PANIC: step 2 broke (at {at}, adapter)\n"
            )),
            "{trace}"
        );
        assert!(!trace.contains("#3"), "{trace}");
        assert_eq!(
            f.to_string(),
            format!("[vmem] op #2 `18`: panic: step 2 broke (at {at}, adapter)")
        );
    }

    /// The same message from two lines is two findings; the same panic at another op index
    /// (what the minimizer produces) is one.
    #[test]
    fn two_panic_sites_have_two_signatures() {
        let sig = |fail: Fail, ops: &[u64]| run(fail, ops).0.unwrap_err().signature();
        let here = sig(Fail::PanicInStep(2), &[1, 2, 3]);
        let there = sig(Fail::PanicElsewhereInStep(2), &[1, 2, 3]);
        assert_ne!(here, there);
        assert_eq!(
            here.replace(char::is_numeric, ""),
            there.replace(char::is_numeric, "")
        );
        assert_eq!(sig(Fail::PanicInStep(0), &[9]), here);
        assert_eq!(sig(Fail::PanicElsewhereInStep(1), &[7, 7]), there);
    }

    #[test]
    fn a_panic_in_the_checks_names_the_op_before() {
        let (r, trace) = run(Fail::PanicInCheck(1), &[1, 2, 3]);
        let f = r.unwrap_err();
        assert_eq!(f.op_index, Some(1));
        assert_eq!(f.op, "2");
        let FindingKind::Panic(p) = &f.kind else {
            panic!("not a panic: {f}");
        };
        assert_eq!(p.message, "check after 1 broke (in the checks after it)");
        let line = p.location.as_ref().expect("located").line;
        assert!(
            trace.contains("  #1 2 -> ok 0x2\n  #1 checks -> PANIC: "),
            "{trace}"
        );
        // The same message from the op itself is another finding (the minimizer must not
        // trade one for the other), and a panic's numbers do not matter.
        assert_eq!(
            f.signature(),
            format!(
                "panic in the checks at src/harness/drive.rs:{line} (adapter): \
                 check after # broke (in the checks after"
            )
        );
        let (other, _) = run(Fail::PanicInCheck(0), &[1]);
        assert_eq!(other.unwrap_err().signature(), f.signature());
        let (in_op, _) = run(Fail::PanicInStep(1), &[1, 2]);
        assert_ne!(in_op.unwrap_err().signature(), f.signature());
    }

    #[test]
    fn a_panic_at_the_end_names_the_end() {
        let (r, trace) = run(Fail::PanicInFinish, &[1, 2]);
        let f = r.unwrap_err();
        assert_eq!(f.op_index, Some(2));
        assert_eq!(f.op, "(end of scenario)");
        let FindingKind::Panic(p) = &f.kind else {
            panic!("not a panic: {f}");
        };
        assert_eq!(p.message, "finish broke");
        assert!(
            trace.contains("  end -> PANIC: finish broke (at "),
            "{trace}"
        );
    }

    #[test]
    fn a_mismatch_at_the_end_names_the_end() {
        let (r, trace) = run(Fail::MismatchInFinish, &[1, 2, 3]);
        let f = r.unwrap_err();
        assert_eq!(f.op_index, Some(3));
        assert_eq!(f.op, "(end of scenario)");
        assert_eq!(
            f.kind,
            FindingKind::Oracle(Mismatch::new(
                "count",
                "after 3 ops",
                Claim::new("Ok", "Ok(3)"),
                Claim::new("Ok", "Ok(4)")
            ))
        );
        assert!(
            trace.contains(
                "  #2 3 -> ok 0x3\n  end -> FAIL: count after 3 ops: expected Ok(3), got Ok(4)\n"
            ),
            "{trace}"
        );
        assert!(!trace.contains("verdict"), "{trace}");
        assert_eq!(f.signature(), "oracle: count: expected Ok, got Ok");
    }

    /// Outcome texts are formatted only for a trace; the flag is restored after a drive,
    /// also one that ends in a panic.
    #[test]
    fn outcomes_are_formatted_only_for_a_trace() {
        assert!(tracing(), "outside any drive");
        let mut quiet = Toy::new(Fail::Mismatch(usize::MAX));
        drive("vmem", &mut quiet, &[1, 2], None).unwrap();
        assert_eq!(quiet.tracing, [false, false]);
        assert!(tracing());
        let mut traced = Toy::new(Fail::Mismatch(usize::MAX));
        drive("vmem", &mut traced, &[1, 2], Some(&mut String::new())).unwrap();
        assert_eq!(traced.tracing, [true, true]);
        let r = panic::catch_unwind(|| {
            let _scope = TracingScope::set(false);
            assert!(!tracing());
            let _ = outcome!("{}", 1);
            panic!("inside");
        });
        assert!(r.is_err());
        assert!(tracing(), "restored after a panic");
        assert_eq!(outcome!("{:#x}", 16), "0x10");
    }

    #[test]
    fn a_clean_run_counts_and_finishes() {
        let (r, trace) = run(Fail::Mismatch(usize::MAX), &[1, 2, 3]);
        assert_eq!(r.unwrap().ops, 3);
        assert!(
            trace.contains("  end: finished\nverdict: ok (3 ops"),
            "{trace}"
        );
    }

    #[test]
    fn a_mismatch_keeps_its_fields_and_its_signature_ignores_numbers() {
        let (r, trace) = run(Fail::Mismatch(1), &[0x1000, 0x2000, 0x3000]);
        let f = r.unwrap_err();
        assert_eq!(f.op_index, Some(1));
        assert_eq!(f.op, "8192");
        let FindingKind::Oracle(m) = &f.kind else {
            panic!("not an oracle finding: {f}");
        };
        assert_eq!(m.check, "free arena");
        assert_eq!(m.args, "0x2000 size 0x4000");
        assert_eq!(m.expected, Claim::new("Ok", "Ok(())"));
        assert_eq!(
            m.actual,
            Claim::new("Err(WrongSize)", "Err(WrongSize { allocated: 6000 })")
        );
        assert_eq!(
            f.to_string(),
            "[vmem] op #1 `8192`: oracle mismatch: free arena 0x2000 size 0x4000: \
             expected Ok(()), got Err(WrongSize { allocated: 6000 })"
        );
        assert!(
            trace.contains("  #1 8192 -> FAIL: free arena 0x2000"),
            "{trace}"
        );
        assert_eq!(
            f.signature(),
            "oracle: free arena: expected Ok, got Err(WrongSize)"
        );
        // Other numbers, another op index: the same signature (what the minimizer needs).
        let (other, _) = run(Fail::Mismatch(0), &[0x7]);
        assert_eq!(other.unwrap_err().signature(), f.signature());
    }

    #[test]
    fn signatures_tell_kinds_of_mismatch_apart() {
        let sig = |check: &str, expected: &str, actual: &str| {
            Finding {
                target: "vmem",
                op_index: Some(0),
                op: String::new(),
                kind: FindingKind::Oracle(Mismatch::new(
                    check,
                    "0x10 size 0x20",
                    Claim::new(variant_path(expected), expected),
                    Claim::new(variant_path(actual), actual),
                )),
            }
            .signature()
        };
        let base = sig("free arena", "Ok(())", "Err(NotAllocated)");
        // Another expected or actual kind, another check, another level: different.
        assert_ne!(base, sig("free arena", "Err(NotAllocated)", "Ok(())"));
        assert_ne!(base, sig("free arena", "Ok(())", "Err(WrongSize(0x10))"));
        assert_ne!(base, sig("alloc_at", "Ok(())", "Err(NotAllocated)"));
        assert_ne!(base, sig("free source", "Ok(())", "Err(NotAllocated)"));
        // The values inside a variant do not count; the variant does.
        assert_eq!(
            sig("free arena", "Err(WrongSize(f))", "Ok(())"),
            sig("free arena", "Err(WrongSize(10))", "Ok(())")
        );
        assert!(sig("free arena", "Err(WrongSize(f))", "Ok(())")
            .contains("expected Err(WrongSize), got Ok"));
        // Lists of different lengths have one kind.
        assert_eq!(
            sig("unmap", "Ok([(0x1, 0x1, 3)])", "Err(NotMapped)"),
            sig(
                "unmap",
                "Ok([(0x5, 0x5, 3), (0x6, 0x9, 4)])",
                "Err(NotMapped)"
            )
        );
    }

    #[test]
    fn variant_paths_name_the_variants_not_the_values() {
        for (debug, path) in [
            ("Ok(())", "Ok"),
            ("Ok(0x1000)", "Ok"),
            ("Ok(Some(3))", "Ok(Some)"),
            ("Err(WrongSize(32))", "Err(WrongSize)"),
            ("Err(Overlap { start: 0x1, last: 0x2 })", "Err(Overlap)"),
            ("Err(TableInTheWay { va: 0x1000 })", "Err(TableInTheWay)"),
            ("None", "None"),
            (
                "Ok(FlushPrediction { all_spaces: false })",
                "Ok(FlushPrediction)",
            ),
            ("[1, 2]", "[..]"),
            ("(0x1, 0x2)", "(..)"),
            ("0x10", "#"),
            ("true", "#"),
            ("\"text\"", "\"..\""),
        ] {
            assert_eq!(variant_path(debug), path, "{debug}");
        }
    }
}
