//! `replay-evm statetest <PATH>... [--fork NAME]`: run every case of ethereum/tests-format
//! state tests (every fork, every data/gas/value index) and print failures by name, skips
//! with their reasons, and `N passed, M failed, K skipped`. Exits 0 only if nothing failed.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicUsize, Ordering},
};

use replay_evm_conformance::{Report, collect_test_files, run_path_with_progress};

use crate::exit::{CliError, Outcome};
use crate::filter_args::FilterArgs;

/// Arguments of `statetest`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// State-test files, or folders searched recursively for `.json` files.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    filter: FilterArgs,
}

pub(crate) fn run(args: Args) -> Result<Outcome, CliError> {
    let filter = args.filter.filter()?;
    let mut total = Report::default();
    for path in &args.paths {
        let files = collect_test_files(path)?.len();
        let done = AtomicUsize::new(0);
        let report = run_path_with_progress(path, &filter, &|_| {
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_multiple_of(250) || n == files {
                eprintln!("[{}] {n}/{files} files", path.display());
            }
        })?;
        total.files += report.files;
        total.passed += report.passed;
        total.failed.extend(report.failed);
        total.skipped.extend(report.skipped);
    }
    for skip in &total.skipped {
        println!("SKIP {skip}");
    }
    for failure in &total.failed {
        println!("FAIL {failure}");
    }
    println!("{}", total.summary());
    Ok(if total.failed.is_empty() {
        Outcome::Success
    } else {
        Outcome::Failures
    })
}
