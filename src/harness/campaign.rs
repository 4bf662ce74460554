//! The built-in seeded campaign: the main job, on stable Rust with nothing else installed.
//!
//! Job `j` of a campaign with seed `S` draws its inputs from the ChaCha8 stream `j` of key
//! `S`: case `k` of job `j` is the same bytes on every machine and every run, whatever the
//! timing. (Time only decides *how many* cases run: the clock bounds the campaign, it never
//! feeds a generator.) Each input goes through [`super::run_with`], exactly as a cargo-fuzz or
//! AFL input would. The first finding stops every job; it is minimized and written out.
//! [`run_campaign_isolated`] runs the same cases, in the same order, in child processes
//! ([`super::isolate`]), so that a crash or a hang is a finding too.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::isolate::{Isolation, Worker};
use super::kinds::{KindSet, MAX_KINDS};
use super::panics::QuietScope;
use super::{run_with, AnyTarget, BugSet, Finding, Stats};

/// Longest generated input, in bytes (about [`super::MAX_OPS`] ops at most).
pub const MAX_INPUT_BYTES: usize = 4096;

/// Shortest generated input.
pub const MIN_INPUT_BYTES: usize = 8;

/// How a campaign is bounded and seeded.
#[derive(Clone, Copy)]
pub struct CampaignConfig {
    /// Which target (any, registered or not).
    pub target: &'static dyn AnyTarget,
    /// Key of the ChaCha8 streams.
    pub seed: u64,
    /// Number of parallel jobs (one stream each).
    pub jobs: u32,
    /// Stop after this long (`None`: no time bound).
    pub time_limit: Option<Duration>,
    /// Stop after this many cases in all (`None`: no count bound).
    pub max_cases: Option<u64>,
    /// Seeded bugs to switch on.
    pub bugs: BugSet,
    /// Print a progress line to stderr.
    pub progress: bool,
}

/// What a campaign did.
#[derive(Clone, Debug)]
pub struct CampaignReport {
    /// Cases run.
    pub cases: u64,
    /// Ops executed in all.
    pub ops: u64,
    /// For each op kind executed (see [`super::kinds`]), the number of clean cases that
    /// executed it at least once.
    pub op_kinds: BTreeMap<String, u64>,
    /// For each error kind returned, the number of clean cases that got it at least once.
    pub error_kinds: BTreeMap<String, u64>,
    /// Wall time.
    pub elapsed: Duration,
    /// The first finding: the job, the case index in that job, its input and the finding.
    pub finding: Option<FoundCase>,
}

/// A failing case and where it came from.
#[derive(Clone, Debug)]
pub struct FoundCase {
    /// Job (stream) number.
    pub job: u32,
    /// Case number within the job.
    pub case: u64,
    /// The input bytes.
    pub input: Vec<u8>,
    /// What broke.
    pub finding: Finding,
    /// Ops executed by the whole campaign before this case finished.
    pub ops_before: u64,
    /// Time until it was found.
    pub after: Duration,
}

impl CampaignReport {
    /// Ops per second over the whole campaign.
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The input of case `case` of job `job` in a campaign seeded with `seed`.
pub fn generate(seed: u64, job: u32, case: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::from(job));
    rng.set_word_pos(u128::from(case) * (MAX_INPUT_BYTES as u128 / 4 + 16));
    // Mostly short inputs (cheap, and short op lists find most bugs), sometimes long ones.
    let len = match rng.next_u32() % 4 {
        0 => MAX_INPUT_BYTES,
        1 => MIN_INPUT_BYTES + (rng.next_u32() as usize % 256),
        _ => MIN_INPUT_BYTES + (rng.next_u32() as usize % 1024),
    };
    let mut buf = vec![0u8; len];
    rng.fill_bytes(&mut buf);
    buf
}

/// Runs a campaign; see the module comment.
pub fn run_campaign(cfg: &CampaignConfig) -> CampaignReport {
    campaign(cfg, |_job| {
        move |input: &[u8]| run_with(cfg.target, input, cfg.bugs)
    })
}

/// [`run_campaign`] with every case run in a child process, as `isolation` says (see
/// [`super::isolate`]): the same cases in the same order, so the same ordinary findings,
/// and a crash, an abort or a case running past the limit is a finding too
/// ([`super::FindingKind::Crash`], [`super::FindingKind::Timeout`]) instead of the end of
/// the campaign. Each job keeps one child for its cases and starts a new one after a crash.
pub fn run_campaign_isolated(cfg: &CampaignConfig, isolation: &Isolation) -> CampaignReport {
    campaign(cfg, |_job| {
        let mut child = Worker::new(cfg.target, cfg.bugs, isolation);
        move |input: &[u8]| child.run(input)
    })
}

/// How often the live progress bar (on a terminal) is redrawn.
const BAR_REFRESH: Duration = Duration::from_millis(250);

/// How often a progress line is printed when stderr is not a terminal (a CI log).
const LOG_LINE_EVERY: Duration = Duration::from_secs(10);

/// How often the progress loop looks whether the campaign has ended.
const PROGRESS_POLL: Duration = Duration::from_millis(50);

/// Cases per kind, indexed by a kind's bit ([`super::kinds`]).
#[derive(Clone)]
struct KindCounts {
    /// Per op-kind bit, the cases that executed it.
    ops: Vec<u64>,
    /// Per error-kind bit, the cases that got it.
    errors: Vec<u64>,
}

impl KindCounts {
    fn new() -> Self {
        KindCounts {
            ops: vec![0; MAX_KINDS],
            errors: vec![0; MAX_KINDS],
        }
    }

    /// Counts one clean case's kinds.
    fn add_case(&mut self, stats: &Stats) {
        let bump = |counts: &mut [u64], set: KindSet| {
            for bit in set.bits() {
                if let Some(c) = counts.get_mut(bit as usize) {
                    *c += 1;
                }
            }
        };
        bump(&mut self.ops, stats.op_kinds);
        bump(&mut self.errors, stats.error_kinds);
    }

    /// Adds another job's counts.
    fn merge(&mut self, other: &KindCounts) {
        for (a, b) in self.ops.iter_mut().zip(&other.ops) {
            *a += b;
        }
        for (a, b) in self.errors.iter_mut().zip(&other.errors) {
            *a += b;
        }
    }

    /// The counts by kind name.
    fn by_name(counts: &[u64]) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (bit, &n) in counts.iter().enumerate() {
            if n > 0 {
                let mut set = KindSet::EMPTY;
                set.insert_bit(bit as u32);
                for name in set.names() {
                    *out.entry(name).or_insert(0) += n;
                }
            }
        }
        out
    }
}

/// The live progress display on a terminal: an indicatif bar over the time limit (a
/// spinner without one), its message the numbers of [`campaign`]'s progress line.
fn progress_bar(limit: Option<Duration>) -> ProgressBar {
    let style = |template: &str| {
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
    };
    let bar = match limit {
        Some(limit) => {
            let bar = ProgressBar::with_draw_target(
                Some(u64::try_from(limit.as_millis()).unwrap_or(u64::MAX)),
                ProgressDrawTarget::stderr(),
            );
            bar.set_style(
                style("{spinner} [{bar:20}] {elapsed_precise}/{prefix}  {msg}")
                    .progress_chars("#>."),
            );
            bar.set_prefix(format_hms(limit));
            bar
        }
        None => {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(style("{spinner} {elapsed_precise}  {msg}"));
            bar
        }
    };
    bar.enable_steady_tick(BAR_REFRESH);
    bar
}

/// `d` as `hh:mm:ss` (as indicatif's `elapsed_precise` prints the time so far).
fn format_hms(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// The campaign loop: each job runs its cases through the runner `runner(job)` makes.
fn campaign<R>(cfg: &CampaignConfig, runner: impl Fn(u32) -> R + Sync) -> CampaignReport
where
    R: FnMut(&[u8]) -> Result<Stats, Finding>,
{
    let start = Instant::now();
    let stop = AtomicBool::new(false);
    let cases = AtomicU64::new(0);
    let ops = AtomicU64::new(0);
    let found: Mutex<Option<FoundCase>> = Mutex::new(None);
    let kinds = Mutex::new(KindCounts::new());
    // The progress: on a terminal a live indicatif bar; in a log, a line every 10 seconds;
    // and a last line once every job has stopped. It only reads the counters.
    let tty = std::io::stderr().is_terminal();
    let numbers = || {
        let t = start.elapsed().as_secs_f64();
        let o = ops.load(Ordering::Relaxed);
        let findings = found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .count();
        (t, o, findings)
    };
    let message = || {
        let (t, o, findings) = numbers();
        format!(
            "cases {}  ops {}  {:.0} ops/s  findings {findings}",
            cases.load(Ordering::Relaxed),
            o,
            o as f64 / t.max(1e-9)
        )
    };
    let line = || {
        let (t, o, findings) = numbers();
        let bar = match cfg.time_limit {
            Some(limit) => {
                let frac = (t / limit.as_secs_f64()).min(1.0);
                let filled = (frac * 20.0) as usize;
                format!("[{}{}] ", "#".repeat(filled), ".".repeat(20 - filled))
            }
            None => String::new(),
        };
        format!(
            "{bar}{:>6.1}s  cases {:>9}  ops {:>11}  {:>9.0} ops/s  findings {findings}",
            t,
            cases.load(Ordering::Relaxed),
            o,
            o as f64 / t.max(1e-9)
        )
    };
    std::thread::scope(|s| {
        for job in 0..cfg.jobs.max(1) {
            let (stop, cases, ops, found, runner) = (&stop, &cases, &ops, &found, &runner);
            let kinds = &kinds;
            s.spawn(move || {
                let _quiet = QuietScope::new();
                let mut run = runner(job);
                let mut mine = KindCounts::new();
                let mut k = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if let Some(max) = cfg.max_cases {
                        if cases.fetch_add(1, Ordering::Relaxed) >= max {
                            cases.fetch_sub(1, Ordering::Relaxed);
                            break;
                        }
                    } else {
                        cases.fetch_add(1, Ordering::Relaxed);
                    }
                    let input = generate(cfg.seed, job, k);
                    match run(&input) {
                        Ok(stats) => {
                            ops.fetch_add(stats.ops, Ordering::Relaxed);
                            mine.add_case(&stats);
                        }
                        Err(finding) => {
                            let mut slot = found.lock().unwrap_or_else(|e| e.into_inner());
                            if slot.is_none() {
                                *slot = Some(FoundCase {
                                    job,
                                    case: k,
                                    input,
                                    finding,
                                    ops_before: ops.load(Ordering::Relaxed),
                                    after: start.elapsed(),
                                });
                            }
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    k += 1;
                    if cfg.time_limit.is_some_and(|t| start.elapsed() >= t) {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
                kinds.lock().unwrap_or_else(|e| e.into_inner()).merge(&mine);
            });
        }
        if cfg.progress {
            let bar = tty.then(|| progress_bar(cfg.time_limit));
            let mut last = Instant::now();
            let running = || {
                !stop.load(Ordering::Relaxed)
                    && cfg
                        .max_cases
                        .is_none_or(|m| cases.load(Ordering::Relaxed) < m)
            };
            while running() {
                std::thread::sleep(PROGRESS_POLL);
                match &bar {
                    Some(bar) => {
                        let ms = start.elapsed().as_millis();
                        bar.set_position(u64::try_from(ms).unwrap_or(u64::MAX));
                        bar.set_message(message());
                    }
                    None if last.elapsed() >= LOG_LINE_EVERY && running() => {
                        last = Instant::now();
                        eprintln!("{}", line());
                    }
                    None => {}
                }
            }
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
        }
    });
    if cfg.progress {
        eprintln!("{} ", line());
    }
    let kinds = kinds.into_inner().unwrap_or_else(|e| e.into_inner());
    CampaignReport {
        cases: cases.load(Ordering::Relaxed),
        ops: ops.load(Ordering::Relaxed),
        op_kinds: KindCounts::by_name(&kinds.ops),
        error_kinds: KindCounts::by_name(&kinds.errors),
        elapsed: start.elapsed(),
        finding: found.into_inner().unwrap_or_else(|e| e.into_inner()),
    }
}
