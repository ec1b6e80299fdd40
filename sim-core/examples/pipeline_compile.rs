//! Times `engine::pipeline::compile` for one node of a generated cluster:
//! `cargo run --release -p sim-core --example pipeline_compile [SERVICES] [ENDPOINTS]`
//! (default 1,000 Services x 10 endpoints on 50 nodes, proxyAll on so
//! NodePorts are compiled too). Prints flows, groups and the median of 5 runs.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use sim_core::engine::pipeline::{Features, PipelineSpec, compile};
use sim_core::engine::proxy::{ProxyConfig, compile_node, synthetic_services};
use sim_core::model::MacAddr;

fn main() {
    let mut args = std::env::args().skip(1);
    let n_svc: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let n_ep: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let cluster = synthetic_services(n_svc, n_ep, 50, 7);
    let cfg = ProxyConfig {
        proxy_all: true,
        ..ProxyConfig::default()
    };
    let me = &cluster.nodes[0];
    let rules = Arc::new(compile_node(me, &cluster.services, &cluster.nodes, &cfg));
    let pod_cidr = "10.100.0.0/24".parse().expect("cidr");
    let mut spec = PipelineSpec::new(
        "10.0.0.1/16".parse().expect("net"),
        pod_cidr,
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
        let c = ipnet::Ipv4Net::new(
            Ipv4Addr::new(10, 100 + (i / 256) as u8, (i % 256) as u8, 0),
            24,
        )
        .expect("cidr");
        let ip = Ipv4Addr::new(10, 0, (i / 256) as u8, (i % 256) as u8 + 1);
        spec.add_peer(c, ip, c.hosts().next().expect("host"));
    }
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let t = Instant::now();
        let p = compile(&spec);
        times.push(t.elapsed());
        last = Some(p);
    }
    times.sort();
    let p = last.expect("ran");
    println!(
        "{n_svc} Services x {n_ep} endpoints: {} flows, {} groups, compile median {:?} (min {:?}, max {:?})",
        p.flows().len(),
        p.groups().len(),
        times[2],
        times[0],
        times[4]
    );
}
