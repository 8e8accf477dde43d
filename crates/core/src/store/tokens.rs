//! Refresh tokens (`token#<sha256>`) and their families (`family#<id>`), one
//! family per login. Items expire through the table's TTL attribute.

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    types::{ConditionCheck, Put, TransactWriteItem, Update},
};
use serde::{Deserialize, Serialize};

use super::{
    StoreError,
    dynamo::{TransactFailure, backend, get_consistent, put_if_absent, s, to_item, transact},
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub hash: String,
    pub user_id: String,
    pub family_id: String,
    pub spent: bool,
    /// When it was first spent (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spent_at: Option<i64>,
    /// Unix seconds; also the TTL attribute.
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshFamily {
    pub id: String,
    pub user_id: String,
    pub revoked: bool,
    pub expires_at: i64,
}

/// The outcome of presenting a token for rotation.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    Rotated,
    /// The token was already spent or its family revoked: nothing was written.
    Refused,
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn create_family(&self, family: &RefreshFamily, first: &RefreshRecord) -> Result<(), StoreError>;
    async fn get_token(&self, hash: &str) -> Result<Option<RefreshRecord>, StoreError>;
    async fn get_family(&self, id: &str) -> Result<Option<RefreshFamily>, StoreError>;
    /// Atomically: spend `old_hash`, which must be unspent or first spent at
    /// or after `spent_since` (Unix seconds: the reuse grace), check its
    /// family is not revoked, and store `next`. The first spend's time stays.
    async fn rotate(
        &self,
        old_hash: &str,
        next: &RefreshRecord,
        now: i64,
        spent_since: i64,
    ) -> Result<Rotation, StoreError>;
    async fn revoke_family(&self, id: &str) -> Result<(), StoreError>;
}

pub struct DynamoTokenStore {
    client: Client,
    table: String,
}

#[derive(Serialize, Deserialize)]
struct TokenItem {
    pk: String,
    #[serde(flatten)]
    record: RefreshRecord,
}

#[derive(Serialize, Deserialize)]
struct FamilyItem {
    pk: String,
    #[serde(flatten)]
    family: RefreshFamily,
}

fn token_pk(hash: &str) -> String {
    format!("token#{hash}")
}
fn family_pk(id: &str) -> String {
    format!("family#{id}")
}

impl DynamoTokenStore {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    async fn get_pk<T: serde::de::DeserializeOwned>(&self, pk: String) -> Result<Option<T>, StoreError> {
        get_consistent(&self.client, &self.table, "pk", pk).await
    }
}

fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Backend(e.to_string()))
}

#[async_trait]
impl TokenStore for DynamoTokenStore {
    async fn create_family(&self, family: &RefreshFamily, first: &RefreshRecord) -> Result<(), StoreError> {
        let fam = to_item(&FamilyItem { pk: family_pk(&family.id), family: family.clone() })?;
        let tok = to_item(&TokenItem { pk: token_pk(&first.hash), record: first.clone() })?;
        let mut tx = self.client.transact_write_items();
        for item in [fam, tok] {
            tx = tx.transact_items(put_if_absent(&self.table, item)?);
        }
        tx.send().await.map_err(backend)?;
        Ok(())
    }

    async fn get_token(&self, hash: &str) -> Result<Option<RefreshRecord>, StoreError> {
        Ok(self.get_pk::<TokenItem>(token_pk(hash)).await?.map(|i| i.record))
    }

    async fn get_family(&self, id: &str) -> Result<Option<RefreshFamily>, StoreError> {
        Ok(self.get_pk::<FamilyItem>(family_pk(id)).await?.map(|i| i.family))
    }

    async fn rotate(
        &self,
        old_hash: &str,
        next: &RefreshRecord,
        now: i64,
        spent_since: i64,
    ) -> Result<Rotation, StoreError> {
        use aws_sdk_dynamodb::types::AttributeValue::{Bool, N};
        let spend = built(
            Update::builder()
                .table_name(&self.table)
                .key("pk", s(token_pk(old_hash)))
                .update_expression("SET spent = :yes, spent_at = if_not_exists(spent_at, :now)")
                .condition_expression("attribute_exists(pk) AND (spent = :no OR spent_at >= :since)")
                .expression_attribute_values(":yes", Bool(true))
                .expression_attribute_values(":no", Bool(false))
                .expression_attribute_values(":now", N(now.to_string()))
                .expression_attribute_values(":since", N(spent_since.to_string()))
                .build(),
        )?;
        let family_live = built(
            ConditionCheck::builder()
                .table_name(&self.table)
                .key("pk", s(family_pk(&next.family_id)))
                .condition_expression("attribute_exists(pk) AND revoked = :no")
                .expression_attribute_values(":no", aws_sdk_dynamodb::types::AttributeValue::Bool(false))
                .build(),
        )?;
        let put = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_item(&TokenItem { pk: token_pk(&next.hash), record: next.clone() })?))
                .condition_expression("attribute_not_exists(pk)")
                .build(),
        )?;
        let result = transact(|| {
            self.client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(spend.clone()).build())
                .transact_items(TransactWriteItem::builder().condition_check(family_live.clone()).build())
                .transact_items(TransactWriteItem::builder().put(put.clone()).build())
        })
        .await;
        match result {
            Ok(()) => Ok(Rotation::Rotated),
            // Spent, revoked or (never) a taken hash: a decision, not a fault.
            Err(TransactFailure::Cancelled(failed)) if !failed.is_empty() => Ok(Rotation::Refused),
            // Cancelled for no condition (contended past every retry): the
            // login stays as it was, and the client may present the token again.
            Err(TransactFailure::Cancelled(_)) => Err(StoreError::Backend("token rotation kept conflicting".into())),
            Err(TransactFailure::Other(e)) => Err(backend(*e)),
        }
    }

    async fn revoke_family(&self, id: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(family_pk(id)))
            .update_expression("SET revoked = :yes")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":yes", aws_sdk_dynamodb::types::AttributeValue::Bool(true))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if super::dynamo::is_condition_failed(&e) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }
}
