//! Streams. Every write that only the owner may make carries the ownership
//! check in its condition expression, so a check and its write cannot race.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::{Client, types::AttributeValue};
use serde::{Deserialize, Serialize};

use super::{
    StoreError,
    dynamo::{backend, conditionally_applied, from_item, is_condition_failed, query_index_page, s, to_item},
};
use crate::{
    events::SessionFigures,
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

/// A new session, as recorded when it is armed or claimed.
#[derive(Debug, Clone)]
pub struct SessionStart {
    pub session_id: String,
    pub hls_url: String,
}

/// What an ingest node's claim of a stream found.
#[derive(Debug)]
pub enum StreamClaim {
    /// The node holds the stream's session now: the one `start` armed, or
    /// a new one.
    Claimed(Box<Stream>),
    /// A session of the stream is on air on another node (or being claimed).
    Held(Box<Stream>),
    /// No stream has this id and key (deleted, or the key was rotated).
    Refused,
}

#[derive(Debug)]
pub enum BeginSession {
    Started(Box<Stream>),
    /// Already waiting or live: the session that runs.
    AlreadyOnAir(Box<Stream>),
    NotFound,
}

#[derive(Debug)]
pub enum EndSession {
    /// The stream as it was before it ended (its node, port and session).
    Ended(Box<Stream>),
    NotOnAir(Box<Stream>),
    NotFound,
}

#[derive(Debug)]
pub enum Deletion {
    Deleted,
    NotFound,
    /// A session holds a port and a listener: stop it first, so that the
    /// session's end finds its stream and frees them.
    OnAir,
}

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
    /// Deletes an idle or ended stream of `owner_id`'s.
    async fn delete(&self, id: &str, owner_id: &str) -> Result<Deletion, StoreError>;
    /// idle/ended → waiting with a new session no node holds yet (armed),
    /// if the owner asks.
    async fn begin_session(
        &self,
        id: &str,
        owner_id: &str,
        start: &SessionStart,
        now: &str,
    ) -> Result<BeginSession, StoreError>;
    /// The stream whose key this is, read consistently and compared in
    /// constant time; `None` for an unknown (or just rotated) key.
    async fn find_by_key(&self, key: &str) -> Result<Option<Stream>, StoreError>;
    /// An ingest node takes the stream for a publisher holding `key`: the
    /// session `start` armed (waiting, no node yet), else a new session if
    /// the stream is off air. The key is part of the condition, so a key
    /// rotated since the lookup claims nothing; two nodes racing for one
    /// stream get one `Claimed` and one `Held`.
    async fn claim_session(
        &self,
        id: &str,
        key: &str,
        node_id: &str,
        fresh: &SessionStart,
        now: &str,
    ) -> Result<StreamClaim, StoreError>;
    /// Moves an on-air session from `from_node` (which stopped heartbeating,
    /// or is this node before a restart) to `to_node`, if it is still
    /// `from_node`'s: of several nodes taking over, one wins.
    async fn take_over(
        &self,
        id: &str,
        session_id: &str,
        from_node: &str,
        to_node: &str,
        now: &str,
    ) -> Result<bool, StoreError>;
    /// waiting/live → ended, if the owner asks.
    async fn end_session(&self, id: &str, owner_id: &str, now: &str) -> Result<EndSession, StoreError>;
    /// What the ingest node reports, applied only to the session it is about
    /// and only forward (a late `waiting` never revives an ended session).
    /// `false` when it no longer applies: stale or duplicate, not an error.
    async fn mark_live(&self, id: &str, session_id: &str, renditions: &[String], now: &str)
    -> Result<bool, StoreError>;
    /// A live session's latest figures; `false` if the session is not live.
    async fn mark_stats(
        &self,
        id: &str,
        session_id: &str,
        figures: &SessionFigures,
        now: &str,
    ) -> Result<bool, StoreError>;
    async fn mark_ended(&self, id: &str, session_id: &str, report: &EndReport, now: &str) -> Result<bool, StoreError>;
    /// One page of an index, newest first, and where the next page starts.
    async fn query(
        &self,
        index: &StreamIndex,
        start: Option<CursorKey>,
        limit: usize,
    ) -> Result<(Vec<Stream>, Option<CursorKey>), StoreError>;
}

/// A session's final figures, from the ingest node.
#[derive(Debug, Clone)]
pub struct EndReport {
    pub renditions: Vec<String>,
    pub figures: SessionFigures,
    /// Nobody ever published: the stream goes back to `idle`, with no
    /// `hls_url` to a session that has nothing to play.
    pub never_published: bool,
}

/// The SET clauses and values for a session's figures. The thumbnail flag
/// is only ever set: a late, older report must not take it back.
fn figures_update(figures: &SessionFigures) -> (String, Vec<(&'static str, AttributeValue)>) {
    let mut set = "#segments = :n, duration_s = :d, bitrate_bps = :b".to_owned();
    let mut values = vec![
        (":n", AttributeValue::N(figures.segments.to_string())),
        (":d", AttributeValue::N(format!("{:.3}", figures.duration_s))),
        (":b", AttributeValue::N(figures.bitrate_bps.to_string())),
    ];
    if figures.thumbnail {
        set.push_str(", thumbnail = :t");
        values.push((":t", AttributeValue::Bool(true)));
    }
    // Health is the node's latest look at a live session; a report without
    // one (a session's end) leaves nothing stale behind (see `mark_ended`).
    if let Some(health) = figures.health.as_ref().and_then(|h| serde_dynamo::to_attribute_value(h).ok()) {
        set.push_str(", health = :health");
        values.push((":health", health));
    }
    (set, values)
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

/// A new session on a stream: waiting, the last session's figures gone.
const SESSION_FIELDS: &str =
    "#status = :waiting, session_id = :sid, hls_url = :hls, started_at = :now, updated_at = :now";
const SESSION_CLEARS: &str = "ended_at, renditions, #segments, duration_s, bitrate_bps, thumbnail, health";

fn session_values(start: &SessionStart, now: &str) -> (HashMap<String, AttributeValue>, HashMap<String, String>) {
    let values = [
        (":waiting".to_owned(), s("waiting")),
        (":idle".to_owned(), s("idle")),
        (":ended".to_owned(), s("ended")),
        (":sid".to_owned(), s(start.session_id.clone())),
        (":hls".to_owned(), s(start.hls_url.clone())),
        (":now".to_owned(), s(now)),
    ]
    .into();
    // `status` and `segments` are DynamoDB reserved words.
    let names = [("#status".to_owned(), "status".to_owned()), ("#segments".to_owned(), "segments".to_owned())].into();
    (values, names)
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
        if let Some(l) = patch.latency {
            sets.push("#latency = :latency".into());
            names.insert("#latency".into(), "latency".into());
            values.insert(":latency".into(), s(l.as_str()));
        }
        if let Some(p) = patch.profile {
            sets.push("profile = :profile".into());
            values.insert(":profile".into(), s(p.as_str()));
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

    async fn delete(&self, id: &str, owner_id: &str) -> Result<Deletion, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("id", s(id))
            .condition_expression("owner_id = :owner AND NOT #status IN (:waiting, :live)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":owner", s(owner_id))
            .expression_attribute_values(":waiting", s("waiting"))
            .expression_attribute_values(":live", s("live"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Deletion::Deleted),
            // Which condition failed decides the answer; the item says.
            Err(e) if matches!(e.as_service_error(), Some(se) if se.is_conditional_check_failed_exception()) => {
                match self.get(id).await? {
                    Some(s) if s.owner_id == owner_id => Ok(Deletion::OnAir),
                    _ => Ok(Deletion::NotFound),
                }
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn begin_session(
        &self,
        id: &str,
        owner_id: &str,
        start: &SessionStart,
        now: &str,
    ) -> Result<BeginSession, StoreError> {
        let (values, names) = session_values(start, now);
        // Armed: no node holds it until a publisher arrives.
        let set = format!("SET {SESSION_FIELDS} REMOVE {SESSION_CLEARS}, ingest_node_id");
        match self.owned_update(id, owner_id, &set, Some("#status IN (:idle, :ended)"), values, names).await? {
            Ok(stream) => Ok(BeginSession::Started(Box::new(stream))),
            Err(()) => match self.get(id).await? {
                Some(st) if st.owner_id == owner_id => Ok(BeginSession::AlreadyOnAir(Box::new(st))),
                _ => Ok(BeginSession::NotFound),
            },
        }
    }

    async fn find_by_key(&self, key: &str) -> Result<Option<Stream>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("by_key")
            .key_condition_expression("stream_key = :k")
            .expression_attribute_values(":k", s(key))
            .limit(2)
            .send()
            .await
            .map_err(backend)?;
        let Some(id) = out.items().first().and_then(|i| i.get("id")).and_then(|v| v.as_s().ok()).cloned() else {
            return Ok(None);
        };
        // The index lags its table: the item itself says whether the key holds.
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let stream = out.item.map(from_item::<StreamItem>).transpose()?.map(|i| i.stream);
        Ok(stream.filter(|st| crate::ids::secrets_equal(&st.stream_key, key)))
    }

    async fn claim_session(
        &self,
        id: &str,
        key: &str,
        node_id: &str,
        fresh: &SessionStart,
        now: &str,
    ) -> Result<StreamClaim, StoreError> {
        let update = |expression: String, condition: &str| {
            let (mut values, names) = session_values(fresh, now);
            values.insert(":key".into(), s(key));
            values.insert(":node".into(), s(node_id));
            let mut req = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("id", s(id))
                .update_expression(expression.as_str())
                .condition_expression(condition)
                .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
            // Only the placeholders an expression uses may be sent.
            let text = format!("{expression} {condition}");
            for (k, v) in values.into_iter().filter(|(k, _)| text.contains(k.as_str())) {
                req = req.expression_attribute_values(k, v);
            }
            for (k, v) in names.into_iter().filter(|(k, _)| text.contains(k.as_str())) {
                req = req.expression_attribute_names(k, v);
            }
            req.send()
        };
        let armed = update(
            "SET ingest_node_id = :node, updated_at = :now".into(),
            "stream_key = :key AND #status = :waiting AND attribute_not_exists(ingest_node_id)",
        );
        let result = match armed.await {
            Err(e) if is_condition_failed(&e) => {
                let fresh = update(
                    format!("SET {SESSION_FIELDS}, ingest_node_id = :node REMOVE {SESSION_CLEARS}"),
                    "stream_key = :key AND #status IN (:idle, :ended)",
                );
                fresh.await
            }
            other => other,
        };
        match result {
            Ok(out) => {
                let item =
                    out.attributes.ok_or_else(|| StoreError::Malformed("update returned no attributes".into()))?;
                Ok(StreamClaim::Claimed(Box::new(from_item::<StreamItem>(item)?.stream)))
            }
            Err(e) if is_condition_failed(&e) => match self.get(id).await? {
                Some(st) if crate::ids::secrets_equal(&st.stream_key, key) && st.status.is_on_air() => {
                    Ok(StreamClaim::Held(Box::new(st)))
                }
                _ => Ok(StreamClaim::Refused),
            },
            Err(e) => Err(backend(e)),
        }
    }

    async fn take_over(
        &self,
        id: &str,
        session_id: &str,
        from_node: &str,
        to_node: &str,
        now: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(id))
            .update_expression("SET ingest_node_id = :to, updated_at = :now")
            .condition_expression("session_id = :sid AND ingest_node_id = :from AND #status IN (:waiting, :live)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(to_node))
            .expression_attribute_values(":from", s(from_node))
            .expression_attribute_values(":sid", s(session_id))
            .expression_attribute_values(":waiting", s("waiting"))
            .expression_attribute_values(":live", s("live"))
            .expression_attribute_values(":now", s(now))
            .send()
            .await;
        conditionally_applied(result)
    }

    async fn end_session(&self, id: &str, owner_id: &str, now: &str) -> Result<EndSession, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(id))
            .update_expression("SET #status = :ended, ended_at = :now, updated_at = :now")
            .condition_expression("owner_id = :owner AND #status IN (:waiting, :live)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":owner", s(owner_id))
            .expression_attribute_values(":ended", s("ended"))
            .expression_attribute_values(":waiting", s("waiting"))
            .expression_attribute_values(":live", s("live"))
            .expression_attribute_values(":now", s(now))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item =
                    out.attributes.ok_or_else(|| StoreError::Malformed("update returned no attributes".into()))?;
                Ok(EndSession::Ended(Box::new(from_item::<StreamItem>(item)?.stream)))
            }
            Err(e) if is_condition_failed(&e) => match self.get(id).await? {
                Some(st) if st.owner_id == owner_id => Ok(EndSession::NotOnAir(Box::new(st))),
                _ => Ok(EndSession::NotFound),
            },
            Err(e) => Err(backend(e)),
        }
    }

    async fn mark_live(
        &self,
        id: &str,
        session_id: &str,
        renditions: &[String],
        now: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(id))
            .update_expression("SET #status = :live, renditions = :r, updated_at = :now")
            .condition_expression("session_id = :sid AND #status = :waiting")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":live", s("live"))
            .expression_attribute_values(":waiting", s("waiting"))
            .expression_attribute_values(":sid", s(session_id))
            .expression_attribute_values(":r", AttributeValue::L(renditions.iter().cloned().map(s).collect()))
            .expression_attribute_values(":now", s(now))
            .send()
            .await;
        conditionally_applied(result)
    }

    async fn mark_stats(
        &self,
        id: &str,
        session_id: &str,
        figures: &SessionFigures,
        now: &str,
    ) -> Result<bool, StoreError> {
        let (set, values) = figures_update(figures);
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(id))
            .update_expression(format!("SET {set}, updated_at = :now"))
            .condition_expression("session_id = :sid AND #status = :live")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#segments", "segments")
            .expression_attribute_values(":live", s("live"))
            .expression_attribute_values(":sid", s(session_id))
            .expression_attribute_values(":now", s(now));
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        conditionally_applied(req.send().await)
    }

    async fn mark_ended(&self, id: &str, session_id: &str, report: &EndReport, now: &str) -> Result<bool, StoreError> {
        // Ended wins from any state of its own session; ended_at keeps the
        // first value (the owner's stop, when that came first).
        let (set, values) = figures_update(&report.figures);
        let expression = if report.never_published {
            format!(
                "SET #status = :idle, updated_at = :now, renditions = :r, {set} REMOVE hls_url, started_at, ended_at, health"
            )
        } else {
            format!(
                "SET #status = :ended, ended_at = if_not_exists(ended_at, :now), updated_at = :now, renditions = :r, {set} REMOVE health"
            )
        };
        let (status_name, status) = if report.never_published { (":idle", "idle") } else { (":ended", "ended") };
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(id))
            .update_expression(expression)
            .condition_expression("session_id = :sid")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#segments", "segments")
            .expression_attribute_values(status_name, s(status))
            .expression_attribute_values(":sid", s(session_id))
            .expression_attribute_values(":r", AttributeValue::L(report.renditions.iter().cloned().map(s).collect()))
            .expression_attribute_values(":now", s(now));
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        conditionally_applied(req.send().await)
    }

    async fn query(
        &self,
        index: &StreamIndex,
        start: Option<CursorKey>,
        limit: usize,
    ) -> Result<(Vec<Stream>, Option<CursorKey>), StoreError> {
        let (items, next) = query_index_page::<StreamItem>(
            &self.client,
            &self.table,
            index.name(),
            index.hash_key(),
            &[],
            start,
            limit,
        )
        .await?;
        Ok((items.into_iter().map(|i| i.stream).collect(), next))
    }
}
