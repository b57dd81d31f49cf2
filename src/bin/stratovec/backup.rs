//! `backup` (incremental, into a store that may hold earlier backups of the same database)
//! and `restore` (one consistent version into an empty store).

use std::time::SystemTime;

use stratovec::{Db, DbOptions, Error, ErrorKind};

use crate::commands::read_only;

/// Options of `stratovec backup`.
#[derive(clap::Args)]
pub struct BackupArgs {
    /// Database to back up: a directory or store URI (read only; works beside the writer).
    #[arg(short, long, env = "STRATOVEC_DB")]
    db: String,
    /// Destination: a directory or store URI, empty or holding earlier backups of it.
    #[arg(long)]
    to: String,
}

/// Options of `stratovec restore`.
#[derive(clap::Args)]
pub struct RestoreArgs {
    /// Backup (or database) to restore from: a directory or store URI.
    #[arg(long)]
    from: String,
    /// Destination: a directory or store URI that holds no database.
    #[arg(long)]
    to: String,
    /// Restore this version (default: the newest).
    #[arg(long, conflicts_with = "at")]
    version: Option<u64>,
    /// Restore the newest version made at or before this time (RFC 3339, e.g.
    /// 2026-11-30T12:00:00Z).
    #[arg(long)]
    at: Option<String>,
}

pub fn backup(a: BackupArgs) -> Result<(), Error> {
    let db = pollster::block_on(Db::open_read_only(read_only(&a.db)?, DbOptions::default()))?;
    let target = stratovec::store_from_uri(&a.to, false)?;
    let r = pollster::block_on(db.backup_to(target))?;
    if r.previous_version >= r.version {
        println!("{} already holds version {} (nothing to copy)", a.to, r.previous_version);
    } else {
        println!(
            "backed up version {} to {}: {} files copied, {} already there, {} bytes, {:.2} s (previous backup: version {})",
            r.version, a.to, r.files_copied, r.files_skipped, r.bytes_copied, r.seconds, r.previous_version
        );
    }
    Ok(())
}

pub fn restore(a: RestoreArgs) -> Result<(), Error> {
    let source = read_only(&a.from)?;
    let options = DbOptions::default();
    let db = match (&a.version, &a.at) {
        (Some(v), _) => pollster::block_on(Db::open_at(source, *v, options))?,
        (None, Some(t)) => {
            let time: SystemTime = humantime::parse_rfc3339_weak(t)
                .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("--at {t:?}: {e} (RFC 3339, e.g. 2026-11-30T12:00:00Z)")))?;
            pollster::block_on(Db::open_at_time(source, time, options))?
        }
        (None, None) => pollster::block_on(Db::open_read_only(source, options))?,
    };
    let t = std::time::Instant::now();
    let target = stratovec::store_from_uri(&a.to, false)?;
    let r = pollster::block_on(db.snapshot_to(target))?;
    println!("restored version {} to {}: {} files, {} bytes, {:.2} s", r.version, a.to, r.files, r.bytes, t.elapsed().as_secs_f64());
    Ok(())
}
