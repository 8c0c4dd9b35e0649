//! Timing one replay: wall time and CPU time of the whole process (every thread); the
//! geometric mean of speedups, and the spread (median, lowest, highest) of a run's ratios.
//! How many rounds to run and the medians of their timings are the replay job's rule
//! ([`replay_evm_dataset::measure`]).

use std::time::Instant;

use serde_json::{Value, json};

/// User plus system CPU time of the whole process so far, every thread included
/// (`getrusage(RUSAGE_SELF)`), in microseconds.
pub(crate) fn process_cpu_us() -> u64 {
    // SAFETY: `rusage` is plain old data, so all-zero is a valid value, and `getrusage`
    // only writes into the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return 0;
        }
        usage
    };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(usage.ru_utime) + us(usage.ru_stime)
}

/// One timed run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    /// Wall time, microseconds.
    pub(crate) wall_us: u64,
    /// CPU time of the process over the run, microseconds.
    pub(crate) cpu_us: u64,
}

/// Runs `f` once and measures it. Its result is returned, to be dropped (or checked)
/// outside the measured window.
pub(crate) fn timed<T>(f: impl FnOnce() -> T) -> (T, Sample) {
    let cpu = process_cpu_us();
    let started = Instant::now();
    let value = f();
    let wall = started.elapsed();
    let cpu_us = process_cpu_us().saturating_sub(cpu);
    (
        value,
        Sample {
            wall_us: wall.as_micros() as u64,
            cpu_us,
        },
    )
}

/// Geometric mean of positive `values`; `None` when empty.
pub(crate) fn geomean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let log_sum: f64 = values.iter().map(|v| v.max(f64::MIN_POSITIVE).ln()).sum();
    Some((log_sum / values.len() as f64).exp())
}

/// The median, lowest and highest of a run's values, and how many.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Spread {
    pub(crate) median: f64,
    pub(crate) lowest: f64,
    pub(crate) highest: f64,
    pub(crate) count: usize,
}

impl Spread {
    /// `None` when `values` is empty.
    pub(crate) fn of(mut values: Vec<f64>) -> Option<Self> {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = match n {
            0 => return None,
            _ if n % 2 == 1 => values[n / 2],
            _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
        };
        Some(Self {
            median,
            lowest: values[0],
            highest: values[n - 1],
            count: n,
        })
    }

    pub(crate) fn to_json(self) -> Value {
        json!({
            "median": self.median,
            "lowest": self.lowest,
            "highest": self.highest,
            "rounds": self.count,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn spreads() {
        assert_eq!(Spread::of(Vec::new()), None);
        let odd = Spread::of(vec![1.5, 0.5, 1.0]).unwrap();
        assert_eq!(
            (odd.median, odd.lowest, odd.highest, odd.count),
            (1.0, 0.5, 1.5, 3)
        );
        let even = Spread::of(vec![2.0, 1.0, 1.5, 1.75]).unwrap();
        assert_eq!((even.median, even.lowest, even.highest), (1.625, 1.0, 2.0));
    }

    #[test]
    fn geomeans() {
        assert_eq!(geomean(&[]), None);
        let g = geomean(&[1.0, 4.0]).unwrap();
        assert!((g - 2.0).abs() < 1e-12);
    }

    #[test]
    fn cpu_time_grows_with_work() {
        let before = process_cpu_us();
        let mut x = 0u64;
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(process_cpu_us() > before, "{x}");
    }
}
