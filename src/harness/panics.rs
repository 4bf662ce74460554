//! # Catching panics, with their location
//!
//! Every panic the harness turns into a finding is caught by [`catch`]. A panic payload is
//! only the message; where the panic happened is known only to the panic hook. So one hook,
//! installed once per process (it wraps the hook that was there before), records the
//! location of every panic raised on a thread that is inside [`catch`] in a thread-local slot,
//! which `catch` reads when the unwind reaches it. The hook is global, its behaviour
//! thread-local: swapping the process's hook per catch would race when catches run side by
//! side (campaign jobs, parallel tests) and could leave a hook of ours in place for good.
//! The same hook stays silent on threads that asked for quiet ([`QuietScope`]: campaign jobs
//! and the minimizer, where a panic is an input's finding, not news) and hands every other
//! panic to the previous hook, so tests and ordinary panics print as before.
//!
//! ## Where a panic came from
//!
//! A location's file is what the compiler was given: relative to the workspace for the
//! crates being built, absolute for dependencies (`~/.cargo/registry/src/<index>/<crate>-<v>/`)
//! and for the standard library (`/rustc/<commit>/library/`). [`PanicLocation::new`] turns
//! it into a machine-independent file name (registry and toolchain prefixes dropped) and an
//! [`PanicOrigin`]:
//!
//! - kvafuzz's own files: `src/harness/` (the harness and the built-in targets' adapter glue)
//!   and the oracles are the [adapter](PanicOrigin::Adapter) side; every other `src/` folder
//!   (`src/vmem/`, `src/slab/`, ...) is an allocator under test, the
//!   [crate](PanicOrigin::Crate);
//! - any other file of the workspace being built (a user's adapter, a test, `peers/`) is the
//!   adapter side; a dependency's file (the published allocator a user adapter wraps) is the
//!   crate;
//! - the standard library is [`PanicOrigin::Std`]: a std panic that is not `#[track_caller]`
//!   names no caller, so the location cannot tell whose call it was.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use super::panic_message;

/// Where a panic was raised: a file (machine-independent, see the module comment), a line and
/// a column, and which side of the adapter boundary that file is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanicLocation {
    /// The source file, without registry or toolchain prefixes.
    pub file: String,
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
    /// The side the file is on.
    pub origin: PanicOrigin,
}

/// Which side of the adapter boundary a panic was raised on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PanicOrigin {
    /// The harness, the oracles, or the adapter glue driving the allocator (a built-in
    /// target's folder under `src/harness/`, a user's adapter).
    Adapter,
    /// The allocator under test (kvafuzz's allocator folders, or the dependency a user's
    /// adapter wraps).
    Crate,
    /// The standard library, which did not say who called it.
    Std,
}

impl PanicOrigin {
    /// `adapter`, `crate` or `std`.
    pub fn name(self) -> &'static str {
        match self {
            PanicOrigin::Adapter => "adapter",
            PanicOrigin::Crate => "crate",
            PanicOrigin::Std => "std",
        }
    }
}

impl fmt::Display for PanicOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The file of this module as the compiler saw it: what precedes `src/harness/` in it is
/// where kvafuzz's own sources are (empty when kvafuzz is the workspace being built).
const THIS_FILE: &str = file!();

/// This file's path inside kvafuzz.
const THIS_FILE_IN_CRATE: &str = "src/harness/panics.rs";

/// Where the standard library's sources sit in a panic location (the toolchain's commit
/// prefix, or the rust-src component's folder).
const STD_MARKERS: [&str; 2] = ["/rustc/", "/lib/rustlib/src/rust/"];

/// Where a cargo registry's unpacked crates sit (followed by the index's folder).
const REGISTRY_MARKER: &str = "/registry/src/";

/// Where cargo's git checkouts sit (followed by the repository's folder and the commit).
const GIT_MARKER: &str = "/git/checkouts/";

impl PanicLocation {
    /// The location of a panic raised at `file`, `line`, `column` (`file` as the compiler
    /// gave it), classified as the module comment says.
    pub fn new(file: &str, line: u32, column: u32) -> PanicLocation {
        let (file, origin) = classify(file);
        PanicLocation {
            file,
            line,
            column,
            origin,
        }
    }
}

impl fmt::Display for PanicLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// The part of `path` after the first `marker`, then after `skip` more folders.
fn after(path: &str, marker: &str, skip: usize) -> Option<String> {
    let at = path.find(marker)?;
    let mut rest = &path[at + marker.len()..];
    for _ in 0..skip {
        rest = &rest[rest.find('/')? + 1..];
    }
    Some(rest.to_string())
}

/// A compiler-given source path as a machine-independent file name, and its side (see the
/// module comment).
pub fn classify(path: &str) -> (String, PanicOrigin) {
    if let Some(rest) = STD_MARKERS
        .iter()
        .find_map(|m| after(path, m, usize::from(*m == STD_MARKERS[0])))
    {
        return (format!("<rust>/{rest}"), PanicOrigin::Std);
    }
    let root = THIS_FILE
        .strip_suffix(THIS_FILE_IN_CRATE)
        .unwrap_or_default();
    let relative = !path.starts_with('/');
    let ours = if root.is_empty() {
        relative.then_some(path)
    } else {
        path.strip_prefix(root)
    };
    let file = after(path, REGISTRY_MARKER, 1)
        .or_else(|| after(path, GIT_MARKER, 0))
        .unwrap_or_else(|| path.to_string());
    let origin = match ours {
        Some(inner) if inner.starts_with("src/harness/") => PanicOrigin::Adapter,
        Some(inner) if inner.starts_with("src/") => PanicOrigin::Crate,
        // The workspace's other files (oracles, tests, user adapters) are the adapter side,
        // and so is the oracle crate fetched as a dependency.
        Some(_) => PanicOrigin::Adapter,
        None if relative || file.starts_with("kvafuzz-oracles-") => PanicOrigin::Adapter,
        None => PanicOrigin::Crate,
    };
    (file, origin)
}

/// A caught panic: its message and, when the hook saw it, where it was raised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanicReport {
    /// What `panic!` was given, if it was text.
    pub message: String,
    /// Where it was raised (`None` if another hook replaced this module's, or the payload
    /// was resumed without a hook call).
    pub location: Option<PanicLocation>,
}

impl PanicReport {
    /// A panic with `message` raised at `location`.
    pub fn new(message: impl Into<String>, location: Option<PanicLocation>) -> PanicReport {
        PanicReport {
            message: message.into(),
            location,
        }
    }
}

impl fmt::Display for PanicReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(l) = &self.location {
            write!(f, " (at {l}, {})", l.origin)?;
        }
        Ok(())
    }
}

thread_local! {
    /// How many [`catch`]es this thread is inside.
    static CATCHING: Cell<u32> = const { Cell::new(0) };
    /// The location of the last panic raised on this thread inside a [`catch`].
    static LAST: RefCell<Option<PanicLocation>> = const { RefCell::new(None) };
    /// Whether panics on this thread stay silent ([`QuietScope`]).
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Installs the hook of the module comment, once per process.
fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) > 0 {
                let at = info
                    .location()
                    .map(|l| PanicLocation::new(l.file(), l.line(), l.column()));
                LAST.with(|last| *last.borrow_mut() = at);
            }
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, catching a panic as a [`PanicReport`] with its location.
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, PanicReport> {
    install();
    LAST.with(|last| last.borrow_mut().take());
    CATCHING.with(|c| c.set(c.get() + 1));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(c.get() - 1));
    r.map_err(|payload| PanicReport {
        message: panic_message(&*payload),
        location: LAST.with(|last| last.borrow_mut().take()),
    })
}

/// While alive, panics on this thread are not printed (they are still caught and located);
/// the previous setting comes back when it drops, even by a panic.
pub struct QuietScope(bool);

impl QuietScope {
    /// Silences panics on this thread until the scope ends.
    pub fn new() -> QuietScope {
        install();
        QuietScope(QUIET.with(|q| q.replace(true)))
    }
}

impl Default for QuietScope {
    fn default() -> QuietScope {
        QuietScope::new()
    }
}

impl Drop for QuietScope {
    fn drop(&mut self) {
        QUIET.with(|q| q.set(self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_carries_its_file_and_line() {
        let line = line!() + 1;
        let r = catch(|| -> u32 { panic!("here {}", 3) });
        let report = r.unwrap_err();
        assert_eq!(report.message, "here 3");
        let at = report.location.expect("the hook saw it");
        assert_eq!(at.file, "src/harness/panics.rs");
        assert_eq!(at.line, line);
        assert_eq!(at.origin, PanicOrigin::Adapter);
        assert_eq!(catch(|| 5), Ok(5));
    }

    #[test]
    fn nested_catches_each_see_their_own_panic() {
        let outer = catch(|| {
            let inner = catch(|| -> () { panic!("inner") }).unwrap_err();
            assert_eq!(inner.message, "inner");
            panic!("outer");
        })
        .unwrap_err();
        assert_eq!(outer.message, "outer");
        assert!(outer.location.is_some());
    }

    #[test]
    fn files_are_classified_by_side() {
        for (path, file, origin) in [
            (
                "src/harness/vmem/machine.rs",
                "src/harness/vmem/machine.rs",
                PanicOrigin::Adapter,
            ),
            (
                "src/harness/drive.rs",
                "src/harness/drive.rs",
                PanicOrigin::Adapter,
            ),
            ("src/vmem/arena.rs", "src/vmem/arena.rs", PanicOrigin::Crate),
            ("src/slab/keg.rs", "src/slab/keg.rs", PanicOrigin::Crate),
            (
                "oracles/src/vmem.rs",
                "oracles/src/vmem.rs",
                PanicOrigin::Adapter,
            ),
            ("tests/adapter.rs", "tests/adapter.rs", PanicOrigin::Adapter),
            (
                "peers/src/range_alloc.rs",
                "peers/src/range_alloc.rs",
                PanicOrigin::Adapter,
            ),
            (
                "/home/u/.cargo/registry/src/index.crates.io-19/range-alloc-0.1.4/src/lib.rs",
                "range-alloc-0.1.4/src/lib.rs",
                PanicOrigin::Crate,
            ),
            (
                "/home/u/.cargo/git/checkouts/talc-0123/abcdef/src/talc.rs",
                "talc-0123/abcdef/src/talc.rs",
                PanicOrigin::Crate,
            ),
            (
                "/rustc/17067e9ac6d7e98f18d4d2ba1d4b3e7bd9ed0e4e/library/core/src/option.rs",
                "<rust>/library/core/src/option.rs",
                PanicOrigin::Std,
            ),
            (
                "/home/u/.rustup/toolchains/x/lib/rustlib/src/rust/library/alloc/src/raw_vec.rs",
                "<rust>/library/alloc/src/raw_vec.rs",
                PanicOrigin::Std,
            ),
        ] {
            assert_eq!(classify(path), (file.to_string(), origin), "{path}");
        }
    }
}
