//! The bounds a scenario must stay within, so that every run `antlab check`
//! accepts ends, and fits in 2 GiB of memory. Each is checked when the
//! scenario is loaded (by `check`, `run`, `get` and the rest alike) and
//! refused at the value that goes past it, saying what the limit is.
//!
//! Why these numbers (measured on the project's machine, release build,
//! `/usr/bin/time` peak RSS of `antlab run` on `antlab gen` labs; README
//! "Limits"):
//! - sim time: a day. Nothing in these stories needs more, and a day of the
//!   blog's lab is about a minute of wall time.
//! - probes: an attempt every millisecond at most, 1,000 probes, and
//!   1,000,000 attempts in a run. Every attempt's verdict, send time and
//!   answerer are kept for the statistics (about 170 bytes each; a day of
//!   three probes of the blog lab, 690,000 attempts, peaks at 171 MB).
//! - the cluster: its state must fit 2 GiB, at its peak, which is while
//!   the 0 s manifests are applied (by admission or by the run). Since
//!   issue 16 what every node or agent would hold alike is held once
//!   (converged member lists over a shared roster, the peer Pod-CIDR
//!   routes and br-int peer lists as one set per cluster, the Service
//!   tables per zone), so the cluster grows with the devices (each Pod
//!   is a host with its own stack), the nodes (agent, conntrack, a
//!   dataplane each), the Services (one compile per zone) and their
//!   endpoints, and only a little with the square of the nodes (each
//!   agent's probe order, 4 bytes a peer). Services of type NodePort or
//!   LoadBalancer are counted once per node as well, at the cost a
//!   node's own compile of a Service had when each node compiled every
//!   Service (kube-proxy IPVS binds NodePorts to each node's addresses,
//!   so those Services are compiled per node there).
//!   [`Footprint`] adds these up with per-unit costs fitted to twelve
//!   `antlab gen` labs (bare nodes, 100,000 Pods on 400 nodes, 22,000
//!   Services on 250 nodes, and the ratios from 100 to 5,000
//!   nodes: 1.44 GiB at 5,000) and rounded: its estimates are 5-21 %
//!   above every measured peak (tested), and a scenario whose estimate
//!   passes [`MEMORY_BUDGET`] is refused. The 5,000-node lab is
//!   estimated at 1,643 MiB and fits; in the same ratios 5,200 nodes do
//!   not.
//! - br-int's programs (`options.brInt: pipeline`, the default): a node's
//!   br-int builds its compiled program when a frame first crosses it
//!   (`sim::World::defer_br_int_program`), about 100 flows plus two per
//!   peer node, a few per local Pod, and per Service its load-balancing
//!   flows and one per endpoint. The nodes share one parse of every flow
//!   they hold alike (`openflow::FlowInterner`), so a node's flow costs its
//!   entry and its classifier index, about 340-430 bytes with the shared
//!   parses spread over them (measured with every node's program built:
//!   the 100-node generated lab, about 300,000 flows, 167 MiB peak against
//!   42 MiB with br-int as a switch; 300 nodes, 2.6 million, 1,043 MiB
//!   against 180 MiB). Only probes send frames through br-int, so a
//!   scenario that starts none builds no program (a generated lab, which
//!   measures the control plane); once one starts, every node's program
//!   is counted, at 450 bytes a flow, and a large lab with probes is
//!   refused where one without fits.

use std::collections::BTreeMap;

use serde_saphyr::Spanned;

use super::step::{Action, Step};
use crate::input::InputError;
use crate::k8s::Object;
use crate::model::Topology;
use crate::time::{SimDuration, SimTime};

/// Sim time a run may last (`until`, and every step's `at`).
pub const MAX_SIM_TIME: SimDuration = SimDuration::from_secs(24 * 3600);
/// The shortest interval between a probe's attempts.
pub const MIN_PROBE_INTERVAL: SimDuration = SimDuration::from_millis(1);
/// Probe starts in one scenario.
pub const MAX_PROBES: usize = 1_000;
/// Attempts all probes together may send in one run.
pub const MAX_PROBE_ATTEMPTS: u64 = 1_000_000;
/// What a run's estimated state may add up to ([`Footprint::bytes`]),
/// leaving room under 2 GiB for what the estimate does not count.
pub const MEMORY_BUDGET: u64 = 1_700 * MIB;

const MIB: u64 = 1 << 20;

/// The parts of a run's memory that grow with the input, fitted to the
/// measurements in the module doc and rounded. Bytes per unit.
const BASE: u64 = 16 * MIB;
const PER_NODE_PAIR: u64 = 10;
const PER_NODE: u64 = 30_000;
const PER_DEVICE: u64 = 7_000;
const PER_SERVICE: u64 = 7_000;
/// A NodePort or LoadBalancer Service on one node (compiled per node
/// under kube-proxy IPVS).
const PER_NODE_PORT_SERVICE_NODE: u64 = 260;
const PER_ENDPOINT: u64 = 4_000;
const PER_EGRESS_NODE: u64 = 20;
/// One flow of one node's br-int program (pipeline mode): its entry, its
/// index, its share of the parses the nodes hold alike.
const PER_PIPELINE_FLOW: u64 = 450;

/// What a scenario asks the simulator to hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    pub nodes: u64,
    /// Topology devices and Pods (each Pod is a device).
    pub devices: u64,
    pub services: u64,
    /// Those of type NodePort or LoadBalancer.
    pub node_port_services: u64,
    /// An upper bound of all Services' endpoints together.
    pub endpoints: u64,
    pub egresses: u64,
    /// Whether every node's br-int builds its compiled program: in pipeline
    /// mode, once the scenario sends traffic (starts a probe). A br-int
    /// builds its program when a frame first crosses it, and nothing else
    /// sends frames through br-int.
    pub br_int_programs: bool,
}

impl Footprint {
    /// The flows of every node's br-int program together (zero when br-int
    /// is a switch): per node the fixed tables' flows, two per peer (its
    /// tunnel route and its gateway's ARP answer), three per Service, one
    /// per endpoint; six per Pod, on its own node.
    pub fn pipeline_flows(&self) -> u64 {
        if !self.br_int_programs {
            return 0;
        }
        let per_node = 100u64
            .saturating_add(self.nodes.saturating_mul(2))
            .saturating_add(self.services.saturating_mul(3))
            .saturating_add(self.endpoints);
        self.nodes
            .saturating_mul(per_node)
            .saturating_add(self.devices.saturating_mul(6))
    }

    /// The estimated peak memory of a run, in bytes.
    pub fn bytes(&self) -> u64 {
        let node_pairs = self.nodes.saturating_mul(self.nodes);
        let node_port_nodes = self.node_port_services.saturating_mul(self.nodes);
        let egress_nodes = self.egresses.saturating_mul(self.nodes);
        BASE.saturating_add(PER_NODE_PAIR.saturating_mul(node_pairs))
            .saturating_add(PER_NODE.saturating_mul(self.nodes))
            .saturating_add(PER_DEVICE.saturating_mul(self.devices))
            .saturating_add(PER_SERVICE.saturating_mul(self.services))
            .saturating_add(PER_NODE_PORT_SERVICE_NODE.saturating_mul(node_port_nodes))
            .saturating_add(PER_ENDPOINT.saturating_mul(self.endpoints))
            .saturating_add(PER_EGRESS_NODE.saturating_mul(egress_nodes))
            .saturating_add(PER_PIPELINE_FLOW.saturating_mul(self.pipeline_flows()))
    }
}

impl std::fmt::Display for Footprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} nodes, {} devices and Pods, {} Services{} with up to {} endpoints, {} Egresses{}: about {} MiB",
            self.nodes,
            self.devices,
            self.services,
            if self.node_port_services > 0 {
                format!(" ({} NodePort or LoadBalancer)", self.node_port_services)
            } else {
                String::new()
            },
            self.endpoints,
            self.egresses,
            if self.br_int_programs {
                format!(
                    ", about {} br-int flows (`options.brInt: switch` holds none)",
                    self.pipeline_flows()
                )
            } else {
                String::new()
            },
            self.bytes() / MIB
        )
    }
}

/// `until` or a step's `at`.
pub(super) fn sim_time(file: &str, what: &str, t: &Spanned<SimDuration>) -> Result<(), InputError> {
    if t.value > MAX_SIM_TIME {
        return Err(InputError::at_value(
            file,
            t,
            format!(
                "{what} {} is past the limit of {MAX_SIM_TIME} of sim time a run may last",
                t.value
            ),
        ));
    }
    Ok(())
}

/// A probe's `interval`.
pub(super) fn probe_interval(file: &str, i: &Spanned<SimDuration>) -> Result<(), InputError> {
    if i.value < MIN_PROBE_INTERVAL {
        return Err(InputError::at_value(
            file,
            i,
            format!(
                "probe interval {} is below the limit of {MIN_PROBE_INTERVAL} between attempts",
                i.value
            ),
        ));
    }
    Ok(())
}

/// What a whole scenario adds up to: its memory estimate (returned),
/// probes and their attempts. `steps` are in time order; `topology_at` is where the
/// scenario names its topology.
pub(super) fn totals<T>(
    file: &str,
    topology: &Topology,
    topology_at: &Spanned<T>,
    steps: &[Step],
    until: SimTime,
    br_int: crate::engine::dataplane::BrIntMode,
) -> Result<Footprint, InputError> {
    let at = |s: &Step, msg: String| InputError::new(file, s.line, s.column, msg);
    let mut size = Footprint {
        nodes: topology.nodes().count() as u64,
        devices: topology.devices.len() as u64,
        ..Footprint::default()
    };
    let pipeline = br_int == crate::engine::dataplane::BrIntMode::Pipeline;
    let too_big = |size: &Footprint| {
        format!(
            "{size}, past the {} MiB a run's state may take (runs must fit 2 GiB; the limits are in the README)",
            MEMORY_BUDGET / MIB
        )
    };
    if size.bytes() > MEMORY_BUDGET {
        return Err(InputError::at_value(
            file,
            topology_at,
            format!("the topology alone is {}", too_big(&size)),
        ));
    }
    // Every Pod of the scenario, so a Service's endpoints are bounded by
    // the Pods applied after it too.
    let mut labels = PodLabels::default();
    for s in steps {
        if let Action::Apply { objects, .. } = &s.action {
            for o in objects {
                labels.add_pods_of(o);
            }
        }
    }
    let mut pods = 0u64;
    let (mut probes, mut attempts) = (0usize, 0u64);
    for (i, s) in steps.iter().enumerate() {
        match &s.action {
            Action::Apply { objects, .. } => {
                for o in objects {
                    match o {
                        Object::Pod(_) => pods += 1,
                        Object::Deployment(d) => pods += u64::from(d.replicas),
                        Object::Egress(_) => size.egresses += 1,
                        Object::Service(svc) => {
                            size.services += 1;
                            if svc.service_type != crate::k8s::ServiceType::ClusterIp {
                                size.node_port_services += 1;
                            }
                            let ns = o.namespace().unwrap_or("default");
                            size.endpoints = size
                                .endpoints
                                .saturating_add(labels.at_most_matching(ns, &svc.selector));
                        }
                        _ => {}
                    }
                }
                size.devices = (topology.devices.len() as u64).saturating_add(pods);
                if size.bytes() > MEMORY_BUDGET {
                    return Err(at(
                        s,
                        format!("with this step the scenario has {}", too_big(&size)),
                    ));
                }
            }
            Action::StartProbe(p) => {
                if pipeline && !size.br_int_programs {
                    size.br_int_programs = true;
                    if size.bytes() > MEMORY_BUDGET {
                        return Err(at(
                            s,
                            format!(
                                "with this probe the br-ints build their programs, and the scenario has {}",
                                too_big(&size)
                            ),
                        ));
                    }
                }
                probes += 1;
                if probes > MAX_PROBES {
                    return Err(at(
                        s,
                        format!("more than {MAX_PROBES} probes are started; that is the limit"),
                    ));
                }
                // Until the next stopProbe of this name, or the end.
                let stop = steps[i + 1..]
                    .iter()
                    .find(|l| matches!(&l.action, Action::StopProbe(n) if *n == p.name))
                    .map_or(until, |l| l.at);
                let span = stop.since(s.at).as_nanos();
                // One attempt at the start, then one per interval.
                let mut n = span / p.interval.as_nanos().max(1) + 1;
                if let Some(c) = p.count {
                    n = n.min(u64::from(c));
                }
                attempts += n;
                if attempts > MAX_PROBE_ATTEMPTS {
                    return Err(at(
                        s,
                        format!(
                            "with this probe ({n} attempts, every {}) the probes would send {attempts} attempts; at most {MAX_PROBE_ATTEMPTS} fit a run (a longer interval, a `count` or a stopProbe)",
                            p.interval
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(size)
}

/// How many Pods carry each label, per namespace: an upper bound of a
/// selector's matches without matching every Pod (a Service selecting
/// `app=web,tier=fe` matches at most as many Pods as carry the rarer of
/// the two).
#[derive(Default)]
struct PodLabels {
    in_namespace: BTreeMap<String, u64>,
    with_label: BTreeMap<(String, String, String), u64>,
}

impl PodLabels {
    /// Counts the Pods `o` creates (a Pod, or a Deployment's replicas).
    fn add_pods_of(&mut self, o: &Object) {
        let (labels, n) = match o {
            Object::Pod(p) => (&p.meta.labels, 1),
            Object::Deployment(d) => (&d.template.labels, u64::from(d.replicas)),
            _ => return,
        };
        let ns = o.namespace().unwrap_or("default");
        let total = self.in_namespace.entry(ns.to_string()).or_default();
        *total = total.saturating_add(n);
        for (k, v) in labels {
            let c = self
                .with_label
                .entry((ns.to_string(), k.clone(), v.clone()))
                .or_default();
            *c = c.saturating_add(n);
        }
    }

    /// Pods that may match `selector` in `ns` (none without a selector:
    /// Kubernetes then manages no endpoints).
    fn at_most_matching(&self, ns: &str, selector: &indexmap::IndexMap<String, String>) -> u64 {
        if selector.is_empty() {
            return 0;
        }
        selector
            .iter()
            .map(|(k, v)| {
                self.with_label
                    .get(&(ns.to_string(), k.clone(), v.clone()))
                    .copied()
                    .unwrap_or(0)
            })
            .min()
            .unwrap_or(0)
            .min(self.in_namespace.get(ns).copied().unwrap_or(0))
    }
}
