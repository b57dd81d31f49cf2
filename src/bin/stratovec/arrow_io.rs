//! `stratovec import` of Parquet and Arrow IPC files and `stratovec export --format
//! parquet|arrow`: records as Arrow batches (the column convention of `stratovec::arrow`),
//! streamed one row group / batch at a time.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchReader};
use stratovec::arrow::ArrowColumns;
use stratovec::{BlobStore, Db, DbOptions, Error, ErrorKind, Filter, Include, Metric};

use crate::progress;

/// Rows per batch read from Parquet and written to either format.
const BATCH_ROWS: usize = 8192;

/// What kind of Arrow file `path` is, from its extension.
pub fn is_arrow_file(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "parquet" | "arrow" | "arrows" | "ipc" | "feather"))
}

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Unavailable, format!("{}: {e}", path.display()))
}

fn bad_file(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidArgument, format!("{}: {e}", path.display()))
}

/// The batches of a Parquet file (row groups read in turn) or an Arrow IPC file or stream,
/// and the row count when the file says it.
fn open_batches(path: &Path) -> Result<(Box<dyn RecordBatchReader>, Option<u64>), Error> {
    let file = File::open(path).map_err(|e| Error::new(ErrorKind::NotFound, format!("{}: {e}", path.display())))?;
    if path.extension().is_some_and(|e| e == "parquet") {
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad_file(path, e))?;
        let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
        let reader = builder.with_batch_size(BATCH_ROWS).build().map_err(|e| bad_file(path, e))?;
        return Ok((Box::new(reader), Some(rows)));
    }
    match arrow_ipc::reader::FileReader::try_new(file, None) {
        Ok(reader) => Ok((Box::new(reader), None)),
        Err(_) => {
            let file = File::open(path).map_err(|e| io(path, e))?;
            let reader = arrow_ipc::reader::StreamReader::try_new(std::io::BufReader::new(file), None)
                .map_err(|e| bad_file(path, format!("neither an Arrow IPC file nor stream: {e}")))?;
            Ok((Box::new(reader), None))
        }
    }
}

/// The vector length of the first row of `batch`'s vector column.
fn first_dim(batch: &RecordBatch, column: &str, path: &Path) -> Result<usize, Error> {
    use arrow_array::cast::AsArray;
    use arrow_schema::DataType;
    let c = batch.column_by_name(column).ok_or_else(|| bad_file(path, format!("no column {column:?}")))?;
    match c.data_type() {
        DataType::FixedSizeList(_, n) => Ok(*n as usize),
        DataType::List(_) if !c.is_empty() => Ok(c.as_list::<i32>().value_length(0) as usize),
        DataType::LargeList(_) if !c.is_empty() => Ok(c.as_list::<i64>().value_length(0) as usize),
        other => Err(bad_file(path, format!("column {column:?} has type {other}, not a list of floats"))),
    }
}

/// Settings of an import of an Arrow file.
pub struct Import<'a> {
    /// The database URI.
    pub db: &'a str,
    /// The input file.
    pub input: &'a Path,
    /// Metric of a new database.
    pub metric: Metric,
    /// Options of the database.
    pub options: DbOptions,
    /// Key, vector and payload columns.
    pub columns: ArrowColumns,
    /// Import at most this many rows.
    pub limit: Option<usize>,
}

/// Imports every row of `imp.input` (upserts, batch by batch) and commits; returns the rows.
pub fn import(imp: Import<'_>) -> Result<u64, Error> {
    let (mut batches, rows) = open_batches(imp.input)?;
    let Some(first) = batches.next().transpose().map_err(|e| bad_file(imp.input, e))? else {
        return Err(bad_file(imp.input, "no rows"));
    };
    let store: Arc<dyn BlobStore> = stratovec::store_from_uri(imp.db, false)?;
    let db = match pollster::block_on(Db::open(store.clone(), imp.options.clone())) {
        Ok(db) => db,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let dim = first_dim(&first, &imp.columns.vector, imp.input)?;
            pollster::block_on(Db::create(store, dim, imp.metric, imp.options))?
        }
        Err(e) => return Err(e),
    };
    let limit = imp.limit.unwrap_or(usize::MAX) as u64;
    let pb = progress::bar(rows.unwrap_or(0).min(limit), "import");
    let mut done = 0u64;
    for batch in std::iter::once(Ok(first)).chain(batches) {
        let mut batch = batch.map_err(|e| bad_file(imp.input, e))?;
        if done + batch.num_rows() as u64 > limit {
            batch = batch.slice(0, (limit - done) as usize);
        }
        done += db
            .upsert_arrow(&batch, &imp.columns)
            .map_err(|e| Error::new(e.kind(), format!("{} (rows {done}..): {}", imp.input.display(), e.message())))?;
        if rows.is_none() {
            pb.set_length(done);
        }
        pb.set_position(done);
        if done >= limit {
            break;
        }
    }
    pb.finish_and_clear();
    let sp = progress::spinner("commit");
    pollster::block_on(db.close())?; // commits what the memtable holds
    sp.finish_and_clear();
    Ok(done)
}

/// The formats `stratovec export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// JSON lines (`stratovec::Db::export_jsonl`).
    Jsonl,
    /// Parquet (snappy), the `stratovec::arrow` columns.
    Parquet,
    /// An Arrow IPC file, the `stratovec::arrow` columns.
    Arrow,
}

/// Writes the records of `db` matching `filter` to `out` as `format` (Parquet or Arrow);
/// returns the rows.
pub fn export(db: &stratovec::ReadOnlyDb, filter: Option<&Filter>, format: Format, out: &Path) -> Result<u64, Error> {
    let scan = db.scan_arrow(filter, BATCH_ROWS, Include::ALL)?;
    let schema = scan.schema();
    let file = File::create(out).map_err(|e| io(out, e))?;
    let pb = progress::bar(db.stats().live_rows, "export");
    let mut rows = 0u64;
    let write_all = |write: &mut dyn FnMut(&RecordBatch) -> Result<(), Error>| -> Result<(), Error> {
        for batch in scan {
            let batch = batch?;
            write(&batch)?;
            rows += batch.num_rows() as u64;
            pb.set_position(rows);
        }
        Ok(())
    };
    match format {
        Format::Parquet => {
            let props = parquet::file::properties::WriterProperties::builder().set_compression(parquet::basic::Compression::SNAPPY).build();
            let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| io(out, e))?;
            write_all(&mut |b| w.write(b).map_err(|e| io(out, e)))?;
            w.close().map_err(|e| io(out, e))?;
        }
        Format::Arrow => {
            let mut w = arrow_ipc::writer::FileWriter::try_new(std::io::BufWriter::new(file), &schema).map_err(|e| io(out, e))?;
            write_all(&mut |b| w.write(b).map_err(|e| io(out, e)))?;
            w.finish().map_err(|e| io(out, e))?;
        }
        Format::Jsonl => unreachable!("JSON lines are written by Db::export_jsonl"),
    }
    pb.finish_and_clear();
    Ok(rows)
}
