//! The block's state after its last transaction, folded from the last incarnations' write
//! sets, in place of committing every transaction's revm state output in turn.
//!
//! When the scheduler is done, every transaction's last incarnation wrote what the
//! sequential execution writes (Block-STM's guarantee; with the lazy updates, credits in
//! place of the beneficiary's and plain recipients' balances). Folding the write sets in
//! transaction order over the base state therefore gives the sequential final state: a full
//! write replaces, a credit adds to the balance, an existence write wipes the storage.
//! [`final_state`] folds on the worker threads, each taking a share of the accounts, into
//! one compact record per written account (its last writes and the credits after them;
//! code and storage, which few accounts write, boxed apart), and diffs each account's
//! final fields ([`FinalAccount`]'s, borrowed: `Folded::fields`) against the pre-state
//! there and then, each share's changes made in address order there too
//! ([`sorted_changes`] appends them): the block's state changes
//! (`state_changes.rs`) come from the fold, not from a revm `State` the fold would first be
//! committed to.
//!
//! The post-block rules (rewards, withdrawals, the EIP-7002 and EIP-7251 system calls) still
//! run on revm's `State`; its database is [`FinalDb`], which answers for a written account
//! from the fold and for any other from the pre-state, so that `State` only ever holds the
//! few accounts those rules and the pre-block system calls load. An account the pre-block
//! system calls loaded is in `State` before the fold exists: if a transaction wrote it, it
//! is committed to `State` as the sequential commits would have left it
//! ([`FinalState::commit_loaded_to`]).
//!
//! revm's `State` remembers how an account got where it is, and the block's state changes
//! depend on it: storage held before the block counts as wiped only if the account was
//! destroyed. The fold keeps that fact (`deleted`), and an account committed to `State` is
//! committed as the sequential commits reach it: first its destruction, then, if it exists
//! at the end, its final state as a newly created account.
//!
//! | account at the end of the block | its final state |
//! | --- | --- |
//! | absent, deleted in the block (self-destruct, EIP-161) | absent; destroyed, when it existed before the block |
//! | present, its existence written in the block | destroyed first if some transaction deleted it, then created with its final info and storage |
//! | present, only its fields written | changed: its final info and written storage over the base state |

use std::{
    collections::BTreeMap,
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicUsize, Ordering::Relaxed},
    },
};

use alloy_primitives::{
    Address, B256, U256,
    map::{AddressMap, HashMap},
};
use revm::{
    DatabaseCommit,
    bytecode::Bytecode,
    database::CacheState,
    database_interface::DatabaseRef,
    primitives::{KECCAK_EMPTY, hardfork::SpecId},
    state::{Account, AccountInfo, EvmState, EvmStorage, EvmStorageSlot, TransactionId},
};

use super::{
    executor::{self, LastIncarnations},
    mv_memory::MvValue,
    pool::WorkerPool,
    threads::{Chunks, lock, on_threads, on_threads_freeing},
    tx_executor::IncarnationOutput,
    vm::{BlockContext, NewCodes},
};
use crate::{
    access::Location,
    pre_state::{PreState, PreStateError},
    state_changes::{AccountChange, AccountInfoAfter, FieldsAndCode, StateChanges},
};

/// The written accounts' folded writes, in the shares the worker threads folded, each
/// account in one share; [`FinalState::account`] gives an account's final state.
#[derive(Debug)]
pub(crate) struct FinalState {
    /// Share `i` holds the accounts `share(address, shares.len())` puts there.
    shares: Vec<AddressMap<Folded>>,
    spec: SpecId,
}

/// One written account at the end of the block, its storage borrowed from its fold
/// (`'s`), its fields after the last transaction as `I`: an `AccountInfo` in
/// [`FinalAccount`], the fields with the code borrowed in [`FinalFields`]
/// ([`Folded::fields`], all the fold's diff needs).
#[derive(Debug)]
pub(crate) struct Final<'s, I> {
    /// Its fields after the last transaction; `None` when it does not exist then.
    pub(crate) info: Option<I>,
    /// Whether a transaction deleted it (self-destruct, EIP-161).
    pub(crate) deleted: bool,
    /// Whether its existence was written (it was created, perhaps again): the slots not in
    /// `storage` hold zero.
    pub(crate) wiped: bool,
    /// The slots written after its last wipe, with their final values.
    storage: Option<&'s HashMap<U256, U256>>,
}

/// One written account at the end of the block, with an `AccountInfo`.
pub(crate) type FinalAccount<'s> = Final<'s, AccountInfo>;

/// One written account at the end of the block, its code borrowed from its fold or its
/// base state (`'c`).
type FinalFields<'s, 'c> = Final<'s, FieldsAndCode<'c>>;

impl<'s, I> Final<'s, I> {
    /// The final value of `slot`; `base` gives its value in the base state, asked only when
    /// no transaction decided it.
    pub(crate) fn storage(&self, slot: U256, base: impl FnOnce() -> U256) -> U256 {
        match self.storage.and_then(|storage| storage.get(&slot)) {
            Some(value) => *value,
            None if self.wiped || self.info.is_none() => U256::ZERO,
            None => base(),
        }
    }

    /// The slots written after its last wipe, with their final values.
    pub(crate) fn slots(&self) -> impl Iterator<Item = (U256, U256)> + '_ {
        self.storage
            .into_iter()
            .flatten()
            .map(|(slot, value)| (*slot, *value))
    }

    /// The same account with its fields as `f` makes them.
    fn map_info<J>(self, f: impl FnOnce(I) -> J) -> Final<'s, J> {
        Final {
            info: self.info.map(f),
            deleted: self.deleted,
            wiped: self.wiped,
            storage: self.storage,
        }
    }
}

impl FinalAccount<'_> {
    /// The revm state outputs that bring `State` from the base state to this account, as
    /// the sequential commits reach it: its destruction (when it existed and a transaction
    /// deleted it), then its final state (when it exists at the end).
    fn revm_accounts(
        &self,
        address: Address,
        ctx: &BlockContext<'_>,
    ) -> (Option<Account>, Option<Account>) {
        let base = ctx.base.info(address);
        // Loaded as the base state holds it, as the sequential commit finds it.
        let loaded = |base: Option<AccountInfo>| match base {
            Some(info) => Account::from(info),
            None => Account::new_not_existing(TransactionId::ZERO),
        };
        let destroyed = (self.deleted && base.is_some()).then(|| {
            let mut account = loaded(base.clone());
            account.mark_selfdestruct();
            account.mark_touch();
            account
        });
        let Some(info) = &self.info else {
            return (destroyed, None);
        };
        if !self.wiped && !ctx.cfg.spec.is_enabled_in(SpecId::SPURIOUS_DRAGON) && info.is_empty() {
            // Before EIP-161 an empty account stays; without an existence write it existed
            // before, empty, and its fields are as they were.
            return (destroyed, None);
        }
        let mut storage = EvmStorage::default();
        for (slot, present) in self.slots() {
            let original = if self.wiped {
                U256::ZERO
            } else {
                ctx.base.storage(address, slot)
            };
            storage.insert(
                slot,
                EvmStorageSlot {
                    original_value: original,
                    present_value: present,
                    transaction_id: TransactionId::ZERO,
                    is_cold: false,
                },
            );
        }
        let mut account = loaded(base);
        account.info = info.clone();
        account.storage = storage;
        account.mark_touch();
        if self.wiped {
            // Created in the block (perhaps again, after its deletion).
            account.mark_created();
        }
        (destroyed, Some(account))
    }
}

impl FinalState {
    /// The final state of written account `address`, over `base` (its info in the base
    /// state, asked only if a transaction wrote it).
    pub(crate) fn account(
        &self,
        address: &Address,
        base: impl FnOnce() -> Option<AccountInfo>,
    ) -> Option<FinalAccount<'_>> {
        let folded = self
            .shares
            .get(share(address, self.shares.len()))?
            .get(address)?;
        // The fold checked every account's finish (`final_state`): this one cannot fail.
        folded.finish(*address, base(), self.spec).ok()
    }

    /// Commits to `db` the final state of every account of `loaded` (the accounts `db`
    /// already holds) that a transaction wrote: first their destructions, then their final
    /// states, as the sequential commits reach them.
    pub(crate) fn commit_loaded_to<'a>(
        &self,
        loaded: impl Iterator<Item = &'a Address>,
        ctx: &BlockContext<'_>,
        db: &mut impl DatabaseCommit,
    ) {
        let mut destroyed = EvmState::default();
        let mut present = EvmState::default();
        for address in loaded {
            if let Some(account) = self.account(address, || ctx.base.info(*address)) {
                let (gone, now) = account.revm_accounts(*address, ctx);
                destroyed.extend(gone.map(|a| (*address, a)));
                present.extend(now.map(|a| (*address, a)));
            }
        }
        db.commit(destroyed);
        db.commit(present);
    }
}

/// The database of the block executor's `State`: the pre-state and, once the fold is done,
/// the final state of every account a transaction wrote over it (see the module docs).
///
/// The infos it gives carry their code, so revm never asks it for code by hash but for
/// the pre-state's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FinalDb<'a> {
    pre: &'a PreState,
    fold: &'a OnceLock<FinalState>,
}

impl<'a> FinalDb<'a> {
    /// The pre-state, under `fold` once it is set.
    pub(crate) fn new(pre: &'a PreState, fold: &'a OnceLock<FinalState>) -> Self {
        Self { pre, fold }
    }

    /// A written account's final state (the pre-state's accounts the pre-block system
    /// calls changed are never asked for: `State` holds them).
    fn written(&self, address: &Address) -> Option<FinalAccount<'a>> {
        let pre = self.pre;
        self.fold
            .get()?
            .account(address, || pre.basic_ref(*address).unwrap_or_default())
    }
}

impl DatabaseRef for FinalDb<'_> {
    type Error = PreStateError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        match self.written(&address) {
            Some(account) => Ok(account.info.clone()),
            None => self.pre.basic_ref(address),
        }
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        self.pre.code_by_hash_ref(code_hash)
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Self::Error> {
        match self.written(&address) {
            Some(account) => Ok(account.storage(index, || {
                self.pre.storage_ref(address, index).unwrap_or_default()
            })),
            None => self.pre.storage_ref(address, index),
        }
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        self.pre.block_hash_ref(number)
    }
}

/// One account's writes folded in transaction order.
#[derive(Debug, Default)]
struct Folded {
    /// The last full balance write.
    balance: Option<U256>,
    /// Credits written after it.
    credit: U256,
    nonce: Option<u64>,
    /// The last existence write.
    exists: Option<bool>,
    /// Whether some transaction deleted the account.
    deleted: bool,
    /// What few accounts have written: apart, so that the table of a block's accounts stays
    /// small.
    rare: Option<Box<RareWrites>>,
}

/// The writes to an account's code and storage.
#[derive(Debug, Default)]
struct RareWrites {
    code: Option<(B256, Bytecode)>,
    /// Slots written after the last existence write (which wiped the others).
    storage: HashMap<U256, U256>,
}

impl Folded {
    /// Applies one write, in transaction order; a code write's code comes from `codes`.
    fn apply(
        &mut self,
        location: &Location,
        value: &MvValue,
        codes: &NewCodes,
    ) -> Result<(), String> {
        match (location, value) {
            (Location::Balance(_), MvValue::Balance(full)) => {
                self.balance = Some(*full);
                self.credit = U256::ZERO;
            }
            (Location::Balance(_), MvValue::BalanceCredit(credit)) => {
                self.credit = self.credit.wrapping_add(*credit);
            }
            (Location::Nonce(_), MvValue::Nonce(nonce)) => self.nonce = Some(*nonce),
            (Location::Code(_), MvValue::Code(hash)) => {
                let code = codes
                    .get(*hash)
                    .ok_or_else(|| format!("{location:?}: code {hash} was not registered"))?;
                self.rare.get_or_insert_default().code = Some((*hash, code));
            }
            (Location::Existence(_), MvValue::Existence(exists)) => {
                self.exists = Some(*exists);
                self.deleted |= !exists;
                if let Some(rare) = &mut self.rare {
                    rare.storage.clear();
                }
            }
            (Location::Storage(_, slot), MvValue::Storage(value)) => {
                self.rare
                    .get_or_insert_default()
                    .storage
                    .insert(*slot, *value);
            }
            (location, value) => return Err(format!("{location:?} was written a {value:?}")),
        }
        Ok(())
    }

    /// The account at `address` after the block, over `base` (its info in the base state,
    /// which carries its code here; one that did not would be given the empty code).
    fn finish(
        &self,
        address: Address,
        base: Option<AccountInfo>,
        spec: SpecId,
    ) -> Result<FinalAccount<'_>, String> {
        let fields = self.fields(address, base.as_ref().map(fields_of), spec)?;
        Ok(fields.map_info(|(info, code)| {
            let code = code.cloned().unwrap_or_default();
            AccountInfo::new(info.balance, info.nonce, info.code_hash, code)
        }))
    }

    /// The account at `address` after the block, over `base` (its fields and code in the
    /// base state), borrowed: what [`Folded::finish`] builds an `AccountInfo` from, and
    /// all the fold's diff needs, without a copy of any code.
    fn fields<'s: 'c, 'c>(
        &'s self,
        address: Address,
        base: Option<FieldsAndCode<'c>>,
        spec: SpecId,
    ) -> Result<FinalFields<'s, 'c>, String> {
        // A credit brings an absent account into existence (see `VmDb::exists`).
        let exists = self.exists.unwrap_or(base.is_some()) || !self.credit.is_zero();
        let wiped = self.exists.is_some();
        if !exists {
            if base.is_some() && !self.deleted {
                return Err(format!(
                    "final state of {address}: it existed before the block and no transaction \
                     deleted it, yet it is absent after the last"
                ));
            }
            return Ok(FinalFields {
                info: None,
                deleted: self.deleted,
                wiped,
                storage: None,
            });
        }
        let balance = self
            .balance
            .unwrap_or(base.map(|(b, _)| b.balance).unwrap_or_default())
            .wrapping_add(self.credit);
        let nonce = self
            .nonce
            .unwrap_or(base.map(|(b, _)| b.nonce).unwrap_or_default());
        let written_code = self.rare.as_ref().and_then(|rare| rare.code.as_ref());
        let (code_hash, code) = match (written_code, base) {
            (Some((hash, code)), _) => (*hash, Some(code)),
            (None, Some((base, code))) => (base.code_hash, code),
            (None, None) => (KECCAK_EMPTY, None),
        };
        let mut info = (
            AccountInfoAfter {
                balance,
                nonce,
                code_hash,
            },
            code,
        );
        // As `AccountInfo::is_empty` has it.
        let empty =
            balance.is_zero() && nonce == 0 && (code_hash == KECCAK_EMPTY || code_hash.is_zero());
        if !wiped && !spec.is_enabled_in(SpecId::SPURIOUS_DRAGON) && empty {
            // Before EIP-161 an empty account stays; without an existence write it existed
            // before, empty, and its fields are as they were.
            if let Some(base) = base {
                info = base;
            }
        }
        Ok(FinalFields {
            info: Some(info),
            deleted: self.deleted,
            wiped,
            storage: self.rare.as_ref().map(|rare| &rare.storage),
        })
    }
}

/// The fields of `info`, and its code.
fn fields_of(info: &AccountInfo) -> FieldsAndCode<'_> {
    (AccountInfoAfter::of(info), info.code.as_ref())
}

/// Write sets from which [`fold_writes`] sizes an account's storage table for a run of
/// its writes before folding them.
const SIZED_WRITE_SET: usize = 64;

/// Writes in a run from which its account's storage table is sized first.
const SIZED_RUN: usize = 8;

/// Folds `writes`, in transaction order, into `folded`. An account's writes come together
/// in a write set (`vm.rs`): each run of them is folded with one lookup. When `sized` (one
/// large write set), a run of storage writes first counts itself and sizes the account's
/// table, which otherwise grows by doubling: 15537393, one transaction writing 1,310
/// slots of one contract, folded in 155-183 -> 132-136 us (2 threads, medians of 200
/// replays, four runs of each build alternating). Counting every run of a small write
/// set cost erc20-disjoint's fold 5%.
fn fold_writes<'w>(
    folded: &mut AddressMap<Folded>,
    codes: &NewCodes,
    writes: impl Iterator<Item = &'w (Location, MvValue)> + Clone,
    sized: bool,
) -> Result<(), String> {
    let mut writes = writes.peekable();
    while let Some((location, value)) = writes.next() {
        let address = location.address();
        let account = folded.entry(address).or_default();
        if sized && matches!(location, Location::Storage(..)) {
            let run = writes
                .clone()
                .take_while(|(next, _)| next.address() == address)
                .count();
            if run >= SIZED_RUN {
                account
                    .rare
                    .get_or_insert_default()
                    .storage
                    .reserve(run + 1);
            }
        }
        account.apply(location, value, codes)?;
        while let Some((location, value)) = writes.next_if(|(next, _)| next.address() == address) {
            account.apply(location, value, codes)?;
        }
    }
    Ok(())
}

/// Transactions per chunk of the pass that sorts the writes into their shares.
const BUCKET_CHUNK: usize = 256;

/// Which of `parts` shares of the accounts `address` falls in: the shares are ranges of
/// addresses by their first byte, in order, so that the shares' sorted state changes
/// follow one another ([`sorted_changes`] appends them). Addresses are hashes, so the
/// ranges hold alike; the few with leading zero bytes (precompiles, system contracts,
/// vanity addresses) are too few to unbalance the first share.
fn share(address: &Address, parts: usize) -> usize {
    (usize::from(address.0[0]) * parts) >> 8
}

/// The block's final state and the state changes of its written accounts (each share's,
/// unordered), but those of the accounts the pre-block system calls changed, which revm's
/// `State` holds (see [`state_changes`]).
pub(crate) struct Fold {
    pub(crate) state: FinalState,
    pub(crate) changes: Vec<Vec<(Address, AccountChange)>>,
}

/// Folds the write sets of `slots` (every transaction's last incarnation, in order) into
/// the block's final state and diffs it against the pre-state, on `threads` threads of
/// `pool` (the caller one of them), each folding the accounts of the shares it claims.
/// `garbage` (the multi-version memory, which nothing reads any more) is dropped by a pool
/// thread once the writes are sorted into their shares, when `free_beside`; the thread then
/// claims the shares left. Sorting first on every thread and freeing after, not before:
/// freeing a 1-Ggas block's memory takes a thread 14 ms, during which the caller sorted
/// the writes alone (raw-transfers at 2 threads, execution-only: the fold 89.4 -> 76.5 ms,
/// medians of 20 alternating replays).
///
/// # Errors
/// A description of the write that does not fit its location, or of an account that
/// vanished without a deletion (engine bugs).
pub(crate) fn final_state<O: IncarnationOutput + Sync, G: Send>(
    pool: &WorkerPool,
    threads: usize,
    ctx: &BlockContext<'_>,
    slots: &LastIncarnations<O>,
    garbage: G,
    free_beside: bool,
) -> Result<Fold, String> {
    let writes = slots.iter().filter_map(|slot| slot.output.as_ref());
    let total: usize = writes.clone().map(|output| output.writes().len()).sum();
    // Below a few hundred writes a second thread costs more than it saves; below a few
    // thousand when it took no part in the worker loop (a block of one transaction), where
    // it must wake up first. The helpers are awake when the loop just ended: from 512 writes
    // (4,096 before), the 47 mainnet blocks at 2 threads, execution-only, medians of 100
    // alternating replays in one process, geometric mean of the ratios 1.011 (with the
    // traces' threshold in `block_stm.rs`, 1.014; up to 1.046 on 12159808, the lowest
    // 0.990, noise level); splitting the fold of a one-transaction block from 512 writes
    // cost 15537393 2.8%.
    // Four shares a thread, claimed in turn, so that a thread busy elsewhere (freeing the
    // memory) leaves its shares to the others. One thread folds everything in one share.
    let helpers_ran_the_loop = executor::workers(threads, slots.len()) > 1;
    let min_writes = if helpers_ran_the_loop { 512 } else { 4096 };
    let parts = if total < min_writes || threads <= 1 {
        1
    } else {
        4 * threads
    };
    // With several shares, the writes are first sorted into them, in transaction order, by
    // one pass over the write sets on the worker threads (chunks of transactions): a share
    // then folds only its own writes, where each share scanning every write set cost the
    // threads together `parts` scans.
    let buckets = (parts > 1).then(|| {
        let per_chunk = total.div_ceil(slots.len().div_ceil(BUCKET_CHUNK)) / parts + 4;
        let chunks = Chunks::new(slots.len().div_ceil(BUCKET_CHUNK), 1, |chunk| {
            let mut buckets: Vec<Vec<&(Location, MvValue)>> =
                (0..parts).map(|_| Vec::with_capacity(per_chunk)).collect();
            let first = chunk * BUCKET_CHUNK;
            let chunk_slots = &slots[first..(first + BUCKET_CHUNK).min(slots.len())];
            for output in chunk_slots.iter().filter_map(|slot| slot.output.as_ref()) {
                for write in output.writes() {
                    buckets[share(&write.0.address(), parts)].push(write);
                }
            }
            buckets
        });
        on_threads(pool, threads, || chunks.work());
        chunks.into_results()
    });
    type Share = (AddressMap<Folded>, Vec<(Address, AccountChange)>);
    let results: Vec<Mutex<Option<Result<Share, String>>>> =
        (0..parts).map(|_| Mutex::new(None)).collect();
    let spec = ctx.cfg.spec;
    let fold_share = |part: usize| {
        let result = (|| {
            let mut folded: AddressMap<Folded> = AddressMap::default();
            folded.reserve(total / 2 / parts);
            match &buckets {
                Some(buckets) => fold_writes(
                    &mut folded,
                    &ctx.codes,
                    buckets.iter().flat_map(|chunk| &chunk[part]).copied(),
                    false,
                )?,
                None => {
                    for output in writes.clone() {
                        let writes = output.writes();
                        let sized = writes.len() >= SIZED_WRITE_SET;
                        fold_writes(&mut folded, &ctx.codes, writes.iter(), sized)?;
                    }
                }
            }
            // The share's accounts sorted first, each address copied out of the table
            // beside a reference to its fold, so that the changes are made in address
            // order. Both alternatives measured slower (docs/benchmarks-history.md, items
            // 56 and 57; medians of alternating replays in one process): sorting the
            // changes after (moving each, about 170 bytes, twice at random; measured with
            // the diff's `AccountInfo`s, two copies of the code each) made the fold 2-13%
            // longer (raw-transfers 200 Mgas 25.3 -> 26.2 ms at 1 thread, mainnet 2462997
            // 1.54 -> 1.69 ms); sorting references to the addresses read the table at
            // random on every comparison, up to 29% longer at 1 Ggas (raw-transfers 63.9 ->
            // 79.8 ms at 1 thread), level where the table fits the cache.
            let mut accounts: Vec<(Address, &Folded)> = folded
                .iter()
                .map(|(address, account)| (*address, account))
                .collect();
            accounts.sort_unstable_by_key(|(address, _)| *address);
            let mut changes = Vec::with_capacity(accounts.len());
            for (address, account) in &accounts {
                let pre = ctx.base.pre.account(address);
                // The pre-block system calls' accounts: their changes come from `State`
                // (the fold is still checked: `FinalState::account` relies on it).
                let overlay = ctx.base.overlay.get(address);
                let base = match overlay {
                    Some((info, _)) => info.as_ref().map(fields_of),
                    None => pre.map(|pre| (pre.fields(), pre.code.as_ref())),
                };
                let account = account.fields(*address, base, spec)?;
                if overlay.is_none() {
                    let change = AccountChange::of_fields(
                        pre,
                        account.info,
                        account.deleted,
                        account.slots(),
                        |_| None,
                    );
                    changes.extend(change.map(|change| (*address, change)));
                }
            }
            Ok((folded, changes))
        })();
        *lock(&results[part]) = Some(result);
    };
    let next = AtomicUsize::new(0);
    // The threads that fold: one for one share, but a helper frees the memory beside it
    // when that is worth a thread, and then joins the fold if shares are left.
    let folding = if free_beside {
        threads
    } else {
        threads.min(parts)
    };
    on_threads_freeing(pool, folding, free_beside, garbage, || {
        loop {
            let part = next.fetch_add(1, Relaxed);
            if part >= parts {
                break;
            }
            fold_share(part);
        }
    });
    let (shares, changes) = results
        .into_iter()
        .enumerate()
        .map(|(part, result)| {
            result
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| Err(format!("share {part} of the final state was not folded")))
        })
        .collect::<Result<(Vec<_>, Vec<_>), _>>()?;
    Ok(Fold {
        state: FinalState { shares, spec },
        changes,
    })
}

/// The fold's state changes (`Fold::changes`) in one map, ordered by address: each share's
/// are ordered already (made in order on the worker threads, [`final_state`]) and each share's
/// addresses come after the previous share's ([`share`]), so they are appended in turn and
/// the map's own sort finds them in order. (Changes out of order would only cost that
/// sort.) A merge of the shares by a binary heap, as the shares were once interleaved,
/// cost the calling thread more (raw-transfers at 200 Mgas, 2 threads, a probe: 4.4 to
/// 7.2 ms against 2.4 to 2.9 ms, three replays each; medians of 40 alternating replays on
/// a loaded machine 9.3 against 8.0 ms, most of either the map's own build).
pub(crate) fn sorted_changes(
    changes: Vec<Vec<(Address, AccountChange)>>,
) -> BTreeMap<Address, AccountChange> {
    // Into one vector of the exact size first: the map is built from one (in place), and
    // one grown by doubling would hold up to twice the changes at the memory's peak.
    let mut merged = Vec::with_capacity(changes.iter().map(Vec::len).sum());
    for share in changes {
        merged.extend(share);
    }
    merged.into_iter().collect()
}

/// The block's state changes: the fold's `changes` (sorted), and for every account revm's `State`
/// holds (`cache`: loaded by the pre-block system calls or the post-block rules) the change
/// of its state there, which is final. An account a transaction wrote and only the
/// post-block rules loaded is in both: its fields come from `State`, which loaded them from
/// the fold, and its storage and destruction from the fold, below what `State` changed.
pub(crate) fn state_changes(
    mut accounts: BTreeMap<Address, AccountChange>,
    fold: &FinalState,
    cache: &CacheState,
    ctx: &BlockContext<'_>,
) -> StateChanges {
    let pre = ctx.base.pre;
    for (address, cached) in &cache.accounts {
        let written = (!ctx.base.overlay.contains_key(address))
            .then(|| fold.account(address, || pre.basic_ref(*address).unwrap_or_default()))
            .flatten();
        let change = match written {
            Some(written) => {
                let mut slots: HashMap<U256, U256> = written.slots().collect();
                if let Some(account) = &cached.account {
                    slots.extend(account.storage.iter().map(|(slot, value)| (*slot, *value)));
                }
                AccountChange::of(
                    pre.account(address),
                    cached.account.as_ref().map(|account| &account.info),
                    written.deleted || cached.status.was_destroyed(),
                    slots.into_iter(),
                    |hash| cache.contracts.get(hash),
                )
            }
            _ => StateChanges::from_cache_accounts(cache, std::iter::once((address, cached)), pre)
                .accounts
                .remove(address),
        };
        match change {
            Some(change) => accounts.insert(*address, change),
            None => accounts.remove(address),
        };
    }
    StateChanges { accounts }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A change told apart by its storage (the merge must keep each with its address).
    fn change(tag: u64) -> AccountChange {
        AccountChange {
            storage: BTreeMap::from([(U256::ZERO, U256::from(tag))]),
            ..AccountChange::default()
        }
    }

    proptest! {
        /// Shares of changes, each ordered by address as the fold makes them (or left as
        /// they come), merge into the map of all of them.
        #[test]
        fn the_shares_merge_into_one_ordered_map(
            shares in prop::collection::vec(
                prop::collection::hash_set(any::<[u8; 20]>(), 0..30), 0..9),
            ordered in any::<bool>(),
        ) {
            let mut expected = BTreeMap::new();
            let mut tag = 0;
            let changes: Vec<Vec<(Address, AccountChange)>> = shares
                .iter()
                .map(|addresses| {
                    let share: Vec<(Address, AccountChange)> = addresses
                        .iter()
                        .filter_map(|bytes| {
                            let address = Address::from(*bytes);
                            tag += 1;
                            // One share an address, as the fold shares them.
                            expected.insert(address, change(tag)).is_none()
                                .then(|| (address, change(tag)))
                        })
                        .collect();
                    let mut share = share;
                    if ordered {
                        share.sort_unstable_by_key(|(address, _)| *address);
                    }
                    share
                })
                .collect();
            prop_assert_eq!(sorted_changes(changes), expected);
        }

        /// The shares are ranges of addresses in order, from the first to the last: a
        /// lower address never falls in a later share.
        #[test]
        fn the_shares_are_ordered_ranges(
            a in any::<[u8; 20]>(),
            b in any::<[u8; 20]>(),
            parts in 1usize..=256,
        ) {
            let (low, high) = (Address::from(a.min(b)), Address::from(a.max(b)));
            prop_assert!(share(&low, parts) <= share(&high, parts));
            prop_assert!(share(&high, parts) < parts);
            prop_assert_eq!(share(&Address::ZERO, parts), 0);
            prop_assert_eq!(share(&Address::repeat_byte(0xff), parts), parts - 1);
        }
    }
}
