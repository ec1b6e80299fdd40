//! Compiling per-node service rules: what AntreaProxy and kube-proxy install
//! on one node, from the Services and their endpoints.
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
//!   virtual servers), which compiles its part of each port.
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
use std::sync::Arc;

use super::endpoints::{Endpoint, hints_requested};
use super::kubeproxy;
use super::rules::{
    AntreaPortRules, AntreaVip, Categorized, EndpointRef, NodeServiceRules, ProxyService,
    ServicePortRules, SharedServices, VipKind,
};
use super::{
    LB_MODE_ANNOTATION, LbMode, MAX_ANTREA_AFFINITY_TIMEOUT, ProxyConfig, ProxyNode,
    ServicePortName,
};
use crate::k8s::{ClusterIp, Service, ServiceType, SessionAffinity, TrafficPolicy};

/// Compiles every Service for `node`.
pub fn compile_node(
    node: &ProxyNode,
    services: &[ProxyService],
    nodes: &[ProxyNode],
    cfg: &ProxyConfig,
) -> NodeServiceRules {
    compile_node_with(node, services, nodes, cfg, &mut ServiceMemo::default())
}

/// What the nodes of one compile share: the rules of each class of nodes
/// that compile every Service alike, and which Services each node must
/// compile itself.
///
/// A Service's rules depend on the node only through which of its endpoints
/// are on the node (`local`), the node's zone (topology hints) and, with
/// kube-proxy's IPVS, the node's own NodePort addresses. So a node with no
/// endpoint of the Service compiles it as every other such node of its
/// zone does; a cluster of N nodes and S Services then compiles about
/// S x zones + its endpoints' nodes, not N x S, and holds one table per zone.
///
/// A memo is good for one `(services, nodes, cfg)`: the caller starts a new
/// one (or clears it) when any of them changes.
#[derive(Debug, Default)]
pub struct ServiceMemo {
    /// The sorted transport IPs of `nodes`.
    node_ips: Option<Arc<Vec<Ipv4Addr>>>,
    /// Per zone, the rules of a node hosting no endpoint of any Service.
    by_zone: BTreeMap<Option<String>, Arc<SharedServices>>,
    /// Per node name, the Services (indexes into `services`) with an
    /// endpoint on it.
    local: Option<BTreeMap<Arc<str>, Vec<usize>>>,
}

impl ServiceMemo {
    /// Forgets everything (the inputs changed).
    pub fn clear(&mut self) {
        *self = ServiceMemo::default();
    }
}

/// [`compile_node`] sharing what it can with the other nodes compiled
/// through `memo` (same `services`, `nodes` and `cfg`).
pub fn compile_node_with(
    node: &ProxyNode,
    services: &[ProxyService],
    nodes: &[ProxyNode],
    cfg: &ProxyConfig,
    memo: &mut ServiceMemo,
) -> NodeServiceRules {
    let all_ips = memo
        .node_ips
        .get_or_insert_with(|| {
            let mut v: Vec<Ipv4Addr> = nodes.iter().map(|n| n.ip).collect();
            v.sort();
            v.dedup();
            Arc::new(v)
        })
        .clone();
    let node_ips = if all_ips.binary_search(&node.ip).is_ok() {
        all_ips
    } else {
        let mut v = (*all_ips).clone();
        v.push(node.ip);
        v.sort();
        Arc::new(v)
    };
    let nodeport_addresses = antrea_nodeport_addresses(node, cfg);
    let shared = match memo.by_zone.get(&node.zone) {
        Some(s) => s.clone(),
        None => {
            // A node of this zone that no endpoint is on.
            let class = ProxyNode {
                name: String::new(),
                ..node.clone()
            };
            let scratch = NodeServiceRules::empty(
                class,
                cfg.clone(),
                node_ips.clone(),
                nodeport_addresses.clone(),
            );
            let mut table = SharedServices::default();
            for s in services {
                let ports = compile_service(&scratch, s);
                if !ports.is_empty() {
                    table.insert(s.key().clone(), Arc::new(ports));
                }
            }
            let table = Arc::new(table);
            memo.by_zone.insert(node.zone.clone(), table.clone());
            table
        }
    };
    let local = memo.local.get_or_insert_with(|| {
        let mut by_node: BTreeMap<Arc<str>, Vec<usize>> = BTreeMap::new();
        for (i, s) in services.iter().enumerate() {
            for p in &s.endpoints.ports {
                for e in &p.endpoints {
                    let list = by_node.entry(e.node.clone()).or_default();
                    if list.last() != Some(&i) {
                        list.push(i);
                    }
                }
            }
        }
        by_node
    });
    let mut rules = NodeServiceRules::over(
        node.clone(),
        cfg.clone(),
        node_ips,
        nodeport_addresses,
        shared,
    );
    // kube-proxy's IPVS binds every NodePort to this node's own addresses.
    let ipvs = matches!(cfg.kube_proxy, Some(super::KubeProxyMode::Ipvs { .. }));
    let mut own: Vec<usize> = local.get(node.name.as_str()).cloned().unwrap_or_default();
    if ipvs {
        own.extend(
            services
                .iter()
                .enumerate()
                .filter(|(_, s)| s.service.ports.iter().any(|p| p.node_port.is_some()))
                .map(|(i, _)| i),
        );
        own.sort_unstable();
        own.dedup();
    }
    for i in own {
        update_service(&mut rules, &services[i]);
    }
    rules
}

/// Every Service compiled for `node` itself, sharing nothing: what
/// [`compile_node_with`] must equal (tested).
#[cfg(test)]
pub(super) fn compile_node_alone(
    node: &ProxyNode,
    services: &[ProxyService],
    nodes: &[ProxyNode],
    cfg: &ProxyConfig,
) -> NodeServiceRules {
    let mut ips: Vec<Ipv4Addr> = nodes.iter().map(|n| n.ip).chain([node.ip]).collect();
    ips.sort();
    ips.dedup();
    let mut rules = NodeServiceRules::empty(
        node.clone(),
        cfg.clone(),
        Arc::new(ips),
        antrea_nodeport_addresses(node, cfg),
    );
    for s in services {
        update_service(&mut rules, s);
    }
    rules
}

/// Adds or replaces one Service's rules.
pub fn update_service(rules: &mut NodeServiceRules, svc: &ProxyService) {
    let ports = compile_service(rules, svc);
    let ports = (!ports.is_empty()).then(|| Arc::new(ports));
    rules.set_service(svc.key().clone(), ports);
}

/// Removes one Service's rules (no-op if absent).
pub fn remove_service(rules: &mut NodeServiceRules, namespace: &str, name: &str) {
    rules.set_service((namespace.into(), name.into()), None);
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
                r.antrea_uses_local_endpoints(cfg.dsr_enabled),
            );
            r.antrea = Some(antrea_port(rules, &r, cats, lb_mode));
        }
        if let Some(mode) = cfg.kube_proxy {
            // kube-proxy 1.28: TopologyAwareHints is Beta and on.
            let uses_local = r.uses_local_endpoints();
            let cats = categorize(eps, &rules.node, &r, topology_requested, uses_local);
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
fn categorize(
    eps: &[Endpoint],
    node: &ProxyNode,
    r: &ServicePortRules,
    topology_enabled: bool,
    uses_local: bool,
) -> Categorized {
    let to_ref = |e: &Endpoint| EndpointRef {
        ip: e.ip,
        port: e.port,
        node: e.node.clone(),
        local: *e.node == *node.name,
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
    if uses_local {
        let is_local = |e: &&Endpoint| *e.node == *node.name;
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
