//! Kubernetes manifests, accepted verbatim.
//!
//! [`parse_manifests`] reads multi-document YAML (`---`-separated, as `kubectl apply -f`
//! takes it) into [`Object`]s. Kinds antlab models become typed (Namespace, Node, Pod,
//! Deployment, ConfigMap, Service from core/apps; NetworkPolicy; Antrea's ExternalIPPool, Egress,
//! ClusterNetworkPolicy, NetworkPolicy, Tier, ClusterGroup, Group, Traceflow, TrafficControl, ExternalNode
//! and BGPPolicy);
//! every other kind becomes [`Object::Other`] so the caller can warn "not modelled".
//!
//! Real manifests carry many fields antlab does not model, so unknown fields are
//! ignored. A field we *do* read must be right: a wrong type or an invalid value (bad IP,
//! bad CIDR, VLAN > 4094, unknown Service type…) is an [`InputError`] at that field's
//! line and column. Checks mirror what the API server, the Antrea CRD schema or Antrea's
//! validating webhook would refuse, so a manifest that works here would also be
//! accepted by a real cluster (and the other way round, within what is modelled).
//!
//! antlab simulates an IPv4 node network, so IP fields must be IPv4; an IPv6 address
//! is refused with a message that says so.
//!
//! How a document is parsed: the text is cut into documents at `---`/`...` marker lines
//! ([`split_documents`]; YAML forbids those at column 0 inside content, so the cut is
//! exact), each document is
//! read once for `apiVersion`/`kind`/`metadata`, then again as its kind's typed shape.
//! Positions are shifted by the document's first line so messages point into the file.

mod antrea;
mod bgp_policy;
mod builtin;
mod config_map;
mod crd;
mod documents;
mod external_node;
mod head;
mod list;
mod policy;
mod schema;
pub mod selector;
mod traceflow;
mod traffic_control;
mod tree;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use indexmap::IndexMap;
use serde_saphyr::{Location, Spanned};

use tree::Yaml;

use crate::input::InputError;

pub use antrea::{AppliedTo, Bandwidth, Egress, EgressStatus, ExternalIPPool, IpRange, SubnetInfo};
pub use bgp_policy::{BgpPeer, BgpPolicy, Confederation, ServiceIpType};
pub use builtin::{
    ClusterIp, Container, ContainerPort, Deployment, Namespace, Node, Pod, PodSpec, PodStatus,
    PodTemplate, Protocol, Service, ServicePort, ServiceType, SessionAffinity, TargetPort,
    TrafficPolicy,
};
pub use config_map::{ConfigMap, Layout, ValueAt};
pub use documents::{Document, split_documents};
pub use external_node::ExternalNode;
pub use policy::{
    AntreaPolicy, AntreaRule, Direction, Group, IpBlock, K8sRule, NetworkPolicy, Peer,
    PolicyPortNumber, PolicyPriority, PolicyService, RuleAction, Tier,
};
pub use selector::{
    LabelEdit, LabelEditError, LabelSelector, Operator, Requirement, apply_label_edits,
    parse_label_assignments,
};
pub use traceflow::{DEFAULT_TRACEFLOW_TIMEOUT_S, LiveTraffic, Traceflow, TraceflowDestination};
pub use traffic_control::{
    DEFAULT_GENEVE_PORT, DEFAULT_VXLAN_PORT, TcAction, TcDirection, TcPort, TrafficControl,
};

/// Where something was written: file, 1-based line and column.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: u64,
    pub column: u64,
}

impl Origin {
    /// An input error pointing here, for problems found after parsing
    /// (e.g. a ConfigMap value read later, a reference to a missing pool).
    pub fn error(&self, message: impl Into<String>) -> InputError {
        InputError::new(&self.file, self.line, self.column, message)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// The parts of `metadata` antlab reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectMeta {
    pub name: String,
    /// As written; see [`Object::namespace`] for the effective one.
    pub namespace: Option<String>,
    pub labels: IndexMap<String, String>,
    pub(crate) annotations: IndexMap<String, String>,
    /// Kept as written (RFC 3339 in real objects); shown as AGE by callers that care.
    pub(crate) creation_timestamp: Option<String>,
    /// Where the object's document starts.
    pub origin: Origin,
}

impl ObjectMeta {
    /// Metadata for an object made by the program (e.g. a scenario step), not read from a file.
    pub fn named(name: impl Into<String>) -> Self {
        ObjectMeta {
            name: name.into(),
            namespace: None,
            labels: IndexMap::new(),
            annotations: IndexMap::new(),
            creation_timestamp: None,
            origin: Origin::default(),
        }
    }
}

/// One Kubernetes object from a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Object {
    Namespace(Namespace),
    Node(Node),
    Pod(Pod),
    Deployment(Deployment),
    ConfigMap(ConfigMap),
    Service(Service),
    ExternalIPPool(ExternalIPPool),
    Egress(Egress),
    /// `networking.k8s.io/v1` NetworkPolicy.
    NetworkPolicy(NetworkPolicy),
    /// Antrea's ClusterNetworkPolicy or (namespaced) NetworkPolicy.
    AntreaPolicy(AntreaPolicy),
    Tier(Tier),
    /// Antrea's ClusterGroup or (namespaced) Group.
    Group(Group),
    /// Antrea's Traceflow (run when applied).
    Traceflow(Traceflow),
    /// Antrea's TrafficControl (mirror or redirect Pods' traffic).
    TrafficControl(TrafficControl),
    /// Antrea's ExternalNode (a VM whose agent runs in ExternalNode mode).
    ExternalNode(ExternalNode),
    /// Antrea's BGPPolicy (which Nodes speak BGP, to whom, advertising what).
    BgpPolicy(BgpPolicy),
    /// A kind antlab does not model; kept so the caller can say so.
    Other {
        api_version: String,
        kind: String,
        meta: ObjectMeta,
    },
}

impl Object {
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Object::Namespace(o) => &o.meta,
            Object::Node(o) => &o.meta,
            Object::Pod(o) => &o.meta,
            Object::Deployment(o) => &o.meta,
            Object::ConfigMap(o) => &o.meta,
            Object::Service(o) => &o.meta,
            Object::ExternalIPPool(o) => &o.meta,
            Object::Egress(o) => &o.meta,
            Object::NetworkPolicy(o) => &o.meta,
            Object::AntreaPolicy(o) => &o.meta,
            Object::Tier(o) => &o.meta,
            Object::Group(o) => &o.meta,
            Object::Traceflow(o) => &o.meta,
            Object::TrafficControl(o) => &o.meta,
            Object::ExternalNode(o) => &o.meta,
            Object::BgpPolicy(o) => &o.meta,
            Object::Other { meta, .. } => meta,
        }
    }

    pub fn meta_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Object::Namespace(o) => &mut o.meta,
            Object::Node(o) => &mut o.meta,
            Object::Pod(o) => &mut o.meta,
            Object::Deployment(o) => &mut o.meta,
            Object::ConfigMap(o) => &mut o.meta,
            Object::Service(o) => &mut o.meta,
            Object::ExternalIPPool(o) => &mut o.meta,
            Object::Egress(o) => &mut o.meta,
            Object::NetworkPolicy(o) => &mut o.meta,
            Object::AntreaPolicy(o) => &mut o.meta,
            Object::Tier(o) => &mut o.meta,
            Object::Group(o) => &mut o.meta,
            Object::Traceflow(o) => &mut o.meta,
            Object::TrafficControl(o) => &mut o.meta,
            Object::ExternalNode(o) => &mut o.meta,
            Object::BgpPolicy(o) => &mut o.meta,
            Object::Other { meta, .. } => meta,
        }
    }

    /// Moves every position recorded for this object by `lines` and
    /// `columns`: its text was cut out of a larger file (an inline manifest
    /// in a scenario) and parsed on its own.
    pub fn shift_origins(&mut self, lines: u64, columns: u64) {
        let origin = &mut self.meta_mut().origin;
        origin.line += lines;
        origin.column += columns;
        if let Object::ConfigMap(cm) = self {
            for at in cm.value_at.values_mut() {
                at.shift(lines, columns);
            }
        }
    }

    /// The kind as written in `kind:`.
    pub fn kind_name(&self) -> &str {
        match self {
            Object::Namespace(_) => "Namespace",
            Object::Node(_) => "Node",
            Object::Pod(_) => "Pod",
            Object::Deployment(_) => "Deployment",
            Object::ConfigMap(_) => "ConfigMap",
            Object::Service(_) => "Service",
            Object::ExternalIPPool(_) => "ExternalIPPool",
            Object::Egress(_) => "Egress",
            Object::NetworkPolicy(_) => "NetworkPolicy",
            Object::AntreaPolicy(p) if p.cluster_wide => "ClusterNetworkPolicy",
            Object::AntreaPolicy(_) => "NetworkPolicy",
            Object::Tier(_) => "Tier",
            Object::Group(g) if g.cluster_wide => "ClusterGroup",
            Object::Group(_) => "Group",
            Object::Traceflow(_) => "Traceflow",
            Object::TrafficControl(_) => "TrafficControl",
            Object::ExternalNode(_) => "ExternalNode",
            Object::BgpPolicy(_) => "BGPPolicy",
            Object::Other { kind, .. } => kind,
        }
    }

    /// `Some(true)` for namespaced kinds, `Some(false)` for cluster-scoped ones
    /// (Namespace, Node and Antrea's ExternalIPPool and Egress), `None` if unknown.
    pub fn is_namespaced(&self) -> Option<bool> {
        match self {
            Object::Namespace(_)
            | Object::Node(_)
            | Object::ExternalIPPool(_)
            | Object::Egress(_)
            | Object::Tier(_)
            | Object::Traceflow(_)
            | Object::TrafficControl(_)
            | Object::BgpPolicy(_) => Some(false),
            Object::Pod(_)
            | Object::Deployment(_)
            | Object::ConfigMap(_)
            | Object::Service(_)
            | Object::NetworkPolicy(_)
            | Object::ExternalNode(_) => Some(true),
            Object::AntreaPolicy(p) => Some(!p.cluster_wide),
            Object::Group(g) => Some(!g.cluster_wide),
            Object::Other { .. } => None,
        }
    }

    /// The effective namespace: as written, or `default` for a namespaced kind without one
    /// (what `kubectl apply` does with the default context); `None` for cluster-scoped
    /// kinds even if the manifest names one (the API server ignores it).
    pub fn namespace(&self) -> Option<&str> {
        let given = self.meta().namespace.as_deref();
        match self.is_namespaced() {
            Some(true) => Some(given.unwrap_or("default")),
            Some(false) => None,
            None => given,
        }
    }

    /// `Kind/name` or `Kind/namespace/name`, for messages and tables.
    pub fn display_name(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{}/{}/{}", self.kind_name(), ns, self.meta().name),
            None => format!("{}/{}", self.kind_name(), self.meta().name),
        }
    }
}

/// Parses every document of a manifest file, as `kubectl apply -f` sends it: the API
/// server's strict field and CRD schema checks included. Empty (or comment-only, or
/// `null`) documents are skipped. Fails at the first problem, with its position.
pub fn parse_manifests(file: &str, text: &str) -> Result<Vec<Object>, InputError> {
    parse_all(file, text, Purpose::Apply)
}

/// As [`parse_manifests`], for `kubectl delete -f`: only the objects' identity goes to
/// the API server, so its field and schema checks do not apply.
pub fn parse_manifests_to_delete(file: &str, text: &str) -> Result<Vec<Object>, InputError> {
    parse_all(file, text, Purpose::Delete)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Apply,
    Delete,
}

/// Documents per parser thread below which a file is parsed on one.
const DOCUMENTS_PER_THREAD: usize = 256;

/// Every object of a file. Documents parse on their own, so a large file's
/// documents are parsed in contiguous runs on the machine's cores and the
/// runs' objects joined in document order; the error reported is the
/// first in document order, as when parsing on one thread.
fn parse_all(file: &str, text: &str, purpose: Purpose) -> Result<Vec<Object>, InputError> {
    let docs = split_documents(text);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = cores.min(docs.len() / DOCUMENTS_PER_THREAD).max(1);
    if threads == 1 {
        return parse_documents(file, &docs, purpose);
    }
    let per_thread = docs.len().div_ceil(threads);
    let runs: Vec<Result<Vec<Object>, InputError>> = std::thread::scope(|scope| {
        let parsing: Vec<_> = docs
            .chunks(per_thread)
            .map(|run| scope.spawn(move || parse_documents(file, run, purpose)))
            .collect();
        parsing
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut objects = Vec::new();
    for run in runs {
        objects.extend(run?);
    }
    Ok(objects)
}

fn parse_documents(
    file: &str,
    docs: &[documents::Document<'_>],
    purpose: Purpose,
) -> Result<Vec<Object>, InputError> {
    let mut objects = Vec::new();
    for d in docs {
        let (line_offset, doc) = (d.line_offset(), d.text());
        let ctx = Ctx::new(file, line_offset, doc);
        let tree: Option<Spanned<Yaml>> = ctx.reparse(doc)?;
        let Some(tree) = tree.filter(|t| t.value != Yaml::Null) else {
            continue;
        };
        if !matches!(tree.value, Yaml::Map(_)) {
            return Err(ctx.error(
                &tree,
                format!(
                    "expected a Kubernetes object (a mapping with apiVersion, kind and metadata), found {}",
                    tree.value.shape()
                ),
            ));
        }
        if tree.value.get("kind").and_then(|k| k.value.as_str()) == Some("List") {
            // `kubectl get ... -o yaml` (or `-o json`) output: the objects are the items.
            for item in list::items(&ctx, doc, &tree)? {
                let ictx = Ctx::new(file, line_offset, &item.text);
                objects.push(parse_object(&ictx, &item.text, &item.tree, purpose)?);
            }
            continue;
        }
        objects.push(parse_object(&ctx, doc, &tree, purpose)?);
    }
    Ok(objects)
}

/// Turns positions inside one document into positions in the file.
pub(crate) struct Ctx<'a> {
    file: &'a str,
    line_offset: u64,
    /// The document's text, to decide whether an error may quote it.
    doc: &'a str,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(file: &'a str, line_offset: u64, doc: &'a str) -> Ctx<'a> {
        Ctx {
            file,
            line_offset,
            doc,
        }
    }

    /// An error message may quote the document once it is recognised as a
    /// Kubernetes object (see [`crate::input`]).
    fn quoting(&self) -> crate::input::Quoting {
        if crate::input::has_top_level_keys(self.doc, &["apiVersion", "kind"]) {
            crate::input::Quoting::Quote
        } else {
            crate::input::Quoting::Withhold
        }
    }

    pub(crate) fn error_at(&self, loc: &Location, message: impl Into<String>) -> InputError {
        let at = self.origin_at(loc.line(), loc.column());
        InputError::new(self.file, at.line, at.column, message)
    }

    /// A document position (1-based; 0 = unknown) as a file position. List
    /// items keep their columns (see `list`), so only lines move.
    pub(crate) fn origin_at(&self, line: u64, column: u64) -> Origin {
        Origin {
            file: self.file.to_string(),
            line: if line == 0 {
                0
            } else {
                line + self.line_offset
            },
            column,
        }
    }

    pub(crate) fn error<T>(&self, value: &Spanned<T>, message: impl Into<String>) -> InputError {
        self.error_at(&value.referenced, message)
    }

    pub(crate) fn origin(&self, loc: &Location) -> Origin {
        let e = self.error_at(loc, "");
        Origin {
            file: e.file,
            line: e.line,
            column: e.column,
        }
    }

    /// A serde-saphyr error in antlab's words, re-positioned into the file.
    pub(crate) fn yaml(&self, err: &serde_saphyr::Error) -> InputError {
        let message = InputError::from_yaml_quoting(self.file, err, self.quoting()).message;
        let message = friendly(&message);
        match err.location() {
            Some(loc) => self.error_at(&loc, message),
            None => InputError::new(self.file, self.line_offset + 1, 1, message),
        }
    }

    /// Deserializes the document again as `T` (the typed shape of its kind).
    pub(crate) fn reparse<T: serde::de::DeserializeOwned>(
        &self,
        doc: &str,
    ) -> Result<T, InputError> {
        crate::input::from_str(doc).map_err(|e| self.yaml(&e))
    }

    /// The document's `spec` read as `S`, with where it starts; `needs`
    /// (at the document) when it has none.
    pub(crate) fn spec_of<S: serde::de::DeserializeOwned>(
        &self,
        doc: &str,
        doc_at: &Location,
        needs: &str,
    ) -> Result<(Location, S), InputError> {
        #[derive(serde::Deserialize)]
        #[serde(bound = "S: serde::de::DeserializeOwned")]
        struct WithSpec<S> {
            spec: Option<Spanned<S>>,
        }
        let raw: WithSpec<S> = self.reparse(doc)?;
        let spec = raw.spec.ok_or_else(|| self.error_at(doc_at, needs))?;
        Ok((spec.referenced, spec.value))
    }

    pub(crate) fn ipv4(&self, v: &Spanned<String>, what: &str) -> Result<Ipv4Addr, InputError> {
        let s = v.value.as_str();
        s.parse::<Ipv4Addr>().map_err(|_| {
            if s.parse::<Ipv6Addr>().is_ok() {
                self.error(
                    v,
                    format!("{what} {s:?} is IPv6; antlab models IPv4 networks only"),
                )
            } else {
                self.error(v, format!("{what} {s:?} is not a valid IPv4 address"))
            }
        })
    }

    /// An optional IP where the empty string also means "not set" (Antrea writes `""`).
    pub(crate) fn opt_ipv4(
        &self,
        v: &Option<Spanned<String>>,
        what: &str,
    ) -> Result<Option<Ipv4Addr>, InputError> {
        match v {
            Some(s) if !s.value.is_empty() => self.ipv4(s, what).map(Some),
            _ => Ok(None),
        }
    }

    pub(crate) fn selector(
        &self,
        raw: Spanned<selector::RawLabelSelector>,
        what: &str,
    ) -> Result<LabelSelector, InputError> {
        let at = raw.referenced;
        raw.value
            .validate()
            .map_err(|e| self.error_at(&e.at.unwrap_or(at), format!("{what}: {}", e.message)))
    }

    /// A port number field: 1..=65535.
    pub(crate) fn port(&self, v: &Spanned<i64>, what: &str) -> Result<u16, InputError> {
        u16::try_from(v.value)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| {
                self.error(
                    v,
                    format!("{what} must be between 1 and 65535, got {}", v.value),
                )
            })
    }
}

/// serde-saphyr's terse type errors in words a manifest author uses.
fn friendly(message: &str) -> String {
    match message {
        "invalid i64" | "invalid u64" | "invalid i32" | "invalid u32" | "invalid u16"
        | "invalid u8" => "expected an integer".to_string(),
        "expected string scalar" => "expected a string".to_string(),
        "expected mapping start" => "expected a mapping".to_string(),
        m if m.starts_with("cannot deserialize null into string") => {
            "expected a string, found null".to_string()
        }
        m => m.to_string(),
    }
}

/// Supported API versions per (group, kind); a known group with another version is an
/// error, a kind of another group is someone else's CRD and becomes `Other`.
fn supported_versions(group: &str, kind: &str) -> Option<&'static [&'static str]> {
    match (group, kind) {
        ("", "Namespace" | "Node" | "Pod" | "ConfigMap" | "Service") => Some(&["v1"]),
        ("apps", "Deployment") => Some(&["v1"]),
        // Antrea v1.15 serves both; v1beta1 is the storage version.
        ("crd.antrea.io", "ExternalIPPool" | "Egress") => Some(&["v1beta1", "v1alpha2"]),
        ("networking.k8s.io", "NetworkPolicy") => Some(&["v1"]),
        (
            "crd.antrea.io",
            "ClusterNetworkPolicy"
            | "NetworkPolicy"
            | "Tier"
            | "ClusterGroup"
            | "Group"
            | "Traceflow",
        ) => Some(&["v1beta1"]),
        ("crd.antrea.io", "TrafficControl") => Some(&["v1alpha2"]),
        ("crd.antrea.io", "ExternalNode" | "BGPPolicy") => Some(&["v1alpha1"]),
        _ => None,
    }
}

fn parse_object(
    ctx: &Ctx<'_>,
    doc: &str,
    tree: &Spanned<Yaml>,
    purpose: Purpose,
) -> Result<Object, InputError> {
    let doc_at = tree.referenced;
    let needs = "every Kubernetes object needs apiVersion, kind and metadata.name";
    let api_version = head::string(ctx, &tree.value, "apiVersion")?
        .ok_or_else(|| ctx.error_at(&doc_at, format!("missing apiVersion: {needs}")))?;
    let kind = head::string(ctx, &tree.value, "kind")?
        .ok_or_else(|| ctx.error_at(&doc_at, format!("missing kind: {needs}")))?;
    let meta = head::meta(ctx, tree, needs)?;
    let (group, version) = match api_version.value.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version.value.as_str()),
    };
    let Some(versions) = supported_versions(group, &kind.value) else {
        if purpose == Purpose::Apply {
            check_fields(ctx, tree, group, version, &kind.value, &meta.name)?;
        }
        return Ok(Object::Other {
            api_version: api_version.value.clone(),
            kind: kind.value,
            meta,
        });
    };
    if !versions.contains(&version) {
        let want: Vec<String> = versions
            .iter()
            .map(|v| {
                if group.is_empty() {
                    v.to_string()
                } else {
                    format!("{group}/{v}")
                }
            })
            .collect();
        return Err(ctx.error(
            &api_version,
            format!(
                "apiVersion {:?} is not supported for {} (antlab reads {})",
                api_version.value,
                kind.value,
                want.join(", ")
            ),
        ));
    }
    if purpose == Purpose::Apply {
        check_fields(ctx, tree, group, version, &kind.value, &meta.name)?;
    }
    let doc_at = &doc_at;
    Ok(match kind.value.as_str() {
        "Namespace" => Object::Namespace(Namespace { meta }),
        "Node" => Object::Node(Node { meta }),
        "Pod" => Object::Pod(builtin::parse_pod(ctx, doc, meta)?),
        "Deployment" => Object::Deployment(builtin::parse_deployment(ctx, doc, doc_at, meta)?),
        "ConfigMap" => Object::ConfigMap(config_map::parse_config_map(ctx, doc, meta)?),
        "Service" => Object::Service(builtin::parse_service(ctx, doc, meta)?),
        "ExternalIPPool" => {
            Object::ExternalIPPool(antrea::parse_external_ip_pool(ctx, doc, doc_at, meta)?)
        }
        "Egress" => Object::Egress(antrea::parse_egress(ctx, doc, doc_at, meta)?),
        "NetworkPolicy" if group == "networking.k8s.io" => {
            Object::NetworkPolicy(policy::parse_network_policy(ctx, doc, doc_at, meta)?)
        }
        "ClusterNetworkPolicy" | "NetworkPolicy" => {
            Object::AntreaPolicy(policy::parse_antrea_policy(
                ctx,
                doc,
                doc_at,
                meta,
                kind.value == "ClusterNetworkPolicy",
            )?)
        }
        "Tier" => Object::Tier(policy::parse_tier(ctx, doc, doc_at, meta)?),
        "Traceflow" => Object::Traceflow(traceflow::parse_traceflow(ctx, doc, doc_at, meta)?),
        "ExternalNode" => {
            Object::ExternalNode(external_node::parse_external_node(ctx, doc, doc_at, meta)?)
        }
        "BGPPolicy" => Object::BgpPolicy(bgp_policy::parse_bgp_policy(ctx, doc, doc_at, meta)?),
        "TrafficControl" => Object::TrafficControl(traffic_control::parse_traffic_control(
            ctx, doc, doc_at, meta,
        )?),
        "ClusterGroup" | "Group" => Object::Group(policy::parse_group(
            ctx,
            doc,
            doc_at,
            meta,
            kind.value == "ClusterGroup",
        )?),
        // supported_versions only knows the kinds above; keep the object rather than panic.
        _ => Object::Other {
            api_version: api_version.value.clone(),
            kind: kind.value.clone(),
            meta,
        },
    })
}

/// What the API server checks before admission: unknown fields (strict decoding), then
/// for Antrea's CRDs their OpenAPI schema.
fn check_fields(
    ctx: &Ctx<'_>,
    tree: &Spanned<Yaml>,
    group: &str,
    version: &str,
    kind: &str,
    name: &str,
) -> Result<(), InputError> {
    let crd = match (group, kind) {
        ("crd.antrea.io", "ExternalIPPool") => Some(crd::external_ip_pool()),
        ("crd.antrea.io", "Egress") => Some(crd::egress()),
        ("crd.antrea.io", "TrafficControl") => Some(crd::traffic_control()),
        ("crd.antrea.io", "ExternalNode") => Some(crd::external_node()),
        ("crd.antrea.io", "BGPPolicy") => Some(crd::bgp_policy()),
        _ => None,
    };
    let unknown = match (crd, schema::builtin_root(group, version, kind)) {
        (Some(crd), _) => schema::unknown_crd_fields(crd, tree),
        (None, Some(root)) => schema::unknown_builtin_fields(root, tree),
        (None, None) => Vec::new(),
    };
    if let Some(first) = unknown.first() {
        return Err(ctx.error_at(&first.at, schema::strict_message(&unknown)));
    }
    if let Some(crd) = crd {
        let errors = crd::validate(crd, tree);
        if let Some(first) = errors.first() {
            let qualified = format!("{kind}.{group}");
            return Err(ctx.error_at(&first.at, crd::invalid_message(&qualified, name, &errors)));
        }
    }
    Ok(())
}
