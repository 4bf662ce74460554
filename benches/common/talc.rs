//! talc as a peer of the benches here: a heap buffer ([`TalcBuffer`]) and a talc claiming it
//! ([`Talc`]). Included by each bench with `#[path = "common/talc.rs"] mod talc_peer;`; each
//! adds its own sizes and its own trait impls on [`Talc`].

use std::alloc::Layout;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// A heap buffer for talc. Its alignment is the system allocator's minimum, so
/// `alloc_zeroed` is a `calloc`, which takes large buffers straight from `mmap`: the OS zeroes
/// pages lazily, on first touch (a larger alignment would `memset` the whole buffer).
pub struct TalcBuffer {
    base: NonNull<u8>,
    layout: Layout,
}

impl TalcBuffer {
    /// A buffer of `bytes` bytes (not zero).
    pub fn new(bytes: usize) -> TalcBuffer {
        let layout = Layout::from_size_align(bytes, 16).expect("buffer layout");
        // SAFETY: the layout has a non-zero size.
        let base = unsafe { std::alloc::alloc_zeroed(layout) };
        let base = NonNull::new(base).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        TalcBuffer { base, layout }
    }
}

impl Drop for TalcBuffer {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; every `Talc` claiming it is gone (they
        // hold its lifetime).
        unsafe { std::alloc::dealloc(self.base.as_ptr(), self.layout) }
    }
}

/// talc managing a [`TalcBuffer`] that outlives it. At most one `Talc` may exist per buffer
/// at a time (each claims the whole buffer); the benchmarks build one, use it, drop it.
pub struct Talc<'b> {
    /// The allocator.
    pub talc: talc::base::Talc<talc::source::Manual, talc::DefaultBinning>,
    _buffer: PhantomData<&'b TalcBuffer>,
}

impl<'b> Talc<'b> {
    /// A fresh talc claiming the whole buffer (whatever a previous, dropped talc left there
    /// is overwritten).
    pub fn new(buffer: &'b TalcBuffer) -> Talc<'b> {
        let mut talc = talc::base::Talc::new(talc::source::Manual);
        // SAFETY: the buffer is valid for its whole size and outlives this talc ('b); no
        // other talc uses it meanwhile (see the struct comment).
        let claimed = unsafe { talc.claim(buffer.base.as_ptr(), buffer.layout.size()) };
        assert!(claimed.is_some(), "talc refused the buffer");
        Talc {
            talc,
            _buffer: PhantomData,
        }
    }
}
