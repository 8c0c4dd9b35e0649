//! The block archive: [`ArchivedBlock`]s as rows of the `archive` table (`schemas/archive.json`)
//! and as Parquet files.
//!
//! * [`ArchiveRow`] is one row in owned form. [`ArchiveRow::from_block`] encodes a block
//!   (and proves the encoding lossless by decoding it back); [`ArchiveRow::to_block`] decodes
//!   one, failing with a message (never a panic) on any corrupt field.
//! * [`rows_to_batch`] and [`ArchiveColumns`] convert between rows and Arrow record batches,
//!   the unit [`crate::results::replay_batch`] and the Spark job work on.
//! * [`write_archive`] writes an archive folder (`part-NNNNN.parquet`, sorted by block
//!   number); [`Archive`] opens one (or wraps an in-memory batch), lists its blocks and reads
//!   the rows of a block range.
//! * [`import_block_dirs`] and [`sample_blocks`] are the two sources: block folders such as
//!   the shared mainnet fixtures, and the workload generator.
//!
//! The encoding of each column is justified in `schemas/README.md`.

use std::{
    fs,
    path::{Path, PathBuf},
};

use alloy_consensus::{Block, TxEnvelope};
use alloy_primitives::{Address, B256, Bytes, U256, keccak256, map::HashMap};
use alloy_rlp::Decodable;
use arrow_array::{
    Array, BinaryArray, Int32Array, Int64Array, ListArray, RecordBatch, StringArray, make_array,
};
use arrow_data::ArrayData;
use arrow_schema::{ArrowError, DataType, Fields, SchemaRef};
use parquet::{
    arrow::{
        ProjectionMask,
        arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection},
    },
    file::metadata::PageIndexPolicy,
};
use rayon::prelude::*;
use replay_evm::{
    block::ArchivedBlock,
    block_dir::load_block_dir,
    chain::ChainSpec,
    pre_state::{PreAccount, PreState},
    sequential::replay_sequential,
    verify::verify,
};
use replay_evm_workload::{Workload, generate_gas};

use crate::{
    DatasetError,
    columns::{self, bins, i32s, i64s, strs},
    files, schema,
};

/// Blocks per Parquet row group of the archive: small enough that a reader of one block range
/// skips most of a file, large enough for the columnar encodings to work.
pub const ARCHIVE_ROW_GROUP_BLOCKS: usize = 16;

/// Blocks per archive file.
pub const ARCHIVE_FILE_BLOCKS: usize = 4096;

/// One account of the pre-state column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveAccount {
    /// Address.
    pub address: Address,
    /// Balance in wei.
    pub balance: U256,
    /// Nonce.
    pub nonce: u64,
    /// Deployed code (empty for none).
    pub code: Bytes,
    /// Non-zero storage slots, sorted by slot.
    pub storage: Vec<(U256, U256)>,
}

/// One row of the archive, in owned form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRow {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Timestamp (seconds).
    pub timestamp: u64,
    /// Fork name under the chain's rules.
    pub fork: String,
    /// Number of transactions.
    pub tx_count: u32,
    /// Header gas used.
    pub gas_used: u64,
    /// Consensus RLP of the block (header, transactions, ommer headers, withdrawals).
    pub block_rlp: Vec<u8>,
    /// Ommer hashes.
    pub ommer_hashes: Vec<B256>,
    /// The pre-state, sorted by address.
    pub pre_state: Vec<ArchiveAccount>,
    /// Ancestor hashes, ascending by number.
    pub ancestor_hashes: Vec<(u64, B256)>,
    /// The chain's rules as JSON ([`ChainSpec`]); `None`: the built-in table of `chain_id`.
    pub chain_spec: Option<String>,
}

impl ArchiveRow {
    /// Encodes `block`, then decodes the row back and checks that it gives `block` again.
    ///
    /// # Errors
    /// [`DatasetError::Archive`] for a chain without a built-in table, a nonce above
    /// `i64::MAX`, or an encoding that does not round-trip.
    pub fn from_block(block: &ArchivedBlock) -> Result<Self, DatasetError> {
        let chain = ChainSpec::by_id(block.chain_id)
            .map_err(|e| DatasetError::Archive(format!("block {}: {e}", block.number())))?;
        Self::from_block_in(block, &chain)
    }

    /// [`ArchiveRow::from_block`] for a block of `chain`, which the row records (in
    /// `chain_spec`) unless it is the built-in table of the block's chain id.
    ///
    /// # Errors
    /// [`DatasetError::Archive`] for a chain whose id is not the block's, a nonce above
    /// `i64::MAX`, or an encoding that does not round-trip.
    pub fn from_block_in(block: &ArchivedBlock, chain: &ChainSpec) -> Result<Self, DatasetError> {
        if chain.chain_id != block.chain_id {
            return Err(DatasetError::Archive(format!(
                "block {}: the chain spec is for chain {}, the block is of chain {}",
                block.number(),
                chain.chain_id,
                block.chain_id
            )));
        }
        let chain_spec = match ChainSpec::by_id(block.chain_id) {
            Ok(builtin) if builtin == *chain => None,
            _ => Some(serde_json::to_string(chain).map_err(|e| {
                DatasetError::Archive(format!("block {}: chain spec: {e}", block.number()))
            })?),
        };
        let header = block.header();
        let pre_state = block
            .pre_state
            .sorted_accounts()
            .into_iter()
            .map(|(address, account)| {
                let mut storage: Vec<(U256, U256)> =
                    account.storage.iter().map(|(k, v)| (*k, *v)).collect();
                storage.sort_unstable();
                ArchiveAccount {
                    address: *address,
                    balance: account.balance,
                    nonce: account.nonce,
                    code: account.code_bytes(),
                    storage,
                }
            })
            .collect::<Vec<_>>();
        if let Some(account) = pre_state.iter().find(|a| a.nonce > i64::MAX as u64) {
            return Err(DatasetError::Archive(format!(
                "block {}: account {} has nonce {}, above the archive's int64 range",
                block.number(),
                account.address,
                account.nonce
            )));
        }
        let row = Self {
            chain_id: block.chain_id,
            number: header.number,
            hash: block.hash,
            timestamp: header.timestamp,
            fork: block.fork(chain).name().to_owned(),
            tx_count: u32::try_from(block.transactions().len()).unwrap_or(u32::MAX),
            gas_used: header.gas_used,
            block_rlp: alloy_rlp::encode(&block.block),
            ommer_hashes: block.ommer_hashes.clone(),
            pre_state,
            ancestor_hashes: block
                .pre_state
                .block_hashes()
                .iter()
                .map(|(n, h)| (*n, *h))
                .collect(),
            chain_spec,
        };
        match row.to_block() {
            Ok(decoded) if decoded == *block => Ok(row),
            Ok(_) => Err(DatasetError::Archive(format!(
                "block {}: the archive row does not decode to the same block",
                block.number()
            ))),
            Err(e) => Err(DatasetError::Archive(format!(
                "block {}: the archive row does not decode: {e}",
                block.number()
            ))),
        }
    }

    /// The chain whose rules the row's block is replayed under: its `chain_spec`, or the
    /// built-in table of its chain id.
    ///
    /// # Errors
    /// A message when `chain_spec` is not a valid table or is for another chain id, or the
    /// chain id has no built-in table.
    pub fn chain(&self) -> Result<ChainSpec, String> {
        match &self.chain_spec {
            Some(json) => {
                let chain = ChainSpec::from_json(json).map_err(|e| format!("chain_spec: {e}"))?;
                if chain.chain_id != self.chain_id {
                    return Err(format!(
                        "chain_spec is for chain {} but the row's chain_id is {}",
                        chain.chain_id, self.chain_id
                    ));
                }
                Ok(chain)
            }
            None => ChainSpec::by_id(self.chain_id).map_err(|e| {
                format!("{e} (the row has no chain_spec; re-fetch it with --fork or --chain-spec)")
            }),
        }
    }

    /// Decodes the block. Checks only the encoding (and that the RLP's number is the row's);
    /// [`ArchivedBlock::check`] checks the block against its header.
    ///
    /// # Errors
    /// A message naming the corrupt column.
    pub fn to_block(&self) -> Result<ArchivedBlock, String> {
        let mut rlp = self.block_rlp.as_slice();
        let block = Block::<TxEnvelope>::decode(&mut rlp)
            .map_err(|e| format!("block_rlp: not a valid RLP block: {e}"))?;
        if !rlp.is_empty() {
            return Err(format!(
                "block_rlp: {} trailing bytes after the block",
                rlp.len()
            ));
        }
        if block.header.number != self.number {
            return Err(format!(
                "block_rlp holds block {} but the row's number is {}",
                block.header.number, self.number
            ));
        }
        let mut pre_state = PreState::new();
        for account in &self.pre_state {
            let storage: HashMap<U256, U256> = account.storage.iter().copied().collect();
            let pre = PreAccount::new(
                account.balance,
                account.nonce,
                account.code.clone(),
                storage,
            )
            .map_err(|e| format!("pre_state: account {}: {e}", account.address))?;
            pre_state.insert_account(account.address, pre);
        }
        for (number, hash) in &self.ancestor_hashes {
            pre_state.insert_block_hash(*number, *hash);
        }
        Ok(ArchivedBlock {
            chain_id: self.chain_id,
            hash: self.hash,
            block,
            ommer_hashes: self.ommer_hashes.clone(),
            pre_state,
        })
    }
}

fn as_i64(value: u64, what: &str) -> Result<i64, DatasetError> {
    i64::try_from(value)
        .map_err(|_| DatasetError::Archive(format!("{what} {value} exceeds the int64 range")))
}

/// The archive's Arrow schema.
pub fn archive_schema() -> SchemaRef {
    // The archive table is compiled in and checked by the schema tests.
    schema::table("archive")
        .map(schema::Table::arrow_schema)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Builds an archive record batch from rows (in the given order).
///
/// # Errors
/// [`DatasetError::Archive`] for a value outside the int64 range.
pub fn rows_to_batch(rows: &[ArchiveRow]) -> Result<RecordBatch, DatasetError> {
    let schema = archive_schema();
    let field = |name: &str| {
        schema
            .fields()
            .find(name)
            .map(|(_, f)| f.clone())
            .ok_or_else(|| DatasetError::Schema(format!("archive has no column `{name}`")))
    };
    let mut numbers = Vec::with_capacity(rows.len());
    let mut chain_ids = Vec::with_capacity(rows.len());
    let mut timestamps = Vec::with_capacity(rows.len());
    let mut gas = Vec::with_capacity(rows.len());
    for row in rows {
        numbers.push(as_i64(row.number, "block number")?);
        chain_ids.push(as_i64(row.chain_id, "chain id")?);
        timestamps.push(as_i64(row.timestamp, "timestamp")?);
        gas.push(as_i64(row.gas_used, "gas used")?);
    }

    // ommer_hashes: list<binary>
    let ommers_field = field("ommer_hashes")?;
    let ommer_lengths: Vec<usize> = rows.iter().map(|r| r.ommer_hashes.len()).collect();
    let ommer_items: Vec<&[u8]> = rows
        .iter()
        .flat_map(|r| r.ommer_hashes.iter().map(|h| h.as_slice()))
        .collect();
    let ommers = columns::list(&ommers_field, &ommer_lengths, bins(&ommer_items), None)?;

    // pre_state: list<struct<address, balance, nonce, code, storage: list<struct<slot, value>>>>
    let pre_field = field("pre_state")?;
    let account_fields = columns::struct_fields(&columns::list_item(&pre_field)?)?;
    let storage_field = account_fields
        .find("storage")
        .map(|(_, f)| f.clone())
        .ok_or_else(|| DatasetError::Schema("pre_state has no storage field".into()))?;
    let accounts: Vec<&ArchiveAccount> = rows.iter().flat_map(|r| &r.pre_state).collect();
    let mut nonces = Vec::with_capacity(accounts.len());
    for account in &accounts {
        nonces.push(as_i64(account.nonce, "nonce")?);
    }
    let slots: Vec<[u8; 32]> = accounts
        .iter()
        .flat_map(|a| a.storage.iter().map(|(s, _)| s.to_be_bytes::<32>()))
        .collect();
    let values: Vec<[u8; 32]> = accounts
        .iter()
        .flat_map(|a| a.storage.iter().map(|(_, v)| v.to_be_bytes::<32>()))
        .collect();
    let storage_items = columns::structs(&storage_field, vec![bins(&slots), bins(&values)])?;
    let storage_lengths: Vec<usize> = accounts.iter().map(|a| a.storage.len()).collect();
    let storage = columns::list(&storage_field, &storage_lengths, storage_items, None)?;
    let addresses: Vec<&[u8]> = accounts.iter().map(|a| a.address.as_slice()).collect();
    let balances: Vec<[u8; 32]> = accounts.iter().map(|a| a.balance.to_be_bytes()).collect();
    let codes: Vec<&[u8]> = accounts.iter().map(|a| a.code.as_ref()).collect();
    let account_items = columns::structs(
        &pre_field,
        vec![
            bins(&addresses),
            bins(&balances),
            i64s(nonces),
            bins(&codes),
            storage,
        ],
    )?;
    let account_lengths: Vec<usize> = rows.iter().map(|r| r.pre_state.len()).collect();
    let pre_state = columns::list(&pre_field, &account_lengths, account_items, None)?;

    // ancestor_hashes: list<struct<number, hash>>
    let ancestors_field = field("ancestor_hashes")?;
    let mut ancestor_numbers = Vec::new();
    let mut ancestor_hashes: Vec<&[u8]> = Vec::new();
    for (number, hash) in rows.iter().flat_map(|r| &r.ancestor_hashes) {
        ancestor_numbers.push(as_i64(*number, "ancestor number")?);
        ancestor_hashes.push(hash.as_slice());
    }
    let ancestor_items = columns::structs(
        &ancestors_field,
        vec![i64s(ancestor_numbers), bins(&ancestor_hashes)],
    )?;
    let ancestor_lengths: Vec<usize> = rows.iter().map(|r| r.ancestor_hashes.len()).collect();
    let ancestors = columns::list(&ancestors_field, &ancestor_lengths, ancestor_items, None)?;

    let hashes: Vec<&[u8]> = rows.iter().map(|r| r.hash.as_slice()).collect();
    let forks: Vec<&str> = rows.iter().map(|r| r.fork.as_str()).collect();
    let tx_counts: Vec<i32> = rows
        .iter()
        .map(|r| i32::try_from(r.tx_count).unwrap_or(i32::MAX))
        .collect();
    let rlps: Vec<&[u8]> = rows.iter().map(|r| r.block_rlp.as_slice()).collect();
    columns::batch(
        &schema,
        vec![
            ("chain_id", i64s(chain_ids)),
            ("number", i64s(numbers)),
            ("hash", bins(&hashes)),
            ("timestamp", i64s(timestamps)),
            ("fork", strs(&forks)),
            ("tx_count", i32s(tx_counts)),
            ("gas_used", i64s(gas)),
            ("block_rlp", bins(&rlps)),
            ("ommer_hashes", ommers),
            ("pre_state", pre_state),
            ("ancestor_hashes", ancestors),
            (
                "chain_spec",
                columns::opt_strs(
                    &rows
                        .iter()
                        .map(|r| r.chain_spec.clone())
                        .collect::<Vec<_>>(),
                ),
            ),
        ],
    )
}

/// What every archive row has even when the rest of it is corrupt: the scalar columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowMeta {
    /// Chain id.
    pub chain_id: i64,
    /// Block number.
    pub number: i64,
    /// Block hash bytes as stored (32 bytes in a well-formed row).
    pub hash: Vec<u8>,
    /// Timestamp.
    pub timestamp: i64,
    /// Fork name as stored.
    pub fork: String,
}

/// Typed views of an archive record batch's columns.
#[derive(Debug)]
pub struct ArchiveColumns<'a> {
    chain_id: &'a Int64Array,
    number: &'a Int64Array,
    hash: &'a BinaryArray,
    timestamp: &'a Int64Array,
    fork: &'a StringArray,
    tx_count: &'a Int32Array,
    gas_used: &'a Int64Array,
    block_rlp: &'a BinaryArray,
    ommer_hashes: &'a ListArray,
    ommer_items: &'a BinaryArray,
    pre_state: &'a ListArray,
    address: &'a BinaryArray,
    balance: &'a BinaryArray,
    nonce: &'a Int64Array,
    code: &'a BinaryArray,
    storage: &'a ListArray,
    slot: &'a BinaryArray,
    value: &'a BinaryArray,
    ancestors: &'a ListArray,
    ancestor_number: &'a Int64Array,
    ancestor_hash: &'a BinaryArray,
    chain_spec: &'a StringArray,
}

fn fixed<const N: usize>(bytes: &[u8], what: &str) -> Result<[u8; N], String> {
    bytes
        .try_into()
        .map_err(|_| format!("{what}: {} bytes, expected {N}", bytes.len()))
}

fn range(list: &ListArray, row: usize) -> std::ops::Range<usize> {
    let offsets = list.value_offsets();
    let start = usize::try_from(offsets[row]).unwrap_or(0);
    let end = usize::try_from(offsets[row + 1]).unwrap_or(start);
    start..end.max(start)
}

impl<'a> ArchiveColumns<'a> {
    /// Views `batch`, which must have exactly the archive schema.
    ///
    /// # Errors
    /// [`DatasetError::Schema`] naming the difference.
    pub fn new(batch: &'a RecordBatch) -> Result<Self, DatasetError> {
        let expected = archive_schema();
        if batch.schema().fields() != expected.fields() {
            return Err(DatasetError::Schema(format!(
                "not an archive batch: its schema is {:?}, the archive's is {:?}",
                batch.schema(),
                expected
            )));
        }
        let ommer_hashes = columns::column::<ListArray>(batch, "ommer_hashes")?;
        let ommer_items = ommer_hashes
            .values()
            .as_any()
            .downcast_ref::<BinaryArray>()
            .ok_or_else(|| DatasetError::Schema("ommer_hashes items".into()))?;
        let pre_state = columns::column::<ListArray>(batch, "pre_state")?;
        let accounts = columns::list_structs(pre_state)?;
        let storage = columns::child::<ListArray>(accounts, 4)?;
        let slots = columns::list_structs(storage)?;
        let ancestors = columns::column::<ListArray>(batch, "ancestor_hashes")?;
        let ancestor_items = columns::list_structs(ancestors)?;
        Ok(Self {
            chain_id: columns::column(batch, "chain_id")?,
            number: columns::column(batch, "number")?,
            hash: columns::column(batch, "hash")?,
            timestamp: columns::column(batch, "timestamp")?,
            fork: columns::column(batch, "fork")?,
            tx_count: columns::column(batch, "tx_count")?,
            gas_used: columns::column(batch, "gas_used")?,
            block_rlp: columns::column(batch, "block_rlp")?,
            ommer_hashes,
            ommer_items,
            pre_state,
            address: columns::child(accounts, 0)?,
            balance: columns::child(accounts, 1)?,
            nonce: columns::child(accounts, 2)?,
            code: columns::child(accounts, 3)?,
            storage,
            slot: columns::child(slots, 0)?,
            value: columns::child(slots, 1)?,
            ancestors,
            ancestor_number: columns::child(ancestor_items, 0)?,
            ancestor_hash: columns::child(ancestor_items, 1)?,
            chain_spec: columns::column(batch, "chain_spec")?,
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.number.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.number.is_empty()
    }

    /// The scalar columns of row `i` (`i < len()`).
    pub fn meta(&self, i: usize) -> RowMeta {
        RowMeta {
            chain_id: self.chain_id.value(i),
            number: self.number.value(i),
            hash: self.hash.value(i).to_vec(),
            timestamp: self.timestamp.value(i),
            fork: self.fork.value(i).to_owned(),
        }
    }

    /// Row `i` (`i < len()`) in owned form.
    ///
    /// # Errors
    /// A message naming the first malformed value (wrong byte length, negative number).
    pub fn row(&self, i: usize) -> Result<ArchiveRow, String> {
        let unsigned = |v: i64, what: &str| {
            u64::try_from(v).map_err(|_| format!("{what}: negative value {v}"))
        };
        let mut pre_state = Vec::new();
        for a in range(self.pre_state, i) {
            let storage = range(self.storage, a)
                .map(|s| {
                    Ok((
                        U256::from_be_bytes(fixed::<32>(self.slot.value(s), "storage slot")?),
                        U256::from_be_bytes(fixed::<32>(self.value.value(s), "storage value")?),
                    ))
                })
                .collect::<Result<Vec<_>, String>>()?;
            let address = Address::from(fixed::<20>(self.address.value(a), "pre_state address")?);
            pre_state.push(ArchiveAccount {
                address,
                balance: U256::from_be_bytes(fixed::<32>(self.balance.value(a), "balance")?),
                nonce: unsigned(self.nonce.value(a), "nonce")?,
                code: Bytes::copy_from_slice(self.code.value(a)),
                storage,
            });
        }
        Ok(ArchiveRow {
            chain_id: unsigned(self.chain_id.value(i), "chain_id")?,
            number: unsigned(self.number.value(i), "number")?,
            hash: B256::from(fixed::<32>(self.hash.value(i), "hash")?),
            timestamp: unsigned(self.timestamp.value(i), "timestamp")?,
            fork: self.fork.value(i).to_owned(),
            tx_count: u32::try_from(self.tx_count.value(i))
                .map_err(|_| format!("tx_count: negative value {}", self.tx_count.value(i)))?,
            gas_used: unsigned(self.gas_used.value(i), "gas_used")?,
            block_rlp: self.block_rlp.value(i).to_vec(),
            ommer_hashes: range(self.ommer_hashes, i)
                .map(|o| fixed::<32>(self.ommer_items.value(o), "ommer hash").map(B256::from))
                .collect::<Result<_, _>>()?,
            pre_state,
            ancestor_hashes: range(self.ancestors, i)
                .map(|h| {
                    Ok((
                        unsigned(self.ancestor_number.value(h), "ancestor number")?,
                        B256::from(fixed::<32>(self.ancestor_hash.value(h), "ancestor hash")?),
                    ))
                })
                .collect::<Result<_, String>>()?,
            chain_spec: (!self.chain_spec.is_null(i)).then(|| self.chain_spec.value(i).to_owned()),
        })
    }
}

/// Writes `rows` (sorted here by block number) as an archive folder at `dir`:
/// `part-00000.parquet`, `part-00001.parquet`, ... of [`ARCHIVE_FILE_BLOCKS`] blocks each.
/// Returns the files written.
///
/// # Errors
/// [`DatasetError::Archive`] when `dir` already holds Parquet files or two rows have the same
/// number; I/O and Parquet errors.
pub fn write_archive(dir: &Path, mut rows: Vec<ArchiveRow>) -> Result<Vec<PathBuf>, DatasetError> {
    if dir.is_dir() && !parquet_files(dir)?.is_empty() {
        return Err(DatasetError::Archive(format!(
            "{} already holds an archive: choose another --out or remove it",
            dir.display()
        )));
    }
    rows.sort_by_key(|r| r.number);
    if let Some(pair) = rows.windows(2).find(|w| w[0].number == w[1].number) {
        return Err(DatasetError::Archive(format!(
            "block {} appears twice",
            pair[0].number
        )));
    }
    files::create_dir(dir)?;
    let schema = archive_schema();
    let props = files::archive_properties();
    let mut written = Vec::new();
    for (index, chunk) in rows.chunks(ARCHIVE_FILE_BLOCKS).enumerate() {
        let path = dir.join(format!("part-{index:05}.parquet"));
        let mut batches = Vec::new();
        for group in chunk.chunks(ARCHIVE_ROW_GROUP_BLOCKS) {
            batches.push(rows_to_batch(group)?);
        }
        files::write_parquet_atomic(&path, &schema, &batches, props.clone())?;
        written.push(path);
    }
    Ok(written)
}

/// The `*.parquet` files directly in `dir`, sorted by name.
fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>, DatasetError> {
    let entries = fs::read_dir(dir).map_err(|e| DatasetError::io(dir, e))?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    out.sort();
    Ok(out)
}

/// Where an archive's rows are.
#[derive(Debug, Clone)]
enum Source {
    /// Parquet files; `places[i]` is (file index, row group, row in the row group) of block
    /// `blocks[i]`, and `group_rows[f][g]` the number of rows of row group `g` of file `f`.
    Files {
        files: Vec<PathBuf>,
        places: Vec<(usize, usize, usize)>,
        group_rows: Vec<Vec<usize>>,
    },
    /// One in-memory batch.
    Memory(RecordBatch),
}

/// An archive ready to be read by block range.
#[derive(Debug, Clone)]
pub struct Archive {
    source: Source,
    /// (number, hash) of every row, in row order.
    blocks: Vec<(i64, Vec<u8>)>,
}

impl Archive {
    /// Opens the archive folder `dir`, reading only the `number` and `hash` columns.
    ///
    /// # Errors
    /// [`DatasetError::Archive`] when `dir` has no Parquet file or a file is not an archive.
    pub fn open(dir: &Path) -> Result<Self, DatasetError> {
        if !dir.is_dir() {
            return Err(DatasetError::Archive(format!(
                "{}: no such archive folder",
                dir.display()
            )));
        }
        let files = parquet_files(dir)?;
        if files.is_empty() {
            return Err(DatasetError::Archive(format!(
                "{}: no Parquet files (build one with `replay-evm archive import` or \
                 `replay-evm archive sample`)",
                dir.display()
            )));
        }
        let expected = archive_schema();
        let mut blocks = Vec::new();
        let mut places = Vec::new();
        let mut group_rows = Vec::new();
        for (f, path) in files.iter().enumerate() {
            let file = fs::File::open(path).map_err(|e| DatasetError::io(path, e))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
            if !archive_fields(builder.schema().fields(), expected.fields()) {
                return Err(DatasetError::Archive(format!(
                    "{}: not an archive file (its schema differs from schemas/archive.json)",
                    path.display()
                )));
            }
            let row_groups = builder.metadata().num_row_groups();
            group_rows.push(
                builder
                    .metadata()
                    .row_groups()
                    .iter()
                    .map(|g| usize::try_from(g.num_rows()).unwrap_or(0))
                    .collect(),
            );
            let roots: Vec<usize> = ["number", "hash"]
                .iter()
                .filter_map(|n| expected.index_of(n).ok())
                .collect();
            for rg in 0..row_groups {
                let file = fs::File::open(path).map_err(|e| DatasetError::io(path, e))?;
                let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
                let mask = ProjectionMask::roots(builder.parquet_schema(), roots.clone());
                let reader = builder
                    .with_row_groups(vec![rg])
                    .with_projection(mask)
                    .build()?;
                let mut row = 0;
                for batch in reader {
                    let batch = batch?;
                    let numbers = columns::column::<Int64Array>(&batch, "number")?;
                    let hashes = columns::column::<BinaryArray>(&batch, "hash")?;
                    for i in 0..batch.num_rows() {
                        blocks.push((numbers.value(i), hashes.value(i).to_vec()));
                        places.push((f, rg, row));
                        row += 1;
                    }
                }
            }
        }
        Ok(Self {
            source: Source::Files {
                files,
                places,
                group_rows,
            },
            blocks,
        })
    }

    /// An archive held in memory as one batch of archive rows.
    ///
    /// # Errors
    /// [`DatasetError::Schema`] when `batch` is not an archive batch.
    pub fn from_batch(batch: RecordBatch) -> Result<Self, DatasetError> {
        let batch = conform(&batch)?;
        let columns = ArchiveColumns::new(&batch)?;
        let blocks = (0..columns.len())
            .map(|i| {
                let meta = columns.meta(i);
                (meta.number, meta.hash)
            })
            .collect();
        Ok(Self {
            source: Source::Memory(batch),
            blocks,
        })
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether the archive holds no block.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Every block number, ascending (negative numbers, from a corrupt row, read as 0).
    pub fn numbers(&self) -> Vec<u64> {
        let mut numbers: Vec<u64> = self
            .blocks
            .iter()
            .map(|(n, _)| u64::try_from(*n).unwrap_or(0))
            .collect();
        numbers.sort_unstable();
        numbers
    }

    /// Keccak-256 of every (number, hash) in number order: identifies the archive's content
    /// for the job's checkpoint, without reading the blocks.
    pub fn digest(&self) -> B256 {
        let mut blocks: Vec<&(i64, Vec<u8>)> = self.blocks.iter().collect();
        blocks.sort();
        let mut bytes = Vec::with_capacity(blocks.len() * 40);
        for (number, hash) in blocks {
            bytes.extend_from_slice(&number.to_be_bytes());
            bytes.extend_from_slice(hash);
        }
        keccak256(&bytes)
    }

    /// The rows whose number is in `first..=last`, in archive order.
    ///
    /// # Errors
    /// I/O and Parquet errors.
    pub fn read_range(&self, first: u64, last: u64) -> Result<RecordBatch, DatasetError> {
        // A negative number (a corrupt row) counts as 0, as in `numbers`, so that the row is
        // read by the partition of block 0 and reported there.
        let in_range = |n: i64| {
            let n = u64::try_from(n).unwrap_or(0);
            n >= first && n <= last
        };
        let schema = archive_schema();
        let batches: Vec<RecordBatch> = match &self.source {
            Source::Memory(batch) => vec![batch.clone()],
            Source::Files {
                files,
                places,
                group_rows,
            } => {
                // The wanted rows, by file then row group: only the pages holding them are
                // read (the files carry an offset index).
                let mut wanted: Vec<(usize, usize, usize)> = self
                    .blocks
                    .iter()
                    .zip(places)
                    .filter(|((n, _), _)| in_range(*n))
                    .map(|(_, p)| *p)
                    .collect();
                wanted.sort_unstable();
                let mut batches = Vec::new();
                for (file_index, path) in files.iter().enumerate() {
                    let rows: Vec<(usize, usize)> = wanted
                        .iter()
                        .filter(|(f, _, _)| *f == file_index)
                        .map(|(_, g, r)| (*g, *r))
                        .collect();
                    if rows.is_empty() {
                        continue;
                    }
                    let mut row_groups: Vec<usize> = rows.iter().map(|(g, _)| *g).collect();
                    row_groups.dedup();
                    let mut ranges = Vec::with_capacity(rows.len());
                    let mut offset = 0;
                    for g in &row_groups {
                        ranges.extend(
                            rows.iter()
                                .filter(|(rg, _)| rg == g)
                                .map(|(_, r)| offset + r..offset + r + 1),
                        );
                        offset += group_rows[file_index].get(*g).copied().unwrap_or(0);
                    }
                    let selection =
                        RowSelection::from_consecutive_ranges(ranges.into_iter(), offset);
                    let file = fs::File::open(path).map_err(|e| DatasetError::io(path, e))?;
                    let options =
                        ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
                    let reader =
                        ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)?
                            .with_row_groups(row_groups)
                            .with_row_selection(selection)
                            .with_batch_size(ARCHIVE_ROW_GROUP_BLOCKS)
                            .build()?;
                    for batch in reader {
                        batches.push(conform(&batch?)?);
                    }
                }
                batches
            }
        };
        let mut filtered = Vec::with_capacity(batches.len());
        for batch in &batches {
            let numbers = columns::column::<Int64Array>(batch, "number")?;
            let mask: arrow_array::BooleanArray = numbers
                .iter()
                .map(|n| Some(n.is_some_and(in_range)))
                .collect();
            filtered.push(arrow_select::filter::filter_record_batch(batch, &mask)?);
        }
        Ok(arrow_select::concat::concat_batches(&schema, &filtered)?)
    }
}

/// Whether `actual` has the archive's columns, in order, with the archive's types, allowing
/// what other Parquet writers change: the name of list items (`item` here, as arrow-rs
/// writes; `element` from Spark, DuckDB and pyarrow) and nullability.
fn same_fields(actual: &Fields, expected: &Fields) -> bool {
    actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected.iter())
            .all(|(a, e)| a.name() == e.name() && same_shape(a.data_type(), e.data_type()))
}

fn same_shape(actual: &DataType, expected: &DataType) -> bool {
    match (actual, expected) {
        (DataType::List(a), DataType::List(e)) => same_shape(a.data_type(), e.data_type()),
        (DataType::Struct(a), DataType::Struct(e)) => same_fields(a, e),
        _ => actual == expected,
    }
}

/// Whether `actual` is an archive written before the `chain_spec` column: the archive's
/// columns but the last.
fn lacks_chain_spec(actual: &Fields, expected: &Fields) -> bool {
    expected.last().is_some_and(|f| f.name() == "chain_spec")
        && actual.len() + 1 == expected.len()
        && actual
            .iter()
            .zip(expected.iter())
            .all(|(a, e)| a.name() == e.name() && same_shape(a.data_type(), e.data_type()))
}

/// Whether a file's top-level fields are an archive's, current or older.
fn archive_fields(actual: &Fields, expected: &Fields) -> bool {
    same_fields(actual, expected) || lacks_chain_spec(actual, expected)
}

/// `batch` under the archive schema exactly, when it differs only as [`same_fields`]
/// allows: the data is kept, the list and struct types are renamed. An archive batch
/// written before the `chain_spec` column gets a null one (the built-in chain tables).
///
/// # Errors
/// [`DatasetError::Schema`] when `batch` is not an archive batch.
pub fn conform(batch: &RecordBatch) -> Result<RecordBatch, DatasetError> {
    let expected = archive_schema();
    if batch.schema().fields() == expected.fields() {
        return Ok(batch.clone());
    }
    if !archive_fields(batch.schema().fields(), expected.fields()) {
        return Err(DatasetError::Schema(format!(
            "not an archive batch: its schema is {:?}, the archive's is {:?}",
            batch.schema(),
            expected
        )));
    }
    let mut columns = batch
        .columns()
        .iter()
        .zip(expected.fields())
        .map(|(column, field)| retype(column.to_data(), field.data_type()).map(make_array))
        .collect::<Result<Vec<_>, _>>()?;
    if columns.len() + 1 == expected.fields().len() {
        columns.push(arrow_array::new_null_array(
            &DataType::Utf8,
            batch.num_rows(),
        ));
    }
    Ok(RecordBatch::try_new(expected, columns)?)
}

/// `data` with the type `target`, whose layout it already has (checked by [`same_shape`]):
/// children first, then the node itself; buffers are shared, not copied.
fn retype(data: ArrayData, target: &DataType) -> Result<ArrayData, ArrowError> {
    let children = match target {
        DataType::List(item) => data
            .child_data()
            .iter()
            .map(|child| retype(child.clone(), item.data_type()))
            .collect::<Result<Vec<_>, _>>()?,
        DataType::Struct(fields) => data
            .child_data()
            .iter()
            .zip(fields.iter())
            .map(|(child, field)| retype(child.clone(), field.data_type()))
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Ok(data),
    };
    data.into_builder()
        .data_type(target.clone())
        .child_data(children)
        .build()
}

/// Loads each block folder (checked by [`load_block_dir`]: header hash, transactions,
/// withdrawals and ommers roots, and senders) and encodes it as a row, checking that the row
/// decodes to the same block. Returns the rows, and the folders that failed with why.
pub fn import_block_dirs(
    dirs: &[PathBuf],
    chain_id: u64,
) -> (Vec<ArchiveRow>, Vec<(PathBuf, String)>) {
    let results: Vec<Result<ArchiveRow, String>> = dirs
        .par_iter()
        .map(|dir| {
            let block = load_block_dir(dir, chain_id).map_err(|e| e.to_string())?;
            ArchiveRow::from_block(&block).map_err(|e| e.to_string())
        })
        .collect();
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for (dir, result) in dirs.iter().zip(results) {
        match result {
            Ok(row) => rows.push(row),
            Err(e) => failures.push((dir.clone(), e)),
        }
    }
    (rows, failures)
}

/// Seeds of the sample archive: each workload is generated once per seed.
pub const SAMPLE_SEEDS: [u64; 2] = [1, 2];

/// Gas of each sample block (about a mainnet block's).
pub const SAMPLE_BLOCK_GAS: u64 = 15_000_000;

/// First block number of the sample archive.
pub const SAMPLE_FIRST_BLOCK: u64 = 20_000_000;

/// The sample archive's blocks: every workload ([`Workload::ALL`]) at every
/// [`SAMPLE_SEEDS`] seed, about [`SAMPLE_BLOCK_GAS`] gas each, renumbered into four runs of
/// five consecutive blocks 10,000 blocks apart (so the default job has four partitions), with
/// an existing beneficiary (see `renumber`), each verified against its header. Deterministic: the same blocks, byte for
/// byte, on every machine.
///
/// # Errors
/// [`DatasetError::Archive`] on a generator bug (a block that does not replay or verify).
pub fn sample_blocks() -> Result<Vec<ArchivedBlock>, DatasetError> {
    let specs: Vec<(u64, Workload)> = SAMPLE_SEEDS
        .iter()
        .flat_map(|seed| Workload::ALL.iter().map(move |w| (*seed, *w)))
        .collect();
    let chain = ChainSpec::mainnet();
    specs
        .par_iter()
        .enumerate()
        .map(|(i, (seed, workload))| {
            let generated = generate_gas(*workload, *seed, SAMPLE_BLOCK_GAS)
                .map_err(|e| DatasetError::Archive(format!("sample {workload}: {e}")))?;
            let number = SAMPLE_FIRST_BLOCK + (i as u64 / 5) * 10_000 + i as u64 % 5;
            let block = renumber(generated, number);
            let replay = replay_sequential(&block, &chain)
                .map_err(|e| DatasetError::Archive(format!("sample {workload}: {e}")))?;
            verify(block.header(), &replay)
                .map_err(|e| DatasetError::Archive(format!("sample {workload}: {e}")))?;
            Ok(block)
        })
        .collect()
}

/// `block` moved to height `number`: the header's number, the ancestor hash of its parent,
/// and the block hash (nothing a generated transaction executes reads the number); and a
/// beneficiary that exists (1 ether), as on mainnet.
fn renumber(block: ArchivedBlock, number: u64) -> ArchivedBlock {
    let ArchivedBlock {
        chain_id,
        block: mut inner,
        ommer_hashes,
        pre_state,
        ..
    } = block;
    inner.header.number = number;
    let mut renumbered = PreState::new();
    for (address, account) in pre_state.sorted_accounts() {
        renumbered.insert_account(*address, account.clone());
    }
    renumbered.insert_block_hash(number - 1, inner.header.parent_hash);
    // A mainnet beneficiary always exists; a fresh one would be created by the first fee
    // credit, and every later transaction would read its existence from that transaction.
    let beneficiary = inner.header.beneficiary;
    if renumbered.account(&beneficiary).is_none()
        && let Ok(account) = PreAccount::new(
            U256::from(10u64).pow(U256::from(18u64)),
            0,
            Bytes::new(),
            HashMap::default(),
        )
    {
        renumbered.insert_account(beneficiary, account);
    }
    ArchivedBlock {
        chain_id,
        hash: inner.header.hash_slow(),
        block: inner,
        ommer_hashes,
        pre_state: renumbered,
    }
}

/// The sample archive as rows.
///
/// # Errors
/// As [`sample_blocks`] and [`ArchiveRow::from_block`].
pub fn sample_rows() -> Result<Vec<ArchiveRow>, DatasetError> {
    sample_blocks()?
        .iter()
        .map(ArchiveRow::from_block)
        .collect()
}
