//! What a run selects: a [`Filter`] by fork and test name.

use replay_evm::chain::Fork;

/// Which cases to run. The default runs everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Run only this fork. State tests: only the expected results of this fork; post entries
    /// under other fork names, including names that do not parse, are left out entirely
    /// (neither run nor skipped). Blockchain tests: only the tests whose network ends at this
    /// fork.
    pub fork: Option<Fork>,
    /// Run only tests whose name contains this text.
    pub name: Option<String>,
}

impl Filter {
    /// Whether a test of this name is selected.
    pub fn matches_name(&self, name: &str) -> bool {
        self.name
            .as_deref()
            .is_none_or(|wanted| name.contains(wanted))
    }
}
