//! What the node asks the platform about publishers: whose key is this,
//! may this node take the stream, is a session still wanted. Behind a
//! trait so the media path runs (and is tested) without the table.

use std::{collections::HashMap, sync::Arc};

use async_trait::async_trait;
use skycast_core::{
    store::{SessionStart, Stores, StreamClaim},
    stream::{Latency, Profile as StreamProfile, StreamStatus, Visibility},
};

use crate::profile::Profile;

/// The stream a key belongs to, as far as ingest cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub stream_id: String,
    pub owner_id: String,
    pub profile: Profile,
    pub latency: Latency,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// This node runs `session_id` now.
    Session(String),
    /// Another node holds the stream's session.
    Held,
    /// Its owner has as many streams on air as allowed.
    OverQuota,
    /// The key no longer belongs to the stream.
    Refused,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DirectoryError(pub String);

#[async_trait]
pub trait Directory: Send + Sync {
    /// The stream whose key this is.
    async fn find(&self, key: &str) -> Result<Option<StreamInfo>, DirectoryError>;
    /// Takes the stream's session for this node (see `StreamStore::claim_session`).
    async fn claim(&self, stream: &StreamInfo, key: &str, node_id: &str) -> Result<Claimed, DirectoryError>;
    /// Whether `session_id` is still the stream's session on air on `node_id`
    /// (`false` once the owner stopped it).
    async fn wanted(&self, stream_id: &str, session_id: &str, node_id: &str) -> Result<bool, DirectoryError>;
}

/// The platform's tables.
pub struct TableDirectory {
    pub stores: Stores,
    pub cdn_base_url: String,
    /// The owners' quotas: a session made here takes its on-air places,
    /// as one `start` makes does (the lifecycle gives them back at its end).
    pub limits: skycast_core::limits::Limits,
}

fn stream_profile(p: Profile) -> StreamProfile {
    match p {
        Profile::Source => StreamProfile::Source,
        Profile::Ladder => StreamProfile::Ladder,
    }
}

fn failed(e: impl std::fmt::Display) -> DirectoryError {
    DirectoryError(e.to_string())
}

#[async_trait]
impl Directory for TableDirectory {
    async fn find(&self, key: &str) -> Result<Option<StreamInfo>, DirectoryError> {
        let stream = self.stores.streams.find_by_key(key).await.map_err(failed)?;
        Ok(stream.map(|s| StreamInfo {
            stream_id: s.id,
            owner_id: s.owner_id,
            profile: match s.profile {
                StreamProfile::Source => Profile::Source,
                StreamProfile::Ladder => Profile::Ladder,
            },
            latency: s.latency,
        }))
    }

    async fn claim(&self, stream: &StreamInfo, key: &str, node_id: &str) -> Result<Claimed, DirectoryError> {
        let session_id = skycast_core::ids::new_id();
        let id = &stream.stream_id;
        let fresh =
            SessionStart { hls_url: format!("{}/live/{id}/{session_id}/master.m3u8", self.cdn_base_url), session_id };
        let now = skycast_core::timefmt::now_rfc3339();
        // The owner's places on air first, as `start` takes them; only the
        // places this claim added go back if it does not win.
        let owner = &stream.owner_id;
        let mut added = Vec::new();
        for &quota in skycast_core::quota::on_air(stream_profile(stream.profile)) {
            let had = self.stores.limits.held(owner, quota).await.map_err(failed)?.iter().any(|(h, _)| h == id);
            let unix = skycast_core::timefmt::unix_now();
            if !skycast_core::quota::claim(&self.stores, &self.limits, owner, quota, id, unix).await.map_err(failed)? {
                self.give_back(owner, id, &added).await;
                return Ok(Claimed::OverQuota);
            }
            if !had {
                added.push(quota);
            }
        }
        let claimed = self.stores.streams.claim_session(id, key, node_id, &fresh, &now).await.map_err(failed)?;
        // Held: the stream is on air, on the node that won, and its place
        // is rightly taken (the same id): only a refused claim gives back.
        if matches!(claimed, StreamClaim::Refused) {
            self.give_back(owner, id, &added).await;
        }
        match claimed {
            StreamClaim::Claimed(s) => {
                let session = s.session_id.clone().unwrap_or_default();
                // A private stream's session is private before any of its media
                // exists. `start` wrote this already for a session it armed;
                // writing it again is harmless.
                if s.visibility == Visibility::Private {
                    self.stores.access.set_stream(id, &session, Visibility::Private).await.map_err(failed)?;
                }
                Ok(Claimed::Session(session))
            }
            StreamClaim::Held(_) => Ok(Claimed::Held),
            StreamClaim::Refused => Ok(Claimed::Refused),
        }
    }

    async fn wanted(&self, stream_id: &str, session_id: &str, node_id: &str) -> Result<bool, DirectoryError> {
        let s = self.stores.streams.get(stream_id).await.map_err(failed)?;
        Ok(s.is_some_and(|s| {
            s.session_id.as_deref() == Some(session_id)
                && matches!(s.status, StreamStatus::Waiting | StreamStatus::Live)
                && s.ingest_node_id.as_deref() == Some(node_id)
        }))
    }
}

impl TableDirectory {
    /// Best effort: a place not given back is found stale when the quota is full.
    async fn give_back(&self, owner: &str, id: &str, quotas: &[skycast_core::limits::Quota]) {
        for &q in quotas {
            if let Err(e) = self.stores.limits.release(owner, q, id).await {
                tracing::warn!(error = %e, "quota place not given back; reconciled when full");
            }
        }
    }
}

/// Fixed keys, each its own stream: `ingest-node session` and media tests.
#[derive(Default, Clone)]
pub struct StaticDirectory {
    pub streams: Arc<std::sync::Mutex<HashMap<String, StreamInfo>>>,
}

impl StaticDirectory {
    pub fn with(key: &str, stream: StreamInfo) -> Self {
        let d = Self::default();
        d.add(key, stream);
        d
    }

    pub fn add(&self, key: &str, stream: StreamInfo) {
        if let Ok(mut m) = self.streams.lock() {
            m.insert(key.to_owned(), stream);
        }
    }
}

#[async_trait]
impl Directory for StaticDirectory {
    async fn find(&self, key: &str) -> Result<Option<StreamInfo>, DirectoryError> {
        let m = self.streams.lock().map_err(|_| DirectoryError("poisoned".into()))?;
        Ok(m.iter().find(|(k, _)| skycast_core::ids::secrets_equal(k, key)).map(|(_, s)| s.clone()))
    }

    async fn claim(&self, _: &StreamInfo, _: &str, _: &str) -> Result<Claimed, DirectoryError> {
        Ok(Claimed::Session(skycast_core::ids::new_id()))
    }

    async fn wanted(&self, _: &str, _: &str, _: &str) -> Result<bool, DirectoryError> {
        Ok(true)
    }
}

/// The stream key a publisher offered in its SRT stream id: the key itself,
/// or SRT's access-control form `#!::r=<key>,m=publish` (with `live/` before
/// the key, as some encoders' presets add it). `None` when it asks for
/// anything but publishing.
pub fn key_from_stream_id(stream_id: &str) -> Option<&str> {
    let Some(fields) = stream_id.strip_prefix("#!::") else {
        return Some(stream_id.strip_prefix("live/").unwrap_or(stream_id)).filter(|k| !k.is_empty());
    };
    let mut resource = None;
    for field in fields.split(',') {
        match field.split_once('=') {
            Some(("r", r)) => resource = Some(r),
            Some(("m", m)) if m != "publish" => return None,
            _ => {}
        }
    }
    resource.map(|r| r.strip_prefix("live/").unwrap_or(r)).filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use super::key_from_stream_id;

    #[test]
    fn stream_ids_yield_the_key() {
        assert_eq!(key_from_stream_id("abc123"), Some("abc123"));
        assert_eq!(key_from_stream_id("live/abc123"), Some("abc123"));
        assert_eq!(key_from_stream_id("#!::r=abc123,m=publish"), Some("abc123"));
        assert_eq!(key_from_stream_id("#!::m=publish,r=live/abc123"), Some("abc123"));
        assert_eq!(key_from_stream_id("#!::r=abc123,m=request"), None, "players are not served here");
        assert_eq!(key_from_stream_id("#!::m=publish"), None);
        assert_eq!(key_from_stream_id(""), None);
    }
}
