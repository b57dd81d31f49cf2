//! `stratovec bench --index backup`: backup and restore timings with `--rtt-ms` added to
//! every request of the backup store (a `LatencyStore` over a local directory, or S3 with
//! `--s3-endpoint`): a full backup of the built database, an incremental one after
//! upserting 1% of the rows, and a restore from the backup into an empty local directory
//! up to the first correct query (the RTO of the backup guide).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use stratovec::backends::LatencyStore;
use stratovec::fvecs::Matrix;
use stratovec::{BlobStore, Db, DbOptions, Error, LocalStore, SearchParams};

use super::{bench_dir, invalid, open_store, BenchArgs, Common};
use crate::progress;

pub(crate) fn run(a: &BenchArgs, c: &Common, base: &Matrix<f32>, queries: &Matrix<f32>) -> Result<(), Error> {
    let (dir, temporary) = bench_dir(a)?;
    let options = DbOptions::default().with_hnsw(a.m, a.ef_construction);
    let db = if a.reuse && !temporary && super::holds_database(&dir) {
        pollster::block_on(Db::open(open_store(&dir)?, options.clone()))?
    } else {
        let db = pollster::block_on(Db::create(open_store(&dir)?, c.dim, a.metric, options.clone()))?;
        let pb = progress::bar(c.n as u64, "build");
        for start in (0..c.n).step_by(20_000) {
            let end = (start + 20_000).min(c.n);
            db.insert_batch(&(start as u64..end as u64).collect::<Vec<_>>(), &base.data[start * c.dim..end * c.dim])?;
            pb.set_position(end as u64);
        }
        pb.finish_and_clear();
        pollster::block_on(db.commit())?;
        db
    };
    let work = std::env::temp_dir().join(format!("stratovec-bench-backup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let rtt = Duration::from_secs_f64(a.rtt_ms / 1e3);
    let backup_dir = work.join("backup");
    let remote: Arc<dyn BlobStore> = Arc::new(LocalStore::open(&backup_dir)?);
    let slow: Arc<dyn BlobStore> = Arc::new(LatencyStore::new(remote, rtt));
    let line = |step: &str, seconds: f64, files: usize, bytes: u64| {
        let j = json!({"index": "backup", "step": step, "seconds": seconds, "files": files, "bytes": bytes, "rtt_ms": a.rtt_ms,
                       "n": c.n, "dim": c.dim, "cpu": super::cpu_name()});
        if a.json {
            println!("{j}");
        } else {
            println!("{step:<44} {seconds:>8.2} s {files:>6} files {bytes:>12} bytes (rtt {} ms)", a.rtt_ms);
        }
    };
    let full = pollster::block_on(db.backup_to(slow.clone()))?;
    line("full backup", full.seconds, full.files_copied, full.bytes_copied);
    // 1% of the rows change: upserted with the vectors of other rows, then committed.
    let changed = (c.n / 100).max(1);
    let ids: Vec<u64> = (0..changed as u64).collect();
    let vectors = &base.data[(c.n - changed) * c.dim..c.n * c.dim];
    for (id, v) in ids.iter().zip(vectors.chunks(c.dim)) {
        db.upsert(*id, v)?;
    }
    pollster::block_on(db.commit())?;
    let incremental = pollster::block_on(db.backup_to(slow.clone()))?;
    line("incremental backup after upserting 1% of rows", incremental.seconds, incremental.files_copied, incremental.bytes_copied);
    // Restore into an empty local directory, open it, answer one query as the source does.
    let q = queries.row(0);
    let expected: Vec<u64> = db.search(q, a.k, &SearchParams::with_ef(64))?.iter().map(|h| h.id).collect();
    drop(db);
    let t = Instant::now();
    let backup = pollster::block_on(Db::open_read_only(slow.clone(), DbOptions::default()))?;
    let restore_dir = work.join("restored");
    let copied = pollster::block_on(backup.snapshot_to(Arc::new(LocalStore::open(&restore_dir)?)))?;
    let restore_s = t.elapsed().as_secs_f64();
    line("restore (open the backup, copy one version)", restore_s, copied.files, copied.bytes);
    let restored = pollster::block_on(Db::open(open_store(&restore_dir)?, options))?;
    let got: Vec<u64> = restored.search(q, a.k, &SearchParams::with_ef(64))?.iter().map(|h| h.id).collect();
    let rto = t.elapsed().as_secs_f64();
    if got != expected {
        return Err(invalid(format!("the restored database answers {got:?}, the source {expected:?}")));
    }
    line("restore start to first correct query (RTO)", rto, copied.files, copied.bytes);
    drop(restored);
    let _ = std::fs::remove_dir_all(&work);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
