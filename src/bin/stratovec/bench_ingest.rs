//! `stratovec bench --index ingest`: insert throughput with and without the write-ahead log.
//!
//! Each case writes into a fresh database on local disk and ends with a commit, so every
//! case makes the same rows durable; the time includes linking each row into the memtable's
//! HNSW graph. Cases: batches of 1,000 rows (all base rows), and single-row writes (the
//! first `--single-rows`) from 1 thread or from 4 threads sharing fsyncs (group commit).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use stratovec::fvecs::Matrix;
use stratovec::{Db, DbOptions, Durability, Error, SyncPolicy, WalOptions};

use super::{bench_dir, open_store, BenchArgs, Common};
use crate::progress;

struct Case {
    label: &'static str,
    durability: Option<SyncPolicy>,
    batch: usize,
    threads: usize,
}

const CASES: &[Case] = &[
    Case { label: "commit only", durability: None, batch: 1000, threads: 1 },
    Case { label: "wal, never fsync", durability: Some(SyncPolicy::Never), batch: 1000, threads: 1 },
    Case { label: "wal, fsync each write", durability: Some(SyncPolicy::EveryWrite), batch: 1000, threads: 1 },
    Case { label: "commit only", durability: None, batch: 1, threads: 1 },
    Case { label: "wal, never fsync", durability: Some(SyncPolicy::Never), batch: 1, threads: 1 },
    Case { label: "wal, fsync every 10 ms", durability: Some(SyncPolicy::Interval(Duration::from_millis(10))), batch: 1, threads: 1 },
    Case { label: "wal, fsync each write", durability: Some(SyncPolicy::EveryWrite), batch: 1, threads: 1 },
    Case { label: "wal, fsync each write", durability: Some(SyncPolicy::EveryWrite), batch: 1, threads: 4 },
];

pub(super) fn run(a: &BenchArgs, c: &Common, base: &Matrix<f32>) -> Result<(), Error> {
    let (dir, temporary) = bench_dir(a)?;
    if !a.json {
        println!(
            "# ingest: {} rows in batches of 1,000, first {} rows one by one; each case ends with a commit",
            c.n,
            a.single_rows.min(c.n)
        );
        println!("{:<24} {:>6} {:>8} {:>8} {:>11} {:>9}", "durability", "batch", "threads", "rows", "rows/s", "vs commit");
    }
    let mut reference = [0.0f64; 2];
    for (i, case) in CASES.iter().enumerate() {
        let rows = if case.batch == 1 { a.single_rows.min(c.n) } else { c.n };
        let case_dir = dir.join(format!("case{i}"));
        let rate = ingest(&case_dir, a, c, base, case, rows)?;
        let _ = std::fs::remove_dir_all(&case_dir);
        let slot = usize::from(case.batch == 1);
        if case.durability.is_none() {
            reference[slot] = rate;
        }
        let ratio = rate / reference[slot];
        if a.json {
            let line = json!({
                "engine": "stratovec", "index": "ingest", "durability": case.label, "batch": case.batch,
                "threads": case.threads, "rows": rows, "rows_per_s": rate, "vs_commit_only": ratio, "dim": c.dim,
            });
            println!("{line}");
        } else {
            println!("{:<24} {:>6} {:>8} {:>8} {:>11.0} {:>8.2}x", case.label, case.batch, case.threads, rows, rate, ratio);
        }
    }
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// Rows per second of one case, commit included.
fn ingest(dir: &Path, a: &BenchArgs, c: &Common, base: &Matrix<f32>, case: &Case, rows: usize) -> Result<f64, Error> {
    let mut options = DbOptions::default().with_hnsw(a.m, a.ef_construction);
    options.memtable_limit_bytes = None;
    if let Some(sync) = case.durability {
        options.durability = Durability::Wal(WalOptions::new(dir.join("wal")).with_sync(sync));
    }
    let db = pollster::block_on(Db::create(open_store(&dir.join("db"))?, c.dim, a.metric, options))?;
    let pb = progress::bar(rows as u64, case.label);
    let t = Instant::now();
    let per_thread = rows.div_ceil(case.threads);
    std::thread::scope(|scope| -> Result<(), Error> {
        let workers: Vec<_> = (0..case.threads)
            .map(|w| {
                let (db, pb) = (&db, &pb);
                scope.spawn(move || -> Result<(), Error> {
                    let range = (w * per_thread).min(rows)..((w + 1) * per_thread).min(rows);
                    for start in range.clone().step_by(case.batch) {
                        let end = (start + case.batch).min(range.end);
                        let ids: Vec<u64> = (start as u64..end as u64).collect();
                        db.insert_batch(&ids, &base.data[start * c.dim..end * c.dim])?;
                        pb.inc((end - start) as u64);
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| w.join().expect("writer thread"))
    })?;
    pollster::block_on(db.commit())?;
    let rate = rows as f64 / t.elapsed().as_secs_f64();
    pb.finish_and_clear();
    Ok(rate)
}
