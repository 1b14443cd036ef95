//! `POST /v1/explain/{engine}` and `tachyscale explain` give the same answer for every
//! example document in `examples/explain/`, and bad documents get a 422 naming the field.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tachyscale_scaler_service::decision_log::DecisionLog;
use tachyscale_scaler_service::explain::{explain, Engine};
use tachyscale_scaler_service::http::{router, HttpState};
use tachyscale_scaler_service::metrics::ScalerMetrics;
use tower::ServiceExt as _;

fn examples() -> Vec<(Engine, PathBuf)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/explain");
    let mut found: Vec<(Engine, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .filter_map(|path| {
            let stem = path.file_stem()?.to_str()?.to_owned();
            let engine = Engine::parse(stem.split('-').next()?)?;
            Some((engine, path))
        })
        .collect();
    found.sort_by(|a, b| a.1.cmp(&b.1));
    found
}

fn state() -> HttpState {
    HttpState {
        metrics: ScalerMetrics::new(prometheus::Registry::new()).unwrap(),
        decisions: Arc::new(DecisionLog::new(10)),
        recommendations: Default::default(),
        ready: Arc::new(AtomicBool::new(true)),
        explain_slots: Arc::new(tokio::sync::Semaphore::new(2)),
    }
}

async fn post(path: &str, body: Vec<u8>) -> (StatusCode, serde_json::Value) {
    let response = router(state())
        .oneshot(
            Request::post(path)
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn every_example_explains_the_same_over_http() {
    let examples = examples();
    for engine in [Engine::Hpa, Engine::Vpa, Engine::Cpa] {
        assert!(
            examples.iter().any(|(found, _)| *found == engine),
            "no {engine:?} example"
        );
    }
    for (engine, path) in examples {
        let body = std::fs::read(&path).unwrap();
        // Compared as text: both sides go through the same float printing and parsing.
        let direct: serde_json::Value =
            serde_json::from_str(&explain(engine, &body).unwrap().to_string()).unwrap();
        let (status, over_http) = post(&format!("/v1/explain/{}", engine.as_str()), body).await;
        assert_eq!(status, StatusCode::OK, "{}: {over_http}", path.display());
        assert_eq!(over_http, direct, "{}", path.display());
    }
}

#[tokio::test]
async fn bad_documents_name_the_field() {
    let (status, body) = post(
        "/v1/explain/cpa",
        br#"{"params": {"linear": {"min": 3, "max": 1, "coresPerReplica": 1}}, "nodes": []}"#
            .to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("params.linear.max"),
        "{body}"
    );
    let (status, body) = post(
        "/v1/explain/cpa",
        br#"{"params": 5, "nodes": "x"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = post("/v1/explain/kpa", b"{}".to_vec()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
