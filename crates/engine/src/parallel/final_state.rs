//! The block's state after its last transaction, folded from the last incarnations' write
//! sets and committed to revm's `State` in one step, in place of committing every
//! transaction's revm state output in turn.
//!
//! When the scheduler is done, every transaction's last incarnation wrote what the
//! sequential execution writes (Block-STM's guarantee; with the lazy updates, credits in
//! place of the beneficiary's and plain recipients' balances). Folding the write sets in
//! transaction order over the base state therefore gives the sequential final state: a full
//! write replaces, a credit adds to the balance, an existence write wipes the storage.
//! [`final_state`] folds on the worker threads, each taking a share of the accounts, and
//! turns each account into one revm `Account`, so the serial part of the commit is one
//! `State` update per account rather than one per account per transaction.
//!
//! revm's `State` remembers how an account got where it is, and the block's state changes
//! depend on it: storage held before the block counts as wiped only if the account was
//! destroyed. An account the block destroyed is therefore committed as the sequential
//! commits reach it: first its destruction, then, if it exists at the end, its final state
//! as a newly created account ([`FinalState::commit_to`]).
//!
//! | account at the end of the block | how it is committed |
//! | --- | --- |
//! | absent, deleted in the block (self-destruct, EIP-161) | destroyed, when it existed before the block |
//! | present, its existence written in the block | destroyed first if some transaction deleted it, then created with its final info and storage |
//! | present, only its fields written | changed: its final info and written storage over the base state |

use std::sync::{
    Mutex,
    atomic::{AtomicUsize, Ordering::Relaxed},
};

use alloy_primitives::{
    Address, B256, U256,
    map::{AddressMap, HashMap},
};
use revm::{
    DatabaseCommit,
    bytecode::Bytecode,
    primitives::{KECCAK_EMPTY, hardfork::SpecId},
    state::{Account, AccountInfo, EvmState, EvmStorage, EvmStorageSlot, TransactionId},
};

use super::{
    executor::LastIncarnations, mv_memory::MvValue, threads::on_threads,
    tx_executor::IncarnationOutput, vm::BlockContext,
};
use crate::{access::Location, pre_state::empty_code};

/// The written accounts' final state, in the shares the worker threads folded: each share
/// two revm state outputs, its accounts in no other share.
#[derive(Debug, Default)]
pub(crate) struct FinalState {
    /// Share `i` holds the accounts `share(address, shares.len())` puts there.
    shares: Vec<FinalShare>,
}

/// One share of the final state.
#[derive(Debug, Default)]
struct FinalShare {
    /// Accounts that existed before a transaction of the block deleted them: committed
    /// first, as self-destructed.
    destroyed: EvmState,
    /// Every written account that exists at the end of the block: committed second.
    accounts: EvmState,
}

impl FinalState {
    /// The final state of written account `address`, if it exists at the end of the block.
    pub(crate) fn account(&self, address: &Address) -> Option<&Account> {
        let share = self.shares.get(share(address, self.shares.len()))?;
        share.accounts.get(address)
    }

    /// Commits the final state to `db`: every share's destroyed accounts, then every share's
    /// existing accounts (an account destroyed and then created again is committed in that
    /// order, as the sequential commits reach it). The shares are committed one by one, not
    /// merged: merging would copy every account once more, serially.
    pub(crate) fn commit_to(self, db: &mut impl DatabaseCommit) {
        let (destroyed, accounts): (Vec<_>, Vec<_>) = self
            .shares
            .into_iter()
            .map(|share| (share.destroyed, share.accounts))
            .unzip();
        for state in destroyed.into_iter().chain(accounts) {
            db.commit(state);
        }
    }
}

/// One account's writes folded in transaction order.
#[derive(Debug, Default)]
struct Folded {
    /// The last existence write.
    exists: Option<bool>,
    /// Whether some transaction deleted the account.
    deleted: bool,
    /// The last full balance write.
    balance: Option<U256>,
    /// Credits written after it.
    credit: U256,
    nonce: Option<u64>,
    code: Option<(B256, Bytecode)>,
    /// Slots written after the last existence write (which wiped the others).
    storage: HashMap<U256, U256>,
}

impl Folded {
    fn apply(&mut self, location: &Location, value: &MvValue) -> Result<(), String> {
        match (location, value) {
            (Location::Balance(_), MvValue::Balance(full)) => {
                self.balance = Some(*full);
                self.credit = U256::ZERO;
            }
            (Location::Balance(_), MvValue::BalanceCredit(credit)) => {
                self.credit = self.credit.wrapping_add(*credit);
            }
            (Location::Nonce(_), MvValue::Nonce(nonce)) => self.nonce = Some(*nonce),
            (Location::Code(_), MvValue::Code(hash, code)) => {
                self.code = Some((*hash, code.clone()));
            }
            (Location::Existence(_), MvValue::Existence(exists)) => {
                self.exists = Some(*exists);
                self.deleted |= !exists;
                self.storage.clear();
            }
            (Location::Storage(_, slot), MvValue::Storage(value)) => {
                self.storage.insert(*slot, *value);
            }
            (location, value) => return Err(format!("{location:?} was written a {value:?}")),
        }
        Ok(())
    }

    /// What to commit for this account at `address`.
    fn commit(
        self,
        address: Address,
        ctx: &BlockContext<'_>,
        out: &mut FinalShare,
    ) -> Result<(), String> {
        let base = ctx.base.info(address);
        // Loaded as the base state holds it, as the sequential commit finds it.
        let loaded = |base: Option<AccountInfo>| match base {
            Some(info) => Account::from(info),
            None => Account::new_not_existing(TransactionId::ZERO),
        };
        if self.deleted && base.is_some() {
            let mut account = loaded(base.clone());
            account.mark_selfdestruct();
            account.mark_touch();
            out.destroyed.insert(address, account);
        }
        // A credit brings an absent account into existence (see `VmDb::exists`).
        let exists = self.exists.unwrap_or(base.is_some()) || !self.credit.is_zero();
        if !exists {
            if base.is_some() && !self.deleted {
                return Err(format!(
                    "final state of {address}: it existed before the block and no transaction \
                     deleted it, yet it is absent after the last"
                ));
            }
            return Ok(());
        }
        let wiped = self.exists.is_some();
        let balance = self
            .balance
            .unwrap_or(base.as_ref().map(|b| b.balance).unwrap_or_default())
            .wrapping_add(self.credit);
        let nonce = self
            .nonce
            .unwrap_or(base.as_ref().map(|b| b.nonce).unwrap_or_default());
        let (code_hash, code) = match self.code {
            Some(code) => code,
            None => match &base {
                Some(info) => (info.code_hash, info.code.clone().unwrap_or_else(empty_code)),
                None => (KECCAK_EMPTY, empty_code()),
            },
        };
        let mut storage = EvmStorage::default();
        storage.reserve(self.storage.len());
        for (slot, present) in self.storage {
            let original = if wiped {
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
        account.info = AccountInfo::new(balance, nonce, code_hash, code);
        account.storage = storage;
        account.mark_touch();
        if wiped {
            // Created in the block (perhaps again, after its deletion).
            account.mark_created();
        } else if !ctx.cfg.spec.is_enabled_in(SpecId::SPURIOUS_DRAGON) && account.info.is_empty() {
            // Before EIP-161 an empty account stays; without an existence write it existed
            // before, empty, and its fields are as they were.
            return Ok(());
        }
        out.accounts.insert(address, account);
        Ok(())
    }
}

/// Which of `parts` shares of the accounts `address` falls in.
fn share(address: &Address, parts: usize) -> usize {
    usize::from(address.0[19]) % parts.max(1)
}

/// Folds the write sets of `slots` (every transaction's last incarnation, in order) into
/// the block's final state, on `threads` threads of `pool` (the caller one of them), each
/// folding the accounts of the shares it claims.
///
/// # Errors
/// A description of the write that does not fit its location, or of an account that
/// vanished without a deletion (engine bugs).
pub(crate) fn final_state<O: IncarnationOutput + Sync>(
    pool: &rayon::ThreadPool,
    threads: usize,
    ctx: &BlockContext<'_>,
    slots: &LastIncarnations<O>,
) -> Result<FinalState, String> {
    let writes = slots.iter().filter_map(|slot| slot.output.as_ref());
    let total: usize = writes.clone().map(|output| output.writes().len()).sum();
    // Below a few thousand writes a second thread costs more than it saves.
    // Four shares a thread, claimed in turn, so that a thread busy elsewhere (freeing the
    // memory, see `block_stm.rs`) leaves its shares to the others; each share scans every
    // write set, which costs little next to folding.
    // One thread folds everything in one share: one scan.
    let parts = if total < 4096 || threads <= 1 {
        1
    } else {
        4 * threads
    };
    let results: Vec<Mutex<Option<Result<FinalShare, String>>>> =
        (0..parts).map(|_| Mutex::new(None)).collect();
    let fold_share = |part: usize| {
        let result = (|| {
            let mut folded: AddressMap<Folded> = AddressMap::default();
            folded.reserve(total / 2 / parts);
            for output in writes.clone() {
                for (location, value) in output.writes() {
                    let address = location.address();
                    if parts == 1 || share(&address, parts) == part {
                        folded.entry(address).or_default().apply(location, value)?;
                    }
                }
            }
            let mut out = FinalShare::default();
            out.accounts.reserve(folded.len());
            for (address, account) in folded {
                account.commit(address, ctx, &mut out)?;
            }
            Ok(out)
        })();
        *results[part].lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
    };
    let next = AtomicUsize::new(0);
    on_threads(pool, threads.min(parts), || {
        loop {
            let part = next.fetch_add(1, Relaxed);
            if part >= parts {
                break;
            }
            fold_share(part);
        }
    });
    let shares = results
        .into_iter()
        .enumerate()
        .map(|(part, result)| {
            result
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| Err(format!("share {part} of the final state was not folded")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(FinalState { shares })
}
