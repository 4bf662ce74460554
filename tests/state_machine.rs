//! proptest state machine: the oracle (`kvafuzz_oracles::vmem::ArenaModel`) is the
//! `ReferenceStateMachine`, the production [`Arena`] the system under test. Only the policies
//! whose answer is fully defined (best, first, next fit) are used, so the reference predicts
//! every result exactly; after each transition the arena's allocations must equal the
//! model's. Failures persist in `proptest-regressions/` (committed).

use kvafuzz::addr::Arch;
use kvafuzz::harness::adapter::{alloc_error_kind, free_error_kind, span_error_kind};
use kvafuzz::vmem::{Arena, Policy, Request, SegmentView};
use kvafuzz_oracles::vmem::{
    AllocErrorKind, ArenaModel, FreeErrorKind, Policy as OPolicy, Request as ORequest, Space,
    SpanErrorKind,
};
use proptest::prelude::*;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};

/// Quantum of the arena under test.
const Q: u64 = 16;

#[derive(Clone, Debug)]
enum Transition {
    AddSpan { base: u64, size: u64 },
    Alloc { req: Request, policy: Policy },
    Free { index: usize, wrong_size: bool },
}

#[derive(Clone, Debug, PartialEq)]
enum Expected {
    None,
    Span(Result<(), SpanErrorKind>),
    Alloc(Result<u64, AllocErrorKind>),
    Free(Result<(), FreeErrorKind>),
}

#[derive(Clone, Debug)]
struct RefState {
    model: ArenaModel,
    /// Live allocations (address, requested size), in allocation order.
    live: Vec<(u64, u64)>,
    /// What the last transition must return.
    expected: Expected,
}

fn opolicy(p: Policy) -> OPolicy {
    match p {
        Policy::InstantFit => OPolicy::InstantFit,
        Policy::BestFit => OPolicy::BestFit,
        Policy::FirstFit => OPolicy::FirstFit,
        Policy::NextFit => OPolicy::NextFit,
    }
}

fn free_args(state: &RefState, index: usize, wrong_size: bool) -> (u64, u64) {
    match state.live.get(index) {
        Some(&(a, s)) => (a, if wrong_size { s + Q } else { s }),
        None => (0x1234_5670, Q),
    }
}

struct ArenaReference;

impl ReferenceStateMachine for ArenaReference {
    type State = RefState;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<RefState> {
        let space = Space {
            top: Arch::Ia32.max_addr(),
            canonical_bits: None,
        };
        Just(RefState {
            model: ArenaModel::new(Q, space),
            live: Vec::new(),
            expected: Expected::None,
        })
        .boxed()
    }

    fn transitions(state: &RefState) -> BoxedStrategy<Transition> {
        let span = prop_oneof![
            (0u64..64, 1u64..64).prop_map(|(b, s)| Transition::AddSpan {
                base: b * 256,
                size: s * Q
            }),
            (1u64..64).prop_map(|s| Transition::AddSpan {
                base: 0x1_0000_0000 - s * Q,
                size: s * Q
            }),
        ];
        let alloc = (
            1u64..200,
            0u32..8,
            0u64..8,
            prop_oneof![Just(0u64), Just(256), Just(4096)],
            prop_oneof![
                Just(Policy::BestFit),
                Just(Policy::FirstFit),
                Just(Policy::NextFit)
            ],
        )
            .prop_map(|(size, align_shift, phase_q, nocross, policy)| {
                let align = Q << align_shift;
                Transition::Alloc {
                    req: Request {
                        align,
                        phase: (phase_q * Q) % align,
                        nocross,
                        ..Request::size(size)
                    },
                    policy,
                }
            });
        let n = state.live.len().max(1);
        let free = (0..n, proptest::bool::weighted(0.1))
            .prop_map(|(index, wrong_size)| Transition::Free { index, wrong_size });
        prop_oneof![1 => span, 3 => alloc, 2 => free].boxed()
    }

    fn apply(mut state: RefState, t: &Transition) -> RefState {
        state.expected = match *t {
            Transition::AddSpan { base, size } => {
                let r = state.model.predict_add_span(base, size);
                if r.is_ok() {
                    state.model.add_span(base, size);
                }
                Expected::Span(r)
            }
            Transition::Alloc { req, policy } => {
                let oreq = ORequest {
                    size: req.size,
                    align: req.align,
                    phase: req.phase,
                    nocross: req.nocross,
                    minaddr: req.minaddr,
                    maxaddr: req.maxaddr,
                };
                let r = state.model.predict_alloc(&oreq, opolicy(policy));
                state
                    .model
                    .judge_alloc(&oreq, opolicy(policy), &[], r)
                    .expect("the model agrees with itself");
                if let Ok(a) = r {
                    state.live.push((a, req.size));
                }
                Expected::Alloc(r)
            }
            Transition::Free { index, wrong_size } => {
                let (a, s) = free_args(&state, index, wrong_size);
                let r = state.model.predict_free(a, s);
                if r.is_ok() {
                    state.model.free(a);
                    state.live.remove(index);
                }
                Expected::Free(r)
            }
        };
        state
    }
}

struct ArenaUnderTest;

impl StateMachineTest for ArenaUnderTest {
    type SystemUnderTest = (Arena, Vec<(u64, u64)>);
    type Reference = ArenaReference;

    fn init_test(_: &RefState) -> Self::SystemUnderTest {
        (Arena::new("test", Q, Some(Arch::Ia32)).unwrap(), Vec::new())
    }

    fn apply(
        (mut arena, mut live): Self::SystemUnderTest,
        after: &RefState,
        t: Transition,
    ) -> Self::SystemUnderTest {
        let got = match t {
            Transition::AddSpan { base, size } => {
                Expected::Span(arena.add_span(base, size).map_err(span_error_kind))
            }
            Transition::Alloc { req, policy } => {
                let r = arena.xalloc(&req, policy).map_err(alloc_error_kind);
                if let Ok(a) = r {
                    live.push((a, req.size));
                }
                Expected::Alloc(r)
            }
            Transition::Free { index, wrong_size } => {
                let (a, s) = match live.get(index) {
                    Some(&(a, s)) => (a, if wrong_size { s + Q } else { s }),
                    None => (0x1234_5670, Q),
                };
                let r = arena.free(a, s).map_err(free_error_kind);
                if r.is_ok() {
                    live.remove(index);
                }
                Expected::Free(r)
            }
        };
        assert_eq!(got, after.expected);
        (arena, live)
    }

    fn check_invariants((arena, _): &Self::SystemUnderTest, reference: &RefState) {
        arena.check_invariants().unwrap();
        let allocated: Vec<(u64, u64)> = arena
            .segments()
            .filter_map(|v| match v {
                SegmentView::Allocated(r) => Some((r.start(), r.last())),
                _ => None,
            })
            .collect();
        assert_eq!(allocated, reference.model.live());
        let st = arena.stats();
        assert_eq!(st.total, reference.model.total());
        assert_eq!(st.in_use, reference.model.in_use());
        assert_eq!(st.free + st.in_use, st.total);
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
        )),
        .. ProptestConfig::default()
    })]
    #[test]
    fn arena_agrees_with_the_oracle(sequential 1..80 => ArenaUnderTest);
}
