//! Kegs and zones (per-CPU magazines, packet zones, refcounts, limits) vs the slab oracle.
//! The whole body lives in `kvafuzz::harness`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kvafuzz::harness::fuzz_check(&kvafuzz::harness::slab::SlabTarget, data)
});
