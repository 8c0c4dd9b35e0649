//! Block-STM's worker loop: the threads that take tasks from the scheduler, execute
//! incarnations over the multi-version memory and validate their read sets (Gelashvili et
//! al., Algorithm 1, `run`).
//!
//! The loop does not know what a transaction is. It drives a [`TxExecutor`]
//! (`tx_executor.rs`), which runs one incarnation of one transaction over the multi-version
//! memory and returns its read set and write set. The engine's executor runs revm
//! (`block_stm.rs`, `vm.rs`); the property test below runs mock transactions whose reads and
//! writes change with every incarnation, against a sequential baseline.
//!
//! # The worker loop
//! Every worker runs [`run`]'s loop until the scheduler says the block is done: take the
//! follow-up task the last task returned, or else ask the scheduler for the next one, and
//! - **execute** an incarnation: a first incarnation whose executor names a lower
//!   transaction it depends on (`TxExecutor::dependency_hint`: the engine's names the
//!   sender's transaction below) suspends on it at once if that one has not executed yet, as
//!   if it had read its ESTIMATE: a hint only orders first incarnations, it never changes
//!   what a transaction reads, so a wrong one costs time, not correctness. Then run the
//!   executor without holding any lock, with the
//!   worker's own scratch (the engine's revm EVM, built once per worker per block; nothing
//!   of one incarnation survives in it into the next, see `WorkerVm` in `vm.rs`). If a read
//!   met an ESTIMATE, suspend the transaction on the ESTIMATE's writer (`add_dependency`); the
//!   writer's next `finish_execution` resumes it as a new incarnation. If the writer has
//!   already executed again, retry at once. If a read made before went stale (a lower
//!   transaction recorded a write to it since, seen through the memory's write log,
//!   `write_log.rs`), the incarnation stops and runs again at once: it published nothing.
//!   Otherwise record the write set in the
//!   multi-version memory, store the incarnation in the transaction's slot, and tell the
//!   scheduler (`finish_execution`), which may hand back the incarnation's own validation.
//!   An incarnation that started when every lower transaction was committed is final and
//!   is not validated (the committed prefix, see `scheduler.rs`); the worker then
//!   finalizes it at once (`IncarnationOutput::finalize`: the engine's builds its trace and
//!   its logs' bloom while they are in this core's cache);
//! - **validate** an incarnation: re-read its read set and compare each read with what it
//!   observed when it ran. If one changed, abort the incarnation (`try_validation_abort`),
//!   turn its writes into ESTIMATE markers, and let `finish_validation` schedule the
//!   re-execution (perhaps as this worker's next task) and a validation wave above it;
//! - find **no task** for now: do the executor's idle work (`TxExecutor::idle`: the
//!   engine's recovers a later transaction's sender), or yield the thread, and look again.
//!   A worker on a pool thread does all of that work before its first task (below).
//!
//! # Who executes first
//! The calling thread takes tasks at once. A worker on a pool thread first does the
//! executor's idle work until none is left (the engine's: recovering the senders of an
//! end-to-end replay, most of its work), and only then takes tasks. While recovery lasts,
//! the calling thread alone executes, in order: each of its incarnations starts on the
//! committed prefix, so it is final, never validated, never aborted, and finalized in its
//! core's cache. The others join when the recovery is done, for the rest of the block,
//! which Block-STM then runs on every worker. Before this, every worker executed from
//! the start and recovered when it found no task: two workers ran neighbouring
//! transactions, which conflicted and were validated, while the same recovery was still
//! to do (measured alternating in one process, end to end at 2 threads, medians of 21
//! rounds: mainnet fixtures' geometric mean 1.509x -> 1.602x of the sequential replay;
//! 11 rounds of the ten workloads at 200 Mgas: 1.707x -> 1.783x, each 1.03x to 1.11x
//! faster). With no idle work (execution-only replays, whose senders are known) every
//! worker takes tasks at once.
//!
//! A pool worker's first tasks are the early starts (`early.rs`, "Early starts" in
//! `scheduler.rs`): a few transactions that may run long, executed ahead of the block
//! order so that they do not start last and run alone. The calling thread keeps the
//! block order.
//!
//! A worker that fails (a broken invariant returned by the executor, or a panic) records the
//! first failure and halts the scheduler, which stops every other worker at its next check,
//! so a failure ends the block as an error, never as a hang.
//!
//! # The per-transaction slot
//! `slots[tx]` ([`Slot`], under its own mutex) holds the latest *completed* incarnation of
//! `tx`: its output (read set and write set), its incarnation number and the number of
//! completed executions. A suspended execution completes nothing and leaves the slot as it
//! was.
//!
//! Invariants:
//! 1. The locations of the slot's write set ([`Slot::written`]) are exactly those at which
//!    the multi-version memory holds an entry (a value or an ESTIMATE) of `tx`. Both change
//!    together under the slot's lock: `MvMemory::record` in `execute` (which also removes
//!    the entries the new write set no longer has), `MvMemory::mark_estimates` in
//!    `validate`.
//! 2. A validation of incarnation `i` reads the read set of `i` or of a later incarnation,
//!    never of an earlier one: the scheduler hands out the validation only once `status[tx]`
//!    says `Executed(i)`, which `finish_execution` sets after the slot was written and
//!    unlocked. If the validation meets a later incarnation, it either finds it valid or
//!    fails, and then `try_validation_abort(i)` finds the status no longer `Executed(i)` and
//!    aborts nothing: a stale validation never aborts a newer incarnation.
//! 3. An aborted incarnation's writes are ESTIMATEs before its re-execution can start: the
//!    abort and `mark_estimates` happen under the slot's lock, and the re-execution is made
//!    ready only afterwards (`finish_validation`, called once the slot is unlocked). A later
//!    transaction that reads the location then suspends rather than read a value the
//!    re-execution may not write again.
//! 4. After the run, every slot holds the last incarnation, the one that was validated last;
//!    by Block-STM's guarantee it read exactly what the sequential execution reads, so its
//!    output is what the commit phase commits and its read and write sets are the traces.
//!
//! # Narrowed validation waves
//! An incarnation that writes a location its previous one did not (every first incarnation
//! does) makes Block-STM validate every higher transaction again (`wrote_new_location`):
//! one that already ran may have read that location from below and missed the write. Only
//! a transaction whose read set holds the location can have missed it, so before the wave
//! the worker looks at the slots of the transactions it would validate again, those above
//! the writer and below the validation index, and starts the wave only when one of their
//! read sets reads a location the incarnation wrote (`ReadSet::reads_any`), or when there
//! are more than [`WAVE_SCANNED`] of them. On blocks of small transactions whose first
//! incarnations complete out of order (one waited on its hint, or started early), the
//! waves were most of the validations: mainnet 6196166 at two threads, execution-only, 540
//! for 108 transactions.
//!
//! Why a transaction the look passes over is still validated after the write: the look
//! loads the validation index after the record (and a `SeqCst` fence), as
//! `finish_execution` does. A transaction at or above that index is validated from the
//! index after it, as in the paper. One below it either had its latest incarnation in its
//! slot when the look locked the slot, and its read set shows the write cannot change its
//! validation, or records a later incarnation after that lock: its validation follows its
//! record, so it follows the write (the record happened before the look, the look's
//! unlock before that record's lock). A committed transaction's read set is gone from its
//! slot (`IncarnationOutput::finalize`), but one above a writer that still records is
//! never committed.
//!
//! # Lock order
//! `slots[tx]` before the multi-version memory's shard locks (`record`, `observe`,
//! `mark_estimates`) and before the scheduler's `status[tx]` (`try_validation_abort`). The
//! scheduler and the memory never take a slot lock, a worker holds one slot lock at a time,
//! and `finish_execution`/`finish_validation` (which take the scheduler's dependency and
//! status locks in its own order, see `scheduler.rs`) run after the slot is unlocked, so the
//! order slot, status, shard is acyclic. The list of parked early starts is locked alone:
//! no other lock is taken while it is held, nor it while another is.
//!
//! # Atomic orderings
//! - The statistics ([`Counters`]) need no atomics: each worker counts in its own copy and
//!   adds it to the run's, under a mutex, once at its end.
//! - A slot's contents are published by its mutex (unlock releases, lock acquires); the
//!   memory's entries by its shard locks; a task's hand-over by the scheduler's status
//!   mutexes and `SeqCst` indices (see `scheduler.rs`). Invariant 2 is the chain slot unlock,
//!   status lock in `finish_execution`, status lock in `next_task`, slot lock in `validate`.
//! - The first failure is stored under a mutex; the halt is the scheduler's `SeqCst` done
//!   flag, so each worker stops at its next check.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        Mutex,
        atomic::{Ordering::SeqCst, fence},
    },
    time::Instant,
};

use super::{
    mv_memory::{MvMemory, MvValue},
    pool::WorkerPool,
    scheduler::{Counters, Scheduler, Task},
    threads::{lock, on_threads_telling},
    tx_executor::{IncarnationOutput, Interrupted, TxExecutor},
};
use crate::{
    access::{Incarnation, Location, TxIdx, Version},
    error::EngineError,
};

/// The most transactions above a new location's writer whose read sets are looked at
/// before a validation wave (see "Narrowed validation waves"); with more, the wave runs.
/// A look at a slot is a lock and a comparison of small lists, a fraction of the
/// validation it may save. Measured at two threads, execution-only, against 32 (in one
/// process, alternating, 101 rounds): 6196166, where a transaction that waited on its hint
/// completes with dozens executed above it, +9.5%; the other blocks tried within 3%.
const WAVE_SCANNED: usize = 128;

/// The latest completed incarnation of one transaction: Block-STM's per-transaction record
/// of its last read set and write set. Lives under a mutex in `slots[tx]`; its invariants
/// and lock order are in the module docs.
pub(crate) struct Slot<O> {
    /// The latest completed incarnation's output (read set and write set); `None` until the
    /// first execution completes.
    pub(crate) output: Option<O>,
    /// Its incarnation number (read by the property test's baseline).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) incarnation: Incarnation,
    /// Completed executions so far. Not the incarnation number, which also grows when a
    /// suspended execution (one that read an ESTIMATE) resumes.
    pub(crate) executions: u32,
    /// Wall time of the latest execution, in microseconds.
    pub(crate) exec_us: u64,
}

impl<O: IncarnationOutput> Slot<O> {
    /// The write set of the latest completed incarnation (empty before the first): exactly
    /// the locations at which the multi-version memory holds an entry (value or ESTIMATE)
    /// of this transaction (invariant 1).
    pub(crate) fn written(&self) -> &[(Location, MvValue)] {
        self.output.as_ref().map_or(&[], |output| output.writes())
    }
}

impl<O> Default for Slot<O> {
    fn default() -> Self {
        Self {
            output: None,
            incarnation: 0,
            executions: 0,
            exec_us: 0,
        }
    }
}

/// Every transaction's last incarnation, in block order.
pub(crate) type LastIncarnations<O> = Vec<Slot<O>>;

/// The worker threads [`run`] starts for `n` transactions on `threads` threads: more
/// workers than transactions would only wake threads to find nothing to do.
pub(crate) fn workers(threads: usize, n: usize) -> usize {
    threads.min(n)
}

/// Runs Block-STM over `n` transactions on `threads` threads of `pool` (the calling thread
/// one of them) until every transaction is executed and validated, and returns every
/// transaction's last incarnation with the run's counters.
///
/// # Errors
/// [`EngineError::WorkerPanic`] when a worker panicked, [`EngineError::Invariant`] when the
/// executor reported a broken invariant; the first of them stops every worker.
pub(crate) fn run<E: TxExecutor>(
    pool: &WorkerPool,
    executor: &E,
    mv: &MvMemory,
    n: usize,
    threads: usize,
    number: u64,
) -> Result<(LastIncarnations<E::Output>, Counters), EngineError> {
    if n == 0 {
        // Nothing to schedule: no worker needs waking.
        return Ok((Vec::new(), Counters::default()));
    }
    let threads = workers(threads, n);
    let scheduler = Scheduler::new(n);
    let slots: Vec<Mutex<Slot<E::Output>>> = (0..n).map(|_| Mutex::default()).collect();
    let failure: Mutex<Option<EngineError>> = Mutex::new(None);
    let stats = Mutex::new(Counters::default());
    let parked = Mutex::new(Vec::new());
    let worker = Worker {
        executor,
        helpers: threads - 1,
        mv,
        scheduler: &scheduler,
        slots: &slots,
        parked: &parked,
        stats: &stats,
        number,
    };
    let work = |pool_worker: bool| {
        let error = match catch_unwind(AssertUnwindSafe(|| worker.run(pool_worker))) {
            Ok(Ok(())) => return,
            Ok(Err(error)) => error,
            Err(panic) => EngineError::WorkerPanic {
                number,
                thread: "a worker thread",
                message: panic_message(panic.as_ref()),
            },
        };
        lock(&failure).get_or_insert(error);
        scheduler.halt();
    };
    // The calling thread is one of the workers: it starts at once, while the helpers are
    // handed their share (and do the executor's idle work first).
    on_threads_telling(pool, threads, work);
    if let Some(error) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(error);
    }
    let counters = stats.into_inner().unwrap_or_else(|p| p.into_inner());
    let slots = slots
        .into_iter()
        .map(|s| s.into_inner().unwrap_or_else(|p| p.into_inner()))
        .collect();
    Ok((slots, counters))
}

/// How an execution was handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// By the block order (`execution_idx`), a resumption or a re-execution: published
    /// when it completes.
    InOrder,
    /// Ahead of the block order (`Scheduler::next_early`): parked when it completes while
    /// the block order has not reached it.
    Early,
}

/// The text of a caught panic.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// What every worker thread shares: the executor, the multi-version memory, the scheduler,
/// the slots and the statistics. Each worker thread runs [`Worker::run`].
struct Worker<'a, E: TxExecutor> {
    executor: &'a E,
    /// The workers on pool threads, among which the early starts are shared.
    helpers: usize,
    mv: &'a MvMemory,
    scheduler: &'a Scheduler,
    slots: &'a [Mutex<Slot<E::Output>>],
    /// The early starts executed and held back until the block order reaches them, with
    /// their execution times (see "Early starts" in `scheduler.rs`): a few a block.
    parked: &'a Mutex<Vec<(TxIdx, E::Output, u64)>>,
    /// The run's counters: every worker counts its own and adds them here once, at its end,
    /// so that no cache line moves between the workers' cores per task for a statistic.
    stats: &'a Mutex<Counters>,
    number: u64,
}

impl<'a, E: TxExecutor> Worker<'a, E> {
    /// One worker thread's loop (see "The worker loop" in the module docs): the follow-up
    /// task the last one returned, else the scheduler's next, until the block is done.
    fn run(&self, pool_worker: bool) -> Result<(), EngineError> {
        let mut tally = Counters::default();
        // A pool worker does the executor's idle work first, all of it: see "Who executes
        // first" in the module docs.
        if pool_worker {
            while !self.scheduler.done() && self.executor.idle() {}
        }
        let result = self.run_counting(&mut tally, pool_worker);
        *lock(self.stats) += tally;
        result
    }

    fn run_counting(&self, tally: &mut Counters, pool_worker: bool) -> Result<(), EngineError> {
        let mut scratch = self.executor.scratch(self.mv);
        let mut task = None;
        // A helper first executes the early starts (see "Early starts" in `scheduler.rs`).
        let mut early = pool_worker;
        while !self.scheduler.done() {
            if early && task.is_none() {
                let choose = || self.executor.early_starts(self.helpers);
                if let Some(version) = self.scheduler.next_early(choose) {
                    tally.early_starts += 1;
                    task = self.execute(&mut scratch, version, Start::Early, tally)?;
                    continue;
                }
                early = false;
            }
            task = match task.take().or_else(|| self.scheduler.next_task()) {
                Some(Task::Execution(version)) => {
                    self.execute(&mut scratch, version, Start::InOrder, tally)?
                }
                Some(Task::Publish(version)) => self.publish(&mut scratch, version, tally)?,
                Some(Task::Validation(version)) => self.validate(version, tally),
                // No task: the block may have just been found done (the scheduler checks
                // when both indices are spent), which needs no yield; otherwise the idle work
                // or a yield before asking again.
                None => {
                    if !self.scheduler.done() && !self.executor.idle() {
                        std::thread::yield_now();
                    }
                    None
                }
            };
        }
        Ok(())
    }

    /// Executes `version` until it completes or suspends on the transaction whose ESTIMATE
    /// it read. Whatever the transaction's own outcome (the engine's executor turns a read
    /// the archive cannot answer into an invalid-transaction outcome, see
    /// `WorkerVm::execute` in `vm.rs`), execution fails the block only on a broken invariant.
    ///
    /// An early start's output is parked, not published, while the block order has not
    /// reached it (see "Early starts" in `scheduler.rs`).
    fn execute(
        &self,
        scratch: &mut E::Scratch<'a>,
        version: Version,
        start: Start,
        tally: &mut Counters,
    ) -> Result<Option<Task>, EngineError> {
        let tx = version.tx;
        // A known dependency not yet executed: wait for it rather than run to be aborted.
        if version.incarnation == 0
            && let Some(writer) = self.executor.dependency_hint(tx)
            && writer < tx
            && self.scheduler.add_dependency(tx, writer)
        {
            tally.hint_waits += 1;
            return Ok(None);
        }
        loop {
            let started = Instant::now();
            // Every lower transaction final before the first read: so is this incarnation.
            let on_committed_prefix = self.scheduler.committed() >= tx;
            match self.executor.execute(scratch, self.mv, version) {
                Err(Interrupted::Blocked(blocking)) => {
                    tally.estimate_reads += 1;
                    if self.scheduler.add_dependency(tx, blocking) {
                        tally.suspensions += 1;
                        return Ok(None);
                    }
                    // The writer has already executed again: retry at once.
                }
                // Nothing was published: the same incarnation starts again, reading the
                // write that made it stale; an early start is left to the block order
                // instead, unless it has passed.
                Err(Interrupted::Stale) => {
                    tally.stale_restarts += 1;
                    if start == Start::Early && self.scheduler.give_up_early(version) {
                        tally.early_discards += 1;
                        return Ok(None);
                    }
                }
                Err(Interrupted::Invariant(what)) => {
                    return Err(EngineError::Invariant {
                        number: self.number,
                        what: format!("transaction {tx}: {what}"),
                    });
                }
                Ok(output) => {
                    let exec_us = started.elapsed().as_micros() as u64;
                    let (output, exec_us) = if start == Start::Early {
                        // Held back before the park, so that whoever the block order hands
                        // its publication finds it; taken back if the block order passed.
                        lock(self.parked).push((tx, output, exec_us));
                        if self.scheduler.park(version) {
                            return Ok(None);
                        }
                        self.unpark(tx)?
                    } else {
                        (output, exec_us)
                    };
                    return Ok(self.complete(version, output, exec_us, on_committed_prefix, tally));
                }
            }
        }
    }

    /// Publishes a completed incarnation: records its write set in the multi-version memory
    /// and its output in the slot, and tells the scheduler, whose follow-up task it returns.
    /// A final one (`on_committed_prefix`) is finalized then.
    fn complete(
        &self,
        version: Version,
        output: E::Output,
        exec_us: u64,
        on_committed_prefix: bool,
        tally: &mut Counters,
    ) -> Option<Task> {
        tally.executions += 1;
        let tx = version.tx;
        // Invariant 1: the memory's entries and the slot's write set change together, under
        // the slot's lock.
        let mut slot = lock(&self.slots[tx]);
        let wrote_new = self.mv.record(version, output.writes(), slot.written());
        // The transactions a validation wave would validate again: those above this one and
        // below the validation index, loaded after the record (see "Narrowed validation
        // waves"). Their slots are looked at once this one is unlocked, against a copy of
        // the write set's locations, taken only when there is a look to make.
        let above = if wrote_new {
            fence(SeqCst);
            tx + 1..self.scheduler.validation_idx().min(self.slots.len())
        } else {
            0..0
        };
        let written: Option<Vec<Location>> = (!above.is_empty() && above.len() <= WAVE_SCANNED)
            .then(|| {
                let locations = output.writes().iter().map(|(location, _)| *location);
                locations.collect()
            });
        *slot = Slot {
            output: Some(output),
            incarnation: version.incarnation,
            executions: slot.executions + 1,
            exec_us,
        };
        drop(slot);
        let wave = match written {
            Some(written) => above.into_iter().any(|above| {
                lock(&self.slots[above])
                    .output
                    .as_ref()
                    .is_some_and(|output| output.reads().reads_any(&written))
            }),
            // None to look at (no wave), or more than `WAVE_SCANNED` (the wave runs).
            None => !above.is_empty(),
        };
        let next = self
            .scheduler
            .finish_execution(version, wave, on_committed_prefix);
        // A final incarnation is finalized once its writes are published (so that no later
        // transaction waits for it), still in this core's cache.
        if on_committed_prefix && let Some(output) = lock(&self.slots[tx]).output.as_mut() {
            output.finalize();
        }
        next
    }

    /// The parked output of early start `tx`.
    fn unpark(&self, tx: TxIdx) -> Result<(E::Output, u64), EngineError> {
        let mut parked = lock(self.parked);
        let at = parked.iter().position(|(parked, ..)| *parked == tx);
        let (_, output, exec_us) =
            at.map(|at| parked.swap_remove(at))
                .ok_or_else(|| EngineError::Invariant {
                    number: self.number,
                    what: format!("transaction {tx}: an early start's output was not parked"),
                })?;
        Ok((output, exec_us))
    }

    /// Publishes early start `version`, which the block order has reached: its parked
    /// output if every read still observes what it did, else a new execution of the same
    /// incarnation (nothing of it was published).
    fn publish(
        &self,
        scratch: &mut E::Scratch<'a>,
        version: Version,
        tally: &mut Counters,
    ) -> Result<Option<Task>, EngineError> {
        let (output, exec_us) = self.unpark(version.tx)?;
        if output.reads().first_changed(self.mv, version.tx).is_none() {
            return Ok(self.complete(version, output, exec_us, false, tally));
        }
        tally.early_discards += 1;
        self.execute(scratch, version, Start::InOrder, tally)
    }

    /// Validates `version`'s read set: every read must observe, now, what it observed when
    /// it ran. A failed validation aborts the incarnation (once), turns its writes into
    /// ESTIMATE markers and schedules its re-execution.
    fn validate(&self, version: Version, tally: &mut Counters) -> Option<Task> {
        tally.validations += 1;
        let slot = lock(&self.slots[version.tx]);
        // No output to validate is invalid, with no read to blame.
        let (valid, changed) = match slot.output.as_ref() {
            Some(output) => {
                let changed = output.reads().first_changed(self.mv, version.tx);
                (changed.is_none(), changed)
            }
            None => (false, None),
        };
        // Invariants 2 and 3: the abort only hits the incarnation still listed as executed,
        // and its writes become ESTIMATEs before the slot is unlocked and the re-execution
        // is made ready.
        let aborted = !valid && self.scheduler.try_validation_abort(version);
        if aborted {
            tally.aborts += 1;
            self.mv.mark_estimates(version.tx, slot.written());
        }
        drop(slot);
        if aborted && let Some(read) = changed {
            self.executor.conflicted(version.tx, read);
        }
        self.scheduler.finish_validation(version.tx, aborted)
    }
}

/// The worker loop, the scheduler and the multi-version memory against a sequential
/// baseline, on mock transactions whose read and write sets change with every incarnation
/// (as a real transaction's do when it reads other values), in the manner of Aptos'
/// `proptest_types/baseline.rs`.
#[cfg(test)]
mod tests {
    use std::{
        collections::BTreeMap,
        sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst},
        thread::ThreadId,
    };

    use alloy_primitives::{Address, U256};
    use proptest::prelude::*;

    use super::*;
    use crate::access::TxIdx;
    use crate::parallel::{
        mv_memory::{MvValue, Observed, Read},
        read_set::{ReadRecorder, ReadSet},
        threads::test_pool,
        write_log::Listener,
    };

    /// The one balance the mocks credit (commutatively) and read.
    const BALANCE: Location = Location::Balance(Address::ZERO);

    fn slot(key: u8) -> Location {
        Location::Storage(Address::ZERO, U256::from(key))
    }

    fn base(location: Location) -> U256 {
        match location {
            Location::Storage(_, key) => key + U256::from(1000),
            _ => U256::from(7),
        }
    }

    /// What one incarnation of a mock transaction reads and writes.
    #[derive(Debug, Clone)]
    struct Behaviour {
        /// Slots read, in order.
        reads: Vec<u8>,
        /// Whether it reads the balance (base plus every lower credit).
        reads_balance: bool,
        /// Slots written (distinct): each gets a value derived from everything read.
        writes: Vec<u8>,
        /// A credit to the balance, if any (never zero).
        credit: Option<u64>,
    }

    /// A mock transaction: incarnation `i` behaves as `behaviours[i % len]`.
    #[derive(Debug, Clone)]
    struct MockTx {
        behaviours: Vec<Behaviour>,
    }

    #[derive(Debug)]
    struct MockOutput {
        behaviour: usize,
        seen: Vec<U256>,
        reads: ReadSet,
        writes: Vec<(Location, MvValue)>,
    }

    impl IncarnationOutput for MockOutput {
        fn reads(&self) -> &ReadSet {
            &self.reads
        }

        fn writes(&self) -> &[(Location, MvValue)] {
            &self.writes
        }
    }

    /// The value transaction `tx` under `behaviour` writes at `key`, from what it read.
    fn written(tx: usize, behaviour: usize, seen: &[U256], key: u8) -> U256 {
        seen.iter().fold(
            U256::from(tx * 1_000_000 + behaviour * 1_000 + usize::from(key)),
            |acc, v| acc.wrapping_mul(U256::from(31)).wrapping_add(*v),
        )
    }

    /// The writes of `tx` under `behaviour` having seen `seen`.
    fn writes_of(
        tx: usize,
        index: usize,
        behaviour: &Behaviour,
        seen: &[U256],
    ) -> Vec<(Location, MvValue)> {
        let mut writes: Vec<(Location, MvValue)> = behaviour
            .writes
            .iter()
            .map(|key| (slot(*key), MvValue::Storage(written(tx, index, seen, *key))))
            .collect();
        if let Some(credit) = behaviour.credit {
            writes.push((BALANCE, MvValue::BalanceCredit(U256::from(credit))));
        }
        writes
    }

    struct MockExecutor {
        txs: Vec<MockTx>,
        /// Units of idle work left (the engine's: senders to recover).
        idle_left: AtomicUsize,
        /// The thread that calls `run`.
        caller: ThreadId,
        /// Whether a pool worker executed while idle work was left.
        pool_ran_early: AtomicBool,
        /// The early starts (`TxExecutor::early_starts`), whatever the transactions do.
        early: Vec<TxIdx>,
    }

    impl MockExecutor {
        fn new(txs: Vec<MockTx>, idle_work: usize, early: Vec<TxIdx>) -> Self {
            Self {
                txs,
                early,
                idle_left: AtomicUsize::new(idle_work),
                caller: std::thread::current().id(),
                pool_ran_early: AtomicBool::new(false),
            }
        }
    }

    /// An arbitrary lower transaction, true dependency or not: a hint only orders the first
    /// incarnations, it can never change what the block computes.
    fn mock_hint(tx: TxIdx) -> Option<TxIdx> {
        (tx % 3 == 1).then(|| tx.checked_sub(1 + tx % 5)).flatten()
    }

    impl TxExecutor for MockExecutor {
        type Output = MockOutput;
        type Scratch<'s> = ();

        fn scratch<'s>(&'s self, _: &'s MvMemory) {}

        fn execute<'s>(
            &'s self,
            _: &mut (),
            mv: &'s MvMemory,
            version: Version,
        ) -> Result<MockOutput, Interrupted> {
            if std::thread::current().id() != self.caller && self.idle_left.load(SeqCst) > 0 {
                self.pool_ran_early.store(true, SeqCst);
            }
            let tx = version.tx;
            let behaviours = &self.txs[tx].behaviours;
            let index = version.incarnation as usize % behaviours.len();
            let behaviour = &behaviours[index];
            let locations = behaviour
                .reads
                .iter()
                .map(|key| slot(*key))
                .chain(behaviour.reads_balance.then_some(BALANCE));
            let (mut seen, mut reads) = (Vec::new(), ReadRecorder::default());
            let mut cache: Vec<(Location, U256)> = Vec::new();
            // Listening from the second read, so that the mocks' short incarnations stop
            // early too.
            let mut listener = Listener::default();
            for location in locations {
                if listener.stale(mv, &reads, tx, 2) {
                    listener.stop(mv.log());
                    return Err(Interrupted::Stale);
                }
                // A location read again is answered from the incarnation's own cache, as
                // revm's journal answers it: the read set keeps one observation a location.
                if let Some((_, value)) = cache.iter().find(|(l, _)| *l == location) {
                    seen.push(*value);
                    continue;
                }
                let (value, observed) = match mv.read(&location, tx) {
                    Read::Blocked(blocking) => return Err(Interrupted::Blocked(blocking)),
                    Read::Base => (base(location), Observed::Base),
                    Read::Found {
                        value: MvValue::Storage(v) | MvValue::Balance(v),
                        observed,
                    } => (v, observed),
                    Read::BaseWithCredit { credit, observed } => {
                        (base(location) + credit, observed)
                    }
                    Read::Found { value, .. } => {
                        return Err(Interrupted::Invariant(format!("{location:?}: {value:?}")));
                    }
                };
                seen.push(value);
                cache.push((location, value));
                reads.note(location, observed);
                // Give other workers a chance to interleave.
                if tx.is_multiple_of(3) {
                    std::thread::yield_now();
                }
            }
            listener.stop(mv.log());
            let writes = writes_of(tx, index, behaviour, &seen);
            Ok(MockOutput {
                behaviour: index,
                seen,
                reads: reads.take(),
                writes,
            })
        }

        fn dependency_hint(&self, tx: TxIdx) -> Option<TxIdx> {
            mock_hint(tx)
        }

        fn early_starts(&self, _: usize) -> Vec<TxIdx> {
            self.early.clone()
        }

        fn idle(&self) -> bool {
            let claimed = self
                .idle_left
                .fetch_update(SeqCst, SeqCst, |left| left.checked_sub(1))
                .is_ok();
            if claimed {
                std::thread::yield_now();
            }
            claimed
        }
    }

    /// Runs the block in parallel with `idle_work` units of idle work and `early` as the
    /// early starts, then checks every
    /// transaction's last incarnation against a sequential execution that gives each
    /// transaction that incarnation's behaviour, and that no pool worker executed while
    /// idle work was left.
    fn check(
        txs: Vec<MockTx>,
        threads: usize,
        idle_work: usize,
        early: Vec<TxIdx>,
    ) -> Result<Counters, TestCaseError> {
        let n = txs.len();
        let executor = MockExecutor::new(txs, idle_work, early);
        let mv = MvMemory::new().with_write_log();
        let (slots, counters) = run(test_pool(), &executor, &mv, n, threads, 0)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(
            !executor.pool_ran_early.load(SeqCst),
            "a pool worker executed before the idle work was done"
        );
        let mut state: BTreeMap<Location, U256> = BTreeMap::new();
        for (tx, last) in slots.iter().enumerate() {
            let output = last
                .output
                .as_ref()
                .ok_or_else(|| TestCaseError::fail(format!("transaction {tx} never ran")))?;
            let behaviours = &executor.txs[tx].behaviours;
            let index = last.incarnation as usize % behaviours.len();
            prop_assert_eq!(output.behaviour, index, "transaction {}", tx);
            let behaviour = &behaviours[index];
            let seen: Vec<U256> = behaviour
                .reads
                .iter()
                .map(|key| slot_value(&state, slot(*key)))
                .chain(behaviour.reads_balance.then(|| slot_value(&state, BALANCE)))
                .collect();
            prop_assert_eq!(&output.seen, &seen, "transaction {} read", tx);
            let expected = writes_of(tx, index, behaviour, &seen);
            prop_assert_eq!(&output.writes, &expected, "transaction {} wrote", tx);
            prop_assert!(last.executions >= 1 && u64::from(last.executions) <= counters.executions);
            for (location, value) in expected {
                match value {
                    MvValue::BalanceCredit(credit) => {
                        let balance = slot_value(&state, location) + credit;
                        state.insert(location, balance);
                    }
                    MvValue::Storage(v) => {
                        state.insert(location, v);
                    }
                    other => return Err(TestCaseError::fail(format!("{other:?}"))),
                }
            }
        }
        // After the last transaction, the memory holds the baseline's final state.
        for (location, value) in &state {
            let read = match mv.read(location, n) {
                Read::Found {
                    value: MvValue::Storage(v) | MvValue::Balance(v),
                    ..
                } => v,
                Read::BaseWithCredit { credit, .. } => base(*location) + credit,
                other => return Err(TestCaseError::fail(format!("{location:?}: {other:?}"))),
            };
            prop_assert_eq!(read, *value, "final {:?}", location);
        }
        prop_assert_eq!(
            counters.executions,
            slots.iter().map(|s| u64::from(s.executions)).sum::<u64>()
        );
        prop_assert!(counters.suspensions <= counters.estimate_reads);
        Ok(counters)
    }

    fn slot_value(state: &BTreeMap<Location, U256>, location: Location) -> U256 {
        state
            .get(&location)
            .copied()
            .unwrap_or_else(|| base(location))
    }

    fn behaviour(keys: u8) -> impl Strategy<Value = Behaviour> {
        (
            prop::collection::vec(0..keys, 0..4),
            any::<bool>(),
            prop::collection::btree_set(0..keys, 0..3),
            prop::option::weighted(0.3, 1..100u64),
        )
            .prop_map(|(reads, reads_balance, writes, credit)| Behaviour {
                reads,
                reads_balance,
                writes: writes.into_iter().collect(),
                credit,
            })
    }

    /// A block, a thread count, units of idle work and early starts (any transactions, in
    /// any order, repeats and indices past the block included).
    fn block() -> impl Strategy<Value = (Vec<MockTx>, usize, usize, Vec<TxIdx>)> {
        (1u8..8).prop_flat_map(|keys| {
            (
                prop::collection::vec(
                    prop::collection::vec(behaviour(keys), 1..4)
                        .prop_map(|behaviours| MockTx { behaviours }),
                    1..40,
                ),
                1usize..=4,
                prop_oneof![Just(0usize), 1usize..64],
                prop::collection::vec(0usize..42, 0..6),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn block_stm_equals_the_sequential_baseline(
            (txs, threads, idle_work, early) in block()
        ) {
            // Each block three times: the interleavings differ from run to run.
            for _ in 0..3 {
                check(txs.clone(), threads, idle_work, early.clone())?;
            }
        }
    }

    /// A broken invariant reported by the executor stops every worker and is returned as
    /// [`EngineError::Invariant`], never panicked, never a hang.
    #[test]
    fn a_broken_invariant_is_returned_not_panicked() {
        struct Broken;
        impl TxExecutor for Broken {
            type Output = MockOutput;
            type Scratch<'s> = ();
            fn scratch<'s>(&'s self, _: &'s MvMemory) {}
            fn execute<'s>(
                &'s self,
                _: &mut (),
                _: &'s MvMemory,
                version: Version,
            ) -> Result<MockOutput, Interrupted> {
                if version.tx == 5 {
                    return Err(Interrupted::Invariant("a test invariant".into()));
                }
                Ok(MockOutput {
                    behaviour: 0,
                    seen: Vec::new(),
                    reads: ReadSet::default(),
                    writes: Vec::new(),
                })
            }
        }
        for threads in 1..=4 {
            let error = run(test_pool(), &Broken, &MvMemory::new(), 20, threads, 7)
                .err()
                .unwrap_or_else(|| panic!("must fail at {threads} threads"));
            assert_eq!(
                error,
                EngineError::Invariant {
                    number: 7,
                    what: "transaction 5: a test invariant".into()
                }
            );
        }
    }

    /// The hard paths run: on hot blocks at 4 threads, aborts, ESTIMATE reads,
    /// suspensions, hint waits, early stops, early starts (of transactions that read what
    /// lower ones write) and their discarded outputs all occur (over repeated runs), each
    /// run equal to the baseline.
    #[test]
    fn aborts_estimates_suspensions_and_hint_waits_occur() {
        let hot = Behaviour {
            reads: vec![0],
            reads_balance: false,
            writes: vec![0],
            credit: None,
        };
        let other = Behaviour {
            reads: vec![1, 0],
            reads_balance: true,
            writes: vec![0, 2],
            credit: Some(3),
        };
        let txs: Vec<MockTx> = (0..64)
            .map(|i| MockTx {
                behaviours: if i % 2 == 0 {
                    vec![hot.clone()]
                } else {
                    vec![hot.clone(), other.clone()]
                },
            })
            .collect();
        let mut total = Counters::default();
        for _ in 0..20 {
            total += check(txs.clone(), 4, 0, vec![63, 40, 41]).unwrap_or_else(|e| panic!("{e}"));
            if total.aborts > 0
                && total.suspensions > 0
                && total.hint_waits > 0
                && total.stale_restarts > 0
                && total.early_starts > 0
                && total.early_discards > 0
            {
                break;
            }
        }
        assert!(total.aborts > 0, "{total:?}");
        assert!(total.estimate_reads > 0, "{total:?}");
        assert!(total.suspensions > 0, "{total:?}");
        // Some first incarnations waited for their (mock) hint.
        assert!(total.hint_waits > 0, "{total:?}");
        // Some incarnations stopped early on a read the write log showed stale.
        assert!(total.stale_restarts > 0, "{total:?}");
        // Some helpers executed a transaction ahead of the block order, and some of those
        // outputs were stale by the time the block order reached them.
        assert!(total.early_starts > 0, "{total:?}");
        assert!(total.early_discards > 0, "{total:?}");
    }
}
