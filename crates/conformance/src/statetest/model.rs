//! The JSON shape of an ethereum/tests (and execution-spec-tests) state-test file.
//!
//! Numbers are parsed by hand ([`Num`], [`Quantity`]) rather than through `U256`'s serde
//! support so that every accepted spelling is explicit: `0x`-prefixed hex (where `"0x"` alone
//! is zero), plain decimal, JSON integers, and retesteth's `0x:bigint 0x…` marker, which the
//! suite uses for transaction fields that deliberately do not fit their RLP type.
//! Unknown fields are ignored: fixtures carry informational fields (`_info`, `txbytes`,
//! EEST's per-entry `state`) that the runner does not need.

use std::{collections::BTreeMap, fmt};

use alloy_eips::eip2930::{AccessList, AccessListItem};
use alloy_primitives::{Address, B256, Bytes, U256};
use serde::{
    Deserialize, Deserializer,
    de::{self, Visitor},
};

/// A state-test file: test name -> test. A `BTreeMap` keeps the names sorted.
pub(crate) type Suite = BTreeMap<String, TestUnit>;

/// One named test: a pre-state, a transaction template and the expected results per fork.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TestUnit {
    /// Block environment.
    pub(crate) env: Env,
    /// Accounts before the transaction.
    pub(crate) pre: BTreeMap<Address, PreAccount>,
    /// The transaction template; post entries select one data/gas/value combination.
    pub(crate) transaction: TxParts,
    /// Fork name (as the file spells it) -> expected results.
    pub(crate) post: BTreeMap<String, Vec<PostEntry>>,
    /// Chain configuration carried by execution-spec-tests fixtures.
    #[serde(default)]
    pub(crate) config: Option<Config>,
}

/// The block environment of a test.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Env {
    pub(crate) current_coinbase: Address,
    pub(crate) current_gas_limit: Num,
    pub(crate) current_number: Num,
    pub(crate) current_timestamp: Num,
    #[serde(default)]
    pub(crate) current_difficulty: Option<Num>,
    #[serde(default)]
    pub(crate) current_base_fee: Option<Num>,
    /// Parsed as a number so that short spellings (`0x020000`) are accepted too.
    #[serde(default)]
    pub(crate) current_random: Option<Num>,
    #[serde(default)]
    pub(crate) current_excess_blob_gas: Option<Num>,
    #[serde(default, rename = "currentChainID")]
    pub(crate) current_chain_id: Option<Num>,
}

/// An account of the pre-state.
#[derive(Debug, Deserialize)]
pub(crate) struct PreAccount {
    pub(crate) balance: Num,
    #[serde(default)]
    pub(crate) code: Bytes,
    pub(crate) nonce: Num,
    #[serde(default)]
    pub(crate) storage: BTreeMap<Num, Num>,
}

/// The transaction template of a test.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TxParts {
    pub(crate) data: Vec<Bytes>,
    pub(crate) gas_limit: Vec<Quantity>,
    pub(crate) value: Vec<Quantity>,
    pub(crate) nonce: Quantity,
    #[serde(default)]
    pub(crate) gas_price: Option<Quantity>,
    #[serde(default)]
    pub(crate) max_fee_per_gas: Option<Quantity>,
    #[serde(default)]
    pub(crate) max_priority_fee_per_gas: Option<Quantity>,
    /// One access list per `data` entry; `null` entries mean "no access list".
    #[serde(default)]
    pub(crate) access_lists: Vec<Option<Vec<AccessListEntry>>>,
    #[serde(default)]
    pub(crate) blob_versioned_hashes: Option<Vec<B256>>,
    #[serde(default)]
    pub(crate) max_fee_per_blob_gas: Option<Quantity>,
    #[serde(default)]
    pub(crate) authorization_list: Option<Vec<AuthorizationEntry>>,
    #[serde(default)]
    pub(crate) sender: Option<Address>,
    #[serde(default)]
    pub(crate) secret_key: Option<B256>,
    /// `""` (or absent) means contract creation.
    #[serde(default, deserialize_with = "maybe_empty_address")]
    pub(crate) to: Option<Address>,
    /// Explicit transaction type, when the fixture states it.
    #[serde(default, rename = "type")]
    pub(crate) tx_type: Option<Num>,
}

/// One EIP-2930 access-list item.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AccessListEntry {
    pub(crate) address: Address,
    #[serde(default)]
    pub(crate) storage_keys: Vec<B256>,
}

/// The EIP-2930 access list of `entries` (empty when the fixture has none).
pub(crate) fn access_list(entries: Option<&Vec<AccessListEntry>>) -> AccessList {
    AccessList(
        entries
            .into_iter()
            .flatten()
            .map(|item| AccessListItem {
                address: item.address,
                storage_keys: item.storage_keys.clone(),
            })
            .collect(),
    )
}

/// One EIP-7702 authorization tuple, with its signature.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuthorizationEntry {
    pub(crate) chain_id: Quantity,
    pub(crate) address: Address,
    pub(crate) nonce: Quantity,
    #[serde(default)]
    pub(crate) v: Option<Quantity>,
    #[serde(default)]
    pub(crate) y_parity: Option<Quantity>,
    pub(crate) r: Quantity,
    pub(crate) s: Quantity,
}

/// One expected result: which transaction variant, and the roots it must produce.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PostEntry {
    pub(crate) hash: B256,
    pub(crate) logs: B256,
    pub(crate) indexes: Indexes,
    #[serde(default)]
    pub(crate) expect_exception: Option<String>,
}

/// Indexes into the transaction template's `data`, `gasLimit` and `value` arrays.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct Indexes {
    pub(crate) data: usize,
    pub(crate) gas: usize,
    pub(crate) value: usize,
}

/// Chain configuration of execution-spec-tests fixtures.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Config {
    /// Fork name -> blob parameters.
    #[serde(default)]
    pub(crate) blob_schedule: Option<BTreeMap<String, BlobScheduleEntry>>,
    #[serde(default)]
    pub(crate) chainid: Option<Num>,
}

/// The EIP-7840 blob parameters of one fork.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BlobScheduleEntry {
    pub(crate) max: Num,
    pub(crate) base_fee_update_fraction: Num,
}

/// A number that must fit in 256 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Num(pub(crate) U256);

/// A transaction field that may deliberately exceed 256 bits (retesteth's `0x:bigint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quantity {
    /// A value that fits in 256 bits.
    Value(U256),
    /// A value wider than 256 bits: no valid transaction can carry it.
    Overflow,
}

/// Parses one textual number. `Ok(None)` means "well-formed but wider than 256 bits".
fn parse_number(text: &str) -> Result<Option<U256>, String> {
    let text = text.trim();
    let text = text.strip_prefix("0x:bigint ").unwrap_or(text);
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16u64),
        None => (text, 10u64),
    };
    if digits.is_empty() {
        return if radix == 16 {
            Ok(Some(U256::ZERO))
        } else {
            Err("empty number".to_owned())
        };
    }
    let mut value = U256::ZERO;
    let mut overflow = false;
    for c in digits.chars() {
        let digit = c.to_digit(radix as u32).ok_or_else(|| {
            let kind = if radix == 16 { "hex" } else { "decimal" };
            format!("invalid {kind} digit `{c}`")
        })?;
        if overflow {
            continue;
        }
        match value
            .checked_mul(U256::from(radix))
            .and_then(|v| v.checked_add(U256::from(digit)))
        {
            Some(v) => value = v,
            None => overflow = true,
        }
    }
    Ok(if overflow { None } else { Some(value) })
}

struct NumberVisitor;

impl Visitor<'_> for NumberVisitor {
    type Value = Option<U256>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a hex (`0x..`) or decimal number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        parse_number(v).map_err(|reason| E::custom(format!("invalid number `{v}`: {reason}")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(U256::from(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        u64::try_from(v)
            .map(|v| Some(U256::from(v)))
            .map_err(|_| E::custom(format!("invalid number `{v}`: negative")))
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match deserializer.deserialize_any(NumberVisitor)? {
            Some(value) => Ok(Self(value)),
            None => Err(de::Error::custom("number wider than 256 bits")),
        }
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match deserializer.deserialize_any(NumberVisitor)? {
            Some(value) => Self::Value(value),
            None => Self::Overflow,
        })
    }
}

fn maybe_empty_address<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Address>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?;
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<Address>()
            .map(Some)
            .map_err(|e| de::Error::custom(format!("invalid address `{s}`: {e}"))),
    }
}

impl Num {
    /// The value as a `u64`, or a message naming `field` when it does not fit.
    pub(crate) fn to_u64(self, field: &str) -> Result<u64, String> {
        u64::try_from(self.0).map_err(|_| format!("{field} {} does not fit in 64 bits", self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_number("0x"), Ok(Some(U256::ZERO)));
        assert_eq!(parse_number("0x0a"), Ok(Some(U256::from(10))));
        assert_eq!(parse_number("12"), Ok(Some(U256::from(12))));
        assert_eq!(parse_number("0x:bigint 0x10"), Ok(Some(U256::from(16))));
        let wide = format!("0x:bigint 0x1{}", "0".repeat(64));
        assert_eq!(parse_number(&wide), Ok(None));
        assert!(
            parse_number("0xzz")
                .unwrap_err()
                .contains("invalid hex digit `z`")
        );
        assert!(parse_number("").is_err());
    }

    #[test]
    fn map_keys_parse_as_numbers() {
        let m: BTreeMap<Num, Num> = serde_json::from_str(r#"{"0x01": "0x02", "3": 4}"#).unwrap();
        assert_eq!(m.get(&Num(U256::from(1))), Some(&Num(U256::from(2))));
        assert_eq!(m.get(&Num(U256::from(3))), Some(&Num(U256::from(4))));
    }
}
