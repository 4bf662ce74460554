panic at offset-allocator-0.2.0/src/lib.rs:401 (crate): attempt to subtract with overflow
