//! The simulated x86 MMU vs the flat page model. The whole body lives in `kvafuzz::harness`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kvafuzz::harness::fuzz_check(&kvafuzz::harness::mmu::MmuTarget, data)
});
