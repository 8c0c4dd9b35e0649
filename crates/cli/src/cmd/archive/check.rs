//! `replay-evm archive check ARCHIVE`: consistency across blocks. For consecutive blocks n
//! and n+1, block n's replayed state changes against block n+1's archived pre-state, on
//! every account field and slot both name (crates/fetch/src/check.rs). Exit 0 when every
//! pair agrees, 1 when some disagree or cannot be replayed, 2 when the archive cannot be
//! read.

use std::path::{Path, PathBuf};

use replay_evm_fetch::check::{CheckReport, check_archive};

use crate::exit::{CliError, Outcome};

/// Arguments of `archive check`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The archive folder.
    #[arg(value_name = "ARCHIVE")]
    archive: PathBuf,
}

/// Prints every disagreement and a closing line.
pub(crate) fn print_report(archive: &Path, report: &CheckReport) {
    for d in &report.disagreements {
        println!("disagreement: {d}");
    }
    for (number, why) in &report.unchecked {
        println!("unchecked: block {number} -> {}: {why}", number + 1);
    }
    println!(
        "archive check of {}: {} blocks, {} consecutive pairs, {} accounts and {} slots \
         compared: {} disagreement(s), {} pair(s) unchecked",
        archive.display(),
        report.blocks,
        report.pairs,
        report.accounts_compared,
        report.slots_compared,
        report.disagreements.len(),
        report.unchecked.len()
    );
}

pub(crate) fn run(args: Args) -> Result<Outcome, CliError> {
    let report = check_archive(&args.archive).map_err(|e| CliError::Usage(e.to_string()))?;
    print_report(&args.archive, &report);
    Ok(if report.agrees() {
        Outcome::Success
    } else {
        Outcome::Failures
    })
}
