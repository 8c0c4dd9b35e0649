//! `replay-evm`: replay archived Ethereum blocks, verify them against the chain, and measure
//! how parallel they are. This file has the allocator keep the memory a replay frees
//! (`replay_evm_dataset::allocator`) and turns a subcommand's outcome into an exit code.

use std::process::ExitCode;

use clap::Parser;

mod allocator;
mod cmd;
mod exit;
mod filter_args;

fn main() -> ExitCode {
    replay_evm_dataset::allocator::keep_freed_memory();
    let cli = cmd::Cli::parse();
    match cli.command.run() {
        Ok(outcome) => outcome.exit_code(),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}
