//! Arbitrary text into the filter parser: a filter or a `ParseError` whose offset lies in
//! the text, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stratovec::Filter;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Filter::parse(&text) {
        Ok(f) => {
            let _ = f.fields();
        }
        Err(e) => assert!(e.offset <= text.len(), "offset {} beyond {} bytes", e.offset, text.len()),
    }
});
