//! # kvafuzz
//!
//! Two things in one crate:
//!
//! 1. **Kernel virtual-address allocators** (`no_std` + `alloc`, safe Rust): [`vmem`] arenas
//!    with constrained allocation, import and release, on the [`addr`] model of IA-32, PAE and
//!    x86_64 (4- and 5-level) address spaces, UMA-style [`slab`] kegs and zones with
//!    per-CPU magazines on top of them (also as vmem's quantum caches,
//!    [`vmem::CachedArena`]), and NetBSD's [`kmem`] front end over both, with size checks,
//!    redzones and guard pages on a simulated memory.
//! 2. **A differential fuzzing harness** ([`harness`], behind the default `std` feature) that
//!    drives those allocators, and any allocator implementing its adapter trait, against the
//!    naive reference models of the `kvafuzz-oracles` crate, checking every invariant after
//!    every operation. The same `run(target, bytes)` entry point serves the built-in seeded
//!    campaign (`kvafuzz fuzz`), cargo-fuzz, AFL, the corpus replay in `cargo test` and the
//!    proptest state machines.
//!
//! Bad input never panics: every public operation returns a typed error, one enum per
//! operation, every variant documented.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod addr;
pub mod kmem;
pub mod mmu;
pub mod slab;
pub mod vmap;
pub mod vmem;
pub mod vmmap;

#[cfg(feature = "seeded-bugs")]
pub mod bugs;

#[cfg(feature = "std")]
pub mod harness;

#[cfg(any(test, feature = "std"))]
mod xorshift;
