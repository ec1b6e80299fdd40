//! Text forms of a node's service rules, stable for snapshots and the CLI.
//!
//! [`render_antrea`] prints AntreaProxy's flows the way `ovs-ofctl dump-flows`
//! prints them with table names (Antrea ≥ v1.6 dumps `table=ServiceLB`), the
//! service tables in pipeline order (NodePortMark, SessionAffinity, ServiceLB,
//! DSRServiceMark, EndpointDNAT, SNATMark; pipeline.go), each table by priority,
//! then the groups as `ovs-ofctl dump-groups` lines. Register values follow
//! `pkg/agent/openflow/fields.go` at v1.15 (reg4[16..18] endpoint state,
//! reg4[19] NodePort, reg4[21] external address, reg4[25] DSR, reg4[26]
//! remote endpoint, reg0[9] rewrite MAC, reg0[14] no endpoint, reg3 endpoint
//! IP, reg4[0..15] endpoint port, reg7 group id). Counters, cookies and
//! durations are left out. Group ids are numbered here, in Service order.
//!
//! [`render_kube_proxy`] prints `iptables-save` (filter then nat; built-in
//! chains, then user chains sorted as libiptc keeps them; rules chain by chain)
//! or `ipvsadm -Ln` (services sorted by protocol, address, port as ipvsadm
//! sorts them) followed by the `kube-ipvs0` addresses.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::kubeproxy::{FIXED_FILTER_CHAINS, FIXED_NAT_CHAINS, IptTable, fixed_rules};
use super::rules::{EndpointRef, NodeServiceRules, VipKind};
use super::{KubeProxyMode, VIRTUAL_NODEPORT_DNAT_IP, proto_num, proto_word};
use crate::k8s::Protocol;

/// The service tables, in pipeline order.
const TABLES: [&str; 6] = [
    "NodePortMark",
    "SessionAffinity",
    "ServiceLB",
    "DSRServiceMark",
    "EndpointDNAT",
    "SNATMark",
];

/// One flow line, before sorting.
pub(crate) struct FlowLine {
    table: usize,
    priority: u16,
    text: String,
}

/// One group line.
pub(crate) struct GroupLine {
    pub(crate) text: String,
}

fn hex_ip(ip: Ipv4Addr) -> String {
    format!("{:#x}", u32::from(ip))
}

/// Every AntreaProxy flow and group of the node.
pub(crate) fn antrea_entries(rules: &NodeServiceRules) -> (Vec<FlowLine>, Vec<GroupLine>) {
    let mut flows: Vec<FlowLine> = Vec::new();
    let mut groups: Vec<GroupLine> = Vec::new();
    let cfg = &rules.cfg;
    if !cfg.antrea_proxy {
        return (flows, groups);
    }
    let mut flow = |table: &str, priority: u16, body: String| {
        let t = TABLES
            .iter()
            .position(|x| *x == table)
            .expect("known table");
        // A flow without matches prints "priority=0 actions=...".
        let sep = if body.starts_with("actions=") {
            " "
        } else {
            ","
        };
        let text = format!("table={table}, priority={priority}{sep}{body}");
        flows.push(FlowLine {
            table: t,
            priority,
            text,
        });
    };
    // Fixed flows of the service tables.
    if cfg.proxy_all {
        for ip in rules
            .antrea_nodeport_addresses
            .iter()
            .chain(std::iter::once(&VIRTUAL_NODEPORT_DNAT_IP))
        {
            flow(
                "NodePortMark",
                200,
                format!("ip,nw_dst={ip} actions=set_field:0x80000/0x80000->reg4"),
            );
        }
        flow(
            "NodePortMark",
            0,
            "actions=goto_table:SessionAffinity".into(),
        );
    }
    flow(
        "SessionAffinity",
        0,
        "actions=set_field:0x10000/0x70000->reg4".into(),
    );
    flow("ServiceLB", 0, "actions=goto_table:EndpointDNAT".into());
    flow(
        "EndpointDNAT",
        200,
        "reg0=0x4000/0x4000 actions=controller(reason=no_match,id=62373,userdata=04)".into(),
    );
    flow(
        "EndpointDNAT",
        190,
        "reg4=0x20000/0x70000 actions=set_field:0x10000/0x70000->reg4,resubmit(,ServiceLB)".into(),
    );
    flow(
        "EndpointDNAT",
        0,
        "actions=goto_table:AntreaPolicyEgressRule".into(),
    );
    if cfg.dsr_enabled {
        flow(
            "DSRServiceMark",
            0,
            "actions=goto_table:EndpointDNAT".into(),
        );
        flow(
            "EndpointDNAT",
            210,
            "ip,reg4=0x2000000/0x2000000 actions=ct(commit,table=AntreaPolicyEgressRule,zone=65520,exec(move:NXM_NX_REG0[0..3]->NXM_NX_CT_MARK[0..3]))".into(),
        );
    }
    flow("SNATMark", 0, "actions=goto_table:SNAT".into());

    // Shared per-endpoint flows: one EndpointDNAT flow per (IP, port, protocol)
    // and one hairpin flow per local endpoint IP (`InstallEndpointFlows`).
    let mut dnat: BTreeMap<(u8, Ipv4Addr, u16), ()> = BTreeMap::new();
    let mut hairpin: BTreeMap<Ipv4Addr, ()> = BTreeMap::new();
    let mut next_group: u32 = 1;
    for p in rules.ports() {
        let Some(a) = &p.antrea else {
            continue;
        };
        let proto = proto_word(p.protocol);
        let affinity = a.affinity_timeout > 0;
        let bucket_next = if affinity {
            "ServiceLB"
        } else if cfg.dsr_enabled {
            "DSRServiceMark"
        } else {
            "EndpointDNAT"
        };
        let mut group = |eps: &Option<Vec<EndpointRef>>| -> Option<u32> {
            let eps = eps.as_ref()?;
            let id = next_group;
            next_group += 1;
            let mut g = format!("group_id={id},type=select");
            if eps.is_empty() {
                let _ = write!(
                    g,
                    ",bucket=bucket_id:0,weight:100,actions=set_field:0x4000/0x4000->reg0,resubmit(,EndpointDNAT)"
                );
            }
            for (i, e) in eps.iter().enumerate() {
                let _ = write!(g, ",bucket=bucket_id:{i},weight:100,actions=");
                if !e.local && a.host_network_ips.binary_search(&e.ip).is_err() {
                    g.push_str("set_field:0x4000000/0x4000000->reg4,");
                }
                let _ = write!(
                    g,
                    "set_field:{}->reg3,set_field:{:#x}/0xffff->reg4,resubmit(,{bucket_next})",
                    hex_ip(e.ip),
                    e.port
                );
                dnat.insert((proto_num(p.protocol), e.ip, e.port), ());
                if e.local {
                    hairpin.insert(e.ip, ());
                }
            }
            groups.push(GroupLine { text: g });
            Some(id)
        };
        let cluster_id = group(&a.cluster_group);
        let local_id = group(&a.local_group);
        for v in &a.vips {
            let external = v.kind.is_external();
            let dst = match v.ip {
                Some(ip) => format!("nw_dst={ip},"),
                None => String::new(),
            };
            let state = |base: u32| {
                if v.kind == VipKind::NodePort {
                    format!("reg4={:#x}/0xf0000", base | 0x80000)
                } else {
                    format!("reg4={base:#x}/0x70000")
                }
            };
            let mut loads = String::from("set_field:0x200/0x200->reg0,");
            loads.push_str(if affinity {
                "set_field:0x30000/0x70000->reg4,"
            } else {
                "set_field:0x20000/0x70000->reg4,"
            });
            if external {
                loads.push_str("set_field:0x200000/0x200000->reg4,");
            }
            let lb = |gid: Option<u32>| -> String {
                let gid = gid.unwrap_or(0);
                format!("{loads}set_field:{gid:#x}->reg7,group:{gid}")
            };
            let main_group = if v.local_policy { local_id } else { cluster_id };
            flow(
                "ServiceLB",
                200,
                format!(
                    "{proto},{},{dst}tp_dst={} actions={}",
                    state(0x10000),
                    v.port,
                    lb(main_group)
                ),
            );
            if v.short_circuit {
                let src = match rules.node.pod_cidr {
                    Some(c) => format!("nw_src={c},"),
                    None => String::new(),
                };
                flow(
                    "ServiceLB",
                    210,
                    format!(
                        "{proto},{},{src}{dst}tp_dst={} actions={}",
                        state(0x10000),
                        v.port,
                        lb(cluster_id)
                    ),
                );
            }
            if v.dsr {
                flow(
                    "ServiceLB",
                    210,
                    format!(
                        "{proto},reg0=0x1/0xf,{},{dst}tp_dst={} actions={}",
                        state(0x10000),
                        v.port,
                        lb(local_id)
                    ),
                );
                let (tp, nw) = proto_learn(p.protocol);
                flow(
                    "DSRServiceMark",
                    200,
                    format!(
                        "{proto},reg4=0xc000000/0xe000000,{dst}tp_dst={} actions=learn(table=SessionAffinity,idle_timeout=160,fin_idle_timeout=5,priority=210,delete_learned,eth_type=0x800,nw_proto={nw},NXM_OF_{tp}_SRC[],NXM_OF_{tp}_DST[],NXM_OF_IP_SRC[],NXM_OF_IP_DST[],load:NXM_NX_REG4[0..15]->NXM_NX_REG4[0..15],load:0x2->NXM_NX_REG4[16..18],load:0x1->NXM_NX_REG4[25],load:NXM_NX_REG3[]->NXM_NX_REG3[]),set_field:0x2000000/0x2000000->reg4,goto_table:EndpointDNAT",
                        v.port
                    ),
                );
            }
            if affinity {
                let (tp, nw) = proto_learn(p.protocol);
                let ext = if external {
                    ",load:0x1->NXM_NX_REG4[21]"
                } else {
                    ""
                };
                flow(
                    "ServiceLB",
                    190,
                    format!(
                        "{proto},{},{dst}tp_dst={} actions=learn(table=SessionAffinity,hard_timeout={},priority=200,delete_learned,eth_type=0x800,nw_proto={nw},NXM_OF_{tp}_DST[],NXM_OF_IP_DST[],NXM_OF_IP_SRC[],load:NXM_NX_REG4[0..15]->NXM_NX_REG4[0..15],load:NXM_NX_REG4[26]->NXM_NX_REG4[26],load:NXM_NX_REG3[]->NXM_NX_REG3[],load:0x2->NXM_NX_REG4[16..18],load:0x1->NXM_NX_REG0[9]{ext}),set_field:0x20000/0x70000->reg4,goto_table:EndpointDNAT",
                        state(0x30000),
                        v.port,
                        a.affinity_timeout
                    ),
                );
            }
        }
    }
    for (proto, ip, port) in dnat.keys() {
        let word = match proto {
            6 => "tcp",
            17 => "udp",
            _ => "sctp",
        };
        flow(
            "EndpointDNAT",
            200,
            format!(
                "{word},reg3={},reg4={:#x}/0x7ffff actions=ct(commit,table=AntreaPolicyEgressRule,zone=65520,nat(dst={ip}:{port}),exec(set_field:0x10/0x10->ct_mark,move:NXM_NX_REG0[0..3]->NXM_NX_CT_MARK[0..3]))",
                hex_ip(*ip),
                0x20000 | u32::from(*port)
            ),
        );
    }
    for ip in hairpin.keys() {
        flow(
            "SNATMark",
            190,
            format!(
                "ct_state=+new+trk,ip,nw_src={ip},nw_dst={ip} actions=ct(commit,table=SNAT,zone=65520,exec(set_field:0x20/0x20->ct_mark,set_field:0x40/0x40->ct_mark))"
            ),
        );
    }
    // Tables in pipeline order, each by priority (stable within a priority).
    flows.sort_by_key(|f| (f.table, std::cmp::Reverse(f.priority)));
    (flows, groups)
}

fn proto_learn(p: Protocol) -> (&'static str, u8) {
    match p {
        Protocol::Tcp => ("TCP", 6),
        Protocol::Udp => ("UDP", 17),
        Protocol::Sctp => ("SCTP", 132),
    }
}

/// AntreaProxy's flows and groups on this node.
pub fn render_antrea(rules: &NodeServiceRules) -> String {
    let cfg = &rules.cfg;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# AntreaProxy on {}: proxyAll={}, proxyLoadBalancerIPs={}, defaultLoadBalancerMode={}",
        rules.node.name,
        cfg.proxy_all,
        cfg.proxy_load_balancer_ips,
        if cfg.dsr_enabled {
            cfg.default_load_balancer_mode
        } else {
            super::LbMode::Nat
        }
    );
    if !cfg.antrea_proxy {
        out.push_str("# AntreaProxy is disabled (feature gate AntreaProxy=false)\n");
        return out;
    }
    let (flows, groups) = antrea_entries(rules);
    for f in &flows {
        out.push_str(&f.text);
        out.push('\n');
    }
    out.push_str("# groups\n");
    for g in &groups {
        out.push_str(&g.text);
        out.push('\n');
    }
    out
}

/// Per-service iptables rules of the node, grouped by (table, chain), plus
/// the declared chains.
pub(crate) struct IptablesDump {
    /// (table, chain) → rules in order; built-ins included.
    pub(crate) chains: BTreeMap<(IptTable, String), Vec<String>>,
}

const FILTER_BUILTINS: [&str; 3] = ["INPUT", "FORWARD", "OUTPUT"];
const NAT_BUILTINS: [&str; 4] = ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"];

pub(crate) fn iptables_dump(rules: &NodeServiceRules) -> IptablesDump {
    let mut chains: BTreeMap<(IptTable, String), Vec<String>> = BTreeMap::new();
    for c in FILTER_BUILTINS {
        chains.insert((IptTable::Filter, c.into()), Vec::new());
    }
    for c in NAT_BUILTINS {
        chains.insert((IptTable::Nat, c.into()), Vec::new());
    }
    for c in FIXED_FILTER_CHAINS {
        chains.insert((IptTable::Filter, (*c).into()), Vec::new());
    }
    for c in FIXED_NAT_CHAINS {
        chains.insert((IptTable::Nat, (*c).into()), Vec::new());
    }
    let fixed = fixed_rules();
    let (tail, head): (Vec<_>, Vec<_>) = fixed
        .into_iter()
        .partition(|(t, c, _)| *t == IptTable::Nat && *c == "KUBE-SERVICES");
    for (t, c, spec) in head {
        chains.entry((t, c.into())).or_default().push(spec);
    }
    for p in rules.ports() {
        let Some(k) = &p.kube else {
            continue;
        };
        if k.mode != KubeProxyMode::Iptables {
            continue;
        }
        let (declared, ipt) = super::kubeproxy::iptables_rules(rules, p, k);
        for (t, c) in declared {
            chains.entry((t, c)).or_default();
        }
        for r in ipt {
            chains.entry((r.table, r.chain)).or_default().push(r.spec);
        }
    }
    for (t, c, spec) in tail {
        chains.entry((t, c.into())).or_default().push(spec);
    }
    IptablesDump { chains }
}

fn write_table(out: &mut String, dump: &IptablesDump, table: IptTable, builtins: &[&str]) {
    out.push_str(match table {
        IptTable::Filter => "*filter\n",
        IptTable::Nat => "*nat\n",
    });
    let user: Vec<&String> = dump
        .chains
        .keys()
        .filter(|(t, c)| *t == table && !builtins.contains(&c.as_str()))
        .map(|(_, c)| c)
        .collect();
    for b in builtins {
        let _ = writeln!(out, ":{b} ACCEPT [0:0]");
    }
    for c in &user {
        let _ = writeln!(out, ":{c} - [0:0]");
    }
    let order = builtins
        .iter()
        .map(|b| (*b).to_string())
        .chain(user.iter().map(|c| (*c).clone()));
    for c in order {
        if let Some(lines) = dump.chains.get(&(table, c.clone())) {
            for l in lines {
                let _ = writeln!(out, "-A {c} {l}");
            }
        }
    }
    out.push_str("COMMIT\n");
}

/// kube-proxy's rules on this node: `iptables-save` or `ipvsadm -Ln`.
pub fn render_kube_proxy(rules: &NodeServiceRules) -> String {
    let mut out = String::new();
    match rules.cfg.kube_proxy {
        None => {
            let _ = writeln!(out, "# kube-proxy is not running on {}", rules.node.name);
        }
        Some(KubeProxyMode::Iptables) => {
            let _ = writeln!(
                out,
                "# iptables-save on {} (kube-proxy iptables mode)",
                rules.node.name
            );
            let dump = iptables_dump(rules);
            write_table(&mut out, &dump, IptTable::Filter, &FILTER_BUILTINS);
            write_table(&mut out, &dump, IptTable::Nat, &NAT_BUILTINS);
        }
        Some(KubeProxyMode::Ipvs { strict_arp }) => {
            let _ = writeln!(
                out,
                "# ipvsadm -Ln on {} (kube-proxy IPVS mode, strictARP={strict_arp})",
                rules.node.name
            );
            out.push_str("IP Virtual Server version 1.2.1 (size=4096)\n");
            out.push_str("Prot LocalAddress:Port Scheduler Flags\n");
            out.push_str("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
            for vs in ipvs_services(rules).values() {
                let mut line = format!(
                    "{}  {}:{} rr",
                    proto_word(vs.protocol).to_uppercase(),
                    vs.vip,
                    vs.port
                );
                if let Some(t) = vs.persistent {
                    let _ = write!(line, " persistent {t}");
                }
                out.push_str(&line);
                out.push('\n');
                for (ip, port) in &vs.reals {
                    let line = format!(
                        "  -> {:<28} {:<7} {:<6} {:<10} {}",
                        format!("{ip}:{port}"),
                        "Masq",
                        1,
                        0,
                        0
                    );
                    out.push_str(&line);
                    out.push('\n');
                }
            }
            let _ = writeln!(out, "# ip -4 addr show kube-ipvs0");
            out.push_str(
                "kube-ipvs0: <BROADCAST,NOARP> mtu 1500 qdisc noop state DOWN group default\n",
            );
            for ip in rules.kube_ipvs0_addresses() {
                let _ = writeln!(out, "    inet {ip}/32 scope global kube-ipvs0");
            }
        }
    }
    out
}

/// IPVS virtual servers of the node, deduplicated by (protocol, VIP, port),
/// first Service wins.
pub(crate) fn ipvs_services(
    rules: &NodeServiceRules,
) -> BTreeMap<(u8, Ipv4Addr, u16), &super::rules::IpvsService> {
    let mut m = BTreeMap::new();
    for p in rules.ports() {
        if let Some(k) = &p.kube {
            for vs in &k.ipvs {
                m.entry((proto_num(vs.protocol), vs.vip, vs.port))
                    .or_insert(vs);
            }
        }
    }
    m
}
