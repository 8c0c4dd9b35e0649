//! The VM glue: one transaction incarnation executed by revm over the multi-version memory.
//!
//! [`VmDb`] is a revm `Database` that answers every read from the [`MvMemory`] (the highest
//! write below the transaction) or the block's [`BaseState`], and records the read set with
//! the version each value came from. After revm finishes, the write set is taken from revm's
//! state output, one [`Location`] per changed field.
//!
//! # EVM-specific lazy updates
//! Every transaction pays the beneficiary, so a plain read-modify-write of its balance would
//! make every transaction depend on the one before. Instead:
//! - the beneficiary's fee is not applied inside revm ([`LazyHandler`] computes it in place of
//!   revm's `reward_beneficiary`) and is written as a balance *credit*; a transaction that
//!   explicitly loads the beneficiary (BALANCE, a call or a transfer to it) reads its exact
//!   balance, credits of lower transactions summed in;
//! - a plain value transfer (a call to an existing account with no code) gives revm a
//!   placeholder zero balance for the recipient and writes the received value as a credit.
//!   The sender's balance and nonce are always read exactly, so validity checks (nonce,
//!   funds) are exact, and its debit is written as a full value.
//!
//! Credits are materialised at the end of the block, when the final state is folded from
//! the write sets in transaction order, each credit added to the balance below it (see
//! `parallel/final_state.rs`).

use std::{cell::Cell, sync::RwLock};

use alloy_consensus::{Transaction, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_evm::{FromRecoveredTx, block::BlockExecutionError, precompiles::PrecompilesMap};
use alloy_primitives::{
    Address, B256, U256,
    map::{AddressMap, B256Map, HashMap},
};
use revm::{
    Context, MainContext,
    bytecode::Bytecode,
    context::Evm,
    context::{
        BlockEnv, CfgEnv, ContextSetters, ContextTr, TxEnv,
        result::{EVMError, ExecutionResult},
    },
    context_interface::{Block, Cfg, result::HaltReason, transaction::Transaction as _},
    context_interface::{JournalTr, local::FrameStack},
    database_interface::{DBErrorMarker, Database, DatabaseRef, bal::EvmDatabaseError},
    handler::{EthFrame, MainnetContext, instructions::EthInstructions},
    handler::{EvmTr, EvmTrError, FrameResult, FrameTr, Handler, MainnetHandler},
    interpreter::interpreter::EthInterpreter,
    interpreter::interpreter_action::FrameInit,
    precompile::{PrecompileSpecId, Precompiles},
    primitives::{KECCAK_EMPTY, hardfork::SpecId},
    state::{AccountInfo, EvmState},
};

use super::{
    commit::{FinalBloom, Finalized},
    mv_memory::{MvMemory, MvValue, Observed, Read},
    read_set::{ReadRecorder, ReadSet, hand_over},
    receipts::{bloom_of, bloom_shared},
    replay::TraceReads,
    tx_executor::{IncarnationOutput, Interrupted},
    write_log::Listener,
};
use crate::{
    access::{Location, TxIdx},
    pre_state::{PreState, PreStateError},
};

/// The state every transaction of the block starts from: the archived pre-state with the
/// pre-block system calls (EIP-2935, EIP-4788) applied on top.
#[derive(Debug)]
pub(crate) struct BaseState<'a> {
    pub(crate) pre: &'a PreState,
    /// Accounts changed by the pre-block system calls: their info (`None` if deleted) and
    /// the storage slots they wrote.
    pub(crate) overlay: AddressMap<(Option<AccountInfo>, HashMap<U256, U256>)>,
}

impl BaseState<'_> {
    /// The account as the block's transactions find it before any of them ran.
    pub(crate) fn info(&self, address: Address) -> Option<AccountInfo> {
        match self.overlay.get(&address) {
            Some((info, _)) => info.clone(),
            None => self.pre.basic_ref(address).unwrap_or_default(),
        }
    }

    /// The slot as the block's transactions find it before any of them ran.
    pub(crate) fn storage(&self, address: Address, slot: U256) -> U256 {
        if let Some(value) = self.overlay.get(&address).and_then(|(_, s)| s.get(&slot)) {
            return *value;
        }
        self.pre.storage_ref(address, slot).unwrap_or_default()
    }
}

/// Codes deployed during the block, by hash (content-addressed, so unversioned). The
/// multi-version memory's code writes hold only the hash, to keep every entry small; the
/// code is registered here before its write is recorded.
#[derive(Debug, Default)]
pub(crate) struct NewCodes(RwLock<B256Map<Bytecode>>);

impl NewCodes {
    /// The code of `hash`, as written by a transaction of the block: the empty code for
    /// [`KECCAK_EMPTY`]; `None` if no code of that hash was registered.
    pub(crate) fn get(&self, hash: B256) -> Option<Bytecode> {
        if hash == KECCAK_EMPTY {
            return Some(Bytecode::default());
        }
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash)
            .cloned()
    }

    /// Registers `code` under `hash`, unless it is the empty code.
    fn register(&self, hash: B256, code: &Bytecode) {
        if hash != KECCAK_EMPTY {
            self.0
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(hash, code.clone());
        }
    }
}

/// Why a read could not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum VmReadError {
    /// An ESTIMATE of this transaction was met: wait for its re-execution.
    #[error("blocked on transaction {0}")]
    Blocked(TxIdx),
    /// A lower transaction recorded a write that changes a read made before: start again
    /// (`write_log.rs`).
    #[error("a read went stale")]
    Stale,
    /// The pre-state cannot answer (missing ancestor hash or code).
    #[error(transparent)]
    PreState(#[from] PreStateError),
    /// A location held a value of another kind: a bug in this module.
    #[error("location {0:?} holds a value of another kind")]
    WrongKind(Location),
    /// A code write's code was not registered in [`NewCodes`]: a bug in this module.
    #[error("code {0} was written but not registered")]
    UnregisteredCode(B256),
}

impl From<VmReadError> for Interrupted {
    /// The interruption a read error causes; a pre-state error is not one (it is the
    /// incarnation's outcome, see [`WorkerVm::execute`]) and is reported as a broken invariant if it
    /// ever reaches here.
    fn from(error: VmReadError) -> Self {
        match error {
            VmReadError::Blocked(tx) => Self::Blocked(tx),
            VmReadError::Stale => Self::Stale,
            other => Self::Invariant(other.to_string()),
        }
    }
}

impl DBErrorMarker for VmReadError {}

/// Reads (of accounts and slots, as revm asks) from which an incarnation listens to the
/// write log (`write_log.rs`): most transactions end before, and neither they nor the
/// incarnations writing beside them pay for the log. The 47 mainnet fixtures at 2 threads,
/// execution-only, against no log (medians of alternating replays, geometric means): from
/// the 8th read 1.004, 16th 1.003, 24th 1.008 and 1.006, 32nd 1.004, 64th 1.002; listening
/// from the first read, 0.988 (the log's cost on every write outweighed what it saved).
const LISTEN_AFTER: u32 = 24;

/// The revm database of one incarnation.
pub(crate) struct VmDb<'a> {
    tx: TxIdx,
    mv: &'a MvMemory,
    base: &'a BaseState<'a>,
    codes: &'a NewCodes,
    /// The recipient of a plain transfer, eligible for a placeholder balance.
    lazy_candidate: Option<Address>,
    /// Set when the candidate was given the placeholder.
    pub(crate) lazy_recipient: Option<Address>,
    /// The read set being recorded: each location once, with what it observed.
    reads: ReadRecorder,
    /// Account infos as handed to revm, to tell which fields the transaction changed.
    pub(crate) loaded: AddressMap<Option<AccountInfo>>,
    /// Whether reads are recorded (off for the final-state check, which only reads).
    recording: bool,
    /// Accounts that exist only through lazy credits (no existence write): a transaction
    /// that changes one writes its existence explicitly.
    credit_born: Vec<Address>,
    /// The base state of the account read last: `basic` asks for up to four of its fields
    /// in a row. The base state never changes during the block, so this stays valid
    /// across incarnations.
    base_memo: Option<(Address, Option<AccountInfo>)>,
    /// The last account whose storage wipe was read, and the wipe (see [`VmDb::wipe_of`]):
    /// valid for one incarnation.
    wipe_memo: Option<(Address, Option<TxIdx>)>,
    /// This incarnation's watch on the memory's write log ([`VmDb::check_stale`]).
    listener: Listener,
}

impl std::fmt::Debug for VmDb<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VmDb")
            .field("tx", &self.tx)
            .field("reads", &self.reads.len())
            .finish()
    }
}

impl<'a> VmDb<'a> {
    pub(crate) fn new(
        tx: TxIdx,
        mv: &'a MvMemory,
        base: &'a BaseState<'a>,
        codes: &'a NewCodes,
        lazy_candidate: Option<Address>,
    ) -> Self {
        Self {
            tx,
            mv,
            base,
            codes,
            lazy_candidate,
            lazy_recipient: None,
            reads: ReadRecorder::default(),
            loaded: AddressMap::default(),
            recording: true,
            credit_born: Vec::new(),
            base_memo: None,
            wipe_memo: None,
            listener: Listener::default(),
        }
    }

    /// A reader that records nothing: for checks after the block is done.
    pub(crate) fn reader(
        tx: TxIdx,
        mv: &'a MvMemory,
        base: &'a BaseState<'a>,
        codes: &'a NewCodes,
    ) -> Self {
        Self {
            recording: false,
            ..Self::new(tx, mv, base, codes, None)
        }
    }

    /// Resets the per-incarnation fields for incarnation of transaction `tx` (a worker's
    /// database is reused by all its incarnations, see [`WorkerVm`]).
    pub(crate) fn start(&mut self, tx: TxIdx, lazy_candidate: Option<Address>) {
        self.tx = tx;
        self.lazy_candidate = lazy_candidate;
        self.lazy_recipient = None;
        self.reads.clear();
        self.loaded.clear();
        self.credit_born.clear();
        self.wipe_memo = None;
        self.stop_listening();
    }

    /// Stops listening to the write log, at the end of an incarnation.
    pub(crate) fn stop_listening(&mut self) {
        self.listener.stop(self.mv.log());
    }

    /// Stops the incarnation ([`VmReadError::Stale`]) if a lower transaction recorded a
    /// write that changes one of its reads so far: validation would fail it, so running on
    /// is wasted (`write_log.rs`). Called before each read revm asks for.
    fn check_stale(&mut self) -> Result<(), VmReadError> {
        if self.recording
            && self
                .listener
                .stale(self.mv, &self.reads, self.tx, LISTEN_AFTER)
        {
            Err(VmReadError::Stale)
        } else {
            Ok(())
        }
    }

    /// The account's base state (pre-state plus pre-block system calls).
    fn base_info(&mut self, address: Address) -> Option<&AccountInfo> {
        if self.base_memo.as_ref().map(|(a, _)| *a) != Some(address) {
            self.base_memo = Some((address, self.base.info(address)));
        }
        self.base_memo.as_ref().and_then(|(_, info)| info.as_ref())
    }

    /// The transaction below that last wrote `address`'s existence (wiping its storage), if
    /// any. revm asks for an account's slots one after another: the answer is kept for the
    /// run, so that each slot costs one lookup in the memory, not two (the read set holds
    /// the first observation of a location in any case).
    fn wipe_of(&mut self, address: Address) -> Result<Option<TxIdx>, VmReadError> {
        if let Some((memo, wipe)) = self.wipe_memo
            && memo == address
        {
            return Ok(wipe);
        }
        let wipe = match self.read(Location::Existence(address))? {
            Some((_, writer)) => writer,
            None => None,
        };
        self.wipe_memo = Some((address, wipe));
        Ok(wipe)
    }

    /// Hands over the read set, exactly sized: it is kept until the block ends, while this
    /// buffer, at the largest size so far, records the worker's next one.
    fn take_reads(&mut self) -> ReadSet {
        self.reads.take()
    }

    /// Records the read of `location` (the first read of each location counts).
    fn note(&mut self, location: Location, observed: Observed) {
        if self.recording {
            self.reads.note(location, observed);
        }
    }

    /// Reads a non-balance location; `Ok(None)` means "from the base state".
    fn read(
        &mut self,
        location: Location,
    ) -> Result<Option<(MvValue, Option<TxIdx>)>, VmReadError> {
        let read = self.mv.read(&location, self.tx);
        self.take(location, read)
    }

    /// Records `read` of non-balance `location` in the read set and returns its value;
    /// `Ok(None)` means "from the base state".
    fn take(
        &mut self,
        location: Location,
        read: Read,
    ) -> Result<Option<(MvValue, Option<TxIdx>)>, VmReadError> {
        match read {
            Read::Blocked(tx) => Err(VmReadError::Blocked(tx)),
            Read::Base => {
                self.note(location, Observed::Base);
                Ok(None)
            }
            Read::Found { value, observed } => {
                let writer = observed.writer();
                self.note(location, observed);
                Ok(Some((value, writer)))
            }
            Read::BaseWithCredit { .. } => Err(VmReadError::WrongKind(location)),
        }
    }

    /// Whether the account exists, as of this transaction.
    ///
    /// An account is absent when its last existence write (or the base state) says so,
    /// unless a lazy credit (a beneficiary's fee) was applied to it since: a credit brings an
    /// absent account into existence without an existence write, so that transactions paying
    /// a new beneficiary do not depend on the first one through its existence.
    pub(crate) fn exists(&mut self, address: Address) -> Result<bool, VmReadError> {
        let existence = self.mv.read(&Location::Existence(address), self.tx);
        self.exists_from(address, existence, &mut None)
    }

    /// [`VmDb::exists`] from the read of the account's existence, and of its balance when
    /// the caller has it (read under the same lock); the balance is taken from `balance`
    /// (or read), and recorded, only if the existence says absent.
    fn exists_from(
        &mut self,
        address: Address,
        existence: Read,
        balance: &mut Option<Read>,
    ) -> Result<bool, VmReadError> {
        let location = Location::Existence(address);
        let exists = match self.take(location, existence)? {
            Some((MvValue::Existence(exists), _)) => exists,
            Some(_) => return Err(VmReadError::WrongKind(location)),
            None => self.base_info(address).is_some(),
        };
        if exists {
            return Ok(true);
        }
        let location = Location::Balance(address);
        let balance = balance
            .take()
            .unwrap_or_else(|| self.mv.read(&location, self.tx));
        match balance {
            Read::Blocked(tx) => Err(VmReadError::Blocked(tx)),
            Read::Base => {
                self.note(location, Observed::Base);
                Ok(false)
            }
            Read::Found { observed, .. } | Read::BaseWithCredit { observed, .. } => {
                // Credits are never zero, so any credit above the last full write means the
                // account holds a balance and exists.
                let credited = matches!(&observed, Observed::Credits(_));
                self.note(location, observed);
                if credited && !self.credit_born.contains(&address) {
                    self.credit_born.push(address);
                }
                Ok(credited)
            }
        }
    }

    /// The exact balance, credits of lower transactions summed in.
    pub(crate) fn balance(&mut self, address: Address) -> Result<U256, VmReadError> {
        let read = self.mv.read(&Location::Balance(address), self.tx);
        self.balance_from(address, read)
    }

    /// [`VmDb::balance`] from the read of the account's balance.
    fn balance_from(&mut self, address: Address, read: Read) -> Result<U256, VmReadError> {
        let location = Location::Balance(address);
        let base = |db: &mut Self| db.base_info(address).map(|i| i.balance).unwrap_or_default();
        match read {
            Read::Blocked(tx) => Err(VmReadError::Blocked(tx)),
            Read::Base => {
                let b = base(self);
                self.note(location, Observed::Base);
                Ok(b)
            }
            Read::BaseWithCredit { credit, observed } => {
                let b = base(self);
                self.note(location, observed);
                Ok(b.wrapping_add(credit))
            }
            Read::Found {
                value: MvValue::Balance(b),
                observed,
            } => {
                self.note(location, observed);
                Ok(b)
            }
            Read::Found { .. } => Err(VmReadError::WrongKind(location)),
        }
    }

    pub(crate) fn nonce(&mut self, address: Address) -> Result<u64, VmReadError> {
        let read = self.mv.read(&Location::Nonce(address), self.tx);
        self.nonce_from(address, read)
    }

    fn nonce_from(&mut self, address: Address, read: Read) -> Result<u64, VmReadError> {
        let location = Location::Nonce(address);
        Ok(match self.take(location, read)? {
            Some((MvValue::Nonce(n), _)) => n,
            Some(_) => return Err(VmReadError::WrongKind(location)),
            None => self.base_info(address).map(|i| i.nonce).unwrap_or_default(),
        })
    }

    pub(crate) fn code(
        &mut self,
        address: Address,
    ) -> Result<(B256, Option<Bytecode>), VmReadError> {
        let read = self.mv.read(&Location::Code(address), self.tx);
        self.code_from(address, read)
    }

    fn code_from(
        &mut self,
        address: Address,
        read: Read,
    ) -> Result<(B256, Option<Bytecode>), VmReadError> {
        let location = Location::Code(address);
        Ok(match self.take(location, read)? {
            Some((MvValue::Code(hash), _)) => match self.codes.get(hash) {
                Some(code) => (hash, Some(code)),
                None => return Err(VmReadError::UnregisteredCode(hash)),
            },
            Some(_) => return Err(VmReadError::WrongKind(location)),
            None => match self.base_info(address) {
                Some(info) => (info.code_hash, info.code.clone()),
                None => (KECCAK_EMPTY, None),
            },
        })
    }
}

impl Database for VmDb<'_> {
    type Error = VmReadError;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        self.check_stale()?;
        // The locations under one lock; each is recorded only if it is used, in the order
        // the fields are consulted.
        // The lazy candidate's balance is read only if it has code (then it is no plain
        // transfer's recipient after all).
        let candidate = self.lazy_candidate == Some(address);
        let read = self.mv.read_account(address, self.tx, !candidate);
        let mut balance_read = read.balance;
        if !self.exists_from(address, read.existence, &mut balance_read)? {
            self.loaded.insert(address, None);
            return Ok(None);
        }
        let nonce = self.nonce_from(address, read.nonce)?;
        let (code_hash, code) = self.code_from(address, read.code)?;
        let no_code = code_hash == KECCAK_EMPTY;
        let balance = if self.lazy_candidate == Some(address) && no_code {
            self.lazy_recipient = Some(address);
            U256::ZERO
        } else {
            match balance_read {
                Some(read) => self.balance_from(address, read)?,
                // Not read with the others (the lazy candidate), or taken for an absent
                // account: read now.
                None => self.balance(address)?,
            }
        };
        let info = AccountInfo::new(balance, nonce, code_hash, code.unwrap_or_default());
        self.loaded.insert(address, Some(info.clone()));
        Ok(Some(info))
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        if let Some(code) = self
            .codes
            .0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&code_hash)
        {
            return Ok(code.clone());
        }
        Ok(self.base.pre.code_by_hash_ref(code_hash)?)
    }

    fn storage(&mut self, address: Address, slot: U256) -> Result<U256, Self::Error> {
        self.check_stale()?;
        let location = Location::Storage(address, slot);
        let slot_write = self.read(location)?;
        let wipe = self.wipe_of(address)?;
        Ok(match slot_write {
            // A write older than the last wipe (or re-creation) is gone.
            Some((MvValue::Storage(value), writer)) => {
                if writer >= wipe {
                    value
                } else {
                    U256::ZERO
                }
            }
            Some(_) => return Err(VmReadError::WrongKind(location)),
            None if wipe.is_some() => U256::ZERO,
            None => self.base.storage(address, slot),
        })
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Self::Error> {
        Ok(self.base.pre.block_hash_ref(number)?)
    }
}

/// revm's mainnet handler, except that the beneficiary is not paid inside revm: the fee is
/// computed exactly as `reward_beneficiary` would and kept for a lazy credit.
pub(crate) struct LazyHandler<EVM, ERROR, FRAME> {
    inner: MainnetHandler<EVM, ERROR, FRAME>,
    /// The fee the beneficiary is owed by this transaction.
    pub(crate) fee: Cell<U256>,
}

impl<EVM, ERROR, FRAME> Default for LazyHandler<EVM, ERROR, FRAME> {
    fn default() -> Self {
        Self {
            inner: MainnetHandler::default(),
            fee: Cell::new(U256::ZERO),
        }
    }
}

impl<EVM, ERROR, FRAME> Handler for LazyHandler<EVM, ERROR, FRAME>
where
    EVM: EvmTr<Context: ContextTr<Journal: JournalTr<State = EvmState>>, Frame = FRAME>,
    ERROR: EvmTrError<EVM>,
    FRAME: FrameTr<FrameResult = FrameResult, FrameInit = FrameInit>,
{
    type Evm = EVM;
    type Error = ERROR;
    type HaltReason = HaltReason;

    fn reward_beneficiary(
        &self,
        evm: &mut Self::Evm,
        exec_result: &mut FrameResult,
    ) -> Result<(), Self::Error> {
        let _ = &self.inner;
        let ctx = evm.ctx_ref();
        if ctx.cfg().is_fee_charge_disabled() {
            return Ok(());
        }
        let basefee = ctx.block().basefee() as u128;
        let effective_gas_price = ctx.tx().effective_gas_price(basefee);
        let coinbase_gas_price = if ctx.cfg().spec().into().is_enabled_in(SpecId::LONDON) {
            effective_gas_price.saturating_sub(basefee)
        } else {
            effective_gas_price
        };
        let gas = exec_result.gas();
        let used = gas.used().saturating_sub(gas.reservoir());
        self.fee.set(U256::from(coinbase_gas_price * used as u128));
        Ok(())
    }
}

/// What one incarnation produced.
#[derive(Debug)]
pub(crate) struct Execution {
    /// revm's result, or the reason the transaction is invalid against the state it read.
    /// revm's state output is not kept: the write set holds what it changed.
    pub(crate) result: Result<ExecutionResult, String>,
    /// Read set.
    pub(crate) reads: ReadSet,
    /// Write set.
    pub(crate) writes: Vec<(Location, MvValue)>,
    /// What the commit needs of a final incarnation, built by the worker that ran it
    /// ([`IncarnationOutput::finalize`]); `None` for any other, whose trace and bloom are
    /// built after the worker loop.
    pub(crate) finalized: Option<Box<Finalized>>,
}

impl IncarnationOutput for Execution {
    fn reads(&self) -> &ReadSet {
        &self.reads
    }

    fn writes(&self) -> &[(Location, MvValue)] {
        &self.writes
    }

    /// Builds the trace's read set (the read set is freed) and the logs' bloom.
    fn finalize(&mut self) {
        if self.finalized.is_some() {
            return;
        }
        let reads = std::mem::take(&mut self.reads);
        let bloom = match &self.result {
            Ok(result) if bloom_shared(result.logs()) => FinalBloom::Shared,
            Ok(result) => FinalBloom::Built(bloom_of(result.logs()).map(Box::new)),
            Err(_) => FinalBloom::Built(None),
        };
        self.finalized = Some(Box::new(Finalized {
            reads: TraceReads::of(&reads),
            bloom,
        }));
    }
}

/// The block-wide inputs of every execution.
pub(crate) struct BlockContext<'a> {
    pub(crate) base: BaseState<'a>,
    pub(crate) cfg: CfgEnv,
    pub(crate) block: BlockEnv,
    pub(crate) codes: NewCodes,
}

/// Whether `tx` is a plain value transfer whose recipient may be credited lazily: a call
/// with value, not to itself, not to the beneficiary, not to a precompile, of a transaction
/// type that cannot change code (EIP-7702 authorizations can).
fn lazy_candidate(tx: &TxEnvelope, sender: Address, beneficiary: Address) -> Option<Address> {
    let to = tx.to()?;
    let plain = !tx.value().is_zero()
        && to != sender
        && to != beneficiary
        && to.0[..18].iter().any(|b| *b != 0)
        && !matches!(tx, TxEnvelope::Eip7702(_));
    plain.then_some(to)
}

/// revm's EVM over one worker's [`VmDb`]: the mainnet context, with alloy-evm's precompile
/// provider (the oracle's, so that halts read the same).
type WorkerEvm<'a> = Evm<
    MainnetContext<VmDb<'a>>,
    (),
    EthInstructions<EthInterpreter, MainnetContext<VmDb<'a>>>,
    PrecompilesMap,
    EthFrame<EthInterpreter>,
>;

/// The call frames of a worker's revm, each with its interpreter's 1024-word stack.
type Frames = FrameStack<EthFrame<EthInterpreter>>;

thread_local! {
    /// The frames of the last [`WorkerVm`] this thread dropped, for the next one it builds.
    static SPARE_FRAMES: Cell<Option<Frames>> = const { Cell::new(None) };
}

/// One worker's revm, built once per block and reused by every incarnation the worker runs:
/// building an EVM allocates its frame stack (each frame with a 1024-word stack), which cost
/// as much as a plain transfer's whole execution when it was done per incarnation. The
/// frames also outlive the block: a worker's thread keeps them for its next block's EVM
/// (`SPARE_FRAMES`), because allocating and freeing eight of them cost a one-transaction
/// block about as much as its transaction (mainnet 46147: 14,500 of its 90,100
/// instructions, docs/benchmarks-history.md, item 61).
///
/// Reuse is sound because nothing of one incarnation survives into the next: revm's journal
/// is reset by `finalize` after every run (also after an error, which `discard_tx`s first),
/// and the database's per-incarnation fields are reset by `VmDb::start`. Nor does anything
/// of one block survive in its frames: revm itself reuses a frame for every call at its
/// depth, and clears every field of it (`EthFrame::clear`) before each call, whatever the
/// EVM or the spec; the call memory is the context's, not the frame's.
pub(crate) struct WorkerVm<'a> {
    ctx: &'a BlockContext<'a>,
    evm: WorkerEvm<'a>,
    /// The write set being collected, handed over exactly sized (as the read set, see
    /// `VmDb::take_reads`).
    writes: Vec<(Location, MvValue)>,
}

impl Drop for WorkerVm<'_> {
    /// Leaves the frames to the thread's next worker EVM. They are as many as the deepest
    /// call of the blocks this thread ran needed (eight usually, 1,025 at most: revm's call
    /// depth limit, held by that block's worker for its span anyway).
    fn drop(&mut self) {
        let frames = std::mem::replace(&mut self.evm.frame_stack, FrameStack::new_prealloc(0));
        SPARE_FRAMES.set(Some(frames));
    }
}

impl<'a> WorkerVm<'a> {
    /// A worker's EVM for the block `ctx` over the multi-version memory `mv`.
    pub(crate) fn new(ctx: &'a BlockContext<'a>, mv: &'a MvMemory) -> Self {
        let db = VmDb::new(0, mv, &ctx.base, &ctx.codes, None);
        // What `build_mainnet` builds, with the thread's spare frames when it has them
        // rather than eight new ones (revm's `asyncdb` feature, off in this workspace, would
        // add a field here).
        let spec = ctx.cfg.spec;
        let evm = Evm {
            ctx: Context::mainnet()
                .with_db(db)
                .with_block(ctx.block.clone())
                .with_cfg(ctx.cfg.clone()),
            inspector: (),
            instruction: EthInstructions::new_mainnet_with_spec(spec),
            precompiles: PrecompilesMap::from_static(Precompiles::new(
                PrecompileSpecId::from_spec_id(spec),
            )),
            frame_stack: SPARE_FRAMES
                .take()
                .unwrap_or_else(|| FrameStack::new_prealloc(8)),
        };
        Self {
            ctx,
            evm,
            writes: Vec::new(),
        }
    }

    /// Executes transaction `index` once over the multi-version memory.
    ///
    /// A read the archive cannot answer (a missing ancestor hash or code) does not end the
    /// block: it is this incarnation's outcome, an invalid transaction with an empty write
    /// set, whose read set holds every read made before it. A speculative incarnation can
    /// ask for such a value only because it read a stale one (a BLOCKHASH argument or an
    /// address written by an earlier transaction); validation then finds that read changed
    /// and re-executes it. Only if the last, validated incarnation still fails does the
    /// commit phase report it, as the sequential replay reports the same read.
    ///
    /// # Errors
    /// [`Interrupted::Blocked`] when a read met an ESTIMATE: this incarnation waits for that
    /// transaction's re-execution; [`Interrupted::Invariant`] when the multi-version memory
    /// broke an invariant.
    pub(crate) fn execute(
        &mut self,
        index: TxIdx,
        tx: &TxEnvelope,
        sender: Address,
    ) -> Result<Execution, Interrupted> {
        let ctx = self.ctx;
        let beneficiary = ctx.block.beneficiary;
        let evm = &mut self.evm;
        evm.ctx
            .journaled_state
            .database
            .start(index, lazy_candidate(tx, sender, beneficiary));
        evm.ctx.set_tx(TxEnv::from_recovered_tx(tx, sender));
        let mut handler: LazyHandler<_, EVMError<VmReadError>, _> = LazyHandler::default();
        let outcome = handler.run(evm);
        evm.ctx.journaled_state.database.stop_listening();
        // Also after an error: the journal is then already discarded, and this resets it.
        let state = evm.ctx.journal_mut().finalize();
        let fee = handler.fee.get();
        let db = &mut evm.ctx.journaled_state.database;
        // Worded as the oracle words it (alloy-evm's block executor).
        let hash = tx.trie_hash();
        let mut result = match outcome {
            Ok(result) => Ok(result),
            Err(EVMError::Database(VmReadError::PreState(e))) => Err(read_failure(e, hash)),
            Err(EVMError::Database(e)) => return Err(e.into()),
            Err(e) => Err(BlockExecutionError::evm(e, hash).to_string()),
        };
        let spec = ctx.cfg.spec;
        // Emptied first: an execution that ended with an error left its writes behind.
        let writes = &mut self.writes;
        writes.clear();
        if result.is_ok() {
            collect_writes(&state, db, spec, &ctx.codes, writes);
            let selfdestructed = state
                .get(&beneficiary)
                .is_some_and(|account| account.is_selfdestructed());
            match credit_beneficiary(db, beneficiary, fee, selfdestructed, spec, writes) {
                Ok(()) => {}
                Err(VmReadError::PreState(e)) => {
                    writes.clear();
                    result = Err(read_failure(e, hash));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Execution {
            result,
            reads: db.take_reads(),
            writes: hand_over(writes),
            finalized: None,
        })
    }
}

/// A read the archive could not answer, worded as the oracle's executor words it: its
/// database is revm's `State`, which wraps the pre-state's error.
fn read_failure(error: PreStateError, hash: B256) -> String {
    let error: EVMError<EvmDatabaseError<PreStateError>> =
        EVMError::Database(EvmDatabaseError::Database(error));
    BlockExecutionError::evm(error, hash).to_string()
}

/// Turns revm's state output into the write set.
fn collect_writes(
    state: &EvmState,
    db: &VmDb<'_>,
    spec: SpecId,
    codes: &NewCodes,
    writes: &mut Vec<(Location, MvValue)>,
) {
    for (address, account) in state {
        if !account.is_touched() {
            continue;
        }
        let address = *address;
        // An account that exists only through credits has no existence write yet: changing
        // it writes one, as for a newly created account.
        let pre_exists = !account.is_loaded_as_not_existing() && !db.credit_born.contains(&address);
        let post_exists = !(account.is_selfdestructed()
            || (spec.is_enabled_in(SpecId::SPURIOUS_DRAGON) && account.is_empty()));
        let info = &account.info;
        let code_write = || {
            codes.register(info.code_hash, &info.code.clone().unwrap_or_default());
            MvValue::Code(info.code_hash)
        };
        if pre_exists != post_exists || account.is_created() {
            writes.push((
                Location::Existence(address),
                MvValue::Existence(post_exists),
            ));
            if post_exists {
                writes.push((Location::Balance(address), MvValue::Balance(info.balance)));
                writes.push((Location::Nonce(address), MvValue::Nonce(info.nonce)));
                writes.push((Location::Code(address), code_write()));
                for (slot, value) in account.changed_storage_slots() {
                    writes.push((
                        Location::Storage(address, *slot),
                        MvValue::Storage(value.present_value),
                    ));
                }
            } else {
                writes.push((Location::Balance(address), MvValue::Balance(U256::ZERO)));
                writes.push((Location::Nonce(address), MvValue::Nonce(0)));
                writes.push((Location::Code(address), MvValue::Code(KECCAK_EMPTY)));
            }
            continue;
        }
        if !post_exists {
            continue;
        }
        let loaded = db.loaded.get(&address).cloned().flatten();
        if db.lazy_recipient == Some(address) {
            if !info.balance.is_zero() {
                writes.push((
                    Location::Balance(address),
                    MvValue::BalanceCredit(info.balance),
                ));
            }
        } else if loaded.as_ref().map(|l| l.balance) != Some(info.balance) {
            writes.push((Location::Balance(address), MvValue::Balance(info.balance)));
        }
        if loaded.as_ref().map(|l| l.nonce) != Some(info.nonce) {
            writes.push((Location::Nonce(address), MvValue::Nonce(info.nonce)));
        }
        if loaded.as_ref().map(|l| l.code_hash) != Some(info.code_hash) {
            writes.push((Location::Code(address), code_write()));
        }
        for (slot, value) in account.changed_storage_slots() {
            writes.push((
                Location::Storage(address, *slot),
                MvValue::Storage(value.present_value),
            ));
        }
    }
}

/// Adds the beneficiary's fee to the write set: folded into a full balance write when the
/// transaction wrote the balance, a lazy credit when the account exists, full writes when
/// the payment creates it. A zero fee still touches the beneficiary (EIP-161 may delete it
/// when empty), exactly as revm's `reward_beneficiary` does.
///
/// A beneficiary this transaction deleted is one of two cases. Self-destructed
/// (`selfdestructed`): revm pays the fee to the doomed account and the commit deletes it
/// with the fee, so the fee burns and the account stays deleted. Deleted as empty under
/// EIP-161 only because it was not paid yet (the lazy fee): paid, it is not empty, so it
/// exists again with just the fee.
fn credit_beneficiary(
    db: &mut VmDb<'_>,
    beneficiary: Address,
    fee: U256,
    selfdestructed: bool,
    spec: SpecId,
    writes: &mut Vec<(Location, MvValue)>,
) -> Result<(), VmReadError> {
    let balance_location = Location::Balance(beneficiary);
    if writes
        .iter()
        .any(|(l, v)| *l == Location::Existence(beneficiary) && *v == MvValue::Existence(false))
    {
        if !selfdestructed && !fee.is_zero() {
            writes
                .retain(|(l, _)| l.address() != beneficiary || matches!(l, Location::Storage(..)));
            push_created(beneficiary, fee, writes);
        }
        return Ok(());
    }
    if let Some((_, MvValue::Balance(full))) = writes
        .iter_mut()
        .find(|(location, _)| *location == balance_location)
    {
        *full += fee;
        return Ok(());
    }
    if !fee.is_zero() {
        // A credit, whether or not the account exists yet (see `VmDb::exists`).
        writes.push((balance_location, MvValue::BalanceCredit(fee)));
        return Ok(());
    }
    let exists = db.exists(beneficiary)?;
    let state_clear = spec.is_enabled_in(SpecId::SPURIOUS_DRAGON);
    if !exists {
        // A zero fee touches an absent beneficiary: before EIP-161 that creates it.
        if !state_clear {
            push_created(beneficiary, fee, writes);
        }
        return Ok(());
    }
    if state_clear {
        // Touched with nothing: deleted if empty. Nonce and code decide first, so the
        // balance (and its credits) is read only when they cannot.
        let empty = db.nonce(beneficiary)? == 0
            && db.code(beneficiary)?.0 == KECCAK_EMPTY
            && db.balance(beneficiary)?.is_zero();
        if empty {
            writes.push((Location::Existence(beneficiary), MvValue::Existence(false)));
            writes.push((balance_location, MvValue::Balance(U256::ZERO)));
            writes.push((Location::Nonce(beneficiary), MvValue::Nonce(0)));
            writes.push((Location::Code(beneficiary), MvValue::Code(KECCAK_EMPTY)));
        }
    }
    Ok(())
}

fn push_created(address: Address, balance: U256, writes: &mut Vec<(Location, MvValue)>) {
    writes.push((Location::Existence(address), MvValue::Existence(true)));
    writes.push((Location::Balance(address), MvValue::Balance(balance)));
    writes.push((Location::Nonce(address), MvValue::Nonce(0)));
    writes.push((Location::Code(address), MvValue::Code(KECCAK_EMPTY)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Version;

    /// A block context over an empty pre-state, at `spec`.
    fn context(pre: &PreState, spec: SpecId) -> BlockContext<'_> {
        BlockContext {
            base: BaseState {
                pre,
                overlay: AddressMap::default(),
            },
            cfg: CfgEnv::new_with_spec(spec),
            block: BlockEnv::default(),
            codes: NewCodes::default(),
        }
    }

    #[test]
    fn a_threads_next_worker_evm_takes_the_frames_the_last_one_left() {
        let pre = PreState::new();
        let mv = MvMemory::new();
        // This test's thread starts without spare frames; its first EVM builds its own.
        SPARE_FRAMES.take();
        let cancun = context(&pre, SpecId::CANCUN);
        drop(WorkerVm::new(&cancun, &mv));
        let Some(left) = SPARE_FRAMES.take() else {
            panic!("a dropped worker EVM left no frames")
        };
        SPARE_FRAMES.set(Some(left));
        // The next block's EVM, even at another fork, takes them rather than building its
        // own, and leaves them again when dropped.
        let frontier = context(&pre, SpecId::FRONTIER);
        let vm = WorkerVm::new(&frontier, &mv);
        assert!(
            SPARE_FRAMES.take().is_none(),
            "the spare frames were not taken"
        );
        drop(vm);
        assert!(SPARE_FRAMES.take().is_some());
    }

    /// An incarnation stops ([`VmReadError::Stale`]) at its next read once a lower
    /// transaction records a write to a slot it read, but only after its
    /// [`LISTEN_AFTER`]-th read; a higher transaction's write, or a lower one's to a slot it
    /// did not read, does not stop it.
    #[test]
    fn a_read_made_stale_by_a_lower_write_stops_the_incarnation() {
        let pre = PreState::new();
        let mv = MvMemory::new().with_write_log();
        let ctx = context(&pre, SpecId::CANCUN);
        let contract = Address::repeat_byte(0xc0);
        let slot = |i: u64| Location::Storage(contract, U256::from(i));
        let write = |tx: TxIdx, i: u64| {
            let version = Version { tx, incarnation: 0 };
            mv.record(version, &[(slot(i), MvValue::Storage(U256::from(7)))], &[]);
        };
        let mut db = VmDb::new(5, &mv, &ctx.base, &ctx.codes, None);
        db.start(5, None);
        // Reads of slots 0, 1, 2, ... until it listens; lower writes before then are
        // caught by the check of everything read so far.
        for i in 0..u64::from(LISTEN_AFTER) - 1 {
            assert_eq!(db.storage(contract, U256::from(i)), Ok(U256::ZERO));
        }
        // Listening now: nothing changed yet.
        assert_eq!(db.storage(contract, U256::from(100)), Ok(U256::ZERO));
        // A higher transaction's write, and a lower one's to a slot not read: no stop.
        write(9, 0);
        write(2, 200);
        assert_eq!(db.storage(contract, U256::from(101)), Ok(U256::ZERO));
        // A lower transaction's write to a slot read: the next read stops.
        write(3, 1);
        assert_eq!(
            db.storage(contract, U256::from(102)),
            Err(VmReadError::Stale)
        );
        // The incarnation again, from the start: it reads the write.
        db.start(5, None);
        assert_eq!(db.storage(contract, U256::from(1)), Ok(U256::from(7)));
        db.stop_listening();
    }
}
