//! An Egress's `status` as the antrea-agents write it, and which agents hold
//! its IP.
//!
//! Antrea's agents, not the controller, write `status.egressNode`,
//! `status.egressIP` and the `IPAssigned` condition
//! (`pkg/agent/controller/egress/egress_controller.go` v2.7.0 and v1.15.0,
//! `updateEgressStatus`), each from its own memberlist view:
//! - the agent that holds the IP writes `{egressNode: itself, egressIP,
//!   IPAssigned True "Assigned"}`;
//! - an agent whose view places the Egress on another node writes nothing;
//! - when its view has no node for the Egress (`no Node available`), or the
//!   Egress has no `spec.egressIP` at all, one agent writes the "unassigned"
//!   status `{egressNode: "", egressIP: ""}` (with `IPAssigned False
//!   AssignmentError` for a scheduling error, without the condition for an
//!   Egress that has no IP): the node its view selects for
//!   `spec.egressIP` ("" when unset) on the ring of all alive nodes (the ring
//!   under key "", `SelectNodeForIP(ip, "")`). An agent with an empty view
//!   (still joining) selects nobody and writes nothing.
//!
//! So between a node's power-off and the moment another agent takes the IP,
//! the status still names the dead node, as `kubectl get egress` would show;
//! with the agents' `Egress` gate off nobody writes anything.
//!
//! A static Egress (no pool, [`super::egress_static`]) is not scheduled:
//! the agent whose node has its IP on an interface holds it and writes
//! `{egressNode: itself, egressIP}` without a condition; every other agent
//! writes nothing, so after that node powers off its name stays for good.
//!
//! Every agent's conclusions are kept between changes ([`AgentSyncs`]); after
//! each change all running agents' writes are applied in node order, so the
//! last writer in node order wins where views disagree. (In a split brain
//! Antrea's agents keep overwriting each other: each write is an update
//! event that makes the other agents sync again.)

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::egress_placement::{Placement, PlacementInputs};
use super::egress_static;
use super::ids::{NodeId, NodeSet};
use super::placement::{HashRing, NO_NODE_AVAILABLE};
use super::{ClusterState, NodeState};

/// Condition of an Egress as `kubectl get egress -o yaml` would show it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

/// `status` of an Egress as the agents wrote it (the controller's
/// `IPAllocated` condition is kept apart, in `EgressState::allocated`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EgressStatus {
    /// `status.egressNode` ("" in the API when `None`).
    pub egress_node: Option<String>,
    /// `status.egressIP`, what `kubectl get egress` shows as EGRESSIP.
    pub egress_ip: Option<Ipv4Addr>,
    /// The `IPAssigned` condition.
    pub assigned: Option<Condition>,
}

impl EgressStatus {
    /// What the agent holding `ip` writes.
    pub fn assigned_to(node: &str, ip: Ipv4Addr) -> EgressStatus {
        EgressStatus {
            egress_node: Some(node.to_string()),
            egress_ip: Some(ip),
            assigned: Some(Condition {
                kind: "IPAssigned".into(),
                status: "True".into(),
                reason: "Assigned".into(),
                message: "EgressIP is successfully assigned to EgressNode".into(),
            }),
        }
    }

    /// What the agent whose node has a static Egress's IP writes: no
    /// `IPAssigned` condition, which is for schedulable Egresses.
    pub fn found_on(node: &str, ip: Ipv4Addr) -> EgressStatus {
        EgressStatus {
            egress_node: Some(node.to_string()),
            egress_ip: Some(ip),
            assigned: None,
        }
    }

    /// What the elected agent writes when no node holds the IP:
    /// `schedule_error` is the scheduler's error, `None` for an Egress that
    /// has no IP to schedule.
    pub fn unassigned(schedule_error: Option<&str>) -> EgressStatus {
        EgressStatus {
            egress_node: None,
            egress_ip: None,
            assigned: schedule_error.map(|err| Condition {
                kind: "IPAssigned".into(),
                status: "False".into(),
                reason: "AssignmentError".into(),
                message: format!("Failed to assign the IP to EgressNode: {err}"),
            }),
        }
    }

    /// One line for the event log.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "egressNode {}, egressIP {}",
            self.egress_node.as_deref().unwrap_or("\"\""),
            self.egress_ip
                .map_or("\"\"".to_string(), |ip| ip.to_string())
        );
        if let Some(c) = &self.assigned {
            s.push_str(&format!(", {} {} ({})", c.kind, c.status, c.message));
        }
        s
    }
}

/// What one agent concluded from its own view in its last sync.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct AgentSync {
    /// The Egresses whose IP it holds (its view places them on itself, or,
    /// for a static Egress, its node has the IP).
    holds: Vec<String>,
    /// The status updates it makes, by Egress, in scheduling order.
    writes: Vec<(String, EgressStatus)>,
}

/// A status update: who wrote what about which Egress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusWrite {
    pub(crate) by: NodeId,
    pub(crate) egress: String,
    pub(crate) status: EgressStatus,
}

/// A status update as an agent's last sync holds it (borrowed: most
/// updates repeat the status the Egress already has, and are not copied).
#[derive(Clone, Copy, Debug)]
pub struct StatusWriteRef<'a> {
    pub(crate) by: NodeId,
    pub(crate) egress: &'a str,
    pub(crate) status: &'a EgressStatus,
}

/// Every running agent's last sync, kept between changes so a change that
/// moves only some views re-syncs only those agents.
#[derive(Clone, Debug, Default)]
pub struct AgentSyncs {
    per_node: BTreeMap<NodeId, AgentSync>,
}

impl AgentSyncs {
    /// Syncs the agents of `views_of` (every agent when `None`) with their
    /// current views; a node that is down, or whose agent runs with the
    /// `Egress` gate off, has no Egress controller and so no sync. Agents
    /// whose views agree place alike, so each distinct view is placed once.
    pub fn resync(
        &mut self,
        cluster: &ClusterState,
        inputs: &PlacementInputs,
        views_of: Option<&NodeSet>,
    ) {
        if views_of.is_none() {
            self.per_node.clear();
        }
        let mut by_view: BTreeMap<NodeSet, ViewPlacement> = BTreeMap::new();
        for n in cluster.nodes() {
            if views_of.is_some_and(|v| !v.contains(n.id)) && self.per_node.contains_key(&n.id) {
                continue;
            }
            if !n.up || !cluster.egress.config.enabled {
                self.per_node.remove(&n.id);
                continue;
            }
            let view = cluster.view_of(n.id);
            let placed = match by_view.get_mut(view.as_ref()) {
                Some(p) => p,
                None => by_view
                    .entry(view.into_owned())
                    .or_insert_with_key(|v| ViewPlacement::new(inputs.place(cluster, v), v)),
            };
            let sync = sync_agent(cluster, n.id, placed);
            self.per_node.insert(n.id, sync);
        }
    }

    /// The nodes holding each Egress's IP (more than one: split brain), in
    /// node order; every Egress has an entry.
    pub fn holders<'a>(&self, cluster: &'a ClusterState) -> BTreeMap<&'a str, Vec<&'a str>> {
        let mut out: BTreeMap<&'a str, Vec<&'a str>> = cluster
            .egress
            .egresses
            .keys()
            .map(|k| (k.as_str(), Vec::new()))
            .collect();
        for n in cluster.nodes() {
            for e in self.per_node.get(&n.id).map_or(&[][..], |s| &s.holds) {
                if let Some(held) = out.get_mut(e.as_str()) {
                    held.push(&n.name);
                }
            }
        }
        out
    }

    /// Every running agent's status updates, in node order, from the
    /// agents `reaches_api` says can reach the API server.
    pub fn writes(
        &self,
        cluster: &ClusterState,
        reaches_api: impl Fn(&NodeState) -> bool,
    ) -> Vec<StatusWriteRef<'_>> {
        let mut out = Vec::new();
        for n in cluster.nodes().filter(|n| reaches_api(n)) {
            for (egress, status) in self.per_node.get(&n.id).map_or(&[][..], |s| &s.writes) {
                out.push(StatusWriteRef {
                    by: n.id,
                    egress,
                    status,
                });
            }
        }
        out
    }
}

/// One view's placement and, built when first needed, its ring of all
/// alive nodes (the key "" ring that elects the "unassigned" writer).
struct ViewPlacement {
    placed: Placement,
    view: NodeSet,
    all_nodes: Option<HashRing<NodeId>>,
}

impl ViewPlacement {
    fn new(placed: Placement, view: &NodeSet) -> ViewPlacement {
        ViewPlacement {
            placed,
            view: view.clone(),
            all_nodes: None,
        }
    }
}

/// The node `view` elects to write the status of an Egress whose
/// `spec.egressIP` is `key` (`SelectNodeForIP(key, "")`); `ring` caches
/// the view's ring of all alive nodes.
fn elected(
    cluster: &ClusterState,
    view: &NodeSet,
    ring: &mut Option<HashRing<NodeId>>,
    key: &str,
) -> Option<NodeId> {
    let ring = ring.get_or_insert_with(|| {
        // syncConsistentHash for key "": alive members that are Nodes, in
        // name order.
        HashRing::from_hashed(
            cluster
                .nodes_by_name()
                .filter(|n| view.contains(n.id))
                .map(|n| (n.id, cluster.ring_hashes(n.id))),
        )
    });
    ring.find(key, |_| true).copied()
}

fn sync_agent(cluster: &ClusterState, node: NodeId, vp: &mut ViewPlacement) -> AgentSync {
    let name = cluster.node(node).name.as_str();
    let mut sync = AgentSync::default();
    let ViewPlacement {
        placed,
        view,
        all_nodes,
    } = vp;
    for (egress, target) in placed.iter() {
        let Some(ip) = cluster.egress.egresses.get(egress).and_then(|e| e.ip) else {
            continue;
        };
        match *target {
            Some(t) if t == node => {
                sync.holds.push(egress.clone());
                sync.writes
                    .push((egress.clone(), EgressStatus::assigned_to(name, ip)));
            }
            Some(_) => {}
            None => {
                if elected(cluster, view, all_nodes, &ip.to_string()) == Some(node) {
                    sync.writes.push((
                        egress.clone(),
                        EgressStatus::unassigned(Some(NO_NODE_AVAILABLE)),
                    ));
                }
            }
        }
    }
    // Static Egresses: `IsLocalIP` alone decides; an agent without the IP
    // "does nothing".
    let me = cluster.node(node);
    for (egress, e) in &cluster.egress.egresses {
        if let Some(ip) = e.ip
            && egress_static::is_static(&e.spec)
            && egress_static::is_local(me, ip)
        {
            sync.holds.push(egress.clone());
            sync.writes
                .push((egress.clone(), EgressStatus::found_on(name, ip)));
        }
    }
    // Egresses without an IP are not scheduled; the agent elected for the
    // empty key clears their status.
    for (egress, e) in &cluster.egress.egresses {
        if e.ip.is_none() && elected(cluster, view, all_nodes, "") == Some(node) {
            sync.writes
                .push((egress.clone(), EgressStatus::unassigned(None)));
        }
    }
    sync
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_like_antreas() {
        let ip: Ipv4Addr = "1.1.1.1".parse().unwrap();
        let a = EgressStatus::assigned_to("node1", ip);
        assert_eq!(
            a.describe(),
            "egressNode node1, egressIP 1.1.1.1, IPAssigned True (EgressIP is successfully assigned to EgressNode)"
        );
        // TestSyncEgress "Exceed maxEgressIPsPerNode": empty node and IP,
        // AssignmentError "no Node available".
        let u = EgressStatus::unassigned(Some(NO_NODE_AVAILABLE));
        assert_eq!(u.egress_node, None);
        assert_eq!(u.egress_ip, None);
        let c = u.assigned.as_ref().unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str(), c.message.as_str()),
            (
                "False",
                "AssignmentError",
                "Failed to assign the IP to EgressNode: no Node available"
            )
        );
        // "Remove Egress IP": an Egress without IP gets an empty status.
        assert_eq!(EgressStatus::unassigned(None), EgressStatus::default());
    }
}
