//! Campaigns on the adapters: isolated, repeated with new seeds until the time is up, each
//! finding masked once found, one minimized trace per distinct finding.
//!
//! A campaign stops at its first finding. So that later rounds find other findings instead
//! of the same one again, each round runs [`Masked`]: the adapter's target with every
//! signature found so far counted as a pass (the case ends there, unexplored beyond). The
//! isolated children run the same masked target: the parent writes the known signatures to
//! a file whose path it puts in [`KNOWN_ENV`], and the child's `main` builds its registry
//! with [`masked_registry`] before calling `serve_if_child`. A crash or a timeout is judged
//! in the parent, so a known one is skipped there.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kvafuzz::harness::campaign::{run_campaign_isolated, CampaignConfig};
use kvafuzz::harness::corpus::frame_current;
use kvafuzz::harness::isolate::{minimize_isolated, Isolation};
use kvafuzz::harness::{trace, AnyTarget, BugSet, Finding, Stats};

/// The environment variable naming the file of known signatures (one a line).
pub const KNOWN_ENV: &str = "KVAFUZZ_PEERS_KNOWN";

/// The longest one case may run before it is a timeout finding.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(2);

/// The most rounds (seeds) of one adapter's campaign, whatever the time left.
pub const MAX_ROUNDS: u64 = 64;

/// An adapter's target with the findings of `known` signatures counted as passes.
pub struct Masked {
    /// The adapter's target.
    inner: &'static dyn AnyTarget,
    /// Signatures found so far.
    known: Vec<String>,
}

impl Masked {
    /// The finding of `r`, unless its signature is known. (`Result<Stats, Finding>` is what
    /// every target returns, as in kvafuzz's harness, which allows the lint for it too.)
    #[allow(clippy::result_large_err)]
    fn filter(&self, r: Result<Stats, Finding>) -> Result<Stats, Finding> {
        match r {
            Err(f) if self.known.contains(&f.signature()) => Ok(Stats::default()),
            other => other,
        }
    }
}

impl AnyTarget for Masked {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn about(&self) -> &'static str {
        self.inner.about()
    }

    fn version(&self) -> u16 {
        self.inner.version()
    }

    #[cfg(feature = "seeded-bugs")]
    fn bugs(&self) -> &'static [kvafuzz::bugs::Bug] {
        self.inner.bugs()
    }

    fn execute(
        &self,
        version: u16,
        payload: &[u8],
        bugs: BugSet,
        trace: Option<&mut String>,
    ) -> Result<Stats, Finding> {
        self.filter(self.inner.execute(version, payload, bugs, trace))
    }

    fn minimize(&self, version: u16, payload: &[u8], bugs: BugSet) -> Option<(Vec<u8>, Finding)> {
        self.inner.minimize(version, payload, bugs)
    }

    fn minimize_with(
        &self,
        version: u16,
        payload: &[u8],
        run: &mut dyn FnMut(&[u8]) -> Option<Finding>,
    ) -> Option<(Vec<u8>, Finding)> {
        self.inner.minimize_with(version, payload, run)
    }

    fn listing(&self, version: u16, payload: &[u8]) -> (String, Vec<String>) {
        self.inner.listing(version, payload)
    }

    fn seeds(&self) -> Vec<(&'static str, Vec<u8>)> {
        self.inner.seeds()
    }

    fn reads_version(&self, version: u16) -> bool {
        self.inner.reads_version(version)
    }

    fn migrate(&self, version: u16, payload: &[u8]) -> Option<Vec<u8>> {
        self.inner.migrate(version, payload)
    }

    fn round_trip(&self, payload: &[u8]) -> Result<(), String> {
        self.inner.round_trip(payload)
    }
}

/// The signatures in the file [`KNOWN_ENV`] names (none if unset or unreadable).
fn known_from_env() -> Vec<String> {
    std::env::var(KNOWN_ENV)
        .ok()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Every target of `targets`, masked with the signatures of [`KNOWN_ENV`] (what an isolated
/// child serves). Leaked: built once per process.
pub fn masked_registry(targets: &[&'static dyn AnyTarget]) -> Vec<&'static dyn AnyTarget> {
    let known = known_from_env();
    targets
        .iter()
        .map(|&inner| {
            let m: &'static Masked = Box::leak(Box::new(Masked {
                inner,
                known: known.clone(),
            }));
            m as &'static dyn AnyTarget
        })
        .collect()
}

/// One distinct finding of a campaign, as written to disk.
#[derive(Clone, Debug)]
pub struct Distinct {
    /// Its signature.
    pub signature: String,
    /// The minimized finding.
    pub finding: Finding,
    /// Where its input was written (`<n>.bin`).
    pub path: PathBuf,
}

/// What one adapter's campaign did.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The adapter.
    pub target: &'static str,
    /// Rounds run (one seed each).
    pub rounds: u64,
    /// Cases run in all.
    pub cases: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Its distinct findings, in the order found.
    pub findings: Vec<Distinct>,
}

/// Runs `target` in isolated mode (children started as `isolation` says, which must lead
/// to a `main` that serves [`masked_registry`]) for about `budget`, round after round with
/// seeds 1, 2, ..., writing each new distinct finding to `out/<n>.bin` (framed input),
/// `<n>.sig` (signature) and `<n>.txt` (finding and trace).
pub fn campaign(
    target: &'static dyn AnyTarget,
    budget: Duration,
    isolation: &Isolation,
    out: &Path,
) -> std::io::Result<Summary> {
    std::fs::create_dir_all(out)?;
    let known_file = out.join("known-signatures");
    let start = Instant::now();
    let mut summary = Summary {
        target: target.name(),
        rounds: 0,
        cases: 0,
        elapsed: Duration::ZERO,
        findings: Vec::new(),
    };
    let mut known: Vec<String> = Vec::new();
    while summary.rounds < MAX_ROUNDS {
        let left = budget.saturating_sub(start.elapsed());
        if left < Duration::from_secs(1) {
            break;
        }
        std::fs::write(&known_file, known.join("\n"))?;
        // The children read it at start; no other thread runs between campaigns.
        std::env::set_var(KNOWN_ENV, &known_file);
        let masked: &'static Masked = Box::leak(Box::new(Masked {
            inner: target,
            known: known.clone(),
        }));
        summary.rounds += 1;
        let report = run_campaign_isolated(
            &CampaignConfig {
                target: masked,
                seed: summary.rounds,
                jobs: 1,
                time_limit: Some(left),
                max_cases: None,
                bugs: BugSet::NONE,
                progress: false,
            },
            isolation,
        );
        summary.cases += report.cases;
        let Some(found) = report.finding else {
            break;
        };
        let signature = found.finding.signature();
        if known.contains(&signature) {
            continue;
        }
        known.push(signature.clone());
        let (bytes, finding) = minimize_isolated(masked, &found.input, BugSet::NONE, isolation)
            .map(|(b, f)| (frame_current(target, &b), f))
            .unwrap_or_else(|| (found.input.clone(), found.finding.clone()));
        let n = summary.findings.len() + 1;
        let path = out.join(format!("{n}.bin"));
        std::fs::write(&path, &bytes)?;
        std::fs::write(out.join(format!("{n}.sig")), format!("{signature}\n"))?;
        std::fs::write(
            out.join(format!("{n}.txt")),
            describe(target, &bytes, &finding),
        )?;
        eprintln!("[{}] finding {n}: {signature}", target.name());
        summary.findings.push(Distinct {
            signature,
            finding,
            path,
        });
    }
    summary.elapsed = start.elapsed();
    let _ = std::fs::remove_file(&known_file);
    std::fs::write(out.join("summary.txt"), summary_text(&summary))?;
    Ok(summary)
}

/// The finding, its signature and the trace of `bytes` (run in this process unless the
/// finding is a crash or a timeout, which would end or stall it: then the ops are listed).
pub fn describe(target: &dyn AnyTarget, bytes: &[u8], finding: &Finding) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "finding: {finding}\nsignature: {}\ntrace:",
        finding.signature()
    );
    if matches!(
        finding.kind,
        kvafuzz::harness::FindingKind::Crash(_) | kvafuzz::harness::FindingKind::Timeout { .. }
    ) {
        let (version, payload) = kvafuzz::harness::target::unframe(target, bytes);
        let (header, ops) = target.listing(version, payload);
        let _ = writeln!(s, "{header}");
        for (i, op) in ops.iter().enumerate() {
            let _ = writeln!(s, "  #{i} {op}");
        }
    } else {
        let (text, _) = trace(target, bytes, BugSet::NONE);
        s.push_str(&text);
    }
    s
}

/// The summary file's text.
pub fn summary_text(s: &Summary) -> String {
    let mut t = format!(
        "{}: {} rounds, {} cases, {:.0} s, {} distinct findings\n",
        s.target,
        s.rounds,
        s.cases,
        s.elapsed.as_secs_f64(),
        s.findings.len()
    );
    for d in &s.findings {
        let _ = writeln!(t, "{}: {}", d.path.display(), d.signature);
    }
    t
}
