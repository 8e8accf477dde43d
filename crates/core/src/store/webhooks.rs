//! Webhook endpoints (`webhooks`, by owner) and their delivery log
//! (`webhook-deliveries`, by endpoint, newest first, expiring). Every write
//! to an endpoint carries its owner in the condition.

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    types::{AttributeValue, KeysAndAttributes, PutRequest, WriteRequest},
};

use super::{
    StoreError,
    dynamo::{backend, conditionally_applied, from_item, s, to_item},
};
use crate::webhook::{Attempt, Delivery, DeliveryStatus, Webhook};

#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn create(&self, webhook: &Webhook) -> Result<(), StoreError>;
    async fn get(&self, id: &str) -> Result<Option<Webhook>, StoreError>;
    /// The owner's endpoints, newest first (at most `MAX_PER_USER` exist).
    async fn by_owner(&self, owner_id: &str) -> Result<Vec<Webhook>, StoreError>;
    /// Replaces an endpoint its owner changed; `false` if it is not theirs (or gone).
    async fn replace(&self, webhook: &Webhook) -> Result<bool, StoreError>;
    /// Deletes an endpoint of `owner_id`'s; `false` if there was none.
    async fn delete(&self, id: &str, owner_id: &str) -> Result<bool, StoreError>;

    /// Records a delivery unless it is recorded already (`false`).
    async fn create_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError>;
    /// Records each delivery not recorded yet: whether each was new.
    async fn create_deliveries(&self, deliveries: &[Delivery]) -> Result<Vec<bool>, StoreError>;
    async fn delivery(&self, webhook_id: &str, delivery_id: &str) -> Result<Option<Delivery>, StoreError>;
    /// Notes an attempt. A delivery already `delivered` stays so (a
    /// duplicate job's late failure does not undo it): `false` then.
    async fn record_attempt(&self, webhook_id: &str, delivery_id: &str, attempt: &Attempt) -> Result<bool, StoreError>;
    /// An endpoint's deliveries, newest first, at most `limit`.
    async fn deliveries(&self, webhook_id: &str, limit: i32) -> Result<Vec<Delivery>, StoreError>;
}

pub struct DynamoWebhookStore {
    client: Client,
    webhooks: String,
    deliveries: String,
}

impl DynamoWebhookStore {
    pub fn new(client: Client, webhooks: String, deliveries: String) -> Self {
        Self { client, webhooks, deliveries }
    }
}

const DELIVERED: &str = "delivered";

fn delivery_key(webhook_id: &str, delivery_id: &str) -> std::collections::HashMap<String, AttributeValue> {
    [("webhook_id".to_owned(), s(webhook_id)), ("delivery_id".to_owned(), s(delivery_id))].into()
}

fn status_text(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Pending => "pending",
        DeliveryStatus::Retrying => "retrying",
        DeliveryStatus::Delivered => DELIVERED,
        DeliveryStatus::Failed => "failed",
    }
}

#[async_trait]
impl WebhookStore for DynamoWebhookStore {
    async fn create(&self, webhook: &Webhook) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.webhooks)
            .set_item(Some(to_item(webhook)?))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<Webhook>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.webhooks)
            .key("id", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        out.item.map(from_item).transpose()
    }

    async fn by_owner(&self, owner_id: &str) -> Result<Vec<Webhook>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.webhooks)
            .index_name("by_owner")
            .key_condition_expression("owner_id = :o")
            .expression_attribute_values(":o", s(owner_id))
            .scan_index_forward(false)
            // More than the cap: a listing never silently drops one.
            .limit(100)
            .send()
            .await
            .map_err(backend)?;
        out.items.unwrap_or_default().into_iter().map(from_item).collect()
    }

    async fn replace(&self, webhook: &Webhook) -> Result<bool, StoreError> {
        let r = self
            .client
            .put_item()
            .table_name(&self.webhooks)
            .set_item(Some(to_item(webhook)?))
            .condition_expression("owner_id = :o")
            .expression_attribute_values(":o", s(&webhook.owner_id))
            .send()
            .await;
        conditionally_applied(r)
    }

    async fn delete(&self, id: &str, owner_id: &str) -> Result<bool, StoreError> {
        let r = self
            .client
            .delete_item()
            .table_name(&self.webhooks)
            .key("id", s(id))
            .condition_expression("owner_id = :o")
            .expression_attribute_values(":o", s(owner_id))
            .send()
            .await;
        conditionally_applied(r)
    }

    async fn create_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError> {
        let r = self
            .client
            .put_item()
            .table_name(&self.deliveries)
            .set_item(Some(to_item(delivery)?))
            .condition_expression("attribute_not_exists(delivery_id)")
            .send()
            .await;
        conditionally_applied(r)
    }

    async fn create_deliveries(&self, deliveries: &[Delivery]) -> Result<Vec<bool>, StoreError> {
        // One read of which exist and one write (per 25) of the rest: an
        // event fans out to up to 20 endpoints, and a request each would be
        // most of the fan-out's time. Two copies of one event fanning out at
        // the very same moment may both write (a receiver dedupes by event id).
        let mut existing = std::collections::HashSet::new();
        for chunk in deliveries.chunks(100) {
            let keys: Vec<_> = chunk.iter().map(|d| delivery_key(&d.webhook_id, &d.delivery_id)).collect();
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .projection_expression("webhook_id, delivery_id")
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Backend(e.to_string()))?,
            );
            for _ in 0..5 {
                let Some(req) = request.take() else { break };
                let out =
                    self.client.batch_get_item().request_items(&self.deliveries, req).send().await.map_err(backend)?;
                for item in out.responses.and_then(|mut r| r.remove(&self.deliveries)).unwrap_or_default() {
                    if let (Some(AttributeValue::S(w)), Some(AttributeValue::S(d))) =
                        (item.get("webhook_id"), item.get("delivery_id"))
                    {
                        existing.insert((w.clone(), d.clone()));
                    }
                }
                request = out.unprocessed_keys.and_then(|mut u| u.remove(&self.deliveries));
            }
            if request.is_some() {
                return Err(StoreError::Backend("delivery keys stayed unprocessed".into()));
            }
        }
        let created: Vec<bool> =
            deliveries.iter().map(|d| !existing.contains(&(d.webhook_id.clone(), d.delivery_id.clone()))).collect();
        let new: Vec<&Delivery> = deliveries.iter().zip(&created).filter(|(_, c)| **c).map(|(d, _)| d).collect();
        for chunk in new.chunks(25) {
            let mut writes = Vec::new();
            for d in chunk {
                let put = PutRequest::builder()
                    .set_item(Some(to_item(d)?))
                    .build()
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                writes.push(WriteRequest::builder().put_request(put).build());
            }
            let mut pending = Some(writes);
            for _ in 0..5 {
                let Some(w) = pending.take().filter(|w| !w.is_empty()) else { break };
                let out =
                    self.client.batch_write_item().request_items(&self.deliveries, w).send().await.map_err(backend)?;
                pending = out.unprocessed_items.and_then(|mut u| u.remove(&self.deliveries));
            }
            if pending.is_some_and(|w| !w.is_empty()) {
                return Err(StoreError::Backend("delivery records stayed unwritten".into()));
            }
        }
        Ok(created)
    }

    async fn delivery(&self, webhook_id: &str, delivery_id: &str) -> Result<Option<Delivery>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.deliveries)
            .key("webhook_id", s(webhook_id))
            .key("delivery_id", s(delivery_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        out.item.map(from_item).transpose()
    }

    async fn record_attempt(&self, webhook_id: &str, delivery_id: &str, attempt: &Attempt) -> Result<bool, StoreError> {
        let mut set = vec!["#status = :status", "last_attempt_at = :at"];
        let mut remove = Vec::new();
        let mut values = vec![
            (":status", s(status_text(attempt.status))),
            (":at", s(&attempt.at)),
            (":one", AttributeValue::N("1".into())),
            (":delivered", s(DELIVERED)),
        ];
        let optional = [
            ("last_status_code", ":code", attempt.status_code.map(|c| AttributeValue::N(c.to_string()))),
            ("last_error", ":error", attempt.error.as_deref().map(s)),
            ("last_response", ":response", attempt.response.as_deref().map(s)),
            ("next_attempt_at", ":next", attempt.next_attempt_at.as_deref().map(s)),
            ("delivered_at", ":delivered_at", (attempt.status == DeliveryStatus::Delivered).then(|| s(&attempt.at))),
        ];
        let mut assignments = Vec::new();
        for (name, placeholder, value) in optional {
            match value {
                Some(v) => {
                    assignments.push(format!("{name} = {placeholder}"));
                    values.push((placeholder, v));
                }
                None => remove.push(name),
            }
        }
        set.extend(assignments.iter().map(String::as_str));
        let mut expression = format!("SET {} ADD attempts :one", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let mut update = self
            .client
            .update_item()
            .table_name(&self.deliveries)
            .key("webhook_id", s(webhook_id))
            .key("delivery_id", s(delivery_id))
            .update_expression(expression)
            .condition_expression("attribute_exists(delivery_id) AND #status <> :delivered")
            .expression_attribute_names("#status", "status");
        for (k, v) in values {
            update = update.expression_attribute_values(k, v);
        }
        conditionally_applied(update.send().await)
    }

    async fn deliveries(&self, webhook_id: &str, limit: i32) -> Result<Vec<Delivery>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.deliveries)
            .key_condition_expression("webhook_id = :w")
            .expression_attribute_values(":w", s(webhook_id))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(backend)?;
        out.items.unwrap_or_default().into_iter().map(from_item).collect()
    }
}
