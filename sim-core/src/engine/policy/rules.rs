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

use super::index::PolicyIndex;
use super::priority::{self, Precedence};
use super::tiers;
use super::{PolicyKey, PolicyStore, RuleKey};
use crate::engine::{ClusterState, NodeId, PodState};
use crate::k8s::{Direction, PolicyPortNumber, PolicyService, Protocol, RuleAction};

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
    /// `logLabel` as written (audit log lines end with it, `<nil>` without).
    pub log_label: Option<String>,
    /// The OpenFlow priority of its action flow (Kubernetes rules: 190).
    pub of_priority: u16,
}

impl RuleInfo {
    /// `NetworkPolicyReference.ToString()`: `Type:namespace/name` or
    /// `Type:name` (Traceflow's and the audit log's policy field).
    pub fn reference(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}:{ns}/{}", self.kind.name(), self.policy),
            None => format!("{}:{}", self.kind.name(), self.policy),
        }
    }

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
    /// `enableLogging`: the first packet of each connection it judges goes
    /// to the agent, which writes it to the audit log.
    pub(crate) logging: bool,
}

/// A node's rules and its isolated Pods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodePolicyRules {
    pub(crate) rules: Vec<OfRule>,
    /// ofports of Pods isolated for ingress by a Kubernetes NetworkPolicy.
    pub(crate) isolated_ingress: Vec<u32>,
    /// IPs of Pods isolated for egress.
    pub(crate) isolated_egress: Vec<Ipv4Addr>,
    /// Those of them whose Namespace asks for audit logging: their default
    /// drops go to the agent.
    pub(crate) logged_isolated_ingress: Vec<u32>,
    pub(crate) logged_isolated_egress: Vec<Ipv4Addr>,
}

impl OfRule {
    /// The flows this rule would take without conjunctive matches: one per
    /// (from, to, service) combination.
    pub fn cross_product_flows(&self) -> u64 {
        (self.from.len() as u64) * (self.to.len() as u64) * (self.services.len().max(1) as u64)
    }
}

impl NodePolicyRules {
    pub fn rules(&self) -> &[OfRule] {
        &self.rules
    }
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.isolated_ingress.is_empty() && self.isolated_egress.is_empty()
    }
}

/// The labels of Namespace `ns`, with the `kubernetes.io/metadata.name`
/// label the API server adds to every Namespace.
pub(super) fn namespace_labels(cluster: &ClusterState, ns: &str) -> IndexMap<String, String> {
    let mut labels = cluster.namespaces.get(ns).cloned().unwrap_or_default();
    labels.insert("kubernetes.io/metadata.name".into(), ns.into());
    labels
}

/// `cidr` less `except` as the fewest CIDRs (`ip.DiffFromCIDRs`).
pub(super) fn cidr_minus(cidr: Ipv4Net, except: &[Ipv4Net]) -> Vec<Ipv4Net> {
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

/// A rule's services; a named port resolves against `owners`' container
/// ports (no owner has it: the service matches nothing and is left out).
pub(super) fn services(svcs: &[PolicyService], owners: &[&PodState]) -> Option<Vec<ServiceMatch>> {
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
pub(super) struct AntreaRuleRef<'a> {
    pub(super) key: RuleKey,
    pub(super) policy: &'a crate::k8s::AntreaPolicy,
    pub(super) rule: &'a crate::k8s::AntreaRule,
    pub(super) direction: Direction,
    pub(super) tier_name: String,
    pub(super) precedence: Precedence,
    pub(super) layer: Layer,
}

impl AntreaRuleRef<'_> {
    /// The rule's name as antlab gives it ([`rule_name`]).
    pub(super) fn rule_name(&self) -> String {
        rule_name(self.rule.name.as_deref(), self.direction, self.key.index)
    }
}

pub(super) fn antrea_rules(store: &PolicyStore) -> Vec<AntreaRuleRef<'_>> {
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
pub(super) fn antrea_priorities(
    rules: &[AntreaRuleRef],
) -> BTreeMap<(Layer, Direction, usize), u16> {
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

/// Node `node`'s rules (None when the cluster has no policy), from an
/// index built for this call ([`PolicyIndex`]; the runner builds one per
/// sync and reads every node's rules out of it).
pub fn node_rules(cluster: &ClusterState, node: NodeId) -> Option<Arc<NodePolicyRules>> {
    if cluster.policies.is_empty() {
        return None;
    }
    PolicyIndex::build(cluster).node_rules(cluster, node)
}

/// (from, to) of a rule: ingress is peers → local ofports, egress local
/// Pod IPs → peers.
pub(super) fn applied_and_peers(
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
                            log_label: None,
                            of_priority: 190,
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
    let arules = antrea_rules(store);
    let prios = antrea_priorities(&arules);
    for (i, r) in arules.iter().enumerate() {
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
                    log_label: r.rule.log_label.clone(),
                    of_priority: prios.get(&(r.layer, r.direction, i)).copied().unwrap_or(0),
                },
            );
        }
    }
    cat
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
