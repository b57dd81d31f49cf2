//! In-process failpoints (feature `failpoints`): faults that cannot be caused from outside.
#![cfg(feature = "failpoints")]

use std::sync::Arc;

use stratovec::*;

mod common;
use common::{block, vectors};

/// "fsyncgate": after one failed `fsync` the kernel may have dropped the dirty pages and
/// cleared the error, so a later `fsync` that succeeds proves nothing. The write whose sync
/// failed is refused, and so is every later write, although `fsync` works again.
#[test]
fn one_failed_fsync_fails_every_later_write() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DbOptions::default().with_durability(Durability::Wal(WalOptions::new(dir.path())));
    let db = block(Db::create(Arc::new(MemoryStore::new()), 4, Metric::L2, opts)).unwrap();
    db.insert(1, &vectors(1, 4, 1)).unwrap();
    fail::cfg("wal::fsync_fails", "1*return").unwrap();
    let e = db.insert(2, &vectors(1, 4, 2)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    fail::cfg("wal::fsync_fails", "off").unwrap();
    let e = db.insert(3, &vectors(1, 4, 3)).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Poisoned | ErrorKind::Unavailable), "{e}");
    assert!(!db.contains(3));
}
