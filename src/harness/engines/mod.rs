//! # Every engine on every seeded bug
//!
//! `kvafuzz bugs --engine E` measures how fast each fuzzing engine the project supports
//! finds each seeded bug (`crate::bugs`): the built-in seeded campaign, libFuzzer (the
//! cargo-fuzz targets), AFL++ (the afl.rs binaries) and proptest (the byte-vector property of
//! `tests/state_machine.rs`). All four call the same entry point
//! ([`super::run_with`]), so what differs is only how each one makes inputs.
//!
//! ## 1. A trial
//!
//! One *trial* is one engine, one bug, one seed `k` (`0..K`, K = `--seeds`, default
//! [`DEFAULT_SEEDS`]) and a wall-clock *budget* (`--budget`, default
//! [`Engine::default_budget`]). It ends at the first detection or when the budget is spent,
//! and records whether the bug was detected, the wall seconds until then and the executions
//! until then (what each engine counts: the campaign's cases, libFuzzer's
//! `stat::number_of_executed_units`, AFL's `execs_done`, proptest's generated cases). A
//! detection counts only if it is the bug's: the input fails with that bug switched on
//! (`run_with(target, input, BugSet::only(bug))`) and passes with none (`run`); anything else
//! (a real bug, a harness fault) is a miss with a note. Seeds make the campaign's and
//! proptest's inputs deterministic (only their wall times vary from run to run); libFuzzer's
//! and AFL++'s schedules also look at run times, so theirs vary a little too.
//!
//! ## 2. The engines (`run`, with the `seeded-bugs` feature)
//!
//! - **campaign**: [`super::campaign::run_campaign`] in this process, seed `k`, one job.
//! - **libfuzzer**: the cargo-fuzz target built once with `--features seeded-bugs`, run
//!   directly per trial with `KVAFUZZ_BUGS=<bug>`, `-seed=<k+1>` and `-max_total_time`,
//!   from an **empty** scratch corpus: `corpus/<target>/` holds regression inputs for these
//!   very bugs, so starting from it would measure replay, not finding. Inputs go up to
//!   [`LIBFUZZER_MAX_LEN`] bytes from the start (`-len_control=0`): from an empty
//!   corpus libFuzzer's length control keeps inputs too short for a three-op scenario.
//!   Its power schedule is scaled by run time (`-entropic_scale_per_exec_time=1`, as in
//!   ci/fuzz), so a rare slow input (a vmap fill of 16,384 areas) is not what it mutates all
//!   day; this makes its choices depend on timing, so its trials do not repeat exactly.
//! - **afl**: the afl.rs binary built once (release) with the same feature, run per trial
//!   from one fixed seed file ([`afl_seed`]: 256 pseudo-random bytes, not the corpus, for
//!   the same reason) with
//!   `-s <k+1> -V <budget>` and `AFL_BENCH_UNTIL_CRASH=1` (stop at the first crash).
//! - **proptest**: a `TestRunner` on a ChaCha `TestRng` seeded from `k`, generating the
//!   property's byte vectors (`vec(any::<u8>(), 0..2048)`) until a detection or the budget.
//!
//! An engine whose tool is missing (no cargo-fuzz, no cargo-afl) is reported as "not run"
//! with the reason, in the table as in the output; a build failure is an error.
//!
//! ## 3. Figures ([`chart`])
//!
//! Per bug and engine: the median seconds and executions to detection over the K seeds,
//! a missed trial counting as infinitely slow (so a median exists only when most seeds
//! found the bug), and how many seeds found it. Goals (from the issue): every bug found on
//! every seed by every engine, the campaign's median within 10 s and libFuzzer's and AFL's
//! within 120 s (proptest has no time goal but its budget). [`chart::markdown`] writes the
//! table with a goal column and summary lines saying met or MISSED, [`chart::svg`] a chart
//! of median times on a log axis with every trial marked.
//!
//! ## 4. Merging runs
//!
//! A full run takes most of an hour, so engines can be measured one run at a time: the
//! figures are kept in `engines.json` beside the table ([`Measurement`]), and a run replaces
//! only the cells (bug, engine) it measured; the table and chart are drawn from the merged
//! figures, each cell with the seeds and budget it was measured with.

pub mod chart;
pub mod external;
#[cfg(feature = "seeded-bugs")]
pub mod run;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Seeds per bug and engine when `--seeds` is not given.
pub const DEFAULT_SEEDS: u32 = 5;

/// The length of [`afl_seed`]: [`LIBFUZZER_MAX_LEN`], the campaign's short case, so that
/// AFL++ starts where libFuzzer does: from inputs that already hold several ops.
pub const AFL_SEED_LEN: usize = LIBFUZZER_MAX_LEN;

/// The key of the ChaCha8 stream [`afl_seed`] draws its bytes from. It must give bytes that
/// pass on every target with any one bug on (a seed that crashes would stop AFL++ before it
/// fuzzes; the test `the_afl_seed_passes_with_every_bug_on` checks it). That is rare: 256
/// random bytes set off at least one of the 38 seeded bugs for 196 of the keys 0 to 199;
/// 78 is the first of the other four.
pub const AFL_SEED_KEY: u64 = 78;

/// The seed file every AFL++ trial starts from: [`AFL_SEED_LEN`] pseudo-random bytes, the same
/// for every target, bug and trial. Not a regression input and not shaped by hand: it only
/// gives AFL++ an input long enough for a few ops. The earlier seed, 16 bytes of 0xff (one
/// header, no op), left AFL++ growing inputs from nothing: it needed 60,000 to 170,000 runs
/// (43 s to past the 120 s budget) for stale-check-ignores-page-size, whose detection takes a
/// large mapping, an access, a resize and another access; from this seed it took 3,000 to
/// 90,000 runs (1 to 33 s, median 22 s) on five AFL++ seeds (docs/engines.md).
pub fn afl_seed() -> Vec<u8> {
    use rand_chacha::rand_core::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(AFL_SEED_KEY);
    let mut bytes = vec![0u8; AFL_SEED_LEN];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// The longest input libFuzzer makes, from the first run on (`-max_len`, with
/// `-len_control=0`). Ops take 2 to 40 bytes each, the mmu map op most, so the three-op
/// scenarios of the TLB bugs need 60 to 80 bytes; libFuzzer's own length control, which
/// grows the limit from 4 bytes only while coverage stalls, still held it at 42 bytes after
/// 120 s from an empty corpus, and it never found them. 256 bytes is the campaign's short
/// case: several ops, still thousands of runs a second.
pub const LIBFUZZER_MAX_LEN: usize = 256;

/// The file beside the table holding the figures runs are merged into.
pub const FIGURES_FILE: &str = "engines.json";

/// The markdown table's file name.
pub const TABLE_FILE: &str = "engines.md";

/// The chart's file name.
pub const CHART_FILE: &str = "engines.svg";

/// A fuzzing engine measured by `kvafuzz bugs --engine`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// The built-in seeded campaign, in process.
    Campaign,
    /// libFuzzer through cargo-fuzz.
    Libfuzzer,
    /// AFL++ through afl.rs.
    Afl,
    /// proptest's TestRunner over generated byte vectors, in process.
    Proptest,
}

impl Engine {
    /// Every engine, in the order of the table's columns.
    pub const ALL: [Engine; 4] = [
        Engine::Campaign,
        Engine::Libfuzzer,
        Engine::Afl,
        Engine::Proptest,
    ];

    /// The name on the command line and in the table.
    pub const fn name(self) -> &'static str {
        match self {
            Engine::Campaign => "campaign",
            Engine::Libfuzzer => "libfuzzer",
            Engine::Afl => "afl",
            Engine::Proptest => "proptest",
        }
    }

    /// A trial's budget in seconds when `--budget` is not given: the campaign's goal for the
    /// campaign, the external engines' goal for the others.
    pub const fn default_budget(self) -> u64 {
        match self {
            Engine::Campaign => 10,
            Engine::Libfuzzer | Engine::Afl | Engine::Proptest => 120,
        }
    }

    /// The goal for the median seconds to detection (the issue's: 10 s for the campaign,
    /// 120 s for libFuzzer and AFL; proptest, which has none, is held to its default
    /// budget).
    pub const fn goal_seconds(self) -> u64 {
        self.default_budget()
    }

    /// What this engine's executions are.
    pub const fn executions(self) -> &'static str {
        match self {
            Engine::Campaign | Engine::Proptest => "cases",
            Engine::Libfuzzer | Engine::Afl => "execs",
        }
    }
}

/// One trial: one engine on one bug with one seed (see the module comment).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// The seed `k` (engines that take no seed 0 get `k + 1`).
    pub seed: u64,
    /// Whether the bug was detected within the budget.
    pub found: bool,
    /// Wall seconds until the detection, or spent when missed.
    pub seconds: f64,
    /// Executions until the detection, or done when missed.
    pub executions: u64,
    /// Why a miss is one when the budget was not the reason (an unrelated finding), or
    /// `None`.
    pub note: Option<String>,
}

/// What one engine did on one bug.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// The trials, one per seed.
    Trials(Vec<Trial>),
    /// The engine could not run (its tool is missing, or a trial could not start): why.
    NotRun(String),
}

/// One cell of the table: an engine on a bug, with the budget of its trials.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Each trial's budget, in seconds.
    pub budget: u64,
    /// What happened.
    pub outcome: Outcome,
}

/// One row: a seeded bug and its cells.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The bug's name.
    pub bug: String,
    /// Its target.
    pub target: String,
    /// The engines measured on it.
    pub cells: BTreeMap<Engine, Cell>,
}

/// The figures of one or more runs: rows in the order bugs are listed (`kvafuzz list`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// One row per bug.
    pub rows: Vec<Row>,
}

impl Measurement {
    /// Records `cell` for `bug` of `target` and `engine`, replacing an earlier one.
    pub fn put(&mut self, bug: &str, target: &str, engine: Engine, cell: Cell) {
        let pos = self.rows.iter().position(|r| r.bug == bug);
        let row = match pos {
            Some(i) => &mut self.rows[i],
            None => {
                self.rows.push(Row {
                    bug: bug.to_string(),
                    target: target.to_string(),
                    cells: BTreeMap::new(),
                });
                let last = self.rows.len() - 1;
                &mut self.rows[last]
            }
        };
        row.cells.insert(engine, cell);
    }

    /// `newer`'s cells over this measurement's: every cell `newer` has replaces this one's.
    pub fn merge(&mut self, newer: Measurement) {
        for row in newer.rows {
            for (engine, cell) in row.cells {
                self.put(&row.bug, &row.target, engine, cell);
            }
        }
    }

    /// Rows reordered by `rank` of their bug's name (unknown names last, in their order).
    pub fn sort_by_rank(&mut self, rank: impl Fn(&str) -> Option<usize>) {
        self.rows
            .sort_by_key(|r| rank(&r.bug).map_or((1, 0), |i| (0, i)));
    }

    /// The engines with a cell in some row, in column order.
    pub fn engines(&self) -> Vec<Engine> {
        Engine::ALL
            .into_iter()
            .filter(|e| self.rows.iter().any(|r| r.cells.contains_key(e)))
            .collect()
    }

    /// The figures as JSON (the [`FIGURES_FILE`]).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        text.push('\n');
        text
    }

    /// Figures read back from [`Measurement::to_json`]'s text.
    pub fn from_json(text: &str) -> Result<Measurement, String> {
        serde_json::from_str(text).map_err(|e| format!("not the figures of kvafuzz bugs: {e}"))
    }
}

/// The figures of one cell over its trials.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Trials that detected the bug.
    pub found: usize,
    /// Trials.
    pub trials: usize,
    /// Median seconds to detection (a miss counting as infinite); `None` when at least
    /// half the trials missed.
    pub median_seconds: Option<f64>,
    /// Median executions to detection, likewise.
    pub median_executions: Option<f64>,
}

impl Summary {
    /// The summary of `trials`.
    pub fn of(trials: &[Trial]) -> Summary {
        let found = |v: fn(&Trial) -> f64| -> Vec<Option<f64>> {
            trials.iter().map(|t| t.found.then(|| v(t))).collect()
        };
        Summary {
            found: trials.iter().filter(|t| t.found).count(),
            trials: trials.len(),
            median_seconds: censored_median(&found(|t| t.seconds)),
            median_executions: censored_median(&found(|t| t.executions as f64)),
        }
    }

    /// Whether the cell meets its goals: found on every seed, median within `goal` seconds.
    pub fn meets(&self, goal: u64) -> bool {
        self.trials > 0
            && self.found == self.trials
            && self.median_seconds.is_some_and(|s| s <= goal as f64)
    }
}

/// The median of `values`, `None` standing for +infinity (a miss); `None` if the median is
/// infinite or there are no values. With an even count, the mean of the middle two.
pub fn censored_median(values: &[Option<f64>]) -> Option<f64> {
    let mut finite: Vec<f64> = values.iter().flatten().copied().collect();
    finite.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return None;
    }
    // Infinite values sort last, so index i is finite iff i < finite.len().
    let at = |i: usize| finite.get(i).copied();
    if n % 2 == 1 {
        at(n / 2)
    } else {
        Some((at(n / 2 - 1)? + at(n / 2)?) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn trial(seed: u64, found: bool, seconds: f64, executions: u64) -> Trial {
        Trial {
            seed,
            found,
            seconds,
            executions,
            note: None,
        }
    }

    #[test]
    fn medians_count_misses_as_infinite() {
        assert_eq!(censored_median(&[]), None);
        assert_eq!(
            censored_median(&[Some(3.0), Some(1.0), Some(2.0)]),
            Some(2.0)
        );
        assert_eq!(censored_median(&[Some(3.0), None, Some(1.0)]), Some(3.0));
        assert_eq!(censored_median(&[None, None, Some(1.0)]), None);
        assert_eq!(censored_median(&[Some(4.0), Some(1.0)]), Some(2.5));
        assert_eq!(censored_median(&[Some(4.0), None]), None);
    }

    #[test]
    fn a_summary_counts_found_trials_and_judges_the_goal() {
        let s = Summary::of(&[
            trial(0, true, 1.0, 10),
            trial(1, true, 3.0, 30),
            trial(2, false, 10.0, 99),
        ]);
        assert_eq!((s.found, s.trials), (2, 3));
        assert_eq!(s.median_seconds, Some(3.0));
        assert_eq!(s.median_executions, Some(30.0));
        assert!(!s.meets(10), "a missed seed misses the goal");
        let all = Summary::of(&[trial(0, true, 1.0, 10), trial(1, true, 30.0, 30)]);
        assert!(all.meets(20) && !all.meets(10));
        assert!(!Summary::of(&[]).meets(10));
    }

    #[test]
    fn merging_replaces_only_the_cells_measured() {
        let cell = |s: f64| Cell {
            budget: 10,
            outcome: Outcome::Trials(vec![trial(0, true, s, 1)]),
        };
        let mut old = Measurement::default();
        old.put("b1", "vmem", Engine::Campaign, cell(1.0));
        old.put("b1", "vmem", Engine::Afl, cell(2.0));
        let mut new = Measurement::default();
        new.put("b1", "vmem", Engine::Afl, cell(3.0));
        new.put("b0", "mmu", Engine::Afl, cell(4.0));
        old.merge(new);
        assert_eq!(old.rows.len(), 2);
        assert_eq!(old.rows[0].cells[&Engine::Campaign], cell(1.0));
        assert_eq!(old.rows[0].cells[&Engine::Afl], cell(3.0));
        old.sort_by_rank(|b| (b == "b0").then_some(0));
        assert_eq!(old.rows[0].bug, "b0");
        assert_eq!(old.engines(), vec![Engine::Campaign, Engine::Afl]);
        let back = Measurement::from_json(&old.to_json());
        assert_eq!(back, Ok(old));
        assert!(Measurement::from_json("[1]").is_err());
    }
}
