//! Sending messages on SQS, behind a trait so handlers are testable.

use async_trait::async_trait;
use serde::Serialize;

use super::StoreError;

#[async_trait]
pub trait MessageSender: Send + Sync {
    async fn send_json(&self, queue_url: &str, body: String) -> Result<(), StoreError>;
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
}
