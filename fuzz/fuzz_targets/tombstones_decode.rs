//! Arbitrary bytes into the tombstone-file decoder: Ok or a typed error, and round-trips.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stratovec_formats::tombstones;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = tombstones::decode(data) {
        assert_eq!(tombstones::decode(&tombstones::encode(&t)).expect("round trip"), t);
    }
});
