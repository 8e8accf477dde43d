//! Recordings. The recorder claims a recording with a conditional write
//! and a lease before it writes anything, so a job delivered twice, or twice
//! at once, is worked on once; a lease that outlives its worker (a crashed
//! Lambda) expires and the next delivery takes over.

use async_trait::async_trait;
use aws_sdk_dynamodb::{Client, types::AttributeValue};

use super::{
    StoreError,
    dynamo::{backend, conditionally_applied, from_item, is_condition_failed, s, to_item},
};
use crate::recording::{Recording, RecordingStatus};

/// What a claim found.
#[derive(Debug)]
pub enum Claim {
    /// Ours until `complete` or `fail`, or until the lease runs out.
    Claimed(Box<Recording>),
    /// Already made: nothing to do.
    Done(Box<Recording>),
    /// Another worker holds it now.
    Busy,
}

/// What a finished recording is.
#[derive(Debug, Clone)]
pub struct Finished {
    pub size_bytes: u64,
    pub duration_s: f64,
    pub video_id: String,
}

#[async_trait]
pub trait RecordingStore: Send + Sync {
    /// Creates the recording if there is none; `false` if it existed.
    async fn create(&self, recording: &Recording) -> Result<bool, StoreError>;
    async fn get(&self, stream_id: &str, session_id: &str) -> Result<Option<Recording>, StoreError>;
    /// Takes the recording for `token` until `now_s + lease_s`, creating it
    /// if the job came first. A failed recording may be claimed again (a job
    /// redriven from the dead-letter queue).
    async fn claim(
        &self,
        stream_id: &str,
        session_id: &str,
        token: &str,
        now_s: i64,
        lease_s: i64,
        now: &str,
    ) -> Result<Claim, StoreError>;
    /// processing → ready, if `token` still holds it.
    async fn complete(
        &self,
        stream_id: &str,
        session_id: &str,
        token: &str,
        finished: &Finished,
        now: &str,
    ) -> Result<bool, StoreError>;
    /// Records why an attempt failed and releases the claim; a last attempt
    /// (`give_up`) leaves the recording failed.
    async fn fail(
        &self,
        stream_id: &str,
        session_id: &str,
        token: &str,
        reason: &str,
        give_up: bool,
        now: &str,
    ) -> Result<bool, StoreError>;
    async fn mark_job_sent(&self, stream_id: &str, session_id: &str) -> Result<(), StoreError>;
    /// A stream's recordings, newest first.
    async fn list(&self, stream_id: &str, limit: usize) -> Result<Vec<Recording>, StoreError>;
}

pub struct DynamoRecordingStore {
    client: Client,
    table: String,
}

impl DynamoRecordingStore {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    fn key(&self, stream_id: &str, session_id: &str) -> [(String, AttributeValue); 2] {
        [("stream_id".to_owned(), s(stream_id)), ("session_id".to_owned(), s(session_id))]
    }
}

#[async_trait]
impl RecordingStore for DynamoRecordingStore {
    async fn create(&self, recording: &Recording) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(recording)?))
            .condition_expression("attribute_not_exists(session_id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.as_service_error(), Some(se) if se.is_conditional_check_failed_exception()) => {
                Ok(false)
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn get(&self, stream_id: &str, session_id: &str) -> Result<Option<Recording>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(stream_id, session_id).into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        out.item.map(from_item).transpose()
    }

    async fn claim(
        &self,
        stream_id: &str,
        session_id: &str,
        token: &str,
        now_s: i64,
        lease_s: i64,
        now: &str,
    ) -> Result<Claim, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(stream_id, session_id).into()))
            .update_expression(
                "SET #status = :processing, lease_token = :token, lease_until = :until, updated_at = :now, \
                 created_at = if_not_exists(created_at, :now), attempts = if_not_exists(attempts, :zero) + :one",
            )
            .condition_expression(
                "attribute_not_exists(session_id) OR #status = :failed OR \
                 (#status = :processing AND (attribute_not_exists(lease_until) OR lease_until < :now_s))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":processing", s(RecordingStatus::Processing.as_str()))
            .expression_attribute_values(":failed", s(RecordingStatus::Failed.as_str()))
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":until", AttributeValue::N((now_s + lease_s).to_string()))
            .expression_attribute_values(":now_s", AttributeValue::N(now_s.to_string()))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out.attributes.ok_or_else(|| StoreError::Malformed("claim returned no item".into()))?;
                Ok(Claim::Claimed(Box::new(from_item(item)?)))
            }
            Err(e) if is_condition_failed(&e) => match self.get(stream_id, session_id).await? {
                Some(r) if r.status == RecordingStatus::Ready => Ok(Claim::Done(Box::new(r))),
                _ => Ok(Claim::Busy),
            },
            Err(e) => Err(backend(e)),
        }
    }

    async fn complete(
        &self,
        stream_id: &str,
        session_id: &str,
        token: &str,
        finished: &Finished,
        now: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(stream_id, session_id).into()))
            .update_expression(
                "SET #status = :ready, size_bytes = :size, duration_s = :duration, video_id = :video, \
                 updated_at = :now REMOVE lease_token, lease_until, reason",
            )
            .condition_expression("lease_token = :token")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":ready", s(RecordingStatus::Ready.as_str()))
            .expression_attribute_values(":size", AttributeValue::N(finished.size_bytes.to_string()))
            .expression_attribute_values(":duration", AttributeValue::N(format!("{:.3}", finished.duration_s)))
            .expression_attribute_values(":video", s(&finished.video_id))
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":now", s(now))
            .send()
            .await;
        conditionally_applied(result)
    }

    async fn fail(
        &self,
        stream_id: &str,
        session_id: &str,
        token: &str,
        reason: &str,
        give_up: bool,
        now: &str,
    ) -> Result<bool, StoreError> {
        let status = if give_up { RecordingStatus::Failed } else { RecordingStatus::Processing };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(stream_id, session_id).into()))
            .update_expression(
                "SET #status = :status, reason = :reason, updated_at = :now REMOVE lease_token, lease_until",
            )
            .condition_expression("lease_token = :token")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":reason", s(reason))
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":now", s(now))
            .send()
            .await;
        conditionally_applied(result)
    }

    async fn mark_job_sent(&self, stream_id: &str, session_id: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(stream_id, session_id).into()))
            .update_expression("SET job_sent = :t")
            .condition_expression("attribute_exists(session_id)")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await
            .map(|_| ())
            .or_else(|e| if is_condition_failed(&e) { Ok(()) } else { Err(backend(e)) })
    }

    async fn list(&self, stream_id: &str, limit: usize) -> Result<Vec<Recording>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("stream_id = :s")
            .expression_attribute_values(":s", s(stream_id))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(backend)?;
        out.items.unwrap_or_default().into_iter().map(from_item).collect()
    }
}
