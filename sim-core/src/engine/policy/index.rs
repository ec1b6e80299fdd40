//! Every rule of the cluster resolved once ([`PolicyIndex`]): the Pods it
//! applies to on any node, its peers' Pods and fixed addresses, its
//! services; each node's rules are then read out of it
//! ([`PolicyIndex::node_rules`]). This is what Antrea's controller keeps as
//! appliedTo groups and address groups, and as it does, a new Pod updates
//! only the groups whose selectors match it ([`PolicyIndex::add_pod`]).
//!
//! Selecting is helped by a label index: a selector with `matchLabels`
//! looks only at the Pods carrying its first label, one confined to a
//! Namespace only at that Namespace's Pods.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ipnet::Ipv4Net;

use super::rules::{
    Addr, Layer, NodePolicyRules, OfRule, ServiceMatch, antrea_priorities, antrea_rules,
    applied_and_peers, cidr_minus, namespace_labels, services,
};
use super::{PolicyKey, PolicyStore, RuleKey};
use crate::engine::pipeline::from_cluster::pods_by_ofport;
use crate::engine::{ClusterState, NodeId, PodId, PodState};
use crate::k8s::{Direction, LabelSelector, Peer, PolicyService, RuleAction};

/// One Pod selector: a podSelector and a namespaceSelector, and the
/// Namespace a lone podSelector means (None: every Namespace).
#[derive(Clone, Debug)]
struct Sel {
    pod: Option<LabelSelector>,
    ns: Option<LabelSelector>,
    home: Option<String>,
}

impl Sel {
    fn matches(&self, cluster: &ClusterState, p: &PodState) -> bool {
        self.namespace_ok(cluster, &p.namespace)
            && self.pod.as_ref().is_none_or(|s| s.matches(&p.labels))
    }

    /// Whether Pods of Namespace `ns` can be selected.
    fn namespace_ok(&self, cluster: &ClusterState, ns: &str) -> bool {
        match (&self.ns, &self.home) {
            (Some(sel), _) => sel.matches(&namespace_labels(cluster, ns)),
            (None, Some(h)) => ns == h,
            (None, None) => true,
        }
    }
}

/// A peer list resolved: selectors (for Pods arriving later) and the
/// addresses that do not come from Pods (ipBlocks, nodes).
#[derive(Clone, Debug, Default)]
struct PeerSet {
    sels: Vec<Sel>,
    /// ExternalEntity selectors (`pod` holds the externalEntitySelector).
    ee_sels: Vec<Sel>,
    nets: Vec<Ipv4Net>,
    /// No peers: every address.
    any: bool,
}

fn peer_set(
    cluster: &ClusterState,
    store: &PolicyStore,
    peers: &[Peer],
    home: Option<&str>,
) -> PeerSet {
    let mut out = PeerSet {
        any: peers.is_empty(),
        ..PeerSet::default()
    };
    for p in peers {
        add_peer(cluster, store, p, home, 0, &mut out);
    }
    out
}

fn add_peer(
    cluster: &ClusterState,
    store: &PolicyStore,
    peer: &Peer,
    home: Option<&str>,
    depth: u8,
    out: &mut PeerSet,
) {
    if let Some(g) = &peer.group {
        let Some(group) = store.group(home, g) else {
            return;
        };
        let ghome = if group.cluster_wide { None } else { home };
        if group.pod_selector.is_some() || group.namespace_selector.is_some() {
            out.sels.push(Sel {
                pod: group.pod_selector.clone(),
                ns: group.namespace_selector.clone(),
                home: ghome.map(str::to_string),
            });
        }
        for b in &group.ip_blocks {
            out.nets.extend(cidr_minus(b.cidr, &b.except));
        }
        if depth == 0 {
            for child in &group.child_groups {
                let sub = Peer {
                    group: Some(child.clone()),
                    ..Peer::default()
                };
                add_peer(cluster, store, &sub, home, depth + 1, out);
            }
        }
        return;
    }
    if let Some(ee) = &peer.external_entity_selector {
        // With a namespaceSelector, that selects the entities' Namespaces.
        out.ee_sels.push(Sel {
            pod: Some(ee.clone()),
            ns: peer.namespace_selector.clone(),
            home: home.map(str::to_string),
        });
        return;
    }
    if let Some(b) = &peer.ip_block {
        out.nets.extend(cidr_minus(b.cidr, &b.except));
    }
    if let Some(sel) = &peer.node_selector {
        out.nets.extend(
            cluster
                .nodes()
                .filter(|n| sel.matches(&n.labels))
                .map(|n| Ipv4Net::from(n.ip)),
        );
    }
    if peer.pod_selector.is_some() || peer.namespace_selector.is_some() {
        out.sels.push(Sel {
            pod: peer.pod_selector.clone(),
            ns: peer.namespace_selector.clone(),
            home: home.map(str::to_string),
        });
    }
}

/// Every address a peer list names: its fixed addresses and the IPs of the
/// Pods its selectors choose now; `0.0.0.0/0` alone for no peers. Sorted,
/// without duplicates (a NodeNetworkPolicy's address set, `engine::policy::host`).
pub(super) fn resolve_peer_addresses(
    cluster: &ClusterState,
    store: &PolicyStore,
    peers: &[Peer],
    home: Option<&str>,
) -> Vec<Ipv4Net> {
    let set = peer_set(cluster, store, peers, home);
    if set.any {
        return vec![Ipv4Net::default()];
    }
    let mut nets = set.nets;
    nets.extend(entity_ips(cluster, &set.ee_sels));
    if !set.sels.is_empty() {
        nets.extend(
            cluster
                .pods()
                .filter(|p| set.sels.iter().any(|s| s.matches(cluster, p)))
                .map(|p| Ipv4Net::from(p.ip)),
        );
    }
    nets.sort();
    nets.dedup();
    nets
}

/// The ExternalEntities `sels` select, as `(namespace, name)`.
fn entities(cluster: &ClusterState, sels: &[Sel]) -> Vec<(String, String)> {
    cluster
        .external_entities()
        .filter(|e| {
            sels.iter().any(|s| {
                s.namespace_ok(cluster, &e.namespace)
                    && s.pod.as_ref().is_none_or(|p| p.matches(&e.labels))
            })
        })
        .map(|e| (e.namespace, e.name))
        .collect()
}

/// The addresses of the ExternalEntities `sels` select.
fn entity_ips(cluster: &ClusterState, sels: &[Sel]) -> Vec<Ipv4Net> {
    if sels.is_empty() {
        return Vec::new();
    }
    let chosen = entities(cluster, sels);
    cluster
        .external_entities()
        .filter(|e| chosen.contains(&(e.namespace.clone(), e.name.clone())))
        .flat_map(|e| e.ips.into_iter().map(Ipv4Net::from))
        .collect()
}

/// The Namespace annotation that turns on audit logging for its
/// Kubernetes NetworkPolicies (docs/antrea-network-policy.md).
pub const K8S_NP_LOGGING_ANNOTATION: &str = "networkpolicy.antrea.io/enable-logging";

/// Whether Namespace `ns` asks for audit logging of its NetworkPolicies.
fn k8s_logging(cluster: &ClusterState, ns: &str) -> bool {
    cluster
        .namespace_annotations
        .get(ns)
        .and_then(|a| a.get(K8S_NP_LOGGING_ANNOTATION))
        // strconv.ParseBool's true.
        .is_some_and(|v| matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"))
}

/// One rule resolved for the whole cluster.
#[derive(Clone, Debug)]
struct Resolved {
    policy: PolicyKey,
    id: u32,
    direction: Direction,
    layer: Layer,
    priority: u16,
    action: RuleAction,
    applied_sels: Vec<Sel>,
    peers: PeerSet,
    /// Pods it applies to, on every node.
    applied: BTreeSet<PodId>,
    /// ExternalEntities it applies to, `(namespace, name)`.
    applied_ee: Vec<(String, String)>,
    /// Pods among its peers.
    peer_pods: BTreeSet<PodId>,
    services: Vec<PolicyService>,
    to_services: Vec<(String, String)>,
    /// `enableLogging` (audit logging).
    logging: bool,
}

impl Resolved {
    /// This rule on one node, with its address clauses and services.
    fn of_rule(&self, from: Vec<Addr>, to: Vec<Addr>, services: Vec<ServiceMatch>) -> OfRule {
        OfRule {
            id: self.id,
            direction: self.direction,
            layer: self.layer,
            priority: self.priority,
            action: self.action,
            from,
            to,
            services,
            logging: self.logging,
        }
    }
}

/// A Kubernetes NetworkPolicy's isolation: the Pods it selects and the
/// directions it isolates.
#[derive(Clone, Debug)]
struct Isolation {
    policy: PolicyKey,
    sel: Sel,
    directions: Vec<Direction>,
    pods: BTreeSet<PodId>,
    /// The Namespace asks for audit logging of its NetworkPolicies.
    logging: bool,
}

/// The cluster's rules, resolved once (module docs).
#[derive(Clone, Debug, Default)]
pub struct PolicyIndex {
    rules: Vec<Resolved>,
    isolation: Vec<Isolation>,
    /// Nodes that NodeNetworkPolicies apply to, by policy.
    applied_nodes: BTreeSet<(PolicyKey, NodeId)>,
}

/// Pods by label, to find a selector's candidates without a scan.
struct LabelIndex<'a> {
    by_label: BTreeMap<(&'a str, &'a str), Vec<&'a PodState>>,
    by_ns: BTreeMap<&'a str, Vec<&'a PodState>>,
}

impl<'a> LabelIndex<'a> {
    fn new(cluster: &'a ClusterState) -> Self {
        let mut by_label: BTreeMap<(&str, &str), Vec<&PodState>> = BTreeMap::new();
        let mut by_ns: BTreeMap<&str, Vec<&PodState>> = BTreeMap::new();
        for p in cluster.pods() {
            for (k, v) in &p.labels {
                by_label.entry((k, v)).or_default().push(p);
            }
            by_ns.entry(&p.namespace).or_default().push(p);
        }
        LabelIndex { by_label, by_ns }
    }

    /// The Pods `sel` selects: among those with its first `matchLabels`
    /// label, else those of the Namespaces it allows; each Namespace's
    /// verdict taken once, not once per Pod.
    fn select(&self, cluster: &ClusterState, sel: &Sel) -> Vec<PodId> {
        let first_label = sel.pod.as_ref().and_then(|s| s.match_labels.iter().next());
        let pod_ok = |p: &PodState| sel.pod.as_ref().is_none_or(|s| s.matches(&p.labels));
        if let Some((k, v)) = first_label {
            let candidates = self
                .by_label
                .get(&(k.as_str(), v.as_str()))
                .map_or(&[][..], Vec::as_slice);
            let mut ns_ok: BTreeMap<&str, bool> = BTreeMap::new();
            return candidates
                .iter()
                .filter(|p| {
                    *ns_ok
                        .entry(p.namespace.as_str())
                        .or_insert_with(|| sel.namespace_ok(cluster, &p.namespace))
                        && pod_ok(p)
                })
                .map(|p| p.id)
                .collect();
        }
        let mut out = Vec::new();
        for (ns, pods) in &self.by_ns {
            if sel.namespace_ok(cluster, ns) {
                out.extend(pods.iter().filter(|p| pod_ok(p)).map(|p| p.id));
            }
        }
        out.sort();
        out
    }
}

impl PolicyIndex {
    /// Resolves every rule of `cluster`'s policies.
    pub fn build(cluster: &ClusterState) -> PolicyIndex {
        let store = &cluster.policies;
        let mut idx = PolicyIndex::default();
        if store.is_empty() {
            return idx;
        }
        let labels = LabelIndex::new(cluster);
        let select_all = |sels: &[Sel]| -> BTreeSet<PodId> {
            sels.iter()
                .flat_map(|s| labels.select(cluster, s))
                .collect()
        };
        for np in store.k8s_policies() {
            let ns = np.meta.namespace.as_deref().unwrap_or("default");
            let logging = k8s_logging(cluster, ns);
            let key = PolicyKey::of_k8s(np);
            let sel = Sel {
                pod: Some(np.pod_selector.clone()),
                ns: None,
                home: Some(ns.to_string()),
            };
            let applied = select_all(std::slice::from_ref(&sel));
            for dir in &np.policy_types {
                let (rules, ingress) = match dir {
                    Direction::Ingress => (&np.ingress, true),
                    Direction::Egress => (&np.egress, false),
                };
                for (i, rule) in rules.iter().enumerate() {
                    let Some(id) = store.rule_id(&RuleKey {
                        policy: key.clone(),
                        ingress,
                        index: i,
                    }) else {
                        continue;
                    };
                    let peers = peer_set(cluster, store, &rule.peers, Some(ns));
                    let peer_pods = select_all(&peers.sels);
                    idx.rules.push(Resolved {
                        policy: key.clone(),
                        id,
                        direction: *dir,
                        layer: Layer::K8s,
                        priority: 200,
                        action: RuleAction::Allow,
                        applied_sels: vec![sel.clone()],
                        peers,
                        applied: applied.clone(),
                        applied_ee: Vec::new(),
                        peer_pods,
                        services: rule.ports.clone(),
                        to_services: Vec::new(),
                        logging,
                    });
                }
            }
            idx.isolation.push(Isolation {
                policy: key,
                sel,
                directions: np.policy_types.clone(),
                pods: applied,
                logging,
            });
        }
        let arules = antrea_rules(store);
        let prios = antrea_priorities(&arules);
        for (i, r) in arules.iter().enumerate() {
            let (Some(id), Some(&priority)) =
                (store.rule_id(&r.key), prios.get(&(r.layer, r.direction, i)))
            else {
                continue;
            };
            let home = r.key.policy.namespace.as_deref();
            let targets = if r.rule.applied_to.is_empty() {
                &r.policy.applied_to
            } else {
                &r.rule.applied_to
            };
            // appliedTo selects Pods only (a nodeSelector is a
            // NodeNetworkPolicy, not enforced in br-int).
            let pod_targets: Vec<Peer> = targets
                .iter()
                .filter(|t| t.node_selector.is_none())
                .cloned()
                .collect();
            let applied_set = peer_set(cluster, store, &pod_targets, home);
            let applied = select_all(&applied_set.sels);
            let applied_ee = entities(cluster, &applied_set.ee_sels);
            let mut peers = if r.rule.to_services.is_empty() {
                peer_set(cluster, store, &r.rule.peers, home)
            } else {
                PeerSet::default()
            };
            // ExternalEntities join a rule's peers as their addresses.
            let ee_nets = entity_ips(cluster, &peers.ee_sels);
            peers.nets.extend(ee_nets);
            let peer_pods = select_all(&peers.sels);
            // A NodeNetworkPolicy's nodes count in its span (not enforced).
            idx.applied_nodes.extend(
                targets
                    .iter()
                    .filter_map(|t| t.node_selector.as_ref())
                    .flat_map(|sel| {
                        cluster
                            .nodes()
                            .filter(|n| sel.matches(&n.labels))
                            .map(|n| (r.key.policy.clone(), n.id))
                            .collect::<Vec<_>>()
                    }),
            );
            idx.rules.push(Resolved {
                policy: r.key.policy.clone(),
                id,
                direction: r.direction,
                layer: r.layer,
                priority,
                action: r.rule.action,
                applied_sels: applied_set.sels,
                peers,
                applied,
                applied_ee,
                peer_pods,
                services: r.rule.services.clone(),
                to_services: r.rule.to_services.clone(),
                logging: r.rule.enable_logging,
            });
        }
        idx
    }

    /// A new Pod `pod` (already in `cluster`): every group whose selectors
    /// match it takes it. Returns the nodes whose rules changed.
    pub fn add_pod(&mut self, cluster: &ClusterState, pod: PodId) -> BTreeSet<NodeId> {
        let p = cluster.pod(pod);
        let mut touched = BTreeSet::new();
        for iso in &mut self.isolation {
            if iso.sel.matches(cluster, p) {
                iso.pods.insert(pod);
                touched.insert(p.node);
            }
        }
        for r in &mut self.rules {
            if r.applied_sels.iter().any(|s| s.matches(cluster, p)) {
                r.applied.insert(pod);
                touched.insert(p.node);
            }
            if r.peers.sels.iter().any(|s| s.matches(cluster, p)) {
                r.peer_pods.insert(pod);
                touched.extend(r.applied.iter().map(|a| cluster.pod(*a).node));
            }
        }
        touched
    }

    /// The nodes policy `key` spans: those with a Pod it applies to (or
    /// that it applies to itself); Antrea's `desiredNodesRealized`.
    pub fn span(&self, cluster: &ClusterState, key: &PolicyKey) -> Vec<NodeId> {
        let mut nodes: BTreeSet<NodeId> = BTreeSet::new();
        for iso in self.isolation.iter().filter(|i| &i.policy == key) {
            nodes.extend(iso.pods.iter().map(|p| cluster.pod(*p).node));
        }
        for r in self.rules.iter().filter(|r| &r.policy == key) {
            nodes.extend(r.applied.iter().map(|p| cluster.pod(*p).node));
        }
        nodes.extend(
            self.applied_nodes
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, n)| *n),
        );
        nodes.into_iter().collect()
    }

    /// How many rules the index holds.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The rules of the agent on external Node `vm` (None when the cluster
    /// has no policy or `vm` is no ExternalNode): the rules whose appliedTo
    /// selects its ExternalEntity, which Antrea's agent realizes as it does
    /// a Pod's (`getOFPorts`, `getIPs`: the internal port for ingress, the
    /// entity's IPs for egress). No Kubernetes NetworkPolicy applies to it.
    pub fn external_node_rules(
        &self,
        cluster: &ClusterState,
        vm: &str,
    ) -> Option<Arc<NodePolicyRules>> {
        if cluster.policies.is_empty() {
            return None;
        }
        let state = cluster.external_nodes.get(vm)?;
        let ee = state.entity();
        let key = (ee.namespace.clone(), ee.name.clone());
        let mut out = NodePolicyRules::default();
        for r in self.rules.iter().filter(|r| r.applied_ee.contains(&key)) {
            let peer_pods: Vec<&PodState> = r.peer_pods.iter().map(|id| cluster.pod(*id)).collect();
            let peers = rule_peers(r, &peer_pods);
            if peers.is_empty() {
                continue;
            }
            // An ExternalEntity has no named ports.
            let owners: Vec<&PodState> = if r.direction == Direction::Ingress {
                Vec::new()
            } else {
                peer_pods.clone()
            };
            let Some(svcs) = services(&r.services, &owners) else {
                continue;
            };
            let (from, to) = match r.direction {
                Direction::Ingress => (
                    peers,
                    vec![Addr::OfPort(crate::engine::external_node::HOST_OFPORT)],
                ),
                Direction::Egress => (
                    ee.ips
                        .iter()
                        .map(|ip| Addr::Net(Ipv4Net::from(*ip)))
                        .collect(),
                    peers,
                ),
            };
            out.rules.push(r.of_rule(from, to, svcs));
        }
        out.rules.sort_by_key(|r| r.id);
        Some(Arc::new(out))
    }

    /// Node `node`'s rules (None when the cluster has no policy).
    pub fn node_rules(&self, cluster: &ClusterState, node: NodeId) -> Option<Arc<NodePolicyRules>> {
        if cluster.policies.is_empty() {
            return None;
        }
        let local: BTreeMap<PodId, u32> = pods_by_ofport(cluster, node)
            .map(|(port, p)| (p.id, port))
            .collect();
        let ofport_of = |p: &PodState| local.get(&p.id).copied();
        let mut out = NodePolicyRules::default();
        for iso in &self.isolation {
            for id in iso.pods.iter().filter(|id| local.contains_key(id)) {
                let p = cluster.pod(*id);
                for dir in &iso.directions {
                    match dir {
                        Direction::Ingress => {
                            out.isolated_ingress.extend(ofport_of(p));
                            if iso.logging {
                                out.logged_isolated_ingress.extend(ofport_of(p));
                            }
                        }
                        Direction::Egress => {
                            out.isolated_egress.push(p.ip);
                            if iso.logging {
                                out.logged_isolated_egress.push(p.ip);
                            }
                        }
                    }
                }
            }
        }
        for r in &self.rules {
            let applied: Vec<&PodState> = r
                .applied
                .iter()
                .filter(|id| local.contains_key(id))
                .map(|id| cluster.pod(*id))
                .collect();
            if applied.is_empty() {
                continue;
            }
            let peer_pods: Vec<&PodState> = r.peer_pods.iter().map(|id| cluster.pod(*id)).collect();
            let peers = rule_peers(r, &peer_pods);
            // A named port resolves against the Pods that own it: the
            // local Pods for ingress, the peers for egress, every Pod for an
            // egress rule with no peers (Antrea's all-Pods address group).
            let all_pods: Vec<&PodState>;
            let owners: &[&PodState] = if r.direction == Direction::Ingress {
                &applied
            } else if r.peers.any && r.to_services.is_empty() {
                all_pods = cluster.pods().collect();
                &all_pods
            } else {
                &peer_pods
            };
            let Some(svcs) = services(&r.services, owners) else {
                continue;
            };
            if peers.is_empty() {
                continue;
            }
            let (from, to) = applied_and_peers(&applied, &ofport_of, peers, r.direction);
            out.rules.push(r.of_rule(from, to, svcs));
        }
        out.isolated_ingress.sort_unstable();
        out.isolated_ingress.dedup();
        out.isolated_egress.sort_unstable();
        out.isolated_egress.dedup();
        out.logged_isolated_ingress.sort_unstable();
        out.logged_isolated_ingress.dedup();
        out.logged_isolated_egress.sort_unstable();
        out.logged_isolated_egress.dedup();
        out.rules.sort_by_key(|r| r.id);
        Some(Arc::new(out))
    }
}

/// A rule's peers as addresses: every address when it has none, else its
/// fixed addresses and its peer Pods' IPs, then its Services.
fn rule_peers(r: &Resolved, peer_pods: &[&PodState]) -> Vec<Addr> {
    let mut peers: Vec<Addr> = Vec::new();
    if r.peers.any && r.to_services.is_empty() {
        peers.push(Addr::Net(Ipv4Net::default()));
    } else {
        let mut nets: Vec<Ipv4Net> = r.peers.nets.clone();
        nets.extend(peer_pods.iter().map(|p| Ipv4Net::from(p.ip)));
        nets.sort();
        nets.dedup();
        peers.extend(nets.into_iter().map(Addr::Net));
    }
    for (ns, name) in &r.to_services {
        peers.push(Addr::Service {
            namespace: ns.clone(),
            name: name.clone(),
        });
    }
    peers
}
