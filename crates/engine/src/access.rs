//! The vocabulary of state access shared by the parallel engine, the traces and the
//! dependency analysis: memory locations, where a read's value came from, and one
//! transaction's read and write sets.

use alloy_primitives::{Address, U256};

/// Index of a transaction in its block.
pub type TxIdx = usize;

/// How many times a transaction has been (re-)executed before this execution, in Block-STM's
/// words its incarnation number. The first execution is incarnation 0.
pub type Incarnation = u32;

/// A transaction index and the incarnation that wrote a value: Block-STM's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    /// The writing transaction.
    pub tx: TxIdx,
    /// Its incarnation.
    pub incarnation: Incarnation,
}

/// One unit of EVM state a transaction can read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Location {
    /// An account's balance.
    Balance(Address),
    /// An account's nonce.
    Nonce(Address),
    /// An account's code (and code hash).
    Code(Address),
    /// Whether the account exists, and whether it was self-destructed (which also wipes its
    /// storage). Written by creation, self-destruct and EIP-161 empty-account deletion.
    Existence(Address),
    /// One storage slot of a contract.
    Storage(Address, U256),
}

impl Location {
    /// The account the location belongs to.
    pub const fn address(&self) -> Address {
        match self {
            Self::Balance(a) | Self::Nonce(a) | Self::Code(a) | Self::Existence(a) => *a,
            Self::Storage(a, _) => *a,
        }
    }

    /// A short kind name for tables: `balance`, `nonce`, `code`, `existence` or `storage`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Balance(_) => "balance",
            Self::Nonce(_) => "nonce",
            Self::Code(_) => "code",
            Self::Existence(_) => "existence",
            Self::Storage(..) => "storage",
        }
    }
}

/// Sorts `locations` into [`Location`]'s order, as `sort_unstable` does, with fewer moves
/// on large sets: a location is 64 bytes, and a transaction that touches thousands of
/// accounts (mainnet 2462997) spent 7% of its parallel replay moving them in the sort.
/// Above 32 locations, (key, index) pairs are sorted instead, the key holding the kind and
/// the address's first 61 bits, and each run of equal keys is then ordered in full (by
/// slot alone when it is one account's storage).
pub fn sort_locations(locations: &mut [Location]) {
    if locations.len() <= 32 || u32::try_from(locations.len()).is_err() {
        locations.sort_unstable();
        return;
    }
    let key = |location: &Location| {
        let kind: u64 = match location {
            Location::Balance(_) => 0,
            Location::Nonce(_) => 1,
            Location::Code(_) => 2,
            Location::Existence(_) => 3,
            Location::Storage(..) => 4,
        };
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&location.address()[..8]);
        (kind << 61) | (u64::from_be_bytes(prefix) >> 3)
    };
    let mut keyed: Vec<(u64, u32)> = (0u32..)
        .zip(locations.iter())
        .map(|(index, location)| (key(location), index))
        .collect();
    keyed.sort_unstable_by_key(|(key, _)| *key);
    // Each run of equal keys (one kind, addresses that share their first 61 bits: in
    // practice one account's storage) then ordered in full. A run of one account's slots
    // is sorted by its slots as values: compared through the locations, looked up at
    // random, a transaction's 1,310 slots of one contract (mainnet 15537393) took most of
    // its trace's time.
    let mut slots: Vec<(U256, u32)> = Vec::new();
    let mut start = 0;
    while start < keyed.len() {
        let key = keyed[start].0;
        let end = start + keyed[start..].iter().take_while(|(k, _)| *k == key).count();
        let run = &mut keyed[start..end];
        start = end;
        if run.len() < 2 {
            continue;
        }
        let address = locations[run[0].1 as usize].address();
        slots.clear();
        slots.extend(
            run.iter()
                .map_while(|(_, index)| match locations[*index as usize] {
                    Location::Storage(a, slot) if a == address => Some((slot, *index)),
                    _ => None,
                }),
        );
        if slots.len() == run.len() {
            slots.sort_unstable_by_key(|(slot, _)| *slot);
            for (entry, (_, index)) in run.iter_mut().zip(&slots) {
                entry.1 = *index;
            }
        } else {
            run.sort_unstable_by(|(_, a), (_, b)| {
                locations[*a as usize].cmp(&locations[*b as usize])
            });
        }
    }
    let sorted: Vec<Location> = keyed.iter().map(|(_, i)| locations[*i as usize]).collect();
    locations.copy_from_slice(&sorted);
}

/// Where the value a transaction read came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadOrigin {
    /// The block's pre-state (no earlier transaction wrote the location).
    PreState,
    /// The write of an earlier transaction of the block.
    Tx(TxIdx),
}

/// One transaction's accesses, as the dependency analysis sees them.
///
/// `deltas` are the EVM-specific lazy updates: commutative balance increments and
/// decrements (the beneficiary's fee credit, the recipient's and sender's side of a plain
/// value transfer) that do not read the balance they change. A transaction that reads a
/// balance depends on every delta applied to it since its last full write; two deltas to the
/// same balance never depend on each other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxAccess {
    /// Gas used by the transaction (the weight of its node in the dependency DAG).
    pub gas: u64,
    /// Locations read, each once.
    pub reads: Vec<Location>,
    /// Locations fully written (the value does not commute with other writes).
    pub writes: Vec<Location>,
    /// Balances changed by a lazy delta only.
    pub deltas: Vec<Location>,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A location from few addresses that share their first bytes (so that sort keys tie)
    /// and few slots.
    fn location() -> impl Strategy<Value = Location> {
        (0u8..5, 0u8..6, any::<u8>(), 0u64..4).prop_map(|(kind, tail, last, slot)| {
            let mut bytes = [0xab; 20];
            bytes[7] = tail; // within the key's 61 bits
            bytes[19] = last; // past them
            bytes[0] = if last % 3 == 0 { 0x10 } else { 0xab };
            let address = Address::from(bytes);
            match kind {
                0 => Location::Balance(address),
                1 => Location::Nonce(address),
                2 => Location::Code(address),
                3 => Location::Existence(address),
                _ => Location::Storage(address, U256::from(slot) << (slot * 60)),
            }
        })
    }

    proptest! {
        #[test]
        fn sort_locations_orders_as_sort_unstable(
            mut locations in prop::collection::vec(location(), 0..300),
        ) {
            let mut expected = locations.clone();
            expected.sort_unstable();
            sort_locations(&mut locations);
            prop_assert_eq!(locations, expected);
        }
    }
}
