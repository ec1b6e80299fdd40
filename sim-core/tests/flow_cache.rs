//! The flow cache keeps the interpreter's semantics: on a compiled Antrea
//! node (Services, Pods, peers) and on small hand-written programs, runs
//! through a `FlowCache` give the same walks and the same flow and group
//! counters as plain `Program::run`, and a program change invalidates.

use sim_core::engine::pipeline::packets::sample_packets;
use sim_core::engine::pipeline::{compile, synthetic_spec};
use sim_core::openflow::{
    Conntrack, CtMode, CtState, Field, FlowCache, Packet, Program, Style, TableMap,
};
use sim_core::rng;

/// Fields a mutation may change: headers the pipeline matches, headers it
/// never looks at, metadata a trace flow may carry.
const MUTABLE: &[Field] = &[
    Field::InPort,
    Field::EthSrc,
    Field::EthDst,
    Field::VlanTci,
    Field::NwSrc,
    Field::NwDst,
    Field::NwProto,
    Field::NwTtl,
    Field::TpSrc,
    Field::TpDst,
    Field::ArpSha,
    Field::ArpTha,
    Field::Ipv6Src,
    Field::Reg(0),
    Field::Reg(1),
    Field::Reg(3),
    Field::Reg(4),
    Field::PktMark,
    Field::CtState,
    Field::CtMark,
    Field::CtLabel,
    Field::TunId,
    Field::TunSrc,
    Field::TunDst,
    Field::Metadata,
];

/// `n` packets: mostly the samples again (hits of one flow), some with one
/// or two fields changed to a small value or to another sample's value (hits
/// of a wider megaflow when the change is outside the key, misses when not).
fn stream(samples: &[(Packet, CtMode)], n: usize, seed: u64) -> Vec<(Packet, CtMode)> {
    let mut r = rng::stream(seed, "flow-cache-test");
    (0..n)
        .map(|_| {
            let (mut p, mode) = samples[rng::below(&mut r, samples.len() as u64) as usize].clone();
            for _ in 0..rng::below(&mut r, 3) {
                let f = MUTABLE[rng::below(&mut r, MUTABLE.len() as u64) as usize];
                let v = if rng::below(&mut r, 2) == 0 {
                    u128::from(rng::below(&mut r, 4))
                } else {
                    let other = &samples[rng::below(&mut r, samples.len() as u64) as usize].0;
                    other.get(f)
                };
                p.set(f, v);
            }
            (p, mode)
        })
        .collect()
}

fn node_program(services: usize, endpoints: usize) -> (Program, Vec<(Packet, CtMode)>) {
    let spec = synthetic_spec(services, endpoints);
    let pipeline = compile(&spec);
    let prog = Program::from_text(TableMap::new(pipeline.tables()), &pipeline.text()).unwrap();
    let samples = sample_packets(&spec, 240, 5)
        .into_iter()
        .map(|s| {
            let p = Packet::parse_trace_flow(&s.flow).unwrap();
            let states = s.ct_next.iter().map(|c| CtState::parse(c).unwrap());
            (p, CtMode::Scripted(states.collect()))
        })
        .collect();
    (prog, samples)
}

/// Runs `packets` through two copies of `prog`, one cached, and compares
/// every walk and, at the end, every counter. Returns the cache.
fn compare(prog: &Program, packets: &[(Packet, CtMode)], tracked: bool) -> FlowCache {
    let (mut plain, mut cached) = (prog.clone(), prog.clone());
    let (mut ct_a, mut ct_b) = (Conntrack::new(), Conntrack::new());
    let mut cache = FlowCache::new();
    for (i, (p, scripted)) in packets.iter().enumerate() {
        let mode = if tracked { &CtMode::Tracked } else { scripted };
        let now = i as u64 * 1_000;
        let mut want = plain.run(&mut ct_a, mode, p, now, false);
        // Cached walks carry no emitted packets (FlowCache::run).
        want.emitted.clear();
        let got = cache.run(&mut cached, &mut ct_b, mode, p, now).clone();
        assert_eq!(
            want,
            got,
            "packet {i}: {} (cache {:?})",
            p.to_trace_flow(),
            cache.stats()
        );
    }
    assert_eq!(
        plain.dump_flows(Style::Numbers),
        cached.dump_flows(Style::Numbers)
    );
    assert_eq!(plain.dump_group_stats(), cached.dump_group_stats());
    cache
}

#[test]
fn a_compiled_node_gives_the_same_walks_and_counters_with_the_cache() {
    let (prog, samples) = node_program(30, 4);
    let packets = stream(&samples, 3_000, 11);
    let cache = compare(&prog, &packets, false);
    let s = cache.stats();
    assert_eq!(s.hits + s.misses, 3_000);
    assert!(s.hits > 1_000, "{s:?}");
    assert!(s.misses > 240, "{s:?}");
    assert!(cache.masks() > 5, "{} masks", cache.masks());
}

#[test]
fn tracked_conntrack_walks_are_walked_and_the_rest_cached() {
    let (prog, samples) = node_program(10, 2);
    let packets = stream(&samples, 1_000, 12);
    let cache = compare(&prog, &packets, true);
    let s = cache.stats();
    // Every IPv4 packet meets ct(): only ARP and other ct-less walks are cached.
    assert!(s.uncacheable > 500, "{s:?}");
    assert!(s.hits > 0, "{s:?}");
}

const NAMES: &[(u8, &str)] = &[(0, "Classifier"), (1, "Forward"), (2, "Output")];

fn small(text: &str) -> Program {
    Program::from_text(TableMap::new(NAMES), text).unwrap()
}

fn pkt(s: &str) -> Packet {
    Packet::parse_trace_flow(s).unwrap()
}

#[test]
fn a_flow_change_invalidates_the_cache() {
    let mut prog = small(
        "table=Classifier, priority=100,ip,nw_dst=10.0.0.1 actions=output:2\n\
         table=Classifier, priority=0 actions=drop\n",
    );
    let mut ct = Conntrack::new();
    let mut cache = FlowCache::new();
    let mode = CtMode::Tracked;
    let p = pkt("in_port=1,tcp,nw_src=10.0.0.9,nw_dst=10.0.0.1,tp_src=1000,tp_dst=80");
    let out =
        |w: &sim_core::openflow::Walk| w.verdict.outputs.iter().map(|o| o.port).collect::<Vec<_>>();
    assert_eq!(out(cache.run(&mut prog, &mut ct, &mode, &p, 0)), [2]);
    assert_eq!(out(cache.run(&mut prog, &mut ct, &mode, &p, 0)), [2]);
    assert_eq!(cache.stats().hits, 1);

    prog.add_flow_text("table=Classifier, priority=200,ip,nw_dst=10.0.0.1 actions=output:3")
        .unwrap();
    assert_eq!(out(cache.run(&mut prog, &mut ct, &mode, &p, 0)), [3]);
    assert_eq!(cache.stats().invalidations, 1);
    assert_eq!(cache.stats().misses, 2);
    assert_eq!(out(cache.run(&mut prog, &mut ct, &mode, &p, 0)), [3]);

    let m = prog
        .flows()
        .find(|(f, _, _)| f.priority == 200)
        .map(|(f, _, _)| f.matches.clone())
        .unwrap();
    assert!(prog.delete_flow_strict(0, 200, &m));
    assert_eq!(out(cache.run(&mut prog, &mut ct, &mode, &p, 0)), [2]);
    assert_eq!(cache.stats().invalidations, 2);
    // Counters: the priority-100 flow saw 3 packets, two of them from the cache.
    let counts: Vec<u64> = prog.flows().map(|(_, n, _)| n).collect();
    assert_eq!(counts, [3, 0]);
}

#[test]
fn a_clone_changed_apart_does_not_reuse_the_other_clones_entries() {
    let base = small("table=Classifier, priority=100,ip actions=output:2\n");
    let (mut a, mut b) = (base.clone(), base.clone());
    a.add_flow_text("table=Classifier, priority=200,ip actions=output:3")
        .unwrap();
    b.add_flow_text("table=Classifier, priority=200,ip actions=output:4")
        .unwrap();
    assert_eq!(a.generation(), b.generation());
    let mut ct = Conntrack::new();
    let mut cache = FlowCache::new();
    let p = pkt("in_port=1,ip,nw_src=10.0.0.9,nw_dst=10.0.0.1");
    let pa = cache
        .run(&mut a, &mut ct, &CtMode::Tracked, &p, 0)
        .verdict
        .outputs[0]
        .port;
    let pb = cache
        .run(&mut b, &mut ct, &CtMode::Tracked, &p, 0)
        .verdict
        .outputs[0]
        .port;
    assert_eq!((pa, pb), (3, 4));
}

#[test]
fn a_hit_reports_its_own_headers_and_values_read_by_actions() {
    // Nothing is matched but the output port comes from pkt_mark and the
    // headers from the packet: a hit must not reuse another packet's.
    let mut prog = small(
        "table=Classifier, priority=0 actions=move:NXM_NX_PKT_MARK[0..15]->NXM_NX_REG1[0..15],output:NXM_NX_REG1[0..15]\n",
    );
    let mut plain = prog.clone();
    let mut ct = Conntrack::new();
    let mut cache = FlowCache::new();
    let flows = [
        "in_port=1,pkt_mark=5,tcp,nw_src=10.0.0.9,nw_dst=10.0.0.1,tp_src=1000,tp_dst=80",
        "in_port=1,pkt_mark=5,tcp,nw_src=10.0.0.9,nw_dst=10.0.0.1,tp_src=1000,tp_dst=80",
        "in_port=1,pkt_mark=6,tcp,nw_src=10.0.0.9,nw_dst=10.0.0.1,tp_src=1000,tp_dst=80",
        "in_port=1,pkt_mark=6,tcp,nw_src=10.0.0.8,nw_dst=10.0.0.1,tp_src=1000,tp_dst=80",
        "in_port=1,pkt_mark=6,tcp,nw_src=10.0.0.8,nw_dst=10.0.0.1,tp_src=1000,tp_dst=80,tun_id=9",
    ];
    for f in flows {
        let p = pkt(f);
        let mut want = plain.run(&mut ct, &CtMode::Tracked, &p, 0, false);
        want.emitted.clear();
        assert_eq!(
            &want,
            cache.run(&mut prog, &mut ct, &CtMode::Tracked, &p, 0),
            "{f}"
        );
    }
    // Repeats and the tun_id change (not read) hit; new marks and sources miss.
    assert_eq!((cache.stats().hits, cache.stats().misses), (2, 3));
}

#[test]
fn learn_walks_are_not_cached() {
    let mut prog = small(
        "table=Classifier, priority=0 actions=learn(table=Forward,priority=100,hard_timeout=300,NXM_OF_IP_SRC[],load:0x1->NXM_NX_REG0[0]),output:2\n",
    );
    let mut ct = Conntrack::new();
    let mut cache = FlowCache::new();
    let p = pkt("in_port=1,ip,nw_src=10.0.0.9,nw_dst=10.0.0.1");
    for _ in 0..3 {
        cache.run(&mut prog, &mut ct, &CtMode::Tracked, &p, 0);
    }
    let s = cache.stats();
    assert_eq!((s.hits, s.misses, s.uncacheable), (0, 3, 3));
    assert_eq!(prog.flow_count(), 2);
}
