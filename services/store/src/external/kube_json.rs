//! The Kubernetes JSON shapes the external metrics API answers with.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub const GROUP: &str = "external.metrics.k8s.io";
pub const VERSION: &str = "v1beta1";
pub const GROUP_VERSION: &str = "external.metrics.k8s.io/v1beta1";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupVersionForDiscovery {
    pub group_version: &'static str,
    pub version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiGroup {
    pub kind: &'static str,
    pub api_version: &'static str,
    pub name: &'static str,
    pub versions: Vec<GroupVersionForDiscovery>,
    pub preferred_version: GroupVersionForDiscovery,
}

impl ApiGroup {
    pub fn external_metrics() -> Self {
        ApiGroup {
            kind: "APIGroup",
            api_version: "v1",
            name: GROUP,
            versions: vec![GroupVersionForDiscovery {
                group_version: GROUP_VERSION,
                version: VERSION,
            }],
            preferred_version: GroupVersionForDiscovery {
                group_version: GROUP_VERSION,
                version: VERSION,
            },
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiGroupList {
    pub kind: &'static str,
    pub api_version: &'static str,
    pub groups: Vec<ApiGroup>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiResource {
    pub name: String,
    pub singular_name: &'static str,
    pub namespaced: bool,
    pub kind: &'static str,
    pub verbs: [&'static str; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiResourceList {
    pub kind: &'static str,
    pub api_version: &'static str,
    pub group_version: &'static str,
    pub resources: Vec<ApiResource>,
}

#[derive(Serialize, Default, Debug)]
pub struct EmptyMeta {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalMetricValue {
    pub metric_name: String,
    pub metric_labels: BTreeMap<String, String>,
    pub timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<i64>,
    pub value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalMetricValueList {
    pub kind: &'static str,
    pub api_version: &'static str,
    pub metadata: EmptyMeta,
    pub items: Vec<ExternalMetricValue>,
}

/// A `Status` failure, the error body of every Kubernetes API.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    kind: &'static str,
    api_version: &'static str,
    metadata: EmptyMeta,
    status: &'static str,
    pub message: String,
    pub reason: &'static str,
    pub code: u16,
}

impl Status {
    pub fn failure(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Status {
            kind: "Status",
            api_version: "v1",
            metadata: EmptyMeta {},
            status: "Failure",
            message: message.into(),
            reason,
            code: code.as_u16(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Status::failure(StatusCode::NOT_FOUND, "NotFound", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Status::failure(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Status::failure(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
    }
}

impl IntoResponse for Status {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json(code, &self)
    }
}

/// A JSON body with Kubernetes' content type.
pub fn json<T: Serialize>(code: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (code, [("content-type", "application/json")], bytes).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the response: {e}"),
        )
            .into_response(),
    }
}
