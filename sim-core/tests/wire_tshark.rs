//! Cross-checks `sim_core::wire` against Wireshark's dissectors: frames we build
//! and a pcap we write must read back in `tshark` with the right VLAN, addresses,
//! flags and good checksums, and nothing flagged malformed.
//!
//! Also: a Geneve tunnel packet between two node IPs (see `sim_core::wire::geneve`)
//! decodes as `geneve` with its VNI and the inner Pod-to-Pod frame intact, and
//! the VXLAN, GRE and ERSPAN II/III packets a TrafficControl mirror port sends
//! (see `sim_core::wire::mirror`) decode with their VNI, key, session and flags.
//!
//! Skips (loudly) when `tshark` is not installed.

mod support;

use std::net::Ipv4Addr;

use sim_core::model::MacAddr;
use sim_core::time::SimTime;
use sim_core::wire::geneve::{TunnelOuter, encapsulate};
use sim_core::wire::mirror::{ErspanSpec, MirrorTunnel, VXLAN_UDP_PORT, outer_l4};
use sim_core::wire::pcap::PcapWriter;
use sim_core::wire::{ArpMsg, ArpOp, EthHeader, Ipv4Pkt, L4, TcpFlags, build_eth, ethertype};
use support::{TempFile, needs, tshark};

const NODE: MacAddr = MacAddr([0xbc, 0x24, 0x11, 0x1d, 0x82, 0xf5]);
const GW: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x00, 0x01, 0x01]);

fn capture() -> Vec<u8> {
    let arp = ArpMsg {
        op: ArpOp::Request,
        sha: NODE,
        spa: Ipv4Addr::new(10, 160, 1, 25),
        tha: MacAddr::ZERO,
        tpa: Ipv4Addr::new(10, 160, 1, 1),
    };
    let arp_frame = build_eth(
        &EthHeader::new(MacAddr::BROADCAST, NODE, ethertype::ARP),
        &arp.to_bytes(),
    );

    let ping = Ipv4Pkt::new(
        Ipv4Addr::new(172, 18, 181, 40),
        Ipv4Addr::new(10, 200, 0, 10),
        L4::IcmpEcho {
            request: true,
            ident: 1,
            seq: 3,
            data: (0u8..56).collect(),
        },
    );
    let ping_frame = build_eth(
        &EthHeader {
            vlan: Some(181),
            ..EthHeader::new(GW, NODE, ethertype::IPV4)
        },
        &ping.to_bytes(),
    );

    let syn = Ipv4Pkt {
        ident: 0x4242,
        ..Ipv4Pkt::new(
            Ipv4Addr::new(10, 160, 1, 25),
            Ipv4Addr::new(10, 96, 0, 1),
            L4::Tcp {
                src_port: 40000,
                dst_port: 443,
                seq: 123_456,
                ack: 0,
                flags: TcpFlags::SYN,
                window: 64240,
                payload: vec![],
            },
        )
    };
    let syn_frame = build_eth(&EthHeader::new(GW, NODE, ethertype::IPV4), &syn.to_bytes());

    let udp = Ipv4Pkt::new(
        Ipv4Addr::new(10, 160, 1, 25),
        Ipv4Addr::new(10, 96, 0, 10),
        L4::Udp {
            src_port: 53000,
            dst_port: 53,
            payload: b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01"
                .to_vec(),
        },
    );
    let udp_frame = build_eth(&EthHeader::new(GW, NODE, ethertype::IPV4), &udp.to_bytes());

    let mut w = PcapWriter::new();
    w.record(SimTime(1_000_000_000), &arp_frame);
    w.record(SimTime(1_000_200_000), &ping_frame);
    w.record(SimTime(2_500_000_001), &syn_frame);
    w.record(SimTime(3_000_000_000), &udp_frame);
    assert_eq!(w.packets(), 4);
    w.into_bytes()
}

#[test]
fn tshark_is_here_under_ci() {
    needs::guard("tshark", needs::missing_tshark());
}

#[test]
#[ignore = "needs tshark (apt-get install tshark); run with --include-ignored, as CI does"]
fn tshark_reads_our_pcap() {
    needs::require(needs::missing_tshark());
    let path = std::env::temp_dir().join(format!(
        "antlab-wire-tshark-{}-{}.pcap",
        std::process::id(),
        line!()
    ));
    let file = TempFile(path);
    std::fs::write(&file.0, capture()).expect("write temp pcap");

    let fields = tshark(
        &file.0,
        &[
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "vlan.id",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
            "-e",
            "arp.src.proto_ipv4",
            "-e",
            "tcp.flags.syn",
            "-e",
            "frame.time_epoch",
        ],
    );
    let rows: Vec<Vec<&str>> = fields.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), 4, "four packets:\n{fields}");
    // ARP request, untagged.
    assert_eq!(rows[0][0], "", "{fields}");
    assert_eq!(rows[0][3], "10.160.1.25", "{fields}");
    // ICMP echo tagged with VLAN 181.
    assert_eq!(
        rows[1][..3],
        ["181", "172.18.181.40", "10.200.0.10"],
        "{fields}"
    );
    // TCP SYN (tshark prints booleans as 1/True depending on version).
    assert_eq!(rows[2][..3], ["", "10.160.1.25", "10.96.0.1"], "{fields}");
    assert!(matches!(rows[2][4], "1" | "True"), "{fields}");
    // UDP datagram.
    assert_eq!(rows[3][..3], ["", "10.160.1.25", "10.96.0.10"], "{fields}");
    // Nanosecond timestamps survive (magic 0xa1b23c4d).
    assert!(rows[2][5].starts_with("2.500000001"), "{fields}");

    // Full dissection with checksum validation on: nothing malformed, no bad checksum.
    let verbose = tshark(
        &file.0,
        &[
            "-V",
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
        ],
    );
    assert!(!verbose.contains("Malformed"), "{verbose}");
    assert!(
        !verbose.contains("[Bad]") && !verbose.contains("incorrect"),
        "{verbose}"
    );
    assert!(verbose.contains("802.1Q Virtual LAN"), "{verbose}");
    assert!(verbose.contains("Echo (ping) request"), "{verbose}");

    // Every checksum tshark verified is Good (status 1 = Good, 0 = Bad, 2 = Unverified).
    let status = tshark(
        &file.0,
        &[
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "ip.checksum.status",
            "-e",
            "icmp.checksum.status",
            "-e",
            "tcp.checksum.status",
            "-e",
            "udp.checksum.status",
        ],
    );
    let rows: Vec<Vec<&str>> = status.lines().map(|l| l.split('|').collect()).collect();
    let good = |s: &str| s == "1" || s == "Good";
    assert!(good(rows[1][0]) && good(rows[1][1]), "ICMP row: {status}");
    assert!(good(rows[2][0]) && good(rows[2][2]), "TCP row: {status}");
    assert!(good(rows[3][0]) && good(rows[3][3]), "UDP row: {status}");
}

const NODE2: MacAddr = MacAddr([0xbc, 0x24, 0x11, 0x2e, 0x93, 0x06]);
const POD_A: MacAddr = MacAddr([0x02, 0x00, 0x0a, 0x0a, 0x00, 0x05]);
const POD_B: MacAddr = MacAddr([0x02, 0x00, 0x0a, 0x0a, 0x01, 0x07]);

/// Pod 10.10.0.5 on node 10.160.1.25 pings Pod 10.10.1.7 on node 10.160.1.26
/// through the Geneve tunnel: the request and the reply, with VNI 0 (Antrea's
/// tunnel flows leave `tun_id` at 0) and, in the reply, VNI 4242 to see the field move.
fn geneve_capture() -> Vec<u8> {
    let (node1, node2) = (Ipv4Addr::new(10, 160, 1, 25), Ipv4Addr::new(10, 160, 1, 26));
    let (pod_a, pod_b) = (Ipv4Addr::new(10, 10, 0, 5), Ipv4Addr::new(10, 10, 1, 7));
    let echo = |src, dst, request| {
        Ipv4Pkt::new(
            src,
            dst,
            L4::IcmpEcho {
                request,
                ident: 7,
                seq: 1,
                data: (0u8..56).collect(),
            },
        )
        .to_bytes()
    };
    let request = build_eth(
        &EthHeader::new(POD_B, POD_A, ethertype::IPV4),
        &echo(pod_a, pod_b, true),
    );
    let reply = build_eth(
        &EthHeader::new(POD_A, POD_B, ethertype::IPV4),
        &echo(pod_b, pod_a, false),
    );
    let there = TunnelOuter::new(NODE, NODE2, node1, node2);
    let back = TunnelOuter::new(NODE2, NODE, node2, node1);
    let mut w = PcapWriter::new();
    w.record(
        SimTime(1_000_000_000),
        &encapsulate(&there, 0, &request).unwrap(),
    );
    w.record(
        SimTime(1_000_300_000),
        &encapsulate(&back, 4242, &reply).unwrap(),
    );
    w.into_bytes()
}

#[test]
#[ignore = "needs tshark (apt-get install tshark); run with --include-ignored, as CI does"]
fn tshark_decodes_geneve_with_the_inner_pod_frame() {
    needs::require(needs::missing_tshark());
    let file = TempFile::write("wire-geneve", &geneve_capture());
    let fields = tshark(
        &file.0,
        &[
            "-o",
            "ip.check_checksum:TRUE",
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "udp.dstport",
            "-e",
            "geneve.vni",
            "-e",
            "geneve.proto_type",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
            "-e",
            "icmp.type",
            "-e",
            "ip.checksum.status",
            "-e",
            "icmp.checksum.status",
        ],
    );
    let rows: Vec<Vec<&str>> = fields.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), 2, "two packets:\n{fields}");
    // tshark prints the VNI in hex (`0x001092`).
    let vni = |s: &str| u32::from_str_radix(s.trim_start_matches("0x"), 16).ok();
    assert_eq!(vni(rows[0][1]), Some(0), "{fields}");
    assert_eq!(vni(rows[1][1]), Some(4242), "{fields}");
    // ip.src/ip.dst list the outer (node) then the inner (Pod) addresses.
    assert_eq!(
        [&rows[0][..1], &rows[0][2..6]].concat(),
        [
            "6081",
            "0x6558",
            "10.160.1.25,10.10.0.5",
            "10.160.1.26,10.10.1.7",
            "8"
        ],
        "{fields}"
    );
    assert_eq!(
        [&rows[1][..1], &rows[1][2..6]].concat(),
        [
            "6081",
            "0x6558",
            "10.160.1.26,10.10.1.7",
            "10.160.1.25,10.10.0.5",
            "0"
        ],
        "{fields}"
    );
    let good = |s: &str| s.split(',').all(|v| v == "1" || v == "Good");
    for row in &rows {
        assert!(good(row[6]) && good(row[7]), "checksums: {fields}");
    }
    let verbose = tshark(&file.0, &["-V"]);
    assert!(
        verbose.contains("Generic Network Virtualization Encapsulation"),
        "{verbose}"
    );
    assert!(verbose.contains("Echo (ping) request"), "{verbose}");
    assert!(!verbose.contains("Malformed"), "{verbose}");
}

/// The frame a TrafficControl mirror copies: Pod 10.10.0.5 pings Pod 10.10.1.7.
fn mirrored_ping() -> Vec<u8> {
    let ping = Ipv4Pkt::new(
        Ipv4Addr::new(10, 10, 0, 5),
        Ipv4Addr::new(10, 10, 1, 7),
        L4::IcmpEcho {
            request: true,
            ident: 7,
            seq: 1,
            data: (0u8..56).collect(),
        },
    );
    build_eth(
        &EthHeader::new(POD_B, POD_A, ethertype::IPV4),
        &ping.to_bytes(),
    )
}

/// Node 10.160.1.25 sends the mirrored ping to a collector at 10.160.1.30
/// through each tunnel type a TrafficControl target port can have (Geneve is
/// covered above): VXLAN VNI 5001, GRE key 0x1234, ERSPAN type II session 42
/// index 0x12345, ERSPAN type III session 43 egress hardware ID 7. GRE
/// sequence numbers 100, 101, ... as one port's counter would run.
fn mirror_capture() -> Vec<u8> {
    let inner = mirrored_ping();
    let tunnels = [
        MirrorTunnel::Vxlan {
            vni: 5001,
            dst_port: VXLAN_UDP_PORT,
        },
        MirrorTunnel::Gre { key: Some(0x1234) },
        MirrorTunnel::Erspan(ErspanSpec::type_ii(42, 0x1_2345)),
        MirrorTunnel::Erspan(ErspanSpec::type_iii(43, 1, 7)),
    ];
    let mut w = PcapWriter::new();
    for (i, t) in (0u32..).zip(tunnels.iter()) {
        let l4 = outer_l4(t, &inner, 100 + i).unwrap();
        let outer = Ipv4Pkt::new(
            Ipv4Addr::new(10, 160, 1, 25),
            Ipv4Addr::new(10, 160, 1, 30),
            l4,
        );
        let frame = build_eth(
            &EthHeader::new(NODE2, NODE, ethertype::IPV4),
            &outer.to_bytes(),
        );
        w.record(SimTime(u64::from(i + 1) * 1_000_000_000), &frame);
    }
    w.into_bytes()
}

#[test]
#[ignore = "needs tshark (apt-get install tshark); run with --include-ignored, as CI does"]
fn tshark_decodes_mirror_tunnels() {
    needs::require(needs::missing_tshark());
    let file = TempFile::write("wire-mirror", &mirror_capture());
    let fields = tshark(
        &file.0,
        &[
            "-o",
            "ip.check_checksum:TRUE",
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
            "-e",
            "icmp.type",
            "-e",
            "udp.dstport",
            "-e",
            "vxlan.vni",
            "-e",
            "gre.key",
            "-e",
            "gre.sequence_number",
            "-e",
            "erspan.version",
            "-e",
            "erspan.spanid",
            "-e",
            "erspan.index",
            "-e",
            "erspan.direction",
            "-e",
            "erspan.hw",
            "-e",
            "ip.checksum.status",
            "-e",
            "icmp.checksum.status",
        ],
    );
    let rows: Vec<Vec<&str>> = fields.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), 4, "four packets:\n{fields}");
    // tshark prints some of these fields in hex (`0x00001234`), some in decimal.
    let num = |s: &str| match s.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse::<u32>().ok(),
    };
    let good = |s: &str| s.split(',').all(|v| v == "1" || v == "Good");
    for row in &rows {
        // Outer (node to collector) then inner (Pod to Pod) addresses, an echo
        // request inside, and every checksum tshark checked is good.
        assert_eq!(
            row[..3],
            ["10.160.1.25,10.10.0.5", "10.160.1.30,10.10.1.7", "8"],
            "{fields}"
        );
        assert!(good(row[12]) && good(row[13]), "checksums: {fields}");
    }
    // VXLAN over UDP 4789 with its VNI; no GRE fields.
    assert_eq!(rows[0][3], "4789", "{fields}");
    assert_eq!(num(rows[0][4]), Some(5001), "{fields}");
    assert_eq!(rows[0][5..12].concat(), "", "{fields}");
    // The other three ride on GRE, not UDP.
    assert!(rows[1..].iter().all(|r| r[3].is_empty()), "{fields}");
    // GRE with the key and no sequence number.
    assert_eq!(num(rows[1][5]), Some(0x1234), "{fields}");
    assert_eq!(rows[1][6], "", "{fields}");
    assert_eq!(rows[1][7..12].concat(), "", "{fields}");
    // ERSPAN type II: GRE sequence number, version 1, session 42, index 0x12345.
    assert_eq!(
        rows[2][6..10].iter().map(|s| num(s)).collect::<Vec<_>>(),
        [Some(102), Some(1), Some(42), Some(0x1_2345)],
        "{fields}"
    );
    // ERSPAN type III: version 2, session 43, egress (D set), hardware ID 7.
    assert_eq!(
        [rows[3][6], rows[3][7], rows[3][8], rows[3][11]].map(num),
        [Some(103), Some(2), Some(43), Some(7)],
        "{fields}"
    );
    assert!(matches!(rows[3][10], "1" | "True"), "{fields}");

    let verbose = tshark(&file.0, &["-V"]);
    for name in [
        "Virtual eXtensible Local Area Network",
        "Generic Routing Encapsulation (Transparent Ethernet bridging)",
        "Encapsulated Remote Switch Packet ANalysis Type II",
        "Encapsulated Remote Switch Packet ANalysis Type III",
    ] {
        assert!(verbose.contains(name), "{name}: {verbose}");
    }
    assert_eq!(
        verbose.matches("Echo (ping) request").count(),
        4,
        "{verbose}"
    );
    assert!(!verbose.contains("Malformed"), "{verbose}");
}
