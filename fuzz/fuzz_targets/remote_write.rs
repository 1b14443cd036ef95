//! Feeds arbitrary bytes (at most 64 KiB) to the remote-write decoder with a 1 MiB
//! decompression limit: no input may panic or allocate past the limit, and every decoded
//! request must encode and decode back to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tachyscale_proto::remote_write::{decode, encode};

const MAX_INPUT_BYTES: usize = 64 * 1024;
const MAX_DECODED_BYTES: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT_BYTES {
        return;
    }
    if let Ok(request) = decode(data, MAX_DECODED_BYTES) {
        let body = encode(&request);
        let again = decode(&body, usize::MAX).expect("our own encoding decodes");
        // Compare through the encoding: NaN values make `==` on the structs false.
        assert_eq!(encode(&again), body);
    }
});
