//! The write-set self-check (`ParallelEngine::with_write_set_check`): the block's final
//! state, as the commit folds it from the write sets (`final_state.rs`), is compared at
//! every written location with what the multi-version memory returns to a transaction after
//! the last: the credit chains, the wipes and the topmost writer, read the way every
//! incarnation read them. It proves the memory's reads and the fold against each other on
//! every block it runs on; the write sets themselves are proved by the comparison with the
//! sequential replay that every test makes.

use super::{
    executor::LastIncarnations,
    final_state::FinalState,
    mv_memory::MvMemory,
    tx_executor::IncarnationOutput,
    vm::{BlockContext, VmDb},
};
use alloy_primitives::U256;
use revm::Database;

use crate::access::Location;

/// Compares `final_state` with the memory read after the last of the `slots`' transactions,
/// at every location a last incarnation wrote.
pub(crate) fn check_final_state<O: IncarnationOutput>(
    ctx: &BlockContext<'_>,
    mv: &MvMemory,
    slots: &LastIncarnations<O>,
    final_state: &FinalState,
) -> Result<(), String> {
    let n = slots.len();
    let mut reader = VmDb::reader(n, mv, &ctx.base, &ctx.codes);
    let written = slots
        .iter()
        .filter_map(|slot| slot.output.as_ref())
        .flat_map(|output| output.writes().iter().map(|(location, _)| location));
    for location in written {
        let address = location.address();
        // Each location on its own: nothing learnt of another account carries over.
        reader.start(n, None);
        let read = |e: super::vm::VmReadError| format!("final-state check at {location:?}: {e}");
        let mismatch = |what: &str, memory: String, folded: String| {
            Err(format!(
                "final state at {location:?}: {what} is {memory} in the memory, {folded} \
                 folded from the write sets"
            ))
        };
        let exists = reader.exists(address).map_err(read)?;
        let account = final_state.account(&address, || ctx.base.info(address));
        let Some(info) = account.as_ref().and_then(|account| account.info.as_ref()) else {
            if exists {
                return mismatch("existence", "true".into(), "false".into());
            }
            continue;
        };
        if !exists {
            return mismatch("existence", "false".into(), "true".into());
        }
        match location {
            Location::Existence(_) => {}
            Location::Balance(_) => {
                let balance = reader.balance(address).map_err(read)?;
                if balance != info.balance {
                    return mismatch("balance", balance.to_string(), info.balance.to_string());
                }
            }
            Location::Nonce(_) => {
                let nonce = reader.nonce(address).map_err(read)?;
                if nonce != info.nonce {
                    return mismatch("nonce", nonce.to_string(), info.nonce.to_string());
                }
            }
            Location::Code(_) => {
                let (hash, _) = reader.code(address).map_err(read)?;
                if hash != info.code_hash {
                    return mismatch("code hash", hash.to_string(), info.code_hash.to_string());
                }
            }
            Location::Storage(_, slot) => {
                let value = reader.storage(address, *slot).map_err(read)?;
                // A slot written before the account's last wipe is not in the fold: zero.
                let folded = account.as_ref().map_or(U256::ZERO, |account| {
                    account.storage(*slot, || ctx.base.storage(address, *slot))
                });
                if value != folded {
                    return mismatch("storage", value.to_string(), folded.to_string());
                }
            }
        }
    }
    Ok(())
}
