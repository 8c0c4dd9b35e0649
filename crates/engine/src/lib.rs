//! ReplayEVM engine (overview written below once all parts exist).
pub mod chain;
pub mod error;
