//! The webhook sender (issue 15). Two queues feed it:
//!
//! - `webhook-events`: an event for an owner → one delivery record and one
//!   job on `webhook-deliveries` per endpoint of theirs that wants it. The
//!   record is written if absent, so a duplicate event makes no second
//!   delivery (a record never sent, from a first try that died between the
//!   two writes, is sent again).
//! - `webhook-deliveries`: one job → one signed POST. 2xx: delivered. Any
//!   other answer, or none within the timeout: the job comes back after
//!   `retry_delay_s` (SQS visibility), ten attempts over about 24 h, then the
//!   queue's dead-letter queue. A URL the policy refuses at send time is
//!   failed at once, not retried.
//!
//! A batch's messages are handled concurrently: a receiver that hangs holds
//! its own job for the timeout and nobody else's.

pub mod client;

use std::{sync::Arc, time::Duration};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use serde::Deserialize;
use skycast_core::{
    config::WebhookSettings,
    store::{
        StoreError, WebhookStore,
        queue::{MessageSender, Redelivery, SqsRedelivery, SqsSender, receive_count},
    },
    timefmt,
    webhook::{self, Attempt, Delivery, DeliveryJob, DeliveryStatus, Envelope, FirstAttempt, UrlPolicy, Webhook},
};
use skycast_http::metrics::{self, Unit};

use crate::client::{NoAnswer, ReceiverClient};

#[derive(Clone)]
pub struct Sender {
    pub webhooks: Arc<dyn WebhookStore>,
    pub messages: Arc<dyn MessageSender>,
    pub deliveries_url: String,
    pub redelivery: Arc<dyn Redelivery>,
    /// Sends under the URL policy it was made with.
    pub client: ReceiverClient,
    pub first_retry_s: u64,
    /// `webhook-deliveries`' receive limit: the attempt that gives up.
    pub max_attempts: u32,
}

/// A batch's log entries, one per delivery (a request may not name an item
/// twice): two copies of one job in a batch keep the one that delivered, or
/// else the later attempt.
fn one_per_delivery(entries: impl Iterator<Item = Delivery>) -> Vec<Delivery> {
    let mut by_key: std::collections::HashMap<(String, String), Delivery> = std::collections::HashMap::new();
    for e in entries {
        let key = (e.webhook_id.clone(), e.delivery_id.clone());
        let better = |old: &Delivery| {
            let rank = |d: &Delivery| (d.status == DeliveryStatus::Delivered, d.attempts);
            rank(&e) > rank(old)
        };
        if by_key.get(&key).is_none_or(better) {
            by_key.insert(key, e);
        }
    }
    by_key.into_values().collect()
}

/// How a delivery's signature comes.
enum Signing {
    /// Made at fan-out (a first attempt, sent within a minute): its body too.
    Ready { signature: String, body: String },
    /// Made now with the endpoint's secret.
    Secret(String),
}

/// What a message on either queue is.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Message {
    Job(DeliveryJob),
    Event(Envelope),
}

#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Jobs queued for this many endpoints.
    FannedOut(usize),
    Delivered(u16),
    /// A duplicate of a delivered job, or one for an endpoint gone or disabled.
    Dropped(&'static str),
    /// The URL is not allowed now: failed without retries.
    Refused(String),
}

/// Why a message is to be retried.
#[derive(Debug)]
pub enum Failure {
    /// The receiver did not take it; retry after this long.
    Receiver { reason: String, retry_after: Duration },
    /// Skycast's own trouble (store, queue): SQS retries it.
    Internal(String),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl Sender {
    pub fn new(
        webhooks: Arc<dyn WebhookStore>,
        sqs: aws_sdk_sqs::Client,
        deliveries_url: String,
        settings: &WebhookSettings,
    ) -> Result<Self, std::io::Error> {
        let policy = UrlPolicy { allow_loopback: settings.allow_loopback };
        let spec = &skycast_core::resources::Resources::embedded().queues["webhook-deliveries"];
        Ok(Self {
            webhooks,
            messages: Arc::new(SqsSender::new(sqs.clone())),
            redelivery: Arc::new(SqsRedelivery { client: sqs, queue_url: deliveries_url.clone() }),
            deliveries_url,
            client: ReceiverClient::new(policy, Duration::from_millis(settings.timeout_ms))?,
            first_retry_s: settings.first_retry_s,
            max_attempts: spec.max_receive_count,
        })
    }

    /// One delivery record and job per endpoint of the owner's that wants the event.
    pub async fn fan_out(&self, envelope: &Envelope) -> Result<Outcome, Failure> {
        let endpoints: Vec<Webhook> = match &envelope.webhook_id {
            Some(id) => self.webhooks.get(id).await?.into_iter().filter(|w| w.owner_id == envelope.owner_id).collect(),
            None => self
                .webhooks
                .by_owner(&envelope.owner_id)
                .await?
                .into_iter()
                .filter(|w| w.wants(envelope.event.kind))
                .collect(),
        };
        let now = timefmt::unix_now();
        let deliveries: Vec<Delivery> =
            endpoints.iter().map(|w| Delivery::pending(&w.id, &envelope.event, now)).collect();
        let created = self.webhooks.create_deliveries(&deliveries).await?;
        // The body every endpoint is sent, signed once per endpoint now.
        let body = serde_json::to_string(&envelope.event).map_err(|e| Failure::Internal(e.to_string()))?;
        let signed_at = timefmt::unix_now();
        let mut jobs = Vec::new();
        for (delivery, new) in deliveries.into_iter().zip(created) {
            if !new {
                let existing = self.webhooks.delivery(&delivery.webhook_id, &delivery.delivery_id).await?;
                if !existing.is_some_and(|d| d.status == DeliveryStatus::Pending && d.attempts == 0) {
                    continue;
                }
            }
            let endpoint = endpoints.iter().find(|w| w.id == delivery.webhook_id);
            let first = endpoint.map(|w| FirstAttempt {
                url: w.url.clone(),
                body: body.clone(),
                signature: webhook::signature_header(&w.secret, signed_at, body.as_bytes()),
                signed_at,
            });
            let job = DeliveryJob {
                webhook_id: delivery.webhook_id,
                delivery_id: delivery.delivery_id,
                event: envelope.event.clone(),
                first,
            };
            jobs.push(serde_json::to_string(&job).map_err(|e| Failure::Internal(e.to_string()))?);
        }
        let queued = jobs.len();
        self.messages.send_json_batch(&self.deliveries_url, jobs).await?;
        Ok(Outcome::FannedOut(queued))
    }

    /// One attempt of one job, its outcome written to the delivery log;
    /// `attempt` is SQS's receive count.
    pub async fn deliver(&self, job: &DeliveryJob, attempt: u32) -> Result<Outcome, Failure> {
        let (outcome, note) = self.attempt(job, attempt).await;
        if let Some(note) = note {
            self.webhooks.save_deliveries(&[Delivery::attempted(job, attempt, &note)]).await?;
        }
        outcome
    }

    /// One attempt of one job, and what the delivery log is to say of it
    /// (written by the caller: a batch's in one request).
    pub async fn attempt(&self, job: &DeliveryJob, attempt: u32) -> (Result<Outcome, Failure>, Option<Attempt>) {
        match self.try_attempt(job, attempt).await {
            Ok((outcome, note)) => (outcome, note),
            Err(failure) => (Err(failure), None),
        }
    }

    async fn try_attempt(
        &self,
        job: &DeliveryJob,
        attempt: u32,
    ) -> Result<(Result<Outcome, Failure>, Option<Attempt>), Failure> {
        let record = |status, error: Option<String>| Attempt {
            at: timefmt::now_rfc3339(),
            status,
            status_code: None,
            error,
            response: None,
            next_attempt_at: None,
        };
        // A first attempt sends what fan-out prepared; a retry reads the
        // endpoint again (it may have been changed, disabled or deleted).
        let fresh = job.first.as_ref().filter(|f| {
            attempt == 1 && timefmt::unix_now().saturating_sub(f.signed_at) <= webhook::FIRST_ATTEMPT_FRESH_S
        });
        let (url, signing) = match fresh {
            Some(first) => {
                (first.url.clone(), Signing::Ready { signature: first.signature.clone(), body: first.body.clone() })
            }
            None => {
                let Some(endpoint) = self.webhooks.get(&job.webhook_id).await? else {
                    return Ok((Ok(Outcome::Dropped("endpoint deleted")), None));
                };
                if !endpoint.enabled {
                    let note = record(DeliveryStatus::Failed, Some("endpoint disabled".into()));
                    return Ok((Ok(Outcome::Dropped("endpoint disabled")), Some(note)));
                }
                // A job comes again only if an attempt failed or its handler
                // died after sending: the log says whether it was taken.
                if attempt > 1
                    && let Some(d) = self.webhooks.delivery(&job.webhook_id, &job.delivery_id).await?
                    && d.status == DeliveryStatus::Delivered
                {
                    return Ok((Ok(Outcome::Dropped("delivered already")), None));
                }
                (endpoint.url, Signing::Secret(endpoint.secret))
            }
        };
        // A refusal is final. The URL's own form and a literal address are
        // checked here; a name is checked as the client resolves it (it may
        // point elsewhere than at registration), before any connection.
        let refused = |refusal: webhook::UrlRefusal| {
            let reason = format!("refused: {refusal}");
            tracing::warn!(webhook_id = %job.webhook_id, %reason, "webhook URL not allowed at send time");
            let note = record(DeliveryStatus::Failed, Some(reason.clone()));
            metrics::emit(&[(metrics::WEBHOOK_FAILURES, Unit::Count, 1.0)]);
            Ok((Ok(Outcome::Refused(reason)), Some(note)))
        };
        if let Err(refusal) = self.client.policy().check_url(&url) {
            return refused(refusal);
        }
        // The bytes signed are the bytes sent.
        let (signature, body) = match signing {
            Signing::Ready { signature, body } => (signature, body.into_bytes()),
            Signing::Secret(secret) => {
                let body = serde_json::to_vec(&job.event).map_err(|e| Failure::Internal(e.to_string()))?;
                (webhook::signature_header(&secret, timefmt::unix_now(), &body), body)
            }
        };
        let headers = [
            (webhook::SIGNATURE_HEADER, signature),
            ("Skycast-Event-Id", job.event.id.clone()),
            ("Skycast-Event-Type", job.event.kind.as_str().to_owned()),
            ("Skycast-Delivery-Attempt", attempt.to_string()),
        ];
        let started = std::time::Instant::now();
        // A name that does not resolve may be a passing DNS failure: retried
        // as a receiver that did not answer.
        let answer = match self.client.post(&url, &headers, body).await {
            Err(NoAnswer::Refused(refusal)) => return refused(refusal),
            Err(NoAnswer::Failed(reason)) => Err(reason),
            Ok(answer) => Ok(answer),
        };
        let latency_ms = started.elapsed().as_millis() as u64;
        let mut note = record(DeliveryStatus::Delivered, None);
        let failure = match &answer {
            Ok(a) => {
                note.status_code = Some(a.status);
                note.response = Some(a.excerpt.clone()).filter(|e| !e.is_empty());
                (!(200..300).contains(&a.status)).then(|| format!("answered {}", a.status))
            }
            Err(reason) => Some(reason.clone()),
        };
        // The outcome as the receiver gave it, before the log is written: a
        // log that fails brings the job back, and the POST it repeats is
        // counted again, as it was sent again.
        let (delivered, failed) = if failure.is_none() { (1.0, 0.0) } else { (0.0, 1.0) };
        let values = [
            (metrics::WEBHOOK_DELIVERIES, Unit::Count, delivered),
            (metrics::WEBHOOK_FAILURES, Unit::Count, failed),
            (metrics::WEBHOOK_LATENCY_MS, Unit::Milliseconds, latency_ms as f64),
        ];
        // Latency is a receiver's answering time: only where it answered.
        metrics::emit(if answer.is_ok() { &values[..] } else { &values[..2] });
        let Some(reason) = failure else {
            tracing::info!(webhook_id = %job.webhook_id, event_id = %job.event.id, attempt, latency_ms, "webhook delivered");
            return Ok((Ok(Outcome::Delivered(note.status_code.unwrap_or_default())), Some(note)));
        };
        note.error = Some(reason.clone());
        let give_up = attempt >= self.max_attempts;
        let retry_after = Duration::from_secs(webhook::retry_delay_s(attempt, self.first_retry_s));
        // The last attempt's job goes to the dead-letter queue at its next
        // receive: at once, not after another delay.
        let retry_after = if give_up { Duration::ZERO } else { retry_after };
        if give_up {
            note.status = DeliveryStatus::Failed;
            tracing::warn!(webhook_id = %job.webhook_id, event_id = %job.event.id, attempt, %reason, "webhook failed for good; the job moves to the dead-letter queue");
        } else {
            note.status = DeliveryStatus::Retrying;
            note.next_attempt_at = Some(timefmt::rfc3339(timefmt::now() + retry_after));
            tracing::info!(webhook_id = %job.webhook_id, event_id = %job.event.id, attempt, %reason, retry_in_s = retry_after.as_secs(), "webhook not taken; retrying");
        }
        Ok((Err(Failure::Receiver { reason, retry_after }), Some(note)))
    }

    /// One message: its outcome, and for a job the log entry to write.
    async fn one(&self, message: &SqsMessage) -> (Result<Outcome, Failure>, Option<Delivery>) {
        let Some(body) = message.body.as_deref() else {
            return (Err(Failure::Internal("message has no body".into())), None);
        };
        match serde_json::from_str::<Message>(body) {
            Ok(Message::Job(job)) => {
                let attempt = receive_count(message);
                let (outcome, note) = self.attempt(&job, attempt).await;
                (outcome, note.map(|n| Delivery::attempted(&job, attempt, &n)))
            }
            Ok(Message::Event(envelope)) => (self.fan_out(&envelope).await, None),
            Err(e) => (Err(Failure::Internal(format!("neither a webhook event nor a delivery job: {e}"))), None),
        }
    }

    /// Handles a batch, its messages at once, then writes their log entries
    /// in one request; the response names the messages to retry.
    pub async fn handle(self: &Arc<Self>, batch: SqsEvent) -> SqsBatchResponse {
        let messages = batch.records.len();
        let mut tasks = tokio::task::JoinSet::new();
        let mut ids = std::collections::HashMap::new();
        for message in batch.records {
            let sender = Arc::clone(self);
            let message_id = message.message_id.clone().unwrap_or_default();
            let task = tasks.spawn(async move {
                let id = message.message_id.clone().unwrap_or_default();
                let span = tracing::info_span!("message", message_id = %id);
                let (outcome, entry) = {
                    use tracing::Instrument;
                    sender.one(&message).instrument(span.clone()).await
                };
                let failed = match outcome {
                    Ok(outcome) => {
                        tracing::debug!(parent: &span, ?outcome, "webhook message handled");
                        false
                    }
                    Err(Failure::Receiver { retry_after, .. }) => {
                        sender.redelivery.retry_after(&message, retry_after).await;
                        true
                    }
                    Err(Failure::Internal(reason)) => {
                        tracing::warn!(parent: &span, %reason, "webhook message failed; SQS retries it, then moves it to the DLQ");
                        true
                    }
                };
                (id, failed, entry)
            });
            ids.insert(task.id(), message_id);
        }
        let mut results: Vec<(String, bool, Option<Delivery>)> = Vec::new();
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(result) => results.push(result),
                // Retried, never lost: a message not reported is deleted.
                Err(e) => {
                    tracing::error!(error = %e, "webhook task did not finish; its message is retried");
                    results.extend(ids.get(&e.id()).map(|id| (id.clone(), true, None)));
                }
            }
        }
        let entries = one_per_delivery(results.iter().filter_map(|(_, _, e)| e.clone()));
        if !entries.is_empty()
            && let Err(e) = self.webhooks.save_deliveries(&entries).await
        {
            // Their outcomes are unrecorded: each job comes back (a receiver
            // may get one again, with the same event id).
            tracing::warn!(error = %e, "delivery log not written; the batch's jobs are retried");
            for r in results.iter_mut().filter(|r| r.2.is_some()) {
                r.1 = true;
            }
        }
        let mut response = SqsBatchResponse::default();
        for (id, failed, _) in results {
            if failed {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
        metrics::emit_batch(messages, response.batch_item_failures.len());
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(delivery: &str, status: DeliveryStatus, attempts: u32) -> Delivery {
        let event = webhook::WebhookEvent::fresh(webhook::EventType::StreamLive, "t", serde_json::json!({}));
        let mut d = Delivery::pending("w", &event, 0);
        d.delivery_id = delivery.into();
        d.status = status;
        d.attempts = attempts;
        d
    }

    #[test]
    fn a_batch_logs_each_delivery_once_keeping_what_it_came_to() {
        let kept = one_per_delivery(
            [
                entry("a", DeliveryStatus::Retrying, 2),
                entry("a", DeliveryStatus::Delivered, 1),
                entry("a", DeliveryStatus::Retrying, 3),
                entry("b", DeliveryStatus::Retrying, 1),
                entry("b", DeliveryStatus::Retrying, 2),
            ]
            .into_iter(),
        );
        let mut got: Vec<(String, DeliveryStatus, u32)> =
            kept.into_iter().map(|d| (d.delivery_id, d.status, d.attempts)).collect();
        got.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(got, [("a".into(), DeliveryStatus::Delivered, 1), ("b".into(), DeliveryStatus::Retrying, 2)]);
    }
}
