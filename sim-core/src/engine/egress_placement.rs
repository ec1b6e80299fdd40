//! What an agent's Egress placement reads from the cluster, and the
//! placement from one agent's view of the alive nodes: the bridge from
//! [`ClusterState`] to the scheduler of [`super::placement`].
//!
//! An agent keeps the inputs from its informers (each pool's eligible
//! nodes, the schedulable Egresses, per-node capacity); when a member comes
//! or goes only the rings of the alive eligible nodes and the scheduler run
//! again. Nodes are [`NodeId`]s; each ring still hashes the nodes' names
//! (hashed once, [`ClusterState`] keeps them) and inserts them in name order.

use std::collections::BTreeMap;
use std::net::IpAddr;

use indexmap::IndexMap;

use super::ClusterState;
use super::ids::{NodeId, NodeSet};
use super::placement::{Capacity, HashRing, SchedulableEgress, place_egresses, scheduling_order};

/// Where each schedulable Egress goes (by Egress name, in scheduling order):
/// its node, or `None` when no node is available.
pub type Placement = IndexMap<String, Option<NodeId>>;

/// Where every schedulable Egress goes, as an agent whose view of the alive
/// nodes is `alive` computes it.
pub fn placement(cluster: &ClusterState, alive: &NodeSet) -> Placement {
    PlacementInputs::new(cluster).place_afresh(cluster, alive)
}

/// What Egress placement reads from the cluster apart from an agent's view:
/// each pool's eligible nodes (Linux, matching its nodeSelector), the
/// schedulable Egresses and the per-node capacity. An agent keeps these
/// from its informers; when a member comes or goes only
/// [`PlacementInputs::place`] runs again: the rings of the alive eligible
/// nodes, then the scheduler.
#[derive(Clone, Debug)]
pub struct PlacementInputs {
    /// Each pool's eligible nodes, in name order (the ring's insertion order).
    pools: Vec<(String, Vec<NodeId>)>,
    schedulable: Vec<SchedulableEgress>,
    capacity: Capacity<NodeId>,
    /// Each placement entry's place among the cluster's Egresses: every
    /// placement lists the schedulable Egresses in the same (scheduling)
    /// order, whatever the view.
    placed_positions: Vec<usize>,
    /// Placements already computed, by view: agents that agree place alike,
    /// and after a failure most views change to the same one, one agent at
    /// a time. Bounded by [`PLACEMENT_MEMO_VIEWS`].
    /// Shared: every agent and every node's compile with that view reads
    /// the one copy.
    memo: std::cell::RefCell<BTreeMap<NodeSet, std::sync::Arc<Placement>>>,
}

/// Views whose placement [`PlacementInputs`] keeps (more are computed each
/// time they are asked for).
const PLACEMENT_MEMO_VIEWS: usize = 64;

impl PlacementInputs {
    pub fn new(cluster: &ClusterState) -> Self {
        let eg = &cluster.egress;
        let pools = eg
            .pools
            .names()
            .map(|name| {
                let pool = eg.pools.get(name).expect("named pool exists");
                let members = cluster
                    .nodes_by_name()
                    .filter(|n| n.joins_memberlist())
                    .filter(|n| pool.node_selector.matches(&n.labels))
                    .map(|n| n.id)
                    .collect();
                (name.to_string(), members)
            })
            .collect();
        let (positions, schedulable): (Vec<usize>, Vec<SchedulableEgress>) = eg
            .egresses
            .iter()
            .enumerate()
            .filter_map(|(i, (name, e))| {
                let s = SchedulableEgress {
                    name: name.clone(),
                    created: e.created,
                    ip: IpAddr::V4(e.ip?),
                    pool: e.spec.external_ip_pool.clone()?,
                };
                Some((i, s))
            })
            .unzip();
        let placed_positions = scheduling_order(&schedulable)
            .into_iter()
            .map(|k| positions[k])
            .collect();
        let mut capacity = Capacity::uniform(eg.config.max_egress_ips_per_node);
        for n in cluster.nodes() {
            if let Some(v) = n
                .annotations
                .get(super::placement::MAX_EGRESS_IPS_ANNOTATION)
            {
                capacity.set_from_annotation(n.id, v);
            }
        }
        PlacementInputs {
            pools,
            schedulable,
            capacity,
            placed_positions,
            memo: Default::default(),
        }
    }

    /// The placement an agent whose view is `alive` computes (`cluster`
    /// is the one these inputs were computed from; it gives each node's
    /// hashed ring keys).
    pub fn place(&self, cluster: &ClusterState, alive: &NodeSet) -> std::sync::Arc<Placement> {
        if let Some(p) = self.memo.borrow().get(alive) {
            return p.clone();
        }
        let placed = std::sync::Arc::new(self.place_afresh(cluster, alive));
        let mut memo = self.memo.borrow_mut();
        if memo.len() < PLACEMENT_MEMO_VIEWS {
            memo.insert(alive.clone(), placed.clone());
        }
        placed
    }

    /// Where each entry of a placement from these inputs is among the
    /// cluster's Egresses (`cluster.egress.egresses`), in placement order:
    /// a compile walks a placement without looking each name up.
    pub fn placed_positions(&self) -> &[usize] {
        &self.placed_positions
    }

    /// [`PlacementInputs::place`] computed again even when a view's
    /// placement is kept (what `antlab bench egress` times).
    pub fn place_afresh(&self, cluster: &ClusterState, alive: &NodeSet) -> Placement {
        let rings: BTreeMap<String, HashRing<NodeId>> = self
            .pools
            .iter()
            .map(|(name, members)| {
                let alive_members = members
                    .iter()
                    .filter(|&&n| alive.contains(n))
                    .map(|&n| (n, cluster.ring_hashes(n)));
                (name.clone(), HashRing::from_hashed(alive_members))
            })
            .collect();
        place_egresses(&self.schedulable, &rings, &self.capacity)
    }
}
