//! Verification of a replay against the block header: cumulative gas used, logs bloom,
//! from Byzantium on the receipts root, and from Prague on the EIP-7685 requests hash.
//!
//! Before Byzantium a receipt carries the intermediate state root after its transaction, which
//! needs the full state; an archived pre-state is partial, so there the receipts root cannot be
//! rebuilt and only the gas used and logs bloom (everything else a receipt commits to) are
//! checked. The [`Verification`] says which fields were checked.

use alloy_consensus::{Header, ReceiptEnvelope, proofs::calculate_receipt_root};
use alloy_primitives::{B256, Bloom};

use crate::{error::VerifyError, sequential::BlockReplay};

/// What was checked, and the values the replay produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Receipts root of the replay's receipts (status receipts; see the module docs).
    pub receipts_root: B256,
    /// Whether `receipts_root` was compared with the header (Byzantium on).
    pub receipts_root_checked: bool,
    /// The replay's logs bloom (union of the receipts' blooms).
    pub logs_bloom: Bloom,
    /// The replay's cumulative gas used.
    pub gas_used: u64,
}

/// The receipts root of `receipts`.
pub fn receipts_root(receipts: &[ReceiptEnvelope]) -> B256 {
    calculate_receipt_root(receipts)
}

/// Checks `replay` against `header`.
///
/// # Errors
/// [`VerifyError::Mismatch`] for the first field (gas used, then logs bloom, then receipts
/// root, then requests hash) whose value differs, with the first transaction to blame where it can be told.
pub fn verify(header: &Header, replay: &BlockReplay) -> Result<Verification, VerifyError> {
    let receipts = &replay.receipts;
    let mismatch =
        |field: &'static str, expected: String, actual: String, first_tx| VerifyError::Mismatch {
            number: header.number,
            field,
            expected,
            actual,
            first_tx,
        };

    if replay.gas_used != header.gas_used {
        // The first receipt whose cumulative gas passes the header's total is to blame when
        // the replay used more gas; when it used less, no single receipt can be named.
        let first_tx = receipts
            .iter()
            .position(|r| r.cumulative_gas_used() > header.gas_used);
        return Err(mismatch(
            "gasUsed",
            header.gas_used.to_string(),
            replay.gas_used.to_string(),
            first_tx,
        ));
    }

    let mut logs_bloom = Bloom::ZERO;
    for receipt in receipts {
        logs_bloom.accrue_bloom(receipt.logs_bloom());
    }
    if logs_bloom != header.logs_bloom {
        // A receipt with a bloom bit the header lacks is certainly wrong.
        let first_tx = receipts
            .iter()
            .position(|r| !header.logs_bloom.contains(r.logs_bloom()));
        return Err(mismatch(
            "logsBloom",
            header.logs_bloom.to_string(),
            logs_bloom.to_string(),
            first_tx,
        ));
    }

    let root = receipts_root(receipts);
    let checked = replay.fork.has_status_receipts();
    if checked && root != header.receipts_root {
        return Err(mismatch(
            "receiptsRoot",
            header.receipts_root.to_string(),
            root.to_string(),
            None,
        ));
    }
    if let Some(expected) = header.requests_hash
        && replay.requests_hash != Some(expected)
    {
        return Err(mismatch(
            "requestsHash",
            expected.to_string(),
            format!("{:?}", replay.requests_hash),
            None,
        ));
    }
    Ok(Verification {
        receipts_root: root,
        receipts_root_checked: checked,
        logs_bloom,
        gas_used: replay.gas_used,
    })
}
