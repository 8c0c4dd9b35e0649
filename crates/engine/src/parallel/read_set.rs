//! One incarnation's read set: every location it read, once, with what the read observed
//! (Block-STM's read set, which validation compares with what a read would observe now).
//!
//! revm asks for an account's four basic fields together (`Database::basic`), so most of a
//! transaction's reads come in fours: an ERC-20 transfer through a pool reads about nine
//! slots and four accounts, sixteen account fields. A [`ReadSet`] therefore holds one entry
//! per *account*, with an observation for each field read, and one per storage slot, in two
//! lists. The read sets of every transaction stay in memory until the block is done, so their
//! size is most of the parallel replay's memory over the sequential one's: an account costs
//! one entry of 88 bytes here instead of four of 80.
//!
//! A [`ReadRecorder`] is a worker's buffer for the read set being recorded: it keeps the
//! first observation of each location and hands the set over exactly sized.

use alloy_primitives::{
    Address, U256,
    map::{AddressMap, Entry, HashMap},
};

use super::mv_memory::{MvMemory, Observed};
use crate::access::{Location, TxIdx};

/// An account's basic fields in the order [`ReadSet`] keeps them (the order of
/// [`Location`]'s account variants).
pub(crate) const ACCOUNT_FIELDS: [fn(Address) -> Location; 4] = [
    Location::Balance,
    Location::Nonce,
    Location::Code,
    Location::Existence,
];

/// The balance's index in [`ACCOUNT_FIELDS`].
pub(crate) const BALANCE: usize = 0;
/// The nonce's index in [`ACCOUNT_FIELDS`].
pub(crate) const NONCE: usize = 1;
/// The code's index in [`ACCOUNT_FIELDS`].
pub(crate) const CODE: usize = 2;
/// The existence's index in [`ACCOUNT_FIELDS`].
pub(crate) const EXISTENCE: usize = 3;

/// The account and field index of an account location; `None` for a storage slot.
pub(crate) const fn account_field(location: &Location) -> Option<(Address, usize)> {
    match *location {
        Location::Balance(a) => Some((a, BALANCE)),
        Location::Nonce(a) => Some((a, NONCE)),
        Location::Code(a) => Some((a, CODE)),
        Location::Existence(a) => Some((a, EXISTENCE)),
        Location::Storage(..) => None,
    }
}

/// The reads of one account's basic fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccountReads {
    pub(crate) address: Address,
    /// What each field's read observed (in [`ACCOUNT_FIELDS`] order); `None` if not read.
    pub(crate) fields: [Option<Observed>; 4],
}

/// One storage slot's read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SlotRead {
    pub(crate) address: Address,
    pub(crate) slot: U256,
    pub(crate) observed: Observed,
}

/// The read a failed validation found changed ([`ReadSet::first_changed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangedRead {
    /// A basic field (balance, nonce, code, existence) of this account.
    Account(Address),
    /// A storage slot of this account.
    Slot(Address),
}

/// A read set: each location once, with what its first read observed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ReadSet {
    /// The accounts whose basic fields were read, in the order of their first read.
    pub(crate) accounts: Vec<AccountReads>,
    /// The storage slots read, in the order of their first read.
    pub(crate) slots: Vec<SlotRead>,
}

impl ReadSet {
    /// The number of locations read.
    pub(crate) fn len(&self) -> usize {
        let fields: usize = self
            .accounts
            .iter()
            .map(|a| a.fields.iter().flatten().count())
            .sum();
        fields + self.slots.len()
    }

    /// Block-STM's validation: the first read that would not observe now, as transaction
    /// `reader`, what it observed when it ran (an ESTIMATE in the way fails it), the
    /// accounts' fields before the slots; `None` when every read still holds (the
    /// incarnation is valid). An account's fields are checked under one lock.
    pub(crate) fn first_changed(&self, mv: &MvMemory, reader: TxIdx) -> Option<ChangedRead> {
        if let Some(account) = self
            .accounts
            .iter()
            .find(|account| !mv.account_unchanged(account, reader))
        {
            return Some(ChangedRead::Account(account.address));
        }
        self.slots
            .iter()
            .find(|read| {
                let location = Location::Storage(read.address, read.slot);
                !mv.still_observes(&location, reader, &read.observed)
            })
            .map(|read| ChangedRead::Slot(read.address))
    }

    /// Whether this read set holds a read of one of `locations` (an account's field by its
    /// field, a slot by its slot): a write at a location it did not read cannot change what
    /// its validation finds. Also true, without a search, when the two are too large to
    /// compare pairwise (more than [`COMPARED`] pairs): a caller then acts as if it did.
    pub(crate) fn reads_any(&self, locations: &[Location]) -> bool {
        if (self.accounts.len() + self.slots.len()) * locations.len() > COMPARED {
            return true;
        }
        locations.iter().any(|location| self.has_read(location))
    }

    /// Whether `location` was read, by a scan of the lists.
    fn has_read(&self, location: &Location) -> bool {
        match *location {
            Location::Storage(address, slot) => self
                .slots
                .iter()
                .any(|read| read.address == address && read.slot == slot),
            _ => account_field(location).is_some_and(|(address, field)| {
                self.accounts
                    .iter()
                    .any(|read| read.address == address && read.fields[field].is_some())
            }),
        }
    }

    /// Every location read with what it observed: the accounts' fields first, then the
    /// slots.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Location, &Observed)> {
        let fields = self.accounts.iter().flat_map(|account| {
            ACCOUNT_FIELDS
                .iter()
                .zip(&account.fields)
                .filter_map(|(location, observed)| {
                    observed.as_ref().map(|o| (location(account.address), o))
                })
        });
        let slots = self
            .slots
            .iter()
            .map(|s| (Location::Storage(s.address, s.slot), &s.observed));
        fields.chain(slots)
    }
}

/// The most pairs of a read set's entries and written locations that
/// [`ReadSet::reads_any`] compares (a few microseconds at most).
const COMPARED: usize = 1024;

/// Up to this many accounts or slots, a read set is searched for one by scanning it, which
/// costs less than hashing every read.
const SCANNED: usize = 16;

/// A worker's buffer for the read set being recorded, reused by every incarnation it runs.
#[derive(Debug, Default)]
pub(crate) struct ReadRecorder {
    set: ReadSet,
    /// Each account's position in `set.accounts`, once there are more than [`SCANNED`].
    account_index: AddressMap<usize>,
    /// Each slot's position in `set.slots`, once there are more than [`SCANNED`].
    slot_index: HashMap<(Address, U256), usize>,
}

impl ReadRecorder {
    /// Empties the buffer for the next incarnation, keeping its capacity.
    pub(crate) fn clear(&mut self) {
        self.set.accounts.clear();
        self.set.slots.clear();
        self.account_index.clear();
        self.slot_index.clear();
    }

    /// The number of locations recorded so far.
    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }

    /// Records that `location` was read and observed `observed`, unless it was read before
    /// (the first read is the one the transaction's behaviour depends on).
    pub(crate) fn note(&mut self, location: Location, observed: Observed) {
        match account_field(&location) {
            Some((address, field)) => {
                let position = self.account_position(address);
                let entry = &mut self.set.accounts[position].fields[field];
                if entry.is_none() {
                    *entry = Some(observed);
                }
            }
            None => {
                let Location::Storage(address, slot) = location else {
                    return;
                };
                if self.set.slots.len() >= SCANNED && self.slot_index.is_empty() {
                    let positions = self.set.slots.iter().enumerate();
                    self.slot_index
                        .extend(positions.map(|(i, s)| ((s.address, s.slot), i)));
                }
                let seen = if self.slot_index.is_empty() {
                    self.slot_position_of(address, slot).is_some()
                } else {
                    let position = self.set.slots.len();
                    match self.slot_index.entry((address, slot)) {
                        Entry::Occupied(_) => true,
                        Entry::Vacant(vacant) => {
                            vacant.insert(position);
                            false
                        }
                    }
                };
                if !seen {
                    self.set.slots.push(SlotRead {
                        address,
                        slot,
                        observed,
                    });
                }
            }
        }
    }

    /// The position of `address`'s entry, added (with no field read) if it has none.
    fn account_position(&mut self, address: Address) -> usize {
        if self.set.accounts.len() >= SCANNED && self.account_index.is_empty() {
            let positions = self.set.accounts.iter().enumerate();
            self.account_index
                .extend(positions.map(|(i, a)| (a.address, i)));
        }
        self.account_position_of(address).unwrap_or_else(|| {
            let position = self.set.accounts.len();
            self.set.accounts.push(AccountReads {
                address,
                fields: [None, None, None, None],
            });
            if !self.account_index.is_empty() {
                self.account_index.insert(address, position);
            }
            position
        })
    }

    /// The position of `address`'s entry: scanned for while the set is small (the index is
    /// built once it has [`SCANNED`] accounts, and kept from then on), else looked up.
    fn account_position_of(&self, address: Address) -> Option<usize> {
        if self.account_index.is_empty() {
            self.set.accounts.iter().position(|a| a.address == address)
        } else {
            self.account_index.get(&address).copied()
        }
    }

    /// The position of slot `slot` of `address`, as [`Self::account_position_of`] finds an
    /// account's.
    fn slot_position_of(&self, address: Address, slot: U256) -> Option<usize> {
        if self.slot_index.is_empty() {
            let mut slots = self.set.slots.iter();
            slots.position(|s| s.slot == slot && s.address == address)
        } else {
            self.slot_index.get(&(address, slot)).copied()
        }
    }

    /// Whether `location` was read (by the incarnation being recorded).
    pub(crate) fn has_read(&self, location: &Location) -> bool {
        match account_field(location) {
            Some((address, field)) => self
                .find_account(address)
                .is_some_and(|account| account.fields[field].is_some()),
            None => self.find_slot(location).is_some(),
        }
    }

    /// Whether the recorded read of `location` (of an account's fields: any of them) would
    /// not observe now, as transaction `reader`, what it observed: what validation would
    /// find once the incarnation completed (`write_log.rs`). `false` if it was not read.
    pub(crate) fn changed(&self, location: &Location, mv: &MvMemory, reader: TxIdx) -> bool {
        match account_field(location) {
            Some((address, _)) => self
                .find_account(address)
                .is_some_and(|account| !mv.account_unchanged(account, reader)),
            None => self
                .find_slot(location)
                .is_some_and(|read| !mv.still_observes(location, reader, &read.observed)),
        }
    }

    /// Whether any read recorded so far would not observe now what it observed.
    pub(crate) fn any_changed(&self, mv: &MvMemory, reader: TxIdx) -> bool {
        self.set.first_changed(mv, reader).is_some()
    }

    fn find_account(&self, address: Address) -> Option<&AccountReads> {
        self.set.accounts.get(self.account_position_of(address)?)
    }

    fn find_slot(&self, location: &Location) -> Option<&SlotRead> {
        let Location::Storage(address, slot) = *location else {
            return None;
        };
        self.set.slots.get(self.slot_position_of(address, slot)?)
    }

    /// Hands over the read set, exactly sized: it is kept until the block ends, while this
    /// buffer, at the largest size so far, records the worker's next one.
    pub(crate) fn take(&mut self) -> ReadSet {
        let set = ReadSet {
            accounts: hand_over(&mut self.set.accounts),
            slots: hand_over(&mut self.set.slots),
        };
        self.account_index.clear();
        self.slot_index.clear();
        set
    }
}

/// Moves `buffer`'s items into a new vector of exactly their number, leaving `buffer` empty
/// with its capacity for the next incarnation.
pub(crate) fn hand_over<T>(buffer: &mut Vec<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(buffer.len());
    out.append(buffer);
    out
}

#[cfg(test)]
mod tests {
    use alloy_primitives::address;

    use super::*;
    use crate::{access::Version, parallel::mv_memory::MvValue};

    fn written(tx: usize) -> Observed {
        Observed::written(Version { tx, incarnation: 0 })
    }

    /// Many accounts and slots (past the scanned prefix, into the indexes): each location
    /// once, its first observation kept, and `iter` gives back exactly what was noted.
    #[test]
    fn keeps_each_location_once_with_its_first_observation() {
        let mut recorder = ReadRecorder::default();
        let mut expected = Vec::new();
        for round in 0..2 {
            for i in 0..40u8 {
                let address = Address::repeat_byte(i);
                let locations = [
                    Location::Existence(address),
                    Location::Nonce(address),
                    Location::Storage(address, U256::from(i)),
                    Location::Balance(address),
                ];
                for (k, location) in locations.into_iter().enumerate() {
                    // The second round observes other writers: ignored.
                    recorder.note(location, written(round * 1000 + usize::from(i) + k));
                    if round == 0 {
                        expected.push((location, written(usize::from(i) + k)));
                    }
                }
            }
        }
        assert_eq!(recorder.len(), expected.len());
        let set = recorder.take();
        assert_eq!(recorder.len(), 0);
        let mut got: Vec<(Location, Observed)> = set.iter().map(|(l, o)| (l, o.clone())).collect();
        got.sort_by_key(|(l, _)| *l);
        expected.sort_by_key(|(l, _)| *l);
        assert_eq!(got, expected);
        assert_eq!(set.len(), 160);
        assert_eq!(set.accounts.len(), 40);
        assert_eq!(set.accounts.capacity(), 40);
        assert_eq!(set.slots.len(), 40);
        assert!(set.accounts.iter().all(|a| a.fields[2].is_none()));
    }

    /// `reads_any` finds a read location by account field and by slot, and says true
    /// without a search past `COMPARED` pairs.
    #[test]
    fn reads_any_is_by_field_and_slot() {
        let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let mut recorder = ReadRecorder::default();
        recorder.note(Location::Nonce(a), written(1));
        recorder.note(Location::Storage(b, U256::from(3)), Observed::Base);
        let set = recorder.take();
        assert!(set.reads_any(&[Location::Nonce(a)]));
        assert!(set.reads_any(&[Location::Code(b), Location::Storage(b, U256::from(3))]));
        // Another field of a read account, another slot of a read contract, nothing.
        assert!(!set.reads_any(&[Location::Balance(a), Location::Storage(b, U256::from(4))]));
        assert!(!set.reads_any(&[Location::Storage(a, U256::from(3)), Location::Nonce(b)]));
        assert!(!set.reads_any(&[]));
        // Too many pairs to compare: as if read.
        let many: Vec<Location> = (0..COMPARED as u64)
            .map(|i| Location::Storage(a, U256::from(i + 100)))
            .collect();
        assert!(set.reads_any(&many));
    }

    /// The sizes the module docs count on: a read set's entries are most of a parallel
    /// replay's memory over the sequential one's, so growing one is a decision to make on
    /// purpose (the bench's peak-heap target), not by accident.
    #[test]
    fn entries_stay_small() {
        use std::mem::size_of;
        assert_eq!(size_of::<Observed>(), 16);
        assert_eq!(size_of::<AccountReads>(), 88);
        assert_eq!(size_of::<SlotRead>(), 72);
    }

    /// After `take` and `clear` nothing of the last incarnation is remembered: a location
    /// read again is recorded again.
    #[test]
    fn a_new_incarnation_starts_empty() {
        let a = address!("00000000000000000000000000000000000000aa");
        let mut recorder = ReadRecorder::default();
        for i in 0..20u8 {
            recorder.note(Location::Storage(a, U256::from(i)), Observed::Base);
            recorder.note(Location::Code(Address::repeat_byte(i)), Observed::Base);
        }
        recorder.clear();
        recorder.note(Location::Storage(a, U256::ZERO), written(3));
        recorder.note(Location::Code(Address::repeat_byte(0)), written(4));
        let set = recorder.take();
        let got: Vec<(Location, Observed)> = set.iter().map(|(l, o)| (l, o.clone())).collect();
        assert_eq!(
            got,
            vec![
                (Location::Code(Address::repeat_byte(0)), written(4)),
                (Location::Storage(a, U256::ZERO), written(3)),
            ]
        );
    }

    /// `has_read` finds a recorded location, scanned or indexed; `changed` and `any_changed`
    /// say whether a recorded read would observe something else now, as validation would.
    #[test]
    fn a_recorded_read_is_found_and_checked_against_the_memory() {
        let mv = MvMemory::new();
        let a = address!("00000000000000000000000000000000000000aa");
        let mut recorder = ReadRecorder::default();
        // Past the scanned prefix, so that the last ones are found through the indexes.
        for i in 0..40u8 {
            recorder.note(Location::Storage(a, U256::from(i)), Observed::Base);
            recorder.note(Location::Nonce(Address::repeat_byte(i)), Observed::Base);
        }
        for i in [0u8, 39] {
            assert!(recorder.has_read(&Location::Storage(a, U256::from(i))));
            assert!(recorder.has_read(&Location::Nonce(Address::repeat_byte(i))));
            // Another field of an account read, never read itself.
            assert!(!recorder.has_read(&Location::Balance(Address::repeat_byte(i))));
        }
        assert!(!recorder.has_read(&Location::Storage(a, U256::from(40))));
        assert!(!recorder.any_changed(&mv, 10));
        let version = Version {
            tx: 3,
            incarnation: 0,
        };
        mv.record(
            version,
            &[(
                Location::Storage(a, U256::from(39)),
                MvValue::Storage(U256::from(1)),
            )],
            &[],
        );
        assert!(recorder.changed(&Location::Storage(a, U256::from(39)), &mv, 10));
        assert!(!recorder.changed(&Location::Storage(a, U256::from(38)), &mv, 10));
        assert!(recorder.any_changed(&mv, 10));
        // Transaction 2 reads below the write: nothing changed for it.
        assert!(!recorder.any_changed(&mv, 2));
    }
}
