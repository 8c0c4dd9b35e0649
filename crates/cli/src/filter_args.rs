//! The test selection the conformance commands (`statetest`, `blocktest`) share.

use replay_evm::chain::Fork;
use replay_evm_args::ArgsError;
use replay_evm_conformance::Filter;

use crate::exit::CliError;

/// `--fork` and `--name`: which tests of the given files run.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct FilterArgs {
    /// Run only this fork's tests (ethereum/tests names such as `Cancun`, `EIP150`; for block
    /// tests, the fork their network ends at).
    #[arg(long, value_name = "NAME")]
    fork: Option<String>,
    /// Run only tests whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    name: Option<String>,
}

impl FilterArgs {
    /// The selection.
    ///
    /// # Errors
    /// [`CliError::Usage`] for a fork nobody defines.
    pub(crate) fn filter(self) -> Result<Filter, CliError> {
        let fork = self
            .fork
            .as_deref()
            .map(str::parse::<Fork>)
            .transpose()
            .map_err(ArgsError::Fork)?;
        Ok(Filter {
            fork,
            name: self.name,
        })
    }
}
