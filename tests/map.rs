//! Address maps (`kvafuzz replay --svg`): every corpus file of every target draws, and since
//! each passes, its implementation and model sides agree everywhere (a red outline on a
//! passing case would be a false alarm drawn); every target draws something.

use std::path::Path;

use kvafuzz::harness::map::{capture, svg};
use kvafuzz::harness::{BugSet, REGISTRY};

#[test]
fn every_corpus_file_draws_a_map_whose_sides_agree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for &target in REGISTRY {
        let dir = root.join(target.name());
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let mut bands = 0;
        for file in &files {
            let data = std::fs::read(file).unwrap();
            let (_, verdict, map) = capture(target, &data, BugSet::NONE);
            assert!(verdict.is_ok(), "{}: {verdict:?}", file.display());
            let map = map.unwrap_or_else(|| panic!("{}: no map", file.display()));
            for layer in &map.layers {
                let (a, b) = layer.disagreements();
                assert!(
                    a.is_empty() && b.is_empty(),
                    "{}: layer {}: implementation only {a:x?}, model only {b:x?}",
                    file.display(),
                    layer.name
                );
                bands += layer.implementation.len();
            }
            let (_, picture) = svg(target, &data, BugSet::NONE);
            let picture = picture.unwrap();
            assert!(picture.starts_with("<svg") && picture.contains("no finding"));
        }
        assert!(
            bands > 0,
            "{}: no corpus file draws a single range",
            target.name()
        );
    }
}
