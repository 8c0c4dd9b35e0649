//! Reading archive record batches: [`ArchiveColumns`], typed views of a batch's columns, give
//! each row's scalar columns ([`RowMeta`], present even in a corrupt row) and the row in
//! owned form ([`ArchiveRow`]).

use alloy_primitives::{Address, B256, Bytes, U256};
use arrow_array::{
    Array, BinaryArray, Int32Array, Int64Array, ListArray, RecordBatch, StringArray,
};

use crate::{
    DatasetError,
    archive::row::{ArchiveAccount, ArchiveRow},
    columns,
    schema::archive_schema,
};

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
        let expected = archive_schema()?;
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
