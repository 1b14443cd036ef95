//! Scraping one target: fetch, parse, append, report, on the target's aligned schedule.

pub mod appender;
pub mod cache;
pub mod fetch;
pub mod http_source;
pub mod report;
pub mod scrape_loop;
pub mod status;

pub use appender::{AppendCounts, AppendError, Appender, SampleOptions};
pub use scrape_loop::{ScrapeLoop, TargetSource};
pub use status::{TargetHealth, TargetStatus};
