//! User input errors that point at a place: `file:line:column: what was expected`.
//!
//! Every loader (topology, scenario, manifests) reports through [`InputError`], so
//! the CLI can print one clear line and exit 2, whatever went wrong.

use std::fmt;

use serde_saphyr::{Location, Spanned};

/// A problem in a file the user gave, with its position (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InputError {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl InputError {
    pub fn new(file: &str, line: u64, column: u64, message: impl Into<String>) -> Self {
        InputError {
            file: file.to_string(),
            line: line.max(1),
            column: column.max(1),
            message: message.into(),
        }
    }

    /// An error at a location serde-saphyr recorded.
    pub fn at(file: &str, loc: &Location, message: impl Into<String>) -> Self {
        InputError::new(file, loc.line(), loc.column(), message)
    }

    /// An error at the place a spanned value came from.
    pub fn at_value<T>(file: &str, value: &Spanned<T>, message: impl Into<String>) -> Self {
        InputError::at(file, &value.referenced, message)
    }

    /// Turns a YAML/serde error into an `InputError`, keeping serde-saphyr's
    /// position and the first line of its message (the rest is a source snippet
    /// we do not need, since we print file:line:column ourselves).
    pub fn from_yaml(file: &str, err: &serde_saphyr::Error) -> Self {
        let (line, column) = err
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        InputError::new(file, line, column, yaml_message(err))
    }
}

/// The human part of a serde-saphyr error, without its "at line X column Y" suffix
/// and snippet.
fn yaml_message(err: &serde_saphyr::Error) -> String {
    let full = err.to_string();
    let first = full
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid YAML")
        .trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // serde-saphyr may lead with its own "line N column M: "; we print our own.
    let first = match first.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((pos, rest)) if pos.contains(" column ") => rest,
        _ => first,
    };
    match first.find(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first.to_string(),
    }
}

/// Deserializes one YAML document, mapping errors to `InputError`.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T, InputError> {
    serde_saphyr::from_str(text).map_err(|e| InputError::from_yaml(file, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Cfg {
        name: String,
        count: u32,
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let err = parse_yaml::<Cfg>("x.yaml", "name: a\ncount: 1\nbogus: 2\n").unwrap_err();
        assert_eq!((err.line, err.column), (3, 1));
        assert!(
            err.message.contains("unknown field `bogus`"),
            "{}",
            err.message
        );
        assert!(err.to_string().starts_with("x.yaml:3:1: "), "{err}");
    }

    #[test]
    fn wrong_type_names_the_value() {
        let err = parse_yaml::<Cfg>("x.yaml", "name: a\ncount: lots\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(!err.message.contains('\n'));
    }
}
