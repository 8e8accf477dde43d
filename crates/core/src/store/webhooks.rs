//! Webhook endpoints (`webhooks`, by owner) and their delivery log
//! (`webhook-deliveries`, by endpoint, newest first, expiring). Every write
//! to an endpoint carries its owner in the condition.

use async_trait::async_trait;
use aws_sdk_dynamodb::{Client, types::AttributeValue};

use super::{
    StoreError,
    dynamo::{backend, batch_get_keys, batch_put, conditionally_applied, from_item, s, to_item},
};
use crate::webhook::{Delivery, Webhook};

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
    /// Writes log entries as they are (after attempts), in as few requests as may be.
    async fn save_deliveries(&self, deliveries: &[Delivery]) -> Result<(), StoreError>;
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

fn delivery_key(webhook_id: &str, delivery_id: &str) -> std::collections::HashMap<String, AttributeValue> {
    [("webhook_id".to_owned(), s(webhook_id)), ("delivery_id".to_owned(), s(delivery_id))].into()
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
        let keys = deliveries.iter().map(|d| delivery_key(&d.webhook_id, &d.delivery_id)).collect();
        let found = batch_get_keys(&self.client, &self.deliveries, keys, Some("webhook_id, delivery_id")).await?;
        let mut existing = std::collections::HashSet::new();
        for item in found {
            if let (Some(AttributeValue::S(w)), Some(AttributeValue::S(d))) =
                (item.get("webhook_id"), item.get("delivery_id"))
            {
                existing.insert((w.clone(), d.clone()));
            }
        }
        let created: Vec<bool> =
            deliveries.iter().map(|d| !existing.contains(&(d.webhook_id.clone(), d.delivery_id.clone()))).collect();
        let new: Vec<&Delivery> = deliveries.iter().zip(&created).filter(|(_, c)| **c).map(|(d, _)| d).collect();
        batch_put(&self.client, &self.deliveries, new.into_iter().map(to_item).collect::<Result<_, _>>()?).await?;
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

    async fn save_deliveries(&self, deliveries: &[Delivery]) -> Result<(), StoreError> {
        let items: Vec<_> = deliveries.iter().map(to_item).collect::<Result<_, _>>()?;
        batch_put(&self.client, &self.deliveries, items).await
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
