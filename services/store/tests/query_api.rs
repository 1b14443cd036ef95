//! Query API envelopes and errors over a real socket: Prometheus' status codes, `errorType`
//! values and messages for malformed requests.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod support;

use support::{http, remote_write, StoreHandle};
use tachyscale_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
use tachyscale_store::StoreSettings;

async fn get(store: &StoreHandle, path_and_query: &str) -> (u16, serde_json::Value) {
    let r = http().get(store.url(path_and_query)).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn seeded_store() -> StoreHandle {
    let store = StoreHandle::start(StoreSettings::default()).await;
    let request = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![
                Label {
                    name: "__name__".into(),
                    value: "up".into(),
                },
                Label {
                    name: "job".into(),
                    value: "x".into(),
                },
            ],
            samples: (0..10)
                .map(|i| Sample {
                    value: 1.0,
                    timestamp: i * 1000,
                })
                .collect(),
        }],
    };
    assert_eq!(
        remote_write(&store.url("/api/v1/write"), &request).await.0,
        204
    );
    store
}

#[tokio::test]
async fn success_envelopes_match_prometheus() {
    let store = seeded_store().await;
    let (code, body) = get(&store, "/api/v1/query?query=up&time=5").await;
    assert_eq!(code, 200);
    assert_eq!(
        body,
        serde_json::json!({"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"up","job":"x"},"value":[5,"1"]}]}})
    );
    let (_, body) = get(&store, "/api/v1/query?query=1.5&time=2.25").await;
    assert_eq!(
        body["data"],
        serde_json::json!({"resultType":"scalar","result":[2.25,"1.5"]})
    );
    let (_, body) = get(&store, "/api/v1/query_range?query=up&start=0&end=4&step=2").await;
    assert_eq!(
        body["data"]["result"][0]["values"],
        serde_json::json!([[0, "1"], [2, "1"], [4, "1"]])
    );
    let (_, body) = get(&store, "/api/v1/series?match[]=up&match[]={job=%22x%22}").await;
    assert_eq!(
        body["data"],
        serde_json::json!([{"__name__":"up","job":"x"}])
    );
    let (_, body) = get(&store, "/api/v1/labels").await;
    assert_eq!(body["data"], serde_json::json!(["__name__", "job"]));
    let (_, body) = get(&store, "/api/v1/label/__name__/values").await;
    assert_eq!(body["data"], serde_json::json!(["up"]));
    store.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_bad_data_errors() {
    let store = seeded_store().await;
    for (path, needle) in [
        ("/api/v1/query?query=sum(up", "parse error"),
        ("/api/v1/query", "\"query\""),
        ("/api/v1/query?query=up&time=yesterday", "\"time\""),
        (
            "/api/v1/query_range?query=up&start=10&end=0&step=1",
            "end timestamp must not be before start time",
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=10&step=0",
            "zero or negative",
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=100000&step=1",
            "exceeded maximum resolution",
        ),
        (
            "/api/v1/query_range?query=up[1m]&start=0&end=10&step=1",
            "range vector",
        ),
        ("/api/v1/series", "no match[] parameter provided"),
        ("/api/v1/series?match[]=sum(up)", "match[]"),
    ] {
        let (code, body) = get(&store, path).await;
        assert_eq!(code, 400, "{path}: {body}");
        assert_eq!(body["status"], "error", "{path}");
        assert_eq!(body["errorType"], "bad_data", "{path}");
        assert!(
            body["error"].as_str().unwrap_or("").contains(needle),
            "{path}: {body}"
        );
    }
    store.stop().await;
}

#[tokio::test]
async fn unsupported_features_are_refused_not_answered_wrongly() {
    let store = seeded_store().await;
    for query in [
        "rate(up[5m:1m])",
        "up @ 5",
        "up * on(job) group_left up",
        "stddev(up)",
        "label_replace(up, \"a\", \"b\", \"c\", \"d\")",
    ] {
        let url = format!("/api/v1/query?time=5&query={}", urlencode(query));
        let (code, body) = get(&store, &url).await;
        assert!(code == 400 || code == 422, "{query}: {code} {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or("")
                .contains("not supported"),
            "{query}: {body}"
        );
    }
    store.stop().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
