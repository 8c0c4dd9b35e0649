//! What a parallel comparison of state tests found: the shared [`Report`] plus how the
//! passing cases agreed ([`Agreement`]), and which files it leaves out ([`Exclusion`]).

use std::collections::BTreeMap;

use crate::report::{Failure, FileReport, Report};

/// How the passing cases agreed, and where the sequential replay's validity differs from the
/// fixture's expectation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Agreement {
    /// Passed cases whose transaction executed in every replay.
    pub executed: usize,
    /// Passed cases whose transaction every replay rejected with the same error text.
    pub rejected: usize,
    /// Passed cases rejected with the same underlying error but differently worded messages:
    /// underlying error (numbers and hashes masked) -> number of cases.
    pub rejected_reworded: BTreeMap<String, usize>,
    /// Cases (passed or failed) whose sequential replay executed a transaction the fixture
    /// expects to be rejected, or rejected one it expects to execute. Informational: a block
    /// applies block rules a state test does not (e.g. the transaction gas limit against the
    /// block gas limit is checked by the block executor first).
    pub validity_differs: Vec<Failure>,
}

impl Agreement {
    /// Adds `other`'s counts and notes to these.
    pub(crate) fn merge(&mut self, other: Self) {
        self.executed += other.executed;
        self.rejected += other.rejected;
        for (kind, count) in other.rejected_reworded {
            *self.rejected_reworded.entry(kind).or_default() += count;
        }
        self.validity_differs.extend(other.validity_differs);
    }

    /// Passed cases rejected with differently worded messages, over all underlying errors.
    pub fn reworded(&self) -> usize {
        self.rejected_reworded.values().sum()
    }
}

/// The outcome of comparing one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParallelFileReport {
    /// Passed, failed and skipped cases.
    pub report: FileReport,
    /// How the passed cases agreed.
    pub agreement: Agreement,
}

/// The outcome of comparing many files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParallelReport {
    /// Passed, failed and skipped cases, ordered by file.
    pub report: Report,
    /// How the passed cases agreed.
    pub agreement: Agreement,
    /// The thread counts every compared case was replayed at.
    pub threads: Vec<usize>,
}

/// Files left out of a comparison: every case of a file whose path contains `path_contains`
/// is counted as skipped, with `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    /// Text the file's path must contain (use `/` as the separator).
    pub path_contains: String,
    /// Why those files are not compared.
    pub reason: String,
}
