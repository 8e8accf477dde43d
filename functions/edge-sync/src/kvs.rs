//! The edge store in AWS: a CloudFront KeyValueStore, written through its
//! own API (signed with SigV4A). Every write names the store's current ETag;
//! a write that lost a race to another (ConflictException) reads it again.

use async_trait::async_trait;
use aws_sdk_cloudfrontkeyvaluestore::{Client, error::DisplayErrorContext};

use crate::EdgeStore;

/// Tries a write this many times while other writers move the ETag on.
const ATTEMPTS: u32 = 6;

pub struct KeyValueStore {
    pub client: Client,
    /// `arn:aws:cloudfront::{account}:key-value-store/{id}`.
    pub arn: String,
}

impl KeyValueStore {
    async fn etag(&self) -> Result<String, String> {
        let out = self
            .client
            .describe_key_value_store()
            .kvs_arn(&self.arn)
            .send()
            .await
            .map_err(|e| format!("cannot describe the key value store: {}", DisplayErrorContext(e)))?;
        Ok(out.e_tag().to_owned())
    }
}

async fn pause(attempt: u32) {
    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt.min(4))).await;
}

#[async_trait]
impl EdgeStore for KeyValueStore {
    async fn put(&self, key: &str, value: &str) -> Result<(), String> {
        for attempt in 1..=ATTEMPTS {
            let etag = self.etag().await?;
            match self.client.put_key().kvs_arn(&self.arn).key(key).value(value).if_match(etag).send().await {
                Ok(_) => return Ok(()),
                Err(e) if attempt < ATTEMPTS && e.as_service_error().is_some_and(|se| se.is_conflict_exception()) => {
                    pause(attempt).await;
                }
                Err(e) => return Err(format!("cannot put the key: {}", DisplayErrorContext(e))),
            }
        }
        Err("the key value store kept changing under the write".into())
    }

    async fn delete(&self, key: &str) -> Result<(), String> {
        for attempt in 1..=ATTEMPTS {
            let etag = self.etag().await?;
            match self.client.delete_key().kvs_arn(&self.arn).key(key).if_match(etag).send().await {
                Ok(_) => return Ok(()),
                Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_not_found_exception()) => {
                    return Ok(());
                }
                Err(e) if attempt < ATTEMPTS && e.as_service_error().is_some_and(|se| se.is_conflict_exception()) => {
                    pause(attempt).await;
                }
                Err(e) => return Err(format!("cannot delete the key: {}", DisplayErrorContext(e))),
            }
        }
        Err("the key value store kept changing under the delete".into())
    }
}
