//! Unary external-scaler RPCs with request bodies encoded once, up front.
//!
//! The generated `ExternalScalerClient` takes each request by value, so every call would
//! clone the `ScaledObjectRef` (its metadata map and strings) and encode it again. At tens
//! of thousands of RPCs per second on the same two cores as the store, that is client
//! work the benchmark should not charge itself. Here each object's messages are encoded
//! once into `Bytes`; a call clones a reference count and copies the bytes into the frame.
//! Paths, framing and responses are exactly what the generated client uses.

use std::marker::PhantomData;

use bytes::{BufMut as _, Bytes};
use tonic::codec::{Codec, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Request, Status};
use tonic_prost::ProstDecoder;

/// The RPCs of one KEDA poll, in the order KEDA issues them.
#[derive(Clone, Copy, Debug)]
pub enum Method {
    GetMetricSpec,
    GetMetrics,
    IsActive,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::GetMetricSpec, Method::GetMetrics, Method::IsActive];

    pub fn name(self) -> &'static str {
        match self {
            Method::GetMetricSpec => "GetMetricSpec",
            Method::GetMetrics => "GetMetrics",
            Method::IsActive => "IsActive",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Method::GetMetricSpec => "/externalscaler.ExternalScaler/GetMetricSpec",
            Method::GetMetrics => "/externalscaler.ExternalScaler/GetMetrics",
            Method::IsActive => "/externalscaler.ExternalScaler/IsActive",
        }
    }
}

/// A gRPC client over one channel; clones share the channel's HTTP/2 connection.
#[derive(Clone)]
pub struct RawScaler {
    grpc: tonic::client::Grpc<Channel>,
}

impl RawScaler {
    pub fn new(channel: Channel) -> RawScaler {
        RawScaler {
            grpc: tonic::client::Grpc::new(channel),
        }
    }

    /// Sends an encoded request and decodes the response as `U`.
    pub async fn call<U>(&mut self, method: Method, body: Bytes) -> Result<U, Status>
    where
        U: prost::Message + Default + Send + 'static,
    {
        self.grpc.ready().await.map_err(|e| {
            let e: tonic::codegen::StdError = e.into();
            Status::unavailable(format!("channel not ready: {e}"))
        })?;
        let codec = PreEncoded::<U>(PhantomData);
        let path = PathAndQuery::from_static(method.path());
        let response = self.grpc.unary(Request::new(body), path, codec).await?;
        Ok(response.into_inner())
    }
}

/// Encodes nothing (the body is ready), decodes with prost.
struct PreEncoded<U>(PhantomData<fn() -> U>);

impl<U: prost::Message + Default + Send + 'static> Codec for PreEncoded<U> {
    type Encode = Bytes;
    type Decode = U;
    type Encoder = BytesEncoder;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> BytesEncoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> ProstDecoder<U> {
        ProstDecoder::default()
    }
}

struct BytesEncoder;

impl Encoder for BytesEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}
