//! [`Db::health`]: whether a database can serve, for load balancer checks and alerts.
//!
//! | reason `code` | status | when |
//! |---|---|---|
//! | `poisoned` | Unhealthy | the writer refuses writes until reopened ([`crate::ErrorKind::Poisoned`]) |
//! | `fenced` | Unhealthy | the last commit or compaction failed with [`crate::ErrorKind::Fenced`]: a newer writer owns the database |
//! | `commit_failed` | Degraded | the last commit (automatic or called) failed and none has succeeded since |
//! | `compaction_failed` | Degraded | the last compaction run (called or background) failed |
//! | `backup_failed` | Degraded | the last [`Db::backup_to`] of this process failed |
//! | `memory` | Degraded | uncommitted rows hold more than [`HealthThresholds::memtable_bytes`] |
//! | `deleted_ratio` | Degraded | deleted rows over [`HealthThresholds::max_deleted_ratio`] of stored rows: compact |
//! | `wal_bytes` | Degraded | the write-ahead log holds more than [`HealthThresholds::max_wal_bytes`] |
//! | `replica_lag` | Degraded | a replica has not refreshed successfully for [`HealthThresholds::max_replica_lag_s`] |
//! | `cache_hit_ratio` | Degraded | block cache hits under [`HealthThresholds::min_cache_hit_ratio`] of lookups (after 1,000) |

use std::time::Duration;

use crate::{Db, ErrorKind};

/// Overall status, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HealthStatus {
    /// Serving normally.
    Healthy,
    /// Serving, but something needs an operator (compaction, a failing store, memory).
    Degraded,
    /// Not serving writes (poisoned or fenced writer): take it out of rotation and reopen.
    Unhealthy,
}

impl HealthStatus {
    /// `healthy`, `degraded` or `unhealthy`.
    pub fn name(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }

    /// Process exit code of `stratovec health`: 0, 1 or 2.
    pub fn exit_code(self) -> i32 {
        self as i32
    }
}

/// One reason the database is not healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// What this reason makes the status.
    pub status: HealthStatus,
    /// A stable identifier (see the module docs' table), e.g. `deleted_ratio`.
    pub code: &'static str,
    /// What was found, with numbers.
    pub message: String,
}

/// The answer of [`Db::health`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// The worst status of `reasons` (Healthy when there are none).
    pub status: HealthStatus,
    /// Every finding, worst first.
    pub reasons: Vec<Reason>,
}

/// Thresholds of [`Db::health`] ([`crate::DbOptions::health`]).
#[derive(Debug, Clone, PartialEq)]
pub struct HealthThresholds {
    /// Deleted rows (not yet compacted away) over stored rows above which the database is
    /// Degraded. Default 0.2.
    pub max_deleted_ratio: f64,
    /// Bytes of uncommitted rows (active and frozen memtables) above which the database is
    /// Degraded: commits are not keeping up or failing. `None` (the default): the hard
    /// limit [`crate::DbOptions::memory_limit_bytes`], else twice
    /// [`crate::DbOptions::memtable_limit_bytes`] (never, without either).
    pub memtable_bytes: Option<usize>,
    /// Bytes of write-ahead log files above which the database is Degraded. Default 1 GiB.
    pub max_wal_bytes: Option<u64>,
    /// A replica whose last successful refresh is older than this is Degraded. Default
    /// `None` (a replica that never refreshes is not lagging by choice).
    pub max_replica_lag_s: Option<f64>,
    /// With a block cache, hits over lookups below this (after 1,000 lookups) make the
    /// database Degraded: the cache is too small for the working set. Default `None`.
    pub min_cache_hit_ratio: Option<f64>,
}

impl Default for HealthThresholds {
    fn default() -> Self {
        HealthThresholds {
            max_deleted_ratio: 0.2,
            memtable_bytes: None,
            max_wal_bytes: Some(1 << 30),
            max_replica_lag_s: None,
            min_cache_hit_ratio: None,
        }
    }
}

/// Lookups a cache must have served before its hit ratio is judged.
const CACHE_LOOKUPS_JUDGED: u64 = 1_000;

impl Db {
    /// Whether this database can serve, with every reason it is not fully healthy (see the
    /// module docs for the reasons and [`crate::DbOptions::health`] for the thresholds).
    /// Cheap: reads counters and sizes, no I/O except listing the write-ahead log directory.
    pub fn health(&self) -> Health {
        let stats = self.stats();
        let mut reasons = Vec::new();
        let mut add = |status, code, message: String| reasons.push(Reason { status, code, message });
        if let Some(why) = &stats.poisoned {
            add(HealthStatus::Unhealthy, "poisoned", format!("the writer refuses writes until reopened: {why}"));
        }
        for (code, failure) in
            [("commit_failed", self.telemetry.commit_failure()), ("compaction_failed", self.telemetry.compaction_failure())]
        {
            let Some(e) = failure else { continue };
            if e.kind() == ErrorKind::Fenced {
                add(HealthStatus::Unhealthy, "fenced", format!("a newer writer owns the database: {e}"));
            } else {
                add(HealthStatus::Degraded, code, format!("{} ({}): {}", code.replace('_', " "), e.kind().name(), e.message()));
            }
        }
        if let Some(Err(e)) = &*self.telemetry.last_backup.lock() {
            add(HealthStatus::Degraded, "backup_failed", format!("the last backup failed ({}): {}", e.kind().name(), e.message()));
        }
        let t = &self.options.health;
        let memory_limit =
            t.memtable_bytes.or(self.options.memory_limit_bytes).or(self.options.memtable_limit_bytes.map(|b| b.saturating_mul(2)));
        if let Some(limit) = memory_limit.filter(|&l| stats.memtable_bytes > l) {
            add(HealthStatus::Degraded, "memory", format!("uncommitted rows hold {} bytes (limit {limit})", stats.memtable_bytes));
        }
        if stats.deleted_ratio > t.max_deleted_ratio {
            add(
                HealthStatus::Degraded,
                "deleted_ratio",
                format!(
                    "{:.1}% of stored rows are deleted (limit {:.1}%): compact",
                    stats.deleted_ratio * 100.0,
                    t.max_deleted_ratio * 100.0
                ),
            );
        }
        if let Some(limit) = t.max_wal_bytes.filter(|&l| stats.wal_bytes > l) {
            add(
                HealthStatus::Degraded,
                "wal_bytes",
                format!("the write-ahead log holds {} bytes (limit {limit}): commit", stats.wal_bytes),
            );
        }
        if let (true, Some(bound)) = (self.read_only, t.max_replica_lag_s) {
            let since = self.telemetry.since_caught_up();
            if since > Duration::from_secs_f64(bound) {
                add(
                    HealthStatus::Degraded,
                    "replica_lag",
                    format!("no successful refresh for {:.0} s (limit {bound} s)", since.as_secs_f64()),
                );
            }
        }
        if let (Some(min), Some(c)) = (t.min_cache_hit_ratio, &stats.cache) {
            let lookups = c.ram_hits + c.disk_hits + c.misses;
            let ratio = (c.ram_hits + c.disk_hits) as f64 / lookups.max(1) as f64;
            if lookups >= CACHE_LOOKUPS_JUDGED && ratio < min {
                add(
                    HealthStatus::Degraded,
                    "cache_hit_ratio",
                    format!("cache hit ratio {ratio:.3} (limit {min}): the cache is smaller than the working set"),
                );
            }
        }
        reasons.sort_by_key(|r| std::cmp::Reverse(r.status));
        Health { status: reasons.first().map_or(HealthStatus::Healthy, |r| r.status), reasons }
    }
}
