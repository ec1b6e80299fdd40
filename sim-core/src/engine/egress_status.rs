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

use std::collections::{BTreeMap, BTreeSet};
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

impl AgentSync {
    /// Its last update of `egress`'s status, if it makes one.
    fn write_for(&self, egress: &str) -> Option<&EgressStatus> {
        self.writes
            .iter()
            .rev()
            .find(|(e, _)| e == egress)
            .map(|(_, s)| s)
    }
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
/// moves only some views re-syncs only those agents; with, per Egress, the
/// nodes that hold it and the nodes that write its status, so that such a
/// change is judged by the Egresses it touched alone.
#[derive(Clone, Debug, Default)]
pub struct AgentSyncs {
    /// By node id; `None`: no Egress controller runs there.
    per_node: Vec<Option<AgentSync>>,
    /// Egress -> the nodes whose agents hold its IP, in node order.
    held_by: BTreeMap<String, Vec<NodeId>>,
    /// Egress -> the nodes whose agents write its status, in node order.
    written_by: BTreeMap<String, Vec<NodeId>>,
}

/// The Egresses a [`AgentSyncs::resync`] may have given other holders or
/// another last status write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Touched {
    /// Every Egress (every agent was synced afresh).
    All,
    /// Only these.
    Some(BTreeSet<String>),
}

impl Touched {
    /// The touched Egresses that exist, in the cluster's Egress order.
    pub fn in_order<'a>(&self, cluster: &'a ClusterState) -> Vec<&'a String> {
        match self {
            Touched::All => cluster.egress.egresses.keys().collect(),
            Touched::Some(set) => {
                let mut at: Vec<(usize, &String)> = set
                    .iter()
                    .filter_map(|name| cluster.egress.egresses.get_full(name))
                    .map(|(i, name, _)| (i, name))
                    .collect();
                at.sort_unstable_by_key(|(i, _)| *i);
                at.into_iter().map(|(_, name)| name).collect()
            }
        }
    }
}

impl AgentSyncs {
    /// Syncs the agents of `views_of` (every agent when `None`) with their
    /// current views; a node that is down, or whose agent runs with the
    /// `Egress` gate off, has no Egress controller and so no sync. Agents
    /// whose views agree place alike, so each distinct view is placed once.
    /// Returns the Egresses whose holders or writes may have changed.
    pub fn resync(
        &mut self,
        cluster: &ClusterState,
        inputs: &PlacementInputs,
        views_of: Option<&NodeSet>,
    ) -> Touched {
        let mut touched = BTreeSet::new();
        if views_of.is_none() {
            self.per_node.clear();
            self.held_by.clear();
            self.written_by.clear();
        }
        self.per_node.resize(cluster.node_count(), None);
        let mut by_view: BTreeMap<NodeSet, ViewPlacement> = BTreeMap::new();
        for n in cluster.nodes() {
            let i = n.id.index();
            if views_of.is_some_and(|v| !v.contains(n.id)) && self.per_node[i].is_some() {
                continue;
            }
            let sync = if !n.up || !cluster.egress.config.enabled {
                None
            } else {
                let view = cluster.view_of(n.id);
                let placed = match by_view.get_mut(view.as_ref()) {
                    Some(p) => p,
                    None => by_view
                        .entry(view.into_owned())
                        .or_insert_with_key(|v| ViewPlacement::new(inputs.place(cluster, v), v)),
                };
                Some(sync_agent(cluster, n.id, placed))
            };
            let old = std::mem::replace(&mut self.per_node[i], sync);
            self.reindex(n.id, old.as_ref(), &mut touched);
        }
        if views_of.is_none() {
            Touched::All
        } else {
            Touched::Some(touched)
        }
    }

    /// Moves `node` in the per-Egress indexes from its `old` sync to its
    /// current one, adding every Egress whose holders or writes differ to
    /// `touched`.
    fn reindex(&mut self, node: NodeId, old: Option<&AgentSync>, touched: &mut BTreeSet<String>) {
        let empty = AgentSync::default();
        let old = old.unwrap_or(&empty);
        let new = self.per_node[node.index()].as_ref().unwrap_or(&empty);
        if old == new {
            return;
        }
        for e in &old.holds {
            if !new.holds.contains(e) {
                unlist(&mut self.held_by, e, node);
                touched.insert(e.clone());
            }
        }
        for e in &new.holds {
            if !old.holds.contains(e) {
                list(&mut self.held_by, e, node);
                touched.insert(e.clone());
            }
        }
        for (e, status) in &old.writes {
            match new.write_for(e) {
                None => {
                    unlist(&mut self.written_by, e, node);
                    touched.insert(e.clone());
                }
                Some(s) if s != status => {
                    touched.insert(e.clone());
                }
                Some(_) => {}
            }
        }
        for (e, _) in &new.writes {
            if old.write_for(e).is_none() {
                list(&mut self.written_by, e, node);
                touched.insert(e.clone());
            }
        }
    }

    /// The nodes holding `egress`'s IP (more than one: split brain), in
    /// node order.
    pub fn holders_of<'a>(&self, cluster: &'a ClusterState, egress: &str) -> Vec<&'a str> {
        self.held_by.get(egress).map_or_else(Vec::new, |nodes| {
            nodes
                .iter()
                .map(|&n| cluster.node(n).name.as_str())
                .collect()
        })
    }

    /// The nodes holding each Egress's IP (more than one: split brain), in
    /// node order; every Egress has an entry.
    pub fn holders<'a>(&self, cluster: &'a ClusterState) -> BTreeMap<&'a str, Vec<&'a str>> {
        cluster
            .egress
            .egresses
            .keys()
            .map(|k| (k.as_str(), self.holders_of(cluster, k)))
            .collect()
    }

    /// The status updates of the `touched` Egresses that decide their
    /// status, from the agents `reaches_api` says can reach the API server:
    /// applying every running agent's updates in node order leaves each
    /// Egress with its last writer's, so that one alone is returned, placed
    /// where the Egress's first update falls in that order.
    pub fn writes(
        &self,
        cluster: &ClusterState,
        reaches_api: impl Fn(&NodeState) -> bool,
        touched: &Touched,
    ) -> Vec<StatusWriteRef<'_>> {
        let decide = |egress: &str, nodes: &[NodeId]| {
            let mut writers = nodes.iter().filter(|&&n| reaches_api(cluster.node(n)));
            let first = *writers.next()?;
            let last = writers.next_back().copied().unwrap_or(first);
            let sync = |n: NodeId| self.per_node[n.index()].as_ref().expect("a writer syncs");
            let at = sync(first).writes.iter().position(|(e, _)| e == egress)?;
            let status = sync(last).write_for(egress)?;
            let (egress, _) = self.written_by.get_key_value(egress)?;
            Some((
                (first, at),
                StatusWriteRef {
                    by: last,
                    egress,
                    status,
                },
            ))
        };
        let mut out: Vec<((NodeId, usize), StatusWriteRef<'_>)> = match touched {
            Touched::All => self
                .written_by
                .iter()
                .filter_map(|(e, nodes)| decide(e, nodes))
                .collect(),
            Touched::Some(set) => set
                .iter()
                .filter_map(|e| decide(e, self.written_by.get(e)?))
                .collect(),
        };
        out.sort_unstable_by_key(|(at, _)| *at);
        out.into_iter().map(|(_, w)| w).collect()
    }
}

/// Puts `node` in `egress`'s list, keeping node order.
fn list(index: &mut BTreeMap<String, Vec<NodeId>>, egress: &str, node: NodeId) {
    let nodes = match index.get_mut(egress) {
        Some(nodes) => nodes,
        None => index.entry(egress.to_string()).or_default(),
    };
    if let Err(at) = nodes.binary_search(&node) {
        nodes.insert(at, node);
    }
}

/// Takes `node` out of `egress`'s list; an emptied list goes.
fn unlist(index: &mut BTreeMap<String, Vec<NodeId>>, egress: &str, node: NodeId) {
    if let Some(nodes) = index.get_mut(egress) {
        nodes.retain(|&n| n != node);
        if nodes.is_empty() {
            index.remove(egress);
        }
    }
}

/// One view's placement and, built when first needed, its ring of all
/// alive nodes (the key "" ring that elects the "unassigned" writer).
struct ViewPlacement {
    placed: std::sync::Arc<Placement>,
    view: NodeSet,
    all_nodes: Option<HashRing<NodeId>>,
}

impl ViewPlacement {
    fn new(placed: std::sync::Arc<Placement>, view: &NodeSet) -> ViewPlacement {
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
        // Held by another node: nothing for this agent to hold or write
        // (checked before looking the Egress up, for most are elsewhere).
        if target.is_some_and(|t| t != node) {
            continue;
        }
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

    mod incremental {
        use super::super::*;
        use crate::engine::egress_placement::PlacementInputs;
        use crate::scale::{GenParams, egress_cluster};
        use proptest::prelude::*;

        /// A cluster of 9 nodes with 24 Egresses in 3 pools.
        fn cluster() -> ClusterState {
            egress_cluster(&GenParams {
                nodes: 9,
                pods: 0,
                services: 0,
                endpoints_per_service: 0,
                egresses: 24,
                pools: 3,
                seed: 5,
            })
            .expect("a generated cluster")
        }

        /// Every running agent's updates in node order, unreduced: what
        /// applying them one by one means.
        fn every_write<'a>(
            syncs: &'a AgentSyncs,
            cluster: &ClusterState,
            reaches_api: impl Fn(&NodeState) -> bool,
        ) -> Vec<StatusWriteRef<'a>> {
            let mut out = Vec::new();
            for n in cluster.nodes().filter(|n| reaches_api(n)) {
                let Some(sync) = &syncs.per_node[n.id.index()] else {
                    continue;
                };
                for (egress, status) in &sync.writes {
                    out.push(StatusWriteRef {
                        by: n.id,
                        egress,
                        status,
                    });
                }
            }
            out
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// Re-syncing only the agents whose views moved, and judging only
            /// the Egresses that touched, gives the holders, the status
            /// writes and their order that syncing every agent afresh gives.
            #[test]
            fn resyncing_the_moved_views_matches_syncing_every_agent(
                moves in proptest::collection::vec((0usize..9, any::<u16>()), 1..24),
            ) {
                let mut inc_cluster = cluster();
                let mut full_cluster = inc_cluster.clone();
                let inputs = PlacementInputs::new(&inc_cluster);
                let reaches = |n: &NodeState| n.id.index() % 4 != 3;
                let mut inc = AgentSyncs::default();
                let mut full = AgentSyncs::default();
                let first = inc.resync(&inc_cluster, &inputs, None);
                let w = inc.writes(&inc_cluster, reaches, &first);
                inc_cluster.egress.apply_status_writes(w);
                full.resync(&full_cluster, &inputs, None);
                let w = every_write(&full, &full_cluster, reaches);
                full_cluster.egress.apply_status_writes(w);
                for (node, bits) in moves {
                    // The node's view: the nodes whose bit is set (itself
                    // always), as memberlist would have it after some
                    // members were declared dead or came back.
                    let id = NodeId(node as u32);
                    let view: NodeSet = inc_cluster
                        .nodes()
                        .map(|n| n.id)
                        .filter(|n| *n == id || bits & (1 << n.index()) != 0)
                        .collect();
                    inc_cluster.set_view(id, view.clone());
                    full_cluster.set_view(id, view);
                    let only: NodeSet = [id].into_iter().collect();
                    let touched = inc.resync(&inc_cluster, &inputs, Some(&only));
                    full.resync(&full_cluster, &inputs, None);
                    prop_assert_eq!(inc.holders(&inc_cluster), full.holders(&full_cluster));
                    for name in touched.in_order(&inc_cluster) {
                        prop_assert_eq!(
                            inc.holders_of(&inc_cluster, name),
                            full.holders_of(&full_cluster, name)
                        );
                    }
                    let w = inc.writes(&inc_cluster, reaches, &touched);
                    let inc_changed = inc_cluster.egress.apply_status_writes(w);
                    let w = every_write(&full, &full_cluster, reaches);
                    let full_changed = full_cluster.egress.apply_status_writes(w);
                    prop_assert_eq!(inc_changed, full_changed);
                }
            }
        }
    }
}
