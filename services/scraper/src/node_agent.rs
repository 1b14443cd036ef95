//! Node agent mode: the node's cgroup v2 tree scraped like a target, every interval.
//!
//! The cgroup walk is synchronous file I/O, so it runs on the blocking pool with the
//! scrape timeout; the pod list (which names containers) comes from the kubelet's `/pods`
//! or a file and is refreshed every `refresh_interval`, and early (at most once per
//! interval) when a pod cgroup appears that the list does not know yet. A failed pod list
//! refresh keeps the previous list: containers keep their names, and only pods created
//! since then wait. Samples go through the same appender as HTTP targets, so staleness,
//! the report series and relabeling behave identically.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tachyscale_cgroup::{Collection, PodIndex};

use crate::metrics::ScraperMetrics;
use crate::scrape::appender::{AppendError, Appender};
use crate::scrape::fetch::{fetch, FetchError};
use crate::scrape::scrape_loop::{ScrapeFailure, TargetSource};
use crate::settings::{NodeAgentSettings, PodSource};

/// Why a node agent pass failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeAgentError {
    #[error("cannot collect cgroups")]
    Collect(#[from] tachyscale_cgroup::Error),
    #[error("cgroup collection did not finish within {0:?}")]
    Timeout(Duration),
    #[error("cgroup collection task failed")]
    Task,
    #[error(transparent)]
    Append(#[from] AppendError),
}

impl ScrapeFailure for NodeAgentError {
    fn reason(&self) -> &'static str {
        match self {
            NodeAgentError::Collect(err) => err.reason(),
            NodeAgentError::Timeout(_) => "timeout",
            NodeAgentError::Task => "task",
            NodeAgentError::Append(err) => err.reason(),
        }
    }
}

/// Why the pod list could not be refreshed.
#[derive(Debug, thiserror::Error)]
enum PodListError {
    #[error("cannot fetch pod list")]
    Fetch(#[from] FetchError),
    #[error("cannot read pod list file {0}")]
    File(PathBuf, #[source] std::io::Error),
    #[error("cannot read bearer token file {0}")]
    Token(PathBuf, #[source] std::io::Error),
    #[error(transparent)]
    Parse(#[from] tachyscale_cgroup::Error),
}

impl PodListError {
    fn reason(&self) -> &'static str {
        match self {
            PodListError::Fetch(_) => "pod_list_fetch",
            PodListError::File(..) => "pod_list_file",
            PodListError::Token(..) => "bearer_token",
            PodListError::Parse(_) => "pod_list_parse",
        }
    }
}

/// Largest pod list accepted (a node with 250 pods answers well under 2 MiB).
const POD_LIST_LIMIT_BYTES: usize = 16 << 20;

/// The node agent as a scrape source.
pub struct NodeAgentSource {
    settings: Arc<NodeAgentSettings>,
    client: reqwest::Client,
    metrics: ScraperMetrics,
    pods: Arc<PodIndex>,
    pods_refreshed: Option<Instant>,
    pods_stale: bool,
    body: Vec<u8>,
    collection: Option<Collection>,
    /// A collection still running after its timeout (a hung cgroupfs read): no new one is
    /// started until it ends, so blocking threads cannot pile up.
    pending: Option<tokio::task::JoinHandle<Result<Collection, tachyscale_cgroup::Error>>>,
}

impl NodeAgentSource {
    pub fn new(
        settings: Arc<NodeAgentSettings>,
        client: reqwest::Client,
        metrics: ScraperMetrics,
    ) -> Self {
        NodeAgentSource {
            settings,
            client,
            metrics,
            pods: Arc::new(PodIndex::default()),
            pods_refreshed: None,
            pods_stale: true,
            body: Vec::new(),
            collection: None,
            pending: None,
        }
    }

    async fn refresh_pods(&mut self, timeout: Duration) -> Result<(), PodListError> {
        match &self.settings.pods {
            PodSource::File(path) => {
                self.body = tokio::fs::read(path)
                    .await
                    .map_err(|e| PodListError::File(path.clone(), e))?;
            }
            PodSource::Kubelet {
                url,
                bearer_token_file,
                ..
            } => {
                let mut request = self.client.get(url.clone());
                if let Some(path) = bearer_token_file {
                    let token = tokio::fs::read_to_string(path)
                        .await
                        .map_err(|e| PodListError::Token(path.clone(), e))?;
                    request = request.bearer_auth(token.trim());
                }
                fetch(request, timeout, POD_LIST_LIMIT_BYTES, &mut self.body).await?;
            }
        }
        self.pods = Arc::new(tachyscale_cgroup::parse_pod_list(&self.body)?);
        Ok(())
    }

    fn pods_due(&self) -> bool {
        match self.pods_refreshed {
            None => true,
            Some(at) => {
                let since = at.elapsed();
                since >= self.settings.pods_refresh_interval
                    || (self.pods_stale && since >= self.settings.interval)
            }
        }
    }
}

impl TargetSource for NodeAgentSource {
    type Error = NodeAgentError;

    async fn fetch(&mut self, timeout: Duration) -> Result<(), NodeAgentError> {
        let started = Instant::now();
        if self.pods_due() {
            let result = self.refresh_pods(timeout / 2).await;
            self.pods_refreshed = Some(Instant::now());
            match result {
                Ok(()) => self.pods_stale = false,
                Err(err) => {
                    self.metrics
                        .node_agent_errors
                        .with_label_values(&[err.reason()])
                        .inc();
                    tracing::warn!(error = %err, "pod list refresh failed; keeping the previous list");
                }
            }
        }
        let mut work = match self.pending.take() {
            Some(previous) if !previous.is_finished() => {
                self.pending = Some(previous);
                return Err(NodeAgentError::Timeout(timeout));
            }
            // A late result is stale by now: start afresh.
            _ => {
                let root = self.settings.cgroup_root.clone();
                let meminfo = self.settings.meminfo_path.clone();
                let pods = self.pods.clone();
                tokio::task::spawn_blocking(move || {
                    tachyscale_cgroup::collect(&root, &pods, meminfo.as_deref())
                })
            }
        };
        let remaining = timeout.saturating_sub(started.elapsed());
        let collection = match tokio::time::timeout(remaining, &mut work).await {
            Err(_) => {
                self.pending = Some(work);
                return Err(NodeAgentError::Timeout(timeout));
            }
            Ok(Err(_)) => return Err(NodeAgentError::Task),
            Ok(Ok(result)) => result?,
        };
        let stats = &collection.stats;
        for (kind, count) in [
            ("visited", stats.cgroups_visited),
            ("containers", stats.containers_emitted),
            ("unknown_pods", stats.unknown_pods),
            ("vanished", stats.vanished_cgroups),
        ] {
            self.metrics
                .node_agent_cgroups
                .with_label_values(&[kind])
                .set(count as i64);
        }
        if stats.unknown_pods > 0 || stats.unlisted_containers > 0 {
            self.pods_stale = true;
        }
        for err in &collection.errors {
            self.metrics
                .node_agent_errors
                .with_label_values(&[err.reason()])
                .inc();
        }
        self.collection = Some(collection);
        Ok(())
    }

    fn append(&mut self, appender: &mut Appender<'_>) -> Result<(), NodeAgentError> {
        let Some(collection) = &self.collection else {
            return Ok(());
        };
        let mut key = String::new();
        for series in &collection.series {
            key.clear();
            key.push_str(series.name);
            for (name, value) in &series.labels {
                key.push('\u{0}');
                key.push_str(name);
                key.push('\u{1}');
                key.push_str(value);
            }
            appender.add(
                &key,
                series.name,
                || {
                    series
                        .labels
                        .iter()
                        .map(|(n, v)| (n.as_str(), Cow::Borrowed(v.as_str())))
                },
                series.value,
                None,
            )?;
        }
        Ok(())
    }
}
