//! One capability at a time.
//!
//! `Quirky` is a lone vmem arena that breaks vmem's contract in one way (`Quirk`). Each test
//! runs it twice: claiming the capability it lacks (the harness must catch it), and declaring
//! the limitation (the harness must not report it).

use super::*;

/// The one way a [`Quirky`] arena departs from vmem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Quirk {
    /// None: vmem as it is.
    Plain,
    /// Honours alignment and nothing else of a request's constraints.
    AlignOnly,
    /// Honours no constraint at all, alignment included.
    NoConstraints,
    /// Places every request by best fit, whatever policy it is asked for.
    AlwaysBestFit,
    /// Refuses a request unless a free segment of its size rounded up to a power of two
    /// exists (illumos instant fit's documented limit), times `factor`.
    PowerOfTwoRuns {
        /// 1: exactly the documented limit; more: refuses more than it documents.
        factor: u128,
    },
    /// Its free ignores the size it is given (frees the allocation there, whatever its size).
    FreeIgnoresSize,
    /// Its free ignores the size and frees only the allocation's first quantum (keeps the
    /// rest allocated).
    FreesOneQuantum,
    /// Panics on a free where no allocation starts.
    PanicsOnBadFree,
    /// Accepts power-of-two alignments below the quantum (as the quantum).
    SmallAligns,
    /// Panics on a size that is not a multiple of the quantum (it documents them invalid).
    WholeQuantaOnly,
    /// Lists touching allocations as one run.
    MergedListing,
    /// Reports its total and bytes in use only (and the rest as zeros); `in_use` one byte
    /// too many if `wrong`.
    SomeCounts {
        /// Misreport `in_use`.
        wrong: bool,
    },
}

/// A lone vmem arena with a [`Quirk`], claiming `caps`.
pub(crate) struct Quirky {
    arena: Arena,
    caps: Caps,
    quirk: Quirk,
}

impl Quirky {
    pub(crate) fn build(shape: &Shape, caps: Caps, quirk: Quirk) -> Result<Quirky, String> {
        let arena: Arena =
            Arena::new("quirky", shape.quantum, Some(shape.arch)).map_err(|e| e.to_string())?;
        Ok(Quirky {
            arena,
            caps: Caps { levels: 1, ..caps },
            quirk,
        })
    }

    /// The allocation starting at `addr`, as `(start, last)`.
    fn allocation_at(&self, addr: u64) -> Option<(u64, u64)> {
        allocations_of(self.arena.segments())
            .into_iter()
            .find(|&(s, _)| s == addr)
    }
}

impl RangeAllocator for Quirky {
    fn caps(&self) -> Caps {
        self.caps
    }

    fn add_span(&mut self, _level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        self.arena.add_span(base, size).map_err(span_error_kind)
    }

    fn alloc(
        &mut self,
        _level: Level,
        req: &Request,
        policy: FitPolicy,
    ) -> Result<u64, AllocErrorKind> {
        let mut req = *req;
        let mut policy = match policy {
            FitPolicy::Vmem(p) => p,
            FitPolicy::Own => Policy::InstantFit,
        };
        let q = u128::from(self.arena.quantum());
        match self.quirk {
            Quirk::AlignOnly => {
                req = Request {
                    align: req.align,
                    ..Request::size(req.size)
                }
            }
            Quirk::NoConstraints => req = Request::size(req.size),
            Quirk::AlwaysBestFit => policy = Policy::BestFit,
            Quirk::WholeQuantaOnly => {
                assert!(
                    u128::from(req.size) % q == 0,
                    "size {:#x} is not a multiple of the quantum",
                    req.size
                );
            }
            Quirk::SmallAligns if req.align.is_power_of_two() && u128::from(req.align) < q => {
                req.align = 0;
            }
            _ => {}
        }
        let largest = self.arena.stats().largest_free;
        let got = self.arena.xalloc(&req, policy).map_err(alloc_error_kind)?;
        if let Quirk::PowerOfTwoRuns { factor } = self.quirk {
            // Served only if a free segment of the rounded size existed: else given back.
            let need = u128::from(req.size).div_ceil(q) * q;
            if u128::from(largest) < need.next_power_of_two() * factor {
                self.arena
                    .free(got, req.size)
                    .expect("frees what it just allocated");
                return Err(AllocErrorKind::NoSpace);
            }
        }
        Ok(got)
    }

    fn alloc_at(&mut self, addr: u64, size: u64) -> Result<u64, AllocErrorKind> {
        self.arena.xalloc_at(addr, size).map_err(alloc_error_kind)
    }

    fn free(&mut self, _level: Level, addr: u64, size: u64) -> Result<(), FreeErrorKind> {
        let held = self.allocation_at(addr);
        match (self.quirk, held) {
            (Quirk::PanicsOnBadFree, None) => panic!("free of {addr:#x}: nothing allocated there"),
            (Quirk::FreeIgnoresSize | Quirk::FreesOneQuantum, None) => Err(FreeErrorKind::BadFree),
            (Quirk::FreeIgnoresSize, Some((s, l))) => {
                self.arena.free(s, l - s + 1).map_err(free_error_kind)
            }
            (Quirk::FreesOneQuantum, Some((s, l))) => {
                self.arena.free(s, l - s + 1).map_err(free_error_kind)?;
                let q = self.arena.quantum();
                if l - s + 1 > q {
                    self.arena
                        .xalloc_at(s + q, l - s + 1 - q)
                        .expect("the range was just freed");
                }
                Ok(())
            }
            _ => self.arena.free(addr, size).map_err(free_error_kind),
        }
    }

    fn spans(&self, _level: Level) -> Vec<(u64, u64, bool)> {
        spans_of(self.arena.segments())
    }

    fn allocated(&self, _level: Level) -> Vec<(u64, u64)> {
        let runs = allocations_of(self.arena.segments());
        if self.quirk != Quirk::MergedListing {
            return runs;
        }
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (s, l) in runs {
            match merged.last_mut() {
                Some(last) if last.1.checked_add(1) == Some(s) => last.1 = l,
                _ => merged.push((s, l)),
            }
        }
        merged
    }

    fn check_invariants(&self) -> Result<(), (String, String)> {
        self.arena
            .check_invariants()
            .map_err(|e| (e.invariant.to_string(), e.detail))
    }

    fn counts(&self, _level: Level) -> Option<Counts> {
        let c = counts_of(&self.arena.stats());
        match self.quirk {
            Quirk::SomeCounts { wrong } => Some(Counts {
                total: c.total,
                in_use: c.in_use + u128::from(wrong),
                ..Counts::default()
            }),
            _ => Some(c),
        }
    }
}

/// Runs every input on a [`Quirky`] arena claiming `caps`.
fn run_quirky(caps: Caps, quirk: Quirk) -> Result<(u64, u64), Box<(usize, Finding)>> {
    run_all_stats(|s| Quirky::build(s, caps, quirk))
}

/// It passes every input, with `min_ok` ops or more succeeding.
fn passes(caps: Caps, quirk: Quirk, min_ok: u64) {
    let (ops, ok) =
        run_quirky(caps, quirk).unwrap_or_else(|e| panic!("{quirk:?}: input {}: {}", e.0, e.1));
    assert!(ops > 10 * GENERATED, "{quirk:?}: only {ops} ops ran");
    assert!(ok >= min_ok, "{quirk:?}: only {ok} of {ops} ops succeeded");
}

/// It is caught, with an oracle finding whose actual claim is `kind` (or a state finding
/// about `kind`, or a panic if `kind` is "panic").
fn caught(caps: Caps, quirk: Quirk, kind: &str) {
    let (i, f) = *run_quirky(caps, quirk).expect_err("the harness must catch it");
    let what = match &f.kind {
        FindingKind::Oracle(m) => m.actual.kind.clone(),
        FindingKind::State(d) => d.what.clone(),
        FindingKind::Panic(_) => "panic".into(),
        other => format!("{other:?}"),
    };
    assert_eq!(what, kind, "{quirk:?}: input {i}: {f}");
}

/// Vmem's caps on one level, every count reported.
pub(crate) const VMEM: Caps = ALL;

#[test]
fn one_capability_per_constraint() {
    use kvafuzz::harness::adapter::Constraints;
    let align_only = Caps {
        constraints: Constraints::ALIGN,
        ..VMEM
    };
    passes(align_only, Quirk::AlignOnly, 1000);
    // Found where the alignment it does not check was invalid (or not kept).
    caught(align_only, Quirk::NoConstraints, "Ok");
    caught(VMEM, Quirk::AlignOnly, "below minaddr");
}

#[test]
fn a_policy_it_lacks_is_never_requested() {
    let best_fit_only = Caps {
        policies: Policies {
            instant_fit: None,
            best_fit: Some(PolicyClaim::FULL),
            first_fit: None,
            next_fit: None,
            own: None,
        },
        ..VMEM
    };
    passes(best_fit_only, Quirk::AlwaysBestFit, 1000);
    caught(VMEM, Quirk::AlwaysBestFit, "another placement");
}

/// All four policies claiming `claim`.
pub(crate) fn every_policy(claim: PolicyClaim) -> Policies {
    Policies {
        instant_fit: Some(claim),
        best_fit: Some(claim),
        first_fit: Some(claim),
        next_fit: Some(claim),
        own: None,
    }
}

#[test]
fn partial_completeness_is_held_to_what_it_documents() {
    // Its refusals move the NextFit rotor behind the model's back: no policy contract.
    let documented = Caps {
        constraints: kvafuzz::harness::adapter::Constraints::NONE,
        policies: every_policy(PolicyClaim::complete_as(Completeness::PowerOfTwoRun)),
        ..VMEM
    };
    let full = Caps {
        policies: every_policy(PolicyClaim::complete_as(Completeness::Full)),
        ..documented
    };
    passes(documented, Quirk::PowerOfTwoRuns { factor: 1 }, 1000);
    caught(full, Quirk::PowerOfTwoRuns { factor: 1 }, "Err(NoSpace)");
    caught(
        documented,
        Quirk::PowerOfTwoRuns { factor: 4 },
        "Err(NoSpace)",
    );
}

#[test]
fn a_free_that_takes_no_size_is_held_to_the_size_it_frees() {
    use kvafuzz::harness::adapter::Frees;
    let sizeless = Caps {
        frees: Frees {
            takes_size: false,
            ..Frees::CHECKED
        },
        ..VMEM
    };
    passes(sizeless, Quirk::FreeIgnoresSize, 1000);
    caught(sizeless, Quirk::FreesOneQuantum, "frees another size");
}

#[test]
fn bad_addresses_and_wrong_sizes_are_separate_capabilities() {
    use kvafuzz::harness::adapter::{Frees, OnViolation};
    let unchecked_size = Caps {
        frees: Frees {
            wrong_size: OnViolation::NotFed,
            ..Frees::CHECKED
        },
        ..VMEM
    };
    passes(unchecked_size, Quirk::FreeIgnoresSize, 1000);
    caught(VMEM, Quirk::FreeIgnoresSize, "Ok");
}

#[test]
fn a_documented_panic_ends_the_case_and_any_other_is_a_finding() {
    use kvafuzz::harness::adapter::{Frees, OnViolation};
    let panicking = Caps {
        frees: Frees {
            bad_address: OnViolation::Panics,
            double_free: OnViolation::Panics,
            ..Frees::CHECKED
        },
        ..VMEM
    };
    passes(panicking, Quirk::PanicsOnBadFree, 1000);
    caught(VMEM, Quirk::PanicsOnBadFree, "panic");
}

#[test]
fn the_request_domain_is_the_adapters() {
    use kvafuzz::harness::adapter::{AlignRule, Domain};
    let small_aligns = Caps {
        domain: Domain {
            align: AlignRule::PowerOfTwo,
            ..Domain::VMEM
        },
        ..VMEM
    };
    passes(small_aligns, Quirk::SmallAligns, 1000);
    caught(VMEM, Quirk::SmallAligns, "Ok");
    let whole_quanta = Caps {
        domain: Domain {
            unaligned_sizes: false,
            ..Domain::VMEM
        },
        invalid_requests: kvafuzz::harness::adapter::OnViolation::NotFed,
        ..VMEM
    };
    passes(whole_quanta, Quirk::WholeQuantaOnly, 1000);
    caught(VMEM, Quirk::WholeQuantaOnly, "panic");
    // Documented to panic on them: fed, and the panic ends the case as documented.
    let panics_on_them = Caps {
        invalid_requests: kvafuzz::harness::adapter::OnViolation::Panics,
        ..whole_quanta
    };
    passes(panics_on_them, Quirk::WholeQuantaOnly, 1000);
    // Overconstrained requests: vmem refuses some that have a placement; one that looks
    // for a placement instead (here: the production arena answering "no space" where vmem
    // says overconstrained) is held to the placement, so claiming it is caught.
    let looks_for_placements = Caps {
        domain: Domain {
            refuses_overconstrained: false,
            ..Domain::VMEM
        },
        ..VMEM
    };
    caught(looks_for_placements, Quirk::Plain, "Overconstrained");
}

#[test]
fn counts_are_compared_field_by_field() {
    use kvafuzz::harness::adapter::CountFields;
    let some = Caps {
        counts: CountFields {
            total: true,
            in_use: true,
            ..CountFields::NONE
        },
        ..VMEM
    };
    passes(some, Quirk::SomeCounts { wrong: false }, 1000);
    caught(some, Quirk::SomeCounts { wrong: true }, "arena counts");
    caught(VMEM, Quirk::SomeCounts { wrong: false }, "arena counts");
}

#[test]
fn merged_listings_are_compared_with_merged_runs() {
    let merging = Caps {
        merges_allocations: true,
        ..VMEM
    };
    passes(merging, Quirk::MergedListing, 1000);
    caught(VMEM, Quirk::MergedListing, "arena allocations");
}

/// The production stack built for a shape whose levels import exactly the request (import
/// quantum = quantum), claiming `imports`.
struct ExactImporter {
    stack: VmemStack,
    imports: Imports,
}

impl ExactImporter {
    fn build(shape: &Shape, imports: Imports) -> Result<ExactImporter, String> {
        let mut exact = *shape;
        for l in &mut exact.levels {
            l.import_quantum = l.quantum;
        }
        Ok(ExactImporter {
            stack: VmemStack::new(&exact, BugSet::NONE)?,
            imports,
        })
    }
}

impl RangeAllocator for ExactImporter {
    fn caps(&self) -> Caps {
        Caps {
            imports: self.imports,
            ..self.stack.caps()
        }
    }
    forward!(
        stack: add_span,
        alloc,
        alloc_size,
        alloc_at,
        free,
        spans,
        allocated,
        check_invariants,
        contains,
        counts,
    );
}

#[test]
fn the_import_rule_is_the_adapters() {
    let (ops, _) = run_all_stats(|s| ExactImporter::build(s, Imports::Exact))
        .unwrap_or_else(|e| panic!("input {}: {}", e.0, e.1));
    assert!(ops > 10 * GENERATED, "only {ops} ops ran");
    let (i, f) = *run_all(|s| ExactImporter::build(s, Imports::ShapeQuantum))
        .expect_err("it does not round its imports up");
    match &f.kind {
        FindingKind::Oracle(m) => assert_eq!(m.actual.kind, "a bad import", "input {i}: {f}"),
        other => panic!("input {i}: not an oracle finding: {other:?}"),
    }
    run_all(|s| ExactImporter::build(s, Imports::AtLeast))
        .unwrap_or_else(|e| panic!("input {}: {}", e.0, e.1));
}

/// A [`Quirky`] arena listing merged runs while claiming it does not.
fn merging_but_claiming_not(shape: &Shape) -> Result<Quirky, String> {
    Quirky::build(shape, VMEM, Quirk::MergedListing)
}

/// The same, claiming it.
fn merging_and_claiming_it(shape: &Shape) -> Result<Quirky, String> {
    let caps = Caps {
        merges_allocations: true,
        ..VMEM
    };
    Quirky::build(shape, caps, Quirk::MergedListing)
}

static MERGING_WRONGLY: AdapterTarget<Quirky> = AdapterTarget::new(
    "merging-wrongly",
    "lists merged runs, claims not to",
    merging_but_claiming_not,
);
static MERGING_RIGHTLY: AdapterTarget<Quirky> = AdapterTarget::new(
    "merging-rightly",
    "lists merged runs, says so",
    merging_and_claiming_it,
);

/// A campaign of `max_cases` cases at seed 1, in process.
fn campaign(max_cases: u64) -> AdapterCampaign {
    AdapterCampaign {
        seed: 1,
        jobs: 1,
        time_limit: None,
        max_cases: Some(max_cases),
        isolation: None,
        progress: false,
    }
}

/// A user's adapter gets a campaign and the minimizer as a library call: the finding comes
/// back minimized (same signature, named after the user's target) with its trace.
#[test]
fn a_users_adapter_gets_a_campaign_and_the_minimizer() {
    let report = fuzz_adapter(&MERGING_WRONGLY, &campaign(2000));
    let found = report.found.expect("the campaign finds the merged listing");
    let (bytes, finding, trace) = report.minimized.expect("and minimizes it");
    assert_eq!(finding.target, "merging-wrongly");
    assert_eq!(finding.signature(), found.finding.signature());
    assert!(bytes.len() <= found.input.len());
    assert!(
        matches!(&finding.kind, FindingKind::State(d) if d.what == "arena allocations"),
        "{finding}"
    );
    assert!(trace.contains("#0 add_span"), "{trace}");
    let ops = trace.lines().filter(|l| l.starts_with("  #")).count();
    assert!(ops <= 8, "{ops} ops after minimizing:\n{trace}");
    let clean = fuzz_adapter(&MERGING_RIGHTLY, &campaign(500));
    assert!(
        clean.found.is_none(),
        "{:?}",
        clean.found.map(|f| f.finding)
    );
    assert_eq!(clean.cases, 500);
}
