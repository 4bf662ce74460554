//! The vmap target's address map (see [`crate::harness::map`]): per space, its busy and
//! lazily freed areas, their guard pages and the free space between them, as the space
//! lists them and as the model holds them; for the vmalloc layer also the pages its page
//! tables map against the pages the judge expects mapped.

use kvafuzz_oracles::vmap::{AreaState as OAreaState, VmapModel};

use super::pages::Pages;
use crate::addr::PAGE_SIZE;
use crate::harness::map::{free_between, listed, merged_runs, Band, Layer, Shade};
use crate::mmu::Asid;
use crate::vmap::{AreaState, Vmalloc, VmapSpace};

/// An area `(start, size, guard, lazy)` as bands: its pages, then its guard page.
fn area_bands((start, size, guard, lazy): (u64, u64, bool, bool)) -> [Option<Band>; 2] {
    let shade = if lazy { Shade::Lazy } else { Shade::Live };
    let pages = Band::sized(start, size, shade);
    let guard_band = match (guard, pages) {
        (true, Some(p)) => p
            .last
            .checked_add(1)
            .and_then(|g| Band::sized(g, PAGE_SIZE, Shade::Guard)),
        _ => None,
    };
    [pages, guard_band]
}

/// One side of a space's layer: the areas' bands and the free space between them within
/// `[first, last]`.
fn side(first: u64, last: u64, areas: &[(u64, u64, bool, bool)]) -> Vec<Option<Band>> {
    let mut bands: Vec<Option<Band>> = areas.iter().flat_map(|&a| area_bands(a)).collect();
    let extents: Vec<(u64, u64)> = bands.iter().flatten().map(|b| (b.start, b.last)).collect();
    bands.extend(free_between(first, last, &extents));
    bands
}

/// The layer of `space` (called `name`) against the model.
pub(super) fn space_layer(space: &VmapSpace, name: &str, model: &VmapModel) -> Layer {
    let cfg = space.config();
    let have: Vec<_> = space
        .areas()
        .map(|a| (a.start, a.size, a.guard, a.state == AreaState::Lazy))
        .collect();
    let want: Vec<_> = model
        .areas()
        .iter()
        .map(|a| (a.start, a.size, a.guard, a.state == OAreaState::Lazy))
        .collect();
    Layer::new(
        format!("{name} areas"),
        side(cfg.start, cfg.last, &have),
        side(model.start(), model.last(), &want),
    )
}

/// The vmalloc layer's mapped pages: its kernel page table's leaves in the space, merged
/// into runs, against the busy vmalloc'd areas' pages the judge holds.
pub(super) fn mapped_layer(vm: &Vmalloc, pages: &Pages) -> Layer {
    let cfg = vm.space().config();
    let (leaves, note) = listed(|| vm.mmu().leaves(Asid::KERNEL, cfg.start, cfg.last));
    let have = merged_runs(
        leaves
            .iter()
            .map(|t| (t.page_base, t.page_base.saturating_add(t.page_size - 1))),
        Shade::Mapped,
    );
    let want = merged_runs(
        pages
            .mapped()
            .filter_map(|(start, bytes)| Band::sized(start, bytes, Shade::Mapped))
            .map(|b| (b.start, b.last)),
        Shade::Mapped,
    );
    Layer::new(
        format!("vmalloc mapped pages{note}"),
        have.into_iter().map(Some),
        want.into_iter().map(Some),
    )
}
