//! The counters and quota sets behind [`crate::limits`], in one table:
//! `rate#…` counters and `seen#…` markers expire through the TTL attribute;
//! `quota#{user}` items hold, per quota, the set of ids the user holds.

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    types::{AttributeValue, ReturnValue},
};

use super::{
    StoreError,
    dynamo::{backend, conditionally_applied, s},
};
use crate::limits::Quota;

#[async_trait]
pub trait LimitStore: Send + Sync {
    /// A counter's value (0 when absent or expired).
    async fn count(&self, key: &str, now: i64) -> Result<u32, StoreError>;
    /// Adds one to a counter; returns its new value.
    async fn hit(&self, key: &str, expires_at: i64) -> Result<u32, StoreError>;
    /// Marks `key` seen until `expires_at`; `true` the first time.
    async fn first_sight(&self, key: &str, expires_at: i64, now: i64) -> Result<bool, StoreError>;
    /// Adds `id` to the user's `quota` set if it holds fewer than `max`, or
    /// holds `id` already (a retried claim); `false` when full.
    async fn claim(&self, user_id: &str, quota: Quota, id: &str, max: u32) -> Result<bool, StoreError>;
    /// Takes `id` out of the set; idempotent.
    async fn release(&self, user_id: &str, quota: Quota, id: &str) -> Result<(), StoreError>;
    /// The ids the set holds.
    async fn held(&self, user_id: &str, quota: Quota) -> Result<Vec<String>, StoreError>;
}

pub struct DynamoLimitStore {
    client: Client,
    table: String,
}

impl DynamoLimitStore {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }
}

fn quota_key(user_id: &str) -> String {
    format!("quota#{user_id}")
}

fn number(item: Option<&AttributeValue>) -> i64 {
    item.and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[async_trait]
impl LimitStore for DynamoLimitStore {
    async fn count(&self, key: &str, now: i64) -> Result<u32, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("key", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let Some(item) = out.item else { return Ok(0) };
        // DynamoDB's TTL deletes late: an expired counter counts nothing.
        if number(item.get("expires_at")) <= now {
            return Ok(0);
        }
        Ok(number(item.get("n")).clamp(0, i64::from(u32::MAX)) as u32)
    }

    async fn hit(&self, key: &str, expires_at: i64) -> Result<u32, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(key))
            .update_expression("ADD n :one SET expires_at = :exp")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":exp", AttributeValue::N(expires_at.to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(backend)?;
        let n = number(out.attributes.as_ref().and_then(|a| a.get("n")));
        Ok(n.clamp(0, i64::from(u32::MAX)) as u32)
    }

    async fn first_sight(&self, key: &str, expires_at: i64, now: i64) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(key))
            .update_expression("SET expires_at = :exp")
            // A marker whose time is up (TTL deletes late) counts as unseen.
            .condition_expression("attribute_not_exists(expires_at) OR expires_at <= :now")
            .expression_attribute_values(":exp", AttributeValue::N(expires_at.to_string()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await;
        conditionally_applied(result)
    }

    async fn claim(&self, user_id: &str, quota: Quota, id: &str, max: u32) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(quota_key(user_id)))
            .update_expression("ADD #q :id")
            .condition_expression("attribute_not_exists(#q) OR size(#q) < :max OR contains(#q, :one)")
            .expression_attribute_names("#q", quota.as_str())
            .expression_attribute_values(":id", AttributeValue::Ss(vec![id.to_owned()]))
            .expression_attribute_values(":one", s(id))
            .expression_attribute_values(":max", AttributeValue::N(max.to_string()))
            .send()
            .await;
        conditionally_applied(result)
    }

    async fn release(&self, user_id: &str, quota: Quota, id: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("key", s(quota_key(user_id)))
            .update_expression("DELETE #q :id")
            .expression_attribute_names("#q", quota.as_str())
            .expression_attribute_values(":id", AttributeValue::Ss(vec![id.to_owned()]))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn held(&self, user_id: &str, quota: Quota) -> Result<Vec<String>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("key", s(quota_key(user_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let set = out.item.and_then(|mut i| i.remove(quota.as_str()));
        Ok(match set {
            Some(AttributeValue::Ss(ids)) => ids,
            _ => Vec::new(),
        })
    }
}
