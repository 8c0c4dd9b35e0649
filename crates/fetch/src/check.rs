//! Consistency across blocks: for consecutive blocks n and n+1 of an archive, the state
//! after block n (its pre-state with its replayed state changes applied) must equal block
//! n+1's archived pre-state on every account and slot that both name. This checks the
//! replay's state changes against the node itself, which receipts cannot: a wrong balance
//! or slot written by block n shows up as a disagreement with what the node served for n+1.
//!
//! "Both name" is all that can be compared: the archive holds only what a block touches,
//! and only non-zero slots, so an account or slot absent from block n+1's pre-state may
//! simply be one it does not touch.

use std::path::Path;

pub use replay_evm::consistency::Disagreement;
use replay_evm::{
    block::ArchivedBlock, chain::ChainSpec, consistency::compare, sequential::replay_sequential,
};
use replay_evm_dataset::archive::{Archive, ArchiveColumns};

use crate::FetchError;

/// What [`check_archive`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Blocks in the archive.
    pub blocks: u64,
    /// Consecutive pairs checked.
    pub pairs: u64,
    /// Account fields compared (balance, nonce and code hash count as one account).
    pub accounts_compared: u64,
    /// Slots compared.
    pub slots_compared: u64,
    /// Every disagreement.
    pub disagreements: Vec<Disagreement>,
    /// Blocks n whose pair could not be checked: (n, why).
    pub unchecked: Vec<(u64, String)>,
}

impl CheckReport {
    /// Whether every checked pair agrees and every pair could be checked.
    pub fn agrees(&self) -> bool {
        self.disagreements.is_empty() && self.unchecked.is_empty()
    }
}

/// The state after `block` of every account that both `block`'s post-state and `next`'s
/// pre-state name, compared.
///
/// # Errors
/// A message when `block` does not replay.
pub fn check_pair(
    block: &ArchivedBlock,
    chain: &ChainSpec,
    next: &ArchivedBlock,
    report: &mut CheckReport,
) -> Result<(), String> {
    let replay = replay_sequential(block, chain).map_err(|e| e.to_string())?;
    let comparison = compare(block, &replay.state_changes, next);
    report.accounts_compared += comparison.accounts_compared;
    report.slots_compared += comparison.slots_compared;
    report.disagreements.extend(comparison.disagreements);
    Ok(())
}

/// Blocks read from the archive at a time.
const WINDOW: u64 = 64;

/// Checks every pair of consecutive blocks of the archive at `dir`.
///
/// # Errors
/// [`FetchError::Dataset`] when the archive cannot be opened or read.
pub fn check_archive(dir: &Path) -> Result<CheckReport, FetchError> {
    let archive = Archive::open(dir)?;
    let numbers = archive.numbers();
    let mut report = CheckReport {
        blocks: numbers.len() as u64,
        ..CheckReport::default()
    };
    let mut previous: Option<(ArchivedBlock, ChainSpec)> = None;
    let mut start = 0;
    while start < numbers.len() {
        let first = numbers[start];
        let last = first.saturating_add(WINDOW - 1);
        let batch = archive.read_range(first, last)?;
        let columns = ArchiveColumns::new(&batch)?;
        let mut blocks = Vec::with_capacity(columns.len());
        for i in 0..columns.len() {
            let number = u64::try_from(columns.meta(i).number).unwrap_or(0);
            let decoded = columns
                .row(i)
                .and_then(|row| Ok((row.to_block()?, row.chain()?)));
            blocks.push((number, decoded));
        }
        blocks.sort_by_key(|(n, _)| *n);
        start += blocks.len().max(1);
        for (number, decoded) in blocks {
            match decoded {
                Ok((block, chain)) => {
                    if let Some((prev, prev_chain)) = &previous
                        && prev.number() + 1 == number
                    {
                        report.pairs += 1;
                        if let Err(e) = check_pair(prev, prev_chain, &block, &mut report) {
                            report.unchecked.push((prev.number(), e));
                        }
                    }
                    previous = Some((block, chain));
                }
                Err(e) => {
                    report
                        .unchecked
                        .push((number, format!("does not decode: {e}")));
                    previous = None;
                }
            }
        }
    }
    Ok(report)
}
