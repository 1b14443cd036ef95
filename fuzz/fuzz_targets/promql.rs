//! Feeds arbitrary UTF-8 (at most 4 KiB) to the PromQL parser: no input may panic, and
//! whatever parses must print (`Display`) to text that parses to the same expression.

#![no_main]

use libfuzzer_sys::fuzz_target;

/// Queries longer than this find nothing new and slow the fuzzer down.
const MAX_INPUT_BYTES: usize = 4 * 1024;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT_BYTES {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(expr) = tachyscale_promql::parse(text) {
        let printed = expr.to_string();
        let again = tachyscale_promql::parse(&printed)
            .unwrap_or_else(|e| panic!("printed form {printed:?} of {text:?} does not parse: {e}"));
        assert_eq!(again.to_string(), printed, "printing is not stable for {text:?}");
    }
});
