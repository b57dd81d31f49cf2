//! Apache Arrow in and out (feature `arrow`): records to and from [`RecordBatch`]es.
//!
//! # The column convention
//! | column | Arrow type | meaning |
//! |---|---|---|
//! | `id` | `UInt64` (also `Int64`, `UInt32`, `Int32`, non-negative, no nulls) | the key |
//! | `vector` | `FixedSizeList<Float32>` of the database's dimension (also `Float64`/`Float16` items, or `List`/`LargeList` rows of exactly `dim` values; no nulls) | the vector |
//! | `payload` | `Binary` or `LargeBinary` (a null is an empty payload) | the opaque payload |
//! | every other column | `Boolean`, integers, `Float16/32/64`, `Utf8`/`LargeUtf8`/`Utf8View`, `Dictionary` of those, `Null`, or a `List`/`LargeList` of those scalars | a metadata field of that name; a null leaves the field out of that row |
//!
//! The names are [`ArrowColumns`]' defaults and can be changed. Written batches are
//! checked whole before anything is applied: a type or value the engine cannot store is an
//! `InvalidArgument` naming the column (and row), and nothing of the batch is written.
//!
//! Read back ([`Db::scan_arrow`], [`records_to_arrow`]): `id` `UInt64`, `vector`
//! `FixedSizeList<Float32, dim>` (normalised for cosine), `payload` `Binary`, then one
//! column per metadata field, sorted by name, typed from the values: `Boolean`, `Int64`,
//! `Float64` (a field holding integers and floats), `Utf8`, `List` of those, or `Null`
//! (only nulls). A field whose rows hold values of different types (a string in one row,
//! a number in another) is a `Utf8` column of each value's text.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, BinaryArray, FixedSizeListArray, Float32Array, NullArray, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field as ArrowField, Schema as ArrowSchema, SchemaRef};
use stratovec_formats::metadata::{Metadata, Scalar, Value};

use crate::filter::Filter;
use crate::record::{Include, Record, RecordView, WriteBatch};
use crate::{Db, Error, ReadOnlyDb, Result, Scan};

/// The names of the key, vector and payload columns (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrowColumns {
    /// The key column. Default `id`.
    pub id: String,
    /// The vector column. Default `vector`.
    pub vector: String,
    /// The payload column, if any. Default `payload` (used only if the batch has it).
    pub payload: Option<String>,
}

impl Default for ArrowColumns {
    fn default() -> Self {
        ArrowColumns { id: "id".into(), vector: "vector".into(), payload: Some("payload".into()) }
    }
}

/// The records of `batch` (see the module docs for the columns), vectors of `dim` values.
///
/// # Errors
/// `InvalidArgument` naming the column (and row) for a missing key or vector column, a
/// null key or vector, a vector of another length than `dim`, a negative or too large key,
/// a metadata column of a type the engine cannot store, or a NaN metadata float.
pub fn records_from_arrow(batch: &RecordBatch, columns: &ArrowColumns, dim: usize) -> Result<Vec<Record>> {
    let column = |name: &str| {
        batch.column_by_name(name).ok_or_else(|| Error::invalid(format!("arrow: no column {name:?} (columns: {:?})", column_names(batch))))
    };
    let ids = keys(column(&columns.id)?, &columns.id)?;
    let vectors = vectors(column(&columns.vector)?, &columns.vector, dim)?;
    let payload = columns.payload.as_deref().and_then(|p| batch.column_by_name(p).map(|c| (p, c)));
    let payloads = match payload {
        Some((name, c)) => Some(payloads(c, name)?),
        None => None,
    };
    let mut records: Vec<Record> =
        ids.into_iter().zip(vectors.chunks_exact(dim.max(1))).map(|(id, v)| Record::new(id, v.to_vec())).collect();
    if let Some(payloads) = payloads {
        for (r, p) in records.iter_mut().zip(payloads) {
            r.payload = p;
        }
    }
    let skip = [columns.id.as_str(), columns.vector.as_str(), payload.map_or("", |p| p.0)];
    for (r, m) in records.iter_mut().zip(metadata_from_arrow(batch, &skip)?) {
        r.metadata = m;
    }
    Ok(records)
}

/// The metadata of each row of `batch`: every column but those named in `skip`, typed as
/// in the module docs (a null leaves the field out of the row).
///
/// # Errors
/// `InvalidArgument` naming the column and row for a type the engine cannot store or a
/// NaN float.
pub fn metadata_from_arrow(batch: &RecordBatch, skip: &[&str]) -> Result<Vec<Metadata>> {
    let mut rows = vec![Metadata::new(); batch.num_rows()];
    let schema = batch.schema();
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        let name = f.name().as_str();
        if skip.contains(&name) {
            continue;
        }
        for (row, m) in rows.iter_mut().enumerate() {
            if let Some(v) = value_at(c.as_ref(), row).map_err(|why| Error::invalid(format!("arrow: column {name:?}, row {row}: {why}")))? {
                m.insert(name.to_string(), v);
            }
        }
    }
    Ok(rows)
}

fn column_names(batch: &RecordBatch) -> Vec<String> {
    batch.schema().fields().iter().map(|f| f.name().clone()).collect()
}

fn keys(c: &ArrayRef, name: &str) -> Result<Vec<u64>> {
    let bad = |why: String| Error::invalid(format!("arrow: key column {name:?}: {why}"));
    if c.null_count() > 0 {
        return Err(bad("has nulls".into()));
    }
    let signed = |v: i64, row: usize| u64::try_from(v).map_err(|_| bad(format!("row {row}: negative key {v}")));
    match c.data_type() {
        DataType::UInt64 => Ok(c.as_primitive::<UInt64Type>().values().to_vec()),
        DataType::UInt32 => Ok(c.as_primitive::<UInt32Type>().values().iter().map(|&v| v as u64).collect()),
        DataType::Int64 => c.as_primitive::<Int64Type>().values().iter().enumerate().map(|(row, &v)| signed(v, row)).collect(),
        DataType::Int32 => c.as_primitive::<Int32Type>().values().iter().enumerate().map(|(row, &v)| signed(v as i64, row)).collect(),
        other => Err(bad(format!("type {other} (expected UInt64, Int64, UInt32 or Int32)"))),
    }
}

/// The vectors of column `c` as `rows × dim` values, row-major.
fn vectors(c: &ArrayRef, name: &str, dim: usize) -> Result<Vec<f32>> {
    let bad = |why: String| Error::invalid(format!("arrow: vector column {name:?}: {why}"));
    if c.null_count() > 0 {
        return Err(bad("has null vectors".into()));
    }
    let (values, lengths): (ArrayRef, Vec<usize>) = match c.data_type() {
        DataType::FixedSizeList(_, n) => {
            let l = c.as_fixed_size_list();
            let start = l.value_offset_at(0);
            (l.values().slice(start, l.len() * *n as usize), vec![*n as usize; l.len()])
        }
        DataType::List(_) => {
            let l = c.as_list::<i32>();
            let o = l.value_offsets();
            let (a, b) = (o[0] as usize, o[l.len()] as usize);
            (l.values().slice(a, b - a), o.windows(2).map(|w| (w[1] - w[0]) as usize).collect())
        }
        DataType::LargeList(_) => {
            let l = c.as_list::<i64>();
            let o = l.value_offsets();
            let (a, b) = (o[0] as usize, o[l.len()] as usize);
            (l.values().slice(a, b - a), o.windows(2).map(|w| (w[1] - w[0]) as usize).collect())
        }
        other => return Err(bad(format!("type {other} (expected FixedSizeList<Float32> of {dim} values)"))),
    };
    if let Some(row) = lengths.iter().position(|&n| n != dim) {
        return Err(bad(format!("row {row} has {} values, the database's dimension is {dim}", lengths[row])));
    }
    if values.null_count() > 0 {
        return Err(bad("has null values inside vectors".into()));
    }
    match values.data_type() {
        DataType::Float32 => Ok(values.as_primitive::<Float32Type>().values().to_vec()),
        DataType::Float64 => Ok(values.as_primitive::<Float64Type>().values().iter().map(|&v| v as f32).collect()),
        DataType::Float16 => Ok(values.as_primitive::<Float16Type>().values().iter().map(|v| v.to_f32()).collect()),
        other => Err(bad(format!("values of type {other} (expected Float32, Float64 or Float16)"))),
    }
}

fn payloads(c: &ArrayRef, name: &str) -> Result<Vec<Vec<u8>>> {
    let rows = 0..c.len();
    match c.data_type() {
        DataType::Binary => Ok(rows.map(|i| if c.is_null(i) { Vec::new() } else { c.as_binary::<i32>().value(i).to_vec() }).collect()),
        DataType::LargeBinary => Ok(rows.map(|i| if c.is_null(i) { Vec::new() } else { c.as_binary::<i64>().value(i).to_vec() }).collect()),
        other => Err(Error::invalid(format!("arrow: payload column {name:?}: type {other} (expected Binary or LargeBinary)"))),
    }
}

/// The metadata value of row `row` of `c`; `None` for a null.
fn value_at(c: &dyn Array, row: usize) -> std::result::Result<Option<Value>, String> {
    if c.is_null(row) {
        return Ok(None);
    }
    if let DataType::List(_) | DataType::LargeList(_) = c.data_type() {
        let items = match c.data_type() {
            DataType::List(_) => c.as_list::<i32>().value(row),
            _ => c.as_list::<i64>().value(row),
        };
        let list = (0..items.len())
            .map(|i| match scalar_at(items.as_ref(), i)? {
                None => Ok(Scalar::Null),
                Some(s) => Ok(s),
            })
            .collect::<std::result::Result<Vec<_>, String>>()?;
        return Ok(Some(Value::List(list)));
    }
    Ok(scalar_at(c, row)?.map(|s| match s {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::Int(i) => Value::Int(i),
        Scalar::Float(f) => Value::Float(f),
        Scalar::Str(s) => Value::Str(s),
    }))
}

fn scalar_at(c: &dyn Array, row: usize) -> std::result::Result<Option<Scalar>, String> {
    if c.is_null(row) {
        return Ok(None);
    }
    let float = |f: f64| if f.is_finite() { Ok(Scalar::Float(f)) } else { Err(format!("{f} (metadata floats must be finite)")) };
    Ok(Some(match c.data_type() {
        DataType::Null => return Ok(None),
        DataType::Boolean => Scalar::Bool(c.as_boolean().value(row)),
        DataType::Int8 => Scalar::Int(c.as_primitive::<Int8Type>().value(row) as i64),
        DataType::Int16 => Scalar::Int(c.as_primitive::<Int16Type>().value(row) as i64),
        DataType::Int32 => Scalar::Int(c.as_primitive::<Int32Type>().value(row) as i64),
        DataType::Int64 => Scalar::Int(c.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => Scalar::Int(c.as_primitive::<UInt8Type>().value(row) as i64),
        DataType::UInt16 => Scalar::Int(c.as_primitive::<UInt16Type>().value(row) as i64),
        DataType::UInt32 => Scalar::Int(c.as_primitive::<UInt32Type>().value(row) as i64),
        DataType::UInt64 => {
            let v = c.as_primitive::<UInt64Type>().value(row);
            Scalar::Int(i64::try_from(v).map_err(|_| format!("{v} does not fit a signed 64-bit integer"))?)
        }
        DataType::Float16 => float(c.as_primitive::<Float16Type>().value(row).to_f64())?,
        DataType::Float32 => float(c.as_primitive::<Float32Type>().value(row) as f64)?,
        DataType::Float64 => float(c.as_primitive::<Float64Type>().value(row))?,
        DataType::Utf8 => Scalar::Str(c.as_string::<i32>().value(row).to_string()),
        DataType::LargeUtf8 => Scalar::Str(c.as_string::<i64>().value(row).to_string()),
        DataType::Utf8View => Scalar::Str(c.as_string_view().value(row).to_string()),
        DataType::Dictionary(_, _) => {
            let d = c.as_any_dictionary();
            let key = d.normalized_keys()[row];
            return scalar_at(d.values().as_ref(), key);
        }
        other => return Err(format!("type {other} cannot be stored as metadata (bool, integers, floats, strings, lists of those)")),
    }))
}

/// The type a metadata field's values have across rows, for the Arrow column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Int,
    Float,
    Str,
    /// Values of different types: written as text.
    Mixed,
}

impl Kind {
    fn of(s: &Scalar) -> Kind {
        match s {
            Scalar::Null => Kind::Null,
            Scalar::Bool(_) => Kind::Bool,
            Scalar::Int(_) => Kind::Int,
            Scalar::Float(_) => Kind::Float,
            Scalar::Str(_) => Kind::Str,
        }
    }

    fn join(self, other: Kind) -> Kind {
        match (self, other) {
            (a, b) if a == b => a,
            (Kind::Null, x) | (x, Kind::Null) => x,
            (Kind::Int, Kind::Float) | (Kind::Float, Kind::Int) => Kind::Float,
            _ => Kind::Mixed,
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Kind::Null => DataType::Null,
            Kind::Bool => DataType::Boolean,
            Kind::Int => DataType::Int64,
            Kind::Float => DataType::Float64,
            Kind::Str | Kind::Mixed => DataType::Utf8,
        }
    }
}

/// A metadata field's column: the kind of its scalars, or of a list's items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FieldType {
    kind: Kind,
    list: bool,
}

impl FieldType {
    fn of(v: &Value) -> FieldType {
        match v {
            Value::List(items) => FieldType { kind: items.iter().map(Kind::of).fold(Kind::Null, Kind::join), list: true },
            other => FieldType { kind: other.as_scalar().map_or(Kind::Null, |s| Kind::of(&s)), list: false },
        }
    }

    fn join(self, other: FieldType) -> FieldType {
        match (self.list, other.list) {
            _ if self.kind == Kind::Null && !self.list => other,
            _ if other.kind == Kind::Null && !other.list => self,
            (a, b) if a == b => FieldType { kind: self.kind.join(other.kind), list: a },
            _ => FieldType { kind: Kind::Mixed, list: false },
        }
    }

    fn data_type(self) -> DataType {
        if self.list {
            DataType::List(Arc::new(ArrowField::new_list_field(self.kind.data_type(), true)))
        } else {
            self.kind.data_type()
        }
    }
}

/// The metadata columns of records: field name → type, joined over every record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetadataColumns(BTreeMap<String, FieldType>);

impl MetadataColumns {
    /// Adds the fields of `metadata` (widening a field's type where the values differ).
    pub fn add(&mut self, metadata: &Metadata) {
        for (name, v) in metadata {
            let t = FieldType::of(v);
            self.0.entry(name.clone()).and_modify(|old| *old = old.join(t)).or_insert(t);
        }
    }

    /// The columns of `records`.
    pub fn of<'a>(records: impl IntoIterator<Item = &'a RecordView>) -> MetadataColumns {
        let mut columns = MetadataColumns::default();
        for r in records {
            if let Some(m) = &r.metadata {
                columns.add(m);
            }
        }
        columns
    }

    /// The Arrow schema of records with these metadata columns, vectors of `dim` values
    /// and the parts `include` asks for (see the module docs).
    pub fn schema(&self, dim: usize, include: Include) -> SchemaRef {
        let mut fields = vec![ArrowField::new("id", DataType::UInt64, false)];
        if include.vector {
            fields.push(ArrowField::new("vector", vector_type(dim), false));
        }
        if include.payload {
            fields.push(ArrowField::new("payload", DataType::Binary, false));
        }
        if include.metadata {
            fields.extend(self.0.iter().map(|(name, t)| ArrowField::new(name, t.data_type(), true)));
        }
        Arc::new(ArrowSchema::new(fields))
    }
}

fn vector_type(dim: usize) -> DataType {
    DataType::FixedSizeList(Arc::new(ArrowField::new_list_field(DataType::Float32, false)), dim as i32)
}

/// `records` as one batch of `schema` (from [`MetadataColumns::schema`] with the same
/// `dim`; columns other than `id`, `vector` and `payload` are metadata fields).
///
/// # Errors
/// `InvalidArgument` if a record lacks a part the schema has (a vector of another length,
/// no vector, no payload), or holds a metadata value of a type its column cannot take.
pub fn records_to_arrow(records: &[RecordView], schema: &SchemaRef, dim: usize) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let column: ArrayRef = match f.name().as_str() {
            "id" => Arc::new(UInt64Array::from_iter_values(records.iter().map(|r| r.id))),
            "vector" => {
                let mut values = Vec::with_capacity(records.len() * dim);
                for r in records {
                    match &r.vector {
                        Some(v) if v.len() == dim => values.extend_from_slice(v),
                        _ => return Err(Error::invalid(format!("arrow: record {} has no vector of {dim} values", r.id))),
                    }
                }
                let item = Arc::new(ArrowField::new_list_field(DataType::Float32, false));
                Arc::new(FixedSizeListArray::try_new(item, dim as i32, Arc::new(Float32Array::from(values)), None).map_err(arrow_error)?)
            }
            "payload" => Arc::new(BinaryArray::from_iter_values(records.iter().map(|r| r.payload.as_deref().unwrap_or_default()))),
            name => metadata_column(records, name, f.data_type())?,
        };
        columns.push(column);
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(arrow_error)
}

fn arrow_error(e: arrow_schema::ArrowError) -> Error {
    Error::invalid(format!("arrow: {e}"))
}

fn metadata_column(records: &[RecordView], name: &str, t: &DataType) -> Result<ArrayRef> {
    let values = records.iter().map(|r| r.metadata.as_ref().and_then(|m| m.get(name)));
    let mismatch = |v: &Value| Error::invalid(format!("arrow: field {name:?}: value {v:?} does not fit the column type {t}"));
    Ok(match t {
        DataType::Null => Arc::new(NullArray::new(records.len())),
        DataType::List(item) => {
            let mut b = ListBuilder::new(ScalarBuilder::new(item.data_type())).with_field(item.clone());
            for v in values {
                match v {
                    None | Some(Value::Null) => b.append(false),
                    Some(Value::List(items)) => {
                        for s in items {
                            b.values().append(s).map_err(|_| mismatch(&Value::List(items.clone())))?;
                        }
                        b.append(true);
                    }
                    Some(other) => return Err(mismatch(other)),
                }
            }
            Arc::new(b.finish())
        }
        t => {
            let mut b = ScalarBuilder::new(t);
            for v in values {
                match v.map(|v| (v, v.as_scalar())) {
                    None => b.append(&Scalar::Null).map_err(|_| Error::invalid("null"))?,
                    Some((v, None)) => b.append(&Scalar::Str(text(v))).map_err(|_| mismatch(v))?,
                    Some((v, Some(s))) => b.append(&s).map_err(|_| mismatch(v))?,
                }
            }
            b.finish()
        }
    })
}

/// The text of a scalar in a column of mixed types.
fn scalar_text(s: &Scalar) -> String {
    match s {
        Scalar::Null => "null".into(),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => f.to_string(),
        Scalar::Str(s) => s.clone(),
    }
}

/// The text of a value in a column of mixed types (`[a, b]` for a list).
fn text(v: &Value) -> String {
    match v {
        Value::List(items) => format!("[{}]", items.iter().map(scalar_text).collect::<Vec<_>>().join(", ")),
        other => other.as_scalar().map(|s| scalar_text(&s)).unwrap_or_default(),
    }
}

/// A builder of one scalar column (also the item builder of list columns).
enum ScalarBuilder {
    Bool(BooleanBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Str(StringBuilder),
}

impl ScalarBuilder {
    fn new(t: &DataType) -> Self {
        match t {
            DataType::Boolean => ScalarBuilder::Bool(BooleanBuilder::new()),
            DataType::Int64 => ScalarBuilder::Int(Int64Builder::new()),
            DataType::Float64 => ScalarBuilder::Float(Float64Builder::new()),
            _ => ScalarBuilder::Str(StringBuilder::new()),
        }
    }

    /// Appends `s` (a null for `Null`); `Err` if the column's type cannot hold it. A
    /// text column takes any scalar as its text.
    fn append(&mut self, s: &Scalar) -> std::result::Result<(), ()> {
        match (self, s) {
            (ScalarBuilder::Bool(b), Scalar::Null) => b.append_null(),
            (ScalarBuilder::Int(b), Scalar::Null) => b.append_null(),
            (ScalarBuilder::Float(b), Scalar::Null) => b.append_null(),
            (ScalarBuilder::Str(b), Scalar::Null) => b.append_null(),
            (ScalarBuilder::Bool(b), Scalar::Bool(v)) => b.append_value(*v),
            (ScalarBuilder::Int(b), Scalar::Int(v)) => b.append_value(*v),
            (ScalarBuilder::Float(b), Scalar::Int(v)) => b.append_value(*v as f64),
            (ScalarBuilder::Float(b), Scalar::Float(v)) => b.append_value(*v),
            (ScalarBuilder::Str(b), s) => b.append_value(scalar_text(s)),
            _ => return Err(()),
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ScalarBuilder::Bool(b) => Arc::new(b.finish()),
            ScalarBuilder::Int(b) => Arc::new(b.finish()),
            ScalarBuilder::Float(b) => Arc::new(b.finish()),
            ScalarBuilder::Str(b) => Arc::new(b.finish()),
        }
    }
}

impl arrow_array::builder::ArrayBuilder for ScalarBuilder {
    fn len(&self) -> usize {
        match self {
            ScalarBuilder::Bool(b) => b.len(),
            ScalarBuilder::Int(b) => b.len(),
            ScalarBuilder::Float(b) => b.len(),
            ScalarBuilder::Str(b) => b.len(),
        }
    }
    fn finish(&mut self) -> ArrayRef {
        ScalarBuilder::finish(self)
    }
    fn finish_cloned(&self) -> ArrayRef {
        match self {
            ScalarBuilder::Bool(b) => Arc::new(b.finish_cloned()),
            ScalarBuilder::Int(b) => Arc::new(b.finish_cloned()),
            ScalarBuilder::Float(b) => Arc::new(b.finish_cloned()),
            ScalarBuilder::Str(b) => Arc::new(b.finish_cloned()),
        }
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
    fn into_box_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

/// An iterator over a scan's records as Arrow batches of one schema ([`Db::scan_arrow`]).
pub struct ArrowScan {
    scan: Scan,
    schema: SchemaRef,
    dim: usize,
}

impl std::fmt::Debug for ArrowScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrowScan").field("schema", &self.schema).field("scan", &self.scan).finish()
    }
}

impl ArrowScan {
    /// A scan of `include` from `open` (called twice: once for the metadata fields, to fix
    /// the schema, then for the records).
    fn new(dim: usize, include: Include, open: impl Fn(Include) -> Result<Scan>) -> Result<ArrowScan> {
        let mut columns = MetadataColumns::default();
        if include.metadata {
            for batch in open(Include::METADATA)? {
                for r in batch? {
                    columns.add(r.metadata.as_ref().unwrap_or(&Metadata::new()));
                }
            }
        }
        Ok(ArrowScan { scan: open(include)?, schema: columns.schema(dim, include), dim })
    }

    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

impl Iterator for ArrowScan {
    /// A batch, or the error that ended the scan: the scan's errors, or `Conflict` if a
    /// record written after the scan began has a metadata field of a type the schema
    /// (fixed when the scan began) cannot hold.
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Result<RecordBatch>> {
        let batch = match self.scan.next()? {
            Ok(b) => b,
            Err(e) => return Some(Err(e)),
        };
        Some(
            records_to_arrow(&batch, &self.schema, self.dim)
                .map_err(|e| Error::new(crate::ErrorKind::Conflict, format!("{} (written during the scan; scan again)", e.message()))),
        )
    }
}

impl Db {
    /// Upserts the rows of `batch` (columns as in the [module docs](crate::arrow)), all or
    /// nothing; returns the number of rows.
    ///
    /// # Errors
    /// As [`records_from_arrow`] and [`Db::write`].
    pub fn upsert_arrow(&self, batch: &RecordBatch, columns: &ArrowColumns) -> Result<u64> {
        let records = records_from_arrow(batch, columns, self.dim())?;
        let n = records.len() as u64;
        if records.iter().all(|r| r.metadata.is_empty() && r.payload.is_empty()) {
            let ids: Vec<u64> = records.iter().map(|r| r.id).collect();
            let vectors: Vec<f32> = records.into_iter().flat_map(|r| r.vector).collect();
            self.upsert_batch(&ids, &vectors)?;
        } else {
            let mut batch = WriteBatch::new();
            for r in records {
                batch.upsert(r);
            }
            self.write(&batch)?;
        }
        Ok(n)
    }

    /// The live records matching `filter` as Arrow batches of at most `batch_size` rows,
    /// over one snapshot (as [`Db::scan`]); the schema (see the [module docs](crate::arrow))
    /// is fixed at the start from the metadata of every matching record, so a first pass
    /// reads the metadata.
    ///
    /// # Errors
    /// As [`Db::scan`].
    pub fn scan_arrow(&self, filter: Option<&Filter>, batch_size: usize, include: Include) -> Result<ArrowScan> {
        ArrowScan::new(self.dim(), include, |i| self.scan(filter, batch_size, i))
    }
}

impl ReadOnlyDb {
    /// As [`Db::scan_arrow`].
    ///
    /// # Errors
    /// As [`Db::scan`].
    pub fn scan_arrow(&self, filter: Option<&Filter>, batch_size: usize, include: Include) -> Result<ArrowScan> {
        ArrowScan::new(self.dim(), include, |i| self.scan(filter, batch_size, i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DbOptions, MemoryStore, Metric};

    fn db() -> Db {
        pollster::block_on(Db::create(Arc::new(MemoryStore::new()), 2, Metric::L2, DbOptions::default())).unwrap()
    }

    #[test]
    fn records_round_trip_through_arrow() {
        let db = db();
        let mut batch = WriteBatch::new();
        batch.upsert(
            Record::new(1, [1.0, 2.0])
                .with("genre", "rock")
                .with("year", 1995)
                .with("tags", Value::List(vec![Scalar::Str("a".into())]))
                .with_payload(b"p1".to_vec()),
        );
        batch.upsert(Record::new(2, [3.0, 4.0]).with("year", 2.5).with("mixed", 7));
        batch.upsert(Record::new(3, [5.0, 6.0]).with("mixed", "seven").with("flag", true));
        db.write(&batch).unwrap();
        let scan = db.scan_arrow(None, 2, Include::ALL).unwrap();
        let schema = scan.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["id", "vector", "payload", "flag", "genre", "mixed", "tags", "year"]);
        assert_eq!(schema.field_with_name("year").unwrap().data_type(), &DataType::Float64);
        assert_eq!(schema.field_with_name("mixed").unwrap().data_type(), &DataType::Utf8);
        let batches: Vec<RecordBatch> = scan.collect::<Result<_>>().unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).collect::<Vec<_>>(), [2, 1]);

        let copy = self::db();
        for b in &batches {
            copy.upsert_arrow(b, &ArrowColumns::default()).unwrap();
        }
        let back = |db: &Db, id| db.get_record(id, Include::ALL).unwrap().unwrap();
        let (mut r1, original) = (back(&copy, 1), back(&db, 1));
        assert_eq!(
            r1.metadata.as_mut().unwrap().insert("year".into(), Value::Int(1995)),
            Some(Value::Float(1995.0)),
            "a field of ints and floats is Float64"
        );
        assert_eq!(r1, original, "everything else comes back equal");
        let r2 = back(&copy, 2);
        assert_eq!(r2.metadata.as_ref().unwrap()["year"], Value::Float(2.5));
        assert_eq!(r2.metadata.as_ref().unwrap()["mixed"], Value::Str("7".into()), "a mixed field comes back as text");
        assert!(!r2.metadata.as_ref().unwrap().contains_key("genre"), "a null leaves the field out");
    }

    #[test]
    fn bad_batches_name_the_column_and_write_nothing() {
        let db = db();
        let ids: ArrayRef = Arc::new(UInt64Array::from(vec![1, 2]));
        let short = FixedSizeListArray::try_new(
            Arc::new(ArrowField::new_list_field(DataType::Float32, false)),
            3,
            Arc::new(Float32Array::from(vec![0.0; 6])),
            None,
        )
        .unwrap();
        let batch = RecordBatch::try_from_iter([("id", ids.clone()), ("vector", Arc::new(short) as ArrayRef)]).unwrap();
        let e = db.upsert_arrow(&batch, &ArrowColumns::default()).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
        assert!(e.message().contains("dimension is 2"), "{e}");

        let ok = FixedSizeListArray::try_new(
            Arc::new(ArrowField::new_list_field(DataType::Float32, false)),
            2,
            Arc::new(Float32Array::from(vec![1.0; 4])),
            None,
        )
        .unwrap();
        let nan: ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![1.0, f64::NAN]));
        let batch = RecordBatch::try_from_iter([("id", ids), ("vector", Arc::new(ok) as ArrayRef), ("score", nan)]).unwrap();
        let e = db.upsert_arrow(&batch, &ArrowColumns::default()).unwrap_err();
        assert!(e.message().contains("\"score\", row 1"), "{e}");
        assert_eq!(db.stats().live_rows, 0, "nothing of a bad batch is written");

        let missing = RecordBatch::try_from_iter([("key", Arc::new(UInt64Array::from(vec![1])) as ArrayRef)]).unwrap();
        assert!(db.upsert_arrow(&missing, &ArrowColumns::default()).unwrap_err().message().contains("no column \"id\""));
    }
}
