//! Remote-write 1.0 bodies: a protobuf `WriteRequest` compressed with snappy's block format.
//!
//! Decoding checks the decompressed length announced in the snappy header against a limit
//! before allocating, so a small hostile body cannot make the receiver allocate gigabytes.

use prost::Message;

use crate::prometheus::WriteRequest;

/// Why a remote-write body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("snappy block header is invalid")]
    SnappyHeader(#[source] snap::Error),
    #[error("decompressed body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("snappy block is corrupt")]
    Snappy(#[source] snap::Error),
    #[error("protobuf WriteRequest is invalid")]
    Protobuf(#[source] prost::DecodeError),
}

impl DecodeError {
    /// Bounded reason label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::SnappyHeader(_) | DecodeError::Snappy(_) => "bad_snappy",
            DecodeError::TooLarge { .. } => "body_too_large",
            DecodeError::Protobuf(_) => "bad_protobuf",
        }
    }
}

/// Decodes a snappy-compressed `WriteRequest`, refusing bodies that would decompress to more
/// than `max_decoded_bytes`.
pub fn decode(body: &[u8], max_decoded_bytes: usize) -> Result<WriteRequest, DecodeError> {
    let size = snap::raw::decompress_len(body).map_err(DecodeError::SnappyHeader)?;
    if size > max_decoded_bytes {
        return Err(DecodeError::TooLarge {
            size,
            limit: max_decoded_bytes,
        });
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(DecodeError::Snappy)?;
    WriteRequest::decode(raw.as_slice()).map_err(DecodeError::Protobuf)
}

/// Encodes a `WriteRequest` as a remote-write body.
pub fn encode(request: &WriteRequest) -> Vec<u8> {
    let raw = request.encode_to_vec();
    // Compressing an in-memory buffer only fails for inputs above snappy's 4 GiB block limit.
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::{Label, Sample, TimeSeries};

    fn request() -> WriteRequest {
        WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "__name__".into(),
                    value: "up".into(),
                }],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 1_000,
                }],
            }],
        }
    }

    #[test]
    fn round_trips() {
        assert_eq!(decode(&encode(&request()), 1 << 20).unwrap(), request());
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let mut raw = request().encode_to_vec();
        // field 3 (metadata), length-delimited, 2 bytes
        raw.extend_from_slice(&[0x1a, 0x02, 0x08, 0x01]);
        let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
        assert_eq!(decode(&body, 1 << 20).unwrap(), request());
    }

    #[test]
    fn errors_name_their_layer() {
        assert_eq!(
            decode(b"\xff\xff\xff\xff\xff", 1 << 20)
                .unwrap_err()
                .reason(),
            "bad_snappy"
        );
        let not_proto = snap::raw::Encoder::new().compress_vec(b"\x0a\xff").unwrap();
        assert_eq!(
            decode(&not_proto, 1 << 20).unwrap_err().reason(),
            "bad_protobuf"
        );
        let big = encode(&request());
        assert_eq!(decode(&big, 4).unwrap_err().reason(), "body_too_large");
    }
}
