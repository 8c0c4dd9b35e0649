//! A test's `network`: the chain rules its blocks run under.
//!
//! A plain fork name (`Cancun`, `EIP150`, `ConstantinopleFix`...) is every fork up to it
//! active from genesis ([`ChainSpec::single_fork`]). A transition `<A>To<B>At<N>` activates
//! the forks after `A` up to `B` at block `N`; `<A>To<B>AtTime<N>k` at timestamp `N * 1000`
//! (the form used from Shanghai on). The difficulty-bomb forks (`MuirGlacier`,
//! `ArrowGlacier`, `GrayGlacier`) execute as their predecessor and only move the bomb.
//! Transitions at a total difficulty (`...AtDiff...`), forks revm 43 cannot run
//! (Constantinople) and the blob-parameter-only forks (`BPO1`...) are
//! [`NetworkError::Unsupported`]: the tests are skipped with the reason.

use alloy_hardforks::EthereumHardfork;
use replay_evm::{
    chain::{Activation, ChainSpec, Fork, ForkActivation},
    error::ChainError,
};

/// The rules of a test's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Network {
    /// Which fork governs each block, and the block rules alloy-evm applies.
    pub(crate) chain: ChainSpec,
    /// The difficulty bomb's delay (in blocks) set by a glacier network name, overriding the
    /// one of the governing fork.
    glacier_delay: Option<u64>,
}

/// Why a network cannot be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NetworkError {
    /// A valid network that this runner cannot run; the reason says why.
    Unsupported(String),
    /// A name that is not a network.
    Unknown(String),
}

impl Network {
    /// Parses a network name (see the module docs) for a chain with id 1, that of every
    /// ethereum/tests blockchain test.
    ///
    /// # Errors
    /// [`NetworkError`] for a network that cannot run or does not exist.
    #[cfg(test)]
    pub(crate) fn parse(name: &str) -> Result<Self, NetworkError> {
        Self::with_chain_id(name, 1)
    }

    /// Parses a network name (see the module docs) for a chain with this id.
    ///
    /// # Errors
    /// [`NetworkError`] for a network that cannot run or does not exist.
    pub(crate) fn with_chain_id(name: &str, chain_id: u64) -> Result<Self, NetworkError> {
        let Some((from, rest)) = name.split_once("To") else {
            let (fork, glacier_delay) = fork(name)?;
            return Ok(Self {
                chain: ChainSpec::single_fork(chain_id, fork),
                glacier_delay,
            });
        };
        let (to, at) = rest.split_once("At").ok_or_else(|| {
            NetworkError::Unknown(format!("network `{name}`: a transition needs `At<block>`"))
        })?;
        if at.starts_with("Diff") {
            return Err(NetworkError::Unsupported(format!(
                "network `{name}`: a transition at a total difficulty (the merge by TTD) is not \
                 supported: the chain table activates forks by block number or timestamp"
            )));
        }
        let activation = match at.strip_prefix("Time") {
            Some(time) => Activation::Timestamp(number(name, time)?),
            None => Activation::Block(number(name, at)?),
        };
        let (from_fork, _) = fork(from)?;
        let mut chain = ChainSpec::single_fork(chain_id, from_fork);
        if to == "Dao" {
            chain.forks.push(ForkActivation {
                fork: EthereumHardfork::Dao,
                at: activation,
            });
        } else {
            let (to_fork, _) = fork(to)?;
            if to_fork <= from_fork {
                return Err(NetworkError::Unknown(format!(
                    "network `{name}`: {to_fork} does not come after {from_fork}"
                )));
            }
            for row in ChainSpec::single_fork(chain_id, to_fork).forks {
                if !chain.forks.iter().any(|r| r.fork == row.fork) {
                    chain.forks.push(ForkActivation {
                        fork: row.fork,
                        at: activation,
                    });
                }
            }
        }
        chain.name = name.to_owned();
        Ok(Self {
            chain,
            glacier_delay: None,
        })
    }

    /// The block at which the DAO fork activates, when the network has it.
    pub(crate) fn dao_block(&self) -> Option<u64> {
        self.chain
            .forks
            .iter()
            .find_map(|row| match (row.fork, row.at) {
                (EthereumHardfork::Dao, Activation::Block(number)) => Some(number),
                _ => None,
            })
    }

    /// The fork governing a block with this number and timestamp.
    pub(crate) fn fork_at(&self, number: u64, timestamp: u64) -> Fork {
        self.chain.fork_at(number, timestamp)
    }

    /// How many blocks the difficulty bomb is delayed by at `fork` (EIP-649, 1234, 2384,
    /// 3554, 4345, 5133).
    pub(crate) fn bomb_delay(&self, fork: Fork) -> u64 {
        if let Some(delay) = self.glacier_delay {
            return delay;
        }
        match fork {
            Fork::Frontier | Fork::Homestead | Fork::Tangerine | Fork::SpuriousDragon => 0,
            Fork::Byzantium => 3_000_000,
            Fork::Petersburg | Fork::Istanbul => 5_000_000,
            Fork::Berlin => 9_000_000,
            _ => 9_700_000,
        }
    }
}

/// A single fork name, with the bomb delay a glacier name sets.
fn fork(name: &str) -> Result<(Fork, Option<u64>), NetworkError> {
    let glacier = match name.to_ascii_lowercase().as_str() {
        "muirglacier" => Some((Fork::Istanbul, 9_000_000)),
        "arrowglacier" => Some((Fork::London, 10_700_000)),
        "grayglacier" => Some((Fork::London, 11_400_000)),
        _ => None,
    };
    if let Some((fork, delay)) = glacier {
        return Ok((fork, Some(delay)));
    }
    if name.to_ascii_lowercase().starts_with("bpo") {
        return Err(NetworkError::Unsupported(format!(
            "network fork `{name}`: the blob-parameter-only forks are not in the engine's fork              table, and their parameters come from each fixture's blobSchedule"
        )));
    }
    match name.parse::<Fork>() {
        Ok(fork) => Ok((fork, None)),
        Err(error @ ChainError::UnsupportedFork { .. }) => {
            Err(NetworkError::Unsupported(error.to_string()))
        }
        Err(error) => Err(NetworkError::Unknown(error.to_string())),
    }
}

/// The number `text` of network `name`, with an optional `k` (thousands) suffix.
fn number(name: &str, text: &str) -> Result<u64, NetworkError> {
    let (digits, scale) = match text.strip_suffix('k') {
        Some(digits) => (digits, 1000),
        None => (text, 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| {
            NetworkError::Unknown(format!("network `{name}`: `{text}` is not a block or time"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_transition_networks() {
        let cancun = Network::parse("Cancun").unwrap();
        assert_eq!(cancun.fork_at(1, 1), Fork::Cancun);
        let berlin_london = Network::parse("BerlinToLondonAt5").unwrap();
        assert_eq!(berlin_london.fork_at(4, 100), Fork::Berlin);
        assert_eq!(berlin_london.fork_at(5, 100), Fork::London);
        let timed = Network::parse("ShanghaiToCancunAtTime15k").unwrap();
        assert_eq!(timed.fork_at(100, 14_999), Fork::Shanghai);
        assert_eq!(timed.fork_at(100, 15_000), Fork::Cancun);
        let dao = Network::parse("HomesteadToDaoAt5").unwrap();
        assert_eq!(dao.fork_at(9, 0), Fork::Homestead);
        assert!(
            dao.chain
                .forks
                .iter()
                .any(|r| r.fork == EthereumHardfork::Dao)
        );
        assert_eq!(
            Network::parse("ArrowGlacier")
                .unwrap()
                .bomb_delay(Fork::London),
            10_700_000
        );
    }

    #[test]
    fn unsupported_and_unknown_networks() {
        assert!(matches!(
            Network::parse("Constantinople"),
            Err(NetworkError::Unsupported(reason)) if reason.contains("Constantinople")
        ));
        assert!(matches!(
            Network::parse("ArrowGlacierToParisAtDiffC0000"),
            Err(NetworkError::Unsupported(_))
        ));
        assert!(matches!(
            Network::parse("Atlantis"),
            Err(NetworkError::Unknown(_))
        ));
        assert!(matches!(
            Network::parse("LondonToBerlinAt5"),
            Err(NetworkError::Unknown(_))
        ));
    }
}
