//! The machinery under every workload: a seeded random source, deterministic signing keys,
//! the pre-state being written, the transactions being queued, and the sealing step that
//! signs them, replays the block once and fills the header fields only a replay can tell.
//!
//! A builder targets one fork: [`Builder::new`] a Cancun-era mainnet block (the named
//! workloads), [`Builder::for_fork`] a block of a chain where every fork up to the given one
//! is active from genesis ([`ChainSpec::single_fork`]), with the header fields, system
//! contracts and transaction types of that fork.

use std::{collections::BTreeSet, num::NonZeroUsize, thread};

use alloy_consensus::{
    Block, BlockBody, EMPTY_OMMER_ROOT_HASH, Header, SignableTransaction, Transaction as _,
    TxEip1559, TxEip2930, TxEip7702, TxEnvelope, TxLegacy, TypedTransaction,
    proofs::{calculate_transaction_root, calculate_withdrawals_root},
};
use alloy_eips::{
    eip2930::AccessList,
    eip2935::{HISTORY_STORAGE_ADDRESS, HISTORY_STORAGE_CODE},
    eip4788::{BEACON_ROOTS_ADDRESS, BEACON_ROOTS_CODE},
    eip4895::{Withdrawal, Withdrawals},
    eip7002::{WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS, WITHDRAWAL_REQUEST_PREDEPLOY_CODE},
    eip7251::{CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS, CONSOLIDATION_REQUEST_PREDEPLOY_CODE},
    eip7685::EMPTY_REQUESTS_HASH,
    eip7702::{Authorization, SignedAuthorization},
};
use alloy_primitives::{
    Address, B64, B256, Bloom, Bytes, Signature, TxKind, U256, keccak256,
    map::{AddressMap, HashMap},
};
use alloy_trie::EMPTY_ROOT_HASH;
use revm::{bytecode::Bytecode, primitives::KECCAK_EMPTY};
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};

use replay_evm::{
    block::ArchivedBlock,
    chain::{ChainSpec, Fork},
    pre_state::{PreAccount, PreState},
    sequential::{BlockReplay, TxStatus, replay_sequential},
    verify::receipts_root,
};

use crate::error::WorkloadError;

/// Block number of every generated block: a Cancun-era mainnet number.
pub(crate) const BLOCK_NUMBER: u64 = 20_000_000;
/// Timestamp of every generated block (mainnet block 20,000,000's): Cancun rules apply.
pub(crate) const TIMESTAMP: u64 = 1_717_281_407;
/// Base fee of every generated block: 10 gwei.
pub(crate) const BASE_FEE: u64 = 10_000_000_000;
/// The least header gas limit, mainnet's of the time; larger blocks get the sum of their
/// transactions' gas limits.
const MIN_GAS_LIMIT: u64 = 30_000_000;
/// One ether in wei.
pub(crate) const ETHER: u128 = 1_000_000_000_000_000_000;

/// SplitMix64: a tiny, fast, well-defined generator, so that a seed means the same block on
/// every platform and with every dependency version.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for `seed`, separated from other streams by `stream`.
    pub(super) fn new(seed: u64, stream: u64) -> Self {
        let mut rng = Self(seed ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03));
        rng.next_u64();
        rng
    }

    /// The next 64 random bits.
    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`), by Lemire's multiply-shift (its bias is negligible here).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A number in `low..=high`.
    pub(super) fn between(&mut self, low: u128, high: u128) -> u128 {
        let span = high - low + 1;
        let wide = (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64());
        low + wide % span
    }

    /// `true` with probability `percent`%.
    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// 32 random bytes.
    pub(super) fn b256(&mut self) -> B256 {
        let mut bytes = [0u8; 32];
        for chunk in bytes.chunks_exact_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_be_bytes());
        }
        B256::from(bytes)
    }

    /// A random address (no known key: a recipient, not a sender).
    pub(super) fn address(&mut self) -> Address {
        Address::from_word(self.b256())
    }
}

/// The hash of ancestor block `number` in the blocks of `seed` (the parent's is the header's
/// `parentHash`, [`seeded_hash`]`("replay-evm workload parent", seed)`).
fn ancestor_hash(seed: u64, number: u64) -> B256 {
    let mut preimage = Vec::with_capacity(48);
    preimage.extend_from_slice(b"replay-evm workload ancestor");
    preimage.extend_from_slice(&seed.to_be_bytes());
    preimage.extend_from_slice(&number.to_be_bytes());
    keccak256(preimage)
}

/// A deterministic hash of `(label, seed)`, for header fields and fixed seeded values.
pub(crate) fn seeded_hash(label: &str, seed: u64) -> B256 {
    let mut preimage = Vec::with_capacity(label.len() + 8);
    preimage.extend_from_slice(label.as_bytes());
    preimage.extend_from_slice(&seed.to_be_bytes());
    keccak256(preimage)
}

/// A sender: its secret key and address.
#[derive(Clone)]
struct Key {
    secret: SecretKey,
    address: Address,
}

impl Key {
    /// Key number `index` of `seed`: secret = keccak256("replay-evm workload key" . seed .
    /// index . attempt) for the first attempt that is a valid secp256k1 scalar.
    fn derive(seed: u64, index: u64) -> Self {
        let mut attempt = 0u64;
        loop {
            let mut preimage = Vec::with_capacity(48);
            preimage.extend_from_slice(b"replay-evm workload key");
            preimage.extend_from_slice(&seed.to_be_bytes());
            preimage.extend_from_slice(&index.to_be_bytes());
            preimage.extend_from_slice(&attempt.to_be_bytes());
            if let Ok(secret) = SecretKey::from_byte_array(&keccak256(&preimage).0) {
                let public = PublicKey::from_secret_key(SECP256K1, &secret);
                let hash = keccak256(&public.serialize_uncompressed()[1..]);
                return Self {
                    secret,
                    address: Address::from_slice(&hash[12..]),
                };
            }
            attempt += 1;
        }
    }

    /// Signs `tx` (RFC 6979 nonces: deterministic, low-s). A legacy transaction without a
    /// chain id is signed the pre-EIP-155 way.
    fn sign(&self, tx: TypedTransaction) -> TxEnvelope {
        let signature = self.signature(tx.signature_hash());
        tx.into_envelope(signature)
    }

    /// Signs an EIP-7702 authorization.
    fn authorize(&self, authorization: Authorization) -> SignedAuthorization {
        let signature = self.signature(authorization.signature_hash());
        authorization.into_signed(signature)
    }

    fn signature(&self, hash: B256) -> Signature {
        let message = Message::from_digest(hash.0);
        let (recovery_id, bytes) = SECP256K1
            .sign_ecdsa_recoverable(&message, &self.secret)
            .serialize_compact();
        Signature::new(
            U256::from_be_slice(&bytes[..32]),
            U256::from_be_slice(&bytes[32..]),
            i32::from(recovery_id) != 0,
        )
    }
}

/// `f(0..count)` in order, spread over the machine's cores.
fn parallel_map<R: Send>(count: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    const MIN_CHUNK: usize = 256;
    let threads = thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let threads = threads.min(count.div_ceil(MIN_CHUNK)).max(1);
    if threads == 1 {
        return (0..count).map(f).collect();
    }
    let chunk = count.div_ceil(threads);
    let f = &f;
    thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let range = (t * chunk).min(count)..((t + 1) * chunk).min(count);
                scope.spawn(move || range.map(f).collect::<Vec<R>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// An account of the pre-state being written.
#[derive(Default)]
struct Draft {
    balance: U256,
    nonce: u64,
    code: Option<(B256, Bytecode)>,
    storage: HashMap<U256, U256>,
}

/// A transaction queued for signing.
struct Pending {
    sender: usize,
    tx: TypedTransaction,
}

/// The envelope of a generated transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxType {
    /// Legacy, with an EIP-155 chain id (from Spurious Dragon on) or without.
    Legacy {
        /// Whether the signature commits to the chain id (EIP-155).
        eip155: bool,
    },
    /// EIP-2930 (from Berlin on): legacy pricing plus an access list.
    Eip2930,
    /// EIP-1559 (from London on): fee cap and tip.
    Eip1559,
    /// EIP-7702 (from Prague on): EIP-1559 plus an authorization list; calls only.
    Eip7702,
}

impl TxType {
    /// Whether `fork` accepts this envelope.
    pub(super) fn valid_in(self, fork: Fork) -> bool {
        match self {
            Self::Legacy { eip155 } => !eip155 || fork >= Fork::SpuriousDragon,
            Self::Eip2930 => fork >= Fork::Berlin,
            Self::Eip1559 => fork >= Fork::London,
            Self::Eip7702 => fork >= Fork::Prague,
        }
    }
}

/// One transaction to queue: everything but the sender, nonce and fees.
pub(crate) struct TxSpec {
    /// The envelope.
    pub(super) ty: TxType,
    /// Call target, or contract creation.
    pub(super) to: TxKind,
    /// Wei sent.
    pub(super) value: U256,
    /// Calldata, or init code.
    pub(super) input: Bytes,
    /// Gas limit.
    pub(super) gas_limit: u64,
    /// Access list (ignored by legacy transactions).
    pub(super) access_list: AccessList,
    /// Authorization list (EIP-7702 transactions only).
    pub(super) authorizations: Vec<SignedAuthorization>,
}

/// A block being generated.
pub(crate) struct Builder {
    seed: u64,
    /// The chain whose rules the block follows.
    chain: ChainSpec,
    /// The fork governing the block.
    fork: Fork,
    /// The block's beneficiary, when not the seeded default.
    beneficiary: Option<Address>,
    /// Ancestors whose hashes the pre-state holds besides the parent's.
    ancestors: BTreeSet<u64>,
    /// The block's withdrawals (from Shanghai on).
    withdrawals: Vec<Withdrawal>,
    /// Random choices of the workload (amounts, recipients, ...).
    pub(super) rng: Rng,
    keys: Vec<Key>,
    next_nonce: Vec<u64>,
    handed_out: usize,
    accounts: AddressMap<Draft>,
    pending: Vec<Pending>,
}

impl Builder {
    /// An empty Cancun-era mainnet block for `seed`, whose workload draws from random stream
    /// `stream`.
    pub(super) fn new(seed: u64, stream: u64) -> Self {
        Self::on_chain(seed, stream, ChainSpec::mainnet())
    }

    /// An empty block for `seed` on a chain where every fork up to `fork` is active from
    /// genesis (chain id 1), whose workload draws from random stream `stream`. The pre-state
    /// holds the system contracts the fork's block rules call (EIP-4788 from Cancun,
    /// EIP-2935, 7002 and 7251 from Prague).
    pub(super) fn for_fork(seed: u64, stream: u64, fork: Fork) -> Self {
        Self::on_chain(seed, stream, ChainSpec::single_fork(1, fork))
    }

    fn on_chain(seed: u64, stream: u64, chain: ChainSpec) -> Self {
        let fork = chain.fork_at(BLOCK_NUMBER, TIMESTAMP);
        let mut builder = Self {
            seed,
            chain,
            fork,
            beneficiary: None,
            ancestors: BTreeSet::new(),
            withdrawals: Vec::new(),
            rng: Rng::new(seed, stream),
            keys: Vec::new(),
            next_nonce: Vec::new(),
            handed_out: 0,
            accounts: AddressMap::default(),
            pending: Vec::new(),
        };
        // The system contracts, as on mainnet: the block rules call them.
        let mut system = vec![(BEACON_ROOTS_ADDRESS, &BEACON_ROOTS_CODE, Fork::Cancun)];
        system.extend([
            (HISTORY_STORAGE_ADDRESS, &HISTORY_STORAGE_CODE, Fork::Prague),
            (
                WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
                &WITHDRAWAL_REQUEST_PREDEPLOY_CODE,
                Fork::Prague,
            ),
            (
                CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
                &CONSOLIDATION_REQUEST_PREDEPLOY_CODE,
                Fork::Prague,
            ),
        ]);
        for (address, code, since) in system {
            if fork >= since {
                builder.install(address, &Bytecode::new_raw(code.clone()));
            }
        }
        builder
    }

    /// The fork governing the block.
    pub(super) fn fork(&self) -> Fork {
        self.fork
    }

    /// The chain whose rules the block follows.
    pub(super) fn chain(&self) -> &ChainSpec {
        &self.chain
    }

    /// Makes `address` the block's beneficiary (by default a seeded address no transaction
    /// knows).
    pub(super) fn set_beneficiary(&mut self, address: Address) {
        self.beneficiary = Some(address);
    }

    /// Adds a withdrawal of `gwei` to `address` to the block (credited after the
    /// transactions by the block rules).
    ///
    /// # Panics
    /// Before Shanghai, which has no withdrawals (a generator bug).
    pub(super) fn withdraw(&mut self, address: Address, gwei: u64) {
        assert!(
            self.fork >= Fork::Shanghai,
            "no withdrawals in {}",
            self.fork
        );
        let index = self.withdrawals.len() as u64;
        self.withdrawals.push(Withdrawal {
            index,
            validator_index: 1_000 + index,
            address,
            amount: gwei,
        });
    }

    /// Puts the hash of ancestor `number` in the pre-state, for a BLOCKHASH that asks for it
    /// (the parent's is always there). Only requested hashes are archived, as in a real
    /// archive: a BLOCKHASH for any other ancestor is a read error.
    pub(super) fn require_ancestor(&mut self, number: u64) {
        if number < BLOCK_NUMBER - 1 {
            self.ancestors.insert(number);
        }
    }

    /// Derives keys so that `count` more senders can be handed out without deriving one at
    /// a time (derivation is the slow part of generating huge blocks; it runs in parallel).
    pub(super) fn reserve_senders(&mut self, count: usize) {
        let start = self.keys.len();
        let wanted = (self.handed_out + count).saturating_sub(start);
        let seed = self.seed;
        let keys = parallel_map(wanted, |i| Key::derive(seed, (start + i) as u64));
        self.keys.extend(keys);
    }

    /// A new sender: a funded account with a key, returned as its index.
    pub(super) fn new_sender(&mut self) -> usize {
        if self.handed_out == self.keys.len() {
            self.reserve_senders(1);
        }
        let index = self.handed_out;
        self.handed_out += 1;
        let nonce = self.rng.below(1_000);
        let balance = U256::from(self.rng.between(ETHER, 100 * ETHER));
        let address = self.keys[index].address;
        let account = self.accounts.entry(address).or_default();
        account.balance = balance;
        account.nonce = nonce;
        self.next_nonce.push(nonce);
        index
    }

    /// The address of sender `index`.
    pub(super) fn address(&self, sender: usize) -> Address {
        self.keys[sender].address
    }

    /// The nonce sender `index`'s next transaction will carry.
    pub(super) fn next_nonce(&self, sender: usize) -> u64 {
        self.next_nonce[sender]
    }

    /// Deploys `code` at `address` in the pre-state (nonce 1, as a contract has).
    pub(super) fn install(&mut self, address: Address, code: &Bytecode) {
        let account = self.accounts.entry(address).or_default();
        account.nonce = account.nonce.max(1);
        account.code = Some((keccak256(code.original_byte_slice()), code.clone()));
    }

    /// Like [`Builder::install`], with the code hash known.
    pub(super) fn install_hashed(&mut self, address: Address, code: &Bytecode, hash: B256) {
        let account = self.accounts.entry(address).or_default();
        account.nonce = account.nonce.max(1);
        account.code = Some((hash, code.clone()));
    }

    /// Sets the pre-state balance of `address` (creating the account).
    pub(super) fn set_balance(&mut self, address: Address, balance: U256) {
        self.accounts.entry(address).or_default().balance = balance;
    }

    /// Sets a pre-state storage slot (zero values are not stored: absent means zero).
    pub(super) fn set_slot(&mut self, address: Address, slot: U256, value: U256) {
        let storage = &mut self.accounts.entry(address).or_default().storage;
        if value.is_zero() {
            storage.remove(&slot);
        } else {
            storage.insert(slot, value);
        }
    }

    /// Queues an EIP-1559 transaction from `sender` with a random tip of 0.01 to 2 gwei.
    pub(super) fn push(
        &mut self,
        sender: usize,
        to: TxKind,
        value: U256,
        input: Bytes,
        gas_limit: u64,
    ) {
        self.push_tx(
            sender,
            TxSpec {
                ty: TxType::Eip1559,
                to,
                value,
                input,
                gas_limit,
                access_list: AccessList::default(),
                authorizations: Vec::new(),
            },
        );
    }

    /// An EIP-7702 authorization by sender `authority`, delegating its account to `delegate`
    /// (the zero address clears a delegation), for the authority's nonce `nonce`. The caller
    /// accounts for the nonce the authorization consumes ([`Builder::skip_nonce`]).
    pub(super) fn authorize(
        &self,
        authority: usize,
        delegate: Address,
        nonce: u64,
    ) -> SignedAuthorization {
        self.keys[authority].authorize(Authorization {
            chain_id: U256::from(1),
            address: delegate,
            nonce,
        })
    }

    /// Advances sender `sender`'s next nonce without a transaction (an EIP-7702 authorization
    /// consumed one).
    pub(super) fn skip_nonce(&mut self, sender: usize) {
        self.next_nonce[sender] += 1;
    }

    /// Queues a transaction from `sender` with a random tip of 0.01 to 2 gwei over the base
    /// fee (legacy and EIP-2930 transactions pay base fee plus tip as their gas price).
    ///
    /// # Panics
    /// When the block's fork does not accept `spec.ty`, or an EIP-7702 transaction creates a
    /// contract (generator bugs).
    pub(super) fn push_tx(&mut self, sender: usize, spec: TxSpec) {
        assert!(
            spec.ty.valid_in(self.fork),
            "{:?} transactions are not valid in {}",
            spec.ty,
            self.fork
        );
        assert!(
            spec.ty != TxType::Eip7702 || spec.to.is_call(),
            "EIP-7702 transactions are calls"
        );
        let tip = self.rng.between(10_000_000, 2_000_000_000);
        let nonce = self.next_nonce[sender];
        self.next_nonce[sender] += 1;
        let TxSpec {
            ty,
            to,
            value,
            input,
            gas_limit,
            access_list,
            authorizations,
        } = spec;
        let gas_price = u128::from(BASE_FEE) + tip;
        let tx = match ty {
            TxType::Legacy { eip155 } => TypedTransaction::Legacy(TxLegacy {
                chain_id: eip155.then_some(1),
                nonce,
                gas_price,
                gas_limit,
                to,
                value,
                input,
            }),
            TxType::Eip2930 => TypedTransaction::Eip2930(TxEip2930 {
                chain_id: 1,
                nonce,
                gas_price,
                gas_limit,
                to,
                value,
                access_list,
                input,
            }),
            TxType::Eip1559 => TypedTransaction::Eip1559(TxEip1559 {
                chain_id: 1,
                nonce,
                gas_limit,
                max_fee_per_gas: 2 * u128::from(BASE_FEE) + tip,
                max_priority_fee_per_gas: tip,
                to,
                value,
                access_list,
                input,
            }),
            TxType::Eip7702 => TypedTransaction::Eip7702(TxEip7702 {
                chain_id: 1,
                nonce,
                gas_limit,
                max_fee_per_gas: 2 * u128::from(BASE_FEE) + tip,
                max_priority_fee_per_gas: tip,
                // A call: checked on entry.
                to: to.to().copied().unwrap_or_default(),
                value,
                access_list,
                authorization_list: authorizations,
                input,
            }),
        };
        self.pending.push(Pending { sender, tx });
    }

    /// Queues a call of `to` with `input`.
    pub(super) fn call(&mut self, sender: usize, to: Address, input: Bytes, gas_limit: u64) {
        self.push(sender, TxKind::Call(to), U256::ZERO, input, gas_limit);
    }

    /// Number of transactions queued.
    pub(super) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Signs the transactions, writes the pre-state and header, replays the block once to
    /// fill `gasUsed`, `receiptsRoot` and `logsBloom`, and seals it.
    ///
    /// # Errors
    /// When the block does not replay, or a transaction does not succeed.
    pub(super) fn finish(self) -> Result<ArchivedBlock, WorkloadError> {
        let (block, replay) = self.seal()?;
        if let Some((index, outcome)) = replay
            .transactions
            .iter()
            .enumerate()
            .find(|(_, t)| t.status != TxStatus::Success)
        {
            return Err(WorkloadError::TxFailed {
                index,
                status: format!("{:?}", outcome.status),
            });
        }
        Ok(block)
    }

    /// Like [`Builder::finish`], but transactions may revert or halt; also returns the
    /// sequential replay that filled the header.
    ///
    /// # Errors
    /// When the block does not replay.
    pub(super) fn seal(self) -> Result<(ArchivedBlock, BlockReplay), WorkloadError> {
        let Self {
            seed,
            chain,
            fork,
            beneficiary,
            ancestors,
            withdrawals,
            keys,
            accounts,
            pending,
            ..
        } = self;

        let transactions = parallel_map(pending.len(), |i| {
            let Pending { sender, tx } = &pending[i];
            keys[*sender].sign(tx.clone())
        });
        let tx_gas: u64 = pending.iter().map(|p| p.tx.gas_limit()).sum();
        drop(pending);

        let mut pre_state = PreState::new();
        for (address, draft) in accounts {
            let (code_hash, code) = match draft.code {
                Some((hash, code)) => (hash, Some(code)),
                None => (KECCAK_EMPTY, None),
            };
            pre_state.insert_account(
                address,
                PreAccount {
                    balance: draft.balance,
                    nonce: draft.nonce,
                    code_hash,
                    code,
                    storage: draft.storage,
                },
            );
        }
        let parent_hash = seeded_hash("replay-evm workload parent", seed);
        pre_state.insert_block_hash(BLOCK_NUMBER - 1, parent_hash);
        for number in ancestors {
            pre_state.insert_block_hash(number, ancestor_hash(seed, number));
        }

        let beneficiary = beneficiary.unwrap_or_else(|| {
            Address::from_word(seeded_hash("replay-evm workload coinbase", seed))
        });
        let post_merge = fork >= Fork::Paris;
        let shanghai = fork >= Fork::Shanghai;
        let cancun = fork >= Fork::Cancun;
        let header = Header {
            parent_hash,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary,
            // The generator knows only the touched accounts, not the whole state: the state
            // root is a seeded placeholder, as nothing in a replay checks it.
            state_root: seeded_hash("replay-evm workload state", seed),
            transactions_root: calculate_transaction_root(&transactions),
            receipts_root: EMPTY_ROOT_HASH,
            logs_bloom: Bloom::ZERO,
            // Before the merge, a proof-of-work difficulty (the DIFFICULTY opcode reads it).
            difficulty: if post_merge {
                U256::ZERO
            } else {
                U256::from(0x0b_ad_c0_ff_eeu64)
            },
            number: BLOCK_NUMBER,
            gas_limit: tx_gas.max(MIN_GAS_LIMIT),
            gas_used: 0,
            timestamp: TIMESTAMP,
            extra_data: Bytes::from_static(b"replay-evm workload"),
            mix_hash: seeded_hash("replay-evm workload prevrandao", seed),
            nonce: B64::ZERO,
            base_fee_per_gas: (fork >= Fork::London).then_some(BASE_FEE),
            withdrawals_root: shanghai.then(|| calculate_withdrawals_root(&withdrawals)),
            blob_gas_used: cancun.then_some(0),
            excess_blob_gas: cancun.then_some(0),
            parent_beacon_block_root: cancun
                .then(|| seeded_hash("replay-evm workload beacon", seed)),
            requests_hash: (fork >= Fork::Prague).then_some(EMPTY_REQUESTS_HASH),
            ..Default::default()
        };
        let mut block = ArchivedBlock {
            chain_id: 1,
            hash: B256::ZERO,
            block: Block {
                header,
                body: BlockBody {
                    transactions,
                    ommers: Vec::new(),
                    withdrawals: shanghai.then(|| Withdrawals::new(withdrawals)),
                },
            },
            ommer_hashes: Vec::new(),
            pre_state,
        };

        let replay = replay_sequential(&block, &chain)?;
        let mut logs_bloom = Bloom::ZERO;
        for receipt in &replay.receipts {
            logs_bloom.accrue_bloom(receipt.logs_bloom());
        }
        let header = &mut block.block.header;
        header.gas_used = replay.gas_used;
        header.receipts_root = receipts_root(&replay.receipts);
        header.logs_bloom = logs_bloom;
        // Prague on: the hash of the requests the post-block system calls dequeued.
        if header.requests_hash.is_some() {
            header.requests_hash = replay.requests_hash;
        }
        block.hash = header.hash_slow();
        Ok((block, replay))
    }
}
