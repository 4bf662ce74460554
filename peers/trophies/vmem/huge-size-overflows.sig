panic at <rust>/library/core/src/num/mod.rs:1400 (std): attempt to # with overflow
