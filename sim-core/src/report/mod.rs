//! Tables in the shape people know (`kubectl get`, `ip neigh`, `ip route`,
//! `show mac address-table`) and the probe/trace views. Pure: a table is a
//! `String`; callers print it. [`timeline`] prints the event log as a run
//! records it; [`iplink`] prints a node's `ip link` / `ip addr`; [`br_int`]
//! walks a probe's first packet through its node's br-int program.

pub mod bgp;
pub mod br_int;
pub mod conntrack;
pub mod iplink;
pub mod policy;
pub mod timeline;

use crate::engine::{ClusterState, holders};
use crate::sim::probe::{Probe, Verdict};
use crate::sim::routing::table_name;
use crate::sim::{DeviceRt, World};

/// Left-aligned columns separated by at least three spaces, like kubectl's
/// tabwriter output.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let n = cells.len();
        let mut line = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            line.push_str(c);
            if i + 1 < n {
                line.push_str(&" ".repeat(widths[i] - c.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

/// `kubectl get nodes -o wide` (the columns that mean something here).
pub fn nodes(cluster: &ClusterState) -> String {
    let rows: Vec<Vec<String>> = cluster
        .nodes()
        .map(|n| {
            vec![
                n.name.clone(),
                if n.ready {
                    "Ready".into()
                } else {
                    "NotReady".into()
                },
                if n.control_plane {
                    "control-plane".into()
                } else {
                    "<none>".into()
                },
                n.ip.to_string(),
                n.pod_cidr.to_string(),
            ]
        })
        .collect();
    table(
        &["NAME", "STATUS", "ROLES", "INTERNAL-IP", "POD-CIDR"],
        &rows,
    )
}

/// `kubectl get pods -A -o wide`.
pub fn pods(cluster: &ClusterState, world: &World) -> String {
    let rows: Vec<Vec<String>> = cluster
        .pods()
        .map(|p| {
            let up = world
                .device_id(&format!("{}/{}", p.namespace, p.name))
                .is_some_and(|id| world.device(id).powered());
            vec![
                p.namespace.clone(),
                p.name.clone(),
                if up {
                    "Running".into()
                } else {
                    "Unknown".into()
                },
                p.ip.to_string(),
                cluster.node(p.node).name.clone(),
            ]
        })
        .collect();
    table(&["NAMESPACE", "NAME", "STATUS", "IP", "NODE"], &rows)
}

/// The device called `device` and its IP stack.
fn stack_of<'w>(
    world: &'w World,
    device: &str,
) -> Result<(crate::model::DeviceId, &'w crate::sim::stack::IpStack), String> {
    let id = world
        .device_id(device)
        .ok_or_else(|| format!("no device called `{device}`"))?;
    let stack = world
        .device(id)
        .stack()
        .ok_or_else(|| format!("{device} has no IP stack (an L2-only switch)"))?;
    Ok((id, stack))
}

/// `ip neigh show` of a device (for a switch: its SVIs).
pub fn arp(world: &World, device: &str) -> Result<String, String> {
    let (_, stack) = stack_of(world, device)?;
    let rows: Vec<Vec<String>> = stack
        .arp()
        .rows(world.now())
        .into_iter()
        .map(|r| {
            vec![
                r.ip.to_string(),
                stack.ifaces()[r.iface].name().to_string(),
                r.mac.map_or("(incomplete)".into(), |m| m.to_string()),
                r.state.name().to_string(),
                r.age.human(),
            ]
        })
        .collect();
    Ok(format!(
        "ARP cache of {device}\n{}",
        table(&["ADDRESS", "DEV", "LLADDR", "STATE", "AGE"], &rows)
    ))
}

/// A switch's MAC address table.
pub fn mac(world: &World, device: &str) -> Result<String, String> {
    let id = world
        .device_id(device)
        .ok_or_else(|| format!("no device called `{device}`"))?;
    let now = world.now();
    let rows = world
        .mac_rows(id, now)
        .ok_or_else(|| format!("{device} is not a switch"))?;
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(r, port)| vec![r.vlan.to_string(), r.mac.to_string(), port, r.age.human()])
        .collect();
    Ok(format!(
        "MAC table of {device}\n{}",
        table(&["VLAN", "MAC", "PORT", "AGE"], &rows)
    ))
}

/// `ip rule` then `ip route show table all` of a device.
pub fn routes(world: &World, device: &str) -> Result<String, String> {
    let id = world
        .device_id(device)
        .ok_or_else(|| format!("no device called `{device}`"))?;
    let stack = world
        .device(id)
        .stack()
        .ok_or_else(|| format!("{device} has no IP stack"))?;
    let mut out = format!("routing of {device}\n");
    for r in stack.routes().rules() {
        let mark = r
            .fwmark
            .map_or(String::new(), |(v, m)| format!(" fwmark {v:#x}/{m:#x}"));
        let from = r
            .from
            .map_or(" from all".to_string(), |f| format!(" from {f}"));
        out.push_str(&format!(
            "rule {}:{from}{mark} lookup {}\n",
            r.priority,
            table_name(r.table)
        ));
    }
    let mut routes: Vec<_> = stack.routes().routes().to_vec();
    routes.sort_by_key(|r| {
        (
            r.table != crate::model::TABLE_MAIN,
            r.table,
            std::cmp::Reverse(r.dst.prefix_len()),
            r.dst,
        )
    });
    for r in &routes {
        out.push_str(&format!(
            "route {} proto {}\n",
            crate::sim::describe_route(r, stack.ifaces()),
            match r.origin {
                "kernel" => "kernel scope link",
                "static" => "static",
                _ => "antrea",
            }
        ));
    }
    for s in stack.snat_rules() {
        let to = match &s.to {
            crate::sim::nat::SnatTo::Masquerade => "MASQUERADE".to_string(),
            crate::sim::nat::SnatTo::Addr(a) => format!("SNAT --to {a}"),
        };
        let src = s.src.map_or(String::new(), |n| format!(" -s {n}"));
        let not_dst: String = s.not_dst.iter().map(|n| format!(" ! -d {n}")).collect();
        let not_out = s.not_out_iface.map_or(String::new(), |i| {
            format!(" ! -o {}", stack.ifaces()[i].name())
        });
        let out_iface = s.out_iface.map_or(String::new(), |i| {
            format!(" -o {}", stack.ifaces()[i].name())
        });
        let addrtype = if s.src_local_elsewhere {
            " -m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL"
        } else {
            ""
        };
        let mark = s.mark.map_or(String::new(), |(v, m)| {
            format!(" -m mark --mark {v:#x}/{m:#x}")
        });
        out.push_str(&format!(
            "nat POSTROUTING{src}{not_dst}{not_out}{out_iface}{addrtype}{mark} -j {to}  /* {} */\n",
            s.comment
        ));
    }
    Ok(out)
}

/// One line per probe with its counts and last verdict.
pub fn probes(world: &World) -> String {
    let rows: Vec<Vec<String>> = world
        .probes()
        .iter()
        .map(|p| {
            let s = p.stats();
            let last = match p.last_finished().map(|a| &a.verdict) {
                Some(Verdict::Ok { .. }) => "ok".to_string(),
                Some(Verdict::Fail { reason }) => format!("FAIL: {reason}"),
                _ => "-".into(),
            };
            let seen = p
                .last_finished()
                .and_then(|a| a.seen_src)
                .map_or("-".into(), |s| s.to_string());
            vec![
                p.spec().name.clone(),
                format!("{} -> {}", p.spec().from_label, p.spec().to_label),
                s.sent.to_string(),
                s.ok.to_string(),
                s.failed.to_string(),
                s.longest_outage.human(),
                seen,
                last,
            ]
        })
        .collect();
    table(
        &[
            "PROBE",
            "PATH",
            "SENT",
            "OK",
            "FAILED",
            "LONGEST-OUTAGE",
            "SEEN-SOURCE",
            "LAST",
        ],
        &rows,
    )
}

/// The hop-by-hop path of a probe's last finished attempt.
pub fn trace(probe: &Probe) -> String {
    let Some(a) = probe.last_finished() else {
        return format!("probe {} has no finished attempt yet\n", probe.spec().name);
    };
    let mut out = format!(
        "trace of {}#{} sent at {}\n",
        probe.spec().name,
        a.seq,
        a.sent
    );
    for h in &a.path {
        let dir = if h.reply { "<-" } else { "->" };
        out.push_str(&format!(
            "  {dir} {:>14}  {:<22} {}\n",
            h.time.to_string(),
            h.device,
            h.text
        ));
    }
    match &a.verdict {
        Verdict::Ok { rtt_ns } => out.push_str(&format!(
            "  verdict: ok, rtt {}\n",
            crate::time::SimDuration(*rtt_ns).human()
        )),
        Verdict::Fail { reason } => out.push_str(&format!("  verdict: FAILED: {reason}\n")),
        Verdict::Pending => out.push_str("  verdict: pending\n"),
    }
    out
}

pub fn links(world: &World) -> String {
    let rows: Vec<Vec<String>> = world
        .links()
        .into_iter()
        .map(|l| {
            vec![
                l.a,
                l.b,
                if l.up { "up".into() } else { "DOWN".into() },
                l.latency.to_string(),
            ]
        })
        .collect();
    table(&["END-A", "END-B", "STATE", "LATENCY"], &rows)
}

/// Power state of every device.
pub fn power(world: &World) -> String {
    let rows: Vec<Vec<String>> = world
        .devices()
        .iter()
        .filter(|d| !matches!(d, DeviceRt::Switch(s) if s.name().starts_with("br-int@")))
        .map(|d| {
            vec![
                d.name().to_string(),
                if d.powered() {
                    "on".into()
                } else {
                    "OFF".into()
                },
            ]
        })
        .collect();
    table(&["DEVICE", "POWER"], &rows)
}

/// kubectl's short ages (`HumanDuration`): 45s, 3m20s, 15m, 2h5m, 3d.
pub fn kube_age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => {
            if s % 60 == 0 {
                format!("{}m", s / 60)
            } else {
                format!("{}m{}s", s / 60, s % 60)
            }
        }
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 8 * 3600 => {
            if (s / 60) % 60 == 0 {
                format!("{}h", s / 3600)
            } else {
                format!("{}h{}m", s / 3600, (s / 60) % 60)
            }
        }
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// `kubectl get egress`: NAME EGRESSIP AGE NODE (AGE before NODE, as the CRD's
/// printer columns have it), from `status.egressIP` and `status.egressNode`
/// as the agents wrote them: empty until an agent takes the IP, and still the
/// old node after it died until another agent takes it.
pub fn egresses(cluster: &ClusterState, now_secs: u64) -> String {
    let rows: Vec<Vec<String>> = cluster
        .egress
        .egresses
        .iter()
        .map(|(name, e)| {
            vec![
                name.clone(),
                e.status
                    .egress_ip
                    .map_or(String::new(), |ip| ip.to_string()),
                kube_age(now_secs.saturating_sub(e.created)),
                e.status.egress_node.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(&["NAME", "EGRESSIP", "AGE", "NODE"], &rows)
}

/// `kubectl get externalippools`: NAME TOTAL USED AGE.
pub fn external_ip_pools(cluster: &ClusterState, now_secs: u64) -> String {
    let rows: Vec<Vec<String>> =
        cluster
            .egress
            .pools
            .names()
            .map(|name| {
                let (total, used) = cluster.egress.pools.usage(name).unwrap_or((0, 0));
                vec![
                    name.to_string(),
                    total.to_string(),
                    used.to_string(),
                    kube_age(now_secs.saturating_sub(
                        cluster.egress.pool_created.get(name).copied().unwrap_or(0),
                    )),
                ]
            })
            .collect();
    table(&["NAME", "TOTAL", "USED", "AGE"], &rows)
}

/// `antctl get memberlist` on one node's agent: NODE IP STATUS.
pub fn memberlist(
    world: &World,
    cluster: &ClusterState,
    node: Option<&str>,
) -> Result<String, String> {
    let observer = match node {
        Some(n) => cluster
            .node_by_name(n)
            .ok_or_else(|| format!("`{n}` is not a Kubernetes node"))?,
        None => cluster
            .nodes()
            .find(|n| {
                world
                    .device_id(&n.name)
                    .is_some_and(|id| world.device(id).powered())
            })
            .ok_or("no node is up to ask")?,
    };
    let alive = cluster.view_of(observer.id);
    let rows: Vec<Vec<String>> = cluster
        .nodes()
        .map(|n| {
            let status = if alive.contains(n.id) {
                "Alive"
            } else {
                "Dead"
            };
            vec![n.name.clone(), n.ip.to_string(), status.to_string()]
        })
        .collect();
    Ok(format!(
        "antctl get memberlist (on {})\n{}",
        observer.name,
        table(&["NODE", "IP", "STATUS"], &rows)
    ))
}

/// `kubectl get egress NAME -o yaml`, shortened: `spec.egressIP`, then the
/// status (IP, node, and the two conditions:
/// `IPAllocated` from the controller, `IPAssigned` from the agents; a static
/// Egress has neither).
pub fn egress_status(cluster: &ClusterState, name: &str) -> Result<String, String> {
    let e = cluster
        .egress
        .egresses
        .get(name)
        .ok_or_else(|| format!("no Egress called `{name}`"))?;
    // A static Egress has neither condition (the controller and the agents
    // write them for pool Egresses only).
    let rows: Vec<Vec<String>> = [&e.allocated, &e.status.assigned]
        .into_iter()
        .flatten()
        .map(|c| {
            vec![
                c.kind.clone(),
                c.status.clone(),
                c.reason.clone(),
                c.message.clone(),
            ]
        })
        .collect();
    let conditions = if rows.is_empty() {
        " []\n".to_string()
    } else {
        table(&["TYPE", "STATUS", "REASON", "MESSAGE"], &rows)
            .lines()
            .map(|l| format!("\n      {l}"))
            .collect::<String>()
            + "\n"
    };
    Ok(format!(
        "Egress {name}\n  spec.egressIP: {}\n  status:\n    egressIP: {}\n    egressNode: {}\n    conditions:{conditions}",
        e.ip.map_or(String::new(), |i| i.to_string()),
        e.status.egress_ip.map_or(String::new(), |i| i.to_string()),
        e.status.egress_node.as_deref().unwrap_or(""),
    ))
}

/// `kubectl get svc -A`: NAMESPACE NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE.
pub fn services(cluster: &ClusterState, now_secs: u64) -> String {
    let rows: Vec<Vec<String>> = cluster
        .services
        .values()
        .map(|s| {
            let ports: Vec<String> = s
                .spec
                .ports
                .iter()
                .zip(&s.node_ports)
                .map(|(p, np)| {
                    let proto = format!("{:?}", p.protocol).to_uppercase();
                    match np {
                        Some(n) => format!("{}:{n}/{proto}", p.port),
                        None => format!("{}/{proto}", p.port),
                    }
                })
                .collect();
            let external = match (s.lb_ip, s.spec.service_type) {
                (Some(ip), _) => ip.to_string(),
                (None, crate::k8s::ServiceType::LoadBalancer) => "<pending>".into(),
                _ => "<none>".into(),
            };
            vec![
                s.namespace().to_string(),
                s.spec.meta.name.clone(),
                s.spec.service_type.to_string(),
                s.cluster_ip.map_or("None".into(), |i| i.to_string()),
                external,
                ports.join(","),
                kube_age(now_secs.saturating_sub(s.created)),
            ]
        })
        .collect();
    table(
        &[
            "NAMESPACE",
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
        ],
        &rows,
    )
}

/// `antctl get serviceexternalip`: NAMESPACE NAME EXTERNAL-IP-POOL EXTERNAL-IP ASSIGNED-NODE.
pub fn service_external_ips(cluster: &ClusterState) -> String {
    let rows: Vec<Vec<String>> = cluster
        .services
        .iter()
        .filter(|(_, s)| s.external_ip_pool().is_some())
        .map(|(key, s)| {
            vec![
                s.namespace().to_string(),
                s.spec.meta.name.clone(),
                s.external_ip_pool().unwrap_or_default().to_string(),
                s.lb_ip.map_or(String::new(), |i| i.to_string()),
                holders::external_ip_owners(cluster, key).join(","),
            ]
        })
        .collect();
    table(
        &[
            "NAMESPACE",
            "NAME",
            "EXTERNAL-IP-POOL",
            "EXTERNAL-IP",
            "ASSIGNED-NODE",
        ],
        &rows,
    )
}

/// `kubectl get endpoints -A`: ready endpoints (Ready Pods) with
/// their target ports.
pub fn endpoints(cluster: &ClusterState) -> String {
    let rows: Vec<Vec<String>> = cluster
        .services
        .values()
        .map(|s| {
            let pods = crate::engine::services::service_pods(cluster, s);
            let mut eps: Vec<String> = Vec::new();
            for p in pods.iter().filter(|p| p.ready) {
                for sp in &s.spec.ports {
                    let port = match &sp.target_port {
                        crate::k8s::TargetPort::Number(n) => *n,
                        crate::k8s::TargetPort::Name(_) => sp.port,
                    };
                    eps.push(format!("{}:{port}", p.ip));
                }
            }
            let shown = if eps.is_empty() {
                "<none>".to_string()
            } else {
                eps.join(",")
            };
            vec![s.namespace().to_string(), s.spec.meta.name.clone(), shown]
        })
        .collect();
    table(&["NAMESPACE", "NAME", "ENDPOINTS"], &rows)
}

/// Exported flow records, one per row, like a Flow Aggregator's record list:
/// when and where each was exported, why, the tuple with Pod names, counters
/// (forward/reverse totals), and the Service, Egress and L7 context.
pub fn flows(records: &[crate::flows::NodeFlowRecord]) -> String {
    if records.is_empty() {
        return "No flow records (is the FlowExporter feature gate on?)\n".into();
    }
    let end = |e: &std::net::Ipv4Addr, port: u16, ns: &str, pod: &str| {
        if pod.is_empty() {
            format!("{e}:{port}")
        } else {
            format!("{ns}/{pod}:{port}")
        }
    };
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|n| {
            let r = &n.record;
            let proto = match r.protocol_identifier {
                1 => "ICMP".to_string(),
                6 => "TCP".to_string(),
                17 => "UDP".to_string(),
                p => p.to_string(),
            };
            let reason = match r.flow_end_reason {
                crate::flows::FlowEndReason::IdleTimeout => "idle",
                crate::flows::FlowEndReason::ActiveTimeout => "active",
                crate::flows::FlowEndReason::EndOfFlow => "end",
                crate::flows::FlowEndReason::ForcedEnd => "forced",
            };
            let flow_type = match r.flow_type {
                crate::flows::FlowType::IntraNode => "Intra-Node",
                crate::flows::FlowType::InterNode => "Inter-Node",
                crate::flows::FlowType::ToExternal => "To-External",
                crate::flows::FlowType::FromExternal => "From-External",
                crate::flows::FlowType::Unspecified => "-",
            };
            let or_dash = |s: &str| {
                if s.is_empty() {
                    "-".to_string()
                } else {
                    s.to_string()
                }
            };
            vec![
                n.exported_at.since(crate::time::SimTime::ZERO).human(),
                n.exporter_node.clone(),
                reason.into(),
                flow_type.into(),
                proto,
                end(
                    &r.source_ipv4_address,
                    r.source_transport_port,
                    &r.source_pod_namespace,
                    &r.source_pod_name,
                ),
                end(
                    &r.destination_ipv4_address,
                    r.destination_transport_port,
                    &r.destination_pod_namespace,
                    &r.destination_pod_name,
                ),
                format!("{}/{}", r.packet_total_count, r.octet_total_count),
                format!(
                    "{}/{}",
                    r.reverse_packet_total_count, r.reverse_octet_total_count
                ),
                or_dash(&r.destination_service_port_name),
                if r.egress_name.is_empty() {
                    "-".into()
                } else {
                    format!(
                        "{} {} on {}",
                        r.egress_name, r.egress_ip, r.egress_node_name
                    )
                },
                or_dash(&r.app_protocol_name),
            ]
        })
        .collect();
    table(
        &[
            "EXPORTED",
            "NODE",
            "END",
            "FLOW-TYPE",
            "PROTO",
            "SOURCE",
            "DESTINATION",
            "PKTS/BYTES",
            "REPLY PKTS/BYTES",
            "SERVICE",
            "EGRESS",
            "APP",
        ],
        &rows,
    )
}
