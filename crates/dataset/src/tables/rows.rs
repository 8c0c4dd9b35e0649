//! The rows of one block, as the replay pipeline ([`crate::replay`]) builds them and the
//! table encoders read them: one [`BlockOutput`] per block, holding its `blocks` row and its
//! transactions, conflict edges and hotspots. Fields are in the tables' units (`i64` gas,
//! `i32` indices); `None` is a null.

use alloy_primitives::{Address, B256, U256};
use replay_evm::access::Location;

use crate::archive::RowMeta;

/// `v` as an `int64` column value (saturating).
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `v` as an `int32` column value (saturating).
pub(crate) fn to_i32(v: usize) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// One location of a trace, edge or hotspot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LocRow {
    pub(crate) kind: &'static str,
    pub(crate) address: Address,
    pub(crate) slot: Option<U256>,
}

impl From<&Location> for LocRow {
    fn from(location: &Location) -> Self {
        Self {
            kind: location.kind(),
            address: location.address(),
            slot: match location {
                Location::Storage(_, slot) => Some(*slot),
                _ => None,
            },
        }
    }
}

#[derive(Debug)]
pub(crate) struct TxRow {
    pub(crate) index: i32,
    pub(crate) hash: B256,
    pub(crate) sender: Address,
    pub(crate) to: Option<Address>,
    pub(crate) tx_type: i32,
    pub(crate) status: &'static str,
    pub(crate) halt_reason: Option<String>,
    pub(crate) gas_limit: i64,
    pub(crate) gas_used: i64,
    pub(crate) logs: i32,
    pub(crate) reads: Vec<(LocRow, Option<i32>)>,
    pub(crate) writes: Vec<LocRow>,
    pub(crate) credits: Vec<LocRow>,
    pub(crate) lazy_dependencies: Vec<i32>,
    pub(crate) naive_dependencies: Vec<i32>,
    pub(crate) on_critical_path: bool,
    pub(crate) incarnations: Option<i32>,
    pub(crate) exec_us: Option<i64>,
}

#[derive(Debug)]
pub(crate) struct EdgeRow {
    pub(crate) mode: &'static str,
    pub(crate) dependent: i32,
    pub(crate) dependency: i32,
    pub(crate) locations: Vec<LocRow>,
}

#[derive(Debug)]
pub(crate) struct HotRow {
    pub(crate) mode: &'static str,
    pub(crate) rank: i32,
    pub(crate) location: LocRow,
    pub(crate) edges: i64,
    pub(crate) dependents: i64,
    pub(crate) txs: i64,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct ModeRow {
    pub(crate) edges: i64,
    pub(crate) conflicting_txs: i64,
    pub(crate) conflict_rate: f64,
    pub(crate) critical_path_gas: i64,
    pub(crate) critical_path_txs: i64,
    pub(crate) theoretical_speedup: f64,
    pub(crate) speedups: [f64; 4],
    pub(crate) hotspots: i64,
}

#[derive(Debug)]
pub(crate) struct RunRow {
    pub(crate) threads: i32,
    pub(crate) wall_us: i64,
    pub(crate) speedup: f64,
    pub(crate) spread: f64,
    pub(crate) executions: i64,
    pub(crate) validations: i64,
    pub(crate) aborts: i64,
    pub(crate) suspensions: i64,
}

#[derive(Debug)]
pub(crate) struct ReplayRow {
    pub(crate) gas_used: i64,
    pub(crate) logs: i64,
    pub(crate) receipts_root: B256,
    pub(crate) state_diff_hash: B256,
    pub(crate) changed_accounts: i64,
    pub(crate) changed_slots: i64,
    pub(crate) ommer_rewards_applied: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Measured {
    pub(crate) decode_us: Option<i64>,
    pub(crate) sequential_us: Option<i64>,
    pub(crate) repeats: Option<i32>,
    pub(crate) sequential_spread: Option<f64>,
    pub(crate) analysis_us: Option<i64>,
    pub(crate) total_us: Option<i64>,
    pub(crate) runs: Option<Vec<RunRow>>,
}

#[derive(Debug)]
pub(crate) struct BlockRow {
    pub(crate) meta: RowMeta,
    pub(crate) error: Option<(&'static str, String)>,
    pub(crate) tx_count: Option<i32>,
    pub(crate) gas_limit: Option<i64>,
    pub(crate) replay: Option<ReplayRow>,
    pub(crate) receipts_root_checked: Option<bool>,
    pub(crate) accesses: Option<[i64; 3]>,
    pub(crate) lazy: Option<ModeRow>,
    pub(crate) naive: Option<ModeRow>,
    pub(crate) next_block: NextBlock,
    pub(crate) measured: Measured,
}

/// The consistency check of a block against the next one (`consistency::compare`).
#[derive(Debug, Default)]
pub(crate) struct NextBlock {
    /// Whether block n+1 was there to check against (same batch or the look-ahead, same
    /// block range, child of this block) and this block verified.
    pub(crate) checked: bool,
    /// Fields on which this block's post-state and block n+1's pre-state disagree.
    pub(crate) disagreements: Option<i32>,
    /// The first of them, in words.
    pub(crate) first_disagreement: Option<String>,
}

#[derive(Debug)]
pub(crate) struct BlockOutput {
    pub(crate) block: BlockRow,
    pub(crate) txs: Vec<TxRow>,
    pub(crate) edges: Vec<EdgeRow>,
    pub(crate) hot: Vec<HotRow>,
}

/// The rows `rows` picks from each block's output, in block order, with each row's block
/// range and block number alongside.
pub(crate) fn flatten<'a, T>(
    outputs: &'a [BlockOutput],
    range: &dyn Fn(&RowMeta) -> String,
    rows: impl Fn(&'a BlockOutput) -> &'a [T],
) -> (Vec<String>, Vec<i64>, Vec<&'a T>) {
    let (mut ranges, mut numbers, mut all) = (Vec::new(), Vec::new(), Vec::new());
    for output in outputs {
        let name = range(&output.block.meta);
        for row in rows(output) {
            ranges.push(name.clone());
            numbers.push(output.block.meta.number);
            all.push(row);
        }
    }
    (ranges, numbers, all)
}
