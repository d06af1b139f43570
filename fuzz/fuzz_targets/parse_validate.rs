//! Fuzz parse + validate: any bytes either parse into a topology or are
//! rejected with at least one error, each located inside the text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Files that are not UTF-8 are refused by spec::load before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = netloom::spec::parse_str("fuzz.yaml", text) {
        assert!(!e.errors.is_empty(), "a rejection without an error");
        let lines = text.split('\n').count();
        for err in &e.errors {
            let at = err.at;
            assert!(
                at.line >= 1 && at.line <= lines && at.column >= 1,
                "{at:?} outside the text: {}",
                err.message
            );
            assert!(
                at.offset <= text.len() && at.offset + at.len <= text.len(),
                "{at:?} outside the text: {}",
                err.message
            );
        }
    }
});
