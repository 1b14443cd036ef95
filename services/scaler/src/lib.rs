//! The autoscaling calculations of tachyscale, as pure functions: the Horizontal Pod
//! Autoscaler's replica calculation and behavior ([`hpa`]), the Vertical Pod Autoscaler's
//! recommender ([`vpa`]), the cluster-proportional autoscaler ([`cpa`]) and scheduled
//! pre-scaling windows ([`schedule`]).
//!
//! Every function here takes the evaluation time as an argument and does no I/O, so the
//! upstream conformance vectors, property tests, the `explain` commands and the control
//! loop of the `scale` role all run the same code. The input and output types use the
//! upstream objects' JSON field names (`scaleTargetRef`, `containerPolicies`, …) so users
//! can paste their existing specs.
//!
//! Shared helpers: [`time`] reads and writes Kubernetes RFC 3339 timestamps as `i64`
//! milliseconds; [`units`] reads quantities (`"500m"`, `2`, `"1Gi"`) as milli-units.

pub mod cpa;
pub mod hpa;
pub mod schedule;
pub mod time;
pub mod units;
pub mod vpa;
