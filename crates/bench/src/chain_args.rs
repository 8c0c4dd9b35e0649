//! `--chain-id`, `--fork`, `--chain-spec`: which chain's rules the `--fixtures` block folders
//! replay under (the same options as `replay-evm verify` and `replay`).

use std::path::PathBuf;

use replay_evm::chain::{ChainSpec, Fork};

use crate::error::BenchError;

/// `--chain-id`, `--fork` and `--chain-spec`: a block folder does not say which chain it is
/// from (an archive does; see `schemas/archive.json`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ChainArgs {
    /// Chain id of the blocks: a chain with a built-in fork table (mainnet 1, Sepolia
    /// 11155111, Holesky 17000, Hoodi 560048), or the id that --fork applies to.
    #[arg(long, default_value_t = 1)]
    chain_id: u64,
    /// Every block under this fork, as on a devnet (case-insensitive: `cancun`, `prague`).
    #[arg(long, value_name = "NAME", conflicts_with = "chain_spec")]
    fork: Option<String>,
    /// The chain's fork table, a JSON file (see README, "Build an archive from your node");
    /// its chain id is the blocks'.
    #[arg(long, value_name = "FILE")]
    chain_spec: Option<PathBuf>,
}

impl ChainArgs {
    /// The chain the options name.
    ///
    /// # Errors
    /// [`BenchError::Usage`] for an unknown fork or chain id, or a chain-spec file that cannot
    /// be read or parsed, naming the option.
    pub(crate) fn chain(&self) -> Result<ChainSpec, BenchError> {
        let usage = BenchError::Usage;
        match (&self.fork, &self.chain_spec) {
            (Some(name), _) => {
                let fork: Fork = name.parse().map_err(|e| usage(format!("--fork: {e}")))?;
                Ok(ChainSpec::single_fork(self.chain_id, fork))
            }
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| usage(format!("--chain-spec {}: {e}", path.display())))?;
                ChainSpec::from_json(&text)
                    .map_err(|e| usage(format!("--chain-spec {}: {e}", path.display())))
            }
            (None, None) => {
                ChainSpec::by_id(self.chain_id).map_err(|e| usage(format!("--chain-id: {e}")))
            }
        }
    }
}
