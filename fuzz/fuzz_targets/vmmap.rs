//! vm_map aligned findspace (both strategies) vs the findspace oracle. The whole body lives in
//! `kvafuzz::harness`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kvafuzz::harness::fuzz_check(&kvafuzz::harness::vmmap::VmmapTarget, data)
});
