//! `stats` and `health`: the database's statistics and health as text or one JSON object.

use serde_json::{json, Value};
use stratovec::{Db, DbOptions, Error, Health, Stats};

use crate::commands::{read_only, DbArgs};

/// `stats` as one JSON object: the keys of [`Stats`] plus `health`.
pub fn stats_json(s: &Stats, h: &Health) -> Value {
    let m = &s.memory;
    let l = &s.search_latency;
    json!({
        "version": s.version,
        "epoch": s.epoch,
        "dim": s.dim,
        "metric": s.metric.name(),
        "rows": s.rows,
        "rows_live": s.live_rows,
        "rows_deleted": s.deleted_rows,
        "deleted_ratio": s.deleted_ratio,
        "segments": s.segments_by_kind.iter().map(|k| json!({"kind": k.kind, "segments": k.segments, "rows": k.rows, "bytes": k.bytes})).collect::<Vec<_>>(),
        "segment_count": s.segments,
        "disk_bytes": {"segments": s.segment_bytes, "wal": s.wal_bytes},
        "memtable_rows": s.memtable_rows,
        "memory_bytes": {"memtable": m.memtable, "frozen": m.frozen, "pk_index": m.pk_index, "tombstones": m.tombstones,
                         "segments_mapped": m.segments, "cache_ram": m.cache_ram, "heap": m.heap()},
        "wal_bytes": s.wal_bytes,
        "cache": s.cache.map(|c| json!({"ram_hits": c.ram_hits, "disk_hits": c.disk_hits, "misses": c.misses,
                                         "requests": c.requests, "bytes_fetched": c.bytes_fetched})),
        "operations": s.operations.iter().map(|o| (o.operation.name().to_string(), json!({"calls": o.calls, "errors": o.errors})))
            .collect::<serde_json::Map<_, _>>(),
        "search_latency": {"window_s": l.window_s, "searches": l.searches, "qps": l.qps,
                           "p50_ms": l.p50_ms, "p95_ms": l.p95_ms, "p99_ms": l.p99_ms, "max_ms": l.max_ms},
        "last_commit": s.last_commit.map(|r| json!({"at_unix_ms": r.at_unix_ms, "seconds": r.seconds})),
        "last_compaction": s.last_compaction.map(|r| json!({"at_unix_ms": r.at_unix_ms, "seconds": r.seconds})),
        "last_backup": s.last_backup.map(|r| json!({"at_unix_ms": r.at_unix_ms, "seconds": r.seconds})),
        "kernel": s.kernel,
        "log_replay": {"records": s.log_replay.records, "dropped_bytes": s.log_replay.dropped_bytes},
        "poisoned": s.poisoned,
        "health": health_json(h),
    })
}

/// `health` as JSON: `status` and `reasons` (`status`, `code`, `message`).
pub fn health_json(h: &Health) -> Value {
    json!({
        "status": h.status.name(),
        "reasons": h.reasons.iter().map(|r| json!({"status": r.status.name(), "code": r.code, "message": r.message})).collect::<Vec<_>>(),
    })
}

fn open(a: &DbArgs) -> Result<(stratovec::ReadOnlyDb, f64), Error> {
    let t = std::time::Instant::now();
    let db = pollster::block_on(Db::open_read_only(read_only(&a.db)?, DbOptions::default()))?;
    Ok((db, t.elapsed().as_secs_f64() * 1e3))
}

pub fn stats(a: DbArgs) -> Result<(), Error> {
    let (db, open_ms) = open(&a)?;
    let s = db.stats();
    let h = db.health();
    if a.json {
        let mut v = stats_json(&s, &h);
        v["open_ms"] = json!(open_ms);
        println!("{v}");
        return Ok(());
    }
    println!("version        {} (epoch {})", s.version, s.epoch);
    println!("dim / metric   {} / {}", s.dim, s.metric);
    println!("rows           {} ({} live, {} deleted, {:.1}%)", s.rows, s.live_rows, s.deleted_rows, s.deleted_ratio * 100.0);
    println!("segments       {} ({} bytes)", s.segments, s.segment_bytes);
    for k in &s.segments_by_kind {
        println!("  {:<12} {} segments, {} rows, {} bytes", k.kind, k.segments, k.rows, k.bytes);
    }
    let m = &s.memory;
    println!(
        "memory         {} heap bytes (pk index {}, tombstones {}, memtable {}), {} bytes of segments mapped",
        m.heap(),
        m.pk_index,
        m.tombstones,
        m.memtable + m.frozen,
        m.segments
    );
    println!("open time      {open_ms:.1} ms");
    println!("kernel         {}", s.kernel);
    println!("health         {}", h.status.name());
    for r in &h.reasons {
        println!("  {} {}: {}", r.status.name(), r.code, r.message);
    }
    Ok(())
}

/// Options of `stratovec health`.
#[derive(clap::Args)]
pub struct HealthArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Exit 0 when degraded too (a container health check that should fail only when
    /// the database cannot serve).
    #[arg(long)]
    degraded_ok: bool,
}

/// `stratovec health`: prints the status and reasons; the exit code is 0 (healthy),
/// 1 (degraded; 0 with --degraded-ok) or 2 (unhealthy), and 2 when the database cannot be
/// opened.
pub fn health(args: HealthArgs) -> Result<i32, Error> {
    let a = &args.db;
    let (db, _) = open(a)?;
    let h = db.health();
    if args.degraded_ok && h.status == stratovec::HealthStatus::Degraded {
        println!("{} (counted healthy: --degraded-ok)", h.status.name());
        return Ok(0);
    }
    if a.json {
        println!("{}", health_json(&h));
    } else {
        println!("{}", h.status.name());
        for r in &h.reasons {
            println!("  {} {}: {}", r.status.name(), r.code, r.message);
        }
    }
    Ok(h.status.exit_code())
}
