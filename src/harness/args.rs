//! The `kvafuzz` command line's arguments, declared with clap's derive: every subcommand, its
//! flags, their help (short with `-h`, long with `--help`) and the checks clap makes before a
//! command runs (a missing or unknown flag, a number that is not one, `--case-timeout`
//! without `--isolate`: exit 2 with a message naming the flag). Target names (and seeded bug
//! names) are checked against the registry the command line runs over ([`command`] adds
//! them as possible values, so a bad name is refused with the list of good ones).
//! [`super::cli`] runs the parsed [`Cli`].

// The doc comments below are clap's help text, printed as written: `DIR/<target>/` is a path
// pattern for the reader of `--help`, not an HTML tag.
#![allow(rustdoc::invalid_html_tags)]

use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::{Args, CommandFactory, Parser, Subcommand};

use super::isolate::CLI_CHILD_COMMAND;
use super::AnyTarget;

/// The default per-case limit of `--isolate`, in milliseconds
/// ([`super::isolate::DEFAULT_CASE_TIMEOUT`]).
pub const DEFAULT_CASE_TIMEOUT_MS: u64 = super::isolate::DEFAULT_CASE_TIMEOUT.as_millis() as u64;

/// The default length of a `fuzz` or `bugs` campaign, in seconds.
pub const DEFAULT_SECONDS: u64 = 60;

/// The default folder `fuzz` writes findings into.
pub const DEFAULT_FINDINGS: &str = "findings";

/// Kernel virtual-address allocators, fuzzed against naive oracles.
#[derive(Debug, Parser)]
#[command(
    name = "kvafuzz",
    version,
    about = "kvafuzz: kernel virtual-address allocators, fuzzed against naive oracles",
    long_about = "kvafuzz: kernel virtual-address allocators (vmem arenas, vm_map, an x86 \
                  page-table model, a vmap allocator, slab and kmem layers), fuzzed against \
                  naive oracles. `kvafuzz help COMMAND` (or `COMMAND --help`) explains each \
                  command.",
    arg_required_else_help = true,
    propagate_version = true
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Seeded campaign: on a finding, minimize it, write it and print how to replay it.
    #[command(long_about = "\
Seeded campaign (ChaCha8 stream per job). On a finding: minimize it, write it to the
findings folder (default findings/), print how to replay it and add it to the corpus,
exit 1. Exit 0 when the campaign ends clean.

With --isolate, the same campaign with its cases run in a child process, each limited to
--case-timeout milliseconds (default 10000): a crash (stack overflow, abort, signal) or a
case running past the limit is a finding naming its op, minimized in a child too.

With --json FILE, a summary of the run for dashboards (schema: docs/json.md); `--json -`
writes it to stdout, and the human summary line goes to stderr.")]
    Fuzz(FuzzArgs),
    /// Print the trace and verdict of each file (folders: every file in them).
    #[command(long_about = "\
Print the trace and verdict of each file (folders: every file in them). The target is the
one the file's corpus header names, else the name of the file's folder
(corpus/<target>/...), else --target. Exit 1 on a finding (or a file refused).")]
    Replay(ReplayArgs),
    /// Shrink a failing input (delta debugging over its op list).
    #[command(long_about = "\
Shrink a failing input (delta debugging over its op list) and write it (default
FILE.min). Exit 1 when it failed (and was shrunk), 0 when it does not fail. --isolate runs
each candidate in a child process, for an input that crashes or hangs.")]
    Minimize(MinimizeArgs),
    /// Self-test: one campaign per seeded bug; a table of what was detected.
    #[command(long_about = "\
Self-test: one campaign per seeded bug; a table of what was detected (needs the
`seeded-bugs` feature). Exit 0 iff every bug was detected.

With --engine campaign|libfuzzer|afl|proptest|all: every engine measured on every seeded
bug (or --target's, or --bug's) over --seeds K seeds (default 5), each trial within --budget
seconds (default 10 for the campaign, 120 for the others): the median seconds and
executions to detection and how many seeds found it, as a markdown table (also printed)
and an SVG chart in --out (default docs/: engines.md, engines.svg, and engines.json, the
figures each run merges into, so engines can be measured one run at a time). libFuzzer and
AFL++ are built with `--features seeded-bugs` and run from an empty corpus (AFL++: one small
fixed seed file); an engine whose tool is missing is reported as not run. Exit 0 iff every
measured cell met its goals (found on every seed; median within 10 s for the campaign, 120 s
for the others).")]
    Bugs(BugsArgs),
    /// Write the hand-written seed scenarios (NetBSD edge cases, ...) into DIR/<target>/.
    Seeds(SeedsArgs),
    /// Corpus maintenance.
    #[command(subcommand)]
    Corpus(CorpusCommand),
    /// Our keg layout for each slab cache of a Linux slabinfo listing beside Linux's.
    #[command(long_about = "\
Our keg layout for each slab cache of a Linux slabinfo listing (default
benches/workloads/linux-slabinfo.tsv) beside Linux's: slab size, items, header, waste per
slab; the share of caches wasting at most Linux's (goal >= 90%), the worst ten. Exit 0
when the listing was read (goal met or not), 2 when it was not.")]
    SlabReport(SlabReportArgs),
    /// Targets and seeded bugs.
    List,
    /// Target names, one per line (for scripts).
    Targets,
    /// The child process of `fuzz --isolate` (started by it, not by hand).
    #[command(name = CLI_CHILD_COMMAND, hide = true)]
    IsolatedChild,
}

/// `--bug NAME`, shared by fuzz, replay and minimize.
#[derive(Debug, Args)]
pub struct BugArg {
    /// Run with this seeded bug switched on, to see the harness find and show it (needs
    /// the `seeded-bugs` feature; `kvafuzz list` names them).
    #[arg(long, value_name = "NAME")]
    pub bug: Option<String>,
}

/// `--isolate [--case-timeout MS]`, shared by fuzz and minimize.
#[derive(Debug, Args)]
pub struct IsolateArgs {
    /// Run each case in a child process: a crash or a hang is a finding, not the end.
    #[arg(long)]
    pub isolate: bool,
    /// With --isolate: the most milliseconds one case may run.
    #[arg(
        long,
        value_name = "MS",
        requires = "isolate",
        default_value_t = DEFAULT_CASE_TIMEOUT_MS,
        value_parser = parse_case_timeout
    )]
    pub case_timeout: u64,
}

/// `kvafuzz fuzz`.
#[derive(Debug, Args)]
pub struct FuzzArgs {
    /// The target to fuzz (`kvafuzz targets` lists them).
    #[arg(long, value_name = "T")]
    pub target: String,
    /// Stop after this many seconds.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SECONDS, value_parser = parse_num::<u64>)]
    pub seconds: u64,
    /// Key of the campaign's ChaCha8 streams (decimal or 0x hex).
    #[arg(long, value_name = "S", default_value_t = 0, value_parser = parse_num::<u64>)]
    pub seed: u64,
    /// Parallel jobs, one stream each (default: the cores of this machine).
    #[arg(long, value_name = "J", value_parser = parse_num::<u32>)]
    pub jobs: Option<u32>,
    /// Stop after this many cases in all.
    #[arg(long, value_name = "N", value_parser = parse_num::<u64>)]
    pub cases: Option<u64>,
    /// Where findings are written (DIR/<target>/).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_FINDINGS)]
    pub findings: PathBuf,
    /// Write a JSON summary of the run here (`-`: stdout; schema in docs/json.md).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Child processes, as --isolate says.
    #[command(flatten)]
    pub isolate: IsolateArgs,
    /// A seeded bug to switch on.
    #[command(flatten)]
    pub bug: BugArg,
}

/// `kvafuzz replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Files or folders to replay.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The target of every file (default: from its header or folder).
    #[arg(long, value_name = "T")]
    pub target: Option<String>,
    /// Print only findings and the final count, not each trace.
    #[arg(long)]
    pub quiet: bool,
    /// Also draw the address space at the failing op (or after the last op of a passing
    /// input) as an SVG picture into OUT: each structure's ranges as the implementation and
    /// the model hold them, ranges on one side only outlined in red, the addresses the
    /// finding names marked, the op and the finding as the caption. Takes one input file.
    #[arg(long, value_name = "OUT")]
    pub svg: Option<PathBuf>,
    /// A seeded bug to switch on.
    #[command(flatten)]
    pub bug: BugArg,
}

/// `kvafuzz minimize`.
#[derive(Debug, Args)]
pub struct MinimizeArgs {
    /// The failing input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Its target (default: from its header or folder).
    #[arg(long, value_name = "T")]
    pub target: Option<String>,
    /// Where the shrunk input is written (default FILE.min).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Child processes, as --isolate says.
    #[command(flatten)]
    pub isolate: IsolateArgs,
    /// A seeded bug to switch on.
    #[command(flatten)]
    pub bug: BugArg,
}

/// `kvafuzz bugs`.
#[derive(Debug, Args)]
pub struct BugsArgs {
    /// Only the bugs of this target.
    #[arg(long, value_name = "T")]
    pub target: Option<String>,
    /// The longest campaign per bug, in seconds.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SECONDS, value_parser = parse_num::<u64>)]
    pub seconds: u64,
    /// Key of the campaigns' streams.
    #[arg(long, value_name = "S", default_value_t = 1, value_parser = parse_num::<u64>)]
    pub seed: u64,
    /// Measure an engine (or all) on every seeded bug over K seeds instead: median time and
    /// executions to detection, a table and chart in --out (see docs/engines.md).
    #[arg(long, value_name = "ENGINE", conflicts_with_all = ["seconds", "seed"])]
    pub engine: Option<EngineArg>,
    /// With --engine: only this seeded bug.
    #[arg(long, value_name = "NAME", requires = "engine")]
    pub bug: Option<String>,
    /// With --engine: seeds (trials) per bug and engine.
    #[arg(
        long,
        value_name = "K",
        requires = "engine",
        default_value_t = super::engines::DEFAULT_SEEDS,
        value_parser = parse_seeds
    )]
    pub seeds: u32,
    /// With --engine: each trial's budget in seconds [default: 10 for the campaign, 120
    /// for the others].
    #[arg(long, value_name = "SECONDS", requires = "engine", value_parser = parse_budget)]
    pub budget: Option<u64>,
    /// With --engine: the folder of engines.md, engines.svg and engines.json (the figures
    /// each run merges into).
    #[arg(long, value_name = "DIR", requires = "engine", default_value = DEFAULT_ENGINES_OUT)]
    pub out: PathBuf,
}

/// Where `kvafuzz bugs --engine` writes its table and chart by default.
pub const DEFAULT_ENGINES_OUT: &str = "docs";

/// `kvafuzz bugs --engine`'s value: one engine or all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineArg {
    /// The built-in seeded campaign, in process.
    Campaign,
    /// libFuzzer (the cargo-fuzz targets, a seeded-bugs build).
    Libfuzzer,
    /// AFL++ (the afl.rs binaries, a seeded-bugs build).
    Afl,
    /// proptest's TestRunner over generated bytes, in process.
    Proptest,
    /// Every engine, one after the other.
    All,
}

impl EngineArg {
    /// The engines this value names.
    pub fn engines(self) -> Vec<super::engines::Engine> {
        use super::engines::Engine;
        match self {
            EngineArg::Campaign => vec![Engine::Campaign],
            EngineArg::Libfuzzer => vec![Engine::Libfuzzer],
            EngineArg::Afl => vec![Engine::Afl],
            EngineArg::Proptest => vec![Engine::Proptest],
            EngineArg::All => Engine::ALL.to_vec(),
        }
    }
}

/// `kvafuzz seeds`.
#[derive(Debug, Args)]
pub struct SeedsArgs {
    /// The folder to write into (DIR/<target>/<name>.bin).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Only this target's seeds.
    #[arg(long, value_name = "T")]
    pub target: Option<String>,
}

/// `kvafuzz corpus ...`.
#[derive(Debug, Subcommand)]
pub enum CorpusCommand {
    /// Rewrite corpus files in the current version of their target's op language.
    #[command(long_about = "\
Rewrite corpus files in the current version of their target's op language: files in an
older version it still reads, and raw engine inputs (no header), get today's header and
encoding. Exit 1 if a file cannot be read as its target's.")]
    Migrate(MigrateArgs),
}

/// `kvafuzz corpus migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Files or folders to migrate.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The target of every file (default: from its header or folder).
    #[arg(long, value_name = "T")]
    pub target: Option<String>,
}

/// `kvafuzz slab-report`.
#[derive(Debug, Args)]
pub struct SlabReportArgs {
    /// A slabinfo listing (default benches/workloads/linux-slabinfo.tsv).
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
}

/// A number, decimal or `0x` hex.
fn parse_num<T: std::str::FromStr>(v: &str) -> Result<T, String> {
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16)
            .ok()
            .and_then(|n| n.to_string().parse().ok()),
        None => v.parse().ok(),
    };
    parsed.ok_or_else(|| format!("not a number: {v}"))
}

/// A `--seeds`: at least 1.
fn parse_seeds(v: &str) -> Result<u32, String> {
    match parse_num::<u32>(v)? {
        0 => Err("must be at least 1".into()),
        k => Ok(k),
    }
}

/// A `--budget`: at least 1 second.
fn parse_budget(v: &str) -> Result<u64, String> {
    match parse_num::<u64>(v)? {
        0 => Err("must be at least 1 s".into()),
        s => Ok(s),
    }
}

/// A `--case-timeout`: a number of milliseconds, at least 1.
fn parse_case_timeout(v: &str) -> Result<u64, String> {
    match parse_num::<u64>(v)? {
        0 => Err("must be at least 1 ms".into()),
        ms => Ok(ms),
    }
}

/// The names `--bug` accepts: every seeded bug's, or (without the feature) none, and a
/// message saying why.
fn bug_parser() -> clap::builder::ValueParser {
    #[cfg(feature = "seeded-bugs")]
    {
        PossibleValuesParser::new(crate::bugs::ALL_BUGS.map(crate::bugs::Bug::name)).into()
    }
    #[cfg(not(feature = "seeded-bugs"))]
    {
        clap::builder::ValueParser::new(|_: &str| -> Result<String, String> {
            Err("seeded bugs are not compiled in (build with --features seeded-bugs)".into())
        })
    }
}

/// The clap command of [`Cli`], with `--target` of every subcommand limited to the names of
/// `registry` and `--bug` to the seeded bugs'.
pub fn command(registry: &[&dyn AnyTarget]) -> clap::Command {
    let names: Vec<&'static str> = registry.iter().map(|t| t.name()).collect();
    restrict(Cli::command(), &names)
}

/// `cmd` and its subcommands with `--target` and `--bug` limited (see [`command`]).
fn restrict(mut cmd: clap::Command, targets: &[&'static str]) -> clap::Command {
    let has = |cmd: &clap::Command, id: &str| cmd.get_arguments().any(|a| a.get_id() == id);
    if has(&cmd, "target") {
        let names = targets.to_vec();
        cmd = cmd.mut_arg("target", |a| {
            a.value_parser(PossibleValuesParser::new(names))
        });
    }
    if has(&cmd, "bug") {
        cmd = cmd.mut_arg("bug", |a| a.value_parser(bug_parser()));
    }
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in subs {
        cmd = cmd.mut_subcommand(name, |sub| restrict(sub, targets));
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap's own consistency checks of the declared command line.
    #[test]
    fn the_command_line_is_consistent() {
        command(crate::harness::REGISTRY).debug_assert();
    }

    #[test]
    fn numbers_take_decimal_and_hex() {
        assert_eq!(parse_num::<u64>("0x10"), Ok(16));
        assert_eq!(parse_num::<u32>("7"), Ok(7));
        assert!(parse_num::<u32>("0x100000000").is_err());
        assert!(parse_num::<u64>("ten").is_err());
        assert!(parse_case_timeout("0").is_err());
        assert_eq!(parse_case_timeout("5"), Ok(5));
        assert!(parse_seeds("0").is_err() && parse_budget("0").is_err());
        assert_eq!((parse_seeds("3"), parse_budget("120")), (Ok(3), Ok(120)));
    }
}
