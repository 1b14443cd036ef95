//! Fixtures shared by the VPA integration tests (`vpa_conformance.rs`, `vpa_engine.rs`):
//! the reference vectors' start time, a VPA spec from JSON, and a day of recommender input
//! for one container with one container's recommendation read back.

use tachyscale_scaler::time::parse_rfc3339_ms;
use tachyscale_scaler::vpa::policy::VpaSpec;
use tachyscale_scaler::vpa::recommender::{CpuSample, MemorySample, Recommender, SampleTarget};
use tachyscale_scaler::vpa::resources::{RecommendedPodResources, ResourceList};

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;
pub const MIB: i64 = 1024 * 1024;

/// 2017-04-18 17:35:05 UTC.
pub fn t() -> i64 {
    parse_rfc3339_ms("2017-04-18T17:35:05Z").unwrap()
}

pub fn spec(json: &str) -> VpaSpec {
    serde_json::from_str(json).unwrap()
}

pub const TARGET_REF: &str =
    r#""targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"}"#;

/// A day of one-minute CPU samples at 300m and hourly memory at 400 MiB, per container.
pub fn feed_day(r: &mut Recommender<String>, vpa: &str, container: &str) {
    let target = SampleTarget {
        container,
        pod: "web-1",
    };
    for minute in 0..1440 {
        let ts_ms = t() + minute * 60_000;
        r.add_cpu_sample(
            vpa,
            target,
            CpuSample {
                ts_ms,
                usage_millicores: 300,
                request_millicores: 0,
            },
        )
        .unwrap();
        if minute % 60 == 0 {
            r.add_memory_sample(
                vpa,
                target,
                MemorySample {
                    ts_ms,
                    usage_bytes: 400 * MIB,
                },
            )
            .unwrap();
        }
    }
}

/// `container`'s target, lower bound, upper bound and uncapped target.
pub fn only(
    recommendation: &RecommendedPodResources,
    container: &str,
) -> (ResourceList, ResourceList, ResourceList, ResourceList) {
    let c = recommendation
        .container_recommendations
        .iter()
        .find(|c| c.container_name == container)
        .unwrap();
    (c.target, c.lower_bound, c.upper_bound, c.uncapped_target)
}
