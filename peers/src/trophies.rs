//! The judged findings kept under `trophies/<adapter>/<name>.bin`, each with the signature
//! it fails with beside it (`<name>.sig`), and their replay against the pinned crates.

use std::path::{Path, PathBuf};

use kvafuzz::harness::isolate::{run_isolated, Isolation};
use kvafuzz::harness::{run_with, BugSet};

/// One kept finding.
#[derive(Clone, Debug)]
pub struct Trophy {
    /// The adapter it fails (its folder).
    pub adapter: String,
    /// Its name (the file stem).
    pub name: String,
    /// The input.
    pub input: PathBuf,
    /// The signature it must fail with.
    pub signature: String,
}

/// The folder of the trophies.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("trophies")
}

/// Every trophy under `root`, by adapter and name; an unreadable `.sig` is an error.
pub fn all(root: &Path) -> Result<Vec<Trophy>, String> {
    let mut out = Vec::new();
    let adapters = std::fs::read_dir(root).map_err(|e| format!("{}: {e}", root.display()))?;
    for a in adapters.flatten() {
        let adapter = a.file_name().to_string_lossy().into_owned();
        let files = std::fs::read_dir(a.path()).map_err(|e| e.to_string())?;
        for f in files.flatten() {
            let p = f.path();
            if p.extension().and_then(|e| e.to_str()) != Some("bin") {
                continue;
            }
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let sig_path = p.with_extension("sig");
            let signature = std::fs::read_to_string(&sig_path)
                .map_err(|e| format!("{}: {e}", sig_path.display()))?
                .trim_end()
                .to_owned();
            out.push(Trophy {
                adapter: adapter.clone(),
                name,
                input: p,
                signature,
            });
        }
    }
    out.sort_by(|a, b| (&a.adapter, &a.name).cmp(&(&b.adapter, &b.name)));
    Ok(out)
}

impl Trophy {
    /// Whether it kills or stalls the process that runs it (a crash or a timeout), so that
    /// it must be replayed in a child.
    pub fn needs_isolation(&self) -> bool {
        self.signature.starts_with("crash") || self.signature == "timeout"
    }
}

/// `signature` with the line number of every standard-library location blanked
/// (`<rust>/library/core/src/num/mod.rs:1400` becomes `...mod.rs:#`): where std raises an
/// overflow moves between toolchains, while the crate's violation, the trophy, does not. What
/// [`replay`]'s signature and a stored one are compared by.
pub fn comparable(signature: &str) -> String {
    let mut out = String::with_capacity(signature.len());
    let mut rest = signature;
    while let Some(at) = rest.find("<rust>/") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let path_end = from.find(|c: char| c.is_whitespace()).unwrap_or(from.len());
        let path = &from[..path_end];
        match path.rfind(':') {
            Some(colon) if path[colon + 1..].chars().all(|c| c.is_ascii_digit()) => {
                out.push_str(&path[..colon]);
                out.push_str(":#");
            }
            _ => out.push_str(path),
        }
        rest = &from[path_end..];
    }
    out.push_str(rest);
    out
}

/// Replays `t`: in this process, or in a child started as `isolation` says if it
/// [`Trophy::needs_isolation`]. The signature it fails with, or why it does not fail.
pub fn replay(t: &Trophy, isolation: &Isolation) -> Result<String, String> {
    let target =
        crate::target(&t.adapter).ok_or_else(|| format!("no adapter named {}", t.adapter))?;
    let bytes = std::fs::read(&t.input).map_err(|e| format!("{}: {e}", t.input.display()))?;
    let verdict = if t.needs_isolation() {
        run_isolated(target, &bytes, BugSet::NONE, isolation)
    } else {
        run_with(target, &bytes, BugSet::NONE)
    };
    match verdict {
        Ok(stats) => Err(format!("passes now ({} ops)", stats.ops)),
        Err(f) => Ok(f.signature()),
    }
}
