//! What the engine knows about the cluster ([`ClusterState`]), and its one
//! name table.
//!
//! Nodes and Pods are held here and handed out by id ([`super::ids`]):
//! `node(id)`, `pod(id)`, `pods_on(node)`; `node_id(name)` and
//! `pod_id(namespace, name)` turn the names of the YAML into ids through
//! ordered indexes (no scan). The indexes (names, Pod IPs, each node's Pods)
//! are kept in step by the methods that add, remove or change a Pod, so the
//! node and Pod lists are private and read through `&self`.
//!
//! Each agent's memberlist view is a [`NodeSet`] per node (n bits each),
//! not a list of names.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use indexmap::IndexMap;
use ipnet::Ipv4Net;

use super::ids::{NodeId, NodeSet, PodId, PodTable};
use super::placement::replica_hashes;
use super::{config, egress, pod_ipam, proxy, services};
use crate::model::{DeviceId, Topology};

/// The kubelet's operating-system label.
pub const OS_LABEL: &str = "kubernetes.io/os";

#[derive(Clone, Debug)]
pub struct NodeState {
    /// Set by [`ClusterState::add_node`].
    pub id: NodeId,
    pub name: String,
    /// The node's device in the topology (and the simulator); `None` for a
    /// node read from a cluster dump.
    pub(crate) device: Option<DeviceId>,
    pub ip: Ipv4Addr,
    pub pod_cidr: Ipv4Net,
    pub(crate) transport_iface: String,
    /// Every address on the node's own interfaces (the topology's NICs, in
    /// interface order), with its interface: where NodePorts answer.
    pub(crate) host_addrs: Vec<(String, Ipv4Addr)>,
    pub(crate) labels: IndexMap<String, String>,
    pub(crate) annotations: IndexMap<String, String>,
    pub(crate) control_plane: bool,
    /// Powered and its agent running.
    pub(crate) up: bool,
    /// The Kubernetes `Ready` condition: false once the node controller notices
    /// a dead node (node-monitor-grace-period, 40 s), which takes its Pods
    /// out of EndpointSlices.
    pub ready: bool,
}

impl NodeState {
    /// A node with no labels, up and Ready; [`ClusterState::add_node`]
    /// gives it its id.
    pub fn new(name: &str, ip: Ipv4Addr, pod_cidr: Ipv4Net, transport_iface: &str) -> NodeState {
        NodeState {
            id: NodeId(0),
            name: name.to_string(),
            device: None,
            ip,
            pod_cidr,
            transport_iface: transport_iface.to_string(),
            host_addrs: Vec::new(),
            labels: IndexMap::new(),
            annotations: IndexMap::new(),
            control_plane: false,
            up: true,
            ready: true,
        }
    }

    /// Whether Antrea's memberlist cluster counts this node: only nodes
    /// labelled `kubernetes.io/os=linux` join (`shouldJoinCluster`,
    /// `pkg/agent/memberlist/cluster.go` v2.7.0), so only they can hold an
    /// Egress IP or a ServiceExternalIP. Every kubelet sets the label; a
    /// node without it (a hand-written manifest) is taken as Linux.
    pub fn joins_memberlist(&self) -> bool {
        self.labels.get(OS_LABEL).is_none_or(|os| os == "linux")
    }
}

#[derive(Clone, Debug)]
pub struct PodState {
    /// Set by [`ClusterState::add_pod`].
    pub id: PodId,
    pub namespace: String,
    pub name: String,
    pub node: NodeId,
    pub ip: Ipv4Addr,
    pub labels: IndexMap<String, String>,
    pub tcp_listen: Vec<u16>,
    /// Container ports with a name, `(name, protocol, port)`: what a
    /// NetworkPolicy's named port resolves to on this Pod.
    pub named_ports: Vec<(String, crate::k8s::Protocol, u16)>,
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
    /// By [`NodeId`].
    nodes: Vec<NodeState>,
    node_by_name: BTreeMap<String, NodeId>,
    node_by_device: BTreeMap<DeviceId, NodeId>,
    /// Each node's name as one shared allocation, by [`NodeId`]: what the
    /// memberlist agents of every node keep ([`ClusterState::peers`]).
    shared_names: Vec<Arc<str>>,
    /// Each node's consistent-hash replica keys, hashed once
    /// ([`super::placement::replica_hashes`]), by [`NodeId`].
    ring_hashes: Vec<Box<[u32]>>,
    /// Each agent's memberlist view, by [`NodeId`]: the nodes it believes
    /// alive. `None` sees every node that is up (a converged view).
    views: Vec<Option<NodeSet>>,
    pods: PodTable<PodState>,
    /// Namespace → name → Pod.
    pod_by_name: BTreeMap<String, BTreeMap<String, PodId>>,
    /// Every Pod's IP (IPs are unique), so that admitting a Pod does not
    /// scan every other.
    pod_by_ip: BTreeMap<Ipv4Addr, PodId>,
    /// Each node's Pods, by [`NodeId`].
    pods_by_node: Vec<BTreeSet<PodId>>,
    /// Each node's host-local IPAM state.
    pod_ipam: pod_ipam::HostLocalIpam,
    pub(crate) namespaces: IndexMap<String, IndexMap<String, String>>,
    pub(crate) namespace_annotations: IndexMap<String, IndexMap<String, String>>,
    /// Traceflows applied so far, by name, with their result (the status
    /// Antrea's controller writes).
    pub traceflows: IndexMap<String, crate::engine::pipeline::traceflow::TraceflowResult>,
    /// ExternalNodes applied (each a VM whose agent runs in ExternalNode mode).
    pub external_nodes: crate::engine::external_node::ExternalNodes,
    /// TrafficControls applied, in apply order, and the br-int ports they use.
    pub traffic_controls: crate::engine::traffic_control::TrafficControls,
    /// BGPPolicies applied, in creation order.
    pub bgp_policies: crate::engine::bgp_policy::BgpPolicies,
    pub(crate) pod_cidr: Option<Ipv4Net>,
    pub(crate) service_cidr: Option<Ipv4Net>,
    /// ExternalIPPools, Egresses and their settings.
    pub egress: egress::EgressWorld,
    /// What `antrea-config` says.
    pub settings: config::AntreaSettings,
    /// Services by `namespace/name`.
    pub services: services::Services,
    /// How Services are proxied: AntreaProxy options and whether kube-proxy runs.
    pub(crate) proxy: proxy::ProxyConfig,
    /// What each node's br-int is (`options.brInt`).
    br_int: super::dataplane::BrIntMode,
    /// NetworkPolicies, Antrea-native policies, Tiers and groups.
    pub(crate) policies: super::policy::PolicyStore,
}

impl ClusterState {
    /// The ExternalEntities the controller keeps: one per ExternalNode,
    /// none while its `ExternalNode` gate is off (it makes them).
    pub fn external_entities(
        &self,
    ) -> Box<dyn Iterator<Item = crate::engine::external_node::ExternalEntity> + '_> {
        if self.settings.controller_gate("ExternalNode") {
            Box::new(self.external_nodes.entities())
        } else {
            Box::new(std::iter::empty())
        }
    }
}

impl ClusterState {
    /// The cluster's policies, Tiers and groups.
    pub fn policies(&self) -> &super::policy::PolicyStore {
        &self.policies
    }

    /// Admits a policy, Tier or group (or deletes it); the controller's
    /// log lines, or the webhook's refusal.
    pub fn apply_policy_object(
        &mut self,
        obj: &crate::k8s::Object,
        now_s: u64,
        delete: bool,
    ) -> Result<Vec<String>, String> {
        if delete {
            self.policies.delete(obj)
        } else {
            self.policies.apply(obj, now_s)
        }
    }

    /// What each node's br-int is; decides the routes between Pod CIDRs.
    pub fn br_int_mode(&self) -> super::dataplane::BrIntMode {
        self.br_int
    }

    /// Sets what each node's br-int is (before the first compile).
    pub fn set_br_int_mode(&mut self, mode: super::dataplane::BrIntMode) {
        self.br_int = mode;
    }

    /// Whether Pod traffic to other nodes goes through br-int's tunnel:
    /// br-int executes its program in a mode with a tunnel.
    pub fn tunnels_pod_traffic(&self) -> bool {
        self.br_int == super::dataplane::BrIntMode::Pipeline
            && self.settings.encap_mode().supports_encap()
    }

    /// The MTU the agent gives `antrea-gw0` and every Pod interface it
    /// creates: the tunnel's overhead off the transport's 1500 (or
    /// `defaultMTU`) when br-int executes the program; natively routed
    /// (`brInt: switch`), the link's own.
    pub fn pod_mtu(&self) -> u32 {
        use super::config::tunnel::TRANSPORT_MTU;
        match self.br_int {
            super::dataplane::BrIntMode::Pipeline => self.settings.interface_mtu(TRANSPORT_MTU),
            super::dataplane::BrIntMode::Switch => TRANSPORT_MTU,
        }
    }

    /// The cluster as the topology describes it, before any manifest.
    pub fn from_topology(t: &Topology) -> ClusterState {
        let mut c = ClusterState {
            pod_cidr: t.cluster.pod_cidr,
            service_cidr: t.cluster.service_cidr,
            ..Default::default()
        };
        c.proxy.cluster_cidr = t.cluster.pod_cidr;
        for (_, d, n) in t.nodes() {
            let device = t.device_id(&d.name).expect("listed node exists");
            let host = t.host(device).expect("nodes are hosts");
            let ip = host
                .primary_ip(&n.transport_interface)
                .unwrap_or(Ipv4Addr::UNSPECIFIED);
            let mut node = NodeState::new(&d.name, ip, n.pod_cidr, &n.transport_interface);
            node.device = Some(device);
            // The labels every kubelet sets.
            node.labels
                .insert("kubernetes.io/hostname".into(), d.name.clone());
            node.labels.insert(OS_LABEL.into(), "linux".into());
            if n.control_plane {
                node.labels.insert(
                    "node-role.kubernetes.io/control-plane".into(),
                    String::new(),
                );
            }
            for (k, v) in &n.labels {
                node.labels.insert(k.clone(), v.clone());
            }
            node.host_addrs = host
                .interfaces
                .iter()
                .flat_map(|i| i.addrs.iter().map(|a| (i.name.clone(), a.addr())))
                .collect();
            node.control_plane = n.control_plane;
            c.add_node(node);
        }
        c.namespaces.insert("default".into(), IndexMap::new());
        c.namespaces.insert("kube-system".into(), IndexMap::new());
        c
    }

    // ----- nodes -----------------------------------------------------------

    /// Adds a node (from the topology or a cluster dump; nodes are never
    /// removed) and returns its id. Node names are unique: the loaders
    /// refuse duplicates, and a second node of a name panics.
    pub fn add_node(&mut self, mut node: NodeState) -> NodeId {
        let id = NodeId(u32::try_from(self.nodes.len()).expect("fewer than 2^32 nodes"));
        node.id = id;
        let fresh = self.node_by_name.insert(node.name.clone(), id).is_none();
        assert!(fresh, "node {} added twice", node.name);
        if let Some(d) = node.device {
            self.node_by_device.insert(d, id);
        }
        self.ring_hashes.push(replica_hashes(&node.name));
        self.shared_names.push(node.name.as_str().into());
        self.views.push(None);
        self.pods_by_node.push(BTreeSet::new());
        self.nodes.push(node);
        id
    }

    /// Every node, in [`NodeId`] (topology) order.
    pub fn nodes(&self) -> std::slice::Iter<'_, NodeState> {
        self.nodes.iter()
    }

    /// Every node in name order.
    pub fn nodes_by_name(&self) -> impl Iterator<Item = &NodeState> {
        self.node_by_name
            .values()
            .map(|&id| &self.nodes[id.index()])
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The node `id`; ids come from this cluster state, so it exists.
    pub fn node(&self, id: NodeId) -> &NodeState {
        &self.nodes[id.index()]
    }

    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.node_by_name.get(name).copied()
    }

    /// The node called `name`, if there is one.
    pub fn node_by_name(&self, name: &str) -> Option<&NodeState> {
        self.node_id(name).map(|id| self.node(id))
    }

    /// The node running on topology device `device`.
    pub fn node_of_device(&self, device: DeviceId) -> Option<NodeId> {
        self.node_by_device.get(&device).copied()
    }

    /// `name`'s consistent-hash replica keys, hashed once.
    pub(crate) fn ring_hashes(&self, id: NodeId) -> &[u32] {
        &self.ring_hashes[id.index()]
    }

    /// The node powered off or on (its agent stops or starts).
    pub fn set_node_up(&mut self, id: NodeId, up: bool) {
        self.nodes[id.index()].up = up;
    }

    /// The node's `Ready` condition.
    pub fn set_node_ready(&mut self, id: NodeId, ready: bool) {
        self.nodes[id.index()].ready = ready;
    }

    /// The node's labels, to edit (`kubectl label`).
    pub fn node_labels_mut(&mut self, id: NodeId) -> &mut IndexMap<String, String> {
        &mut self.nodes[id.index()].labels
    }

    /// The node's annotations, to edit (`kubectl annotate`).
    pub fn node_annotations_mut(&mut self, id: NodeId) -> &mut IndexMap<String, String> {
        &mut self.nodes[id.index()].annotations
    }

    /// Every node's name (one allocation per node, shared by whoever keeps
    /// it) and transport IP, in [`NodeId`] order: whom a starting
    /// memberlist agent joins.
    pub fn peers(&self) -> Vec<(Arc<str>, Ipv4Addr)> {
        self.nodes
            .iter()
            .map(|n| (self.shared_names[n.id.index()].clone(), n.ip))
            .collect()
    }

    /// The nodes among `names` (names that are not nodes are left out).
    pub fn node_set<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> NodeSet {
        names.into_iter().filter_map(|n| self.node_id(n)).collect()
    }

    /// [`ClusterState::node_set`] of members that may come with their place
    /// in a roster made from [`ClusterState::peers`]: the member at place
    /// `i` whose name is node i's own allocation is node i, found without
    /// a lookup by name; any other member is looked up by name.
    pub fn node_set_placed<'a>(
        &self,
        members: impl IntoIterator<Item = (Option<usize>, &'a str)>,
    ) -> NodeSet {
        members
            .into_iter()
            .filter_map(|(place, name)| {
                let shared = place.and_then(|i| self.shared_names.get(i));
                match shared {
                    Some(s) if std::ptr::eq(s.as_ptr(), name.as_ptr()) && s.len() == name.len() => {
                        Some(self.nodes[place?].id)
                    }
                    _ => self.node_id(name),
                }
            })
            .collect()
    }

    /// [`ClusterState::node_set_placed`] of an agent's alive members told
    /// apart from its roster ([`crate::engine::memberlist::Agent::alive_members_split`]):
    /// when the roster is this cluster's own (place i is node i's name
    /// allocation, checked by pointer), every roster place is a node but the
    /// absent ones, and only the rest are looked at one by one. `None` for
    /// another roster.
    pub fn node_set_split(
        &self,
        split: &crate::engine::memberlist::AliveSplit<'_>,
    ) -> Option<NodeSet> {
        let roster = split.roster;
        let ours = roster.len() <= self.shared_names.len()
            && roster
                .names()
                .zip(&self.shared_names)
                .all(|(a, b)| Arc::ptr_eq(a, b));
        if !ours {
            return None;
        }
        let mut set: NodeSet = (0..roster.len()).map(|i| self.nodes[i].id).collect();
        for &place in &split.absent {
            set.remove(self.nodes[place].id);
        }
        for id in self.node_set_placed(split.extra.iter().copied()).iter() {
            set.insert(id);
        }
        Some(set)
    }

    /// The names of `set`'s nodes, in name order.
    pub fn names_of(&self, set: &NodeSet) -> Vec<String> {
        let mut v: Vec<String> = set.iter().map(|id| self.node(id).name.clone()).collect();
        v.sort();
        v
    }

    /// Every node that is up.
    pub fn up_nodes(&self) -> NodeSet {
        self.nodes.iter().filter(|n| n.up).map(|n| n.id).collect()
    }

    /// The Pod CIDR that covers every node's Pod subnet.
    pub fn cluster_pod_cidr(&self) -> Vec<Ipv4Net> {
        match self.pod_cidr {
            Some(c) => vec![c],
            None => self.nodes.iter().map(|n| n.pod_cidr).collect(),
        }
    }

    // ----- memberlist views --------------------------------------------------

    /// The view `node`'s agent has reported, if any.
    pub fn view(&self, node: NodeId) -> Option<&NodeSet> {
        self.views.get(node.index())?.as_ref()
    }

    /// The nodes `node`'s agent believes alive: its reported view, else
    /// every node that is up.
    pub fn view_of(&self, node: NodeId) -> Cow<'_, NodeSet> {
        match self.view(node) {
            Some(v) => Cow::Borrowed(v),
            None => Cow::Owned(self.up_nodes()),
        }
    }

    /// Records `node`'s agent's view.
    pub fn set_view(&mut self, node: NodeId, view: NodeSet) {
        self.views[node.index()] = Some(view);
    }

    /// Forgets every reported view: every agent sees every node that is up.
    pub fn clear_views(&mut self) {
        self.views.iter_mut().for_each(|v| *v = None);
    }

    // ----- Pods --------------------------------------------------------------

    /// Every Pod, in creation order.
    pub fn pods(&self) -> impl DoubleEndedIterator<Item = &PodState> {
        self.pods.iter().map(|(_, p)| p)
    }

    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// The Pod `id`; ids come from this cluster state and are not used after
    /// [`ClusterState::remove_pod`].
    pub fn pod(&self, id: PodId) -> &PodState {
        self.pods.get(id).expect("a live Pod id")
    }

    pub fn pod_id(&self, namespace: &str, name: &str) -> Option<PodId> {
        self.pod_by_name.get(namespace)?.get(name).copied()
    }

    /// The Pod `namespace/name`, if there is one.
    pub fn pod_by_name(&self, namespace: &str, name: &str) -> Option<&PodState> {
        self.pod_id(namespace, name).map(|id| self.pod(id))
    }

    /// The Pod with `ip`, if any.
    pub fn pod_with_ip(&self, ip: Ipv4Addr) -> Option<&PodState> {
        self.pod_by_ip.get(&ip).map(|&id| self.pod(id))
    }

    pub fn pod_ip_in_use(&self, ip: Ipv4Addr) -> bool {
        self.pod_by_ip.contains_key(&ip)
    }

    /// `node`'s Pods, in creation order.
    pub fn pods_on(&self, node: NodeId) -> impl DoubleEndedIterator<Item = &PodState> {
        self.pods_by_node[node.index()]
            .iter()
            .map(|&id| self.pod(id))
    }

    /// Adds a Pod (its `id` is set here) and returns its id. Refused when
    /// a Pod of that namespace and name exists, its IP is another Pod's, or
    /// its node is not one of the cluster's.
    pub fn add_pod(&mut self, pod: PodState) -> Result<PodId, String> {
        if self.pod_id(&pod.namespace, &pod.name).is_some() {
            return Err(format!("Pod {}/{} already exists", pod.namespace, pod.name));
        }
        if self.pod_ip_in_use(pod.ip) {
            return Err(format!(
                "status.podIP {} is already used by another Pod",
                pod.ip
            ));
        }
        if pod.node.index() >= self.nodes.len() {
            return Err(format!("Pod {}/{}: no such node", pod.namespace, pod.name));
        }
        let (ip, node) = (pod.ip, pod.node);
        let (ns, name) = (pod.namespace.clone(), pod.name.clone());
        let id = self.pods.push(pod);
        self.pods.get_mut(id).expect("just stored").id = id;
        self.pod_by_name.entry(ns).or_default().insert(name, id);
        self.pod_by_ip.insert(ip, id);
        self.pods_by_node[node.index()].insert(id);
        Ok(id)
    }

    /// Deletes a Pod; its id is not given out again.
    pub fn remove_pod(&mut self, id: PodId) -> Option<PodState> {
        let pod = self.pods.remove(id)?;
        if let Some(names) = self.pod_by_name.get_mut(&pod.namespace) {
            names.remove(&pod.name);
            if names.is_empty() {
                self.pod_by_name.remove(&pod.namespace);
            }
        }
        self.pod_by_ip.remove(&pod.ip);
        self.pods_by_node[pod.node.index()].remove(&id);
        Some(pod)
    }

    /// A Pod's new sandbox address (from [`ClusterState::allocate_pod_ip`],
    /// so no other Pod's).
    pub fn set_pod_ip(&mut self, id: PodId, ip: Ipv4Addr) {
        let old = self.pod(id).ip;
        if old == ip {
            return;
        }
        assert!(
            !self.pod_ip_in_use(ip),
            "{ip} is already another Pod's address"
        );
        self.pod_by_ip.remove(&old);
        self.pod_by_ip.insert(ip, id);
        self.pods.get_mut(id).expect("a live Pod id").ip = ip;
    }

    /// A Pod's `Ready` condition.
    pub fn set_pod_ready(&mut self, id: PodId, ready: bool) {
        self.pods.get_mut(id).expect("a live Pod id").ready = ready;
    }

    /// Reserves the next Pod IP on `node` as host-local does (round-robin
    /// after the last one it handed out, see [`pod_ipam`]).
    pub fn allocate_pod_ip(&mut self, node: NodeId) -> Result<Ipv4Addr, String> {
        let n = &self.nodes[node.index()];
        let cidr = n.pod_cidr;
        let by_ip = &self.pod_by_ip;
        self.pod_ipam
            .allocate(node, cidr, |ip| by_ip.contains_key(&ip))
            .ok_or_else(|| format!("Pod CIDR {cidr} of {} is full", n.name))
    }

    /// Where an unscheduled Pod goes: the schedulable (worker) node with the
    /// fewest Pods, ties broken by name. kubeadm taints control-plane nodes
    /// NoSchedule, so they are used only when there is no worker.
    pub fn schedule_pod(&self) -> Option<NodeId> {
        let any_worker = self.nodes.iter().any(|n| !n.control_plane && n.up);
        self.nodes
            .iter()
            .filter(|n| n.up && (!any_worker || !n.control_plane))
            .min_by_key(|n| (self.pods_by_node[n.id.index()].len(), n.name.as_str()))
            .map(|n| n.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cluster(names: &[&str]) -> ClusterState {
        let mut c = ClusterState::default();
        for (i, n) in names.iter().enumerate() {
            let cidr: Ipv4Net = format!("10.{i}.0.0/24").parse().unwrap();
            c.add_node(NodeState::new(
                n,
                Ipv4Addr::new(192, 168, 0, i as u8 + 1),
                cidr,
                "eth0",
            ));
        }
        c
    }

    /// Members placed in a roster of the cluster's peers map to the nodes
    /// their names name; a wrong place or a copy of a name falls back to
    /// the name.
    #[test]
    fn placed_members_are_the_nodes_they_name() {
        let c = cluster(&["n-a", "n-b", "n-c"]);
        let peers = c.peers();
        let by_place = |i: usize| (Some(i), &*peers[i].0);
        let copy_of_b = String::from("n-b");
        let placed = c.node_set_placed([
            by_place(2),
            // A place that does not hold this allocation: looked up by name.
            (Some(0), copy_of_b.as_str()),
            (None, "not-a-node"),
            (Some(9), "n-a"),
        ]);
        assert_eq!(placed, c.node_set(["n-c", "n-b", "n-a"]));
        assert_eq!(c.node_set_placed([by_place(1)]), c.node_set(["n-b"]));
    }

    fn pod(ns: &str, name: &str, node: NodeId, ip: Ipv4Addr) -> PodState {
        PodState {
            id: PodId(0),
            namespace: ns.into(),
            name: name.into(),
            node,
            ip,
            labels: IndexMap::new(),
            tcp_listen: Vec::new(),
            named_ports: Vec::new(),
            l7_export: None,
            ready: true,
        }
    }

    #[test]
    fn node_ids_and_names_round_trip() {
        let c = cluster(&["worker-b", "cp", "worker-a"]);
        for n in c.nodes() {
            assert_eq!(c.node_id(&n.name), Some(n.id));
            assert_eq!(c.node(n.id).name, n.name);
        }
        assert_eq!(c.node_id("nope"), None);
        // Id order is the order of addition; name order is by name.
        let by_id: Vec<&str> = c.nodes().map(|n| n.name.as_str()).collect();
        let by_name: Vec<&str> = c.nodes_by_name().map(|n| n.name.as_str()).collect();
        assert_eq!(by_id, ["worker-b", "cp", "worker-a"]);
        assert_eq!(by_name, ["cp", "worker-a", "worker-b"]);
        let set = c.node_set(["worker-a", "ghost", "worker-b"]);
        assert_eq!(set.len(), 2);
        assert_eq!(c.names_of(&set), ["worker-a", "worker-b"]);
    }

    #[test]
    fn views_default_to_the_nodes_that_are_up() {
        let mut c = cluster(&["a", "b", "c"]);
        let b = c.node_id("b").unwrap();
        c.set_node_up(b, false);
        let a = c.node_id("a").unwrap();
        assert_eq!(c.names_of(&c.view_of(a)), ["a", "c"]);
        c.set_view(a, NodeSet::new());
        assert!(c.view_of(a).is_empty());
        assert!(c.view(a).is_some());
        c.clear_views();
        assert_eq!(c.view(a), None);
    }

    #[test]
    fn scheduling_picks_the_emptiest_worker_by_name() {
        let mut c = cluster(&["w2", "w1"]);
        let (w2, w1) = (NodeId(0), NodeId(1));
        assert_eq!(c.schedule_pod(), Some(w1));
        let ip = c.allocate_pod_ip(w1).unwrap();
        assert_eq!(ip, Ipv4Addr::new(10, 1, 0, 2));
        c.add_pod(pod("d", "p", w1, ip)).unwrap();
        assert_eq!(c.schedule_pod(), Some(w2));
        assert_eq!(
            c.add_pod(pod("d", "p", w2, Ipv4Addr::new(10, 0, 0, 9))),
            Err("Pod d/p already exists".to_string())
        );
        assert_eq!(
            c.add_pod(pod("d", "q", w2, ip)),
            Err(format!("status.podIP {ip} is already used by another Pod"))
        );
    }

    #[derive(Clone, Debug)]
    enum Op {
        Add { ns: u8, name: u8, node: u8 },
        Remove(u8),
        Readdress(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..3, 0u8..6, 0u8..3).prop_map(|(ns, name, node)| Op::Add { ns, name, node }),
            any::<u8>().prop_map(Op::Remove),
            any::<u8>().prop_map(Op::Readdress),
        ]
    }

    proptest! {
        /// Random Pod additions, deletions and re-addressings keep the
        /// name, IP and per-node indexes equal to a naive list's answers.
        #[test]
        fn pod_indexes_follow_a_naive_list(ops in proptest::collection::vec(op(), 0..80)) {
            let mut c = cluster(&["n0", "n1", "n2"]);
            let mut model: Vec<(String, String, NodeId, Ipv4Addr, PodId)> = Vec::new();
            for op in ops {
                match op {
                    Op::Add { ns, name, node } => {
                        let (ns, name, node) = (format!("ns{ns}"), format!("p{name}"), NodeId(node.into()));
                        let ip = c.allocate_pod_ip(node).unwrap();
                        prop_assert!(!model.iter().any(|m| m.3 == ip));
                        let r = c.add_pod(pod(&ns, &name, node, ip));
                        if model.iter().any(|m| m.0 == ns && m.1 == name) {
                            prop_assert!(r.is_err());
                        } else {
                            let id = r.unwrap();
                            prop_assert!(model.iter().all(|m| m.4 != id), "ids are not reused");
                            model.push((ns, name, node, ip, id));
                        }
                    }
                    Op::Remove(k) if !model.is_empty() => {
                        let m = model.remove(k as usize % model.len());
                        let gone = c.remove_pod(m.4).unwrap();
                        prop_assert_eq!((gone.namespace, gone.name), (m.0, m.1));
                        prop_assert!(c.remove_pod(m.4).is_none());
                    }
                    Op::Readdress(k) if !model.is_empty() => {
                        let i = k as usize % model.len();
                        let ip = c.allocate_pod_ip(model[i].2).unwrap();
                        c.set_pod_ip(model[i].4, ip);
                        model[i].3 = ip;
                    }
                    _ => {}
                }
                prop_assert_eq!(c.pod_count(), model.len());
                let listed: Vec<PodId> = c.pods().map(|p| p.id).collect();
                let expected: Vec<PodId> = model.iter().map(|m| m.4).collect();
                prop_assert_eq!(listed, expected, "creation order");
                for (ns, name, node, ip, id) in &model {
                    prop_assert_eq!(c.pod_id(ns, name), Some(*id));
                    prop_assert_eq!(c.pod_with_ip(*ip).map(|p| p.id), Some(*id));
                    let p = c.pod(*id);
                    prop_assert_eq!((&p.namespace, &p.name, p.node, p.ip), (ns, name, *node, *ip));
                }
                for n in 0..3u32 {
                    let on: Vec<PodId> = c.pods_on(NodeId(n)).map(|p| p.id).collect();
                    let want: Vec<PodId> = model.iter().filter(|m| m.2 == NodeId(n)).map(|m| m.4).collect();
                    prop_assert_eq!(on, want);
                }
                for ns in 0..3 {
                    for name in 0..6 {
                        let (ns, name) = (format!("ns{ns}"), format!("p{name}"));
                        let want = model.iter().find(|m| m.0 == ns && m.1 == name).map(|m| m.4);
                        prop_assert_eq!(c.pod_id(&ns, &name), want);
                    }
                }
            }
        }
    }
}
