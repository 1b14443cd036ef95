//! VPA checkpoints on disk, in the `VerticalPodAutoscalerCheckpoint` v3 JSON the upstream
//! recommender stores in the API, so history moves both ways:
//!
//! - **import**: at start every `*.json` file of `vpa_checkpoints.directory` is read — one
//!   checkpoint object, or a `List` as `kubectl get vpacheckpoint -o json` prints it — and
//!   each checkpoint whose `spec.vpaObjectName` and namespace name a VPA policy seeds that
//!   policy's histograms (name the policy like the VPA it replaces);
//! - **export**: every `vpa_checkpoints.interval` each VPA policy writes one file per
//!   container, `<namespace>.<vpa>-<container>.json`, through a temporary file and a
//!   rename, so a crash never leaves half a checkpoint and a restart resumes the history.
//!
//! A file that cannot be read or parsed is reported and skipped: a bad checkpoint must not
//! stop scaling.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use tachyscale_scaler::vpa::VpaCheckpoint;

/// Why a checkpoint file was skipped.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointFileError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a VerticalPodAutoscalerCheckpoint (or a List of them): {message}")]
    Parse { path: PathBuf, message: String },
}

/// A file's content: a `List` of checkpoints or one checkpoint.
fn parse_document(text: &str) -> Result<Vec<VpaCheckpoint>, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|err| err.to_string())?;
    let objects = match value.get("items") {
        Some(serde_json::Value::Array(items)) => items.clone(),
        Some(_) => return Err("items is not a list".into()),
        None => vec![value],
    };
    objects
        .into_iter()
        .map(|object| {
            let checkpoint = VpaCheckpoint::deserialize(object).map_err(|err| err.to_string())?;
            if checkpoint.kind == "VerticalPodAutoscalerCheckpoint" {
                Ok(checkpoint)
            } else {
                Err(format!("kind is {:?}", checkpoint.kind))
            }
        })
        .collect()
}

/// Every checkpoint in `dir`'s `*.json` files, plus the files that were skipped.
pub fn read_directory(dir: &Path) -> (Vec<VpaCheckpoint>, Vec<CheckpointFileError>) {
    let mut checkpoints = Vec::new();
    let mut errors = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(source) if source.kind() == std::io::ErrorKind::NotFound => {
            return (checkpoints, errors)
        }
        Err(source) => {
            errors.push(CheckpointFileError::Read {
                path: dir.to_path_buf(),
                source,
            });
            return (checkpoints, errors);
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    for path in paths {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(source) => {
                errors.push(CheckpointFileError::Read { path, source });
                continue;
            }
        };
        match parse_document(&text) {
            Ok(found) => checkpoints.extend(found),
            Err(message) => errors.push(CheckpointFileError::Parse { path, message }),
        }
    }
    (checkpoints, errors)
}

/// The file a checkpoint is written to.
pub fn file_name(checkpoint: &VpaCheckpoint) -> String {
    let clean = |text: &str| {
        text.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    format!(
        "{}.{}.json",
        clean(&checkpoint.metadata.namespace),
        clean(&checkpoint.metadata.name)
    )
}

/// Writes checkpoints into `dir`, each through a temporary file and a rename.
pub async fn write_all(dir: &Path, checkpoints: &[VpaCheckpoint]) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    for checkpoint in checkpoints {
        let text = serde_json::to_vec_pretty(checkpoint).map_err(std::io::Error::other)?;
        let path = dir.join(file_name(checkpoint));
        let temporary = dir.join(format!(".{}.tmp", file_name(checkpoint)));
        tokio::fs::write(&temporary, text).await?;
        tokio::fs::rename(&temporary, &path).await?;
    }
    Ok(())
}
