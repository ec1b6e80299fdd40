//! A manifest document as a generic YAML tree with positions: what the API server
//! sees as JSON, plus where each key and value was written. Strict field checks
//! ([`super::schema`]), the CRD schema checks and `kind: List` items are read from it.

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// One YAML value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Yaml {
    /// Keys in file order.
    Map(Vec<(Spanned<String>, Spanned<Yaml>)>),
    Seq(Vec<Spanned<Yaml>>),
    Str(String),
    Int(i128),
    Float(f64),
    Bool(bool),
    Null,
}

impl Yaml {
    /// The value under `key` of a mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Spanned<Yaml>> {
        match self {
            Yaml::Map(entries) => entries.iter().find(|(k, _)| k.value == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Yaml::Str(s) => Some(s),
            _ => None,
        }
    }

    /// What it is, for messages: "a mapping", "a list", "a string", ...
    pub(crate) fn shape(&self) -> &'static str {
        match self {
            Yaml::Map(_) => "a mapping",
            Yaml::Seq(_) => "a list",
            Yaml::Str(_) => "a string",
            Yaml::Int(_) | Yaml::Float(_) => "a number",
            Yaml::Bool(_) => "a boolean",
            Yaml::Null => "null",
        }
    }

    /// The JSON type name the OpenAPI validator uses.
    pub(crate) fn json_type(&self) -> &'static str {
        match self {
            Yaml::Map(_) => "object",
            Yaml::Seq(_) => "array",
            Yaml::Str(_) => "string",
            Yaml::Int(_) => "integer",
            Yaml::Float(_) => "number",
            Yaml::Bool(_) => "boolean",
            Yaml::Null => "null",
        }
    }
}

/// A key: strings as written; numbers and booleans as their text (the API server
/// sees every JSON key as a string).
#[derive(Debug)]
struct KeyText(String);

impl<'de> de::Deserialize<'de> for KeyText {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText("null".into()))
            }
            fn visit_none<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText("null".into()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> de::Deserialize<'de> for Yaml {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Yaml;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a YAML value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Yaml, A::Error> {
                let mut entries = Vec::new();
                while let Some(k) = m.next_key::<Spanned<KeyText>>()? {
                    let key = Spanned {
                        value: k.value.0,
                        referenced: k.referenced,
                        defined: k.defined,
                    };
                    entries.push((key, m.next_value::<Spanned<Yaml>>()?));
                }
                Ok(Yaml::Map(entries))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Yaml, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = s.next_element::<Spanned<Yaml>>()? {
                    items.push(item);
                }
                Ok(Yaml::Seq(items))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Yaml, E> {
                Ok(Yaml::Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Yaml, E> {
                Ok(Yaml::Str(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Yaml, E> {
                Ok(Yaml::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Yaml, E> {
                Ok(Yaml::Int(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Yaml, E> {
                Ok(Yaml::Int(v.into()))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Yaml, E> {
                Ok(Yaml::Int(v))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Yaml, E> {
                Ok(i128::try_from(v).map_or(Yaml::Float(v as f64), Yaml::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Yaml, E> {
                Ok(Yaml::Float(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Yaml, E> {
                Ok(Yaml::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Yaml, E> {
                Ok(Yaml::Null)
            }
            fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Yaml, D::Error> {
                <Yaml as de::Deserialize>::deserialize(d)
            }
        }
        d.deserialize_any(V)
    }
}

/// `spec.ipRanges[0].cidr`-style paths, as the API server prints them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldPath(String);

impl FieldPath {
    pub(crate) fn child(&self, key: &str) -> FieldPath {
        if self.0.is_empty() {
            FieldPath(key.to_string())
        } else {
            FieldPath(format!("{}.{key}", self.0))
        }
    }

    pub(crate) fn index(&self, i: usize) -> FieldPath {
        FieldPath(format!("{}[{i}]", self.0))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a value starts: its (1-based) line and column and its byte offset in the
/// parsed text, if serde-saphyr recorded one.
pub(crate) fn byte_offset(loc: &Location) -> Option<usize> {
    loc.span().byte_offset().map(|o| o as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Spanned<Yaml> {
        crate::input::from_str(text).unwrap()
    }

    #[test]
    fn positions_of_keys_values_and_items() {
        let t = tree("kind: List\nitems:\n- apiVersion: v1\n  kind: Yaml\n- {apiVersion: v1}\n");
        let items = t.value.get("items").unwrap();
        let Yaml::Seq(items) = &items.value else {
            panic!("a list")
        };
        assert_eq!(items.len(), 2);
        let first = &items[0].referenced;
        assert_eq!((first.line(), first.column()), (3, 3));
        let second = &items[1].referenced;
        assert_eq!((second.line(), second.column()), (5, 3));
        let off = byte_offset(second).unwrap();
        assert_eq!(
            &"kind: List\nitems:\n- apiVersion: v1\n  kind: Yaml\n- {apiVersion: v1}\n"
                [off..off + 1],
            "{"
        );
        let Yaml::Map(entries) = &items[0].value else {
            panic!("a mapping")
        };
        assert_eq!(entries[1].0.value, "kind");
        assert_eq!(
            (
                entries[1].0.referenced.line(),
                entries[1].0.referenced.column()
            ),
            (4, 3)
        );
    }

    #[test]
    fn json_parses_as_yaml() {
        let t =
            tree("{\n  \"kind\": \"List\",\n  \"items\": [\n    {\"a\": 5, \"b\": true}\n  ]\n}\n");
        let Yaml::Seq(items) = &t.value.get("items").unwrap().value else {
            panic!()
        };
        assert_eq!(items[0].value.get("a").unwrap().value, Yaml::Int(5));
        assert_eq!(items[0].referenced.line(), 4);
    }
}
