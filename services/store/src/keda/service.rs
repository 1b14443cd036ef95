//! The `externalscaler.ExternalScaler` gRPC service.
//!
//! Every RPC resolves its `ScaledObjectRef` to a cached [`Plan`]; `GetMetricSpec` stops
//! there (KEDA calls it on every poll and every HPA request), the others read the shared
//! result cache, so many ScaledObjects with the same query cost one evaluation per new data.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures_util::{Stream, StreamExt as _};
use tachyscale_proto::externalscaler::external_scaler_server::ExternalScaler;
use tachyscale_proto::externalscaler::{
    GetMetricSpecResponse, GetMetricsRequest, GetMetricsResponse, IsActiveResponse, MetricSpec,
    MetricValue, ScaledObjectRef,
};
use tokio::sync::Semaphore;
use tokio_stream::wrappers::WatchStream;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, Response, Status};

use super::plan::{Plan, PlanCache};
use super::streams::{StreamHub, SubscribeError};
use super::value::{legacy_int, legacy_target, scaler_value, ValueError};
use crate::api::{ApiError, AppState};
use crate::result_cache::evaluate_shared;

type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

pub struct KedaService {
    state: AppState,
    plans: PlanCache,
    hub: Arc<StreamHub>,
    stream_slots: Arc<Semaphore>,
    shutdown: CancellationToken,
}

impl KedaService {
    pub fn new(state: AppState, hub: Arc<StreamHub>, shutdown: CancellationToken) -> Self {
        let keda = &state.settings().keda;
        KedaService {
            plans: PlanCache::new(
                keda.max_cached_plans,
                state.metrics().scaling.keda_plans_cached.clone(),
            ),
            stream_slots: Arc::new(Semaphore::new(keda.max_streams)),
            hub,
            shutdown,
            state,
        }
    }

    fn plan(&self, object: &ScaledObjectRef) -> Result<Arc<Plan>, Status> {
        let max_keys = self.state.settings().keda.max_metadata_keys;
        if object.scaler_metadata.len() > max_keys {
            return Err(Status::invalid_argument(format!(
                "scalerMetadata has {} keys, more than the limit of {max_keys}",
                object.scaler_metadata.len()
            )));
        }
        self.plans
            .get(&object.scaler_metadata, &object.namespace)
            .map_err(|e| {
                Status::invalid_argument(format!(
                    "ScaledObject {}/{}: {e}",
                    object.namespace, object.name
                ))
            })
    }

    /// The current scaler value of a plan.
    async fn value(&self, plan: &Plan) -> Result<f64, Status> {
        let answer = evaluate_shared(&self.state, &plan.query)
            .await
            .map_err(evaluation_status)?;
        scaler_value(&answer.value, plan.spec.ignore_null_values).map_err(value_status)
    }

    fn spec_response(plan: &Plan) -> GetMetricSpecResponse {
        #[allow(deprecated)]
        let spec = MetricSpec {
            metric_name: plan.spec.metric_name.clone(),
            target_size: legacy_target(plan.spec.target_value),
            target_size_float: plan.spec.target_value,
        };
        GetMetricSpecResponse {
            metric_specs: vec![spec],
        }
    }

    /// Takes a stream slot, or refuses with `RESOURCE_EXHAUSTED`.
    fn stream_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Status> {
        self.stream_slots.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "the store already serves {} streams (keda.max_streams)",
                self.state.settings().keda.max_streams
            ))
        })
    }

    /// Counts and times one RPC.
    fn observe<T>(&self, method: &'static str, started: Instant, result: &Result<T, Status>) {
        let m = &self.state.metrics().scaling;
        let code = match result {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        };
        m.keda_requests
            .with_label_values(&[method, code_name(code)])
            .inc();
        m.keda_request_duration
            .with_label_values(&[method])
            .observe(started.elapsed().as_secs_f64());
    }
}

/// Keeps a stream's slot and its open-streams gauge for as long as the stream lives.
struct StreamLease {
    _slot: tokio::sync::OwnedSemaphorePermit,
    open: prometheus::IntGauge,
}

impl StreamLease {
    fn new(slot: tokio::sync::OwnedSemaphorePermit, open: prometheus::IntGauge) -> Self {
        open.inc();
        StreamLease { _slot: slot, open }
    }
}

impl Drop for StreamLease {
    fn drop(&mut self) {
        self.open.dec();
    }
}

#[tonic::async_trait]
impl ExternalScaler for KedaService {
    async fn is_active(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<IsActiveResponse>, Status> {
        let started = Instant::now();
        let result = async {
            let plan = self.plan(request.get_ref())?;
            let value = self.value(&plan).await?;
            Ok(Response::new(IsActiveResponse {
                result: value > plan.spec.activation_threshold,
            }))
        }
        .await;
        self.observe("IsActive", started, &result);
        result
    }

    type StreamIsActiveStream = ResponseStream<IsActiveResponse>;

    async fn stream_is_active(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<Self::StreamIsActiveStream>, Status> {
        let started = Instant::now();
        let result = async {
            let plan = self.plan(request.get_ref())?;
            let slot = self.stream_slot()?;
            let receiver = self
                .hub
                .subscribe(&self.state, plan)
                .await
                .map_err(|e| match e {
                    SubscribeError::Evaluation(e) => evaluation_status(e),
                    SubscribeError::Value(e) => value_status(e),
                })?;
            let m = &self.state.metrics().scaling;
            let lease = StreamLease::new(
                slot,
                m.keda_streams_open.with_label_values(&["StreamIsActive"]),
            );
            let messages = m
                .keda_stream_messages
                .with_label_values(&["StreamIsActive"]);
            // The first item is the current state, then one per transition.
            let stream = WatchStream::new(receiver)
                .map(move |active| {
                    let _lease = &lease;
                    messages.inc();
                    Ok(IsActiveResponse { result: active })
                })
                .take_until(self.shutdown.clone().cancelled_owned());
            Ok(Response::new(Box::pin(stream) as Self::StreamIsActiveStream))
        }
        .await;
        self.observe("StreamIsActive", started, &result);
        result
    }

    async fn get_metric_spec(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<GetMetricSpecResponse>, Status> {
        let started = Instant::now();
        let result = self
            .plan(request.get_ref())
            .map(|plan| Response::new(Self::spec_response(&plan)));
        self.observe("GetMetricSpec", started, &result);
        result
    }

    async fn get_metrics(
        &self,
        request: Request<GetMetricsRequest>,
    ) -> Result<Response<GetMetricsResponse>, Status> {
        let started = Instant::now();
        let result = async {
            let request = request.get_ref();
            let object = request.scaled_object_ref.as_ref().ok_or_else(|| {
                Status::invalid_argument("GetMetricsRequest.scaledObjectRef is missing")
            })?;
            let plan = self.plan(object)?;
            let value = self.value(&plan).await?;
            // KEDA emits every value under the name it asked for; echo that name.
            let metric_name = if request.metric_name.is_empty() {
                plan.spec.metric_name.clone()
            } else {
                request.metric_name.clone()
            };
            #[allow(deprecated)]
            let metric_value = MetricValue {
                metric_name,
                metric_value: legacy_int(value),
                metric_value_float: value,
            };
            Ok(Response::new(GetMetricsResponse {
                metric_values: vec![metric_value],
            }))
        }
        .await;
        self.observe("GetMetrics", started, &result);
        result
    }

    type StreamMetricSpecStream = ResponseStream<GetMetricSpecResponse>;

    async fn stream_metric_spec(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<Self::StreamMetricSpecStream>, Status> {
        let started = Instant::now();
        let result = async {
            let plan = self.plan(request.get_ref())?;
            let slot = self.stream_slot()?;
            let m = &self.state.metrics().scaling;
            let lease = StreamLease::new(
                slot,
                m.keda_streams_open.with_label_values(&["StreamMetricSpec"]),
            );
            m.keda_stream_messages
                .with_label_values(&["StreamMetricSpec"])
                .inc();
            // The spec is a function of the trigger's metadata alone, which a stream cannot
            // change: it is sent once, and the stream stays open (KEDA treats its end as
            // an error and falls back to polling) until the client or the store stops.
            let first =
                futures_util::stream::once(std::future::ready(Ok(Self::spec_response(&plan))));
            let hold = futures_util::stream::pending().map(move |item| {
                let _lease = &lease;
                item
            });
            let stream = first
                .chain(hold)
                .take_until(self.shutdown.clone().cancelled_owned());
            Ok(Response::new(
                Box::pin(stream) as Self::StreamMetricSpecStream
            ))
        }
        .await;
        self.observe("StreamMetricSpec", started, &result);
        result
    }
}

fn evaluation_status(error: ApiError) -> Status {
    match error {
        ApiError::BadData(m) => Status::invalid_argument(m),
        ApiError::Execution(m) => Status::failed_precondition(format!("query failed: {m}")),
        ApiError::Timeout(m) => Status::deadline_exceeded(m),
        ApiError::Unavailable(m) => Status::unavailable(m),
        ApiError::Internal(m) => Status::internal(m),
    }
}

fn value_status(error: ValueError) -> Status {
    match error {
        ValueError::NoData => Status::not_found(error.to_string()),
        ValueError::TooManySeries(_) | ValueError::WrongType(_) => {
            Status::failed_precondition(error.to_string())
        }
        ValueError::Infinite => Status::out_of_range(error.to_string()),
    }
}

/// gRPC's upper-snake names, as every gRPC dashboard shows them.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
