//! Streams. Every write that only the owner may make carries the ownership
//! check in its condition expression, so a check and its write cannot race.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::{Client, types::AttributeValue};
use serde::{Deserialize, Serialize};

use super::{
    StoreError,
    dynamo::{Item, backend, from_item, is_condition_failed, s, to_item},
};
use crate::{
    page::CursorKey,
    stream::{Stream, StreamPatch},
};

/// Which index a listing reads, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamIndex {
    ByOwner(String),
    ByStatus(String),
    /// Every stream, for the public directory.
    All,
}

impl StreamIndex {
    fn name(&self) -> &'static str {
        match self {
            Self::ByOwner(_) => "by_owner",
            Self::ByStatus(_) => "by_status",
            Self::All => "by_recency",
        }
    }

    fn hash_key(&self) -> (&'static str, String) {
        match self {
            Self::ByOwner(o) => ("owner_id", o.clone()),
            Self::ByStatus(st) => ("status", st.clone()),
            Self::All => ("collection", COLLECTION.to_owned()),
        }
    }

    /// The attributes that locate an item in this index: what a cursor holds.
    pub fn cursor_attributes(&self) -> [&'static str; 2] {
        ["id", self.hash_key().0]
    }

    /// Whether `cursor` is a position in this very listing. DynamoDB rejects
    /// a start key from another partition, so a cursor replayed on another
    /// listing must be refused here, as the client's error it is.
    pub fn accepts(&self, cursor: &CursorKey) -> bool {
        let (name, value) = self.hash_key();
        cursor.get(name) == Some(&value) && cursor.get("id").is_some_and(|id| crate::ids::is_id(id))
    }

    /// The cursor that resumes a listing after `stream`.
    pub fn cursor_after(&self, stream: &Stream) -> CursorKey {
        let (name, value) = self.hash_key();
        [("id".to_owned(), stream.id.clone()), (name.to_owned(), value)].into()
    }
}

const COLLECTION: &str = "streams";

#[derive(Debug)]
pub enum KeyRotation {
    Rotated(Box<Stream>),
    NotFound,
    /// A listener holds the current key; it may not change now.
    OnAir,
}

#[async_trait]
pub trait StreamStore: Send + Sync {
    async fn create(&self, stream: &Stream) -> Result<(), StoreError>;
    async fn get(&self, id: &str) -> Result<Option<Stream>, StoreError>;
    /// `None` when the stream does not exist or `owner_id` does not own it.
    async fn update(
        &self,
        id: &str,
        owner_id: &str,
        patch: &StreamPatch,
        now: &str,
    ) -> Result<Option<Stream>, StoreError>;
    async fn rotate_key(&self, id: &str, owner_id: &str, new_key: &str, now: &str) -> Result<KeyRotation, StoreError>;
    /// `false` when the stream does not exist or `owner_id` does not own it.
    async fn delete(&self, id: &str, owner_id: &str) -> Result<bool, StoreError>;
    /// One page of an index, newest first, and where the next page starts.
    async fn query(
        &self,
        index: &StreamIndex,
        start: Option<CursorKey>,
        limit: usize,
    ) -> Result<(Vec<Stream>, Option<CursorKey>), StoreError>;
}

pub struct DynamoStreamStore {
    client: Client,
    table: String,
}

#[derive(Serialize, Deserialize)]
struct StreamItem {
    /// Constant partition of the `by_recency` index.
    collection: String,
    #[serde(flatten)]
    stream: Stream,
}

impl DynamoStreamStore {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    async fn owned_update(
        &self,
        id: &str,
        owner_id: &str,
        set: &str,
        extra_condition: Option<&str>,
        values: HashMap<String, AttributeValue>,
        names: HashMap<String, String>,
    ) -> Result<Result<Stream, ()>, StoreError> {
        let condition = match extra_condition {
            Some(c) => format!("owner_id = :owner AND ({c})"),
            None => "owner_id = :owner".to_owned(),
        };
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(id))
            .update_expression(set)
            .condition_expression(condition)
            .expression_attribute_values(":owner", s(owner_id))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        for (k, v) in names {
            req = req.expression_attribute_names(k, v);
        }
        match req.send().await {
            Ok(out) => {
                let item =
                    out.attributes.ok_or_else(|| StoreError::Malformed("update returned no attributes".into()))?;
                Ok(Ok(from_item::<StreamItem>(item)?.stream))
            }
            Err(e) if is_condition_failed(&e) => Ok(Err(())),
            Err(e) => Err(backend(e)),
        }
    }
}

#[async_trait]
impl StreamStore for DynamoStreamStore {
    async fn create(&self, stream: &Stream) -> Result<(), StoreError> {
        let item = to_item(&StreamItem { collection: COLLECTION.to_owned(), stream: stream.clone() })?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<Stream>, StoreError> {
        let out = self.client.get_item().table_name(&self.table).key("id", s(id)).send().await.map_err(backend)?;
        Ok(out.item.map(from_item::<StreamItem>).transpose()?.map(|i| i.stream))
    }

    async fn update(
        &self,
        id: &str,
        owner_id: &str,
        patch: &StreamPatch,
        now: &str,
    ) -> Result<Option<Stream>, StoreError> {
        let mut sets = vec!["updated_at = :now".to_owned()];
        let mut values: HashMap<String, AttributeValue> = [(":now".to_owned(), s(now))].into();
        let mut names = HashMap::new();
        if let Some(t) = &patch.title {
            sets.push("title = :title".into());
            values.insert(":title".into(), s(t.clone()));
        }
        if let Some(d) = &patch.description {
            sets.push("description = :description".into());
            values.insert(":description".into(), s(d.clone()));
        }
        if let Some(v) = patch.visibility {
            sets.push("visibility = :visibility".into());
            values.insert(
                ":visibility".into(),
                serde_dynamo::to_attribute_value(v).map_err(|e| StoreError::Malformed(e.to_string()))?,
            );
        }
        if let Some(r) = patch.record {
            // `record` is a DynamoDB reserved word.
            sets.push("#record = :record".into());
            names.insert("#record".into(), "record".into());
            values.insert(":record".into(), AttributeValue::Bool(r));
        }
        let set = format!("SET {}", sets.join(", "));
        Ok(self.owned_update(id, owner_id, &set, None, values, names).await?.ok())
    }

    async fn rotate_key(&self, id: &str, owner_id: &str, new_key: &str, now: &str) -> Result<KeyRotation, StoreError> {
        let values: HashMap<String, AttributeValue> = [
            (":key".to_owned(), s(new_key)),
            (":now".to_owned(), s(now)),
            (":waiting".to_owned(), s("waiting")),
            (":live".to_owned(), s("live")),
        ]
        .into();
        let names: HashMap<String, String> = [("#status".to_owned(), "status".to_owned())].into();
        let updated = self
            .owned_update(
                id,
                owner_id,
                "SET stream_key = :key, updated_at = :now",
                Some("NOT #status IN (:waiting, :live)"),
                values,
                names,
            )
            .await?;
        match updated {
            Ok(stream) => Ok(KeyRotation::Rotated(Box::new(stream))),
            // Which condition failed decides the answer; the item says.
            Err(()) => match self.get(id).await? {
                Some(s) if s.owner_id == owner_id => Ok(KeyRotation::OnAir),
                _ => Ok(KeyRotation::NotFound),
            },
        }
    }

    async fn delete(&self, id: &str, owner_id: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("id", s(id))
            .condition_expression("owner_id = :owner")
            .expression_attribute_values(":owner", s(owner_id))
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

    async fn query(
        &self,
        index: &StreamIndex,
        start: Option<CursorKey>,
        limit: usize,
    ) -> Result<(Vec<Stream>, Option<CursorKey>), StoreError> {
        let (hash_name, hash_value) = index.hash_key();
        let mut req = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index.name())
            .key_condition_expression("#h = :h")
            .expression_attribute_names("#h", hash_name)
            .expression_attribute_values(":h", s(hash_value))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 1000) as i32);
        if let Some(start) = start {
            let key: Item = start.into_iter().map(|(k, v)| (k, s(v))).collect();
            req = req.set_exclusive_start_key(Some(key));
        }
        let out = req.send().await.map_err(backend)?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|i| from_item::<StreamItem>(i).map(|i| i.stream))
            .collect::<Result<Vec<_>, _>>()?;
        let next = out.last_evaluated_key.map(|k| {
            k.into_iter().filter_map(|(name, v)| v.as_s().ok().map(|s| (name, s.clone()))).collect::<CursorKey>()
        });
        Ok((items, next))
    }
}
