//! The items of a `kind: List` document, as `kubectl get ... -o yaml` or `-o json`
//! prints them.
//!
//! Each item is cut out of the document so that its kind's typed parser can read it
//! again, keeping positions: the item's text keeps its lines and columns (the lines
//! before it become empty, the text before it on its first line becomes spaces). A
//! block item ends before the first later line indented less than it; a flow item
//! (`{...}`, JSON) ends at its matching brace.

use serde_saphyr::Spanned;

use super::Ctx;
use super::tree::{Yaml, byte_offset};
use crate::input::InputError;

/// One List item: its text (positions as in the document) and its tree.
pub(super) struct Item {
    pub(super) text: String,
    pub(super) tree: Spanned<Yaml>,
}

pub(super) fn items(
    ctx: &Ctx<'_>,
    doc: &str,
    list: &Spanned<Yaml>,
) -> Result<Vec<Item>, InputError> {
    let Some(items) = list.value.get("items") else {
        return Ok(Vec::new());
    };
    let items = match &items.value {
        Yaml::Null => return Ok(Vec::new()),
        Yaml::Seq(items) => items,
        other => {
            return Err(ctx.error(
                items,
                format!(
                    "items of a List must be a list of Kubernetes objects, found {}",
                    other.shape()
                ),
            ));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if !matches!(item.value, Yaml::Map(_)) {
            return Err(ctx.error(
                item,
                format!(
                    "items[{i}] must be a Kubernetes object (a mapping with apiVersion, kind and metadata), found {}",
                    item.value.shape()
                ),
            ));
        }
        let start = byte_offset(&item.referenced)
            .filter(|o| *o <= doc.len() && doc.is_char_boundary(*o))
            .ok_or_else(|| ctx.error(item, format!("items[{i}]: cannot find where it starts")))?;
        let rest = &doc[start..];
        let len = if rest.starts_with('{') {
            flow_len(rest)
        } else {
            block_len(rest, item.referenced.column().saturating_sub(1) as usize)
        };
        let line = item.referenced.line().max(1) as usize;
        let column = item.referenced.column().max(1) as usize;
        let mut text = String::with_capacity(line + column + len + 1);
        text.extend(std::iter::repeat_n('\n', line - 1));
        text.extend(std::iter::repeat_n(' ', column - 1));
        text.push_str(&rest[..len]);
        text.push('\n');
        out.push(Item {
            text,
            tree: item.clone(),
        });
    }
    Ok(out)
}

/// Bytes of a block item: its first line, then every line that is blank, a comment,
/// or indented at least `indent` columns.
fn block_len(rest: &str, indent: usize) -> usize {
    let mut lines = rest.split_inclusive('\n');
    let mut len = lines.next().map_or(0, str::len);
    let mut kept = len;
    for line in lines {
        let body = line.trim_end_matches(['\n', '\r']);
        let spaces = body.len() - body.trim_start_matches(' ').len();
        let blank = body.trim().is_empty() || body.trim_start().starts_with('#');
        if !blank && spaces < indent {
            break;
        }
        len += line.len();
        if !blank {
            kept = len;
        }
    }
    kept
}

/// Bytes of a flow mapping up to its matching `}`, skipping brackets inside quoted
/// strings (JSON `"..."` with backslash escapes, YAML `'...'` with `''`).
fn flow_len(rest: &str) -> usize {
    let bytes = rest.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'\'' => {
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == b'\'' {
                        if bytes.get(i + 1) == Some(&b'\'') {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    i += 1;
                }
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    rest.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_items_end_at_the_next_dash_or_key() {
        let rest = "apiVersion: v1\n  kind: Node\n\n  # c\n- apiVersion: v1\n";
        assert_eq!(
            &rest[..block_len(rest, 2)],
            "apiVersion: v1\n  kind: Node\n"
        );
        let rest = "a: 1\n  b:\n  - x\nkind: List\n";
        assert_eq!(&rest[..block_len(rest, 2)], "a: 1\n  b:\n  - x\n");
    }

    #[test]
    fn flow_items_end_at_their_brace() {
        let rest = "{\"a\": \"}{\\\"\", \"b\": [1, {\"c\": 2}]},\n{\"d\": 1}";
        assert_eq!(
            &rest[..flow_len(rest)],
            "{\"a\": \"}{\\\"\", \"b\": [1, {\"c\": 2}]}"
        );
        assert_eq!(flow_len("{a: 'x}''y'}, z"), 12);
    }
}
