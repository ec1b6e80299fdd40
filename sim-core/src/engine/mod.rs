//! The control-plane engine: decides what Antrea (and kube-proxy) would decide.
//!
//! Input: [`ClusterState`] (nodes, pods, and later Egresses, pools, Services).
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
//!   Pod addresses. This is a documented divergence.
//! - Pod-to-external masquerade: `-s <pod CIDR> ! -d <pod CIDR> ! -o antrea-gw0
//!   -j MASQUERADE`, the rule Antrea installs in `ANTREA-POSTROUTING`
//!   (`pkg/agent/route/route_linux.go`).
//!
//! Egress ([`egress`]: allocation, placement, datapath; [`egress_static`]:
//! Egresses without a pool; [`egress_ids`]: each agent's marks and route
//! tables; [`egress_status`]: the status the agents write; [`holders`]: who
//! holds an Egress or Service external IP), ExternalIPPool,
//! ServiceExternalIP and proxy rules hook in here.

pub mod admission;
pub mod config;
pub mod dataplane;
pub mod egress;
pub mod egress_ids;
pub mod egress_placement;
pub mod egress_static;
pub mod egress_status;
pub mod holders;
pub mod ippool;
pub mod memberlist;
pub mod placement;
pub mod pod_ipam;
pub mod proxy;
pub mod services;
pub use services::nodes_with_ready_endpoints;
pub mod whatif;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use indexmap::IndexMap;
use ipnet::Ipv4Net;

use crate::model::Topology;
use dataplane::{DesiredRoute, DesiredSnat, NodeDataplane, SnatTo};

pub const GATEWAY_IFACE: &str = "antrea-gw0";

#[derive(Clone, Debug)]
pub struct NodeState {
    pub name: String,
    pub ip: Ipv4Addr,
    pub pod_cidr: Ipv4Net,
    pub transport_iface: String,
    /// Every address on the node's own interfaces (the topology's NICs, in
    /// interface order), with its interface: where NodePorts answer.
    pub host_addrs: Vec<(String, Ipv4Addr)>,
    pub labels: IndexMap<String, String>,
    pub annotations: IndexMap<String, String>,
    pub control_plane: bool,
    /// Powered and its agent running.
    pub up: bool,
    /// The Kubernetes `Ready` condition: false once the node controller notices
    /// a dead node (node-monitor-grace-period, 40 s), which takes its Pods
    /// out of EndpointSlices.
    pub ready: bool,
}

impl NodeState {
    /// Whether Antrea's memberlist cluster counts this node: only nodes
    /// labelled `kubernetes.io/os=linux` join (`shouldJoinCluster`,
    /// `pkg/agent/memberlist/cluster.go` v2.7.0), so only they can hold an
    /// Egress IP or a ServiceExternalIP. Every kubelet sets the label; a
    /// node without it (a hand-written manifest) is taken as Linux.
    pub fn joins_memberlist(&self) -> bool {
        self.labels.get(OS_LABEL).is_none_or(|os| os == "linux")
    }
}

/// The kubelet's operating-system label.
pub const OS_LABEL: &str = "kubernetes.io/os";

#[derive(Clone, Debug)]
pub struct PodState {
    pub namespace: String,
    pub name: String,
    pub node: String,
    pub ip: Ipv4Addr,
    pub labels: IndexMap<String, String>,
    pub tcp_listen: Vec<u16>,
    /// `visibility.antrea.io/l7-export` of the Pod (or its Namespace):
    /// (egress, ingress).
    pub l7_export: Option<(bool, bool)>,
    /// The Pod's `Ready` condition, which puts it in EndpointSlices: false
    /// once the node controller marks a NotReady node's Pods, and for a Pod
    /// whose sandbox the kubelet is re-creating after a reboot.
    pub ready: bool,
}

/// What the engine knows about the cluster.
#[derive(Clone, Debug, Default)]
pub struct ClusterState {
    pub nodes: Vec<NodeState>,
    pub pods: Vec<PodState>,
    pub namespaces: IndexMap<String, IndexMap<String, String>>,
    pub namespace_annotations: IndexMap<String, IndexMap<String, String>>,
    pub pod_cidr: Option<Ipv4Net>,
    pub service_cidr: Option<Ipv4Net>,
    /// ExternalIPPools, Egresses and their settings.
    pub egress: egress::EgressWorld,
    /// Each agent's memberlist view: the nodes it believes alive. A node
    /// missing here sees every node that is up (a converged view).
    pub views: BTreeMap<String, Vec<String>>,
    /// What `antrea-config` says.
    pub settings: config::AntreaSettings,
    /// Services by `namespace/name`.
    pub services: services::Services,
    /// How Services are proxied: AntreaProxy options and whether kube-proxy runs.
    pub proxy: proxy::ProxyConfig,
    /// The IPs in `pods`, kept by whoever adds a Pod (the scenario runner),
    /// so that admitting a Pod does not scan every other.
    pub pod_ips: std::collections::BTreeSet<Ipv4Addr>,
    /// Each node's host-local IPAM state.
    pub pod_ipam: pod_ipam::HostLocalIpam,
}

impl ClusterState {
    /// The cluster as the topology describes it, before any manifest.
    pub fn from_topology(t: &Topology) -> ClusterState {
        let mut c = ClusterState {
            pod_cidr: t.cluster.pod_cidr,
            service_cidr: t.cluster.service_cidr,
            ..Default::default()
        };
        c.proxy.cluster_cidr = t.cluster.pod_cidr;
        for (_, d, n) in t.nodes() {
            let host = t
                .host(t.device_id(&d.name).expect("listed node exists"))
                .expect("nodes are hosts");
            let ip = host
                .primary_ip(&n.transport_interface)
                .unwrap_or(Ipv4Addr::UNSPECIFIED);
            let mut labels: IndexMap<String, String> = IndexMap::new();
            // The labels every kubelet sets.
            labels.insert("kubernetes.io/hostname".into(), d.name.clone());
            labels.insert(OS_LABEL.into(), "linux".into());
            if n.control_plane {
                labels.insert(
                    "node-role.kubernetes.io/control-plane".into(),
                    String::new(),
                );
            }
            for (k, v) in &n.labels {
                labels.insert(k.clone(), v.clone());
            }
            let host_addrs = host
                .interfaces
                .iter()
                .flat_map(|i| i.addrs.iter().map(|a| (i.name.clone(), a.addr())))
                .collect();
            c.nodes.push(NodeState {
                name: d.name.clone(),
                ip,
                pod_cidr: n.pod_cidr,
                transport_iface: n.transport_interface.clone(),
                host_addrs,
                labels,
                annotations: IndexMap::new(),
                control_plane: n.control_plane,
                up: true,
                ready: true,
            });
        }
        c.namespaces.insert("default".into(), IndexMap::new());
        c.namespaces.insert("kube-system".into(), IndexMap::new());
        c
    }

    pub fn node(&self, name: &str) -> Option<&NodeState> {
        self.nodes.iter().find(|n| n.name == name)
    }
    pub fn node_mut(&mut self, name: &str) -> Option<&mut NodeState> {
        self.nodes.iter_mut().find(|n| n.name == name)
    }
    pub fn pod(&self, namespace: &str, name: &str) -> Option<&PodState> {
        self.pods
            .iter()
            .find(|p| p.namespace == namespace && p.name == name)
    }

    /// The Pod CIDR that covers every node's Pod subnet.
    pub fn cluster_pod_cidr(&self) -> Vec<Ipv4Net> {
        match self.pod_cidr {
            Some(c) => vec![c],
            None => self.nodes.iter().map(|n| n.pod_cidr).collect(),
        }
    }

    /// The nodes `node`'s agent believes alive.
    pub fn view_of(&self, node: &str) -> Vec<String> {
        match self.views.get(node) {
            Some(v) => v.clone(),
            None => self
                .nodes
                .iter()
                .filter(|n| n.up)
                .map(|n| n.name.clone())
                .collect(),
        }
    }

    /// Reserves the next Pod IP on `node` as host-local does (round-robin
    /// after the last one it handed out, see [`pod_ipam`]).
    pub fn allocate_pod_ip(&mut self, node: &str) -> Result<Ipv4Addr, String> {
        let n = self
            .node(node)
            .ok_or_else(|| format!("no node called {node}"))?;
        let cidr = n.pod_cidr;
        let used: std::collections::BTreeSet<Ipv4Addr> = self
            .pods
            .iter()
            .filter(|p| p.node == node)
            .map(|p| p.ip)
            .chain(self.pod_ips.iter().copied().filter(|ip| cidr.contains(ip)))
            .collect();
        self.pod_ipam
            .allocate(node, cidr, |ip| used.contains(&ip))
            .ok_or_else(|| format!("Pod CIDR {cidr} of {node} is full"))
    }

    /// Where an unscheduled Pod goes: the schedulable (worker) node with the
    /// fewest Pods, ties broken by name. kubeadm taints control-plane nodes
    /// NoSchedule, so they are used only when there is no worker.
    pub fn schedule_pod(&self) -> Option<String> {
        let workers: Vec<&NodeState> = self
            .nodes
            .iter()
            .filter(|n| !n.control_plane && n.up)
            .collect();
        let pool: Vec<&NodeState> = if workers.is_empty() {
            self.nodes.iter().filter(|n| n.up).collect()
        } else {
            workers
        };
        pool.into_iter()
            .min_by_key(|n| {
                (
                    self.pods.iter().filter(|p| p.node == n.name).count(),
                    n.name.clone(),
                )
            })
            .map(|n| n.name.clone())
    }
}

/// Computes every node's desired dataplane.
pub fn compile(cluster: &ClusterState) -> BTreeMap<String, NodeDataplane> {
    compile_nodes(cluster, |_| true)
}

/// [`compile`] for the nodes `wanted` accepts only: a memberlist change on one
/// agent re-plans that node alone, so a large cluster does not pay for every
/// node's dataplane on every event.
pub fn compile_nodes(
    cluster: &ClusterState,
    wanted: impl Fn(&str) -> bool,
) -> BTreeMap<String, NodeDataplane> {
    compile_nodes_cached(cluster, wanted, &mut CompileCache::default())
}

/// What a compile can reuse while only memberlist views change (an agent
/// noticing a node come or go): each node's proxy part of the dataplane
/// (Service rules, kube-ipvs0) and each Egress's selected Pods. Both depend
/// on Services, Pods, nodes and settings, not on views; recomputing them
/// for every agent's memberlist event was most of a large run's cost. The
/// caller owns the rule: [`CompileCache::invalidate`] whenever anything
/// else in the cluster state may have changed.
#[derive(Default)]
pub struct CompileCache {
    proxy: BTreeMap<String, NodeDataplane>,
    egress_selected: Option<Vec<(String, Vec<usize>)>>,
    egress_placement: Option<egress::PlacementInputs>,
    /// One copy of each Service's rules for the nodes that compile it alike.
    shared_rules: proxy::SharedServiceRules,
}

impl CompileCache {
    /// The Egress placement inputs for `cluster`, computed once per
    /// validity of the cache (the caller's rule applies).
    pub fn placement_inputs(&mut self, cluster: &ClusterState) -> &egress::PlacementInputs {
        self.egress_placement
            .get_or_insert_with(|| egress::PlacementInputs::new(cluster))
    }

    pub fn invalidate(&mut self) {
        self.proxy.clear();
        self.egress_selected = None;
        self.egress_placement = None;
        self.shared_rules.clear();
    }
}

/// [`compile_nodes`] reusing the proxy parts in `cache` (and filling it).
pub fn compile_nodes_cached(
    cluster: &ClusterState,
    wanted: impl Fn(&str) -> bool,
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
    wanted: impl Fn(&str) -> bool,
    cache: &mut CompileCache,
) -> (
    BTreeMap<String, NodeDataplane>,
    BTreeMap<String, egress_ids::AgentEgressIds>,
) {
    let pod_nets = cluster.cluster_pod_cidr();
    let mut out = BTreeMap::new();
    let mut proxy_inputs = None;
    let selected = cache
        .egress_selected
        .get_or_insert_with(|| egress::selected_indices(cluster));
    let placement = cache
        .egress_placement
        .get_or_insert_with(|| egress::PlacementInputs::new(cluster));
    let mut egress_inputs = egress::EgressInputs::from_indices(cluster, selected, Some(placement));
    for node in cluster.nodes.iter().filter(|n| wanted(&n.name)) {
        let mut dp = match cache.proxy.get(&node.name) {
            Some(part) => part.clone(),
            None => {
                let (pnodes, psvcs) =
                    proxy_inputs.get_or_insert_with(|| services::proxy_inputs(cluster));
                let mut part = NodeDataplane::default();
                services::proxy_dataplane(cluster, node, pnodes, psvcs, &mut part);
                if let Some(rules) = part
                    .service_rules
                    .as_mut()
                    .and_then(std::sync::Arc::get_mut)
                {
                    rules.share_with(&mut cache.shared_rules);
                }
                cache.proxy.insert(node.name.clone(), part.clone());
                part
            }
        };
        services::external_ip_dataplane(cluster, node, &mut dp);
        for other in cluster.nodes.iter().filter(|o| o.name != node.name) {
            dp.routes.push(DesiredRoute {
                dst: other.pod_cidr,
                via: Some(other.ip),
                dev: node.transport_iface.clone(),
                table: crate::model::TABLE_MAIN,
                metric: 0,
                onlink: false,
            });
        }
        dp.snat.push(DesiredSnat {
            src: Some(if cluster.pod_cidr.is_some() {
                pod_nets[0]
            } else {
                node.pod_cidr
            }),
            not_dst: pod_nets.clone(),
            not_out_iface: Some(GATEWAY_IFACE.into()),
            mark: None,
            to: SnatTo::Masquerade,
            comment: "Antrea: masquerade pod to external packets".into(),
        });
        egress::dataplane_with(
            cluster,
            &node.name,
            &cluster.view_of(&node.name),
            &mut egress_inputs,
            &mut dp,
        );
        // L7 flow export: the Pods of this node that asked for it, when the
        // FlowExporter and L7FlowExporter gates are on.
        if cluster.settings.flow_export_on() && cluster.settings.agent_gate("L7FlowExporter") {
            dp.l7_export = cluster
                .pods
                .iter()
                .filter(|p| p.node == node.name)
                .filter_map(|p| p.l7_export.map(|(e, i)| (p.ip, e, i)))
                .collect();
        }
        out.insert(node.name.clone(), dp);
    }
    (out, egress_inputs.take_realized())
}
