//! An Egress's status is what the antrea-agents write
//! (`pkg/agent/controller/egress/egress_controller.go` v2.7.0,
//! `updateEgressStatus`), and the controller's allocation errors follow
//! `pkg/controller/egress/controller.go` v2.7.0 (`syncEgressIP`).

use sim_core::engine::holders;
use sim_core::engine::placement::HashRing;
use sim_core::report;
use sim_core::scenario::{self, run::Runner};
use sim_core::time::SimTime;

const TOPOLOGY: &str = include_str!("../../topologies/blog-lab.yaml");
const CONFIG: &str = include_str!("../../scenarios/manifests/blog-antrea-config.yaml");
const CONFIG_EGRESS_OFF: &str =
    include_str!("../../scenarios/manifests/antrea-config-egress-off.yaml");
const POD: &str = include_str!("../../scenarios/manifests/egress-ubuntu-pod.yaml");
const POOL: &str = include_str!("../../scenarios/manifests/blog-egress-vlan-pool.yaml");
const EGRESS: &str = include_str!("../../scenarios/manifests/blog-egress-vlan.yaml");
const POOL_NAME: &str = "egress-vlan-external-ip-pool";

const WORKERS: [&str; 3] = [
    "k8s-node-vm-1-cl-02",
    "k8s-node-vm-2-cl-02",
    "k8s-node-vm-3-cl-02",
];

fn egress_with_ip(name: &str, ip: &str) -> String {
    format!(
        "apiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata:\n  name: {name}\nspec:\n  appliedTo:\n    podSelector:\n      matchLabels:\n        app: egress-1\n  egressIP: {ip}\n  externalIPPool: {POOL_NAME}\n"
    )
}

/// A runner for `steps` on the blog lab; `config.yaml` is `config`, and
/// `eg-a.yaml`/`eg-b.yaml` request 172.18.181.45.
fn runner(config: &'static str, steps: &str, until: &str) -> Runner {
    let text = format!(
        "name: status\ntopology: lab.yaml\nuntil: {until}\nsteps:\n  - at: 0s\n    apply: {{file: config.yaml}}\n  - at: 0s\n    apply: {{file: pod.yaml}}\n  - at: 0s\n    apply: {{file: pool.yaml}}\n{steps}"
    );
    let mut read = |name: &str| -> Result<(String, String), String> {
        let body = match name {
            "lab.yaml" => TOPOLOGY.to_string(),
            "config.yaml" => config.to_string(),
            "pod.yaml" => POD.to_string(),
            "pool.yaml" => POOL.to_string(),
            "egress.yaml" => EGRESS.to_string(),
            "eg-a.yaml" => egress_with_ip("eg-a", "172.18.181.45"),
            "eg-b.yaml" => egress_with_ip("eg-b", "172.18.181.45"),
            other => return Err(format!("no file {other}")),
        };
        Ok((name.into(), body))
    };
    let scn = scenario::load("status.yaml", &text, &mut read).expect("valid scenario");
    Runner::start(scn, 1, false).expect("starts")
}

fn label_workers() -> String {
    WORKERS
        .iter()
        .map(|w| format!("  - at: 0s\n    label: {{node: {w}, set: egress-role=egress-node}}\n"))
        .collect()
}

fn at(s: u64) -> SimTime {
    SimTime::ZERO + sim_core::time::SimDuration::from_secs(s)
}

/// The EGRESSIP and NODE columns of `kubectl get egress` for `name`.
fn get_egress_row(r: &Runner, name: &str) -> (String, String) {
    let table = report::egresses(&r.outcome().cluster, r.now().as_nanos() / 1_000_000_000);
    let header = table.lines().next().unwrap();
    let ip_col = header.find("EGRESSIP").unwrap();
    let age_col = header.find("AGE").unwrap();
    let node_col = header.find("NODE").unwrap();
    let line = table
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no row for {name}:\n{table}"));
    let cell = |from: usize, to: Option<usize>| {
        let end = to.map_or(line.len(), |t| t.min(line.len()));
        line.get(from..end).unwrap_or("").trim().to_string()
    };
    (cell(ip_col, Some(age_col)), cell(node_col, None))
}

#[test]
fn the_status_keeps_the_dead_node_until_another_agent_takes_the_ip() {
    let steps = format!(
        "{}  - at: 2s\n    apply: {{file: egress.yaml}}\n  - at: 10s\n    power: {{device: k8s-node-vm-2-cl-02, state: off}}\n",
        label_workers()
    );
    let mut r = runner(CONFIG, &steps, "30s");
    r.advance_to(at(5)).unwrap();
    assert_eq!(
        get_egress_row(&r, "egress-vlan"),
        ("172.18.181.40".into(), "k8s-node-vm-2-cl-02".into())
    );
    // Powered off at 10 s; memberlist has not noticed yet at 12 s: nobody
    // holds the IP, but no agent has written anything either.
    r.advance_to(at(12)).unwrap();
    let c = &r.outcome().cluster;
    assert!(holders::egress_holders(c, "egress-vlan").is_empty());
    assert_eq!(
        get_egress_row(&r, "egress-vlan"),
        ("172.18.181.40".into(), "k8s-node-vm-2-cl-02".into())
    );
    r.advance_to(at(20)).unwrap();
    assert_eq!(
        get_egress_row(&r, "egress-vlan"),
        ("172.18.181.40".into(), "k8s-node-vm-1-cl-02".into())
    );
    // Written by the agent that took the IP.
    let log = r.outcome().world.log();
    let write = log
        .iter()
        .rfind(|e| e.message.starts_with("Egress egress-vlan status:"))
        .unwrap();
    assert_eq!(write.device, "k8s-node-vm-1-cl-02");
    assert!(write.time > at(12));
}

#[test]
fn with_the_agents_egress_gate_off_nobody_assigns_or_writes() {
    let steps = format!(
        "{}  - at: 2s\n    apply: {{file: egress.yaml}}\n",
        label_workers()
    );
    let mut r = runner(CONFIG_EGRESS_OFF, &steps, "10s");
    r.advance_to(at(5)).unwrap();
    let c = &r.outcome().cluster;
    let e = &c.egress.egresses["egress-vlan"];
    // The controller still allocates (its gate is on) ...
    assert_eq!(e.ip, Some("172.18.181.40".parse().unwrap()));
    // ... but no agent holds the IP or writes a status.
    assert!(holders::egress_holders(c, "egress-vlan").is_empty());
    assert_eq!(e.status, Default::default());
    assert_eq!(
        get_egress_row(&r, "egress-vlan"),
        (String::new(), String::new())
    );
}

#[test]
fn an_unschedulable_egress_shows_no_ip_and_the_elected_agent_says_why() {
    // No node carries the pool's label: the agents' rings are empty.
    let mut r = runner(CONFIG, "  - at: 1s\n    apply: {file: egress.yaml}\n", "5s");
    r.advance_to(at(3)).unwrap();
    let c = &r.outcome().cluster;
    let e = &c.egress.egresses["egress-vlan"];
    assert_eq!(e.ip, Some("172.18.181.40".parse().unwrap()), "allocated");
    assert_eq!(
        get_egress_row(&r, "egress-vlan"),
        (String::new(), String::new())
    );
    let assigned = e.status.assigned.as_ref().expect("IPAssigned written");
    assert_eq!(
        (assigned.status.as_str(), assigned.reason.as_str()),
        ("False", "AssignmentError")
    );
    assert_eq!(
        assigned.message,
        "Failed to assign the IP to EgressNode: no Node available"
    );
    // The writer: the node the ring of all alive nodes picks for the IP.
    let all: Vec<&str> = c.nodes().map(|n| n.name.as_str()).collect();
    let elected = HashRing::from_nodes(all)
        .get("172.18.181.40")
        .unwrap()
        .to_string();
    let writers: Vec<&str> = r
        .outcome()
        .world
        .log()
        .iter()
        .filter(|l| l.message.starts_with("Egress egress-vlan status:"))
        .map(|l| l.device.as_str())
        .collect();
    assert_eq!(writers, vec![elected.as_str()]);
    let text = report::egress_status(c, "egress-vlan").unwrap();
    assert!(text.contains("spec.egressIP: 172.18.181.40"), "{text}");
    assert!(text.contains("AssignmentError"), "{text}");
}

#[test]
fn a_requested_ip_that_fails_allocation_is_still_scheduled() {
    let steps = format!(
        "{}  - at: 1s\n    apply: {{file: eg-a.yaml}}\n  - at: 2s\n    apply: {{file: eg-b.yaml}}\n",
        label_workers()
    );
    let mut r = runner(CONFIG, &steps, "5s");
    r.advance_to(at(3)).unwrap();
    let c = &r.outcome().cluster;
    let b = &c.egress.egresses["eg-b"];
    let allocated = b.allocated.as_ref().expect("a pool Egress has IPAllocated");
    assert_eq!(allocated.status, "False");
    assert_eq!(allocated.reason, "AllocationError");
    assert_eq!(
        allocated.message,
        format!(
            "Cannot allocate EgressIP from ExternalIPPool: error when allocating IP 172.18.181.45 for Egress eg-b from ExternalIPPool {POOL_NAME}: cannot allocate IP 172.18.181.45 in any range"
        )
    );
    assert!(!b.allocation_recorded());
    // The agents schedule it all the same: it shares eg-a's IP and node.
    let a_holders = holders::egress_holders(c, "eg-a");
    assert_eq!(a_holders.len(), 1);
    assert_eq!(holders::egress_holders(c, "eg-b"), a_holders);
    assert_eq!(
        get_egress_row(&r, "eg-b"),
        ("172.18.181.45".into(), a_holders[0].clone())
    );
    // Only eg-a's allocation counts in the pool.
    assert_eq!(c.egress.pools.usage(POOL_NAME), Some((11, 1)));
}
