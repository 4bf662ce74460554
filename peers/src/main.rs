//! `kvafuzz-peers`: campaigns on the published crates' adapters, and replays.
//!
//! ```text
//! kvafuzz-peers campaign [SECONDS] [ADAPTER...]   # isolated, SECONDS per adapter (60)
//! kvafuzz-peers replay ADAPTER FILE               # finding and trace of one input (in a child)
//! kvafuzz-peers list                              # the adapters
//! ```
//!
//! A campaign writes `findings/<adapter>/<n>.{bin,sig,txt}` and `summary.txt` beside this
//! crate's manifest (the folder is emptied first). Its children are this program again,
//! which is why `main` serves them first.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use kvafuzz::harness::isolate::{run_isolated, serve_if_child, Isolation};
use kvafuzz_peers::campaign::{campaign, describe, masked_registry, CASE_TIMEOUT};
use kvafuzz_peers::{target, TARGETS};

/// Seconds per adapter unless told.
const DEFAULT_SECONDS: u64 = 60;

/// The usage line.
const USAGE: &str =
    "usage: kvafuzz-peers campaign [SECONDS] [ADAPTER...] | replay ADAPTER FILE | list";

fn main() -> ExitCode {
    serve_if_child(&masked_registry(TARGETS));
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("campaign") => run_campaigns(&args[1..]),
        Some("replay") if args.len() == 3 => replay(&args[1], &args[2]),
        Some("list") => {
            for t in TARGETS {
                println!("{:22} {}", t.name(), t.about());
            }
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// `campaign [SECONDS] [ADAPTER...]`.
fn run_campaigns(args: &[String]) -> ExitCode {
    let (seconds, names) = match args.first().map(|a| a.parse::<u64>()) {
        Some(Ok(s)) => (s, &args[1..]),
        _ => (DEFAULT_SECONDS, args),
    };
    let mut chosen = Vec::new();
    for n in names {
        match target(n) {
            Some(t) => chosen.push(t),
            None => {
                eprintln!("no adapter named {n}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    if chosen.is_empty() {
        chosen = TARGETS.to_vec();
    }
    let me = match std::env::current_exe() {
        Ok(me) => me,
        Err(e) => {
            eprintln!("cannot find this program to start it again: {e}");
            return ExitCode::FAILURE;
        }
    };
    let isolation = Isolation::new(me, Vec::new(), CASE_TIMEOUT);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("findings");
    for t in chosen {
        let out = root.join(t.name());
        let _ = std::fs::remove_dir_all(&out);
        match campaign(t, Duration::from_secs(seconds), &isolation, &out) {
            Ok(s) => print!("{}", kvafuzz_peers::campaign::summary_text(&s)),
            Err(e) => {
                eprintln!("{}: {e}", out.display());
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

/// `replay ADAPTER FILE`: exit 1 if it fails.
fn replay(name: &str, file: &str) -> ExitCode {
    let Some(t) = target(name) else {
        eprintln!("no adapter named {name}\n{USAGE}");
        return ExitCode::from(2);
    };
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{file}: {e}");
            return ExitCode::from(2);
        }
    };
    // In a child: a crash or a hang of the crate is reported, not suffered.
    let me = match std::env::current_exe() {
        Ok(me) => me,
        Err(e) => {
            eprintln!("cannot find this program to start it again: {e}");
            return ExitCode::FAILURE;
        }
    };
    let isolation = Isolation::new(me, Vec::new(), CASE_TIMEOUT);
    match run_isolated(t, &bytes, kvafuzz::harness::BugSet::NONE, &isolation) {
        Ok(stats) => {
            // It passed in the child, so it runs here too.
            let (text, _) = kvafuzz::harness::trace(t, &bytes, kvafuzz::harness::BugSet::NONE);
            print!("{text}");
            println!("passes ({} ops)", stats.ops);
            ExitCode::SUCCESS
        }
        Err(f) => {
            print!("{}", describe(t, &bytes, &f));
            ExitCode::FAILURE
        }
    }
}
