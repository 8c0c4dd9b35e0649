//! Reading an archive folder by block range, through its row groups, gives the rows an
//! in-memory archive of the same blocks gives, whichever ranges are read, in whatever order,
//! by however many threads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use replay_evm_dataset::archive::{
    ARCHIVE_ROW_GROUP_BLOCKS, Archive, rows_to_batch, sample_rows, write_archive,
};

#[test]
fn every_block_range_reads_the_rows_an_in_memory_archive_gives() {
    let rows = sample_rows().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        rows.len() > ARCHIVE_ROW_GROUP_BLOCKS,
        "the ranges must cross a row group"
    );
    let in_memory = Archive::from_batch(rows_to_batch(&rows).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_archive(dir.path(), rows).unwrap_or_else(|e| panic!("{e}"));
    let numbers = in_memory.numbers();
    // Every range from one block to another, and ranges that start or end between blocks.
    let mut ranges = Vec::new();
    for (i, &first) in numbers.iter().enumerate() {
        for &last in &numbers[i..] {
            ranges.push((first, last));
            ranges.push((first.saturating_sub(1), last + 1));
        }
    }
    ranges.push((0, numbers[0] - 1));
    let expected: Vec<_> = ranges
        .iter()
        .map(|&(first, last)| in_memory.read_range(first, last).unwrap())
        .collect();

    // Forwards and backwards on one archive (its cache reused and evicted), then on two
    // threads sharing a fresh one.
    let archive = Archive::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    for (range, want) in ranges
        .iter()
        .zip(&expected)
        .chain(ranges.iter().zip(&expected).rev())
    {
        let got = archive.read_range(range.0, range.1).unwrap();
        assert_eq!(&got, want, "range {range:?}");
    }
    let archive = Archive::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    std::thread::scope(|s| {
        for start in 0..2 {
            let (archive, ranges, expected) = (&archive, &ranges, &expected);
            s.spawn(move || {
                for (range, want) in ranges.iter().zip(expected).skip(start).step_by(2) {
                    assert_eq!(
                        &archive.read_range(range.0, range.1).unwrap(),
                        want,
                        "{range:?}"
                    );
                }
            });
        }
    });
}
