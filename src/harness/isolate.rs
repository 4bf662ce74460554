//! # Isolated runs: crashes and hangs as findings
//!
//! In process, a case that overflows the stack or aborts kills the campaign with it, and a
//! case that never ends stalls it. An isolated run ([`super::campaign::run_campaign_isolated`],
//! [`minimize_isolated`], [`run_isolated`], `kvafuzz fuzz --isolate`) runs its cases in a
//! child process instead: the same program started again in the child role (the command of an
//! [`Isolation`], with [`CHILD_ENV`] naming the target), which reads cases on its stdin, runs
//! each exactly as [`super::run_with`] would and answers on its stdout. Its answer to an
//! ordinary case is the very [`Stats`] or [`Finding`] the parent's own run would give, so an
//! isolated campaign reports the same findings as an in-process one at the same seed; what
//! isolation adds is two kinds of finding:
//!
//! - [`FindingKind::Timeout`]: the case is still running after the per-case limit
//!   ([`Isolation::case_timeout`], [`DEFAULT_CASE_TIMEOUT`]). A watchdog thread in the child
//!   knows the op that is running (the drive loop's op-start hook,
//!   [`super::drive::set_op_start_hook`], stores its index) and reports it before the child
//!   exits; should the child be too wedged even for that, the parent kills it
//!   [`BACKSTOP_GRACE`] after the limit and the op is unknown.
//! - [`FindingKind::Crash`]: the child died in the middle of a case (a signal, an abort,
//!   a stack overflow, an exit). The parent then replays that case alone in a fresh child
//!   that announces each op before it starts it (one line per op, too slow for every case but
//!   free for one), so the finding names the op that was running, and keeps the last line the
//!   child wrote to stderr (`fatal runtime error: stack overflow`).
//!
//! A job keeps one child for all its cases (starting a process per case would cost more than
//! most cases) and starts another after a crash or a timeout. The minimizer judges each
//! candidate the same way, in a child with the same limit, so a crash is minimized like any
//! other finding: to the fewest ops that still crash with the same signature.
//!
//! ## The protocol
//!
//! The child first says `ready` (a program that never does was not started in the child role:
//! that is a setup error of the isolation, not a crash of the target). Parent to child, per
//! case: a line `run LEN` (or `announce LEN`, for a replay that
//! announces its ops) and then `LEN` bytes of input. Child to parent: lines starting with
//! [`PROTOCOL_MARK`] (anything else on the child's stdout is the code under test printing,
//! and is ignored): `op I` as op `I` starts (announcing runs only), then `ok OPS OK ERRORS`
//! or `finding FIELDS` (the finding's fields, tab-separated and escaped) or, from the
//! watchdog, `timeout I`. End of input ends the child.
//!
//! ## Which program is the child
//!
//! The `kvafuzz` command line starts itself with the hidden command [`CLI_CHILD_COMMAND`]
//! ([`Isolation::cli`]). Any other program, e.g. a user's campaign binary or a test binary,
//! calls [`serve_if_child`] first thing, with the targets it may be asked to run; for a test
//! binary, [`Isolation::test`] starts the binary again running one test whose body is that
//! call.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::corpus;
use super::drive::set_op_start_hook;
use super::finding::{BrokenInvariant, Claim, CrashReport, Death, StateDiff};
use super::panics::{PanicLocation, PanicOrigin, PanicReport, QuietScope};
use super::target::{find, unframe, AnyTarget};
use super::{run_with, BugSet, Finding, FindingKind, KindSet, Mismatch, Stats};

/// The per-case time limit when none is given.
pub const DEFAULT_CASE_TIMEOUT: Duration = Duration::from_secs(10);

/// Set in a child's environment to the name of the target it runs: what makes a program
/// started by an isolated run take the child role ([`serve_if_child`]).
pub const CHILD_ENV: &str = "KVAFUZZ_ISOLATED_CHILD";

/// The seeded bugs the child runs with, by name, comma-separated.
const BUGS_ENV: &str = "KVAFUZZ_ISOLATED_BUGS";

/// The per-case limit, in milliseconds, for the child's watchdog.
const TIMEOUT_ENV: &str = "KVAFUZZ_CASE_TIMEOUT_MS";

/// The hidden `kvafuzz` command that takes the child role.
pub const CLI_CHILD_COMMAND: &str = "__isolated-child";

/// What starts every line of the protocol on the child's stdout (an ASCII record separator,
/// which no adapter's own printing is likely to start a line with).
pub const PROTOCOL_MARK: &str = "\u{1e}kvafuzz ";

/// How long after the limit the parent kills a child whose watchdog did not report.
pub const BACKSTOP_GRACE: Duration = Duration::from_secs(2);

/// The longest the child's watchdog sleeps between looks at the running case.
const WATCHDOG_TICK: Duration = Duration::from_millis(20);

/// Bytes of a child's stderr kept (the end of it), for a crash's last words.
const STDERR_KEPT: usize = 4096;

/// The child's exit status after its watchdog reported a timeout.
const TIMEOUT_EXIT: i32 = 124;

/// The child's exit status when it cannot serve (an unknown target, a broken request).
const CHILD_ERROR_EXIT: i32 = 2;

/// [`CURRENT_OP`] while no op has started: the case is being decoded or set up.
const NO_OP: usize = usize::MAX;

/// How an isolated run starts its children, and the per-case limit.
#[derive(Clone, Debug)]
pub struct Isolation {
    /// The program to start (normally this one).
    pub program: PathBuf,
    /// Its arguments, which must lead it to [`serve_if_child`].
    pub args: Vec<String>,
    /// The longest one case may run.
    pub case_timeout: Duration,
}

impl Isolation {
    /// Children started as `program args...`.
    pub fn new(program: PathBuf, args: Vec<String>, case_timeout: Duration) -> Isolation {
        Isolation {
            program,
            args,
            case_timeout,
        }
    }

    /// Children that are this `kvafuzz` binary running [`CLI_CHILD_COMMAND`].
    pub fn cli(case_timeout: Duration) -> io::Result<Isolation> {
        Ok(Isolation::new(
            std::env::current_exe()?,
            vec![CLI_CHILD_COMMAND.into()],
            case_timeout,
        ))
    }

    /// Children that are this test binary running just the test `test` (whose body calls
    /// [`serve_if_child`]), output not captured.
    pub fn test(test: &str, case_timeout: Duration) -> io::Result<Isolation> {
        Ok(Isolation::new(
            std::env::current_exe()?,
            [test, "--exact", "--nocapture", "--test-threads=1"]
                .map(String::from)
                .to_vec(),
            case_timeout,
        ))
    }
}

/// Runs one input of `target` alone in a child (see the module comment): its stats, or its
/// finding, a crash or a timeout included.
pub fn run_isolated(
    target: &dyn AnyTarget,
    data: &[u8],
    bugs: BugSet,
    isolation: &Isolation,
) -> Result<Stats, Finding> {
    Worker::new(target, bugs, isolation).run(data)
}

/// [`super::target::minimize`] with every candidate run in a child: shrinks a failing input (a
/// crash or a timeout too) to a small one failing with the same signature; its bytes (a payload in
/// the current version) and finding, `None` if it passes.
pub fn minimize_isolated(
    target: &dyn AnyTarget,
    data: &[u8],
    bugs: BugSet,
    isolation: &Isolation,
) -> Option<(Vec<u8>, Finding)> {
    let (version, payload) = unframe(target, data);
    let mut worker = Worker::new(target, bugs, isolation);
    target.minimize_with(version, payload, &mut |bytes| {
        worker.run(&corpus::frame_current(target, bytes)).err()
    })
}

// ---------------------------------------------------------------------------------------
// The child

/// The index of the op the child's running case is in ([`NO_OP`] before the first).
static CURRENT_OP: AtomicUsize = AtomicUsize::new(NO_OP);

/// When the running case started (`None` between cases).
static RUNNING_SINCE: Mutex<Option<Instant>> = Mutex::new(None);

/// If this process was started by an isolated run (its environment names a target with
/// [`CHILD_ENV`]), serves its parent with that target of `registry` and exits; else returns
/// at once. Call it first thing in `main` of a program that runs isolated campaigns (or in
/// the test [`Isolation::test`] names).
pub fn serve_if_child(registry: &[&dyn AnyTarget]) {
    let Ok(name) = std::env::var(CHILD_ENV) else {
        return;
    };
    let code = match find(registry, &name) {
        Some(target) => match bugs_from_env() {
            Ok(bugs) => serve(target, bugs, timeout_from_env()),
            Err(why) => {
                eprintln!("kvafuzz isolated child: {why}");
                CHILD_ERROR_EXIT
            }
        },
        None => {
            eprintln!("kvafuzz isolated child: no target {name} in this program");
            CHILD_ERROR_EXIT
        }
    };
    std::process::exit(code);
}

/// The per-case limit the parent set ([`DEFAULT_CASE_TIMEOUT`] if none).
fn timeout_from_env() -> Duration {
    std::env::var(TIMEOUT_ENV)
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(DEFAULT_CASE_TIMEOUT, Duration::from_millis)
}

/// The seeded bugs the parent switched on.
#[cfg(feature = "seeded-bugs")]
fn bugs_from_env() -> Result<BugSet, String> {
    let names = std::env::var(BUGS_ENV).unwrap_or_default();
    names
        .split(',')
        .filter(|n| !n.is_empty())
        .try_fold(BugSet::NONE, |set, name| {
            crate::bugs::Bug::from_name(name)
                .map(|b| set.with(b))
                .ok_or(format!("no seeded bug {name}"))
        })
}

/// Without the `seeded-bugs` feature there is no bug to switch on.
#[cfg(not(feature = "seeded-bugs"))]
fn bugs_from_env() -> Result<BugSet, String> {
    match std::env::var(BUGS_ENV) {
        Ok(names) if !names.is_empty() => Err(format!("seeded bugs not compiled in: {names}")),
        _ => Ok(BugSet::NONE),
    }
}

/// `bugs` by name, comma-separated (for [`BUGS_ENV`]).
#[cfg(feature = "seeded-bugs")]
fn bug_names(bugs: BugSet) -> String {
    crate::bugs::ALL_BUGS
        .iter()
        .filter(|b| bugs.contains(**b))
        .map(|b| b.name())
        .collect::<Vec<_>>()
        .join(",")
}

/// Without the `seeded-bugs` feature there is no bug to name.
#[cfg(not(feature = "seeded-bugs"))]
fn bug_names(_bugs: BugSet) -> String {
    String::new()
}

/// Writes one protocol line to stdout; a parent that is gone ends the child.
fn tell(line: &str) {
    let mut out = io::stdout().lock();
    if writeln!(out, "{PROTOCOL_MARK}{line}")
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// The op-start hook of a plain run: notes the op for the watchdog.
fn note_op(i: usize) {
    CURRENT_OP.store(i, Ordering::Relaxed);
}

/// The op-start hook of an announcing run: notes the op and tells the parent.
fn announce_op(i: usize) {
    note_op(i);
    tell(&format!("op {i}"));
}

/// The op index as the protocol writes it (`-` for none).
fn op_word(i: usize) -> String {
    if i == NO_OP {
        "-".into()
    } else {
        i.to_string()
    }
}

/// The child role: serves cases of `target` from stdin until it ends; the exit status.
fn serve(target: &dyn AnyTarget, bugs: BugSet, limit: Duration) -> i32 {
    let _quiet = QuietScope::new();
    tell("ready");
    std::thread::spawn(move || loop {
        std::thread::sleep(WATCHDOG_TICK.min(limit / 4));
        let since = *RUNNING_SINCE.lock().unwrap_or_else(|e| e.into_inner());
        if since.is_some_and(|t| t.elapsed() >= limit) {
            tell(&format!(
                "timeout {}",
                op_word(CURRENT_OP.load(Ordering::Relaxed))
            ));
            std::process::exit(TIMEOUT_EXIT);
        }
    });
    let mut input = io::stdin().lock();
    let mut line = String::new();
    loop {
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) => return 0,
            Ok(_) => {}
            Err(_) => return CHILD_ERROR_EXIT,
        }
        let (announce, len) = match line.trim_end().split_once(' ') {
            Some(("run", n)) => (false, n.parse::<usize>()),
            Some(("announce", n)) => (true, n.parse::<usize>()),
            _ => return CHILD_ERROR_EXIT,
        };
        let Ok(len) = len else {
            return CHILD_ERROR_EXIT;
        };
        let mut data = vec![0u8; len];
        if input.read_exact(&mut data).is_err() {
            return CHILD_ERROR_EXIT;
        }
        CURRENT_OP.store(NO_OP, Ordering::Relaxed);
        set_op_start_hook(Some(if announce { announce_op } else { note_op }));
        *RUNNING_SINCE.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let verdict = run_with(target, &data, bugs);
        *RUNNING_SINCE.lock().unwrap_or_else(|e| e.into_inner()) = None;
        set_op_start_hook(None);
        match verdict {
            Ok(s) => tell(&format!(
                "ok {} {} {} {} {}",
                s.ops,
                s.ok,
                s.errors,
                kinds_on_the_wire(s.op_kinds),
                kinds_on_the_wire(s.error_kinds)
            )),
            Err(f) => tell(&format!("finding {}", encode_finding(&f))),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Findings on the wire

/// `field` with `\`, tab, newline and carriage return escaped.
fn escape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    for c in field.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// The field [`escape`] wrote.
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// A finding as tab-separated escaped fields: the op index (`-` for none), the op, the
/// kind's tag and the kind's fields.
fn encode_finding(f: &Finding) -> String {
    let mut fields: Vec<String> = vec![
        f.op_index.map_or("-".into(), |i| i.to_string()),
        f.op.clone(),
    ];
    let kind: Vec<String> = match &f.kind {
        FindingKind::Oracle(m) => vec![
            "oracle".into(),
            m.check.clone(),
            m.args.clone(),
            m.expected.kind.clone(),
            m.expected.text.clone(),
            m.actual.kind.clone(),
            m.actual.text.clone(),
        ],
        FindingKind::Invariant(b) => {
            vec!["invariant".into(), b.invariant.clone(), b.detail.clone()]
        }
        FindingKind::State(d) => vec![
            "state".into(),
            d.what.clone(),
            d.implementation.clone(),
            d.model.clone(),
        ],
        FindingKind::Setup(m) => vec!["setup".into(), m.clone()],
        FindingKind::Panic(p) => {
            let mut v = vec!["panic".into(), p.message.clone()];
            if let Some(l) = &p.location {
                v.extend([
                    l.file.clone(),
                    l.line.to_string(),
                    l.column.to_string(),
                    l.origin.name().into(),
                ]);
            }
            v
        }
        FindingKind::Crash(c) => {
            let (how, n) = match c.death {
                Death::Signal(n) => ("signal", n),
                Death::Exit(n) => ("exit", n),
                Death::Unknown => ("unknown", 0),
            };
            vec![
                "crash".into(),
                how.into(),
                n.to_string(),
                c.last_words.clone(),
            ]
        }
        FindingKind::Timeout { ms } => vec!["timeout".into(), ms.to_string()],
    };
    fields.extend(kind);
    fields
        .iter()
        .map(|f| escape(f))
        .collect::<Vec<_>>()
        .join("\t")
}

/// The finding of `target` that [`encode_finding`] wrote; `None` if `text` is not one.
fn decode_finding(target: &'static str, text: &str) -> Option<Finding> {
    let fields: Vec<String> = text.split('\t').map(unescape).collect();
    let field = |i: usize| fields.get(i).cloned();
    let op_index = match field(0)?.as_str() {
        "-" => None,
        n => Some(n.parse().ok()?),
    };
    let kind = match field(2)?.as_str() {
        "oracle" => FindingKind::Oracle(Mismatch::new(
            field(3)?,
            field(4)?,
            Claim::new(field(5)?, field(6)?),
            Claim::new(field(7)?, field(8)?),
        )),
        "invariant" => FindingKind::Invariant(BrokenInvariant::new(field(3)?, field(4)?)),
        "state" => FindingKind::State(StateDiff::new(field(3)?, field(4)?, field(5)?)),
        "setup" => FindingKind::Setup(field(3)?),
        "panic" => {
            let location = match field(4) {
                None => None,
                Some(file) => Some(PanicLocation {
                    file,
                    line: field(5)?.parse().ok()?,
                    column: field(6)?.parse().ok()?,
                    origin: match field(7)?.as_str() {
                        "adapter" => PanicOrigin::Adapter,
                        "crate" => PanicOrigin::Crate,
                        "std" => PanicOrigin::Std,
                        _ => return None,
                    },
                }),
            };
            FindingKind::Panic(PanicReport::new(field(3)?, location))
        }
        "crash" => {
            let n = field(4)?.parse().ok()?;
            let death = match field(3)?.as_str() {
                "signal" => Death::Signal(n),
                "exit" => Death::Exit(n),
                _ => Death::Unknown,
            };
            FindingKind::Crash(CrashReport {
                death,
                last_words: field(5)?,
            })
        }
        "timeout" => FindingKind::Timeout {
            ms: field(3)?.parse().ok()?,
        },
        _ => return None,
    };
    Some(Finding {
        target,
        op_index,
        op: field(1)?,
        kind,
    })
}

// ---------------------------------------------------------------------------------------
// The parent

/// A protocol line from the child (or the end of its stdout).
enum Msg {
    /// The child serves.
    Ready,
    /// Op `I` starts.
    Op(usize),
    /// The case ran clean.
    Ok(Stats),
    /// The case failed an ordinary check.
    Finding(Finding),
    /// The watchdog saw the case run past the limit, in this op (`None`: before the first).
    Timeout(Option<usize>),
    /// The child's stdout ended.
    Eof,
}

/// A [`KindSet`] on a protocol line: its names (which hold no space, see
/// [`super::kinds`]) joined by commas, `-` if none. Names, not bits: bits differ between
/// processes.
fn kinds_on_the_wire(set: KindSet) -> String {
    if set.is_empty() {
        "-".into()
    } else {
        set.names().join(",")
    }
}

/// The [`KindSet`] [`kinds_on_the_wire`] wrote, in this process's bits.
fn kinds_off_the_wire(field: &str) -> KindSet {
    KindSet::from_names(field.split(',').filter(|n| !n.is_empty() && *n != "-"))
}

/// The [`Msg`] a line of the child's stdout holds, if it is a protocol line.
fn parse_line(target: &'static str, line: &str) -> Option<Msg> {
    let rest = &line[line.find(PROTOCOL_MARK)? + PROTOCOL_MARK.len()..];
    let (word, args) = rest.split_once(' ').unwrap_or((rest, ""));
    let op = |w: &str| -> Option<Option<usize>> {
        match w {
            "-" => Some(None),
            n => n.parse().ok().map(Some),
        }
    };
    match word {
        "ready" => Some(Msg::Ready),
        "op" => Some(Msg::Op(args.parse().ok()?)),
        "timeout" => Some(Msg::Timeout(op(args)?)),
        "finding" => decode_finding(target, args).map(Msg::Finding),
        "ok" => {
            let fields: Vec<&str> = args.split(' ').collect();
            let [ops, ok, errors, op_kinds, error_kinds] = fields[..] else {
                return None;
            };
            Some(Msg::Ok(Stats {
                ops: ops.parse().ok()?,
                ok: ok.parse().ok()?,
                errors: errors.parse().ok()?,
                op_kinds: kinds_off_the_wire(op_kinds),
                error_kinds: kinds_off_the_wire(error_kinds),
            }))
        }
        _ => None,
    }
}

/// A running child: its process, its stdin, the messages read from its stdout, and the end
/// of its stderr.
struct Running {
    process: std::process::Child,
    stdin: std::process::ChildStdin,
    messages: Receiver<Msg>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_reader: Option<JoinHandle<()>>,
    /// Whether it said `ready`.
    ready: bool,
}

impl Running {
    /// Starts a child running `target` with `bugs` under `isolation`.
    fn start(target: &dyn AnyTarget, bugs: BugSet, isolation: &Isolation) -> io::Result<Self> {
        let mut process = Command::new(&isolation.program)
            .args(&isolation.args)
            .env(CHILD_ENV, target.name())
            .env(BUGS_ENV, bug_names(bugs))
            .env(TIMEOUT_ENV, isolation.case_timeout.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let (Some(stdin), Some(stdout), Some(mut err)) = (
            process.stdin.take(),
            process.stdout.take(),
            process.stderr.take(),
        ) else {
            let _ = process.kill();
            let _ = process.wait();
            return Err(io::Error::other("the child's pipes were not set up"));
        };
        let (send, messages) = mpsc::channel();
        let name = target.name();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match lines.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf);
                        if let Some(msg) = parse_line(name, line.trim_end_matches(['\n', '\r'])) {
                            if send.send(msg).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
            let _ = send.send(Msg::Eof);
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&stderr);
        let stderr_reader = std::thread::spawn(move || {
            let mut chunk = [0u8; 512];
            while let Ok(n @ 1..) = err.read(&mut chunk) {
                let mut k = kept.lock().unwrap_or_else(|e| e.into_inner());
                k.extend_from_slice(&chunk[..n]);
                let excess = k.len().saturating_sub(STDERR_KEPT);
                k.drain(..excess);
            }
        });
        Ok(Running {
            process,
            stdin,
            messages,
            stderr,
            stderr_reader: Some(stderr_reader),
            ready: false,
        })
    }

    /// Waits for the (dead or killed) child and the end of its stderr: how it ended and the
    /// last non-empty line it wrote there.
    fn reap(mut self) -> (Death, String) {
        let death = self.process.wait().map_or(Death::Unknown, death_of);
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        let kept = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let text = String::from_utf8_lossy(&kept);
        let last = text
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or_default()
            .to_string();
        (death, last)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// How a child ended.
fn death_of(status: ExitStatus) -> Death {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return Death::Signal(signal);
        }
    }
    status.code().map_or(Death::Unknown, Death::Exit)
}

/// What one attempt at a case in a child came to.
enum Outcome {
    /// The child answered: the case's verdict.
    Answered(Result<Stats, Finding>),
    /// The case ran past the limit in this op (`None`: unknown or before the first).
    TimedOut(Option<usize>),
    /// The child died: how, its last words, and the last op it announced.
    Died(Death, String, Option<usize>),
}

/// Runs cases of one target in a child (started when needed, again after a crash).
pub(crate) struct Worker<'a> {
    target: &'a dyn AnyTarget,
    bugs: BugSet,
    isolation: &'a Isolation,
    child: Option<Running>,
}

impl<'a> Worker<'a> {
    /// A worker for `target` with `bugs` (no child yet).
    pub(crate) fn new(target: &'a dyn AnyTarget, bugs: BugSet, isolation: &'a Isolation) -> Self {
        Worker {
            target,
            bugs,
            isolation,
            child: None,
        }
    }

    /// The verdict on `data` (framed or raw, as [`super::run`] takes it): what the child
    /// answered, or a crash or a timeout naming the op (see the module comment).
    pub(crate) fn run(&mut self, data: &[u8]) -> Result<Stats, Finding> {
        match self.attempt(data, false) {
            Outcome::Answered(verdict) => verdict,
            Outcome::TimedOut(op) => Err(self.finding(data, op, self.timeout())),
            Outcome::Died(death, words, _) => {
                // Again alone, announcing each op, to learn which one it dies in.
                let replay = self.attempt(data, true);
                self.child = None;
                match replay {
                    Outcome::Died(death, words, op) => {
                        Err(self.finding(data, op, crash(death, words)))
                    }
                    Outcome::TimedOut(op) => Err(self.finding(data, op, self.timeout())),
                    // It did not die again: the first death, op unknown.
                    Outcome::Answered(_) => Err(self.finding(data, None, crash(death, words))),
                }
            }
        }
    }

    /// The timeout finding's kind.
    fn timeout(&self) -> FindingKind {
        FindingKind::Timeout {
            ms: u64::try_from(self.isolation.case_timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// A finding of `kind` in op `op` of `data` (its text from the decoded case, which is
    /// not run here).
    fn finding(&self, data: &[u8], op: Option<usize>, kind: FindingKind) -> Finding {
        let (version, payload) = unframe(self.target, data);
        let (_, ops) = self.target.listing(version, payload);
        let text = match op {
            None => String::new(),
            Some(i) if i >= ops.len() => "(end of scenario)".into(),
            Some(i) => ops.get(i).cloned().unwrap_or_default(),
        };
        Finding {
            target: self.target.name(),
            op_index: op,
            op: text,
            kind,
        }
    }

    /// Runs `data` once in the child (starting one if needed; `announce`: a fresh child
    /// that announces each op).
    fn attempt(&mut self, data: &[u8], announce: bool) -> Outcome {
        if announce {
            self.child = None;
        }
        let child = match self.child.take() {
            Some(c) => c,
            None => match Running::start(self.target, self.bugs, self.isolation) {
                Ok(c) => c,
                Err(e) => {
                    return Outcome::Answered(Err(super::drive::setup_finding(
                        self.target.name(),
                        format!("cannot start the isolated child process: {e}"),
                    )))
                }
            },
        };
        let mut child = child;
        child
            .stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let verb = if announce { "announce" } else { "run" };
        // A child that died between cases refuses the write; its stdout then ends, which
        // the loop below reads as its death.
        let _ = writeln!(child.stdin, "{verb} {}", data.len())
            .and_then(|()| child.stdin.write_all(data))
            .and_then(|()| child.stdin.flush());
        let deadline = Instant::now() + self.isolation.case_timeout + BACKSTOP_GRACE;
        let mut last_op = None;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match child.messages.recv_timeout(wait) {
                Ok(Msg::Ready) => child.ready = true,
                Ok(Msg::Op(i)) => last_op = Some(i),
                Ok(Msg::Ok(stats)) => {
                    self.child = Some(child);
                    return Outcome::Answered(Ok(stats));
                }
                Ok(Msg::Finding(f)) => {
                    self.child = Some(child);
                    return Outcome::Answered(Err(f));
                }
                Ok(Msg::Timeout(op)) => return Outcome::TimedOut(op),
                Ok(Msg::Eof) | Err(RecvTimeoutError::Disconnected) => {
                    let ready = child.ready;
                    let (death, words) = child.reap();
                    if !ready {
                        return Outcome::Answered(Err(self.not_a_child(death, &words)));
                    }
                    return Outcome::Died(death, words, last_op);
                }
                Err(RecvTimeoutError::Timeout) => return Outcome::TimedOut(last_op),
            }
        }
    }
}

impl Worker<'_> {
    /// The setup finding for a program that ended without taking the child role.
    fn not_a_child(&self, death: Death, last_words: &str) -> Finding {
        super::drive::setup_finding(
            self.target.name(),
            format!(
                "the isolated child process ({} {}) ended ({death}) without serving: \
                 does it call serve_if_child? {last_words}",
                self.isolation.program.display(),
                self.isolation.args.join(" ")
            ),
        )
    }
}

/// The crash finding's kind.
fn crash(death: Death, last_words: String) -> FindingKind {
    FindingKind::Crash(CrashReport { death, last_words })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_cross_the_pipe_unchanged() {
        let at = PanicLocation::new("src/vmem/arena.rs", 12, 5);
        for kind in [
            FindingKind::Oracle(Mismatch::values(
                "free arena",
                "0x10\tsize\n0x20",
                &Ok::<(), ()>(()),
                &Err::<(), u8>(3),
            )),
            FindingKind::Invariant(BrokenInvariant::new("sorted", "a \\ b")),
            FindingKind::State(StateDiff::new("spans", "[1]", "[]")),
            FindingKind::Setup("no\r".into()),
            FindingKind::Panic(PanicReport::new("boom 3", Some(at))),
            FindingKind::Panic(PanicReport::new("", None)),
            crash(
                Death::Signal(6),
                "fatal runtime error: stack overflow".into(),
            ),
            crash(Death::Exit(3), String::new()),
            FindingKind::Timeout { ms: 250 },
        ] {
            for op_index in [None, Some(0), Some(399)] {
                let f = Finding {
                    target: "vmem",
                    op_index,
                    op: "alloc 0x10\t(x)".into(),
                    kind: kind.clone(),
                };
                let line = format!("noise{PROTOCOL_MARK}finding {}", encode_finding(&f));
                assert!(!line.contains('\n'));
                match parse_line("vmem", &line) {
                    Some(Msg::Finding(back)) => assert_eq!(back, f),
                    _ => panic!("{line:?} did not decode"),
                }
            }
        }
        assert!(parse_line("vmem", "just printing").is_none());
        assert!(matches!(
            parse_line("vmem", &format!("{PROTOCOL_MARK}timeout -")),
            Some(Msg::Timeout(None))
        ));
        let kinds = KindSet::from_names(["AllocSize", "Free"]);
        let error = KindSet::from_names(["FreeError::BadFree"]);
        assert!(matches!(
            parse_line("vmem", &format!("{PROTOCOL_MARK}ok 3 2 1 Free,AllocSize FreeError::BadFree")),
            Some(Msg::Ok(Stats {
                ops: 3,
                ok: 2,
                errors: 1,
                op_kinds,
                error_kinds,
            })) if op_kinds == kinds && error_kinds == error
        ));
        assert!(matches!(
            parse_line("vmem", &format!("{PROTOCOL_MARK}ok 3 3 0 - -")),
            Some(Msg::Ok(Stats { errors: 0, op_kinds, error_kinds, .. }))
                if op_kinds.is_empty() && error_kinds.is_empty()
        ));
        assert!(parse_line("vmem", &format!("{PROTOCOL_MARK}ok 3 2 1")).is_none());
    }
}
