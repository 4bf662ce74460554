//! The `kvafuzz` command line: [`main`] parses the arguments ([`super::args`], clap) and
//! runs the command.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::FromArgMatches;

use super::args::{
    self, BugArg, BugsArgs, Cli, Command, CorpusCommand, FuzzArgs, IsolateArgs, MigrateArgs,
    MinimizeArgs, ReplayArgs, SeedsArgs, SlabReportArgs,
};
use super::campaign::{run_campaign, run_campaign_isolated, CampaignConfig};
use super::corpus::{self, CorpusError};
use super::isolate::{self, minimize_isolated, Isolation, CLI_CHILD_COMMAND};
use super::panics::QuietScope;
use super::report::{FuzzSummary, RunInfo, WrittenFinding};
use super::target::{find, AnyTarget, REGISTRY};
use super::{BugSet, FindingKind};

/// `println!` that ends the process quietly when stdout is gone (`kvafuzz replay | head`),
/// with the status a SIGPIPE death would give, instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout(), $($arg)*).is_err() {
            std::process::exit(141);
        }
    }};
}

/// The exit code of a usage error (clap's, and a command's refusal of its arguments).
pub const USAGE_ERROR: i32 = 2;

/// The targets a command line knows.
type Registry<'r> = &'r [&'static dyn AnyTarget];

/// Runs the command line `args` (without the program name) over the registered targets;
/// returns the exit code.
pub fn main(args: Vec<String>) -> i32 {
    main_with(REGISTRY, args)
}

/// [`main`] over the targets of `registry` (a test adds a target of its own this way).
pub fn main_with(registry: Registry, args: Vec<String>) -> i32 {
    let mut cmd = args::command(registry);
    let parsed = cmd
        .try_get_matches_from_mut(std::iter::once("kvafuzz".to_string()).chain(args))
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        // Usage errors (exit 2), and --help and --version (exit 0).
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    match dispatch(registry, cli.command) {
        Ok(code) => code,
        Err(msg) => {
            let _ = cmd
                .error(clap::error::ErrorKind::ValueValidation, msg)
                .print();
            USAGE_ERROR
        }
    }
}

fn dispatch(reg: Registry, command: Command) -> Result<i32, String> {
    match command {
        Command::Fuzz(a) => cmd_fuzz(reg, &a),
        Command::Replay(a) => cmd_replay(reg, &a),
        Command::Minimize(a) => cmd_minimize(reg, &a),
        Command::Bugs(a) => cmd_bugs(reg, &a),
        Command::Seeds(a) => cmd_seeds(reg, &a),
        Command::Corpus(CorpusCommand::Migrate(a)) => cmd_migrate(reg, &a),
        Command::SlabReport(a) => cmd_slab_report(&a),
        Command::IsolatedChild => {
            isolate::serve_if_child(reg);
            Err(format!(
                "{CLI_CHILD_COMMAND} is started by `fuzz --isolate`, not by hand"
            ))
        }
        Command::List => {
            cmd_list(reg);
            Ok(0)
        }
        Command::Targets => {
            for t in reg {
                say!("{}", t.name());
            }
            Ok(0)
        }
    }
}

/// The seeded bug `--bug` names (none without the option); clap checked the name.
fn bugs_of(arg: &BugArg) -> Result<BugSet, String> {
    let Some(name) = arg.bug.as_deref() else {
        return Ok(BugSet::NONE);
    };
    #[cfg(feature = "seeded-bugs")]
    {
        crate::bugs::Bug::from_name(name)
            .map(BugSet::only)
            .ok_or(format!("no seeded bug {name} (kvafuzz list names them)"))
    }
    #[cfg(not(feature = "seeded-bugs"))]
    Err(format!(
        "--bug {name}: seeded bugs are not compiled in (build with --features seeded-bugs)"
    ))
}

/// ` --bug NAME` as given, for printed commands ("" without it).
fn bug_suffix(arg: &BugArg) -> String {
    arg.bug
        .as_deref()
        .map_or(String::new(), |b| format!(" --bug {b}"))
}

/// The isolation `--isolate` and `--case-timeout` ask for (`None` without `--isolate`).
fn isolation(a: &IsolateArgs) -> Result<Option<Isolation>, String> {
    if !a.isolate {
        return Ok(None);
    }
    Isolation::cli(Duration::from_millis(a.case_timeout))
        .map(Some)
        .map_err(|e| format!("--isolate: cannot find this program: {e}"))
}

/// The target `name` names (clap checked it against the registry).
fn target_named(reg: Registry, name: &str) -> Result<&'static dyn AnyTarget, String> {
    find(reg, name).ok_or(format!("unknown target {name} (see `kvafuzz targets`)"))
}

/// The target an optional `--target` names.
fn given_target(
    reg: Registry,
    name: Option<&str>,
) -> Result<Option<&'static dyn AnyTarget>, String> {
    name.map(|n| target_named(reg, n)).transpose()
}

fn cmd_slab_report(args: &SlabReportArgs) -> Result<i32, String> {
    use super::slab_report::{parse, SlabReport, DEFAULT_SLABINFO};
    let path = args
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SLABINFO));
    let path = path.display();
    let text = std::fs::read_to_string(path.to_string()).map_err(|e| format!("{path}: {e}"))?;
    let rows = parse(&text).map_err(|e| format!("{path}: {e}"))?;
    say!("{}", SlabReport::new(rows).render().trim_end());
    Ok(0)
}

fn cmd_list(reg: Registry) {
    say!("targets:");
    for t in reg {
        say!(
            "  {:<8} {} (op language v{})",
            t.name(),
            t.about(),
            t.version()
        );
    }
    #[cfg(feature = "seeded-bugs")]
    {
        say!("seeded bugs (kvafuzz bugs):");
        for t in reg {
            for b in t.bugs() {
                say!("  {:<28} target {}", b.name(), t.name());
            }
        }
    }
    #[cfg(not(feature = "seeded-bugs"))]
    say!("seeded bugs: not compiled in (build with --features seeded-bugs)");
}

fn cmd_fuzz(reg: Registry, args: &FuzzArgs) -> Result<i32, String> {
    let isolation = isolation(&args.isolate)?;
    let bugs = bugs_of(&args.bug)?;
    let target = target_named(reg, &args.target)?;
    #[cfg(feature = "seeded-bugs")]
    if let Some(name) = args.bug.bug.as_deref() {
        let owner = reg
            .iter()
            .find(|t| t.bugs().iter().any(|b| b.name() == name));
        if let Some(owner) = owner.filter(|o| o.name() != target.name()) {
            return Err(format!(
                "seeded bug {name} is in target {}, not {}",
                owner.name(),
                target.name()
            ));
        }
    }
    // `--json -` takes stdout; the human summary then goes to stderr.
    let json_to_stdout = args.json.as_deref() == Some(Path::new("-"));
    let cfg = CampaignConfig {
        target,
        seed: args.seed,
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32)),
        time_limit: Some(Duration::from_secs(args.seconds)),
        max_cases: args.cases,
        bugs,
        progress: true,
    };
    eprintln!(
        "kvafuzz fuzz: target {} seed {} jobs {} for {}s{}{}",
        target.name(),
        cfg.seed,
        cfg.jobs,
        args.seconds,
        cfg.max_cases
            .map_or(String::new(), |m| format!(" or {m} cases")),
        isolation.as_ref().map_or(String::new(), |i| format!(
            ", isolated ({} ms per case)",
            i.case_timeout.as_millis()
        ))
    );
    let report = match &isolation {
        Some(i) => run_campaign_isolated(&cfg, i),
        None => run_campaign(&cfg),
    };
    let written = match &report.finding {
        None => None,
        Some(found) => {
            eprintln!(
                "FINDING (job {} case {}): {}",
                found.job, found.case, found.finding
            );
            let quiet = QuietScope::new();
            let minimized = match &isolation {
                Some(i) => minimize_isolated(target, &found.input, bugs, i),
                None => super::minimize(target, &found.input, bugs),
            };
            let (bytes, finding) =
                minimized.unwrap_or((found.input.clone(), found.finding.clone()));
            let dir = args.findings.join(target.name());
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let name = format!("seed{}-job{}-case{}.bin", cfg.seed, found.job, found.case);
            let path = dir.join(&name);
            std::fs::write(&path, corpus::frame_current(target, &bytes))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let original = dir.join(format!("{name}.orig"));
            std::fs::write(&original, corpus::frame_current(target, &found.input))
                .map_err(|e| format!("{}: {e}", original.display()))?;
            let text = trace_or_listing(target, &bytes, bugs, &finding);
            let svg = picture_beside(target, &bytes, bugs, &finding, &path)?;
            drop(quiet);
            let replay = format!(
                "cargo run --profile fuzzing -- replay {}{}",
                path.display(),
                bug_suffix(&args.bug)
            );
            eprintln!("minimized ({} bytes): {finding}\n{text}", bytes.len());
            eprintln!("replay:          {replay}");
            match &svg {
                Some(p) => eprintln!("map:             {p}"),
                None => eprintln!(
                    "map:             none (a crash or hang is not re-run in this process)"
                ),
            }
            if let Some(bug) = args.bug.bug.as_deref() {
                eprintln!("seeded bug:      {bug} (switched on by --bug; not a corpus entry)");
            } else {
                eprintln!(
                    "add to corpus:   cp {} corpus/{}/<what-broke>.bin",
                    path.display(),
                    target.name()
                );
                eprintln!(
                    "                 then fix the bug at its root, and name the file in \
                     tests/corpus.rs (fixed_findings_stay_fixed); cargo test replays it"
                );
            }
            Some(WrittenFinding {
                finding,
                file: path.display().to_string(),
                original: original.display().to_string(),
                replay,
                svg: svg.unwrap_or_default(),
            })
        }
    };
    let code = i32::from(written.is_some());
    if let Some(out) = &args.json {
        let info = RunInfo {
            target: target.name(),
            op_language_version: target.version(),
            seed: cfg.seed,
            jobs: cfg.jobs,
            isolated: isolation.is_some(),
            bug: args.bug.bug.as_deref(),
        };
        let json = FuzzSummary::new(info, &report, written).to_json();
        if json_to_stdout {
            say!("{}", json.trim_end());
        } else {
            std::fs::write(out, json).map_err(|e| format!("{}: {e}", out.display()))?;
        }
    }
    let summary = format!(
        "summary: target {} seed {} cases {} ops {} in {:.1}s = {:.0} ops/s, findings {}",
        target.name(),
        cfg.seed,
        report.cases,
        report.ops,
        report.elapsed.as_secs_f64(),
        report.ops_per_sec(),
        code
    );
    if json_to_stdout {
        eprintln!("{summary}");
    } else {
        say!("{summary}");
    }
    Ok(code)
}

/// The trace of `bytes` (a payload in the current version) failing with `finding`; for a
/// crash or a timeout, which would take this process with it, its ops as decoded, unrun.
fn trace_or_listing(
    target: &dyn AnyTarget,
    bytes: &[u8],
    bugs: BugSet,
    finding: &super::Finding,
) -> String {
    if matches!(
        finding.kind,
        FindingKind::Crash(_) | FindingKind::Timeout { .. }
    ) {
        let (header, ops) = target.listing(target.version(), bytes);
        let mut text = format!("{header}\n");
        for (i, op) in ops.iter().enumerate() {
            text.push_str(&format!("  #{i} {op}\n"));
        }
        text.push_str("(not run here: it crashes or hangs; `replay` runs it in process)\n");
        return text;
    }
    super::trace(target, bytes, bugs).0
}

/// Every file under `path` (itself if a file), sorted.
pub fn files_under(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if path.is_dir() {
        if let Ok(rd) = std::fs::read_dir(path) {
            for e in rd.flatten() {
                out.extend(files_under(&e.path()));
            }
        }
    } else if path.is_file() {
        out.push(path.to_path_buf());
    }
    out.sort();
    out
}

/// The target of the file at `path` holding `data`: `--target` if given, else the one its
/// corpus header names, else the name of the nearest folder that is a target's.
fn target_of(
    reg: Registry,
    path: &Path,
    data: &[u8],
    given: Option<&'static dyn AnyTarget>,
) -> Result<&'static dyn AnyTarget, String> {
    if let Some(t) = given {
        return Ok(t);
    }
    if let Some(name) = corpus::header_target(data) {
        return find(reg, name).ok_or(format!(
            "{}: its header names target {name}, which this build does not have",
            path.display()
        ));
    }
    path.ancestors()
        .filter_map(|p| p.file_name()?.to_str())
        .find_map(|name| find(reg, name))
        .ok_or(format!(
            "{}: cannot tell the target; use --target",
            path.display()
        ))
}

/// Reads `path` as an input of its target: the target and the file's bytes, or why not (a
/// header in a version the target cannot read, or for another target).
fn read_input(
    reg: Registry,
    path: &Path,
    given: Option<&'static dyn AnyTarget>,
) -> Result<(&'static dyn AnyTarget, Vec<u8>), String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let target = target_of(reg, path, &data, given)?;
    corpus::load(target, &data, true).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((target, data))
}

/// Replays every file of a corpus folder of `target` strictly (each must have a header in
/// a version the target reads, and pass): the number of files, or the first failure with
/// its trace. `cargo test` runs it on every registered target's `corpus/<name>/`.
pub fn replay_corpus(target: &dyn AnyTarget, dir: &Path) -> Result<usize, String> {
    let files = files_under(dir);
    if files.is_empty() {
        return Err(format!("{}: no corpus files", dir.display()));
    }
    for f in &files {
        let data = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
        corpus::load(target, &data, false)
            .map_err(|e: CorpusError| format!("{}: {e}", f.display()))?;
        if let Err(finding) = super::run(target, &data) {
            let (text, _) = super::trace(target, &data, BugSet::NONE);
            return Err(format!("{}: {finding}\n{text}", f.display()));
        }
    }
    Ok(files.len())
}

/// Draws the minimized input `bytes` of `finding` (see [`super::map`]) into `path` with
/// `.svg` added: the file's name, or `None` when the finding is a crash or a hang (running it
/// again in this process could kill it) or no machine was built to draw.
fn picture_beside(
    target: &dyn AnyTarget,
    bytes: &[u8],
    bugs: BugSet,
    finding: &super::Finding,
    path: &Path,
) -> Result<Option<String>, String> {
    if matches!(
        finding.kind,
        FindingKind::Crash(_) | FindingKind::Timeout { .. }
    ) {
        return Ok(None);
    }
    let (_, picture) = super::map::svg(target, bytes, bugs);
    let Some(picture) = picture else {
        return Ok(None);
    };
    let mut out = path.as_os_str().to_owned();
    out.push(".svg");
    let out = PathBuf::from(out);
    std::fs::write(&out, picture).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(Some(out.display().to_string()))
}

fn cmd_replay(reg: Registry, args: &ReplayArgs) -> Result<i32, String> {
    let bugs = bugs_of(&args.bug)?;
    let given = given_target(reg, args.target.as_deref())?;
    if let Some(out) = &args.svg {
        let files: Vec<PathBuf> = args.paths.iter().flat_map(|p| files_under(p)).collect();
        let [file] = files.as_slice() else {
            return Err(format!(
                "--svg draws one input; {} files were given",
                files.len()
            ));
        };
        let (target, data) = read_input(reg, file, given)?;
        let (_, picture) = super::map::svg(target, &data, bugs);
        let picture = picture.ok_or_else(|| {
            format!(
                "{}: no map to draw (the scenario failed before its {} machine was built)",
                file.display(),
                target.name()
            )
        })?;
        std::fs::write(out, picture).map_err(|e| format!("{}: {e}", out.display()))?;
        eprintln!("map of {} written to {}", file.display(), out.display());
    }
    let (mut ok, mut bad) = (0, 0);
    for root in &args.paths {
        let files = files_under(root);
        if files.is_empty() {
            return Err(format!(
                "{}: no such file or folder, or empty",
                root.display()
            ));
        }
        for f in files {
            let (target, data) = match read_input(reg, &f, given) {
                Ok(input) => input,
                Err(why) => {
                    bad += 1;
                    say!("REFUSED {why}");
                    continue;
                }
            };
            let (text, verdict) = super::trace(target, &data, bugs);
            if !args.quiet {
                say!(
                    "== {} ({}, {} bytes)\n{text}",
                    f.display(),
                    target.name(),
                    data.len()
                );
            }
            match verdict {
                Ok(_) => ok += 1,
                Err(finding) => {
                    bad += 1;
                    say!("FINDING in {}: {finding}", f.display());
                }
            }
        }
    }
    say!("replay: {ok} passed, {bad} failed");
    Ok(i32::from(bad > 0))
}

fn cmd_minimize(reg: Registry, args: &MinimizeArgs) -> Result<i32, String> {
    let bugs = bugs_of(&args.bug)?;
    let isolation = isolation(&args.isolate)?;
    let file = args.file.display();
    let given = given_target(reg, args.target.as_deref())?;
    let (target, data) = read_input(reg, &args.file, given)?;
    let quiet = QuietScope::new();
    let result = match &isolation {
        Some(i) => minimize_isolated(target, &data, bugs, i),
        None => super::minimize(target, &data, bugs),
    };
    drop(quiet);
    let Some((bytes, finding)) = result else {
        say!("{file}: does not fail; nothing to minimize");
        return Ok(0);
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{file}.min")));
    std::fs::write(&out, corpus::frame_current(target, &bytes))
        .map_err(|e| format!("{}: {e}", out.display()))?;
    let out = out.display();
    let text = trace_or_listing(target, &bytes, bugs, &finding);
    say!(
        "{text}minimized {} -> {} bytes: {finding}\nwritten to {out}",
        data.len(),
        bytes.len()
    );
    Ok(1)
}

fn cmd_seeds(reg: Registry, args: &SeedsArgs) -> Result<i32, String> {
    let dir = &args.dir;
    let targets = match given_target(reg, args.target.as_deref())? {
        Some(t) => vec![t],
        None => reg.to_vec(),
    };
    for t in targets {
        let d = dir.join(t.name());
        std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
        for (name, bytes) in t.seeds() {
            let p = d.join(format!("{name}.bin"));
            std::fs::write(&p, corpus::frame_current(t, &bytes)).map_err(|e| e.to_string())?;
            say!("wrote {}", p.display());
        }
    }
    Ok(0)
}

fn cmd_migrate(reg: Registry, args: &MigrateArgs) -> Result<i32, String> {
    let given = given_target(reg, args.target.as_deref())?;
    let (mut rewritten, mut current, mut refused) = (0, 0, 0);
    for root in &args.paths {
        let files = files_under(root);
        if files.is_empty() {
            return Err(format!(
                "{}: no such file or folder, or empty",
                root.display()
            ));
        }
        for f in files {
            let data = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
            let outcome = target_of(reg, &f, &data, given).and_then(|t| {
                corpus::migrate(t, &data)
                    .map(|new| (t, new))
                    .map_err(|e| format!("{}: {e}", f.display()))
            });
            match outcome {
                Ok((_, None)) => current += 1,
                Ok((t, Some(new))) => {
                    std::fs::write(&f, new).map_err(|e| format!("{}: {e}", f.display()))?;
                    say!("migrated {} to {} v{}", f.display(), t.name(), t.version());
                    rewritten += 1;
                }
                Err(why) => {
                    say!("REFUSED {why}");
                    refused += 1;
                }
            }
        }
    }
    say!("corpus migrate: {rewritten} rewritten, {current} already current, {refused} refused");
    Ok(i32::from(refused > 0))
}

#[cfg(feature = "seeded-bugs")]
fn cmd_bugs(reg: Registry, args: &BugsArgs) -> Result<i32, String> {
    use crate::bugs::BugSet as Bugs;
    let only = given_target(reg, args.target.as_deref())?;
    if let Some(engine) = args.engine {
        return cmd_engines(reg, args, engine, only);
    }
    let (seconds, seed) = (args.seconds, args.seed);
    say!(
        "{:<28} {:<7} {:<9} {:>12} {:>14}  finding",
        "bug",
        "target",
        "detected",
        "time",
        "ops until"
    );
    let mut missed = 0;
    let bugs = reg
        .iter()
        .filter(|t| only.is_none_or(|o| o.name() == t.name()))
        .flat_map(|&t| t.bugs().iter().map(move |&b| (b, t)));
    for (bug, target) in bugs {
        let tname = target.name();
        let report = run_campaign(&CampaignConfig {
            target,
            seed,
            jobs: 1,
            time_limit: Some(Duration::from_secs(seconds)),
            max_cases: None,
            bugs: Bugs::only(bug),
            progress: false,
        });
        match report.finding {
            // A detection counts only if the bug caused it: the same input must pass with
            // no bug switched on (else the campaign found a real bug, or the harness is
            // wrong, and this bug is not shown to be detectable).
            Some(f) => match super::run(target, &f.input) {
                Ok(_) => say!(
                    "{:<28} {:<7} {:<9} {:>11.3}s {:>14}  {}",
                    bug.name(),
                    tname,
                    "yes",
                    f.after.as_secs_f64(),
                    f.ops_before,
                    f.finding.signature()
                ),
                Err(without) => {
                    missed += 1;
                    say!(
                        "{:<28} {:<7} {:<9} {:>11.3}s {:>14}  fails with no bug on too: {}",
                        bug.name(),
                        tname,
                        "UNRELATED",
                        f.after.as_secs_f64(),
                        f.ops_before,
                        without
                    );
                }
            },
            None => {
                missed += 1;
                say!(
                    "{:<28} {:<7} {:<9} {:>11.3}s {:>14}  -",
                    bug.name(),
                    tname,
                    "NO",
                    report.elapsed.as_secs_f64(),
                    report.ops
                );
            }
        }
    }
    say!("seeded bugs: {missed} missed");
    Ok(i32::from(missed > 0))
}

/// `kvafuzz bugs --engine`: see [`super::engines`].
#[cfg(feature = "seeded-bugs")]
fn cmd_engines(
    reg: Registry,
    args: &BugsArgs,
    engine: args::EngineArg,
    only: Option<&'static dyn AnyTarget>,
) -> Result<i32, String> {
    use super::engines::{chart, run, Measurement, CHART_FILE, FIGURES_FILE, TABLE_FILE};
    let bugs: Vec<_> = reg
        .iter()
        .filter(|t| only.is_none_or(|o| o.name() == t.name()))
        .flat_map(|&t| t.bugs().iter().map(move |&b| (b, t)))
        .filter(|(b, _)| args.bug.as_deref().is_none_or(|n| n == b.name()))
        .collect();
    if bugs.is_empty() {
        return Err("no seeded bug matches --target and --bug".into());
    }
    let plan = run::Plan {
        engines: engine.engines(),
        seeds: args.seeds,
        budget: args.budget,
        bugs,
    };
    let measured = run::measure(&plan, &mut |line| eprintln!("{line}"))?;
    let met = measured.rows.iter().all(|r| {
        r.cells.iter().all(|(e, c)| match &c.outcome {
            super::engines::Outcome::Trials(t) => {
                super::engines::Summary::of(t).meets(e.goal_seconds())
            }
            super::engines::Outcome::NotRun(_) => false,
        })
    });
    let dir = &args.out;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let figures = dir.join(FIGURES_FILE);
    let mut all = match std::fs::read_to_string(&figures) {
        Ok(text) => {
            Measurement::from_json(&text).map_err(|e| format!("{}: {e}", figures.display()))?
        }
        Err(_) => Measurement::default(),
    };
    all.merge(measured);
    all.sort_by_rank(|name| crate::bugs::ALL_BUGS.iter().position(|b| b.name() == name));
    let table = chart::markdown(&all);
    for (file, text) in [
        (FIGURES_FILE, all.to_json()),
        (TABLE_FILE, table.clone()),
        (CHART_FILE, chart::svg(&all)),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    say!("{table}");
    say!(
        "wrote {}, {} and {}",
        dir.join(TABLE_FILE).display(),
        dir.join(CHART_FILE).display(),
        figures.display()
    );
    Ok(i32::from(!met))
}

#[cfg(not(feature = "seeded-bugs"))]
fn cmd_bugs(_reg: Registry, _args: &BugsArgs) -> Result<i32, String> {
    Err("seeded bugs are not compiled in: cargo run --features seeded-bugs -- bugs".into())
}
