//! The JSON pieces both fixture formats share: numbers and accounts.
//!
//! Numbers are parsed by hand ([`Num`], [`Quantity`]) rather than through `U256`'s serde
//! support so that every accepted spelling is explicit: `0x`-prefixed hex (where `"0x"` alone
//! is zero), plain decimal, JSON integers, and retesteth's `0x:bigint 0x…` marker, which the
//! suite uses for transaction fields that deliberately do not fit their RLP type.

use std::{collections::BTreeMap, fmt};

use alloy_primitives::{Bytes, U256, map::HashMap};
use replay_evm::pre_state;
use serde::{
    Deserialize, Deserializer,
    de::{self, Visitor},
};

/// An account as both fixture formats list it (`pre`, and a blockchain test's `postState`).
#[derive(Debug, Deserialize)]
pub(crate) struct PreAccount {
    pub(crate) balance: Num,
    #[serde(default)]
    pub(crate) code: Bytes,
    pub(crate) nonce: Num,
    #[serde(default)]
    pub(crate) storage: BTreeMap<Num, Num>,
}

impl PreAccount {
    /// The engine's account, zero storage values dropped (the engine holds non-zero slots).
    /// `label` names the account in the messages (`account 0x..`).
    ///
    /// # Errors
    /// A message naming the account whose nonce does not fit in 64 bits or whose code the
    /// engine cannot analyse.
    pub(crate) fn to_engine(&self, label: &str) -> Result<pre_state::PreAccount, String> {
        let storage: HashMap<U256, U256> = self
            .storage
            .iter()
            .filter(|(_, value)| !value.0.is_zero())
            .map(|(slot, value)| (slot.0, value.0))
            .collect();
        let nonce = self.nonce.to_u64(&format!("{label} nonce"))?;
        pre_state::PreAccount::new(self.balance.0, nonce, self.code.clone(), storage)
            .map_err(|e| format!("{label}: {e}"))
    }
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

impl Num {
    /// The value as a `u64`, or a message naming `field` when it does not fit.
    pub(crate) fn to_u64(self, field: &str) -> Result<u64, String> {
        u64::try_from(self.0).map_err(|_| format!("{field} {} does not fit in 64 bits", self.0))
    }
}

impl Quantity {
    /// The value as a `u64`, or `None` when it does not fit.
    pub(crate) fn to_u64(self) -> Option<u64> {
        match self {
            Self::Value(v) => u64::try_from(v).ok(),
            Self::Overflow => None,
        }
    }

    /// The value as a `u128`, or `None` when it does not fit.
    pub(crate) fn to_u128(self) -> Option<u128> {
        match self {
            Self::Value(v) => u128::try_from(v).ok(),
            Self::Overflow => None,
        }
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
