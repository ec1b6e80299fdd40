//! Feature TrafficControl's flows (pod_connectivity.go
//! `trafficControlMarkFlows`, `trafficControlReturnClassifierFlow`,
//! `trafficControlCommonFlows`, v1.15.1). Registers (fields.go):
//! reg4[22..23] the action (0b01 mirror, 0b10 redirect), reg9 the target
//! port's ofport, reg0[0..3] = 6 for a packet back from a return port.
//!
//! - A local Pod's packets are marked in the TrafficControl table, after
//!   L2ForwardingCalc has chosen their output port: by `in_port` for
//!   Egress, by that output port (reg1) for Ingress.
//! - The Output table sends a mirrored packet to its port and to the
//!   target, a redirected one to the target only (priority 211, above the
//!   plain output).
//! - A packet coming back by a return port is classified as such and
//!   starts again at L3Forwarding; once L2ForwardingCalc has chosen its
//!   port it goes straight to Output, past the policy tables and
//!   conntrack commit it already crossed.

use super::flow::{Category, Flow, FlowSet};
use super::spec::PipelineSpec;
use super::tables::{Stage, T};
use crate::k8s::{TcAction, TcDirection};

const C: Category = Category::PodConnectivity;

/// `TrafficControlMirrorRegMark` and `TrafficControlRedirectRegMark` on reg4.
fn action_mark(a: TcAction) -> &'static str {
    match a {
        TcAction::Mirror => "0x400000/0xc00000",
        TcAction::Redirect => "0x800000/0xc00000",
    }
}

/// `trafficControlCommonFlows`.
pub(crate) fn init_flows(out: &mut FlowSet) {
    out.push(Flow::new(
        C,
        T::Output,
        211,
        format!(
            "reg0=0x200000/0x600000,reg4={}",
            action_mark(TcAction::Mirror)
        ),
        "output:NXM_NX_REG1[],output:NXM_NX_REG9[]",
    ));
    out.push(Flow::new(
        C,
        T::Output,
        211,
        format!(
            "reg0=0x200000/0x600000,reg4={}",
            action_mark(TcAction::Redirect)
        ),
        "output:NXM_NX_REG9[]",
    ));
    out.push(Flow::new(
        C,
        T::TrafficControl,
        210,
        "reg0=0x200006/0x60000f",
        "goto_table:Output",
    ));
}

/// Every return port's classifier flow and every TrafficControl's marks.
pub(crate) fn rule_flows(spec: &PipelineSpec, out: &mut FlowSet) {
    let Some(tc) = &spec.traffic_control else {
        return;
    };
    let routing = out.layout.stage(Stage::Routing).name();
    for p in tc.ports.iter().filter(|p| p.is_return) {
        out.push(Flow::new(
            C,
            T::Classifier,
            200,
            format!("in_port={}", p.ofport),
            format!("set_field:0x6/0xf->reg0,goto_table:{routing}"),
        ));
    }
    let next = out
        .layout
        .next(T::TrafficControl)
        .expect("TrafficControl has a successor")
        .name();
    for m in &tc.marks {
        let actions = format!(
            "set_field:{:#x}->reg9,set_field:{}->reg4,goto_table:{next}",
            m.target_ofport,
            action_mark(m.action)
        );
        for port in &m.pod_ofports {
            if matches!(m.direction, TcDirection::Ingress | TcDirection::Both) {
                out.push(Flow::new(
                    C,
                    T::TrafficControl,
                    200,
                    format!("reg1={port:#x}"),
                    actions.clone(),
                ));
            }
            if matches!(m.direction, TcDirection::Egress | TcDirection::Both) {
                out.push(Flow::new(
                    C,
                    T::TrafficControl,
                    200,
                    format!("in_port={port}"),
                    actions.clone(),
                ));
            }
        }
    }
}
