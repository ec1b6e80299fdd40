//! `antlab flows`: the records the agents' flow exporters send during a
//! scenario, checked for Antrea's context fields (each agent names only its
//! own Pods), for Antrea's export rules (one record per connection per round,
//! no zero-delta active records, TCP flows ending in TIME_WAIT with reason 3,
//! Unix times from `startTime`), for the L7 `httpVals` the blog shows, and on
//! the wire as IPFIX to a UDP and a TCP collector.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{TcpListener, UdpSocket};
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
    assert_eq!(ping["tcpState"], "");
    // Only the source Pod's node exports a Pod-to-external flow, not the
    // Egress node it leaves through.
    assert!(
        recs.iter()
            .filter(|r| r["protocolIdentifier"] == 1)
            .all(|r| r["exporterNode"] == "k8s-node-vm-1-cl-02"),
        "{recs:#?}"
    );
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
        assert_ne!(r["destinationIPv4Address"], "10.30.30.11");
        // The endpoint is named only when it runs on the client's node.
        let named = !r["destinationPodName"].as_str().unwrap().is_empty();
        assert_eq!(r["flowType"], if named { 1 } else { 2 }, "{r:#?}");
        if named {
            assert!(
                r["destinationPodName"]
                    .as_str()
                    .unwrap()
                    .starts_with("web-")
            );
        }
    }
    // An endpoint on another node: that node's agent exports the same
    // connection from the server side, naming its own Pod but not the
    // client, without Service context.
    let remote = client_side
        .iter()
        .find(|r| r["flowType"] == 2)
        .expect("some call lands on another node");
    assert_eq!(remote["destinationNodeName"], "");
    let server_side = recs
        .iter()
        .find(|r| {
            r["exporterNode"] != remote["exporterNode"]
                && r["sourceTransportPort"] == remote["sourceTransportPort"]
                && r["protocolIdentifier"] == 6
        })
        .expect("the endpoint's node exports it too");
    assert_eq!(server_side["sourcePodName"], "");
    assert_eq!(server_side["sourceNodeName"], "");
    assert!(
        server_side["destinationPodName"]
            .as_str()
            .unwrap()
            .starts_with("web-")
    );
    assert_eq!(
        server_side["destinationNodeName"],
        server_side["exporterNode"]
    );
    assert_eq!(server_side["flowType"], 2);
    assert_eq!(server_side["destinationServicePortName"], "");
    assert_eq!(server_side["destinationClusterIPv4"], "0.0.0.0");
}

/// A connection a policy drops is exported from the deny connection store
/// by the node that dropped it: the rule and its action, no reply, and
/// `flowEndReason` 3 (never in conntrack); one record with the packet and
/// a second with a zero delta before it leaves the queue, as Antrea does.
#[test]
fn denied_connections_are_exported_with_the_rule_that_dropped_them() {
    let recs = records(FLOWS, "1");
    let denied: Vec<&Value> = recs
        .iter()
        .filter(|r| r["ingressNetworkPolicyRuleAction"] == 2)
        .collect();
    assert!(!denied.is_empty(), "{recs:#?}");
    for r in &denied {
        assert_eq!(r["ingressNetworkPolicyName"], "web-deny-client");
        assert_eq!(r["ingressNetworkPolicyType"], 3, "ClusterNetworkPolicy");
        assert_eq!(r["ingressNetworkPolicyRuleName"], "drop-client");
        assert_eq!(r["flowEndReason"], 3);
        assert_eq!(r["reversePacketTotalCount"], 0);
        assert_eq!(r["packetTotalCount"], 1, "one SYN per connection");
        assert_eq!(r["exporterNode"], r["destinationNodeName"]);
        assert_eq!(r["sourcePodName"], "", "the client is on another node");
    }
    let first = denied[0];
    let again: Vec<&&Value> = denied.iter().filter(|r| key(r) == key(first)).collect();
    assert_eq!(again.len(), 2, "{again:#?}");
    assert_eq!(again[0]["packetDeltaCount"], 1);
    assert_eq!(again[1]["packetDeltaCount"], 0);
}

#[test]
fn agents_name_only_their_own_pods() {
    for r in records(FLOWS, "3") {
        for end in ["source", "destination"] {
            let pod = r[format!("{end}PodName")].as_str().unwrap();
            let node = r[format!("{end}NodeName")].as_str().unwrap();
            if pod.is_empty() {
                assert_eq!(node, "", "{r:#?}");
            } else {
                assert_eq!(node, r["exporterNode"], "{r:#?}");
            }
        }
    }
}

#[test]
fn export_rules_deltas_one_record_per_round_and_no_idle_active_records() {
    let recs = records(FLOWS, "7");
    // The connections that start from 20 s on are the ones the policy
    // drops (their own test above): these rules are about live ones.
    let policy_at = 1_714_723_200 + 20; // the scenario's startTime + 20 s
    let mut by_flow: BTreeMap<_, Vec<&Value>> = BTreeMap::new();
    for r in recs.iter().filter(|r| {
        r["flowStartSeconds"]
            .as_u64()
            .is_some_and(|t| t < policy_at)
    }) {
        by_flow.entry(key(r)).or_default().push(r);
    }
    assert!(by_flow.len() >= 4);
    for (k, rs) in &by_flow {
        let (mut p, mut o, mut rp, mut ro) = (0, 0, 0, 0);
        let mut rounds = std::collections::BTreeSet::new();
        for r in rs {
            assert!(
                rounds.insert(r["exportedAtNs"].as_u64().unwrap()),
                "{k:?}: two records in one round: {rs:#?}"
            );
            let dp = r["packetDeltaCount"].as_u64().unwrap();
            let drp = r["reversePacketDeltaCount"].as_u64().unwrap();
            p += dp;
            o += r["octetDeltaCount"].as_u64().unwrap();
            rp += drp;
            ro += r["reverseOctetDeltaCount"].as_u64().unwrap();
            assert_eq!(r["packetTotalCount"].as_u64().unwrap(), p, "{k:?}");
            assert_eq!(r["octetTotalCount"].as_u64().unwrap(), o, "{k:?}");
            assert_eq!(r["reversePacketTotalCount"].as_u64().unwrap(), rp, "{k:?}");
            assert_eq!(r["reverseOctetTotalCount"].as_u64().unwrap(), ro, "{k:?}");
            assert!(r["flowStartSeconds"].as_u64() <= r["flowEndSeconds"].as_u64());
            if r["flowEndReason"] == 2 {
                assert!(
                    dp + drp > 0,
                    "{k:?}: an active record with nothing new: {r:#?}"
                );
            }
        }
        // Only the last record may end the flow (idle or end of flow); the
        // ones before are active-timeout reports.
        let (_, before) = rs.split_last().unwrap();
        assert!(
            before.iter().all(|r| r["flowEndReason"] == 2),
            "{k:?}: {rs:#?}"
        );
        assert!(p > 0 && rp > 0, "{k:?}: both directions counted");
        // The probe's TCP connections close: conntrack's TIME_WAIT ends them.
        let last = rs.last().unwrap();
        if last["protocolIdentifier"] == 6 {
            assert_eq!(last["flowEndReason"], 3, "{k:?}: {rs:#?}");
            assert_eq!(last["tcpState"], "TIME_WAIT", "{k:?}");
        }
    }
    // The ping stops at 14 s: one idle record, and it leaves the queue.
    let ping: Vec<_> = by_flow
        .iter()
        .filter(|(k, _)| k.5 == 1)
        .flat_map(|(_, rs)| rs.iter())
        .collect();
    assert_eq!(
        ping.iter().filter(|r| r["flowEndReason"] == 1).count(),
        1,
        "{ping:#?}"
    );
}

#[test]
fn times_are_unix_seconds_from_the_start_time() {
    // The default start, 2024-05-03T08:00:00Z, and a run of 40 s.
    let start = 1_714_723_200u64;
    for r in records(FLOWS, "1") {
        let s = r["flowStartSeconds"].as_u64().unwrap();
        let e = r["flowEndSeconds"].as_u64().unwrap();
        assert!(s >= start && e <= start + 40 && s <= e, "{r:#?}");
    }
    // A scenario's own `startTime`, shown in the table header.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(dir.join(FLOWS))
        .unwrap()
        .replace("seed: 1\n", "seed: 1\nstartTime: 2030-01-02T03:04:05Z\n")
        .replace("../topologies/", &format!("{}/topologies/", dir.display()))
        .replace(
            "manifests/",
            &format!("{}/scenarios/manifests/", dir.display()),
        );
    let tmp = std::env::temp_dir().join(format!("antlab-start-{}.yaml", std::process::id()));
    std::fs::write(&tmp, text).unwrap();
    let out = antlab(&["flows", tmp.to_str().unwrap(), "-o", "json"]);
    let table = antlab(&["flows", tmp.to_str().unwrap()]);
    let run = antlab(&["run", tmp.to_str().unwrap()]);
    std::fs::remove_file(&tmp).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first: Value = serde_json::from_str(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let start = 1_893_553_445u64; // 2030-01-02T03:04:05Z
    assert!(
        first["flowStartSeconds"].as_u64().unwrap() >= start,
        "{first:#?}"
    );
    assert!(first["flowStartSeconds"].as_u64().unwrap() < start + 40);
    let head = String::from_utf8(table.stdout).unwrap();
    assert!(head.contains("start 2030-01-02T03:04:05Z"), "{head}");
    let head = String::from_utf8(run.stdout).unwrap();
    assert!(
        head.lines()
            .next()
            .unwrap()
            .contains("; start 2030-01-02T03:04:05Z)"),
        "{head}"
    );
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
    // One exchange, reported once; curl closed the connection, so that
    // record ends the flow.
    assert_eq!(with_http.len(), 1, "{recs:#?}");
    let r = with_http[0];
    assert_eq!(r["appProtocolName"], "http");
    assert_eq!(
        r["httpVals"],
        r#"{"0":{"hostname":"www.vg.no","url":"/","http_user_agent":"curl/7.68.0","http_content_type":"","http_method":"GET","protocol":"HTTP/1.1","status":301,"length":0}}"#
    );
    assert_eq!(r["sourcePodName"], "ubuntu-20-04-59d474f9df-dv9ms");
    assert_eq!(r["destinationTransportPort"], 80);
    assert_eq!(r["flowEndReason"], 3);
    assert_eq!(r["tcpState"], "TIME_WAIT");
}

#[test]
fn flows_table_snapshot() {
    let out = antlab(&["flows", FLOWS]);
    assert!(out.status.success());
    insta::assert_snapshot!(String::from_utf8(out.stdout).unwrap());
}

#[test]
fn bad_collector_address_is_an_input_error() {
    for (addr, want) in [
        ("not-an-address", "is not a HOST:PORT address"),
        ("sctp://127.0.0.1:4739", "unknown transport `sctp://`"),
        ("tcp://127.0.0.1", "is not a HOST:PORT address"),
    ] {
        let out = antlab(&["flows", FLOWS, "--collector", addr]);
        assert_eq!(out.status.code(), Some(2), "{addr}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--collector") && err.contains(want),
            "{addr}: {err}"
        );
        assert!(
            out.stdout.is_empty(),
            "nothing runs before the address is known"
        );
    }
}

/// The node names of the flow-export scenario by observation domain.
fn domains() -> BTreeMap<u32, &'static str> {
    [
        "k8s-node-vm-1-cl-02",
        "k8s-node-vm-2-cl-02",
        "k8s-node-vm-3-cl-02",
        "k8s-cp-vm-1-cl-02",
        "k8s-cp-vm-2-cl-02",
        "k8s-cp-vm-3-cl-02",
    ]
    .iter()
    .map(|n| (observation_domain_id(n), *n))
    .collect()
}

/// Checks one agent session's messages as go-ipfix sends them: RFC 7011
/// headers, the template alone first, then one record per message with the
/// sequence counting the records before it. Returns the records seen.
fn check_session(msgs: &[Vec<u8>], templates_after_first: bool) -> usize {
    let u16_at = |m: &[u8], i: usize| u16::from_be_bytes([m[i], m[i + 1]]);
    let u32_at = |m: &[u8], i: usize| u32::from_be_bytes([m[i], m[i + 1], m[i + 2], m[i + 3]]);
    let ids = domains();
    assert!(!msgs.is_empty());
    let domain = u32_at(&msgs[0], 12);
    assert!(
        ids.contains_key(&domain),
        "unknown observation domain {domain:#x}"
    );
    assert_eq!(
        u16_at(&msgs[0], 16),
        2,
        "the session starts with the template"
    );
    let mut records = 0u32;
    for m in msgs {
        assert_eq!(u16_at(m, 0), 10);
        assert_eq!(usize::from(u16_at(m, 2)), m.len());
        assert_eq!(u32_at(m, 12), domain, "one domain per session");
        assert_eq!(u32_at(m, 8), records, "sequence = records sent before");
        let set = u16_at(m, 16);
        assert_eq!(
            usize::from(u16_at(m, 18)) + 16,
            m.len(),
            "one set per message"
        );
        if set == 2 {
            continue;
        }
        assert_eq!(set, 256);
        records += 1;
    }
    let templates = msgs.iter().filter(|m| u16_at(m, 16) == 2).count();
    if !templates_after_first {
        assert_eq!(templates, 1);
    }
    records as usize
}

/// Receives the IPFIX datagrams `antlab flows --collector` sends.
/// Runs `antlab flows --collector udp://...` against a loopback socket and
/// checks the sessions that arrived; returns the datagrams and the number of
/// records `flows` printed.
fn collect_udp() -> (Vec<Vec<u8>>, usize) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let addr = sock.local_addr().unwrap().to_string();
    let out = antlab(&[
        "flows",
        FLOWS,
        "-o",
        "json",
        "--collector",
        &format!("udp://{addr}"),
    ]);
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
    let mut by_domain: BTreeMap<u32, Vec<Vec<u8>>> = BTreeMap::new();
    for m in &msgs {
        let domain = u32::from_be_bytes([m[12], m[13], m[14], m[15]]);
        by_domain.entry(domain).or_default().push(m.clone());
    }
    // Every node's agent connects and sends its template, records or not.
    assert_eq!(by_domain.len(), 6, "one session per node");
    // A 40 s run: no 1800 s refresh, so one template per session.
    let seen: usize = by_domain.values().map(|m| check_session(m, false)).sum();
    assert_eq!(seen, n_records);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{n_records} record(s)")),
        "{stderr}"
    );
    (msgs, n_records)
}

#[test]
fn collector_receives_ipfix_per_node_over_udp() {
    let (msgs, n_records) = collect_udp();
    assert!(n_records > 0 && msgs.len() > n_records);
}

#[test]
fn tshark_is_here_under_ci() {
    needs::guard("tshark", needs::missing_tshark());
}

#[test]
#[ignore = "needs tshark (apt-get install tshark); run with --include-ignored, as CI does"]
fn tshark_decodes_the_collectors_ipfix() {
    needs::require(needs::missing_tshark());
    let (msgs, n_records) = collect_udp();
    tshark_check(&msgs, n_records, &domains());
}

/// `--collector tcp://...`: one TCP connection per agent, messages framed by
/// their length field on the stream.
#[test]
fn collector_receives_ipfix_per_node_over_tcp() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let mut streams = Vec::new();
        listener.set_nonblocking(false).unwrap();
        // The sender opens all six connections before it finishes.
        for _ in 0..6 {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut bytes = Vec::new();
            conn.read_to_end(&mut bytes).unwrap();
            streams.push(bytes);
        }
        streams
    });
    let out = antlab(&[
        "flows",
        FLOWS,
        "-o",
        "json",
        "--collector",
        &format!("tcp://{addr}"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n_records = String::from_utf8(out.stdout).unwrap().lines().count();
    let streams = server.join().unwrap();
    let mut seen = 0;
    for bytes in streams {
        // Split the stream by each message's length field (RFC 7011 §10.4.1).
        let mut msgs = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
            msgs.push(bytes[i..i + len].to_vec());
            i += len;
        }
        assert_eq!(i, bytes.len(), "whole messages only");
        seen += check_session(&msgs, false);
    }
    assert_eq!(seen, n_records);
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
