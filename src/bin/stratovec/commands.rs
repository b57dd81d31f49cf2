//! `import`, `search`, `stats`, `inspect`, `verify`.

use std::path::PathBuf;
use std::sync::Arc;

use stratovec::formats::manifest::{manifest_name, Manifest};
use stratovec::formats::segment::SegmentLayout;
use stratovec::formats::tombstones;
use stratovec::fvecs::{parse_npy_f32, read_fvecs, Matrix};
use stratovec::{BlobCommitStore, BlobStore, CommitStore, Db, DbOptions, Error, ErrorKind, Metric, SearchParams};

use crate::progress;

/// A database directory.
#[derive(clap::Args)]
pub struct DbArgs {
    /// Database: a directory or a store URI (file:///path, s3://bucket/prefix?endpoint=URL).
    #[arg(short, long, env = "STRATOVEC_DB")]
    pub db: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Options of `stratovec import`.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// Database: a directory or a store URI (created with --metric if it holds none).
    #[arg(short, long, env = "STRATOVEC_DB")]
    db: String,
    /// Vectors to import: .fvecs, a 2-D float32 .npy, a JSON-lines export (.jsonl, as
    /// written by `stratovec export`: keys, vectors, metadata and payloads), or records in
    /// a Parquet file (.parquet, read row group by row group) or an Arrow IPC file or
    /// stream (.arrow, .arrows, .ipc, .feather): a key column, a vector column (a list of
    /// floats), optionally a binary `payload` column, and every other column metadata.
    #[arg(long)]
    input: PathBuf,
    /// Parquet/Arrow input: the key column (unsigned or non-negative integers).
    #[arg(long, default_value = "id")]
    id_column: String,
    /// Parquet/Arrow input: the vector column (fixed-size list or list of floats).
    #[arg(long, default_value = "vector")]
    vector_column: String,
    /// Metric of a new database: cosine, l2 or ip.
    #[arg(long, default_value = "cosine")]
    metric: Metric,
    /// Import only the first N vectors.
    #[arg(long)]
    limit: Option<usize>,
    /// Key of the first vector; vector i gets key start_id + i.
    #[arg(long, default_value_t = 0)]
    start_id: u64,
    /// HNSW M of a new database's memtable.
    #[arg(long, default_value_t = 16)]
    m: usize,
    /// HNSW ef_construction.
    #[arg(long, default_value_t = 200)]
    ef_construction: usize,
}

/// Options of `stratovec export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// Database: a directory or a store URI (file:///path, s3://bucket/prefix?endpoint=URL).
    #[arg(short, long, env = "STRATOVEC_DB")]
    db: String,
    /// Output file; default: standard output (JSON lines only).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Output format; default: from the output file's extension (.parquet, .arrow/.ipc/
    /// .feather), else JSON lines. Parquet and Arrow files hold the columns `id`,
    /// `vector`, `payload`, then one column per metadata field.
    #[arg(long, value_enum)]
    format: Option<crate::arrow_io::Format>,
    /// Export only records matching this filter, e.g. `genre = "rock" and year >= 1990`.
    #[arg(long)]
    filter: Option<String>,
}

/// Options of `stratovec vacuum`.
#[derive(clap::Args)]
pub struct VacuumArgs {
    /// Database: a directory or a store URI (file:///path, s3://bucket/prefix?endpoint=URL).
    #[arg(short, long, env = "STRATOVEC_DB")]
    db: String,
    /// Newest versions to keep (at least 1).
    #[arg(long, default_value_t = 10)]
    keep_versions: u64,
    /// Also keep versions younger than this many seconds.
    #[arg(long, default_value_t = 3600)]
    keep_for_secs: u64,
}

/// Options of `stratovec search`.
#[derive(clap::Args)]
pub struct SearchArgs {
    /// Database: a directory or a store URI (file:///path, s3://bucket/prefix?endpoint=URL).
    #[arg(short, long, env = "STRATOVEC_DB")]
    db: String,
    /// Query vector as comma-separated numbers.
    #[arg(long, conflicts_with = "query_file")]
    vector: Option<String>,
    /// .fvecs file of queries.
    #[arg(long)]
    query_file: Option<PathBuf>,
    /// Rows of --query-file to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    rows: Vec<usize>,
    /// Neighbours to return.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// ef_search.
    #[arg(long, default_value_t = 64)]
    ef: usize,
    /// Only records matching this filter, e.g. `genre = 'rock' and year >= 1990`.
    #[arg(short, long)]
    filter: Option<String>,
    /// Print one JSON object per query (`query`, `us`, `hits` with `id`, `distance`,
    /// `metadata`) instead of text.
    #[arg(long)]
    json: bool,
}

/// The store of a database URI, opened read-only (a local directory's writer lock is not
/// taken, so this works beside a running writer).
pub fn read_only(uri: &str) -> Result<Arc<dyn BlobStore>, Error> {
    stratovec::store_from_uri(uri, true)
}

fn load_input(path: &std::path::Path, limit: Option<usize>) -> Result<Matrix<f32>, Error> {
    if path.extension().is_some_and(|e| e == "npy") {
        let bytes = std::fs::read(path).map_err(|e| Error::new(ErrorKind::NotFound, format!("{}: {e}", path.display())))?;
        let mut m = parse_npy_f32(&bytes)?;
        if let Some(l) = limit {
            m.data.truncate(l * m.dim);
        }
        Ok(m)
    } else {
        read_fvecs(path, limit)
    }
}

pub fn import(a: ImportArgs) -> Result<(), Error> {
    if a.input.extension().is_some_and(|e| e == "jsonl") {
        return import_jsonl(a);
    }
    if crate::arrow_io::is_arrow_file(&a.input) {
        let t = std::time::Instant::now();
        let columns = stratovec::arrow::ArrowColumns { id: a.id_column.clone(), vector: a.vector_column.clone(), ..Default::default() };
        let options = DbOptions::default().with_hnsw(a.m, a.ef_construction);
        let imp = crate::arrow_io::Import { db: &a.db, input: &a.input, metric: a.metric, options, columns, limit: a.limit };
        let n = crate::arrow_io::import(imp)?;
        println!("imported {n} records into {} in {:.1} s", a.db, t.elapsed().as_secs_f64());
        return Ok(());
    }
    let input = load_input(&a.input, a.limit)?;
    let store: Arc<dyn BlobStore> = stratovec::store_from_uri(&a.db, false)?;
    let options = DbOptions::default().with_hnsw(a.m, a.ef_construction);
    let db = match pollster::block_on(Db::open(store.clone(), options.clone())) {
        Ok(db) => db,
        Err(e) if e.kind() == ErrorKind::NotFound => pollster::block_on(Db::create(store, input.dim, a.metric, options))?,
        Err(e) => return Err(e),
    };
    let pb = progress::bar(input.rows() as u64, "import");
    for start in (0..input.rows()).step_by(10_000) {
        let end = (start + 10_000).min(input.rows());
        let ids: Vec<u64> = (start..end).map(|i| a.start_id + i as u64).collect();
        db.insert_batch(&ids, &input.data[start * input.dim..end * input.dim])?;
        pb.set_position(end as u64);
    }
    pb.finish_and_clear();
    let sp = progress::spinner("commit");
    let version = pollster::block_on(db.commit())?;
    sp.finish_and_clear();
    println!("imported {} vectors into {} (version {version})", input.rows(), a.db);
    Ok(())
}

pub fn search(a: SearchArgs) -> Result<(), Error> {
    let db = pollster::block_on(Db::open_read_only(read_only(&a.db)?, DbOptions::default()))?;
    let queries: Vec<Vec<f32>> = match (&a.vector, &a.query_file) {
        (Some(v), _) => vec![v
            .split(',')
            .map(|x| x.trim().parse::<f32>().map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("--vector: {x:?}: {e}"))))
            .collect::<Result<_, _>>()?],
        (None, Some(f)) => {
            let m = read_fvecs(f, a.rows.iter().max().map(|r| r + 1))?;
            a.rows
                .iter()
                .map(|&r| {
                    m.data
                        .get(r * m.dim..(r + 1) * m.dim)
                        .map(<[f32]>::to_vec)
                        .ok_or_else(|| Error::new(ErrorKind::InvalidArgument, format!("row {r} is beyond the query file")))
                })
                .collect::<Result<_, _>>()?
        }
        (None, None) => return Err(Error::new(ErrorKind::InvalidArgument, "give --vector or --query-file")),
    };
    let filter = a
        .filter
        .as_deref()
        .map(stratovec::Filter::parse)
        .transpose()
        .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("--filter: {e}")))?;
    let include = stratovec::Include { vector: false, metadata: a.json, payload: false };
    let opts = stratovec::SearchOptions { k: a.k, params: SearchParams::with_ef(a.ef), filter, include, ..Default::default() };
    for (i, q) in queries.iter().enumerate() {
        let t = std::time::Instant::now();
        let (hits, _) = db.search_with(q, &opts)?;
        let us = t.elapsed().as_secs_f64() * 1e6;
        if a.json {
            let hits: Vec<serde_json::Value> = hits
                .iter()
                .map(|h| {
                    let mut j = stratovec::record_to_json(&h.record);
                    j["distance"] = serde_json::json!(h.distance);
                    j
                })
                .collect();
            println!("{}", serde_json::json!({"query": i, "us": us, "hits": hits}));
            continue;
        }
        println!("query {i} ({us:.0} us):");
        for h in hits {
            println!("  {:>12}  {:.6}", h.record.id, h.distance);
        }
    }
    Ok(())
}

pub fn inspect(a: DbArgs) -> Result<(), Error> {
    let store = read_only(&a.db)?;
    let db = pollster::block_on(Db::open_read_only(store.clone(), DbOptions { verify_on_open: false, ..Default::default() }))?;
    let m = db.manifest();
    if a.json {
        return inspect_json(&store, &m);
    }
    println!("{}: version {} epoch {} dim {} metric {}", manifest_name(m.version), m.version, m.epoch, m.dim, m.metric);
    println!("  next segment id {}, features reader {:#x} writer {:#x}", m.next_segment_id, m.reader_features, m.writer_features);
    for s in &m.segments {
        println!("  segment {} {} rows {} bytes {} keys {}..={} file {}", s.id, s.kind.name(), s.rows, s.bytes, s.min_id, s.max_id, s.file);
        let bytes = pollster::block_on(store.get(&s.file))?;
        let layout = SegmentLayout::parse(&bytes).map_err(|e| Error::new(ErrorKind::Corrupt, format!("{}: {e}", s.file)))?;
        let h = layout.header;
        println!("    header: kind {} metric {} dim {} rows {}", h.kind.name(), h.metric, h.dim, h.rows);
        for e in &layout.sections {
            println!("    section {:<11} offset {:>12} len {:>12} crc32c {:#010x}", e.kind.name(), e.offset, e.len, e.crc32c);
        }
    }
    for t in &m.tombstone_files {
        println!("  tombstones {} ({} rows)", t.file, t.count);
    }
    Ok(())
}

/// `inspect --json`: the manifest, and each segment's header and sections, as one object.
fn inspect_json(store: &Arc<dyn BlobStore>, m: &Manifest) -> Result<(), Error> {
    use serde_json::json;
    let mut segments = Vec::new();
    for s in &m.segments {
        let bytes = pollster::block_on(store.get(&s.file))?;
        let layout = SegmentLayout::parse(&bytes).map_err(|e| Error::new(ErrorKind::Corrupt, format!("{}: {e}", s.file)))?;
        let sections: Vec<_> =
            layout.sections.iter().map(|e| json!({"kind": e.kind.name(), "offset": e.offset, "len": e.len, "crc32c": e.crc32c})).collect();
        segments.push(json!({"id": s.id, "kind": s.kind.to_string(), "rows": s.rows, "bytes": s.bytes, "min_id": s.min_id,
                             "max_id": s.max_id, "file": s.file, "header_dim": layout.header.dim, "sections": sections}));
    }
    let tombstones: Vec<_> = m.tombstone_files.iter().map(|t| json!({"file": t.file, "count": t.count})).collect();
    println!(
        "{}",
        json!({"manifest": manifest_name(m.version), "version": m.version, "epoch": m.epoch, "dim": m.dim, "metric": m.metric.name(),
               "next_segment_id": m.next_segment_id, "reader_features": m.reader_features, "writer_features": m.writer_features,
               "segments": segments, "tombstone_files": tombstones})
    );
    Ok(())
}

pub fn verify(a: DbArgs) -> Result<(), Error> {
    let store = read_only(&a.db)?;
    let commits = BlobCommitStore::new(store.clone());
    let versions = pollster::block_on(commits.versions()).map_err(|e| Error::new(ErrorKind::Unavailable, e.to_string()))?;
    if versions.is_empty() {
        return Err(Error::new(ErrorKind::NotFound, format!("{} holds no manifest", a.db)));
    }
    let mut files = std::collections::BTreeMap::new();
    let mut bad = 0;
    let mut checked: Vec<serde_json::Value> = Vec::new();
    let mut report = |what: &str, error: Option<String>| {
        if a.json {
            checked.push(serde_json::json!({"object": what, "ok": error.is_none(), "error": error}));
        } else {
            match error {
                None => println!("ok   {what}"),
                Some(e) => println!("BAD  {what}: {e}"),
            }
        }
    };
    let mut decoded = Vec::new();
    for v in versions {
        let name = manifest_name(v);
        let result =
            pollster::block_on(store.get(&name)).map_err(|e| e.to_string()).and_then(|b| Manifest::decode(&b).map_err(|e| e.to_string()));
        match result {
            Ok(m) => {
                report(&name, None);
                decoded.push(v);
                for s in m.segments {
                    files.insert(s.file, true);
                }
                for t in m.tombstone_files {
                    files.insert(t.file, false);
                }
            }
            Err(e) => {
                bad += 1;
                report(&name, Some(e));
            }
        }
    }
    for (file, is_segment) in files {
        let result = pollster::block_on(store.get(&file)).map_err(|e| e.to_string()).and_then(|b| {
            if is_segment {
                let l = SegmentLayout::parse(&b).map_err(|e| e.to_string())?;
                l.verify(&b).map_err(|e| e.to_string())
            } else {
                tombstones::decode(&b).map(|_| ()).map_err(|e| e.to_string())
            }
        });
        if result.is_err() {
            bad += 1;
        }
        report(&file, result.err());
    }
    // The checks open makes beyond checksums: index, keys and metadata agree with the header
    // and the manifest, tombstones stay inside their segments.
    for v in decoded {
        let options = DbOptions { verify_on_open: true, ..DbOptions::default() };
        let opened = pollster::block_on(Db::open_at(store.clone(), v, options)).err().map(|e| e.to_string());
        if opened.is_some() {
            bad += 1;
        }
        report(&format!("version {v} opens"), opened);
    }
    if a.json {
        println!("{}", serde_json::json!({"ok": bad == 0, "bad": bad, "checked": checked}));
    }
    if bad > 0 {
        return Err(Error::new(ErrorKind::Corrupt, format!("{bad} damaged file(s) or version(s)")));
    }
    if !a.json {
        println!("all files verified");
    }
    Ok(())
}

fn open_file(path: &std::path::Path) -> Result<std::io::BufReader<std::fs::File>, Error> {
    let f = std::fs::File::open(path).map_err(|e| Error::new(ErrorKind::NotFound, format!("{}: {e}", path.display())))?;
    Ok(std::io::BufReader::new(f))
}

/// The dimension of the first record of a JSON-lines export.
fn jsonl_dim(path: &std::path::Path) -> Result<usize, Error> {
    use std::io::BufRead;
    for line in open_file(path)?.lines() {
        let line = line.map_err(|e| Error::new(ErrorKind::Unavailable, format!("{}: {e}", path.display())))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("{}: line 1: {e}", path.display())))?;
        return record["vector"].as_array().map(Vec::len).ok_or_else(|| {
            Error::new(ErrorKind::InvalidArgument, format!("{}: the first record has no \"vector\" array", path.display()))
        });
    }
    Err(Error::new(ErrorKind::InvalidArgument, format!("{}: no records", path.display())))
}

fn import_jsonl(a: ImportArgs) -> Result<(), Error> {
    let store: Arc<dyn BlobStore> = stratovec::store_from_uri(&a.db, false)?;
    let options = DbOptions::default().with_hnsw(a.m, a.ef_construction);
    let db = match pollster::block_on(Db::open(store.clone(), options.clone())) {
        Ok(db) => db,
        Err(e) if e.kind() == ErrorKind::NotFound => pollster::block_on(Db::create(store, jsonl_dim(&a.input)?, a.metric, options))?,
        Err(e) => return Err(e),
    };
    let sp = progress::spinner("import");
    let n = db.import_jsonl(&mut open_file(&a.input)?)?;
    sp.set_message("commit");
    let version = pollster::block_on(db.commit())?;
    sp.finish_and_clear();
    println!("imported {n} records into {} (version {version})", a.db);
    Ok(())
}

pub fn export(a: ExportArgs) -> Result<(), Error> {
    let db = pollster::block_on(Db::open_read_only(read_only(&a.db)?, DbOptions::default()))?;
    let filter = match &a.filter {
        Some(f) => Some(stratovec::Filter::parse(f).map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("--filter: {e}")))?),
        None => None,
    };
    use crate::arrow_io::Format;
    let ext = a.output.as_ref().and_then(|p| p.extension()).and_then(|e| e.to_str()).unwrap_or("");
    let format = a.format.unwrap_or(match ext {
        "parquet" => Format::Parquet,
        "arrow" | "arrows" | "ipc" | "feather" => Format::Arrow,
        _ => Format::Jsonl,
    });
    let (n, to) = match (&a.output, format) {
        (Some(path), Format::Parquet | Format::Arrow) => {
            (crate::arrow_io::export(&db, filter.as_ref(), format, path)?, path.display().to_string())
        }
        (None, Format::Parquet | Format::Arrow) => {
            return Err(Error::new(ErrorKind::InvalidArgument, "--format parquet and arrow need --output"))
        }
        (Some(path), Format::Jsonl) => {
            let f = std::fs::File::create(path).map_err(|e| Error::new(ErrorKind::Unavailable, format!("{}: {e}", path.display())))?;
            let mut out = std::io::BufWriter::new(f);
            let n = db.export_jsonl(filter.as_ref(), &mut out)?;
            std::io::Write::flush(&mut out).map_err(|e| Error::new(ErrorKind::Unavailable, format!("{}: {e}", path.display())))?;
            (n, path.display().to_string())
        }
        (None, Format::Jsonl) => (db.export_jsonl(filter.as_ref(), &mut std::io::stdout().lock())?, "standard output".to_string()),
    };
    eprintln!("exported {n} records to {to}");
    Ok(())
}

pub fn vacuum(a: VacuumArgs) -> Result<(), Error> {
    let store: Arc<dyn BlobStore> = stratovec::store_from_uri(&a.db, false)?;
    let db = pollster::block_on(Db::open(store, DbOptions::default()))?;
    let policy = stratovec::RetentionPolicy { keep_versions: a.keep_versions, keep_for: std::time::Duration::from_secs(a.keep_for_secs) };
    let r = pollster::block_on(db.vacuum(&policy))?;
    println!(
        "kept {} versions; deleted {} manifests and {} segment/tombstone files ({} unreferenced files still in use)",
        r.versions_kept, r.manifests_deleted, r.files_deleted, r.files_in_use
    );
    Ok(())
}
