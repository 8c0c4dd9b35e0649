//! `replay-evm-bench`: the benchmark harness's binary (see the library's docs; also run as
//! `replay-evm bench`). This file parses the arguments, makes the counting allocator the
//! global one (so that peak heap can be measured), has it keep the memory a replay frees
//! (`replay_evm_dataset::allocator`) and turns the outcome into an exit code.

use std::process::ExitCode;

use clap::Parser;
use replay_evm_bench::{Args, PeakAlloc, run};

#[global_allocator]
static GLOBAL: PeakAlloc = PeakAlloc;

fn main() -> ExitCode {
    replay_evm_dataset::allocator::keep_freed_memory();
    match run(Args::parse()) {
        Ok(outcome) => outcome.exit_code(),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}
