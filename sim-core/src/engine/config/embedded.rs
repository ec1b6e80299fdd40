//! A YAML document held in a ConfigMap value (`antrea-agent.conf: |`,
//! kube-proxy's `config.conf: |`), read with errors at their real place.
//!
//! A problem at line `l`, column `c` of the embedded document is reported at
//! the file position the value's [`ValueAt`] maps it to: exactly for literal
//! block scalars and verbatim one-line values; for other styles (folded,
//! escaped) at the value's start, naming the line and column inside it.

use serde::de::{self, Deserialize, DeserializeOwned};
use serde_saphyr::{Location, Spanned};

use crate::input::InputError;
use crate::k8s::{ConfigMap, ValueAt};

/// One value of a ConfigMap, read as a YAML document.
pub(super) struct Embedded<'a> {
    cm: &'a ConfigMap,
    key: &'a str,
    text: &'a str,
    at: Option<&'a ValueAt>,
}

impl<'a> Embedded<'a> {
    /// The value under `key`, if the ConfigMap has one.
    pub fn of(cm: &'a ConfigMap, key: &'a str) -> Option<Embedded<'a>> {
        let text = cm.get(key)?;
        Some(Embedded {
            cm,
            key,
            text,
            at: cm.value_at.get(key),
        })
    }

    /// An error at line `line`, column `column` of the document.
    pub fn error_at(&self, line: u64, column: u64, message: impl Into<String>) -> InputError {
        let message = message.into();
        let what = format!("ConfigMap {}, {}", self.cm.qualified_name(), self.key);
        match self.at.and_then(|at| at.locate(line, column)) {
            Some(o) => o.error(format!("{what}: {message}")),
            None => {
                let origin = self.at.map_or(&self.cm.meta.origin, |at| &at.origin);
                origin.error(format!("{what} line {line} column {column}: {message}"))
            }
        }
    }

    pub fn error(&self, loc: &Location, message: impl Into<String>) -> InputError {
        self.error_at(loc.line(), loc.column(), message)
    }

    pub fn error_on<T>(&self, value: &Spanned<T>, message: impl Into<String>) -> InputError {
        self.error(&value.referenced, message)
    }

    /// The document as `T`; `None` when it is empty (or only comments).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<Option<T>, InputError> {
        serde_saphyr::from_str::<Option<T>>(self.text).map_err(|e| {
            let inner = InputError::from_yaml(self.key, &e);
            self.error_at(inner.line, inner.column, inner.message)
        })
    }
}

/// The shape of a YAML document with the place of every mapping key: what
/// the unknown-key check walks.
#[derive(Debug)]
pub(super) enum Node {
    Map(Vec<(Spanned<String>, Node)>),
    Seq(Vec<Node>),
    Scalar,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a YAML value")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut m: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(k) = m.next_key::<Spanned<String>>()? {
                    entries.push((k, m.next_value::<Node>()?));
                }
                Ok(Node::Map(entries))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(n) = s.next_element::<Node>()? {
                    items.push(n);
                }
                Ok(Node::Seq(items))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_none<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
        }
        d.deserialize_any(V)
    }
}

/// A mapping read with the place of each key, in file order (e.g.
/// `featureGates`, whose names are checked one by one).
#[derive(Debug)]
pub(super) struct SpannedMap<V>(pub Vec<(Spanned<String>, V)>);

impl<V> Default for SpannedMap<V> {
    fn default() -> Self {
        SpannedMap(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for SpannedMap<V> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> de::Visitor<'de> for Visit<V> {
            type Value = SpannedMap<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(k) = m.next_key::<Spanned<String>>()? {
                    entries.push((k, m.next_value::<V>()?));
                }
                Ok(SpannedMap(entries))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(SpannedMap(Vec::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(SpannedMap(Vec::new()))
            }
        }
        d.deserialize_any(Visit(std::marker::PhantomData))
    }
}
