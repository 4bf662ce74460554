//! `kvafuzz slab-report` on the real listing (`benches/workloads/linux-slabinfo.tsv`): one
//! table line per cache, and a summary line that parses and agrees with the library.

use std::process::Command;

use kvafuzz::harness::slab_report::{parse, SlabReport, DEFAULT_SLABINFO};

/// Caches in the committed listing.
const CACHES: usize = 235;

#[test]
fn slab_report_covers_every_cache_and_its_summary_parses() {
    let out = Command::new(env!("CARGO_BIN_EXE_kvafuzz"))
        .arg("slab-report")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the kvafuzz binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let summary_at = lines
        .iter()
        .position(|l| l.starts_with("summary: "))
        .expect("a summary line");
    // A heading, one line per cache, then the summary.
    assert_eq!(summary_at, CACHES + 1, "{stdout}");
    // "summary: <k> of <n> caches waste at most Linux's bytes per slab: <p>% (goal >= 90%)
    // met|MISSED"
    let words: Vec<&str> = lines[summary_at].split_whitespace().collect();
    let meeting: usize = words[1].parse().expect("a count");
    assert_eq!(words[2], "of");
    let total: usize = words[3].parse().expect("a total");
    assert_eq!(total, CACHES);
    let share: f64 = words[12].trim_end_matches('%').parse().expect("a share");
    assert!((share - 100.0 * meeting as f64 / total as f64).abs() < 0.05);
    let verdict = *words.last().expect("a verdict");
    assert!(verdict == "met" || verdict == "MISSED", "{verdict}");
    assert_eq!(verdict == "met", meeting * 100 >= 90 * total);
    // Then the worst ten, indented.
    assert!(lines[summary_at + 1].starts_with("worst 10 caches"));
    assert_eq!(lines.len(), summary_at + 2 + 10, "{stdout}");
    assert!(lines[summary_at + 2..].iter().all(|l| l.starts_with("  ")));

    // The library agrees with the binary.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_SLABINFO);
    let text = std::fs::read_to_string(path).expect("the listing");
    let report = SlabReport::new(parse(&text).expect("the listing parses"));
    assert_eq!(report.caches.len(), CACHES);
    assert_eq!(report.meeting(), meeting);
}

#[test]
fn slab_report_on_a_missing_file_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_kvafuzz"))
        .args(["slab-report", "no/such/listing.tsv"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the kvafuzz binary runs");
    assert_eq!(out.status.code(), Some(2));
}
