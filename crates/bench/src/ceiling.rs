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

#[cfg(test)]
mod tests {
    use super::*;

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
