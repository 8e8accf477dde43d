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

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use skycast_core::{
    events::RecordingJob,
    recording::{Recording, RecordingStatus, mp4_key, session_prefix, thumbnail_key},
    store::{Claim, Daily, DailyCounters, Finished, RecordingStore, queue::WebhookOutbox},
    timefmt,
    webhook::{self, EventType},
};
use skycast_http::metrics::{self, Unit};

use crate::{
    assemble::{Assembled, assemble},
    media::{Mp4Meta, RecordingMedia},
};

pub use skycast_core::store::queue::{QueueDefault, Redelivery, SqsRedelivery, receive_count};

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
    /// `recording.ready` / `recording.failed` for the owner's webhooks.
    pub webhooks: WebhookOutbox,
    /// Recordings ready and failed today, for `GET /stats`.
    pub counters: Option<DailyCounters>,
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
        let mut recording = match claim {
            // Announced again: the delivery that finished it may have died
            // before announcing (the event id is the same).
            Claim::Done(done) => {
                self.announce(&done).await?;
                return Ok(Outcome::AlreadyDone);
            }
            Claim::Busy => return Err(JobError::Busy),
            Claim::Claimed(claimed) => *claimed,
        };
        let result = self.make(stream_id, session_id, rendition).await;
        let now = timefmt::now_rfc3339();
        recording.updated_at.clone_from(&now);
        match result {
            Ok((outcome, finished)) => {
                if self.recordings.complete(stream_id, session_id, &token, &finished, &now).await.map_err(fail)? {
                    // Counted once, by the delivery that marks it: one whose
                    // claim was taken over leaves that to the one holding it.
                    metrics::emit(&[(metrics::RECORDINGS_READY, Unit::Count, 1.0)]);
                    self.count(Daily::RecordingsReady).await;
                } else {
                    tracing::warn!("the claim ran out before the recording was marked ready");
                }
                tracing::info!(size = finished.size_bytes, duration_s = finished.duration_s, "recording ready");
                recording.status = RecordingStatus::Ready;
                recording.size_bytes = Some(finished.size_bytes);
                recording.duration_s = Some(finished.duration_s);
                recording.video_id = Some(finished.video_id);
                recording.reason = None;
                self.announce(&recording).await?;
                Ok(outcome)
            }
            Err(reason) => {
                let give_up = receive_count >= self.max_receives;
                let marked = self.recordings.fail(stream_id, session_id, &token, &reason, give_up, &now).await;
                if give_up {
                    // Counted even if the store did not take the mark: the
                    // job goes to the dead-letter queue all the same, and the
                    // session has no video (the alarm in monitoring.tf).
                    metrics::emit(&[(metrics::RECORDINGS_FAILED, Unit::Count, 1.0)]);
                    self.count(Daily::RecordingsFailed).await;
                }
                marked.map_err(fail)?;
                if give_up {
                    recording.status = RecordingStatus::Failed;
                    recording.reason = Some(reason.clone());
                    // Best effort: the job is on its way to the dead-letter
                    // queue, and a redrive announces it again.
                    if let Err(JobError::Failed(e)) = self.announce(&recording).await {
                        tracing::warn!(error = %e, "cannot announce the failed recording");
                    }
                }
                Err(JobError::Failed(reason))
            }
        }
    }

    /// Counts for `GET /stats`; a figure missed is not worth a retry.
    async fn count(&self, what: Daily) {
        if let Some(counters) = &self.counters
            && let Err(e) = counters.bump(what).await
        {
            tracing::warn!(error = %e, ?what, "daily figure not counted");
        }
    }

    /// `recording.ready` or `recording.failed` to the owner's webhooks.
    async fn announce(&self, recording: &Recording) -> Result<(), JobError> {
        let kind = match recording.status {
            RecordingStatus::Ready => EventType::RecordingReady,
            RecordingStatus::Failed => EventType::RecordingFailed,
            RecordingStatus::Processing => return Ok(()),
        };
        let Some(owner) = recording.owner_id.as_deref() else { return Ok(()) };
        let event = webhook::recording_event(kind, recording, &recording.updated_at);
        self.webhooks.publish(owner, event).await.map_err(|e| JobError::Failed(e.to_string()))
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
        metrics::emit_batch(batch.records.len(), response.batch_item_failures.len());
        response
    }
}
