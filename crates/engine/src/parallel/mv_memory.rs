//! Multi-version memory (Block-STM §3): for every [`Location`], the values written by each
//! transaction index, tagged with the incarnation that wrote them, or an ESTIMATE marker
//! left by an aborted incarnation.
//!
//! A read by transaction `i` returns the entry of the highest index `j < i`; with no such
//! entry it falls through to the block's base state (pre-state plus pre-block system calls).
//! Balances may hold lazy *deltas* (fee credits, plain-transfer credits): a balance read walks
//! down from `i`, summing deltas, until it meets a full value or the base state, so one read
//! can depend on several writers.
//!
//! # Concurrency
//! The map is sharded: a location hashes to one of [`SHARDS`] shards, each a `RwLock` over a
//! map from location to its per-transaction entries. Readers take the shard read lock;
//! writers (recording a write set, marking estimates) take the write lock. A thread holds at
//! most one shard lock at a time and never calls out while holding it, so there is no lock
//! order to respect and no deadlock. Block-STM's correctness does not rest on these locks
//! being fair or ordered, only on each entry update being atomic, which the lock gives.

use std::{
    hash::{BuildHasher, Hash},
    sync::RwLock,
};

use alloy_primitives::{
    B256, U256,
    map::{DefaultHashBuilder, HashMap, HashSet},
};
use revm::bytecode::Bytecode;

use crate::access::{Location, TxIdx, Version};

/// Number of shards of the location map.
pub(crate) const SHARDS: usize = 64;

/// A value one incarnation wrote to one location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MvValue {
    /// A full balance.
    Balance(U256),
    /// A lazy balance credit, commutative with other credits.
    BalanceCredit(U256),
    /// A nonce.
    Nonce(u64),
    /// Code and its hash.
    Code(B256, Bytecode),
    /// Whether the account exists. Every existence write also wipes the account's storage:
    /// a destroyed account has none, a newly created one starts empty.
    Existence(bool),
    /// A storage value.
    Storage(U256),
}

#[derive(Debug, Clone)]
enum Entry {
    Written { incarnation: u32, value: MvValue },
    Estimate,
}

/// Which writes a read observed: what validation compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Observed {
    /// No transaction below the reader wrote the location.
    Base,
    /// One full write.
    Written(Version),
    /// A chain of balance credits, topmost first, ending on a full write or the base.
    Credits {
        credits: Vec<Version>,
        base: Option<Version>,
    },
}

impl Observed {
    /// The transaction the value came from (the topmost writer), if any.
    pub(crate) fn writer(&self) -> Option<TxIdx> {
        match self {
            Self::Base => None,
            Self::Written(v) => Some(v.tx),
            Self::Credits { credits, base } => credits.first().or(base.as_ref()).map(|v| v.tx),
        }
    }
}

/// The outcome of a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Read {
    /// A value and what it was built from. For balances, `value` is the full balance when the
    /// chain ends on a full write; when it ends on the base, `base_credit` is to be added to
    /// the base balance by the caller.
    Found { value: MvValue, observed: Observed },
    /// Only credits, ending on the base state: base balance + `credit`.
    BaseWithCredit { credit: U256, observed: Observed },
    /// Nothing written below the reader: read the base state.
    Base,
    /// The reader must wait for this transaction's re-execution (an ESTIMATE was met).
    Blocked(TxIdx),
}

/// The entries of one location, sorted by transaction index. Most locations are written by
/// one or a few transactions, so a sorted vector (one allocation, binary search) beats a
/// B-tree here.
type Versions = Vec<(TxIdx, Entry)>;

/// The multi-version memory of one block (see the module docs).
pub(crate) struct MvMemory {
    shards: Vec<RwLock<HashMap<Location, Versions>>>,
    hasher: DefaultHashBuilder,
}

impl MvMemory {
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Self::with_capacity(0)
    }

    /// A memory sized for about `locations` written locations, so that recording write sets
    /// does not grow the shards' tables while the workers run.
    pub(crate) fn with_capacity(locations: usize) -> Self {
        // Rounded down: a small block's memory allocates its tables as it writes.
        let per_shard = locations / SHARDS;
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    RwLock::new(HashMap::with_capacity_and_hasher(
                        per_shard,
                        Default::default(),
                    ))
                })
                .collect(),
            hasher: DefaultHashBuilder::default(),
        }
    }

    fn shard(&self, location: &Location) -> &RwLock<HashMap<Location, Versions>> {
        let mut state = self.hasher.build_hasher();
        location.hash(&mut state);
        let h = std::hash::Hasher::finish(&state);
        &self.shards[(h as usize) % SHARDS]
    }

    /// Records incarnation `version`'s write set, replacing the previous incarnation's.
    /// `previous` are the locations the previous incarnation wrote; those not written again
    /// are removed. Returns whether a location outside `previous` was written (Block-STM's
    /// `wrote_new_location`, which forces validation of all higher transactions).
    pub(crate) fn record(
        &self,
        version: Version,
        writes: &[(Location, MvValue)],
        previous: &[Location],
    ) -> bool {
        // Small sets (nearly all) are compared by scanning; large ones through hash sets.
        let small = writes.len().max(previous.len()) <= 32;
        let written: HashSet<Location> = if small {
            HashSet::default()
        } else {
            writes.iter().map(|(l, _)| *l).collect()
        };
        let is_written = |l: &Location| {
            if small {
                writes.iter().any(|(w, _)| w == l)
            } else {
                written.contains(l)
            }
        };
        for (location, value) in writes {
            let mut shard = self
                .shard(location)
                .write()
                .unwrap_or_else(|p| p.into_inner());
            let entry = Entry::Written {
                incarnation: version.incarnation,
                value: value.clone(),
            };
            // Most locations have one writer: room for one entry, not `Vec`'s first four.
            let versions = shard
                .entry(*location)
                .or_insert_with(|| Vec::with_capacity(1));
            match versions.binary_search_by_key(&version.tx, |(tx, _)| *tx) {
                Ok(i) => versions[i].1 = entry,
                Err(i) => versions.insert(i, (version.tx, entry)),
            }
        }
        for location in previous.iter().filter(|l| !is_written(l)) {
            let mut shard = self
                .shard(location)
                .write()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(versions) = shard.get_mut(location)
                && let Ok(i) = versions.binary_search_by_key(&version.tx, |(tx, _)| *tx)
            {
                versions.remove(i);
            }
        }
        if small {
            return writes.iter().any(|(l, _)| !previous.contains(l));
        }
        let previous: HashSet<&Location> = previous.iter().collect();
        written.iter().any(|l| !previous.contains(l))
    }

    /// Replaces `tx`'s entries at `locations` with ESTIMATE markers (after an abort).
    pub(crate) fn mark_estimates(&self, tx: TxIdx, locations: &[Location]) {
        for location in locations {
            let mut shard = self
                .shard(location)
                .write()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(versions) = shard.get_mut(location)
                && let Ok(i) = versions.binary_search_by_key(&tx, |(t, _)| *t)
            {
                versions[i].1 = Entry::Estimate;
            }
        }
    }

    /// Reads `location` as transaction `reader` sees it.
    pub(crate) fn read(&self, location: &Location, reader: TxIdx) -> Read {
        let shard = self
            .shard(location)
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let Some(versions) = shard.get(location) else {
            return Read::Base;
        };
        let mut credits = Vec::new();
        let mut credit_sum = U256::ZERO;
        let below = versions.partition_point(|(tx, _)| *tx < reader);
        for (tx, entry) in versions[..below].iter().rev() {
            let tx = *tx;
            match entry {
                Entry::Estimate => return Read::Blocked(tx),
                Entry::Written { incarnation, value } => {
                    let version = Version {
                        tx,
                        incarnation: *incarnation,
                    };
                    match value {
                        MvValue::BalanceCredit(credit) => {
                            credit_sum = credit_sum.wrapping_add(*credit);
                            credits.push(version);
                        }
                        MvValue::Balance(full) if !credits.is_empty() => {
                            return Read::Found {
                                value: MvValue::Balance(full.wrapping_add(credit_sum)),
                                observed: Observed::Credits {
                                    credits,
                                    base: Some(version),
                                },
                            };
                        }
                        other => {
                            return Read::Found {
                                value: other.clone(),
                                observed: Observed::Written(version),
                            };
                        }
                    }
                }
            }
        }
        if credits.is_empty() {
            Read::Base
        } else {
            Read::BaseWithCredit {
                credit: credit_sum,
                observed: Observed::Credits {
                    credits,
                    base: None,
                },
            }
        }
    }

    /// What a read of `location` by `reader` would observe now, for validation. `None` when
    /// an ESTIMATE is in the way (the read is then invalid).
    pub(crate) fn observe(&self, location: &Location, reader: TxIdx) -> Option<Observed> {
        match self.read(location, reader) {
            Read::Found { observed, .. } | Read::BaseWithCredit { observed, .. } => Some(observed),
            Read::Base => Some(Observed::Base),
            Read::Blocked(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::Address;

    use super::*;

    fn v(tx: TxIdx, incarnation: u32) -> Version {
        Version { tx, incarnation }
    }

    #[test]
    fn reads_latest_write_below_reader() {
        let mv = MvMemory::new();
        let loc = Location::Storage(Address::ZERO, U256::from(1));
        assert_eq!(mv.read(&loc, 5), Read::Base);
        mv.record(v(1, 0), &[(loc, MvValue::Storage(U256::from(10)))], &[]);
        mv.record(v(3, 0), &[(loc, MvValue::Storage(U256::from(30)))], &[]);
        assert_eq!(mv.read(&loc, 1), Read::Base);
        assert_eq!(
            mv.read(&loc, 3),
            Read::Found {
                value: MvValue::Storage(U256::from(10)),
                observed: Observed::Written(v(1, 0))
            }
        );
        assert_eq!(
            mv.read(&loc, 9),
            Read::Found {
                value: MvValue::Storage(U256::from(30)),
                observed: Observed::Written(v(3, 0))
            }
        );
        mv.mark_estimates(3, &[loc]);
        assert_eq!(mv.read(&loc, 9), Read::Blocked(3));
        assert_eq!(mv.observe(&loc, 9), None);
        // The re-execution writes elsewhere: the old entry is removed, the new one is new.
        let other = Location::Nonce(Address::ZERO);
        assert!(mv.record(v(3, 1), &[(other, MvValue::Nonce(1))], &[loc]));
        assert_eq!(mv.observe(&loc, 9), Some(Observed::Written(v(1, 0))));
        // Writing the same location again is not new.
        assert!(!mv.record(v(3, 2), &[(other, MvValue::Nonce(2))], &[other]));
    }

    #[test]
    fn credits_sum_down_to_a_full_write_or_the_base() {
        let mv = MvMemory::new();
        let loc = Location::Balance(Address::ZERO);
        mv.record(
            v(0, 0),
            &[(loc, MvValue::BalanceCredit(U256::from(1)))],
            &[],
        );
        mv.record(
            v(2, 0),
            &[(loc, MvValue::BalanceCredit(U256::from(2)))],
            &[],
        );
        assert_eq!(
            mv.read(&loc, 3),
            Read::BaseWithCredit {
                credit: U256::from(3),
                observed: Observed::Credits {
                    credits: vec![v(2, 0), v(0, 0)],
                    base: None
                }
            }
        );
        mv.record(v(1, 0), &[(loc, MvValue::Balance(U256::from(100)))], &[]);
        assert_eq!(
            mv.read(&loc, 3),
            Read::Found {
                value: MvValue::Balance(U256::from(102)),
                observed: Observed::Credits {
                    credits: vec![v(2, 0)],
                    base: Some(v(1, 0))
                }
            }
        );
    }
}
