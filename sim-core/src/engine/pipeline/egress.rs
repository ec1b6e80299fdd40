//! Feature Egress (pkg/agent/openflow/egress.go and its flow builders in
//! pipeline.go, v1.15.1): the init flows (`externalFlows`: Pod and tunnel
//! traffic leaving the cluster goes through EgressMark; the node itself,
//! `egress.exceptCIDRs` and other nodes bypass SNAT), the SNAT mark of each
//! Egress IP this node holds (`InstallSNATMarkFlows`, for remote Pods'
//! packets arriving through the tunnel), and each selected local Pod's flow
//! (`InstallPodSNATFlows`): mark for SNAT here, or tunnel to the Egress IP
//! when another node holds it (Antrea sets `tun_dst` to the Egress IP
//! itself, which that node owns; egress_controller.go).
//! Marks: pkt_mark[0..7] SNAT IP id, reg0[19] remote SNAT.

use std::net::Ipv4Addr;

use super::flow::{Category, Flow, FlowSet};
use super::pod_connectivity::via_tunnel_actions;
use super::spec::{PipelineSpec, PodEgress};
use super::tables::{Stage, T};

const C: Category = Category::Egress;

/// `snatSkipCIDRFlow` / `snatSkipNodeFlow`.
fn skip(out: &mut FlowSet, dst: impl std::fmt::Display) {
    let switching = out.layout.stage(Stage::Switching).name();
    out.push(Flow::new(
        C,
        T::EgressMark,
        210,
        format!("ip,nw_dst={dst}"),
        format!("set_field:0x20/0xf0->reg0,goto_table:{switching}"),
    ));
}

pub(crate) fn init_flows(spec: &PipelineSpec, out: &mut FlowSet) {
    out.push(Flow::new(
        C,
        T::L3Forwarding,
        190,
        "ct_state=-rpl+trk,ip,reg0=0x3/0xf,reg4=0x0/0x100000",
        "goto_table:EgressMark",
    ));
    out.push(Flow::new(
        C,
        T::L3Forwarding,
        190,
        "ct_state=-rpl+trk,ip,reg0=0x1/0xf",
        format!(
            "set_field:{}->eth_dst,goto_table:EgressMark",
            spec.gateway_mac
        ),
    ));
    out.push(Flow::new(
        C,
        T::EgressMark,
        190,
        "ct_state=+new+trk,ip,reg0=0x1/0xf",
        "drop",
    ));
    skip(out, spec.node_ip.addr());
    for cidr in &spec.egress_except {
        skip(out, cidr);
    }
    let switching = out.layout.stage(Stage::Switching).name();
    out.push(Flow::new(
        C,
        T::EgressMark,
        0,
        "",
        format!("set_field:0x20/0xf0->reg0,goto_table:{switching}"),
    ));
}

/// `InstallSNATBypassServiceFlows`: Service traffic is never SNATed for Egress.
pub(crate) fn service_bypass(spec: &PipelineSpec, out: &mut FlowSet) {
    if let Some(cidr) = spec.service_cidr {
        skip(out, cidr);
    }
}

/// `InstallNodeFlows`' Egress part: traffic to another node is not SNATed.
pub(crate) fn peer_bypass(out: &mut FlowSet, node_ip: Ipv4Addr) {
    skip(out, node_ip);
}

/// `InstallSNATMarkFlows`.
pub(crate) fn snat_mark(out: &mut FlowSet, ip: Ipv4Addr, mark: u32) {
    let switching = out.layout.stage(Stage::Switching).name();
    out.push(Flow::new(
        C,
        T::EgressMark,
        200,
        format!("ct_state=+trk,ip,tun_dst={ip}"),
        format!(
            "set_field:{mark:#x}/0xff->pkt_mark,set_field:0x20/0xf0->reg0,goto_table:{switching}"
        ),
    ));
}

/// `InstallPodSNATFlows`.
pub(crate) fn pod_snat(
    spec: &PipelineSpec,
    out: &mut FlowSet,
    ofport: u32,
    egress_ip: Ipv4Addr,
    how: PodEgress,
) {
    let switching = out.layout.stage(Stage::Switching).name();
    match how {
        PodEgress::Local { mark } => out.push(Flow::new(
            C,
            T::EgressMark,
            200,
            format!("ct_state=+trk,ip,in_port={ofport}"),
            format!(
                "set_field:{mark:#x}/0xff->pkt_mark,set_field:0x20/0xf0->reg0,goto_table:{switching}"
            ),
        )),
        PodEgress::Remote => out.push(Flow::new(
            C,
            T::EgressMark,
            200,
            format!("ip,in_port={ofport}"),
            format!(
                "{},set_field:0x80000/0x80000->reg0,goto_table:{switching}",
                via_tunnel_actions(spec, egress_ip)
            ),
        )),
    }
}
