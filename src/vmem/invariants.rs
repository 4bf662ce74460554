//! [`Arena::check_invariants`]: every invariant of the module comment, section 7, checked
//! from scratch by walking the tags.

use alloc::format;
use alloc::string::String;

use super::tags::LIST_HEAD;
use super::{Arena, InvariantError, Kind, SpanSource, Tag, FREELISTS, NIL};

fn broken(invariant: &'static str, detail: String) -> Result<(), InvariantError> {
    Err(InvariantError { invariant, detail })
}

pub(super) fn check<S: SpanSource>(a: &Arena<S>) -> Result<(), InvariantError> {
    if a.tags.len() > a.max_tags {
        return broken(
            "the tag slab is within the arena's limit",
            format!("{} slots, limit {}", a.tags.len(), a.max_tags),
        );
    }
    let q = a.quantum;
    let mut prev: Tag = NIL;
    let mut t = a.head;
    let mut span_end: Option<u64> = None; // last byte of the current span
    let mut next_expected: Option<u64> = None; // where the next segment must start
    let mut prev_kind: Option<Kind> = None;
    let (mut total, mut in_use, mut free_bytes) = (0u128, 0u128, 0u128);
    let (mut spans, mut allocated, mut free_segs) = (0usize, 0usize, 0usize);
    let mut last_span_start: Option<u64> = None;
    let mut steps = 0usize;
    while t != NIL {
        steps += 1;
        if steps > a.tags.len() {
            return broken(
                "address list is acyclic",
                format!("more than {} tags", steps),
            );
        }
        let tag = a.tag(t);
        if tag.prev != prev {
            return broken(
                "address list links agree",
                format!("tag {t} prev {}", tag.prev),
            );
        }
        if tag.start > tag.last {
            return broken("tags are non-empty", format!("tag {t}"));
        }
        if tag.start & (q - 1) != 0 || (tag.last - tag.start + 1) & (q - 1) != 0 {
            return broken(
                "everything is a multiple of the quantum",
                format!("tag {t} [{:#x}, {:#x}] q {q:#x}", tag.start, tag.last),
            );
        }
        match tag.kind() {
            Kind::Span { imported } => {
                if let Some(e) = next_expected {
                    return broken(
                        "segments tile their span",
                        format!("span ended before {e:#x} was covered"),
                    );
                }
                if let Some(s) = last_span_start {
                    if tag.start <= s {
                        return broken("spans sorted", format!("{:#x} after {s:#x}", tag.start));
                    }
                }
                if let Some(e) = span_end {
                    if tag.start <= e {
                        return broken("spans do not overlap", format!("{:#x}", tag.start));
                    }
                }
                if a.spans.get(&tag.start) != Some(&t) {
                    return broken("span index agrees", format!("span {:#x}", tag.start));
                }
                last_span_start = Some(tag.start);
                span_end = Some(tag.last);
                next_expected = Some(tag.start);
                spans += 1;
                total += u128::from(tag.size());
                if imported && tag.next != NIL {
                    let n = a.tag(tag.next);
                    if n.kind() == Kind::Free && n.start == tag.start && n.last == tag.last {
                        return broken(
                            "no imported span is wholly free",
                            format!("span {:#x}", tag.start),
                        );
                    }
                }
            }
            Kind::Free | Kind::Allocated => {
                let Some(e) = next_expected else {
                    return broken("segments tile their span", format!("stray tag {t}"));
                };
                if tag.start != e {
                    return broken(
                        "segments tile their span",
                        format!("segment at {:#x}, expected {e:#x}", tag.start),
                    );
                }
                let end = span_end.unwrap_or(0);
                if tag.last > end {
                    return broken("segments tile their span", format!("tag {t} past span"));
                }
                next_expected = if tag.last == end {
                    None
                } else {
                    Some(tag.last + 1)
                };
                if tag.kind() == Kind::Free {
                    if prev_kind == Some(Kind::Free) {
                        return broken("free segments coalesced", format!("at {:#x}", tag.start));
                    }
                    if let Some(ix) = &a.by_size {
                        if ix.get(&(tag.size(), tag.start)) != Some(&t) {
                            return broken(
                                "size index holds exactly the free segments",
                                format!("free segment {:#x} not indexed", tag.start),
                            );
                        }
                    }
                    free_segs += 1;
                    free_bytes += u128::from(tag.size());
                } else {
                    if a.allocated.get(tag.start, &a.tags) != Some(t) {
                        return broken(
                            "allocated index agrees",
                            format!("segment {:#x} not indexed", tag.start),
                        );
                    }
                    allocated += 1;
                    in_use += u128::from(tag.size());
                }
            }
            Kind::Unused => return broken("no unused tag is linked", format!("tag {t}")),
        }
        prev_kind = Some(tag.kind());
        prev = t;
        t = tag.next;
    }
    if prev != a.tail {
        return broken("tail agrees", format!("tail {} last {prev}", a.tail));
    }
    if let Some(e) = next_expected {
        return broken(
            "segments tile their span",
            format!("{e:#x} uncovered at end"),
        );
    }
    if spans != a.spans.len() {
        return broken(
            "span index agrees",
            format!("{spans} tags, {} indexed", a.spans.len()),
        );
    }
    if let Some(ix) = &a.by_size {
        if ix.len() != free_segs {
            return broken(
                "size index holds exactly the free segments",
                format!("{free_segs} free segments, {} indexed", ix.len()),
            );
        }
    }
    if let Err(detail) = a.allocated.check(&a.tags) {
        return broken("allocated index agrees", detail);
    }
    if allocated != a.allocated.len() {
        return broken(
            "allocated index agrees",
            format!("{allocated} segments, {} indexed", a.allocated.len()),
        );
    }
    // Free lists and the free map.
    // A tag a merge parked (`Arena::settle`) is still on its list, and nowhere else: it is no
    // segment (the walk above did not meet it, or the count below would be one short).
    let parked = usize::from(a.parked != NIL);
    let mut parked_found = false;
    let mut listed = 0usize;
    for l in 0..FREELISTS {
        let nonempty = a.lists[l] != NIL;
        if nonempty != (a.freemap >> l & 1 == 1) {
            return broken(
                "freemap bit n set iff list n non-empty",
                format!("list {l}"),
            );
        }
        let mut p = LIST_HEAD;
        let mut f = a.lists[l];
        while f != NIL {
            listed += 1;
            parked_found |= f == a.parked;
            if listed > free_segs + parked {
                return broken(
                    "free lists hold exactly the free segments",
                    format!("list {l}"),
                );
            }
            let seg = a.tag(f);
            // `list()` is the size class less the lag (a wrapped value past every list if corrupt).
            if seg.kind() != Kind::Free || seg.list_prev != p || seg.list() != l {
                return broken(
                    "free segment on list n iff its class less its lag is n",
                    format!("tag {f} on list {l}"),
                );
            }
            p = f;
            f = seg.list_link();
        }
    }
    if listed != free_segs + parked || parked_found != (parked == 1) {
        return broken(
            "free lists hold exactly the free segments",
            format!("{listed} listed, {free_segs} free, {parked} parked (found: {parked_found})"),
        );
    }
    if total != a.total || in_use != a.in_use || free_bytes + in_use != total {
        return broken(
            "free + allocated = spans",
            format!(
                "spans {total} (counted {}), allocated {in_use} (counted {}), free {free_bytes}",
                a.total, a.in_use
            ),
        );
    }
    if a.failed_releases != 0 {
        return broken(
            "every release matches an import",
            format!("{} releases did not", a.failed_releases),
        );
    }
    Ok(())
}
