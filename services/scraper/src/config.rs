//! The scraper's configuration: raw YAML shape (Prometheus' field names, so `scrape_configs`
//! can be pasted), defaults, and the validated settings the role runs on.
//!
//! See `config/scraper.yaml` for the documented example; a test loads it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use tachyscale_relabel::RawRelabelConfig;
use tachyscale_sender::config::RawSenderConfig;

use crate::discovery::kubernetes::members::RawFleetKubernetesConfig;
use crate::discovery::kubernetes::RawKubernetesSdConfig;
use crate::discovery::{LabelMap, StaticConfig};
use crate::size::ByteSize;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawScraperConfig {
    /// HTTP address for `/metrics`, `/healthz`, `/readyz` and `/api/v1/targets`.
    pub listen: SocketAddr,
    /// How long a stopping scraper waits for end-of-target stale markers and the sender.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    pub global: RawGlobalConfig,
    pub scrape_configs: Vec<RawScrapeConfig>,
    pub node_agent: Option<RawNodeAgentConfig>,
    pub fleet: RawFleetConfig,
    pub remote_write: RawSenderConfig,
}

impl Default for RawScraperConfig {
    fn default() -> Self {
        RawScraperConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9202)),
            shutdown_timeout: Duration::from_secs(10),
            global: RawGlobalConfig::default(),
            scrape_configs: Vec::new(),
            node_agent: None,
            fleet: RawFleetConfig::default(),
            remote_write: RawSenderConfig::default(),
        }
    }
}

/// Defaults for every job, and process-wide limits.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawGlobalConfig {
    #[serde(with = "humantime_serde")]
    pub scrape_interval: Duration,
    /// Must be below the interval; a job without its own timeout uses
    /// `min(scrape_timeout, 80 % of its interval)`.
    #[serde(with = "humantime_serde")]
    pub scrape_timeout: Duration,
    /// Labels added to every series this member sends (after relabeling, never replacing
    /// a series' own label), e.g. `cluster`.
    pub external_labels: LabelMap,
    /// Scrapes running at once across all targets.
    pub max_concurrent_scrapes: usize,
}

impl Default for RawGlobalConfig {
    fn default() -> Self {
        RawGlobalConfig {
            scrape_interval: Duration::from_secs(1),
            scrape_timeout: Duration::from_millis(800),
            external_labels: LabelMap::new(),
            max_concurrent_scrapes: 256,
        }
    }
}

/// A job, with Prometheus' `scrape_config` fields.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawScrapeConfig {
    /// The `job` label; unique.
    pub job_name: String,
    #[serde(with = "humantime_serde")]
    pub scrape_interval: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub scrape_timeout: Option<Duration>,
    pub metrics_path: String,
    /// `http` or `https`.
    pub scheme: String,
    /// URL query parameters (`__param_<name>` labels).
    pub params: BTreeMap<String, Vec<String>>,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    /// Samples per scrape after relabeling; above it the scrape fails. 0 = none.
    pub sample_limit: usize,
    /// Labels per series; 0 = none.
    pub label_limit: usize,
    pub label_name_length_limit: usize,
    pub label_value_length_limit: usize,
    /// Largest exposition body, e.g. `10MB` (Prometheus units, powers of 1024) or bytes.
    pub body_size_limit: ByteSize,
    /// Token sent as `Authorization: Bearer`, re-read at each connection setup.
    pub bearer_token_file: Option<PathBuf>,
    pub tls_config: RawTlsConfig,
    pub static_configs: Vec<StaticConfig>,
    pub file_sd_configs: Vec<RawFileSdConfig>,
    pub kubernetes_sd_configs: Vec<RawKubernetesSdConfig>,
    pub relabel_configs: Vec<RawRelabelConfig>,
    pub metric_relabel_configs: Vec<RawRelabelConfig>,
}

impl Default for RawScrapeConfig {
    fn default() -> Self {
        RawScrapeConfig {
            job_name: String::new(),
            scrape_interval: None,
            scrape_timeout: None,
            metrics_path: "/metrics".into(),
            scheme: "http".into(),
            params: BTreeMap::new(),
            honor_labels: false,
            honor_timestamps: true,
            sample_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            body_size_limit: ByteSize(32 << 20),
            bearer_token_file: None,
            tls_config: RawTlsConfig::default(),
            static_configs: Vec::new(),
            file_sd_configs: Vec::new(),
            kubernetes_sd_configs: Vec::new(),
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
        }
    }
}

/// TLS for https targets.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawTlsConfig {
    /// PEM CA bundle to verify targets with (else the system's web roots).
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for targets that require mTLS.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Skip certificate verification (kubelets often serve self-signed certificates).
    pub insecure_skip_verify: bool,
}

/// `file_sd_configs` entry.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawFileSdConfig {
    /// Paths or glob patterns of `.json`, `.yml` or `.yaml` files.
    pub files: Vec<String>,
    /// Full re-read period; changes are also picked up within a second by `stat`.
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
}

impl Default for RawFileSdConfig {
    fn default() -> Self {
        RawFileSdConfig {
            files: Vec::new(),
            refresh_interval: Duration::from_secs(300),
        }
    }
}

/// Node agent mode: this member reads its node's cgroup v2 tree every interval.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawNodeAgentConfig {
    /// The `job` label of the agent's series.
    pub job_name: String,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// cgroup v2 mount (or a hybrid mount with the v2 tree in `unified/`).
    pub cgroup_root: PathBuf,
    /// Source of node memory for `node_memory_working_set_bytes`.
    pub meminfo_path: Option<PathBuf>,
    /// The `instance` label; defaults to the `NODE_NAME` environment variable, then the
    /// host name.
    pub node_name: Option<String>,
    /// Where the pod list comes from (to name containers).
    pub pods: RawPodSourceConfig,
    pub metric_relabel_configs: Vec<RawRelabelConfig>,
}

impl Default for RawNodeAgentConfig {
    fn default() -> Self {
        RawNodeAgentConfig {
            job_name: "kubernetes-cgroups".into(),
            interval: Duration::from_secs(1),
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
            meminfo_path: Some(PathBuf::from("/proc/meminfo")),
            node_name: None,
            pods: RawPodSourceConfig::default(),
            metric_relabel_configs: Vec::new(),
        }
    }
}

/// The kubelet's pod list: over HTTP(S) (`/pods`) or from a file.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawPodSourceConfig {
    /// e.g. `https://127.0.0.1:10250/pods` (with `hostNetwork`); exclusive with `file`.
    pub kubelet_url: Option<String>,
    /// A `v1.PodList` JSON file (tests, static setups).
    pub file: Option<PathBuf>,
    pub bearer_token_file: Option<PathBuf>,
    pub tls_config: RawTlsConfig,
    /// How often the pod list is refreshed; also refreshed early when an unknown pod
    /// cgroup appears.
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
}

impl Default for RawPodSourceConfig {
    fn default() -> Self {
        RawPodSourceConfig {
            kubelet_url: None,
            file: None,
            bearer_token_file: None,
            tls_config: RawTlsConfig::default(),
            refresh_interval: Duration::from_secs(10),
        }
    }
}

/// Fleet sharding.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawFleetConfig {
    /// This member's name; defaults to `POD_NAME`, then the host name.
    #[serde(rename = "self")]
    pub self_name: Option<String>,
    /// How many members scrape each target (2+ for HA pairs).
    pub replication: usize,
    /// Static membership; empty (and no `kubernetes`) = this member scrapes everything.
    pub members: Vec<RawMember>,
    /// Membership from Kubernetes: the ready pods behind a (headless) Service, by pod
    /// name; `self` must then be this pod's name. Exclusive with `members`.
    pub kubernetes: Option<RawFleetKubernetesConfig>,
    /// How often peers' `/readyz` is probed.
    #[serde(with = "humantime_serde")]
    pub health_check_interval: Duration,
    /// Consecutive failed probes after which a peer counts as gone.
    pub failure_threshold: u32,
}

impl Default for RawFleetConfig {
    fn default() -> Self {
        RawFleetConfig {
            self_name: None,
            replication: 1,
            members: Vec::new(),
            kubernetes: None,
            health_check_interval: Duration::from_secs(1),
            failure_threshold: 3,
        }
    }
}

/// A fleet member and the base URL of its HTTP port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMember {
    pub name: String,
    pub url: String,
}
