//! vmem arenas vs the interval oracle. The whole body lives in `kvafuzz::harness`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kvafuzz::harness::fuzz_check(&kvafuzz::harness::vmem::VmemTarget, data)
});
