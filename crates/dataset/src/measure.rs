//! How the job times a block, so that `measured_*` columns are not noise on small blocks.
//!
//! A block's timed configurations (the sequential replay, then Block-STM at each thread count
//! of `--threads`) run in interleaved *rounds*: one run of each, in that order. Before them,
//! the job's verification round (the sequential replay verified against the header, every
//! parallel run compared with it, the first analysed) warms the caches and the allocator and
//! is not timed: the first replay of a block pays page faults and cold code paths that the
//! next ones do not (on mainnet block 9068998 the cold sequential replay took 10.0 ms, the
//! warm ones at most 1.8 ms, which made Block-STM look 5.7 times faster on 2 cores). Then
//! timed rounds run, and are compared, at least [`RepeatPolicy::min_rounds`] of them and
//! more while they took less than [`RepeatPolicy::min_total`] together, up to
//! [`RepeatPolicy::max_rounds`]. A block whose round takes 20 ms is timed once; an empty block
//! is timed 50 times. Each column then holds the **median** of its configuration's samples,
//! `measured_repeats` the number of timed rounds, and the spreads `(max - min) / median` of
//! the samples: how far a single timing could have been off.
//!
//! The same rule times the benchmark harness (`replay-evm-bench`), with its own minimum time
//! and a minimum number of rounds (`--repeat`, `--min-time`).
//!
//! Interleaving keeps slow drifts of the machine (another process, frequency changes) from
//! favouring one configuration; the median ignores the one-off outliers (a preempted run).

use std::time::Duration;

/// When to stop repeating a block's rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepeatPolicy {
    /// Run at least this many rounds (at least 1), whatever they took...
    pub min_rounds: u32,
    /// ...then repeat until the rounds together took at least this long...
    pub min_total: Duration,
    /// ...or this many rounds ran (at least 1).
    pub max_rounds: u32,
}

impl RepeatPolicy {
    /// The job's policy: 20 ms of measured wall time per block, at most 50 rounds.
    pub const JOB: Self = Self {
        min_rounds: 1,
        min_total: Duration::from_millis(20),
        max_rounds: 50,
    };

    /// Whether another round is due after `rounds` rounds that took `spent` in all.
    pub fn more(&self, rounds: u32, spent: Duration) -> bool {
        rounds < self.min_rounds.max(1) || (spent < self.min_total && rounds < self.max_rounds)
    }
}

/// One configuration's timings, in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Samples(Vec<u64>);

impl Samples {
    /// Adds a timing.
    pub fn push(&mut self, us: u64) {
        self.0.push(us);
    }

    /// Number of timings.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The median (the mean of the two middle timings when their number is even); 0 when
    /// empty.
    pub fn median(&self) -> u64 {
        median(&self.0)
    }

    /// `(max - min) / median`: 0 for one timing or identical ones.
    pub fn spread(&self) -> f64 {
        let (Some(min), Some(max)) = (self.0.iter().min(), self.0.iter().max()) else {
            return 0.0;
        };
        (max - min) as f64 / self.median().max(1) as f64
    }

    fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// The median of `values` (the mean of the two middle values when their number is even); 0
/// when empty.
pub fn median(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    match n {
        0 => 0,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

/// Runs further rounds of a block's configurations while `policy` asks for more, given
/// `samples` holding the first round's timings (one [`Samples`] per configuration, in round
/// order). `round` runs every configuration once, in that order, and returns their timings
/// in microseconds. Returns the number of rounds, the first included.
///
/// # Errors
/// The first error of `round` (a run that failed or differed from the sequential replay).
pub fn repeat<E>(
    policy: &RepeatPolicy,
    samples: &mut [Samples],
    mut round: impl FnMut() -> Result<Vec<u64>, E>,
) -> Result<u32, E> {
    let spent = |samples: &[Samples]| {
        Duration::from_micros(samples.iter().map(Samples::total).sum::<u64>())
    };
    let mut rounds = u32::from(samples.iter().all(|s| !s.is_empty()));
    while policy.more(rounds, spent(samples)) {
        let timings = round()?;
        for (configuration, us) in samples.iter_mut().zip(timings) {
            configuration.push(us);
        }
        rounds += 1;
    }
    Ok(rounds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_round(timings: &[u64]) -> Vec<Samples> {
        timings
            .iter()
            .map(|us| {
                let mut samples = Samples::default();
                samples.push(*us);
                samples
            })
            .collect()
    }

    #[test]
    fn a_tiny_block_is_repeated_up_to_the_round_limit() {
        // 100 µs sequential, 60 and 40 µs in parallel: 200 µs a round, 20 ms needs 100.
        let mut samples = first_round(&[100, 60, 40]);
        let rounds = repeat(&RepeatPolicy::JOB, &mut samples, || {
            Ok::<_, ()>(vec![100, 60, 40])
        });
        assert_eq!(rounds, Ok(50));
        assert!(samples.iter().all(|s| s.len() == 50));
    }

    #[test]
    fn a_block_repeats_until_the_minimum_time() {
        // 4 ms a round: five rounds reach 20 ms.
        let mut samples = first_round(&[2_000, 1_000, 1_000]);
        let rounds = repeat(&RepeatPolicy::JOB, &mut samples, || {
            Ok::<_, ()>(vec![2_000, 1_000, 1_000])
        });
        assert_eq!(rounds, Ok(5));
    }

    #[test]
    fn with_no_round_timed_yet_at_least_one_is() {
        // The job's verification round is not timed: the timed rounds start from nothing.
        let mut samples = vec![Samples::default(); 3];
        let rounds = repeat(&RepeatPolicy::JOB, &mut samples, || {
            Ok::<_, ()>(vec![30_000, 20_000, 15_000])
        });
        assert_eq!(rounds, Ok(1));
        assert!(samples.iter().all(|s| s.len() == 1));
    }

    #[test]
    fn a_large_block_is_timed_once() {
        let mut samples = first_round(&[30_000, 16_000]);
        let rounds = repeat(
            &RepeatPolicy::JOB,
            &mut samples,
            || -> Result<Vec<u64>, ()> { panic!("no second round") },
        );
        assert_eq!(rounds, Ok(1));
    }

    #[test]
    fn the_columns_hold_the_median_and_the_spread() {
        // Round timings vary; the median ignores the outlier, the spread shows it.
        let mut samples = first_round(&[900, 500]);
        let mut next = [(110, 50), (100, 55), (95, 45), (105, 60)].into_iter();
        let policy = RepeatPolicy {
            min_rounds: 1,
            min_total: Duration::from_millis(10),
            max_rounds: 5,
        };
        let rounds = repeat(&policy, &mut samples, || {
            let (seq, par) = next.next().ok_or("ran out")?;
            Ok::<_, &str>(vec![seq, par])
        });
        assert_eq!(rounds, Ok(5));
        assert_eq!(samples[0].median(), 105);
        assert_eq!(samples[1].median(), 55);
        assert!((samples[0].spread() - (900.0 - 95.0) / 105.0).abs() < 1e-9);
        let mut even = Samples::default();
        for us in [4, 1, 3, 2] {
            even.push(us);
        }
        assert_eq!(even.median(), 2);
        assert_eq!(Samples::default().spread(), 0.0);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), 0);
        assert_eq!(median(&[5, 1, 3]), 3);
        assert_eq!(median(&[4, 1, 3, 2]), 2);
    }

    /// The benchmark harness's use: at least `min_rounds`, then until the minimum time, never
    /// more than `max_rounds`.
    #[test]
    fn a_minimum_of_rounds_comes_first() {
        let r = RepeatPolicy {
            min_rounds: 3,
            min_total: Duration::from_secs(1),
            max_rounds: 10,
        };
        assert!(r.more(2, Duration::from_secs(5)));
        assert!(!r.more(3, Duration::from_secs(1)));
        assert!(r.more(3, Duration::from_millis(10)));
        assert!(!r.more(10, Duration::from_millis(10)));
    }

    #[test]
    fn an_error_in_a_round_stops_the_repeats() {
        let mut samples = first_round(&[10, 10]);
        let mut calls = 0;
        let result = repeat(&RepeatPolicy::JOB, &mut samples, || {
            calls += 1;
            if calls == 3 {
                Err("differs")
            } else {
                Ok(vec![10, 10])
            }
        });
        assert_eq!(result, Err("differs"));
    }
}
