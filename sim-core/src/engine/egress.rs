//! Egress: the controller's IP allocation and the agents' placement and
//! dataplane, as Antrea does them (`pkg/controller/egress/controller.go`,
//! `pkg/agent/controller/egress/egress_controller.go`, `ip_scheduler.go`,
//! `pkg/agent/route/route_linux.go`).
//!
//! Controller (one, cluster-wide, acts at once): allocates the Egress IP from its
//! ExternalIPPool (lowest free) or records the requested one; on failure the
//! Egress gets `IPAllocated=False/AllocationError` and is retried with backoff.
//!
//! Agents (one per node, each with its own memberlist view): place every
//! schedulable Egress on the per-pool consistent-hash ring of the nodes *it*
//! sees alive and matching the pool's nodeSelector. A node that places an Egress
//! on itself assigns the IP:
//! - with `subnetInfo.vlan` ≠ 0: on `antrea-ext.<vlan>` (a VLAN sub-interface of
//!   the transport interface) with the subnet's prefix, a route table 101..120
//!   per subnet (`<subnet> dev antrea-ext.<vlan>` and `default via <gateway>`),
//!   and `ip rule fwmark <mark>/0xff lookup <table>`;
//! - with `subnetInfo.vlan` = 0: on `antrea-egress0` with the prefix, table via
//!   the transport interface; without subnetInfo: on `antrea-egress0` as /32,
//!   main routing table;
//! - one gratuitous ARP per new assignment (configurable off, to reproduce
//!   antrea#5117);
//! - marks 1..255 per local Egress IP; selected Pods' packets get the mark, and
//!   `SNAT --to <egressIP>` matches it (inserted before the masquerade rule).
//!
//! A node whose Pods use an Egress placed elsewhere sends their external
//! traffic to the egress node (Antrea tunnels it; the lab routes it, noEncap
//! style): a mark per remote egress node and a route table with a default
//! route via that node. Marked packets are exempt from the node masquerade.
//!
//! A static Egress (no pool) is not placed: the node that has its IP
//! configured marks and SNATs, the others route to it the same way
//! ([`super::egress_static`]).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use indexmap::IndexMap;
use ipnet::Ipv4Net;

use super::dataplane::{
    AddrAssignment, DesiredMark, DesiredRoute, DesiredRule, DesiredSnat, NodeDataplane, SnatTo,
    VlanIface,
};
use super::egress_ids::AgentEgressIds;
/// Placement from one agent's view is part of the Egress API.
pub use super::egress_placement::{Placement, PlacementInputs, placement};
use super::egress_static::{self, StaticTarget};
use super::egress_status::{Condition, EgressStatus, StatusWrite, StatusWriteRef};
use super::ids::{NodeId, NodeSet, PodId};
use super::ippool::PoolSet;
use super::{ClusterState, NodeState, PodState};
use crate::k8s::{self, LabelSelector};

/// Antrea's dummy device for Egress IPs without a VLAN.
pub const EGRESS_DUMMY: &str = "antrea-egress0";
/// `vlanInterfacePrefix`.
pub const VLAN_PREFIX: &str = "antrea-ext.";
/// `types.MinRequestEgressRouteTable` .. `MaxRequestEgressRouteTable`.
pub const FIRST_EGRESS_TABLE: u32 = super::egress_ids::MIN_EGRESS_TABLE;
pub const LAST_EGRESS_TABLE: u32 = super::egress_ids::MAX_EGRESS_TABLE;
/// Tables the lab uses to send Pods' traffic to a remote egress node (Antrea
/// tunnels instead; see the module doc).
pub const FIRST_REMOTE_TABLE: u32 = 201;
/// Egress marks live in the low byte (`SNATIPMarkMask = 0xFF`); the lab's
/// "to a remote egress node" marks use the next byte.
pub const MARK_MASK: u32 = 0xff;
pub const REMOTE_MARK_SHIFT: u32 = 8;
pub const REMOTE_MARK_MASK: u32 = 0xff00;

#[derive(Clone, Debug)]
pub struct EgressState {
    /// The manifest as applied (with `egressIP` dropped once the controller
    /// patched it out of the API object, when its pool went away).
    pub(crate) spec: k8s::Egress,
    /// Creation order stand-in for `creationTimestamp` (sim seconds at apply).
    pub(crate) created: u64,
    /// `spec.egressIP` as the API has it: the user's request, or the IP the
    /// controller allocated and patched in. With a pool it makes the Egress
    /// schedulable (`isEgressSchedulable`), whether or not the controller
    /// could record the allocation; without one it is a static Egress's IP.
    pub ip: Option<Ipv4Addr>,
    /// The controller's record of the allocation (its `ipAllocationMap`):
    /// the IP counts as used in the pool and is released with the Egress.
    tracked: bool,
    /// The controller's `IPAllocated` condition; a static Egress has none.
    pub allocated: Option<Condition>,
    /// What the agents wrote ([`super::egress_status`]).
    pub status: EgressStatus,
}

impl EgressState {
    /// Whether the controller holds the IP in its pool for this Egress.
    pub fn allocation_recorded(&self) -> bool {
        self.tracked
    }

    /// Whether the controller still has to allocate for it: a pool Egress
    /// whose allocation it has not recorded.
    fn awaits_allocation(&self) -> bool {
        !egress_static::is_static(&self.spec) && !self.tracked
    }
}

/// Options a scenario can change.
#[derive(Clone, Debug)]
pub struct EgressConfig {
    /// `egress.maxEgressIPsPerNode` (default 255).
    pub(crate) max_egress_ips_per_node: u32,
    /// Send one gratuitous ARP per new assignment (Antrea ≥ v1.12.1 / PR #5127).
    pub(crate) gratuitous_arp: bool,
    /// Feature gate EgressSeparateSubnet (Alpha, off by default in v1.15):
    /// off means subnetInfo is ignored and the IP goes on antrea-egress0.
    pub(crate) separate_subnet: bool,
    /// Feature gate Egress (Beta, on by default): off means Egresses are ignored.
    pub(crate) enabled: bool,
    /// `egress.exceptCIDRs`: destinations Egress-selected Pods reach without
    /// the Egress (no mark, so no SNAT to the Egress IP and no detour to the
    /// Egress node; they leave with their own node's masquerade).
    pub(crate) except_cidrs: Vec<Ipv4Net>,
}

impl Default for EgressConfig {
    fn default() -> Self {
        EgressConfig {
            max_egress_ips_per_node: 255,
            gratuitous_arp: true,
            separate_subnet: false,
            enabled: true,
            except_cidrs: Vec::new(),
        }
    }
}

/// Everything Egress-related the engine knows.
#[derive(Clone, Debug, Default)]
pub struct EgressWorld {
    pub pools: PoolSet,
    pub egresses: IndexMap<String, EgressState>,
    pub(crate) config: EgressConfig,
    /// Creation time (sim seconds) of each pool, for AGE.
    pub(crate) pool_created: IndexMap<String, u64>,
    /// Each running agent's Egress marks and route tables (see
    /// [`super::egress_ids`]); a node without an entry starts from scratch.
    agent_ids: BTreeMap<NodeId, AgentEgressIds>,
}

impl EgressWorld {
    /// The numbering `node`'s agent has given its Egress IPs so far.
    pub fn agent_ids(&self, node: NodeId) -> Option<&AgentEgressIds> {
        self.agent_ids.get(&node)
    }

    /// Keeps what a compile arrived at as the agent's numbering.
    pub fn remember_agent_ids(&mut self, node: NodeId, ids: AgentEgressIds) {
        self.agent_ids.insert(node, ids);
    }

    /// The agent on `node` (re)starts: its allocators start over.
    pub fn forget_agent(&mut self, node: NodeId) {
        self.agent_ids.remove(&node);
    }

    /// Every agent restarts (an `antrea-config` change).
    pub fn forget_all_agents(&mut self) {
        self.agent_ids.clear();
    }

    /// Admits and applies an ExternalIPPool (create or update), then retries
    /// Egresses waiting for an IP from it. Returns log lines.
    pub fn apply_pool(
        &mut self,
        pool: &k8s::ExternalIPPool,
        created: u64,
    ) -> Result<Vec<String>, super::ippool::PoolError> {
        self.pools.apply(pool)?;
        self.pool_created
            .entry(pool.meta.name.clone())
            .or_insert(created);
        Ok(self.retry_allocations())
    }

    /// Deletes a pool: Egresses using it lose their IP. Antrea's controller
    /// patches `spec.egressIP` to null (a requested IP too) and reports the
    /// pool missing (`syncEgressIP`, `pkg/controller/egress/controller.go`).
    pub fn delete_pool(&mut self, name: &str) -> Vec<String> {
        let mut lines = Vec::new();
        if self.pools.delete(name).is_none() {
            return lines;
        }
        self.pool_created.shift_remove(name);
        for (ename, e) in self.egresses.iter_mut() {
            if e.spec.external_ip_pool.as_deref() == Some(name) && e.ip.is_some() {
                e.ip = None;
                e.spec.egress_ip = None;
                e.tracked = false;
                let cond = alloc_error(&format!("ExternalIPPool {name} does not exist"));
                lines.push(format!("Egress {ename}: IP released, {}", cond.message));
                e.allocated = Some(cond);
            }
        }
        lines
    }

    /// Webhook checks and controller allocation for an Egress (create/update).
    pub fn apply_egress(
        &mut self,
        egress: &k8s::Egress,
        created: u64,
    ) -> Result<Vec<String>, String> {
        let name = egress.meta.name.clone();
        // pkg/controller/egress/validate.go
        let old = self.egresses.get(&name).map(|o| &o.spec);
        super::admission::validate_egress(egress, old, &self.pools)?;
        // An update whose IP or pool changed releases the previous
        // allocation first; re-applying a manifest without `egressIP` keeps
        // the one the controller patched in (kubectl apply leaves fields it
        // did not set).
        let old = self.egresses.get(&name);
        let created = old.map_or(created, |o| o.created);
        let (ip, tracked) = match old {
            Some(o)
                if o.spec.external_ip_pool == egress.external_ip_pool
                    && egress.egress_ip.is_none_or(|n| Some(n) == o.ip) =>
            {
                (o.ip, o.tracked)
            }
            Some(o) => {
                if let (true, Some(ip), Some(pool)) =
                    (o.tracked, o.ip, o.spec.external_ip_pool.clone())
                {
                    let _ = self.pools.release(&pool, ip);
                }
                (egress.egress_ip, false)
            }
            None => (egress.egress_ip, false),
        };
        let (allocated, status) = match self.egresses.get(&name) {
            Some(o) => (o.allocated.clone(), o.status.clone()),
            None => (
                Some(alloc_error("waiting for allocation")),
                EgressStatus::default(),
            ),
        };
        // Only pool Egresses have the condition; one left from a pool goes
        // (`updateEgressAllocatedCondition`, pkg/controller/egress/controller.go).
        let allocated = allocated.filter(|_| !egress_static::is_static(egress));
        self.egresses.insert(
            name.clone(),
            EgressState {
                spec: egress.clone(),
                created,
                ip,
                tracked,
                allocated,
                status,
            },
        );
        Ok(self.allocate(&name))
    }

    pub fn delete_egress(&mut self, name: &str) -> Vec<String> {
        match self.egresses.shift_remove(name) {
            Some(e) => {
                if let (true, Some(ip), Some(pool)) =
                    (e.tracked, e.ip, e.spec.external_ip_pool.as_deref())
                {
                    let _ = self.pools.release(pool, ip);
                }
                // Waiting Egresses get the freed IP at their next retry, not now.
                vec![format!("Egress {name} deleted")]
            }
            None => Vec::new(),
        }
    }

    /// One allocation attempt for `name` (`syncEgressIP`,
    /// `pkg/controller/egress/controller.go` v2.7.0).
    fn allocate(&mut self, name: &str) -> Vec<String> {
        let e = &self.egresses[name];
        if e.tracked {
            return Vec::new();
        }
        // A static Egress: "Skip allocating EgressIP if ExternalIPPool is
        // not specified and return whatever user specifies".
        let Some(pool) = e.spec.external_ip_pool.clone() else {
            return Vec::new();
        };
        let pool_exists = self.pools.allocator(&pool).is_some();
        let result = if !pool_exists {
            Err(format!("ExternalIPPool {pool} does not exist"))
        } else {
            match e.ip {
                // A requested IP the pool cannot give (taken, reserved): the
                // Egress keeps it and the agents still schedule it ("the
                // datapath may still work, we just don't track the IP
                // allocation"); the controller retries.
                Some(ip) => self.pools.allocate_ip(&pool, ip).map(|_| ip).map_err(|err| {
                    format!(
                        "error when allocating IP {ip} for Egress {name} from ExternalIPPool {pool}: {err}"
                    )
                }),
                None => self
                    .pools
                    .allocate_next(&pool)
                    .map_err(|err| err.to_string()),
            }
        };
        let e = self.egresses.get_mut(name).expect("exists");
        match result {
            Ok(ip) => {
                e.ip = Some(ip);
                e.tracked = true;
                e.allocated = Some(Condition {
                    kind: "IPAllocated".into(),
                    status: "True".into(),
                    reason: "Allocated".into(),
                    message: "EgressIP is successfully allocated".into(),
                });
                vec![format!(
                    "Egress {name}: allocated {ip} from ExternalIPPool {pool}"
                )]
            }
            Err(err) => {
                if !pool_exists {
                    // The IP is reclaimed from the API object.
                    e.ip = None;
                    e.spec.egress_ip = None;
                }
                let cond = alloc_error(&err);
                let fresh = e.allocated.as_ref() != Some(&cond);
                let line = format!("Egress {name}: {}", cond.message);
                e.allocated = Some(cond);
                if fresh { vec![line] } else { Vec::new() }
            }
        }
    }

    /// Retries every Egress whose allocation the controller has not
    /// recorded (the controller's requeue).
    pub fn retry_allocations(&mut self) -> Vec<String> {
        let waiting: Vec<String> = self
            .egresses
            .iter()
            .filter(|(_, e)| e.awaits_allocation())
            .map(|(n, _)| n.clone())
            .collect();
        waiting.iter().flat_map(|n| self.allocate(n)).collect()
    }

    /// Egresses that still need the controller to retry.
    pub fn pending(&self) -> bool {
        self.egresses.values().any(EgressState::awaits_allocation)
    }

    /// Applies the agents' status updates in order (the last writer wins)
    /// and returns, per Egress whose status ended up different, its last
    /// write.
    pub fn apply_status_writes(&mut self, writes: Vec<StatusWriteRef<'_>>) -> Vec<StatusWrite> {
        // Each Egress ends with its last write; it changed if that differs
        // from what it had (writes in between are overwritten).
        let mut last: IndexMap<&str, StatusWriteRef<'_>> = IndexMap::new();
        for w in writes {
            if self.egresses.contains_key(w.egress) {
                last.insert(w.egress, w);
            }
        }
        let mut changed = Vec::new();
        for (name, w) in last {
            let e = self.egresses.get_mut(name).expect("checked above");
            if e.status != *w.status {
                e.status = w.status.clone();
                changed.push(StatusWrite {
                    by: w.by,
                    egress: name.to_string(),
                    status: w.status.clone(),
                });
            }
        }
        changed
    }
}

fn alloc_error(err: &str) -> Condition {
    Condition {
        kind: "IPAllocated".into(),
        status: "False".into(),
        reason: "AllocationError".into(),
        message: format!("Cannot allocate EgressIP from ExternalIPPool: {err}"),
    }
}

/// The nodes an Egress's Pods live on, and the Pods, per Antrea's appliedTo rules.
pub fn selected_pods<'a>(cluster: &'a ClusterState, egress: &k8s::Egress) -> Vec<&'a PodState> {
    selected_pod_ids(cluster, egress)
        .into_iter()
        .map(|id| cluster.pod(id))
        .collect()
}

/// [`selected_pods`] by id, in creation order.
pub fn selected_pod_ids(cluster: &ClusterState, egress: &k8s::Egress) -> Vec<PodId> {
    pods_applied_to(cluster, &egress.applied_to)
}

/// The Pods an Egress's or a TrafficControl's `appliedTo` selects, in
/// creation order: both selectors must match, a missing one matches all,
/// and an appliedTo with neither selects nothing (Antrea's Egress
/// controller and the TrafficControl controller's `filterPods` alike).
pub fn pods_applied_to(cluster: &ClusterState, at: &k8s::AppliedTo) -> Vec<PodId> {
    if at.pod_selector.is_none() && at.namespace_selector.is_none() {
        return Vec::new(); // an empty appliedTo selects nothing
    }
    cluster
        .pods()
        .filter(|p| applies_to(cluster, at, p))
        .map(|p| p.id)
        .collect()
}

/// Whether `at` (not empty) selects Pod `p`: both selectors match, a
/// missing one matches all.
fn applies_to(cluster: &ClusterState, at: &k8s::AppliedTo, p: &PodState) -> bool {
    let everything = LabelSelector::default();
    let no_labels = IndexMap::new();
    at.pod_selector
        .as_ref()
        .unwrap_or(&everything)
        .matches(&p.labels)
        && at
            .namespace_selector
            .as_ref()
            .unwrap_or(&everything)
            .matches(cluster.namespaces.get(&p.namespace).unwrap_or(&no_labels))
}

/// What every node's Egress dataplane is computed from, shared across the
/// nodes of one compile: each Egress's selected Pods, and the placement of
/// each distinct view (agents that agree place alike). Computing these per
/// node made a compile of every node cost nodes x Egresses x Pods.
pub struct EgressInputs<'a> {
    /// Each Egress's selected Pods ([`selected_ids`]) and the nodes they
    /// run on ([`pod_nodes`]), computed once while the Pods stay.
    selected: std::borrow::Cow<'a, [(String, Vec<PodId>)]>,
    pod_nodes: std::borrow::Cow<'a, [NodeSet]>,
    placement: std::borrow::Cow<'a, PlacementInputs>,
    placements: BTreeMap<NodeSet, std::sync::Arc<Placement>>,
    /// [`exempt_dsts`], computed once and shared by every mark.
    exempt: Option<Arc<[Ipv4Net]>>,
    /// Each compiled node's Egress numbering after this compile.
    realized: BTreeMap<NodeId, AgentEgressIds>,
}

impl<'a> EgressInputs<'a> {
    pub fn new(cluster: &'a ClusterState) -> Self {
        let selected = selected_ids(cluster);
        let nodes = pod_nodes(cluster, &selected);
        Self::build(
            cluster,
            std::borrow::Cow::Owned(selected),
            std::borrow::Cow::Owned(nodes),
            None,
        )
    }

    /// From [`selected_ids`], [`pod_nodes`] and [`PlacementInputs`]
    /// computed earlier for the same cluster state (a compile cache keeps
    /// them while only views change); `None` computes the placement inputs.
    pub fn from_ids(
        cluster: &'a ClusterState,
        selected: &'a [(String, Vec<PodId>)],
        nodes: &'a [NodeSet],
        placement: Option<&'a PlacementInputs>,
    ) -> Self {
        Self::build(
            cluster,
            std::borrow::Cow::Borrowed(selected),
            std::borrow::Cow::Borrowed(nodes),
            placement,
        )
    }

    fn build(
        cluster: &'a ClusterState,
        selected: std::borrow::Cow<'a, [(String, Vec<PodId>)]>,
        pod_nodes: std::borrow::Cow<'a, [NodeSet]>,
        placement: Option<&'a PlacementInputs>,
    ) -> Self {
        EgressInputs {
            placement: match placement {
                Some(p) => std::borrow::Cow::Borrowed(p),
                None => std::borrow::Cow::Owned(PlacementInputs::new(cluster)),
            },
            selected,
            pod_nodes,
            placements: BTreeMap::new(),
            exempt: None,
            realized: BTreeMap::new(),
        }
    }

    /// Marks exempt `exempt` ([`exempt_dsts`] of this cluster), kept by the
    /// caller so that every compile hands the nodes the same allocation.
    pub(super) fn with_exempt(mut self, exempt: Arc<[Ipv4Net]>) -> Self {
        self.exempt = Some(exempt);
        self
    }

    /// The Egress numbering each node compiled so far arrived at, for the
    /// caller to keep as its agent's state ([`EgressWorld::remember_agent_ids`]).
    pub fn take_realized(&mut self) -> BTreeMap<NodeId, AgentEgressIds> {
        std::mem::take(&mut self.realized)
    }
}

/// The nodes each Egress's selected Pods run on, in `selected`'s order.
pub fn pod_nodes(cluster: &ClusterState, selected: &[(String, Vec<PodId>)]) -> Vec<NodeSet> {
    selected
        .iter()
        .map(|(_, ids)| ids.iter().map(|&id| cluster.pod(id).node).collect())
        .collect()
}

/// Each Egress's selected Pods (none when the Egress feature is off).
pub fn selected_ids(cluster: &ClusterState) -> Vec<(String, Vec<PodId>)> {
    if !cluster.egress.config.enabled {
        return Vec::new();
    }
    let index = PodLabelIndex::new(cluster);
    cluster
        .egress
        .egresses
        .iter()
        .map(|(name, e)| (name.clone(), index.applied_to(cluster, &e.spec.applied_to)))
        .collect()
}

/// The Pods carrying each label (key, value), in creation order: an
/// appliedTo whose Pod selector names labels is matched against the Pods of
/// its rarest label only, not every Pod (1,000 Egresses over 100,000 Pods
/// were 100 million matches per compile).
pub struct PodLabelIndex<'a> {
    by_label: BTreeMap<(&'a str, &'a str), Vec<&'a PodState>>,
}

impl<'a> PodLabelIndex<'a> {
    pub fn new(cluster: &'a ClusterState) -> Self {
        let mut by_label: BTreeMap<(&str, &str), Vec<&PodState>> = BTreeMap::new();
        for p in cluster.pods() {
            for (k, v) in &p.labels {
                by_label.entry((k, v)).or_default().push(p);
            }
        }
        PodLabelIndex { by_label }
    }

    /// [`pods_applied_to`], the same Pods in the same order.
    pub fn applied_to(&self, cluster: &ClusterState, at: &k8s::AppliedTo) -> Vec<PodId> {
        let Some(labels) = at
            .pod_selector
            .as_ref()
            .map(|s| &s.match_labels)
            .filter(|l| !l.is_empty())
        else {
            return pods_applied_to(cluster, at);
        };
        let rarest = labels
            .iter()
            .map(|(k, v)| {
                self.by_label
                    .get(&(k.as_str(), v.as_str()))
                    .map_or(&[][..], Vec::as_slice)
            })
            .min_by_key(|pods| pods.len())
            .unwrap_or(&[]);
        rarest
            .iter()
            .filter(|p| applies_to(cluster, at, p))
            .map(|p| p.id)
            .collect()
    }
}

/// The Egress part of `node`'s desired dataplane, given its own view.
pub fn dataplane(cluster: &ClusterState, node: NodeId, alive: &NodeSet, dp: &mut NodeDataplane) {
    dataplane_with(cluster, node, alive, &mut EgressInputs::new(cluster), dp);
}

/// [`dataplane`] with inputs shared across the nodes of one compile. The
/// node's marks and route tables continue its agent's numbering (kept in
/// [`EgressWorld`] by whoever runs the agents); the numbering this compile
/// arrives at is left in `inputs` ([`EgressInputs::take_realized`]).
pub fn dataplane_with<'a>(
    cluster: &'a ClusterState,
    node: NodeId,
    alive: &NodeSet,
    inputs: &mut EgressInputs,
    dp: &mut NodeDataplane,
) {
    let me = cluster.node(node);
    if !cluster.egress.config.enabled {
        return;
    }
    // The Egress controller's IP assigner creates antrea-egress0 when the
    // agent starts, whether or not the node ever holds an Egress IP
    // (NewIPAssigner with egressDummyDevice, pkg/agent/ipassigner/
    // ip_assigner_linux.go and pkg/agent/controller/egress, v1.15.1).
    ensure_dummy(dp);
    let placed = match inputs.placements.get(alive) {
        Some(p) => p,
        None => inputs
            .placements
            .entry(alive.clone())
            .or_insert_with(|| inputs.placement.place(cluster, alive)),
    };
    let (selected, pod_nodes) = (&inputs.selected, &inputs.pod_nodes);
    // An Egress's Pods by its place `i` in the cluster's Egresses, which
    // `selected_ids` lists in order (a compile cache drops them whenever
    // the Egresses change).
    let selected_at = |i: usize| -> Option<&(String, Vec<PodId>)> { selected.get(i) };
    let pods_of = |i: usize| -> &[PodId] { selected_at(i).map_or(&[], |s| &s.1) };
    let pods_here = |i: usize| selected_at(i).is_some() && pod_nodes[i].contains(node);
    let eg = &cluster.egress;
    let transport = me.transport_iface.clone();
    // What this node holds (each IP once, Egresses sharing an IP share its
    // mark) and which next hops to remote egress nodes its Pods use, in
    // scheduling order, static Egresses after the placed ones.
    let mut local_ips: Vec<LocalEgressIp> = Vec::new();
    let mut remote_hops: Vec<RemoteHop> = Vec::new();
    let mut pod_marks: Vec<(&str, Ipv4Addr, Option<Ipv4Addr>, &[PodId])> = Vec::new();
    let mut add_local = |local: LocalEgressIp<'a>| {
        if !local_ips.iter().any(|l| l.ip == local.ip) {
            local_ips.push(local);
        }
    };
    let mut add_remote = |hop: RemoteHop| -> Ipv4Addr {
        let via = hop.via;
        if !remote_hops.iter().any(|h| h.via == via) {
            remote_hops.push(hop);
        }
        via
    };
    let positions = inputs.placement.placed_positions();
    debug_assert_eq!(positions.len(), placed.len());
    for ((name, target), &i) in placed.iter().zip(positions) {
        // Most Egresses are neither placed here nor select a Pod here.
        let Some(target) = *target else { continue };
        if target != node && !pods_here(i) {
            continue;
        }
        let e = &eg.egresses[i];
        debug_assert_eq!(eg.egresses.get_index(i).map(|(n, _)| n), Some(name));
        debug_assert!(selected_at(i).is_none_or(|s| s.0 == *name));
        let Some(ip) = e.ip else {
            continue;
        };
        let pods = pods_of(i);
        if target == node {
            add_local(LocalEgressIp {
                ip,
                subnet: subnet_of(cluster, &e.spec),
                spec: &e.spec,
                assign: true,
            });
            pod_marks.push((name, ip, None, pods));
        } else {
            // Pods here use the Egress through its node.
            let via = add_remote(RemoteHop::node(cluster.node(target)));
            pod_marks.push((name, ip, Some(via), pods));
        }
    }
    for (i, (name, e)) in eg.egresses.iter().enumerate() {
        let Some(ip) = e.ip.filter(|_| egress_static::is_static(&e.spec)) else {
            continue;
        };
        let pods = pods_of(i);
        if egress_static::is_local(me, ip) {
            // Already on an interface: marks and SNAT only.
            add_local(LocalEgressIp {
                ip,
                subnet: None,
                spec: &e.spec,
                assign: false,
            });
            pod_marks.push((name, ip, None, pods));
        } else if pods_here(i) {
            let hop = match egress_static::target(cluster, ip) {
                StaticTarget::Node(t) => RemoteHop::node(t),
                StaticTarget::Nowhere(ip) => RemoteHop {
                    via: ip,
                    label: format!("{ip} (on no Node)"),
                    onlink: true,
                },
            };
            let via = add_remote(hop);
            pod_marks.push((name, ip, Some(via), pods));
        }
    }
    let mut ids = eg.agent_ids(node).cloned().unwrap_or_default();
    let wanted: Vec<(Ipv4Addr, Option<k8s::SubnetInfo>)> =
        local_ips.iter().map(|l| (l.ip, l.subnet)).collect();
    let vias: Vec<Ipv4Addr> = remote_hops.iter().map(|h| h.via).collect();
    ids.sync(&wanted, &vias);
    let mut tables_routed: Vec<u32> = Vec::new();
    for l in local_ips.iter().filter(|l| l.assign) {
        if let Some(mark) = ids.mark(l.ip) {
            let local = LocalIp {
                ip: l.ip,
                mark,
                table: ids.table(l.ip),
            };
            assign_ip(cluster, &transport, &local, l.spec, &mut tables_routed, dp);
        }
    }
    let exempt = inputs
        .exempt
        .get_or_insert_with(|| exempt_dsts(cluster).into())
        .clone();
    for (name, ip, remote, pods) in pod_marks {
        match remote {
            None => {
                let Some(mark) = ids.mark(ip) else { continue };
                for p in pods.iter().map(|&id| cluster.pod(id)) {
                    dp.marks.push(DesiredMark {
                        src: Ipv4Net::from(p.ip),
                        not_dst: exempt.clone(),
                        mark,
                        comment: format!("Egress {name}: {}/{}", p.namespace, p.name),
                        egress_ip: ip,
                    });
                }
            }
            Some(via) => {
                let Some(id) = ids.remote_id(via) else {
                    continue;
                };
                let label = remote_hops
                    .iter()
                    .find(|h| h.via == via)
                    .map_or(String::new(), |h| h.label.clone());
                for p in pods
                    .iter()
                    .map(|&id| cluster.pod(id))
                    .filter(|p| p.node == node)
                {
                    dp.marks.push(DesiredMark {
                        src: Ipv4Net::from(p.ip),
                        not_dst: exempt.clone(),
                        mark: id << REMOTE_MARK_SHIFT,
                        comment: format!("Egress {name} via {label}: {}/{}", p.namespace, p.name),
                        egress_ip: ip,
                    });
                }
            }
        }
    }
    for hop in &remote_hops {
        let Some(id) = ids.remote_id(hop.via) else {
            continue;
        };
        let table = FIRST_REMOTE_TABLE + id - 1;
        dp.routes.push(DesiredRoute {
            dst: "0.0.0.0/0".parse().expect("literal"),
            via: Some(hop.via),
            dev: transport.as_str().into(),
            table,
            metric: 0,
            onlink: hop.onlink,
        });
        dp.rules.push(DesiredRule {
            priority: 32700 - (id - 1),
            fwmark: Some((id << REMOTE_MARK_SHIFT, REMOTE_MARK_MASK)),
            table,
        });
    }
    // Egress SNAT first (Antrea inserts them before the masquerade rule), and
    // keep the masquerade off packets marked for an Egress.
    let mut snat: Vec<DesiredSnat> = local_ips
        .iter()
        .filter_map(|l| Some((l.ip, ids.mark(l.ip)?)))
        .map(|(ip, mark)| DesiredSnat {
            src: None,
            not_dst: Vec::new(),
            not_out_iface: Some(super::GATEWAY_IFACE.into()),
            out_iface: None,
            src_local_elsewhere: false,
            mark: Some((mark, MARK_MASK)),
            to: SnatTo::Addr(ip),
            comment: "Antrea: SNAT Pod to external packets".into(),
        })
        .collect();
    for s in dp.snat.iter_mut() {
        if s.to == SnatTo::Masquerade && s.mark.is_none() && !s.src_local_elsewhere {
            s.mark = Some((0, MARK_MASK | REMOTE_MARK_MASK));
        }
    }
    snat.append(&mut dp.snat);
    dp.snat = snat;
    inputs.realized.insert(node, ids);
}

/// The subnet an Egress IP's traffic is routed by: its pool's subnetInfo,
/// when EgressSeparateSubnet is on.
fn subnet_of(cluster: &ClusterState, spec: &k8s::Egress) -> Option<k8s::SubnetInfo> {
    let eg = &cluster.egress;
    spec.external_ip_pool
        .as_deref()
        .and_then(|p| eg.pools.get(p))
        .and_then(|p| p.subnet_info)
        .filter(|_| eg.config.separate_subnet)
}

/// Pod and node networks are never Egress'd (Antrea's EgressMark bypass),
/// nor `egress.exceptCIDRs`: the source node's EgressMark table skips them
/// (`snatSkipCIDRFlow`, pkg/agent/openflow/pipeline.go@v1.15.0), so such
/// packets are neither SNATed to the Egress IP nor sent to the Egress node.
pub(super) fn exempt_dsts(cluster: &ClusterState) -> Vec<Ipv4Net> {
    let mut v = cluster.cluster_pod_cidr();
    if let Some(s) = cluster.service_cidr {
        v.push(s);
    }
    for n in cluster.nodes() {
        v.push(Ipv4Net::from(n.ip));
    }
    v.extend(cluster.egress.config.except_cidrs.iter().copied());
    v
}

/// An Egress IP a node holds, before its agent numbers it.
struct LocalEgressIp<'a> {
    ip: Ipv4Addr,
    /// The subnet its traffic is routed by ([`subnet_of`]).
    subnet: Option<k8s::SubnetInfo>,
    spec: &'a k8s::Egress,
    /// The agent puts it on a device and announces it (a pool Egress placed
    /// here); a static Egress's IP is on an interface already.
    assign: bool,
}

/// A next hop to a remote egress node: one mark, one route table.
struct RemoteHop {
    via: Ipv4Addr,
    /// Who is there, for the marks' comments.
    label: String,
    /// Routed on-link on the transport interface whatever its subnets (a
    /// static Egress IP no node has).
    onlink: bool,
}

impl RemoteHop {
    fn node(n: &NodeState) -> RemoteHop {
        RemoteHop {
            via: n.ip,
            label: n.name.clone(),
            onlink: false,
        }
    }
}

/// A local Egress IP with the numbers its agent gave it.
struct LocalIp {
    ip: Ipv4Addr,
    mark: u32,
    table: Option<(u32, k8s::SubnetInfo)>,
}

/// Puts a local Egress IP on its interface; with a route table for its
/// subnet, the table's routes (once per table) and the `ip rule` for its mark.
fn assign_ip(
    cluster: &ClusterState,
    transport: &str,
    local: &LocalIp,
    spec: &k8s::Egress,
    tables_routed: &mut Vec<u32>,
    dp: &mut NodeDataplane,
) {
    let ip = local.ip;
    let announce = cluster.egress.config.gratuitous_arp;
    let Some(si) = subnet_of(cluster, spec) else {
        ensure_dummy(dp);
        dp.addrs.push(AddrAssignment {
            iface: EGRESS_DUMMY.into(),
            addr: Ipv4Net::from(ip),
            announce_on: Some(transport.into()),
            announce,
        });
        return;
    };
    let iface = if si.vlan != 0 {
        let name = format!("{VLAN_PREFIX}{}", si.vlan);
        if !dp.vlan_ifaces.iter().any(|v| v.name == name) {
            dp.vlan_ifaces.push(VlanIface {
                name: name.clone(),
                parent: transport.into(),
                vid: si.vlan,
            });
        }
        dp.addrs.push(AddrAssignment {
            iface: name.clone(),
            addr: Ipv4Net::new(ip, si.prefix_length).expect("checked prefix"),
            announce_on: None,
            announce,
        });
        name
    } else {
        ensure_dummy(dp);
        dp.addrs.push(AddrAssignment {
            iface: EGRESS_DUMMY.into(),
            addr: Ipv4Net::new(ip, si.prefix_length).expect("checked prefix"),
            announce_on: Some(transport.into()),
            announce,
        });
        transport.to_string()
    };
    // No table: "exceeding max allowed subnets 20".
    let Some((table, _)) = local.table else {
        return;
    };
    if !tables_routed.contains(&table) {
        tables_routed.push(table);
        dp.routes.push(DesiredRoute {
            dst: si.subnet(),
            via: None,
            dev: iface.as_str().into(),
            table,
            metric: 0,
            onlink: false,
        });
        dp.routes.push(DesiredRoute {
            dst: "0.0.0.0/0".parse().expect("literal"),
            via: Some(si.gateway),
            dev: iface.into(),
            table,
            metric: 0,
            onlink: false,
        });
    }
    dp.rules.push(DesiredRule {
        priority: 32765 - (local.mark - 1),
        fwmark: Some((local.mark, MARK_MASK)),
        table,
    });
}

fn ensure_dummy(dp: &mut NodeDataplane) {
    if !dp.dummy_ifaces.iter().any(|d| d == EGRESS_DUMMY) {
        dp.dummy_ifaces.push(EGRESS_DUMMY.into());
    }
}

/// The Egress that `pod`'s node's agent applies to it, as (name, IP,
/// node): the oldest Egress with an IP that selects the Pod, placed as that
/// agent's memberlist view places it (a static Egress: its reported status).
/// What flow records and Traceflow report.
pub fn egress_of_pod(cluster: &ClusterState, pod: &PodState) -> Option<(String, String, String)> {
    if !cluster.egress.config.enabled {
        return None;
    }
    let mut candidates: Vec<(&String, &EgressState)> = cluster
        .egress
        .egresses
        .iter()
        .filter(|(_, e)| e.ip.is_some())
        .filter(|(_, e)| {
            selected_pods(cluster, &e.spec)
                .iter()
                .any(|p| p.ip == pod.ip)
        })
        .collect();
    candidates.sort_by_key(|(name, e)| (e.created, (*name).clone()));
    let (name, e) = candidates.first()?;
    if crate::engine::egress_static::is_static(&e.spec) {
        // Nothing places a static Egress: the agent reports its status
        // (`GetEgress`), empty until a node that has the IP writes it.
        let status = &e.status;
        return Some((
            (*name).clone(),
            status.egress_ip.map_or(String::new(), |ip| ip.to_string()),
            status.egress_node.clone().unwrap_or_default(),
        ));
    }
    let placed = placement(cluster, &cluster.view_of(pod.node));
    let node = placed.get(*name).copied().flatten()?;
    Some((
        (*name).clone(),
        e.ip?.to_string(),
        cluster.node(node).name.clone(),
    ))
}

#[cfg(test)]
mod tests {
    use indexmap::IndexMap;
    use proptest::prelude::*;

    use super::*;
    use crate::k8s::selector::{Operator, Requirement};

    const TOPOLOGY: &str = include_str!("../../../topologies/blog-lab.yaml");

    fn labels(pairs: &[(u8, u8)]) -> IndexMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("k{k}"), format!("v{v}")))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The label index selects the Pods a scan of every Pod selects, in
        /// the same (creation) order.
        #[test]
        fn the_label_index_selects_what_a_scan_selects(
            pods in prop::collection::vec(
                (0u8..2, prop::collection::vec((0u8..3, 0u8..3), 0..3)),
                0..25,
            ),
            want in prop::collection::vec((0u8..3, 0u8..3), 0..3),
            exists in prop::option::of(0u8..3),
            ns_selected in prop::option::of(0u8..2),
        ) {
            let topo = crate::topology::load_topology("blog-lab.yaml", TOPOLOGY).expect("topology");
            let mut c = ClusterState::from_topology(&topo);
            let node = c.nodes().next().expect("a node").id;
            for ns in 0..2u8 {
                c.namespaces.insert(format!("ns{ns}"), labels(&[(9, ns)]));
            }
            for (i, (ns, l)) in pods.iter().enumerate() {
                c.add_pod(PodState {
                    id: PodId(0),
                    namespace: format!("ns{ns}"),
                    name: format!("p{i}"),
                    node,
                    ip: Ipv4Addr::new(10, 9, 0, i as u8 + 1),
                    labels: labels(l),
                    tcp_listen: Vec::new(),
                    named_ports: Vec::new(),
                    l7_export: None,
                    ready: true,
                })
                .expect("a new Pod");
            }
            let mut pod_selector = LabelSelector::from_labels(labels(&want));
            if let Some(k) = exists {
                pod_selector.match_expressions.push(Requirement {
                    key: format!("k{k}"),
                    operator: Operator::Exists,
                    values: Vec::new(),
                });
            }
            let at = k8s::AppliedTo {
                pod_selector: Some(pod_selector),
                namespace_selector: ns_selected.map(|n| LabelSelector::from_labels(labels(&[(9, n)]))),
            };
            let index = PodLabelIndex::new(&c);
            prop_assert_eq!(index.applied_to(&c, &at), pods_applied_to(&c, &at));
        }
    }
}
