//! The recorder's media on S3: ranged GETs from the live bucket, and the
//! MP4 as a multipart upload to the recordings bucket, part by part.

use async_trait::async_trait;
use aws_sdk_s3::{
    Client,
    error::DisplayErrorContext,
    primitives::ByteStream,
    types::{CompletedMultipartUpload, CompletedPart},
};
use bytes::{Bytes, BytesMut};
use tokio::task::JoinHandle;

use crate::{
    layout::StoredFile,
    media::{MediaError, Mp4Meta, Mp4Upload, RecordingMedia, StoredMp4},
};

/// Upload parts: S3's minimum is 5 MiB (but for the last); one part is
/// filled while the one before is sent, so memory holds two at most.
pub const PART_SIZE: usize = 6 * 1024 * 1024;
/// Recordings never change under their key.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub struct S3Media {
    client: Client,
    live_bucket: String,
    recordings_bucket: String,
}

impl S3Media {
    pub fn new(client: Client, live_bucket: String, recordings_bucket: String) -> Self {
        Self { client, live_bucket, recordings_bucket }
    }
}

fn read_err(key: &str, e: impl std::fmt::Display) -> MediaError {
    MediaError::Read { key: key.to_owned(), message: e.to_string() }
}
fn write_err(key: &str, e: impl std::fmt::Display) -> MediaError {
    MediaError::Write { key: key.to_owned(), message: e.to_string() }
}

#[async_trait]
impl RecordingMedia for S3Media {
    async fn list(&self, prefix: &str) -> Result<Vec<StoredFile>, MediaError> {
        let folder = format!("{prefix}/");
        let mut out = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.live_bucket).prefix(&folder).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| read_err(prefix, DisplayErrorContext(e)))?;
            for o in page.contents() {
                if let Some(name) = o.key().and_then(|k| k.strip_prefix(&folder)) {
                    out.push(StoredFile { name: name.to_owned(), size: o.size().unwrap_or(0).max(0) as u64 });
                }
            }
        }
        Ok(out)
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, MediaError> {
        match self.client.get_object().bucket(&self.live_bucket).key(key).send().await {
            Ok(out) => Ok(Some(out.body.collect().await.map_err(|e| read_err(key, e))?.into_bytes())),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_key()) => Ok(None),
            Err(e) => Err(read_err(key, DisplayErrorContext(e))),
        }
    }

    async fn read(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, MediaError> {
        if len == 0 {
            return Ok(Bytes::new());
        }
        let range = format!("bytes={}-{}", offset, offset + len - 1);
        let out = self
            .client
            .get_object()
            .bucket(&self.live_bucket)
            .key(key)
            .range(range)
            .send()
            .await
            .map_err(|e| read_err(key, DisplayErrorContext(e)))?;
        let bytes = out.body.collect().await.map_err(|e| read_err(key, e))?.into_bytes();
        if bytes.len() as u64 != len {
            return Err(read_err(key, format!("asked for {len} bytes at {offset}, got {}", bytes.len())));
        }
        Ok(bytes)
    }

    async fn stored_mp4(&self, key: &str) -> Result<Option<StoredMp4>, MediaError> {
        match self.client.head_object().bucket(&self.recordings_bucket).key(key).send().await {
            Ok(out) => Ok(Some(StoredMp4 {
                size: out.content_length().unwrap_or(0).max(0) as u64,
                duration_s: out.metadata().and_then(|m| m.get("duration-s")).and_then(|d| d.parse().ok()),
            })),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_not_found()) => Ok(None),
            Err(e) => Err(read_err(key, DisplayErrorContext(e))),
        }
    }

    async fn copy_to_recordings(&self, live_key: &str, key: &str) -> Result<bool, MediaError> {
        let result = self
            .client
            .copy_object()
            .copy_source(format!("{}/{live_key}", self.live_bucket))
            .bucket(&self.recordings_bucket)
            .key(key)
            .content_type("image/jpeg")
            .cache_control(IMMUTABLE)
            .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error().is_some_and(|se| format!("{se:?}").contains("NoSuchKey"))
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) =>
            {
                Ok(false)
            }
            Err(e) => Err(write_err(key, DisplayErrorContext(e))),
        }
    }

    async fn begin_mp4(&self, key: &str, meta: &Mp4Meta) -> Result<Box<dyn Mp4Upload>, MediaError> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.recordings_bucket)
            .key(key)
            .content_type("video/mp4")
            .cache_control(IMMUTABLE)
            .metadata("stream-id", &meta.stream_id)
            .metadata("session-id", &meta.session_id)
            .metadata("duration-s", format!("{:.3}", meta.duration_s))
            .send()
            .await
            .map_err(|e| write_err(key, DisplayErrorContext(e)))?;
        let upload_id = out.upload_id().ok_or_else(|| write_err(key, "no upload id"))?.to_owned();
        Ok(Box::new(MultipartMp4 {
            client: self.client.clone(),
            bucket: self.recordings_bucket.clone(),
            key: key.to_owned(),
            upload_id,
            buffer: BytesMut::with_capacity(PART_SIZE),
            in_flight: None,
            parts: Vec::new(),
        }))
    }
}

struct MultipartMp4 {
    client: Client,
    bucket: String,
    key: String,
    upload_id: String,
    buffer: BytesMut,
    in_flight: Option<JoinHandle<Result<CompletedPart, MediaError>>>,
    parts: Vec<CompletedPart>,
}

impl MultipartMp4 {
    async fn wait_in_flight(&mut self) -> Result<(), MediaError> {
        if let Some(task) = self.in_flight.take() {
            let part = task.await.map_err(|e| write_err(&self.key, e))??;
            self.parts.push(part);
        }
        Ok(())
    }

    /// Sends the buffer as the next part, after the one before has gone.
    async fn send_part(&mut self) -> Result<(), MediaError> {
        self.wait_in_flight().await?;
        let body = std::mem::replace(&mut self.buffer, BytesMut::with_capacity(PART_SIZE)).freeze();
        let number = self.parts.len() as i32 + 1;
        let (client, bucket, key, upload_id) =
            (self.client.clone(), self.bucket.clone(), self.key.clone(), self.upload_id.clone());
        self.in_flight = Some(tokio::spawn(async move {
            let out = client
                .upload_part()
                .bucket(bucket)
                .key(&key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| write_err(&key, DisplayErrorContext(e)))?;
            Ok(CompletedPart::builder().set_e_tag(out.e_tag().map(str::to_owned)).part_number(number).build())
        }));
        Ok(())
    }
}

#[async_trait]
impl Mp4Upload for MultipartMp4 {
    async fn write(&mut self, mut chunk: Bytes) -> Result<(), MediaError> {
        while !chunk.is_empty() {
            let room = PART_SIZE - self.buffer.len();
            let take = room.min(chunk.len());
            self.buffer.extend_from_slice(&chunk.split_to(take));
            if self.buffer.len() == PART_SIZE {
                self.send_part().await?;
            }
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<(), MediaError> {
        if !self.buffer.is_empty() || self.parts.is_empty() && self.in_flight.is_none() {
            self.send_part().await?;
        }
        self.wait_in_flight().await?;
        let parts = std::mem::take(&mut self.parts);
        let result = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = write_err(&self.key, DisplayErrorContext(e));
                self.abort().await;
                Err(err)
            }
        }
    }

    async fn abort(mut self: Box<Self>) {
        if let Some(task) = self.in_flight.take() {
            let _ = task.await;
        }
        let result = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(key = %self.key, error = %DisplayErrorContext(e), "could not abort the upload; the bucket's lifecycle rule removes it");
        }
    }
}
