//! Small helpers for the human table and the machine JSON lines.

use std::io::{self, Write};

/// Writes one JSON value as a line on stdout.
pub(crate) fn json_line(value: &serde_json::Value) -> io::Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    out.write_all(b"\n")
}

/// Formats microseconds for humans (`812us`, `14.2ms`, `3.10s`).
pub(crate) fn duration_us(us: u64) -> String {
    match us {
        0..1_000 => format!("{us}us"),
        1_000..1_000_000 => format!("{:.1}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// Gas for humans: `1 Ggas`, `30 Mgas`, else the number.
pub(crate) fn gas_text(gas: u64) -> String {
    match gas {
        g if g >= 1_000_000_000 && g % 1_000_000_000 == 0 => format!("{} Ggas", g / 1_000_000_000),
        g if g >= 1_000_000 && g % 1_000_000 == 0 => format!("{} Mgas", g / 1_000_000),
        g => format!("{g} gas"),
    }
}
