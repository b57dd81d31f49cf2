//! `stratovec bench --index tiered-pq|tiered-sq8|tiered-int4`: the engine's write path end to
//! end. Inserts the base set through the memtable, committing every `--commit-rows` rows
//! while a background compactor merges segments (size-tiered), then merges everything
//! into one segment (DiskANN with the given codes when above `--diskann-threshold`),
//! reopens the database and searches it.
//!
//! Reports compaction throughput (rows written per second of merge time) and write
//! amplification: bytes of every segment and tombstone file ever written (nothing is
//! deleted during the run) over the bytes of the final segment.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use stratovec::fvecs::Matrix;
use stratovec::indexes::{CodeKind, DiskAnnParams, VamanaParams};
use stratovec::{CompactionReport, Db, DbOptions, Error, MergeAll, SizeTiered};

use super::{bench_dir, open_store, search_all, BenchArgs, Common, Timings};
use crate::progress;

pub(super) fn run(
    a: &BenchArgs,
    c: &Common,
    base: &Matrix<f32>,
    queries: &Matrix<f32>,
    gt: &[Vec<u64>],
    codes: CodeKind,
) -> Result<(), Error> {
    let (dir, temporary) = bench_dir(a)?;
    let mut options = DbOptions::default().with_hnsw(a.m, a.ef_construction).with_diskann_threshold(a.diskann_threshold);
    options.diskann = DiskAnnParams {
        vamana: VamanaParams { r: a.r, l: a.l_build, alpha: a.alpha, ..VamanaParams::default() },
        codes,
        ..DiskAnnParams::default()
    };
    options.compaction = Arc::new(SizeTiered { base_rows: a.commit_rows as u64, ..SizeTiered::default() });
    options.retain_versions = u64::MAX; // keep every file, to measure write amplification
    let db = Arc::new(pollster::block_on(Db::create(open_store(&dir)?, c.dim, a.metric, options.clone()))?);
    let compactor = db.spawn_compactor();

    let pb = progress::bar(c.n as u64, "ingest + commit");
    let t = Instant::now();
    let mut commits = 0;
    for start in (0..c.n).step_by(a.commit_rows.max(1)) {
        let end = (start + a.commit_rows.max(1)).min(c.n);
        let ids: Vec<u64> = (start as u64..end as u64).collect();
        db.insert_batch(&ids, &base.data[start * c.dim..end * c.dim])?;
        pollster::block_on(db.commit())?;
        commits += 1;
        pb.set_position(end as u64);
    }
    let ingest_s = t.elapsed().as_secs_f64();
    pb.finish_and_clear();
    let sp = progress::spinner("background compaction");
    compactor.wait_idle();
    let background = compactor.stop();
    let tiered_s = t.elapsed().as_secs_f64();
    sp.set_message("final merge");
    let last = pollster::block_on(db.compact_with(&MergeAll))?;
    sp.finish_and_clear();
    let total_s = t.elapsed().as_secs_f64();
    let final_bytes = db.stats().segment_bytes;
    drop(db);
    let written = dir_bytes(&dir.join("segments")) + dir_bytes(&dir.join("tombstones"));
    let summary = Summary { commits, ingest_s, tiered_s, total_s, background: background.totals, last, written, final_bytes };
    summary.print(a, c);

    let t = Instant::now();
    let db = pollster::block_on(Db::open(open_store(&dir)?, options))?;
    let open_s = t.elapsed().as_secs_f64();
    let timings =
        Timings { build_s: total_s, commit_s: None, open_s: Some(open_s), bytes_per_vector: Some(final_bytes as f64 / c.n as f64) };
    search_all(a, c, &db, &format!("tiered-{}", codes.name()), queries, gt, &timings)?;
    drop(db);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

struct Summary {
    commits: usize,
    ingest_s: f64,
    tiered_s: f64,
    total_s: f64,
    background: CompactionReport,
    last: CompactionReport,
    written: u64,
    final_bytes: u64,
}

impl Summary {
    fn print(&self, a: &BenchArgs, c: &Common) {
        let (b, l) = (&self.background, &self.last);
        let merge_rows = b.rows_out + l.rows_out;
        let merge_s = b.seconds + l.seconds;
        let final_kind = l.outputs.last().map_or("-", |m| m.kind.name());
        let wa = self.written as f64 / self.final_bytes.max(1) as f64;
        if a.json {
            let line = json!({
                "engine": "stratovec", "kind": "compaction", "n": c.n, "commits": self.commits,
                "ingest_s": self.ingest_s, "tiered_s": self.tiered_s, "total_s": self.total_s,
                "background_merges": b.merges, "background_rows": b.rows_out, "background_s": b.seconds,
                "final_kind": final_kind, "final_rows": l.rows_out, "final_s": l.seconds,
                "merge_rows_per_s": merge_rows as f64 / merge_s.max(1e-9),
                "bytes_written": self.written, "final_bytes": self.final_bytes, "write_amplification": wa,
            });
            println!("{line}");
        } else {
            println!(
                "# tiered: {} commits, ingest+commit {:.1} s; background: {} merges, {} rows in {:.1} s ({:.0} rows/s); \
                 final merge -> {final_kind}, {} rows in {:.1} s ({:.0} rows/s); total {:.1} s; \
                 written {:.1} MB for a {:.1} MB final segment: write amplification {wa:.2}",
                self.commits,
                self.ingest_s,
                b.merges,
                b.rows_out,
                b.seconds,
                b.rows_per_second(),
                l.rows_out,
                l.seconds,
                l.rows_per_second(),
                self.total_s,
                self.written as f64 / 1e6,
                self.final_bytes as f64 / 1e6,
            );
        }
    }
}

/// Total size of the files directly in `dir` (0 if it does not exist).
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map(|it| it.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()).unwrap_or(0)
}
