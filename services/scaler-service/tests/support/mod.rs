//! Shared pieces of the scaler's integration tests: a real store in-process (the metric
//! source), a simulated cluster on a manual clock, and a context wired to both.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tachyscale_cluster::simulated::{SimulatedCluster, WorkloadTemplate};
use tachyscale_cluster::{ContainerInfo, ManualClock, WorkloadRef};
use tachyscale_proto::prometheus::WriteRequest;
use tachyscale_scaler_service::config::{Policy, ScalerSettings};
use tachyscale_scaler_service::context::Context;
use tachyscale_scaler_service::decision_log::DecisionLog;
use tachyscale_scaler_service::fetch::{PrometheusApi, Sources};
use tachyscale_scaler_service::metrics::ScalerMetrics;
use tachyscale_testkit::remote_write::{one_sample, remote_write};
pub use tachyscale_testkit::StoreHandle;

/// A fixed start for the manual clock, near the real time so the store keeps the samples.
pub fn start_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    now - now % 1000
}

pub fn workload(name: &str) -> WorkloadRef {
    WorkloadRef {
        namespace: "shop".into(),
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        name: name.into(),
    }
}

pub fn template(app: &str, cpu_request_milli: i64) -> WorkloadTemplate {
    WorkloadTemplate {
        labels: BTreeMap::from([("app".to_owned(), app.to_owned())]),
        containers: vec![ContainerInfo {
            name: "app".into(),
            requests: BTreeMap::from([("cpu".to_owned(), cpu_request_milli)]),
            restart_always: false,
        }],
        pending_ms: 1_000,
        ready_after_ms: 1_000,
    }
}

pub struct Rig {
    pub store: StoreHandle,
    pub clock: Arc<ManualClock>,
    pub cluster: Arc<SimulatedCluster>,
    pub ctx: Context,
    pub settings: ScalerSettings,
}

impl Rig {
    /// A store, a simulated cluster and the scaler config `yaml` (its `query_url` is set
    /// to the store's).
    pub async fn start(yaml: &str) -> Rig {
        let store = StoreHandle::start(Default::default()).await;
        let yaml = yaml.replace("STORE_URL", &store.url(""));
        let settings = ScalerSettings::parse(&yaml).unwrap();
        let clock = Arc::new(ManualClock::new(start_ms()));
        let cluster = Arc::new(SimulatedCluster::new(clock.clone()));
        let ctx = Context {
            cluster: cluster.clone(),
            clock: clock.clone(),
            sources: Sources {
                aws: match settings.aws.endpoint_url {
                    Some(_) => Some(
                        tachyscale_scaler_service::fetch::AwsClients::load(&settings.aws).await,
                    ),
                    None => None,
                },
                query: Some(Arc::new(
                    PrometheusApi::new(&settings.query_url, reqwest::Client::new()).unwrap(),
                )),
                http: reqwest::Client::new(),
                timeout: Duration::from_secs(5),
            },
            metrics: ScalerMetrics::new(prometheus::Registry::new()).unwrap(),
            decisions: Arc::new(DecisionLog::new(1_000)),
            recommendations: Default::default(),
            rate_window: settings.rate_window,
            max_age: settings.max_age,
        };
        Rig {
            store,
            clock,
            cluster,
            ctx,
            settings,
        }
    }

    pub fn policy(&mut self, index: usize) -> Arc<Policy> {
        Arc::new(self.settings.policies.remove(index))
    }

    /// Remote-writes one sample per `(labels, value)` of `name` at the clock's time.
    pub async fn write(&self, name: &str, series: &[(&[(&str, &str)], f64)]) {
        write_samples(&self.store, name, series, self.clock_now()).await;
    }

    pub fn clock_now(&self) -> i64 {
        use tachyscale_cluster::Clock as _;
        self.clock.now_ms()
    }
}

/// Remote-writes one sample per `(labels, value)` of `name` at `ts_ms` into the store.
pub async fn write_samples(
    store: &StoreHandle,
    name: &str,
    series: &[(&[(&str, &str)], f64)],
    ts_ms: i64,
) {
    let timeseries = series
        .iter()
        .map(|(labels, value)| one_sample(name, labels, *value, ts_ms))
        .collect();
    let (status, body) =
        remote_write(&store.url("/api/v1/write"), &WriteRequest { timeseries }).await;
    assert!((200..300).contains(&status), "{status}: {body}");
}
