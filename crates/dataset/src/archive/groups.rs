//! [`GroupCache`]: the archive's most recently read row groups, decoded, shared by the
//! threads that read the archive.
//!
//! A row group holds [`ARCHIVE_ROW_GROUP_BLOCKS`](crate::parquet::ARCHIVE_ROW_GROUP_BLOCKS)
//! consecutive rows, and its pages (the contract code's dictionary above all) decompress as
//! a whole. A job whose partitions are narrower than a row group (a sparse archive: the 47
//! mainnet fixtures are 41 partitions in 3 row groups) would decompress the same group once
//! per partition; with the cache, once. A partition that spans many row groups reads each of
//! them once either way and only keeps the last few here.
//!
//! # Invariants and locking
//! - An entry is keyed by (file index, row group) and holds that group's rows, all of them,
//!   conformed to the archive schema, or nothing yet.
//! - Two locks, always taken in this order and never the other: the list of entries, held
//!   only to find or insert an entry and to evict; then one entry's own lock, held while its
//!   group is read. A second reader of the same group waits on the entry instead of reading
//!   it again; readers of other groups do not wait. An evicted entry that a reader still holds
//!   stays valid for that reader (it is reference-counted).
//! - A failed read leaves its entry empty: the error goes to that caller, and the next reader
//!   tries again.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arrow_array::RecordBatch;

use crate::DatasetError;

/// Entries kept: enough for the partitions a few workers replay at once to share their
/// groups, and at most 64 blocks' rows held beside the partitions' own.
pub(crate) const CACHED_GROUPS: usize = 4;

type Key = (usize, usize);
type Entry = Arc<Mutex<Option<RecordBatch>>>;

/// The most recently used decoded row groups (see the module docs).
#[derive(Default)]
pub(crate) struct GroupCache {
    /// Most recently used last; at most [`CACHED_GROUPS`].
    entries: Mutex<Vec<(Key, Entry)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding either lock leaves a list or an entry that is still consistent
    // (an entry is written only once its batch is complete).
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl std::fmt::Debug for GroupCache {
    /// The cached (file, row group) keys, most recently used last; never the rows.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<Key> = lock(&self.entries).iter().map(|(key, _)| *key).collect();
        f.debug_struct("GroupCache").field("groups", &keys).finish()
    }
}

impl GroupCache {
    /// Row group `group` of file `file`: from the cache, or from `read` (stored for the next
    /// reader when it succeeds).
    ///
    /// # Errors
    /// `read`'s.
    pub(crate) fn group(
        &self,
        file: usize,
        group: usize,
        read: impl FnOnce() -> Result<RecordBatch, DatasetError>,
    ) -> Result<RecordBatch, DatasetError> {
        let key = (file, group);
        let entry = {
            let mut entries = lock(&self.entries);
            let entry = match entries.iter().position(|(k, _)| *k == key) {
                Some(at) => entries.remove(at).1,
                None => Arc::default(),
            };
            entries.push((key, Arc::clone(&entry)));
            if entries.len() > CACHED_GROUPS {
                entries.remove(0);
            }
            entry
        };
        let mut slot = lock(&entry);
        if let Some(batch) = slot.as_ref() {
            return Ok(batch.clone());
        }
        let batch = read()?;
        *slot = Some(batch.clone());
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    use arrow_array::{ArrayRef, Int64Array};

    use super::*;

    fn batch(value: i64) -> RecordBatch {
        let column: ArrayRef = Arc::new(Int64Array::from(vec![value]));
        RecordBatch::try_from_iter([("n", column)]).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_group_is_read_once_until_evicted_and_a_failed_read_is_retried() {
        let cache = GroupCache::default();
        let reads = AtomicUsize::new(0);
        let read = |file: usize, group: usize| {
            cache.group(file, group, || {
                reads.fetch_add(1, Relaxed);
                Ok(batch((file * 1000 + group) as i64))
            })
        };
        assert_eq!(read(0, 1).unwrap_or_else(|e| panic!("{e}")), batch(1));
        assert_eq!(read(0, 1).unwrap_or_else(|e| panic!("{e}")), batch(1));
        assert_eq!(read(1, 1).unwrap_or_else(|e| panic!("{e}")), batch(1001));
        assert_eq!(reads.load(Relaxed), 2);
        // Fill the cache with other groups, touching (0, 1) so that it stays and (1, 1) goes.
        for group in 2..=CACHED_GROUPS {
            read(0, group).unwrap_or_else(|e| panic!("{e}"));
            read(0, 1).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(reads.load(Relaxed), 1 + CACHED_GROUPS);
        read(1, 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reads.load(Relaxed), 2 + CACHED_GROUPS, "(1, 1) was evicted");
        read(0, 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reads.load(Relaxed), 2 + CACHED_GROUPS, "(0, 1) was kept");

        let failed = cache.group(5, 5, || Err(DatasetError::Archive("corrupt".into())));
        assert!(matches!(failed, Err(DatasetError::Archive(_))));
        assert_eq!(
            cache
                .group(5, 5, || Ok(batch(7)))
                .unwrap_or_else(|e| panic!("{e}")),
            batch(7)
        );
    }

    #[test]
    fn concurrent_readers_of_one_group_read_it_once() {
        let cache = GroupCache::default();
        let reads = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let got = cache.group(0, 0, || {
                        reads.fetch_add(1, Relaxed);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        Ok(batch(3))
                    });
                    assert_eq!(got.unwrap_or_else(|e| panic!("{e}")), batch(3));
                });
            }
        });
        assert_eq!(reads.load(Relaxed), 1);
    }

    #[test]
    fn debug_shows_the_cached_keys_not_the_rows() {
        let cache = GroupCache::default();
        for group in [3, 4] {
            cache
                .group(1, group, || Ok(batch(123_456_789)))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let shown = format!("{cache:?}");
        assert_eq!(shown, "GroupCache { groups: [(1, 3), (1, 4)] }");
    }
}
