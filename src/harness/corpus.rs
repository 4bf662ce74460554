//! # The corpus file format
//!
//! A corpus file (`corpus/<target>/<what-it-checks>.bin`) is one header line, then the
//! payload: the bytes a fuzz engine would hand the harness.
//!
//! ```text
//! kvafuzz-corpus <target> v<version>\n<payload bytes>
//! ```
//!
//! `<target>` is the target's name and `<version>` the version of its op language the payload
//! is written in (decimal, [`super::Target::VERSION`] when written). A target bumps its
//! version whenever the same bytes would decode to another scenario, and either keeps reading
//! the old version ([`super::Target::decode_version`]) or leaves old files to
//! `kvafuzz corpus migrate`, which rewrites each file it can read in the current version and
//! frames raw files (a cargo-fuzz or AFL artifact copied in) as the current version.
//!
//! The header is a framing that every engine's raw input still decodes under: [`parse`] calls
//! anything that does not start with [`MAGIC`] raw, and the entry point
//! ([`super::run`]) reads a header only when it names its own target in a version it can
//! decode, taking the whole input as raw bytes otherwise (a fuzzer that mutates a corpus
//! file's header gets an ordinary input, never a failure). The corpus test and
//! `kvafuzz replay` are strict ([`load`]): a file in a version its target cannot read, or
//! for another target, or with a broken header, is refused with a message that says so.

use std::fmt;

use super::target::AnyTarget;

/// How a corpus header starts.
pub const MAGIC: &[u8] = b"kvafuzz-corpus ";

/// The longest header line [`parse`] looks at, newline included.
pub const MAX_HEADER: usize = 80;

/// What a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing<'a> {
    /// No header: raw engine input, in the current version of whatever target reads it.
    Raw(&'a [u8]),
    /// A header and the payload after it.
    Framed {
        /// The target the header names.
        target: &'a str,
        /// The op-language version the header names.
        version: u16,
        /// The bytes after the header line.
        payload: &'a [u8],
    },
}

/// Why a file cannot be replayed as a corpus file of its target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorpusError {
    /// It starts with [`MAGIC`] but the rest of the line is not `<target> v<number>`.
    BadHeader(String),
    /// The header names another target.
    OtherTarget {
        /// The target replaying it.
        expected: &'static str,
        /// The target the header names.
        found: String,
    },
    /// The target cannot read this version of its op language.
    UnknownVersion {
        /// The target.
        target: &'static str,
        /// The version the file is in.
        found: u16,
        /// The version the target writes.
        current: u16,
    },
    /// No header at all (a raw engine input): the corpus test wants every file to say its
    /// version.
    NoHeader {
        /// The target.
        target: &'static str,
    },
}

impl fmt::Display for CorpusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorpusError::BadHeader(line) => write!(
                f,
                "broken corpus header {line:?} (expected `kvafuzz-corpus <target> v<N>`)"
            ),
            CorpusError::OtherTarget { expected, found } => write!(
                f,
                "a corpus file of target {found}, replayed as {expected} (move it, or use \
                 --target {found})"
            ),
            CorpusError::UnknownVersion {
                target,
                found,
                current,
            } => write!(
                f,
                "written in version {found} of the {target} op language, which this build \
                 cannot read (it reads v{current}); rebuild the file from its trace, or \
                 migrate it with a build that reads v{found}"
            ),
            CorpusError::NoHeader { target } => write!(
                f,
                "no corpus header (a raw engine input?): `kvafuzz corpus migrate` frames it as \
                 the current version of {target}'s op language"
            ),
        }
    }
}

impl std::error::Error for CorpusError {}

/// Splits `data` into its header and payload (see the module comment). Raw data is
/// `Ok(Raw)`; data that starts with [`MAGIC`] but has no well-formed header line within
/// [`MAX_HEADER`] bytes is an error.
pub fn parse(data: &[u8]) -> Result<Framing<'_>, CorpusError> {
    let Some(rest) = data.strip_prefix(MAGIC) else {
        return Ok(Framing::Raw(data));
    };
    let window = &rest[..rest.len().min(MAX_HEADER - MAGIC.len())];
    let bad = || {
        CorpusError::BadHeader(
            String::from_utf8_lossy(&data[..data.len().min(MAX_HEADER)]).into_owned(),
        )
    };
    let end = window.iter().position(|&b| b == b'\n').ok_or_else(bad)?;
    let line = std::str::from_utf8(&rest[..end]).map_err(|_| bad())?;
    let (target, version) = line.split_once(' ').ok_or_else(bad)?;
    let version = version
        .strip_prefix('v')
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse().ok())
        .ok_or_else(bad)?;
    if target.is_empty() || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Framing::Framed {
        target,
        version,
        payload: &rest[end + 1..],
    })
}

/// `payload` framed as a corpus file of `target` in `version`.
pub fn frame(target: &str, version: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(format!("{target} v{version}\n").as_bytes());
    out.extend_from_slice(payload);
    out
}

/// `payload` framed as a corpus file of `target` in its current version.
pub fn frame_current(target: &dyn AnyTarget, payload: &[u8]) -> Vec<u8> {
    frame(target.name(), target.version(), payload)
}

/// A corpus file of `target`, strictly: its version and payload, or why it cannot be
/// replayed as one. `raw_ok` accepts a file without a header (as the current version), as
/// `kvafuzz replay` does for engine artifacts; the corpus test does not.
pub fn load<'a>(
    target: &dyn AnyTarget,
    data: &'a [u8],
    raw_ok: bool,
) -> Result<(u16, &'a [u8]), CorpusError> {
    match parse(data)? {
        Framing::Raw(payload) if raw_ok => Ok((target.version(), payload)),
        Framing::Raw(_) => Err(CorpusError::NoHeader {
            target: target.name(),
        }),
        Framing::Framed {
            target: name,
            version,
            payload,
        } => {
            if name != target.name() {
                Err(CorpusError::OtherTarget {
                    expected: target.name(),
                    found: name.to_string(),
                })
            } else if !target.reads_version(version) {
                Err(CorpusError::UnknownVersion {
                    target: target.name(),
                    found: version,
                    current: target.version(),
                })
            } else {
                Ok((version, payload))
            }
        }
    }
}

/// What `kvafuzz corpus migrate` does to one file of `target`: the file rewritten in the
/// current version, `None` if it already is, or why it cannot be. A raw file (no header) is
/// taken as the current version and only framed, its bytes unchanged; a file in an older
/// version the target reads is decoded with that version's reader and re-encoded.
pub fn migrate(target: &dyn AnyTarget, data: &[u8]) -> Result<Option<Vec<u8>>, CorpusError> {
    let (version, payload) = load(target, data, true)?;
    let framed = matches!(parse(data)?, Framing::Framed { .. });
    if version == target.version() {
        // A raw input of today's version keeps its bytes exactly; it only gets its header.
        return Ok((!framed).then(|| frame_current(target, payload)));
    }
    let current = target
        .migrate(version, payload)
        .ok_or(CorpusError::UnknownVersion {
            target: target.name(),
            found: version,
            current: target.version(),
        })?;
    Ok(Some(frame_current(target, &current)))
}

/// The name of the target a file's header names, if it has a well-formed one.
pub fn header_target(data: &[u8]) -> Option<&str> {
    match parse(data) {
        Ok(Framing::Framed { target, .. }) => Some(target),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_and_parse_are_inverse() {
        let f = frame("vmem", 3, b"\x00\x01kvafuzz-corpus x\n");
        assert_eq!(
            parse(&f),
            Ok(Framing::Framed {
                target: "vmem",
                version: 3,
                payload: b"\x00\x01kvafuzz-corpus x\n",
            })
        );
        assert!(f.starts_with(b"kvafuzz-corpus vmem v3\n"));
    }

    #[test]
    fn anything_without_the_magic_is_raw() {
        for data in [
            &b""[..],
            b"kvafuzz",
            b"\x00kvafuzz-corpus vmem v1\n",
            b"KVAFUZZ-CORPUS",
        ] {
            assert_eq!(parse(data), Ok(Framing::Raw(data)));
        }
    }

    #[test]
    fn broken_headers_are_errors_not_panics() {
        for data in [
            &b"kvafuzz-corpus "[..],
            b"kvafuzz-corpus vmem\n",
            b"kvafuzz-corpus vmem v\n",
            b"kvafuzz-corpus vmem 1\n",
            b"kvafuzz-corpus vmem v99999999\n",
            b"kvafuzz-corpus vmem v-1\n",
            b"kvafuzz-corpus  v1\n",
            b"kvafuzz-corpus vmem v1",
            b"kvafuzz-corpus \xff\xfe v1\n",
        ] {
            assert!(
                matches!(parse(data), Err(CorpusError::BadHeader(_))),
                "{:?}",
                String::from_utf8_lossy(data)
            );
        }
        let long = [MAGIC, &[b'x'; MAX_HEADER][..], b" v1\n"].concat();
        assert!(matches!(parse(&long), Err(CorpusError::BadHeader(_))));
    }
}
