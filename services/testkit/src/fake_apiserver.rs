//! A fake kube-apiserver on loopback, enough for kube-rs' `watcher`, the `scale`
//! subresource and single-kind discovery: list and watch of Nodes, Pods (all or per
//! namespace) and EndpointSlices (per namespace); get and merge-patch of the scale of
//! Deployments and of one custom resource; the discovery document of that resource's group.
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
//! The scale subresource follows the API server's registry for `apps/v1` Deployments
//! (`pkg/registry/apps/deployment/storage/storage.go`, v1.33) and for custom resources
//! (`apiextensions-apiserver` `scale` subresource):
//! - `GET …/deployments/{name}/scale` answers an `autoscaling/v1` `Scale` built from the
//!   stored Deployment's `spec.replicas` (defaulted to 1 when absent, as the API server
//!   defaults it), `status.replicas` and `spec.selector.matchLabels` as the `status.selector`
//!   string (`k=v` terms sorted by key; `matchExpressions` are not supported);
//! - for [`Kind::Widget`] (`example.com/v1`, plural `widgets`) the CRD's paths are
//!   `.spec.replicas`, `.status.replicas` and `.status.selector` (already a string);
//! - `PATCH` of the same path takes only `application/merge-patch+json` (else `415`),
//!   merges the body into the `Scale` (RFC 7386), writes the resulting `spec.replicas` back
//!   to the object (a `MODIFIED` event) and answers the new `Scale`;
//! - unknown objects and paths answer `404` with a `NotFound` `Status`, as the API server.
//!
//! `GET /apis/example.com/v1` answers an `APIResourceList` with `widgets` (and its `scale`
//! and `status` subresources) and `gadgets` (kind `Gadget`, no scale subresource), enough
//! for `kube::discovery::pinned_kind`.
//!
//! Every request's path, query and `Authorization` header is recorded, and every `PATCH`
//! with its content type and body, so tests can check what was asked and with which
//! credentials.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures_util::StreamExt as _;
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// The group and version of the custom resource this server serves.
pub const CUSTOM_GROUP_VERSION: &str = "example.com/v1";

/// The kinds this server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Node,
    Pod,
    EndpointSlice,
    /// `apps/v1` Deployment: scale subresource only (no list or watch).
    Deployment,
    /// `example.com/v1` Widget, a custom resource with a scale subresource (no list or watch).
    Widget,
}

impl Kind {
    fn list_kind(self) -> &'static str {
        match self {
            Kind::Node => "NodeList",
            Kind::Pod => "PodList",
            Kind::EndpointSlice => "EndpointSliceList",
            Kind::Deployment => "DeploymentList",
            Kind::Widget => "WidgetList",
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            Kind::Node | Kind::Pod => "v1",
            Kind::EndpointSlice => "discovery.k8s.io/v1",
            Kind::Deployment => "apps/v1",
            Kind::Widget => CUSTOM_GROUP_VERSION,
        }
    }

    /// `(group, plural)` as a `NotFound` status names them.
    fn resource(self) -> (&'static str, &'static str) {
        match self {
            Kind::Node => ("", "nodes"),
            Kind::Pod => ("", "pods"),
            Kind::EndpointSlice => ("discovery.k8s.io", "endpointslices"),
            Kind::Deployment => ("apps", "deployments"),
            Kind::Widget => ("example.com", "widgets"),
        }
    }
}

/// A `PATCH` request as received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedPatch {
    /// `path?query`.
    pub uri: String,
    pub content_type: String,
    pub body: Value,
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
    patches: Vec<RecordedPatch>,
    failures: u32,
    watches: CancellationToken,
}

impl Store {
    /// Records a request; returns the injected failure to answer if one is due.
    fn admit(&mut self, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
        self.requests.push(uri.to_string());
        let authorization = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        self.authorizations.push(authorization.to_string());
        if self.failures > 0 {
            self.failures -= 1;
            return Some(status_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "injected failure",
                None,
            ));
        }
        None
    }

    /// Stores an object and records its watch event, stamping the next `resourceVersion`.
    fn put(&mut self, changes: &broadcast::Sender<Change>, kind: Kind, mut object: Value) {
        self.version += 1;
        let version = self.version;
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        let key = key_of(kind, &object);
        let event = if self.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        self.objects.insert(key, object.clone());
        self.record(changes, version, kind, event, object);
    }

    /// Appends to the history and fans out while the store is locked, so that a watch that
    /// snapshots the history and subscribes under the same lock misses nothing.
    fn record(
        &mut self,
        changes: &broadcast::Sender<Change>,
        version: u64,
        kind: Kind,
        event: &str,
        object: Value,
    ) {
        let change = Change {
            version,
            kind,
            namespace: string_at(&object, "namespace"),
            labels: serde_json::from_value(object["metadata"]["labels"].clone())
                .unwrap_or_default(),
            line: Bytes::from(format!("{}\n", json!({"type": event, "object": object}))),
        };
        self.history.push(change.clone());
        let _ = changes.send(change);
    }
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
                patches: Vec::new(),
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
            .route(
                "/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale",
                get(|s, m, u, h, p| scale(s, m, u, h, p, Bytes::new(), Kind::Deployment))
                    .patch(|s, m, u, h, p, body| scale(s, m, u, h, p, body, Kind::Deployment)),
            )
            .route(
                "/apis/example.com/v1/namespaces/{ns}/widgets/{name}/scale",
                get(|s, m, u, h, p| scale(s, m, u, h, p, Bytes::new(), Kind::Widget))
                    .patch(|s, m, u, h, p, body| scale(s, m, u, h, p, body, Kind::Widget)),
            )
            .route("/apis/example.com/v1", get(discovery))
            .fallback(not_found)
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
    pub fn apply(&self, kind: Kind, object: Value) {
        self.shared
            .store
            .lock()
            .put(&self.shared.changes, kind, object);
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
        store.record(&self.shared.changes, version, kind, "DELETED", object);
    }

    /// The stored object, as the last apply or patch left it.
    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        let key = (kind, namespace.to_string(), name.to_string());
        self.shared.store.lock().objects.get(&key).cloned()
    }

    /// The next `n` requests (of any kind) answer 500; `0` ends an injected outage.
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

    /// Every `PATCH` so far, answered or not.
    pub fn patches(&self) -> Vec<RecordedPatch> {
        self.shared.store.lock().patches.clone()
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

/// A `Status` answer, as the API server sends with every error.
fn status_response(
    code: StatusCode,
    reason: &str,
    message: &str,
    details: Option<Value>,
) -> Response {
    let mut status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code.as_u16()});
    if let Some(details) = details {
        status["details"] = details;
    }
    (code, axum::Json(status)).into_response()
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
    if let Some(failure) = store.admit(&uri, &headers) {
        return failure;
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

/// The `autoscaling/v1` `Scale` of a stored Deployment or Widget.
fn scale_of(kind: Kind, object: &Value) -> Value {
    let spec_replicas = match kind {
        Kind::Deployment => object["spec"]["replicas"].as_i64().unwrap_or(1),
        _ => object["spec"]["replicas"].as_i64().unwrap_or(0),
    };
    let selector = match kind {
        Kind::Deployment => object["spec"]["selector"]["matchLabels"]
            .as_object()
            .map(|labels| {
                // serde_json's map is sorted by key, as `LabelSelectorAsSelector` sorts.
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default(),
        _ => object["status"]["selector"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    };
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": object["metadata"]["name"],
            "namespace": object["metadata"]["namespace"],
            "resourceVersion": object["metadata"]["resourceVersion"],
        },
        "spec": {"replicas": spec_replicas},
        "status": {
            "replicas": object["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": selector,
        },
    })
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let fields = target.as_object_mut().unwrap();
    for (key, value) in patch {
        if value.is_null() {
            fields.remove(key);
        } else {
            merge_patch(fields.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// `GET` and `PATCH` of `…/{name}/scale`.
async fn scale(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path((namespace, name)): Path<(String, String)>,
    body: Bytes,
    kind: Kind,
) -> Response {
    let mut store = shared.store.lock();
    if method == Method::PATCH {
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        store.patches.push(RecordedPatch {
            uri: uri.to_string(),
            content_type,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
    }
    if let Some(failure) = store.admit(&uri, &headers) {
        return failure;
    }
    let key = (kind, namespace, name);
    let Some(object) = store.objects.get(&key).cloned() else {
        let (group, plural) = kind.resource();
        let qualified = if group.is_empty() {
            plural.to_string()
        } else {
            format!("{plural}.{group}")
        };
        return status_response(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("{qualified} \"{}\" not found", key.2),
            Some(json!({"name": key.2, "group": group, "kind": plural})),
        );
    };
    if method != Method::PATCH {
        return axum::Json(scale_of(kind, &object)).into_response();
    }

    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type != "application/merge-patch+json" {
        return status_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            &format!("the fake API server takes only merge patches, not {content_type:?}"),
            None,
        );
    }
    let Ok(patch) = serde_json::from_slice::<Value>(&body) else {
        return status_response(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the patch is not JSON",
            None,
        );
    };
    let mut patched = scale_of(kind, &object);
    merge_patch(&mut patched, &patch);
    let Some(replicas) = patched["spec"]["replicas"]
        .as_i64()
        .filter(|replicas| (0..=i64::from(i32::MAX)).contains(replicas))
    else {
        return status_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            "spec.replicas: must be a non-negative 32-bit integer",
            None,
        );
    };
    let mut object = object;
    object["spec"]["replicas"] = json!(replicas);
    store.put(&shared.changes, kind, object);
    let updated = &store.objects[&key];
    axum::Json(scale_of(kind, updated)).into_response()
}

/// `GET /apis/example.com/v1`: the discovery document of the custom resources.
async fn discovery(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    if let Some(failure) = shared.store.lock().admit(&uri, &headers) {
        return failure;
    }
    let verbs = json!(["create", "delete", "get", "list", "patch", "update", "watch"]);
    axum::Json(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": CUSTOM_GROUP_VERSION,
        "resources": [
            {"name": "widgets", "singularName": "widget", "namespaced": true,
             "kind": "Widget", "verbs": verbs},
            {"name": "widgets/scale", "singularName": "", "namespaced": true,
             "group": "autoscaling", "version": "v1", "kind": "Scale",
             "verbs": ["get", "patch", "update"]},
            {"name": "widgets/status", "singularName": "", "namespaced": true,
             "kind": "Widget", "verbs": ["get", "patch", "update"]},
            {"name": "gadgets", "singularName": "gadget", "namespaced": true,
             "kind": "Gadget", "verbs": verbs},
        ],
    }))
    .into_response()
}

/// Any other path: `404` with a `Status`, as the API server answers an unknown resource.
async fn not_found(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    if let Some(failure) = shared.store.lock().admit(&uri, &headers) {
        return failure;
    }
    status_response(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource",
        None,
    )
}
