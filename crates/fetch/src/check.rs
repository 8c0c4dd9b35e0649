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

use alloy_primitives::{Address, B256, U256};
use replay_evm::{
    block::ArchivedBlock, chain::ChainSpec, pre_state::PreAccount, sequential::replay_sequential,
    state_changes::StateChanges,
};
use replay_evm_dataset::archive::{Archive, ArchiveColumns};

use crate::FetchError;

/// One field on which block n's post-state and block n+1's pre-state disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    /// Block n.
    pub block: u64,
    /// The account.
    pub address: Address,
    /// `exists`, `balance`, `nonce`, `code_hash` or `slot 0x...`.
    pub field: String,
    /// The value after block n (its replay).
    pub after: String,
    /// The value in block n+1's archived pre-state.
    pub next_pre_state: String,
}

impl std::fmt::Display for Disagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "block {} -> {}: {} {}: {} after block {}, {} in block {}'s pre-state",
            self.block,
            self.block + 1,
            self.address,
            self.field,
            self.after,
            self.block,
            self.next_pre_state,
            self.block + 1
        )
    }
}

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
    compare(block, &replay.state_changes, next, report);
    Ok(())
}

fn compare(
    block: &ArchivedBlock,
    changes: &StateChanges,
    next: &ArchivedBlock,
    report: &mut CheckReport,
) {
    let number = block.number();
    let mut disagree = |address: Address, field: String, after: String, pre: String| {
        report.disagreements.push(Disagreement {
            block: number,
            address,
            field,
            after,
            next_pre_state: pre,
        });
    };
    for (address, pre_next) in next.pre_state.sorted_accounts() {
        let address = *address;
        let change = changes.accounts.get(&address);
        let before = block.pre_state.account(&address);
        let after = match (change, before) {
            (Some(change), _) => match change.info {
                Some(info) => (info.balance, info.nonce, info.code_hash),
                None => {
                    disagree(
                        address,
                        "exists".into(),
                        "no (gone after the block)".into(),
                        "yes".into(),
                    );
                    continue;
                }
            },
            (None, Some(before)) => (before.balance, before.nonce, before.code_hash),
            // Neither block n's pre-state nor its changes name the account.
            (None, None) => continue,
        };
        report.accounts_compared += 1;
        compare_info(after, pre_next, address, &mut disagree);
        let mut slots: Vec<(&U256, &U256)> = pre_next.storage.iter().collect();
        slots.sort_unstable();
        for (slot, value) in slots {
            let named_before = || before.and_then(|a| a.storage.get(slot).copied());
            let after = match change {
                Some(change) => change.storage.get(slot).copied().or_else(|| {
                    if change.storage_wiped {
                        Some(U256::ZERO)
                    } else {
                        named_before()
                    }
                }),
                None => named_before(),
            };
            if let Some(after) = after {
                report.slots_compared += 1;
                if after != *value {
                    disagree(
                        address,
                        format!("slot {slot:#x}"),
                        format!("{after:#x}"),
                        format!("{value:#x}"),
                    );
                }
            }
        }
    }
}

fn compare_info(
    after: (U256, u64, B256),
    pre: &PreAccount,
    address: Address,
    disagree: &mut impl FnMut(Address, String, String, String),
) {
    if after.0 != pre.balance {
        disagree(
            address,
            "balance".into(),
            after.0.to_string(),
            pre.balance.to_string(),
        );
    }
    if after.1 != pre.nonce {
        disagree(
            address,
            "nonce".into(),
            after.1.to_string(),
            pre.nonce.to_string(),
        );
    }
    if after.2 != pre.code_hash {
        disagree(
            address,
            "code_hash".into(),
            after.2.to_string(),
            pre.code_hash.to_string(),
        );
    }
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
