//! North-south Service traffic with proxyAll and br-int executing Antrea's
//! program: the node routes LoadBalancer IPs into `antrea-gw0` through the
//! virtual Service IP, br-int load-balances them (NAT or DSR), and the host
//! does not DNAT them itself. The lab is `scenarios/dsr.yaml`: yelb-ui as a
//! NAT LoadBalancer (10.160.1.40, owned by k8s-cp-vm-1-cl-02) and as a DSR
//! one (10.160.1.41, owned by k8s-cp-vm-2-cl-02), probed from ext-vm.

use std::path::PathBuf;

use sim_core::openflow::Style;
use sim_core::scenario::run::{Outcome, RunOptions};
use sim_core::scenario::{self, Scenario};
use sim_core::sim::probe::Attempt;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(text: &str) -> Scenario {
    load_with(text, &[])
}

/// A scenario whose files come from `scenarios/`, except `extra`'s
/// (name, text) pairs.
fn load_with(text: &str, extra: &[(&str, &str)]) -> Scenario {
    let mut read = |rel: &str| -> Result<(String, String), String> {
        if let Some((_, body)) = extra.iter().find(|(name, _)| *name == rel) {
            return Ok((rel.to_string(), body.to_string()));
        }
        let path = repo().join("scenarios").join(rel);
        std::fs::read_to_string(&path)
            .map(|t| (rel.to_string(), t))
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    scenario::load("dsr.yaml", text, &mut read).unwrap_or_else(|e| panic!("{e}"))
}

fn dsr_text() -> String {
    std::fs::read_to_string(repo().join("scenarios/dsr.yaml")).expect("dsr.yaml")
}

fn run(text: &str) -> Outcome {
    scenario::run::run(&load(text), 1, &RunOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn last(o: &Outcome, probe: &str) -> Attempt {
    let p = o.world.probe(probe).expect("probe");
    let a = p.last_finished().expect("an answer").clone();
    assert!(a.ok(), "{probe}: {:?}\n{:#?}", a.verdict, a.path);
    a
}

fn hops<'a>(a: &'a Attempt, device: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    a.path
        .iter()
        .filter(move |h| h.device == device)
        .map(|h| h.text.as_str())
}

fn dump(o: &mut Outcome, node: &str) -> String {
    let id = o.world.device_id(node).expect("node");
    o.world
        .br_int_program(id)
        .expect("a loaded program")
        .dump_flows(Style::Names)
}

#[test]
fn a_nat_load_balancer_ip_is_routed_into_br_int_and_snated_to_the_gateway() {
    let mut o = run(&dsr_text());
    let a = last(&o, "nat");
    let ingress = "k8s-cp-vm-1-cl-02";
    assert!(
        hops(&a, ingress)
            .any(|t| t.starts_with("route 10.160.1.40 via 169.254.0.253 dev antrea-gw0")),
        "{:#?}",
        a.path
    );
    // The host did not DNAT it: its proxy said nothing, br-int did.
    assert!(
        !hops(&a, ingress).any(|t| t.starts_with("AntreaProxy:")),
        "{:#?}",
        a.path
    );
    assert!(
        hops(&a, &format!("br-int@{ingress}"))
            .any(|t| t.starts_with("AntreaProxy: Service 10.160.1.40:80 DNAT to")),
        "{:#?}",
        a.path
    );
    // A remote endpoint sees the ingress node's gateway IP (SNATMark).
    assert_eq!(a.seen_src, Some("10.30.64.1".parse().unwrap()));
    let flows = dump(&mut o, ingress);
    let moved = |table: &str, needle: &str| {
        flows
            .lines()
            .filter(|l| l.contains(table) && l.contains(needle))
            .any(|l| !l.contains("n_packets=0,"))
    };
    // SNATMark's flow for gateway-to-tunnel external traffic, not DSR.
    assert!(moved("table=SNATMark", "reg0=0x12/0xff"), "{flows}");
    assert!(moved("table=EndpointDNAT", "nat(dst="), "{flows}");
}

#[test]
fn a_dsr_connection_is_learned_on_the_ingress_node_and_answered_around_it() {
    let mut o = run(&dsr_text());
    let a = last(&o, "dsr");
    let ingress = "k8s-cp-vm-2-cl-02";
    assert_eq!(a.seen_src, Some("10.200.0.10".parse().unwrap()));
    assert!(
        hops(&a, &format!("br-int@{ingress}")).any(|t| t.contains("DSR: tunnelled to its node")),
        "{:#?}",
        a.path
    );
    assert!(
        !a.path.iter().any(|h| h.reply && h.device.contains(ingress)),
        "the reply crossed the ingress node: {:#?}",
        a.path
    );
    // The learned per-connection flows (DSRServiceMark's learn action).
    let flows = dump(&mut o, ingress);
    let learned: Vec<&str> = flows
        .lines()
        .filter(|l| l.contains("table=SessionAffinity") && l.contains("idle_timeout=160"))
        .collect();
    assert!(!learned.is_empty(), "{flows}");
    // The connections' later packets (the client's ACK, its request) took
    // their learned flow to the same endpoint.
    assert!(
        learned.iter().any(|l| !l.contains("n_packets=0,")),
        "{learned:#?}"
    );
    assert!(
        learned
            .iter()
            .all(|l| l.contains("nw_dst=10.160.1.41") && l.contains("load:0x1->NXM_NX_REG4[25]")),
        "{learned:#?}"
    );
}

#[test]
fn the_node_routes_service_addresses_into_antrea_gw0_only_where_br_int_serves_them() {
    let routes = |text: &str| {
        let o = run(text);
        sim_core::report::routes(&o.world, "k8s-node-vm-1-cl-02").expect("routes")
    };
    let pipeline = routes(&dsr_text());
    for want in [
        "169.254.0.253/32 dev antrea-gw0",
        "169.254.0.252/32 via 169.254.0.253 dev antrea-gw0",
        "10.160.1.40/32 via 169.254.0.253 dev antrea-gw0",
        "10.160.1.41/32 via 169.254.0.253 dev antrea-gw0",
    ] {
        assert!(pipeline.contains(want), "{want} missing:\n{pipeline}");
    }
    let switch = routes(&dsr_text().replacen("\noptions:\n", "\noptions:\n  brInt: switch\n", 1));
    assert!(!switch.contains("169.254.0.253"), "{switch}");
}

#[test]
fn the_virtual_service_ip_has_a_permanent_neighbour_entry() {
    let o = run(&dsr_text());
    let arp = sim_core::report::arp(&o.world, "k8s-cp-vm-1-cl-02").expect("arp");
    let line = arp
        .lines()
        .find(|l| l.starts_with("169.254.0.253"))
        .unwrap_or_else(|| panic!("no entry:\n{arp}"));
    assert!(line.contains("aa:bb:cc:dd:ee:ff"), "{line}");
    assert!(line.contains("PERMANENT"), "{line}");
}

#[test]
fn a_nodeport_is_dnated_to_the_virtual_nodeport_address_and_load_balanced_in_br_int() {
    // proxyall-migration: kube-proxy goes away and proxyAll comes on at
    // 15 s; ext-vm probes k8s-node-vm-3-cl-02's NodePort 30080.
    let text = std::fs::read_to_string(repo().join("scenarios/proxyall-migration.yaml"))
        .expect("proxyall-migration.yaml");
    let mut o = run(&text);
    let a = last(&o, "ext-to-nodeport");
    let node = "k8s-node-vm-3-cl-02";
    assert!(
        hops(&a, node).any(|t| t.starts_with(
            "AntreaProxy: NodePort 10.160.1.27:30080 of Service yelb/yelb-ui-internal DNAT to 169.254.0.252:30080"
        )),
        "{:#?}",
        a.path
    );
    assert!(
        hops(&a, &format!("br-int@{node}"))
            .any(|t| t.starts_with("AntreaProxy: Service 169.254.0.252:30080 DNAT to")),
        "{:#?}",
        a.path
    );
    // The reply is un-DNATed on the host back to the node's address.
    assert!(
        a.path.iter().any(|h| h.reply
            && h.device == node
            && h.text == "conntrack reply: un-NAT src 169.254.0.252 -> 10.160.1.27"),
        "{:#?}",
        a.path
    );
    let flows = dump(&mut o, node);
    assert!(
        flows.lines().any(|l| l.contains("table=NodePortMark")
            && l.contains("nw_dst=169.254.0.252")
            && !l.contains("n_packets=0,")),
        "{flows}"
    );
}

/// A NodePort/ClusterIP Service whose selector matches no Pod, with
/// proxyAll: ext-vm tries the NodePort, a Pod the ClusterIP.
fn no_endpoint_run() -> Outcome {
    let app = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: app\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: empty\n  namespace: app\nspec:\n  type: NodePort\n  clusterIP: 10.30.50.10\n  selector: {app: nothing}\n  ports:\n  - port: 80\n    targetPort: 8080\n    nodePort: 31001\n";
    let text = "name: no-endpoint\ntopology: ../topologies/blog-lab.yaml\nuntil: 4s\noptions:\n  kubeProxy: none\nsteps:\n  - at: 0s\n    apply: {file: manifests/antrea-config-proxyall.yaml}\n  - at: 0s\n    apply: {file: manifests/unselected-pod.yaml}\n  - at: 0s\n    apply: {file: app.yaml}\n  - at: 1s\n    probe: {name: ext, from: ext-vm, to: 10.160.1.25, kind: tcp, port: 31001, interval: 500ms}\n  - at: 1s\n    probe: {name: pod, from: pod/egress/other-pod, to: 10.30.50.10, kind: tcp, port: 80, interval: 500ms}\n";
    let scn = load_with(text, &[("app.yaml", app)]);
    scenario::run::run(&scn, 1, &RunOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn br_int_s_packet_in_for_a_service_without_endpoints_is_answered_with_a_reset() {
    let o = no_endpoint_run();
    for (probe, node) in [
        ("ext", "k8s-node-vm-1-cl-02"),
        ("pod", "k8s-node-vm-1-cl-02"),
    ] {
        let p = o.world.probe(probe).expect("probe");
        let a = p.last_finished().expect("an answer");
        let sim_core::sim::probe::Verdict::Fail { reason } = &a.verdict else {
            panic!("{probe}: {:?}", a.verdict);
        };
        assert!(
            reason.contains("has no endpoints") && reason.contains("rejected"),
            "{probe}: {reason}"
        );
        // br-int took the decision (no host proxy), and the RST came back
        // from the Service address.
        assert!(
            a.drops.iter().any(|d| {
                let t = d.to_string();
                t.contains(&format!("br-int@{node}")) && t.contains("AntreaProxy")
            }),
            "{probe}: {:?}",
            a.drops
        );
        assert!(
            a.path
                .iter()
                .any(|h| h.reply && (h.device == "ext-vm" || h.device == "egress/other-pod")),
            "{probe}: no answer reached the client: {:#?}",
            a.path
        );
    }
}

#[test]
fn ip_neigh_flush_keeps_the_virtual_service_ip_s_permanent_entry() {
    // `clearArp` is `ip neigh flush all`, which leaves PERMANENT entries:
    // the ingress node keeps sending LoadBalancer traffic into br-int.
    let text = dsr_text().replacen(
        "\n  - at: 10s\n    expect:",
        "\n  - at: 5s\n    clearArp: k8s-cp-vm-1-cl-02\n  - at: 10s\n    expect:",
        1,
    );
    assert!(text.contains("clearArp"), "dsr.yaml changed");
    let o = run(&text);
    let p = o.world.probe("nat").expect("probe");
    let failed: Vec<&Attempt> = p
        .attempts()
        .iter()
        .filter(|a| !a.ok() && a.sent.as_nanos() < 19_000_000_000)
        .collect();
    assert!(
        failed.is_empty(),
        "{:#?}",
        failed.first().map(|a| &a.verdict)
    );
    let arp = sim_core::report::arp(&o.world, "k8s-cp-vm-1-cl-02").expect("arp");
    assert!(
        arp.lines()
            .any(|l| l.starts_with("169.254.0.253") && l.contains("PERMANENT")),
        "{arp}"
    );
}
