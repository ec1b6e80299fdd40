//! Per-node service rules: what AntreaProxy and kube-proxy install on one node.
//!
//! For each Service port (Service without a ClusterIP or headless: nothing, as
//! both proxies skip them):
//! - AntreaProxy (`installServiceFlows`, proxier.go v1.15): ClusterIP always;
//!   NodePort and `externalIPs` only with `proxyAll`; LoadBalancer ingress IPs
//!   if `proxyLoadBalancerIPs`; a cluster group and/or a local group of
//!   endpoints (`categorizeEndpoints`, pkg/agent/proxy/topology.go); affinity
//!   timeout capped at 65535 s; load-balancer mode from the
//!   `service.antrea.io/load-balancer-mode` annotation (ignored without the DSR
//!   gate), else the default; Services in `skipServices` get no AntreaProxy
//!   rules at all.
//! - kube-proxy: see the private `kubeproxy` module (iptables chains or IPVS
//!   virtual servers).
//!
//! Endpoint categorization (same in both proxies): *cluster* endpoints are the
//! ready ones (filtered by zone hints when topology applies), falling back to
//! serving-and-terminating ones; *local* endpoints are the ready ones on this
//! node, falling back to local serving-and-terminating. Topology applies when
//! the gate is on, the Service has the Auto annotation, this node has a zone,
//! every ready endpoint has a hint and at least one is hinted for this zone;
//! otherwise all endpoints are used (Antrea `canUseTopology`, kube-proxy 1.28
//! `CategorizeEndpoints`).
//!
//! Every Service's rules depend only on the Service, this node, all nodes' IPs
//! and the config, so [`update_service`] / [`remove_service`] give exactly the
//! result of [`compile_node`] over the new Service set.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::endpoints::{Endpoint, ServiceEndpoints, hints_requested};
use super::kubeproxy::{self, KubePortRules};
use super::{
    LB_MODE_ANNOTATION, LbMode, MAX_ANTREA_AFFINITY_TIMEOUT, ProxyConfig, ProxyNode,
    ServicePortName,
};
use crate::k8s::{ClusterIp, Protocol, Service, ServiceType, SessionAffinity, TrafficPolicy};

/// One Service as the proxies see it: the spec plus what other controllers
/// write (`spec.externalIPs`, `status.loadBalancer.ingress`) and its endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyService {
    pub service: Service,
    /// `spec.externalIPs` (not in the parsed `Service`).
    pub external_ips: Vec<Ipv4Addr>,
    /// `status.loadBalancer.ingress[].ip`, e.g. from ServiceExternalIP.
    pub load_balancer_ingress: Vec<Ipv4Addr>,
    pub endpoints: ServiceEndpoints,
}

impl ProxyService {
    pub fn new(service: Service, endpoints: ServiceEndpoints) -> Self {
        ProxyService {
            service,
            external_ips: Vec::new(),
            load_balancer_ingress: Vec::new(),
            endpoints,
        }
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
    pub node: String,
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
    pub cluster: Option<Vec<EndpointRef>>,
    /// None when the port never uses Local policy.
    pub local: Option<Vec<EndpointRef>>,
    /// Usable endpoints exist somewhere in the cluster.
    pub has_any: bool,
    /// Zone hints filtered the cluster endpoints.
    pub topology: bool,
}

/// An address AntreaProxy load-balances (one ServiceLB flow, or two with
/// externalTrafficPolicy Local / DSR).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AntreaVip {
    pub kind: VipKind,
    /// None for NodePort: matched by `NodePortRegMark` on any NodePort address.
    pub ip: Option<Ipv4Addr>,
    pub port: u16,
    /// The flow's group is the local group (traffic policy Local).
    pub local_policy: bool,
    /// An extra priority-210 flow sends local sources to the cluster group
    /// (externalTrafficPolicy Local short-circuit).
    pub short_circuit: bool,
    /// Direct server return for external sources (LB and external IPs only).
    pub dsr: bool,
}

/// AntreaProxy's part for one Service port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AntreaPortRules {
    pub vips: Vec<AntreaVip>,
    /// Learned-flow hard timeout; 0 = no session affinity.
    pub affinity_timeout: u16,
    pub lb_mode: LbMode,
    /// Group buckets, sorted by (IP, port).
    pub cluster_group: Option<Vec<EndpointRef>>,
    pub local_group: Option<Vec<EndpointRef>>,
    pub topology: bool,
    /// Endpoint IPs that are node IPs (host-network): no RemoteEndpointRegMark.
    pub host_network_ips: Vec<Ipv4Addr>,
}

/// Both proxies' rules for one Service port on one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePortRules {
    pub name: ServicePortName,
    pub protocol: Protocol,
    pub cluster_ip: Ipv4Addr,
    pub port: u16,
    pub node_port: Option<u16>,
    pub external_ips: Vec<Ipv4Addr>,
    /// LoadBalancer ingress IPs (type LoadBalancer only).
    pub lb_ips: Vec<Ipv4Addr>,
    pub itp_local: bool,
    pub etp_local: bool,
    /// `sessionAffinityConfig.clientIP.timeoutSeconds` as Kubernetes has it.
    pub affinity_seconds: Option<u32>,
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
}

/// Everything both proxies install on one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeServiceRules {
    pub node: ProxyNode,
    pub cfg: ProxyConfig,
    /// Transport IPs of all nodes: an endpoint with one of them is host-network.
    pub node_ips: Vec<Ipv4Addr>,
    /// The addresses AntreaProxy serves NodePorts on (NodePortMark flows).
    pub antrea_nodeport_addresses: Vec<Ipv4Addr>,
    /// Per Service (namespace, name), its ports in spec order. Shared
    /// (`Arc`) so that nodes whose rules for a Service are equal can hold
    /// one copy ([`NodeServiceRules::share_with`]).
    pub services: BTreeMap<(String, String), std::sync::Arc<Vec<ServicePortRules>>>,
    /// How many Service ports use each port number, as `port` or as
    /// `nodePort`: a packet to any other port is no Service's, which
    /// [`NodeServiceRules::may_match`] answers without scanning them all.
    dports: BTreeMap<u16, u32>,
}

impl NodeServiceRules {
    /// False when no Service port listens on `dport` (neither as its port
    /// nor as its NodePort), so classifying the packet can stop at once.
    pub fn may_match(&self, dport: u16) -> bool {
        self.dports.contains_key(&dport)
    }

    fn count_dports(&mut self, ports: &[ServicePortRules], add: bool) {
        for p in ports {
            for d in std::iter::once(p.port).chain(p.node_port) {
                let c = self.dports.entry(d).or_default();
                if add {
                    *c += 1;
                } else {
                    *c -= 1;
                    if *c == 0 {
                        self.dports.remove(&d);
                    }
                }
            }
        }
    }

    /// All Service ports in (namespace, name, spec) order.
    pub fn ports(&self) -> impl Iterator<Item = &ServicePortRules> {
        self.services.values().flat_map(|v| v.iter())
    }

    /// Points every Service whose rules equal one in `pool` at the pooled
    /// copy, and adds the others to `pool`. Most Services compile alike on
    /// every node, so a cluster's nodes then share one copy of them.
    pub fn share_with(&mut self, pool: &mut SharedServiceRules) {
        for (key, ports) in self.services.iter_mut() {
            match pool.get(key) {
                Some(shared) if std::sync::Arc::ptr_eq(shared, ports) => {}
                Some(shared) if shared == ports => *ports = shared.clone(),
                _ => {
                    pool.insert(key.clone(), ports.clone());
                }
            }
        }
    }

    /// Addresses bound to `kube-ipvs0` (IPVS mode): ClusterIPs, external IPs and
    /// LoadBalancer IPs, sorted.
    pub fn kube_ipvs0_addresses(&self) -> Vec<Ipv4Addr> {
        if !matches!(self.cfg.kube_proxy, Some(super::KubeProxyMode::Ipvs { .. })) {
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
            Some(super::KubeProxyMode::Ipvs { strict_arp: false }) => self.kube_ipvs0_addresses(),
            _ => Vec::new(),
        }
    }
}

/// Compiles every Service for `node`.
pub fn compile_node(
    node: &ProxyNode,
    services: &[ProxyService],
    nodes: &[ProxyNode],
    cfg: &ProxyConfig,
) -> NodeServiceRules {
    let mut node_ips: Vec<Ipv4Addr> = nodes.iter().map(|n| n.ip).collect();
    if !node_ips.contains(&node.ip) {
        node_ips.push(node.ip);
    }
    node_ips.sort();
    node_ips.dedup();
    let mut rules = NodeServiceRules {
        node: node.clone(),
        cfg: cfg.clone(),
        node_ips,
        antrea_nodeport_addresses: antrea_nodeport_addresses(node, cfg),
        services: BTreeMap::new(),
        dports: BTreeMap::new(),
    };
    for s in services {
        update_service(&mut rules, s);
    }
    rules
}

/// Service rules shared between nodes, by (namespace, name).
pub type SharedServiceRules = BTreeMap<(String, String), std::sync::Arc<Vec<ServicePortRules>>>;

/// Adds or replaces one Service's rules.
pub fn update_service(rules: &mut NodeServiceRules, svc: &ProxyService) {
    let key = (svc.namespace().to_string(), svc.name().to_string());
    let ports = compile_service(rules, svc);
    let old = if ports.is_empty() {
        rules.services.remove(&key)
    } else {
        rules.count_dports(&ports, true);
        rules.services.insert(key, std::sync::Arc::new(ports))
    };
    if let Some(old) = old {
        rules.count_dports(&old, false);
    }
}

/// Removes one Service's rules (no-op if absent).
pub fn remove_service(rules: &mut NodeServiceRules, namespace: &str, name: &str) {
    if let Some(old) = rules
        .services
        .remove(&(namespace.to_string(), name.to_string()))
    {
        rules.count_dports(&old, false);
    }
}

/// Antrea's NodePort addresses ([`super::node_addresses`]).
fn antrea_nodeport_addresses(node: &ProxyNode, cfg: &ProxyConfig) -> Vec<Ipv4Addr> {
    super::node_addresses::antrea_nodeport_addresses(node, cfg)
}

fn compile_service(rules: &NodeServiceRules, svc: &ProxyService) -> Vec<ServicePortRules> {
    let s = &svc.service;
    let Some(ClusterIp::Ip(cluster_ip)) = s.cluster_ip else {
        // No ClusterIP yet, or headless: both proxies skip the Service
        // (`ShouldSkipService`).
        return Vec::new();
    };
    let ns = svc.namespace();
    let cfg = &rules.cfg;
    let skipped = cfg
        .skip_services
        .iter()
        .any(|k| *k == cluster_ip.to_string() || *k == format!("{ns}/{}", s.meta.name));
    let lb_ips: Vec<Ipv4Addr> = if s.service_type == ServiceType::LoadBalancer {
        dedup(&svc.load_balancer_ingress)
    } else {
        Vec::new()
    };
    let external_ips = dedup(&svc.external_ips);
    let affinity_seconds = match s.session_affinity {
        SessionAffinity::None => None,
        SessionAffinity::ClientIp { timeout_seconds } => Some(timeout_seconds),
    };
    let lb_mode = lb_mode(s, cfg);
    let topology_requested = hints_requested(s);
    let mut out = Vec::new();
    for sp in &s.ports {
        let name = ServicePortName {
            namespace: ns.to_string(),
            name: s.meta.name.clone(),
            port: sp.name.clone().filter(|n| !n.is_empty()),
        };
        let eps: &[Endpoint] = svc
            .endpoints
            .port(sp.name.as_deref(), sp.protocol)
            .map_or(&[], |p| p.endpoints.as_slice());
        let mut r = ServicePortRules {
            name,
            protocol: sp.protocol,
            cluster_ip,
            port: sp.port,
            node_port: sp.node_port,
            external_ips: external_ips.clone(),
            lb_ips: lb_ips.clone(),
            itp_local: s.internal_traffic_policy == TrafficPolicy::Local,
            etp_local: s.external_traffic_policy == TrafficPolicy::Local,
            affinity_seconds,
            antrea: None,
            kube: None,
        };
        if cfg.antrea_proxy && !skipped {
            let cats = categorize(
                eps,
                &rules.node,
                &r,
                cfg.topology_aware_hints && topology_requested,
            );
            r.antrea = Some(antrea_port(rules, &r, cats, lb_mode));
        }
        if let Some(mode) = cfg.kube_proxy {
            // kube-proxy 1.28: TopologyAwareHints is Beta and on.
            let cats = categorize(eps, &rules.node, &r, topology_requested);
            r.kube = Some(kubeproxy::compile_port(rules, &r, cats, mode));
        }
        out.push(r);
    }
    out
}

fn dedup(v: &[Ipv4Addr]) -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = Vec::with_capacity(v.len());
    for ip in v {
        if !out.contains(ip) {
            out.push(*ip);
        }
    }
    out
}

/// `getLoadBalancerMode`: the annotation, unless it asks for DSR without the
/// gate; else the default (which the agent only accepts as dsr with the gate).
fn lb_mode(s: &Service, cfg: &ProxyConfig) -> LbMode {
    let default = if cfg.dsr_enabled {
        cfg.default_load_balancer_mode
    } else {
        LbMode::Nat
    };
    match s
        .meta
        .annotations
        .get(LB_MODE_ANNOTATION)
        .and_then(|m| LbMode::from_antrea_str(m))
    {
        Some(LbMode::Dsr) if cfg.dsr_enabled => LbMode::Dsr,
        Some(LbMode::Nat) => LbMode::Nat,
        _ => default,
    }
}

fn antrea_port(
    rules: &NodeServiceRules,
    r: &ServicePortRules,
    cats: Categorized,
    lb_mode: LbMode,
) -> AntreaPortRules {
    let cfg = &rules.cfg;
    let mut vips = vec![AntreaVip {
        kind: VipKind::ClusterIp,
        ip: Some(r.cluster_ip),
        port: r.port,
        local_policy: r.itp_local,
        short_circuit: false,
        dsr: false,
    }];
    let external = |kind, ip, port| AntreaVip {
        kind,
        ip,
        port,
        local_policy: r.etp_local,
        short_circuit: r.etp_local,
        dsr: lb_mode == LbMode::Dsr && kind != VipKind::NodePort,
    };
    if cfg.proxy_all {
        if let Some(np) = r.node_port {
            vips.push(external(VipKind::NodePort, None, np));
        }
        for ip in &r.external_ips {
            vips.push(external(VipKind::ExternalIp, Some(*ip), r.port));
        }
    }
    if cfg.proxy_load_balancer_ips {
        for ip in &r.lb_ips {
            vips.push(external(VipKind::LoadBalancerIp, Some(*ip), r.port));
        }
    }
    let sort = |v: Option<Vec<EndpointRef>>| {
        v.map(|mut v| {
            v.sort_by_key(|e| (e.ip, e.port));
            v
        })
    };
    let mut host_network_ips: Vec<Ipv4Addr> = cats
        .cluster
        .iter()
        .chain(cats.local.iter())
        .flatten()
        .map(|e| e.ip)
        .filter(|ip| rules.node_ips.binary_search(ip).is_ok())
        .collect();
    host_network_ips.sort();
    host_network_ips.dedup();
    AntreaPortRules {
        vips,
        affinity_timeout: r
            .affinity_seconds
            .map_or(0, |t| t.min(MAX_ANTREA_AFFINITY_TIMEOUT) as u16),
        lb_mode,
        cluster_group: sort(cats.cluster),
        local_group: sort(cats.local),
        topology: cats.topology,
        host_network_ips,
    }
}

/// `categorizeEndpoints` for one Service port on `node`.
pub(crate) fn categorize(
    eps: &[Endpoint],
    node: &ProxyNode,
    r: &ServicePortRules,
    topology_enabled: bool,
) -> Categorized {
    let to_ref = |e: &Endpoint| EndpointRef {
        ip: e.ip,
        port: e.port,
        node: e.node.clone(),
        local: e.node == node.name,
        ready: e.ready,
        serving: e.serving,
        terminating: e.terminating,
    };
    let mut out = Categorized::default();
    if r.uses_cluster_endpoints() {
        let zone = node.zone.as_deref();
        let topology = topology_enabled && zone.is_some() && {
            let ready: Vec<&Endpoint> = eps.iter().filter(|e| e.ready).collect();
            !ready.is_empty()
                && ready.iter().all(|e| !e.zone_hints.is_empty())
                && ready
                    .iter()
                    .any(|e| e.zone_hints.iter().any(|z| Some(z.as_str()) == zone))
        };
        let mut cluster: Vec<EndpointRef> = eps
            .iter()
            .filter(|e| {
                e.ready && (!topology || e.zone_hints.iter().any(|z| Some(z.as_str()) == zone))
            })
            .map(to_ref)
            .collect();
        if cluster.is_empty() {
            // No ready endpoint anywhere: serving and terminating ones, topology ignored.
            cluster = eps
                .iter()
                .filter(|e| e.serving && e.terminating)
                .map(to_ref)
                .collect();
        }
        out.has_any = !cluster.is_empty();
        out.topology = topology;
        out.cluster = Some(cluster);
    }
    if r.uses_local_endpoints() {
        let is_local = |e: &&Endpoint| e.node == node.name;
        out.has_any |= eps.iter().any(|e| e.ready || (e.serving && e.terminating));
        let mut local: Vec<EndpointRef> = eps
            .iter()
            .filter(is_local)
            .filter(|e| e.ready)
            .map(to_ref)
            .collect();
        if local.is_empty() {
            local = eps
                .iter()
                .filter(is_local)
                .filter(|e| e.serving && e.terminating)
                .map(to_ref)
                .collect();
        }
        out.local = Some(local);
    }
    out
}
