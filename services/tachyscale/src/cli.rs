//! Command-line shape: global logging flags and one subcommand per role.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// tachyscale: a Kubernetes autoscaling stack with second-level metrics.
#[derive(Debug, Parser)]
#[command(name = "tachyscale", version, about)]
pub struct Cli {
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter, in tracing's env-filter syntax (e.g. `info,tachyscale_store=debug`).
    #[arg(long, global = true, env = "TACHYSCALE_LOG", default_value = "info")]
    pub log_level: String,
    #[command(subcommand)]
    pub role: Role,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Role {
    /// In-memory TSDB: remote-write in, Prometheus query API out.
    Store(RoleArgs),
    /// Scraper fleet member: discover, scrape every 1-2 s, relabel, remote-write.
    Scrape(RoleArgs),
    /// Scaler: HPA, VPA and cluster-proportional policies every second against the cluster.
    Scale(RoleArgs),
    /// Run one autoscaling engine on a JSON document and print the decision with every
    /// intermediate value (see the README's "explain" section for the input shapes).
    Explain(ExplainArgs),
}

/// `tachyscale explain hpa|vpa|cpa --input FILE`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The engine: `hpa`, `vpa` or `cpa`.
    #[arg(value_parser = ["hpa", "vpa", "cpa"])]
    pub engine: String,
    /// The JSON input document; `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Print compact JSON instead of indented.
    #[arg(long)]
    pub compact: bool,
}

/// Flags every role takes.
#[derive(Debug, Args)]
pub struct RoleArgs {
    /// YAML config file (see config/ for documented examples); defaults apply without it.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Listen address; overrides `listen` in the config.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}
