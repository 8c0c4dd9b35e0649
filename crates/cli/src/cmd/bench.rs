//! `replay-evm bench ARGS...`: runs the benchmark harness, the `replay-evm-bench` executable
//! (crate `crates/bench`), with the same arguments, and exits as it does. The harness is a
//! binary of its own so that this one carries no counting allocator and no hard-coded
//! targets; `replay-evm-bench --help` lists its options.
//!
//! It is looked for beside the running `replay-evm` (both land in `target/release/` with
//! `cargo build --release --workspace`), then on `PATH`.

use std::{ffi::OsString, path::PathBuf, process::Command};

use crate::exit::{CliError, Outcome};

/// The harness's executable name.
const BENCH: &str = "replay-evm-bench";

/// Arguments of `bench`: passed to `replay-evm-bench` as they are (`--help` included).
#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub(crate) struct Args {
    /// The arguments of `replay-evm-bench` (see `replay-evm bench --help`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    args: Vec<OsString>,
}

/// `replay-evm-bench` beside the running executable, else the first on `PATH`.
fn find_bench() -> Option<PathBuf> {
    let file = format!("{BENCH}{}", std::env::consts::EXE_SUFFIX);
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(&file)));
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(&file));
    beside.into_iter().chain(on_path).find(|p| p.is_file())
}

pub(crate) fn run(args: Args) -> Result<Outcome, CliError> {
    let bench = find_bench().ok_or_else(|| {
        CliError::Usage(format!(
            "`replay-evm bench` runs `{BENCH}`, found neither beside this executable nor on \
             PATH: build it with `cargo build --release -p {BENCH}`"
        ))
    })?;
    let status = Command::new(&bench)
        .args(&args.args)
        .status()
        .map_err(|e| CliError::Usage(format!("cannot run {}: {e}", bench.display())))?;
    match status.code() {
        Some(0) => Ok(Outcome::Success),
        Some(1) => Ok(Outcome::Failures),
        // 2: bad arguments or a run that could not start; it has said why.
        _ => Err(CliError::Usage(format!(
            "{} ended with {status}",
            bench.display()
        ))),
    }
}
