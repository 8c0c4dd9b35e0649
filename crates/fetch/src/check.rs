//! Consistency across blocks (see the crate docs).
