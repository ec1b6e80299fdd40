//! [`synthetic_spec`]: one node of a generated cluster with many ClusterIP
//! Services, the shape the compile and interpreter benchmarks use
//! (`cargo bench -p sim-core --bench pipeline`, `antlab bench pipeline`).

use std::net::Ipv4Addr;
use std::sync::Arc;

use ipnet::Ipv4Net;

use super::spec::{Features, PipelineSpec};
use crate::engine::proxy::{ProxyConfig, compile_node, synthetic_services};
use crate::model::MacAddr;

/// Nodes of the generated cluster (the first one is compiled).
pub const SYNTHETIC_NODES: usize = 50;
/// Local Pods on the compiled node.
pub const SYNTHETIC_PODS: u8 = 20;

/// The first node of a cluster of [`SYNTHETIC_NODES`] nodes with `services`
/// Services of `endpoints` endpoints each (`synthetic_services`, seed 7),
/// proxyAll on (so NodePorts compile too), [`SYNTHETIC_PODS`] local Pods and
/// every other node as a peer with the generated Pod CIDR scheme.
pub fn synthetic_spec(services: usize, endpoints: usize) -> PipelineSpec {
    let cluster = synthetic_services(services, endpoints, SYNTHETIC_NODES, 7);
    let cfg = ProxyConfig {
        proxy_all: true,
        ..ProxyConfig::default()
    };
    let rules = Arc::new(compile_node(
        &cluster.nodes[0],
        &cluster.services,
        &cluster.nodes,
        &cfg,
    ));
    let mut spec = PipelineSpec::new(
        "10.0.0.1/16".parse().expect("net"),
        "10.100.0.0/24".parse().expect("cidr"),
        MacAddr::from_name("node-1/antrea-gw0"),
    )
    .with_features(Features {
        proxy_all: true,
        ..Features::default()
    })
    .with_services(Some(rules));
    for i in 0..SYNTHETIC_PODS {
        spec.add_pod(
            MacAddr::from_name(&format!("pod-{i}")),
            Ipv4Addr::new(10, 100, 0, 2 + i),
        );
    }
    for i in 1..cluster.nodes.len() {
        let c = Ipv4Net::new(
            Ipv4Addr::new(10, 100 + (i / 256) as u8, (i % 256) as u8, 0),
            24,
        )
        .expect("cidr");
        let ip = Ipv4Addr::new(10, 0, (i / 256) as u8, (i % 256) as u8 + 1);
        spec.add_peer(c, ip, c.hosts().next().expect("host"));
    }
    spec
}
