//! Kubernetes label selectors and `kubectl label` edits.
//!
//! Semantics follow apimachinery's `labels` package (`k8s.io/apimachinery/pkg/labels/selector.go`,
//! `Requirement.Matches`) and its validation (`metav1/validation.ValidateLabelSelector`,
//! `util/validation.IsQualifiedName`/`IsValidLabelValue`): `NotIn` and `DoesNotExist` match
//! when the key is absent; `In`/`NotIn` need at least one value; `Exists`/`DoesNotExist`
//! take none. An empty selector matches everything; whether an absent selector means
//! "nothing" (Egress `appliedTo`) or "everything" is the caller's business.

use std::fmt;

use indexmap::IndexMap;
use serde_saphyr::{Location, Spanned};

/// A `metav1.LabelSelector`: all `match_labels` and all `match_expressions` must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "RawLabelSelector")]
pub struct LabelSelector {
    pub(crate) match_labels: IndexMap<String, String>,
    pub(crate) match_expressions: Vec<Requirement>,
}

/// One `matchExpressions` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub(crate) key: String,
    pub(crate) operator: Operator,
    /// Empty for `Exists`/`DoesNotExist`, non-empty otherwise (checked at parse time).
    pub(crate) values: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl Operator {
    /// The operator as written in YAML (case-sensitive, like the API server).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::In => "In",
            Operator::NotIn => "NotIn",
            Operator::Exists => "Exists",
            Operator::DoesNotExist => "DoesNotExist",
        }
    }

    fn parse(s: &str) -> Option<Operator> {
        match s {
            "In" => Some(Operator::In),
            "NotIn" => Some(Operator::NotIn),
            "Exists" => Some(Operator::Exists),
            "DoesNotExist" => Some(Operator::DoesNotExist),
            _ => None,
        }
    }
}

impl Requirement {
    /// apimachinery `Requirement.Matches`.
    pub fn matches(&self, labels: &IndexMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.contains(v)),
            Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

impl LabelSelector {
    /// A selector from `matchLabels` only (handy for tests and `kubectl -l a=b`).
    pub fn from_labels<K: Into<String>, V: Into<String>>(
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        LabelSelector {
            match_labels: labels
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            match_expressions: Vec::new(),
        }
    }

    /// No terms at all: matches every label set.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// True if every term holds for `labels`.
    pub fn matches(&self, labels: &IndexMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }
}

/// kubectl's selector string form (`app=a,env in (x,y),!gone`); empty for an empty selector.
impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            let r = if first { Ok(()) } else { f.write_str(",") };
            first = false;
            r
        };
        for (k, v) in &self.match_labels {
            sep(f)?;
            write!(f, "{k}={v}")?;
        }
        for r in &self.match_expressions {
            sep(f)?;
            match r.operator {
                Operator::In => write!(f, "{} in ({})", r.key, r.values.join(","))?,
                Operator::NotIn => write!(f, "{} notin ({})", r.key, r.values.join(","))?,
                Operator::Exists => write!(f, "{}", r.key)?,
                Operator::DoesNotExist => write!(f, "!{}", r.key)?,
            }
        }
        Ok(())
    }
}

/// The YAML shape, with positions kept so a bad expression is reported where it is.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawLabelSelector {
    #[serde(default)]
    match_labels: Option<IndexMap<String, String>>,
    #[serde(default)]
    match_expressions: Option<Vec<Spanned<RawRequirement>>>,
}

#[derive(Debug, serde::Deserialize)]
struct RawRequirement {
    key: Spanned<String>,
    operator: Spanned<String>,
    #[serde(default)]
    values: Option<Vec<String>>,
}

/// A selector that is well-formed YAML but not a valid selector, and where.
/// `at` is `None` when the problem is in `matchLabels` (entries carry no position).
#[derive(Debug)]
pub(crate) struct SelectorError {
    pub(crate) at: Option<Location>,
    pub(crate) message: String,
}

impl RawLabelSelector {
    pub(crate) fn validate(self) -> Result<LabelSelector, SelectorError> {
        let match_labels = self.match_labels.unwrap_or_default();
        for (k, v) in &match_labels {
            let bad = validate_label_key(k)
                .map_err(|reason| format!("invalid label key {k:?} in matchLabels: {reason}"))
                .and_then(|()| {
                    validate_label_value(v).map_err(|reason| {
                        format!("invalid label value {v:?} for {k:?} in matchLabels: {reason}")
                    })
                });
            if let Err(message) = bad {
                return Err(SelectorError { at: None, message });
            }
        }
        let mut match_expressions = Vec::new();
        for raw in self.match_expressions.unwrap_or_default() {
            let at = raw.referenced;
            let raw = raw.value;
            let err = |loc: Location, message: String| SelectorError {
                at: Some(loc),
                message,
            };
            validate_label_key(&raw.key.value).map_err(|reason| {
                err(
                    raw.key.referenced,
                    format!("invalid label key {:?}: {reason}", raw.key.value),
                )
            })?;
            let operator = Operator::parse(&raw.operator.value).ok_or_else(|| {
                err(
                    raw.operator.referenced,
                    format!(
                        "{:?} is not a valid label selector operator (expected In, NotIn, Exists or DoesNotExist)",
                        raw.operator.value
                    ),
                )
            })?;
            let values = raw.values.unwrap_or_default();
            match operator {
                Operator::In | Operator::NotIn if values.is_empty() => {
                    return Err(err(
                        at,
                        format!(
                            "values must be non-empty when operator is {} (key {:?})",
                            operator.as_str(),
                            raw.key.value
                        ),
                    ));
                }
                Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                    return Err(err(
                        at,
                        format!(
                            "values may not be given when operator is {} (key {:?})",
                            operator.as_str(),
                            raw.key.value
                        ),
                    ));
                }
                _ => {}
            }
            for v in &values {
                validate_label_value(v)
                    .map_err(|reason| err(at, format!("invalid label value {v:?}: {reason}")))?;
            }
            match_expressions.push(Requirement {
                key: raw.key.value,
                operator,
                values,
            });
        }
        Ok(LabelSelector {
            match_labels,
            match_expressions,
        })
    }
}

impl TryFrom<RawLabelSelector> for LabelSelector {
    type Error = String;
    fn try_from(raw: RawLabelSelector) -> Result<Self, String> {
        raw.validate().map_err(|e| e.message)
    }
}

/// Checks a label key like `kubernetes.io/os` (apimachinery `IsQualifiedName`):
/// optional DNS-1123 subdomain prefix and `/`, then a name of 1..=63 characters.
pub fn validate_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            return Err("prefix part must be non-empty".into());
        }
        if p.len() > 253 {
            return Err("prefix part must be no more than 253 characters".into());
        }
        let ok = p
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && p.starts_with(|c: char| c.is_ascii_alphanumeric())
            && p.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !ok {
            return Err(
                "prefix part must be a lowercase DNS subdomain (a-z, 0-9, '-', '.')".into(),
            );
        }
    }
    if name.is_empty() {
        return Err("name part must be non-empty".into());
    }
    check_label_name(name).map_err(|r| format!("name part {r}"))
}

/// Checks a label value (apimachinery `IsValidLabelValue`): empty, or a label name.
pub fn validate_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    check_label_name(value)
}

fn check_label_name(s: &str) -> Result<(), String> {
    if s.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    let chars_ok = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    let ends_ok = s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric());
    if chars_ok && ends_ok {
        Ok(())
    } else {
        Err("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character".into())
    }
}

/// One `kubectl label` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelEdit {
    /// `key=value`
    Set { key: String, value: String },
    /// `key-`
    Remove { key: String },
}

impl LabelEdit {
    pub fn key(&self) -> &str {
        match self {
            LabelEdit::Set { key, .. } | LabelEdit::Remove { key } => key,
        }
    }
}

/// Why a `kubectl label` command was refused. Messages follow kubectl's where it has one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LabelEditError {
    #[error("at least one label update is required")]
    Empty,
    #[error("invalid label spec {0:?}: expected key=value to set a label or key- to remove it")]
    Syntax(String),
    #[error("invalid label key {key:?}: {reason}")]
    Key { key: String, reason: String },
    #[error("invalid label value {value:?} for key {key:?}: {reason}")]
    Value {
        key: String,
        value: String,
        reason: String,
    },
    #[error("can not both modify and remove label {0:?} in the same command")]
    ModifyAndRemove(String),
    #[error("label {0:?} is given twice")]
    Duplicate(String),
    #[error("'{key}' already has a value ({current}), and --overwrite is false")]
    NoOverwrite { key: String, current: String },
}

/// Parses `kubectl label` arguments: `key=value` sets, `key-` removes. Arguments may be
/// separated by whitespace or commas (`"a=b,c-"` or `"a=b c-"`); neither can occur
/// inside a valid key or value.
pub fn parse_label_assignments(spec: &str) -> Result<Vec<LabelEdit>, LabelEditError> {
    let mut edits: Vec<LabelEdit> = Vec::new();
    for arg in spec
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|a| !a.is_empty())
    {
        let edit = if let Some((key, value)) = arg.split_once('=') {
            validate_label_key(key).map_err(|reason| LabelEditError::Key {
                key: key.to_string(),
                reason,
            })?;
            validate_label_value(value).map_err(|reason| LabelEditError::Value {
                key: key.to_string(),
                value: value.to_string(),
                reason,
            })?;
            LabelEdit::Set {
                key: key.to_string(),
                value: value.to_string(),
            }
        } else if let Some(key) = arg.strip_suffix('-') {
            if key.is_empty() {
                return Err(LabelEditError::Syntax(arg.to_string()));
            }
            validate_label_key(key).map_err(|reason| LabelEditError::Key {
                key: key.to_string(),
                reason,
            })?;
            LabelEdit::Remove {
                key: key.to_string(),
            }
        } else {
            return Err(LabelEditError::Syntax(arg.to_string()));
        };
        if let Some(prev) = edits.iter().find(|e| e.key() == edit.key()) {
            let both_kinds = matches!(
                (prev, &edit),
                (LabelEdit::Set { .. }, LabelEdit::Remove { .. })
                    | (LabelEdit::Remove { .. }, LabelEdit::Set { .. })
            );
            return Err(if both_kinds {
                LabelEditError::ModifyAndRemove(edit.key().to_string())
            } else {
                LabelEditError::Duplicate(edit.key().to_string())
            });
        }
        edits.push(edit);
    }
    if edits.is_empty() {
        return Err(LabelEditError::Empty);
    }
    Ok(edits)
}

/// Applies edits all-or-nothing, like `kubectl label`: changing an existing value needs
/// `overwrite`; removing an absent label is not an error (kubectl only warns).
/// Returns whether anything changed.
pub fn apply_label_edits(
    labels: &mut IndexMap<String, String>,
    edits: &[LabelEdit],
    overwrite: bool,
) -> Result<bool, LabelEditError> {
    if !overwrite {
        for e in edits {
            if let LabelEdit::Set { key, value } = e
                && let Some(current) = labels.get(key)
                && current != value
            {
                return Err(LabelEditError::NoOverwrite {
                    key: key.clone(),
                    current: current.clone(),
                });
            }
        }
    }
    let mut changed = false;
    for e in edits {
        match e {
            LabelEdit::Set { key, value } => {
                if labels.get(key) != Some(value) {
                    labels.insert(key.clone(), value.clone());
                    changed = true;
                }
            }
            LabelEdit::Remove { key } => {
                // shift_remove keeps the remaining labels in their written order.
                changed |= labels.shift_remove(key).is_some();
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> IndexMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, operator: Operator, values: &[&str]) -> Requirement {
        Requirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn parse(yaml: &str) -> Result<LabelSelector, String> {
        crate::input::parse_yaml::<LabelSelector>("s.yaml", yaml).map_err(|e| e.message)
    }

    #[test]
    fn operators_follow_apimachinery() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        assert!(req("app", Operator::In, &["web", "db"]).matches(&l));
        assert!(!req("app", Operator::In, &["db"]).matches(&l));
        assert!(!req("zone", Operator::In, &["a"]).matches(&l));
        // NotIn matches when the key is absent.
        assert!(req("zone", Operator::NotIn, &["a"]).matches(&l));
        assert!(!req("app", Operator::NotIn, &["web"]).matches(&l));
        assert!(req("app", Operator::NotIn, &["db"]).matches(&l));
        assert!(req("tier", Operator::Exists, &[]).matches(&l));
        assert!(!req("zone", Operator::Exists, &[]).matches(&l));
        assert!(req("zone", Operator::DoesNotExist, &[]).matches(&l));
        assert!(!req("app", Operator::DoesNotExist, &[]).matches(&l));
    }

    #[test]
    fn empty_selector_matches_everything() {
        let s = LabelSelector::default();
        assert!(s.is_empty());
        assert!(s.matches(&labels(&[])));
        assert!(s.matches(&labels(&[("a", "b")])));
    }

    #[test]
    fn all_terms_must_hold() {
        let s = parse(
            "matchLabels: {app: web}\nmatchExpressions:\n- {key: env, operator: In, values: [prod, stage]}\n- {key: canary, operator: DoesNotExist}\n",
        )
        .unwrap();
        assert!(!s.is_empty());
        assert!(s.matches(&labels(&[("app", "web"), ("env", "prod")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("env", "dev")])));
        assert!(!s.matches(&labels(&[("app", "db"), ("env", "prod")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("env", "prod"), ("canary", "1")])));
        assert_eq!(
            s.to_string(),
            "app=web,env in (prod,stage),!canary",
            "kubectl-style rendering"
        );
    }

    #[test]
    fn invalid_selectors_are_refused() {
        let e = parse("matchExpressions:\n- {key: a, operator: In, values: []}\n").unwrap_err();
        assert!(e.contains("values must be non-empty"), "{e}");
        let e = parse("matchExpressions:\n- {key: a, operator: NotIn}\n").unwrap_err();
        assert!(e.contains("non-empty"), "{e}");
        let e =
            parse("matchExpressions:\n- {key: a, operator: Exists, values: [x]}\n").unwrap_err();
        assert!(e.contains("may not be given"), "{e}");
        let e = parse("matchExpressions:\n- {key: a, operator: in, values: [x]}\n").unwrap_err();
        assert!(e.contains("not a valid label selector operator"), "{e}");
        let e = parse("matchLabels: {\"bad key!\": x}\n").unwrap_err();
        assert!(e.contains("invalid label key"), "{e}");
    }

    #[test]
    fn raw_validation_points_at_the_expression() {
        let raw: RawLabelSelector = serde_saphyr::from_str(
            "matchExpressions:\n- key: a\n  operator: Exists\n- key: b\n  operator: In\n",
        )
        .unwrap();
        let e = raw.validate().unwrap_err();
        let at = e.at.unwrap();
        assert_eq!((at.line(), at.column()), (4, 3));
        let raw: RawLabelSelector =
            serde_saphyr::from_str("matchExpressions:\n- key: a\n  operator: Bogus\n").unwrap();
        let at = raw.validate().unwrap_err().at.unwrap();
        assert_eq!((at.line(), at.column()), (3, 13));
    }

    #[test]
    fn label_keys_and_values() {
        assert!(validate_label_key("egress-role").is_ok());
        assert!(validate_label_key("kubernetes.io/os").is_ok());
        assert!(validate_label_key("node-role.kubernetes.io/control-plane").is_ok());
        assert!(validate_label_key("").is_err());
        assert!(validate_label_key("/x").is_err());
        assert!(validate_label_key("Example.com/x").is_err());
        assert!(validate_label_key("-x").is_err());
        assert!(validate_label_key(&"a".repeat(64)).is_err());
        assert!(validate_label_key(&"a".repeat(63)).is_ok());
        assert!(validate_label_value("").is_ok());
        assert!(validate_label_value("egress-node").is_ok());
        assert!(validate_label_value("a b").is_err());
        assert!(validate_label_value("x-").is_err());
    }

    #[test]
    fn kubectl_label_syntax() {
        assert_eq!(
            parse_label_assignments("egress-role=egress-node,old- zone=").unwrap(),
            vec![
                LabelEdit::Set {
                    key: "egress-role".into(),
                    value: "egress-node".into()
                },
                LabelEdit::Remove { key: "old".into() },
                LabelEdit::Set {
                    key: "zone".into(),
                    value: String::new()
                },
            ]
        );
        assert_eq!(parse_label_assignments("  "), Err(LabelEditError::Empty));
        assert_eq!(
            parse_label_assignments("justakey"),
            Err(LabelEditError::Syntax("justakey".into()))
        );
        assert_eq!(
            parse_label_assignments("-"),
            Err(LabelEditError::Syntax("-".into()))
        );
        assert!(matches!(
            parse_label_assignments("=v"),
            Err(LabelEditError::Key { .. })
        ));
        assert!(matches!(
            parse_label_assignments("a=b=c"),
            Err(LabelEditError::Value { .. })
        ));
        assert_eq!(
            parse_label_assignments("a=b a-"),
            Err(LabelEditError::ModifyAndRemove("a".into()))
        );
        assert_eq!(
            parse_label_assignments("a=b,a=c"),
            Err(LabelEditError::Duplicate("a".into()))
        );
        assert_eq!(
            LabelEditError::Syntax("x".into()).to_string(),
            "invalid label spec \"x\": expected key=value to set a label or key- to remove it"
        );
    }

    #[test]
    fn applying_edits_is_all_or_nothing() {
        let mut l = labels(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let edits = parse_label_assignments("b=x,d=4").unwrap();
        let e = apply_label_edits(&mut l, &edits, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "'b' already has a value (2), and --overwrite is false"
        );
        assert_eq!(l, labels(&[("a", "1"), ("b", "2"), ("c", "3")]));
        assert!(apply_label_edits(&mut l, &edits, true).unwrap());
        assert_eq!(l.get("b").map(String::as_str), Some("x"));
        // Same value without --overwrite is fine and changes nothing.
        let same = parse_label_assignments("a=1").unwrap();
        assert!(!apply_label_edits(&mut l, &same, false).unwrap());
        let rm = parse_label_assignments("a- zzz-").unwrap();
        assert!(apply_label_edits(&mut l, &rm, false).unwrap());
        assert_eq!(l.keys().collect::<Vec<_>>(), ["b", "c", "d"]);
    }

    fn label_map() -> impl Strategy<Value = IndexMap<String, String>> {
        proptest::collection::vec(("[abc]", "[xyz]{0,2}"), 0..4)
            .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn in_single_value_equals_match_labels(k in "[abc]", v in "[xyz]{0,2}", l in label_map()) {
            let by_expr = LabelSelector {
                match_labels: IndexMap::new(),
                match_expressions: vec![req(&k, Operator::In, &[v.as_str()])],
            };
            let by_labels = LabelSelector::from_labels([(k.clone(), v.clone())]);
            prop_assert_eq!(by_expr.matches(&l), by_labels.matches(&l));
        }

        #[test]
        fn notin_is_the_negation_of_in(k in "[abc]", v in "[xyz]{0,2}", l in label_map()) {
            let i = req(&k, Operator::In, &[v.as_str()]);
            let n = req(&k, Operator::NotIn, &[v.as_str()]);
            prop_assert_ne!(i.matches(&l), n.matches(&l));
        }
    }
}
