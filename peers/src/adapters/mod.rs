//! One adapter per crate, each in its own file; [`glue`] is what they share.

pub mod buddy;
pub mod glue;
pub mod linked_list;
pub mod offset_alloc;
pub mod range_alloc;
pub mod talc;
pub mod vmem_arena;
