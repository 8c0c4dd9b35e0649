//! What a blockchain-test run found: the shared [`Report`] (passed, failed by name, skipped
//! with reasons) plus what was replayed.

use crate::report::Report;

/// The outcome of a blockchain-test run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockTestReport {
    /// Tests passed, failed and skipped, ordered by file then test name. A test is one
    /// case: it passes only when every one of its blocks does.
    pub report: Report,
    /// Blocks replayed by the sequential oracle.
    pub blocks: usize,
    /// Parallel replays compared with the sequential one (each mode at each thread count,
    /// for every replayed block).
    pub parallel_replays: usize,
    /// The thread counts every block was replayed at, in every parallel mode.
    pub threads: Vec<usize>,
}

impl BlockTestReport {
    /// Whether nothing failed.
    pub fn is_success(&self) -> bool {
        self.report.is_success()
    }

    /// One line: `N passed, N failed, N skipped`.
    pub fn summary(&self) -> String {
        self.report.summary()
    }
}

/// What a file's run replayed, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Blocks replayed sequentially.
    pub(crate) blocks: usize,
    /// Parallel replays compared with the sequential one.
    pub(crate) parallel_replays: usize,
}
