//! A fake kube-apiserver on loopback, enough for kube-rs' `watcher`: list and watch of
//! Nodes, Pods (all or per namespace) and EndpointSlices (per namespace).
//!
//! There is no real API server on the test machines, so the integration tests run kube-rs
//! against this. It keeps objects and a history of watch events, each stamped with a
//! cluster-wide `resourceVersion` as etcd does:
//! - a list (`GET` without `watch`) answers every matching object and the current version;
//! - a watch (`watch=true`) first replays the history after the requested version, then
//!   streams newline-delimited `{"type":"ADDED"|"MODIFIED"|"DELETED","object":{…}}` events
//!   as the test applies or deletes objects, and stays open until [`FakeApiServer::close_watches`]
//!   or stop (the watcher then resumes from the last version it saw);
//! - `labelSelector` supports `k=v`, `k==v`, `k!=v` and `k` terms; `fieldSelector`, paging
//!   and bookmarks are ignored (the answer is one complete page);
//! - [`FakeApiServer::fail_next`] makes the next requests answer `500` with a `Status`.
//!
//! Every request's path, query and `Authorization` header is recorded, so tests can check
//! what was asked and with which credentials.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures_util::StreamExt as _;
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// The kinds this server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Node,
    Pod,
    EndpointSlice,
}

impl Kind {
    fn list_kind(self) -> &'static str {
        match self {
            Kind::Node => "NodeList",
            Kind::Pod => "PodList",
            Kind::EndpointSlice => "EndpointSliceList",
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            Kind::Node | Kind::Pod => "v1",
            Kind::EndpointSlice => "discovery.k8s.io/v1",
        }
    }
}

/// One watch event, as kept in the history.
#[derive(Clone)]
struct Change {
    version: u64,
    kind: Kind,
    namespace: String,
    labels: BTreeMap<String, String>,
    line: Bytes,
}

struct Store {
    version: u64,
    objects: BTreeMap<(Kind, String, String), Value>,
    history: Vec<Change>,
    requests: Vec<String>,
    authorizations: Vec<String>,
    failures: u32,
    watches: CancellationToken,
}

struct Shared {
    store: Mutex<Store>,
    changes: broadcast::Sender<Change>,
    stop: CancellationToken,
}

/// Capacity of the live event fan-out; tests push a handful of events.
const CHANGES_CAPACITY: usize = 1024;

pub struct FakeApiServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FakeApiServer {
    pub async fn start() -> FakeApiServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let shared = Arc::new(Shared {
            store: Mutex::new(Store {
                version: 1000,
                objects: BTreeMap::new(),
                history: Vec::new(),
                requests: Vec::new(),
                authorizations: Vec::new(),
                failures: 0,
                watches: stop.child_token(),
            }),
            changes: broadcast::channel(CHANGES_CAPACITY).0,
            stop: stop.clone(),
        });
        let app = axum::Router::new()
            .route(
                "/api/v1/nodes",
                get(|s, u, h, q| serve(s, u, h, q, Kind::Node, None)),
            )
            .route(
                "/api/v1/pods",
                get(|s, u, h, q| serve(s, u, h, q, Kind::Pod, None)),
            )
            .route(
                "/api/v1/namespaces/{ns}/pods",
                get(|s, u, h, q, Path(ns): Path<String>| serve(s, u, h, q, Kind::Pod, Some(ns))),
            )
            .route(
                "/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices",
                get(|s, u, h, q, Path(ns): Path<String>| {
                    serve(s, u, h, q, Kind::EndpointSlice, Some(ns))
                }),
            )
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
                .unwrap();
        });
        FakeApiServer {
            addr,
            shared,
            task: Some(task),
        }
    }

    /// The base URL to put in `api_server`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates or replaces an object (ADDED or MODIFIED), keyed by namespace and name.
    pub fn apply(&self, kind: Kind, mut object: Value) {
        let mut store = self.shared.store.lock();
        store.version += 1;
        let version = store.version;
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        let key = key_of(kind, &object);
        let event = if store.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        store.objects.insert(key, object.clone());
        self.record(&mut store, version, kind, event, object);
    }

    /// Deletes an object (DELETED, carrying its last state).
    pub fn delete(&self, kind: Kind, namespace: &str, name: &str) {
        let mut store = self.shared.store.lock();
        let key = (kind, namespace.to_string(), name.to_string());
        let Some(mut object) = store.objects.remove(&key) else {
            panic!("no {kind:?} {namespace}/{name}");
        };
        store.version += 1;
        let version = store.version;
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        self.record(&mut store, version, kind, "DELETED", object);
    }

    /// Appends to the history and fans out while the store is locked, so that a watch that
    /// snapshots the history and subscribes under the same lock misses nothing.
    fn record(&self, store: &mut Store, version: u64, kind: Kind, event: &str, object: Value) {
        let change = Change {
            version,
            kind,
            namespace: string_at(&object, "namespace"),
            labels: serde_json::from_value(object["metadata"]["labels"].clone())
                .unwrap_or_default(),
            line: Bytes::from(format!("{}\n", json!({"type": event, "object": object}))),
        };
        store.history.push(change.clone());
        let _ = self.shared.changes.send(change);
    }

    /// The next `n` requests (lists or watches) answer 500.
    pub fn fail_next(&self, n: u32) {
        self.shared.store.lock().failures = n;
    }

    /// Ends every open watch stream, as an API server restart or a load balancer would.
    pub fn close_watches(&self) {
        let mut store = self.shared.store.lock();
        store.watches.cancel();
        store.watches = self.shared.stop.child_token();
    }

    /// `path?query` of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.shared.store.lock().requests.clone()
    }

    /// The `Authorization` header of every request so far (`""` when absent).
    pub fn authorizations(&self) -> Vec<String> {
        self.shared.store.lock().authorizations.clone()
    }

    pub async fn stop(mut self) {
        self.shared.stop.cancel();
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.shared.stop.cancel();
    }
}

fn string_at(object: &Value, field: &str) -> String {
    object["metadata"][field].as_str().unwrap_or("").to_string()
}

fn key_of(kind: Kind, object: &Value) -> (Kind, String, String) {
    (
        kind,
        string_at(object, "namespace"),
        string_at(object, "name"),
    )
}

/// Whether `labels` match a label selector (`k=v`, `k==v`, `k!=v`, `k`, comma-separated).
fn selects(selector: Option<&String>, labels: &BTreeMap<String, String>) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    selector
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|term| {
            if let Some((k, v)) = term.split_once("!=") {
                labels.get(k.trim()).map(String::as_str) != Some(v.trim())
            } else if let Some((k, v)) = term.split_once('=') {
                let v = v.trim_start_matches('=');
                labels.get(k.trim()).map(String::as_str) == Some(v.trim())
            } else {
                labels.contains_key(term)
            }
        })
}

async fn serve(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    kind: Kind,
    namespace: Option<String>,
) -> Response {
    let in_scope = |ns: &str, labels: &BTreeMap<String, String>| {
        namespace.as_deref().is_none_or(|want| want == ns)
            && selects(query.get("labelSelector"), labels)
    };
    let mut store = shared.store.lock();
    store.requests.push(uri.to_string());
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    store.authorizations.push(authorization.to_string());
    if store.failures > 0 {
        store.failures -= 1;
        let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": "injected failure", "reason": "InternalError",
            "code": 500});
        return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(status)).into_response();
    }
    let watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    if !watch {
        let items: Vec<Value> = store
            .objects
            .iter()
            .filter(|((k, ns, _), object)| {
                let labels = serde_json::from_value(object["metadata"]["labels"].clone())
                    .unwrap_or_default();
                *k == kind && in_scope(ns, &labels)
            })
            .map(|(_, object)| object.clone())
            .collect();
        let list = json!({
            "kind": kind.list_kind(),
            "apiVersion": kind.api_version(),
            "metadata": {"resourceVersion": store.version.to_string()},
            "items": items,
        });
        return axum::Json(list).into_response();
    }

    let since: u64 = query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let wanted = move |c: &Change| {
        c.kind == kind
            && c.version > since
            && namespace.as_deref().is_none_or(|want| want == c.namespace)
            && selects(query.get("labelSelector"), &c.labels)
    };
    let backlog: Vec<Change> = store
        .history
        .iter()
        .filter(|c| wanted(c))
        .cloned()
        .collect();
    let live = shared.changes.subscribe();
    let closed = store.watches.clone();
    drop(store);

    let live = futures_util::stream::unfold(live, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(change) => return Some((change, rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .filter(move |c| std::future::ready(wanted(c)));
    let body = futures_util::stream::iter(backlog)
        .chain(live)
        .map(|c| Ok::<_, Infallible>(c.line))
        .take_until(closed.cancelled_owned());
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(body))
        .unwrap()
}
