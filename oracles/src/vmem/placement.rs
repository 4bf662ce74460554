//! The arena model's requests: validating a request against the arena's domain, where each
//! policy must place it, judging an answer, and frees.

use super::chain::{claim_of, could_serve, import_request, judge_in};
use super::*;

impl ArenaModel {
    // ---- requests -------------------------------------------------------------------------

    /// Whether the allocator accepts `r` (its [`Domain`]): `Ok` for a request it must
    /// answer with a placement or `NoSpace`, else the error it must give (the first of the
    /// module comment's order that applies).
    pub fn check_request(&self, r: &Request) -> Result<(), AllocErrorKind> {
        self.normalize(r).map(|_| ())
    }

    pub(super) fn normalize(&self, r: &Request) -> Result<Norm, AllocErrorKind> {
        let q = self.quantum;
        let d = &self.domain;
        if r.size == 0 {
            return Err(AllocErrorKind::ZeroSize);
        }
        if !d.unaligned_sizes && u128::from(r.size) % q != 0 {
            return Err(AllocErrorKind::BadSize);
        }
        let size = round_up(u128::from(r.size), q);
        if size > u128::from(d.max_size) {
            return Err(AllocErrorKind::SizeOverflow);
        }
        let align = if r.align == 0 { q } else { u128::from(r.align) };
        let accepted = match d.align {
            AlignRule::QuantumPowerOfTwo => is_pow2(align) && align % q == 0,
            AlignRule::PowerOfTwo => is_pow2(align),
            AlignRule::QuantumMultiple => align % q == 0,
        };
        if !accepted || align > u128::from(d.max_align).max(q) {
            return Err(AllocErrorKind::BadAlign);
        }
        // Below the quantum (where the domain accepts it): every placement is a multiple of
        // the quantum, so the alignment is the quantum's.
        let align = align.max(q);
        let phase = u128::from(r.phase);
        if phase % q != 0 || phase >= align {
            return Err(AllocErrorKind::BadPhase);
        }
        let nocross = u128::from(r.nocross);
        if nocross != 0 && (!is_pow2(nocross) || nocross % q != 0) {
            return Err(AllocErrorKind::BadNocross);
        }
        if r.minaddr > r.maxaddr {
            return Err(AllocErrorKind::BadBounds);
        }
        if d.refuses_overconstrained
            && nocross != 0
            && (align > nocross || round_up(phase + size, align) > nocross)
        {
            return Err(AllocErrorKind::Overconstrained);
        }
        Ok(Norm {
            size,
            align,
            phase,
            nocross,
            min: u128::from(r.minaddr),
            max: u128::from(r.maxaddr),
        })
    }

    /// Why `a` is not a placement for `n`, or `None` if it is.
    pub(super) fn violation(&self, a: u128, n: &Norm) -> Option<&'static str> {
        let end = a + n.size;
        if a % n.align != n.phase {
            return Some("misaligned (align/phase)");
        }
        if a < n.min {
            return Some("below minaddr");
        }
        if end - 1 > n.max {
            return Some("above maxaddr");
        }
        if !self.spans.iter().any(|s| s.start <= a && end <= s.end) {
            return Some("not inside one span");
        }
        if self.live.iter().any(|&(s, e)| s < end && a < e) {
            return Some("overlaps a live allocation");
        }
        if n.nocross != 0 && a / n.nocross != (end - 1) / n.nocross {
            return Some("crosses a nocross boundary");
        }
        None
    }

    /// The lowest placement at or above `from`. Candidates are visited in increasing order;
    /// after a rejected candidate the scan jumps to the first address that is not rejected
    /// for the same reason (the end of the blocking allocation, the next span, the next
    /// nocross boundary), then to the next aligned candidate.
    pub(super) fn lowest_from(&self, from: u128, n: &Norm) -> Option<u128> {
        let mut a = next_candidate(from.max(n.min), n.align, n.phase);
        while a + n.size - 1 <= n.max.min(u128::from(u64::MAX)) {
            let end = a + n.size;
            let jump = if let Some(&(_, e)) = self.live.iter().find(|&&(s, e)| s < end && a < e) {
                e
            } else if let Some(s) = self.spans.iter().find(|s| s.start <= a && a < s.end) {
                if end <= s.end {
                    if n.nocross != 0 && a / n.nocross != (end - 1) / n.nocross {
                        (a / n.nocross + 1) * n.nocross
                    } else {
                        return Some(a);
                    }
                } else {
                    s.end
                }
            } else {
                self.spans
                    .iter()
                    .filter(|s| s.start > a)
                    .map(|s| s.start)
                    .min()?
            };
            a = next_candidate(jump.max(a + 1), n.align, n.phase);
        }
        None
    }

    /// Maximal free runs `[start, end)` inside spans, by address.
    fn free_intervals(&self) -> Vec<(u128, u128)> {
        let mut out = Vec::new();
        for s in &self.spans {
            let mut cur = s.start;
            for &(ls, le) in self
                .live
                .iter()
                .filter(|&&(ls, _)| ls >= s.start && ls < s.end)
            {
                if ls > cur {
                    out.push((cur, ls));
                }
                cur = le;
            }
            if cur < s.end {
                out.push((cur, s.end));
            }
        }
        out
    }

    /// The placement `policy` promises (`None` for "none exists"); for InstantFit, the lowest.
    pub(super) fn promised(&self, n: &Norm, policy: Policy) -> Option<u128> {
        match policy {
            Policy::InstantFit | Policy::FirstFit => self.lowest_from(0, n),
            Policy::NextFit => self
                .lowest_from(self.rotor, n)
                .or_else(|| self.lowest_from(0, n)),
            Policy::BestFit => {
                let mut best: Option<(u128, u128, u128)> = None; // (size, start, placement)
                for (s, e) in self.free_intervals() {
                    if e - s < n.size {
                        continue;
                    }
                    if let Some(a) = self.lowest_from(s, n).filter(|&a| a + n.size <= e) {
                        if best.is_none_or(|(bs, bst, _)| (e - s, s) < (bs, bst)) {
                            best = Some((e - s, s, a));
                        }
                    }
                }
                best.map(|(_, _, a)| a)
            }
        }
    }

    /// The answer `policy` must give to `req`, ignoring any source (no import). For
    /// InstantFit, which may return any placement, this is the lowest one: a correct answer,
    /// not the only one.
    pub fn predict_alloc(&self, req: &Request, policy: Policy) -> Result<u64, AllocErrorKind> {
        let n = self.normalize(req)?;
        self.promised(&n, policy)
            .map(|a| a as u64)
            .ok_or(AllocErrorKind::NoSpace)
    }

    /// Judges the answer to `req` with `policy`. `imported` lists the spans the arena
    /// imported while serving it (`(start, last)`): a lone model has no source, so any is a
    /// broken contract. On agreement, the model is updated.
    pub fn judge_alloc(
        &mut self,
        req: &Request,
        policy: Policy,
        imported: &[(u64, u64)],
        actual: Result<u64, AllocErrorKind>,
    ) -> Result<(), Mismatch> {
        self.judge_alloc_with(req, policy, imported, actual, true)
    }

    /// [`ArenaModel::judge_alloc`] for an arena that is `complete` or not. An incomplete one
    /// may fail although a placement exists (here or, by importing, in the source) and may
    /// import although one exists here; what it hands out and imports is judged as usual.
    pub fn judge_alloc_with(
        &mut self,
        req: &Request,
        policy: Policy,
        imported: &[(u64, u64)],
        actual: Result<u64, AllocErrorKind>,
        complete: bool,
    ) -> Result<(), Mismatch> {
        judge_in(
            std::slice::from_mut(self),
            0,
            req,
            policy,
            &[imported],
            actual,
            claim_of(complete),
        )
    }

    /// The size of a span imported from `sources` for `req` (normalized as `n`), by the
    /// level's [`ImportRule`]: for [`ImportRule::RoundUp`], `roundup(size, import quantum)` if
    /// the sources could serve that much (with the request's constraints, aligned to at least
    /// this arena's quantum), else exactly the size. The error says why not.
    pub(super) fn check_import_size(
        &self,
        sources: &[ArenaModel],
        req: &Request,
        n: &Norm,
        got: u128,
    ) -> Result<(), String> {
        if sources.is_empty() {
            return Ok(()); // accept_imports reports it
        }
        let iq = match self.import {
            ImportRule::RoundUp { quantum } => u128::from(quantum),
            ImportRule::Exact if got != n.size => {
                return Err(format!(
                    "imported {got:#x} bytes for a request of {:#x}: expected exactly that",
                    n.size
                ));
            }
            ImportRule::AtLeast if got < n.size => {
                return Err(format!(
                    "imported {got:#x} bytes for a request of {:#x}: expected at least that",
                    n.size
                ));
            }
            ImportRule::Exact | ImportRule::AtLeast => return Ok(()),
        };
        let rounded = round_up(n.size, iq);
        let want = if rounded <= u128::from(u64::MAX)
            && could_serve(sources, &import_request(req, n, rounded)).is_some()
        {
            rounded
        } else {
            n.size
        };
        if got != want {
            return Err(format!(
                "imported {got:#x} bytes for a request of {:#x}: expected {want:#x} \
                 (roundup to the import quantum {iq:#x} if the source had room for it, \
                 else exactly the size)",
                n.size
            ));
        }
        Ok(())
    }

    /// Frees the allocation at `a`; if that leaves an imported span holding nothing, drops
    /// the span (a release) and returns its start, for the source to free in turn.
    pub(super) fn free_here(&mut self, a: u128) -> Option<u128> {
        self.live.retain(|&(s, _)| s != a);
        let idle = self.spans.iter().position(|sp| {
            sp.imported
                && sp.start <= a
                && a < sp.end
                && !self.live.iter().any(|&(s, _)| sp.start <= s && s < sp.end)
        })?;
        self.releases += 1;
        Some(self.spans.remove(idle).start)
    }
    /// Judges an exact-address allocation of `size` bytes at `addr`; updates the model.
    pub fn judge_alloc_at(
        &mut self,
        addr: u64,
        size: u64,
        actual: Result<u64, AllocErrorKind>,
    ) -> Result<(), Mismatch> {
        let expected = self.predict_alloc_at(addr, size);
        if expected != actual {
            return Err(Mismatch::Outcome {
                expected: format!("{expected:x?}"),
                actual: format!("{actual:x?}"),
            });
        }
        if let Ok(a) = actual {
            let s = round_up(u128::from(size), self.quantum);
            self.live.push((u128::from(a), u128::from(a) + s));
            self.live.sort_unstable();
        }
        Ok(())
    }

    /// The answer exact allocation of `size` bytes at `addr` must give.
    pub fn predict_alloc_at(&self, addr: u64, size: u64) -> Result<u64, AllocErrorKind> {
        let q = self.quantum;
        if size == 0 {
            return Err(AllocErrorKind::ZeroSize);
        }
        let s = round_up(u128::from(size), q);
        if s > u128::from(u64::MAX) {
            return Err(AllocErrorKind::SizeOverflow);
        }
        let a = u128::from(addr);
        if a % q != 0 {
            return Err(AllocErrorKind::Misaligned);
        }
        if a + s - 1 > u128::from(u64::MAX) {
            return Err(AllocErrorKind::Wraps);
        }
        match self.space.check(addr, s as u64) {
            Err(SpanErrorKind::PastTop) => return Err(AllocErrorKind::PastTop),
            Err(SpanErrorKind::NonCanonical) => return Err(AllocErrorKind::NonCanonical),
            _ => {}
        }
        let n = Norm {
            size: s,
            align: q,
            phase: 0,
            nocross: 0,
            min: 0,
            max: u128::from(u64::MAX),
        };
        match self.violation(a, &n) {
            None => Ok(addr),
            Some(_) => Err(AllocErrorKind::NoSpace),
        }
    }

    /// What freeing `size` bytes at `addr` must do.
    pub fn predict_free(&self, addr: u64, size: u64) -> Result<(), FreeErrorKind> {
        if size == 0 {
            return Err(FreeErrorKind::ZeroSize);
        }
        let a = u128::from(addr);
        let Some(&(s, e)) = self.live.iter().find(|&&(s, _)| s == a) else {
            return Err(FreeErrorKind::BadFree);
        };
        if round_up(u128::from(size), self.quantum) != e - s {
            return Err(FreeErrorKind::WrongSize((e - s) as u64));
        }
        Ok(())
    }

    /// Frees the allocation at `addr` (after [`ArenaModel::predict_free`] said yes). (In a
    /// chain, [`ChainModel::free`] also releases a span this leaves holding nothing.)
    pub fn free(&mut self, addr: u64) {
        self.free_here(u128::from(addr));
    }
}
