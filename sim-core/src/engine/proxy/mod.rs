//! The Service proxy engine: what AntreaProxy and kube-proxy install on one
//! node for the cluster's Services, and which of them handles a packet.
//!
//! Pure logic, IPv4 only, TCP and UDP (SCTP ports are carried but treated like
//! UDP where a proxy needs a protocol word). Modelled on Antrea v1.15
//! (`pkg/agent/proxy/proxier.go`, `pkg/agent/openflow/pipeline.go`,
//! `docs/design/ovs-pipeline.md`) and kube-proxy of Kubernetes 1.28
//! (`pkg/proxy/iptables/proxier.go`, `pkg/proxy/ipvs/proxier.go`,
//! `pkg/proxy/topology.go`); the EndpointSlice controller's topology hints
//! follow `k8s.io/endpointslice/topologycache`.
//!
//! ## Module map and public API
//! - [`endpoints`]: the EndpointSlice controller.
//!   `endpoint_slices(&Service, &[EndpointPod], &[ProxyNode]) -> ServiceEndpoints`:
//!   selector match, ready/serving/terminating, named/numeric `targetPort`
//!   resolution, zone hints (`HintsOutcome` says why there are none).
//! - [`rules`]: per-node service rules as data (`NodeServiceRules`, one
//!   `ServicePortRules` per Service port).
//! - `compile` (private, re-exported): building them.
//!   `compile_node(&ProxyNode, &[ProxyService], &[ProxyNode], &ProxyConfig) -> NodeServiceRules`,
//!   `update_service(&mut NodeServiceRules, &ProxyService)`,
//!   `remove_service(&mut NodeServiceRules, namespace, name)`; the incremental
//!   pair always equals a full recompile (tested with proptest).
//!   `compile_node_with(.., &mut ServiceMemo)` compiles the nodes of one
//!   cluster together: the nodes of a zone that host none of a Service's
//!   endpoints compile it alike, so they share one table
//!   (`rules::SharedServices`) and each node compiles itself only the
//!   Services it differs on (equal to compiling it alone: proptest).
//!   `NodeServiceRules::ipvs_arp_addresses()` lists the `kube-ipvs0` VIPs the
//!   kernel answers ARP for when IPVS runs without `strictARP`.
//! - [`handler`]: who handles a packet.
//!   `classify(&NodeServiceRules, TrafficOrigin, dst, dport, Protocol) -> Option<ServiceMatch>`,
//!   `pick_endpoint(&ServiceMatch, flow_hash) -> Option<(Ipv4Addr, u16)>`,
//!   `AffinityTable` for `sessionAffinity: ClientIP`.
//! - [`render`]: `render_antrea(&NodeServiceRules) -> String` (OVS flows and
//!   groups by table name, pipeline order) and `render_kube_proxy(..)`
//!   (`iptables-save` or `ipvsadm -Ln`).
//! - [`count`]: `rule_counts(&NodeServiceRules) -> RuleCounts` and the pure
//!   benchmark generator `synthetic_services(n, eps, nodes, seed)`.
//! - `kubeproxy` (private): kube-proxy's iptables chains and IPVS services.
//! - `chain_hash` (private): SHA-256 (the `sha2` crate) + base32 for kube-proxy's chain names.
//!
//! Documented simplifications: node CPU for hints is `ProxyNode::cpu_milli`
//! (default equal per node); group ids are numbered at render time in Service
//! order (Antrea allocates them in install order, so real ids differ); endpoint
//! choice is a deterministic function of a per-connection hash (see
//! [`handler::pick_endpoint`]).

mod chain_hash;
mod compile;
pub mod count;
pub mod endpoints;
pub mod handler;
mod kubeproxy;
pub mod node_addresses;
pub mod render;
pub mod rules;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::NodeState;
use crate::k8s::Protocol;

pub use compile::{ServiceMemo, compile_node, compile_node_with, remove_service, update_service};
pub use count::{RuleCounts, rule_counts, synthetic_services};
pub use endpoints::{
    Endpoint, EndpointPod, HintsOutcome, PortEndpoints, ServiceEndpoints, endpoint_slices,
};
pub use handler::{
    AffinityTable, NoEndpointsAction, ProxyKind, ServiceMatch, SnatPolicy, TrafficOrigin, classify,
    handled_by, pick_endpoint,
};
pub use kubeproxy::{IptRule, IptTable};
pub use render::{render_antrea, render_kube_proxy};
pub use rules::{
    AntreaPortRules, AntreaVip, Categorized, EndpointRef, IpvsService, KubePortRules,
    NodeServiceRules, ProxyService, ServiceKey, ServicePortRules, ServiceRulesRef, SharedServices,
    VipKind,
};

/// The zone label the EndpointSlice controller and both proxies read.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Antrea's per-Service load-balancer mode annotation (v1.13+).
pub const LB_MODE_ANNOTATION: &str = "service.antrea.io/load-balancer-mode";
/// Topology annotation since Kubernetes 1.27.
pub const TOPOLOGY_MODE_ANNOTATION: &str = "service.kubernetes.io/topology-mode";
/// The older topology annotation, still read first by Antrea v1.15
/// (`third_party/proxy/service.go`).
pub const TOPOLOGY_HINTS_ANNOTATION: &str = "service.kubernetes.io/topology-aware-hints";
/// Virtual NodePort DNAT IP: host iptables DNATs NodePort traffic to it before
/// OVS (`pkg/agent/config/node_config.go`).
pub const VIRTUAL_NODEPORT_DNAT_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 252);
/// Virtual Service IP: hairpin connections (a Pod reaching itself through a
/// Service) are SNATed to it so the reply goes back through OVS
/// (`config.VirtualServiceIPv4`, pkg/agent/config/node_config.go).
pub const VIRTUAL_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 253);
/// AntreaProxy's session-affinity timeout is an OpenFlow `hard_timeout`, a u16
/// (`maxSupportedAffinityTimeout`, proxier.go; issue #1578).
pub const MAX_ANTREA_AFFINITY_TIMEOUT: u32 = 65535;
/// Every bucket of an AntreaProxy group has this weight (`serviceEndpointGroup`).
pub const BUCKET_WEIGHT: u32 = 100;

/// kube-proxy's data-plane mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KubeProxyMode {
    Iptables,
    /// `strictARP: false` makes every node answer ARP for the VIPs bound to
    /// `kube-ipvs0`; ServiceExternalIP needs it true (docs/service-loadbalancer.md).
    Ipvs {
        strict_arp: bool,
    },
}

/// AntreaProxy's load-balancer mode (`defaultLoadBalancerMode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum LbMode {
    #[default]
    Nat,
    /// Direct server return (gate `LoadBalancerModeDSR`): applies to
    /// LoadBalancer and external IPs only.
    Dsr,
}

impl LbMode {
    /// `config.GetLoadBalancerModeFromStr` (pkg/agent/config/load_balancer_mode.go):
    /// `nat` or `dsr`, any case. Used for `antreaProxy.defaultLoadBalancerMode`
    /// and the `service.antrea.io/load-balancer-mode` annotation.
    pub fn from_antrea_str(text: &str) -> Option<LbMode> {
        [LbMode::Nat, LbMode::Dsr]
            .into_iter()
            .find(|m| m.to_string().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for LbMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LbMode::Nat => "nat",
            LbMode::Dsr => "dsr",
        })
    }
}

/// The proxy settings of one cluster: `antrea-agent.conf` `antreaProxy.*`,
/// Antrea gates, and whether kube-proxy runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyConfig {
    /// Gate `AntreaProxy` (GA, default true).
    pub antrea_proxy: bool,
    /// `antreaProxy.proxyAll` (default false).
    pub proxy_all: bool,
    /// kube-proxy's DaemonSet, if the cluster runs it (kubeadm installs it in
    /// iptables mode; the blog's cluster used IPVS).
    pub kube_proxy: Option<KubeProxyMode>,
    /// `antreaProxy.nodePortAddresses`; empty = every node address Antrea
    /// accepts (in antlab: the node's transport IP; `antrea-gw0` is excluded).
    pub node_port_addresses: Vec<Ipv4Net>,
    /// `antreaProxy.skipServices`: a ClusterIP or `namespace/name`.
    pub skip_services: Vec<String>,
    /// `antreaProxy.proxyLoadBalancerIPs` (default true).
    pub proxy_load_balancer_ips: bool,
    /// `antreaProxy.defaultLoadBalancerMode` (default nat).
    pub default_load_balancer_mode: LbMode,
    /// Gate `TopologyAwareHints` (Beta, default true in v1.15).
    pub topology_aware_hints: bool,
    /// Gate `LoadBalancerModeDSR` (Alpha, default false).
    pub dsr_enabled: bool,
    /// Antrea ≥ v2.1 (PR #6308): with proxyAll, Antrea's host rules go before
    /// kube-proxy's, so AntreaProxy wins NodePort/LoadBalancer/external-IP
    /// traffic even when kube-proxy (iptables mode) runs. False = v1.15–v2.0,
    /// where "kube-proxy will usually take priority" (docs/antrea-proxy.md@v1.15.0).
    pub antrea_first_with_proxy_all: bool,
    /// kube-proxy's `--cluster-cidr`: drives its "pod traffic" and
    /// "masquerade off-cluster traffic" rules. None = no local-traffic detector.
    pub cluster_cidr: Option<Ipv4Net>,
}

impl Default for ProxyConfig {
    /// Antrea v1.15 defaults with kube-proxy in iptables mode (a kubeadm cluster).
    fn default() -> Self {
        ProxyConfig {
            antrea_proxy: true,
            proxy_all: false,
            kube_proxy: Some(KubeProxyMode::Iptables),
            node_port_addresses: Vec::new(),
            skip_services: Vec::new(),
            proxy_load_balancer_ips: true,
            default_load_balancer_mode: LbMode::Nat,
            topology_aware_hints: true,
            dsr_enabled: false,
            antrea_first_with_proxy_all: false,
            cluster_cidr: None,
        }
    }
}

/// What the proxies need to know about a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyNode {
    pub name: String,
    /// Transport (InternalIP) address.
    pub(crate) ip: Ipv4Addr,
    /// Every address of the node's own interfaces, with the interface, in
    /// interface order (the transport address among them); see
    /// [`node_addresses`] for which ones serve NodePorts.
    pub(crate) host_addrs: Vec<(String, Ipv4Addr)>,
    /// `antrea-gw0`'s address (first host of the Pod CIDR). kube-proxy treats it
    /// as a node address (the blog's IPVS dump has a NodePort on it); Antrea
    /// excludes it from NodePort addresses.
    pub(crate) gateway_ip: Option<Ipv4Addr>,
    /// The node's Pod CIDR: source of "from a local Pod" in OVS.
    pub(crate) pod_cidr: Option<Ipv4Net>,
    /// Label `topology.kubernetes.io/zone`.
    pub(crate) zone: Option<String>,
    /// Control-plane nodes are left out of the hint capacity computation.
    pub(crate) control_plane: bool,
    /// Not-ready nodes are left out of the hint capacity computation.
    pub(crate) ready: bool,
    /// Allocatable CPU in millicores; the hint computation splits endpoints
    /// between zones in proportion to it. Default 1000 (equal nodes).
    pub(crate) cpu_milli: u32,
}

impl ProxyNode {
    pub fn new(name: impl Into<String>, ip: Ipv4Addr) -> Self {
        ProxyNode {
            name: name.into(),
            ip,
            host_addrs: vec![("eth0".into(), ip)],
            gateway_ip: None,
            pod_cidr: None,
            zone: None,
            control_plane: false,
            ready: true,
            cpu_milli: 1000,
        }
    }

    /// From the engine's node state: gateway = first host of the Pod CIDR.
    pub fn from_state(n: &NodeState) -> Self {
        ProxyNode {
            name: n.name.clone(),
            ip: n.ip,
            host_addrs: if n.host_addrs.is_empty() {
                vec![(n.transport_iface.clone(), n.ip)]
            } else {
                n.host_addrs.clone()
            },
            gateway_ip: n.pod_cidr.hosts().next(),
            pod_cidr: Some(n.pod_cidr),
            zone: n.labels.get(ZONE_LABEL).filter(|z| !z.is_empty()).cloned(),
            control_plane: n.control_plane,
            // The NodeReady condition, which the EndpointSlice controller's
            // topology cache reads (`isNodeReady`): a node that just lost
            // power is still Ready until node-monitor-grace-period passes.
            ready: n.ready,
            cpu_milli: 1000,
        }
    }

    /// The addresses kube-proxy serves NodePorts on
    /// ([`node_addresses::kube_proxy_nodeport_addresses`]).
    pub fn kube_nodeport_addresses(&self, cfg: &ProxyConfig) -> Vec<Ipv4Addr> {
        node_addresses::kube_proxy_nodeport_addresses(self, cfg)
    }
}

/// `namespace/name:port` as kube-proxy and AntreaProxy name a Service port
/// (`ServicePortName.String()`: the `:port` part only when the port is named).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServicePortName {
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) port: Option<String>,
}

impl fmt::Display for ServicePortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)?;
        if let Some(p) = &self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// IP protocol number, for ordering and OVS/iptables words.
pub(crate) fn proto_num(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Sctp => 132,
    }
}

/// Lower-case protocol word (`tcp`), as OVS matches and iptables `-p` use.
pub(crate) fn proto_word(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}
