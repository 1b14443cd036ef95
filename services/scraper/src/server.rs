//! The scrape role's lifecycle: start the sender, the HTTP API, fleet membership,
//! discovery and one runner per job (plus the node agent), then stop them in reverse
//! order so that every end-of-target stale marker reaches the sender before it flushes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use prometheus::Registry;
use tachyscale_sender::{Sender, SenderMetrics};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiState};
use crate::discovery::file_sd::FileWatcher;
use crate::discovery::kubernetes::{error_chain, KubernetesDiscovery};
use crate::discovery::TargetGroup;
use crate::manager::{JobRunner, Shared, TargetsView, DIRTY_SIGNAL_CAPACITY};
use crate::metrics::ScraperMetrics;
use crate::node_agent::NodeAgentSource;
use crate::schedule::Schedule;
use crate::scrape::{ScrapeLoop, TargetStatus};
use crate::settings::{JobSettings, ScraperSettings, TlsSettings};
use crate::SampleSink;

/// A configured scrape role, ready to run.
pub struct Scraper {
    settings: ScraperSettings,
    registry: Registry,
    metrics: ScraperMetrics,
    sender: Sender,
    targets: Arc<TargetsView>,
}

impl Scraper {
    pub fn new(settings: ScraperSettings, registry: Registry) -> anyhow::Result<Self> {
        let metrics = ScraperMetrics::new(&registry).context("cannot register scraper metrics")?;
        let sender_metrics =
            SenderMetrics::new(&registry).context("cannot register sender metrics")?;
        let sender = Sender::new(settings.sender.clone(), &sender_metrics)
            .context("cannot start the remote-write sender")?;
        metrics
            .max_concurrent_scrapes
            .set(settings.max_concurrent_scrapes as i64);
        Ok(Scraper {
            settings,
            registry,
            metrics,
            sender,
            targets: Arc::new(TargetsView::default()),
        })
    }

    /// What `/api/v1/targets` reads; tests use it to see what this member scrapes.
    pub fn targets(&self) -> Arc<TargetsView> {
        self.targets.clone()
    }

    /// Binds the configured address and runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let listener = TcpListener::bind(self.settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", self.settings.listen))?;
        self.serve(listener, shutdown).await
    }

    /// Runs on an already bound listener until `shutdown`.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let Scraper {
            settings,
            registry,
            metrics,
            sender,
            targets,
        } = self;
        let ready = Arc::new(AtomicBool::new(false));
        let address = listener.local_addr().ok();
        tracing::info!(listen = ?address, jobs = settings.jobs.len(), "scraper starting");

        let server_stop = CancellationToken::new();
        let app = api::router(ApiState {
            registry,
            ready: ready.clone(),
            targets: targets.clone(),
        });
        let server = tokio::spawn({
            let stop = server_stop.clone();
            async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await
            }
        });

        let sender_stop = CancellationToken::new();
        let sink: Arc<dyn SampleSink> = Arc::new(sender.handle());
        let sender_task = tokio::spawn(sender.run(sender_stop.clone()));

        let scrape_stop = CancellationToken::new();
        let discovery_stop = CancellationToken::new();
        let fleet = crate::fleet::start(&settings.fleet, metrics.clone(), discovery_stop.clone());
        let shared = Shared {
            sink: sink.clone(),
            metrics: metrics.clone(),
            slots: Arc::new(Semaphore::new(settings.max_concurrent_scrapes)),
            view: targets,
            fleet,
            self_name: settings.fleet.self_name.clone(),
            replication: settings.fleet.replication,
            sharded: settings.fleet.is_sharded(),
        };
        let mut loops: Vec<JoinHandle<()>> = Vec::new();
        for job in &settings.jobs {
            let runner = job_runner(job, &shared, &metrics, &discovery_stop)?;
            loops.push(tokio::spawn(runner.run(scrape_stop.clone())));
        }
        if let Some(agent) = &settings.node_agent {
            let client = http_client(&pod_tls(agent), Duration::from_secs(30))?;
            let labels = tachyscale_tsdb::Labels::from_pairs([
                ("instance", agent.node_name.as_str()),
                ("job", agent.job.as_str()),
            ]);
            let hash = xxhash_rust::xxh3::xxh3_64(labels.to_string().as_bytes());
            let source = NodeAgentSource::new(Arc::new(agent.clone()), client, metrics.clone());
            let agent_loop = ScrapeLoop {
                job: Arc::from(agent.job.as_str()),
                target_labels: labels,
                schedule: Schedule::for_target(agent.interval, hash),
                timeout: agent.timeout,
                options: agent.sample_options.clone(),
                source,
                sink: sink.clone(),
                metrics: metrics.clone(),
                slots: shared.slots.clone(),
                status: Arc::new(TargetStatus::default()),
                stale_on_stop: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            };
            loops.push(tokio::spawn(agent_loop.run(scrape_stop.clone())));
        }
        ready.store(true, Ordering::Release);

        shutdown.cancelled().await;
        tracing::info!("scraper stopping");
        ready.store(false, Ordering::Release);
        if settings.fleet.is_sharded() {
            // Keep scraping until peers have seen /readyz fail and taken the targets over,
            // so the hand-over leaves no gap (bounded by half the shutdown deadline).
            let fleet = &settings.fleet;
            let notice = fleet.health_check_interval * (fleet.failure_threshold + 1);
            tokio::time::sleep(notice.min(settings.shutdown_timeout / 2)).await;
        }
        discovery_stop.cancel();
        scrape_stop.cancel();
        for handle in loops {
            let _ = handle.await;
        }
        sender_stop.cancel();
        let _ = sender_task.await;
        server_stop.cancel();
        match server.await {
            Ok(result) => result.context("HTTP server failed")?,
            Err(err) => return Err(err).context("HTTP server task panicked"),
        }
        Ok(())
    }
}

fn pod_tls(agent: &crate::settings::NodeAgentSettings) -> TlsSettings {
    match &agent.pods {
        crate::settings::PodSource::Kubelet { tls, .. } => tls.clone(),
        crate::settings::PodSource::File(_) => TlsSettings::default(),
    }
}

/// Starts the job's discovery providers and returns its runner.
fn job_runner(
    job: &JobSettings,
    shared: &Shared,
    metrics: &ScraperMetrics,
    stop: &CancellationToken,
) -> anyhow::Result<JobRunner> {
    let (dirty_tx, dirty_rx) = mpsc::channel(DIRTY_SIGNAL_CAPACITY);
    let mut providers = Vec::new();
    let (_, static_rx) = watch::channel(job.static_groups.clone());
    providers.push(static_rx);
    for file_sd in &job.file_sd {
        let (tx, rx) = watch::channel(Vec::<TargetGroup>::new());
        let errors = metrics.sd_errors.clone();
        let job_name = job.name.clone();
        let watcher = FileWatcher::new(
            file_sd.files.clone(),
            file_sd.refresh_interval,
            Box::new(move |err| {
                errors.with_label_values(&["file", err.reason()]).inc();
                tracing::warn!(job = %job_name, error = %err, "file_sd refresh failed");
            }),
        );
        tokio::spawn(watcher.run(tx, stop.clone()));
        forward_changes(rx.clone(), dirty_tx.clone());
        providers.push(rx);
    }
    for kubernetes_sd in &job.kubernetes_sd {
        let (tx, rx) = watch::channel(Vec::<TargetGroup>::new());
        let errors = metrics.sd_errors.clone();
        let job_name = job.name.clone();
        let discovery = KubernetesDiscovery::new(
            kubernetes_sd.clone(),
            Box::new(move |err| {
                errors
                    .with_label_values(&["kubernetes", err.reason()])
                    .inc();
                tracing::warn!(job = %job_name, error = %error_chain(err), "kubernetes discovery failed");
            }),
        );
        tokio::spawn(discovery.run(tx, stop.clone()));
        forward_changes(rx.clone(), dirty_tx.clone());
        providers.push(rx);
    }
    let client = http_client(&job.tls, Duration::from_secs(90))?;
    Ok(JobRunner {
        settings: job.clone(),
        client,
        providers,
        dirty: dirty_rx,
        shared: shared.clone(),
    })
}

/// Signals the job whenever a provider publishes new groups.
fn forward_changes(mut rx: watch::Receiver<Vec<TargetGroup>>, dirty: mpsc::Sender<()>) {
    tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            // Full means a wake-up is already pending; the job reads the latest groups.
            let _ = dirty.try_send(());
        }
    });
}

/// A keep-alive HTTP client with the job's TLS options.
pub fn http_client(tls: &TlsSettings, idle_timeout: Duration) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .pool_idle_timeout(idle_timeout)
        .tcp_nodelay(true)
        .danger_accept_invalid_certs(tls.insecure_skip_verify);
    if let Some(ca) = &tls.ca_file {
        let pem =
            std::fs::read(ca).with_context(|| format!("cannot read CA file {}", ca.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("invalid CA file {}", ca.display()))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        let mut pem = std::fs::read(cert)
            .with_context(|| format!("cannot read certificate {}", cert.display()))?;
        pem.extend(
            std::fs::read(key).with_context(|| format!("cannot read key {}", key.display()))?,
        );
        builder = builder.identity(
            reqwest::Identity::from_pem(&pem)
                .with_context(|| format!("invalid client certificate {}", cert.display()))?,
        );
    }
    builder.build().context("cannot build HTTP client")
}
