//! The command line of `replay-evm-bench`: what to measure, how, and where to write it.

use std::{num::NonZeroUsize, path::PathBuf};

use replay_evm::parallel::Concurrency;
use replay_evm_args::ChainArgs;

/// The arguments of `replay-evm-bench` (and of `replay-evm bench`, which passes them here).
#[derive(Debug, clap::Parser)]
#[command(
    name = "replay-evm-bench",
    version,
    about = "Benchmark the parallel engine against sequential revm on generated workloads and \
             mainnet blocks: speedup, Mgas/s, re-executions, CPU time, peak memory."
)]
pub struct Args {
    /// Generated workloads, comma-separated, or `all`. Without --workload and --fixtures:
    /// every workload and the shared mainnet fixtures.
    #[arg(long, value_delimiter = ',', value_name = "NAME|all")]
    pub(crate) workload: Vec<String>,
    /// Gas of each generated block: `1000000000`, `1_000_000_000`, `1e9`, `1G`, `30M`.
    #[arg(long, default_value = "1G", value_parser = parse_gas)]
    pub(crate) gas: u64,
    /// Thread counts of the parallel runs, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub(crate) threads: Vec<NonZeroUsize>,
    /// How the parallel engine runs each block: `adaptive` (it picks Block-STM or in-order
    /// execution with parallel sender recovery, as a client would run it), `block-stm`
    /// (always Block-STM), `in-order` (always in-order execution).
    #[arg(long, value_enum, default_value_t = BenchMode::Adaptive)]
    pub(crate) mode: BenchMode,
    /// Mainnet blocks: a block folder, a folder of block folders, or a fixtures folder
    /// holding `mainnet/` (repeatable).
    #[arg(long, value_name = "DIR")]
    pub(crate) fixtures: Vec<PathBuf>,
    /// The chain of the --fixtures blocks (generated workloads are mainnet Cancun blocks).
    #[command(flatten)]
    pub(crate) chain: ChainArgs,
    /// Print one JSON object per block, then a summary object, instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Also write the JSON lines to this file (with the table on stdout).
    #[arg(long, value_name = "FILE.jsonl")]
    pub(crate) json_file: Option<PathBuf>,
    /// Also print where each Block-STM replay's time goes: the median of each phase (set-up,
    /// worker loop, fold, merge and commit beside the traces, the receipts' blooms, finish)
    /// and its share. The JSON carries them always (`phases_us`, `exec_phases_us`).
    #[arg(long)]
    pub(crate) phases: bool,
    /// Write an SVG bar chart of the speedups by block and thread count.
    #[arg(long, value_name = "FILE.svg")]
    pub(crate) plot: Option<PathBuf>,
    /// Timed runs of each configuration, at least.
    #[arg(long, default_value_t = 5)]
    pub(crate) repeat: usize,
    /// Keep repeating until each block's rounds add up to this many seconds (at most 1000
    /// rounds).
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub(crate) min_time: f64,
    /// Seed of the generated workloads.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BenchMode {
    /// `Concurrency::Adaptive`.
    Adaptive,
    /// `Concurrency::Threads`: Block-STM on every block.
    BlockStm,
    /// `Concurrency::InOrder`.
    InOrder,
}

impl BenchMode {
    pub(crate) fn concurrency(self, threads: NonZeroUsize) -> Concurrency {
        match self {
            Self::Adaptive => Concurrency::Adaptive(threads),
            Self::BlockStm => Concurrency::Threads(threads),
            Self::InOrder => Concurrency::InOrder(threads),
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Adaptive => "adaptive",
            Self::BlockStm => "block-stm",
            Self::InOrder => "in-order",
        }
    }
}

/// Parses a gas amount: digits with optional `_`, a `k`/`M`/`G` suffix, or `XeY`.
fn parse_gas(text: &str) -> Result<u64, String> {
    let clean = text.trim().replace('_', "");
    let bad = || format!("`{text}` is not a gas amount (e.g. 30000000, 30M, 1G, 1e9)");
    let (digits, scale) = match clean.char_indices().last() {
        Some((i, 'k' | 'K')) => (&clean[..i], 1_000),
        Some((i, 'm' | 'M')) => (&clean[..i], 1_000_000),
        Some((i, 'g' | 'G')) => (&clean[..i], 1_000_000_000),
        _ => (clean.as_str(), 1),
    };
    let value = if let Some((mantissa, exponent)) = digits.split_once(['e', 'E']) {
        let m: u64 = mantissa.parse().map_err(|_| bad())?;
        let e: u32 = exponent.parse().map_err(|_| bad())?;
        10u64.checked_pow(e).and_then(|p| m.checked_mul(p))
    } else {
        digits.parse::<u64>().ok()
    };
    match value.and_then(|v| v.checked_mul(scale)) {
        Some(0) | None => Err(bad()),
        Some(gas) => Ok(gas),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_gas;

    #[test]
    fn gas_amounts() {
        assert_eq!(parse_gas("1000000000"), Ok(1_000_000_000));
        assert_eq!(parse_gas("1_000_000_000"), Ok(1_000_000_000));
        assert_eq!(parse_gas("1e9"), Ok(1_000_000_000));
        assert_eq!(parse_gas("1G"), Ok(1_000_000_000));
        assert_eq!(parse_gas("30M"), Ok(30_000_000));
        assert_eq!(parse_gas("2000k"), Ok(2_000_000));
        assert!(parse_gas("0").is_err());
        assert!(parse_gas("lots").is_err());
        assert!(parse_gas("1e30").is_err());
    }
}
