//! `replay-evm archive` and `replay-evm job` end to end: the main job with no arguments,
//! refusal of changed parameters, corrupt archive rows becoming failure rows, and a job
//! killed with SIGKILL and resumed ending byte-identical to an uninterrupted one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use arrow_array::{Array, BooleanArray, Int64Array, StringArray};
use replay_evm::fixtures::fixtures_dir;
use replay_evm_dataset::{
    archive::{ArchiveRow, import_block_dirs, write_archive},
    checkpoint::{CHECKPOINT_FILE, Checkpoint, TEMP_DIR},
    tables::read_table,
};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_replay-evm"))
}

fn run(args: &[&str], cwd: Option<&Path>) -> Output {
    let mut command = bin();
    command.args(args);
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    command.output().expect("run replay-evm")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

/// The `block_number` column of every row of `table` in the results folder `out`.
fn block_numbers(out: &Path, table: &str) -> Vec<i64> {
    read_table(out, table)
        .unwrap()
        .iter()
        .flat_map(|b| {
            let n = b.column_by_name("block_number").unwrap();
            n.as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect()
}

fn mainnet_dirs() -> Vec<String> {
    let root = fixtures_dir()
        .unwrap_or_else(|e| panic!("{e}"))
        .join("mainnet");
    let mut dirs: Vec<String> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    dirs.sort();
    assert_eq!(
        dirs.len(),
        47,
        "expected the 47 shared mainnet blocks in {}",
        root.display()
    );
    dirs
}

/// Every file under `dir`, relative path to content.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let content = std::fs::read(&path).unwrap();
                out.insert(path.strip_prefix(root).unwrap().to_owned(), content);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn committed(out: &Path) -> usize {
    Checkpoint::load(out)
        .ok()
        .flatten()
        .map_or(0, |c| c.partitions.len())
}

#[test]
#[ignore = "slow: run by scripts/test.sh, or with --include-ignored"]
fn job_killed_with_sigkill_and_resumed_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let archive_arg = archive.display().to_string();
    let mut args = vec!["archive", "import", "--out", archive_arg.as_str()];
    let dirs = mainnet_dirs();
    args.extend(dirs.iter().map(String::as_str));
    let output = run(&args, None);
    assert!(output.status.success(), "{}", describe(&output));

    let job_args = |out: &Path| -> Vec<String> {
        [
            "job",
            "--archive",
            &archive_arg,
            "--out",
            &out.display().to_string(),
            "--threads",
            "2",
            "--partition-blocks",
            "1000",
            "--workers",
            "2",
            "--reproducible",
            "--quiet",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    };

    // The uninterrupted run.
    let clean = dir.path().join("clean");
    let output = bin().args(job_args(&clean)).output().unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let partitions = committed(&clean);
    assert!(partitions > 10, "{partitions} partitions");

    // Killed twice mid-run (after 1, then after a few more committed partitions), resumed.
    let killed = dir.path().join("killed");
    for at_least in [1, partitions / 2] {
        let mut child = bin()
            .args(job_args(&killed))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while committed(&killed) < at_least {
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "no partition committed in time"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "the job ended before the kill"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let done = committed(&killed);
        assert!(
            done < partitions,
            "killed too late: {done} of {partitions} committed"
        );
    }
    let output = bin().args(job_args(&killed)).output().unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("already committed"), "{stdout}");
    assert!(
        stdout.contains("47 blocks: 47 verified, 0 failed"),
        "{stdout}"
    );
    assert!(!killed.join(TEMP_DIR).exists(), "stray temporary files");

    let (a, b) = (tree(&clean), tree(&killed));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "different files"
    );
    for (path, content) in &a {
        assert!(content == &b[path], "{} differs", path.display());
    }
    assert!(a.contains_key(Path::new(CHECKPOINT_FILE)));
    // No missing and no duplicate rows.
    let mut numbers = block_numbers(&killed, "blocks");
    assert_eq!(numbers.len(), 47);
    numbers.dedup();
    assert_eq!(numbers.len(), 47);
}

#[test]
#[ignore = "slow: run by scripts/test.sh, or with --include-ignored"]
fn job_with_no_arguments_runs_the_sample_and_resumes_and_refuses_other_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(&["job"], Some(dir.path()));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("20 blocks: 20 verified, 0 failed"),
        "{stdout}"
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("blocks/s") && stderr.contains("Mgas/s") && stderr.contains("ETA"),
        "{stderr}"
    );
    let results = dir.path().join("results");
    for table in ["blocks", "transactions", "conflicts", "hotspots"] {
        let batches = read_table(&results, table).unwrap();
        assert!(
            batches.iter().map(|b| b.num_rows()).sum::<usize>() > 0,
            "{table}"
        );
    }
    assert_eq!(committed(&results), 4);

    // Again: everything is committed, nothing is replayed.
    let output = run(&["job"], Some(dir.path()));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        text(&output.stdout).contains("0 of 4 partitions replayed (4 already committed)"),
        "{}",
        describe(&output)
    );

    // Other parameters into the same results: refused, with the reason and the way out.
    let output = run(&["job", "--threads", "1", "-q"], Some(dir.path()));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("--threads 1,2 (this run: 1)") && stderr.contains("--overwrite"),
        "{stderr}"
    );
    let output = run(&["job", "--partition-blocks", "5", "-q"], Some(dir.path()));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let output = run(
        &["job", "--threads", "1", "--overwrite", "-q"],
        Some(dir.path()),
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    // The sample archive on disk is the same archive the job generates.
    let output = run(&["archive", "sample", "--out", "sample"], Some(dir.path()));
    assert!(output.status.success(), "{}", describe(&output));
    let output = run(
        &[
            "job",
            "--archive",
            "sample",
            "--out",
            "from-disk",
            "--threads",
            "1",
            "-q",
        ],
        Some(dir.path()),
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let a = Checkpoint::load(&results).unwrap().unwrap();
    let b = Checkpoint::load(&dir.path().join("from-disk"))
        .unwrap()
        .unwrap();
    assert_eq!(a.archive, b.archive);
    assert_eq!(a.partitions, b.partitions);
}

fn row_of(rows: &mut [ArchiveRow], number: u64) -> &mut ArchiveRow {
    rows.iter_mut()
        .find(|r| r.number == number)
        .unwrap_or_else(|| panic!("no block {number}"))
}

#[test]
fn corrupt_archive_rows_become_failure_rows_and_the_job_goes_on() {
    let root = fixtures_dir()
        .unwrap_or_else(|e| panic!("{e}"))
        .join("mainnet");
    let numbers = [
        46147u64, 930196, 1150000, 2462997, 4370000, 5891667, 12244000,
    ];
    let dirs: Vec<PathBuf> = numbers.iter().map(|n| root.join(n.to_string())).collect();
    let (mut rows, failures) = import_block_dirs(&dirs, 1);
    assert!(failures.is_empty(), "{failures:?}");

    // Bad encoding: a truncated block.
    let row = row_of(&mut rows, 930196);
    row.block_rlp.truncate(row.block_rlp.len() - 7);
    // Bad pre-state encoding: code with an invalid EIP-7702 designator.
    row_of(&mut rows, 2462997).pre_state[0].code = vec![0xef, 0x01, 0x00, 0x01].into();
    // Wrong pre-state: nobody has any ether, so the first transaction cannot pay.
    for account in &mut row_of(&mut rows, 1150000).pre_state {
        account.balance = Default::default();
    }
    // A block that fails verification: a wrong receipts root (the hash recomputed, so the
    // block is self-consistent).
    let row = row_of(&mut rows, 4370000);
    let mut block = row.to_block().unwrap();
    block.block.header.receipts_root = block.hash;
    block.hash = block.block.header.hash_slow();
    *row = ArchiveRow::from_block(&block).unwrap();
    // A hash that is not the header's.
    let other = row_of(&mut rows, 46147).hash;
    row_of(&mut rows, 12244000).hash = other;

    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    write_archive(&archive, rows).unwrap();
    let out = dir.path().join("results");
    let output = run(
        &[
            "job",
            "--archive",
            &archive.display().to_string(),
            "--out",
            &out.display().to_string(),
            "--threads",
            "2",
            "-q",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("7 blocks: 2 verified, 5 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("FAILED 930196 (decode)"), "{stdout}");

    let mut stages = BTreeMap::new();
    for batch in read_table(&out, "blocks").unwrap() {
        let number = batch.column_by_name("block_number").unwrap();
        let number = number.as_any().downcast_ref::<Int64Array>().unwrap();
        let verified = batch.column_by_name("verified").unwrap();
        let verified = verified.as_any().downcast_ref::<BooleanArray>().unwrap();
        let stage = batch.column_by_name("error_stage").unwrap();
        let stage = stage.as_any().downcast_ref::<StringArray>().unwrap();
        let error = batch.column_by_name("error").unwrap();
        let error = error.as_any().downcast_ref::<StringArray>().unwrap();
        for i in 0..batch.num_rows() {
            assert_eq!(verified.value(i), stage.is_null(i));
            assert_eq!(error.is_null(i), stage.is_null(i));
            let entry =
                (!stage.is_null(i)).then(|| (stage.value(i).to_owned(), error.value(i).to_owned()));
            stages.insert(number.value(i), entry);
        }
    }
    let stage = |n: i64| stages[&n].as_ref().map(|(s, _)| s.as_str());
    let error = |n: i64| {
        stages[&n]
            .as_ref()
            .map_or(String::new(), |(_, e)| e.clone())
    };
    assert_eq!(stages.len(), 7, "one row per archive row");
    assert_eq!(stage(46147), None);
    assert_eq!(stage(5891667), None);
    assert_eq!(stage(930196), Some("decode"), "{}", error(930196));
    assert!(error(930196).contains("block_rlp"), "{}", error(930196));
    assert_eq!(stage(2462997), Some("decode"), "{}", error(2462997));
    assert!(error(2462997).contains("pre_state"), "{}", error(2462997));
    assert_eq!(stage(1150000), Some("replay"), "{}", error(1150000));
    assert_eq!(stage(4370000), Some("verify"), "{}", error(4370000));
    assert!(
        error(4370000).contains("receiptsRoot"),
        "{}",
        error(4370000)
    );
    assert_eq!(stage(12244000), Some("check"), "{}", error(12244000));

    // Only the verified blocks have transactions.
    let mut with_txs = block_numbers(&out, "transactions");
    with_txs.dedup();
    assert_eq!(with_txs, [46147, 5891667]);
}
