//! Packets per second through one node's br-int program with 1,000 Services of
//! 10 Endpoints each (1,000 select groups of 10 buckets, their ServiceLB flows
//! and 10,000 EndpointDNAT flows), no flow cache: each packet is a new
//! connection (Tracked conntrack, DNAT committed), walked from table 0.
//! Then 1,000 connections sending 10 packets each with ct() scripted
//! (`trk,new`, as `ofproto/trace` without `--ct-next`), without and with the
//! flow cache (`openflow::FlowCache`, fresh each batch: 1,000 misses, 9,000
//! hits).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sim_core::openflow::{Conntrack, CtMode, FlowCache, Packet, Program, TableMap};
use std::fmt::Write as _;
use std::hint::black_box;

const TABLES: &[(u8, &str)] = &[
    (0, "Classifier"),
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

const BASE: &str = "\
table=Classifier, priority=200,in_port=3 actions=set_field:0x3/0xf->reg0,goto_table:ConntrackZone
table=ConntrackZone, priority=200,ip actions=ct(table=ConntrackState,zone=65520,nat)
table=ConntrackState, priority=200,ct_state=+inv+trk,ip actions=drop
table=ConntrackState, priority=190,ct_state=-new+trk,ip actions=goto_table:L3Forwarding
table=ConntrackState, priority=0 actions=goto_table:PreRoutingClassifier
table=PreRoutingClassifier, priority=200,ip actions=resubmit:SessionAffinity,resubmit:ServiceLB
table=SessionAffinity, priority=0 actions=set_field:0x10000/0x70000->reg4
table=ServiceLB, priority=0 actions=goto_table:EndpointDNAT
table=EndpointDNAT, priority=0 actions=goto_table:L3Forwarding
table=L3Forwarding, priority=200,ip,nw_dst=10.10.0.0/16 actions=set_field:0a:00:00:00:00:01->eth_src,set_field:aa:bb:cc:dd:ee:ff->eth_dst,set_field:192.168.77.101->tun_dst,goto_table:L3DecTTL
table=L3DecTTL, priority=200,ip actions=dec_ttl,goto_table:L2ForwardingCalc
table=L2ForwardingCalc, priority=200,dl_dst=aa:bb:cc:dd:ee:ff actions=set_field:0x1->reg1,set_field:0x200000/0x600000->reg0,goto_table:ConntrackCommit
table=ConntrackCommit, priority=200,ct_state=+new+trk-snat,ct_mark=0x0/0x10,ip actions=ct(commit,table=Output,zone=65520,exec(move:NXM_NX_REG0[0..3]->NXM_NX_CT_MARK[0..3]))
table=ConntrackCommit, priority=0 actions=goto_table:Output
table=Output, priority=200,reg0=0x200000/0x600000 actions=output:NXM_NX_REG1[]
";

fn program(services: u32, endpoints: u32) -> Program {
    let mut text = String::from(BASE);
    for s in 0..services {
        let vip = format!("10.96.{}.{}", s / 250, s % 250 + 1);
        let _ = writeln!(
            text,
            "table=ServiceLB, priority=200,tcp,reg4=0x10000/0x70000,nw_dst={vip},tp_dst=80 actions=set_field:0x200/0x200->reg0,set_field:0x20000/0x70000->reg4,set_field:{:#x}->reg7,group:{}",
            s + 1,
            s + 1
        );
        let mut g = format!("group_id={},type=select", s + 1);
        for e in 0..endpoints {
            let n = s * endpoints + e;
            let ep = [10u32, 10, n / 250, n % 250 + 1];
            let ep_u32 = (ep[0] << 24) | (ep[1] << 16) | (ep[2] << 8) | ep[3];
            let _ = write!(
                g,
                ",bucket=bucket_id:{e},weight:100,actions=set_field:{ep_u32:#x}->reg3,set_field:0x1f90/0xffff->reg4,resubmit:EndpointDNAT"
            );
            let _ = writeln!(
                text,
                "table=EndpointDNAT, priority=200,tcp,reg3={ep_u32:#x},reg4=0x21f90/0x7ffff actions=ct(commit,table=L3Forwarding,zone=65520,nat(dst=10.10.{}.{}:8080),exec(set_field:0x10/0x10->ct_mark))",
                ep[2], ep[3]
            );
        }
        text.push_str(&g);
        text.push('\n');
    }
    Program::from_text(TableMap::new(TABLES), &text).unwrap()
}

fn packets(services: u32, n: u32) -> Vec<Packet> {
    (0..n)
        .map(|i| {
            let s = i % services;
            Packet::parse_trace_flow(&format!(
                "in_port=3,tcp,dl_src=0a:00:00:00:00:03,dl_dst=0a:00:00:00:00:01,nw_src=10.10.{}.{},nw_dst=10.96.{}.{},nw_ttl=64,tp_src={},tp_dst=80",
                200 + i % 50,
                i / 50 % 250 + 1,
                s / 250,
                s % 250 + 1,
                1024 + i / 12_500
            ))
            .unwrap()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let prog = program(1000, 10);
    let pkts = packets(1000, 10_000);
    let mut g = c.benchmark_group("openflow");
    g.throughput(Throughput::Elements(pkts.len() as u64));
    g.bench_function("1000_services_10_endpoints_new_connections_no_cache", |b| {
        b.iter_batched(
            || (prog.clone(), Conntrack::new()),
            |(mut p, mut ct)| {
                for pk in &pkts {
                    black_box(p.run(&mut ct, &CtMode::Tracked, pk, 0, false));
                }
            },
            criterion::BatchSize::LargeInput,
        )
    });
    let flows = packets(1000, 1000);
    let repeated: Vec<&Packet> = (0..10_000).map(|i| &flows[i % flows.len()]).collect();
    let scripted = CtMode::Scripted(Vec::new());
    g.bench_function(
        "1000_services_10_endpoints_10_packets_per_flow_no_cache",
        |b| {
            b.iter_batched(
                || (prog.clone(), Conntrack::new()),
                |(mut p, mut ct)| {
                    for pk in &repeated {
                        black_box(p.run(&mut ct, &scripted, pk, 0, false));
                    }
                },
                criterion::BatchSize::LargeInput,
            )
        },
    );
    g.bench_function(
        "1000_services_10_endpoints_10_packets_per_flow_cached",
        |b| {
            b.iter_batched(
                || (prog.clone(), Conntrack::new(), FlowCache::new()),
                |(mut p, mut ct, mut cache)| {
                    for pk in &repeated {
                        black_box(cache.run(&mut p, &mut ct, &scripted, pk, 0));
                    }
                },
                criterion::BatchSize::LargeInput,
            )
        },
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
