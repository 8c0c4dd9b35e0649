//! The vocabulary of state access shared by the parallel engine, the traces and the
//! dependency analysis: memory locations, where a read's value came from, and one
//! transaction's read and write sets.

use alloy_primitives::{Address, U256};

/// Index of a transaction in its block.
pub type TxIdx = usize;

/// How many times a transaction has been (re-)executed before this execution, in Block-STM's
/// words its incarnation number. The first execution is incarnation 0.
pub type Incarnation = u32;

/// A transaction index and the incarnation that wrote a value: Block-STM's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    /// The writing transaction.
    pub tx: TxIdx,
    /// Its incarnation.
    pub incarnation: Incarnation,
}

/// One unit of EVM state a transaction can read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Location {
    /// An account's balance.
    Balance(Address),
    /// An account's nonce.
    Nonce(Address),
    /// An account's code (and code hash).
    Code(Address),
    /// Whether the account exists, and whether it was self-destructed (which also wipes its
    /// storage). Written by creation, self-destruct and EIP-161 empty-account deletion.
    Existence(Address),
    /// One storage slot of a contract.
    Storage(Address, U256),
}

impl Location {
    /// The account the location belongs to.
    pub const fn address(&self) -> Address {
        match self {
            Self::Balance(a) | Self::Nonce(a) | Self::Code(a) | Self::Existence(a) => *a,
            Self::Storage(a, _) => *a,
        }
    }

    /// A short kind name for tables: `balance`, `nonce`, `code`, `existence` or `storage`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Balance(_) => "balance",
            Self::Nonce(_) => "nonce",
            Self::Code(_) => "code",
            Self::Existence(_) => "existence",
            Self::Storage(..) => "storage",
        }
    }
}

/// Where the value a transaction read came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadOrigin {
    /// The block's pre-state (no earlier transaction wrote the location).
    PreState,
    /// The write of an earlier transaction of the block.
    Tx(TxIdx),
}

/// One transaction's accesses, as the dependency analysis sees them.
///
/// `deltas` are the EVM-specific lazy updates: commutative balance increments and
/// decrements (the beneficiary's fee credit, the recipient's and sender's side of a plain
/// value transfer) that do not read the balance they change. A transaction that reads a
/// balance depends on every delta applied to it since its last full write; two deltas to the
/// same balance never depend on each other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxAccess {
    /// Gas used by the transaction (the weight of its node in the dependency DAG).
    pub gas: u64,
    /// Locations read, each once.
    pub reads: Vec<Location>,
    /// Locations fully written (the value does not commute with other writes).
    pub writes: Vec<Location>,
    /// Balances changed by a lazy delta only.
    pub deltas: Vec<Location>,
}
