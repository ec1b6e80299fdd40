//! Shared by the tests that cross-check our bytes with Wireshark's `tshark`
//! (sim-core's `wire_tshark`/`ipfix_tshark` and the root crate's `flows`).
//! Not every test file uses every helper.
#![allow(dead_code)]

pub mod needs;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use sim_core::model::MacAddr;
use sim_core::time::SimTime;
use sim_core::wire::pcap::PcapWriter;
use sim_core::wire::{EthHeader, Ipv4Pkt, L4, build_eth, ethertype};

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
