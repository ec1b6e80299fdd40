//! Criterion benches of the engine pieces issue 8 sets targets for. Each
//! runs the same functions `antlab run` does (no benchmark-only paths); the
//! CLI's `antlab rules --compare`, `antlab bench egress` and `antlab bench
//! des` print the same figures without criterion's statistics.
//!
//! `cargo bench -p sim-core` times them; CI only compiles them
//! (`cargo bench --no-run`).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sim_core::engine::egress;
use sim_core::engine::proxy::{self, KubeProxyMode, ProxyConfig};
use sim_core::rng::DEFAULT_SEED;
use sim_core::scale::{GenParams, egress_cluster};
use sim_core::sched::{DesBenchParams, SchedulerKind, run_des_bench_kind};

fn proxy_config(kube: Option<KubeProxyMode>) -> ProxyConfig {
    ProxyConfig {
        kube_proxy: kube,
        proxy_all: kube.is_none(),
        ..ProxyConfig::default()
    }
}

/// Full compile of one node's Service rules: 10,000 Services x 10 endpoints.
fn service_compile(c: &mut Criterion) {
    let cluster = proxy::synthetic_services(10_000, 10, 10, DEFAULT_SEED);
    let node = &cluster.nodes[0];
    let mut g = c.benchmark_group("service_compile_10000x10");
    g.sample_size(10);
    for (label, kube) in [
        (
            "antrea_proxy_and_kube_proxy_iptables",
            Some(KubeProxyMode::Iptables),
        ),
        ("antrea_proxy_only", None),
    ] {
        let cfg = proxy_config(kube);
        g.bench_function(label, |b| {
            b.iter(|| proxy::compile_node(node, &cluster.services, &cluster.nodes, &cfg))
        });
    }
    g.finish();
}

/// One endpoint change applied incrementally to compiled rules (a Service
/// loses its last endpoint, then gets it back: two changes per iteration).
fn endpoint_change(c: &mut Criterion) {
    let cluster = proxy::synthetic_services(10_000, 10, 10, DEFAULT_SEED);
    let node = &cluster.nodes[0];
    let cfg = proxy_config(Some(KubeProxyMode::Iptables));
    let mut rules = proxy::compile_node(node, &cluster.services, &cluster.nodes, &cfg);
    let svc = &cluster.services[cluster.services.len() / 2];
    let mut changed = svc.clone();
    for p in changed.endpoints.ports.iter_mut() {
        p.endpoints.pop();
    }
    c.bench_function("endpoint_change_pair_10000x10", |b| {
        b.iter(|| {
            proxy::update_service(&mut rules, black_box(&changed));
            proxy::update_service(&mut rules, black_box(svc));
        })
    });
}

/// Egress placement after one node failure: 1,000 Egresses in 10 pools on an
/// `antlab gen` cluster of 5,000 nodes, the node holding the most IPs gone.
fn egress_replacement(c: &mut Criterion) {
    let p = GenParams {
        nodes: 5000,
        pods: 0,
        services: 0,
        endpoints_per_service: 0,
        egresses: 1000,
        pools: 10,
        seed: DEFAULT_SEED,
    };
    let cluster = egress_cluster(&p).expect("the generated cluster loads");
    let all: sim_core::engine::NodeSet = cluster.nodes().map(|n| n.id).collect();
    let before = egress::placement(&cluster, &all);
    let mut held: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for &n in before.values().flatten() {
        *held.entry(cluster.node(n).name.as_str()).or_default() += 1;
    }
    let victim = held
        .iter()
        .max_by_key(|(n, c)| (**c, std::cmp::Reverse(**n)))
        .map(|(n, _)| n.to_string())
        .expect("some node holds an Egress IP");
    let mut alive = all;
    alive.remove(cluster.node_id(&victim).expect("a node"));
    let mut g = c.benchmark_group("egress_replacement");
    g.sample_size(20);
    // An agent's re-placement: eligible nodes and Egresses already known.
    let inputs = egress::PlacementInputs::new(&cluster);
    g.bench_function("5000_nodes_1000_egresses_10_pools", |b| {
        b.iter(|| inputs.place(&cluster, black_box(&alive)))
    });
    // The same from the cluster state (pool selectors matched again).
    g.bench_function("5000_nodes_1000_egresses_10_pools_from_scratch", |b| {
        b.iter(|| egress::placement(&cluster, black_box(&alive)))
    });
    g.finish();
}

/// Policies: resolving 1,000 policies over 10,000 Pods (100 nodes), and one
/// new Pod that 100 of them select (the index updated in place; a clone of
/// the index per iteration is outside the timing).
fn policies(c: &mut Criterion) {
    use sim_core::engine::policy::index::PolicyIndex;
    use sim_core::engine::policy::synthetic;
    let mut cluster = synthetic::cluster(100, 10_000, 1000).expect("generated cluster");
    let mut g = c.benchmark_group("policies_1000x10000");
    g.sample_size(20);
    g.bench_function("full_compile", |b| {
        b.iter(|| PolicyIndex::build(black_box(&cluster)))
    });
    let index = PolicyIndex::build(&cluster);
    let pod = synthetic::shared_pod(&mut cluster, 0).expect("pod");
    g.bench_function("add_pod_selected_by_100", |b| {
        b.iter_batched(
            || index.clone(),
            // The index is returned so that its drop is not timed.
            |mut idx| {
                let touched = idx.add_pod(&cluster, black_box(pod));
                (idx, touched)
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// The event core on ns-3's bench-scheduler shape (population 100,000, one
/// million events; each executed event schedules one).
fn des(c: &mut Criterion) {
    let params = DesBenchParams {
        population: 100_000,
        events: 1_000_000,
        seed: DEFAULT_SEED,
    };
    let mut g = c.benchmark_group("des_100000_1M");
    g.sample_size(10);
    for kind in [
        SchedulerKind::Heap,
        SchedulerKind::Calendar,
        SchedulerKind::Map,
    ] {
        g.bench_function(kind.as_str(), |b| {
            b.iter(|| run_des_bench_kind(kind, black_box(&params)))
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    service_compile,
    endpoint_change,
    egress_replacement,
    policies,
    des
);
criterion_main!(benches);
