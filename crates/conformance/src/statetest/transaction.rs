//! The transaction of one post entry: the `data`/`gasLimit`/`value` it selects from the
//! template, as revm's [`TxEnv`], or why no valid transaction can carry it (a field wider than
//! its RLP type, a blob or set-code transaction without a recipient, a fee the sender cannot
//! pay).

use alloy_primitives::{Address, TxKind, U256};
use revm::{
    context::{TxEnv, either::Either},
    context_interface::transaction::{Authorization, SignedAuthorization},
};

use super::model::{self, Indexes, TestUnit, pick};
use crate::json::Quantity;

/// A transaction ready for revm, or rejected before it (a field no valid transaction can hold).
pub(crate) enum BuiltTx {
    /// The transaction revm executes.
    Valid(Box<TxEnv>),
    /// Why no valid transaction can carry the case.
    Invalid(String),
}

/// The transaction of the test `unit` sent by `caller` that `indexes` selects, or why no valid
/// transaction can carry it.
///
/// # Errors
/// A message when the fixture itself is inconsistent (index out of range, no sender).
pub(crate) fn transaction(
    unit: &TestUnit,
    chain_id: u64,
    caller: Address,
    indexes: Indexes,
) -> Result<BuiltTx, String> {
    let parts = &unit.transaction;
    let data = pick(&parts.data, indexes.data, "data")?.clone();
    let gas_limit = *pick(&parts.gas_limit, indexes.gas, "gasLimit")?;
    let value = *pick(&parts.value, indexes.value, "value")?;

    // Fields that no RLP-encodable transaction can carry make the transaction invalid.
    let Quantity::Value(value) = value else {
        return Ok(BuiltTx::Invalid("value wider than 256 bits".to_owned()));
    };
    let Some(gas_limit) = gas_limit.to_u64() else {
        return Ok(BuiltTx::Invalid("gas limit wider than 64 bits".to_owned()));
    };
    let Some(nonce) = parts.nonce.to_u64() else {
        return Ok(BuiltTx::Invalid(
            "nonce wider than 64 bits (EIP-2681)".to_owned(),
        ));
    };

    // EIP-4844 and EIP-7702 transactions encode `to` as a 20-byte address: they have no
    // contract-creation form, so such a transaction cannot exist.
    if parts.to.is_none() {
        if parts.max_fee_per_blob_gas.is_some() {
            return Ok(BuiltTx::Invalid(
                "blob transaction without `to` (EIP-4844 has no contract creation)".to_owned(),
            ));
        }
        if parts.authorization_list.is_some() {
            return Ok(BuiltTx::Invalid(
                "set-code transaction without `to` (EIP-7702 has no contract creation)".to_owned(),
            ));
        }
    }

    let access_list = parts
        .access_lists
        .get(indexes.data)
        .and_then(Option::as_ref);
    let tx_type = parts.tx_type(access_list.is_some())?;

    let max_fee = parts
        .gas_price
        .or(parts.max_fee_per_gas)
        .unwrap_or(Quantity::Value(U256::ZERO));
    let priority_fee = parts.max_priority_fee_per_gas;
    let blob_fee = parts.max_fee_per_blob_gas;
    let blob_hashes = parts.blob_versioned_hashes.clone().unwrap_or_default();
    let (Some(gas_price), Some(gas_priority_fee), Some(max_fee_per_blob_gas)) = (
        max_fee.to_u128(),
        priority_fee.map(Quantity::to_u128).unwrap_or(Some(0)),
        blob_fee.map(Quantity::to_u128).unwrap_or(Some(0)),
    ) else {
        return wide_fee(
            unit,
            caller,
            gas_limit,
            value,
            max_fee,
            priority_fee,
            blob_fee,
            blob_hashes.len(),
        );
    };

    let mut authorization_list = Vec::new();
    for (i, auth) in parts.authorization_list.iter().flatten().enumerate() {
        let (Quantity::Value(chain_id), Some(auth_nonce), Quantity::Value(r), Quantity::Value(s)) =
            (auth.chain_id, auth.nonce.to_u64(), auth.r, auth.s)
        else {
            return Ok(BuiltTx::Invalid(format!(
                "authorization {i}: a field exceeds its bound (EIP-7702)"
            )));
        };
        let inner = Authorization {
            chain_id,
            address: auth.address,
            nonce: auth_nonce,
        };
        let parity = auth
            .y_parity
            .or(auth.v)
            .unwrap_or(Quantity::Value(U256::ZERO));
        let Quantity::Value(parity) = parity else {
            return Ok(BuiltTx::Invalid(format!(
                "authorization {i}: y_parity wider than 8 bits"
            )));
        };
        match u8::try_from(parity) {
            Ok(y_parity) => authorization_list.push(Either::Left(
                SignedAuthorization::new_unchecked(inner, y_parity, r, s),
            )),
            Err(_) => {
                return Ok(BuiltTx::Invalid(format!(
                    "authorization {i}: y_parity wider than 8 bits (EIP-7702)"
                )));
            }
        }
    }
    // revm recovers each signed authority itself and skips invalid ones (EIP-7702).

    let tx = TxEnv {
        tx_type,
        caller,
        gas_limit,
        gas_price,
        kind: parts.to.map_or(TxKind::Create, TxKind::Call),
        value,
        data,
        nonce,
        chain_id: Some(chain_id),
        access_list: model::access_list(access_list),
        gas_priority_fee: priority_fee.map(|_| gas_priority_fee),
        blob_hashes,
        max_fee_per_blob_gas,
        authorization_list,
    };
    Ok(BuiltTx::Valid(Box::new(tx)))
}

/// A fee wider than revm's `u128`. Such a transaction is still well-formed, but the
/// sender can only pay for it with an astronomically large balance: decide it exactly
/// with 256-bit arithmetic against the pre-state balance.
#[allow(clippy::too_many_arguments)]
fn wide_fee(
    unit: &TestUnit,
    caller: Address,
    gas_limit: u64,
    value: U256,
    max_fee: Quantity,
    priority_fee: Option<Quantity>,
    blob_fee: Option<Quantity>,
    blob_count: usize,
) -> Result<BuiltTx, String> {
    let (Quantity::Value(max_fee), Quantity::Value(priority), Quantity::Value(blob_fee)) = (
        max_fee,
        priority_fee.unwrap_or(Quantity::Value(U256::ZERO)),
        blob_fee.unwrap_or(Quantity::Value(U256::ZERO)),
    ) else {
        return Ok(BuiltTx::Invalid("fee wider than 256 bits".to_owned()));
    };
    if priority_fee.is_some() && priority > max_fee {
        return Ok(BuiltTx::Invalid(
            "max priority fee per gas exceeds max fee per gas".to_owned(),
        ));
    }
    let balance = unit
        .pre
        .get(&caller)
        .map(|a| a.balance.0)
        .unwrap_or_default();
    let blob_gas = U256::from(blob_count as u64 * revm::primitives::eip4844::GAS_PER_BLOB);
    let cost = U256::from(gas_limit)
        .checked_mul(max_fee)
        .and_then(|c| c.checked_add(value))
        .and_then(|c| {
            blob_gas
                .checked_mul(blob_fee)
                .and_then(|b| c.checked_add(b))
        });
    match cost {
        Some(cost) if cost <= balance => Err(format!(
            "a fee wider than 128 bits that the sender can afford: revm 43 cannot represent it \
             (max fee {max_fee}, balance {balance})"
        )),
        _ => Ok(BuiltTx::Invalid(format!(
            "insufficient funds: gas limit * max fee per gas (fee {max_fee}) + value exceeds \
             the sender's balance {balance}"
        ))),
    }
}
