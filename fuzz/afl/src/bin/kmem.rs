//! AFL++ binary for the `kmem` target: same entry point, same corpus as cargo-fuzz.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        kvafuzz::harness::fuzz_check(&kvafuzz::harness::kmem::KmemTarget, data)
    });
}
