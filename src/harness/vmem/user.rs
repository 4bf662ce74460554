//! A user's range allocator as a target of its own: campaigns, isolation, the minimizer and
//! traces, exactly as for the built-in targets.
//!
//! [`AdapterTarget`] is an [`AnyTarget`] made of a name and the function that builds the
//! user's [`RangeAllocator`] for a scenario's [`Shape`]: the vmem scenarios (their op
//! language, seeds and corpus) drive it, and every tool written over `&dyn AnyTarget` works
//! on it (`run_with`, `trace`, `minimize`, `run_campaign`, `run_campaign_isolated`,
//! `minimize_isolated`, `serve_if_child`). [`fuzz_adapter`] is the whole loop in one call: a
//! seeded campaign, then the first finding minimized and traced. An isolated campaign
//! starts the user's own binary again as its child, so that binary calls
//! [`crate::harness::isolate::serve_if_child`] with the target first thing in `main`
//! (`examples/fuzz_your_allocator.rs` shows it).

use std::fmt::Write as _;
use std::time::Duration;

use super::adapter::RangeAllocator;
use super::{Param, Scenario, Shape, VmemTarget};
use crate::harness::campaign::{run_campaign, run_campaign_isolated, CampaignConfig, FoundCase};
use crate::harness::drive::setup_finding;
use crate::harness::isolate::{minimize_isolated, Isolation};
use crate::harness::minimize::minimize_case_with;
use crate::harness::target::{catching, trace, AnyTarget, Target};
use crate::harness::{BugSet, Case, Finding, Stats};

/// How an [`AdapterTarget`] builds the allocator for a scenario.
pub type Make<A> = fn(&Shape) -> Result<A, String>;

/// A user's range allocator as a target (module comment). Build one in a `static`:
/// `static MINE: AdapterTarget<Mine> = AdapterTarget::new("mine", "my allocator", Mine::build);`
pub struct AdapterTarget<A> {
    /// Its name (in findings, corpus headers and the isolated child's environment).
    name: &'static str,
    /// One line saying what it is.
    about: &'static str,
    /// Builds the allocator for a scenario's shape (an `Err` is a setup finding).
    make: Make<A>,
    /// Its constructor parameters (named in traces; [`Shape::param`] gives their values).
    params: &'static [Param],
}

impl<A> AdapterTarget<A> {
    /// The target `name` (about it: `about`), building its allocator with `make`.
    pub const fn new(name: &'static str, about: &'static str, make: Make<A>) -> Self {
        AdapterTarget {
            name,
            about,
            make,
            params: &[],
        }
    }

    /// The same target naming `params`, the constructor parameters its `make` reads with
    /// [`Shape::param`], in the header of every trace.
    pub const fn with_params(self, params: &'static [Param]) -> Self {
        AdapterTarget { params, ..self }
    }

    /// The scenario `payload` of op-language `version` is.
    fn decode(version: u16, payload: &[u8]) -> Scenario {
        VmemTarget::decode_version(version, payload).unwrap_or_else(|| Scenario::decode(payload))
    }
}

impl<A: RangeAllocator + 'static> AdapterTarget<A> {
    /// Runs `case` on a fresh allocator, appending to `trace` if given.
    fn run_case(&self, case: &Scenario, trace: Option<&mut String>) -> Result<Stats, Finding> {
        let alloc = (self.make)(&case.shape()).map_err(|msg| setup_finding(self.name, msg))?;
        case.execute_named(self.name, alloc, trace)
    }
}

impl<A: RangeAllocator + 'static> AnyTarget for AdapterTarget<A> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn about(&self) -> &'static str {
        self.about
    }

    fn version(&self) -> u16 {
        VmemTarget::VERSION
    }

    /// A user's allocator has no seeded bugs.
    #[cfg(feature = "seeded-bugs")]
    fn bugs(&self) -> &'static [crate::bugs::Bug] {
        &[]
    }

    /// Seeded bugs are kvafuzz's own allocators': `bugs` changes nothing here.
    fn execute(
        &self,
        version: u16,
        payload: &[u8],
        _bugs: BugSet,
        mut trace: Option<&mut String>,
    ) -> Result<Stats, Finding> {
        catching(self.name, || {
            let case = Self::decode(version, payload);
            if let Some(t) = trace.as_deref_mut() {
                t.push_str(&case.header());
                let shape = case.shape();
                for p in self.params {
                    let _ = write!(t, " {}={}", p.name, shape.param(p));
                }
                t.push('\n');
            }
            self.run_case(&case, trace)
        })
    }

    fn minimize(&self, version: u16, payload: &[u8], _bugs: BugSet) -> Option<(Vec<u8>, Finding)> {
        minimize_case_with(Self::decode(version, payload), |c| {
            catching(self.name, || self.run_case(c, None)).err()
        })
    }

    fn minimize_with(
        &self,
        version: u16,
        payload: &[u8],
        run: &mut dyn FnMut(&[u8]) -> Option<Finding>,
    ) -> Option<(Vec<u8>, Finding)> {
        minimize_case_with(Self::decode(version, payload), |c| run(&c.encode()))
    }

    fn listing(&self, version: u16, payload: &[u8]) -> (String, Vec<String>) {
        VmemTarget.listing(version, payload)
    }

    fn seeds(&self) -> Vec<(&'static str, Vec<u8>)> {
        AnyTarget::seeds(&VmemTarget)
    }

    fn reads_version(&self, version: u16) -> bool {
        VmemTarget.reads_version(version)
    }

    fn migrate(&self, version: u16, payload: &[u8]) -> Option<Vec<u8>> {
        VmemTarget.migrate(version, payload)
    }

    fn round_trip(&self, payload: &[u8]) -> Result<(), String> {
        VmemTarget.round_trip(payload)
    }
}

/// How [`fuzz_adapter`] runs.
#[derive(Clone, Debug)]
pub struct AdapterCampaign {
    /// Key of the campaign's ChaCha8 streams.
    pub seed: u64,
    /// Parallel jobs.
    pub jobs: u32,
    /// Stop after this long (`None`: no time bound).
    pub time_limit: Option<Duration>,
    /// Stop after this many cases (`None`: no count bound).
    pub max_cases: Option<u64>,
    /// Run every case (and every minimizer candidate) in a child process started as this
    /// says: crashes and hangs become findings. The child is the user's program, which must
    /// call [`crate::harness::isolate::serve_if_child`] first thing.
    pub isolation: Option<Isolation>,
    /// Print a progress line to stderr.
    pub progress: bool,
}

/// What [`fuzz_adapter`] did.
#[derive(Clone, Debug)]
pub struct AdapterReport {
    /// Cases run.
    pub cases: u64,
    /// Ops executed.
    pub ops: u64,
    /// The first finding as the campaign found it.
    pub found: Option<FoundCase>,
    /// That finding minimized: the bytes (a vmem payload in the current op-language version),
    /// its finding, and its trace.
    pub minimized: Option<(Vec<u8>, Finding, String)>,
}

/// Runs a seeded campaign on `target`, then minimizes its first finding (in a child too if
/// the campaign is isolated) and traces the result.
pub fn fuzz_adapter<A: RangeAllocator + 'static>(
    target: &'static AdapterTarget<A>,
    cfg: &AdapterCampaign,
) -> AdapterReport {
    let config = CampaignConfig {
        target,
        seed: cfg.seed,
        jobs: cfg.jobs,
        time_limit: cfg.time_limit,
        max_cases: cfg.max_cases,
        bugs: BugSet::NONE,
        progress: cfg.progress,
    };
    let report = match &cfg.isolation {
        Some(isolation) => run_campaign_isolated(&config, isolation),
        None => run_campaign(&config),
    };
    let minimized = report.finding.as_ref().and_then(|found| {
        let (bytes, finding) = match &cfg.isolation {
            Some(isolation) => minimize_isolated(target, &found.input, BugSet::NONE, isolation),
            None => crate::harness::minimize(target, &found.input, BugSet::NONE),
        }?;
        let (text, _) = trace(target, &bytes, BugSet::NONE);
        Some((bytes, finding, text))
    });
    AdapterReport {
        cases: report.cases,
        ops: report.ops,
        found: report.finding,
        minimized,
    }
}
