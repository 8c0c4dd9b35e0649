//! A receipt's logs bloom (Yellow Paper §4.3.1), with each thread remembering the Keccak
//! hashes of the log addresses and topics it met.
//!
//! A bloom sets three of its 2048 bits for every log's address and for each of its topics,
//! taken from the first six bytes of the input's Keccak hash: a Transfer log costs four
//! hashes, and on a block of many logs the blooms outweigh the execution. Most of a block's
//! logs repeat a few event signatures (topic 0 of every ERC-20 Transfer is the same hash)
//! and emitters (a token, a pool), and blocks repeat them from one to the next, so each
//! thread keeps a [`Memo`] of the inputs it hashed last: a direct-mapped table of
//! [`MEMO_ENTRIES`] inputs with their hashes' six bytes.
//!
//! A memo cannot change a bloom, only skip a hash: an entry is used only when its input is
//! byte for byte the one asked for (length included), otherwise the input is hashed and
//! replaces the entry. The memo is the thread's own (`thread_local!`), so no lock and no
//! cache line is shared between the workers for it.

use std::cell::RefCell;

use alloy_primitives::{B256, Bloom, Log, keccak256};

/// Entries of a thread's memo: 1024 of 40 bytes, 40 KiB, within a core's L2 cache.
const MEMO_ENTRIES: usize = 1024;

/// One remembered input: a log address (20 bytes) or a topic (32), left-aligned in `input`,
/// and the first six bytes of its Keccak hash, the only ones a bloom uses.
#[derive(Clone, Copy)]
struct Entry {
    input: [u8; 32],
    /// The input's length; 0 for an empty entry (no input is empty).
    len: u8,
    hash_head: [u8; 6],
}

/// The hashes a thread computed last, by input (see the module docs).
struct Memo {
    entries: Box<[Entry]>,
}

impl Memo {
    fn new() -> Self {
        let empty = Entry {
            input: [0; 32],
            len: 0,
            hash_head: [0; 6],
        };
        Self {
            entries: vec![empty; MEMO_ENTRIES].into_boxed_slice(),
        }
    }

    /// Sets `input`'s three bits in `bloom` (an address or a topic), hashing it unless the
    /// memo holds it.
    fn accrue(&mut self, bloom: &mut Bloom, input: &[u8]) {
        let mut hash = B256::ZERO;
        match self.entries.get_mut(slot_of(input)) {
            // Never empty (an empty entry has length 0).
            Some(entry) if (1..=32).contains(&input.len()) => {
                if !entry.holds(input) {
                    *entry = Entry::of(input);
                }
                hash[..6].copy_from_slice(&entry.hash_head);
            }
            // Longer than any address or topic (or empty): hashed, not remembered.
            _ => hash = keccak256(input),
        }
        bloom.m3_2048_hashed(&hash);
    }
}

impl Entry {
    /// Whether this entry remembers `input` (byte for byte, length included).
    fn holds(&self, input: &[u8]) -> bool {
        usize::from(self.len) == input.len() && self.input.get(..input.len()) == Some(input)
    }

    /// `input` (at most 32 bytes) with its hash's first six bytes.
    fn of(input: &[u8]) -> Self {
        let hash = keccak256(input);
        let mut entry = Self {
            input: [0; 32],
            len: input.len() as u8,
            hash_head: [0; 6],
        };
        entry.input[..input.len()].copy_from_slice(input);
        entry.hash_head.copy_from_slice(&hash[..6]);
        entry
    }
}

/// The memo entry of `input`: its last eight bytes (an address's or a topic's, which vary
/// where a left-padded value does), mixed by a multiplication.
fn slot_of(input: &[u8]) -> usize {
    let mut tail = [0u8; 8];
    let take = input.len().min(8);
    tail[8 - take..].copy_from_slice(&input[input.len() - take..]);
    let mixed = u64::from_le_bytes(tail).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> (64 - MEMO_ENTRIES.trailing_zeros())) as usize
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo::new());
}

/// The bloom of `logs`: what alloy's `logs_bloom` returns, through this thread's memo.
pub(crate) fn logs_bloom(logs: &[Log]) -> Bloom {
    let bloom_with = |memo: &mut Memo| {
        let mut bloom = Bloom::ZERO;
        for log in logs {
            memo.accrue(&mut bloom, log.address.as_slice());
            for topic in log.topics() {
                memo.accrue(&mut bloom, topic.as_slice());
            }
        }
        bloom
    };
    // The memo is gone only while the thread exits, and never borrowed twice (nothing here
    // calls back); a fresh one would do either way.
    MEMO.try_with(|memo| {
        memo.try_borrow_mut()
            .ok()
            .map(|mut memo| bloom_with(&mut memo))
    })
    .ok()
    .flatten()
    .unwrap_or_else(|| bloom_with(&mut Memo::new()))
}

#[cfg(test)]
mod tests {
    use alloy_primitives::{Address, Bytes, LogData};
    use proptest::prelude::*;

    use super::*;

    fn log(address: Address, topics: Vec<B256>) -> Log {
        Log {
            address,
            data: LogData::new_unchecked(topics, Bytes::new()),
        }
    }

    /// Inputs that share their last eight bytes share a memo entry: each replaces the
    /// other there, and the bloom is still each one's own.
    #[test]
    fn inputs_that_share_an_entry_each_get_their_own_bits() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        a[0] = 1;
        b[0] = 2;
        assert_eq!(slot_of(&a), slot_of(&b));
        let address = Address::from_slice(&a[12..]);
        let logs = [
            log(address, vec![B256::from(a), B256::from(b)]),
            log(address, vec![B256::from(b), B256::from(a), B256::from(a)]),
        ];
        for _ in 0..2 {
            assert_eq!(logs_bloom(&logs), alloy_primitives::logs_bloom(&logs));
            for one in &logs {
                assert_eq!(
                    logs_bloom(std::slice::from_ref(one)),
                    alloy_primitives::logs_bloom([one]),
                    "{one:?}"
                );
            }
        }
    }

    proptest! {
        /// Any logs, drawn from a few addresses and topics so that the memo both hits and
        /// misses: the bloom is alloy's.
        #[test]
        fn the_bloom_is_alloys(
            picks in prop::collection::vec(
                (0usize..6, prop::collection::vec(0usize..12, 0..5)), 0..40),
            seeds in prop::collection::vec(any::<[u8; 32]>(), 12),
        ) {
            let logs: Vec<Log> = picks
                .iter()
                .map(|(address, topics)| {
                    log(
                        Address::from_slice(&seeds[*address][12..]),
                        topics.iter().map(|t| B256::from(seeds[*t])).collect(),
                    )
                })
                .collect();
            prop_assert_eq!(logs_bloom(&logs), alloy_primitives::logs_bloom(&logs));
            // Again, now that the memo holds them.
            prop_assert_eq!(logs_bloom(&logs), alloy_primitives::logs_bloom(&logs));
        }
    }
}
