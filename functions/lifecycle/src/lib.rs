//! The lifecycle function: applies what ingest nodes report (`stream-events`)
//! to streams. Idempotent and order-tolerant: each event applies only to its
//! own session and only forward, so duplicates and late arrivals are no-ops.
//! A message that cannot be applied is reported as a batch item failure: SQS
//! retries it and, after the queue's receive limit, moves it to the DLQ, while
//! its batch-mates are deleted as done.
//!
//! A session that ended with media, of a stream that records, gets its
//! recording item and one job on `recording-jobs`. A duplicate `ended`
//! finds the item and sends nothing; one whose first delivery died between
//! the two steps sends the job again (the recorder is idempotent).

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use std::sync::Arc;

use skycast_core::{
    events::{RecordingJob, StreamEvent},
    limits::Quota,
    recording::Recording,
    store::{
        Daily, DailyCounters, EndReport, Stores,
        queue::{MessageSender, WebhookOutbox},
    },
    stream::Stream,
    timefmt,
    webhook::{self, EventType},
};

/// What the function works with.
#[derive(Clone)]
pub struct Lifecycle {
    pub stores: Stores,
    pub messages: Arc<dyn MessageSender>,
    pub recording_jobs_url: String,
    /// `stream.waiting|live|ended` for the stream owner's webhooks.
    pub webhooks: WebhookOutbox,
}

#[derive(Debug)]
pub enum Outcome {
    Applied,
    /// Stale or duplicate: nothing to do, and nothing wrong.
    Ignored,
}

/// Why a message failed; logged, and the message is retried or dead-lettered.
#[derive(Debug)]
pub struct Failure(pub String);

pub async fn apply(lc: &Lifecycle, event: &StreamEvent) -> Result<Outcome, Failure> {
    let stores = &lc.stores;
    let now = timefmt::now_rfc3339();
    let fail = |e: skycast_core::store::StoreError| Failure(e.to_string());
    let applied = match event {
        // The API sets `waiting` when it starts the session.
        StreamEvent::Waiting { stream_id, session_id, at } => {
            announce(lc, EventType::StreamWaiting, stream_id, session_id, at, None).await?;
            false
        }
        StreamEvent::Live { stream_id, session_id, renditions, at } => {
            let applied = stores.streams.mark_live(stream_id, session_id, renditions, &now).await.map_err(fail)?;
            if applied {
                count(lc, Daily::Sessions).await;
            }
            announce(lc, EventType::StreamLive, stream_id, session_id, at, None).await?;
            applied
        }
        StreamEvent::Stats { stream_id, session_id, figures, .. } => {
            stores.streams.mark_stats(stream_id, session_id, figures, &now).await.map_err(fail)?
        }
        StreamEvent::Ended { stream_id, session_id, renditions, figures, reason, at } => {
            // The node's waiting timeout: no publisher came, nothing to replay.
            let never_published = reason == "no_publisher" && figures.segments == 0;
            let report = EndReport { renditions: renditions.clone(), figures: figures.clone(), never_published };
            let applied = stores.streams.mark_ended(stream_id, session_id, &report, &now).await.map_err(fail)?;
            let stream = stores.streams.get(stream_id).await.map_err(fail)?;
            if let Some(s) = &stream
                && s.record
                && figures.segments > 0
                && !never_published
            {
                let rendition = renditions.first().map_or("source", String::as_str);
                queue_recording(lc, s, session_id, rendition, &now).await?;
            }
            let held = stream.filter(|s| s.session_id.as_deref() == Some(session_id.as_str()));
            // Its owner's places on air come back too (the streams function
            // also reconciles them, should this be missed).
            if let Some(s) = held.as_ref().filter(|s| !s.status.is_on_air()) {
                for quota in [Quota::OnAir, Quota::Ladder] {
                    stores.limits.release(&s.owner_id, quota, &s.id).await.map_err(fail)?;
                }
            }
            tracing::info!(%stream_id, %session_id, %reason, segments = figures.segments, duration_s = figures.duration_s, applied, "session ended");
            announce(lc, EventType::StreamEnded, stream_id, session_id, at, Some(reason)).await?;
            applied
        }
    };
    Ok(if applied { Outcome::Applied } else { Outcome::Ignored })
}

/// Counts for `GET /stats`; a figure missed is not worth a retry.
async fn count(lc: &Lifecycle, what: Daily) {
    if let Err(e) = DailyCounters::new(lc.stores.limits.clone()).bump(what).await {
        tracing::warn!(error = %e, ?what, "daily figure not counted");
    }
}

/// Tells the stream owner's webhooks, on every delivery of the event (a
/// duplicate has the same event id): a first delivery that applied the
/// change and died before this line is made good by the retry.
async fn announce(
    lc: &Lifecycle,
    kind: EventType,
    stream_id: &str,
    session_id: &str,
    at: &str,
    reason: Option<&str>,
) -> Result<(), Failure> {
    let fail = |e: skycast_core::store::StoreError| Failure(e.to_string());
    // A stream deleted since has nobody to tell.
    let Some(stream) = lc.stores.streams.get(stream_id).await.map_err(fail)? else { return Ok(()) };
    let event = webhook::stream_event(kind, &stream, session_id, at, reason);
    lc.webhooks.publish(&stream.owner_id, event).await.map_err(fail)
}

/// The recording item, then its job: the item first, so the recorder and
/// `GET /streams/{id}/recordings` never see a job without one.
async fn queue_recording(
    lc: &Lifecycle,
    stream: &Stream,
    session_id: &str,
    rendition: &str,
    now: &str,
) -> Result<(), Failure> {
    let fail = |e: skycast_core::store::StoreError| Failure(e.to_string());
    let created = lc
        .stores
        .recordings
        .create(&Recording::pending(&stream.id, session_id, &stream.owner_id, now))
        .await
        .map_err(fail)?;
    if created {
        count(lc, Daily::Recordings).await;
    } else {
        // Sent already, unless the first delivery died before sending.
        let existing = lc.stores.recordings.get(&stream.id, session_id).await.map_err(fail)?;
        if existing.is_none_or(|r| r.job_sent) {
            return Ok(());
        }
    }
    let job = RecordingJob::Record {
        stream_id: stream.id.clone(),
        session_id: session_id.to_owned(),
        at: now.to_owned(),
        rendition: rendition.to_owned(),
    };
    skycast_core::store::queue::send(lc.messages.as_ref(), &lc.recording_jobs_url, &job).await.map_err(fail)?;
    lc.stores.recordings.mark_job_sent(&stream.id, session_id).await.map_err(fail)?;
    tracing::info!(stream_id = %stream.id, %session_id, "recording job sent");
    Ok(())
}

async fn one(lc: &Lifecycle, message: &SqsMessage) -> Result<Outcome, Failure> {
    let body = message.body.as_deref().ok_or_else(|| Failure("message has no body".into()))?;
    let event: StreamEvent = serde_json::from_str(body).map_err(|e| Failure(format!("not a stream event: {e}")))?;
    apply(lc, &event).await
}

/// Handles a batch; the response names the messages to retry.
pub async fn handle(lc: &Lifecycle, batch: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in &batch.records {
        let id = message.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("message", message_id = %id);
        let _entered = span.enter();
        match one(lc, message).await {
            Ok(outcome) => tracing::debug!(?outcome, "stream event handled"),
            Err(Failure(reason)) => {
                tracing::warn!(%reason, "stream event failed; SQS retries it, then moves it to the DLQ");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
    }
    skycast_http::metrics::emit_batch(batch.records.len(), response.batch_item_failures.len());
    response
}
