//! The write-set self-check (`ParallelEngine::with_write_set_check`): after the commit
//! phase, every location any transaction wrote is read back from the multi-version memory, as
//! a transaction after the last would read it, and compared with the committed state. It
//! proves the write-set extraction (`vm.rs`) and the lazy credits on every block it runs on.

use alloy_primitives::map::AddressMap;
use revm::Database;

use super::{
    executor::LastIncarnations,
    mv_memory::MvMemory,
    vm::{self, BlockContext},
};
use crate::access::Location;

/// Every location any last incarnation wrote, sorted, each once.
pub(crate) fn written_locations<O>(slots: &LastIncarnations<O>) -> Vec<Location> {
    let mut all: Vec<Location> = slots
        .iter()
        .flat_map(|slot| slot.write_locations.iter().copied())
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Compares, location by location, the multi-version memory as a transaction after the last
/// would read it with the committed state.
pub(crate) fn check_final_state<DB: Database>(
    ctx: &BlockContext<'_>,
    mv: &MvMemory,
    n: usize,
    written: &[Location],
    state: &mut DB,
) -> Result<(), String> {
    let mut reader = vm::VmDb::reader(n, mv, &ctx.base, &ctx.codes);
    let mut committed_infos: AddressMap<Option<revm::state::AccountInfo>> = AddressMap::default();
    let db_error = |e: DB::Error| format!("final-state check: state read failed: {e}");
    for location in written {
        let address = location.address();
        let mismatch = |what: &str, parallel: String, sequential: String| {
            Err(format!(
                "write set disagrees with the sequential commit at {location:?}: {what} is \
                 {parallel} in parallel, {sequential} sequentially"
            ))
        };
        let exists = reader.exists(address).map_err(|e| e.to_string())?;
        let committed = match committed_infos.get(&address) {
            Some(info) => info.clone(),
            None => {
                let info = state.basic(address).map_err(db_error)?;
                committed_infos.insert(address, info.clone());
                info
            }
        };
        let Some(info) = committed else {
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
                let balance = reader.balance(address).map_err(|e| e.to_string())?;
                if balance != info.balance {
                    return mismatch("balance", balance.to_string(), info.balance.to_string());
                }
            }
            Location::Nonce(_) => {
                let nonce = reader.nonce(address).map_err(|e| e.to_string())?;
                if nonce != info.nonce {
                    return mismatch("nonce", nonce.to_string(), info.nonce.to_string());
                }
            }
            Location::Code(_) => {
                let (hash, _) = reader.code(address).map_err(|e| e.to_string())?;
                if hash != info.code_hash {
                    return mismatch("code hash", hash.to_string(), info.code_hash.to_string());
                }
            }
            Location::Storage(_, slot) => {
                let value = reader.storage(address, *slot).map_err(|e| e.to_string())?;
                let committed = state.storage(address, *slot).map_err(db_error)?;
                if value != committed {
                    return mismatch("storage", value.to_string(), committed.to_string());
                }
            }
        }
    }
    Ok(())
}
