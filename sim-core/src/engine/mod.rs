//! The control-plane engine: decides what Antrea (and kube-proxy) would decide.
//!
//! Input: [`ClusterState`] ([`cluster`]: nodes, Pods, memberlist views,
//! Egresses, pools, Services; nodes and Pods by id, [`ids`]).
//! Output: one [`dataplane::NodeDataplane`] per node. The simulator executes the
//! output; real mode applies the same value to Linux. Nothing here knows about
//! frames or time.
//!
//! What it decides today (the foundation):
//! - Pod IPAM: host-local's round-robin over the node's Pod CIDR from `.2`
//!   (`.1` is `antrea-gw0`), unless the manifest gives `status.podIP`
//!   ([`pod_ipam`]).
//! - Pod routing between nodes: a route per other node's Pod CIDR via that
//!   node's transport IP. Antrea's default is Geneve encapsulation; the lab
//!   routes natively (Antrea's `noEncap` mode) so the physical network sees
//!   Pod addresses. This is a documented divergence, unless br-int executes
//!   its program (`options.brInt: pipeline`, [`dataplane::BrIntMode`]):
//!   then, in encap/hybrid, Pod CIDRs route via `antrea-gw0` into the tunnel.
//! - Pod-to-external masquerade: `-s <pod CIDR> ! -d <pod CIDR> ! -o antrea-gw0
//!   -j MASQUERADE`, the rule Antrea installs in `ANTREA-POSTROUTING`
//!   (`pkg/agent/route/route_linux.go`).
//!
//! Egress ([`egress`]: allocation, placement, datapath; [`egress_static`]:
//! Egresses without a pool; [`egress_ids`]: each agent's marks and route
//! tables; [`egress_status`]: the status the agents write; [`holders`]: who
//! holds an Egress or Service external IP), ExternalIPPool,
//! ServiceExternalIP and proxy rules hook in here.
//!
//! BGPPolicy ([`bgp_policy`]): each Node's effective policy, its speaker's
//! router ID and peers, and the routes it advertises.
//!
//! NetworkPolicies and Antrea-native policies ([`policy`]): admission, each
//! node's rules and the catalog that names them; [`pipeline`] compiles the
//! rules into br-int's policy tables.

pub mod admission;
pub mod bgp_policy;
pub mod cluster;
pub mod config;
pub mod dataplane;
pub mod egress;
pub mod egress_ids;
pub mod egress_placement;
pub mod egress_static;
pub mod egress_status;
pub mod external_node;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod holders;
pub mod ids;
pub mod ippool;
pub mod memberlist;
pub mod peer_routes;
pub mod pipeline;
pub mod placement;
pub mod pod_ipam;
pub mod policy;
pub mod proxy;
pub mod services;
pub mod traffic_control;
pub use services::nodes_with_ready_endpoints;
pub mod whatif;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use cluster::{ClusterState, NodeState, OS_LABEL, PodState};
use dataplane::{DesiredSnat, NodeDataplane, SnatTo};
pub use ids::{NodeId, NodeSet, PodId};

pub const GATEWAY_IFACE: &str = "antrea-gw0";

/// Computes every node's desired dataplane, by node name: name order is
/// the order the simulator and real mode apply (and log) them in.
pub fn compile(cluster: &ClusterState) -> BTreeMap<String, NodeDataplane> {
    compile_nodes(cluster, |_| true)
}

/// [`compile`] for the nodes `wanted` accepts only: a memberlist change on one
/// agent re-plans that node alone, so a large cluster does not pay for every
/// node's dataplane on every event.
pub fn compile_nodes(
    cluster: &ClusterState,
    wanted: impl Fn(&NodeState) -> bool,
) -> BTreeMap<String, NodeDataplane> {
    compile_nodes_cached(cluster, wanted, &mut CompileCache::default())
}

/// What a node's br-int program was installed from: its spec (shared with
/// the program's pending build) and its Pods' ofports.
type LoadedPipeline = (Arc<pipeline::PipelineSpec>, Vec<(u32, String)>);

/// What a compile can reuse while only memberlist views change (an agent
/// noticing a node come or go): each node's proxy part of the dataplane
/// (Service rules, kube-ipvs0) and each Egress's selected Pods. Both depend
/// on Services, Pods, nodes and settings, not on views; recomputing them
/// for every agent's memberlist event was most of a large run's cost. The
/// caller owns the rule: [`CompileCache::invalidate`] whenever anything
/// else in the cluster state may have changed.
#[derive(Default)]
pub struct CompileCache {
    proxy: BTreeMap<NodeId, NodeDataplane>,
    egress_selected: Option<Vec<(String, Vec<PodId>)>>,
    /// The nodes each of `egress_selected`'s Egresses has Pods on.
    egress_pod_nodes: Option<Vec<ids::NodeSet>>,
    egress_placement: Option<egress::PlacementInputs>,
    /// One copy of each Service's rules for the nodes that compile it alike.
    services: proxy::ServiceMemo,
    /// The cluster's peer routes as last compiled: a compile that arrives
    /// at the same ones hands every node this allocation, so applying them
    /// again is a pointer compare.
    peer_routes: Option<std::sync::Arc<peer_routes::PeerRouteSet>>,
    /// The destinations Egress marks exempt, kept the same way: applying a
    /// node's marks again compares them by pointer, not n entries a mark.
    egress_exempt: Option<std::sync::Arc<[ipnet::Ipv4Net]>>,
    /// Whether `peer_routes` and `egress_exempt` were compiled since the
    /// last [`CompileCache::invalidate`]: the nodes, their addresses and
    /// the settings they come from have not changed, so a compile takes
    /// them as they are (n entries each) instead of computing them again.
    shared_current: bool,
    /// What each node's br-int program was last compiled from (its spec and
    /// its Pods' ofports): a record of what was loaded, not derived state,
    /// so [`CompileCache::invalidate`] keeps it.
    loaded_pipelines: BTreeMap<NodeId, LoadedPipeline>,
}

impl CompileCache {
    /// The Egress placement inputs for `cluster`, computed once per
    /// validity of the cache (the caller's rule applies).
    pub fn placement_inputs(&mut self, cluster: &ClusterState) -> &egress::PlacementInputs {
        self.egress_placement
            .get_or_insert_with(|| egress::PlacementInputs::new(cluster))
    }

    /// Whether node `node`'s br-int program was last loaded from `spec`
    /// and `pods` ([`CompileCache::pipeline_loaded`]).
    pub fn pipeline_unchanged(
        &self,
        node: NodeId,
        spec: &pipeline::PipelineSpec,
        pods: &[(u32, String)],
    ) -> bool {
        self.loaded_pipelines
            .get(&node)
            .is_some_and(|(s, p)| **s == *spec && p == pods)
    }

    /// Remembers that node `node`'s br-int program was loaded from `spec`
    /// and `pods` (the spec shared with the program's pending build).
    pub fn pipeline_loaded(
        &mut self,
        node: NodeId,
        spec: Arc<pipeline::PipelineSpec>,
        pods: Vec<(u32, String)>,
    ) {
        self.loaded_pipelines.insert(node, (spec, pods));
    }

    pub fn invalidate(&mut self) {
        self.proxy.clear();
        self.egress_selected = None;
        self.egress_pod_nodes = None;
        self.egress_placement = None;
        self.services.clear();
        self.shared_current = false;
    }

    /// The peer routes and the Egress exempt destinations every node's
    /// compile shares: as kept while the cache is valid, else computed and
    /// kept (the same allocations when they come out equal).
    fn shared_parts(
        &mut self,
        cluster: &ClusterState,
    ) -> (
        std::sync::Arc<peer_routes::PeerRouteSet>,
        std::sync::Arc<[ipnet::Ipv4Net]>,
    ) {
        if self.shared_current
            && let (Some(routes), Some(exempt)) = (&self.peer_routes, &self.egress_exempt)
        {
            // The caller's rule (invalidate on any other change) is what
            // makes this right; debug builds check it on every compile.
            debug_assert!(**routes == peer_route_set(cluster));
            debug_assert!(**exempt == *egress::exempt_dsts(cluster));
            return (routes.clone(), exempt.clone());
        }
        let routes = kept_if_same(&mut self.peer_routes, peer_route_set(cluster));
        let exempt = kept_if_same(&mut self.egress_exempt, egress::exempt_dsts(cluster));
        self.shared_current = true;
        (routes, exempt)
    }
}

/// `fresh` as the allocation `kept` holds when they are equal (so what was
/// applied from it compares by pointer), else as a new one `kept` holds
/// from now on.
fn kept_if_same<T, F>(kept: &mut Option<std::sync::Arc<T>>, fresh: F) -> std::sync::Arc<T>
where
    T: PartialEq + ?Sized,
    F: std::borrow::Borrow<T> + Into<std::sync::Arc<T>>,
{
    match kept {
        Some(k) if **k == *fresh.borrow() => k.clone(),
        _ => kept.insert(fresh.into()).clone(),
    }
}

/// The routes to every node's Pod CIDR, which each node installs save its
/// own ([`peer_routes`]). Natively (br-int a switch, or a mode without a
/// tunnel): via the peer's transport IP on the transport interface.
/// Through the tunnel ([`ClusterState::tunnels_pod_traffic`]): via the
/// peer's gateway IP (`.1` of its Pod CIDR) on `antrea-gw0`, `onlink`, as
/// Antrea's route client installs them in encap mode; br-int answers ARP
/// for that IP with the global virtual MAC.
fn peer_route_set(cluster: &ClusterState) -> peer_routes::PeerRouteSet {
    let tunnel = cluster.tunnels_pod_traffic();
    let entries = cluster
        .nodes()
        .map(|other| {
            let gateway_ip = std::net::Ipv4Addr::from(u32::from(other.pod_cidr.network()) + 1);
            peer_routes::PeerRoute {
                dst: other.pod_cidr,
                via: if tunnel { gateway_ip } else { other.ip },
                node_ip: other.ip,
                gateway_ip,
            }
        })
        .collect();
    peer_routes::PeerRouteSet::new(entries)
}

/// The node's share of the cluster's peer routes, after the routes it has
/// so far.
fn pod_routes(
    cluster: &ClusterState,
    node: &NodeState,
    set: &std::sync::Arc<peer_routes::PeerRouteSet>,
    dp: &mut NodeDataplane,
) {
    let tunnel = cluster.tunnels_pod_traffic();
    let dev: std::sync::Arc<str> = if tunnel {
        GATEWAY_IFACE.into()
    } else {
        node.transport_iface.as_str().into()
    };
    dp.peer_routes = Some(peer_routes::PeerRoutes {
        set: set.clone(),
        // The set lists the nodes by id (the cluster's node list).
        except: Some(node.id.index()),
        dev,
        onlink: tunnel,
        at: dp.routes.len(),
    });
}

/// [`compile_nodes`] reusing the proxy parts in `cache` (and filling it).
pub fn compile_nodes_cached(
    cluster: &ClusterState,
    wanted: impl Fn(&NodeState) -> bool,
    cache: &mut CompileCache,
) -> BTreeMap<String, NodeDataplane> {
    compile_nodes_realized(cluster, wanted, cache).0
}

/// [`compile_nodes_cached`], also returning the Egress numbering (marks,
/// route tables) each compiled node's agent arrives at: a caller that runs
/// the agents keeps it with [`egress::EgressWorld::remember_agent_ids`], so
/// the next compile continues from it.
pub fn compile_nodes_realized(
    cluster: &ClusterState,
    wanted: impl Fn(&NodeState) -> bool,
    cache: &mut CompileCache,
) -> (
    BTreeMap<String, NodeDataplane>,
    BTreeMap<NodeId, egress_ids::AgentEgressIds>,
) {
    let pod_nets = cluster.cluster_pod_cidr();
    let mut out = BTreeMap::new();
    let mut proxy_inputs = None;
    let (peer_set, exempt) = cache.shared_parts(cluster);
    let selected = cache
        .egress_selected
        .get_or_insert_with(|| egress::selected_ids(cluster));
    let pod_nodes = cache
        .egress_pod_nodes
        .get_or_insert_with(|| egress::pod_nodes(cluster, selected));
    let placement = cache
        .egress_placement
        .get_or_insert_with(|| egress::PlacementInputs::new(cluster));
    let mut egress_inputs =
        egress::EgressInputs::from_ids(cluster, selected, pod_nodes, Some(placement))
            .with_exempt(exempt);
    for node in cluster.nodes().filter(|n| wanted(n)) {
        let mut dp = match cache.proxy.get(&node.id) {
            Some(part) => part.clone(),
            None => {
                let (pnodes, psvcs) =
                    proxy_inputs.get_or_insert_with(|| services::proxy_inputs(cluster));
                let mut part = NodeDataplane::default();
                services::proxy_dataplane(
                    cluster,
                    node,
                    pnodes,
                    psvcs,
                    &mut cache.services,
                    &mut part,
                );
                cache.proxy.insert(node.id, part.clone());
                part
            }
        };
        services::external_ip_dataplane(cluster, node, &mut dp);
        pod_routes(cluster, node, &peer_set, &mut dp);
        services::proxy_all_dataplane(cluster, &mut dp);
        dp.gateway_mtu = cluster.pod_mtu();
        dp.snat.push(DesiredSnat {
            src: Some(if cluster.pod_cidr.is_some() {
                pod_nets[0]
            } else {
                node.pod_cidr
            }),
            not_dst: pod_nets.clone(),
            not_out_iface: Some(GATEWAY_IFACE.into()),
            out_iface: None,
            src_local_elsewhere: false,
            mark: None,
            to: SnatTo::Masquerade,
            comment: "Antrea: masquerade pod to external packets".into(),
        });
        // The node's own traffic into antrea-gw0 whose source is another of
        // its addresses (a ClusterIP or NodePort the host DNATed to a Pod:
        // the source was picked for the Service's route) leaves with the
        // gateway's address, so the Pod's reply comes back through br-int
        // and the host's conntrack (pkg/agent/route/route_linux.go v2.1.0,
        // "Antrea: masquerade LOCAL traffic", installed in every mode).
        dp.snat.push(DesiredSnat {
            src: None,
            not_dst: Vec::new(),
            not_out_iface: None,
            out_iface: Some(GATEWAY_IFACE.into()),
            src_local_elsewhere: true,
            mark: None,
            to: SnatTo::Masquerade,
            comment: "Antrea: masquerade LOCAL traffic".into(),
        });
        egress::dataplane_with(
            cluster,
            node.id,
            &cluster.view_of(node.id),
            &mut egress_inputs,
            &mut dp,
        );
        // L7 flow export: the Pods of this node that asked for it, when the
        // FlowExporter and L7FlowExporter gates are on.
        if cluster.settings.flow_export_on() && cluster.settings.agent_gate("L7FlowExporter") {
            dp.l7_export = cluster
                .pods_on(node.id)
                .filter_map(|p| p.l7_export.map(|(e, i)| (p.ip, e, i)))
                .collect();
        }
        dp.host_firewall = policy::host::host_firewall(cluster, node.id);
        out.insert(node.name.clone(), dp);
    }
    (out, egress_inputs.take_realized())
}
