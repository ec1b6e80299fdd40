//! `engine::pipeline::compile` for one node of a generated cluster: 1,000
//! Services x 10 endpoints on 50 nodes (proxyAll on, so NodePorts compile
//! too), 20 local Pods, 49 peers.
//! `cargo bench -p sim-core --bench pipeline`

use std::net::Ipv4Addr;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use ipnet::Ipv4Net;
use sim_core::engine::pipeline::{Features, PipelineSpec, compile};
use sim_core::engine::proxy::{ProxyConfig, compile_node, synthetic_services};
use sim_core::model::MacAddr;

fn spec(n_svc: usize, n_ep: usize) -> PipelineSpec {
    let cluster = synthetic_services(n_svc, n_ep, 50, 7);
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
    for i in 0..20u8 {
        spec.add_pod(
            MacAddr::from_name(&format!("pod-{i}")),
            Ipv4Addr::new(10, 100, 0, 2 + i),
        );
    }
    // Peers with the generated cluster's Pod CIDR scheme.
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

fn pipeline_compile(c: &mut Criterion) {
    let s = spec(1000, 10);
    let p = compile(&s);
    eprintln!(
        "1000 Services x 10 endpoints: {} flows, {} groups",
        p.flows().len(),
        p.groups().len()
    );
    let mut g = c.benchmark_group("pipeline_compile");
    g.sample_size(20);
    g.bench_function("1000_services_x_10_endpoints", |b| b.iter(|| compile(&s)));
    g.finish();
}

criterion_group!(benches, pipeline_compile);
criterion_main!(benches);
