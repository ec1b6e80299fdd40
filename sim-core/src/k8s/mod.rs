//! Kubernetes manifests, accepted verbatim.
//!
//! [`parse_manifests`] reads multi-document YAML (`---`-separated, as `kubectl apply -f`
//! takes it) into [`Object`]s. Kinds antlab models become typed (Namespace, Node, Pod,
//! Deployment, ConfigMap, Service from core/apps; Antrea's ExternalIPPool and Egress);
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
//! (YAML forbids those at column 0 inside content, so the cut is exact), each document is
//! read once for `apiVersion`/`kind`/`metadata`, then again as its kind's typed shape.
//! Positions are shifted by the document's first line so messages point into the file.

mod antrea;
mod builtin;
mod config_map;
pub mod selector;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use indexmap::IndexMap;
use serde_saphyr::{Location, Spanned};

use crate::input::InputError;

pub use antrea::{AppliedTo, Egress, EgressStatus, ExternalIPPool, IpRange, SubnetInfo};
pub use builtin::{
    ClusterIp, Container, ContainerPort, Deployment, Namespace, Node, Pod, PodSpec, PodStatus,
    PodTemplate, Protocol, Service, ServicePort, ServiceType, SessionAffinity, TargetPort,
    TrafficPolicy,
};
pub use config_map::{ConfigMap, Layout, ValueAt};
pub use selector::{
    LabelEdit, LabelEditError, LabelSelector, Operator, Requirement, apply_label_edits,
    parse_label_assignments,
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
    pub annotations: IndexMap<String, String>,
    /// Kept as written (RFC 3339 in real objects); shown as AGE by callers that care.
    pub creation_timestamp: Option<String>,
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
            | Object::Egress(_) => Some(false),
            Object::Pod(_) | Object::Deployment(_) | Object::ConfigMap(_) | Object::Service(_) => {
                Some(true)
            }
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

/// Parses every document of a manifest file. Empty (or comment-only, or `null`)
/// documents are skipped. Fails at the first problem, with its position.
pub fn parse_manifests(file: &str, text: &str) -> Result<Vec<Object>, InputError> {
    let mut objects = Vec::new();
    for (line_offset, doc) in split_documents(text) {
        let ctx = Ctx {
            file,
            line_offset,
            column_offset: 0,
        };
        let shape: Option<Spanned<Shape>> = ctx.reparse(doc)?;
        match shape {
            None => continue,
            Some(Spanned {
                value: Shape::Other(found),
                referenced,
                ..
            }) => {
                return Err(ctx.error_at(
                    &referenced,
                    format!(
                        "expected a Kubernetes object (a mapping with apiVersion, kind and metadata), found {found}"
                    ),
                ));
            }
            Some(_) => {}
        }
        let head: Option<Spanned<Head>> = ctx.reparse(doc)?;
        if let Some(head) = head {
            if head.value.kind.as_ref().is_some_and(|k| k.value == "List") {
                // `kubectl get ... -o yaml` output: the objects are the items.
                for (item_line, item) in list_items(doc) {
                    let ictx = Ctx {
                        file,
                        line_offset: line_offset + item_line,
                        column_offset: 2,
                    };
                    let ihead: Option<Spanned<Head>> = ictx.reparse(&item)?;
                    if let Some(ihead) = ihead {
                        objects.push(parse_object(&ictx, &item, ihead)?);
                    }
                }
                continue;
            }
            objects.push(parse_object(&ctx, doc, head)?);
        }
    }
    Ok(objects)
}

/// The items of a `kind: List` document as kubectl prints it (`items:` at
/// column 0, each item a `- ` entry whose lines are indented by two):
/// `(lines before the item within the document, item text de-indented)`.
fn list_items(doc: &str) -> Vec<(u64, String)> {
    let lines: Vec<&str> = doc.lines().collect();
    let Some(start) = lines.iter().position(|l| l.trim_end() == "items:") else {
        return Vec::new();
    };
    let mut items: Vec<(u64, String)> = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        if let Some(rest) = line.strip_prefix("- ") {
            items.push((i as u64, format!("{rest}\n")));
        } else if let Some(rest) = line.strip_prefix("  ") {
            match items.last_mut() {
                Some((_, text)) => {
                    text.push_str(rest);
                    text.push('\n');
                }
                None => break,
            }
        } else if line.trim().is_empty() {
            if let Some((_, text)) = items.last_mut() {
                text.push('\n');
            }
        } else {
            break; // the next top-level key (kind:, metadata:)
        }
    }
    items
}

/// Cuts `text` at document markers: `(lines before the document, document text)`.
/// A `---` line stays with the document it opens; a `...` line is dropped.
fn split_documents(text: &str) -> Vec<(u64, &str)> {
    fn is_marker(line: &str, marker: &str) -> bool {
        let line = line.trim_start_matches('\u{feff}');
        line.strip_prefix(marker)
            .is_some_and(|rest| rest.chars().next().is_none_or(char::is_whitespace))
    }
    let mut docs = Vec::new();
    let (mut start, mut start_line, mut pos) = (0usize, 0u64, 0usize);
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let i = i as u64;
        if is_marker(line, "---") {
            docs.push((start_line, &text[start..pos]));
            (start, start_line) = (pos, i);
        } else if is_marker(line, "...") {
            docs.push((start_line, &text[start..pos]));
            (start, start_line) = (pos + line.len(), i + 1);
        }
        pos += line.len();
    }
    docs.push((start_line, &text[start..]));
    docs
}

/// Turns positions inside one document into positions in the file.
pub(crate) struct Ctx<'a> {
    file: &'a str,
    line_offset: u64,
    /// Columns cut from every line (List items are de-indented by two).
    column_offset: u64,
}

impl Ctx<'_> {
    pub(crate) fn error_at(&self, loc: &Location, message: impl Into<String>) -> InputError {
        let at = self.origin_at(loc.line(), loc.column());
        InputError::new(self.file, at.line, at.column, message)
    }

    /// A document position (1-based; 0 = unknown) as a file position.
    pub(crate) fn origin_at(&self, line: u64, column: u64) -> Origin {
        Origin {
            file: self.file.to_string(),
            line: if line == 0 {
                0
            } else {
                line + self.line_offset
            },
            column: if column == 0 {
                0
            } else {
                column + self.column_offset
            },
        }
    }

    /// Columns cut from every line of the document.
    pub(crate) fn column_shift(&self) -> u64 {
        self.column_offset
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

    /// A serde-saphyr error, re-positioned; its message loses the document-relative
    /// "line N column M:" prefix, which would be wrong after the shift.
    pub(crate) fn yaml(&self, err: &serde_saphyr::Error) -> InputError {
        let message = InputError::from_yaml(self.file, err).message;
        let message = friendly(strip_position_prefix(&message));
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
        serde_saphyr::from_str(doc).map_err(|e| self.yaml(&e))
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

/// Drops a leading `line N column M: ` from a serde-saphyr message.
fn strip_position_prefix(message: &str) -> &str {
    let Some(rest) = message.strip_prefix("line ") else {
        return message;
    };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let Some(rest) = rest.strip_prefix(" column ") else {
        return message;
    };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    rest.strip_prefix(": ").unwrap_or(message)
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

/// The top-level shape of a document, so "not a mapping" gets its own message.
enum Shape {
    Mapping,
    Other(&'static str),
}

impl<'de> serde::Deserialize<'de> for Shape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, IgnoredAny};
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Shape;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a YAML document")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut m: A) -> Result<Shape, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Shape::Mapping)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<Shape, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Shape::Other("a sequence"))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Shape, E> {
                Ok(Shape::Other("a string"))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shape, E> {
                Ok(Shape::Other("a boolean"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape, E> {
                Ok(Shape::Other("a number"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shape, E> {
                Ok(Shape::Other("a number"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape, E> {
                Ok(Shape::Other("a number"))
            }
        }
        d.deserialize_any(V)
    }
}

/// What every object has; read first to pick the typed shape.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    api_version: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    metadata: Option<Spanned<RawMeta>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMeta {
    name: Option<Spanned<String>>,
    namespace: Option<String>,
    labels: Option<IndexMap<String, String>>,
    annotations: Option<IndexMap<String, String>>,
    creation_timestamp: Option<String>,
}

/// Supported API versions per (group, kind); a known group with another version is an
/// error, a kind of another group is someone else's CRD and becomes `Other`.
fn supported_versions(group: &str, kind: &str) -> Option<&'static [&'static str]> {
    match (group, kind) {
        ("", "Namespace" | "Node" | "Pod" | "ConfigMap" | "Service") => Some(&["v1"]),
        ("apps", "Deployment") => Some(&["v1"]),
        // Antrea v1.15 serves both; v1beta1 is the storage version.
        ("crd.antrea.io", "ExternalIPPool" | "Egress") => Some(&["v1beta1", "v1alpha2"]),
        _ => None,
    }
}

fn parse_object(ctx: &Ctx<'_>, doc: &str, head: Spanned<Head>) -> Result<Object, InputError> {
    let doc_at = head.referenced;
    let head = head.value;
    let needs = "every Kubernetes object needs apiVersion, kind and metadata.name";
    let api_version = head
        .api_version
        .filter(|v| !v.value.is_empty())
        .ok_or_else(|| ctx.error_at(&doc_at, format!("missing apiVersion: {needs}")))?;
    let kind = head
        .kind
        .filter(|v| !v.value.is_empty())
        .ok_or_else(|| ctx.error_at(&doc_at, format!("missing kind: {needs}")))?;
    let meta = match head.metadata {
        None => return Err(ctx.error_at(&doc_at, format!("missing metadata: {needs}"))),
        Some(m) => {
            let m_at = m.referenced;
            let m = m.value;
            let name = m
                .name
                .filter(|n| !n.value.is_empty())
                .ok_or_else(|| ctx.error_at(&m_at, format!("missing metadata.name: {needs}")))?;
            ObjectMeta {
                name: name.value,
                namespace: m.namespace.filter(|n| !n.is_empty()),
                labels: m.labels.unwrap_or_default(),
                annotations: m.annotations.unwrap_or_default(),
                creation_timestamp: m.creation_timestamp,
                origin: ctx.origin(&doc_at),
            }
        }
    };
    let (group, version) = match api_version.value.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version.value.as_str()),
    };
    let Some(versions) = supported_versions(group, &kind.value) else {
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
        // supported_versions only knows the kinds above; keep the object rather than panic.
        _ => Object::Other {
            api_version: api_version.value.clone(),
            kind: kind.value.clone(),
            meta,
        },
    })
}
