//! Strict field validation, as `kubectl apply --validate=strict` gets it from the API
//! server: a field the kind does not have (`subnetinfo` for `subnetInfo`) is an error,
//! `strict decoding error: unknown field "spec.subnetinfo"`, at its line and column.
//!
//! Which fields exist:
//! - Kubernetes kinds: `kubernetes-fields.txt`, generated from the Go types of
//!   k8s.io/api and k8s.io/apimachinery v0.36.1 (the version Antrea v2.7.0 builds
//!   with) by `gen_kubernetes_fields.py`. It covers the kinds listed in [`builtin_root`]
//!   and every type they reach; a field antlab does not model (`image`, `resources`,
//!   `tolerations`, ...) is accepted as the API server accepts it.
//! - Antrea's ExternalIPPool and Egress: their CRD schemas ([`super::crd`]), whose
//!   `properties` are the field sets, with `metadata` as ObjectMeta.
//!
//! Kinds of other groups (somebody else's CRDs) and built-in kinds outside the list
//! are not checked. Only field names are checked here; value types of fields antlab
//! does not read are not.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_saphyr::{Location, Spanned};

use super::crd::Schema;
use super::tree::{FieldPath, Yaml};

/// One unknown field: where it is written and its path from the object's root.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct UnknownField {
    pub(crate) path: FieldPath,
    pub(crate) at: Location,
    /// A field of the same object with a close spelling, if any.
    pub(crate) suggestion: Option<&'static str>,
}

/// The strict decoding message for a list of unknown fields, as the API server
/// words it, with antlab's spelling hint for the first.
pub(crate) fn strict_message(unknown: &[UnknownField]) -> String {
    let fields: Vec<String> = unknown
        .iter()
        .map(|u| format!("unknown field \"{}\"", u.path))
        .collect();
    let mut msg = format!("strict decoding error: {}", fields.join(", "));
    if let Some(s) = unknown.first().and_then(|u| u.suggestion) {
        msg.push_str(&format!(" (did you mean \"{s}\"?)"));
    }
    msg
}

/// The generated table's root type for a built-in kind, if antlab checks it.
pub(crate) fn builtin_root(group: &str, version: &str, kind: &str) -> Option<&'static str> {
    Some(match (group, version, kind) {
        ("", "v1", "Namespace") => "core/v1.Namespace",
        ("", "v1", "Yaml") => "core/v1.Yaml",
        ("", "v1", "Pod") => "core/v1.Pod",
        ("", "v1", "Service") => "core/v1.Service",
        ("", "v1", "ConfigMap") => "core/v1.ConfigMap",
        ("", "v1", "Secret") => "core/v1.Secret",
        ("", "v1", "ServiceAccount") => "core/v1.ServiceAccount",
        ("", "v1", "Endpoints") => "core/v1.Endpoints",
        ("apps", "v1", "Deployment") => "apps/v1.Deployment",
        ("apps", "v1", "DaemonSet") => "apps/v1.DaemonSet",
        ("apps", "v1", "StatefulSet") => "apps/v1.StatefulSet",
        ("apps", "v1", "ReplicaSet") => "apps/v1.ReplicaSet",
        ("discovery.k8s.io", "v1", "EndpointSlice") => "discovery/v1.EndpointSlice",
        _ => return None,
    })
}

/// Unknown fields of a built-in kind's object, in file order.
pub(crate) fn unknown_builtin_fields(
    root: &'static str,
    object: &Spanned<Yaml>,
) -> Vec<UnknownField> {
    let mut out = Vec::new();
    walk_type(root, object, &FieldPath::default(), &mut out);
    out
}

/// Unknown fields of an Antrea CRD object: `spec`/`status` by its schema, `metadata`
/// as ObjectMeta.
pub(crate) fn unknown_crd_fields(schema: &Schema, object: &Spanned<Yaml>) -> Vec<UnknownField> {
    let mut out = Vec::new();
    let Yaml::Map(entries) = &object.value else {
        return out;
    };
    let root = FieldPath::default();
    for (key, value) in entries {
        let path = root.child(&key.value);
        match key.value.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => walk_type("meta/v1.ObjectMeta", value, &path, &mut out),
            name => match schema.property(name) {
                Some(s) => walk_crd(s, value, &path, &mut out),
                None => out.push(unknown(
                    path,
                    key,
                    ["apiVersion", "kind", "metadata"]
                        .into_iter()
                        .chain(schema.property_names()),
                )),
            },
        }
    }
    out
}

fn unknown(
    path: FieldPath,
    key: &Spanned<String>,
    known: impl Iterator<Item = &'static str>,
) -> UnknownField {
    UnknownField {
        path,
        at: key.referenced,
        suggestion: closest(&key.value, known),
    }
}

fn walk_crd(schema: &Schema, node: &Spanned<Yaml>, path: &FieldPath, out: &mut Vec<UnknownField>) {
    match &node.value {
        Yaml::Map(entries) => {
            if let Some(values) = schema.additional_properties() {
                for (key, value) in entries {
                    walk_crd(values, value, &path.child(&key.value), out);
                }
            } else if schema.has_properties() {
                for (key, value) in entries {
                    let child = path.child(&key.value);
                    match schema.property(&key.value) {
                        Some(s) => walk_crd(s, value, &child, out),
                        None => out.push(unknown(child, key, schema.property_names())),
                    }
                }
            }
        }
        Yaml::Seq(items) => {
            if let Some(item) = schema.items() {
                for (i, v) in items.iter().enumerate() {
                    walk_crd(item, v, &path.index(i), out);
                }
            }
        }
        _ => {}
    }
}

fn walk_type(ty: &str, node: &Spanned<Yaml>, path: &FieldPath, out: &mut Vec<UnknownField>) {
    let table = table();
    let Some(fields) = table.get(ty) else {
        return;
    };
    let Yaml::Map(entries) = &node.value else {
        return;
    };
    for (key, value) in entries {
        let child = path.child(&key.value);
        match fields.iter().find(|(name, _)| *name == key.value) {
            Some((_, shape)) => walk_shape(shape, value, &child, out),
            None => out.push(unknown(child, key, fields.iter().map(|(n, _)| *n))),
        }
    }
}

fn walk_shape(shape: &str, node: &Spanned<Yaml>, path: &FieldPath, out: &mut Vec<UnknownField>) {
    if let Some(item) = shape.strip_prefix('[') {
        if let Yaml::Seq(items) = &node.value {
            for (i, v) in items.iter().enumerate() {
                walk_shape(item, v, &path.index(i), out);
            }
        }
    } else if let Some(value) = shape.strip_prefix('{') {
        if let Yaml::Map(entries) = &node.value {
            for (k, v) in entries {
                walk_shape(value, v, &path.child(&k.value), out);
            }
        }
    } else if shape != "s" && shape != "*" {
        walk_type(shape, node, path, out);
    }
}

/// `type → [(field, shape)]` from `kubernetes-fields.txt`.
fn table() -> &'static BTreeMap<&'static str, Vec<(&'static str, &'static str)>> {
    static TABLE: OnceLock<BTreeMap<&'static str, Vec<(&'static str, &'static str)>>> =
        OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = BTreeMap::new();
        for line in include_str!("kubernetes-fields.txt").lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let mut words = line.split(' ');
            let Some(name) = words.next() else { continue };
            let fields = words.filter_map(|w| w.split_once('=')).collect();
            t.insert(name, fields);
        }
        t
    })
}

/// The known name closest to `given`: same letters in another case, or at most two
/// edits away (and shorter than the word). `None` if nothing is that close.
pub(crate) fn closest<'a>(given: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let lower = given.to_ascii_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for k in known {
        let d = if k.to_ascii_lowercase() == lower {
            0
        } else {
            edit_distance(&lower, &k.to_ascii_lowercase())
        };
        if d <= 2 && d < k.len() && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Spanned<Yaml> {
        crate::input::from_str(text).unwrap()
    }

    #[test]
    fn every_shape_in_the_table_names_a_type_of_the_table() {
        let t = table();
        assert!(t.len() > 100, "the generated table is loaded");
        for (ty, fields) in t {
            for (field, shape) in fields {
                let base = shape.trim_start_matches(['[', '{']);
                assert!(
                    base == "s" || base == "*" || t.contains_key(base),
                    "{ty}.{field} refers to {base}, which the table lacks"
                );
            }
        }
    }

    #[test]
    fn pod_fields_antlab_does_not_model_are_accepted() {
        let pod = tree(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  ownerReferences: [{apiVersion: v1, kind: X, name: y, uid: z}]\n  creationTimestamp: null\nspec:\n  tolerations: [{operator: Exists}]\n  containers:\n  - name: c\n    image: nginx\n    resources: {limits: {cpu: 100m}}\n    volumeMounts: [{name: v, mountPath: /x}]\n  volumes: [{name: v, emptyDir: {}}]\nstatus: {phase: Running, podIP: 10.0.0.1}\n",
        );
        assert_eq!(unknown_builtin_fields("core/v1.Pod", &pod), vec![]);
    }

    #[test]
    fn misspelt_fields_are_found_with_their_path_and_place() {
        let d = tree(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, lables: {a: b}}\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        imagePullPolcy: Always\n",
        );
        let u = unknown_builtin_fields("apps/v1.Deployment", &d);
        let paths: Vec<&str> = u.iter().map(|u| u.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "metadata.lables",
                "spec.template.spec.containers[0].imagePullPolcy"
            ]
        );
        assert_eq!((u[1].at.line(), u[1].at.column()), (9, 9));
        assert_eq!(u[0].suggestion, Some("labels"));
        assert_eq!(u[1].suggestion, Some("imagePullPolicy"));
        assert_eq!(
            strict_message(&u[1..]),
            "strict decoding error: unknown field \"spec.template.spec.containers[0].imagePullPolcy\" (did you mean \"imagePullPolicy\"?)"
        );
    }

    #[test]
    fn closest_names() {
        let known = ["subnetInfo", "ipRanges", "nodeSelector"];
        assert_eq!(closest("subnetinfo", known.into_iter()), Some("subnetInfo"));
        assert_eq!(closest("ipRange", known.into_iter()), Some("ipRanges"));
        assert_eq!(closest("bandwidth", known.into_iter()), None);
    }
}
