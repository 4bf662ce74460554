//! Unit tests of the MMU model.

use super::*;

#[test]
fn smoke() {
    let mut pt = PageTable::new(Arch::X86_64, 64).unwrap();
    pt.map(0x1000, 0x5000, 0x1000, PageFlags::WRITABLE, PAGE_SIZE).unwrap();
    assert_eq!(pt.translate(0x1234).unwrap().pa, 0x5234);
    pt.check_invariants().unwrap();
}
