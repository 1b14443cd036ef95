//! Validated scraper settings, built once from the raw config.
//!
//! Every rule that can be checked without I/O is checked here, and each error names the
//! dotted field (`scrape_configs[2].scrape_timeout`), so a bad file fails at start.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tachyscale_config::FieldError;
use tachyscale_sender::config::SenderSettings;

use crate::config::{
    RawFleetConfig, RawNodeAgentConfig, RawScrapeConfig, RawScraperConfig, RawTlsConfig,
};
use crate::discovery::kubernetes::members::FleetKubernetesSettings;
use crate::discovery::kubernetes::KubernetesSdSettings;
use crate::discovery::TargetGroup;
use crate::scrape::SampleOptions;
use crate::target::TargetDefaults;

/// Everything the scrape role runs on.
#[derive(Debug, Clone)]
pub struct ScraperSettings {
    pub listen: SocketAddr,
    pub shutdown_timeout: Duration,
    pub max_concurrent_scrapes: usize,
    pub jobs: Vec<JobSettings>,
    pub node_agent: Option<NodeAgentSettings>,
    pub fleet: FleetSettings,
    pub sender: SenderSettings,
}

/// One scrape job.
#[derive(Debug, Clone)]
pub struct JobSettings {
    pub name: String,
    pub defaults: TargetDefaults,
    pub sample_options: Arc<SampleOptions>,
    pub body_limit_bytes: usize,
    pub bearer_token_file: Option<PathBuf>,
    pub tls: TlsSettings,
    pub static_groups: Vec<TargetGroup>,
    pub file_sd: Vec<FileSdSettings>,
    pub kubernetes_sd: Vec<KubernetesSdSettings>,
}

/// TLS options of a client.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
}

#[derive(Debug, Clone)]
pub struct FileSdSettings {
    pub files: Vec<String>,
    pub refresh_interval: Duration,
}

/// Node agent mode.
#[derive(Debug, Clone)]
pub struct NodeAgentSettings {
    pub job: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub cgroup_root: PathBuf,
    pub meminfo_path: Option<PathBuf>,
    pub node_name: String,
    pub pods: PodSource,
    pub pods_refresh_interval: Duration,
    pub sample_options: Arc<SampleOptions>,
}

/// Where the node agent reads the pod list.
#[derive(Debug, Clone)]
pub enum PodSource {
    Kubelet {
        url: url::Url,
        bearer_token_file: Option<PathBuf>,
        tls: TlsSettings,
    },
    File(PathBuf),
}

/// Fleet membership and replication.
#[derive(Debug, Clone)]
pub struct FleetSettings {
    pub self_name: String,
    pub replication: usize,
    /// Static members (probed); empty and no `kubernetes`: this member owns every target.
    pub members: Vec<Member>,
    /// Members from a Service's EndpointSlices; exclusive with `members`.
    pub kubernetes: Option<FleetKubernetesSettings>,
    pub health_check_interval: Duration,
    pub failure_threshold: u32,
}

impl FleetSettings {
    /// Whether targets are split among members (else this member scrapes all of them).
    pub fn is_sharded(&self) -> bool {
        !self.members.is_empty() || self.kubernetes.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub url: url::Url,
}

impl ScraperSettings {
    /// Loads and validates a config file.
    pub fn load(path: &std::path::Path) -> Result<Self, tachyscale_config::ConfigError> {
        tachyscale_config::load::<RawScraperConfig, ScraperSettings>(path)
    }
}

impl Default for ScraperSettings {
    fn default() -> Self {
        ScraperSettings::try_from(RawScraperConfig::default())
            .expect("the default scraper config is valid")
    }
}

fn nested(prefix: &str, err: FieldError) -> FieldError {
    let field = if err.field.is_empty() || err.field == "." {
        prefix.to_string()
    } else {
        format!("{prefix}.{}", err.field)
    };
    FieldError::new(field, err.reason)
}

impl TryFrom<RawScraperConfig> for ScraperSettings {
    type Error = FieldError;

    fn try_from(raw: RawScraperConfig) -> Result<Self, FieldError> {
        let global = &raw.global;
        if global.scrape_interval.is_zero() {
            return Err(FieldError::new(
                "global.scrape_interval",
                "must be greater than zero",
            ));
        }
        if global.max_concurrent_scrapes == 0 {
            return Err(FieldError::new(
                "global.max_concurrent_scrapes",
                "must be at least 1",
            ));
        }
        for name in global.external_labels.keys() {
            if !crate::scrape::appender::is_valid_label_name(name) || name.starts_with("__") {
                return Err(FieldError::new(
                    format!("global.external_labels.{name}"),
                    "not a valid label name",
                ));
            }
        }
        let external_labels: Arc<Vec<(String, String)>> = Arc::new(
            global
                .external_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        let mut names = BTreeSet::new();
        let mut jobs = Vec::with_capacity(raw.scrape_configs.len());
        for (index, job) in raw.scrape_configs.into_iter().enumerate() {
            let prefix = format!("scrape_configs[{index}]");
            if !names.insert(job.job_name.clone()) {
                return Err(FieldError::new(
                    format!("{prefix}.job_name"),
                    format!("duplicate job name {:?}", job.job_name),
                ));
            }
            jobs.push(job_settings(&prefix, job, global, &external_labels)?);
        }
        let node_agent = raw
            .node_agent
            .map(|agent| node_agent_settings(agent, &external_labels))
            .transpose()?;
        if let Some(agent) = &node_agent {
            if names.contains(&agent.job) {
                return Err(FieldError::new(
                    "node_agent.job_name",
                    format!("{:?} is also a scrape job", agent.job),
                ));
            }
        }
        let fleet = fleet_settings(raw.fleet)?;
        let sender = SenderSettings::try_from(raw.remote_write)
            .map_err(|err| nested("remote_write", err))?;
        Ok(ScraperSettings {
            listen: raw.listen,
            shutdown_timeout: raw.shutdown_timeout,
            max_concurrent_scrapes: global.max_concurrent_scrapes,
            jobs,
            node_agent,
            fleet,
            sender,
        })
    }
}

fn job_settings(
    prefix: &str,
    raw: RawScrapeConfig,
    global: &crate::config::RawGlobalConfig,
    external_labels: &Arc<Vec<(String, String)>>,
) -> Result<JobSettings, FieldError> {
    let field = |name: &str| format!("{prefix}.{name}");
    if raw.job_name.is_empty() {
        return Err(FieldError::new(field("job_name"), "must not be empty"));
    }
    let interval = raw.scrape_interval.unwrap_or(global.scrape_interval);
    if interval.is_zero() {
        return Err(FieldError::new(
            field("scrape_interval"),
            "must be greater than zero",
        ));
    }
    let timeout = match raw.scrape_timeout {
        Some(timeout) => timeout,
        None => global.scrape_timeout.min(interval.mul_f64(0.8)),
    };
    if timeout.is_zero() || timeout >= interval {
        return Err(FieldError::new(
            field("scrape_timeout"),
            format!(
                "must be greater than zero and below the interval ({interval:?}), got {timeout:?}"
            ),
        ));
    }
    if raw.scheme != "http" && raw.scheme != "https" {
        return Err(FieldError::new(field("scheme"), "must be http or https"));
    }
    if !raw.metrics_path.starts_with('/') {
        return Err(FieldError::new(field("metrics_path"), "must start with /"));
    }
    let relabel_configs =
        crate::relabel::validate_list(&field("relabel_configs"), raw.relabel_configs)?;
    let metric_relabel_configs = crate::relabel::validate_list(
        &field("metric_relabel_configs"),
        raw.metric_relabel_configs,
    )?;
    tls_settings(&field("tls_config"), &raw.tls_config)?;
    let static_groups = raw
        .static_configs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if let Some(bad) = s.targets.iter().find(|t| t.contains('/') || t.is_empty()) {
                return Err(FieldError::new(
                    format!("{prefix}.static_configs[{i}].targets"),
                    format!("{bad:?} must be host:port"),
                ));
            }
            Ok(s.to_group(format!("static/{i}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let file_sd = raw
        .file_sd_configs
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            if f.files.is_empty() {
                return Err(FieldError::new(
                    format!("{prefix}.file_sd_configs[{i}].files"),
                    "must list at least one file or pattern",
                ));
            }
            for pattern in &f.files {
                if let Err(err) = glob::Pattern::new(pattern) {
                    return Err(FieldError::new(
                        format!("{prefix}.file_sd_configs[{i}].files"),
                        format!("invalid pattern {pattern:?}: {err}"),
                    ));
                }
            }
            Ok(FileSdSettings {
                files: f.files,
                refresh_interval: f.refresh_interval.max(Duration::from_secs(1)),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let kubernetes_sd = raw
        .kubernetes_sd_configs
        .into_iter()
        .enumerate()
        .map(|(i, k)| {
            KubernetesSdSettings::try_from(k)
                .map_err(|e| nested(&format!("{prefix}.kubernetes_sd_configs[{i}]"), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(JobSettings {
        defaults: TargetDefaults {
            job: raw.job_name.clone(),
            scheme: raw.scheme,
            metrics_path: raw.metrics_path,
            interval,
            timeout,
            params: raw.params.into_iter().collect(),
            relabel_configs: Arc::new(relabel_configs),
        },
        sample_options: Arc::new(SampleOptions {
            honor_labels: raw.honor_labels,
            honor_timestamps: raw.honor_timestamps,
            metric_relabel_configs: Arc::new(metric_relabel_configs),
            sample_limit: raw.sample_limit,
            label_limit: raw.label_limit,
            label_name_length_limit: raw.label_name_length_limit,
            label_value_length_limit: raw.label_value_length_limit,
            external_labels: external_labels.clone(),
        }),
        name: raw.job_name,
        body_limit_bytes: raw.body_size_limit.0 as usize,
        bearer_token_file: raw.bearer_token_file,
        tls: tls_settings(&field("tls_config"), &raw.tls_config)?,
        static_groups,
        file_sd,
        kubernetes_sd,
    })
}

pub(crate) fn tls_settings(prefix: &str, raw: &RawTlsConfig) -> Result<TlsSettings, FieldError> {
    if raw.cert_file.is_some() != raw.key_file.is_some() {
        return Err(FieldError::new(
            format!("{prefix}.cert_file"),
            "cert_file and key_file must be given together",
        ));
    }
    Ok(TlsSettings {
        ca_file: raw.ca_file.clone(),
        cert_file: raw.cert_file.clone(),
        key_file: raw.key_file.clone(),
        insecure_skip_verify: raw.insecure_skip_verify,
    })
}

fn default_name(env: &str) -> String {
    std::env::var(env)
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "localhost".into())
}

fn node_agent_settings(
    raw: RawNodeAgentConfig,
    external_labels: &Arc<Vec<(String, String)>>,
) -> Result<NodeAgentSettings, FieldError> {
    if raw.job_name.is_empty() {
        return Err(FieldError::new("node_agent.job_name", "must not be empty"));
    }
    if raw.interval.is_zero() {
        return Err(FieldError::new(
            "node_agent.interval",
            "must be greater than zero",
        ));
    }
    let pods = match (raw.pods.kubelet_url, raw.pods.file) {
        (Some(url), None) => PodSource::Kubelet {
            url: url::Url::parse(&url).map_err(|e| {
                FieldError::new("node_agent.pods.kubelet_url", format!("invalid URL: {e}"))
            })?,
            bearer_token_file: raw.pods.bearer_token_file,
            tls: tls_settings("node_agent.pods.tls_config", &raw.pods.tls_config)?,
        },
        (None, Some(file)) => PodSource::File(file),
        _ => {
            return Err(FieldError::new(
                "node_agent.pods",
                "set exactly one of kubelet_url and file",
            ))
        }
    };
    let metric_relabel_configs = crate::relabel::validate_list(
        "node_agent.metric_relabel_configs",
        raw.metric_relabel_configs,
    )?;
    Ok(NodeAgentSettings {
        job: raw.job_name,
        interval: raw.interval,
        timeout: raw.interval.mul_f64(0.8),
        cgroup_root: raw.cgroup_root,
        meminfo_path: raw.meminfo_path,
        node_name: raw.node_name.unwrap_or_else(|| default_name("NODE_NAME")),
        pods,
        pods_refresh_interval: raw.pods.refresh_interval.max(Duration::from_secs(1)),
        sample_options: Arc::new(SampleOptions {
            honor_labels: true,
            honor_timestamps: false,
            metric_relabel_configs: Arc::new(metric_relabel_configs),
            external_labels: external_labels.clone(),
            ..SampleOptions::default()
        }),
    })
}

fn fleet_settings(raw: RawFleetConfig) -> Result<FleetSettings, FieldError> {
    if raw.replication == 0 {
        return Err(FieldError::new("fleet.replication", "must be at least 1"));
    }
    if raw.failure_threshold == 0 {
        return Err(FieldError::new(
            "fleet.failure_threshold",
            "must be at least 1",
        ));
    }
    let self_name = raw.self_name.unwrap_or_else(|| default_name("POD_NAME"));
    let mut members = Vec::with_capacity(raw.members.len());
    for (i, m) in raw.members.into_iter().enumerate() {
        if m.name.is_empty() || members.iter().any(|x: &Member| x.name == m.name) {
            return Err(FieldError::new(
                format!("fleet.members[{i}].name"),
                "must be non-empty and unique",
            ));
        }
        let url = url::Url::parse(&m.url).map_err(|e| {
            FieldError::new(
                format!("fleet.members[{i}].url"),
                format!("invalid URL: {e}"),
            )
        })?;
        members.push(Member { name: m.name, url });
    }
    let kubernetes = raw
        .kubernetes
        .map(|k| FleetKubernetesSettings::try_from(k).map_err(|e| nested("fleet.kubernetes", e)))
        .transpose()?;
    if kubernetes.is_some() && !members.is_empty() {
        return Err(FieldError::new(
            "fleet.kubernetes",
            "members and kubernetes are exclusive: list the members or watch them",
        ));
    }
    if !members.is_empty() && !members.iter().any(|m| m.name == self_name) {
        return Err(FieldError::new(
            "fleet.self",
            format!("{self_name:?} is not one of fleet.members"),
        ));
    }
    Ok(FleetSettings {
        self_name,
        replication: raw.replication,
        members,
        kubernetes,
        health_check_interval: raw.health_check_interval.max(Duration::from_millis(100)),
        failure_threshold: raw.failure_threshold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize as _;

    fn parse(yaml: &str) -> Result<ScraperSettings, FieldError> {
        tachyscale_config::parse::<RawScraperConfig, ScraperSettings>(yaml)
    }

    #[test]
    fn the_documented_example_loads() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/scraper.yaml");
        let settings = ScraperSettings::load(std::path::Path::new(path)).unwrap();
        assert_eq!(settings.jobs.len(), 2);
        assert_eq!(settings.sender.destinations.len(), 1);
        let job = &settings.jobs[0];
        assert_eq!(job.defaults.interval, Duration::from_secs(1));
        assert_eq!(job.defaults.timeout, Duration::from_millis(800));
        assert_eq!(job.body_limit_bytes, 32 << 20);
        assert!(settings.node_agent.is_none());
    }

    #[test]
    fn the_deploy_manifests_configs_load() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/scraper.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        let mut loaded = 0;
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            let value = serde_yaml_ng::Value::deserialize(document).unwrap();
            if value["kind"].as_str() != Some("ConfigMap") {
                continue;
            }
            let config = value["data"]["scraper.yaml"].as_str().unwrap();
            parse(config).unwrap_or_else(|e| panic!("{:?}: {e}", value["metadata"]["name"]));
            loaded += 1;
        }
        assert_eq!(loaded, 2, "node agent and fleet configs");
    }

    #[test]
    fn defaults_scrape_every_second_with_a_timeout_below_it() {
        let settings = parse("scrape_configs: [{job_name: a, scrape_interval: 2s}]").unwrap();
        assert_eq!(settings.jobs[0].defaults.interval, Duration::from_secs(2));
        assert_eq!(
            settings.jobs[0].defaults.timeout,
            Duration::from_millis(800)
        );
        let settings = parse("scrape_configs: [{job_name: a, scrape_interval: 500ms}]").unwrap();
        assert_eq!(
            settings.jobs[0].defaults.timeout,
            Duration::from_millis(400)
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            ("scrape_configs: [{job_name: a}, {job_name: a}]", "scrape_configs[1].job_name"),
            (
                "scrape_configs: [{job_name: a, scrape_interval: 1s, scrape_timeout: 1s}]",
                "scrape_configs[0].scrape_timeout",
            ),
            ("scrape_configs: [{job_name: a, scheme: ftp}]", "scrape_configs[0].scheme"),
            (
                "scrape_configs: [{job_name: a, relabel_configs: [{action: hashmod, target_label: x}]}]",
                "scrape_configs[0].relabel_configs[0].modulus",
            ),
            (
                "scrape_configs: [{job_name: a, metric_relabel_configs: [{regex: '(', action: drop}]}]",
                "scrape_configs[0].metric_relabel_configs[0].regex",
            ),
            (
                "scrape_configs: [{job_name: a, static_configs: [{targets: ['http://x/y']}]}]",
                "scrape_configs[0].static_configs[0].targets",
            ),
            (
                "scrape_configs: [{job_name: a, body_size_limit: 10parsecs}]",
                "scrape_configs[0].body_size_limit",
            ),
            ("fleet: {self: c, members: [{name: a, url: 'http://a/'}]}", "fleet.self"),
            ("fleet: {replication: 0}", "fleet.replication"),
            (
                "fleet: {self: a, members: [{name: a, url: 'http://a/'}], kubernetes: {service: s}}",
                "fleet.kubernetes",
            ),
            ("fleet: {kubernetes: {service: S}}", "fleet.kubernetes.service"),
            (
                "scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, selectors: [{role: node}]}]}]",
                "scrape_configs[0].kubernetes_sd_configs[0].selectors[0].role",
            ),
            ("node_agent: {pods: {}}", "node_agent.pods"),
            ("global: {external_labels: {__x: y}}", "global.external_labels.__x"),
            ("remote_write: {destinations: [{name: a, url: 'ftp://x'}]}", "remote_write.destinations[0].url"),
            ("scrape_configs: [{job_name: a, unknown_field: 1}]", "scrape_configs[0]"),
        ];
        for (yaml, field) in cases {
            let err = parse(yaml).expect_err(yaml);
            assert!(err.field.starts_with(field), "{yaml}: got {err}");
        }
    }

    #[test]
    fn the_fleet_defaults_to_owning_everything() {
        let settings = parse("{}").unwrap();
        assert!(settings.fleet.members.is_empty());
        assert!(!settings.fleet.is_sharded());
        assert_eq!(settings.fleet.replication, 1);
    }

    #[test]
    fn a_kubernetes_fleet_is_sharded_without_static_members() {
        let settings = parse(
            "fleet: {self: scraper-0, replication: 2, kubernetes: {namespace: monitoring, service: scrapers, port: 9202}}",
        )
        .unwrap();
        assert!(settings.fleet.is_sharded());
        let k8s = settings.fleet.kubernetes.unwrap();
        assert_eq!(k8s.service, "scrapers");
        assert_eq!(k8s.namespace.as_deref(), Some("monitoring"));
        assert_eq!(k8s.port, Some(9202));
    }
}
