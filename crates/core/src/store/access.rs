//! Media access entries: per session, whether its stored media plays for
//! anyone, only with a token, or not at all (see [`crate::playback`]).
//!
//! Two owners write one entry, each its own attribute, so neither overwrites
//! the other: the stream (`stream`: its visibility while the session is its
//! current or last one) and the video recorded from it (`video`: public,
//! private or gone). Once a video exists it decides; before, the stream does.
//! Every write that restricts bumps `epoch`, which voids the tokens handed out
//! before. A stream has an entry of its own too, under its id (its
//! visibility, written when it changes or it is deleted): it covers the
//! sessions that have none, such as the older ones of a stream that does
//! not record. A session with neither is public.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    types::{AttributeValue, ReturnValue},
};

use super::{
    StoreError,
    dynamo::{Item, backend, batch_get, is_condition_failed, s},
};
use crate::{
    playback::{Access, MediaState},
    stream::Visibility,
};

/// How long a deleted video's entry is kept: longer than any edge cache
/// keeps a segment (a year).
pub const GONE_KEPT_S: i64 = 400 * 86400;

/// What the video recorded from a session says of its media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoAccess {
    Public,
    Private,
    /// Deleted (or being deleted): nothing plays, whoever asks.
    Gone,
}

impl VideoAccess {
    pub fn of(visibility: Visibility) -> Self {
        match visibility {
            Visibility::Public => Self::Public,
            Visibility::Private => Self::Private,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
            Self::Gone => "gone",
        }
    }
}

/// An access entry as stored: what the edge-sync function reads from the
/// table's stream.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AccessEntry {
    pub session_id: String,
    #[serde(default)]
    pub stream: Option<String>,
    #[serde(default)]
    pub video: Option<String>,
    #[serde(default)]
    pub epoch: u64,
}

impl AccessEntry {
    pub fn access(&self) -> Access {
        combine(self.stream.as_deref(), self.video.as_deref(), self.epoch)
    }
}

/// The combined state of an entry's two attributes.
pub fn combine(stream: Option<&str>, video: Option<&str>, epoch: u64) -> Access {
    let state = match (video, stream) {
        (Some("gone"), _) => MediaState::Gone,
        (Some("private"), _) => MediaState::Private,
        (Some("public"), _) => MediaState::Public,
        (Some(_), _) => MediaState::Gone,
        (None, Some("private")) => MediaState::Private,
        (None, _) => MediaState::Public,
    };
    Access { state, epoch }
}

#[async_trait]
pub trait AccessStore: Send + Sync {
    /// The entry under `key` (a session's id, or a stream's), if any.
    async fn entry(&self, key: &str) -> Result<Option<Access>, StoreError>;
    /// The session's access as the edge decides it: its own entry, else its
    /// stream's, else [`Access::PUBLIC`].
    async fn media(&self, stream_id: &str, session_id: &str) -> Result<Access, StoreError> {
        if let Some(access) = self.entry(session_id).await? {
            return Ok(access);
        }
        Ok(self.entry(stream_id).await?.unwrap_or(Access::PUBLIC))
    }
    /// The session's own access; [`Access::PUBLIC`] without an entry.
    async fn get(&self, session_id: &str) -> Result<Access, StoreError> {
        Ok(self.entry(session_id).await?.unwrap_or(Access::PUBLIC))
    }
    /// Several sessions' access at once (at most 100).
    async fn get_many(&self, session_ids: &[String]) -> Result<HashMap<String, Access>, StoreError>;
    /// Sets the stream's word on its session; returns the combined access.
    async fn set_stream(&self, stream_id: &str, session_id: &str, v: Visibility) -> Result<Access, StoreError>;
    /// Sets the video's word on its session; returns the combined access.
    async fn set_video(&self, stream_id: &str, session_id: &str, v: VideoAccess) -> Result<Access, StoreError>;
    /// The video's first word, before the video exists: written only where
    /// none is, so a repeated or late catalog event never undoes its owner's
    /// later choice.
    async fn init_video(&self, stream_id: &str, session_id: &str, v: VideoAccess) -> Result<(), StoreError>;
}

pub struct DynamoAccessStore {
    client: Client,
    table: String,
}

impl DynamoAccessStore {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    async fn set(
        &self,
        stream_id: &str,
        session_id: &str,
        attribute: &str,
        value: &str,
        restricts: bool,
    ) -> Result<Access, StoreError> {
        match self.update(stream_id, session_id, attribute, value, restricts, false).await? {
            Some(access) => Ok(access),
            // Gone stays gone (a late write of a deleted video's): as it is.
            None => self.get(session_id).await,
        }
    }

    /// `None` when `only_if_unset` and the attribute was set already.
    async fn update(
        &self,
        stream_id: &str,
        session_id: &str,
        attribute: &str,
        value: &str,
        restricts: bool,
        only_if_unset: bool,
    ) -> Result<Option<Access>, StoreError> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("session_id", s(session_id))
            .update_expression(if value == "gone" {
                "SET stream_id = :s, #a = :v, expires_at = :exp ADD epoch :d"
            } else {
                "SET stream_id = :s, #a = :v ADD epoch :d"
            })
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":s", s(stream_id))
            .expression_attribute_values(":v", s(value))
            .expression_attribute_values(":d", AttributeValue::N(u8::from(restricts).to_string()))
            .return_values(ReturnValue::AllNew);
        if value == "gone" {
            // A deleted video's objects are gone; edge caches keep a copy at
            // most a year (segments are immutable, max-age one year). After
            // that the entry has nothing left to guard: it expires, and the
            // edge's store (5 MB) lets it go too.
            let expires = crate::timefmt::unix_now() + GONE_KEPT_S;
            req = req.expression_attribute_values(":exp", AttributeValue::N(expires.to_string()));
        }
        if only_if_unset {
            req = req.condition_expression("attribute_not_exists(#a)");
        } else if value != "gone" {
            // Nothing undoes a deletion: a PATCH that raced the DELETE, or a
            // late retry, must not make a deleted video's media playable.
            req = req
                .condition_expression("attribute_not_exists(video) OR video <> :gone")
                .expression_attribute_values(":gone", s("gone"));
        }
        match req.send().await {
            Ok(out) => Ok(Some(out.attributes.map(|item| access_of(&item)).unwrap_or(Access::PUBLIC))),
            Err(e) if is_condition_failed(&e) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }
}

fn access_of(item: &Item) -> Access {
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str);
    let epoch = item.get("epoch").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0);
    combine(text("stream"), text("video"), epoch)
}

#[async_trait]
impl AccessStore for DynamoAccessStore {
    async fn entry(&self, key: &str) -> Result<Option<Access>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("session_id", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        Ok(out.item.as_ref().map(access_of))
    }

    async fn get_many(&self, session_ids: &[String]) -> Result<HashMap<String, Access>, StoreError> {
        let mut out: HashMap<String, Access> = session_ids.iter().map(|id| (id.clone(), Access::PUBLIC)).collect();
        let keys: Vec<&str> = session_ids.iter().map(String::as_str).collect();
        for item in batch_get(&self.client, &self.table, "session_id", &keys).await? {
            if let Some(id) = item.get("session_id").and_then(|v| v.as_s().ok()) {
                out.insert(id.clone(), access_of(&item));
            }
        }
        Ok(out)
    }

    async fn set_stream(&self, stream_id: &str, session_id: &str, v: Visibility) -> Result<Access, StoreError> {
        let private = v == Visibility::Private;
        self.set(stream_id, session_id, "stream", if private { "private" } else { "public" }, private).await
    }

    async fn set_video(&self, stream_id: &str, session_id: &str, v: VideoAccess) -> Result<Access, StoreError> {
        self.set(stream_id, session_id, "video", v.as_str(), v != VideoAccess::Public).await
    }

    async fn init_video(&self, stream_id: &str, session_id: &str, v: VideoAccess) -> Result<(), StoreError> {
        self.update(stream_id, session_id, "video", v.as_str(), v != VideoAccess::Public, true).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_video_decides_once_it_exists_and_the_stream_before() {
        let st = |s: Option<&str>, v: Option<&str>| combine(s, v, 1).state;
        assert_eq!(st(None, None), MediaState::Public);
        assert_eq!(st(Some("public"), None), MediaState::Public);
        assert_eq!(st(Some("private"), None), MediaState::Private);
        assert_eq!(st(Some("private"), Some("public")), MediaState::Public, "a video made public");
        assert_eq!(st(Some("public"), Some("private")), MediaState::Private, "a recording made private");
        assert_eq!(st(Some("public"), Some("gone")), MediaState::Gone);
        assert_eq!(st(None, Some("garbage")), MediaState::Gone, "fails closed");
    }
}
