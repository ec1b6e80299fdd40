//! `ip link` / `ip addr` of a node (`report::iplink`) under each traffic mode
//! and tunnel setting: which devices appear, their order and MTUs.

use sim_core::engine::config::apply_antrea_config;
use sim_core::engine::{self, ClusterState, PodState};
use sim_core::k8s::{Object, parse_manifests};
use sim_core::model::Topology;
use sim_core::report::iplink::{IpView, ip_view, pod_interface_name};
use sim_core::sim::World;
use sim_core::topology::load_topology;

const NODE: &str = "k8s-node-vm-1-cl-02";

fn blog() -> Topology {
    load_topology(
        "blog-lab.yaml",
        include_str!("../../topologies/blog-lab.yaml"),
    )
    .unwrap()
}

/// The blog's lab with one Pod on [`NODE`], after `antrea-agent.conf` = `agent_conf`.
fn lab(agent_conf: &str) -> (Topology, World, ClusterState) {
    let topo = blog();
    let mut cluster = ClusterState::from_topology(&topo);
    let block: String = agent_conf.lines().map(|l| format!("    {l}\n")).collect();
    let cm = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: antrea-config\n  namespace: kube-system\ndata:\n  antrea-agent.conf: |\n{block}"
    );
    let Object::ConfigMap(cm) = parse_manifests("cm.yaml", &cm).unwrap().remove(0) else {
        panic!("not a ConfigMap")
    };
    apply_antrea_config(&mut cluster, &cm).unwrap();
    let mut w = World::new(&topo, 1);
    let ip = "10.30.67.5".parse().unwrap();
    cluster
        .add_pod(PodState {
            id: engine::PodId(0),
            namespace: "egress".into(),
            name: "ubuntu-20-04-59d474f9df-dv9ms".into(),
            node: cluster.node_id(NODE).unwrap(),
            ip,
            labels: Default::default(),
            tcp_listen: vec![],
            named_ports: vec![],
            l7_export: None,
            ready: true,
        })
        .unwrap();
    let node = w.device_id(NODE).unwrap();
    let pod = w
        .add_pod(node, "egress", "ubuntu-20-04-59d474f9df-dv9ms", ip, vec![])
        .unwrap();
    // As the CNI does when it plugs the Pod.
    w.set_mtu(pod, "eth0", cluster.pod_mtu());
    for (name, dp) in engine::compile(&cluster) {
        let id = w.device_id(&name).unwrap();
        w.apply_dataplane(id, &dp).unwrap();
    }
    (topo, w, cluster)
}

/// (ifindex, name, mtu) of every `ip link` entry.
fn links(agent_conf: &str) -> Vec<(u32, String, u32)> {
    let (topo, w, cluster) = lab(agent_conf);
    let text = ip_view(&w, &cluster, &topo, NODE, IpView::Link).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.starts_with(' '))
        .map(|l| {
            let (idx, rest) = l.split_once(": ").unwrap();
            let (name, rest) = rest.split_once(": ").unwrap();
            let mtu = rest.split_whitespace().skip_while(|w| *w != "mtu").nth(1);
            (
                idx.parse().unwrap(),
                name.to_string(),
                mtu.unwrap().parse().unwrap(),
            )
        })
        .collect()
}

fn names(l: &[(u32, String, u32)]) -> Vec<&str> {
    l.iter().map(|(_, n, _)| n.as_str()).collect()
}

fn mtu_of(l: &[(u32, String, u32)], name: &str) -> u32 {
    l.iter().find(|(_, n, _)| n.starts_with(name)).unwrap().2
}

#[test]
fn default_geneve_encap_lists_the_tunnel_and_mtu_1450() {
    let l = links("{}");
    let veth = format!(
        "{}@if2",
        pod_interface_name("egress", "ubuntu-20-04-59d474f9df-dv9ms")
    );
    assert_eq!(
        names(&l),
        [
            "lo",
            "eth0",
            "ovs-system",
            "genev_sys_6081",
            "antrea-gw0",
            // The Egress controller's dummy device, there from the start.
            "antrea-egress0",
            veth.as_str()
        ]
    );
    assert!(veth.starts_with("ubuntu-2-"), "{veth}");
    let indexes: Vec<u32> = l.iter().map(|x| x.0).collect();
    assert_eq!(
        indexes,
        [1, 2, 3, 4, 5, 6, 7],
        "numbered by position from 1"
    );
    assert_eq!(mtu_of(&l, "genev_sys_6081"), 65000);
    assert_eq!(mtu_of(&l, "antrea-gw0"), 1450);
    assert_eq!(mtu_of(&l, "ubuntu-2-"), 1450);
    assert_eq!(mtu_of(&l, "eth0"), 1500);
}

#[test]
fn no_encap_has_no_tunnel_device_and_the_link_mtu() {
    let l = links("trafficEncapMode: noEncap");
    assert!(!names(&l).iter().any(|n| n.contains("_sys")), "{l:?}");
    assert_eq!(mtu_of(&l, "antrea-gw0"), 1500);
    assert_eq!(mtu_of(&l, "ubuntu-2-"), 1500);
}

#[test]
fn tunnel_type_port_and_default_mtu_show_up() {
    let l = links("trafficEncapMode: hybrid\ntunnelType: vxlan\ntunnelPort: 8472");
    assert!(names(&l).contains(&"vxlan_sys_8472"), "{l:?}");
    assert_eq!(mtu_of(&l, "antrea-gw0"), 1450);
    let l = links("tunnelType: gre");
    assert!(names(&l).contains(&"gre_sys"), "{l:?}");
    assert_eq!(mtu_of(&l, "antrea-gw0"), 1458);
    let l = links("defaultMTU: 1400");
    assert_eq!(mtu_of(&l, "antrea-gw0"), 1400);
    assert_eq!(mtu_of(&l, "ubuntu-2-"), 1400);
}

/// A Pod's host-side veth shows the MTU its Pod's `eth0` has (a veth's two
/// ends share one), not the agent's current setting: a Pod plugged before
/// the MTU changed keeps the MTU it was plugged with.
#[test]
fn a_pod_veth_shows_its_pods_mtu() {
    let (topo, mut w, cluster) = lab("defaultMTU: 1400");
    let pod = w.device_id("egress/ubuntu-20-04-59d474f9df-dv9ms").unwrap();
    w.set_mtu(pod, "eth0", 1300);
    let text = ip_view(&w, &cluster, &topo, NODE, IpView::Link).unwrap();
    let veth = pod_interface_name("egress", "ubuntu-20-04-59d474f9df-dv9ms");
    let line = text.lines().find(|l| l.contains(&veth)).unwrap();
    assert!(line.contains(" mtu 1300 "), "{line}");
    let gw = text.lines().find(|l| l.contains("antrea-gw0")).unwrap();
    assert!(gw.contains(" mtu 1400 "), "{gw}");
}

#[test]
fn ip_addr_carries_the_addresses() {
    let (topo, w, cluster) = lab("{}");
    let text = ip_view(&w, &cluster, &topo, NODE, IpView::Addr).unwrap();
    assert!(
        text.contains("    inet 127.0.0.1/8 scope host lo\n"),
        "{text}"
    );
    assert!(
        text.contains("    inet 10.160.1.25/24 brd 10.160.1.255 scope global eth0\n"),
        "{text}"
    );
    assert!(
        text.contains("    inet 10.30.67.1/24 brd 10.30.67.255 scope global antrea-gw0\n"),
        "{text}"
    );
    assert!(!text.contains("mode DEFAULT"), "{text}");
}

#[test]
fn only_nodes_have_the_view() {
    let (topo, w, cluster) = lab("{}");
    for dev in ["ext-vm", "egress/ubuntu-20-04-59d474f9df-dv9ms", "nope"] {
        assert!(
            ip_view(&w, &cluster, &topo, dev, IpView::Link).is_err(),
            "{dev}"
        );
    }
}
