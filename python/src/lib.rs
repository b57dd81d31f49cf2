//! `stratovec._stratovec`: the native module of the Python package (see `stratovec/__init__.py`
//! for the public API and `stratovec/_stratovec.pyi` for its types).
//!
//! Every call that searches, writes, commits, compacts or reads storage releases the GIL
//! (`Python::detach`), so Python threads run it in parallel. Vectors come in as numpy arrays
//! read in place (float32, C-contiguous; anything else is converted once by numpy) and go out
//! as numpy arrays that own their memory. Arrow data crosses through the Arrow C data
//! interface (pyarrow ≥ 14), without copying buffers.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, RecordBatchIterator, RecordBatchReader, UInt32Array};
use arrow_pyarrow::{FromPyArrow, IntoPyArrow, ToPyArrow};
use arrow_schema::{ArrowError, DataType, Field as ArrowField, Schema as ArrowSchema};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use parking_lot::Mutex;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use stratovec::arrow::{metadata_from_arrow, records_to_arrow, ArrowColumns, ArrowScan, MetadataColumns};
use stratovec::{
    Db as Engine, DbOptions, Error, ErrorKind, Filter, Include, Metadata, Metric, ReadOnlyDb, Record, RecordView, Scalar, SearchOptions,
    SearchParams, Value, WriteBatch,
};

/// The key of a missing hit in `search`'s `(nq, k)` arrays (fewer than `k` live rows).
const NO_ID: u64 = u64::MAX;

/// An engine error as the Python exception of its kind (`stratovec.errors`).
fn py_err(e: Error) -> PyErr {
    Python::attach(|py| {
        static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
        let raise = || -> PyResult<PyErr> {
            let module = ERRORS.get_or_try_init(py, || py.import("stratovec.errors").map(Bound::unbind))?;
            let class = module.bind(py).getattr("from_kind")?;
            let exc = class.call1((e.kind().name(), e.message().to_string()))?;
            Ok(PyErr::from_value(exc))
        };
        raise().unwrap_or_else(|err| err)
    })
}

fn invalid(message: impl Into<String>) -> PyErr {
    py_err(Error::new(ErrorKind::InvalidArgument, message))
}

trait OrPy<T> {
    fn py(self) -> PyResult<T>;
}

impl<T> OrPy<T> for stratovec::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(py_err)
    }
}

/// A writer or a read-only replica.
#[derive(Clone)]
enum Handle {
    Writer(Arc<Engine>),
    Reader(Arc<ReadOnlyDb>),
}

impl Handle {
    fn writer(&self) -> PyResult<&Arc<Engine>> {
        match self {
            Handle::Writer(db) => Ok(db),
            Handle::Reader(_) => Err(py_err(Error::new(ErrorKind::ReadOnly, "this database was opened read-only"))),
        }
    }
    fn dim(&self) -> usize {
        match self {
            Handle::Writer(db) => db.dim(),
            Handle::Reader(db) => db.dim(),
        }
    }
    fn metric(&self) -> Metric {
        match self {
            Handle::Writer(db) => db.metric(),
            Handle::Reader(db) => db.metric(),
        }
    }
    fn search_with(&self, q: &[f32], opts: &SearchOptions) -> stratovec::Result<Vec<stratovec::SearchHit>> {
        match self {
            Handle::Writer(db) => db.search_with(q, opts).map(|r| r.0),
            Handle::Reader(db) => db.search_with(q, opts).map(|r| r.0),
        }
    }
    fn search_batch(&self, q: &[f32], k: usize, params: &SearchParams) -> stratovec::Result<Vec<Vec<stratovec::Hit>>> {
        match self {
            Handle::Writer(db) => db.search_batch(q, k, params),
            Handle::Reader(db) => db.search_batch(q, k, params),
        }
    }
    fn get_record(&self, id: u64, include: Include) -> stratovec::Result<Option<RecordView>> {
        match self {
            Handle::Writer(db) => db.get_record(id, include),
            Handle::Reader(db) => db.get_record(id, include),
        }
    }
    fn count(&self, filter: &Filter) -> stratovec::Result<u64> {
        match self {
            Handle::Writer(db) => db.count(filter),
            Handle::Reader(db) => db.count(filter),
        }
    }
    fn live_rows(&self) -> u64 {
        match self {
            Handle::Writer(db) => db.live_rows(),
            Handle::Reader(db) => db.live_rows(),
        }
    }
    fn stats(&self) -> stratovec::Stats {
        match self {
            Handle::Writer(db) => db.stats(),
            Handle::Reader(db) => db.stats(),
        }
    }
    fn health(&self) -> stratovec::Health {
        match self {
            Handle::Writer(db) => db.health(),
            Handle::Reader(db) => db.health(),
        }
    }
    fn scan_arrow(&self, filter: Option<&Filter>, batch_size: usize, include: Include) -> stratovec::Result<ArrowScan> {
        match self {
            Handle::Writer(db) => db.scan_arrow(filter, batch_size, include),
            Handle::Reader(db) => db.scan_arrow(filter, batch_size, include),
        }
    }
}

/// Opens (or creates) a database; see `stratovec.connect`.
#[pyfunction]
#[pyo3(signature = (uri, *, dim=None, metric="cosine", read_only=false, mode="auto", m=16, ef_construction=200, hnsw_codes=None, wal_dir=None, memtable_limit_bytes=None, memory_limit_bytes=None, name=None))]
#[allow(clippy::too_many_arguments)]
fn connect(
    py: Python<'_>,
    uri: String,
    dim: Option<usize>,
    metric: &str,
    read_only: bool,
    mode: &str,
    m: usize,
    ef_construction: usize,
    hnsw_codes: Option<&str>,
    wal_dir: Option<String>,
    memtable_limit_bytes: Option<usize>,
    memory_limit_bytes: Option<usize>,
    name: Option<String>,
) -> PyResult<Db> {
    let metric: Metric = metric.parse().map_err(|e| invalid(format!("metric: {e}")))?;
    let mut options = DbOptions::default();
    options.hnsw.m = m;
    options.hnsw.ef_construction = ef_construction;
    options.hnsw_codes = match hnsw_codes {
        None => None,
        Some("sq8") => Some(stratovec::indexes::CodeKind::Sq8),
        Some(other) => return Err(invalid(format!("hnsw_codes: {other:?} (use None or \"sq8\")"))),
    };
    if let Some(dir) = wal_dir {
        options.durability = stratovec::Durability::Wal(stratovec::WalOptions::new(dir));
    }
    options.memtable_limit_bytes = memtable_limit_bytes.or(options.memtable_limit_bytes);
    options.memory_limit_bytes = memory_limit_bytes;
    options.name = name;
    let builder = Engine::builder_uri(uri.clone()).options(options);
    let handle = py
        .detach(|| {
            pollster::block_on(async {
                if read_only {
                    return builder.open_read_only().await.map(|db| Handle::Reader(Arc::new(db)));
                }
                let db = match (mode, dim) {
                    ("create", Some(dim)) => builder.create(dim, metric).await?,
                    ("create", None) => return Err(Error::new(ErrorKind::InvalidArgument, "create needs dim")),
                    ("open", _) | ("auto", None) => builder.open().await?,
                    ("auto", Some(dim)) => builder.open_or_create(dim, metric).await?,
                    (other, _) => {
                        return Err(Error::new(
                            ErrorKind::InvalidArgument,
                            format!("mode {other:?} (use \"auto\", \"create\" or \"open\")"),
                        ))
                    }
                };
                // open_or_create checks these itself; a plain open with `dim` is checked here
                if mode == "open" && dim.is_some_and(|d| d != db.dim() || db.metric() != metric) {
                    return Err(Error::new(
                        ErrorKind::InvalidArgument,
                        format!(
                            "{uri}: the database has dimension {} and metric {}, not {} and {metric}",
                            db.dim(),
                            db.metric(),
                            dim.unwrap_or(0)
                        ),
                    ));
                }
                Ok(Handle::Writer(Arc::new(db)))
            })
        })
        .py()?;
    Ok(Db { handle: Mutex::new(Some(handle)), uri })
}

/// A database handle (see `stratovec.Db`).
#[pyclass(module = "stratovec", frozen)]
struct Db {
    handle: Mutex<Option<Handle>>,
    uri: String,
}

/// What a search or scan returns besides keys, from names (`"vector"`, `"metadata"`,
/// `"payload"`).
fn include_of(names: Option<Vec<String>>, default: Include) -> PyResult<Include> {
    let Some(names) = names else { return Ok(default) };
    let mut inc = Include::default();
    for n in names {
        match n.as_str() {
            "vector" => inc.vector = true,
            "metadata" => inc.metadata = true,
            "payload" => inc.payload = true,
            other => return Err(invalid(format!("include: {other:?} (use \"vector\", \"metadata\", \"payload\")"))),
        }
    }
    Ok(inc)
}

fn filter_of(text: Option<&str>) -> PyResult<Option<Filter>> {
    text.map(|t| Filter::parse(t).map_err(|e| invalid(e.to_string()))).transpose()
}

/// `obj` as a float32 C-contiguous numpy array of `ndim` dimensions: the same object when it
/// is one, else converted once by `numpy.ascontiguousarray`.
fn as_f32<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(a) = obj.cast::<numpy::PyArrayDyn<f32>>() {
        if a.is_c_contiguous() {
            return Ok(obj.clone());
        }
    }
    let np = obj.py().import("numpy")?;
    np.call_method1("ascontiguousarray", (obj, "float32"))
}

fn as_u64<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(a) = obj.cast::<numpy::PyArrayDyn<u64>>() {
        if a.is_c_contiguous() {
            return Ok(obj.clone());
        }
    }
    let np = obj.py().import("numpy")?;
    let arr = np.call_method1("asarray", (obj,))?;
    let kind: String = arr.getattr("dtype")?.getattr("kind")?.extract()?;
    if kind != "u" && kind != "i" {
        return Err(invalid(format!("ids: integers expected, got dtype {}", arr.getattr("dtype")?.str()?)));
    }
    if kind == "i" && arr.getattr("size")?.extract::<usize>()? > 0 && arr.call_method0("min")?.extract::<i64>()? < 0 {
        return Err(invalid("ids: keys must be non-negative"));
    }
    np.call_method1("ascontiguousarray", (arr, "uint64"))
}

fn scalar_of(v: &Bound<'_, PyAny>, field: &str) -> PyResult<Scalar> {
    if v.is_none() {
        Ok(Scalar::Null)
    } else if v.is_instance_of::<PyBool>() {
        Ok(Scalar::Bool(v.extract()?))
    } else if v.is_instance_of::<PyInt>() {
        Ok(Scalar::Int(v.extract().map_err(|_| invalid(format!("metadata {field:?}: integer out of the signed 64-bit range")))?))
    } else if v.is_instance_of::<PyFloat>() {
        Ok(Scalar::Float(v.extract()?))
    } else if v.is_instance_of::<PyString>() {
        Ok(Scalar::Str(v.extract()?))
    } else if let Ok(x) = v.call_method0("item") {
        // numpy scalars (np.int64(3), np.float32(0.5), np.bool_(True))
        scalar_of(&x, field)
    } else {
        Err(invalid(format!(
            "metadata {field:?}: {} cannot be stored (bool, int, float, str, None, or a list of those)",
            v.get_type().name()?
        )))
    }
}

fn value_of(v: &Bound<'_, PyAny>, field: &str) -> PyResult<Value> {
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let items = v.try_iter()?.map(|x| scalar_of(&x?, field)).collect::<PyResult<Vec<_>>>()?;
        return Ok(Value::List(items));
    }
    Ok(match scalar_of(v, field)? {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::Int(i) => Value::Int(i),
        Scalar::Float(f) => Value::Float(f),
        Scalar::Str(s) => Value::Str(s),
    })
}

fn py_value<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    fn scalar<'py>(py: Python<'py>, s: &Scalar) -> PyResult<Bound<'py, PyAny>> {
        Ok(match s {
            Scalar::Null => py.None().into_bound(py),
            Scalar::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
            Scalar::Int(i) => i.into_pyobject(py)?.into_any(),
            Scalar::Float(f) => f.into_pyobject(py)?.into_any(),
            Scalar::Str(s) => s.into_pyobject(py)?.into_any(),
        })
    }
    match v {
        Value::List(items) => Ok(PyList::new(py, items.iter().map(|s| scalar(py, s)).collect::<PyResult<Vec<_>>>()?)?.into_any()),
        other => scalar(py, &other.as_scalar().unwrap_or(Scalar::Null)),
    }
}

/// The metadata of `n` rows from a list of dicts (or `None`s) or an Arrow table/batch.
fn metadata_of(obj: &Bound<'_, PyAny>, n: usize) -> PyResult<Vec<Metadata>> {
    let rows: Vec<Metadata> = if obj.hasattr("__arrow_c_stream__")? || obj.hasattr("__arrow_c_array__")? {
        let mut rows = Vec::with_capacity(n);
        for batch in arrow_batches(obj)? {
            rows.extend(metadata_from_arrow(&batch, &[]).py()?);
        }
        rows
    } else {
        obj.try_iter()?
            .map(|row| {
                let row = row?;
                let mut m = Metadata::new();
                if row.is_none() {
                    return Ok(m);
                }
                let d = row.cast::<PyDict>().map_err(|_| PyTypeError::new_err("metadata: a list of dicts (or None) expected"))?;
                for (k, v) in d.iter() {
                    let k: String = k.extract().map_err(|_| PyTypeError::new_err("metadata: field names must be str"))?;
                    let v = value_of(&v, &k)?;
                    m.insert(k, v);
                }
                Ok(m)
            })
            .collect::<PyResult<_>>()?
    };
    if rows.len() != n {
        return Err(invalid(format!("metadata: {} rows for {n} keys", rows.len())));
    }
    Ok(rows)
}

/// The record batches of a pyarrow Table, RecordBatch or RecordBatchReader (anything with
/// `__arrow_c_stream__` or `__arrow_c_array__`).
fn arrow_batches(obj: &Bound<'_, PyAny>) -> PyResult<Vec<RecordBatch>> {
    if obj.hasattr("__arrow_c_stream__")? {
        let reader = arrow_array::ffi_stream::RecordBatchStreamReader::from_pyarrow_bound(obj)?;
        reader.collect::<Result<Vec<_>, ArrowError>>().map_err(|e| invalid(format!("arrow: {e}")))
    } else {
        Ok(vec![RecordBatch::from_pyarrow_bound(obj)?])
    }
}

fn record_dict<'py>(py: Python<'py>, r: RecordView) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("id", r.id)?;
    if let Some(v) = r.vector {
        d.set_item("vector", PyArray1::from_vec(py, v))?;
    }
    if let Some(m) = r.metadata {
        let md = PyDict::new(py);
        for (k, v) in &m {
            md.set_item(k, py_value(py, v)?)?;
        }
        d.set_item("metadata", md)?;
    }
    if let Some(p) = r.payload {
        d.set_item("payload", PyBytes::new(py, &p))?;
    }
    Ok(d)
}

impl Db {
    fn handle(&self) -> PyResult<Handle> {
        self.handle.lock().clone().ok_or_else(|| py_err(Error::new(ErrorKind::Closed, "the database was closed")))
    }

    /// Writes `ids` and `vectors` (and metadata, payloads) as inserts or upserts.
    fn put(
        &self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        vectors: &Bound<'_, PyAny>,
        metadata: Option<&Bound<'_, PyAny>>,
        payloads: Option<&Bound<'_, PyAny>>,
        insert: bool,
    ) -> PyResult<usize> {
        let handle = self.handle()?;
        let db = handle.writer()?;
        let ids = as_u64(ids)?;
        let ids: PyReadonlyArray1<'_, u64> = ids.extract().map_err(|_| invalid("ids: a 1-D array of keys expected"))?;
        let vectors = as_f32(vectors)?;
        let vectors: PyReadonlyArray2<'_, f32> = vectors.extract().map_err(|_| invalid("vectors: a 2-D array (rows × dim) expected"))?;
        let (rows, dim) = (vectors.shape()[0], vectors.shape()[1]);
        let ids = ids.as_slice().map_err(|e| invalid(e.to_string()))?;
        if rows != ids.len() {
            return Err(invalid(format!("{} ids for {rows} vectors", ids.len())));
        }
        if dim != db.dim() {
            return Err(invalid(format!("vectors have {dim} dimensions, the database {}", db.dim())));
        }
        let values = vectors.as_slice().map_err(|e| invalid(e.to_string()))?;
        let metadata = metadata.filter(|m| !m.is_none()).map(|m| metadata_of(m, rows)).transpose()?;
        let payloads: Option<Vec<Vec<u8>>> = match payloads.filter(|p| !p.is_none()) {
            None => None,
            Some(p) => {
                let p: Vec<Option<Vec<u8>>> =
                    p.extract().map_err(|_| PyTypeError::new_err("payloads: a list of bytes (or None) expected"))?;
                if p.len() != rows {
                    return Err(invalid(format!("payloads: {} for {rows} keys", p.len())));
                }
                Some(p.into_iter().map(Option::unwrap_or_default).collect())
            }
        };
        py.detach(|| {
            if metadata.is_none() && payloads.is_none() {
                return if insert { db.insert_batch(ids, values) } else { db.upsert_batch(ids, values) };
            }
            let mut batch = WriteBatch::new();
            let mut metadata = metadata.map(Vec::into_iter);
            let mut payloads = payloads.map(Vec::into_iter);
            for (id, v) in ids.iter().zip(values.chunks_exact(dim)) {
                let mut r = Record::new(*id, v.to_vec());
                r.metadata = metadata.as_mut().and_then(Iterator::next).unwrap_or_default();
                r.payload = payloads.as_mut().and_then(Iterator::next).unwrap_or_default();
                if insert {
                    batch.insert(r);
                } else {
                    batch.upsert(r);
                }
            }
            db.write(&batch)
        })
        .py()?;
        Ok(rows)
    }

    /// The queries of `q` (1-D: one, 2-D: a batch) as (values, rows, was 1-D).
    fn queries<'py>(&self, q: &Bound<'py, PyAny>, dim: usize) -> PyResult<(PyReadonlyArray2<'py, f32>, bool)> {
        let q = as_f32(q)?;
        let ndim: usize = q.getattr("ndim")?.extract()?;
        let (q, one) = match ndim {
            1 => (q.call_method1("reshape", (1, -1))?, true),
            2 => (q, false),
            n => return Err(invalid(format!("queries: a 1-D or 2-D array expected, got {n} dimensions"))),
        };
        let q: PyReadonlyArray2<'py, f32> = q.extract()?;
        if q.shape()[1] != dim {
            return Err(invalid(format!("queries have {} dimensions, the database {dim}", q.shape()[1])));
        }
        Ok((q, one))
    }
}

fn search_params(ef: Option<usize>, k: usize) -> SearchParams {
    let mut params = SearchParams::default();
    if let Some(ef) = ef {
        params.ef_search = ef.max(k);
    }
    params
}

#[pymethods]
impl Db {
    /// The dimension of every vector.
    #[getter]
    fn dim(&self) -> PyResult<usize> {
        Ok(self.handle()?.dim())
    }

    /// The metric: `"l2"`, `"ip"` or `"cosine"`.
    #[getter]
    fn metric(&self) -> PyResult<&'static str> {
        Ok(self.handle()?.metric().name())
    }

    /// Whether this handle is a read-only replica.
    #[getter]
    fn read_only(&self) -> PyResult<bool> {
        Ok(matches!(self.handle()?, Handle::Reader(_)))
    }

    /// The URI the database was opened from.
    #[getter]
    fn uri(&self) -> &str {
        &self.uri
    }

    /// Inserts or replaces `len(ids)` records, all or nothing; returns the count. `ids`:
    /// (n,) uint64 keys; `vectors`: (n, dim) float32, read in place when C-contiguous;
    /// `metadata`: n dicts or a pyarrow Table; `payloads`: n bytes. Raises InvalidArgument,
    /// ReadOnly, ResourceExhausted.
    #[pyo3(signature = (ids, vectors, metadata=None, payloads=None))]
    fn upsert(
        &self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        vectors: &Bound<'_, PyAny>,
        metadata: Option<&Bound<'_, PyAny>>,
        payloads: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        self.put(py, ids, vectors, metadata, payloads, false)
    }

    /// As `upsert`, but raises AlreadyExists (nothing applied) if a key is live.
    #[pyo3(signature = (ids, vectors, metadata=None, payloads=None))]
    fn insert(
        &self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        vectors: &Bound<'_, PyAny>,
        metadata: Option<&Bound<'_, PyAny>>,
        payloads: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        self.put(py, ids, vectors, metadata, payloads, true)
    }

    /// Upserts the rows of a pyarrow Table, RecordBatch or RecordBatchReader (columns `id`,
    /// `vector` fixed_size_list<float32>[dim], optional `payload`, the rest metadata);
    /// returns the count. Raises InvalidArgument naming the column and row.
    #[pyo3(signature = (data, *, id_column="id", vector_column="vector", payload_column="payload"))]
    fn upsert_arrow(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        id_column: &str,
        vector_column: &str,
        payload_column: Option<&str>,
    ) -> PyResult<u64> {
        let handle = self.handle()?;
        let db = handle.writer()?;
        let columns = ArrowColumns { id: id_column.into(), vector: vector_column.into(), payload: payload_column.map(Into::into) };
        let batches = arrow_batches(data)?;
        py.detach(|| {
            let mut n = 0;
            for b in &batches {
                n += db.upsert_arrow(b, &columns)?;
            }
            Ok(n)
        })
        .py()
    }

    /// Deletes keys `ids` or the records matching `filter`; returns how many were live.
    #[pyo3(signature = (ids=None, *, filter=None))]
    fn delete(&self, py: Python<'_>, ids: Option<&Bound<'_, PyAny>>, filter: Option<&str>) -> PyResult<u64> {
        let handle = self.handle()?;
        let db = handle.writer()?;
        let filter = filter_of(filter)?;
        let keys: Vec<u64> = match ids {
            Some(ids) => as_u64(ids)?.extract::<PyReadonlyArray1<'_, u64>>()?.as_slice().map_err(|e| invalid(e.to_string()))?.to_vec(),
            None => Vec::new(),
        };
        if ids.is_none() == filter.is_none() {
            return Err(invalid("delete: pass ids or filter=, not both and not neither"));
        }
        py.detach(|| match filter {
            Some(f) => db.delete_by_filter(&f),
            None => {
                let mut batch = WriteBatch::new();
                let live = keys.iter().filter(|k| db.contains(**k)).count() as u64;
                for k in &keys {
                    batch.delete(*k);
                }
                db.write(&batch).map(|_| live)
            }
        })
        .py()
    }

    /// The record of `id` as a dict (`id`, `vector` float32 (dim,), `metadata`, `payload`:
    /// the parts `include` names, default all), or None if not live.
    #[pyo3(signature = (id, *, include=None))]
    fn get<'py>(&self, py: Python<'py>, id: u64, include: Option<Vec<String>>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let handle = self.handle()?;
        let include = include_of(include, Include::ALL)?;
        let r = py.detach(|| handle.get_record(id, include)).py()?;
        r.map(|r| record_dict(py, r)).transpose()
    }

    fn __contains__(&self, id: u64) -> PyResult<bool> {
        Ok(match self.handle()? {
            Handle::Writer(db) => db.contains(id),
            Handle::Reader(db) => db.contains(id),
        })
    }

    /// Live records, or those matching `filter`.
    #[pyo3(signature = (filter=None))]
    fn count(&self, py: Python<'_>, filter: Option<&str>) -> PyResult<u64> {
        let handle = self.handle()?;
        match filter_of(filter)? {
            Some(f) => py.detach(|| handle.count(&f)).py(),
            None => Ok(handle.live_rows()),
        }
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.handle()?.live_rows() as usize)
    }

    /// The k nearest records: `(ids uint64, distances float32)`, shapes (k,) for a (dim,)
    /// query and (nq, k) for (nq, dim) queries (searched in parallel). Missing hits: id
    /// NO_ID, distance inf. Raises InvalidArgument (dimension, NaN, k, filter).
    #[pyo3(signature = (q, k=10, *, ef=None, filter=None, exact=false))]
    fn search<'py>(
        &self,
        py: Python<'py>,
        q: &Bound<'py, PyAny>,
        k: usize,
        ef: Option<usize>,
        filter: Option<&str>,
        exact: bool,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let handle = self.handle()?;
        let filter = filter_of(filter)?;
        let (queries, one) = self.queries(q, handle.dim())?;
        let dim = handle.dim();
        let values = queries.as_slice().map_err(|e| invalid(e.to_string()))?;
        let nq = values.len() / dim.max(1);
        let params = search_params(ef, k);
        let hits: Vec<Vec<(u64, f32)>> = py
            .detach(|| {
                let opts = SearchOptions { k, params, filter: filter.clone(), exact, ..SearchOptions::default() };
                let one = |q: &[f32]| {
                    handle.search_with(q, &opts).map(|hs| hs.into_iter().map(|h| (h.record.id, h.distance)).collect::<Vec<_>>())
                };
                if nq == 1 {
                    // on this thread: a rayon call from outside its pool would hop threads
                    return Ok(vec![one(values)?]);
                }
                if filter.is_none() && !exact {
                    let found = handle.search_batch(values, k, &params)?;
                    return Ok(found.into_iter().map(|hs| hs.into_iter().map(|h| (h.id, h.distance)).collect()).collect());
                }
                use rayon::prelude::*;
                values.par_chunks(dim).map(one).collect()
            })
            .py()?;
        let mut ids = vec![NO_ID; nq * k];
        let mut dist = vec![f32::INFINITY; nq * k];
        for (i, hs) in hits.iter().enumerate() {
            for (j, (id, d)) in hs.iter().enumerate().take(k) {
                ids[i * k + j] = *id;
                dist[i * k + j] = *d;
            }
        }
        if one {
            return Ok((PyArray1::from_vec(py, ids).into_any(), PyArray1::from_vec(py, dist).into_any()));
        }
        Ok((PyArray1::from_vec(py, ids).reshape([nq, k])?.into_any(), PyArray1::from_vec(py, dist).reshape([nq, k])?.into_any()))
    }

    /// Benchmark helper: searches each row of `q` in turn on this thread, inside the
    /// engine (no Python between queries); returns `(ids (nq, k), seconds per query (nq,))`.
    /// Compares the engine's own single-query speed with `search` called from Python.
    #[pyo3(signature = (q, k=10, *, ef=None, filter=None))]
    fn _search_loop<'py>(
        &self,
        py: Python<'py>,
        q: &Bound<'py, PyAny>,
        k: usize,
        ef: Option<usize>,
        filter: Option<&str>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let handle = self.handle()?;
        let opts = SearchOptions { k, params: search_params(ef, k), filter: filter_of(filter)?, ..SearchOptions::default() };
        let (queries, _) = self.queries(q, handle.dim())?;
        let values = queries.as_slice().map_err(|e| invalid(e.to_string()))?;
        let dim = handle.dim();
        let nq = values.len() / dim.max(1);
        let (ids, secs) = py
            .detach(|| -> stratovec::Result<(Vec<u64>, Vec<f64>)> {
                let mut ids = vec![NO_ID; nq * k];
                let mut secs = Vec::with_capacity(nq);
                for (i, q) in values.chunks_exact(dim).enumerate() {
                    let t = std::time::Instant::now();
                    let hits = handle.search_with(q, &opts)?;
                    secs.push(t.elapsed().as_secs_f64());
                    for (j, h) in hits.iter().enumerate().take(k) {
                        ids[i * k + j] = h.record.id;
                    }
                }
                Ok((ids, secs))
            })
            .py()?;
        Ok((PyArray1::from_vec(py, ids).reshape([nq, k])?.into_any(), PyArray1::from_vec(py, secs).into_any()))
    }

    /// As `search`, as a pyarrow.Table: `query` (uint32), `distance`, `id`, and the parts
    /// `include` names (default metadata: one column per field).
    #[pyo3(signature = (q, k=10, *, ef=None, filter=None, include=None))]
    fn search_arrow<'py>(
        &self,
        py: Python<'py>,
        q: &Bound<'py, PyAny>,
        k: usize,
        ef: Option<usize>,
        filter: Option<&str>,
        include: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let handle = self.handle()?;
        let include = include_of(include, Include::METADATA)?;
        let opts = SearchOptions { k, params: search_params(ef, k), filter: filter_of(filter)?, include, ..SearchOptions::default() };
        let (queries, _) = self.queries(q, handle.dim())?;
        let values = queries.as_slice().map_err(|e| invalid(e.to_string()))?;
        let dim = handle.dim();
        let batch = py
            .detach(|| -> stratovec::Result<RecordBatch> {
                use rayon::prelude::*;
                let found: Vec<Vec<stratovec::SearchHit>> =
                    values.par_chunks(dim).map(|q| handle.search_with(q, &opts)).collect::<stratovec::Result<_>>()?;
                let query: Vec<u32> = found.iter().enumerate().flat_map(|(i, hs)| std::iter::repeat_n(i as u32, hs.len())).collect();
                let distance: Vec<f32> = found.iter().flatten().map(|h| h.distance).collect();
                let records: Vec<RecordView> = found.into_iter().flatten().map(|h| h.record).collect();
                let schema = MetadataColumns::of(&records).schema(dim, include);
                let hits = records_to_arrow(&records, &schema, dim)?;
                let mut fields =
                    vec![ArrowField::new("query", DataType::UInt32, false), ArrowField::new("distance", DataType::Float32, false)];
                let mut columns: Vec<ArrayRef> =
                    vec![Arc::new(UInt32Array::from(query)), Arc::new(arrow_array::Float32Array::from(distance))];
                fields.extend(schema.fields().iter().map(|f| f.as_ref().clone()));
                columns.extend(hits.columns().iter().cloned());
                RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), columns)
                    .map_err(|e| Error::new(ErrorKind::InvalidArgument, e.to_string()))
            })
            .py()?;
        let pa = py.import("pyarrow")?;
        pa.getattr("Table")?.call_method1("from_batches", (vec![batch.to_pyarrow(py)?],))
    }

    /// The live records (matching `filter`) as an iterator of pyarrow.RecordBatch of at most
    /// `batch_size` rows, over one snapshot.
    #[pyo3(signature = (filter=None, *, batch_size=1024, include=None))]
    fn scan(&self, py: Python<'_>, filter: Option<&str>, batch_size: usize, include: Option<Vec<String>>) -> PyResult<Scanner> {
        let handle = self.handle()?;
        let filter = filter_of(filter)?;
        let include = include_of(include, Include { vector: true, metadata: true, payload: false })?;
        let scan = py.detach(|| handle.scan_arrow(filter.as_ref(), batch_size, include)).py()?;
        Ok(Scanner { scan: Mutex::new(Some(scan)) })
    }

    /// `scan` read into one pyarrow.Table.
    #[pyo3(signature = (filter=None, *, batch_size=8192, include=None))]
    fn to_arrow<'py>(
        &self,
        py: Python<'py>,
        filter: Option<&str>,
        batch_size: usize,
        include: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let handle = self.handle()?;
        let filter = filter_of(filter)?;
        let include = include_of(include, Include { vector: true, metadata: true, payload: false })?;
        let scan = py.detach(|| handle.scan_arrow(filter.as_ref(), batch_size, include)).py()?;
        let schema = scan.schema();
        let reader: Box<dyn RecordBatchReader + Send> =
            Box::new(RecordBatchIterator::new(scan.map(|b| b.map_err(|e| ArrowError::ExternalError(Box::new(e)))), schema));
        reader.into_pyarrow(py)?.call_method0("read_all")
    }

    /// Writes uncommitted records as a segment and publishes a new version; returns it.
    fn commit(&self, py: Python<'_>) -> PyResult<u64> {
        let handle = self.handle()?;
        let db = handle.writer()?;
        py.detach(|| pollster::block_on(db.commit())).py()
    }

    /// Merges segments as the compaction policy says; returns what it did.
    fn compact<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let handle = self.handle()?;
        let db = handle.writer()?;
        let r = py.detach(|| pollster::block_on(db.compact())).py()?;
        let d = PyDict::new(py);
        d.set_item("merges", r.merges)?;
        d.set_item("segments_in", r.segments_in)?;
        d.set_item("rows_in", r.rows_in)?;
        d.set_item("rows_out", r.rows_out)?;
        d.set_item("bytes_in", r.bytes_in)?;
        d.set_item("bytes_out", r.bytes_out)?;
        Ok(d)
    }

    /// A replica loads the writer's newest version; returns the version served.
    fn refresh(&self, py: Python<'_>) -> PyResult<u64> {
        match self.handle()? {
            Handle::Reader(db) => py.detach(|| pollster::block_on(db.refresh())).py(),
            Handle::Writer(db) => Ok(db.stats().version),
        }
    }

    /// Version, rows, live and deleted rows, segments, memtable, log and memory (bytes).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.handle()?.stats();
        let d = PyDict::new(py);
        d.set_item("version", s.version)?;
        d.set_item("dim", s.dim)?;
        d.set_item("metric", s.metric.name())?;
        d.set_item("rows", s.rows)?;
        d.set_item("live_rows", s.live_rows)?;
        d.set_item("deleted_rows", s.deleted_rows)?;
        d.set_item("deleted_ratio", s.deleted_ratio)?;
        d.set_item("segments", s.segments)?;
        d.set_item("segment_bytes", s.segment_bytes)?;
        d.set_item("memtable_rows", s.memtable_rows)?;
        d.set_item("memtable_bytes", s.memtable_bytes)?;
        d.set_item("wal_bytes", s.wal_bytes)?;
        d.set_item("memory_bytes", s.memory.heap())?;
        Ok(d)
    }

    /// `{"status": "healthy"|"degraded"|"unhealthy", "reasons": [...]}`.
    fn health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let h = self.handle()?.health();
        let d = PyDict::new(py);
        d.set_item("status", h.status.name())?;
        let reasons = PyList::empty(py);
        for r in &h.reasons {
            let x = PyDict::new(py);
            x.set_item("status", r.status.name())?;
            x.set_item("code", r.code)?;
            x.set_item("message", &r.message)?;
            reasons.append(x)?;
        }
        d.set_item("reasons", reasons)?;
        Ok(d)
    }

    /// Commits what is uncommitted (a writer), stops background work, releases the handle.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let Some(handle) = self.handle.lock().clone() else { return Ok(()) };
        if let Handle::Writer(db) = &handle {
            py.detach(|| pollster::block_on(db.close())).py()?;
        }
        *self.handle.lock() = None;
        Ok(())
    }

    #[getter]
    fn closed(&self) -> bool {
        self.handle.lock().is_none()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        match self.handle.lock().as_ref() {
            Some(h) => format!(
                "stratovec.Db({:?}, dim={}, metric={:?}{})",
                self.uri,
                h.dim(),
                h.metric().name(),
                if matches!(h, Handle::Reader(_)) { ", read_only=True" } else { "" }
            ),
            None => format!("stratovec.Db({:?}, closed)", self.uri),
        }
    }
}

/// An iterator over a scan's records as `pyarrow.RecordBatch`es (see `Db.scan`).
#[pyclass(module = "stratovec", frozen)]
struct Scanner {
    scan: Mutex<Option<ArrowScan>>,
}

#[pymethods]
impl Scanner {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let next = py.detach(|| {
            let mut guard = self.scan.lock();
            let next = guard.as_mut().and_then(Iterator::next);
            if next.is_none() {
                *guard = None;
            }
            next
        });
        match next {
            None => Ok(None),
            Some(Err(e)) => Err(py_err(e)),
            Some(Ok(batch)) => Ok(Some(batch.to_pyarrow(py)?)),
        }
    }

    /// The schema of every batch, as a `pyarrow.Schema`.
    #[getter]
    fn schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let guard = self.scan.lock();
        let schema = guard.as_ref().map(|s| s.schema()).unwrap_or_else(|| Arc::new(ArrowSchema::empty()));
        schema.as_ref().to_pyarrow(py)
    }
}

/// The version of the engine the module was built from.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _stratovec(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(connect, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_class::<Db>()?;
    m.add_class::<Scanner>()?;
    m.add("NO_ID", NO_ID)?;
    Ok(())
}
