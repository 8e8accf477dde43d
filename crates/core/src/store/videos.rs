//! Videos and likes. Counters change with atomic `ADD`s; a like is an item
//! of its own written in one transaction with the counter, so a user's like
//! counts once however often it is sent.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    types::{AttributeValue, Delete, Put, TransactWriteItem, Update},
};
use serde::{Deserialize, Serialize};

use super::{
    StoreError,
    dynamo::{
        Item, TransactFailure, backend, conditionally_applied, from_item, is_condition_failed, query_index_page, s,
        to_item, transact, update_contended,
    },
};
use crate::{
    page::CursorKey,
    video::{Video, VideoPatch},
};

/// Which index a listing reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoIndex {
    /// Newest first.
    Recent,
    /// Most viewed first.
    Popular,
    ByOwner(String),
    ByStream(String),
}

const COLLECTION: &str = "videos";

impl VideoIndex {
    fn name(&self) -> &'static str {
        match self {
            Self::Recent => "by_recency",
            Self::Popular => "by_popularity",
            Self::ByOwner(_) => "by_owner",
            Self::ByStream(_) => "by_stream",
        }
    }

    fn hash_key(&self) -> (&'static str, String) {
        match self {
            Self::Recent | Self::Popular => ("collection", COLLECTION.to_owned()),
            Self::ByOwner(o) => ("owner_id", o.clone()),
            Self::ByStream(st) => ("stream_id", st.clone()),
        }
    }

    /// The attributes that locate an item in this index: what a cursor holds.
    pub fn cursor_attributes(&self) -> Vec<&'static str> {
        let mut a = vec!["id", self.hash_key().0];
        if *self == Self::Popular {
            a.push("view_count");
        }
        a
    }

    /// Whether `cursor` is a position in this very listing.
    pub fn accepts(&self, cursor: &CursorKey) -> bool {
        let (name, value) = self.hash_key();
        cursor.get(name) == Some(&value)
            && cursor.get("id").is_some_and(|id| crate::ids::is_id(id))
            && (*self != Self::Popular || cursor.get("view_count").is_some_and(|v| v.parse::<u64>().is_ok()))
    }

    pub fn cursor_after(&self, video: &Video) -> CursorKey {
        let (name, value) = self.hash_key();
        let mut k: CursorKey = [("id".to_owned(), video.id.clone()), (name.to_owned(), value)].into();
        if *self == Self::Popular {
            k.insert("view_count".into(), video.view_count.to_string());
        }
        k
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum LikeOutcome {
    Changed,
    /// Already so: liked twice, or unliked without a like.
    Unchanged,
    NotFound,
}

#[async_trait]
pub trait VideoStore: Send + Sync {
    /// Creates the video unless one with its id exists; `false` if it did.
    async fn create(&self, video: &Video) -> Result<bool, StoreError>;
    async fn get(&self, id: &str) -> Result<Option<Video>, StoreError>;
    /// `None` when there is no such video of `owner_id`'s.
    async fn update(
        &self,
        id: &str,
        owner_id: &str,
        patch: &VideoPatch,
        now: &str,
    ) -> Result<Option<Video>, StoreError>;
    /// Hides the video while its objects are removed; returns it.
    /// Hides the video for its delete, noting when the first delete began
    /// (`now`, kept by any later one); `None` if it is not `owner_id`'s.
    async fn mark_deleting(&self, id: &str, owner_id: &str, now: &str) -> Result<Option<Video>, StoreError>;
    async fn delete(&self, id: &str, owner_id: &str) -> Result<(), StoreError>;
    /// Counts a view; `false` if there is no such video.
    async fn add_view(&self, id: &str) -> Result<bool, StoreError>;
    async fn like(&self, id: &str, user_id: &str, now: &str) -> Result<LikeOutcome, StoreError>;
    async fn unlike(&self, id: &str, user_id: &str) -> Result<LikeOutcome, StoreError>;
    async fn has_liked(&self, id: &str, user_id: &str) -> Result<bool, StoreError>;
    async fn query(
        &self,
        index: &VideoIndex,
        start: Option<CursorKey>,
        limit: usize,
    ) -> Result<(Vec<Video>, Option<CursorKey>), StoreError>;
}

pub struct DynamoVideoStore {
    client: Client,
    table: String,
    likes: String,
}

#[derive(Serialize, Deserialize)]
struct VideoItem {
    /// Constant partition of the `by_recency` and `by_popularity` indexes.
    collection: String,
    #[serde(flatten)]
    video: Video,
}

impl DynamoVideoStore {
    pub fn new(client: Client, table: String, likes: String) -> Self {
        Self { client, table, likes }
    }

    fn like_key(&self, id: &str, user_id: &str) -> HashMap<String, AttributeValue> {
        [("video_id".to_owned(), s(id)), ("user_id".to_owned(), s(user_id))].into()
    }

    /// Runs a like or unlike: the like item and the counter, together.
    async fn like_transaction(&self, id: &str, like: TransactWriteItem, delta: i64) -> Result<LikeOutcome, StoreError> {
        let counter = Update::builder()
            .table_name(&self.table)
            .key("id", s(id))
            .update_expression("ADD like_count :d")
            .condition_expression("attribute_exists(id) AND attribute_not_exists(deleting)")
            .expression_attribute_values(":d", AttributeValue::N(delta.to_string()))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let result = transact(|| {
            self.client
                .transact_write_items()
                .transact_items(like.clone())
                .transact_items(TransactWriteItem::builder().update(counter.clone()).build())
        })
        .await;
        match result {
            Ok(()) => Ok(LikeOutcome::Changed),
            // The like's own condition: already liked (or not liked, to unlike).
            Err(TransactFailure::Cancelled(failed)) if failed == [0] => Ok(LikeOutcome::Unchanged),
            // The video's: gone, or being deleted.
            Err(TransactFailure::Cancelled(_)) => Ok(LikeOutcome::NotFound),
            Err(TransactFailure::Other(e)) => Err(backend(*e)),
        }
    }
}

fn build_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

#[async_trait]
impl VideoStore for DynamoVideoStore {
    async fn create(&self, video: &Video) -> Result<bool, StoreError> {
        let item = to_item(&VideoItem { collection: COLLECTION.to_owned(), video: video.clone() })?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(id)")
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

    async fn get(&self, id: &str) -> Result<Option<Video>, StoreError> {
        let out = self.client.get_item().table_name(&self.table).key("id", s(id)).send().await.map_err(backend)?;
        Ok(out.item.map(from_item::<VideoItem>).transpose()?.map(|i| i.video))
    }

    async fn update(
        &self,
        id: &str,
        owner_id: &str,
        patch: &VideoPatch,
        now: &str,
    ) -> Result<Option<Video>, StoreError> {
        let mut sets = vec!["updated_at = :now".to_owned()];
        let mut values: HashMap<String, AttributeValue> =
            [(":now".to_owned(), s(now)), (":owner".to_owned(), s(owner_id))].into();
        if let Some(t) = &patch.title {
            sets.push("title = :title".into());
            values.insert(":title".into(), s(t.clone()));
        }
        if let Some(d) = &patch.description {
            sets.push("description = :description".into());
            values.insert(":description".into(), s(d.clone()));
        }
        if let Some(tags) = &patch.tags {
            sets.push("tags = :tags".into());
            values.insert(":tags".into(), AttributeValue::L(tags.iter().cloned().map(s).collect()));
        }
        if let Some(v) = patch.visibility {
            sets.push("visibility = :visibility".into());
            values.insert(
                ":visibility".into(),
                serde_dynamo::to_attribute_value(v).map_err(|e| StoreError::Malformed(e.to_string()))?,
            );
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(id))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression("owner_id = :owner AND attribute_not_exists(deleting)")
            .set_expression_attribute_values(Some(values))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out.attributes.ok_or_else(|| StoreError::Malformed("update returned no item".into()))?;
                Ok(Some(from_item::<VideoItem>(item)?.video))
            }
            Err(e) if is_condition_failed(&e) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    async fn mark_deleting(&self, id: &str, owner_id: &str, now: &str) -> Result<Option<Video>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(id))
            .update_expression("SET deleting = :t, deleted_at = if_not_exists(deleted_at, :now)")
            .condition_expression("owner_id = :owner")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":owner", s(owner_id))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out.attributes.ok_or_else(|| StoreError::Malformed("update returned no item".into()))?;
                Ok(Some(from_item::<VideoItem>(item)?.video))
            }
            Err(e) if is_condition_failed(&e) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    async fn delete(&self, id: &str, owner_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("id", s(id))
            .condition_expression("owner_id = :owner")
            .expression_attribute_values(":owner", s(owner_id))
            .send()
            .await
            .map(|_| ())
            .or_else(|e| match e.as_service_error() {
                Some(se) if se.is_conditional_check_failed_exception() => Ok(()),
                _ => Err(backend(e)),
            })
    }

    async fn add_view(&self, id: &str) -> Result<bool, StoreError> {
        let result = update_contended(|| {
            self.client
                .update_item()
                .table_name(&self.table)
                .key("id", s(id))
                .update_expression("ADD view_count :one")
                .condition_expression("attribute_exists(id) AND attribute_not_exists(deleting)")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
        })
        .await;
        conditionally_applied(result)
    }

    async fn like(&self, id: &str, user_id: &str, now: &str) -> Result<LikeOutcome, StoreError> {
        let mut item: Item = self.like_key(id, user_id);
        item.insert("created_at".into(), s(now));
        let put = Put::builder()
            .table_name(&self.likes)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(user_id)")
            .build()
            .map_err(build_err)?;
        self.like_transaction(id, TransactWriteItem::builder().put(put).build(), 1).await
    }

    async fn unlike(&self, id: &str, user_id: &str) -> Result<LikeOutcome, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.likes)
            .set_key(Some(self.like_key(id, user_id)))
            .condition_expression("attribute_exists(user_id)")
            .build()
            .map_err(build_err)?;
        self.like_transaction(id, TransactWriteItem::builder().delete(delete).build(), -1).await
    }

    async fn has_liked(&self, id: &str, user_id: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.likes)
            .set_key(Some(self.like_key(id, user_id)))
            .send()
            .await
            .map_err(backend)?;
        Ok(out.item.is_some())
    }

    async fn query(
        &self,
        index: &VideoIndex,
        start: Option<CursorKey>,
        limit: usize,
    ) -> Result<(Vec<Video>, Option<CursorKey>), StoreError> {
        let (items, next) = query_index_page::<VideoItem>(
            &self.client,
            &self.table,
            index.name(),
            index.hash_key(),
            &["view_count"],
            start,
            limit,
        )
        .await?;
        Ok((items.into_iter().map(|i| i.video).collect(), next))
    }
}
