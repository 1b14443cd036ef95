//! Prometheus relabeling (`relabel_configs`, `metric_relabel_configs`) with the semantics of
//! Prometheus v2.42 (`model/relabel/relabel.go`), as a pure library: no I/O, no async.
//!
//! The scraper uses it twice: on target label sets (`__address__`, `__scheme__`,
//! `__metrics_path__`, `__param_*`, `__meta_*`, `__tmp_*`) and on every new series of a scrape.
//! It caches the outcome per series, so exactness comes first, but the hot path avoids
//! needless allocation (single-source values are borrowed, literal templates are not copied,
//! unchanged labels are not rewritten).
//!
//! ```
//! use tachyscale_relabel::{process, LabelSet, RawRelabelConfig, RelabelConfig, Verdict};
//!
//! let raw: RawRelabelConfig = RawRelabelConfig {
//!     source_labels: Some(vec!["__address__".into(), "__meta_port".into()]),
//!     regex: Some(r"([^:]+)(?::\d+)?;(\d+)".into()),
//!     replacement: Some("$1:$2".into()),
//!     target_label: Some("__address__".into()),
//!     ..Default::default()
//! };
//! let rules = vec![RelabelConfig::try_from(raw).expect("valid rule")];
//! let mut labels = LabelSet::from_pairs([("__address__", "10.0.0.1:80"), ("__meta_port", "9100")]);
//! assert_eq!(process(&mut labels, &rules), Verdict::Keep);
//! assert_eq!(labels.get("__address__"), "10.0.0.1:9100");
//! ```
//!
//! Modules: [`config`] (raw serde shape → validated rule; with `action`, `error` and `yaml`
//! for the action names, validation errors and yaml.v2-compatible field decoding), [`regex`] (anchored Go-semantics
//! regex), `translate` (Go → `regex` crate syntax), `template` (Go `$` expansion), `case`
//! (Go case mapping), [`labels`] (the label set), [`process()`](process()) (applying rules).

mod action;
mod case;
pub mod config;
mod error;
pub mod labels;
pub mod process;
pub mod regex;
mod template;
mod translate;
mod yaml;

pub use config::{
    Action, ConfigError, RawRelabelConfig, RelabelConfig, DEFAULT_REPLACEMENT, DEFAULT_SEPARATOR,
};
pub use labels::{is_valid_label_name, LabelSet};
pub use process::{hashmod, process, Verdict};
pub use regex::{Regex, RegexError, DEFAULT_REGEX};
pub use translate::SyntaxError;
