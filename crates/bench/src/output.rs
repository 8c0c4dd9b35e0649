//! Gas amounts for the human table. JSON lines and durations are the shared helpers of
//! [`replay_evm_args::output`], the same as `replay-evm`'s.

/// Gas for humans: `1 Ggas`, `30 Mgas`, else the number.
pub(crate) fn gas_text(gas: u64) -> String {
    match gas {
        g if g >= 1_000_000_000 && g % 1_000_000_000 == 0 => format!("{} Ggas", g / 1_000_000_000),
        g if g >= 1_000_000 && g % 1_000_000 == 0 => format!("{} Mgas", g / 1_000_000),
        g => format!("{g} gas"),
    }
}
