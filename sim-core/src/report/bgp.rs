//! BGP views: `kubectl get bgppolicies`; in a node's agent `antctl get
//! bgppolicy`, `antctl get bgppeers` and `antctl get bgproutes`
//! (`pkg/agent/apiserver/handlers/{bgppolicy,bgppeer,bgproute}`), in antctl's table
//! form: every row sorted as text, cell by cell (`output.ConstructFormattedTable`),
//! an empty cell as `<NONE>`, an empty list as one empty line.
//!
//! When the node's agent has no BGP speaker, the view is antctl's error
//! line, as a user running it would read it.

use crate::bgp::speaker::PeerView;
use crate::engine::ClusterState;
use crate::engine::bgp_policy::{self, NoSpeaker};
use crate::model::bgp::BgpPeers;
use crate::sim::World;
use crate::time::SimTime;

/// `kubectl get bgppolicies` (the CRD's printer columns without AGE).
pub fn policies(cluster: &ClusterState) -> String {
    let rows: Vec<Vec<String>> = cluster
        .bgp_policies
        .iter()
        .map(|p| vec![p.meta.name.clone(), p.local_asn.to_string()])
        .collect();
    super::table(&["NAME", "LOCAL ASN"], &rows)
}

/// `antctl get bgppolicy` in `node`'s agent.
pub fn effective_policy(cluster: &ClusterState, node: &str) -> Result<String, String> {
    let id = cluster
        .node_id(node)
        .ok_or_else(|| format!("`{node}` is not a Kubernetes node"))?;
    Ok(match bgp_policy::node_bgp(cluster, id) {
        Err(why) => error_line(&why),
        Ok(bgp) => {
            let p = bgp.policy;
            let (identifier, members) = match &p.confederation {
                Some(c) => {
                    let id = if c.identifier == 0 {
                        String::new()
                    } else {
                        c.identifier.to_string()
                    };
                    // A string sort, as antctl's printer makes it.
                    let mut asns: Vec<String> = c.member_asns.iter().map(u32::to_string).collect();
                    asns.sort();
                    (id, asns.join(","))
                }
                None => (String::new(), String::new()),
            };
            antctl_table(
                &[
                    "NAME",
                    "ROUTER-ID",
                    "LOCAL-ASN",
                    "LISTEN-PORT",
                    "CONFEDERATION-IDENTIFIER",
                    "MEMBER-ASNs",
                ],
                vec![vec![
                    p.meta.name.clone(),
                    bgp.router_id.to_string(),
                    p.local_asn.to_string(),
                    p.listen_port.to_string(),
                    identifier,
                    members,
                ]],
            )
        }
    })
}

/// `antctl get bgproutes` in `node`'s agent.
pub fn routes(cluster: &ClusterState, node: &str) -> Result<String, String> {
    let id = cluster
        .node_id(node)
        .ok_or_else(|| format!("`{node}` is not a Kubernetes node"))?;
    Ok(match bgp_policy::node_bgp(cluster, id) {
        Err(why) => error_line(&why),
        Ok(bgp) => antctl_table(
            &["ROUTE", "TYPE", "K8S-OBJ-REF"],
            bgp.routes
                .iter()
                .map(|r| {
                    vec![
                        r.prefix.to_string(),
                        r.kind.as_str().to_string(),
                        r.object.clone(),
                    ]
                })
                .collect(),
        ),
    })
}

/// `antctl get bgppeers` in `node`'s agent: its speaker's peers with
/// their session states (`PEER ASN STATE`).
pub fn peers(world: &World, cluster: &ClusterState, node: &str) -> Result<String, String> {
    let id = cluster
        .node_id(node)
        .ok_or_else(|| format!("`{node}` is not a Kubernetes node"))?;
    if let Err(why) = bgp_policy::node_bgp(cluster, id) {
        return Ok(error_line(&why));
    }
    let device = cluster.node(id).device.expect("nodes have devices");
    let Some(list) = world.bgp_peers(device) else {
        return Ok(format!(
            "Error: {node} is not running: its agent does not answer\n"
        ));
    };
    Ok(antctl_table(
        &["PEER", "ASN", "STATE"],
        list.iter()
            .map(|p| {
                vec![
                    format!("{}:{}", p.addr, p.port),
                    p.asn.map_or(String::new(), |a| a.to_string()),
                    p.state.name().to_string(),
                ]
            })
            .collect(),
    ))
}

/// A router's speaker as FRR's vtysh prints it: `show bgp summary`, then
/// `show ip route bgp`.
pub fn router(world: &World, device: &str) -> Result<String, String> {
    let id = world
        .device_id(device)
        .ok_or_else(|| format!("no device called `{device}`"))?;
    let spec = world
        .bgp_router(id)
        .ok_or_else(|| format!("`{device}` runs no BGP router (the topology's `bgp:`)"))?;
    let now = world.now();
    let mut out = format!("vtysh -c 'show bgp summary' ({device})\n");
    let Some(speaker) = world.bgp_speaker(id) else {
        return Ok(format!("{out}{device} is powered off\n"));
    };
    out.push_str(&format!(
        "\nIPv4 Unicast Summary (VRF default):\nBGP router identifier {}, local AS number {} vrf-id 0\n\n",
        spec.router_id, spec.asn
    ));
    let dynamic = matches!(spec.peers, BgpPeers::Range { .. });
    let mut rows: Vec<(String, PeerView)> = speaker
        .peers()
        .into_iter()
        .map(|p| (format!("{}{}", if dynamic { "*" } else { "" }, p.addr), p))
        .collect();
    rows.sort_by_key(|(_, p)| p.addr);
    let width = rows
        .iter()
        .map(|(n, _)| n.len() + 1)
        .max()
        .unwrap_or(0)
        .max(16);
    out.push_str(&format!(
        "{:<width$}V         AS   MsgRcvd   MsgSent   TblVer  InQ OutQ  Up/Down State/PfxRcd   PfxSnt Desc\n",
        "Neighbor"
    ));
    // FRR's columns (bgp_vty.c, `bgp_show_summary`).
    for (name, p) in &rows {
        let state = if p.state.name() == "Established" {
            format!("{:>12}", p.prefixes_received)
        } else {
            format!("{:>12}", p.state.name())
        };
        let up = p.up_since.map_or("never".to_string(), |t| uptime(now, t));
        out.push_str(&format!(
            "{name:<width$}4 {:>10} {:>9} {:>9} {:>8} {:>4} {:>4} {up:>8} {state} {:>8} N/A\n",
            p.asn.unwrap_or(0),
            p.messages_received,
            p.messages_sent,
            0,
            0,
            0,
            0
        ));
    }
    out.push_str(&format!("\nTotal number of neighbors {}\n", rows.len()));
    out.push_str(&format!("vtysh -c 'show ip route bgp' ({device})\n"));
    out.push_str(FRR_ROUTE_CODES);
    let rib = speaker.rib().expect("a router's speaker has a RIB");
    let stack = world.device(id).stack();
    for (prefix, hops) in rib.routes() {
        let age = uptime(now, speaker.route_since(prefix).unwrap_or(now));
        let lead = format!("B>* {prefix} [20/0] ");
        for (i, nh) in hops.iter().enumerate() {
            let dev = stack
                .and_then(|st| {
                    st.ifaces()
                        .iter()
                        .find(|f| f.addrs().iter().any(|a| a.contains(nh)))
                })
                .map_or("?".to_string(), |f| f.name().to_string());
            let head = if i == 0 {
                lead.clone()
            } else {
                format!("{:<w$}", "  *", w = lead.len())
            };
            out.push_str(&format!("{head}via {nh}, {dev}, weight 1, {age}\n"));
        }
    }
    Ok(out)
}

/// The legend FRR 8.4 prints above `show ip route`.
const FRR_ROUTE_CODES: &str = "\
Codes: K - kernel route, C - connected, S - static, R - RIP,
       O - OSPF, I - IS-IS, B - BGP, E - EIGRP, N - NHRP,
       T - Table, v - VNC, V - VNC-Direct, A - Babel, F - PBR,
       f - OpenFabric,
       > - selected route, * - FIB route, q - queued, r - rejected, b - backup
       t - trapped, o - offload failure

";

/// FRR's `peer_uptime`: `hh:mm:ss` within a day, `NdHHhMMm` within a
/// week, else `NNwNdHHh`.
fn uptime(now: SimTime, since: SimTime) -> String {
    let secs = now.as_nanos().saturating_sub(since.as_nanos()) / 1_000_000_000;
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    if d == 0 {
        format!("{h:02}:{m:02}:{s:02}")
    } else if d < 7 {
        format!("{d}d{h:02}h{m:02}m")
    } else {
        format!("{:02}w{}d{h:02}h", d / 7, d % 7)
    }
}

fn error_line(why: &NoSpeaker) -> String {
    format!("Error: {}\n", why.antctl_error())
}

/// antctl's table (`output.ConstructFormattedTable`): rows sorted as text,
/// `<NONE>` for an empty cell (with more than one column), each column as
/// wide as its widest cell and one space apart, padding kept; no rows
/// prints one empty line. kubectl's shape is [`super::table`].
fn antctl_table(header: &[&str], mut rows: Vec<Vec<String>>) -> String {
    if rows.is_empty() {
        return "\n".to_string();
    }
    if header.len() > 1 {
        for cell in rows.iter_mut().flatten() {
            if cell.is_empty() {
                *cell = "<NONE>".to_string();
            }
        }
    }
    rows.sort();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(&cells.join(" "));
        out.push('\n');
    }
    out
}
