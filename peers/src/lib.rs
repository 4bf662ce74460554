//! # kvafuzz-peers: the vmem harness on published allocator crates
//!
//! Each module of [`adapters`] wraps one crate, pinned to an exact version in this crate's
//! `Cargo.toml`, in kvafuzz's [`RangeAllocator`](kvafuzz::harness::adapter::RangeAllocator)
//! contract. An adapter's `Caps` claim exactly what the crate documents, each claim with a
//! comment citing the documentation it rests on, so that what the harness reports is a
//! contract violation of the crate and not of the glue.
//!
//! [`TARGETS`] lists them. [`campaign`] runs them in isolated mode (each case in a child
//! process: a crate's abort, stack overflow or endless loop is a finding) until the time is
//! up, masking each finding once found so that later rounds find other ones, and writes one
//! minimized trace per distinct finding (by signature). [`trophies`] reads the judged
//! findings kept under `trophies/`, which `tests/trophies.rs` replays against the pinned
//! crates. `docs/TROPHIES.md` (at the workspace root) lists them with their verdicts.
//!
//! The core `kvafuzz` crate does not depend on this one nor on any of the crates.

pub mod adapters;
pub mod campaign;
pub mod trophies;

use kvafuzz::harness::AnyTarget;

/// Every adapter, by name.
pub static TARGETS: &[&dyn AnyTarget] = &[
    &adapters::vmem_arena::TARGET,
    &adapters::range_alloc::TARGET,
    &adapters::offset_alloc::TARGET_U32,
    &adapters::offset_alloc::TARGET_U16,
    &adapters::buddy::TARGET,
    &adapters::linked_list::TARGET,
    &adapters::talc::TARGET,
];

/// The adapter named `name`.
pub fn target(name: &str) -> Option<&'static dyn AnyTarget> {
    TARGETS.iter().copied().find(|t| t.name() == name)
}
