//! Import and release (module comment, section 5): the source an arena imports spans from,
//! the request it sends down, and the return of an imported span once it is wholly free.

use super::tags::Tag;
use super::types::Checked;
use super::{round_up, AllocError, Arena, Policy, Request};
use crate::addr::Range;

#[cfg(feature = "seeded-bugs")]
use crate::bugs::Bug;

/// A span request from an arena to its source: bytes wanted and the constraints the span must
/// meet as a whole (so that its first `size` bytes are a placement for the triggering request).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportRequest {
    /// The constrained request the span must satisfy.
    pub request: Request,
}

/// Where an arena imports spans from, and releases them to.
pub trait SpanSource {
    /// The source's quantum; must divide the importing arena's quantum.
    fn quantum(&self) -> u64;
    /// A span satisfying `req`, or `None`.
    fn import(&mut self, req: &ImportRequest) -> Option<Range>;
    /// Take back a span returned by [`SpanSource::import`], exactly as imported.
    fn release(&mut self, span: Range);
}

/// The source of an arena without one: never gives anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoSource;

impl SpanSource for NoSource {
    fn quantum(&self) -> u64 {
        1
    }
    fn import(&mut self, _req: &ImportRequest) -> Option<Range> {
        None
    }
    fn release(&mut self, _span: Range) {}
}

/// An arena is a source for other arenas: it imports by `xalloc` (instant fit) and takes
/// spans back by `free`.
impl<S: SpanSource> SpanSource for Arena<S> {
    fn quantum(&self) -> u64 {
        self.quantum
    }
    fn import(&mut self, req: &ImportRequest) -> Option<Range> {
        let size = round_up(req.request.size, self.quantum)?;
        let a = self.xalloc(&req.request, Policy::InstantFit).ok()?;
        Range::new(a, size).ok()
    }
    fn release(&mut self, span: Range) {
        if self.free(span.start(), span.size()).is_err() {
            // A child handed back something we never gave it: remembered, and reported by
            // check_invariants (a release cannot fail from the child's point of view).
            self.failed_releases += 1;
        }
    }
}

impl<S: SpanSource> Arena<S> {
    /// Imports one span for `c` from the source and allocates from it.
    pub(super) fn import_and_alloc(
        &mut self,
        req: &Request,
        c: &Checked,
        policy: Policy,
    ) -> Result<u64, AllocError> {
        if !self.tags_available(4) {
            return Err(AllocError::NoTags);
        }
        let rounded = round_up(c.size, self.import_quantum);
        #[cfg(feature = "seeded-bugs")]
        if let Some(r) = self.import_size_wrap(c, policy) {
            return r;
        }
        let mut attempts = [Some(c.size), None];
        if let Some(r) = rounded {
            if r != c.size {
                attempts = [Some(r), Some(c.size)];
            }
        }
        for size in attempts.into_iter().flatten() {
            // The span must be a multiple of our quantum, not just the source's: the
            // request's alignment (at least our quantum) goes down with it.
            let mut want = *req;
            want.size = size;
            want.align = c.align;
            #[cfg(feature = "seeded-bugs")]
            self.import_ignores_minmax(&mut want);
            let Some(span) = self.source.import(&ImportRequest { request: want }) else {
                continue;
            };
            let ok = span.size() >= c.size
                && span.start() & (self.quantum - 1) == 0
                && span.size() & (self.quantum - 1) == 0
                && self
                    .arch
                    .is_none_or(|a| a.check_range(span.start(), span.size()).is_ok());
            if !ok || self.insert_span(span, true).is_err() {
                // Not usable here (a broken source): hand it straight back.
                self.source.release(span);
                continue;
            }
            self.imports += 1;
            let seg = self.tag(self.spans[&span.start()]).next;
            match self.search(c, policy) {
                Some((t, a)) => return self.commit(t, a, c, policy),
                None => {
                    // The source ignored our constraints: give the span back at once.
                    self.remove_span(self.spans[&span.start()], seg);
                }
            }
        }
        Err(AllocError::NoSpace)
    }

    /// SEEDED BUG ImportSizeWrap (illumos 3179): the import size roundup(size + phase,
    /// import quantum) is computed with wrapping arithmetic; when it wraps, a tiny span is
    /// imported and handed out whole as if it held the request. `None` if the bug is off or
    /// the size does not wrap ([`Arena::import_and_alloc`] goes on), else its outcome.
    #[cfg(feature = "seeded-bugs")]
    fn import_size_wrap(&mut self, c: &Checked, policy: Policy) -> Option<Result<u64, AllocError>> {
        if !self.bug(Bug::ImportSizeWrap) {
            return None;
        }
        let iq = self.import_quantum;
        let wrapped = c.size.wrapping_add(c.phase).wrapping_add(iq - 1) & !(iq - 1);
        if wrapped >= c.size {
            return None;
        }
        let tiny = Request::size(wrapped.max(iq));
        if let Some(span) = self.source.import(&ImportRequest { request: tiny }) {
            if self.insert_span(span, true).is_ok() {
                self.imports += 1;
                let seg = self.tag(self.spans[&span.start()]).next;
                let whole = Checked {
                    size: span.size(),
                    ..*c
                };
                return Some(self.commit(seg, span.start(), &whole, policy));
            }
            self.source.release(span);
        }
        Some(Err(AllocError::NoSpace))
    }

    /// SEEDED BUG ImportIgnoresMinmax (NetBSD, "XXX eeek"): the import forgets the request's
    /// address bounds, so the span `want` may lie where the request cannot go.
    #[cfg(feature = "seeded-bugs")]
    fn import_ignores_minmax(&self, want: &mut Request) {
        if self.bug(Bug::ImportIgnoresMinmax) {
            (want.minaddr, want.maxaddr) = (0, u64::MAX);
        }
    }

    /// Removes an imported span whose only segment is the free segment `seg` (on its free
    /// list), and hands it back to the source.
    pub(super) fn remove_span(&mut self, span: Tag, seg: Tag) {
        let range = Range::from_inclusive(self.tag(span).start, self.tag(span).last)
            .expect("span tags are non-empty");
        let free = *self.tag(seg);
        self.size_index_remove(&free);
        self.list_remove(seg);
        self.unlink(seg);
        self.drop_tag(seg);
        self.unlink(span);
        self.drop_tag(span);
        self.spans.remove(&range.start());
        self.total -= u128::from(range.size());
        self.releases += 1;
        self.source.release(range);
    }
}
