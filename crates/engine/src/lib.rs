//! ReplayEVM engine (overview written below once all parts exist).
pub mod access;
pub mod analysis;
pub mod block;
pub mod block_dir;
pub mod chain;
pub mod error;
pub mod fixtures;
pub mod parallel;
pub mod pre_state;
pub mod sequential;
pub mod state_changes;
pub mod workload;
pub mod verify;
