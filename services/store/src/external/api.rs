//! Routes of `external.metrics.k8s.io/v1beta1` and its discovery documents.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rustls::pki_types::UnixTime;
use tachyscale_kubeformat::{quantity, selector};
use tachyscale_promql::Value;
use tachyscale_tsdb::METRIC_NAME;

use super::auth::{authenticate, authorize, AuthError};
use super::kube_json::{
    self as kube, ApiGroup, ApiGroupList, ApiResource, ApiResourceList, EmptyMeta,
    ExternalMetricValue, ExternalMetricValueList, Status,
};
use crate::api::AppState;
use crate::result_cache::{evaluate_shared, PreparedQuery};
use crate::tls::{ConnInfo, ReloadingTls};

/// Where a request's identity comes from.
#[derive(Clone)]
pub enum Access {
    /// The HTTPS listener: certificates and front-proxy headers.
    Authenticated(Arc<ReloadingTls>),
    /// `insecure_http_on_loopback`: no authentication (development only).
    Open,
}

#[derive(Clone)]
struct Ctx {
    state: AppState,
    access: Access,
}

/// The `/apis` routes; every one of them passes authentication first.
pub fn routes(state: AppState, access: Access) -> Router {
    let ctx = Ctx { state, access };
    Router::new()
        .route("/apis", get(api_group_list))
        .route("/apis/external.metrics.k8s.io", get(api_group))
        .route("/apis/external.metrics.k8s.io/v1beta1", get(resource_list))
        .route(
            "/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}",
            get(metric_values),
        )
        .layer(axum::middleware::from_fn_with_state(ctx.clone(), guard))
        .with_state(ctx)
}

/// Authenticates, authorizes and counts every request.
async fn guard(State(ctx): State<Ctx>, request: Request, next: Next) -> Response {
    let metrics = ctx.state.metrics().scaling.clone();
    let response = match check_access(&ctx, &request) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            metrics.auth_failures.with_label_values(&[e.reason()]).inc();
            tracing::debug!(error = %e, "external metrics request refused");
            if e.is_forbidden() {
                Status::failure(StatusCode::FORBIDDEN, "Forbidden", e.to_string()).into_response()
            } else {
                Status::failure(StatusCode::UNAUTHORIZED, "Unauthorized", e.to_string())
                    .into_response()
            }
        }
    };
    metrics
        .external_requests
        .with_label_values(&[response.status().as_str()])
        .inc();
    response
}

fn check_access(ctx: &Ctx, request: &Request) -> Result<(), AuthError> {
    let Access::Authenticated(tls) = &ctx.access else {
        return Ok(());
    };
    let chain = request
        .extensions()
        .get::<ConnInfo>()
        .and_then(|info| info.peer_certificates.clone());
    let settings = ctx.state.settings();
    let requestheader = settings
        .https
        .as_ref()
        .and_then(|h| h.requestheader.as_ref());
    let user = authenticate(
        chain.as_deref().map(Vec::as_slice),
        request.headers(),
        &tls.current(),
        requestheader,
        UnixTime::now(),
    )?;
    authorize(&user, &settings.external_metrics)
}

async fn api_group_list() -> Response {
    kube::json(
        StatusCode::OK,
        &ApiGroupList {
            kind: "APIGroupList",
            api_version: "v1",
            groups: vec![ApiGroup::external_metrics()],
        },
    )
}

async fn api_group() -> Response {
    kube::json(StatusCode::OK, &ApiGroup::external_metrics())
}

async fn resource_list(State(ctx): State<Ctx>) -> Response {
    let rules = &ctx.state.settings().external_metrics.rules;
    let names = series_names(&ctx.state, rules.needs_series_names());
    let resources = rules
        .list(&names)
        .into_iter()
        .map(|(name, namespaced)| ApiResource {
            name,
            singular_name: "",
            namespaced,
            kind: "ExternalMetricValueList",
            verbs: ["get"],
        })
        .collect();
    kube::json(
        StatusCode::OK,
        &ApiResourceList {
            kind: "APIResourceList",
            api_version: "v1",
            group_version: kube::GROUP_VERSION,
            resources,
        },
    )
}

fn series_names(state: &AppState, needed: bool) -> Vec<Arc<str>> {
    if needed {
        state.head().label_values(METRIC_NAME)
    } else {
        Vec::new()
    }
}

async fn metric_values(
    State(ctx): State<Ctx>,
    Path((namespace, metric)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match metric_values_inner(&ctx, &namespace, &metric, &params).await {
        Ok(list) => kube::json(StatusCode::OK, &list),
        Err(status) => status.into_response(),
    }
}

async fn metric_values_inner(
    ctx: &Ctx,
    namespace: &str,
    metric: &str,
    params: &HashMap<String, String>,
) -> Result<ExternalMetricValueList, Status> {
    let settings = &ctx.state.settings().external_metrics;
    let names = series_names(&ctx.state, settings.rules.needs_series_names());
    let resolved = settings.rules.resolve(metric, &names).ok_or_else(|| {
        Status::not_found(format!(
            "the server could not find the metric {metric} for namespaces"
        ))
    })?;
    let raw_selector = params.get("labelSelector").map_or("", String::as_str);
    let mut matchers = selector::parse(raw_selector)
        .and_then(|s| s.to_promql_matchers())
        .map_err(|e| Status::bad_request(format!("invalid labelSelector {raw_selector:?}: {e}")))?;
    if resolved.rule.namespaced {
        matchers = crate::matchers::with_equal(&settings.namespace_label, namespace, &matchers);
    }
    let text = resolved.rule.render(&resolved.series, &matchers);
    let query = PreparedQuery::parse(&text)
        .map_err(|e| Status::internal(format!("rule query {text:?} does not parse: {e}")))?;
    let answer = evaluate_shared(&ctx.state, &query)
        .await
        .map_err(|e| Status::internal(format!("evaluating {text:?} failed: {e}")))?;
    let timestamp = rfc3339(answer.at_ms);
    let window = resolved.rule.window_seconds;
    let item = |labels: BTreeMap<String, String>, value: f64| {
        // NaN and ±Inf have no Quantity form; such series are left out.
        quantity::format_decimal(value)
            .ok()
            .map(|value| ExternalMetricValue {
                metric_name: metric.to_string(),
                metric_labels: labels,
                timestamp: timestamp.clone(),
                window,
                value,
            })
    };
    let items = match &answer.value {
        Value::Scalar { value, .. } => item(BTreeMap::new(), *value).into_iter().collect(),
        Value::Vector(samples) => samples
            .iter()
            .filter_map(|s| {
                let labels = s
                    .labels
                    .iter()
                    .filter(|l| l.name.as_ref() != METRIC_NAME)
                    .map(|l| (l.name.to_string(), l.value.to_string()))
                    .collect();
                item(labels, s.value)
            })
            .collect(),
        other => {
            return Err(Status::internal(format!(
                "rule query {text:?} gives a {}; expected an instant vector or a scalar",
                other.value_type().documented_name()
            )))
        }
    };
    Ok(ExternalMetricValueList {
        kind: "ExternalMetricValueList",
        api_version: kube::GROUP_VERSION,
        metadata: EmptyMeta {},
        items,
    })
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// A `Status` for paths outside the API.
pub async fn not_found(request: Request) -> Response {
    Status::not_found(format!(
        "the server could not find the requested resource ({})",
        request.uri().path()
    ))
    .into_response()
}
