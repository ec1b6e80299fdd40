//! Playing a scenario for real (`antlab run --mode real|both`).
//!
//! The simulator runs alongside as the engine's host: applying manifests,
//! labels and pools is deterministic bookkeeping (`ClusterState`), so real
//! mode takes the cluster state from a simulator [`Runner`] advanced to the
//! same scenario time, **replaces its membership views with the views of the
//! real agents**, and applies `engine::compile` of that to the lab. Placement
//! therefore follows real failure detection, with the engine's code.
//!
//! At every `expect` step the one expectation judge
//! (`sim_core::scenario::judge`) decides each expectation over what real
//! mode observes in the kernel ([`RealObserver`]), and over the simulator
//! at the same scenario time; `both` mode also compares, field by field, the
//! normalised observations the two judgements looked at (egress node and
//! IP, the source and gateway VLAN a destination saw, which endpoints
//! answered, the gateway's ARP entry, whether the last probe attempt
//! worked). Timing differs between the modes, so durations are reported,
//! not compared.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sim_core::engine::memberlist::MemberEvent;
use sim_core::model::DeviceKind;
use sim_core::scenario::run::Runner;
use sim_core::scenario::{Action, Endpoint, Scenario};
use sim_core::sim::probe::{Attempt, ProbeKind, Verdict, longest_outage};
use sim_core::time::{SimDuration, SimTime};

use crate::NodeBackend;
use crate::agent::{self, AgentEvent, AgentHandle, AgentSpec};
use crate::apply::{Applied, LinuxBackend};
use crate::lab::{Lab, LabError, PodPlug};
use crate::observe;
use crate::observer::RealObserver;
use crate::traffic::{self, ProbeHandle, RealProbeKind, from_epoch, timeout_of};

pub use crate::compare::Mode;

#[derive(Debug, thiserror::Error)]
pub enum RealError {
    #[error("real mode cannot run here: needs {}", .0.join(", "))]
    Prerequisites(Vec<String>),
    #[error("real mode refuses this scenario (nothing was built):\n{}", .0.iter().map(|r| format!("  {r}")).collect::<Vec<_>>().join("\n"))]
    Refused(Vec<crate::preflight::Refusal>),
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error("{0}")]
    Scenario(String),
    #[error("interrupted by {}; the lab was removed", .0.name())]
    Interrupted(crate::signals::Stop),
}

pub use crate::compare::Checked;

#[derive(Debug, Default)]
pub struct RealReport {
    pub checks: Vec<Checked>,
    /// (probe, simulator's longest outage, real longest outage).
    pub outages: Vec<(String, SimDuration, Duration)>,
    pub bring_up: Duration,
    pub tear_down: Duration,
    pub leftovers: Vec<String>,
    /// What the simulator produced that real mode does not compare, and why.
    pub not_compared: Vec<String>,
    /// Traceflows asked of real OVS: (name, each difference from the
    /// simulator's result). A Traceflow real OVS could not walk is in
    /// `not_compared` instead.
    pub traceflows: Vec<(String, Vec<String>)>,
}

impl RealReport {
    pub fn passed(&self, mode: Mode) -> bool {
        self.checks.iter().all(|c| {
            c.real_passed
                && (mode == Mode::Real || (c.sim_passed == Some(true) && c.mismatches().is_empty()))
        }) && self.leftovers.is_empty()
            && (mode == Mode::Real || self.traceflows.iter().all(|(_, d)| d.is_empty()))
    }
}

struct Live {
    lab: Lab,
    applied: Applied,
    agents: BTreeMap<String, AgentHandle>,
    boots: BTreeMap<String, u32>,
    /// Views reported by real agents; absent = not reported yet.
    views: BTreeMap<String, BTreeSet<String>>,
    probes: BTreeMap<String, ProbeHandle>,
    servers: BTreeSet<String>,
    tx: mpsc::Sender<AgentEvent>,
    rx: mpsc::Receiver<AgentEvent>,
    /// BFD sessions of switches with `bfd`, per (switch, next hop).
    bfd: BTreeMap<(String, Ipv4Addr), crate::bfd::BfdSession>,
    bfd_tx: mpsc::Sender<crate::bfd::BfdEvent>,
    bfd_rx: mpsc::Receiver<crate::bfd::BfdEvent>,
    epoch: Instant,
    /// How far the scenario's clock is behind the wall clock: when a step
    /// runs late (a busy machine, a slow apply), the steps after it move
    /// by as much, so steps keep their spacing (a check 5 s after a power
    /// cut stays 5 s after it).
    behind: Duration,
    /// Time spent waiting for probe verdicts at `expect` steps since the
    /// last step: the world goes on meanwhile, so it does not count as
    /// running late.
    waited: Duration,
    seed: u64,
    /// Every node's name and IP: whom an agent joins when it starts.
    peers: Vec<(std::sync::Arc<str>, Ipv4Addr)>,
    /// Tunnel neighbour ageing on nodes with their own OVS (`neigh`).
    keepers: Vec<crate::neigh::Keeper>,
    /// BGP speakers (`bgp`): FRR on routers, gobgpd on nodes.
    bgp: crate::bgp::Speakers,
}

impl Live {
    fn start_agent(&mut self, node: &str, ip: Ipv4Addr) -> Result<(), RealError> {
        let boot = self.boots.entry(node.to_string()).or_insert(0);
        *boot += 1;
        let spec = AgentSpec {
            netns: self.lab.netns[node].clone(),
            node: node.to_string(),
            ip,
            peers: self.peers.clone(),
            seed: self.seed,
            boot: *boot,
        };
        let h = agent::start(spec, self.epoch, self.tx.clone())
            .map_err(|e| RealError::Scenario(format!("agent {node}: {e}")))?;
        self.agents.insert(node.to_string(), h);
        Ok(())
    }

    /// Starts a BFD session for every next hop of the static routes of each
    /// switch that runs BFD (`bfd: true` or `options.bfd`), once each.
    fn ensure_bfd(&mut self, scn: &Scenario) -> Result<(), RealError> {
        for d in &scn.topology.devices {
            let DeviceKind::Switch(s) = &d.kind else {
                continue;
            };
            let Some(ns) = self.lab.netns.get(&d.name).cloned() else {
                continue;
            };
            if !s.bfd {
                continue;
            }
            for peer in self.lab.static_next_hops(&d.name) {
                let key = (d.name.clone(), peer);
                if self.bfd.contains_key(&key) {
                    continue;
                }
                let id = crate::bfd::FIRST_ICMP_ID + self.bfd.len() as u16;
                let session =
                    crate::bfd::start(&ns, &d.name, peer, id, self.epoch, self.bfd_tx.clone())
                        .map_err(|e| RealError::Scenario(format!("BFD on {}: {e}", d.name)))?;
                self.bfd.insert(key, session);
            }
        }
        Ok(())
    }

    /// Applies BFD verdicts to the routes.
    fn drain_bfd(&mut self, log: &mut dyn Write) -> Result<(), RealError> {
        while let Ok(ev) = self.bfd_rx.try_recv() {
            let cmds = self.lab.set_next_hop_up(&ev.device, ev.peer, ev.up)?;
            let _ = writeln!(
                log,
                "[{:>9.3}s real] {}: BFD session to {} {}{}",
                ev.at.as_secs_f64(),
                ev.device,
                ev.peer,
                if ev.up { "up" } else { "down" },
                cmds.iter().map(|c| format!("; ip {c}")).collect::<String>()
            );
        }
        Ok(())
    }

    /// Drains agent events; returns the nodes whose view changed.
    fn drain(&mut self, log: &mut dyn Write) -> BTreeSet<String> {
        let mut changed = BTreeSet::new();
        while let Ok(ev) = self.rx.try_recv() {
            if !self.agents.contains_key(&ev.node) {
                continue; // a late event from a killed agent
            }
            let view = self.views.entry(ev.node.clone()).or_default();
            let (who, joined) = match &ev.event {
                MemberEvent::Join(n) => (n.clone(), true),
                MemberEvent::Leave(n) => (n.clone(), false),
                // Real mode acts on every view change at once.
                MemberEvent::JoinReturned => continue,
            };
            let did = if joined {
                view.insert(who.clone())
            } else {
                view.remove(&who)
            };
            if did {
                if who != ev.node {
                    let _ = writeln!(
                        log,
                        "[{:>9.3}s real] {}: memberlist: {who} {}",
                        ev.at.as_secs_f64(),
                        ev.node,
                        if joined {
                            "joined"
                        } else {
                            "left (dead or gone)"
                        }
                    );
                }
                changed.insert(ev.node.clone());
            }
        }
        changed
    }

    /// Applies the engine's output for `only` (or all powered nodes).
    fn sync(
        &mut self,
        runner: &Runner,
        only: Option<&BTreeSet<String>>,
        log: &mut dyn Write,
    ) -> Result<(), RealError> {
        let mut cluster = runner.outcome().cluster.clone();
        for (node, v) in &self.views {
            if let Some(id) = cluster.node_id(node) {
                let view = cluster.node_set(v.iter().map(String::as_str));
                cluster.set_view(id, view);
            }
        }
        // Pods the engine knows about get namespaces and servers.
        let mtu = cluster.pod_mtu();
        for p in cluster.pods() {
            let key = format!("{}/{}", p.namespace, p.name);
            let node = cluster.node(p.node);
            let ofport = sim_core::engine::pipeline::inspect::pod_ofport(&cluster, p);
            let plug = PodPlug {
                ip: p.ip,
                prefix_len: node.pod_cidr.prefix_len(),
                mac: sim_core::engine::pipeline::pod_mac(&p.namespace, &p.name),
                ofport,
                mtu: u16::try_from(mtu).unwrap_or(u16::MAX),
            };
            if self.lab.add_pod(&key, &node.name, plug)? {
                observe::install_in_pod(&self.lab.pods[&key].netns)?;
            }
            self.lab.renumber_pod(&key, ofport)?;
            for port in &p.tcp_listen {
                let id = format!("{key}:{port}");
                if self.servers.insert(id) {
                    traffic::start_server(&self.lab.pods[&key].netns, &key, *port, 200)
                        .map_err(|e| RealError::Scenario(format!("HTTP server in {key}: {e}")))?;
                }
            }
        }
        let planes = sim_core::engine::compile_nodes(&cluster, |n| {
            only.is_none_or(|o| o.contains(&n.name)) && !self.lab.powered_off.contains(&n.name)
        });
        let mut backend = LinuxBackend {
            lab: &mut self.lab,
            applied: &mut self.applied,
            cluster: &cluster,
            log: Vec::new(),
        };
        for (node, dp) in &planes {
            backend.apply(node, dp)?;
        }
        let ext = crate::apply::sync_external_nodes(
            backend.lab,
            &cluster,
            backend.applied.external_specs(),
        )?;
        backend.log.extend(ext);
        let mut lines = backend.log;
        // Each node's BGP speaker, where its agent runs (after the Egress
        // status the agents wrote: it says who advertises an Egress IP).
        if sim_core::engine::bgp_policy::in_use(&cluster) || self.bgp.runs_nodes() {
            for n in cluster.nodes() {
                let running =
                    self.agents.contains_key(&n.name) && !self.lab.powered_off.contains(&n.name);
                let config = sim_core::engine::bgp_policy::speaker_config(&cluster, n.id, running);
                let more = self
                    .bgp
                    .configure(&mut self.lab, &n.name, n.ip, config.as_ref())
                    .map_err(|e| RealError::Scenario(format!("BGP on {}: {e}", n.name)))?;
                lines.extend(more);
            }
        }
        for l in lines {
            let _ = writeln!(
                log,
                "[{:>9.3}s real] {l}",
                self.epoch.elapsed().as_secs_f64()
            );
        }
        Ok(())
    }
}

fn host_ip(scn: &Scenario, dev: &str) -> Option<Ipv4Addr> {
    let id = scn.topology.device_id(dev)?;
    let h = scn.topology.host(id)?;
    h.interfaces
        .iter()
        .flat_map(|i| &i.addrs)
        .next()
        .map(|a| a.addr())
}

fn resolve(
    scn: &Scenario,
    runner: &Runner,
    e: &Endpoint,
) -> Result<(Option<String>, Ipv4Addr), String> {
    match e {
        Endpoint::Ip(ip) => Ok((None, *ip)),
        Endpoint::Pod { namespace, name } => runner
            .outcome()
            .cluster
            .pod_by_name(namespace, name)
            .map(|p| (Some(format!("{namespace}/{name}")), p.ip))
            .ok_or_else(|| format!("Pod {namespace}/{name} does not exist")),
        Endpoint::Device(d) => host_ip(scn, d)
            .map(|ip| (Some(d.clone()), ip))
            .ok_or_else(|| format!("{d} has no address")),
    }
}

/// Plays `scn` for real. `log` gets the run log; the caller prints the report.
pub fn run(
    scn: &Scenario,
    source: &str,
    seed: u64,
    mode: Mode,
    log: &mut dyn Write,
) -> Result<RealReport, RealError> {
    let refused = crate::preflight::refusals(scn);
    if !refused.is_empty() {
        return Err(RealError::Refused(refused));
    }
    let mut missing = crate::sys::missing_prerequisites();
    if crate::bgp::needed(&scn.topology) {
        missing.extend(crate::bgp::missing_prerequisites());
    }
    if !missing.is_empty() {
        return Err(RealError::Prerequisites(missing));
    }
    let mut runner =
        Runner::start(scn.clone(), seed, false).map_err(|e| RealError::Scenario(e.to_string()))?;
    let t0 = crate::clock::now();
    let lab = Lab::up_with(&scn.topology, source, scn.br_int)?;
    let bring_up = t0.elapsed();
    let _ = writeln!(
        log,
        "real: lab {} up in {:.2} s: {} namespaces, {} bridges (run folder {})",
        lab.prefix().trim_end_matches('-'),
        bring_up.as_secs_f64(),
        lab.netns.len(),
        lab.bridges.len() + lab.int_bridges.len(),
        lab.state.dir().display()
    );
    let (tx, rx) = mpsc::channel();
    let (bfd_tx, bfd_rx) = mpsc::channel();
    let mut live = Live {
        lab,
        applied: Applied::default(),
        agents: BTreeMap::new(),
        boots: BTreeMap::new(),
        views: BTreeMap::new(),
        probes: BTreeMap::new(),
        servers: BTreeSet::new(),
        tx,
        rx,
        bfd: BTreeMap::new(),
        bfd_tx,
        bfd_rx,
        epoch: crate::clock::now(),
        behind: Duration::ZERO,
        waited: Duration::ZERO,
        seed,
        peers: runner.outcome().cluster.peers(),
        keepers: Vec::new(),
        bgp: crate::bgp::Speakers::default(),
    };
    for (node, sw) in &live.lab.node_switches {
        let (Some(ns), Some(ctl)) = (live.lab.netns.get(node), sw.ovs.vswitchd_ctl()) else {
            continue;
        };
        let keeper = crate::neigh::start(ns.clone(), ctl)
            .map_err(|e| RealError::Scenario(format!("neighbour keeper of {node}: {e}")))?;
        live.keepers.push(keeper);
    }
    let result = match live.bgp.start_routers(&mut live.lab) {
        Ok(lines) => {
            for l in lines {
                let _ = writeln!(
                    log,
                    "[{:>9.3}s real] {l}",
                    live.epoch.elapsed().as_secs_f64()
                );
            }
            play(scn, &mut runner, &mut live, mode, log)
        }
        Err(e) => Err(RealError::Scenario(format!("BGP: {e}"))),
    };
    // Always clean up, whatever happened.
    for (_, p) in std::mem::take(&mut live.probes) {
        p.stop();
    }
    for (_, a) in std::mem::take(&mut live.agents) {
        a.kill();
    }
    live.bfd.clear();
    live.bgp.stop_all();
    let t1 = crate::clock::now();
    let c = live.lab.down();
    let tear_down = t1.elapsed();
    for e in &c.errors {
        let _ = writeln!(log, "real: cleanup: {e}");
    }
    let prefix = live.lab.prefix();
    let leftovers = crate::cleanup::leftovers(Some(&prefix));
    let mut report = result?;
    report.bring_up = bring_up;
    report.tear_down = tear_down;
    report.leftovers = leftovers;
    Ok(report)
}

/// How late a step may run before the later steps are moved (see
/// `Live::behind`); below it, lateness is the loop's own jitter.
const LATE_STEP: Duration = Duration::from_millis(250);

fn play(
    scn: &Scenario,
    runner: &mut Runner,
    live: &mut Live,
    mode: Mode,
    log: &mut dyn Write,
) -> Result<RealReport, RealError> {
    let mut report = RealReport::default();
    observe::install(&live.lab)?;
    let cluster0 = runner.outcome().cluster.clone();
    live.sync(runner, None, log)?;
    // Hosts that listen (the topology's `tcpListen`) serve HTTP.
    for d in &scn.topology.devices {
        if let DeviceKind::Host(h) = &d.kind
            && let Some(ns) = live.lab.netns.get(&d.name)
        {
            let status = scn
                .http_status
                .iter()
                .find(|(dev, _)| *dev == d.name)
                .map_or(200, |(_, s)| *s);
            for port in &h.tcp_listen {
                traffic::start_server(ns, &d.name, *port, status)
                    .map_err(|e| RealError::Scenario(format!("HTTP server on {}: {e}", d.name)))?;
            }
        }
    }
    for n in cluster0.nodes() {
        live.start_agent(&n.name, n.ip)?;
    }
    live.ensure_bfd(scn)?;
    let mut times: Vec<SimTime> = scn.steps.iter().map(|s| s.at).collect();
    times.push(scn.until);
    times.dedup();
    let mut probe_index = 0u16;
    let mut done_steps = 0usize;
    let mut probe_up: BTreeMap<String, (bool, SimTime)> = BTreeMap::new();
    let mut last_tick = crate::clock::now();
    for t in times {
        if t > scn.until {
            break;
        }
        let due = live.epoch + live.behind + Duration::from_nanos(t.0);
        loop {
            if let Some(stop) = crate::signals::pending() {
                return Err(RealError::Interrupted(stop));
            }
            report_probe_changes(live, &mut probe_up, log);
            live.drain_bfd(log)?;
            let changed = live.drain(log);
            if !changed.is_empty() {
                live.sync(runner, Some(&changed), log)?;
            }
            let now = crate::clock::now();
            if now >= due {
                break;
            }
            // The controller acts between steps too (allocation retries,
            // NotReady after the grace period): keep the simulator's cluster
            // state at wall time, short of the next step, and apply what
            // changed (applying is a no-op when nothing did).
            if now.duration_since(last_tick) >= Duration::from_millis(250) {
                last_tick = now;
                let wall =
                    SimTime(live.epoch.elapsed().saturating_sub(live.behind).as_nanos() as u64);
                let short = SimTime(t.0.saturating_sub(1));
                runner
                    .advance_to(wall.min(short))
                    .map_err(|e| RealError::Scenario(e.to_string()))?;
                live.sync(runner, None, log)?;
            }
            std::thread::sleep((due - now).min(Duration::from_millis(20)));
        }
        let late = crate::clock::now()
            .saturating_duration_since(due)
            .saturating_sub(std::mem::take(&mut live.waited));
        if late > LATE_STEP {
            live.behind += late;
            let _ = writeln!(
                log,
                "[{:>9.3}s real] steps at {:.3}s ran {:.2} s late (a busy machine or a slow change); the steps after them move by as much ({:.2} s in all)",
                live.epoch.elapsed().as_secs_f64(),
                t.0 as f64 / 1e9,
                late.as_secs_f64(),
                live.behind.as_secs_f64()
            );
        }
        runner
            .advance_to(t)
            .map_err(|e| RealError::Scenario(e.to_string()))?;
        while let Some(step) = scn.steps.get(done_steps).filter(|s| s.at <= t) {
            done_steps += 1;
            match &step.action {
                Action::Power { device, on } => {
                    let _ = writeln!(
                        log,
                        "[{:>9.3}s real] power {} {device}",
                        live.epoch.elapsed().as_secs_f64(),
                        if *on { "on" } else { "off" }
                    );
                    let is_node = cluster0.node_id(device).is_some();
                    if !*on && is_node {
                        if let Some(a) = live.agents.remove(device) {
                            a.kill();
                        }
                        live.views.remove(device);
                    }
                    live.lab.set_power(device, *on)?;
                    if !*on {
                        live.bgp.power_off(device);
                    }
                    if *on && let Some(ns) = live.lab.netns.get(device) {
                        // A machine that was off boots with empty conntrack and
                        // neighbour tables; the namespace kept them, so empty them.
                        let _ = crate::sys::in_ns(ns, "conntrack", &["-F"]);
                        let _ = crate::sys::run("ip", &["-n", ns, "neigh", "flush", "all"]);
                    }
                    if *on && is_node {
                        // A rebooted node comes back with nothing Antrea made.
                        live.views.insert(device.clone(), BTreeSet::new());
                        let ip = cluster0.node_by_name(device).map(|n| n.ip).expect("node");
                        live.start_agent(device, ip)?;
                    }
                }
                Action::Link { port, up } => {
                    live.lab.set_link(port, *up)?;
                    let _ = writeln!(
                        log,
                        "[{:>9.3}s real] link {port} {}",
                        live.epoch.elapsed().as_secs_f64(),
                        if *up { "up" } else { "down" }
                    );
                }
                Action::StartProbe(p) => {
                    let (from, _) = resolve(scn, runner, &p.from).map_err(RealError::Scenario)?;
                    let from = from.ok_or_else(|| {
                        RealError::Scenario(format!(
                            "probe {}: a probe needs a Pod or host to start from",
                            p.name
                        ))
                    })?;
                    let ns = live
                        .lab
                        .pods
                        .get(&from)
                        .map(|l| l.netns.clone())
                        .or_else(|| live.lab.netns.get(&from).cloned())
                        .ok_or_else(|| {
                            RealError::Scenario(format!(
                                "probe {}: {from} is not in the lab",
                                p.name
                            ))
                        })?;
                    let (_, to) = resolve(scn, runner, &p.to).map_err(RealError::Scenario)?;
                    probe_index += 1;
                    let kind = match &p.kind {
                        ProbeKind::Ping => RealProbeKind::Ping {
                            id: 0x4000 + probe_index,
                            size: p.size,
                        },
                        ProbeKind::Tcp { port } => RealProbeKind::Tcp { port: *port },
                        ProbeKind::Http { port, host, path } => RealProbeKind::Http {
                            port: *port,
                            host: host.clone(),
                            path: path.clone(),
                        },
                    };
                    let timeout = Duration::from_nanos(p.timeout.0);
                    let kind_is_ping = matches!(kind, RealProbeKind::Ping { .. });
                    let plan = traffic::ProbePlan {
                        ns: ns.clone(),
                        name: p.name.clone(),
                        to,
                        kind,
                        interval: Duration::from_nanos(p.interval.0),
                        timeout,
                        count: p.count,
                        // A ping's answer names nobody; a Pod's address is
                        // in its namespace alone, so that Pod answered.
                        answerer: match kind_is_ping {
                            true => live.lab.pod_with_ip(to).map(|(k, _)| k.clone()),
                            false => None,
                        },
                    };
                    let h = traffic::start_probe(plan, live.epoch)
                        .map_err(|e| RealError::Scenario(format!("probe {}: {e}", p.name)))?;
                    live.probes.insert(p.name.clone(), h);
                }
                Action::StopProbe(name) => {
                    if let Some(p) = live.probes.get(name) {
                        p.stop();
                    }
                }
                Action::ClearArp(dev) => {
                    if let Some(ns) = live.lab.netns.get(dev) {
                        let _ = crate::sys::run("ip", &["-n", ns, "neigh", "flush", "all"]);
                    }
                }
                Action::Expect(list) => {
                    let started = crate::clock::now();
                    let at = live.epoch.elapsed();
                    for e in list {
                        let c = {
                            let sim = runner.outcome();
                            let lab = RealObserver::new(
                                scn,
                                &live.lab,
                                &sim.cluster,
                                &live.probes,
                                live.epoch,
                                at,
                                &e.kind,
                            );
                            Checked::judge(e, t, &lab, &sim.world, &sim.cluster, mode)
                        };
                        let _ = writeln!(
                            log,
                            "[{:>9.3}s real] expect {} {}",
                            live.epoch.elapsed().as_secs_f64(),
                            if c.real_passed { "PASS" } else { "FAIL" },
                            c.real_message
                        );
                        for m in c.mismatches() {
                            let _ = writeln!(
                                log,
                                "[{:>9.3}s both] MISMATCH at {} (line {}): {m}",
                                live.epoch.elapsed().as_secs_f64(),
                                t,
                                c.line
                            );
                        }
                        report.checks.push(c);
                    }
                    live.waited += started.elapsed();
                }
                Action::Route {
                    device, add, route, ..
                } => {
                    for c in live.lab.change_route(device, *add, route)? {
                        let _ = writeln!(
                            log,
                            "[{:>9.3}s real] {device}: ip {c}",
                            live.epoch.elapsed().as_secs_f64()
                        );
                    }
                    live.ensure_bfd(scn)?;
                }
                Action::Vlan { port, mode, text } => {
                    live.lab.set_port_vlan(port, mode)?;
                    let _ = writeln!(
                        log,
                        "[{:>9.3}s real] switch port {port} is now `{text}`",
                        live.epoch.elapsed().as_secs_f64()
                    );
                }
                Action::Show(sim_core::scenario::Show::Traceflow(which)) => {
                    // The same Traceflow, walked by the nodes' own OVS with
                    // the programs they hold now (so a scenario shows a
                    // Traceflow before it changes what the packet crosses).
                    // The list (`show: traceflows`) walks nothing: it names
                    // Traceflows run earlier, against other programs.
                    let sim = runner.outcome();
                    let names: Vec<String> = which.iter().cloned().collect();
                    for name in names {
                        let Some(tf) = sim.cluster.traceflows.get(&name) else {
                            continue;
                        };
                        let secs = live.epoch.elapsed().as_secs_f64();
                        match crate::traceflow::rerun(&live.lab, &sim.cluster, tf) {
                            Ok(mut real) => {
                                real.results
                                    .iter_mut()
                                    .for_each(|r| r.timestamp = secs as u64);
                                let diff = crate::traceflow::differences(tf, &real);
                                let _ = writeln!(
                                    log,
                                    "[{secs:>9.3}s real] Traceflow {name} from the nodes' OVS (ofproto/trace): {}",
                                    if diff.is_empty() {
                                        "same observations as the simulator"
                                    } else {
                                        "DIFFERS from the simulator"
                                    }
                                );
                                for line in real.to_yaml().lines() {
                                    let _ = writeln!(log, "    {line}");
                                }
                                for d in &diff {
                                    let _ = writeln!(
                                        log,
                                        "[{secs:>9.3}s both] MISMATCH at {t}: Traceflow {name}: {d}"
                                    );
                                }
                                report.traceflows.push((name, diff));
                            }
                            Err(e) => {
                                let _ = writeln!(
                                    log,
                                    "[{secs:>9.3}s real] Traceflow {name} could not be walked by real OVS: {e}"
                                );
                                report.not_compared.push(format!(
                                    "Traceflow {name}: real OVS could not walk it: {e}"
                                ));
                            }
                        }
                    }
                }
                Action::Show(sim_core::scenario::Show::TrafficControls) => {
                    // What each TrafficControl port got, from the nodes' OVS.
                    for (node, port, tx) in crate::inline::port_counters(&live.lab, runner) {
                        let _ = writeln!(
                            log,
                            "[{:>9.3}s real] {node}: br-int port {port} tx_packets={tx}",
                            live.epoch.elapsed().as_secs_f64()
                        );
                    }
                }
                // The simulator's Runner applied these to the cluster state;
                // the sync below carries them into the lab.
                Action::Apply { .. }
                | Action::Delete { .. }
                | Action::Label { .. }
                | Action::Show(_)
                | Action::Say(_) => {}
                Action::Inline {
                    nodes,
                    from,
                    inline,
                } => {
                    let targets = sim_core::scenario::inline_targets(nodes, &cluster0);
                    for n in &targets {
                        if let Some(ns) = live.lab.netns.get(n) {
                            crate::inline::set(ns, from, inline.as_ref())
                                .map_err(LabError::from)?;
                        }
                    }
                    let _ = writeln!(
                        log,
                        "[{:>9.3}s real] inline appliance on {from}: {}",
                        live.epoch.elapsed().as_secs_f64(),
                        match inline {
                            Some(i) =>
                                format!("tc mirred to {}, {} drop rule(s)", i.to, i.drops.len()),
                            None => "stopped".to_string(),
                        }
                    );
                }
            }
        }
        // Steps and the simulator's own timers up to `t` may have changed
        // the cluster; applying is a no-op where nothing did.
        live.sync(runner, None, log)?;
    }
    for (name, p) in &live.probes {
        let sim = runner
            .outcome()
            .world
            .probe(name)
            .map(|p| p.stats().longest_outage)
            .unwrap_or(SimDuration::ZERO);
        let real = Duration::from_nanos(longest_outage(&p.snapshot(), timeout_of(p)).as_nanos());
        report.outages.push((name.clone(), sim, real));
    }
    if runner.outcome().cluster.settings.flow_export_on() {
        report.not_compared.push(
            "FlowExporter records (the simulator's are in `antlab flows`): real mode runs no flow exporter".into(),
        );
    }
    Ok(report)
}

/// Logs a probe going down or coming back, as the simulator's log does.
fn report_probe_changes(
    live: &Live,
    state: &mut BTreeMap<String, (bool, SimTime)>,
    log: &mut dyn Write,
) {
    for (name, p) in &live.probes {
        let attempts = p.snapshot();
        let Some(last) = attempts.last() else {
            continue;
        };
        let prev = state.get(name).copied();
        if prev.map(|(up, _)| up) == Some(last.ok()) {
            continue;
        }
        let line = match (prev, last.ok()) {
            (None, true) => "UP".to_string(),
            (Some((false, since)), true) => {
                // An attempt sent earlier may have been answered late (its
                // packet waited for ARP): the outage ends at the first
                // successful send, as the simulator counts it.
                let first_ok = attempts
                    .iter()
                    .filter(|a| a.ok() && a.sent > since)
                    .map(|a| a.sent)
                    .min()
                    .unwrap_or(last.sent);
                format!(
                    "UP again after {:.1} s outage",
                    from_epoch(first_ok)
                        .saturating_sub(from_epoch(since))
                        .as_secs_f64()
                )
            }
            (_, false) => format!("DOWN: {}", failure(last)),
            (Some((true, _)), true) => continue,
        };
        let _ = writeln!(
            log,
            "[{:>9.3}s real] probe {name} {line} (attempt sent at {:.3}s)",
            live.epoch.elapsed().as_secs_f64(),
            from_epoch(last.sent).as_secs_f64()
        );
        // An outage starts at the first failed attempt after the last good one.
        let since = if last.ok() {
            last.sent
        } else {
            let good = attempts.iter().filter(|a| a.ok()).map(|a| a.sent).max();
            attempts
                .iter()
                .filter(|a| !a.ok() && good.is_none_or(|g| a.sent > g))
                .map(|a| a.sent)
                .min()
                .unwrap_or(last.sent)
        };
        state.insert(name.clone(), (last.ok(), since));
    }
}

/// Why a failed attempt failed, in the kernel's or the client's words.
fn failure(a: &Attempt) -> &str {
    match &a.verdict {
        Verdict::Fail { reason } => reason,
        _ => "",
    }
}
