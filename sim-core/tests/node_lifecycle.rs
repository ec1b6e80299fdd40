//! Node lifecycle (`scenario::node_lifecycle`): a node cut off by a link goes
//! NotReady after node-monitor-grace-period like a powered-off one; a node
//! powered back on re-creates its Pods with new host-local IPs, Ready after
//! the kubelet's startup; endpoints follow Pod readiness; only agents that
//! reach the API server write Egress status.

use std::net::Ipv4Addr;

use sim_core::engine::holders;
use sim_core::report;
use sim_core::scenario::{self, run::Runner};
use sim_core::time::{SimDuration, SimTime};

const TOPOLOGY: &str = include_str!("../../topologies/blog-lab.yaml");
const CONFIG: &str = include_str!("../../scenarios/manifests/blog-antrea-config.yaml");
const POD: &str = include_str!("../../scenarios/manifests/egress-ubuntu-pod.yaml");
const POOL: &str = include_str!("../../scenarios/manifests/blog-egress-vlan-pool.yaml");
const EGRESS: &str = include_str!("../../scenarios/manifests/blog-egress-vlan.yaml");
const VM1: &str = "k8s-node-vm-1-cl-02";
const VM2: &str = "k8s-node-vm-2-cl-02";

/// Two `web` Pods on VM1 (host-local IPs) behind a ClusterIP Service.
const APP: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: app\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web-1\n  namespace: app\n  labels: {app: web}\nspec:\n  nodeName: k8s-node-vm-1-cl-02\n  containers:\n  - name: web\n    ports:\n    - containerPort: 8080\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web-2\n  namespace: app\n  labels: {app: web}\nspec:\n  nodeName: k8s-node-vm-1-cl-02\n  containers:\n  - name: web\n    ports:\n    - containerPort: 8080\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: app\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n    targetPort: 8080\n";

fn runner(steps: &str, until: &str) -> Runner {
    let text = format!(
        "name: lifecycle\ntopology: lab.yaml\nuntil: {until}\nsteps:\n  - at: 0s\n    apply: {{file: config.yaml}}\n{steps}"
    );
    let mut read = |name: &str| -> Result<(String, String), String> {
        let body = match name {
            "lab.yaml" => TOPOLOGY,
            "config.yaml" => CONFIG,
            "app.yaml" => APP,
            "pod.yaml" => POD,
            "pool.yaml" => POOL,
            "egress.yaml" => EGRESS,
            other => return Err(format!("no file {other}")),
        };
        Ok((name.into(), body.into()))
    };
    let scn = scenario::load("lifecycle.yaml", &text, &mut read).expect("valid scenario");
    Runner::start(scn, 1, false).expect("starts")
}

fn at(ms: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_millis(ms)
}

fn node_ready(r: &Runner, node: &str) -> bool {
    r.outcome().cluster.node_by_name(node).unwrap().ready
}

fn pod(r: &Runner, name: &str) -> (Ipv4Addr, bool) {
    let p = r.outcome().cluster.pod_by_name("app", name).unwrap();
    (p.ip, p.ready)
}

/// The ENDPOINTS cell of `app/web`.
fn endpoints(r: &Runner) -> String {
    report::endpoints(&r.outcome().cluster)
        .lines()
        .find(|l| l.starts_with("app "))
        .unwrap()
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_string()
}

#[test]
fn a_node_cut_off_by_a_link_goes_not_ready_after_the_grace_period() {
    let mut r = runner(
        "  - at: 0s\n    apply: {file: app.yaml}\n  - at: 5s\n    link: {port: k8s-node-vm-1-cl-02/eth0, state: down}\n  - at: 60s\n    link: {port: k8s-node-vm-1-cl-02/eth0, state: up}\n",
        "80s",
    );
    r.advance_to(at(1000)).unwrap();
    let (ip1, _) = pod(&r, "web-1");
    let (ip2, _) = pod(&r, "web-2");
    assert_eq!(endpoints(&r), format!("{ip1}:8080,{ip2}:8080"));
    // Cut at 5 s: still Ready 40 s later minus a bit ...
    r.advance_to(at(44_900)).unwrap();
    assert!(node_ready(&r, VM1));
    assert_eq!(pod(&r, "web-1"), (ip1, true));
    // ... NotReady at 45 s, its Pods out of the endpoints.
    r.advance_to(at(45_100)).unwrap();
    assert!(!node_ready(&r, VM1));
    assert_eq!(pod(&r, "web-1"), (ip1, false));
    assert_eq!(endpoints(&r), "<none>");
    // Link back at 60 s: Ready at the next status update, same Pods, same IPs.
    r.advance_to(at(69_900)).unwrap();
    assert!(!node_ready(&r, VM1));
    r.advance_to(at(70_100)).unwrap();
    assert!(node_ready(&r, VM1));
    assert_eq!(pod(&r, "web-1"), (ip1, true));
    assert_eq!(endpoints(&r), format!("{ip1}:8080,{ip2}:8080"));
}

#[test]
fn a_short_cut_leaves_the_node_ready() {
    let mut r = runner(
        "  - at: 0s\n    apply: {file: app.yaml}\n  - at: 5s\n    link: {port: k8s-node-vm-1-cl-02/eth0, state: down}\n  - at: 30s\n    link: {port: k8s-node-vm-1-cl-02/eth0, state: up}\n",
        "60s",
    );
    r.advance_to(at(60_000)).unwrap();
    assert!(node_ready(&r, VM1));
    assert!(
        !r.outcome()
            .world
            .log()
            .iter()
            .any(|l| l.message.contains("is NotReady"))
    );
}

#[test]
fn a_node_powered_back_on_recreates_its_pods_with_new_ips() {
    let mut r = runner(
        "  - at: 0s\n    apply: {file: app.yaml}\n  - at: 5s\n    power: {device: k8s-node-vm-1-cl-02, state: off}\n  - at: 60s\n    power: {device: k8s-node-vm-1-cl-02, state: on}\n",
        "80s",
    );
    r.advance_to(at(1000)).unwrap();
    let (ip1, _) = pod(&r, "web-1");
    let (ip2, _) = pod(&r, "web-2");
    assert_eq!(
        (ip1, ip2),
        ("10.30.67.2".parse().unwrap(), "10.30.67.3".parse().unwrap())
    );
    r.advance_to(at(50_000)).unwrap();
    assert!(!node_ready(&r, VM1));
    assert_eq!(endpoints(&r), "<none>");
    // Powered on at 60 s: new sandboxes, host-local's next addresses, not
    // Ready; the node is not Ready either.
    r.advance_to(at(60_000)).unwrap();
    let (new1, ready1) = pod(&r, "web-1");
    let (new2, _) = pod(&r, "web-2");
    assert_eq!(
        (new1, new2),
        ("10.30.67.4".parse().unwrap(), "10.30.67.5".parse().unwrap())
    );
    assert!(!ready1);
    assert!(!node_ready(&r, VM1));
    assert_eq!(endpoints(&r), "<none>");
    // The world's Pod answers on its new address.
    let w = &r.outcome().world;
    let id = w.device_id("app/web-1").unwrap();
    assert!(w.device(id).stack().unwrap().is_local(new1));
    assert!(!w.device(id).stack().unwrap().is_local(ip1));
    // Ready after the kubelet's startup.
    r.advance_to(at(69_900)).unwrap();
    assert_eq!(endpoints(&r), "<none>");
    r.advance_to(at(70_100)).unwrap();
    assert!(node_ready(&r, VM1));
    assert_eq!(endpoints(&r), format!("{new1}:8080,{new2}:8080"));
}

#[test]
fn an_agent_cut_off_from_the_api_server_writes_no_status() {
    // egress-vlan lives on VM2; cut VM2's uplink: its memberlist sees no
    // one and keeps the IP, the others move it to VM1. Only VM1 can write.
    let steps = format!(
        "  - at: 0s\n    apply: {{file: pod.yaml}}\n  - at: 0s\n    apply: {{file: pool.yaml}}\n{}  - at: 1s\n    apply: {{file: egress.yaml}}\n  - at: 5s\n    link: {{port: k8s-node-vm-2-cl-02/eth0, state: down}}\n",
        ["k8s-node-vm-1-cl-02", VM2, "k8s-node-vm-3-cl-02"]
            .iter()
            .map(|w| format!(
                "  - at: 0s\n    label: {{node: {w}, set: egress-role=egress-node}}\n"
            ))
            .collect::<String>()
    );
    let mut r = runner(&steps, "30s");
    r.advance_to(at(3000)).unwrap();
    let status = |r: &Runner| {
        r.outcome().cluster.egress.egresses["egress-vlan"]
            .status
            .egress_node
            .clone()
    };
    assert_eq!(status(&r).as_deref(), Some(VM2));
    r.advance_to(at(25_000)).unwrap();
    let holders = holders::egress_holders(&r.outcome().cluster, "egress-vlan");
    assert_eq!(
        holders,
        vec![VM1.to_string(), VM2.to_string()],
        "split brain"
    );
    assert_eq!(status(&r).as_deref(), Some(VM1));
}
