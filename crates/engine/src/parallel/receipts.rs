//! The receipts of Block-STM's commit: alloy-evm's receipts (status, cumulative gas, logs and
//! the logs' bloom filter), with every bloom computed on the worker threads beforehand.
//!
//! A bloom costs a Keccak hash per log address and topic (fewer where the thread remembers
//! them, `bloom.rs`) and depends only on its own transaction's logs. On a block with many
//! logs it outweighs the execution (mainnet block 15537394: about 20 of its 23 ms, before
//! the memo), and the commit phase, which builds the receipts in
//! transaction order because each carries the cumulative gas, is serial. A final
//! incarnation's bloom is computed by its worker as it finishes (`commit::Finalized`).
//! [`BloomedReceipts`], the block executor's receipt builder, builds each receipt as
//! alloy-evm's `AlloyReceiptBuilder` does, with that bloom, or with the empty bloom when
//! its worker built none: the commit then runs on the caller beside the traces
//! (`block_stm.rs`), and [`fill_remaining_blooms`] computes the blooms left, on every
//! thread, from the committed receipts' logs and sets them into their receipts.

use std::{cell::Cell, ops::Range};

use alloy_consensus::{
    Eip658Value, Receipt, ReceiptEnvelope, ReceiptWithBloom, TxEnvelope, TxType,
};
use alloy_evm::{
    Evm,
    eth::receipt_builder::{ReceiptBuilder, ReceiptBuilderCtx},
};
use alloy_primitives::{Bloom, Log};

use super::{
    bloom::logs_bloom,
    pool::WorkerPool,
    threads::{Chunks, on_threads},
};

/// The receipt builder of Block-STM's block executor: the receipts `AlloyReceiptBuilder`
/// builds, the `i`-th built with transaction `i`'s bloom from those set by
/// [`BloomedReceipts::set_blooms`], or with the empty bloom when it has none, which
/// [`fill_blooms`] then replaces where the transaction has logs.
#[derive(Debug, Default)]
pub(crate) struct BloomedReceipts {
    blooms: Blooms,
    /// The index of the next receipt: receipts are built once per transaction, in order.
    next: Cell<usize>,
    /// The first entry of `blooms` not used yet.
    cursor: Cell<usize>,
}

impl BloomedReceipts {
    /// The blooms known before the commit (those the workers built, of transactions with
    /// logs), for the receipts built from now on.
    pub(crate) fn set_blooms(&mut self, blooms: Blooms) {
        self.blooms = blooms;
        self.next.set(0);
        self.cursor.set(0);
    }

    /// Transaction `index`'s bloom, if it was set; receipts ask in order.
    fn bloom(&self, index: usize) -> Option<Bloom> {
        let cursor = self.cursor.get();
        let (tx, bloom) = self.blooms.get(cursor)?;
        (*tx == index).then(|| {
            self.cursor.set(cursor + 1);
            *bloom
        })
    }
}

/// The blooms of the transactions with logs, by transaction index, ascending. Only those:
/// a block of plain transfers has no log, and a bloom is 256 bytes.
pub(crate) type Blooms = Vec<(usize, Bloom)>;

/// The bloom of one transaction's `logs`; `None` without logs, whose bloom is empty and is
/// not kept (see [`Blooms`]).
pub(crate) fn bloom_of(logs: &[Log]) -> Option<Bloom> {
    (!logs.is_empty()).then(|| logs_bloom(logs))
}

/// Whether a transaction's bloom is built in units after the worker loop, shared by the
/// replay's threads, even when its incarnation's worker could build it as it finishes
/// (`commit::Finalized`): it has more logs than one unit holds, so the units split it
/// between the threads, where one worker would build it alone. Mainnet 15537394's
/// transaction 25 (66% of its execution, thousands of logs) is one.
pub(crate) fn bloom_shared(logs: &[Log]) -> bool {
    logs.len() > LOGS_PER_UNIT
}

impl ReceiptBuilder for BloomedReceipts {
    type Transaction = TxEnvelope;
    type Receipt = ReceiptEnvelope;

    fn build_receipt<E: Evm>(&self, ctx: ReceiptBuilderCtx<'_, TxType, E>) -> ReceiptEnvelope {
        let index = self.next.get();
        self.next.set(index + 1);
        let receipt = Receipt {
            status: Eip658Value::Eip658(ctx.result.is_success()),
            cumulative_gas_used: ctx.cumulative_gas_used,
            logs: ctx.result.into_logs(),
        };
        // Without logs the bloom is empty; with logs and no bloom set, it is computed after
        // the commit (`fill_blooms`).
        let logs_bloom = self.bloom(index).unwrap_or_default();
        let receipt = ReceiptWithBloom {
            receipt,
            logs_bloom,
        };
        match ctx.tx_type {
            TxType::Legacy => ReceiptEnvelope::Legacy(receipt),
            TxType::Eip2930 => ReceiptEnvelope::Eip2930(receipt),
            TxType::Eip1559 => ReceiptEnvelope::Eip1559(receipt),
            TxType::Eip4844 => ReceiptEnvelope::Eip4844(receipt),
            TxType::Eip7702 => ReceiptEnvelope::Eip7702(receipt),
        }
    }
}

/// Logs per unit of bloom work, about: consecutive transactions are grouped up to it, and
/// a transaction with more is split (a bloom is the union of its logs' blooms).
const LOGS_PER_UNIT: usize = 256;

/// One unit of bloom work.
enum Unit {
    /// Every log of these transactions.
    Txs(Range<usize>),
    /// Some logs of one transaction.
    Logs(usize, Range<usize>),
}

/// The blooms the workers did not build (`bloomed[i]` says transaction `i`'s was built),
/// computed from the committed `receipts`' logs and set into them: shared by `threads`
/// threads of `pool` from four units of logs (a unit is about [`LOGS_PER_UNIT`] of them),
/// computed on the caller below that, and skipped when every bloom is known (as on one
/// thread, where every incarnation is finalized in the loop).
///
/// # Errors
/// As [`fill_blooms`] (an engine bug).
pub(crate) fn fill_remaining_blooms(
    pool: &WorkerPool,
    threads: usize,
    receipts: &mut [ReceiptEnvelope],
    bloomed: &[bool],
) -> Result<(), String> {
    if bloomed.iter().all(|known| *known) {
        return Ok(());
    }
    let work = bloom_work(receipts, bloomed);
    let bloom_threads = if work.count() >= 4 { threads } else { 1 };
    on_threads(pool, bloom_threads, || work.work());
    let blooms = work.into_blooms();
    fill_blooms(receipts, blooms)
}

/// Every transaction's bloom not known yet (`bloomed[i]` says transaction `i`'s is: its
/// worker built it, see `commit::Finalized`), from its committed receipt's logs (the
/// `i`-th receipt is transaction `i`'s), as work any thread can share.
fn bloom_work<'a>(receipts: &'a [ReceiptEnvelope], bloomed: &'a [bool]) -> BloomWork<'a> {
    BloomWork::new(receipts.len(), |index| {
        if bloomed.get(index).copied().unwrap_or(true) {
            return &[];
        }
        receipts[index].logs()
    })
}

/// Sets each of `blooms` (by transaction index) into its transaction's receipt, which
/// [`BloomedReceipts`] built with the empty bloom.
///
/// # Errors
/// When a bloom names a receipt that was not built (an engine bug).
fn fill_blooms(receipts: &mut [ReceiptEnvelope], blooms: Blooms) -> Result<(), String> {
    for (index, bloom) in blooms {
        receipts
            .get_mut(index)
            .and_then(ReceiptEnvelope::as_receipt_with_bloom_mut)
            .ok_or_else(|| format!("a bloom for receipt {index}, which was not built"))?
            .logs_bloom = bloom;
    }
    Ok(())
}

/// The blooms of `n` transactions, in units of about [`LOGS_PER_UNIT`] logs claimed by
/// every thread that calls [`BloomWork::work`].
pub(crate) struct BloomWork<'a> {
    units: Chunks<'a, Blooms>,
}

impl<'a> BloomWork<'a> {
    /// The work of the blooms of `n` transactions whose logs `logs` gives.
    fn new(n: usize, logs: impl Fn(usize) -> &'a [Log] + Sync + 'a) -> Self {
        let mut units = Vec::new();
        let (mut first, mut pending) = (0, 0);
        for index in 0..n {
            let count = logs(index).len();
            if count > LOGS_PER_UNIT {
                if first < index {
                    units.push(Unit::Txs(first..index));
                }
                for start in (0..count).step_by(LOGS_PER_UNIT) {
                    units.push(Unit::Logs(index, start..(start + LOGS_PER_UNIT).min(count)));
                }
                (first, pending) = (index + 1, 0);
                continue;
            }
            pending += count.max(1);
            if pending >= LOGS_PER_UNIT {
                units.push(Unit::Txs(first..index + 1));
                (first, pending) = (index + 1, 0);
            }
        }
        if first < n {
            units.push(Unit::Txs(first..n));
        }
        let count = units.len();
        let units = Chunks::new(count, 1, move |unit| match &units[unit] {
            Unit::Txs(txs) => txs
                .clone()
                .filter_map(|index| Some((index, bloom_of(logs(index))?)))
                .collect::<Vec<_>>(),
            Unit::Logs(index, some) => vec![(*index, logs_bloom(&logs(*index)[some.clone()]))],
        });
        Self { units }
    }

    /// Number of units.
    pub(crate) fn count(&self) -> usize {
        self.units.count()
    }

    /// Claims and computes units until none is left.
    pub(crate) fn work(&self) {
        self.units.work();
    }

    /// The blooms computed here (of the transactions with logs and no bloom known), by
    /// transaction index, ascending.
    pub(crate) fn into_blooms(self) -> Blooms {
        let mut computed: Blooms = Vec::new();
        // Units come in order; a transaction split over several comes in consecutive ones.
        for (index, part) in self.units.into_results().into_iter().flatten() {
            match computed.last_mut() {
                Some((last, bloom)) if *last == index => *bloom |= part,
                _ => computed.push((index, part)),
            }
        }
        computed
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::{Address, B256, Bytes, LogData};

    use super::*;
    use crate::parallel::threads::test_pool;

    fn log(i: usize) -> Log {
        let topic = B256::with_last_byte(i as u8);
        Log {
            address: Address::with_last_byte((i / 7) as u8),
            data: LogData::new_unchecked(vec![topic], Bytes::new()),
        }
    }

    /// Transactions with `counts[t]` logs each (distinct logs, `stride` apart between
    /// transactions), and the bloom of each one with logs, computed one by one.
    fn txs_with_logs(counts: &[usize], stride: usize) -> (Vec<Vec<Log>>, Blooms) {
        let txs: Vec<Vec<Log>> = counts
            .iter()
            .enumerate()
            .map(|(t, &n)| (0..n).map(|i| log(t * stride + i)).collect())
            .collect();
        let blooms = txs
            .iter()
            .enumerate()
            .filter(|(_, logs)| !logs.is_empty())
            .map(|(index, logs)| (index, alloy_primitives::logs_bloom(logs)))
            .collect();
        (txs, blooms)
    }

    #[test]
    fn split_and_grouped_blooms_equal_each_transactions_own() {
        let pool = test_pool();
        // Empty, small, exactly one unit, just over, and many units of logs.
        let (txs, expected) = txs_with_logs(&[0, 3, 0, 256, 257, 1, 1300, 0, 40, 900, 2], 31);
        for threads in 1..=3 {
            let work = BloomWork::new(txs.len(), |i| &txs[i]);
            on_threads(pool, threads.min(work.count()), || work.work());
            assert_eq!(work.into_blooms(), expected, "{threads} threads");
        }
    }

    #[test]
    fn blooms_known_before_and_those_computed_are_every_bloom() {
        let pool = test_pool();
        let (txs, expected) = txs_with_logs(&[2, 0, 5, 300, 1, 0, 7, 3], 13);
        // Known before: none, every one, the first, the last, and every other transaction.
        let patterns: [fn(usize) -> bool; 5] =
            [|_| false, |_| true, |i| i == 0, |i| i == 7, |i| i % 2 == 1];
        for known_before in patterns {
            let bloomed: Vec<bool> = (0..txs.len()).map(known_before).collect();
            let known: Blooms = expected
                .iter()
                .filter(|(index, _)| bloomed[*index])
                .copied()
                .collect();
            for threads in 1..=3 {
                let work =
                    BloomWork::new(txs.len(), |i| if bloomed[i] { &[] } else { &txs[i][..] });
                on_threads(pool, threads.min(work.count()), || work.work());
                // The known blooms and those computed, together in order, are every bloom.
                let mut blooms = known.clone();
                blooms.extend(work.into_blooms());
                blooms.sort_by_key(|(index, _)| *index);
                assert_eq!(blooms, expected, "{bloomed:?}");
            }
        }
    }

    /// A receipt as the commit builds it: its logs, and the bloom given (the empty one when
    /// its worker built none).
    fn committed(logs: Vec<Log>, logs_bloom: Bloom) -> ReceiptEnvelope {
        ReceiptEnvelope::Eip1559(ReceiptWithBloom {
            receipt: Receipt {
                status: Eip658Value::Eip658(true),
                cumulative_gas_used: 21_000,
                logs,
            },
            logs_bloom,
        })
    }

    #[test]
    fn blooms_left_after_the_commit_are_filled_from_the_committed_logs() {
        let pool = test_pool();
        // Transactions 0 and 3 had their blooms built in the loop, 2 has no log, 1, 4 and 5
        // (one split over several units) are left; 5's is more than one unit of logs.
        let (txs, expected) = txs_with_logs(&[2, 4, 0, 3, 1, 600], 11);
        let bloomed = [true, false, false, true, false, false];
        for threads in 1..=3 {
            let mut receipts: Vec<ReceiptEnvelope> = txs
                .iter()
                .enumerate()
                .map(|(index, logs)| {
                    let known = expected
                        .iter()
                        .find(|(tx, _)| bloomed[index] && *tx == index)
                        .map(|(_, bloom)| *bloom);
                    committed(logs.clone(), known.unwrap_or_default())
                })
                .collect();
            let work = bloom_work(&receipts, &bloomed);
            on_threads(pool, threads.min(work.count()), || work.work());
            let blooms = work.into_blooms();
            assert_eq!(
                blooms.iter().map(|(tx, _)| *tx).collect::<Vec<_>>(),
                vec![1, 4, 5],
                "only the blooms left are computed"
            );
            fill_blooms(&mut receipts, blooms).unwrap();
            let want: Vec<ReceiptEnvelope> = txs
                .iter()
                .map(|logs| committed(logs.clone(), alloy_primitives::logs_bloom(logs)))
                .collect();
            assert_eq!(receipts, want, "{threads} threads");
        }
    }

    #[test]
    fn a_bloom_for_a_receipt_never_built_is_an_error() {
        let mut receipts = vec![committed(vec![log(1)], Bloom::default())];
        let error = fill_blooms(&mut receipts, vec![(1, Bloom::default())]).unwrap_err();
        assert!(error.contains("receipt 1"), "{error}");
    }
}
