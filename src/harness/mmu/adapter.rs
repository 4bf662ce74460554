//! Translation between the MMU's typed results and the oracle's vocabulary
//! (`kvafuzz_oracles::mmu`): modes, per-operation error enums, translations and flush tokens.
//!
//! The oracle predicts plain [`o::ErrKind`] values with `u128` addresses; the MMU returns one
//! error enum per operation. These functions are the only place the two meet, so the harness
//! target ([`super::Scenario`]) and the seeded differential unit test of `crate::mmu` judge
//! results identically. They only rename: no function here decides anything the oracle
//! should decide.

use kvafuzz_oracles::mmu as o;

use crate::addr::{Arch, RangeError};
use crate::mmu::{
    AccessError, AccessKind, CreateSpaceError, DestroySpaceError, Flush, FlushScope, MapError,
    MapSharedError, StaleTlb, TlbEntry, TranslateError, Translation, UnmapError, UnmapSharedError,
};

/// The oracle's name for a paging mode.
pub fn mode(a: Arch) -> o::Mode {
    match a {
        Arch::Ia32 => o::Mode::Ia32,
        Arch::Pae => o::Mode::Pae,
        Arch::X86_64 => o::Mode::X86_64,
        Arch::X86_64La57 => o::Mode::La57,
    }
}

/// A range error.
pub fn range_err(e: RangeError) -> o::ErrKind {
    match e {
        RangeError::Empty => o::ErrKind::Empty,
        RangeError::Wraps => o::ErrKind::Wraps,
        RangeError::PastTop => o::ErrKind::PastTop,
        RangeError::NonCanonical => o::ErrKind::NonCanonical,
    }
}

/// An error of `Mmu::map`.
pub fn map_err(e: MapError) -> o::ErrKind {
    use o::ErrKind as K;
    match e {
        MapError::NoSuchSpace => K::NoSuchSpace,
        MapError::UnsupportedPageSize => K::UnsupportedPageSize,
        MapError::UnsupportedFlags => K::UnsupportedFlags,
        MapError::Range(r) => range_err(r),
        MapError::MisalignedVa => K::MisalignedVa,
        MapError::MisalignedLen => K::MisalignedLen,
        MapError::MisalignedPa => K::MisalignedPa,
        MapError::TooManyPages => K::TooManyPages,
        MapError::PhysRange => K::PhysRange,
        MapError::UserInKernelHalf => K::UserInKernelHalf,
        MapError::GlobalInUserHalf => K::GlobalInUserHalf,
        MapError::AlreadyMapped { va } => K::AlreadyMapped { va: va.into() },
        MapError::LargePageInTheWay { va } => K::LargePageInTheWay { va: va.into() },
        MapError::TableInTheWay { va } => K::TableInTheWay { va: va.into() },
        MapError::SharedTable { va } => K::SharedTable { va: va.into() },
        MapError::OutOfFrames => K::OutOfFrames,
    }
}

/// An error of `Mmu::unmap` or `Mmu::protect`.
pub fn unmap_err(e: UnmapError) -> o::ErrKind {
    use o::ErrKind as K;
    match e {
        UnmapError::NoSuchSpace => K::NoSuchSpace,
        UnmapError::UnsupportedFlags => K::UnsupportedFlags,
        UnmapError::Range(r) => range_err(r),
        UnmapError::MisalignedVa => K::MisalignedVa,
        UnmapError::MisalignedLen => K::MisalignedLen,
        UnmapError::UserInKernelHalf => K::UserInKernelHalf,
        UnmapError::GlobalInUserHalf => K::GlobalInUserHalf,
        UnmapError::NotMapped { va } => K::NotMapped { va: va.into() },
        UnmapError::PartialLargePage { va } => K::PartialLargePage { va: va.into() },
        UnmapError::SharedTable { va } => K::SharedTable { va: va.into() },
    }
}

/// An error of `Mmu::map_shared_segment` at `va` (the oracle's slot errors carry it).
pub fn shared_err(e: MapSharedError, va: u64) -> o::ErrKind {
    use o::ErrKind as K;
    let va = u128::from(va);
    match e {
        MapSharedError::NoSuchSpace => K::NoSuchSpace,
        MapSharedError::UnsupportedFlags => K::UnsupportedFlags,
        MapSharedError::Range(r) => range_err(r),
        MapSharedError::MisalignedVa => K::MisalignedVa,
        MapSharedError::MisalignedLen => K::MisalignedLen,
        MapSharedError::TooLong => K::TooLong,
        MapSharedError::MisalignedPa => K::MisalignedPa,
        MapSharedError::PhysRange => K::PhysRange,
        MapSharedError::UserInKernelHalf => K::UserInKernelHalf,
        MapSharedError::GlobalInUserHalf => K::GlobalInUserHalf,
        MapSharedError::AlreadyMapped => K::AlreadyMapped { va },
        MapSharedError::LargePageInTheWay => K::LargePageInTheWay { va },
        MapSharedError::TableInTheWay => K::TableInTheWay { va },
        MapSharedError::OutOfFrames => K::OutOfFrames,
    }
}

/// An error of `Mmu::unmap_shared_segment` at `va`.
pub fn unshare_err(e: UnmapSharedError, va: u64) -> o::ErrKind {
    use o::ErrKind as K;
    match e {
        UnmapSharedError::NoSuchSpace => K::NoSuchSpace,
        UnmapSharedError::Range(r) => range_err(r),
        UnmapSharedError::MisalignedVa => K::MisalignedVa,
        UnmapSharedError::NotMapped => K::NotMapped { va: va.into() },
        UnmapSharedError::NotShared => K::NotShared,
    }
}

/// An error of `Mmu::translate` at `va`.
pub fn translate_err(e: TranslateError, va: u64) -> o::ErrKind {
    match e {
        TranslateError::NoSuchSpace => o::ErrKind::NoSuchSpace,
        TranslateError::NonCanonical => o::ErrKind::NonCanonical,
        TranslateError::NotMapped => o::ErrKind::NotMapped { va: va.into() },
    }
}

/// An error of `Mmu::access`; a stale TLB hit has no oracle counterpart (the oracle has no
/// TLB) and is handed back for the caller to judge.
pub fn access_err(e: AccessError) -> Result<o::ErrKind, StaleTlb> {
    Ok(match e {
        AccessError::NoSuchCpu => o::ErrKind::NoSuchCpu,
        AccessError::NoSuchSpace => o::ErrKind::NoSuchSpace,
        AccessError::NonCanonical => o::ErrKind::NonCanonical,
        AccessError::NotPresent => o::ErrKind::NotPresent,
        AccessError::Protection => o::ErrKind::Protection,
        AccessError::Stale(s) => return Err(s),
    })
}

/// The oracle's number for an access kind (0 read, 1 write, 2 execute).
pub fn access_kind(k: AccessKind) -> u8 {
    match k {
        AccessKind::Read => 0,
        AccessKind::Write => 1,
        AccessKind::Execute => 2,
    }
}

/// An error of `Mmu::create_space`.
pub fn create_err(e: CreateSpaceError) -> o::ErrKind {
    match e {
        CreateSpaceError::TooManySpaces => o::ErrKind::TooManySpaces,
        CreateSpaceError::AsidsExhausted => o::ErrKind::AsidsExhausted,
        CreateSpaceError::OutOfFrames => o::ErrKind::OutOfFrames,
    }
}

/// An error of `Mmu::destroy_space`.
pub fn destroy_err(e: DestroySpaceError) -> o::ErrKind {
    match e {
        DestroySpaceError::NoSuchSpace => o::ErrKind::NoSuchSpace,
        DestroySpaceError::KernelSpace => o::ErrKind::KernelSpace,
    }
}

/// A translation, widened.
pub fn translation(t: Translation) -> o::Translation {
    o::Translation {
        va: t.va.into(),
        pa: t.pa.into(),
        page_base: t.page_base.into(),
        page_size: t.page_size.into(),
        flags: t.flags.bits(),
    }
}

/// A flush token, as the oracle predicts it.
pub fn flush(f: &Flush) -> o::FlushPrediction {
    o::FlushPrediction {
        all_spaces: f.scope() == FlushScope::AllSpaces,
        start: f.range().start().into(),
        last: f.range().last().into(),
    }
}

/// A stale TLB entry the MMU reported (by an access or the coherence check), as the oracle
/// predicts it.
pub fn stale(s: &StaleTlb) -> o::StaleHit {
    o::StaleHit {
        cpu: s.cpu.0.into(),
        asid: s.asid.raw(),
        cached: translation(s.cached),
        current: s.current.map(translation),
    }
}

/// A TLB entry, as the oracle's TLB model keeps it.
pub fn cached(e: &TlbEntry) -> o::CachedEntry {
    o::CachedEntry {
        asid: e.asid.raw(),
        page_base: e.page_base.into(),
        page_size: e.page_size.into(),
        pa_base: e.pa_base.into(),
        flags: e.flags.bits(),
        dirty: e.dirty,
        seq: e.seq,
    }
}

/// An access's answer, in the oracle's vocabulary: the translation, or the fault, or the
/// stale entry hit.
pub fn access(
    r: Result<Translation, AccessError>,
) -> Result<o::Translation, Result<o::ErrKind, o::StaleHit>> {
    r.map(translation)
        .map_err(|e| access_err(e).map_err(|s| stale(&s)))
}

/// The oracle's prediction of an access in the same form as [`access`] (hit or walk alike).
pub fn access_outcome(
    o: o::AccessOutcome,
) -> Result<o::Translation, Result<o::ErrKind, o::StaleHit>> {
    match o {
        o::AccessOutcome::Hit(t) | o::AccessOutcome::Walked(t) => Ok(t),
        o::AccessOutcome::Fault(e) => Err(Ok(e)),
        o::AccessOutcome::Stale(s) => Err(Err(s)),
    }
}
