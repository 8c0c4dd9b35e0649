//! Small helpers for human tables and machine JSON lines.

use std::io::{self, Write};

/// Writes one JSON value as a line on stdout.
///
/// # Errors
/// The write's error, e.g. a closed pipe.
pub fn json_line(value: &serde_json::Value) -> io::Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    out.write_all(b"\n")
}

/// Formats microseconds for humans (`812us`, `14.2ms`, `3.10s`).
pub fn duration_us(us: u64) -> String {
    match us {
        0..1_000 => format!("{us}us"),
        1_000..1_000_000 => format!("{:.1}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::duration_us;

    #[test]
    fn durations() {
        assert_eq!(duration_us(812), "812us");
        assert_eq!(duration_us(14_200), "14.2ms");
        assert_eq!(duration_us(3_100_000), "3.10s");
    }
}
