//! Feature Service (pkg/agent/openflow/service.go and its flow builders in
//! pipeline.go, v1.15.1), AntreaProxy on or off: the init flows (Service
//! conntrack, PreRoutingClassifier, hairpin and NodePort SNAT, NodePort
//! marks, no-endpoint packet-in), and per Service port the select groups
//! (`InstallServiceGroup`), the ServiceLB flows and the session-affinity
//! `learn` flow (`InstallServiceFlows`) and each endpoint's EndpointDNAT
//! and hairpin flows (`InstallEndpointFlows`), built from the node's
//! [`NodeServiceRules`].
//!
//! Group ids: AntreaProxy allocates one per (Service port, cluster|local)
//! from a counter as it installs Services (`groupCounter`,
//! pkg/agent/proxy/proxier.go), so the numbers depend on event order. Here
//! they are allocated deterministically: Service ports in (namespace, name,
//! spec) order, the cluster group then the local group of each, from 1 — the
//! same numbering `antlab rules` prints today (proxy/render.rs).
//!
//! Registers (fields.go): reg4[16..18] endpoint state (1 to select, 2
//! selected, 3 to learn), reg4[19] NodePort address, reg4[21] external
//! address, reg4[26] remote endpoint, reg0[9] rewrite MAC, reg0[14] no
//! endpoint, reg3 endpoint IP, reg4[0..15] endpoint port, reg7 group id;
//! ct_mark[4] Service, [5] SNAT, [6] hairpin.

use std::net::Ipv4Addr;

use super::flow::{Category, Flow, FlowSet, Group, cookie, hex_ip};
use super::pod_connectivity::{CT_ZONE, SNAT_CT_ZONE};
use super::spec::PipelineSpec;
use super::tables::{Stage, T};
use crate::engine::proxy::rules::{EndpointRef, NodeServiceRules, VipKind};
use crate::engine::proxy::{VIRTUAL_NODEPORT_DNAT_IP, VIRTUAL_SERVICE_IP, proto_num, proto_word};
use crate::k8s::Protocol;

const C: Category = Category::Service;

fn next(out: &FlowSet, t: T) -> &'static str {
    out.layout.next(t).expect("table has a successor").name()
}

/// `featureService.initFlows`.
pub(crate) fn init_flows(spec: &PipelineSpec, out: &mut FlowSet) {
    let f = spec.features;
    if !f.antrea_proxy {
        // serviceCIDRDNATFlows: Service traffic goes to kube-proxy on the host.
        if let Some(cidr) = spec.service_cidr {
            out.push(Flow::new(
                C,
                T::Dnat,
                200,
                format!("ip,nw_dst={cidr}"),
                "set_field:0x2->reg1,set_field:0x200000/0x600000->reg0,goto_table:ConntrackCommit",
            ));
        }
        return;
    }
    let gw_ip = spec.gateway_ip;
    let gw_mac = spec.gateway_mac;
    // conntrackFlows.
    let egress_security = out.layout.stage(Stage::EgressSecurity).name();
    out.push(Flow::new(
        C,
        T::ConntrackState,
        190,
        "ct_state=-new+trk,ct_mark=0x10/0x10,ip",
        format!("set_field:0x200/0x200->reg0,goto_table:{egress_security}"),
    ));
    // preRoutingClassifierFlows.
    let targets = if f.proxy_all {
        "resubmit:NodePortMark,resubmit:SessionAffinity,resubmit:ServiceLB"
    } else {
        "resubmit:SessionAffinity,resubmit:ServiceLB"
    };
    out.push(Flow::new(C, T::PreRoutingClassifier, 200, "ip", targets));
    // l3FwdFlowToExternalEndpoint.
    out.push(Flow::new(
        C,
        T::L3Forwarding,
        190,
        "ct_mark=0x10/0x10,reg0=0x202/0x20f",
        format!("set_field:{gw_mac}->eth_dst,set_field:0x20/0xf0->reg0,goto_table:L3DecTTL"),
    ));
    // gatewaySNATFlows.
    let after_mark = next(out, T::SnatMark);
    out.push(Flow::new(
        C,
        T::SnatMark,
        200,
        "ct_state=+new+trk,ip,reg0=0x22/0xff",
        format!(
            "ct(commit,table={after_mark},zone={CT_ZONE},exec(set_field:0x20/0x20->ct_mark,set_field:0x40/0x40->ct_mark))"
        ),
    ));
    if spec.encap.supports_encap() {
        out.push(Flow::new(
            C,
            T::SnatMark,
            200,
            "ct_state=+new+trk,ip,reg0=0x12/0xff,reg4=0x200000/0x2200000",
            format!(
                "ct(commit,table={after_mark},zone={CT_ZONE},exec(set_field:0x20/0x20->ct_mark))"
            ),
        ));
    }
    // snatConntrackFlows.
    let after_snat = next(out, T::Snat);
    let after_unsnat = next(out, T::UnSnat);
    let vip = VIRTUAL_SERVICE_IP;
    out.push(Flow::new(
        C,
        T::Snat,
        200,
        "ct_state=+new+trk,ct_mark=0x40/0x40,ip,reg0=0x2/0xf",
        format!(
            "ct(commit,table={after_snat},zone={SNAT_CT_ZONE},nat(src={vip}),exec(set_field:0x10/0x10->ct_mark,set_field:0x40/0x40->ct_mark))"
        ),
    ));
    out.push(Flow::new(
        C,
        T::Snat,
        200,
        "ct_state=+new+trk,ct_mark=0x40/0x40,ip,reg0=0x3/0xf",
        format!(
            "ct(commit,table={after_snat},zone={SNAT_CT_ZONE},nat(src={gw_ip}),exec(set_field:0x10/0x10->ct_mark,set_field:0x40/0x40->ct_mark))"
        ),
    ));
    out.push(Flow::new(
        C,
        T::Snat,
        190,
        "ct_state=+new+trk,ct_mark=0x20/0x20,ip,reg0=0x2/0xf",
        format!(
            "ct(commit,table={after_snat},zone={SNAT_CT_ZONE},nat(src={gw_ip}),exec(set_field:0x10/0x10->ct_mark))"
        ),
    ));
    out.push(Flow::new(
        C,
        T::Snat,
        200,
        "ct_state=-new-rpl+trk,ct_mark=0x20/0x20,ip",
        format!("ct(table={after_snat},zone={SNAT_CT_ZONE},nat)"),
    ));
    for dst in [vip, gw_ip] {
        out.push(Flow::new(
            C,
            T::UnSnat,
            200,
            format!("ip,nw_dst={dst}"),
            format!("ct(table={after_unsnat},zone={SNAT_CT_ZONE},nat)"),
        ));
    }
    // serviceNeedLBFlow, sessionAffinityReselectFlow, serviceNoEndpointFlow.
    out.push(Flow::new(
        C,
        T::SessionAffinity,
        0,
        "",
        "set_field:0x10000/0x70000->reg4",
    ));
    out.push(Flow::new(
        C,
        T::EndpointDnat,
        190,
        "reg4=0x20000/0x70000",
        "set_field:0x10000/0x70000->reg4,resubmit:ServiceLB",
    ));
    out.push(Flow::new(
        C,
        T::EndpointDnat,
        200,
        "reg0=0x4000/0x4000",
        "controller(id=32776,reason=no_match,userdata=04,max_len=65535)",
    ));
    // l2ForwardOutputHairpinServiceFlow.
    out.push(Flow::new(C, T::Output, 210, "ct_mark=0x40/0x40", "IN_PORT"));
    if f.dsr {
        // dsrServiceNoDNATFlows: the ingress node of a DSR connection
        // commits it without DNAT (the endpoint's node does that).
        let after = next(out, T::EndpointDnat);
        out.push(Flow::new(
            C,
            T::EndpointDnat,
            210,
            "ip,reg4=0x2000000/0x2000000",
            format!(
                "ct(commit,table={after},zone={CT_ZONE},exec(move:NXM_NX_REG0[0..3]->NXM_NX_CT_MARK[0..3]))"
            ),
        ));
        // conntrackFlows with DSR: on the ingress node a DSR connection
        // never sees its replies, so Linux marks its later packets invalid;
        // external ones go on to PreRouting, where the learned flow claims
        // them, and the rest are dropped in DSRServiceMark.
        out.push(Flow::new(
            C,
            T::ConntrackState,
            210,
            "ct_state=+inv+trk,reg4=0x8000000/0x8000000",
            format!("goto_table:{}", T::PreRoutingClassifier.name()),
        ));
        out.push(Flow::new(
            C,
            T::DsrServiceMark,
            190,
            "ct_state=+inv+trk,reg4=0x0/0x2000000",
            "drop",
        ));
    }
    // nodePortMarkFlows.
    if f.proxy_all {
        let addrs: &[Ipv4Addr] = match &spec.services {
            Some(r) => &r.antrea_nodeport_addresses,
            None => &spec.nodeport_addresses,
        };
        for ip in addrs
            .iter()
            .chain(std::iter::once(&VIRTUAL_NODEPORT_DNAT_IP))
        {
            out.push(Flow::new(
                C,
                T::NodePortMark,
                200,
                format!("ip,nw_dst={ip}"),
                "set_field:0x80000/0x80000->reg4",
            ));
        }
    }
}

/// One `InstallServiceFlows` call (Antrea's `types.ServiceConfig`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServiceConfig {
    pub(crate) protocol: Protocol,
    /// None for NodePort (matched by the NodePort address mark instead).
    pub(crate) ip: Option<Ipv4Addr>,
    pub(crate) port: u16,
    /// The flow's group is the local group.
    pub(crate) traffic_policy_local: bool,
    pub(crate) cluster_group: u32,
    pub(crate) local_group: u32,
    pub(crate) affinity_timeout: u16,
    pub(crate) external: bool,
    /// The priority-210 flow sending local Pods to the cluster group.
    pub(crate) short_circuit: bool,
    /// Direct server return (`IsDSR`): packets from the tunnel take the
    /// local group, external ones for a remote endpoint are marked DSR.
    pub(crate) dsr: bool,
}

impl ServiceConfig {
    fn group(&self) -> u32 {
        if self.traffic_policy_local {
            self.local_group
        } else {
            self.cluster_group
        }
    }
}

/// `serviceLBFlows` and `serviceLearnFlow`.
pub(crate) fn service_flows(spec: &PipelineSpec, cfg: &ServiceConfig, out: &mut FlowSet) {
    let proto = proto_word(cfg.protocol);
    let dst = cfg.ip.map(|ip| format!("nw_dst={ip},")).unwrap_or_default();
    let state = |base: u32| match cfg.ip {
        None => format!("reg4={:#x}/0xf0000", base | 0x80000),
        Some(_) => format!("reg4={base:#x}/0x70000"),
    };
    let lb = |gid: u32| {
        let mut a = String::from("set_field:0x200/0x200->reg0,");
        a.push_str(if cfg.affinity_timeout != 0 {
            "set_field:0x30000/0x70000->reg4,"
        } else {
            "set_field:0x20000/0x70000->reg4,"
        });
        if cfg.external {
            a.push_str("set_field:0x200000/0x200000->reg4,");
        }
        if spec.features.antrea_policy {
            a.push_str(&format!("set_field:{gid:#x}->reg7,"));
        }
        a.push_str(&format!("group:{gid}"));
        a
    };
    out.push(Flow::new(
        C,
        T::ServiceLb,
        200,
        format!("{proto},{},{dst}tp_dst={}", state(0x10000), cfg.port),
        lb(cfg.group()),
    ));
    if cfg.external && cfg.traffic_policy_local && cfg.short_circuit {
        out.push(Flow::new(
            C,
            T::ServiceLb,
            210,
            format!(
                "{proto},{},nw_src={},{dst}tp_dst={}",
                state(0x10000),
                spec.pod_cidr,
                cfg.port
            ),
            lb(cfg.cluster_group),
        ));
    }
    if cfg.dsr {
        // A packet from the tunnel was load-balanced by its ingress node:
        // it takes a local endpoint here.
        out.push(Flow::new(
            C,
            T::ServiceLb,
            210,
            format!(
                "{proto},reg0=0x1/0xf,{},{dst}tp_dst={}",
                state(0x10000),
                cfg.port
            ),
            lb(cfg.local_group),
        ));
        // dsrServiceMarkFlow: an external packet for a remote endpoint is
        // marked DSR, and its connection learned so that its later packets
        // keep the endpoint (idle 160 s, 5 s after FIN: pipeline.go v2.1.0).
        let ck = cookie(C, cfg.cluster_group);
        let (tp, nw) = match cfg.protocol {
            Protocol::Tcp => ("TCP", 6),
            Protocol::Udp => ("UDP", 17),
            Protocol::Sctp => ("SCTP", 132),
        };
        out.push(
            Flow::new(
                C,
                T::DsrServiceMark,
                200,
                format!("{proto},reg4=0xc000000/0xe000000,{dst}tp_dst={}", cfg.port),
                format!(
                    "learn(table=SessionAffinity,idle_timeout=160,fin_idle_timeout=5,priority=210,delete_learned,cookie={ck:#x},eth_type=0x800,nw_proto={nw:#x},OXM_OF_{tp}_SRC[],OXM_OF_{tp}_DST[],NXM_OF_IP_SRC[],NXM_OF_IP_DST[],load:NXM_NX_REG4[0..15]->NXM_NX_REG4[0..15],load:0x2->NXM_NX_REG4[16..18],load:0x1->NXM_NX_REG4[25],load:NXM_NX_REG3[]->NXM_NX_REG3[]),set_field:0x2000000/0x2000000->reg4,goto_table:{}",
                    next(out, T::DsrServiceMark)
                ),
            )
            .with_cookie(ck),
        );
    }
    if cfg.affinity_timeout != 0 {
        let ck = cookie(C, cfg.group());
        let tp = match cfg.protocol {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        };
        let ext = if cfg.external {
            ",load:0x1->NXM_NX_REG4[21]"
        } else {
            ""
        };
        let after_lb = next(out, T::ServiceLb);
        out.push(
            Flow::new(
                C,
                T::ServiceLb,
                190,
                format!("{proto},{},{dst}tp_dst={}", state(0x30000), cfg.port),
                format!(
                    "learn(table=SessionAffinity,hard_timeout={},priority=200,delete_learned,cookie={ck:#x},eth_type=0x800,nw_proto={:#x},OXM_OF_{tp}_DST[],NXM_OF_IP_DST[],NXM_OF_IP_SRC[],load:NXM_NX_REG4[0..15]->NXM_NX_REG4[0..15],load:NXM_NX_REG4[26]->NXM_NX_REG4[26],load:NXM_NX_REG3[]->NXM_NX_REG3[],load:0x2->NXM_NX_REG4[16..18],load:0x1->NXM_NX_REG0[9]{ext}),set_field:0x20000/0x70000->reg4,goto_table:{after_lb}",
                    cfg.affinity_timeout,
                    proto_num(cfg.protocol)
                ),
            )
            .with_cookie(ck),
        );
    }
}

/// `serviceEndpointGroup`. `remote(e)`: the bucket marks the endpoint remote
/// (not local, on a named node, not a node IP).
pub(crate) fn endpoint_group(
    out: &FlowSet,
    id: u32,
    session_affinity: bool,
    endpoints: &[EndpointRef],
    remote: impl Fn(&EndpointRef) -> bool,
) -> Group {
    if endpoints.is_empty() {
        return Group {
            id,
            buckets: vec!["set_field:0x4000/0x4000->reg0,resubmit:EndpointDNAT".into()],
            all: false,
        };
    }
    let resubmit = if session_affinity {
        T::ServiceLb.name()
    } else {
        next(out, T::ServiceLb)
    };
    let buckets = endpoints
        .iter()
        .map(|e| {
            let mut b = String::new();
            if remote(e) {
                b.push_str("set_field:0x4000000/0x4000000->reg4,");
            }
            b.push_str(&format!(
                "set_field:{}->reg3,set_field:{:#x}/0xffff->reg4,resubmit:{resubmit}",
                hex_ip(e.ip),
                e.port
            ));
            b
        })
        .collect();
    Group {
        id,
        buckets,
        all: false,
    }
}

/// `InstallEndpointFlows` for one endpoint: its DNAT flow, and the hairpin
/// mark when it is local.
pub(crate) fn endpoint_flows(
    out: &mut FlowSet,
    protocol: Protocol,
    ip: Ipv4Addr,
    port: u16,
    local: bool,
) {
    let after = next(out, T::EndpointDnat);
    out.push(Flow::new(
        C,
        T::EndpointDnat,
        200,
        format!(
            "{},reg3={},reg4={:#x}/0x7ffff",
            proto_word(protocol),
            hex_ip(ip),
            0x20000 | u32::from(port)
        ),
        format!(
            "ct(commit,table={after},zone={CT_ZONE},nat(dst={ip}:{port}),exec(set_field:0x10/0x10->ct_mark,move:NXM_NX_REG0[0..3]->NXM_NX_CT_MARK[0..3]))"
        ),
    ));
    if local {
        let after_mark = next(out, T::SnatMark);
        out.push(Flow::new(
            C,
            T::SnatMark,
            190,
            format!("ct_state=+new+trk,ip,nw_src={ip},nw_dst={ip}"),
            format!(
                "ct(commit,table={after_mark},zone={CT_ZONE},exec(set_field:0x20/0x20->ct_mark,set_field:0x40/0x40->ct_mark))"
            ),
        ));
    }
}

/// The group ids [`rules_flows`] gives Service `namespace/name`'s ports
/// (cluster and local groups), numbered as it numbers them: what a
/// `toServices` rule matches in reg7 (`ServiceGroupIDField`).
pub(crate) fn service_group_ids(
    spec: &PipelineSpec,
    rules: &NodeServiceRules,
    namespace: &str,
    name: &str,
) -> Vec<u32> {
    let mut out = Vec::new();
    if !spec.features.antrea_proxy {
        return out;
    }
    let mut next_group: u32 = 1;
    for p in rules.ports() {
        let Some(a) = &p.antrea else {
            continue;
        };
        let ours = p.name.namespace == namespace && p.name.name == name;
        for g in [&a.cluster_group, &a.local_group] {
            if g.is_some() {
                if ours {
                    out.push(next_group);
                }
                next_group += 1;
            }
        }
    }
    out
}

/// Every Service port's groups and flows from the node's rules.
pub(crate) fn rules_flows(
    spec: &PipelineSpec,
    rules: &NodeServiceRules,
    out: &mut FlowSet,
    groups: &mut Vec<Group>,
) {
    if !spec.features.antrea_proxy {
        return;
    }
    let mut next_group: u32 = 1;
    for p in rules.ports() {
        let Some(a) = &p.antrea else {
            continue;
        };
        let affinity = a.affinity_timeout != 0;
        let remote = |e: &EndpointRef| {
            !e.local && !e.node.is_empty() && a.host_network_ips.binary_search(&e.ip).is_err()
        };
        let mut alloc = |eps: &Option<Vec<EndpointRef>>, out: &mut FlowSet| -> u32 {
            let Some(eps) = eps else {
                return 0;
            };
            let id = next_group;
            next_group += 1;
            groups.push(endpoint_group(out, id, affinity, eps, remote));
            for e in eps {
                endpoint_flows(out, p.protocol, e.ip, e.port, e.local);
            }
            id
        };
        let cluster_group = alloc(&a.cluster_group, out);
        let local_group = alloc(&a.local_group, out);
        for v in &a.vips {
            let cfg = ServiceConfig {
                protocol: p.protocol,
                ip: if v.kind == VipKind::NodePort {
                    None
                } else {
                    v.ip
                },
                port: v.port,
                traffic_policy_local: v.local_policy,
                cluster_group,
                local_group,
                affinity_timeout: a.affinity_timeout,
                external: v.kind.is_external(),
                short_circuit: v.short_circuit,
                dsr: v.dsr && spec.features.dsr,
            };
            service_flows(spec, &cfg, out);
        }
    }
}
