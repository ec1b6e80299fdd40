//! Per-node service rules, as data: what AntreaProxy and kube-proxy install
//! on one node for each Service port ([`NodeServiceRules`] of
//! [`ServicePortRules`]), and the vocabulary both proxies share (which
//! address a packet is for, endpoints as one node sees them).
//!
//! `compile` builds these from the Services; `kubeproxy` fills in
//! kube-proxy's part and renders it; [`super::handler`] and
//! [`super::render`] read them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use super::endpoints::ServiceEndpoints;
use super::{KubeProxyMode, LbMode, ProxyConfig, ProxyNode, ServicePortName};
use crate::k8s::{Protocol, Service};

/// A Service's identity in the proxies' rules: (namespace, name), one
/// allocation per Service shared by every node's rules (a node's rules are
/// keyed by it, and a cluster has nodes x Services of them).
pub type ServiceKey = (Arc<str>, Arc<str>);

/// One Service as the proxies see it: the spec plus what other controllers
/// write (`spec.externalIPs`, `status.loadBalancer.ingress`) and its endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyService {
    pub(crate) service: Service,
    /// `spec.externalIPs` (not in the parsed `Service`).
    pub(crate) external_ips: Vec<Ipv4Addr>,
    /// `status.loadBalancer.ingress[].ip`, e.g. from ServiceExternalIP.
    pub(crate) load_balancer_ingress: Vec<Ipv4Addr>,
    pub endpoints: ServiceEndpoints,
    /// `service`'s namespace and name, taken once by [`ProxyService::new`].
    key: ServiceKey,
}

impl ProxyService {
    pub fn new(service: Service, endpoints: ServiceEndpoints) -> Self {
        let key = (
            service
                .meta
                .namespace
                .as_deref()
                .unwrap_or("default")
                .into(),
            service.meta.name.as_str().into(),
        );
        ProxyService {
            service,
            external_ips: Vec::new(),
            load_balancer_ingress: Vec::new(),
            endpoints,
            key,
        }
    }
    /// (namespace, name), shared: what a node's rules are keyed by.
    pub fn key(&self) -> &ServiceKey {
        &self.key
    }
    pub fn namespace(&self) -> &str {
        self.service.meta.namespace.as_deref().unwrap_or("default")
    }
    pub fn name(&self) -> &str {
        &self.service.meta.name
    }
}

/// Which address of a Service a packet is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VipKind {
    ClusterIp,
    NodePort,
    ExternalIp,
    LoadBalancerIp,
}

impl VipKind {
    /// NodePort, LoadBalancer and external IPs are "external" destinations:
    /// `externalTrafficPolicy` applies to them.
    pub fn is_external(self) -> bool {
        !matches!(self, VipKind::ClusterIp)
    }
}

/// An endpoint as one node's proxy sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointRef {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub node: std::sync::Arc<str>,
    /// On this node.
    pub local: bool,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
}

/// Endpoints after traffic-policy and topology categorization.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Categorized {
    /// None when the port never uses Cluster policy.
    pub(crate) cluster: Option<Vec<EndpointRef>>,
    /// None when the port never uses Local policy.
    pub(crate) local: Option<Vec<EndpointRef>>,
    /// Usable endpoints exist somewhere in the cluster.
    pub(crate) has_any: bool,
    /// Zone hints filtered the cluster endpoints.
    pub(crate) topology: bool,
}

/// An address AntreaProxy load-balances (one ServiceLB flow, or two with
/// externalTrafficPolicy Local / DSR).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AntreaVip {
    pub(crate) kind: VipKind,
    /// None for NodePort: matched by `NodePortRegMark` on any NodePort address.
    pub ip: Option<Ipv4Addr>,
    pub(crate) port: u16,
    /// The flow's group is the local group (traffic policy Local).
    pub(crate) local_policy: bool,
    /// An extra priority-210 flow sends local sources to the cluster group
    /// (externalTrafficPolicy Local short-circuit).
    pub(crate) short_circuit: bool,
    /// Direct server return for external sources (LB and external IPs only).
    pub dsr: bool,
}

/// AntreaProxy's part for one Service port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AntreaPortRules {
    pub vips: Vec<AntreaVip>,
    /// Learned-flow hard timeout; 0 = no session affinity.
    pub(crate) affinity_timeout: u16,
    pub(crate) lb_mode: LbMode,
    /// Group buckets, sorted by (IP, port).
    pub cluster_group: Option<Vec<EndpointRef>>,
    pub local_group: Option<Vec<EndpointRef>>,
    pub(crate) topology: bool,
    /// Endpoint IPs that are node IPs (host-network): no RemoteEndpointRegMark.
    pub(crate) host_network_ips: Vec<Ipv4Addr>,
}

/// One IPVS virtual server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpvsService {
    pub(crate) protocol: Protocol,
    pub(crate) vip: Ipv4Addr,
    pub(crate) port: u16,
    pub(crate) kind: VipKind,
    /// `-p <seconds>` for ClientIP affinity.
    pub(crate) persistent: Option<u32>,
    /// Real servers (weight 1, masquerading).
    pub(crate) reals: Vec<(Ipv4Addr, u16)>,
}

/// kube-proxy's part for one Service port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubePortRules {
    pub(crate) mode: KubeProxyMode,
    /// Endpoints, each list in kube-proxy order.
    pub(crate) cats: Categorized,
    /// iptables mode: `KUBE-SVC-*`, `KUBE-SVL-*`, `KUBE-EXT-*` (empty for IPVS).
    pub(crate) svc_chain: String,
    pub(crate) svl_chain: String,
    pub(crate) ext_chain: String,
    /// iptables mode: `KUBE-SEP-*` of every endpoint in `cats`, by (IP, port).
    pub(crate) sep_chains: Vec<((Ipv4Addr, u16), String)>,
    /// IPVS mode: this port's virtual servers.
    pub(crate) ipvs: Vec<IpvsService>,
}

impl KubePortRules {
    /// The `KUBE-SEP-*` chain of endpoint `e` (one of `cats`).
    pub(super) fn sep(&self, e: &EndpointRef) -> &str {
        let i = self
            .sep_chains
            .binary_search_by_key(&(e.ip, e.port), |(k, _)| *k)
            .expect("every endpoint has a chain");
        &self.sep_chains[i].1
    }
}

/// Both proxies' rules for one Service port on one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePortRules {
    pub(crate) name: ServicePortName,
    pub protocol: Protocol,
    pub cluster_ip: Ipv4Addr,
    pub port: u16,
    pub node_port: Option<u16>,
    pub external_ips: Vec<Ipv4Addr>,
    /// LoadBalancer ingress IPs (type LoadBalancer only).
    pub lb_ips: Vec<Ipv4Addr>,
    pub(crate) itp_local: bool,
    pub etp_local: bool,
    /// `sessionAffinityConfig.clientIP.timeoutSeconds` as Kubernetes has it.
    pub(crate) affinity_seconds: Option<u32>,
    /// None: AntreaProxy disabled or the Service is in `skipServices`.
    pub antrea: Option<AntreaPortRules>,
    /// None: no kube-proxy.
    pub kube: Option<KubePortRules>,
}

impl ServicePortRules {
    /// NodePort, LoadBalancer or external IPs exist (`ExternallyAccessible`).
    pub fn externally_accessible(&self) -> bool {
        self.node_port.is_some() || !self.lb_ips.is_empty() || !self.external_ips.is_empty()
    }
    pub fn uses_cluster_endpoints(&self) -> bool {
        !self.itp_local || self.externally_accessible()
    }
    pub fn uses_local_endpoints(&self) -> bool {
        self.itp_local || (self.etp_local && self.externally_accessible())
    }
    /// AntreaProxy's `UsesLocalEndpoints`: with the `LoadBalancerModeDSR`
    /// gate, also every port with LoadBalancer or external IPs, whose local
    /// group serves DSR packets on an endpoint's node
    /// (third_party/proxy/service.go v2.1.0).
    pub fn antrea_uses_local_endpoints(&self, dsr_gate: bool) -> bool {
        self.uses_local_endpoints()
            || (dsr_gate && (!self.lb_ips.is_empty() || !self.external_ips.is_empty()))
    }
}

/// One Service's rules on a node: its ports in spec order.
pub type ServiceRulesRef = Arc<Vec<ServicePortRules>>;

/// The rules of every Service as a class of nodes compiles them: the nodes
/// of one zone that host none of a Service's endpoints compile it alike, so
/// they hold one copy of the whole table ([`ServiceMemo`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SharedServices {
    table: BTreeMap<ServiceKey, ServiceRulesRef>,
    /// [`NodeServiceRules::may_match`]'s index over `table`.
    dports: BTreeMap<u16, u32>,
    /// The Service ports in `table`.
    ports: usize,
}

/// Everything both proxies install on one node.
///
/// A node's Service rules are the table its class shares
/// ([`SharedServices`]) with the Services it compiles differently (one of
/// their endpoints is on the node, or kube-proxy's IPVS binds a NodePort to
/// the node's own addresses) laid over it. Equality is by what a node
/// installs, not by how the layers split it.
#[derive(Clone, Debug)]
pub struct NodeServiceRules {
    pub(crate) node: ProxyNode,
    pub cfg: ProxyConfig,
    /// Transport IPs of all nodes: an endpoint with one of them is
    /// host-network. Sorted; one copy for every node of a compile.
    pub(crate) node_ips: Arc<Vec<Ipv4Addr>>,
    /// The addresses AntreaProxy serves NodePorts on (NodePortMark flows).
    pub antrea_nodeport_addresses: Vec<Ipv4Addr>,
    /// The rules this node shares with the other nodes of its class.
    shared: Arc<SharedServices>,
    /// Where this node's rules differ from `shared`: its own compile of a
    /// Service (None: the Service has no rules here).
    own: BTreeMap<ServiceKey, Option<ServiceRulesRef>>,
    /// How many Service ports use each port number, as `port` or as
    /// `nodePort`: a packet to any other port is no Service's, which
    /// [`NodeServiceRules::may_match`] answers without scanning them all.
    dports: BTreeMap<u16, u32>,
}

impl PartialEq for NodeServiceRules {
    fn eq(&self, other: &Self) -> bool {
        self.node == other.node
            && self.cfg == other.cfg
            && self.node_ips == other.node_ips
            && self.antrea_nodeport_addresses == other.antrea_nodeport_addresses
            && (Arc::ptr_eq(&self.shared, &other.shared) && self.own == other.own
                || self
                    .services()
                    .map(|(k, v)| (k, &**v))
                    .eq(other.services().map(|(k, v)| (k, &**v))))
    }
}

impl Eq for NodeServiceRules {}

impl NodeServiceRules {
    /// False when no Service port listens on `dport` (neither as its port
    /// nor as its NodePort), so classifying the packet can stop at once.
    pub fn may_match(&self, dport: u16) -> bool {
        self.dports.contains_key(&dport)
    }

    /// Rules for a node whose Services are still to be added.
    pub(super) fn empty(
        node: ProxyNode,
        cfg: ProxyConfig,
        node_ips: Arc<Vec<Ipv4Addr>>,
        antrea_nodeport_addresses: Vec<Ipv4Addr>,
    ) -> NodeServiceRules {
        Self::over(
            node,
            cfg,
            node_ips,
            antrea_nodeport_addresses,
            Arc::default(),
        )
    }

    /// Rules for a node that starts from the table its class shares.
    pub(super) fn over(
        node: ProxyNode,
        cfg: ProxyConfig,
        node_ips: Arc<Vec<Ipv4Addr>>,
        antrea_nodeport_addresses: Vec<Ipv4Addr>,
        shared: Arc<SharedServices>,
    ) -> NodeServiceRules {
        NodeServiceRules {
            node,
            cfg,
            node_ips,
            antrea_nodeport_addresses,
            dports: shared.dports.clone(),
            shared,
            own: BTreeMap::new(),
        }
    }

    /// The rules of Service `key` on this node.
    pub fn service(&self, key: &ServiceKey) -> Option<&ServiceRulesRef> {
        match self.own.get(key) {
            Some(own) => own.as_ref(),
            None => self.shared.table.get(key),
        }
    }

    /// Every Service with rules on this node, in (namespace, name) order.
    pub fn services(&self) -> impl Iterator<Item = (&ServiceKey, &ServiceRulesRef)> {
        let mut shared = self.shared.table.iter().peekable();
        let mut own = self.own.iter().peekable();
        std::iter::from_fn(move || {
            loop {
                let take_own = match (shared.peek(), own.peek()) {
                    (None, None) => return None,
                    (Some(_), None) => false,
                    (None, Some(_)) => true,
                    (Some((a, _)), Some((b, _))) => b <= a,
                };
                if !take_own {
                    return shared.next();
                }
                let (k, v) = own.next()?;
                if shared.peek().is_some_and(|(a, _)| *a == k) {
                    shared.next();
                }
                if let Some(v) = v {
                    return Some((k, v));
                }
            }
        })
    }

    /// Sets Service `key`'s rules on this node (None: it has none here).
    pub(super) fn set_service(&mut self, key: ServiceKey, rules: Option<ServiceRulesRef>) {
        if let Some(old) = self.service(&key).cloned() {
            count_dports(&mut self.dports, &old, false);
        }
        if let Some(new) = &rules {
            count_dports(&mut self.dports, new, true);
        }
        let same_as_shared = match (self.shared.table.get(&key), &rules) {
            (Some(s), Some(n)) => Arc::ptr_eq(s, n) || s == n,
            (None, None) => true,
            _ => false,
        };
        if same_as_shared {
            self.own.remove(&key);
        } else {
            self.own.insert(key, rules);
        }
    }

    /// All Service ports in (namespace, name, spec) order.
    pub fn ports(&self) -> impl Iterator<Item = &ServicePortRules> {
        self.services().flat_map(|(_, v)| v.iter())
    }

    /// How many Service ports have rules here ([`NodeServiceRules::ports`]
    /// counted from the shared table's count and the node's own Services).
    pub fn port_count(&self) -> usize {
        let mut n = self.shared.ports;
        for (key, own) in &self.own {
            n -= self.shared.table.get(key).map_or(0, |s| s.len());
            n += own.as_ref().map_or(0, |o| o.len());
        }
        n
    }

    /// The table this node shares with its class (tests check that a zone's nodes hold one).
    pub fn shared(&self) -> &Arc<SharedServices> {
        &self.shared
    }

    /// Addresses bound to `kube-ipvs0` (IPVS mode): ClusterIPs, external IPs and
    /// LoadBalancer IPs, sorted.
    pub fn kube_ipvs0_addresses(&self) -> Vec<Ipv4Addr> {
        if !matches!(self.cfg.kube_proxy, Some(KubeProxyMode::Ipvs { .. })) {
            return Vec::new();
        }
        let mut v: Vec<Ipv4Addr> = self
            .ports()
            .flat_map(|p| {
                std::iter::once(p.cluster_ip)
                    .chain(p.external_ips.iter().copied())
                    .chain(p.lb_ips.iter().copied())
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The `kube-ipvs0` addresses this node's kernel answers ARP for: all of
    /// them without `strictARP` (arp_ignore=0 answers for any local address),
    /// none with it.
    pub fn ipvs_arp_addresses(&self) -> Vec<Ipv4Addr> {
        match self.cfg.kube_proxy {
            Some(KubeProxyMode::Ipvs { strict_arp: false }) => self.kube_ipvs0_addresses(),
            _ => Vec::new(),
        }
    }
}

/// Counts `ports` in (`add`) or out of a port-number index.
fn count_dports(dports: &mut BTreeMap<u16, u32>, ports: &[ServicePortRules], add: bool) {
    for p in ports {
        for d in std::iter::once(p.port).chain(p.node_port) {
            let c = dports.entry(d).or_default();
            if add {
                *c += 1;
            } else {
                *c -= 1;
                if *c == 0 {
                    dports.remove(&d);
                }
            }
        }
    }
}

impl SharedServices {
    /// Adds Service `key`'s rules to the table.
    pub(super) fn insert(&mut self, key: ServiceKey, rules: ServiceRulesRef) {
        count_dports(&mut self.dports, &rules, true);
        self.ports += rules.len();
        if let Some(old) = self.table.insert(key, rules) {
            count_dports(&mut self.dports, &old, false);
            self.ports -= old.len();
        }
    }
}
