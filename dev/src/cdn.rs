//! The CDN's part, locally: stored media served read-only under `/cdn/`, with
//! each object's own Content-Type and Cache-Control. `live/…` comes from the
//! live bucket and `recordings/…` from the recordings bucket, the path split
//! CloudFront's behaviours make in AWS, so URLs differ only in their base.

use axum::{
    Router,
    body::Body,
    extract::Path,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use skycast_core::config::physical_name;
use skycast_http::{ApiContext, ApiError};

pub fn routes(s3: aws_sdk_s3::Client, prefix: &str) -> Router<ApiContext> {
    let prefix = prefix.to_owned();
    Router::new().route(
        "/cdn/{*key}",
        get(move |Path(key): Path<String>| {
            let (s3, prefix) = (s3.clone(), prefix.clone());
            async move { serve(&s3, &prefix, &key).await }
        }),
    )
}

async fn serve(s3: &aws_sdk_s3::Client, prefix: &str, key: &str) -> Response {
    let bucket = match key.split('/').next() {
        Some("live") => physical_name(prefix, "live"),
        Some("recordings") => physical_name(prefix, "recordings"),
        _ => return ApiError::for_status(StatusCode::NOT_FOUND).into_response(),
    };
    if key.split('/').any(|part| part.is_empty() || part == "..") {
        return ApiError::for_status(StatusCode::NOT_FOUND).into_response();
    }
    let out = match s3.get_object().bucket(&bucket).key(key).send().await {
        Ok(out) => out,
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_key()) => {
            return ApiError::not_found("object").into_response();
        }
        Err(e) => {
            tracing::warn!(error = %aws_sdk_s3::error::DisplayErrorContext(e), %key, "cdn read failed");
            return ApiError::for_status(StatusCode::BAD_GATEWAY).into_response();
        }
    };
    let content_type = out.content_type().unwrap_or("application/octet-stream").to_owned();
    let cache = out.cache_control().unwrap_or("no-cache").to_owned();
    let bytes = match out.body.collect().await {
        Ok(b) => b.into_bytes(),
        Err(_) => return ApiError::for_status(StatusCode::BAD_GATEWAY).into_response(),
    };
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, cache)], Body::from(bytes)).into_response()
}
