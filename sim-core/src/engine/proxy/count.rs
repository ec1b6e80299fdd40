//! Rule counts and a synthetic cluster for `antlab rules --compare`.
//!
//! Counts are taken from the same lists the renders print, so a count always
//! equals the number of lines of that kind in the render.

use std::net::Ipv4Addr;

use indexmap::IndexMap;
use ipnet::Ipv4Net;

use super::endpoints::{Endpoint, HintsOutcome, PortEndpoints, ServiceEndpoints};
use super::kubeproxy::{fixed_rules, iptables_rules};
use super::render::{antrea_entries, ipvs_services};
use super::rules::{NodeServiceRules, ProxyService};
use super::{KubeProxyMode, ProxyNode};
use crate::k8s::{
    ClusterIp, ObjectMeta, Protocol, Service, ServicePort, ServiceType, SessionAffinity,
    TargetPort, TrafficPolicy,
};
use crate::rng::{below, stream};

/// How much state each proxy holds on one node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleCounts {
    /// Flows in AntreaProxy's service tables.
    pub antrea_flows: usize,
    /// OVS select groups.
    pub antrea_groups: usize,
    /// `-A` lines kube-proxy writes (filter + nat), iptables mode.
    pub iptables_rules: usize,
    /// IPVS virtual servers, IPVS mode.
    pub(crate) ipvs_services: usize,
    /// IPVS real servers over all virtual servers.
    pub(crate) ipvs_real_servers: usize,
}

/// Counts the node's rules.
pub fn rule_counts(rules: &NodeServiceRules) -> RuleCounts {
    let (flows, groups) = antrea_entries(rules);
    let mut c = RuleCounts {
        antrea_flows: flows.len(),
        antrea_groups: groups.len(),
        ..Default::default()
    };
    match rules.cfg.kube_proxy {
        Some(KubeProxyMode::Iptables) => {
            c.iptables_rules = fixed_rules().len()
                + rules
                    .ports()
                    .filter_map(|p| p.kube.as_ref().map(|k| iptables_rules(rules, p, k).1.len()))
                    .sum::<usize>();
        }
        Some(KubeProxyMode::Ipvs { .. }) => {
            let vs = ipvs_services(rules);
            c.ipvs_services = vs.len();
            c.ipvs_real_servers = vs.values().map(|v| v.reals.len()).sum();
        }
        None => {}
    }
    c
}

/// A generated cluster: nodes `node-1..n` on 10.0.0.0/16 with Pod CIDRs
/// 10.(100+i/256).(i%256).0/24, and Services `svc-<i>` in namespace `bench`
/// (ClusterIP 10.96.x.y, TCP port 80 → 8080; every fifth one NodePort, every
/// tenth LoadBalancer with an ingress IP, every seventh ClientIP affinity).
#[derive(Clone, Debug)]
pub struct SyntheticCluster {
    pub nodes: Vec<ProxyNode>,
    pub services: Vec<ProxyService>,
}

/// Builds a [`SyntheticCluster`]; endpoints land on random nodes (seeded).
pub fn synthetic_services(
    n_services: usize,
    endpoints_per_service: usize,
    n_nodes: usize,
    seed: u64,
) -> SyntheticCluster {
    let n_nodes = n_nodes.max(1);
    let mut rng = stream(seed, "proxy-synthetic");
    let nodes: Vec<ProxyNode> = (0..n_nodes)
        .map(|i| {
            let pod_cidr = Ipv4Net::new(
                Ipv4Addr::new(10, 100 + (i / 256) as u8, (i % 256) as u8, 0),
                24,
            )
            .expect("valid prefix");
            let mut n = ProxyNode::new(
                format!("node-{}", i + 1),
                Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 10)) + i as u32),
            );
            n.gateway_ip = pod_cidr.hosts().next();
            n.pod_cidr = Some(pod_cidr);
            n
        })
        .collect();
    let mut used_per_node = vec![1u32; n_nodes];
    let services = (0..n_services)
        .map(|i| {
            let cluster_ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 96, 0, 10)) + i as u32);
            let service_type = if i % 10 == 9 {
                ServiceType::LoadBalancer
            } else if i % 5 == 4 {
                ServiceType::NodePort
            } else {
                ServiceType::ClusterIp
            };
            let mut meta = ObjectMeta::named(format!("svc-{i}"));
            meta.namespace = Some("bench".into());
            let svc = Service {
                meta,
                service_type,
                cluster_ip: Some(ClusterIp::Ip(cluster_ip)),
                ports: vec![ServicePort {
                    name: Some("http".into()),
                    port: 80,
                    target_port: TargetPort::Number(8080),
                    node_port: (service_type != ServiceType::ClusterIp)
                        .then_some(30000 + (i % 2768) as u16),
                    protocol: Protocol::Tcp,
                }],
                selector: IndexMap::from([("app".to_string(), format!("svc-{i}"))]),
                load_balancer_ip: None,
                external_traffic_policy: TrafficPolicy::Cluster,
                internal_traffic_policy: TrafficPolicy::Cluster,
                session_affinity: if i % 7 == 6 {
                    SessionAffinity::ClientIp {
                        timeout_seconds: 10800,
                    }
                } else {
                    SessionAffinity::None
                },
            };
            let endpoints = (0..endpoints_per_service)
                .map(|_| {
                    let n = below(&mut rng, n_nodes as u64) as usize;
                    used_per_node[n] += 1;
                    let host = used_per_node[n];
                    let base = u32::from(nodes[n].pod_cidr.expect("set").network());
                    // Wraps inside the /24 only for absurd sizes; fine for a benchmark.
                    let ip = Ipv4Addr::from(base + 1 + (host % 254));
                    Endpoint {
                        pod: format!("bench/svc-{i}-{host}"),
                        ip,
                        port: 8080,
                        node: nodes[n].name.as_str().into(),
                        zone: None,
                        ready: true,
                        serving: true,
                        terminating: false,
                        zone_hints: Vec::new(),
                    }
                })
                .collect::<Vec<_>>();
            let mut endpoints = endpoints;
            endpoints.sort_by_key(|e| e.ip);
            endpoints.dedup_by_key(|e| e.ip);
            let mut ps = ProxyService::new(
                svc,
                ServiceEndpoints {
                    ports: vec![PortEndpoints {
                        port_name: Some("http".into()),
                        protocol: Protocol::Tcp,
                        endpoints,
                    }],
                    hints: HintsOutcome::NotRequested,
                },
            );
            if service_type == ServiceType::LoadBalancer {
                ps.load_balancer_ingress = vec![Ipv4Addr::from(
                    u32::from(Ipv4Addr::new(192, 168, 100, 0)) + i as u32,
                )];
            }
            ps
        })
        .collect();
    SyntheticCluster { nodes, services }
}
