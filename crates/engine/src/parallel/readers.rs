//! Readers' marks: for each key of the multi-version memory, by its hash, one more than the
//! highest transaction that read it, so that a transaction writing a location for the first
//! time can tell whether any higher transaction may have read that location before.
//!
//! Block-STM validates every higher transaction again when an incarnation writes a location
//! its previous incarnation did not (a *validation wave*, `wrote_new_location` in the
//! paper): a higher incarnation that already ran may have read that location from below
//! and missed the write. Every first incarnation writes only new locations, so every first
//! incarnation that completes after a higher one starts a wave. On blocks of small
//! transactions whose first incarnations finish out of order (a hint waited, an early
//! start) the waves were most of the work: mainnet 6196166 at two threads,
//! execution-only, 540 validations for 108 transactions, its worker loop longer than one
//! thread's. A higher transaction can only have missed a new location it read; when no
//! higher transaction has read any of the new locations, the wave validates nothing that
//! could fail, and the scheduler skips it (`Scheduler::finish_execution`).
//!
//! # The marks
//! One `u32` per hash bucket (a power of two of them): 0 when no transaction read a key of
//! the bucket, else one more than the highest reader. Keys share buckets, and a mark only
//! grows, so a mark says "a transaction this high or lower may have read the location":
//! a shared bucket or an old read only costs a wave, as before. A read marks its key's
//! bucket whatever it found (a value, the base state, an ESTIMATE), so that a reader of the
//! base state, which found no entries, is seen too. Only transactions' executions mark;
//! validations read without marking.
//!
//! # Why a write sees every reader it must (the orderings)
//! A reader `j` marks during its execution, and an incarnation is validated only after its
//! record (`MvMemory::record`, then `Scheduler::finish_execution`). A writer `i` puts its
//! entries into the memory during its record. Each record issues a `SeqCst` fence after its
//! entries and before it loads the marks, so each side's store (the reader's mark, the
//! writer's entries) is sequenced before a fence, and each side's load (the writer's marks,
//! the reader's validation) after one. The fences are totally ordered: either the reader's
//! fence comes first, and the writer's load sees its mark (or a higher one), so the writer
//! starts the wave; or the writer's comes first, and the reader's validation, after its own
//! fence, sees the new entry, and fails as it must. Either way a read that missed the new
//! location is validated after the write.
//!
//! A reader that finds its bucket already marked at or above itself does not store: the
//! mark it loaded (`Acquire`) was stored by an update (`Release`), which therefore happens
//! before the reader's fence, and the writer's fence-ordered load sees that mark or a
//! later one, as if the reader had stored it. Marks only grow (`fetch_max`), so a later
//! value is a higher one.

use std::sync::atomic::{
    AtomicU32,
    Ordering::{Acquire, Relaxed, Release, SeqCst},
    fence,
};

use crate::access::TxIdx;

/// The readers' marks of one block's memory (see the module docs); disabled (no buckets)
/// on one worker, where no transaction is validated.
#[derive(Debug, Default)]
pub(crate) struct Readers {
    marks: Box<[AtomicU32]>,
    /// Bucket count minus one (a power of two minus one).
    mask: u64,
}

impl Readers {
    /// Marks for about `keys` keys written, at four buckets a key (a block reads more keys
    /// than it writes, and only the buckets read by transactions above a writer matter to
    /// it: a few percent of a bucket shared at most).
    pub(crate) fn with_keys(keys: usize) -> Self {
        let buckets = keys.saturating_mul(4).next_power_of_two().max(4096);
        Self {
            marks: (0..buckets).map(|_| AtomicU32::new(0)).collect(),
            mask: buckets as u64 - 1,
        }
    }

    /// Whether marks are kept (more than one worker).
    pub(crate) fn enabled(&self) -> bool {
        !self.marks.is_empty()
    }

    /// The bucket of a key hashed to `hash`: bits the shards, the tables and the written-key
    /// filter use least.
    fn bucket(&self, hash: u64) -> &AtomicU32 {
        &self.marks[(hash.rotate_right(17) & self.mask) as usize]
    }

    /// Notes that transaction `reader` read the key hashed to `hash` (nothing when
    /// disabled). A bucket already marked this high is not written, so that its line stays
    /// shared between the cores that read it.
    pub(crate) fn mark(&self, hash: u64, reader: TxIdx) {
        if !self.enabled() {
            return;
        }
        // At most `replay::MAX_TXS` transactions: the index and one more fit in 32 bits.
        let mark = reader as u32 + 1;
        let bucket = self.bucket(hash);
        if bucket.load(Acquire) < mark {
            bucket.fetch_max(mark, Release);
        }
    }

    /// The fence between a record's entries and its loads of the marks, which is also the
    /// fence between a reader's marks and its validation (see the module docs). Every
    /// record issues it when marks are kept, whether or not it wrote a new location.
    pub(crate) fn fence(&self) {
        if self.enabled() {
            fence(SeqCst);
        }
    }

    /// Whether a transaction above `writer` may have read the key hashed to `hash`; always
    /// when disabled. Called after [`Readers::fence`].
    pub(crate) fn read_above(&self, hash: u64, writer: TxIdx) -> bool {
        !self.enabled() || self.bucket(hash).load(Relaxed) as usize > writer + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_is_the_highest_reader_and_a_disabled_one_says_always() {
        // Hashes of different buckets.
        let (a, b) = (7 << 17, 8 << 17);
        let readers = Readers::with_keys(10);
        assert!(readers.enabled());
        readers.fence();
        assert!(!readers.read_above(a, 0), "nobody read it");
        readers.mark(a, 5);
        readers.mark(a, 3);
        assert!(readers.read_above(a, 4), "5 is above 4");
        assert!(!readers.read_above(a, 5), "its own read is not above it");
        assert!(!readers.read_above(a, 9));
        readers.mark(a, 12);
        assert!(readers.read_above(a, 9), "the mark grew to 12");
        assert!(!readers.read_above(b, 0), "another bucket");
        let disabled = Readers::default();
        assert!(!disabled.enabled());
        disabled.mark(a, 5);
        assert!(disabled.read_above(a, 100));
    }
}
