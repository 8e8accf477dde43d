//! The CDN's part, locally: stored media served read-only under `/cdn/`, with
//! each object's own Content-Type and Cache-Control. `live/…` comes from the
//! live bucket and `recordings/…` from the recordings bucket, the path split
//! CloudFront's behaviours make in AWS, so URLs differ only in their base.
//!
//! Every request passes the edge's check first, the same Rust decision the
//! CloudFront Function is held to (`skycast_core::playback`): public
//! sessions play from plain URLs, private ones only behind `/t/{token}/`,
//! deleted ones not at all; anything refused is a bare 404. Byte ranges are
//! passed through, so players can seek in an MP4 without downloading it.

use axum::{
    Router,
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::get,
};
use skycast_core::{config::physical_name, playback::MediaRequest, timefmt};
use skycast_http::{ApiContext, ApiError};

pub fn routes(s3: aws_sdk_s3::Client, prefix: &str) -> Router<ApiContext> {
    let prefix = prefix.to_owned();
    Router::new().route(
        "/cdn/{*key}",
        get(move |State(ctx): State<ApiContext>, uri: Uri, headers: HeaderMap| {
            let (s3, prefix) = (s3.clone(), prefix.clone());
            // The raw path, not a decoded one: what CloudFront's function sees.
            let path = uri.path().strip_prefix("/cdn").unwrap_or_default().to_owned();
            async move { serve(&s3, &ctx, &prefix, &path, &headers).await }
        }),
    )
}

/// The object key `uri` may read, if the edge lets the request through.
async fn admitted(ctx: &ApiContext, uri: &str) -> Result<Option<String>, Response> {
    let Some(request) = MediaRequest::parse(uri) else { return Ok(None) };
    let Some(signer) = ctx.playback.as_deref() else { return Ok(None) };
    let access = ctx.stores.access.media(request.stream_id, request.session_id).await.map_err(|e| {
        tracing::warn!(error = %e, "media access unreadable; refusing");
        ApiError::for_status(StatusCode::SERVICE_UNAVAILABLE).into_response()
    })?;
    let allowed = signer.allows(&request, access, timefmt::unix_now());
    Ok(allowed.then(|| request.path.trim_start_matches('/').to_owned()))
}

/// Serves the media at `key`, the request path below `/cdn` (raw, with its `/`).
async fn serve(s3: &aws_sdk_s3::Client, ctx: &ApiContext, prefix: &str, key: &str, headers: &HeaderMap) -> Response {
    let not_found = || ApiError::for_status(StatusCode::NOT_FOUND).into_response();
    let key = match admitted(ctx, key).await {
        Ok(Some(key)) => key,
        Ok(None) => return not_found(),
        Err(outage) => return outage,
    };
    let bucket = match key.split('/').next() {
        Some("live") => physical_name(prefix, "live"),
        Some("recordings") => physical_name(prefix, "recordings"),
        _ => return not_found(),
    };
    let key = key.as_str();
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let out = match s3.get_object().bucket(&bucket).key(key).set_range(range.clone()).send().await {
        Ok(out) => out,
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_key()) => {
            return not_found();
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
