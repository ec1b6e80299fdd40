//! User input errors that point at a place: `file:line:column: what was expected`.
//!
//! Every loader (topology, scenario, manifests, antrea-config, kind imports) reports
//! through [`InputError`], so the CLI can print one clear line and exit 2, whatever
//! went wrong. YAML errors are put in antlab's words by [`describe`]: no library
//! internals, no source snippets.
//!
//! ## When a message may quote the file
//!
//! A path in a scenario or on the command line can name any file (`topology:
//! /etc/shadow`). antlab quotes text from a file (a key, a value) in an error only
//! once the file is *recognised* as what it was given as:
//!
//! - a scenario, topology or other single-document format: its top level is a
//!   mapping and, among the top-level keys read before the error, at least one is a
//!   key of that format (`name`, `nodes`, `steps`, ...);
//! - a Kubernetes manifest document (or `kind: List` item): its top-level keys read
//!   before the error include both `apiVersion` and `kind`.
//!
//! Until then a message says where the problem is and what was expected, never what
//! was found: `unknown field` without the field, `duplicate key` without the key,
//! `expected a mapping` without the value. YAML syntax errors carry no file text
//! (except an unexpected character, which is then left out too). A file that is not
//! UTF-8 text, not a regular file, or too big is refused before it is parsed, by the
//! CLI's file reader, without showing any of it.

use std::fmt;

use serde_saphyr::{Location, Spanned};

mod describe;
mod recognise;

/// May an error message quote text from the file? See the module doc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quoting {
    /// The file is recognised: keys and values may appear in messages.
    Quote,
    /// Not (yet) recognised: messages say where and what was expected only.
    Withhold,
}

pub use recognise::{has_top_level_keys, top_level_keys};

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

    /// Turns a YAML/serde error into an `InputError` in antlab's words, at
    /// serde-saphyr's position. The file is taken as recognised (its text may be
    /// quoted); loaders that cannot know that use [`parse_yaml`].
    pub fn from_yaml(file: &str, err: &serde_saphyr::Error) -> Self {
        InputError::from_yaml_quoting(file, err, Quoting::Quote)
    }

    /// As [`InputError::from_yaml`], quoting file text only if `quoting` allows.
    pub fn from_yaml_quoting(file: &str, err: &serde_saphyr::Error, quoting: Quoting) -> Self {
        let (loc, message) = describe::describe(err, quoting);
        let (line, column) = loc.map(|l| (l.line(), l.column())).unwrap_or((1, 1));
        InputError::new(file, line, column, message)
    }
}

/// Deserializes one YAML document, mapping errors to `InputError` in antlab's words.
/// Text from the file is quoted in a message only if the file is recognised as the
/// format `T` describes (see the module doc).
pub fn parse_yaml<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T, InputError> {
    from_str(text).map_err(|e| {
        let quoting = recognise::quoting_for::<T>(text);
        InputError::from_yaml_quoting(file, &e, quoting)
    })
}

/// serde-saphyr with antlab's options: limits scaled to the largest files antlab
/// reads (see [`MAX_NODES`]), duplicate keys refused, no source snippets (we print
/// `file:line:column` and never echo lines).
pub fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, options(serde_saphyr::DuplicateKeyPolicy::Error))
}

/// The most YAML values (mappings, lists, scalars) one document may hold. A
/// 64 MiB manifest of small objects has about 10 million; serde-saphyr's default
/// (250 000) refused `antlab gen`'s large clusters.
pub const MAX_NODES: usize = 20_000_000;
/// The deepest nesting of mappings and lists accepted.
pub const MAX_DEPTH: usize = 64;

pub(crate) fn options(duplicates: serde_saphyr::DuplicateKeyPolicy) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = MAX_NODES;
    budget.max_events = 2 * MAX_NODES;
    budget.max_depth = MAX_DEPTH;
    budget.max_reader_input_bytes = None;
    budget.max_total_scalar_bytes = 256 * 1024 * 1024;
    // Anchors in manifests are small snippets; an alias bomb is refused early.
    budget.max_recorded_anchor_events = 100_000;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.duplicate_keys = duplicates;
    options.with_snippet = false;
    options.crop_radius = 0;
    options
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

    #[test]
    fn library_wording_never_reaches_the_user() {
        let e = parse_yaml::<Cfg>("x.yaml", "name: a\nname: b\ncount: 1\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 1));
        assert_eq!(
            e.message,
            "duplicate key `name`: a mapping names each key once"
        );
        let deep = format!("name: {}{}\n", "[".repeat(100), "]".repeat(100));
        let e = parse_yaml::<serde_json::Value>("x.yaml", &deep).unwrap_err();
        assert_eq!(e.message, "the YAML nests deeper than 64 levels");
        let e = parse_yaml::<Cfg>("x.yaml", "name: 'unclosed\ncount: 1\n").unwrap_err();
        assert!(e.message.starts_with("YAML syntax error: "), "{e}");
        let e = parse_yaml::<Cfg>("x.yaml", "name: a\ncount: -1\n").unwrap_err();
        assert_eq!(e.message, "expected an integer from 0 to 4294967295");
        let e = parse_yaml::<Cfg>("x.yaml", "name: [a]\ncount: 1\n").unwrap_err();
        assert_eq!(e.message, "expected a string");
        for e in [
            parse_yaml::<Cfg>("x.yaml", "name: a\n---\nname: b\n").unwrap_err(),
            parse_yaml::<Cfg>("x.yaml", "count: 1\n").unwrap_err(),
        ] {
            for internal in ["Options", "Policy", "budget", "struct ", "u32"] {
                assert!(!e.message.contains(internal), "{e}");
            }
        }
    }

    #[test]
    fn an_unrecognised_file_is_not_quoted() {
        let shadow = "root:$6$hash:20228:0:99999:7:::\nbin:*:20228::::::\n";
        let e = parse_yaml::<Cfg>("/etc/shadow", shadow).unwrap_err();
        assert!(
            !e.message.contains("hash") && !e.message.contains("root"),
            "{e}"
        );
        assert!(e.message.contains("the file is not shown"), "{e}");
        // Duplicate keys are withheld too until the file is recognised.
        let e = parse_yaml::<Cfg>("f", "secret: a\nsecret: b\n").unwrap_err();
        assert!(!e.message.contains("secret"), "{e}");
        // Once a key of the format is seen, the user's own typo is quoted.
        let e = parse_yaml::<Cfg>("f", "name: a\ncuont: 1\n").unwrap_err();
        assert!(e.message.contains("unknown field `cuont`"), "{e}");
    }
}
