//! What an agent's Egress placement reads from the cluster, and the
//! placement from one agent's view of the alive nodes: the bridge from
//! [`ClusterState`] to the scheduler of [`super::placement`].
//!
//! An agent keeps the inputs from its informers (each pool's eligible
//! nodes, the schedulable Egresses, per-node capacity); when a member comes
//! or goes only the rings of the alive eligible nodes and the scheduler run
//! again.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use indexmap::IndexMap;

use super::ClusterState;
use super::placement::{Capacity, HashRing, SchedulableEgress, place_egresses};

/// Where every schedulable Egress goes, as an agent whose view of the alive
/// nodes is `alive` computes it.
pub fn placement(cluster: &ClusterState, alive: &[String]) -> IndexMap<String, Option<String>> {
    PlacementInputs::new(cluster).place(alive)
}

/// What Egress placement reads from the cluster apart from an agent's view:
/// each pool's eligible nodes (Linux, matching its nodeSelector), the
/// schedulable Egresses and the per-node capacity. An agent keeps these
/// from its informers; when a member comes or goes only
/// [`PlacementInputs::place`] runs again: the rings of the alive eligible
/// nodes, then the scheduler.
#[derive(Clone, Debug)]
pub struct PlacementInputs {
    pools: Vec<(String, Vec<String>)>,
    schedulable: Vec<SchedulableEgress>,
    capacity: Capacity,
}

impl PlacementInputs {
    pub fn new(cluster: &ClusterState) -> Self {
        let eg = &cluster.egress;
        let pools = eg
            .pools
            .names()
            .map(|name| {
                let pool = eg.pools.get(name).expect("named pool exists");
                let members = cluster
                    .nodes
                    .iter()
                    .filter(|n| n.joins_memberlist())
                    .filter(|n| pool.node_selector.matches(&n.labels))
                    .map(|n| n.name.clone())
                    .collect();
                (name.to_string(), members)
            })
            .collect();
        let schedulable: Vec<SchedulableEgress> = eg
            .egresses
            .iter()
            .filter_map(|(name, e)| {
                Some(SchedulableEgress {
                    name: name.clone(),
                    created: e.created,
                    ip: IpAddr::V4(e.ip?),
                    pool: e.spec.external_ip_pool.clone()?,
                })
            })
            .collect();
        let mut capacity = Capacity::uniform(eg.config.max_egress_ips_per_node);
        for n in &cluster.nodes {
            if let Some(v) = n
                .annotations
                .get(super::placement::MAX_EGRESS_IPS_ANNOTATION)
            {
                capacity.set_from_annotation(&n.name, v);
            }
        }
        PlacementInputs {
            pools,
            schedulable,
            capacity,
        }
    }

    /// The placement an agent whose view is `alive` computes.
    pub fn place(&self, alive: &[String]) -> IndexMap<String, Option<String>> {
        // Agents' views are sorted (memberlist's Members()); search those,
        // index anything else.
        let sorted = alive.is_sorted();
        let set: BTreeSet<&str> = if sorted {
            BTreeSet::new()
        } else {
            alive.iter().map(String::as_str).collect()
        };
        let is_alive = |n: &str| {
            if sorted {
                alive.binary_search_by(|a| a.as_str().cmp(n)).is_ok()
            } else {
                set.contains(n)
            }
        };
        let rings: BTreeMap<String, HashRing> = self
            .pools
            .iter()
            .map(|(name, members)| {
                let alive_members = members.iter().filter(|n| is_alive(n));
                (name.clone(), HashRing::from_nodes(alive_members))
            })
            .collect();
        place_egresses(&self.schedulable, &rings, &self.capacity)
    }
}
