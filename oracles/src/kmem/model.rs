//! The model's state, its predictions and its judging calls (sections 2 and 3 of the module
//! comment).

use super::memory::{range_ok, SparseMemory};
use super::{
    roundup, route, Check, KmemAllocErrorKind, KmemCheckErrorKind, KmemFreeErrorKind,
    MemoryErrorKind, ModelFault, Object, Part, Range, Route, RouteStats, Shape, Verdict,
    KMEM_REDZONE, KMEM_REDZONE_BYTE, MAX_KMEM_SIZE, PAGE, TOP,
};

/// The naive model of a kmem instance (see the module comment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmemModel {
    /// Debug mode: sizes recorded and checked on free, redzones filled and checked.
    debug: bool,
    /// Guard mode: a guard range after every large object.
    guard: bool,
    /// Simulated CPUs: an op names `cpu < cpus`.
    cpus: u8,
    /// Live objects, sorted by `addr` (strictly: their extents are disjoint).
    live: Vec<Object>,
    /// The model's own memory.
    memory: SparseMemory,
}

/// An answer in words, addresses in hex.
fn show<T: std::fmt::Debug>(x: &T) -> String {
    format!("{x:x?}")
}

impl KmemModel {
    /// An empty kmem in the given modes, with `cpus` simulated CPUs.
    pub fn new(debug: bool, guard: bool, cpus: u8) -> KmemModel {
        KmemModel {
            debug,
            guard,
            cpus,
            live: Vec::new(),
            memory: SparseMemory::new(),
        }
    }

    // ---- queries --------------------------------------------------------------------------

    /// Whether the model is in debug mode.
    pub fn debug(&self) -> bool {
        self.debug
    }

    /// Whether the model is in guard mode.
    pub fn guard(&self) -> bool {
        self.guard
    }

    /// The number of simulated CPUs.
    pub fn cpus(&self) -> u8 {
        self.cpus
    }

    /// Every live object, by ascending address.
    pub fn live(&self) -> &[Object] {
        &self.live
    }

    /// The live object starting at `addr`, if any.
    pub fn object_at(&self, addr: u64) -> Option<&Object> {
        self.live.iter().find(|o| o.addr == addr)
    }

    /// The live object whose extent holds `addr`, and which part of it, if any.
    pub fn owner(&self, addr: u64) -> Option<(&Object, Part)> {
        self.live
            .iter()
            .find_map(|o| o.part_at(addr).map(|p| (o, p)))
    }

    /// The model's memory.
    pub fn memory(&self) -> &SparseMemory {
        &self.memory
    }

    /// The shape of a request of `size` bytes in this model's modes (`None` unless
    /// `1..=MAX_KMEM_SIZE`).
    pub fn shape(&self, size: u64) -> Option<Shape> {
        Shape::of(size, self.debug, self.guard)
    }

    /// Live objects and bytes of one route.
    pub fn route_stats(&self, route: Route) -> RouteStats {
        let mut st = RouteStats::default();
        for o in self.live.iter().filter(|o| o.route == route) {
            st.objects += 1;
            st.bytes += u128::from(o.size);
            st.chunk_bytes += u128::from(o.chunk);
        }
        st
    }

    /// [`Self::route_stats`] of every route, in [`Route::all`] order (zeros included).
    pub fn stats(&self) -> Vec<(Route, RouteStats)> {
        Route::all()
            .into_iter()
            .map(|r| (r, self.route_stats(r)))
            .collect()
    }

    /// The first redzone byte of `o` that is not the pattern, as an offset from `o.addr`
    /// (debug mode only; never in non-debug mode, which fills no redzone).
    fn clobber(&self, o: &Object) -> Option<u64> {
        if !self.debug {
            return None;
        }
        let rz = o.redzone()?;
        let at = self
            .memory
            .first_not(rz.first, rz.last, KMEM_REDZONE_BYTE)?;
        Some(at - o.addr) // at > o.addr
    }

    /// Where `addr` falls among the live objects, in words.
    fn whereabouts(&self, addr: u64) -> String {
        match self.owner(addr) {
            Some((o, Part::Chunk)) => format!(
                "offset {:#x} of the {:?} object at {:#x} (size {:#x})",
                addr - o.addr,
                o.route,
                o.addr,
                o.size
            ),
            Some((o, Part::Guard)) => format!("the guard range of the object at {:#x}", o.addr),
            None => "no live object".into(),
        }
    }

    // ---- alloc ----------------------------------------------------------------------------

    /// The argument checks of `alloc(size, cpu)`, in order: the request's shape, or the error.
    pub fn predict_alloc_args(&self, size: u64, cpu: u8) -> Result<Shape, KmemAllocErrorKind> {
        if size == 0 {
            return Err(KmemAllocErrorKind::ZeroSize);
        }
        if size > MAX_KMEM_SIZE {
            return Err(KmemAllocErrorKind::TooBig);
        }
        if cpu >= self.cpus {
            return Err(KmemAllocErrorKind::BadCpu);
        }
        self.shape(size).ok_or(KmemAllocErrorKind::TooBig) // Some for 1..=MAX_KMEM_SIZE
    }

    /// Judges `alloc(size, cpu)` answering `actual`, the harness reporting whether the kernel
    /// map refused an import during the op; applies it (the object and, in debug mode, its
    /// redzone fill) when it is right.
    pub fn alloc(
        &mut self,
        size: u64,
        cpu: u8,
        actual: Result<u64, KmemAllocErrorKind>,
        map_refused: bool,
    ) -> Result<(), Verdict> {
        let op = format!("alloc({size:#x}, cpu {cpu})");
        let shape = match self.predict_alloc_args(size, cpu) {
            Err(e) => {
                if actual != Err(e) {
                    return Err(Verdict::new(
                        Check::AllocResult,
                        format!("{op} = {e:?}"),
                        show(&actual),
                    ));
                }
                if map_refused {
                    return Err(Verdict::new(
                        Check::ImportOnArgError,
                        format!("{op} = {e:?} without touching the kernel map"),
                        "an import the kernel map refused",
                    ));
                }
                return Ok(());
            }
            Ok(shape) => shape,
        };
        let addr = match actual {
            Ok(addr) => addr,
            Err(KmemAllocErrorKind::NoSpace) if map_refused => return Ok(()),
            Err(KmemAllocErrorKind::NoSpace) => {
                return Err(Verdict::new(
                    Check::NoSpaceWithoutRefusal,
                    format!("{op}: an address (the kernel map refused no import)"),
                    "NoSpace",
                ))
            }
            Err(e) => {
                return Err(Verdict::new(
                    Check::AllocResult,
                    format!("{op}: an address, or NoSpace after a refused import"),
                    format!("{e:?}"),
                ))
            }
        };
        let obj = self.judge_placement(&op, &shape, addr)?;
        let at = self.live.partition_point(|o| o.addr < addr);
        self.live.insert(at, obj);
        if let Some(rz) = obj.redzone().filter(|_| self.debug) {
            self.memory.fill(rz.first, rz.last, KMEM_REDZONE_BYTE);
        }
        Ok(())
    }

    /// The object `shape` at `addr` would be, or what is wrong with that address.
    fn judge_placement(&self, op: &str, shape: &Shape, addr: u64) -> Result<Object, Verdict> {
        let align = shape.route.align();
        if !addr.is_multiple_of(align) {
            return Err(Verdict::new(
                Check::Misaligned,
                format!("{op}: an address aligned to {align:#x} ({:?})", shape.route),
                format!("{addr:#x}"),
            ));
        }
        let chunk_end = u128::from(addr) + u128::from(shape.chunk);
        let end = chunk_end + if shape.guard { PAGE } else { 0 };
        if end > TOP {
            return Err(Verdict::new(
                Check::ExtentPastTop,
                format!(
                    "{op}: an extent of {:#x} bytes ending at or below 2^64",
                    shape.extent()
                ),
                format!("{addr:#x}, ending at {end:#x}"),
            ));
        }
        let guard = shape.guard.then(|| Range {
            // chunk_end < end <= 2^64: both fit
            first: u64::try_from(chunk_end).unwrap_or(u64::MAX),
            last: u64::try_from(end - 1).unwrap_or(u64::MAX),
        });
        let obj = Object {
            addr,
            size: shape.size,
            chunk: shape.chunk,
            route: shape.route,
            guard,
        };
        let mine = obj.chunk_range();
        if let Some(o) = self.live.iter().find(|o| o.chunk_range().meets(&mine)) {
            return Err(Verdict::new(
                Check::Overlap,
                format!("{op}: a chunk sharing no byte with a live object's"),
                format!(
                    "[{:#x}, {:#x}] overlapping the {:?} object at {:#x} (chunk {:#x})",
                    mine.first, mine.last, o.route, o.addr, o.chunk
                ),
            ));
        }
        for o in &self.live {
            let theirs = o.chunk_range();
            let hit = match (guard, o.guard) {
                (Some(g), Some(h)) => g.meets(&theirs) || mine.meets(&h) || g.meets(&h),
                (Some(g), None) => g.meets(&theirs),
                (None, Some(h)) => mine.meets(&h),
                (None, None) => false,
            };
            if hit {
                return Err(Verdict::new(
                    Check::GuardOverlap,
                    format!("{op}: an extent sharing no byte with a live object's extent"),
                    format!(
                        "[{:#x}, {:#x}] (guard {:x?}) meeting the object at {:#x} \
                         (chunk {:#x}, guard {:x?})",
                        mine.first, mine.last, guard, o.addr, o.chunk, o.guard
                    ),
                ));
            }
        }
        Ok(obj)
    }

    // ---- free -----------------------------------------------------------------------------

    /// The result `free(addr, size, cpu)` must have (section 2 of the module comment).
    pub fn predict_free(&self, addr: u64, size: u64, cpu: u8) -> Result<(), KmemFreeErrorKind> {
        if size == 0 {
            return Err(KmemFreeErrorKind::ZeroSize);
        }
        if cpu >= self.cpus {
            return Err(KmemFreeErrorKind::BadCpu);
        }
        let at = self.object_at(addr);
        if self.debug {
            let o = at.ok_or(KmemFreeErrorKind::BadFree)?;
            if o.size != size {
                return Err(KmemFreeErrorKind::WrongSize {
                    allocated: o.size,
                    freed: size,
                });
            }
            if let Some(offset) = self.clobber(o) {
                return Err(KmemFreeErrorKind::Redzone { addr, offset });
            }
            return Ok(());
        }
        // Non-debug: the route of the size (s = size) decides the layer.
        let r = route(size).ok_or(KmemFreeErrorKind::BadFree)?; // size >= 1: Some
        let o = at
            .filter(|o| o.route == r)
            .ok_or(KmemFreeErrorKind::BadFree)?;
        if r == Route::Large && roundup(u128::from(size), PAGE) != u128::from(o.chunk) {
            return Err(KmemFreeErrorKind::WrongSize {
                allocated: o.size,
                freed: size,
            });
        }
        Ok(())
    }

    /// Judges `free(addr, size, cpu)` answering `actual`; applies it when it is right (a
    /// successful free removes the object, guard range included).
    pub fn free(
        &mut self,
        addr: u64,
        size: u64,
        cpu: u8,
        actual: Result<(), KmemFreeErrorKind>,
    ) -> Result<(), Verdict> {
        let expected = self.predict_free(addr, size, cpu);
        if expected != actual {
            let check = match (expected, actual) {
                (Err(KmemFreeErrorKind::WrongSize { .. }), Ok(())) => Check::WrongSizeAccepted,
                (Err(KmemFreeErrorKind::Redzone { .. }), Ok(())) => Check::RedzoneMissed,
                (Err(_), Ok(())) => Check::FreeAccepted,
                _ => Check::FreeResult,
            };
            return Err(Verdict::new(
                check,
                format!(
                    "free({addr:#x}, {size:#x}, cpu {cpu}) = {} ({})",
                    show(&expected),
                    self.whereabouts(addr)
                ),
                show(&actual),
            ));
        }
        if expected.is_ok() {
            self.live.retain(|o| o.addr != addr);
        }
        Ok(())
    }

    // ---- check ----------------------------------------------------------------------------

    /// The result `check(addr)` must have (section 2 of the module comment).
    pub fn predict_check(&self, addr: u64) -> Result<(), KmemCheckErrorKind> {
        let o = self
            .object_at(addr)
            .filter(|o| self.debug || o.route == Route::Large)
            .ok_or(KmemCheckErrorKind::NotLive)?;
        match self.clobber(o) {
            Some(offset) => Err(KmemCheckErrorKind::Redzone { addr, offset }),
            None => Ok(()),
        }
    }

    /// Judges `check(addr)` answering `actual` (it changes nothing).
    pub fn check(&self, addr: u64, actual: Result<(), KmemCheckErrorKind>) -> Result<(), Verdict> {
        let expected = self.predict_check(addr);
        if expected == actual {
            return Ok(());
        }
        let check = match (expected, actual) {
            (Err(KmemCheckErrorKind::Redzone { .. }), Ok(())) => Check::RedzoneMissed,
            _ => Check::CheckResult,
        };
        Err(Verdict::new(
            check,
            format!(
                "check({addr:#x}) = {} ({})",
                show(&expected),
                self.whereabouts(addr)
            ),
            show(&actual),
        ))
    }

    // ---- memory ---------------------------------------------------------------------------

    /// Judges a write of `bytes` at `addr` answering `actual`; applies it when it is right.
    pub fn write(
        &mut self,
        addr: u64,
        bytes: &[u8],
        actual: Result<(), MemoryErrorKind>,
    ) -> Result<(), Verdict> {
        let expected = range_ok(addr, bytes.len() as u128);
        if expected != actual {
            return Err(Verdict::new(
                Check::WriteResult,
                format!(
                    "write({addr:#x}, {:#x} bytes) = {}",
                    bytes.len(),
                    show(&expected)
                ),
                show(&actual),
            ));
        }
        // The memory applies a write in range and refuses one past the top whole, exactly as
        // predicted and answered.
        match self.memory.write(addr, bytes) {
            Ok(()) | Err(MemoryErrorKind::PastTop) => Ok(()),
        }
    }

    /// Judges a read of `len` bytes at `addr` answering `actual`: the error exactly, else
    /// exactly `len` bytes, each the model's (it changes nothing).
    pub fn read(
        &self,
        addr: u64,
        len: u64,
        actual: Result<&[u8], MemoryErrorKind>,
    ) -> Result<(), Verdict> {
        let op = format!("read({addr:#x}, {len:#x})");
        let expected = range_ok(addr, u128::from(len));
        let bytes = match (expected, actual) {
            (Err(e), Err(a)) if e == a => return Ok(()),
            (Ok(()), Ok(bytes)) => bytes,
            (e, a) => {
                return Err(Verdict::new(
                    Check::ReadResult,
                    format!("{op} = {}", show(&e)),
                    show(&a.map(<[u8]>::len)),
                ))
            }
        };
        if bytes.len() as u128 != u128::from(len) {
            return Err(Verdict::new(
                Check::ReadResult,
                format!("{op}: {len:#x} bytes"),
                format!("{:#x} bytes", bytes.len()),
            ));
        }
        let mut a = addr;
        for (i, &b) in bytes.iter().enumerate() {
            let want = self.memory.byte(a);
            if b != want {
                return Err(Verdict::new(
                    Check::ReadBytes,
                    format!(
                        "{op}: byte {i:#x} (at {a:#x}, {}) = {want:#04x}",
                        self.whereabouts(a)
                    ),
                    format!("{b:#04x}"),
                ));
            }
            a = a.wrapping_add(1); // wraps only past the range's last byte
        }
        Ok(())
    }

    // ---- self-check -----------------------------------------------------------------------

    /// Checks the model's own state: objects sorted by address, each consistent with its
    /// size and the modes (route, chunk, guard range, alignment, at least `KMEM_REDZONE`
    /// redzone bytes in debug mode), no extent past `2^64`, extents pairwise disjoint.
    pub fn self_check(&self) -> Result<(), ModelFault> {
        let fault = |rule: &'static str, o: &Object| ModelFault {
            rule,
            detail: format!("{o:x?}"),
        };
        let mut prev_end: Option<u128> = None;
        for o in &self.live {
            let shape = self.shape(o.size).ok_or(fault("size out of range", o))?;
            if shape.route != o.route || shape.chunk != o.chunk || shape.guard != o.guard.is_some()
            {
                return Err(fault("shape differs from the size's", o));
            }
            if !o.addr.is_multiple_of(o.route.align()) {
                return Err(fault("misaligned", o));
            }
            let chunk_end = u128::from(o.addr) + u128::from(o.chunk);
            let end = chunk_end + if o.guard.is_some() { PAGE } else { 0 };
            if end > TOP {
                return Err(fault("extent past 2^64", o));
            }
            if let Some(g) = o.guard {
                if u128::from(g.first) != chunk_end || u128::from(g.last) + 1 != end {
                    return Err(fault("guard range not the page after the chunk", o));
                }
            }
            if self.debug && u128::from(o.chunk) < u128::from(o.size) + u128::from(KMEM_REDZONE) {
                return Err(fault("redzone shorter than KMEM_REDZONE", o));
            }
            if prev_end.is_some_and(|p| p > u128::from(o.addr)) {
                return Err(fault("not sorted, or overlapping the previous extent", o));
            }
            prev_end = Some(end);
        }
        Ok(())
    }
}

#[cfg(test)]
mod self_check_tests {
    //! `self_check` on states no judging call can produce (the fields are private here).

    use super::*;

    fn with(debug: bool, guard: bool, objects: &[(u64, u64)]) -> KmemModel {
        let mut m = KmemModel::new(debug, guard, 1);
        for &(addr, size) in objects {
            let s = Shape::of(size, debug, guard).unwrap();
            let guard = s.guard.then(|| Range {
                first: addr + s.chunk,
                last: addr + s.extent() - 1,
            });
            m.live.push(Object {
                addr,
                size,
                chunk: s.chunk,
                route: s.route,
                guard,
            });
        }
        m
    }

    #[track_caller]
    fn rule(m: &KmemModel) -> &'static str {
        m.self_check().unwrap_err().rule
    }

    #[test]
    fn self_check_finds_broken_states() {
        assert!(with(true, true, &[(0, 8), (0x1000, 5000), (0x4000, 1)])
            .self_check()
            .is_ok());
        assert_eq!(
            rule(&with(false, false, &[(0x100, 16), (0x108, 8)])),
            "not sorted, or overlapping the previous extent"
        );
        assert_eq!(
            rule(&with(false, false, &[(0x100, 8), (0x0, 8)])),
            "not sorted, or overlapping the previous extent"
        );
        // A small object in a guard range.
        assert_eq!(
            rule(&with(false, true, &[(0x0, 5000), (0x2008, 8)])),
            "not sorted, or overlapping the previous extent"
        );
        assert_eq!(rule(&with(false, false, &[(0x4, 8)])), "misaligned");
        assert_eq!(rule(&with(false, false, &[(0x808, 5000)])), "misaligned");
        let mut m = with(true, false, &[(0, 20)]);
        m.live[0].chunk = 24;
        assert_eq!(rule(&m), "shape differs from the size's");
        let mut m = with(true, true, &[(0, 5000)]);
        m.live[0].guard = Some(Range {
            first: 0x3000,
            last: 0x3fff,
        });
        assert_eq!(rule(&m), "guard range not the page after the chunk");
        let mut m = with(false, false, &[(u64::MAX - 4095, 4096)]);
        m.live[0].route = Route::Large;
        m.live[0].chunk = 8192;
        m.live[0].size = 8000;
        assert_eq!(rule(&m), "extent past 2^64");
        let mut m = with(false, false, &[(0, 1)]);
        m.live[0].size = 0;
        assert_eq!(rule(&m), "size out of range");
        let mut m = with(false, false, &[(0, 16)]);
        m.debug = true; // 16 + 8 needs 24
        assert_eq!(rule(&m), "shape differs from the size's");
    }
}
