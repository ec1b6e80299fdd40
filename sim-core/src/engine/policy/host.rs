//! NodeNetworkPolicy: Antrea-native ClusterNetworkPolicies applied to Nodes
//! (`appliedTo.nodeSelector`), enforced on the node's own host network as
//! Antrea's agent does it with iptables
//! (`pkg/agent/controller/networkpolicy/node_reconciler_linux.go`,
//! `pkg/agent/route/route_linux.go` `initNodeNetworkPolicy`):
//!
//! - `INPUT` jumps to `ANTREA-POL-PRE-INGRESS-RULES` (accept established
//!   or related packets, accept from `lo`), then to
//!   `ANTREA-POL-INGRESS-RULES`; `OUTPUT` likewise for egress.
//! - Each rule is one core rule in its direction's chain, in priority order
//!   (Tier, then policy, then rule): its peers (sources for ingress,
//!   destinations for egress) matched directly when there is one, through
//!   an ipset `ANTREA-POL-<ID>-4` when there are more; one service in the
//!   core rule itself, several in a chain `ANTREA-POL-<ID>`; the action
//!   `ACCEPT`, `DROP` or `REJECT` (ICMP port unreachable, iptables'
//!   default). A rule without peers' addresses installs nothing.
//! - Nothing matches: the packet goes on (there is no default deny).
//!
//! A peer list that is empty or holds `0.0.0.0/0` is every address. The
//! feature gate `NodeNetworkPolicy` (agent, Alpha, off by default) must be
//! on. [`HostFirewall`] is part of the node's
//! [`crate::engine::dataplane::NodeDataplane`]; the simulator's host stack
//! evaluates it (`sim::stack`), real mode writes it as nftables chains.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::PolicyKey;
use super::index::resolve_peer_addresses;
use super::rules::{ServiceMatch, antrea_rules, services};
use crate::engine::{ClusterState, NodeId};
use crate::k8s::{Direction, Protocol, RuleAction};

/// The chain Antrea puts ingress NodeNetworkPolicy rules in (`config.NodeNetworkPolicyIngressRulesChain`).
pub const INGRESS_CHAIN: &str = "ANTREA-POL-INGRESS-RULES";
/// The chain of egress rules.
pub const EGRESS_CHAIN: &str = "ANTREA-POL-EGRESS-RULES";

/// What a matching rule does (`ruleActionToIPTTarget`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum HostAction {
    Accept,
    Drop,
    /// ICMP port unreachable to the sender (iptables `REJECT`'s default).
    Reject,
}

impl HostAction {
    /// The iptables target.
    pub fn target(self) -> &'static str {
        match self {
            HostAction::Accept => "ACCEPT",
            HostAction::Drop => "DROP",
            HostAction::Reject => "REJECT",
        }
    }
}

/// One rule as a node's host firewall holds it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HostRule {
    /// The rule id (the same number its ct_label carries in br-int).
    pub id: u32,
    /// `AntreaClusterNetworkPolicy:<name>`, as Antrea's comment names it.
    pub policy: String,
    pub rule: String,
    /// Sources (ingress) or destinations (egress); `0.0.0.0/0` for any.
    #[serde(serialize_with = "crate::engine::dataplane::ser_nets")]
    pub peers: Vec<Ipv4Net>,
    /// Empty: every protocol and port.
    #[serde(skip)]
    pub services: Vec<ServiceMatch>,
    pub action: HostAction,
    /// `enableLogging`: the `LOG` target's prefix (`generateLogLabel`).
    pub log_prefix: Option<String>,
}

/// A node's NodeNetworkPolicy rules, each direction in evaluation order.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct HostFirewall {
    pub ingress: Vec<HostRule>,
    pub egress: Vec<HostRule>,
}

/// What the host firewall says about one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostVerdict<'a> {
    pub rule: &'a HostRule,
    pub chain: &'static str,
}

impl HostFirewall {
    pub fn is_empty(&self) -> bool {
        self.ingress.is_empty() && self.egress.is_empty()
    }

    /// The first rule of `direction` matching a new packet whose peer is
    /// `peer` (source for ingress, destination for egress), `None` if none
    /// does (the packet is accepted). Established packets and loopback never
    /// get here (the PRE chains accept them).
    pub fn judge(
        &self,
        direction: Direction,
        peer: Ipv4Addr,
        l4: &PacketL4,
    ) -> Option<HostVerdict<'_>> {
        let (rules, chain) = match direction {
            Direction::Ingress => (&self.ingress, INGRESS_CHAIN),
            Direction::Egress => (&self.egress, EGRESS_CHAIN),
        };
        rules
            .iter()
            .find(|r| {
                r.peers.iter().any(|n| n.contains(&peer))
                    && (r.services.is_empty() || r.services.iter().any(|s| l4.matches(s)))
            })
            .map(|rule| HostVerdict { rule, chain })
    }

    /// The rules as `iptables-save -t filter` would list Antrea's chains
    /// (node_reconciler_linux.go), with the ipsets they use.
    pub fn iptables_save(&self) -> String {
        let mut out = String::from("*filter\n");
        for chain in [
            "ANTREA-POL-PRE-INGRESS-RULES",
            INGRESS_CHAIN,
            "ANTREA-POL-PRE-EGRESS-RULES",
            EGRESS_CHAIN,
        ] {
            let _ = writeln!(out, ":{chain} - [0:0]");
        }
        let rules = self.ingress.iter().chain(&self.egress);
        for r in rules.clone().filter(|r| r.services.len() > 1) {
            let _ = writeln!(out, ":{} - [0:0]", service_chain(r.id));
        }
        for (chain, dir) in [
            ("ANTREA-POL-PRE-INGRESS-RULES", "-i"),
            ("ANTREA-POL-PRE-EGRESS-RULES", "-o"),
        ] {
            let _ = writeln!(
                out,
                "-A {chain} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
            );
            let _ = writeln!(out, "-A {chain} {dir} lo -j ACCEPT");
        }
        for (chain, rules, ingress) in [
            (INGRESS_CHAIN, &self.ingress, true),
            (EGRESS_CHAIN, &self.egress, false),
        ] {
            // A rule whose peers resolve to no address installs nothing
            // (buildCoreIPTRules).
            for r in rules.iter().filter(|r| !r.peers.is_empty()) {
                let side = if ingress { "src" } else { "dst" };
                let flag = if ingress { "-s" } else { "-d" };
                let mut line = format!("-A {chain}");
                if r.peers.len() > 1 {
                    let _ = write!(line, " -m set --match-set {} {side}", ipset_name(r.id));
                } else if let Some(n) = r.peers.first().filter(|n| n.prefix_len() > 0) {
                    // The rule builder leaves out a match of every address.
                    let _ = write!(line, " {flag} {n}");
                }
                let target = if r.services.len() > 1 {
                    service_chain(r.id)
                } else {
                    if let Some(s) = r.services.first() {
                        line.push_str(&service_match(s));
                    }
                    if let Some(p) = r.log_prefix.as_deref() {
                        let _ = writeln!(out, "{line} -j LOG --log-prefix \"{p}\"");
                    }
                    r.action.target().to_string()
                };
                let _ = writeln!(
                    out,
                    "{line} -j {target} -m comment --comment \"Antrea: for rule {}, policy {}\"",
                    r.rule, r.policy
                );
            }
        }
        for r in rules.clone().filter(|r| r.services.len() > 1) {
            for s in &r.services {
                let line = format!("-A {}{}", service_chain(r.id), service_match(s));
                if let Some(p) = r.log_prefix.as_deref() {
                    let _ = writeln!(out, "{line} -j LOG --log-prefix \"{p}\"");
                }
                let _ = writeln!(out, "{line} -j {}", r.action.target());
            }
        }
        out.push_str("COMMIT\n");
        for r in rules.filter(|r| r.peers.len() > 1) {
            let _ = writeln!(out, "# ipset {} (hash:net)", ipset_name(r.id));
            for n in &r.peers {
                let _ = writeln!(out, "#   {n}");
            }
        }
        out
    }
}

/// The service chain of a rule with several services.
pub fn service_chain(id: u32) -> String {
    format!("ANTREA-POL-RULE{id}")
}

/// The ipset of a rule with several peers.
pub fn ipset_name(id: u32) -> String {
    format!("ANTREA-POL-RULE{id}-4")
}

/// ` -p tcp --dport 80`-style text for one service.
fn service_match(s: &ServiceMatch) -> String {
    let range = |(a, b): (u16, u16)| {
        if a == b {
            a.to_string()
        } else {
            format!("{a}:{b}")
        }
    };
    match s {
        ServiceMatch::L4 { protocol, dst, src } => {
            let mut t = format!(" -p {}", protocol_name(*protocol));
            if let Some(r) = src {
                let _ = write!(t, " --sport {}", range(*r));
            }
            if let Some(r) = dst {
                let _ = write!(t, " --dport {}", range(*r));
            }
            t
        }
        ServiceMatch::Icmp { icmp_type, code } => match (icmp_type, code) {
            (Some(t), Some(c)) => format!(" -p icmp --icmp-type {t}/{c}"),
            (Some(t), None) => format!(" -p icmp --icmp-type {t}"),
            _ => " -p icmp".to_string(),
        },
    }
}

pub fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// The transport header of a packet, as the firewall's matches read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketL4 {
    Ports {
        protocol: Protocol,
        src: u16,
        dst: u16,
    },
    Icmp {
        icmp_type: u8,
        code: u8,
    },
    Other,
}

impl PacketL4 {
    fn matches(&self, s: &ServiceMatch) -> bool {
        let within = |r: &Option<(u16, u16)>, p: u16| r.is_none_or(|(a, b)| (a..=b).contains(&p));
        match (self, s) {
            (
                PacketL4::Ports {
                    protocol,
                    src: sp,
                    dst: dp,
                },
                ServiceMatch::L4 {
                    protocol: want,
                    dst,
                    src,
                },
            ) => protocol == want && within(dst, *dp) && within(src, *sp),
            (
                PacketL4::Icmp { icmp_type, code },
                ServiceMatch::Icmp {
                    icmp_type: t,
                    code: c,
                },
            ) => t.is_none_or(|t| t == *icmp_type) && c.is_none_or(|c| c == *code),
            _ => false,
        }
    }
}

/// Node `node`'s host firewall: the rules of every ClusterNetworkPolicy
/// whose appliedTo (policy or rule level) selects it by `nodeSelector`,
/// when the `NodeNetworkPolicy` gate is on.
pub fn host_firewall(cluster: &ClusterState, node: NodeId) -> HostFirewall {
    let mut fw = HostFirewall::default();
    let store = &cluster.policies;
    if store.is_empty() || !cluster.settings.agent_gate("NodeNetworkPolicy") {
        return fw;
    }
    let Some(labels) = cluster.nodes().find(|n| n.id == node).map(|n| &n.labels) else {
        return fw;
    };
    let mut rules = antrea_rules(store);
    rules.retain(|r| r.policy.cluster_wide);
    // Evaluation order: Tier, policy priority, rule index; then the
    // policy's name so that equal priorities order alike on every node.
    rules.sort_by(|a, b| {
        a.precedence
            .order(&b.precedence)
            .then_with(|| a.key.policy.cmp(&b.key.policy))
    });
    for r in rules {
        let targets = if r.rule.applied_to.is_empty() {
            &r.policy.applied_to
        } else {
            &r.rule.applied_to
        };
        let applies = targets
            .iter()
            .filter_map(|t| t.node_selector.as_ref())
            .any(|sel| sel.matches(labels));
        if !applies || r.rule.action == RuleAction::Pass {
            continue;
        }
        let Some(id) = store.rule_id(&r.key) else {
            continue;
        };
        let Some(services) = services(&r.rule.services, &[]) else {
            continue;
        };
        let home = r.key.policy.namespace.as_deref();
        let mut peers = resolve_peer_addresses(cluster, store, &r.rule.peers, home);
        if peers.iter().any(|n| n.prefix_len() == 0) {
            peers = vec![Ipv4Net::default()];
        }
        let action = match r.rule.action {
            RuleAction::Allow => HostAction::Accept,
            RuleAction::Drop => HostAction::Drop,
            RuleAction::Reject | RuleAction::Pass => HostAction::Reject,
        };
        let log_prefix = r
            .rule
            .enable_logging
            .then(|| log_prefix(r.direction, r.rule.action, r.rule.log_label.as_deref()));
        let rule = HostRule {
            id,
            policy: policy_ref(&r.key.policy),
            rule: r.rule_name(),
            peers,
            services,
            action,
            log_prefix,
        };
        match r.direction {
            Direction::Ingress => fw.ingress.push(rule),
            Direction::Egress => fw.egress.push(rule),
        }
    }
    fw
}

/// The kernel log prefix of a logged rule (`generateLogLabel`):
/// `Antrea:<I|O>:<action>:[<logLabel cut to 12>:]`, at most 29 characters.
pub fn log_prefix(direction: Direction, action: RuleAction, label: Option<&str>) -> String {
    let dir = match direction {
        Direction::Ingress => "I",
        Direction::Egress => "O",
    };
    let mut p = format!("Antrea:{dir}:{}", action.as_str());
    if let Some(l) = label {
        let cut: String = l.chars().take(12).collect();
        p.push(':');
        p.push_str(&cut);
    }
    p.push(':');
    p
}

/// `SourceRef.ToString()` of a ClusterNetworkPolicy.
fn policy_ref(key: &PolicyKey) -> String {
    format!("AntreaClusterNetworkPolicy:{}", key.name)
}
