//! `antlab rules NODE` and `antlab trace NODE FLOW`: a node's br-int program
//! (the one the engine compiles, `sim_core::engine::pipeline`) as
//! `ovs-ofctl dump-flows`/`dump-groups` print it, and one packet's walk
//! through it as `ovs-appctl ofproto/trace` prints it, from the simulator's
//! interpreter or, with `--mode real`, from real OVS holding the same
//! program; `antlab traceflow`, Antrea's Traceflow on those programs.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use sim_core::engine::pipeline::{NodePipeline, inspect, node_pipeline};
use sim_core::openflow::Style;
use sim_core::scenario::run::Outcome;

use super::{bad, load_scenario, sim_run};

/// Where a trace is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceMode {
    /// The simulator's OpenFlow interpreter.
    Sim,
    /// `ovs-appctl ofproto/trace` on the same program in a private OVS (root).
    Real,
}

/// The run stopped at `at`: its seed, the sim time as printed, the outcome.
fn run_of(path: &Path, at: Option<&str>, seed: Option<u64>) -> Result<(u64, String, Outcome)> {
    let scn = load_scenario(path)?;
    let (seed, outcome) = sim_run::run_at(&scn, at, seed, false)?;
    let now = outcome.world.now().to_string();
    Ok((seed, now, outcome))
}

/// `node`'s program compiled from the run's cluster; the error names the
/// scenario's nodes.
fn pipeline_of(node: &str, path: &Path, outcome: &Outcome) -> Result<NodePipeline> {
    node_pipeline(&outcome.cluster, node).map_err(|e| {
        let nodes: Vec<&str> = outcome.cluster.nodes().map(|n| n.name.as_str()).collect();
        bad(format!(
            "{e} of {} (its nodes: {})",
            path.display(),
            nodes.join(", ")
        ))
    })
}

/// `antlab rules NODE`.
pub fn rules(
    node: &str,
    path: &Path,
    at: Option<&str>,
    seed: Option<u64>,
    table: Option<&str>,
    numbers: bool,
) -> Result<ExitCode> {
    let (seed, now, mut outcome) = run_of(path, at, seed)?;
    // With `options.brInt: pipeline` the run executed the node's program:
    // print that one, its counters included; else the program compiled
    // from the run's cluster.
    let loaded = match outcome.world.device_id(node) {
        Some(id) => outcome.world.br_int_program(id).cloned(),
        None => None,
    };
    let compiled;
    let program = match &loaded {
        Some(p) => p,
        None => {
            compiled = inspect::program(&pipeline_of(node, path, &outcome)?).map_err(bad)?;
            &compiled
        }
    };
    let style = if numbers {
        Style::Numbers
    } else {
        Style::Names
    };
    let flows = inspect::dump_flows(program, style, table).map_err(bad)?;
    outln!(
        "# br-int of {node} in {} at {now} (seed {seed}): {} flows, {} groups (ovs-ofctl dump-flows br-int{})",
        path.display(),
        program.flow_count(),
        program.group_count(),
        if numbers { "" } else { " --names" }
    );
    out!("{flows}");
    if table.is_none() {
        outln!("# groups (ovs-ofctl dump-groups br-int)");
        out!("{}", program.dump_groups(style));
        if program.group_count() > 0 {
            outln!("# group stats (ovs-ofctl dump-group-stats br-int)");
            out!("{}", program.dump_group_stats());
        }
        let stack = outcome
            .world
            .device_id(node)
            .and_then(|id| outcome.world.device(id).stack());
        if let Some(r) = stack.and_then(|s| s.services().rules()) {
            outln!("# kube-proxy on the host (iptables-save / ipvsadm -Ln)");
            out!("{}", sim_core::engine::proxy::render_kube_proxy(r));
        }
    }
    if loaded.is_none() {
        eprintln!(
            "note: n_packets/n_bytes are 0: br-int forwards through its program only with `options.brInt: pipeline` (README, Known differences); `antlab trace` walks one packet"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `antlab trace NODE FLOW`.
#[allow(clippy::too_many_arguments)]
pub fn trace(
    node: &str,
    flow: &str,
    path: &Path,
    at: Option<&str>,
    seed: Option<u64>,
    ct_next: &[String],
    mode: TraceMode,
) -> Result<ExitCode> {
    let (seed, now, outcome) = run_of(path, at, seed)?;
    let pipeline = pipeline_of(node, path, &outcome)?;
    let expanded = inspect::expand_flow(&outcome.cluster, node, flow).map_err(bad)?;
    let states = inspect::ct_states(ct_next).map_err(bad)?;
    let mut program = inspect::program(&pipeline).map_err(bad)?;
    outln!(
        "# br-int of {node} in {} at {now} (seed {seed}), {}",
        path.display(),
        match mode {
            TraceMode::Sim => "the simulator's interpreter",
            TraceMode::Real => "ovs-appctl ofproto/trace in a private OVS",
        }
    );
    match mode {
        TraceMode::Sim => {
            let walk = inspect::trace(&mut program, &expanded, &states).map_err(bad)?;
            out!("{}", walk.render());
        }
        TraceMode::Real => {
            let missing = datapath::sys::missing_prerequisites();
            if !missing.is_empty() {
                return Err(bad(format!(
                    "--mode real needs {}, which this machine lacks",
                    missing.join(", ")
                )));
            }
            let pods = inspect::pod_ports(
                &outcome.cluster,
                outcome.cluster.node_id(node).expect("program_of checked"),
            );
            let mut bridge = datapath::oftrace::TraceBridge::start(pods)?;
            bridge.load(&program.bundle_text(), pipeline.tables())?;
            let next: Vec<&str> = ct_next.iter().map(String::as_str).collect();
            let text =
                bridge.trace_text(&expanded, &next, datapath::oftrace::TraceMethod::Persistent)?;
            outln!("Flow: {expanded}");
            out!("{text}");
            if text.contains("native tunnel routing failed") {
                eprintln!(
                    "note: this private OVS has no underlay, so OVS cannot route the tunnel's outer packet ('native tunnel routing failed'); the program chose the tunnel port and the tun_dst above"
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How `antlab traceflow` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceflowOutput {
    Yaml,
    Json,
}

/// `antlab traceflow`.
pub fn traceflow(
    path: &Path,
    ask: TraceflowAsk<'_>,
    at: Option<&str>,
    seed: Option<u64>,
    output: TraceflowOutput,
) -> Result<ExitCode> {
    use sim_core::engine::pipeline::traceflow::traceflow;
    use sim_core::k8s::TraceflowDestination as D;
    let pod = |s: &str| {
        let (ns, name) = s.split_once('/').unwrap_or(("default", s));
        (ns.to_string(), name.to_string())
    };
    let dst = ask.destination.map(|d| {
        if let Ok(ip) = d.parse() {
            D::Ip(ip)
        } else if let Some(rest) = d.strip_prefix("svc/") {
            let (namespace, name) = pod(rest);
            D::Service { namespace, name }
        } else {
            let (namespace, name) = pod(d);
            D::Pod { namespace, name }
        }
    });
    let result = match ask.live {
        None => {
            let (Some(source), Some(dst)) = (ask.source, dst) else {
                return Err(bad(
                    "an injected packet needs -S (the source Pod) and -D (its destination); --live-traffic may leave one out"
                        .to_string(),
                ));
            };
            let (_, _, outcome) = run_of(path, at, seed)?;
            let (sns, sname) = pod(source);
            let now_s = outcome.world.now().as_nanos() / 1_000_000_000;
            let flow = ask.flow.unwrap_or("icmp");
            traceflow(&outcome.cluster, (&sns, &sname), &dst, flow, now_s).map_err(bad)?
        }
        Some((dropped_only, timeout)) => {
            let timeout_s = match timeout {
                None => sim_core::k8s::DEFAULT_TRACEFLOW_TIMEOUT_S,
                Some(t) => sim_core::time::SimDuration::parse(t)
                    .ok()
                    .map(|d| d.as_nanos() / 1_000_000_000)
                    .and_then(|s| u32::try_from(s).ok())
                    .filter(|s| (1..=300).contains(s))
                    .ok_or_else(|| {
                        bad(format!(
                            "--timeout {t}: give 1s to 300s, as Antrea's CRD allows"
                        ))
                    })?,
            };
            let (source, source_ip) = match ask.source {
                Some(s) => match s.parse::<std::net::Ipv4Addr>() {
                    Ok(ip) => (None, Some(ip)),
                    Err(_) => (Some(pod(s)), None),
                },
                None => (None, None),
            };
            if source.is_none() && !matches!(dst, Some(D::Pod { .. })) {
                return Err(bad(
                    "a live-traffic Traceflow needs a source Pod (-S NS/NAME) or a destination Pod (-D NS/NAME)"
                        .to_string(),
                ));
            }
            let tf = sim_core::k8s::Traceflow {
                meta: sim_core::k8s::ObjectMeta::named("live-traffic"),
                source,
                source_ip,
                destination: dst,
                flow: ask.flow.map(str::to_string),
                live: Some(sim_core::k8s::LiveTraffic { dropped_only }),
                timeout_s,
            };
            let scn = load_scenario(path)?;
            let (_, result) = sim_run::run_live_traceflow(&scn, at, seed, &tf)?;
            if result.phase == "Running" {
                eprintln!(
                    "antlab: {} ended before the live-traffic Traceflow caught its packet or timed out",
                    path.display()
                );
            }
            result
        }
    };
    match output {
        TraceflowOutput::Yaml => out!("{}", result.to_yaml()),
        TraceflowOutput::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&result).map_err(|e| bad(e.to_string()))?
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// What `antlab traceflow` asks: the source, the destination and the
/// packet's protocol part as given, and for live traffic whether only a
/// dropped packet counts and the timeout.
pub struct TraceflowAsk<'a> {
    pub source: Option<&'a str>,
    pub destination: Option<&'a str>,
    pub flow: Option<&'a str>,
    pub live: Option<(bool, Option<&'a str>)>,
}
