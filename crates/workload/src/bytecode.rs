//! Small hand-assembled contracts for the random blocks ([`crate::random`]): they use only
//! opcodes every fork from Frontier on knows (no PUSH0, SHL, CHAINID...), except CREATE2,
//! which the generator uses only from Petersburg on. Failure is `REVERT(0, 0)`: from Byzantium
//! on it reverts, before Byzantium 0xfd is an undefined opcode and halts, so a failing call
//! fails on every fork.
//!
//! Every contract's calldata is a few 32-byte words, described on each constructor.

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use revm::bytecode::opcode::{
    ADD, ADDRESS, BALANCE, BLOCKHASH, CALL, CALLDATALOAD, CALLDATASIZE, CALLER, CALLVALUE,
    CODECOPY, CREATE, CREATE2, DIV, DUP1, DUP2, DUP3, DUP4, DUP5, DUP6, DUP10, EQ, GAS, GT, ISZERO,
    JUMP, JUMPDEST, JUMPI, LOG0, LOG3, LT, MSTORE, MUL, NUMBER, POP, PUSH1, PUSH2, PUSH20, PUSH32,
    RETURN, REVERT, SELFDESTRUCT, SLOAD, SSTORE, STOP, SUB, SWAP1,
};

/// A jump target, resolved when the code is finished.
#[derive(Debug, Clone, Copy)]
struct Label(usize);

/// A tiny assembler: opcodes, minimal pushes, and two-byte label references.
#[derive(Default)]
struct Asm {
    code: Vec<u8>,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, Label)>,
}

impl Asm {
    fn ops(&mut self, ops: &[u8]) -> &mut Self {
        self.code.extend_from_slice(ops);
        self
    }

    /// Pushes `value` with the shortest PUSHn (PUSH1 for zero: PUSH0 is Shanghai's).
    fn push(&mut self, value: U256) -> &mut Self {
        let bytes = value.to_be_bytes::<32>();
        let skip = bytes.iter().take_while(|b| **b == 0).count().min(31);
        let len = 32 - skip;
        self.code.push(PUSH1 + (len as u8 - 1));
        self.code.extend_from_slice(&bytes[skip..]);
        self
    }

    fn push_u64(&mut self, value: u64) -> &mut Self {
        self.push(U256::from(value))
    }

    fn push_address(&mut self, address: Address) -> &mut Self {
        self.code.push(PUSH20);
        self.code.extend_from_slice(address.as_slice());
        self
    }

    fn push_b256(&mut self, word: B256) -> &mut Self {
        self.code.push(PUSH32);
        self.code.extend_from_slice(word.as_slice());
        self
    }

    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Places `label` here, as a JUMPDEST.
    fn jumpdest(&mut self, label: Label) -> &mut Self {
        self.labels[label.0] = Some(self.code.len());
        self.code.push(JUMPDEST);
        self
    }

    /// Places `label` here, on data (no JUMPDEST).
    fn data_label(&mut self, label: Label) -> &mut Self {
        self.labels[label.0] = Some(self.code.len());
        self
    }

    /// Pushes `label`'s offset (two bytes).
    fn push_label(&mut self, label: Label) -> &mut Self {
        self.code.push(PUSH2);
        self.fixups.push((self.code.len(), label));
        self.code.extend_from_slice(&[0, 0]);
        self
    }

    fn jump(&mut self, label: Label) -> &mut Self {
        self.push_label(label).ops(&[JUMP])
    }

    fn jump_if(&mut self, label: Label) -> &mut Self {
        self.push_label(label).ops(&[JUMPI])
    }

    /// `REVERT(0, 0)` (a halt before Byzantium).
    fn fail(&mut self) -> &mut Self {
        self.push_u64(0).ops(&[DUP1, REVERT])
    }

    /// Pushes the gas for a sub-call: all but 40,000, more than the call's own cost (up to
    /// 34,040 before EIP-150: 40 + 25,000 for a new account + 9,000 for value), so that the
    /// request never exceeds what is left where EIP-150 does not cap it yet.
    fn call_gas(&mut self) -> &mut Self {
        self.ops(&[GAS]).push_u64(40_000).ops(&[SWAP1, SUB])
    }

    fn bytes(&mut self, data: &[u8]) -> &mut Self {
        self.code.extend_from_slice(data);
        self
    }

    fn here(&self) -> usize {
        self.code.len()
    }

    fn finish(&mut self) -> Bytes {
        for (at, label) in &self.fixups {
            let target = self.labels[label.0].and_then(|t| u16::try_from(t).ok());
            assert!(
                target.is_some(),
                "label {} not placed, or beyond 64 KiB",
                label.0
            );
            let target = target.unwrap_or_default();
            self.code[*at..*at + 2].copy_from_slice(&target.to_be_bytes());
        }
        Bytes::from(std::mem::take(&mut self.code))
    }
}

/// The `Transfer(address,address,uint256)` event topic.
pub(crate) fn transfer_topic() -> B256 {
    keccak256("Transfer(address,address,uint256)")
}

/// A token (one code for both of the pool's tokens): `balanceOf[holder]` is storage slot
/// `holder`. Calldata `(from, to, amount)`: moves `amount` from `from` to `to` when the caller
/// is `from` or `pool`, and logs a `Transfer`; fails when the balance is short.
pub(crate) fn token(pool: Address) -> Bytes {
    let mut a = Asm::default();
    let (ok, fail) = (a.label(), a.label());
    a.push_u64(0).ops(&[CALLDATALOAD]); // [from]
    a.ops(&[DUP1, CALLER, EQ]).jump_if(ok);
    a.push_address(pool).ops(&[CALLER, EQ]).jump_if(ok);
    a.jump(fail);
    a.jumpdest(ok);
    a.ops(&[DUP1, SLOAD]); // [from, balance]
    a.push_u64(64).ops(&[CALLDATALOAD]); // [from, balance, amount]
    a.ops(&[DUP1, DUP3, LT]).jump_if(fail); // balance < amount
    a.ops(&[SWAP1, SUB, DUP2, SSTORE]); // balance[from] -= amount; [from]
    a.push_u64(32).ops(&[CALLDATALOAD, DUP1, SLOAD]); // [from, to, balance]
    a.push_u64(64).ops(&[CALLDATALOAD, ADD, DUP2, SSTORE]); // balance[to] += amount
    a.push_u64(64)
        .ops(&[CALLDATALOAD])
        .push_u64(0)
        .ops(&[MSTORE]);
    a.ops(&[SWAP1]).push_b256(transfer_topic());
    a.push_u64(32).push_u64(0).ops(&[LOG3, STOP]);
    a.jumpdest(fail).fail();
    a.finish()
}

/// A constant-product pool of `token0` and `token0 + 1` (addresses as numbers), reserves in
/// slots 0 and 1, no fee. Calldata `(amount_in, direction, min_out)`: direction 0 sells
/// token0, 1 sells token1; `out = reserve_out · in / (reserve_in + in)`; fails when `out` is
/// below `min_out` or a token transfer fails.
pub(crate) fn pool(token0: Address) -> Bytes {
    let token1 =
        Address::from_word((U256::from_be_bytes(token0.into_word().0) + U256::from(1)).into());
    let mut a = Asm::default();
    let fail = a.label();
    a.push_u64(32).ops(&[CALLDATALOAD, DUP1, SLOAD]); // [dir, rin]
    a.ops(&[DUP2]).push_u64(1).ops(&[SUB, SLOAD]); // [dir, rin, rout]
    a.push_u64(0).ops(&[CALLDATALOAD]); // [dir, rin, rout, in]
    a.ops(&[DUP1, DUP4, ADD, DUP2, DUP4, MUL, DIV]); // [dir, rin, rout, in, out]
    a.push_u64(64).ops(&[CALLDATALOAD, DUP2, LT]).jump_if(fail); // out < min_out
    // tokenIn.transfer(caller -> pool, in)
    a.ops(&[CALLER]).push_u64(0).ops(&[MSTORE]);
    a.ops(&[ADDRESS]).push_u64(32).ops(&[MSTORE]);
    a.ops(&[DUP2]).push_u64(64).ops(&[MSTORE]);
    a.push_u64(0)
        .push_u64(0)
        .push_u64(96)
        .push_u64(0)
        .push_u64(0);
    a.ops(&[DUP10]).push_address(token0).ops(&[ADD]);
    a.call_gas().ops(&[CALL, ISZERO]).jump_if(fail);
    // tokenOut.transfer(pool -> caller, out)
    a.ops(&[ADDRESS]).push_u64(0).ops(&[MSTORE]);
    a.ops(&[CALLER]).push_u64(32).ops(&[MSTORE]);
    a.ops(&[DUP1]).push_u64(64).ops(&[MSTORE]);
    a.push_u64(0)
        .push_u64(0)
        .push_u64(96)
        .push_u64(0)
        .push_u64(0);
    a.ops(&[DUP10]).push_address(token1).ops(&[SUB]);
    a.call_gas().ops(&[CALL, ISZERO]).jump_if(fail);
    // reserve_out -= out; reserve_in += in
    a.ops(&[DUP3, SUB, DUP5]).push_u64(1).ops(&[SUB, SSTORE]); // [dir, rin, rout, in]
    a.ops(&[DUP3, ADD, DUP4, SSTORE, STOP]);
    a.jumpdest(fail).fail();
    a.finish()
}

/// The BLOCKHASH reader. Slot 0 holds an offset. Calldata:
/// - empty: slot 1 = BLOCKHASH(NUMBER − 1 − offset), also logged: the ancestor it asks for
///   depends on the last offset written;
/// - `(number)`: slot 2 = BLOCKHASH(number);
/// - `(offset, spins)`: sets the offset after `spins` turns of an empty loop (about 40 gas
///   each), so that the write comes late and a parallel execution of the reads after it
///   likely reads the old offset.
pub(crate) fn hasher() -> Bytes {
    let mut a = Asm::default();
    let (read, absolute, spin, set) = (a.label(), a.label(), a.label(), a.label());
    a.ops(&[CALLDATASIZE, ISZERO]).jump_if(read);
    a.ops(&[CALLDATASIZE])
        .push_u64(32)
        .ops(&[EQ])
        .jump_if(absolute);
    a.push_u64(32).ops(&[CALLDATALOAD]); // [spins]
    a.jumpdest(spin);
    a.ops(&[DUP1, ISZERO]).jump_if(set);
    a.push_u64(1).ops(&[SWAP1, SUB]).jump(spin);
    a.jumpdest(set);
    a.push_u64(0)
        .ops(&[CALLDATALOAD])
        .push_u64(0)
        .ops(&[SSTORE, STOP]);
    a.jumpdest(absolute);
    a.push_u64(0)
        .ops(&[CALLDATALOAD, BLOCKHASH])
        .push_u64(2)
        .ops(&[SSTORE, STOP]);
    a.jumpdest(read);
    a.push_u64(0)
        .ops(&[SLOAD])
        .push_u64(1)
        .ops(&[NUMBER, SUB, SUB, BLOCKHASH]);
    a.ops(&[DUP1]).push_u64(1).ops(&[SSTORE]);
    a.push_u64(0)
        .ops(&[MSTORE])
        .push_u64(32)
        .push_u64(0)
        .ops(&[LOG0, STOP]);
    a.finish()
}

/// The child's runtime code: empty calldata increments slot 1 (it accepts ether); calldata
/// `(beneficiary)` self-destructs to the beneficiary.
pub(crate) fn child_runtime() -> Bytes {
    let mut a = Asm::default();
    let destroy = a.label();
    a.ops(&[CALLDATASIZE]).jump_if(destroy);
    a.push_u64(1)
        .ops(&[SLOAD])
        .push_u64(1)
        .ops(&[ADD])
        .push_u64(1)
        .ops(&[SSTORE, STOP]);
    a.jumpdest(destroy);
    a.push_u64(0).ops(&[CALLDATALOAD, SELFDESTRUCT]);
    a.finish()
}

/// The child's init code: sets slot 0 to 1 (so that the child has storage to wipe), then
/// returns [`child_runtime`]; or, `doomed`, self-destructs to its creator instead.
pub(crate) fn child_init(doomed: bool) -> Bytes {
    let runtime = child_runtime();
    let mut a = Asm::default();
    a.push_u64(1).push_u64(0).ops(&[SSTORE]);
    if doomed {
        a.ops(&[CALLER, SELFDESTRUCT]);
        return a.finish();
    }
    let body = a.label();
    let len = runtime.len() as u64;
    a.push_u64(len)
        .push_label(body)
        .push_u64(0)
        .ops(&[CODECOPY]);
    a.push_u64(len).push_u64(0).ops(&[RETURN]);
    a.data_label(body).bytes(&runtime);
    a.finish()
}

/// Factory operations: the first calldata word.
pub(crate) mod factory_op {
    /// CREATE a child (with the call's value); slot 1 = its address.
    pub(crate) const CREATE: u64 = 1;
    /// CREATE2 a child with salt = the second word; slot 2 = its address.
    pub(crate) const CREATE2: u64 = 2;
    /// CREATE a child, then have it self-destruct to the caller, in the same call.
    pub(crate) const CREATE_AND_DESTROY: u64 = 3;
    /// CREATE2 (salt = the second word), then self-destruct, in the same call.
    pub(crate) const CREATE2_AND_DESTROY: u64 = 4;
}

/// The child factory: slot 3 counts its calls (a shared counter); the operation is the first
/// calldata word ([`factory_op`]). The child's init code ([`child_init`]`(false)`) is the
/// code's tail, copied to memory before each creation.
pub(crate) fn factory() -> Bytes {
    let init = child_init(false);
    let len = init.len() as u64;
    let mut a = Asm::default();
    let (create, create2, create_destroy, create2_destroy, destroy, init_code) = (
        a.label(),
        a.label(),
        a.label(),
        a.label(),
        a.label(),
        a.label(),
    );
    a.push_u64(1)
        .push_u64(3)
        .ops(&[SLOAD, ADD])
        .push_u64(3)
        .ops(&[SSTORE]);
    a.push_u64(len)
        .push_label(init_code)
        .push_u64(0)
        .ops(&[CODECOPY]);
    a.push_u64(0).ops(&[CALLDATALOAD]);
    for (op, label) in [
        (factory_op::CREATE, create),
        (factory_op::CREATE2, create2),
        (factory_op::CREATE_AND_DESTROY, create_destroy),
        (factory_op::CREATE2_AND_DESTROY, create2_destroy),
    ] {
        a.ops(&[DUP1]).push_u64(op).ops(&[EQ]).jump_if(label);
    }
    a.fail();
    a.jumpdest(create);
    a.push_u64(len)
        .push_u64(0)
        .ops(&[CALLVALUE, CREATE])
        .push_u64(1)
        .ops(&[SSTORE, STOP]);
    a.jumpdest(create2);
    a.push_u64(32)
        .ops(&[CALLDATALOAD])
        .push_u64(len)
        .push_u64(0);
    a.ops(&[CALLVALUE, CREATE2])
        .push_u64(2)
        .ops(&[SSTORE, STOP]);
    a.jumpdest(create_destroy);
    a.push_u64(len)
        .push_u64(0)
        .ops(&[CALLVALUE, CREATE])
        .jump(destroy);
    a.jumpdest(create2_destroy);
    a.push_u64(32)
        .ops(&[CALLDATALOAD])
        .push_u64(len)
        .push_u64(0);
    a.ops(&[CALLVALUE, CREATE2]);
    // [op, child]: child.destroy(caller); slot 4 = whether the call succeeded.
    a.jumpdest(destroy);
    a.ops(&[CALLER]).push_u64(0).ops(&[MSTORE]);
    a.push_u64(0)
        .push_u64(0)
        .push_u64(32)
        .push_u64(0)
        .push_u64(0);
    a.ops(&[DUP6])
        .call_gas()
        .ops(&[CALL])
        .push_u64(4)
        .ops(&[SSTORE, STOP]);
    a.data_label(init_code).bytes(&init);
    debug_assert!(a.here() < 0x1_0000);
    a.finish()
}

/// A contract that always fails after a write: slot 0 is incremented, then empty calldata
/// loops until the gas runs out, other calldata reverts.
pub(crate) fn failer() -> Bytes {
    let mut a = Asm::default();
    let (spin, revert) = (a.label(), a.label());
    a.push_u64(1)
        .push_u64(0)
        .ops(&[SLOAD, ADD])
        .push_u64(0)
        .ops(&[SSTORE]);
    a.ops(&[CALLDATASIZE]).jump_if(revert);
    a.jumpdest(spin).jump(spin);
    a.jumpdest(revert).fail();
    a.finish()
}

/// A forwarder. Calldata `(target)`: calls `target` with the call's value and no data (the
/// outcome is ignored). Calldata `(target, 0)`: storage slot `target` = BALANCE(target).
pub(crate) fn forwarder() -> Bytes {
    let mut a = Asm::default();
    let call = a.label();
    a.ops(&[CALLDATASIZE]).push_u64(32).ops(&[EQ]).jump_if(call);
    a.push_u64(0)
        .ops(&[CALLDATALOAD, DUP1, BALANCE, SWAP1, SSTORE, STOP]);
    a.jumpdest(call);
    a.push_u64(0)
        .push_u64(0)
        .push_u64(0)
        .push_u64(0)
        .ops(&[CALLVALUE]);
    a.push_u64(0)
        .ops(&[CALLDATALOAD])
        .call_gas()
        .ops(&[CALL, POP, STOP]);
    a.finish()
}

/// A key-value store. Calldata: `(slot, value)` pairs, stored in order (so one call can set a
/// slot and clear it again).
pub(crate) fn kv_store() -> Bytes {
    let mut a = Asm::default();
    let (top, end) = (a.label(), a.label());
    a.push_u64(0);
    a.jumpdest(top);
    a.ops(&[DUP1, CALLDATASIZE, GT, ISZERO]).jump_if(end); // [i]
    a.ops(&[DUP1]).push_u64(32).ops(&[ADD, CALLDATALOAD]); // [i, value]
    a.ops(&[DUP2, CALLDATALOAD, SSTORE]);
    a.push_u64(64).ops(&[ADD]).jump(top);
    a.jumpdest(end).ops(&[STOP]);
    a.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opcodes added after Frontier: SHL/SHR/SAR, CHAINID, SELFBALANCE, BASEFEE, BLOBHASH,
    /// BLOBBASEFEE, TLOAD/TSTORE/MCOPY, PUSH0, EXTCODEHASH, RETURNDATASIZE/COPY,
    /// DELEGATECALL, STATICCALL (CREATE2 is checked apart).
    const NEWER: [u8; 16] = [
        0x1b, 0x1c, 0x1d, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x5c, 0x5d, 0x5e, 0x5f, 0x3f, 0x3d, 0x3e,
        0xf4,
    ];

    #[test]
    fn only_frontier_opcodes_and_create2_only_in_the_factory() {
        use revm::bytecode::opcode::OpCode;
        for (name, code) in [
            ("token", token(Address::ZERO)),
            ("pool", pool(Address::ZERO)),
            ("hasher", hasher()),
            ("child", child_init(false)),
            ("doomed child", child_init(true)),
            ("factory", factory()),
            ("failer", failer()),
            ("forwarder", forwarder()),
            ("kv", kv_store()),
        ] {
            let mut i = 0;
            while i < code.len() {
                let op = code[i];
                assert!(
                    !NEWER.contains(&op) && op != 0xfa,
                    "{name}: opcode {op:#x} at {i} is newer than Frontier"
                );
                assert!(op != CREATE2 || name == "factory", "{name}: CREATE2");
                let info = OpCode::new(op).map(|o| o.info());
                assert!(info.is_some() || op == REVERT, "{name}: {op:#x} at {i}");
                i += 1 + info.map_or(0, |o| o.immediate_size() as usize);
            }
        }
    }

    #[test]
    fn pushes_are_minimal_and_never_push0() {
        let mut a = Asm::default();
        a.push_u64(0).push_u64(0xff).push_u64(0x100);
        assert_eq!(&a.finish()[..], &[PUSH1, 0, PUSH1, 0xff, PUSH2, 1, 0]);
    }
}
