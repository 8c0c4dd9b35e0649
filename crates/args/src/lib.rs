//! # What the ReplayEVM binaries share
//!
//! The `replay-evm` command (`crates/cli`) and the benchmark harness `replay-evm-bench`
//! (`crates/bench`) read block folders under the same chain options and print the same kind
//! of output. This crate holds those parts once, so that both binaries take the same flags and
//! say the same things.
//!
//! ## Which file holds each part
//!
//! | file | what it holds |
//! | --- | --- |
//! | `chain.rs` | [`ChainArgs`]: `--chain-id`, `--fork`, `--chain-spec`, resolved to a [`ChainSpec`](replay_evm::chain::ChainSpec) |
//! | `output.rs` | [`output::json_line`] (one JSON value a line on stdout) and [`output::duration_us`] (durations for humans) |
//! | `error.rs` | [`ArgsError`]: options that clap accepts but that name nothing; each binary turns it into its usage error (exit 2) |

mod chain;
mod error;
pub mod output;

pub use chain::ChainArgs;
pub use error::ArgsError;
