panic at vmem-1.0.0/src/lock.rs:58 (crate): called `Result::unwrap()` on an `Err` value: PoisonError {
