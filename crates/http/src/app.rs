//! What every API router gets: health and readiness, the OpenAPI document,
//! JSON errors for every failure (unknown routes, wrong methods, panics,
//! oversized bodies), request ids, request logs, request metrics, and CORS.

use std::time::{Duration, Instant};

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Serialize;
use skycast_core::config::CorsOrigins;
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};
use utoipa::ToSchema;

use crate::{
    context::ApiContext,
    error::ApiError,
    extract::MAX_BODY_BYTES,
    metrics::{self, Unit},
    openapi::OPENAPI_JSON,
};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Adds the common routes and layers to a function's routes.
pub fn finish(routes: Router<ApiContext>, ctx: ApiContext) -> Router {
    let cors = cors_layer(&ctx.config.cors_origins);
    let edge_secret: Option<std::sync::Arc<str>> = ctx.config.edge_secret.as_deref().map(Into::into);
    routes
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/openapi.json", get(openapi_json))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(ctx)
        .layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn(request_metrics))
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request| {
                            let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                        })
                        .on_request(())
                        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(cors)
                .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
                    tracing::error!("handler panicked");
                    ApiError::internal().into_response()
                }))
                .layer(middleware::map_response(json_errors))
                .layer(middleware::from_fn(move |req, next| crate::client::trust_edge(edge_secret.clone(), req, next)))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
}

/// `Requests`, `Errors5xx` and `LatencyMs`, one EMF line per request
/// (metrics.rs). The outermost layer, so it counts the status the client
/// gets: a panic's 500 and a rewritten error included. The latency runs to
/// the response's head; a body still streaming is not in it.
async fn request_metrics(req: Request, next: Next) -> Response {
    // Off outside Lambda: no clock read, no line.
    if !metrics::enabled() {
        return next.run(req).await;
    }
    let started = Instant::now();
    let res = next.run(req).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let errors = if res.status().is_server_error() { 1.0 } else { 0.0 };
    metrics::emit(&[
        (metrics::REQUESTS, Unit::Count, 1.0),
        (metrics::ERRORS_5XX, Unit::Count, errors),
        (metrics::LATENCY_MS, Unit::Milliseconds, latency_ms),
    ]);
    res
}

fn cors_layer(origins: &CorsOrigins) -> CorsLayer {
    let allow = match origins {
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(list.iter().filter_map(|o| HeaderValue::from_str(o).ok())),
    };
    // Bearer tokens, not cookies: no credentials mode, so `*` is safe as a default.
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, REQUEST_ID])
        .expose_headers([REQUEST_ID])
        .max_age(Duration::from_secs(600))
}

/// Any error response that is not already our JSON body becomes one, keeping
/// its status and headers (`Allow` on a 405, for example).
async fn json_errors(res: Response) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (mut parts, _) = res.into_parts();
    let mut fresh = ApiError::for_status(status).into_response();
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in fresh.headers() {
        parts.headers.insert(name.clone(), value.clone());
    }
    *fresh.headers_mut() = parts.headers;
    fresh
}

async fn not_found() -> ApiError {
    ApiError::for_status(StatusCode::NOT_FOUND)
}

async fn method_not_allowed() -> ApiError {
    ApiError::for_status(StatusCode::METHOD_NOT_ALLOWED)
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    pub status: String,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "platform", responses((status = 200, body = Status)))]
pub async fn health() -> Json<Status> {
    Json(Status { status: "ok".into() })
}

/// Readiness: every table this API uses exists and is active.
#[utoipa::path(get, path = "/ready", tag = "platform", responses(
    (status = 200, body = Status),
    (status = 503, description = "a dependency is not ready", body = crate::error::ErrorBody),
))]
pub async fn ready(State(ctx): State<ApiContext>) -> Result<Json<Status>, ApiError> {
    match ctx.stores.ready.check().await {
        Ok(()) => Ok(Json(Status { status: "ready".into() })),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", reason))
        }
    }
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", tag = "platform", responses((status = 200, description = "the OpenAPI document")))]
pub async fn openapi_json() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}
