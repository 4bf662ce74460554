//! The slab target's address map (see [`crate::harness::map`]): per keg, its slabs; per
//! zone, its live items (a packet zone's pairs with both halves), as the slab layer and
//! the harness's record of what it handed out hold them beside the model's.

use kvafuzz_oracles::slab::{self as os, SlabModel};

use crate::harness::map::{AddressMap, Band, Layer, Shade};
use crate::slab::{Item, ItemHooks, KegId, Slabs, ZoneId};

/// An item of `size` bytes at `addr` (and its pair's secondary half of `pair_size`).
fn item_bands(addr: u64, size: u64, pair: Option<(u64, u64)>) -> [Option<Band>; 2] {
    [
        Band::sized(addr, size, Shade::Live),
        pair.and_then(|(a, s)| Band::sized(a, s, Shade::Live)),
    ]
}

/// The map of `slabs` (whose zones handed out `live`, zone by zone) against `model`.
pub(super) fn address_map<H: ItemHooks>(
    slabs: &Slabs<H>,
    model: &SlabModel,
    live: &[Vec<Item>],
) -> AddressMap {
    let mut layers = Vec::new();
    for k in 0..model.keg_count().max(slabs.keg_count()) as u8 {
        layers.push(Layer::new(
            format!("keg {k} slabs"),
            slabs
                .slabs(KegId(k))
                .map(|s| Band::sized(s.base, s.size, Shade::Span)),
            model
                .slab_views(k)
                .unwrap_or_default()
                .into_iter()
                .map(|s| Band::sized(s.base, s.size, Shade::Span)),
        ));
    }
    for z in 0..model.zone_count().max(live.len()) as u8 {
        let ours = slabs.zone_kegs(ZoneId(z)).map(|(home, second)| {
            let size = |k: KegId| slabs.layout(k).map_or(1, |l| l.item_size);
            (size(home), second.map(size))
        });
        let have = match (ours, live.get(usize::from(z))) {
            (Some((size, second)), Some(items)) => items
                .iter()
                .flat_map(|i| item_bands(i.addr, size, i.pair.zip(second)))
                .collect(),
            _ => Vec::new(),
        };
        let theirs = model.zone_kind(z).map(|kind: os::ZoneKind| {
            let size = |k: u8| model.layout(k).map_or(1, |l| l.item_size);
            (size(kind.home()), kind.secondary().map(size))
        });
        let want = match (theirs, model.live_items(z)) {
            (Some((size, second)), Some(items)) => items
                .iter()
                .flat_map(|i| item_bands(i.addr, size, i.pair.zip(second)))
                .collect(),
            _ => Vec::new(),
        };
        layers.push(Layer::new(format!("zone {z} live items"), have, want));
    }
    AddressMap::new(layers)
}
