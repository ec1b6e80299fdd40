//! Feature PodConnectivity (pkg/agent/openflow/pod_connectivity.go and its
//! flow builders in pipeline.go, v1.15.1; IPv4 on Linux, no uplink bridging,
//! TrafficControl or Multicast): the init flows (gateway, tunnel, conntrack,
//! TTL, output), each local Pod's flows (`InstallPodFlows`) and each peer
//! node's flows (`InstallNodeFlows`). Register marks: fields.go (reg0[0..3]
//! packet source 1 tunnel / 2 gateway / 3 local Pod, reg0[4..7] destination
//! 1 tunnel / 2 gateway, reg0[9] rewrite MAC, reg0[21..22] output to port,
//! reg1 target ofport, reg4[27] from external, ct_mark[0..3] connection
//! source, ct_mark[4] Service connection).

use std::net::Ipv4Addr;

use super::flow::{Category, Flow, FlowSet, hex_ip};
use super::spec::{GATEWAY_OFPORT, LocalPod, PeerNode, PipelineSpec, TUNNEL_OFPORT};
use super::tables::{Stage, T};
use crate::model::MacAddr;

/// `GlobalVirtualMAC` (pipeline.go): the destination MAC of tunnelled packets.
pub const GLOBAL_VIRTUAL_MAC: MacAddr = MacAddr([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
/// `CtZone`, the DNAT/default conntrack zone (0xfff0).
pub const CT_ZONE: u32 = 65520;
/// `SNATCtZone` (0xfff1).
pub(crate) const SNAT_CT_ZONE: u32 = 65521;

const C: Category = Category::PodConnectivity;

fn next(out: &FlowSet, t: T) -> &'static str {
    out.layout.next(t).expect("table has a successor").name()
}

fn stage(out: &FlowSet, s: Stage) -> &'static str {
    out.layout.stage(s).name()
}

/// `l2ForwardCalcFlow`: packets to `mac` leave by `ofport`.
fn l2_forward_calc(out: &mut FlowSet, mac: MacAddr, ofport: u32) {
    let nt = next(out, T::L2ForwardingCalc);
    out.push(Flow::new(
        C,
        T::L2ForwardingCalc,
        200,
        format!("dl_dst={mac}"),
        format!("set_field:{ofport:#x}->reg1,set_field:0x200000/0x600000->reg0,goto_table:{nt}"),
    ));
}

/// `featurePodConnectivity.initFlows`.
pub(crate) fn init_flows(spec: &PipelineSpec, out: &mut FlowSet) {
    let gw_mac = spec.gateway_mac;
    let gw_ip = spec.gateway_ip;
    let gw = GATEWAY_OFPORT;
    // arpNormalFlow, arpSpoofGuardFlow (gateway).
    out.push(Flow::new(C, T::ArpResponder, 190, "arp", "NORMAL"));
    out.push(Flow::new(
        C,
        T::ArpSpoofGuard,
        200,
        format!("arp,in_port={gw},arp_spa={gw_ip},arp_sha={gw_mac}"),
        "goto_table:ARPResponder",
    ));
    // l3FwdFlowToExternal.
    let switching = stage(out, Stage::Switching);
    out.push(Flow::new(
        C,
        T::L3Forwarding,
        0,
        "",
        format!("set_field:0x20/0xf0->reg0,goto_table:{switching}"),
    ));
    // decTTLFlows.
    let after_ttl = next(out, T::L3DecTtl);
    out.push(Flow::new(
        C,
        T::L3DecTtl,
        210,
        "ip,reg0=0x2/0xf",
        format!("goto_table:{after_ttl}"),
    ));
    out.push(Flow::new(
        C,
        T::L3DecTtl,
        200,
        "ip",
        format!("dec_ttl,goto_table:{after_ttl}"),
    ));
    // conntrackFlows.
    let ct_state = next(out, T::ConntrackZone);
    out.push(Flow::new(
        C,
        T::ConntrackZone,
        200,
        "ip",
        format!("ct(table={ct_state},zone={CT_ZONE},nat)"),
    ));
    let egress_security = stage(out, Stage::EgressSecurity);
    out.push(Flow::new(
        C,
        T::ConntrackState,
        190,
        "ct_state=-new+trk,ct_mark=0x0/0x10,ip",
        format!("goto_table:{egress_security}"),
    ));
    out.push(Flow::new(
        C,
        T::ConntrackState,
        200,
        "ct_state=+inv+trk,ip",
        "drop",
    ));
    let after_commit = next(out, T::ConntrackCommit);
    out.push(Flow::new(
        C,
        T::ConntrackCommit,
        200,
        "ct_state=+new+trk-snat,ct_mark=0x0/0x10,ip",
        format!(
            "ct(commit,table={after_commit},zone={CT_ZONE},exec(move:NXM_NX_REG0[0..3]->NXM_NX_CT_MARK[0..3]))"
        ),
    ));
    let prerouting = stage(out, Stage::PreRouting);
    out.push(Flow::new(
        C,
        T::ConntrackState,
        0,
        "",
        format!("goto_table:{prerouting}"),
    ));
    // l2ForwardOutputFlow.
    out.push(Flow::new(
        C,
        T::Output,
        200,
        "reg0=0x200000/0x600000",
        "output:NXM_NX_REG1[]",
    ));
    // gatewayClassifierFlows.
    let validation = stage(out, Stage::Validation);
    out.push(Flow::new(
        C,
        T::Classifier,
        210,
        format!("ip,in_port={gw},nw_src={gw_ip}"),
        format!("set_field:0x2/0xf->reg0,goto_table:{validation}"),
    ));
    out.push(Flow::new(
        C,
        T::Classifier,
        200,
        format!("in_port={gw}"),
        format!(
            "set_field:0x2/0xf->reg0,set_field:0x8000000/0x8000000->reg4,goto_table:{validation}"
        ),
    ));
    l2_forward_calc(out, gw_mac, gw);
    // gatewayIPSpoofGuardFlows.
    let ct_stage = stage(out, Stage::ConntrackState);
    out.push(Flow::new(
        C,
        T::SpoofGuard,
        200,
        format!("ip,in_port={gw}"),
        format!("goto_table:{ct_stage}"),
    ));
    // l3FwdFlowToGateway.
    let to_gw =
        format!("set_field:{gw_mac}->eth_dst,set_field:0x20/0xf0->reg0,goto_table:L3DecTTL");
    out.push(Flow::new(
        C,
        T::L3Forwarding,
        210,
        format!("ip,nw_dst={gw_ip}"),
        to_gw.clone(),
    ));
    out.push(Flow::new(
        C,
        T::L3Forwarding,
        210,
        "ct_state=+rpl+trk,ct_mark=0x2/0xf,ip",
        to_gw,
    ));
    // localProbeFlows (Linux): kubelet's probes, marked by the host, skip policy.
    let conntrack = stage(out, Stage::Conntrack);
    out.push(Flow::new(
        C,
        T::IngressSecurityClassifier,
        210,
        "pkt_mark=0x80000000/0x80000000,ct_state=-rpl+trk,ip",
        format!("goto_table:{conntrack}"),
    ));
    // tunnelClassifierFlow and the tunnel's L2 flow.
    if spec.encap.supports_encap() {
        tunnel_classifier(out, TUNNEL_OFPORT);
        l2_forward_calc(out, GLOBAL_VIRTUAL_MAC, TUNNEL_OFPORT);
    }
    // l3FwdFlowToLocalPodCIDR.
    out.push(Flow::new(
        C,
        T::L3Forwarding,
        200,
        format!("ip,reg0=0x0/0x200,nw_dst={}", spec.pod_cidr),
        format!("goto_table:{switching}"),
    ));
}

/// `tunnelClassifierFlow`.
pub(crate) fn tunnel_classifier(out: &mut FlowSet, ofport: u32) {
    let ct_stage = stage(out, Stage::ConntrackState);
    out.push(Flow::new(
        C,
        T::Classifier,
        200,
        format!("in_port={ofport}"),
        format!("set_field:0x1/0xf->reg0,set_field:0x200/0x200->reg0,goto_table:{ct_stage}"),
    ));
}

/// `InstallPodFlows` for a per-node-IPAM Pod.
pub(crate) fn pod_flows(spec: &PipelineSpec, pod: &LocalPod, out: &mut FlowSet) {
    let (p, mac, ip) = (pod.ofport, pod.mac, pod.ip);
    let validation = stage(out, Stage::Validation);
    out.push(Flow::new(
        C,
        T::Classifier,
        190,
        format!("in_port={p}"),
        format!("set_field:0x3/0xf->reg0,goto_table:{validation}"),
    ));
    l2_forward_calc(out, mac, p);
    out.push(Flow::new(
        C,
        T::ArpSpoofGuard,
        200,
        format!("arp,in_port={p},arp_spa={ip},arp_sha={mac}"),
        "goto_table:ARPResponder",
    ));
    let ct_stage = stage(out, Stage::ConntrackState);
    out.push(Flow::new(
        C,
        T::SpoofGuard,
        200,
        format!("ip,in_port={p},dl_src={mac},nw_src={ip}"),
        format!("goto_table:{ct_stage}"),
    ));
    out.push(Flow::new(
        C,
        T::L3Forwarding,
        200,
        format!("ip,reg0=0x200/0x200,nw_dst={ip}"),
        format!(
            "set_field:{}->eth_src,set_field:{mac}->eth_dst,goto_table:L3DecTTL",
            spec.gateway_mac
        ),
    ));
}

/// `arpResponderFlow`: answer ARP requests for `ip` with `mac`.
fn arp_responder(out: &mut FlowSet, ip: Ipv4Addr, mac: MacAddr) {
    out.push(Flow::new(
        C,
        T::ArpResponder,
        200,
        format!("arp,arp_tpa={ip},arp_op=1"),
        format!(
            "move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],set_field:{mac}->eth_src,set_field:2->arp_op,move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],set_field:{mac}->arp_sha,move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],set_field:{ip}->arp_spa,IN_PORT"
        ),
    ));
}

/// `l3FwdFlowsToRemoteViaTun`'s text: to `tun_dst` through the tunnel.
pub(crate) fn via_tunnel_actions(spec: &PipelineSpec, tun_dst: Ipv4Addr) -> String {
    format!(
        "set_field:{}->eth_src,set_field:{GLOBAL_VIRTUAL_MAC}->eth_dst,set_field:{tun_dst}->tun_dst,set_field:0x10/0xf0->reg0",
        spec.gateway_mac
    )
}

/// `InstallNodeFlows` for one peer (PodConnectivity's part; the Egress
/// bypass flow is in [`super::egress`]).
pub(crate) fn node_flows(spec: &PipelineSpec, peer: &PeerNode, out: &mut FlowSet) {
    arp_responder(out, peer.gateway_ip, GLOBAL_VIRTUAL_MAC);
    let tunnel = spec.tunnels_to(peer.node_ip);
    let actions = if tunnel {
        // l3FwdFlowsToRemoteViaTun.
        format!(
            "{},goto_table:L3DecTTL",
            via_tunnel_actions(spec, peer.node_ip)
        )
    } else {
        // l3FwdFlowToRemoteViaGW (Linux: l3FwdFlowToRemoteViaRouting).
        format!(
            "set_field:{}->eth_dst,set_field:0x20/0xf0->reg0,goto_table:L3DecTTL",
            spec.gateway_mac
        )
    };
    out.push(Flow::new(
        C,
        T::L3Forwarding,
        200,
        format!("ip,nw_dst={}", peer.pod_cidr),
        actions.clone(),
    ));
    if tunnel && spec.features.dsr {
        // A DSR packet keeps its Service address: the endpoint the ingress
        // node picked (reg3) tells which peer's subnet it goes to.
        let net = peer.pod_cidr;
        out.push(Flow::new(
            C,
            T::L3Forwarding,
            200,
            format!(
                "ip,reg3={}/{},reg4=0x2000000/0x2000000",
                hex_ip(net.network()),
                hex_ip(net.netmask())
            ),
            actions,
        ));
    }
}
