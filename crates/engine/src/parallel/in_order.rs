//! In-order mode: the oracle's own executor runs the block's transactions in order on the
//! calling thread, while the other threads recover senders ahead of it (`senders.rs`).
//! Signature recovery is most of a replay's work (79–89% on the mainnet fixtures) and
//! independent per transaction, so this mode shares every line of execution with the
//! sequential replay and spreads only the recovery. It records no read or write sets.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    time::Instant,
};

use super::{
    executor::panic_message,
    pool::WorkerPool,
    replay::{Mode, ParallelReplay},
    scheduler::Counters,
    senders::{SenderPipeline, with_recovery_helpers},
};
use crate::{
    block::ArchivedBlock,
    chain::ChainSpec,
    error::{EngineError, ReplayError},
    sequential::{Diff, execute_in_order},
};

/// In-order execution by the oracle's executor on the calling thread, while `threads`
/// threads in all (that one included, the others from `pool`) recover the senders.
///
/// # Errors
/// The sequential replay's [`ReplayError`]s (a bad signature anywhere first, as the
/// sequential replay reports it), and [`EngineError::WorkerPanic`] when the executor panics.
pub(crate) fn replay(
    pool: &WorkerPool,
    block: &ArchivedBlock,
    chain: &ChainSpec,
    threads: usize,
) -> Result<ParallelReplay, ReplayError> {
    let started = Instant::now();
    let number = block.number();
    let txs = block.transactions().len();
    let pipeline = SenderPipeline::new(block, block.fork(chain));
    let run = || {
        execute_in_order(block, chain, started, Diff::Cache, |index| {
            pipeline
                .sender(index)
                .map_err(|source| ReplayError::Block { number, source })
        })
        // The sequential replay recovers every sender before it executes anything, so a
        // bad signature anywhere is the error it reports first.
        .map_err(|error| match pipeline.first_error() {
            Some(source) => ReplayError::Block { number, source },
            None => error,
        })
    };
    // The executor is the calling thread, whose caches hold the block; the helpers are
    // pool threads, and start recovering as soon as they wake.
    let replay = match with_recovery_helpers(pool, &pipeline, threads, || {
        catch_unwind(AssertUnwindSafe(run))
    }) {
        Ok(replay) => replay?,
        Err(panic) => {
            return Err(EngineError::WorkerPanic {
                number,
                thread: "the in-order executor",
                message: panic_message(panic.as_ref()),
            }
            .into());
        }
    };
    let counters = Counters {
        executions: txs as u64,
        ..Counters::default()
    };
    Ok(ParallelReplay {
        replay,
        threads,
        mode: Mode::InOrder,
        counters,
        phases: None,
        traces: Vec::new(),
    })
}
