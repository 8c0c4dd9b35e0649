//! `replay-evm`: replay archived Ethereum blocks, verify them against the chain, and measure
//! how parallel they are. This file only turns a subcommand's outcome into an exit code.

use std::process::ExitCode;

use clap::Parser;

mod allocator;
mod cmd;
mod exit;
mod filter_args;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    match cli.command.run() {
        Ok(outcome) => outcome.exit_code(),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}
