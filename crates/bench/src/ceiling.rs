//! The machine's own ceiling at a thread count: how much faster `t` threads do perfectly
//! parallel work than one thread, measured beside every round's parallel replays.
//!
//! A speedup says how much faster the engine ran on the cores it was given; on a shared
//! machine those cores do not always give `t` times one core's work. Two vCPUs can run at
//! different speeds for seconds at a time (a neighbour on the host), and then no engine can
//! reach 2x. The ceiling measures that in the same run as the speedups: the work is sender
//! recovery (secp256k1 public-key recovery and a Keccak hash, the bulk of an end-to-end
//! replay), of a fixed block of signed transfers, claimed one transaction at a time from a
//! shared counter (dynamic scheduling, as Block-STM's workers claim tasks, so a faster core
//! takes more), first on the calling thread alone and then on `t` threads of a pool kept for
//! this, the order alternating from round to round. Its ratio is the best speedup any
//! engine could have had on that work at that moment; the median over a block's rounds
//! (its first few: `run::MAX_CEILINGS`) goes beside each speedup (`ceiling` in the JSON and
//! the table).
//!
//! [`bound_at_ceiling`] puts a block's bound (its list-scheduled speedup, which assumes
//! cores that each run at full speed whatever the others do) on the machine as measured:
//! at two threads, the time the schedule keeps both workers busy runs at the ceiling's pace
//! (`machine_bound` in the JSON).

use std::{
    collections::BTreeMap,
    num::NonZeroUsize,
    sync::atomic::{AtomicUsize, Ordering::Relaxed},
    time::{Duration, Instant},
};

use replay_evm::{
    block::ArchivedBlock,
    chain::{ChainSpec, Fork},
};
use replay_evm_workload::{Workload, generate_gas};

/// Transactions of the calibration block: about 14 ms of recovery on one core of the
/// reference machine, short beside a round of replays, long beside a thread's wake-up.
const CALIBRATION_TXS: u64 = 256;

/// The calibration block and a pool per thread count above one.
pub(crate) struct Ceiling {
    block: ArchivedBlock,
    fork: Fork,
    pools: BTreeMap<usize, rayon::ThreadPool>,
}

impl Ceiling {
    /// Generates the calibration block (raw transfers, real signatures) and builds a pool
    /// of each thread count in `threads` above one.
    ///
    /// # Errors
    /// Why the block could not be generated or a pool could not be built, as text.
    pub(crate) fn new(threads: &[NonZeroUsize]) -> Result<Self, String> {
        let block = generate_gas(Workload::RawTransfers, 1, CALIBRATION_TXS * 21_000)
            .map_err(|e| format!("its calibration block: {e}"))?;
        let fork = block.fork(&ChainSpec::mainnet());
        let mut pools = BTreeMap::new();
        for t in threads.iter().map(|t| t.get()).filter(|t| *t > 1) {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .thread_name(|i| format!("ceiling-{i}"))
                .build()
                .map_err(|e| format!("its pool of {t} threads: {e}"))?;
            pools.insert(t, pool);
        }
        Ok(Self { block, fork, pools })
    }

    /// One thread's time over `threads` threads' time recovering every sender of the
    /// calibration block; 1 at one thread (nothing to measure). `round` alternates which
    /// side runs first.
    pub(crate) fn measure(&self, threads: usize, round: u32) -> f64 {
        let Some(pool) = self.pools.get(&threads) else {
            return 1.0;
        };
        let (one, many) = if round.is_multiple_of(2) {
            let one = self.recover_all(None);
            (one, self.recover_all(Some(pool)))
        } else {
            let many = self.recover_all(Some(pool));
            (self.recover_all(None), many)
        };
        one.as_secs_f64() / many.as_secs_f64().max(1e-9)
    }

    /// Recovers every sender once, on the calling thread alone or on every thread of
    /// `pool`, each claiming the next transaction from one counter (`Relaxed`: the counter
    /// only hands out indices; the pool's broadcast returning orders the work before the
    /// clock stops).
    fn recover_all(&self, pool: Option<&rayon::ThreadPool>) -> Duration {
        let next = AtomicUsize::new(0);
        let n = self.block.transactions().len();
        let work = || {
            loop {
                let index = next.fetch_add(1, Relaxed);
                if index >= n {
                    break;
                }
                // Every signature of the generated block recovers; the result is only kept
                // from being optimised away.
                std::hint::black_box(self.block.recover_sender(index, self.fork).ok());
            }
        };
        let started = Instant::now();
        match pool {
            Some(pool) => {
                pool.broadcast(|_| work());
            }
            None => work(),
        }
        started.elapsed()
    }
}

/// A block's bound at `threads` on the machine as its ceiling measured it, at two threads;
/// `None` at any other thread count, or without a finite positive ceiling.
///
/// A list schedule of `W` work on two workers with speedup `b` ends at `W / b`; in it both
/// workers are busy for `W (1 - 1/b)` and one for `W (2/b - 1)` (together `W / b`, their
/// work `W`). When two busy cores each run at `c / 2` of one core's speed, the `c` the
/// ceiling measured, the first part takes `2/c` as long, so the schedule ends at
/// `W ((2/c) (1 - 1/b) + 2/b - 1)`: the bound on that machine is `W` over that. It is `b`
/// at `c = 2` and 1 at `b = 1`. The bound is taken between 1 and 2 (what a list schedule on
/// two workers gives) and the ceiling at most 2 (a higher one is a slow one-thread round,
/// not cores faster together than apart). At more threads the schedule's time with `k` of
/// `t` workers busy would need its own speed, which the ceiling (every thread busy) does
/// not measure.
pub(crate) fn bound_at_ceiling(bound: f64, ceiling: f64, threads: usize) -> Option<f64> {
    if threads != 2 || !bound.is_finite() || !ceiling.is_finite() || ceiling <= 0.0 {
        return None;
    }
    let b = bound.clamp(1.0, 2.0);
    let c = ceiling.min(2.0);
    Some(1.0 / ((2.0 / c) * (1.0 - 1.0 / b) + 2.0 / b - 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_at_the_ceiling_slows_only_the_time_both_workers_are_busy() {
        let at = |b, c| bound_at_ceiling(b, c, 2).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        // A perfectly parallel block runs at the ceiling; a chain on one worker at 1x.
        assert!(close(at(2.0, 1.6), 1.6));
        assert!(close(at(1.0, 1.3), 1.0));
        // At a ceiling of 2x nothing slows.
        assert!(close(at(1.5, 2.0), 1.5));
        // b = 1.5: both busy for W/3, one for W/3; at c = 1.6 the first takes W/3 * 1.25.
        assert!(close(at(1.5, 1.6), 1.0 / (1.25 / 3.0 + 1.0 / 3.0)));
        // Never above the bound, however high the ceiling's round.
        assert!(close(at(1.8, 2.3), 1.8));
        // A ceiling below one core's speed is a measurement too.
        assert!(close(at(2.0, 0.9), 0.9));
        assert_eq!(bound_at_ceiling(2.0, 1.6, 1), None);
        assert_eq!(bound_at_ceiling(2.0, 1.6, 4), None);
        assert_eq!(bound_at_ceiling(2.0, 0.0, 2), None);
        assert_eq!(bound_at_ceiling(2.0, f64::NAN, 2), None);
    }

    #[test]
    fn one_thread_is_its_own_ceiling_and_more_threads_measure_a_positive_ratio() {
        let threads = [NonZeroUsize::MIN, NonZeroUsize::new(2).unwrap()];
        let ceiling = Ceiling::new(&threads).unwrap();
        assert_eq!(ceiling.block.transactions().len(), CALIBRATION_TXS as usize);
        assert_eq!(ceiling.measure(1, 0), 1.0);
        for round in 0..2 {
            let ratio = ceiling.measure(2, round);
            // Either side can meet a slow core (above 2x when the one thread did), so only
            // the ratio's being a measurement is certain.
            assert!(ratio.is_finite() && ratio > 0.0, "{ratio}");
        }
    }
}
