//! `antlab real ...` and `antlab run --mode real|both`: the CLI side of real
//! mode (the work is in the `datapath` crate).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use datapath::run::{Mode, RealError};
use datapath::{cleanup, state::RunState};

#[derive(Subcommand)]
pub enum RealCommand {
    /// Build a topology (or a scenario's topology, with its dataplane at
    /// time 0) out of namespaces, veths and OVS, and leave it up.
    Up {
        file: std::path::PathBuf,
        /// Print every command run.
        #[arg(short, long)]
        verbose: bool,
    },
    /// List real-mode runs and what of them exists.
    Status,
    /// Turn a kind cluster into a real-mode target (node → container PID and
    /// netns) and an antlab lab (topology, scenario, manifests) in DIR.
    ImportKind {
        /// `docker inspect $(kind get nodes --name CLUSTER)` output.
        #[arg(long)]
        docker_inspect: std::path::PathBuf,
        /// `kubectl get nodes -o yaml` output.
        #[arg(long)]
        nodes: std::path::PathBuf,
        /// More `kubectl get ... -o yaml` output (pods -A, egresses,
        /// externalippools, namespaces, the antrea-config and kube-proxy
        /// ConfigMaps); repeatable.
        #[arg(long)]
        kubectl: Vec<std::path::PathBuf>,
        /// The folder to write the lab into.
        #[arg(short, long)]
        output: std::path::PathBuf,
    },
    /// Check each node's br-int program against real OVS: sample packets of
    /// every traffic class go through the simulator's OpenFlow interpreter
    /// and through `ovs-appctl ofproto/trace` on the same program loaded
    /// into a private OVS; their verdicts (output port or tunnel
    /// destination, drop, controller, header rewrites, conntrack actions)
    /// must agree. Exit 1 on any difference.
    DiffPipeline {
        scenario: std::path::PathBuf,
        /// Sample packets per scenario, spread over its nodes.
        #[arg(long, default_value_t = 1000)]
        packets: usize,
        /// The programs at this sim time (default: the scenario's end).
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        seed: Option<u64>,
        /// Print every packet on which the sides differ with both walks.
        #[arg(short, long)]
        verbose: bool,
    },
    /// Remove labs: without arguments every run whose owner has exited
    /// (`real up` labs, crashed runs); `--all` also anything named like ours
    /// that no running antlab owns. A run whose owner still runs is never
    /// removed (stop it with Ctrl-C or `kill PID`).
    Down {
        /// One run by id (as `status` prints it).
        id: Option<String>,
        #[arg(long)]
        all: bool,
    },
}

fn prereq_error(missing: Vec<String>) -> anyhow::Error {
    super::bad(format!(
        "real mode cannot run here: needs {}",
        missing.join(", ")
    ))
}

pub fn dispatch(cmd: RealCommand) -> Result<ExitCode> {
    match cmd {
        RealCommand::Up { file, verbose } => up(&file, verbose),
        RealCommand::Status => status(),
        RealCommand::ImportKind {
            docker_inspect,
            nodes,
            kubectl,
            output,
        } => import_kind(&docker_inspect, &nodes, &kubectl, &output),
        RealCommand::Down { id, all } => down(id.as_deref(), all),
        RealCommand::DiffPipeline {
            scenario,
            packets,
            at,
            seed,
            verbose,
        } => diff_pipeline(&scenario, packets, at.as_deref(), seed, verbose),
    }
}

fn up(file: &Path, verbose: bool) -> Result<ExitCode> {
    datapath::sys::set_verbose(verbose);
    let missing = datapath::sys::missing_prerequisites();
    if !missing.is_empty() {
        return Err(prereq_error(missing));
    }
    let text = super::read_text(file)?;
    // A scenario has `topology:`; a topology has `nodes:`.
    let (topology, cluster, br_int) = if text.lines().any(|l| l.starts_with("topology:")) {
        let scn = super::load_scenario(file)?;
        let runner =
            sim_core::scenario::run::Runner::start(scn.clone(), scn.seed.unwrap_or(1), false)?;
        (
            scn.topology.clone(),
            runner.outcome().cluster.clone(),
            scn.br_int,
        )
    } else {
        let t = sim_core::topology::load_topology(&file.display().to_string(), &text)?;
        let c = sim_core::engine::ClusterState::from_topology(&t);
        (t, c, Default::default())
    };
    let t0 = datapath::clock::now();
    let mut lab = datapath::lab::Lab::up_with(&topology, &file.display().to_string(), br_int)?;
    let result = (|| -> Result<()> {
        datapath::observe::install(&lab)?;
        let mut applied = datapath::apply::Applied::default();
        let mut backend = datapath::apply::LinuxBackend {
            lab: &mut lab,
            applied: &mut applied,
            cluster: &cluster,
            log: Vec::new(),
        };
        for (node, dp) in sim_core::engine::compile(&cluster) {
            datapath::NodeBackend::apply(&mut backend, &node, &dp)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        lab.down();
        return Err(e);
    }
    lab.keep = true;
    outln!(
        "lab {} is up ({:.2} s): {} namespaces, {} OVS bridges",
        lab.state.id,
        t0.elapsed().as_secs_f64(),
        lab.netns.len(),
        lab.bridges.len() + lab.int_bridges.len()
    );
    let q = datapath::script::shell_quote;
    for (dev, ns) in &lab.netns {
        outln!("  {dev:<24} ip netns exec {} bash", q(ns));
    }
    outln!("remove it with: antlab real down {}", q(&lab.state.id));
    Ok(ExitCode::SUCCESS)
}

fn status() -> Result<ExitCode> {
    let runs = RunState::all();
    if runs.is_empty() {
        outln!("no real-mode runs");
    }
    for st in &runs {
        let owner = if st.owner_alive() {
            "running"
        } else {
            "owner gone"
        };
        let there = cleanup::leftovers(Some(&st.prefix()));
        outln!(
            "{}  {}  pid {} ({owner})  {} objects exist",
            st.id,
            st.source,
            st.owner_pid,
            there.len()
        );
    }
    let stray: Vec<String> = cleanup::leftovers(None)
        .into_iter()
        .filter(|l| {
            !runs
                .iter()
                .any(|r| l.contains(&r.prefix()) || l.contains(&format!("/{}/", r.id)))
        })
        .collect();
    if !stray.is_empty() {
        outln!(
            "not in any state file ({}): remove with `antlab real down --all`",
            stray.len()
        );
        for s in stray {
            outln!("  {s}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn down(id: Option<&str>, all: bool) -> Result<ExitCode> {
    if !datapath::sys::is_root() {
        return Err(prereq_error(vec!["root".into()]));
    }
    let c = if all {
        cleanup::down_all(true)
    } else if let Some(id) = id {
        let st = RunState::all()
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| super::bad(format!("no run {id} (see `antlab real status`)")))?;
        if st.owner_alive() {
            return Err(super::bad(format!(
                "run {id} is in use by antlab pid {}: stop that process (Ctrl-C, or kill {}) and it removes its lab",
                st.owner_pid, st.owner_pid
            )));
        }
        cleanup::down(&st)
    } else {
        cleanup::down_all(false)
    };
    for r in &c.removed {
        outln!("removed {r}");
    }
    for e in &c.errors {
        eprintln!("could not remove: {e}");
    }
    outln!("{} removed, {} errors", c.removed.len(), c.errors.len());
    Ok(if c.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `antlab run --mode real|both`.
pub fn run(path: &Path, seed: Option<u64>, mode: Mode, verbose: bool) -> Result<ExitCode> {
    datapath::sys::set_verbose(verbose);
    let scn = super::load_scenario(path)?;
    let seed = seed.or(scn.seed).unwrap_or(sim_core::rng::DEFAULT_SEED);
    let refused = datapath::preflight::refusals(&scn);
    if !refused.is_empty() {
        return Err(super::bad(RealError::Refused(refused).to_string()));
    }
    datapath::signals::install();
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "antlab: scenario {} in {} mode (seed {seed})",
        path.display(),
        if mode == Mode::Both { "both" } else { "real" }
    );
    let report = match datapath::run::run(&scn, &path.display().to_string(), seed, mode, &mut out) {
        Ok(r) => r,
        Err(RealError::Prerequisites(m)) => return Err(prereq_error(m)),
        Err(e @ RealError::Refused(_)) => return Err(super::bad(e.to_string())),
        Err(RealError::Interrupted(stop)) => {
            eprintln!("antlab: {}", RealError::Interrupted(stop));
            return Ok(ExitCode::from(stop.exit_code()));
        }
        Err(e) => return Err(e.into()),
    };
    outln!();
    outln!(
        "lab bring-up {:.2} s, tear-down {:.2} s",
        report.bring_up.as_secs_f64(),
        report.tear_down.as_secs_f64()
    );
    for (probe, sim, real) in &report.outages {
        outln!(
            "probe {probe}: longest outage simulator {}, real {:.1} s",
            sim,
            real.as_secs_f64()
        );
    }
    let failed_real = report.checks.iter().filter(|c| !c.real_passed).count();
    let mismatches: usize = report.checks.iter().map(|c| c.mismatches().len()).sum();
    outln!(
        "real: {} of {} expectations held",
        report.checks.len() - failed_real,
        report.checks.len()
    );
    if mode == Mode::Both {
        let sim_failed = report
            .checks
            .iter()
            .filter(|c| c.sim_passed != Some(true))
            .count();
        outln!(
            "simulator: {} of {} held; {} observed fields compared, {mismatches} differ",
            report.checks.len() - sim_failed,
            report.checks.len(),
            report.checks.iter().map(|c| c.fields.len()).sum::<usize>()
        );
        for c in &report.checks {
            for m in c.mismatches() {
                outln!("  MISMATCH at {} (line {}): {m}", c.at, c.line);
            }
        }
    }
    for (name, diff) in &report.traceflows {
        if diff.is_empty() {
            outln!("Traceflow {name}: real OVS's observations are the simulator's");
        }
        for d in diff {
            outln!("  MISMATCH Traceflow {name}: {d}");
        }
    }
    for n in &report.not_compared {
        println!("not compared: {n}");
    }
    if !report.leftovers.is_empty() {
        outln!("LEFT BEHIND: {}", report.leftovers.join(", "));
    }
    Ok(if report.passed(mode) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn import_kind(
    docker: &Path,
    nodes: &Path,
    kubectl: &[std::path::PathBuf],
    out: &Path,
) -> Result<ExitCode> {
    let read = |p: &Path| -> Result<(String, String)> {
        let text = super::read_text(p)?;
        Ok((p.display().to_string(), text))
    };
    let docker = read(docker)?;
    let nodes = read(nodes)?;
    let others = kubectl
        .iter()
        .map(|p| read(p))
        .collect::<Result<Vec<_>>>()?;
    let others: Vec<(&str, &str)> = others
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    let imp = datapath::kind::import((&docker.0, &docker.1), (&nodes.0, &nodes.1), &others)
        .map_err(|e| match e {
            // Keep InputError's type so main prints `file:line:column: ...` and exits 2.
            datapath::kind::KindError::Input(ie) => anyhow::Error::new(ie),
            other => super::bad(other.to_string()),
        })?;
    for p in imp.write_to(out).map_err(|e| super::bad(e.to_string()))? {
        outln!("wrote {}", p.display());
    }
    for s in &imp.skipped {
        outln!("skipped {s}");
    }
    outln!(
        "kind cluster {}: {} nodes on {} (bridge {}); next: antlab run {}",
        imp.target.cluster,
        imp.target.nodes.len(),
        imp.target.subnet,
        imp.bridge,
        out.join("scenario.yaml").display()
    );
    Ok(ExitCode::SUCCESS)
}

fn need_real_mode() -> Result<()> {
    let missing = datapath::sys::missing_prerequisites();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(prereq_error(missing))
    }
}

/// `antlab bench real-lab`.
pub fn bench_lab(
    file: &Path,
    runs: u32,
    br_int: sim_core::engine::dataplane::BrIntMode,
) -> Result<ExitCode> {
    need_real_mode()?;
    let text = super::read_text(file)?;
    let topo = sim_core::topology::load_topology(&file.display().to_string(), &text)?;
    outln!(
        "bench real-lab: {} ({} devices, br-int {}), {runs} runs",
        file.display(),
        topo.devices.len(),
        match br_int {
            sim_core::engine::dataplane::BrIntMode::Switch => "switch",
            sim_core::engine::dataplane::BrIntMode::Pipeline => "pipeline",
        }
    );
    let mut ups = Vec::new();
    for i in 1..=runs {
        let c = datapath::bench::lab_cycle(&topo, &file.display().to_string(), br_int)?;
        outln!(
            "run {i}: up {:.3} s ({} namespaces), down {:.3} s, left behind: {}",
            c.up.as_secs_f64(),
            c.namespaces,
            c.down.as_secs_f64(),
            if c.leftovers.is_empty() {
                "nothing".to_string()
            } else {
                c.leftovers.join(", ")
            }
        );
        if !c.leftovers.is_empty() {
            return Ok(ExitCode::from(1));
        }
        ups.push((c.up, c.down));
    }
    ups.sort();
    if let Some((up, down)) = ups.get(ups.len() / 2) {
        outln!(
            "median run: up {:.3} s, down {:.3} s",
            up.as_secs_f64(),
            down.as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `antlab bench ovs-services`.
pub fn bench_ovs(services: usize, endpoints: usize) -> Result<ExitCode> {
    need_real_mode()?;
    let r = datapath::bench::ovs_services(services, endpoints)?;
    outln!(
        "bench ovs-services: {} Services x {endpoints} endpoints -> {} flows + {} groups (AntreaProxy ClusterIP, one node)",
        r.services,
        r.flows,
        r.groups
    );
    outln!(
        "one bundle:          {:>9.3} s   installed {} flows, {} groups",
        r.bundle.as_secs_f64(),
        r.installed_bundle.0,
        r.installed_bundle.1
    );
    outln!(
        "one call per item:   {:>9.3} s   installed {} flows, {} groups ({} ovs-ofctl calls)",
        r.per_call.as_secs_f64(),
        r.installed_per_call.0,
        r.installed_per_call.1,
        r.calls
    );
    outln!(
        "bundle is {:.0}x faster",
        r.per_call.as_secs_f64() / r.bundle.as_secs_f64().max(1e-9)
    );
    let ok =
        r.installed_bundle == (r.flows, r.groups) && r.installed_per_call == (r.flows, r.groups);
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `antlab real diff-pipeline`: see [`RealCommand::DiffPipeline`].
fn diff_pipeline(
    path: &Path,
    packets: usize,
    at: Option<&str>,
    seed: Option<u64>,
    verbose: bool,
) -> Result<ExitCode> {
    use sim_core::engine::pipeline::packets::{classes_for, sample_packets};
    use sim_core::engine::pipeline::{compile, lab_spec};
    let missing = datapath::sys::missing_prerequisites();
    if !missing.is_empty() {
        return Err(super::bad(format!(
            "real OVS is needed and this machine lacks: {}",
            missing.join(", ")
        )));
    }
    let scn = super::load_scenario(path)?;
    let (seed, outcome) = super::sim_run::run_at(&scn, at, seed, false)?;
    let cluster = &outcome.cluster;
    let names: Vec<String> = cluster.nodes().map(|n| n.name.clone()).collect();
    if names.is_empty() {
        return Err(super::bad(format!(
            "{} has no Kubernetes nodes",
            path.display()
        )));
    }
    let mut programs = Vec::new();
    let mut most_pods = 0;
    let mut extra: Vec<(u32, String)> = Vec::new();
    let dps = sim_core::engine::compile(cluster);
    for name in &names {
        let id = cluster.node_id(name).expect("listed above");
        let spec = lab_spec(cluster, id, &dps[name]);
        let pipeline = compile(&spec);
        most_pods = most_pods.max(spec.pods().len());
        for p in spec.traffic_control_ports() {
            if !extra.iter().any(|(o, _)| *o == p.ofport) {
                extra.push((p.ofport, p.name.clone()));
            }
        }
        programs.push((name, pipeline, spec));
    }
    // The packets are shared among the nodes that have any traffic class (a
    // node without Pods in noEncap mode has none), so the scenario gets them all.
    let busy = programs
        .iter()
        .filter(|(_, _, spec)| !classes_for(spec).is_empty())
        .count();
    let per_node = packets.div_ceil(busy.max(1)).max(1);
    let programs: Vec<_> = programs
        .into_iter()
        .map(|(name, pipeline, spec)| {
            let samples = sample_packets(&spec, per_node, sim_core::rng::stream_seed(seed, name));
            (name, pipeline, samples)
        })
        .collect();
    let mut bridge = datapath::oftrace::TraceBridge::start_with(most_pods as u32, &extra)?;
    let mut total = (0usize, 0usize);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "# br-int programs of {} at {} (seed {seed}): simulator interpreter vs ovs-appctl ofproto/trace",
        path.display(),
        outcome.world.now()
    )?;
    let w = names.iter().map(String::len).max().unwrap_or(4).max(4);
    writeln!(
        out,
        "{:<w$} {:>6} {:>6} {:<20} {:>7} {:>7} {:>6}",
        "NODE", "FLOWS", "GROUPS", "CLASS", "PACKETS", "AGREED", "DROPS"
    )?;
    for (name, pipeline, samples) in &programs {
        let d = datapath::oftrace::diff_node(&mut bridge, name, pipeline, samples)?;
        for (class, (n, agreed)) in &d.by_class {
            writeln!(
                out,
                "{:<w$} {:>6} {:>6} {:<20} {:>7} {:>7} {:>6}",
                name,
                d.flows,
                d.groups,
                class.name(),
                n,
                agreed,
                d.drops.get(class).copied().unwrap_or(0)
            )?;
        }
        total.0 += d.packets();
        total.1 += d.agreed();
        for m in d
            .mismatches
            .iter()
            .take(if verbose { usize::MAX } else { 3 })
        {
            writeln!(
                out,
                "MISMATCH {name} {}: {} --ct-next {:?}",
                m.class.name(),
                m.flow,
                m.ct_next
            )?;
            writeln!(out, "  simulator: {:?}", m.sim)?;
            writeln!(out, "  real OVS:  {:?}", m.real)?;
            if verbose {
                for l in m.sim_trace.lines() {
                    writeln!(out, "    {l}")?;
                }
            }
        }
    }
    drop(bridge);
    writeln!(out, "{} of {} packets agree", total.1, total.0)?;
    Ok(if total.0 == total.1 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
