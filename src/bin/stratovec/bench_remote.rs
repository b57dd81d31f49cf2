//! `stratovec bench --index remote-hnsw|remote-diskann-<codes>`: a read replica over an
//! object store with a fixed round-trip time added to every request (`--rtt-ms`, a
//! `LatencyStore`), reading through the block cache.
//!
//! Builds the database on local disk (one HNSW segment, or a DiskANN segment merged from
//! two commits), copies it to the remote store (`--s3-endpoint`: S3 such as moto; else a
//! second local directory), then measures: replica open time; the cold first query on a
//! fresh replica (wall time, sequential round trips, requests, bytes; for DiskANN at each
//! beam width of `--cold-beams`, and with `SearchParams::scan_codes`); warm recall/QPS/latency (after one pass over the queries
//! from 16 threads) next to the same database opened from local disk; and a commit of `--remote-commit-rows` vectors straight
//! to the remote store.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use stratovec::backends::cache::{BlockCache, CacheOptions};
use stratovec::backends::{LatencyStats, LatencyStore};
use stratovec::fvecs::Matrix;
use stratovec::indexes::{CodeKind, DiskAnnParams, VamanaParams};
use stratovec::{BlobStore, Db, DbOptions, Error, LocalStore, MergeAll, ReadOnlyDb, SearchParams};

use super::{bench_dir, invalid, measure, open_store, BenchArgs, Common, Measured};
use crate::progress;

pub(super) fn run(
    a: &BenchArgs,
    c: &Common,
    base: &Matrix<f32>,
    queries: &Matrix<f32>,
    gt: &[Vec<u64>],
    codes: Option<CodeKind>,
) -> Result<(), Error> {
    let label = codes.map_or("remote-hnsw".to_string(), |k| format!("remote-diskann-{}", k.name()));
    let (dir, temporary) = bench_dir(a)?;
    let options = db_options(a, codes);
    if !(a.reuse && !temporary && super::holds_database(&dir)) {
        build(a, c, base, &dir, &options, codes.is_some())?;
    }
    let rtt = Duration::from_secs_f64(a.rtt_ms / 1e3);
    let remote = remote_store(a, &dir, "replica")?;
    let local = pollster::block_on(Db::open_read_only(open_store(&dir)?, options.clone()))?;
    let sp = progress::spinner("upload");
    let t = Instant::now();
    let copied = pollster::block_on(local.snapshot_to(remote.clone()))?;
    let upload_s = t.elapsed().as_secs_f64();
    sp.finish_and_clear();
    say(a, json!({"index": label, "step": "upload", "files": copied.files, "bytes": copied.bytes, "seconds": upload_s}), || {
        format!(
            "# {label}: copied {} files, {:.1} MB to the remote store in {upload_s:.1} s (no added latency)",
            copied.files,
            copied.bytes as f64 / 1e6
        )
    });

    let slow = LatencyStore::new(remote, rtt);
    // Cold first queries, each on a fresh replica: the graph at each beam width W, and for
    // DiskANN the code scan with one batched rerank, and the planner's choice.
    let mut plans: Vec<(String, SearchParams, Option<bool>)> = Vec::new();
    let base_params = SearchParams::with_ef(a.ef[0]);
    for &beam in if codes.is_some() { &a.cold_beams[..] } else { std::slice::from_ref(&a.beam) } {
        plans.push((format!("cold first query W={beam}"), SearchParams { beam_width: beam, ..base_params }, Some(false)));
    }
    if codes.is_some() {
        plans.push(("cold first query scan".into(), base_params, Some(true)));
        plans.push(("cold first query auto".into(), SearchParams { beam_width: a.beam, ..base_params }, None));
    }
    for (i, (step, params, code_scan)) in plans.iter().enumerate() {
        let (replica, open) = open_replica(a, &slow, &options)?;
        if i == 0 {
            report_io(a, &label, "replica open", rtt, open);
        }
        let before = slow.stats();
        let t = Instant::now();
        let plan = search_as(&replica, queries.row(0), a.k, params, *code_scan)?.1;
        let step = if code_scan.is_none() { format!("{step} ({plan})") } else { step.clone() };
        report_io(a, &label, &step, rtt, (t.elapsed().as_secs_f64(), slow.stats().since(&before)));
    }
    if codes.is_some() {
        cold_pass(a, &label, &slow, &options, queries)?;
    }

    let (replica, _) = open_replica(a, &slow, &options)?;
    warm_up(a, &replica, queries)?;
    let mut cases: Vec<(String, SearchParams, Option<bool>)> = Vec::new();
    for &ef in &a.ef {
        let params = SearchParams { beam_width: a.beam, ..SearchParams::with_ef(ef) };
        cases.push((format!("warm ef={ef}"), params, Some(false)));
        if codes.is_some() {
            cases.push((format!("warm auto ef={ef}"), params, None));
        }
    }
    if codes.is_some() {
        cases.push((format!("warm scan ef={}", a.ef[0]), base_params, Some(true)));
    }
    for (step, params, code_scan) in &cases {
        let run = |db: &ReadOnlyDb| measure(queries, gt, a.k, |q| search_as(db, q, a.k, params, *code_scan).map(|r| r.0));
        let at_home = run(&local)?;
        let before = slow.stats();
        let away = run(&replica)?;
        let step = match code_scan {
            None => format!("{step} ({})", search_as(&replica, queries.row(0), a.k, params, None)?.1),
            Some(_) => step.clone(),
        };
        report_warm(a, &label, &step, &at_home, &away, slow.stats().since(&before));
        report_estimates(a, &label, &step, &replica, queries, params, *code_scan)?;
    }
    drop((local, replica));
    commit_straight(a, c, base, &dir, rtt, &label)?;
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(dir.with_extension("remote"));
    }
    Ok(())
}

/// One search with the code scan forced on or off (`Some`) or left to the planner
/// (`None`): the keys found, and the plan of each source (`graph`, `code_scan`).
fn search_as(db: &ReadOnlyDb, q: &[f32], k: usize, params: &SearchParams, code_scan: Option<bool>) -> Result<(Vec<u64>, String), Error> {
    let opts = stratovec::SearchOptions { k, params: *params, code_scan, ..Default::default() };
    let (hits, explain) = db.search_with(q, &opts)?;
    let plans: Vec<&str> = explain.sources.iter().map(|s| s.strategy.name()).collect();
    Ok((hits.iter().map(|h| h.record.id).collect(), plans.join(",")))
}

/// The first `--cold-queries` queries one after another on a fresh replica, with the
/// graph (`beam_width` = `--beam`) and with the planner: total time, and for the planner
/// how many queries each plan served and the first that walked the graph.
fn cold_pass(a: &BenchArgs, label: &str, slow: &LatencyStore, options: &DbOptions, queries: &Matrix<f32>) -> Result<(), Error> {
    let n = a.cold_queries.min(queries.rows());
    let params = SearchParams { beam_width: a.beam, ..SearchParams::with_ef(a.ef[0]) };
    for code_scan in [Some(false), None] {
        let (replica, _) = open_replica(a, slow, options)?;
        let before = slow.stats();
        let t = Instant::now();
        let (mut scans, mut first_graph) = (0, None);
        for i in 0..n {
            let plan = search_as(&replica, queries.row(i), a.k, &params, code_scan)?.1;
            if plan.contains("code_scan") {
                scans += 1;
            } else if first_graph.is_none() {
                first_graph = Some(i);
            }
        }
        let secs = t.elapsed().as_secs_f64();
        let io = slow.stats().since(&before);
        let planner = if code_scan.is_none() { "auto" } else { "graph" };
        let line = json!({
            "index": label, "step": format!("cold pass {planner}"), "queries": n, "seconds": secs, "rounds": io.rounds,
            "requests": io.requests, "code_scans": scans, "first_graph_query": first_graph,
        });
        say(a, line, || {
            format!(
                "{label:<20} cold pass {planner:<5} {n} queries in {:.2} s ({:.1} ms each), rounds={} requests={}, code scans {scans}, first graph query {:?}",
                secs,
                secs * 1e3 / n.max(1) as f64,
                io.rounds,
                io.requests,
                first_graph
            )
        });
    }
    Ok(())
}

/// The cost model's estimates for the DiskANN source against its measured time, averaged
/// over up to 200 queries (how the model's constants were checked).
fn report_estimates(
    a: &BenchArgs,
    label: &str,
    step: &str,
    db: &ReadOnlyDb,
    queries: &Matrix<f32>,
    params: &SearchParams,
    code_scan: Option<bool>,
) -> Result<(), Error> {
    let opts = stratovec::SearchOptions { k: a.k, params: *params, code_scan, ..Default::default() };
    let n = queries.rows().min(200);
    let (mut measured, mut estimates) = (0.0, Vec::<(String, f64)>::new());
    for i in 0..n {
        let (_, explain) = db.search_with(queries.row(i), &opts)?;
        let Some(src) = explain.sources.iter().find(|s| !s.estimates.is_empty()) else { return Ok(()) };
        measured += src.elapsed_us / n as f64;
        for (j, (strategy, us)) in src.estimates.iter().enumerate() {
            if estimates.len() <= j {
                estimates.push((strategy.name().to_string(), 0.0));
            }
            estimates[j].1 += us / n as f64;
        }
    }
    let line = json!({"index": label, "step": step, "measured_us": measured, "estimates_us": estimates});
    say(a, line, || {
        let est: Vec<String> = estimates.iter().map(|(s, us)| format!("{s} {us:.0} us")).collect();
        format!("{label:<20} {step:<14} planner estimates: {}; measured {measured:.0} us", est.join(", "))
    });
    Ok(())
}

/// A read-only replica over `slow` with a fresh block cache; its open time and I/O.
fn open_replica(a: &BenchArgs, slow: &LatencyStore, options: &DbOptions) -> Result<(ReadOnlyDb, (f64, LatencyStats)), Error> {
    let cache = BlockCache::new(CacheOptions { ram_bytes: a.cache_mib << 20, block_bytes: a.block_kib << 10, ..CacheOptions::default() })
        .map_err(|e| invalid(e.to_string()))?;
    let before = slow.stats();
    let t = Instant::now();
    let replica = pollster::block_on(Db::open_read_only(Arc::new(slow.clone()), options.clone().with_cache(cache)))?;
    Ok((replica, (t.elapsed().as_secs_f64(), slow.stats().since(&before))))
}

/// Runs every query once at each ef from 16 threads (I/O bound: the misses overlap), so
/// the timed pass measures a warm cache.
fn warm_up(a: &BenchArgs, replica: &ReadOnlyDb, queries: &Matrix<f32>) -> Result<(), Error> {
    let sp = progress::spinner("warming the cache");
    let jobs: Vec<(usize, usize)> = a.ef.iter().flat_map(|&ef| (0..queries.rows()).map(move |q| (ef, q))).collect();
    super::for_each_parallel(16, jobs.len(), |i| {
        let (ef, q) = jobs[i];
        let params = SearchParams { beam_width: a.beam, ..SearchParams::with_ef(ef) };
        replica.search(queries.row(q), a.k, &params).map(drop)
    })?;
    sp.finish_and_clear();
    Ok(())
}

fn db_options(a: &BenchArgs, codes: Option<CodeKind>) -> DbOptions {
    let mut options = DbOptions::default().with_hnsw(a.m, a.ef_construction);
    if let Some(codes) = codes {
        options = options.with_diskann_threshold(a.diskann_threshold);
        options.diskann = DiskAnnParams {
            vamana: VamanaParams { r: a.r, l: a.l_build, alpha: a.alpha, ..VamanaParams::default() },
            codes,
            ..DiskAnnParams::default()
        };
    }
    options.memtable_limit_bytes = None;
    options
}

/// One HNSW segment (one commit), or for DiskANN two commits merged into one segment.
fn build(a: &BenchArgs, c: &Common, base: &Matrix<f32>, dir: &Path, options: &DbOptions, diskann: bool) -> Result<(), Error> {
    let db = pollster::block_on(Db::create(open_store(dir)?, c.dim, a.metric, options.clone()))?;
    let pb = progress::bar(c.n as u64, "build");
    let half = c.n / 2;
    let chunk = 20_000.min(half.max(1));
    for start in (0..c.n).step_by(chunk) {
        let end = (start + chunk).min(c.n);
        let ids: Vec<u64> = (start as u64..end as u64).collect();
        db.insert_batch(&ids, &base.data[start * c.dim..end * c.dim])?;
        pb.set_position(end as u64);
        if diskann && start < half && end >= half {
            pollster::block_on(db.commit())?;
        }
    }
    pb.finish_and_clear();
    let sp = progress::spinner("commit");
    pollster::block_on(db.commit())?;
    if diskann {
        sp.set_message("merge into DiskANN");
        pollster::block_on(db.compact_with(&MergeAll))?;
    }
    sp.finish_and_clear();
    Ok(())
}

/// The remote store under `name`: S3 at `--s3-endpoint` (feature `opendal`), else a local
/// directory next to the database.
fn remote_store(a: &BenchArgs, dir: &Path, name: &str) -> Result<Arc<dyn BlobStore>, Error> {
    match &a.s3_endpoint {
        Some(endpoint) => s3(endpoint, &a.s3_bucket, name),
        None => {
            let d = dir.with_extension("remote").join(name);
            let _ = std::fs::remove_dir_all(&d);
            Ok(Arc::new(LocalStore::open(&d)?))
        }
    }
}

#[cfg(feature = "opendal")]
fn s3(endpoint: &str, bucket: &str, name: &str) -> Result<Arc<dyn BlobStore>, Error> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| "test".into());
    let root = format!("/bench-{nanos}/{name}");
    let store =
        stratovec::backends::OpenDalStore::s3_compatible(endpoint, bucket, &root, &env("AWS_ACCESS_KEY_ID"), &env("AWS_SECRET_ACCESS_KEY"));
    Ok(Arc::new(store.map_err(|e| invalid(e.to_string()))?))
}

#[cfg(not(feature = "opendal"))]
fn s3(_: &str, _: &str, _: &str) -> Result<Arc<dyn BlobStore>, Error> {
    Err(invalid("--s3-endpoint needs a build with --features opendal".into()))
}

/// Creates a database on the remote store (with the added latency), inserts
/// `--remote-commit-rows` vectors and commits them.
fn commit_straight(a: &BenchArgs, c: &Common, base: &Matrix<f32>, dir: &Path, rtt: Duration, label: &str) -> Result<(), Error> {
    let rows = a.remote_commit_rows.min(c.n);
    let slow = LatencyStore::new(remote_store(a, dir, "writer")?, rtt);
    let db =
        pollster::block_on(Db::create(Arc::new(slow.clone()), c.dim, a.metric, DbOptions::default().with_hnsw(a.m, a.ef_construction)))?;
    let ids: Vec<u64> = (0..rows as u64).collect();
    db.insert_batch(&ids, &base.data[..rows * c.dim])?;
    let before = slow.stats();
    let t = Instant::now();
    pollster::block_on(db.commit())?;
    let io = (t.elapsed().as_secs_f64(), slow.stats().since(&before));
    report_io(a, label, &format!("commit {rows} vectors"), rtt, io);
    Ok(())
}

fn say(a: &BenchArgs, line: serde_json::Value, text: impl FnOnce() -> String) {
    if a.json {
        println!("{line}");
    } else {
        println!("{}", text());
    }
}

fn report_io(a: &BenchArgs, label: &str, step: &str, rtt: Duration, (secs, io): (f64, LatencyStats)) {
    let rtt_ms = rtt.as_secs_f64() * 1e3;
    let line = json!({
        "index": label, "step": step, "rtt_ms": rtt_ms, "seconds": secs, "rounds": io.rounds,
        "requests": io.requests, "bytes": io.bytes_read,
    });
    say(a, line, || {
        format!(
            "{label:<20} {step:<22} {:>9.1} ms  rounds={:<4} requests={:<5} read={:.2} MB  (rtt {rtt_ms} ms)",
            secs * 1e3,
            io.rounds,
            io.requests,
            io.bytes_read as f64 / 1e6
        )
    });
}

fn report_warm(a: &BenchArgs, label: &str, step: &str, local: &Measured, remote: &Measured, io: LatencyStats) {
    let line = json!({
        "index": label, "step": step, "recall": remote.recall, "qps": remote.qps,
        "p50_us": remote.p50_us, "p99_us": remote.p99_us, "local_recall": local.recall, "local_qps": local.qps,
        "local_p50_us": local.p50_us, "local_p99_us": local.p99_us, "p50_ratio": remote.p50_us / local.p50_us,
        "requests": io.requests,
    });
    say(a, line, || {
        format!(
            "{label:<20} {step:<14} recall={:.4} p50={:.1} us p99={:.1} us qps={:.0} | local: recall={:.4} p50={:.1} us p99={:.1} us qps={:.0} | p50 ratio {:.2}x, requests {}",
            remote.recall, remote.p50_us, remote.p99_us, remote.qps, local.recall, local.p50_us, local.p99_us, local.qps,
            remote.p50_us / local.p50_us, io.requests
        )
    });
}
