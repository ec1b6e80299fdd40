//! `antlab sweep`: a scenario run once per failure, and what each run
//! showed, one row each.
//!
//! - [`failure`]: the failures (`each-node`, `each-link`,
//!   `each-switch-port`, or a file of `power:`/`link:` entries).
//! - [`measure`]: one run: the scenario's marked failure replaced
//!   ([`measure::rewrite`]), a seed derived from the failure's name
//!   ([`measure::seed_for`]), and its [`measure::Row`]: what moved, each
//!   probe's outage split into detection, reassignment and convergence,
//!   black holes, the expectations.
//! - [`report`]: the table, JSON lines, and the merge of shards' JSON.
//!
//! Which runs a sweep has ([`plan`]) is pure; the CLI runs them on every
//! core and prints rows in sweep order, so a sweep's output does not
//! depend on the cores, the shards or the order runs finish in.

pub mod failure;
pub mod measure;
pub mod report;

use sha2::{Digest, Sha256};

pub use failure::{Failure, FailureSet};
pub use measure::{Row, RunSpec};

/// Runs one sweep may have (its rows are kept until all are in): a
/// 1,000-node lab's every node with a thousand seeds.
pub const MAX_RUNS: usize = 1_000_000;

/// The runs of a sweep of `failures` with `seeds` seeds each, from
/// `sweep_seed`, failure-major; with `shard` `(i, n)` only the runs whose
/// index is `i` modulo `n`. `sweep` is the sweep's fingerprint
/// ([`Row::sweep`]).
pub fn plan(
    failures: &[Failure],
    seeds: u32,
    sweep_seed: u64,
    shard: Option<(usize, usize)>,
    sweep: &str,
) -> Vec<RunSpec> {
    let of = failures.len() * seeds as usize;
    let mut out = Vec::new();
    for (f, failure) in failures.iter().enumerate() {
        for s in 0..seeds {
            let index = f * seeds as usize + s as usize;
            if shard.is_some_and(|(i, n)| index % n != i) {
                continue;
            }
            out.push(RunSpec {
                index,
                of,
                sweep: sweep.to_string(),
                failure: failure.clone(),
                seed: measure::seed_for(sweep_seed, failure, s),
            });
        }
    }
    out
}

/// A sweep's fingerprint ([`Row::sweep`]): SHA-256 over the text of every
/// file the scenario read (scenario first), the failures' names, the
/// seeds per failure, the sweep's seed and the `--at` time, first 16 hex
/// digits. Paths do not count, so shards run from other folders or
/// machines agree.
pub fn fingerprint(
    texts: &[&str],
    failures: &[Failure],
    seeds: u32,
    sweep_seed: u64,
    at: Option<crate::time::SimTime>,
) -> String {
    let mut h = Sha256::new();
    for t in texts {
        h.update((t.len() as u64).to_be_bytes());
        h.update(t.as_bytes());
    }
    for f in failures {
        let name = f.name();
        h.update((name.len() as u64).to_be_bytes());
        h.update(name.as_bytes());
    }
    h.update(seeds.to_be_bytes());
    h.update(sweep_seed.to_be_bytes());
    h.update(at.map_or(u64::MAX, |t| t.as_nanos()).to_be_bytes());
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
