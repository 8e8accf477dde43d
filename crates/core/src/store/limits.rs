//! The counters and quota sets behind [`crate::limits`], in one table:
//! `rate#…` counters and `seen#…` markers expire through the TTL attribute;
//! `quota#{user}` items hold, per quota, a map of the ids the user holds to
//! when each was claimed.

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    types::{AttributeValue, ReturnValue},
};

use super::{
    StoreError,
    dynamo::{backend, batch_get, conditionally_applied, s},
};
use crate::limits::Quota;

#[async_trait]
pub trait LimitStore: Send + Sync {
    /// Adds `delta` (one, or minus one to take a count back) to a counter;
    /// returns its new value.
    async fn add(&self, key: &str, delta: i64, expires_at: i64) -> Result<u32, StoreError>;
    /// The current values of counters (those that exist; absent ones are 0).
    async fn counts(&self, keys: &[String]) -> Result<std::collections::HashMap<String, u32>, StoreError>;
    /// Marks `key` seen until `expires_at`; `true` the first time.
    async fn first_sight(&self, key: &str, expires_at: i64, now: i64) -> Result<bool, StoreError>;
    /// Adds `id` (claimed at `now`) to the user's `quota` if it holds fewer
    /// than `max`, or holds `id` already (a retried claim); `false` when full.
    async fn claim(&self, user_id: &str, quota: Quota, id: &str, max: u32, now: i64) -> Result<bool, StoreError>;
    /// Takes `id` out of the quota; idempotent.
    async fn release(&self, user_id: &str, quota: Quota, id: &str) -> Result<(), StoreError>;
    /// The ids the quota holds, with when each was claimed.
    async fn held(&self, user_id: &str, quota: Quota) -> Result<Vec<(String, i64)>, StoreError>;
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
    async fn add(&self, key: &str, delta: i64, expires_at: i64) -> Result<u32, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(key))
            .update_expression("ADD n :d SET expires_at = :exp")
            .expression_attribute_values(":d", AttributeValue::N(delta.to_string()))
            .expression_attribute_values(":exp", AttributeValue::N(expires_at.to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(backend)?;
        let n = number(out.attributes.as_ref().and_then(|a| a.get("n")));
        Ok(n.clamp(0, i64::from(u32::MAX)) as u32)
    }

    async fn counts(&self, keys: &[String]) -> Result<std::collections::HashMap<String, u32>, StoreError> {
        let wanted: Vec<&str> = keys.iter().map(String::as_str).collect();
        let items = batch_get(&self.client, &self.table, "key", &wanted).await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let key = item.get("key").and_then(|v| v.as_s().ok())?;
                Some((key.clone(), number(item.get("n")).clamp(0, i64::from(u32::MAX)) as u32))
            })
            .collect())
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

    async fn claim(&self, user_id: &str, quota: Quota, id: &str, max: u32, now: i64) -> Result<bool, StoreError> {
        // The map must exist before a path inside it can be set.
        self.client
            .update_item()
            .table_name(&self.table)
            .key("key", s(quota_key(user_id)))
            .update_expression("SET #q = if_not_exists(#q, :empty)")
            .expression_attribute_names("#q", quota.as_str())
            .expression_attribute_values(":empty", AttributeValue::M(Default::default()))
            .send()
            .await
            .map_err(backend)?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(quota_key(user_id)))
            .update_expression("SET #q.#id = if_not_exists(#q.#id, :now)")
            .condition_expression("size(#q) < :max OR attribute_exists(#q.#id)")
            .expression_attribute_names("#q", quota.as_str())
            .expression_attribute_names("#id", id)
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":max", AttributeValue::N(max.to_string()))
            .send()
            .await;
        conditionally_applied(result)
    }

    async fn release(&self, user_id: &str, quota: Quota, id: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(quota_key(user_id)))
            .update_expression("REMOVE #q.#id")
            .condition_expression("attribute_exists(#q)")
            .expression_attribute_names("#q", quota.as_str())
            .expression_attribute_names("#id", id)
            .send()
            .await;
        conditionally_applied(result).map(|_| ())
    }

    async fn held(&self, user_id: &str, quota: Quota) -> Result<Vec<(String, i64)>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("key", s(quota_key(user_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let map = out.item.and_then(|mut i| i.remove(quota.as_str()));
        Ok(match map {
            Some(AttributeValue::M(ids)) => ids.into_iter().map(|(id, at)| (id, number(Some(&at)))).collect(),
            _ => Vec::new(),
        })
    }
}

/// The platform's figures of a day (UTC), for `GET /stats`: counters in the
/// limits table, kept eight days. Each is bumped where the change happens
/// once (a conditional write that applied), so a duplicate message does not
/// count twice; one lost between its write and its count is not counted.
#[derive(Clone)]
pub struct DailyCounters {
    limits: std::sync::Arc<dyn LimitStore>,
}

/// What is counted per day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daily {
    /// Sessions that went live.
    Sessions,
    /// Recordings started (a job sent for an ended session).
    Recordings,
    RecordingsReady,
    RecordingsFailed,
}

impl Daily {
    pub const ALL: [Daily; 4] = [Self::Sessions, Self::Recordings, Self::RecordingsReady, Self::RecordingsFailed];

    fn name(self) -> &'static str {
        match self {
            Self::Sessions => "sessions",
            Self::Recordings => "recordings",
            Self::RecordingsReady => "recordings_ready",
            Self::RecordingsFailed => "recordings_failed",
        }
    }

    /// The counter's key for the day `now` falls in.
    pub fn key(self, now: i64) -> String {
        format!("stats#{}#{}", self.name(), now.div_euclid(86_400))
    }
}

const KEEP_DAILY_S: i64 = 8 * 86_400;

impl DailyCounters {
    pub fn new(limits: std::sync::Arc<dyn LimitStore>) -> Self {
        Self { limits }
    }

    pub async fn bump(&self, what: Daily) -> Result<(), StoreError> {
        let now = crate::timefmt::unix_now();
        self.limits.add(&what.key(now), 1, now + KEEP_DAILY_S).await.map(|_| ())
    }

    /// Today's figures, in the order of [`Daily::ALL`].
    pub async fn today(&self) -> Result<[u64; 4], StoreError> {
        let now = crate::timefmt::unix_now();
        let keys: Vec<String> = Daily::ALL.iter().map(|d| d.key(now)).collect();
        let values = self.limits.counts(&keys).await?;
        Ok(Daily::ALL.map(|d| u64::from(values.get(&d.key(now)).copied().unwrap_or(0))))
    }
}
