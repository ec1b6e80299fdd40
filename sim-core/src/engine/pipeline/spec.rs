//! The input of the pipeline compiler: one node as Antrea's agent sees it
//! when it programs br-int ([`PipelineSpec`]), plain data built with
//! methods.
//!
//! Ports follow Antrea's defaults (contract section 2): the tunnel
//! `antrea-tun0` is ofport [`TUNNEL_OFPORT`] (1), the gateway `antrea-gw0`
//! ofport [`GATEWAY_OFPORT`] (2), and local Pods take ofports from
//! [`FIRST_POD_OFPORT`] (3) upwards in the order they are added
//! (`config.DefaultTunOFPort`, `config.HostGatewayOFPort`,
//! pkg/agent/config/node_config.go; OVS numbers ports in creation order).

use std::net::Ipv4Addr;
use std::sync::Arc;

use ipnet::Ipv4Net;

pub use crate::engine::config::EncapMode;
use crate::engine::peer_routes::PeerRouteSet;
use crate::engine::policy::NodePolicyRules;
use crate::engine::proxy::rules::NodeServiceRules;
use crate::engine::traffic_control::{NodeTrafficControl, TcPortPlan};
use crate::model::MacAddr;

/// `antrea-tun0`'s ofport.
pub const TUNNEL_OFPORT: u32 = 1;
/// `antrea-gw0`'s ofport.
pub const GATEWAY_OFPORT: u32 = 2;
/// The first local Pod's ofport.
pub const FIRST_POD_OFPORT: u32 = 3;

/// Feature gates and options that change the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    /// Gate `AntreaProxy`.
    pub antrea_proxy: bool,
    /// `antreaProxy.proxyAll`.
    pub proxy_all: bool,
    /// Gate `LoadBalancerModeDSR` (its DSR flows; the agent refuses
    /// `defaultLoadBalancerMode: dsr` outside encap mode).
    pub dsr: bool,
    /// Gate `Egress`.
    pub egress: bool,
    /// Gate `AntreaPolicy` (the Antrea-native policy tables).
    pub antrea_policy: bool,
    /// OVS meters available: the NetworkPolicy logging flows then carry
    /// `meter:256`. Off by default, so that the program loads into an OVS
    /// with no meters configured.
    pub ovs_meters: bool,
    /// The flow exporter runs (`enableDenyTracking`, as Antrea passes
    /// `enableFlowExporter`): every NetworkPolicy drop also goes to the
    /// agent, which keeps the denied connection for export.
    pub deny_tracking: bool,
    /// Gate `TrafficControl`: the TrafficControl table and its common
    /// flows (pod_connectivity.go `trafficControlCommonFlows`).
    pub traffic_control: bool,
}

impl Default for Features {
    /// Antrea v1.15.1's defaults on Linux (TrafficControl, Multicast and
    /// Multicluster off; the last two are not modelled).
    fn default() -> Self {
        Features {
            antrea_proxy: true,
            proxy_all: false,
            dsr: false,
            egress: true,
            antrea_policy: true,
            ovs_meters: false,
            deny_tracking: false,
            traffic_control: false,
        }
    }
}

/// A Pod on this node, attached to br-int.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalPod {
    pub(crate) ofport: u32,
    pub(crate) mac: MacAddr,
    pub(crate) ip: Ipv4Addr,
}

impl LocalPod {
    pub fn ofport(&self) -> u32 {
        self.ofport
    }
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }
}

/// Another node of the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerNode {
    pub(crate) pod_cidr: Ipv4Net,
    /// Transport address (the tunnel's destination).
    pub(crate) node_ip: Ipv4Addr,
    /// Its `antrea-gw0` address.
    pub(crate) gateway_ip: Ipv4Addr,
}

/// The node's peers: the cluster's shared list save the node itself (the
/// engine's [`PeerRouteSet`], one for every node of a compile), then any
/// added one by one ([`PipelineSpec::add_peer`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct Peers {
    shared: Option<(Arc<PeerRouteSet>, Option<usize>)>,
    added: Vec<PeerNode>,
}

impl Peers {
    pub(crate) fn iter(&self) -> impl Iterator<Item = PeerNode> + '_ {
        let shared = self.shared.iter().flat_map(|(set, except)| {
            set.others(*except).map(|r| PeerNode {
                pod_cidr: r.dst.trunc(),
                node_ip: r.node_ip,
                gateway_ip: r.gateway_ip,
            })
        });
        shared.chain(self.added.iter().copied())
    }

    pub(crate) fn len(&self) -> usize {
        let shared = self.shared.as_ref().map_or(0, |(set, except)| {
            set.len() - usize::from(except.is_some_and(|i| i < set.len()))
        });
        shared + self.added.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn get(&self, i: usize) -> Option<PeerNode> {
        self.iter().nth(i)
    }
}

impl PartialEq for Peers {
    fn eq(&self, other: &Self) -> bool {
        let same_shared = match (&self.shared, &other.shared) {
            (Some((a, x)), Some((b, y))) => Arc::ptr_eq(a, b) && x == y,
            (None, None) => true,
            _ => false,
        };
        (same_shared && self.added == other.added) || self.iter().eq(other.iter())
    }
}

impl Eq for Peers {}

/// Where a local Pod's Egress traffic leaves the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodEgress {
    /// This node holds the Egress IP: mark the packets for SNAT.
    Local { mark: u32 },
    /// Another node holds it: tunnel the packets to the Egress IP.
    Remote,
}

/// One `InstallPodSNATFlows` call: a local Pod selected by an Egress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PodSnat {
    pub(crate) ofport: u32,
    pub(crate) egress_ip: Ipv4Addr,
    pub(crate) how: PodEgress,
}

/// Which kind of node runs the agent (`config.NodeType`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NodeType {
    /// A Kubernetes Node: Pods, the gateway, the tunnel.
    #[default]
    K8s,
    /// An external Node (a VM running antrea-agent in ExternalNode mode):
    /// one interface moved onto br-int as the uplink `IFACE~`, and an
    /// internal port `IFACE` that took over its addresses and routes.
    External {
        /// The internal port's ofport (the ExternalEntity's interface).
        host_ofport: u32,
        uplink_ofport: u32,
    },
}

/// What the pipeline of one node is compiled from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineSpec {
    pub(crate) node_type: NodeType,
    pub(crate) encap: EncapMode,
    pub(crate) features: Features,
    /// Transport address with its subnet (hybrid mode tunnels outside it).
    pub(crate) node_ip: Ipv4Net,
    pub(crate) gateway_mac: MacAddr,
    pub(crate) gateway_ip: Ipv4Addr,
    pub(crate) pod_cidr: Ipv4Net,
    pub(crate) pods: Vec<LocalPod>,
    pub(crate) peers: Peers,
    pub(crate) services: Option<Arc<NodeServiceRules>>,
    /// `serviceCIDR`: the DNAT flow when AntreaProxy is off, the Egress
    /// bypass flow when Egress is on.
    pub(crate) service_cidr: Option<Ipv4Net>,
    /// `egress.exceptCIDRs`.
    pub(crate) egress_except: Vec<Ipv4Net>,
    /// Egress IPs this node holds, with their SNAT marks (`InstallSNATMarkFlows`).
    pub(crate) snat_marks: Vec<(Ipv4Addr, u32)>,
    pub(crate) pod_snat: Vec<PodSnat>,
    /// NodePort addresses when `proxy_all` is on and no Service rules say
    /// otherwise (`NodeServiceRules::antrea_nodeport_addresses` wins).
    pub(crate) nodeport_addresses: Vec<Ipv4Addr>,
    /// The node's NetworkPolicy rules (None: the cluster has no policy).
    pub(crate) policy: Option<Arc<NodePolicyRules>>,
    /// TrafficControl ports and marks (with the gate on and one applied).
    pub(crate) traffic_control: Option<Arc<NodeTrafficControl>>,
}

impl PipelineSpec {
    /// A node with transport address `node_ip` (with its prefix), Pod subnet
    /// `pod_cidr` and gateway MAC `gateway_mac`; the gateway IP is the
    /// subnet's first address as Antrea assigns it. Default features,
    /// Geneve encapsulation.
    pub fn new(node_ip: Ipv4Net, pod_cidr: Ipv4Net, gateway_mac: MacAddr) -> PipelineSpec {
        let gateway_ip = Ipv4Addr::from(u32::from(pod_cidr.network()).saturating_add(1));
        PipelineSpec {
            node_type: NodeType::K8s,
            encap: EncapMode::default(),
            features: Features::default(),
            node_ip,
            gateway_mac,
            gateway_ip,
            pod_cidr: pod_cidr.trunc(),
            pods: Vec::new(),
            peers: Peers::default(),
            services: None,
            service_cidr: None,
            egress_except: Vec::new(),
            snat_marks: Vec::new(),
            pod_snat: Vec::new(),
            nodeport_addresses: vec![node_ip.addr()],
            policy: None,
            traffic_control: None,
        }
    }

    /// An external Node with address `ip`: its uplink and internal port
    /// on the given ofports, AntreaPolicy on (the only policies it takes
    /// are Antrea-native), nothing of a Kubernetes Node.
    pub fn external(ip: Ipv4Addr, host_ofport: u32, uplink_ofport: u32) -> PipelineSpec {
        let mut s = PipelineSpec::new(Ipv4Net::from(ip), Ipv4Net::from(ip), MacAddr([0; 6]));
        s.node_type = NodeType::External {
            host_ofport,
            uplink_ofport,
        };
        s.features = Features {
            antrea_proxy: false,
            egress: false,
            ..Features::default()
        };
        s
    }

    pub fn node_type(&self) -> NodeType {
        self.node_type
    }
    pub fn is_external_node(&self) -> bool {
        matches!(self.node_type, NodeType::External { .. })
    }

    pub fn with_encap(mut self, encap: EncapMode) -> Self {
        self.encap = encap;
        self
    }
    pub fn with_features(mut self, features: Features) -> Self {
        self.features = features;
        self
    }
    pub fn with_gateway_ip(mut self, ip: Ipv4Addr) -> Self {
        self.gateway_ip = ip;
        self
    }
    pub fn with_service_cidr(mut self, cidr: Option<Ipv4Net>) -> Self {
        self.service_cidr = cidr;
        self
    }
    pub fn with_egress_except(mut self, cidrs: Vec<Ipv4Net>) -> Self {
        self.egress_except = cidrs;
        self
    }
    /// The NodePort addresses used when there are no Service rules.
    pub fn with_nodeport_addresses(mut self, addrs: Vec<Ipv4Addr>) -> Self {
        self.nodeport_addresses = addrs;
        self
    }
    pub fn with_services(mut self, rules: Option<Arc<NodeServiceRules>>) -> Self {
        self.services = rules;
        self
    }
    pub fn with_policy(mut self, rules: Option<Arc<NodePolicyRules>>) -> Self {
        self.policy = rules;
        self
    }
    pub fn with_traffic_control(mut self, tc: Option<Arc<NodeTrafficControl>>) -> Self {
        self.traffic_control = tc;
        self
    }
    /// The TrafficControl ports on this br-int (empty without any).
    pub fn traffic_control_ports(&self) -> &[TcPortPlan] {
        self.traffic_control.as_ref().map_or(&[], |t| &t.ports)
    }

    /// Attaches a Pod; returns the ofport it gets (the next free one).
    pub fn add_pod(&mut self, mac: MacAddr, ip: Ipv4Addr) -> u32 {
        let ofport = FIRST_POD_OFPORT + self.pods.len() as u32;
        self.pods.push(LocalPod { ofport, mac, ip });
        ofport
    }
    /// Attaches a Pod on a given ofport (as Antrea's tests do).
    pub fn add_pod_at(&mut self, ofport: u32, mac: MacAddr, ip: Ipv4Addr) {
        self.pods.push(LocalPod { ofport, mac, ip });
    }
    pub fn add_peer(&mut self, pod_cidr: Ipv4Net, node_ip: Ipv4Addr, gateway_ip: Ipv4Addr) {
        self.peers.added.push(PeerNode {
            pod_cidr: pod_cidr.trunc(),
            node_ip,
            gateway_ip,
        });
    }
    /// Every node of `set` but the one at `except` is a peer (before any
    /// added with [`PipelineSpec::add_peer`]).
    pub fn with_shared_peers(mut self, set: Arc<PeerRouteSet>, except: Option<usize>) -> Self {
        self.peers.shared = Some((set, except));
        self
    }

    /// This node holds Egress IP `ip`, SNATed with `mark`.
    pub fn add_snat_mark(&mut self, ip: Ipv4Addr, mark: u32) {
        self.snat_marks.push((ip, mark));
    }
    /// The local Pod on `ofport` is selected by the Egress with IP `egress_ip`.
    pub fn add_pod_egress(&mut self, ofport: u32, egress_ip: Ipv4Addr, how: PodEgress) {
        self.pod_snat.push(PodSnat {
            ofport,
            egress_ip,
            how,
        });
    }

    pub fn encap(&self) -> EncapMode {
        self.encap
    }
    pub fn features(&self) -> Features {
        self.features
    }
    pub fn pods(&self) -> &[LocalPod] {
        &self.pods
    }
    /// `NeedsTunnelToPeer`: encap always, hybrid outside the transport subnet.
    pub(crate) fn tunnels_to(&self, peer_ip: Ipv4Addr) -> bool {
        match self.encap {
            EncapMode::Encap => true,
            EncapMode::NoEncap | EncapMode::NetworkPolicyOnly => false,
            EncapMode::Hybrid => !self.node_ip.contains(&peer_ip),
        }
    }
}
