//! `apiVersion`, `kind` and `metadata`, read from a document's tree: what every
//! object has, read before its kind's typed shape.

use indexmap::IndexMap;
use serde_saphyr::Spanned;

use super::tree::Yaml;
use super::{Ctx, ObjectMeta};
use crate::input::InputError;

/// A string field of a mapping; `None` if absent, null or empty; an error if it holds
/// something else.
pub(super) fn string(
    ctx: &Ctx<'_>,
    map: &Yaml,
    key: &str,
) -> Result<Option<Spanned<String>>, InputError> {
    match map.get(key) {
        None => Ok(None),
        Some(v) => match &v.value {
            Yaml::Null => Ok(None),
            Yaml::Str(s) if s.is_empty() => Ok(None),
            Yaml::Str(s) => Ok(Some(Spanned {
                value: s.clone(),
                referenced: v.referenced,
                defined: v.defined,
            })),
            other => Err(ctx.error(
                v,
                format!(
                    "{key}: expected a string, found {}{}",
                    other.shape(),
                    quote_hint(other)
                ),
            )),
        },
    }
}

/// `metadata` as antlab keeps it. Label and annotation values must be strings, as
/// the API server's decoder requires.
pub(super) fn meta(
    ctx: &Ctx<'_>,
    tree: &Spanned<Yaml>,
    needs: &str,
) -> Result<ObjectMeta, InputError> {
    let Some(m) = tree.value.get("metadata").filter(|m| m.value != Yaml::Null) else {
        return Err(ctx.error(tree, format!("missing metadata: {needs}")));
    };
    if !matches!(m.value, Yaml::Map(_)) {
        return Err(ctx.error(
            m,
            format!("metadata: expected a mapping, found {}", m.value.shape()),
        ));
    }
    let name = string(ctx, &m.value, "name")?
        .ok_or_else(|| ctx.error(m, format!("missing metadata.name: {needs}")))?;
    Ok(ObjectMeta {
        name: name.value,
        namespace: string(ctx, &m.value, "namespace")?.map(|n| n.value),
        labels: string_map(ctx, &m.value, "labels")?,
        annotations: string_map(ctx, &m.value, "annotations")?,
        creation_timestamp: string(ctx, &m.value, "creationTimestamp")?.map(|t| t.value),
        origin: ctx.origin(&tree.referenced),
    })
}

/// `metadata.labels`/`annotations`: a mapping of strings to strings.
fn string_map(
    ctx: &Ctx<'_>,
    meta: &Yaml,
    key: &str,
) -> Result<IndexMap<String, String>, InputError> {
    let mut out = IndexMap::new();
    let Some(v) = meta.get(key) else {
        return Ok(out);
    };
    let entries = match &v.value {
        Yaml::Null => return Ok(out),
        Yaml::Map(entries) => entries,
        other => {
            return Err(ctx.error(
                v,
                format!(
                    "metadata.{key}: expected a mapping, found {}",
                    other.shape()
                ),
            ));
        }
    };
    for (k, value) in entries {
        match &value.value {
            Yaml::Str(s) => {
                out.insert(k.value.clone(), s.clone());
            }
            other => {
                let hint = quote_hint(other);
                return Err(ctx.error(
                    value,
                    format!(
                        "metadata.{key}.{}: expected a string, found {}{hint}",
                        k.value,
                        other.shape()
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// How to make a scalar a string: YAML reads `5`, `true`, and (as kubectl's YAML
/// 1.1 reader does) `y`, `n`, `yes`, `no`, `on`, `off` as numbers or booleans.
fn quote_hint(found: &Yaml) -> &'static str {
    match found {
        Yaml::Int(_) | Yaml::Float(_) => " (quote it to make it a string)",
        Yaml::Bool(_) => {
            " (quote it to make it a string; YAML reads true/false, yes/no, y/n and on/off as booleans)"
        }
        _ => "",
    }
}
