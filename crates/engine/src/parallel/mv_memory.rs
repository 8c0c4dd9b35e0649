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
//! # Layout
//! An account's four basic locations (existence, balance, nonce, code) live together under
//! the account's address ([`AccountVersions`]): revm asks for all four at once
//! (`Database::basic`), and [`MvMemory::read_account`] answers with one hash, one lock and
//! one lookup. Storage slots are keyed by address and slot on their own, so that the slots
//! of one hot contract spread over the shards. Each key is hashed once per access, and the
//! hash picks both the shard and the bucket in it. Validation checks an account's fields
//! under one lock too ([`MvMemory::account_unchanged`], for a read set's account entry, see
//! `read_set.rs`).
//!
//! Every write of every transaction but the beneficiary's fee credits (below) is an
//! [`Entry`] here, so entries are kept to 48 bytes: the transaction index in 32 bits, an
//! ESTIMATE as a missing value, and a code write as
//! its hash only (the code is in the block's `vm::NewCodes`). A location's entries are a
//! run of its shard's arena (`mv_arena.rs`), not a vector of their own: a 1-Ggas block's
//! memory is then freed a chunk at a time rather than a location at a time.
//!
//! # The beneficiary's fee credits
//! Every transaction credits the block's beneficiary its fee, so its balance would be the
//! one location every incarnation records into, and its shard's lock, entry count and last
//! entry would move between the workers' cores at every transaction. With
//! [`MvMemory::with_beneficiary`] (as `block_stm.rs` builds it) a credit to the
//! beneficiary's balance goes to its transaction's cell instead (`fee_cells.rs`), which
//! only that transaction's worker writes; the beneficiary's full balance writes stay here.
//! A read of its balance, and the validation of one, walk its entries here merged with the
//! cells above the last full write below the reader (`MvMemory::walk`): the walk
//! every other location's reads make over its entries alone, so the two answer alike (a
//! property test runs the same steps against a memory without cells).
//!
//! # Concurrency
//! The tables are sharded: a key hashes to one of [`SHARDS`] shards, each a `RwLock` over
//! its accounts and its slots (one shard when one worker runs the block: nothing contends,
//! and building and freeing 64 shards is a tenth of a one-transaction block's replay).
//! Readers take the shard read lock; writers (recording a write set, marking estimates)
//! take the write lock. A thread holds at most one shard lock at a time and never calls out
//! while holding it, so there is no lock order to respect and no deadlock. Block-STM's correctness does not rest on these locks being fair or ordered,
//! only on each entry update being atomic, which the lock gives.
//!
//! # The written-key filter
//! Most reads are of keys no transaction of the block writes (a sender's account before its
//! first transaction, a recipient, a contract's untouched slots), and a shard lock taken by
//! both workers moves its cache line between their cores even for a read lock. A bitmap
//! ([`KeyFilter`], one bit per key hash, never cleared) says which keys *may* have entries:
//! a key's bit is set before its entries are first created, under no lock, and a reader
//! whose key's bit is clear answers "nothing written below" without taking the lock.
//!
//! An account has a second bit, for its fields other than the balance (existence, nonce,
//! code): the recipient of plain transfers is credited by each of them, so its key's bit is
//! set, but a transfer reads only its existence, nonce and code, which no transaction
//! writes. Such a read, and its validation, check the second bit and answer "nothing
//! written below" without the lock of the recipient's shard, which its credits' writes
//! hold at every transaction.
//!
//! That answer is a read of the memory at the moment the bit was loaded: the writer had not
//! set the bit yet, so it had not created the entries either (it sets the bit first, with
//! `Release`; the reader loads it with `Acquire`). Block-STM needs no more of a read than to
//! be some state of the memory: a write recorded after it is the write that validation
//! finds. And validation does find it: an incarnation's record happens before its
//! `finish_execution` (the scheduler's `SeqCst` operations), which happens before any
//! validation that this finish makes necessary, so that validation's load sees the bit set
//! and takes the lock. A bit set by an entry since removed only costs the lock, as before.

use std::{
    hash::{BuildHasher, Hash},
    sync::{
        RwLock,
        atomic::{
            AtomicU64,
            Ordering::{Acquire, Release},
        },
    },
};

use alloy_primitives::{Address, B256, U256, map::DefaultHashBuilder};
use hashbrown::HashTable;

use super::{
    fee_cells::{FeeCells, FeeEntry},
    mv_arena::{Arena, Span},
    read_set::{AccountReads, BALANCE, CODE, EXISTENCE, NONCE, account_field},
    threads::Line,
    write_log::WriteLog,
};
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
    /// Code, by its hash: the code itself is in the block's `vm::NewCodes` (the empty code
    /// for `KECCAK_EMPTY`).
    Code(B256),
    /// Whether the account exists. Every existence write also wipes the account's storage:
    /// a destroyed account has none, a newly created one starts empty.
    Existence(bool),
    /// A storage value.
    Storage(U256),
}

/// One transaction's entry at one location: 48 bytes (a block has one for every write of
/// every transaction), the transaction index packed as in [`PackedVersion`]. The default
/// entry fills the arena's free slots (`mv_arena.rs`).
#[derive(Debug, Clone, Default)]
struct Entry {
    /// The writing incarnation.
    version: PackedVersion,
    /// The value written; `None` is an ESTIMATE marker (the incarnation was aborted).
    value: Option<MvValue>,
}

impl Entry {
    fn tx(&self) -> TxIdx {
        self.version.tx()
    }
}

/// Which writes a read observed: what validation compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Observed {
    /// No transaction below the reader wrote the location.
    Base,
    /// One full write.
    Written(PackedVersion),
    /// A chain of balance credits (rare: boxed, so that every read set entry stays small).
    Credits(Box<CreditChain>),
}

/// A [`Version`] in eight bytes, as every read set entry holds one: an observation is then
/// sixteen bytes, not twenty-four. A transaction index fits in 32 bits because Block-STM
/// refuses a block of more than `replay::MAX_TXS` transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PackedVersion {
    tx: u32,
    incarnation: u32,
}

impl PackedVersion {
    /// The writing transaction.
    fn tx(self) -> TxIdx {
        self.tx as TxIdx
    }

    fn unpack(self) -> Version {
        Version {
            tx: self.tx(),
            incarnation: self.incarnation,
        }
    }
}

impl From<Version> for PackedVersion {
    fn from(version: Version) -> Self {
        Self {
            // At most `replay::MAX_TXS` (see above): never truncated.
            tx: version.tx as u32,
            incarnation: version.incarnation,
        }
    }
}

/// Balance credits a read added up, topmost first, ending on a full write or the base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CreditChain {
    pub(crate) credits: Vec<Version>,
    pub(crate) base: Option<Version>,
}

impl Observed {
    /// The transaction the value came from (the topmost writer), if any.
    pub(crate) fn writer(&self) -> Option<TxIdx> {
        match self {
            Self::Base => None,
            Self::Written(v) => Some(v.tx()),
            Self::Credits(chain) => chain.credits.first().or(chain.base.as_ref()).map(|v| v.tx),
        }
    }

    /// The observation of one full write, `version`'s.
    #[cfg(test)]
    pub(crate) fn written(version: Version) -> Self {
        Self::Written(version.into())
    }

    /// The observation of a chain of `credits` (topmost first) ending on `base`.
    pub(crate) fn credits(credits: Vec<Version>, base: Option<Version>) -> Self {
        Self::Credits(Box::new(CreditChain { credits, base }))
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

/// The entries of one location, sorted by transaction index, in its shard's arena
/// (`mv_arena.rs`). Most locations are written by one or a few transactions, so a sorted
/// run (binary search) beats a B-tree here.
type Versions = Span;

/// The entries of an account's four basic locations, in `read_set::ACCOUNT_FIELDS` order
/// (balance, nonce, code, existence).
type AccountVersions = [Span; 4];

/// The field index of account location `location` (`None` for a storage slot).
fn field(location: &Location) -> Option<usize> {
    account_field(location).map(|(_, field)| field)
}

/// What a transaction reads of an account's four basic locations, read together; the
/// balance only when asked for (see [`MvMemory::read_account`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccountRead {
    pub(crate) existence: Read,
    pub(crate) balance: Option<Read>,
    pub(crate) nonce: Read,
    pub(crate) code: Read,
}

/// One shard: the accounts and the storage slots whose keys hash to it, and their entries.
#[derive(Default)]
struct Shard {
    accounts: HashTable<(Address, AccountVersions)>,
    storage: HashTable<((Address, U256), Versions)>,
    entries: Arena<Entry>,
}

/// The multi-version memory of one block (see the module docs).
pub(crate) struct MvMemory {
    /// Each shard's lock on its own line: the workers lock different shards concurrently.
    shards: Vec<Line<RwLock<Shard>>>,
    /// Which keys may have entries (see "The written-key filter").
    written: KeyFilter,
    hasher: DefaultHashBuilder,
    /// The locations each recorded or aborted incarnation wrote, for the incarnations still
    /// running beside it (`write_log.rs`); disabled on one worker.
    log: WriteLog,
    /// The block's beneficiary, whose balance credits are in `fees` rather than among the
    /// shared entries (see "The beneficiary's fee credits"); none in a memory built without
    /// one.
    beneficiary: Option<Address>,
    /// The beneficiary's balance credits, one cell per transaction (`fee_cells.rs`).
    fees: FeeCells,
}

/// One bit per key hash: set for every key whose entries were ever created, so a clear bit
/// means the key has no entry (see the module docs for why a read may trust it).
struct KeyFilter {
    words: Box<[AtomicU64]>,
    /// Bit count minus one (a power of two minus one).
    mask: u64,
}

impl KeyFilter {
    /// Room for `keys` keys at 16 bits each (a few percent of false "may have entries").
    fn with_keys(keys: usize) -> Self {
        let bits = keys.saturating_mul(16).next_power_of_two().max(4096);
        Self {
            words: (0..bits / 64).map(|_| AtomicU64::new(0)).collect(),
            mask: bits as u64 - 1,
        }
    }

    /// The word and bit of a key hashed to `hash`: high bits, which the shard choice and the
    /// tables' buckets do not use.
    fn position(&self, hash: u64) -> (&AtomicU64, u64) {
        let bit = hash.rotate_right(38) & self.mask;
        (&self.words[(bit >> 6) as usize], 1 << (bit & 63))
    }

    /// Whether the key hashed to `hash` may have entries.
    fn may_hold(&self, hash: u64) -> bool {
        let (word, bit) = self.position(hash);
        word.load(Acquire) & bit != 0
    }

    /// Marks the key hashed to `hash` as having entries, before they are created. A set bit
    /// is not written again, so that the line stays shared between the cores that read it.
    fn insert(&self, hash: u64) {
        let (word, bit) = self.position(hash);
        if word.load(Acquire) & bit == 0 {
            word.fetch_or(bit, Release);
        }
    }
}

impl MvMemory {
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Self::with_capacity(0, 0, SHARDS)
    }

    /// A memory sized for about `locations` written locations, of about `accounts`
    /// accounts, so that recording write sets rarely grows the shards' tables while the
    /// workers run; with [`SHARDS`] shards for more than one worker, one for one.
    pub(crate) fn with_capacity(locations: usize, accounts: usize, workers: usize) -> Self {
        let shards = if workers > 1 { SHARDS } else { 1 };
        // Rounded down: a small block's memory allocates its tables as it writes. Storage
        // is sized as it comes.
        let accounts = accounts / shards;
        Self {
            written: KeyFilter::with_keys(locations),
            shards: (0..shards)
                .map(|_| {
                    Line(RwLock::new(Shard {
                        accounts: HashTable::with_capacity(accounts),
                        ..Shard::default()
                    }))
                })
                .collect(),
            hasher: DefaultHashBuilder::default(),
            log: WriteLog::default(),
            beneficiary: None,
            fees: FeeCells::default(),
        }
    }

    /// This memory with the balance credits to `beneficiary` (every transaction's fee) in
    /// cells of their own, one for each of the block's `txs` transactions (see "The
    /// beneficiary's fee credits").
    pub(crate) fn with_beneficiary(mut self, beneficiary: Address, txs: usize) -> Self {
        self.beneficiary = Some(beneficiary);
        self.fees = FeeCells::new(txs);
        self
    }

    /// Whether `location` is the beneficiary's balance, whose credits are in the cells.
    fn is_beneficiary_balance(&self, location: &Location) -> bool {
        matches!(location, Location::Balance(a) if Some(*a) == self.beneficiary)
    }

    /// The credit `value` at `location` if it goes to a cell: a credit to the beneficiary's
    /// balance that fits one.
    fn cell_credit<'v>(&self, location: &Location, value: &'v MvValue) -> Option<&'v U256> {
        match value {
            MvValue::BalanceCredit(fee)
                if self.is_beneficiary_balance(location) && FeeCells::fits(fee) =>
            {
                Some(fee)
            }
            _ => None,
        }
    }

    /// This memory with its write log enabled: for a run on more than one worker, where an
    /// incarnation may run beside a lower transaction's (`write_log.rs`).
    pub(crate) fn with_write_log(mut self) -> Self {
        self.log = WriteLog::new(true);
        self
    }

    /// The write log of the incarnations recorded and aborted so far.
    pub(crate) fn log(&self) -> &WriteLog {
        &self.log
    }

    fn hash<K: Hash>(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The shard of a key hashed to `hash`: bits the tables use neither for the bucket (the
    /// low bits) nor for the control byte (the top seven).
    fn shard(&self, hash: u64) -> &RwLock<Shard> {
        // The shard count is a power of two (`SHARDS` or one).
        &self.shards[((hash >> 32) as usize) & (self.shards.len() - 1)]
    }

    /// Calls `f` with account `address`'s entries, its four fields' in
    /// `read_set::ACCOUNT_FIELDS` order, `None` if no transaction wrote any of its basic
    /// locations, under the shard's read lock.
    /// Without `balance` (the caller reads none of the balance's entries), an account
    /// whose other fields were never written is read without its lock.
    fn with_account<R>(
        &self,
        address: Address,
        balance: bool,
        f: impl FnOnce(Option<[&[Entry]; 4]>) -> R,
    ) -> R {
        let hash = self.hash(&address);
        if !self.written.may_hold(hash) || (!balance && !self.written.may_hold(fields_key(hash))) {
            return f(None);
        }
        let shard = self.shard(hash).read().unwrap_or_else(|p| p.into_inner());
        f(shard
            .accounts
            .find(hash, |(a, _)| *a == address)
            .map(|(_, account)| account.map(|span| shard.entries.get(span))))
    }

    /// Calls `f` with the entries of `location` that a read by `reader` walks (none when
    /// no transaction wrote it; see [`MvMemory::walk`]).
    fn with_versions<R>(
        &self,
        location: &Location,
        reader: TxIdx,
        f: impl FnOnce(&[Entry]) -> R,
    ) -> R {
        match location {
            Location::Storage(address, slot) => {
                let key = (*address, *slot);
                let hash = self.hash(&key);
                if !self.written.may_hold(hash) {
                    return f(&[]);
                }
                let shard = self.shard(hash).read().unwrap_or_else(|p| p.into_inner());
                let versions = shard
                    .storage
                    .find(hash, |(k, _)| *k == key)
                    .map_or(&[][..], |(_, versions)| shard.entries.get(*versions));
                f(versions)
            }
            account_location => {
                let Some(field) = field(account_location) else {
                    return f(&[]);
                };
                let address = account_location.address();
                self.with_account(address, field == BALANCE, |account| {
                    let versions = account.map_or(&[][..], |a| a[field]);
                    self.walk(address, field, versions, reader, f)
                })
            }
        }
    }

    /// Calls `f` with `location`'s entries and their arena under the shard's write lock,
    /// creating them (empty) first when `create` is set; `None` when they do not exist and
    /// are not created.
    fn with_versions_mut<R>(
        &self,
        location: &Location,
        create: bool,
        f: impl FnOnce(&mut Versions, &mut Arena<Entry>) -> R,
    ) -> Option<R> {
        match location {
            Location::Storage(address, slot) => {
                let key = (*address, *slot);
                let hash = self.hash(&key);
                if create {
                    self.written.insert(hash);
                }
                let mut shard = self.shard(hash).write().unwrap_or_else(|p| p.into_inner());
                let Shard {
                    storage, entries, ..
                } = &mut *shard;
                let rehash = |k: &(Address, U256)| self.hash(k);
                entry_mut(storage, hash, key, rehash, create).map(|versions| f(versions, entries))
            }
            account_location => {
                let field = field(account_location)?;
                let fields = create && field != BALANCE;
                self.with_account_mut(
                    account_location.address(),
                    create,
                    fields,
                    |account, entries| f(&mut account[field], entries),
                )
            }
        }
    }

    /// Calls `f` with account `address`'s entries and their arena under the shard's write
    /// lock, creating them (empty) first if `create`; `None` if they do not exist and
    /// `create` is false. `fields`: `f` creates entries of a field other than the balance
    /// (see "The written-key filter").
    fn with_account_mut<R>(
        &self,
        address: Address,
        create: bool,
        fields: bool,
        f: impl FnOnce(&mut AccountVersions, &mut Arena<Entry>) -> R,
    ) -> Option<R> {
        let hash = self.hash(&address);
        if create {
            self.written.insert(hash);
        }
        if fields {
            self.written.insert(fields_key(hash));
        }
        let mut shard = self.shard(hash).write().unwrap_or_else(|p| p.into_inner());
        let Shard {
            accounts, entries, ..
        } = &mut *shard;
        let rehash = |a: &Address| self.hash(a);
        entry_mut(accounts, hash, address, rehash, create).map(|account| f(account, entries))
    }

    /// Records incarnation `version`'s write set, replacing the previous incarnation's.
    /// `previous` is the previous incarnation's write set; its locations not written again
    /// are removed. Returns whether a location outside `previous` was written (Block-STM's
    /// `wrote_new_location`, which forces validation of all higher transactions).
    ///
    /// No set of either write set is built: by invariant 1 (`executor.rs`), the transaction
    /// has an entry at a location exactly when the location is in `previous`, so a write
    /// that finds none of its entries is new, and after the writes an entry of an older
    /// incarnation marks a location of `previous` not written again.
    pub(crate) fn record(
        &self,
        version: Version,
        writes: &[(Location, MvValue)],
        previous: &[(Location, MvValue)],
    ) -> bool {
        let entry = |value: &MvValue| Entry {
            version: version.into(),
            value: Some(value.clone()),
        };
        let mut new = false;
        // An account's basic locations come together in a write set (`vm.rs`): each such run
        // is recorded under one lock and one lookup.
        let mut rest = writes;
        while let Some((location, value)) = rest.first() {
            if let Location::Storage(..) = location {
                self.with_versions_mut(location, true, |versions, entries| {
                    new |= !put(entries, versions, entry(value));
                });
                rest = &rest[1..];
                continue;
            }
            let address = location.address();
            let run = rest
                .iter()
                .take_while(|(l, _)| !matches!(l, Location::Storage(..)) && l.address() == address)
                .count();
            // The beneficiary's fee credit goes to its transaction's cell, and the account's
            // other writes, if any, to the shared entries.
            let mut shared = true;
            if Some(address) == self.beneficiary {
                shared = false;
                for (location, value) in &rest[..run] {
                    match self.cell_credit(location, value) {
                        Some(fee) => new |= !self.fees.put(version.tx, version.incarnation, *fee),
                        None => shared = true,
                    }
                }
            }
            if shared {
                // Whether the account's fields other than the balance get entries.
                let fields = rest[..run]
                    .iter()
                    .any(|(location, _)| field(location).is_some_and(|field| field != BALANCE));
                self.with_account_mut(address, true, fields, |account, entries| {
                    for (location, value) in &rest[..run] {
                        if let Some(field) = field(location)
                            && self.cell_credit(location, value).is_none()
                        {
                            new |= !put(entries, &mut account[field], entry(value));
                        }
                    }
                });
            }
            rest = &rest[run..];
        }
        for (location, value) in previous {
            // The previous incarnation's credit to the beneficiary is in its cell.
            if self.cell_credit(location, value).is_some() {
                self.fees.remove_older(version.tx, version.incarnation);
                continue;
            }
            self.with_versions_mut(location, false, |versions, entries| {
                let run = entries.get(*versions);
                if let Ok(i) = run.binary_search_by_key(&version.tx, Entry::tx)
                    && run[i].version.unpack().incarnation != version.incarnation
                {
                    entries.remove(versions, i);
                }
            });
        }
        // After the entries: a reader that sees these log entries reads the writes.
        self.log.publish(
            version.tx,
            writes.iter().chain(previous).map(|(location, _)| location),
        );
        new
    }

    /// Replaces `tx`'s entries at the locations of its write set `writes` with ESTIMATE
    /// markers (after an abort).
    pub(crate) fn mark_estimates(&self, tx: TxIdx, writes: &[(Location, MvValue)]) {
        for (location, value) in writes {
            if self.cell_credit(location, value).is_some() {
                self.fees.mark_estimate(tx);
                continue;
            }
            self.with_versions_mut(location, false, |versions, entries| {
                let run = entries.get_mut(*versions);
                if let Ok(i) = run.binary_search_by_key(&tx, Entry::tx) {
                    run[i].value = None;
                }
            });
        }
        self.log
            .publish(tx, writes.iter().map(|(location, _)| location));
    }

    /// Reads `location` as transaction `reader` sees it.
    pub(crate) fn read(&self, location: &Location, reader: TxIdx) -> Read {
        self.with_versions(location, reader, |versions| read_versions(versions, reader))
    }

    /// Reads account `address`'s basic locations as transaction `reader` sees them, under
    /// one lock: what revm's `basic` asks for. The balance is read only with `balance`: a
    /// balance read walks down every credit below the reader, and the recipient of plain
    /// transfers (credited by each of them) is read without its balance.
    pub(crate) fn read_account(
        &self,
        address: Address,
        reader: TxIdx,
        balance: bool,
    ) -> AccountRead {
        self.with_account(address, balance, |account| {
            let read = |field: usize| {
                let versions = account.map_or(&[][..], |a| a[field]);
                self.walk(address, field, versions, reader, |versions| {
                    read_versions(versions, reader)
                })
            };
            AccountRead {
                existence: read(EXISTENCE),
                balance: balance.then(|| read(BALANCE)),
                nonce: read(NONCE),
                code: read(CODE),
            }
        })
    }

    /// What a read of `location` by `reader` would observe now. `None` when an ESTIMATE is
    /// in the way. Validation asks [`MvMemory::still_observes`] instead, which builds
    /// nothing; tests compare with this.
    #[cfg(test)]
    pub(crate) fn observe(&self, location: &Location, reader: TxIdx) -> Option<Observed> {
        observed(self.read(location, reader))
    }

    /// Validation of one location: whether a read of `location` by `reader` would observe
    /// now what `then` says it observed. The same answer as comparing `MvMemory::observe`
    /// (test-only) with `then`, without building the observation (no value cloned, no
    /// credit chain allocated).
    pub(crate) fn still_observes(
        &self,
        location: &Location,
        reader: TxIdx,
        then: &Observed,
    ) -> bool {
        self.with_versions(location, reader, |versions| {
            observes(versions, reader, then)
        })
    }

    /// Validation of an account's basic fields: whether `reader`'s reads of account
    /// `reads.address` would observe now what they observed, all under one lock.
    pub(crate) fn account_unchanged(&self, reads: &AccountReads, reader: TxIdx) -> bool {
        let address = reads.address;
        self.with_account(address, reads.fields[BALANCE].is_some(), |now| {
            reads.fields.iter().enumerate().all(|(field, then)| {
                then.as_ref().is_none_or(|then| {
                    let versions = now.map_or(&[][..], |a| a[field]);
                    self.walk(address, field, versions, reader, |versions| {
                        observes(versions, reader, then)
                    })
                })
            })
        })
    }

    /// Calls `f` with the entries a read of account `address`'s field `field` by `reader`
    /// walks, lowest first, from `versions`, the field's shared entries. For every location
    /// but the beneficiary's balance they are `versions`. For the beneficiary's balance
    /// (see "The beneficiary's fee credits"), of `versions` (full writes, and any credit too
    /// large for a cell) those from the highest below `reader` that is not a credit (where
    /// every walk stops), merged with the cells above it: a walk of them is the walk of the
    /// location's entries had every credit been among them. Without a cell's entry above
    /// that write (a block whose beneficiary sends its transactions: each writes its
    /// balance), `f` gets the shared entries as they are.
    fn walk<R>(
        &self,
        address: Address,
        field: usize,
        versions: &[Entry],
        reader: TxIdx,
        f: impl FnOnce(&[Entry]) -> R,
    ) -> R {
        if field != BALANCE || Some(address) != self.beneficiary {
            return f(versions);
        }
        let below = versions.partition_point(|entry| entry.tx() < reader);
        let stop = versions[..below]
            .iter()
            .rposition(|entry| !matches!(entry.value, Some(MvValue::BalanceCredit(_))));
        let shared = &versions[stop.unwrap_or(0)..below];
        let floor = stop.map_or(0, |i| versions[i].tx() + 1);
        let mut cells = self
            .fees
            .entries(floor, reader)
            .map(|(tx, FeeEntry { incarnation, fee })| Entry {
                version: Version { tx, incarnation }.into(),
                value: fee.map(MvValue::BalanceCredit),
            })
            .peekable();
        if cells.peek().is_none() {
            return f(shared);
        }
        let mut merged = Vec::with_capacity(shared.len() + reader.saturating_sub(floor));
        for entry in shared {
            while let Some(cell) = cells.next_if(|cell| cell.tx() < entry.tx()) {
                merged.push(cell);
            }
            merged.push(entry.clone());
        }
        merged.extend(cells);
        f(&merged)
    }
}

/// The filter key of account `hash`'s fields other than its balance (see "The written-key
/// filter"): another bit than the account's own, from the same hash.
fn fields_key(hash: u64) -> u64 {
    hash ^ 0x9e37_79b9_7f4a_7c15
}

/// What `read` observed; `None` when it met an ESTIMATE.
#[cfg(test)]
fn observed(read: Read) -> Option<Observed> {
    match read {
        Read::Found { observed, .. } | Read::BaseWithCredit { observed, .. } => Some(observed),
        Read::Base => Some(Observed::Base),
        Read::Blocked(_) => None,
    }
}

/// Whether a read of one location's entries `versions` by `reader` observes `then`: the walk
/// of [`read_versions`], matched against `then` as it goes.
fn observes(versions: &[Entry], reader: TxIdx, then: &Observed) -> bool {
    let below = versions.partition_point(|entry| entry.tx() < reader);
    let mut entries = versions[..below].iter().rev();
    let is_credit = |entry: &Entry| matches!(entry.value, Some(MvValue::BalanceCredit(_)));
    // The top entry, or the first below a run of credits, is a full write of `version`.
    let full_write = |entry: Option<&Entry>, version: PackedVersion| {
        entry.is_some_and(|e| e.value.is_some() && !is_credit(e) && e.version == version)
    };
    match then {
        Observed::Base => entries.next().is_none(),
        Observed::Written(version) => full_write(entries.next(), *version),
        Observed::Credits(chain) => {
            // A chain holds at least one credit: with none, the read was `Base` or
            // `Written`.
            if chain.credits.is_empty() {
                return false;
            }
            for credit in &chain.credits {
                match entries.next() {
                    Some(entry) if is_credit(entry) && entry.version.unpack() == *credit => {}
                    _ => return false,
                }
            }
            let next = entries.next();
            match chain.base {
                Some(base) => {
                    // Only a full balance below credits ends a chain (another kind of value
                    // there is a broken invariant, which `read_versions` reports as a
                    // single write).
                    matches!(
                        next.and_then(|e| e.value.as_ref()),
                        Some(MvValue::Balance(_))
                    ) && full_write(next, base.into())
                }
                None => next.is_none(),
            }
        }
    }
}

/// The value of `key` (hashed to `hash`) in `table`; with `create`, a default one inserted
/// first when it is absent (`rehash` hashes the keys the table moves when it grows).
fn entry_mut<K: Copy + Eq, V: Default>(
    table: &mut HashTable<(K, V)>,
    hash: u64,
    key: K,
    rehash: impl Fn(&K) -> u64,
    create: bool,
) -> Option<&mut V> {
    if !create {
        return table.find_mut(hash, |(k, _)| *k == key).map(|(_, v)| v);
    }
    Some(entry_or_default(table, hash, key, rehash))
}

/// The value of `key` (hashed to `hash`) in `table`, inserted as the default first if absent.
fn entry_or_default<K: Copy + Eq, V: Default>(
    table: &mut HashTable<(K, V)>,
    hash: u64,
    key: K,
    rehash: impl Fn(&K) -> u64,
) -> &mut V {
    let entry = table.entry(hash, |(k, _)| *k == key, |(k, _)| rehash(k));
    &mut entry.or_insert_with(|| (key, V::default())).into_mut().1
}

/// Puts `entry` into one location's entries, replacing an older incarnation's; returns
/// whether there was one (an entry of the same transaction: a value or an ESTIMATE).
fn put(entries: &mut Arena<Entry>, versions: &mut Versions, entry: Entry) -> bool {
    // Transactions mostly record in order: the beneficiary's credits, thousands of entries,
    // are appended without a search through them.
    let tx = entry.tx();
    let run = entries.get_mut(*versions);
    if run.last().is_none_or(|last| last.tx() < tx) {
        let len = run.len();
        entries.insert(versions, len, entry);
        return false;
    }
    match run.binary_search_by_key(&tx, Entry::tx) {
        Ok(i) => {
            run[i] = entry;
            true
        }
        Err(i) => {
            entries.insert(versions, i, entry);
            false
        }
    }
}

/// What transaction `reader` reads from one location's entries `versions`.
fn read_versions(versions: &[Entry], reader: TxIdx) -> Read {
    let mut credits = Vec::new();
    let mut credit_sum = U256::ZERO;
    let below = versions.partition_point(|entry| entry.tx() < reader);
    for entry in versions[..below].iter().rev() {
        let tx = entry.tx();
        match &entry.value {
            None => return Read::Blocked(tx),
            Some(value) => {
                let version = entry.version.unpack();
                match value {
                    MvValue::BalanceCredit(credit) => {
                        credit_sum = credit_sum.wrapping_add(*credit);
                        credits.push(version);
                    }
                    MvValue::Balance(full) if !credits.is_empty() => {
                        return Read::Found {
                            value: MvValue::Balance(full.wrapping_add(credit_sum)),
                            observed: Observed::credits(credits, Some(version)),
                        };
                    }
                    other => {
                        return Read::Found {
                            value: other.clone(),
                            observed: Observed::Written(entry.version),
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
            observed: Observed::credits(credits, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::Address;
    use proptest::prelude::*;

    use super::*;

    fn v(tx: TxIdx, incarnation: u32) -> Version {
        Version { tx, incarnation }
    }

    /// What one step of [`the_beneficiarys_cells_read_as_shared_entries_would`] does to a
    /// transaction: record a new incarnation writing one of a few write sets, or abort it.
    #[derive(Debug, Clone)]
    enum Step {
        Record { tx: TxIdx, writes: u8, amount: u64 },
        Abort { tx: TxIdx },
    }

    /// Write set `kind` of a transaction: the beneficiary's fee alone, a full write of its
    /// balance (a transaction that pays it a value, or that it sends), a credit too large
    /// for a cell, the fee beside another account's credit, nothing of the beneficiary.
    fn beneficiary_writes(b: Address, kind: u8, amount: u64) -> Vec<(Location, MvValue)> {
        let other = Address::repeat_byte(0x0b);
        let amount = U256::from(amount);
        match kind % 5 {
            0 => vec![(Location::Balance(b), MvValue::BalanceCredit(amount))],
            1 => vec![
                (Location::Balance(b), MvValue::Balance(amount)),
                (Location::Nonce(b), MvValue::Nonce(amount.to())),
            ],
            2 => vec![(
                Location::Balance(b),
                MvValue::BalanceCredit(amount + (U256::from(1) << 200)),
            )],
            3 => vec![
                (Location::Balance(other), MvValue::BalanceCredit(amount)),
                (
                    Location::Balance(b),
                    MvValue::BalanceCredit(amount + U256::from(1)),
                ),
            ],
            _ => vec![(Location::Nonce(other), MvValue::Nonce(amount.to()))],
        }
    }

    proptest! {
        /// The beneficiary's credits in their cells (`fee_cells.rs`) against the same steps
        /// with every credit among the shared entries: every read of the beneficiary's
        /// balance and account, and every validation of what any step's reads observed,
        /// answers alike; a write set's new locations are reported at least as often.
        #[test]
        fn the_beneficiarys_cells_read_as_shared_entries_would(
            steps in proptest::collection::vec(
                prop_oneof![
                    3 => (0..10usize, 0..5u8, 1..1_000u64)
                        .prop_map(|(tx, writes, amount)| Step::Record { tx, writes, amount }),
                    1 => (0..10usize).prop_map(|tx| Step::Abort { tx }),
                ],
                1..60,
            )
        ) {
            let b = Address::repeat_byte(0xbe);
            let txs = 10;
            let shared = MvMemory::with_capacity(0, 0, 2);
            let cells = MvMemory::with_capacity(0, 0, 2).with_beneficiary(b, txs);
            // Each transaction's last recorded write set and incarnation, as its slot holds.
            type Slot = (Vec<(Location, MvValue)>, Option<u32>);
            let mut slots: Vec<Slot> = vec![(Vec::new(), None); txs];
            let mut seen = vec![Observed::Base];
            for step in steps {
                match step {
                    Step::Record { tx, writes, amount } => {
                        let incarnation = slots[tx].1.map_or(0, |i| i + 1);
                        let writes = beneficiary_writes(b, writes, amount);
                        let previous = std::mem::take(&mut slots[tx].0);
                        let new_shared = shared.record(v(tx, incarnation), &writes, &previous);
                        let new_cells = cells.record(v(tx, incarnation), &writes, &previous);
                        prop_assert!(new_cells || !new_shared);
                        slots[tx] = (writes, Some(incarnation));
                    }
                    Step::Abort { tx } => {
                        shared.mark_estimates(tx, &slots[tx].0);
                        cells.mark_estimates(tx, &slots[tx].0);
                    }
                }
                let balance = Location::Balance(b);
                for reader in 0..=txs {
                    let read = shared.read(&balance, reader);
                    prop_assert_eq!(&cells.read(&balance, reader), &read);
                    for with_balance in [false, true] {
                        prop_assert_eq!(
                            cells.read_account(b, reader, with_balance),
                            shared.read_account(b, reader, with_balance)
                        );
                    }
                    if let Some(observed) = observed(read)
                        && !seen.contains(&observed)
                    {
                        seen.push(observed);
                    }
                    for then in &seen {
                        let still = shared.still_observes(&balance, reader, then);
                        prop_assert_eq!(cells.still_observes(&balance, reader, then), still);
                        let reads = AccountReads {
                            address: b,
                            fields: std::array::from_fn(|f| (f == BALANCE).then(|| then.clone())),
                        };
                        prop_assert_eq!(
                            cells.account_unchanged(&reads, reader),
                            shared.account_unchanged(&reads, reader)
                        );
                    }
                }
            }
        }
    }

    /// The sizes `Entry`'s docs count on (one entry per write, and a write set entry holds
    /// a value too): growing one is a decision for the bench's peak-heap target.
    #[test]
    fn entries_stay_small() {
        assert_eq!(std::mem::size_of::<Entry>(), 48);
        assert_eq!(std::mem::size_of::<MvValue>(), 40);
    }

    /// Validation's comparison (`observes`) answers as building the observation and
    /// comparing it would, on entry lists of full balances, credits and ESTIMATEs, for every
    /// reader and every observation any reader of them makes (and `Base`).
    #[test]
    fn validation_compares_as_the_observation_would() {
        let full = |tx: u32, n: u64| Entry {
            version: v(tx as TxIdx, 1).into(),
            value: Some(MvValue::Balance(U256::from(n))),
        };
        let credit = |tx: u32, n: u64| Entry {
            version: v(tx as TxIdx, 0).into(),
            value: Some(MvValue::BalanceCredit(U256::from(n))),
        };
        let estimate = |tx: u32| Entry {
            version: v(tx as TxIdx, 0).into(),
            value: None,
        };
        let lists: Vec<Vec<Entry>> = vec![
            vec![],
            vec![full(1, 5)],
            vec![credit(1, 2), credit(3, 4)],
            vec![
                full(1, 5),
                credit(2, 1),
                credit(4, 1),
                full(6, 9),
                credit(7, 3),
            ],
            vec![credit(0, 1), full(2, 5), estimate(3), credit(5, 2)],
            vec![estimate(1), credit(2, 2)],
        ];
        for versions in &lists {
            let mut seen = vec![Observed::Base];
            seen.extend((0..10).filter_map(|r| observed(read_versions(versions, r))));
            for reader in 0..10 {
                let now = observed(read_versions(versions, reader));
                for then in &seen {
                    assert_eq!(
                        observes(versions, reader, then),
                        now.as_ref() == Some(then),
                        "{versions:?}, reader {reader}, {then:?}"
                    );
                }
            }
        }
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
                observed: Observed::written(v(1, 0))
            }
        );
        assert_eq!(
            mv.read(&loc, 9),
            Read::Found {
                value: MvValue::Storage(U256::from(30)),
                observed: Observed::written(v(3, 0))
            }
        );
        mv.mark_estimates(3, &[(loc, MvValue::Storage(U256::from(30)))]);
        assert_eq!(mv.read(&loc, 9), Read::Blocked(3));
        assert_eq!(mv.observe(&loc, 9), None);
        // The re-execution writes elsewhere: the old entry is removed, the new one is new.
        let other = Location::Nonce(Address::ZERO);
        let previous = [(loc, MvValue::Storage(U256::from(30)))];
        assert!(mv.record(v(3, 1), &[(other, MvValue::Nonce(1))], &previous));
        assert_eq!(mv.observe(&loc, 9), Some(Observed::written(v(1, 0))));
        // Writing the same location again is not new.
        let previous = [(other, MvValue::Nonce(1))];
        assert!(!mv.record(v(3, 2), &[(other, MvValue::Nonce(2))], &previous));
    }

    #[test]
    fn record_says_whether_a_location_is_new_for_first_small_and_large_write_sets() {
        let slots = |range: std::ops::Range<u64>, value: u64| -> Vec<(Location, MvValue)> {
            range
                .map(|i| {
                    let location = Location::Storage(Address::ZERO, U256::from(i));
                    (location, MvValue::Storage(U256::from(value)))
                })
                .collect()
        };
        for n in [0, 1, 32, 33, 500] {
            let mv = MvMemory::new();
            // A first incarnation: new when it writes anything.
            assert_eq!(mv.record(v(2, 0), &slots(0..n, 1), &[]), n > 0, "{n}");
            // The same locations again: nothing new.
            assert!(!mv.record(v(2, 1), &slots(0..n, 2), &slots(0..n, 1)), "{n}");
            // Half of them and one more: new; the other half is gone.
            let (half, next) = (n / 2, slots(n / 2..n + 1, 3));
            assert!(mv.record(v(2, 2), &next, &slots(0..n, 2)), "{n}");
            for i in 0..=n {
                let read = mv.read(&Location::Storage(Address::ZERO, U256::from(i)), 9);
                assert_eq!(matches!(read, Read::Found { .. }), i >= half, "{n} {i}");
            }
        }
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
                observed: Observed::credits(vec![v(2, 0), v(0, 0)], None)
            }
        );
        mv.record(v(1, 0), &[(loc, MvValue::Balance(U256::from(100)))], &[]);
        assert_eq!(
            mv.read(&loc, 3),
            Read::Found {
                value: MvValue::Balance(U256::from(102)),
                observed: Observed::credits(vec![v(2, 0)], Some(v(1, 0)))
            }
        );
    }

    #[test]
    fn the_written_key_filter_never_hides_an_entry() {
        // Sized for nothing: thousands of keys share its 4096 bits.
        let mv = MvMemory::new();
        let keys: Vec<Location> = (0..3000u64)
            .flat_map(|i| {
                let a = Address::left_padding_from(&i.to_be_bytes());
                [Location::Nonce(a), Location::Storage(a, U256::from(i))]
            })
            .collect();
        for (tx, key) in keys.iter().enumerate() {
            let value = match key {
                Location::Nonce(_) => MvValue::Nonce(tx as u64),
                _ => MvValue::Storage(U256::from(tx)),
            };
            mv.record(v(tx, 0), &[(*key, value)], &[]);
        }
        for (tx, key) in keys.iter().enumerate() {
            assert_eq!(mv.read(key, tx), Read::Base, "{key:?} below its writer");
            assert_eq!(
                mv.observe(key, tx + 1),
                Some(Observed::written(v(tx, 0))),
                "{key:?}"
            );
        }
        // Keys never written read as the base state.
        let other = Address::repeat_byte(0xee);
        assert_eq!(mv.read(&Location::Nonce(other), 10_000), Read::Base);
        assert_eq!(mv.read_account(other, 10_000, true).nonce, Read::Base);
    }

    #[test]
    fn an_account_only_credited_reads_its_other_fields_as_the_base_until_one_is_written() {
        let mv = MvMemory::with_capacity(0, 0, 2);
        let a = Address::repeat_byte(3);
        let credit = |tx| {
            mv.record(
                v(tx, 0),
                &[(Location::Balance(a), MvValue::BalanceCredit(U256::from(5)))],
                &[],
            )
        };
        credit(1);
        credit(2);
        let base = AccountRead {
            existence: Read::Base,
            balance: None,
            nonce: Read::Base,
            code: Read::Base,
        };
        for reader in 0..5 {
            assert_eq!(mv.read_account(a, reader, false), base);
            assert_eq!(mv.read(&Location::Nonce(a), reader), Read::Base);
        }
        assert_eq!(
            mv.read_account(a, 4, true).balance,
            Some(Read::BaseWithCredit {
                credit: U256::from(10),
                observed: Observed::credits(vec![v(2, 0), v(1, 0)], None),
            })
        );
        // The nonce written by transaction 3 is found by a read without the balance, and a
        // read above it that saw the base no longer validates.
        mv.record(v(3, 0), &[(Location::Nonce(a), MvValue::Nonce(7))], &[]);
        let found = Read::Found {
            value: MvValue::Nonce(7),
            observed: Observed::written(v(3, 0)),
        };
        assert_eq!(mv.read_account(a, 4, false).nonce, found);
        assert_eq!(mv.read(&Location::Nonce(a), 4), found);
        let saw_base = AccountReads {
            address: a,
            fields: std::array::from_fn(|field| (field == NONCE).then_some(Observed::Base)),
        };
        assert!(mv.account_unchanged(&saw_base, 3));
        assert!(!mv.account_unchanged(&saw_base, 4));
        assert!(!mv.still_observes(&Location::Nonce(a), 4, &Observed::Base));
    }

    #[test]
    fn an_account_read_together_equals_its_four_locations_read_alone() {
        let mv = MvMemory::new();
        let a = Address::repeat_byte(7);
        let slot = Location::Storage(a, U256::from(3));
        mv.record(
            v(1, 0),
            &[
                (Location::Existence(a), MvValue::Existence(true)),
                (Location::Balance(a), MvValue::Balance(U256::from(5))),
                (Location::Nonce(a), MvValue::Nonce(1)),
                (slot, MvValue::Storage(U256::from(9))),
            ],
            &[],
        );
        mv.record(
            v(2, 0),
            &[(Location::Balance(a), MvValue::BalanceCredit(U256::from(2)))],
            &[],
        );
        mv.record(v(4, 0), &[(Location::Nonce(a), MvValue::Nonce(2))], &[]);
        mv.mark_estimates(4, &[(Location::Nonce(a), MvValue::Nonce(2))]);
        for reader in 0..6 {
            let together = mv.read_account(a, reader, true);
            assert_eq!(together.existence, mv.read(&Location::Existence(a), reader));
            assert_eq!(
                together.balance,
                Some(mv.read(&Location::Balance(a), reader))
            );
            assert_eq!(mv.read_account(a, reader, false).balance, None);
            assert_eq!(together.nonce, mv.read(&Location::Nonce(a), reader));
            assert_eq!(together.code, mv.read(&Location::Code(a), reader));
        }
        assert_eq!(mv.read_account(a, 5, true).nonce, Read::Blocked(4));
        // The slot is its own key: the account's entries do not hide it, nor it them.
        assert_eq!(
            mv.read(&slot, 2),
            Read::Found {
                value: MvValue::Storage(U256::from(9)),
                observed: Observed::written(v(1, 0))
            }
        );
        assert_eq!(mv.read(&Location::Storage(a, U256::from(4)), 2), Read::Base);
        assert_eq!(
            mv.read_account(Address::repeat_byte(8), 9, true).existence,
            Read::Base
        );
    }
}
