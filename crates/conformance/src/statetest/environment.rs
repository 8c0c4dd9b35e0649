//! The revm environment of a state test under one fork: the configuration (fork rules, chain
//! id, blob limits) and the block (`env`, with the base fee, PREVRANDAO and blob fee the fork
//! calls for).

use alloy_primitives::{B256, U256};
use replay_evm::chain::{ChainSpec, Fork};
use revm::{
    context::{BlockEnv, CfgEnv},
    context_interface::block::BlobExcessGasAndPrice,
    primitives::hardfork::SpecId,
};

use super::model::TestUnit;

/// The revm configuration and block of one fork.
pub(crate) struct Environment {
    /// The fork's rules, chain id and blob limits.
    pub(crate) cfg: CfgEnv,
    /// The block the transaction runs in.
    pub(crate) block: BlockEnv,
}

/// The revm configuration and block of `fork` for the test `unit` on chain `chain_id`.
pub(crate) fn environment(
    unit: &TestUnit,
    chain_id: u64,
    fork: Fork,
) -> Result<Environment, String> {
    let spec = fork.spec_id();
    let env = &unit.env;
    let mut cfg = CfgEnv::new_with_spec(spec).with_chain_id(chain_id);

    let mut block = BlockEnv {
        number: env.current_number.0,
        beneficiary: env.current_coinbase,
        timestamp: env.current_timestamp.0,
        gas_limit: env.current_gas_limit.to_u64("env.currentGasLimit")?,
        // The base fee exists from London on; before, it must not constrain the gas price.
        basefee: match env.current_base_fee {
            Some(fee) if spec.is_enabled_in(SpecId::LONDON) => fee.to_u64("env.currentBaseFee")?,
            _ => 0,
        },
        difficulty: U256::ZERO,
        prevrandao: None,
        blob_excess_gas_and_price: None,
        ..BlockEnv::default()
    };
    if spec.is_enabled_in(SpecId::MERGE) {
        // DIFFICULTY became PREVRANDAO; the header's difficulty is zero.
        let random = env
            .current_random
            .map(|r| B256::from(r.0))
            .unwrap_or_default();
        block.prevrandao = Some(random);
    } else {
        block.difficulty = env.current_difficulty.map(|d| d.0).unwrap_or_default();
    }

    if let Some(mut params) = ChainSpec::single_fork(chain_id, fork).blob_params_at(0, 0) {
        // EEST fixtures state the blob schedule they were filled with; it wins.
        let schedule = unit
            .config
            .as_ref()
            .and_then(|c| c.blob_schedule.as_ref())
            .and_then(|s| s.get(fork.name()));
        if let Some(entry) = schedule {
            params.max_blob_count = entry.max.to_u64("config.blobSchedule max")?;
            params.update_fraction = u128::from(
                entry
                    .base_fee_update_fraction
                    .to_u64("config.blobSchedule baseFeeUpdateFraction")?,
            );
        }
        if params.update_fraction == 0 {
            return Err("blob base fee update fraction is zero".to_owned());
        }
        // EIP-7594 (Osaka) caps blobs per transaction below the block maximum.
        cfg.set_max_blobs_per_tx(params.max_blobs_per_tx.min(params.max_blob_count));
        cfg.blob_base_fee_update_fraction = u64::try_from(params.update_fraction).ok();
        let excess_blob_gas = match env.current_excess_blob_gas {
            Some(excess) => excess.to_u64("env.currentExcessBlobGas")?,
            None => 0,
        };
        block.blob_excess_gas_and_price = Some(BlobExcessGasAndPrice {
            excess_blob_gas,
            blob_gasprice: params.calc_blob_fee(excess_blob_gas),
        });
    }
    Ok(Environment { cfg, block })
}
