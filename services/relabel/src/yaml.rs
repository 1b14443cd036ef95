//! Deserializers reproducing `gopkg.in/yaml.v2`'s leniency for relabel config fields, so
//! YAML pasted from Prometheus reads the same: any scalar is taken as text (`regex: true`
//! is the pattern `true`), an explicit null is the zero value (`replacement:` is `""`), and
//! `source_labels: []` is "given, empty" while a null `source_labels` is "not given".
//! Deviation: numbers are re-printed by serde (`1.50` becomes `1.5`; yaml.v2 keeps the text).

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};

struct ScalarText;

impl<'de> Visitor<'de> for ScalarText {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or other scalar")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(format!("{v:?}"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
    fn visit_none<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(ScalarText)
    }
}

/// A present scalar field: text, with null meaning `""`.
pub(crate) fn scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(ScalarText).map(Some)
}

/// A present `modulus`: null means 0.
pub(crate) fn modulus<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v: Option<u64> = serde::Deserialize::deserialize(d)?;
    Ok(Some(v.unwrap_or(0)))
}

struct LabelList;

impl<'de> Visitor<'de> for LabelList {
    type Value = Option<Vec<String>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of label names")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(LabelList)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut names = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(name) = seq.next_element_seed(ScalarSeed)? {
            names.push(name);
        }
        Ok(Some(names))
    }
}

struct ScalarSeed;

impl<'de> de::DeserializeSeed<'de> for ScalarSeed {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(ScalarText)
    }
}

/// `source_labels`: a list (`[]` is `Some(empty)`, as yaml.v2 gives a non-nil slice);
/// null means not given.
pub(crate) fn label_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    d.deserialize_any(LabelList)
}
