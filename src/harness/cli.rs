//! The `kvafuzz` command line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::campaign::{run_campaign, run_campaign_isolated, CampaignConfig};
use super::corpus::{self, CorpusError};
use super::isolate::{self, minimize_isolated, Isolation, CLI_CHILD_COMMAND};
use super::panics::QuietScope;
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

const USAGE: &str = "\
kvafuzz: kernel virtual-address allocators, fuzzed against naive oracles

USAGE:
  kvafuzz fuzz --target T [--seconds N] [--seed S] [--jobs J] [--cases N] [--findings DIR]
      Seeded campaign (ChaCha8 stream per job). On a finding: minimize it, write it to
      DIR (default findings/), print how to replay it and add it to the corpus, exit 1.
  kvafuzz fuzz ... --isolate [--case-timeout MS]
      The same campaign with its cases run in a child process, each limited to MS
      milliseconds (default 10000): a crash (stack overflow, abort, signal) or a case
      running past the limit is a finding naming its op, minimized in a child too.
  kvafuzz replay PATH... [--target T] [--quiet]
      Print the trace and verdict of each file (folders: every file in them). The target
      defaults to the name of the file's folder (corpus/<target>/...). Exit 1 on a finding.
  kvafuzz minimize FILE [--target T] [--out FILE] [--isolate [--case-timeout MS]]
      Shrink a failing input (delta debugging over its op list); --isolate runs each
      candidate in a child process, for an input that crashes or hangs.
  fuzz, replay and minimize also take --bug NAME (with the `seeded-bugs` feature): run
      with that seeded bug switched on, to see the harness find and show it.
  kvafuzz bugs [--target T] [--seconds N] [--seed S]
      Self-test: one campaign per seeded bug; a table of what was detected (needs the
      `seeded-bugs` feature). Exit 0 iff every bug was detected.
  kvafuzz seeds [--target T] DIR
      Write the hand-written seed scenarios (NetBSD edge cases, ...) into DIR/<target>/.
  kvafuzz corpus migrate PATH... [--target T]
      Rewrite corpus files in the current version of their target's op language: files
      in an older version it still reads, and raw engine inputs (no header), get today's
      header and encoding. Exit 1 if a file cannot be read as its target's.
  kvafuzz slab-report [PATH]
      Our keg layout for each slab cache of a Linux slabinfo listing (default
      benches/workloads/linux-slabinfo.tsv) beside Linux's: slab size, items, header,
      waste per slab; the share of caches wasting at most Linux's (goal >= 90%), the
      worst ten. Exit 0 when the listing was read (goal met or not), 2 when it was not.
  kvafuzz list
      Targets and seeded bugs.
  kvafuzz targets
      Target names, one per line (for scripts).
";

struct Args {
    positional: Vec<String>,
    opts: Vec<(String, Option<String>)>,
}

impl Args {
    fn parse(raw: Vec<String>) -> Result<Args, String> {
        let mut positional = Vec::new();
        let mut opts = Vec::new();
        let mut it = raw.into_iter().peekable();
        while let Some(a) = it.next() {
            if let Some(name) = a.strip_prefix("--") {
                let flag = matches!(name, "quiet" | "help" | "isolate");
                let value = if flag {
                    None
                } else {
                    Some(it.next().ok_or(format!("--{name} needs a value"))?)
                };
                opts.push((name.to_string(), value));
            } else {
                positional.push(a);
            }
        }
        Ok(Args { positional, opts })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.opts
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// The seeded bug `--bug` names (none without the option).
    fn bugs(&self) -> Result<BugSet, String> {
        let Some(name) = self.get("bug") else {
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
    fn bug_suffix(&self) -> String {
        self.get("bug")
            .map_or(String::new(), |b| format!(" --bug {b}"))
    }

    fn flag(&self, name: &str) -> bool {
        self.opts.iter().any(|(n, _)| n == name)
    }

    fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => parse_num(v).ok_or(format!("--{name}: not a number: {v}")),
        }
    }

    /// The isolation `--isolate` and `--case-timeout` ask for (`None` without `--isolate`).
    fn isolation(&self) -> Result<Option<Isolation>, String> {
        let ms: u64 = self.num(
            "case-timeout",
            u64::try_from(isolate::DEFAULT_CASE_TIMEOUT.as_millis()).unwrap_or(u64::MAX),
        )?;
        if !self.flag("isolate") {
            return match self.get("case-timeout") {
                Some(_) => Err("--case-timeout needs --isolate".into()),
                None => Ok(None),
            };
        }
        if ms == 0 {
            return Err("--case-timeout must be at least 1 ms".into());
        }
        Isolation::cli(Duration::from_millis(ms))
            .map(Some)
            .map_err(|e| format!("--isolate: cannot find this program: {e}"))
    }

    fn target(&self, reg: Registry) -> Result<Option<&'static dyn AnyTarget>, String> {
        match self.get("target") {
            None => Ok(None),
            Some(t) => find(reg, t)
                .map(Some)
                .ok_or(format!("unknown target {t} (see `kvafuzz list`)")),
        }
    }

    fn check_known(&self, known: &[&str]) -> Result<(), String> {
        for (n, _) in &self.opts {
            if !known.contains(&n.as_str()) {
                return Err(format!("unknown option --{n}"));
            }
        }
        Ok(())
    }
}

fn parse_num<T: std::str::FromStr>(v: &str) -> Option<T> {
    if let Some(hex) = v.strip_prefix("0x") {
        let n = u64::from_str_radix(hex, 16).ok()?;
        n.to_string().parse().ok()
    } else {
        v.parse().ok()
    }
}

/// The targets a command line knows.
type Registry<'r> = &'r [&'static dyn AnyTarget];

/// Runs the command line `args` (without the program name) over the registered targets;
/// returns the exit code.
pub fn main(args: Vec<String>) -> i32 {
    main_with(REGISTRY, args)
}

/// [`main`] over the targets of `registry` (a test adds a target of its own this way).
pub fn main_with(registry: Registry, args: Vec<String>) -> i32 {
    match dispatch(registry, args) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("kvafuzz: {msg}\n\n{USAGE}");
            2
        }
    }
}

fn dispatch(reg: Registry, raw: Vec<String>) -> Result<i32, String> {
    let Some((cmd, rest)) = raw.split_first() else {
        say!("{USAGE}");
        return Ok(2);
    };
    let args = Args::parse(rest.to_vec())?;
    match cmd.as_str() {
        "fuzz" => cmd_fuzz(reg, &args),
        "replay" => cmd_replay(reg, &args),
        "minimize" => cmd_minimize(reg, &args),
        "bugs" => cmd_bugs(reg, &args),
        "seeds" => cmd_seeds(reg, &args),
        "corpus" => cmd_corpus(reg, &args),
        "slab-report" => cmd_slab_report(&args),
        CLI_CHILD_COMMAND => {
            isolate::serve_if_child(reg);
            Err(format!(
                "{CLI_CHILD_COMMAND} is started by `fuzz --isolate`, not by hand"
            ))
        }
        "list" => {
            cmd_list(reg);
            Ok(0)
        }
        "targets" => {
            for t in reg {
                say!("{}", t.name());
            }
            Ok(0)
        }
        "help" | "--help" | "-h" => {
            say!("{USAGE}");
            Ok(0)
        }
        other => Err(format!("unknown command {other}")),
    }
}

fn cmd_slab_report(args: &Args) -> Result<i32, String> {
    use super::slab_report::{parse, SlabReport, DEFAULT_SLABINFO};
    args.check_known(&[])?;
    let path = args
        .positional
        .first()
        .map_or(DEFAULT_SLABINFO, String::as_str);
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
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

fn cmd_fuzz(reg: Registry, args: &Args) -> Result<i32, String> {
    args.check_known(&[
        "target",
        "seconds",
        "seed",
        "jobs",
        "cases",
        "findings",
        "bug",
        "isolate",
        "case-timeout",
    ])?;
    let isolation = args.isolation()?;
    let bugs = args.bugs()?;
    let target = args.target(reg)?.ok_or("fuzz needs --target")?;
    #[cfg(feature = "seeded-bugs")]
    if let Some(name) = args.get("bug") {
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
    let seconds: u64 = args.num("seconds", 60)?;
    let cfg = CampaignConfig {
        target,
        seed: args.num("seed", 0)?,
        jobs: args.num(
            "jobs",
            std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        )?,
        time_limit: Some(Duration::from_secs(seconds)),
        max_cases: args
            .get("cases")
            .map(|_| args.num("cases", 0))
            .transpose()?,
        bugs,
        progress: true,
    };
    eprintln!(
        "kvafuzz fuzz: target {} seed {} jobs {} for {}s{}{}",
        target.name(),
        cfg.seed,
        cfg.jobs,
        seconds,
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
    let findings = PathBuf::from(args.get("findings").unwrap_or("findings"));
    let code = match &report.finding {
        None => 0,
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
            let dir = findings.join(target.name());
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let name = format!("seed{}-job{}-case{}.bin", cfg.seed, found.job, found.case);
            let path = dir.join(&name);
            std::fs::write(&path, corpus::frame_current(target, &bytes))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            std::fs::write(
                dir.join(format!("{name}.orig")),
                corpus::frame_current(target, &found.input),
            )
            .map_err(|e| e.to_string())?;
            let text = trace_or_listing(target, &bytes, bugs, &finding);
            drop(quiet);
            eprintln!("minimized ({} bytes): {finding}\n{text}", bytes.len());
            eprintln!(
                "replay:          cargo run --profile fuzzing -- replay {}{}",
                path.display(),
                args.bug_suffix()
            );
            if let Some(bug) = args.get("bug") {
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
            1
        }
    };
    say!(
        "summary: target {} seed {} cases {} ops {} in {:.1}s = {:.0} ops/s, findings {}",
        target.name(),
        cfg.seed,
        report.cases,
        report.ops,
        report.elapsed.as_secs_f64(),
        report.ops_per_sec(),
        u8::from(report.finding.is_some())
    );
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

fn cmd_replay(reg: Registry, args: &Args) -> Result<i32, String> {
    args.check_known(&["target", "quiet", "bug"])?;
    let bugs = args.bugs()?;
    if args.positional.is_empty() {
        return Err("replay needs a file or folder".into());
    }
    let given = args.target(reg)?;
    let (mut ok, mut bad) = (0, 0);
    for root in &args.positional {
        let files = files_under(Path::new(root));
        if files.is_empty() {
            return Err(format!("{root}: no such file or folder, or empty"));
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
            if !args.flag("quiet") {
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

fn cmd_minimize(reg: Registry, args: &Args) -> Result<i32, String> {
    args.check_known(&["target", "out", "bug", "isolate", "case-timeout"])?;
    let bugs = args.bugs()?;
    let isolation = args.isolation()?;
    let file = args.positional.first().ok_or("minimize needs a file")?;
    let (target, data) = read_input(reg, Path::new(file), args.target(reg)?)?;
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
        .get("out")
        .map_or_else(|| format!("{file}.min"), str::to_string);
    std::fs::write(&out, corpus::frame_current(target, &bytes))
        .map_err(|e| format!("{out}: {e}"))?;
    let text = trace_or_listing(target, &bytes, bugs, &finding);
    say!(
        "{text}minimized {} -> {} bytes: {finding}\nwritten to {out}",
        data.len(),
        bytes.len()
    );
    Ok(1)
}

fn cmd_seeds(reg: Registry, args: &Args) -> Result<i32, String> {
    args.check_known(&["target"])?;
    let dir = args.positional.first().ok_or("seeds needs a folder")?;
    let targets = match args.target(reg)? {
        Some(t) => vec![t],
        None => reg.to_vec(),
    };
    for t in targets {
        let d = Path::new(dir).join(t.name());
        std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
        for (name, bytes) in t.seeds() {
            let p = d.join(format!("{name}.bin"));
            std::fs::write(&p, corpus::frame_current(t, &bytes)).map_err(|e| e.to_string())?;
            say!("wrote {}", p.display());
        }
    }
    Ok(0)
}

fn cmd_corpus(reg: Registry, args: &Args) -> Result<i32, String> {
    args.check_known(&["target"])?;
    let (verb, paths) = args
        .positional
        .split_first()
        .ok_or("corpus needs a subcommand (migrate)")?;
    if verb != "migrate" {
        return Err(format!("unknown corpus subcommand {verb}"));
    }
    if paths.is_empty() {
        return Err("corpus migrate needs a file or folder".into());
    }
    let given = args.target(reg)?;
    let (mut rewritten, mut current, mut refused) = (0, 0, 0);
    for root in paths {
        let files = files_under(Path::new(root));
        if files.is_empty() {
            return Err(format!("{root}: no such file or folder, or empty"));
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
fn cmd_bugs(reg: Registry, args: &Args) -> Result<i32, String> {
    use crate::bugs::BugSet as Bugs;
    args.check_known(&["target", "seconds", "seed"])?;
    let only = args.target(reg)?;
    let seconds: u64 = args.num("seconds", 60)?;
    let seed: u64 = args.num("seed", 1)?;
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

#[cfg(not(feature = "seeded-bugs"))]
fn cmd_bugs(_reg: Registry, _args: &Args) -> Result<i32, String> {
    Err("seeded bugs are not compiled in: cargo run --features seeded-bugs -- bugs".into())
}
