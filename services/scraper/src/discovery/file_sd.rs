//! `file_sd_configs`: target groups read from JSON or YAML files, re-read when they change.
//!
//! Follows Prometheus 2.42 `discovery/file`: each file holds a list of
//! `{targets: [...], labels: {...}}` entries, `*.json` files are JSON and `*.yml`/`*.yaml`
//! YAML, patterns may use globs in the file name, every target gets `__meta_filepath`, and a
//! file that cannot be read or parsed keeps the groups it produced last (the error is
//! logged and counted). Prometheus watches with inotify and also re-reads every
//! `refresh_interval`; here a cheap `stat` every [`CHANGE_CHECK_INTERVAL`] detects changes
//! (inotify is not available on every volume type Kubernetes mounts, e.g. ConfigMap
//! symlink swaps), plus a full re-read every `refresh_interval`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{StaticConfig, TargetGroup};

/// How often file metadata is checked for changes.
pub const CHANGE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The label naming the file a target came from.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// Why a file could not be turned into target groups.
#[derive(Debug, thiserror::Error)]
pub enum FileSdError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: file extension must be .json, .yml or .yaml")]
    Extension { path: PathBuf },
    #[error("invalid pattern {pattern}: {message}")]
    Pattern { pattern: String, message: String },
}

impl FileSdError {
    /// Bounded reason label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            FileSdError::Read { .. } => "read",
            FileSdError::Parse { .. } => "parse",
            FileSdError::Extension { .. } => "extension",
            FileSdError::Pattern { .. } => "pattern",
        }
    }
}

/// Parses one file's content into groups, as Prometheus names them (`<path>:<index>`).
pub fn parse_file(path: &Path, text: &str) -> Result<Vec<TargetGroup>, FileSdError> {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let parse_error = |message: String| FileSdError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let entries: Vec<StaticConfig> = match extension {
        "json" => serde_json::from_str(text).map_err(|e| parse_error(e.to_string()))?,
        "yml" | "yaml" => {
            if text.trim().is_empty() {
                Vec::new()
            } else {
                serde_yaml_ng::from_str(text).map_err(|e| parse_error(e.to_string()))?
            }
        }
        _ => {
            return Err(FileSdError::Extension {
                path: path.to_path_buf(),
            })
        }
    };
    let display = path.display().to_string();
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            if let Some(bad) = entry.targets.iter().find(|t| t.contains('/')) {
                return Err(parse_error(format!(
                    "entry {index}: target {bad:?} must be host:port, not a URL"
                )));
            }
            let mut group = entry.to_group(format!("{display}:{index}"));
            group
                .labels
                .insert(FILEPATH_LABEL.to_string(), display.clone());
            Ok(group)
        })
        .collect()
}

/// The files a list of patterns currently names.
pub fn expand_patterns(patterns: &[String]) -> Result<Vec<PathBuf>, FileSdError> {
    let mut files = Vec::new();
    for pattern in patterns {
        let paths = glob::glob(pattern).map_err(|e| FileSdError::Pattern {
            pattern: pattern.clone(),
            message: e.to_string(),
        })?;
        files.extend(paths.filter_map(Result::ok));
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// What is known about one file: its last stat and the groups it last produced.
struct WatchedFile {
    stamp: Option<(SystemTime, u64)>,
    groups: Vec<TargetGroup>,
}

/// Reports every file error to the caller (for logs and the errors metric).
pub type ErrorSink = Box<dyn Fn(&FileSdError) + Send + Sync>;

/// Watches the files matched by `patterns` and publishes the union of their groups.
pub struct FileWatcher {
    patterns: Vec<String>,
    refresh_interval: Duration,
    files: BTreeMap<PathBuf, WatchedFile>,
    on_error: ErrorSink,
}

impl FileWatcher {
    pub fn new(patterns: Vec<String>, refresh_interval: Duration, on_error: ErrorSink) -> Self {
        FileWatcher {
            patterns,
            refresh_interval,
            files: BTreeMap::new(),
            on_error,
        }
    }

    /// Re-expands the patterns and re-reads changed files (all files when `force`); returns
    /// whether the published groups may have changed.
    pub fn refresh(&mut self, force: bool) -> bool {
        let paths = match expand_patterns(&self.patterns) {
            Ok(paths) => paths,
            Err(err) => {
                (self.on_error)(&err);
                return false;
            }
        };
        let before = self.files.len();
        self.files.retain(|path, _| paths.contains(path));
        let mut changed = self.files.len() != before;
        for path in paths {
            let stamp = std::fs::metadata(&path)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())));
            let known = self.files.get(&path).map(|f| f.stamp);
            if !force && known.is_some() && known == Some(stamp) {
                continue;
            }
            let groups = std::fs::read_to_string(&path)
                .map_err(|source| FileSdError::Read {
                    path: path.clone(),
                    source,
                })
                .and_then(|text| parse_file(&path, &text));
            match groups {
                Ok(groups) => {
                    self.files.insert(path, WatchedFile { stamp, groups });
                    changed = true;
                }
                Err(err) => {
                    (self.on_error)(&err);
                    // Keep the last good groups; remember the stamp so a broken file is
                    // not re-parsed (and re-reported) every second until it changes.
                    let previous = self.files.remove(&path).map(|f| f.groups);
                    self.files.insert(
                        path,
                        WatchedFile {
                            stamp,
                            groups: previous.unwrap_or_default(),
                        },
                    );
                }
            }
        }
        changed
    }

    /// The union of every file's groups.
    pub fn groups(&self) -> Vec<TargetGroup> {
        self.files
            .values()
            .flat_map(|f| f.groups.iter().cloned())
            .collect()
    }

    /// Publishes groups on `sender` until `shutdown`, re-reading changed files every
    /// [`CHANGE_CHECK_INTERVAL`] and all files every `refresh_interval`.
    pub async fn run(
        mut self,
        sender: watch::Sender<Vec<TargetGroup>>,
        shutdown: CancellationToken,
    ) {
        self.refresh(true);
        sender.send_replace(self.groups());
        let mut last_full = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(CHANGE_CHECK_INTERVAL) => {}
            }
            let force = last_full.elapsed() >= self.refresh_interval;
            if force {
                last_full = tokio::time::Instant::now();
            }
            if self.refresh(force) {
                let groups = self.groups();
                super::publish_if_changed(&sender, groups);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn recorder() -> (ErrorSink, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink_seen = seen.clone();
        let sink: ErrorSink = Box::new(move |e| sink_seen.lock().unwrap().push(e.to_string()));
        (sink, seen)
    }

    #[test]
    fn json_and_yaml_files_give_groups_with_the_file_path() {
        let json =
            r#"[{"targets": ["10.0.0.1:9100", "10.0.0.2:9100"], "labels": {"env": "prod"}}]"#;
        let groups = parse_file(Path::new("/sd/a.json"), json).unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].source, "/sd/a.json:0");
        assert_eq!(groups[0].targets.len(), 2);
        assert_eq!(groups[0].targets[1]["__address__"], "10.0.0.2:9100");
        assert_eq!(groups[0].labels["env"], "prod");
        assert_eq!(groups[0].labels[FILEPATH_LABEL], "/sd/a.json");

        let yaml = "- targets: ['h:1']\n- targets: ['h:2']\n  labels: {team: a}\n";
        let groups = parse_file(Path::new("/sd/b.yml"), yaml).unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[1].labels["team"], "a");
    }

    #[test]
    fn malformed_files_are_refused_with_the_path() {
        let err = parse_file(Path::new("/sd/a.json"), "[{\"targets\": 3}]").unwrap_err();
        assert_eq!(err.reason(), "parse");
        assert!(err.to_string().starts_with("/sd/a.json: "), "{err}");
        let err = parse_file(
            Path::new("/sd/a.json"),
            r#"[{"targets":["h:1"],"lables":{}}]"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("lables"), "{err}");
        let err = parse_file(Path::new("/sd/a.txt"), "[]").unwrap_err();
        assert_eq!(err.reason(), "extension");
        let err =
            parse_file(Path::new("/sd/a.json"), r#"[{"targets":["http://h:1/x"]}]"#).unwrap_err();
        assert!(err.to_string().contains("host:port"), "{err}");
    }

    #[test]
    fn watcher_rereads_changed_files_and_keeps_groups_of_a_broken_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("targets.json");
        std::fs::write(&path, r#"[{"targets": ["a:1"]}]"#).unwrap();
        let (sink, errors) = recorder();
        let pattern = format!("{}/*.json", dir.path().display());
        let mut watcher = FileWatcher::new(vec![pattern], Duration::from_secs(300), sink);
        assert!(watcher.refresh(false));
        assert_eq!(watcher.groups()[0].targets[0]["__address__"], "a:1");

        std::fs::write(&path, r#"[{"targets": ["a:1", "b:2"]}]"#).unwrap();
        assert!(watcher.refresh(false));
        assert_eq!(watcher.groups()[0].targets.len(), 2);

        std::fs::write(&path, "[{ broken").unwrap();
        watcher.refresh(false);
        assert_eq!(
            watcher.groups()[0].targets.len(),
            2,
            "last good groups kept"
        );
        assert_eq!(errors.lock().unwrap().len(), 1);

        let second = dir.path().join("more.json");
        std::fs::write(&second, r#"[{"targets": ["c:3"]}]"#).unwrap();
        assert!(watcher.refresh(false));
        assert_eq!(watcher.groups().len(), 2);

        std::fs::remove_file(&second).unwrap();
        assert!(watcher.refresh(false));
        assert_eq!(watcher.groups().len(), 1);
    }
}
