//! `stratovec bench`: the main job. Build a database from fvecs data, commit it, optionally
//! reopen it, then measure recall@k, QPS (1 search thread, 1 query per call) and latency
//! for each ef_search, and print a table or JSON lines.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use serde_json::json;
use stratovec::fvecs::{read_fvecs, read_ivecs, Matrix};
use stratovec::indexes::{CodeKind, FlatIndex, Index, PqParams};
use stratovec::{BlobStore, Db, DbOptions, Error, LocalStore, Metric, SearchParams};

use crate::progress;

#[path = "bench_backup.rs"]
mod backup;
#[path = "bench_diskann.rs"]
mod diskann;
#[path = "bench_filtered.rs"]
mod filtered;
#[path = "bench_ingest.rs"]
mod ingest;
#[path = "bench_remote.rs"]
mod remote;
#[path = "bench_tiered.rs"]
mod tiered;
#[path = "bench_under_ingest.rs"]
mod under_ingest;

/// Options of `stratovec bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Base vectors (.fvecs).
    #[arg(long)]
    base: PathBuf,
    /// Query vectors (.fvecs).
    #[arg(long)]
    queries: PathBuf,
    /// Ground truth (.ivecs, 0-based base rows, best first). Computed by brute force when
    /// absent or when --limit cuts the base.
    #[arg(long)]
    gt: Option<PathBuf>,
    /// Use only the first N base vectors.
    #[arg(long)]
    limit: Option<usize>,
    /// Number of queries to run.
    #[arg(long, default_value_t = 1000)]
    nq: usize,
    /// Metric: cosine, l2 or ip.
    #[arg(long, default_value = "cosine")]
    metric: Metric,
    /// Neighbours per query (recall@k).
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// ef_search values, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "32,64,128,256")]
    ef: Vec<usize>,
    /// HNSW M.
    #[arg(long, default_value_t = 16)]
    m: usize,
    /// HNSW ef_construction.
    #[arg(long, default_value_t = 200)]
    ef_construction: usize,
    /// Build threads (default: all cores). Searches always use 1 thread.
    #[arg(long)]
    threads: Option<usize>,
    /// Database directory (must not hold a database); default: a temporary directory that
    /// is removed afterwards.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Also search the memtable before commit (reported as index `hnsw-memtable`), then close
    /// and reopen the database after commit and search the reopened one (index `hnsw`).
    #[arg(long)]
    reopen: bool,
    /// hnsw, backup, remote-*: when --db already holds a database, open it and search it instead of building
    /// one (for A/B runs of two builds on the same data); it is kept afterwards.
    #[arg(long)]
    reuse: bool,
    /// Indexes to measure, comma-separated: hnsw (the engine), hnsw-sq8 (the engine with
    /// SQ8 codes in its HNSW segments, DbOptions::hnsw_codes), flat (exact scan),
    /// flat-sq8 / flat-int4 / flat-pq / flat-binary (quantized scan + rerank),
    /// diskann-pq / diskann-sq8 / diskann-int4 (one DiskANN segment), tiered-pq / tiered-sq8 /
    /// tiered-int4 (engine ingest with commits and background compaction into DiskANN),
    /// filtered (filtered search at 50/10/1/0.1% selectivity and on a correlated attribute),
    /// ingest (insert throughput with and without the write-ahead log), remote-hnsw /
    /// remote-diskann-<codes> (a read replica over an object store with added latency),
    /// search-under-ingest (search latency while another thread inserts, and idle), backup
    /// (full and incremental backup and restore to a store with --rtt-ms added).
    #[arg(long, value_delimiter = ',', default_value = "hnsw")]
    index: Vec<String>,
    /// DiskANN: max degree R.
    #[arg(long, default_value_t = 48)]
    r: usize,
    /// DiskANN: build beam width L.
    #[arg(long, default_value_t = 96)]
    l_build: usize,
    /// DiskANN: RobustPrune alpha.
    #[arg(long, default_value_t = 1.2)]
    alpha: f32,
    /// DiskANN: beam width W (node reads per hop).
    #[arg(long, default_value_t = 4)]
    beam: usize,
    /// DiskANN: also search with O_DIRECT reads (cold, no page cache).
    #[arg(long)]
    cold: bool,
    /// DiskANN: also search with node reads through io_uring (needs the `io-uring` feature),
    /// next to pread in the same run.
    #[arg(long)]
    io_uring: bool,
    /// Rerank factors of quantized indexes, comma-separated (0 = no rerank).
    #[arg(long, value_delimiter = ',', default_value = "0,2,4,8")]
    rerank: Vec<usize>,
    /// tiered-*: rows per commit (each commit writes one segment).
    #[arg(long, default_value_t = 20_000)]
    commit_rows: usize,
    /// tiered-*: a compaction output with at least this many rows is DiskANN.
    #[arg(long, default_value_t = 100_000)]
    diskann_threshold: usize,
    /// filtered: values of `SearchOptions::two_hop_below` to measure (0 = never two-hop).
    #[arg(long, value_delimiter = ',', default_value = "0,1")]
    two_hop_below: Vec<f64>,
    /// filtered: planners to measure, each case in turn: `cost` (the cost model) or a
    /// number N (the fixed rule: brute force up to N matches per source).
    #[arg(long, value_delimiter = ',', default_value = "cost")]
    planner: Vec<String>,
    /// ingest: rows written one by one in the single-row cases.
    #[arg(long, default_value_t = 20_000)]
    single_rows: usize,
    /// search-under-ingest: rows inserted while one thread searches.
    #[arg(long, default_value_t = 100_000)]
    ingest_rows: usize,
    /// search-under-ingest: rows per insert batch.
    #[arg(long, default_value_t = 1_000)]
    ingest_batch: usize,
    /// remote-*: round-trip time added to every request of the remote store, in ms.
    #[arg(long, default_value_t = 20.0)]
    rtt_ms: f64,
    /// remote-*: an S3 endpoint (e.g. moto at http://127.0.0.1:5055) for the remote store;
    /// default: a local directory (needs a build with --features opendal for S3).
    #[arg(long)]
    s3_endpoint: Option<String>,
    /// remote-*: the S3 bucket.
    #[arg(long, default_value = "stratovec")]
    s3_bucket: String,
    /// remote-*: RAM block cache size in MiB.
    #[arg(long, default_value_t = 256)]
    cache_mib: u64,
    /// remote-*: cache block size in KiB.
    #[arg(long, default_value_t = 64)]
    block_kib: u64,
    /// remote-diskann-*: beam widths W of the cold first query, each on a fresh replica;
    /// diskann-* with --cold: the beam widths of the O_DIRECT searches.
    #[arg(long, value_delimiter = ',', default_value = "4,16,32")]
    cold_beams: Vec<usize>,
    /// hnsw: also search every query in one `search_batch` call on all cores.
    #[arg(long)]
    batch: bool,
    /// diskann-* with --cold: also measure QPS from this many threads searching at once.
    #[arg(long, default_value_t = 1)]
    search_threads: usize,
    /// remote-diskann-*: queries of the cold pass (one after another on a fresh replica,
    /// the graph against the planner).
    #[arg(long, default_value_t = 50)]
    cold_queries: usize,
    /// remote-*: vectors in the commit measured straight to the remote store.
    #[arg(long, default_value_t = 10_000)]
    remote_commit_rows: usize,
    /// Print one JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Install the Prometheus recorder (as `stratovec serve` does) before measuring, to
    /// measure what recording metrics costs (compare a run without it).
    #[arg(long)]
    metrics: bool,
    /// hnsw: after the measurements, run the queries again with the recall monitor at this
    /// sample rate (0..=1) and print its recall@k estimate next to the recall measured
    /// against the ground truth, per ef.
    #[arg(long, default_value_t = 0.0)]
    recall_sample_rate: f64,
}

pub(crate) struct Common {
    pub n: usize,
    pub dim: usize,
    pub threads: usize,
}

pub(crate) struct Timings {
    pub build_s: f64,
    pub commit_s: Option<f64>,
    pub open_s: Option<f64>,
    pub bytes_per_vector: Option<f64>,
}

pub fn run(a: BenchArgs) -> Result<(), Error> {
    let threads = a.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().ok();
    if a.metrics {
        let buckets = [50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0, 2.5, 5.0];
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets_for_metric(metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()), &buckets)
            .and_then(|b| b.install_recorder())
            .map_err(|e| invalid(format!("installing the Prometheus recorder: {e}")))?;
        stratovec::metrics::describe();
    }
    let load = progress::spinner("loading");
    let base = read_fvecs(&a.base, a.limit)?;
    let mut queries = read_fvecs(&a.queries, Some(a.nq))?;
    load.finish_and_clear();
    if queries.dim != base.dim {
        return Err(Error::new(
            stratovec::ErrorKind::InvalidArgument,
            format!("queries have dimension {}, base {}", queries.dim, base.dim),
        ));
    }
    let gt = ground_truth(&a, &base, &queries)?;
    if a.metric == Metric::Cosine {
        normalise(&mut queries);
    }
    let c = Common { n: base.rows(), dim: base.dim, threads };
    if !a.json {
        println!(
            "# n={} dim={} queries={} k={} metric={} M={} ef_construction={} build_threads={} kernel={}",
            c.n,
            c.dim,
            queries.rows(),
            a.k,
            a.metric,
            a.m,
            a.ef_construction,
            threads,
            stratovec::indexes::kernels().name
        );
        println!("{:<13} {:>5} {:>8} {:>9} {:>9} {:>9}", "index", "ef", "recall", "qps", "p50_us", "p99_us");
    }
    for index in &a.index {
        match index.as_str() {
            "hnsw" => bench_hnsw(&a, &c, &base, &queries, &gt, None)?,
            "hnsw-sq8" => bench_hnsw(&a, &c, &base, &queries, &gt, Some(CodeKind::Sq8))?,
            "flat" => bench_flat(&a, &c, base.clone(), &queries, &gt, None)?,
            "filtered" => filtered::run(&a, &c, &base, &queries)?,
            "ingest" => ingest::run(&a, &c, &base)?,
            "search-under-ingest" => under_ingest::run(&a, &c, &base, &queries, &gt)?,
            "backup" => backup::run(&a, &c, &base, &queries)?,
            other => match other.strip_prefix("flat-").map(str::parse::<CodeKind>) {
                Some(Ok(kind)) => bench_flat(&a, &c, base.clone(), &queries, &gt, Some(kind))?,
                None if other.starts_with("diskann-") => {
                    let kind = other["diskann-".len()..].parse::<CodeKind>().map_err(invalid)?;
                    diskann::run(&a, &c, base.clone(), &queries, &gt, kind)?
                }
                None if other == "remote-hnsw" => remote::run(&a, &c, &base, &queries, &gt, None)?,
                None if other.starts_with("remote-diskann-") => {
                    let kind = other["remote-diskann-".len()..].parse::<CodeKind>().map_err(invalid)?;
                    remote::run(&a, &c, &base, &queries, &gt, Some(kind))?
                }
                None if other.starts_with("tiered-") => {
                    let kind = other["tiered-".len()..].parse::<CodeKind>().map_err(invalid)?;
                    tiered::run(&a, &c, &base, &queries, &gt, kind)?
                }
                _ => return Err(invalid(format!("unknown index {other:?} (hnsw, flat, flat-<codes>, diskann-<codes>, tiered-<codes>, filtered, ingest, search-under-ingest, backup, remote-hnsw, remote-diskann-<codes>)"))),
            },
        }
    }
    Ok(())
}

pub(crate) fn normalise(m: &mut Matrix<f32>) {
    let dim = m.dim;
    for v in m.data.chunks_exact_mut(dim) {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if n > 0.0 {
            v.iter_mut().for_each(|x| *x /= n);
        }
    }
}

/// Ground truth: the given file when it describes this base, otherwise brute force.
fn ground_truth(a: &BenchArgs, base: &Matrix<f32>, queries: &Matrix<f32>) -> Result<Vec<Vec<u64>>, Error> {
    let full_base = a.limit.is_none_or(|l| l >= base.rows()) && base.rows() == full_rows(&a.base)?;
    if let (Some(path), true) = (&a.gt, full_base) {
        let gt = read_ivecs(path, Some(queries.rows()))?;
        if gt.rows() >= queries.rows() && gt.dim >= a.k {
            return Ok((0..queries.rows()).map(|i| gt.row(i)[..a.k].iter().map(|&r| r as u64).collect()).collect());
        }
    }
    let pb = progress::bar(queries.rows() as u64, "exact gt");
    let mut b = base.clone();
    let mut q = queries.clone();
    if a.metric == Metric::Cosine {
        normalise(&mut b);
        normalise(&mut q);
    }
    let flat =
        FlatIndex::from_vectors(b.data, b.dim, a.metric).map_err(|e| Error::new(stratovec::ErrorKind::InvalidArgument, e.to_string()))?;
    let gt = (0..q.rows())
        .into_par_iter()
        .map(|i| {
            pb.inc(1);
            let found = flat.search(q.row(i), a.k, &Default::default(), None).expect("dimension checked");
            found.iter().map(|c| c.row as u64).collect()
        })
        .collect();
    pb.finish_and_clear();
    Ok(gt)
}

fn full_rows(path: &Path) -> Result<usize, Error> {
    read_fvecs(path, Some(1)).map(|m| {
        let rec = 4 + 4 * m.dim as u64;
        std::fs::metadata(path).map_or(0, |md| (md.len() / rec) as usize)
    })
}

pub(crate) fn bench_dir(a: &BenchArgs) -> Result<(PathBuf, bool), Error> {
    match &a.db {
        Some(d) => Ok((d.clone(), false)),
        None => {
            let d = std::env::temp_dir().join(format!("stratovec-bench-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            Ok((d, true))
        }
    }
}

/// Whether `dir` holds a database (a manifest), for `--reuse`.
pub(crate) fn holds_database(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with("MANIFEST-")))
}

pub(crate) fn open_store(dir: &Path) -> Result<Arc<dyn BlobStore>, Error> {
    Ok(Arc::new(LocalStore::open(dir)?))
}

fn bench_hnsw(
    a: &BenchArgs,
    c: &Common,
    base: &Matrix<f32>,
    queries: &Matrix<f32>,
    gt: &[Vec<u64>],
    codes: Option<CodeKind>,
) -> Result<(), Error> {
    let (dir, temporary) = bench_dir(a)?;
    let label = codes.map_or("hnsw".to_string(), |k| format!("hnsw-{}", k.name()));
    let label = label.as_str();
    let options = DbOptions { recall_sample_rate: a.recall_sample_rate, ..DbOptions::default() }
        .with_hnsw(a.m, a.ef_construction)
        .with_hnsw_codes(codes);
    if a.reuse && !temporary && holds_database(&dir) {
        let t = Instant::now();
        let db = pollster::block_on(Db::open(open_store(&dir)?, options))?;
        let timings = Timings { build_s: 0.0, commit_s: None, open_s: Some(t.elapsed().as_secs_f64()), bytes_per_vector: None };
        search_all(a, c, &db, label, queries, gt, &timings)?;
        return monitor_agreement(a, db, queries, gt);
    }
    let db = Db::create(open_store(&dir)?, c.dim, a.metric, options.clone());
    let db = pollster::block_on(db)?;
    let pb = progress::bar(c.n as u64, "build");
    let t = Instant::now();
    let chunk = 20_000;
    for start in (0..c.n).step_by(chunk) {
        let end = (start + chunk).min(c.n);
        let ids: Vec<u64> = (start as u64..end as u64).collect();
        db.insert_batch(&ids, &base.data[start * c.dim..end * c.dim])?;
        pb.set_position(end as u64);
    }
    let build_s = t.elapsed().as_secs_f64();
    pb.finish_and_clear();
    if a.reopen {
        // Before commit: the memtable's live graph, to compare with the reopened segment.
        let timings = Timings { build_s, commit_s: None, open_s: None, bytes_per_vector: None };
        search_all(a, c, &db, &format!("{label}-memtable"), queries, gt, &timings)?;
    }
    let sp = progress::spinner("commit");
    let t = Instant::now();
    pollster::block_on(db.commit())?;
    let commit_s = t.elapsed().as_secs_f64();
    sp.finish_and_clear();
    let bytes = db.stats().segment_bytes;
    let (db, open_s) = if a.reopen {
        drop(db);
        let t = Instant::now();
        let db = pollster::block_on(Db::open(open_store(&dir)?, options))?;
        (db, Some(t.elapsed().as_secs_f64()))
    } else {
        (db, None)
    };
    let timings = Timings { build_s, commit_s: Some(commit_s), open_s, bytes_per_vector: Some(bytes as f64 / c.n as f64) };
    search_all(a, c, &db, label, queries, gt, &timings)?;
    monitor_agreement(a, db, queries, gt)?;
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// With `--recall-sample-rate`: the recall monitor's estimate next to the recall measured
/// against the ground truth, per ef, over the same queries.
fn monitor_agreement(a: &BenchArgs, db: Db, queries: &Matrix<f32>, gt: &[Vec<u64>]) -> Result<(), Error> {
    if a.recall_sample_rate <= 0.0 {
        return Ok(());
    }
    let db = Arc::new(db);
    let monitor = db.spawn_recall_monitor();
    for &ef in &a.ef {
        monitor.reset();
        let params = SearchParams::with_ef(ef);
        let mut hits = 0usize;
        for (i, truth) in gt.iter().enumerate().take(queries.rows()) {
            let found = db.search(queries.row(i), a.k, &params)?;
            hits += found.iter().filter(|h| truth.contains(&h.id)).count();
            if i % 100 == 99 {
                monitor.drain();
            }
        }
        monitor.drain();
        let measured = hits as f64 / (queries.rows() * a.k) as f64;
        let stats = db.stats();
        for e in &stats.recall {
            let line = json!({"index": "recall-monitor", "ef": ef, "strategy": e.strategy, "measured_recall": measured,
                              "monitor_recall": e.recall, "ci95": e.ci95, "samples": e.samples, "rate": a.recall_sample_rate});
            println!("{line}");
        }
    }
    Ok(())
}

pub(crate) fn search_all(
    a: &BenchArgs,
    c: &Common,
    db: &Db,
    label: &str,
    queries: &Matrix<f32>,
    gt: &[Vec<u64>],
    t: &Timings,
) -> Result<(), Error> {
    for &ef in &a.ef {
        let params = SearchParams::with_ef(ef);
        let mut r = measure(queries, gt, a.k, |q| db.search(q, a.k, &params).map(|h| h.iter().map(|x| x.id).collect()))?;
        r.plan = Some(plan_of(db, queries.row(0), a.k, params)?);
        report(a, c, label, ef, &r, t);
        if a.batch {
            report_batch(a, db, label, ef, queries, gt, r.qps)?;
        }
    }
    Ok(())
}

/// `--batch`: every query in one `search_batch` call (all cores), best of three passes,
/// against the one-thread QPS just measured.
fn report_batch(
    a: &BenchArgs,
    db: &Db,
    label: &str,
    ef: usize,
    queries: &Matrix<f32>,
    gt: &[Vec<u64>],
    one_thread_qps: f64,
) -> Result<(), Error> {
    let params = SearchParams::with_ef(ef);
    let mut best = f64::INFINITY;
    let mut found = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        found = db.search_batch(&queries.data, a.k, &params)?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    let hits: usize = found.iter().zip(gt).map(|(f, want)| f.iter().filter(|h| want.contains(&h.id)).count()).sum();
    let recall = hits as f64 / (found.len() * a.k) as f64;
    let qps = queries.rows() as f64 / best;
    let threads = rayon::current_num_threads();
    let line = json!({"index": format!("{label}-batch"), "ef": ef, "recall": recall, "qps": qps, "threads": threads,
                      "vs_one_thread": qps / one_thread_qps, "cpu": cpu_name()});
    if a.json {
        println!("{line}");
    } else {
        println!(
            "{:<16} {ef:>4} {recall:>8.4} {qps:>9.0}  batch on {threads} threads: {:.2}x one thread",
            format!("{label}-batch"),
            qps / one_thread_qps
        );
    }
    Ok(())
}

/// The planner's choice per source for one query, e.g. `exact` or `graph,exact`.
fn plan_of(db: &Db, q: &[f32], k: usize, params: SearchParams) -> Result<String, Error> {
    let (_, explain) = db.search_with(q, &stratovec::SearchOptions { k, params, ..Default::default() })?;
    let names: Vec<&str> = explain.sources.iter().map(|s| s.strategy.name()).collect();
    Ok(names.join(","))
}

/// The CPU model (`/proc/cpuinfo`), for every result line.
pub(crate) fn cpu_name() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

pub(crate) fn invalid(message: String) -> Error {
    Error::new(stratovec::ErrorKind::InvalidArgument, message)
}

/// Flat search straight on the index (exact, or quantized with each rerank factor).
/// `bytes_per_vector` counts what a scan reads: f32 vectors, or the codes.
fn bench_flat(
    a: &BenchArgs,
    c: &Common,
    mut base: Matrix<f32>,
    queries: &Matrix<f32>,
    gt: &[Vec<u64>],
    codes: Option<CodeKind>,
) -> Result<(), Error> {
    if a.metric == Metric::Cosine {
        normalise(&mut base);
    }
    let t = Instant::now();
    let mut flat = FlatIndex::from_vectors(base.data, c.dim, a.metric).map_err(|e| invalid(e.to_string()))?;
    if let Some(kind) = codes {
        flat = flat.with_codes(kind, &PqParams::default()).map_err(|e| invalid(e.to_string()))?;
    }
    let scanned = flat.codes().map_or(c.dim * 4, |q| q.code_len());
    let timings = Timings { build_s: t.elapsed().as_secs_f64(), commit_s: None, open_s: None, bytes_per_vector: Some(scanned as f64) };
    let (label, factors) = match codes {
        Some(kind) => (format!("flat-{}", kind.name()), a.rerank.clone()),
        None => ("flat".to_string(), vec![0]),
    };
    for rf in factors {
        let params = SearchParams { rerank_factor: rf, ..SearchParams::default() };
        let r = measure(queries, gt, a.k, |q| {
            let found = flat.search(q, a.k, &params, None).map_err(|e| invalid(e.to_string()))?;
            Ok(found.iter().map(|c| c.row as u64).collect())
        })?;
        let label = if codes.is_some() { format!("{label}/r{rf}") } else { label.clone() };
        report(a, c, &label, 0, &r, &timings);
    }
    Ok(())
}

pub(crate) struct Measured {
    pub recall: f64,
    pub qps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// The planner's choice, where the bench asked (`exact`, `graph`, per source).
    pub plan: Option<String>,
}

/// Runs the first 200 queries untimed (warm-up), then every query once timed, one query
/// per call on this thread.
pub(crate) fn measure(
    queries: &Matrix<f32>,
    gt: &[Vec<u64>],
    k: usize,
    mut search: impl FnMut(&[f32]) -> Result<Vec<u64>, Error>,
) -> Result<Measured, Error> {
    measure_indexed(queries, gt, k, |_, q| search(q))
}

/// [`measure`] with the query's index passed to `search`.
pub(crate) fn measure_indexed(
    queries: &Matrix<f32>,
    gt: &[Vec<u64>],
    k: usize,
    mut search: impl FnMut(usize, &[f32]) -> Result<Vec<u64>, Error>,
) -> Result<Measured, Error> {
    let nq = queries.rows();
    for i in 0..nq.min(200) {
        search(i, queries.row(i))?;
    }
    let mut lat = Vec::with_capacity(nq);
    let mut hits = 0usize;
    let total = Instant::now();
    for (i, want) in gt.iter().enumerate().take(nq) {
        let t = Instant::now();
        let ids = search(i, queries.row(i))?;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        hits += ids.iter().filter(|id| want.contains(id)).count();
    }
    let secs = total.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    Ok(Measured { recall: hits as f64 / (nq * k) as f64, qps: nq as f64 / secs, p50_us: pct(0.5), p99_us: pct(0.99), plan: None })
}

/// Runs `job(i)` for every `i` in `0..jobs` from `threads` threads, each taking the next
/// index; the first error stops the thread that met it and is returned.
pub(crate) fn for_each_parallel(threads: usize, jobs: usize, job: impl Fn(usize) -> Result<(), Error> + Sync) -> Result<(), Error> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= jobs {
                        return Ok(());
                    }
                    job(i)?;
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| w.join().unwrap_or_else(|_| Err(invalid("bench thread panicked".into()))))
    })
}

pub(crate) fn rss_bytes() -> Option<u64> {
    status_bytes("VmRSS:")
}

/// A `/proc/self/status` field in bytes, e.g. `RssAnon:` (heap) or `RssFile:` (mapped file
/// pages, which the kernel may map a whole large folio at a time).
pub(crate) fn status_bytes(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

pub(crate) fn report(a: &BenchArgs, c: &Common, index: &str, ef: usize, r: &Measured, t: &Timings) {
    if a.json {
        let line = json!({
            "engine": "stratovec", "index": index, "ef": ef, "recall": r.recall, "qps": r.qps,
            "p50_us": r.p50_us, "p99_us": r.p99_us, "build_s": t.build_s, "commit_s": t.commit_s,
            "open_s": t.open_s, "threads": c.threads, "n": c.n, "dim": c.dim,
            "bytes_per_vector": t.bytes_per_vector, "rss_bytes": rss_bytes(),
            "kernel": stratovec::indexes::kernels().name, "plan": r.plan, "cpu": cpu_name(),
        });
        println!("{line}");
    } else {
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        println!(
            "{index:<13} {ef:>5} {:>8.4} {:>9.0} {:>9.1} {:>9.1}   build_s={:.1} commit_s={} open_s={} bytes/vec={}",
            r.recall,
            r.qps,
            r.p50_us,
            r.p99_us,
            t.build_s,
            opt(t.commit_s),
            opt(t.open_s),
            t.bytes_per_vector.map_or("-".into(), |b| format!("{b:.0}"))
        );
    }
}
