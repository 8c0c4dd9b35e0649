//! Decodes the compiled contracts (`contracts/out/<Name>.{runtime,creation}.hex`, committed
//! output of `contracts/build.sh`) into `$OUT_DIR/<Name>.{runtime,creation}.bin`, which
//! `src/abi.rs` embeds with `include_bytes!`. A bad or missing file fails the build, naming it.

use std::{error::Error, fs, path::Path};

/// The contracts the generator uses.
const CONTRACTS: [&str; 8] = [
    "Token",
    "Pair",
    "GameItems",
    "Governor",
    "Registry",
    "Counter",
    "Factory",
    "Child",
];

fn decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    let text = text.strip_prefix("0x").unwrap_or(text);
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn main() -> Result<(), Box<dyn Error>> {
    let out_dir = std::env::var("OUT_DIR")?;
    println!("cargo::rerun-if-changed=contracts/out");
    for name in CONTRACTS {
        for kind in ["runtime", "creation"] {
            let path = format!("contracts/out/{name}.{kind}.hex");
            println!("cargo::rerun-if-changed={path}");
            let text = fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
            let code = decode(&text).ok_or_else(|| format!("{path} is not hex"))?;
            if code.is_empty() {
                return Err(format!("{path} is empty").into());
            }
            fs::write(Path::new(&out_dir).join(format!("{name}.{kind}.bin")), code)?;
        }
    }
    Ok(())
}
