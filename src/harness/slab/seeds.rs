//! Hand-written seed scenarios: mbuma's mbuf, cluster and packet zones (seed 003), slabs at
//! address 0 and at the tops of the 32- and 64-bit spaces, magazine exchanges across CPUs
//! with a double free still in a magazine, every named limit from both sides, and a few of
//! Linux's slab caches (benches/workloads/linux-slabinfo.tsv).

use super::scenario::{AddrSel, Backend, CpuSel, KegSpec, Op, Scenario, SpanAt, ZoneSel, ZoneSpec};
use crate::slab::{MAX_DEPOT, MAX_ITEM_SIZE, MAX_ROUNDS};

fn keg(item_size: u64, align: u64, refcounts: bool) -> KegSpec {
    KegSpec {
        item_size,
        align,
        refcounts,
    }
}

fn zone(keg: u8, rounds: u16, depot: u16, limit: u64) -> ZoneSpec {
    ZoneSpec {
        keg,
        secondary: None,
        rounds,
        depot,
        limit,
    }
}

fn packet(primary: u8, secondary: u8, rounds: u16, depot: u16) -> ZoneSpec {
    ZoneSpec {
        secondary: Some(secondary),
        ..zone(primary, rounds, depot, 0)
    }
}

fn alloc(z: u8, c: u8) -> Op {
    Op::Alloc {
        zone: ZoneSel::Index(z),
        cpu: CpuSel::Index(c),
    }
}

fn burst(z: u8, c: u8, count: u8) -> Op {
    Op::AllocBurst {
        zone: ZoneSel::Index(z),
        cpu: CpuSel::Index(c),
        count,
    }
}

fn free_newest(z: u8, c: u8, count: u8) -> Op {
    Op::FreeBurst {
        zone: ZoneSel::Index(z),
        cpu: CpuSel::Index(c),
        count,
    }
}

fn free(z: u8, c: u8, handle: u16) -> Op {
    Op::Free {
        zone: ZoneSel::Index(z),
        cpu: CpuSel::Index(c),
        handle,
    }
}

fn free_at(z: u8, c: u8, addr: AddrSel) -> Op {
    Op::FreeAt {
        zone: ZoneSel::Index(z),
        cpu: CpuSel::Index(c),
        addr,
    }
}

fn scenario(
    cpus: u8,
    at: SpanAt,
    pages: u32,
    kegs: Vec<KegSpec>,
    zones: Vec<ZoneSpec>,
    ops: Vec<Op>,
) -> Scenario {
    Scenario {
        cpus,
        backend: Backend { at, pages },
        kegs,
        zones,
        ops,
    }
}

/// The seeds, named for their corpus files.
pub fn seed_scenarios() -> Vec<(&'static str, Scenario)> {
    let mut out = Vec::new();

    // mbuma (seed 003): an mbuf keg and a cluster keg with refcounts; the mbuf zone, the
    // cluster zone capped at 48 clusters (nmbclusters), and the secondary packet zone of
    // mbuf+cluster pairs. Packets are freed back to the packet zone, never to the kegs
    // below; a pair's halves freed to the primary zones are another zone's items; the cap
    // is lowered below the live count (nothing freed, allocations refused), then lifted.
    let ops = vec![
        burst(2, 0, 24),
        burst(0, 1, 6),
        burst(1, 1, 40),
        Op::SetRefcount {
            addr: AddrSel::PairHalf { handle: 3 },
            value: 2,
        },
        Op::Refcount {
            addr: AddrSel::PairHalf { handle: 3 },
        },
        free_at(0, 0, AddrSel::Live { handle: 0 }),
        free_at(1, 0, AddrSel::PairHalf { handle: 1 }),
        free_newest(2, 0, 12),
        alloc(2, 1),
        free_at(2, 1, AddrSel::Freed { index: 0 }),
        Op::SetLimit {
            zone: ZoneSel::Index(1),
            limit: 8,
        },
        alloc(1, 0),
        free_newest(1, 1, 36),
        alloc(1, 0),
        Op::SetLimit {
            zone: ZoneSel::Index(1),
            limit: 0,
        },
        burst(1, 0, 20),
        Op::Refcount {
            addr: AddrSel::PairHalf { handle: 3 },
        },
        Op::Reclaim,
        free_newest(2, 1, 40),
        free_newest(0, 0, 40),
        free_newest(1, 0, 40),
        Op::Reclaim,
        burst(2, 1, 4),
    ];
    out.push((
        "mbuma-mbuf-cluster-packet",
        scenario(
            2,
            SpanAt::Low,
            4096,
            vec![keg(256, 8, false), keg(2048, 8, true)],
            vec![zone(0, 8, 2, 0), zone(1, 8, 2, 48), packet(0, 1, 8, 2)],
            ops,
        ),
    ));

    // Address 0 is an ordinary item: the first slab sits at 0, its first item is handed
    // out, freed into a magazine, handed out again from it, and survives a reclaim.
    let ops = vec![
        alloc(0, 0),
        free(0, 0, 0),
        alloc(0, 0),
        Op::SetRefcount {
            addr: AddrSel::Live { handle: 0 },
            value: 7,
        },
        Op::Reclaim,
        Op::Refcount {
            addr: AddrSel::Raw(0),
        },
        free_at(0, 0, AddrSel::Raw(0)),
        free_at(0, 0, AddrSel::Raw(0)),
        Op::Reclaim,
        alloc(0, 0),
    ];
    out.push((
        "slab-at-address-zero",
        scenario(
            1,
            SpanAt::Zero,
            64,
            vec![keg(64, 8, true)],
            vec![zone(0, 2, 1, 0)],
            ops,
        ),
    ));

    // Kegs at the top of the 32-bit space: the slabs are filled until the backend runs out
    // (NoSpace), then frees, reclaim, and the space used again.
    let ops = vec![
        burst(0, 0, 255),
        burst(1, 1, 255),
        burst(0, 0, 255),
        free_at(1, 0, AddrSel::SlabEnd { slab: 0, back: 0 }),
        free_at(0, 0, AddrSel::SlabEnd { slab: 1, back: 0 }),
        free_at(0, 0, AddrSel::SlabEnd { slab: 2, back: 39 }),
        free_at(0, 0, AddrSel::SlabEnd { slab: 3, back: 55 }),
        free_at(0, 0, AddrSel::SlabEnd { slab: 90, back: 0 }),
        free_newest(0, 0, 100),
        free_newest(1, 1, 30),
        Op::Reclaim,
        burst(1, 0, 40),
    ];
    out.push((
        "top-of-32-bit-space",
        scenario(
            2,
            SpanAt::Top32,
            96,
            vec![keg(100, 8, false), keg(2048, 8, true)],
            vec![zone(0, 4, 2, 0), zone(1, 2, 1, 0)],
            ops,
        ),
    ));

    // At the very top of the 64-bit space a slab's `base + size` is 0: the last slab, its
    // last item and its header end at u64::MAX.
    let ops = vec![
        burst(0, 0, 200),
        burst(1, 0, 3),
        free_at(0, 0, AddrSel::SlabEnd { slab: 1, back: 0 }),
        Op::Refcount {
            addr: AddrSel::SlabEnd { slab: 2, back: 100 },
        },
        free_at(1, 0, AddrSel::Raw(u64::MAX)),
        free_at(0, 0, AddrSel::SlabEnd { slab: 3, back: 0 }),
        free_at(0, 0, AddrSel::SlabEnd { slab: 4, back: 0 }),
        free_at(0, 0, AddrSel::SlabEnd { slab: 5, back: 0 }),
        free_newest(0, 0, 200),
        free_newest(1, 0, 3),
        Op::Reclaim,
        burst(1, 0, 4),
    ];
    out.push((
        "top-of-64-bit-space",
        scenario(
            1,
            SpanAt::Top64,
            64,
            vec![keg(40, 8, true), keg(MAX_ITEM_SIZE, 4096, false)],
            vec![zone(0, 0, 0, 0), zone(1, 1, 0, 0)],
            ops,
        ),
    ));

    // Bonwick's exchanges across CPUs: CPU 0 frees enough to push full magazines into the
    // depot; CPUs 1 and 2 take them; a double free while the first free is still in a
    // magazine, and one in the depot, are refused; reclaim drains everything.
    let ops = vec![
        burst(0, 0, 40),
        free_newest(0, 0, 20),
        free_at(0, 3, AddrSel::Cached { index: 0 }),
        free_at(0, 3, AddrSel::Cached { index: 9 }),
        burst(0, 1, 6),
        burst(0, 2, 6),
        free_at(0, 1, AddrSel::Freed { index: 2 }),
        free_newest(0, 2, 20),
        free_at(
            0,
            0,
            AddrSel::Interior {
                handle: 1,
                offset: 8,
            },
        ),
        Op::Reclaim,
        burst(0, 3, 10),
    ];
    out.push((
        "magazine-exchange-across-cpus",
        scenario(
            4,
            SpanAt::Low,
            256,
            vec![keg(64, 8, false)],
            vec![zone(0, 4, 2, 0)],
            ops,
        ),
    ));

    // Every named limit from both sides: item sizes MAX_ITEM_SIZE and one more, alignments
    // 4096 and 8192, rounds MAX_ROUNDS and one more, depot MAX_DEPOT and one more; a zone on
    // a keg that does not exist; a zone and a CPU that do not exist.
    let ops = vec![
        burst(0, 0, 255),
        free_newest(0, 0, 255),
        burst(0, 1, 255),
        Op::Alloc {
            zone: ZoneSel::Raw(250),
            cpu: CpuSel::Index(0),
        },
        Op::Alloc {
            zone: ZoneSel::Index(0),
            cpu: CpuSel::Raw(250),
        },
        alloc(1, 0),
        Op::Reclaim,
    ];
    out.push((
        "named-limits-both-sides",
        scenario(
            2,
            SpanAt::Low,
            2048,
            vec![
                keg(8, 8, false),
                keg(MAX_ITEM_SIZE, 4096, false),
                keg(MAX_ITEM_SIZE + 1, 8, false),
                keg(64, 8192, false),
            ],
            vec![
                zone(0, MAX_ROUNDS, MAX_DEPOT, 0),
                zone(1, 0, 0, 1),
                zone(0, MAX_ROUNDS + 1, 0, 0),
                zone(0, 1, MAX_DEPOT + 1, 0),
                zone(2, 1, 0, 0),
            ],
            ops,
        ),
    ));

    // A few of Linux's slab caches (object sizes from linux-slabinfo.tsv: kmalloc-192,
    // vm_area_struct at 184, task_struct-like 3072 and kvm_vcpu's 51472), on several CPUs.
    let ops = vec![
        burst(0, 0, 100),
        burst(1, 1, 100),
        burst(2, 2, 30),
        burst(3, 3, 3),
        free_newest(0, 1, 50),
        free_newest(1, 0, 50),
        free_newest(2, 3, 30),
        Op::Reclaim,
        burst(0, 2, 100),
    ];
    out.push((
        "linux-slab-caches",
        scenario(
            4,
            SpanAt::Low,
            8192,
            vec![
                keg(192, 8, false),
                keg(184, 8, false),
                keg(3072, 8, false),
                keg(51472, 8, false),
            ],
            vec![
                zone(0, 8, 4, 0),
                zone(1, 16, 2, 0),
                zone(2, 2, 1, 0),
                zone(3, 1, 0, 0),
            ],
            ops,
        ),
    ));
    out
}
