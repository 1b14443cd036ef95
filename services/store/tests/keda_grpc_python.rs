//! KEDA's side of the wire, written independently: `tests/python/keda_client.py` compiles
//! the repository's `externalscaler.proto` with grpcio-tools and drives the store's gRPC
//! server with grpcio over plaintext, TLS and mTLS.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::process::Stdio;

use tachyscale_store::StoreSettings;
use tachyscale_testkit::certs::{PemDir, TestCa};
use tachyscale_testkit::StoreHandle;

fn python() -> String {
    std::env::var("TACHYSCALE_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

async fn run_client(store: &StoreHandle, suite: &str, extra: &[(&str, PathBuf)]) -> String {
    let mut command = tokio::process::Command::new(python());
    command
        .arg(repo_path("tests/python/keda_client.py"))
        .args(["--suite", suite])
        .arg("--grpc")
        .arg(store.grpc_addr.unwrap().to_string())
        .arg("--store")
        .arg(store.url(""))
        .arg("--proto")
        .arg(repo_path("../../proto"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (flag, path) in extra {
        command.arg(flag).arg(path);
    }
    let output = tokio::time::timeout(std::time::Duration::from_secs(120), command.output())
        .await
        .expect("the Python client did not finish in 120 s")
        .expect("cannot run python3 (scripts/test-all installs grpcio and grpcio-tools)");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        output.status.success(),
        "the Python client failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    println!("{stdout}");
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_drives_all_five_rpcs_errors_and_push_transitions() {
    let store = StoreHandle::start_with(StoreSettings::default()).await;
    let out = run_client(&store, "plain", &[]).await;
    assert!(out.contains("ok: "), "{out}");
    assert!(out.contains("StreamIsActive push delays"), "{out}");
    let metrics = store.state.metrics().render(&store.state.head()).unwrap();
    for method in [
        "GetMetricSpec",
        "GetMetrics",
        "IsActive",
        "StreamIsActive",
        "StreamMetricSpec",
    ] {
        assert!(
            metrics.contains(&format!(
                "tachyscale_store_keda_requests_total{{code=\"OK\",method=\"{method}\"}}"
            )),
            "{method} not counted:\n{metrics}"
        );
    }
    assert!(metrics.contains("code=\"INVALID_ARGUMENT\""), "{metrics}");
    store.stop().await;
}

fn tls_settings(dir: &PemDir, ca: &TestCa, mtls: bool) -> StoreSettings {
    let (cert, key) = dir.identity("server", &ca.server());
    let ca_path = dir.write("ca.crt", &ca.cert_pem());
    let client_ca = if mtls {
        format!("    client_ca_file: {}\n", ca_path.display())
    } else {
        String::new()
    };
    StoreSettings::from_yaml(&format!(
        "keda:\n  tls:\n    cert_file: {}\n    key_file: {}\n{client_ca}",
        cert.display(),
        key.display()
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_over_tls() {
    let dir = PemDir::default();
    let ca = TestCa::new("tachyscale test CA");
    let store = StoreHandle::start_with(tls_settings(&dir, &ca, false)).await;
    let ca_path = dir.path().join("ca.crt");
    run_client(&store, "tls", &[("--ca", ca_path)]).await;
    store.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_over_mtls_refuses_missing_and_foreign_client_certificates() {
    let dir = PemDir::default();
    let ca = TestCa::new("tachyscale test CA");
    let store = StoreHandle::start_with(tls_settings(&dir, &ca, true)).await;
    let (client_cert, client_key) = dir.identity("keda", &ca.client("keda-operator", &[]));
    let other = TestCa::new("someone else's CA");
    let (wrong_cert, wrong_key) = dir.identity("wrong", &other.client("keda-operator", &[]));
    run_client(
        &store,
        "mtls",
        &[
            ("--ca", dir.path().join("ca.crt")),
            ("--cert", client_cert),
            ("--key", client_key),
            ("--wrong-cert", wrong_cert),
            ("--wrong-key", wrong_key),
        ],
    )
    .await;
    let metrics = store.state.metrics().render(&store.state.head()).unwrap();
    assert!(
        metrics.contains("tachyscale_store_tls_handshake_failures_total{listener=\"grpc\"}"),
        "{metrics}"
    );
    store.stop().await;
}
