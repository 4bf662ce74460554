//! Every file of `corpus/<target>/` replays clean through the shared entry point, exactly as
//! `cargo fuzz run -- -runs=0` and `kvafuzz replay` would run it, and every file says which
//! version of its target's op language it is in (a file in a version the target cannot read
//! is refused, with a message saying so). Minimized findings live here once fixed, so this is
//! the regression suite of every bug the fuzzers ever found. Every registered target also has
//! a cargo-fuzz target, an AFL binary and a corpus folder.

use std::path::Path;

use kvafuzz::harness::cli::replay_corpus;
use kvafuzz::harness::corpus::frame_current;
use kvafuzz::harness::{run, target, REGISTRY};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_corpus_file_replays_clean() {
    let mut replayed = 0;
    for &target in REGISTRY {
        let dir = root().join("corpus").join(target.name());
        replayed += replay_corpus(target, &dir).unwrap_or_else(|e| panic!("{e}"));
    }
    println!("replayed {replayed} corpus files");
}

/// A registered target without a cargo-fuzz target, an AFL binary or a corpus folder is
/// only half there: every engine must reach every target.
#[test]
fn every_target_has_a_fuzz_target_an_afl_binary_and_a_corpus() {
    let manifest = std::fs::read_to_string(root().join("fuzz/Cargo.toml")).unwrap();
    for &target in REGISTRY {
        let name = target.name();
        let fuzz = format!("fuzz/fuzz_targets/{name}.rs");
        let afl = format!("fuzz/afl/src/bin/{name}.rs");
        for file in [&fuzz, &afl] {
            let text = std::fs::read_to_string(root().join(file))
                .unwrap_or_else(|e| panic!("{name}: {file}: {e}"));
            assert!(
                text.contains("fuzz_check("),
                "{file} does not call fuzz_check"
            );
        }
        assert!(
            manifest.contains(&format!(
                "name = \"{name}\"\npath = \"fuzz_targets/{name}.rs\""
            )),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
        assert!(
            root().join("corpus").join(name).is_dir(),
            "no corpus/{name}/"
        );
    }
}

/// Every hand-written seed scenario of every target is in its corpus folder, byte for byte
/// as the encoder writes it today (header included): a new seed must be added to the corpus
/// (`kvafuzz seeds`), and an encoder that starts writing other bytes for the same scenario
/// is caught here, not when a fuzzer's corpus stops meaning what it meant.
#[test]
fn every_seed_is_in_the_corpus_byte_for_byte() {
    for &target in REGISTRY {
        for (name, payload) in target.seeds() {
            let path = root()
                .join("corpus")
                .join(target.name())
                .join(format!("{name}.bin"));
            let file = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (kvafuzz seeds writes it)", path.display()));
            assert_eq!(
                file,
                frame_current(target, &payload),
                "{}: the encoder writes other bytes",
                path.display()
            );
        }
    }
}

/// Named regressions: each corpus file from a fixed finding must still exist (so deleting
/// one is a visible change) and pass.
#[test]
fn fixed_findings_stay_fixed() {
    for (name, file) in [
        // Imports asked the source for the source's own quantum alignment; unusable spans.
        ("vmem", "import-align-below-arena-quantum.bin"),
        // Releasing an imported span after coalescing unlinked it from the wrong free list.
        ("vmem", "release-after-coalesce-stale-list-links.bin"),
        // Instant fit must scan from one list below the request's class, where a lagging
        // free segment may sit; a scan from the class itself (a mutation the campaign found
        // in 0.1 s) misses the only fitting segment of the source during an import.
        (
            "vmem",
            "import-finds-a-lagging-free-segment-in-the-source.bin",
        ),
        // The mmu decoder computed its address window as 4 * alignment, which overflowed
        // (a panic under overflow checks) for alignments of 2^62 and up.
        ("mmu", "va-window-of-a-huge-alignment-overflows.bin"),
        // Before the vmmap target judged `segment_sharing` at the end of every scenario, a
        // strict `<` in either end of its whole-segment test survived every campaign; this
        // map's segments start and end on segment boundaries and are shared.
        (
            "vmmap",
            "segment-sharing-whole-segments-twice-in-one-space.bin",
        ),
    ] {
        let path = root().join("corpus").join(name).join(file);
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let t = target(name).unwrap();
        assert_eq!(run(t, &data).map(|_| ()), Ok(()), "{}", path.display());
    }
}
