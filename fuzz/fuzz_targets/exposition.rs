//! Feeds arbitrary bytes (at most 64 KiB) to both parsers with small limits: no input may
//! panic. Whatever parses is written back with `format_exposition` and parsed again, which
//! must give the same families and samples. The one allowed difference: OpenMetrics
//! timestamps are written with millisecond precision, so an exposition with timestamps may
//! fail to re-parse (two sub-millisecond points of a histogram become one).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tachyscale_exposition::{format_exposition, Exposition, Format, Limits, Parser};

/// Larger inputs are skipped: they find nothing new and slow the fuzzer down.
const MAX_INPUT_BYTES: usize = 64 * 1024;

const LIMITS: Limits = Limits {
    max_samples: 2_000,
    max_labels_per_sample: 16,
    max_label_name_bytes: 64,
    max_label_value_bytes: 256,
};

type Flat = (
    Vec<(String, String, Option<String>, Option<String>)>,
    Vec<(String, Vec<(String, String)>, u64, Option<i64>, usize)>,
);

fn flatten(e: &Exposition<'_>) -> Flat {
    let families = e
        .families()
        .map(|f| {
            (
                f.name.to_string(),
                f.kind.to_string(),
                f.help.map(str::to_string),
                f.unit.map(str::to_string),
            )
        })
        .collect();
    let samples = e
        .samples()
        .map(|s| {
            let labels = s
                .labels()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect();
            let family = s.family();
            assert_eq!(Some(family), e.family(s.family_index()));
            (
                s.name().to_string(),
                labels,
                s.value().to_bits(),
                s.timestamp_ms(),
                s.family_index(),
            )
        })
        .collect();
    (families, samples)
}

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT_BYTES {
        return;
    }
    let mut parser = Parser::new(LIMITS);
    let mut again = Parser::new(LIMITS);
    for format in [Format::Text004, Format::OpenMetrics100] {
        let exposition = match parser.parse(data, format) {
            Ok(e) => e,
            Err(e) => {
                // Errors must be printable and locate inside the body.
                let _ = e.to_string();
                assert!(e.offset <= data.len() && e.line >= 1 && e.column >= 1);
                continue;
            }
        };
        let first = flatten(&exposition);
        let written = format_exposition(&exposition, format);
        match again.parse(&written, format) {
            Ok(back) => assert_eq!(flatten(&back), first, "re-parse differs:\n{written}"),
            Err(e) => assert!(
                format == Format::OpenMetrics100
                    && exposition.samples().any(|s| s.timestamp_ms().is_some()),
                "written exposition does not parse: {e}\n{written}"
            ),
        }
    }
});
