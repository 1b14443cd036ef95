//! Wire contracts shared by the roles, generated from `proto/`.
//!
//! [`remote_write`] adds the framing around the generated messages (snappy block format,
//! size limits) so the store's receiver and the scraper's sender agree on one codec.

pub mod remote_write;

/// Messages of package `prometheus` (remote-write 1.0).
#[allow(clippy::all, missing_docs)]
pub mod prometheus {
    include!(concat!(env!("OUT_DIR"), "/prometheus.rs"));
}

/// KEDA's external scaler service (package `externalscaler`): messages, the tonic server
/// trait the store implements, and the client the load tests drive it with.
#[allow(clippy::all, missing_docs)]
pub mod externalscaler {
    include!(concat!(env!("OUT_DIR"), "/externalscaler.rs"));
}
