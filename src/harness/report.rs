//! # The JSON summary of a campaign (`kvafuzz fuzz --json FILE`)
//!
//! One JSON object per run of `kvafuzz fuzz` (one target), for CI dashboards: what ran
//! (target, engine, seed, jobs), how much (cases, ops, time), how widely (the share of cases
//! that reached each op kind and each error kind, see [`super::kinds`]) and what was found
//! (each finding's kind, signature, file and replay command). `docs/json.md` documents every
//! field; the names and types are pinned by a test against a golden listing
//! (`tests/golden/fuzz-json-schema.txt`), and [`SCHEMA_VERSION`] changes whenever a field
//! is removed, renamed or changes meaning (adding a field does not change it: readers ignore
//! fields they do not know).
//!
//! Everything is a function of the command line (target, seed, cases, bug) except the
//! time fields (`seconds`, `ops_per_sec`) and, with more than one job, which job ran which
//! case (the jobs share the case count, so `ops` and the kind shares vary a little).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::campaign::CampaignReport;
use super::{Finding, FindingKind};

/// The version of this schema (see the module comment).
pub const SCHEMA_VERSION: u32 = 1;

/// The engine the summary's campaign ran on.
pub const ENGINE_CAMPAIGN: &str = "campaign";

/// The summary of one `kvafuzz fuzz` run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FuzzSummary {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The target's name (`kvafuzz targets`).
    pub target: String,
    /// The version of the target's op language (the corpus header's).
    pub op_language_version: u16,
    /// The engine: `"campaign"` (the built-in seeded campaign).
    pub engine: String,
    /// The campaign's seed.
    pub seed: u64,
    /// Parallel jobs.
    pub jobs: u32,
    /// Whether cases ran in child processes (`--isolate`).
    pub isolated: bool,
    /// The seeded bug switched on (`--bug`), `null` if none.
    pub bug: Option<String>,
    /// Cases run.
    pub cases: u64,
    /// Ops executed in all.
    pub ops: u64,
    /// Wall time of the campaign, seconds (not deterministic).
    pub seconds: f64,
    /// `ops / seconds` (not deterministic).
    pub ops_per_sec: f64,
    /// For each op kind executed, the cases that reached it (by name, sorted).
    pub op_kinds: BTreeMap<String, KindShare>,
    /// For each error kind the allocator returned, the cases that reached it.
    pub error_kinds: BTreeMap<String, KindShare>,
    /// What was found (at most one: the first finding stops a campaign).
    pub findings: Vec<FindingSummary>,
}

/// How many cases reached a kind.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct KindShare {
    /// Clean cases that executed the op kind (or got the error kind) at least once.
    pub cases: u64,
    /// `cases` over all cases run, in [0, 1].
    pub share: f64,
}

/// One finding of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FindingSummary {
    /// Which check broke: `oracle`, `invariant`, `state`, `setup`, `panic`, `crash` or
    /// `timeout` ([`FindingKind`]).
    pub kind: String,
    /// Its signature: stable while the minimizer changes addresses and sizes
    /// ([`Finding::signature`]).
    pub signature: String,
    /// The minimized finding as printed (`op #i ...: ...`).
    pub message: String,
    /// The job (stream) and the case in it that found it.
    pub job: u32,
    /// The case number within the job.
    pub case: u64,
    /// The minimized input written (a corpus file).
    pub file: String,
    /// The original input, beside it.
    pub original: String,
    /// A command that replays the minimized input.
    pub replay: String,
    /// The SVG map of the minimized input, beside it (`.bin.svg`); `""` when none was drawn
    /// (a crash or hang found in isolated mode is not re-run in the campaign's process).
    pub svg: String,
}

/// The name of a finding's kind in the summary.
pub fn kind_name(kind: &FindingKind) -> &'static str {
    match kind {
        FindingKind::Oracle(_) => "oracle",
        FindingKind::Invariant(_) => "invariant",
        FindingKind::State(_) => "state",
        FindingKind::Setup(_) => "setup",
        FindingKind::Panic(_) => "panic",
        FindingKind::Crash(_) => "crash",
        FindingKind::Timeout { .. } => "timeout",
    }
}

/// What a run was, besides its [`CampaignReport`].
#[derive(Clone, Copy, Debug)]
pub struct RunInfo<'a> {
    /// The target's name.
    pub target: &'a str,
    /// Its op-language version.
    pub op_language_version: u16,
    /// The seed.
    pub seed: u64,
    /// The jobs.
    pub jobs: u32,
    /// `--isolate`.
    pub isolated: bool,
    /// `--bug`.
    pub bug: Option<&'a str>,
}

/// Where a finding went: the minimized finding, the files and the replay command.
#[derive(Clone, Debug)]
pub struct WrittenFinding {
    /// The finding after minimizing.
    pub finding: Finding,
    /// The minimized input's path.
    pub file: String,
    /// The original input's path.
    pub original: String,
    /// The replay command.
    pub replay: String,
    /// The SVG map of the minimized input written beside it (`""` when none was drawn).
    pub svg: String,
}

impl FuzzSummary {
    /// The summary of a campaign `report` of the run `info`, whose finding (if any) was
    /// written as `written`.
    pub fn new(info: RunInfo, report: &CampaignReport, written: Option<WrittenFinding>) -> Self {
        let share = |counts: &BTreeMap<String, u64>| {
            counts
                .iter()
                .map(|(name, &n)| {
                    let share = if report.cases == 0 {
                        0.0
                    } else {
                        (n as f64 / report.cases as f64).min(1.0)
                    };
                    (name.clone(), KindShare { cases: n, share })
                })
                .collect()
        };
        let findings = match (&report.finding, written) {
            (Some(found), Some(w)) => vec![FindingSummary {
                kind: kind_name(&w.finding.kind).into(),
                signature: w.finding.signature(),
                message: w.finding.to_string(),
                job: found.job,
                case: found.case,
                file: w.file,
                original: w.original,
                replay: w.replay,
                svg: w.svg,
            }],
            _ => Vec::new(),
        };
        FuzzSummary {
            schema_version: SCHEMA_VERSION,
            target: info.target.into(),
            op_language_version: info.op_language_version,
            engine: ENGINE_CAMPAIGN.into(),
            seed: info.seed,
            jobs: info.jobs,
            isolated: info.isolated,
            bug: info.bug.map(str::to_string),
            cases: report.cases,
            ops: report.ops,
            seconds: report.elapsed.as_secs_f64(),
            ops_per_sec: report.ops_per_sec(),
            op_kinds: share(&report.op_kinds),
            error_kinds: share(&report.error_kinds),
            findings,
        }
    }

    /// The summary as pretty-printed JSON, ending with a newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        text.push('\n');
        text
    }
}

/// The schema of a JSON value as a listing: a line `path: type` per field (objects'
/// fields sorted; `[]` for an array's items, `{name}` for a map's values, the first item
/// standing for all), types `string`, `integer`, `number`, `boolean`, `null`, `object`,
/// `array`. The golden listing of [`FuzzSummary`] is this of an example with every field
/// filled in.
pub fn schema_listing(value: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("", value, &mut out);
    out
}

/// The names of the fields whose values are maps from names (kinds) to values.
const MAP_FIELDS: [&str; 2] = ["op_kinds", "error_kinds"];

fn walk(path: &str, value: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    let ty = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if !path.is_empty() {
        out.push(format!("{path}: {ty}"));
    }
    match value {
        Value::Array(items) => {
            if let Some(first) = items.first() {
                walk(&format!("{path}[]"), first, out);
            }
        }
        Value::Object(fields) if MAP_FIELDS.iter().any(|f| path.ends_with(f)) => {
            if let Some((_, first)) = fields.iter().next() {
                walk(&format!("{path}{{name}}"), first, out);
            }
        }
        Value::Object(fields) => {
            let mut names: Vec<&String> = fields.keys().collect();
            names.sort();
            for name in names {
                let sep = if path.is_empty() { "" } else { "." };
                walk(&format!("{path}{sep}{name}"), &fields[name.as_str()], out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::campaign::FoundCase;
    use crate::harness::Mismatch;
    use crate::harness::{Claim, Finding};
    use std::time::Duration;

    /// A summary with every field filled in (a finding, a kind of each sort).
    fn example() -> FuzzSummary {
        let finding = Finding {
            target: "vmem",
            op_index: Some(3),
            op: "free #0".into(),
            kind: FindingKind::Oracle(Mismatch::new(
                "free arena",
                "0x1000 size 0x10",
                Claim::value(&Ok::<(), ()>(())),
                Claim::value(&Err::<(), _>(())),
            )),
        };
        let report = CampaignReport {
            cases: 10,
            ops: 400,
            op_kinds: BTreeMap::from([("Free".to_string(), 4)]),
            error_kinds: BTreeMap::from([("FreeError::BadFree".to_string(), 10)]),
            elapsed: Duration::from_millis(1500),
            finding: Some(FoundCase {
                job: 0,
                case: 9,
                input: vec![1, 2, 3],
                finding: finding.clone(),
                ops_before: 390,
                after: Duration::from_millis(1400),
            }),
        };
        let info = RunInfo {
            target: "vmem",
            op_language_version: 3,
            seed: 5,
            jobs: 1,
            isolated: false,
            bug: Some("zero-sentinel"),
        };
        FuzzSummary::new(
            info,
            &report,
            Some(WrittenFinding {
                finding,
                file: "findings/vmem/seed5-job0-case9.bin".into(),
                original: "findings/vmem/seed5-job0-case9.bin.orig".into(),
                replay: "kvafuzz replay findings/vmem/seed5-job0-case9.bin".into(),
                svg: "findings/vmem/seed5-job0-case9.bin.svg".into(),
            }),
        )
    }

    /// The field names and types are the golden listing's: a change to the schema shows
    /// here, and must come with docs/json.md (and, unless it only adds a field,
    /// SCHEMA_VERSION).
    #[test]
    fn the_schema_is_the_golden_one() {
        let value = serde_json::to_value(example()).unwrap();
        let listing = schema_listing(&value).join("\n") + "\n";
        let golden = include_str!("../../tests/golden/fuzz-json-schema.txt");
        assert_eq!(listing, golden, "the schema changed:\n{listing}");
        let doc = include_str!("../../docs/json.md");
        for line in listing.lines() {
            let field = line.split(':').next().unwrap_or(line);
            assert!(
                doc.contains(&format!("`{field}`")),
                "docs/json.md lacks {field}"
            );
        }
    }

    /// The summary reads back as itself; shares are counts over cases.
    #[test]
    fn the_summary_round_trips() {
        let s = example();
        let back: FuzzSummary = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(back, s);
        assert_eq!(s.op_kinds["Free"].share, 0.4);
        assert_eq!(s.error_kinds["FreeError::BadFree"].share, 1.0);
        assert_eq!(s.findings[0].kind, "oracle");
        assert!(s.findings[0].signature.starts_with("oracle: free arena"));
    }
}
