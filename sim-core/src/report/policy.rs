//! `kubectl get` for policies: `networkpolicy -A` (NAMESPACE NAME
//! POD-SELECTOR AGE), `acnp` and `anp` (the CRDs' printer columns: NAME
//! TIER PRIORITY DESIRED NODES CURRENT NODES AGE, with the realisation
//! status Antrea's controller writes: the nodes the policy spans, and
//! those whose agent is up and has realized it), and `tiers` (NAME
//! PRIORITY AGE, the static Tiers included, sorted by name as kubectl
//! sorts them).

use super::{kube_age, table};
use crate::engine::ClusterState;
use crate::engine::policy::index::PolicyIndex;
use crate::engine::policy::{PolicyKey, tiers};

fn policy_age(cluster: &ClusterState, key: &PolicyKey, now_s: u64) -> String {
    kube_age(now_s.saturating_sub(cluster.policies().policy_created_at(key).unwrap_or(0)))
}

fn age(cluster: &ClusterState, display: &str, now_s: u64) -> String {
    kube_age(now_s.saturating_sub(cluster.policies().created_at(display).unwrap_or(0)))
}

/// `kubectl get networkpolicy -A`.
pub fn network_policies(cluster: &ClusterState, now_s: u64) -> String {
    let rows: Vec<Vec<String>> = cluster
        .policies()
        .k8s_policies()
        .map(|np| {
            let key = PolicyKey::of_k8s(np);
            let sel = np.pod_selector.to_string();
            vec![
                key.namespace.clone().unwrap_or_default(),
                np.meta.name.clone(),
                if sel.is_empty() { "<none>".into() } else { sel },
                policy_age(cluster, &key, now_s),
            ]
        })
        .collect();
    table(&["NAMESPACE", "NAME", "POD-SELECTOR", "AGE"], &rows)
}

/// `kubectl get acnp` (`cluster_wide`) or `kubectl get anp -A`.
pub fn antrea_policies(cluster: &ClusterState, cluster_wide: bool, now_s: u64) -> String {
    // Every policy's span from one index.
    let index = PolicyIndex::build(cluster);
    let rows: Vec<Vec<String>> = cluster
        .policies()
        .antrea_policies()
        .filter(|p| p.cluster_wide == cluster_wide)
        .map(|p| {
            let key = PolicyKey::of_antrea(p);
            let ns = key.namespace.clone();
            let nodes = index.span(cluster, &key);
            let current = nodes.iter().filter(|n| cluster.node(**n).up).count();
            let mut row = Vec::new();
            if let Some(ns) = ns {
                row.push(ns);
            }
            row.extend([
                p.meta.name.clone(),
                p.tier.clone().unwrap_or_else(|| tiers::APPLICATION.into()),
                format!("{}", p.priority.0),
                nodes.len().to_string(),
                current.to_string(),
                policy_age(cluster, &key, now_s),
            ]);
            row
        })
        .collect();
    let mut header = vec![
        "NAME",
        "TIER",
        "PRIORITY",
        "DESIRED NODES",
        "CURRENT NODES",
        "AGE",
    ];
    if !cluster_wide {
        header.insert(0, "NAMESPACE");
    }
    table(&header, &rows)
}

/// `kubectl get tiers`.
pub fn tiers(cluster: &ClusterState, now_s: u64) -> String {
    let mut rows: Vec<Vec<String>> = tiers::STATIC
        .iter()
        .map(|(name, prio)| vec![name.to_string(), prio.to_string(), kube_age(now_s)])
        .collect();
    rows.extend(cluster.policies().custom_tiers().map(|t| {
        vec![
            t.meta.name.clone(),
            t.priority.to_string(),
            age(cluster, &format!("Tier/{}", t.meta.name), now_s),
        ]
    }));
    rows.sort();
    table(&["NAME", "PRIORITY", "AGE"], &rows)
}
