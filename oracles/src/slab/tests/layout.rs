//! The layout rule on hand-computed cases, the header formula, layout errors in order, and
//! every layout's consistency.

use super::*;

#[test]
fn layout_hand_computed_cases() {
    // 64-byte items: 64 fit a page exactly; on-slab would hold 63 (waste 64) against
    // off-slab's 40-byte header: off-slab, 40 * 16 <= 4096.
    let l = lay(64, 8, false);
    assert_eq!(
        l,
        Layout {
            item_size: 64,
            align: 8,
            stride: 64,
            slab_size: 4096,
            items: 64,
            header: HeaderKind::OffSlab,
            header_bytes: 40,
            waste: 0,
        }
    );
    // 100-byte items, stride 104: 39 * 104 = 4056, and the 40-byte header fills the rest.
    let l = lay(100, 4, false);
    assert_eq!((l.stride, l.slab_size, l.items), (104, 4096, 39));
    assert_eq!(
        (l.header, l.header_bytes, l.waste),
        (HeaderKind::OnSlab, 40, 40)
    );
    assert_eq!(l.header_offset(), 4056);
    // 200-byte items: 20 items (4000 bytes), tail waste [4000, 4056), header [4056, 4096).
    let l = lay(200, 8, false);
    assert_eq!(
        (l.slab_size, l.items, l.header, l.header_bytes),
        (4096, 20, HeaderKind::OnSlab, 40)
    );
    assert_eq!(l.waste, 96);
    // Refcounts, 64-byte items: the header (4 bytes an item) never fits in a tail, and off
    // the slab it wastes about 6.4% at every size, above 1/16: the smallest share wins, the
    // largest slab (2048 items, a 32 + 256 + 8192-byte header).
    let l = lay(64, 8, true);
    assert_eq!(
        (l.slab_size, l.items, l.header),
        (131072, 2048, HeaderKind::OffSlab)
    );
    assert_eq!((l.header_bytes, l.waste), (8480, 0));
    // Refcounts, 1000-byte items: four fill 4000 bytes, the 56-byte header fits in the tail.
    let l = lay(1000, 8, true);
    assert_eq!(
        (l.slab_size, l.items, l.header, l.header_bytes, l.waste),
        (4096, 4, HeaderKind::OnSlab, 56, 96)
    );
    // 65536-byte items: one per 64 KiB slab, header off-slab (no room on it).
    let l = lay(65536, 8, false);
    assert_eq!((l.stride, l.slab_size, l.items), (65536, 65536, 1));
    assert_eq!(
        (l.header, l.header_bytes, l.waste),
        (HeaderKind::OffSlab, 40, 0)
    );
    // Align 4096: stride 4096, one item per page, off-slab.
    let l = lay(100, 4096, false);
    assert_eq!((l.stride, l.slab_size, l.items), (4096, 4096, 1));
    assert_eq!(
        (l.header, l.header_bytes, l.waste),
        (HeaderKind::OffSlab, 40, 0)
    );
    // Align below MIN_ITEM_ALIGN rounds to 8.
    assert_eq!(lay(1, 1, false).stride, 8);
    // 40000-byte items: no size wastes <= 1/16 (64 KiB: 25536 on-slab; 128 KiB: 3 items,
    // 11072 on-slab against 11112 off), so the smallest share wins: 128 KiB.
    let l = lay(40000, 8, false);
    assert_eq!(
        (l.slab_size, l.items, l.header),
        (131072, 3, HeaderKind::OnSlab)
    );
    assert_eq!((l.header_bytes, l.waste), (40, 11072));
}

#[test]
fn header_bytes_formula() {
    assert_eq!(header_bytes(0, false), 32);
    assert_eq!(header_bytes(1, false), 40);
    assert_eq!(header_bytes(64, false), 40);
    assert_eq!(header_bytes(65, false), 48);
    assert_eq!(header_bytes(1, true), 48); // 32 + 8 + 4 = 44 -> 48
    assert_eq!(header_bytes(240, true), 1024);
}

#[test]
fn layout_errors_in_order() {
    use KegErrorKind::*;
    assert_eq!(layout(0, 3, false), Err(ZeroSize));
    assert_eq!(layout(0, 8, true), Err(ZeroSize));
    assert_eq!(layout(MAX_ITEM_SIZE + 1, 0, false), Err(TooBig));
    assert_eq!(layout(u64::MAX, 8, false), Err(TooBig));
    assert_eq!(layout(8, 0, false), Err(BadAlign));
    assert_eq!(layout(8, 3, false), Err(BadAlign));
    assert_eq!(layout(8, 8192, false), Err(BadAlign));
    assert_eq!(layout(8, u64::MAX, false), Err(BadAlign));
    assert!(layout(MAX_ITEM_SIZE, MAX_ITEM_ALIGN, true).is_ok());
}

#[test]
fn every_layout_is_consistent() {
    for align in [1, 8, 16, 64, 512, 4096] {
        for size in (1..=MAX_ITEM_SIZE)
            .step_by(997)
            .chain([4096, 4097, 65535, 65536])
        {
            for rc in [false, true] {
                let l = lay(size, align, rc);
                assert!(l.slab_size.is_power_of_two() && l.slab_size >= P);
                assert!(l.slab_size <= MAX_SLAB_SIZE && l.items >= 1);
                assert_eq!(l.stride % align.max(MIN_ITEM_ALIGN), 0);
                assert!(l.stride >= size && l.stride - size < align.max(MIN_ITEM_ALIGN));
                assert_eq!(l.header_bytes, header_bytes(l.items, rc));
                assert_eq!(l.waste, l.slab_size - l.items * l.stride);
                if l.header == HeaderKind::OnSlab {
                    assert!(l.items * l.stride + l.header_bytes <= l.slab_size);
                } else {
                    assert_eq!(l.items, l.slab_size / l.stride);
                }
            }
        }
    }
}
