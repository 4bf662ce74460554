//! The clock every criterion bench here uses: the benchmark thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), not wall time, since the machine is shared. Included by each
//! bench with `#[path = "common/clock.rs"] mod clock;` (a folder of `benches/` without a
//! `main.rs` is not a bench target of its own).

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::BenchmarkGroup;

/// Criterion measurement: CPU time consumed by the calling thread (`CLOCK_THREAD_CPUTIME_ID`),
/// formatted like wall time.
pub struct ThreadTime;

/// The calling thread's CPU time so far.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Measurement for ThreadTime {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        thread_cpu()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, d: &Duration) -> f64 {
        d.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        static WALL: WallTime = WallTime;
        WALL.formatter()
    }
}

/// A benchmark group timed by [`ThreadTime`].
pub type Group<'a> = BenchmarkGroup<'a, ThreadTime>;
