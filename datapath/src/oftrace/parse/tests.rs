//! The parser against real `ofproto/trace` output of Open vSwitch 3.1.0,
//! captured from a `TraceBridge` (files in `samples/`; the programs that
//! produced them are summarised above each test).

use super::*;

const SERVICE_TO_TUNNEL: &str = include_str!("samples/service_to_tunnel.txt");
const MANY_ACTIONS: &str = include_str!("samples/many_actions.txt");
const CONTROLLER: &str = include_str!("samples/controller.txt");
const TABLE_MISS: &str = include_str!("samples/table_miss.txt");
const ARP_NORMAL: &str = include_str!("samples/arp_normal.txt");
const POLICY_DROP_PACKET_IN: &str = include_str!("samples/policy_drop_packet_in.txt");
const DP_HASH_GROUP: &str = include_str!("samples/dp_hash_group.txt");

const TUNNEL: &[u32] = &[1];

fn mac(s: &str) -> [u8; 6] {
    parse_mac(s).expect("a MAC")
}

fn ip(s: &str) -> Option<Ipv4Addr> {
    Some(s.parse().expect("an IPv4 address"))
}

/// Pod 10.10.0.3 → Service 10.96.0.10:80; `ct(table=11,zone=65520,nat)`,
/// then group 10 picks bucket 1, `ct(commit,table=14,zone=65520,
/// nat(dst=10.10.1.6:8080))`, and L3Forwarding sends it to the tunnel with
/// `tun_dst` 192.168.77.101 after `dec_ttl`. The trace applied the NAT to
/// the third pass's flow ("Modified flow: ..,nw_dst=10.10.1.6,..,tp_dst=8080").
#[test]
fn a_service_packet_through_a_select_group_to_the_tunnel() {
    let t = parse_trace(SERVICE_TO_TUNNEL, TUNNEL).unwrap();
    assert_eq!(
        t.verdict,
        Verdict {
            outputs: vec![Emitted {
                port: 1,
                tun_dst: ip("192.168.77.101"),
                headers: Headers {
                    eth_src: mac("0a:58:0a:0a:00:01"),
                    eth_dst: mac("aa:bb:cc:dd:ee:ff"),
                    nw_src: ip("10.10.0.3"),
                    nw_dst: ip("10.10.1.6"),
                    nw_ttl: Some(63),
                    tp_src: Some(40000),
                    tp_dst: Some(8080),
                },
            }],
            controller: false,
            normal: false,
            cts: vec![
                CtCall {
                    zone: 65520,
                    commit: false,
                    nat: Some(String::new()),
                    table: Some(11),
                },
                CtCall {
                    zone: 65520,
                    commit: true,
                    nat: Some("dst=10.10.1.6:8080".into()),
                    table: Some(14),
                },
            ],
        }
    );
    assert_eq!(
        t.buckets,
        vec![BucketChoice {
            group: 10,
            bucket: 1
        }]
    );
    assert_eq!(t.tables, vec![0, 10, 11, 12, 14, 15, 16, 17]);
}

/// From the tunnel (in_port=1, tun_dst=1.1.1.1), `--ct-next trk,est
/// --ct-next trk,new`; table 14 runs `ct(commit,table=15,..,exec(..))`,
/// `mod_nw_src:1.2.3.4`, `load:0x5->NXM_NX_IP_TTL[]`, `output:3`, `IN_PORT`,
/// `LOCAL`, `output:4`, `output:1` (skipped: the input port),
/// `controller(max_len=128)`, `move:NXM_NX_REG1[0..15]->NXM_OF_TCP_SRC[]`,
/// `mod_tp_dst:99`, `mod_dl_src:..`, `output:2`, `output:7` (no such port);
/// the recirculated pass misses in table 16.
#[test]
fn outputs_carry_the_headers_of_their_moment_and_skipped_ones_are_left_out() {
    let t = parse_trace(MANY_ACTIONS, TUNNEL).unwrap();
    let before = Headers {
        eth_src: mac("0a:58:0a:0a:00:03"),
        eth_dst: mac("0a:58:0a:0a:00:01"),
        nw_src: ip("1.2.3.4"),
        nw_dst: ip("10.10.0.9"),
        nw_ttl: Some(5),
        tp_src: Some(40000),
        tp_dst: Some(80),
    };
    let after = Headers {
        eth_src: mac("00:11:22:33:44:55"),
        tp_src: Some(0),
        tp_dst: Some(99),
        ..before.clone()
    };
    let out = |port, tun_dst, headers: &Headers| Emitted {
        port,
        tun_dst,
        headers: headers.clone(),
    };
    assert_eq!(
        t.verdict,
        Verdict {
            outputs: vec![
                out(3, None, &before),
                // IN_PORT is the tunnel: the packet's own tun_dst goes along.
                out(1, ip("1.1.1.1"), &before),
                out(OFPP_LOCAL, None, &before),
                out(4, None, &before),
                out(2, None, &after),
            ],
            controller: true,
            normal: false,
            cts: vec![
                CtCall {
                    zone: 65520,
                    commit: false,
                    nat: Some(String::new()),
                    table: Some(11),
                },
                CtCall {
                    zone: 65520,
                    commit: true,
                    nat: None,
                    table: Some(15),
                },
            ],
        }
    );
    assert_eq!(t.tables, vec![0, 10, 11, 12, 14, 15, 16]);
    assert!(t.buckets.is_empty());
}

#[test]
fn a_controller_action_is_a_packet_in_and_nothing_else() {
    let t = parse_trace(CONTROLLER, TUNNEL).unwrap();
    assert_eq!(
        t.verdict,
        Verdict {
            controller: true,
            ..Verdict::default()
        }
    );
}

#[test]
fn a_table_miss_is_a_drop() {
    let t = parse_trace(TABLE_MISS, TUNNEL).unwrap();
    let v = &t.verdict;
    assert!(v.outputs.is_empty() && !v.controller && !v.normal && v.cts.is_empty());
    assert_eq!(t.tables, vec![0]);
}

#[test]
fn normal_is_flagged_without_naming_ports() {
    let t = parse_trace(ARP_NORMAL, TUNNEL).unwrap();
    assert_eq!(
        t.verdict,
        Verdict {
            normal: true,
            ..Verdict::default()
        }
    );
}

/// A group with `selection_method=dp_hash` (OVS's default for Antrea's
/// groups): the trace stops at `hash(l4(0)),recirc(..)` with `no live
/// bucket`, which must not read as a drop.
#[test]
fn a_dp_hash_group_is_an_error_not_a_drop() {
    let e = parse_trace(DP_HASH_GROUP, TUNNEL).unwrap_err();
    assert!(e.message.contains("dp_hash"), "{e}");
}

#[test]
fn a_header_write_the_tracker_missed_is_caught_by_the_final_flow() {
    let tampered = SERVICE_TO_TUNNEL.replace("    set_field:aa:bb:cc:dd:ee:ff->eth_dst\n", "");
    let e = parse_trace(&tampered, TUNNEL).unwrap_err();
    assert!(
        e.message.contains("tracked dl_dst=0a:58:0a:0a:00:01")
            && e.message.contains("dl_dst=aa:bb:cc:dd:ee:ff"),
        "{e}"
    );
}

#[test]
fn unreadable_traces_are_errors_with_a_line() {
    let e = parse_trace("ovs-appctl: br-int: unknown bridge", TUNNEL).unwrap_err();
    assert_eq!(e.line, 0);
    let no_port = SERVICE_TO_TUNNEL.replace("     -> output port is 1\n", "");
    let e = parse_trace(&no_port, TUNNEL).unwrap_err();
    assert!(e.message.contains("output port is N"), "{e}");
    assert!(e.line > 70, "{e}");
    let zone = SERVICE_TO_TUNNEL.replace(
        "ct(table=11,zone=65520,nat)",
        "ct(table=11,zone=NXM_NX_REG3[0..15],nat)",
    );
    let e = parse_trace(&zone, TUNNEL).unwrap_err();
    assert_eq!(e.line, 9, "{e}");
}

#[test]
fn ct_arguments_are_read_as_written() {
    let ct = parse_ct(
        "ct(commit,table=21,zone=65521,nat(src=192.168.77.100-192.168.77.101:100-200,random),exec(set_field:0x20/0x20->ct_mark))",
        1,
    )
    .unwrap();
    assert_eq!(
        ct,
        CtCall {
            zone: 65521,
            commit: true,
            nat: Some("src=192.168.77.100-192.168.77.101:100-200,random".into()),
            table: Some(21),
        }
    );
    assert_eq!(
        parse_ct("ct(zone=0x10)", 1).unwrap(),
        CtCall {
            zone: 16,
            commit: false,
            nat: None,
            table: None
        }
    );
}

/// A Traceflow's TCP SYN arriving by the tunnel and dropped by an Antrea
/// policy's conjunction (conj_id 3) whose metric table both drops it and,
/// through the logging group, sends it to the agent: the conjunction, the
/// registers at the packet-in and the tables are what Traceflow reads.
#[test]
fn a_policy_drop_names_its_conjunction_and_its_packet_in_registers() {
    let t = parse_trace(POLICY_DROP_PACKET_IN, &[1]).unwrap();
    assert_eq!(t.conjunctions, vec![(23, 3)]);
    assert!(t.verdict.controller);
    assert!(t.verdict.outputs.is_empty());
    assert_eq!(t.packet_ins.len(), 1);
    let (args, regs) = &t.packet_ins[0];
    assert!(args.contains("userdata=01.01"), "{args}");
    assert_eq!(regs[2] & 0xff, 0x17, "PacketInTableField: the rule's table");
    assert_eq!(regs[3], 3, "the conjunction id the rule loaded");
    assert_eq!(regs[0] & 0x400, 0x400, "the deny mark");
    assert_eq!((regs[0] >> 11) & 0b11, 1, "disposition Drop");
    assert_eq!(regs[0] >> 25, 1, "packet-in operation");
    assert_eq!(t.last_match, Some(28));
    assert!(t.tables.starts_with(&[0]));
}
