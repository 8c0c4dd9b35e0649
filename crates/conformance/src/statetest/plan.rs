//! Which post entries of a state-test file run, and with what: the tests and forks a
//! [`Filter`] selects, each test prepared once, and one [`Job`] per post entry. The sequential
//! runner and the parallel comparison share this planning; they differ in what they prepare
//! (`T`) and how they run a job.

use replay_evm::{chain::Fork, error::ChainError};

use super::model::{PostEntry, Suite, TestUnit};
use crate::filter::Filter;

/// One post entry to account for, with `T` the prepared test it runs against (the
/// sequential runner's and the parallel comparison's differ).
pub(crate) enum Job<'a, T> {
    /// Execute it with this test's prepared state.
    Run(&'a T, Fork, &'a PostEntry),
    /// Already decided: it cannot run.
    Skip(String),
    /// Already decided: it is broken.
    Fail(String),
}

/// Where a job's outcome goes in the report.
pub(crate) struct Slot<'a> {
    pub(crate) name: &'a str,
    pub(crate) fork: Option<&'a str>,
    pub(crate) index: Option<usize>,
}

/// A selected test of a file: its name, its unit, its selected forks, and its prepared
/// state or why it could not be prepared.
pub(crate) type Prepared<'a, T> = (
    &'a str,
    &'a TestUnit,
    Vec<(&'a String, Result<Fork, ChainError>)>,
    Result<T, String>,
);

/// Prepares every test of `suite` that `filter` selects (with at least one selected fork).
/// Everything is prepared before any case runs, so that the cases of all tests of a file
/// can run in parallel: one file (e.g. VMTests/vmPerformance/loopMul.json) can dominate a
/// run.
pub(crate) fn prepare<'a, T>(
    suite: &'a Suite,
    filter: &Filter,
    prepare: impl Fn(&'a TestUnit) -> Result<T, String>,
) -> Vec<Prepared<'a, T>> {
    let mut prepared = Vec::new();
    for (name, unit) in suite {
        if !filter.matches_name(name) {
            continue;
        }
        let forks = selected_forks(unit, filter);
        if !forks.is_empty() {
            prepared.push((name.as_str(), unit, forks, prepare(unit)));
        }
    }
    prepared
}

/// One job per post entry of every prepared test, with where its outcome goes: a test that
/// could not be prepared is one failure; with `excluded`, every entry is skipped for that
/// reason; an unsupported fork is a skip, any other fork error a failure.
pub(crate) fn plan<'a, T>(
    prepared: &'a [Prepared<'a, T>],
    excluded: Option<&str>,
) -> Vec<(Slot<'a>, Job<'a, T>)> {
    let mut jobs = Vec::new();
    for (name, unit, forks, test) in prepared {
        if let (None, Err(message)) = (excluded, test) {
            let slot = Slot {
                name,
                fork: None,
                index: None,
            };
            jobs.push((slot, Job::Fail(message.clone())));
            continue;
        }
        for (key, fork) in forks {
            let entries = unit.post.get(*key).map_or(&[][..], Vec::as_slice);
            for (index, entry) in entries.iter().enumerate() {
                let slot = Slot {
                    name,
                    fork: Some(key.as_str()),
                    index: Some(index),
                };
                let job = match (excluded, test, fork) {
                    (Some(reason), _, _) => Job::Skip(reason.to_owned()),
                    (None, _, Err(error @ ChainError::UnsupportedFork { .. })) => {
                        Job::Skip(error.to_string())
                    }
                    (None, _, Err(error)) => Job::Fail(error.to_string()),
                    (None, Ok(test), Ok(fork)) => Job::Run(test, *fork, entry),
                    (None, Err(message), Ok(_)) => Job::Fail(message.clone()),
                };
                jobs.push((slot, job));
            }
        }
    }
    jobs
}

/// The post keys of `unit` that `filter` selects, with their parsed forks: forks in
/// activation order, then names that do not parse, by name.
fn selected_forks<'a>(
    unit: &'a TestUnit,
    filter: &Filter,
) -> Vec<(&'a String, Result<Fork, ChainError>)> {
    let mut forks: Vec<_> = unit
        .post
        .keys()
        .map(|key| (key, key.parse::<Fork>()))
        .filter(|(_, fork)| match (filter.fork, fork) {
            (None, _) => true,
            (Some(wanted), Ok(fork)) => wanted == *fork,
            (Some(_), Err(_)) => false,
        })
        .collect();
    forks.sort_by(|(ka, a), (kb, b)| match (a, b) {
        (Ok(a), Ok(b)) => a.cmp(b),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => ka.cmp(kb),
    });
    forks
}
