//! Relay sessions (see `relay_session`). The creator's writes carry the
//! ownership check in their condition; the node's carry its claim, so a
//! node that lost a session cannot write over the one that holds it.

use async_trait::async_trait;
use aws_sdk_dynamodb::{Client, types::AttributeValue};

use super::{
    StoreError,
    dynamo::{backend, batch_get, conditionally_applied, from_item, s, to_item},
};
use crate::relay_session::{KEEP_FINISHED_S, MAX_INVITED, RelaySession, RelayStatus};

/// What a node learned from claiming a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayClaim {
    /// This node relays it (it may already be finished: `session.status`).
    Claimed(RelaySession),
    /// Another node holds it.
    Held(RelaySession),
    NotFound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invitation {
    Done,
    NotFound,
    /// The session has `MAX_INVITED` invitations already.
    Full,
    /// The session is finished.
    Finished,
}

/// Why a session finished, with the figures its node counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayFinish {
    pub at: String,
    pub reason: String,
    pub messages: u64,
    pub bytes: u64,
}

#[async_trait]
pub trait RelaySessionStore: Send + Sync {
    async fn create(&self, session: &RelaySession) -> Result<(), StoreError>;
    async fn get(&self, id: &str) -> Result<Option<RelaySession>, StoreError>;
    /// The sessions `creator_id` made, newest first, at most `limit`.
    async fn by_creator(&self, creator_id: &str, limit: i32) -> Result<Vec<RelaySession>, StoreError>;
    /// Finishes a session its creator ends; `false` if it is not theirs.
    /// Finishing a finished session changes nothing and is `true`.
    async fn finish_by_creator(&self, id: &str, creator_id: &str, at: &str) -> Result<bool, StoreError>;
    /// Invites `user_id` to operate (again: no change); `NotFound` if the
    /// session is not the creator's.
    async fn invite(&self, id: &str, creator_id: &str, user_id: &str) -> Result<Invitation, StoreError>;
    /// Takes an invitation back (none: no change).
    async fn uninvite(&self, id: &str, creator_id: &str, user_id: &str) -> Result<Invitation, StoreError>;

    /// Takes the session for `node_id`: when no node holds it, this one
    /// does, or `stale_node` (a node found dead) did.
    async fn claim(&self, id: &str, node_id: &str, stale_node: Option<&str>) -> Result<RelayClaim, StoreError>;
    /// The client connected: `waiting` → `active`.
    async fn started(&self, id: &str, node_id: &str, at: &str) -> Result<bool, StoreError>;
    /// An operator connected (kept once, in order of arrival).
    async fn operator_joined(&self, id: &str, node_id: &str, user_id: &str) -> Result<bool, StoreError>;
    /// What the node relayed so far.
    async fn progress(&self, id: &str, node_id: &str, messages: u64, bytes: u64) -> Result<bool, StoreError>;
    /// The node ended the session. A session already finished (deleted)
    /// keeps its time and reason; the figures are the node's.
    async fn finished(&self, id: &str, node_id: &str, finish: &RelayFinish) -> Result<bool, StoreError>;
    /// The records of `ids` that exist.
    async fn many(&self, ids: &[&str]) -> Result<Vec<RelaySession>, StoreError>;
}

pub struct DynamoRelaySessionStore {
    client: Client,
    table: String,
}

impl DynamoRelaySessionStore {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    fn update(&self, id: &str) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client.update_item().table_name(&self.table).key("id", s(id))
    }
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

const FINISHED: &str = "finished";

#[async_trait]
impl RelaySessionStore for DynamoRelaySessionStore {
    async fn create(&self, session: &RelaySession) -> Result<(), StoreError> {
        let mut item = to_item(session)?;
        // Invitations are a string set (see `invite`); an empty one cannot be stored.
        item.remove("invited");
        if !session.invited.is_empty() {
            item.insert("invited".into(), AttributeValue::Ss(session.invited.clone()));
        }
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

    async fn get(&self, id: &str) -> Result<Option<RelaySession>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        out.item.map(from_item).transpose()
    }

    async fn by_creator(&self, creator_id: &str, limit: i32) -> Result<Vec<RelaySession>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("by_creator")
            .key_condition_expression("creator_id = :c")
            .expression_attribute_values(":c", s(creator_id))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(backend)?;
        out.items.unwrap_or_default().into_iter().map(from_item).collect()
    }

    async fn finish_by_creator(&self, id: &str, creator_id: &str, at: &str) -> Result<bool, StoreError> {
        let expires = crate::timefmt::unix_now() + KEEP_FINISHED_S;
        let r = self
            .update(id)
            .update_expression(
                "SET #status = :finished, finished_at = if_not_exists(finished_at, :at), \
                 finish_reason = if_not_exists(finish_reason, :reason), expires_at = if_not_exists(expires_at, :exp)",
            )
            .condition_expression("creator_id = :creator")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":finished", s(FINISHED))
            .expression_attribute_values(":at", s(at))
            .expression_attribute_values(":reason", s("deleted"))
            .expression_attribute_values(":exp", n(expires))
            .expression_attribute_values(":creator", s(creator_id))
            .send()
            .await;
        conditionally_applied(r)
    }

    async fn invite(&self, id: &str, creator_id: &str, user_id: &str) -> Result<Invitation, StoreError> {
        // A string set: concurrent invitations add, never overwrite.
        let r = self
            .update(id)
            .update_expression("ADD invited :user")
            .condition_expression(
                "creator_id = :creator AND #status <> :finished \
                 AND (attribute_not_exists(invited) OR contains(invited, :uid) OR size(invited) < :max)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":finished", s(FINISHED))
            .expression_attribute_values(":user", AttributeValue::Ss(vec![user_id.to_owned()]))
            .expression_attribute_values(":uid", s(user_id))
            .expression_attribute_values(":creator", s(creator_id))
            .expression_attribute_values(":max", n(MAX_INVITED))
            .send()
            .await;
        if conditionally_applied(r)? {
            return Ok(Invitation::Done);
        }
        Ok(match self.get(id).await? {
            Some(session) if session.creator_id != creator_id => Invitation::NotFound,
            Some(session) if session.status == RelayStatus::Finished => Invitation::Finished,
            Some(_) => Invitation::Full,
            None => Invitation::NotFound,
        })
    }

    async fn uninvite(&self, id: &str, creator_id: &str, user_id: &str) -> Result<Invitation, StoreError> {
        let r = self
            .update(id)
            .update_expression("DELETE invited :user")
            .condition_expression("creator_id = :creator")
            .expression_attribute_values(":user", AttributeValue::Ss(vec![user_id.to_owned()]))
            .expression_attribute_values(":creator", s(creator_id))
            .send()
            .await;
        Ok(if conditionally_applied(r)? { Invitation::Done } else { Invitation::NotFound })
    }

    async fn claim(&self, id: &str, node_id: &str, stale_node: Option<&str>) -> Result<RelayClaim, StoreError> {
        let mut condition = "attribute_exists(id) AND (attribute_not_exists(node_id) OR node_id = :me".to_owned();
        let mut r =
            self.update(id).update_expression("SET node_id = :me").expression_attribute_values(":me", s(node_id));
        if let Some(stale) = stale_node {
            condition.push_str(" OR node_id = :stale");
            r = r.expression_attribute_values(":stale", s(stale));
        }
        condition.push(')');
        let r =
            r.condition_expression(condition).return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew).send().await;
        match r {
            Ok(out) => Ok(RelayClaim::Claimed(from_item(out.attributes.unwrap_or_default())?)),
            Err(e) if super::dynamo::is_condition_failed(&e) => match self.get(id).await? {
                Some(session) => Ok(RelayClaim::Held(session)),
                None => Ok(RelayClaim::NotFound),
            },
            Err(e) => Err(backend(e)),
        }
    }

    async fn started(&self, id: &str, node_id: &str, at: &str) -> Result<bool, StoreError> {
        let r = self
            .update(id)
            .update_expression("SET #status = :active, started_at = if_not_exists(started_at, :at)")
            .condition_expression("node_id = :me AND #status = :waiting")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", s(RelayStatus::Active.as_str()))
            .expression_attribute_values(":waiting", s(RelayStatus::Waiting.as_str()))
            .expression_attribute_values(":at", s(at))
            .expression_attribute_values(":me", s(node_id))
            .send()
            .await;
        conditionally_applied(r)
    }

    async fn operator_joined(&self, id: &str, node_id: &str, user_id: &str) -> Result<bool, StoreError> {
        // A list keeps the order of arrival; the condition keeps it a set.
        let r = self
            .update(id)
            .update_expression("SET operators = list_append(if_not_exists(operators, :empty), :user)")
            .condition_expression("node_id = :me AND NOT contains(operators, :uid)")
            .expression_attribute_values(":empty", AttributeValue::L(vec![]))
            .expression_attribute_values(":user", AttributeValue::L(vec![s(user_id)]))
            .expression_attribute_values(":uid", s(user_id))
            .expression_attribute_values(":me", s(node_id))
            .send()
            .await;
        conditionally_applied(r)
    }

    async fn progress(&self, id: &str, node_id: &str, messages: u64, bytes: u64) -> Result<bool, StoreError> {
        let r = self
            .update(id)
            .update_expression("SET messages_relayed = :m, bytes_relayed = :b")
            .condition_expression(
                "node_id = :me AND (attribute_not_exists(messages_relayed) OR messages_relayed <= :m)",
            )
            .expression_attribute_values(":m", n(messages))
            .expression_attribute_values(":b", n(bytes))
            .expression_attribute_values(":me", s(node_id))
            .send()
            .await;
        conditionally_applied(r)
    }

    async fn finished(&self, id: &str, node_id: &str, finish: &RelayFinish) -> Result<bool, StoreError> {
        let expires = crate::timefmt::unix_now() + KEEP_FINISHED_S;
        let r = self
            .update(id)
            .update_expression(
                "SET #status = :finished, finished_at = if_not_exists(finished_at, :at), \
                 finish_reason = if_not_exists(finish_reason, :reason), expires_at = if_not_exists(expires_at, :exp), \
                 messages_relayed = :m, bytes_relayed = :b",
            )
            .condition_expression("node_id = :me")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":finished", s(FINISHED))
            .expression_attribute_values(":at", s(finish.at.as_str()))
            .expression_attribute_values(":reason", s(finish.reason.as_str()))
            .expression_attribute_values(":exp", n(expires))
            .expression_attribute_values(":m", n(finish.messages))
            .expression_attribute_values(":b", n(finish.bytes))
            .expression_attribute_values(":me", s(node_id))
            .send()
            .await;
        conditionally_applied(r)
    }

    async fn many(&self, ids: &[&str]) -> Result<Vec<RelaySession>, StoreError> {
        batch_get(&self.client, &self.table, "id", ids).await?.into_iter().map(from_item).collect()
    }
}
