//! Writing the archive: [`rows_to_batch`] turns rows into an Arrow record batch of the
//! archive table, [`write_archive`] writes an archive folder (`part-NNNNN.parquet`, sorted by
//! block number, [`ARCHIVE_FILE_BLOCKS`] blocks a file).

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;

use crate::{
    DatasetError,
    archive::row::{ArchiveAccount, ArchiveRow},
    columns::{self, bins, i32s, i64s, strs},
    parquet::{self, ARCHIVE_ROW_GROUP_BLOCKS},
    schema::archive_schema,
};

/// Blocks per archive file.
pub const ARCHIVE_FILE_BLOCKS: usize = 4096;

fn as_i64(value: u64, what: &str) -> Result<i64, DatasetError> {
    i64::try_from(value)
        .map_err(|_| DatasetError::Archive(format!("{what} {value} exceeds the int64 range")))
}

/// Builds an archive record batch from rows (in the given order).
///
/// # Errors
/// [`DatasetError::Archive`] for a value outside the int64 range.
pub fn rows_to_batch(rows: &[ArchiveRow]) -> Result<RecordBatch, DatasetError> {
    let schema = archive_schema()?;
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

/// Writes `rows` (sorted here by block number) as an archive folder at `dir`:
/// `part-00000.parquet`, `part-00001.parquet`, ... of [`ARCHIVE_FILE_BLOCKS`] blocks each.
/// Returns the files written.
///
/// # Errors
/// [`DatasetError::Archive`] when `dir` already holds Parquet files or two rows have the same
/// number; I/O and Parquet errors.
pub fn write_archive(dir: &Path, mut rows: Vec<ArchiveRow>) -> Result<Vec<PathBuf>, DatasetError> {
    if dir.is_dir() && !parquet::parquet_files(dir)?.is_empty() {
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
    parquet::create_dir(dir)?;
    let schema = archive_schema()?;
    let props = parquet::archive_properties();
    let mut written = Vec::new();
    for (index, chunk) in rows.chunks(ARCHIVE_FILE_BLOCKS).enumerate() {
        let path = dir.join(format!("part-{index:05}.parquet"));
        let mut batches = Vec::new();
        for group in chunk.chunks(ARCHIVE_ROW_GROUP_BLOCKS) {
            batches.push(rows_to_batch(group)?);
        }
        parquet::write_parquet_atomic(&path, &schema, &batches, props.clone())?;
        written.push(path);
    }
    Ok(written)
}
