//! serde-saphyr's errors in antlab's words.
//!
//! Every variant is mapped here, so no library wording (`set DuplicateKeyPolicy in
//! Options`, `budget breached: Nodes {..}`, `struct StepDoc`) reaches the user. With
//! [`Quoting::Withhold`] the parts of a message that come from the file (a key, a value,
//! a tag, a character) are left out; see the module doc of [`crate::input`] for when.

use serde_saphyr::Error;
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::granit_parser::ErrorKind;
use serde_saphyr::{ExternalMessageSource, Location};

use super::Quoting;

/// Where the error is (if serde-saphyr knows) and what it means.
pub(crate) fn describe(err: &Error, quoting: Quoting) -> (Option<Location>, String) {
    let quote = quoting == Quoting::Quote;
    let message = match err {
        // Wrappers: the inner error is the one to explain.
        Error::WithSnippet { error, .. } => return describe(error, quoting),
        Error::AliasError { error, .. } => return describe(error, quoting),
        // Our own Deserialize impls (durations, selectors, ...) word these; they may
        // repeat the value they refuse.
        Error::Message { msg, .. } => {
            if quote {
                strip_position(msg).to_string()
            } else {
                "invalid value".to_string()
            }
        }
        Error::ExternalMessage { source, msg, .. } => match source.as_ref() {
            ExternalMessageSource::Parser(scan) => syntax(scan.kind(), quote),
            _ => format!("YAML syntax error: {}", strip_position(msg)),
        },
        Error::Eof { .. } => "unexpected end of the file".to_string(),
        Error::MultipleDocuments { .. } => {
            "more than one YAML document (a `---` line): this file holds one".to_string()
        }
        Error::Unexpected { expected, .. } => format!("expected {}", expected_words(expected)),
        Error::MergeValueNotMapOrSeqOfMaps { .. } => {
            "a `<<` merge takes a mapping or a list of mappings".to_string()
        }
        Error::MergeKeyNotAllowed { .. } => "`<<` merge keys are not allowed here".to_string(),
        Error::InvalidBinaryBase64 { .. } => "a !!binary value is not valid base64".to_string(),
        Error::BinaryNotUtf8 { .. } => "a !!binary value is not UTF-8 text".to_string(),
        Error::TaggedScalarCannotDeserializeIntoString { .. } => {
            "a tagged value cannot be used as a string here".to_string()
        }
        Error::UnexpectedSequenceEnd { .. } => "a list ends where a value was expected".to_string(),
        Error::UnexpectedMappingEnd { .. } => {
            "a mapping ends where a value was expected".to_string()
        }
        Error::InvalidBooleanStrict { .. } => "expected true or false".to_string(),
        Error::InvalidCharNull { .. } | Error::InvalidCharNotSingleScalar { .. } => {
            "expected a single character".to_string()
        }
        Error::NullIntoString { .. } => "expected a string, found null".to_string(),
        Error::BytesNotSupportedMissingBinaryTag { .. } => {
            "expected a value tagged !!binary".to_string()
        }
        Error::UnexpectedValueForUnit { .. } | Error::ExpectedEmptyMappingForUnitStruct { .. } => {
            "expected nothing (null) here".to_string()
        }
        Error::ExpectedStringKeyForExternallyTaggedEnum { .. }
        | Error::ExternallyTaggedEnumExpectedScalarOrMapping { .. }
        | Error::UnexpectedValueForUnitEnumVariant { .. }
        | Error::ExpectedMappingEndAfterEnumVariantValue { .. } => {
            "expected one of the listed words, or a mapping with one of them as its only key"
                .to_string()
        }
        Error::InvalidUtf8Input => "the file is not UTF-8 text".to_string(),
        Error::AliasReplayCounterOverflow { .. }
        | Error::AliasReplayLimitExceeded { .. }
        | Error::AliasExpansionLimitExceeded { .. }
        | Error::AliasReplayStackDepthExceeded { .. } => {
            "YAML aliases (`*name`) expand to more than antlab reads".to_string()
        }
        Error::RecursiveReferencesRequireWeakTypes { .. } => {
            "a YAML alias refers to the node that contains it".to_string()
        }
        Error::FoldedBlockScalarMustIndentContent { .. } => {
            "a block scalar (`|` or `>`) must indent its lines".to_string()
        }
        Error::InvalidScalar { ty, .. } => format!("expected {}", expected_words(ty)),
        Error::NonFiniteFloat { .. } => "expected a finite number".to_string(),
        Error::SerdeInvalidType {
            unexpected,
            expected,
            ..
        }
        | Error::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => {
            let expected = expected_words(expected);
            if quote {
                format!("expected {expected}, found {}", found_words(unexpected))
            } else {
                format!("expected {expected}")
            }
        }
        Error::SerdeInvalidLength { len, expected, .. } => format!(
            "expected {}, found {len} item{}",
            expected_words(expected),
            if *len == 1 { "" } else { "s" }
        ),
        Error::SerdeUnknownVariant {
            variant, expected, ..
        } => {
            let allowed = one_of(expected);
            if quote {
                format!("unknown value `{variant}`, expected {allowed}")
            } else {
                format!("unknown value, expected {allowed}")
            }
        }
        Error::SerdeUnknownField {
            field, expected, ..
        } => {
            let allowed = if expected.is_empty() {
                "no fields here".to_string()
            } else {
                one_of(expected)
            };
            if quote {
                format!("unknown field `{field}`, expected {allowed}")
            } else {
                format!(
                    "unknown field (the file is not shown: none of its top-level keys is one \
                     antlab expects here), expected {allowed}"
                )
            }
        }
        Error::SerdeMissingField { field, .. } => format!("missing field `{field}`"),
        Error::UnexpectedContainerEndWhileReadingKeyNode { .. }
        | Error::ContainerEndMismatch { .. }
        | Error::UnexpectedContainerEndWhileSkippingNode { .. } => {
            "the YAML structure ends unexpectedly here".to_string()
        }
        Error::DuplicateMappingKey { key, .. } => match (quote, key) {
            (true, Some(k)) => format!("duplicate key `{k}`: a mapping names each key once"),
            _ => "duplicate key: a mapping names each key once".to_string(),
        },
        Error::TaggedEnumMismatch { .. } | Error::SerdeVariantId { .. } => {
            "the value's tag does not fit here".to_string()
        }
        Error::UnknownAnchor { .. } => "a YAML alias (`*name`) names no anchor".to_string(),
        Error::Budget { breach, .. } => budget_words(breach),
        Error::IOError { .. } => "the file could not be read".to_string(),
        Error::QuotingRequired { .. } => "this value must be quoted to be a string".to_string(),
        Error::IndentationError { .. } => "invalid indentation".to_string(),
        Error::UnsupportedTag { tag, .. } => {
            if quote {
                format!("unsupported YAML tag `{tag}`")
            } else {
                "unsupported YAML tag".to_string()
            }
        }
        Error::CyclicInclude { .. }
        | Error::UnsupportedIncludeForm { .. }
        | Error::ResolverError { .. } => "`!include` is not supported".to_string(),
        Error::UnresolvedProperty { .. }
        | Error::InvalidPropertyName { .. }
        | Error::PropertyRequiredButUnset { .. }
        | Error::PropertyRequiredButEmpty { .. } => {
            "`${...}` substitutions are not supported".to_string()
        }
        // Raised only by options antlab does not use, or by the library's own
        // invariants; say where, not how.
        _ => "invalid YAML".to_string(),
    };
    (err.location(), message)
}

/// A YAML syntax error from the parser; only "unexpected character" carries file
/// content (the character), so only it changes when content is withheld.
fn syntax(kind: &ErrorKind, quote: bool) -> String {
    let what = match kind {
        ErrorKind::UnexpectedCharacter { .. } if !quote => "unexpected character".to_string(),
        ErrorKind::InputByteLimitExceeded { .. } => "the file is larger than antlab reads".into(),
        ErrorKind::RecursionLimitExceeded => "nesting deeper than antlab reads".into(),
        ErrorKind::Custom(_) | ErrorKind::InputIo { .. } | ErrorKind::InputDecoding { .. } => {
            "cannot be read as YAML".into()
        }
        other => other.to_string(),
    };
    format!("YAML syntax error: {what}")
}

/// serde's "expected" texts (from derive and primitive visitors) as a manifest author
/// would say them.
pub(crate) fn expected_words(expected: &str) -> String {
    let e = expected.trim();
    if e.starts_with("struct ") || e == "a map" || e == "map" || e == "mapping" {
        return "a mapping".into();
    }
    if e.starts_with("enum ") {
        return "one of the listed words".into();
    }
    match e {
        "u8" => "an integer from 0 to 255".into(),
        "u16" => "an integer from 0 to 65535".into(),
        "u32" => "an integer from 0 to 4294967295".into(),
        "u64" | "usize" => "an integer of 0 or more".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" | "integer" => "an integer".into(),
        "f32" | "f64" | "float" => "a number".into(),
        "bool" | "a boolean" | "boolean" => "true or false".into(),
        "string" | "a string" | "string scalar" | "char" | "a borrowed string" => "a string".into(),
        "a sequence" | "sequence" | "sequence start" => "a list".into(),
        "mapping start" => "a mapping".into(),
        "option" | "unit" => "a value".into(),
        "a YAML document" | "a Kubernetes object" => "a mapping".into(),
        other => other.to_string(),
    }
}

/// serde's `Unexpected` display (`string "x"`, `integer `5``, `map`) in plain words.
fn found_words(unexpected: &str) -> String {
    match unexpected {
        "map" => "a mapping".into(),
        "sequence" => "a list".into(),
        "unit value" | "unit" | "null" => "null".into(),
        "option" => "a value".into(),
        u => {
            if let Some(rest) = u.strip_prefix("string ") {
                format!("the string {rest}")
            } else if let Some(rest) = u.strip_prefix("integer ") {
                format!("the number {}", rest.trim_matches('`'))
            } else if let Some(rest) = u.strip_prefix("floating point ") {
                format!("the number {}", rest.trim_matches('`'))
            } else if let Some(rest) = u.strip_prefix("boolean ") {
                rest.trim_matches('`').to_string()
            } else {
                u.to_string()
            }
        }
    }
}

fn one_of(words: &[&str]) -> String {
    match words {
        [] => "nothing here".into(),
        [one] => one.to_string(),
        many => format!("one of {}", many.join(", ")),
    }
}

fn budget_words(breach: &BudgetBreach) -> String {
    match breach {
        BudgetBreach::Nodes { .. } | BudgetBreach::Events { .. } => format!(
            "the file holds more than {} YAML values, more than antlab reads",
            super::MAX_NODES
        ),
        BudgetBreach::Depth { .. } => {
            format!("the YAML nests deeper than {} levels", super::MAX_DEPTH)
        }
        BudgetBreach::Aliases { .. }
        | BudgetBreach::Anchors { .. }
        | BudgetBreach::AliasAnchorRatio { .. }
        | BudgetBreach::RecordedAnchorEvents { .. }
        | BudgetBreach::RecordedAnchorBytes { .. } => {
            "YAML anchors and aliases (`&name`, `*name`) expand to more than antlab reads".into()
        }
        BudgetBreach::Documents { .. } => "the file holds too many YAML documents".into(),
        BudgetBreach::ScalarBytes { .. } | BudgetBreach::InputBytes { .. } => {
            "the file holds more text than antlab reads".into()
        }
        BudgetBreach::MergeKeys { .. } => "the file holds too many `<<` merge keys".into(),
        _ => "the YAML is larger than antlab reads".into(),
    }
}

/// Drops a leading `line N column M: ` that some messages carry (we print our own).
pub(crate) fn strip_position(message: &str) -> &str {
    let first = message.lines().next().unwrap_or(message).trim();
    let Some(rest) = first.strip_prefix("line ") else {
        return first;
    };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let Some(rest) = rest.strip_prefix(" column ") else {
        return first;
    };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    rest.strip_prefix(": ").unwrap_or(first)
}
