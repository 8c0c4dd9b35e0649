//! The write log: the locations each recorded (or aborted) incarnation wrote, in the order
//! they were recorded, so that an incarnation still running can tell early that a read of
//! its own went stale, and stop, rather than run to its end and fail validation.
//!
//! Block-STM finds a stale read only when the reader's incarnation has finished and is
//! validated. On two threads a transaction often runs beside a lower one that writes what
//! it has just read (two arbitrage transactions through one pool): it runs to its end, is
//! validated, aborted and executed again. Over the 47 mainnet fixtures at two threads, a
//! ninth of the workers' execution time went to incarnations aborted that way (32.5 of
//! 293 ms), two fifths on one block. With the log, a long incarnation ([`Listener`]) looks,
//! before each of its reads, at what lower transactions recorded since it last looked; if
//! one of its earlier reads no longer observes what it did (the read validation would find
//! changed), it stops and starts again at once (`Interrupted::Stale`).
//!
//! Only long incarnations listen: an incarnation starts listening at its
//! `listen_after`-th read (`vm::LISTEN_AFTER`), checking then every read so far once, and
//! writes are published only while one listens. Listening from the first read cost more,
//! on every write, than it saved (`vm::LISTEN_AFTER` has the measurements).
//!
//! # What an early stop may rely on
//! An incarnation that stops early has published nothing: its writes reach the
//! multi-version memory only when it completes (`MvMemory::record`). Starting it again is
//! therefore exactly an incarnation that ran slower, and whether it stops is a matter of
//! time, never of results: a stale read the log misses is found by validation as before,
//! and a read found changed only stops work that validation would have thrown away. An
//! incarnation stops only for a write recorded after it started listening, by a lower
//! transaction, at a location it read (or, when it starts listening, for a read already
//! changed): each of the finitely many incarnations of lower transactions stops it at most
//! once, so it always completes.
//!
//! # Concurrency
//! The entries are a ring under one mutex, with their count mirrored in an atomic so that a
//! listener with nothing new to see takes no lock: a write publishes its entries under the
//! mutex and then stores the count (`Release`); a listener loads the count (`Acquire`) and
//! only if it moved takes the mutex to note what concerns it, and checks those reads after
//! unlocking. An entry is published after its write is in the multi-version memory (the
//! writer recorded it before, see `MvMemory::record`), so a listener that sees the entry and
//! checks its read sees the write. The listeners are counted in an atomic, which a
//! publisher loads (`Acquire`) to skip publishing when there are none. Nothing rests on
//! these orderings but the timeliness of an early stop: a write whose publisher saw no
//! listener while one was joining is either seen by the joiner's check of everything it
//! read, or found by validation. The ring keeps the last [`CAPACITY`] entries: a listener
//! that fell further behind skips what it missed, and validation finds it.
//!
//! Lock order: a worker may publish while holding a slot lock (`record` and
//! `mark_estimates` are called under it), and listens holding nothing; the log's mutex is
//! never held while another lock is taken, so it adds no cycle to the order in
//! `executor.rs`.

use std::{
    collections::VecDeque,
    sync::{
        Mutex,
        atomic::{
            AtomicUsize,
            Ordering::{AcqRel, Acquire, Release},
        },
    },
};

use super::{
    mv_memory::MvMemory,
    read_set::ReadRecorder,
    threads::{Line, lock},
};
use crate::access::{Location, TxIdx};

/// Entries the ring keeps: the writes of the last few hundred incarnations, 64 bytes each
/// (256 KiB), whatever the size of the block.
pub(crate) const CAPACITY: usize = 4096;

/// The log of one block's recorded writes (see the module docs); disabled on one thread,
/// where no incarnation runs beside a lower one.
#[derive(Debug, Default)]
pub(crate) struct WriteLog {
    enabled: bool,
    /// Incarnations listening now: with none, nothing is published.
    listeners: Line<AtomicUsize>,
    /// Entries published so far (the position of the next one), mirrored from `ring`.
    published: Line<AtomicUsize>,
    ring: Mutex<Ring>,
}

/// The last [`CAPACITY`] entries: `entries[i]` is entry `first + i`.
#[derive(Debug, Default)]
struct Ring {
    first: usize,
    entries: VecDeque<(u32, Location)>,
}

impl WriteLog {
    /// A log that records when `enabled`, and otherwise does nothing at all.
    pub(crate) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            ..Self::default()
        }
    }

    /// Whether the log records.
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Starts listening: from now on writes are published until [`WriteLog::leave`]. Returns
    /// the position a listener that starts now reads from.
    pub(crate) fn listen(&self) -> usize {
        self.listeners.fetch_add(1, AcqRel);
        self.published.load(Acquire)
    }

    /// Stops listening (after [`WriteLog::listen`]).
    pub(crate) fn leave(&self) {
        self.listeners.fetch_sub(1, AcqRel);
    }

    /// Publishes that transaction `tx` wrote (or stopped writing) `locations`.
    pub(crate) fn publish<'l>(&self, tx: TxIdx, locations: impl Iterator<Item = &'l Location>) {
        if !self.enabled || self.listeners.load(Acquire) == 0 {
            return;
        }
        // A transaction index fits in 32 bits (`replay::MAX_TXS`).
        let tx = tx as u32;
        let mut ring = lock(&self.ring);
        for location in locations {
            if ring.entries.len() == CAPACITY {
                ring.entries.pop_front();
                ring.first += 1;
            }
            ring.entries.push_back((tx, *location));
        }
        let published = ring.first + ring.entries.len();
        drop(ring);
        self.published.store(published, Release);
    }

    /// The locations transactions below `reader` published from position `from` on, handed
    /// to `seen` (those still in the ring), and the position to look from next time.
    pub(crate) fn since(
        &self,
        from: usize,
        reader: TxIdx,
        mut seen: impl FnMut(&Location),
    ) -> usize {
        if !self.enabled || self.published.load(Acquire) == from {
            return from;
        }
        let ring = lock(&self.ring);
        let skip = from.saturating_sub(ring.first);
        for (tx, location) in ring.entries.iter().skip(skip) {
            if (*tx as TxIdx) < reader {
                seen(location);
            }
        }
        ring.first + ring.entries.len()
    }
}

/// One worker's watch on the write log for the incarnation it runs: from its
/// `listen_after`-th read on, before each read, whether a write recorded since by a lower
/// transaction changed one of its reads so far.
#[derive(Debug, Default)]
pub(crate) struct Listener {
    /// Reads asked for before listening.
    reads: u32,
    listening: bool,
    /// How far into the log this incarnation has looked.
    at: usize,
    /// The logged locations it had read, checked once the log is unlocked.
    hits: Vec<Location>,
}

impl Listener {
    /// Called before each read of an incarnation of `reader` that has recorded `recorded` so
    /// far: whether one of those reads went stale (the incarnation then stops, see the module
    /// docs). Does nothing, and costs one branch, before the `listen_after`-th call or when
    /// the log is disabled. On its `listen_after`-th call it starts listening and checks
    /// every read so far once, as validation would; from then on only the locations lower
    /// transactions recorded since it last looked.
    pub(crate) fn stale(
        &mut self,
        mv: &MvMemory,
        recorded: &ReadRecorder,
        reader: TxIdx,
        listen_after: u32,
    ) -> bool {
        let log = mv.log();
        if !log.enabled() {
            return false;
        }
        if !self.listening {
            self.reads += 1;
            if self.reads < listen_after {
                return false;
            }
            self.at = log.listen();
            self.listening = true;
            return recorded.any_changed(mv, reader);
        }
        let hits = &mut self.hits;
        self.at = log.since(self.at, reader, |location| {
            if recorded.has_read(location) {
                hits.push(*location);
            }
        });
        // `any` stops at the first change: what is left is dropped with it.
        let stale = hits
            .iter()
            .any(|location| recorded.changed(location, mv, reader));
        hits.clear();
        stale
    }

    /// Stops listening, at the end of an incarnation (completed or not), and starts the
    /// count again for the next.
    pub(crate) fn stop(&mut self, log: &WriteLog) {
        if self.listening {
            log.leave();
            self.listening = false;
        }
        self.reads = 0;
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::{Address, U256};

    use super::*;

    fn slot(i: u64) -> Location {
        Location::Storage(Address::ZERO, U256::from(i))
    }

    /// A reader sees what lower transactions published since its position, never a higher
    /// transaction's, and nothing twice.
    #[test]
    fn a_reader_sees_lower_writes_published_since_it_looked() {
        let log = WriteLog::new(true);
        log.publish(0, [slot(0)].iter());
        let first = log.listen();
        assert_eq!(first, 0);
        log.publish(1, [slot(1)].iter());
        let start = log.listen();
        log.leave();
        log.publish(2, [slot(2), slot(3)].iter());
        log.publish(9, [slot(9)].iter());
        let mut seen = Vec::new();
        let next = log.since(start, 5, |l| seen.push(*l));
        assert_eq!(seen, vec![slot(2), slot(3)]);
        assert_eq!(next, 4);
        let mut again = Vec::new();
        assert_eq!(log.since(next, 5, |l| again.push(*l)), 4);
        assert!(again.is_empty());
        // Nobody listening: nothing is published.
        log.leave();
        log.publish(3, [slot(3)].iter());
        assert_eq!(log.since(next, 5, |_| panic!("nobody listened")), 4);
    }

    /// The ring keeps the last `CAPACITY` entries: a reader further behind sees those.
    #[test]
    fn the_ring_keeps_the_last_entries() {
        let log = WriteLog::new(true);
        log.listen();
        let many: Vec<Location> = (0..CAPACITY as u64 + 10).map(slot).collect();
        log.publish(0, many.iter());
        let mut seen = Vec::new();
        assert_eq!(log.since(0, 1, |l| seen.push(*l)), CAPACITY + 10);
        assert_eq!(seen.len(), CAPACITY);
        assert_eq!(seen.first(), Some(&slot(10)));
    }

    /// Disabled (one thread), the log keeps nothing and reports nothing.
    #[test]
    fn a_disabled_log_does_nothing() {
        let log = WriteLog::new(false);
        log.listen();
        log.publish(0, [slot(1)].iter());
        assert_eq!(log.since(0, 5, |_| panic!("nothing was logged")), 0);
    }
}
