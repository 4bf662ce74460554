//! The `kvafuzz` binary as a user runs it: exit codes, the summary line, replay, and (with the
//! `seeded-bugs` feature) the whole path of a finding: found, minimized, written to the
//! findings folder with its original, a printed replay command that reproduces it, and a
//! minimizer that shrinks it again.

#[cfg(feature = "seeded-bugs")]
use std::path::PathBuf;
use std::process::{Command, Output};

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
#[cfg(feature = "seeded-bugs")]
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

#[test]
fn bad_arguments_exit_2_with_the_usage() {
    for args in [
        &["fuzz"][..],
        &["fuzz", "--target", "nope"],
        &["fuzz", "--target", "vmem", "--bogus", "1"],
        &["replay"],
        &["frobnicate"],
    ] {
        let out = kvafuzz(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains("USAGE"), "{args:?}");
    }
}

#[test]
fn the_corpus_replays_clean() {
    for target in ["vmem", "vmmap", "mmu"] {
        let out = kvafuzz(&["replay", &format!("corpus/{target}"), "--quiet"]);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{target}: {stdout}");
        assert!(stdout.contains(" passed, 0 failed"), "{target}: {stdout}");
    }
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
            && replay_line.ends_with("--target vmem --bug zero-sentinel"),
        "{replay_line}"
    );
    assert!(stderr.contains("not a corpus entry"), "{stderr}");

    let file = min.to_str().unwrap();
    let with_bug = kvafuzz(&["replay", file, "--target", "vmem", "--bug", "zero-sentinel"]);
    assert_eq!(with_bug.status.code(), Some(1));
    assert!(text(&with_bug.stdout).contains("FINDING"));
    let without = kvafuzz(&["replay", file, "--target", "vmem"]);
    assert_eq!(without.status.code(), Some(0), "{}", text(&without.stdout));

    let again = dir.join("again.bin");
    let shrunk = kvafuzz(&[
        "minimize",
        orig.to_str().unwrap(),
        "--target",
        "vmem",
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
