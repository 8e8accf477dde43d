//! The CDN's part, locally: stored media served read-only under `/cdn/`, with
//! each object's own Content-Type and Cache-Control. `live/…` comes from the
//! live bucket and `recordings/…` from the recordings bucket, the path split
//! CloudFront's behaviours make in AWS, so URLs differ only in their base.
//!
//! A recording is served only while its video is public: a private video's
//! owner gets presigned URLs instead. Byte ranges are passed through, so
//! players can seek in an MP4 without downloading it.

use axum::{
    Router,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use skycast_core::{config::physical_name, stream::Visibility};
use skycast_http::{ApiContext, ApiError};

pub fn routes(s3: aws_sdk_s3::Client, prefix: &str) -> Router<ApiContext> {
    let prefix = prefix.to_owned();
    Router::new().route(
        "/cdn/{*key}",
        get(move |State(ctx): State<ApiContext>, Path(key): Path<String>, headers: HeaderMap| {
            let (s3, prefix) = (s3.clone(), prefix.clone());
            async move { serve(&s3, &ctx, &prefix, &key, &headers).await }
        }),
    )
}

/// Whether `key` in the recordings bucket belongs to a public video.
async fn is_public_recording(ctx: &ApiContext, key: &str) -> bool {
    let Some(file) = key.strip_prefix("recordings/").and_then(|r| r.split('/').nth(1)) else { return false };
    let Some(session) = file.strip_suffix(".mp4").or_else(|| file.strip_suffix(".jpg")) else { return false };
    if !skycast_core::ids::is_id(session) {
        return false;
    }
    matches!(ctx.stores.videos.get(session).await, Ok(Some(v)) if v.visibility == Visibility::Public && !v.deleting)
}

async fn serve(s3: &aws_sdk_s3::Client, ctx: &ApiContext, prefix: &str, key: &str, headers: &HeaderMap) -> Response {
    let not_found = || ApiError::for_status(StatusCode::NOT_FOUND).into_response();
    if key.split('/').any(|part| part.is_empty() || part == "..") {
        return not_found();
    }
    let bucket = match key.split('/').next() {
        Some("live") => physical_name(prefix, "live"),
        Some("recordings") if is_public_recording(ctx, key).await => physical_name(prefix, "recordings"),
        _ => return not_found(),
    };
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let out = match s3.get_object().bucket(&bucket).key(key).set_range(range.clone()).send().await {
        Ok(out) => out,
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_key()) => {
            return ApiError::not_found("object").into_response();
        }
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => {
            return ApiError::for_status(StatusCode::RANGE_NOT_SATISFIABLE).into_response();
        }
        Err(e) => {
            tracing::warn!(error = %aws_sdk_s3::error::DisplayErrorContext(e), %key, "cdn read failed");
            return ApiError::for_status(StatusCode::BAD_GATEWAY).into_response();
        }
    };
    let content_type = out.content_type().unwrap_or("application/octet-stream").to_owned();
    let cache = out.cache_control().unwrap_or("no-cache").to_owned();
    let content_range = out.content_range().map(str::to_owned);
    let bytes = match out.body.collect().await {
        Ok(b) => b.into_bytes(),
        Err(_) => return ApiError::for_status(StatusCode::BAD_GATEWAY).into_response(),
    };
    let mut res =
        ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, cache)], Body::from(bytes)).into_response();
    res.headers_mut().insert(header::ACCEPT_RANGES, header::HeaderValue::from_static("bytes"));
    if let Some(cr) = content_range.filter(|_| range.is_some()).and_then(|c| header::HeaderValue::from_str(&c).ok()) {
        *res.status_mut() = StatusCode::PARTIAL_CONTENT;
        res.headers_mut().insert(header::CONTENT_RANGE, cr);
    }
    res
}
