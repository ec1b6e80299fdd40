//! `antlab sweep`: the scenario once per failure on every core, and
//! `antlab sweep merge`, which joins shards' JSON lines.
//!
//! Runs are independent and each is deterministic (its seed comes from
//! the sweep's seed and the failure's name), so the rows, printed in sweep
//! order once all are in, do not depend on the number of threads or
//! shards.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::Result;
use sim_core::sweep::{self, Failure, FailureSet, Row, report};
use sim_core::time::{SimDuration, SimTime};

use crate::progress::RunCount;
use crate::{bad, files, load_scenario_reading};

/// What `antlab sweep` was asked.
pub struct SweepArgs<'a> {
    pub scenario: &'a Path,
    pub fail: &'a str,
    pub seeds: u32,
    pub seed: Option<u64>,
    pub at: Option<&'a str>,
    pub order: report::Order,
    pub json: bool,
    pub shard: Option<&'a str>,
    pub jobs: Option<usize>,
    pub quiet: bool,
    pub plot: Option<&'a Path>,
    /// `--emit-job DIR` with its shards and image.
    pub emit_job: Option<(&'a Path, usize, &'a str)>,
}

/// `I/N`: shard `I` (from 0, as a Kubernetes Indexed Job numbers its
/// pods) of `N`.
fn parse_shard(text: &str) -> Result<(usize, usize)> {
    let err = || {
        bad(format!(
            "--shard {text}: give I/N with 0 <= I < N (e.g. 0/4)"
        ))
    };
    let (i, n) = text.split_once('/').ok_or_else(err)?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| err())?,
        n.trim().parse().map_err(|_| err())?,
    );
    if n == 0 || i >= n {
        return Err(err());
    }
    Ok((i, n))
}

pub fn sweep(args: &SweepArgs) -> Result<ExitCode> {
    let (scn, read) = load_scenario_reading(args.scenario, None)?;
    let mut fail_file = None;
    let failures: Vec<Failure> = match FailureSet::parse(args.fail) {
        Some(set) => sweep::failure::generate(&scn.topology, set),
        None => {
            let path = PathBuf::from(args.fail);
            fail_file = Some(path.clone());
            let text = files::read_input(&path).map_err(|e| {
                bad(format!(
                    "--fail {}: not each-node, each-link or each-switch-port, and not a readable file: {e}",
                    args.fail
                ))
            })?;
            sweep::failure::parse_file(&path.display().to_string(), &text, &scn.topology)?
        }
    };
    if failures.is_empty() {
        return Err(bad(format!(
            "--fail {}: the topology has none to fail",
            args.fail
        )));
    }
    if args.seeds == 0 {
        return Err(bad("--seeds must be at least 1"));
    }
    let total = failures.len().saturating_mul(args.seeds as usize);
    if total > sweep::MAX_RUNS {
        return Err(bad(format!(
            "{} failures x {} seeds is {total} runs; a sweep holds at most {} (fewer seeds, or a failures file)",
            failures.len(),
            args.seeds,
            sweep::MAX_RUNS
        )));
    }
    let at = args
        .at
        .map(|t| {
            SimDuration::parse(t)
                .map(|d| SimTime::ZERO + d)
                .map_err(|e| bad(format!("--at {t}: {e}")))
        })
        .transpose()?;
    // The scenario must mark a failure (or --at give one): say so once.
    sweep::measure::rewrite(&scn, &failures[0], at).map_err(bad)?;
    let shard = args.shard.map(parse_shard).transpose()?;
    let sweep_seed = args.seed.or(scn.seed).unwrap_or(1);
    if let Some((dir, shards, image)) = args.emit_job {
        if shard.is_some() {
            return Err(bad(
                "--emit-job writes every shard's Job; leave out --shard",
            ));
        }
        let said = crate::job::emit(
            dir,
            &crate::job::JobArgs {
                scenario: args.scenario,
                read: &read,
                memory: scn.footprint.bytes(),
                fail: args.fail,
                fail_file: fail_file.as_deref(),
                seeds: args.seeds,
                seed: sweep_seed,
                at: args.at,
                shards,
                image,
                runs: failures.len() * args.seeds as usize,
                scenario_name: &scn.name,
            },
        )?;
        outln!("{said}");
        return Ok(ExitCode::SUCCESS);
    }
    let texts: Vec<&str> = read.iter().map(|f| f.text.as_str()).collect();
    let fingerprint = sweep::fingerprint(&texts, &failures, args.seeds, sweep_seed, at);
    let runs = sweep::plan(&failures, args.seeds, sweep_seed, shard, &fingerprint);
    let rows = run_all(&scn, &runs, at, args.jobs, args.quiet)?;
    print_rows(rows, args.order, args.json, args.plot)?;
    Ok(ExitCode::SUCCESS)
}

/// Every run of `runs` on `jobs` threads (default: every core), in sweep
/// order.
fn run_all(
    scn: &sim_core::scenario::Scenario,
    runs: &[sweep::RunSpec],
    at: Option<SimTime>,
    jobs: Option<usize>,
    quiet: bool,
) -> Result<Vec<Row>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = jobs
        .unwrap_or(cores)
        .min(cores * 4)
        .clamp(1, runs.len().max(1));
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Result<Row, String>)>();
    let mut results: Vec<Option<Result<Row, String>>> = vec![None; runs.len()];
    let mut spawned = 0;
    std::thread::scope(|s| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let next = &next;
            let worker = std::thread::Builder::new().spawn_scoped(s, move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(spec) = runs.get(i) else { break };
                    if tx
                        .send((i, sweep::measure::run_one(scn, spec, at)))
                        .is_err()
                    {
                        break;
                    }
                }
            });
            // Fewer threads than asked (the system refused one) still run
            // every run.
            if worker.is_err() {
                break;
            }
            spawned += 1;
        }
        drop(tx);
        let mut progress = (!quiet).then(|| RunCount::new(runs.len() as u64));
        let mut done = 0u64;
        for (i, r) in rx {
            results[i] = Some(r);
            done += 1;
            if let Some(p) = progress.as_mut() {
                p.update(done);
            }
        }
    });
    if spawned == 0 {
        return Err(anyhow::anyhow!("could not start a thread for the runs"));
    }
    let mut rows = Vec::with_capacity(runs.len());
    for (spec, r) in runs.iter().zip(results) {
        match r {
            Some(Ok(row)) => rows.push(row),
            Some(Err(e)) => {
                return Err(bad(format!("{}: {e}", spec.failure.name())));
            }
            None => return Err(anyhow::anyhow!("run {} did not report", spec.index)),
        }
    }
    Ok(rows)
}

fn print_rows(rows: Vec<Row>, order: report::Order, json: bool, plot: Option<&Path>) -> Result<()> {
    let rows = report::sorted(rows, order);
    if let Some(path) = plot {
        let scenario = rows.first().map_or("", |r| r.scenario.as_str());
        let svg = crate::plot::sweep_heat_map(
            &format!("antlab sweep of {scenario}: outage per failure (rows) and probe (columns)"),
            &rows,
        )
        .map_err(anyhow::Error::msg)?;
        std::fs::write(path, svg)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    }
    if json {
        out!("{}", report::json_lines(&rows));
    } else {
        out!("{}", report::table(&rows));
    }
    Ok(())
}

/// `antlab sweep merge FILE...`.
pub fn merge(
    inputs: &[PathBuf],
    order: report::Order,
    json: bool,
    plot: Option<&Path>,
) -> Result<ExitCode> {
    if inputs.is_empty() {
        return Err(bad("sweep merge needs the JSON files of the shards"));
    }
    let mut texts = Vec::new();
    for p in inputs {
        let text = files::read_input(p).map_err(bad)?;
        texts.push((p.display().to_string(), text));
    }
    let rows = report::merge(&texts)?;
    print_rows(rows, order, json, plot)?;
    Ok(ExitCode::SUCCESS)
}
