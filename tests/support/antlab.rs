//! The `antlab` binary as the integration tests run it: from the
//! workspace root, its output captured.

use std::process::{Command, Output};

pub fn antlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_antlab"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("antlab runs")
}
