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
    /// The object, or `None` if there is none. Only recovery reads.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, PutError> {
        Err(PutError { key: key.to_owned(), message: "this store cannot read".into() })
    }
    /// Every key under `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, PutError> {
        Err(PutError { key: prefix.to_owned(), message: "this store cannot list".into() })
    }
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

    async fn get(&self, key: &str) -> Result<Option<Bytes>, PutError> {
        let failed = |message: String| PutError { key: key.to_owned(), message };
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Ok(Some(out.body.collect().await.map_err(|e| failed(e.to_string()))?.into_bytes())),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_key()) => Ok(None),
            Err(e) => Err(failed(aws_sdk_s3::error::DisplayErrorContext(e).to_string())),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, PutError> {
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| PutError {
                key: prefix.to_owned(),
                message: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
            })?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        }
        Ok(keys)
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
    let mut give_up = give_up.clone();
    loop {
        // A PUT hanging on a dead connection is abandoned the moment the
        // session gives up (a drain's deadline), not when the SDK times out.
        let attempt = tokio::select! {
            r = store.put(key, body.clone(), content_type(key), cache_control) => r,
            _ = give_up.wait_for(|g| *g) => Err(PutError { key: key.to_owned(), message: "given up".into() }),
        };
        match attempt {
            Ok(()) => return Ok(()),
            Err(e) => {
                if *give_up.borrow() {
                    return Err(e);
                }
                crate::metrics::metrics().s3_errors.inc();
                tracing::warn!(%key, error = %e.message, retry_in_ms = delay.as_millis() as u64, "upload failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
