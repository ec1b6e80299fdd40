//! Network policies as written: Kubernetes NetworkPolicy
//! (`networking.k8s.io/v1`), Antrea's ClusterNetworkPolicy and NetworkPolicy,
//! Tier, ClusterGroup and Group (`crd.antrea.io/v1beta1`).
//!
//! Fields antlab does not know are refused at their line and column (the
//! raw shapes deny unknown fields, as the API server's strict decoding and
//! the CRD schemas do). What Antrea's validating webhook refuses
//! (pkg/controller/networkpolicy/validate.go) is refused here in its words
//! when it concerns one object alone; what needs other objects (does the
//! Tier exist, is a Tier priority taken) is the engine's admission
//! (`engine::policy`).
//!
//! Not modelled, and refused with a message that says so: egress to FQDNs,
//! serviceAccount peers, L7 protocols, IGMP and multicast, and rules applied
//! to Services (`appliedTo.service`).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde_saphyr::{Location, Spanned};

use super::builtin::{RawIntOrString, protocol};
use super::selector::RawLabelSelector;
use super::{Ctx, LabelSelector, ObjectMeta, Origin, Protocol};
use crate::input::InputError;

/// Which way a rule looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "Ingress",
            Direction::Egress => "Egress",
        }
    }
}

/// A port as a policy names it: a number or a container port's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyPortNumber {
    Number(u16),
    Named(String),
}

/// One `ports` (or Antrea `protocols`) entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyService {
    /// TCP/UDP/SCTP, a destination port or range (none: every port), and
    /// Antrea's source port range.
    L4 {
        protocol: Protocol,
        port: Option<PolicyPortNumber>,
        end_port: Option<u16>,
        source_port: Option<u16>,
        source_end_port: Option<u16>,
    },
    /// Antrea's `protocols: [{icmp: {icmpType, icmpCode}}]`.
    Icmp {
        icmp_type: Option<u8>,
        code: Option<u8>,
    },
}

/// `ipBlock`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpBlock {
    pub cidr: Ipv4Net,
    pub except: Vec<Ipv4Net>,
}

/// A peer or an appliedTo entry. Kubernetes peers use the selectors and the
/// ipBlock; Antrea's add groups and nodes (`namespaces: {match: Self}` is
/// refused as not modelled).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Peer {
    pub pod_selector: Option<LabelSelector>,
    pub namespace_selector: Option<LabelSelector>,
    pub ip_block: Option<IpBlock>,
    /// A ClusterGroup (ACNP) or Group (ANP) by name.
    pub group: Option<String>,
    /// `nodeSelector`: the matching nodes' IPs (as peers) or the nodes
    /// themselves (appliedTo of a NodeNetworkPolicy).
    pub node_selector: Option<LabelSelector>,
    /// `externalEntitySelector`: ExternalEntities (an external Node's
    /// interface), in the policy's Namespace or, with a namespaceSelector
    /// (or in a ClusterNetworkPolicy), in the matching Namespaces.
    pub external_entity_selector: Option<LabelSelector>,
}

/// One Kubernetes NetworkPolicy rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct K8sRule {
    /// `from`/`to`: none (absent or empty) allows every peer.
    pub peers: Vec<Peer>,
    /// None (absent or empty) allows every port.
    pub ports: Vec<PolicyService>,
    pub origin: Origin,
}

/// A `networking.k8s.io/v1` NetworkPolicy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkPolicy {
    pub meta: ObjectMeta,
    pub pod_selector: LabelSelector,
    /// Isolated directions (`policyTypes`, or its default: Ingress, plus
    /// Egress when egress rules are given).
    pub policy_types: Vec<Direction>,
    pub ingress: Vec<K8sRule>,
    pub egress: Vec<K8sRule>,
}

/// An Antrea-native rule action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleAction {
    Allow,
    Drop,
    Reject,
    Pass,
}

impl RuleAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleAction::Allow => "Allow",
            RuleAction::Drop => "Drop",
            RuleAction::Reject => "Reject",
            RuleAction::Pass => "Pass",
        }
    }
}

/// One Antrea-native rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AntreaRule {
    /// As written; Antrea names an unnamed rule after its content, antlab
    /// after its direction and index (`ingress-0`).
    pub name: Option<String>,
    pub action: RuleAction,
    /// `from`/`to`: none selects every peer.
    pub peers: Vec<Peer>,
    pub services: Vec<PolicyService>,
    /// Rule-level appliedTo (the policy has none then).
    pub applied_to: Vec<Peer>,
    /// `toServices`: Services by (namespace, name).
    pub to_services: Vec<(String, String)>,
    pub enable_logging: bool,
    /// `logLabel`: added to the audit log line (NodeNetworkPolicy: to the
    /// kernel log prefix, cut to 12 characters).
    pub log_label: Option<String>,
    pub origin: Origin,
}

/// Antrea's ClusterNetworkPolicy (`cluster_wide`) or NetworkPolicy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AntreaPolicy {
    pub meta: ObjectMeta,
    pub cluster_wide: bool,
    /// `spec.tier` as written (None: Application).
    pub tier: Option<String>,
    pub priority: PolicyPriority,
    pub applied_to: Vec<Peer>,
    pub ingress: Vec<AntreaRule>,
    pub egress: Vec<AntreaRule>,
}

impl AntreaPolicy {
    /// ACNP or ANP, as antctl and the flow records abbreviate them.
    pub fn short_kind(&self) -> &'static str {
        if self.cluster_wide { "acnp" } else { "anp" }
    }
    /// The policy-level appliedTo selects only nodes: a NodeNetworkPolicy.
    pub fn applies_to_nodes(&self) -> bool {
        let only_nodes = |v: &[Peer]| !v.is_empty() && v.iter().all(|p| p.node_selector.is_some());
        self.cluster_wide
            && (only_nodes(&self.applied_to)
                || self
                    .ingress
                    .iter()
                    .chain(&self.egress)
                    .any(|r| only_nodes(&r.applied_to)))
    }
}

/// `spec.priority` of an Antrea-native policy (1..=10000, fractions
/// allowed): compared by value, equal when the bits are.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct PolicyPriority(pub f64);

impl Eq for PolicyPriority {}

/// A Tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tier {
    pub meta: ObjectMeta,
    pub priority: i32,
    pub description: Option<String>,
}

/// A ClusterGroup (`cluster_wide`) or Group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub meta: ObjectMeta,
    pub cluster_wide: bool,
    pub pod_selector: Option<LabelSelector>,
    pub namespace_selector: Option<LabelSelector>,
    pub ip_blocks: Vec<IpBlock>,
    pub child_groups: Vec<String>,
}

// ---- raw YAML shapes -------------------------------------------------------------

#[derive(Debug, serde::Deserialize)]
struct RawDoc<S> {
    spec: Option<Spanned<S>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawK8sSpec {
    pod_selector: Option<Spanned<RawLabelSelector>>,
    policy_types: Option<Vec<Spanned<String>>>,
    ingress: Option<Vec<Spanned<RawK8sIngress>>>,
    egress: Option<Vec<Spanned<RawK8sEgress>>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawK8sIngress {
    from: Option<Vec<Spanned<RawPeer>>>,
    ports: Option<Vec<Spanned<RawPort>>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawK8sEgress {
    to: Option<Vec<Spanned<RawPeer>>>,
    ports: Option<Vec<Spanned<RawPort>>>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPeer {
    pod_selector: Option<Spanned<RawLabelSelector>>,
    namespace_selector: Option<Spanned<RawLabelSelector>>,
    ip_block: Option<Spanned<RawIpBlock>>,
    // Antrea's.
    namespaces: Option<Spanned<RawNamespaces>>,
    group: Option<Spanned<String>>,
    node_selector: Option<Spanned<RawLabelSelector>>,
    service_account: Option<Spanned<serde::de::IgnoredAny>>,
    fqdn: Option<Spanned<String>>,
    external_entity_selector: Option<Spanned<RawLabelSelector>>,
    service: Option<Spanned<serde::de::IgnoredAny>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawNamespaces {
    #[serde(rename = "match")]
    match_: Option<Spanned<String>>,
    same_labels: Option<Vec<String>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIpBlock {
    cidr: Option<Spanned<String>>,
    except: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPort {
    protocol: Option<Spanned<String>>,
    port: Option<Spanned<RawIntOrString>>,
    end_port: Option<Spanned<i64>>,
    source_port: Option<Spanned<i64>>,
    source_end_port: Option<Spanned<i64>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawProtocol {
    icmp: Option<RawIcmp>,
    igmp: Option<Spanned<serde::de::IgnoredAny>>,
    ether_type: Option<Spanned<serde::de::IgnoredAny>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawIcmp {
    icmp_type: Option<Spanned<i64>>,
    icmp_code: Option<Spanned<i64>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawAntreaSpec {
    tier: Option<String>,
    priority: Option<Spanned<f64>>,
    applied_to: Option<Vec<Spanned<RawPeer>>>,
    ingress: Option<Vec<Spanned<RawAntreaRule>>>,
    egress: Option<Vec<Spanned<RawAntreaRule>>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawAntreaRule {
    name: Option<String>,
    action: Option<Spanned<String>>,
    from: Option<Vec<Spanned<RawPeer>>>,
    to: Option<Vec<Spanned<RawPeer>>>,
    ports: Option<Vec<Spanned<RawPort>>>,
    protocols: Option<Vec<Spanned<RawProtocol>>>,
    applied_to: Option<Vec<Spanned<RawPeer>>>,
    to_services: Option<Vec<Spanned<RawServiceRef>>>,
    enable_logging: Option<bool>,
    log_label: Option<String>,
    l7_protocols: Option<Spanned<serde::de::IgnoredAny>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServiceRef {
    name: String,
    namespace: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTierSpec {
    priority: Option<Spanned<i64>>,
    description: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawGroupSpec {
    pod_selector: Option<Spanned<RawLabelSelector>>,
    namespace_selector: Option<Spanned<RawLabelSelector>>,
    ip_blocks: Option<Vec<Spanned<RawIpBlock>>>,
    ip_block: Option<Spanned<RawIpBlock>>,
    child_groups: Option<Vec<String>>,
    service_reference: Option<Spanned<serde::de::IgnoredAny>>,
    external_entity_selector: Option<Spanned<RawLabelSelector>>,
}

// ---- conversion ------------------------------------------------------------------

fn spanned<T>(value: T, at: Location) -> Spanned<T> {
    Spanned {
        value,
        referenced: at,
        defined: at,
    }
}

fn cidr(ctx: &Ctx<'_>, v: &Spanned<String>, what: &str) -> Result<Ipv4Net, InputError> {
    let s = v.value.as_str();
    match s.parse::<Ipv4Net>() {
        Ok(n) => Ok(n.trunc()),
        // Go's net.ParseCIDR (Kubernetes and validateIPBlock) wants a prefix.
        Err(_) if s.parse::<Ipv4Addr>().is_ok() => Err(ctx.error(
            v,
            format!("invalid CIDR address: {s} (write {s}/32 for one address)"),
        )),
        Err(_) if s.contains(':') => Err(ctx.error(
            v,
            format!("{what} {s:?} is IPv6; antlab models IPv4 networks only"),
        )),
        Err(_) => Err(ctx.error(v, format!("invalid CIDR address: {s}"))),
    }
}

fn ip_block(ctx: &Ctx<'_>, raw: Spanned<RawIpBlock>) -> Result<IpBlock, InputError> {
    let at = raw.referenced;
    let raw = raw.value;
    let c = raw
        .cidr
        .ok_or_else(|| ctx.error_at(&at, "field 'cidr' is required in an ipBlock"))?;
    let net = cidr(ctx, &c, "ipBlock.cidr")?;
    let mut except = Vec::new();
    for e in raw.except.unwrap_or_default() {
        let ex = cidr(ctx, &e, "ipBlock.except")
            .map_err(|_| ctx.error(&e, format!("invalid except CIDR value: {}", e.value)))?;
        // validate.go: a strict subset of the CIDR.
        if !(net.contains(&ex.network()) && ex.prefix_len() > net.prefix_len()) {
            return Err(ctx.error(
                &e,
                format!(
                    "except CIDR {} is not a strict subset of CIDR {}",
                    e.value, c.value
                ),
            ));
        }
        except.push(ex);
    }
    Ok(IpBlock { cidr: net, except })
}

fn selector(
    ctx: &Ctx<'_>,
    raw: Option<Spanned<RawLabelSelector>>,
    what: &str,
) -> Result<Option<LabelSelector>, InputError> {
    raw.map(|s| ctx.selector(s, what)).transpose()
}

/// Refuses what antlab does not model, at its position.
fn not_modelled<T>(ctx: &Ctx<'_>, v: &Option<Spanned<T>>, what: &str) -> Result<(), InputError> {
    match v {
        Some(v) => Err(ctx.error(v, format!("{what} is not modelled by antlab"))),
        None => Ok(()),
    }
}

fn peer(ctx: &Ctx<'_>, raw: Spanned<RawPeer>, antrea: bool) -> Result<Peer, InputError> {
    let at = raw.referenced;
    let r = raw.value;
    not_modelled(ctx, &r.fqdn, "egress to an FQDN (`fqdn`)")?;
    not_modelled(ctx, &r.service_account, "a `serviceAccount` peer")?;
    not_modelled(ctx, &r.service, "a policy applied to a Service (`service`)")?;
    if !antrea {
        for (set, name) in [
            (r.namespaces.is_some(), "namespaces"),
            (r.group.is_some(), "group"),
            (r.node_selector.is_some(), "nodeSelector"),
            (
                r.external_entity_selector.is_some(),
                "externalEntitySelector",
            ),
        ] {
            if set {
                return Err(ctx.error_at(
                    &at,
                    format!("strict decoding error: unknown field \"{name}\""),
                ));
            }
        }
    }
    if let Some(ns) = &r.namespaces {
        if r.namespace_selector.is_some() {
            return Err(ctx.error(
                ns,
                "namespaces and namespaceSelector cannot be set at the same time for a single NetworkPolicyPeer",
            ));
        }
        match (&ns.value.match_, &ns.value.same_labels) {
            (Some(m), None) if m.value == "Self" => {
                return Err(ctx.error(m, "`namespaces: {match: Self}` is not modelled by antlab"));
            }
            (Some(m), None) => {
                return Err(ctx.error(
                    m,
                    format!("namespaces.match must be \"Self\", got {:?}", m.value),
                ));
            }
            (None, Some(_)) => {
                return Err(ctx.error(ns, "namespaces.sameLabels is not modelled by antlab"));
            }
            _ => {
                return Err(ctx.error(
                    ns,
                    "only one matching criteria can be specified in a single peer namespaces field",
                ));
            }
        }
    }
    // An externalEntitySelector counts as another peer for group and
    // nodeSelector (validate.go); with a podSelector, grouping uses the
    // entity selector and ignores the podSelector, as Antrea's does.
    let others = r.pod_selector.is_some()
        || r.namespace_selector.is_some()
        || r.ip_block.is_some()
        || r.external_entity_selector.is_some();
    if let Some(g) = &r.group
        && (others || r.node_selector.is_some())
    {
        return Err(ctx.error(g, "group cannot be set with other peers in rules"));
    }
    if let Some(n) = &r.node_selector
        && others
    {
        return Err(ctx.error(n, "nodeSelector cannot be set with other peers in rules"));
    }
    if let Some(b) = &r.ip_block
        && (r.pod_selector.is_some() || r.namespace_selector.is_some())
    {
        return Err(ctx.error(
            b,
            "ipBlock cannot be set with podSelector or namespaceSelector in one peer",
        ));
    }
    if !others && r.group.is_none() && r.node_selector.is_none() {
        return Err(ctx.error_at(
            &at,
            "a peer needs podSelector, namespaceSelector, externalEntitySelector, ipBlock, group or nodeSelector",
        ));
    }
    Ok(Peer {
        pod_selector: selector(ctx, r.pod_selector, "podSelector")?,
        namespace_selector: selector(ctx, r.namespace_selector, "namespaceSelector")?,
        ip_block: r.ip_block.map(|b| ip_block(ctx, b)).transpose()?,
        group: r.group.map(|g| g.value),
        node_selector: selector(ctx, r.node_selector, "nodeSelector")?,
        external_entity_selector: selector(
            ctx,
            r.external_entity_selector,
            "externalEntitySelector",
        )?,
    })
}

fn peers(
    ctx: &Ctx<'_>,
    raw: Option<Vec<Spanned<RawPeer>>>,
    antrea: bool,
) -> Result<Vec<Peer>, InputError> {
    raw.unwrap_or_default()
        .into_iter()
        .map(|p| peer(ctx, p, antrea))
        .collect()
}

fn port_number(ctx: &Ctx<'_>, v: &Spanned<i64>, what: &str) -> Result<u16, InputError> {
    ctx.port(v, what)
}

fn port(ctx: &Ctx<'_>, raw: Spanned<RawPort>) -> Result<PolicyService, InputError> {
    let at = raw.referenced;
    let r = raw.value;
    let proto = protocol(ctx, &r.protocol)?;
    let port = match &r.port {
        None => None,
        Some(p) => Some(match &p.value {
            RawIntOrString::Int(n) => {
                PolicyPortNumber::Number(port_number(ctx, &spanned(*n, p.referenced), "port")?)
            }
            RawIntOrString::Str(s) => match s.parse::<i64>() {
                Ok(n) => {
                    PolicyPortNumber::Number(port_number(ctx, &spanned(n, p.referenced), "port")?)
                }
                Err(_) => PolicyPortNumber::Named(s.clone()),
            },
        }),
    };
    let end_port = r
        .end_port
        .as_ref()
        .map(|e| port_number(ctx, e, "endPort"))
        .transpose()?;
    // validate.go's messages.
    if let (Some(e), Some(endv)) = (&r.end_port, end_port) {
        match &port {
            None => {
                return Err(ctx.error(e, "if `endPort` is specified `port` must be specified"));
            }
            Some(PolicyPortNumber::Named(_)) => {
                return Err(ctx.error(e, "if `port` is a string `endPort` cannot be specified"));
            }
            Some(PolicyPortNumber::Number(p)) if endv < *p => {
                return Err(ctx.error(e, "`endPort` should be greater than or equal to `port`"));
            }
            _ => {}
        }
    }
    let source_port = r
        .source_port
        .as_ref()
        .map(|e| port_number(ctx, e, "sourcePort"))
        .transpose()?;
    let source_end_port = r
        .source_end_port
        .as_ref()
        .map(|e| port_number(ctx, e, "sourceEndPort"))
        .transpose()?;
    if let (Some(e), Some(endv)) = (&r.source_end_port, source_end_port) {
        match source_port {
            None => {
                return Err(ctx.error(
                    e,
                    "if `sourceEndPort` is specified `sourcePort` must be specified",
                ));
            }
            Some(p) if endv < p => {
                return Err(ctx.error(
                    e,
                    "`sourceEndPort` should be greater than or equal to `sourcePort`",
                ));
            }
            _ => {}
        }
    }
    let _ = at;
    Ok(PolicyService::L4 {
        protocol: proto,
        port,
        end_port,
        source_port,
        source_end_port,
    })
}

fn ports(
    ctx: &Ctx<'_>,
    raw: Option<Vec<Spanned<RawPort>>>,
) -> Result<Vec<PolicyService>, InputError> {
    raw.unwrap_or_default()
        .into_iter()
        .map(|p| port(ctx, p))
        .collect()
}

fn icmp_field(
    ctx: &Ctx<'_>,
    v: &Option<Spanned<i64>>,
    what: &str,
) -> Result<Option<u8>, InputError> {
    match v {
        None => Ok(None),
        Some(n) => u8::try_from(n.value).map(Some).map_err(|_| {
            ctx.error(
                n,
                format!("{what} must be between 0 and 255, got {}", n.value),
            )
        }),
    }
}

pub(super) fn parse_network_policy(
    ctx: &Ctx<'_>,
    doc: &str,
    doc_at: &Location,
    meta: ObjectMeta,
) -> Result<NetworkPolicy, InputError> {
    let raw: RawDoc<RawK8sSpec> = ctx.reparse(doc)?;
    let spec = raw
        .spec
        .ok_or_else(|| ctx.error_at(doc_at, "NetworkPolicy needs spec.podSelector"))?;
    let spec_at = spec.referenced;
    let s = spec.value;
    let pod_selector = match s.pod_selector {
        Some(p) => ctx.selector(p, "podSelector")?,
        None => {
            return Err(ctx.error_at(
                &spec_at,
                "spec.podSelector: Required value (use {} to select every Pod of the Namespace)",
            ));
        }
    };
    let rule = |at: Location, peers_raw, ports_raw| -> Result<K8sRule, InputError> {
        Ok(K8sRule {
            peers: peers(ctx, peers_raw, false)?,
            ports: ports(ctx, ports_raw)?,
            origin: ctx.origin(&at),
        })
    };
    let ingress = s
        .ingress
        .unwrap_or_default()
        .into_iter()
        .map(|r| rule(r.referenced, r.value.from, r.value.ports))
        .collect::<Result<Vec<_>, _>>()?;
    let has_egress = s.egress.as_ref().is_some_and(|e| !e.is_empty());
    let egress = s
        .egress
        .unwrap_or_default()
        .into_iter()
        .map(|r| rule(r.referenced, r.value.to, r.value.ports))
        .collect::<Result<Vec<_>, _>>()?;
    let policy_types = match s.policy_types.filter(|t| !t.is_empty()) {
        Some(types) => {
            let mut out = Vec::new();
            for t in types {
                let d = match t.value.as_str() {
                    "Ingress" => Direction::Ingress,
                    "Egress" => Direction::Egress,
                    other => {
                        return Err(ctx.error(
                            &t,
                            format!(
                                "spec.policyTypes: Unsupported value: {other:?}: supported values: \"Ingress\", \"Egress\""
                            ),
                        ));
                    }
                };
                if !out.contains(&d) {
                    out.push(d);
                }
            }
            out
        }
        // The API server's default, for an absent or empty list
        // (networking/v1 defaults.go, SetDefaults_NetworkPolicySpec).
        None if has_egress => vec![Direction::Ingress, Direction::Egress],
        None => vec![Direction::Ingress],
    };
    Ok(NetworkPolicy {
        meta,
        pod_selector,
        policy_types,
        ingress,
        egress,
    })
}

fn action(
    ctx: &Ctx<'_>,
    raw: &Option<Spanned<String>>,
    at: &Location,
) -> Result<RuleAction, InputError> {
    let Some(a) = raw else {
        return Err(ctx.error_at(at, "rule action is required (Allow, Drop, Reject or Pass)"));
    };
    match a.value.as_str() {
        "Allow" => Ok(RuleAction::Allow),
        "Drop" => Ok(RuleAction::Drop),
        "Reject" => Ok(RuleAction::Reject),
        "Pass" => Ok(RuleAction::Pass),
        other => Err(ctx.error(
            a,
            format!("action: Unsupported value: {other:?}: supported values: \"Allow\", \"Drop\", \"Reject\", \"Pass\""),
        )),
    }
}

fn antrea_rule(
    ctx: &Ctx<'_>,
    raw: Spanned<RawAntreaRule>,
    dir: Direction,
    namespace: Option<&str>,
) -> Result<AntreaRule, InputError> {
    let at = raw.referenced;
    let r = raw.value;
    not_modelled(ctx, &r.l7_protocols, "`l7Protocols` (L7NetworkPolicy)")?;
    let (peers_raw, wrong) = match dir {
        Direction::Ingress => (r.from, r.to.map(|_| "to")),
        Direction::Egress => (r.to, r.from.map(|_| "from")),
    };
    if let Some(w) = wrong {
        return Err(ctx.error_at(
            &at,
            format!(
                "strict decoding error: unknown field \"{w}\" in an {} rule",
                dir.as_str().to_lowercase()
            ),
        ));
    }
    let mut to_services: Vec<(String, String)> = Vec::new();
    for s in r.to_services.unwrap_or_default() {
        // The ClusterNetworkPolicy CRD requires both; an Antrea
        // NetworkPolicy's Service is in its own Namespace.
        let ns = match (s.value.namespace.clone(), namespace) {
            (Some(ns), _) => ns,
            (None, Some(own)) => own.to_string(),
            (None, None) => {
                return Err(ctx.error(
                    &s,
                    "toServices[].namespace: Required value (a ClusterNetworkPolicy names the Service's Namespace)",
                ));
            }
        };
        to_services.push((ns, s.value.name.clone()));
    }
    if !to_services.is_empty()
        && (peers_raw.is_some() || r.ports.is_some() || r.protocols.is_some())
    {
        return Err(ctx.error_at(
            &at,
            "`toServices` cannot be used with `to`, `ports` or `protocols`",
        ));
    }
    if !to_services.is_empty() && dir == Direction::Ingress {
        return Err(ctx.error_at(
            &at,
            "strict decoding error: unknown field \"toServices\" in an ingress rule",
        ));
    }
    let mut services = ports(ctx, r.ports)?;
    for p in r.protocols.unwrap_or_default() {
        not_modelled(ctx, &p.value.igmp, "protocol IGMP")?;
        not_modelled(ctx, &p.value.ether_type, "`etherType`")?;
        if let Some(icmp) = p.value.icmp {
            services.push(PolicyService::Icmp {
                icmp_type: icmp_field(ctx, &icmp.icmp_type, "icmpType")?,
                code: icmp_field(ctx, &icmp.icmp_code, "icmpCode")?,
            });
        }
    }
    Ok(AntreaRule {
        name: r.name.filter(|n| !n.is_empty()),
        action: action(ctx, &r.action, &at)?,
        peers: peers(ctx, peers_raw, true)?,
        services,
        applied_to: peers(ctx, r.applied_to, true)?,
        to_services,
        enable_logging: r.enable_logging.unwrap_or(false),
        log_label: r.log_label.filter(|l| !l.is_empty()),
        origin: ctx.origin(&at),
    })
}

pub(super) fn parse_antrea_policy(
    ctx: &Ctx<'_>,
    doc: &str,
    doc_at: &Location,
    meta: ObjectMeta,
    cluster_wide: bool,
) -> Result<AntreaPolicy, InputError> {
    let raw: RawDoc<RawAntreaSpec> = ctx.reparse(doc)?;
    let kind = if cluster_wide {
        "ClusterNetworkPolicy"
    } else {
        "NetworkPolicy"
    };
    let spec = raw
        .spec
        .ok_or_else(|| ctx.error_at(doc_at, format!("{kind} needs spec.priority")))?;
    let spec_at = spec.referenced;
    let s = spec.value;
    let priority = s
        .priority
        .ok_or_else(|| ctx.error_at(&spec_at, format!("{kind} needs spec.priority")))?;
    // The CRD schema: 1.0 ≤ priority ≤ 10000.
    if !(1.0..=10000.0).contains(&priority.value) {
        return Err(ctx.error(
            &priority,
            format!(
                "spec.priority: Invalid value: {}: spec.priority in body should be between 1 and 10000",
                priority.value
            ),
        ));
    }
    let ns = if cluster_wide {
        None
    } else {
        Some(meta.namespace.clone().unwrap_or_else(|| "default".into()))
    };
    let applied_to = peers(ctx, s.applied_to, true)?;
    let mut ingress = Vec::new();
    for r in s.ingress.unwrap_or_default() {
        ingress.push(antrea_rule(ctx, r, Direction::Ingress, ns.as_deref())?);
    }
    let mut egress = Vec::new();
    for r in s.egress.unwrap_or_default() {
        egress.push(antrea_rule(ctx, r, Direction::Egress, ns.as_deref())?);
    }
    // validate.go: appliedTo in spec xor in every rule; unique rule names.
    let rules: Vec<&AntreaRule> = ingress.iter().chain(&egress).collect();
    let in_rules = rules.iter().filter(|r| !r.applied_to.is_empty()).count();
    let at = ctx.error_at(&spec_at, "");
    let here = |m: &str| InputError::new(&at.file, at.line, at.column, m);
    if !applied_to.is_empty() && in_rules > 0 {
        return Err(here("appliedTo should not be set in both spec and rules"));
    }
    if applied_to.is_empty() && in_rules == 0 {
        return Err(here("appliedTo needs to be set in either spec or rules"));
    }
    if in_rules > 0 && in_rules != rules.len() {
        return Err(here(
            "appliedTo field should either be set in all rules or in none of them",
        ));
    }
    // The second rule with a name already taken is the one reported.
    let mut seen: Vec<&str> = Vec::new();
    for r in &rules {
        if let Some(n) = r.name.as_deref() {
            if seen.contains(&n) {
                let o = &r.origin;
                return Err(InputError::new(
                    &o.file,
                    o.line,
                    o.column,
                    "rules names must be unique within the policy",
                ));
            }
            seen.push(n);
        }
    }
    Ok(AntreaPolicy {
        meta,
        cluster_wide,
        tier: s.tier.filter(|t| !t.is_empty()),
        priority: PolicyPriority(priority.value),
        applied_to,
        ingress,
        egress,
    })
}

pub(super) fn parse_tier(
    ctx: &Ctx<'_>,
    doc: &str,
    doc_at: &Location,
    meta: ObjectMeta,
) -> Result<Tier, InputError> {
    let raw: RawDoc<RawTierSpec> = ctx.reparse(doc)?;
    let spec = raw
        .spec
        .ok_or_else(|| ctx.error_at(doc_at, "Tier needs spec.priority"))?;
    let at = spec.referenced;
    let p = spec
        .value
        .priority
        .ok_or_else(|| ctx.error_at(&at, "Tier needs spec.priority"))?;
    // The CRD schema: 0 ≤ priority ≤ 255.
    if !(0..=255).contains(&p.value) {
        return Err(ctx.error(
            &p,
            format!(
                "spec.priority: Invalid value: {}: spec.priority in body should be between 0 and 255",
                p.value
            ),
        ));
    }
    Ok(Tier {
        meta,
        priority: p.value as i32,
        description: spec.value.description,
    })
}

pub(super) fn parse_group(
    ctx: &Ctx<'_>,
    doc: &str,
    doc_at: &Location,
    meta: ObjectMeta,
    cluster_wide: bool,
) -> Result<Group, InputError> {
    let raw: RawDoc<RawGroupSpec> = ctx.reparse(doc)?;
    let kind = if cluster_wide {
        "ClusterGroup"
    } else {
        "Group"
    };
    let spec = raw
        .spec
        .ok_or_else(|| ctx.error_at(doc_at, format!("{kind} needs a spec")))?;
    let at = spec.referenced;
    let s = spec.value;
    not_modelled(
        ctx,
        &s.service_reference,
        "a group of a Service (`serviceReference`)",
    )?;
    not_modelled(ctx, &s.external_entity_selector, "`externalEntitySelector`")?;
    let mut ip_blocks = Vec::new();
    for b in s
        .ip_block
        .into_iter()
        .chain(s.ip_blocks.unwrap_or_default())
    {
        ip_blocks.push(ip_block(ctx, b)?);
    }
    let child_groups = s.child_groups.unwrap_or_default();
    let selectors = s.pod_selector.is_some() || s.namespace_selector.is_some();
    // validate.go (validateAntreaClusterGroupSpec): one kind of member.
    let kinds = usize::from(selectors)
        + usize::from(!ip_blocks.is_empty())
        + usize::from(!child_groups.is_empty());
    if kinds > 1 {
        return Err(ctx.error_at(
            &at,
            "At most one of podSelector/namespaceSelector, ipBlocks and childGroups can be set",
        ));
    }
    Ok(Group {
        meta,
        cluster_wide,
        pod_selector: selector(ctx, s.pod_selector, "podSelector")?,
        namespace_selector: selector(ctx, s.namespace_selector, "namespaceSelector")?,
        ip_blocks,
        child_groups,
    })
}
