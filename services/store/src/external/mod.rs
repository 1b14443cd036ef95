//! The Kubernetes external metrics API (`external.metrics.k8s.io/v1beta1`), served to the
//! HPA through the API aggregator.
//!
//! - [`rules`]: which metric names exist and the PromQL each runs (pure).
//! - [`auth`]: front-proxy and client-certificate authentication, authorization (pure).
//! - [`kube_json`]: the response and `Status` shapes.
//! - [`api`]: the routes.

pub mod api;
pub mod auth;
pub mod kube_json;
pub mod rules;
