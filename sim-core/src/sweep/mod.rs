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

pub use failure::{Failure, FailureSet};
pub use measure::{Row, RunSpec};

/// The runs of a sweep of `failures` with `seeds` seeds each, from
/// `sweep_seed`, failure-major; with `shard` `(i, n)` only the runs whose
/// index is `i` modulo `n`.
pub fn plan(
    failures: &[Failure],
    seeds: u32,
    sweep_seed: u64,
    shard: Option<(usize, usize)>,
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
                failure: failure.clone(),
                seed: measure::seed_for(sweep_seed, failure, s),
            });
        }
    }
    out
}
