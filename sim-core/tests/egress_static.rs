//! Static Egress (`egressIP`, no `externalIPPool`) as Antrea's agent
//! handles it (`pkg/agent/controller/egress/egress_controller.go` v1.15.0
//! and v2.7.0: `isEgressSchedulable`, `localIPDetector.IsLocalIP`,
//! `realizeEgressIP`, `updateEgressStatus`; `snatRuleFlow` in
//! `pkg/agent/openflow/pipeline.go`), and the controller
//! (`pkg/controller/egress/controller.go`: `syncEgressIP`,
//! `updateEgressAllocatedCondition`).

use std::net::Ipv4Addr;

use sim_core::engine::dataplane::SnatTo;
use sim_core::engine::holders;
use sim_core::engine::{self, dataplane::NodeDataplane, egress_status::EgressStatus};
use sim_core::scenario::{self, run::Runner};
use sim_core::time::{SimDuration, SimTime};

const TOPOLOGY: &str = include_str!("../../topologies/blog-lab.yaml");
const POD: &str = include_str!("../../scenarios/manifests/egress-ubuntu-pod.yaml");
const OTHER_POD: &str = include_str!("../../scenarios/manifests/unselected-pod.yaml");
const STATIC: &str = include_str!("../../scenarios/manifests/static-egress.yaml");
const POOL: &str = include_str!("../../scenarios/manifests/node-subnet-egress.yaml");

const HOLDER: &str = "k8s-node-vm-3-cl-02";
const POD_NODE: &str = "k8s-node-vm-1-cl-02";

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// `egress-static` with `spec.egressIP: ip` and no pool.
fn static_egress(ip: &str) -> String {
    format!(
        "apiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata:\n  name: egress-node-subnet\nspec:\n  appliedTo:\n    podSelector:\n      matchLabels:\n        app: egress-1\n  egressIP: {ip}\n"
    )
}

/// A runner on the blog lab with both test Pods on `POD_NODE` and `steps`.
fn runner(steps: &str, until: &str) -> Runner {
    let text = format!(
        "name: static\ntopology: lab.yaml\nuntil: {until}\nsteps:\n  - at: 0s\n    apply: {{file: pod.yaml}}\n  - at: 0s\n    apply: {{file: other.yaml}}\n{steps}"
    );
    let mut read = |name: &str| -> Result<(String, String), String> {
        let body = match name {
            "lab.yaml" => TOPOLOGY.to_string(),
            "pod.yaml" => POD.to_string(),
            "other.yaml" => OTHER_POD.to_string(),
            "static.yaml" => STATIC.to_string(),
            "pool.yaml" => POOL.to_string(),
            "to-static.yaml" => static_egress("10.160.1.27"),
            other => return Err(format!("no file {other}")),
        };
        Ok((name.into(), body))
    };
    let scn = scenario::load("static.yaml", &text, &mut read).expect("valid scenario");
    Runner::start(scn, 1, false).expect("starts")
}

fn at(s: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs(s)
}

fn dataplane(r: &Runner, node: &str) -> NodeDataplane {
    engine::compile(&r.outcome().cluster)
        .remove(node)
        .expect("a node")
}

/// The lab's tables to remote egress nodes (201..), not the main table.
fn is_remote_table(t: u32) -> bool {
    t >= engine::egress::FIRST_REMOTE_TABLE && t != sim_core::model::TABLE_MAIN
}

const APPLY_STATIC: &str = "  - at: 1s\n    apply: {file: static.yaml}\n";

#[test]
fn a_static_egress_is_admitted_with_no_allocation_and_no_condition() {
    let mut r = runner(APPLY_STATIC, "3s");
    r.advance_to(at(2)).unwrap();
    let eg = &r.outcome().cluster.egress;
    let e = &eg.egresses["egress-static"];
    assert_eq!(e.ip, Some(ip("10.160.1.27")));
    // No IPAllocated: the controller writes it for pool Egresses only.
    assert_eq!(e.allocated, None);
    assert!(!e.allocation_recorded());
    // Nothing for the controller to retry.
    assert!(!eg.pending());
    // Not schedulable: no agent's ring places it.
    let all: engine::NodeSet = r.outcome().cluster.nodes().map(|n| n.id).collect();
    let placed = engine::egress::placement(&r.outcome().cluster, &all);
    assert!(!placed.contains_key("egress-static"), "{placed:?}");
}

#[test]
fn the_node_with_the_ip_marks_and_snats_without_assigning_or_announcing_it() {
    let mut r = runner(APPLY_STATIC, "3s");
    r.advance_to(at(2)).unwrap();
    let dp = dataplane(&r, HOLDER);
    // The IP is the node's own: no address, no ARP; antrea-egress0 is there
    // (the agent creates it at start) but holds nothing.
    assert!(dp.addrs.is_empty(), "{:?}", dp.addrs);
    assert_eq!(dp.dummy_ifaces, vec!["antrea-egress0".to_string()]);
    assert!(dp.vlan_ifaces.is_empty());
    // Main routing table: no policy route without subnetInfo.
    assert!(dp.rules.is_empty(), "{:?}", dp.rules);
    // Its mark, for the selected Pod on another node, and SNAT to the IP
    // ahead of the masquerade.
    let mark = dp
        .marks
        .iter()
        .find(|m| m.src == "10.30.67.5/32".parse().unwrap())
        .expect("the selected Pod is marked on the node with the IP");
    assert_eq!(mark.mark, 1);
    let first = &dp.snat[0];
    assert_eq!(first.to, SnatTo::Addr(ip("10.160.1.27")));
    assert_eq!(first.mark, Some((1, 0xff)));
    assert_eq!(dp.snat.last().unwrap().to, SnatTo::Masquerade);
    // The unselected Pod's static Egress is on no node: not marked here.
    assert!(
        !dp.marks.iter().any(|m| m.comment.contains("other-pod")),
        "{:?}",
        dp.marks
    );
}

#[test]
fn other_nodes_route_the_pods_to_the_node_with_the_ip_or_to_the_ip_itself() {
    let mut r = runner(APPLY_STATIC, "3s");
    r.advance_to(at(2)).unwrap();
    let dp = dataplane(&r, POD_NODE);
    assert!(dp.addrs.is_empty());
    assert!(!dp.snat.iter().any(|s| matches!(s.to, SnatTo::Addr(_))));
    let table_of = |via: &str| {
        dp.routes
            .iter()
            .find(|rt| rt.via == Some(ip(via)) && is_remote_table(rt.table))
            .unwrap_or_else(|| panic!("no route via {via}: {:?}", dp.routes))
    };
    // The holder's node IP, as for a pool Egress placed there.
    let to_holder = table_of("10.160.1.27");
    assert!(!to_holder.onlink);
    // 10.160.1.99 is on no node: Antrea still tunnels the Pod's packets to
    // it, so the lab sends them there, on-link, to go unanswered.
    let to_nowhere = table_of("10.160.1.99");
    assert!(to_nowhere.onlink);
    assert_eq!(&*to_nowhere.dev, "eth0");
    // Each selected Pod carries the mark of its next hop, which also keeps
    // it off the node's masquerade.
    for (pod, table) in [
        ("10.30.67.5/32", to_holder.table),
        ("10.30.67.2/32", to_nowhere.table),
    ] {
        let m = dp
            .marks
            .iter()
            .find(|m| m.src == pod.parse().unwrap())
            .unwrap_or_else(|| panic!("{pod} unmarked: {:?}", dp.marks));
        let rule = dp
            .rules
            .iter()
            .find(|rl| rl.fwmark == Some((m.mark, 0xff00)))
            .expect("a rule per next hop");
        assert_eq!(rule.table, table);
    }
}

#[test]
fn only_the_node_with_the_ip_writes_status_and_nobody_clears_it() {
    let steps = format!("{APPLY_STATIC}  - at: 10s\n    power: {{device: {HOLDER}, state: off}}\n");
    let mut r = runner(&steps, "70s");
    r.advance_to(at(5)).unwrap();
    let c = &r.outcome().cluster;
    assert_eq!(
        c.egress.egresses["egress-static"].status,
        EgressStatus {
            egress_node: Some(HOLDER.into()),
            egress_ip: Some(ip("10.160.1.27")),
            assigned: None,
        }
    );
    assert_eq!(holders::egress_holders(c, "egress-static"), vec![HOLDER]);
    // The IP is on no node: nobody writes, the status stays empty.
    assert_eq!(
        c.egress.egresses["egress-static-nowhere"].status,
        EgressStatus::default()
    );
    assert!(holders::egress_holders(c, "egress-static-nowhere").is_empty());
    let writers: Vec<&str> = r
        .outcome()
        .world
        .log()
        .iter()
        .filter(|e| e.message.starts_with("Egress egress-static status:"))
        .map(|e| e.device.as_str())
        .collect();
    assert_eq!(writers, vec![HOLDER]);
    // Powered off: no agent has the IP, none takes it over, and the status
    // keeps naming the dead node long after memberlist noticed.
    r.advance_to(at(70)).unwrap();
    let c = &r.outcome().cluster;
    assert!(holders::egress_holders(c, "egress-static").is_empty());
    assert_eq!(
        c.egress.egresses["egress-static"]
            .status
            .egress_node
            .as_deref(),
        Some(HOLDER)
    );
    let log = r.outcome().world.log();
    assert!(
        log.iter().any(|e| e.message
            == "Egress egress-static: static IP 10.160.1.27 is on no running Node (no failover without an ExternalIPPool)"),
    );
    assert!(
        !log.iter()
            .any(|e| e.time > at(10) && e.message.starts_with("Egress egress-static status:")),
    );
    // The other nodes still send the Pod to the dead node's IP.
    let dp = dataplane(&r, POD_NODE);
    assert!(
        dp.routes
            .iter()
            .any(|rt| rt.via == Some(ip("10.160.1.27")) && is_remote_table(rt.table))
    );
}

#[test]
fn a_pool_egress_made_static_gives_its_ip_back_and_loses_ip_allocated() {
    let steps = "  - at: 0s\n    label: {node: k8s-node-vm-3-cl-02, set: egress-role=egress-node}\n  - at: 1s\n    apply: {file: pool.yaml}\n  - at: 5s\n    apply: {file: to-static.yaml}\n";
    let mut r = runner(steps, "8s");
    r.advance_to(at(3)).unwrap();
    let eg = &r.outcome().cluster.egress;
    assert_eq!(eg.pools.usage("node-subnet-pool"), Some((11, 1)));
    assert!(eg.egresses["egress-node-subnet"].allocated.is_some());
    assert!(
        dataplane(&r, HOLDER)
            .addrs
            .iter()
            .any(|a| a.addr.addr() == ip("10.160.1.41"))
    );
    r.advance_to(at(7)).unwrap();
    let eg = &r.outcome().cluster.egress;
    let e = &eg.egresses["egress-node-subnet"];
    assert_eq!(eg.pools.usage("node-subnet-pool"), Some((11, 0)));
    assert_eq!(e.allocated, None);
    assert_eq!(e.ip, Some(ip("10.160.1.27")));
    // The agent no longer assigns 10.160.1.41; the node's own IP is used.
    let dp = dataplane(&r, HOLDER);
    assert!(dp.addrs.is_empty(), "{:?}", dp.addrs);
    assert_eq!(dp.snat[0].to, SnatTo::Addr(ip("10.160.1.27")));
    // The status: found on the node, without IPAssigned.
    assert_eq!(e.status.egress_node.as_deref(), Some(HOLDER));
    assert_eq!(e.status.assigned, None);
}
