//! Every trophy (a judged contract violation of a pinned crate, `peers/trophies/`) still
//! fails with the signature stored beside it, and `docs/TROPHIES.md` lists exactly the
//! trophies there are. Replayed in this process, except crashes and timeouts, which run in
//! a child of this binary (`isolated_child`).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use kvafuzz::harness::isolate::{serve_if_child, Isolation};
use kvafuzz_peers::trophies::{all, comparable, dir, replay};
use kvafuzz_peers::TARGETS;

/// The per-case limit of a trophy replayed in a child (a timeout trophy takes this long).
const LIMIT: Duration = Duration::from_secs(2);

/// The child role: a no-op when the test harness runs it; the whole child when a crash or
/// timeout trophy is replayed in a child of this binary.
#[test]
fn isolated_child() {
    serve_if_child(TARGETS);
}

/// The trophy list, at the workspace root.
fn trophies_md() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/TROPHIES.md");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn every_trophy_still_fails_with_its_signature() {
    let trophies = all(&dir()).unwrap();
    assert!(
        !trophies.is_empty(),
        "no trophies under {}",
        dir().display()
    );
    let isolation = Isolation::test("isolated_child", LIMIT).unwrap();
    for t in &trophies {
        match replay(t, &isolation) {
            Ok(sig) => assert_eq!(
                comparable(&sig),
                comparable(&t.signature),
                "{}/{}",
                t.adapter,
                t.name
            ),
            Err(why) => panic!("{}/{}: {why}", t.adapter, t.name),
        }
    }
}

/// Only standard-library line numbers are blanked: the crate's own locations and every
/// other word of a signature still count.
#[test]
fn comparable_blanks_std_lines_only() {
    assert_eq!(
        comparable("panic at <rust>/library/core/src/num/mod.rs:1400 (std): attempt to # with"),
        "panic at <rust>/library/core/src/num/mod.rs:# (std): attempt to # with"
    );
    let crate_line = "panic at <registry>/vmem-1.0.0/src/lib.rs:88 (crate): boom";
    assert_eq!(comparable(crate_line), crate_line);
    assert_ne!(
        comparable("oracle alloc: Ok vs Err"),
        comparable("oracle alloc: Ok vs Ok")
    );
}

#[test]
fn the_trophy_list_and_the_files_agree() {
    let md = trophies_md();
    // Every `peers/trophies/<adapter>/<name>.bin` the list names.
    let listed: BTreeSet<String> = md
        .split(|c: char| c.is_whitespace() || c == '`' || c == '(' || c == ')')
        .filter_map(|w| w.strip_prefix("peers/trophies/"))
        .filter(|w| w.ends_with(".bin"))
        // Placeholders in the prose (`<adapter>/<name>.bin`, `ADAPTER/NAME.bin`) are not.
        .filter(|w| !w.contains('<') && !w.chars().any(|c| c.is_ascii_uppercase()))
        .map(str::to_owned)
        .collect();
    let files: BTreeSet<String> = all(&dir())
        .unwrap()
        .into_iter()
        .map(|t| format!("{}/{}.bin", t.adapter, t.name))
        .collect();
    assert_eq!(listed, files, "docs/TROPHIES.md against peers/trophies/");
}
