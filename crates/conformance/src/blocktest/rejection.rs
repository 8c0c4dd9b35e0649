//! Why a block is rejected, and which of the fixtures' exception names each reason answers.
//!
//! A block can be rejected at each stage of its import, in a client's order: its RLP, its
//! parent, its header against the parent ([`HeaderRule`]), its body against the header
//! (roots, withdrawals), its ommers ([`OmmerRule`]), its execution (an invalid transaction,
//! a failed block rule) and the execution's results against the header (gas used, logs
//! bloom, receipts root, state root). An `expectException` name is answered by the stage
//! and rule it names ([`expected_kind`]); names the runner does not know are reported as a
//! skip (the kind cannot be judged), never as a pass.

use std::fmt;

use super::{
    header::{HeaderError, HeaderRule},
    ommers::{OmmerError, OmmerRule},
};

/// Why a block was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// The RLP does not decode to a block.
    Rlp(String),
    /// The parent is not a known block.
    UnknownParent(String),
    /// The header breaks a rule against its parent.
    Header(HeaderError),
    /// The body does not match the header: `field` names the header field.
    Body(&'static str, String),
    /// An ommer breaks a rule.
    Ommers(OmmerError),
    /// A transaction is invalid (signature, nonce, balance, gas, fees...).
    Transaction(String),
    /// A block rule failed during execution (system call, reward, withdrawal, request).
    BlockRule(String),
    /// The execution's result differs from the header: `field` names the header field.
    Result(&'static str, String),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rlp(message) => write!(f, "bad RLP: {message}"),
            Self::UnknownParent(message) => write!(f, "unknown parent: {message}"),
            Self::Header(error) => write!(f, "invalid header: {error}"),
            Self::Body(field, message) => write!(f, "invalid body ({field}): {message}"),
            Self::Ommers(error) => write!(f, "invalid ommers: {error}"),
            Self::Transaction(message) => write!(f, "invalid transaction: {message}"),
            Self::BlockRule(message) => write!(f, "block rule failed: {message}"),
            Self::Result(field, message) => write!(f, "{field} mismatch: {message}"),
        }
    }
}

/// The kind of rejection an exception name stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// [`Rejection::Rlp`].
    Rlp,
    /// [`Rejection::UnknownParent`].
    UnknownParent,
    /// This header rule, broken by the block's header or by one of its ommers.
    Header(HeaderRule),
    /// [`Rejection::Body`] on this field.
    Body(&'static str),
    /// [`Rejection::Ommers`] for this rule.
    Ommer(OmmerRule),
    /// [`Rejection::Transaction`].
    Transaction,
    /// [`Rejection::Result`] on this field.
    Result(&'static str),
    /// A withdrawal that does not apply: the withdrawals root or the withdrawal rule.
    Withdrawals,
    /// [`Rejection::BlockRule`].
    BlockRule,
}

impl Kind {
    /// Whether `rejection` is of this kind.
    pub(crate) fn matches(self, rejection: &Rejection) -> bool {
        match (self, rejection) {
            (Self::Rlp, Rejection::Rlp(_))
            | (Self::UnknownParent, Rejection::UnknownParent(_))
            | (Self::Transaction, Rejection::Transaction(_)) => true,
            (Self::Header(rule), Rejection::Header(error)) => error.rule == rule,
            (Self::Header(rule), Rejection::Ommers(error)) => error.rule == OmmerRule::Header(rule),
            (Self::Body(field), Rejection::Body(actual, _))
            | (Self::Result(field), Rejection::Result(actual, _)) => field == *actual,
            (Self::Ommer(rule), Rejection::Ommers(error)) => error.rule == rule,
            (Self::Withdrawals, Rejection::Body(field, _)) => {
                *field == "withdrawalsRoot" || *field == "withdrawals"
            }
            (Self::Withdrawals | Self::BlockRule, Rejection::BlockRule(_)) => true,
            _ => false,
        }
    }
}

/// The kinds of rejection an `expectException` value accepts (alternatives separated by
/// `|`), or `None` when a name is not known.
pub(crate) fn expected_kind(expected: &str) -> Option<Vec<Kind>> {
    let mut kinds = Vec::new();
    for name in expected.split('|').map(str::trim) {
        // The fixtures label two equal ommers `UncleIsBrother` (bcUncleTest/twoEqualUncle):
        // the name stands for a duplicate as well as for a sibling of the block.
        if name == "UncleIsBrother" {
            kinds.extend([
                Kind::Ommer(OmmerRule::Duplicate),
                Kind::Ommer(OmmerRule::Dangling),
            ]);
        } else {
            kinds.push(kind_of(name)?);
        }
    }
    Some(kinds)
}

fn kind_of(name: &str) -> Option<Kind> {
    use HeaderRule as H;
    // execution-spec-tests spell transaction errors `TransactionException.X`.
    if name.starts_with("TR_")
        || name.starts_with("TransactionException.")
        || name == "SenderNotEOAorNoCASH"
    {
        return Some(Kind::Transaction);
    }
    if name.starts_with("RLP_") || name.starts_with("INPUT_UNMARSHAL") {
        return Some(Kind::Rlp);
    }
    let kind = match name {
        "UnknownParent" | "UnknownParent2" => Kind::UnknownParent,
        "InvalidNumber" => Kind::Header(H::Number),
        "InvalidTimestampOlderParent" | "InvalidTimestamp" => Kind::Header(H::Timestamp),
        "ExtraDataTooBig" | "ExtraDataIncorrectDAO" => Kind::Header(H::ExtraData),
        "InvalidGasLimit" | "InvalidGasLimit2" => Kind::Header(H::GasLimit),
        "TooMuchGasUsed" => Kind::Header(H::GasUsed),
        "1559BlockImportImpossible_BaseFeeWrong" => Kind::Header(H::BaseFee),
        "InvalidDifficulty" | "3675PoSBlockRejected" => Kind::Header(H::Difficulty),
        "PostParisUncleHashIsNotEmpty"
        | "PostParisDifficultyIsNot0"
        | "3675PreParis1559BlockRejected" => Kind::Header(H::PostMerge),
        "InvalidTransactionsRoot" => Kind::Body("transactionsRoot"),
        "InvalidUnclesHash" => Kind::Body("sha3Uncles"),
        "InvalidWithdrawals" => Kind::Withdrawals,
        "InvalidGasUsed" => Kind::Result("gasUsed"),
        "InvalidLogBloom" => Kind::Result("logsBloom"),
        "InvalidReceiptsStateRoot" => Kind::Result("receiptsRoot"),
        "InvalidStateRoot" => Kind::Result("stateRoot"),
        "InvalidRequestsHash" => Kind::Result("requestsHash"),
        "TooManyUncles" => Kind::Ommer(OmmerRule::TooMany),
        "UncleInChain" => Kind::Ommer(OmmerRule::Duplicate),
        "UncleIsAncestor" => Kind::Ommer(OmmerRule::IsAncestor),
        "UncleParentIsNotAncestor" | "InvalidUncleParentHash" => Kind::Ommer(OmmerRule::Dangling),
        _ => return block_exception(name),
    };
    Some(kind)
}

/// execution-spec-tests' names for block errors (`BlockException.X`).
fn block_exception(name: &str) -> Option<Kind> {
    use HeaderRule as H;
    let kind = match name.strip_prefix("BlockException.")? {
        "RLP_STRUCTURES_ENCODING" | "RLP_WITHDRAWALS_NOT_READ" | "INCORRECT_BLOCK_FORMAT" => {
            Kind::Rlp
        }
        "UNKNOWN_PARENT" | "UNKNOWN_PARENT_ZERO" => Kind::UnknownParent,
        "INVALID_BLOCK_NUMBER" => Kind::Header(H::Number),
        "INVALID_BLOCK_TIMESTAMP_OLDER_THAN_PARENT" => Kind::Header(H::Timestamp),
        "EXTRA_DATA_TOO_BIG" => Kind::Header(H::ExtraData),
        "INVALID_GASLIMIT" | "GASLIMIT_TOO_BIG" => Kind::Header(H::GasLimit),
        "GAS_USED_OVERFLOW" => Kind::Header(H::GasUsed),
        "INVALID_BASEFEE_PER_GAS" => Kind::Header(H::BaseFee),
        "INCORRECT_EXCESS_BLOB_GAS" | "BLOB_GAS_USED_ABOVE_LIMIT" => Kind::Header(H::BlobGas),
        "INCORRECT_BLOB_GAS_USED" => Kind::Body("blobGasUsed"),
        "INVALID_DIFFICULTY" => Kind::Header(H::Difficulty),
        "IMPORT_IMPOSSIBLE_UNCLES_OVER_PARIS" | "IMPORT_IMPOSSIBLE_DIFFICULTY_OVER_PARIS" => {
            Kind::Header(H::PostMerge)
        }
        "INVALID_TRANSACTIONS_ROOT" => Kind::Body("transactionsRoot"),
        "INVALID_UNCLES_HASH" => Kind::Body("sha3Uncles"),
        "INVALID_WITHDRAWALS_ROOT" => Kind::Withdrawals,
        "INVALID_GAS_USED" => Kind::Result("gasUsed"),
        "INVALID_LOG_BLOOM" => Kind::Result("logsBloom"),
        "INVALID_RECEIPTS_ROOT" => Kind::Result("receiptsRoot"),
        "INVALID_STATE_ROOT" => Kind::Result("stateRoot"),
        "INVALID_REQUESTS" => Kind::Result("requestsHash"),
        "SYSTEM_CONTRACT_EMPTY"
        | "SYSTEM_CONTRACT_CALL_FAILED"
        | "INVALID_DEPOSIT_EVENT_LAYOUT" => Kind::BlockRule,
        _ => return None,
    };
    Some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_kinds() {
        let header = |rule| {
            Rejection::Header(HeaderError {
                rule,
                message: String::new(),
            })
        };
        let kinds = expected_kind("TR_FeeCapLessThanBlocksORNoFunds").unwrap();
        assert!(kinds[0].matches(&Rejection::Transaction("x".into())));
        assert!(!kinds[0].matches(&header(HeaderRule::GasLimit)));
        let kinds = expected_kind("InvalidGasLimit2").unwrap();
        assert!(kinds[0].matches(&header(HeaderRule::GasLimit)));
        let ommer = Rejection::Ommers(OmmerError {
            rule: OmmerRule::Header(HeaderRule::GasLimit),
            message: String::new(),
        });
        assert!(kinds[0].matches(&ommer));
        let kinds = expected_kind("InvalidStateRoot|TR_NoFunds").unwrap();
        assert!(
            kinds
                .iter()
                .any(|k| k.matches(&Rejection::Result("stateRoot", "x".into())))
        );
        assert!(
            !kinds
                .iter()
                .any(|k| k.matches(&Rejection::Result("gasUsed", "x".into())))
        );
        assert_eq!(expected_kind("SomethingNew"), None);
        let kinds = expected_kind("BlockException.INCORRECT_EXCESS_BLOB_GAS").unwrap();
        assert!(kinds[0].matches(&header(HeaderRule::BlobGas)));
    }
}
