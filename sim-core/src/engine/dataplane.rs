//! The engine's output: what one node's dataplane should look like.
//!
//! This is the seam between deciding and doing. The engine computes a
//! `NodeDataplane` per node from cluster state; the simulator executes it
//! (`sim::World::apply_dataplane`) and real mode will apply the very same value
//! to Linux (addresses and routes with `ip`, SNAT with nftables, flows with OVS).
//! It holds only what the engine owns; the topology's static configuration is
//! not repeated here.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::model::RuleSpec;

/// What a node's `br-int` is in the lab (`options.brInt`).
///
/// - `Pipeline` (the default): br-int executes the node's compiled Antrea
///   program (`engine::pipeline`); in the modes with a tunnel (encap, the
///   default, and hybrid) the host routes each peer's Pod CIDR the way
///   Antrea's route client does: via the peer's gateway IP on
///   `antrea-gw0`, `onlink` (br-int answers ARP for that IP with the global
///   virtual MAC and tunnels the packet).
/// - `Switch`: antlab's simpler lab, kept for stories told natively and for
///   generated labs of hundreds of nodes (a program per node grows with the
///   square of the nodes): a MAC-learning switch; the node's host stack
///   does Services and SNAT, and Pod traffic between nodes is routed
///   natively (a route per peer's Pod CIDR via the peer's transport IP).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BrIntMode {
    Switch,
    #[default]
    Pipeline,
}

impl BrIntMode {
    /// `switch` or `pipeline`.
    pub fn parse(text: &str) -> Option<BrIntMode> {
        match text {
            "switch" => Some(BrIntMode::Switch),
            "pipeline" => Some(BrIntMode::Pipeline),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct NodeDataplane {
    /// 802.1Q sub-interfaces to create (e.g. Antrea's `antrea-ext.181` on eth0).
    pub vlan_ifaces: Vec<VlanIface>,
    /// Dummy interfaces (no link, `NOARP`), e.g. Antrea's `antrea-egress0`.
    pub dummy_ifaces: Vec<String>,
    /// Addresses the engine puts on interfaces (Egress IPs, ...).
    pub addrs: Vec<AddrAssignment>,
    /// The node's routes, save those to its peers' Pod CIDRs.
    pub routes: Vec<DesiredRoute>,
    /// The routes to its peers' Pod CIDRs, shared with the other nodes
    /// ([`super::peer_routes`]); [`NodeDataplane::all_routes`] puts them in
    /// their place among `routes`. Not serialized: what is shown is
    /// [`NodeDataplane::expanded`], where they are among `routes`.
    #[serde(skip)]
    pub peer_routes: Option<super::peer_routes::PeerRoutes>,
    pub rules: Vec<DesiredRule>,
    /// POSTROUTING SNAT rules in evaluation order.
    pub snat: Vec<DesiredSnat>,
    /// Packet marks by source (Antrea's EgressMark table).
    pub marks: Vec<DesiredMark>,
    /// Addresses answered by a userspace ARP responder on an interface
    /// (ServiceExternalIP); a newly added one is announced with one
    /// gratuitous ARP.
    pub arp_responder: Vec<(String, Ipv4Addr)>,
    /// The node's Service rules (AntreaProxy and kube-proxy), what the
    /// simulator load-balances with and `antlab rules` prints.
    /// Shared (`Arc`): a node whose Service inputs did not change gets the
    /// rules it already has, and installing them again is a pointer compare.
    #[serde(skip)]
    pub service_rules: Option<std::sync::Arc<crate::engine::proxy::NodeServiceRules>>,
    /// Pods whose HTTP exchanges the flow exporter records: (IP, egress, ingress).
    pub l7_export: Vec<(Ipv4Addr, bool, bool)>,
    /// `arp_ignore=1` on every interface (kube-proxy IPVS `strictARP`): answer
    /// ARP only for addresses of the interface the request came in on.
    pub strict_arp: bool,
    /// `antrea-gw0`'s MTU ([`super::ClusterState::pod_mtu`]); 0 leaves it.
    pub gateway_mtu: u32,
    /// Permanent neighbour entries (`ip neigh replace ... nud permanent`).
    pub neighbors: Vec<DesiredNeighbor>,
    /// br-int load-balances the north-south traffic AntreaProxy serves
    /// (proxyAll, br-int executing Antrea's program): the host DNATs its
    /// NodePorts to 169.254.0.252, and `routes` send those and the
    /// LoadBalancer and external IPs into `antrea-gw0`; the host does not
    /// load-balance that traffic itself.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub proxy_all_in_br_int: bool,
    /// NodeNetworkPolicy rules on the node's own traffic (INPUT/OUTPUT).
    #[serde(skip_serializing_if = "crate::engine::policy::host::HostFirewall::is_empty")]
    pub host_firewall: crate::engine::policy::host::HostFirewall,
}

impl NodeDataplane {
    /// Every route the node installs, in order: `routes` with the peer
    /// routes in their place.
    pub fn all_routes(&self) -> Vec<DesiredRoute> {
        let Some(peers) = &self.peer_routes else {
            return self.routes.clone();
        };
        let at = peers.at.min(self.routes.len());
        let mut all = Vec::with_capacity(self.routes.len() + peers.set.len());
        all.extend_from_slice(&self.routes[..at]);
        all.extend(peers.routes());
        all.extend_from_slice(&self.routes[at..]);
        all
    }

    /// The same dataplane with the peer routes among `routes`, one entry
    /// each (what `show dataplane` prints).
    pub fn expanded(&self) -> NodeDataplane {
        NodeDataplane {
            routes: self.all_routes(),
            peer_routes: None,
            ..self.clone()
        }
    }
}

/// A permanent neighbour entry (Antrea's `generateNeigh`: the virtual
/// Service IP on `antrea-gw0` with the global virtual MAC).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DesiredNeighbor {
    pub iface: String,
    pub ip: Ipv4Addr,
    pub mac: crate::model::MacAddr,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VlanIface {
    pub name: String,
    pub parent: String,
    pub vid: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AddrAssignment {
    pub iface: String,
    #[serde(serialize_with = "ser_display")]
    pub addr: Ipv4Net,
    /// Send one gratuitous ARP when the address is newly assigned (Antrea's
    /// `ip_assigner_linux.go` advertises exactly once per new assignment).
    pub announce: bool,
    /// Where to send that ARP when `iface` has no link (a dummy device): the
    /// transport interface.
    pub announce_on: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DesiredRoute {
    #[serde(serialize_with = "ser_display")]
    pub dst: Ipv4Net,
    pub via: Option<Ipv4Addr>,
    /// The interface: one allocation shared by a node's routes (a node
    /// has a route per other node's Pod CIDR, all on its transport
    /// interface).
    #[serde(serialize_with = "ser_display")]
    pub dev: std::sync::Arc<str>,
    pub table: u32,
    pub metric: u32,
    /// `onlink`: `via` is taken as reachable on `dev` even outside its
    /// subnets (the lab's stand-in for a tunnel to an address, see
    /// `engine::egress_static`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub onlink: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DesiredRule {
    pub priority: u32,
    pub fwmark: Option<(u32, u32)>,
    pub table: u32,
}

impl DesiredRule {
    pub fn to_spec(&self) -> RuleSpec {
        RuleSpec {
            priority: self.priority,
            fwmark: self.fwmark,
            from: None,
            table: self.table,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DesiredSnat {
    #[serde(serialize_with = "ser_opt_display")]
    pub src: Option<Ipv4Net>,
    #[serde(serialize_with = "ser_vec_display")]
    pub not_dst: Vec<Ipv4Net>,
    pub not_out_iface: Option<String>,
    /// `-o <iface>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_iface: Option<String>,
    /// `-m addrtype --src-type LOCAL` and `! --src-type LOCAL
    /// --limit-iface-out`: the source is one of the node's own addresses,
    /// but not one of the output interface's (the node's traffic whose
    /// source was picked before a DNAT sent it elsewhere).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub src_local_elsewhere: bool,
    pub mark: Option<(u32, u32)>,
    #[serde(serialize_with = "ser_snat_to")]
    pub to: SnatTo,
    pub comment: String,
}

/// Where a SNAT rule translates the source to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnatTo {
    /// Use the primary address of the output interface.
    Masquerade,
    Addr(Ipv4Addr),
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DesiredMark {
    #[serde(serialize_with = "ser_display")]
    pub src: Ipv4Net,
    /// Destinations that keep their mark off: one list shared by every
    /// mark of a compile (it names every node, and there is a mark per
    /// selected Pod).
    #[serde(serialize_with = "ser_vec_display")]
    pub not_dst: std::sync::Arc<[Ipv4Net]>,
    pub mark: u32,
    pub comment: String,
    /// The Egress IP the mark stands for: the SNAT address on this node, or,
    /// for a Pod whose Egress node is another, the tunnel destination its
    /// br-int uses (Antrea tunnels to the Egress IP itself). Not part of the
    /// host rule, so not printed.
    #[serde(skip)]
    pub egress_ip: Ipv4Addr,
}

pub(crate) fn ser_nets<S: serde::Serializer>(
    v: &[ipnet::Ipv4Net],
    s: S,
) -> Result<S::Ok, S::Error> {
    ser_vec_display(v, s)
}
fn ser_display<S: serde::Serializer, T: std::fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}
fn ser_opt_display<S: serde::Serializer, T: std::fmt::Display>(
    v: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}
fn ser_vec_display<S: serde::Serializer, T: std::fmt::Display>(
    v: &[T],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(v.len()))?;
    for x in v {
        seq.serialize_element(&x.to_string())?;
    }
    seq.end()
}
fn ser_snat_to<S: serde::Serializer>(v: &SnatTo, s: S) -> Result<S::Ok, S::Error> {
    match v {
        SnatTo::Masquerade => s.serialize_str("MASQUERADE"),
        SnatTo::Addr(a) => s.collect_str(&format_args!("SNAT --to {a}")),
    }
}
