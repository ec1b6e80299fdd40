//! Plays a scenario: runs the world to each step's time, applies the step,
//! re-computes the engine's desired state, checks expectations.
//!
//! The rooms: this file is the timeline ([`Runner`]: steps at their times,
//! the world run between them, the end-of-run lines); [`super::control`] is
//! the control plane reacting to memberlist and timers; [`super::execute`]
//! carries out one step; [`super::apply`] applies Kubernetes objects and
//! creates Pods; [`super::show`] renders `show` views; [`super::judge`]
//! decides what an expectation means; [`super::failover`] breaks Egress
//! failovers down.

use super::control::{
    ControlState, REJOIN_PERIOD, REJOIN_TOKEN, advance, after_change, agent_view, peers,
    sync_dataplane,
};
use super::execute::execute;
use super::flow_export::FlowExport;
use super::load::Scenario;
pub use super::outcome::{ExpectResult, Outcome, RunOptions};
use crate::engine::{self, ClusterState};
use crate::input::InputError;
use crate::model::DeviceId;
use crate::sim::World;
use crate::sim::trace::LogKind;
use crate::time::SimTime;

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
        cluster.set_br_int_mode(scn.br_int);
        for (dev, status) in &scn.http_status {
            if let Some(id) = world.device_id(dev) {
                world.set_http_status(id, *status);
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
        let mut control = ControlState::new(FlowExport::new(scn.start_unix));
        sync_dataplane(&mut world, &mut cluster, &scn, None, &mut control.proxy)?;
        world.set_dataplane_logging(true);
        world.record(
            LogKind::Engine,
            "",
            format!(
                "initial dataplane on {} nodes: routes to every other node's Pod CIDR, Pod masquerade (`show routes NODE` lists them)",
                cluster.node_count()
            ),
        );
        // Every node runs an antrea-agent; each joins all the others, or
        // (warm start) has long since converged on them.
        let peers = peers(&cluster);
        let roster = crate::engine::memberlist::Roster::new(&peers);
        let nodes: Vec<(engine::NodeId, DeviceId)> = cluster
            .nodes()
            .map(|n| (n.id, n.device.expect("nodes exist")))
            .collect();
        for (node, id) in nodes {
            if scn.warm_start {
                world.start_agent_converged(id, &roster);
                // The control plane acts on each agent's own view, so a node
                // that goes down stays in it until memberlist says otherwise.
                if let Some(view) = agent_view(&world, &cluster, id) {
                    cluster.set_view(node, view);
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
                    cluster.node_count()
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

    /// Applies Traceflow `tf` now, as an `apply` step would: an injected
    /// packet runs at once, a live-traffic one watches as the run goes on.
    pub fn apply_traceflow(&mut self, tf: &crate::k8s::Traceflow) -> Result<(), String> {
        let o = &mut self.outcome;
        super::traceflow::apply(&mut o.world, &mut o.cluster, tf)
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

    /// When the control plane heard of a node leaving, and last moved an
    /// Egress IP, at or after `since`.
    pub fn control_news_since(&self, since: SimTime) -> super::failover::ControlNews {
        self.control.failovers.news_since(since)
    }

    /// The program node `node`'s br-int runs now, built if it was installed
    /// since br-int last needed it ([`World::br_int_program`]).
    pub fn br_int_program(&mut self, node: DeviceId) -> Option<&crate::openflow::Program> {
        self.outcome.world.br_int_program(node)
    }

    /// Runs every step at or before `t`, then the world to `t`. An earlier
    /// `t` than [`Runner::now`] does nothing: start a new runner to go back.
    pub fn advance_to(&mut self, t: SimTime) -> Result<(), InputError> {
        self.advance_steps(t, usize::MAX)
    }

    /// Runs every step before step `n` (those at its time written before
    /// it included) and the world to step `n`'s time, and stops there:
    /// the state step `n` would see. Step `n` runs with the next advance.
    pub fn advance_before_step(&mut self, n: usize) -> Result<(), InputError> {
        let Some(at) = self.scn.steps.get(n).map(|s| s.at) else {
            return self.advance_to(self.scn.until);
        };
        self.advance_steps(at, n)
    }

    /// Runs the steps at or before `t` with an index below `limit`, then the
    /// world to `t`.
    fn advance_steps(&mut self, t: SimTime, limit: usize) -> Result<(), InputError> {
        if t < self.now() {
            return Ok(());
        }
        while let Some(at) = self.scn.steps.get(self.next_step).map(|s| s.at) {
            if at > t || self.next_step >= limit {
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
        let probes = o.world.probes().iter().map(|p| p.attempts());
        for line in control.failovers.breakdown(probes) {
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
