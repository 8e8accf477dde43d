//! The lifecycle function: applies what ingest nodes report (`stream-events`)
//! to streams. Idempotent and order-tolerant: each event applies only to its
//! own session and only forward, so duplicates and late arrivals are no-ops.
//! A message that cannot be applied is reported as a batch item failure: SQS
//! retries it and, after the queue's receive limit, moves it to the DLQ, while
//! its batch-mates are deleted as done.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use skycast_core::{
    events::StreamEvent,
    store::{EndReport, Stores, lease_id},
    timefmt,
};

#[derive(Debug)]
pub enum Outcome {
    Applied,
    /// Stale or duplicate: nothing to do, and nothing wrong.
    Ignored,
}

/// Why a message failed; logged, and the message is retried or dead-lettered.
#[derive(Debug)]
pub struct Failure(pub String);

pub async fn apply(stores: &Stores, event: &StreamEvent) -> Result<Outcome, Failure> {
    let now = timefmt::now_rfc3339();
    let fail = |e: skycast_core::store::StoreError| Failure(e.to_string());
    let applied = match event {
        // The API sets `waiting` when it starts the session.
        StreamEvent::Waiting { .. } => false,
        StreamEvent::Live { stream_id, session_id, renditions, .. } => {
            stores.streams.mark_live(stream_id, session_id, renditions, &now).await.map_err(fail)?
        }
        StreamEvent::Stats { stream_id, session_id, figures, .. } => {
            stores.streams.mark_stats(stream_id, session_id, figures, &now).await.map_err(fail)?
        }
        StreamEvent::Ended { stream_id, session_id, renditions, figures, reason, .. } => {
            // The node's waiting timeout: no publisher came, nothing to replay.
            let never_published = reason == "no_publisher" && figures.segments == 0;
            let report = EndReport { renditions: renditions.clone(), figures: figures.clone(), never_published };
            let applied = stores.streams.mark_ended(stream_id, session_id, &report, &now).await.map_err(fail)?;
            // The node is done with the port whoever ended the session.
            let stream = stores.streams.get(stream_id).await.map_err(fail)?;
            let held = stream.filter(|s| s.session_id.as_deref() == Some(session_id.as_str()));
            if let Some((Some(node), Some(port), protocol)) =
                held.map(|s| (s.ingest_node_id, s.ingest_port, s.protocol))
            {
                stores.ingest.release(&lease_id(&node, protocol, port), session_id).await.map_err(fail)?;
            }
            tracing::info!(%stream_id, %session_id, %reason, segments = figures.segments, duration_s = figures.duration_s, applied, "session ended");
            applied
        }
    };
    Ok(if applied { Outcome::Applied } else { Outcome::Ignored })
}

async fn one(stores: &Stores, message: &SqsMessage) -> Result<Outcome, Failure> {
    let body = message.body.as_deref().ok_or_else(|| Failure("message has no body".into()))?;
    let event: StreamEvent = serde_json::from_str(body).map_err(|e| Failure(format!("not a stream event: {e}")))?;
    apply(stores, &event).await
}

/// Handles a batch; the response names the messages to retry.
pub async fn handle(stores: &Stores, batch: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in &batch.records {
        let id = message.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("message", message_id = %id);
        let _entered = span.enter();
        match one(stores, message).await {
            Ok(outcome) => tracing::debug!(?outcome, "stream event handled"),
            Err(Failure(reason)) => {
                tracing::warn!(%reason, "stream event failed; SQS retries it, then moves it to the DLQ");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
    }
    response
}
