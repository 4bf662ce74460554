//! The `kvafuzz` binary as a user runs it: exit codes, the summary line, replay, and (with the
//! `seeded-bugs` feature) the whole path of a finding: found, minimized, written to the
//! findings folder with its original, a printed replay command that reproduces it, and a
//! minimizer that shrinks it again.

use std::path::PathBuf;
use std::process::{Command, Output};

use kvafuzz::harness::{target, REGISTRY};

/// Runs the binary with `args` from the repository root.
fn kvafuzz(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvafuzz"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the kvafuzz binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kvafuzz-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_clean_campaign_exits_0_and_ends_with_its_summary() {
    let out = kvafuzz(&[
        "fuzz",
        "--target",
        "vmem",
        "--seconds",
        "30",
        "--cases",
        "300",
        "--seed",
        "5",
        "--jobs",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    assert!(
        last.starts_with("summary: target vmem seed 5 cases 300 ops ") && last.contains(" ops/s"),
        "{stdout}"
    );
}

/// `--isolate` runs the same cases in a child process (this binary's hidden child command):
/// the same summary, cases and ops as the campaign in process.
#[test]
fn an_isolated_campaign_runs_the_same_cases() {
    let run = |extra: &[&str]| {
        let mut args = vec![
            "fuzz",
            "--target",
            "vmem",
            "--seconds",
            "30",
            "--cases",
            "200",
            "--seed",
            "5",
            "--jobs",
            "1",
        ];
        args.extend_from_slice(extra);
        let out = kvafuzz(&args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        let summary = stdout.lines().last().unwrap_or("").to_string();
        // "summary: target vmem seed 5 cases 200 ops N in ..."
        summary.split(" in ").next().unwrap_or("").to_string()
    };
    let inside = run(&[]);
    assert!(
        inside.starts_with("summary: target vmem seed 5 cases 200 ops "),
        "{inside}"
    );
    assert_eq!(run(&["--isolate", "--case-timeout", "20000"]), inside);
}

/// A usage error exits 2 with clap's message naming what was wrong (the flag, the value,
/// the missing argument), and a pointer to `--help`.
#[test]
fn bad_arguments_exit_2_naming_the_bad_flag() {
    for (args, named) in [
        (&["fuzz"][..], "--target"),
        (&["fuzz", "--target", "nope"], "'nope' for '--target"),
        (&["fuzz", "--target", "vmem", "--bogus", "1"], "'--bogus'"),
        (
            &["fuzz", "--target", "vmem", "--seed", "ten"],
            "'ten' for '--seed",
        ),
        (
            &["fuzz", "--target", "vmem", "--case-timeout", "5"],
            "--isolate",
        ),
        (
            &[
                "fuzz",
                "--target",
                "vmem",
                "--isolate",
                "--case-timeout",
                "0",
            ],
            "'0' for '--case-timeout",
        ),
        (&["__isolated-child"], "not by hand"),
        (&["replay"], "<PATH>"),
        (
            &["replay", "corpus/vmem", "--target", "nope"],
            "'nope' for '--target",
        ),
        (&["frobnicate"], "'frobnicate'"),
    ] {
        let out = kvafuzz(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr.contains("error:") && stderr.contains(named),
            "{args:?}: {stderr}"
        );
    }
    // A command group without its subcommand: exit 2 with the group's help.
    let out = kvafuzz(&["corpus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("Usage: kvafuzz corpus <COMMAND>"));
    // A bad target name is refused with the list of the good ones.
    let stderr = text(&kvafuzz(&["fuzz", "--target", "nope"]).stderr);
    for t in REGISTRY {
        assert!(stderr.contains(t.name()), "{stderr}");
    }
}

/// `--help` of the program and of every subcommand exits 0 with its usage; the child command
/// of `--isolate` stays out of it; `--version` prints the crate's version.
#[test]
fn every_command_has_help_and_the_child_command_is_hidden() {
    let top = kvafuzz(&["--help"]);
    assert_eq!(top.status.code(), Some(0));
    let listing = text(&top.stdout);
    assert!(!listing.contains("__isolated-child"), "{listing}");
    let commands = [
        "fuzz",
        "replay",
        "minimize",
        "bugs",
        "seeds",
        "corpus",
        "slab-report",
        "list",
        "targets",
    ];
    for c in commands {
        assert!(listing.contains(&format!("  {c} ")), "{c}: {listing}");
        let out = kvafuzz(&[c, "--help"]);
        let help = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{c}");
        assert!(help.contains(&format!("Usage: kvafuzz {c}")), "{c}: {help}");
    }
    let migrate = text(&kvafuzz(&["help", "corpus", "migrate"]).stdout);
    assert!(migrate.contains("older version"), "{migrate}");
    let fuzz = text(&kvafuzz(&["fuzz", "--help"]).stdout);
    for flag in [
        "--isolate",
        "--case-timeout",
        "--json",
        "--bug",
        "--findings",
    ] {
        assert!(fuzz.contains(flag), "{flag}: {fuzz}");
    }
    let version = kvafuzz(&["--version"]);
    assert_eq!(version.status.code(), Some(0));
    assert_eq!(
        text(&version.stdout).trim(),
        format!("kvafuzz {}", env!("CARGO_PKG_VERSION"))
    );
}

/// `--json FILE` writes the run's summary (docs/json.md): it agrees with the summary line,
/// its shares are in [0, 1], every target's kinds are named, and a second run with the same
/// seed and one job writes the same file but for the time fields. `--json -` puts it on
/// stdout and the summary line on stderr.
#[test]
fn fuzz_json_summarizes_the_run() {
    let dir = scratch("json");
    let run = |target: &str, json: &str| {
        let out = kvafuzz(&[
            "fuzz",
            "--target",
            target,
            "--seconds",
            "30",
            "--cases",
            "200",
            "--seed",
            "5",
            "--jobs",
            "1",
            "--json",
            json,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        out
    };
    for t in REGISTRY {
        let file = dir.join(format!("{}.json", t.name()));
        let out = run(t.name(), file.to_str().unwrap());
        let summary = text(&out.stdout);
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["target"], t.name());
        assert_eq!(v["engine"], "campaign");
        assert_eq!((v["seed"].as_u64(), v["jobs"].as_u64()), (Some(5), Some(1)));
        let cases = v["cases"].as_u64().unwrap();
        let ops = v["ops"].as_u64().unwrap();
        assert_eq!(cases, 200);
        assert!(
            summary.contains(&format!("cases {cases} ops {ops} in ")),
            "{summary}"
        );
        assert!(summary.contains("findings 0") && v["findings"] == serde_json::json!([]));
        assert!(v["seconds"].as_f64().unwrap() > 0.0 && v["ops_per_sec"].as_f64().unwrap() > 0.0);
        for field in ["op_kinds", "error_kinds"] {
            let kinds = v[field].as_object().unwrap();
            assert!(!kinds.is_empty(), "{t}: no {field}");
            for (name, k) in kinds {
                let n = k["cases"].as_u64().unwrap();
                let share = k["share"].as_f64().unwrap();
                assert!(n > 0 && n <= cases, "{t} {name}: {n}");
                assert!((0.0..=1.0).contains(&share), "{t} {name}: {share}");
                assert!((share - n as f64 / cases as f64).abs() < 1e-9);
            }
        }
    }
    // The same run again, to stdout: the same but for the time fields.
    let again = run("vmem", "-");
    let mut a: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    let mut b: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("vmem.json")).unwrap()).unwrap();
    for v in [&mut a, &mut b] {
        let o = v.as_object_mut().unwrap();
        o.remove("seconds");
        o.remove("ops_per_sec");
    }
    assert_eq!(a, b);
    assert!(text(&again.stderr).contains("summary: target vmem seed 5 cases 200"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_corpus_replays_clean() {
    for t in REGISTRY {
        let out = kvafuzz(&["replay", &format!("corpus/{}", t.name()), "--quiet"]);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{t}: {stdout}");
        assert!(stdout.contains(" passed, 0 failed"), "{t}: {stdout}");
    }
}

/// `replay --svg OUT FILE` draws a passing input's end state (exit 0, as a replay), and
/// refuses more than one input (exit 2, nothing written).
#[test]
fn replay_draws_one_input_as_svg() {
    let dir = scratch("svg");
    let out = dir.join("map.svg");
    let r = kvafuzz(&[
        "replay",
        "corpus/vmap",
        "--quiet",
        "--svg",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2), "{}", text(&r.stderr));
    assert!(text(&r.stderr).contains("--svg draws one input"));
    assert!(!out.exists());
    let first = std::fs::read_dir("corpus/vmap")
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    let r = kvafuzz(&[
        "replay",
        first.to_str().unwrap(),
        "--quiet",
        "--svg",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let picture = std::fs::read_to_string(&out).unwrap();
    assert!(picture.contains("no finding") && picture.contains("walk areas"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `kvafuzz list` and `kvafuzz targets` print the registered targets, in registry order.
#[test]
fn list_and_targets_print_the_registry() {
    let names: Vec<&str> = REGISTRY.iter().map(|t| t.name()).collect();
    let targets = text(&kvafuzz(&["targets"]).stdout);
    assert_eq!(targets.lines().collect::<Vec<_>>(), names);
    let list = text(&kvafuzz(&["list"]).stdout);
    let listed: Vec<&str> = list
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(listed, names, "{list}");
}

/// A corpus file in a version of the op language this build cannot read is refused by
/// replay with a message naming the version (exit 1), and `corpus migrate` refuses it too;
/// a raw engine input is replayed as the current version and migrate frames it.
#[test]
fn unknown_versions_are_refused_and_raw_inputs_migrated() {
    let dir = scratch("versions").join("vmem");
    std::fs::create_dir_all(&dir).unwrap();
    let vmem = target("vmem").unwrap();
    // The corpus file may be in an older version it still reads: its payload in today's.
    let file = std::fs::read("corpus/vmem/netbsd-top-of-32-bit-space.bin").unwrap();
    let (version, old) = kvafuzz::harness::corpus::load(vmem, &file, false).unwrap();
    let current = vmem.migrate(version, old).expect("a version it reads");
    let payload = &current[..];
    let framed = kvafuzz::harness::corpus::frame_current(vmem, payload);
    let future = dir.join("future.bin");
    let mut bytes = b"kvafuzz-corpus vmem v9999\n".to_vec();
    bytes.extend_from_slice(payload);
    std::fs::write(&future, &bytes).unwrap();
    let out = kvafuzz(&["replay", future.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("REFUSED") && stdout.contains("version 9999"),
        "{stdout}"
    );
    let out = kvafuzz(&["corpus", "migrate", future.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert_eq!(std::fs::read(&future).unwrap(), bytes, "left as it was");

    std::fs::remove_file(&future).unwrap();
    let raw = dir.join("raw.bin");
    std::fs::write(&raw, payload).unwrap();
    let replayed = kvafuzz(&["replay", raw.to_str().unwrap(), "--quiet"]);
    assert_eq!(
        replayed.status.code(),
        Some(0),
        "{}",
        text(&replayed.stdout)
    );
    let out = kvafuzz(&["corpus", "migrate", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(std::fs::read(&raw).unwrap(), framed);
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[cfg(not(feature = "seeded-bugs"))]
#[test]
fn a_seeded_bug_needs_the_feature() {
    let out = kvafuzz(&["fuzz", "--target", "vmem", "--bug", "zero-sentinel"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not compiled in"));
}

/// The finding path end to end, on a seeded bug: exit 1; the minimized input and the original
/// in `--findings`; a printed replay command that names the bug; the file fails with the bug
/// and passes without it; the minimizer shrinks the original to a failing case again.
#[cfg(feature = "seeded-bugs")]
#[test]
fn a_finding_is_minimized_written_and_replayable() {
    let dir = scratch("finding");
    let findings = dir.to_str().unwrap();
    let out = kvafuzz(&[
        "fuzz",
        "--target",
        "vmem",
        "--seconds",
        "60",
        "--seed",
        "1",
        "--jobs",
        "1",
        "--bug",
        "zero-sentinel",
        "--findings",
        findings,
        "--json",
        dir.join("run.json").to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("FINDING"), "{stderr}");
    assert!(
        text(&out.stdout).contains("findings 1"),
        "{}",
        text(&out.stdout)
    );
    let written: Vec<PathBuf> = std::fs::read_dir(dir.join("vmem"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let min = written
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "bin"))
        .expect("the minimized input is written");
    let orig = PathBuf::from(format!("{}.orig", min.display()));
    assert!(orig.exists(), "the original input is kept beside it");
    let replay_line = stderr
        .lines()
        .find(|l| l.starts_with("replay:"))
        .expect("a replay command is printed");
    assert!(
        replay_line.contains(&min.display().to_string())
            && replay_line.ends_with(".bin --bug zero-sentinel"),
        "{replay_line}"
    );
    // Written as a corpus file: its header names the target and the op-language version,
    // so neither replay nor minimize needs --target.
    let header = format!(
        "kvafuzz-corpus vmem v{}\n",
        target("vmem").unwrap().version()
    );
    for f in [min, &orig] {
        assert!(
            std::fs::read(f).unwrap().starts_with(header.as_bytes()),
            "{}",
            f.display()
        );
    }
    assert!(stderr.contains("not a corpus entry"), "{stderr}");
    // The JSON summary names the same finding, file and replay command.
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(v["bug"], "zero-sentinel");
    let f = &v["findings"][0];
    assert_eq!(f["file"], min.display().to_string());
    assert_eq!(f["original"], orig.display().to_string());
    assert!(replay_line.ends_with(f["replay"].as_str().unwrap()), "{f}");
    let minimized = stderr
        .lines()
        .find_map(|l| l.strip_prefix("minimized ("))
        .expect("the minimized finding is printed");
    assert!(minimized.ends_with(f["message"].as_str().unwrap()), "{f}");
    assert!(["oracle", "invariant", "state", "panic"].contains(&f["kind"].as_str().unwrap()));
    assert!(!f["signature"].as_str().unwrap().is_empty());
    // The address map beside it, named on stderr and in the summary, captioned with the
    // finding; `replay --svg` draws the same picture.
    let svg = PathBuf::from(format!("{}.svg", min.display()));
    assert_eq!(f["svg"], svg.display().to_string());
    assert!(
        stderr.contains(&format!("map:             {}", svg.display())),
        "{stderr}"
    );
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.starts_with("<svg") && picture.contains("oracle mismatch"));
    let redrawn = dir.join("redrawn.svg");
    let drawn = kvafuzz(&[
        "replay",
        min.to_str().unwrap(),
        "--bug",
        "zero-sentinel",
        "--svg",
        redrawn.to_str().unwrap(),
    ]);
    assert_eq!(drawn.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&redrawn).unwrap(), picture);

    let file = min.to_str().unwrap();
    let with_bug = kvafuzz(&["replay", file, "--bug", "zero-sentinel"]);
    assert_eq!(with_bug.status.code(), Some(1));
    assert!(text(&with_bug.stdout).contains("FINDING"));
    let without = kvafuzz(&["replay", file, "--target", "vmem"]);
    assert_eq!(without.status.code(), Some(0), "{}", text(&without.stdout));

    let again = dir.join("again.bin");
    let shrunk = kvafuzz(&[
        "minimize",
        orig.to_str().unwrap(),
        "--bug",
        "zero-sentinel",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(shrunk.status.code(), Some(1), "{}", text(&shrunk.stdout));
    let a = std::fs::read(&again).unwrap();
    assert!(!a.is_empty() && a.len() <= std::fs::read(&orig).unwrap().len());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A seeded bug of another target is refused (it would run clean and prove nothing).
#[cfg(feature = "seeded-bugs")]
#[test]
fn a_bug_of_another_target_is_refused() {
    let out = kvafuzz(&["fuzz", "--target", "vmmap", "--bug", "zero-sentinel"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is in target vmem"),
        "{}",
        text(&out.stderr)
    );
}

/// `bugs --engine` measures, prints the table and writes it, the chart and the figures into
/// --out; a second run of another engine merges into the same figures. Its flags need
/// --engine, and --seconds is the other mode's.
#[cfg(feature = "seeded-bugs")]
#[test]
fn bugs_engine_writes_a_table_a_chart_and_merged_figures() {
    let dir = scratch("engines");
    let out_dir = dir.to_str().unwrap();
    for engine in ["campaign", "proptest"] {
        let out = kvafuzz(&[
            "bugs",
            "--engine",
            engine,
            "--bug",
            "zero-sentinel",
            "--seeds",
            "2",
            "--out",
            out_dir,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("| zero-sentinel | vmem |"));
    }
    let table = std::fs::read_to_string(dir.join("engines.md")).unwrap();
    assert!(
        table.contains("| bug | target | campaign | proptest | goal |"),
        "{table}"
    );
    assert!(table.contains("2/2 | met |"), "{table}");
    let chart = std::fs::read_to_string(dir.join("engines.svg")).unwrap();
    assert!(chart.contains("zero-sentinel (vmem)"), "{chart}");
    assert!(dir.join("engines.json").is_file());
    let refused = kvafuzz(&["bugs", "--seeds", "2"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("--engine"));
    let both = kvafuzz(&["bugs", "--engine", "campaign", "--seconds", "3"]);
    assert_eq!(both.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
