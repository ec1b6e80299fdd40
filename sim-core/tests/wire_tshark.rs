//! Cross-checks `sim_core::wire` against Wireshark's dissectors: frames we build
//! and a pcap we write must read back in `tshark` with the right VLAN, addresses,
//! flags and good checksums, and nothing flagged malformed.
//!
//! Also: a Geneve tunnel packet between two node IPs (see `sim_core::wire::geneve`)
//! decodes as `geneve` with its VNI and the inner Pod-to-Pod frame intact.
//!
//! Skips (loudly) when `tshark` is not installed.

mod support;

use std::net::Ipv4Addr;

use sim_core::model::MacAddr;
use sim_core::time::SimTime;
use sim_core::wire::geneve::{TunnelOuter, encapsulate};
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
