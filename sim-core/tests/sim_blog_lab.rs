//! The simulator on the blog's lab, driven directly (no scenario file).

use sim_core::engine::{self, ClusterState, PodState};
use sim_core::model::Topology;
use sim_core::sim::World;
use sim_core::sim::probe::{ProbeKind, ProbeSpec, Verdict};
use sim_core::time::{SimDuration, SimTime};
use sim_core::topology::load_topology;

fn blog() -> Topology {
    load_topology(
        "blog-lab.yaml",
        include_str!("../../topologies/blog-lab.yaml"),
    )
    .unwrap()
}

fn secs(s: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs(s)
}

/// A world with one Pod on k8s-node-vm-1-cl-02 and the engine's dataplane applied.
fn world_with_pod(seed: u64) -> (World, ClusterState) {
    let topo = blog();
    let mut cluster = ClusterState::from_topology(&topo);
    // The World here is built by hand, with br-int as a switch (nothing
    // loads a program): the cluster must route as that lab does.
    cluster.set_br_int_mode(engine::dataplane::BrIntMode::Switch);
    let mut w = World::new(&topo, seed);
    let ip = "10.30.67.5".parse().unwrap();
    cluster
        .add_pod(PodState {
            id: engine::PodId(0),
            namespace: "egress".into(),
            name: "ubuntu".into(),
            node: cluster.node_id("k8s-node-vm-1-cl-02").unwrap(),
            ip,
            labels: Default::default(),
            tcp_listen: vec![],
            named_ports: vec![],
            l7_export: None,
            ready: true,
        })
        .unwrap();
    let node = w.device_id("k8s-node-vm-1-cl-02").unwrap();
    w.add_pod(node, "egress", "ubuntu", ip, vec![]).unwrap();
    for (name, dp) in engine::compile(&cluster) {
        let id = w.device_id(&name).unwrap();
        w.apply_dataplane(id, &dp).unwrap();
    }
    (w, cluster)
}

fn ping(w: &World, from: &str, to: &str, name: &str) -> ProbeSpec {
    ProbeSpec {
        name: name.into(),
        from: w.device_id(from).unwrap(),
        from_label: from.into(),
        to: to.parse().unwrap(),
        to_label: to.into(),
        kind: ProbeKind::Ping,
        interval: SimDuration::from_millis(200),
        timeout: SimDuration::from_secs(1),
        count: None,
        size: None,
    }
}

#[test]
fn pod_pings_external_vm_masqueraded_to_its_node_on_vlan_216() {
    let (mut w, _) = world_with_pod(1);
    w.start_probe(ping(&w, "egress/ubuntu", "10.200.0.10", "pod-to-ext"))
        .unwrap();
    w.run_until(secs(3));
    let p = w.probe("pod-to-ext").unwrap();
    let last = p.last_finished().unwrap();
    assert!(last.ok(), "{:?}\n{:#?}", last.verdict, last.path);
    assert_eq!(last.seen_src, Some("10.160.1.25".parse().unwrap()));
    assert_eq!(last.seen_by.as_deref(), Some("ext-vm"));
    assert!(
        last.request_vlans().contains(&216),
        "{:?}",
        last.request_vlans()
    );
    assert!(!last.request_vlans().contains(&181));
    assert!(p.stats().ok >= 10);
}

#[test]
fn powering_off_the_pods_node_fails_the_probe_with_a_clear_reason() {
    let (mut w, _) = world_with_pod(1);
    w.start_probe(ping(&w, "ext-vm", "10.160.1.25", "ext-to-node"))
        .unwrap();
    w.run_until(secs(2));
    assert!(
        w.probe("ext-to-node")
            .unwrap()
            .last_finished()
            .unwrap()
            .ok()
    );
    let node = w.device_id("k8s-node-vm-1-cl-02").unwrap();
    w.set_power(node, false);
    w.run_until(secs(5));
    let last = w
        .probe("ext-to-node")
        .unwrap()
        .last_finished()
        .unwrap()
        .clone();
    match &last.verdict {
        Verdict::Fail { reason } => assert!(reason.contains("powered off"), "{reason}"),
        v => panic!("expected failure, got {v:?}"),
    }
    // The switch still has the dead node's ARP entry: nothing told it.
    let core = w.device_id("core-sw").unwrap();
    let arp = w
        .device(core)
        .stack()
        .unwrap()
        .arp()
        .lookup(w.now(), "10.160.1.25".parse().unwrap());
    assert!(arp.is_some());
    w.set_power(node, true);
    w.run_until(secs(8));
    assert!(
        w.probe("ext-to-node")
            .unwrap()
            .last_finished()
            .unwrap()
            .ok()
    );
}

#[test]
fn link_down_and_pod_to_pod_across_nodes() {
    let (mut w, _) = world_with_pod(1);
    let node2 = w.device_id("k8s-node-vm-2-cl-02").unwrap();
    w.add_pod(
        node2,
        "egress",
        "web",
        "10.30.68.3".parse().unwrap(),
        vec![80],
    )
    .unwrap();
    let mut tcp = ping(&w, "egress/ubuntu", "10.30.68.3", "pod-to-pod");
    tcp.kind = ProbeKind::Tcp { port: 80 };
    w.start_probe(tcp).unwrap();
    w.run_until(secs(2));
    let last = w
        .probe("pod-to-pod")
        .unwrap()
        .last_finished()
        .unwrap()
        .clone();
    assert!(last.ok(), "{:?} {:#?}", last.verdict, last.path);
    // Pod to Pod is not masqueraded.
    assert_eq!(last.seen_src, Some("10.30.67.5".parse().unwrap()));
    let port = w.find_port("k8s-node-vm-2-cl-02/eth0").unwrap();
    w.set_link(port, false).unwrap();
    w.run_until(secs(4));
    let last = w
        .probe("pod-to-pod")
        .unwrap()
        .last_finished()
        .unwrap()
        .clone();
    match &last.verdict {
        Verdict::Fail { reason } => assert!(reason.contains("link down"), "{reason}"),
        v => panic!("expected failure, got {v:?}"),
    }
}

#[test]
fn closed_port_is_refused() {
    let (mut w, _) = world_with_pod(1);
    let mut tcp = ping(&w, "egress/ubuntu", "10.200.0.10", "closed");
    tcp.kind = ProbeKind::Tcp { port: 443 };
    w.start_probe(tcp).unwrap();
    w.run_until(secs(1));
    let last = w.probe("closed").unwrap().last_finished().unwrap().clone();
    match &last.verdict {
        Verdict::Fail { reason } => assert!(reason.contains("refused"), "{reason}"),
        v => panic!("expected failure, got {v:?}"),
    }
}
