//! Hand-built blocks for engine tests: each one puts a single hard case (a deployment then a
//! call, SELFDESTRUCT then a redeploy, a chain of dependencies, a stale BLOCKHASH read) in a
//! block, with the address its assertions are about.

use alloy_primitives::{Address, Bytes, TxKind, U256};
use replay_evm::block::ArchivedBlock;

use crate::{
    abi,
    builder::{Builder, ETHER, seeded_hash},
    contracts::{BLOCKHASH_READER, COUNTER, FACTORY, child_address},
    error::WorkloadError,
    generate::{eth_recipient, eth_transfer},
};

/// Gas limit of a counter increment.
const GAS_INCREMENT: u64 = 100_000;
/// Gas limit of a contract-creating transaction.
const GAS_CREATE: u64 = 500_000;
/// Gas limit of a factory call (CREATE2 and SELFDESTRUCT inside).
const GAS_FACTORY: u64 = 1_000_000;

/// A hand-built block for engine tests, with the address its assertions are about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// The block, ready to replay and verify.
    pub block: ArchivedBlock,
    /// The contract the scenario is about (see each scenario's docs).
    pub contract: Address,
}

/// A block that deploys a contract and calls it later: transaction 0 is a CREATE of a
/// `Counter` starting at 41, transactions 1 and 2 are unrelated ETH transfers, transaction 3
/// (another sender) calls `increment()` on the new contract, leaving `count` (slot 0) at 42
/// and `lastCaller` (slot 1) at its sender. `contract` is the created address. A parallel
/// engine that runs the call before the deployment sees no code there (and the call
/// "succeeds" doing nothing), so it must detect the dependency.
///
/// # Errors
/// As [`generate`](crate::generate).
pub fn deploy_then_call(seed: u64) -> Result<Scenario, WorkloadError> {
    let mut b = Builder::new(seed, 101);
    b.reserve_senders(4);
    let deployer = b.new_sender();
    let contract = b.address(deployer).create(b.next_nonce(deployer));
    b.push(
        deployer,
        TxKind::Create,
        U256::ZERO,
        abi::counter_init(U256::from(41)),
        GAS_CREATE,
    );
    for _ in 0..2 {
        let to = eth_recipient(&mut b);
        eth_transfer(&mut b, to);
    }
    let caller = b.new_sender();
    b.call(caller, contract, abi::counter_increment(), GAS_INCREMENT);
    Ok(Scenario {
        block: b.finish()?,
        contract,
    })
}

/// A block exercising both SELFDESTRUCT behaviours of Cancun (EIP-6780) on one CREATE2
/// address. The [`FACTORY`] (slot 0: `deployments`, starting at 0) deploys `Child`s
/// (slot 0: `factory`, slot 1: `generation` = the factory's `deployments` at creation) at
/// `contract` = `FACTORY.create2(salt, keccak256(Child init code))`:
///
/// 0. `deployAndDestroy(salt)` with 1 ETH: the child is created and self-destructs in the
///    same transaction, so the account is really deleted (the ether goes back to the sender);
/// 1. `deploy(salt)` with 2 ETH: a new child at the same address, generation 2;
/// 2. `destroy(child)`: self-destruct in a later transaction only sends the 2 ETH to the
///    sender, the code and storage stay;
/// 3. `tryDeploy(salt)`: CREATE2 collides with the surviving child and yields the zero
///    address, without reverting (`deployments` ends at 3).
///
/// # Errors
/// As [`generate`](crate::generate).
pub fn selfdestruct_then_redeploy(seed: u64) -> Result<Scenario, WorkloadError> {
    let mut b = Builder::new(seed, 102);
    b.reserve_senders(4);
    b.install_hashed(FACTORY, &abi::FACTORY.runtime, abi::FACTORY.runtime_hash);
    let salt = seeded_hash("replay-evm workload salt", seed);
    let contract = child_address(salt);
    let steps = [
        (abi::factory_deploy_and_destroy(salt), ETHER),
        (abi::factory_deploy(salt), 2 * ETHER),
        (abi::factory_destroy(contract), 0),
        (abi::factory_try_deploy(salt), 0),
    ];
    for (input, value) in steps {
        let sender = b.new_sender();
        b.push(
            sender,
            TxKind::Call(FACTORY),
            U256::from(value),
            input,
            GAS_FACTORY,
        );
    }
    Ok(Scenario {
        block: b.finish()?,
        contract,
    })
}

/// A block of `txs` transactions from distinct senders, each calling `increment()` on the
/// [`COUNTER`] (which starts at 0): every transaction depends on the one before, and the
/// counter (slot 0) ends at `txs`. `contract` is [`COUNTER`].
///
/// # Errors
/// As [`generate`](crate::generate).
pub fn dependency_chain(seed: u64, txs: usize) -> Result<Scenario, WorkloadError> {
    let mut b = Builder::new(seed, 103);
    b.reserve_senders(txs);
    b.install_hashed(COUNTER, &abi::COUNTER.runtime, abi::COUNTER.runtime_hash);
    for _ in 0..txs {
        let sender = b.new_sender();
        b.call(sender, COUNTER, abi::counter_increment(), GAS_INCREMENT);
    }
    Ok(Scenario {
        block: b.finish()?,
        contract: COUNTER,
    })
}

/// A block whose BLOCKHASH arguments depend on its first transaction: a speculative
/// execution that reads stale state asks for an ancestor hash the real execution never asks
/// for, and that the block (like an archived one) does not hold.
///
/// [`BLOCKHASH_READER`] is hand-assembled. Called with data, it burns about 1.7 Mgas in a
/// loop, then sets its slot 0 (a flag, 0 in the pre-state) to 1. Called without data, it
/// reads the flag and stores `BLOCKHASH(NUMBER + 5)` (a future block: zero, no ancestor
/// read) under the caller's address when the flag is set, `BLOCKHASH(NUMBER - 2)` when not.
/// Transaction 0 sets the flag; the `readers` transactions after it, from distinct senders,
/// read it. In order, no transaction asks for an ancestor hash; a reader that runs before
/// transaction 0's write is visible asks for `NUMBER - 2`, which only a stale read can.
/// `contract` is [`BLOCKHASH_READER`].
///
/// # Errors
/// As [`generate`](crate::generate).
pub fn stale_blockhash(seed: u64, readers: usize) -> Result<Scenario, WorkloadError> {
    // See the doc comment; labels: future 0x11, hash 0x16, setter 0x1b, loop 0x20.
    const CODE: [u8; 48] = alloy_primitives::hex!(
        "36601b57600054601157600243036016565b600543015b403355005b620100005b600190038060205750600160005500"
    );
    let mut b = Builder::new(seed, 104);
    b.reserve_senders(readers + 1);
    b.install(
        BLOCKHASH_READER,
        &revm::bytecode::Bytecode::new_raw(Bytes::from_static(&CODE)),
    );
    let setter = b.new_sender();
    b.call(
        setter,
        BLOCKHASH_READER,
        Bytes::from_static(&[1]),
        3_000_000,
    );
    for _ in 0..readers {
        let reader = b.new_sender();
        b.call(reader, BLOCKHASH_READER, Bytes::new(), 100_000);
    }
    Ok(Scenario {
        block: b.finish()?,
        contract: BLOCKHASH_READER,
    })
}

/// A Prague block whose transactions queue execution requests (EIP-7002 withdrawal
/// requests, EIP-7251 consolidation requests) beside plain transfers, and read the
/// withdrawal contract's fee; the post-block system calls then dequeue the requests from the
/// same contracts' storage. The transactions write the system contracts' storage and the
/// post-block rules read and write it again: a parallel engine must hand the rules the
/// transactions' final state and merge what both changed. `requests` withdrawal requests,
/// each from its own sender, every third followed by a consolidation request. `contract` is
/// the withdrawal request contract. Replay it on `ChainSpec::single_fork(1, Fork::Prague)`.
///
/// # Errors
/// As [`generate`](crate::generate).
pub fn execution_requests(seed: u64, requests: usize) -> Result<Scenario, WorkloadError> {
    use alloy_eips::{
        eip7002::WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
        eip7251::CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
    };
    use replay_evm::chain::Fork;
    /// Well above the fee of a queue with no excess (1 wei); the rest stays in the contract.
    const FEE: u64 = 1_000;
    const GAS_REQUEST: u64 = 200_000;
    let mut b = Builder::for_fork(seed, 105, Fork::Prague);
    b.reserve_senders(2 * requests + 2);
    let pubkey = |label: &str, i: usize| {
        let mut key = seeded_hash(label, seed.wrapping_add(i as u64)).to_vec();
        key.extend_from_slice(&seeded_hash(label, seed.wrapping_add(i as u64 + 1_000))[..16]);
        key
    };
    // A new sender calls a request contract with `input` and `value`.
    let call = |b: &mut Builder, to, value: u64, input: Vec<u8>| {
        let sender = b.new_sender();
        b.push(
            sender,
            TxKind::Call(to),
            U256::from(value),
            Bytes::from(input),
            GAS_REQUEST,
        );
    };
    for i in 0..requests {
        let mut input = pubkey("validator", i);
        input.extend_from_slice(&(1_000_000_000u64 * (i as u64 + 1)).to_be_bytes());
        call(&mut b, WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS, FEE, input);
        let to = eth_recipient(&mut b);
        eth_transfer(&mut b, to);
        if i % 3 == 2 {
            let mut input = pubkey("source", i);
            input.extend(pubkey("target", i));
            call(&mut b, CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS, FEE, input);
        }
    }
    // The fee, read from the queue's excess (input empty).
    call(&mut b, WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS, 0, Vec::new());
    Ok(Scenario {
        block: b.finish()?,
        contract: WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
    })
}
