//! The arena model's construction, its read-only queries (spans, live allocations, counts)
//! and its spans (adding and growing them).

use super::*;

impl ArenaModel {
    /// A model of an empty arena with quantum `quantum` on `space`.
    pub fn new(quantum: u64, space: Space) -> ArenaModel {
        ArenaModel {
            quantum: u128::from(quantum),
            space,
            spans: Vec::new(),
            live: Vec::new(),
            rotor: 0,
            import: ImportRule::RoundUp { quantum },
            domain: Domain::VMEM,
            serves_imports: Completeness::Full,
            imports: 0,
            releases: 0,
        }
    }

    /// A model of an arena that rounds what it imports up to `import_quantum` (a multiple of
    /// `quantum`), for a level of a [`ChainModel`] above its source.
    pub fn importing(quantum: u64, import_quantum: u64, space: Space) -> ArenaModel {
        ArenaModel::new(quantum, space).with_import(ImportRule::RoundUp {
            quantum: import_quantum,
        })
    }

    /// The same model importing by `rule` (for a level above its source).
    pub fn with_import(self, rule: ImportRule) -> ArenaModel {
        ArenaModel {
            import: rule,
            ..self
        }
    }

    /// The same model accepting the requests of `domain` ([`ArenaModel::check_request`]).
    pub fn with_domain(self, domain: Domain) -> ArenaModel {
        ArenaModel { domain, ..self }
    }

    /// The same model promising only `completeness` when it serves an import for the level
    /// above: a refusal of the import is then a finding only where that rule's derived
    /// request has a placement ([`Completeness::derive`]).
    pub fn with_import_completeness(self, completeness: Completeness) -> ArenaModel {
        ArenaModel {
            serves_imports: completeness,
            ..self
        }
    }

    /// The quantum (every size, alignment and span is a multiple of it).
    pub fn quantum(&self) -> u64 {
        self.quantum as u64
    }

    /// Spans as `(start, last, imported)`, by address.
    pub fn spans(&self) -> Vec<(u64, u64, bool)> {
        self.spans
            .iter()
            .map(|s| (s.start as u64, (s.end - 1) as u64, s.imported))
            .collect()
    }

    /// Live allocations as `(start, last)`, by address.
    pub fn live(&self) -> Vec<(u64, u64)> {
        self.live
            .iter()
            .map(|&(s, e)| (s as u64, (e - 1) as u64))
            .collect()
    }

    /// Live allocations as [`ArenaModel::live`] lists them, but with allocations that touch
    /// merged into one run (what an allocator that does not keep allocations apart lists).
    pub fn live_merged(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u128, u128)> = Vec::new();
        for &(s, e) in &self.live {
            match out.last_mut() {
                Some(last) if last.1 == s => last.1 = e,
                _ => out.push((s, e)),
            }
        }
        out.into_iter()
            .map(|(s, e)| (s as u64, (e - 1) as u64))
            .collect()
    }

    /// Number of live allocations.
    pub fn live_count(&self) -> usize {
        self.live.len()
    }

    /// The live allocation starting at `addr`, as `(start, last)`.
    pub fn live_at(&self, addr: u64) -> Option<(u64, u64)> {
        let a = u128::from(addr);
        self.live
            .iter()
            .find(|&&(s, _)| s == a)
            .map(|&(s, e)| (s as u64, (e - 1) as u64))
    }

    /// Sum of span sizes.
    pub fn total(&self) -> u128 {
        self.spans.iter().map(|s| s.end - s.start).sum()
    }

    /// Sum of live sizes.
    pub fn in_use(&self) -> u128 {
        self.live.iter().map(|&(s, e)| e - s).sum()
    }

    /// `true` iff `addr` lies in a span: the last span starting at or below it (spans are
    /// sorted and disjoint) ends above it.
    pub fn contains(&self, addr: u64) -> bool {
        let a = u128::from(addr);
        let above = self.spans.partition_point(|s| s.start <= a);
        above > 0 && a < self.spans[above - 1].end
    }

    /// The counters, from the spans and live allocations by brute force: each span's free
    /// runs are the gaps between the allocations inside it.
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            total: self.total(),
            in_use: self.in_use(),
            spans: self.spans.len(),
            imported_spans: self.spans.iter().filter(|s| s.imported).count(),
            allocated: self.live.len(),
            imports: self.imports,
            releases: self.releases,
            ..Counts::default()
        };
        c.free = c.total - c.in_use;
        // Both lists are sorted and every allocation lies in a span: one pass over each.
        let mut live = self.live.iter().peekable();
        for sp in &self.spans {
            let mut cursor = sp.start;
            while let Some(&(s, e)) = live.next_if(|&&(s, _)| s < sp.end) {
                if s > cursor {
                    c.free_runs += 1;
                    c.largest_free = c.largest_free.max(s - cursor);
                }
                cursor = cursor.max(e);
            }
            if sp.end > cursor {
                c.free_runs += 1;
                c.largest_free = c.largest_free.max(sp.end - cursor);
            }
        }
        c
    }

    // ---- spans ----------------------------------------------------------------------------

    /// What adding `[base, base + size)` must do.
    pub fn predict_add_span(&self, base: u64, size: u64) -> Result<(), SpanErrorKind> {
        self.space.check(base, size)?;
        let (b, s) = (u128::from(base), u128::from(size));
        if b % self.quantum != 0 || s % self.quantum != 0 {
            return Err(SpanErrorKind::Misaligned);
        }
        let end = b + s;
        let at_or_below = self
            .spans
            .iter()
            .filter(|sp| sp.start <= b && sp.end > b)
            .max_by_key(|sp| sp.start);
        if let Some(sp) = at_or_below {
            return Err(SpanErrorKind::Overlaps(sp.start as u64));
        }
        let above = self
            .spans
            .iter()
            .filter(|sp| sp.start > b && sp.start < end)
            .min_by_key(|sp| sp.start);
        if let Some(sp) = above {
            return Err(SpanErrorKind::Overlaps(sp.start as u64));
        }
        Ok(())
    }

    /// What growing the span starting at `start` by `by` bytes at its end must do: the span
    /// must be one the caller added, and its new tail `[end, end + by)` must be what
    /// [`ArenaModel::predict_add_span`] accepts (it touches the span, which is no overlap).
    pub fn predict_grow(&self, start: u64, by: u64) -> Result<(), GrowErrorKind> {
        let s = u128::from(start);
        let span = self
            .spans
            .iter()
            .find(|sp| sp.start == s && !sp.imported)
            .ok_or(GrowErrorKind::NoSpan)?;
        let end = u64::try_from(span.end).map_err(|_| GrowErrorKind::Tail(SpanErrorKind::Wraps))?;
        self.predict_add_span(end, by).map_err(GrowErrorKind::Tail)
    }

    /// Grows the span starting at `start` by `by` bytes (after [`ArenaModel::predict_grow`]
    /// said yes).
    pub fn grow(&mut self, start: u64, by: u64) {
        let s = u128::from(start);
        if let Some(span) = self.spans.iter_mut().find(|sp| sp.start == s) {
            span.end += u128::from(by);
        }
    }

    /// Adds a static span (after [`ArenaModel::predict_add_span`] said yes).
    pub fn add_span(&mut self, base: u64, size: u64) {
        self.insert_span(u128::from(base), u128::from(size), false);
    }

    pub(super) fn insert_span(&mut self, start: u128, size: u128, imported: bool) {
        self.spans.push(SpanRec {
            start,
            end: start + size,
            imported,
        });
        self.spans.sort_by_key(|s| s.start);
    }
}
