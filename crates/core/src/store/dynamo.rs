//! Helpers shared by the DynamoDB stores.

use std::collections::HashMap;

use aws_sdk_dynamodb::{
    Client,
    error::{DisplayErrorContext, SdkError},
    types::{AttributeValue, Put, TransactWriteItem},
};
use serde::{Serialize, de::DeserializeOwned};

use super::{ReadyCheck, StoreError};
use crate::config::TableNames;

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn backend<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Backend(DisplayErrorContext(e).to_string())
}

pub(super) fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Malformed(e.to_string()))
}

pub(super) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Malformed(e.to_string()))
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// Whether an SDK error is a failed condition (the expected outcome of a
/// conditional write that lost, not a fault).
pub(super) fn is_condition_failed<R>(
    e: &SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError, R>,
) -> bool {
    matches!(e.as_service_error(), Some(se) if se.is_conditional_check_failed_exception())
}

/// A conditional update's outcome: `true` if applied, `false` if its
/// condition did not hold (stale, duplicate, or not this session's).
pub(super) fn conditionally_applied<O, R: std::fmt::Debug>(
    result: Result<O, SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError, R>>,
) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failed(&e) => Ok(false),
        Err(e) => Err(backend(e)),
    }
}

/// A strongly consistent read of one item by its partition key.
pub(super) async fn get_consistent<T: DeserializeOwned>(
    client: &Client,
    table: &str,
    key: &str,
    value: String,
) -> Result<Option<T>, StoreError> {
    let out =
        client.get_item().table_name(table).key(key, s(value)).consistent_read(true).send().await.map_err(backend)?;
    out.item.map(from_item).transpose()
}

/// One page of an index, newest (highest sort key) first. The cursor holds
/// the index's key attributes as strings; `numeric` names those that are
/// numbers in DynamoDB.
pub(super) async fn query_index_page<T: DeserializeOwned>(
    client: &Client,
    table: &str,
    index: &str,
    hash: (&str, String),
    numeric: &[&str],
    start: Option<crate::page::CursorKey>,
    limit: usize,
) -> Result<(Vec<T>, Option<crate::page::CursorKey>), StoreError> {
    let mut req = client
        .query()
        .table_name(table)
        .index_name(index)
        .key_condition_expression("#h = :h")
        .expression_attribute_names("#h", hash.0)
        .expression_attribute_values(":h", s(hash.1))
        .scan_index_forward(false)
        .limit(limit.clamp(1, 1000) as i32);
    if let Some(start) = start {
        let key: Item = start
            .into_iter()
            .map(|(k, v)| {
                let value = if numeric.contains(&k.as_str()) { AttributeValue::N(v) } else { s(v) };
                (k, value)
            })
            .collect();
        req = req.set_exclusive_start_key(Some(key));
    }
    let out = req.send().await.map_err(backend)?;
    let items = out.items.unwrap_or_default().into_iter().map(from_item).collect::<Result<Vec<T>, _>>()?;
    let next = out.last_evaluated_key.map(|k| {
        k.into_iter()
            .filter_map(|(name, v)| match v {
                AttributeValue::S(s) | AttributeValue::N(s) => Some((name, s)),
                _ => None,
            })
            .collect()
    });
    Ok((items, next))
}

/// A transaction step that writes `item` only if nothing has its key `pk`.
pub(super) fn put_if_absent(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

pub(super) struct TablesReady {
    client: Client,
    tables: Vec<String>,
}

impl TablesReady {
    pub(super) fn new(client: Client, t: &TableNames) -> Self {
        let tables = vec![
            t.users.clone(),
            t.refresh_tokens.clone(),
            t.streams.clone(),
            t.ingest_nodes.clone(),
            t.port_leases.clone(),
            t.recordings.clone(),
            t.videos.clone(),
            t.video_likes.clone(),
        ];
        Self { client, tables }
    }
}

#[async_trait::async_trait]
impl ReadyCheck for TablesReady {
    async fn check(&self) -> Result<(), String> {
        for table in &self.tables {
            let out = self
                .client
                .describe_table()
                .table_name(table)
                .send()
                .await
                .map_err(|e| format!("table {table}: {}", DisplayErrorContext(e)))?;
            let status = out.table().and_then(|t| t.table_status());
            if !matches!(status, Some(aws_sdk_dynamodb::types::TableStatus::Active)) {
                return Err(format!("table {table} is not active"));
            }
        }
        Ok(())
    }
}
