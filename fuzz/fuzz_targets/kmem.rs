//! NetBSD's kmem over vmem quantum caches and size classes vs the kmem oracle.
//! The whole body lives in `kvafuzz::harness`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kvafuzz::harness::fuzz_check(&kvafuzz::harness::kmem::KmemTarget, data)
});
