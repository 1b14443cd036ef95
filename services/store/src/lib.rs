//! The `store` role: Prometheus remote-write in, Prometheus HTTP query API out, over the
//! in-memory engine of `tachyscale-tsdb` and the evaluator of `tachyscale-promql`.
//!
//! - [`config`]: YAML shape and validated settings.
//! - [`ingest`]: remote-write validation and appends (no HTTP).
//! - [`api`]: the axum router and handlers.
//! - [`server`]: the role's lifecycle.

pub mod api;
pub mod config;
pub mod evaluate;
pub mod external;
pub mod generations;
pub mod ingest;
pub mod keda;
pub mod matchers;
pub mod metrics;
pub mod rate_limit;
pub mod result_cache;
pub mod scaling_metrics;
pub mod server;
pub mod tls;

pub use config::StoreSettings;
pub use server::Store;
