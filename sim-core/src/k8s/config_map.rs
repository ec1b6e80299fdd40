//! `v1/ConfigMap`: string values, and where each is written.
//!
//! `data` values must be strings: the API server decodes `data` as
//! `map[string]string` and refuses anything else ("json: cannot unmarshal
//! object into Go struct field ConfigMap.data of type string"), so antlab
//! refuses it too, at the offending value. A `null` value decodes to the
//! empty string (Go's `encoding/json` leaves a string untouched on null).
//!
//! Antrea's and kube-proxy's settings are YAML documents inside such values
//! (`antrea-agent.conf: |`). To report a problem inside one at its real place
//! in the file, each value keeps a [`ValueAt`]: for a literal block scalar the
//! value's lines are the file's lines with the block indentation cut off, so
//! a line and column inside the value map back exactly.

use indexmap::IndexMap;
use serde::de::{self, IgnoredAny};
use serde_saphyr::Spanned;

use super::{Ctx, ObjectMeta, Origin};
use crate::input::InputError;

/// A `v1/ConfigMap`. Values are kept verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigMap {
    pub meta: ObjectMeta,
    pub(crate) data: IndexMap<String, String>,
    /// Where each value of `data` is written.
    pub(crate) value_at: IndexMap<String, ValueAt>,
}

impl ConfigMap {
    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.data.get(key).map(String::as_str)
    }

    /// `namespace/name`, for messages.
    pub fn qualified_name(&self) -> String {
        let ns = self.meta.namespace.as_deref().unwrap_or("default");
        format!("{ns}/{}", self.meta.name)
    }
}

/// Where a ConfigMap value is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueAt {
    /// The value's first character (for a block scalar, the first character
    /// of its first non-blank line).
    pub(crate) origin: Origin,
    pub(crate) layout: Layout,
}

/// How positions inside a value map to the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// A literal block scalar (`|`, `|-`, `|+`): line `n` of the value is
    /// file line `first_line + n - 1`, and its column `c` is file column
    /// `c + indent`.
    Block { first_line: u64, indent: u64 },
    /// A one-line scalar written as it reads (plain, or quoted without
    /// escapes): column `c` of the value is file column `origin.column + c - 1`.
    Line,
    /// Folded (`>`), escaped or multi-line flow text: positions inside it are
    /// not the file's, so messages name the value's own line and column.
    Opaque,
}

impl ValueAt {
    /// The file position of line `line`, column `column` (1-based) of the
    /// value, when the layout maps it exactly.
    pub fn locate(&self, line: u64, column: u64) -> Option<Origin> {
        let line = line.max(1);
        let column = column.max(1);
        match self.layout {
            Layout::Block { first_line, indent } => Some(Origin {
                file: self.origin.file.clone(),
                line: first_line + line - 1,
                column: column + indent,
            }),
            Layout::Line if line == 1 => Some(Origin {
                file: self.origin.file.clone(),
                line: self.origin.line,
                column: self.origin.column + column - 1,
            }),
            Layout::Line | Layout::Opaque => None,
        }
    }

    /// Moves the position by `lines` and `columns` (an inline manifest
    /// embedded in a scenario file).
    pub fn shift(&mut self, lines: u64, columns: u64) {
        self.origin.line += lines;
        self.origin.column += columns;
        if let Layout::Block { first_line, indent } = &mut self.layout {
            *first_line += lines;
            *indent += columns;
        }
    }
}

#[derive(Debug, serde::Deserialize)]
struct RawConfigMapDoc {
    data: Option<IndexMap<String, Spanned<RawDataValue>>>,
}

/// A ConfigMap value: a string, or the JSON kind of what was found instead.
#[derive(Debug)]
enum RawDataValue {
    Text(String),
    NotText(&'static str),
}

impl<'de> serde::Deserialize<'de> for RawDataValue {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = RawDataValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a ConfigMap value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDataValue, E> {
                Ok(RawDataValue::Text(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<RawDataValue, E> {
                Ok(RawDataValue::NotText("bool"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<RawDataValue, E> {
                Ok(RawDataValue::NotText("number"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<RawDataValue, E> {
                Ok(RawDataValue::NotText("number"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<RawDataValue, E> {
                Ok(RawDataValue::NotText("number"))
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawDataValue, E> {
                Ok(RawDataValue::Text(String::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<RawDataValue, E> {
                Ok(RawDataValue::Text(String::new()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut m: A) -> Result<RawDataValue, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(RawDataValue::NotText("object"))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<RawDataValue, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RawDataValue::NotText("array"))
            }
        }
        d.deserialize_any(V)
    }
}

pub(super) fn parse_config_map(
    ctx: &Ctx<'_>,
    doc: &str,
    meta: ObjectMeta,
) -> Result<ConfigMap, InputError> {
    let raw: RawConfigMapDoc = ctx.reparse(doc)?;
    let doc_lines: Vec<&str> = doc.lines().collect();
    let mut data = IndexMap::new();
    let mut value_at = IndexMap::new();
    for (key, value) in raw.data.unwrap_or_default() {
        match value.value {
            RawDataValue::Text(text) => {
                let loc = value.referenced;
                let layout = layout(&doc_lines, loc.line(), loc.column(), &text);
                let layout = match layout {
                    Layout::Block { first_line, indent } => Layout::Block {
                        first_line: ctx.origin_at(first_line, 1).line,
                        indent,
                    },
                    other => other,
                };
                let origin = ctx.origin(&loc);
                let origin = match layout {
                    // Quoted: the text starts after the quote.
                    Layout::Line if quoted(&doc_lines, loc.line(), loc.column()) => Origin {
                        column: origin.column + 1,
                        ..origin
                    },
                    _ => origin,
                };
                value_at.insert(key.clone(), ValueAt { origin, layout });
                data.insert(key, text);
            }
            RawDataValue::NotText(found) => {
                let ns = meta.namespace.as_deref().unwrap_or("default");
                return Err(ctx.error(
                    &value,
                    format!(
                        "ConfigMap {ns}/{}: data.{key} is not a string; the API server refuses it \
                         (json: cannot unmarshal {found} into Go struct field ConfigMap.data of type string). \
                         Write the value as a string, e.g. a block `{key}: |` with the settings indented under it",
                        meta.name
                    ),
                ));
            }
        }
    }
    Ok(ConfigMap {
        meta,
        data,
        value_at,
    })
}

fn quoted(doc_lines: &[&str], line: u64, column: u64) -> bool {
    doc_lines
        .get((line as usize).wrapping_sub(1))
        .and_then(|l| l.get((column as usize).saturating_sub(1)..))
        .is_some_and(|rest| rest.starts_with('"') || rest.starts_with('\''))
}

/// How `text`, read at document line `line`, column `column`, sits in the
/// document. Verified against the document's lines, so only a layout that
/// reproduces the value is trusted.
fn layout(doc_lines: &[&str], line: u64, column: u64, text: &str) -> Layout {
    let at = |l: u64| doc_lines.get((l as usize).wrapping_sub(1)).copied();
    let value_lines: Vec<&str> = text.split('\n').collect();
    // Trailing empty pieces (the final newline, `|+` keep lines) say nothing.
    let content = value_lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(0, |i| i + 1);
    if content == 0 {
        return Layout::Opaque;
    }
    if content == 1 && !text.trim_end_matches('\n').contains('\n') {
        let Some(doc_line) = at(line) else {
            return Layout::Opaque;
        };
        let rest = doc_line
            .get((column as usize).saturating_sub(1)..)
            .unwrap_or("");
        let one = value_lines[0];
        let verbatim = rest.starts_with(one)
            || (rest.starts_with('"') && !one.contains(['\\', '"']) && rest[1..].starts_with(one))
            || (rest.starts_with('\'') && !one.contains('\'') && rest[1..].starts_with(one));
        // A one-line block scalar (`|` then one line) is also exact this way.
        return if verbatim {
            Layout::Line
        } else {
            Layout::Opaque
        };
    }
    // A block scalar: the location is its first non-blank line.
    let leading = value_lines.iter().take_while(|l| l.is_empty()).count() as u64;
    let Some(first_line) = line.checked_sub(leading) else {
        return Layout::Opaque;
    };
    let indent = column.saturating_sub(1) as usize;
    for (i, value_line) in value_lines[..content].iter().enumerate() {
        let Some(doc_line) = at(first_line + i as u64) else {
            return Layout::Opaque;
        };
        let same = if value_line.is_empty() {
            doc_line.trim().is_empty()
        } else {
            doc_line.len() == indent + value_line.len()
                && doc_line
                    .get(..indent)
                    .is_some_and(|p| p.chars().all(|c| c == ' '))
                && doc_line.get(indent..) == Some(value_line)
        };
        if !same {
            return Layout::Opaque;
        }
    }
    Layout::Block {
        first_line,
        indent: indent as u64,
    }
}
