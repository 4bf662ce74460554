//! Unit tests of kmem (module comment sections 2 to 7).
