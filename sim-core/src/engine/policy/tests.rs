//! Policies end to end in the engine: manifests admitted into a small
//! cluster, each node's program compiled, and packets walked through it
//! by the OpenFlow interpreter (new connections, conntrack as OVS keeps it).
//! The verdict semantics (default isolation, tiers, Pass, Reject, Baseline)
//! are checked on those walks, and two properties over random policy sets:
//! the order policies arrive in does not change a verdict, and deleting
//! every policy gives back the program of a cluster that never had one.

use indexmap::IndexMap;
use proptest::prelude::*;

use crate::engine::pipeline::{inspect, node_pipeline};
use crate::engine::{ClusterState, NodeState, PodId, PodState};
use crate::k8s::{Object, Protocol, parse_manifests};
use crate::openflow::{Conntrack, CtMode, Packet};

const NODE: &str = "node-a";

/// One node, four Pods in two Namespaces: shop/web (app=web, `http` = TCP
/// 80), shop/client (role=client), shop/guest (role=guest), and
/// other/tool (role=client) in Namespace `other` (team=ops).
pub(super) fn cluster() -> ClusterState {
    let mut c = ClusterState::default();
    let a = c.add_node(NodeState::new(
        NODE,
        "192.168.77.100".parse().expect("ip"),
        "10.10.0.0/24".parse().expect("net"),
        "eth0",
    ));
    c.add_node(NodeState::new(
        "node-b",
        "192.168.77.101".parse().expect("ip"),
        "10.10.1.0/24".parse().expect("net"),
        "eth0",
    ));
    c.namespaces.insert(
        "shop".into(),
        IndexMap::from([("team".into(), "shop".into())]),
    );
    c.namespaces.insert(
        "other".into(),
        IndexMap::from([("team".into(), "ops".into())]),
    );
    for (ns, name, ip, label) in [
        ("shop", "web", "10.10.0.2", ("app", "web")),
        ("shop", "client", "10.10.0.3", ("role", "client")),
        ("shop", "guest", "10.10.0.4", ("role", "guest")),
        ("other", "tool", "10.10.0.5", ("role", "client")),
    ] {
        let named_ports = if name == "web" {
            vec![("http".to_string(), Protocol::Tcp, 80)]
        } else {
            vec![]
        };
        c.add_pod(PodState {
            id: PodId(0),
            namespace: ns.into(),
            name: name.into(),
            node: a,
            ip: ip.parse().expect("ip"),
            labels: IndexMap::from([(label.0.to_string(), label.1.to_string())]),
            tcp_listen: vec![80],
            named_ports,
            l7_export: None,
            ready: true,
        })
        .expect("pod");
    }
    c
}

fn objects(text: &str) -> Vec<Object> {
    parse_manifests("test.yaml", text).expect("manifest")
}

pub(super) fn apply(c: &mut ClusterState, text: &str) -> Result<(), String> {
    for o in objects(text) {
        c.apply_policy_object(&o, 0, false)?;
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Allowed,
    Dropped,
    Rejected,
}

/// A new connection from Pod `from` to `to_ip` (`l4` as a flow string),
/// walked through node-a's program.
fn verdict(c: &ClusterState, from: &str, to_ip: &str, l4: &str) -> Verdict {
    verdict_of(&walk(c, from, to_ip, l4))
}

/// A walk's outcome: to the agent (a Reject), dropped, or through.
fn verdict_of(walk: &crate::openflow::Walk) -> Verdict {
    if walk.verdict.controller {
        Verdict::Rejected
    } else if walk.verdict.is_drop() {
        Verdict::Dropped
    } else {
        Verdict::Allowed
    }
}

/// The walk of a new connection from Pod `from` to `to_ip` through
/// node-a's program, with a fresh conntrack.
fn walk(c: &ClusterState, from: &str, to_ip: &str, l4: &str) -> crate::openflow::Walk {
    let np = node_pipeline(c, NODE).expect("node");
    let prog = inspect::program(&np).expect("program loads");
    let flow =
        inspect::expand_flow(c, NODE, &format!("pod:{from},{l4},nw_dst={to_ip}")).expect("flow");
    let packet = Packet::parse_trace_flow(&flow).expect("packet");
    let mut ct = Conntrack::new();
    prog.simulate(&mut ct, &CtMode::Tracked, &packet, &[])
}

const WEB: &str = "10.10.0.2";
const TCP80: &str = "tcp,tp_src=40000,tp_dst=80";
const TCP81: &str = "tcp,tp_src=40000,tp_dst=81";
const PING: &str = "icmp,icmp_type=8,icmp_code=0";

const DENY_ALL_INGRESS: &str = "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress]
";

const WEB_FROM_CLIENTS: &str = "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-clients, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - podSelector: {matchLabels: {role: client}}
    ports:
    - {protocol: TCP, port: http}
";

const APP_ALLOW_ALL_TO_WEB: &str = "
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: app-allow}
spec:
  priority: 5
  appliedTo: [{podSelector: {matchLabels: {app: web}}}]
  ingress:
  - {name: everyone, action: Allow}
";

const SECOPS_DROP_CLIENTS: &str = "
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: secops-drop}
spec:
  priority: 1
  tier: securityops
  appliedTo: [{podSelector: {matchLabels: {app: web}}}]
  ingress:
  - action: Drop
    from: [{podSelector: {matchLabels: {role: client}}, namespaceSelector: {matchLabels: {team: shop}}}]
";

const SECOPS_PASS_GUESTS: &str = "
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: secops-pass}
spec:
  priority: 2
  tier: securityops
  appliedTo: [{podSelector: {matchLabels: {app: web}}}]
  ingress:
  - action: Pass
    from: [{podSelector: {matchLabels: {role: guest}}}]
";

const BASELINE_DROP: &str = "
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: baseline-drop}
spec:
  priority: 1
  tier: baseline
  appliedTo: [{podSelector: {matchLabels: {app: web}}}]
  ingress:
  - action: Drop
";

const ANP_REJECT_EGRESS: &str = "
apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: no-web-out, namespace: shop}
spec:
  priority: 3
  appliedTo: [{podSelector: {matchLabels: {role: guest}}}]
  egress:
  - action: Reject
    to: [{ipBlock: {cidr: 10.10.0.0/24, except: [10.10.0.0/29]}}]
";

#[test]
fn kubernetes_isolation_allows_only_what_a_rule_allows() {
    let mut c = cluster();
    assert_eq!(verdict(&c, "shop/guest", WEB, TCP80), Verdict::Allowed);
    apply(&mut c, DENY_ALL_INGRESS).expect("admitted");
    apply(&mut c, WEB_FROM_CLIENTS).expect("admitted");
    // The named port resolves to 80 on the web Pod.
    assert_eq!(verdict(&c, "shop/client", WEB, TCP80), Verdict::Allowed);
    assert_eq!(verdict(&c, "shop/client", WEB, TCP81), Verdict::Dropped);
    assert_eq!(verdict(&c, "shop/client", WEB, PING), Verdict::Dropped);
    assert_eq!(verdict(&c, "shop/guest", WEB, TCP80), Verdict::Dropped);
    // A podSelector alone selects in the policy's Namespace only.
    assert_eq!(verdict(&c, "other/tool", WEB, TCP80), Verdict::Dropped);
    // Egress is not isolated, and other Namespaces are not: the web Pod
    // still reaches other/tool; shop's client is isolated like every shop Pod.
    assert_eq!(
        verdict(&c, "shop/web", "10.10.0.5", TCP80),
        Verdict::Allowed
    );
    assert_eq!(
        verdict(&c, "shop/web", "10.10.0.3", TCP80),
        Verdict::Dropped
    );
}

#[test]
fn tiers_decide_in_order_and_pass_falls_through_to_kubernetes_then_baseline() {
    let mut c = cluster();
    apply(&mut c, APP_ALLOW_ALL_TO_WEB).expect("admitted");
    apply(&mut c, SECOPS_DROP_CLIENTS).expect("admitted");
    // SecurityOps' Drop beats the Application Allow, for shop's clients only.
    assert_eq!(verdict(&c, "shop/client", WEB, TCP80), Verdict::Dropped);
    assert_eq!(verdict(&c, "other/tool", WEB, TCP80), Verdict::Allowed);
    assert_eq!(verdict(&c, "shop/guest", WEB, TCP80), Verdict::Allowed);
    // Pass skips the Application Allow; no NetworkPolicy: the Baseline
    // decides, and without one the packet goes through.
    apply(&mut c, SECOPS_PASS_GUESTS).expect("admitted");
    assert_eq!(verdict(&c, "shop/guest", WEB, TCP80), Verdict::Allowed);
    apply(&mut c, BASELINE_DROP).expect("admitted");
    assert_eq!(verdict(&c, "shop/guest", WEB, TCP80), Verdict::Dropped);
    // The Application Allow still wins over the Baseline for others.
    assert_eq!(verdict(&c, "other/tool", WEB, TCP80), Verdict::Allowed);
    // A NetworkPolicy that allows guests is evaluated before the Baseline.
    apply(
        &mut c,
        "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-guests, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {role: guest}}}]
",
    )
    .expect("admitted");
    assert_eq!(verdict(&c, "shop/guest", WEB, TCP80), Verdict::Allowed);
}

#[test]
fn reject_sends_the_packet_to_the_controller_and_ip_block_except_holds() {
    let mut c = cluster();
    apply(&mut c, ANP_REJECT_EGRESS).expect("admitted");
    // 10.10.0.0/29 is excepted: the web Pod (.2) and the client (.3) are reachable.
    assert_eq!(verdict(&c, "shop/guest", WEB, TCP80), Verdict::Allowed);
    assert_eq!(
        verdict(&c, "shop/guest", "10.10.0.9", TCP80),
        Verdict::Rejected
    );
    // Other Pods are not applied to.
    assert_eq!(
        verdict(&c, "shop/client", "10.10.0.9", TCP80),
        Verdict::Allowed
    );
}

#[test]
fn the_webhook_refuses_what_antrea_refuses() {
    let mut c = cluster();
    let missing_tier = "
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: x}
spec:
  priority: 1
  tier: nosuchtier
  appliedTo: [{podSelector: {}}]
  ingress: [{action: Allow}]
";
    assert_eq!(
        apply(&mut c, missing_tier).unwrap_err(),
        "tier nosuchtier does not exist"
    );
    let pass_in_baseline = BASELINE_DROP.replace("action: Drop", "action: Pass");
    assert_eq!(
        apply(&mut c, &pass_in_baseline).unwrap_err(),
        "`Pass` action should not be set for Baseline Tier policy rules"
    );
    let tier = |name: &str, prio: i32| {
        format!(
            "apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata: {{name: {name}}}\nspec: {{priority: {prio}}}\n"
        )
    };
    assert_eq!(
        apply(&mut c, &tier("mine", 252)).unwrap_err(),
        "tier mine priority 252 is reserved"
    );
    assert_eq!(
        apply(&mut c, &tier("mine", 100)).unwrap_err(),
        "tier mine priority 100 overlaps with existing Tier"
    );
    apply(&mut c, &tier("mine", 120)).expect("a free priority");
    // A custom Tier by its exact name; a static one by its name or its
    // staticTierSet spelling.
    assert_eq!(
        apply(&mut c, &missing_tier.replace("nosuchtier", "Mine")).unwrap_err(),
        "tier Mine does not exist"
    );
    apply(&mut c, &missing_tier.replace("nosuchtier", "SecurityOps")).expect("static spelling");
    apply(&mut c, &missing_tier.replace("nosuchtier", "mine")).expect("exact name");
    let tier_obj = objects(&tier("mine", 120));
    assert_eq!(
        c.apply_policy_object(&tier_obj[0], 0, true).unwrap_err(),
        "tier mine is referenced by 1 Antrea ClusterNetworkPolicies"
    );
}

/// The policy sets the properties draw from.
const POOL: [&str; 7] = [
    DENY_ALL_INGRESS,
    WEB_FROM_CLIENTS,
    APP_ALLOW_ALL_TO_WEB,
    SECOPS_DROP_CLIENTS,
    SECOPS_PASS_GUESTS,
    BASELINE_DROP,
    ANP_REJECT_EGRESS,
];

/// Every probe's verdict on the cluster as it is.
fn verdicts(c: &ClusterState) -> Vec<Verdict> {
    let mut out = Vec::new();
    for from in ["shop/client", "shop/guest", "other/tool"] {
        for l4 in [TCP80, TCP81, PING] {
            out.push(verdict(c, from, WEB, l4));
        }
        out.push(verdict(c, from, "10.10.0.9", TCP80));
    }
    out.push(verdict(c, "shop/web", "10.10.0.4", TCP80));
    out
}

fn delete_all(c: &mut ClusterState, picked: &[usize]) {
    for i in picked {
        for o in objects(POOL[*i]) {
            c.apply_policy_object(&o, 0, true).expect("deleted");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn verdicts_do_not_depend_on_the_order_policies_arrive_in(
        picked in proptest::sample::subsequence((0..POOL.len()).collect::<Vec<_>>(), 1..=POOL.len()),
        order in any::<u64>(),
    ) {
        let mut sorted = cluster();
        for i in &picked {
            apply(&mut sorted, POOL[*i]).expect("admitted");
        }
        let mut shuffled_ids = picked.clone();
        // A permutation from the seed (Fisher-Yates on a splitmix sequence).
        let mut s = order;
        for i in (1..shuffled_ids.len()).rev() {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let j = (s >> 33) as usize % (i + 1);
            shuffled_ids.swap(i, j);
        }
        let mut shuffled = cluster();
        for i in &shuffled_ids {
            apply(&mut shuffled, POOL[*i]).expect("admitted");
        }
        prop_assert_eq!(verdicts(&sorted), verdicts(&shuffled));
    }

    #[test]
    fn deleting_every_policy_gives_back_the_cluster_without_policies(
        picked in proptest::sample::subsequence((0..POOL.len()).collect::<Vec<_>>(), 1..=POOL.len()),
    ) {
        let bare = cluster();
        let before = node_pipeline(&bare, NODE).expect("node");
        let mut c = cluster();
        for i in &picked {
            apply(&mut c, POOL[*i]).expect("admitted");
        }
        delete_all(&mut c, &picked);
        prop_assert_eq!(node_pipeline(&c, NODE).expect("node"), before);
        prop_assert_eq!(verdicts(&c), verdicts(&bare));
    }
}

#[test]
fn an_established_connection_survives_a_policy_that_drops_new_ones() {
    // Antrea checks rules for new connections only (the policy tables'
    // ct_state=-new+est flows at priority 64990 skip to the metric tables):
    // a connection established before the Drop keeps going.
    let mut c = cluster();
    let packet = |c: &ClusterState, from: &str, sport: u16, to: &str, dport: u16| {
        let f = inspect::expand_flow(
            c,
            NODE,
            &format!("pod:{from},udp,udp_src={sport},udp_dst={dport},nw_dst={to}"),
        )
        .expect("flow");
        Packet::parse_trace_flow(&f).expect("packet")
    };
    let mut ct = Conntrack::new();
    let np = node_pipeline(&c, NODE).expect("node");
    let mut prog = inspect::program(&np).expect("program");
    let out = prog.run(
        &mut ct,
        &CtMode::Tracked,
        &packet(&c, "shop/client", 40000, WEB, 53),
        0,
        false,
    );
    assert!(!out.verdict.is_drop());
    let back = prog.run(
        &mut ct,
        &CtMode::Tracked,
        &packet(&c, "shop/web", 53, "10.10.0.3", 40000),
        1_000,
        false,
    );
    assert!(!back.verdict.is_drop());
    apply(&mut c, SECOPS_DROP_CLIENTS).expect("admitted");
    let np = node_pipeline(&c, NODE).expect("node");
    let mut prog = inspect::program(&np).expect("program");
    // The same connection, conntrack kept: through.
    let again = prog.run(
        &mut ct,
        &CtMode::Tracked,
        &packet(&c, "shop/client", 40000, WEB, 53),
        1_000_000,
        false,
    );
    assert!(!again.verdict.is_drop(), "established connection dropped");
    // A new one (another source port): dropped, and by that rule.
    let walk = prog.run(
        &mut ct,
        &CtMode::Tracked,
        &packet(&c, "shop/client", 40001, WEB, 53),
        2_000_000,
        false,
    );
    assert!(walk.verdict.is_drop());
    let catalog = super::rules::catalog(&c);
    let named: Vec<String> = walk
        .conjunctions
        .iter()
        .filter_map(|(_, id)| catalog.rule(*id).map(|r| r.describe()))
        .collect();
    assert_eq!(
        named,
        vec!["AntreaClusterNetworkPolicy secops-drop rule ingress-0 (Tier securityops): Drop"]
    );
}

#[test]
fn a_new_pod_updates_the_index_as_a_rebuild_would() {
    use super::index::PolicyIndex;
    use super::synthetic;
    let mut c = synthetic::cluster(8, 160, 40).expect("generated");
    let mut idx = PolicyIndex::build(&c);
    let mut touched = std::collections::BTreeSet::new();
    for i in 0..3 {
        let pod = synthetic::shared_pod(&mut c, i).expect("pod");
        touched.extend(idx.add_pod(&c, pod));
    }
    let fresh = PolicyIndex::build(&c);
    for n in c.nodes() {
        assert_eq!(
            idx.node_rules(&c, n.id),
            fresh.node_rules(&c, n.id),
            "{}",
            n.name
        );
    }
    // The shared Pods are peers of rules on several nodes, and those nodes
    // are the ones said to change.
    assert!(touched.len() > 1, "{touched:?}");
    let shared: Vec<ipnet::Ipv4Net> = c
        .pods()
        .filter(|p| p.name.starts_with("shared-"))
        .map(|p| ipnet::Ipv4Net::from(p.ip))
        .collect();
    let mentions = |r: &super::NodePolicyRules| {
        r.rules().iter().any(|rule| {
            rule.from
                .iter()
                .chain(&rule.to)
                .any(|a| matches!(a, super::rules::Addr::Net(n) if shared.contains(n)))
        })
    };
    for n in c.nodes() {
        let rules = idx.node_rules(&c, n.id).expect("policies exist");
        assert_eq!(mentions(&rules), touched.contains(&n.id), "{}", n.name);
    }
}

/// A logged egress Allow and an ingress Reject on one node: the packet goes
/// to the agent for the log, and its recirculated copy for the reject, so
/// the walk carries both packet-ins (the simulator answers the reject and
/// writes the log line).
#[test]
fn a_logged_allow_then_a_reject_send_two_packet_ins() {
    let mut c = cluster();
    apply(
        &mut c,
        "
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: log-out}
spec:
  priority: 1
  tier: application
  appliedTo: [{podSelector: {matchLabels: {role: client}}}]
  egress:
    - {name: log-all, action: Allow, enableLogging: true}
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: reject-in}
spec:
  priority: 1
  tier: securityops
  appliedTo: [{podSelector: {matchLabels: {app: web}}}]
  ingress:
    - {name: reject-all, action: Reject}
",
    )
    .expect("admitted");
    let walk = walk(&c, "shop/client", WEB, TCP80);
    let ops: Vec<&str> = walk
        .packet_ins
        .iter()
        .filter_map(|p| p.args.split("userdata=01.").nth(1))
        .map(|rest| &rest[..2])
        .collect();
    assert_eq!(ops, ["01", "02"], "{:?}", walk.packet_ins);
}

/// A cluster with the ExternalNode gate on and VM `vm1` (10.0.10.5,
/// role=db) in Namespace `vm-ns`.
fn with_external_node() -> ClusterState {
    let mut c = cluster();
    let cfg = "apiVersion: v1
kind: ConfigMap
metadata: {name: antrea-config, namespace: kube-system}
data:
  antrea-agent.conf: |
    featureGates:
      ExternalNode: true
  antrea-controller.conf: |
    featureGates:
      ExternalNode: true
";
    let Object::ConfigMap(cm) = objects(cfg).remove(0) else {
        panic!("a ConfigMap");
    };
    crate::engine::config::apply_antrea_config(&mut c, &cm).expect("config");
    c.namespaces.insert("vm-ns".into(), IndexMap::new());
    let en = "apiVersion: crd.antrea.io/v1alpha1
kind: ExternalNode
metadata: {name: vm1, namespace: vm-ns, labels: {role: db}}
spec:
  interfaces:
    - ips: [\"10.0.10.5\"]
";
    let Object::ExternalNode(en) = objects(en).remove(0) else {
        panic!("an ExternalNode");
    };
    c.external_nodes
        .apply(&en, "eth0".into())
        .expect("external node");
    c
}

/// A new connection walked through the VM's program: `in_port` 1 from the
/// uplink (to the VM), 2 from the VM itself.
fn vm_verdict(c: &ClusterState, in_port: u32, l4: &str, src: &str, dst: &str) -> Verdict {
    use crate::engine::pipeline::{compile, external_node_spec};
    let idx = super::index::PolicyIndex::build(c);
    let spec = external_node_spec(c, "vm1", &idx).expect("an ExternalNode program");
    let prog = inspect::external_program(&compile(&spec)).expect("program loads");
    let flow = format!(
        "in_port={in_port},{l4},dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,nw_src={src},nw_dst={dst},nw_ttl=64"
    );
    let packet = Packet::parse_trace_flow(&flow).expect("packet");
    let mut ct = Conntrack::new();
    verdict_of(&prog.simulate(&mut ct, &CtMode::Tracked, &packet, &[]))
}

#[test]
fn an_external_entity_policy_is_enforced_in_the_vms_program() {
    let mut c = with_external_node();
    // No policy: everything crosses the pair of ports.
    assert_eq!(
        vm_verdict(&c, 1, TCP80, "10.10.0.3", "10.0.10.5"),
        Verdict::Allowed
    );
    apply(
        &mut c,
        "apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: protect-db, namespace: vm-ns}
spec:
  priority: 5
  appliedTo:
    - externalEntitySelector: {matchLabels: {role: db}}
  ingress:
    - action: Reject
      from:
        - podSelector: {matchLabels: {role: client}}
          namespaceSelector: {matchLabels: {team: shop}}
      ports: [{protocol: TCP, port: 80}]
  egress:
    - action: Drop
      to:
        - ipBlock: {cidr: 10.10.0.2/32}
",
    )
    .expect("policy");
    // Ingress by the internal port: the shop's client is rejected, the
    // other Namespace's client and another port are not.
    assert_eq!(
        vm_verdict(&c, 1, TCP80, "10.10.0.3", "10.0.10.5"),
        Verdict::Rejected
    );
    assert_eq!(
        vm_verdict(&c, 1, TCP80, "10.10.0.5", "10.0.10.5"),
        Verdict::Allowed
    );
    assert_eq!(
        vm_verdict(&c, 1, TCP81, "10.10.0.3", "10.0.10.5"),
        Verdict::Allowed
    );
    // Egress by the entity's IP.
    assert_eq!(vm_verdict(&c, 2, PING, "10.0.10.5", WEB), Verdict::Dropped);
    assert_eq!(
        vm_verdict(&c, 2, PING, "10.0.10.5", "10.10.0.4"),
        Verdict::Allowed
    );
    // The Pods' own node has none of the VM's rules.
    assert_eq!(verdict(&c, "shop/client", WEB, TCP80), Verdict::Allowed);
}

#[test]
fn an_external_entity_peer_is_its_ips_and_needs_the_gate() {
    let mut c = with_external_node();
    let acnp = "apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: db-to-web}
spec:
  priority: 5
  appliedTo:
    - podSelector: {matchLabels: {app: web}}
  ingress:
    - action: Drop
      from:
        - externalEntitySelector: {matchLabels: {role: db}}
";
    apply(&mut c, acnp).expect("policy");
    // The VM's address is the peer's clause on the web Pod's node.
    let from_vm = |c: &ClusterState| {
        node_pipeline(c, NODE)
            .expect("node")
            .flows()
            .iter()
            .any(|l| {
                l.contains("table=AntreaPolicyIngressRule")
                    && l.contains("nw_src=10.0.10.5 actions=conjunction(")
            })
    };
    // An ACNP's entity selector selects in every Namespace.
    assert!(from_vm(&c));
    // With the controller's gate off there are no ExternalEntities.
    let mut off = c.clone();
    let cfg = "apiVersion: v1
kind: ConfigMap
metadata: {name: antrea-config, namespace: kube-system}
data:
  antrea-controller.conf: |
    featureGates:
      ExternalNode: false
";
    let Object::ConfigMap(cm) = objects(cfg).remove(0) else {
        panic!("a ConfigMap");
    };
    crate::engine::config::apply_antrea_config(&mut off, &cm).expect("config");
    assert!(!from_vm(&off));
}
