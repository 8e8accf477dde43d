//! The edge-sync function: keeps CloudFront's KeyValueStore, which the media
//! edge function reads on every request, in step with the `media-access`
//! table, which the API writes.
//!
//! It takes the table's stream (new images, in order per session): a private
//! or deleted session is written as `{state}:{epoch}` under its id; a public
//! one, or a removed entry, is deleted, since no entry means public and the
//! store is small (5 MB). A record that cannot be applied stops the batch
//! there (partial batch response), so a session's later change never
//! overtakes an earlier one; Lambda retries from it, then sends it to the
//! failure queue.

use async_trait::async_trait;
use aws_lambda_events::event::{
    dynamodb::{Event, EventRecord},
    streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse},
};
use skycast_core::{
    playback::{Access, MediaState},
    store::AccessEntry,
};

/// The edge's key-value store: what the CloudFront Function reads.
#[async_trait]
pub trait EdgeStore: Send + Sync {
    async fn put(&self, key: &str, value: &str) -> Result<(), String>;
    /// Deleting a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<(), String>;
}

/// What one stream record asks of the edge store.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    Put { session_id: String, value: String },
    Delete { session_id: String },
}

/// Reads a stream record: `Err` names why it cannot be applied.
pub fn change(record: &EventRecord) -> Result<Change, String> {
    if record.event_name == "REMOVE" {
        let key: KeyOnly = serde_dynamo::from_item(record.change.keys.clone())
            .map_err(|e| format!("a removed entry without a session id: {e}"))?;
        return Ok(Change::Delete { session_id: key.session_id });
    }
    let entry: AccessEntry = serde_dynamo::from_item(record.change.new_image.clone())
        .map_err(|e| format!("an access entry that does not read (the table needs NEW_IMAGE): {e}"))?;
    if !skycast_core::ids::is_id(&entry.session_id) {
        return Err("an access entry whose key is not a session id".into());
    }
    Ok(match entry.access() {
        Access { state: MediaState::Public, .. } => Change::Delete { session_id: entry.session_id },
        access => Change::Put { session_id: entry.session_id, value: access.encode() },
    })
}

#[derive(serde::Deserialize)]
struct KeyOnly {
    session_id: String,
}

pub struct EdgeSync<S> {
    pub store: S,
}

impl<S: EdgeStore> EdgeSync<S> {
    /// Applies a batch in order; the first record that fails, and every one
    /// after it, is reported for a retry.
    pub async fn handle(&self, event: Event) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        for record in &event.records {
            let sequence = record.change.sequence_number.clone();
            let span = tracing::info_span!("record", event_id = %record.event_id, sequence = ?sequence);
            let outcome = {
                use tracing::Instrument;
                self.apply(record).instrument(span.clone()).await
            };
            if let Err(reason) = outcome {
                let _entered = span.enter();
                tracing::warn!(%reason, "access entry not applied at the edge; retrying from here");
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = sequence;
                response.batch_item_failures.push(failure);
                break;
            }
        }
        // A failure is the one record reported; Lambda retries the batch from
        // it, so it and the records after it are counted again then.
        skycast_http::metrics::emit_batch(event.records.len(), response.batch_item_failures.len());
        response
    }

    async fn apply(&self, record: &EventRecord) -> Result<(), String> {
        match change(record)? {
            Change::Put { session_id, value } => {
                self.store.put(&session_id, &value).await?;
                tracing::info!(%session_id, %value, "edge access set");
            }
            Change::Delete { session_id } => {
                self.store.delete(&session_id).await?;
                tracing::info!(%session_id, "edge access cleared (public)");
            }
        }
        Ok(())
    }
}

pub mod kvs;

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// The edge store in memory, with a switch to fail its writes.
    #[derive(Default)]
    struct Memory {
        keys: Mutex<std::collections::BTreeMap<String, String>>,
        fail_on: Mutex<Option<String>>,
    }

    #[async_trait]
    impl EdgeStore for &Memory {
        async fn put(&self, key: &str, value: &str) -> Result<(), String> {
            if self.fail_on.lock().unwrap().as_deref() == Some(key) {
                return Err("throttled".into());
            }
            self.keys.lock().unwrap().insert(key.into(), value.into());
            Ok(())
        }
        async fn delete(&self, key: &str) -> Result<(), String> {
            self.keys.lock().unwrap().remove(key);
            Ok(())
        }
    }

    const A: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    const B: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c";

    /// A stream record as Lambda delivers it (DynamoDB JSON).
    fn record(seq: u32, name: &str, session: &str, image: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "eventID": format!("e{seq}"), "eventName": name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1767225600, "Keys": {"session_id": {"S": session}},
                "NewImage": image, "SequenceNumber": format!("{seq:021}"), "SizeBytes": 60,
                "StreamViewType": "NEW_IMAGE"
            }
        })
    }

    fn image(session: &str, stream: Option<&str>, video: Option<&str>, epoch: u64) -> serde_json::Value {
        let mut i =
            serde_json::json!({"session_id": {"S": session}, "stream_id": {"S": B}, "epoch": {"N": epoch.to_string()}});
        if let Some(s) = stream {
            i["stream"] = serde_json::json!({"S": s});
        }
        if let Some(v) = video {
            i["video"] = serde_json::json!({"S": v});
        }
        i
    }

    fn event(records: Vec<serde_json::Value>) -> Event {
        serde_json::from_value(serde_json::json!({ "Records": records })).expect("a DynamoDB stream event")
    }

    #[tokio::test]
    async fn private_and_gone_are_written_public_is_cleared_in_order() {
        let memory = Memory::default();
        let sync = EdgeSync { store: &memory };
        let r = sync
            .handle(event(vec![
                record(1, "INSERT", A, image(A, Some("private"), None, 1)),
                record(2, "INSERT", B, image(B, Some("public"), None, 0)),
            ]))
            .await;
        assert!(r.batch_item_failures.is_empty());
        assert_eq!(memory.keys.lock().unwrap().get(A).map(String::as_str), Some("private:1"));
        assert!(!memory.keys.lock().unwrap().contains_key(B), "public needs no entry");

        sync.handle(event(vec![
            record(3, "MODIFY", A, image(A, Some("private"), Some("public"), 1)),
            record(4, "MODIFY", B, image(B, Some("public"), Some("gone"), 1)),
        ]))
        .await;
        assert!(!memory.keys.lock().unwrap().contains_key(A), "a video made public clears it");
        assert_eq!(memory.keys.lock().unwrap().get(B).map(String::as_str), Some("gone:1"));
        sync.handle(event(vec![record(5, "REMOVE", B, serde_json::json!({}))])).await;
        assert!(memory.keys.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failed_write_stops_the_batch_there_so_nothing_overtakes_it() {
        let memory = Memory::default();
        *memory.fail_on.lock().unwrap() = Some(A.into());
        let sync = EdgeSync { store: &memory };
        let r = sync
            .handle(event(vec![
                record(1, "MODIFY", B, image(B, Some("private"), None, 2)),
                record(2, "MODIFY", A, image(A, Some("private"), None, 3)),
                record(3, "MODIFY", B, image(B, Some("private"), Some("gone"), 3)),
            ]))
            .await;
        let failed: Vec<_> = r.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
        assert_eq!(failed, [Some(format!("{:021}", 2))], "retry from the failed record");
        assert_eq!(memory.keys.lock().unwrap().get(B).map(String::as_str), Some("private:2"), "not overtaken");
        // A bad image is a failure too, never a panic.
        let r = sync.handle(event(vec![record(9, "MODIFY", B, serde_json::json!({"epoch": {"N": "x"}}))])).await;
        assert_eq!(r.batch_item_failures.len(), 1);
    }
}
