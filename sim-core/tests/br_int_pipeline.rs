//! `options.brInt: pipeline` on the blog's lab: every node's br-int executes
//! its compiled Antrea program; Pod traffic between nodes crosses the
//! physical network in Geneve, Services are DNATed in br-int.

mod support;

use std::path::PathBuf;

use sim_core::scenario::run::{Outcome, RunOptions};
use sim_core::scenario::{self, Scenario};
use sim_core::sim::trace::LogKind;
use sim_core::time::{SimDuration, SimTime};
use sim_core::wire::{self, L4, geneve};
use support::pcap_frames;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(text: &str) -> Result<Scenario, sim_core::input::InputError> {
    support::scenarios::load_text("s.yaml", text)
}

/// The yelb-ui Pods on three nodes and a client Pod (egress/other-pod,
/// 10.30.67.x on k8s-node-vm-1-cl-02) that pings a yelb-ui Pod on
/// k8s-node-vm-2-cl-02 (10.30.68.6) and opens TCP to the ClusterIP.
fn scenario_text(br_int: &str) -> String {
    format!(
        "name: br-int-pipeline
topology: ../topologies/blog-lab.yaml
seed: 1
until: 6s
options: {{brInt: {br_int}}}
steps:
  - at: 0s
    apply: {{file: manifests/blog-antrea-config.yaml}}
  - at: 0s
    apply: {{file: manifests/yelb-ui.yaml}}
  - at: 0s
    apply: {{file: manifests/unselected-pod.yaml}}
  - at: 1s
    probe: {{name: pod-to-pod, from: pod/egress/other-pod, to: 10.30.68.6, interval: 200ms}}
  - at: 1s
    probe: {{name: clusterip, from: pod/egress/other-pod, to: 10.30.48.237, kind: tcp, port: 80, interval: 250ms}}
  - at: 5s
    expect:
      - {{probe: pod-to-pod, last: ok, maxOutage: 0s}}
      - {{probe: clusterip, last: ok, maxOutage: 0s}}
"
    )
}

fn run(br_int: &str, seed: u64) -> Outcome {
    let scn = load(&scenario_text(br_int)).unwrap_or_else(|e| panic!("{e}"));
    scenario::run::run(&scn, seed, &RunOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn pod_to_remote_pod_goes_through_geneve_between_the_nodes() {
    let o = run("pipeline", 1);
    for e in &o.expectations {
        assert!(e.passed, "{}", e.message);
    }
    let p = o.world.probe("pod-to-pod").expect("probe");
    let a = p.last_finished().expect("an answer");
    assert!(a.ok(), "{:?}\n{:#?}", a.verdict, a.path);
    assert_eq!(a.seen_by.as_deref(), Some("yelb/yelb-ui-f544fc74f-mb5m6"));
    // Frames on the nodes' uplinks: Geneve between node IPs, Pod IPs inside.
    let node1 = "10.160.1.25".parse().unwrap();
    let node2 = "10.160.1.26".parse().unwrap();
    let client = o
        .world
        .host_ip(o.world.device_id("egress/other-pod").unwrap())
        .unwrap();
    let server = "10.30.68.6".parse().unwrap();
    let mut seen = 0;
    for e in o.world.log().iter().filter(|e| e.kind == LogKind::Frame) {
        // Only frames received by the node (its uplink), not br-int's.
        if e.device == "k8s-node-vm-2-cl-02" && e.message.contains(".6081 UDP") {
            seen += 1;
        }
    }
    assert!(seen > 0, "no Geneve frames reached k8s-node-vm-2-cl-02");
    // The bytes: capture the uplink of node 2.
    let scn = load(&scenario_text("pipeline")).unwrap();
    let o2 = scenario::run::run(
        &scn,
        1,
        &RunOptions {
            capture: true,
            stop_at: None,
        },
    )
    .unwrap();
    let (_, pcap) = o2
        .world
        .captures()
        .into_iter()
        .find(|(name, _)| name == "k8s-node-vm-2-cl-02_eth0.pcap")
        .expect("a capture of node 2's uplink");
    let frames = pcap_frames(pcap);
    let mut geneve_pings = 0;
    for f in &frames {
        let Ok(d) = geneve::decapsulate(f) else {
            continue;
        };
        assert!(
            [(node1, node2), (node2, node1)].contains(&(d.outer_src, d.outer_dst)),
            "{d:?}"
        );
        let (_, inner_ip) = wire::parse_eth(d.inner).unwrap();
        let inner = wire::Ipv4Pkt::parse(inner_ip).unwrap();
        if matches!(inner.l4, L4::IcmpEcho { .. }) {
            assert!(
                [(client, server), (server, client)].contains(&(inner.src, inner.dst)),
                "{inner:?}"
            );
            geneve_pings += 1;
        }
    }
    assert!(geneve_pings >= 2, "{geneve_pings} Geneve ICMP frames");
    // No Pod address in the clear on the uplink.
    for f in &frames {
        if let Ok((_, ip)) = wire::parse_eth(f)
            && let Ok(pkt) = wire::Ipv4Pkt::parse(ip)
        {
            assert!(
                ![client, server].contains(&pkt.src) && ![client, server].contains(&pkt.dst),
                "{pkt:?}"
            );
        }
    }
}

#[test]
fn without_the_option_pod_traffic_is_routed_natively() {
    let mut o = run("switch", 1);
    for e in &o.expectations {
        assert!(e.passed, "{}", e.message);
    }
    let node2 = o.world.device_id("k8s-node-vm-2-cl-02").unwrap();
    assert!(o.world.br_int_program(node2).is_none());
    let udp_6081 = o
        .world
        .log()
        .iter()
        .any(|e| e.kind == LogKind::Frame && e.message.contains("6081"));
    assert!(!udp_6081, "Geneve without the option");
}

#[test]
fn clusterip_with_a_remote_endpoint_is_dnated_in_br_int_and_counters_move() {
    let mut o = run("pipeline", 1);
    let p = o.world.probe("clusterip").expect("probe");
    let a = p.last_finished().expect("an answer");
    assert!(a.ok(), "{:?}\n{:#?}", a.verdict, a.path);
    // The client saw replies from the ClusterIP (the judge refuses others).
    let answerers: std::collections::BTreeSet<String> = p
        .attempts()
        .iter()
        .filter_map(|a| a.seen_by.clone())
        .collect();
    assert!(
        answerers.contains("yelb/yelb-ui-f544fc74f-mb5m6")
            || answerers.contains("yelb/yelb-ui-f544fc74f-r48rx"),
        "a remote endpoint answered: {answerers:?}"
    );
    // The host stack of the client's node did not DNAT: no Service
    // conntrack entry on the node for the ClusterIP.
    let node1 = o.world.device_id("k8s-node-vm-1-cl-02").unwrap();
    let prog = o.world.br_int_program(node1).expect("loaded");
    let dump = prog.dump_flows(sim_core::openflow::Style::Names);
    let moved = |needle: &str| {
        dump.lines()
            .filter(|l| l.contains(needle))
            .any(|l| !l.contains("n_packets=0,"))
    };
    assert!(moved("table=EndpointDNAT"), "{dump}");
    assert!(moved("table=Output"), "{dump}");
    let (groups_hit, _) = (1..=64u32)
        .filter_map(|g| prog.group_counters(g))
        .fold((0, 0), |(p, b), (gp, gb)| (p + gp, b + gb));
    assert!(groups_hit > 0, "the Service's group counted packets");
}

/// `scenario_text("pipeline")` with the probes stopped at 3 s and
/// `k8s-node-vm-1-cl-02` (the client's node) off at 4 s, on at 4.5 s.
fn power_cycle_text() -> String {
    scenario_text("pipeline").replace(
        "  - at: 5s\n    expect:",
        "  - at: 3s\n    stopProbe: pod-to-pod
  - at: 3s\n    stopProbe: clusterip
  - at: 4s\n    power: {device: k8s-node-vm-1-cl-02, state: off}
  - at: 4500ms\n    power: {device: k8s-node-vm-1-cl-02, state: on}
  - at: 5s\n    expect:",
    )
}

fn ms(n: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_millis(n)
}

/// (n_packets of every flow, of every group) of `node`'s br-int program.
fn packets(world: &mut sim_core::sim::World, node: sim_core::model::DeviceId) -> (u64, u64) {
    packets_of(world.br_int_program(node).expect("loaded"))
}

/// (n_packets of every flow, of every group) of program `p`.
fn packets_of(p: &sim_core::openflow::Program) -> (u64, u64) {
    let flows = p.flows().map(|(_, n, _)| n).sum();
    let groups = (0..=1024u32)
        .filter_map(|g| p.group_counters(g))
        .map(|(n, _)| n)
        .sum();
    (flows, groups)
}

/// A power cycle is a cold boot of the node's br-int: OVS's conntrack,
/// counters and learned flows are gone, and the agent's next load installs
/// the program from scratch even when it is the very program the br-int
/// ran before (here: the same cluster state, the same text).
#[test]
fn a_power_cycle_clears_br_int_conntrack_and_counters_even_for_the_same_program() {
    use sim_core::engine::pipeline::{self, inspect};
    let scn = load(&power_cycle_text()).unwrap_or_else(|e| panic!("{e}"));
    // The probes have run and stopped; the node is still up at 3.9 s.
    let opts = RunOptions {
        capture: false,
        stop_at: Some(ms(3900)),
    };
    let mut o = scenario::run::run(&scn, 1, &opts).unwrap_or_else(|e| panic!("{e}"));
    let name = "k8s-node-vm-1-cl-02";
    let node = o.world.device_id(name).unwrap();
    // The client's TCP connections to the ClusterIP sit in br-int's
    // conntrack; flows and the Service's group counted packets.
    assert!(o.world.br_int_conntrack_len(node).unwrap() > 0);
    let (flows, groups) = packets(&mut o.world, node);
    assert!(flows > 0 && groups > 0, "{flows} {groups}");
    let before = o.world.br_int_program(node).unwrap().bundle_text();
    // The program the agent installs, as the runner's loader builds it.
    let id = o.cluster.node_id(name).unwrap();
    let program = || inspect::program(&pipeline::node_pipeline(&o.cluster, name).unwrap()).unwrap();
    let pods: Vec<(u32, String)> = pipeline::pods_by_ofport(&o.cluster, id)
        .map(|(ofport, p)| (ofport, format!("{}/{}", p.namespace, p.name)))
        .collect();
    let ip = o.cluster.node(id).ip;
    // While the node is up, loading the same program again changes nothing.
    let same = program();
    assert_eq!(same.bundle_text(), before);
    assert_eq!(
        o.world.load_br_int_program(node, same, ip, &pods),
        Ok(false)
    );
    assert!(o.world.br_int_conntrack_len(node).unwrap() > 0);

    o.world.set_power(node, false);
    o.world.set_power(node, true);
    // Up again, before the agent has installed anything: no flows, no
    // connections.
    assert_eq!(o.world.br_int_program(node).unwrap().flow_count(), 0);
    assert_eq!(o.world.br_int_conntrack_len(node), Some(0));
    let again = program();
    assert_eq!(again.bundle_text(), before, "the same program");
    assert_eq!(
        o.world.load_br_int_program(node, again, ip, &pods),
        Ok(true),
        "installed again after the cold boot"
    );
    assert_eq!(o.world.br_int_conntrack_len(node), Some(0));
    assert_eq!(
        packets(&mut o.world, node),
        (0, 0),
        "counters start from zero"
    );
    assert_eq!(o.world.br_int_program(node).unwrap().bundle_text(), before);
}

/// The same through the scenario's power steps (the runner reloads the
/// program when the node powers on; its Pods are re-created with new
/// addresses, so the text differs): the reloaded br-int has an empty
/// conntrack and counters from zero, where a program changed while the
/// node is up would keep its conntrack.
#[test]
fn a_node_powered_on_by_a_step_starts_with_an_empty_br_int_conntrack() {
    let scn = load(&power_cycle_text()).unwrap_or_else(|e| panic!("{e}"));
    let mut r = scenario::run::Runner::start(scn, 1, false).unwrap_or_else(|e| panic!("{e}"));
    let node = r.outcome().world.device_id("k8s-node-vm-1-cl-02").unwrap();
    r.advance_to(ms(3900)).unwrap();
    assert!(r.outcome().world.br_int_conntrack_len(node).unwrap() > 0);
    assert_ne!(packets_of(r.br_int_program(node).unwrap()), (0, 0));
    r.advance_to(ms(4500)).unwrap();
    assert!(r.outcome().world.device(node).powered());
    let program = r.br_int_program(node).unwrap();
    assert!(program.flow_count() > 0, "loaded");
    assert_eq!(packets_of(program), (0, 0));
    assert_eq!(r.outcome().world.br_int_conntrack_len(node), Some(0));
}

#[test]
fn the_same_seed_gives_the_same_log() {
    let a = run("pipeline", 7);
    let b = run("pipeline", 7);
    let ja = serde_json::to_string(a.world.log()).unwrap();
    let jb = serde_json::to_string(b.world.log()).unwrap();
    assert_eq!(ja, jb);
    assert!(ja.contains("br-int program installed"));
}

#[test]
fn a_bad_br_int_value_is_refused_where_it_is_written() {
    let e = load(&scenario_text("ovs")).unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("s.yaml", 5), "{e}");
    assert!(
        e.message
            .contains("options.brInt must be switch or pipeline, not `ovs`"),
        "{e}"
    );
}

/// The shipped failover (Geneve, the default): while the Egress IP is on vm-2, the Pod on
/// vm-1 reaches it through a Geneve tunnel whose outer destination is the
/// Egress IP itself; once vm-1 holds the IP (vm-2 is off from 10 s, the IP
/// moves at about 15.2 s, vm-2 is back at 40 s) no tunnel carries the Pod's
/// traffic to it; every expectation holds.
#[test]
fn remote_egress_traffic_is_tunnelled_to_the_egress_ip_and_stops_after_failover() {
    let path = repo().join("scenarios/egress-vlan-failover.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let scn = load(&text).unwrap_or_else(|e| panic!("{e}"));
    let o = scenario::run::run(&scn, 1, &RunOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    for e in &o.expectations {
        assert!(e.passed, "{}", e.message);
    }
    let egress_tunnel = "10.160.1.25.";
    let to_egress_ip = "> 172.18.181.40.6081 UDP";
    let times: Vec<u64> = o
        .world
        .log()
        .iter()
        .filter(|e| {
            e.kind == LogKind::Frame
                && e.device == "k8s-node-vm-2-cl-02"
                && e.message.contains(egress_tunnel)
                && e.message.contains(to_egress_ip)
        })
        .map(|e| e.time.as_nanos())
        .collect();
    let s = 1_000_000_000u64;
    assert!(
        times.iter().any(|&t| t < 10 * s),
        "tunnelled before the failover"
    );
    assert!(
        times.iter().any(|&t| t > 40 * s),
        "tunnelled again once vm-2 is back"
    );
    assert!(
        !times.iter().any(|&t| (16 * s..40 * s).contains(&t)),
        "no tunnel to the Egress IP while vm-1 holds it: {times:?}"
    );
}

/// Shipped scenarios whose expectations describe the Geneve path of the
/// default mode, with what differs when br-int is a switch and Pod traffic
/// is routed natively (`options.brInt: switch`; each scenario's comment).
const ENCAP_ONLY: &[(&str, &str)] = &[
    (
        "egress-trunk-misconfig.yaml",
        "natively the SNATed packets die at vmbr0's VLAN check, not at core-sw's ARP for the tunnel",
    ),
    (
        "feature-gates.yaml",
        "natively the replies are the ones lost to core-sw's ARP, so the reason is ARP, not a timeout",
    ),
    (
        "proxyall-with-kube-proxy.yaml",
        "natively a remote endpoint is reached through eth0, so it sees the node IP, not antrea-gw0's address",
    ),
    (
        "network-policy.yaml",
        "a MAC-learning br-int holds no policy rules: NetworkPolicies are enforced by the program only",
    ),
    (
        "flow-export.yaml",
        "its last step is a ClusterNetworkPolicy Drop, and a MAC-learning br-int holds no policy rules",
    ),
    (
        "dsr.yaml",
        "natively the host load-balances the NAT Service and masquerades it, so the endpoint sees the node IP, not antrea-gw0's address",
    ),
    (
        "mtu.yaml",
        "natively nothing is encapsulated, so Pods and antrea-gw0 keep 1500 and a 1451-byte ping fits",
    ),
    (
        "mtu-misconfigured.yaml",
        "natively there is no Geneve header to push a 1500-byte packet past the uplink's MTU",
    ),
    (
        "traffic-control.yaml",
        "TrafficControl lives in br-int's program: a MAC-learning br-int neither mirrors nor redirects",
    ),
];

/// The simpler lab stays usable: every other shipped scenario keeps all its
/// expectations with br-int as a switch and Pod traffic routed natively.
#[test]
fn shipped_scenarios_hold_their_expectations_with_br_int_as_a_switch() {
    let dir = repo().join("scenarios");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    let mut ran = 0;
    let mut failures = Vec::new();
    for name in &names {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let text = if text.contains("\n  brInt: switch") {
            text
        } else if text.contains("\n  brInt: pipeline") {
            text.replacen("\n  brInt: pipeline", "\n  brInt: switch", 1)
        } else if text.contains("\noptions:\n") {
            text.replacen("\noptions:\n", "\noptions:\n  brInt: switch\n", 1)
        } else {
            text.replacen("\nsteps:\n", "\noptions:\n  brInt: switch\nsteps:\n", 1)
        };
        let scn = load(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            scn.br_int,
            sim_core::engine::dataplane::BrIntMode::Switch,
            "{name}"
        );
        let o = scenario::run::run(&scn, 1, &RunOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let failed: Vec<&str> = o
            .expectations
            .iter()
            .filter(|e| !e.passed)
            .map(|e| e.message.as_str())
            .collect();
        let encap_only = ENCAP_ONLY.iter().any(|(n, _)| n == name);
        match (failed.is_empty(), encap_only) {
            (true, false) => ran += 1,
            (false, false) => failures.push(format!("{name}: {}", failed.join("; "))),
            (true, true) => failures.push(format!(
                "{name} now passes with brInt: switch; take it off ENCAP_ONLY"
            )),
            (false, true) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(ran >= 20, "{ran} scenarios ran");
}
