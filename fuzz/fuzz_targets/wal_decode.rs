//! Arbitrary bytes read as a write-ahead log file: Ok (a good prefix and where it ends) or a
//! typed header error, never a panic; the good prefix re-encodes to records that read back
//! the same.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stratovec_formats::wal::{header, read, RecordBuilder, WalOp};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = read(data) else { return };
    assert!(file.valid_len <= data.len());
    assert_eq!(file.stopped.is_none(), file.valid_len == data.len());
    let mut again = header(file.database_id).to_vec();
    for ops in &file.records {
        let mut b = RecordBuilder::default();
        for op in ops {
            match op {
                WalOp::Upsert { id, vector, metadata, payload } => b.upsert(*id, vector, metadata, payload),
                WalOp::Delete { id } => b.delete(*id),
            }
        }
        again.extend(b.finish().unwrap());
    }
    let reread = read(&again).expect("re-encoded log reads");
    // Debug output compares NaN vectors bit for bit where `==` would not.
    assert_eq!(format!("{:?}", reread.records), format!("{:?}", file.records));
    assert!(reread.stopped.is_none());
    assert_eq!(reread.database_id, file.database_id);
});
