//! The user's callbacks (module comment, section 5): `init`/`fini` when a slab's items come
//! from and go back to the backend, `ctor`/`dtor` when an item (or a pair) leaves and
//! re-enters its keg(s). Items in magazines and depots stay constructed.

use super::types::{KegId, ZoneId};

/// Callbacks a slab system calls on item transitions. Every method defaults to nothing.
pub trait ItemHooks {
    /// Called for every item of a slab, in item order, right after the slab is taken from
    /// the backend.
    fn init(&mut self, keg: KegId, addr: u64) {
        let _ = (keg, addr);
    }
    /// Called for every item of a slab, in item order, right before the slab goes back to
    /// the backend.
    fn fini(&mut self, keg: KegId, addr: u64) {
        let _ = (keg, addr);
    }
    /// Called when an item (a packet zone: a pair, `pair` the secondary's address) leaves
    /// its keg(s) for `zone`.
    fn ctor(&mut self, zone: ZoneId, addr: u64, pair: Option<u64>) {
        let _ = (zone, addr, pair);
    }
    /// Called right before an item (or a pair) goes back to its keg(s) from `zone`.
    fn dtor(&mut self, zone: ZoneId, addr: u64, pair: Option<u64>) {
        let _ = (zone, addr, pair);
    }
}

/// Hooks that do nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoHooks;

impl ItemHooks for NoHooks {}
