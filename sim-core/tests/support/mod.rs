//! Shared by the tests that cross-check our bytes with Wireshark's `tshark`
//! (sim-core's `wire_tshark`/`ipfix_tshark` and the root crate's `flows`).
//! Not every test file uses every helper; [`scenarios`] loads the shipped
//! scenarios.
#![allow(dead_code)]

pub mod needs;
pub mod scenarios;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use sim_core::model::MacAddr;
use sim_core::time::SimTime;
use sim_core::wire::pcap::PcapWriter;
use sim_core::wire::{EthHeader, Ipv4Pkt, L4, build_eth, ethertype};

/// The frames of a classic pcap (24-byte file header, 16-byte record
/// headers, little-endian as `PcapWriter` writes them).
pub fn pcap_frames(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push(&bytes[at + 16..at + 16 + len]);
        at += 16 + len;
    }
    out
}

/// A capture file removed when dropped, even when an assertion fails.
pub struct TempFile(pub PathBuf);

impl TempFile {
    /// Writes `bytes` to a per-process file named after `tag` in the temp dir.
    pub fn write(tag: &str, bytes: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("antlab-{tag}-{}.pcap", std::process::id()));
        std::fs::write(&path, bytes).expect("write temp pcap");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `tshark -n -r FILE ARGS...`; its stdout, after asserting it succeeded.
pub fn tshark(file: &Path, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(file)
        .args(args)
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("tshark prints UTF-8")
}

/// `tshark` with UDP 4739 decoded as IPFIX (`cflow`), as a collector sees it.
pub fn tshark_ipfix(file: &Path, args: &[&str]) -> String {
    let mut all = vec!["-d", "udp.port==4739,cflow"];
    all.extend_from_slice(args);
    tshark(file, &all)
}

const AGENT_MAC: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
const COLLECTOR_MAC: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x00, 0x00, 0x02]);
const AGENT: Ipv4Addr = Ipv4Addr::new(10, 160, 1, 25);
const COLLECTOR: Ipv4Addr = Ipv4Addr::new(10, 160, 1, 30);

/// A pcap of IPFIX `messages` sent from an agent (10.160.1.25) to a collector
/// (10.160.1.30) on UDP 4739, one second apart.
pub fn ipfix_capture(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut pcap = PcapWriter::new();
    for (i, m) in messages.iter().enumerate() {
        let pkt = Ipv4Pkt::new(
            AGENT,
            COLLECTOR,
            L4::Udp {
                src_port: 40000,
                dst_port: 4739,
                payload: m.clone(),
            },
        );
        let frame = build_eth(
            &EthHeader::new(COLLECTOR_MAC, AGENT_MAC, ethertype::IPV4),
            &pkt.to_bytes(),
        );
        pcap.record(SimTime(i as u64 * 1_000_000_000), &frame);
    }
    pcap.into_bytes()
}

/// A pcap of IPFIX `messages` sent over one TCP connection from the agent to
/// the collector's port 4739: the handshake, then the messages as one byte
/// stream cut into segments that do not follow message boundaries (a
/// collector must frame messages by their length field, RFC 7011 §10.4.1).
pub fn ipfix_tcp_capture(messages: &[Vec<u8>]) -> Vec<u8> {
    use sim_core::wire::TcpFlags;
    let mut pcap = PcapWriter::new();
    let mut n = 0u64;
    let mut record = |pcap: &mut PcapWriter,
                      from_agent: bool,
                      seq: u32,
                      ack: u32,
                      flags: TcpFlags,
                      payload: Vec<u8>| {
        let (src, dst, sport, dport, smac, dmac) = if from_agent {
            (AGENT, COLLECTOR, 40000, 4739, AGENT_MAC, COLLECTOR_MAC)
        } else {
            (COLLECTOR, AGENT, 4739, 40000, COLLECTOR_MAC, AGENT_MAC)
        };
        let pkt = Ipv4Pkt::new(
            src,
            dst,
            L4::Tcp {
                src_port: sport,
                dst_port: dport,
                seq,
                ack,
                flags,
                window: 64240,
                payload,
            },
        );
        let frame = build_eth(
            &EthHeader::new(dmac, smac, ethertype::IPV4),
            &pkt.to_bytes(),
        );
        pcap.record(SimTime(n * 1_000_000), &frame);
        n += 1;
    };
    let flags = |syn, ack, psh| TcpFlags {
        syn,
        ack,
        psh,
        ..TcpFlags::default()
    };
    let (agent_isn, collector_isn) = (1000u32, 5000u32);
    record(
        &mut pcap,
        true,
        agent_isn,
        0,
        flags(true, false, false),
        Vec::new(),
    );
    record(
        &mut pcap,
        false,
        collector_isn,
        agent_isn + 1,
        flags(true, true, false),
        Vec::new(),
    );
    record(
        &mut pcap,
        true,
        agent_isn + 1,
        collector_isn + 1,
        flags(false, true, false),
        Vec::new(),
    );
    let stream: Vec<u8> = messages.concat();
    let mut seq = agent_isn + 1;
    // Segments of 700 bytes: messages straddle segment boundaries.
    for chunk in stream.chunks(700) {
        record(
            &mut pcap,
            true,
            seq,
            collector_isn + 1,
            flags(false, true, true),
            chunk.to_vec(),
        );
        seq += chunk.len() as u32;
        record(
            &mut pcap,
            false,
            collector_isn + 1,
            seq,
            flags(false, true, false),
            Vec::new(),
        );
    }
    pcap.into_bytes()
}

/// `tshark` with TCP 4739 decoded as IPFIX.
pub fn tshark_ipfix_tcp(file: &Path, args: &[&str]) -> String {
    let mut all = vec!["-d", "tcp.port==4739,cflow"];
    all.extend_from_slice(args);
    tshark(file, &all)
}

/// Flow records made by the exporter from two conntrack entries: the blog's
/// curl through an Egress, closed (TIME_WAIT, `flowEndReason` 3, with its HTTP
/// exchange), and a live Service connection (active, 2).
pub fn sample_records() -> Vec<sim_core::flows::FlowRecord> {
    use sim_core::flows::{
        DumpedConn, ExporterConfig, FlowExporter, FlowKey, FlowMeta, FlowType, HttpExchange,
    };
    use sim_core::time::SimDuration;
    let secs = |s: u64| SimTime(SimDuration::from_secs(s).as_nanos());
    let mut e = FlowExporter::new(ExporterConfig::new(
        SimDuration::from_secs(5),
        SimDuration::from_secs(15),
        1_714_723_200,
    ));
    let web = FlowKey {
        src: Ipv4Addr::new(10, 30, 67, 5),
        dst: Ipv4Addr::new(195, 88, 54, 16),
        src_port: 51234,
        dst_port: 80,
        protocol: 6,
    };
    let svc = FlowKey {
        src: Ipv4Addr::new(10, 30, 67, 6),
        dst: Ipv4Addr::new(10, 30, 68, 9),
        src_port: 40000,
        dst_port: 8080,
        protocol: 6,
    };
    let dump = [
        DumpedConn {
            key: web,
            start: secs(0),
            packets: 4,
            bytes: 300,
            reverse_packets: 3,
            reverse_bytes: 777,
            tcp_state: "TIME_WAIT",
        },
        DumpedConn {
            key: svc,
            start: secs(1),
            packets: 9,
            bytes: 1234,
            reverse_packets: 7,
            reverse_bytes: 98765,
            tcp_state: "ESTABLISHED",
        },
    ];
    e.poll(secs(1), &dump, |d| {
        Some(if d.key == web {
            FlowMeta {
                source_pod_name: "ubuntu-20-04-59d474f9df-dv9ms".into(),
                source_pod_namespace: "egress".into(),
                source_node_name: "k8s-node-vm-1-cl-02".into(),
                flow_type: FlowType::ToExternal,
                egress_name: "egress-vlan-181".into(),
                egress_ip: "172.18.181.40".into(),
                egress_node_name: "k8s-node-vm-2-cl-02".into(),
                ..FlowMeta::default()
            }
        } else {
            FlowMeta {
                source_pod_name: "client".into(),
                source_pod_namespace: "default".into(),
                source_node_name: "node-1".into(),
                destination_cluster_ipv4: Some(Ipv4Addr::new(10, 96, 0, 50)),
                destination_service_port: 80,
                destination_service_port_name: "default/web:http".into(),
                flow_type: FlowType::InterNode,
                ..FlowMeta::default()
            }
        })
    });
    e.add_http(
        secs(1),
        &web,
        &[(
            0,
            HttpExchange {
                hostname: "www.vg.no".into(),
                url: "/".into(),
                http_user_agent: "curl/7.68.0".into(),
                http_method: "GET".into(),
                protocol: "HTTP/1.1".into(),
                status: 301,
                ..HttpExchange::default()
            },
        )],
    );
    let out = e.export(secs(6));
    assert_eq!(out.len(), 2, "the closed curl and the live Service call");
    out
}
