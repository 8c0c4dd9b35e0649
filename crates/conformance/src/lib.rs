//! ReplayEVM conformance: the engine against the Ethereum test suites.
//!
//! Two runners share this crate:
//!
//! - **State tests** (ethereum/tests `GeneralStateTests` and execution-spec-tests state
//!   fixtures): [`run_path`] executes every case (every fork, every data/gas/value index) on
//!   revm with the engine's fork rules and checks the post-state root, the logs hash and the
//!   expected exceptions. [`compare_parallel`] turns every case into a one-transaction block
//!   and replays it with the engine's sequential oracle and its parallel engine at several
//!   thread counts: the two must agree.
//! - **Blockchain tests** (`BlockchainTests`): [`run_blocktests`] imports whole chains, block
//!   by block, as a client does (header and ommer rules, body against header, execution,
//!   results against header, state root), replaying every block sequentially and in every
//!   parallel mode on the state carried forward, and checks the expected head and post-state.
//!
//! Where a runner compares a parallel replay with the sequential one it applies one rule
//! (`parallel_check.rs`), built on the engine's
//! [`replay_evm::sequential::BlockReplay::first_difference`]. Comparing a replay with a
//! fixture's expectations (roots, post-state, exceptions) is each runner's own business.
//!
//! Nothing is dropped silently: every case is counted as passed, failed (with a message
//! naming what differs) or skipped (with the concrete reason it cannot run or be judged).
//!
//! | file | what it holds |
//! | --- | --- |
//! | `statetest/` | state tests, run and compared in parallel (its `mod.rs` lists its files) |
//! | `blocktest/` | the blockchain-test runner (its `mod.rs` lists its files) |
//! | `parallel_check.rs` | the rule that a parallel replay equals the sequential one |
//! | `roots.rs` | the state root and the logs hash both runners check |
//! | `json.rs` | the JSON numbers and accounts both fixture formats use |
//! | `files.rs` | [`collect_test_files`]: the `.json` files under a path |
//! | `filter.rs` | [`Filter`]: which tests run |
//! | `report.rs` | [`Report`], [`FileReport`], [`Failure`], [`Skip`]: what a run found |
//! | `workers.rs` | the runners' worker threads; panics caught as failures |
//! | `error.rs` | [`ConformanceError`]: why a path cannot be run at all |
//!
//! ```no_run
//! use std::path::Path;
//! use replay_evm_conformance::{Filter, run_path};
//!
//! let report = run_path(Path::new("GeneralStateTests"), &Filter::default())?;
//! println!("{}", report.summary());
//! for failure in &report.failed {
//!     println!("FAIL {failure}");
//! }
//! # Ok::<(), replay_evm_conformance::ConformanceError>(())
//! ```

mod blocktest;
mod error;
mod files;
mod filter;
mod json;
mod parallel_check;
mod report;
mod roots;
mod statetest;
mod workers;

pub use crate::{
    blocktest::{BlockTestReport, run_blocktests},
    error::ConformanceError,
    files::collect_test_files,
    filter::Filter,
    report::{Failure, FileReport, Report, Skip},
    statetest::{
        Agreement, Exclusion, ParallelFileReport, ParallelReport, compare_file, compare_parallel,
        compare_parallel_with_progress, run_file, run_path, run_path_with_progress,
    },
};
