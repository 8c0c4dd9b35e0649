//! # ReplayEVM workloads
//!
//! A deterministic, seeded generator of blocks for the engine (`replay-evm`): synthetic blocks modelled on what users do on
//! chain, for measuring how parallel a block is and testing the engines on known shapes.
//!
//! Every generated block is an ordinary [`ArchivedBlock`](replay_evm::block::ArchivedBlock) of a Cancun-era mainnet height
//! ([`ChainSpec::mainnet`](replay_evm::chain::ChainSpec::mainnet) applies Cancun rules): EIP-1559
//! transactions on chain id 1, really signed with secp256k1 keys derived from the seed (the
//! engine recovers the senders from the signatures), the pre-state they need (funded senders,
//! the project's contracts from `contracts/` (in this crate) with their storage written directly into the
//! pre-state) and a header that passes [`ArchivedBlock::check`](replay_evm::block::ArchivedBlock::check). The header fields only
//! execution can tell (`gasUsed`, `receiptsRoot`, `logsBloom`) are filled by replaying the
//! block once with [`replay_sequential`](replay_evm::sequential::replay_sequential), so a generated
//! block [`verify`](replay_evm::verify::verify)s like a mainnet one. Every transaction succeeds.
//!
//! The same `(workload, seed, size)` always gives the same block, byte for byte.
//!
//! | workload | what each transaction does | shared state |
//! | --- | --- | --- |
//! | `raw-transfers` | ETH transfer between fresh parties | none |
//! | `raw-transfers-to-one` | ETH transfer to one exchange address | recipient balance |
//! | `erc20-disjoint` | ERC-20 transfer between fresh holders | none (token code only) |
//! | `erc20-hot` | ERC-20 deposit to, or withdrawal via allowance from, one hot wallet | hot wallet's token balance |
//! | `amm-many-pools` | constant-product swap, each in its own pool | none |
//! | `amm-one-pool` | constant-product swap in one pool | the pool's reserves and token balances |
//! | `nft-mint` | ERC-721-like game item mint | the token counter |
//! | `dao-votes` | vote on one of four open proposals | each proposal's tallies |
//! | `supply-chain` | registry item update by its owner, one event each | mostly none (10% re-update an item) |
//! | `mixed-defi` | a fixed mix of all the above | a realistic few hot spots |
//!
//! [`random`] generates blocks of any fork from Frontier to Osaka from a grammar of
//! transaction kinds (transfers, tokens, swaps, CREATE, CREATE2, SELFDESTRUCT, BLOCKHASH,
//! reverts, out-of-gas, slot clears...), for the differential test of the parallel engine;
//! its contracts are small hand-assembled programs that run on every fork.
//!
//! ## Which file holds each part
//!
//! | file | what it holds |
//! | --- | --- |
//! | `workload.rs` | [`Workload`]: the named workloads, their names and descriptions |
//! | `generate.rs` | [`generate`], [`generate_gas`], [`txs_for_gas`] and the transaction kinds they share |
//! | `scenario.rs` | [`Scenario`]: hand-built blocks for engine tests ([`deploy_then_call`], [`selfdestruct_then_redeploy`], [`dependency_chain`], [`stale_blockhash`]) |
//! | `contracts.rs` | where the project's contracts live ([`TOKEN`], [`POOL`]...), their code hashes and the token's balance slot |
//! | `abi.rs` | the compiled contracts (`contracts/out/`, embedded by `build.rs`), calldata encoders, storage slots |
//! | `builder.rs` | the seeded random source, signing keys, pre-state and the sealing replay under every block |
//! | `random.rs` | [`random`]: random blocks of any fork, for the differential test |
//! | `bytecode.rs` | the hand-assembled contracts of the random blocks |
//! | `error.rs` | [`WorkloadError`] |
//!
//! `contracts/` holds the Solidity sources and their committed build output
//! (`contracts/build.sh` rebuilds it; see `contracts/README.md`).

mod abi;
mod builder;
mod bytecode;
mod contracts;
mod error;
mod generate;
pub mod random;
mod scenario;
mod workload;

pub use contracts::{
    BLOCKHASH_READER, COUNTER, EXCHANGE, FACTORY, GAME_ITEMS, GOVERNOR, POOL, REGISTRY, TOKEN,
    TOKEN_B, child_address, code_hash, pool_address, token_balance_slot,
};
pub use error::WorkloadError;
pub use generate::{generate, generate_gas, txs_for_gas};
pub use scenario::{
    Scenario, dependency_chain, deploy_then_call, execution_requests, selfdestruct_then_redeploy,
    stale_blockhash,
};
pub use workload::Workload;
