//! BGPPolicy views: `kubectl get bgppolicies` and, in a node's agent,
//! `antctl get bgppolicy` and `antctl get bgproutes`
//! (`pkg/agent/apiserver/handlers/{bgppolicy,bgproute}`), in antctl's table
//! form: every row sorted as text, cell by cell (`output.ConstructFormattedTable`),
//! an empty cell as `<NONE>`, an empty list as one empty line.
//!
//! When the node's agent has no BGP speaker, the view is antctl's error
//! line, as a user running it would read it.

use crate::engine::ClusterState;
use crate::engine::bgp_policy::{self, NoSpeaker};

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
