//! Helpers shared by the DynamoDB stores.

use std::collections::HashMap;

use aws_sdk_dynamodb::{
    Client,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    operation::transact_write_items::TransactWriteItemsError,
    types::{AttributeValue, KeysAndAttributes, Put, PutRequest, TransactWriteItem, WriteRequest},
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

/// The items whose key attribute `key` is one of `keys` (those that exist),
/// read consistently 100 at a time (see [`batch_get_keys`]).
pub(super) async fn batch_get(client: &Client, table: &str, key: &str, keys: &[&str]) -> Result<Vec<Item>, StoreError> {
    let mut unique = keys.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let keys: Vec<Item> = unique.iter().map(|k| [(key.to_owned(), s(*k))].into()).collect();
    batch_get_keys(client, table, keys, None).await
}

/// The items with these keys (each once; those that exist), read
/// consistently 100 at a time, only `projection`'s attributes if given;
/// keys left unprocessed (throttling) are asked for again, with backoff, a
/// few times before it gives up.
pub(super) async fn batch_get_keys(
    client: &Client,
    table: &str,
    keys: Vec<Item>,
    projection: Option<&str>,
) -> Result<Vec<Item>, StoreError> {
    let mut out = Vec::new();
    for chunk in keys.chunks(100) {
        let mut request = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(chunk.to_vec()))
                .set_projection_expression(projection.map(str::to_owned))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Backend(e.to_string()))?,
        );
        for attempt in 0..5u32 {
            let Some(req) = request.take() else { break };
            if attempt > 0 {
                tokio::time::sleep(contention_backoff(attempt)).await;
            }
            let res = client.batch_get_item().request_items(table, req).send().await.map_err(backend)?;
            out.extend(res.responses.and_then(|mut r| r.remove(table)).unwrap_or_default());
            request = res.unprocessed_keys.and_then(|mut u| u.remove(table));
        }
        if request.is_some() {
            return Err(StoreError::Backend(format!("{table}: keys stayed unprocessed")));
        }
    }
    Ok(out)
}

/// Puts `items` 25 a request (DynamoDB's most), sending again what it
/// leaves unprocessed, with backoff, a few times before it gives up. Each
/// item is written whole; a request may not name one key twice.
pub(super) async fn batch_put(client: &Client, table: &str, items: Vec<Item>) -> Result<(), StoreError> {
    for chunk in items.chunks(25) {
        let mut pending: Option<Vec<WriteRequest>> = Some(
            chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder().set_item(Some(item.clone())).build();
                    put.map(|p| WriteRequest::builder().put_request(p).build())
                })
                .collect::<Result<_, _>>()
                .map_err(|e| StoreError::Backend(e.to_string()))?,
        );
        for attempt in 0..5u32 {
            let Some(w) = pending.take().filter(|w| !w.is_empty()) else { break };
            if attempt > 0 {
                tokio::time::sleep(contention_backoff(attempt)).await;
            }
            let res = client.batch_write_item().request_items(table, w).send().await.map_err(backend)?;
            pending = res.unprocessed_items.and_then(|mut u| u.remove(table));
        }
        if pending.is_some_and(|w| !w.is_empty()) {
            return Err(StoreError::Backend(format!("{table}: items stayed unwritten")));
        }
    }
    Ok(())
}

/// Whether an SDK error is a failed condition (the expected outcome of a
/// conditional write that lost, not a fault).
/// Any single-item write (put, update, delete) can fail this way.
pub(super) fn is_condition_failed<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(ProvideErrorMetadata::code) == Some("ConditionalCheckFailedException")
}

/// A conditional update's outcome: `true` if applied, `false` if its
/// condition did not hold (stale, duplicate, or not this session's).
pub(super) fn conditionally_applied<O, E, R>(result: Result<O, SdkError<E, R>>) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failed(&e) => Ok(false),
        Err(e) => Err(backend(e)),
    }
}

/// Why a transaction was cancelled, from its per-item cancellation reasons.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Cancelled {
    /// Another transaction held an item, or DynamoDB throttled one: nothing
    /// was decided, so the same transaction is to be sent again.
    Contended,
    /// These items' (0-based, in the order sent) conditions did not hold.
    Conditions(Vec<usize>),
}

/// Classifies the reason codes DynamoDB gives per item (`None` for an item
/// that was fine). A contended item wins over a failed condition: the
/// condition was evaluated against state that was about to change.
pub(super) fn classify_cancellation(codes: &[Option<&str>]) -> Cancelled {
    let contended = codes
        .iter()
        .flatten()
        .any(|c| matches!(*c, "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"));
    if contended {
        return Cancelled::Contended;
    }
    Cancelled::Conditions(
        codes.iter().enumerate().filter(|(_, c)| *c == &Some("ConditionalCheckFailed")).map(|(i, _)| i).collect(),
    )
}

type TransactError = SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>;

/// Why a transaction failed: cancelled (with the reasons), or any other error.
pub(super) enum TransactFailure {
    Cancelled(Vec<usize>),
    Other(Box<TransactError>),
}

/// Tries a transaction this many times while it is contended.
const CONTENDED_ATTEMPTS: u32 = 8;

/// A pause before retry `attempt` (1-based): exponential from 10 ms, capped at
/// 320 ms, with full jitter so racing writers spread out.
pub(super) fn contention_backoff(attempt: u32) -> std::time::Duration {
    let cap_ms = 10u64 << attempt.min(5);
    let mut r = [0u8; 2];
    let random = if aws_lc_rs::rand::fill(&mut r).is_ok() { u64::from(u16::from_be_bytes(r)) } else { 0x8000 };
    std::time::Duration::from_millis(1 + cap_ms * random / 0xffff)
}

/// Sends the transaction `build` makes, again (with jittered backoff) while
/// another transaction or throttling cancels it, so a concurrent like, view or
/// token rotation is delayed, never lost or refused.
pub(super) async fn transact(
    build: impl Fn() -> aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder,
) -> Result<(), TransactFailure> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let err = match build().send().await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let cancelled = match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                let codes: Vec<Option<&str>> = c.cancellation_reasons().iter().map(|r| r.code()).collect();
                Some(classify_cancellation(&codes))
            }
            Some(TransactWriteItemsError::TransactionInProgressException(_)) => Some(Cancelled::Contended),
            _ => None,
        };
        match cancelled {
            Some(Cancelled::Contended) if attempt < CONTENDED_ATTEMPTS => {
                tokio::time::sleep(contention_backoff(attempt)).await;
            }
            Some(Cancelled::Conditions(failed)) => return Err(TransactFailure::Cancelled(failed)),
            _ => return Err(TransactFailure::Other(Box::new(err))),
        }
    }
}

/// Sends an update again while another transaction holds its item
/// (`TransactionConflictException`), as [`transact`] does for transactions.
pub(super) async fn update_contended(
    build: impl Fn() -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
) -> Result<
    aws_sdk_dynamodb::operation::update_item::UpdateItemOutput,
    SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError, aws_sdk_dynamodb::config::http::HttpResponse>,
> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match build().send().await {
            Err(e)
                if attempt < CONTENDED_ATTEMPTS
                    && e.as_service_error().is_some_and(|se| se.is_transaction_conflict_exception()) =>
            {
                tokio::time::sleep(contention_backoff(attempt)).await;
            }
            other => return other,
        }
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
    pub(super) fn new(client: Client, tables: Vec<String>) -> Self {
        Self { client, tables }
    }

    /// Every table of the stack.
    pub(super) fn all(client: Client, t: &TableNames) -> Self {
        let tables = vec![
            t.users.clone(),
            t.refresh_tokens.clone(),
            t.streams.clone(),
            t.ingest_nodes.clone(),
            t.recordings.clone(),
            t.videos.clone(),
            t.video_likes.clone(),
            t.media_access.clone(),
            t.limits.clone(),
            t.relay_sessions.clone(),
            t.webhooks.clone(),
            t.webhook_deliveries.clone(),
        ];
        Self { client, tables }
    }
}

#[async_trait::async_trait]
impl ReadyCheck for TablesReady {
    /// The reason names the table, never an ARN or the SDK's error text
    /// (those go to the log): `/ready` answers anyone.
    async fn check(&self) -> Result<(), String> {
        for table in &self.tables {
            let out = match self.client.describe_table().table_name(table).send().await {
                Ok(out) => out,
                Err(e) => {
                    tracing::warn!(%table, error = %DisplayErrorContext(e), "readiness: table not reachable");
                    return Err(format!("table {table} is not reachable"));
                }
            };
            let status = out.table().and_then(|t| t.table_status());
            if !matches!(status, Some(aws_sdk_dynamodb::types::TableStatus::Active)) {
                return Err(format!("table {table} is not active"));
            }
        }
        Ok(())
    }
}
