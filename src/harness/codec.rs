//! The byte codec every scenario is decoded with, and its inverse.
//!
//! [`Decoder`] reads through an [`arbitrary::Unstructured`] but only with `bytes(n)`, turning
//! bytes into integers itself (little-endian) so that [`Encoder`] can write the exact inverse:
//! `decode(encode(case)) == case` for every case, which is what lets a minimized op list be
//! saved as a corpus file. When the input runs out, every read returns zeros and
//! [`Decoder::is_empty`] turns true.

use arbitrary::Unstructured;

/// Reads integers from fuzzer bytes; zeros once the bytes run out.
pub struct Decoder<'a> {
    u: Unstructured<'a>,
}

impl<'a> Decoder<'a> {
    /// A decoder over `data`.
    pub fn new(data: &'a [u8]) -> Decoder<'a> {
        Decoder {
            u: Unstructured::new(data),
        }
    }

    /// `true` iff every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.u.is_empty()
    }

    fn read<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = self.u.len().min(N);
        if let Ok(b) = self.u.bytes(n) {
            out[..n].copy_from_slice(b);
        }
        out
    }

    /// One byte.
    pub fn u8(&mut self) -> u8 {
        self.read::<1>()[0]
    }

    /// Two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.read())
    }

    /// Four bytes, little-endian.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.read())
    }

    /// Eight bytes, little-endian.
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.read())
    }

    /// A byte reduced modulo `n` (`n >= 1`).
    pub fn below(&mut self, n: u8) -> u8 {
        self.u8() % n
    }
}

/// Writes what [`Decoder`] reads.
#[derive(Default)]
pub struct Encoder {
    out: Vec<u8>,
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.out.push(v);
    }

    /// Two bytes.
    pub fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    /// Four bytes.
    pub fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    /// Eight bytes.
    pub fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    /// The bytes written.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}
