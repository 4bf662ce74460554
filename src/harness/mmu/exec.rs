//! Execution: a scenario run against the MMU ([`crate::mmu::Mmu`]) and the flat page model
//! (`kvafuzz_oracles::mmu::MmuModel`), every op judged and the state compared after it
//! (module comment of [`super`], sections 2 to 4); the held flushes and the stale hits they
//! allow are kept by [`super::flushes`].

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use kvafuzz_oracles::mmu as o;

use super::super::drive::{drive, Machine};
use super::super::finding::variant_path;
use super::super::{
    BrokenInvariant, BugSet, Claim, Finding, FindingKind, Mismatch, StateDiff, Stats, Target,
};
use super::adapter;
use super::flushes::{FlushRange, HeldFlushes, Spaces};
use super::MmuTarget;
use super::{FlushMode, Op, Place, Point, Scenario, SpaceSel, TlbOp, Va, K4};
use crate::addr::{Arch, Range};
use crate::harness::map::{listed, merged_runs, AddressMap, Band, Layer, Shade};
use crate::harness::recent::Recent;
use crate::mmu::{
    geometry::Geometry, Access, AccessKind, Asid, CheckMemo, CpuId, Flush, Mmu, MmuConfig,
    NewError, PageFlags, TlbError, WalkRecord, MAX_CPUS, MAX_FRAMES, MAX_TLB_ENTRIES,
};
use crate::outcome;

/// Most live address spaces (the kernel's included) a scenario creates; further
/// `CreateSpace` ops are skipped. Bounds the per-op state comparison (spaces x watched
/// addresses) and keeps each case fast; the MMU's own `MAX_SPACES` (1024) is unit-tested.
pub const MAX_CASE_SPACES: usize = 8;

/// Addresses whose translation is compared in every live space after every op that changed
/// either side (the most recently touched ones): 32 x [`MAX_CASE_SPACES`] = 256 walks per op
/// at most.
pub const MAX_WATCHED: usize = 32;

/// Most pages an [`Op::Resize`] maps: a collapse (into larger pages) always runs, a split
/// into more pages is skipped (a 2 MiB page split into 4 KiB ones is 512 steps, and a
/// resize is as common as any op; maps of table size come from the limit map, rarely).
pub const MAX_RESIZE_PAGES: u64 = 16;

/// Mappings remembered for `Place::Mapped` / `Point::Mapped` (the most recent ones).
pub const MAX_MAPPINGS: usize = 32;

/// Runs `s`: predicts whether its configuration is refused, then drives its ops through an
/// [`Executor`] (what `impl Case for Scenario` runs).
pub(super) fn execute(
    s: &Scenario,
    bugs: BugSet,
    trace: Option<&mut String>,
) -> Result<Stats, Finding> {
    let config = MmuConfig {
        frames: s.frames,
        cpus: u32::from(s.cpus),
        tlb_entries: u32::from(s.tlb_entries),
    };
    // The configuration limits are part of the contract: exactly the out-of-range ones
    // are refused, each with its own error.
    let expected = if s.frames == 0 || s.frames > MAX_FRAMES {
        Err(NewError::BadFrameCount)
    } else if s.cpus == 0 || u32::from(s.cpus) > MAX_CPUS {
        Err(NewError::BadCpuCount)
    } else if s.tlb_entries == 0 || u32::from(s.tlb_entries) > MAX_TLB_ENTRIES {
        Err(NewError::BadTlbSize)
    } else {
        Ok(())
    };
    match (Mmu::new(s.arch, config), expected) {
        (Ok(mmu), Ok(())) => {
            #[cfg(feature = "seeded-bugs")]
            let mmu = {
                let mut mmu = mmu;
                mmu.set_bugs(bugs);
                mmu
            };
            #[cfg(not(feature = "seeded-bugs"))]
            let _ = bugs;
            let mut executor = Executor::new(s, mmu);
            drive(MmuTarget::NAME, &mut executor, &s.ops, trace)
        }
        (Err(e), Err(x)) if e == x => {
            if let Some(t) = trace {
                let _ = writeln!(t, "  new -> Err({e:?}) (predicted); no op runs");
            }
            Ok(Stats::refused(&e))
        }
        (made, expected) => Err(Finding {
            target: MmuTarget::NAME,
            op_index: None,
            op: "new".into(),
            kind: FindingKind::Oracle(Mismatch::values("new", "", &expected, &made.map(|_| ()))),
        }),
    }
}

/// Runs one scenario against the MMU and the model.
struct Executor {
    /// The scenario's paging mode.
    arch: Arch,
    /// The implementation under test.
    mmu: Mmu,
    /// The oracle.
    model: o::MmuModel,
    /// Live spaces in creation order (the kernel's first): what `SpaceSel::Live` indexes.
    live: Vec<Asid>,
    /// Recently touched addresses (at most [`MAX_WATCHED`], oldest first, distinct).
    watched: Recent<u64, MAX_WATCHED>,
    /// Recently made mappings (space, first address, length, page size; at most
    /// [`MAX_MAPPINGS`], oldest first), whether or not they still exist.
    mapped: Recent<(Asid, u64, u64, u64), MAX_MAPPINGS>,
    /// Held flush tokens, oldest first, each with the space whose op returned it and the
    /// oracle's description (applied to the model's TLBs when the token is applied).
    flushes: HeldFlushes<(Flush, Asid, o::FlushPrediction)>,
    /// The current op changed the structure (the private-table count is compared then).
    changed: bool,
    /// The page tables the invariant walk after earlier ops saw pass, unchanged since (module
    /// comment, section 3); `None` after the last op, when the walk starts from nothing.
    memo: Option<RefCell<CheckMemo>>,
    /// What the last comparison of the watched translations found equal: the MMU's table
    /// version, the model's version, the live spaces and the watched addresses. When all four
    /// are the same again, so is every answer on both sides, and the comparison is skipped.
    translated: RefCell<Option<Translated>>,
    /// The watched walks the last comparison found equal, by (space, address): a walk the
    /// MMU would read the same again ([`Mmu::walk_unchanged`]) at an address that no model
    /// change since covers (`MmuModel::changes`, forgotten at each op) answers the same on
    /// both sides, so only its part in the table-address check is redone. Emptied at the
    /// end of the scenario, whose last comparison redoes every walk.
    walks: RefCell<WalkMemos>,
    /// The MMU's table version and the model's versions (tables, TLBs) at the last
    /// coherence check that agreed with the oracle: the same again, both answers are too.
    coherent: Cell<Option<CoherenceInputs>>,
    /// Counters so far.
    stats: Stats,
}

/// A watched walk found equal on both sides (see `Executor::walks`).
struct WalkMemo {
    /// The MMU's walk.
    walk: WalkRecord,
    /// The oracle's prediction of its entries.
    pred: (u32, [o::EntryPrediction; 5]),
}

/// The watched walks the last comparison found equal (see `Executor::walks`), laid out as
/// it went: by live space, then by watched address. Only that comparison's pairs are kept
/// (the model's changes of the ops before it are forgotten).
#[derive(Default)]
struct WalkMemos {
    /// The live spaces of the last comparison.
    spaces: Vec<u32>,
    /// The watched addresses of the last comparison.
    watched: Vec<u64>,
    /// `grid[i * watched.len() + j]`: the memo of `spaces[i]`'s walk to `watched[j]`.
    grid: Vec<Option<Box<WalkMemo>>>,
}

impl WalkMemos {
    /// Lays the grid out for `spaces` x `watched`: the memo of a pair in both layouts
    /// moves to its new place, the others go.
    fn arrange(&mut self, spaces: &[u32], watched: &[u64]) {
        if self.spaces == spaces && self.watched == watched {
            return;
        }
        let from_s: Vec<Option<usize>> = spaces
            .iter()
            .map(|s| self.spaces.iter().position(|x| x == s))
            .collect();
        let from_a: Vec<Option<usize>> = watched
            .iter()
            .map(|a| self.watched.iter().position(|x| x == a))
            .collect();
        let width = self.watched.len();
        let mut grid = Vec::with_capacity(spaces.len() * watched.len());
        for fs in &from_s {
            for fa in &from_a {
                let old = match (fs, fa) {
                    (Some(i), Some(j)) => self.grid.get_mut(i * width + j).and_then(Option::take),
                    _ => None,
                };
                grid.push(old);
            }
        }
        self.grid = grid;
        self.spaces = spaces.to_vec();
        self.watched = watched.to_vec();
    }
}

/// The inputs of a TLB coherence check (see `Executor::coherent`).
type CoherenceInputs = ((u64, u64), u64, u64);

/// The inputs of a comparison of the watched translations (see `Executor::translated`).
#[derive(PartialEq, Eq)]
struct Translated {
    mmu: (u64, u64),
    model: u64,
    spaces: Vec<u32>,
    watched: Vec<u64>,
}

/// The physical address of each table that pointer entries seen so far point at, both
/// ways (`Executor::compare_entries`).
#[derive(Default)]
struct TableAddrs {
    addr: BTreeMap<o::TableId, u64>,
    table: BTreeMap<u64, o::TableId>,
    /// By level, the last pair found to agree (the walks of one space share their upper
    /// tables): the same pair again agrees without a lookup.
    last: [Option<(o::TableId, u64)>; 5],
}

impl TableAddrs {
    /// Records that a pointer (at `level`) to `table` holds `addr`: `Err` with the other table if
    /// `table` had another address, or `addr` belonged to another table.
    fn agree(&mut self, level: u8, table: o::TableId, addr: u64) -> Result<(), o::TableId> {
        if self.last.get(usize::from(level)) == Some(&Some((table, addr))) {
            return Ok(());
        }
        self.agree_looked_up(table, addr)?;
        if let Some(last) = self.last.get_mut(usize::from(level)) {
            *last = Some((table, addr));
        }
        Ok(())
    }

    /// [`TableAddrs::agree`] in the maps.
    fn agree_looked_up(&mut self, table: o::TableId, addr: u64) -> Result<(), o::TableId> {
        match self.addr.get(&table) {
            // Seen with this address: its reverse entry is there already.
            Some(&a) if a == addr => Ok(()),
            Some(_) => Err(table),
            None => {
                let t = *self.table.entry(addr).or_insert(table);
                self.addr.insert(table, addr);
                if t != table {
                    return Err(t);
                }
                Ok(())
            }
        }
    }
}

/// The effective flags of a flag byte: bits 6-7 ask to fit them to the half of `va`.
fn fit_flags(arch: Arch, byte: u8, va: u64) -> PageFlags {
    let flags = PageFlags::from_bits_truncate(byte);
    if byte & 0xC0 == 0 {
        return flags;
    }
    let mut drop = if Geometry::new(arch).in_kernel_half(va) {
        PageFlags::USER
    } else {
        PageFlags::GLOBAL
    };
    if arch == Arch::Ia32 {
        drop = drop | PageFlags::NO_EXECUTE;
    }
    flags.difference(drop)
}

/// What a held token invalidates, from the oracle's description of it (`asid`: the space
/// whose op returned it).
fn held_range(asid: Asid, pred: o::FlushPrediction) -> FlushRange {
    FlushRange {
        spaces: if pred.all_spaces {
            Spaces::All
        } else {
            Spaces::One(asid.raw())
        },
        start: pred.start,
        last: pred.last,
    }
}

/// Bounded text of a result (addresses in hex).
fn show<T: fmt::Debug, E: fmt::Debug>(r: &Result<T, E>) -> String {
    format!("{r:x?}")
}

impl Machine for Executor {
    type Op = Op;

    fn step(&mut self, op: &Op) -> Result<String, Mismatch> {
        self.changed = false;
        self.model.forget_changes();
        self.execute_op(op)
    }

    fn check_invariants(&self) -> Result<(), BrokenInvariant> {
        self.invariants()
    }

    fn compare_state(&self) -> Result<(), StateDiff> {
        self.compare_spaces()
    }

    fn stats(&self) -> Stats {
        self.stats
    }

    fn summary(&self) -> String {
        format!(
            "{} spaces, {} table pages at the end",
            self.live.len(),
            self.mmu.table_pages()
        )
    }

    /// Per live space, the runs of mapped addresses as the MMU's tables hold them (their
    /// leaves) and as the model does.
    fn address_map(&self) -> AddressMap {
        let layers = self
            .mmu
            .spaces()
            .map(|asid| {
                let (leaves, note) = listed(|| self.mmu.leaves(asid, 0, u64::MAX));
                let have = merged_runs(
                    leaves
                        .iter()
                        .map(|t| (t.page_base, t.page_base.saturating_add(t.page_size - 1))),
                    Shade::Mapped,
                );
                let want = self
                    .model
                    .mapped_runs(asid.raw())
                    .into_iter()
                    .map(|(f, l)| {
                        let (f, l) = (u64::try_from(f).ok()?, u64::try_from(l).ok()?);
                        Band::new(f, l, Shade::Mapped)
                    });
                Layer::new(
                    format!("space {} mappings{note}", asid.raw()),
                    have.into_iter().map(Some),
                    want,
                )
            })
            .collect();
        AddressMap::new(layers)
    }

    /// No flush is ever dropped: the tokens still held are applied, then checked. And the
    /// model's table counts, kept by every change, are recounted from scratch (module
    /// comment, section 3).
    fn finish(&mut self) -> Result<Option<String>, Mismatch> {
        self.changed = false;
        self.memo = None;
        *self.walks.borrow_mut() = WalkMemos::default();
        let n = self.apply_held();
        if let Err(detail) = self.model.check_counts() {
            return Err(Mismatch::new(
                "model: table counts kept against recounted",
                "",
                Claim::new("equal", "equal"),
                Claim::new("different", detail),
            ));
        }
        Ok(Some(format!("applied {n} held flush token(s)")))
    }
}

impl Executor {
    fn new(s: &Scenario, mmu: Mmu) -> Executor {
        Executor {
            arch: s.arch,
            mmu,
            model: o::MmuModel::with_tlbs(
                adapter::mode(s.arch),
                u128::from(s.frames),
                u128::from(s.cpus),
                usize::from(s.tlb_entries),
            ),
            live: vec![Asid::KERNEL],
            watched: Recent::new(),
            mapped: Recent::new(),
            flushes: HeldFlushes::new(),
            changed: false,
            memo: Some(RefCell::new(CheckMemo::new())),
            translated: RefCell::new(None),
            walks: RefCell::new(WalkMemos::default()),
            coherent: Cell::new(None),
            stats: Stats::default(),
        }
    }

    fn asid(&self, s: SpaceSel) -> Asid {
        match s {
            // Never empty: the kernel space cannot be destroyed.
            SpaceSel::Live(h) => self.live[usize::from(h) % self.live.len()],
            SpaceSel::Raw(a) => Asid::from_raw(u32::from(a)),
        }
    }

    fn va(&self, v: Va) -> u64 {
        match v {
            Va::Raw(a) => a,
            Va::Recent {
                index,
                align_log2,
                offset,
            } => {
                let base = self.watched.pick(usize::from(index)).unwrap_or(0);
                let mask = 1u64
                    .checked_shl(u32::from(align_log2))
                    .map_or(0, |a| !(a - 1));
                (base & mask).wrapping_add(offset)
            }
        }
    }

    /// The mapping a `Place::Mapped` or `Point::Mapped` names (the kernel's first page if
    /// none was made yet).
    fn mapping(&self, index: u8) -> (Asid, u64, u64, u64) {
        self.mapped
            .pick(usize::from(index))
            .unwrap_or((Asid::KERNEL, 0, K4, K4))
    }

    fn place(&self, p: Place) -> (Asid, u64, u64) {
        match p {
            Place::Given { space, va, len } => (self.asid(space), self.va(va), len),
            Place::Mapped {
                index,
                first,
                pages,
            } => {
                let (asid, va, len, size) = self.mapping(index);
                let total = len / size;
                let first = u64::from(first) % total;
                let n = match u64::from(pages) {
                    0 => total - first,
                    p => p.min(total - first),
                };
                (asid, va + first * size, n * size)
            }
        }
    }

    fn point(&self, p: Point) -> (Asid, u64) {
        match p {
            Point::Given { space, va } => (self.asid(space), self.va(va)),
            Point::Mapped { index, offset } => {
                let (asid, va, len, _) = self.mapping(index);
                (asid, va + offset % len)
            }
        }
    }

    /// Remember a mapping just made.
    fn remember(&mut self, asid: Asid, va: u64, len: u64, size: u64) {
        self.mapped.push((asid, va, len, size));
        self.watch(va);
        self.watch(va + (len - K4));
    }

    /// Remember the 4 KiB page holding `a` (most recent last, distinct, bounded).
    fn watch(&mut self, a: u64) {
        self.watched.touch(a & !(K4 - 1));
    }

    fn count<T, E: std::fmt::Debug + 'static>(&mut self, r: &Result<T, E>) {
        self.stats.count_result(r);
    }

    /// Apply or hold a token whose oracle description is `pred`.
    fn take_flush(&mut self, token: Flush, asid: Asid, pred: o::FlushPrediction, mode: FlushMode) {
        match mode {
            FlushMode::Apply => {
                self.mmu.flush(token);
                self.model.shootdown(asid.raw(), &pred);
            }
            FlushMode::Hold => self
                .flushes
                .hold((token, asid, pred), held_range(asid, pred)),
        }
    }

    /// Apply every held token on every CPU, oldest first; how many there were.
    fn apply_held(&mut self) -> usize {
        let tokens = self.flushes.release();
        let n = tokens.len();
        for (token, asid, pred) in tokens {
            self.mmu.flush(token);
            self.model.shootdown(asid.raw(), &pred);
        }
        n
    }

    /// Invariants, and TLB coherence: `check_tlb_coherent` must report exactly the first
    /// stale entry the oracle's TLBs hold (none: it must pass), held flushes or not.
    fn invariants(&self) -> Result<(), BrokenInvariant> {
        let checked = match &self.memo {
            Some(memo) => self.mmu.check_invariants_memo(&mut memo.borrow_mut()),
            None => self.mmu.check_invariants(),
        };
        checked.map_err(|e| {
            let detail = format!("{e:x?}");
            BrokenInvariant::new(variant_path(&detail), detail)
        })?;
        let inputs = (
            self.mmu.table_version(),
            self.model.version(),
            self.model.tlb_version(),
        );
        if self.coherent.get() == Some(inputs) {
            return Ok(());
        }
        let got = self
            .mmu
            .check_tlb_coherent()
            .map_err(|s| adapter::stale(&s));
        let want = match self.model.first_stale() {
            Some(s) => Err(s),
            None => Ok(()),
        };
        if got != want {
            return Err(BrokenInvariant::new(
                "TlbCoherent",
                format!("check_tlb_coherent answered {got:x?}, the oracle's TLBs {want:x?}"),
            ));
        }
        self.coherent.set(Some(inputs));
        Ok(())
    }

    /// Spaces, table-page counts and the translations of the watched addresses.
    fn compare_spaces(&self) -> Result<(), StateDiff> {
        let spaces: Vec<u32> = self.mmu.spaces().map(|a| a.raw()).collect();
        let mspaces = self.model.spaces();
        if spaces != mspaces {
            return Err(StateDiff::new(
                "spaces",
                format!("{spaces:?}"),
                format!("{mspaces:?}"),
            ));
        }
        let (tp, mtp) = (u128::from(self.mmu.table_pages()), self.model.table_pages());
        if tp != mtp {
            return Err(StateDiff::new(
                "table pages",
                tp.to_string(),
                mtp.to_string(),
            ));
        }
        let (ff, mff) = (u128::from(self.mmu.free_frames()), self.model.free_frames());
        if ff != mff {
            return Err(StateDiff::new(
                "free frames",
                ff.to_string(),
                mff.to_string(),
            ));
        }
        if self.changed {
            let stats = match &self.memo {
                Some(memo) => self.mmu.table_stats_memo(&mut memo.borrow_mut()),
                None => self.mmu.table_stats(),
            };
            let pe = u128::from(stats.private_equivalent);
            let mpe = self.model.private_table_pages();
            if pe != mpe {
                return Err(StateDiff::new(
                    "private-table equivalent",
                    pe.to_string(),
                    mpe.to_string(),
                ));
            }
        }
        let inputs = Translated {
            mmu: self.mmu.table_version(),
            model: self.model.version(),
            spaces,
            watched: self.watched.as_slice().to_vec(),
        };
        if self.translated.borrow().as_ref() == Some(&inputs) {
            return Ok(());
        }
        // Pointer addresses change only with the structure (an access sets A, nothing else).
        let mut tables = self.changed.then(TableAddrs::default);
        let changes = self.model.changes();
        let mut walks = self.walks.borrow_mut();
        walks.arrange(&inputs.spaces, &inputs.watched);
        let pairs = inputs
            .spaces
            .iter()
            .flat_map(|&s| inputs.watched.iter().map(move |&a| (s, a)));
        // Space by space, address by address, as the grid is laid out.
        for (slot, (s, a)) in walks.grid.iter_mut().zip(pairs) {
            if let Some(m) = slot.as_deref_mut() {
                let same = !changes.iter().any(|c| c.covers(s, a.into()))
                    && self.mmu.walk_unchanged(&mut m.walk);
                if same {
                    if let Some(t) = tables.as_mut() {
                        let got = Some(m.walk.entries());
                        self.compare_entries(s, a, got, Some(&m.pred), Some(t))?;
                    }
                    continue;
                }
            }
            let got = self
                .mmu
                .translate(Asid::from_raw(s), a)
                .map(adapter::translation)
                .map_err(|e| adapter::translate_err(e, a));
            let want = self.model.translate(s, a.into());
            if got != want {
                return Err(StateDiff::new(
                    "translate",
                    format!("asid{s} {a:#x}: {}", show(&got)),
                    format!("asid{s} {a:#x}: {}", show(&want)),
                ));
            }
            let walk = self.mmu.walk_record(Asid::from_raw(s), a);
            let pred = self.model.walk_prediction(s, a.into());
            let got = walk.map(|w| w.entries());
            self.compare_entries(s, a, got, pred.as_ref(), tables.as_mut())?;
            match (walk, pred, slot.as_deref_mut()) {
                (Some(walk), Some(pred), Some(m)) => *m = WalkMemo { walk, pred },
                (Some(walk), Some(pred), None) => *slot = Some(Box::new(WalkMemo { walk, pred })),
                _ => *slot = None,
            }
        }
        *self.translated.borrow_mut() = Some(inputs);
        Ok(())
    }

    /// Every entry on space `s`'s walk to `a`, bit for bit (P, RW, US, PWT, PCD, A, D, PS,
    /// G, NX and the address), against the oracle's prediction. A pointer's address is the
    /// frame of the table it points at, which the oracle names instead: `tables` checks,
    /// over one comparison of every watched address, that one table has one address and two
    /// tables two (after each op that changed the structure, the only ops that move a table).
    /// `got`: what `Mmu::walk_entries` answers; `want`: what `MmuModel::walk_prediction` does.
    fn compare_entries(
        &self,
        s: u32,
        a: u64,
        got: Option<(u8, [u64; 5])>,
        want: Option<&(u32, [o::EntryPrediction; 5])>,
        mut tables: Option<&mut TableAddrs>,
    ) -> Result<(), StateDiff> {
        let (Some((lowest, entries)), Some((mlowest, pred))) = (got, want) else {
            if got.is_none() && want.is_none() {
                return Ok(());
            }
            return Err(StateDiff::new(
                "walk",
                format!("asid{s} {a:#x}: {got:x?}"),
                format!("asid{s} {a:#x}: {want:x?}"),
            ));
        };
        if u32::from(lowest) != *mlowest {
            return Err(StateDiff::new(
                "walk: lowest level reached",
                format!("asid{s} {a:#x}: level {lowest} ({entries:x?})"),
                format!("asid{s} {a:#x}: level {mlowest} ({pred:x?})"),
            ));
        }
        let mask = self.model.table_address_mask();
        for level in lowest..=self.mmu.geometry().top() {
            let (e, p) = (entries[usize::from(level)], pred[usize::from(level)]);
            let fits = match p {
                o::EntryPrediction::Empty => e == 0,
                o::EntryPrediction::Leaf(bits) => e == bits,
                o::EntryPrediction::Pointer { bits, table } => {
                    e & !mask == bits
                        && tables
                            .as_deref_mut()
                            .is_none_or(|t| t.agree(level, table, e & mask).is_ok())
                }
            };
            if !fits {
                let seen = match p {
                    o::EntryPrediction::Pointer { table, .. } => tables
                        .as_deref_mut()
                        .and_then(|t| t.agree(level, table, e & mask).err())
                        .map(|other| format!(" (address also seen for {other:x?})")),
                    _ => None,
                };
                return Err(StateDiff::new(
                    "page-table entry",
                    format!(
                        "asid{s} {a:#x} level {level}: {e:#x}{}",
                        seen.unwrap_or_default()
                    ),
                    format!("asid{s} {a:#x} level {level}: {p:x?}"),
                ));
            }
        }
        Ok(())
    }

    /// Judges a map-like op (`at` = space, va, pa, len): the answer must equal the model's,
    /// and what succeeded is remembered for later ops and the state comparison.
    fn judge_map<T: PartialEq + fmt::Debug, E: PartialEq + fmt::Debug + 'static>(
        &mut self,
        what: &str,
        (asid, va, pa, len): (Asid, u64, u64, u64),
        flags: PageFlags,
        page_size: u64,
        got: Result<T, E>,
        want: Result<T, E>,
    ) -> Result<String, Mismatch> {
        self.count(&got);
        if got != want {
            return Err(Mismatch::values(
                what,
                format!(
                    "{asid} va {va:#x} pa {pa:#x} len {len:#x} page {page_size:#x} flags {:#x}",
                    flags.bits()
                ),
                &want,
                &got,
            ));
        }
        if got.is_ok() {
            self.remember(asid, va, len, page_size);
            self.changed = true;
        }
        Ok(outcome!(
            "{asid} va {va:#x} flags {:#x}: {}",
            flags.bits(),
            show(&got)
        ))
    }

    /// Executes one op and judges it; the outcome text for the trace, or the mismatch.
    fn execute_op(&mut self, op: &Op) -> Result<String, Mismatch> {
        let arch = self.arch;
        match *op {
            Op::CreateSpace => {
                if self.live.len() >= MAX_CASE_SPACES {
                    return Ok("skipped (MAX_CASE_SPACES live)".into());
                }
                let got = self
                    .mmu
                    .create_space()
                    .map(|a| a.raw())
                    .map_err(adapter::create_err);
                self.count(&got);
                let want = self.model.create_space();
                if got != want {
                    return Err(Mismatch::values("create_space", "", &want, &got));
                }
                if let Ok(a) = got {
                    self.live.push(Asid::from_raw(a));
                    self.changed = true;
                }
                Ok(show(&got))
            }
            Op::DestroySpace { space, flush } => {
                let asid = self.asid(space);
                let got = self.mmu.destroy_space(asid);
                self.count(&got);
                let want = self.model.destroy_space(asid.raw());
                let g = got
                    .as_ref()
                    .map(|_| ())
                    .map_err(|e| adapter::destroy_err(*e));
                if g != want {
                    return Err(Mismatch::values(
                        "destroy_space",
                        format!("{asid}"),
                        &want,
                        &g,
                    ));
                }
                if let Ok(token) = got {
                    // The whole space of that ASID (the oracle knows no TLB; this is the
                    // documented contract of destroy_space).
                    let pred = o::FlushPrediction {
                        all_spaces: false,
                        start: 0,
                        last: arch.max_addr().into(),
                    };
                    if adapter::flush(&token) != pred {
                        return Err(Mismatch::values(
                            "destroy_space flush token",
                            format!("{asid}"),
                            &pred,
                            &adapter::flush(&token),
                        ));
                    }
                    self.take_flush(token, asid, pred, flush);
                    self.live.retain(|&a| a != asid);
                    self.changed = true;
                }
                Ok(outcome!("{asid}: {}", show(&g)))
            }
            Op::Map {
                space,
                va,
                pa,
                len,
                flags,
                page_size,
            } => {
                let asid = self.asid(space);
                let va = self.va(va);
                let flags = fit_flags(arch, flags, va);
                let got = self
                    .mmu
                    .map(asid, va, pa, len, flags, page_size)
                    .map_err(adapter::map_err);
                let want = self.model.map(
                    asid.raw(),
                    va.into(),
                    pa.into(),
                    len.into(),
                    flags.bits(),
                    page_size.into(),
                );
                self.judge_map("map", (asid, va, pa, len), flags, page_size, got, want)
            }
            Op::Unmap { place, flush } => {
                let (asid, va, len) = self.place(place);
                let got = self.mmu.unmap(asid, va, len);
                self.count(&got);
                let want = self.model.unmap(asid.raw(), va.into(), len.into());
                self.judge_edit("unmap", asid, va, got, want, flush)
            }
            Op::Protect {
                place,
                flags,
                flush,
            } => {
                let (asid, va, len) = self.place(place);
                let flags = fit_flags(arch, flags, va);
                let got = self.mmu.protect(asid, va, len, flags);
                self.count(&got);
                let want = self
                    .model
                    .protect(asid.raw(), va.into(), len.into(), flags.bits());
                self.judge_edit("protect", asid, va, got, want, flush)
            }
            Op::MapShared {
                space,
                va,
                pa,
                len,
                flags,
            } => {
                let asid = self.asid(space);
                let va = self.va(va);
                let flags = fit_flags(arch, flags, va);
                let got = self
                    .mmu
                    .map_shared_segment(asid, va, pa, len, flags)
                    .map_err(|e| adapter::shared_err(e, va));
                let want = self.model.map_shared_segment(
                    asid.raw(),
                    va.into(),
                    pa.into(),
                    len.into(),
                    flags.bits(),
                );
                self.judge_map("map_shared", (asid, va, pa, len), flags, K4, got, want)
            }
            Op::UnmapShared { point, flush } => {
                let (asid, va) = self.point(point);
                let got = self.mmu.unmap_shared_segment(asid, va);
                self.count(&got);
                let want = self.model.unmap_shared_segment(asid.raw(), va.into());
                let g = got
                    .as_ref()
                    .map(adapter::flush)
                    .map_err(|e| adapter::unshare_err(*e, va));
                if g != want {
                    return Err(Mismatch::values(
                        "unmap_shared",
                        format!("{asid} va {va:#x}"),
                        &want,
                        &g,
                    ));
                }
                if let (Ok(token), Ok(pred)) = (got, want) {
                    self.take_flush(token, asid, pred, flush);
                    self.changed = true;
                }
                Ok(outcome!("{asid} va {va:#x}: {}", show(&g)))
            }
            Op::Translate { point } => {
                let (asid, va) = self.point(point);
                let got = self
                    .mmu
                    .translate(asid, va)
                    .map(adapter::translation)
                    .map_err(|e| adapter::translate_err(e, va));
                self.count(&got);
                let want = self.model.translate(asid.raw(), va.into());
                if got != want {
                    return Err(Mismatch::values(
                        "translate",
                        format!("{asid} va {va:#x}"),
                        &want,
                        &got,
                    ));
                }
                Ok(outcome!("{asid} va {va:#x}: {}", show(&got)))
            }
            Op::Access {
                cpu,
                point,
                kind,
                user,
            } => {
                let (asid, va) = self.point(point);
                let write = kind == AccessKind::Write;
                let got = self
                    .mmu
                    .access(CpuId(u32::from(cpu)), asid, va, Access { kind, user });
                self.count(&got);
                let outcome = self.model.access_on_tlb(
                    u128::from(cpu),
                    asid.raw(),
                    va.into(),
                    adapter::access_kind(kind),
                    user,
                );
                let (g, want) = (adapter::access(got), adapter::access_outcome(outcome));
                if g != want {
                    return Err(Mismatch::values(
                        format!("access cpu{cpu}"),
                        format!("{asid} va {va:#x}"),
                        &want,
                        &g,
                    ));
                }
                match (got, outcome) {
                    (Ok(t), o::AccessOutcome::Walked(_)) => {
                        self.check_accessed_dirty(cpu, asid, va, t.page_size, write)?;
                        self.watch(va);
                    }
                    (Ok(_), _) => self.watch(va),
                    _ => {}
                }
                let how = match outcome {
                    o::AccessOutcome::Hit(_) => "TLB hit",
                    o::AccessOutcome::Walked(_) => "walked",
                    o::AccessOutcome::Stale(_) => "stale TLB hit (predicted)",
                    o::AccessOutcome::Fault(_) => "fault",
                };
                Ok(outcome!("{asid} va {va:#x}: {how}: {}", show(&g)))
            }
            Op::Tlb { cpu, op } => {
                let c = CpuId(u32::from(cpu));
                let m = u128::from(cpu);
                let (got, want) = match op {
                    TlbOp::Invlpg { space, va } => {
                        let (asid, va) = (self.asid(space), self.va(va));
                        let want = self.model.invlpg(m, asid.raw(), va.into(), va.into());
                        (self.mmu.invlpg(c, asid, va), want)
                    }
                    TlbOp::FlushRange { space, va, len } => {
                        let (asid, va) = (self.asid(space), self.va(va));
                        let Ok(r) = Range::new(va, len) else {
                            return Ok("skipped (not a range)".into());
                        };
                        let (start, last) = (r.start().into(), r.last().into());
                        let want = self.model.invlpg(m, asid.raw(), start, last);
                        (self.mmu.flush_range(c, asid, r), want)
                    }
                    TlbOp::FlushAsid { space } => {
                        let asid = self.asid(space);
                        let want = self.model.flush_asid(m, asid.raw());
                        (self.mmu.flush_asid(c, asid), want)
                    }
                    TlbOp::FlushNonGlobal => {
                        (self.mmu.flush_nonglobal(c), self.model.flush_nonglobal(m))
                    }
                    TlbOp::FlushAll => (self.mmu.flush_all(c), self.model.flush_all(m)),
                };
                self.count(&got);
                let want = want.map_err(|_| TlbError::NoSuchCpu);
                if got != want {
                    return Err(Mismatch::values(
                        "tlb op",
                        format!("on cpu{cpu}"),
                        &want,
                        &got,
                    ));
                }
                // What the CPU's TLB holds afterwards, entry for entry (what it dropped and
                // what it kept: a large page overlapping the range anywhere goes).
                let left: Vec<o::CachedEntry> = self
                    .mmu
                    .tlb_entries(c)
                    .iter()
                    .map(adapter::cached)
                    .collect();
                let model_left = self.model.tlb_entries(m);
                if left != model_left {
                    return Err(Mismatch::new(
                        "tlb op: the entries left",
                        format!("on cpu{cpu}"),
                        Claim::new(
                            format!("{} entries", model_left.len()),
                            format!("{model_left:x?}"),
                        ),
                        Claim::new(format!("{} entries", left.len()), format!("{left:x?}")),
                    ));
                }
                Ok(outcome!("{got:?}"))
            }
            Op::Resize {
                index,
                page_size,
                flush,
            } => self.resize(index, page_size, flush),
            Op::ApplyHeldFlushes => {
                let n = self.apply_held();
                Ok(outcome!("applied {n} token(s)"))
            }
        }
    }

    /// After a successful access that walked: the leaf entry of the page has A set, and D if
    /// the access was a write (a lost dirty bit loses data when the page is reclaimed).
    fn check_accessed_dirty(
        &self,
        cpu: u8,
        asid: Asid,
        va: u64,
        page_size: u64,
        write: bool,
    ) -> Result<(), Mismatch> {
        use crate::mmu::geometry::bits;
        let Some(level) = self.mmu.geometry().level_of_size(page_size) else {
            return Ok(());
        };
        let want = bits::A | if write { bits::D } else { 0 };
        let leaf = self.mmu.entry(asid, va, level).unwrap_or(0);
        if leaf & want != want {
            let want = format!("a leaf with A{}", if write { " and D" } else { "" });
            return Err(Mismatch::new(
                "access: accessed/dirty bits",
                format!("cpu{cpu} {asid} va {va:#x}"),
                Claim::new(want.clone(), want),
                Claim::new("another leaf", format!("{leaf:#x}")),
            ));
        }
        Ok(())
    }

    /// [`Op::Resize`]: the unmap and the map, each judged like its own op.
    fn resize(&mut self, index: u8, size: u64, flush: FlushMode) -> Result<String, Mismatch> {
        let (asid, va, len, _) = self.mapping(index);
        let Ok(t) = self.model.translate(asid.raw(), va.into()) else {
            return Ok("skipped (the mapping is gone)".into());
        };
        if !size.is_power_of_two() {
            return Ok("skipped (not a power of two)".into());
        }
        let start = va & !(size - 1);
        let Some(len_new) = va
            .checked_add(len)
            .and_then(|end| end.checked_next_multiple_of(size))
            .map(|end| end - start)
        else {
            return Ok("skipped (past the top)".into());
        };
        if len_new / size > MAX_RESIZE_PAGES {
            return Ok(format!("skipped (more than {MAX_RESIZE_PAGES} pages)"));
        }
        let pa = (t.pa as u64).wrapping_sub(va - start);
        let got = self.mmu.unmap(asid, va, len);
        self.count(&got);
        let want = self.model.unmap(asid.raw(), va.into(), len.into());
        let unmapped = self.judge_edit("resize: unmap", asid, va, got, want, flush)?;
        let flags = PageFlags::from_bits_truncate(t.flags);
        let got = self.mmu.map(asid, start, pa, len_new, flags, size);
        let want = self.model.map(
            asid.raw(),
            start.into(),
            pa.into(),
            len_new.into(),
            t.flags,
            size.into(),
        );
        let at = (asid, start, pa, len_new);
        let got = got.map_err(adapter::map_err);
        let mapped = self.judge_map("resize: map", at, flags, size, got, want)?;
        Ok(format!("{unmapped}; {mapped}"))
    }

    /// Judges an unmap or protect: result and token against the oracle; then applies or
    /// holds the token.
    fn judge_edit(
        &mut self,
        what: &str,
        asid: Asid,
        va: u64,
        got: Result<Flush, crate::mmu::UnmapError>,
        want: Result<o::FlushPrediction, o::ErrKind>,
        mode: FlushMode,
    ) -> Result<String, Mismatch> {
        let g = got
            .as_ref()
            .map(adapter::flush)
            .map_err(|e| adapter::unmap_err(*e));
        if g != want {
            return Err(Mismatch::values(
                what,
                format!("{asid} va {va:#x}"),
                &want,
                &g,
            ));
        }
        if let (Ok(token), Ok(pred)) = (got, want) {
            self.take_flush(token, asid, pred, mode);
            self.watch(va);
            self.changed = true;
        }
        Ok(outcome!("{asid} va {va:#x}: {}", show(&g)))
    }
}
