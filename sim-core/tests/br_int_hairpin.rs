//! A Pod that reaches itself through its own Service (the hairpin case):
//! Antrea's program DNATs it to the Pod in zone 65520, SNATs it to the
//! gateway IP in zone 65521 and sends it back out of the port it came in by;
//! the Pod's reply must be un-SNATed and un-DNATed on the way back, so the
//! Pod sees the Service answer. Walked with the interpreter's own conntrack
//! on the program compiled for the topology-aware-hints scenario.

mod support;

use sim_core::engine::pipeline::{inspect, node_pipeline};
use sim_core::openflow::{Conntrack, CtMode, Packet};
use sim_core::scenario::{self, run::RunOptions};

#[test]
fn a_hairpin_connection_is_undone_on_the_reply() {
    let scn = support::scenarios::shipped("topology-aware-hints.yaml");
    let o = scenario::run::run(
        &scn,
        1,
        &RunOptions {
            capture: false,
            stop_at: Some(
                sim_core::time::SimTime::ZERO + sim_core::time::SimDuration::from_secs(5),
            ),
        },
    )
    .unwrap();
    let cluster = &o.cluster;
    let node = "k8s-node-vm-1-cl-02";
    let mut program = inspect::program(&node_pipeline(cluster, node).unwrap()).unwrap();
    let flow = inspect::expand_flow(
        cluster,
        node,
        "pod:web/web-a,tcp,nw_dst=10.30.30.11,tp_src=40000,tp_dst=80",
    )
    .unwrap();
    let request = Packet::parse_trace_flow(&flow).unwrap();
    let mut ct = Conntrack::new();
    // Which bucket is web-a's depends on the hash: try source ports until the
    // group picks the Pod itself (its reply then hairpins).
    let me: std::net::Ipv4Addr = "10.30.67.2".parse().unwrap();
    let mut hairpin = None;
    for sport in 40000..40200u16 {
        let mut p = request.clone();
        p.set(sim_core::openflow::Field::TpSrc, u128::from(sport));
        let w = program.run(&mut ct, &CtMode::Tracked, &p, 1_000, true);
        let out = &w.verdict.outputs;
        if out.len() == 1 && out[0].headers.nw_dst == Some(me) {
            hairpin = Some((sport, w));
            break;
        }
    }
    let (sport, w) = hairpin.expect("some source port picks web-a itself");
    let out = &w.verdict.outputs[0];
    // Out of the port it came in by, from the gateway IP.
    assert_eq!(out.port, request.in_port(), "{}", w.render());
    let gw: std::net::Ipv4Addr = "10.30.67.1".parse().unwrap();
    assert_eq!(out.headers.nw_src, Some(gw), "{}", w.render());
    // The reply: web-a answers the gateway IP.
    let reply = Packet::parse_trace_flow(&format!(
        "in_port={},tcp,dl_src={},dl_dst={},nw_src={me},nw_dst={gw},nw_ttl=64,tp_src=80,tp_dst={}",
        request.in_port(),
        sim_core::engine::pipeline::pod_mac("web", "web-a"),
        sim_core::engine::pipeline::gateway_mac(node),
        out.headers.tp_src.unwrap(),
    ))
    .unwrap();
    let back = program.run(&mut ct, &CtMode::Tracked, &reply, 2_000, true);
    let o = &back.verdict.outputs;
    assert_eq!(o.len(), 1, "{}", back.render());
    assert_eq!(o[0].port, request.in_port(), "{}", back.render());
    let vip: std::net::Ipv4Addr = "10.30.30.11".parse().unwrap();
    assert_eq!(o[0].headers.nw_src, Some(vip), "{}", back.render());
    assert_eq!(o[0].headers.nw_dst, Some(me), "{}", back.render());
    assert_eq!(o[0].headers.tp_dst, Some(sport), "{}", back.render());
}
