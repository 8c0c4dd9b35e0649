//! The differential test: random blocks from the grammar of transaction kinds
//! ([`replay_evm_workload::random`]) under every fork from Frontier to Osaka, each replayed
//! sequentially (the oracle) and in every mode (Block-STM, in-order, adaptive) at 1, 2, 3, 4
//! and 8 threads, with the engine's write-set self-check on. Receipts, per-transaction
//! results, gas and state changes must equal the oracle's, and every replay must verify
//! against the header.
//!
//! Bounded by default: [`DEFAULT_BLOCKS_PER_FORK`] blocks per fork from fixed seeds. Longer
//! runs, from other seeds:
//! - `REPLAY_EVM_DIFF_BLOCKS=N`: N blocks in all (the forks in turn);
//! - `REPLAY_EVM_DIFF_SECONDS=S`: blocks until S seconds have passed (the forks in turn);
//! - `REPLAY_EVM_DIFF_SEED=X`: the first seed (default: 0 for the bounded run, the clock for a
//!   longer one; it is printed).
//!
//! A divergence is appended as a regression case `seed fork size` to
//! `tests/differential-regressions.txt` (committed; at most [`MAX_NEW_REGRESSIONS`] a run),
//! which every run replays first; the test then fails, naming the case.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::{
    collections::BTreeMap,
    fs,
    io::Write,
    num::NonZeroUsize,
    path::PathBuf,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use replay_evm::{
    chain::Fork,
    parallel::{Concurrency, Counters, Mode, ParallelEngine},
    sequential::replay_sequential,
    verify::verify,
};
use replay_evm_workload::random::{Kind, RandomBlock, generate};

/// Blocks per fork of the bounded run.
const DEFAULT_BLOCKS_PER_FORK: u64 = 30;
/// Thread counts under test.
const THREADS: [usize; 5] = [1, 2, 3, 4, 8];
/// Transactions per block: from 1 to this many.
const MAX_TXS: u64 = 48;
/// New regression cases one run records at most (a long run against a broken engine would
/// otherwise add hundreds of cases of one bug).
const MAX_NEW_REGRESSIONS: usize = 10;

/// One random block: enough to regenerate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Case {
    seed: u64,
    fork: Fork,
    size: usize,
}

impl Case {
    fn line(&self) -> String {
        format!("{} {} {}", self.seed, self.fork, self.size)
    }

    fn parse(line: &str) -> Option<Result<Self, String>> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let parsed = match fields.as_slice() {
            [seed, fork, size] => (|| {
                Ok(Self {
                    seed: seed.parse().map_err(|e| format!("seed: {e}"))?,
                    fork: fork.parse().map_err(|e| format!("fork: {e}"))?,
                    size: size.parse().map_err(|e| format!("size: {e}"))?,
                })
            })(),
            _ => Err("expected `seed fork size`".to_owned()),
        };
        Some(parsed.map_err(|e| format!("bad regression line `{line}`: {e}")))
    }

    /// The case number `n` of a run from `base`: the forks in turn, a size drawn from the
    /// seed.
    fn nth(base: u64, n: u64) -> Self {
        let forks = Fork::ALL.len() as u64;
        let seed = base.wrapping_add(n / forks);
        let fork = Fork::ALL[(n % forks) as usize];
        // A size from the seed and fork, so that every fork sees small and large blocks.
        let mix = seed
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(n % forks)
            .rotate_left(17);
        Self {
            seed,
            fork,
            size: 1 + (mix % MAX_TXS) as usize,
        }
    }
}

fn regressions_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/differential-regressions.txt")
}

fn regressions() -> Vec<Case> {
    let path = regressions_path();
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter_map(Case::parse)
        .map(|c| c.unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

/// Appends `case` to the regression file, unless it is there already. A file that cannot be
/// written (a read-only checkout) is reported, not fatal: the test fails on the divergence
/// anyway, naming the case.
fn record_regression(case: Case) {
    if regressions().contains(&case) {
        return;
    }
    let path = regressions_path();
    let written = fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut file| writeln!(file, "{}", case.line()));
    if let Err(e) = written {
        eprintln!(
            "cannot record case `{}` in {}: {e}",
            case.line(),
            path.display()
        );
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name}={value}: {e}")),
    )
}

/// Every mode at every thread count.
fn concurrencies() -> Vec<Concurrency> {
    let mut all = Vec::new();
    for threads in THREADS {
        let n = NonZeroUsize::new(threads).unwrap();
        all.extend([
            Concurrency::Threads(n),
            Concurrency::InOrder(n),
            Concurrency::Adaptive(n),
        ]);
    }
    all
}

/// What the runs saw, for the closing line.
#[derive(Default)]
struct Tally {
    blocks: u64,
    txs: u64,
    replays: u64,
    block_stm: Counters,
    kinds: BTreeMap<String, u64>,
    failed_txs: u64,
}

/// Replays `case`'s block in every mode; returns the disagreements with the sequential
/// replay (empty when all agree).
fn check(engine: &ParallelEngine, case: Case, tally: &mut Tally) -> Vec<String> {
    let what = case.line();
    let random: RandomBlock = generate(case.seed, case.fork, case.size)
        .unwrap_or_else(|e| panic!("case {what}: the generator failed: {e}"));
    let (block, chain) = (&random.block, &random.chain);
    block.check().unwrap_or_else(|e| panic!("case {what}: {e}"));
    let seq = replay_sequential(block, chain)
        .unwrap_or_else(|e| panic!("case {what}: the sequential replay failed: {e}"));
    verify(block.header(), &seq).unwrap_or_else(|e| panic!("case {what}: {e}"));
    // The grammar does what it says: only the failing kinds fail.
    let statuses: Vec<_> = seq.transactions.iter().map(|t| t.status.clone()).collect();
    let unexpected = random.unexpected(&statuses);
    assert!(unexpected.is_empty(), "case {what}: {unexpected:?}");

    tally.blocks += 1;
    tally.txs += random.kinds.len() as u64;
    tally.failed_txs += random.kinds.iter().filter(|k| !k.succeeds()).count() as u64;
    for kind in &random.kinds {
        *tally.kinds.entry(format!("{kind:?}")).or_default() += 1;
    }

    let mut found = Vec::new();
    for concurrency in concurrencies() {
        let at = format!("case {what}, {concurrency:?}");
        tally.replays += 1;
        let par = match engine.replay(block, chain, concurrency) {
            Ok(par) => par,
            Err(e) => {
                found.push(format!("{at}: error: {e}"));
                continue;
            }
        };
        if par.mode == Mode::BlockStm {
            let c = &mut tally.block_stm;
            c.executions += par.counters.executions;
            c.validations += par.counters.validations;
            c.aborts += par.counters.aborts;
            c.estimate_reads += par.counters.estimate_reads;
            c.suspensions += par.counters.suspensions;
        }
        if let Err(e) = verify(block.header(), &par.replay) {
            found.push(format!("{at}: does not verify: {e}"));
        }
        if let Some(difference) = seq.first_difference(&par.replay) {
            found.push(format!("{at}: {difference}"));
        }
    }
    found
}

#[test]
#[ignore = "slow: run by scripts/test.sh, or with --include-ignored"]
fn random_blocks_equal_sequential_in_every_mode_under_every_fork() {
    let engine = ParallelEngine::new(NonZeroUsize::new(8).unwrap())
        .unwrap()
        .with_write_set_check(true);
    let blocks = env_u64("REPLAY_EVM_DIFF_BLOCKS");
    let seconds = env_u64("REPLAY_EVM_DIFF_SECONDS");
    let long = blocks.is_some() || seconds.is_some();
    let base = env_u64("REPLAY_EVM_DIFF_SEED").unwrap_or_else(|| {
        if long {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        } else {
            0
        }
    });
    let forks = Fork::ALL.len() as u64;
    let limit = blocks.unwrap_or(if seconds.is_some() {
        u64::MAX
    } else {
        DEFAULT_BLOCKS_PER_FORK * forks
    });
    let deadline = seconds.map(|s| Instant::now() + Duration::from_secs(s));
    println!(
        "differential: seed {base}, {}",
        match (blocks, seconds) {
            (_, Some(s)) => format!("for {s} s"),
            _ => format!("{limit} blocks"),
        }
    );

    let started = Instant::now();
    let mut tally = Tally::default();
    let mut failures = Vec::new();

    // The committed regressions first.
    let known = regressions();
    for case in &known {
        let found = check(&engine, *case, &mut tally);
        if !found.is_empty() {
            failures.push((*case, found));
        }
    }

    let known_failures = failures.len();
    let mut n = 0;
    while n < limit {
        // At least one block of every fork, even with a short time limit.
        if deadline.is_some_and(|d| Instant::now() >= d) && n >= forks {
            break;
        }
        let case = Case::nth(base, n);
        n += 1;
        let found = check(&engine, case, &mut tally);
        if !found.is_empty() {
            if failures.len() < known_failures + MAX_NEW_REGRESSIONS {
                record_regression(case);
            }
            failures.push((case, found));
        }
    }

    let c = tally.block_stm;
    println!(
        "differential: {} random blocks ({} regressions, {} generated), {} transactions ({} \
         meant to fail), {} parallel replays in {:.1} s; Block-STM executions {}, \
         validations {}, aborts {}, ESTIMATE reads {}, suspensions {}",
        tally.blocks,
        known.len(),
        n,
        tally.txs,
        tally.failed_txs,
        tally.replays,
        started.elapsed().as_secs_f64(),
        c.executions,
        c.validations,
        c.aborts,
        c.estimate_reads,
        c.suspensions
    );
    println!("differential: kinds {:?}", tally.kinds);
    // Every kind of the grammar ran (the bounded run is large enough for that).
    let drawn = Kind::WEIGHTED.len();
    assert!(
        tally.kinds.len() == drawn || n < forks * 2,
        "only {} of {drawn} kinds were drawn",
        tally.kinds.len()
    );
    if !failures.is_empty() {
        for (_, found) in &failures {
            for line in found {
                println!("{line}");
            }
        }
        let mut text = String::new();
        for (case, found) in &failures {
            text.push_str(&format!(
                "case `{}` ({} disagreements; saved in {}):\n{}\n",
                case.line(),
                found.len(),
                regressions_path().display(),
                found.iter().take(3).cloned().collect::<Vec<_>>().join("\n")
            ));
        }
        panic!(
            "{} of {} blocks disagree with the sequential replay:\n{text}",
            failures.len(),
            tally.blocks
        );
    }
}

#[test]
fn regression_lines_parse() {
    let case = Case {
        seed: 7,
        fork: Fork::SpuriousDragon,
        size: 12,
    };
    assert_eq!(Case::parse(&case.line()), Some(Ok(case)));
    assert_eq!(Case::parse("# comment"), None);
    assert!(matches!(Case::parse("7 Atlantis 12"), Some(Err(_))));
    assert!(matches!(Case::parse("7 London"), Some(Err(_))));
    // The committed file parses.
    regressions();
}

/// The BLOCKHASH kinds, clustered: an offset change followed by reads of it, so that reads
/// executed speculatively before the change see the old offset and ask for an ancestor the
/// archive does not hold (it holds only the hashes the sequential execution asks for). Only
/// the last incarnation's outcome may count: every Block-STM run, repeated, must equal the
/// sequential replay.
#[test]
fn blockhash_reads_racing_an_offset_change_equal_sequential() {
    use replay_evm_workload::random::build;
    let engine = ParallelEngine::new(NonZeroUsize::new(8).unwrap())
        .unwrap()
        .with_write_set_check(true);
    let mut kinds = vec![Kind::Transfer, Kind::BlockhashSetOffset];
    kinds.extend([Kind::BlockhashRead; 6]);
    kinds.extend([
        Kind::BlockhashSetOffset,
        Kind::BlockhashRead,
        Kind::BlockhashRead,
    ]);
    let mut found = Vec::new();
    let mut runs = 0;
    for (fork, seed) in Fork::ALL.into_iter().flat_map(|f| [(f, 11), (f, 12)]) {
        let random = build(seed, fork, &kinds).unwrap_or_else(|e| panic!("{fork}: {e}"));
        let (block, chain) = (&random.block, &random.chain);
        let seq = replay_sequential(block, chain).unwrap_or_else(|e| panic!("{fork}: {e}"));
        for threads in [2, 3, 4, 8] {
            let concurrency = Concurrency::Threads(NonZeroUsize::new(threads).unwrap());
            for repeat in 0..5 {
                runs += 1;
                let at = format!("{fork}, seed {seed}, {threads} threads, run {repeat}");
                match engine.replay(block, chain, concurrency) {
                    Err(e) => found.push(format!("{at}: {e}")),
                    Ok(par) => {
                        if let Some(difference) = seq.first_difference(&par.replay) {
                            found.push(format!("{at}: {difference}"));
                        }
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "{} of {runs} runs disagree with the sequential replay:\n{}",
        found.len(),
        found.join("\n")
    );
}
