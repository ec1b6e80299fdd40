//! Running scenarios in the simulator from the CLI: `antlab run` (the
//! timeline or the JSON-lines log streamed as the run goes, progress on
//! stderr) and the run to `--at` behind `get`, `rules` and `flows` (no log
//! kept at all).
//!
//! A run advances in slices of sim time (a thousandth of the run, at least
//! 1 ms); advancing in slices gives the same world, byte for byte, as one
//! call (`Runner::advance_to`). Between slices the progress is updated, the
//! streamed output is flushed, and a reader that went away (`| head`)
//! stops the run.

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use sim_core::engine::config::AntreaVersion;
use sim_core::report::timeline::{JsonLines, Timeline};
use sim_core::rng::DEFAULT_SEED;
use sim_core::scenario::{self, run::Outcome, run::Runner};
use sim_core::sim::log::Discard;
use sim_core::time::{SimDuration, SimTime};

use crate::progress::{Heartbeat, Progress, StdoutOut};
use crate::{Output, bad, load_scenario_as};

/// `antlab run` in the simulator.
pub fn run(
    path: &Path,
    seed: Option<u64>,
    output: Output,
    verbose: bool,
    pcap: Option<&Path>,
    version: Option<AntreaVersion>,
    plot: Option<&Path>,
) -> Result<ExitCode> {
    let scn = load_scenario_as(path, version)?;
    let seed = seed.or(scn.seed).unwrap_or(DEFAULT_SEED);
    // Whatever a step would refuse is refused now, before a line is printed.
    let admission = {
        let _beat = Heartbeat::start("checking every step before the run");
        scenario::admit::admit(&scn, seed)?
    };
    let mut runner = Runner::start(scn.clone(), seed, pcap.is_some())?;
    // The log says how many flow records there were; `antlab flows` lists them.
    runner.keep_flow_records(0);
    let mut progress = Progress::new(scn.until);
    let mut out = StdoutOut::new(&progress);
    match output {
        Output::Json => runner.stream_log(Box::new(JsonLines(out))),
        Output::Text => {
            // Wall-clock times appear only in flow records: show their
            // origin when there are any (or when the scenario sets one).
            let start = if admission.flow_export || scn.start_time_set {
                format!("; start {}", scenario::start_time::format(scn.start_unix))
            } else {
                String::new()
            };
            writeln!(
                out,
                "antlab: scenario {} (seed {seed}; change with --seed{start})",
                path.display()
            )?;
            if let Some(d) = &scn.description {
                writeln!(out, "{}", d.trim())?;
            }
            runner.stream_log(Box::new(Timeline::new(out, &scn.topology, verbose)));
        }
    }
    play(&mut runner, scn.until, &mut progress)?;
    let mut outcome = runner.finish();
    outcome.world.flush_log()?;
    progress.finish();
    let mut out = io::stdout().lock();
    match output {
        Output::Json => {
            let summary = serde_json::json!({
                "summary": {
                    "scenario": scn.name,
                    "seed": seed,
                    "passed": outcome.passed(),
                    "events": outcome.world.events_processed(),
                    "expectations": outcome.expectations,
                }
            });
            writeln!(out, "{summary}")?;
        }
        Output::Text => {
            writeln!(out)?;
            write!(out, "{}", sim_core::report::probes(&outcome.world))?;
            let passed = outcome.expectations.iter().filter(|e| e.passed).count();
            writeln!(out)?;
            writeln!(
                out,
                "expectations: {passed} passed, {} failed ({} events simulated, sim time {})",
                outcome.expectations.len() - passed,
                outcome.world.events_processed(),
                outcome.world.now()
            )?;
            for e in outcome.expectations.iter().filter(|e| !e.passed) {
                writeln!(
                    out,
                    "  FAILED {}:{}:{}: {}",
                    scn.file, e.line, e.column, e.message
                )?;
            }
            if !outcome.passed() {
                writeln!(
                    out,
                    "reproduce with: antlab run {} --seed {seed}",
                    path.display()
                )?;
            }
        }
    }
    out.flush()?;
    if let Some(file) = plot {
        let svg = probe_plot(&scn, &outcome).map_err(anyhow::Error::msg)?;
        std::fs::write(file, svg).with_context(|| format!("writing {}", file.display()))?;
    }
    if let Some(dir) = pcap {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let caps = outcome.world.captures();
        for (name, bytes) in &caps {
            std::fs::write(dir.join(name), bytes)
                .with_context(|| format!("writing {}", dir.join(name).display()))?;
        }
        eprintln!("wrote {} pcap files to {}", caps.len(), dir.display());
    }
    let passed = outcome.passed();
    // The command ends here and the process with it: a large lab's world is
    // a million small allocations, which the system takes back at exit at
    // once, where freeing them one by one took the better part of a second.
    std::mem::forget(outcome);
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `antlab check`: loads the scenario (every file, every limit) and admits
/// every step, as `run` does before it starts.
pub fn check(path: &Path, seed: Option<u64>, version: Option<AntreaVersion>) -> Result<ExitCode> {
    let scn = load_scenario_as(path, version)?;
    let seed = seed.or(scn.seed).unwrap_or(DEFAULT_SEED);
    {
        let _beat = Heartbeat::start("checking every step");
        scenario::admit::admit(&scn, seed)?;
    }
    outln!(
        "{}: ok ({} steps, topology {} with {} devices; {} of the {} MiB a run may take)",
        path.display(),
        scn.steps.len(),
        scn.topology_file,
        scn.topology.devices.len(),
        scn.footprint,
        sim_core::scenario::limits::MEMORY_BUDGET >> 20
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `scn` to `--at` (default: its end; never past it) with `--seed`
/// (default: its own), keeping no log, and flow records only if `flows`;
/// returns the seed used and the outcome.
pub fn run_at(
    scn: &scenario::Scenario,
    at: Option<&str>,
    seed: Option<u64>,
    flows: bool,
) -> Result<(u64, Outcome)> {
    let stop_at = match at {
        Some(t) => {
            let t = SimTime::ZERO + SimDuration::parse(t).map_err(|e| bad(format!("--at: {e}")))?;
            if t > scn.until {
                return Err(bad(format!(
                    "--at {} is after the end of {} (until {}); leave --at out for the state at its end",
                    t.since(SimTime::ZERO),
                    scn.file,
                    scn.until.since(SimTime::ZERO)
                )));
            }
            t
        }
        None => scn.until,
    };
    let (seed, mut runner) = quiet_runner(scn, seed, flows)?;
    let mut progress = Progress::new(stop_at);
    play(&mut runner, stop_at, &mut progress)?;
    progress.finish();
    Ok((seed, runner.finish()))
}

/// Advances `runner` to `end` slice by slice; stops early (with the write
/// error) if the streamed log cannot be written, e.g. its reader has gone.
/// A runner of `scn` (with `seed`, else the scenario's, else the default)
/// whose log is not kept, keeping flow records only when `flows` asks.
fn quiet_runner(scn: &scenario::Scenario, seed: Option<u64>, flows: bool) -> Result<(u64, Runner)> {
    let seed = seed.or(scn.seed).unwrap_or(DEFAULT_SEED);
    let mut runner = Runner::start(scn.clone(), seed, false)?;
    runner.stream_log(Box::new(Discard));
    if !flows {
        runner.keep_flow_records(0);
    }
    Ok((seed, runner))
}

/// `antlab traceflow --live-traffic`: the scenario runs to `at`, the live
/// Traceflow `tf` is applied there, and the run goes on until it is no
/// longer Running, its timeout, or the scenario's end. The seed and the
/// Traceflow as it stands then.
pub fn run_live_traceflow(
    scn: &scenario::Scenario,
    at: Option<&str>,
    seed: Option<u64>,
    tf: &sim_core::k8s::Traceflow,
) -> Result<(u64, sim_core::engine::pipeline::traceflow::TraceflowResult)> {
    let start = match at {
        Some(t) => SimTime::ZERO + SimDuration::parse(t).map_err(|e| bad(format!("--at: {e}")))?,
        None => SimTime::ZERO,
    };
    if start >= scn.until {
        return Err(bad(format!(
            "--at {} is not before the end of {} (until {}): a live-traffic Traceflow needs time to catch a packet",
            start.since(SimTime::ZERO),
            scn.file,
            scn.until.since(SimTime::ZERO)
        )));
    }
    let (seed, mut runner) = quiet_runner(scn, seed, false)?;
    let mut progress = Progress::new(scn.until);
    play(&mut runner, start, &mut progress)?;
    runner.apply_traceflow(tf).map_err(bad)?;
    let deadline = (start + SimDuration::from_secs(u64::from(tf.timeout_s))).min(scn.until);
    let step = SimDuration::from_millis(100);
    let result = loop {
        let t = (runner.now() + step).min(deadline);
        runner.advance_to(t)?;
        progress.update(runner.now(), runner.outcome().world.events_processed());
        let r = runner
            .outcome()
            .cluster
            .traceflows
            .get(&tf.meta.name)
            .cloned()
            .ok_or_else(|| bad("the Traceflow is gone".to_string()))?;
        if r.phase != "Running" || t >= deadline {
            break r;
        }
    };
    progress.finish();
    Ok((seed, result))
}

fn play(runner: &mut Runner, end: SimTime, progress: &mut Progress) -> Result<()> {
    let slice = SimDuration::from_nanos((end.as_nanos() / 1000).max(1_000_000));
    loop {
        let t = (runner.now() + slice).min(end);
        // The 0 s steps (a large lab's manifests) run in one go.
        let beat =
            (runner.now() == SimTime::ZERO).then(|| Heartbeat::start("applying the steps at 0 s"));
        runner.advance_to(t)?;
        drop(beat);
        progress.update(runner.now(), runner.outcome().world.events_processed());
        runner.flush_log()?;
        if t >= end {
            return Ok(());
        }
    }
}

/// `antlab run --plot`: the probes' timelines, every power and link step
/// marked (going down red, coming back green).
fn probe_plot(
    scn: &scenario::Scenario,
    outcome: &scenario::run::Outcome,
) -> Result<String, String> {
    use crate::plot::Mark;
    let marks: Vec<Mark> = scn
        .steps
        .iter()
        .filter_map(|s| {
            let (label, failure) = match &s.action {
                scenario::Action::Power { device, on } => (
                    format!("power {} {device}", if *on { "on" } else { "off" }),
                    !on,
                ),
                scenario::Action::Link { port, up } => (
                    format!("link {port} {}", if *up { "up" } else { "down" }),
                    !up,
                ),
                _ => return None,
            };
            Some(Mark {
                at_ns: s.at.as_nanos(),
                label,
                failure,
            })
        })
        .collect();
    let probes: Vec<(String, &[sim_core::sim::probe::Attempt])> = outcome
        .world
        .probes()
        .iter()
        .map(|p| (p.spec().name.clone(), p.attempts()))
        .collect();
    crate::plot::probe_timelines(
        &format!(
            "antlab run of {}: probe attempts (green answered, red failed)",
            scn.name
        ),
        outcome.world.now().as_nanos(),
        &probes,
        &marks,
    )
}
