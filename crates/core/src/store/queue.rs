//! Sending messages on SQS, behind a trait so handlers are testable.

use async_trait::async_trait;
use serde::Serialize;

use super::StoreError;

#[async_trait]
pub trait MessageSender: Send + Sync {
    async fn send_json(&self, queue_url: &str, body: String) -> Result<(), StoreError>;

    /// Sends several messages, in as few requests as the queue allows. A
    /// failure may leave some sent: the caller sends them all again, and
    /// their handlers take duplicates.
    async fn send_json_batch(&self, queue_url: &str, bodies: Vec<String>) -> Result<(), StoreError> {
        for body in bodies {
            self.send_json(queue_url, body).await?;
        }
        Ok(())
    }
}

/// Serialises `message` and sends it.
pub async fn send<T: Serialize + Sync>(
    sender: &dyn MessageSender,
    queue_url: &str,
    message: &T,
) -> Result<(), StoreError> {
    let body = serde_json::to_string(message).map_err(|e| StoreError::Malformed(e.to_string()))?;
    sender.send_json(queue_url, body).await
}

pub struct SqsSender {
    client: aws_sdk_sqs::Client,
}

impl SqsSender {
    pub fn new(client: aws_sdk_sqs::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl MessageSender for SqsSender {
    async fn send_json(&self, queue_url: &str, body: String) -> Result<(), StoreError> {
        self.client
            .send_message()
            .queue_url(queue_url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Backend(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))
    }

    async fn send_json_batch(&self, queue_url: &str, bodies: Vec<String>) -> Result<(), StoreError> {
        // Ten messages a request, SQS's most.
        for chunk in bodies.chunks(10) {
            let mut entries = Vec::new();
            for (i, body) in chunk.iter().enumerate() {
                let entry = aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                entries.push(entry);
            }
            let out = self
                .client
                .send_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| StoreError::Backend(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
            if let Some(failed) = out.failed().first() {
                return Err(StoreError::Backend(format!(
                    "{} of {} messages not sent: {}",
                    out.failed().len(),
                    chunk.len(),
                    failed.message().unwrap_or_default()
                )));
            }
        }
        Ok(())
    }
}

/// Where functions put what happened for users' webhooks: the
/// `webhook-events` queue (`SKYCAST_WEBHOOK_EVENTS_QUEUE_URL`). Without a
/// queue, events are dropped with a debug line (tools and tests that run
/// a function alone).
#[derive(Clone)]
pub struct WebhookOutbox {
    queue: Option<(std::sync::Arc<dyn MessageSender>, String)>,
}

impl WebhookOutbox {
    pub fn new(messages: std::sync::Arc<dyn MessageSender>, queue_url: String) -> Self {
        Self { queue: Some((messages, queue_url)) }
    }

    pub fn off() -> Self {
        Self { queue: None }
    }

    /// The queue named by `SKYCAST_WEBHOOK_EVENTS_QUEUE_URL`, if set.
    pub fn from_env(messages: std::sync::Arc<dyn MessageSender>) -> Self {
        match std::env::var("SKYCAST_WEBHOOK_EVENTS_QUEUE_URL").ok().filter(|u| !u.trim().is_empty()) {
            Some(url) => Self::new(messages, url),
            None => {
                tracing::info!("SKYCAST_WEBHOOK_EVENTS_QUEUE_URL is not set: no webhook events from this function");
                Self::off()
            }
        }
    }

    /// Sends `event` for `owner_id`'s endpoints. An error is the caller's to
    /// retry: the change it reports is made, and its event id is stable.
    pub async fn publish(&self, owner_id: &str, event: crate::webhook::WebhookEvent) -> Result<(), StoreError> {
        self.send(crate::webhook::Envelope { owner_id: owner_id.to_owned(), event, webhook_id: None }).await
    }

    /// Sends `envelope` as it is (a test event names its one endpoint).
    pub async fn send(&self, envelope: crate::webhook::Envelope) -> Result<(), StoreError> {
        let Some((messages, url)) = &self.queue else {
            tracing::debug!(event_type = envelope.event.kind.as_str(), "no webhook queue; event dropped");
            return Ok(());
        };
        let (event_id, event_type) = (envelope.event.id.clone(), envelope.event.kind.as_str());
        send(messages.as_ref(), url, &envelope).await?;
        tracing::debug!(%event_id, event_type, "webhook event queued");
        Ok(())
    }
}

/// Asks SQS to deliver a failed message again after `delay` rather than
/// after the queue's whole visibility timeout.
#[async_trait::async_trait]
pub trait Redelivery: Send + Sync {
    async fn retry_after(&self, message: &aws_lambda_events::event::sqs::SqsMessage, delay: std::time::Duration);
}

/// Leaves redelivery to the queue's visibility timeout.
pub struct QueueDefault;

#[async_trait::async_trait]
impl Redelivery for QueueDefault {
    async fn retry_after(&self, _: &aws_lambda_events::event::sqs::SqsMessage, _: std::time::Duration) {}
}

pub struct SqsRedelivery {
    pub client: aws_sdk_sqs::Client,
    pub queue_url: String,
}

#[async_trait::async_trait]
impl Redelivery for SqsRedelivery {
    async fn retry_after(&self, message: &aws_lambda_events::event::sqs::SqsMessage, delay: std::time::Duration) {
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

/// SQS's count of deliveries of this message, 1 for the first.
pub fn receive_count(message: &aws_lambda_events::event::sqs::SqsMessage) -> u32 {
    message.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1)
}
