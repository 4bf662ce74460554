//! The proof that a target is one folder and one registry line: a toy target (a bump
//! allocator over 256 bytes, with a one-line bug switch), defined here in the test tree
//! only, is put in a registry of its own and then driven by the tools exactly as they drive
//! the real targets, with no other edit anywhere: the seeded campaign finds its bug, the
//! minimizer shrinks the finding, the CLI fuzzes, writes, replays and minimizes it, the seeds
//! are written as corpus files that the corpus test replays, and `corpus migrate` rewrites a
//! file of the toy's older op language.

use std::fmt;
use std::path::PathBuf;

use kvafuzz::harness::campaign::{run_campaign, CampaignConfig};
use kvafuzz::harness::cli::{main_with, replay_corpus};
use kvafuzz::harness::codec::{Decoder, Encoder, Swarm};
use kvafuzz::harness::corpus::{self, frame};
use kvafuzz::harness::drive::{drive, Machine};
use kvafuzz::harness::map::{AddressMap, Band, Layer, Shade};
use kvafuzz::harness::{
    minimize, run, run_with, trace, AnyTarget, BrokenInvariant, BugSet, Case, Finding, Mismatch,
    StateDiff, Stats, Target,
};

/// Bytes the bump allocator hands out.
const CAPACITY: u16 = 256;

/// Op kinds of the toy's op language, version 2 (version 1 had them the other way round).
const K_ALLOC: u8 = 0;
const K_RESET: u8 = 1;
const KINDS: u8 = 2;

/// One op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// Take `size` bytes (0 is refused).
    Alloc(u8),
    /// Give everything back.
    Reset,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Alloc(n) => write!(f, "alloc {n}"),
            Op::Reset => f.write_str("reset"),
        }
    }
}

impl Op {
    /// Reads an op of `kind` (kinds numbered as in `version`).
    fn read(kind: u8, version: u16, d: &mut Decoder) -> Op {
        let alloc = if version == 1 { K_RESET } else { K_ALLOC };
        if kind == alloc {
            Op::Alloc(d.u8())
        } else {
            Op::Reset
        }
    }

    /// Writes it in the current version.
    fn write(&self, e: &mut Encoder) {
        match *self {
            Op::Alloc(n) => {
                e.u8(K_ALLOC);
                e.u8(n);
            }
            Op::Reset => e.u8(K_RESET),
        }
    }
}

/// A toy scenario: the op list (`BUGGY` picks the allocator).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Bumps<const BUGGY: bool> {
    ops: Vec<Op>,
}

impl<const BUGGY: bool> Bumps<BUGGY> {
    fn decode_version(version: u16, data: &[u8]) -> Bumps<BUGGY> {
        let mut d = Decoder::new(data);
        let swarm = Swarm::read(&mut d, KINDS);
        let mut ops = Vec::new();
        swarm.read_ops(&mut d, &mut ops, |kind, d| Op::read(kind, version, d));
        Bumps { ops }
    }
}

impl<const BUGGY: bool> fmt::Display for Bumps<BUGGY> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header())
    }
}

impl<const BUGGY: bool> Case for Bumps<BUGGY> {
    fn decode(data: &[u8]) -> Self {
        Bumps::decode_version(2, data)
    }

    fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        Swarm::write_all(&mut e, KINDS);
        for op in &self.ops {
            op.write(&mut e);
        }
        e.finish()
    }

    type Op = Op;

    fn ops(&self) -> &[Op] {
        &self.ops
    }

    fn with_ops(&self, ops: Vec<Op>) -> Self {
        Bumps { ops }
    }

    fn header(&self) -> String {
        format!("bump scenario: capacity {CAPACITY} ops={}", self.ops.len())
    }

    fn execute(&self, _bugs: BugSet, trace: Option<&mut String>) -> Result<Stats, Finding> {
        let mut m = BumpMachine::<BUGGY> {
            next: 0,
            model_used: 0,
            stats: Stats::default(),
        };
        drive(<Bump<BUGGY> as Target>::NAME, &mut m, &self.ops, trace)
    }
}

/// The bump allocator (`next`) beside its model (`model_used`, in u32 so it cannot wrap).
struct BumpMachine<const BUGGY: bool> {
    next: u16,
    model_used: u32,
    stats: Stats,
}

impl<const BUGGY: bool> BumpMachine<BUGGY> {
    /// The allocator under test: the start of `size` fresh bytes, or `None` when full.
    fn alloc(&mut self, size: u16) -> Option<u16> {
        let end = self.next.checked_add(size)?;
        // THE BUG SWITCH: `<` refuses the allocation that exactly fills the buffer.
        let fits = if BUGGY {
            end < CAPACITY
        } else {
            end <= CAPACITY
        };
        if size == 0 || !fits {
            return None;
        }
        let at = self.next;
        self.next = end;
        Some(at)
    }
}

impl<const BUGGY: bool> Machine for BumpMachine<BUGGY> {
    type Op = Op;

    fn step(&mut self, op: &Op) -> Result<String, Mismatch> {
        match *op {
            Op::Reset => {
                self.next = 0;
                self.model_used = 0;
                self.stats.count(true);
                Ok("ok".into())
            }
            Op::Alloc(n) => {
                let size = u32::from(n);
                let expected = (size > 0 && self.model_used + size <= u32::from(CAPACITY))
                    .then_some(self.model_used);
                let got = self.alloc(u16::from(n)).map(u32::from);
                if got != expected {
                    return Err(Mismatch::values(
                        "alloc",
                        format!("{n} at used {}", self.model_used),
                        &expected,
                        &got,
                    ));
                }
                if expected.is_some() {
                    self.model_used += size;
                }
                self.stats.count(got.is_some());
                Ok(format!("{got:?}"))
            }
        }
    }

    /// The buffer: its used bytes and the rest, as the allocator and the model see it.
    fn address_map(&self) -> AddressMap {
        let cap = u64::from(CAPACITY);
        let side = |used: u64| {
            [
                Band::sized(0, used, Shade::Live),
                Band::sized(used, cap.saturating_sub(used), Shade::Free),
            ]
        };
        AddressMap::new(vec![Layer::new(
            "buffer",
            side(u64::from(self.next)),
            side(u64::from(self.model_used)),
        )])
    }

    fn check_invariants(&self) -> Result<(), BrokenInvariant> {
        if self.next > CAPACITY {
            return Err(BrokenInvariant::new(
                "next within capacity",
                format!("next {}", self.next),
            ));
        }
        Ok(())
    }

    fn compare_state(&self) -> Result<(), StateDiff> {
        if u32::from(self.next) != self.model_used {
            return Err(StateDiff::new(
                "bytes used",
                self.next.to_string(),
                self.model_used.to_string(),
            ));
        }
        Ok(())
    }

    fn stats(&self) -> Stats {
        self.stats
    }

    fn summary(&self) -> String {
        format!("{} of {CAPACITY} bytes used", self.next)
    }
}

/// The toy target, with or without its bug. This impl is the "folder"...
struct Bump<const BUGGY: bool>;

impl<const BUGGY: bool> Target for Bump<BUGGY> {
    const NAME: &'static str = "bump";
    const ABOUT: &'static str = "a bump allocator over 256 bytes vs a running total";
    const VERSION: u16 = 2;
    #[cfg(feature = "seeded-bugs")]
    const BUGS: &'static [kvafuzz::bugs::Bug] = &[];
    type Scenario = Bumps<BUGGY>;

    fn seeds() -> Vec<(&'static str, Bumps<BUGGY>)> {
        vec![
            (
                "fill-exactly",
                Bumps {
                    ops: vec![Op::Alloc(200), Op::Alloc(56), Op::Alloc(1), Op::Reset],
                },
            ),
            (
                "zero-and-reset",
                Bumps {
                    ops: vec![Op::Alloc(0), Op::Alloc(255), Op::Reset, Op::Alloc(9)],
                },
            ),
        ]
    }

    fn decode_version(version: u16, payload: &[u8]) -> Option<Bumps<BUGGY>> {
        matches!(version, 1 | 2).then(|| Bumps::decode_version(version, payload))
    }
}

/// ... and these are the one registry line, with the bug on and off.
static BUGGY: &[&dyn AnyTarget] = &[&Bump::<true>];
static FIXED: &[&dyn AnyTarget] = &[&Bump::<false>];

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kvafuzz-toy-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_campaign_finds_the_toys_bug_and_the_minimizer_shrinks_it() {
    let buggy = BUGGY[0];
    let report = run_campaign(&CampaignConfig {
        target: buggy,
        seed: 3,
        jobs: 1,
        time_limit: None,
        max_cases: Some(20_000),
        bugs: BugSet::NONE,
        progress: false,
    });
    let found = report.finding.expect("the off-by-one is found");
    assert_eq!(
        found.finding.signature(),
        "oracle: alloc: expected Some, got None",
        "{}",
        found.finding
    );
    assert!(
        run(FIXED[0], &found.input).is_ok(),
        "the fixed toy passes the same input"
    );
    let (bytes, finding) = minimize(buggy, &found.input, BugSet::NONE).unwrap();
    assert_eq!(finding.signature(), found.finding.signature());
    let (text, verdict) = trace(buggy, &bytes, BugSet::NONE);
    assert_eq!(verdict.map(|_| ()), Err(finding));
    let ops = text.lines().filter(|l| l.starts_with("  #")).count();
    assert!(ops <= 3, "{text}");
    // Clean runs of the fixed toy find nothing.
    let clean = run_campaign(&CampaignConfig {
        target: FIXED[0],
        max_cases: Some(2_000),
        ..CampaignConfig {
            target: buggy,
            seed: 3,
            jobs: 1,
            time_limit: None,
            max_cases: None,
            bugs: BugSet::NONE,
            progress: false,
        }
    });
    assert!(clean.finding.is_none());
    assert!(clean.ops > 2_000);
}

#[test]
fn the_cli_fuzzes_writes_replays_and_minimizes_the_toy() {
    let dir = scratch("cli");
    let findings = dir.join("findings");
    let code = main_with(
        BUGGY,
        args(&[
            "fuzz",
            "--target",
            "bump",
            "--seconds",
            "60",
            "--seed",
            "3",
            "--jobs",
            "1",
            "--findings",
            findings.to_str().unwrap(),
        ]),
    );
    assert_eq!(code, 1, "a finding");
    let written: Vec<PathBuf> = std::fs::read_dir(findings.join("bump"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    assert_eq!(written.len(), 1);
    let file = written[0].to_str().unwrap();
    assert!(std::fs::read(file)
        .unwrap()
        .starts_with(b"kvafuzz-corpus bump v2\n"));
    assert_eq!(main_with(BUGGY, args(&["replay", file, "--quiet"])), 1);
    assert_eq!(main_with(FIXED, args(&["replay", file, "--quiet"])), 0);
    let out = dir.join("again.bin");
    let orig = format!("{file}.orig");
    let code = main_with(
        BUGGY,
        args(&["minimize", &orig, "--out", out.to_str().unwrap()]),
    );
    assert_eq!(code, 1, "still failing after minimizing");
    assert!(run_with(BUGGY[0], &std::fs::read(&out).unwrap(), BugSet::NONE).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_toys_seeds_are_a_corpus_the_corpus_test_replays_and_migrate_upgrades() {
    let dir = scratch("corpus");
    assert_eq!(main_with(FIXED, args(&["seeds", dir.to_str().unwrap()])), 0);
    let corpus_dir = dir.join("bump");
    assert_eq!(replay_corpus(FIXED[0], &corpus_dir), Ok(2));
    // The buggy toy fails the seed that fills the buffer exactly.
    let err = replay_corpus(BUGGY[0], &corpus_dir).unwrap_err();
    assert!(err.contains("fill-exactly"), "{err}");

    // A file of op-language v1 (kinds numbered the other way round) replays as the same
    // scenario, and migrate rewrites it in v2.
    let ops = [Op::Alloc(7), Op::Reset, Op::Alloc(3)];
    let v1_payload = [0, 1, 7, 0, 1, 3];
    let v1 = corpus_dir.join("old.bin");
    std::fs::write(&v1, frame("bump", 1, &v1_payload)).unwrap();
    let (_, verdict) = trace(FIXED[0], &std::fs::read(&v1).unwrap(), BugSet::NONE);
    assert_eq!(verdict.map(|s| s.ops), Ok(3));
    assert_eq!(
        main_with(
            FIXED,
            args(&["corpus", "migrate", corpus_dir.to_str().unwrap()])
        ),
        0
    );
    let migrated = std::fs::read(&v1).unwrap();
    let expected = frame("bump", 2, &Bumps::<false> { ops: ops.to_vec() }.encode());
    assert_eq!(migrated, expected);
    assert_eq!(replay_corpus(FIXED[0], &corpus_dir), Ok(3));

    // A version the toy never had is refused by the corpus test, with the reason.
    std::fs::write(corpus_dir.join("future.bin"), frame("bump", 3, &[0, 0, 1])).unwrap();
    let err = replay_corpus(FIXED[0], &corpus_dir).unwrap_err();
    assert!(
        err.contains("version 3") && err.contains("future.bin"),
        "{err}"
    );
    // And a raw file (an engine artifact) too: every corpus file must say its version.
    std::fs::remove_file(corpus_dir.join("future.bin")).unwrap();
    std::fs::write(corpus_dir.join("raw.bin"), [0, 0, 1]).unwrap();
    let err = replay_corpus(FIXED[0], &corpus_dir).unwrap_err();
    assert!(err.contains("no corpus header"), "{err}");
    assert!(corpus::parse(&[0, 0, 1]).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}
