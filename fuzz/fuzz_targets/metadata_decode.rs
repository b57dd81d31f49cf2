//! Arbitrary bytes into the column and metadata-row decoders: Ok or a typed error, never a
//! panic; decoded rows re-encode to rows that decode to the same metadata.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stratovec_formats::column::Column;
use stratovec_formats::metadata::{decode_row, encode_row};

fuzz_target!(|data: &[u8]| {
    let rows = data.first().map_or(0, |b| *b as u64 % 8);
    if let Ok(c) = Column::decode(data, rows) {
        for i in 0..=c.len() {
            let _ = c.get(i);
        }
    }
    if let Ok(c) = Column::view(data, rows) {
        for i in 0..=c.len() {
            if let Some(row) = c.get(i) {
                let _ = decode_row(row);
            }
        }
    }
    if let Ok(m) = decode_row(data) {
        assert_eq!(decode_row(&encode_row(&m)).expect("re-encoded row decodes"), m);
    }
});
