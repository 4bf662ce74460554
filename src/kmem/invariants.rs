//! kmem's invariants (module comment, section 6), checked from scratch.

use alloc::collections::BTreeMap;

use super::{Kmem, KmemInvariantError, Route, SizeClass, KMEM_CLASSES, KMEM_REDZONE};
use crate::vmem::SegmentView;

/// Start -> size of every allocated segment of a segment walk.
fn allocated(segments: impl Iterator<Item = SegmentView>) -> BTreeMap<u64, u64> {
    segments
        .filter_map(|v| match v {
            SegmentView::Allocated(r) => Some((r.start(), r.size())),
            _ => None,
        })
        .collect()
}

/// Checks every invariant of the module comment, section 6.
pub(super) fn check(k: &Kmem) -> Result<(), KmemInvariantError> {
    k.map()
        .check_invariants()
        .map_err(KmemInvariantError::Map)?;
    k.arena
        .check_invariants()
        .map_err(KmemInvariantError::Arena)?;
    k.classes
        .check_invariants()
        .map_err(KmemInvariantError::Classes)?;
    check_claims(k)?;
    check_spans(k)?;
    check_records(k)
}

/// The kmem arena's allocated segments are exactly the cache slabs, the class slabs and the
/// large objects' extents, one segment each.
fn check_claims(k: &Kmem) -> Result<(), KmemInvariantError> {
    let mut segments = allocated(k.arena.arena().segments());
    let mut claim = |addr: u64, size: u64| match segments.remove(&addr) {
        Some(s) if s == size => Ok(()),
        _ => Err(KmemInvariantError::ClaimWrong { addr }),
    };
    for (base, size) in k.arena.cache_slabs() {
        claim(base, size)?;
    }
    for i in 0..KMEM_CLASSES.len() as u8 {
        let Some(c) = SizeClass::new(i) else { continue };
        for v in k.classes.slabs(Kmem::class_keg(c)) {
            claim(v.base, v.size)?;
        }
    }
    let guard = k.guard_bytes();
    for (&addr, r) in k.records.iter().filter(|(_, r)| r.route == Route::Large) {
        let total = r
            .chunk
            .checked_add(guard)
            .ok_or(KmemInvariantError::ClaimWrong { addr })?;
        claim(addr, total)?;
    }
    match segments.keys().next() {
        Some(&start) => Err(KmemInvariantError::SegmentUnclaimed { start }),
        None => Ok(()),
    }
}

/// The kmem arena's spans are all imported, each exactly one allocated segment of the map,
/// and the map holds no other allocated segment.
fn check_spans(k: &Kmem) -> Result<(), KmemInvariantError> {
    let mut map = allocated(k.map().segments());
    for v in k.arena.arena().segments() {
        if let SegmentView::Span { range, imported } = v {
            let start = range.start();
            if !imported || map.remove(&start) != Some(range.size()) {
                return Err(KmemInvariantError::SpanNotInMap { start });
            }
        }
    }
    match map.keys().next() {
        Some(&start) => Err(KmemInvariantError::MapSegmentUnclaimed { start }),
        None => Ok(()),
    }
}

/// Every record agrees with its size, records never overlap, small objects are recorded
/// only in debug mode, and (debug mode) each zone's live count is its records' count.
fn check_records(k: &Kmem) -> Result<(), KmemInvariantError> {
    let debug = k.config.debug;
    let pad = if debug { KMEM_REDZONE } else { 0 };
    let guard = k.guard_bytes();
    let mut counts: BTreeMap<Route, u64> = BTreeMap::new();
    // The inclusive last byte (chunk and guard) of the previous record, and its address.
    let mut prev: Option<(u64, u64)> = None;
    for (&addr, r) in &k.records {
        let s = r.size.saturating_add(pad);
        let ok = r.size >= 1
            && r.size <= super::MAX_KMEM_SIZE
            && Route::of(s) == r.route
            && r.route.chunk(s) == u128::from(r.chunk)
            && addr % r.route.align() == 0
            && (debug || r.route == Route::Large);
        if !ok {
            return Err(KmemInvariantError::RecordWrong { addr });
        }
        let extent =
            u128::from(r.chunk) + u128::from(if r.route == Route::Large { guard } else { 0 });
        let last = u64::try_from(u128::from(addr) + extent - 1)
            .map_err(|_| KmemInvariantError::RecordWrong { addr })?;
        if let Some((prev_last, first)) = prev {
            if prev_last >= addr {
                return Err(KmemInvariantError::RecordsOverlap {
                    first,
                    second: addr,
                });
            }
        }
        prev = Some((last, addr));
        *counts.entry(r.route).or_insert(0) += 1;
    }
    if !debug {
        return Ok(());
    }
    let routes = (1..=super::KMEM_QCACHE_QUANTA as u8)
        .filter_map(super::Quanta::new)
        .map(Route::Quantum)
        .chain(
            (0..KMEM_CLASSES.len() as u8)
                .filter_map(SizeClass::new)
                .map(Route::Class),
        );
    for route in routes {
        let live = k.zone_stats(route).map_or(0, |z| z.live);
        if live != counts.get(&route).copied().unwrap_or(0) {
            return Err(KmemInvariantError::LiveCountWrong { route });
        }
    }
    Ok(())
}
