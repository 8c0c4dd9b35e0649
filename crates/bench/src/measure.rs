//! Timing one replay: wall time and CPU time of the whole process (every thread); the
//! geometric mean of speedups. How many rounds to run and the medians of their timings are
//! the replay job's rule ([`replay_evm_dataset::measure`]).

use std::time::Instant;

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

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
