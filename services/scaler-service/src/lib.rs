//! The `scale` role: the metric sources and the control loop around the pure engines of
//! `tachyscale-scaler`, acting through the `tachyscale-cluster` interface.
//!
//! - [`triggers`]: KEDA-style triggers (`aws-sqs-queue`, `aws-cloudwatch`, `prometheus`),
//!   each a pure metadata parser and value rule plus a fetch;
//! - [`fetch`]: the clients the triggers fetch through (AWS SDK clients from the standard
//!   configuration chain with an overridable endpoint, the Prometheus query API).

pub mod apply;
pub mod checkpoints;
pub mod config;
pub mod context;
pub mod cpa_runner;
pub mod decision_log;
pub mod explain;
pub mod fetch;
pub mod hpa_runner;
pub mod http;
pub mod metrics;
pub mod queries;
pub mod role;
pub mod triggers;
pub mod vpa_runner;
