//! Golden outputs of what real mode would load into Linux, for scenario
//! states the simulator reaches: the nftables table of the Egress node and of
//! the Pod's node, and the br-int program with a ClusterIP group. No root
//! needed: this is rendering only; `tests/real_mode.rs` loads them for real.

use std::path::Path;

use datapath::apply::{int_bridge_bundle, nft_ruleset, route_replace};
use datapath::lab::{IntBridge, PodLeg};
use sim_core::engine::pipeline::{gateway_mac, pod_mac};
use sim_core::scenario::run::Runner;
use sim_core::time::SimTime;

fn runner_at(scenario: &str, secs: u64) -> Runner {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = root.join(scenario);
    let text = std::fs::read_to_string(&path).unwrap();
    let dir = path.parent().unwrap().to_path_buf();
    let mut read = |rel: &str| -> Result<(String, String), String> {
        let p = dir.join(rel);
        std::fs::read_to_string(&p)
            .map(|t| (p.display().to_string(), t))
            .map_err(|e| e.to_string())
    };
    let scn = sim_core::scenario::load(scenario, &text, &mut read).unwrap();
    let seed = scn.seed.unwrap_or(1);
    let mut r = Runner::start(scn, seed, false).unwrap();
    r.advance_to(SimTime(secs * 1_000_000_000)).unwrap();
    r
}

#[test]
fn egress_nodes_nftables() {
    let r = runner_at("scenarios/egress-vlan-failover.yaml", 6);
    let planes = sim_core::engine::compile(&r.outcome().cluster);
    let holder = nft_ruleset(&planes["k8s-node-vm-2-cl-02"], &Default::default());
    let pod_node = nft_ruleset(&planes["k8s-node-vm-1-cl-02"], &Default::default());
    // The Egress node SNATs marked traffic to the Egress IP; the Pod's node
    // only marks it (and routes it to the Egress node by policy).
    assert!(holder.contains("snat to 172.18.181.40"));
    assert!(!pod_node.contains("snat to"));
    // Antrea's "masquerade LOCAL traffic": the node's own connections into
    // antrea-gw0 with another of its addresses (a Service the host DNATed)
    // leave with the gateway's, on every node.
    for t in [&holder, &pod_node] {
        assert!(
            t.contains(
                "oifname \"antrea-gw0\" fib saddr type local fib saddr . oif type != local masquerade"
            ),
            "{t}"
        );
    }
    insta::assert_snapshot!("egress_holder_nft", holder);
    insta::assert_snapshot!("egress_pod_node_nft", pod_node);
}

#[test]
fn egress_except_cidrs_are_left_unmarked_in_nftables() {
    // `egress.exceptCIDRs: [10.100.0.0/30]`: the Pod's node does not mark
    // traffic to it for the Egress, so it takes the Pod masquerade instead.
    let r = runner_at("scenarios/egress-agent-options.yaml", 7);
    let planes = sim_core::engine::compile(&r.outcome().cluster);
    let pod_node = nft_ruleset(&planes["k8s-node-vm-1-cl-02"], &Default::default());
    let marks: Vec<&str> = pod_node
        .lines()
        .filter(|l| l.contains("meta mark set"))
        .collect();
    assert!(!marks.is_empty(), "{pod_node}");
    for m in &marks {
        assert!(m.contains("10.100.0.0/30"), "{m}");
    }
    insta::assert_snapshot!("egress_except_cidrs_pod_node_nft", pod_node);
}

#[test]
fn static_egress_renders_snat_on_the_node_with_the_ip_and_routes_elsewhere() {
    // egress-static-ip: 10.160.1.27 is k8s-node-vm-3-cl-02's own address,
    // 10.160.1.99 is on no node.
    let r = runner_at("scenarios/egress-static-ip.yaml", 6);
    let planes = sim_core::engine::compile(&r.outcome().cluster);
    let holder = &planes["k8s-node-vm-3-cl-02"];
    let pod_node = &planes["k8s-node-vm-1-cl-02"];
    // Real mode adds no address for it: the node has it already.
    assert!(holder.addrs.is_empty());
    let holder_nft = nft_ruleset(holder, &Default::default());
    assert!(holder_nft.contains("snat to 10.160.1.27"), "{holder_nft}");
    assert!(!nft_ruleset(pod_node, &Default::default()).contains("snat to"));
    // The route to an IP no node has is on-link (`ip route` refuses a
    // gateway outside the device's subnets otherwise).
    let cmds: Vec<String> = pod_node
        .routes
        .iter()
        .filter(|rt| rt.table != sim_core::model::TABLE_MAIN)
        .map(|rt| route_replace(rt, &rt.dev))
        .collect();
    assert_eq!(
        cmds,
        vec![
            "route replace 0.0.0.0/0 via 10.160.1.27 dev eth0 table 201 metric 0",
            "route replace 0.0.0.0/0 via 10.160.1.99 onlink dev eth0 table 202 metric 0",
        ]
    );
    insta::assert_snapshot!("static_egress_holder_nft", holder_nft);
}

#[test]
fn clusterip_group_on_the_client_node() {
    let r = runner_at("scenarios/clusterip-service.yaml", 1);
    let cluster = &r.outcome().cluster;
    let planes = sim_core::engine::compile(cluster);
    let node = "k8s-node-vm-1-cl-02";
    let gw_ip = "10.30.67.1".parse().unwrap();
    let ib = IntBridge {
        bridge: "al0000-i3".into(),
        gw_link: "al0000-20".into(),
        gw_ofport: 1,
        gw_mac: gateway_mac(node),
        gw_ip,
    };
    let pods: Vec<PodLeg> = cluster
        .pods_on(cluster.node_id(node).expect("a node"))
        .enumerate()
        .map(|(i, p)| PodLeg {
            netns: format!("al0000-pod{i}"),
            node: node.into(),
            ip: p.ip,
            mac: pod_mac(&p.namespace, &p.name),
            root_link: format!("al0000-{}", 30 + i),
            ofport: 2 + i as u32,
        })
        .collect();
    let text = int_bridge_bundle(&ib, &pods, &planes[node]);
    // One select group with a ct(nat) bucket per ready endpoint, all three.
    let group = text.lines().find(|l| l.starts_with("group add")).unwrap();
    assert_eq!(group.matches("bucket=").count(), 3, "{group}");
    assert!(text.contains("nw_dst=10.30.48.237,tp_dst=80,actions=group:1"));
    insta::assert_snapshot!("clusterip_br_int_bundle", text);
}

/// Text from YAML (Egress names in rule comments, interface names) cannot
/// end an nftables string or start another statement, and `ip -batch`
/// refuses a line that could, before running anything.
#[test]
fn hostile_strings_stay_inside_their_quotes() {
    let r = runner_at("scenarios/egress-vlan-failover.yaml", 6);
    let planes = sim_core::engine::compile(&r.outcome().cluster);
    let plain = planes["k8s-node-vm-2-cl-02"].clone();
    let mut hostile = plain.clone();
    let evil = "x\"; flush ruleset; #\n}\ntable ip pwned { ";
    assert!(!hostile.marks.is_empty() || !hostile.snat.is_empty());
    for m in &mut hostile.marks {
        m.comment = evil.to_string();
    }
    for s in &mut hostile.snat {
        s.comment = evil.to_string();
        s.not_out_iface = Some(evil.to_string());
    }
    let (a, b) = (
        nft_ruleset(&plain, &Default::default()),
        nft_ruleset(&hostile, &Default::default()),
    );
    assert_eq!(
        a.lines().count(),
        b.lines().count(),
        "no line was added:\n{b}"
    );
    for line in b.lines() {
        assert_eq!(
            line.matches('"').count() % 2,
            0,
            "an unclosed string: {line}"
        );
        let statement = line.trim_start();
        assert!(
            !statement.starts_with("flush") && !statement.starts_with("table ip pwned"),
            "{line}"
        );
    }
    assert!(b.contains("comment \"x__ flush ruleset_"), "{b}");
    let refused = datapath::sys::ip_batch(
        Some("al0000-nowhere"),
        &["link set dev eth0 up\nlink del eth1".to_string()],
    );
    assert!(
        matches!(refused, Err(datapath::sys::SysError::Unsafe(_))),
        "{refused:?}"
    );
}

/// Pipeline mode loads each node's compiled program: the bundle replaces
/// whatever br-int held (every group, then every flow, deleted first) and
/// adds exactly the flows and groups the simulator's interpreter runs, in
/// the same text.
#[test]
fn pipeline_bundle_is_the_simulators_program_replacing_br_int() {
    use datapath::apply::pipeline_bundle;
    let r = runner_at("scenarios/br-int-pipeline.yaml", 6);
    let cluster = &r.outcome().cluster;
    let planes = sim_core::engine::compile(cluster);
    let node = "k8s-node-vm-1-cl-02";
    let text = pipeline_bundle(cluster, node, &planes[node]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "group delete group_id=all", "{text}");
    let flow_delete = lines.iter().position(|l| *l == "flow delete").unwrap();
    // Groups come before every flow (a flow naming a missing group fails).
    assert!(
        lines[..flow_delete].iter().all(|l| l.starts_with("group ")),
        "{text}"
    );
    assert!(
        lines[flow_delete + 1..]
            .iter()
            .all(|l| l.starts_with("flow add ")),
        "{text}"
    );
    let program = sim_core::engine::pipeline::inspect::program(
        &sim_core::engine::pipeline::node_pipeline(cluster, node).unwrap(),
    )
    .unwrap();
    let sim_text = program.bundle_text();
    let sim_flows: Vec<&str> = sim_text
        .lines()
        .filter(|l| l.starts_with("flow add "))
        .collect();
    let real_flows: Vec<&str> = lines[flow_delete + 1..].to_vec();
    assert_eq!(real_flows, sim_flows);
    let groups = lines.iter().filter(|l| l.starts_with("group add ")).count();
    assert_eq!(groups, program.group_count());
    assert!(groups >= 1, "the ClusterIP's select group: {text}");
    // The tunnel flows to the peer nodes are there.
    assert!(text.contains("->tun_dst"), "{text}");
}
