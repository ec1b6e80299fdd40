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

use std::net::Ipv4Addr;

use super::endpoints::{Endpoint, hints_requested};
use super::kubeproxy;
use super::rules::{
    AntreaPortRules, AntreaVip, Categorized, EndpointRef, NodeServiceRules, ProxyService,
    ServicePortRules, VipKind,
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
    let mut node_ips: Vec<Ipv4Addr> = nodes.iter().map(|n| n.ip).collect();
    if !node_ips.contains(&node.ip) {
        node_ips.push(node.ip);
    }
    node_ips.sort();
    node_ips.dedup();
    let mut rules = NodeServiceRules::empty(
        node.clone(),
        cfg.clone(),
        node_ips,
        antrea_nodeport_addresses(node, cfg),
    );
    for s in services {
        update_service(&mut rules, s);
    }
    rules
}

/// Adds or replaces one Service's rules.
pub fn update_service(rules: &mut NodeServiceRules, svc: &ProxyService) {
    let key = svc.key().clone();
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
    if let Some(old) = rules.services.remove(&(namespace.into(), name.into())) {
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
