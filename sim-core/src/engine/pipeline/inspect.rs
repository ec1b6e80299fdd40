//! A node's br-int program as a user looks at it (`antlab rules`, `antlab
//! trace`, the TUI's Trace pane): the compiled [`NodePipeline`] loaded into an
//! [`openflow::Program`](crate::openflow::Program), printed as `ovs-ofctl
//! dump-flows` / `dump-groups` print it, and one packet walked through it as
//! `ovs-appctl ofproto/trace` walks it.
//!
//! Trace input is the `ofproto/trace` flow string (contract section 5) with
//! one shorthand: `pod:NS/NAME` names a Pod on the node as the source and
//! fills in what that Pod's packets carry unless the string says otherwise:
//! `in_port` (its ofport), `dl_src` (its MAC), `nw_src` (its IP), and
//! `dl_dst`: the MAC of the destination Pod when `nw_dst` is a Pod on the
//! same node (same subnet, the Pod resolves it itself), else the node's
//! `antrea-gw0` MAC (the Pod's default route). For `arp`, `arp_spa` and
//! `arp_sha` are filled in instead of `nw_src`, and `dl_dst` is broadcast.
//! Any IP flow without `nw_ttl` gets 64, what Linux sends (ofproto/trace
//! would take 0).
//!
//! Conntrack in a trace is scripted like `ofproto/trace --ct-next`: each
//! `ct()` recirculation takes the next given state, `trk,new` once they run
//! out, and NAT is not applied to the headers ([`CtMode::Scripted`]), so the
//! simulator's walk and real OVS's trace of the same flow can be compared.

use crate::engine::{ClusterState, NodeId, PodState};
use crate::openflow::{
    Conntrack, CtMode, CtState, FlowInterner, Packet, Program, Style, TableMap, Walk,
};

use super::compile::NodePipeline;
use super::from_cluster::{gateway_mac, pod_mac, pods_by_ofport};
use super::spec::TUNNEL_OFPORT;

/// The prefix of the Pod shorthand in a trace flow string.
pub const POD_PREFIX: &str = "pod:";

/// `np` as an interpreter program (tables named, the tunnel port known).
/// An error means the compiler emitted text the parser refuses.
pub fn program(np: &NodePipeline) -> Result<Program, String> {
    let mut p = Program::from_text(TableMap::new(np.tables()), &np.text())
        .map_err(|e| format!("the compiled program does not parse: {e}"))?;
    p.set_tunnel_ports(&[TUNNEL_OFPORT]);
    Ok(p)
}

/// An external Node's program: no tunnel port (its ofport 1 is the uplink).
pub fn external_program(np: &NodePipeline) -> Result<Program, String> {
    Program::from_text(TableMap::new(np.tables()), &np.text())
        .map_err(|e| format!("the compiled program does not parse: {e}"))
}

/// [`program`] with flow lines parsed once across nodes ([`FlowInterner`]).
pub fn program_shared(np: &NodePipeline, interner: &mut FlowInterner) -> Result<Program, String> {
    let mut p = Program::from_text_shared(TableMap::new(np.tables()), &np.text(), interner)
        .map_err(|e| format!("the compiled program does not parse: {e}"))?;
    p.set_tunnel_ports(&[TUNNEL_OFPORT]);
    Ok(p)
}

/// `ovs-ofctl dump-flows br-int` lines (`--names` with [`Style::Names`]),
/// each with a leading space as OVS prints them; with `table`, only the
/// flows of that table (a name, or a number).
pub fn dump_flows(p: &Program, style: Style, table: Option<&str>) -> Result<String, String> {
    let Some(t) = table else {
        return Ok(p.dump_flows(style));
    };
    let names = p.table_names();
    let id = names
        .resolve(t)
        .ok()
        .filter(|id| names.name(*id).is_some())
        .ok_or_else(|| {
            let known: Vec<String> = names.pairs().map(|(i, n)| format!("{n} ({i})")).collect();
            format!(
                "no table `{t}` in this program; its tables: {}",
                known.join(", ")
            )
        })?;
    let mut out = String::new();
    for (f, n_packets, n_bytes) in p.flows().filter(|(f, _, _)| f.table == id) {
        out.push(' ');
        out.push_str(&crate::openflow::text::flow_dump_line(
            f, names, style, n_packets, n_bytes,
        ));
        out.push('\n');
    }
    Ok(out)
}

/// The ofport of `pod` on its node's br-int ([`pods_by_ofport`]).
pub fn pod_ofport(cluster: &ClusterState, pod: &PodState) -> u32 {
    pods_by_ofport(cluster, pod.node)
        .find(|(_, p)| p.id == pod.id)
        .map(|(ofport, _)| ofport)
        .expect("a Pod is listed on its node")
}

/// The number of Pod ports `node`'s br-int has (ofports
/// `FIRST_POD_OFPORT..FIRST_POD_OFPORT + n`).
pub fn pod_ports(cluster: &ClusterState, node: NodeId) -> u32 {
    cluster.pods_on(node).count() as u32
}

/// `flow` with a `pod:NS/NAME` token replaced by the Pod's fields (module
/// docs); a string without one comes back unchanged. Errors: the Pod does
/// not exist, or runs on another node than `node`.
pub fn expand_flow(cluster: &ClusterState, node: &str, flow: &str) -> Result<String, String> {
    let tokens: Vec<&str> = flow
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    let pods: Vec<&&str> = tokens
        .iter()
        .filter(|t| t.starts_with(POD_PREFIX))
        .collect();
    let key = |t: &str| t.split_once('=').map_or(t, |(k, _)| k).to_string();
    let given: Vec<String> = tokens.iter().map(|t| key(t)).collect();
    let has = |k: &str| given.iter().any(|g| g == k);
    let arp = has("arp");
    // Linux sends with TTL 64; ofproto/trace would take 0 (and decrement it
    // into an exception), so a flow without one gets 64 on both sides.
    let ttl = (!arp && !has("nw_ttl")).then(|| "nw_ttl=64".to_string());
    let pod_token = match pods.as_slice() {
        [] => {
            return Ok(tokens
                .iter()
                .map(|t| t.to_string())
                .chain(ttl)
                .collect::<Vec<_>>()
                .join(","));
        }
        [one] => **one,
        _ => return Err(format!("`{flow}`: more than one `{POD_PREFIX}NS/NAME`")),
    };
    let name = &pod_token[POD_PREFIX.len()..];
    let (ns, pod_name) = name
        .split_once('/')
        .filter(|(ns, n)| !ns.is_empty() && !n.is_empty() && !n.contains('/'))
        .ok_or_else(|| format!("`{pod_token}`: write the Pod as {POD_PREFIX}NAMESPACE/NAME"))?;
    let pod = cluster
        .pod_by_name(ns, pod_name)
        .ok_or_else(|| format!("`{pod_token}`: no Pod {ns}/{pod_name} at this time"))?;
    let pod_node = &cluster.node(pod.node).name;
    if pod_node != node {
        return Err(format!(
            "`{pod_token}`: Pod {ns}/{pod_name} runs on {pod_node}, not on {node}; trace it on {pod_node}"
        ));
    }
    let value = |k: &str| {
        tokens
            .iter()
            .find_map(|t| t.split_once('=').filter(|(kk, _)| *kk == k).map(|(_, v)| v))
    };
    let mac = pod_mac(&pod.namespace, &pod.name).to_string();
    let mut fill: Vec<String> = Vec::new();
    if !has("in_port") {
        fill.push(format!("in_port={}", pod_ofport(cluster, pod)));
    }
    if !has("dl_src") {
        fill.push(format!("dl_src={mac}"));
    }
    if !has("dl_dst") {
        let dst = if arp {
            "ff:ff:ff:ff:ff:ff".to_string()
        } else {
            value("nw_dst")
                .and_then(|d| d.parse().ok())
                .and_then(|ip| cluster.pod_with_ip(ip))
                .filter(|d| d.node == pod.node)
                .map_or_else(
                    || gateway_mac(pod_node).to_string(),
                    |d| pod_mac(&d.namespace, &d.name).to_string(),
                )
        };
        fill.push(format!("dl_dst={dst}"));
    }
    if arp {
        if !has("arp_spa") {
            fill.push(format!("arp_spa={}", pod.ip));
        }
        if !has("arp_sha") {
            fill.push(format!("arp_sha={mac}"));
        }
    } else if !has("nw_src") {
        fill.push(format!("nw_src={}", pod.ip));
    }
    fill.extend(ttl);
    // The protocol shorthand first (ofproto/trace's own order), then the
    // Pod's fields, then the rest as written.
    let mut out: Vec<String> = Vec::new();
    let (protos, rest): (Vec<&str>, Vec<&str>) = tokens
        .iter()
        .filter(|t| !t.starts_with(POD_PREFIX))
        .partition(|t| !t.contains('='));
    if let Some(p) = fill.iter().position(|f| f.starts_with("in_port=")) {
        out.push(fill.remove(p));
    }
    out.extend(protos.iter().map(|s| s.to_string()));
    out.extend(fill);
    out.extend(rest.iter().map(|s| s.to_string()));
    Ok(out.join(","))
}

/// `--ct-next` states, parsed.
pub fn ct_states(states: &[String]) -> Result<Vec<CtState>, String> {
    states.iter().map(|s| CtState::parse(s)).collect()
}

/// Walks `flow` (already expanded) through `p` with scripted conntrack
/// (`ct_next`), traced. The program's counters count the packet.
pub fn trace(p: &mut Program, flow: &str, ct_next: &[CtState]) -> Result<Walk, String> {
    let packet = Packet::parse_trace_flow(flow).map_err(|e| format!("flow `{flow}`: {e}"))?;
    let mut ct = Conntrack::new();
    Ok(p.run(
        &mut ct,
        &CtMode::Scripted(ct_next.to_vec()),
        &packet,
        0,
        true,
    ))
}
