//! # Targets and the registry
//!
//! A *target* is one allocator (or stack of them) and the oracle that judges it, driven by
//! scenarios decoded from raw bytes. Each target lives in its own folder under
//! `src/harness/<name>/` and implements [`Target`] once: its name and one-line description,
//! the version of its op language, its scenario type (a [`Case`]: decoding, encoding,
//! printing, the op list and how to build its machine and drive it), its named seed scenarios
//! and the seeded bugs it must find. One line in [`REGISTRY`] makes it known to everything
//! else: [`run`], [`trace`], [`minimize`], the seed listing, `kvafuzz list`, the corpus test,
//! the campaign and the bug self-test are each written once, over `&dyn AnyTarget`.
//!
//! [`AnyTarget`] is the object-safe face of a [`Target`] (implemented for every `Target` by a
//! blanket impl), so one static slice can hold targets whose scenario types differ, and a
//! target that is not in the registry (the toy bump allocator of `tests/toy_target.rs`) works
//! with every tool all the same.
//!
//! ## Corpus framing
//!
//! Engines hand [`run`] raw bytes. A corpus file may also start with a header line naming its
//! target and the version of the op language it is written in (see [`super::corpus`]); `run`
//! reads a header of its own target in a version it can decode and treats anything else as
//! raw bytes (a fuzzer mutating a header must not make an input fail), while the corpus test
//! and `kvafuzz replay` refuse a file in an unknown version with a clear message.

use std::fmt::{self, Debug};

use super::corpus::{self, Framing};
use super::minimize::{minimize_case, minimize_case_with};
use super::{BugSet, Case, Finding, FindingKind, Stats};

/// A harness target, implemented once per target folder (see the module comment).
pub trait Target: Sync + 'static {
    /// The name used on the command line, in `corpus/<name>/`, by the cargo-fuzz target
    /// and the AFL binary.
    const NAME: &'static str;
    /// One line saying what it drives and what judges it.
    const ABOUT: &'static str;
    /// The version of the op language: bumped whenever the same bytes would decode to
    /// another scenario. Corpus files carry it in their header.
    const VERSION: u16;
    /// The seeded bugs (feature `seeded-bugs`) this target must find; each seeded bug
    /// belongs to exactly one registered target.
    #[cfg(feature = "seeded-bugs")]
    const BUGS: &'static [crate::bugs::Bug];
    /// The target's decoded scenarios.
    type Scenario: Case + PartialEq + Debug;
    /// The hand-written seed scenarios, by name (`kvafuzz seeds` writes them as corpus
    /// files).
    fn seeds() -> Vec<(&'static str, Self::Scenario)>;
    /// A payload written in an older `version` of the op language, decoded to today's
    /// scenario; `None` if this target cannot read that version (the default: only
    /// [`Target::VERSION`] itself). `kvafuzz corpus migrate` rewrites old files with it.
    fn decode_version(version: u16, payload: &[u8]) -> Option<Self::Scenario> {
        (version == Self::VERSION).then(|| Self::Scenario::decode(payload))
    }
}

/// The object-safe face of a [`Target`]: what every tool calls. Every payload here is the
/// bytes after any corpus header (see [`unframe`]).
pub trait AnyTarget: Sync {
    /// [`Target::NAME`].
    fn name(&self) -> &'static str;
    /// [`Target::ABOUT`].
    fn about(&self) -> &'static str;
    /// [`Target::VERSION`].
    fn version(&self) -> u16;
    /// [`Target::BUGS`].
    #[cfg(feature = "seeded-bugs")]
    fn bugs(&self) -> &'static [crate::bugs::Bug];
    /// Decodes `payload` (of `version`) and runs it with `bugs` switched on, appending the
    /// header line and a line per op to `trace` if given; a panic anywhere is a finding.
    fn execute(
        &self,
        version: u16,
        payload: &[u8],
        bugs: BugSet,
        trace: Option<&mut String>,
    ) -> Result<Stats, Finding>;
    /// Shrinks a failing payload (delta debugging over its op list) to one that fails with
    /// the same signature: its bytes (in the current version) and finding; `None` if it
    /// passes.
    fn minimize(&self, version: u16, payload: &[u8], bugs: BugSet) -> Option<(Vec<u8>, Finding)>;
    /// [`AnyTarget::minimize`] with every candidate (a payload in the current version)
    /// judged by `run` (its finding, `None` if it passes) instead of run in this process.
    fn minimize_with(
        &self,
        version: u16,
        payload: &[u8],
        run: &mut dyn FnMut(&[u8]) -> Option<Finding>,
    ) -> Option<(Vec<u8>, Finding)>;
    /// `payload` decoded but not run: the header line of its trace and each op's text (how
    /// an isolated campaign names the op a child died in, and prints a case it cannot run
    /// in its own process).
    fn listing(&self, version: u16, payload: &[u8]) -> (String, Vec<String>);
    /// The seed scenarios as payloads in the current version.
    fn seeds(&self) -> Vec<(&'static str, Vec<u8>)>;
    /// Whether this target reads payloads written in `version`.
    fn reads_version(&self, version: u16) -> bool;
    /// `payload` of `version` re-encoded in the current version (`None` if the version
    /// cannot be read).
    fn migrate(&self, version: u16, payload: &[u8]) -> Option<Vec<u8>>;
    /// The codec round trip on `payload`: `decode(encode(decode(p))) == decode(p)`, or
    /// both scenarios printed.
    fn round_trip(&self, payload: &[u8]) -> Result<(), String>;
}

impl fmt::Debug for dyn AnyTarget + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "target {}", self.name())
    }
}

impl fmt::Display for dyn AnyTarget + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl<T: Target> AnyTarget for T {
    fn name(&self) -> &'static str {
        T::NAME
    }

    fn about(&self) -> &'static str {
        T::ABOUT
    }

    fn version(&self) -> u16 {
        T::VERSION
    }

    #[cfg(feature = "seeded-bugs")]
    fn bugs(&self) -> &'static [crate::bugs::Bug] {
        T::BUGS
    }

    fn execute(
        &self,
        version: u16,
        payload: &[u8],
        bugs: BugSet,
        mut trace: Option<&mut String>,
    ) -> Result<Stats, Finding> {
        catching(T::NAME, || {
            let case =
                T::decode_version(version, payload).unwrap_or_else(|| T::Scenario::decode(payload));
            if let Some(t) = trace.as_deref_mut() {
                t.push_str(&case.header());
                t.push('\n');
            }
            case.execute(bugs, trace)
        })
    }

    fn minimize(&self, version: u16, payload: &[u8], bugs: BugSet) -> Option<(Vec<u8>, Finding)> {
        let case =
            T::decode_version(version, payload).unwrap_or_else(|| T::Scenario::decode(payload));
        minimize_case(T::NAME, case, bugs)
    }

    fn minimize_with(
        &self,
        version: u16,
        payload: &[u8],
        run: &mut dyn FnMut(&[u8]) -> Option<Finding>,
    ) -> Option<(Vec<u8>, Finding)> {
        let case =
            T::decode_version(version, payload).unwrap_or_else(|| T::Scenario::decode(payload));
        minimize_case_with(case, |c: &T::Scenario| run(&c.encode()))
    }

    fn listing(&self, version: u16, payload: &[u8]) -> (String, Vec<String>) {
        let case =
            T::decode_version(version, payload).unwrap_or_else(|| T::Scenario::decode(payload));
        let ops = case.ops().iter().map(ToString::to_string).collect();
        (case.header(), ops)
    }

    fn seeds(&self) -> Vec<(&'static str, Vec<u8>)> {
        T::seeds()
            .into_iter()
            .map(|(name, s)| (name, s.encode()))
            .collect()
    }

    fn reads_version(&self, version: u16) -> bool {
        version == T::VERSION || T::decode_version(version, &[]).is_some()
    }

    fn migrate(&self, version: u16, payload: &[u8]) -> Option<Vec<u8>> {
        T::decode_version(version, payload).map(|s| s.encode())
    }

    fn round_trip(&self, payload: &[u8]) -> Result<(), String> {
        let case = T::Scenario::decode(payload);
        let again = T::Scenario::decode(&case.encode());
        if case == again {
            Ok(())
        } else {
            Err(format!("decoded:\n{case:?}\nre-decoded:\n{again:?}"))
        }
    }
}

/// Runs `f`, turning a panic into a [`Finding`] of `target` with no op: a panic while
/// decoding or setting up (a panic during an op is caught by [`super::drive::drive`], which
/// names the op).
pub(crate) fn catching(
    target: &'static str,
    f: impl FnOnce() -> Result<Stats, Finding>,
) -> Result<Stats, Finding> {
    super::panics::catch(f).unwrap_or_else(|report| {
        Err(Finding {
            target,
            op_index: None,
            op: String::new(),
            kind: FindingKind::Panic(report),
        })
    })
}

/// What [`run`] decodes `data` as, for `target`: the payload after a header of this target
/// in a version it reads, else the whole of `data` as raw bytes of the current version.
/// Never fails: a fuzzer's input is whatever it is.
pub fn unframe<'a>(target: &dyn AnyTarget, data: &'a [u8]) -> (u16, &'a [u8]) {
    match corpus::parse(data) {
        Ok(Framing::Framed {
            target: name,
            version,
            payload,
        }) if name == target.name() && target.reads_version(version) => (version, payload),
        _ => (target.version(), data),
    }
}

/// The entry point every engine calls: decode `data` as a `target` scenario and check it.
pub fn run(target: &dyn AnyTarget, data: &[u8]) -> Result<Stats, Finding> {
    run_with(target, data, BugSet::NONE)
}

/// [`run`] with seeded bugs switched on (the self-test).
pub fn run_with(target: &dyn AnyTarget, data: &[u8], bugs: BugSet) -> Result<Stats, Finding> {
    let (version, payload) = unframe(target, data);
    target.execute(version, payload, bugs, None)
}

/// The readable trace of `data` as a `target` scenario (its header line, then a line per
/// op), and its verdict.
pub fn trace(
    target: &dyn AnyTarget,
    data: &[u8],
    bugs: BugSet,
) -> (String, Result<Stats, Finding>) {
    let (version, payload) = unframe(target, data);
    let mut out = String::new();
    let verdict = target.execute(version, payload, bugs, Some(&mut out));
    (out, verdict)
}

/// Shrinks a failing input of `target` to a small one that fails with the same signature;
/// returns its bytes (a payload in the current version, without a header) and finding.
pub fn minimize(target: &dyn AnyTarget, data: &[u8], bugs: BugSet) -> Option<(Vec<u8>, Finding)> {
    let (version, payload) = unframe(target, data);
    target.minimize(version, payload, bugs)
}

/// The environment variable that switches seeded bugs on in every engine's binary of a
/// `seeded-bugs` build (cargo-fuzz, AFL): a comma-separated list of bug names as
/// `kvafuzz list` prints them, read once at the first input.
pub const BUGS_ENV: &str = "KVAFUZZ_BUGS";

/// The bugs a [`BUGS_ENV`] value names: empty (or only commas and spaces) is none; an
/// unknown name, or any name in a build without the `seeded-bugs` feature, is an error
/// saying so.
pub fn bugs_from_env_value(value: &str) -> Result<BugSet, String> {
    let mut names = value.split(',').map(str::trim).filter(|n| !n.is_empty());
    #[cfg(feature = "seeded-bugs")]
    {
        names.try_fold(BugSet::NONE, |bugs, name| {
            crate::bugs::Bug::from_name(name)
                .map(|bug| bugs.with(bug))
                .ok_or_else(|| {
                    format!(
                        "{BUGS_ENV}: no seeded bug is called {name} (`kvafuzz list` names them)"
                    )
                })
        })
    }
    #[cfg(not(feature = "seeded-bugs"))]
    match names.next() {
        None => Ok(BugSet::NONE),
        Some(name) => Err(format!(
            "{BUGS_ENV}={name}: this build has no seeded bugs (build with --features seeded-bugs)"
        )),
    }
}

/// The bugs [`BUGS_ENV`] switches on in this process (read once; a bad value panics at the
/// first input with the reason, so the engine stops on it at once).
fn env_bugs() -> BugSet {
    static BUGS: std::sync::OnceLock<Result<BugSet, String>> = std::sync::OnceLock::new();
    let parsed = BUGS.get_or_init(|| match std::env::var(BUGS_ENV) {
        Ok(v) => bugs_from_env_value(&v),
        Err(_) => Ok(BugSet::NONE),
    });
    match parsed {
        Ok(bugs) => *bugs,
        Err(why) => panic!("{why}"),
    }
}

/// The body of every cargo-fuzz target and AFL binary: [`run_with`] the bugs
/// [`BUGS_ENV`] names (none unless set), and a panic carrying the finding if there is one
/// (the fuzz engine records the input as a crash).
pub fn fuzz_check(target: &dyn AnyTarget, data: &[u8]) {
    if let Err(finding) = run_with(target, data, env_bugs()) {
        panic!("kvafuzz finding: {finding}");
    }
}

/// Every registered target, in the order `kvafuzz list` prints them. A new target is one
/// line here (and its folder).
pub static REGISTRY: &[&dyn AnyTarget] = &[
    &super::vmem::VmemTarget,
    &super::vmmap::VmmapTarget,
    &super::mmu::MmuTarget,
    &super::vmap::VmapTarget,
    &super::slab::SlabTarget,
    &super::kmem::KmemTarget,
];

/// The registered target called `name`.
pub fn target(name: &str) -> Option<&'static dyn AnyTarget> {
    find(REGISTRY, name)
}

/// The target called `name` in `registry`.
pub fn find<'r>(registry: &[&'r dyn AnyTarget], name: &str) -> Option<&'r dyn AnyTarget> {
    registry.iter().copied().find(|t| t.name() == name)
}
