//! `antlab`: run Antrea network scenarios in a deterministic simulator.
//!
//! Exit codes: 0 = ran and every expectation held; 1 = an expectation failed;
//! 2 = bad input (the message names file:line:column).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use sim_core::input::InputError;
use sim_core::rng::DEFAULT_SEED;
use sim_core::scenario;

/// `println!` for command output: when stdout is closed (`antlab ... |
/// head`) the write error is returned with `?` and `main` exits quietly,
/// where `println!` would panic. Used for everything a command prints.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)?
    }};
}

/// `print!` for command output; see [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout(), $($arg)*)?
    }};
}

mod bench;
mod br_int;
mod collector;
mod files;
mod job;
mod plot;
mod progress;
mod real;
mod sim_run;
mod sweep;

#[derive(Parser)]
#[command(
    name = "antlab",
    version,
    about = "Simulator and emulation testbed for the node network of an Antrea cluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario in the simulator and print its timeline.
    Run {
        scenario: PathBuf,
        /// Master seed (default: the scenario's `seed`, else 1). Printed on every run.
        #[arg(long)]
        seed: Option<u64>,
        /// Output: a readable timeline, or the whole event log as JSON lines.
        #[arg(short, long, value_enum, default_value_t = Output::Text)]
        output: Output,
        /// Also print every frame and every probe attempt.
        #[arg(short, long)]
        verbose: bool,
        /// Write one pcap per port that saw traffic into this directory.
        #[arg(long)]
        pcap: Option<PathBuf>,
        /// sim: the simulator; real: namespaces, OVS and nftables (root);
        /// both: real, checked field by field against the simulator.
        #[arg(long, value_enum, default_value_t = RunMode::Sim)]
        mode: RunMode,
        /// The Antrea release to model (default: the scenario's
        /// `options.antreaVersion`, else v1.15.1, the blog's).
        #[arg(long = "antrea-version")]
        antrea_version: Option<String>,
        /// Also draw the probes' timelines, with the failures marked, into
        /// this SVG file (simulator runs).
        #[arg(long)]
        plot: Option<PathBuf>,
    },
    /// Run a scenario once per failure (every node, link or switch port, or
    /// a file's list) on every core, and print one row per failure: what
    /// moved where, each probe's outage split into detection, reassignment
    /// and convergence, black holes, the expectations. `antlab sweep merge
    /// FILE...` joins the JSON lines of `--shard` runs into the same output.
    Sweep {
        /// The scenario (its first power-off or link-down step is the
        /// failure each run replaces), or `merge`.
        scenario: PathBuf,
        /// With `merge`: the JSON lines files of the shards.
        files: Vec<PathBuf>,
        /// each-node, each-link, each-switch-port, or a YAML file listing
        /// `- power: DEVICE` / `- link: DEVICE/PORT`.
        #[arg(long, default_value = "each-node")]
        fail: String,
        /// Runs per failure, each with its own seed.
        #[arg(long, default_value_t = 1)]
        seeds: u32,
        /// The sweep's seed (default: the scenario's `seed`, else 1); each
        /// run's seed is derived from it and the failure's name.
        #[arg(long)]
        seed: Option<u64>,
        /// Inject the failure at this sim time (e.g. 10s) and keep it to the
        /// end, instead of at the scenario's own failure step.
        #[arg(long)]
        at: Option<String>,
        /// Row order: as the failures are listed, or the worst first.
        #[arg(long, value_enum, default_value_t = SweepSort::Sweep)]
        sort: SweepSort,
        /// A table, or one JSON object per row (what `merge` reads).
        #[arg(short, long, value_enum, default_value_t = FlowsOutput::Table)]
        output: FlowsOutput,
        /// Only the runs of shard I of N (I from 0, as `JOB_COMPLETION_INDEX`):
        /// the runs whose index is I modulo N.
        #[arg(long)]
        shard: Option<String>,
        /// Threads (default: every core; at most four per core).
        #[arg(long)]
        jobs: Option<usize>,
        /// No progress on stderr (as the emitted Job's pods run, so that
        /// `kubectl logs` holds rows only).
        #[arg(long)]
        quiet: bool,
        /// Also draw the rows as a heat map (failures x probes, colour =
        /// outage) into this SVG file.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Run nothing: write a Kubernetes Indexed Job for the sweep into
        /// this folder (job.yaml, Dockerfile, lab/, README.md).
        #[arg(long = "emit-job")]
        emit_job: Option<PathBuf>,
        /// With --emit-job: the Job's shards (its completions).
        #[arg(long, default_value_t = 10)]
        shards: usize,
        /// With --emit-job: the image the Job runs (built from the
        /// folder's Dockerfile).
        #[arg(long, default_value = "antlab-sweep:latest")]
        image: String,
    },
    /// Real mode: build labs out of network namespaces, OVS and nftables.
    Real {
        #[command(subcommand)]
        command: real::RealCommand,
    },
    /// Show a table of a scenario's state at its end or at `--at` (kubectl-style):
    /// nodes, pods, probes, links, arp DEVICE, mac SWITCH, routes DEVICE,
    /// dataplane NODE, trace PROBE, iplink NODE, ipaddr NODE, conntrack DEVICE,
    /// bgppolicies [NODE], bgppeers NODE, bgproutes NODE, bgp ROUTER.
    Get {
        /// What to show, e.g. `pods` or `arp core-sw`.
        #[arg(required = true, num_args = 1..=2)]
        what: Vec<String>,
        /// The scenario whose state to show.
        #[arg(short = 's', long)]
        scenario: Option<PathBuf>,
        /// `get featuregates`: manifests holding the `antrea-config` ConfigMap.
        #[arg(short = 'f', long = "file")]
        file: Option<PathBuf>,
        /// The Antrea release to model, v1.15.0 to v2.7.0 (default: the
        /// scenario's `options.antreaVersion`, else v1.15.1, the blog's).
        #[arg(long = "antrea-version")]
        antrea_version: Option<String>,
        /// Sim time to stop at, e.g. `12s` (default: the scenario's end).
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Where would the Egress IPs of a real cluster go if these Nodes failed?
    /// Reads Nodes, ExternalIPPools and Egresses from manifests or from
    /// `kubectl get nodes,externalippools,egresses -o yaml` (a `kind: List`).
    #[command(name = "what-if")]
    WhatIf {
        /// Manifest or `kind: List` files (repeatable).
        #[arg(short = 'f', long = "file", required = true)]
        files: Vec<PathBuf>,
        /// A Node that fails (repeatable).
        #[arg(long = "power-off")]
        power_off: Vec<String>,
        #[arg(short, long, value_enum, default_value_t = WhatIfOutput::Table)]
        output: WhatIfOutput,
    },
    /// A node's br-int program as `ovs-ofctl dump-flows`/`dump-groups` print it
    /// (the program the engine compiles from Antrea's pipeline), and
    /// kube-proxy's iptables chains or IPVS virtual servers on the host; or,
    /// with `--compare`, rule counts and compile/update times for a synthetic
    /// cluster.
    Rules {
        /// The node whose rules to print.
        node: Option<String>,
        /// Only this table's flows (a name such as `L3Forwarding`, or a number).
        #[arg(long)]
        table: Option<String>,
        /// Table numbers instead of names (`ovs-ofctl dump-flows` without `--names`).
        #[arg(long)]
        numbers: bool,
        #[arg(short = 's', long)]
        scenario: Option<PathBuf>,
        /// Sim time to stop at (default: the scenario's end).
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        seed: Option<u64>,
        /// Benchmark AntreaProxy-style rules against kube-proxy's iptables model.
        #[arg(long)]
        compare: bool,
        #[arg(long, default_value_t = 1000)]
        services: usize,
        #[arg(long = "endpoints-per-service", default_value_t = 10)]
        endpoints_per_service: usize,
        #[arg(long, default_value_t = 10)]
        nodes: usize,
    },
    /// One packet's walk through a node's br-int, table by table, as
    /// `ovs-appctl ofproto/trace` prints it. FLOW is ofproto/trace's flow
    /// syntax; `pod:NS/NAME` fills in that Pod's port, MACs and address, e.g.
    /// `pod:default/client,tcp,nw_dst=10.96.0.10,tp_dst=80`.
    Trace {
        node: String,
        flow: String,
        #[arg(short = 's', long)]
        scenario: PathBuf,
        /// Sim time whose program to trace (default: the scenario's end).
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        seed: Option<u64>,
        /// The conntrack state each ct() resumes with, in order, as
        /// `ofproto/trace --ct-next` (e.g. `trk,est,rpl`); `trk,new` after them.
        #[arg(long = "ct-next")]
        ct_next: Vec<String>,
        /// sim: the simulator's interpreter; real: real OVS (root).
        #[arg(long, value_enum, default_value_t = br_int::TraceMode::Sim)]
        mode: br_int::TraceMode,
    },
    /// Antrea's Traceflow, as `antctl traceflow` prints it: a synthetic
    /// packet from a Pod through its node's br-int program and the
    /// receiving node's, with each node's observations (SpoofGuard, LB,
    /// NetworkPolicy, Forwarding).
    Traceflow {
        #[arg(short = 's', long)]
        scenario: PathBuf,
        /// The source Pod: NAMESPACE/NAME, or NAME in `default`; with
        /// --live-traffic, or an IPv4 address (then -D is a Pod), or left out.
        #[arg(short = 'S', long)]
        source: Option<String>,
        /// A Pod (NAMESPACE/NAME), a Service (svc/NAMESPACE/NAME) or an IPv4
        /// address; with --live-traffic it may be left out (any destination).
        #[arg(short = 'D', long)]
        destination: Option<String>,
        /// The packet's protocol part in ovs-ofctl syntax: icmp (the
        /// default for an injected packet), tcp,tcp_dst=80, udp,udp_dst=53;
        /// with --live-traffic, what to match (any IP packet when left out).
        #[arg(short = 'f', long)]
        flow: Option<String>,
        /// Sim time whose programs to trace (default: the scenario's end);
        /// with --live-traffic, when to start watching (default: 0 s).
        #[arg(long)]
        at: Option<String>,
        /// Trace live traffic instead of injecting a packet: the first
        /// packet of a new connection that matches, as the run goes on from
        /// --at (antctl traceflow --live-traffic).
        #[arg(short = 'L', long)]
        live_traffic: bool,
        /// With --live-traffic, only a packet that is dropped.
        #[arg(long, requires = "live_traffic")]
        dropped_only: bool,
        /// With --live-traffic, how long to wait (default 20s, as Antrea).
        #[arg(long, requires = "live_traffic")]
        timeout: Option<String>,
        #[arg(long)]
        seed: Option<u64>,
        #[arg(short, long, value_enum, default_value_t = br_int::TraceflowOutput::Yaml)]
        output: br_int::TraceflowOutput,
    },
    /// The flow records the agents' flow exporters (FlowExporter gate) export
    /// during a scenario: a table, JSON lines (IPFIX element names), or IPFIX
    /// over UDP to a collector.
    Flows {
        scenario: PathBuf,
        #[arg(long)]
        seed: Option<u64>,
        /// Sim time to stop at (default: the scenario's end).
        #[arg(long)]
        at: Option<String>,
        #[arg(short, long, value_enum, default_value_t = FlowsOutput::Table)]
        output: FlowsOutput,
        /// Also send the records as IPFIX (RFC 7011) to a collector, as the
        /// agents do: `HOST:PORT` or `udp://HOST:PORT` (UDP), or
        /// `tcp://HOST:PORT`; one session and observation domain per agent.
        #[arg(long)]
        collector: Option<String>,
    },
    /// Check a scenario (its topology, manifests, every step and the limits)
    /// without running it: whatever `check` accepts, `run` accepts too.
    Check {
        scenario: PathBuf,
        /// The seed `run` would use (it names Deployments' Pods).
        #[arg(long)]
        seed: Option<u64>,
        /// The Antrea release to check against (default: the scenario's
        /// `options.antreaVersion`, else v1.15.1).
        #[arg(long = "antrea-version")]
        antrea_version: Option<String>,
    },
    /// Watch and steer a scenario in the terminal (`?` lists the keys).
    Tui {
        scenario: PathBuf,
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Work with topology files.
    Topology {
        #[command(subcommand)]
        command: TopologyCommand,
    },
    /// Generate a large cluster (racks of nodes, Pods, Services, Egresses)
    /// as topology.yaml, manifests.yaml and scenario.yaml in `-o DIR`; the
    /// scenario powers off the node holding the most Egress IPs.
    Gen {
        #[arg(long, default_value_t = 100)]
        nodes: usize,
        #[arg(long, default_value_t = 2000)]
        pods: usize,
        #[arg(long, default_value_t = 200)]
        services: usize,
        #[arg(long = "endpoints-per-service", default_value_t = 10)]
        endpoints_per_service: usize,
        #[arg(long, default_value_t = 20)]
        egresses: usize,
        #[arg(long, default_value_t = 2)]
        pools: usize,
        #[arg(long, default_value_t = DEFAULT_SEED)]
        seed: u64,
        /// Directory to write the three files into (created if missing).
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum TopologyCommand {
    /// Load, validate and summarise a topology file.
    Show { file: PathBuf },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Real mode (root): build and remove a topology's lab `--runs` times.
    RealLab {
        #[arg(default_value = "topologies/blog-lab.yaml")]
        topology: PathBuf,
        #[arg(long, default_value_t = 3)]
        runs: u32,
        /// `switch` (one shared OVS) or `pipeline` (an OVS per node, as
        /// `options.brInt: pipeline` builds it).
        #[arg(long = "br-int", default_value = "switch", value_parser = parse_br_int)]
        br_int: sim_core::engine::dataplane::BrIntMode,
    },
    /// Real mode (root): load the AntreaProxy groups and flows of N ClusterIP
    /// Services into OVS as one bundle, then one `ovs-ofctl` call each.
    OvsServices {
        #[arg(long, default_value_t = 1000)]
        services: usize,
        #[arg(long, default_value_t = 10)]
        endpoints: usize,
    },
    /// TUI frames on a generated lab: each frame plays `--frame-step` of sim
    /// time forward and draws every pane off-screen, as `antlab tui` does while
    /// playing. Prints the start-up cost and per-frame times.
    Tui {
        #[arg(long, default_value_t = 200)]
        nodes: usize,
        #[arg(long, default_value_t = 90)]
        frames: u32,
        #[arg(long = "frame-step", default_value = "33ms")]
        frame_step: String,
        #[arg(long, default_value_t = 120)]
        width: u16,
        #[arg(long, default_value_t = 40)]
        height: u16,
    },
    /// Egress re-placement after one node failure: the engine's placement
    /// of every Egress (consistent-hash rings per pool, capacity) on an
    /// `antlab gen` cluster, with the node holding the most IPs gone.
    Egress {
        #[arg(long, default_value_t = 5000)]
        nodes: usize,
        #[arg(long, default_value_t = 1000)]
        egresses: usize,
        #[arg(long, default_value_t = 10)]
        pools: usize,
        /// Repetitions to average over.
        #[arg(long, default_value_t = 20)]
        runs: u32,
    },
    /// Packets per second through one node's br-int program (the OpenFlow
    /// interpreter, one thread): that many ClusterIP Services x endpoints,
    /// sample packets of every traffic class, each flow sending
    /// `--packets-per-flow` packets; cache off, then cache on.
    Pipeline {
        #[arg(long, default_value_t = 1000)]
        services: usize,
        #[arg(long, default_value_t = 10)]
        endpoints: usize,
        #[arg(long, default_value_t = 1_000_000)]
        packets: usize,
        #[arg(long = "packets-per-flow", default_value_t = 100)]
        packets_per_flow: usize,
        #[arg(long, default_value_t = DEFAULT_SEED)]
        seed: u64,
        /// Only the run without the flow cache.
        #[arg(long = "no-cache")]
        no_cache: bool,
    },
    /// The engine's policy work on a generated cluster: a full compile of
    /// every node's rules, the flows (conjunctive against a cross product),
    /// one new Pod that 100 policies select (incremental), and packets/s
    /// through a node's program with its policy flows.
    Policies {
        #[arg(long, default_value_t = 1000)]
        policies: usize,
        #[arg(long, default_value_t = 10000)]
        pods: usize,
        #[arg(long, default_value_t = 100)]
        nodes: usize,
        #[arg(long, default_value_t = 200_000)]
        packets: usize,
    },
    /// A scenario's run split into its phases: loading (parsing the files,
    /// the limits), admission (every step checked, as `run` does first),
    /// the world at 0 s (topology, dataplanes, agents), the 0 s steps, and
    /// the simulation after them, with its events per wall second. Nothing
    /// is printed but the timings.
    Run {
        scenario: PathBuf,
        #[arg(long)]
        seed: Option<u64>,
        /// Repeat the run and report each (the last line is the best).
        #[arg(long, default_value_t = 3)]
        runs: u32,
    },
    /// The event core on ns-3's bench-scheduler shape: exponential gaps (mean
    /// 100 ns), each executed event schedules one new one.
    Des {
        #[arg(long, default_value_t = 100_000)]
        population: usize,
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long, default_value = "heap")]
        scheduler: String,
        #[arg(long, default_value_t = DEFAULT_SEED)]
        seed: u64,
        /// Repeat the run and report each (the last line is the best).
        #[arg(long, default_value_t = 3)]
        runs: u32,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum WhatIfOutput {
    Table,
    Json,
    Yaml,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum FlowsOutput {
    Table,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum SweepSort {
    Sweep,
    Worst,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum RunMode {
    Sim,
    Real,
    Both,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Output {
    Text,
    Json,
}

/// A user-input problem that has no file position (an unreadable path, an
/// unknown scheduler name): printed as is, exit 2.
#[derive(Debug)]
struct BadInput(String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for BadInput {}

fn bad(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(BadInput(msg.into()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            // `antlab run ... | head`: the reader went away; that is not an error.
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            // InputError and BadInput print as themselves: file:line:column: what.
            if e.downcast_ref::<InputError>().is_some() || e.downcast_ref::<BadInput>().is_some() {
                eprintln!("error: {e}");
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::from(2)
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run {
            scenario,
            seed,
            output,
            verbose,
            pcap,
            mode,
            antrea_version,
            plot,
        } => {
            let version = antrea_version_arg(antrea_version.as_deref())?;
            if plot.is_some() && !matches!(mode, RunMode::Sim) {
                return Err(bad("--plot draws a simulator run; leave out --mode"));
            }
            if version.is_some() && !matches!(mode, RunMode::Sim) {
                return Err(bad(
                    "--antrea-version is for the simulator; for real mode set `options: {antreaVersion: ...}` in the scenario",
                ));
            }
            match mode {
                RunMode::Sim => sim_run::run(
                    &scenario,
                    seed,
                    output,
                    verbose,
                    pcap.as_deref(),
                    version,
                    plot.as_deref(),
                ),
                RunMode::Real => real::run(&scenario, seed, datapath::run::Mode::Real, verbose),
                RunMode::Both => real::run(&scenario, seed, datapath::run::Mode::Both, verbose),
            }
        }
        Command::Sweep {
            scenario,
            files,
            fail,
            seeds,
            seed,
            at,
            sort,
            output,
            shard,
            jobs,
            quiet,
            plot,
            emit_job,
            shards,
            image,
        } => {
            let order = match sort {
                SweepSort::Sweep => sim_core::sweep::report::Order::Sweep,
                SweepSort::Worst => sim_core::sweep::report::Order::Worst,
            };
            let json = output == FlowsOutput::Json;
            if scenario.as_os_str() == "merge" {
                return sweep::merge(&files, order, json, plot.as_deref());
            }
            if !files.is_empty() {
                return Err(bad(format!(
                    "sweep takes one scenario; `antlab sweep merge FILE...` joins shards ({} given after it)",
                    files.len()
                )));
            }
            sweep::sweep(&sweep::SweepArgs {
                scenario: &scenario,
                fail: &fail,
                seeds,
                seed,
                at: at.as_deref(),
                order,
                json,
                shard: shard.as_deref(),
                jobs,
                quiet,
                plot: plot.as_deref(),
                emit_job: emit_job.as_deref().map(|dir| (dir, shards, image.as_str())),
            })
        }
        Command::Real { command } => real::dispatch(command),
        Command::Get {
            what,
            scenario,
            file,
            antrea_version,
            at,
            seed,
        } => {
            let version = antrea_version_arg(antrea_version.as_deref())?;
            if what.first().map(String::as_str) == Some("featuregates") {
                return featuregates(file.as_deref(), version.unwrap_or_default());
            }
            let scenario = scenario.ok_or_else(|| bad("get needs -s SCENARIO"))?;
            get(&what, &scenario, at.as_deref(), seed, version)
        }
        Command::WhatIf {
            files,
            power_off,
            output,
        } => what_if(&files, &power_off, output),
        Command::Rules {
            node,
            table,
            numbers,
            scenario,
            at,
            seed,
            compare,
            services,
            endpoints_per_service,
            nodes,
        } => {
            if compare {
                bench::rules_compare(services, endpoints_per_service, nodes)
            } else {
                let (Some(node), Some(scenario)) = (node, scenario) else {
                    return Err(bad("rules needs NODE and -s SCENARIO (or --compare)"));
                };
                br_int::rules(
                    &node,
                    &scenario,
                    at.as_deref(),
                    seed,
                    table.as_deref(),
                    numbers,
                )
            }
        }
        Command::Trace {
            node,
            flow,
            scenario,
            at,
            seed,
            ct_next,
            mode,
        } => br_int::trace(&node, &flow, &scenario, at.as_deref(), seed, &ct_next, mode),
        Command::Traceflow {
            scenario,
            source,
            destination,
            flow,
            at,
            live_traffic,
            dropped_only,
            timeout,
            seed,
            output,
        } => br_int::traceflow(
            &scenario,
            br_int::TraceflowAsk {
                source: source.as_deref(),
                destination: destination.as_deref(),
                flow: flow.as_deref(),
                live: live_traffic.then_some((dropped_only, timeout.as_deref())),
            },
            at.as_deref(),
            seed,
            output,
        ),
        Command::Flows {
            scenario,
            seed,
            at,
            output,
            collector,
        } => flows(&scenario, seed, at.as_deref(), output, collector.as_deref()),
        Command::Tui { scenario, seed } => {
            tui::run(load_scenario(&scenario)?, seed).map_err(bad)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            scenario,
            seed,
            antrea_version,
        } => {
            let version = antrea_version_arg(antrea_version.as_deref())?;
            sim_run::check(&scenario, seed, version)
        }
        Command::Topology {
            command: TopologyCommand::Show { file },
        } => {
            let text = read_text(&file)?;
            let topo = sim_core::topology::load_topology(&file.display().to_string(), &text)?;
            out!("{}", sim_core::topology::summary(&topo));
            Ok(ExitCode::SUCCESS)
        }
        Command::Gen {
            nodes,
            pods,
            services,
            endpoints_per_service,
            egresses,
            pools,
            seed,
            output,
        } => generate(
            &sim_core::scale::GenParams {
                nodes,
                pods,
                services,
                endpoints_per_service,
                egresses,
                pools,
                seed,
            },
            &output,
        ),
        Command::Bench {
            command:
                BenchCommand::Egress {
                    nodes,
                    egresses,
                    pools,
                    runs,
                },
        } => bench::egress(nodes, egresses, pools, runs),
        Command::Bench {
            command:
                BenchCommand::RealLab {
                    topology,
                    runs,
                    br_int,
                },
        } => real::bench_lab(&topology, runs, br_int),
        Command::Bench {
            command:
                BenchCommand::OvsServices {
                    services,
                    endpoints,
                },
        } => real::bench_ovs(services, endpoints),
        Command::Bench {
            command:
                BenchCommand::Tui {
                    nodes,
                    frames,
                    frame_step,
                    width,
                    height,
                },
        } => bench::tui(nodes, frames, &frame_step, width, height),
        Command::Bench {
            command:
                BenchCommand::Pipeline {
                    services,
                    endpoints,
                    packets,
                    packets_per_flow,
                    seed,
                    no_cache,
                },
        } => bench::pipeline(&bench::PipelineParams {
            services,
            endpoints,
            packets,
            packets_per_flow,
            seed,
            cache: !no_cache,
        }),
        Command::Bench {
            command:
                BenchCommand::Policies {
                    policies,
                    pods,
                    nodes,
                    packets,
                },
        } => bench::policies(policies, pods, nodes, packets),
        Command::Bench {
            command:
                BenchCommand::Run {
                    scenario,
                    seed,
                    runs,
                },
        } => bench::run(&scenario, seed, runs),
        Command::Bench {
            command:
                BenchCommand::Des {
                    population,
                    events,
                    scheduler,
                    seed,
                    runs,
                },
        } => bench::des(population, events, &scheduler, seed, runs),
    }
}

/// `antlab gen`: writes the generated lab's three files into `dir`.
fn generate(p: &sim_core::scale::GenParams, dir: &Path) -> Result<ExitCode> {
    use sim_core::scale::{MANIFESTS_FILE, SCENARIO_FILE, TOPOLOGY_FILE};
    let g = sim_core::scale::generate(p).map_err(bad)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, text) in [
        (TOPOLOGY_FILE, &g.topology),
        (MANIFESTS_FILE, &g.manifests),
        (SCENARIO_FILE, &g.scenario),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    outln!(
        "wrote {} ({} nodes, {} Pods, {} Services x {} endpoints, {} Egresses in {} pools)",
        dir.join(SCENARIO_FILE).display(),
        p.nodes,
        p.pods,
        p.services,
        p.endpoints_per_service,
        p.egresses,
        p.pools
    );
    match &g.victim {
        Some((v, n)) => outln!(
            "{v} holds the most Egress IPs ({n}); it is powered off at {}s and {} Egresses move",
            sim_core::scale::POWER_OFF_AT_SECS,
            g.moves.len()
        ),
        None => outln!("no Egress is placed, so no node is powered off"),
    }
    // Say now, not at `run`, when the simulator cannot hold this lab.
    if let Err(e) = load_scenario(&dir.join(SCENARIO_FILE)) {
        eprintln!("note: antlab check refuses this lab: {e:#}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Every file antlab reads goes through [`files::read_input`].
fn read_text(path: &Path) -> Result<String> {
    files::read_input(path).map_err(bad)
}

/// `--antrea-version`, checked.
fn antrea_version_arg(
    text: Option<&str>,
) -> Result<Option<sim_core::engine::config::AntreaVersion>> {
    text.map(|t| {
        t.parse()
            .map_err(|e: String| bad(format!("--antrea-version: {e}")))
    })
    .transpose()
}

fn load_scenario(path: &Path) -> Result<scenario::Scenario> {
    load_scenario_as(path, None)
}

/// A scenario, modelling `version` instead of its `options.antreaVersion`.
fn load_scenario_as(
    path: &Path,
    version: Option<sim_core::engine::config::AntreaVersion>,
) -> Result<scenario::Scenario> {
    load_scenario_recording(path, version, None)
}

/// A file a scenario read: where, as the scenario named it, and its text.
pub struct ReadFile {
    pub path: PathBuf,
    pub named: String,
    pub text: String,
}

/// [`load_scenario_as`], and every file the scenario read, the scenario
/// first (for `antlab sweep`: its fingerprint and `--emit-job`'s lab).
fn load_scenario_reading(
    path: &Path,
    version: Option<sim_core::engine::config::AntreaVersion>,
) -> Result<(scenario::Scenario, Vec<ReadFile>)> {
    let mut seen = Vec::new();
    let scn = load_scenario_recording(path, version, Some(&mut seen))?;
    Ok((scn, seen))
}

/// Loads the scenario at `path`, its files relative to it; with `record`,
/// keeps a copy of each file read (only a sweep asks: a large lab's
/// manifests are tens of MB).
fn load_scenario_recording(
    path: &Path,
    version: Option<sim_core::engine::config::AntreaVersion>,
    mut record: Option<&mut Vec<ReadFile>>,
) -> Result<scenario::Scenario> {
    let text = read_text(path)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    if let Some(seen) = record.as_deref_mut() {
        seen.push(ReadFile {
            path: path.to_path_buf(),
            named: path.display().to_string(),
            text: text.clone(),
        });
    }
    let mut read = |rel: &str| -> Result<(String, String), String> {
        let p = dir.join(rel);
        let text = files::read_input(&p)?;
        if let Some(seen) = record.as_deref_mut() {
            seen.push(ReadFile {
                path: p.clone(),
                named: rel.to_string(),
                text: text.clone(),
            });
        }
        Ok((p.display().to_string(), text))
    };
    Ok(scenario::load_for_version(
        &path.display().to_string(),
        &text,
        &mut read,
        version,
    )?)
}

fn what_if(files: &[PathBuf], power_off: &[String], output: WhatIfOutput) -> Result<ExitCode> {
    let mut objects = Vec::new();
    for f in files {
        let text = read_text(f)?;
        objects.extend(sim_core::k8s::parse_manifests(
            &f.display().to_string(),
            &text,
        )?);
    }
    let result = sim_core::engine::whatif::what_if(&objects, power_off).map_err(bad)?;
    match output {
        WhatIfOutput::Json => outln!("{}", serde_json::to_string_pretty(&result)?),
        WhatIfOutput::Yaml => out!(
            "{}",
            serde_saphyr::to_string(&result).map_err(|e| anyhow::anyhow!("{e}"))?
        ),
        WhatIfOutput::Table => {
            let rows: Vec<Vec<String>> = result
                .egresses
                .iter()
                .map(|m| {
                    let node = |n: &Option<String>| n.clone().unwrap_or_else(|| "<none>".into());
                    vec![
                        m.name.clone(),
                        m.egress_ip.map_or("<none>".into(), |i| i.to_string()),
                        node(&m.before),
                        node(&m.after),
                        if m.before != m.after {
                            "moves".into()
                        } else {
                            String::new()
                        },
                    ]
                })
                .collect();
            out!(
                "{}",
                sim_core::report::table(&["EGRESS", "EGRESSIP", "NOW", "AFTER", ""], &rows)
            );
            let moving = result
                .egresses
                .iter()
                .filter(|m| m.before != m.after)
                .count();
            let failed = match power_off.len() {
                0 => "no Node fails".to_string(),
                1 => format!("{} fails", power_off[0]),
                _ => format!("{} fail", power_off.join(", ")),
            };
            for note in &result.notes {
                eprintln!("note: {note}");
            }
            if !objects
                .iter()
                .any(|o| matches!(o, sim_core::k8s::Object::Node(_)))
            {
                eprintln!(
                    "note: the input has no Node objects, so no Egress can be placed; add `kubectl get nodes -o yaml`"
                );
            }
            outln!(
                "{moving} of {} Egresses move when {failed}",
                result.egresses.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn flows(
    path: &Path,
    seed: Option<u64>,
    at: Option<&str>,
    output: FlowsOutput,
    collector: Option<&str>,
) -> Result<ExitCode> {
    // Resolve the collector first: a bad address is reported before the run.
    let target = match collector {
        Some(a) => Some(collector::parse(a).map_err(bad)?),
        None => None,
    };
    let scn = load_scenario(path)?;
    let (seed, outcome) = sim_run::run_at(&scn, at, seed, true)?;
    let records = &outcome.flows;
    if outcome.flows_exported > records.len() as u64 {
        eprintln!(
            "note: the flow exporters exported {} records; the first {} are kept (the limit) and listed",
            outcome.flows_exported,
            records.len()
        );
    }
    match output {
        FlowsOutput::Table => {
            outln!(
                "# Flow records of {} (seed {seed}, start {}, {} record(s))",
                path.display(),
                scenario::start_time::format(scn.start_unix),
                records.len()
            );
            out!("{}", sim_core::report::flows(records));
        }
        FlowsOutput::Json => {
            for r in records {
                outln!("{}", serde_json::to_string(r)?);
            }
        }
    }
    if let Some(c) = target {
        let messages = collector::send(&c, &outcome, scn.start_unix)?;
        eprintln!(
            "sent {messages} IPFIX message(s) with {} record(s) from {} agent session(s) to {}",
            records.len(),
            outcome.flow_sessions.len(),
            c.text
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `antctl get featuregates` from an `antrea-config` manifest (without
/// `-f`: the release's defaults, as with a pristine `antrea-config`).
fn featuregates(
    file: Option<&Path>,
    version: sim_core::engine::config::AntreaVersion,
) -> Result<ExitCode> {
    use sim_core::engine::config;
    let text = match file {
        Some(f) => {
            let name = f.display().to_string();
            let text = read_text(f)?;
            let objects = sim_core::k8s::parse_manifests(&name, &text)?;
            config::featuregates_from_manifests(&name, &objects, version)?
        }
        None => config::featuregates::text(version, &Default::default()),
    };
    out!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn get(
    what: &[String],
    path: &Path,
    at: Option<&str>,
    seed: Option<u64>,
    version: Option<sim_core::engine::config::AntreaVersion>,
) -> Result<ExitCode> {
    let scn = load_scenario_as(path, version)?;
    let view = scenario::parse_show(&what.join(" ")).map_err(bad)?;
    let (seed, outcome) = sim_run::run_at(&scn, at, seed, false)?;
    let text = outcome.show(&scn, &view).map_err(bad)?;
    outln!(
        "# {} at {} (seed {seed})",
        path.display(),
        outcome.world.now()
    );
    out!("{text}");
    if !text.ends_with('\n') {
        outln!();
    }
    Ok(ExitCode::SUCCESS)
}

/// `--br-int switch|pipeline`.
fn parse_br_int(text: &str) -> Result<sim_core::engine::dataplane::BrIntMode, String> {
    sim_core::engine::dataplane::BrIntMode::parse(text)
        .ok_or_else(|| format!("`{text}`: expected switch or pipeline"))
}
