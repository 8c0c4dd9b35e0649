//! The named workloads: one kind of block per use case, with its name on the command line.

use std::{fmt, str::FromStr};

use crate::error::WorkloadError;

/// A kind of block, modelled on one use case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Workload {
    /// ETH transfers, distinct senders and distinct recipients: fully independent.
    RawTransfers,
    /// ETH transfers from distinct senders to one exchange address.
    RawTransfersToOne,
    /// ERC-20 transfers between distinct holders of one token.
    Erc20Disjoint,
    /// ERC-20 transfers that all move the exchange hot wallet's balance: even transactions
    /// deposit to it, odd ones withdraw from it with `transferFrom` under an allowance.
    Erc20HotHolder,
    /// Constant-product swaps, each in its own pool (the two tokens are shared contracts,
    /// but every swap touches other balance slots).
    AmmManyPools,
    /// Constant-product swaps all in one pool.
    AmmOnePool,
    /// Game-item mints: every mint bumps the shared token counter.
    NftMint,
    /// DAO votes on four open proposals: votes on one proposal share its tally slots.
    DaoVotes,
    /// Supply-chain registry updates by the items' owners, one event each; one in ten
    /// transactions updates again an item already updated in the block.
    SupplyChain,
    /// A mixed DeFi block: 20% ETH transfers, 25% ERC-20 transfers, 10% exchange deposits,
    /// 20% swaps in three popular pools, 10% mints, 8% votes, 7% registry updates.
    MixedDefi,
}

impl Workload {
    /// Every workload, in a fixed order.
    pub const ALL: [Self; 10] = [
        Self::RawTransfers,
        Self::RawTransfersToOne,
        Self::Erc20Disjoint,
        Self::Erc20HotHolder,
        Self::AmmManyPools,
        Self::AmmOnePool,
        Self::NftMint,
        Self::DaoVotes,
        Self::SupplyChain,
        Self::MixedDefi,
    ];

    /// The workload's kebab-case name, e.g. `erc20-hot`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::RawTransfers => "raw-transfers",
            Self::RawTransfersToOne => "raw-transfers-to-one",
            Self::Erc20Disjoint => "erc20-disjoint",
            Self::Erc20HotHolder => "erc20-hot",
            Self::AmmManyPools => "amm-many-pools",
            Self::AmmOnePool => "amm-one-pool",
            Self::NftMint => "nft-mint",
            Self::DaoVotes => "dao-votes",
            Self::SupplyChain => "supply-chain",
            Self::MixedDefi => "mixed-defi",
        }
    }

    /// Every workload's name, in [`Workload::ALL`] order.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|w| w.name()).collect()
    }

    /// One line on what the workload's transactions do.
    pub const fn description(self) -> &'static str {
        match self {
            Self::RawTransfers => "ETH transfers between distinct parties (independent)",
            Self::RawTransfersToOne => "ETH transfers from distinct senders to one address",
            Self::Erc20Disjoint => "ERC-20 transfers between distinct holders",
            Self::Erc20HotHolder => "ERC-20 deposits to and withdrawals from one hot wallet",
            Self::AmmManyPools => "constant-product swaps, each in its own pool",
            Self::AmmOnePool => "constant-product swaps in one pool",
            Self::NftMint => "game NFT mints sharing one token counter",
            Self::DaoVotes => "DAO votes on four proposals (shared tallies)",
            Self::SupplyChain => "supply-chain registry updates by item owners, with events",
            Self::MixedDefi => "a deterministic mix of all the other workloads",
        }
    }

    /// The random stream of this workload, so that the same seed draws different choices
    /// in different workloads (the sender keys are the same).
    pub(crate) fn stream(self) -> u64 {
        1 + self as u64
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = WorkloadError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|w| w.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| WorkloadError::Unknown {
                name: s.to_owned(),
                known: Self::names().join(", "),
            })
    }
}
