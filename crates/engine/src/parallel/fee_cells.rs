//! The beneficiary's fee credits in the multi-version memory: one cell per transaction,
//! apart from the memory's shared entries.
//!
//! Every transaction credits the block's beneficiary its fee, lazily (`vm.rs`), so among
//! the shared entries (`mv_memory.rs`) the beneficiary's balance was the one location every
//! incarnation recorded into. Its shard's lock, its entries' length and its last entry
//! moved between the workers' cores at every transaction: in a profile of
//! raw-transfers-to-one at two threads, `MvMemory::record` was 10% of the samples, about
//! half of them those loads and the locks' compare-and-swap (that workload credits two such
//! locations, its one recipient's and the beneficiary's). Here transaction `tx`'s credit is
//! cell `tx`, which only the worker recording or aborting `tx` writes: two neighbouring
//! transactions share a cache line at most, whatever the block. The shared entries keep
//! the beneficiary's full balance writes (a transaction that reads the balance and writes
//! it, such as one that pays the beneficiary a value); every balance credit to the
//! beneficiary is in its cell.
//!
//! The few transactions that read the beneficiary's exact balance walk the cells below
//! them down to its last full write, which they had walked among the shared entries
//! before: the cells are packed, 32 bytes each, so that this walk reads them in order.
//!
//! # A cell's entry
//! Empty, or the incarnation that wrote it with its fee (a credit) or with no fee (an
//! ESTIMATE left by its abort): the entry a location's run of shared entries holds for one
//! transaction. A fee fits 128 bits: the lazy handler computes it as revm's
//! `reward_beneficiary` does, a 128-bit product (`vm.rs`).
//!
//! # Concurrency: a sequence lock per cell
//! A cell has one writer at a time, the worker that holds its transaction's slot lock
//! (`executor.rs`, invariant 1: a slot's write set and its entries in the memory change
//! together under that lock), so writers are ordered by that mutex. Readers are other
//! workers, and they must see an entry whole (an incarnation with its own fee):
//! - the writer makes the sequence odd, then a `Release` fence, then stores the entry
//!   (`Relaxed`), then makes the sequence even with `Release`;
//! - a reader loads the sequence (`Acquire`), the entry (`Relaxed`), then after an
//!   `Acquire` fence the sequence again (`Relaxed`); it keeps the entry only when both
//!   loads saw the same even number, and tries again otherwise.
//!
//! If a reader's loads saw any of a write's stores, its `Acquire` fence synchronises with
//! the writer's `Release` fence, so its second sequence load sees the odd number or a later
//! one and it tries again; if its first load saw a write's final even number, the entry it
//! loads is that write's or a later one's, and a later one moved the sequence. A writer
//! never waits inside its write, so a reader waits at most a few stores.
//!
//! Block-STM asks no more of a read than to see some state the memory held (see "The
//! written-key filter" in `mv_memory.rs`): a credit recorded after a reader loaded its
//! cell is a write whose transaction's `finish_execution` precedes the validation it
//! makes necessary, and that validation walks the cells again.

use std::sync::atomic::{
    AtomicU32, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
    fence,
};

use alloy_primitives::U256;

use crate::access::TxIdx;

/// One transaction's entry in its cell (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FeeEntry {
    /// The incarnation that wrote it.
    pub(crate) incarnation: u32,
    /// Its credit; `None` for an ESTIMATE (the incarnation was aborted).
    pub(crate) fee: Option<U256>,
}

/// One cell: 32 bytes, so that a walk down the cells reads two a cache line.
#[derive(Debug, Default)]
#[repr(align(32))]
struct Cell {
    /// Odd while the writer stores an entry.
    seq: AtomicU32,
    /// 0 for no entry; else the incarnation plus one, shifted left by one, with bit 0 set
    /// for an ESTIMATE.
    state: AtomicU64,
    /// The fee, low and high 64 bits.
    fee: [AtomicU64; 2],
}

const ESTIMATE: u64 = 1;

impl Cell {
    fn load(&self) -> Option<FeeEntry> {
        let mut spins = 0u32;
        let (state, fee) = loop {
            let before = self.seq.load(Acquire);
            if before & 1 == 0 {
                let state = self.state.load(Relaxed);
                let fee = [self.fee[0].load(Relaxed), self.fee[1].load(Relaxed)];
                fence(Acquire);
                if self.seq.load(Relaxed) == before {
                    break (state, fee);
                }
            }
            spins += 1;
            if spins.is_multiple_of(64) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        };
        if state == 0 {
            return None;
        }
        // The state holds an incarnation that fitted 32 bits when it was stored.
        let incarnation = ((state >> 1) - 1) as u32;
        let fee = (state & ESTIMATE == 0)
            .then(|| U256::from(u128::from(fee[0]) | (u128::from(fee[1]) << 64)));
        Some(FeeEntry { incarnation, fee })
    }

    /// Stores `entry` (`None` empties the cell). Only under the transaction's slot lock.
    fn store(&self, entry: Option<FeeEntry>) {
        let (state, fee) = match entry {
            None => (0, 0u128),
            Some(FeeEntry { incarnation, fee }) => {
                let state = (u64::from(incarnation) + 1) << 1;
                match fee {
                    // A fee is a 128-bit product (see the module docs).
                    Some(fee) => (state, fee.to::<u128>()),
                    None => (state | ESTIMATE, 0),
                }
            }
        };
        let seq = self.seq.load(Relaxed);
        self.seq.store(seq.wrapping_add(1), Relaxed);
        fence(Release);
        self.state.store(state, Relaxed);
        self.fee[0].store(fee as u64, Relaxed);
        self.fee[1].store((fee >> 64) as u64, Relaxed);
        self.seq.store(seq.wrapping_add(2), Release);
    }
}

/// The beneficiary's fee credits of one block, a cell a transaction (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct FeeCells {
    cells: Box<[Cell]>,
}

impl FeeCells {
    /// Empty cells for a block of `txs` transactions.
    pub(crate) fn new(txs: usize) -> Self {
        Self {
            cells: (0..txs).map(|_| Cell::default()).collect(),
        }
    }

    /// Whether `fee` fits a cell: a fee does (a 128-bit product, see the module docs); a
    /// credit that did not would stay among the shared entries, which a read merges with
    /// the cells (`mv_memory.rs`).
    pub(crate) fn fits(fee: &U256) -> bool {
        fee.bit_len() <= 128
    }

    /// Transaction `tx`'s entry.
    #[cfg(test)]
    pub(crate) fn get(&self, tx: TxIdx) -> Option<FeeEntry> {
        self.cells[tx].load()
    }

    /// Puts incarnation `incarnation`'s credit `fee` (which [`FeeCells::fits`]) into `tx`'s
    /// cell; returns whether the cell held an entry (a value or an ESTIMATE).
    pub(crate) fn put(&self, tx: TxIdx, incarnation: u32, fee: U256) -> bool {
        let cell = &self.cells[tx];
        let had = cell.load().is_some();
        cell.store(Some(FeeEntry {
            incarnation,
            fee: Some(fee),
        }));
        had
    }

    /// Replaces `tx`'s credit, if its cell holds one, with an ESTIMATE.
    pub(crate) fn mark_estimate(&self, tx: TxIdx) {
        let cell = &self.cells[tx];
        if let Some(entry) = cell.load() {
            cell.store(Some(FeeEntry { fee: None, ..entry }));
        }
    }

    /// Empties `tx`'s cell if an incarnation other than `incarnation` wrote it.
    pub(crate) fn remove_older(&self, tx: TxIdx, incarnation: u32) {
        let cell = &self.cells[tx];
        if cell
            .load()
            .is_some_and(|entry| entry.incarnation != incarnation)
        {
            cell.store(None);
        }
    }

    /// The entries of the transactions in `from..to`, lowest first.
    pub(crate) fn entries(
        &self,
        from: TxIdx,
        to: TxIdx,
    ) -> impl Iterator<Item = (TxIdx, FeeEntry)> + '_ {
        (from..to.min(self.cells.len())).filter_map(|tx| Some((tx, self.cells[tx].load()?)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    #[test]
    fn cells_are_packed_two_a_cache_line() {
        assert_eq!(std::mem::size_of::<Cell>(), 32);
    }

    #[test]
    fn a_cell_holds_a_credit_an_estimate_or_nothing() {
        let cells = FeeCells::new(3);
        let big = U256::from(u128::MAX);
        assert!(FeeCells::fits(&big));
        assert!(!FeeCells::fits(&(big + U256::from(1))));
        assert_eq!(cells.get(1), None);
        assert!(!cells.put(1, 0, big));
        assert_eq!(
            cells.get(1),
            Some(FeeEntry {
                incarnation: 0,
                fee: Some(big)
            })
        );
        cells.mark_estimate(1);
        assert_eq!(
            cells.get(1),
            Some(FeeEntry {
                incarnation: 0,
                fee: None
            })
        );
        // The next incarnation's credit replaces the ESTIMATE; an older one's is removed.
        assert!(cells.put(1, 1, U256::from(5)));
        cells.remove_older(1, 1);
        assert_eq!(cells.get(1).map(|e| e.fee), Some(Some(U256::from(5))));
        cells.remove_older(1, 2);
        assert_eq!(cells.get(1), None);
        // An empty cell marks nothing.
        cells.mark_estimate(2);
        assert_eq!(cells.get(2), None);
        cells.put(0, 7, U256::from(9));
        assert_eq!(
            cells.entries(0, 10).collect::<Vec<_>>(),
            vec![(
                0,
                FeeEntry {
                    incarnation: 7,
                    fee: Some(U256::from(9))
                }
            )]
        );
    }

    #[test]
    fn a_reader_never_sees_half_an_entry() {
        // The writer stores entries whose fee repeats the incarnation in both halves; a
        // reader that saw one write's incarnation with another's fee would see them differ.
        let cells = FeeCells::new(1);
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for incarnation in 0..200_000u32 {
                    let half = u128::from(incarnation);
                    cells.put(0, incarnation, U256::from(half | (half << 64)));
                }
                done.store(true, Relaxed);
            });
            let mut seen = 0u64;
            while !done.load(Relaxed) || seen == 0 {
                if let Some(FeeEntry {
                    incarnation,
                    fee: Some(fee),
                }) = cells.get(0)
                {
                    let half = u128::from(incarnation);
                    assert_eq!(fee, U256::from(half | (half << 64)));
                    seen += 1;
                }
            }
        });
    }
}
