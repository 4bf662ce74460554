//! The values a kmem scenario is made of: its header ([`Scenario`]: debug and guard modes,
//! the CPUs and magazine sizes, the kernel map's span) and its ops ([`Op`]), whose objects
//! are handles resolved against the live objects when the op runs; and how each prints.

use std::fmt;

pub use crate::harness::codec::SpanAt;

/// An object an op names: live object `handle` (modulo the live objects, oldest first), or
/// a recently freed one (double frees), or a raw address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjSel {
    /// A live object.
    Live(u16),
    /// A recently freed object's address and size.
    Freed(u8),
    /// This address (with size 8).
    Raw(u64),
}

/// The size a free names, relative to the object's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeSel {
    /// The object's size (a good free).
    Same,
    /// The object's size plus `d` (wrapping; 0 stays the same).
    Plus(u16),
    /// The object's size minus `d` (wrapping).
    Minus(u16),
    /// This size.
    Raw(u64),
}

/// Where a write lands, relative to the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteAt {
    /// Inside the object: at `offset % size`, at most to its end.
    Inside(u16),
    /// Past its end by `k` bytes: `[addr + size, addr + size + k)` (an overflow of `k`).
    Overflow(u16),
    /// At the object's address plus this offset (any length: across objects).
    Offset(u32),
}

/// One operation of a kmem scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `kmem_alloc(size)` on `cpu`.
    Alloc {
        /// Bytes.
        size: u64,
        /// CPU (modulo the CPU count, or past it when `>= 248`).
        cpu: u8,
    },
    /// `kmem_free` of an object with a size relative to its own, on `cpu`.
    Free {
        /// Which object.
        obj: ObjSel,
        /// The size named.
        size: SizeSel,
        /// CPU.
        cpu: u8,
    },
    /// `len` bytes of value `byte` written through an object.
    Write {
        /// Which object.
        obj: ObjSel,
        /// Where.
        at: WriteAt,
        /// Bytes (for an overflow: how far past the end it reaches).
        len: u16,
        /// The value (the redzone pattern itself now and then).
        byte: u8,
    },
    /// `len` bytes read back from an object at `offset`, compared with the model's memory.
    Read {
        /// Which object.
        obj: ObjSel,
        /// Offset from its address.
        offset: u16,
        /// Bytes.
        len: u16,
    },
    /// `kmem_check` of an object (debug mode's redzone check).
    Check {
        /// Which object.
        obj: ObjSel,
    },
    /// `reclaim`: drain the class zones and the quantum caches, give wholly free slabs and
    /// spans back.
    Reclaim,
}

/// A decoded kmem scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Debug mode: size records, wrong-size frees refused, redzones.
    pub debug: bool,
    /// Guard mode: a guard page after every large object.
    pub guard: bool,
    /// Simulated CPUs (any value: 0 or above 8 refused, predicted).
    pub cpus: u8,
    /// Magazine rounds of every zone (above 64 refused).
    pub rounds: u16,
    /// Depot capacity of every zone (above 64 refused).
    pub depot: u16,
    /// Where the kernel map's span lies.
    pub map_at: SpanAt,
    /// Its pages, `1..=65,536`.
    pub map_pages: u32,
    /// The ops.
    pub ops: Vec<Op>,
}

impl fmt::Display for ObjSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ObjSel::Live(h) => write!(f, "live[{h}]"),
            ObjSel::Freed(i) => write!(f, "freed[{i}]"),
            ObjSel::Raw(a) => write!(f, "{a:#x}"),
        }
    }
}

impl fmt::Display for SizeSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SizeSel::Same => f.write_str("its size"),
            SizeSel::Plus(d) => write!(f, "its size+{d}"),
            SizeSel::Minus(d) => write!(f, "its size-{d}"),
            SizeSel::Raw(s) => write!(f, "size {s:#x}"),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::Alloc { size, cpu } => write!(f, "alloc {size:#x} cpu{cpu}"),
            Op::Free { obj, size, cpu } => write!(f, "free {obj} with {size} cpu{cpu}"),
            Op::Write { obj, at, len, byte } => match at {
                WriteAt::Inside(o) => write!(f, "write {obj} inside +{o} len {len} = {byte:#x}"),
                WriteAt::Overflow(k) => write!(f, "write {obj} past its end by {k} = {byte:#x}"),
                WriteAt::Offset(o) => write!(f, "write {obj} +{o:#x} len {len} = {byte:#x}"),
            },
            Op::Read { obj, offset, len } => write!(f, "read {obj} +{offset:#x} len {len}"),
            Op::Check { obj } => write!(f, "check {obj}"),
            Op::Reclaim => f.write_str("reclaim"),
        }
    }
}

impl Scenario {
    /// The kernel map's span `(base, size)`.
    pub fn map_span(&self) -> (u64, u64) {
        self.map_at.span(self.map_pages)
    }

    /// The header line of a trace.
    pub(super) fn header_line(&self) -> String {
        let (base, size) = self.map_span();
        format!(
            "kmem scenario: debug={} guard={} cpus={} rounds={} depot={} map=[{base:#x}, +{size:#x}) ops={}",
            self.debug,
            self.guard,
            self.cpus,
            self.rounds,
            self.depot,
            self.ops.len()
        )
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.header_line())?;
        for (i, op) in self.ops.iter().enumerate() {
            writeln!(f, "  #{i} {op}")?;
        }
        Ok(())
    }
}
