//! Chains of arenas: judging the imports and releases one request makes at every level, and
//! the [`ChainModel`] that holds the levels.

use super::*;

/// The request a span of `size` bytes is imported with, for a request `req` normalized as
/// `n` by the importing level: the request's own constraints, aligned to at least that
/// level's quantum.
pub(super) fn import_request(req: &Request, n: &Norm, size: u128) -> Request {
    Request {
        size: size as u64,
        align: n.align as u64,
        ..*req
    }
}

/// Whether the chain `sources` (a source, then its own sources) could serve `w`: a
/// placement `(k, p)` in `sources[k]`, from the source's own spans, or else through an import
/// of exactly that much from the next level (the weakest ask: whatever a rounded-up import
/// finds, the exact one finds too).
pub(super) fn could_serve(sources: &[ArenaModel], w: &Request) -> Option<(usize, u128)> {
    let (src, further) = sources.split_first()?;
    let sn = src.normalize(w).ok()?;
    // What the source promises for an import: its own spans hold the derived request.
    let promised = src
        .serves_imports
        .derive(sn.size)
        .and_then(|(size, align)| {
            let align = sn.align.max(align);
            let dn = Norm {
                size,
                align,
                phase: sn.phase % align,
                ..sn
            };
            src.lowest_from(0, &dn)
        });
    if let Some(p) = promised {
        return Some((0, p));
    }
    if src.serves_imports != Completeness::Full {
        // Its further sources are asked only by its own import, under its own rule: a
        // partial promise says nothing about them.
        return None;
    }
    could_serve(further, &import_request(w, &sn, sn.size)).map(|(k, p)| (k + 1, p))
}

/// [`ArenaModel::judge_alloc_with`]'s `complete` as a claim: vmem's, or no completeness (the
/// policy's placement rule still held).
pub(super) fn claim_of(complete: bool) -> PolicyClaim {
    if complete {
        PolicyClaim::FULL
    } else {
        PolicyClaim {
            completeness: Completeness::Unclaimed,
            ..PolicyClaim::FULL
        }
    }
}

/// What the imports of one request are judged against: the spans each level imported while
/// serving it, and whether the allocator claims completeness.
struct Cascade<'a, I> {
    /// The level the request was made at.
    top: usize,
    /// `imported[k]`: the spans level `top + k` imported (`(start, last)`; lists past the end
    /// are empty).
    imported: &'a [I],
    /// Whether it claims [`Completeness::Full`] for this request (an import is then allowed
    /// only without a placement).
    complete: bool,
}

impl<I: AsRef<[(u64, u64)]>> Cascade<'_, I> {
    /// The spans level `at` imported.
    fn at(&self, at: usize) -> &[(u64, u64)] {
        self.imported.get(at - self.top).map_or(&[], AsRef::as_ref)
    }
}

/// Judges `levels[0]`'s answer to `req` with `policy`, `levels[1..]` being its sources, and
/// `at` its index in the chain, against the imports of `imported` (see [`Cascade`]). On
/// agreement, the models are updated.
pub(super) fn judge_in<I: AsRef<[(u64, u64)]>>(
    levels: &mut [ArenaModel],
    at: usize,
    req: &Request,
    policy: Policy,
    imported: &[I],
    actual: Result<u64, AllocErrorKind>,
    claim: PolicyClaim,
) -> Result<(), Mismatch> {
    let (this, sources) = levels
        .split_first_mut()
        .expect("a chain has at least one level");
    let n = match this.normalize(req) {
        Ok(n) => n,
        Err(kind) => {
            return match actual {
                Err(k) if k == kind => Ok(()),
                other => Err(Mismatch::Outcome {
                    expected: format!("{kind:?}"),
                    actual: format!("{other:x?}"),
                }),
            };
        }
    };
    let here = this.promised(&n, policy);
    // A claim bounded by the number of live allocations holds only below it.
    let completeness = match claim.max_live {
        Some(max) if this.live.len() as u128 >= u128::from(max) => Completeness::Unclaimed,
        _ => claim.completeness,
    };
    let complete = completeness == Completeness::Full;
    let cascade = Cascade {
        top: at,
        imported,
        complete,
    };
    let reached = accept_imports(this, sources, at, req, &n, here, &cascade)?;
    // Levels `at..at + reached` imported, one for the next; a deeper import serves nothing.
    let unexplained = (reached + 1..imported.len()).find(|&k| !cascade.at(at + k).is_empty());
    if let Some(k) = unexplained {
        let (s, l) = cascade.at(at + k)[0];
        return Err(Mismatch::BadImport {
            why: format!(
                "level {} imported [{s:#x}, {l:#x}] although level {} imported nothing",
                at + k,
                at + k - 1
            ),
        });
    }
    let promised = if reached > 0 {
        this.promised(&n, policy)
    } else {
        here
    };
    match actual {
        Ok(a) => {
            let a128 = u128::from(a);
            if let Some(why) = this.violation(a128, &n) {
                return Err(Mismatch::NotAPlacement { addr: a, why });
            }
            if claim.exact && policy != Policy::InstantFit && promised != Some(a128) {
                return Err(Mismatch::PolicyBroken {
                    policy,
                    expected: promised.unwrap_or(0) as u64,
                    actual: a,
                });
            }
            this.live.push((a128, a128 + n.size));
            this.live.sort_unstable();
            if policy == Policy::NextFit {
                this.rotor = a128 + n.size;
            }
            Ok(())
        }
        Err(AllocErrorKind::NoSpace) if !complete => {
            // A partial claim: the derived request (claims.rs) has no placement here.
            let derived = completeness.derive(n.size).and_then(|(size, align)| {
                let align = n.align.max(align);
                // A buddy block is as big as its alignment: an aligned request takes a block
                // of the larger of its rounded size and its alignment.
                let size = match completeness {
                    Completeness::PowerOfTwoBlock { max_block } if align > size => {
                        (align <= u128::from(max_block)).then_some(align)?
                    }
                    _ => size,
                };
                let dn = Norm {
                    size,
                    align,
                    phase: n.phase % align,
                    ..n
                };
                this.lowest_from(0, &dn)
            });
            match derived {
                Some(p) => Err(Mismatch::Incomplete {
                    placement: p as u64,
                }),
                None => Ok(()),
            }
        }
        Err(AllocErrorKind::NoSpace) => {
            if let Some(p) = promised {
                return Err(Mismatch::Incomplete {
                    placement: p as u64,
                });
            }
            // The arena imports with the request's own constraints, aligned to at least the
            // arena's quantum; the sources must have had nothing for exactly this request.
            match could_serve(sources, &import_request(req, &n, n.size)) {
                Some((0, p)) => Err(Mismatch::BadImport {
                    why: format!("failed without importing although the source had {p:#x}"),
                }),
                Some((k, p)) => Err(Mismatch::BadImport {
                    why: format!(
                        "failed without importing although level {} had {p:#x} for the \
                         source to import",
                        at + 1 + k
                    ),
                }),
                None => Ok(()),
            }
        }
        Err(k) => Err(Mismatch::Outcome {
            expected: match promised {
                Some(p) => format!("a placement such as {p:#x}"),
                None => "NoSpace".into(),
            },
            actual: format!("{k:?}"),
        }),
    }
}

/// Judges and accepts the imports made while `this` (level `at` of the chain, `sources`
/// below it) served `req`, normalized as `n`, with placement `here` in its own spans before.
/// `this` imports at most one span, only without a placement, of the size the contract says;
/// its source serves that span as an allocation of its own, importing in turn by the same
/// rules (judged here, recursively). Verdicts about a level serving an import for the level
/// above it name the level. Returns how many levels imported, from `this` down (0: none).
fn accept_imports<I: AsRef<[(u64, u64)]>>(
    this: &mut ArenaModel,
    sources: &mut [ArenaModel],
    at: usize,
    req: &Request,
    n: &Norm,
    here: Option<u128>,
    cascade: &Cascade<'_, I>,
) -> Result<usize, Mismatch> {
    let bad = |why: String| {
        Err(Mismatch::BadImport {
            why: if at == cascade.top {
                why
            } else {
                format!("level {at}: {why}")
            },
        })
    };
    let mine = cascade.at(at);
    let Some(&(s, l)) = mine.first() else {
        return Ok(0);
    };
    if let Some(p) = here.filter(|_| cascade.complete) {
        return bad(format!("imported although {p:#x} was a placement"));
    }
    if mine.len() > 1 {
        return bad(format!("{} spans imported for one request", mine.len()));
    }
    let (start, end) = (u128::from(s), u128::from(l) + 1);
    if let Err(why) = this.check_import_size(sources, req, n, end - start) {
        return bad(why);
    }
    let q = this.quantum;
    let Some((src, further)) = sources.split_first_mut() else {
        return bad("an arena without a source imported".into());
    };
    if !start.is_multiple_of(q) || !end.is_multiple_of(q) {
        return bad(format!(
            "[{start:#x}, {end:#x}) not a multiple of the quantum"
        ));
    }
    // The source serves the span as an allocation of its own (any placement), importing in
    // turn if it had none: the span has the size the contract asks, so it normalizes as is.
    let w = import_request(req, n, end - start);
    let wn = Norm {
        size: end - start,
        ..*n
    };
    let there = src.lowest_from(0, &wn);
    let below = accept_imports(src, further, at + 1, &w, &wn, there, cascade)?;
    if !src.spans.iter().any(|s| s.start <= start && end <= s.end) {
        return bad(format!("[{start:#x}, {end:#x}) not inside a source span"));
    }
    if src.live.iter().any(|&(s, e)| s < end && start < e) {
        return bad(format!("[{start:#x}, {end:#x}) not free in the source"));
    }
    src.live.push((start, end));
    src.live.sort_unstable();
    this.insert_span(start, end - start, true);
    this.imports += 1;
    Ok(1 + below)
}

/// The models of a chain of arenas (module comment): level 0 is the arena allocations are
/// made from, level `i + 1` the source level `i` imports from, 1 to [`MAX_LEVELS`] levels.
/// Questions about one level go to [`ChainModel::level`]; what changes a level goes through
/// the chain, which judges and applies imports and releases at every level they reach.
#[derive(Clone, Debug)]
pub struct ChainModel {
    /// Level 0 first.
    levels: Vec<ArenaModel>,
}

impl ChainModel {
    /// The chain of `levels`, level 0 first (each but the last built with
    /// [`ArenaModel::importing`] if it rounds its imports up). Panics without a level or
    /// with more than [`MAX_LEVELS`].
    pub fn new(levels: Vec<ArenaModel>) -> ChainModel {
        assert!(
            (1..=MAX_LEVELS).contains(&levels.len()),
            "a chain has 1 to {MAX_LEVELS} levels, not {}",
            levels.len()
        );
        ChainModel { levels }
    }

    /// How many levels it has.
    pub fn depth(&self) -> usize {
        self.levels.len()
    }

    /// Level `i`'s model (panics past the deepest).
    pub fn level(&self, i: usize) -> &ArenaModel {
        &self.levels[i]
    }

    /// Grows level `i`'s span at `start` by `by` (after its [`ArenaModel::predict_grow`] said
    /// yes).
    pub fn grow(&mut self, i: usize, start: u64, by: u64) {
        self.levels[i].grow(start, by);
    }

    /// Adds a static span to level `i` (after its [`ArenaModel::predict_add_span`] said yes).
    pub fn add_span(&mut self, i: usize, base: u64, size: u64) {
        self.levels[i].add_span(base, size);
    }

    /// Judges level `i`'s answer to `req` with `policy`, as [`ArenaModel::judge_alloc_with`]
    /// judges a lone arena's: `imported[k]` lists the spans level `i + k` imported while
    /// serving it (`(start, last)`; lists past the end are empty). On agreement, every level
    /// the request reached is updated.
    pub fn judge_alloc_with<I: AsRef<[(u64, u64)]>>(
        &mut self,
        i: usize,
        req: &Request,
        policy: Policy,
        imported: &[I],
        actual: Result<u64, AllocErrorKind>,
        complete: bool,
    ) -> Result<(), Mismatch> {
        self.judge_alloc_claiming(i, req, policy, imported, actual, claim_of(complete))
    }

    /// [`ChainModel::judge_alloc_with`] for an allocator claiming `claim` for `policy`
    /// (module `claims`): a refusal is a finding only where the claim's completeness says the
    /// request must succeed, and the policy's placement rule is held only if it is `exact`.
    pub fn judge_alloc_claiming<I: AsRef<[(u64, u64)]>>(
        &mut self,
        i: usize,
        req: &Request,
        policy: Policy,
        imported: &[I],
        actual: Result<u64, AllocErrorKind>,
        claim: PolicyClaim,
    ) -> Result<(), Mismatch> {
        judge_in(
            &mut self.levels[i..],
            i,
            req,
            policy,
            imported,
            actual,
            claim,
        )
    }

    /// Judges an exact-address allocation at level `i` ([`ArenaModel::judge_alloc_at`]; it
    /// never imports).
    pub fn judge_alloc_at(
        &mut self,
        i: usize,
        addr: u64,
        size: u64,
        actual: Result<u64, AllocErrorKind>,
    ) -> Result<(), Mismatch> {
        self.levels[i].judge_alloc_at(addr, size, actual)
    }

    /// Frees the allocation at `addr` in level `i` (after its [`ArenaModel::predict_free`]
    /// said yes); a span that leaves holding nothing is released to the level below, where
    /// the release may leave that level's imported span holding nothing, and so on down.
    pub fn free(&mut self, i: usize, addr: u64) {
        let mut a = u128::from(addr);
        for level in &mut self.levels[i..] {
            match level.free_here(a) {
                Some(start) => a = start,
                None => break,
            }
        }
    }
}
