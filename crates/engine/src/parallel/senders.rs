//! Sender recovery shared between threads: ahead of in-order execution, and inside
//! Block-STM's worker loop.
//!
//! Recovering a signature (secp256k1 public-key recovery and a Keccak hash) costs more than
//! executing most transactions: on the mainnet fixtures it is 79–89% of a sequential replay.
//! It is independent per transaction, so any thread can do it for any transaction. The
//! [`SenderPipeline`] lets helper threads recover senders ahead of the thread that executes
//! the transactions in order; that thread, when the next sender is not ready, recovers a
//! later one itself rather than wait, so every thread stays busy until the last signature.
//! In Block-STM, the workers on pool threads recover senders before their first task,
//! while the calling thread executes in order and recovers a sender itself when it is not
//! ready; any worker recovers later ones when the scheduler has no task for it. So
//! recovery overlaps execution there too.
//!
//! # Invariants and orderings
//! - `next` is the lowest transaction nobody has claimed; a claim is a `fetch_add`, so each
//!   transaction is recovered by exactly one thread. `Relaxed` is enough: the counter only
//!   hands out indices, it publishes no data.
//! - Each transaction's result is published through its own `OnceLock`, whose `set`
//!   happens-before any `get` that sees the value (the lock's release/acquire), so the
//!   executing thread reads a fully written address.
//! - A claimed slot is always filled (a panic in recovery fills it with an error), so a
//!   thread waiting on it terminates; waiting is a `yield_now` loop only while another
//!   thread is inside one recovery (tens of µs).

use std::{
    borrow::Cow,
    sync::{
        OnceLock,
        atomic::{AtomicUsize, Ordering::Relaxed},
    },
};

use alloy_primitives::Address;

use super::pool::WorkerPool;
use crate::{block::ArchivedBlock, chain::Fork, error::BlockError};

/// The senders of one block, recovered by whichever thread gets to each first.
pub(crate) struct SenderPipeline<'a> {
    block: &'a ArchivedBlock,
    fork: Fork,
    next: AtomicUsize,
    senders: Vec<OnceLock<Result<Address, BlockError>>>,
}

impl<'a> SenderPipeline<'a> {
    pub(crate) fn new(block: &'a ArchivedBlock, fork: Fork) -> Self {
        let n = block.transactions().len();
        Self {
            block,
            fork,
            next: AtomicUsize::new(0),
            senders: (0..n).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Number of transactions.
    pub(crate) fn len(&self) -> usize {
        self.senders.len()
    }

    /// Claims the lowest unclaimed transaction and recovers its sender; false when every
    /// transaction has been claimed.
    pub(crate) fn recover_one(&self) -> bool {
        let index = self.next.fetch_add(1, Relaxed);
        let Some(slot) = self.senders.get(index) else {
            return false;
        };
        // A panic inside recovery still fills the slot (as an error), or the executor would
        // wait on it for ever.
        let recovered = std::panic::catch_unwind(|| self.block.recover_sender(index, self.fork))
            .unwrap_or_else(|_| {
                Err(BlockError::Inconsistent(format!(
                    "transaction {index}: sender recovery panicked"
                )))
            });
        // Exactly one thread claims `index`, so the slot is empty here.
        let _ = slot.set(recovered);
        true
    }

    /// A helper thread's loop: recover until every transaction is claimed.
    pub(crate) fn help(&self) {
        while self.recover_one() {}
    }

    /// The sender of transaction `index`, recovering others meanwhile if it is not ready.
    pub(crate) fn sender(&self, index: usize) -> Result<Address, BlockError> {
        let slot = &self.senders[index];
        loop {
            if let Some(result) = slot.get() {
                return result.clone();
            }
            if !self.recover_one() {
                std::thread::yield_now();
            }
        }
    }

    /// Recovers every sender not yet recovered and returns the error of the lowest
    /// transaction whose signature does not recover, if any: the error the sequential
    /// replay, which recovers every sender before executing, reports first.
    pub(crate) fn first_error(&self) -> Option<BlockError> {
        self.help();
        (0..self.senders.len()).find_map(|index| self.sender(index).err())
    }

    /// Every sender, in order, once every transaction has been recovered (after
    /// [`SenderPipeline::help`] returned on every thread that called it); the lowest
    /// transaction's error if a signature does not recover.
    pub(crate) fn into_senders(self) -> Result<Vec<Address>, BlockError> {
        self.help();
        self.senders
            .into_iter()
            .map(|slot| {
                slot.into_inner().unwrap_or_else(|| {
                    Err(BlockError::Inconsistent(
                        "a claimed sender was never recovered (pipeline bug)".into(),
                    ))
                })
            })
            .collect()
    }
}

/// Runs `work` on the calling thread while threads of `pool` help `pipeline` recover
/// senders: `threads` threads in all, but no more helpers than there are other
/// transactions.
pub(crate) fn with_recovery_helpers<R>(
    pool: &WorkerPool,
    pipeline: &SenderPipeline<'_>,
    threads: usize,
    work: impl FnOnce() -> R,
) -> R {
    let helpers = threads
        .saturating_sub(1)
        .min(pipeline.len().saturating_sub(1));
    pool.run(helpers, &|| pipeline.help(), work)
}

/// The senders Block-STM executes with: given (execution-only timing), or recovered by the
/// worker threads as they go (see the module docs).
pub(crate) enum Senders<'a> {
    /// Recovered before the replay: `senders[i]` sent transaction `i`.
    Known(&'a [Address]),
    /// Recovered by the workers: ahead of the calling thread's execution by the others,
    /// and by any worker that needs a sender not ready or has no task.
    Recovering(SenderPipeline<'a>),
}

impl<'a> Senders<'a> {
    /// The senders of `block`, to be recovered by `threads` workers as they execute. One
    /// thread recovers them all first: with no other thread to overlap, interleaving
    /// recovery with execution only makes each evict the other's data from the caches
    /// (1 Ggas, end-to-end at one thread: mixed-defi 1.43 -> 1.23 s best).
    pub(crate) fn recovering(block: &'a ArchivedBlock, fork: Fork, threads: usize) -> Self {
        let pipeline = SenderPipeline::new(block, fork);
        if threads <= 1 {
            pipeline.help();
        }
        Self::Recovering(pipeline)
    }

    /// The sender of transaction `index`, recovering it (or others, while another thread
    /// recovers it) if need be.
    pub(crate) fn get(&self, index: usize) -> Result<Address, BlockError> {
        match self {
            Self::Known(senders) => senders.get(index).copied().ok_or_else(|| {
                BlockError::Inconsistent(format!("no sender given for transaction {index}"))
            }),
            Self::Recovering(pipeline) => pipeline.sender(index),
        }
    }

    /// Recovers a later transaction's sender, if one is left; false when there is none.
    pub(crate) fn recover_ahead(&self) -> bool {
        match self {
            Self::Known(_) => false,
            Self::Recovering(pipeline) => pipeline.recover_one(),
        }
    }

    /// Every sender, in order; the lowest transaction's error if a signature does not
    /// recover (the error the sequential replay reports first).
    pub(crate) fn into_vec(self) -> Result<Cow<'a, [Address]>, BlockError> {
        match self {
            Self::Known(senders) => Ok(Cow::Borrowed(senders)),
            Self::Recovering(pipeline) => pipeline.into_senders().map(Cow::Owned),
        }
    }
}
