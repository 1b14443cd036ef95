//! The scraper's own instruments, registered on an injected registry.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `tachyscale_scraper_scrapes_total` | counter | `job`, `outcome` | scrapes by result (`success`, `failure`) |
//! | `tachyscale_scraper_scrape_errors_total` | counter | `job`, `reason` | failed scrapes by reason (connect, timeout, http_status, body_too_large, parse reasons, limits) |
//! | `tachyscale_scraper_scrape_duration_seconds` | histogram | `job` | fetch + parse + append time |
//! | `tachyscale_scraper_schedule_jitter_seconds` | histogram | | how late a scrape started after its scheduled instant |
//! | `tachyscale_scraper_missed_scrapes_total` | counter | `job` | scheduled instants skipped because the previous scrape overran or no slot was free |
//! | `tachyscale_scraper_samples_scraped_total` | counter | `job` | samples parsed from expositions |
//! | `tachyscale_scraper_samples_appended_total` | counter | `job` | samples handed to the sender (incl. stale markers and report series) |
//! | `tachyscale_scraper_stale_markers_total` | counter | `job` | stale markers written |
//! | `tachyscale_scraper_body_bytes_total` | counter | `job`, `format` | exposition bytes parsed (`text`, `openmetrics`) |
//! | `tachyscale_scraper_targets` | gauge | `job` | targets this member scrapes |
//! | `tachyscale_scraper_targets_not_owned` | gauge | `job` | targets left to other fleet members |
//! | `tachyscale_scraper_targets_invalid` | gauge | `job` | discovered label sets that are not valid targets |
//! | `tachyscale_scraper_scrapes_in_flight` | gauge | | scrapes in their parse/append phase (the part bounded by `max_concurrent_scrapes`) |
//! | `tachyscale_scraper_max_concurrent_scrapes` | gauge | | the concurrency limit |
//! | `tachyscale_scraper_sd_errors_total` | counter | `mechanism`, `reason` | discovery failures |
//! | `tachyscale_scraper_fleet_members` | gauge | `state` | fleet members by `live` / `down` |
//! | `tachyscale_scraper_node_agent_cgroups` | gauge | `kind` | last collection: `visited`, `containers`, `unknown_pods`, `vanished` |
//! | `tachyscale_scraper_node_agent_errors_total` | counter | `reason` | pod list and cgroup read failures |
//!
//! `job` values come from the config, so the label set is bounded by it.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Instruments of the scrape role.
#[derive(Clone)]
pub struct ScraperMetrics {
    pub scrapes: IntCounterVec,
    pub scrape_errors: IntCounterVec,
    pub scrape_duration: HistogramVec,
    pub schedule_jitter: Histogram,
    pub missed_scrapes: IntCounterVec,
    pub samples_scraped: IntCounterVec,
    pub samples_appended: IntCounterVec,
    pub stale_markers: IntCounterVec,
    pub body_bytes: IntCounterVec,
    pub targets: IntGaugeVec,
    pub targets_not_owned: IntGaugeVec,
    pub targets_invalid: IntGaugeVec,
    pub scrapes_in_flight: IntGauge,
    pub max_concurrent_scrapes: IntGauge,
    pub sd_errors: IntCounterVec,
    pub fleet_members: IntGaugeVec,
    pub node_agent_cgroups: IntGaugeVec,
    pub node_agent_errors: IntCounterVec,
}

fn register<C: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> Result<C, prometheus::Error> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, prometheus::Error> {
    register(registry, IntCounterVec::new(Opts::new(name, help), labels)?)
}

fn gauge(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntGaugeVec, prometheus::Error> {
    register(registry, IntGaugeVec::new(Opts::new(name, help), labels)?)
}

impl ScraperMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let seconds = vec![
            0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ];
        Ok(ScraperMetrics {
            scrapes: counter(
                registry,
                "tachyscale_scraper_scrapes_total",
                "Scrapes by job and outcome.",
                &["job", "outcome"],
            )?,
            scrape_errors: counter(
                registry,
                "tachyscale_scraper_scrape_errors_total",
                "Failed scrapes by job and reason.",
                &["job", "reason"],
            )?,
            scrape_duration: register(
                registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "tachyscale_scraper_scrape_duration_seconds",
                        "Time to fetch, parse and append one scrape.",
                    )
                    .buckets(seconds.clone()),
                    &["job"],
                )?,
            )?,
            schedule_jitter: register(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "tachyscale_scraper_schedule_jitter_seconds",
                        "How late scrapes start after their scheduled instant.",
                    )
                    .buckets(vec![
                        0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
                    ]),
                )?,
            )?,
            missed_scrapes: counter(
                registry,
                "tachyscale_scraper_missed_scrapes_total",
                "Scheduled scrapes skipped because the target's loop was behind.",
                &["job"],
            )?,
            samples_scraped: counter(
                registry,
                "tachyscale_scraper_samples_scraped_total",
                "Samples parsed from expositions.",
                &["job"],
            )?,
            samples_appended: counter(
                registry,
                "tachyscale_scraper_samples_appended_total",
                "Samples handed to the sender, including stale markers and report series.",
                &["job"],
            )?,
            stale_markers: counter(
                registry,
                "tachyscale_scraper_stale_markers_total",
                "Stale markers written for vanished series and targets.",
                &["job"],
            )?,
            body_bytes: counter(
                registry,
                "tachyscale_scraper_body_bytes_total",
                "Exposition bytes parsed, by format.",
                &["job", "format"],
            )?,
            targets: gauge(
                registry,
                "tachyscale_scraper_targets",
                "Targets this member scrapes.",
                &["job"],
            )?,
            targets_not_owned: gauge(
                registry,
                "tachyscale_scraper_targets_not_owned",
                "Targets owned by other fleet members.",
                &["job"],
            )?,
            targets_invalid: gauge(
                registry,
                "tachyscale_scraper_targets_invalid",
                "Discovered label sets that are not valid targets.",
                &["job"],
            )?,
            scrapes_in_flight: register(
                registry,
                IntGauge::new(
                    "tachyscale_scraper_scrapes_in_flight",
                    "Scrapes in their parse/append phase.",
                )?,
            )?,
            max_concurrent_scrapes: register(
                registry,
                IntGauge::new(
                    "tachyscale_scraper_max_concurrent_scrapes",
                    "The configured limit of scrapes parsing at once.",
                )?,
            )?,
            sd_errors: counter(
                registry,
                "tachyscale_scraper_sd_errors_total",
                "Service discovery failures.",
                &["mechanism", "reason"],
            )?,
            fleet_members: gauge(
                registry,
                "tachyscale_scraper_fleet_members",
                "Fleet members by state.",
                &["state"],
            )?,
            node_agent_cgroups: gauge(
                registry,
                "tachyscale_scraper_node_agent_cgroups",
                "Counts from the node agent's last cgroup collection.",
                &["kind"],
            )?,
            node_agent_errors: counter(
                registry,
                "tachyscale_scraper_node_agent_errors_total",
                "Node agent failures by reason.",
                &["reason"],
            )?,
        })
    }
}
