//! Linux route ties on a node: an Egress pool on the node VLAN
//! (`subnetInfo.vlan: 216`, the VLAN the nodes' own addresses live on) puts
//! the Egress IP with its /24 on `antrea-ext.216`, and the kernel appends a
//! second connected route to 10.160.1.0/24 after eth0's. Linux keeps using
//! the first (eth0); a simulator that hashed flows over the two routes sent
//! part of the node-to-node memberlist traffic out of `antrea-ext.216`, where
//! it went unanswered: a live node was declared dead and two nodes held one
//! Egress IP.

use std::net::Ipv4Addr;
use std::path::Path;

use sim_core::scenario::run::{Outcome, RunOptions};
use sim_core::scenario::{self, Scenario};

const SCENARIO: &str = r#"
name: node-vlan-pool
topology: ../topologies/blog-lab.yaml
seed: 1
until: 60s
steps:
  - at: 0s
    apply: {file: manifests/blog-antrea-config.yaml}
  - at: 0s
    apply: {file: manifests/egress-ubuntu-pod.yaml}
  - at: 0s
    apply:
      inline: |
        apiVersion: crd.antrea.io/v1beta1
        kind: ExternalIPPool
        metadata:
          name: node-vlan-pool
        spec:
          ipRanges:
          - start: 10.160.1.40
            end: 10.160.1.50
          subnetInfo:
            gateway: 10.160.1.1
            prefixLength: 24
            vlan: 216
          nodeSelector:
            matchLabels:
              egress-role: egress-node
        ---
        apiVersion: crd.antrea.io/v1beta1
        kind: Egress
        metadata:
          name: egress-node-vlan
        spec:
          appliedTo:
            podSelector:
              matchLabels:
                app: egress-1
          externalIPPool: node-vlan-pool
  - at: 0s
    label: {node: k8s-node-vm-1-cl-02, set: egress-role=egress-node}
  - at: 0s
    label: {node: k8s-node-vm-2-cl-02, set: egress-role=egress-node}
  - at: 0s
    label: {node: k8s-node-vm-3-cl-02, set: egress-role=egress-node}
"#;

fn load() -> Scenario {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut read = |rel: &str| -> Result<(String, String), String> {
        let p = dir.join(rel);
        let t = std::fs::read_to_string(&p).map_err(|e| e.to_string())?;
        Ok((p.display().to_string(), t))
    };
    let file = dir.join("node-vlan-pool.yaml").display().to_string();
    scenario::load(&file, SCENARIO, &mut read).unwrap()
}

fn log(o: &Outcome) -> Vec<String> {
    o.world.log().iter().map(|e| e.to_string()).collect()
}

#[test]
fn a_pool_on_the_node_vlan_keeps_node_traffic_on_eth0() {
    let scn = load();
    for seed in [1, 2, 3] {
        let o = scenario::run::run(&scn, seed, &RunOptions::default()).unwrap();
        let lines = log(&o);
        // The Egress IP did land on antrea-ext.216 with the subnet's prefix.
        assert!(
            lines
                .iter()
                .any(|l| l.contains("ip addr add 10.160.1.40/24 dev antrea-ext.216")),
            "seed {seed}: the scenario no longer builds the tie"
        );
        let dead: Vec<&String> = lines
            .iter()
            .filter(|l| l.contains("left (dead or gone)"))
            .collect();
        assert!(
            dead.is_empty(),
            "seed {seed}: a live node was declared dead: {dead:#?}"
        );
        let double: Vec<&String> = lines.iter().filter(|l| l.contains("at once")).collect();
        assert!(double.is_empty(), "seed {seed}: {double:#?}");
        // The node holding the IP routes its subnet out of eth0, the route
        // that was there first.
        let id = o.world.device_id("k8s-node-vm-1-cl-02").unwrap();
        let stack = o.world.device(id).stack().unwrap();
        let hop = stack
            .routes()
            .lookup(Ipv4Addr::new(10, 160, 1, 22), None, 0)
            .unwrap();
        assert_eq!(stack.ifaces()[hop.dev].name(), "eth0", "seed {seed}");
        let subnet_routes: Vec<&str> = stack
            .routes()
            .routes()
            .iter()
            .filter(|r| r.dst.to_string() == "10.160.1.0/24" && r.table == 254)
            .map(|r| stack.ifaces()[r.dev()].name())
            .collect();
        assert_eq!(subnet_routes, ["eth0", "antrea-ext.216"], "seed {seed}");
    }
}
