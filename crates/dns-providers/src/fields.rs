//! The key names of a configuration struct, read from its `Deserialize` impl.

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// The field names `T`'s derived `Deserialize` accepts (after `rename`s), in declaration
/// order; empty when `T` does not deserialize as a struct (a map, an enum, a scalar).
///
/// This is how the configuration code knows which keys of a dns-01 solver table are the
/// solver's own and which belong to the provider, without a hand-copied list.
pub fn field_names<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    // The recorder always refuses to produce a value: only the field list is wanted.
    let _ = T::deserialize(FieldRecorder {
        fields: &mut fields,
    });
    fields
}

/// A deserializer that records the `fields` a struct asks for, then stops.
struct FieldRecorder<'a> {
    fields: &'a mut &'static [&'static str],
}

impl<'de> Deserializer<'de> for FieldRecorder<'_> {
    type Error = de::value::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.fields = fields;
        Err(de::Error::custom("field names recorded"))
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        plain: String,
        #[serde(rename = "renamed_key", default)]
        other: Option<u16>,
    }

    #[test]
    fn a_struct_gives_its_keys_as_written_in_configuration() {
        assert_eq!(field_names::<Sample>(), ["plain", "renamed_key"]);
    }

    #[test]
    fn what_is_not_a_struct_gives_no_keys() {
        assert!(field_names::<String>().is_empty());
        assert!(field_names::<std::collections::BTreeMap<String, String>>().is_empty());
    }
}
