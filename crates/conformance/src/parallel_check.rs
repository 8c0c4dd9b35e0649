//! The rule that a parallel replay equals the sequential one (the oracle), as both runners
//! apply it, and the thread counts they may ask the engine for.
//!
//! Two successful replays must have no [`BlockReplay::first_difference`]: the engine's one
//! definition of "parallel equals sequential" (receipts, per-transaction outcomes, gas used,
//! requests hash and state changes). Two rejections must name the same block, transaction
//! and error; only the engines' wording around the error may differ (the sequential replay
//! reports alloy-evm's `EVM reported invalid transaction (<hash>): X`, the parallel engine
//! revm's `transaction validation error: X`), and such agreements are told apart
//! ([`Agreed::Reworded`]) so that reports can count them.

use std::{num::NonZeroUsize, path::Path};

use replay_evm::{
    error::ReplayError,
    parallel::{ParallelEngine, ParallelReplay},
    sequential::BlockReplay,
};

use crate::error::ConformanceError;

/// `threads` as thread counts `engine` can honour.
///
/// # Errors
/// [`ConformanceError::Threads`] naming `path` when `threads` is empty, holds zero or asks for
/// more than the pool has.
pub(crate) fn thread_counts(
    path: &Path,
    engine: &ParallelEngine,
    threads: &[usize],
) -> Result<Vec<NonZeroUsize>, ConformanceError> {
    let available = engine.max_threads();
    let bad = |requested: usize| ConformanceError::Threads {
        path: path.to_path_buf(),
        requested,
        available,
    };
    if threads.is_empty() {
        return Err(bad(0));
    }
    threads
        .iter()
        .map(|&n| {
            NonZeroUsize::new(n)
                .filter(|n| n.get() <= available)
                .ok_or_else(|| bad(n))
        })
        .collect()
}

/// How a parallel replay agreed with the sequential one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Agreed {
    /// Both executed the block, with identical results.
    Executed,
    /// Both rejected the same transaction with the same error text.
    Rejected,
    /// Same underlying error (masked), differently worded.
    Reworded(String),
}

/// Compares one parallel replay at `threads` with the sequential one: both executed the
/// block with no [`BlockReplay::first_difference`], or both reject the same transaction for
/// the same underlying error. Any other pair of outcomes is a disagreement, in words.
pub(crate) fn check_parallel(
    sequential: &Result<BlockReplay, ReplayError>,
    parallel: &Result<ParallelReplay, ReplayError>,
    threads: usize,
) -> Result<Agreed, String> {
    match (sequential, parallel) {
        (Ok(seq), Ok(par)) => {
            if par.threads != threads {
                return Err(format!("the engine ran {} threads", par.threads));
            }
            match seq.first_difference(&par.replay) {
                None => Ok(Agreed::Executed),
                Some(difference) => Err(format!(
                    "the replays differ (sequential against parallel): {difference}"
                )),
            }
        }
        (
            Err(ReplayError::InvalidTransaction {
                number,
                index,
                hash,
                reason,
            }),
            Err(ReplayError::InvalidTransaction {
                number: p_number,
                index: p_index,
                hash: p_hash,
                reason: p_reason,
            }),
        ) => {
            if (number, index, hash) != (p_number, p_index, p_hash) {
                return Err(format!(
                    "both reject a transaction, but not the same: sequential block {number} tx \
                     {index} ({hash}), parallel block {p_number} tx {p_index} ({p_hash})"
                ));
            }
            if reason == p_reason {
                return Ok(Agreed::Rejected);
            }
            let (seq_core, par_core) = (underlying(reason), underlying(p_reason));
            if seq_core == par_core {
                Ok(Agreed::Reworded(mask_numbers(&seq_core)))
            } else {
                Err(format!(
                    "both reject the transaction, for different reasons: sequential `{reason}`, \
                     parallel `{p_reason}`"
                ))
            }
        }
        (Err(seq), Err(par)) => Err(format!(
            "the block cannot be replayed: sequential `{seq}`, parallel `{par}`"
        )),
        (Ok(seq), Err(par)) => Err(format!(
            "the parallel replay failed (`{par}`) where the sequential one executed the \
             transaction ({:?})",
            seq.transactions.first().map(|t| &t.status)
        )),
        (Err(seq), Ok(par)) => Err(format!(
            "the parallel replay executed the transaction ({:?}) where the sequential one \
             failed (`{seq}`)",
            par.replay.transactions.first().map(|t| &t.status)
        )),
    }
}

/// The error an invalid-transaction message wraps, without the engine's wording: alloy-evm's
/// `EVM reported invalid transaction (<hash>): X` and revm's `transaction validation error: X`
/// both give `X`; the block gas check, which both engines word differently, gives one form.
fn underlying(reason: &str) -> String {
    if let Some(rest) = reason.strip_prefix("EVM reported invalid transaction (")
        && let Some((_, error)) = rest.split_once("): ")
    {
        return error.to_owned();
    }
    if let Some(error) = reason.strip_prefix("transaction validation error: ") {
        return error.to_owned();
    }
    if let Some(rest) = reason.strip_prefix("transaction gas limit ") {
        for wording in [
            " is more than blocks available gas ",
            " is more than the block's available gas ",
        ] {
            if let Some((limit, available)) = rest.split_once(wording) {
                return format!(
                    "transaction gas limit {limit} is more than the block's available gas \
                     {available}"
                );
            }
        }
    }
    reason.to_owned()
}

/// `text` with every run of digits (and hex after `0x`) replaced by `N`, to group messages.
fn mask_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            if c == '0' && chars.peek() == Some(&'x') {
                chars.next();
                while chars.peek().is_some_and(char::is_ascii_hexdigit) {
                    chars.next();
                }
            }
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('N');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn underlying_errors_ignore_the_wrapping() {
        let seq = "EVM reported invalid transaction (0xab12): lack of funds (1) for max fee (2)";
        let par = "transaction validation error: lack of funds (1) for max fee (2)";
        assert_eq!(underlying(seq), underlying(par));
        assert_eq!(
            underlying("transaction gas limit 5 is more than blocks available gas 4"),
            underlying("transaction gas limit 5 is more than the block's available gas 4")
        );
        assert_ne!(
            underlying("transaction gas limit 5 is more than blocks available gas 4"),
            underlying(
                "transaction validation error: caller gas limit exceeds the block gas limit"
            )
        );
        assert_eq!(
            mask_numbers("lack of funds (10) for max fee (0x2a) at 7"),
            "lack of funds (N) for max fee (N) at N"
        );
    }
}
