//! Running the trials (see the module comment of [`super`]): the in-process engines
//! (campaign, proptest) call the harness directly; the external ones (libFuzzer, AFL++) are
//! built once and started once per trial in a scratch folder, and their crash files are
//! replayed here to decide whether they are the bug's.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::{any, Strategy};
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use super::external::{afl_stat, is_afl_crash, is_libfuzzer_crash, libfuzzer_executions, tail};
use super::{Cell, Engine, Measurement, Outcome, Trial, LIBFUZZER_MAX_LEN};
use crate::bugs::{Bug, BugSet};
use crate::harness::campaign::{run_campaign, CampaignConfig};
use crate::harness::panics::QuietScope;
use crate::harness::target::{run, run_with, AnyTarget, BUGS_ENV};

/// The longest byte vector the proptest engine generates (the property's `0..2048`).
pub const PROPTEST_MAX_BYTES: usize = 2048;

/// libFuzzer's per-input limit, in seconds (ci/fuzz's: a slow seed is not a hang).
const LIBFUZZER_INPUT_TIMEOUT: u64 = 25;

/// libFuzzer's memory limit, in MB (ci/fuzz's).
const LIBFUZZER_RSS_MB: u64 = 4096;

/// libFuzzer's power schedule scaled by each input's run time (ci/fuzz's): without it, one
/// input whose fill op makes 16,384 areas (two seconds under coverage tracing, the walk
/// strategy placing each in O(areas)) joins the corpus, its mutants keep the fill, and a vmap
/// trial crawls at 15 to 30 runs a second; vfree-flushes-nothing was missed on one seed of
/// three that way, and is found in 2 s on it with the flag. The price: libFuzzer's choices
/// then depend on timing, so a trial's inputs no longer repeat exactly.
const LIBFUZZER_SCHEDULE: &str = "-entropic_scale_per_exec_time=1";

/// How long past its budget an external engine may run (start-up, calibration, writing its
/// files) before it is killed and the trial counted as a miss.
const OVERRUN: Duration = Duration::from_secs(60);

/// How often a running external engine is polled.
const POLL: Duration = Duration::from_millis(50);

/// The lines of an engine's log quoted when it fails.
const LOG_TAIL_LINES: usize = 15;

/// What `kvafuzz bugs --engine` measures.
pub struct Plan {
    /// The engines, in order.
    pub engines: Vec<Engine>,
    /// Seeds per bug and engine (K).
    pub seeds: u32,
    /// Every trial's budget in seconds; `None`: each engine's default.
    pub budget: Option<u64>,
    /// The bugs, each with its target.
    pub bugs: Vec<(Bug, &'static dyn AnyTarget)>,
}

/// Whether `input` detects `bug` of `target`: it fails with the bug on and passes without.
/// `Err` holds what it is instead (for the note of a miss).
fn attribute(target: &dyn AnyTarget, bug: Bug, input: &[u8]) -> Result<(), String> {
    let _quiet = QuietScope::new();
    match run_with(target, input, BugSet::only(bug)) {
        Ok(_) => Err("a crash that does not fail when replayed with the bug on".into()),
        Err(_) => match run(target, input) {
            Ok(_) => Ok(()),
            Err(f) => Err(format!("a finding with no bug on (not this bug's): {f}")),
        },
    }
}

/// An engine ready to run trials, or why it cannot.
enum Ready {
    /// In process.
    InProcess,
    /// An external engine's binaries are in this folder (one per target name).
    Binaries(PathBuf),
    /// The tool is missing.
    Missing(String),
}

/// Measures `plan`, reporting each trial's result through `progress`. `Err` only when an
/// engine's build fails.
pub fn measure(plan: &Plan, progress: &mut dyn FnMut(&str)) -> Result<Measurement, String> {
    let mut m = Measurement::default();
    let scratch = std::env::temp_dir().join(format!("kvafuzz-engines-{}", std::process::id()));
    for &engine in &plan.engines {
        let budget = plan.budget.unwrap_or(engine.default_budget());
        let ready = prepare(engine, progress)?;
        for &(bug, target) in &plan.bugs {
            let outcome = match &ready {
                Ready::Missing(why) => Outcome::NotRun(why.clone()),
                Ready::InProcess | Ready::Binaries(_) => {
                    let mut trials = Vec::new();
                    let mut failed = None;
                    for k in 0..u64::from(plan.seeds) {
                        let secs = Duration::from_secs(budget);
                        let dir = scratch.join(format!("{}-{}-{k}", engine.name(), bug.name()));
                        let trial = match &ready {
                            Ready::Binaries(bins) => {
                                external(engine, bins, &dir, target, bug, k, secs)
                            }
                            _ => Ok(in_process(engine, target, bug, k, secs)),
                        };
                        let _ = std::fs::remove_dir_all(&dir);
                        match trial {
                            Ok(t) => {
                                progress(&trial_line(engine, bug, &t));
                                trials.push(t);
                            }
                            Err(why) => {
                                progress(&format!("{} {}: {why}", engine.name(), bug.name()));
                                failed = Some(why);
                                break;
                            }
                        }
                    }
                    match failed {
                        Some(why) => Outcome::NotRun(why),
                        None => Outcome::Trials(trials),
                    }
                }
            };
            m.put(bug.name(), target.name(), engine, Cell { budget, outcome });
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(m)
}

/// One progress line.
fn trial_line(engine: Engine, bug: Bug, t: &Trial) -> String {
    format!(
        "{:<9} {:<30} seed {}: {} after {:.3} s, {} {}{}",
        engine.name(),
        bug.name(),
        t.seed,
        if t.found { "found" } else { "MISSED" },
        t.seconds,
        t.executions,
        engine.executions(),
        t.note
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default()
    )
}

/// The repository this binary was built from (where `fuzz/` lives).
fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where cargo puts builds: `CARGO_TARGET_DIR` (relative to the repository) or `default`.
fn target_dir(default: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => repo_root().join(d),
        None => default.to_path_buf(),
    }
}

/// Whether `cargo <tool> --version` runs; if not, tries `cargo install <crate> --locked`
/// once, as the ci/ scripts do.
fn have_cargo_tool(tool: &str, krate: &str, progress: &mut dyn FnMut(&str)) -> bool {
    let works = || {
        Command::new("cargo")
            .args([tool, "--version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if works() {
        return true;
    }
    progress(&format!(
        "installing {krate} (cargo install {krate} --locked)"
    ));
    let installed = Command::new("cargo")
        .args(["install", krate, "--locked"])
        .status()
        .is_ok_and(|s| s.success());
    installed && works()
}

/// Runs a build command, its output shown; `Err` names it if it fails.
fn build(cmd: &mut Command, what: &str, progress: &mut dyn FnMut(&str)) -> Result<(), String> {
    progress(&format!("building {what}"));
    let status = cmd
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// The host's target triple (where cargo-fuzz puts its binaries).
fn host_triple() -> Result<String, String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("rustc -vV: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .ok_or_else(|| "rustc -vV names no host".to_string())
}

/// Gets `engine` ready: nothing for the in-process ones, the seeded-bugs build for the
/// external ones (or why it cannot run).
fn prepare(engine: Engine, progress: &mut dyn FnMut(&str)) -> Result<Ready, String> {
    let root = repo_root();
    match engine {
        Engine::Campaign | Engine::Proptest => Ok(Ready::InProcess),
        Engine::Libfuzzer => {
            if !have_cargo_tool("fuzz", "cargo-fuzz", progress) {
                return Ok(Ready::Missing("cargo-fuzz is not installed".into()));
            }
            let triple = host_triple()?;
            build(
                Command::new("cargo")
                    .args(["fuzz", "build", "-s", "none", "--features", "seeded-bugs"])
                    .args(["--target", &triple])
                    .current_dir(&root),
                "cargo fuzz build -s none --features seeded-bugs",
                progress,
            )?;
            let dir = target_dir(&root.join("fuzz/target"))
                .join(triple)
                .join("release");
            Ok(Ready::Binaries(dir))
        }
        Engine::Afl => {
            if !have_cargo_tool("afl", "cargo-afl", progress) {
                return Ok(Ready::Missing("cargo-afl is not installed".into()));
            }
            // AFL++ itself, built once; "already built" is fine.
            let out = Command::new("cargo")
                .args(["afl", "config", "--build"])
                .output()
                .map_err(|e| format!("cargo afl config --build: {e}"))?;
            let said = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() && !said.contains("already built") {
                return Err(format!(
                    "cargo afl config --build failed: {}",
                    tail(&said, 5)
                ));
            }
            // Its own folder: afl.rs's flags differ from the ordinary build's, and sharing
            // target/release would rebuild both each time.
            let dir = target_dir(&root.join("target")).join("afl-seeded");
            build(
                Command::new("cargo")
                    .args(["afl", "build", "--release", "--features", "seeded-bugs"])
                    .env("CARGO_TARGET_DIR", &dir)
                    .current_dir(root.join("fuzz/afl")),
                "cargo afl build --release --features seeded-bugs",
                progress,
            )?;
            Ok(Ready::Binaries(dir.join("release")))
        }
    }
}

/// The campaign or proptest on one bug with seed `k`.
fn in_process(
    engine: Engine,
    target: &'static dyn AnyTarget,
    bug: Bug,
    k: u64,
    budget: Duration,
) -> Trial {
    match engine {
        Engine::Proptest => proptest_trial(target, bug, k, budget),
        _ => campaign_trial(target, bug, k, budget),
    }
}

/// The campaign, seed `k`, one job; executions are cases.
pub fn campaign_trial(target: &'static dyn AnyTarget, bug: Bug, k: u64, budget: Duration) -> Trial {
    let report = run_campaign(&CampaignConfig {
        target,
        seed: k,
        jobs: 1,
        time_limit: Some(budget),
        max_cases: None,
        bugs: BugSet::only(bug),
        progress: false,
    });
    match report.finding {
        Some(f) => {
            let verdict = attribute(target, bug, &f.input);
            Trial {
                seed: k,
                found: verdict.is_ok(),
                seconds: f.after.as_secs_f64(),
                executions: f.case.saturating_add(1),
                note: verdict.err(),
            }
        }
        None => Trial {
            seed: k,
            found: false,
            seconds: report.elapsed.as_secs_f64(),
            executions: report.cases,
            note: None,
        },
    }
}

/// The 32-byte ChaCha seed of proptest trial `k`.
fn proptest_seed(k: u64) -> [u8; 32] {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&k.to_le_bytes());
    seed
}

/// proptest's TestRunner on a ChaCha `TestRng` seeded from `k`, generating the property's
/// byte vectors until one detects the bug or the budget is spent.
pub fn proptest_trial(target: &'static dyn AnyTarget, bug: Bug, k: u64, budget: Duration) -> Trial {
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &proptest_seed(k));
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let strategy = proptest::collection::vec(any::<u8>(), 0..PROPTEST_MAX_BYTES);
    let start = Instant::now();
    let mut cases = 0u64;
    let _quiet = QuietScope::new();
    while start.elapsed() < budget {
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            break;
        };
        let data = tree.current();
        cases = cases.saturating_add(1);
        if run_with(target, &data, BugSet::only(bug)).is_err() {
            let verdict = attribute(target, bug, &data);
            return Trial {
                seed: k,
                found: verdict.is_ok(),
                seconds: start.elapsed().as_secs_f64(),
                executions: cases,
                note: verdict.err(),
            };
        }
    }
    Trial {
        seed: k,
        found: false,
        seconds: start.elapsed().as_secs_f64(),
        executions: cases,
        note: None,
    }
}

/// Waits for `child` until it exits or `limit` has passed (then kills it); whether it
/// exited by itself.
fn wait_bounded(child: &mut Child, limit: Duration) -> Result<bool, String> {
    let start = Instant::now();
    loop {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            return Ok(true);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(false);
        }
        std::thread::sleep(POLL);
    }
}

/// The files in `dir` whose names `keep` accepts, sorted.
fn files(dir: &Path, keep: fn(&str) -> bool) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(keep))
        .collect();
    found.sort();
    found
}

/// A libFuzzer or AFL++ trial of `bug` with seed `k` in the scratch folder `dir`.
fn external(
    engine: Engine,
    bins: &Path,
    dir: &Path,
    target: &dyn AnyTarget,
    bug: Bug,
    k: u64,
    budget: Duration,
) -> Result<Trial, String> {
    let bin = bins.join(target.name());
    if !bin.is_file() {
        return Err(format!("no binary at {}", bin.display()));
    }
    let _ = std::fs::remove_dir_all(dir);
    let (input, output) = (dir.join("in"), dir.join("out"));
    for d in [&input, &output] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let log_path = dir.join("log");
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let secs = budget.as_secs().max(1).to_string();
    let mut cmd;
    if engine == Engine::Libfuzzer {
        cmd = Command::new(&bin);
        cmd.arg(&input)
            .arg(format!("-seed={}", k.saturating_add(1)))
            .arg(format!("-max_total_time={secs}"))
            .arg("-print_final_stats=1")
            .arg(format!("-max_len={LIBFUZZER_MAX_LEN}"))
            .arg("-len_control=0")
            .arg(format!("-timeout={LIBFUZZER_INPUT_TIMEOUT}"))
            .arg(format!("-rss_limit_mb={LIBFUZZER_RSS_MB}"))
            .arg(LIBFUZZER_SCHEDULE)
            .arg(format!("-artifact_prefix={}/", output.display()));
    } else {
        let seed = input.join("seed");
        std::fs::write(&seed, super::afl_seed()).map_err(|e| format!("{}: {e}", seed.display()))?;
        cmd = Command::new("cargo");
        cmd.args(["afl", "fuzz", "-i"])
            .arg(&input)
            .arg("-o")
            .arg(&output)
            .args(["-s", &k.saturating_add(1).to_string(), "-V", &secs, "--"])
            .arg(&bin)
            .env("AFL_BENCH_UNTIL_CRASH", "1")
            .env("AFL_NO_UI", "1")
            .env("AFL_SKIP_CPUFREQ", "1")
            .env("AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES", "1")
            // A shared machine: AFL++ would refuse to start when every core is busy.
            .env("AFL_NO_AFFINITY", "1");
    }
    let start = Instant::now();
    let mut child = cmd
        .env(BUGS_ENV, bug.name())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("{}: cannot start: {e}", engine.name()))?;
    let exited = wait_bounded(&mut child, budget + OVERRUN)?;
    let seconds = start.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let (crashes, executions) = if engine == Engine::Libfuzzer {
        (
            files(&output, is_libfuzzer_crash),
            libfuzzer_executions(&text),
        )
    } else {
        let stats =
            std::fs::read_to_string(output.join("default/fuzzer_stats")).unwrap_or_default();
        (
            files(&output.join("default/crashes"), is_afl_crash),
            afl_stat(&stats, "execs_done"),
        )
    };
    let Some(executions) = executions else {
        return Err(format!(
            "{} left no statistics (exited by itself: {exited}); its log ends:\n{}",
            engine.name(),
            tail(&text, LOG_TAIL_LINES)
        ));
    };
    let mut note = None;
    for c in &crashes {
        let bytes = std::fs::read(c).map_err(|e| format!("{}: {e}", c.display()))?;
        match attribute(target, bug, &bytes) {
            Ok(()) => {
                return Ok(Trial {
                    seed: k,
                    found: true,
                    seconds,
                    executions,
                    note: None,
                })
            }
            Err(why) => note = Some(why),
        }
    }
    if !exited {
        note = Some(format!("killed {} s past its budget", OVERRUN.as_secs()));
    }
    Ok(Trial {
        seed: k,
        found: false,
        seconds,
        executions,
        note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The target of `bug`.
    fn target_of(bug: Bug) -> &'static dyn AnyTarget {
        crate::harness::REGISTRY
            .iter()
            .copied()
            .find(|t| t.bugs().contains(&bug))
            .unwrap_or_else(|| panic!("{} has no target", bug.name()))
    }

    #[test]
    fn the_campaign_finds_a_real_seeded_bug() {
        let bug = Bug::ZeroSentinel;
        let t = campaign_trial(target_of(bug), bug, 0, Duration::from_secs(20));
        assert!(t.found, "{t:?}");
        assert!(t.executions >= 1 && t.note.is_none());
    }

    #[test]
    fn proptest_finds_a_real_seeded_bug() {
        let bug = Bug::ZeroSentinel;
        let t = proptest_trial(target_of(bug), bug, 0, Duration::from_secs(20));
        assert!(t.found, "{t:?}");
        assert!(t.executions >= 1 && t.note.is_none());
        let again = proptest_trial(target_of(bug), bug, 0, Duration::from_secs(20));
        assert_eq!(again.executions, t.executions, "the seed fixes the cases");
    }

    #[test]
    fn the_afl_seed_passes_with_every_bug_on() {
        let seed = super::super::afl_seed();
        assert_eq!(seed.len(), super::super::AFL_SEED_LEN);
        for bug in crate::bugs::ALL_BUGS {
            let t = target_of(bug);
            assert!(
                run_with(t, &seed, BugSet::only(bug)).is_ok(),
                "{}",
                bug.name()
            );
        }
    }
}
