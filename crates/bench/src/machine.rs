//! The machine the numbers come from (CPU, cores, memory, load average), for the report, the
//! summary line and the plot's subtitle.

use std::num::NonZeroUsize;

use serde_json::{Value, json};

/// The machine the numbers come from.
pub(crate) fn machine() -> Value {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map(|(_, m)| m.trim().to_owned());
    let meminfo = read("/proc/meminfo");
    let mem_kib: Option<u64> = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
    let load: Vec<f64> = read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .filter_map(|v| v.parse().ok())
        .collect();
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(NonZeroUsize::get).ok(),
        "memory_bytes": mem_kib.map(|k| k * 1024),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "load_average": load,
    })
}

pub(crate) fn machine_line(machine: &Value) -> String {
    let gib = machine["memory_bytes"].as_u64().unwrap_or_default() as f64 / 1_073_741_824.0;
    let load = |key: &str| -> String {
        machine[key]
            .as_array()
            .map(|a| a.iter().map(Value::to_string).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    let end = if machine["load_average_end"].is_array() {
        format!(", at the end {}", load("load_average_end"))
    } else {
        String::new()
    };
    format!(
        "machine: {}, {} cores, {gib:.1} GiB, load average {}{end}",
        machine["cpu"].as_str().unwrap_or("unknown CPU"),
        machine["cores"].as_u64().unwrap_or_default(),
        load("load_average"),
    )
}
