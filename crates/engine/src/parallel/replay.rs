//! What a parallel replay returns: the replay itself (comparable with the sequential one),
//! the mode it ran in, Block-STM's counters and where its time went, and every
//! transaction's trace (read set and write set of its last incarnation), from which the
//! dependency analysis is built.

use std::time::Instant;

use alloy_primitives::{Address, U256};

use super::{
    read_set::{ACCOUNT_FIELDS, ReadSet},
    scheduler::Counters,
};
use crate::{
    access::{Location, ReadOrigin, TxAccess, TxIdx},
    sequential::BlockReplay,
};

/// How a block was replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Block-STM: optimistic execution over the multi-version memory, validation,
    /// re-execution, then the in-order commit phase.
    BlockStm,
    /// The transactions executed in order on one thread by the oracle's own executor,
    /// while the other threads recovered senders ahead of it (`parallel/in_order.rs`,
    /// `parallel/senders.rs`). Sender recovery is most of a replay's work, and it is
    /// independent per transaction.
    InOrder,
}

impl Mode {
    /// `block-stm` or `in-order`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BlockStm => "block-stm",
            Self::InOrder => "in-order",
        }
    }
}

/// Where one Block-STM replay's wall time went, as the calling thread saw it: consecutive
/// phases, in microseconds, that add up to the replay's `wall_us` (each is rounded down, so
/// the sum may fall short by a few). A phase is wall time, whatever the other threads did
/// meanwhile: the worker loop runs on every thread, the fold, the traces and the blooms on
/// several, the merge and the commit on one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    /// Before the worker loop: the block executor, the pre-block system calls, the base
    /// state and the multi-version memory (and, end to end on one thread, recovering every
    /// sender).
    pub setup_us: u64,
    /// The worker loop: every incarnation's execution and validation (end to end on
    /// several threads, with the senders recovered as the workers go).
    pub loop_us: u64,
    /// The final state folded from the last write sets and diffed against the pre-state
    /// (with the multi-version memory freed beside it).
    pub fold_us: u64,
    /// The fold's state changes merged in order and the receipts committed in order (on
    /// the caller), beside the traces (on the other threads, which the caller joins).
    pub merge_traces_us: u64,
    /// The receipts' blooms that the workers did not build in the loop, from the committed
    /// logs, set into their receipts.
    pub receipts_us: u64,
    /// The post-block rules and the block's state changes.
    pub finish_us: u64,
}

impl Phases {
    /// The phases' names, in order, as the bench's table and JSON write them.
    pub const NAMES: [&str; 6] = [
        "setup",
        "loop",
        "fold",
        "merge_traces",
        "receipts",
        "finish",
    ];

    /// The phases' durations, in [`Phases::NAMES`] order.
    pub fn as_array(&self) -> [u64; 6] {
        [
            self.setup_us,
            self.loop_us,
            self.fold_us,
            self.merge_traces_us,
            self.receipts_us,
            self.finish_us,
        ]
    }

    /// Their sum.
    pub fn total_us(&self) -> u64 {
        self.as_array().iter().sum()
    }
}

/// Times consecutive phases from one start: each [`PhaseClock::lap`] is the time since the
/// previous one (or the start), and [`PhaseClock::elapsed_us`] the time from the start to
/// the last lap, so that the laps add up to it (less their rounding, under a microsecond
/// each).
#[derive(Debug)]
pub(crate) struct PhaseClock {
    started: Instant,
    last: Instant,
}

impl PhaseClock {
    /// A clock whose first lap starts now.
    pub(crate) fn start() -> Self {
        let started = Instant::now();
        Self {
            started,
            last: started,
        }
    }

    /// Microseconds since the previous lap.
    pub(crate) fn lap(&mut self) -> u64 {
        let now = Instant::now();
        let us = now.duration_since(self.last).as_micros() as u64;
        self.last = now;
        us
    }

    /// Microseconds from the start to the last lap.
    pub(crate) fn elapsed_us(&self) -> u64 {
        self.last.duration_since(self.started).as_micros() as u64
    }
}

/// One transaction's trace from its last incarnation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxTrace {
    /// Position in the block.
    pub index: TxIdx,
    /// Read set: each location with where its value came from.
    pub reads: TraceReads,
    /// Locations fully written.
    pub writes: Vec<Location>,
    /// Balances changed by a lazy credit only.
    pub credits: Vec<Location>,
    /// Number of completed executions (1 when never re-executed; a suspended execution
    /// does not count).
    pub incarnations: u32,
    /// Wall time of the last execution, in microseconds.
    pub exec_us: u64,
}

impl TxTrace {
    /// The trace as the dependency analysis sees it, weighted by `gas`.
    pub fn access(&self, gas: u64) -> TxAccess {
        TxAccess {
            gas,
            reads: self.reads.iter().map(|(location, _)| location).collect(),
            writes: self.writes.clone(),
            deltas: self.credits.clone(),
        }
    }
}

/// The result of a parallel replay.
#[derive(Debug, Clone)]
pub struct ParallelReplay {
    /// Receipts, state changes and per-transaction outcomes, comparable with the sequential
    /// replay's.
    pub replay: BlockReplay,
    /// Threads used.
    pub threads: usize,
    /// Block-STM or in-order execution.
    pub mode: Mode,
    /// Block-STM's counters (in-order: one execution per transaction, nothing else).
    pub counters: Counters,
    /// Where a Block-STM replay's wall time went, phase by phase (a block without
    /// transactions is all finish); `None` in [`Mode::InOrder`].
    pub phases: Option<Phases>,
    /// Per-transaction traces; empty in [`Mode::InOrder`], which records no read or write
    /// sets.
    pub traces: Vec<TxTrace>,
}

impl ParallelReplay {
    /// Every transaction's accesses, weighted by its gas used, for [`crate::analysis`].
    ///
    /// These come from the last incarnations, which Block-STM guarantees read exactly what
    /// the in-order execution reads; so they do not depend on thread timing (a test checks
    /// the analysis is identical at every thread count).
    pub fn accesses(&self) -> Vec<TxAccess> {
        self.traces
            .iter()
            .zip(&self.replay.transactions)
            .map(|(trace, outcome)| trace.access(outcome.gas_used))
            .collect()
    }

    /// The first way `other`'s traces differ from these in what Block-STM determines (each
    /// transaction's index, read set, full writes and credits; not its incarnations or
    /// time), or `None`. The last incarnations read exactly what the in-order execution
    /// reads, so replays of one block at any thread count have the same traces: the tests
    /// compare them through this.
    pub fn first_trace_difference(&self, other: &Self) -> Option<String> {
        if self.traces.len() != other.traces.len() {
            return Some(format!(
                "{} traces against {}",
                self.traces.len(),
                other.traces.len()
            ));
        }
        self.traces
            .iter()
            .zip(&other.traces)
            .find_map(|(ours, theirs)| {
                let at = |what: &str| Some(format!("transaction {}: {what} differ", ours.index));
                if ours.index != theirs.index {
                    Some(format!("trace of {} against {}", ours.index, theirs.index))
                } else if ours.reads != theirs.reads {
                    at("reads")
                } else if ours.writes != theirs.writes {
                    at("writes")
                } else if ours.credits != theirs.credits {
                    at("credits")
                } else {
                    None
                }
            })
    }
}

/// A transaction's read set as its trace keeps it: each location once, with where its value
/// came from ([`TraceReads::iter`]).
///
/// Kept compact, one entry per account read (its four basic fields' origins) and one per
/// storage slot, because a block's traces are held whole: at four bytes an origin, an
/// account costs 36 bytes instead of four `(Location, ReadOrigin)` pairs of 72.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceReads {
    accounts: Vec<TracedAccount>,
    slots: Vec<TracedSlot>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TracedAccount {
    address: Address,
    /// In `read_set::ACCOUNT_FIELDS` order.
    origins: [Origin; 4],
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TracedSlot {
    slot: U256,
    address: Address,
    origin: Origin,
}

/// A read's origin in four bytes: the writing transaction's index, or one of two marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Origin(u32);

impl Origin {
    /// The location was not read.
    const NOT_READ: Self = Self(u32::MAX);
    /// The value came from the pre-state.
    const PRE_STATE: Self = Self(u32::MAX - 1);

    /// `origin` packed. A transaction index is below [`MAX_TXS`]: Block-STM refuses a block
    /// with more transactions (`block_stm.rs`).
    fn of(origin: ReadOrigin) -> Self {
        match origin {
            ReadOrigin::PreState => Self::PRE_STATE,
            ReadOrigin::Tx(tx) => Self(u32::try_from(tx).unwrap_or(Self::PRE_STATE.0)),
        }
    }

    fn get(self) -> Option<ReadOrigin> {
        match self {
            Self::NOT_READ => None,
            Self::PRE_STATE => Some(ReadOrigin::PreState),
            Self(tx) => Some(ReadOrigin::Tx(tx as TxIdx)),
        }
    }
}

/// The most transactions a block replayed by Block-STM may hold: a trace packs a
/// transaction index into 32 bits, two values of which are marks.
pub(crate) const MAX_TXS: usize = u32::MAX as usize - 1;

impl TraceReads {
    /// The trace of a last incarnation's read set.
    pub(crate) fn of(reads: &ReadSet) -> Self {
        let origin = |observed: &super::mv_memory::Observed| {
            Origin::of(
                observed
                    .writer()
                    .map_or(ReadOrigin::PreState, ReadOrigin::Tx),
            )
        };
        Self {
            accounts: reads
                .accounts
                .iter()
                .map(|account| TracedAccount {
                    address: account.address,
                    origins: account
                        .fields
                        .each_ref()
                        .map(|field| field.as_ref().map_or(Origin::NOT_READ, origin)),
                })
                .collect(),
            slots: reads
                .slots
                .iter()
                .map(|read| TracedSlot {
                    slot: read.slot,
                    address: read.address,
                    origin: origin(&read.observed),
                })
                .collect(),
        }
    }

    /// Every location read with where its value came from: the accounts' basic fields
    /// first (each account's in [`Location`]'s order), then the storage slots, each group
    /// in the order of first reads.
    pub fn iter(&self) -> impl Iterator<Item = (Location, ReadOrigin)> + '_ {
        let fields = self.accounts.iter().flat_map(|account| {
            ACCOUNT_FIELDS
                .iter()
                .zip(account.origins)
                .filter_map(|(location, origin)| {
                    origin.get().map(|o| (location(account.address), o))
                })
        });
        let slots = self.slots.iter().filter_map(|read| {
            read.origin
                .get()
                .map(|o| (Location::Storage(read.address, read.slot), o))
        });
        fields.chain(slots)
    }

    /// The number of locations read.
    pub fn len(&self) -> usize {
        let fields: usize = self
            .accounts
            .iter()
            .map(|a| a.origins.iter().filter(|o| **o != Origin::NOT_READ).count())
            .sum();
        fields + self.slots.len()
    }

    /// Whether nothing was read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        access::Version,
        parallel::{mv_memory::Observed, read_set::ReadRecorder},
    };

    /// The trace gives back every location of the read set with its writer (or the
    /// pre-state), from the smallest to the largest transaction index it can hold.
    #[test]
    fn keeps_every_read_and_its_origin() {
        let mut recorder = ReadRecorder::default();
        let written = |tx| Observed::written(Version { tx, incarnation: 2 });
        let a = Address::repeat_byte(1);
        let b = Address::repeat_byte(2);
        let reads = [
            (Location::Existence(a), Observed::Base),
            (Location::Nonce(a), written(0)),
            (Location::Storage(b, U256::from(9)), written(MAX_TXS - 1)),
            (Location::Balance(b), written(17)),
            (
                Location::Code(a),
                Observed::credits(
                    vec![],
                    Some(Version {
                        tx: 5,
                        incarnation: 0,
                    }),
                ),
            ),
        ];
        for (location, observed) in reads.iter().cloned() {
            recorder.note(location, observed);
        }
        let set = recorder.take();
        let trace = TraceReads::of(&set);
        let mut got: Vec<(Location, ReadOrigin)> = trace.iter().collect();
        got.sort_by_key(|(l, _)| *l);
        let mut expected: Vec<(Location, ReadOrigin)> = reads
            .iter()
            .map(|(l, o)| (*l, o.writer().map_or(ReadOrigin::PreState, ReadOrigin::Tx)))
            .collect();
        expected.sort_by_key(|(l, _)| *l);
        assert_eq!(got, expected);
        assert_eq!(trace.len(), 5);
        assert!(!trace.is_empty());
        assert!(TraceReads::default().is_empty());
    }
}
