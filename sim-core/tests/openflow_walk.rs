//! The OpenFlow interpreter on a small Antrea-shaped pipeline (Classifier,
//! SpoofGuard, ConntrackZone/State, PreRoutingClassifier, SessionAffinity,
//! ServiceLB with a select group, EndpointDNAT, L3Forwarding, L3DecTTL,
//! L2ForwardingCalc, ConntrackCommit, Output): verdicts, conntrack NAT, learn,
//! conjunction, limits, and a golden trace; plus proptest invariants.

use proptest::prelude::*;
use sim_core::openflow::{Conntrack, CtMode, CtState, Packet, Program, Style, TableMap, Verdict};
use std::net::Ipv4Addr;

const TABLES: &[(u8, &str)] = &[
    (0, "Classifier"),
    (1, "SpoofGuard"),
    (2, "ConntrackZone"),
    (3, "ConntrackState"),
    (4, "PreRoutingClassifier"),
    (5, "SessionAffinity"),
    (6, "ServiceLB"),
    (7, "EndpointDNAT"),
    (8, "L3Forwarding"),
    (9, "L3DecTTL"),
    (10, "L2ForwardingCalc"),
    (11, "ConntrackCommit"),
    (12, "Output"),
];

const PIPELINE: &str = "\
cookie=0x1010000000000, table=Classifier, priority=200,in_port=3 actions=set_field:0x3/0xf->reg0,goto_table:SpoofGuard
cookie=0x1010000000000, table=Classifier, priority=200,in_port=4 actions=set_field:0x3/0xf->reg0,goto_table:SpoofGuard
cookie=0x1010000000000, table=Classifier, priority=200,in_port=5 actions=set_field:0x3/0xf->reg0,goto_table:SpoofGuard
cookie=0x1010000000000, table=Classifier, priority=200,in_port=1 actions=set_field:0x1/0xf->reg0,goto_table:ConntrackZone
cookie=0x1010000000000, table=SpoofGuard, priority=200,ip,in_port=3,dl_src=0a:00:00:00:00:03,nw_src=10.10.0.3 actions=goto_table:ConntrackZone
cookie=0x1010000000000, table=SpoofGuard, priority=200,ip,in_port=4,dl_src=0a:00:00:00:00:04,nw_src=10.10.0.4 actions=goto_table:ConntrackZone
cookie=0x1010000000000, table=SpoofGuard, priority=200,ip,in_port=5,dl_src=0a:00:00:00:00:05,nw_src=10.10.0.5 actions=goto_table:ConntrackZone
cookie=0x1010000000000, table=ConntrackZone, priority=200,ip actions=ct(table=ConntrackState,zone=65520,nat)
cookie=0x1010000000000, table=ConntrackState, priority=200,ct_state=+inv+trk,ip actions=drop
cookie=0x1030000000000, table=ConntrackState, priority=190,ct_state=-new+trk,ct_mark=0x10/0x10,ip actions=set_field:0x200/0x200->reg0,goto_table:L3Forwarding
cookie=0x1010000000000, table=ConntrackState, priority=190,ct_state=-new+trk,ip actions=goto_table:L3Forwarding
cookie=0x1010000000000, table=ConntrackState, priority=0 actions=goto_table:PreRoutingClassifier
cookie=0x1030000000000, table=PreRoutingClassifier, priority=200,ip actions=resubmit:SessionAffinity,resubmit:ServiceLB
cookie=0x1030000000000, table=SessionAffinity, priority=0 actions=set_field:0x10000/0x70000->reg4
cookie=0x1030000000000, table=ServiceLB, priority=200,tcp,reg4=0x10000/0x70000,nw_dst=10.96.0.10,tp_dst=80 actions=set_field:0x200/0x200->reg0,set_field:0x20000/0x70000->reg4,set_field:0x64->reg7,group:100
cookie=0x1030000000000, table=ServiceLB, priority=0 actions=goto_table:EndpointDNAT
cookie=0x1030000000000, table=EndpointDNAT, priority=200,tcp,reg3=0xa0a0004,reg4=0x21f90/0x7ffff actions=ct(commit,table=L3Forwarding,zone=65520,nat(dst=10.10.0.4:8080),exec(set_field:0x10/0x10->ct_mark,move:NXM_NX_REG0[0..3]->NXM_NX_CT_MARK[0..3]))
cookie=0x1030000000000, table=EndpointDNAT, priority=200,tcp,reg3=0xa0a0005,reg4=0x21f90/0x7ffff actions=ct(commit,table=L3Forwarding,zone=65520,nat(dst=10.10.0.5:8080),exec(set_field:0x10/0x10->ct_mark,move:NXM_NX_REG0[0..3]->NXM_NX_CT_MARK[0..3]))
cookie=0x1030000000000, table=EndpointDNAT, priority=190,reg4=0x20000/0x70000 actions=set_field:0x10000/0x70000->reg4,resubmit:ServiceLB
cookie=0x1030000000000, table=EndpointDNAT, priority=0 actions=goto_table:L3Forwarding
cookie=0x1010000000000, table=L3Forwarding, priority=200,ip,nw_dst=10.10.0.3 actions=set_field:0a:00:00:00:00:01->eth_src,set_field:0a:00:00:00:00:03->eth_dst,goto_table:L3DecTTL
cookie=0x1010000000000, table=L3Forwarding, priority=200,ip,nw_dst=10.10.0.4 actions=set_field:0a:00:00:00:00:01->eth_src,set_field:0a:00:00:00:00:04->eth_dst,goto_table:L3DecTTL
cookie=0x1010000000000, table=L3Forwarding, priority=200,ip,nw_dst=10.10.0.5 actions=set_field:0a:00:00:00:00:01->eth_src,set_field:0a:00:00:00:00:05->eth_dst,goto_table:L3DecTTL
cookie=0x1010000000000, table=L3Forwarding, priority=200,ip,nw_dst=10.10.1.0/24 actions=set_field:0a:00:00:00:00:01->eth_src,set_field:aa:bb:cc:dd:ee:ff->eth_dst,set_field:192.168.77.101->tun_dst,goto_table:L3DecTTL
cookie=0x1010000000000, table=L3DecTTL, priority=200,ip actions=dec_ttl,goto_table:L2ForwardingCalc
cookie=0x1010000000000, table=L2ForwardingCalc, priority=200,dl_dst=0a:00:00:00:00:03 actions=set_field:0x3->reg1,set_field:0x200000/0x600000->reg0,goto_table:ConntrackCommit
cookie=0x1010000000000, table=L2ForwardingCalc, priority=200,dl_dst=0a:00:00:00:00:04 actions=set_field:0x4->reg1,set_field:0x200000/0x600000->reg0,goto_table:ConntrackCommit
cookie=0x1010000000000, table=L2ForwardingCalc, priority=200,dl_dst=0a:00:00:00:00:05 actions=set_field:0x5->reg1,set_field:0x200000/0x600000->reg0,goto_table:ConntrackCommit
cookie=0x1010000000000, table=L2ForwardingCalc, priority=200,dl_dst=aa:bb:cc:dd:ee:ff actions=set_field:0x1->reg1,set_field:0x200000/0x600000->reg0,goto_table:ConntrackCommit
cookie=0x1010000000000, table=ConntrackCommit, priority=200,ct_state=+new+trk-snat,ct_mark=0x0/0x10,ip actions=ct(commit,table=Output,zone=65520,exec(move:NXM_NX_REG0[0..3]->NXM_NX_CT_MARK[0..3]))
cookie=0x1010000000000, table=ConntrackCommit, priority=0 actions=goto_table:Output
cookie=0x1010000000000, table=Output, priority=200,reg0=0x200000/0x600000 actions=output:NXM_NX_REG1[]
group_id=100,type=select,bucket=bucket_id:0,weight:100,actions=set_field:0xa0a0004->reg3,set_field:0x1f90/0xffff->reg4,resubmit:EndpointDNAT,bucket=bucket_id:1,weight:100,actions=set_field:0xa0a0005->reg3,set_field:0x1f90/0xffff->reg4,resubmit:EndpointDNAT
";

fn program() -> Program {
    Program::from_text(TableMap::new(TABLES), PIPELINE).unwrap()
}

fn pkt(s: &str) -> Packet {
    Packet::parse_trace_flow(s).unwrap()
}

fn request(sport: u16) -> Packet {
    pkt(&format!(
        "in_port=3,tcp,dl_src=0a:00:00:00:00:03,dl_dst=0a:00:00:00:00:01,nw_src=10.10.0.3,nw_dst=10.96.0.10,nw_ttl=64,tp_src={sport},tp_dst=80"
    ))
}

#[test]
fn service_request_is_dnated_and_the_reply_is_un_nated() {
    let mut p = program();
    let mut ct = Conntrack::new();
    let w = p.run(&mut ct, &CtMode::Tracked, &request(40000), 0, false);
    assert_eq!(w.verdict.outputs.len(), 1, "{:?}", w.verdict);
    let out = &w.verdict.outputs[0];
    let ep_port = out.port;
    assert!(ep_port == 4 || ep_port == 5);
    let ep_ip = Ipv4Addr::new(10, 10, 0, ep_port as u8);
    assert_eq!(out.headers.nw_dst, Some(ep_ip));
    assert_eq!(out.headers.tp_dst, Some(8080));
    assert_eq!(out.headers.nw_ttl, Some(63));
    assert_eq!(out.headers.eth_dst, [0x0a, 0, 0, 0, 0, ep_port as u8]);
    assert_eq!(w.verdict.cts.len(), 2);
    assert_eq!(
        w.verdict.cts[1].nat.as_deref(),
        Some(format!("dst={ep_ip}:8080").as_str())
    );
    assert!(w.verdict.cts[1].commit);
    assert_eq!(w.verdict.cts[1].table, Some(8));

    let reply = pkt(&format!(
        "in_port={ep_port},tcp,dl_src=0a:00:00:00:00:0{ep_port},dl_dst=0a:00:00:00:00:01,nw_src={ep_ip},nw_dst=10.10.0.3,nw_ttl=64,tp_src=8080,tp_dst=40000"
    ));
    let w = p.run(&mut ct, &CtMode::Tracked, &reply, 1, false);
    assert_eq!(w.verdict.outputs.len(), 1, "{:?}", w.verdict);
    let h = &w.verdict.outputs[0].headers;
    assert_eq!(w.verdict.outputs[0].port, 3);
    assert_eq!(
        (h.nw_src, h.tp_src),
        (Some(Ipv4Addr::new(10, 96, 0, 10)), Some(80))
    );
    assert_eq!(
        (h.nw_dst, h.tp_dst),
        (Some(Ipv4Addr::new(10, 10, 0, 3)), Some(40000))
    );
    // Counters moved: the ServiceLB flow and group saw one packet each.
    assert_eq!(p.group_counters(100), Some((1, 64)));
    assert!(
        p.dump_flows(Style::Names)
            .contains("table=ServiceLB, n_packets=1, n_bytes=64, priority=200,tcp")
    );
}

#[test]
fn select_group_spreads_connections_deterministically() {
    let mut seen = [0u32; 6];
    for sport in 30000..30200u16 {
        let mut p = program();
        let mut ct = Conntrack::new();
        let a = p.run(&mut ct, &CtMode::Tracked, &request(sport), 0, false);
        let mut p2 = program();
        let mut ct2 = Conntrack::new();
        let b = p2.run(&mut ct2, &CtMode::Tracked, &request(sport), 0, false);
        assert_eq!(a, b);
        seen[a.verdict.outputs[0].port as usize] += 1;
    }
    assert!(seen[4] > 60 && seen[5] > 60, "{seen:?}");
}

#[test]
fn remote_pod_goes_to_the_tunnel_with_tun_dst() {
    let mut p = program();
    let mut ct = Conntrack::new();
    let w = p.run(
        &mut ct,
        &CtMode::Tracked,
        &pkt("in_port=3,tcp,dl_src=0a:00:00:00:00:03,dl_dst=0a:00:00:00:00:01,nw_src=10.10.0.3,nw_dst=10.10.1.7,nw_ttl=64,tp_src=1234,tp_dst=22"),
        0,
        false,
    );
    assert_eq!(w.verdict.outputs.len(), 1);
    assert_eq!(w.verdict.outputs[0].port, 1);
    assert_eq!(
        w.verdict.outputs[0].tun_dst,
        Some(Ipv4Addr::new(192, 168, 77, 101))
    );
}

#[test]
fn spoofed_source_and_unknown_port_miss_and_drop() {
    let mut p = program();
    let mut ct = Conntrack::new();
    for s in [
        "in_port=3,tcp,dl_src=0a:00:00:00:00:03,dl_dst=0a:00:00:00:00:01,nw_src=10.10.0.99,nw_dst=10.10.0.4,tp_src=1,tp_dst=2",
        "in_port=77,tcp,nw_src=10.10.0.3,nw_dst=10.10.0.4,tp_src=1,tp_dst=2",
        "in_port=3,arp,arp_op=1",
    ] {
        let w = p.run(&mut ct, &CtMode::Tracked, &pkt(s), 0, false);
        assert!(w.verdict.is_drop(), "{s}: {:?}", w.verdict);
    }
}

#[test]
fn ttl_one_goes_to_the_controller_and_stops() {
    let mut p = program();
    let mut ct = Conntrack::new();
    let w = p.run(
        &mut ct,
        &CtMode::Tracked,
        &pkt("in_port=3,tcp,dl_src=0a:00:00:00:00:03,dl_dst=0a:00:00:00:00:01,nw_src=10.10.0.3,nw_dst=10.10.0.4,nw_ttl=1,tp_src=1,tp_dst=2"),
        0,
        false,
    );
    assert!(w.verdict.controller);
    assert!(w.verdict.outputs.is_empty());
}

#[test]
fn scripted_mode_uses_the_script_and_applies_explicit_nat_without_state() {
    let mut p = program();
    let mut ct = Conntrack::new();
    let mode = CtMode::Scripted(vec![
        CtState::parse("trk,new").unwrap(),
        CtState::parse("trk,new").unwrap(),
    ]);
    let w = p.run(&mut ct, &mode, &request(40000), 0, true);
    // A scripted walk keeps no conntrack entries ...
    assert!(ct.is_empty());
    assert_eq!(w.verdict.cts.len(), 2);
    let nat = w.verdict.cts[1].nat.clone().unwrap_or_default();
    assert!(nat.starts_with("dst=10.10.0."), "{nat}");
    // ... but, as ofproto/trace does on recirculation, an explicit nat(dst=) range is
    // applied to the packet: the walk continues to the chosen Endpoint's port.
    let endpoint_port = if nat.starts_with("dst=10.10.0.4") {
        4
    } else {
        5
    };
    assert!(!w.verdict.is_drop(), "{}", w.render());
    assert_eq!(w.verdict.outputs.len(), 1, "{}", w.render());
    assert_eq!(w.verdict.outputs[0].port, endpoint_port, "{}", w.render());

    // exec()'d ct_mark is visible after the recirculation, with the scripted state.
    let names = TableMap::new(&[(0, "A"), (1, "B")]);
    let mut p = Program::from_text(
        names,
        "table=A, priority=0,ip actions=ct(commit,table=B,zone=7,exec(set_field:0x7/0xf->ct_mark))\n\
         table=B, priority=10,ct_state=+est+trk,ct_mark=0x7/0xf,ip actions=output:2\n",
    )
    .unwrap();
    let est = CtMode::Scripted(vec![CtState::parse("trk,est").unwrap()]);
    let w = p.run(&mut ct, &est, &pkt("in_port=3,ip"), 0, false);
    assert_eq!(w.verdict.outputs.len(), 1);
    assert_eq!(w.verdict.cts[0].zone, 7);
    // The list ran out: the next ct() is trk,new and B's est flow does not match.
    let w = p.run(
        &mut ct,
        &CtMode::Scripted(vec![]),
        &pkt("in_port=3,ip"),
        0,
        false,
    );
    assert!(w.verdict.is_drop());
}

#[test]
fn learn_installs_a_flow_that_expires() {
    let names = TableMap::new(&[(0, "ServiceLB"), (1, "SessionAffinity")]);
    let mut p = Program::from_text(
        names,
        "cookie=0x1030000000064, table=ServiceLB, priority=190,tcp,nw_dst=10.96.0.100,tp_dst=80 actions=learn(table=SessionAffinity,hard_timeout=100,priority=200,delete_learned,cookie=0x1030000000064,eth_type=0x800,nw_proto=0x6,OXM_OF_TCP_DST[],NXM_OF_IP_DST[],NXM_OF_IP_SRC[],load:NXM_NX_REG4[0..15]->NXM_NX_REG4[0..15],load:NXM_NX_REG3[]->NXM_NX_REG3[],load:0x2->NXM_NX_REG4[16..18],load:0x1->NXM_NX_REG0[9]),output:7",
    )
    .unwrap();
    let mut ct = Conntrack::new();
    let mut packet = pkt(
        "in_port=3,tcp,nw_src=10.10.0.3,nw_dst=10.96.0.100,tp_src=5555,tp_dst=80,reg3=0xa0a0004,reg4=0x50",
    );
    packet.set_in_port(3);
    let g = p.generation();
    p.run(&mut ct, &CtMode::Tracked, &packet, 1_000, false);
    assert!(p.generation() > g);
    let dump = p.dump_flows(Style::Names);
    assert!(
        dump.contains("cookie=0x1030000000064, table=SessionAffinity, n_packets=0, n_bytes=0, hard_timeout=100, priority=200,dl_type=0x0800,nw_proto=6,tp_dst=80,nw_dst=10.96.0.100,nw_src=10.10.0.3 actions=load:0x50->NXM_NX_REG4[0..15],load:0xa0a0004->NXM_NX_REG3[],load:0x2->NXM_NX_REG4[16..18],load:0x1->NXM_NX_REG0[9]"),
        "{dump}"
    );
    assert_eq!(p.flow_count(), 2);
    assert_eq!(p.expire(100 * 1_000_000_000), 0);
    assert_eq!(p.expire(100 * 1_000_000_000 + 1_000), 1);
    assert_eq!(p.flow_count(), 1);
}

#[test]
fn conjunction_needs_every_clause() {
    let names = TableMap::new(&[(0, "IngressRule")]);
    let mut p = Program::from_text(
        names,
        "table=IngressRule, priority=200,ip,nw_src=10.10.0.3 actions=conjunction(15,1/2)\n\
         table=IngressRule, priority=200,reg1=0x4 actions=conjunction(15,2/2)\n\
         table=IngressRule, priority=190,conj_id=15,ip actions=output:9\n\
         table=IngressRule, priority=0 actions=drop\n",
    )
    .unwrap();
    let mut ct = Conntrack::new();
    let yes = pkt("in_port=3,ip,nw_src=10.10.0.3,nw_dst=10.10.0.4,reg1=0x4");
    let no = pkt("in_port=3,ip,nw_src=10.10.0.3,nw_dst=10.10.0.4,reg1=0x5");
    assert_eq!(
        p.run(&mut ct, &CtMode::Tracked, &yes, 0, false)
            .verdict
            .outputs[0]
            .port,
        9
    );
    assert!(
        p.run(&mut ct, &CtMode::Tracked, &no, 0, false)
            .verdict
            .is_drop()
    );
}

#[test]
fn resubmit_loops_hit_the_depth_limit_and_drop() {
    let names = TableMap::new(&[(0, "A")]);
    let mut p =
        Program::from_text(names, "table=A, priority=0 actions=output:2,resubmit(,0)\n").unwrap();
    let mut ct = Conntrack::new();
    let w = p.run(&mut ct, &CtMode::Tracked, &pkt("in_port=3,ip"), 0, true);
    assert!(w.verdict.is_drop());
    assert!(w.render().contains("over max translation depth 64"));
}

#[test]
fn output_to_in_port_is_skipped_but_in_port_action_is_not() {
    let names = TableMap::new(&[(0, "A")]);
    let mut p =
        Program::from_text(names, "table=A, priority=0 actions=output:3,IN_PORT\n").unwrap();
    let mut ct = Conntrack::new();
    let w = p.run(&mut ct, &CtMode::Tracked, &pkt("in_port=3,ip"), 0, false);
    assert_eq!(w.verdict.outputs.len(), 1);
    assert_eq!(w.verdict.outputs[0].port, 3);
}

#[test]
fn golden_trace_of_a_service_request() {
    let mut p = program();
    let mut ct = Conntrack::new();
    let w = p.run(&mut ct, &CtMode::Tracked, &request(40000), 0, true);
    insta::assert_snapshot!(w.render());
}

fn arb_packet() -> impl Strategy<Value = Packet> {
    (
        prop_oneof![Just(1u32), Just(3), Just(4), Just(5), any::<u32>()],
        prop_oneof![Just("tcp"), Just("udp"), Just("icmp"), Just("arp"), Just("ip"), Just("ipv6")],
        prop_oneof![Just([10u8, 10, 0, 3]), Just([10, 96, 0, 10]), Just([10, 10, 1, 9]), any::<[u8; 4]>()],
        prop_oneof![Just([10u8, 10, 0, 4]), Just([10, 96, 0, 10]), Just([10, 10, 1, 9]), any::<[u8; 4]>()],
        any::<u8>(),
        prop_oneof![Just(80u16), Just(8080), any::<u16>()],
        any::<u16>(),
        any::<[u32; 4]>(),
        any::<u8>(),
        any::<u32>(),
    )
        .prop_map(|(port, proto, src, dst, ttl, dport, sport, regs, cts, mark)| {
            let s = format!(
                "in_port={port},{proto},dl_src=0a:00:00:00:00:0{},dl_dst=0a:00:00:00:00:01,nw_src={},nw_dst={},nw_ttl={ttl},tp_src={sport},tp_dst={dport},reg0={:#x},reg1={:#x},reg3={:#x},reg4={:#x},ct_state={:#x},ct_mark={mark:#x}",
                port % 10,
                Ipv4Addr::from(src),
                Ipv4Addr::from(dst),
                regs[0],
                regs[1],
                regs[2],
                regs[3],
                cts
            );
            // Fields that a protocol does not have are ignored by the packet parser's users.
            Packet::parse_trace_flow(&s).unwrap_or_default()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn interpreter_never_panics_and_is_deterministic(p in arb_packet(), scripted in any::<bool>()) {
        let mode = if scripted { CtMode::Scripted(vec![CtState::parse("trk,est").unwrap()]) } else { CtMode::Tracked };
        let mut prog = program();
        let mut ct = Conntrack::new();
        let a = prog.run(&mut ct, &mode, &p, 0, true);
        let mut prog2 = program();
        let mut ct2 = Conntrack::new();
        let b = prog2.run(&mut ct2, &mode, &p, 0, true);
        prop_assert_eq!(&a, &b);
        // Tracing does not change the outcome.
        let mut prog3 = program();
        let mut ct3 = Conntrack::new();
        let c = prog3.run(&mut ct3, &mode, &p, 0, false);
        prop_assert_eq!(a.verdict, c.verdict);
    }

    #[test]
    fn a_table_miss_drops(dsts in proptest::collection::vec(any::<[u8; 4]>(), 1..20), p in arb_packet()) {
        let names = TableMap::new(&[(0, "Classifier")]);
        let text: String = dsts.iter().enumerate()
            .map(|(i, d)| format!("table=Classifier, priority={},ip,nw_dst={} actions=output:{}\n", 100 + i, Ipv4Addr::from(*d), i + 1))
            .collect();
        let mut prog = Program::from_text(names, &text).unwrap();
        let mut ct = Conntrack::new();
        let dst = p.get(sim_core::openflow::Field::NwDst) as u32;
        let listed = p.is_ipv4() && dsts.iter().any(|d| u32::from(Ipv4Addr::from(*d)) == dst);
        let w = prog.run(&mut ct, &CtMode::Tracked, &p, 0, false);
        prop_assert_eq!(w.verdict.is_drop(), !listed || w.verdict.outputs.iter().all(|o| o.port == p.in_port()));
    }

    #[test]
    fn conntrack_nat_is_undone_on_replies(client in 2u8..250, sport in 1024u16..65535) {
        let mut prog = program();
        let mut ct = Conntrack::new();
        let req = pkt(&format!(
            "in_port=3,tcp,dl_src=0a:00:00:00:00:03,dl_dst=0a:00:00:00:00:01,nw_src=10.10.0.3,nw_dst=10.96.0.10,nw_ttl=64,tp_src={sport},tp_dst=80"
        ));
        let _ = client;
        let w = prog.run(&mut ct, &CtMode::Tracked, &req, 0, false);
        prop_assert_eq!(w.verdict.outputs.len(), 1);
        let ep = w.verdict.outputs[0].headers.nw_dst.unwrap();
        let port = w.verdict.outputs[0].port;
        let reply = pkt(&format!(
            "in_port={port},tcp,dl_src=0a:00:00:00:00:0{port},dl_dst=0a:00:00:00:00:01,nw_src={ep},nw_dst=10.10.0.3,nw_ttl=64,tp_src=8080,tp_dst={sport}"
        ));
        let w = prog.run(&mut ct, &CtMode::Tracked, &reply, 1, false);
        prop_assert_eq!(w.verdict.outputs.len(), 1);
        let h = &w.verdict.outputs[0].headers;
        prop_assert_eq!(h.nw_src, Some(Ipv4Addr::new(10, 96, 0, 10)));
        prop_assert_eq!(h.tp_src, Some(80));
        prop_assert_eq!(h.tp_dst, Some(sport));
    }
}

proptest! {
    /// Conntrack's accounting: however requests and replies of a few
    /// Service connections interleave, each connection in `CtZone` counts
    /// every request and every reply exactly once, although each request
    /// meets ct() in that zone twice (ConntrackZone, then ConntrackCommit).
    #[test]
    fn conntrack_counts_each_packet_once_per_zone(
        sends in proptest::collection::vec((0u16..4, any::<bool>()), 1..40)
    ) {
        let mut prog = program();
        let mut ct = Conntrack::new();
        let mut endpoint: std::collections::BTreeMap<u16, (Ipv4Addr, u32)> = Default::default();
        let mut want: std::collections::BTreeMap<u16, (u64, u64)> = Default::default();
        for (i, (c, reply)) in sends.iter().enumerate() {
            let sport = 40000 + c;
            let now = i as u64 * 1_000_000;
            match endpoint.get(&sport) {
                Some(&(ep, port)) if *reply => {
                    let r = pkt(&format!(
                        "in_port={port},tcp,dl_src=0a:00:00:00:00:0{port},dl_dst=0a:00:00:00:00:01,nw_src={ep},nw_dst=10.10.0.3,nw_ttl=64,tp_src=8080,tp_dst={sport}"
                    ));
                    prog.run(&mut ct, &CtMode::Tracked, &r, now, false);
                    want.entry(sport).or_default().1 += 1;
                }
                _ => {
                    let w = prog.run(&mut ct, &CtMode::Tracked, &request(sport), now, false);
                    let out = &w.verdict.outputs[0];
                    endpoint.insert(sport, (out.headers.nw_dst.unwrap(), out.port));
                    want.entry(sport).or_default().0 += 1;
                }
            }
        }
        let rows = ct.rows(65520, 0);
        prop_assert_eq!(rows.len(), want.len());
        for r in rows {
            let (req, rep) = want[&r.sport];
            prop_assert_eq!((r.packets, r.reverse_packets), (req, rep), "connection {}", r.sport);
            prop_assert_eq!(r.dnat.map(|d| d.0), Some(endpoint[&r.sport].0));
        }
    }
}

#[test]
fn verdict_default_is_a_drop() {
    assert!(Verdict::default().is_drop());
}
