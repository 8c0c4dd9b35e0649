//! Feature unification for the workspace: no code. See this crate's Cargo.toml for why it
//! exists and scripts/check-features.py for the check that keeps it complete.
