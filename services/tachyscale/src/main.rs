//! `tachyscale <role>`: parses the command line, sets up logging, runs one role until
//! SIGINT/SIGTERM, then stops it within its shutdown deadline.

mod cli;
mod logging;

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser as _;
use tokio_util::sync::CancellationToken;

use cli::{Cli, Role};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Role::Explain(args) = &cli.role {
        return explain(args);
    }
    logging::init(cli.log_format, &cli.log_level)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(cli.role))
}

async fn run(role: Role) -> anyhow::Result<()> {
    match role {
        Role::Store(args) => {
            let mut settings = match &args.config {
                Some(path) => tachyscale_store::StoreSettings::load(path)?,
                None => tachyscale_store::StoreSettings::default(),
            };
            if let Some(listen) = args.listen {
                settings.listen = listen;
            }
            let deadline = settings.shutdown_timeout;
            let store = tachyscale_store::Store::new(settings, prometheus::Registry::new())?;
            supervise("store", deadline, |shutdown| store.run(shutdown)).await
        }
        Role::Explain(args) => explain(&args),
        Role::Scale(args) => {
            let mut settings = match &args.config {
                Some(path) => tachyscale_scaler_service::config::ScalerSettings::load(path)?,
                None => tachyscale_scaler_service::config::ScalerSettings::parse("")?,
            };
            if let Some(listen) = args.listen {
                settings.listen = listen;
            }
            let deadline = settings.shutdown_timeout;
            let client = kube_client(settings.kubeconfig_file.as_deref()).await?;
            let scaler = tachyscale_scaler_service::role::Scaler::new(
                settings,
                prometheus::Registry::new(),
            )?;
            let listen = scaler.listen_addr();
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            supervise("scale", deadline, move |shutdown| async move {
                let cluster =
                    tachyscale_cluster::kube::KubeCluster::start(client, shutdown.clone());
                scaler
                    .run(
                        listener,
                        cluster,
                        std::sync::Arc::new(tachyscale_cluster::SystemClock),
                        None,
                        shutdown,
                    )
                    .await
            })
            .await
        }
        Role::Scrape(args) => {
            let mut settings = match &args.config {
                Some(path) => tachyscale_scraper::ScraperSettings::load(path)?,
                None => tachyscale_scraper::ScraperSettings::default(),
            };
            if let Some(listen) = args.listen {
                settings.listen = listen;
            }
            let deadline = settings.shutdown_timeout;
            let scraper = tachyscale_scraper::Scraper::new(settings, prometheus::Registry::new())?;
            supervise("scrape", deadline, |shutdown| scraper.run(shutdown)).await
        }
    }
}

/// A Kubernetes client from a kubeconfig file, else inferred as kubectl does
/// (`$KUBECONFIG`, `~/.kube/config`, then the pod's service account).
async fn kube_client(kubeconfig_file: Option<&std::path::Path>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig_file {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .with_context(|| format!("invalid kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .context("no Kubernetes configuration found (kubeconfig or in-cluster)")?,
    };
    tachyscale_cluster::kube::install_default_crypto_provider();
    kube::Client::try_from(config).context("cannot build the Kubernetes client")
}

/// `tachyscale explain`: one engine, one document, JSON on stdout; errors on stderr with a
/// non-zero exit.
fn explain(args: &cli::ExplainArgs) -> anyhow::Result<()> {
    use std::io::Read as _;
    use tachyscale_scaler_service::explain::{explain, Engine};

    let engine =
        Engine::parse(&args.engine).with_context(|| format!("unknown engine {:?}", args.engine))?;
    let mut body = Vec::new();
    if args.input.as_os_str() == "-" {
        std::io::stdin()
            .read_to_end(&mut body)
            .context("cannot read standard input")?;
    } else {
        body = std::fs::read(&args.input)
            .with_context(|| format!("cannot read {}", args.input.display()))?;
    }
    let source = if args.input.as_os_str() == "-" {
        "standard input".to_owned()
    } else {
        args.input.display().to_string()
    };
    let explanation = explain(engine, &body).with_context(|| format!("cannot explain {source}"))?;
    let text = if args.compact {
        serde_json::to_string(&explanation)?
    } else {
        serde_json::to_string_pretty(&explanation)?
    };
    println!("{text}");
    Ok(())
}

/// Runs a role until it ends or a stop signal arrives; then cancels it and waits at most
/// `deadline`, logging how long the stop took.
async fn supervise<F, Fut>(name: &'static str, deadline: Duration, start: F) -> anyhow::Result<()>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let shutdown = CancellationToken::new();
    let mut task = tokio::spawn(start(shutdown.clone()));
    tokio::select! {
        result = &mut task => return result.context("role task panicked")?,
        signal = stop_signal() => {
            signal?;
            tracing::info!(role = name, "stop signal received");
        }
    }
    shutdown.cancel();
    let started = Instant::now();
    match tokio::time::timeout(deadline, task).await {
        Ok(result) => {
            tracing::info!(
                role = name,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "role stopped"
            );
            result.context("role task panicked")?
        }
        Err(_) => {
            tracing::warn!(
                role = name,
                deadline_ms = deadline.as_millis() as u64,
                "role did not stop in time"
            );
            Ok(())
        }
    }
}

async fn stop_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("cannot listen for SIGINT"),
        _ = terminate.recv() => Ok(()),
    }
}
