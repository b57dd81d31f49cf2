//! Logical backups as JSON lines (feature `jsonl`): [`Db::export_jsonl`] and
//! [`Db::import_jsonl`].
//!
//! One record per line:
//! `{"id": 7, "vector": [0.1, 0.2], "metadata": {"genre": "rock", "year": 1995, "tags": ["a"]}, "payload": "e30="}`.
//! Metadata values map to JSON naturally (null, booleans, integers, floats written with a
//! fraction or exponent, strings, lists of scalars); `payload` is standard base64 and is
//! left out when empty, as `metadata` is when there are no fields.

use std::io::{BufRead, Write};

use base64::Engine as _;
use serde_json::{json, Map, Number, Value as Json};
use stratovec_formats::metadata::{Metadata, Scalar, Value};

use crate::{Db, Error, Filter, Include, Record, RecordView, Result, WriteBatch};

/// Records per write batch of [`Db::import_jsonl`].
const IMPORT_BATCH: usize = 1_000;

impl Db {
    /// Writes every live record matching `filter` (all with `None`) to `out`, one JSON
    /// object per line, from one snapshot; returns the number written. Vectors are as
    /// stored (normalised for cosine).
    ///
    /// # Errors
    /// `Unavailable` if writing to `out` fails; errors of [`Db::scan`].
    pub fn export_jsonl(&self, filter: Option<&Filter>, out: &mut dyn Write) -> Result<u64> {
        let mut n = 0;
        for batch in self.scan(filter, IMPORT_BATCH, Include::ALL)? {
            for r in batch? {
                let line = record_to_json(&r);
                serde_json::to_writer(&mut *out, &line).map_err(|e| io_error("writing the export", e.into()))?;
                out.write_all(b"\n").map_err(|e| io_error("writing the export", e))?;
                n += 1;
            }
        }
        out.flush().map_err(|e| io_error("writing the export", e))?;
        Ok(n)
    }

    /// Upserts the records of a JSON-lines export (see the module docs) in batches of
    /// 1,000 and returns how many were read. Blank lines are skipped. Does not commit.
    ///
    /// # Errors
    /// `InvalidArgument` naming the line of a record that does not parse or that the
    /// database rejects (dimension, NaN, schema); the batches before it are applied.
    pub fn import_jsonl(&self, input: &mut dyn BufRead) -> Result<u64> {
        let mut batch = WriteBatch::new();
        let mut n = 0;
        for (i, line) in input.lines().enumerate() {
            let line = line.map_err(|e| io_error("reading the import", e))?;
            if line.trim().is_empty() {
                continue;
            }
            let record = parse_record(&line).map_err(|e| Error::invalid(format!("line {}: {e}", i + 1)))?;
            batch.upsert(record);
            n += 1;
            if batch.len() == IMPORT_BATCH {
                self.write(&batch).map_err(|e| Error::invalid(format!("batch ending at line {}: {e}", i + 1)))?;
                batch = WriteBatch::new();
            }
        }
        if !batch.is_empty() {
            self.write(&batch).map_err(|e| Error::invalid(format!("last batch: {e}")))?;
        }
        Ok(n)
    }
}

/// The JSON form of a record (see [`record_from_json`]): `id`, then `vector`, `metadata`
/// and `payload` (base64) when the view holds them and they are not empty.
pub fn record_to_json(r: &RecordView) -> Json {
    let mut j = json!({ "id": r.id });
    if let Some(v) = &r.vector {
        j["vector"] = json!(v);
    }
    if let Some(meta) = r.metadata.as_ref().filter(|m| !m.is_empty()) {
        j["metadata"] = Json::Object(meta.iter().map(|(k, v)| (k.clone(), value_to_json(v))).collect());
    }
    if let Some(p) = r.payload.as_ref().filter(|p| !p.is_empty()) {
        j["payload"] = Json::String(base64::engine::general_purpose::STANDARD.encode(p));
    }
    j
}

fn io_error(what: &str, e: std::io::Error) -> Error {
    Error::with_source(crate::ErrorKind::Unavailable, format!("{what}: {e}"), e)
}

fn scalar_to_json(s: &Scalar) -> Json {
    match s {
        Scalar::Null => Json::Null,
        Scalar::Bool(b) => Json::Bool(*b),
        Scalar::Int(i) => Json::from(*i),
        Scalar::Float(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Scalar::Str(s) => Json::String(s.clone()),
    }
}

fn value_to_json(v: &Value) -> Json {
    match v {
        Value::List(items) => Json::Array(items.iter().map(scalar_to_json).collect()),
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Str(s) => Json::String(s.clone()),
    }
}

fn json_to_scalar(j: &Json) -> std::result::Result<Scalar, String> {
    Ok(match j {
        Json::Null => Scalar::Null,
        Json::Bool(b) => Scalar::Bool(*b),
        Json::Number(n) if n.is_f64() => Scalar::Float(n.as_f64().unwrap_or(f64::NAN)),
        Json::Number(n) => Scalar::Int(n.as_i64().ok_or_else(|| format!("integer {n} is out of the i64 range"))?),
        Json::String(s) => Scalar::Str(s.clone()),
        other => return Err(format!("{other} is not a scalar")),
    })
}

fn json_to_value(j: &Json) -> std::result::Result<Value, String> {
    if let Json::Array(items) = j {
        return Ok(Value::List(items.iter().map(json_to_scalar).collect::<std::result::Result<_, _>>()?));
    }
    Ok(match json_to_scalar(j)? {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::Int(i) => Value::Int(i),
        Scalar::Float(f) => Value::Float(f),
        Scalar::Str(s) => Value::Str(s),
    })
}

fn parse_record(line: &str) -> std::result::Result<Record, String> {
    let j: Json = serde_json::from_str(line).map_err(|e| e.to_string())?;
    record_from_json(&j)
}

/// A record from its JSON form `{"id": u64, "vector": [numbers], "metadata": {..}?,
/// "payload": "base64"?}` (the lines of [`Db::export_jsonl`], the records of
/// `stratovec serve`). Metadata values are JSON scalars or arrays of scalars.
///
/// # Errors
/// A message naming the field that is missing or of the wrong type.
pub fn record_from_json(j: &Json) -> std::result::Result<Record, String> {
    let j: &Map<String, Json> = j.as_object().ok_or("a record must be a JSON object")?;
    let id = j.get("id").and_then(Json::as_u64).ok_or("\"id\" must be an unsigned integer")?;
    let vector = j
        .get("vector")
        .and_then(Json::as_array)
        .ok_or("\"vector\" must be an array of numbers")?
        .iter()
        .map(|x| x.as_f64().map(|f| f as f32).ok_or("\"vector\" must be an array of numbers"))
        .collect::<std::result::Result<Vec<f32>, _>>()?;
    let mut metadata = Metadata::new();
    if let Some(m) = j.get("metadata") {
        for (k, v) in m.as_object().ok_or("\"metadata\" must be an object")? {
            metadata.insert(k.clone(), json_to_value(v).map_err(|e| format!("field {k:?}: {e}"))?);
        }
    }
    let payload = match j.get("payload") {
        None => Vec::new(),
        Some(p) => {
            let text = p.as_str().ok_or("\"payload\" must be a base64 string")?;
            base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| format!("payload: {e}"))?
        }
    };
    Ok(Record { id, vector, metadata, payload })
}
