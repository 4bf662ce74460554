//! The vmem target's address map (see [`crate::harness::map`]): per level of the chain, its
//! spans (imported ones shaded apart) and its allocations, as the allocator lists them and as
//! the model holds them.

use kvafuzz_oracles::vmem::ChainModel;

use super::adapter::{Level, RangeAllocator};
use crate::harness::map::{AddressMap, Band, Layer, Shade};

/// A span `(start, last, imported)` as a band.
fn span_band(&(start, last, imported): &(u64, u64, bool)) -> Option<Band> {
    let shade = if imported {
        Shade::Imported
    } else {
        Shade::Span
    };
    Band::new(start, last, shade)
}

/// An allocation `(start, last)` as a band.
fn live_band(&(start, last): &(u64, u64)) -> Option<Band> {
    Band::new(start, last, Shade::Live)
}

/// The map of `alloc` against `model`, every modelled level; the model's allocations as
/// merged runs when the allocator lists them so (`merged`, its `Caps::merges_allocations`).
pub(super) fn address_map<A: RangeAllocator>(
    alloc: &A,
    model: &ChainModel,
    merged: bool,
) -> AddressMap {
    let mut layers = Vec::new();
    for level in Level::first(model.depth()) {
        let m = model.level(level.index());
        layers.push(Layer::new(
            format!("{level} spans"),
            alloc.spans(level).iter().map(span_band),
            m.spans().iter().map(span_band),
        ));
        layers.push(Layer::new(
            format!("{level} allocations"),
            alloc.allocated(level).iter().map(live_band),
            if merged { m.live_merged() } else { m.live() }
                .iter()
                .map(live_band),
        ));
    }
    AddressMap::new(layers)
}
