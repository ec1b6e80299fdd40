//! Plays a scenario: runs the world to each step's time, applies the step,
//! re-computes the engine's desired state, checks expectations.

use std::net::Ipv4Addr;

use super::load::{Action, Endpoint, ExpectKind, Expectation, MacRef, Scenario, Show, Step};
use crate::engine::{self, ClusterState, PodState};
use crate::input::InputError;
use crate::k8s::{self, Object};
use crate::report;
use crate::rng;
use crate::sim::probe::{ProbeSpec, Verdict};
use crate::sim::trace::LogKind;
use crate::sim::{ControlEvent, DeviceRt, World};
use crate::time::{SimDuration, SimTime};
use std::collections::{BTreeMap, BTreeSet};

use super::flow_export::{ExporterSession, FlowExport};
use super::node_lifecycle::NodeLifecycle;
use crate::flows::NodeFlowRecord;

#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Record every port's traffic for `--pcap`.
    pub capture: bool,
    /// Stop at this time instead of the scenario's end (steps after it are not
    /// run), to look at the state mid-way (`antlab get ... --at 12s`).
    pub stop_at: Option<crate::time::SimTime>,
}

/// An expectation's outcome.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ExpectResult {
    pub time: crate::time::SimTime,
    pub line: u64,
    pub column: u64,
    pub passed: bool,
    pub message: String,
}

pub struct Outcome {
    pub world: World,
    pub cluster: ClusterState,
    pub seed: u64,
    pub expectations: Vec<ExpectResult>,
    /// Flow records the agents exported (FlowExporter gate), in export
    /// order: the first [`Runner::keep_flow_records`] of them.
    pub flows: Vec<NodeFlowRecord>,
    /// The agents' connections to the collector (when each sent its template).
    pub flow_sessions: Vec<ExporterSession>,
    /// Flow records exported in all, kept or not.
    pub flows_exported: u64,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.expectations.iter().all(|e| e.passed)
    }
}

/// Runs `scn` with `seed`. Errors are problems only visible at run time (a
/// probe naming a Pod that was never created), reported at the step.
pub fn run(scn: &Scenario, seed: u64, opts: &RunOptions) -> Result<Outcome, InputError> {
    let end = opts.stop_at.unwrap_or(scn.until);
    let mut runner = Runner::start(scn.clone(), seed, opts.capture)?;
    runner.advance_to(end)?;
    Ok(runner.finish())
}

/// A scenario being played, one stretch of sim time at a time: what the TUI
/// uses to play forward without re-running from zero. Advancing to `t1` and
/// then to `t2` gives the same world, byte for byte, as advancing to `t2`
/// (tested), because steps run at their own times either way.
pub struct Runner {
    pub(super) scn: Scenario,
    pub(super) outcome: Outcome,
    pub(super) control: ControlState,
    /// Index of the first step not yet run.
    next_step: usize,
    /// ARP caches are warm (or need not be): see [`Runner::warm_up`].
    warm: bool,
}

impl Runner {
    /// The world at time zero: dataplanes programmed, agents started.
    pub fn start(scn: Scenario, seed: u64, capture: bool) -> Result<Runner, InputError> {
        let mut world = World::new(&scn.topology, seed);
        world.set_frame_logging(scn.frame_log);
        let warm = !scn.warm_start;
        if capture {
            world.enable_capture();
        }
        let mut cluster = ClusterState::from_topology(&scn.topology);
        engine::config::set_version(&mut cluster, scn.antrea_version.unwrap_or_default());
        cluster.egress.config.gratuitous_arp = scn.egress_gratuitous_arp;
        cluster.proxy.kube_proxy = scn.kube_proxy;
        for (dev, status) in &scn.http_status {
            if let Some(id) = world.device_id(dev)
                && let Some(stack) = world.stack_mut(id)
            {
                stack.http_status = *status;
            }
        }
        world.record(
            LogKind::Step,
            "",
            format!(
                "scenario `{}`, topology {}, seed {seed}",
                scn.name, scn.topology_file
            ),
        );
        if let Some(v) = scn.antrea_version {
            world.record(
                LogKind::Engine,
                "",
                format!("modelling Antrea {v}: its feature gates, defaults and behaviour"),
            );
        }
        world.set_dataplane_logging(false);
        let mut control = ControlState {
            flows: FlowExport::new(scn.start_unix),
            ..ControlState::default()
        };
        sync_dataplane(&mut world, &mut cluster, &scn, None, &mut control.proxy)?;
        world.set_dataplane_logging(true);
        world.record(
            LogKind::Engine,
            "",
            format!(
                "initial dataplane on {} nodes: routes to every other node's Pod CIDR, Pod masquerade (`show routes NODE` lists them)",
                cluster.nodes.len()
            ),
        );
        // Every node runs an antrea-agent; each joins all the others, or
        // (warm start) has long since converged on them.
        let peers = peers(&cluster);
        for n in &cluster.nodes {
            let id = world.device_id(&n.name).expect("nodes exist");
            if scn.warm_start {
                world.start_agent_converged(id, &peers);
                // The control plane acts on each agent's own view, so a node
                // that goes down stays in it until memberlist says otherwise.
                if let Some(view) = world.agent_view(id) {
                    cluster.views.insert(n.name.clone(), view);
                }
            } else {
                world.start_agent(id, &peers);
            }
        }
        if scn.warm_start {
            world.record(
                LogKind::Engine,
                "",
                format!(
                    "warm start: {} antrea-agents running, each memberlist already lists every node",
                    cluster.nodes.len()
                ),
            );
        }
        world.control_timer(SimTime::ZERO + REJOIN_PERIOD, REJOIN_TOKEN);
        control.lifecycle.reevaluate(&mut world, &cluster);
        Ok(Runner {
            scn,
            outcome: Outcome {
                world,
                cluster,
                seed,
                expectations: Vec::new(),
                flows: Vec::new(),
                flow_sessions: Vec::new(),
                flows_exported: 0,
            },
            control,
            next_step: 0,
            warm,
        })
    }

    /// From now on the event log goes to `sink` as it is recorded instead of
    /// being kept (what was recorded so far goes first): `antlab run` streams
    /// its timeline this way and holds no log.
    pub fn stream_log(&mut self, sink: Box<dyn crate::sim::log::LogSink>) {
        self.outcome.world.stream_log(sink);
    }

    /// Keep at most `n` flow records (default
    /// [`super::flow_export::MAX_KEPT_FLOW_RECORDS`]); `antlab run` keeps
    /// none, it only reports how many there were.
    pub fn keep_flow_records(&mut self, n: usize) {
        self.control.flows.keep = Some(n);
    }

    /// How much `--pcap` capture the run may keep (see
    /// [`crate::sim::CAPTURE_BUDGET`]).
    pub fn limit_capture(&mut self, bytes: usize) {
        self.outcome.world.set_capture_budget(bytes);
    }

    /// Flushes the log's sink; the first write error it hit, if any.
    pub fn flush_log(&mut self) -> std::io::Result<()> {
        self.outcome.world.flush_log()
    }

    /// Sim time reached so far.
    pub fn now(&self) -> SimTime {
        self.outcome.world.now()
    }

    /// The state so far (mid-run: no end-of-scenario lines, flow records not
    /// yet collected).
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// Runs every step at or before `t`, then the world to `t`. An earlier
    /// `t` than [`Runner::now`] does nothing: start a new runner to go back.
    pub fn advance_to(&mut self, t: SimTime) -> Result<(), InputError> {
        if t < self.now() {
            return Ok(());
        }
        while let Some(at) = self.scn.steps.get(self.next_step).map(|s| s.at) {
            if at > t {
                break;
            }
            if at > SimTime::ZERO {
                self.warm_up();
            }
            let scn = &self.scn;
            let step = &scn.steps[self.next_step];
            let o = &mut self.outcome;
            advance(
                scn,
                &mut o.world,
                &mut o.cluster,
                &mut self.control,
                step.at,
            )?;
            execute(
                scn,
                step,
                &mut o.world,
                &mut o.cluster,
                o.seed,
                &mut o.expectations,
                &mut self.control,
            )?;
            after_change(&mut o.world, &mut o.cluster, &mut self.control);
            self.next_step += 1;
        }
        if t > SimTime::ZERO {
            self.warm_up();
        }
        let o = &mut self.outcome;
        advance(
            &self.scn,
            &mut o.world,
            &mut o.cluster,
            &mut self.control,
            t,
        )
    }

    /// A warm start's ARP caches, filled once the 0 s steps have run (so
    /// the Egress IPs they place are known) and before time moves on.
    fn warm_up(&mut self) {
        if self.warm {
            return;
        }
        self.warm = true;
        let world = &mut self.outcome.world;
        let n = world.warm_arp();
        world.record(
            LogKind::Engine,
            "",
            format!("warm start: {n} ARP entries filled (gateways know the addresses on their subnets, hosts their gateways)"),
        );
    }

    /// Ends the run where it stands: the last flow records, the outage
    /// breakdown and the expectation summary go into the log.
    pub fn finish(mut self) -> Outcome {
        let end = self.now();
        let o = &mut self.outcome;
        let control = &mut self.control;
        control.flows.finish(end);
        o.flows = std::mem::take(&mut control.flows.records);
        o.flow_sessions = std::mem::take(&mut control.flows.sessions);
        o.flows_exported = control.flows.exported;
        if o.flows_exported > 0 {
            o.world.record(
                LogKind::Engine,
                "",
                format!(
                    "flow exporters exported {} record(s) (`antlab flows` lists them)",
                    o.flows_exported
                ),
            );
        }
        for line in outage_breakdown(&o.world, &control.incidents) {
            o.world.record(LogKind::Step, "", line);
        }
        let passed = o.expectations.iter().filter(|r| r.passed).count();
        let failed = o.expectations.len() - passed;
        o.world.record(
            LogKind::Step,
            "",
            format!("end of scenario: {passed} expectation(s) passed, {failed} failed"),
        );
        self.outcome
    }
}

fn step_error(scn: &Scenario, step: &Step, msg: impl Into<String>) -> InputError {
    InputError::new(&scn.file, step.line, step.column, msg)
}

/// What the control plane remembers between events.
#[derive(Default)]
pub(super) struct ControlState {
    /// Who held each Egress IP after the last change, to log moves.
    holders: BTreeMap<String, Vec<String>>,
    /// The controller's allocation retry: the next backoff (5 s doubling to
    /// 300 s, `pkg/controller/egress/controller.go`) and whether one is queued.
    backoff: Option<SimDuration>,
    retry_queued: bool,
    /// Egress failovers seen so far, for the outage breakdown.
    incidents: Vec<Incident>,
    /// The agents' flow exporters.
    flows: FlowExport,
    /// Each running agent's Egress conclusions (what it holds, the status
    /// it writes), kept between changes that touch only some views.
    agents: engine::egress_status::AgentSyncs,
    /// What compiles reuse while only memberlist views change (see
    /// [`engine::CompileCache`]).
    pub(super) proxy: engine::CompileCache,
    /// Which kubelets reach the API server; NotReady and Ready timers.
    lifecycle: NodeLifecycle,
}

/// One Egress losing its node and getting a new one.
#[derive(Clone, Debug)]
struct Incident {
    egress: String,
    old_node: String,
    lost_at: SimTime,
    /// First memberlist Leave about the old node, by any agent.
    detected_at: Option<SimTime>,
    assigned_at: Option<SimTime>,
    new_node: Option<String>,
}

const MIN_BACKOFF: SimDuration = SimDuration::from_secs(5);
const MAX_BACKOFF: SimDuration = SimDuration::from_secs(300);

const RETRY_TOKEN: u64 = 1;
const REJOIN_TOKEN: u64 = 2;
/// The flow exporters' conntrack poll (`flowExporter.flowPollInterval`).
const FLOW_POLL_TOKEN: u64 = 3;
/// Antrea's `RejoinNodes` period (`pkg/agent/memberlist/cluster.go`).
const REJOIN_PERIOD: SimDuration = SimDuration::from_secs(60);

fn peers(cluster: &ClusterState) -> Vec<(String, std::net::Ipv4Addr)> {
    cluster
        .nodes
        .iter()
        .map(|n| (n.name.clone(), n.ip))
        .collect()
}

/// Runs the world to `until`, letting the control plane react to every
/// memberlist change and timer on the way.
fn advance(
    scn: &Scenario,
    world: &mut World,
    cluster: &mut ClusterState,
    control: &mut ControlState,
    until: SimTime,
) -> Result<(), InputError> {
    loop {
        let events = world.run_to(until);
        if events.is_empty() {
            return Ok(());
        }
        let mut touched: BTreeSet<String> = BTreeSet::new();
        // Memberlist changes move only views; anything else may change what
        // the Service rules are compiled from.
        let only_views = events
            .iter()
            .all(|e| matches!(e, ControlEvent::Member { .. }));
        if !only_views {
            control.proxy.invalidate();
        }
        for e in events {
            match e {
                ControlEvent::Member { observer, event } => {
                    if let crate::engine::memberlist::MemberEvent::Leave(gone) = &event {
                        for inc in control.incidents.iter_mut() {
                            if &inc.old_node == gone && inc.detected_at.is_none() {
                                inc.detected_at = Some(world.now());
                            }
                        }
                    }
                    touched.insert(observer);
                }
                ControlEvent::Timer(RETRY_TOKEN) => {
                    control.retry_queued = false;
                    let lines = cluster.egress.retry_allocations();
                    for l in lines {
                        world.record(LogKind::Engine, "antrea-controller", l);
                    }
                    if !cluster.egress.pending() {
                        control.backoff = None;
                    }
                    touched.extend(cluster.nodes.iter().map(|n| n.name.clone()));
                }
                ControlEvent::Timer(REJOIN_TOKEN) => {
                    let peers = peers(cluster);
                    for n in &cluster.nodes {
                        if let Some(id) = world.device_id(&n.name) {
                            world.rejoin(id, &peers);
                        }
                    }
                    world.control_timer(world.now() + REJOIN_PERIOD, REJOIN_TOKEN);
                }
                ControlEvent::Timer(FLOW_POLL_TOKEN) => {
                    control.flows.scheduled = false;
                    if cluster.settings.flow_export_on() {
                        control.flows.tick(world, cluster, world.now());
                        schedule_flow_poll(world, cluster, control);
                    }
                }
                ControlEvent::Timer(t) if NodeLifecycle::owns(t) => {
                    if control.lifecycle.on_timer(t, world, cluster) {
                        touched.extend(cluster.nodes.iter().map(|n| n.name.clone()));
                    }
                }
                ControlEvent::Timer(_) => {}
            }
        }
        let powered = cluster
            .nodes
            .iter()
            .filter(|n| {
                world
                    .device_id(&n.name)
                    .is_some_and(|id| world.device(id).powered())
            })
            .count();
        for node in &touched {
            if let Some(id) = world.device_id(node)
                && let Some(view) = world.agent_view(id)
            {
                // A starting agent acts only once its join has synced the
                // member list (memberlist's Join is a synchronous push/pull);
                // until then it claims nothing.
                let joined = match cluster.views.get(node) {
                    Some(v) if !v.is_empty() => true,
                    _ => view.len() >= powered,
                };
                if joined {
                    cluster.views.insert(node.clone(), view);
                }
            }
        }
        sync_nodes(world, cluster, scn, Some(&touched), &mut control.proxy)?;
        after_change_of(world, cluster, control, only_views.then_some(&touched));
    }
}

/// Logs Egress moves and schedules allocation retries after any change.
/// Queues the flow exporters' next poll or export round, if they run; the
/// first tick (now) starts the agents.
fn schedule_flow_poll(world: &mut World, cluster: &ClusterState, control: &mut ControlState) {
    if cluster.settings.flow_export_on() && !control.flows.scheduled {
        control.flows.scheduled = true;
        let at = control.flows.next_tick(world.now());
        world.control_timer(at, FLOW_POLL_TOKEN);
    }
}

fn after_change(world: &mut World, cluster: &mut ClusterState, control: &mut ControlState) {
    after_change_of(world, cluster, control, None);
}

/// [`after_change`] when only the views of `views_of` may have changed
/// (`None`: anything may have).
fn after_change_of(
    world: &mut World,
    cluster: &mut ClusterState,
    control: &mut ControlState,
    views_of: Option<&BTreeSet<String>>,
) {
    schedule_flow_poll(world, cluster, control);
    let inputs = control.proxy.placement_inputs(cluster);
    control.agents.resync(cluster, inputs, views_of);
    let mut holders = control.agents.holders(cluster);
    for name in cluster.egress.egresses.keys() {
        let now_holders = holders.remove(name).unwrap_or_default();
        let before = control.holders.get(name).cloned().unwrap_or_default();
        if now_holders != before {
            let now = world.now();
            let is_static = engine::egress_static::is_static(&cluster.egress.egresses[name].spec);
            let old_node_down = before.len() == 1
                && world
                    .device_id(&before[0])
                    .is_some_and(|id| !world.device(id).powered());
            // A static Egress does not fail over: no incident to break down.
            if old_node_down && now_holders.is_empty() && !is_static {
                control.incidents.push(Incident {
                    egress: name.clone(),
                    old_node: before[0].clone(),
                    lost_at: now,
                    detected_at: None,
                    assigned_at: None,
                    new_node: None,
                });
            }
            if now_holders.len() == 1
                && let Some(inc) = control
                    .incidents
                    .iter_mut()
                    .rev()
                    .find(|i| &i.egress == name && i.assigned_at.is_none())
            {
                inc.assigned_at = Some(now);
                inc.new_node = Some(now_holders[0].clone());
            }
            let ip = cluster.egress.egresses[name]
                .ip
                .map_or("(none)".to_string(), |i| i.to_string());
            let msg = match now_holders.len() {
                0 if is_static => format!(
                    "Egress {name}: static IP {ip} is on no running Node (no failover without an ExternalIPPool)"
                ),
                0 => format!("Egress {name}: IP {ip} is assigned to no Node"),
                1 if is_static => {
                    format!("Egress {name}: static IP {ip} found on {}", now_holders[0])
                }
                1 => format!("Egress {name}: IP {ip} assigned to {}", now_holders[0]),
                _ => format!(
                    "Egress {name}: IP {ip} held by {} at once (views disagree)",
                    now_holders.join(" and ")
                ),
            };
            world.record(LogKind::Engine, "", msg);
            control.holders.insert(name.clone(), now_holders);
        }
    }
    // The agents' status updates, after the moves they describe.
    let writes = control
        .agents
        .writes(cluster, |n| control.lifecycle.reaches_api(cluster, n));
    for w in cluster.egress.apply_status_writes(writes) {
        world.record(
            LogKind::Engine,
            &w.by,
            format!("Egress {} status: {}", w.egress, w.status.describe()),
        );
    }
    if cluster.egress.pending() && !control.retry_queued {
        let next = match control.backoff {
            None => MIN_BACKOFF,
            Some(b) => SimDuration(b.as_nanos().saturating_mul(2)).min(MAX_BACKOFF),
        };
        control.backoff = Some(next);
        control.retry_queued = true;
        world.control_timer(world.now() + next, RETRY_TOKEN);
    }
}

/// Recomputes every node's desired dataplane and applies it to the powered ones.
pub(super) fn sync_dataplane(
    world: &mut World,
    cluster: &mut ClusterState,
    scn: &Scenario,
    step: Option<&Step>,
    proxy: &mut engine::CompileCache,
) -> Result<(), InputError> {
    sync_nodes(world, cluster, scn, None, proxy).map_err(|e| match step {
        Some(s) => step_error(scn, s, e.message),
        None => e,
    })
}

/// Applies the desired dataplane to `only` (or every) node that is up, and
/// keeps the Egress numbering each of their agents arrived at.
fn sync_nodes(
    world: &mut World,
    cluster: &mut ClusterState,
    scn: &Scenario,
    only: Option<&BTreeSet<String>>,
    proxy: &mut engine::CompileCache,
) -> Result<(), InputError> {
    let step: Option<&Step> = None;
    let wanted = |n: &str| only.is_none_or(|o| o.contains(n));
    let (dataplanes, mut ids) = engine::compile_nodes_realized(cluster, wanted, proxy);
    for (node, dp) in dataplanes {
        let id = world
            .device_id(&node)
            .expect("engine nodes come from the topology");
        if !world.device(id).powered() {
            continue;
        }
        if let Some(numbers) = ids.remove(&node) {
            cluster.egress.remember_agent_ids(&node, numbers);
        }
        world.apply_dataplane(id, &dp).map_err(|e| match step {
            Some(s) => step_error(scn, s, e),
            None => InputError::new(&scn.topology_file, 1, 1, e),
        })?;
    }
    Ok(())
}

pub(super) fn execute(
    scn: &Scenario,
    step: &Step,
    world: &mut World,
    cluster: &mut ClusterState,
    seed: u64,
    results: &mut Vec<ExpectResult>,
    control: &mut ControlState,
) -> Result<(), InputError> {
    let proxy = &mut control.proxy;
    // Powering a node off alters no Service input (it stays Ready until
    // node-monitor-grace-period passes); every other step may.
    if !matches!(step.action, Action::Power { on: false, .. }) {
        proxy.invalidate();
    }
    match &step.action {
        Action::Apply { source, objects } => {
            world.record(
                LogKind::Step,
                "",
                format!("apply {source}: {}", names(objects)),
            );
            for obj in objects {
                apply_object(scn, step, world, cluster, seed, obj)?;
            }
            sync_dataplane(world, cluster, scn, Some(step), proxy)?;
        }
        Action::Delete { source, objects } => {
            world.record(
                LogKind::Step,
                "",
                format!("delete {source}: {}", names(objects)),
            );
            for obj in objects {
                let lines = match obj {
                    Object::Egress(e) => cluster.egress.delete_egress(&e.meta.name),
                    Object::ExternalIPPool(p) => cluster.egress.delete_pool(&p.meta.name),
                    Object::Service(s) => cluster.delete_service(&format!(
                        "{}/{}",
                        obj.namespace().unwrap_or("default"),
                        s.meta.name
                    )),
                    Object::Other { kind, meta, .. }
                        if kind == "DaemonSet" && meta.name == "kube-proxy" =>
                    {
                        cluster.proxy.kube_proxy = None;
                        // The blog then restarts every node to flush kube-proxy's
                        // rules; antlab removes them with the DaemonSet.
                        vec![
                            "kube-proxy DaemonSet deleted: its rules are gone from every node"
                                .to_string(),
                        ]
                    }
                    other => vec![format!(
                        "deleting {} is not modelled; ignored",
                        other.display_name()
                    )],
                };
                for l in lines {
                    world.record(LogKind::Engine, "antrea-controller", l);
                }
            }
            sync_dataplane(world, cluster, scn, Some(step), proxy)?;
        }
        Action::Label {
            node,
            edits,
            annotate,
        } => {
            let verb = if *annotate { "annotate" } else { "label" };
            let n = cluster.node_mut(node).expect("checked at load");
            let map = if *annotate {
                &mut n.annotations
            } else {
                &mut n.labels
            };
            k8s::apply_label_edits(map, edits, true)
                .map_err(|e| step_error(scn, step, e.to_string()))?;
            let text: Vec<String> = edits
                .iter()
                .map(|e| match e {
                    k8s::LabelEdit::Set { key, value } => format!("{key}={value}"),
                    k8s::LabelEdit::Remove { key } => format!("{key}-"),
                })
                .collect();
            world.record(
                LogKind::Step,
                "",
                format!("kubectl {verb} node {node} {}", text.join(" ")),
            );
            sync_dataplane(world, cluster, scn, Some(step), proxy)?;
        }
        Action::Power { device, on } => {
            world.record(
                LogKind::Step,
                "",
                format!("power {} {device}", if *on { "on" } else { "off" }),
            );
            let id = world.device_id(device).expect("checked at load");
            world.set_power(id, *on);
            if let Some(n) = cluster.node_mut(device) {
                n.up = *on;
                if *on {
                    // The agent starts again: it joins the others and
                    // re-applies its state from its (fresh) view.
                    // An empty view: the agent claims nothing until its join
                    // has synced the member list.
                    cluster.views.insert(device.clone(), Vec::new());
                    cluster.egress.forget_agent(device);
                    let peers = peers(cluster);
                    world.start_agent(id, &peers);
                    // The kubelet re-creates the node's Pods.
                    control
                        .lifecycle
                        .power_on(world, cluster, device)
                        .map_err(|e| step_error(scn, step, e))?;
                    sync_dataplane(world, cluster, scn, Some(step), &mut control.proxy)?;
                }
            }
            // Any device's power can cut a kubelet off the API server.
            control.lifecycle.reevaluate(world, cluster);
        }
        Action::Link { port, up } => {
            world.record(
                LogKind::Step,
                "",
                format!("link {port} {}", if *up { "up" } else { "down" }),
            );
            let p = world
                .find_port(port)
                .ok_or_else(|| step_error(scn, step, format!("no port `{port}`")))?;
            world
                .set_link(p, *up)
                .map_err(|e| step_error(scn, step, e))?;
            control.lifecycle.reevaluate(world, cluster);
        }
        Action::StartProbe(p) => {
            let from = resolve_host(world, &p.from).map_err(|e| step_error(scn, step, e))?;
            let to = resolve_ip(world, &p.to).map_err(|e| step_error(scn, step, e))?;
            let spec = ProbeSpec {
                name: p.name.clone(),
                from,
                from_label: p.from.to_string(),
                to,
                to_label: p.to.to_string(),
                kind: p.kind.clone(),
                interval: p.interval,
                timeout: p.timeout,
                count: p.count,
            };
            world
                .start_probe(spec)
                .map_err(|e| step_error(scn, step, e))?;
        }
        Action::ClearArp(device) => {
            world.record(LogKind::Step, "", format!("clear ARP cache of {device}"));
            let id = world.device_id(device).expect("checked at load");
            if let Some(stack) = world.stack_mut(id) {
                stack.arp.clear();
            }
        }
        Action::Route {
            device,
            add,
            route,
            text,
        } => {
            world.record(
                LogKind::Step,
                "",
                format!(
                    "ip route {} {text} on {device}",
                    if *add { "add" } else { "del" }
                ),
            );
            let id = world.device_id(device).expect("checked at load");
            world
                .change_route(id, route, *add)
                .map_err(|e| step_error(scn, step, e))?;
        }
        Action::Vlan { port, mode, text } => {
            world.record(LogKind::Step, "", format!("reconfigure {port}: {text}"));
            let p = world
                .find_port(port)
                .ok_or_else(|| step_error(scn, step, format!("no port `{port}`")))?;
            world
                .set_port_vlan(p, mode.clone())
                .map_err(|e| step_error(scn, step, e))?;
        }
        Action::StopProbe(name) => world
            .stop_probe(name)
            .map_err(|e| step_error(scn, step, e))?,
        Action::Show(what) => {
            let text =
                render_show(world, cluster, scn, what).map_err(|e| step_error(scn, step, e))?;
            world.record(LogKind::Show, "", text.trim_end().to_string());
        }
        Action::Expect(list) => {
            for e in list {
                let (passed, message) = check(world, cluster, e);
                world.record(
                    LogKind::Expect,
                    "",
                    format!("{} {message}", if passed { "PASS" } else { "FAIL" }),
                );
                results.push(ExpectResult {
                    time: world.now(),
                    line: e.line,
                    column: e.column,
                    passed,
                    message,
                });
            }
        }
        Action::Say(text) => world.record(LogKind::Step, "", format!("# {text}")),
    }
    Ok(())
}

fn names(objects: &[Object]) -> String {
    objects
        .iter()
        .map(Object::display_name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn apply_object(
    scn: &Scenario,
    step: &Step,
    world: &mut World,
    cluster: &mut ClusterState,
    seed: u64,
    obj: &Object,
) -> Result<(), InputError> {
    let at = |msg: String| obj.meta().origin.error(msg);
    match obj {
        Object::Namespace(ns) => {
            cluster
                .namespaces
                .insert(ns.meta.name.clone(), ns.meta.labels.clone());
            cluster
                .namespace_annotations
                .insert(ns.meta.name.clone(), ns.meta.annotations.clone());
        }
        Object::Node(n) => {
            let node = cluster
                .node_mut(&n.meta.name)
                .ok_or_else(|| at(format!("node `{}` is not in the topology", n.meta.name)))?;
            for (k, v) in &n.meta.labels {
                node.labels.insert(k.clone(), v.clone());
            }
            for (k, v) in &n.meta.annotations {
                node.annotations.insert(k.clone(), v.clone());
            }
        }
        Object::Pod(p) => {
            let ns = obj.namespace().unwrap_or("default").to_string();
            create_pod(
                world,
                cluster,
                NewPod {
                    ns: &ns,
                    name: &p.meta.name,
                    labels: &p.meta.labels,
                    annotations: &p.meta.annotations,
                    spec: &p.spec,
                    ip: p.status.pod_ip,
                },
            )
            .map_err(at)?;
        }
        Object::Deployment(d) => {
            let ns = obj.namespace().unwrap_or("default").to_string();
            // Pod names as the ReplicaSet controller makes them:
            // <deployment>-<pod-template-hash>-<5 random chars>.
            const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
            let mut r = rng::stream(seed, &format!("deployment/{ns}/{}", d.meta.name));
            let hash: String = (0..10)
                .map(|_| ALPHABET[rng::below(&mut r, ALPHABET.len() as u64) as usize] as char)
                .collect();
            for _ in 0..d.replicas {
                let suffix: String = (0..5)
                    .map(|_| ALPHABET[rng::below(&mut r, ALPHABET.len() as u64) as usize] as char)
                    .collect();
                let name = format!("{}-{hash}-{suffix}", d.meta.name);
                create_pod(
                    world,
                    cluster,
                    NewPod {
                        ns: &ns,
                        name: &name,
                        labels: &d.template.labels,
                        annotations: &d.template.annotations,
                        spec: &d.template.spec,
                        ip: None,
                    },
                )
                .map_err(at)?;
            }
        }
        Object::ExternalIPPool(pool) => {
            let now = world.now().as_nanos() / 1_000_000_000;
            let lines = cluster
                .egress
                .apply_pool(pool, now)
                .map_err(|e| at(e.to_string()))?;
            for l in lines {
                world.record(LogKind::Engine, "antrea-controller", l);
            }
        }
        Object::Egress(egress) => {
            let now = world.now().as_nanos() / 1_000_000_000;
            let lines = cluster.egress.apply_egress(egress, now).map_err(at)?;
            for l in lines {
                world.record(LogKind::Engine, "antrea-controller", l);
            }
        }
        Object::ConfigMap(cm) if engine::config::is_antrea_config(obj) => {
            let applied = engine::config::apply_antrea_config(cluster, cm)?;
            // The agents restart with the new config: their Egress mark
            // and route table allocators start over.
            cluster.egress.forget_all_agents();
            for l in applied.lines {
                world.record(LogKind::Engine, "", l);
            }
            for w in applied.warnings {
                world.record(LogKind::Warn, "", w);
            }
        }
        Object::Service(svc) => {
            let now = world.now().as_nanos() / 1_000_000_000;
            let lines = cluster.apply_service(svc, now).map_err(at)?;
            for l in lines {
                world.record(LogKind::Engine, "", l);
            }
        }
        Object::ConfigMap(cm) if engine::config::is_kube_proxy_config(obj) => {
            let lines = engine::config::kube_proxy::apply(cluster, cm)?;
            for l in lines {
                world.record(LogKind::Engine, "", l);
            }
        }
        Object::ConfigMap(_) => {
            // Stored for the engine features that read them; say plainly that
            // they do not change the dataplane yet.
            world.record(
                LogKind::Warn,
                "",
                format!(
                    "{} accepted; antlab does not act on {} yet",
                    obj.display_name(),
                    obj.kind_name()
                ),
            );
        }
        Object::Other { kind, meta, .. } if kind == "DaemonSet" && meta.name == "kube-proxy" => {
            if cluster.proxy.kube_proxy.is_none() {
                cluster.proxy.kube_proxy = scn
                    .kube_proxy
                    .or(Some(crate::engine::proxy::KubeProxyMode::Iptables));
            }
            world.record(
                LogKind::Engine,
                "",
                "kube-proxy DaemonSet running on every node",
            );
        }
        Object::Other { kind, .. } => {
            world.record(
                LogKind::Warn,
                "",
                format!(
                    "{} ignored: kind {kind} is not modelled",
                    obj.display_name()
                ),
            );
        }
    }
    let _ = (scn, step);
    Ok(())
}

/// A Pod to create, from a Pod manifest or a Deployment's template.
struct NewPod<'a> {
    ns: &'a str,
    name: &'a str,
    labels: &'a indexmap::IndexMap<String, String>,
    annotations: &'a indexmap::IndexMap<String, String>,
    spec: &'a k8s::PodSpec,
    ip: Option<Ipv4Addr>,
}

fn create_pod(world: &mut World, cluster: &mut ClusterState, new: NewPod) -> Result<(), String> {
    let NewPod {
        ns,
        name,
        labels,
        annotations,
        spec,
        ip,
    } = new;
    // The Pod's annotation wins over its Namespace's (Antrea's L7 flow exporter).
    let l7 = annotations
        .get(L7_EXPORT_ANNOTATION)
        .or_else(|| {
            cluster
                .namespace_annotations
                .get(ns)
                .and_then(|a| a.get(L7_EXPORT_ANNOTATION))
        })
        .map(|v| parse_l7_direction(v))
        .transpose()?;
    // Every Pod in the cluster state is a device named `ns/name` (and the
    // world's name index answers without scanning every Pod).
    if world.device_id(&format!("{ns}/{name}")).is_some() {
        return Err(format!("Pod {ns}/{name} already exists"));
    }
    if spec.host_network {
        world.record(
            LogKind::Warn,
            "",
            format!(
                "Pod {ns}/{name} uses the host network; it is its node, not a separate endpoint"
            ),
        );
        return Ok(());
    }
    let node = match &spec.node_name {
        Some(n) => {
            cluster
                .node(n)
                .ok_or_else(|| format!("spec.nodeName `{n}` is not a node of the topology"))?;
            n.clone()
        }
        None => cluster.schedule_pod().ok_or("no node can run Pods")?,
    };
    let ip = match ip {
        Some(ip) => {
            if cluster.pod_ips.contains(&ip) {
                return Err(format!("status.podIP {ip} is already used by another Pod"));
            }
            ip
        }
        None => cluster.allocate_pod_ip(&node)?,
    };
    let listen: Vec<u16> = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().map(|p| p.container_port))
        .collect();
    let id = world
        .device_id(&node)
        .expect("cluster nodes exist in the world");
    world.add_pod(id, ns, name, ip, listen.clone())?;
    cluster.pod_ips.insert(ip);
    // Running at once (no image pull or readiness probe is modelled) if its
    // node is up and Ready.
    let ready = cluster.node(&node).is_some_and(|n| n.up && n.ready);
    cluster.pods.push(PodState {
        ready,
        namespace: ns.to_string(),
        name: name.to_string(),
        node,
        ip,
        labels: labels.clone(),
        tcp_listen: listen,
        l7_export: l7,
    });
    Ok(())
}

/// `visibility.antrea.io/l7-export` (pkg/agent/types/annotations.go).
pub const L7_EXPORT_ANNOTATION: &str = "visibility.antrea.io/l7-export";

/// ingress / egress / both, case-insensitive, as (egress, ingress).
fn parse_l7_direction(v: &str) -> Result<(bool, bool), String> {
    match v.to_ascii_lowercase().as_str() {
        "ingress" => Ok((false, true)),
        "egress" => Ok((true, false)),
        "both" => Ok((true, true)),
        _ => Err(format!(
            "annotation key {L7_EXPORT_ANNOTATION} can only have values (Ingress/Egress/Both), not {v:?}"
        )),
    }
}

fn resolve_host(world: &World, e: &Endpoint) -> Result<crate::model::DeviceId, String> {
    match e {
        Endpoint::Pod { namespace, name } => world
            .device_id(&format!("{namespace}/{name}"))
            .ok_or_else(|| {
                format!("Pod {namespace}/{name} does not exist (apply it in an earlier step)")
            }),
        Endpoint::Device(d) => world
            .device_id(d)
            .ok_or_else(|| format!("no device called `{d}`")),
        Endpoint::Ip(ip) => {
            for (i, d) in world.devices().iter().enumerate() {
                if let Some(s) = d.stack()
                    && matches!(d, DeviceRt::Host(_))
                    && s.is_local(*ip)
                {
                    return Ok(crate::model::DeviceId(i as u32));
                }
            }
            Err(format!("no host owns {ip}"))
        }
    }
}

fn resolve_ip(world: &World, e: &Endpoint) -> Result<Ipv4Addr, String> {
    match e {
        Endpoint::Ip(ip) => Ok(*ip),
        other => {
            let id = resolve_host(world, other)?;
            world
                .host_ip(id)
                .ok_or_else(|| format!("{other} has no IPv4 address"))
        }
    }
}

/// The text of a `show` step, also used by `antlab get`.
pub fn render_show(
    world: &mut World,
    cluster: &ClusterState,
    scn: &Scenario,
    what: &Show,
) -> Result<String, String> {
    Ok(match what {
        Show::Nodes => format!("kubectl get nodes\n{}", report::nodes(cluster)),
        Show::Pods => format!(
            "kubectl get pods -A -o wide\n{}",
            report::pods(cluster, world)
        ),
        Show::Probes => report::probes(world),
        Show::Links => report::links(world),
        Show::Topology => crate::topology::summary(&scn.topology),
        Show::Arp(d) => report::arp(world, d)?,
        Show::Mac(d) => report::mac(world, d)?,
        Show::Routes(d) => report::routes(world, d)?,
        Show::Dataplane(node) => {
            let all = engine::compile(cluster);
            let dp = all
                .get(node)
                .ok_or_else(|| format!("`{node}` is not a Kubernetes node"))?;
            format!(
                "desired dataplane of {node} (engine output)\n{}",
                serde_json::to_string_pretty(dp).map_err(|e| e.to_string())?
            )
        }
        Show::Trace(p) => report::trace(
            world
                .probe(p)
                .ok_or_else(|| format!("no probe called `{p}`"))?,
        ),
        Show::Egress(None) => format!(
            "kubectl get egress\n{}",
            report::egresses(cluster, world.now().as_nanos() / 1_000_000_000)
        ),
        Show::Egress(Some(name)) => report::egress_status(cluster, name)?,
        Show::ExternalIpPools => format!(
            "kubectl get externalippools\n{}",
            report::external_ip_pools(cluster, world.now().as_nanos() / 1_000_000_000)
        ),
        Show::Services => format!(
            "kubectl get svc -A\n{}",
            report::services(cluster, world.now().as_nanos() / 1_000_000_000)
        ),
        Show::ServiceExternalIps => format!(
            "antctl get serviceexternalip\n{}",
            report::service_external_ips(cluster)
        ),
        Show::Endpoints => format!("kubectl get endpoints -A\n{}", report::endpoints(cluster)),
        Show::Memberlist(node) => report::memberlist(world, cluster, node.as_deref())?,
    })
}

fn mac_of(world: &World, m: &MacRef) -> Result<crate::model::MacAddr, String> {
    match m {
        MacRef::Literal(mac) => Ok(*mac),
        MacRef::Iface(r) => {
            let (dev, ifname) = r.rsplit_once('/').ok_or("expected device/iface")?;
            let id = world
                .device_id(dev)
                .ok_or_else(|| format!("no device `{dev}`"))?;
            let s = world
                .device(id)
                .stack()
                .ok_or_else(|| format!("{dev} has no interfaces"))?;
            s.ifaces
                .iter()
                .find(|i| i.name == ifname)
                .map(|i| i.mac)
                .ok_or_else(|| format!("{dev} has no interface {ifname}"))
        }
    }
}

/// Evaluates one expectation now: (passed, what was expected and what was seen).
fn check(world: &mut World, cluster: &ClusterState, e: &Expectation) -> (bool, String) {
    match &e.kind {
        ExpectKind::Probe {
            probe,
            last_ok,
            reason,
            seen_source,
            via_vlan,
            not_via_vlan,
            max_outage,
            min_outage,
            handled_by,
            only_answered_by,
            min_answerers,
            reply_avoids,
            http_status,
        } => {
            let Some(p) = world.probe(probe) else {
                return (false, format!("probe {probe} does not exist"));
            };
            let mut problems = Vec::new();
            let mut said = Vec::new();
            let last = p.last_finished();
            if let Some(want) = last_ok {
                said.push(format!("last {}", if *want { "ok" } else { "fail" }));
                match last {
                    None => problems.push("no attempt has finished".to_string()),
                    Some(a) if a.ok() != *want => problems.push(match &a.verdict {
                        Verdict::Fail { reason } => format!("last attempt failed: {reason}"),
                        _ => "last attempt succeeded".to_string(),
                    }),
                    _ => {}
                }
            }
            if let Some(r) = reason {
                said.push(format!("reason contains \"{r}\""));
                match last.map(|a| &a.verdict) {
                    Some(Verdict::Fail { reason: got }) if got.contains(r.as_str()) => {}
                    Some(Verdict::Fail { reason: got }) => {
                        problems.push(format!("reason was \"{got}\""))
                    }
                    _ => problems.push("last attempt did not fail".into()),
                }
            }
            if let Some(src) = seen_source {
                said.push(format!("destination saw source {src}"));
                let got = last.and_then(|a| a.seen_src);
                if got != Some(*src) {
                    problems.push(format!(
                        "destination saw {}",
                        got.map_or("nothing".to_string(), |g| g.to_string())
                    ));
                }
            }
            let vlans = last.map(|a| a.request_vlans()).unwrap_or_default();
            if let Some(v) = via_vlan {
                said.push(format!("request crossed VLAN {v}"));
                if !vlans.contains(v) {
                    problems.push(format!("request crossed VLANs {vlans:?}"));
                }
            }
            if let Some(v) = not_via_vlan {
                said.push(format!("request avoided VLAN {v}"));
                if vlans.contains(v) {
                    problems.push(format!("request crossed VLANs {vlans:?}"));
                }
            }
            let stats = p.stats();
            if let Some(max) = max_outage {
                said.push(format!("longest outage <= {max}"));
                if stats.longest_outage > *max {
                    problems.push(format!("longest outage was {}", stats.longest_outage));
                }
            }
            if let Some(min) = min_outage {
                said.push(format!("longest outage >= {min}"));
                if stats.longest_outage < *min {
                    problems.push(format!("longest outage was {}", stats.longest_outage));
                }
            }
            if let Some(h) = handled_by {
                said.push(format!("load-balanced by {h}"));
                // The proxy writes "<name>: Service ..." into the path.
                let by: Vec<String> = last
                    .map(|a| {
                        a.path
                            .iter()
                            .filter(|hop| !hop.reply && hop.text.contains(": Service "))
                            .map(|hop| {
                                format!(
                                    "{} on {}",
                                    hop.text.split(": Service ").next().unwrap_or(""),
                                    hop.device
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if !by.iter().any(|b| b.starts_with(h.as_str())) {
                    problems.push(if by.is_empty() {
                        "no proxy load-balanced it".to_string()
                    } else {
                        format!("it was {}", by.join(", "))
                    });
                }
            }
            if let Some(n) = min_answerers {
                said.push(format!("answered by at least {n} hosts"));
                let answered: std::collections::BTreeSet<String> = p
                    .attempts
                    .iter()
                    .filter(|a| a.ok())
                    .filter_map(|a| a.seen_by.clone())
                    .collect();
                if answered.len() < *n {
                    problems.push(format!(
                        "answered by {}",
                        answered.into_iter().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
            if let Some(want) = http_status {
                said.push(format!("HTTP status {want}"));
                let got = last.and_then(|a| a.http_status);
                if got != Some(*want) {
                    problems.push(format!(
                        "HTTP status was {}",
                        got.map_or("none".to_string(), |g| g.to_string())
                    ));
                }
            }
            if let Some(dev) = reply_avoids {
                said.push(format!("reply bypassed {dev}"));
                let through =
                    last.is_some_and(|a| a.path.iter().any(|h| h.reply && &h.device == dev));
                if through {
                    problems.push(format!("the reply went through {dev}"));
                }
            }
            if let Some(allowed) = only_answered_by {
                said.push(format!("answered only by {}", allowed.join(", ")));
                let others: Vec<String> = p
                    .attempts
                    .iter()
                    .filter(|a| a.ok())
                    .filter_map(|a| a.seen_by.clone())
                    .filter(|b| !allowed.contains(b))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                if !others.is_empty() {
                    problems.push(format!("also answered by {}", others.join(", ")));
                }
            }
            let head = format!("probe {probe}: {}", said.join(", "));
            if problems.is_empty() {
                (true, head)
            } else {
                (false, format!("{head}; but {}", problems.join("; ")))
            }
        }
        ExpectKind::Arp {
            device,
            ip,
            mac,
            state,
        } => {
            let Some(id) = world.device_id(device) else {
                return (false, format!("no device {device}"));
            };
            let Some(stack) = world.device(id).stack() else {
                return (false, format!("{device} has no ARP cache"));
            };
            let row = stack.arp.lookup(world.now(), *ip);
            let want_mac = match mac.as_ref().map(|m| mac_of(world, m)).transpose() {
                Ok(m) => m,
                Err(e) => return (false, e),
            };
            let head = format!(
                "{device} ARP {ip}{}{}",
                want_mac.map_or(String::new(), |m| format!(" -> {m}")),
                state.as_ref().map_or(String::new(), |s| format!(" {s}"))
            );
            let got = row.as_ref().map_or("no entry".to_string(), |r| {
                format!(
                    "{} {}",
                    r.mac.map_or("(none)".into(), |m| m.to_string()),
                    r.state.name()
                )
            });
            let ok = match (state.as_deref(), &row) {
                (Some("absent"), r) => r.is_none(),
                (_, None) => false,
                (Some("present") | None, Some(r)) => want_mac.is_none_or(|m| r.mac == Some(m)),
                (Some(s), Some(r)) => {
                    r.state.name().eq_ignore_ascii_case(s)
                        && want_mac.is_none_or(|m| r.mac == Some(m))
                }
            };
            if ok {
                (true, head)
            } else {
                (false, format!("{head}; but found {got}"))
            }
        }
        ExpectKind::ServiceExternalIp { service, node, ip } => {
            let Some(s) = cluster.services.get(service) else {
                return (false, format!("Service {service} does not exist"));
            };
            let owners = engine::holders::external_ip_owners(cluster, service);
            let mut said = Vec::new();
            let mut problems = Vec::new();
            if let Some(want) = node {
                said.push(format!("owned by {}", want.as_deref().unwrap_or("no node")));
                let ok = match want {
                    None => owners.is_empty(),
                    Some(n) => owners.len() == 1 && &owners[0] == n,
                };
                if !ok {
                    problems.push(if owners.is_empty() {
                        "owned by no node".to_string()
                    } else {
                        format!("owned by {}", owners.join(" and "))
                    });
                }
            }
            if let Some(want) = ip {
                said.push(format!(
                    "external IP {}",
                    want.map_or("none".to_string(), |i| i.to_string())
                ));
                if s.lb_ip != *want {
                    problems.push(format!(
                        "external IP is {}",
                        s.lb_ip.map_or("none".to_string(), |i| i.to_string())
                    ));
                }
            }
            let head = format!("ServiceExternalIP of {service} {}", said.join(", "));
            if problems.is_empty() {
                (true, head)
            } else {
                (false, format!("{head}; but {}", problems.join("; ")))
            }
        }
        ExpectKind::Egress { name, node, ip } => {
            // The status as the agents wrote it (what `kubectl get egress`
            // shows), not who holds the IP right now.
            let Some(e) = cluster.egress.egresses.get(name) else {
                return (false, format!("Egress {name} does not exist"));
            };
            let status = &e.status;
            let mut said = Vec::new();
            let mut problems = Vec::new();
            if let Some(want) = node {
                said.push(format!("on {}", want.as_deref().unwrap_or("no node")));
                if status.egress_node != *want {
                    problems.push(format!(
                        "status.egressNode is {}",
                        status.egress_node.as_deref().unwrap_or("empty")
                    ));
                }
            }
            if let Some(want) = ip {
                said.push(format!(
                    "IP {}",
                    want.map_or("none".to_string(), |i| i.to_string())
                ));
                if status.egress_ip != *want {
                    problems.push(format!(
                        "status.egressIP is {}",
                        status
                            .egress_ip
                            .map_or("empty".to_string(), |i| i.to_string())
                    ));
                }
            }
            let head = format!("Egress {name} {}", said.join(", "));
            if problems.is_empty() {
                (true, head)
            } else {
                (false, format!("{head}; but {}", problems.join("; ")))
            }
        }
        ExpectKind::Mac {
            switch,
            vlan,
            mac,
            port,
            absent,
        } => {
            let Some(id) = world.device_id(switch) else {
                return (false, format!("no device {switch}"));
            };
            let want = match mac_of(world, mac) {
                Ok(m) => m,
                Err(e) => return (false, e),
            };
            let now = world.now();
            let rows = world.mac_rows(id, now).unwrap_or_default();
            let found = rows
                .iter()
                .find(|(r, _)| r.vlan == *vlan && r.mac == want)
                .map(|(_, p)| p.clone());
            let head = format!(
                "{switch} MAC table vlan {vlan} {want}{}",
                if *absent {
                    " absent".to_string()
                } else {
                    port.as_ref().map_or(String::new(), |p| format!(" on {p}"))
                }
            );
            let ok = match (absent, &found, port) {
                (true, f, _) => f.is_none(),
                (false, Some(f), Some(p)) => f == p,
                (false, Some(_), None) => true,
                (false, None, _) => false,
            };
            if ok {
                (true, head)
            } else {
                (
                    false,
                    format!(
                        "{head}; but found {}",
                        found.unwrap_or_else(|| "no entry".into())
                    ),
                )
            }
        }
    }
}

impl Outcome {
    /// Renders a `show` view of the final state.
    pub fn show(&mut self, scn: &Scenario, what: &Show) -> Result<String, String> {
        render_show(&mut self.world, &self.cluster, scn, what)
    }
}

/// Splits each Egress failover into detection (memberlist), reassignment
/// (the agent assigning the IP and announcing it) and convergence (until the
/// first probe through the Egress succeeds again), as seen by the probes.
fn outage_breakdown(world: &World, incidents: &[Incident]) -> Vec<String> {
    let mut out = Vec::new();
    for inc in incidents {
        let lost = inc.lost_at;
        let mut line = format!(
            "failover of Egress {} from {} at {}:",
            inc.egress, inc.old_node, lost
        );
        let Some(detected) = inc.detected_at else {
            line.push_str(" never detected by memberlist");
            out.push(line);
            continue;
        };
        line.push_str(&format!(" detection {}", detected.since(lost).human()));
        let Some(assigned) = inc.assigned_at else {
            line.push_str(", never reassigned (no Node available)");
            out.push(line);
            continue;
        };
        line.push_str(&format!(
            ", reassignment to {} {}",
            inc.new_node.as_deref().unwrap_or("?"),
            assigned.since(detected).human()
        ));
        // The first probe attempt sent after the reassignment that succeeded,
        // among the probes the loss broke (a node's own traffic that never
        // went through the Egress does not tell when the Egress recovered).
        let recovered = world
            .probes()
            .iter()
            .filter(|p| {
                p.attempts.iter().any(|a| {
                    a.sent >= lost && matches!(a.verdict, crate::sim::probe::Verdict::Fail { .. })
                })
            })
            .flat_map(|p| p.attempts.iter())
            .filter(|a| a.sent >= assigned && a.ok())
            .map(|a| a.sent)
            .min();
        match recovered {
            Some(r) => line.push_str(&format!(
                ", traffic back {} later (ARP convergence and probe interval); outage {}",
                r.since(assigned).human(),
                r.since(lost).human()
            )),
            None => line.push_str(", traffic never came back in this run"),
        }
        out.push(line);
    }
    out
}
