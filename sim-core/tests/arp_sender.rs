//! Which sender address a node puts in its ARP requests (Linux's
//! `arp_solicit` with `arp_announce=0`): the waiting packet's source if it is
//! local. Real mode found the difference: a new Egress node that has to
//! resolve its gateway tells the gateway where the Egress IP now lives.

use std::path::Path;

use sim_core::scenario::run::{RunOptions, run};
use sim_core::time::{SimDuration, SimTime};

fn egress_no_garp(keep_gateway_warm: bool) -> sim_core::scenario::run::Outcome {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut text = std::fs::read_to_string(dir.join("egress-no-garp.yaml")).unwrap();
    if !keep_gateway_warm {
        let warm = "  - at: 1s\n    probe: {name: node-traffic, from: k8s-node-vm-2-cl-02, to: ext-vm, interval: 1s}\n";
        assert!(
            text.contains(warm),
            "the scenario keeps the new Egress node's gateway entry warm"
        );
        text = text.replace(warm, "");
    }
    // Routed natively (br-int a switch): the Pod's node sends the Pod's
    // packets to the new Egress node by its node IP, so the new node's
    // SNATed traffic is what resolves its gateway. In Geneve the Pod's node
    // tunnels to the Egress IP itself and, without a gratuitous ARP, keeps
    // sending to the dead node's MAC until its own neighbour entry goes
    // stale, so the new node speaks to its gateway only then (about 53 s).
    text = text.replacen("\noptions:\n", "\noptions:\n  brInt: switch\n", 1);
    assert!(text.contains("brInt: switch"), "no options block to extend");
    let mut read = |rel: &str| -> Result<(String, String), String> {
        let p = dir.join(rel);
        std::fs::read_to_string(&p)
            .map(|t| (p.display().to_string(), t))
            .map_err(|e| e.to_string())
    };
    let scn = sim_core::scenario::load("egress-no-garp.yaml", &text, &mut read).unwrap();
    let opts = RunOptions {
        capture: false,
        stop_at: Some(SimTime::ZERO + SimDuration::from_secs(20)),
    };
    run(&scn, 1, &opts).unwrap()
}

fn core_sw_mac_for_egress_ip(o: &sim_core::scenario::run::Outcome) -> String {
    let w = &o.world;
    let id = w.device_id("core-sw").unwrap();
    let row = w
        .device(id)
        .stack()
        .unwrap()
        .arp()
        .lookup(w.now(), "10.160.1.41".parse().unwrap())
        .expect("core-sw has an entry");
    row.mac.unwrap().to_string()
}

#[test]
fn a_node_resolving_its_gateway_for_snated_traffic_announces_the_egress_ip() {
    // k8s-node-vm-2-cl-02 takes 10.160.1.41 at about 14 s, has never used
    // the gateway, so it must ARP for it: "tell 10.160.1.41" fixes core-sw.
    let o = egress_no_garp(false);
    assert_eq!(
        core_sw_mac_for_egress_ip(&o),
        "bc:24:11:1d:82:f5",
        "vm-2's MAC"
    );
    let p = o.world.probe("ping-ext").unwrap();
    assert!(p.last_finished().unwrap().ok());
    assert!(p.stats().longest_outage < SimDuration::from_secs(6));
}

#[test]
fn a_node_with_the_gateway_cached_leaves_the_stale_entry_alone() {
    // With the gateway's MAC cached (node-traffic), no request is needed and
    // core-sw keeps the dead node's MAC: the antrea#5117 outage.
    let o = egress_no_garp(true);
    assert_eq!(
        core_sw_mac_for_egress_ip(&o),
        "bc:24:11:4a:10:27",
        "vm-3's MAC"
    );
    assert!(
        !o.world
            .probe("ping-ext")
            .unwrap()
            .last_finished()
            .unwrap()
            .ok()
    );
}
