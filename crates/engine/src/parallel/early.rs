//! Early starts: the transactions a helper worker executes first, ahead of Block-STM's block
//! order, because they may run long.
//!
//! Block-STM hands out executions in block order. A transaction that runs far longer than
//! its gas says then starts only when the workers reach it; near the end of a block it runs
//! alone while the other workers wait for it. The transactions that do so on mainnet verify
//! proofs or signatures through precompiles (BN254 pairings, `ecrecover`), whose work per
//! unit of gas is ten to a hundred times an ordinary call's. Their proofs and signatures
//! arrive as calldata, so a transaction's calldata is the one sign of them visible before
//! it runs. Among the shared mainnet blocks, timed per transaction on one thread:
//! - 19932703: its last transaction (2,212 bytes of calldata, a pairing check) is 4.5% of
//!   the block's gas and 56% of its execution time;
//! - 19426587: its last (11,012 bytes, signatures checked by `ecrecover`) 15% of the gas,
//!   56% of the time;
//! - 18988207: its 24th of 186 (93,604 bytes) 11% of the gas, 47% of the time.
//!
//! A helper (a worker on a pool thread; the calling thread keeps the block order) first
//! executes the block's [`PER_HELPER`] largest calldata per helper of at least
//! [`MIN_CALLDATA`] bytes, the largest first, then joins the block order. The helper that
//! asks first chooses them, so that the scan of a block's transactions (0.5 to 0.8 ms at
//! the 47,620 transactions of raw-transfers at 1 Ggas, each on cache lines of its own)
//! stays off the calling thread.
//!
//! An early start changes when an incarnation runs, never what the block computes (see
//! "Early starts" in `scheduler.rs`). Its output is held back, unpublished, until the block
//! order reaches it; its read set is checked then, and it is validated like any other
//! afterwards. So no transaction in between reads what it wrote out of order, and one that
//! guessed wrong about a read sets off no wave of re-executions. One that a lower
//! transaction's write makes stale as it runs (`write_log.rs`) is given up and left to the
//! block order, rather than run again and again ahead of it. A transaction that waits for
//! a dependency hint (the same sender's below it) waits as in block order. A wrong guess
//! costs at most the transaction's own execution again.
//!
//! Measured execution-only at 2 threads, with and without early starts alternating replay
//! by replay in one process (30 rounds a block, medians): the 47 mainnet blocks' geometric
//! mean 1.311x -> 1.334x of the sequential replay; 19932703 1.22x -> 1.74x, 19426587 1.32x
//! -> 1.82x, 18988207 1.42x -> 1.74x, 19933122 1.48x -> 1.63x, 17666333 1.56x -> 1.65x;
//! 17034869, whose large calldata are swaps that read what lower transactions write,
//! 1.63x -> 1.55x (1.82x -> 1.55x before a stale early start was given up rather than run
//! again ahead of the block order). The generated workloads start nothing early (their
//! calldata is under 1 KiB). End to end it is level: the helper recovers senders first,
//! and by then the block order has mostly reached these transactions.

use alloy_consensus::{Transaction, TxEnvelope};

use crate::access::TxIdx;

/// The least calldata of an early start: proofs and signature sets run to kilobytes, an
/// ordinary call's arguments to a few hundred bytes.
pub(crate) const MIN_CALLDATA: usize = 1024;

/// Early starts per helper. In the shared mainnet blocks whose heaviest transaction has
/// large calldata, it was among the block's three largest (19932703's was the third); the
/// others cost a helper little, as large calldata alone is cheap to execute. (A heaviest
/// transaction heavy by gas too, with small calldata, as in 12244000 and 7280000, is not
/// started early; the bound by gas counts it already.)
pub(crate) const PER_HELPER: usize = 3;

/// The transactions `helpers` helper workers start early, in the order to start them: the
/// `PER_HELPER * helpers` largest calldata of at least [`MIN_CALLDATA`] bytes, the largest
/// first (the lower index first among equals). None without a helper.
pub(crate) fn early_starts(txs: &[TxEnvelope], helpers: usize) -> Vec<TxIdx> {
    let most = PER_HELPER * helpers;
    if most == 0 {
        return Vec::new();
    }
    let mut large: Vec<(usize, TxIdx)> = txs
        .iter()
        .enumerate()
        .map(|(tx, envelope)| (envelope.input().len(), tx))
        .filter(|&(len, _)| len >= MIN_CALLDATA)
        .collect();
    large.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    large.into_iter().take(most).map(|(_, tx)| tx).collect()
}

#[cfg(test)]
mod tests {
    use alloy_consensus::{Signed, TxLegacy};
    use alloy_primitives::{Bytes, Signature, TxKind};

    use super::*;

    fn tx(calldata: usize) -> TxEnvelope {
        let tx = TxLegacy {
            gas_limit: 1_000_000,
            to: TxKind::Call(Default::default()),
            input: Bytes::from(vec![1u8; calldata]),
            ..Default::default()
        };
        TxEnvelope::Legacy(Signed::new_unhashed(tx, Signature::test_signature()))
    }

    #[test]
    fn the_largest_calldata_start_early_largest_first() {
        let txs: Vec<TxEnvelope> = [68, 5000, 1024, 1023, 2212, 4164, 2884, 2212]
            .into_iter()
            .map(tx)
            .collect();
        // One helper: the three largest of at least 1 KiB, the largest first.
        assert_eq!(early_starts(&txs, 1), vec![1, 5, 6]);
        // Two helpers: six, of the six at least 1 KiB (1,023 bytes is not); 2,212 bytes
        // twice, the lower index first.
        assert_eq!(early_starts(&txs, 2), vec![1, 5, 6, 4, 7, 2]);
        // No helper, no early start.
        assert!(early_starts(&txs, 0).is_empty());
        // Small calldata never starts early.
        assert!(early_starts(&[tx(68), tx(1023)], 1).is_empty());
    }
}
