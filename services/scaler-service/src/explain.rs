//! `explain`: run one engine on a JSON document shaped like the upstream objects and return
//! the decision with every intermediate value. Shared by `tachyscale explain hpa|vpa|cpa
//! --input FILE` and `POST /v1/explain/{hpa,vpa,cpa}`, so both give the same answer.
//!
//! Input errors name the JSON path (`spec.metrics[0].resource.target.averageUtilization:
//! invalid type…`), engine errors name the field the engine refused.

use serde::de::DeserializeOwned;
use tachyscale_scaler::{cpa, hpa, vpa};

/// Largest document accepted (a VPA history of many samples fits easily).
pub const MAX_INPUT_BYTES: usize = 64 << 20;

/// Explanations computed at once over HTTP: each may hold a 64 MiB document and replay a
/// million VPA events, so they run on the blocking pool, a few at a time, away from the
/// policy ticks.
pub const MAX_CONCURRENT_EXPLAINS: usize = 2;

/// The engines `explain` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Hpa,
    Vpa,
    Cpa,
}

impl Engine {
    pub fn parse(name: &str) -> Option<Engine> {
        match name {
            "hpa" => Some(Engine::Hpa),
            "vpa" => Some(Engine::Vpa),
            "cpa" => Some(Engine::Cpa),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Hpa => "hpa",
            Engine::Vpa => "vpa",
            Engine::Cpa => "cpa",
        }
    }
}

/// Why a document could not be explained.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("input is {size} bytes; at most {MAX_INPUT_BYTES} are accepted")]
    TooLarge { size: usize },
    #[error("invalid {engine} input at {path}: {message}")]
    Input {
        engine: &'static str,
        path: String,
        message: String,
    },
    #[error("{engine}: {message}")]
    Engine {
        engine: &'static str,
        message: String,
        reason: &'static str,
    },
    #[error("cannot encode the explanation: {0}")]
    Encode(String),
    #[error("the scaler is shutting down")]
    Busy,
}

impl ExplainError {
    pub fn reason(&self) -> &'static str {
        match self {
            ExplainError::TooLarge { .. } => "too_large",
            ExplainError::Input { .. } => "invalid_input",
            ExplainError::Engine { reason, .. } => reason,
            ExplainError::Encode(_) => "encode",
            ExplainError::Busy => "unavailable",
        }
    }
}

fn decode<T: DeserializeOwned>(engine: Engine, body: &[u8]) -> Result<T, ExplainError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        ExplainError::Input {
            engine: engine.as_str(),
            path,
            message: err.into_inner().to_string(),
        }
    })
}

fn encode<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, ExplainError> {
    serde_json::to_value(value).map_err(|err| ExplainError::Encode(err.to_string()))
}

/// Runs `engine` on a JSON document.
pub fn explain(engine: Engine, body: &[u8]) -> Result<serde_json::Value, ExplainError> {
    if body.len() > MAX_INPUT_BYTES {
        return Err(ExplainError::TooLarge { size: body.len() });
    }
    match engine {
        Engine::Cpa => {
            let input: cpa::CpaExplainInput = decode(engine, body)?;
            let explanation = cpa::explain(&input).map_err(|err| ExplainError::Engine {
                engine: "cpa",
                reason: err.reason(),
                message: err.to_string(),
            })?;
            encode(&explanation)
        }
        Engine::Hpa => {
            let input: hpa::HpaExplainInput = decode(engine, body)?;
            let explanation = hpa::explain(&input).map_err(|err| ExplainError::Engine {
                engine: "hpa",
                reason: err.reason(),
                message: err.to_string(),
            })?;
            encode(&explanation)
        }
        Engine::Vpa => {
            let input: vpa::VpaExplainInput = decode(engine, body)?;
            let explanation = vpa::explain(&input).map_err(|err| ExplainError::Engine {
                engine: "vpa",
                reason: err.reason(),
                message: err.to_string(),
            })?;
            encode(&explanation)
        }
    }
}

/// [`explain`] on the blocking pool, at most as many at once as `slots` has permits.
pub async fn explain_off_runtime(
    slots: &tokio::sync::Semaphore,
    engine: Engine,
    body: bytes::Bytes,
) -> Result<serde_json::Value, ExplainError> {
    let _permit = slots.acquire().await.map_err(|_| ExplainError::Busy)?;
    tokio::task::spawn_blocking(move || explain(engine, &body))
        .await
        .map_err(|_| ExplainError::Busy)?
}
