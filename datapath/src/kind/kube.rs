//! `kubectl get ... -o yaml` output: nodes, and the objects a scenario applies.
//!
//! `kubectl get nodes -o yaml` is read here, with positions, because antlab's
//! manifest types keep only a Node's metadata and the import also needs
//! `spec.podCIDR` and the `InternalIP` address. Everything else goes through
//! `sim_core::k8s::parse_manifests` (which takes `kind: List` as kubectl prints
//! it), and the documents are also cut out as text so the scenario applies
//! them exactly as the cluster returned them.

use std::net::Ipv4Addr;

use indexmap::IndexMap;
use ipnet::Ipv4Net;
use serde::Deserialize;
use serde_saphyr::Spanned;
use sim_core::input::{InputError, parse_yaml};
use sim_core::k8s::{Origin, split_documents};

/// A Kubernetes node as the import needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeNode {
    pub name: String,
    pub labels: IndexMap<String, String>,
    /// `spec.podCIDR`; kind's kube-controller-manager allocates one per node.
    pub pod_cidr: Ipv4Net,
    /// `status.addresses[type=InternalIP]`, the kubelet's `--node-ip`.
    pub internal_ip: Ipv4Addr,
    /// Where the node's item starts, for messages about it.
    pub origin: Origin,
}

impl KubeNode {
    /// kubeadm's role label; kind's control-plane nodes carry it.
    pub fn is_control_plane(&self) -> bool {
        self.labels
            .contains_key("node-role.kubernetes.io/control-plane")
    }
}

/// Parses `kubectl get nodes -o yaml` (a `kind: List`) or one Node document.
pub fn parse_nodes(file: &str, text: &str) -> Result<Vec<KubeNode>, InputError> {
    let head: RawHead = parse_yaml(file, text)?;
    let items = match head.kind.as_ref().map(|k| k.value.as_str()) {
        Some("List") | Some("NodeList") => parse_yaml::<RawNodeList>(file, text)?.items,
        Some("Node") => vec![parse_yaml::<Spanned<RawNode>>(file, text)?],
        Some(other) => {
            let kind = head.kind.as_ref().expect("matched Some above");
            return Err(InputError::at_value(
                file,
                kind,
                format!(
                    "expected `kubectl get nodes -o yaml` output (kind: List of Nodes), found kind {other:?}"
                ),
            ));
        }
        None => {
            return Err(InputError::new(
                file,
                1,
                1,
                "expected `kubectl get nodes -o yaml` output (kind: List of Nodes), found no kind",
            ));
        }
    };
    if items.is_empty() {
        return Err(InputError::new(
            file,
            1,
            1,
            "the node list is empty; a kind cluster has at least its control-plane node",
        ));
    }
    items.into_iter().map(|n| node(file, n)).collect()
}

fn node(file: &str, raw: Spanned<RawNode>) -> Result<KubeNode, InputError> {
    let at = raw.referenced;
    let n = raw.value;
    if let Some(k) = &n.kind
        && k.value != "Node"
    {
        return Err(InputError::at_value(
            file,
            k,
            format!("expected a Node item, found kind {:?}", k.value),
        ));
    }
    let name = n.metadata.name.value;
    let cidr = n
        .spec
        .and_then(|s| s.pod_cidr)
        .filter(|c| !c.value.is_empty())
        .ok_or_else(|| {
            InputError::at(
                file,
                &at,
                format!(
                    "node `{name}` has no spec.podCIDR (is kube-controller-manager running with --allocate-node-cidrs?)"
                ),
            )
        })?;
    let pod_cidr: Ipv4Net = cidr.value.parse().map_err(|_| {
        InputError::at_value(
            file,
            &cidr,
            format!(
                "spec.podCIDR {:?} is not an IPv4 CIDR (antlab models IPv4 only)",
                cidr.value
            ),
        )
    })?;
    let internal = n
        .status
        .and_then(|s| s.addresses)
        .unwrap_or_default()
        .into_iter()
        .find(|a| a.kind == "InternalIP" && !a.address.value.contains(':'))
        .ok_or_else(|| {
            InputError::at(
                file,
                &at,
                format!("node `{name}` has no IPv4 InternalIP in status.addresses"),
            )
        })?;
    let internal_ip: Ipv4Addr = internal.address.value.parse().map_err(|_| {
        InputError::at_value(
            file,
            &internal.address,
            format!(
                "InternalIP {:?} is not an IPv4 address",
                internal.address.value
            ),
        )
    })?;
    Ok(KubeNode {
        name,
        labels: n.metadata.labels.unwrap_or_default(),
        pod_cidr,
        internal_ip,
        origin: Origin {
            file: file.to_string(),
            line: at.line(),
            column: at.column(),
        },
    })
}

#[derive(Deserialize)]
struct RawHead {
    kind: Option<Spanned<String>>,
}

#[derive(Deserialize)]
struct RawNodeList {
    #[serde(default)]
    items: Vec<Spanned<RawNode>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawNode {
    kind: Option<Spanned<String>>,
    metadata: RawNodeMeta,
    spec: Option<RawNodeSpec>,
    status: Option<RawNodeStatus>,
}

#[derive(Deserialize)]
struct RawNodeMeta {
    name: Spanned<String>,
    labels: Option<IndexMap<String, String>>,
}

#[derive(Deserialize)]
struct RawNodeSpec {
    #[serde(rename = "podCIDR")]
    pod_cidr: Option<Spanned<String>>,
}

#[derive(Deserialize)]
struct RawNodeStatus {
    addresses: Option<Vec<RawAddress>>,
}

#[derive(Deserialize)]
struct RawAddress {
    address: Spanned<String>,
    #[serde(rename = "type")]
    kind: String,
}

// ---- cutting documents out of kubectl output -----------------------------------

/// One document of a manifest file as text: a `---` document, or one item of a
/// `kind: List`, de-indented so it stands alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DocText {
    /// 1-based lines of the file the document covers, both inclusive.
    pub first_line: u64,
    pub last_line: u64,
    /// Columns cut from the front of every line (2 for List items).
    pub indent: u64,
    pub text: String,
}

/// Cuts a manifest file into documents the way `sim_core::k8s::parse_manifests`
/// reads it (with its [`split_documents`]; a `---` line with nothing else on
/// it is left out of the text), and a `kind: List` (as kubectl prints it:
/// `items:` at column 0, each item a `- ` entry indented by two) into its
/// items.
pub(crate) fn cut_documents(text: &str) -> Vec<DocText> {
    let lines: Vec<&str> = text.lines().collect();
    // [start, end) line indexes of each document's content.
    let docs: Vec<(usize, usize)> = split_documents(text)
        .iter()
        .map(|d| {
            let (before, body) = d.body();
            let start = before as usize;
            (start, start + body.lines().count())
        })
        .collect();
    let mut out = Vec::new();
    for (s, e) in docs {
        let doc = &lines[s..e];
        if doc.iter().all(|l| is_blank(l)) {
            continue;
        }
        let is_list = doc.iter().any(|l| l.trim_end() == "kind: List");
        match doc.iter().position(|l| l.trim_end() == "items:") {
            Some(items) if is_list => out.extend(list_items(&lines, s + items + 1, e)),
            _ => out.push(DocText {
                first_line: s as u64 + 1,
                last_line: e as u64,
                indent: 0,
                text: join(doc.iter().copied()),
            }),
        }
    }
    out
}

/// The items of a List whose entries start at line index `from` (just after
/// `items:`), up to the next top-level key or `to`.
fn list_items(lines: &[&str], from: usize, to: usize) -> Vec<DocText> {
    let mut items: Vec<(usize, usize)> = Vec::new(); // [start, end) line indexes
    for (i, line) in lines.iter().enumerate().take(to).skip(from) {
        if line.starts_with("- ") {
            items.push((i, i + 1));
        } else if line.starts_with("  ") || line.trim().is_empty() {
            match items.last_mut() {
                Some(item) => item.1 = i + 1,
                None => break,
            }
        } else {
            break; // the List's own `kind:` / `metadata:`
        }
    }
    items
        .into_iter()
        .map(|(s, e)| DocText {
            first_line: s as u64 + 1,
            last_line: e as u64,
            indent: 2,
            // Drop the `- ` of the first line and the two-space indent of the others.
            text: join(lines[s..e].iter().map(|l| l.get(2..).unwrap_or(""))),
        })
        .collect()
}

fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

fn join<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    let mut s = String::new();
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::k8s::parse_manifests;

    /// Every object `parse_manifests` finds lies in one cut document, as
    /// the kind import relies on.
    fn each_object_in_a_document(text: &str, docs: &[DocText]) {
        for obj in parse_manifests("f.yaml", text).expect("valid manifests") {
            let line = obj.meta().origin.line;
            assert!(
                docs.iter()
                    .any(|d| d.first_line <= line && line <= d.last_line),
                "{} at line {line} is in no document of {docs:?}",
                obj.display_name()
            );
        }
    }

    #[test]
    fn documents_are_cut_at_markers_with_their_file_lines() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n# only a comment\n--- # b\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n...\n";
        let docs = cut_documents(text);
        let lines: Vec<(u64, u64)> = docs.iter().map(|d| (d.first_line, d.last_line)).collect();
        assert_eq!(lines, vec![(1, 3), (7, 9)]);
        assert_eq!(
            docs[1].text,
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n"
        );
        assert!(docs.iter().all(|d| d.indent == 0));
        each_object_in_a_document(text, &docs);
    }

    #[test]
    fn an_object_on_the_marker_line_is_cut_with_that_line() {
        // The marker line's content is the document's (it used to be
        // dropped, leaving the object outside every cut document).
        let text = "--- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n";
        let docs = cut_documents(text);
        let lines: Vec<(u64, u64)> = docs.iter().map(|d| (d.first_line, d.last_line)).collect();
        assert_eq!(lines, vec![(1, 1), (3, 5)]);
        assert_eq!(
            docs[0].text,
            "--- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n"
        );
        each_object_in_a_document(text, &docs);
    }

    #[test]
    fn a_list_is_cut_into_its_items() {
        let text = "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: a\n- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: b\nkind: List\nmetadata:\n  resourceVersion: \"\"\n";
        let docs = cut_documents(text);
        let lines: Vec<(u64, u64)> = docs.iter().map(|d| (d.first_line, d.last_line)).collect();
        assert_eq!(lines, vec![(3, 6), (7, 10)]);
        assert!(docs.iter().all(|d| d.indent == 2));
        assert_eq!(
            docs[1].text,
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n"
        );
        each_object_in_a_document(text, &docs);
    }
}
