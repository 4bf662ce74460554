//! vmalloc areas (walk, free-area cache and augmented tree side by side) vs the vmap oracle.
//! The whole body lives in `kvafuzz::harness`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kvafuzz::harness::fuzz_check(&kvafuzz::harness::vmap::VmapTarget, data)
});
