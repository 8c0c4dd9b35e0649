//! Random blocks from a grammar of transaction kinds, under any fork from Frontier to Osaka:
//! the input of the differential test (parallel against sequential on blocks nobody wrote by
//! hand).
//!
//! A block is a seeded sequence of [`Kind`]s over a fixed cast of contracts, small
//! hand-assembled programs (`bytecode.rs`): a token pair and its pool, a BLOCKHASH
//! reader, a child factory, a contract that always fails, a forwarder and a key-value store;
//! funded senders that often send more than one transaction, a hot recipient and a
//! beneficiary that is sometimes a sender or the hot recipient. Transactions are legacy
//! (without EIP-155 before Spurious Dragon, mostly with it after), EIP-2930 from Berlin,
//! EIP-1559 from London and EIP-7702 (delegations) from Prague, with random access lists;
//! from Shanghai on, blocks have a few withdrawals. Sealing replays the block sequentially,
//! so headers verify, and the pre-state holds only the ancestor hashes the sequential
//! execution asks BLOCKHASH for (and the parent's), as an archive holds them: an execution
//! that reads a stale offset asks for another.
//!
//! The generator keeps a model of the state (token balances, pool reserves, the BLOCKHASH
//! offset, created children) so that each kind does what its name says:
//! [`RandomBlock::unexpected`] lists the transactions whose status contradicts their kind
//! ([`Kind::succeeds`]), and the tests check that it is empty.

use alloy_eips::eip2930::{AccessList, AccessListItem};
use alloy_primitives::{
    Address, B256, Bytes, TxKind, U256, address, keccak256,
    map::{HashMap, HashSet},
};
use revm::bytecode::Bytecode;

use replay_evm::{
    block::ArchivedBlock,
    chain::{ChainSpec, Fork},
    sequential::TxStatus,
};

use crate::{
    builder::{BLOCK_NUMBER, Builder, ETHER, Rng, TxSpec, TxType, seeded_hash},
    bytecode::{self, factory_op},
    error::WorkloadError,
};

/// The first token of the random blocks (the second is the next address).
pub const TOKEN0: Address = address!("0x00000000000000000000000000000000d1ff0001");
/// The second token.
pub const TOKEN1: Address = address!("0x00000000000000000000000000000000d1ff0002");
/// The constant-product pool of [`TOKEN0`] and [`TOKEN1`].
pub const POOL: Address = address!("0x00000000000000000000000000000000d1ff0003");
/// The BLOCKHASH reader.
pub const HASHER: Address = address!("0x00000000000000000000000000000000d1ff0004");
/// The child factory (CREATE, CREATE2, and self-destruct in the same call).
pub const FACTORY: Address = address!("0x00000000000000000000000000000000d1ff0005");
/// A contract that always fails after a write (out of gas, or revert).
pub const FAILER: Address = address!("0x00000000000000000000000000000000d1ff0006");
/// The forwarder (value calls to any address, balance probes).
pub const FORWARDER: Address = address!("0x00000000000000000000000000000000d1ff0007");
/// The key-value store (slot sets and clears).
pub const KV: Address = address!("0x00000000000000000000000000000000d1ff0008");
/// A child deployed before the block (with storage and a balance).
pub const OLD_CHILD: Address = address!("0x00000000000000000000000000000000d1ff0009");
/// The hot recipient of transfers.
pub const HOT: Address = address!("0x00000000000000000000000000000000d1ff000a");

/// Random stream of the random blocks.
const STREAM: u64 = 201;
/// Random stream of their withdrawals (apart, so that adding them changed no transaction).
const WITHDRAWAL_STREAM: u64 = 202;
/// Gas limit of a contract call.
const GAS_CALL: u64 = 300_000;
/// Gas limit of a factory call or a creating transaction.
const GAS_CREATE: u64 = 1_000_000;
/// Gas limit of a CREATE2 factory call. A CREATE2 that collides with an existing account
/// consumes all the gas it was given (all but 1/64 of what is left), so the call needs 64
/// times what it does after the CREATE2 (a call and a store).
const GAS_CREATE2: u64 = 4_000_000;
/// Gas limit of a plain transfer.
const GAS_TRANSFER: u64 = 21_000;
/// Gas limit of a plain transfer to an account delegated with EIP-7702 (its delegate's code
/// runs).
const GAS_TRANSFER_TO_DELEGATED: u64 = 80_000;
/// Slots 0..KV_SLOTS of the key-value store are in play (half of them non-zero before).
const KV_SLOTS: u64 = 12;

/// One kind of transaction of the grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// ETH to a fresh address (which may already hold some).
    Transfer,
    /// ETH to another sender of the block.
    TransferToSender,
    /// ETH to the hot recipient.
    TransferToHot,
    /// ETH to the block's beneficiary.
    TransferToBeneficiary,
    /// A zero-value transaction to a fresh address (EIP-161: no account is created from
    /// Spurious Dragon on).
    ZeroValueToFresh,
    /// A token transfer to another sender, a fresh address or the hot recipient.
    Erc20Transfer,
    /// A token transfer of the sender's whole balance (its slot is cleared: a refund).
    Erc20TransferAll,
    /// A token transfer of more than the balance: reverts.
    Erc20Overdraft,
    /// A swap in the pool, with the exact expected output as minimum.
    Swap,
    /// A swap whose minimum output is one more than it gets: reverts.
    SwapSlippage,
    /// A transaction that creates a child.
    CreateTx,
    /// A transaction whose init code self-destructs: created and destroyed in one
    /// transaction.
    CreateAndDestroyTx,
    /// The factory CREATEs a child.
    FactoryCreate,
    /// The factory CREATE2s a child (from Petersburg), with a new salt or, half the time,
    /// one already used in the block.
    FactoryCreate2,
    /// The factory CREATEs a child that self-destructs in the same call.
    FactoryCreateAndDestroy,
    /// The factory CREATE2s a child that self-destructs in the same call (from Petersburg).
    FactoryCreate2AndDestroy,
    /// The factory CREATE2s with the salt used last in the block: a redeploy at an address
    /// that was self-destructed (or a collision with a child that still exists).
    Create2Redeploy,
    /// A call (with value) to the child created last, or to the old child.
    CallChild,
    /// The child created last (or the old child) self-destructs: in a later transaction than
    /// its creation.
    DestroyChild,
    /// A random child (the old one included) self-destructs, to a random beneficiary.
    DestroyAnyChild,
    /// Sets the BLOCKHASH reader's offset, after a long loop (the write comes late).
    BlockhashSetOffset,
    /// Reads BLOCKHASH(NUMBER − 1 − offset): which ancestor depends on the last offset set.
    BlockhashRead,
    /// Reads BLOCKHASH of a fixed number: in the window, the current block, a future one, or
    /// one too old.
    BlockhashAbsolute,
    /// The forwarder calls a fresh address with no value.
    ZeroValueCall,
    /// The forwarder sends value to a fresh address or a sender.
    ValueCall,
    /// The forwarder stores the balance of the hot recipient, the beneficiary, a sender or a
    /// fresh address (reads lazily credited balances).
    BalanceProbe,
    /// Writes, then reverts.
    Revert,
    /// Writes, then runs out of gas.
    OutOfGas,
    /// Sets key-value slots to non-zero values.
    SlotSet,
    /// Clears key-value slots (a refund where they were set).
    SlotClear,
    /// Sets a slot and clears or restores it in the same transaction.
    SlotSetAndClear,
    /// An EIP-7702 transaction (from Prague): a sender (itself, or another) delegates its
    /// account to the key-value store or the forwarder, or clears its delegation, and the
    /// transaction calls it with key-value pairs.
    Delegate,
}

impl Kind {
    /// Every kind, with its weight in [`generate`]'s draw.
    pub const WEIGHTED: [(Self, u64); 32] = [
        (Self::Transfer, 6),
        (Self::TransferToSender, 4),
        (Self::TransferToHot, 4),
        (Self::TransferToBeneficiary, 2),
        (Self::ZeroValueToFresh, 2),
        (Self::Erc20Transfer, 6),
        (Self::Erc20TransferAll, 2),
        (Self::Erc20Overdraft, 1),
        (Self::Swap, 6),
        (Self::SwapSlippage, 1),
        (Self::CreateTx, 2),
        (Self::CreateAndDestroyTx, 2),
        (Self::FactoryCreate, 2),
        (Self::FactoryCreate2, 2),
        (Self::FactoryCreateAndDestroy, 2),
        (Self::FactoryCreate2AndDestroy, 2),
        (Self::Create2Redeploy, 2),
        (Self::CallChild, 3),
        (Self::DestroyChild, 3),
        (Self::DestroyAnyChild, 1),
        (Self::BlockhashSetOffset, 3),
        (Self::BlockhashRead, 4),
        (Self::BlockhashAbsolute, 2),
        (Self::ZeroValueCall, 2),
        (Self::ValueCall, 2),
        (Self::BalanceProbe, 3),
        (Self::Revert, 2),
        (Self::OutOfGas, 2),
        (Self::SlotSet, 3),
        (Self::SlotClear, 2),
        (Self::SlotSetAndClear, 2),
        (Self::Delegate, 3),
    ];

    /// Whether `fork` has what the kind needs (CREATE2 from Petersburg, EIP-7702 from
    /// Prague).
    pub fn available(self, fork: Fork) -> bool {
        match self {
            Self::FactoryCreate2 | Self::FactoryCreate2AndDestroy | Self::Create2Redeploy => {
                fork >= Fork::Petersburg
            }
            Self::Delegate => fork >= Fork::Prague,
            _ => true,
        }
    }

    /// Whether a transaction of this kind succeeds (the others revert, or halt).
    pub fn succeeds(self) -> bool {
        !matches!(
            self,
            Self::Erc20Overdraft | Self::SwapSlippage | Self::Revert | Self::OutOfGas
        )
    }
}

/// A generated block and what the generator knows of it.
#[derive(Debug, Clone)]
pub struct RandomBlock {
    /// The block, ready to replay and verify under `chain`.
    pub block: ArchivedBlock,
    /// A chain on which every fork up to `fork` is active from genesis.
    pub chain: ChainSpec,
    /// The fork governing the block.
    pub fork: Fork,
    /// Each transaction's kind.
    pub kinds: Vec<Kind>,
    /// The contracts the block's transactions create (or try to), in order, with the index
    /// of the creating transaction.
    pub created: Vec<(usize, Address)>,
}

impl RandomBlock {
    /// The transactions whose sequential status contradicts their kind, as
    /// `(index, kind, status)`: a generator bug when not empty.
    pub fn unexpected(&self, statuses: &[TxStatus]) -> Vec<(usize, Kind, TxStatus)> {
        self.kinds
            .iter()
            .zip(statuses)
            .enumerate()
            .filter(|(_, (kind, status))| kind.succeeds() != (**status == TxStatus::Success))
            .map(|(i, (kind, status))| (i, *kind, status.clone()))
            .collect()
    }
}

/// A block of `txs` transactions of kinds drawn from [`Kind::WEIGHTED`] (those available in
/// `fork`), from `seed`.
///
/// From Shanghai on, the block also has up to three withdrawals (to a sender, the hot
/// recipient, the beneficiary, the child created last or a fresh address).
///
/// Kinds come in bursts, so that neighbouring transactions depend on each other (and a
/// parallel execution reads stale values): a BLOCKHASH offset change is often followed by
/// reads of it, a creation by a call to or the destruction of the child, and any other kind
/// is sometimes repeated.
///
/// # Errors
/// [`WorkloadError`] only on a bug: the block must replay sequentially.
pub fn generate(seed: u64, fork: Fork, txs: usize) -> Result<RandomBlock, WorkloadError> {
    let mut g = Generator::new(seed, fork);
    let weighted: Vec<(Kind, u64)> = Kind::WEIGHTED
        .into_iter()
        .filter(|(k, _)| k.available(fork))
        .collect();
    let total: u64 = weighted.iter().map(|(_, w)| w).sum();
    let mut burst = Vec::new();
    while g.kinds.len() < txs {
        let mut draw = g.b.rng.below(total);
        let kind = weighted
            .iter()
            .find(|(_, w)| {
                let hit = draw < *w;
                draw = draw.saturating_sub(*w);
                hit
            })
            .map_or(Kind::Transfer, |(k, _)| *k);
        burst.clear();
        burst.push(kind);
        match kind {
            Kind::BlockhashSetOffset if g.b.rng.chance(60) => {
                let reads = 1 + g.b.rng.below(5) as usize;
                burst.extend(std::iter::repeat_n(Kind::BlockhashRead, reads));
            }
            Kind::CreateTx | Kind::FactoryCreate | Kind::FactoryCreate2 if g.b.rng.chance(50) => {
                if g.b.rng.chance(50) {
                    burst.push(Kind::CallChild);
                }
                burst.push(Kind::DestroyChild);
                if kind == Kind::FactoryCreate2 && g.b.rng.chance(50) {
                    burst.push(Kind::Create2Redeploy);
                }
            }
            _ if g.b.rng.chance(15) => {
                let again = 1 + g.b.rng.below(3) as usize;
                burst.extend(std::iter::repeat_n(kind, again));
            }
            _ => {}
        }
        for kind in burst.iter().take(txs - g.kinds.len()) {
            g.push(*kind);
        }
    }
    g.withdrawals(seed);
    g.finish()
}

/// A block of exactly these kinds, in order, from `seed`, without withdrawals.
///
/// # Errors
/// [`WorkloadError::Unavailable`] when a kind is not available in `fork`; otherwise only on a
/// bug, as [`generate`].
pub fn build(seed: u64, fork: Fork, kinds: &[Kind]) -> Result<RandomBlock, WorkloadError> {
    if let Some(kind) = kinds.iter().find(|k| !k.available(fork)) {
        return Err(WorkloadError::Unavailable {
            kind: format!("{kind:?}"),
            fork,
        });
    }
    let mut g = Generator::new(seed, fork);
    for kind in kinds {
        g.push(*kind);
    }
    g.finish()
}

/// The address at which [`FACTORY`] CREATE2s a child with `salt`.
pub fn create2_child_address(salt: B256) -> Address {
    FACTORY.create2(salt, keccak256(bytecode::child_init(false)))
}

/// Keccak-256 of the children's runtime code.
pub fn child_code_hash() -> B256 {
    keccak256(bytecode::child_runtime())
}

/// The state of a block being generated.
struct Generator {
    b: Builder,
    fork: Fork,
    kinds: Vec<Kind>,
    /// Every sender handed out so far.
    senders: Vec<usize>,
    /// Token balances as the generator expects them, for the senders and the pool.
    tokens: HashMap<(Address, Address), U256>,
    reserves: [U256; 2],
    /// The BLOCKHASH reader's offset after the transactions queued so far.
    offset: U256,
    /// The factory's nonce after the transactions queued so far.
    factory_nonce: u64,
    /// CREATE2 salts used so far.
    salts: Vec<B256>,
    /// Contracts created (or attempted), with the creating transaction.
    created: Vec<(usize, Address)>,
    /// The block's beneficiary.
    beneficiary: Address,
    /// Accounts delegated (EIP-7702) by the transactions queued so far.
    delegated: HashSet<Address>,
}

impl Generator {
    fn new(seed: u64, fork: Fork) -> Self {
        let mut b = Builder::for_fork(seed, STREAM, fork);
        let token = Bytecode::new_raw(bytecode::token(POOL));
        b.install(TOKEN0, &token);
        b.install(TOKEN1, &token);
        b.install(POOL, &Bytecode::new_raw(bytecode::pool(TOKEN0)));
        b.install(HASHER, &Bytecode::new_raw(bytecode::hasher()));
        b.install(FACTORY, &Bytecode::new_raw(bytecode::factory()));
        b.install(FAILER, &Bytecode::new_raw(bytecode::failer()));
        b.install(FORWARDER, &Bytecode::new_raw(bytecode::forwarder()));
        b.install(KV, &Bytecode::new_raw(bytecode::kv_store()));
        b.install(OLD_CHILD, &Bytecode::new_raw(bytecode::child_runtime()));
        b.set_slot(OLD_CHILD, U256::ZERO, U256::from(1));
        b.set_slot(OLD_CHILD, U256::from(1), U256::from(7));
        b.set_balance(OLD_CHILD, U256::from(ETHER));
        let hot = U256::from(b.rng.between(0, 10 * ETHER));
        b.set_balance(HOT, hot);

        let mut reserves = [U256::ZERO; 2];
        let mut tokens = HashMap::default();
        for (i, token) in [TOKEN0, TOKEN1].into_iter().enumerate() {
            reserves[i] = U256::from(b.rng.between(1_000 * ETHER, 1_000_000 * ETHER));
            b.set_slot(token, POOL.into_word().into(), reserves[i]);
            tokens.insert((token, POOL), reserves[i]);
            b.set_slot(POOL, U256::from(i), reserves[i]);
        }
        let offset = U256::from(b.rng.below(256));
        b.set_slot(HASHER, U256::ZERO, offset);
        for slot in 0..KV_SLOTS {
            if b.rng.chance(50) {
                let value = U256::from(1 + b.rng.below(1_000));
                b.set_slot(KV, U256::from(slot), value);
            }
        }
        let mut g = Self {
            b,
            fork,
            kinds: Vec::new(),
            senders: Vec::new(),
            tokens,
            reserves,
            offset,
            factory_nonce: 1,
            salts: Vec::new(),
            created: Vec::new(),
            beneficiary: Address::ZERO,
            delegated: HashSet::default(),
        };
        // The beneficiary: usually a stranger, sometimes a sender or the hot recipient.
        g.beneficiary = match g.b.rng.below(10) {
            0 => {
                let sender = g.new_sender();
                g.b.address(sender)
            }
            1 => HOT,
            _ => g.b.rng.address(),
        };
        g.b.set_beneficiary(g.beneficiary);
        g
    }

    /// A new funded sender holding both tokens.
    fn new_sender(&mut self) -> usize {
        let sender = self.b.new_sender();
        let address = self.b.address(sender);
        for token in [TOKEN0, TOKEN1] {
            let balance = U256::from(self.b.rng.between(ETHER, 10_000 * ETHER));
            self.b.set_slot(token, address.into_word().into(), balance);
            self.tokens.insert((token, address), balance);
        }
        self.senders.push(sender);
        sender
    }

    /// The sender of the next transaction: a new one, or four times in ten one that already
    /// sent (its nonce then depends on its earlier transactions).
    fn sender(&mut self) -> usize {
        if !self.senders.is_empty() && self.b.rng.chance(40) {
            let i = self.b.rng.below(self.senders.len() as u64) as usize;
            self.senders[i]
        } else {
            self.new_sender()
        }
    }

    /// Another sender's address (a new one when there is no other).
    fn other_sender(&mut self, not: usize) -> Address {
        let other = self.other_sender_index(not);
        self.b.address(other)
    }

    /// Another sender (a new one when there is no other).
    fn other_sender_index(&mut self, not: usize) -> usize {
        let others: Vec<usize> = self.senders.iter().copied().filter(|s| *s != not).collect();
        if others.is_empty() || self.b.rng.chance(30) {
            self.new_sender()
        } else {
            others[self.b.rng.below(others.len() as u64) as usize]
        }
    }

    /// The gas of a plain transfer to `to`.
    fn transfer_gas(&self, to: Address) -> u64 {
        if self.delegated.contains(&to) {
            GAS_TRANSFER_TO_DELEGATED
        } else {
            GAS_TRANSFER
        }
    }

    /// A fresh address, which one time in two already holds ether.
    fn fresh(&mut self) -> Address {
        let address = self.b.rng.address();
        if self.b.rng.chance(50) {
            let balance = U256::from(self.b.rng.between(1, ETHER));
            self.b.set_balance(address, balance);
        }
        address
    }

    fn value(&mut self) -> U256 {
        U256::from(self.b.rng.between(1, ETHER / 10))
    }

    /// A transaction type the fork accepts, drawn.
    fn tx_type(&mut self) -> TxType {
        let mut types = vec![TxType::Legacy {
            eip155: self.fork >= Fork::SpuriousDragon && !self.b.rng.chance(20),
        }];
        if self.fork >= Fork::Berlin {
            types.push(TxType::Eip2930);
        }
        if self.fork >= Fork::London {
            types.extend([TxType::Eip1559, TxType::Eip1559]);
        }
        types[self.b.rng.below(types.len() as u64) as usize]
    }

    /// Queues a transaction of a drawn type, with a random access list (of `to` and a few of
    /// its slots) one time in three where the type has one.
    fn send(&mut self, sender: usize, to: TxKind, value: U256, input: Bytes, gas_limit: u64) {
        let ty = self.tx_type();
        let spec = TxSpec {
            ty,
            to,
            value,
            input,
            gas_limit,
            access_list: AccessList::default(),
            authorizations: Vec::new(),
        };
        self.send_spec(sender, spec);
    }

    /// Queues `spec` with a random access list, as [`Generator::send`] does.
    fn send_spec(&mut self, sender: usize, spec: TxSpec) {
        let TxSpec {
            ty,
            to,
            value,
            input,
            gas_limit,
            authorizations,
            ..
        } = spec;
        let mut access_list = AccessList::default();
        if ty != (TxType::Legacy { eip155: true })
            && ty != (TxType::Legacy { eip155: false })
            && self.b.rng.chance(33)
        {
            let address = match to {
                TxKind::Call(address) => address,
                TxKind::Create => KV,
            };
            let keys = (0..self.b.rng.below(3))
                .map(|_| B256::from(U256::from(self.b.rng.below(KV_SLOTS))))
                .collect();
            access_list = AccessList(vec![AccessListItem {
                address,
                storage_keys: keys,
            }]);
        }
        // EIP-2930's intrinsic cost of the list comes on top of the kind's gas.
        let listed: usize = access_list.iter().map(|i| i.storage_keys.len()).sum();
        let gas_limit = gas_limit + 2_400 * access_list.len() as u64 + 1_900 * listed as u64;
        self.b.push_tx(
            sender,
            TxSpec {
                ty,
                to,
                value,
                input,
                gas_limit,
                access_list,
                authorizations,
            },
        );
    }

    fn call(&mut self, sender: usize, to: Address, value: U256, words: &[U256], gas: u64) {
        let mut input = Vec::with_capacity(32 * words.len());
        for word in words {
            input.extend_from_slice(&word.to_be_bytes::<32>());
        }
        self.send(sender, TxKind::Call(to), value, input.into(), gas);
    }

    /// The model's token balance.
    fn token_balance(&self, token: Address, holder: Address) -> U256 {
        self.tokens
            .get(&(token, holder))
            .copied()
            .unwrap_or_default()
    }

    fn move_tokens(&mut self, token: Address, from: Address, to: Address, amount: U256) {
        let from_balance = self.token_balance(token, from) - amount;
        self.tokens.insert((token, from), from_balance);
        let to_balance = self.token_balance(token, to) + amount;
        self.tokens.insert((token, to), to_balance);
    }

    fn word(address: Address) -> U256 {
        address.into_word().into()
    }

    /// A child to target: the one created last (or the old child), or any.
    fn child(&mut self, last: bool) -> Address {
        if last || self.created.is_empty() {
            return self.created.last().map_or(OLD_CHILD, |(_, a)| *a);
        }
        let pick = self.b.rng.below(self.created.len() as u64 + 1) as usize;
        self.created.get(pick).map_or(OLD_CHILD, |(_, a)| *a)
    }

    fn push(&mut self, kind: Kind) {
        let index = self.kinds.len();
        self.kinds.push(kind);
        let sender = self.sender();
        let from = self.b.address(sender);
        match kind {
            Kind::Transfer | Kind::ZeroValueToFresh => {
                let to = self.fresh();
                let value = if kind == Kind::Transfer {
                    self.value()
                } else {
                    U256::ZERO
                };
                self.send(sender, TxKind::Call(to), value, Bytes::new(), GAS_TRANSFER);
            }
            Kind::TransferToSender => {
                let to = self.other_sender(sender);
                let value = self.value();
                let gas = self.transfer_gas(to);
                self.send(sender, TxKind::Call(to), value, Bytes::new(), gas);
            }
            Kind::TransferToHot | Kind::TransferToBeneficiary => {
                let to = if kind == Kind::TransferToHot {
                    HOT
                } else {
                    self.beneficiary
                };
                let value = self.value();
                let gas = self.transfer_gas(to);
                self.send(sender, TxKind::Call(to), value, Bytes::new(), gas);
            }
            Kind::Erc20Transfer | Kind::Erc20TransferAll | Kind::Erc20Overdraft => {
                let token = if self.b.rng.chance(50) {
                    TOKEN0
                } else {
                    TOKEN1
                };
                let to = match self.b.rng.below(3) {
                    0 => self.other_sender(sender),
                    1 => HOT,
                    _ => self.b.rng.address(),
                };
                let balance = self.token_balance(token, from);
                let amount = match kind {
                    Kind::Erc20Transfer => U256::from(self.b.rng.between(0, ETHER)).min(balance),
                    Kind::Erc20TransferAll => balance,
                    _ => balance + U256::from(1),
                };
                if kind.succeeds() {
                    self.move_tokens(token, from, to, amount);
                }
                let words = [Self::word(from), Self::word(to), amount];
                self.call(sender, token, U256::ZERO, &words, GAS_CALL);
            }
            Kind::Swap | Kind::SwapSlippage => {
                let direction = self.b.rng.below(2) as usize;
                let (token_in, token_out) = [(TOKEN0, TOKEN1), (TOKEN1, TOKEN0)][direction];
                let held = self.token_balance(token_in, from);
                let amount_in = U256::from(self.b.rng.between(1, 100 * ETHER)).min(held);
                let (rin, rout) = (self.reserves[direction], self.reserves[1 - direction]);
                let out = rout * amount_in / (rin + amount_in);
                let min_out = if kind == Kind::Swap {
                    self.reserves[direction] = rin + amount_in;
                    self.reserves[1 - direction] = rout - out;
                    self.move_tokens(token_in, from, POOL, amount_in);
                    self.move_tokens(token_out, POOL, from, out);
                    out
                } else {
                    out + U256::from(1)
                };
                let words = [amount_in, U256::from(direction), min_out];
                self.call(sender, POOL, U256::ZERO, &words, GAS_CALL);
            }
            Kind::CreateTx | Kind::CreateAndDestroyTx => {
                let child = from.create(self.b.next_nonce(sender));
                self.created.push((index, child));
                let init = bytecode::child_init(kind == Kind::CreateAndDestroyTx);
                let value = self.value();
                self.send(sender, TxKind::Create, value, init, GAS_CREATE);
            }
            Kind::FactoryCreate
            | Kind::FactoryCreateAndDestroy
            | Kind::FactoryCreate2
            | Kind::FactoryCreate2AndDestroy
            | Kind::Create2Redeploy => {
                let (op, salt) = match kind {
                    Kind::FactoryCreate => (factory_op::CREATE, None),
                    Kind::FactoryCreateAndDestroy => (factory_op::CREATE_AND_DESTROY, None),
                    Kind::FactoryCreate2 | Kind::FactoryCreate2AndDestroy => {
                        let salt = if !self.salts.is_empty() && self.b.rng.chance(50) {
                            self.salts[self.b.rng.below(self.salts.len() as u64) as usize]
                        } else {
                            self.b.rng.b256()
                        };
                        let op = if kind == Kind::FactoryCreate2 {
                            factory_op::CREATE2
                        } else {
                            factory_op::CREATE2_AND_DESTROY
                        };
                        (op, Some(salt))
                    }
                    _ => {
                        let salt = self
                            .salts
                            .last()
                            .copied()
                            .unwrap_or_else(|| seeded_hash("replay-evm random salt", 0));
                        (factory_op::CREATE2, Some(salt))
                    }
                };
                let child = match salt {
                    Some(salt) => {
                        self.salts.push(salt);
                        create2_child_address(salt)
                    }
                    None => FACTORY.create(self.factory_nonce),
                };
                self.factory_nonce += 1;
                self.created.push((index, child));
                let value = self.value();
                let words = [U256::from(op), salt.map_or(U256::ZERO, |s| s.into())];
                let gas = if salt.is_some() {
                    GAS_CREATE2
                } else {
                    GAS_CREATE
                };
                self.call(sender, FACTORY, value, &words, gas);
            }
            Kind::CallChild => {
                let child = self.child(true);
                let value = self.value();
                self.call(sender, child, value, &[], GAS_CALL);
            }
            Kind::DestroyChild | Kind::DestroyAnyChild => {
                let last = kind == Kind::DestroyChild;
                let child = self.child(last);
                let beneficiary = if last {
                    from
                } else {
                    match self.b.rng.below(4) {
                        0 => child,
                        1 => self.beneficiary,
                        2 => HOT,
                        _ => self.b.rng.address(),
                    }
                };
                self.call(
                    sender,
                    child,
                    U256::ZERO,
                    &[Self::word(beneficiary)],
                    GAS_CALL,
                );
            }
            Kind::BlockhashSetOffset => {
                // Mostly within the 256-block window, sometimes past it (BLOCKHASH is zero).
                self.offset = U256::from(if self.b.rng.chance(90) {
                    self.b.rng.below(256)
                } else {
                    256 + self.b.rng.below(1_000)
                });
                let offset = self.offset;
                // A slow write: 2,000 to 15,000 spins (80,000 to 600,000 gas).
                let spins = 2_000 + self.b.rng.below(13_000);
                let words = [offset, U256::from(spins)];
                self.call(sender, HASHER, U256::ZERO, &words, GAS_CREATE);
            }
            Kind::BlockhashRead => {
                if self.offset < U256::from(256) {
                    self.b
                        .require_ancestor(BLOCK_NUMBER - 1 - self.offset.to::<u64>());
                }
                self.call(sender, HASHER, U256::ZERO, &[], GAS_CALL);
            }
            Kind::BlockhashAbsolute => {
                let number = match self.b.rng.below(5) {
                    0 | 1 => {
                        let number = BLOCK_NUMBER - 1 - self.b.rng.below(256);
                        self.b.require_ancestor(number);
                        number
                    }
                    2 => BLOCK_NUMBER,
                    3 => BLOCK_NUMBER + 1 + self.b.rng.below(10),
                    _ => BLOCK_NUMBER - 257 - self.b.rng.below(1_000),
                };
                self.call(sender, HASHER, U256::ZERO, &[U256::from(number)], GAS_CALL);
            }
            Kind::ZeroValueCall | Kind::ValueCall => {
                let (target, value) = if kind == Kind::ZeroValueCall {
                    (self.b.rng.address(), U256::ZERO)
                } else if self.b.rng.chance(50) {
                    (self.b.rng.address(), self.value())
                } else {
                    (self.other_sender(sender), self.value())
                };
                self.call(sender, FORWARDER, value, &[Self::word(target)], GAS_CALL);
            }
            Kind::BalanceProbe => {
                let target = match self.b.rng.below(4) {
                    0 => HOT,
                    1 => self.beneficiary,
                    2 => self.other_sender(sender),
                    _ => self.fresh(),
                };
                let words = [Self::word(target), U256::ZERO];
                self.call(sender, FORWARDER, U256::ZERO, &words, GAS_CALL);
            }
            Kind::Revert => self.call(sender, FAILER, U256::ZERO, &[U256::from(1)], GAS_CALL),
            Kind::OutOfGas => {
                let gas = 30_000 + self.b.rng.below(100_000);
                self.call(sender, FAILER, U256::ZERO, &[], gas);
            }
            Kind::SlotSet | Kind::SlotClear | Kind::SlotSetAndClear => {
                let mut words = Vec::new();
                for _ in 0..1 + self.b.rng.below(3) {
                    let slot = U256::from(self.b.rng.below(KV_SLOTS));
                    let value = U256::from(1 + self.b.rng.below(1_000));
                    match kind {
                        Kind::SlotSet => words.extend([slot, value]),
                        Kind::SlotClear => words.extend([slot, U256::ZERO]),
                        _ => {
                            // Then cleared, or restored to a value it may have held.
                            let last = U256::from(self.b.rng.below(3));
                            words.extend([slot, value, slot, last]);
                        }
                    }
                }
                self.call(sender, KV, U256::ZERO, &words, GAS_CALL);
            }
            Kind::Delegate => {
                let authority = if self.b.rng.chance(30) {
                    sender
                } else {
                    self.other_sender_index(sender)
                };
                let delegate = match self.b.rng.below(5) {
                    0 => Address::ZERO,
                    1 => FORWARDER,
                    _ => KV,
                };
                // The transaction's own nonce is consumed before its authorizations.
                let own = usize::from(authority == sender) as u64;
                let nonce = self.b.next_nonce(authority) + own;
                let authorization = self.b.authorize(authority, delegate, nonce);
                let account = self.b.address(authority);
                if delegate == Address::ZERO {
                    self.delegated.remove(&account);
                } else {
                    self.delegated.insert(account);
                }
                let slot = U256::from(self.b.rng.below(KV_SLOTS));
                let value = U256::from(1 + self.b.rng.below(1_000));
                let mut input = slot.to_be_bytes::<32>().to_vec();
                input.extend_from_slice(&value.to_be_bytes::<32>());
                let spec = TxSpec {
                    ty: TxType::Eip7702,
                    to: TxKind::Call(account),
                    value: U256::ZERO,
                    input: input.into(),
                    gas_limit: GAS_CALL,
                    access_list: AccessList::default(),
                    authorizations: vec![authorization],
                };
                self.send_spec(sender, spec);
                self.b.skip_nonce(authority);
            }
        }
    }

    /// From Shanghai on, up to three withdrawals, to a sender, the hot recipient, the
    /// beneficiary, a child or a fresh address (drawn from their own stream).
    fn withdrawals(&mut self, seed: u64) {
        if self.fork < Fork::Shanghai {
            return;
        }
        let mut rng = Rng::new(seed, WITHDRAWAL_STREAM);
        for _ in 0..rng.below(4) {
            let address = match rng.below(5) {
                0 if !self.senders.is_empty() => {
                    let i = rng.below(self.senders.len() as u64) as usize;
                    self.b.address(self.senders[i])
                }
                1 => HOT,
                2 => self.beneficiary,
                3 => self.created.last().map_or(OLD_CHILD, |(_, a)| *a),
                _ => rng.address(),
            };
            self.b.withdraw(address, 1 + rng.below(32_000_000_000));
        }
    }

    fn finish(self) -> Result<RandomBlock, WorkloadError> {
        let Self {
            b,
            fork,
            kinds,
            created,
            ..
        } = self;
        let chain = b.chain().clone();
        debug_assert_eq!(b.fork(), fork);
        let (block, _) = b.seal()?;
        Ok(RandomBlock {
            block,
            chain,
            fork,
            kinds,
            created,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use replay_evm::sequential::replay_sequential;

    #[test]
    fn every_kind_does_what_it_says_under_every_fork() {
        for fork in Fork::ALL {
            let kinds: Vec<Kind> = Kind::WEIGHTED
                .iter()
                .map(|(k, _)| *k)
                .filter(|k| k.available(fork))
                .collect();
            for seed in 0..3 {
                let random = build(seed, fork, &kinds).unwrap_or_else(|e| panic!("{fork}: {e}"));
                random.block.check().unwrap();
                let replay = replay_sequential(&random.block, &random.chain).unwrap();
                let statuses: Vec<TxStatus> = replay
                    .transactions
                    .iter()
                    .map(|t| t.status.clone())
                    .collect();
                assert_eq!(random.unexpected(&statuses), vec![], "{fork}, seed {seed}");
            }
        }
    }

    #[test]
    fn withdrawals_from_shanghai_on_only() {
        let count = |fork, seed| {
            let random = generate(seed, fork, 10).unwrap();
            random.block.check().unwrap();
            random.block.block.body.withdrawals.map(|w| w.len())
        };
        assert_eq!(count(Fork::Paris, 1), None);
        let shanghai: Vec<_> = (0..8)
            .filter_map(|seed| count(Fork::Shanghai, seed))
            .collect();
        assert_eq!(shanghai.len(), 8);
        assert!(shanghai.iter().any(|n| *n > 0), "{shanghai:?}");
    }

    #[test]
    fn same_seed_same_block() {
        let a = generate(3, Fork::London, 30).unwrap();
        let b = generate(3, Fork::London, 30).unwrap();
        assert_eq!(a.block, b.block);
        assert_eq!(a.kinds, b.kinds);
        assert_ne!(
            generate(4, Fork::London, 30).unwrap().block.hash,
            a.block.hash
        );
    }
}
