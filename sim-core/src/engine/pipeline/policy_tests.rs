//! Golden tests of the policy rule flows, ported from Antrea's
//! pkg/agent/openflow/network_policy_test.go `TestBatchInstallPolicyRuleFlows`
//! (its expected strings verbatim). Cases the rules cannot express are
//! left out: label identities (`tun_id`, Multicluster) and the deny-all
//! drops they bring.

use std::collections::BTreeSet;
use std::sync::Arc;

use ipnet::Ipv4Net;

use super::compile;
use super::spec::{EncapMode, PipelineSpec};
use crate::engine::policy::NodePolicyRules;
use crate::engine::policy::rules::{Addr, Layer, OfRule, ServiceMatch};
use crate::k8s::{Direction, Protocol, RuleAction};
use crate::model::MacAddr;

fn spec() -> PipelineSpec {
    PipelineSpec::new(
        "192.168.77.100/24".parse().expect("net"),
        "10.10.0.0/24".parse().expect("net"),
        "0a:00:00:00:00:01".parse::<MacAddr>().expect("mac"),
    )
    .with_encap(EncapMode::Encap)
}

fn nets(v: &[&str]) -> Vec<Addr> {
    v.iter()
        .map(|s| Addr::Net(s.parse::<Ipv4Net>().expect("net")))
        .collect()
}

fn tcp(port: u16) -> ServiceMatch {
    ServiceMatch::L4 {
        protocol: Protocol::Tcp,
        dst: Some((port, port)),
        src: None,
    }
}

/// The flows (and groups) `rules` add to the fake node's program.
fn added(rules: NodePolicyRules) -> Vec<String> {
    let before = compile(&spec());
    let after = compile(&spec().with_policy(Some(Arc::new(rules))));
    let old: BTreeSet<&String> = before.flows().iter().chain(before.groups()).collect();
    let mut v: Vec<String> = after
        .flows()
        .iter()
        .chain(after.groups())
        .filter(|l| !old.contains(l))
        .cloned()
        .collect();
    v.sort();
    v
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

// Case "multiple K8s NetworkPolicy rules".
#[test]
fn k8s_network_policy_rules() {
    let rules = NodePolicyRules {
        rules: vec![
            OfRule {
                logging: false,
                id: 10,
                direction: Direction::Egress,
                layer: Layer::K8s,
                priority: 200,
                action: RuleAction::Allow,
                from: nets(&["192.168.1.40/32", "192.168.1.50/32"]),
                to: nets(&["0.0.0.0/0"]),
                services: vec![],
            },
            OfRule {
                logging: false,
                id: 11,
                direction: Direction::Egress,
                layer: Layer::K8s,
                priority: 200,
                action: RuleAction::Allow,
                from: nets(&["192.168.1.40/32", "192.168.1.51/32"]),
                to: nets(&["0.0.0.0/0"]),
                services: vec![tcp(8080)],
            },
        ],
        isolated_ingress: vec![],
        isolated_egress: ["192.168.1.40", "192.168.1.50", "192.168.1.51"]
            .iter()
            .map(|s| s.parse().expect("ip"))
            .collect(),
        ..NodePolicyRules::default()
    };
    assert_eq!(
        added(rules),
        sorted(&[
            "cookie=0x1020000000000, table=EgressRule, priority=190,conj_id=10,ip actions=set_field:0xa->reg5,ct(commit,table=EgressMetric,zone=65520,exec(set_field:0xa00000000/0xffffffff00000000->ct_label))",
            "cookie=0x1020000000000, table=EgressRule, priority=190,conj_id=11,ip actions=set_field:0xb->reg5,ct(commit,table=EgressMetric,zone=65520,exec(set_field:0xb00000000/0xffffffff00000000->ct_label))",
            "cookie=0x1020000000000, table=EgressRule, priority=200,ip,nw_src=192.168.1.40 actions=conjunction(10,1/2),conjunction(11,1/3)",
            "cookie=0x1020000000000, table=EgressRule, priority=200,ip,nw_src=192.168.1.50 actions=conjunction(10,1/2)",
            "cookie=0x1020000000000, table=EgressRule, priority=200,ip,nw_src=192.168.1.51 actions=conjunction(11,1/3)",
            "cookie=0x1020000000000, table=EgressRule, priority=200,ip,nw_dst=0.0.0.0/0 actions=conjunction(10,2/2),conjunction(11,2/3)",
            "cookie=0x1020000000000, table=EgressRule, priority=200,tcp,tp_dst=8080 actions=conjunction(11,3/3)",
            "cookie=0x1020000000000, table=EgressDefaultRule, priority=200,ip,nw_src=192.168.1.40 actions=drop",
            "cookie=0x1020000000000, table=EgressDefaultRule, priority=200,ip,nw_src=192.168.1.50 actions=drop",
            "cookie=0x1020000000000, table=EgressDefaultRule, priority=200,ip,nw_src=192.168.1.51 actions=drop",
            "cookie=0x1020000000000, table=EgressMetric, priority=200,ct_state=+new,ct_label=0xa00000000/0xffffffff00000000,ip actions=goto_table:L3Forwarding",
            "cookie=0x1020000000000, table=EgressMetric, priority=200,ct_state=-new,ct_label=0xa00000000/0xffffffff00000000,ip actions=goto_table:L3Forwarding",
            "cookie=0x1020000000000, table=EgressMetric, priority=200,ct_state=+new,ct_label=0xb00000000/0xffffffff00000000,ip actions=goto_table:L3Forwarding",
            "cookie=0x1020000000000, table=EgressMetric, priority=200,ct_state=-new,ct_label=0xb00000000/0xffffffff00000000,ip actions=goto_table:L3Forwarding",
        ])
    );
}

// Case "multiple Antrea NetworkPolicy rules", without rule 13 (label
// identities) and the tun_id deny-all drops.
#[test]
fn antrea_network_policy_rules() {
    let rule = |id, action, prio, from: &[&str], to: &[u32], services| OfRule {
        logging: false,
        id,
        direction: Direction::Ingress,
        layer: Layer::Antrea,
        priority: prio,
        action,
        from: nets(from),
        to: to.iter().map(|p| Addr::OfPort(*p)).collect(),
        services,
    };
    let rules = NodePolicyRules {
        rules: vec![
            rule(
                10,
                RuleAction::Allow,
                100,
                &["192.168.1.40/32", "192.168.1.50/32"],
                &[1, 2],
                vec![],
            ),
            rule(
                11,
                RuleAction::Drop,
                100,
                &["192.168.1.40/32", "192.168.1.51/32"],
                &[1, 3],
                vec![tcp(8080)],
            ),
            rule(
                12,
                RuleAction::Drop,
                200,
                &["192.168.1.40/32"],
                &[1],
                vec![
                    tcp(8080),
                    ServiceMatch::Icmp {
                        icmp_type: Some(8),
                        code: Some(0),
                    },
                ],
            ),
            rule(
                14,
                RuleAction::Drop,
                100,
                &["192.168.1.51/32"],
                &[2],
                vec![ServiceMatch::L4 {
                    protocol: Protocol::Tcp,
                    dst: None,
                    src: Some((32800, 32800)),
                }],
            ),
        ],
        ..NodePolicyRules::default()
    };
    assert_eq!(
        added(rules),
        sorted(&[
            "cookie=0x1020000000000, table=AntreaPolicyIngressRule, priority=100,conj_id=10,ip actions=set_field:0xa->reg6,ct(commit,table=IngressMetric,zone=65520,exec(set_field:0xa/0xffffffff->ct_label))",
            "cookie=0x1020000000000, table=AntreaPolicyIngressRule, priority=100,conj_id=11 actions=set_field:0xb->reg3,set_field:0x400/0x400->reg0,goto_table:IngressMetric",
            "cookie=0x1020000000000, table=AntreaPolicyIngressRule, priority=200,conj_id=12 actions=set_field:0xc->reg3,set_field:0x400/0x400->reg0,goto_table:IngressMetric",
            "cookie=0x1020000000000, table=AntreaPolicyIngressRule, priority=100,conj_id=14 actions=set_field:0xe->reg3,set_field:0x400/0x400->reg0,goto_table:IngressMetric",
            "cookie=0x1020000000000, table=AntreaPolicyIngressRule, priority=100,ip,nw_src=192.168.1.40 actions=conjunction(10,1/2),conjunction(11,1/3)",
            "cookie=0x1020000000000, table=AntreaPolicyIngressRule, priority=100,ip,nw_src=192.168.1.50 actions=conjunction(10,1/2)",
            "cookie=0x1020000000000, table=AntreaPolicyIngressRule, priority=100,ip,nw_src=192.168.1.51 actions=conjunction(11,1/3),conjunction(14,1/3)",
            "cookie=0x1020000000000, table=AntreaPolicyIngressRule, priority=100,reg1=0x1 actions=conjunction(10,2/2),conjunction(11,2/3)",
            "cookie=0x1020000000000, table=AntreaPolicyIngressRule, priority=100,tcp,tp_dst=8080 actions=conjunction(11,3/3)",
            "cookie=0x1020000000000, table=AntreaPolicyIngressRule, priority=200,reg1=0x1 actions=conjunction(12,2/3)",
            "cookie=0x1020000000000, table=AntreaPolicyIngressRule, priority=100,reg1=0x2 actions=conjunction(10,2/2),conjunction(14,2/3)",
            "cookie=0x1020000000000, table=AntreaPolicyIngressRule, priority=200,tcp,tp_dst=8080 actions=conjunction(12,3/3)",
            "cookie=0x1020000000000, table=AntreaPolicyIngressRule, priority=200,icmp,icmp_type=8,icmp_code=0 actions=conjunction(12,3/3)",
            "cookie=0x1020000000000, table=AntreaPolicyIngressRule, priority=100,reg1=0x3 actions=conjunction(11,2/3)",
            "cookie=0x1020000000000, table=AntreaPolicyIngressRule, priority=200,ip,nw_src=192.168.1.40 actions=conjunction(12,1/3)",
            "cookie=0x1020000000000, table=AntreaPolicyIngressRule, priority=100,tcp,tp_src=32800 actions=conjunction(14,3/3)",
            "cookie=0x1020000000000, table=IngressMetric, priority=200,ct_state=+new,ct_label=0xa/0xffffffff,ip actions=goto_table:ConntrackCommit",
            "cookie=0x1020000000000, table=IngressMetric, priority=200,ct_state=-new,ct_label=0xa/0xffffffff,ip actions=goto_table:ConntrackCommit",
            "cookie=0x1020000000000, table=IngressMetric, priority=200,reg0=0x400/0x400,reg3=0xb actions=drop",
            "cookie=0x1020000000000, table=IngressMetric, priority=200,reg0=0x400/0x400,reg3=0xc actions=drop",
            "cookie=0x1020000000000, table=IngressMetric, priority=200,reg0=0x400/0x400,reg3=0xe actions=drop",
        ])
    );
}

#[test]
fn port_ranges_become_masked_matches() {
    assert_eq!(super::network_policy::port_masks(8080, 8080), vec!["8080"]);
    assert_eq!(
        super::network_policy::port_masks(8080, 8089),
        vec!["0x1f90/0xfff8", "0x1f98/0xfffe"]
    );
    assert_eq!(super::network_policy::port_masks(0, 65535), vec!["0x0/0x0"]);
}

#[test]
fn reject_and_pass_rules() {
    let rule = |id, action| OfRule {
        logging: false,
        id,
        direction: Direction::Egress,
        layer: Layer::Antrea,
        priority: 14500,
        action,
        from: nets(&["10.10.0.5/32"]),
        to: nets(&["10.10.1.0/24"]),
        services: vec![],
    };
    let got = added(NodePolicyRules {
        rules: vec![rule(1, RuleAction::Reject), rule(2, RuleAction::Pass)],
        ..NodePolicyRules::default()
    });
    let table_id = super::tables(&spec())
        .iter()
        .find(|(_, n)| *n == "AntreaPolicyEgressRule")
        .map(|(id, _)| *id)
        .expect("table");
    for want in [
        format!(
            "cookie=0x1020000000000, table=AntreaPolicyEgressRule, priority=14500,conj_id=1 actions=set_field:0x1->reg3,set_field:0x400/0x400->reg0,set_field:0x4000000/0xfe000000->reg0,set_field:{table_id:#x}/0xff->reg2,group:4294966785"
        ),
        "cookie=0x1020000000000, table=AntreaPolicyEgressRule, priority=14500,conj_id=2 actions=set_field:0x2->reg5,goto_table:EgressRule".to_string(),
        "group_id=4294966785,type=all,bucket=bucket_id:0,actions=resubmit:EgressMetric,bucket=bucket_id:1,actions=set_field:0x400000/0x600000->reg0,resubmit:Output".to_string(),
    ] {
        assert!(got.contains(&want), "missing {want}\nin {got:#?}");
    }
}

/// `enableLogging` and deny tracking (the flow exporter on), with the
/// action strings of Antrea's client_test.go (`TestNetworkPolicyFlows`'
/// logged drop rule and logged default drop): the packet goes to the agent
/// with the operations it asks for added up.
#[test]
fn logged_and_tracked_rules_send_the_packet_to_the_agent() {
    let rule = |id, action, logging| OfRule {
        logging,
        id,
        direction: Direction::Ingress,
        layer: Layer::Antrea,
        priority: 14500,
        action,
        from: nets(&["10.10.0.5/32"]),
        to: vec![Addr::OfPort(3)],
        services: vec![],
    };
    let table_id = |name: &str| {
        super::tables(&spec())
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(id, _)| *id)
            .expect("table")
    };
    let rule_table = table_id("AntreaPolicyIngressRule");
    let rules = NodePolicyRules {
        rules: vec![
            rule(15, RuleAction::Drop, true),
            rule(16, RuleAction::Allow, true),
            rule(17, RuleAction::Drop, false),
        ],
        isolated_ingress: vec![0x64, 0x65],
        isolated_egress: vec![],
        logged_isolated_ingress: vec![0x65],
        logged_isolated_egress: vec![],
    };
    let got = added(rules.clone());
    for want in [
        // client_test.go: `set_field:0xf->reg3,set_field:0x400/0x400->reg0,
        // set_field:0x800/0x1800->reg0,set_field:0x2000000/0xfe000000->reg0,
        // set_field:0x1b/0xff->reg2,group:4` (antlab's table id and group id).
        format!(
            "cookie=0x1020000000000, table=AntreaPolicyIngressRule, priority=14500,conj_id=15 actions=set_field:0xf->reg3,set_field:0x400/0x400->reg0,set_field:0x800/0x1800->reg0,set_field:0x2000000/0xfe000000->reg0,set_field:{rule_table:#x}/0xff->reg2,group:4294966786"
        ),
        format!(
            "cookie=0x1020000000000, table=AntreaPolicyIngressRule, priority=14500,conj_id=16,ip actions=set_field:0x10->reg6,ct(commit,table=IngressMetric,zone=65520,exec(set_field:0x10/0xffffffff->ct_label)),set_field:0/0x1800->reg0,set_field:0x400000/0x600000->reg0,set_field:0x2000000/0xfe000000->reg0,set_field:{rule_table:#x}/0xff->reg2,goto_table:Output"
        ),
        "cookie=0x1020000000000, table=AntreaPolicyIngressRule, priority=14500,conj_id=17 actions=set_field:0x11->reg3,set_field:0x400/0x400->reg0,goto_table:IngressMetric".to_string(),
        "cookie=0x1020000000000, table=IngressDefaultRule, priority=200,reg1=0x64 actions=drop".to_string(),
        // client_test.go's logged default drop.
        format!(
            "cookie=0x1020000000000, table=IngressDefaultRule, priority=200,reg1=0x65 actions=set_field:0x800/0x1800->reg0,set_field:0x2000000/0xfe000000->reg0,set_field:0x400000/0x600000->reg0,set_field:{:#x}/0xff->reg2,goto_table:Output",
            table_id("IngressDefaultRule")
        ),
    ] {
        assert!(got.contains(&want), "missing {want}\nin {got:#?}");
    }
    // Deny tracking: every drop stores the denied connection (0b100).
    let mut features = spec().features();
    features.deny_tracking = true;
    let tracked = compile(
        &spec()
            .with_features(features)
            .with_policy(Some(Arc::new(rules))),
    );
    let default_table = table_id("IngressDefaultRule");
    for want in [
        format!(
            "cookie=0x1020000000000, table=AntreaPolicyIngressRule, priority=14500,conj_id=15 actions=set_field:0xf->reg3,set_field:0x400/0x400->reg0,set_field:0x800/0x1800->reg0,set_field:0x800/0x1800->reg0,set_field:0xa000000/0xfe000000->reg0,set_field:{rule_table:#x}/0xff->reg2,group:4294966786"
        ),
        format!(
            "cookie=0x1020000000000, table=AntreaPolicyIngressRule, priority=14500,conj_id=17 actions=set_field:0x11->reg3,set_field:0x400/0x400->reg0,set_field:0x800/0x1800->reg0,set_field:0x8000000/0xfe000000->reg0,set_field:{rule_table:#x}/0xff->reg2,group:4294966786"
        ),
        // client_test.go's logged default drop, with the store operation.
        format!(
            "cookie=0x1020000000000, table=IngressDefaultRule, priority=200,reg1=0x64 actions=set_field:0x800/0x1800->reg0,set_field:0x8000000/0xfe000000->reg0,set_field:0x400000/0x600000->reg0,set_field:{default_table:#x}/0xff->reg2,goto_table:Output"
        ),
    ] {
        assert!(tracked.flows().contains(&want), "missing {want}");
    }
}
