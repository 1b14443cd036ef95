//! The two Kubernetes text formats tachyscale has to speak exactly: `resource.Quantity`
//! strings and label selector strings.
//!
//! The external metrics API sends every metric value as a canonical quantity (`"1500m"`)
//! and the HPA reads it back in milli-units, rounding up; the same API receives the HPA's
//! metric selector as a `labelSelector` query string (`env in (prod,qa),!canary`) that the
//! scaler has to evaluate against series labels or translate into PromQL matchers. Getting
//! either format slightly wrong shows up as a wrong replica count or a 400 from the adapter,
//! so both live here, with the rules written down next to the code.
//!
//! The crate is pure — no I/O, no async, no dependency beyond `thiserror` — so the server
//! crates depend on it without pulling anything in, and unit tests, property tests and
//! conformance vectors call it directly.
//!
//! - [`quantity`]: [`quantity::format_decimal`] for values we send,
//!   [`quantity::parse`] for quantities we receive (targets, resource requests).
//! - [`selector`]: [`selector::parse`] into a [`selector::Selector`] that can
//!   [`matches`](selector::Selector::matches) a label set or become a PromQL matcher list.
//!
//! ```
//! use tachyscale_kubeformat::{quantity, selector};
//!
//! assert_eq!(quantity::format_decimal(0.1 + 0.2).unwrap(), "300m");
//! assert_eq!(quantity::parse("2Gi").unwrap().milli(), 2_147_483_648_000);
//!
//! let selector = selector::parse("env in (prod, qa),!canary").unwrap();
//! assert!(selector.matches(|key| (key == "env").then_some("prod")));
//! assert_eq!(selector.to_promql_matchers().unwrap(), r#"env=~"prod|qa",canary="""#);
//! ```

pub mod quantity;
pub mod selector;
