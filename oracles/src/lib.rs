//! # kvafuzz-oracles: naive reference models
//!
//! Each model here is deliberately the most obvious program that could answer its question:
//! sorted lists of intervals, brute-force scans over every candidate, flat maps. They share
//! no code and no data structure with the `kvafuzz` allocators (this crate depends on nothing
//! in it): plain integers in, verdicts out. All arithmetic is done in `u128`, so a model can
//! never wrap where the implementation might.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod findspace;
pub mod kmem;
pub mod mmu;
pub mod sharing;
pub mod slab;
pub mod verdict;
pub mod vmap;
pub mod vmem;
