//! Is a file what it was given as? Read only its top-level keys, tolerantly, to
//! decide whether an error may quote it (the rule is in the module doc of
//! [`crate::input`]).

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use super::Quoting;

/// The string keys of the top-level mapping, in order, as far as the text can be
/// read: keys before a syntax error (or any other error) are kept. Empty if the top
/// level is not a mapping. Duplicate keys do not stop the reading here.
pub fn top_level_keys(text: &str) -> Vec<String> {
    let keys = RefCell::new(Vec::new());
    let opts = super::options(serde_saphyr::DuplicateKeyPolicy::FirstWins);
    let _ = serde_saphyr::with_deserializer_from_str_with_options(text, opts, |de| {
        TopKeys { keys: &keys }.deserialize(de)
    });
    keys.into_inner()
}

/// Whether every one of `wanted` is among the top-level keys read before any error.
pub fn has_top_level_keys(text: &str, wanted: &[&str]) -> bool {
    let keys = top_level_keys(text);
    wanted.iter().all(|w| keys.iter().any(|k| k == w))
}

/// Quote the file if its top level names at least one field of `T`.
pub(crate) fn quoting_for<T: de::DeserializeOwned>(text: &str) -> Quoting {
    let fields = field_names::<T>();
    if fields.is_empty() {
        // Not a struct: there is no key set to recognise it by; the caller parses
        // text the user wrote for this purpose.
        return Quoting::Quote;
    }
    let keys = top_level_keys(text);
    if keys.iter().any(|k| fields.contains(&k.as_str())) {
        Quoting::Quote
    } else {
        Quoting::Withhold
    }
}

struct TopKeys<'a> {
    keys: &'a RefCell<Vec<String>>,
}

impl<'de> DeserializeSeed<'de> for TopKeys<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopKeys<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML document")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<KeyText>()? {
            if let KeyText(Some(k)) = key {
                self.keys.borrow_mut().push(k);
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A mapping key: its text if it is a string, else `None`.
struct KeyText(Option<String>);

impl<'de> de::Deserialize<'de> for KeyText {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(Some(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<KeyText, E> {
                Ok(KeyText(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<KeyText, E> {
                Ok(KeyText(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<KeyText, E> {
                Ok(KeyText(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<KeyText, E> {
                Ok(KeyText(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<KeyText, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(KeyText(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<KeyText, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(KeyText(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// The field names a derived `Deserialize` struct declares (through `Option` and
/// newtype wrappers; not through `Spanned`); empty if `T` is not a struct.
pub(crate) fn field_names<T: de::DeserializeOwned>() -> &'static [&'static str] {
    let found = std::cell::Cell::new(&[][..]);
    let _ = T::deserialize(FieldProbe(&found));
    found.get()
}

struct FieldProbe<'a>(&'a std::cell::Cell<&'static [&'static str]>);

impl<'de> de::Deserializer<'de> for FieldProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("probe"))
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.set(fields);
        Err(de::Error::custom("probe"))
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_some(self)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, Self::Error> {
        v.visit_newtype_struct(self)
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        nodes: Option<u32>,
    }

    #[test]
    fn field_names_see_through_option() {
        assert_eq!(field_names::<Doc>(), &["name", "nodes"]);
        assert_eq!(field_names::<Option<Doc>>(), &["name", "nodes"]);
        assert!(field_names::<Vec<String>>().is_empty());
    }

    #[test]
    fn keys_before_a_syntax_error_are_kept() {
        let keys = top_level_keys("name: a\nnodes: 3\nbad: [\n");
        assert_eq!(keys, ["name", "nodes", "bad"]);
        assert_eq!(top_level_keys("name: a\nname: b\n"), ["name"]);
        assert!(top_level_keys("just text\n").is_empty());
        assert_eq!(
            top_level_keys("root:*:20228:0:99999:7:::\n"),
            ["root:*:20228:0:99999:7::"]
        );
    }

    #[test]
    fn a_file_is_quoted_only_when_recognised() {
        assert_eq!(quoting_for::<Doc>("name: x\nbogus: 1\n"), Quoting::Quote);
        assert_eq!(
            quoting_for::<Doc>("root:*:20228:0:99999:7:::\n"),
            Quoting::Withhold
        );
        assert_eq!(quoting_for::<Doc>("- a\n- b\n"), Quoting::Withhold);
    }
}
