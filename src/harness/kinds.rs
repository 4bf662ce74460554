//! # Kinds: which op kinds and error kinds a case reached
//!
//! `kvafuzz fuzz --json` reports, per target, the share of cases that executed each *op
//! kind* (a variant of the target's op enum: `Alloc`, `FreeAt`, `Map`, ...) and that got each
//! *error kind* back from the allocator (a variant of a typed error: `AllocError::NoSpace`,
//! `FreeError::WrongSize`, ...). Every op's kind and every error's kind is recorded as the
//! case runs, by [`super::drive::drive`] (ops) and [`super::Stats::count_result`] (errors),
//! for every target without a line of its own: a kind is a value's enum variant.
//!
//! ## 1. Names
//!
//! A kind's name is the variant's name as its derived `Debug` prints it, an error's prefixed
//! with its type's name (`AllocError::NoSpace`; a struct's name alone), spaces taken out
//! (`(u8,u8)`). The name is worked
//! out (one `Debug` formatting) the first time a thread meets a variant; after that the
//! variant is found by its discriminant in a per-thread table: a few nanoseconds per op.
//! Only the outermost variant counts (`Err(Nested(Inner))` is `Nested`).
//!
//! ## 2. Sets
//!
//! A case's kinds are a [`KindSet`], a bit per kind: `Copy`, so [`super::Stats`] stays a
//! plain value. The bit numbers come from one table per process that hands out the next
//! number to each new name; they differ between processes (an isolated child sends names,
//! see [`KindSet::names`]) and between runs, the names never do. A process meets at most
//! [`MAX_KINDS`] - 1 names; any further name shares the last bit, named [`MORE_KINDS`] (no
//! process comes near: the largest op enum has a dozen variants, a target's errors a few
//! dozen, and names are shared: every target's `Free` is one kind; all six targets together,
//! as in `cargo test`, name about 140).

use std::any::TypeId;
use std::cell::RefCell;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::mem::Discriminant;
use std::sync::Mutex;

/// Bits in a [`KindSet`]: the most kinds one process tells apart.
pub const MAX_KINDS: usize = 256;

/// 64-bit words in a [`KindSet`].
const WORDS: usize = MAX_KINDS / 64;

/// The name of the last bit, which every name past the first [`MAX_KINDS`] - 1 shares.
pub const MORE_KINDS: &str = "(more-kinds)";

/// Every name met in this process; a name's index is its bit.
static NAMES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The bit of `name` (handed out the first time the name is met).
pub fn bit_of(name: &str) -> u32 {
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = names.iter().position(|n| n == name) {
        return i as u32;
    }
    if names.len() + 1 >= MAX_KINDS {
        if names.len() + 1 == MAX_KINDS {
            names.push(MORE_KINDS.to_string());
        }
        return (MAX_KINDS - 1) as u32;
    }
    names.push(name.to_string());
    (names.len() - 1) as u32
}

/// The name of bit `bit` (`None` if no name has it yet).
fn name_of(bit: u32) -> Option<String> {
    let names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    names.get(bit as usize).cloned()
}

/// A set of kinds (a bit per kind, see the module comment).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KindSet([u64; WORDS]);

impl KindSet {
    /// No kind.
    pub const EMPTY: KindSet = KindSet([0; WORDS]);

    /// Adds the kind with bit `bit` (below [`MAX_KINDS`]).
    pub fn insert_bit(&mut self, bit: u32) {
        if let Some(word) = self.0.get_mut(bit as usize / 64) {
            *word |= 1 << (bit % 64);
        }
    }

    /// Adds the kind called `name`.
    pub fn insert_name(&mut self, name: &str) {
        self.insert_bit(bit_of(name));
    }

    /// Adds every kind of `other`.
    pub fn union(&mut self, other: KindSet) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }

    /// The bits set, lowest first.
    pub fn bits(self) -> impl Iterator<Item = u32> {
        self.0.into_iter().enumerate().flat_map(|(i, word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                let bit = rest.trailing_zeros();
                (rest != 0).then(|| {
                    rest &= rest - 1;
                    i as u32 * 64 + bit
                })
            })
        })
    }

    /// The kinds' names, sorted.
    pub fn names(self) -> Vec<String> {
        let mut names: Vec<String> = self.bits().filter_map(name_of).collect();
        names.sort();
        names
    }

    /// The set of the kinds called `names` (in this process's bits).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> KindSet {
        let mut set = KindSet::EMPTY;
        for n in names {
            set.insert_name(n);
        }
        set
    }
}

impl fmt::Display for KindSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

/// Folds what `Discriminant::hash` writes into a `u64` (a discriminant writes one integer:
/// no need for a keyed hash).
#[derive(Default)]
struct Fold(u64);

impl Hasher for Fold {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
}

/// A variant as a key: its type and the folded discriminant.
fn key<T: 'static>(d: Discriminant<T>) -> (TypeId, u64) {
    let mut h = Fold::default();
    d.hash(&mut h);
    (TypeId::of::<T>(), h.finish())
}

thread_local! {
    /// The variants this thread has met and their bits.
    static SEEN: RefCell<Vec<(TypeId, u64, u32)>> = const { RefCell::new(Vec::new()) };
}

/// The bit of `value`'s variant, naming it with `name` the first time this thread meets it.
fn bit_of_variant<T: 'static>(value: &T, name: impl FnOnce() -> String) -> u32 {
    let (ty, d) = key(std::mem::discriminant(value));
    let found = SEEN.with(|s| {
        s.borrow()
            .iter()
            .find(|&&(t, k, _)| t == ty && k == d)
            .map(|&(_, _, bit)| bit)
    });
    found.unwrap_or_else(|| {
        // No spaces: an isolated child sends names separated by spaces.
        let bit = bit_of(&name().split_whitespace().collect::<String>());
        SEEN.with(|s| s.borrow_mut().push((ty, d, bit)));
        bit
    })
}

/// The leading name of a value printed by a derived `Debug` (`Alloc { .. }` is `Alloc`,
/// `NoSpace` is `NoSpace`), `None` if it does not start with one.
fn leading_name(debug: &str) -> Option<&str> {
    let end = debug
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(debug.len());
    let name = debug.get(..end)?;
    name.starts_with(|c: char| c.is_ascii_uppercase())
        .then_some(name)
}

/// The last segment of a type's path, without generic arguments
/// (`kvafuzz::vmem::AllocError` is `AllocError`).
fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// The bit of the op kind of `op` (its variant's name).
pub fn op_bit<T: fmt::Debug + 'static>(op: &T) -> u32 {
    bit_of_variant(op, || {
        let text = format!("{op:?}");
        leading_name(&text).map_or_else(|| short_type_name::<T>().to_string(), str::to_string)
    })
}

/// The bit of the error kind of `error` (`Type::Variant`, or `Type` for a struct).
pub fn error_bit<E: fmt::Debug + 'static>(error: &E) -> u32 {
    bit_of_variant(error, || {
        let ty = short_type_name::<E>();
        let text = format!("{error:?}");
        match leading_name(&text) {
            Some(v) if v != ty => format!("{ty}::{v}"),
            _ => ty.to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::vmem::Op;
    use crate::vmem::{AllocError, FreeError, Policy};

    /// Names are variant names (errors with their type), whatever the fields hold; the same
    /// variant is the same bit, another variant another.
    #[test]
    fn kinds_are_named_by_variant() {
        let mut ops = KindSet::EMPTY;
        let alloc = |size| Op::AllocSize {
            size,
            policy: Policy::InstantFit,
        };
        ops.insert_bit(op_bit(&alloc(1)));
        ops.insert_bit(op_bit(&alloc(99)));
        ops.insert_bit(op_bit(&Op::Free { handle: 3 }));
        assert_eq!(ops.names(), ["AllocSize", "Free"]);
        assert_ne!(op_bit(&alloc(1)), op_bit(&Op::Free { handle: 0 }));
        let mut errors = KindSet::EMPTY;
        errors.insert_bit(error_bit(&FreeError::WrongSize { allocated: 8 }));
        errors.insert_bit(error_bit(&AllocError::ZeroSize));
        errors.insert_bit(error_bit(&FreeError::ZeroSize));
        errors.insert_bit(error_bit(&()));
        assert_eq!(
            errors.names(),
            [
                "()",
                "AllocError::ZeroSize",
                "FreeError::WrongSize",
                "FreeError::ZeroSize"
            ]
        );
        assert_eq!(
            KindSet::from_names(["AllocError::ZeroSize", "()"]).to_string(),
            "(),AllocError::ZeroSize"
        );
        let mut both = ops;
        both.union(errors);
        assert_eq!(both.names().len(), 6);
        assert!(KindSet::EMPTY.is_empty() && !both.is_empty());
    }

    /// Bits in every word of a set come back in order; a bit past the set is ignored.
    #[test]
    fn sets_hold_every_bit() {
        let mut set = KindSet::EMPTY;
        for bit in [200, 3, 64, 63, 255, 256] {
            set.insert_bit(bit);
        }
        assert_eq!(set.bits().collect::<Vec<_>>(), [3, 63, 64, 200, 255]);
    }

    #[test]
    fn leading_names_and_type_names() {
        assert_eq!(leading_name("Alloc { size: 1 }"), Some("Alloc"));
        assert_eq!(leading_name("0x10"), None);
        assert_eq!(leading_name("(1, 2)"), None);
        assert_eq!(short_type_name::<Vec<u8>>(), "Vec");
        assert_eq!(short_type_name::<AllocError>(), "AllocError");
    }
}
