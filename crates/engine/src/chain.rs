//! Chain rules: which hardfork governs a block, and the chain's id.
//!
//! A chain is described by data only ([`ChainSpec`]): its id, a name and the activation
//! point (block number or timestamp) of each hardfork. Mainnet is one such table
//! ([`ChainSpec::mainnet`]); a testnet or a devnet is another table, loadable from JSON with
//! [`ChainSpec::from_json`], with no code change. The [`ChainSpec`] implements alloy-evm's
//! [`EthExecutorSpec`], so the same table drives the block rules (system calls, rewards,
//! withdrawals, the DAO fork) that alloy-evm applies.

use std::{fmt, str::FromStr};

use alloy_eips::eip7840::BlobParams;
use alloy_evm::eth::spec::EthExecutorSpec;
use alloy_hardforks::{EthereumHardfork, EthereumHardforks, ForkCondition};
use alloy_primitives::{Address, address};
use revm::primitives::hardfork::SpecId;
use serde::{Deserialize, Serialize};

use crate::error::ChainError;

/// The execution-layer forks ReplayEVM replays, in activation order.
///
/// Difficulty-bomb-only forks (Muir Glacier, Arrow Glacier, Gray Glacier) change nothing
/// in execution and are folded into their predecessor; the DAO fork is an irregular state
/// change applied by the block rules, not an EVM version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Fork {
    /// Frontier (block 0).
    Frontier,
    /// Homestead (EIP-2, EIP-7).
    Homestead,
    /// Tangerine Whistle (EIP-150).
    Tangerine,
    /// Spurious Dragon (EIP-155, EIP-158/161).
    SpuriousDragon,
    /// Byzantium (status receipts, REVERT, STATICCALL).
    Byzantium,
    /// Petersburg (Constantinople without EIP-1283; mainnet never ran Constantinople itself).
    Petersburg,
    /// Istanbul.
    Istanbul,
    /// Berlin (access lists, typed transactions).
    Berlin,
    /// London (EIP-1559).
    London,
    /// Paris, the merge.
    Paris,
    /// Shanghai (withdrawals, PUSH0).
    Shanghai,
    /// Cancun (blobs, transient storage, EIP-4788, EIP-6780).
    Cancun,
    /// Prague (EIP-7702, EIP-2935, requests).
    Prague,
    /// Osaka (Fusaka).
    Osaka,
}

impl Fork {
    /// Every fork, oldest first.
    pub const ALL: [Self; 14] = [
        Self::Frontier,
        Self::Homestead,
        Self::Tangerine,
        Self::SpuriousDragon,
        Self::Byzantium,
        Self::Petersburg,
        Self::Istanbul,
        Self::Berlin,
        Self::London,
        Self::Paris,
        Self::Shanghai,
        Self::Cancun,
        Self::Prague,
        Self::Osaka,
    ];

    /// The revm specification that executes this fork.
    pub const fn spec_id(self) -> SpecId {
        match self {
            Self::Frontier => SpecId::FRONTIER,
            Self::Homestead => SpecId::HOMESTEAD,
            Self::Tangerine => SpecId::TANGERINE,
            Self::SpuriousDragon => SpecId::SPURIOUS_DRAGON,
            Self::Byzantium => SpecId::BYZANTIUM,
            Self::Petersburg => SpecId::PETERSBURG,
            Self::Istanbul => SpecId::ISTANBUL,
            Self::Berlin => SpecId::BERLIN,
            Self::London => SpecId::LONDON,
            Self::Paris => SpecId::MERGE,
            Self::Shanghai => SpecId::SHANGHAI,
            Self::Cancun => SpecId::CANCUN,
            Self::Prague => SpecId::PRAGUE,
            Self::Osaka => SpecId::OSAKA,
        }
    }

    /// The fork's canonical name, as printed in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Frontier => "Frontier",
            Self::Homestead => "Homestead",
            Self::Tangerine => "Tangerine",
            Self::SpuriousDragon => "SpuriousDragon",
            Self::Byzantium => "Byzantium",
            Self::Petersburg => "Petersburg",
            Self::Istanbul => "Istanbul",
            Self::Berlin => "Berlin",
            Self::London => "London",
            Self::Paris => "Paris",
            Self::Shanghai => "Shanghai",
            Self::Cancun => "Cancun",
            Self::Prague => "Prague",
            Self::Osaka => "Osaka",
        }
    }

    /// The alloy hardfork that activates this fork.
    const fn hardfork(self) -> EthereumHardfork {
        match self {
            Self::Frontier => EthereumHardfork::Frontier,
            Self::Homestead => EthereumHardfork::Homestead,
            Self::Tangerine => EthereumHardfork::Tangerine,
            Self::SpuriousDragon => EthereumHardfork::SpuriousDragon,
            Self::Byzantium => EthereumHardfork::Byzantium,
            Self::Petersburg => EthereumHardfork::Petersburg,
            Self::Istanbul => EthereumHardfork::Istanbul,
            Self::Berlin => EthereumHardfork::Berlin,
            Self::London => EthereumHardfork::London,
            Self::Paris => EthereumHardfork::Paris,
            Self::Shanghai => EthereumHardfork::Shanghai,
            Self::Cancun => EthereumHardfork::Cancun,
            Self::Prague => EthereumHardfork::Prague,
            Self::Osaka => EthereumHardfork::Osaka,
        }
    }

    /// Whether receipts of this fork carry a status code (EIP-658) rather than an
    /// intermediate state root. Only status receipts can be rebuilt from a partial pre-state.
    pub const fn has_status_receipts(self) -> bool {
        self as u8 >= Self::Byzantium as u8
    }
}

impl fmt::Display for Fork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fork {
    type Err = ChainError;

    /// Parses a fork name, case-insensitively. Besides the canonical names this accepts the
    /// names ethereum/tests uses (`EIP150`, `EIP158`, `ConstantinopleFix`, `Merge`) and the
    /// common long forms (`TangerineWhistle`, `Shanghai`, `Fusaka`...).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fork = match s.to_ascii_lowercase().as_str() {
            "frontier" => Self::Frontier,
            "homestead" => Self::Homestead,
            "tangerine" | "tangerinewhistle" | "eip150" => Self::Tangerine,
            "spuriousdragon" | "eip158" => Self::SpuriousDragon,
            "byzantium" => Self::Byzantium,
            "constantinople" => {
                return Err(ChainError::UnsupportedFork {
                    fork: s.to_owned(),
                    reason: "revm has no Constantinople spec: its EIP-1283 gas metering was \
                             withdrawn before mainnet activation (Petersburg is \
                             `ConstantinopleFix`)",
                });
            }
            "petersburg" | "constantinoplefix" => Self::Petersburg,
            "istanbul" => Self::Istanbul,
            "berlin" => Self::Berlin,
            "london" => Self::London,
            "paris" | "merge" => Self::Paris,
            "shanghai" => Self::Shanghai,
            "cancun" => Self::Cancun,
            "prague" => Self::Prague,
            "osaka" | "fusaka" => Self::Osaka,
            _ => return Err(ChainError::UnknownFork(s.to_owned())),
        };
        Ok(fork)
    }
}

/// When a hardfork activates: at a block number (before the merge) or a timestamp (after).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Active from this block number on.
    Block(u64),
    /// Active from this block timestamp on.
    Timestamp(u64),
}

/// One row of a chain's hardfork table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkActivation {
    /// The hardfork, as alloy names it (includes `Dao` and the blob-parameter-only forks).
    pub fork: EthereumHardfork,
    /// When it activates.
    pub at: Activation,
}

/// The rules of one chain, as data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSpec {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Human-readable name.
    pub name: String,
    /// Hardfork activations. Forks absent from the table never activate.
    pub forks: Vec<ForkActivation>,
    /// The EIP-6110 deposit contract, if the chain has one.
    pub deposit_contract: Option<Address>,
}

impl ChainSpec {
    /// Ethereum mainnet (chain id 1).
    pub fn mainnet() -> Self {
        use Activation::{Block, Timestamp};
        use EthereumHardfork as H;
        let table = [
            (H::Frontier, Block(0)),
            (H::Homestead, Block(1_150_000)),
            (H::Dao, Block(1_920_000)),
            (H::Tangerine, Block(2_463_000)),
            (H::SpuriousDragon, Block(2_675_000)),
            (H::Byzantium, Block(4_370_000)),
            (H::Constantinople, Block(7_280_000)),
            (H::Petersburg, Block(7_280_000)),
            (H::Istanbul, Block(9_069_000)),
            (H::MuirGlacier, Block(9_200_000)),
            (H::Berlin, Block(12_244_000)),
            (H::London, Block(12_965_000)),
            (H::ArrowGlacier, Block(13_773_000)),
            (H::GrayGlacier, Block(15_050_000)),
            (H::Paris, Block(15_537_394)),
            (H::Shanghai, Timestamp(1_681_338_455)),
            (H::Cancun, Timestamp(1_710_338_135)),
            (H::Prague, Timestamp(1_746_612_311)),
            (H::Osaka, Timestamp(1_764_798_551)),
            (H::Bpo1, Timestamp(1_765_290_071)),
            (H::Bpo2, Timestamp(1_767_747_671)),
        ];
        Self {
            chain_id: 1,
            name: "mainnet".to_owned(),
            forks: table
                .into_iter()
                .map(|(fork, at)| ForkActivation { fork, at })
                .collect(),
            deposit_contract: Some(address!("0x00000000219ab540356cBB839Cbe05303d7705Fa")),
        }
    }

    /// A chain every one of whose forks up to and including `fork` is active from genesis:
    /// the environment ethereum/tests state tests assume.
    pub fn single_fork(chain_id: u64, fork: Fork) -> Self {
        let mut forks: Vec<ForkActivation> = Fork::ALL
            .iter()
            .filter(|f| **f <= fork)
            .map(|f| ForkActivation {
                fork: f.hardfork(),
                at: Activation::Block(0),
            })
            .collect();
        // Petersburg is Constantinople without EIP-1283, and alloy's block rules ask for
        // Constantinople (the 2 ETH block reward, EIP-1234): activate both, as mainnet does.
        if fork >= Fork::Petersburg {
            forks.push(ForkActivation {
                fork: EthereumHardfork::Constantinople,
                at: Activation::Block(0),
            });
        }
        // Post-merge forks are timestamp-activated in alloy's rules.
        for row in &mut forks {
            if matches!(
                row.fork,
                EthereumHardfork::Shanghai
                    | EthereumHardfork::Cancun
                    | EthereumHardfork::Prague
                    | EthereumHardfork::Osaka
            ) {
                row.at = Activation::Timestamp(0);
            }
        }
        Self {
            chain_id,
            name: format!("{fork}-from-genesis"),
            forks,
            deposit_contract: None,
        }
    }

    /// The chain with this id, among the chains ReplayEVM knows by heart.
    ///
    /// # Errors
    /// [`ChainError::UnknownChain`] for any other id: load its table with
    /// [`ChainSpec::from_json`].
    pub fn by_id(chain_id: u64) -> Result<Self, ChainError> {
        match chain_id {
            1 => Ok(Self::mainnet()),
            other => Err(ChainError::UnknownChain(other)),
        }
    }

    /// Parses a chain table from JSON (the serde form of [`ChainSpec`]).
    ///
    /// # Errors
    /// [`ChainError::Json`] when the text is not a valid table.
    pub fn from_json(text: &str) -> Result<Self, ChainError> {
        serde_json::from_str(text).map_err(|e| ChainError::Json(e.to_string()))
    }

    fn activation(&self, fork: EthereumHardfork) -> Option<Activation> {
        self.forks
            .iter()
            .find(|row| row.fork == fork)
            .map(|row| row.at)
    }

    fn active(&self, fork: EthereumHardfork, number: u64, timestamp: u64) -> bool {
        match self.activation(fork) {
            Some(Activation::Block(b)) => number >= b,
            Some(Activation::Timestamp(t)) => timestamp >= t,
            None => false,
        }
    }

    /// The fork that governs a block with this number and timestamp.
    pub fn fork_at(&self, number: u64, timestamp: u64) -> Fork {
        Fork::ALL
            .iter()
            .rev()
            .copied()
            .find(|f| self.active(f.hardfork(), number, timestamp))
            .unwrap_or(Fork::Frontier)
    }

    /// The EIP-4844/7840 blob parameters in force at `timestamp`, or `None` before Cancun.
    pub fn blob_params_at(&self, number: u64, timestamp: u64) -> Option<BlobParams> {
        use EthereumHardfork as H;
        let schedule = [
            (H::Bpo2, BlobParams::bpo2()),
            (H::Bpo1, BlobParams::bpo1()),
            (H::Osaka, BlobParams::osaka()),
            (H::Prague, BlobParams::prague()),
            (H::Cancun, BlobParams::cancun()),
        ];
        schedule
            .into_iter()
            .find(|(fork, _)| self.active(*fork, number, timestamp))
            .map(|(_, params)| params)
    }
}

impl EthereumHardforks for ChainSpec {
    fn ethereum_fork_activation(&self, fork: EthereumHardfork) -> ForkCondition {
        match self.activation(fork) {
            Some(Activation::Block(b)) => ForkCondition::Block(b),
            Some(Activation::Timestamp(t)) => ForkCondition::Timestamp(t),
            None => ForkCondition::Never,
        }
    }
}

impl EthExecutorSpec for ChainSpec {
    fn deposit_contract_address(&self) -> Option<Address> {
        self.deposit_contract
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainnet_fork_boundaries() {
        let m = ChainSpec::mainnet();
        let cases = [
            (0, 1_438_269_988, Fork::Frontier),
            (1_149_999, 0, Fork::Frontier),
            (1_150_000, 0, Fork::Homestead),
            (2_462_999, 0, Fork::Homestead),
            (2_463_000, 0, Fork::Tangerine),
            (2_675_000, 0, Fork::SpuriousDragon),
            (4_369_999, 0, Fork::SpuriousDragon),
            (4_370_000, 0, Fork::Byzantium),
            (7_280_000, 0, Fork::Petersburg),
            (9_069_000, 0, Fork::Istanbul),
            (12_244_000, 0, Fork::Berlin),
            (12_965_000, 0, Fork::London),
            (15_537_393, 1_663_224_162, Fork::London),
            (15_537_394, 1_663_224_179, Fork::Paris),
            (17_034_870, 1_681_338_455, Fork::Shanghai),
            (19_426_587, 1_710_338_135, Fork::Cancun),
            (22_431_084, 1_746_612_311, Fork::Prague),
            (23_935_694, 1_764_798_551, Fork::Osaka),
        ];
        for (number, timestamp, fork) in cases {
            assert_eq!(m.fork_at(number, timestamp), fork, "block {number}");
        }
    }

    #[test]
    fn mainnet_agrees_with_alloy_hardforks() {
        let ours = ChainSpec::mainnet();
        for (fork, cond) in EthereumHardfork::mainnet() {
            let mine = ours.ethereum_fork_activation(fork);
            match cond {
                ForkCondition::TTD {
                    activation_block_number,
                    ..
                } => {
                    assert_eq!(
                        mine,
                        ForkCondition::Block(activation_block_number),
                        "{fork}"
                    )
                }
                other => assert_eq!(mine, other, "{fork}"),
            }
        }
    }

    #[test]
    fn fork_names_round_trip_and_aliases() {
        for fork in Fork::ALL {
            assert_eq!(fork.name().parse::<Fork>().unwrap(), fork);
        }
        assert_eq!("EIP150".parse::<Fork>().unwrap(), Fork::Tangerine);
        assert_eq!("EIP158".parse::<Fork>().unwrap(), Fork::SpuriousDragon);
        assert_eq!(
            "ConstantinopleFix".parse::<Fork>().unwrap(),
            Fork::Petersburg
        );
        assert_eq!("Merge".parse::<Fork>().unwrap(), Fork::Paris);
        let err = "Atlantis".parse::<Fork>().unwrap_err();
        assert_eq!(err.to_string(), "unknown fork `Atlantis`");
    }

    #[test]
    fn a_second_chain_is_data() {
        let json = r#"{"chain_id": 17000, "name": "devnet", "deposit_contract": null,
            "forks": [{"fork": "Frontier", "at": {"block": 0}},
                      {"fork": "London", "at": {"block": 0}},
                      {"fork": "Shanghai", "at": {"timestamp": 100}}]}"#;
        let spec = ChainSpec::from_json(json).unwrap();
        assert_eq!(spec.fork_at(5, 99), Fork::London);
        assert_eq!(spec.fork_at(6, 100), Fork::Shanghai);
        assert!(ChainSpec::from_json("{").is_err());
    }

    #[test]
    fn single_fork_chain_activates_everything_up_to_the_fork() {
        let spec = ChainSpec::single_fork(1, Fork::Cancun);
        assert_eq!(spec.fork_at(1, 1), Fork::Cancun);
        assert!(spec.blob_params_at(1, 1).is_some());
        assert_eq!(
            ChainSpec::single_fork(1, Fork::Istanbul).fork_at(1, 1),
            Fork::Istanbul
        );
        // The block rules see Constantinople from Petersburg on (the 2 ETH reward).
        let petersburg = ChainSpec::single_fork(1, Fork::Petersburg);
        assert!(petersburg.is_constantinople_active_at_block(0));
        assert!(!ChainSpec::single_fork(1, Fork::Byzantium).is_constantinople_active_at_block(0));
    }
}
