//! `stratovec bench --index search-under-ingest`: search latency while another thread
//! inserts, next to the same searches idle, in one run.
//!
//! Loads all but the last `3 × H / 2` base rows (`H` = `--ingest-rows`, default 100,000) and
//! commits them (one HNSW segment). Then, one search thread at ef = the first `--ef`:
//! 1. idle: every query once (p50/p99);
//! 2. under ingest: queries in a loop while another thread inserts the next `H` rows in
//!    batches of `--ingest-batch` (p50/p99 over every query that ran, ingest rows/s);
//! 3. ingest throughput alone (`H / 4` rows) and with two search threads (`H / 4` rows);
//! 4. recall@k of every query idle over the whole base, against the ground truth.
//!
//! Prints one JSON line (`--json`) or a table.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde_json::json;
use stratovec::fvecs::Matrix;
use stratovec::{Db, DbOptions, Error, SearchParams};

use super::{bench_dir, invalid, measure, open_store, BenchArgs, Common};
use crate::progress;

/// Latency percentiles (µs) of `lat` (sorted here).
fn percentiles(lat: &mut [f64]) -> (f64, f64) {
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or(0.0);
    (pct(0.5), pct(0.99))
}

/// Inserts base rows `rows` in batches of `batch`; returns rows per second.
fn ingest(db: &Db, base: &Matrix<f32>, rows: std::ops::Range<usize>, batch: usize) -> Result<f64, Error> {
    let t = Instant::now();
    let n = rows.len();
    for start in rows.clone().step_by(batch.max(1)) {
        let end = (start + batch).min(rows.end);
        let ids: Vec<u64> = (start as u64..end as u64).collect();
        db.insert_batch(&ids, &base.data[start * base.dim..end * base.dim])?;
    }
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

/// Runs queries in a loop on `threads` threads until `done`; returns every latency (µs).
fn search_until(
    db: &Db,
    queries: &Matrix<f32>,
    k: usize,
    params: &SearchParams,
    threads: usize,
    done: &AtomicBool,
) -> Result<Vec<f64>, Error> {
    let per_thread: Vec<Result<Vec<f64>, Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut lat = Vec::new();
                    let mut i = t * 97;
                    while !done.load(Ordering::Relaxed) {
                        let q = queries.row(i % queries.rows());
                        let start = Instant::now();
                        db.search(q, k, params)?;
                        lat.push(start.elapsed().as_secs_f64() * 1e6);
                        i += 1;
                    }
                    Ok(lat)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(invalid("a search thread panicked".into())))).collect()
    });
    let mut all = Vec::new();
    for lat in per_thread {
        all.extend(lat?);
    }
    Ok(all)
}

/// Ingest of `rows` with `searchers` search threads running beside it: (rows/s, latencies).
fn ingest_beside(
    db: &Db,
    base: &Matrix<f32>,
    queries: &Matrix<f32>,
    a: &BenchArgs,
    rows: std::ops::Range<usize>,
    searchers: usize,
) -> Result<(f64, Vec<f64>), Error> {
    let params = SearchParams::with_ef(a.ef[0]);
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let r = ingest(db, base, rows, a.ingest_batch);
            done.store(true, Ordering::Relaxed);
            r
        });
        let lat = if searchers > 0 { search_until(db, queries, a.k, &params, searchers, &done) } else { Ok(Vec::new()) };
        let rate = writer.join().unwrap_or_else(|_| Err(invalid("the ingest thread panicked".into())));
        Ok((rate?, lat?))
    })
}

pub(super) fn run(a: &BenchArgs, c: &Common, base: &Matrix<f32>, queries: &Matrix<f32>, gt: &[Vec<u64>]) -> Result<(), Error> {
    let h = a.ingest_rows;
    let quarter = h / 4;
    let loaded =
        c.n.checked_sub(h + 2 * quarter)
            .filter(|l| *l > 0)
            .ok_or_else(|| invalid(format!("the base needs more than {} rows", h + 2 * quarter)))?;
    let (dir, temporary) = bench_dir(a)?;
    let options = DbOptions::default().with_hnsw(a.m, a.ef_construction);
    let db = pollster::block_on(Db::create(open_store(&dir)?, c.dim, a.metric, options))?;
    let pb = progress::bar(loaded as u64, "load");
    for start in (0..loaded).step_by(20_000) {
        let end = (start + 20_000).min(loaded);
        ingest(&db, base, start..end, 20_000)?;
        pb.set_position(end as u64);
    }
    pb.finish_and_clear();
    pollster::block_on(db.commit())?;

    let params = SearchParams::with_ef(a.ef[0]);
    let sp = progress::spinner("searching idle, then under ingest");
    let idle = measure(queries, gt, a.k, |q| db.search(q, a.k, &params).map(|h| h.iter().map(|x| x.id).collect()))?;
    let (rate_1, mut lat) = ingest_beside(&db, base, queries, a, loaded..loaded + h, 1)?;
    let (p50, p99) = percentiles(&mut lat);
    let (rate_0, _) = ingest_beside(&db, base, queries, a, loaded + h..loaded + h + quarter, 0)?;
    let (rate_2, mut lat_2) = ingest_beside(&db, base, queries, a, loaded + h + quarter..c.n, 2)?;
    let (p50_2, p99_2) = percentiles(&mut lat_2);
    let all = measure(queries, gt, a.k, |q| db.search(q, a.k, &params).map(|h| h.iter().map(|x| x.id).collect()))?;
    sp.finish_and_clear();
    let stats = db.stats();
    drop(db);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let line = json!({
        "index": "search-under-ingest",
        "cpu": super::cpu_name(),
        "kernel": stratovec::indexes::kernels().name,
        "n": c.n, "dim": c.dim, "k": a.k, "ef": a.ef[0], "loaded_rows": loaded, "ingest_rows": h, "ingest_batch": a.ingest_batch,
        "build_threads": c.threads,
        "p50_us_idle": idle.p50_us, "p99_us_idle": idle.p99_us,
        "p50_us": p50, "p99_us": p99, "searches_under_ingest": lat.len(),
        "p50_us_2_searchers": p50_2, "p99_us_2_searchers": p99_2,
        "recall": all.recall,
        "ingest_rows_per_s": rate_1,
        "ingest_rows_per_s_0_searchers": rate_0,
        "ingest_rows_per_s_2_searchers": rate_2,
        "segments_after": stats.segments,
    });
    if a.json {
        println!("{line}");
    } else {
        println!("# search under ingest: n={} loaded={loaded} ef={} k={} cpu={}", c.n, a.ef[0], a.k, super::cpu_name());
        println!("idle          p50 {:>8.0} us  p99 {:>8.0} us", idle.p50_us, idle.p99_us);
        println!("under ingest  p50 {p50:>8.0} us  p99 {p99:>8.0} us  ({} searches; ingest {rate_1:.0} rows/s)", lat.len());
        println!("2 searchers   p50 {p50_2:>8.0} us  p99 {p99_2:>8.0} us  (ingest {rate_2:.0} rows/s)");
        println!("no searcher   ingest {rate_0:.0} rows/s");
        println!("recall@{} after ingest: {:.4}", a.k, all.recall);
    }
    Ok(())
}
