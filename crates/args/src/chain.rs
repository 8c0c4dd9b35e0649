//! The chain options every command that reads block folders shares: which chain's rules a
//! block folder replays under (`replay-evm verify`, `replay-evm replay`, and the `--fixtures`
//! blocks of `replay-evm-bench`).

use std::path::PathBuf;

use replay_evm::chain::{ChainSpec, Fork};

use crate::error::ArgsError;

/// `--chain-id`, `--fork` and `--chain-spec`: a block folder does not say which chain it is
/// from (an archive does; see `schemas/archive.json`).
#[derive(Debug, Clone, clap::Args)]
pub struct ChainArgs {
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
    /// [`ArgsError`] for an unknown fork or chain id, or a chain-spec file that cannot be read
    /// or parsed, naming the option.
    pub fn chain(&self) -> Result<ChainSpec, ArgsError> {
        match (&self.fork, &self.chain_spec) {
            (Some(name), _) => {
                let fork: Fork = name.parse().map_err(ArgsError::Fork)?;
                Ok(ChainSpec::single_fork(self.chain_id, fork))
            }
            (None, Some(path)) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ArgsError::ChainSpecRead {
                        path: path.clone(),
                        source,
                    })?;
                ChainSpec::from_json(&text).map_err(|source| ArgsError::ChainSpecParse {
                    path: path.clone(),
                    source,
                })
            }
            (None, None) => ChainSpec::by_id(self.chain_id).map_err(ArgsError::ChainId),
        }
    }
}
