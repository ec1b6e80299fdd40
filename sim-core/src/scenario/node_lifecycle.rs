//! Kubernetes node lifecycle in a running scenario: when a node turns
//! NotReady, when it is Ready again, and what happens to its Pods.
//!
//! Decisions (and what they stand for):
//! - **Reaching the API server.** A kubelet keeps its node Ready by posting
//!   status (and renewing its lease) to the API server. antlab models "can
//!   post" as "the node is powered and has a physical path to a powered
//!   control-plane node": links that are up, through powered switches and
//!   routers ([`crate::sim::reach`]). A control-plane node reaches its own
//!   API server. A topology without control-plane nodes has its API server
//!   outside the lab, reachable while the node is powered. VLANs, addresses
//!   and routes are not checked: a misconfigured trunk does not cut a
//!   kubelet off.
//! - **NotReady.** A node that can no longer post (powered off, or cut off by
//!   a link or a dead switch) is marked NotReady by the node controller
//!   `node-monitor-grace-period` (40 s, kube-controller-manager's default)
//!   after it lost the path, if it has not come back by then; the controller then marks its Pods not ready
//!   (`MarkPodsNotReady`), so they leave the EndpointSlices.
//! - **Coming back without a reboot** (a link restored): the kubelet's next
//!   status update (`nodeStatusUpdateFrequency`, 10 s) makes the node Ready
//!   again, and its Pods, which kept running with their IPs, Ready with it.
//! - **Power on.** The machine reboots: every sandbox is gone. The kubelet
//!   re-creates each of the node's Pods (same Pod, new sandbox) through
//!   Antrea's CNI, whose host-local IPAM gives it the next free address
//!   after the last one it handed out, not its old one
//!   ([`crate::engine::pod_ipam`]). The node and its Pods are Ready
//!   [`KUBELET_STARTUP`] after power-on (kubelet start and first status
//!   post; no image pull or readiness probe is modelled), if the node can
//!   reach the API server by then. Until then the re-created Pods are not
//!   endpoints. antlab boots a machine instantly otherwise: the agent starts
//!   at power-on, as before.
//!
//! Timer tokens: `NOT_READY_TOKEN + i` and `READY_TOKEN + i` for node `i`.

use crate::engine::{ClusterState, NodeId, PodId};
use crate::sim::World;
use crate::sim::trace::LogKind;
use crate::time::{SimDuration, SimTime};

/// kube-controller-manager's `--node-monitor-grace-period` default.
pub const NODE_MONITOR_GRACE: SimDuration = SimDuration::from_secs(40);
/// The kubelet's `nodeStatusUpdateFrequency` default: a reconnected node
/// is Ready again at its next status update.
pub const NODE_STATUS_UPDATE: SimDuration = SimDuration::from_secs(10);
/// From power-on to the node and its re-created Pods being Ready.
pub const KUBELET_STARTUP: SimDuration = SimDuration::from_secs(10);

pub const NOT_READY_TOKEN: u64 = 1000;
pub const READY_TOKEN: u64 = 1_000_000_000;

/// Per node (by [`NodeId`]), since when its kubelet cannot reach the API
/// server.
#[derive(Clone, Debug, Default)]
pub struct NodeLifecycle {
    cut_since: Vec<Option<SimTime>>,
    /// When each node was last powered on.
    booted_at: Vec<Option<SimTime>>,
}

impl NodeLifecycle {
    /// Whether `token` is one of this module's timers.
    pub fn owns(token: u64) -> bool {
        token >= NOT_READY_TOKEN
    }

    /// Whether `node`'s agent and kubelet can write to the API server now.
    pub fn reaches_api(&self, node: NodeId) -> bool {
        self.cut_since
            .get(node.index())
            .copied()
            .flatten()
            .is_none()
    }

    /// After power or cabling changed: which kubelets lost or regained the
    /// API server, and the timers that follow.
    pub fn reevaluate(&mut self, world: &mut World, cluster: &ClusterState) {
        self.cut_since.resize(cluster.node_count(), None);
        self.booted_at.resize(cluster.node_count(), None);
        let ids: Vec<Option<crate::model::DeviceId>> = cluster.nodes().map(|n| n.device).collect();
        let control_plane: Vec<crate::model::DeviceId> = cluster
            .nodes()
            .zip(&ids)
            .filter(|(n, _)| n.control_plane)
            .filter_map(|(_, id)| *id)
            .collect();
        let reach = (!control_plane.is_empty())
            .then(|| crate::sim::reach::reachable_from(world, &control_plane));
        let now = world.now();
        for (i, (n, id)) in cluster.nodes().zip(&ids).enumerate() {
            let powered = id.is_some_and(|id| world.device(id).powered());
            let connected = powered
                && (n.control_plane
                    || reach
                        .as_ref()
                        .is_none_or(|r| id.is_some_and(|id| r.contains(&id))));
            match (connected, self.cut_since[i]) {
                (false, None) => {
                    self.cut_since[i] = Some(now);
                    world.control_timer(now + NODE_MONITOR_GRACE, NOT_READY_TOKEN + i as u64);
                }
                (true, Some(_)) => {
                    self.cut_since[i] = None;
                    let pods_waiting = cluster.pods_on(n.id).any(|p| !p.ready);
                    if !n.ready || pods_waiting {
                        // Just booted: the kubelet's start; else its next
                        // status update.
                        let delay = if self.booted_at[i] == Some(now) {
                            KUBELET_STARTUP
                        } else {
                            NODE_STATUS_UPDATE
                        };
                        world.control_timer(now + delay, READY_TOKEN + i as u64);
                    }
                }
                _ => {}
            }
        }
    }

    /// `node` was powered on: its kubelet re-creates its Pods with new
    /// sandbox IPs, not Ready until [`KUBELET_STARTUP`] has passed (the
    /// timer is set by the [`NodeLifecycle::reevaluate`] that follows, once
    /// the node is known to reach the API server).
    pub fn power_on(
        &mut self,
        world: &mut World,
        cluster: &mut ClusterState,
        node: &str,
    ) -> Result<(), String> {
        let Some(id) = cluster.node_id(node) else {
            return Ok(());
        };
        let pods: Vec<PodId> = cluster.pods_on(id).map(|p| p.id).collect();
        for p in pods {
            let old = cluster.pod(p).ip;
            let new = cluster.allocate_pod_ip(id)?;
            cluster.set_pod_ip(p, new);
            cluster.set_pod_ready(p, false);
            let pod = cluster.pod(p);
            let full = format!("{}/{}", pod.namespace, pod.name);
            // A re-created sandbox: the same Pod device with its new address.
            if let Some(id) = world.device_id(&full) {
                world.readdress_pod(id, new);
            }
            world.record(
                LogKind::Engine,
                node,
                format!(
                    "kubelet re-creates Pod {full}: new sandbox IP {new} (was {old}), not Ready yet"
                ),
            );
        }
        self.booted_at.resize(cluster.node_count(), None);
        self.booted_at[id.index()] = Some(world.now());
        Ok(())
    }

    /// Handles one of this module's timers; true if the cluster changed.
    pub fn on_timer(&mut self, token: u64, world: &mut World, cluster: &mut ClusterState) -> bool {
        let now = world.now();
        if token >= READY_TOKEN {
            let i = (token - READY_TOKEN) as usize;
            let Some(n) = cluster.nodes().nth(i) else {
                return false;
            };
            let connected = self.cut_since.get(i).copied().flatten().is_none();
            let pods_waiting = cluster.pods_on(n.id).any(|p| !p.ready);
            if !n.up || !connected || (n.ready && !pods_waiting) {
                return false;
            }
            let (id, name, was_ready) = (n.id, n.name.clone(), n.ready);
            cluster.set_node_ready(id, true);
            set_pods_ready(cluster, id, true);
            let what = if was_ready {
                "its Pods are Ready (their containers run again)".to_string()
            } else {
                format!("node {name} is Ready (its kubelet posted status); its Pods are Ready")
            };
            world.record(
                LogKind::Engine,
                &name,
                format!("kubelet: {what} and back in the EndpointSlices"),
            );
            return true;
        }
        let i = (token - NOT_READY_TOKEN) as usize;
        let Some(n) = cluster.nodes().nth(i) else {
            return false;
        };
        let overdue = self
            .cut_since
            .get(i)
            .copied()
            .flatten()
            .is_some_and(|since| now >= since + NODE_MONITOR_GRACE);
        if !overdue || !n.ready {
            return false;
        }
        let (id, name) = (n.id, n.name.clone());
        cluster.set_node_ready(id, false);
        set_pods_ready(cluster, id, false);
        world.record(
            LogKind::Engine,
            "kube-controller-manager",
            format!("node {name} is NotReady (no status for {NODE_MONITOR_GRACE}); its Pods leave the EndpointSlices"),
        );
        true
    }
}

/// Every Pod of `node` Ready or not.
fn set_pods_ready(cluster: &mut ClusterState, node: NodeId, ready: bool) {
    let pods: Vec<PodId> = cluster.pods_on(node).map(|p| p.id).collect();
    for p in pods {
        cluster.set_pod_ready(p, ready);
    }
}
