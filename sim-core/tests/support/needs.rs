//! Tests that need something a machine may lack: root with Open vSwitch
//! (real mode), `tshark`, `tmux`. One rule for all of them, so that a test
//! that could not run never reads as passed:
//!
//! - Such a test is `#[ignore = "needs ..."]`: a plain `cargo test` lists it
//!   as *ignored*, with that reason, instead of running it.
//! - `cargo test -- --include-ignored` runs it (CI does, see `.ci/run`);
//!   then [`require`] fails it when what it needs is missing.
//! - Each test binary has one ordinary test calling [`guard`], which fails
//!   when `CI=true` and something is missing, so CI cannot go green on a
//!   machine where those tests could not have run.
//!
//! Included by path from the root crate's tests too (one copy of the rule).
#![allow(dead_code)]

use std::process::Command;

/// CI sets `CI=true` (see `.ci/run`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// None when `prog --version`-style `args` runs; else what is missing.
pub fn missing_program(prog: &str, args: &[&str], package: &str) -> Option<String> {
    let ok = Command::new(prog)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    (!ok).then(|| format!("`{prog}` (apt-get install {package})"))
}

pub fn missing_tshark() -> Option<String> {
    missing_program("tshark", &["--version"], "tshark")
}

pub fn missing_tmux() -> Option<String> {
    missing_program("tmux", &["-V"], "tmux")
}

/// Inside an ignored test: fail, saying why, when `missing` is Some. Only
/// reached when someone asked for ignored tests to run.
pub fn require(missing: Option<String>) {
    if let Some(m) = missing {
        panic!(
            "this test needs {m}, which this machine lacks: install it (.ci/run lists the packages), or run the suite without --include-ignored to see it listed as ignored"
        );
    }
}

/// The per-binary guard: under `CI=true` a missing requirement is a
/// failure; elsewhere a note (the tests that need it show as ignored).
pub fn guard(what: &str, missing: Option<String>) {
    match missing {
        Some(m) if in_ci() => {
            panic!("CI=true but {what} cannot run here: missing {m}; CI must install it (.ci/run)")
        }
        Some(m) => eprintln!(
            "note: tests that need {what} are ignored unless run with --include-ignored; here they would fail: missing {m}"
        ),
        None => {}
    }
}
