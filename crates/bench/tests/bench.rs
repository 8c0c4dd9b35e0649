//! `replay-evm-bench` (also run as `replay-evm bench`) end to end, at tiny sizes: the JSON shape, every parallel result
//! verified equal to the sequential one, the table, the SVG plot and bad arguments.
//! Timings are not asserted: the machine is shared and the blocks are small.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::process::{Command, Output};

use replay_evm::{fixtures::fixtures_dir, parallel::Phases};
use serde_json::Value;

/// Runs `replay-evm-bench` with `args` and waits for it.
fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_replay-evm-bench"))
        .args(args)
        .output()
        .expect("run replay-evm-bench")
}

/// [`bench`] with one timed round of each configuration and no minimum time: the tests'
/// blocks are tiny, and their timings are not asserted.
fn bench_once(args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend(["--repeat", "1", "--min-time", "0"]);
    bench(&all)
}

/// Output bytes as text.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Fails when the process panicked: errors must be reported, never panics.
fn assert_no_panic(output: &Output) {
    let stderr = text(&output.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
}

/// The JSON lines of a successful run: the blocks, then the summary.
fn json_lines(output: &Output) -> (Vec<Value>, Value) {
    assert_no_panic(output);
    assert!(
        output.status.success(),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let mut lines: Vec<Value> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let summary = lines.pop().expect("a summary line");
    assert_eq!(summary["kind"], "summary", "{summary}");
    (lines, summary)
}

/// Checks one block line: measured at threads 1 and 2, every parallel run verified.
fn check_block(block: &Value, repeats: u64) {
    assert_eq!(block["kind"], "block");
    assert_eq!(block["verified"], true, "{block}");
    assert!(block["error"].is_null());
    assert!(block["txs"].as_u64().unwrap() > 0);
    assert!(block["gas_used"].as_u64().unwrap() > 0);
    assert_eq!(block["repeats"], repeats);
    let seq = &block["sequential"];
    assert_eq!(
        seq["wall_us_runs"].as_array().unwrap().len() as u64,
        repeats
    );
    assert!(seq["wall_us"].as_u64().unwrap() > 0);
    assert!(seq["peak_heap_bytes"].as_u64().unwrap() > 0);
    let runs = block["parallel"].as_array().unwrap();
    let threads: Vec<u64> = runs
        .iter()
        .map(|r| r["threads"].as_u64().unwrap())
        .collect();
    assert_eq!(threads, [1, 2]);
    for run in runs {
        assert_eq!(run["verified"], true, "{run}");
        // The memory pass plus every timed run.
        assert_eq!(run["verified_runs"].as_u64().unwrap(), repeats + 1, "{run}");
        for key in [
            "wall_us",
            "cpu_us",
            "peak_heap_bytes",
            "executions",
            "validations",
            "aborts",
            "suspensions",
            "hint_waits",
        ] {
            assert!(run[key].is_u64(), "{key} in {run}");
        }
        for key in [
            "speedup",
            "mgas_per_s",
            "cpu_ratio",
            "mem_ratio",
            "reexecutions_per_tx",
        ] {
            assert!(
                run[key].as_f64().is_some_and(f64::is_finite),
                "{key} in {run}"
            );
        }
        assert!(run["speedup"].as_f64().unwrap() > 0.0);
        // The machine's ceiling: one a timed round above one thread, none at one.
        let ceilings = run["ceiling_runs"].as_array().unwrap();
        if run["threads"] == 1 {
            assert!(ceilings.is_empty() && run["ceiling"].is_null(), "{run}");
        } else {
            assert_eq!(ceilings.len() as u64, repeats, "{run}");
            let ceiling = run["ceiling"].as_f64().unwrap();
            assert!(ceiling.is_finite() && ceiling > 0.0, "{run}");
        }
        assert!(run["executions"].as_u64().unwrap() >= block["txs"].as_u64().unwrap());
    }
}

#[test]
fn workload_json_every_parallel_run_verified() {
    let output = bench(&[
        "--workload",
        "raw-transfers",
        "--gas",
        "2000000",
        "--threads",
        "1,2",
        "--repeat",
        "2",
        "--min-time",
        "0",
        "--json",
    ]);
    let (blocks, summary) = json_lines(&output);
    assert_eq!(blocks.len(), 1);
    let block = &blocks[0];
    check_block(block, 2);
    assert_eq!(block["source"], "workload");
    assert_eq!(block["name"], "raw-transfers");
    assert_eq!(block["independent"], true);
    assert_eq!(block["fork"], "Cancun");
    // About 2 Mgas of 21,000-gas transfers.
    let gas = block["gas_used"].as_u64().unwrap();
    assert!((2_000_000..2_100_000).contains(&gas), "{gas}");
    assert_eq!(block["txs"].as_u64().unwrap(), gas / 21_000);
    // Plain transfers never conflict: one execution each.
    for run in block["parallel"].as_array().unwrap() {
        assert_eq!(run["reexecutions_per_tx"], 0.0, "{run}");
    }

    assert_eq!(summary["blocks"], 1);
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["threads"], serde_json::json!([1, 2]));
    assert!(summary["workloads"]["geomean_speedup"]["2"].is_f64());
    // The machine's ceiling over the run's rounds, at 2 threads only.
    let ceiling = &summary["ceiling"]["2"];
    assert_eq!(ceiling["rounds"], 2, "{summary}");
    let (lowest, median, highest) = (
        ceiling["lowest"].as_f64().unwrap(),
        ceiling["median"].as_f64().unwrap(),
        ceiling["highest"].as_f64().unwrap(),
    );
    assert!(
        0.0 < lowest && lowest <= median && median <= highest,
        "{summary}"
    );
    assert!(summary["ceiling"]["1"].is_null(), "{summary}");
    assert_eq!(
        summary["machine"]["cores"].as_u64().map(|c| c > 0),
        Some(true)
    );
    let targets = summary["targets"].as_array().unwrap();
    let names: Vec<&str> = targets
        .iter()
        .filter_map(|t| t["target"].as_str())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("independent workloads")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("peak heap")),
        "{names:?}"
    );
    for target in targets {
        assert!(target["met"].is_boolean() && target["measured"].is_f64());
    }
    // The 2-thread workload targets name each block's ceiling beside its speedup.
    let independent = targets
        .iter()
        .find(|t| t["target"] == "independent workloads at 2 threads, end-to-end")
        .unwrap();
    let detail = independent["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("worst raw-transfers (ceiling "),
        "{detail}"
    );
    assert!(detail.contains("; raw-transfers "), "{detail}");
}

#[test]
fn mainnet_fixtures_json_and_plot() {
    let fixtures = fixtures_dir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("speedup.svg");
    let blocks = [
        fixtures.join("mainnet/13217637").display().to_string(),
        fixtures.join("mainnet/19426587").display().to_string(),
    ];
    let output = bench_once(&[
        "--fixtures",
        &blocks[0],
        "--fixtures",
        &blocks[1],
        "--threads",
        "1,2",
        "--mode",
        "block-stm",
        "--json",
        "--plot",
        &plot.display().to_string(),
    ]);
    let (lines, summary) = json_lines(&output);
    let numbers: Vec<u64> = lines
        .iter()
        .map(|b| b["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [13_217_637, 19_426_587]);
    for block in &lines {
        check_block(block, 1);
        assert_eq!(block["source"], "mainnet");
        assert_eq!(block["name"], block["number"].to_string());
        for run in block["parallel"].as_array().unwrap() {
            check_machine_bound(run);
        }
    }
    // The bound target reads against the bound on the machine too: the geometric mean of
    // the blocks' `machine_bound`, and execution-only over it.
    let target = summary["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| {
            t["target"]
                .as_str()
                .is_some_and(|n| n.contains("execution-only over the bound"))
        })
        .unwrap_or_else(|| panic!("no bound target in {summary}"));
    let machine: Vec<f64> = lines
        .iter()
        .map(|b| b["parallel"][1]["machine_bound"].as_f64().unwrap())
        .collect();
    let geomean = (machine.iter().map(|m| m.ln()).sum::<f64>() / 2.0).exp();
    let detail = target["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!(
            "the bound on the machine as its ceiling measured it (each block's ceiling \
             slowing the time both workers are busy) {geomean:.2}x"
        )),
        "{detail}"
    );
    assert_eq!(summary["mainnet"]["blocks"], 2);
    assert!(summary["mainnet"]["geomean_speedup"]["2"].is_f64());
    assert!(summary["mainnet"]["slowest"]["2"]["block"].is_string());

    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("mainnet blocks (2)") && svg.contains("13217637"));
    assert!(svg.contains("1.0 = sequential"));
    // Two blocks plus the geometric mean, two thread counts each, and at 2 threads a tick
    // at the machine's ceiling.
    assert_eq!(svg.matches("<title>").count(), 6 + 3);
    assert_eq!(svg.matches("the machine's ceiling at 2 threads").count(), 3);
}

#[test]
fn table_output_and_json_file() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("results.jsonl");
    let output = bench_once(&[
        "--json-file",
        &saved.display().to_string(),
        "--workload",
        "erc20-hot",
        "--gas",
        "1M",
        "--threads",
        "2",
    ]);
    assert_no_panic(&output);
    assert!(output.status.success(), "{}", text(&output.stdout));
    let stdout = text(&output.stdout);
    assert!(stdout.starts_with("machine: "), "{stdout}");
    assert!(
        stdout.contains("speedup") && stdout.contains("reexec/tx") && stdout.contains("ceiling"),
        "{stdout}"
    );
    assert!(stdout.contains("erc20-hot"), "{stdout}");
    assert!(
        stdout.contains("hot-spot workloads at 2 threads"),
        "{stdout}"
    );
    assert!(
        stdout.contains("machine ceiling, median round")
            && stdout.contains("the machine's ceiling at 2 threads"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 blocks: 1 verified parallel == sequential, 0 failed"),
        "{stdout}"
    );
    // The same run's JSON lines: the block, then the summary.
    let saved = std::fs::read_to_string(&saved).unwrap();
    let lines: Vec<Value> = saved
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["name"], "erc20-hot");
    assert_eq!(lines[0]["verified"], true);
    assert_eq!(lines[1]["kind"], "summary");
    assert!(lines[1]["machine"]["load_average_end"].is_array());
}

/// `--mode` picks how the engine runs; each run says which mode it used, and the adaptive
/// engine runs this small block in order (at one thread always, and at two because
/// recovery dominates its work).
#[test]
fn each_mode_runs_verified_and_reports_the_mode_used() {
    for (mode, used) in [
        ("block-stm", ["block-stm", "block-stm"]),
        ("in-order", ["in-order", "in-order"]),
        ("adaptive", ["in-order", "in-order"]),
    ] {
        let output = bench_once(&[
            "--workload",
            "erc20-hot",
            "--gas",
            "3000000",
            "--threads",
            "1,2",
            "--mode",
            mode,
            "--json",
        ]);
        let (blocks, summary) = json_lines(&output);
        check_block(&blocks[0], 1);
        let modes: Vec<&str> = blocks[0]["parallel"]
            .as_array()
            .unwrap()
            .iter()
            .map(|run| run["mode"].as_str().unwrap())
            .collect();
        assert_eq!(modes, used, "--mode {mode}");
        assert_eq!(summary["failed"], 0);
        // Block-STM runs also report the execution-only speedup (senders recovered before
        // the timer on both sides) and the dependency graph's bound at their thread count.
        let block_stm = mode == "block-stm";
        let seq_exec = &blocks[0]["sequential"]["exec_wall_us"];
        assert_eq!(
            seq_exec.as_u64().is_some_and(|us| us > 0),
            block_stm,
            "{seq_exec}"
        );
        for run in blocks[0]["parallel"].as_array().unwrap() {
            let exec = run["exec_speedup"].as_f64();
            let bound = run["bound"].as_f64();
            // Where a Block-STM replay's time went: every phase, end to end and
            // execution-only; in-order runs have none.
            for key in ["phases_us", "exec_phases_us"] {
                let phases = &run[key];
                if block_stm {
                    for name in PHASES {
                        assert!(phases[name].is_u64(), "{key}.{name} in {run}");
                    }
                    assert!(phases["loop"].as_u64() > Some(0), "{run}");
                } else {
                    assert!(phases.is_null(), "{run}");
                }
            }
            if block_stm {
                assert!(exec.is_some_and(|s| s.is_finite() && s > 0.0), "{run}");
                let bound = bound.unwrap_or_else(|| panic!("no bound in {run}"));
                if run["threads"] == 1 {
                    assert_eq!(bound, 1.0);
                } else {
                    assert!((1.0..=2.0).contains(&bound), "{run}");
                }
                check_machine_bound(run);
            } else {
                assert!(
                    run["exec_speedup"].is_null() && run["bound"].is_null(),
                    "{run}"
                );
            }
        }
    }
}

/// A run's `machine_bound`: at two threads its bound with the time both workers are busy
/// slowed to its ceiling's pace (never above the bound, a ceiling of 2x or more leaving it
/// whole); at any other thread count none.
fn check_machine_bound(run: &Value) {
    let machine = run["machine_bound"].as_f64();
    if run["threads"] != 2 {
        assert!(run["machine_bound"].is_null(), "{run}");
        return;
    }
    let bound = run["bound"].as_f64().unwrap();
    let ceiling = run["ceiling"].as_f64().unwrap().min(2.0);
    let expected = 1.0 / ((2.0 / ceiling) * (1.0 - 1.0 / bound) + 2.0 / bound - 1.0);
    let machine = machine.unwrap_or_else(|| panic!("no machine_bound in {run}"));
    assert!(
        (machine - expected).abs() < 1e-9,
        "{machine} against {expected}: {run}"
    );
    assert!(machine <= bound + 1e-12, "{run}");
}

/// The phases of a Block-STM replay, as `phases_us` and the `--phases` table name them.
const PHASES: [&str; 6] = Phases::NAMES;

/// `--phases` adds a table of where each Block-STM run's time went, one row per thread
/// count, every phase with its share.
#[test]
fn phases_table_has_a_row_per_block_stm_run() {
    let output = bench_once(&[
        "--workload",
        "raw-transfers",
        "--gas",
        "2M",
        "--threads",
        "1,2",
        "--mode",
        "block-stm",
        "--phases",
    ]);
    assert_no_panic(&output);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("block") && l.contains("merge_traces"))
        .unwrap_or_else(|| panic!("no phases table in {stdout}"));
    for name in PHASES {
        assert!(lines[header].contains(name), "{}", lines[header]);
    }
    for (row, threads) in lines[header + 1..header + 3].iter().zip(["1", "2"]) {
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[..3], ["raw-transfers", threads, "exec"], "{row}");
        // The sequential replay, the phases' sum, then each phase and its share.
        assert_eq!(cells.len(), 5 + 2 * PHASES.len(), "{row}");
    }
}

#[test]
fn bad_arguments_are_usage_errors() {
    for args in [
        &["--workload", "no-such-workload"][..],
        &["--workload", "raw-transfers", "--gas", "lots"],
        &["--workload", "raw-transfers", "--threads", "0"],
        &["--fixtures", "/no/such/folder"],
        &["--workload", "raw-transfers", "--mode", "fastest"],
    ] {
        let output = bench(args);
        assert_no_panic(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
    let output = bench(&["--workload", "nope"]);
    assert!(
        text(&output.stderr).contains("unknown workload `nope`"),
        "{}",
        text(&output.stderr)
    );
    let output = bench(&["--fixtures", "/no/such/folder"]);
    assert!(
        text(&output.stderr).contains("/no/such/folder"),
        "{}",
        text(&output.stderr)
    );
}
