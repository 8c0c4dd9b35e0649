//! Block-STM's collaborative scheduler (Gelashvili et al., §4, Algorithms 4–5).
//!
//! Threads share two task indices: `execution_idx`, the next transaction to execute, and
//! `validation_idx`, the next to validate. A thread asks `Scheduler::next_task` for work
//! and takes the lower of the two, so validation of a transaction never lags far behind its
//! execution. Each transaction has a status:
//!
//! ```text
//!   ReadyToExecute(i) --try_incarnate--> Executing(i) --finish_execution--> Executed(i)
//!          ^                                 |                                  |
//!          |                          add_dependency                  try_validation_abort
//!          |                                 v                                  v
//!          +---------- set_ready ------- Aborting(i) <--------------------------+
//!                  (incarnation i+1)
//! ```
//!
//! An execution that reads an ESTIMATE suspends on the writer (`Scheduler::add_dependency`);
//! the writer's next `finish_execution` resumes it with a higher incarnation. A failed
//! validation aborts the incarnation, and lowers `validation_idx` so that every higher
//! transaction is validated again (a validation wave). So does an incarnation that wrote a
//! location its previous one did not (the paper's `wrote_new_location`), when a higher
//! transaction's read set holds one of its locations (the worker loop looks, see "Narrowed
//! validation waves" in `executor.rs`). The block is done when both indices have passed
//! the last transaction, no task is in flight, and no index was lowered in between
//! (`Scheduler::check_done`, the paper's `decrease_cnt` double check).
//!
//! # Committed prefix
//! `committed` counts the leading transactions whose last incarnation is final: no lower
//! transaction will ever write again, so nothing can invalidate it. An incarnation of
//! transaction `i` that starts when `committed >= i` reads only final values (its reads see
//! writes below `i`, all final, and no ESTIMATE, which only an aborted incarnation leaves),
//! so it is final itself: it needs no validation, and its `finish_execution` advances
//! `committed` to `i + 1`. On one thread every transaction executes so, and none is
//! validated; on several, whenever a transaction starts after all below it finished.
//! `committed` only grows, and only through this path (a transaction validated before the
//! prefix reached it stays outside it, which costs the shortcut, never correctness).
//!
//! # Early starts
//! A helper may execute a few transactions ahead of `execution_idx` before it takes tasks
//! from the indices (`Scheduler::next_early`; which ones, `early.rs`); one the block order
//! reached first is passed over. Each goes through `claim` like any execution, so it is
//! handed out once per incarnation, and it is counted in `num_active_tasks` before its
//! claim, so the done check cannot pass while it runs. Its status moves off the diagram
//! above and back onto it:
//!
//! ```text
//!   Executing(i) --park--> Parked(i) --next_version_to_execute--> Executing(i) (publish)
//!   Executing(i) --give_up_early--> ReadyToExecute(i)
//! ```
//!
//! - An early start that completes before `execution_idx` reaches it is parked: its output
//!   is held back, unpublished (`Scheduler::park`, which ends its task). When
//!   `execution_idx` reaches it, the block order hands out its publication
//!   (`Task::Publish`) instead of an execution: the worker checks its read set and
//!   records it, or executes it again if a read went stale. No transaction in between
//!   reads its writes out of order.
//! - One that completes after `execution_idx` passed it (the block order found it
//!   executing and passed over it) is published by its own worker at once.
//! - One that a lower transaction's write makes stale as it runs is given up, ready again
//!   for the block order (`Scheduler::give_up_early`), rather than run again ahead of it.
//!
//! Park and give-up check `execution_idx` and move the status under the status lock, which
//! the block order takes after it moved `execution_idx` past the transaction: either they
//! see the index past it (and the caller publishes or executes it now), or the block order
//! finds it parked or ready. So every early start is published exactly once, and the block
//! is not done before. Once published it is an incarnation like any other: it is validated
//! from `validation_idx`, or by its own worker when `validation_idx` passed it before its
//! publication (`finish_execution`). It is never on the committed prefix (it is published
//! with `on_committed_prefix` false), so it is validated after every lower transaction's
//! first execution, which is what Block-STM's correctness needs of any incarnation.
//!
//! # Invariants
//! - A transaction's status only moves along the arrows above (and those of "Early
//!   starts"), each move under its status lock; the incarnation number only grows.
//! - A parked transaction's output is in the worker loop's parked list, and nowhere in the
//!   multi-version memory, until its publication.
//! - `num_active_tasks` counts tasks handed out and not yet finished; it is incremented
//!   before an index is taken and decremented when the task ends without a follow-up.
//! - A suspended transaction is in exactly one dependency list, and is Aborting until it is
//!   resumed.
//!
//! # Lock order
//! `dependencies[blocking]` is taken before `status[blocking]` and before `status[tx]`
//! (in `add_dependency`); `finish_execution` releases `status[tx]` before it takes
//! `dependencies[tx]`. No code takes a dependency lock while holding a status lock, so the
//! order is acyclic.
//!
//! # Atomic orderings
//! All index and counter operations use `SeqCst`. The done check reads `decrease_cnt`,
//! both indices and `num_active_tasks` and concludes from their combination; the paper's
//! proof assumes these reads see one total order of the updates, which only `SeqCst` gives.
//! The counters are touched once per task; each sits on its own cache line (`Line`), so that
//! an update of one does not take the others' line from the other cores.

use std::sync::{
    Mutex, OnceLock,
    atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst},
};

use super::threads::{Line, lock};
use crate::access::{Incarnation, TxIdx, Version};

/// A unit of work for a worker thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Task {
    /// Execute this incarnation.
    Execution(Version),
    /// Validate this incarnation's read set.
    Validation(Version),
    /// Publish this incarnation, executed early and parked until the block order reached
    /// it (see "Early starts"): its read set is checked first, and it executes again if a
    /// read went stale.
    Publish(Version),
}

/// What taking an index gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim<T = Version> {
    /// A task.
    Got(T),
    /// The index's transaction could not be handed out; the index is spent.
    Skipped,
    /// The index is past the last transaction.
    Exhausted,
}

impl Claim {
    fn map<T>(self, f: impl FnOnce(Version) -> T) -> Claim<T> {
        match self {
            Self::Got(version) => Claim::Got(f(version)),
            Self::Skipped => Claim::Skipped,
            Self::Exhausted => Claim::Exhausted,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    ReadyToExecute,
    Executing,
    Executed,
    Aborting,
    /// Executed ahead of the block order, its output held back (unpublished) until
    /// `execution_idx` reaches it (see "Early starts").
    Parked,
}

/// Counters of one block's run, reported per block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Incarnations executed (first executions included).
    pub executions: u64,
    /// Validations performed.
    pub validations: u64,
    /// Incarnations aborted by a failed validation.
    pub aborts: u64,
    /// Reads that met an ESTIMATE marker (each stops its execution).
    pub estimate_reads: u64,
    /// Executions suspended on the transaction whose ESTIMATE they read. An ESTIMATE read
    /// whose writer has already executed again is re-executed at once instead, so this is
    /// at most `estimate_reads`.
    pub suspensions: u64,
    /// First incarnations that waited for their dependency hint to execute (the sender's
    /// transaction below, see `TxExecutor::dependency_hint`) rather than run early.
    pub hint_waits: u64,
    /// Executions stopped before their end because a lower transaction had since recorded a
    /// write that changed one of their reads, and started again at once (the write log).
    pub stale_restarts: u64,
    /// Transactions a helper executed ahead of the block order, because their calldata
    /// said they may run long (`Scheduler::next_early`).
    pub early_starts: u64,
    /// Early starts given up because a lower transaction's write made them stale, as they
    /// ran or before the block order reached their held-back output; the block order
    /// executed them again.
    pub early_discards: u64,
}

impl std::ops::AddAssign for Counters {
    /// Adds another run's (or worker's) counts to these.
    fn add_assign(&mut self, other: Self) {
        self.executions += other.executions;
        self.validations += other.validations;
        self.aborts += other.aborts;
        self.estimate_reads += other.estimate_reads;
        self.suspensions += other.suspensions;
        self.hint_waits += other.hint_waits;
        self.stale_restarts += other.stale_restarts;
        self.early_starts += other.early_starts;
        self.early_discards += other.early_discards;
    }
}

/// The scheduler of one block.
#[derive(Debug)]
pub(crate) struct Scheduler {
    n: usize,
    // Each counter alone on its line (`Line`): every task updates some of them and every
    // worker reads `done_marker` on every turn, so counters sharing a line would move it
    // between cores on each of those.
    execution_idx: Line<AtomicUsize>,
    validation_idx: Line<AtomicUsize>,
    decrease_cnt: Line<AtomicUsize>,
    num_active_tasks: Line<AtomicUsize>,
    done_marker: Line<AtomicBool>,
    /// Leading transactions whose last incarnation is final (see "Committed prefix").
    committed: Line<AtomicUsize>,
    /// The transactions helpers start early (see "Early starts"), chosen by the first
    /// helper to ask, and the next of them to hand out.
    early: OnceLock<Vec<TxIdx>>,
    early_idx: Line<AtomicUsize>,
    txs: Vec<TxState>,
}

/// One transaction's status and the transactions suspended on it, alone on a cache line:
/// neighbouring transactions run on different workers, and a line shared between them
/// would move between cores on every lock.
#[derive(Debug)]
#[repr(align(64))]
struct TxState {
    status: Mutex<(Incarnation, Status)>,
    dependencies: Mutex<Vec<TxIdx>>,
}

impl Scheduler {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            n,
            execution_idx: Line(AtomicUsize::new(0)),
            validation_idx: Line(AtomicUsize::new(0)),
            decrease_cnt: Line(AtomicUsize::new(0)),
            num_active_tasks: Line(AtomicUsize::new(0)),
            done_marker: Line(AtomicBool::new(n == 0)),
            committed: Line(AtomicUsize::new(0)),
            early: OnceLock::new(),
            early_idx: Line(AtomicUsize::new(0)),
            txs: (0..n)
                .map(|_| TxState {
                    status: Mutex::new((0, Status::ReadyToExecute)),
                    dependencies: Mutex::new(Vec::new()),
                })
                .collect(),
        }
    }

    /// The next early start not yet reached by `execution_idx` and still ready, as its first
    /// incarnation to execute (see "Early starts"); `None` when none is left. The first call
    /// chooses them (`choose`, in the order to start them): only helpers ask, so that a scan
    /// of a large block's transactions stays off the calling thread, which keeps the block
    /// order.
    pub(crate) fn next_early(&self, choose: impl FnOnce() -> Vec<TxIdx>) -> Option<Version> {
        let early = self.early.get_or_init(choose);
        loop {
            let &tx = early.get(self.early_idx.fetch_add(1, SeqCst))?;
            if tx < self.execution_idx.load(SeqCst) {
                // The block order reached it first.
                continue;
            }
            self.num_active_tasks.fetch_add(1, SeqCst);
            if let Some(version) = self.try_incarnate(tx) {
                return Some(version);
            }
        }
    }

    /// Whether every transaction is executed and validated.
    pub(crate) fn done(&self) -> bool {
        self.done_marker.load(SeqCst)
    }

    /// Stops every worker at its next `done` check (used when a worker fails).
    pub(crate) fn halt(&self) {
        self.done_marker.store(true, SeqCst);
    }

    fn decrease_execution_idx(&self, target: TxIdx) {
        self.execution_idx.fetch_min(target, SeqCst);
        self.decrease_cnt.fetch_add(1, SeqCst);
    }

    fn decrease_validation_idx(&self, target: TxIdx) {
        self.validation_idx.fetch_min(target, SeqCst);
        self.decrease_cnt.fetch_add(1, SeqCst);
    }

    fn check_done(&self) {
        let observed = self.decrease_cnt.load(SeqCst);
        if self
            .execution_idx
            .load(SeqCst)
            .min(self.validation_idx.load(SeqCst))
            >= self.n
            && self.num_active_tasks.load(SeqCst) == 0
            && observed == self.decrease_cnt.load(SeqCst)
        {
            self.done_marker.store(true, SeqCst);
        }
    }

    /// Moves `tx` from ready to executing and returns the incarnation to run, if it is ready;
    /// the one gate every execution passes, so a transaction is claimed once per incarnation
    /// whichever way a worker reached it.
    fn claim(&self, tx: TxIdx) -> Option<Version> {
        if tx < self.n {
            let mut status = lock(&self.txs[tx].status);
            if status.1 == Status::ReadyToExecute {
                status.1 = Status::Executing;
                return Some(Version {
                    tx,
                    incarnation: status.0,
                });
            }
        }
        None
    }

    fn try_incarnate(&self, tx: TxIdx) -> Option<Version> {
        let claimed = self.claim(tx);
        if claimed.is_none() {
            self.num_active_tasks.fetch_sub(1, SeqCst);
        }
        claimed
    }

    /// The next execution in block order, or the publication of an early start parked there.
    fn next_version_to_execute(&self) -> Claim<Task> {
        if self.execution_idx.load(SeqCst) >= self.n {
            self.check_done();
            return Claim::Exhausted;
        }
        self.num_active_tasks.fetch_add(1, SeqCst);
        let tx = self.execution_idx.fetch_add(1, SeqCst);
        if tx < self.n {
            let mut status = lock(&self.txs[tx].status);
            let version = Version {
                tx,
                incarnation: status.0,
            };
            match status.1 {
                Status::ReadyToExecute => {
                    status.1 = Status::Executing;
                    return Claim::Got(Task::Execution(version));
                }
                Status::Parked => {
                    status.1 = Status::Executing;
                    return Claim::Got(Task::Publish(version));
                }
                Status::Executing | Status::Executed | Status::Aborting => {}
            }
        }
        self.num_active_tasks.fetch_sub(1, SeqCst);
        Claim::Skipped
    }

    /// Ends an early start's execution (see "Early starts"): parks it, holding its output
    /// back, if the block order has not reached it yet, which then hands out its
    /// publication ([`Task::Publish`]); returns `false`, leaving it to the caller to publish
    /// it now, if the block order has passed it meanwhile.
    ///
    /// The check of `execution_idx` and the move to `Parked` happen under the status lock,
    /// which the block order takes after it moved `execution_idx` past the transaction
    /// (`next_version_to_execute`): either this sees the index past it, or the block order
    /// finds it parked. Parking ends the task.
    pub(crate) fn park(&self, version: Version) -> bool {
        self.leave_to_block_order(version, Status::Parked)
    }

    /// Gives an early start up (see "Early starts"), one that a lower transaction's write
    /// made stale as it ran: makes it ready again for the block order to execute when it
    /// reaches it, if it has not yet (the same check as [`Self::park`]); returns `false`,
    /// leaving it to the caller to execute it now, if the block order has passed it.
    pub(crate) fn give_up_early(&self, version: Version) -> bool {
        self.leave_to_block_order(version, Status::ReadyToExecute)
    }

    /// Moves executing `version` to `status` and ends its task, if `execution_idx` has not
    /// reached it yet, under its status lock (see [`Self::park`]).
    fn leave_to_block_order(&self, version: Version, status: Status) -> bool {
        let mut current = lock(&self.txs[version.tx].status);
        if self.execution_idx.load(SeqCst) > version.tx
            || *current != (version.incarnation, Status::Executing)
        {
            return false;
        }
        current.1 = status;
        drop(current);
        self.num_active_tasks.fetch_sub(1, SeqCst);
        true
    }

    fn next_version_to_validate(&self) -> Claim {
        if self.validation_idx.load(SeqCst) >= self.n {
            self.check_done();
            return Claim::Exhausted;
        }
        self.num_active_tasks.fetch_add(1, SeqCst);
        let tx = self.validation_idx.fetch_add(1, SeqCst);
        // A committed transaction is final: its validation would pass.
        if tx < self.n && tx >= self.committed.load(SeqCst) {
            let status = lock(&self.txs[tx].status);
            if status.1 == Status::Executed {
                return Claim::Got(Version {
                    tx,
                    incarnation: status.0,
                });
            }
        }
        self.num_active_tasks.fetch_sub(1, SeqCst);
        Claim::Skipped
    }

    /// The next task, or `None` when there is none right now (the caller checks `done`).
    ///
    /// An index whose transaction cannot be handed out now (the validation of one still
    /// executing, which its `finish_execution` validates; the execution of one executing or
    /// suspended) is passed over and the next index tried at once: every pass takes an
    /// index, so this ends, and a worker yields only when both indices are spent.
    pub(crate) fn next_task(&self) -> Option<Task> {
        loop {
            let claim = if self.validation_idx.load(SeqCst) < self.execution_idx.load(SeqCst) {
                self.next_version_to_validate().map(Task::Validation)
            } else {
                self.next_version_to_execute()
            };
            match claim {
                Claim::Got(task) => return Some(task),
                Claim::Exhausted => return None,
                Claim::Skipped if self.done() => return None,
                Claim::Skipped => {}
            }
        }
    }

    /// Suspends `tx` until `blocking` finishes its next execution. Returns `false` when
    /// `blocking` has already executed again, in which case `tx` should simply re-execute.
    pub(crate) fn add_dependency(&self, tx: TxIdx, blocking: TxIdx) -> bool {
        let mut dependents = lock(&self.txs[blocking].dependencies);
        if lock(&self.txs[blocking].status).1 == Status::Executed {
            return false;
        }
        {
            let mut status = lock(&self.txs[tx].status);
            status.1 = Status::Aborting;
        }
        dependents.push(tx);
        drop(dependents);
        self.num_active_tasks.fetch_sub(1, SeqCst);
        true
    }

    fn set_ready(&self, tx: TxIdx) {
        let mut status = lock(&self.txs[tx].status);
        *status = (status.0 + 1, Status::ReadyToExecute);
    }

    /// The next transaction to validate: every transaction from here up will be validated
    /// from the index (or by its own worker, if it is still executing).
    pub(crate) fn validation_idx(&self) -> TxIdx {
        self.validation_idx.load(SeqCst)
    }

    /// The number of leading transactions whose last incarnation is final (see "Committed
    /// prefix"): an incarnation of transaction `i` started while this is at least `i` is
    /// final.
    pub(crate) fn committed(&self) -> usize {
        self.committed.load(SeqCst)
    }

    /// Marks `version` executed, resumes the transactions suspended on it, and returns its
    /// validation as the next task when it can be done at once, else the execution of the
    /// lowest transaction it resumed. `on_committed_prefix` says the incarnation started
    /// when every lower transaction was committed: it is final, needs no validation, and
    /// extends the prefix.
    pub(crate) fn finish_execution(
        &self,
        version: Version,
        wrote_new_location: bool,
        on_committed_prefix: bool,
    ) -> Option<Task> {
        lock(&self.txs[version.tx].status).1 = Status::Executed;
        let mut resumed = std::mem::take(&mut *lock(&self.txs[version.tx].dependencies));
        for &dependent in &resumed {
            self.set_ready(dependent);
        }
        if on_committed_prefix {
            // The prefix was exactly `version.tx` long: nothing below it re-executes, and
            // this transaction was not committed before (a committed one never re-executes).
            let _ = self
                .committed
                .compare_exchange(version.tx, version.tx + 1, SeqCst, SeqCst);
        }
        let mut validate_own = false;
        if self.validation_idx.load(SeqCst) > version.tx {
            if wrote_new_location {
                // Higher transactions may have missed the new location: validate them again.
                // The paper lowers the index to this transaction itself; its own validation
                // is returned instead (below), to this worker, whose cache holds the read
                // set: through the index another worker would likely take it and read the
                // read set from this core's cache.
                self.decrease_validation_idx(version.tx + 1);
            }
            validate_own = !on_committed_prefix;
        }
        // The resumed transactions are executed again: the index is lowered to the lowest
        // (as in the paper), unless this worker takes that one itself. With no validation of
        // its own to do, it goes on with the lowest, which waited for what it just wrote (a
        // sender's next transaction, the next swap of a pool): on this core those writes are
        // in the cache, and a chain of such transactions runs on one core. Nor does the other
        // worker then sweep the index from the chain's next link over every transaction
        // suspended above it, once per link (`claim` hands an incarnation out once, so a
        // sweep that does reach it passes over it).
        resumed.sort_unstable();
        let claimed = match resumed.first() {
            Some(&lowest) if !validate_own => self.claim(lowest),
            _ => None,
        };
        let still_ready = if claimed.is_some() {
            resumed.get(1)
        } else {
            resumed.first()
        };
        if let Some(&lowest) = still_ready {
            self.decrease_execution_idx(lowest);
        }
        if validate_own {
            return Some(Task::Validation(version));
        }
        if let Some(next) = claimed {
            return Some(Task::Execution(next));
        }
        self.num_active_tasks.fetch_sub(1, SeqCst);
        None
    }

    /// Aborts `version` after a failed validation, unless it was already aborted or
    /// superseded. Returns whether this call aborted it.
    pub(crate) fn try_validation_abort(&self, version: Version) -> bool {
        let mut status = lock(&self.txs[version.tx].status);
        if *status == (version.incarnation, Status::Executed) {
            status.1 = Status::Aborting;
            true
        } else {
            false
        }
    }

    /// Ends a validation. After an abort, schedules the re-execution (returned as the next
    /// task when possible) and re-validation of every higher transaction.
    pub(crate) fn finish_validation(&self, tx: TxIdx, aborted: bool) -> Option<Task> {
        if aborted {
            self.set_ready(tx);
            self.decrease_validation_idx(tx + 1);
            if self.execution_idx.load(SeqCst) > tx {
                if let Some(version) = self.try_incarnate(tx) {
                    return Some(Task::Execution(version));
                }
                // try_incarnate already released the task.
                return None;
            }
        }
        self.num_active_tasks.fetch_sub(1, SeqCst);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `s` single-threaded until it is done (within 100 tasks): `execute` finishes each
    /// execution and returns the follow-up; every validation passes, unless `validate`
    /// says otherwise by panicking.
    fn drive(
        s: &Scheduler,
        mut execute: impl FnMut(Version) -> Option<Task>,
        mut validate: impl FnMut(Version),
    ) {
        let mut task = None;
        let mut steps = 0;
        while !s.done() {
            steps += 1;
            assert!(steps < 100, "scheduler did not end");
            task = match task.take().or_else(|| s.next_task()) {
                Some(Task::Execution(v)) => execute(v),
                // A parked early start, published as the worker loop publishes it (never
                // on the committed prefix).
                Some(Task::Publish(v)) => s.finish_execution(v, true, false),
                Some(Task::Validation(v)) => {
                    validate(v);
                    s.finish_validation(v.tx, false)
                }
                None => None,
            };
        }
    }

    /// An early start runs before the block order reaches it and is parked; the block
    /// order then hands out its publication instead of an execution, and it is validated
    /// like any other. One the block order reached first, or past the block, is not
    /// started early, and one the block order passed while it ran is not parked.
    #[test]
    fn an_early_start_is_parked_published_once_and_validated() {
        let v = |tx| Version { tx, incarnation: 0 };
        let s = Scheduler::new(4);
        assert_eq!(s.next_early(|| vec![3, 9]), Some(v(3)));
        // The list is chosen once; 9 is past the block.
        assert_eq!(s.next_early(|| unreachable!("chosen twice")), None);
        assert!(s.park(v(3)));
        let (mut executed, mut validated) = (Vec::new(), Vec::new());
        drive(
            &s,
            |v| {
                executed.push(v.tx);
                s.finish_execution(v, true, s.committed() >= v.tx)
            },
            |v| validated.push(v.tx),
        );
        // 3 was published, not executed again, and validated.
        assert_eq!(executed, vec![0, 1, 2]);
        assert_eq!(validated, vec![3]);

        let s = Scheduler::new(3);
        assert_eq!(s.next_task(), Some(Task::Execution(v(0))));
        // The block order took 0 first.
        assert_eq!(s.next_early(|| vec![0, 2]), Some(v(2)));
        assert_eq!(s.next_task(), Some(Task::Execution(v(1))));
        // The block order passes over 2, which is executing; 2 is then not parked but
        // published by its own worker.
        assert_eq!(s.next_task(), None);
        assert!(!s.park(v(2)));
    }

    /// Drives the scheduler single-threaded with a scripted "VM" and checks it ends.
    #[test]
    fn runs_every_transaction_and_ends() {
        let s = Scheduler::new(3);
        let mut executed = Vec::new();
        drive(
            &s,
            |v| {
                executed.push(v);
                s.finish_execution(v, true, false)
            },
            |_| {},
        );
        let txs: Vec<_> = executed.iter().map(|v| v.tx).collect();
        assert_eq!(txs, vec![0, 1, 2]);
    }

    #[test]
    fn abort_reincarnates_and_dependency_resumes() {
        let s = Scheduler::new(2);
        let v0 = match s.next_task() {
            Some(Task::Execution(v)) => v,
            other => panic!("{other:?}"),
        };
        // tx 0 is still executing, so its validation is skipped before tx 1 is handed out.
        let v1 = (0..10)
            .find_map(|_| match s.next_task() {
                Some(Task::Execution(v)) => Some(v),
                _ => None,
            })
            .expect("tx 1 is handed out");
        assert_eq!(
            v1,
            Version {
                tx: 1,
                incarnation: 0
            }
        );
        // tx 1 reads an estimate of tx 0: suspended.
        assert!(s.add_dependency(v1.tx, v0.tx));
        // tx 0 wrote new locations: the higher transactions are validated again, and its own
        // validation is the follow-up task of the worker that executed it.
        assert_eq!(
            s.finish_execution(v0, true, false),
            Some(Task::Validation(v0))
        );
        assert_eq!(s.finish_validation(v0.tx, false), None);
        // tx 1 resumed with incarnation 1.
        let mut seen_reexec = false;
        drive(
            &s,
            |v| {
                if v.tx == 1 {
                    assert_eq!(v.incarnation, 1);
                    seen_reexec = true;
                }
                s.finish_execution(v, false, false)
            },
            |_| {},
        );
        assert!(seen_reexec);
    }

    /// The first two tasks of a fresh scheduler: the executions of transactions 0 and 1
    /// (the second handed out while the first runs).
    fn first_two_executions(s: &Scheduler) -> (Version, Version) {
        let Some(Task::Execution(v0)) = s.next_task() else {
            panic!("tx 0 first")
        };
        let Some(Task::Execution(v1)) = s.next_task() else {
            panic!("tx 1 next, while tx 0 runs")
        };
        (v0, v1)
    }

    #[test]
    fn a_resumed_transaction_follows_its_writer_on_the_same_worker() {
        let s = Scheduler::new(3);
        let (v0, v1) = first_two_executions(&s);
        // tx 1 waits for tx 0 (its sender's transaction below, say).
        assert!(s.add_dependency(v1.tx, v0.tx));
        // tx 0 ran on the committed prefix: no validation of its own, so its worker goes
        // on with tx 1, resumed as incarnation 1.
        let next = s.finish_execution(v0, true, true);
        let resumed = Version {
            tx: 1,
            incarnation: 1,
        };
        assert_eq!(next, Some(Task::Execution(resumed)));
        // Nobody else is handed tx 1 while it runs; the block ends with each executed once
        // more.
        let mut executed = vec![resumed.tx];
        assert_eq!(s.finish_execution(resumed, true, s.committed() >= 1), None);
        drive(
            &s,
            |v| {
                executed.push(v.tx);
                s.finish_execution(v, true, s.committed() >= v.tx)
            },
            |_| {},
        );
        assert_eq!(executed, vec![1, 2]);
        assert_eq!(s.committed(), 3);
    }

    #[test]
    fn one_worker_commits_every_transaction_as_it_executes_and_validates_none() {
        let s = Scheduler::new(5);
        drive(
            &s,
            |v| {
                let on_prefix = s.committed() >= v.tx;
                assert!(on_prefix, "transaction {} ran off the prefix", v.tx);
                // Every transaction writes a new location: a validation wave each time.
                s.finish_execution(v, true, on_prefix)
            },
            |v| panic!("validated committed transaction {}", v.tx),
        );
        assert_eq!(s.committed(), 5);
    }

    #[test]
    fn a_transaction_off_the_prefix_is_validated_and_stops_the_prefix() {
        let s = Scheduler::new(2);
        let (v0, v1) = first_two_executions(&s);
        // tx 1 started before tx 0 was committed: not on the prefix.
        assert_eq!(s.committed(), 0);
        assert_eq!(s.finish_execution(v1, false, false), None);
        assert_eq!(s.finish_execution(v0, false, true), None);
        assert_eq!(s.committed(), 1);
        assert_eq!(s.next_task(), Some(Task::Validation(v1)));
        assert_eq!(s.finish_validation(v1.tx, false), None);
        assert_eq!(s.next_task(), None);
        assert!(s.done());
        assert_eq!(s.committed(), 1);
    }
}
