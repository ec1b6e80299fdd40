//! A scenario's timeline as data: each [`Step`] is one [`Action`] at a
//! time, written at a line and column; what probes, `show` and `expect`
//! steps name. [`super::load`] builds them; [`super::limits`], the VLAN
//! step checks, [`super::admit`] and [`super::run`] read them.

use std::net::Ipv4Addr;

use crate::k8s::{LabelEdit, Object};
use crate::model::MacAddr;
use crate::sim::probe::ProbeKind;
use crate::time::{SimDuration, SimTime};

#[derive(Clone, Debug)]
pub struct Step {
    pub at: SimTime,
    /// Where the step is written, for messages.
    pub line: u64,
    pub column: u64,
    pub action: Action,
}

#[derive(Clone, Debug)]
pub enum Action {
    Apply {
        source: String,
        objects: Vec<Object>,
    },
    Delete {
        source: String,
        objects: Vec<Object>,
    },
    Label {
        node: String,
        edits: Vec<LabelEdit>,
        annotate: bool,
    },
    Power {
        device: String,
        on: bool,
    },
    Link {
        port: String,
        up: bool,
    },
    StartProbe(ProbeStep),
    StopProbe(String),
    /// Flush a device's ARP cache.
    ClearArp(String),
    /// `ip route add/del` on a device.
    Route {
        device: String,
        add: bool,
        route: crate::model::RouteSpec,
        text: String,
    },
    /// Reconfigure a switch port's VLAN mode.
    Vlan {
        port: String,
        mode: crate::model::VlanMode,
        text: String,
    },
    Show(Show),
    Expect(Vec<Expectation>),
    Say(String),
    /// Start (or with `inline: None` stop) an inline appliance (an IPS) on
    /// `nodes` (every node when empty) that sends what br-int outputs to
    /// TrafficControl port `from` back in by another port.
    Inline {
        nodes: Vec<String>,
        from: String,
        inline: Option<crate::sim::Inline>,
    },
}

/// The nodes an `inline` step acts on: those it names, or every node of
/// the cluster.
pub fn inline_targets(nodes: &[String], cluster: &crate::engine::ClusterState) -> Vec<String> {
    if nodes.is_empty() {
        cluster.nodes().map(|n| n.name.clone()).collect()
    } else {
        nodes.to_vec()
    }
}

/// Something a probe or expectation can name: a Pod, a device, or an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Pod { namespace: String, name: String },
    Device(String),
    Ip(Ipv4Addr),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Pod { namespace, name } => write!(f, "pod/{namespace}/{name}"),
            Endpoint::Device(d) => f.write_str(d),
            Endpoint::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ProbeStep {
    pub name: String,
    pub from: Endpoint,
    pub to: Endpoint,
    pub kind: ProbeKind,
    pub interval: SimDuration,
    pub timeout: SimDuration,
    pub count: Option<u32>,
    /// Ping payload bytes (`ping -s`); `None` is the default payload.
    pub size: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Show {
    Nodes,
    Pods,
    Probes,
    Links,
    Topology,
    Arp(String),
    Mac(String),
    Routes(String),
    Dataplane(String),
    Trace(String),
    /// `kubectl get egress`, or with a name its status and conditions.
    Egress(Option<String>),
    /// `kubectl get externalippools`
    ExternalIpPools,
    /// `kubectl get svc -A`
    Services,
    /// `antctl get serviceexternalip`
    ServiceExternalIps,
    /// `kubectl get endpoints -A`
    Endpoints,
    /// `antctl get memberlist` as seen by one node's agent (default: the first up node).
    Memberlist(Option<String>),
    /// `kubectl get networkpolicy -A`.
    NetworkPolicies,
    /// `kubectl get acnp`.
    ClusterNetworkPolicies,
    /// `kubectl get anp -A`.
    AntreaNetworkPolicies,
    /// `kubectl get tiers`.
    Tiers,
    /// A Traceflow's result as `antctl traceflow` prints it; without a
    /// name, the Traceflows applied (name, phase, source Pod, destination).
    Traceflow(Option<String>),
    /// `ip link` on a node.
    IpLink(String),
    /// `ip addr` on a node.
    IpAddr(String),
    /// `kubectl get externalnodes -A` and `kubectl get externalentities -A`.
    ExternalNodes,
    /// `kubectl get trafficcontrols`, with every node's TrafficControl
    /// ports and what br-int sent to each (`ovs-ofctl dump-ports`).
    TrafficControls,
    /// `iptables-save` of a node's NodeNetworkPolicy chains (the engine's
    /// `engine::policy::host::HostFirewall`).
    Iptables(String),
    /// A host's conntrack (`conntrack -L`), and on a node whose br-int
    /// executes its program, br-int's (`ovs-appctl dpctl/dump-conntrack`).
    Conntrack(String),
    /// `kubectl get bgppolicies`; with a node, `antctl get bgppolicy` in
    /// that node's agent (its effective policy).
    BgpPolicies(Option<String>),
    /// `antctl get bgproutes` in a node's agent.
    BgpRoutes(String),
    /// `antctl get bgppeers` in a node's agent.
    BgpPeers(String),
    /// A BGP router's `show bgp summary` and `show ip route bgp` (FRR).
    BgpRouter(String),
}

#[derive(Clone, Debug)]
pub struct Expectation {
    pub line: u64,
    pub column: u64,
    pub kind: ExpectKind,
}

#[derive(Clone, Debug)]
pub enum ExpectKind {
    Probe {
        probe: String,
        last_ok: Option<bool>,
        reason: Option<String>,
        seen_source: Option<Ipv4Addr>,
        via_vlan: Option<u16>,
        not_via_vlan: Option<u16>,
        max_outage: Option<SimDuration>,
        min_outage: Option<SimDuration>,
        handled_by: Option<String>,
        only_answered_by: Option<Vec<String>>,
        min_answerers: Option<usize>,
        reply_avoids: Option<String>,
        http_status: Option<u16>,
    },
    Arp {
        device: String,
        ip: Ipv4Addr,
        mac: Option<MacRef>,
        state: Option<String>,
    },
    Mac {
        switch: String,
        vlan: u16,
        mac: MacRef,
        port: Option<String>,
        absent: bool,
    },
    /// A Service's external IP and its owner (`node: Some(None)` = none).
    ServiceExternalIp {
        service: String,
        node: Option<Option<String>>,
        ip: Option<Option<Ipv4Addr>>,
    },
    /// The next hops `device` forwards exactly `to` through (sorted; empty:
    /// no usable route of that prefix).
    Route {
        device: String,
        to: ipnet::Ipv4Net,
        via: Vec<Ipv4Addr>,
    },
    /// `node: Some(None)` = held by no node.
    Egress {
        name: String,
        node: Option<Option<String>>,
        ip: Option<Option<Ipv4Addr>>,
        /// Exactly these nodes hold its IP (sorted; empty: none).
        held_by: Option<Vec<String>>,
    },
}

/// A MAC written literally or as `device/iface`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MacRef {
    Literal(MacAddr),
    Iface(String),
}
