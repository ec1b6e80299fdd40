//! NodeNetworkPolicy: which rules a node's host firewall takes, in which
//! order, and the iptables text Antrea's agent writes for them (the
//! expected lines of `node_reconciler_linux_test.go`, with antlab's rule
//! ids in the chain and ipset names).

use std::net::Ipv4Addr;

use super::host::{HostAction, HostFirewall, HostRule, PacketL4, host_firewall, log_prefix};
use super::rules::ServiceMatch;
use super::tests::{apply, cluster};
use crate::engine::ClusterState;
use crate::k8s::{Direction, Protocol, RuleAction};

fn gate_on(c: &mut ClusterState) {
    c.settings
        .agent_gates
        .insert("NodeNetworkPolicy".into(), true);
}

fn node(c: &ClusterState, name: &str) -> crate::engine::NodeId {
    c.node_id(name).expect("node")
}

const LOCKDOWN: &str = "
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: lockdown}
spec:
  priority: 5
  tier: securityops
  appliedTo:
    - nodeSelector: {matchLabels: {role: worker}}
  ingress:
    - name: drop-gossip
      action: Drop
      from:
        - nodeSelector: {}
      ports:
        - {protocol: TCP, port: 10351}
        - {protocol: UDP, port: 10351}
    - name: reject-web
      action: Reject
      from:
        - ipBlock: {cidr: 10.0.0.0/8, except: [10.10.0.0/16]}
      ports:
        - {protocol: TCP, port: 80}
  egress:
    - name: allow-all
      action: Allow
      enableLogging: true
      logLabel: out-of-the-node
";

const EARLIER: &str = "
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: earlier}
spec:
  priority: 1
  tier: emergency
  appliedTo:
    - nodeSelector: {}
  ingress:
    - name: allow-ssh
      action: Allow
      ports:
        - {protocol: TCP, port: 22}
";

/// The test cluster with the gate on, node-b a worker, and both policies.
fn lockdown_cluster() -> (ClusterState, crate::engine::NodeId) {
    let mut c = cluster();
    gate_on(&mut c);
    let b = node(&c, "node-b");
    c.node_labels_mut(b).insert("role".into(), "worker".into());
    apply(&mut c, LOCKDOWN).expect("admitted");
    apply(&mut c, EARLIER).expect("admitted");
    (c, b)
}

#[test]
fn a_node_takes_the_rules_of_the_policies_that_select_it_in_tier_order() {
    let (c, b) = lockdown_cluster();
    let a = node(&c, "node-a");
    // node-a is not a worker: only the emergency Tier's rule.
    let fw_a = host_firewall(&c, a);
    let names: Vec<&str> = fw_a.ingress.iter().map(|r| r.rule.as_str()).collect();
    assert_eq!(names, ["allow-ssh"]);
    assert!(fw_a.egress.is_empty());
    let fw = host_firewall(&c, b);
    let names: Vec<&str> = fw.ingress.iter().map(|r| r.rule.as_str()).collect();
    // Emergency (priority 50) before SecurityOps (100), then rule order.
    assert_eq!(names, ["allow-ssh", "drop-gossip", "reject-web"]);
    // A nodeSelector peer is every selected node's IP; an ipBlock minus
    // its except; no peers: every address.
    let peers: Vec<String> = fw.ingress[1].peers.iter().map(|n| n.to_string()).collect();
    assert_eq!(peers, ["192.168.77.100/32", "192.168.77.101/32"]);
    let peers: Vec<String> = fw.ingress[2].peers.iter().map(|n| n.to_string()).collect();
    assert_eq!(
        peers,
        [
            "10.0.0.0/13",
            "10.8.0.0/15",
            "10.11.0.0/16",
            "10.12.0.0/14",
            "10.16.0.0/12",
            "10.32.0.0/11",
            "10.64.0.0/10",
            "10.128.0.0/9"
        ]
    );
    assert_eq!(fw.ingress[0].peers, [ipnet::Ipv4Net::default()]);
    assert_eq!(fw.ingress[2].action, HostAction::Reject);
    assert_eq!(
        fw.egress[0].log_prefix.as_deref(),
        Some("Antrea:O:Allow:out-of-the-n:")
    );
}

#[test]
fn without_the_feature_gate_no_node_takes_a_rule() {
    let mut c = cluster();
    apply(&mut c, EARLIER).expect("admitted");
    let a = node(&c, "node-a");
    assert!(host_firewall(&c, a).is_empty());
    gate_on(&mut c);
    assert!(!host_firewall(&c, a).is_empty());
}

#[test]
fn the_first_matching_rule_judges_and_nothing_matching_accepts() {
    let (c, b) = lockdown_cluster();
    let fw = host_firewall(&c, b);
    let tcp = |dst| PacketL4::Ports {
        protocol: Protocol::Tcp,
        src: 40000,
        dst,
    };
    let udp = |dst| PacketL4::Ports {
        protocol: Protocol::Udp,
        src: 10351,
        dst,
    };
    let peer: Ipv4Addr = "192.168.77.100".parse().expect("ip");
    let judge = |ip: Ipv4Addr, l4: PacketL4| {
        fw.judge(Direction::Ingress, ip, &l4)
            .map(|v| (v.rule.rule.clone(), v.rule.action))
    };
    assert_eq!(
        judge(peer, tcp(22)),
        Some(("allow-ssh".into(), HostAction::Accept))
    );
    assert_eq!(
        judge(peer, tcp(10351)),
        Some(("drop-gossip".into(), HostAction::Drop))
    );
    assert_eq!(
        judge(peer, udp(10351)),
        Some(("drop-gossip".into(), HostAction::Drop))
    );
    // Not from a node, not a listed port: nothing matches, accepted.
    assert_eq!(judge("203.0.113.9".parse().expect("ip"), tcp(10351)), None);
    assert_eq!(judge(peer, tcp(8080)), None);
    // The except carves 10.10.0.0/16 out of the Reject.
    assert_eq!(
        judge("10.1.2.3".parse().expect("ip"), tcp(80)),
        Some(("reject-web".into(), HostAction::Reject))
    );
    assert_eq!(judge("10.10.2.3".parse().expect("ip"), tcp(80)), None);
    let icmp = PacketL4::Icmp {
        icmp_type: 8,
        code: 0,
    };
    assert_eq!(judge(peer, icmp), None);
}

fn rule(
    id: u32,
    name: &str,
    peers: &[&str],
    services: Vec<ServiceMatch>,
    log: Option<&str>,
) -> HostRule {
    HostRule {
        id,
        policy: "AntreaClusterNetworkPolicy:name1".into(),
        rule: name.into(),
        peers: peers.iter().map(|p| p.parse().expect("net")).collect(),
        services,
        action: HostAction::Accept,
        log_prefix: log.map(str::to_string),
    }
}

fn tcp(port: u16) -> ServiceMatch {
    ServiceMatch::L4 {
        protocol: Protocol::Tcp,
        dst: Some((port, port)),
        src: None,
    }
}

/// `TestNodeReconcilerReconcileAndForget`'s IPv4 ingress case with three
/// rules: several addresses and services (an ipset and a service chain),
/// one address and one service, every address and one service; logging
/// on the first and third.
#[test]
fn the_iptables_text_is_antreas() {
    let fw = HostFirewall {
        ingress: vec![
            rule(
                1,
                "ingress-rule-01",
                &["1.1.1.1/32", "192.168.1.0/25"],
                vec![tcp(80), tcp(443)],
                Some(&log_prefix(Direction::Ingress, RuleAction::Allow, None)),
            ),
            rule(2, "ingress-rule-02", &["1.1.1.1/32"], vec![tcp(443)], None),
            rule(
                3,
                "ingress-rule-03",
                &["0.0.0.0/0"],
                vec![tcp(8080)],
                Some(&log_prefix(
                    Direction::Ingress,
                    RuleAction::Allow,
                    Some("ingress3"),
                )),
            ),
        ],
        egress: Vec::new(),
    };
    let text = fw.iptables_save();
    for want in [
        r#"-A ANTREA-POL-RULE1 -p tcp --dport 80 -j LOG --log-prefix "Antrea:I:Allow:""#,
        r#"-A ANTREA-POL-RULE1 -p tcp --dport 80 -j ACCEPT"#,
        r#"-A ANTREA-POL-RULE1 -p tcp --dport 443 -j LOG --log-prefix "Antrea:I:Allow:""#,
        r#"-A ANTREA-POL-RULE1 -p tcp --dport 443 -j ACCEPT"#,
        r#"-A ANTREA-POL-INGRESS-RULES -m set --match-set ANTREA-POL-RULE1-4 src -j ANTREA-POL-RULE1 -m comment --comment "Antrea: for rule ingress-rule-01, policy AntreaClusterNetworkPolicy:name1""#,
        r#"-A ANTREA-POL-INGRESS-RULES -s 1.1.1.1/32 -p tcp --dport 443 -j ACCEPT -m comment --comment "Antrea: for rule ingress-rule-02, policy AntreaClusterNetworkPolicy:name1""#,
        r#"-A ANTREA-POL-INGRESS-RULES -p tcp --dport 8080 -j LOG --log-prefix "Antrea:I:Allow:ingress3:""#,
        r#"-A ANTREA-POL-INGRESS-RULES -p tcp --dport 8080 -j ACCEPT -m comment --comment "Antrea: for rule ingress-rule-03, policy AntreaClusterNetworkPolicy:name1""#,
        // route_linux.go initNodeNetworkPolicy.
        "-A ANTREA-POL-PRE-INGRESS-RULES -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "-A ANTREA-POL-PRE-INGRESS-RULES -i lo -j ACCEPT",
    ] {
        assert!(text.lines().any(|l| l == want), "missing {want}\n{text}");
    }
    insta::assert_snapshot!(text);
}

#[test]
fn a_log_label_is_cut_to_twelve_characters() {
    assert_eq!(
        log_prefix(
            Direction::Egress,
            RuleAction::Reject,
            Some("a-very-long-label")
        ),
        "Antrea:O:Reject:a-very-long-:"
    );
    assert!(
        log_prefix(
            Direction::Egress,
            RuleAction::Reject,
            Some("a-very-long-label")
        )
        .len()
            <= 29
    );
    assert_eq!(
        log_prefix(Direction::Ingress, RuleAction::Drop, None),
        "Antrea:I:Drop:"
    );
}
