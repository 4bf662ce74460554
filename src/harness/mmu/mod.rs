//! The `mmu` target: scenarios of address-space, mapping, translation, access and TLB
//! operations on the simulated x86 MMU ([`crate::mmu::Mmu`]) in all four paging modes,
//! judged by `kvafuzz_oracles::mmu::MmuModel` after every op.
//!
//! ## 1. Decoding
//!
//! Header: the mode, the frame pool (tight pools of a few frames per level so that
//! `OutOfFrames` happens, roomy ones, or a raw count), the CPU count, the TLB size (down to one
//! entry, so eviction is constant) and a swarm mask that switches whole op kinds off. Then ops
//! until the bytes run out or [`super::MAX_OPS`]. Every numeric field is read through a
//! *selector*: a tag byte picks a family of interesting values and the last tag of each
//! selector means "raw value follows", which is what [`Scenario::encode`] writes, so
//! `decode(encode(case)) == case`.
//!
//! - **Virtual addresses** ([`Va`]): address 0, the top of the space, both edges of the
//!   canonical hole (and addresses inside it), the kernel base, segment-aligned and
//!   large-page-aligned addresses and misaligned ones, each in a small window so that ops
//!   collide; raw values; or a *recent* address (one the scenario mapped, unmapped or accessed
//!   lately, aligned down to a chosen page size, plus an offset), resolved when the op runs.
//! - **Address spaces** ([`SpaceSel`]): a live one by handle (modulo the live count; handle 0
//!   is the kernel space), or a raw ASID (dead, never created, or the kernel's).
//! - **Page sizes**: the mode's own sizes mostly, sometimes another mode's or a raw value.
//! - **Lengths, physical addresses, flags**: multiples of the page size, misaligned and
//!   overflowing values, the physical top; flags are a raw byte whose two high bits (undefined
//!   in `PageFlags`) ask the executor to *fit* the flags to the half (drop USER in the kernel
//!   half, GLOBAL in the user half, NX on IA-32) so that most maps can succeed.
//! - **Version 2** adds two op kinds at the end: the *limit map* (a map at the named limits
//!   from both sides, written back as a plain map with raw fields) and *resize* (a mapping
//!   collapsed into larger pages or split into smaller ones at the same physical addresses,
//!   as khugepaged and page splits do), and a limit tag to each header field (`MAX_FRAMES`,
//!   `MAX_CPUS`, `MAX_TLB_ENTRIES` from both sides, and 0). Version 1 bytes are read as
//!   they always were ([`MmuTarget`]'s `decode_version`).
//!
//! ## 2. Flushes: applied or held, never dropped
//!
//! Every op that returns a [`Flush`] (unmap, protect, unmap_shared_segment, destroy_space)
//! carries a [`FlushMode`] decided by the input: `Apply` shoots the token down on every CPU at
//! once; `Hold` keeps it in a list until a later [`Op::ApplyHeldFlushes`] (or the end of the
//! scenario, which applies whatever is still held: the harness never drops a flush). Every
//! token is first compared with the oracle's [`o::FlushPrediction`] (destroy's with the whole
//! space of that ASID).
//!
//! While tokens are held, the TLBs may legitimately hold stale entries. The oracle models
//! every CPU's TLB (`kvafuzz_oracles::mmu`, module `tlb`: what each CPU cached, from which
//! walk, in which order, and what every flush, INVLPG and eviction dropped), so it knows at
//! every op exactly which entries are stale (another physical address, page size or cache
//! attribute, or more rights than the current translation, or nothing mapped). An access
//! must answer exactly what the oracle predicts: the current translation on a fresh hit or
//! a walk, the fault, or [`crate::mmu::AccessError::Stale`] with the very entry and current
//! translation the oracle names; and `check_tlb_coherent()` must report exactly the
//! oracle's first stale entry (none: pass), held flushes or not. After every explicit TLB
//! operation the CPU's TLB must hold exactly the oracle's entries.
//!
//! ## 3. Checks after every op
//!
//! The oracle's verdict on the result; `check_invariants()`; `check_tlb_coherent()` when no
//! flush is held; then the state: the live address spaces, the table pages in use and the
//! free frames against the model's count, the private-table equivalent after every
//! successful change, and the translation of every *watched* address (the last
//! [`MAX_WATCHED`] addresses the scenario touched) in every live space, with every entry on
//! its walk at every level bit for bit (P, RW, US, PWT, PCD, A, D, PS, G, NX and the
//! physical address: the oracle's `walk_prediction`; a pointer's address is the frame of
//! its table, which the oracle names instead, so one table must have one address and two
//! tables two). Whether an access walked, which sets A and D, is the oracle's TLB model's
//! answer.
//!
//! Each of these checks has the answer it would have from scratch, but costs in proportion
//! to what the op changed (an op changes a few table pages; the walk from scratch read every
//! entry of every table, 98% of the time of a case):
//!
//! - **Which pages changed.** The MMU's page pool gives a frame a new *stamp* at every
//!   change of its page (allocation, freeing, and every mutable access, the only way to
//!   write an entry, A and D included); a clone is a new pool. Same pool and stamp at two
//!   moments: the same page, bit for bit. This rests on the pool alone (`phys.rs`, whose
//!   fields are private), not on the paging code under test: a bug there that writes a
//!   wrong entry writes it through the pool, and restamps the page.
//! - **Invariants.** `Mmu::check_invariants_memo` runs the same walk as `check_invariants`
//!   (reachability, reference counts, shapes, the kernel halves, the segment registry, the
//!   free list, the TLBs: all global, all from scratch), but keeps in a
//!   [`crate::mmu::CheckMemo`] the page tables whose entries passed (with stamp and the
//!   address the walk reached them at), the nonzero indices of the tables above them, and
//!   the root pairs whose kernel halves compared equal. An entry's checks depend only on its
//!   page and that address, so an unchanged page reached at the same address would pass
//!   again and is not re-read; every changed page is read whole. A table above level 0 is
//!   kept with its pointers and the pool's epoch when it passed: unchanged and reached at
//!   the same address, each child not changed since is only counted and visited (the counts
//!   and visits feed the global checks, from scratch), a changed one has its entry checked
//!   anew, in index order. After the last op the walk starts from an empty memo: the full
//!   walk, as before. Unit tests corrupt every kind of table after a memo saw it pass, and
//!   compare the two walks after every op of the differential test. The private-table
//!   count (`Mmu::table_stats_memo`) keeps a level-1 table's path count by stamp.
//! - **Table counts.** The model keeps, per table name, the number of mappings needing it,
//!   updated by the op that adds or removes them (`MmuModel::table_pages` is a sum of three
//!   lengths); at the end of each scenario (and after every op of the unit tests)
//!   `MmuModel::check_counts` recounts them from scratch and must agree.
//! - **Watched translations.** `Mmu::translate` and `Mmu::walk_entries` read nothing but the live
//!   spaces' roots and the table pages; `MmuModel::translate` and `MmuModel::accessed_dirty`
//!   nothing but the model (whose version counts A and D too). So when the MMU's table version
//!   (pool, last stamp), the model's version, the live spaces and the watched addresses are all
//!   what they were at the last comparison that passed, every answer on both sides is too, and the
//!   comparison is skipped; any change on either side (an access that sets A; a map the model
//!   refuses for frames after inserting and removing its pages) brings it back, walk by walk: a
//!   walk is redone only if either side may answer it differently. The MMU's side:
//!   `Mmu::walk_record` keeps the tables a walk read and the entries it found, and
//!   `Mmu::walk_unchanged` says whether a walk now would read the same (a table whose stamp is
//!   older is the same page; a newer one is read at the walk's index). The model's side: every
//!   change of a mapping, an entry's A or D, a table or a space notes the block of addresses whose
//!   answers it may change (`MmuModel::changes`, generous, never short), forgotten when the next op
//!   starts. A watched walk of the last comparison that neither side changed is taken as it was
//!   found (both sides equal) and only takes part in the table-address check; any other is compared
//!   anew, in the same order, so the first difference is the same. The last comparison of a
//!   scenario (after its flushes) redoes every walk from nothing.
//!
//! ## 4. Limits
//!
//! [`MAX_CASE_SPACES`] live spaces per scenario, [`MAX_WATCHED`] watched addresses,
//! [`MAX_RESIZE_PAGES`] pages per resize. Every map runs, up to the MMU's `MAX_MAP_PAGES`
//! and past it: the *limit map* op (version 2) makes maps at every named limit from both
//! sides (the table sizes, the largest map, table boundaries of every level, the top of
//! the space, both hole edges, the kernel base, the physical top), the costly ones rarely
//! (see `codec.rs`); `tests/limits.rs` lists every limit with the op that reaches it.
//!
//! ## 5. Files
//!
//! - `scenario.rs`: the scenario and its ops ([`Scenario`], [`Op`], the selectors' values
//!   [`SpaceSel`], [`Va`], [`Place`], [`Point`], [`FlushMode`], [`TlbOp`]), how they print,
//!   and `impl Case for Scenario`, which calls into the next two.
//! - `codec.rs`: the byte format of section 1: one [`super::codec::Selector`] per field (its
//!   tags named once, its reader beside its writer), the header, and each op kind's reading
//!   beside its writing.
//! - `exec.rs`: the executor (section 3, and the limits of section 4), the
//!   [`super::drive::Machine`] that runs a scenario against the MMU and the model.
//! - [`flushes`]: the held flush tokens (the vmap target also uses its legality test for
//!   stale hits and its TLB-drop rules; this target asks the oracle's TLB model instead).
//! - [`adapter`]: the MMU's results in the oracle's vocabulary.
//! - `seeds.rs`: [`seed_scenarios`], the hand-written corpus; `tests.rs`: the unit tests.
//!
//! [`Scenario::encode`]: super::Case::encode
//! [`Flush`]: crate::mmu::Flush
//! [`o::FlushPrediction`]: kvafuzz_oracles::mmu::FlushPrediction

pub mod adapter;
mod codec;
mod exec;
pub mod flushes;
mod scenario;
mod seeds;
#[cfg(test)]
mod tests;

use crate::harness::Target;

pub use exec::{MAX_CASE_SPACES, MAX_MAPPINGS, MAX_RESIZE_PAGES, MAX_WATCHED};
pub use scenario::{FlushMode, Op, Place, Point, Scenario, SpaceSel, TlbOp, Va};
pub use seeds::seed_scenarios;

/// The 4 KiB page, the smallest of every mode: the unit of watched addresses and of the
/// encoder's page size for fields whose size is not stored.
const K4: u64 = crate::addr::PAGE_SIZE;

/// The `mmu` target (the page-table model) in the registry.
pub struct MmuTarget;

impl Target for MmuTarget {
    const NAME: &'static str = "mmu";
    const ABOUT: &'static str = "x86 page tables in all four modes (address 0, top of space, canonical hole, large pages, shared segments, TLBs with held flushes) vs the flat page model";
    const VERSION: u16 = 2;
    #[cfg(feature = "seeded-bugs")]
    const BUGS: &'static [crate::bugs::Bug] = {
        use crate::bugs::Bug;
        &[
            Bug::LargePageOverLiveTable,
            Bug::TablePageFreedWithEntries,
            Bug::NonCanonicalAccepted,
            Bug::FlushWrongRange,
            Bug::DirtyLostOnProtect,
            Bug::StaleCheckIgnoresCacheAttrs,
            Bug::StaleCheckIgnoresPageSize,
            Bug::LargestMapOffByOne,
        ]
    };
    type Scenario = Scenario;

    fn seeds() -> Vec<(&'static str, Scenario)> {
        seed_scenarios()
    }

    /// Version 1 (no limit tags, no limit map) is read as it always was.
    fn decode_version(version: u16, payload: &[u8]) -> Option<Scenario> {
        match version {
            1 => Some(codec::decode_v1(payload)),
            Self::VERSION => Some(codec::decode(payload)),
            _ => None,
        }
    }
}
