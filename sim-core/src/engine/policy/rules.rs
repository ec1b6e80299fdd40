//! One node's policy rules, as Antrea's agent realizes them
//! (pkg/agent/controller/networkpolicy/pod_reconciler.go): every rule of a
//! policy that applies to a Pod on the node, with
//! - its conjunction id (the cluster's numbering, [`super::PolicyStore`]),
//! - its table layer: Antrea-native rules before Kubernetes
//!   NetworkPolicies, the Baseline Tier after them,
//! - its OpenFlow priority ([`super::priority`]; Kubernetes rules use
//!   Antrea's fixed 200 for their clauses and 190 for the action),
//! - its clauses: "from" and "to" as address sets (ingress: peers' IPs,
//!   then the local Pods' ofports; egress: the local Pods' IPs, then the
//!   peers' IPs or Services) and its services (ports, ranges, ICMP);
//!
//! and the Pods isolated by a Kubernetes NetworkPolicy per direction (the
//! default drop flows).
//!
//! Peers follow Kubernetes and Antrea: a podSelector alone selects in the
//! policy's Namespace (everywhere for a ClusterNetworkPolicy), a
//! namespaceSelector alone every Pod of the matching Namespaces, both
//! together the matching Pods of those; an ipBlock its CIDR less its
//! excepts; a group its members; a nodeSelector the nodes' IPs. No peers
//! means every address. A named port resolves against the Pods that own
//! it (the local Pods for ingress, the peers for egress).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use indexmap::IndexMap;
use ipnet::Ipv4Net;

use super::priority::{self, Precedence};
use super::tiers;
use super::{PolicyKey, PolicyStore, RuleKey};
use crate::engine::pipeline::from_cluster::pods_by_ofport;
use crate::engine::{ClusterState, NodeId, PodState};
use crate::k8s::{
    Direction, IpBlock, LabelSelector, Peer, PolicyPortNumber, PolicyService, Protocol, RuleAction,
};

/// Which kind of policy a rule comes from (the flow records' policy type:
/// 1 K8s NetworkPolicy, 2 Antrea NetworkPolicy, 3 Antrea ClusterNetworkPolicy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PolicyKind {
    K8s,
    Anp,
    Acnp,
}

impl PolicyKind {
    /// As `antctl` and the audit log name it.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::K8s => "K8sNetworkPolicy",
            PolicyKind::Anp => "AntreaNetworkPolicy",
            PolicyKind::Acnp => "AntreaClusterNetworkPolicy",
        }
    }
    /// The IPFIX `*NetworkPolicyType` value.
    pub fn ipfix_type(self) -> u8 {
        match self {
            PolicyKind::K8s => 1,
            PolicyKind::Anp => 2,
            PolicyKind::Acnp => 3,
        }
    }
}

/// What a conjunction id stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleInfo {
    pub kind: PolicyKind,
    pub namespace: Option<String>,
    pub policy: String,
    pub rule: String,
    /// The Tier's name (Antrea-native policies).
    pub tier: Option<String>,
    /// Kubernetes rules allow.
    pub action: RuleAction,
    pub direction: Direction,
}

impl RuleInfo {
    /// `AntreaClusterNetworkPolicy deny-db rule ingress-0 (Tier securityops): Drop`.
    pub fn describe(&self) -> String {
        let name = match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.policy),
            None => self.policy.clone(),
        };
        let tier = self
            .tier
            .as_deref()
            .map(|t| format!(" (Tier {t})"))
            .unwrap_or_default();
        format!(
            "{} {name} rule {}{tier}: {}",
            self.kind.name(),
            self.rule,
            self.action.as_str()
        )
    }
}

/// Every rule of the cluster by conjunction id, and which Kubernetes
/// NetworkPolicies isolate each Pod IP per direction: what names a verdict.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyCatalog {
    rules: BTreeMap<u32, RuleInfo>,
    isolating: BTreeMap<(Ipv4Addr, Direction), Vec<String>>,
}

impl PolicyCatalog {
    pub fn rule(&self, id: u32) -> Option<&RuleInfo> {
        self.rules.get(&id)
    }
    pub fn rules(&self) -> impl Iterator<Item = (u32, &RuleInfo)> {
        self.rules.iter().map(|(k, v)| (*k, v))
    }
    /// The Kubernetes NetworkPolicies (`ns/name`) that isolate Pod `ip` in `dir`.
    pub fn isolating(&self, ip: Ipv4Addr, dir: Direction) -> &[String] {
        self.isolating
            .get(&(ip, dir))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.isolating.is_empty()
    }
}

/// Which tables a rule lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    /// AntreaPolicyEgressRule / AntreaPolicyIngressRule.
    Antrea,
    /// EgressRule / IngressRule.
    K8s,
    /// EgressDefaultRule / IngressDefaultRule (the Baseline Tier).
    Baseline,
}

/// One address of a clause.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Addr {
    /// `nw_src`/`nw_dst`.
    Net(Ipv4Net),
    /// `reg1` (the target ofport of an ingress packet).
    OfPort(u32),
    /// `toServices`: the Service's groups (reg7), resolved by the compiler.
    Service { namespace: String, name: String },
}

/// One service of a rule's service clause.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ServiceMatch {
    L4 {
        protocol: Protocol,
        /// Destination port range (inclusive); None: any.
        dst: Option<(u16, u16)>,
        src: Option<(u16, u16)>,
    },
    Icmp {
        icmp_type: Option<u8>,
        code: Option<u8>,
    },
}

/// One rule realized on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfRule {
    pub(crate) id: u32,
    pub(crate) direction: Direction,
    pub(crate) layer: Layer,
    /// The priority of its clauses and action (Kubernetes: 200, action 190).
    pub(crate) priority: u16,
    pub(crate) action: RuleAction,
    pub(crate) from: Vec<Addr>,
    pub(crate) to: Vec<Addr>,
    /// Empty: every service.
    pub(crate) services: Vec<ServiceMatch>,
}

/// A node's rules and its isolated Pods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodePolicyRules {
    pub(crate) rules: Vec<OfRule>,
    /// ofports of Pods isolated for ingress by a Kubernetes NetworkPolicy.
    pub(crate) isolated_ingress: Vec<u32>,
    /// IPs of Pods isolated for egress.
    pub(crate) isolated_egress: Vec<Ipv4Addr>,
}

impl NodePolicyRules {
    pub fn rules(&self) -> &[OfRule] {
        &self.rules
    }
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.isolated_ingress.is_empty() && self.isolated_egress.is_empty()
    }
}

const ANY: &str = "0.0.0.0/0";

/// The labels of Namespace `ns`, with the `kubernetes.io/metadata.name`
/// label the API server adds to every Namespace.
fn namespace_labels(cluster: &ClusterState, ns: &str) -> IndexMap<String, String> {
    let mut labels = cluster.namespaces.get(ns).cloned().unwrap_or_default();
    labels.insert("kubernetes.io/metadata.name".into(), ns.into());
    labels
}

/// The Pods a selector pair selects. `home`: the Namespace a lone
/// podSelector means (None: every Namespace).
fn select_pods<'a>(
    cluster: &'a ClusterState,
    pod_selector: Option<&LabelSelector>,
    namespace_selector: Option<&LabelSelector>,
    home: Option<&str>,
) -> Vec<&'a PodState> {
    let mut ns_ok: BTreeMap<&str, bool> = BTreeMap::new();
    cluster
        .pods()
        .filter(|p| {
            let in_ns = match (namespace_selector, home) {
                (Some(sel), _) => *ns_ok
                    .entry(p.namespace.as_str())
                    .or_insert_with(|| sel.matches(&namespace_labels(cluster, &p.namespace))),
                (None, Some(h)) => p.namespace == h,
                (None, None) => true,
            };
            in_ns && pod_selector.is_none_or(|s| s.matches(&p.labels))
        })
        .collect()
}

/// `cidr` less `except` as the fewest CIDRs (`ip.DiffFromCIDRs`).
fn cidr_minus(cidr: Ipv4Net, except: &[Ipv4Net]) -> Vec<Ipv4Net> {
    let mut out = vec![cidr];
    for ex in except {
        let mut next = Vec::new();
        for net in out {
            if !net.contains(&ex.network()) && !ex.contains(&net.network()) {
                next.push(net);
            } else if ex.contains(&net.network()) && ex.prefix_len() <= net.prefix_len() {
                // Wholly excepted.
            } else {
                // Split `net` down to `ex`, keeping the halves that miss it.
                let mut cur = net;
                while cur.prefix_len() < ex.prefix_len() {
                    let Ok(mut halves) = cur.subnets(cur.prefix_len() + 1) else {
                        break;
                    };
                    let (Some(a), Some(b)) = (halves.next(), halves.next()) else {
                        break;
                    };
                    let (keep, go) = if a.contains(&ex.network()) {
                        (b, a)
                    } else {
                        (a, b)
                    };
                    next.push(keep);
                    cur = go;
                }
            }
        }
        out = next;
    }
    out.sort();
    out
}

fn block_nets(b: &IpBlock) -> Vec<Ipv4Net> {
    cidr_minus(b.cidr, &b.except)
}

/// A peer's Pods and addresses, for a policy in `home` (None: cluster-wide).
struct Resolved<'a> {
    pods: Vec<&'a PodState>,
    nets: Vec<Ipv4Net>,
}

fn resolve_peer<'a>(
    cluster: &'a ClusterState,
    store: &PolicyStore,
    peer: &Peer,
    home: Option<&str>,
    depth: u8,
) -> Resolved<'a> {
    let mut r = Resolved {
        pods: Vec::new(),
        nets: Vec::new(),
    };
    if let Some(g) = &peer.group {
        let Some(group) = store.group(home, g) else {
            return r;
        };
        let ghome = if group.cluster_wide { None } else { home };
        if group.pod_selector.is_some() || group.namespace_selector.is_some() {
            r.pods = select_pods(
                cluster,
                group.pod_selector.as_ref(),
                group.namespace_selector.as_ref(),
                ghome,
            );
        }
        for b in &group.ip_blocks {
            r.nets.extend(block_nets(b));
        }
        if depth == 0 {
            for child in &group.child_groups {
                let sub = Peer {
                    group: Some(child.clone()),
                    ..Peer::default()
                };
                let c = resolve_peer(cluster, store, &sub, home, depth + 1);
                r.pods.extend(c.pods);
                r.nets.extend(c.nets);
            }
        }
        return r;
    }
    if let Some(b) = &peer.ip_block {
        r.nets = block_nets(b);
    }
    if let Some(sel) = &peer.node_selector {
        r.nets.extend(
            cluster
                .nodes()
                .filter(|n| sel.matches(&n.labels))
                .map(|n| Ipv4Net::from(n.ip)),
        );
    }
    if peer.pod_selector.is_some() || peer.namespace_selector.is_some() {
        r.pods = select_pods(
            cluster,
            peer.pod_selector.as_ref(),
            peer.namespace_selector.as_ref(),
            home,
        );
    }
    r
}

/// Every peer's addresses (Pods as /32s), sorted and without repeats, and
/// the Pods among them; no peers is every address.
fn peer_addrs<'a>(
    cluster: &'a ClusterState,
    store: &PolicyStore,
    peers: &[Peer],
    home: Option<&str>,
) -> (Vec<Addr>, Vec<&'a PodState>) {
    if peers.is_empty() {
        return (vec![Addr::Net(ANY.parse().expect("valid"))], Vec::new());
    }
    let mut nets = Vec::new();
    let mut pods = Vec::new();
    for p in peers {
        let r = resolve_peer(cluster, store, p, home, 0);
        nets.extend(r.nets);
        nets.extend(r.pods.iter().map(|p| Ipv4Net::from(p.ip)));
        pods.extend(r.pods);
    }
    nets.sort();
    nets.dedup();
    (nets.into_iter().map(Addr::Net).collect(), pods)
}

/// A rule's services; a named port resolves against `owners`' container
/// ports (no owner has it: the service matches nothing and is left out).
fn services(svcs: &[PolicyService], owners: &[&PodState]) -> Option<Vec<ServiceMatch>> {
    let mut out = Vec::new();
    for s in svcs {
        match s {
            PolicyService::Icmp { icmp_type, code } => out.push(ServiceMatch::Icmp {
                icmp_type: *icmp_type,
                code: *code,
            }),
            PolicyService::L4 {
                protocol,
                port,
                end_port,
                source_port,
                source_end_port,
            } => {
                let src = source_port.map(|p| (p, source_end_port.unwrap_or(p)));
                match port {
                    None => out.push(ServiceMatch::L4 {
                        protocol: *protocol,
                        dst: None,
                        src,
                    }),
                    Some(PolicyPortNumber::Number(p)) => out.push(ServiceMatch::L4 {
                        protocol: *protocol,
                        dst: Some((*p, end_port.unwrap_or(*p))),
                        src,
                    }),
                    Some(PolicyPortNumber::Named(name)) => {
                        let mut numbers: Vec<u16> = owners
                            .iter()
                            .flat_map(|p| p.named_ports.iter())
                            .filter(|(n, proto, _)| n == name && proto == protocol)
                            .map(|(_, _, port)| *port)
                            .collect();
                        numbers.sort_unstable();
                        numbers.dedup();
                        out.extend(numbers.into_iter().map(|n| ServiceMatch::L4 {
                            protocol: *protocol,
                            dst: Some((n, n)),
                            src,
                        }));
                    }
                }
            }
        }
    }
    if !svcs.is_empty() && out.is_empty() {
        return None;
    }
    out.sort();
    out.dedup();
    Some(out)
}

/// The name antlab gives a rule: its own, else `ingress-0`, `egress-1`.
fn rule_name(name: Option<&str>, dir: Direction, index: usize) -> String {
    name.map(str::to_string)
        .unwrap_or_else(|| format!("{}-{index}", dir.as_str().to_lowercase()))
}

/// One Antrea-native rule's place in the evaluation order, and its layer.
struct AntreaRuleRef<'a> {
    key: RuleKey,
    policy: &'a crate::k8s::AntreaPolicy,
    rule: &'a crate::k8s::AntreaRule,
    direction: Direction,
    tier_name: String,
    precedence: Precedence,
    layer: Layer,
}

fn antrea_rules(store: &PolicyStore) -> Vec<AntreaRuleRef<'_>> {
    let mut out = Vec::new();
    for p in store.antrea_policies() {
        let tier_name = p
            .tier
            .clone()
            .unwrap_or_else(|| tiers::APPLICATION.to_string());
        let Some(tier) = store.tier_priority(&tier_name) else {
            continue;
        };
        let key = PolicyKey::of_antrea(p);
        for (direction, rules) in [
            (Direction::Ingress, &p.ingress),
            (Direction::Egress, &p.egress),
        ] {
            for (i, rule) in rules.iter().enumerate() {
                out.push(AntreaRuleRef {
                    key: RuleKey {
                        policy: key.clone(),
                        ingress: direction == Direction::Ingress,
                        index: i,
                    },
                    policy: p,
                    rule,
                    direction,
                    tier_name: tier_name.to_ascii_lowercase(),
                    precedence: Precedence {
                        tier,
                        policy: p.priority,
                        rule: i32::try_from(i).unwrap_or(i32::MAX),
                    },
                    layer: if tier == tiers::BASELINE_PRIORITY {
                        Layer::Baseline
                    } else {
                        Layer::Antrea
                    },
                });
            }
        }
    }
    out
}

/// OpenFlow priorities of every Antrea-native rule, by (layer, direction),
/// assigned over the cluster's whole set (so every node numbers alike and
/// the order policies arrived in does not matter).
fn antrea_priorities(rules: &[AntreaRuleRef]) -> BTreeMap<(Layer, Direction, usize), u16> {
    let mut out = BTreeMap::new();
    for layer in [Layer::Antrea, Layer::Baseline] {
        for dir in [Direction::Ingress, Direction::Egress] {
            let mut set: Vec<Precedence> = rules
                .iter()
                .filter(|r| r.layer == layer && r.direction == dir)
                .map(|r| r.precedence)
                .collect();
            set.sort_by(|a, b| a.order(b));
            set.dedup_by(|a, b| a.order(b).is_eq());
            let Some(ofp) = priority::assign(&set, layer == Layer::Baseline) else {
                continue;
            };
            for (i, r) in rules.iter().enumerate() {
                if r.layer == layer && r.direction == dir {
                    let at = set
                        .binary_search_by(|p| p.order(&r.precedence))
                        .expect("every precedence is in the set");
                    out.insert((layer, dir, i), ofp[at]);
                }
            }
        }
    }
    out
}

/// Node `node`'s rules (None when the cluster has no policy).
pub fn node_rules(cluster: &ClusterState, node: NodeId) -> Option<Arc<NodePolicyRules>> {
    let store = &cluster.policies;
    if store.is_empty() {
        return None;
    }
    let local: Vec<(u32, &PodState)> = pods_by_ofport(cluster, node).collect();
    let ofport_of = |p: &PodState| local.iter().find(|(_, q)| q.id == p.id).map(|(o, _)| *o);
    let mut out = NodePolicyRules::default();

    for np in store.k8s_policies() {
        let ns = np.meta.namespace.as_deref().unwrap_or("default");
        let applied: Vec<&PodState> = local
            .iter()
            .map(|(_, p)| *p)
            .filter(|p| p.namespace == ns && np.pod_selector.matches(&p.labels))
            .collect();
        if applied.is_empty() {
            continue;
        }
        let key = PolicyKey::of_k8s(np);
        for dir in &np.policy_types {
            let (rules, ingress) = match dir {
                Direction::Ingress => (&np.ingress, true),
                Direction::Egress => (&np.egress, false),
            };
            for p in &applied {
                match dir {
                    Direction::Ingress => out.isolated_ingress.extend(ofport_of(p)),
                    Direction::Egress => out.isolated_egress.push(p.ip),
                }
            }
            for (i, rule) in rules.iter().enumerate() {
                let Some(id) = store.rule_id(&RuleKey {
                    policy: key.clone(),
                    ingress,
                    index: i,
                }) else {
                    continue;
                };
                let (peers, peer_pods) = peer_addrs(cluster, store, &rule.peers, Some(ns));
                let owners: &[&PodState] = if ingress { &applied } else { &peer_pods };
                let Some(svcs) = services(&rule.ports, owners) else {
                    continue;
                };
                if peers.is_empty() {
                    continue;
                }
                let (from, to) = applied_and_peers(&applied, &ofport_of, peers, *dir);
                out.rules.push(OfRule {
                    id,
                    direction: *dir,
                    layer: Layer::K8s,
                    priority: 200,
                    action: RuleAction::Allow,
                    from,
                    to,
                    services: svcs,
                });
            }
        }
    }

    let arules = antrea_rules(store);
    let prios = antrea_priorities(&arules);
    for (i, r) in arules.iter().enumerate() {
        let Some(id) = store.rule_id(&r.key) else {
            continue;
        };
        let Some(&priority) = prios.get(&(r.layer, r.direction, i)) else {
            continue;
        };
        let home = r.key.policy.namespace.as_deref();
        let targets = if r.rule.applied_to.is_empty() {
            &r.policy.applied_to
        } else {
            &r.rule.applied_to
        };
        let mut applied: Vec<&PodState> = Vec::new();
        for t in targets {
            if t.node_selector.is_some() {
                continue;
            }
            let res = resolve_peer(cluster, store, t, home, 0);
            applied.extend(res.pods.into_iter().filter(|p| p.node == node));
        }
        applied.sort_by_key(|p| p.id);
        applied.dedup_by_key(|p| p.id);
        if applied.is_empty() {
            continue;
        }
        let (mut peers, peer_pods) = if r.rule.to_services.is_empty() {
            peer_addrs(cluster, store, &r.rule.peers, home)
        } else {
            (Vec::new(), Vec::new())
        };
        for (ns, name) in &r.rule.to_services {
            peers.push(Addr::Service {
                namespace: ns.clone(),
                name: name.clone(),
            });
        }
        let owners: &[&PodState] = if r.direction == Direction::Ingress {
            &applied
        } else {
            &peer_pods
        };
        let Some(svcs) = services(&r.rule.services, owners) else {
            continue;
        };
        if peers.is_empty() {
            continue;
        }
        let (from, to) = applied_and_peers(&applied, &ofport_of, peers, r.direction);
        out.rules.push(OfRule {
            id,
            direction: r.direction,
            layer: r.layer,
            priority,
            action: r.rule.action,
            from,
            to,
            services: svcs,
        });
    }
    out.isolated_ingress.sort_unstable();
    out.isolated_ingress.dedup();
    out.isolated_egress.sort_unstable();
    out.isolated_egress.dedup();
    out.rules.sort_by_key(|r| r.id);
    Some(Arc::new(out))
}

/// (from, to) of a rule: ingress is peers → local ofports, egress local
/// Pod IPs → peers.
fn applied_and_peers(
    applied: &[&PodState],
    ofport_of: &impl Fn(&PodState) -> Option<u32>,
    peers: Vec<Addr>,
    dir: Direction,
) -> (Vec<Addr>, Vec<Addr>) {
    match dir {
        Direction::Ingress => {
            let mut ports: Vec<Addr> = applied
                .iter()
                .filter_map(|p| ofport_of(p))
                .map(Addr::OfPort)
                .collect();
            ports.sort();
            (peers, ports)
        }
        Direction::Egress => {
            let mut ips: Vec<Addr> = applied
                .iter()
                .map(|p| Addr::Net(Ipv4Net::from(p.ip)))
                .collect();
            ips.sort();
            ips.dedup();
            (ips, peers)
        }
    }
}

/// The cluster's catalog: every rule by id, and which Kubernetes
/// NetworkPolicies isolate each Pod.
pub fn catalog(cluster: &ClusterState) -> PolicyCatalog {
    let store = &cluster.policies;
    let mut cat = PolicyCatalog::default();
    for np in store.k8s_policies() {
        let ns = np.meta.namespace.as_deref().unwrap_or("default");
        let key = PolicyKey::of_k8s(np);
        for (dir, rules) in [
            (Direction::Ingress, &np.ingress),
            (Direction::Egress, &np.egress),
        ] {
            for i in 0..rules.len() {
                let rk = RuleKey {
                    policy: key.clone(),
                    ingress: dir == Direction::Ingress,
                    index: i,
                };
                if let Some(id) = store.rule_id(&rk) {
                    cat.rules.insert(
                        id,
                        RuleInfo {
                            kind: PolicyKind::K8s,
                            namespace: Some(ns.to_string()),
                            policy: np.meta.name.clone(),
                            rule: rule_name(None, dir, i),
                            tier: None,
                            action: RuleAction::Allow,
                            direction: dir,
                        },
                    );
                }
            }
        }
        for p in cluster.pods() {
            if p.namespace == ns && np.pod_selector.matches(&p.labels) {
                for dir in &np.policy_types {
                    cat.isolating
                        .entry((p.ip, *dir))
                        .or_default()
                        .push(key.display());
                }
            }
        }
    }
    for r in antrea_rules(store) {
        if let Some(id) = store.rule_id(&r.key) {
            cat.rules.insert(
                id,
                RuleInfo {
                    kind: r.key.policy.kind,
                    namespace: r.key.policy.namespace.clone(),
                    policy: r.key.policy.name.clone(),
                    rule: rule_name(r.rule.name.as_deref(), r.direction, r.key.index),
                    tier: Some(r.tier_name.clone()),
                    action: r.rule.action,
                    direction: r.direction,
                },
            );
        }
    }
    cat
}

/// The nodes a policy spans: those with a Pod it applies to (Antrea's
/// `desiredNodesRealized` counts them).
pub fn span(cluster: &ClusterState, key: &PolicyKey) -> Vec<NodeId> {
    let store = &cluster.policies;
    let mut nodes: Vec<NodeId> = Vec::new();
    match key.kind {
        PolicyKind::K8s => {
            let ns = key.namespace.as_deref().unwrap_or("default");
            if let Some(np) = store.k8s_policies().find(|p| {
                p.meta.name == key.name && p.meta.namespace.as_deref().unwrap_or("default") == ns
            }) {
                nodes.extend(
                    cluster
                        .pods()
                        .filter(|p| p.namespace == ns && np.pod_selector.matches(&p.labels))
                        .map(|p| p.node),
                );
            }
        }
        PolicyKind::Anp | PolicyKind::Acnp => {
            for r in antrea_rules(store).iter().filter(|r| &r.key.policy == key) {
                let targets = if r.rule.applied_to.is_empty() {
                    &r.policy.applied_to
                } else {
                    &r.rule.applied_to
                };
                for t in targets {
                    if let Some(sel) = &t.node_selector {
                        nodes.extend(
                            cluster
                                .nodes()
                                .filter(|n| sel.matches(&n.labels))
                                .map(|n| n.id),
                        );
                        continue;
                    }
                    let res = resolve_peer(cluster, store, t, key.namespace.as_deref(), 0);
                    nodes.extend(res.pods.iter().map(|p| p.node));
                }
            }
        }
    }
    nodes.sort();
    nodes.dedup();
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().expect("valid")
    }

    #[test]
    fn except_cidrs_are_cut_out_as_the_fewest_cidrs() {
        let got = cidr_minus(net("10.0.0.0/24"), &[net("10.0.0.0/26")]);
        assert_eq!(got, vec![net("10.0.0.64/26"), net("10.0.0.128/25")]);
        let got = cidr_minus(
            net("0.0.0.0/0"),
            &[net("192.168.0.0/16"), net("10.0.0.0/8")],
        );
        // Every address but the two excepts is covered exactly once.
        let covered: u64 = got.iter().map(|n| 1u64 << (32 - n.prefix_len())).sum();
        assert_eq!(covered, (1u64 << 32) - (1 << 16) - (1 << 24));
        assert!(
            !got.iter()
                .any(|n| n.contains(&"10.1.2.3".parse::<Ipv4Addr>().unwrap()))
        );
        assert!(
            got.iter()
                .any(|n| n.contains(&"11.0.0.1".parse::<Ipv4Addr>().unwrap()))
        );
    }
}
