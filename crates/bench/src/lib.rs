//! # ReplayEVM benchmark harness
//!
//! Measures the parallel engine against plain sequential revm (alloy-evm's block executor,
//! [`replay_evm::sequential`]) on generated workloads ([`replay_evm_workload`]) and on
//! mainnet block folders, in the same run: median wall time and speedup, Mgas/s, CPU time,
//! re-executions, peak heap, checked against the project's performance targets. Every
//! parallel result is compared with the sequential one before and while it is timed.
//!
//! The binary `replay-evm-bench` (`src/main.rs`, also run as `replay-evm bench`) parses the
//! arguments, installs the counting allocator and calls [`run()`]. `BENCHMARKS.md` at the
//! repository root records the method, the machines and the results.
//!
//! ## Which file holds each part
//!
//! | file | what it holds |
//! | --- | --- |
//! | `args.rs` | [`Args`]: the command line (workloads, gas, threads, mode, fixtures, output); the `--fixtures` blocks' `--chain-id`, `--fork`, `--chain-spec` are [`replay_evm_args::ChainArgs`], as in `replay-evm` |
//! | `run.rs` | [`run()`]: the blocks to measure, warm-up, memory pass, interleaved timed rounds, output |
//! | `ceiling.rs` | the machine's own ceiling at each thread count: perfectly parallel work (sender recovery) on `t` threads against one, beside every round; a block's bound on the machine as measured |
//! | `measure.rs` | one timed run (wall and process CPU time), the repeat rule, medians, the spread of a run's ratios |
//! | `alloc.rs` | [`PeakAlloc`]: the counting global allocator, and the peak-heap measurement |
//! | `report.rs` | one block's results, its table rows and JSON line |
//! | `summary.rs` | the summary of a run: geometric means, the slowest block, the targets |
//! | `plot.rs` | the `--plot` SVG bar chart |
//! | `machine.rs` | the machine the numbers come from |
//! | `output.rs` | gas amounts for humans (JSON lines and durations: [`replay_evm_args::output`]) |
//! | `error.rs` | [`BenchError`] |
//!
//! The criterion benches (`cargo bench -p replay-evm-bench`, `benches/replay.rs`) are the
//! statistically careful view of the same comparison, for regressions.

mod alloc;
mod args;
mod ceiling;
mod error;
mod machine;
mod measure;
mod output;
mod plot;
mod report;
mod run;
mod summary;

pub use alloc::PeakAlloc;
pub use args::Args;
pub use error::BenchError;
pub use run::{Outcome, run};
