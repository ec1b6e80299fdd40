//! Feature NetworkPolicy's init flows (`featureNetworkPolicy.initFlows`,
//! network_policy.go and pipeline.go, v1.15.1): traffic to the gateway,
//! the tunnel or the uplink and hairpin traffic skip the ingress policy
//! tables, established and related connections skip the rule tables, and
//! the packet-in flows for policy logging; then each node's policy rules
//! ([`rule_flows`], from `engine::policy::NodePolicyRules`).

use std::collections::BTreeMap;

use super::flow::{Category, Flow, FlowSet, Group};
use super::pod_connectivity::CT_ZONE;
use super::service;
use super::spec::PipelineSpec;
use super::tables::{Stage, T};
use crate::engine::policy::NodePolicyRules;
use crate::engine::policy::rules::{Addr, Layer, OfRule, ServiceMatch};
use crate::k8s::{Direction, Protocol, RuleAction};

const C: Category = Category::NetworkPolicy;

pub(crate) fn init_flows(spec: &PipelineSpec, out: &mut FlowSet) {
    if !spec.is_external_node() {
        ingress_classifier_flows(spec, out);
    }
    skip_and_logging_flows(spec, out);
}

/// `ingressClassifierFlows` (a Kubernetes Node's only).
fn ingress_classifier_flows(spec: &PipelineSpec, out: &mut FlowSet) {
    let f = spec.features;
    // ToGateway, ToTunnel, ToUplink (reg0[4..7]).
    for dst in ["0x20", "0x10", "0x40"] {
        out.push(Flow::new(
            C,
            T::IngressSecurityClassifier,
            200,
            format!("reg0={dst}/0xf0"),
            "goto_table:IngressMetric",
        ));
    }
    let conntrack = out.layout.stage(Stage::Conntrack).name();
    out.push(Flow::new(
        C,
        T::IngressSecurityClassifier,
        200,
        "ct_mark=0x40/0x40",
        format!("goto_table:{conntrack}"),
    ));
    if f.antrea_policy && f.proxy_all && f.antrea_proxy {
        out.push(Flow::new(
            C,
            T::IngressSecurityClassifier,
            201,
            "reg4=0x80000/0x80000",
            "goto_table:AntreaPolicyIngressRule",
        ));
    }
}

/// `skipPolicyRuleCheckFlows` and `initLoggingFlows`.
fn skip_and_logging_flows(spec: &PipelineSpec, out: &mut FlowSet) {
    let f = spec.features;
    let (egress_t, ingress_t, prio) = if f.antrea_policy {
        (T::AntreaPolicyEgressRule, T::AntreaPolicyIngressRule, 64990)
    } else {
        (T::EgressRule, T::IngressRule, 210)
    };
    for (t, metric) in [(egress_t, "EgressMetric"), (ingress_t, "IngressMetric")] {
        for state in ["-new+est", "-new+rel"] {
            out.push(Flow::new(
                C,
                t,
                prio,
                format!("ct_state={state},ip"),
                format!("goto_table:{metric}"),
            ));
        }
    }
    // initLoggingFlows: one packet-in flow per logging operation 1..7
    // (reg0[21..22] = 2 output to controller, reg0[25..31] operations).
    let meter = if f.ovs_meters { "meter:256," } else { "" };
    for op in 1u32..=7 {
        out.push(Flow::new(
            C,
            T::Output,
            200,
            format!("reg0={:#x}/0xfe600000", (op << 25) | 0x400000),
            format!(
                "{meter}controller(id=32776,reason=no_match,userdata=01.{op:02x},max_len=65535)"
            ),
        ));
    }
}

/// A clause flow's identity: table, priority and match text. Rules that
/// share one add their `conjunction(id,k/n)` to it.
type ClauseKey = (T, u16, String);

/// The `all` groups a Reject rule sends its packet through: one copy
/// resubmitted to the metric table (counted, then dropped), one marked for
/// the controller and resubmitted to Output (`initGroups`). Antrea
/// allocates them first at agent start; antlab numbers them from
/// [`REJECT_GROUP_BASE`] so that Service groups keep their numbers.
pub const REJECT_GROUP_BASE: u32 = 0xffff_fe00;

/// `PacketInOperationField` values (pkg/agent/openflow/packetin.go): the
/// agent logs the packet, rejects it, or stores the denied connection for
/// the flow exporter; they add up.
pub const PACKET_IN_LOGGING: u32 = 0b1;
pub const PACKET_IN_REJECT: u32 = 0b10;
pub const PACKET_IN_STORE_DENY: u32 = 0b100;

/// A NetworkPolicy packet-in as the agent reads it
/// (pkg/agent/controller/networkpolicy/packetin.go): the operations asked
/// for (`userdata=01.<ops>`), the table that sent it (`PacketInTableField`,
/// reg2[0..7]), the disposition (`APDispositionField`, reg0[11..12]:
/// Allow 0, Drop 1, Reject 2, Pass 3), whether a rule denied it
/// (`APDenyRegMark`, reg0[10]) and the rule ids in reg3 (a deny) and
/// reg5/reg6 (an egress/ingress allow).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyPacketIn {
    pub ops: u32,
    pub table: u8,
    pub disposition: u32,
    pub denied_by_rule: bool,
    regs: [u32; 8],
}

impl PolicyPacketIn {
    /// `None` for any other packet-in (EndpointDNAT's is `userdata=04`).
    pub fn of(p: &crate::openflow::PacketIn) -> Option<PolicyPacketIn> {
        let rest = p.args.split("userdata=01.").nth(1)?;
        let hex: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
        let ops = u32::from_str_radix(&hex, 16).ok()?;
        let r = p.regs;
        Some(PolicyPacketIn {
            ops,
            table: (r[2] & 0xff) as u8,
            disposition: (r[0] >> 11) & 0b11,
            denied_by_rule: r[0] & 0x400 != 0,
            regs: r,
        })
    }

    /// The id of the rule that sent it: reg3 for a drop or reject, else
    /// the allowing rule's reg6 (ingress) or reg5 (egress).
    pub fn rule_id(&self, ingress: bool) -> u32 {
        match (self.disposition, ingress) {
            (1 | 2, _) => self.regs[3],
            (_, true) => self.regs[6],
            (_, false) => self.regs[5],
        }
    }

    /// Kubernetes NetworkPolicy isolation's drop (`isK8sDefaultDeny`): a
    /// Drop no rule's deny mark explains.
    pub fn is_default_drop(&self) -> bool {
        !self.denied_by_rule && self.disposition == 1
    }
}

/// The action loading `ops` into `PacketInOperationField` (reg0[25..31]).
fn packet_in_operations(ops: u32) -> String {
    format!("set_field:{:#x}/0xfe000000->reg0", ops << 25)
}

fn reject_group(metric: T) -> u32 {
    match metric {
        T::EgressMetric => REJECT_GROUP_BASE + 1,
        _ => REJECT_GROUP_BASE + 2,
    }
}

/// The tables of a rule: where its clauses and action live, and its
/// direction's metric table.
fn rule_table(r: &OfRule) -> (T, T) {
    let ingress = r.direction == Direction::Ingress;
    let table = match (r.layer, ingress) {
        (Layer::Antrea, true) => T::AntreaPolicyIngressRule,
        (Layer::Antrea, false) => T::AntreaPolicyEgressRule,
        (Layer::K8s, true) => T::IngressRule,
        (Layer::K8s, false) => T::EgressRule,
        (Layer::Baseline, true) => T::IngressDefaultRule,
        (Layer::Baseline, false) => T::EgressDefaultRule,
    };
    let metric = if ingress {
        T::IngressMetric
    } else {
        T::EgressMetric
    };
    (table, metric)
}

/// `nw_src=10.0.0.5` for a /32, else the CIDR.
fn net_text(n: &ipnet::Ipv4Net) -> String {
    if n.prefix_len() == 32 {
        n.addr().to_string()
    } else {
        n.to_string()
    }
}

/// A port range as OpenFlow value/mask pairs (Antrea's `BitRange`s):
/// `8080`, or `0x1f90/0xfff8`.
pub(crate) fn port_masks(lo: u16, hi: u16) -> Vec<String> {
    let mut out = Vec::new();
    let (mut start, end) = (u32::from(lo), u32::from(hi));
    while start <= end {
        // The largest aligned block starting at `start` that fits.
        let mut size = if start == 0 {
            1 << 16
        } else {
            start & start.wrapping_neg()
        };
        while start + size - 1 > end {
            size >>= 1;
        }
        let mask = 0xffff & !(size - 1);
        if mask == 0xffff {
            out.push(start.to_string());
        } else {
            out.push(format!("{start:#x}/{mask:#x}"));
        }
        start += size;
    }
    out
}

fn service_matches(s: &ServiceMatch) -> Vec<String> {
    match s {
        ServiceMatch::Icmp { icmp_type, code } => {
            let mut m = String::from("icmp");
            if let Some(t) = icmp_type {
                m.push_str(&format!(",icmp_type={t}"));
            }
            if let Some(c) = code {
                m.push_str(&format!(",icmp_code={c}"));
            }
            vec![m]
        }
        ServiceMatch::L4 { protocol, dst, src } => {
            let proto = match protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
                Protocol::Sctp => "sctp",
            };
            let dsts = dst.map_or(vec![String::new()], |(a, b)| {
                port_masks(a, b)
                    .into_iter()
                    .map(|m| format!(",tp_dst={m}"))
                    .collect()
            });
            let srcs = src.map_or(vec![String::new()], |(a, b)| {
                port_masks(a, b)
                    .into_iter()
                    .map(|m| format!(",tp_src={m}"))
                    .collect()
            });
            let mut out = Vec::new();
            for d in &dsts {
                for s in &srcs {
                    out.push(format!("{proto}{d}{s}"));
                }
            }
            out
        }
    }
}

/// The flows of a node's policy rules (`InstallPolicyRuleFlows` for every
/// rule, pipeline.go and network_policy.go): per rule its conjunctive
/// clause flows (a match shared by rules carries each one's
/// `conjunction(id,k/n)`), its action flow on `conj_id`, its metric flows;
/// and the default drop of every Pod a Kubernetes NetworkPolicy isolates.
pub(crate) fn rule_flows(
    spec: &PipelineSpec,
    rules: &NodePolicyRules,
    out: &mut FlowSet,
    groups: &mut Vec<Group>,
) {
    let f = spec.features;
    // (table, priority, match) -> conjunctions, in first-seen order.
    let mut clauses: BTreeMap<ClauseKey, Vec<(u32, usize, usize)>> = BTreeMap::new();
    let mut reject_metrics: Vec<T> = Vec::new();
    for r in &rules.rules {
        // Without the AntreaPolicy gate the agent realizes no Antrea-native
        // rule, Baseline included.
        if r.layer != Layer::K8s && !f.antrea_policy {
            continue;
        }
        let (table, metric) = rule_table(r);
        let ingress = r.direction == Direction::Ingress;
        let n = if r.services.is_empty() { 2 } else { 3 };
        let to_word = |a: &Addr, dst: bool| -> Vec<String> {
            let field = if dst { "nw_dst" } else { "nw_src" };
            match a {
                Addr::Net(net) => vec![format!("ip,{field}={}", net_text(net))],
                Addr::OfPort(p) => vec![format!("reg1={p:#x}")],
                Addr::Service { namespace, name } => spec
                    .services
                    .as_deref()
                    .map(|rules| service::service_group_ids(spec, rules, namespace, name))
                    .unwrap_or_default()
                    .into_iter()
                    .map(|g| format!("reg7={g:#x}"))
                    .collect(),
            }
        };
        let mut add = |m: String, k: usize| {
            clauses
                .entry((table, r.priority, m))
                .or_default()
                .push((r.id, k, n));
        };
        for a in &r.from {
            for m in to_word(a, false) {
                add(m, 1);
            }
        }
        for a in &r.to {
            for m in to_word(a, true) {
                add(m, 2);
            }
        }
        for s in &r.services {
            for m in service_matches(s) {
                add(m, 3);
            }
        }
        // The action flow.
        let conj_reg = if ingress { "reg6" } else { "reg5" };
        let id = r.id;
        match r.action {
            RuleAction::Allow => {
                let label = if ingress {
                    format!("{id:#x}/0xffffffff")
                } else {
                    format!("{:#x}/0xffffffff00000000", u64::from(id) << 32)
                };
                let prio = if r.layer == Layer::K8s {
                    190
                } else {
                    r.priority
                };
                let mut a = format!(
                    "set_field:{id:#x}->{conj_reg},ct(commit,table={},zone={CT_ZONE},exec(set_field:{label}->ct_label))",
                    metric.name()
                );
                if r.logging {
                    // The connection is committed and goes on (the
                    // recirculated copy); this packet goes to the agent
                    // for the audit log (pipeline.go conjunctionActionFlow).
                    a.push_str(&format!(
                        ",set_field:0/0x1800->reg0,set_field:0x400000/0x600000->reg0,{},set_field:{:#x}/0xff->reg2,goto_table:Output",
                        packet_in_operations(PACKET_IN_LOGGING),
                        out.layout.id(table)
                    ));
                }
                out.push(Flow::new(C, table, prio, format!("conj_id={id},ip"), a));
                let next = out
                    .layout
                    .next(metric)
                    .expect("the metric tables have a next table");
                for state in ["+new", "-new"] {
                    out.push(Flow::new(
                        C,
                        metric,
                        200,
                        format!("ct_state={state},ct_label={label},ip"),
                        format!("goto_table:{}", next.name()),
                    ));
                }
            }
            RuleAction::Drop | RuleAction::Reject => {
                // conjunctionActionDenyFlow: the operations the agent is
                // asked for (store the denied connection, log, reject);
                // any of them sends a copy to it through the metric
                // table's packet-in group.
                let reject = r.action == RuleAction::Reject;
                let disposition = if reject { "0x1000" } else { "0x800" };
                let mut a = format!("set_field:{id:#x}->reg3,set_field:0x400/0x400->reg0,");
                let mut ops = 0;
                if spec.features.deny_tracking {
                    ops += PACKET_IN_STORE_DENY;
                    a.push_str(&format!("set_field:{disposition}/0x1800->reg0,"));
                }
                if r.logging {
                    ops += PACKET_IN_LOGGING;
                    a.push_str(&format!("set_field:{disposition}/0x1800->reg0,"));
                }
                if reject {
                    ops += PACKET_IN_REJECT;
                }
                if ops != 0 {
                    // PacketInOperationField reg0[25..31], PacketInTableField
                    // reg2[0..7] = this table.
                    a.push_str(&format!(
                        "{},set_field:{:#x}/0xff->reg2,group:{}",
                        packet_in_operations(ops),
                        out.layout.id(table),
                        reject_group(metric)
                    ));
                    if !reject_metrics.contains(&metric) {
                        reject_metrics.push(metric);
                    }
                } else {
                    a.push_str(&format!("goto_table:{}", metric.name()));
                }
                out.push(Flow::new(C, table, r.priority, format!("conj_id={id}"), a));
                out.push(Flow::new(
                    C,
                    metric,
                    200,
                    format!("reg0=0x400/0x400,reg3={id:#x}"),
                    "drop",
                ));
            }
            RuleAction::Pass => {
                let next = if ingress {
                    T::IngressRule
                } else {
                    T::EgressRule
                };
                out.push(Flow::new(
                    C,
                    table,
                    r.priority,
                    format!("conj_id={id}"),
                    format!("set_field:{id:#x}->{conj_reg},goto_table:{}", next.name()),
                ));
            }
        }
    }
    for ((table, prio, m), conjs) in clauses {
        let actions: Vec<String> = {
            let mut c = conjs;
            c.sort();
            c.dedup();
            c.iter()
                .map(|(id, k, n)| format!("conjunction({id},{k}/{n})"))
                .collect()
        };
        out.push(Flow::new(C, table, prio, m, actions.join(",")));
    }
    // defaultDropFlow: with deny tracking or logging the drop goes to the
    // agent first.
    let default_drop = |table: T, logged: bool| -> String {
        let mut ops = 0;
        if spec.features.deny_tracking {
            ops += PACKET_IN_STORE_DENY;
        }
        if logged {
            ops += PACKET_IN_LOGGING;
        }
        if ops == 0 {
            return "drop".to_string();
        }
        format!(
            "set_field:0x800/0x1800->reg0,{},set_field:0x400000/0x600000->reg0,set_field:{:#x}/0xff->reg2,goto_table:Output",
            packet_in_operations(ops),
            out.layout.id(table)
        )
    };
    for port in &rules.isolated_ingress {
        let logged = rules.logged_isolated_ingress.contains(port);
        out.push(Flow::new(
            C,
            T::IngressDefaultRule,
            200,
            format!("reg1={port:#x}"),
            default_drop(T::IngressDefaultRule, logged),
        ));
    }
    for ip in &rules.isolated_egress {
        let logged = rules.logged_isolated_egress.contains(ip);
        out.push(Flow::new(
            C,
            T::EgressDefaultRule,
            200,
            format!("ip,nw_src={ip}"),
            default_drop(T::EgressDefaultRule, logged),
        ));
    }
    reject_metrics.sort();
    for metric in reject_metrics {
        groups.push(Group {
            id: reject_group(metric),
            buckets: vec![
                format!("resubmit:{}", metric.name()),
                "set_field:0x400000/0x600000->reg0,resubmit:Output".to_string(),
            ],
            all: true,
        });
    }
}
