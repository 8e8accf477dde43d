//! Where finished files go: the live bucket, behind a small trait so the
//! pipeline's ordering rules are testable without S3.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use thiserror::Error;

#[derive(Debug, Error)]
#[error("storing {key}: {message}")]
pub struct PutError {
    pub key: String,
    pub message: String,
}

#[async_trait]
pub trait ObjectStore: Send + Sync {
    async fn put(&self, key: &str, body: Bytes, content_type: &str, cache_control: &str) -> Result<(), PutError>;
}

pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Store {
    pub fn new(client: aws_sdk_s3::Client, bucket: String) -> Self {
        Self { client, bucket }
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put(&self, key: &str, body: Bytes, content_type: &str, cache_control: &str) -> Result<(), PutError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .cache_control(cache_control)
            .body(body.into())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| PutError {
                key: key.to_owned(),
                message: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
            })
    }
}

/// Segments and init segments never change once written.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Live playlists change every segment.
pub const LIVE_PLAYLIST: &str = "public, max-age=1";

pub fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("m4s") => "video/iso.segment",
        Some("mp4") => "video/mp4",
        Some("jpg") => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// Stores `body` under `key`, retrying with backoff until it is stored or
/// `give_up` says stop: a segment is never dropped because S3 hiccupped.
pub async fn put_until_stored(
    store: &dyn ObjectStore,
    key: &str,
    body: Bytes,
    cache_control: &str,
    give_up: &tokio::sync::watch::Receiver<bool>,
) -> Result<(), PutError> {
    let mut delay = Duration::from_millis(100);
    loop {
        match store.put(key, body.clone(), content_type(key), cache_control).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                if *give_up.borrow() {
                    return Err(e);
                }
                tracing::warn!(%key, error = %e.message, retry_in_ms = delay.as_millis() as u64, "upload failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
