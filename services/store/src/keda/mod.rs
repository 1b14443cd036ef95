//! KEDA's external scaler gRPC API (`externalscaler.ExternalScaler`), served by the store.
//!
//! - [`metadata`]: the `scalerMetadata` schema (pure).
//! - [`plan`]: parsed triggers, cached by their metadata.
//! - [`value`]: answer → the one non-negative value KEDA gets (pure).
//! - [`streams`]: push of activity changes to `StreamIsActive` subscribers.
//! - [`service`]: the tonic service.

pub mod metadata;
pub mod plan;
pub mod service;
pub mod streams;
pub mod value;

pub use service::KedaService;
pub use streams::StreamHub;
