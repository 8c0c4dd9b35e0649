//! The header-validity rules the engine does not check, applied by the runner before a block
//! is executed: each header against its parent. These are the consensus rules of the
//! execution layer:
//!
//! - the number is the parent's plus one, the timestamp is later than the parent's, the
//!   extra data is at most 32 bytes (and `dao-hard-fork` in the ten blocks from the DAO
//!   fork on, where the network has it);
//! - the gas limit moves by less than 1/1024 of the parent's (doubled at the London block,
//!   EIP-1559's elasticity), is at least 5000 and at most 2^63 - 1, and the gas used is at
//!   most the gas limit;
//! - each fork's header fields are present exactly from that fork on (base fee, withdrawals
//!   root, blob gas and beacon root, requests hash);
//! - the base fee is EIP-1559's (alloy-eips), the initial one at the London block; the
//!   excess blob gas is EIP-4844's (alloy-eips, with the block's blob parameters), the blob
//!   gas used a whole number of blobs within the block's maximum;
//! - before the merge, the difficulty is the one its fork's formula gives (`difficulty.rs`);
//!   from the merge on (EIP-3675), difficulty and nonce are zero and the block has no
//!   ommers.
//!
//! A block's ommers are checked against its ancestors in `ommers.rs`, each ommer header
//! with these rules. The PoW seal (mix hash and nonce against Ethash) is not checked:
//! ethereum/tests blockchain tests declare `sealEngine: NoProof`, and the runner skips those
//! that do not.

use std::fmt;

use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header};
use alloy_eips::{
    eip1559::{BaseFeeParams, DEFAULT_ELASTICITY_MULTIPLIER, INITIAL_BASE_FEE},
    eip4844::DATA_GAS_PER_BLOB,
};
use alloy_primitives::B64;
use replay_evm::chain::Fork;

use super::{difficulty::difficulty, network::Network};

/// Largest extra data a header may carry.
const MAX_EXTRA_DATA: usize = 32;
/// Smallest gas limit.
const MIN_GAS_LIMIT: u64 = 5000;
/// Largest gas limit (2^63 - 1).
const MAX_GAS_LIMIT: u64 = i64::MAX as u64;
/// The gas limit may move by less than the parent's divided by this.
const GAS_LIMIT_BOUND_DIVISOR: u64 = 1024;
/// The extra data of the first blocks of the DAO fork (the fork's pro-fork marker).
const DAO_EXTRA_DATA: &[u8] = b"dao-hard-fork";
/// How many blocks from the DAO fork on must carry it.
const DAO_EXTRA_DATA_BLOCKS: u64 = 10;

/// The header rule a header breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderRule {
    /// The number is not the parent's plus one.
    Number,
    /// The timestamp is not later than the parent's.
    Timestamp,
    /// The extra data is longer than 32 bytes.
    ExtraData,
    /// The gas limit is out of bounds.
    GasLimit,
    /// The gas used exceeds the gas limit.
    GasUsed,
    /// A fork's header field is missing, or present before its fork.
    Fields,
    /// The base fee is not EIP-1559's.
    BaseFee,
    /// The excess blob gas or the blob gas used is not EIP-4844's.
    BlobGas,
    /// The difficulty is not the formula's (before the merge).
    Difficulty,
    /// A rule of proof of stake (EIP-3675): zero difficulty and nonce, no ommers.
    PostMerge,
}

/// A header that breaks a rule, with what it holds and what the rule wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderError {
    /// The rule broken.
    pub(crate) rule: HeaderRule,
    /// What is wrong.
    pub(crate) message: String,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Checks `header` against its `parent` under `network` (see the module docs).
///
/// # Errors
/// The first rule broken.
pub(crate) fn check_header(
    header: &Header,
    parent: &Header,
    network: &Network,
) -> Result<(), HeaderError> {
    let fail = |rule, message: String| Err(HeaderError { rule, message });
    let fork = network.fork_at(header.number, header.timestamp);
    let parent_fork = network.fork_at(parent.number, parent.timestamp);

    if header.extra_data.len() > MAX_EXTRA_DATA {
        return fail(
            HeaderRule::ExtraData,
            format!(
                "extra data is {} bytes, more than {MAX_EXTRA_DATA}",
                header.extra_data.len()
            ),
        );
    }
    if let Some(dao) = network.dao_block()
        && (dao..dao + DAO_EXTRA_DATA_BLOCKS).contains(&header.number)
        && header.extra_data.as_ref() != DAO_EXTRA_DATA
    {
        return fail(
            HeaderRule::ExtraData,
            format!(
                "extra data {} of a DAO-fork block must be `dao-hard-fork`",
                header.extra_data
            ),
        );
    }
    if header.timestamp <= parent.timestamp {
        return fail(
            HeaderRule::Timestamp,
            format!(
                "timestamp {} is not after the parent's {}",
                header.timestamp, parent.timestamp
            ),
        );
    }
    if Some(header.number) != parent.number.checked_add(1) {
        return fail(
            HeaderRule::Number,
            format!(
                "number {} does not follow the parent's {}",
                header.number, parent.number
            ),
        );
    }
    check_gas_limit(header, parent, fork, parent_fork)?;
    if header.gas_used > header.gas_limit {
        return fail(
            HeaderRule::GasUsed,
            format!(
                "gas used {} exceeds the gas limit {}",
                header.gas_used, header.gas_limit
            ),
        );
    }
    check_fields(header, fork)?;
    if fork >= Fork::London {
        let expected = if parent_fork < Fork::London {
            Some(INITIAL_BASE_FEE)
        } else {
            parent.next_block_base_fee(BaseFeeParams::ethereum())
        };
        if header.base_fee_per_gas != expected {
            return fail(
                HeaderRule::BaseFee,
                format!(
                    "base fee {:?}, EIP-1559 gives {expected:?}",
                    header.base_fee_per_gas
                ),
            );
        }
    }
    if fork >= Fork::Cancun {
        check_blob_gas(header, parent, parent_fork, network)?;
    }
    if fork >= Fork::Paris {
        if !header.difficulty.is_zero() || header.nonce != B64::ZERO {
            return fail(
                HeaderRule::PostMerge,
                format!(
                    "difficulty {} and nonce {} must be zero after the merge",
                    header.difficulty, header.nonce
                ),
            );
        }
        if header.ommers_hash != EMPTY_OMMER_ROOT_HASH {
            return fail(
                HeaderRule::PostMerge,
                format!(
                    "ommers hash {} must be the empty list's after the merge",
                    header.ommers_hash
                ),
            );
        }
    } else {
        let expected = difficulty(header, parent, fork, network.bomb_delay(fork));
        if header.difficulty != expected {
            return fail(
                HeaderRule::Difficulty,
                format!(
                    "difficulty {}, the {fork} formula gives {expected}",
                    header.difficulty
                ),
            );
        }
    }
    Ok(())
}

fn check_gas_limit(
    header: &Header,
    parent: &Header,
    fork: Fork,
    parent_fork: Fork,
) -> Result<(), HeaderError> {
    let parent_limit = if fork >= Fork::London && parent_fork < Fork::London {
        parent
            .gas_limit
            .saturating_mul(DEFAULT_ELASTICITY_MULTIPLIER)
    } else {
        parent.gas_limit
    };
    let bound = parent_limit / GAS_LIMIT_BOUND_DIVISOR;
    let moved = header.gas_limit.abs_diff(parent_limit);
    let message = if header.gas_limit > MAX_GAS_LIMIT {
        format!("gas limit {} exceeds 2^63 - 1", header.gas_limit)
    } else if moved >= bound {
        format!(
            "gas limit {} moves by {moved} from the parent's {parent_limit}, at least the bound \
             {bound}",
            header.gas_limit
        )
    } else if header.gas_limit < MIN_GAS_LIMIT {
        format!(
            "gas limit {} is below the minimum {MIN_GAS_LIMIT}",
            header.gas_limit
        )
    } else {
        return Ok(());
    };
    Err(HeaderError {
        rule: HeaderRule::GasLimit,
        message,
    })
}

/// Each fork's header fields present exactly from that fork on.
fn check_fields(header: &Header, fork: Fork) -> Result<(), HeaderError> {
    let fields = [
        (
            "baseFeePerGas",
            header.base_fee_per_gas.is_some(),
            Fork::London,
        ),
        (
            "withdrawalsRoot",
            header.withdrawals_root.is_some(),
            Fork::Shanghai,
        ),
        ("blobGasUsed", header.blob_gas_used.is_some(), Fork::Cancun),
        (
            "excessBlobGas",
            header.excess_blob_gas.is_some(),
            Fork::Cancun,
        ),
        (
            "parentBeaconBlockRoot",
            header.parent_beacon_block_root.is_some(),
            Fork::Cancun,
        ),
        ("requestsHash", header.requests_hash.is_some(), Fork::Prague),
    ];
    for (field, present, since) in fields {
        if present != (fork >= since) {
            let message = if present {
                format!("{field} is present, but {fork} precedes {since}")
            } else {
                format!("{field} is missing, and {fork} has it (since {since})")
            };
            return Err(HeaderError {
                rule: HeaderRule::Fields,
                message,
            });
        }
    }
    Ok(())
}

fn check_blob_gas(
    header: &Header,
    parent: &Header,
    parent_fork: Fork,
    network: &Network,
) -> Result<(), HeaderError> {
    let fail = |message| {
        Err(HeaderError {
            rule: HeaderRule::BlobGas,
            message,
        })
    };
    let Some(params) = network
        .chain
        .blob_params_at(header.number, header.timestamp)
    else {
        return fail(format!("block {} has no blob parameters", header.number));
    };
    let expected = if parent_fork < Fork::Cancun {
        Some(0)
    } else {
        parent.next_block_excess_blob_gas(params)
    };
    if header.excess_blob_gas != expected {
        return fail(format!(
            "excess blob gas {:?}, EIP-4844 gives {expected:?}",
            header.excess_blob_gas
        ));
    }
    let used = header.blob_gas_used.unwrap_or_default();
    if !used.is_multiple_of(DATA_GAS_PER_BLOB) || used > params.max_blob_gas_per_block() {
        return fail(format!(
            "blob gas used {used} is not a whole number of blobs within the maximum {}",
            params.max_blob_gas_per_block()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{B256, U256};

    fn parent() -> Header {
        Header {
            number: 10,
            timestamp: 1000,
            gas_limit: 1_000_000,
            difficulty: U256::from(1_000_000),
            base_fee_per_gas: Some(1_000),
            gas_used: 500_000,
            ..Default::default()
        }
    }

    fn child(parent: &Header, network: &Network) -> Header {
        let fork = network.fork_at(parent.number + 1, parent.timestamp + 10);
        let mut header = Header {
            parent_hash: parent.hash_slow(),
            number: parent.number + 1,
            timestamp: parent.timestamp + 10,
            gas_limit: parent.gas_limit,
            base_fee_per_gas: parent.next_block_base_fee(BaseFeeParams::ethereum()),
            ..Default::default()
        };
        header.difficulty = difficulty(&header, parent, fork, network.bomb_delay(fork));
        header
    }

    #[test]
    fn a_valid_child_passes_and_each_rule_is_named() {
        let network = Network::parse("London").unwrap();
        let parent = parent();
        let good = child(&parent, &network);
        assert_eq!(check_header(&good, &parent, &network), Ok(()));

        type Break = fn(&mut Header);
        let cases: [(Break, HeaderRule); 7] = [
            (|h| h.number += 1, HeaderRule::Number),
            (|h| h.timestamp = 1000, HeaderRule::Timestamp),
            (|h| h.extra_data = vec![0; 33].into(), HeaderRule::ExtraData),
            (|h| h.gas_limit += 1_000_000 / 1024, HeaderRule::GasLimit),
            (|h| h.gas_used = h.gas_limit + 1, HeaderRule::GasUsed),
            (|h| h.base_fee_per_gas = Some(1), HeaderRule::BaseFee),
            (|h| h.difficulty += U256::from(1), HeaderRule::Difficulty),
        ];
        for (change, rule) in cases {
            let mut bad = good.clone();
            change(&mut bad);
            assert_eq!(
                check_header(&bad, &parent, &network).unwrap_err().rule,
                rule
            );
        }
        let mut early = good.clone();
        early.withdrawals_root = Some(B256::ZERO);
        assert_eq!(
            check_header(&early, &parent, &network).unwrap_err().rule,
            HeaderRule::Fields
        );
    }

    #[test]
    fn post_merge_blocks_have_no_difficulty_and_the_london_block_doubles_the_gas_target() {
        let paris = Network::parse("Paris").unwrap();
        let merged = Header {
            difficulty: U256::ZERO,
            ..parent()
        };
        let mut header = child(&merged, &paris);
        header.difficulty = U256::ZERO;
        assert_eq!(check_header(&header, &merged, &paris), Ok(()));
        header.difficulty = U256::from(1);
        assert_eq!(
            check_header(&header, &merged, &paris).unwrap_err().rule,
            HeaderRule::PostMerge
        );

        let network = Network::parse("BerlinToLondonAt11").unwrap();
        let berlin_parent = Header {
            base_fee_per_gas: None,
            ..parent()
        };
        let mut london = child(&berlin_parent, &network);
        london.base_fee_per_gas = Some(INITIAL_BASE_FEE);
        london.gas_limit = 2 * berlin_parent.gas_limit;
        assert_eq!(check_header(&london, &berlin_parent, &network), Ok(()));
    }

    #[test]
    fn dao_fork_blocks_carry_the_marker() {
        let network = Network::parse("HomesteadToDaoAt11").unwrap();
        let parent = Header {
            base_fee_per_gas: None,
            ..parent()
        };
        let mut header = child(&parent, &network);
        header.base_fee_per_gas = None;
        assert_eq!(
            check_header(&header, &parent, &network).unwrap_err().rule,
            HeaderRule::ExtraData
        );
        header.extra_data = DAO_EXTRA_DATA.into();
        assert_eq!(check_header(&header, &parent, &network), Ok(()));
    }
}
