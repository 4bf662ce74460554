//! Every file of `corpus/<target>/` replays clean through the shared entry point, exactly as
//! `cargo fuzz run -- -runs=0` and `kvafuzz replay` would run it. Minimized findings live
//! here once fixed, so this is the regression suite of every bug the fuzzers ever found.

use std::path::Path;

use kvafuzz::harness::cli::files_under;
use kvafuzz::harness::{run, trace, BugSet, ALL_TARGETS};

#[test]
fn every_corpus_file_replays_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut replayed = 0;
    for target in ALL_TARGETS {
        let files = files_under(&root.join(target.name()));
        assert!(!files.is_empty(), "corpus/{target}/ is empty");
        for f in files {
            let data = std::fs::read(&f).unwrap();
            if let Err(finding) = run(target, &data) {
                let (text, _) = trace(target, &data, BugSet::NONE);
                panic!("{}: {finding}\n{text}", f.display());
            }
            replayed += 1;
        }
    }
    println!("replayed {replayed} corpus files");
}

/// Named regressions: each corpus file from a fixed finding must still exist (so deleting
/// one is a visible change) and pass.
#[test]
fn fixed_findings_stay_fixed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, name) in [
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
        let path = root.join(target).join(name);
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let t = kvafuzz::harness::Target::from_name(target).unwrap();
        assert_eq!(run(t, &data).map(|_| ()), Ok(()), "{}", path.display());
    }
}
