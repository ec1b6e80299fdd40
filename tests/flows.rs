//! `antlab flows`: the records the agents' flow exporters send during a
//! scenario, checked for Antrea's context fields, for counter bookkeeping, for
//! the L7 `httpVals` the blog shows, and on the wire as IPFIX to a UDP collector.

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use sim_core::scenario::flow_export::observation_domain_id;
use support::{TempFile, ipfix_capture, needs, tshark_ipfix};

// The tshark helpers sim-core's own cross-check tests use.
#[path = "../sim-core/tests/support/mod.rs"]
mod support;

const FLOWS: &str = "scenarios/flow-export.yaml";
const L7: &str = "scenarios/l7-flow-export.yaml";

fn antlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_antlab"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("antlab runs")
}

fn records(scenario: &str, seed: &str) -> Vec<Value> {
    let out = antlab(&["flows", scenario, "-o", "json", "--seed", seed]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is a JSON record"))
        .collect()
}

fn key(r: &Value) -> (String, String, u64, String, u64, u64) {
    (
        r["exporterNode"].as_str().unwrap().to_string(),
        r["sourceIPv4Address"].as_str().unwrap().to_string(),
        r["sourceTransportPort"].as_u64().unwrap(),
        r["destinationIPv4Address"].as_str().unwrap().to_string(),
        r["destinationTransportPort"].as_u64().unwrap(),
        r["protocolIdentifier"].as_u64().unwrap(),
    )
}

#[test]
fn records_carry_pod_service_and_egress_context() {
    let recs = records(FLOWS, "1");
    assert!(recs.len() >= 6, "{recs:#?}");
    // The ping leaves through the Egress: its records name it, its IP and node.
    let ping = recs
        .iter()
        .find(|r| r["protocolIdentifier"] == 1)
        .expect("the ICMP flow is exported");
    assert_eq!(ping["flowType"], 3, "To External");
    assert_eq!(ping["sourcePodNamespace"], "egress");
    assert_eq!(ping["egressName"], "egress-vlan");
    assert_eq!(ping["egressIP"], "172.18.181.40");
    assert_eq!(ping["egressNodeName"], "k8s-node-vm-2-cl-02");
    assert_eq!(ping["exporterNode"], ping["sourceNodeName"]);
    // The Service call, seen by the client's agent: ClusterIP and port name,
    // and the endpoint (after DNAT) as the destination.
    let client_side: Vec<&Value> = recs
        .iter()
        .filter(|r| r["destinationServicePortName"] == "web/web-plain")
        .collect();
    assert!(!client_side.is_empty(), "{recs:#?}");
    for r in &client_side {
        assert_eq!(r["destinationClusterIPv4"], "10.30.30.11");
        assert_eq!(r["destinationServicePort"], 80);
        assert_eq!(r["sourcePodName"], "client");
        assert!(
            r["destinationPodName"]
                .as_str()
                .unwrap()
                .starts_with("web-")
        );
        assert_ne!(r["destinationIPv4Address"], "10.30.30.11");
        let same_node = r["sourceNodeName"] == r["destinationNodeName"];
        assert_eq!(r["flowType"], if same_node { 1 } else { 2 });
    }
    // An endpoint on another node: that node's agent exports the same
    // connection from the server side, without Service context.
    let remote = client_side
        .iter()
        .find(|r| r["flowType"] == 2)
        .expect("some call lands on another node");
    let server_side = recs
        .iter()
        .find(|r| {
            r["exporterNode"] == remote["destinationNodeName"]
                && r["sourceTransportPort"] == remote["sourceTransportPort"]
        })
        .expect("the endpoint's node exports it too");
    assert_eq!(server_side["destinationServicePortName"], "");
    assert_eq!(server_side["destinationClusterIPv4"], "0.0.0.0");
}

#[test]
fn deltas_add_up_to_totals_and_every_flow_ends() {
    let recs = records(FLOWS, "7");
    let mut by_flow: BTreeMap<_, Vec<&Value>> = BTreeMap::new();
    for r in &recs {
        by_flow.entry(key(r)).or_default().push(r);
    }
    assert!(by_flow.len() >= 4);
    for (k, rs) in by_flow {
        let (mut p, mut o, mut rp, mut ro) = (0, 0, 0, 0);
        for r in &rs {
            p += r["packetDeltaCount"].as_u64().unwrap();
            o += r["octetDeltaCount"].as_u64().unwrap();
            rp += r["reversePacketDeltaCount"].as_u64().unwrap();
            ro += r["reverseOctetDeltaCount"].as_u64().unwrap();
            assert_eq!(r["packetTotalCount"].as_u64().unwrap(), p, "{k:?}");
            assert_eq!(r["octetTotalCount"].as_u64().unwrap(), o, "{k:?}");
            assert_eq!(r["reversePacketTotalCount"].as_u64().unwrap(), rp, "{k:?}");
            assert_eq!(r["reverseOctetTotalCount"].as_u64().unwrap(), ro, "{k:?}");
            assert!(r["flowStartSeconds"].as_u64() <= r["flowEndSeconds"].as_u64());
        }
        // Only the last record ends the flow (idle, end of flow or forced);
        // the ones before are active-timeout reports.
        let (last, before) = rs.split_last().unwrap();
        assert_ne!(last["flowEndReason"], 2, "{k:?} never ended: {rs:#?}");
        assert!(before.iter().all(|r| r["flowEndReason"] == 2), "{k:?}");
        assert!(p > 0 && rp > 0, "{k:?}: both directions counted");
    }
}

#[test]
fn flow_records_are_deterministic_and_gated() {
    let a = antlab(&["flows", FLOWS, "-o", "json", "--seed", "1234567"]);
    let b = antlab(&["flows", FLOWS, "-o", "json", "--seed", "1234567"]);
    assert!(a.status.success());
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout);
    // The main scenario does not turn on FlowExporter: no records.
    let off = antlab(&["flows", "scenarios/egress-vlan-failover.yaml"]);
    assert!(off.status.success());
    let text = String::from_utf8(off.stdout).unwrap();
    assert!(text.contains("No flow records"), "{text}");
}

#[test]
fn l7_records_carry_the_blogs_http_vals() {
    let recs = records(L7, "1");
    let with_http: Vec<&Value> = recs
        .iter()
        .filter(|r| !r["httpVals"].as_str().unwrap().is_empty())
        .collect();
    // One exchange, reported once (the next records of the flow carry none).
    assert_eq!(with_http.len(), 1, "{recs:#?}");
    let r = with_http[0];
    assert_eq!(r["appProtocolName"], "http");
    assert_eq!(
        r["httpVals"],
        r#"{"0":{"hostname":"www.vg.no","url":"/","http_user_agent":"curl/7.68.0","http_content_type":"","http_method":"GET","protocol":"HTTP/1.1","status":301,"length":0}}"#
    );
    assert_eq!(r["sourcePodName"], "ubuntu-20-04-59d474f9df-dv9ms");
    assert_eq!(r["destinationTransportPort"], 80);
}

#[test]
fn flows_table_snapshot() {
    let out = antlab(&["flows", FLOWS]);
    assert!(out.status.success());
    insta::assert_snapshot!(String::from_utf8(out.stdout).unwrap());
}

#[test]
fn bad_collector_address_is_an_input_error() {
    let out = antlab(&["flows", FLOWS, "--collector", "not-an-address"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--collector"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "nothing runs before the address is known"
    );
}

/// What a collector received from `antlab flows --collector`: the
/// datagrams, the number of JSON records, the observation domains.
struct Collected {
    msgs: Vec<Vec<u8>>,
    n_records: usize,
    ids: BTreeMap<u32, &'static str>,
}

/// Runs `antlab flows --collector` against a loopback socket and checks
/// what arrived (RFC 7011 framing, one domain per exporting node).
fn collect() -> Collected {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let addr = sock.local_addr().unwrap().to_string();
    let out = antlab(&["flows", FLOWS, "-o", "json", "--collector", &addr]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n_records = String::from_utf8(out.stdout).unwrap().lines().count();
    let mut msgs = Vec::new();
    let mut buf = [0u8; 65_536];
    // Loopback UDP with a 5 s read timeout; the sender has finished already.
    while let Ok(n) = sock.recv(&mut buf) {
        msgs.push(buf[..n].to_vec());
        sock.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
    }
    assert!(!msgs.is_empty(), "no IPFIX messages arrived");
    // RFC 7011 §3.1: version 10, the length field is the datagram's length,
    // and per observation domain the sequence number counts data records sent.
    let ids: BTreeMap<u32, &'static str> = [
        "k8s-node-vm-1-cl-02",
        "k8s-node-vm-2-cl-02",
        "k8s-node-vm-3-cl-02",
    ]
    .iter()
    .map(|n| (observation_domain_id(n), *n))
    .collect();
    let mut seen_domains = BTreeMap::new();
    for m in &msgs {
        assert_eq!(u16::from_be_bytes([m[0], m[1]]), 10);
        assert_eq!(usize::from(u16::from_be_bytes([m[2], m[3]])), m.len());
        let domain = u32::from_be_bytes([m[12], m[13], m[14], m[15]]);
        assert!(
            ids.contains_key(&domain),
            "unknown observation domain {domain:#x}"
        );
        *seen_domains.entry(domain).or_insert(0) += 1;
    }
    assert!(
        seen_domains.len() >= 2,
        "client and server nodes both export"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{n_records} record(s)")),
        "{stderr}"
    );
    Collected {
        msgs,
        n_records,
        ids,
    }
}

/// Receives the IPFIX datagrams `antlab flows --collector` sends.
#[test]
fn collector_receives_ipfix_per_node() {
    let c = collect();
    assert!(c.n_records > 0);
}

#[test]
fn tshark_is_here_under_ci() {
    needs::guard("tshark", needs::missing_tshark());
}

#[test]
#[ignore = "needs tshark (apt-get install tshark); run with --include-ignored, as CI does"]
fn tshark_decodes_the_collectors_ipfix() {
    needs::require(needs::missing_tshark());
    let c = collect();
    tshark_check(&c.msgs, c.n_records, &c.ids);
}

fn tshark_check(msgs: &[Vec<u8>], n_records: usize, ids: &BTreeMap<u32, &str>) {
    let file = TempFile::write("collector", &ipfix_capture(msgs));
    let verbose = tshark_ipfix(&file.0, &["-V"]);
    let fields = tshark_ipfix(&file.0, &["-T", "fields", "-e", "cflow.srcaddr"]);
    assert!(!verbose.contains("Malformed"), "{verbose}");
    let domains = ids
        .keys()
        .filter(|id| verbose.contains(&format!("Observation Domain Id: {id}")))
        .count();
    assert!(domains >= 2, "tshark sees each node's observation domain");
    // Every record decodes: one source address per record.
    let decoded: usize = fields
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').count())
        .sum();
    assert_eq!(decoded, n_records, "{fields}");
    // Wireshark prints Antrea's enterprise strings as hex bytes.
    let hex = |text: &str| {
        text.bytes()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let antrea = |ie: u16, text: &str| {
        format!(
            "(Project Antrea) Type {ie}: Value (hex bytes): {}\n",
            hex(text)
        )
    };
    assert!(verbose.contains(&antrea(153, "egress-vlan")), "egressName");
    assert!(verbose.contains(&antrea(154, "172.18.181.40")), "egressIP");
    assert!(
        verbose.contains(&antrea(109, "web/web-plain")),
        "destinationServicePortName"
    );
}
