//! What a run found: each file's [`FileReport`] and the whole run's [`Report`], made of
//! passed cases, [`Failure`]s and [`Skip`]s. Both runners report this way.

use std::{collections::BTreeMap, fmt, path::PathBuf, time::Duration};

/// A case (or a whole file or test) that did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The state-test file.
    pub file: PathBuf,
    /// The test, or `None` when the file as a whole failed (unreadable, malformed JSON).
    pub name: Option<String>,
    /// The fork name as the file spells it, or `None` when the failure is not fork-specific.
    pub fork: Option<String>,
    /// The index of the post entry within its fork, or `None` when not entry-specific.
    pub index: Option<usize>,
    /// What went wrong, naming both the expected and the actual value.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(name) = &self.name {
            write!(f, " {name}")?;
        }
        if let Some(fork) = &self.fork {
            write!(f, " [{fork}")?;
            if let Some(index) = self.index {
                write!(f, " #{index}")?;
            }
            write!(f, "]")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A case that cannot run (e.g. on revm 43) or cannot be judged, with the concrete reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// The state-test file.
    pub file: PathBuf,
    /// The test.
    pub name: String,
    /// The fork name as the file spells it.
    pub fork: String,
    /// The index of the post entry within its fork, or `None` when the skip is not
    /// entry-specific (a whole blockchain test).
    pub index: Option<usize>,
    /// Why it was not run (or why its result cannot be judged).
    pub reason: String,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} [{}", self.file.display(), self.name, self.fork)?;
        if let Some(index) = self.index {
            write!(f, " #{index}")?;
        }
        write!(f, "]: {}", self.reason)
    }
}

/// The outcome of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// The state-test file.
    pub file: PathBuf,
    /// Cases that passed.
    pub passed: usize,
    /// Cases (or the file itself) that failed, in test-name then fork order.
    pub failed: Vec<Failure>,
    /// Cases skipped, in test-name then fork order.
    pub skipped: Vec<Skip>,
    /// Wall-clock time spent on the file.
    pub elapsed: Duration,
}

impl Failure {
    /// A failure of the file as a whole (unreadable, malformed, or not run at all).
    pub(crate) fn of_file(file: &std::path::Path, message: String) -> Self {
        Self {
            file: file.to_path_buf(),
            name: None,
            fork: None,
            index: None,
            message,
        }
    }
}

impl FileReport {
    /// An empty report of `file`.
    pub(crate) fn new(file: PathBuf) -> Self {
        Self {
            file,
            passed: 0,
            failed: Vec::new(),
            skipped: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }
}

/// The outcome of a run over many files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Number of files run.
    pub files: usize,
    /// Cases that passed.
    pub passed: usize,
    /// Failures, ordered by file, then test name, then fork.
    pub failed: Vec<Failure>,
    /// Skips, ordered by file, then test name, then fork.
    pub skipped: Vec<Skip>,
}

impl Report {
    /// Merges per-file reports, ordering them by file path.
    pub fn from_files(mut files: Vec<FileReport>) -> Self {
        files.sort_by(|a, b| a.file.cmp(&b.file));
        let mut report = Self {
            files: files.len(),
            ..Self::default()
        };
        for file in files {
            report.passed += file.passed;
            report.failed.extend(file.failed);
            report.skipped.extend(file.skipped);
        }
        report
    }

    /// Whether nothing failed.
    pub fn is_success(&self) -> bool {
        self.failed.is_empty()
    }

    /// Each distinct skip reason with the number of cases it covers, most frequent first.
    pub fn skip_reasons(&self) -> Vec<(&str, usize)> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for skip in &self.skipped {
            *counts.entry(skip.reason.as_str()).or_default() += 1;
        }
        let mut reasons: Vec<_> = counts.into_iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        reasons
    }

    /// One line: `N passed, N failed, N skipped`.
    pub fn summary(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed,
            self.failed.len(),
            self.skipped.len()
        )
    }
}
