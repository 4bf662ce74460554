//! Fuzzing your own range allocator: a campaign and the minimizer on a third-party-style
//! allocator, with nothing but `kvafuzz` as a dependency.
//!
//! `Tiny` below stands for your allocator: a first-fit free list of half-open ranges, with a
//! bug of the kind such lists have (freeing a block between two free ranges merges it with
//! the one below only, so the list is no longer maximal). The adapter (`impl RangeAllocator`)
//! says what it offers in its [`Caps`]; [`fuzz_adapter`] runs a seeded campaign on it,
//! minimizes the first finding and traces it.
//!
//! ```text
//! cargo run --release --example fuzz_your_allocator              # 5 seconds, prints the bug
//! cargo run --release --example fuzz_your_allocator -- 10        # 10 seconds
//! cargo run --release --example fuzz_your_allocator -- --fixed   # the bug fixed: no finding
//! cargo run --release --example fuzz_your_allocator -- --isolate # cases in child processes
//! ```
//!
//! With `--isolate` every case runs in a child process (this very program started again,
//! which is why `main` calls [`serve_if_child`] first), so a crash or a hang is a finding too.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use kvafuzz::harness::adapter::{
    fuzz_adapter, serve_if_child, AdapterCampaign, AdapterTarget, AllocErrorKind, Caps,
    Constraints, FitPolicy, FreeErrorKind, Frees, Isolation, Level, Policies, PolicyClaim,
    RangeAllocator, Request, Shape, SpanErrorKind,
};

/// How long the campaign runs unless told.
const DEFAULT_SECONDS: u64 = 5;

/// The per-case limit of an isolated campaign.
const CASE_TIMEOUT: Duration = Duration::from_secs(10);

/// The allocator under test: spans, a sorted free list and the live allocations, all as
/// half-open `[start, end)` ranges in `u128` (so no end can wrap).
struct Tiny {
    /// Every size is rounded up to this.
    quantum: u128,
    /// The highest address that exists (the space's top), and the canonical hole if any.
    shape: Shape,
    /// Spans, by start.
    spans: Vec<(u128, u128)>,
    /// Free ranges, by start, each inside one span.
    free: Vec<(u128, u128)>,
    /// Live allocations: start to end.
    live: BTreeMap<u128, u128>,
    /// Whether the merge bug is there.
    buggy: bool,
}

impl Tiny {
    fn new(shape: &Shape, buggy: bool) -> Tiny {
        Tiny {
            quantum: u128::from(shape.quantum),
            shape: *shape,
            spans: Vec::new(),
            free: Vec::new(),
            live: BTreeMap::new(),
            buggy,
        }
    }

    fn span_of(&self, a: u128) -> Option<(u128, u128)> {
        self.spans.iter().copied().find(|&(s, e)| s <= a && a < e)
    }

    /// Puts `[start, end)` back on the free list, merging it with the free ranges it touches
    /// in the same span.
    fn give_back(&mut self, start: u128, end: u128) {
        let span = self.span_of(start);
        let i = self.free.partition_point(|&(s, _)| s < start);
        let joins_prev = i > 0 && self.free[i - 1].1 == start && self.span_of(start - 1) == span;
        let joins_next = i < self.free.len() && self.free[i].0 == end && self.span_of(end) == span;
        match (joins_prev, joins_next) {
            (true, true) if !self.buggy => {
                self.free[i - 1].1 = self.free[i].1;
                self.free.remove(i);
            }
            // The bug: touching both, it merges with the one below only.
            (true, _) => self.free[i - 1].1 = end,
            (false, true) => self.free[i].0 = start,
            (false, false) => self.free.insert(i, (start, end)),
        }
    }
}

impl RangeAllocator for Tiny {
    fn caps(&self) -> Caps {
        Caps {
            // A bare size, placed by first fit (complete and exact: the lowest placement).
            constraints: Constraints::NONE,
            policies: Policies {
                first_fit: Some(PolicyClaim::FULL),
                ..Policies::own(PolicyClaim::FULL)
            },
            // Checks every free, names every error in the oracle's terms and order.
            frees: Frees::CHECKED,
            typed_errors: true,
            ..Caps::NONE
        }
    }

    fn add_span(&mut self, _level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        let (start, end) = (u128::from(base), u128::from(base) + u128::from(size));
        if size == 0 {
            return Err(SpanErrorKind::ZeroSize);
        }
        if end - 1 > u128::from(u64::MAX) {
            return Err(SpanErrorKind::Wraps);
        }
        if end - 1 > u128::from(self.shape.arch.max_addr()) {
            return Err(SpanErrorKind::PastTop);
        }
        if self.shape.arch.check_range(base, size).is_err() {
            return Err(SpanErrorKind::NonCanonical);
        }
        if start % self.quantum != 0 || end % self.quantum != 0 {
            return Err(SpanErrorKind::Misaligned);
        }
        let below = self.spans.iter().filter(|&&(s, e)| s <= start && start < e);
        let above = self.spans.iter().filter(|&&(s, _)| start < s && s < end);
        if let Some(&(s, _)) = below.chain(above).next() {
            return Err(SpanErrorKind::Overlaps(s as u64));
        }
        let i = self.spans.partition_point(|&(s, _)| s < start);
        self.spans.insert(i, (start, end));
        let j = self.free.partition_point(|&(s, _)| s < start);
        self.free.insert(j, (start, end));
        Ok(())
    }

    fn alloc(
        &mut self,
        _level: Level,
        req: &Request,
        _policy: FitPolicy,
    ) -> Result<u64, AllocErrorKind> {
        if req.size == 0 {
            return Err(AllocErrorKind::ZeroSize);
        }
        let size = u128::from(req.size).div_ceil(self.quantum) * self.quantum;
        if size > u128::from(u64::MAX) {
            return Err(AllocErrorKind::SizeOverflow);
        }
        let i = self
            .free
            .iter()
            .position(|&(s, e)| e - s >= size)
            .ok_or(AllocErrorKind::NoSpace)?;
        let (start, end) = self.free[i];
        if end - start == size {
            self.free.remove(i);
        } else {
            self.free[i].0 = start + size;
        }
        self.live.insert(start, start + size);
        Ok(start as u64)
    }

    fn alloc_at(&mut self, _addr: u64, _size: u64) -> Result<u64, AllocErrorKind> {
        // Never asked: its caps claim no exact allocation.
        Err(AllocErrorKind::NoSpace)
    }

    fn free(&mut self, _level: Level, addr: u64, size: u64) -> Result<(), FreeErrorKind> {
        if size == 0 {
            return Err(FreeErrorKind::ZeroSize);
        }
        let start = u128::from(addr);
        let end = *self.live.get(&start).ok_or(FreeErrorKind::BadFree)?;
        if u128::from(size).div_ceil(self.quantum) * self.quantum != end - start {
            return Err(FreeErrorKind::WrongSize((end - start) as u64));
        }
        self.live.remove(&start);
        self.give_back(start, end);
        Ok(())
    }

    fn spans(&self, _level: Level) -> Vec<(u64, u64, bool)> {
        let last = |e: u128| (e - 1) as u64;
        self.spans
            .iter()
            .map(|&(s, e)| (s as u64, last(e), false))
            .collect()
    }

    fn allocated(&self, _level: Level) -> Vec<(u64, u64)> {
        self.live
            .iter()
            .map(|(&s, &e)| (s as u64, (e - 1) as u64))
            .collect()
    }

    fn check_invariants(&self) -> Result<(), (String, String)> {
        for w in self.free.windows(2) {
            if w[0].1 > w[1].0 {
                let detail = format!("{:#x?} and {:#x?}", w[0], w[1]);
                return Err(("free ranges are disjoint".into(), detail));
            }
        }
        Ok(())
    }

    fn contains(&self, _level: Level, addr: u64) -> Option<bool> {
        Some(self.span_of(u128::from(addr)).is_some())
    }
}

/// Builds the buggy allocator for a scenario (what the target calls per case).
fn buggy(shape: &Shape) -> Result<Tiny, String> {
    Ok(Tiny::new(shape, true))
}

/// Builds the fixed allocator.
fn fixed(shape: &Shape) -> Result<Tiny, String> {
    Ok(Tiny::new(shape, false))
}

/// The allocator as a target of its own, buggy and fixed.
static TINY: AdapterTarget<Tiny> = AdapterTarget::new("tiny", "a first-fit free list", buggy);
static TINY_FIXED: AdapterTarget<Tiny> =
    AdapterTarget::new("tiny-fixed", "a first-fit free list, fixed", fixed);

fn main() -> ExitCode {
    // An isolated campaign starts this program again as its child: serve it and exit.
    serve_if_child(&[&TINY, &TINY_FIXED]);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(DEFAULT_SECONDS);
    let target = if args.iter().any(|a| a == "--fixed") {
        &TINY_FIXED
    } else {
        &TINY
    };
    let isolation = if args.iter().any(|a| a == "--isolate") {
        match std::env::current_exe() {
            Ok(me) => Some(Isolation::new(me, Vec::new(), CASE_TIMEOUT)),
            Err(e) => {
                eprintln!("cannot find this program to start it again: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let report = fuzz_adapter(
        target,
        &AdapterCampaign {
            seed: 1,
            jobs: 1,
            time_limit: Some(Duration::from_secs(seconds)),
            max_cases: None,
            isolation,
            progress: true,
        },
    );
    println!("{} cases, {} ops", report.cases, report.ops);
    match report.minimized {
        Some((_, finding, trace)) => {
            println!("finding: {finding}\nminimized:\n{trace}");
            ExitCode::FAILURE
        }
        None => {
            println!("no finding");
            ExitCode::SUCCESS
        }
    }
}
