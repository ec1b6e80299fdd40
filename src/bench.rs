//! `antlab bench ...` and `antlab rules --compare`: timing drivers. The
//! wall clock is read here, in the CLI; the engine and the event core never
//! see it. (`bench real-lab` and `bench ovs-services` are in [`crate::real`].)

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use sim_core::rng::DEFAULT_SEED;
use sim_core::sched::{DesBenchParams, SchedulerKind, run_des_bench_kind};
use sim_core::time::{SimDuration, SimTime};

use crate::bad;

/// `antlab bench des`: the event core on ns-3's bench-scheduler shape.
pub fn des(
    population: usize,
    events: u64,
    scheduler: &str,
    seed: u64,
    runs: u32,
) -> Result<ExitCode> {
    let kind: SchedulerKind = scheduler
        .parse()
        .map_err(|e: sim_core::sched::UnknownSchedulerKind| bad(e.to_string()))?;
    let params = DesBenchParams {
        population,
        events,
        seed,
    };
    outln!(
        "bench des: scheduler {kind}, population {population}, events {events}, seed {seed}, runs {runs}"
    );
    let mut best = 0f64;
    for i in 0..runs.max(1) {
        // The clock is read here, in the CLI: the event core never sees it.
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        let out = run_des_bench_kind(kind, &params);
        let secs = start.elapsed().as_secs_f64();
        let rate = out.executed as f64 / secs;
        best = best.max(rate);
        outln!(
            "run {}: {} events in {:.3} s, {:.0} events/s (sim time reached {}, checksum {:016x})",
            i + 1,
            out.executed,
            secs,
            rate,
            out.final_time,
            out.checksum
        );
    }
    outln!("events/s: {best:.0}");
    Ok(ExitCode::SUCCESS)
}

/// Wall seconds of each phase of one `antlab run` without output.
struct RunPhases {
    load: f64,
    admit: f64,
    start: f64,
    zero: f64,
    simulate: f64,
    /// Events the 0 s steps and the simulation after them processed.
    zero_events: u64,
    events: u64,
    passed: bool,
}

/// `antlab bench run`: a scenario's run timed phase by phase.
pub fn run(path: &std::path::Path, seed: Option<u64>, runs: u32) -> Result<ExitCode> {
    outln!("bench run: {}, runs {}", path.display(), runs.max(1));
    let mut best: Option<RunPhases> = None;
    for i in 0..runs.max(1) {
        let p = run_phases(path, seed)?;
        let total = p.load + p.admit + p.start + p.zero + p.simulate;
        outln!(
            "run {}: load {:.3} s, admission {:.3} s, world at 0 s {:.3} s, 0 s steps {:.3} s ({} events), simulation {:.3} s ({} events, {:.0} events/s); whole run {:.3} s, {:.0} events/s; expectations {}",
            i + 1,
            p.load,
            p.admit,
            p.start,
            p.zero,
            p.zero_events,
            p.simulate,
            p.events,
            p.events as f64 / p.simulate,
            total,
            (p.zero_events + p.events) as f64 / total,
            if p.passed { "passed" } else { "FAILED" },
        );
        if best.as_ref().is_none_or(|b| p.simulate < b.simulate) {
            best = Some(p);
        }
    }
    let best = best.expect("at least one run");
    outln!(
        "simulation events/s: {:.0}",
        best.events as f64 / best.simulate
    );
    Ok(ExitCode::SUCCESS)
}

/// One run of the scenario at `path`, timed phase by phase.
#[allow(clippy::disallowed_methods)]
fn run_phases(path: &std::path::Path, seed: Option<u64>) -> Result<RunPhases> {
    use sim_core::scenario::{self, run::Runner};
    let t = Instant::now();
    let scn = crate::load_scenario_as(path, None)?;
    let load = t.elapsed().as_secs_f64();
    let seed = seed.or(scn.seed).unwrap_or(DEFAULT_SEED);
    let t = Instant::now();
    scenario::admit::admit(&scn, seed)?;
    let admit = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut runner = Runner::start(scn.clone(), seed, false)?;
    runner.stream_log(Box::new(sim_core::sim::log::Discard));
    runner.keep_flow_records(0);
    let start = t.elapsed().as_secs_f64();
    let t = Instant::now();
    runner.advance_to(SimTime::ZERO)?;
    let zero = t.elapsed().as_secs_f64();
    let zero_events = runner.outcome().world.events_processed();
    let t = Instant::now();
    runner.advance_to(scn.until)?;
    let outcome = runner.finish();
    let simulate = t.elapsed().as_secs_f64();
    Ok(RunPhases {
        load,
        admit,
        start,
        zero,
        simulate,
        zero_events,
        events: outcome.world.events_processed() - zero_events,
        passed: outcome.passed(),
    })
}

/// `antlab bench egress`: the wall clock is read here, in the CLI.
#[allow(clippy::disallowed_methods)]
pub fn egress(nodes: usize, egresses: usize, pools: usize, runs: u32) -> Result<ExitCode> {
    let p = sim_core::scale::GenParams {
        nodes,
        pods: 0,
        services: 0,
        endpoints_per_service: 0,
        egresses,
        pools,
        seed: DEFAULT_SEED,
    };
    let cluster = sim_core::scale::egress_cluster(&p).map_err(bad)?;
    let all: sim_core::engine::NodeSet = cluster.nodes().map(|n| n.id).collect();
    let before = sim_core::engine::egress::placement(&cluster, &all);
    let mut held: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for &n in before.values().flatten() {
        *held.entry(cluster.node(n).name.as_str()).or_default() += 1;
    }
    let victim = held
        .iter()
        .max_by_key(|(n, c)| (**c, std::cmp::Reverse(**n)))
        .map(|(n, _)| n.to_string())
        .ok_or_else(|| bad("no Egress is placed"))?;
    let mut alive = all.clone();
    alive.remove(cluster.node_id(&victim).expect("a node"));
    outln!(
        "bench egress: {nodes} nodes, {egresses} Egresses in {pools} pools; {victim} (holding {}) fails",
        held[victim.as_str()]
    );
    let runs = runs.max(1);
    // What an agent does when a member goes: its pools' eligible nodes and
    // the Egresses are known (informers), so it rebuilds the rings of the
    // alive ones and re-places. Also timed: the same from the cluster state.
    let inputs = sim_core::engine::egress::PlacementInputs::new(&cluster);
    let mut incremental = Vec::with_capacity(runs as usize);
    let mut from_scratch = Vec::with_capacity(runs as usize);
    let mut moved = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let after = inputs.place_afresh(&cluster, &alive);
        incremental.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let again = sim_core::engine::egress::placement(&cluster, &alive);
        from_scratch.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(after, again, "incremental and full placement agree");
        moved = before
            .iter()
            .filter(|(name, node)| after.get(*name) != Some(*node))
            .count();
    }
    for (label, times) in [
        ("re-placement", &mut incremental),
        ("full placement from cluster state", &mut from_scratch),
    ] {
        times.sort_by(f64::total_cmp);
        outln!(
            "{label} of {} Egresses ({moved} move): median {:.3} ms, min {:.3} ms, max {:.3} ms over {runs} runs",
            before.len(),
            times[times.len() / 2],
            times[0],
            times[times.len() - 1]
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `antlab bench tui`: the wall clock is read here, in the CLI.
#[allow(clippy::disallowed_methods)]
pub fn tui(nodes: usize, frames: u32, step: &str, width: u16, height: u16) -> Result<ExitCode> {
    let step = SimDuration::parse(step).map_err(|e| bad(format!("--frame-step: {e}")))?;
    let frames = frames.max(1);
    let until = SimTime::ZERO + SimDuration::from_nanos(step.as_nanos() * u64::from(frames));
    let power_off = SimTime::ZERO + SimDuration::from_nanos(until.as_nanos() / 2);
    let scn = tui::generated_lab(nodes, power_off, until).map_err(bad)?;
    outln!(
        "bench tui: {nodes} nodes, {frames} frames of {} sim time, {width}x{height}, node-3 off at {}",
        step.human(),
        power_off.since(SimTime::ZERO).human()
    );
    let t0 = Instant::now();
    let (mut session, mut app) = tui::start(scn, None).map_err(bad)?;
    let startup = t0.elapsed();
    outln!(
        "start-up (one full run to learn event times, then time 0): {:.1} ms",
        startup.as_secs_f64() * 1e3
    );
    let mut times = Vec::with_capacity(frames as usize);
    for i in 1..=frames {
        app.time = SimTime::ZERO + SimDuration::from_nanos(step.as_nanos() * u64::from(i));
        let t = Instant::now();
        tui::render_offscreen(&mut session, &mut app, width, height).map_err(bad)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let first = times[0];
    let mut rest: Vec<f64> = times[1..].to_vec();
    rest.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        rest.get(((rest.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(first)
    };
    outln!("first frame (agents joining, ARP storm): {first:.1} ms");
    outln!(
        "other frames: median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pick(0.5),
        pick(0.99),
        pick(1.0)
    );
    let under = times.iter().filter(|&&t| t < 50.0).count();
    outln!("frames under 50 ms: {under}/{}", times.len());
    Ok(ExitCode::SUCCESS)
}

/// `rules --compare`'s bounds: what fits 2 GiB (README "Limits").
const COMPARE_MAX_SERVICES: usize = 100_000;
const COMPARE_MAX_ENDPOINTS_PER_SERVICE: usize = 1_000;
const COMPARE_MAX_ENDPOINTS: usize = 1_000_000;
const COMPARE_MAX_NODES: usize = 5_000;

/// AntreaProxy's flows against kube-proxy's iptables rules for a synthetic
/// cluster: counts, full compile time, and the average time to apply one
/// endpoint change incrementally.
pub fn rules_compare(services: usize, eps: usize, nodes: usize) -> Result<ExitCode> {
    use sim_core::engine::proxy::{self, KubeProxyMode, ProxyConfig};
    // 100,000 Services of 10 endpoints: 13.5 s and 1.06 GB peak; 1,000,000
    // endpoints however split take about 1 GB (README "Limits").
    for (flag, value, max) in [
        ("--services", services, COMPARE_MAX_SERVICES),
        (
            "--endpoints-per-service",
            eps,
            COMPARE_MAX_ENDPOINTS_PER_SERVICE,
        ),
        ("--nodes", nodes, COMPARE_MAX_NODES),
    ] {
        if value > max {
            return Err(bad(format!("{flag} {value} is over the limit of {max}")));
        }
    }
    if services.saturating_mul(eps) > COMPARE_MAX_ENDPOINTS {
        return Err(bad(format!(
            "--services {services} x --endpoints-per-service {eps} is over the limit of {COMPARE_MAX_ENDPOINTS} endpoints"
        )));
    }
    let cluster = proxy::synthetic_services(services, eps, nodes.max(1), DEFAULT_SEED);
    let node = &cluster.nodes[0];
    outln!(
        "rules --compare: {services} Services x {eps} endpoints, {} nodes (rules of {})",
        cluster.nodes.len(),
        node.name
    );
    for (label, kube) in [
        (
            "AntreaProxy + kube-proxy iptables",
            Some(KubeProxyMode::Iptables),
        ),
        ("AntreaProxy only (proxyAll)", None),
    ] {
        let cfg = ProxyConfig {
            kube_proxy: kube,
            proxy_all: kube.is_none(),
            ..ProxyConfig::default()
        };
        // The clock is read here, in the CLI: the engine never sees it.
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        let mut rules = proxy::compile_node(node, &cluster.services, &cluster.nodes, &cfg);
        let compile = start.elapsed();
        let counts = proxy::rule_counts(&rules);
        // Incremental: change one Service's endpoints (drop its last one) and back.
        let changes = 200.min(cluster.services.len());
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        for svc in cluster.services.iter().take(changes) {
            let mut changed = svc.clone();
            for p in changed.endpoints.ports.iter_mut() {
                p.endpoints.pop();
            }
            proxy::update_service(&mut rules, &changed);
            proxy::update_service(&mut rules, svc);
        }
        let per_update = start.elapsed() / (2 * changes.max(1)) as u32;
        outln!("{label}:");
        outln!(
            "  antrea flows {}, groups {}; iptables rules {}",
            counts.antrea_flows,
            counts.antrea_groups,
            counts.iptables_rules
        );
        outln!(
            "  full compile {:.3} ms; one endpoint change {:.1} us on average",
            compile.as_secs_f64() * 1e3,
            per_update.as_secs_f64() * 1e6
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `antlab bench pipeline`'s knobs.
pub struct PipelineParams {
    pub services: usize,
    pub endpoints: usize,
    pub packets: usize,
    pub packets_per_flow: usize,
    pub seed: u64,
    /// Also run with the flow cache.
    pub cache: bool,
}

/// `antlab bench pipeline`: packets per second through one node's br-int
/// program, without and with the flow cache. The wall clock is read here.
#[allow(clippy::disallowed_methods)]
pub fn pipeline(p: &PipelineParams) -> Result<ExitCode> {
    use sim_core::engine::pipeline::packets::{classes_for, sample_packets};
    use sim_core::engine::pipeline::{compile, synthetic, synthetic_spec};
    use sim_core::openflow::{
        Conntrack, CtMode, CtState, FlowCache, Packet, Program, Style, TableMap,
    };
    use std::hint::black_box;

    for (flag, value, max) in [
        ("--services", p.services, COMPARE_MAX_SERVICES),
        (
            "--endpoints",
            p.endpoints,
            COMPARE_MAX_ENDPOINTS_PER_SERVICE,
        ),
    ] {
        if value > max {
            return Err(bad(format!("{flag} {value} is over the limit of {max}")));
        }
    }
    if p.services.saturating_mul(p.endpoints) > COMPARE_MAX_ENDPOINTS {
        return Err(bad(format!(
            "--services {} x --endpoints {} is over the limit of {COMPARE_MAX_ENDPOINTS} endpoints",
            p.services, p.endpoints
        )));
    }
    if p.packets == 0 || p.packets_per_flow == 0 {
        return Err(bad("--packets and --packets-per-flow must be at least 1"));
    }
    let spec = synthetic_spec(p.services, p.endpoints);
    let pipeline = compile(&spec);
    let prog = Program::from_text(TableMap::new(pipeline.tables()), &pipeline.text())
        .map_err(|e| bad(format!("the compiled program does not parse: {e}")))?;
    let flows = p.packets.div_ceil(p.packets_per_flow);
    let mut samples = Vec::with_capacity(flows);
    for s in sample_packets(&spec, flows, p.seed) {
        let pkt = Packet::parse_trace_flow(&s.flow).map_err(bad)?;
        let states = s
            .ct_next
            .iter()
            .map(|c| CtState::parse(c))
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        samples.push((pkt, CtMode::Scripted(states)));
    }
    outln!(
        "bench pipeline: {} Services x {} endpoints (node 1 of {}, {} Pods, proxyAll): {} flows, {} groups",
        p.services,
        p.endpoints,
        synthetic::SYNTHETIC_NODES,
        synthetic::SYNTHETIC_PODS,
        prog.flow_count(),
        prog.group_count()
    );
    outln!(
        "packets: {} = {} flows x {} packets round-robin, {} traffic classes, seed {}; ct() answers scripted as --ct-next (the samples' states)",
        p.packets,
        flows,
        p.packets_per_flow,
        classes_for(&spec).len(),
        p.seed
    );
    let stream = || (0..p.packets).map(|i| &samples[i % flows]);

    let mut plain = prog.clone();
    let mut ct = Conntrack::new();
    let start = Instant::now();
    for (pkt, mode) in stream() {
        black_box(plain.run(&mut ct, mode, pkt, 0, false));
    }
    let secs = start.elapsed().as_secs_f64();
    outln!(
        "cache off: {} packets in {:.3} s, {:.0} packets/s",
        p.packets,
        secs,
        p.packets as f64 / secs
    );
    if !p.cache {
        return Ok(ExitCode::SUCCESS);
    }
    let mut cached = prog.clone();
    let mut ct = Conntrack::new();
    let mut cache = FlowCache::new();
    let start = Instant::now();
    for (pkt, mode) in stream() {
        black_box(cache.run(&mut cached, &mut ct, mode, pkt, 0));
    }
    let secs = start.elapsed().as_secs_f64();
    let s = cache.stats();
    outln!(
        "cache on:  {} packets in {:.3} s, {:.0} packets/s, hit rate {:.1}% ({} hits, {} misses, {} not cacheable, {} entries, {} masks, {} flushes on program change)",
        s.hits + s.misses,
        secs,
        p.packets as f64 / secs,
        100.0 * s.hit_rate(),
        s.hits,
        s.misses,
        s.uncacheable,
        cache.len(),
        cache.masks(),
        s.invalidations
    );
    let same = plain.dump_flows(Style::Numbers) == cached.dump_flows(Style::Numbers)
        && plain.dump_group_stats() == cached.dump_group_stats();
    outln!(
        "flow and group counters with and without the cache: {}",
        if same { "identical" } else { "DIFFERENT" }
    );
    Ok(if same {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `antlab bench policies`: the engine's policy work on a generated
/// cluster (`engine::policy::synthetic`): resolving every rule and reading
/// out every node's rules (a full compile), the flows they become, one new
/// Pod that many policies select (incremental, as Antrea updates address
/// groups), and packets/s through a node's program with the rules in.
#[allow(clippy::disallowed_methods)]
pub fn policies(policies: usize, pods: usize, nodes: usize, packets: usize) -> Result<ExitCode> {
    use sim_core::engine::pipeline::compile;
    use sim_core::engine::pipeline::packets::sample_packets;
    use sim_core::engine::policy::index::PolicyIndex;
    use sim_core::engine::policy::synthetic::{self, SHARED_SELECTORS};
    use sim_core::openflow::{Conntrack, CtMode, CtState, FlowCache, Packet, Program, TableMap};
    use std::hint::black_box;

    for (flag, value, max) in [
        ("--policies", policies, 100_000),
        ("--pods", pods, 200_000),
        ("--nodes", nodes, 5_000),
    ] {
        if value > max {
            return Err(bad(format!("{flag} {value} is over the limit of {max}")));
        }
    }
    if nodes == 0 || pods > nodes * 250 {
        return Err(bad(format!(
            "--pods {pods} does not fit {nodes} nodes of a /24 each (at most 250 per node)"
        )));
    }
    let start = Instant::now();
    let mut cluster = synthetic::cluster(nodes, pods, policies).map_err(bad)?;
    outln!(
        "bench policies: {policies} policies (half NetworkPolicy, half ClusterNetworkPolicy), {pods} Pods on {nodes} nodes in {} Namespaces; generated and admitted in {:.3} s",
        synthetic::NAMESPACES,
        start.elapsed().as_secs_f64()
    );

    // Full compile: every rule resolved, every node's rules read out.
    let start = Instant::now();
    let index = PolicyIndex::build(&cluster);
    let built = start.elapsed();
    let ids: Vec<_> = cluster.nodes().map(|n| n.id).collect();
    let start = Instant::now();
    let per_node: Vec<_> = ids.iter().map(|n| index.node_rules(&cluster, *n)).collect();
    let read = start.elapsed();
    let realized: usize = per_node.iter().flatten().map(|r| r.rules().len()).sum();
    outln!(
        "full compile: {:.1} ms ({} rules resolved in {:.1} ms, every node's rules read out in {:.1} ms; {realized} rules realized over the nodes)",
        (built + read).as_secs_f64() * 1e3,
        index.rule_count(),
        built.as_secs_f64() * 1e3,
        read.as_secs_f64() * 1e3
    );

    // Flows: conjunctive (as Antrea installs them) against one flow per
    // (from, to, service) combination.
    let start = Instant::now();
    let mut conj_flows = 0usize;
    let mut cross = 0u64;
    let mut first_program = None;
    for (n, rules) in ids.iter().zip(&per_node) {
        let spec = synthetic::node_spec(&cluster, *n);
        let bare = compile(&spec).flows().len();
        let spec = spec.with_policy(rules.clone());
        let np = compile(&spec);
        conj_flows += np.flows().len() - bare;
        if let Some(r) = rules {
            cross += r
                .rules()
                .iter()
                .map(|r| r.cross_product_flows())
                .sum::<u64>();
        }
        if first_program.is_none() && rules.as_ref().is_some_and(|r| !r.rules().is_empty()) {
            first_program = Some((spec, np));
        }
    }
    outln!(
        "flows: {conj_flows} policy flows over {} nodes with conjunctive matches, against {cross} with one flow per (from, to, service); compiled in {:.1} ms",
        ids.len(),
        start.elapsed().as_secs_f64() * 1e3
    );

    // Incremental: one Pod that SHARED_SELECTORS policies select.
    let mut times = Vec::new();
    let mut touched = 0;
    let mut index = index;
    for i in 0..5 {
        let pod = synthetic::shared_pod(&mut cluster, i).map_err(bad)?;
        let start = Instant::now();
        let nodes = index.add_pod(&cluster, pod);
        times.push(start.elapsed());
        touched = nodes.len();
    }
    times.sort();
    outln!(
        "one new Pod selected by {SHARED_SELECTORS} policies: address groups updated in {:.3} ms (median of 5; {touched} nodes' rules change)",
        times[2].as_secs_f64() * 1e3
    );
    let fresh = PolicyIndex::build(&cluster);
    let same = ids
        .iter()
        .all(|n| index.node_rules(&cluster, *n) == fresh.node_rules(&cluster, *n));
    outln!(
        "incremental index against one rebuilt from scratch: {}",
        if same { "identical" } else { "DIFFERENT" }
    );

    // Packets through a node's program with the rules installed.
    if let Some((spec, np)) = first_program.filter(|_| packets > 0) {
        let prog = Program::from_text(TableMap::new(np.tables()), &np.text())
            .map_err(|e| bad(format!("the compiled program does not parse: {e}")))?;
        let samples: Vec<(Packet, CtMode)> = sample_packets(&spec, 1000, 1)
            .into_iter()
            .map(|s| {
                let states = s
                    .ct_next
                    .iter()
                    .map(|c| CtState::parse(c))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((Packet::parse_trace_flow(&s.flow)?, CtMode::Scripted(states)))
            })
            .collect::<Result<_, String>>()
            .map_err(bad)?;
        for cached in [false, true] {
            let mut p = prog.clone();
            let mut ct = Conntrack::new();
            let mut cache = FlowCache::new();
            let start = Instant::now();
            for i in 0..packets {
                let (pkt, mode) = &samples[i % samples.len()];
                if cached {
                    black_box(cache.run(&mut p, &mut ct, mode, pkt, 0));
                } else {
                    black_box(p.run(&mut ct, mode, pkt, 0, false));
                }
            }
            let secs = start.elapsed().as_secs_f64();
            outln!(
                "node program with its policy flows ({} flows): {packets} packets, cache {}: {:.0} packets/s",
                prog.flow_count(),
                if cached { "on" } else { "off" },
                packets as f64 / secs
            );
        }
    }
    Ok(if same {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
