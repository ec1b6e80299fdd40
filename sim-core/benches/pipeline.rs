//! `engine::pipeline::compile` for one node of a generated cluster: 1,000
//! Services x 10 endpoints on 50 nodes (proxyAll on, so NodePorts compile
//! too), 20 local Pods, 49 peers.
//! `cargo bench -p sim-core --bench pipeline`

use criterion::{Criterion, criterion_group, criterion_main};
use sim_core::engine::pipeline::{compile, synthetic_spec};

fn pipeline_compile(c: &mut Criterion) {
    let s = synthetic_spec(1000, 10);
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
