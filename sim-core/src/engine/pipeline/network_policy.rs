//! Feature NetworkPolicy's init flows (`featureNetworkPolicy.initFlows`,
//! network_policy.go and pipeline.go, v1.15.1): traffic to the gateway,
//! the tunnel or the uplink and hairpin traffic skip the ingress policy
//! tables, established and related connections skip the rule tables, and
//! the packet-in flows for policy logging. The policy rules themselves come
//! with NetworkPolicy support (a later issue); until then the policy tables
//! hold their default flows only.

use super::flow::{Category, Flow, FlowSet};
use super::spec::PipelineSpec;
use super::tables::{Stage, T};

const C: Category = Category::NetworkPolicy;

pub(crate) fn init_flows(spec: &PipelineSpec, out: &mut FlowSet) {
    let f = spec.features;
    // ingressClassifierFlows: ToGateway, ToTunnel, ToUplink (reg0[4..7]).
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
    // skipPolicyRuleCheckFlows.
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
