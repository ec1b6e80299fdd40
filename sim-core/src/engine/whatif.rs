//! What-if on a real cluster's state: where every Egress IP lives now, and
//! where it goes when some Nodes fail. Input is Kubernetes objects as
//! `kubectl get nodes,externalippools,egresses -o yaml` prints them (a
//! `kind: List`) or plain manifests; output is plain data for tables/JSON.
//!
//! Allocation is restored the way Antrea's controller restores it after a
//! restart (`restoreIPAllocations` in `pkg/controller/egress/controller.go`,
//! `RestoreIPAllocations` in `pkg/controller/externalippool/controller.go`,
//! v2.7.0): `spec.egressIP` (or a `status.egressIP` left by the agents) is kept
//! when its pool exists and has it; an allocation that cannot be restored (the
//! pool is gone, the IP is outside it or taken) is skipped, logged, and the
//! Egress is left without an IP, as Antrea leaves it; the output carries a note.
//! Egresses without an IP get the lowest free IP of their pool in
//! creationTimestamp-then-name order. Placement assumes every agent sees the
//! same Nodes alive (converged memberlist views); pools' overlap check is the
//! v1.15 one (none), so an exported cluster is never refused for it.
//!
//! The input is a dump of objects that exist together, so two Nodes, pools or
//! Egresses with one name are an error (a malformed dump), not a later one
//! silently replacing the first.

use std::net::Ipv4Addr;

use indexmap::IndexMap;

use super::egress::placement;
use super::ippool::PoolSet;
use super::{ClusterState, NodeId, NodeSet, NodeState};
use crate::k8s::Object;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Move {
    pub name: String,
    #[serde(rename = "egressIP")]
    pub egress_ip: Option<Ipv4Addr>,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WhatIf {
    pub egresses: Vec<Move>,
    /// ServiceExternalIP placement joins here when Services are modelled.
    pub(crate) services: Vec<Move>,
    /// What could not be restored or predicted, one line each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// `2024-04-16T09:25:28Z` → seconds since 1970 (RFC 3339 as the API server
/// writes it; anything else sorts first, as a missing timestamp would).
pub fn parse_timestamp(ts: &str) -> u64 {
    let b = ts.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { ts.get(r)?.parse().ok() };
    if b.len() < 19 {
        return 0;
    }
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) else {
        return 0;
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + h * 3600 + mi * 60 + s).max(0) as u64
}

/// Computes where Egress IPs are with every Node alive and after `failed`
/// Nodes are gone. Errors name the object that cannot be used.
pub fn what_if(objects: &[Object], failed: &[String]) -> Result<WhatIf, String> {
    refuse_duplicates(objects)?;
    let mut cluster = ClusterState::default();
    cluster.egress.pools = PoolSet::with_check_overlap(false);
    // EgressSeparateSubnet does not change placement; Egress is on by default.
    for o in objects {
        if let Object::Node(n) = o {
            let mut node = NodeState::new(
                &n.meta.name,
                Ipv4Addr::UNSPECIFIED,
                "0.0.0.0/32".parse().expect("literal"),
                "eth0",
            );
            node.labels = n.meta.labels.clone();
            node.annotations = n.meta.annotations.clone();
            node.control_plane = n
                .meta
                .labels
                .contains_key("node-role.kubernetes.io/control-plane");
            cluster.add_node(node);
        }
    }
    for f in failed {
        if cluster.node_id(f).is_none() {
            return Err(format!("--power-off {f}: no Node called {f} in the input"));
        }
    }
    for o in objects {
        if let Object::ExternalIPPool(p) = o {
            let created = p
                .meta
                .creation_timestamp
                .as_deref()
                .map_or(0, parse_timestamp);
            cluster
                .egress
                .apply_pool(p, created)
                .map_err(|e| format!("{}: ExternalIPPool {}: {e}", p.meta.origin, p.meta.name))?;
        }
    }
    // Egresses that already have an IP first, so fresh allocations cannot take it.
    let mut egresses: Vec<_> = objects
        .iter()
        .filter_map(|o| match o {
            Object::Egress(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    for e in egresses.iter_mut() {
        if e.egress_ip.is_none() {
            e.egress_ip = e.status.egress_ip;
        }
    }
    egresses.sort_by_key(|e| {
        (
            e.egress_ip.is_none(),
            e.meta
                .creation_timestamp
                .as_deref()
                .map_or(0, parse_timestamp),
            e.meta.name.clone(),
        )
    });
    let mut notes: Vec<String> = Vec::new();
    for e in &egresses {
        let created = e
            .meta
            .creation_timestamp
            .as_deref()
            .map_or(0, parse_timestamp);
        let Some(pool) = e.external_ip_pool.as_deref() else {
            notes.push(format!(
                "Egress {}: no externalIPPool (a static egressIP); it is on whichever Node has that IP configured, which the input does not say",
                e.meta.name
            ));
            continue;
        };
        if cluster.egress.pools.get(pool).is_none() {
            // RestoreIPAllocations skips it; syncEgress finds no pool.
            notes.push(format!(
                "Egress {}: ExternalIPPool {pool} does not exist, so it has no IP (as Antrea's controller leaves it)",
                e.meta.name
            ));
            continue;
        }
        if let Err(err) = cluster.egress.apply_egress(e, created) {
            notes.push(format!(
                "Egress {}: its IP allocation cannot be restored ({err}); it has no IP",
                e.meta.name
            ));
        }
    }
    let all: NodeSet = cluster.nodes().map(|n| n.id).collect();
    let alive: NodeSet = cluster
        .nodes()
        .filter(|n| !failed.contains(&n.name))
        .map(|n| n.id)
        .collect();
    let before = placement(&cluster, &all);
    let after = placement(&cluster, &alive);
    let node_name =
        |n: Option<&Option<NodeId>>| n.copied().flatten().map(|id| cluster.node(id).name.clone());
    let mut out = WhatIf::default();
    let mut order: IndexMap<String, ()> = IndexMap::new();
    for e in &egresses {
        order.insert(e.meta.name.clone(), ());
    }
    out.notes = notes;
    for name in order.keys() {
        let ip = cluster.egress.egresses.get(name).and_then(|s| s.ip);
        out.egresses.push(Move {
            name: name.clone(),
            egress_ip: ip,
            before: node_name(before.get(name)),
            after: node_name(after.get(name)),
        });
    }
    out.egresses.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Two objects of one kind and name in a dump of a cluster: the dump is malformed.
fn refuse_duplicates(objects: &[Object]) -> Result<(), String> {
    let mut seen: IndexMap<(&str, &str), &crate::k8s::Origin> = IndexMap::new();
    for o in objects {
        if !matches!(
            o,
            Object::Node(_) | Object::ExternalIPPool(_) | Object::Egress(_)
        ) {
            continue;
        }
        let meta = o.meta();
        let key = (o.kind_name(), meta.name.as_str());
        if let Some(first) = seen.get(&key) {
            return Err(format!(
                "{}: {} {} is already in the input (at {first}); a cluster has one object per name",
                meta.origin, key.0, key.1
            ));
        }
        seen.insert(key, &meta.origin);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::parse_manifests;

    const NODE: &str = "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n---\n";
    const POOL: &str = "apiVersion: crd.antrea.io/v1beta1\nkind: ExternalIPPool\nmetadata: {name: p}\nspec: {ipRanges: [{cidr: 10.0.0.0/29}], nodeSelector: {}}\n---\n";

    fn egress(name: &str, spec: &str) -> String {
        format!(
            "apiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata: {{name: {name}}}\nspec: {{appliedTo: {{}}, {spec}}}\n---\n"
        )
    }

    #[test]
    fn an_egress_whose_pool_is_gone_is_skipped_with_a_note() {
        let text = format!(
            "{NODE}{POOL}{}{}",
            egress("kept", "externalIPPool: p, egressIP: 10.0.0.3"),
            egress("orphan", "externalIPPool: gone, egressIP: 10.9.9.9")
        );
        let objects = parse_manifests("dump.yaml", &text).unwrap();
        let w = what_if(&objects, &[]).unwrap();
        let names: Vec<(&str, Option<Ipv4Addr>)> = w
            .egresses
            .iter()
            .map(|m| (m.name.as_str(), m.egress_ip))
            .collect();
        assert_eq!(
            names,
            [("kept", Some(Ipv4Addr::new(10, 0, 0, 3))), ("orphan", None)]
        );
        assert_eq!(w.egresses[0].before.as_deref(), Some("n1"));
        assert_eq!(w.egresses[1].before, None);
        assert_eq!(w.notes.len(), 1, "{:?}", w.notes);
        assert!(
            w.notes[0].contains("ExternalIPPool gone does not exist"),
            "{:?}",
            w.notes
        );
    }

    #[test]
    fn duplicate_names_make_a_malformed_dump() {
        let text = format!("{NODE}{POOL}{NODE}");
        let objects = parse_manifests("dump.yaml", &text).unwrap();
        let e = what_if(&objects, &[]).unwrap_err();
        assert!(
            e.starts_with("dump.yaml:10:1: Node n1 is already in the input (at dump.yaml:1:1)"),
            "{e}"
        );
    }

    #[test]
    fn timestamps_are_unix_seconds() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), 0);
        assert_eq!(parse_timestamp("2024-04-16T09:25:28Z"), 1_713_259_528);
        assert_eq!(parse_timestamp("2000-03-01T00:00:00Z"), 951_868_800);
        assert_eq!(parse_timestamp("garbage"), 0);
    }
}
