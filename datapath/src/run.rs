//! Playing a scenario for real (`antlab run --mode real|both`).
//!
//! The simulator runs alongside as the engine's host: applying manifests,
//! labels and pools is deterministic bookkeeping (`ClusterState`), so real
//! mode takes the cluster state from a simulator [`Runner`] advanced to the
//! same scenario time, **replaces its membership views with the views of the
//! real agents**, and applies `engine::compile` of that to the lab. Placement
//! therefore follows real failure detection, with the engine's code.
//!
//! At every `expect` step real mode checks the expectations against what it
//! observes in the kernel, and in `both` mode also compares, field by field,
//! the normalised observations of both sides (egress node and IP, the source
//! and gateway VLAN a destination saw, which endpoints answered, the
//! gateway's ARP entry, whether the last probe attempt worked). Timing differs
//! between the modes, so durations are reported, not compared.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sim_core::engine::memberlist::MemberEvent;
use sim_core::model::{DeviceKind, HostRole, MacAddr};
use sim_core::scenario::run::Runner;
use sim_core::scenario::{Action, Endpoint, ExpectKind, Expectation, MacRef, Scenario};
use sim_core::sim::probe::ProbeKind;
use sim_core::time::{SimDuration, SimTime};

use crate::NodeBackend;
use crate::agent::{self, AgentEvent, AgentHandle, AgentSpec};
use crate::apply::{Applied, LinuxBackend};
use crate::lab::{Lab, LabError};
use crate::observe;
use crate::traffic::{self, Attempt, ProbeHandle, RealProbeKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Real,
    Both,
}

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

/// One expectation, checked for real (and in `both` mode, in the simulator).
#[derive(Clone, Debug)]
pub struct Checked {
    pub at: SimTime,
    pub line: u64,
    pub column: u64,
    pub real_passed: bool,
    pub real_message: String,
    pub sim_passed: Option<bool>,
    /// (what, simulator, real) for every observed field.
    pub fields: Vec<(String, String, String)>,
}

impl Checked {
    pub fn mismatches(&self) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(_, s, r)| s != r)
            .map(|(w, s, r)| format!("{w}: simulator {s}, real {r}"))
            .collect()
    }
}

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
}

impl RealReport {
    pub fn passed(&self, mode: Mode) -> bool {
        self.checks.iter().all(|c| {
            c.real_passed
                && (mode == Mode::Real || (c.sim_passed == Some(true) && c.mismatches().is_empty()))
        }) && self.leftovers.is_empty()
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
    peers: Vec<(String, Ipv4Addr)>,
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
            cluster
                .views
                .insert(node.clone(), v.iter().cloned().collect());
        }
        // Pods the engine knows about get namespaces and servers.
        for p in &cluster.pods {
            let key = format!("{}/{}", p.namespace, p.name);
            let len = cluster
                .node(&p.node)
                .map_or(24, |n| n.pod_cidr.prefix_len());
            self.lab.add_pod(&key, &p.node, p.ip, len)?;
            for port in &p.tcp_listen {
                let id = format!("{key}:{port}");
                if self.servers.insert(id) {
                    traffic::start_server(&self.lab.pods[&key].netns, &key, *port, 200)
                        .map_err(|e| RealError::Scenario(format!("HTTP server in {key}: {e}")))?;
                }
            }
        }
        let planes = sim_core::engine::compile_nodes(&cluster, |n| {
            only.is_none_or(|o| o.contains(n)) && !self.lab.powered_off.iter().any(|p| p == n)
        });
        let mut backend = LinuxBackend {
            lab: &mut self.lab,
            applied: &mut self.applied,
            log: Vec::new(),
        };
        for (node, dp) in &planes {
            backend.apply(node, dp)?;
        }
        for l in backend.log {
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
            .pod(namespace, name)
            .map(|p| (Some(format!("{namespace}/{name}")), p.ip))
            .ok_or_else(|| format!("Pod {namespace}/{name} does not exist")),
        Endpoint::Device(d) => host_ip(scn, d)
            .map(|ip| (Some(d.clone()), ip))
            .ok_or_else(|| format!("{d} has no address")),
    }
}

fn mac_of(scn: &Scenario, m: &MacRef) -> Option<MacAddr> {
    match m {
        MacRef::Literal(mac) => Some(*mac),
        MacRef::Iface(r) => {
            let (dev, ifname) = r.rsplit_once('/')?;
            let id = scn.topology.device_id(dev)?;
            let h = scn.topology.host(id)?;
            h.interfaces
                .iter()
                .find(|i| i.name == ifname)
                .map(|i| i.mac)
        }
    }
}

fn real_outage(attempts: &[Attempt], timeout: Duration) -> Duration {
    let mut longest = Duration::ZERO;
    let mut start: Option<Duration> = None;
    for a in attempts {
        if a.ok {
            if let Some(s) = start.take() {
                longest = longest.max(a.sent.saturating_sub(s));
            }
        } else if start.is_none() {
            start = Some(a.sent);
        }
    }
    if let (Some(s), Some(last)) = (start, attempts.last()) {
        longest = longest.max((last.sent + timeout).saturating_sub(s));
    }
    longest
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
    let missing = crate::sys::missing_prerequisites();
    if !missing.is_empty() {
        return Err(RealError::Prerequisites(missing));
    }
    let mut runner =
        Runner::start(scn.clone(), seed, false).map_err(|e| RealError::Scenario(e.to_string()))?;
    let t0 = crate::clock::now();
    let lab = Lab::up(&scn.topology, source)?;
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
        peers: (runner.outcome().cluster.nodes.iter())
            .map(|n| (n.name.clone(), n.ip))
            .collect(),
    };
    let result = play(scn, &mut runner, &mut live, mode, log);
    // Always clean up, whatever happened.
    for (_, p) in std::mem::take(&mut live.probes) {
        p.stop();
    }
    for (_, a) in std::mem::take(&mut live.agents) {
        a.kill();
    }
    live.bfd.clear();
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
    for n in &cluster0.nodes {
        live.start_agent(&n.name, n.ip)?;
    }
    live.ensure_bfd(scn)?;
    let mut times: Vec<SimTime> = scn.steps.iter().map(|s| s.at).collect();
    times.push(scn.until);
    times.dedup();
    let mut probe_index = 0u16;
    let mut timeouts: BTreeMap<String, Duration> = BTreeMap::new();
    let mut done_steps = 0usize;
    let mut probe_up: BTreeMap<String, (bool, Duration)> = BTreeMap::new();
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
                    let is_node = cluster0.node(device).is_some();
                    if !*on && is_node {
                        if let Some(a) = live.agents.remove(device) {
                            a.kill();
                        }
                        live.views.remove(device);
                    }
                    live.lab.set_power(device, *on)?;
                    if *on && let Some(ns) = live.lab.netns.get(device) {
                        // A machine that was off boots with empty conntrack and
                        // neighbour tables; the namespace kept them, so empty them.
                        let _ = crate::sys::in_ns(ns, "conntrack", &["-F"]);
                        let _ = crate::sys::run("ip", &["-n", ns, "neigh", "flush", "all"]);
                    }
                    if *on && is_node {
                        // A rebooted node comes back with nothing Antrea made.
                        live.views.insert(device.clone(), BTreeSet::new());
                        let ip = cluster0.node(device).map(|n| n.ip).expect("node");
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
                        },
                        ProbeKind::Tcp { port } => RealProbeKind::Tcp { port: *port },
                        ProbeKind::Http { port, host, path } => RealProbeKind::Http {
                            port: *port,
                            host: host.clone(),
                            path: path.clone(),
                        },
                    };
                    let timeout = Duration::from_nanos(p.timeout.0);
                    timeouts.insert(p.name.clone(), timeout);
                    let plan = traffic::ProbePlan {
                        ns: ns.clone(),
                        name: p.name.clone(),
                        to,
                        kind,
                        interval: Duration::from_nanos(p.interval.0),
                        timeout,
                        count: p.count,
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
                        let c = check(scn, runner, live, e, t, at, mode);
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
                // The simulator's Runner applied these to the cluster state;
                // the sync below carries them into the lab.
                Action::Apply { .. }
                | Action::Delete { .. }
                | Action::Label { .. }
                | Action::Show(_)
                | Action::Say(_) => {}
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
        let real = real_outage(
            &p.snapshot(),
            timeouts
                .get(name)
                .copied()
                .unwrap_or(Duration::from_secs(1)),
        );
        report.outages.push((name.clone(), sim, real));
    }
    if runner.outcome().cluster.settings.flow_export_on() {
        report.not_compared.push(
            "FlowExporter records (the simulator's are in `antlab flows`): real mode runs no flow exporter (Antrea's reads each node's OVS conntrack, zone 65520; in this lab every node's br-int shares one userspace datapath and its conntrack, so records per node cannot be told apart)".into(),
        );
    }
    Ok(report)
}

/// Logs a probe going down or coming back, as the simulator's log does.
fn report_probe_changes(
    live: &Live,
    state: &mut BTreeMap<String, (bool, Duration)>,
    log: &mut dyn Write,
) {
    for (name, p) in &live.probes {
        let attempts = p.snapshot();
        let Some(last) = attempts.iter().rev().find(|a| a.done > Duration::ZERO) else {
            continue;
        };
        let prev = state.get(name).copied();
        if prev.map(|(up, _)| up) == Some(last.ok) {
            continue;
        }
        let line = match (prev, last.ok) {
            (None, true) => "UP".to_string(),
            (Some((false, since)), true) => {
                // An attempt sent earlier may have been answered late (its
                // packet waited for ARP): the outage ends at the first
                // successful send, as the simulator counts it.
                let first_ok = attempts
                    .iter()
                    .filter(|a| a.ok && a.sent > since)
                    .map(|a| a.sent)
                    .min()
                    .unwrap_or(last.sent);
                format!(
                    "UP again after {:.1} s outage",
                    first_ok.saturating_sub(since).as_secs_f64()
                )
            }
            (_, false) => format!("DOWN: {}", last.reason),
            (Some((true, _)), true) => continue,
        };
        let _ = writeln!(
            log,
            "[{:>9.3}s real] probe {name} {line} (attempt sent at {:.3}s)",
            live.epoch.elapsed().as_secs_f64(),
            last.sent.as_secs_f64()
        );
        // An outage starts at the first failed attempt after the last good one.
        let since = if last.ok {
            last.sent
        } else {
            let good = attempts.iter().filter(|a| a.ok).map(|a| a.sent).max();
            attempts
                .iter()
                .filter(|a| !a.ok && a.done > Duration::ZERO && good.is_none_or(|g| a.sent > g))
                .map(|a| a.sent)
                .min()
                .unwrap_or(last.sent)
        };
        state.insert(name.clone(), (last.ok, since));
    }
}

fn yes(b: bool) -> String {
    if b { "yes".into() } else { "no".into() }
}

/// Checks one expectation for real; in `both` mode also in the simulator,
/// with the observed fields of each side.
fn check(
    scn: &Scenario,
    runner: &Runner,
    live: &Live,
    e: &Expectation,
    t: SimTime,
    at: Duration,
    mode: Mode,
) -> Checked {
    let world = &runner.outcome().world;
    let cluster = &runner.outcome().cluster;
    let sim_passed = (mode == Mode::Both).then(|| {
        runner
            .outcome()
            .expectations
            .iter()
            .rev()
            .find(|r| r.line == e.line && r.column == e.column && r.time == t)
            .is_some_and(|r| r.passed)
    });
    let mut fields: Vec<(String, String, String)> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut unobserved: Vec<&str> = Vec::new();
    let head: String;
    match &e.kind {
        ExpectKind::Egress { name, node, ip } => {
            head = format!("Egress {name}");
            let egress = cluster.egress.egresses.get(name);
            HeldIp {
                ip: egress.and_then(|e| e.ip),
                // `kubectl get egress` shows the status: for a static
                // Egress whose IP no node has, none.
                shown_ip: egress.and_then(|e| e.status.egress_ip),
                sim_holders: sim_core::engine::holders::egress_holders(cluster, name),
                ip_field: format!("Egress {name} IP"),
                node_field: format!("Egress {name} node"),
                held_by: "IP held by",
                ip_is: "IP is",
            }
            .check(live, node, ip, &mut fields, &mut problems);
        }
        ExpectKind::ServiceExternalIp { service, node, ip } => {
            head = format!("ServiceExternalIP of {service}");
            let lb_ip = cluster.services.get(service).and_then(|s| s.lb_ip);
            HeldIp {
                ip: lb_ip,
                shown_ip: lb_ip,
                sim_holders: sim_core::engine::holders::external_ip_owners(cluster, service),
                ip_field: format!("{service} external IP"),
                node_field: format!("{service} external IP owner"),
                held_by: "owned by",
                ip_is: "external IP is",
            }
            .check(live, node, ip, &mut fields, &mut problems);
        }
        ExpectKind::Arp {
            device,
            ip,
            mac,
            state,
        } => {
            let real = observe::arp_entry(&live.lab, device, *ip);
            let sim = world
                .device_id(device)
                .and_then(|id| world.device(id).stack())
                .and_then(|s| s.arp.lookup(world.now(), *ip))
                .map(|r| r.mac.map_or("(none)".to_string(), |m| m.to_string()));
            let real_mac = real.as_ref().map(|(m, _)| m.clone());
            fields.push((
                format!("{device} ARP {ip}"),
                sim.unwrap_or("no entry".into()),
                real_mac.clone().unwrap_or("no entry".into()),
            ));
            head = format!("{device} ARP {ip}");
            let want = mac
                .as_ref()
                .and_then(|m| mac_of(scn, m))
                .map(|m| m.to_string());
            match state.as_deref() {
                Some("absent") => {
                    if real.is_some() {
                        problems.push(format!("found {}", real_mac.unwrap_or_default()));
                    }
                }
                _ => match (&want, &real_mac) {
                    (_, None) => problems.push("no entry".into()),
                    (Some(w), Some(g)) if !w.eq_ignore_ascii_case(g) => {
                        problems.push(format!("found {g}"))
                    }
                    _ => {}
                },
            }
            if state
                .as_deref()
                .is_some_and(|s| s != "absent" && s != "present")
            {
                unobserved.push("ARP state (timers differ)");
            }
        }
        ExpectKind::Mac {
            switch,
            vlan,
            mac,
            port,
            absent,
        } => {
            let m = mac_of(scn, mac).map(|m| m.to_string()).unwrap_or_default();
            let real = observe::mac_port(&live.lab, switch, *vlan, &m);
            head = format!("{switch} MAC table vlan {vlan} {m}");
            if *absent {
                if real.is_some() {
                    problems.push(format!("learned on {}", real.unwrap_or_default()));
                }
            } else {
                match (port, &real) {
                    (_, None) => problems.push("not learned".into()),
                    (Some(p), Some(g)) if p != g => problems.push(format!("learned on {g}")),
                    _ => {}
                }
            }
        }
        ExpectKind::Probe {
            probe,
            last_ok,
            seen_source,
            via_vlan,
            not_via_vlan,
            max_outage,
            min_outage,
            only_answered_by,
            min_answerers,
            http_status,
            handled_by,
            reply_avoids,
            reason,
        } => {
            head = format!("probe {probe}");
            let Some(p) = live.probes.get(probe) else {
                return Checked {
                    at: t,
                    line: e.line,
                    column: e.column,
                    real_passed: false,
                    real_message: format!("probe {probe} was not started"),
                    sim_passed,
                    fields,
                };
            };
            // The verdict of the last attempt sent before this expectation
            // (a silent drop takes the probe's timeout to show).
            p.settle(at, p.timeout + Duration::from_millis(500));
            let attempts: Vec<Attempt> =
                p.snapshot().into_iter().filter(|a| a.sent <= at).collect();
            let last = attempts.last();
            let sp = world.probe(probe);
            let slast = sp.and_then(|p| p.last_finished());
            let real_ok = last.is_some_and(|a| a.ok);
            // Compared when the scenario asserts it: where it does not (an
            // outage bound over a flapping probe), the last attempt is a
            // draw (which endpoint a random pick sent it to), not a fact
            // both sides must share.
            if last_ok.is_some() {
                fields.push((
                    format!("probe {probe} last attempt ok"),
                    yes(slast.is_some_and(|a| a.ok())),
                    yes(real_ok),
                ));
            }
            if let Some(want) = last_ok
                && real_ok != *want
            {
                problems.push(format!(
                    "last attempt {}",
                    if real_ok {
                        "succeeded".to_string()
                    } else {
                        format!(
                            "failed: {}",
                            last.map_or("none finished", |a| a.reason.as_str())
                        )
                    }
                ));
            }
            let (ping_id, tcp) = match p.kind {
                RealProbeKind::Ping { id } => (Some(id), None),
                RealProbeKind::Tcp { port } | RealProbeKind::Http { port, .. } => {
                    (None, Some((p.to, port)))
                }
            };
            // What destinations and gateways saw since the last attempt was
            // sent (and a little before: the clocks are one, the sets' ages
            // are in milliseconds).
            let within = last.map_or(Duration::ZERO, |a| {
                live.epoch.elapsed().saturating_sub(a.sent) + Duration::from_millis(100)
            });
            if let Some(src) = seen_source {
                let real_src = match ping_id {
                    Some(id) => target_host(scn, p.to)
                        .and_then(|h| observe::ping_seen_source(&live.lab, &h, id, within)),
                    None => last.and_then(|a| a.seen_src),
                };
                fields.push((
                    format!("probe {probe} source seen by destination"),
                    fmt_opt(slast.and_then(|a| a.seen_src)),
                    fmt_opt(real_src),
                ));
                if real_src != Some(*src) {
                    problems.push(format!("destination saw {}", fmt_opt(real_src)));
                }
            }
            for (v, want_in) in via_vlan
                .iter()
                .map(|v| (v, true))
                .chain(not_via_vlan.iter().map(|v| (v, false)))
            {
                let real_v = observe::request_gateway_vlan(&live.lab, ping_id, tcp, within);
                let sim_in = slast.is_some_and(|a| a.request_vlans().contains(v));
                fields.push((
                    format!("probe {probe} request crossed VLAN {v}"),
                    yes(sim_in),
                    yes(real_v == Some(*v)),
                ));
                if (real_v == Some(*v)) != want_in {
                    problems.push(format!(
                        "request reached the gateway on VLAN {}",
                        real_v.map_or("none".into(), |x| x.to_string())
                    ));
                }
            }
            let outage = real_outage(&attempts, p.timeout);
            if let Some(max) = max_outage
                && outage > Duration::from_nanos(max.0)
            {
                problems.push(format!("longest outage was {:.1} s", outage.as_secs_f64()));
            }
            if let Some(min) = min_outage
                && outage < Duration::from_nanos(min.0)
            {
                problems.push(format!("longest outage was {:.1} s", outage.as_secs_f64()));
            }
            if only_answered_by.is_some() || min_answerers.is_some() {
                let real_by: BTreeSet<String> = attempts
                    .iter()
                    .filter(|a| a.ok)
                    .filter_map(|a| a.seen_by.clone())
                    .collect();
                let sim_by: BTreeSet<String> = sp
                    .map(|p| {
                        p.attempts
                            .iter()
                            .filter(|a| a.ok())
                            .filter_map(|a| a.seen_by.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                fields.push((
                    format!("probe {probe} answered by"),
                    sim_by.iter().cloned().collect::<Vec<_>>().join(", "),
                    real_by.iter().cloned().collect::<Vec<_>>().join(", "),
                ));
                if let Some(allowed) = only_answered_by {
                    let others: Vec<&String> =
                        real_by.iter().filter(|b| !allowed.contains(b)).collect();
                    if !others.is_empty() {
                        problems.push(format!("also answered by {others:?}"));
                    }
                }
                if let Some(n) = min_answerers
                    && real_by.len() < *n
                {
                    problems.push(format!("answered by {} hosts", real_by.len()));
                }
            }
            if let Some(want) = http_status {
                let got = last.and_then(|a| a.http_status);
                if got != Some(*want) {
                    problems.push(format!(
                        "HTTP status {}",
                        got.map_or("none".into(), |g| g.to_string())
                    ));
                }
            }
            if handled_by.is_some() {
                unobserved.push("handledBy");
            }
            if reply_avoids.is_some() {
                unobserved.push("replyAvoids");
            }
            if reason.is_some() {
                unobserved.push("reason");
            }
        }
    }
    let mut msg = head;
    if problems.is_empty() {
        msg.push_str(": as expected");
    } else {
        msg.push_str(&format!(": but {}", problems.join("; ")));
    }
    if !unobserved.is_empty() {
        msg.push_str(&format!(
            " (not observable for real: {})",
            unobserved.join(", ")
        ));
    }
    Checked {
        at: t,
        line: e.line,
        column: e.column,
        real_passed: problems.is_empty(),
        real_message: msg,
        sim_passed,
        fields,
    }
}

/// An address the engine puts on one node (an Egress IP, a
/// ServiceExternalIP): who holds it in the kernel against who holds it in
/// the simulator, and against what the expectation wants.
struct HeldIp {
    ip: Option<Ipv4Addr>,
    /// The address the expectation's `ip` is compared with: what the API
    /// shows (an Egress's `status.egressIP`, the engine's like `ip`).
    shown_ip: Option<Ipv4Addr>,
    sim_holders: Vec<String>,
    ip_field: String,
    node_field: String,
    /// How a wrong holder is told: "IP held by", "owned by".
    held_by: &'static str,
    /// How a wrong address is told: "IP is", "external IP is".
    ip_is: &'static str,
}

impl HeldIp {
    fn check(
        self,
        live: &Live,
        want_node: &Option<Option<String>>,
        want_ip: &Option<Option<Ipv4Addr>>,
        fields: &mut Vec<(String, String, String)>,
        problems: &mut Vec<String>,
    ) {
        let real_holders = self
            .ip
            .map(|i| observe::address_holders(&live.lab, i))
            .unwrap_or_default();
        // The address itself is the engine's on both sides.
        fields.push((self.ip_field, fmt_opt(self.ip), fmt_opt(self.ip)));
        fields.push((
            self.node_field,
            list(&self.sim_holders),
            list(&real_holders),
        ));
        if let Some(want) = want_node {
            let ok = match want {
                None => real_holders.is_empty(),
                Some(n) => real_holders.len() == 1 && &real_holders[0] == n,
            };
            if !ok {
                problems.push(format!("{} {}", self.held_by, list(&real_holders)));
            }
        }
        if let Some(want) = want_ip
            && self.shown_ip != *want
        {
            problems.push(format!("{} {}", self.ip_is, fmt_opt(self.shown_ip)));
        }
    }
}

/// The host (router or external) that owns `ip`: where ping observations live.
fn target_host(scn: &Scenario, ip: Ipv4Addr) -> Option<String> {
    scn.topology.devices.iter().find_map(|d| match &d.kind {
        DeviceKind::Host(h) if matches!(h.role, HostRole::Router | HostRole::External) => h
            .interfaces
            .iter()
            .any(|i| i.addrs.iter().any(|a| a.addr() == ip))
            .then(|| d.name.clone()),
        _ => None,
    })
}

fn fmt_opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("none".to_string(), |x| x.to_string())
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
