//! The catalog function: each MP4 the recorder stores (an S3 `ObjectCreated`
//! notification, delivered through SQS) becomes a video in the catalog.
//! Idempotent: the video takes the session's id and is written only if
//! absent, so a notification delivered twice, or an MP4 stored twice,
//! makes one video. A bad message fails alone and ends in the dead-letter
//! queue after the queue's retries; its batch-mates are unaffected.

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use serde::Deserialize;
use skycast_core::{
    recording::{mp4_key, parse_mp4_key, session_prefix, thumbnail_key},
    store::{Stores, VideoAccess, queue::WebhookOutbox},
    timefmt,
    video::Video,
    webhook::{self, EventType},
};

/// A stored object's size and the duration the recorder noted on it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredObject {
    pub size: u64,
    pub duration_s: Option<f64>,
}

/// The recordings bucket, as far as the catalog looks at it.
#[async_trait]
pub trait Recordings: Send + Sync {
    async fn head(&self, key: &str) -> Result<Option<StoredObject>, String>;
    /// Marks an object public or private for the CDN.
    async fn tag_visibility(&self, key: &str, public: bool) -> Result<(), String>;
}

pub struct S3Recordings {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
}

#[async_trait]
impl Recordings for S3Recordings {
    async fn head(&self, key: &str) -> Result<Option<StoredObject>, String> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Ok(Some(StoredObject {
                size: out.content_length().unwrap_or(0).max(0) as u64,
                duration_s: out.metadata().and_then(|m| m.get("duration-s")).and_then(|d| d.parse().ok()),
            })),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_not_found()) => Ok(None),
            Err(e) => Err(aws_sdk_s3::error::DisplayErrorContext(e).to_string()),
        }
    }

    async fn tag_visibility(&self, key: &str, public: bool) -> Result<(), String> {
        skycast_core::store::objects::put_visibility_tag(&self.client, &self.bucket, key, public)
            .await
            .map_err(|e| e.to_string())
    }
}

pub struct Catalog {
    pub stores: Stores,
    pub recordings: Arc<dyn Recordings>,
    /// `video.created` for the owner's webhooks.
    pub webhooks: WebhookOutbox,
}

#[derive(Debug, PartialEq)]
pub enum Outcome {
    Created(String),
    /// The video exists: a duplicate notification.
    Exists(String),
    /// Nothing to catalog: not a recording, or gone since.
    Skipped(&'static str),
}

/// The parts of an S3 event notification the catalog reads. S3 sends
/// `s3:TestEvent` messages without records too; those have nothing to do.
#[derive(Debug, Deserialize)]
struct Notification {
    #[serde(rename = "Records", default)]
    records: Vec<NotificationRecord>,
}

#[derive(Debug, Deserialize)]
struct NotificationRecord {
    #[serde(rename = "eventName", default)]
    event_name: String,
    s3: NotificationEntity,
}

#[derive(Debug, Deserialize)]
struct NotificationEntity {
    object: NotificationObject,
}

#[derive(Debug, Deserialize)]
struct NotificationObject {
    key: String,
}

/// S3 event keys are URL-encoded, with `+` for a space.
pub fn decode_key(key: &str) -> Option<String> {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

impl Catalog {
    /// Makes the video of the recording stored at `key`.
    pub async fn catalog(&self, key: &str) -> Result<Outcome, String> {
        let Some((stream_id, session_id)) = parse_mp4_key(key) else { return Ok(Outcome::Skipped("not a recording")) };
        let Some(mp4) = self.recordings.head(&mp4_key(stream_id, session_id)).await? else {
            return Ok(Outcome::Skipped("the MP4 is gone"));
        };
        let err = |e: skycast_core::store::StoreError| e.to_string();
        let Some(stream) = self.stores.streams.get(stream_id).await.map_err(err)? else {
            return Ok(Outcome::Skipped("the stream was deleted"));
        };
        let recording = self.stores.recordings.get(stream_id, session_id).await.map_err(err)?;
        let duration_s = mp4.duration_s.or(recording.and_then(|r| r.duration_s)).unwrap_or(0.0);
        let thumbnail = thumbnail_key(stream_id, session_id);
        let thumbnail_key = self.recordings.head(&thumbnail).await?.map(|_| thumbnail);
        let now = timefmt::now_rfc3339();
        let video = Video {
            id: session_id.to_owned(),
            owner_id: stream.owner_id,
            owner_username: stream.owner_username,
            stream_id: stream_id.to_owned(),
            session_id: session_id.to_owned(),
            title: stream.title,
            description: stream.description,
            visibility: stream.visibility,
            tags: Vec::new(),
            duration_s,
            size_bytes: mp4.size,
            mp4_key: mp4_key(stream_id, session_id),
            thumbnail_key,
            hls_key: Some(format!("{}/master.m3u8", session_prefix(stream_id, session_id))),
            view_count: 0,
            like_count: 0,
            created_at: now.clone(),
            updated_at: now,
            deleting: false,
            deleted_at: None,
        };
        // The session's media takes the video's visibility before the video
        // exists (its owner can change it only after), and never again from here.
        self.stores.access.init_video(stream_id, session_id, VideoAccess::of(video.visibility)).await.map_err(err)?;
        let created = self.stores.videos.create(&video).await.map_err(err)?;
        // Tagged after the item exists, and again on a duplicate: a retry
        // finishes what a crash between the two left, with the visibility
        // the video has now (its owner may have changed it since).
        let stored = if created { Some(video) } else { self.stores.videos.get(session_id).await.map_err(err)? };
        if let Some(v) = &stored {
            let public = v.visibility == skycast_core::stream::Visibility::Public;
            for key in std::iter::once(&v.mp4_key).chain(&v.thumbnail_key) {
                self.recordings.tag_visibility(key, public).await?;
            }
        }
        // Announced on a duplicate too (same event id): the first delivery
        // may have died before it got here.
        if let Some(v) = &stored {
            let event = webhook::video_event(EventType::VideoCreated, v, &v.created_at);
            self.webhooks.publish(&v.owner_id, event).await.map_err(err)?;
        }
        let id = session_id.to_owned();
        if created {
            tracing::info!(video_id = %id, %stream_id, duration_s, size = mp4.size, "video created");
            Ok(Outcome::Created(id))
        } else {
            Ok(Outcome::Exists(id))
        }
    }

    async fn one(&self, message: &SqsMessage) -> Result<Vec<Outcome>, String> {
        let body = message.body.as_deref().ok_or("message has no body")?;
        let n: Notification = serde_json::from_str(body).map_err(|e| format!("not an S3 event notification: {e}"))?;
        let mut outcomes = Vec::new();
        for r in n.records {
            if !r.event_name.starts_with("ObjectCreated") && !r.event_name.starts_with("s3:ObjectCreated") {
                outcomes.push(Outcome::Skipped("not a creation"));
                continue;
            }
            let key = decode_key(&r.s3.object.key).ok_or_else(|| format!("malformed key {:?}", r.s3.object.key))?;
            outcomes.push(self.catalog(&key).await?);
        }
        Ok(outcomes)
    }

    pub async fn handle(&self, batch: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for message in &batch.records {
            let id = message.message_id.clone().unwrap_or_default();
            let span = tracing::info_span!("message", message_id = %id);
            let outcome = {
                use tracing::Instrument;
                self.one(message).instrument(span.clone()).await
            };
            let _entered = span.enter();
            match outcome {
                Ok(outcomes) => tracing::debug!(?outcomes, "catalog event handled"),
                Err(reason) => {
                    tracing::warn!(%reason, "catalog event failed; SQS retries it, then moves it to the DLQ");
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = id;
                    response.batch_item_failures.push(failure);
                }
            }
        }
        skycast_http::metrics::emit_batch(batch.records.len(), response.batch_item_failures.len());
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_url_decoded() {
        assert_eq!(decode_key("recordings/a/b.mp4").as_deref(), Some("recordings/a/b.mp4"));
        assert_eq!(decode_key("a+b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(decode_key("bad%zz"), None);
        assert_eq!(decode_key("cut%2"), None);
    }

    #[test]
    fn notifications_parse_as_s3_sends_them() {
        let n: Notification = serde_json::from_str(r#"{"Records":[{"eventVersion":"2.1","eventName":"ObjectCreated:CompleteMultipartUpload","s3":{"bucket":{"name":"b"},"object":{"key":"recordings/x/y.mp4","size":3}}}]}"#).unwrap();
        assert_eq!(n.records[0].s3.object.key, "recordings/x/y.mp4");
        let test: Notification =
            serde_json::from_str(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#).unwrap();
        assert!(test.records.is_empty());
    }
}
