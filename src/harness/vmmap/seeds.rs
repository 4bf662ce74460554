//! The hand-written seed scenarios of the corpus (`kvafuzz seeds`).

use super::scenario::{AddrBase, AddrSel, LenSel, Op, Scenario};
use crate::addr::Arch;
use crate::vmmap::{Strategy, MAX_ENTRIES};

/// Hand-written seed scenarios for the corpus: seed 000's edge cases (rounding that wraps at
/// the top of a 32-bit and a 64-bit space, an end past the map, an end that wraps,
/// non-power-of-2 alignments, address 0, an exact fit at the top), a fragmented map
/// probed with both strategies, and final maps for the segment-sharing check.
pub fn seed_scenarios() -> Vec<(&'static str, Scenario)> {
    let raw = AddrSel::Raw;
    let len = LenSel::Raw;
    let fs = |start: u64, length: u64, align: u64| Op::Differential {
        start: raw(start),
        length: len(length),
        align,
    };
    let fixed = |addr: u64, length: u64| Op::MapFixed {
        addr: raw(addr),
        length: len(length),
    };
    let scenario = |arch, min, max, strategy, ops| Scenario {
        arch,
        unit_shift: 12,
        min,
        max,
        strategy,
        max_entries: MAX_ENTRIES,
        ops,
    };
    const TOP32: u64 = 0xFFFF_FFFF;
    const UPPER48: u64 = 0xFFFF_8000_0000_0000;
    let wrap32 = scenario(
        Arch::Ia32,
        0,
        TOP32,
        Strategy::Linear,
        vec![
            fixed(0, 0xF000_0000),
            // Rounding 0xF000_0000 up to 2^31 or 2^32 passes the top of the space.
            fs(0, 1, 0x8000_0000),
            fs(0, 1, 1 << 32),
            fs(0, 0x1000, 0x1000_0000),
            // Exactly the free top 256 MiB; one byte more does not fit.
            fs(0, 0x1000_0000, 1),
            fs(0, 0x1000_0001, 1),
            fs(TOP32, 1, 1),
            Op::MapAnywhere {
                length: len(0x1000_0000),
                align: 0x1000,
            },
            fs(0, 1, 1),
            Op::UnmapEntry { handle: 1 },
        ],
    );
    let wrap64 = scenario(
        Arch::X86_64,
        UPPER48,
        u64::MAX,
        Strategy::Linear,
        vec![
            fixed(UPPER48, 0x7FFF_FFFF_F000),
            // Rounding past 2^64, with the huge alignments of ANCHORS #4 and #14.
            fs(0, 1, 1 << 63),
            fs(0, 1, (1 << 63) + 1),
            fs(0, 0x1000, u64::MAX),
            // Lengths whose end wraps; the exact fit ending at u64::MAX.
            fs(0, u64::MAX, 1),
            fs(u64::MAX, 2, 1),
            fs(0, 0x1000, 0x1000),
            fs(0, 0x1001, 1),
            Op::MapAnywhereFrom {
                start: raw(u64::MAX - 0xFFF),
                length: len(0x1000),
                align: 0x1000,
            },
            fs(0, 1, 1),
        ],
    );
    let end_past_map = scenario(
        Arch::Pae,
        0x1000,
        0x8FFF,
        Strategy::GapIndex,
        vec![
            fixed(0x1000, 0x1000),
            fixed(0x4000, 0x1000),
            fs(0, 0x2000, 1),
            fs(0, 0x4000, 1),
            fs(0, 0x4001, 1),
            fs(0x5000, 0x4000, 1),
            fs(0x9000, 1, 1),
            fixed(0x8000, 0x2000),
            // Whole first entry, half of the second: refused (entries are never split).
            Op::Unmap {
                addr: raw(0x1000),
                length: len(0x3800),
            },
            Op::Unmap {
                addr: raw(0x1000),
                length: len(0x5000),
            },
        ],
    );
    let non_pow2 = scenario(
        Arch::X86_64,
        0,
        0x7FFF_FFFF_FFFF,
        Strategy::Linear,
        vec![
            fixed(0, 0x1000),
            fs(0, 1, 3),
            fs(0, 0x1000, 12288),
            fs(0, 0x20_0000, 0x30_0000),
            fs(1, 1, 0x18_0000),
            fs(0, 0x1000, 1_000_000),
            Op::MapAnywhere {
                length: len(0x3000),
                align: 12288,
            },
            Op::MapAnywhere {
                length: len(0x1000),
                align: 0x30_0000,
            },
            fs(0, 1, 0x7FFF_FFFF_FFFF),
            fs(0, 1, 0x8000_0000_0000),
        ],
    );
    let zero = scenario(
        Arch::Ia32,
        0,
        0xFFFF,
        Strategy::GapIndex,
        vec![
            fs(0, 1, 1),
            fs(0, 0x1000, 0x8000),
            Op::MapAnywhere {
                length: len(0x1000),
                align: 0x1000,
            },
            fixed(0, 1),
            Op::UnmapEntry { handle: 0 },
            fixed(0, 1),
            fs(0, 0x10000, 1),
            fs(0, 0xF000, 0x1000),
        ],
    );
    let top_fit = scenario(
        Arch::X86_64La57,
        0xFF00_0000_0000_0000,
        u64::MAX,
        Strategy::GapIndex,
        vec![
            Op::MapFixed {
                addr: AddrSel::Rel {
                    base: AddrBase::MaxFit,
                    offset: 0,
                },
                length: len(0x20_0000),
            },
            fs(0, 0x20_0000, 0x20_0000),
            Op::UnmapEntry { handle: 0 },
            fs(u64::MAX - 0x1F_FFFF, 0x20_0000, 0x20_0000),
            fixed(0xFF00_0000_0000_0000, 0x00FF_FFFF_FFC0_0000),
            // Exactly the remaining gap, aligned: the fit the padded search misses.
            Op::Differential {
                start: raw(0),
                length: LenSel::Gap { index: 0, delta: 0 },
                align: 0x20_0000,
            },
            Op::MapAnywhere {
                length: LenSel::Gap { index: 0, delta: 0 },
                align: 0x40_0000,
            },
        ],
    );
    let mut frag = vec![];
    for k in 0..24u64 {
        frag.push(fixed(
            0x40_0000 * k + (k % 3) * 0x1000,
            0x10_0000 + k * 0x1000,
        ));
    }
    for align in [1, 0x1000, 12288, 0x20_0000, 0x40_0000, 0x30_0000] {
        frag.push(fs(0, 0x2F_0000, align));
        frag.push(Op::Findspace {
            start: AddrSel::Rel {
                base: AddrBase::GapStart(5),
                offset: 0,
            },
            length: LenSel::Gap { index: 7, delta: 0 },
            align,
        });
    }
    frag.push(Op::UnmapEntries { first: 3, count: 4 });
    frag.push(fs(0, 0x100_0000, 0x40_0000));
    let frag = scenario(Arch::Ia32, 0, 0x0FFF_FFFF, Strategy::Linear, frag);
    // Segment sharing at the end (module comment): whole segments starting and ending on
    // segment boundaries, each shared with its copy one segment up in the same space (the
    // boundary tests of `segment_sharing`); and two raw-input errors that need an entry in
    // the top segment of the 64-bit space: an object offset that wraps (an entry ending at
    // `u64::MAX`) and a copy that wraps (an entry ending a page below the top).
    let whole_segments = Scenario {
        unit_shift: 21,
        ..scenario(
            Arch::Pae,
            0,
            TOP32,
            Strategy::GapIndex,
            vec![
                fixed(0, 0x20_0000),
                fixed(0x80_0000, 0x20_0000),
                fixed(0x100_1000, 0xF_F000),
            ],
        )
    };
    let offset_wraps = scenario(
        Arch::X86_64,
        UPPER48,
        u64::MAX,
        Strategy::Linear,
        vec![fixed(u64::MAX - 0x1FFF, 0x2000)],
    );
    let copy_wraps = scenario(
        Arch::X86_64La57,
        0xFF00_0000_0000_0000,
        u64::MAX,
        Strategy::Linear,
        vec![
            fixed(0xFF00_0000_0000_0000, 0x20_0000),
            fixed(0u64.wrapping_sub(0x40_0000), 0x3F_F000),
        ],
    );
    vec![
        ("seed000-rounding-wraps-top-of-32-bit-space", wrap32),
        ("seed000-rounding-wraps-top-of-64-bit-space", wrap64),
        ("seed000-end-past-the-map", end_past_map),
        ("seed000-non-power-of-2-alignments", non_pow2),
        ("seed000-address-zero", zero),
        ("seed000-exact-fit-at-the-top", top_fit),
        ("fragmented-map-both-strategies", frag),
        (
            "segment-sharing-whole-segments-twice-in-one-space",
            whole_segments,
        ),
        (
            "segment-sharing-object-offset-wraps-at-the-top",
            offset_wraps,
        ),
        ("segment-sharing-copy-wraps-at-the-top", copy_wraps),
    ]
}
