//! The cost model behind the adaptive engine: which of Block-STM and in-order execution is
//! predicted faster for a block, from numbers known before its replay.

/// The cost model behind [`Concurrency::Adaptive`](super::Concurrency::Adaptive): predicted wall time of each mode from
/// the block's transaction count (sender recovery) and gas used (execution), both known
/// before the replay (the gas from the archived header).
///
/// With `R` the recovery work, `E` the sequential execution work and `t` threads:
/// - in-order mode overlaps recovery with execution, so it takes `max(E, (R + E) / t)`;
/// - Block-STM recovers inside its worker loop on `t` threads and spends `k·E` of work
///   (execution over the multi-version memory, validation, commit), of which `c·E` does not
///   shrink with more threads (the serial part of the commit, and the dependencies):
///   `(R + (k − c)·E) / t + c·E`, before any re-execution.
///
/// Block-STM is chosen only when it is predicted at least `margin` faster, so that a doubt
/// falls back to in-order execution, which does the sequential replay's work with recovery
/// spread over the threads. The model only picks the mode: a wrong header gas (a corrupt
/// archive row) can make the replay slower, never different.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostModel {
    /// Sender recovery, µs per transaction.
    pub recovery_us_per_tx: f64,
    /// Sequential execution, µs per million gas.
    pub execution_us_per_mgas: f64,
    /// Block-STM's work over the sequential execution's (`k`).
    pub block_stm_work: f64,
    /// The part of Block-STM's work that does not shrink with threads, over the sequential
    /// execution (`c`).
    pub block_stm_serial: f64,
    /// Block-STM must be predicted faster than in-order by this factor (below 1).
    pub margin: f64,
}

impl CostModel {
    /// Measured on the 2-core development machine with `crates/bench/fit_cost_model.py`
    /// over one `--mode block-stm --threads 1,2` run (docs/benchmarks-history.md, "The cost
    /// model, measured again", second round): medians over the 36 blocks of at least 100
    /// transactions (the 10 workloads at 1 Ggas and 26 mainnet fixtures). Recovery ~50 µs a
    /// transaction (secp256k1 public-key recovery and the signing hash); execution ~0.37 µs
    /// per thousand gas; Block-STM's execution-only work 1.21x the sequential execution at
    /// one thread, of which 0.57x does not shrink with a second thread (the serial commit,
    /// and the dependencies).
    pub const MEASURED: Self = Self {
        recovery_us_per_tx: 50.0,
        execution_us_per_mgas: 374.0,
        block_stm_work: 1.21,
        block_stm_serial: 0.57,
        margin: 0.9,
    };

    /// Predicted wall time of in-order mode, in µs.
    pub fn in_order_us(&self, txs: usize, gas: u64, threads: usize) -> f64 {
        let (r, e) = self.work_us(txs, gas);
        e.max((r + e) / threads.max(1) as f64)
    }

    /// Predicted wall time of Block-STM without re-executions, in µs.
    pub fn block_stm_us(&self, txs: usize, gas: u64, threads: usize) -> f64 {
        let (r, e) = self.work_us(txs, gas);
        let parallel = r + (self.block_stm_work - self.block_stm_serial) * e;
        parallel / threads.max(1) as f64 + self.block_stm_serial * e
    }

    /// Whether Block-STM is predicted faster than in-order by the margin.
    pub fn block_stm_wins(&self, txs: usize, gas: u64, threads: usize) -> bool {
        txs > 1
            && self.block_stm_us(txs, gas, threads)
                < self.margin * self.in_order_us(txs, gas, threads)
    }

    fn work_us(&self, txs: usize, gas: u64) -> (f64, f64) {
        (
            txs as f64 * self.recovery_us_per_tx,
            gas as f64 / 1e6 * self.execution_us_per_mgas,
        )
    }
}
