//! Typed metadata of a row: named fields holding null, bool, i64, f64, string, or a list of
//! those; stored one row per entry of a [`column`](mod@crate::column) (section `metadata`), each row
//! the postcard encoding of its [`Metadata`] map (fields sorted by name).
//!
//! Lists hold scalars only, so decoding never recurses more than one level.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::FormatError;

/// Longest field name, in bytes.
pub const MAX_FIELD_NAME: usize = 256;

/// A non-list metadata value.
#[derive(Debug, Clone, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Scalar {
    /// No value.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A finite 64-bit float.
    Float(f64),
    /// A UTF-8 string.
    Str(String),
}

/// A metadata value: a scalar or a list of scalars.
#[derive(Debug, Clone, PartialEq, PartialOrd, Serialize, Deserialize)]
pub enum Value {
    /// No value.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A finite 64-bit float.
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// A list of scalars.
    List(Vec<Scalar>),
}

/// The metadata of one row: field name → value.
pub type Metadata = BTreeMap<String, Value>;

impl Scalar {
    /// The value as `f64` for numbers (ints and floats compare by value), else `None`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Int(i) => Some(*i as f64),
            Scalar::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// Name of the type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Bool(_) => "bool",
            Scalar::Int(_) => "int",
            Scalar::Float(_) => "float",
            Scalar::Str(_) => "string",
        }
    }
}

impl Value {
    /// The value as a scalar (`None` for a list).
    pub fn as_scalar(&self) -> Option<Scalar> {
        Some(match self {
            Value::Null => Scalar::Null,
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Int(i) => Scalar::Int(*i),
            Value::Float(f) => Scalar::Float(*f),
            Value::Str(s) => Scalar::Str(s.clone()),
            Value::List(_) => return None,
        })
    }

    /// Name of the type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::List(_) => "list",
            v => v.as_scalar().map_or("list", |s| s.type_name()),
        }
    }
}

impl From<Scalar> for Value {
    fn from(s: Scalar) -> Self {
        match s {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => Value::Bool(b),
            Scalar::Int(i) => Value::Int(i),
            Scalar::Float(f) => Value::Float(f),
            Scalar::Str(s) => Value::Str(s),
        }
    }
}

macro_rules! from_scalar {
    ($($t:ty => |$v:ident| $e:expr;)*) => {
        $(
            impl From<$t> for Scalar {
                fn from($v: $t) -> Self {
                    $e
                }
            }
            impl From<$t> for Value {
                fn from($v: $t) -> Self {
                    Scalar::from($v).into()
                }
            }
        )*
    };
}

from_scalar! {
    bool => |v| Scalar::Bool(v);
    i64 => |v| Scalar::Int(v);
    i32 => |v| Scalar::Int(v as i64);
    u32 => |v| Scalar::Int(v as i64);
    f64 => |v| Scalar::Float(v);
    f32 => |v| Scalar::Float(v as f64);
    &str => |v| Scalar::Str(v.to_string());
    String => |v| Scalar::Str(v);
}

impl<T: Into<Scalar>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}

/// Checks field names (1..=256 bytes) and that every float is finite.
///
/// # Errors
/// `Invalid` naming the field.
pub fn validate(m: &Metadata) -> Result<(), FormatError> {
    for (name, v) in m {
        if name.is_empty() || name.len() > MAX_FIELD_NAME {
            return Err(FormatError::invalid(format!("field name of {} bytes (1..={MAX_FIELD_NAME})", name.len())));
        }
        let finite = |s: &Scalar| !matches!(s, Scalar::Float(f) if !f.is_finite());
        let ok = match v {
            Value::Float(f) => f.is_finite(),
            Value::List(l) => l.iter().all(finite),
            _ => true,
        };
        if !ok {
            return Err(FormatError::invalid(format!("field {name:?} holds NaN or infinity")));
        }
    }
    Ok(())
}

/// Most fields in one row's metadata that a write accepts.
pub const MAX_FIELDS_PER_ROW: usize = 256;
/// Longest string value or list element that a write accepts, in bytes (64 KiB). Larger
/// data belongs in the payload.
pub const MAX_STRING_BYTES: usize = 64 << 10;
/// Most elements of a list value that a write accepts.
pub const MAX_LIST_LEN: usize = 4096;
/// Largest metadata of one row that a write accepts, in bytes (1 MiB), counted as the field
/// names and strings plus 9 bytes for every other value.
pub const MAX_ROW_BYTES: usize = 1 << 20;

/// Checks the size limits a write enforces on one row's metadata
/// ([`MAX_FIELDS_PER_ROW`], [`MAX_STRING_BYTES`], [`MAX_LIST_LEN`], [`MAX_ROW_BYTES`]), on
/// top of [`validate`]. Decoders do not apply them, so rows written before they existed
/// stay readable.
///
/// # Errors
/// `Invalid` naming the field and the limit.
pub fn check_write_limits(m: &Metadata) -> Result<(), FormatError> {
    if m.len() > MAX_FIELDS_PER_ROW {
        return Err(FormatError::invalid(format!("{} fields, over the limit of {MAX_FIELDS_PER_ROW}", m.len())));
    }
    let scalar_bytes = |v: &Scalar| match v {
        Scalar::Str(t) => t.len(),
        _ => 9,
    };
    let mut total = 0usize;
    for (name, v) in m {
        let too_long = |t: &str| {
            (t.len() > MAX_STRING_BYTES).then(|| {
                FormatError::invalid(format!("field {name:?} holds a string of {} bytes, over the limit of {MAX_STRING_BYTES}", t.len()))
            })
        };
        total += name.len()
            + match v {
                Value::Str(t) => too_long(t).map_or(Ok(t.len()), Err)?,
                Value::List(l) => {
                    if l.len() > MAX_LIST_LEN {
                        return Err(FormatError::invalid(format!(
                            "field {name:?} holds a list of {} elements, over the limit of {MAX_LIST_LEN}",
                            l.len()
                        )));
                    }
                    for e in l {
                        if let Scalar::Str(t) = e {
                            if let Some(err) = too_long(t) {
                                return Err(err);
                            }
                        }
                    }
                    l.iter().map(scalar_bytes).sum()
                }
                _ => 9,
            };
    }
    if total > MAX_ROW_BYTES {
        return Err(FormatError::invalid(format!("{total} bytes of metadata, over the limit of {MAX_ROW_BYTES}")));
    }
    Ok(())
}

/// Encodes one row's metadata (empty for no fields).
pub fn encode_row(m: &Metadata) -> Vec<u8> {
    if m.is_empty() {
        return Vec::new();
    }
    postcard::to_allocvec(m).expect("metadata serialization cannot fail")
}

/// Decodes one row's metadata; an empty row has no fields.
///
/// # Errors
/// `Invalid` if the bytes do not decode, have trailing bytes, or break [`validate`].
pub fn decode_row(bytes: &[u8]) -> Result<Metadata, FormatError> {
    if bytes.is_empty() {
        return Ok(Metadata::new());
    }
    let (m, rest): (Metadata, _) = postcard::take_from_bytes(bytes).map_err(|e| FormatError::invalid(format!("metadata row: {e}")))?;
    if !rest.is_empty() {
        return Err(FormatError::invalid("metadata row has trailing bytes"));
    }
    validate(&m)?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scalar() -> impl Strategy<Value = Scalar> {
        prop_oneof![
            Just(Scalar::Null),
            any::<bool>().prop_map(Scalar::Bool),
            any::<i64>().prop_map(Scalar::Int),
            (-1e12f64..1e12).prop_map(Scalar::Float),
            "[a-z]{0,8}".prop_map(Scalar::Str),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![scalar().prop_map(Value::from), proptest::collection::vec(scalar(), 0..4).prop_map(Value::List)]
    }

    proptest! {
        #[test]
        fn rows_round_trip(m in proptest::collection::btree_map("[a-z]{1,6}", value(), 0..6)) {
            prop_assert_eq!(decode_row(&encode_row(&m)).unwrap(), m);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = decode_row(&bytes);
        }
    }

    #[test]
    fn rejects_nan_and_bad_names() {
        let mut m = Metadata::new();
        m.insert("x".into(), Value::Float(f64::NAN));
        assert!(validate(&m).is_err());
        assert!(decode_row(&encode_row(&m)).is_err());
        let mut m = Metadata::new();
        m.insert(String::new(), Value::Null);
        assert!(validate(&m).is_err());
        let mut m = Metadata::new();
        m.insert("tags".into(), Value::from(vec!["a", "b"]));
        m.insert("year".into(), 1999.into());
        assert!(validate(&m).is_ok());
    }
}
