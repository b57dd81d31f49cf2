//! An optional metadata schema ([`crate::DbOptions::schema`]): the type of each named field,
//! whether it is required, and whether other fields are allowed; checked on every write.

use std::collections::BTreeMap;

use stratovec_formats::metadata::{Metadata, Scalar, Value};

/// The type of a field's values (of each element, for list fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldKind {
    /// `true` or `false`.
    Bool,
    /// A signed 64-bit integer.
    Int,
    /// A float; integers are accepted too.
    Float,
    /// A UTF-8 string.
    Str,
}

/// The declaration of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Type of the value, or of each element of a list.
    pub kind: FieldKind,
    /// The value is a list of `kind`.
    pub list: bool,
    /// Every record must have the field, with a non-null value.
    pub required: bool,
}

impl Field {
    /// An optional (nullable) scalar field of `kind`.
    pub fn new(kind: FieldKind) -> Self {
        Field { kind, list: false, required: false }
    }
    /// An optional list field whose elements are of `kind`.
    pub fn list_of(kind: FieldKind) -> Self {
        Field { kind, list: true, required: false }
    }
    /// Makes the field required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
}

/// Declared metadata fields.
///
/// ```
/// use stratovec::{Field, FieldKind, Schema};
/// let schema = Schema::new()
///     .field("genre", Field::new(FieldKind::Str).required())
///     .field("year", Field::new(FieldKind::Int))
///     .field("tags", Field::list_of(FieldKind::Str))
///     .strict();
/// let mut m = stratovec::Metadata::new();
/// m.insert("genre".into(), stratovec::Value::Str("rock".into()));
/// assert!(schema.check(&m).is_ok());
/// m.insert("year".into(), stratovec::Value::Str("1991".into()));
/// assert!(schema.check(&m).unwrap_err().contains("year"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    fields: BTreeMap<String, Field>,
    strict: bool,
}

impl Schema {
    /// A schema with no fields that allows any other field.
    pub fn new() -> Self {
        Schema::default()
    }

    /// Declares field `name`.
    pub fn field(mut self, name: impl Into<String>, field: Field) -> Self {
        self.fields.insert(name.into(), field);
        self
    }

    /// Rejects fields that are not declared.
    pub fn strict(mut self) -> Self {
        self.strict = true;
        self
    }

    /// Checks one record's metadata.
    ///
    /// # Errors
    /// A message naming the first field that is missing, undeclared (strict schemas) or of
    /// the wrong type.
    pub fn check(&self, metadata: &Metadata) -> Result<(), String> {
        for (name, field) in &self.fields {
            let present = metadata.get(name).is_some_and(|v| *v != Value::Null);
            if field.required && !present {
                return Err(format!("required field {name:?} is missing or null"));
            }
        }
        for (name, value) in metadata {
            let Some(field) = self.fields.get(name) else {
                if self.strict {
                    return Err(format!("field {name:?} is not in the schema"));
                }
                continue;
            };
            if !fits(field, value) {
                let shape = if field.list { "a list of " } else { "" };
                return Err(format!("field {name:?} must be {shape}{:?}, got {value:?}", field.kind));
            }
        }
        Ok(())
    }
}

fn fits(field: &Field, value: &Value) -> bool {
    let scalar = |s: &Scalar| {
        matches!(
            (field.kind, s),
            (FieldKind::Bool, Scalar::Bool(_))
                | (FieldKind::Int, Scalar::Int(_))
                | (FieldKind::Float, Scalar::Float(_) | Scalar::Int(_))
                | (FieldKind::Str, Scalar::Str(_))
        )
    };
    match value {
        Value::Null => true,
        Value::List(items) => field.list && items.iter().all(scalar),
        v => !field.list && v.as_scalar().is_some_and(|s| scalar(&s)),
    }
}
