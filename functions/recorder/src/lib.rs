//! The recorder function: one job per ended session (`recording-jobs`) →
//! one progressive, faststart MP4 in the recordings bucket, with the
//! session's thumbnail beside it. No FFmpeg (Lambda has none): the MP4 is
//! assembled from the stored CMAF segments by rewriting boxes.
//!
//! Exactly once under at-least-once delivery: a job first claims its
//! recording with a conditional write and a lease. A duplicate finds it
//! claimed (busy: retried after the lease) or ready (done: deleted). A
//! failed attempt records its reason and is retried with backoff; the last
//! one SQS allows leaves the recording `failed` before the message moves to
//! the dead-letter queue. Batch-mates of a failing job are unaffected.

pub mod assemble;
pub mod layout;
pub mod local;
pub mod media;
pub mod s3;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use skycast_core::{
    events::RecordingJob,
    recording::{mp4_key, session_prefix, thumbnail_key},
    store::{Claim, Finished, RecordingStore},
    timefmt,
};

use crate::{
    assemble::{Assembled, assemble},
    media::{Mp4Meta, RecordingMedia},
};

/// Asks SQS to deliver a failed message again after `delay` rather than
/// after the queue's whole visibility timeout.
#[async_trait]
pub trait Redelivery: Send + Sync {
    async fn retry_after(&self, message: &SqsMessage, delay: Duration);
}

/// Leaves redelivery to the queue's visibility timeout.
pub struct QueueDefault;

#[async_trait]
impl Redelivery for QueueDefault {
    async fn retry_after(&self, _: &SqsMessage, _: Duration) {}
}

pub struct SqsRedelivery {
    pub client: aws_sdk_sqs::Client,
    pub queue_url: String,
}

#[async_trait]
impl Redelivery for SqsRedelivery {
    async fn retry_after(&self, message: &SqsMessage, delay: Duration) {
        let Some(handle) = message.receipt_handle.as_deref() else { return };
        let result = self
            .client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(handle)
            .visibility_timeout(delay.as_secs().min(43_200) as i32)
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "cannot shorten the retry delay; the queue's timeout applies");
        }
    }
}

pub struct Recorder {
    pub recordings: Arc<dyn RecordingStore>,
    pub media: Arc<dyn RecordingMedia>,
    pub redelivery: Arc<dyn Redelivery>,
    /// The queue's `maxReceiveCount`: the attempt that gives up.
    pub max_receives: u32,
    /// How long a claim holds; the queue's visibility timeout is as long, so
    /// a crashed attempt's job comes back when its claim has run out.
    pub lease: Duration,
    /// The first retry's delay; each one after doubles it.
    pub backoff: Duration,
}

#[derive(Debug, PartialEq)]
pub enum Outcome {
    Recorded(Assembled),
    /// An earlier attempt stored the MP4 but did not mark it ready.
    Recovered,
    /// A duplicate of a finished job.
    AlreadyDone,
}

#[derive(Debug)]
pub enum JobError {
    /// Another delivery holds the claim: try again once its lease is out.
    Busy,
    Failed(String),
}

impl Recorder {
    /// Records one session; `receive_count` is SQS's count of deliveries.
    pub async fn record(&self, job: &RecordingJob, receive_count: u32) -> Result<Outcome, JobError> {
        let RecordingJob::Record { stream_id, session_id, rendition, .. } = job;
        let token = uuid::Uuid::new_v4().simple().to_string();
        let fail = |e: skycast_core::store::StoreError| JobError::Failed(e.to_string());
        let claim = self
            .recordings
            .claim(
                stream_id,
                session_id,
                &token,
                timefmt::unix_now(),
                self.lease.as_secs() as i64,
                &timefmt::now_rfc3339(),
            )
            .await
            .map_err(fail)?;
        match claim {
            Claim::Done(_) => return Ok(Outcome::AlreadyDone),
            Claim::Busy => return Err(JobError::Busy),
            Claim::Claimed(_) => {}
        }
        let result = self.make(stream_id, session_id, rendition).await;
        let now = timefmt::now_rfc3339();
        match result {
            Ok((outcome, finished)) => {
                if !self.recordings.complete(stream_id, session_id, &token, &finished, &now).await.map_err(fail)? {
                    tracing::warn!("the claim ran out before the recording was marked ready");
                }
                tracing::info!(size = finished.size_bytes, duration_s = finished.duration_s, "recording ready");
                Ok(outcome)
            }
            Err(reason) => {
                let give_up = receive_count >= self.max_receives;
                self.recordings.fail(stream_id, session_id, &token, &reason, give_up, &now).await.map_err(fail)?;
                Err(JobError::Failed(reason))
            }
        }
    }

    async fn make(&self, stream_id: &str, session_id: &str, rendition: &str) -> Result<(Outcome, Finished), String> {
        let key = mp4_key(stream_id, session_id);
        let finished = |size, duration_s| Finished { size_bytes: size, duration_s, video_id: session_id.to_owned() };
        // An earlier attempt may have stored it and died before saying so:
        // a second upload would make a second version and a second event.
        if let Some(stored) = self.media.stored_mp4(&key).await.map_err(|e| e.to_string())?
            && let Some(d) = stored.duration_s
        {
            return Ok((Outcome::Recovered, finished(stored.size, d)));
        }
        let prefix = session_prefix(stream_id, session_id);
        // The thumbnail first: the MP4's arrival is what the catalog acts on.
        let thumb = self
            .media
            .copy_to_recordings(&format!("{prefix}/thumb.jpg"), &thumbnail_key(stream_id, session_id))
            .await
            .map_err(|e| e.to_string())?;
        let meta =
            |duration_s| Mp4Meta { stream_id: stream_id.to_owned(), session_id: session_id.to_owned(), duration_s };
        let assembled = assemble(self.media.as_ref(), &format!("{prefix}/{rendition}"), &key, meta)
            .await
            .map_err(|e| e.to_string())?;
        tracing::debug!(
            thumbnail = thumb,
            segments = assembled.segments,
            generations = assembled.generations,
            "assembled"
        );
        let f = finished(assembled.size, assembled.duration_s);
        Ok((Outcome::Recorded(assembled), f))
    }

    async fn one(&self, message: &SqsMessage) -> Result<Outcome, JobError> {
        let body = message.body.as_deref().ok_or_else(|| JobError::Failed("message has no body".into()))?;
        let job: RecordingJob =
            serde_json::from_str(body).map_err(|e| JobError::Failed(format!("not a recording job: {e}")))?;
        let (stream_id, session_id) = job.ids();
        let span = tracing::info_span!("recording", %stream_id, %session_id);
        use tracing::Instrument;
        self.record(&job, receive_count(message)).instrument(span).await
    }

    /// Handles a batch; the response names the messages to retry.
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
            let delay = match outcome {
                Ok(outcome) => {
                    tracing::info!(?outcome, "recording job done");
                    continue;
                }
                Err(JobError::Busy) => {
                    tracing::info!("another delivery is recording this session; retrying after its claim");
                    self.lease
                }
                Err(JobError::Failed(reason)) => {
                    let n = receive_count(message);
                    if n >= self.max_receives {
                        tracing::error!(%reason, attempt = n, "recording failed for good; the job moves to the dead-letter queue");
                    } else {
                        tracing::warn!(%reason, attempt = n, "recording failed; retrying");
                    }
                    self.backoff * 2u32.saturating_pow(n.saturating_sub(1))
                }
            };
            self.redelivery.retry_after(message, delay).await;
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
        response
    }
}

/// SQS's count of deliveries of this message, 1 for the first.
pub fn receive_count(message: &SqsMessage) -> u32 {
    message.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1)
}
