//! The control plane between steps: the world runs, memberlist changes and
//! timers come back as events, and the controller and agents react (Egress
//! moves and status writes, allocation retries, rejoins, flow export polls,
//! node lifecycle); then the changed nodes' dataplanes are applied.

use std::collections::BTreeMap;

use super::failover::Failovers;
use super::flow_export::FlowExport;
use super::load::step_error;
use super::load::{Scenario, Step};
use super::node_lifecycle::NodeLifecycle;
use crate::engine::{self, ClusterState, NodeSet};
use crate::input::InputError;
use crate::model::DeviceId;
use crate::sim::trace::LogKind;
use crate::sim::{ControlEvent, World};
use crate::time::{SimDuration, SimTime};

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
    pub(super) failovers: Failovers,
    /// The agents' flow exporters.
    pub(super) flows: FlowExport,
    /// Each running agent's Egress conclusions (what it holds, the status
    /// it writes), kept between changes that touch only some views.
    agents: engine::egress_status::AgentSyncs,
    /// What compiles reuse while only memberlist views change (see
    /// [`engine::CompileCache`]).
    pub(super) proxy: engine::CompileCache,
    /// Which kubelets reach the API server; NotReady and Ready timers.
    pub(super) lifecycle: NodeLifecycle,
}

impl ControlState {
    /// Each running agent's Egress conclusions, synced after every change.
    pub(super) fn agents(&self) -> &engine::egress_status::AgentSyncs {
        &self.agents
    }

    /// Nothing seen yet; the agents' flow exporters as `flows` says.
    pub(super) fn new(flows: FlowExport) -> ControlState {
        ControlState {
            flows,
            ..ControlState::default()
        }
    }
}

const MIN_BACKOFF: SimDuration = SimDuration::from_secs(5);
const MAX_BACKOFF: SimDuration = SimDuration::from_secs(300);

const RETRY_TOKEN: u64 = 1;
pub(super) const REJOIN_TOKEN: u64 = 2;
/// The flow exporters' conntrack poll (`flowExporter.flowPollInterval`).
const FLOW_POLL_TOKEN: u64 = 3;
pub(super) use crate::engine::memberlist::REJOIN_PERIOD;

/// Every node with its IP: whom a starting agent joins.
pub(super) fn peers(cluster: &ClusterState) -> Vec<(std::sync::Arc<str>, std::net::Ipv4Addr)> {
    cluster.peers()
}

/// The nodes the agent on `device` sees alive, or `None` if no agent runs
/// there: its members' names (memberlist's own ids mean nothing outside
/// that agent) mapped to the cluster's node ids.
pub(super) fn agent_view(
    world: &World,
    cluster: &ClusterState,
    device: DeviceId,
) -> Option<NodeSet> {
    let agent = world.agent(device)?;
    if let Some(set) = agent
        .alive_members_split()
        .and_then(|split| cluster.node_set_split(&split))
    {
        debug_assert_eq!(set, cluster.node_set_placed(agent.alive_members_placed()));
        return Some(set);
    }
    Some(cluster.node_set_placed(agent.alive_members_placed()))
}

/// Runs the world to `until`, letting the control plane react to every
/// memberlist change and timer on the way.
pub(super) fn advance(
    scn: &Scenario,
    world: &mut World,
    cluster: &mut ClusterState,
    control: &mut ControlState,
    until: SimTime,
) -> Result<(), InputError> {
    loop {
        let mut events = world.run_to(until);
        if events.is_empty() {
            return Ok(());
        }
        // Live Traceflow reports change only their Traceflow's status.
        events.retain(|e| match e {
            ControlEvent::Traceflow(name) => {
                super::traceflow::reported(world, cluster, name);
                false
            }
            _ => true,
        });
        if events.is_empty() {
            continue;
        }
        let mut touched = NodeSet::new();
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
                        control.failovers.left(gone, world.now());
                    }
                    if let Some(n) = cluster.node_id(&observer) {
                        touched.insert(n);
                    }
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
                    touched.extend(cluster.nodes().map(|n| n.id));
                }
                ControlEvent::Timer(REJOIN_TOKEN) => {
                    let peers = peers(cluster);
                    for n in cluster.nodes() {
                        if let Some(id) = n.device {
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
                ControlEvent::Timer(super::traceflow::TIMEOUT_TOKEN) => {
                    super::traceflow::check_timeouts(world, cluster);
                }
                ControlEvent::Timer(t) if NodeLifecycle::owns(t) => {
                    if control.lifecycle.on_timer(t, world, cluster) {
                        touched.extend(cluster.nodes().map(|n| n.id));
                    }
                }
                ControlEvent::Timer(_) | ControlEvent::Traceflow(_) => {}
            }
        }
        // How many nodes are powered: counted (n nodes) only when a
        // starting agent's view needs it.
        let mut powered = None;
        for node in touched.iter() {
            if let Some(id) = cluster.node(node).device
                && let Some(view) = agent_view(world, cluster, id)
            {
                // A starting agent acts only once its join has synced the
                // member list (memberlist's Join is a synchronous push/pull);
                // until then it claims nothing.
                let joined = match cluster.view(node) {
                    Some(v) if !v.is_empty() => true,
                    // A join whose push/pulls all ended (some may have
                    // failed) has returned too: the agent goes on with
                    // the view it has, alone if nothing answered.
                    _ => {
                        let powered = *powered.get_or_insert_with(|| {
                            cluster
                                .nodes()
                                .filter(|n| n.device.is_some_and(|id| world.device(id).powered()))
                                .count()
                        });
                        view.len() >= powered || world.agent(id).is_some_and(|a| !a.joining())
                    }
                };
                if joined {
                    cluster.set_view(node, view);
                }
            }
        }
        sync_nodes(world, cluster, scn, Some(&touched), &mut control.proxy)?;
        after_change_of(world, cluster, control, only_views.then_some(&touched));
    }
}

/// Queues the flow exporters' next poll or export round, if they run; the
/// first tick (now) starts the agents.
fn schedule_flow_poll(world: &mut World, cluster: &ClusterState, control: &mut ControlState) {
    if cluster.settings.flow_export_on() && !control.flows.scheduled {
        control.flows.scheduled = true;
        let at = control.flows.next_tick(world.now());
        world.control_timer(at, FLOW_POLL_TOKEN);
    }
}

/// Logs Egress moves and schedules allocation retries after any change.
pub(super) fn after_change(
    world: &mut World,
    cluster: &mut ClusterState,
    control: &mut ControlState,
) {
    after_change_of(world, cluster, control, None);
}

/// [`after_change`] when only the views of `views_of` may have changed
/// (`None`: anything may have).
fn after_change_of(
    world: &mut World,
    cluster: &mut ClusterState,
    control: &mut ControlState,
    views_of: Option<&NodeSet>,
) {
    schedule_flow_poll(world, cluster, control);
    let inputs = control.proxy.placement_inputs(cluster);
    // Only the Egresses whose holders or writes moved can log a move or a
    // new status: the others are as the last change left them.
    let touched = control.agents.resync(cluster, inputs, views_of);
    for name in touched.in_order(cluster) {
        let now_holders = control.agents.holders_of(cluster, name);
        let before = control.holders.get(name).map_or(&[][..], Vec::as_slice);
        if !now_holders
            .iter()
            .copied()
            .eq(before.iter().map(String::as_str))
        {
            let now_holders: Vec<String> = now_holders.into_iter().map(str::to_string).collect();
            let before = before.to_vec();
            let now = world.now();
            control.failovers.moved(now);
            let is_static = engine::egress_static::is_static(&cluster.egress.egresses[name].spec);
            let old_node_down = before.len() == 1
                && world
                    .device_id(&before[0])
                    .is_some_and(|id| !world.device(id).powered());
            // A static Egress does not fail over: no incident to break down.
            if old_node_down && now_holders.is_empty() && !is_static {
                control.failovers.lost(name, &before[0], now);
            }
            if now_holders.len() == 1 {
                control.failovers.assigned(name, &now_holders[0], now);
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
        .writes(cluster, |n| control.lifecycle.reaches_api(n.id), &touched);
    for w in cluster.egress.apply_status_writes(writes) {
        world.record(
            LogKind::Engine,
            &cluster.node(w.by).name,
            format!("Egress {} status: {}", w.egress, w.status.describe()),
        );
    }
    sync_bgp(world, cluster);
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

/// Brings every node's BGP speaker to its effective BGPPolicy (after the
/// Egress status writes, which say who advertises an Egress IP): a speaker
/// runs where the agent runs and the policy applies.
fn sync_bgp(world: &mut World, cluster: &ClusterState) {
    if !engine::bgp_policy::in_use(cluster) && world.node_speakers() == 0 {
        return;
    }
    for n in cluster.nodes() {
        let Some(id) = n.device else { continue };
        let config = engine::bgp_policy::speaker_config(cluster, n.id, world.agent(id).is_some());
        world.configure_bgp(id, config.as_ref());
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
    only: Option<&NodeSet>,
    proxy: &mut engine::CompileCache,
) -> Result<(), InputError> {
    let step: Option<&Step> = None;
    world.set_policy_catalog(std::sync::Arc::new(engine::policy::rules::catalog(cluster)));
    // Every rule resolved once for all the nodes of this sync.
    let policies = engine::policy::index::PolicyIndex::build(cluster);
    let wanted = |n: &engine::NodeState| only.is_none_or(|o| o.contains(n.id));
    let (dataplanes, mut ids) = engine::compile_nodes_realized(cluster, wanted, proxy);
    for (name, dp) in dataplanes {
        let node = cluster.node_id(&name).expect("engine nodes are nodes");
        let id = cluster
            .node(node)
            .device
            .expect("engine nodes come from the topology");
        if !world.device(id).powered() {
            continue;
        }
        if let Some(numbers) = ids.remove(&node) {
            cluster.egress.remember_agent_ids(node, numbers);
        }
        world.apply_dataplane(id, &dp).map_err(|e| match step {
            Some(s) => step_error(scn, s, e),
            None => InputError::new(&scn.topology_file, 1, 1, e),
        })?;
        if cluster.br_int_mode() == engine::dataplane::BrIntMode::Pipeline {
            load_br_int(world, cluster, node, id, &dp, &policies, proxy)
                .map_err(|e| InputError::new(&scn.topology_file, 1, 1, e))?;
        }
    }
    sync_external_nodes(world, cluster, &policies)
        .map_err(|e| InputError::new(&scn.topology_file, 1, 1, e))?;
    Ok(())
}

/// Every ExternalNode's agent program, on its VM's interface (a program
/// with the running one's rules keeps it); a VM whose ExternalNode is gone
/// gets its interface back.
fn sync_external_nodes(
    world: &mut World,
    cluster: &ClusterState,
    policies: &engine::policy::index::PolicyIndex,
) -> Result<(), String> {
    use engine::pipeline::{compile, external_node_spec, inspect};
    let mut running = Vec::new();
    for st in cluster.external_nodes.iter() {
        let Some(spec) = external_node_spec(cluster, st.name(), policies) else {
            continue;
        };
        let Some(host) = world.device_id(st.name()) else {
            continue;
        };
        let program = inspect::external_program(&compile(&spec))?;
        world.install_external_agent(host, &st.iface, program)?;
        running.push((host, st.iface.clone()));
    }
    world.retain_external_agents(&running);
    Ok(())
}

/// `options.brInt: pipeline`: installs node `node`'s br-int program, as
/// compiled from the dataplane just applied and the cluster state, into
/// the world, which builds it when br-int first needs it and keeps the
/// running one when its rules did not change. Pods map to their ofports by
/// identity; a Pod the world has no device for (yet) is left out. A
/// program whose spec and Pods are those of the program installed last is
/// not installed again (as real mode skips it). What the program depends
/// on (the spec) is captured now, so building it later builds this one;
/// compiling and parsing every node's program at every sync was most of a
/// large run's time, and a generated lab's br-ints carry no traffic.
fn load_br_int(
    world: &mut World,
    cluster: &ClusterState,
    node: engine::NodeId,
    id: DeviceId,
    dp: &engine::dataplane::NodeDataplane,
    policies: &engine::policy::index::PolicyIndex,
    cache: &mut engine::CompileCache,
) -> Result<(), String> {
    use engine::pipeline::{self, inspect};
    let spec = pipeline::lab_spec_indexed(cluster, node, dp, policies);
    let pods: Vec<(u32, String)> = pipeline::pods_by_ofport(cluster, node)
        .map(|(ofport, p)| (ofport, format!("{}/{}", p.namespace, p.name)))
        .filter(|(_, name)| world.device_id(name).is_some())
        .collect();
    // After a cold boot the br-int runs nothing and needs the program again.
    if cache.pipeline_unchanged(node, &spec, &pods) && world.br_int_runs_program(id) {
        return Ok(());
    }
    let tc_ports = spec.traffic_control_ports().to_vec();
    // One copy of the spec, for the cache's comparison and the build.
    let spec = std::sync::Arc::new(spec);
    let compiled = std::sync::Arc::clone(&spec);
    let build = Box::new(move |interner: &mut _| {
        inspect::program_shared(&pipeline::compile(&compiled), interner)
    });
    world.defer_br_int_program(id, build, cluster.node(node).ip, &pods, &tc_ports)?;
    cache.pipeline_loaded(node, spec, pods);
    Ok(())
}
