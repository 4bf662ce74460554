//! Span growth and constructor parameters (op language version 3).

use super::capabilities::{every_policy, Quirk, Quirky, VMEM};
use super::*;

/// A vmem arena that can grow a span: the tail is added as a span of the arena, and the
/// adapter lists the grown span whole. `short`: it adds a quantum less than asked (a bug).
struct Growing {
    arena: Arena,
    /// The spans as the caller knows them: start to end (exclusive, u128).
    spans: BTreeMap<u64, u128>,
    short: bool,
}

impl Growing {
    fn build(shape: &Shape, short: bool) -> Result<Growing, String> {
        let arena: Arena =
            Arena::new("growing", shape.quantum, Some(shape.arch)).map_err(|e| e.to_string())?;
        Ok(Growing {
            arena,
            spans: BTreeMap::new(),
            short,
        })
    }
}

impl RangeAllocator for Growing {
    fn caps(&self) -> Caps {
        // A placement straddling a grown span's old end is never made (the tail is a span
        // of its own in the arena): no completeness, no policy contract.
        Caps {
            levels: 1,
            grows: true,
            exact_complete: false,
            counts: kvafuzz::harness::adapter::CountFields::NONE,
            policies: every_policy(PolicyClaim::VALID),
            ..Caps::ALL
        }
    }
    fn add_span(&mut self, _level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        // An overlap names the span the caller knows (a grown span's tail is the arena's).
        let known = |s: u64| self.spans.range(..=s).next_back().map_or(s, |(&k, _)| k);
        self.arena
            .add_span(base, size)
            .map_err(|e| match span_error_kind(e) {
                SpanErrorKind::Overlaps(s) => SpanErrorKind::Overlaps(known(s)),
                other => other,
            })?;
        self.spans.insert(base, u128::from(base) + u128::from(size));
        Ok(())
    }
    fn grow_span(&mut self, _level: Level, start: u64, by: u64) -> Result<(), GrowErrorKind> {
        let end = *self.spans.get(&start).ok_or(GrowErrorKind::NoSpan)?;
        let end64 = u64::try_from(end).map_err(|_| GrowErrorKind::Tail(SpanErrorKind::Wraps))?;
        let q = self.arena.quantum();
        let added = if self.short && by > q { by - q } else { by };
        self.arena
            .add_span(end64, added)
            .map_err(|e| GrowErrorKind::Tail(span_error_kind(e)))?;
        self.spans.insert(start, end + u128::from(by));
        Ok(())
    }
    fn alloc(
        &mut self,
        _level: Level,
        req: &Request,
        policy: FitPolicy,
    ) -> Result<u64, AllocErrorKind> {
        let policy = match policy {
            FitPolicy::Vmem(p) => p,
            FitPolicy::Own => Policy::InstantFit,
        };
        self.arena.xalloc(req, policy).map_err(alloc_error_kind)
    }
    fn alloc_at(&mut self, addr: u64, size: u64) -> Result<u64, AllocErrorKind> {
        self.arena.xalloc_at(addr, size).map_err(alloc_error_kind)
    }
    fn free(&mut self, _level: Level, addr: u64, size: u64) -> Result<(), FreeErrorKind> {
        self.arena.free(addr, size).map_err(free_error_kind)
    }
    fn spans(&self, _level: Level) -> Vec<(u64, u64, bool)> {
        self.spans
            .iter()
            .map(|(&s, &e)| (s, (e - 1) as u64, false))
            .collect()
    }
    fn allocated(&self, _level: Level) -> Vec<(u64, u64)> {
        allocations_of(self.arena.segments())
    }
    fn check_invariants(&self) -> Result<(), (String, String)> {
        self.arena
            .check_invariants()
            .map_err(|e| (e.invariant.to_string(), e.detail))
    }
    fn contains(&self, _level: Level, addr: u64) -> Option<bool> {
        Some(self.arena.contains(addr))
    }
}

#[test]
fn growing_a_span_is_judged() {
    let (ops, ok) = run_all_stats(|s| Growing::build(s, false))
        .unwrap_or_else(|e| panic!("input {}: {}", e.0, e.1));
    assert!(
        ops > 10 * GENERATED && ok > ops / 10,
        "{ok} of {ops} ops succeeded"
    );
    let (i, f) = *run_all(|s| Growing::build(s, true)).expect_err("it grows short");
    assert!(f.op.starts_with("grow_span"), "input {i}: {f}");
    assert!(
        matches!(&f.kind, FindingKind::State(d) if d.what == "arena contains"),
        "input {i}: {f}"
    );
}

/// How many allocations a [`Limited`] arena holds at most: a constructor parameter.
const MAX_LIVE: Param = Param {
    name: "max_live",
    index: 0,
    min: 1,
    max: 8,
};

/// A vmem arena holding at most [`MAX_LIVE`] allocations (a crate with a fixed node count),
/// claiming completeness `bounded` by it or not.
struct Limited {
    inner: Quirky,
    max_live: u64,
    bounded: bool,
}

impl Limited {
    fn build(shape: &Shape, bounded: bool) -> Result<Limited, String> {
        Ok(Limited {
            inner: Quirky::build(shape, VMEM, Quirk::SomeCounts { wrong: false })?,
            max_live: shape.param(&MAX_LIVE),
            bounded,
        })
    }
}

impl RangeAllocator for Limited {
    fn caps(&self) -> Caps {
        let claim = PolicyClaim {
            completeness: Completeness::Full,
            // Giving an allocation back moves vmem's NextFit rotor: no policy contract.
            exact: false,
            max_live: self.bounded.then_some(self.max_live),
        };
        Caps {
            policies: every_policy(claim),
            exact: false,
            counts: kvafuzz::harness::adapter::CountFields::NONE,
            ..VMEM
        }
    }
    fn alloc(
        &mut self,
        level: Level,
        req: &Request,
        policy: FitPolicy,
    ) -> Result<u64, AllocErrorKind> {
        let live = self.inner.allocated(level).len() as u64;
        match self.inner.alloc(level, req, policy) {
            Ok(a) if live >= self.max_live => {
                self.inner.free(level, a, req.size).expect("just allocated");
                Err(AllocErrorKind::NoSpace)
            }
            other => other,
        }
    }
    forward!(inner: add_span, alloc_at, free, spans, allocated, check_invariants);
}

/// The generator draws constructor parameters, and a claim bounded by one holds only within
/// it.
#[test]
fn constructor_parameters_are_drawn_and_bound_claims() {
    let mut seen = std::collections::BTreeSet::new();
    for k in 0..300 {
        let _ = run_range_allocator(&generate(SEED, 2, k), |s: &Shape| {
            seen.insert(s.param(&MAX_LIVE));
            Limited::build(s, true)
        });
    }
    assert_eq!(seen.len(), 8, "{seen:?}");
    run_all(|s| Limited::build(s, true)).unwrap_or_else(|e| panic!("input {}: {}", e.0, e.1));
    let (i, f) = *run_all(|s| Limited::build(s, false)).expect_err("refuses past max_live");
    assert!(matches!(&f.kind, FindingKind::Oracle(_)), "input {i}: {f}");
}

/// A vmem arena whose free trusts its caller the way range-alloc's `free_range` does: a free
/// inside a live allocation (not at its start) is undefined and silently does nothing, and
/// only a free of nothing live (a double free) panics, by documented design.
struct TrustsInteriorFrees {
    arena: Arena,
}

impl RangeAllocator for TrustsInteriorFrees {
    fn caps(&self) -> Caps {
        Caps {
            frees: kvafuzz::harness::adapter::Frees {
                bad_address: kvafuzz::harness::adapter::OnViolation::NotFed,
                double_free: kvafuzz::harness::adapter::OnViolation::Panics,
                wrong_size: kvafuzz::harness::adapter::OnViolation::NotFed,
                takes_size: true,
            },
            ..Caps::NONE
        }
    }
    fn add_span(&mut self, _level: Level, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        self.arena.add_span(base, size).map_err(span_error_kind)
    }
    fn alloc(&mut self, _: Level, req: &Request, _: FitPolicy) -> Result<u64, AllocErrorKind> {
        self.arena
            .xalloc(req, Policy::FirstFit)
            .map_err(alloc_error_kind)
    }
    fn alloc_at(&mut self, _addr: u64, _size: u64) -> Result<u64, AllocErrorKind> {
        unreachable!("no exact allocation")
    }
    fn free(&mut self, _level: Level, addr: u64, size: u64) -> Result<(), FreeErrorKind> {
        let live = allocations_of(self.arena.segments());
        if live.iter().any(|&(s, _)| s == addr) {
            return self.arena.free(addr, size).map_err(free_error_kind);
        }
        assert!(
            live.iter().any(|&(s, l)| s < addr && addr <= l),
            "double free"
        );
        Ok(())
    }
    fn spans(&self, _level: Level) -> Vec<(u64, u64, bool)> {
        spans_of(self.arena.segments())
    }
    fn allocated(&self, _level: Level) -> Vec<(u64, u64)> {
        allocations_of(self.arena.segments())
    }
    fn check_invariants(&self) -> Result<(), (String, String)> {
        Ok(())
    }
}

/// Regression (found on range-alloc, issue 18): a free at an address freed before, which a
/// later allocation now covers, is an interior address of that allocation (a bad address,
/// never fed to an allocator that does not check them), not a double free (which this one
/// panics on by design). The harness used to feed it as a double free and report the
/// silent answer.
#[test]
fn a_freed_address_inside_a_later_allocation_is_not_a_double_free() {
    use kvafuzz::harness::vmem::{AddrSel, Op, Scenario, NO_PARAMS};
    use kvafuzz::harness::Case;
    let alloc = |size| Op::AllocSize {
        size,
        policy: Policy::FirstFit,
    };
    let free_freed = |index| Op::FreeAt {
        level: Level::ARENA,
        addr: AddrSel::Freed { index },
        size: 0x1000,
    };
    let scenario = Scenario {
        params: NO_PARAMS,
        arch: Arch::X86_64,
        quantum_shift: 12,
        imports: Vec::new(),
        ops: vec![
            Op::AddSpan {
                level: Level::ARENA,
                base: 0x10000,
                size: 0x10000,
            },
            alloc(0x1000),
            alloc(0x1000),
            // Frees 0x11000, then 0x10000; then 0x10000..0x14000 covers both.
            Op::Free { handle: 1 },
            Op::Free { handle: 0 },
            alloc(0x4000),
            free_freed(0),
            free_freed(1),
        ],
    };
    let make = |s: &Shape| {
        Arena::new("trusting", s.quantum, Some(s.arch))
            .map(|arena| TrustsInteriorFrees { arena })
            .map_err(|e| e.to_string())
    };
    let stats = run_range_allocator(&scenario.encode(), make).unwrap_or_else(|f| panic!("{f}"));
    // Both frees at freed addresses are skipped: 0x11000 is inside the live 0x10000..0x14000
    // (a bad address), 0x10000 is its start with a wrong size; neither is a double free.
    assert_eq!(stats.ops, 6, "{stats:?}");
}
